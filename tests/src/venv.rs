//! The project's Python venv for the tests (`$MLFLOW_VENV` or `<workspace>/.venv/mlflow`):
//! MLflow, and the packages of the production-style servers (PostgreSQL driver, Azure and S3
//! clients, moto's S3 server), installed on first use. scripts/test.sh installs the same before
//! the tests; a file lock keeps two test binaries that install at once from racing.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The MLflow release the project is tested against.
pub const MLFLOW_VERSION: &str = "3.17.2";

/// The pinned Python packages of the production-style servers (tests/requirements-servers.txt,
/// which scripts/test.sh installs too).
pub const SERVER_REQUIREMENTS: &str = include_str!("../requirements-servers.txt");

/// The marker, in the venv, of an install of [`SERVER_REQUIREMENTS`]: a copy of the file, so
/// that a changed pin installs again.
const SERVER_MARKER: &str = ".servers-requirements";

/// The venv's folder.
pub fn venv() -> PathBuf {
    std::env::var_os("MLFLOW_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv/mlflow"))
}

/// The `mlflow` executable of the project's venv, installed on first use.
pub fn mlflow_executable() -> PathBuf {
    let venv = venv();
    let mlflow = venv.join("bin/mlflow");
    let python = venv.join("bin/python");
    let installed = || {
        Command::new(&python)
            .args(["-c", &format!("import importlib.metadata as m, sys, flask_wtf; sys.exit(m.version('mlflow') != '{MLFLOW_VERSION}')")])
            .status()
            .is_ok_and(|s| s.success())
    };
    if mlflow.is_file() && installed() {
        return mlflow;
    }
    let _lock = install_lock(&venv);
    if !(mlflow.is_file() && installed()) {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
        // The `auth` extra brings Flask-WTF, which MLflow's basic-auth app needs.
        pip_install(&[&format!("mlflow[auth]=={MLFLOW_VERSION}")]);
    }
    mlflow
}

/// The venv's `python`, with MLflow and [`SERVER_REQUIREMENTS`] installed (on first use).
pub fn server_python() -> PathBuf {
    let python = mlflow_executable().with_file_name("python");
    let marker = venv().join(SERVER_MARKER);
    let installed = || std::fs::read_to_string(&marker).is_ok_and(|m| m == SERVER_REQUIREMENTS);
    if !installed() {
        let _lock = install_lock(&venv());
        if !installed() {
            let requirements = workspace().join("tests/requirements-servers.txt");
            pip_install(&["-r", &requirements.to_string_lossy()]);
            std::fs::write(&marker, SERVER_REQUIREMENTS).unwrap();
        }
    }
    python
}

/// An exclusive lock on `<path>.lock`, held until the file is dropped: one installer at a time
/// across processes.
pub(crate) fn install_lock(path: &Path) -> File {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let lock = File::create(path.with_extension("lock")).unwrap();
    lock.lock().unwrap();
    lock
}

fn pip_install(args: &[&str]) {
    let python = venv().join("bin/python");
    run(Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(args));
}

/// Turns off MLflow's usage telemetry in the Python processes the tests start. With no network
/// its client fails in a background thread and removes a variable from `os.environ` while the
/// request being made iterates it: `KeyError: '_MLFLOW_TELEMETRY_SESSION_ID'` failed a test.
pub const NO_TELEMETRY: (&str, &str) = ("MLFLOW_DISABLE_TELEMETRY", "true");

/// Runs `script` with the venv's Python, `args` in
/// `sys.argv[1:]` and `env` added to its environment, and returns the last line it prints,
/// parsed as JSON. Panics with its output when it fails.
pub fn python_json(script: &str, args: &[&str], env: &[(String, String)]) -> Value {
    let out = Command::new(mlflow_executable().with_file_name("python"))
        .arg("-c")
        .arg(script)
        .args(args)
        // The client must not pick up a developer's own server or credentials.
        .env_remove("MLFLOW_TRACKING_URI")
        .env(NO_TELEMETRY.0, NO_TELEMETRY.1)
        .env_remove("MLFLOW_TRACKING_TOKEN")
        .env_remove("MLFLOW_TRACKING_USERNAME")
        .env_remove("MLFLOW_TRACKING_PASSWORD")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run the venv's python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Python script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Runs `cmd`; panics when it cannot start or fails.
pub(crate) fn run(cmd: &mut Command) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed: {status}");
}

/// The workspace's root folder.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}
