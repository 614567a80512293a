//! The JSON shapes of the MLflow REST API.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::MetricPoint;

/// A key and a value: a tag or a param.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct KeyValue<'a> {
    /// The key.
    pub key: &'a str,
    /// The value.
    pub value: &'a str,
}

/// A metric point as sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct WireMetric<'a> {
    /// The key.
    pub key: &'a str,
    /// The value; non-finite values go as strings (bare `NaN` would be stored as 0).
    #[serde(serialize_with = "crate::store::float::serialize")]
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The step.
    pub step: i64,
}

/// The body of `runs/log-batch`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct LogBatch<'a> {
    /// The run.
    pub run_id: &'a str,
    /// At most 1000 metrics (250 on Azure ML).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<WireMetric<'a>>,
    /// At most 100 params, each key once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<KeyValue<'a>>,
    /// At most 100 tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue<'a>>,
}

/// A metric point as read back: the value is a number, or a string for NaN.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ReadMetric {
    /// The key.
    pub key: String,
    /// The value as the server gave it.
    pub value: Value,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub timestamp: i64,
    /// The step.
    #[serde(default)]
    pub step: i64,
}

impl ReadMetric {
    /// The point, with the server's clamped infinities (±1.7976931348623157e308) read back as
    /// infinities and `"NaN"` as NaN.
    pub(crate) fn point(&self) -> MetricPoint {
        let value = match &self.value {
            Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
            Value::String(s) => crate::store::float::parse(s).unwrap_or(f64::NAN),
            _ => f64::NAN,
        };
        let value = if value == f64::MAX {
            f64::INFINITY
        } else if value == f64::MIN {
            f64::NEG_INFINITY
        } else {
            value
        };
        MetricPoint {
            value,
            timestamp: self.timestamp,
            step: self.step,
        }
    }
}

/// A tag or param as read back.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub(crate) struct ReadKeyValue {
    /// The key.
    pub key: String,
    /// The value.
    #[serde(default)]
    pub value: String,
}

/// An experiment.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Experiment {
    /// Its id.
    pub experiment_id: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// `active` or `deleted`.
    #[serde(default)]
    pub lifecycle_stage: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ExperimentReply {
    pub experiment: Experiment,
}

/// A run's info.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RunInfo {
    /// The run id.
    pub run_id: String,
    /// The experiment id.
    pub experiment_id: String,
    /// RUNNING, FINISHED, FAILED, KILLED or SCHEDULED.
    #[serde(default)]
    pub status: String,
    /// Milliseconds since the epoch, once ended.
    #[serde(default)]
    pub end_time: Option<i64>,
    /// Where its artifacts are, such as `mlflow-artifacts:/2/<run>/artifacts`.
    #[serde(default)]
    pub artifact_uri: String,
    /// Its name.
    #[serde(default)]
    pub run_name: String,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub start_time: Option<i64>,
}

/// A run's latest data.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct RunDataReply {
    /// The latest value of each metric.
    #[serde(default)]
    pub metrics: Vec<ReadMetric>,
    /// Params.
    #[serde(default)]
    pub params: Vec<ReadKeyValue>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<ReadKeyValue>,
}

/// A run as `runs/get` gives it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RemoteRun {
    /// Its info.
    pub info: RunInfo,
    /// Its data.
    #[serde(default)]
    pub data: RunDataReply,
}

impl RemoteRun {
    /// The value of tag `key`.
    pub(crate) fn tag(&self, key: &str) -> Option<&str> {
        self.data
            .tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CreateRunReply {
    pub run: RemoteRun,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RunReply {
    pub run: RemoteRun,
}

#[derive(Debug, Deserialize)]
pub(crate) struct HistoryReply {
    #[serde(default)]
    pub metrics: Vec<ReadMetric>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SearchRunsReply {
    #[serde(default)]
    pub runs: Vec<RemoteRun>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// A registered model version.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub(crate) struct ModelVersion {
    /// The registered model's name.
    pub name: String,
    /// The version, "1", "2", ...
    pub version: String,
    /// Where its files are: `runs:/<run>/<path>`.
    #[serde(default)]
    pub source: String,
    /// The run that produced it.
    #[serde(default)]
    pub run_id: Option<String>,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub creation_timestamp: i64,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<ReadKeyValue>,
    /// The aliases that point at it: given by `model-versions/get` and
    /// `registered-models/alias`, not by `model-versions/search`.
    #[serde(default)]
    pub aliases: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ModelVersionReply {
    pub model_version: ModelVersion,
}

/// An alias of a registered model, as `registered-models/get` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct ModelAlias {
    /// The alias.
    pub alias: String,
    /// The version it points at, "1", "2", ...
    pub version: String,
}

/// A registered model, as `registered-models/get` gives it (the fields used).
#[derive(Debug, Deserialize)]
pub(crate) struct RegisteredModel {
    /// Its aliases.
    #[serde(default)]
    pub aliases: Vec<ModelAlias>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RegisteredModelReply {
    pub registered_model: RegisteredModel,
}

#[derive(Debug, Deserialize)]
pub(crate) struct DownloadUriReply {
    #[serde(default)]
    pub artifact_uri: String,
}

/// One entry of a folder listing of the artifact proxy (`mlflow-artifacts/artifacts?path=`):
/// a name inside the folder listed.
#[derive(Debug, Deserialize)]
pub(crate) struct ProxyFile {
    pub path: String,
    #[serde(default)]
    pub is_dir: bool,
    #[serde(default)]
    pub file_size: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ProxyListing {
    #[serde(default)]
    pub files: Vec<ProxyFile>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SearchVersionsReply {
    #[serde(default)]
    pub model_versions: Vec<ModelVersion>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_values_go_as_strings_and_come_back() {
        let batch = LogBatch {
            run_id: "r",
            metrics: vec![
                WireMetric {
                    key: "a",
                    value: f64::NAN,
                    timestamp: 1,
                    step: 0,
                },
                WireMetric {
                    key: "a",
                    value: f64::INFINITY,
                    timestamp: 1,
                    step: 1,
                },
                WireMetric {
                    key: "a",
                    value: f64::NEG_INFINITY,
                    timestamp: 1,
                    step: 2,
                },
                WireMetric {
                    key: "a",
                    value: 0.5,
                    timestamp: 1,
                    step: 3,
                },
            ],
            ..LogBatch::default()
        };
        let json = serde_json::to_string(&batch).unwrap();
        assert_eq!(
            json,
            r#"{"run_id":"r","metrics":[{"key":"a","value":"NaN","timestamp":1,"step":0},{"key":"a","value":"Infinity","timestamp":1,"step":1},{"key":"a","value":"-Infinity","timestamp":1,"step":2},{"key":"a","value":0.5,"timestamp":1,"step":3}]}"#
        );
        // As MLflow 3.17.2 answers get-history.
        let reply: HistoryReply = serde_json::from_str(
            r#"{"metrics":[{"key":"a","value":"NaN","timestamp":1,"step":0},{"key":"a","value":1.7976931348623157e+308,"timestamp":1,"step":1},{"key":"a","value":-1.7976931348623157e+308,"timestamp":1,"step":2},{"key":"a","value":0.5,"timestamp":1,"step":3}]}"#,
        )
        .unwrap();
        let values: Vec<f64> = reply.metrics.iter().map(|m| m.point().value).collect();
        assert!(values[0].is_nan());
        assert_eq!(&values[1..], &[f64::INFINITY, f64::NEG_INFINITY, 0.5]);
    }
}
