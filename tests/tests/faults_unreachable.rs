//! A tracking server that cannot be reached costs the end of a program a few seconds, once:
//! `complete()` gives up after the stall timeout with an error that says where the records
//! are and how to upload them, and the exit handler does not wait again. No MLflow needed: the
//! server is a free loopback port with nothing listening.

use std::time::{Duration, Instant};

use run_runtime::Store;
use tests::command;
use tests::mlflow::free_port;

const SHIPPING: &str = env!("CARGO_BIN_EXE_shipping");

#[test]
fn an_unreachable_server_costs_the_end_of_a_program_one_short_wait() {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let out = command(SHIPPING, dir.path())
        .args(["complete", "1000"])
        .env("MLFLOW_TRACKING_URI", &uri)
        .env("RUNCTX_STALL_TIMEOUT", "4")
        .output()
        .unwrap();
    let wall = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{out:?}");
    let report = tests::last_json(&out.stdout);
    let id = report["id"].as_str().unwrap();
    let error = report["error"].as_str().expect("complete() failed");
    assert!(
        error.contains("the server is not answering")
            && error.contains("safe in the local journal")
            && error.contains(&format!("runctx sync {id} --to {uri}")),
        "{error}"
    );
    let returned_at = Duration::from_millis(report["returned_at_ms"].as_u64().unwrap());
    let complete = Duration::from_millis(report["complete_ms"].as_u64().unwrap());
    eprintln!(
        "unreachable server: complete() took {complete:?}, the process {wall:?} \
         (exit handler and teardown {:?})",
        wall.saturating_sub(returned_at)
    );
    // Before the stall timeout, the end of such a program waited the flush timeout and then
    // the exit timeout (91 s in all). The bound is generous, for a loaded machine: it is
    // there to catch a return of those waits, not to time the stall timeout.
    assert!(wall < Duration::from_secs(30), "{wall:?}");
    assert!(complete >= Duration::from_secs(4), "{complete:?}");
    // The exit handler knows the server is unreachable and does not wait the 4 s again (it
    // took milliseconds here; the margin is for a loaded machine); it says what is left, once.
    assert!(
        wall.saturating_sub(returned_at) < Duration::from_secs(3),
        "the exit handler waited: {wall:?} in all, complete() returned at {returned_at:?}"
    );
    assert_eq!(stderr.matches("at exit").count(), 1, "{stderr}");
    let kept = Store::new(dir.path()).read(id).unwrap();
    assert_eq!(kept.metrics["m"].len(), 1000, "the journal has every point");
}
