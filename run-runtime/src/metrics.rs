//! What `#[log_metric]`, `#[log_tag]` and `#[log_property]` record, and how they report a record
//! that could not be logged.
//!
//! The attributes expand to calls of the functions here (through `run_runtime::__private`), so
//! what they do can be read, tested and benchmarked as plain Rust. See `docs/macros.md` for the
//! code each attribute generates.
//!
//! # Failures never change the result
//!
//! A function marked `#[log_metric]` returns its value whether or not the value could be logged:
//! the context run cannot be opened, a record is refused, the run has no parent for
//! `to = parent`... Each such failure is reported to the hook set with [`set_failure_hook`], or,
//! when no hook is set, printed to standard error once per function and key (a training loop
//! that fails every step prints one line, not a million).

use std::collections::HashSet;
use std::fmt::{self, Display};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::context::with_current;
use crate::error::{Error, NameKind, Result};
use crate::run::Run;

/// A struct of metrics, logged field by field: `#[derive(Metrics)]` implements it.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// use run_runtime::prelude::*;
/// use run_runtime::metrics::log_metrics;
///
/// #[derive(Metrics)]
/// struct Scores {
///     accuracy: f64,
///     #[metric(rename = "f1_macro")]
///     f1: f64,
///     support: Option<u32>, // logged when Some
/// }
///
/// let run = run_runtime::Store::new(dir.path()).start_run("Default", "eval")?;
/// log_metrics(&run, &Scores { accuracy: 0.9, f1: 0.8, support: None }, "val/", None)?;
/// let metrics = run.get_metrics()?;
/// assert_eq!(metrics["val/accuracy"][0].value, 0.9);
/// assert_eq!(metrics["val/f1_macro"][0].value, 0.8);
/// assert!(!metrics.contains_key("val/support"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Metrics {
    /// Calls `visit` with the name and value of each metric, every name preceded by `prefix`.
    fn for_each_metric(&self, prefix: &str, visit: &mut dyn FnMut(&str, f64));
}

/// A type that a field of a `#[derive(Metrics)]` struct may have: a number, a `bool`, an
/// `Option` of one (nothing is logged for `None`), or another `Metrics` struct (its metrics are
/// named `<field>/<name>`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a metric, so it cannot be a field of a `#[derive(Metrics)]` struct",
    label = "not a number, bool, Option of one, or Metrics struct",
    note = "mark the field `#[metric(skip)]`, or give it a number, bool, `Option` or `#[derive(Metrics)]` type"
)]
pub trait MetricField {
    /// Calls `visit` with this field's metrics; `name` is the field's full name.
    fn visit_field(&self, name: &str, visit: &mut dyn FnMut(&str, f64));
}

/// What a `#[log_metric]` function may return: a number, a `bool`, a `#[derive(Metrics)]`
/// struct, or an `Option` or `Result` of one (logged on `Some` and `Ok` only).
#[diagnostic::on_unimplemented(
    message = "`#[log_metric]` cannot log a `{Self}`: it is not a metric",
    label = "not a number, bool or `#[derive(Metrics)]` struct",
    note = "return a number, a bool, a `#[derive(Metrics)]` struct, or an `Option` or `Result` of one; use `#[log_tag]` or `#[log_property]` for text"
)]
pub trait MetricReturn {
    /// `true` when the value is a struct of metrics (named by `prefix` and field), `false` when
    /// it is one value (named by `name`).
    const FIELDS: bool;

    /// Calls `visit` with each metric to log: `name` for a single value, or `name` followed by
    /// each field name for a struct.
    fn visit_returned<F: FnMut(&str, f64)>(&self, name: &str, visit: &mut F);
}

macro_rules! scalar {
    ($($t:ty)*) => {$(
        impl MetricField for $t {
            #[inline]
            fn visit_field(&self, name: &str, visit: &mut dyn FnMut(&str, f64)) {
                visit(name, crate::MetricValue::to_f64(*self));
            }
        }

        impl MetricReturn for $t {
            const FIELDS: bool = false;
            #[inline]
            fn visit_returned<F: FnMut(&str, f64)>(&self, name: &str, visit: &mut F) {
                visit(name, crate::MetricValue::to_f64(*self));
            }
        }
    )*};
}
scalar!(f64 f32 i8 i16 i32 i64 i128 isize u8 u16 u32 u64 u128 usize bool);

impl<T: MetricField> MetricField for Option<T> {
    #[inline]
    fn visit_field(&self, name: &str, visit: &mut dyn FnMut(&str, f64)) {
        if let Some(v) = self {
            v.visit_field(name, visit);
        }
    }
}

impl<T: Metrics + ?Sized> MetricField for T {
    fn visit_field(&self, name: &str, visit: &mut dyn FnMut(&str, f64)) {
        self.for_each_metric(&format!("{name}/"), visit);
    }
}

impl<T: MetricReturn> MetricReturn for Option<T> {
    const FIELDS: bool = T::FIELDS;
    #[inline]
    fn visit_returned<F: FnMut(&str, f64)>(&self, name: &str, visit: &mut F) {
        if let Some(v) = self {
            v.visit_returned(name, visit);
        }
    }
}

impl<T: MetricReturn, E> MetricReturn for std::result::Result<T, E> {
    const FIELDS: bool = T::FIELDS;
    #[inline]
    fn visit_returned<F: FnMut(&str, f64)>(&self, name: &str, visit: &mut F) {
        if let Ok(v) = self {
            v.visit_returned(name, visit);
        }
    }
}

impl<T: Metrics + ?Sized> MetricReturn for T {
    const FIELDS: bool = true;
    fn visit_returned<F: FnMut(&str, f64)>(&self, name: &str, visit: &mut F) {
        self.for_each_metric(name, visit);
    }
}

/// Logs every metric of `metrics` on `run`, each name preceded by `prefix`, at `step` (or at the
/// next step of each series). Every metric that can be logged is; the first error is returned.
pub fn log_metrics(
    run: &Run,
    metrics: &(impl Metrics + ?Sized),
    prefix: &str,
    step: Option<i64>,
) -> Result<()> {
    let mut first_error = None;
    metrics.for_each_metric(prefix, &mut |name, value| {
        if let Err(e) = log_point(run, name, value, step) {
            first_error.get_or_insert(e);
        }
    });
    first_error.map_or(Ok(()), Err)
}

/// Logs the field `name` (preceded by `prefix`) of a derived `Metrics` struct.
#[doc(hidden)]
#[inline]
pub fn visit_field<T: MetricField + ?Sized>(
    value: &T,
    prefix: &str,
    name: &str,
    visit: &mut dyn FnMut(&str, f64),
) {
    if prefix.is_empty() {
        value.visit_field(name, visit);
    } else {
        value.visit_field(&format!("{prefix}{name}"), visit);
    }
}

#[inline]
fn log_point(run: &Run, name: &str, value: f64, step: Option<i64>) -> Result<()> {
    match step {
        Some(step) => run.log_step(name, value, step),
        None => run.log(name, value),
    }
}

// ---------------------------------------------------------------- where a record goes

/// Which run an attribute logs to: `to = run`, `to = parent`, `to = root`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The run of the current context (the step being run, or the process's run).
    Run,
    /// Its parent.
    Parent,
    /// The top of its family: the run with no parent (the run itself if it has none).
    Root,
}

impl Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Target::Run => "run",
            Target::Parent => "parent",
            Target::Root => "root",
        })
    }
}

/// Where a logging attribute is, and what it logs: built by the attribute as a constant.
#[doc(hidden)]
#[derive(Debug)]
pub struct Site {
    /// The annotated function, as written.
    pub function: &'static str,
    /// Metric, tag or property.
    pub kind: NameKind,
    /// The key of a single value.
    pub name: &'static str,
    /// What precedes each name of a struct's metrics.
    pub prefix: &'static str,
    /// The runs it logs to, in order.
    pub to: &'static [Target],
}

/// The run a target names, from the context run `run`.
fn target_run(run: &Run, target: Target) -> std::result::Result<Run, LogError> {
    match target {
        Target::Run => Ok(run.clone()),
        Target::Parent => run.parent().ok_or_else(|| LogError::NoParent {
            run: run.id().to_owned(),
        }),
        Target::Root => {
            let mut top = run.clone();
            while let Some(parent) = top.parent() {
                top = parent;
            }
            Ok(top)
        }
    }
}

/// Calls `log` on each run `site` logs to, reporting every failure.
#[cold]
#[inline(never)]
fn log_to_targets(site: &Site, key: &str, log: &mut dyn FnMut(&Run) -> Result<()>) {
    let outcome = with_current(|context| {
        for &target in site.to {
            match target_run(context, target) {
                Ok(run) => {
                    if let Err(e) = log(&run) {
                        report(site, key, target, LogError::Rejected(e));
                    }
                }
                Err(e) => report(site, key, target, e),
            }
        }
    });
    if let Err(e) = outcome {
        report(site, key, Target::Run, LogError::NoContext(e));
    }
}

// ---------------------------------------------------------------- what the attributes call

/// Logs the value a `#[log_metric]` function returned. Costs what `run.log` costs when it logs
/// one value to the context run: the run handle is borrowed, never cloned.
#[doc(hidden)]
#[inline]
pub fn log_returned<T: MetricReturn + ?Sized>(value: &T, site: &'static Site, step: StepArg) {
    let step = match step.get() {
        Ok(step) => step,
        Err(e) => return report(site, site.name, Target::Run, e),
    };
    let name = if T::FIELDS { site.prefix } else { site.name };
    value.visit_returned(name, &mut |key, v| {
        if let [Target::Run] = site.to {
            log_to_context(site, key, v, step);
        } else {
            log_to_targets(site, key, &mut |run| log_point(run, key, v, step));
        }
    });
}

#[inline]
fn log_to_context(site: &'static Site, key: &str, value: f64, step: Option<i64>) {
    // The closure handles a refused record itself and returns nothing, so that no `Result`
    // holding an `Error` is moved out of it on the hot path.
    let outcome = with_current(|run| {
        if let Err(e) = log_point(run, key, value, step) {
            report(site, key, Target::Run, LogError::Rejected(e));
        }
    });
    if let Err(e) = outcome {
        report(site, key, Target::Run, LogError::NoContext(e));
    }
}

/// Logs the value a `#[log_tag]` or `#[log_property]` function returned, as text.
#[doc(hidden)]
pub fn log_text<T: TextReturn + ?Sized>(value: &T, site: &'static Site) {
    let text = value.text();
    let key = site.name;
    match site.kind {
        NameKind::Property => log_to_targets(site, key, &mut |run| run.add_property(key, &text)),
        _ => log_to_targets(site, key, &mut |run| run.tag(key, &text)),
    }
}

/// The `step = <parameter>` of a `#[log_metric]`, taken before the body runs.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub enum StepArg {
    /// No `step`: the next step of each series.
    Next,
    /// A step that fits an `i64`.
    At(i64),
    /// A step too large for an `i64`, as text.
    TooLarge(u128),
}

impl StepArg {
    fn get(self) -> std::result::Result<Option<i64>, LogError> {
        match self {
            StepArg::Next => Ok(None),
            StepArg::At(step) => Ok(Some(step)),
            StepArg::TooLarge(value) => Err(LogError::StepTooLarge { value }),
        }
    }
}

/// An integer a `step = <parameter>` may name.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a metric's step: `step` must name an integer parameter",
    label = "not an integer",
    note = "name a parameter of type i64, u32, usize... (the epoch or iteration number), or remove `step` to log at the next step"
)]
pub trait StepValue {
    /// The step, or `TooLarge` for a value beyond `i64`.
    fn step_arg(&self) -> StepArg;
}

macro_rules! step_value {
    ($($t:ty)*) => {$(
        impl StepValue for $t {
            #[inline]
            fn step_arg(&self) -> StepArg {
                match i64::try_from(*self) {
                    Ok(step) => StepArg::At(step),
                    Err(_) => StepArg::TooLarge(*self as u128),
                }
            }
        }
    )*};
}
step_value!(i8 i16 i32 i64 isize u8 u16 u32 u64 usize);

impl<T: StepValue + ?Sized> StepValue for &T {
    #[inline]
    fn step_arg(&self) -> StepArg {
        (**self).step_arg()
    }
}

/// What a `#[log_tag]` or `#[log_property]` function may return (besides `Option` or `Result`
/// of it): anything that implements `Display`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be logged as a tag or property: it does not implement `Display`",
    label = "not `Display`",
    note = "return a type that implements `Display` (a string, a number...), or an `Option` or `Result` of one"
)]
pub trait TextReturn {
    /// The value as text.
    fn text(&self) -> String;
}

impl<T: Display + ?Sized> TextReturn for T {
    fn text(&self) -> String {
        self.to_string()
    }
}

// ---------------------------------------------------------------- failures

/// Why a logging attribute could not log.
#[derive(Debug)]
#[non_exhaustive]
pub enum LogError {
    /// The run of the current context could not be opened (a configuration error).
    NoContext(Error),
    /// The run refused the record (a bad value, a property that already has another value...).
    Rejected(Error),
    /// `to = parent`, and the context run has no parent.
    NoParent {
        /// The context run.
        run: String,
    },
    /// `step = <parameter>` is beyond what a step can be (`i64`).
    StepTooLarge {
        /// The parameter's value.
        value: u128,
    },
}

impl Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::NoContext(e) => write!(f, "no run to log to: {e}"),
            LogError::Rejected(e) => write!(f, "{e}"),
            LogError::NoParent { run } => write!(
                f,
                "run {run} has no parent; log with `to = run` or `to = root`, or call the \
                 function inside a child run (a step)"
            ),
            LogError::StepTooLarge { value } => write!(
                f,
                "step {value} is larger than {}, the largest step a metric can have",
                i64::MAX
            ),
        }
    }
}

impl std::error::Error for LogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LogError::NoContext(e) | LogError::Rejected(e) => Some(e),
            _ => None,
        }
    }
}

/// A value a logging attribute could not log.
#[derive(Debug)]
pub struct LogFailure<'a> {
    /// The annotated function.
    pub function: &'a str,
    /// Metric, tag or property.
    pub kind: NameKind,
    /// The key.
    pub key: &'a str,
    /// The run it was meant for.
    pub target: Target,
    /// What went wrong.
    pub error: &'a LogError,
}

impl Display for LogFailure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}() could not log the {} {:?} to its {}: {}",
            self.function, self.kind, self.key, self.target, self.error
        )
    }
}

type Hook = Arc<dyn Fn(&LogFailure<'_>) + Send + Sync>;

static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

/// Sends every failure of a logging attribute to `hook` instead of standard error.
///
/// The hook is called for every failure (standard error gets one line per function and key).
/// It runs on the thread of the annotated function: keep it short, and do not log from it
/// with a logging attribute.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// static FAILURES: AtomicUsize = AtomicUsize::new(0);
/// run_runtime::metrics::set_failure_hook(|failure| {
///     FAILURES.fetch_add(1, Ordering::Relaxed);
///     eprintln!("metrics: {failure}");
/// });
/// # run_runtime::metrics::clear_failure_hook();
/// ```
pub fn set_failure_hook(hook: impl Fn(&LogFailure<'_>) + Send + Sync + 'static) {
    *HOOK.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(hook));
}

/// Removes the hook: failures go to standard error again, once per function and key.
pub fn clear_failure_hook() {
    *HOOK.write().unwrap_or_else(PoisonError::into_inner) = None;
}

#[cold]
#[inline(never)]
fn report(site: &Site, key: &str, target: Target, error: LogError) {
    let failure = LogFailure {
        function: site.function,
        kind: site.kind,
        key,
        target,
        error: &error,
    };
    let hook = HOOK.read().unwrap_or_else(PoisonError::into_inner).clone();
    match hook {
        Some(hook) => hook(&failure),
        None if first_report(site.function, key) => {
            eprintln!("run-runtime: {failure} (reported once for this key)");
        }
        None => {}
    }
}

/// `true` the first time a function and key fail, so standard error gets one line for each.
fn first_report(function: &str, key: &str) -> bool {
    static SEEN: Mutex<Option<HashSet<(String, String)>>> = Mutex::new(None);
    let mut seen = SEEN.lock().unwrap_or_else(PoisonError::into_inner);
    seen.get_or_insert_with(HashSet::new)
        .insert((function.to_owned(), key.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Inner {
        loss: f32,
    }

    impl Metrics for Inner {
        fn for_each_metric(&self, prefix: &str, visit: &mut dyn FnMut(&str, f64)) {
            visit_field(&self.loss, prefix, "loss", visit);
        }
    }

    struct Outer {
        accuracy: f64,
        count: Option<u32>,
        missing: Option<u8>,
        flag: bool,
        inner: Inner,
    }

    impl Metrics for Outer {
        fn for_each_metric(&self, prefix: &str, visit: &mut dyn FnMut(&str, f64)) {
            visit_field(&self.accuracy, prefix, "accuracy", visit);
            visit_field(&self.count, prefix, "count", visit);
            visit_field(&self.missing, prefix, "missing", visit);
            visit_field(&self.flag, prefix, "flag", visit);
            visit_field(&self.inner, prefix, "inner", visit);
        }
    }

    fn collect<T: MetricReturn>(value: &T, name: &str) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        value.visit_returned(name, &mut |k, v| out.push((k.to_owned(), v)));
        out
    }

    #[test]
    fn a_struct_gives_each_field_with_prefixes_and_skips_none() {
        let outer = Outer {
            accuracy: 0.5,
            count: Some(3),
            missing: None,
            flag: true,
            inner: Inner { loss: 0.25 },
        };
        assert_eq!(
            collect(&outer, "val/"),
            [
                ("val/accuracy".to_owned(), 0.5),
                ("val/count".to_owned(), 3.0),
                ("val/flag".to_owned(), 1.0),
                ("val/inner/loss".to_owned(), 0.25),
            ]
        );
        assert_eq!(collect(&outer, "")[3].0, "inner/loss");
    }

    #[test]
    fn options_and_results_log_only_their_value() {
        assert_eq!(collect(&Some(2u8), "m"), [("m".to_owned(), 2.0)]);
        assert!(collect(&None::<u8>, "m").is_empty());
        assert_eq!(collect(&Ok::<_, String>(1.5), "m"), [("m".to_owned(), 1.5)]);
        assert!(collect(&Err::<f64, _>("no"), "m").is_empty());
        const { assert!(!<Option<f64> as MetricReturn>::FIELDS) };
        const { assert!(<Result<Inner, ()> as MetricReturn>::FIELDS) };
    }

    #[test]
    fn steps_beyond_i64_are_reported_not_wrapped() {
        assert!(matches!(5u64.step_arg(), StepArg::At(5)));
        assert!(matches!((-5i32).step_arg(), StepArg::At(-5)));
        match u64::MAX.step_arg() {
            StepArg::TooLarge(v) => assert_eq!(v, u128::from(u64::MAX)),
            other => panic!("{other:?}"),
        }
        let text = StepArg::TooLarge(u128::from(u64::MAX))
            .get()
            .unwrap_err()
            .to_string();
        assert_eq!(
            text,
            "step 18446744073709551615 is larger than 9223372036854775807, the largest step a \
             metric can have"
        );
    }

    #[test]
    fn standard_error_gets_one_line_per_function_and_key() {
        assert!(first_report("metrics::tests::f", "k1"));
        assert!(!first_report("metrics::tests::f", "k1"));
        assert!(first_report("metrics::tests::f", "k2"));
        assert!(first_report("metrics::tests::g", "k1"));
    }
}
