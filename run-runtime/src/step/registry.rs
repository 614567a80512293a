//! The steps of the program: registered at program start through `inventory`, or by hand.

use std::sync::{Mutex, PoisonError};

use super::{Step, StepError, StepErrorKind};
use crate::store::closest;

/// A step registered at program start by `#[aml_step]`.
#[doc(hidden)]
pub struct Registration(pub &'static Step);

inventory::collect!(Registration);

static EXPLICIT: Mutex<Vec<&'static Step>> = Mutex::new(Vec::new());

/// Adds `step` to the registry by hand, for platforms where registration at program start does
/// not happen (see the module documentation). Registering a step twice is harmless.
///
/// ```
/// # use run_runtime::prelude::*;
/// #[aml_step]
/// fn hello() {}
///
/// run_runtime::step::register(&hello::STEP);
/// assert!(run_runtime::step::find("hello").is_ok());
/// ```
pub fn register(step: &'static Step) {
    EXPLICIT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(step);
}

/// Every registered step, sorted by name (then function path), each once.
pub fn steps() -> Vec<&'static Step> {
    let mut all: Vec<&'static Step> = inventory::iter::<Registration>
        .into_iter()
        .map(|r| r.0)
        .collect();
    all.extend(
        EXPLICIT
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied(),
    );
    all.sort_by_key(|s| (s.name, s.function));
    all.dedup_by_key(|s| (s.name, s.function));
    all
}

/// The registered step named `name`. Two steps of that name (in different modules) are an
/// error naming both.
pub fn find(name: &str) -> Result<&'static Step, StepError> {
    let all = steps();
    let matching: Vec<&&Step> = all.iter().filter(|s| s.name == name).collect();
    match matching.as_slice() {
        [one] => Ok(one),
        [] => {
            let names: Vec<String> = all.iter().map(|s| s.name.to_owned()).collect();
            let hint = match closest(name, &names).first() {
                Some(similar) => format!("; did you mean {similar:?}?"),
                None if names.is_empty() => String::from("; no step is registered"),
                None => format!("; the steps are {}", names.join(", ")),
            };
            Err(StepError::new(
                StepErrorKind::NotFound,
                format!("no step named {name:?}{hint}"),
            ))
        }
        several => {
            let paths: Vec<&str> = several.iter().map(|s| s.function).collect();
            Err(StepError::new(
                StepErrorKind::NotFound,
                format!(
                    "{} steps are named {name:?} ({}); give them distinct `name`s",
                    paths.len(),
                    paths.join(", ")
                ),
            ))
        }
    }
}
