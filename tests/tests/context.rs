//! `Run::get_context()` in a real process, under the environment a user or an engine sets, and
//! what happens to the context run when the process ends.

use std::path::Path;

use run_runtime::{Status, Store};
use serde_json::Value;
use tests::{command, last_json};

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

fn probe(home: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, Value, String) {
    let out = command(PROBE, home)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), last_json(&out.stdout), stderr)
}

#[test]
fn no_tracking_environment_gives_an_offline_run_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, v, stderr) = probe(dir.path(), &["context"], &[]);
    assert!(ok, "{stderr}");
    let id = v["id"].as_str().unwrap();
    assert!(
        id.starts_with("OfflineRun_") && id.len() == "OfflineRun_".len() + 36,
        "{id}"
    );
    assert_eq!(v["offline"], true);
    assert_eq!(v["experiment"], "Default");
    assert_eq!(v["name"], "probe");
    // Another process reads it back: completed at exit, with what was logged.
    let data = Store::new(dir.path()).read(id).unwrap();
    assert_eq!(data.status, Status::Finished);
    assert_eq!(data.metrics["probe"][0].value, 1.0);
    assert_eq!(Path::new(v["dir"].as_str().unwrap()), dir.path().join(id));
}

#[test]
fn the_experiment_name_and_forced_offline_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("MLFLOW_EXPERIMENT_NAME", "iris"),
        ("MLFLOW_TRACKING_URI", "http://127.0.0.1:9"),
        ("RUNCTX_OFFLINE", "1"),
    ];
    let (ok, v, stderr) = probe(dir.path(), &["context"], &env);
    assert!(ok, "{stderr}");
    assert_eq!(v["experiment"], "iris");
    assert_eq!(v["offline"], true);
}

#[test]
fn malformed_configuration_is_an_error_not_a_silent_offline_run() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            ("MLFLOW_TRACKING_URI", "mlflow.example:5000"),
            "MLFLOW_TRACKING_URI=\"mlflow.example:5000\" is invalid",
        ),
        (
            ("MLFLOW_TRACKING_URI", "gopher://h"),
            "the scheme \"gopher\" is not supported",
        ),
        (
            ("RUNCTX_OFFLINE", "perhaps"),
            "RUNCTX_OFFLINE=\"perhaps\" is invalid",
        ),
        (
            ("MLFLOW_RUN_ID", "0123abcd"),
            "MLFLOW_TRACKING_URI is not set",
        ),
        (
            ("RUNCTX_RUN_ID", "OfflineRun_missing"),
            "RUNCTX_RUN_ID=\"OfflineRun_missing\" is invalid: no such run",
        ),
    ];
    for ((var, value), want) in cases {
        let (ok, v, _) = probe(dir.path(), &["context"], &[(var, value)]);
        assert!(!ok, "{var}={value} should fail");
        let error = v["error"].as_str().unwrap();
        assert!(error.contains(want), "{var}: {error}");
    }
    assert!(
        Store::new(dir.path()).ids().unwrap().is_empty(),
        "no run may be created"
    );
}

#[test]
fn a_step_process_attaches_to_the_run_its_launcher_made() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let parent = store.start_run("Default", "pipeline").unwrap();
    let child = parent.child_run("train").unwrap();
    let child_id = child.id().to_string();
    drop(child); // ended here: the step process must still be able to log to it
    let (ok, v, stderr) = probe(dir.path(), &["context"], &[("RUNCTX_RUN_ID", &child_id)]);
    assert!(ok, "{stderr}");
    assert_eq!(v["id"], child_id.as_str());
    assert_eq!(v["parent"], parent.id());
    assert_eq!(store.read(&child_id).unwrap().metrics["probe"].len(), 1);
}

#[test]
fn the_context_run_ends_with_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let end = |how: &str| {
        let out = command(PROBE, dir.path())
            .args(["exit", how])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        let id = first["id"].as_str().unwrap().to_string();
        (
            out.status.code(),
            store.read(&id).unwrap(),
            last_json(&out.stdout),
        )
    };

    let (code, data, _) = end("normal");
    assert_eq!((code, data.status), (Some(0), Status::Finished));
    assert_eq!(data.metrics["before_exit"].len(), 1);

    let (code, data, _) = end("exit3");
    assert_eq!((code, data.status), (Some(3), Status::Finished));

    let (code, data, _) = end("panic");
    assert_eq!((code, data.status), (Some(101), Status::Failed));
    let error = data.error.unwrap();
    assert!(error.contains("the model diverged"), "{error}");

    let (_, data, last) = end("drop-child");
    assert_eq!(data.status, Status::Finished);
    let child = store.read(last["child"].as_str().unwrap()).unwrap();
    assert_eq!(child.status, Status::Finished);

    // A child that is never dropped is ended at exit too, and its records are kept.
    let (_, _, last) = end("leak-child");
    let child = store.read(last["child"].as_str().unwrap()).unwrap();
    assert_eq!(child.status, Status::Finished);
    assert_eq!(child.metrics["x"].len(), 1);
}

/// A Rust program launched on a run (as `runctx run` and a sweep's trials do) logs into that
/// run, and its exit status, not its exit handler, decides how the run ends.
#[cfg(unix)]
#[test]
fn a_launched_rust_program_logs_into_the_run_and_its_exit_code_decides_the_status() {
    use run_runtime::launch::{Exit, Launch};

    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let run = store.start_run("launched", "probe").unwrap();
    let id = run.id().to_owned();
    let outcome = Launch::new(PROBE)
        .arg("context")
        .echo(false)
        .run(run)
        .unwrap();
    assert_eq!(
        (outcome.status, outcome.exit),
        (Status::Finished, Exit::Code(0))
    );
    let data = store.read(&id).unwrap();
    assert_eq!(data.status, Status::Finished);
    assert_eq!(
        data.metrics["probe"].len(),
        1,
        "the program logged into the run"
    );
    let printed = last_json(
        &std::fs::read(
            store
                .run_dir(&id)
                .unwrap()
                .join("artifacts/logs/stdout.txt"),
        )
        .unwrap(),
    );
    assert_eq!(printed["id"], id.as_str());
    assert_eq!(printed["experiment"], "launched");

    // `probe exit exit3` logs, then calls `std::process::exit(3)`: its exit handler leaves the
    // run to the launcher, which fails it.
    let run = store.start_run("launched", "exit3").unwrap();
    let id = run.id().to_owned();
    let outcome = Launch::new(PROBE)
        .args(["exit", "exit3"])
        .echo(false)
        .run(run)
        .unwrap();
    assert_eq!(
        (outcome.status, outcome.exit),
        (Status::Failed, Exit::Code(3))
    );
    let data = store.read(&id).unwrap();
    assert_eq!(data.status, Status::Failed);
    assert_eq!(
        data.error.as_deref(),
        Some("the command exited with code 3")
    );
    assert_eq!(data.metrics["before_exit"].len(), 1);
}

/// `MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=true` (MLflow's switch) makes the process's run log
/// system metrics under MLflow's names, at `MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL`.
#[test]
fn mlflows_switch_turns_on_system_metrics_for_the_context_run() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, v, stderr) = probe(
        dir.path(),
        &["context"],
        &[
            ("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true"),
            ("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.5"),
        ],
    );
    assert!(ok, "{stderr}");
    let data = Store::new(dir.path())
        .read(v["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(data.status, Status::Finished);
    for name in [
        run_runtime::system_metrics::CPU_UTILIZATION,
        run_runtime::system_metrics::MEMORY_USAGE_MB,
        run_runtime::system_metrics::NETWORK_RECEIVE_MB,
    ] {
        assert!(
            data.metrics.contains_key(name),
            "{name}: {:?}",
            data.metrics.keys()
        );
    }

    let (ok, v, _) = probe(
        dir.path(),
        &["context"],
        &[
            ("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true"),
            ("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0"),
        ],
    );
    assert!(!ok);
    let error = v["error"].as_str().unwrap();
    assert!(
        error.contains("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL") && error.contains("100 ms"),
        "{error}"
    );
}
