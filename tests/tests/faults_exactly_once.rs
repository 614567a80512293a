//! Exactly once on the server, also when an answer is lost: a proxy forwards a request to a
//! real MLflow server, which does the work, then drops the connection, so the client sees no
//! answer and retries.
//!
//! What arrived is read with MLflow's own Python client where it can be.

use run_runtime::{ModelOptions, Store};
use tests::mlflow::{MlflowServer, PyAsk};
use tests::proxy::FaultProxy;

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn a_lost_create_answer_makes_one_run() {
    let server = MlflowServer::shared();
    let proxy = FaultProxy::start(server.port());
    proxy.drop_answer_once("runs/create");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let run = store
        .start_online_run(&proxy.uri, "lost-create", "once")
        .unwrap();
    for i in 0..3000 {
        run.log_step("m", i as f64, i).unwrap();
    }
    run.complete().unwrap();
    assert!(proxy.answer_dropped(), "the proxy dropped the answer");
    assert_eq!(
        proxy.forwarded_matching("runs/create"),
        1,
        "the retry found the run instead of creating another"
    );
    let remote = run.remote_id().unwrap();
    let seen = server.py_view(&PyAsk {
        runs_tagged: Some(("lost-create", "runctx.local_id", run.id())),
        run: Some(&remote),
        metrics: &["m"],
        ..PyAsk::default()
    });
    assert_eq!(
        seen.runs_tagged,
        [remote.as_str()],
        "one server run has the id"
    );
    assert_eq!(
        seen.metric_steps["m"],
        (0..3000).collect::<Vec<_>>(),
        "every point once"
    );
    assert_eq!(server.run(&remote)["info"]["status"], "FINISHED");
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn a_lost_model_version_answer_makes_one_version() {
    let server = MlflowServer::shared();
    let proxy = FaultProxy::start(server.port());
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let run = store
        .start_online_run(&proxy.uri, "lost-version", "train")
        .unwrap();
    let model = dir.path().join("model.json");
    std::fs::write(&model, r#"{"k": 5}"#).unwrap();
    proxy.drop_answer_once("model-versions/create");
    let v = run
        .register_model(
            "lost-version-model",
            &model,
            &ModelOptions::new().tag("k", 5),
        )
        .unwrap();
    assert!(proxy.answer_dropped(), "the proxy dropped the answer");
    assert_eq!(v.version, 1);
    assert_eq!(proxy.forwarded_matching("model-versions/create"), 1);
    let remote = run.remote_id().unwrap();
    let seen = server.py_view(&PyAsk {
        run: Some(&remote),
        model: Some("lost-version-model"),
        ..PyAsk::default()
    });
    let versions = &seen.model_versions;
    assert_eq!(versions.len(), 1, "one version, not two: {versions:?}");
    assert_eq!(versions[0]["run_id"], remote.as_str());
    assert_eq!(versions[0]["tags"]["k"], "5");
    assert!(
        seen.artifacts
            .iter()
            .any(|(p, _)| p == "models/lost-version-model/model.json"),
        "the version's files are on the server: {:?}",
        seen.artifacts
    );
    // A second registration is a second version: the key is per call, not per model.
    let v2 = run
        .register_model("lost-version-model", &model, &ModelOptions::new())
        .unwrap();
    assert_eq!(v2.version, 2);
}
