//! Online runs against a real MLflow server: everything a user logs, read back through the
//! REST API, and `sync` of offline runs.

use std::collections::BTreeMap;

use run_runtime::sync::{SyncOptions, sync};
use run_runtime::{Error, Status, Store};
use serde_json::{Value, json};
use tests::mlflow::MlflowServer;
use tests::{command, last_json};

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

fn tags_of(run: &Value) -> BTreeMap<String, String> {
    run["data"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap().to_owned(),
                t["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn params_of(run: &Value) -> BTreeMap<String, String> {
    run["data"]["params"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| {
                    (
                        t["key"].as_str().unwrap().to_owned(),
                        t["value"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn every_kind_of_record_reaches_the_server() {
    let server = MlflowServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    let run = store
        .start_online_run(&server.uri, "records", "everything")
        .unwrap();
    assert!(!run.is_offline());
    assert_eq!(run.tracking_uri(), Some(server.uri.as_str()));

    run.log_list("loss", [0.5, 0.25, 0.125]).unwrap();
    run.log("auto", 1).unwrap();
    run.log("auto", 2).unwrap();
    run.log_step("special", f64::NAN, 0).unwrap();
    run.log_step("special", f64::INFINITY, 1).unwrap();
    run.log_step("special", f64::NEG_INFINITY, 2).unwrap();
    run.tag("stage", "train").unwrap();
    run.tag("stage", "eval").unwrap();
    run.add_property("lr", 0.01).unwrap();
    // A conflicting property is an error here, and nothing reaches the server.
    let e = run.add_property("lr", 0.5).unwrap_err();
    assert!(matches!(e, Error::PropertyConflict { .. }), "{e}");
    // Values the server would truncate are refused here.
    assert!(matches!(
        run.tag("long", "x".repeat(8001)),
        Err(Error::ValueTooLong { .. })
    ));
    assert!(matches!(
        run.add_property("long", "x".repeat(6001)),
        Err(Error::ValueTooLong { .. })
    ));
    run.log_confusion_matrix("Confusion matrix", &["a", "b"], &[[3, 1], [0, 4]])
        .unwrap();
    run.log_table("table", [("x", vec![1, 2]), ("y", vec![3, 4])])
        .unwrap();
    let png = dir.path().join("plot.png");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    run.log_image("plot", &png).unwrap();
    let folder = dir.path().join("model");
    std::fs::create_dir_all(folder.join("sub")).unwrap();
    std::fs::write(folder.join("weights.bin"), [1u8, 2, 3]).unwrap();
    std::fs::write(folder.join("sub/config.json"), "{}").unwrap();
    run.upload_folder("model", &folder).unwrap();
    run.upload_file("notes with space.txt", folder.join("sub/config.json"))
        .unwrap();
    run.log_params(&json!({"optimizer": {"name": "adam", "betas": [0.9, 0.999]}}))
        .unwrap();
    run.log_dict("config/train.yaml", &json!({"epochs": 3}))
        .unwrap();
    run.log_text("notes/summary.md", "# done\n").unwrap();

    let child = run.child_run("train").unwrap();
    child.log("acc", 0.75).unwrap();
    child.fail("diverged at epoch 3").unwrap();
    let killed = run.child_run("stopped").unwrap();
    killed.cancel().unwrap();
    run.complete().unwrap();

    let id = run.remote_id().expect("flushed runs have their server id");
    let remote = server.run(&id);
    assert_eq!(remote["info"]["status"], "FINISHED");
    assert_eq!(remote["info"]["run_name"], "everything");
    assert!(remote["info"]["start_time"].as_i64().unwrap() > 1_600_000_000_000);
    assert!(
        remote["info"]["end_time"].as_i64().unwrap()
            >= remote["info"]["start_time"].as_i64().unwrap()
    );
    let steps_values = |key: &str| server.history(&id, key);
    assert_eq!(
        steps_values("loss"),
        vec![(0, json!(0.5)), (1, json!(0.25)), (2, json!(0.125))]
    );
    assert_eq!(steps_values("auto"), vec![(0, json!(1.0)), (1, json!(2.0))]);
    let special = steps_values("special");
    assert_eq!(special[0].1, json!("NaN"));
    assert_eq!(special[1].1.as_f64(), Some(f64::MAX));
    assert_eq!(special[2].1.as_f64(), Some(f64::MIN));
    let tags = tags_of(&remote);
    assert_eq!(tags["stage"], "eval");
    assert_eq!(tags["runctx.local_id"], run.id());
    assert!(
        tags.contains_key("mlflow.source.name") && tags.contains_key("mlflow.user"),
        "{tags:?} {}",
        remote["info"]
    );
    assert!(!tags.contains_key("long"));
    let params: BTreeMap<String, String> = [
        ("lr", "0.01"),
        ("optimizer.betas", "[0.9,0.999]"),
        ("optimizer.name", "adam"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(params_of(&remote), params);

    let cm: Value =
        serde_json::from_slice(&server.artifact(&id, "Confusion matrix.json").unwrap()).unwrap();
    assert_eq!(cm["schema_type"], "confusion_matrix");
    assert_eq!(cm["data"]["matrix"], json!([[3, 1], [0, 4]]));
    let table: Value =
        serde_json::from_slice(&server.artifact(&id, "table.json").unwrap()).unwrap();
    assert_eq!(table["data"], json!({"x": [1, 2], "y": [3, 4]}));
    assert_eq!(
        server.artifact(&id, "plot.png").unwrap(),
        b"\x89PNG\r\n\x1a\nnot really"
    );
    assert_eq!(
        server.artifact(&id, "model/weights.bin").unwrap(),
        vec![1, 2, 3]
    );
    assert_eq!(
        server.artifact(&id, "model/sub/config.json").unwrap(),
        b"{}"
    );
    assert_eq!(server.artifact(&id, "notes with space.txt").unwrap(), b"{}");
    let yaml = String::from_utf8(server.artifact(&id, "config/train.yaml").unwrap()).unwrap();
    let yaml: Value = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(yaml, json!({"epochs": 3}));
    assert_eq!(
        server.artifact(&id, "notes/summary.md").unwrap(),
        b"# done\n"
    );

    let child_id = child.remote_id().unwrap();
    let c = server.run(&child_id);
    assert_eq!(c["info"]["status"], "FAILED");
    let ctags = tags_of(&c);
    assert_eq!(ctags["mlflow.parentRunId"], id);
    assert_eq!(ctags["runctx.error"], "diverged at epoch 3");
    assert_eq!(server.history(&child_id, "acc"), vec![(0, json!(0.75))]);
    assert_eq!(
        server.run(&killed.remote_id().unwrap())["info"]["status"],
        "KILLED"
    );
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn online_runs_read_back_from_the_server() {
    let server = MlflowServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let run = store
        .start_online_run(&server.uri, "read-back", "reader")
        .unwrap();
    // More points than one page of get-history (25,000).
    let n = 30_000;
    for i in 0..n {
        run.log("long_series", i).unwrap();
    }
    run.log_step("nan", f64::NAN, 0).unwrap();
    run.log_step("inf", f64::INFINITY, 0).unwrap();
    run.tag("t", "v").unwrap();
    run.add_property("p", "x").unwrap();
    let child = run.child_run("child").unwrap();
    child.log("c", 1).unwrap();

    let metrics = run.get_metrics().unwrap();
    let series = &metrics["long_series"];
    assert_eq!(series.len(), n);
    assert!(
        series
            .iter()
            .enumerate()
            .all(|(i, p)| p.step == i as i64 && p.value == i as f64)
    );
    assert!(metrics["nan"][0].value.is_nan());
    assert_eq!(metrics["inf"][0].value, f64::INFINITY);
    assert_eq!(run.tags().unwrap()["t"], "v");
    assert_eq!(
        run.properties().unwrap(),
        BTreeMap::from([("p".to_string(), "x".to_string())])
    );
    let parent = child.parent().unwrap();
    assert_eq!(parent.id(), run.id());
    assert_eq!(parent.properties().unwrap()["p"], "x");
    assert_eq!(
        child.details().unwrap().meta.parent_id.as_deref(),
        Some(run.id())
    );
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn an_offline_run_syncs_with_everything_and_only_once() {
    let server = MlflowServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let parent = store.start_run("sync-exp", "pipeline").unwrap();
    parent.log_list("loss", [0.5, 0.25, f64::NAN]).unwrap();
    parent.log_step("inf", f64::INFINITY, 3).unwrap();
    parent.tag("stage", "one").unwrap();
    parent.tag("stage", "two").unwrap();
    parent.add_property("lr", 0.01).unwrap();
    parent
        .log_confusion_matrix("cm", &["a", "b"], &[[1, 2], [3, 4]])
        .unwrap();
    let child = parent.child_run("train").unwrap();
    child.log("acc", 0.9).unwrap();
    child.fail("diverged").unwrap();
    parent.complete().unwrap();
    let logged_at = store.read(parent.id()).unwrap().metrics["loss"][0].timestamp;

    let options = SyncOptions::from_env(&server.uri).unwrap();
    let mut reports = 0;
    let first = sync(&store, &[parent.id().to_string()], &options, |_| {
        reports += 1
    })
    .unwrap()
    .runs;
    assert!(reports > 0);
    assert_eq!(first.len(), 2);
    assert!(
        first
            .iter()
            .all(|r| r.error.is_none() && r.refused.is_empty()),
        "{first:?}"
    );
    let remote_parent = first[0].remote_id.clone().unwrap();
    let remote_child = first[1].remote_id.clone().unwrap();

    let run = server.run(&remote_parent);
    assert_eq!(run["info"]["status"], "FINISHED");
    assert_eq!(run["info"]["run_name"], "pipeline");
    let history = server.get(
        "metrics/get-history",
        &[("run_id", &remote_parent), ("metric_key", "loss")],
    );
    assert_eq!(
        history["metrics"][0]["timestamp"].as_i64(),
        Some(logged_at),
        "timestamps are kept"
    );
    let loss = server.history(&remote_parent, "loss");
    assert_eq!(loss.iter().map(|p| p.0).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert_eq!(loss[0].1, json!(0.5));
    assert_eq!(loss[2].1, json!("NaN"));
    assert_eq!(
        server.history(&remote_parent, "inf")[0].1.as_f64(),
        Some(f64::MAX)
    );
    assert_eq!(tags_of(&run)["stage"], "two");
    assert_eq!(params_of(&run)["lr"], "0.01");
    let cm: Value =
        serde_json::from_slice(&server.artifact(&remote_parent, "cm.json").unwrap()).unwrap();
    assert_eq!(cm["data"]["matrix"], json!([[1, 2], [3, 4]]));
    // Its MLflow table copy and the tag that lists it ship from the journal like the rest.
    let copy: Value = serde_json::from_slice(
        &server
            .artifact(&remote_parent, "runctx.tables/cm.json")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(copy["data"], json!([["a", 1, 2], ["b", 3, 4]]));
    assert_eq!(
        tags_of(&run)["mlflow.loggedArtifacts"],
        r#"[{"path": "runctx.tables/cm.json", "type": "table"}]"#
    );

    let crun = server.run(&remote_child);
    assert_eq!(crun["info"]["status"], "FAILED");
    assert_eq!(tags_of(&crun)["mlflow.parentRunId"], remote_parent);

    // Twice: no duplicate run, no duplicate point.
    let second = sync(&store, &[], &options, |_| {}).unwrap().runs;
    assert!(
        second.iter().all(|r| r.records == 0 && r.error.is_none()),
        "{second:?}"
    );
    assert_eq!(
        server
            .runs_with_tag("sync-exp", "runctx.local_id", parent.id())
            .len(),
        1
    );
    assert_eq!(server.history(&remote_parent, "loss").len(), 3);

    // Records logged to the run later ship on the next sync, and only they.
    parent.log_step("loss", 0.1, 3).unwrap();
    parent.flush().unwrap();
    let third = sync(&store, &[parent.id().to_string()], &options, |_| {})
        .unwrap()
        .runs;
    assert_eq!(third[0].records, 1);
    assert_eq!(server.history(&remote_parent, "loss").len(), 4);
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn the_same_program_runs_online_when_the_environment_says_so() {
    let server = MlflowServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let out = command(PROBE, dir.path())
        .args(["context"])
        .env("MLFLOW_TRACKING_URI", &server.uri)
        .env("MLFLOW_EXPERIMENT_NAME", "online-exp")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = last_json(&out.stdout);
    assert_eq!(v["offline"], false);
    let local = v["id"].as_str().unwrap();
    let runs = server.runs_with_tag("online-exp", "runctx.local_id", local);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let remote = runs[0]["info"]["run_id"].as_str().unwrap();
    assert_eq!(
        runs[0]["info"]["status"], "FINISHED",
        "the exit handler ended it and waited"
    );
    assert_eq!(server.history(remote, "probe").len(), 1);
    assert_eq!(
        Store::new(dir.path()).read(local).unwrap().status,
        Status::Finished
    );
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn mlflow_run_id_attaches_to_the_run_an_engine_made() {
    let server = MlflowServer::shared();
    let (status, exp) = server.post("experiments/create", &json!({"name": "engine"}));
    assert_eq!(status, 200, "{exp}");
    let (status, created) = server.post(
        "runs/create",
        &json!({"experiment_id": exp["experiment_id"], "run_name": "job", "start_time": 1}),
    );
    assert_eq!(status, 200, "{created}");
    let run_id = created["run"]["info"]["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let out = command(PROBE, dir.path())
        .args(["context"])
        .env("MLFLOW_TRACKING_URI", &server.uri)
        .env("MLFLOW_RUN_ID", &run_id)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        last_json(&out.stdout)["id"],
        run_id.as_str(),
        "the run id is the server's"
    );
    assert_eq!(server.history(&run_id, "probe"), vec![(0, json!(1.0))]);
    assert_eq!(server.run(&run_id)["info"]["status"], "FINISHED");
}

/// The `runctx` binary, built by `cargo test --workspace --all-features` next to this test.
fn runctx() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let runctx = dir.join("runctx");
    assert!(
        runctx.is_file(),
        "{} is missing: build it with `cargo test --workspace --all-features`",
        runctx.display()
    );
    runctx
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn runctx_sync_uploads_once_and_says_what_it_did() {
    let server = MlflowServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let run = store.start_run("cli-sync", "offline").unwrap();
    run.log_list("loss", [3, 2, 1]).unwrap();
    run.complete().unwrap();
    let sync_cmd = |json: bool| {
        let mut cmd = command(runctx(), dir.path());
        cmd.args(["sync", "--to", &server.uri]);
        if json {
            cmd.arg("--json");
        }
        cmd.output().unwrap()
    };
    let out = sync_cmd(false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("uploaded") && text.contains(&server.uri),
        "{text}"
    );
    let again = sync_cmd(true);
    assert!(again.status.success());
    let v: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(v["runs"][0]["records"], 0, "{v}");
    let remote = v["runs"][0]["remote_id"].as_str().unwrap();
    assert_eq!(server.history(remote, "loss").len(), 3);

    // `show` says where the run went.
    let out = command(runctx(), dir.path())
        .args(["show", run.id(), "--json"])
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["servers"][&server.uri]["run_id"], remote, "{shown}");

    // No server given and none in the environment: a usage error that says what to do.
    let out = command(runctx(), dir.path()).arg("sync").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--to"));
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn logging_and_reading_back_work_inside_a_users_tokio_runtime() {
    let server = MlflowServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let points = runtime.block_on(async {
        let run = store
            .start_online_run(&server.uri, "async-user", "inside tokio")
            .unwrap();
        for i in 0..100 {
            run.log("m", i).unwrap();
            tokio::task::yield_now().await;
        }
        run.flush().unwrap(); // blocks this task only; the library's runtime is its own
        run.get_metrics().unwrap()["m"].len()
    });
    assert_eq!(points, 100);
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn a_record_the_server_refuses_is_reported_and_the_rest_ships() {
    let server = MlflowServer::shared();
    let (_, exp) = server.post("experiments/create", &json!({"name": "refusals"}));
    let (_, created) = server.post(
        "runs/create",
        &json!({"experiment_id": exp["experiment_id"], "run_name": "engine job", "start_time": 1}),
    );
    let run_id = created["run"]["info"]["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The engine already set a param that the program will set differently.
    let (status, _) = server.post(
        "runs/log-parameter",
        &json!({"run_id": run_id, "key": "seed", "value": "1"}),
    );
    assert_eq!(status, 200);
    let dir = tempfile::tempdir().unwrap();
    let out = command(PROBE, dir.path())
        .args(["refused"])
        .env("MLFLOW_TRACKING_URI", &server.uri)
        .env("MLFLOW_RUN_ID", &run_id)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("the server refused property \"seed\"")
            && stderr.contains("Changing param values is not allowed"),
        "{stderr}"
    );
    let v = last_json(&out.stdout);
    assert_eq!(v["refused"].as_array().unwrap().len(), 1, "{v}");
    // Everything else of the batch the refused param was in arrived.
    assert_eq!(server.history(&run_id, "m").len(), 50);
    let run = server.run(&run_id);
    assert_eq!(params_of(&run)["seed"], "1");
    assert_eq!(params_of(&run)["lr"], "0.1");
    assert_eq!(tags_of(&run)["stage"], "done");
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn a_step_online_takes_its_param_defaults_and_refuses_its_data_defaults() {
    const STEPS: &str = env!("CARGO_BIN_EXE_steps");
    let server = MlflowServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let steps = |args: &[&str]| {
        command(STEPS, &dir.path().join("runs"))
            .current_dir(dir.path())
            .args(args)
            .env("STEPS_MAIN", "train")
            .env("MLFLOW_TRACKING_URI", &server.uri)
            .output()
            .unwrap()
    };
    // Online, the defaults of the input and the output (local paths) are refused, and only
    // they: the params' defaults are values of the program.
    let out = steps(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "input \"irisdata\" has no value: give it on the command line (--irisdata <value>) \
             or as a binding, set AZUREML_DATAREFERENCE_irisdata, or, for an offline run, write \
             a default (it has \"data/iris.csv\", but the run is online, where the default of \
             an input does not apply"
        ) && stderr.contains("output \"model_output\" has no value"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("threshold") && !stderr.contains("\"model\""),
        "{stderr}"
    );

    // With its data bound, the step runs online with its params' defaults, recorded on the
    // server run as params.
    let out = steps(&["--irisdata", "iris.csv", "--model_output", "out"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = last_json(&out.stdout);
    assert_eq!(
        (seen["threshold"].as_f64(), seen["model"].as_str()),
        (Some(0.9), Some("knn"))
    );
    let local = seen["run"].as_str().unwrap();
    let runs = server.runs_with_tag("iris", "runctx.local_id", local);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let params = params_of(&runs[0]);
    assert_eq!(
        (params["threshold"].as_str(), params["model"].as_str()),
        ("0.9", "knn")
    );
    assert_eq!(tags_of(&runs[0])["irisdata"], "iris.csv");
    assert_eq!(runs[0]["info"]["status"], "FINISHED");
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn mlflow_experiment_id_selects_the_experiment_and_a_wrong_one_is_one_clear_error() {
    let server = MlflowServer::shared();
    let create = |name: &str| {
        let (status, exp) = server.post("experiments/create", &json!({ "name": name }));
        assert_eq!(status, 200, "{exp}");
        exp["experiment_id"].as_str().unwrap().to_owned()
    };
    let by_id = create("chosen by id");
    let other = create("another experiment");
    let dir = tempfile::tempdir().unwrap();
    let probe = |args: &[&str], env: &[(&str, &str)]| {
        command(PROBE, dir.path())
            .args(args)
            .env("MLFLOW_TRACKING_URI", &server.uri)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };

    // The id alone: the run and its child are created in that experiment.
    let out = probe(&["exit", "drop-child"], &[("MLFLOW_EXPERIMENT_ID", &by_id)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let text = String::from_utf8_lossy(&out.stdout);
    let ids: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let (parent, child) = (
        ids[0]["id"].as_str().unwrap(),
        ids[1]["child"].as_str().unwrap(),
    );
    let runs = server.runs_with_tag("chosen by id", "runctx.local_id", parent);
    assert_eq!(runs.len(), 1, "{runs:?} {stderr}");
    assert_eq!(runs[0]["info"]["experiment_id"], by_id.as_str());
    let children = server.runs_with_tag("chosen by id", "runctx.local_id", child);
    assert_eq!(
        children.len(),
        1,
        "the child goes where its parent is: {stderr}"
    );
    assert_eq!(
        tags_of(&children[0])["mlflow.parentRunId"],
        runs[0]["info"]["run_id"].as_str().unwrap()
    );
    let meta = Store::new(dir.path()).meta(parent).unwrap();
    assert_eq!(
        (meta.experiment.as_str(), meta.experiment_id.as_deref()),
        (by_id.as_str(), Some(by_id.as_str()))
    );

    // With the name too, the name wins, as in MLflow's client: they must agree.
    let out = probe(
        &["context"],
        &[
            ("MLFLOW_EXPERIMENT_ID", &by_id),
            ("MLFLOW_EXPERIMENT_NAME", "chosen by id"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let local = last_json(&out.stdout)["id"].as_str().unwrap().to_owned();
    assert_eq!(
        server
            .runs_with_tag("chosen by id", "runctx.local_id", &local)
            .len(),
        1
    );

    // Each wrong choice is an error naming the variable and its value, and no run is made.
    let cases: [(&[(&str, &str)], String); 3] = [
        (
            &[("MLFLOW_EXPERIMENT_ID", "987654")],
            format!(
                "MLFLOW_EXPERIMENT_ID=\"987654\" names no experiment on {} (the server says: No \
                 Experiment with id=987654 exists)",
                server.uri
            ),
        ),
        (
            &[
                ("MLFLOW_EXPERIMENT_ID", &by_id),
                ("MLFLOW_EXPERIMENT_NAME", "another experiment"),
            ],
            format!(
                "MLFLOW_EXPERIMENT_ID={by_id:?} is not the experiment \
                 MLFLOW_EXPERIMENT_NAME=\"another experiment\" names on {}, whose id is {other:?}",
                server.uri
            ),
        ),
        (
            &[("MLFLOW_EXPERIMENT_ID", "not-a-number")],
            "MLFLOW_EXPERIMENT_ID=\"not-a-number\" names no experiment".to_owned(),
        ),
    ];
    for (env, want) in cases {
        let out = probe(&["context"], env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let local = last_json(&out.stdout)["id"].as_str().unwrap().to_owned();
        assert!(stderr.contains(&want), "{env:?}:\n{stderr}");
        for experiment in ["chosen by id", "another experiment"] {
            assert!(
                server
                    .runs_with_tag(experiment, "runctx.local_id", &local)
                    .is_empty()
            );
        }
    }

    // A deleted experiment cannot take runs.
    let gone = create("deleted before the run");
    let (status, _) = server.post("experiments/delete", &json!({ "experiment_id": gone }));
    assert_eq!(status, 200);
    let out = probe(&["context"], &[("MLFLOW_EXPERIMENT_ID", &gone)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "MLFLOW_EXPERIMENT_ID={gone:?} names the experiment \"deleted before the run\" on {}, \
             which is deleted",
            server.uri
        )),
        "{stderr}"
    );
}

/// What MLflow's Python client makes of the tables of a run: the tag `mlflow.loggedArtifacts`
/// parsed, and each file of `files` as `mlflow.load_table` reads it (columns, and rows as lists).
fn python_tables(server: &MlflowServer, run_id: &str, files: &[&str]) -> Value {
    let script = r#"
mlflow.set_tracking_uri(sys.argv[1])
run = client.get_run(args[0])
mlflow.set_experiment(experiment_id=run.info.experiment_id)
view = {"tag": json.loads(run.data.tags.get("mlflow.loggedArtifacts", "[]")), "tables": {}}
for f in json.loads(args[1]):
    df = mlflow.load_table(f, run_ids=[args[0]])
    view["tables"][f] = {"columns": list(df.columns), "rows": json.loads(df.to_json(orient="values"))}
print(json.dumps(view))
"#;
    server.python(script, &[run_id, &json!(files).to_string()])
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn tables_arrive_as_mlflow_tables_that_the_python_client_loads() {
    let server = MlflowServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let run = store
        .start_online_run(&server.uri, "tables", "every table")
        .unwrap();
    run.log_table(
        "scores",
        [
            ("model", vec![json!("knn"), json!("svm")]),
            ("accuracy", vec![json!(0.9), json!(0.95)]),
        ],
    )
    .unwrap();
    for epoch in 0..50 {
        run.log_row(
            "epochs",
            [
                ("epoch", json!(epoch)),
                ("loss", json!(f64::from(epoch) / 10.0)),
            ],
        )
        .unwrap();
    }
    run.log_confusion_matrix("eval/confusion matrix", &["cat", "dog"], &[[5, 1], [2, 7]])
        .unwrap();
    let residuals = run_runtime::Residuals::from_values(&[-1.0, 0.0, 0.5, 1.0], 2).unwrap();
    run.log_residuals("residuals", &residuals).unwrap();
    run.complete().unwrap();
    let id = run.remote_id().unwrap();

    // Listed in the order they were logged, the row-by-row table when the run ended.
    let files = [
        "runctx.tables/scores.json",
        "runctx.tables/eval/confusion matrix.json",
        "runctx.tables/residuals.json",
        "runctx.tables/epochs.json",
    ];
    let view = python_tables(server, &id, &files);
    let listed: Vec<Value> = files
        .iter()
        .map(|f| json!({"path": f, "type": "table"}))
        .collect();
    assert_eq!(view["tag"], json!(listed), "{view}");
    let tables = &view["tables"];
    assert_eq!(
        tables["runctx.tables/scores.json"],
        json!({"columns": ["model", "accuracy"], "rows": [["knn", 0.9], ["svm", 0.95]]})
    );
    let epochs = &tables["runctx.tables/epochs.json"];
    assert_eq!(epochs["columns"], json!(["epoch", "loss"]));
    let rows = epochs["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 50, "one artifact holds every row: {epochs}");
    assert_eq!(rows[49], json!([49, 4.9]));
    assert_eq!(
        tables["runctx.tables/eval/confusion matrix.json"],
        json!({"columns": ["true label", "cat", "dog"], "rows": [["cat", 5, 1], ["dog", 2, 7]]})
    );
    assert_eq!(
        tables["runctx.tables/residuals.json"]["columns"],
        json!(["bin_start", "bin_end", "bin_count"])
    );
    // The Azure ML documents are there as before.
    let cm: Value =
        serde_json::from_slice(&server.artifact(&id, "eval/confusion matrix.json").unwrap())
            .unwrap();
    assert_eq!(cm["schema_type"], "confusion_matrix");
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn tables_of_a_run_attached_by_id_join_the_tables_it_already_lists() {
    let server = MlflowServer::shared();
    // An engine's run whose Python side logged a table with MLflow's own log_table.
    let made = server.python(
        r#"
exp = client.create_experiment("engine tables")
run = client.create_run(exp)
client.log_table(run.info.run_id, {"a": [1, 2]}, "python.json")
print(json.dumps({"run": run.info.run_id}))
"#,
        &[],
    );
    let run_id = made["run"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let out = command(PROBE, dir.path())
        .args(["tables"])
        .env("MLFLOW_TRACKING_URI", &server.uri)
        .env("MLFLOW_RUN_ID", &run_id)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = [
        "python.json",
        "runctx.tables/from rust.json",
        "runctx.tables/cm.json",
        "runctx.tables/by epoch.json",
    ];
    let view = python_tables(server, &run_id, &files);
    let listed: Vec<Value> = files
        .iter()
        .map(|f| json!({"path": f, "type": "table"}))
        .collect();
    assert_eq!(
        view["tag"],
        json!(listed),
        "the engine's table stays listed: {view}"
    );
    assert_eq!(
        view["tables"]["python.json"],
        json!({"columns": ["a"], "rows": [[1], [2]]})
    );
    assert_eq!(
        view["tables"]["runctx.tables/by epoch.json"],
        json!({"columns": ["epoch", "loss"], "rows": [[0, 1.0], [1, 0.5], [2, 0.3333333333]]})
    );
}

/// `runctx run` online: a Python program using `mlflow` logs into the run runctx made (the
/// environment contract's `MLFLOW_TRACKING_URI` + `MLFLOW_RUN_ID`), and MLflow's own client
/// reads back the program's metric, runctx's system metrics under MLflow's names, the captured
/// output, and the status the exit code decided.
#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn runctx_run_gives_a_python_mlflow_program_the_same_server_run() {
    let server = MlflowServer::shared();
    let dir = tempfile::tempdir().unwrap();
    // The program ends its MLflow run (FINISHED), then exits 4: the exit code decides. MLflow
    // consumes MLFLOW_RUN_ID as it starts the run, so it is read before.
    let program = "import os, sys, mlflow\n\
                   given = os.environ['MLFLOW_RUN_ID']\n\
                   with mlflow.start_run() as run:\n    \
                       mlflow.log_metric('py_loss', 0.5, step=1)\n\
                   print('run', run.info.run_id, given)\n\
                   sys.exit(4)\n";
    let python = tests::venv::server_python();
    let out = command(runctx(), dir.path())
        .env("MLFLOW_TRACKING_URI", &server.uri)
        .envs(server.client_env())
        .args([
            "run",
            "--experiment",
            "runctx-run",
            "--system-metrics-interval",
            "0.2",
        ])
        .arg("--")
        .arg(&python)
        .args(["-c", program])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stdout}\n{stderr}");
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("run "))
        .unwrap_or_else(|| panic!("no run id printed:\n{stdout}\n{stderr}"));
    let (remote, given) = line.split_once(' ').unwrap();
    assert_eq!(
        remote, given,
        "mlflow.start_run() took the run runctx gave it"
    );
    let seen = server.python(
        "run = client.get_run(args[0])\n\
         logs = [f.path for f in client.list_artifacts(args[0], 'logs')]\n\
         stdout = open(mlflow.artifacts.download_artifacts(run_id=args[0], \
             artifact_path='logs/stdout.txt')).read()\n\
         print(json.dumps({'status': run.info.status, 'metrics': sorted(run.data.metrics),\n\
             'exit': run.data.tags.get('runctx.exit_code'), 'logs': logs, 'stdout': stdout,\n\
             'experiment': client.get_experiment(run.info.experiment_id).name}))",
        &[remote],
    );
    assert_eq!(seen["status"], "FAILED", "{seen}");
    assert_eq!(seen["exit"], "4");
    assert_eq!(seen["experiment"], "runctx-run");
    assert!(
        seen["stdout"]
            .as_str()
            .unwrap()
            .contains(&format!("run {remote} {remote}\n")),
        "{seen}"
    );
    assert_eq!(seen["logs"], json!(["logs/stderr.txt", "logs/stdout.txt"]));
    let metrics: Vec<&str> = seen["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    for name in [
        "py_loss",
        "system/cpu_utilization_percentage",
        "system/system_memory_usage_megabytes",
        "system/system_memory_usage_percentage",
        "system/disk_usage_megabytes",
        "system/network_receive_megabytes",
        "system/network_transmit_megabytes",
    ] {
        assert!(metrics.contains(&name), "{name} missing: {metrics:?}");
    }
}

/// Runs made offline to be searched offline and, after `sync`, on the server: metric ties,
/// NaN, the infinities, missing keys, a latest point that is not the last logged.
fn searchable_runs(store: &Store) -> Vec<String> {
    let mut last_start = 0;
    let mut ids = Vec::new();
    let mut start = |name: &str| {
        // Distinct start times: the fallback order is the start time, then the run id, and
        // the ids differ between the store and the server.
        let run = loop {
            let run = store.start_run("search-agreement", name).unwrap();
            let started = store.meta(run.id()).unwrap().start_time;
            if started > last_start {
                last_start = started;
                break run;
            }
            run.complete().unwrap();
            store.delete_run(run.id()).unwrap();
        };
        ids.push(run.id().to_owned());
        run
    };
    let a = start("a");
    a.log_list("loss", [0.5, 0.3]).unwrap();
    a.log("acc", 0.9).unwrap();
    a.add_property("model", "knn").unwrap();
    a.tag("stage", "dev").unwrap();
    a.complete().unwrap();
    let b = start("b");
    b.log("acc", 0.95).unwrap();
    b.add_property("model", "knn").unwrap();
    b.tag("stage", "prod").unwrap();
    b.complete().unwrap();
    let c = start("c");
    c.log_list("acc", [0.4, f64::NAN]).unwrap();
    c.add_property("model", "svm").unwrap();
    c.tag("stage", "prod").unwrap();
    c.fail("diverged").unwrap();
    let d = start("d");
    d.log("acc", 0.95).unwrap();
    d.add_property("model", "KNN").unwrap();
    d.complete().unwrap();
    let e = start("e");
    e.add_property("model", "knn-2").unwrap();
    e.tag("stage", "dev").unwrap();
    e.cancel().unwrap();
    let f = start("f");
    f.log("acc", f64::INFINITY).unwrap();
    f.log_step("loss", 0.1, 5).unwrap();
    f.log_step("loss", 0.9, 2).unwrap();
    f.complete().unwrap();
    let g = start("g");
    g.log("acc", f64::NEG_INFINITY).unwrap();
    g.add_property("model", "knn").unwrap();
    g.complete().unwrap();
    ids
}

/// The names of one page of runs, and the next page's token.
type Page = (Vec<String>, Option<String>);

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn the_same_search_gives_the_same_runs_in_the_same_order_offline_and_on_the_server() {
    use run_runtime::search::ServerRuns;
    let server = MlflowServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let ids = searchable_runs(&store);
    let options = SyncOptions::from_env(&server.uri).unwrap();
    let synced = sync(&store, &ids, &options, |_| {}).unwrap().runs;
    assert!(synced.iter().all(|r| r.error.is_none()), "{synced:?}");
    let c_start = store.meta(&ids[2]).unwrap().start_time.to_string();

    let filters = [
        String::new(),
        "metrics.acc > 0.9".into(),
        "metrics.acc >= 0".into(),
        "metrics.acc = 0".into(),
        "metrics.acc != 0.95".into(),
        "metrics.acc > 1e308".into(),
        "metrics.acc < -1e308".into(),
        "metrics.loss < 0.2".into(),
        "params.model = 'knn'".into(),
        "params.model LIKE 'knn%'".into(),
        "params.model ILIKE 'knn%'".into(),
        "params.model != 'knn'".into(),
        "params.model IS NULL".into(),
        "tags.stage IS NULL".into(),
        "tags.stage IS NOT NULL and metrics.acc > 0.5".into(),
        "attributes.status = 'FINISHED' and params.`model` LIKE 'k_n'".into(),
        "attributes.status != 'FINISHED'".into(),
        "run_name = 'b'".into(),
        "attributes.run_name IN ('a')".into(),
        format!("attributes.start_time > {c_start}"),
        format!("created <= {c_start}"),
    ];
    let orders: [&[&str]; 10] = [
        &[],
        &["metrics.acc DESC"],
        &["metrics.acc"],
        &["metrics.acc DESC", "params.model"],
        &["params.model DESC"],
        &["tags.stage"],
        &["attributes.run_name DESC"],
        &["attributes.status", "metrics.acc DESC"],
        &["attributes.end_time DESC"],
        &["start_time"],
    ];
    let remote = ServerRuns::new(&server.uri).unwrap();
    let name_of: BTreeMap<String, String> = ids
        .iter()
        .map(|id| (id.clone(), store.meta(id).unwrap().name))
        .collect();
    // Each filter in the default order, each order over all runs and over a filter that
    // leaves ties and a NaN in: every rule, without the whole cross product (each search is a
    // server round trip, and CI's time is short).
    let pairs = filters
        .iter()
        .map(|f| (f.clone(), &[][..]))
        .chain(orders.iter().map(|o| (String::new(), *o)))
        .chain(orders.iter().map(|o| ("metrics.acc != 0.9".to_owned(), *o)));
    let mut cases = Vec::new();
    for (filter, order) in pairs {
        {
            let filter = &filter;
            // IN is for run ids only: the filter above is a deliberate error on both sides.
            let offline = store.search(filter, order, 1000, None);
            let online = remote.search(&["search-agreement"], filter, order, 1000, None);
            if filter.contains(" IN ") {
                let (off, on) = (offline.unwrap_err(), online.unwrap_err());
                assert_eq!(off.to_string(), on.to_string());
                continue;
            }
            let offline: Vec<&str> = offline
                .unwrap()
                .runs
                .iter()
                .map(|r| name_of[&r.meta.id].as_str())
                .collect();
            let online: Vec<String> = online.unwrap().runs.into_iter().map(|r| r.name).collect();
            assert_eq!(offline, online, "filter {filter:?}, order_by {order:?}");
            cases.push((filter.clone(), order.to_vec(), online));
        }
    }
    // A filter the server answers with a non-trivial page: paging agrees too.
    let pages = |next: &dyn Fn(Option<&str>) -> Page| {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let (names, next_token) = next(token.as_deref());
            assert!(names.len() <= 2);
            all.extend(names);
            match next_token {
                Some(t) => token = Some(t),
                None => return all,
            }
        }
    };
    let order = ["metrics.acc DESC"];
    let offline = pages(&|t| {
        let page = store.search("", &order, 2, t).unwrap();
        let names = page.runs.iter().map(|r| r.meta.name.clone()).collect();
        (names, page.next_page_token)
    });
    let online = pages(&|t| {
        let page = remote
            .search(&["search-agreement"], "", &order, 2, t)
            .unwrap();
        let names = page.runs.into_iter().map(|r| r.name).collect();
        (names, page.next_page_token)
    });
    assert_eq!(offline, online);
    assert_eq!(offline.len(), 7);

    // MLflow's own client sees the same order.
    let script = "cases = json.loads(args[0])\n\
        exp = client.get_experiment_by_name('search-agreement').experiment_id\n\
        out = []\n\
        for f, o, _ in cases:\n\
        \x20   runs = client.search_runs([exp], filter_string=f, order_by=o, max_results=1000)\n\
        \x20   out.append([r.info.run_name for r in runs])\n\
        print(json.dumps(out))";
    let seen = server.python(script, &[&json!(cases).to_string()]);
    let expected: Vec<&Vec<String>> = cases.iter().map(|c| &c.2).collect();
    assert_eq!(seen, json!(expected));
}
