//! Azure ML's own validation of job files: `scripts/azureml-validate.py`, run by the project's
//! venv with azure-ai-ml (tests/requirements-servers.txt), checks each file as `az ml job
//! create` does before it sends it, offline.

use std::path::Path;
use std::process::Command;

use serde::Deserialize;

use crate::venv::{server_python, workspace};

/// What Azure ML's validation says of one job file.
#[derive(Debug, Deserialize)]
pub struct Verdict {
    /// The file checked.
    pub file: String,
    /// Whether it would be sent.
    pub passed: bool,
    /// Each validation message, `<yaml path>: <message>`; empty when it passed.
    pub errors: Vec<String>,
}

/// Azure ML's verdict on each of `files`, in order.
pub fn validate(files: &[&Path]) -> Vec<Verdict> {
    let out = Command::new(server_python())
        .env(crate::venv::NO_TELEMETRY.0, crate::venv::NO_TELEMETRY.1)
        .arg(workspace().join("scripts/azureml-validate.py"))
        .args(files)
        .output()
        .expect("run the venv's python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Exit code 1 is a verdict (some file failed); anything else is the checker failing.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "the Azure ML validation did not run ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
}

/// Panics with Azure ML's messages unless every one of `files` passes its validation.
pub fn assert_valid(files: &[&Path]) {
    let failed: Vec<String> = validate(files)
        .into_iter()
        .filter(|v| !v.passed)
        .map(|v| format!("{}:\n  {}", v.file, v.errors.join("\n  ")))
        .collect();
    assert!(
        failed.is_empty(),
        "Azure ML refuses the job:\n{}",
        failed.join("\n")
    );
}
