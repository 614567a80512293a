//! The Iris example end to end, as `cargo run --example iris` runs it (the `iris` program is
//! the example's source built in this package): offline, with each step in its own process,
//! and against a real MLflow server. A parent run and three children, their metrics,
//! properties, tags and statuses, and the registered model version when the accuracy reaches
//! the threshold (and none when it does not).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use run_runtime::Registry;
use run_runtime::{RunData, Status, Store};
use serde_json::{Value, json};
use tests::command;
use tests::mlflow::MlflowServer;

const IRIS: &str = env!("CARGO_BIN_EXE_iris");
const MODELS: [&str; 3] = ["logistic_regression", "decision_tree", "knn"];
const LABELS: [&str; 3] = ["setosa", "versicolor", "virginica"];

/// The workspace: `cargo run --example iris` runs there, where the default data path points.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn iris(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = command(IRIS, home)
        .current_dir(workspace())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "iris {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The only pipeline run of the store, and its children by name.
fn family(store: &Store) -> (RunData, BTreeMap<String, RunData>) {
    let runs = store.runs().unwrap();
    let parents: Vec<_> = runs.iter().filter(|r| r.meta.parent_id.is_none()).collect();
    assert_eq!(parents.len(), 1, "{parents:?}");
    let parent = store.read(&parents[0].meta.id).unwrap();
    let children = store
        .children(&parent.meta.id)
        .unwrap()
        .iter()
        .map(|id| {
            let data = store.read(id).unwrap();
            (data.meta.name.clone(), data)
        })
        .collect();
    (parent, children)
}

/// The runs of one offline pipeline run: names, statuses, metrics, confusion matrices, the
/// best model on the pipeline's run. Returns the best accuracy.
fn check_runs(store: &Store, parent: &RunData, children: &BTreeMap<String, RunData>) -> f64 {
    assert_eq!(
        (parent.meta.name.as_str(), parent.meta.experiment.as_str()),
        ("iris", "iris")
    );
    assert_eq!(parent.status, Status::Finished);
    assert_eq!(
        children.keys().collect::<Vec<_>>(),
        ["prep", "register", "train"]
    );
    for child in children.values() {
        assert_eq!(child.status, Status::Finished, "{}", child.meta.name);
        assert_eq!(child.meta.experiment, "iris");
    }
    let prep = &children["prep"];
    assert_eq!(prep.metrics["rows"][0].value, 150.0);
    assert_eq!(prep.metrics["rows_invalid"][0].value, 0.0);
    assert_eq!(prep.metrics["rows_duplicate"][0].value, 1.0);
    let test_rows = prep.metrics["test_rows"][0].value;
    assert_eq!(prep.metrics["train_rows"][0].value + test_rows, 149.0);
    assert_eq!(prep.properties["test_fraction"], "0.3");

    let train = &children["train"];
    let mut accuracies = Vec::new();
    for model in MODELS {
        let accuracy = train.metrics[&format!("accuracy_{model}")][0].value;
        assert!((0.8..=1.0).contains(&accuracy), "{model}: {accuracy}");
        accuracies.push(accuracy);
        let file = store
            .artifact_file(&train.meta.id, &format!("Confusion matrix {model}.json"))
            .unwrap();
        let matrix: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        assert_eq!(matrix["schema_type"], "confusion_matrix");
        assert_eq!(matrix["data"]["class_labels"], json!(LABELS));
        let cells: Vec<u64> = matrix["data"]["matrix"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().iter().map(|n| n.as_u64().unwrap()))
            .collect();
        // Every test row is counted once; the diagonal is what the accuracy says.
        assert_eq!(cells.iter().sum::<u64>() as f64, test_rows);
        let diagonal = (cells[0] + cells[4] + cells[8]) as f64;
        assert!((diagonal / test_rows - accuracy).abs() < 1e-12, "{model}");
    }
    let best = accuracies.iter().copied().fold(f64::MIN, f64::max);
    let best_model = MODELS[accuracies.iter().position(|a| *a == best).unwrap()];
    let accuracy = format!("{best:.4}");
    assert_eq!(parent.properties["best_model"], best_model);
    assert_eq!(parent.properties["accuracy"], accuracy);
    assert_eq!(parent.tags["best_model"], best_model);
    assert_eq!(parent.tags["accuracy"], accuracy);
    assert_eq!(parent.tags["runctx.pipeline"], "iris");
    assert_eq!(
        children["register"].properties["threshold"],
        parent_threshold(parent)
    );
    best
}

/// The threshold the pipeline ran with: given on its command line, else the step's default.
fn parent_threshold(parent: &RunData) -> String {
    parent
        .properties
        .get("threshold")
        .cloned()
        .unwrap_or_else(|| "0.9".into())
}

/// The registry of an offline run that passed the threshold.
fn check_registered(store: &Store, parent: &RunData, children: &BTreeMap<String, RunData>) {
    assert_eq!(parent.tags["registered"], "true");
    assert!(
        parent.tags["registration"].starts_with("registered iris-classifier version 1:"),
        "{}",
        parent.tags["registration"]
    );
    let versions = Registry::local(store).versions("iris-classifier").unwrap();
    assert_eq!(versions.len(), 1);
    let v = &versions[0];
    let register = &children["register"];
    assert_eq!(v.version, 1);
    assert_eq!(v.run_id.as_deref(), Some(register.meta.id.as_str()));
    assert_eq!(
        v.source,
        format!("runs:/{}/models/iris-classifier", register.meta.id)
    );
    assert_eq!(v.tags["algorithm"], parent.properties["best_model"]);
    assert_eq!(v.tags["accuracy"], parent.properties["accuracy"]);
    assert_eq!(v.file_list().unwrap(), ["info.json", "model.json"]);
    let info: Value = serde_json::from_slice(
        &std::fs::read(v.files.as_ref().unwrap().join("info.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(info["algorithm"], parent.properties["best_model"].as_str());
    // The register run has the files as artifacts too.
    assert!(
        register
            .artifacts
            .contains_key("models/iris-classifier/model.json")
    );
}

#[test]
fn the_iris_pipeline_runs_offline_and_registers_the_best_model() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("runs");
    let out = iris(&home, &[], &[]);
    let store = Store::new(&home);
    let (parent, children) = family(&store);
    check_runs(&store, &parent, &children);
    check_registered(&store, &parent, &children);
    // It ends by saying where the runs are and how to look at them.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "The runs are in the local store {}: the pipeline's run {} (experiment \"iris\")",
            home.display(),
            parent.meta.id
        )),
        "{stdout}"
    );
    assert!(stdout.contains("  runctx list\n"), "{stdout}");
    assert!(
        stdout
            .trim_end()
            .ends_with(&format!("runctx report {} -o iris.html", parent.meta.id)),
        "{stdout}"
    );
}

#[test]
fn a_threshold_above_the_accuracy_registers_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("runs");
    let out = iris(&home, &["--threshold", "1"], &[]);
    let store = Store::new(&home);
    let (parent, children) = family(&store);
    let best = check_runs(&store, &parent, &children);
    assert!(
        best < 1.0,
        "the seeded split scores {best}: the test needs less than 1"
    );
    assert_eq!(parent.properties["threshold"], "1");
    assert_eq!(parent.tags["registered"], "false");
    assert_eq!(
        parent.tags["registration"],
        format!("not registered: accuracy {best:.4} is below the threshold 1")
    );
    assert_eq!(children["register"].tags["registered"], "false");
    assert!(Registry::local(&store).models().unwrap().is_empty());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("register: not registered: accuracy"),
        "{stdout}"
    );
}

#[test]
fn the_iris_pipeline_runs_with_each_step_in_its_own_process() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("runs");
    iris(&home, &["--processes"], &[]);
    let store = Store::new(&home);
    let (parent, children) = family(&store);
    check_runs(&store, &parent, &children);
    check_registered(&store, &parent, &children);
}

#[test]
fn a_bad_threshold_fails_the_register_step_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("runs");
    let out = command(IRIS, &home)
        .current_dir(workspace())
        .args(["--threshold", "97"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("error: threshold 97 is not an accuracy: give a value from 0 to 1"),
        "{stdout}"
    );
    let store = Store::new(&home);
    let (parent, children) = family(&store);
    assert_eq!(parent.status, Status::Failed);
    assert_eq!(children["register"].status, Status::Failed);
    assert_eq!(children["train"].status, Status::Finished);
}

// ---------------------------------------------------------------- online

/// The server runs of one online pipeline run: the parent (from the program's last words) and
/// its children by name.
fn server_family(server: &MlflowServer, stdout: &str) -> (Value, BTreeMap<String, Value>) {
    let remote = stdout
        .split("the pipeline's run ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no pipeline run id in:\n{stdout}"))
        .to_owned();
    let parent = server.run(&remote);
    let children = server
        .runs_with_tag("iris", "mlflow.parentRunId", &remote)
        .into_iter()
        .map(|r| (r["info"]["run_name"].as_str().unwrap().to_owned(), r))
        .collect();
    (parent, children)
}

fn pairs(run: &Value, list: &str) -> BTreeMap<String, String> {
    run["data"][list]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|kv| {
                    (
                        kv["key"].as_str().unwrap().to_owned(),
                        kv["value"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A model name of this test alone: the server's registry is shared by the tests.
fn model_name(test: &str) -> String {
    format!("iris-{test}-{}", std::process::id())
}

fn online(args: &[&str], server: &MlflowServer) -> (Value, BTreeMap<String, Value>) {
    let dir = tempfile::tempdir().unwrap();
    let out = iris(
        &dir.path().join("runs"),
        args,
        &[("MLFLOW_TRACKING_URI", &server.uri)],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains(&format!("The runs are on {}", server.uri)),
        "{stdout}"
    );
    server_family(server, &stdout)
}

/// The server's runs of a pipeline run: statuses, metrics, params, tags. Returns the best
/// accuracy.
fn check_server_runs(
    server: &MlflowServer,
    parent: &Value,
    children: &BTreeMap<String, Value>,
) -> f64 {
    assert_eq!(parent["info"]["status"], "FINISHED");
    assert_eq!(parent["info"]["run_name"], "iris");
    assert_eq!(
        children.keys().collect::<Vec<_>>(),
        ["prep", "register", "train"]
    );
    for (name, child) in children {
        assert_eq!(child["info"]["status"], "FINISHED", "{name}");
    }
    let train_id = children["train"]["info"]["run_id"].as_str().unwrap();
    let mut accuracies = Vec::new();
    for model in MODELS {
        let history = server.history(train_id, &format!("accuracy_{model}"));
        assert_eq!(history.len(), 1, "{model}");
        accuracies.push(history[0].1.as_f64().unwrap());
        let matrix = server
            .artifact(train_id, &format!("Confusion matrix {model}.json"))
            .unwrap_or_else(|| panic!("the confusion matrix of {model} is not on the server"));
        let matrix: Value = serde_json::from_slice(&matrix).unwrap();
        assert_eq!(matrix["data"]["class_labels"], json!(LABELS));
    }
    let best = accuracies.iter().copied().fold(f64::MIN, f64::max);
    let best_model = MODELS[accuracies.iter().position(|a| *a == best).unwrap()];
    // Properties are MLflow params.
    let params = pairs(parent, "params");
    assert_eq!(params["best_model"], best_model);
    assert_eq!(params["accuracy"], format!("{best:.4}"));
    let tags = pairs(parent, "tags");
    assert_eq!(tags["best_model"], best_model);
    assert_eq!(tags["runctx.pipeline"], "iris");
    let prep = &children["prep"];
    let prep_id = prep["info"]["run_id"].as_str().unwrap();
    assert_eq!(server.history(prep_id, "rows")[0].1, json!(150.0));
    best
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn the_iris_pipeline_runs_online_and_registers_the_best_model_on_the_server() {
    let server = MlflowServer::shared();
    let name = model_name("passes");
    let (parent, children) = online(&["--model_name", &name], server);
    check_server_runs(server, &parent, &children);
    let tags = pairs(&parent, "tags");
    assert_eq!(tags["registered"], "true");
    let register_id = children["register"]["info"]["run_id"].as_str().unwrap();
    let filter = format!("name = '{name}'");
    let versions = server.get("model-versions/search", &[("filter", &filter)]);
    let versions = versions["model_versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0]["version"], "1");
    assert_eq!(versions[0]["run_id"], register_id);
    assert_eq!(
        versions[0]["source"],
        format!("runs:/{register_id}/models/{name}")
    );
    // The model's files are the register run's artifacts on the server.
    let model = server
        .artifact(register_id, &format!("models/{name}/info.json"))
        .expect("the model's files are on the server");
    let info: Value = serde_json::from_slice(&model).unwrap();
    assert_eq!(
        info["algorithm"],
        pairs(&parent, "params")["best_model"].as_str()
    );
    // The library reads it back.
    let registry = Registry::server(&server.uri).unwrap();
    let v = registry.latest(&name).unwrap();
    assert_eq!((v.version, v.run_id.as_deref()), (1, Some(register_id)));
    assert_eq!(v.tags["algorithm"], info["algorithm"].as_str().unwrap());
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn a_high_threshold_registers_nothing_on_the_server() {
    let server = MlflowServer::shared();
    let name = model_name("refused");
    let (parent, children) = online(&["--model_name", &name, "--threshold", "1"], server);
    let best = check_server_runs(server, &parent, &children);
    assert!(best < 1.0);
    let tags = pairs(&parent, "tags");
    assert_eq!(tags["registered"], "false");
    let filter = format!("name = '{name}'");
    let reply = server.get("registered-models/search", &[("filter", &filter)]);
    assert!(
        reply["registered_models"]
            .as_array()
            .is_none_or(|m| m.is_empty()),
        "{reply}"
    );
    let e = Registry::server(&server.uri)
        .unwrap()
        .versions(&name)
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("no registered model {name:?}")),
        "{e}"
    );
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn the_iris_pipeline_runs_online_with_each_step_in_its_own_process() {
    let server = MlflowServer::shared();
    let name = model_name("processes");
    let (parent, children) = online(&["--processes", "--model_name", &name], server);
    check_server_runs(server, &parent, &children);
    assert_eq!(pairs(&parent, "tags")["registered"], "true");
    let filter = format!("name = '{name}'");
    let versions = server.get("model-versions/search", &[("filter", &filter)]);
    assert_eq!(versions["model_versions"].as_array().unwrap().len(), 1);
}
