//! Values written as documents: JSON or YAML, chosen by the artifact name's extension.

use serde::Serialize;

use crate::error::{Error, Result};

/// The extensions `log_dict` knows, for its error message.
const EXTENSIONS: &str = ".json, .yaml or .yml";

/// The bytes of `value` as the document artifact `name` holds: JSON (indented by two, as
/// MLflow's `log_dict` writes it) for `.json`, YAML for `.yaml` and `.yml`.
pub(crate) fn encode(name: &str, value: &impl Serialize) -> Result<Vec<u8>> {
    let ext = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    let unserializable = |e: &dyn std::fmt::Display| Error::InvalidArtifact {
        name: name.to_owned(),
        reason: format!("the value cannot be serialized ({e})"),
    };
    match ext.as_str() {
        "json" => serde_json::to_vec_pretty(value).map_err(|e| unserializable(&e)),
        "yaml" | "yml" => serde_saphyr::to_string(value)
            .map(String::into_bytes)
            .map_err(|e| unserializable(&e)),
        _ => Err(Error::InvalidArtifact {
            name: name.to_owned(),
            reason: format!(
                "log_dict writes JSON or YAML, chosen by the extension; end the name with {EXTENSIONS}"
            ),
        }),
    }
}
