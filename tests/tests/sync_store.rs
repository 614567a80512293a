//! `sync` on a store with a damaged run and a child whose parent is missing, against a server
//! that is not there: one bad file fails only its own run, orphans go to the top level, and
//! nothing waits forever. (Syncing to a real server is in online.rs and faults*.rs.)

use std::time::{Duration, Instant};

use run_runtime::Store;
use run_runtime::sync::{SyncOptions, sync};
use tests::mlflow::free_port;

#[test]
fn one_bad_remote_json_fails_only_its_run_and_an_unreachable_server_is_given_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let healthy = store.start_run("e", "healthy").unwrap();
    healthy.log("m", 1.0).unwrap();
    healthy.complete().unwrap();
    let broken = store.start_run("e", "broken").unwrap();
    broken.complete().unwrap();
    std::fs::write(broken.dir().join("remote.json"), "{ not json").unwrap();
    // A child whose parent was deleted from the store.
    let parent = store.start_run("e", "parent").unwrap();
    let orphan = parent.child_run("orphan").unwrap();
    orphan.complete().unwrap();
    parent.complete().unwrap();
    store.delete_run(parent.id()).unwrap();

    // Nothing listens there: the runs are given up once the server has answered nothing for
    // the flush timeout.
    run_runtime::set_flush_timeout(Duration::from_secs(1));
    let options = SyncOptions::from_env(&format!("http://127.0.0.1:{}", free_port())).unwrap();
    let started = Instant::now();
    let report = sync(&store, &[], &options, |_| {}).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "sync gave up in {:?}",
        started.elapsed()
    );
    let by_id = |id: &str| report.runs.iter().find(|r| r.id == id).unwrap();
    let broken_error = by_id(broken.id()).error.clone().unwrap();
    assert!(broken_error.contains("remote.json"), "{broken_error}");
    let healthy_error = by_id(healthy.id()).error.clone().unwrap();
    assert!(
        healthy_error.contains("nothing is lost"),
        "given up, journal kept: {healthy_error}"
    );
    let orphan = by_id(orphan.id());
    assert!(
        orphan.warnings.iter().any(|w| w.contains("top-level")),
        "{:?}",
        orphan.warnings
    );
}
