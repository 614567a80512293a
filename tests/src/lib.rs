//! Helpers shared by the integration tests.

pub mod mlflow;
pub mod proxy;

use std::path::Path;
use std::process::Command;

/// The variables that choose where runs go. Tests clear them all, then set what they test, so
/// that a developer's own environment never leaks into a test.
pub const TRACKING_VARS: [&str; 12] = [
    "MLFLOW_TRACKING_URI",
    "MLFLOW_RUN_ID",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_INSECURE_TLS",
    "RUNCTX_HOME",
    "RUNCTX_OFFLINE",
    "RUNCTX_RUN_ID",
    "RUNCTX_PARENT_RUN_ID",
];

/// `program` with a clean tracking environment and its store in `home`.
pub fn command(program: impl AsRef<Path>, home: &Path) -> Command {
    let mut cmd = Command::new(program.as_ref());
    for var in TRACKING_VARS {
        cmd.env_remove(var);
    }
    cmd.env("RUNCTX_HOME", home);
    cmd
}

/// Parses the last line of a program's standard output as JSON.
pub fn last_json(stdout: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| {
            panic!("no JSON line in the output:\n{text}");
        });
    serde_json::from_str(line).unwrap()
}
