//! Helpers shared by the integration tests.

pub mod azureml;
pub mod azurite;
pub mod downloads;
pub mod fake_service;
pub mod load;
pub mod mlflow;
pub mod postgres;
pub mod production;
pub mod proxy;
pub mod s3;
pub mod venv;
pub mod watchdog;

use std::path::Path;
use std::process::Command;

/// The prefixes of the variables that change what a program of this project does: where runs
/// go (`RUNCTX_*`, `MLFLOW_*`, `DATABRICKS_*`) and the values of a step (`AZUREML_*`,
/// `AML_PARAMETER_*`).
const OURS: [&str; 5] = [
    "RUNCTX_",
    "MLFLOW_",
    "DATABRICKS_",
    "AZUREML_",
    "AML_PARAMETER_",
];

/// Removes from `cmd` every variable of the environment that could change what the program
/// does, so that a developer's own settings never leak into a test; the test then sets what it
/// tests.
pub fn clean(cmd: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if OURS.iter().any(|p| name.to_string_lossy().starts_with(p)) {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// `program` with a clean environment (see [`clean`]) and its store in `home`.
pub fn command(program: impl AsRef<Path>, home: &Path) -> Command {
    let mut cmd = Command::new(program.as_ref());
    clean(&mut cmd).env("RUNCTX_HOME", home);
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

/// `len` bytes from `seed` that are not all alike (xorshift), so that a shifted or truncated
/// copy of a file does not compare equal to it.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15 ^ seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
