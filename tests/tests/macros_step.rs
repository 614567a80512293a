//! `#[aml_step]` on the real runtime, in this process: explicit runs and bindings (as tests and
//! the pipeline runner use it), plain calls (child runs), nesting, async, failures, threads, the
//! registry and the const metadata. Each test keeps its runs in a temporary store; none opens
//! the process's context run.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;

use run_runtime::prelude::*;
use run_runtime::step::{Bindings, SlotKind, StepErrorKind};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    (dir, store)
}

fn bindings(pairs: &[(&str, &str)]) -> Bindings {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[derive(Debug)]
struct TrainError(String);

impl std::fmt::Display for TrainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "training failed: {}", self.0)
    }
}

/// The example step, with a body that reports what it was given.
#[aml_step(
    description = "fit a classifier",
    tags(team = "vision", "stage.kind" = "training"),
    inputs(irisdata = "examples/iris/sample_data.csv"),
    outputs(model_output = "outputs/model"),
    params(threshold = 0.9, epochs = 2, model = "knn"),
)]
fn train(
    run: &Run,
    irisdata: &Path,
    model_output: &Path,
    threshold: f64,
    epochs: u32,
    model: String,
) -> Result<u32, TrainError> {
    if threshold > 1.0 {
        return Err(TrainError(format!("threshold {threshold} is above 1")));
    }
    assert!(
        model_output.is_dir(),
        "the output folder exists before the body runs"
    );
    // The context inside the body is the step's run.
    assert_eq!(Run::get_context().unwrap().id(), run.id());
    for epoch in 0..i64::from(epochs) {
        loss(epoch);
    }
    run.tag("seen_input", irisdata.display()).unwrap();
    run.tag("seen_model", &model).unwrap();
    Ok(epochs)
}

#[log_metric(step = epoch)]
fn loss(epoch: i64) -> f64 {
    1.0 / (epoch + 1) as f64
}

#[test]
fn an_explicit_call_resolves_records_runs_and_completes() {
    let (dir, store) = store();
    let run = store.start_run("Default", "train").unwrap();
    let out = dir.path().join("model");
    let given = bindings(&[("model_output", out.to_str().unwrap()), ("epochs", "3")]);
    train::STEP.call(&run, &given).unwrap();

    let data = run.details().unwrap();
    assert_eq!(data.status, Status::Finished);
    assert!(out.is_dir());
    // Params are properties, data paths are tags, both under their plain names.
    assert_eq!(data.properties["threshold"], "0.9");
    assert_eq!(data.properties["epochs"], "3");
    assert_eq!(data.properties["model"], "knn");
    assert_eq!(data.tags["irisdata"], "examples/iris/sample_data.csv");
    assert_eq!(data.tags["model_output"], out.to_str().unwrap());
    assert_eq!(data.tags["seen_input"], "examples/iris/sample_data.csv");
    assert_eq!(data.tags["team"], "vision");
    assert_eq!(data.tags["stage.kind"], "training");
    assert_eq!(data.tags["mlflow.note.content"], "fit a classifier");
    let steps: Vec<i64> = data.metrics["loss"].iter().map(|p| p.step).collect();
    assert_eq!(steps, [0, 1, 2]);
}

#[test]
fn an_err_fails_the_run_with_its_message_and_is_the_calls_error() {
    let (dir, store) = store();
    let run = store.start_run("Default", "train").unwrap();
    let out = dir.path().join("model");
    let given = bindings(&[
        ("model_output", out.to_str().unwrap()),
        ("threshold", "1.5"),
    ]);
    let e = train::STEP.call(&run, &given).unwrap_err();
    assert_eq!(e.kind(), StepErrorKind::Failed);
    assert_eq!(e.to_string(), "training failed: threshold 1.5 is above 1");
    let data = run.details().unwrap();
    assert_eq!(data.status, Status::Failed);
    assert_eq!(
        data.error.as_deref(),
        Some("training failed: threshold 1.5 is above 1")
    );
}

/// A `Result` under another name: the macro sees `Outcome`, the type is a `Result`.
type Outcome = Result<u32, String>;

#[aml_step(params(limit = 3))]
fn count_to(limit: u32) -> Outcome {
    if limit > 5 {
        Err(format!("{limit} is too far"))
    } else {
        Ok(limit)
    }
}

#[test]
fn an_err_behind_a_type_alias_fails_the_run_too() {
    let (_dir, store) = store();
    let run = store.start_run("Default", "alias").unwrap();
    let e = count_to::STEP
        .call(&run, &bindings(&[("limit", "9")]))
        .unwrap_err();
    assert_eq!(e.to_string(), "9 is too far");
    let data = run.details().unwrap();
    assert_eq!(
        (data.status, data.error.as_deref()),
        (Status::Failed, Some("9 is too far"))
    );

    let ok = store.start_run("Default", "alias ok").unwrap();
    count_to::STEP
        .call(&ok, &bindings(&[("limit", "2")]))
        .unwrap();
    assert_eq!(ok.details().unwrap().status, Status::Finished);
}

#[test]
fn a_value_that_does_not_parse_fails_before_the_body_and_says_where_it_came_from() {
    let (dir, store) = store();
    let run = store.start_run("Default", "train").unwrap();
    let out = dir.path().join("model");
    let given = bindings(&[("model_output", out.to_str().unwrap()), ("epochs", "three")]);
    let e = train::STEP.call(&run, &given).unwrap_err();
    assert_eq!(e.kind(), StepErrorKind::Binding);
    assert_eq!(
        e.to_string(),
        "step \"train\": param \"epochs\" = \"three\" (given) is not a valid u32: invalid digit \
         found in string"
    );
    let data = run.details().unwrap();
    assert_eq!(data.status, Status::Failed);
    assert!(!data.metrics.contains_key("loss"), "the body did not run");
}

#[test]
fn a_binding_for_an_undeclared_name_is_refused_with_a_suggestion() {
    let (_dir, store) = store();
    let run = store.start_run("Default", "train").unwrap();
    let e = train::STEP
        .call(&run, &bindings(&[("treshold", "0.5")]))
        .unwrap_err();
    assert_eq!(e.kind(), StepErrorKind::Binding);
    assert!(
        e.to_string().starts_with(
            "step \"train\" has no input, output or param \"treshold\"; did you mean \"threshold\"?"
        ),
        "{e}"
    );
    assert_eq!(run.details().unwrap().status, Status::Failed);
}

#[test]
fn a_plain_call_runs_in_a_child_of_the_run_passed() {
    let (dir, store) = store();
    let parent = store.start_run("Default", "pipeline").unwrap();
    let out = dir.path().join("direct");
    let epochs = train(&parent, Path::new("in.csv"), &out, 0.5, 2, "svm".into()).unwrap();
    assert_eq!(epochs, 2);
    let children = store.children(parent.id()).unwrap();
    assert_eq!(children.len(), 1);
    let child = store.read(&children[0]).unwrap();
    assert_eq!(child.meta.name, "train");
    assert_eq!(child.status, Status::Finished);
    assert_eq!(child.properties["threshold"], "0.5");
    assert_eq!(child.properties["model"], "svm");
    assert_eq!(child.tags["irisdata"], "in.csv");
    assert_eq!(child.metrics["loss"].len(), 2);
    assert!(out.is_dir());
    // The parent got none of the step's records.
    assert!(parent.get_metrics().unwrap().is_empty());
}

// ---------------------------------------------------------------- nesting

#[aml_step(params(rows = 10))]
fn prepare(rows: u32) -> u32 {
    let run = Run::get_context().unwrap();
    run.log("rows", rows).unwrap();
    rows * 2
}

#[aml_step(params(rows = 10))]
fn pipeline(run: Run, rows: u32) -> u32 {
    let doubled = prepare(rows);
    // After the nested step, the context is this step's run again.
    assert_eq!(Run::get_context().unwrap().id(), run.id());
    run.log("doubled", doubled).unwrap();
    doubled
}

#[test]
fn a_step_called_inside_a_step_runs_in_a_child_of_its_run() {
    let (_dir, store) = store();
    let run = store.start_run("Default", "outer").unwrap();
    pipeline::STEP
        .call(&run, &bindings(&[("rows", "4")]))
        .unwrap();
    assert_eq!(run.get_metrics().unwrap()["doubled"][0].value, 8.0);
    let children = store.children(run.id()).unwrap();
    assert_eq!(children.len(), 1);
    let child = store.read(&children[0]).unwrap();
    assert_eq!(child.meta.name, "prepare");
    assert_eq!(child.metrics["rows"][0].value, 4.0);
    assert_eq!(child.properties["rows"], "4");
    assert_eq!(child.status, Status::Finished);
}

// ---------------------------------------------------------------- panics

#[aml_step(params(message = "diverged"))]
fn explode(message: String) {
    panic!("the model {message}");
}

#[test]
fn a_panic_fails_the_run_with_its_message_and_keeps_unwinding() {
    let (_dir, store) = store();
    let run = store.start_run("Default", "explode").unwrap();
    let caught = std::panic::catch_unwind(AssertUnwindSafe(|| {
        explode::STEP.call(&run, &Bindings::new())
    }));
    let payload = caught.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("the model diverged")
    );
    let data = run.details().unwrap();
    assert_eq!(data.status, Status::Failed);
    assert_eq!(data.error.as_deref(), Some("panicked: the model diverged"));
    // The context was left: nothing of this thread still points at the step's run.
    assert!(run_runtime::current_step().is_none());
}

#[test]
fn a_panic_in_a_plain_call_fails_the_child_run() {
    let (_dir, store) = store();
    let parent = store.start_run("Default", "parent").unwrap();
    let _context = run_runtime::enter(parent.clone());
    let caught = std::panic::catch_unwind(AssertUnwindSafe(|| explode("exploded".into())));
    assert!(caught.is_err());
    let child = store
        .read(&store.children(parent.id()).unwrap()[0])
        .unwrap();
    assert_eq!(child.status, Status::Failed);
    assert_eq!(child.error.as_deref(), Some("panicked: the model exploded"));
}

// ---------------------------------------------------------------- async

#[aml_step(params(name = "a", pauses = 3))]
async fn wait_and_log(run: &Run, name: String, pauses: u32) -> Result<String, String> {
    for i in 0..pauses {
        tokio::task::yield_now().await;
        // Across every .await, the context is still this step's run.
        let context = Run::get_context().map_err(|e| e.to_string())?;
        if context.id() != run.id() {
            return Err(format!("after pause {i} the context was {}", context.id()));
        }
        tick(i64::from(i)).await;
    }
    Ok(name)
}

#[log_metric(step = i)]
async fn tick(i: i64) -> i64 {
    tokio::task::yield_now().await;
    i * 10
}

#[tokio::test]
async fn async_steps_keep_their_context_across_awaits_while_interleaved() {
    let (_dir, store) = store();
    let a = store.start_run("Default", "a").unwrap();
    let b = store.start_run("Default", "b").unwrap();
    let (ra, rb) = (
        bindings(&[("name", "first")]),
        bindings(&[("name", "second")]),
    );
    // Both futures are polled in turn on this one thread: each poll must re-enter its run.
    let (x, y) = tokio::join!(
        wait_and_log::STEP.call_async(&a, &ra),
        wait_and_log::STEP.call_async(&b, &rb),
    );
    x.unwrap();
    y.unwrap();
    for run in [&a, &b] {
        let data = run.details().unwrap();
        assert_eq!(data.status, Status::Finished);
        let ticks: Vec<(i64, f64)> = data.metrics["tick"]
            .iter()
            .map(|p| (p.step, p.value))
            .collect();
        assert_eq!(ticks, [(0, 0.0), (1, 10.0), (2, 20.0)]);
    }
    // And a plain call of an async step makes a child run.
    let _context = run_runtime::enter(a.clone());
    let name = wait_and_log(&a, "direct".into(), 1).await.unwrap();
    drop(_context);
    assert_eq!(name, "direct");
    let children = store.children(a.id()).unwrap();
    assert_eq!(
        store.read(&children[0]).unwrap().properties["name"],
        "direct"
    );
}

#[test]
fn an_async_step_runs_through_the_sync_entry_too() {
    #[aml_step(params(n = 5))]
    async fn count(n: u32) -> u32 {
        std::future::ready(()).await;
        Run::get_context().unwrap().log("n", n).unwrap();
        n
    }
    let (_dir, store) = store();
    let run = store.start_run("Default", "count").unwrap();
    count::STEP.call(&run, &Bindings::new()).unwrap();
    assert_eq!(run.get_metrics().unwrap()["n"][0].value, 5.0);
    assert!(count::STEP.invoke_async.is_some());
}

// ---------------------------------------------------------------- threads

#[aml_step(params(worker = 0))]
fn work(worker: u32) -> u32 {
    for i in 0..50 {
        Run::get_context().unwrap().log("i", i).unwrap();
        std::thread::yield_now();
    }
    worker
}

#[test]
fn steps_on_several_threads_at_once_each_log_to_their_own_run() {
    let (_dir, store) = store();
    let runs: Vec<Run> = (0..6)
        .map(|w| store.start_run("Default", &format!("w{w}")).unwrap())
        .collect();
    let barrier = Arc::new(std::sync::Barrier::new(runs.len()));
    let handles: Vec<_> = runs
        .iter()
        .enumerate()
        .map(|(w, run)| {
            let (run, barrier) = (run.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                work::STEP
                    .call(&run, &bindings(&[("worker", &w.to_string())]))
                    .unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    for (w, run) in runs.iter().enumerate() {
        let data = run.details().unwrap();
        assert_eq!(data.properties["worker"], w.to_string());
        assert_eq!(data.metrics["i"].len(), 50, "run of worker {w}");
        assert_eq!(data.status, Status::Finished);
    }
}

// ---------------------------------------------------------------- metadata and registry

#[aml_step(name = "fit", experiment = "iris", inputs(data), params(alpha = -0.5))]
fn fit_model(data: std::path::PathBuf, alpha: f64) {
    let _ = (data, alpha);
}

// What a pipeline macro can check at compile time.
const _: () = {
    let step = &train::STEP;
    assert!(run_runtime::step::str_eq(step.name, "train"));
    assert!(step.input("irisdata").is_some() && step.output("model_output").is_some());
    assert!(matches!(step.slot("epochs"), Some((SlotKind::Param, _))));
    assert!(!step.is_declared("run"));
    assert!(fit_model::STEP.input("data").is_some());
    assert!(!fit_model::STEP.input("data").unwrap().has_default());
};

#[test]
fn the_metadata_describes_every_slot_with_its_default_and_type() {
    let step = &train::STEP;
    let slots: Vec<(SlotKind, &str, Option<&str>, &str)> = step
        .slots()
        .map(|(k, s)| (k, s.name, s.default, s.ty))
        .collect();
    assert_eq!(
        slots,
        [
            (
                SlotKind::Input,
                "irisdata",
                Some("examples/iris/sample_data.csv"),
                "&Path"
            ),
            (
                SlotKind::Output,
                "model_output",
                Some("outputs/model"),
                "&Path"
            ),
            (SlotKind::Param, "threshold", Some("0.9"), "f64"),
            (SlotKind::Param, "epochs", Some("2"), "u32"),
            (SlotKind::Param, "model", Some("knn"), "String"),
        ]
    );
    assert_eq!(step.function, "macros_step::train");
    assert_eq!(step.description, Some("fit a classifier"));
    assert_eq!(step.tags, [("team", "vision"), ("stage.kind", "training")]);
    assert!(step.invoke_async.is_none());
    let fit = &fit_model::STEP;
    assert_eq!((fit.name, fit.experiment), ("fit", Some("iris")));
    assert_eq!(fit.params[0].default, Some("-0.5"));
}

#[test]
fn every_step_is_in_the_registry_and_found_by_name() {
    let names: Vec<&str> = run_runtime::step::steps().iter().map(|s| s.name).collect();
    for name in [
        "train",
        "prepare",
        "pipeline",
        "explode",
        "wait_and_log",
        "work",
        "fit",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let found = run_runtime::step::find("fit").unwrap();
    assert_eq!(found.function, "macros_step::fit_model");
    // Registering by hand, where link-time registration fails, adds nothing twice.
    run_runtime::step::register(&fit_model::STEP);
    let fits = run_runtime::step::steps()
        .iter()
        .filter(|s| s.name == "fit")
        .count();
    assert_eq!(fits, 1);
    let e = run_runtime::step::find("fti").unwrap_err();
    assert_eq!(e.kind(), StepErrorKind::NotFound);
    assert_eq!(
        e.to_string(),
        "no step named \"fti\"; did you mean \"fit\"?"
    );
}

#[test]
fn the_registry_calls_a_step_by_name_as_a_pipeline_runner_would() {
    let (_dir, store) = store();
    let run = store.start_run("Default", "by-name").unwrap();
    let step = run_runtime::step::find("prepare").unwrap();
    (step.invoke)(&run, &BTreeMap::from([("rows".to_owned(), "7".to_owned())])).unwrap();
    assert_eq!(run.get_metrics().unwrap()["rows"][0].value, 7.0);
}

// ---------------------------------------------------------------- custom data types

struct CsvFile(std::path::PathBuf);

impl AsRef<Path> for CsvFile {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl run_runtime::step::DataPath for CsvFile {
    fn from_path(path: std::path::PathBuf) -> Result<Self, String> {
        match path.extension() {
            Some(e) if e == "csv" => Ok(CsvFile(path)),
            _ => Err(format!("{} is not a .csv file", path.display())),
        }
    }
}

#[aml_step(inputs(table = "data.csv"))]
fn read_table(table: &CsvFile) -> usize {
    table.0.as_os_str().len()
}

#[test]
fn an_input_of_a_users_type_checks_its_path() {
    let (_dir, store) = store();
    let run = store.start_run("Default", "t").unwrap();
    read_table::STEP.call(&run, &Bindings::new()).unwrap();
    let run = store.start_run("Default", "t").unwrap();
    let e = read_table::STEP
        .call(&run, &bindings(&[("table", "data.json")]))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "step \"read_table\": input \"table\" = \"data.json\" (given) is not a valid &CsvFile: \
         data.json is not a .csv file"
    );
}

#[aml_step(system_metrics = 0.5)]
fn sampled(run: &Run) {
    run.log("work", 1).unwrap();
}

#[aml_step(system_metrics)]
fn sampled_by_default() {}

const _: () = assert!(sampled_by_default::STEP.system_metrics.is_some());

#[test]
fn system_metrics_option_samples_the_steps_run_at_its_interval() {
    use std::time::Duration;
    assert_eq!(
        sampled::STEP.system_metrics,
        Some(Duration::from_millis(500))
    );
    assert_eq!(
        sampled_by_default::STEP.system_metrics,
        Some(Duration::from_secs(10)),
        "MLflow's default interval"
    );
    let (_dir, store) = store();
    let run = store.start_run("Default", "sampled").unwrap();
    sampled::STEP.call(&run, &bindings(&[])).unwrap();
    let data = run.details().unwrap();
    assert_eq!(data.status, Status::Finished);
    // The run ends with the step, and its last sample is taken then.
    assert!(
        data.metrics
            .contains_key(run_runtime::system_metrics::CPU_UTILIZATION),
        "{:?}",
        data.metrics.keys()
    );
}
