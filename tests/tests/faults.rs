//! Shipping under faults, against real MLflow servers: an outage, a killed client, a server
//! answering 500 and 429, and a wrong credential. Nothing is lost and nothing is duplicated.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use run_runtime::Store;
use run_runtime::sync::{SyncOptions, sync};
use tests::command;
use tests::mlflow::MlflowServer;
use tests::proxy::{Fault, FaultProxy};

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

/// The steps of metric `key` on the server, checked to be 0..n exactly once each.
fn assert_exactly_once(server: &MlflowServer, run_id: &str, key: &str, n: usize) {
    let history = server.history(run_id, key);
    let steps: Vec<i64> = history.iter().map(|p| p.0).collect();
    assert_eq!(
        steps.len(),
        n,
        "{key}: {} points on the server, {n} logged",
        steps.len()
    );
    assert_eq!(
        steps,
        (0..n as i64).collect::<Vec<_>>(),
        "{key}: every step once"
    );
    assert!(
        history
            .iter()
            .all(|(step, v)| v.as_f64() == Some(*step as f64))
    );
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn an_outage_mid_run_loses_and_duplicates_nothing() {
    let mut server = MlflowServer::start();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let run = store
        .start_online_run(&server.uri, "outage", "resilient")
        .unwrap();
    let n = 20_000;
    let log = |range: std::ops::Range<i64>| {
        for i in range {
            run.log_step("m", i as f64, i).unwrap();
            if i % 1000 == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    log(0..5_000);
    run.flush().unwrap();
    server.stop();
    let down = Instant::now();
    log(5_000..15_000); // the program keeps logging while the server is down
    let e = run
        .flush_within(Duration::from_millis(500))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("runctx sync") && e.contains("safe in the local journal"),
        "{e}"
    );
    std::thread::sleep(Duration::from_secs(5).saturating_sub(down.elapsed()));
    server.restart();
    log(15_000..n);
    run.complete().unwrap();
    assert_exactly_once(&server, &run.remote_id().unwrap(), "m", n as usize);
    assert_eq!(
        server.run(&run.remote_id().unwrap())["info"]["status"],
        "FINISHED"
    );
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn after_a_killed_client_sync_uploads_everything_the_journal_has() {
    let server = MlflowServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(PROBE, dir.path())
        .args(["crash", "20000", "100"])
        .env("MLFLOW_TRACKING_URI", &server.uri)
        .env("MLFLOW_EXPERIMENT_NAME", "killed")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let id = lines.next().unwrap().unwrap();
    assert_eq!(
        lines.next().unwrap().unwrap(),
        "flushed",
        "flush() waited for the server"
    );
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL, mid-run
    child.wait().unwrap();

    let store = Store::new(dir.path());
    let in_journal = store.read(&id).unwrap().metrics["m"].len();
    assert!(in_journal >= 20_000, "{in_journal}");
    let report = sync(
        &store,
        std::slice::from_ref(&id),
        &SyncOptions::from_env(&server.uri).unwrap(),
        |_| {},
    )
    .unwrap()
    .runs;
    assert!(report[0].error.is_none(), "{report:?}");
    let remote = report[0].remote_id.clone().unwrap();
    assert_eq!(
        server.runs_with_tag("killed", "runctx.local_id", &id).len(),
        1,
        "one run, not two"
    );
    assert_exactly_once(server, &remote, "m", in_journal);
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn errors_500_and_429_are_retried_without_duplicates() {
    let server = MlflowServer::shared();
    let proxy = FaultProxy::start(server.port());
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    proxy.set(Fault::ServerError);
    let run = store
        .start_online_run(&proxy.uri, "faults", "retried")
        .unwrap();
    for i in 0..5_000 {
        run.log_step("m", i as f64, i).unwrap();
    }
    std::thread::sleep(Duration::from_millis(1500));
    proxy.set(Fault::TooManyRequests);
    for i in 5_000..10_000 {
        run.log_step("m", i as f64, i).unwrap();
    }
    std::thread::sleep(Duration::from_millis(1500));
    proxy.set(Fault::None);
    run.complete().unwrap();
    let faulted = proxy.faulted.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        faulted >= 2,
        "the proxy answered {faulted} requests with faults"
    );
    assert_exactly_once(server, &run.remote_id().unwrap(), "m", 10_000);
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn a_wrong_credential_is_a_clear_error_and_the_journal_is_kept() {
    let password = "Correct-Horse-9";
    let server = MlflowServer::start_with_auth(password);
    let dir = tempfile::tempdir().unwrap();
    let out = command(PROBE, dir.path())
        .args(["context"])
        .env("MLFLOW_TRACKING_URI", &server.uri)
        .env("MLFLOW_TRACKING_USERNAME", "admin")
        .env("MLFLOW_TRACKING_PASSWORD", "wrong-password")
        .env("RUNCTX_EXIT_TIMEOUT", "20")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("HTTP 401") && stderr.contains("You are not authenticated"),
        "{stderr}"
    );
    assert!(
        stderr.contains("runctx sync"),
        "the error says how to upload later: {stderr}"
    );
    assert!(
        !stderr.contains("wrong-password"),
        "credentials never appear: {stderr}"
    );
    let id = tests::last_json(&out.stdout)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let store = Store::new(dir.path());
    assert_eq!(
        store.read(&id).unwrap().metrics["probe"].len(),
        1,
        "the journal kept the record"
    );

    // With the right password the same journal ships.
    let options = SyncOptions::from_env(&server.uri)
        .unwrap()
        .basic_auth("admin", password);
    let report = sync(&store, &[id], &options, |_| {}).unwrap().runs;
    assert!(report[0].error.is_none(), "{report:?}");
    assert_eq!(
        report[0].records, 2,
        "the metric and the end status: {report:?}"
    );
}
