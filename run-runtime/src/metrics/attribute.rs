//! What the logging attributes and `#[derive(Metrics)]` expand to: the functions and traits
//! their generated code calls through `run_runtime::__private`, so what they do can be read,
//! tested and benchmarked as plain Rust.

use std::fmt::Display;

use super::{LogError, Metrics, Target, log_point, report};
use crate::context::with_current;
use crate::error::{NameKind, Result};
use crate::run::Run;

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

/// Logs the field `name` (preceded by `prefix`) of a derived `Metrics` struct.
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

/// Where a logging attribute is, and what it logs: built by the attribute as a constant.
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
pub fn log_text<T: TextReturn + ?Sized>(value: &T, site: &'static Site) {
    let text = value.text();
    let key = site.name;
    match site.kind {
        NameKind::Property => log_to_targets(site, key, &mut |run| run.add_property(key, &text)),
        _ => log_to_targets(site, key, &mut |run| run.tag(key, &text)),
    }
}

/// The `step = <parameter>` of a `#[log_metric]`, taken before the body runs.
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
    pub(super) fn get(self) -> std::result::Result<Option<i64>, LogError> {
        match self {
            StepArg::Next => Ok(None),
            StepArg::At(step) => Ok(Some(step)),
            StepArg::TooLarge(value) => Err(LogError::StepTooLarge { value }),
        }
    }
}

/// An integer a `step = <parameter>` may name.
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
