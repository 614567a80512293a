//! The values a pipeline is run with, checked before anything runs: each names an input or
//! param of the pipeline, a param's text parses as the type of every step that has it, and
//! every step's input and param has a value from somewhere.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::step::{Slot, SlotKind};
use crate::store::closest;

use super::Pipeline;

impl Pipeline {
    /// Checks `values` (by name, as text) against the pipeline, and that every input and param
    /// of its steps will have a value: given here, bound by the pipeline, in the environment
    /// (`AZUREML_DATAREFERENCE_<name>`, `AML_PARAMETER_<name>`), or the step's default. Every
    /// problem is reported at once.
    pub fn check_values(&self, values: &BTreeMap<String, String>) -> Result<()> {
        let mut problems = self.given_problems(values);
        problems.extend(self.missing(values));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Pipeline {
                pipeline: self.name().to_owned(),
                problems,
            })
        }
    }

    /// The value a step's input or param `slot` gets when no step writes it, first found: given
    /// (`values`), bound by the pipeline, in the environment, the step's default. The pipeline
    /// is the engine here: it gives the defaults written in its code explicitly, online too,
    /// as it does in the jobs it exports.
    pub(super) fn value_for(
        &self,
        kind: SlotKind,
        slot: &Slot,
        values: &BTreeMap<String, String>,
    ) -> Option<String> {
        values
            .get(slot.name)
            .cloned()
            .or_else(|| self.value(slot.name).and_then(|v| v.value.clone()))
            .or_else(|| {
                std::env::var(kind.env_var(slot.name))
                    .ok()
                    .filter(|v| !v.is_empty())
            })
            .or_else(|| slot.default.map(str::to_owned))
    }

    /// The problems of the values given: names that are no input or param, params that do
    /// not parse.
    pub(super) fn given_problems(&self, values: &BTreeMap<String, String>) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, text) in values {
            match self.value(name) {
                Some(v) if v.kind == SlotKind::Param => {
                    problems.extend(self.param_problems(name, text));
                }
                Some(_) => {}
                None => problems.push(self.unknown(name)),
            }
        }
        problems
    }

    fn param_problems(&self, name: &str, text: &str) -> Vec<String> {
        self.steps()
            .iter()
            .filter_map(|step| step.param(name).map(|slot| (step.name, slot.ty)))
            .filter_map(|(step, ty)| {
                let reason = parse_check(ty, text)?;
                Some(format!(
                    "--{name} {text:?} is not a valid {ty} (param of step {step:?}): {reason}"
                ))
            })
            .collect()
    }

    fn unknown(&self, name: &str) -> String {
        if let Some(step) = self.producer(name) {
            return format!(
                "--{name} cannot be given: it is an output of step {:?}, whose folder is under \
                 the pipeline's run",
                step.name
            );
        }
        let names: Vec<String> = self.values().iter().map(|v| v.name.clone()).collect();
        let hint = match closest(name, &names).first() {
            Some(similar) => format!("did you mean --{similar}?"),
            None if names.is_empty() => String::from("it has none"),
            None => format!("they are --{}", names.join(", --")),
        };
        format!(
            "--{name} is not an input or param of pipeline {:?}; {hint}",
            self.name()
        )
    }

    fn missing(&self, values: &BTreeMap<String, String>) -> Vec<String> {
        let mut problems = Vec::new();
        for v in self.values() {
            for step in &v.steps {
                let Some((kind, slot)) = self.step(step).and_then(|s| s.slot(&v.name)) else {
                    continue;
                };
                if self.value_for(kind, slot, values).is_none() {
                    problems.push(format!(
                        "{kind} {:?} of step {step:?} has no value: give --{} <value>, or set {}",
                        v.name,
                        v.name,
                        kind.env_var(&v.name)
                    ));
                }
            }
        }
        problems
    }
}

/// Why `text` does not parse as the primitive type `ty` (`run_rules::parse_check`, which the
/// macros apply to defaults at compile time).
pub(super) use run_rules::parse_check;

#[cfg(test)]
mod tests {
    use super::parse_check;

    #[test]
    fn standard_types_are_checked_and_others_are_left_to_the_step() {
        assert_eq!(parse_check("f64", "0.5"), None);
        assert_eq!(
            parse_check("f64", "high").as_deref(),
            Some("invalid float literal")
        );
        assert_eq!(
            parse_check("u32", "-1").as_deref(),
            Some("invalid digit found in string")
        );
        assert_eq!(parse_check("&str", "anything"), None);
        assert_eq!(parse_check("Schedule", "weekly"), None);
    }
}
