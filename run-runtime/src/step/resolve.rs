//! Where a step's values come from: the values given, the environment, the defaults.

use std::fmt::{self, Display};

use super::{Bindings, Slot, SlotKind, Step, StepError, StepErrorKind};
use crate::store::closest;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    Given,
    Env(String),
    Default,
}

impl Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Given => f.write_str("given"),
            Origin::Env(var) => write!(f, "from {var}"),
            Origin::Default => f.write_str("the default"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub(crate) kind: SlotKind,
    pub(crate) name: &'static str,
    pub(crate) text: String,
    pub(crate) origin: Origin,
}

/// Each slot's value, first match wins: `given`, the environment (through `env`), then the
/// default: a param's always (a default is a value of the program), an input's or output's only
/// when `offline` (a local path means nothing to a remote engine). Every problem is reported at
/// once.
pub(crate) fn resolve(
    step: &Step,
    given: &Bindings,
    offline: bool,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Resolved>, StepError> {
    let mut problems = Vec::new();
    for name in given.keys() {
        if !step.is_declared(name) {
            problems.push(unknown_name(step, &format!("{name:?}"), name));
        }
    }
    let mut values = Vec::new();
    for (kind, slot) in step.slots() {
        let var = kind.env_var(slot.name);
        let found = match given.get(slot.name) {
            Some(v) => Some((v.clone(), Origin::Given)),
            None => match env(&var).filter(|v| !v.is_empty()) {
                Some(v) => Some((v, Origin::Env(var.clone()))),
                None => slot
                    .default
                    .filter(|_| offline || kind == SlotKind::Param)
                    .map(|d| (d.to_owned(), Origin::Default)),
            },
        };
        match found {
            Some((text, origin)) => values.push(Resolved {
                kind,
                name: slot.name,
                text,
                origin,
            }),
            None => problems.push(missing(step, kind, slot, &var, offline)),
        }
    }
    if problems.is_empty() {
        Ok(values)
    } else {
        Err(StepError::new(StepErrorKind::Binding, problems.join("\n")))
    }
}

fn missing(step: &Step, kind: SlotKind, slot: &Slot, var: &str, offline: bool) -> String {
    let name = slot.name;
    let list = match kind {
        SlotKind::Input => "inputs",
        SlotKind::Output => "outputs",
        SlotKind::Param => "params",
    };
    // A param's default applies online too, so only a param without one gets here.
    let or_default = match kind {
        SlotKind::Param => "or write a default",
        SlotKind::Input | SlotKind::Output => "or, for an offline run, write a default",
    };
    let mut text = format!(
        "step {:?}: {kind} {name:?} has no value: give it on the command line (--{name} <value>) \
         or as a binding, set {var}, {or_default} ",
        step.name
    );
    match slot.default {
        None => text.push_str(&format!("(#[aml_step({list}({name} = ...))])")),
        Some(d) if !offline => text.push_str(&format!(
            "(it has {d:?}, but the run is online, where the default of an {kind} does not \
             apply: a local path means nothing on a remote engine)"
        )),
        Some(_) => {}
    }
    text
}

/// The error for a name the step does not declare, with the closest one.
pub(super) fn unknown_name(step: &Step, shown: &str, name: &str) -> String {
    let names: Vec<String> = step.slots().map(|(_, s)| s.name.to_owned()).collect();
    let mut text = format!("step {:?} has no input, output or param {shown}", step.name);
    match closest(name, &names).first() {
        Some(similar) => text.push_str(&format!("; did you mean {similar:?}?")),
        None if names.is_empty() => text.push_str("; it takes none"),
        None => text.push_str(&format!("; it takes {}", names.join(", "))),
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::fixture::{STEP, given};

    #[test]
    fn the_given_value_wins_then_the_environment_then_the_default_offline() {
        let env = |v: &str| (v == "AML_PARAMETER_threshold").then(|| String::from("0.5"));
        let values = resolve(&STEP, &given(&[("model_output", "out")]), true, env).unwrap();
        let texts: Vec<(&str, &str, Origin)> = values
            .iter()
            .map(|v| (v.name, v.text.as_str(), v.origin.clone()))
            .collect();
        assert_eq!(
            texts,
            [
                ("irisdata", "data/iris.csv", Origin::Default),
                ("model_output", "out", Origin::Given),
                (
                    "threshold",
                    "0.5",
                    Origin::Env("AML_PARAMETER_threshold".into())
                ),
            ]
        );
        let env = |v: &str| (v == "AZUREML_DATAREFERENCE_model_output").then(|| "env/out".into());
        let values = resolve(&STEP, &given(&[]), true, env).unwrap();
        assert_eq!(values[1].text, "env/out");
    }

    #[test]
    fn online_a_data_default_is_refused_and_a_param_default_applies() {
        let e = resolve(&STEP, &given(&[("model_output", "o")]), false, |_| None).unwrap_err();
        assert_eq!(e.kind(), StepErrorKind::Binding);
        let text = e.to_string();
        assert_eq!(
            text,
            "step \"train\": input \"irisdata\" has no value: give it on the command line \
             (--irisdata <value>) or as a binding, set AZUREML_DATAREFERENCE_irisdata, or, for \
             an offline run, write a default (it has \"data/iris.csv\", but the run is online, \
             where the default of an input does not apply: a local path means nothing on a \
             remote engine)"
        );
        // With its data bound, the step resolves online, the param from its default.
        let bound = given(&[("model_output", "o"), ("irisdata", "d.csv")]);
        let values = resolve(&STEP, &bound, false, |_| None).unwrap();
        assert_eq!(
            (values[2].name, values[2].text.as_str(), &values[2].origin),
            ("threshold", "0.9", &Origin::Default)
        );
    }

    #[test]
    fn a_param_without_default_names_all_three_ways_online_and_offline() {
        let step = Step {
            params: &[crate::step::Slot {
                name: "epochs",
                default: None,
                ty: "u32",
            }],
            inputs: &[],
            outputs: &[],
            ..STEP
        };
        for offline in [true, false] {
            let e = resolve(&step, &given(&[]), offline, |_| None).unwrap_err();
            assert_eq!(
                e.to_string(),
                "step \"train\": param \"epochs\" has no value: give it on the command line \
                 (--epochs <value>) or as a binding, set AML_PARAMETER_epochs, or write a \
                 default (#[aml_step(params(epochs = ...))])"
            );
        }
    }

    #[test]
    fn offline_a_value_without_default_is_missing_too() {
        let e = resolve(&STEP, &given(&[]), true, |_| None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "step \"train\": output \"model_output\" has no value: give it on the command line \
             (--model_output <value>) or as a binding, set AZUREML_DATAREFERENCE_model_output, \
             or, for an offline run, write a default (#[aml_step(outputs(model_output = ...))])"
        );
    }

    #[test]
    fn a_binding_that_names_nothing_suggests_the_closest_name() {
        let e = resolve(&STEP, &given(&[("treshold", "1")]), true, |_| None).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "step \"train\" has no input, output or param \"treshold\"; did you mean \
                 \"threshold\"?"
            ),
            "{e}"
        );
    }
}
