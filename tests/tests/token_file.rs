//! A long job's bearer token, refreshed without a restart: `RUNCTX_TRACKING_TOKEN_FILE` names a
//! file the platform rotates, read again when the server answers 401. A real MLflow server,
//! behind the fault proxy acting as a gateway that checks the token.
//!
//! This binary holds one test: it sets the variable for its whole process.

use std::path::Path;

use run_runtime::Store;
use run_runtime::sync::{SyncOptions, sync};
use tests::mlflow::MlflowServer;
use tests::proxy::FaultProxy;

/// Puts `token` in the file at `path` the way Kubernetes' atomic writer does: a new file
/// renamed over the old one, so a reader sees one or the other, whole.
fn rotate(path: &Path, token: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, format!("{token}\n")).unwrap();
    std::fs::rename(&next, path).unwrap();
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn a_token_rotated_in_its_file_is_read_again_on_401_and_nothing_is_lost() {
    let server = MlflowServer::shared();
    let proxy = FaultProxy::start(server.port());
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    proxy.require_bearer(Some("first-token"));
    rotate(&token, "first-token");
    // SAFETY: the only test of this binary sets it before any thread of the library reads
    // the environment.
    unsafe { std::env::set_var("RUNCTX_TRACKING_TOKEN_FILE", &token) };
    let store = Store::new(dir.path().join("runs"));
    let run = store
        .start_online_run(&proxy.uri, "token file", "long job")
        .unwrap();
    for i in 0..100 {
        run.log("loss", i).unwrap();
    }
    run.flush().unwrap();
    assert_eq!(proxy.unauthorized_matching("/"), 0);

    // The platform rotates the token, and the gateway takes only the new one from then on:
    // the next batch is refused, the file read again, the batch sent again.
    proxy.require_bearer(Some("second-token"));
    rotate(&token, "second-token");
    for i in 100..200 {
        run.log("loss", i).unwrap();
    }
    run.flush().unwrap();
    assert!(proxy.unauthorized_matching("runs/log-batch") >= 1);

    // Again, with only a file to ship: an upload streamed from disk cannot be sent twice in
    // one request, so it is refused, then sent again by the retry with the new token.
    proxy.require_bearer(Some("third-token"));
    rotate(&token, "third-token");
    let weights: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let file = dir.path().join("weights.bin");
    std::fs::write(&file, &weights).unwrap();
    run.upload_file("model/weights.bin", &file).unwrap();
    run.flush().unwrap();
    assert_eq!(proxy.unauthorized_matching("model/weights.bin"), 1);
    assert_eq!(proxy.forwarded_matching("model/weights.bin"), 1);

    let id = run.remote_id().unwrap();
    let loss = server.history(&id, "loss");
    assert_eq!(loss.len(), 200, "nothing lost, nothing twice");
    assert_eq!(
        server.artifact(&id, "model/weights.bin").as_deref(),
        Some(weights.as_slice())
    );

    // A token refused although the file was read again: one error that names the file and
    // not the token; the journal keeps the record.
    proxy.require_bearer(Some("fourth-token"));
    run.log("loss", 200).unwrap();
    let e = run.flush().unwrap_err().to_string();
    assert!(
        e.contains(&format!(
            "the token in RUNCTX_TRACKING_TOKEN_FILE ({}) was refused",
            token.display()
        )),
        "{e}"
    );
    assert!(!e.contains("third-token"), "the token is never shown: {e}");
    assert_eq!(server.history(&id, "loss").len(), 200);

    // With a valid token in the file, `sync` uploads what is left.
    rotate(&token, "fourth-token");
    let options = SyncOptions::from_env(&proxy.uri).unwrap();
    let synced = sync(&store, &[run.id().to_string()], &options, |_| {})
        .unwrap()
        .runs;
    assert!(synced[0].error.is_none(), "{synced:?}");
    assert_eq!(server.history(&id, "loss").len(), 201);
}
