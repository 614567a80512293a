//! Running a step's body on its run: the values recorded, the context entered (at every poll
//! for an async step), the run ended by what the body returned or by its panic.

use std::fmt::{self, Display};
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use super::resolve::{Resolved, resolve};
use super::{Bindings, DataPath, ParamValue, SlotKind, Step, StepError, StepErrorKind};
use crate::context::enter;
use crate::error::Error;
use crate::panics::payload_text;
use crate::run::Run;

/// A step about to run on a run, its values resolved and recorded: what the generated
/// `STEP.invoke` uses.
#[doc(hidden)]
pub struct Prepared<'a> {
    step: &'static Step,
    run: &'a Run,
    values: Vec<Resolved>,
}

impl<'a> Prepared<'a> {
    /// Resolves the values, records them on `run` (parameters as properties, paths as tags),
    /// and creates the output folders. Any failure fails the run.
    pub fn new(step: &'static Step, run: &'a Run, bindings: &Bindings) -> Result<Self, StepError> {
        let values = resolve(step, bindings, run.is_offline(), |v| std::env::var(v).ok());
        let mut prepared = Prepared {
            step,
            run,
            values: fail_on_error(run, values)?,
        };
        fail_on_error(run, prepared.record())?;
        // After recording: the run's tag keeps the reference as given, the body gets the folder.
        let models = super::model_input::localize(step, run, &mut prepared.values);
        fail_on_error(run, models)?;
        fail_on_error(run, prepared.record_lineage())?;
        Ok(prepared)
    }

    /// Records each input that is a local file or folder with its size and content digest.
    /// An input that is not (a URI the step resolves itself) has no content here to hash.
    fn record_lineage(&self) -> Result<(), StepError> {
        let store = self.run.store().root();
        for v in self.values.iter().filter(|v| v.kind == SlotKind::Input) {
            let path = Path::new(&v.text);
            if !path.exists() {
                continue;
            }
            let what = format!("record the content of input {}", v.name);
            crate::digest::of_path(store, path)
                .and_then(|data| self.run.record_input(v.name, path, &data))
                .map_err(|e| StepError::record(self.step, &what, e))?;
        }
        Ok(())
    }

    fn record(&self) -> Result<(), StepError> {
        record_step(self.step, self.run)?;
        for v in &self.values {
            match v.kind {
                SlotKind::Param => self.run.add_property(v.name, &v.text),
                _ => self.run.tag(v.name, &v.text),
            }
            .map_err(|e| {
                StepError::record(self.step, &format!("record {} {}", v.kind, v.name), e)
            })?;
            if v.kind == SlotKind::Output {
                create_output(self.step, v.name, Path::new(&v.text))?;
            }
        }
        Ok(())
    }

    /// The input or output at `index` (inputs first, then outputs), as the parameter's type.
    pub fn data<T: DataPath>(&self, index: usize) -> Result<T, StepError> {
        let v = &self.values[index];
        let parsed = T::from_path(PathBuf::from(&v.text)).map_err(|e| self.bad_value(v, &e));
        fail_on_error(self.run, parsed)
    }

    /// The parameter at `index` (counting inputs and outputs first), as its type.
    pub fn param<T: ParamValue>(&self, index: usize) -> Result<T, StepError> {
        let v = &self.values[index];
        let parsed = T::parse_param(&v.text).map_err(|e| self.bad_value(v, &e));
        fail_on_error(self.run, parsed)
    }

    fn bad_value(&self, v: &Resolved, reason: &str) -> StepError {
        let ty = self
            .step
            .slot(v.name)
            .map_or("its type", |(_, slot)| slot.ty);
        StepError::new(
            StepErrorKind::Binding,
            format!(
                "step {:?}: {} {:?} = {:?} ({}) is not a valid {ty}: {reason}",
                self.step.name, v.kind, v.name, v.text, v.origin
            ),
        )
    }

    /// Runs `body` with the run as the context, then ends the run by what it returned.
    pub fn run_sync<R>(
        self,
        body: impl FnOnce() -> R,
        failure: fn(&R) -> Option<String>,
    ) -> Result<(), StepError> {
        let result = run_in_context(self.run, body);
        finish(self.step, self.run, failure(&result))
    }

    /// Runs the future `body` with the run as the context at every poll, then ends the run by
    /// what it returned.
    pub async fn run_async<F: Future>(
        self,
        body: F,
        failure: fn(&F::Output) -> Option<String>,
    ) -> Result<(), StepError> {
        let result = InContext::new(self.run.clone(), body).await;
        finish(self.step, self.run, failure(&result))
    }
}

/// Fails `run` with the error's text, if there is one.
fn fail_on_error<T>(run: &Run, result: Result<T, StepError>) -> Result<T, StepError> {
    if let Err(e) = &result
        && let Err(end) = run.fail(e)
    {
        eprintln!(
            "run-runtime: {e}; and the run {} cannot record it: {end}",
            run.id()
        );
    }
    result
}

fn record_step(step: &Step, run: &Run) -> Result<(), StepError> {
    let tags = step.tags.iter().copied();
    let description = step.description.map(|d| ("mlflow.note.content", d));
    run.set_tags(tags.chain(description))
        .map_err(|e| StepError::record(step, "record its tags", e))?;
    match step.system_metrics {
        Some(interval) => run
            .log_system_metrics(interval)
            .map_err(|e| StepError::record(step, "sample its system metrics", e)),
        None => Ok(()),
    }
}

fn create_output(step: &Step, name: &str, path: &Path) -> Result<(), StepError> {
    std::fs::create_dir_all(path).map_err(|source| {
        StepError::record(
            step,
            &format!("create the folder of output {name:?}"),
            Error::Io {
                op: "create",
                path: path.to_owned(),
                source,
            },
        )
    })
}

/// Ends `run` as `failure` says.
fn finish(step: &Step, run: &Run, failure: Option<String>) -> Result<(), StepError> {
    match failure {
        None => run
            .complete()
            .map_err(|e| StepError::record(step, "complete its run", e)),
        Some(message) => {
            if let Err(e) = run.fail(&message) {
                eprintln!(
                    "run-runtime: step {:?} failed ({message}), and its run {} cannot record it: {e}",
                    step.name,
                    run.id()
                );
            }
            Err(StepError::new(StepErrorKind::Failed, message))
        }
    }
}

/// Runs `body` with `run` as this thread's context; a panic fails the run, then goes on.
fn run_in_context<R>(run: &Run, body: impl FnOnce() -> R) -> R {
    let result = {
        let _context = enter(run.clone());
        panic::catch_unwind(AssertUnwindSafe(body))
    };
    result.unwrap_or_else(|payload| fail_and_resume(run, payload))
}

fn fail_and_resume(run: &Run, payload: Box<dyn std::any::Any + Send>) -> ! {
    let message = format!("panicked: {}", payload_text(payload.as_ref()));
    if let Err(e) = run.fail(&message) {
        eprintln!(
            "run-runtime: run {} {message}, and cannot record it: {e}",
            run.id()
        );
    }
    panic::resume_unwind(payload)
}

/// A future run with `run` as the context at every poll: the context guard lives only inside
/// `poll`, so it is never held across an `.await`, and the future can move between threads.
#[doc(hidden)]
pub struct InContext<F> {
    run: Run,
    inner: Pin<Box<F>>,
}

impl<F: Future> InContext<F> {
    /// Wraps `inner`.
    pub fn new(run: Run, inner: F) -> Self {
        InContext {
            run,
            inner: Box::pin(inner),
        }
    }
}

impl<F: Future> Future for InContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let polled = {
            let _context = enter(this.run.clone());
            panic::catch_unwind(AssertUnwindSafe(|| this.inner.as_mut().poll(cx)))
        };
        polled.unwrap_or_else(|payload| fail_and_resume(&this.run, payload))
    }
}

/// Drives `future` to completion on this thread: how [`Step::call`] runs an async step.
///
/// It has no I/O driver or timer: a future that needs tokio (or another runtime) must be run
/// with [`Step::call_async`] inside that runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}

// ---------------------------------------------------------------- plain calls

/// A step called as a plain function: a child run, its values recorded from the arguments.
///
/// The function's signature cannot carry a setup error, so one (the context run cannot be
/// opened, the child run or an output folder cannot be created) is a panic naming the step.
#[doc(hidden)]
pub struct DirectCall {
    step: &'static Step,
    run: Run,
}

impl DirectCall {
    /// Starts the step's child run: of `parent` if given, else of the current context's run.
    pub fn start(step: &'static Step, parent: Option<&Run>) -> Self {
        let parent = match parent {
            Some(p) => p.clone(),
            None => Run::get_context()
                .unwrap_or_else(|e| panic!("step {:?}: no run to start it under: {e}", step.name)),
        };
        let run = parent.child_run(step.name).unwrap_or_else(|e| {
            panic!(
                "step {:?}: cannot start its run under {}: {e}",
                step.name,
                parent.id()
            )
        });
        let call = DirectCall { step, run };
        call.check(record_step(step, &call.run));
        call
    }

    fn check(&self, result: Result<(), StepError>) {
        if let Err(e) = fail_on_error(&self.run, result) {
            panic!("{e}");
        }
    }

    /// The step's run.
    pub fn run(&self) -> &Run {
        &self.run
    }

    /// Records the input `name` as a tag.
    ///
    /// `path` is `None` only for a type that is not a path, which the entry point's code
    /// rejects at compile time: the function is then never called.
    pub fn input(&self, name: &str, path: Option<&Path>) {
        let Some(path) = path else { return };
        let text = path.display().to_string();
        self.check(
            self.run
                .tag(name, text)
                .map_err(|e| StepError::record(self.step, &format!("record {name}"), e)),
        );
    }

    /// Records the output `name` as a tag, and creates its folder.
    pub fn output(&self, name: &str, path: Option<&Path>) {
        let Some(path) = path else { return };
        self.input(name, Some(path));
        self.check(create_output(self.step, name, path));
    }

    /// Records the parameter `name` as a property (nothing when its type has neither
    /// `Display` nor `Debug`).
    pub fn param(&self, name: &str, text: Option<String>) {
        if let Some(text) = text {
            self.check(
                self.run
                    .add_property(name, text)
                    .map_err(|e| StepError::record(self.step, &format!("record param {name}"), e)),
            );
        }
    }

    /// Runs `body` on the step's run, ends the run, and returns what the body returned.
    pub fn run_sync<R>(self, body: impl FnOnce(&Run) -> R, failure: fn(&R) -> Option<String>) -> R {
        let result = run_in_context(&self.run, || body(&self.run));
        let _ = finish(self.step, &self.run, failure(&result));
        result
    }

    /// Runs the future `body` on the step's run, ends the run, and returns its output.
    pub async fn run_async<F: Future>(
        self,
        body: F,
        failure: fn(&F::Output) -> Option<String>,
    ) -> F::Output {
        let result = InContext::new(self.run.clone(), body).await;
        let _ = finish(self.step, &self.run, failure(&result));
        result
    }
}

/// The path of an input or output argument, as `(&&PathOf(&value)).path_of()`: `None` for a
/// type that is not a path, so that such a type is one compile error (from the entry point's
/// `DataPath` bound), not two.
#[doc(hidden)]
pub struct PathOf<'a, T: ?Sized>(pub &'a T);

#[doc(hidden)]
pub trait PathViaAsRef {
    fn path_of(&self) -> Option<&Path>;
}

impl<T: AsRef<Path> + ?Sized> PathViaAsRef for &PathOf<'_, T> {
    fn path_of(&self) -> Option<&Path> {
        Some(self.0.as_ref())
    }
}

#[doc(hidden)]
pub trait PathViaNothing {
    fn path_of(&self) -> Option<&Path>;
}

impl<T: ?Sized> PathViaNothing for PathOf<'_, T> {
    fn path_of(&self) -> Option<&Path> {
        None
    }
}

/// The text of a parameter's value: `Display` if it has it, else `Debug`, else nothing. Used
/// as `(&&&ParamText(&value)).param_text()`, which picks the first that applies.
#[doc(hidden)]
pub struct ParamText<'a, T: ?Sized>(pub &'a T);

#[doc(hidden)]
pub trait ParamViaDisplay {
    fn param_text(&self) -> Option<String>;
}

impl<T: Display + ?Sized> ParamViaDisplay for &&ParamText<'_, T> {
    fn param_text(&self) -> Option<String> {
        Some(self.0.to_string())
    }
}

#[doc(hidden)]
pub trait ParamViaDebug {
    fn param_text(&self) -> Option<String>;
}

impl<T: fmt::Debug + ?Sized> ParamViaDebug for &ParamText<'_, T> {
    fn param_text(&self) -> Option<String> {
        Some(format!("{:?}", self.0))
    }
}

#[doc(hidden)]
pub trait ParamViaNothing {
    fn param_text(&self) -> Option<String>;
}

impl<T: ?Sized> ParamViaNothing for ParamText<'_, T> {
    fn param_text(&self) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::needless_borrow)] // the borrows choose the impl: they are the point
    fn param_text_prefers_display_then_debug_then_nothing() {
        #[derive(Debug)]
        struct OnlyDebug;
        struct Neither;
        assert_eq!((&&&ParamText(&0.5)).param_text().as_deref(), Some("0.5"));
        assert_eq!(
            (&&&ParamText(&OnlyDebug)).param_text().as_deref(),
            Some("OnlyDebug")
        );
        assert_eq!((&&&ParamText(&Neither)).param_text(), None);
    }

    #[test]
    fn block_on_drives_a_future_that_wakes_itself_later() {
        struct Twice(u8);
        impl Future for Twice {
            type Output = u8;
            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u8> {
                self.0 += 1;
                if self.0 < 3 {
                    let waker = cx.waker().clone();
                    std::thread::spawn(move || waker.wake());
                    Poll::Pending
                } else {
                    Poll::Ready(self.0)
                }
            }
        }
        assert_eq!(block_on(Twice(0)), 3);
    }
}
