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

use crate::error::{Error, NameKind, Result};
use crate::run::Run;

pub(crate) mod attribute;

use attribute::Site;

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

#[inline]
pub(crate) fn log_point(run: &Run, name: &str, value: f64, step: Option<i64>) -> Result<()> {
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

/// Where failures of the logging attributes go: the program's hook, else standard error once
/// per function and key. Held by the process.
pub(crate) struct FailureReports {
    hook: RwLock<Option<Hook>>,
    /// The functions and keys standard error has had a line for.
    seen: Mutex<Option<HashSet<(String, String)>>>,
}

impl FailureReports {
    pub(crate) const fn new() -> Self {
        FailureReports {
            hook: RwLock::new(None),
            seen: Mutex::new(None),
        }
    }

    /// `true` the first time a function and key fail, so standard error gets one line each.
    fn first_report(&self, function: &str, key: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.get_or_insert_with(HashSet::new)
            .insert((function.to_owned(), key.to_owned()))
    }
}

fn reports() -> &'static FailureReports {
    &crate::process::process().log_failures
}

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
    *reports()
        .hook
        .write()
        .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(hook));
}

/// Removes the hook: failures go to standard error again, once per function and key.
pub fn clear_failure_hook() {
    *reports()
        .hook
        .write()
        .unwrap_or_else(PoisonError::into_inner) = None;
}

#[cold]
#[inline(never)]
pub(crate) fn report(site: &Site, key: &str, target: Target, error: LogError) {
    let failure = LogFailure {
        function: site.function,
        kind: site.kind,
        key,
        target,
        error: &error,
    };
    let reports = reports();
    let hook = reports
        .hook
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    match hook {
        Some(hook) => hook(&failure),
        None if reports.first_report(site.function, key) => {
            eprintln!("run-runtime: {failure} (reported once for this key)");
        }
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::attribute::*;
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
        let reports = FailureReports::new();
        assert!(reports.first_report("metrics::tests::f", "k1"));
        assert!(!reports.first_report("metrics::tests::f", "k1"));
        assert!(reports.first_report("metrics::tests::f", "k2"));
        assert!(reports.first_report("metrics::tests::g", "k1"));
    }
}
