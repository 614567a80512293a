//! Config objects as properties: a `serde::Serialize` value flattened into dotted keys, the way
//! MLflow's autologging records nested parameters (`optimizer.lr`).

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// The properties of `config`: each field of a struct or entry of a map is a key; a nested
/// struct or map adds its own keys below it, joined with `.`. A string is its text; every other
/// leaf (a number, a bool, `null`, a sequence, an empty struct or map) is its JSON text, since a
/// property holds one string and JSON is what a reader can parse back.
pub(crate) fn flatten(config: &impl Serialize) -> Result<Vec<(String, String)>> {
    let value = serde_json::to_value(config).map_err(|e| Error::InvalidValue {
        what: "log_params".into(),
        reason: format!(
            "the config cannot be serialized ({e}); give a struct or a map with string keys"
        ),
    })?;
    let Value::Object(fields) = value else {
        return Err(Error::InvalidValue {
            what: "log_params".into(),
            reason: format!(
                "the config is {}, not a struct or map; pass a struct or map whose fields become \
                 properties, or use add_property for a single value",
                json_kind(&value)
            ),
        });
    };
    let mut out = Vec::new();
    for (key, value) in fields {
        push(&mut out, key, value);
    }
    Ok(out)
}

fn push(out: &mut Vec<(String, String)>, key: String, value: Value) {
    match value {
        Value::Object(fields) if !fields.is_empty() => {
            for (inner, value) in fields {
                push(out, format!("{key}.{inner}"), value);
            }
        }
        Value::String(text) => out.push((key, text)),
        leaf => out.push((key, leaf.to_string())),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null (a unit or None)",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flat(v: Value) -> Vec<(String, String)> {
        flatten(&v).unwrap()
    }

    #[test]
    fn nested_maps_join_with_dots_and_other_leaves_are_json() {
        let got = flat(json!({
            "optimizer": {"name": "adam", "lr": 0.001, "betas": [0.9, 0.999]},
            "epochs": 10,
            "shuffle": true,
            "seed": null,
            "extra": {},
        }));
        let want = [
            ("epochs", "10"),
            ("extra", "{}"),
            ("optimizer.betas", "[0.9,0.999]"),
            ("optimizer.lr", "0.001"),
            ("optimizer.name", "adam"),
            ("seed", "null"),
            ("shuffle", "true"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_config_that_is_not_a_struct_or_map_is_refused() {
        for (value, kind) in [(json!(3), "a number"), (json!([1]), "a sequence")] {
            let err = flatten(&value).unwrap_err().to_string();
            assert!(err.starts_with("log_params: the config is "), "{err}");
            assert!(err.contains(kind), "{err}");
        }
        let tuple_keys: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let err = flatten(&tuple_keys).unwrap_err().to_string();
        assert!(err.contains("cannot be serialized"), "{err}");
    }
}
