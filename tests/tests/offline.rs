//! Offline runs: every logging call, read back the ways a user would read it.

use std::collections::BTreeMap;
use std::fs;

use run_runtime::{AccuracyTable, Error, Predictions, Residuals, Status, Store};
use serde_json::json;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    (dir, store)
}

#[test]
fn metrics_are_series_with_steps_timestamps_and_non_finite_values() {
    let (_dir, store) = store();
    let run = store.start_run("exp", "metrics").unwrap();
    assert!(run.id().starts_with("OfflineRun_"), "{}", run.id());
    assert!(run.is_offline());
    for v in [0.5f64, 0.25, 0.125] {
        run.log("loss", v).unwrap();
    }
    run.log("int", 7u8).unwrap();
    run.log("flag", true).unwrap();
    run.log("big", u64::MAX).unwrap();
    run.log("nan", f64::NAN).unwrap();
    run.log("inf", f64::INFINITY).unwrap();
    run.log("ninf", f32::NEG_INFINITY).unwrap();
    run.log_step("acc", 0.9, 10).unwrap();
    run.log_step("acc", 0.95, 20).unwrap();
    run.log("acc", 0.97).unwrap(); // continues after the last explicit step
    run.log_list("curve", [3, 2, 1]).unwrap();

    let m = run.get_metrics().unwrap();
    let values = |k: &str| m[k].iter().map(|p| p.value).collect::<Vec<_>>();
    let steps = |k: &str| m[k].iter().map(|p| p.step).collect::<Vec<_>>();
    assert_eq!(values("loss"), vec![0.5, 0.25, 0.125]);
    assert_eq!(steps("loss"), vec![0, 1, 2]);
    assert_eq!(values("int"), vec![7.0]);
    assert_eq!(values("flag"), vec![1.0]);
    assert_eq!(values("big"), vec![u64::MAX as f64]);
    assert!(values("nan")[0].is_nan());
    assert_eq!(values("inf"), vec![f64::INFINITY]);
    assert_eq!(values("ninf"), vec![f64::NEG_INFINITY]);
    assert_eq!(steps("acc"), vec![10, 20, 21]);
    assert_eq!(values("curve"), vec![3.0, 2.0, 1.0]);
    assert_eq!(steps("curve"), vec![0, 1, 2]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let now = now.as_millis() as i64;
    assert!(
        m.values()
            .flatten()
            .all(|p| (now - p.timestamp).abs() < 60_000)
    );
}

#[test]
fn tags_change_and_properties_do_not() {
    let (_dir, store) = store();
    let run = store.start_run("exp", "tags").unwrap();
    run.tag("stage", "train").unwrap();
    run.tag("stage", "eval").unwrap();
    run.set_tags([("a", 1), ("b", 2)]).unwrap();
    run.add_property("lr", 0.01).unwrap();
    run.add_property("lr", 0.01).unwrap(); // the same value again is fine
    run.add_properties([("layers", "3"), ("optimizer", "sgd")])
        .unwrap();
    let err = run.add_property("lr", 0.02).unwrap_err();
    assert!(matches!(err, Error::PropertyConflict { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "property \"lr\" is already \"0.01\"; properties cannot change, so \"0.02\" was not \
         recorded (log the same value again, or use a tag for a value that changes)"
    );
    let tags = run.tags().unwrap();
    assert_eq!(tags["stage"], "eval");
    assert_eq!((tags["a"].as_str(), tags["b"].as_str()), ("1", "2"));
    let props = run.properties().unwrap();
    let want: BTreeMap<String, String> = [("layers", "3"), ("lr", "0.01"), ("optimizer", "sgd")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(props, want);
}

#[test]
fn a_rejected_record_is_refused_alone_and_changes_nothing_else() {
    let (_dir, store) = store();
    let run = store.start_run("exp", "rejects").unwrap();
    run.log("ok", 1).unwrap();
    let cases: Vec<(Result<(), Error>, &str)> = vec![
        (
            run.log("bad key!", 1),
            "invalid metric name \"bad key!\": character '!' at position 7",
        ),
        (
            run.log("", 1),
            "invalid metric name \"\": a name must have 1 to 250 characters",
        ),
        (run.log("../up", 1), "the path component '..'"),
        (run.log_step("s", 1, i64::MIN), "step i64::MIN is reserved"),
        (
            run.tag("t", "v".repeat(8001)),
            "tag \"t\" has a value of 8001 characters",
        ),
        (
            run.add_property("p", "v".repeat(6001)),
            "property \"p\" has a value of 6001 characters",
        ),
        (
            run.tag("/abs", "v"),
            "invalid tag name \"/abs\": it starts with '/'",
        ),
        (
            run.log_list("x//y", [1]),
            "invalid metric name \"x//y\": it contains '//'",
        ),
    ];
    for (result, want) in cases {
        let err = result.unwrap_err().to_string();
        assert!(err.contains(want), "got: {err}\nwant: {want}");
    }
    // Some valid, some not: the valid ones are recorded, the first error returned.
    let err = run
        .set_tags([("good", "1"), ("bad\n", "2"), ("also_good", "3")])
        .unwrap_err();
    assert!(err.to_string().contains("\"bad\\n\""), "{err}");
    run.log("ok", 2).unwrap();

    let data = run.details().unwrap();
    assert_eq!(data.metrics.len(), 1, "{:?}", data.metrics.keys());
    assert_eq!(data.metrics["ok"].len(), 2);
    assert_eq!(
        data.tags.keys().collect::<Vec<_>>(),
        vec!["also_good", "good"]
    );
    assert!(data.properties.is_empty());
    assert!(data.damage.is_empty());
}

#[test]
fn json_metrics_have_azure_ml_shapes_and_check_their_input() {
    let (_dir, store) = store();
    let run = store.start_run("exp", "tables").unwrap();
    run.log_table("Y over X", [("x", vec![1, 2, 3]), ("y", vec![6, 7, 8])])
        .unwrap();
    run.log_row("citrus", [("fruit", json!("orange")), ("size", json!(10))])
        .unwrap();
    run.log_row("citrus", [("size", json!(3)), ("fruit", json!("lime"))])
        .unwrap();
    run.log_confusion_matrix("cm", &["a", "b"], &[[5, 1], [2, 7]])
        .unwrap();
    let acc =
        AccuracyTable::from_scores(&["n", "y"], &[0, 1], &[vec![0.9, 0.1], vec![0.2, 0.8]], 3)
            .unwrap();
    run.log_accuracy_table("acc", &acc).unwrap();
    run.log_residuals(
        "res",
        &Residuals::from_values(&[-1.0, 0.0, 1.0], 2).unwrap(),
    )
    .unwrap();
    let preds = Predictions::from_values(&[1.0, 2.0], &[1.1, 1.9], 2).unwrap();
    run.log_predictions("pred", &preds).unwrap();

    let table = run.get_table("Y over X").unwrap();
    assert_eq!(
        table,
        json!({"schema_type": "table", "schema_version": "1.0.0",
                             "data": {"x": [1, 2, 3], "y": [6, 7, 8]}})
    );
    assert_eq!(
        run.get_table("citrus").unwrap()["data"],
        json!({"fruit": ["orange", "lime"], "size": [10, 3]})
    );
    assert_eq!(
        run.get_table("cm").unwrap(),
        json!({"schema_type": "confusion_matrix", "schema_version": "1.0.0",
                      "data": {"class_labels": ["a", "b"], "matrix": [[5, 1], [2, 7]]}})
    );
    let acc = run.get_table("acc").unwrap();
    assert_eq!(acc["schema_type"], "accuracy_table");
    for field in [
        "probability_tables",
        "percentile_tables",
        "probability_thresholds",
        "percentile_thresholds",
        "class_labels",
    ] {
        assert!(
            acc["data"].get(field).is_some(),
            "accuracy table lacks {field}"
        );
    }
    assert_eq!(
        run.get_table("res").unwrap()["data"],
        json!({"bin_edges": [-1.0, 0.0, 1.0], "bin_counts": [1, 2]})
    );
    let pred = run.get_table("pred").unwrap();
    for field in ["bin_averages", "bin_errors", "bin_counts", "bin_edges"] {
        assert!(
            pred["data"].get(field).is_some(),
            "predictions lack {field}"
        );
    }
    // The files are in the run folder and listed as artifacts.
    let data = run.details().unwrap();
    for name in [
        "Y over X.json",
        "citrus.json",
        "cm.json",
        "acc.json",
        "res.json",
        "pred.json",
    ] {
        assert!(run.artifacts_dir().join(name).is_file(), "{name}");
        assert!(data.artifacts.contains_key(name), "{name} is not listed");
    }

    // Bad shapes are refused and leave the earlier documents as they were.
    let e = run
        .log_confusion_matrix("cm", &["a", "b"], &[vec![1, 2], vec![3]])
        .unwrap_err();
    assert!(e.to_string().contains("must be square"), "{e}");
    let e = run
        .log_confusion_matrix("cm", &["a", "b", "c"], &[[1, 2], [3, 4]])
        .unwrap_err();
    assert!(
        e.to_string().contains("3 class labels for a 2x2 matrix"),
        "{e}"
    );
    let e = run
        .log_table("t", [("a", vec![1, 2]), ("b", vec![1])])
        .unwrap_err();
    assert!(e.to_string().contains("equal lengths"), "{e}");
    let e = run
        .log_row("citrus", [("fruit", json!("kiwi"))])
        .unwrap_err();
    assert!(e.to_string().contains("columns of the first one"), "{e}");
    assert_eq!(
        run.get_table("cm").unwrap()["data"]["matrix"],
        json!([[5, 1], [2, 7]])
    );
    assert_eq!(
        run.get_table("citrus").unwrap()["data"]["fruit"],
        json!(["orange", "lime"])
    );
    assert!(run.get_table("t").is_none());
}

/// The artifact `runctx.tables/<name>.json` of a run: MLflow's `log_table` shape.
fn mlflow_table(run: &run_runtime::Run, name: &str) -> serde_json::Value {
    let path = run
        .artifacts_dir()
        .join(format!("runctx.tables/{name}.json"));
    serde_json::from_slice(&fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"))).unwrap()
}

#[test]
fn every_table_has_an_mlflow_copy_listed_in_mlflow_logged_artifacts() {
    let (_dir, store) = store();
    let run = store.start_run("exp", "tables").unwrap();
    run.log_table("Y over X", [("y", vec![6, 7]), ("x", vec![1, 2])])
        .unwrap();
    run.log_confusion_matrix("metrics/cm", &["a", "b"], &[[5, 1], [2, 7]])
        .unwrap();
    let acc =
        AccuracyTable::from_scores(&["n", "y"], &[0, 1], &[vec![0.9, 0.1], vec![0.2, 0.8]], 2)
            .unwrap();
    run.log_accuracy_table("acc", &acc).unwrap();
    run.log_residuals(
        "res",
        &Residuals::from_values(&[-1.0, 0.0, 1.0], 2).unwrap(),
    )
    .unwrap();
    let preds = Predictions::from_values(&[1.0, 2.0], &[1.1, 1.9], 2).unwrap();
    run.log_predictions("pred", &preds).unwrap();
    for (fruit, size) in [("orange", 10), ("lime", 3), ("yuzu", 5)] {
        run.log_row("citrus", [("fruit", json!(fruit)), ("size", json!(size))])
            .unwrap();
    }

    // Columns in the order given, a row per row, as pandas' to_json(orient="split").
    assert_eq!(
        mlflow_table(&run, "Y over X"),
        json!({"columns": ["y", "x"], "data": [[6, 1], [7, 2]]})
    );
    assert_eq!(
        mlflow_table(&run, "metrics/cm"),
        json!({"columns": ["true label", "a", "b"], "data": [["a", 5, 1], ["b", 2, 7]]})
    );
    assert_eq!(
        mlflow_table(&run, "acc")["columns"],
        json!([
            "class",
            "threshold_type",
            "threshold",
            "tp",
            "fp",
            "tn",
            "fn"
        ])
    );
    assert_eq!(
        mlflow_table(&run, "acc")["data"].as_array().unwrap().len(),
        8
    );
    assert_eq!(
        mlflow_table(&run, "res"),
        json!({"columns": ["bin_start", "bin_end", "bin_count"],
               "data": [[-1, 0, 1], [0, 1, 2]]})
    );
    assert_eq!(
        mlflow_table(&run, "pred")["columns"],
        json!([
            "bin_start",
            "bin_end",
            "bin_count",
            "bin_average",
            "bin_error"
        ])
    );
    // A row-by-row table's copy is written when the run is flushed or ends, not at each row
    // (which would cost O(n²)): after the flush it holds every row.
    assert!(
        !run.artifacts_dir()
            .join("runctx.tables/citrus.json")
            .exists()
    );
    run.flush().unwrap();
    assert_eq!(
        mlflow_table(&run, "citrus"),
        json!({"columns": ["fruit", "size"],
               "data": [["orange", 10], ["lime", 3], ["yuzu", 5]]})
    );
    run.log_row("citrus", [("fruit", json!("kumquat")), ("size", json!(2))])
        .unwrap();
    run.complete().unwrap();

    // In the store: the copies as files, and the tag listing each once, in the order logged.
    let data = store.read(run.id()).unwrap();
    let listed = ["Y over X", "metrics/cm", "acc", "res", "pred", "citrus"]
        .map(|n| format!(r#"{{"path": "runctx.tables/{n}.json", "type": "table"}}"#));
    assert_eq!(
        data.tags["mlflow.loggedArtifacts"],
        format!("[{}]", listed.join(", "))
    );
    let copy = &data.artifacts["runctx.tables/citrus.json"];
    assert_eq!(copy.kind, run_runtime::ArtifactKind::File);
    assert_eq!(
        mlflow_table(&run, "citrus")["data"]
            .as_array()
            .unwrap()
            .len(),
        4,
        "the end of the run wrote the last row"
    );

    // The folder of the copies is not for the program's own files.
    let e = run
        .log_table("runctx.tables/x", [("a", vec![1])])
        .unwrap_err();
    assert!(e.to_string().contains("choose a name outside it"), "{e}");
    let file = run.artifacts_dir().join("Y over X.json");
    let e = run.upload_file("Runctx.Tables/y.json", &file).unwrap_err();
    assert!(matches!(e, Error::InvalidArtifact { .. }), "{e}");
}

#[test]
fn a_row_by_row_table_is_whole_in_its_copy_when_a_step_process_logs_rows_too() {
    // A step process appends rows to its parent's table through a handle of its own, opened
    // from the store, which does not end the run: when it goes, the copy holds every row, and
    // the tag keeps what the parent's process listed.
    let (_dir, store) = store();
    let run = store.start_run("exp", "parent").unwrap();
    run.log_row("rows", [("i", 0)]).unwrap();
    run.log_table("other", [("a", vec![1])]).unwrap();
    let step = run.child_run("step").unwrap();
    run.flush().unwrap();
    step.flush().unwrap();
    let out = tests::command(env!("CARGO_BIN_EXE_probe"), store.root())
        .args(["parent-rows", "2"])
        .env("RUNCTX_RUN_ID", step.id())
        .env("RUNCTX_PARENT_RUN_ID", run.id())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mlflow_table(&run, "rows")["data"], json!([[0], [1], [2]]));
    let data = store.read(run.id()).unwrap();
    assert_eq!(
        data.status,
        Status::Running,
        "the step process does not end it"
    );
    assert_eq!(
        data.tags["mlflow.loggedArtifacts"],
        r#"[{"path": "runctx.tables/other.json", "type": "table"}, {"path": "runctx.tables/rows.json", "type": "table"}]"#
    );
}

#[test]
fn files_images_and_folders_are_copied_into_the_run() {
    let (dir, store) = store();
    let run = store.start_run("exp", "files").unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("nested")).unwrap();
    fs::write(src.join("weights.bin"), b"\x00\x01\x02").unwrap();
    fs::write(src.join("nested/config.json"), b"{}").unwrap();
    let png = dir.path().join("plot.PNG");
    fs::write(&png, b"\x89PNG\r\n\x1a\n...").unwrap();

    run.upload_file("outputs/weights.bin", src.join("weights.bin"))
        .unwrap();
    run.upload_folder("model", &src).unwrap();
    run.log_image("loss curve", &png).unwrap();

    let root = run.artifacts_dir();
    assert_eq!(
        fs::read(root.join("outputs/weights.bin")).unwrap(),
        b"\x00\x01\x02"
    );
    assert_eq!(
        fs::read(root.join("model/nested/config.json")).unwrap(),
        b"{}"
    );
    assert!(root.join("model/weights.bin").is_file());
    assert!(root.join("loss curve.png").is_file());
    let listed: Vec<String> = run.details().unwrap().artifacts.into_keys().collect();
    assert_eq!(
        listed,
        [
            "loss curve.png",
            "model/nested/config.json",
            "model/weights.bin",
            "outputs/weights.bin"
        ]
    );

    let e = run
        .log_image("x", src.join("weights.bin"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not an image file name"), "{e}");
    let e = run
        .upload_file("x", dir.path().join("missing"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot read"), "{e}");
}

#[test]
fn artifact_names_cannot_escape_the_run_folder() {
    let (dir, store) = store();
    let run = store.start_run("exp", "escape").unwrap();
    let file = dir.path().join("f.txt");
    fs::write(&file, "x").unwrap();
    for name in [
        "../escaped.txt",
        "/tmp/abs.txt",
        "a/../../b.txt",
        "a//b",
        ".",
    ] {
        let e = run.upload_file(name, &file).unwrap_err();
        assert!(
            matches!(e, Error::InvalidArtifact { .. } | Error::InvalidName { .. }),
            "{name}: {e}"
        );
    }
    let e = run.log_table("../t", [("a", vec![1])]).unwrap_err();
    assert!(matches!(e, Error::InvalidName { .. }), "{e}");
    assert!(!dir.path().join("escaped.txt").exists());
    assert!(!store.root().join("escaped.txt").exists());

    #[cfg(unix)]
    {
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, run.artifacts_dir().join("link")).unwrap();
        let e = run
            .upload_file("link/x.txt", &file)
            .unwrap_err()
            .to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert!(fs::read_dir(&outside).unwrap().next().is_none());
    }
    assert!(run.details().unwrap().artifacts.is_empty());
}

#[test]
fn children_know_their_parent_and_end_with_a_status() {
    let (_dir, store) = store();
    let parent = store.start_run("exp", "pipeline").unwrap();
    parent.add_property("accuracy", 0.9).unwrap();
    let child = parent.child_run("train").unwrap();
    assert_eq!(child.parent_id(), Some(parent.id()));
    assert_eq!(child.experiment(), "exp");
    let p = child.parent().unwrap();
    assert_eq!(p.id(), parent.id());
    assert_eq!(p.properties().unwrap()["accuracy"], "0.9");
    assert!(parent.parent().is_none());

    let failed = parent.child_run("broken").unwrap();
    failed.fail("out of memory").unwrap();
    child.complete().unwrap();
    child.complete().unwrap(); // the same end again is fine
    let e = child.fail("late").unwrap_err();
    assert!(
        matches!(
            e,
            Error::AlreadyFinished {
                status: Status::Finished,
                ..
            }
        ),
        "{e}"
    );
    let cancelled = parent.child_run("stopped").unwrap();
    cancelled.cancel().unwrap();

    let mut children = store.children(parent.id()).unwrap();
    children.sort();
    let mut want = vec![
        child.id().to_string(),
        failed.id().to_string(),
        cancelled.id().to_string(),
    ];
    want.sort();
    assert_eq!(children, want);
    let f = store.read(failed.id()).unwrap();
    assert_eq!(
        (f.status, f.error.as_deref()),
        (Status::Failed, Some("out of memory"))
    );
    assert!(f.end_time.unwrap() >= f.meta.start_time);
    assert_eq!(store.read(child.id()).unwrap().status, Status::Finished);
    assert_eq!(store.read(cancelled.id()).unwrap().status, Status::Killed);
    assert_eq!(store.read(parent.id()).unwrap().status, Status::Running);
    let summaries = store.runs().unwrap();
    assert_eq!(summaries.len(), 4);
    let listed = summaries.iter().find(|s| s.meta.id == failed.id()).unwrap();
    assert_eq!(listed.status(), Status::Failed);
}

#[test]
fn a_dropped_run_is_completed_and_a_panic_fails_it_with_the_message() {
    let (_dir, store) = store();
    let id = {
        let run = store.start_run("exp", "dropped").unwrap();
        run.log("x", 1).unwrap();
        run.id().to_string()
    };
    assert_eq!(store.read(&id).unwrap().status, Status::Finished);

    let s = store.clone();
    let id = std::thread::spawn(move || {
        let run = s.start_run("exp", "panicking").unwrap();
        let id = run.id().to_string();
        let result = std::panic::catch_unwind(move || {
            let _owned = run;
            panic!("loss is NaN");
        });
        assert!(result.is_err());
        id
    })
    .join()
    .unwrap();
    let data = store.read(&id).unwrap();
    assert_eq!(data.status, Status::Failed);
    let error = data.error.unwrap();
    assert!(error.contains("loss is NaN"), "{error}");
}

#[test]
fn a_run_can_be_attached_and_read_by_id_prefix() {
    let (_dir, store) = store();
    let run = store.start_run("exp", "attach").unwrap();
    run.log("m", 1).unwrap();
    run.add_property("p", "x").unwrap();
    run.flush().unwrap();
    let id = run.id().to_string();
    let prefix = &id[..20];
    assert_eq!(store.resolve(prefix).unwrap(), id);
    let e = store.read("OfflineRun_nope").unwrap_err();
    assert!(matches!(e, Error::RunNotFound { .. }), "{e}");
    let attached = store.attach(&id).unwrap();
    assert_eq!(attached.id(), id); // the live run of this process
    drop(run);
    drop(attached);
    let reopened = store.attach(&id).unwrap();
    let e = reopened.add_property("p", "y").unwrap_err();
    assert!(matches!(e, Error::PropertyConflict { .. }), "{e}");
}

#[derive(serde::Serialize)]
struct Optimizer {
    name: &'static str,
    lr: f64,
    betas: [f64; 2],
}

#[derive(serde::Serialize)]
struct TrainConfig {
    epochs: u32,
    optimizer: Optimizer,
    layers: BTreeMap<&'static str, u32>,
    seed: Option<u64>,
}

fn train_config(lr: f64) -> TrainConfig {
    TrainConfig {
        epochs: 10,
        optimizer: Optimizer {
            name: "adam",
            lr,
            betas: [0.9, 0.999],
        },
        layers: [("hidden", 64), ("out", 3)].into(),
        seed: None,
    }
}

#[test]
fn a_config_object_is_recorded_as_dotted_properties_all_or_nothing() {
    let (_dir, store) = store();
    let run = store.start_run("exp", "params").unwrap();
    run.add_property("epochs", 10).unwrap();
    run.log_params(&train_config(0.001)).unwrap();
    run.log_params(&train_config(0.001)).unwrap(); // the same values again are fine
    run.flush().unwrap();

    let read = store.read(run.id()).unwrap().properties;
    let want: BTreeMap<String, String> = [
        ("epochs", "10"),
        ("layers.hidden", "64"),
        ("layers.out", "3"),
        ("optimizer.betas", "[0.9,0.999]"),
        ("optimizer.lr", "0.001"),
        ("optimizer.name", "adam"),
        ("seed", "null"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(read, want);

    // A changed value is the property conflict, naming the key and both values.
    let err = run.log_params(&train_config(0.01)).unwrap_err();
    assert!(matches!(err, Error::PropertyConflict { .. }), "{err}");
    assert!(
        err.to_string().starts_with(
            "property \"optimizer.lr\" is already \"0.001\"; properties cannot change, so \"0.01\""
        ),
        "{err}"
    );

    // One bad key, or one conflicting value, refuses the whole call: its good keys are not
    // recorded either.
    let bad_key = json!({"batch_size": 32, "weights": {"bad key!": 1}});
    let err = run.log_params(&bad_key).unwrap_err().to_string();
    assert!(
        err.starts_with("invalid property name \"weights.bad key!\": character '!'"),
        "{err}"
    );
    let conflict = json!({"batch_size": 32, "epochs": 11});
    let err = run.log_params(&conflict).unwrap_err().to_string();
    assert!(
        err.starts_with("property \"epochs\" is already \"10\""),
        "{err}"
    );
    // Two fields that flatten to one key with two values conflict within the call.
    let twice = json!({"batch_size": 32, "a.b": 1, "a": {"b": 2}});
    let err = run.log_params(&twice).unwrap_err().to_string();
    assert!(
        err.starts_with("property \"a.b\" is already \"2\"; properties cannot change, so \"1\""),
        "{err}"
    );
    let err = run.log_params(&vec![1, 2]).unwrap_err().to_string();
    assert!(err.contains("not a struct or map"), "{err}");

    run.flush().unwrap();
    assert_eq!(store.read(run.id()).unwrap().properties, want);
    assert_eq!(run.properties().unwrap(), want);
}

#[test]
fn dicts_and_text_are_artifacts_read_back_as_written() {
    let (_dir, store) = store();
    let run = store.start_run("exp", "dicts").unwrap();
    let config = train_config(0.001);
    run.log_dict("config.json", &config).unwrap();
    run.log_dict("config/train.yaml", &config).unwrap();
    run.log_dict("labels.YML", &["setosa", "versicolor"])
        .unwrap();
    run.log_text("notes/summary.md", "# Iris\naccuracy 0.97\n")
        .unwrap();
    run.flush().unwrap();

    let data = store.read(run.id()).unwrap();
    assert_eq!(
        data.artifacts.keys().collect::<Vec<_>>(),
        [
            "config.json",
            "config/train.yaml",
            "labels.YML",
            "notes/summary.md"
        ]
    );
    let file =
        |name: &str| fs::read_to_string(store.artifact_file(run.id(), name).unwrap()).unwrap();
    let want = json!({
        "epochs": 10,
        "optimizer": {"name": "adam", "lr": 0.001, "betas": [0.9, 0.999]},
        "layers": {"hidden": 64, "out": 3},
        "seed": null,
    });
    let from_json: serde_json::Value = serde_json::from_str(&file("config.json")).unwrap();
    assert_eq!(from_json, want);
    let from_yaml: serde_json::Value = serde_saphyr::from_str(&file("config/train.yaml")).unwrap();
    assert_eq!(from_yaml, want);
    let labels: Vec<String> = serde_saphyr::from_str(&file("labels.YML")).unwrap();
    assert_eq!(labels, ["setosa", "versicolor"]);
    assert_eq!(file("notes/summary.md"), "# Iris\naccuracy 0.97\n");

    for (name, want) in [
        (
            "config.toml",
            "artifact \"config.toml\": log_dict writes JSON or YAML, chosen by the extension; \
             end the name with .json, .yaml or .yml",
        ),
        ("config", "end the name with .json, .yaml or .yml"),
        ("../config.json", "the path component '..'"),
    ] {
        let err = run.log_dict(name, &config).unwrap_err().to_string();
        assert!(err.contains(want), "{name}: {err}");
    }
    let err = run.log_text("/etc/motd", "x").unwrap_err().to_string();
    assert!(err.contains("an absolute path"), "{err}");
    run.flush().unwrap();
    assert_eq!(store.read(run.id()).unwrap().artifacts.len(), 4);
}
