//! Pipelines offline: the graph put together at run time and its errors, the order steps run
//! in, data passed through folders under the pipeline's run, a failed step and the steps it
//! skips, values given on the command line, each step in a process of its own with the
//! engine's environment, and the entry point's command line.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::Path;
use std::process::Output;

use run_runtime::pipeline::{Mode, Pipeline, PipelineRun, RunOptions};
use run_runtime::{Error, Run, RunData, Status, Store};
use serde_json::Value;
use tests::command;

#[allow(dead_code)]
#[path = "../src/bin/pipes.rs"]
mod pipes;

const PIPES: &str = env!("CARGO_BIN_EXE_pipes");

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    (dir, store)
}

fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The pipeline's run and its children by name, read back from the store.
fn family(store: &Store, parent: &str) -> (RunData, BTreeMap<String, RunData>) {
    let children = store
        .children(parent)
        .unwrap()
        .into_iter()
        .map(|id| {
            let data = store.read(&id).unwrap();
            (data.meta.name.clone(), data)
        })
        .collect();
    (store.read(parent).unwrap(), children)
}

/// The JSON lines the steps printed, by step.
fn seen(stdout: &[u8]) -> BTreeMap<String, Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| (v["step"].as_str().unwrap().to_owned(), v))
        .collect()
}

fn pipes(home: &Path, args: &[&str]) -> Output {
    command(PIPES, home).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------- in this process

#[test]
fn each_step_is_a_child_run_in_dependency_order_with_data_under_the_pipeline_run() {
    let (_dir, store) = store();
    let pipeline = pipes::numbers::pipeline().unwrap();
    let order: Vec<&str> = pipeline.steps().iter().map(|s| s.name).collect();
    // Listed check, total, independent, make, audit: each runs after what it reads from.
    assert_eq!(order, ["independent", "make", "total", "check", "audit"]);

    let run = store.start_run("numbers", "numbers").unwrap();
    // One at a time, the steps end in run order.
    let one_at_a_time = RunOptions {
        max_parallel: NonZeroUsize::new(1),
        ..RunOptions::default()
    };
    let finished = pipeline.run_on(&run, &one_at_a_time).unwrap();
    assert_eq!(finished.status(), Status::Finished);
    let ran: Vec<&str> = finished.steps().iter().map(|s| s.step).collect();
    assert_eq!(ran, order);

    let (parent, children) = family(&store, run.id());
    assert_eq!(parent.status, Status::Finished);
    assert_eq!(parent.tags["runctx.pipeline"], "numbers");
    assert_eq!(
        parent.tags["mlflow.note.content"],
        "Numbers: written, summed, checked, audited."
    );
    // The pipeline's param, recorded on its run and given to the step.
    assert_eq!(parent.properties["scale"], "2.0");
    assert_eq!(children.len(), 5);
    for (name, child) in &children {
        assert_eq!(child.status, Status::Finished, "{name}");
        assert_eq!(child.meta.parent_id.as_deref(), Some(run.id()));
        assert_eq!(child.meta.experiment, "numbers");
    }
    let total = &children["total"];
    assert_eq!(total.properties["scale"], "2.0");
    assert_eq!(total.metrics["total"][0].value, 30.0);
    // Data flows through folders under the pipeline's run.
    let numbers = run.dir().join("data/numbers");
    assert_eq!(total.tags["numbers"], numbers.display().to_string());
    assert_eq!(
        std::fs::read_to_string(numbers.join("numbers.txt")).unwrap(),
        "1 2 3 4 5"
    );
    assert!(run.dir().join("data/verdict/ok.txt").is_file());
    // A step wrote the pipeline's metrics, tags and properties; `check` read them back.
    assert_eq!(parent.metrics["total"][0].value, 30.0);
    assert_eq!(parent.tags["total"], "30");
    assert_eq!(parent.properties["total"], "30");
    assert_eq!(children["audit"].metrics["audited"][0].value, 1.0);
    // Children started in run order.
    let mut by_start: Vec<(&i64, &String)> = children
        .values()
        .map(|c| (&c.meta.start_time, &c.meta.name))
        .collect();
    by_start.sort();
    let started: Vec<&str> = by_start.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(started.first(), Some(&"independent"));
    assert_eq!(started.last(), Some(&"audit"));
}

#[test]
fn a_failed_step_fails_the_pipeline_and_skips_what_depends_on_it() {
    let (_dir, store) = store();
    let run = store.start_run("numbers", "numbers").unwrap();
    let options = RunOptions {
        values: values(&[("limit", "10")]),
        ..RunOptions::default()
    };
    let finished = pipes::numbers::pipeline()
        .unwrap()
        .run_on(&run, &options)
        .unwrap();
    assert_eq!(finished.status(), Status::Failed);
    let check = finished.step("check").unwrap();
    assert_eq!(check.status, Status::Failed);
    assert_eq!(
        check.error.as_deref(),
        Some("total 30 is over the limit 10")
    );
    let audit = finished.step("audit").unwrap();
    assert_eq!(
        (audit.status, audit.skipped_because),
        (Status::Killed, Some("check"))
    );
    assert_eq!(
        finished.step("independent").unwrap().status,
        Status::Finished
    );

    let (parent, children) = family(&store, run.id());
    assert_eq!(parent.status, Status::Failed);
    assert_eq!(
        parent.error.as_deref(),
        Some("step \"check\" failed: total 30 is over the limit 10; skipped: audit")
    );
    assert_eq!(children["check"].status, Status::Failed);
    assert_eq!(
        children["check"].error.as_deref(),
        Some("total 30 is over the limit 10")
    );
    assert_eq!(children["audit"].status, Status::Killed);
    assert_eq!(
        children["audit"].tags["runctx.skipped"],
        "step \"check\" failed"
    );
    assert!(children["audit"].metrics.is_empty());
    assert_eq!(children["independent"].status, Status::Finished);
    assert_eq!(children["total"].status, Status::Finished);
}

#[test]
fn a_panicking_step_is_a_failed_step_and_the_pipeline_goes_on() {
    let (_dir, store) = store();
    let run = store.start_run("numbers", "numbers").unwrap();
    let options = RunOptions {
        values: values(&[("panic", "true")]),
        ..RunOptions::default()
    };
    let finished = pipes::numbers::pipeline()
        .unwrap()
        .run_on(&run, &options)
        .unwrap();
    let check = finished.step("check").unwrap();
    assert_eq!(check.status, Status::Failed);
    assert_eq!(
        check.error.as_deref(),
        Some("panicked: check was asked to panic")
    );
    assert_eq!(
        finished.step("audit").unwrap().skipped_because,
        Some("check")
    );
    let (parent, children) = family(&store, run.id());
    assert_eq!(parent.status, Status::Failed);
    assert_eq!(
        children["check"].error.as_deref(),
        Some("panicked: check was asked to panic")
    );
}

#[test]
fn values_are_checked_before_any_step_runs() {
    let (_dir, store) = store();
    let run = store.start_run("numbers", "numbers").unwrap();
    let options = RunOptions {
        values: values(&[("limt", "3"), ("scale", "double"), ("report", "x")]),
        ..RunOptions::default()
    };
    let e = pipes::numbers::pipeline()
        .unwrap()
        .run_on(&run, &options)
        .unwrap_err();
    assert!(matches!(e, Error::Pipeline { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "pipeline \"numbers\" has 3 problems:\n\
         - --limt is not an input or param of pipeline \"numbers\"; did you mean --limit?\n\
         - --report cannot be given: it is an output of step \"total\", whose folder is under \
         the pipeline's run\n\
         - --scale \"double\" is not a valid f64 (param of step \"total\"): invalid float literal"
    );
    assert!(store.children(run.id()).unwrap().is_empty());
    assert_eq!(run.status(), None);
}

#[test]
fn a_value_the_pipeline_leaves_to_run_time_must_be_given_then() {
    let (dir, store) = store();
    let pipeline = Pipeline::builder("numbers")
        .step(&pipes::total::STEP)
        .runtime_input("numbers")
        .runtime_param("scale")
        .build()
        .unwrap();
    // `numbers` has no default: without a value, nothing runs.
    let run = store.start_run("numbers", "numbers").unwrap();
    let e = pipeline.run_on(&run, &RunOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "pipeline \"numbers\": input \"numbers\" of step \"total\" has no value: give \
         --numbers <value>, or set AZUREML_DATAREFERENCE_numbers"
    );
    assert!(store.children(run.id()).unwrap().is_empty());
    // Given, it runs; `scale` has a default in `total`, which the pipeline gives explicitly.
    let numbers = dir.path().join("given");
    std::fs::create_dir_all(&numbers).unwrap();
    std::fs::write(numbers.join("numbers.txt"), "4 5").unwrap();
    let options = RunOptions {
        values: values(&[("numbers", numbers.to_str().unwrap())]),
        ..RunOptions::default()
    };
    let finished = pipeline.run_on(&run, &options).unwrap();
    let total = store.read(&finished.step("total").unwrap().run_id).unwrap();
    assert_eq!(total.metrics["total"][0].value, 9.0);
    assert_eq!(total.properties["scale"], "1.0");
    let parent = store.read(run.id()).unwrap();
    assert_eq!(parent.properties["scale"], "1.0");
    assert_eq!(parent.tags["numbers"], numbers.display().to_string());
}

// ---------------------------------------------------------------- the builder

#[test]
fn the_builder_orders_steps_and_lists_the_pipeline_values() {
    let pipeline = Pipeline::builder("flow")
        .experiment("numbers")
        .step_named("total")
        .step(&pipes::make::STEP)
        .param("scale", 0.5)
        .build()
        .unwrap();
    let order: Vec<&str> = pipeline.steps().iter().map(|s| s.name).collect();
    assert_eq!(order, ["make", "total"]);
    let edges: Vec<(&str, &str, &str)> = pipeline
        .edges()
        .iter()
        .map(|e| (e.from, e.to, e.name))
        .collect();
    assert_eq!(edges, [("make", "total", "numbers")]);
    let values: Vec<(&str, Option<&str>, Vec<&str>)> = pipeline
        .values()
        .iter()
        .map(|v| (v.name.as_str(), v.value.as_deref(), v.steps.clone()))
        .collect();
    assert_eq!(
        values,
        [
            ("count", None, vec!["make"]),
            ("scale", Some("0.5"), vec!["total"])
        ]
    );
    assert_eq!(pipeline.experiment(), Some("numbers"));
}

#[test]
fn the_builder_returns_every_problem_of_the_graph() {
    let problems = |e: Error| match e {
        Error::Pipeline { problems, .. } => problems,
        other => panic!("{other}"),
    };
    // An input no step writes, without default or binding.
    let e = Pipeline::builder("flow")
        .step(&pipes::total::STEP)
        .build()
        .unwrap_err();
    assert_eq!(
        problems(e),
        [
            "input `numbers` of step `total` has no value in pipeline `flow`: no step of the \
          pipeline writes an output `numbers`, the input has no default, and the pipeline \
          binds none; add the step that writes it, give the input a default \
          (#[aml_step(inputs(numbers = ...))]), or bind it in the pipeline: pipeline!(flow = \
          [total], inputs(numbers = ...)), or `inputs(numbers)` to give it when the pipeline \
          runs"
        ]
    );
    // The same step twice, an unknown step, a binding of a produced input, a typo.
    let e = Pipeline::builder("flow")
        .step(&pipes::make::STEP)
        .step(&pipes::make::STEP)
        .step_named("totl")
        .input("numbers", "x")
        .param("scal", 1)
        .build()
        .unwrap_err();
    assert_eq!(
        problems(e),
        [
            "no step named \"totl\"; did you mean \"total\"?",
            "step `make` is listed twice in pipeline `flow`; list each step once",
            "pipeline `flow` binds `numbers`, which step `make` writes; an input reads the \
             output of its name, so remove `numbers` from inputs(...)",
            "pipeline `flow` binds `scal`, which is not a param of any of its steps; remove it \
             from params(...)",
        ]
    );
    let e = Pipeline::builder("").build().unwrap_err();
    assert_eq!(problems(e).len(), 2, "an empty name and no steps");
}

#[test]
fn the_builder_finds_two_producers_and_cycles() {
    use run_runtime::prelude::*;

    #[aml_step(inputs(b = "b"), outputs(a = "a"))]
    fn one(a: &Path, b: &Path) {
        let _ = (a, b);
    }
    #[aml_step(inputs(a), outputs(b = "b"))]
    fn two(a: &Path, b: &Path) {
        let _ = (a, b);
    }
    #[aml_step(outputs(a = "a2"))]
    fn three(a: &Path) {
        let _ = a;
    }
    let e = Pipeline::builder("loop")
        .step(&one::STEP)
        .step(&two::STEP)
        .build()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "pipeline \"loop\": pipeline `loop` has a cycle: `one` reads `b` from `two`, which \
         reads `a` from `one`; a step runs after the steps it reads from, so break the cycle \
         by renaming one of these inputs or outputs"
    );
    let e = Pipeline::builder("twice")
        .step(&one::STEP)
        .step(&three::STEP)
        .input("b", "b.csv")
        .build()
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("steps `one` and `three` of pipeline `twice` both write the output `a`"),
        "{e}"
    );
}

// ---------------------------------------------------------------- steps at once

/// Runs `diamond` on a new run of `store` with these values, at most `max_parallel` steps at
/// once; returns the run's children by name.
fn diamond(
    store: &Store,
    pairs: &[(&str, &str)],
    max_parallel: usize,
) -> (PipelineRun, RunData, BTreeMap<String, RunData>) {
    let run = store.start_run("diamond", "diamond").unwrap();
    let options = RunOptions {
        values: values(pairs),
        max_parallel: NonZeroUsize::new(max_parallel),
        ..RunOptions::default()
    };
    let finished = pipes::diamond::pipeline()
        .unwrap()
        .run_on(&run, &options)
        .unwrap();
    let (parent, children) = family(store, run.id());
    (finished, parent, children)
}

/// The recorded start and end (ms since the epoch) of a run.
fn span(run: &RunData) -> (i64, i64) {
    (run.meta.start_time, run.end_time.expect("the run ended"))
}

/// Checks by the recorded start and end times that the branches ran at once and each step
/// after the ones it reads from.
fn assert_ran_as_a_diamond(children: &BTreeMap<String, RunData>) {
    let [seed, left, right, join, echo] =
        ["seed", "left", "right", "join", "echo"].map(|name| span(&children[name]));
    assert!(left.0 <= right.1 && right.0 <= left.1, "{left:?} {right:?}");
    for branch in [left, right] {
        assert!(seed.1 <= branch.0, "{seed:?} {branch:?}");
        assert!(branch.1 <= join.0, "{branch:?} {join:?}");
    }
    assert!(right.1 <= echo.0, "{right:?} {echo:?}");
}

#[test]
fn independent_steps_run_at_once_as_their_runs_times_show() {
    let (_dir, store) = store();
    // Each branch finishes only once the other has started: they must run at once.
    let (finished, parent, children) = diamond(&store, &[], 2);
    assert_eq!(finished.status(), Status::Finished);
    assert_eq!(parent.status, Status::Finished);
    assert!(children.values().all(|c| c.status == Status::Finished));
    assert_ran_as_a_diamond(&children);
    assert_eq!(children["join"].tags["halves"], "left+right");
    // Steps are listed in the order they ended: the seed first, the join after both branches.
    let ended: Vec<&str> = finished.steps().iter().map(|s| s.step).collect();
    let at = |name| ended.iter().position(|s| *s == name).unwrap();
    assert_eq!(ended.len(), 5);
    assert_eq!(ended[0], "seed");
    assert!(
        at("join") > at("left") && at("join") > at("right"),
        "{ended:?}"
    );
}

#[test]
fn max_parallel_one_runs_a_step_at_a_time() {
    let (_dir, store) = store();
    let (finished, _, children) = diamond(&store, &[("meet", "false")], 1);
    assert_eq!(finished.status(), Status::Finished);
    let mut spans: Vec<(i64, i64)> = children.values().map(span).collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "overlap: {spans:?}");
    }
    // One at a time, they end in the pipeline's run order.
    let ended: Vec<&str> = finished.steps().iter().map(|s| s.step).collect();
    assert_eq!(ended, ["seed", "left", "right", "join", "echo"]);
}

#[test]
fn a_failure_among_parallel_steps_skips_exactly_its_dependents() {
    let (_dir, store) = store();
    let (finished, parent, children) = diamond(&store, &[("fail", "true")], 2);
    assert_eq!(finished.status(), Status::Failed);
    assert_eq!(children["left"].status, Status::Failed);
    assert_eq!(
        children["left"].error.as_deref(),
        Some("left was asked to fail")
    );
    // The other branch and its reader went on; the join, which reads the failed branch, did not.
    for name in ["seed", "right", "echo"] {
        assert_eq!(children[name].status, Status::Finished, "{name}");
    }
    assert_eq!(children["join"].status, Status::Killed);
    assert_eq!(
        children["join"].tags["runctx.skipped"],
        "step \"left\" failed"
    );
    assert_eq!(finished.step("join").unwrap().skipped_because, Some("left"));
    assert_eq!(
        parent.error.as_deref(),
        Some("step \"left\" failed: left was asked to fail; skipped: join")
    );
}

// ---------------------------------------------------------------- as processes

#[test]
fn each_step_runs_in_its_own_process_with_the_engine_environment() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("runs");
    let out = pipes(&home, &["--processes", "--count", "4"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let store = Store::new(&home);
    let parents: Vec<_> = store
        .runs()
        .unwrap()
        .into_iter()
        .filter(|r| r.meta.parent_id.is_none())
        .collect();
    assert_eq!(parents.len(), 1);
    let parent_id = parents[0].meta.id.clone();
    let (parent, children) = family(&store, &parent_id);
    assert_eq!(parent.status, Status::Finished);
    assert_eq!(parent.meta.experiment, "numbers");
    assert_eq!(parent.meta.name, "numbers");
    // The steps' processes recorded the total on the pipeline's run.
    assert_eq!(parent.properties["total"], "20");
    assert_eq!(parent.metrics["total"][0].value, 20.0);

    let seen = seen(&out.stdout);
    assert_eq!(seen.len(), 5);
    let data = store.run_dir(&parent_id).unwrap().join("data");
    for (name, child) in &children {
        assert_eq!(child.status, Status::Finished, "{name}");
        let s = &seen[name];
        let env = &s["env"];
        // Each step logged to the run the launcher made for it, as a child of the pipeline's.
        assert_eq!(s["run"], child.meta.id.as_str());
        assert_eq!(s["parent"], parent_id.as_str());
        assert_eq!(env["RUNCTX_RUN_ID"], child.meta.id.as_str());
        assert_eq!(env["RUNCTX_PARENT_RUN_ID"], parent_id.as_str());
        assert_eq!(env["RUNCTX_HOME"], home.display().to_string());
        assert_eq!(env["RUNCTX_OFFLINE"], "1");
        assert_eq!(env["MLFLOW_EXPERIMENT_NAME"], "numbers");
        assert!(env.get("MLFLOW_RUN_ID").is_none());
        // Its own process: not the launcher's.
        assert_ne!(s["pid"], parent.meta.source.pid, "{name}");
    }
    let env = |step: &str, var: &str| seen[step]["env"][var].as_str().map(String::from);
    let folder = |name: &str| Some(data.join(name).display().to_string());
    assert_eq!(
        env("make", "AZUREML_DATAREFERENCE_numbers"),
        folder("numbers")
    );
    assert_eq!(env("make", "AML_PARAMETER_count"), Some("4".into()));
    assert_eq!(
        env("total", "AZUREML_DATAREFERENCE_numbers"),
        folder("numbers")
    );
    assert_eq!(
        env("total", "AZUREML_DATAREFERENCE_report"),
        folder("report")
    );
    assert_eq!(env("total", "AML_PARAMETER_scale"), Some("2.0".into()));
    assert_eq!(
        env("check", "AZUREML_DATAREFERENCE_verdict"),
        folder("verdict")
    );
    // A param nobody gave gets the step's default, explicitly, as an engine gives it.
    assert_eq!(env("check", "AML_PARAMETER_limit"), Some("100.0".into()));
    assert_eq!(children["check"].properties["limit"], "100.0");
}

#[test]
fn a_failed_step_process_fails_the_pipeline_and_its_error_is_shown() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("runs");
    let out = pipes(&home, &["--processes", "--limit", "3"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("error: total 30 is over the limit 3"),
        "{stdout}"
    );
    assert!(
        stdout.contains("not run: step \"check\" failed"),
        "{stdout}"
    );
    assert!(stdout.contains("pipeline numbers FAILED"), "{stdout}");
    let store = Store::new(&home);
    let parent = store
        .runs()
        .unwrap()
        .into_iter()
        .find(|r| r.meta.parent_id.is_none())
        .unwrap();
    let (parent, children) = family(&store, &parent.meta.id);
    assert_eq!(parent.status, Status::Failed);
    assert_eq!(children["check"].status, Status::Failed);
    assert_eq!(children["audit"].status, Status::Killed);
    assert_eq!(children["independent"].status, Status::Finished);
}

#[test]
fn a_step_process_that_dies_is_failed_by_the_launcher() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("runs");
    let out = pipes(&home, &["--processes", "--abort", "true"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let store = Store::new(&home);
    let check = store
        .runs()
        .unwrap()
        .into_iter()
        .find(|r| r.meta.name == "check")
        .unwrap();
    let check = store.read(&check.meta.id).unwrap();
    assert_eq!(check.status, Status::Failed);
    let error = check.error.unwrap();
    assert!(
        error.starts_with("the step's process exited (signal: 6"),
        "{error}"
    );
    assert!(error.ends_with("without ending its run"), "{error}");
}

#[test]
fn step_processes_run_at_once_and_print_a_line_each_as_they_end() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("runs");
    let out = command(PIPES, &home)
        .env("PIPES_PIPELINE", "diamond")
        .args(["--processes", "--max-parallel", "2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let store = Store::new(&home);
    let parent = store
        .runs()
        .unwrap()
        .into_iter()
        .find(|r| r.meta.parent_id.is_none())
        .unwrap();
    let (parent, children) = family(&store, &parent.meta.id);
    assert_eq!(parent.status, Status::Finished);
    assert_ran_as_a_diamond(&children);
    let seen = seen(&out.stdout);
    assert_ne!(seen["left"]["pid"], seen["right"]["pid"]);
    // One line per step, numbered in the order they ended, each naming its run.
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    for (k, line) in lines.iter().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[0], format!("[{}/5]", k + 1), "{line}");
        assert_eq!(words[2], "FINISHED", "{line}");
        let id = &children[words[1]].meta.id;
        assert!(line.ends_with(&format!("run {id}")), "{line}");
    }
    // Each step once, the seed first (everything reads it) and the join after both branches.
    let printed: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    let at = |name| printed.iter().position(|s| *s == name).unwrap();
    assert!(
        at("join") > at("left") && at("join") > at("right"),
        "{printed:?}"
    );
    assert_eq!(printed[0], "seed");
}

/// Runs the `numbers` pipeline on a new run of `store`, each step a process of `program`.
fn numbers_in_processes(store: &Store, program: &Path) -> (PipelineRun, Run) {
    let run = store.start_run("numbers", "numbers").unwrap();
    let options = RunOptions {
        mode: Mode::Processes {
            program: program.to_owned(),
        },
        ..RunOptions::default()
    };
    let finished = pipes::numbers::pipeline()
        .unwrap()
        .run_on(&run, &options)
        .unwrap();
    (finished, run)
}

#[test]
fn a_step_program_that_cannot_start_fails_its_steps_and_the_pipeline() {
    let (dir, store) = store();
    let missing = dir.path().join("no-such-program");
    let (finished, run) = numbers_in_processes(&store, &missing);
    assert_eq!(finished.status(), Status::Failed);
    let (parent, children) = family(&store, run.id());
    assert_eq!(parent.status, Status::Failed);
    let error = children["make"].error.clone().unwrap();
    assert!(
        error.starts_with(&format!(
            "the step's process could not start ({}: ",
            missing.display()
        )),
        "{error}"
    );
    // Nothing is left running: the steps after it are skipped, the others failed alike.
    assert!(children.values().all(|c| c.status != Status::Running));
    assert_eq!(
        children["total"].tags["runctx.skipped"],
        "step \"make\" failed"
    );
}

// ---------------------------------------------------------------- the entry point

#[test]
fn the_whole_pipeline_runs_with_no_argument_and_says_where_the_runs_are() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("runs");
    let out = pipes(&home, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let store = Store::new(&home);
    let parent = store
        .runs()
        .unwrap()
        .into_iter()
        .find(|r| r.meta.parent_id.is_none())
        .unwrap();
    assert_eq!(parent.status(), Status::Finished);
    assert!(
        stdout.contains(&format!(
            "The runs are in the local store {}: the pipeline's run {}",
            home.display(),
            parent.meta.id
        )),
        "{stdout}"
    );
    assert!(stdout.contains("  runctx list\n"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "  runctx report {} -o numbers.html",
            parent.meta.id
        )),
        "{stdout}"
    );
    // In this process: every step saw the launcher's own pid in its run.
    let pids: Vec<u32> = store
        .runs()
        .unwrap()
        .iter()
        .map(|r| r.meta.source.pid)
        .collect();
    assert!(pids.iter().all(|p| *p == pids[0]));
}

#[test]
fn list_graph_and_help_describe_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("runs");
    let list = text(&pipes(&home, &["--list"]).stdout);
    assert!(
        list.starts_with("pipeline numbers: 5 steps, in the order they run\n"),
        "{list}"
    );
    assert!(
        list.contains(
            "\ntotal\n  input  numbers  path  from step make\n  output report   path  read by \
             check\n  param  scale    f64   pipeline value \"2.0\"\n"
        ),
        "{list}"
    );
    assert!(
        list.contains("  param  limit    f64   default \"100.0\"\n"),
        "{list}"
    );

    let graph = text(&pipes(&home, &["--graph"]).stdout);
    assert_eq!(
        graph,
        "pipeline numbers\n  independent\n  make        --numbers--> total\n  total       \
         --report--> check\n  check       --verdict--> audit\n  audit\nparams: message -> \
         independent; count -> make; scale -> total; limit -> check; panic -> check; abort \
         -> check\n"
    );
    let dot = text(&pipes(&home, &["--graph", "dot"]).stdout);
    assert!(
        dot.starts_with("digraph \"numbers\" {\n  rankdir=LR;\n"),
        "{dot}"
    );
    assert!(
        dot.contains("  \"make\" -> \"total\" [label=\"numbers\"];\n"),
        "{dot}"
    );
    assert!(
        dot.contains("  \"param:scale\" -> \"total\" [style=dashed];\n"),
        "{dot}"
    );
    assert!(dot.ends_with("}\n"));

    let help = pipes(&home, &["--help"]);
    assert!(help.status.success());
    let help = text(&help.stdout);
    assert!(help.starts_with("pipeline numbers: Numbers: written, summed, checked, audited.\n"));
    for option in [
        "--processes",
        "--step STEP",
        "--list",
        "--graph [dot]",
        "--export azureml",
    ] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
    assert!(
        help.contains(
            "--scale <f64>       param of total, \"2.0\" (pipeline); $AML_PARAMETER_scale"
        ),
        "{help}"
    );
    // Nothing ran.
    assert!(Store::new(&home).ids().unwrap().is_empty());
}

#[test]
fn command_line_mistakes_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("runs");
    let cases: [(&[&str], &str); 5] = [
        (
            &["--scal", "2"],
            "unknown option --scal; did you mean --scale?",
        ),
        (&["--scale"], "--scale needs a value: --scale VALUE"),
        (
            &["--list", "--graph"],
            "--list and --graph cannot go together; choose one",
        ),
        (
            &["--scale", "lots"],
            "--scale \"lots\" is not a valid f64 (param of step \"total\"): invalid float literal",
        ),
        (
            &["--step", "totl"],
            "pipeline \"numbers\" has no step \"totl\"; did you mean \"total\"?",
        ),
    ];
    for (args, message) in cases {
        let out = pipes(&home, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    assert!(Store::new(&home).ids().unwrap().is_empty());
}

#[test]
fn step_runs_one_step_as_an_engine_would() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("runs");
    let numbers = dir.path().join("numbers");
    let out = command(PIPES, &home)
        .args(["--step", "make", "--count", "3"])
        .env("AZUREML_DATAREFERENCE_numbers", &numbers)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(numbers.join("numbers.txt")).unwrap(),
        "1 2 3"
    );
    let store = Store::new(&home);
    let ids = store.ids().unwrap();
    assert_eq!(ids.len(), 1);
    let run = store.read(&ids[0]).unwrap();
    assert_eq!(run.properties["count"], "3");
    assert_eq!(run.tags["numbers"], numbers.display().to_string());
}

#[test]
fn a_step_given_the_wrong_parent_refuses_to_run() {
    let (dir, store) = store();
    let parent = store.start_run("numbers", "numbers").unwrap();
    let child = parent.child_run("make").unwrap();
    let (child_id, parent_id) = (child.id().to_owned(), parent.id().to_owned());
    drop((child, parent));
    let out = command(PIPES, store.root())
        .args(["--step", "make"])
        .env("RUNCTX_RUN_ID", &child_id)
        .env("RUNCTX_PARENT_RUN_ID", "OfflineRun_not-the-parent")
        .env("AZUREML_DATAREFERENCE_numbers", dir.path().join("n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "step \"make\": RUNCTX_PARENT_RUN_ID=\"OfflineRun_not-the-parent\" is not the parent \
             of RUNCTX_RUN_ID=\"{child_id}\", whose parent is \"{parent_id}\"; the launcher set \
             them wrongly"
        )
    );
}

#[test]
fn a_pipeline_runs_with_its_steps_in_processes_from_the_library() {
    // Mode::Processes with a program of our choosing: the `pipes` program runs the steps.
    let (_dir, store) = store();
    let (finished, run) = numbers_in_processes(&store, Path::new(PIPES));
    assert_eq!(finished.status(), Status::Finished);
    let (parent, children) = family(&store, run.id());
    assert_eq!(parent.status, Status::Finished);
    assert_eq!(parent.properties["total"], "30");
    assert!(children.values().all(|c| c.status == Status::Finished));
}

// ---------------------------------------------------------------- online

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn step_processes_log_to_the_server_runs_the_launcher_made_for_them() {
    use tests::mlflow::MlflowServer;
    let server = MlflowServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("runs");
    let out = command(PIPES, &home)
        .args(["--processes"])
        .env("MLFLOW_TRACKING_URI", &server.uri)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let seen = seen(&out.stdout);
    let store = Store::new(&home);
    let parent = store
        .runs()
        .unwrap()
        .into_iter()
        .find(|r| r.meta.parent_id.is_none())
        .unwrap();
    let parent_remote = store.remote_copies(&parent.meta.id).unwrap()[&server.uri]
        .run_id
        .clone()
        .unwrap();
    for (step, s) in &seen {
        let env = &s["env"];
        // The engine's contract: the server, and the step's own server run.
        assert_eq!(env["MLFLOW_TRACKING_URI"], server.uri.as_str(), "{step}");
        let remote = env["MLFLOW_RUN_ID"].as_str().unwrap();
        assert_eq!(s["remote"], remote, "{step}");
        assert!(env.get("RUNCTX_OFFLINE").is_none());
        let run = server.run(remote);
        assert_eq!(run["info"]["run_name"], step.as_str());
        assert_eq!(run["info"]["status"], "FINISHED", "{step}");
        let tags = run["data"]["tags"].as_array().unwrap();
        assert!(
            tags.iter()
                .any(|t| t["key"] == "mlflow.parentRunId" && t["value"] == parent_remote.as_str()),
            "{step}: {tags:?}"
        );
    }
    // What a step process recorded on the pipeline's run reached the server.
    let parent_run = server.run(&parent_remote);
    assert_eq!(parent_run["info"]["status"], "FINISHED");
    let params = parent_run["data"]["params"].as_array().unwrap();
    assert!(
        params
            .iter()
            .any(|p| p["key"] == "total" && p["value"] == "30"),
        "{params:?}"
    );
    assert_eq!(
        server.history(&parent_remote, "total")[0].1,
        serde_json::json!(30.0)
    );
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn online_a_pipeline_run_again_is_reused_and_its_inputs_are_dataset_inputs() {
    use tests::mlflow::MlflowServer;
    let server = MlflowServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("runs");
    for _ in 0..2 {
        let out = command(PIPES, &home)
            .env("MLFLOW_TRACKING_URI", &server.uri)
            .env("MLFLOW_EXPERIMENT_NAME", "numbers-reused")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let store = Store::new(&home);
    let parents: Vec<String> = store
        .runs()
        .unwrap()
        .into_iter()
        .filter(|r| r.meta.parent_id.is_none())
        .map(|r| r.meta.id)
        .collect();
    assert_eq!(parents.len(), 2);
    let (_, cold) = family(&store, &parents[0]);
    let (_, warm) = family(&store, &parents[1]);
    for (name, run) in &warm {
        assert_eq!(
            run.tags.get("runctx.reused_from"),
            Some(&cold[name].meta.id),
            "{name}"
        );
    }
    let remote = |id: &str| {
        store.remote_copies(id).unwrap()[&server.uri]
            .run_id
            .clone()
            .unwrap()
    };
    // MLflow's own client: the reused run, its dataset input, and the earlier run it names.
    let seen = server.python(
        r#"
def view(run_id):
    r = mlflow.get_run(run_id)
    inputs = [{"name": d.dataset.name, "digest": d.dataset.digest,
               "source_type": d.dataset.source_type, "source": json.loads(d.dataset.source),
               "profile": json.loads(d.dataset.profile),
               "context": {t.key: t.value for t in d.tags}.get("mlflow.data.context")}
              for d in r.inputs.dataset_inputs]
    return {"status": r.info.status, "tags": r.data.tags, "inputs": inputs}
print(json.dumps([view(args[0]), view(args[1])]))
"#,
        &[
            &remote(&warm["total"].meta.id),
            &remote(&cold["total"].meta.id),
        ],
    );
    let (reused, earlier) = (&seen[0], &seen[1]);
    assert_eq!(reused["status"], "FINISHED");
    let local = &reused["tags"]["runctx.reused_from"];
    assert_eq!(local, cold["total"].meta.id.as_str());
    // The id it names is the earlier run's `runctx.local_id` on the server.
    assert_eq!(earlier["tags"]["runctx.local_id"], *local);
    assert_eq!(
        reused["tags"]["runctx.reuse_key"],
        earlier["tags"]["runctx.reuse_key"]
    );
    let numbers = &warm["total"].inputs["numbers"];
    assert_eq!(numbers.digest, cold["total"].inputs["numbers"].digest);
    // MLflow keeps one dataset per experiment, name and digest: the same content read again
    // is the dataset where it was first read.
    let first_read = &cold["total"].inputs["numbers"].path;
    assert_ne!(&numbers.path, first_read);
    assert_eq!(
        reused["inputs"],
        serde_json::json!([{
            "name": "numbers",
            "digest": &numbers.digest[..36],
            "source_type": "local",
            "source": {"uri": format!("file://{first_read}")},
            "profile": {"size": numbers.size, "sha256": numbers.digest},
            "context": "numbers",
        }])
    );
    assert_eq!(
        earlier["inputs"][0]["digest"],
        reused["inputs"][0]["digest"]
    );
}

// ---------------------------------------------------------------- connections

mod renamed {
    use run_runtime::prelude::*;

    /// Writes `split`, which `fit` reads as `training_data`.
    #[aml_step(outputs(split = "out/split"))]
    pub fn cut(split: &Path) -> std::io::Result<()> {
        std::fs::write(split.join("rows.txt"), "1,2,3")
    }

    #[aml_step(inputs(training_data))]
    pub fn fit(run: &Run, training_data: &Path) -> Result<(), Box<dyn std::error::Error>> {
        run.tag(
            "rows",
            std::fs::read_to_string(training_data.join("rows.txt"))?,
        )?;
        Ok(())
    }

    pipeline!(pub renamed = [fit, cut], connect(fit.training_data = cut.split));
}

#[test]
fn a_connected_input_reads_the_output_of_another_name() {
    let (_dir, store) = store();
    let pipeline = renamed::renamed::pipeline().unwrap();
    let order: Vec<&str> = pipeline.steps().iter().map(|s| s.name).collect();
    assert_eq!(order, ["cut", "fit"]);
    let edge = pipeline.edges()[0];
    assert_eq!(
        (edge.from, edge.to, edge.name, edge.input),
        ("cut", "fit", "split", "training_data")
    );
    assert!(
        pipeline
            .graph_text()
            .contains("cut --split as training_data--> fit")
    );
    assert!(pipeline.values().is_empty(), "{:?}", pipeline.values());
    let run = store.start_run("renamed", "renamed").unwrap();
    let finished = pipeline.run_on(&run, &RunOptions::default()).unwrap();
    assert_eq!(finished.status(), Status::Finished);
    let (_, children) = family(&store, run.id());
    assert_eq!(children["fit"].tags["rows"], "1,2,3");
    assert_eq!(
        children["fit"].tags["training_data"],
        run.dir().join("data/split").display().to_string()
    );
}

#[test]
fn the_builder_checks_connections_as_pipeline_does() {
    use renamed::{cut, fit};
    let error = Pipeline::builder("renamed")
        .step(&fit::STEP)
        .step(&cut::STEP)
        .connect(&fit::STEP, "trainig_data", &cut::STEP, "split")
        .connect(&fit::STEP, "training_data", &cut::STEP, "spilt")
        .build()
        .unwrap_err();
    let Error::Pipeline { problems, .. } = error else {
        panic!("{error}")
    };
    assert_eq!(
        problems,
        [
            "step `fit` has no input `trainig_data`; did you mean `training_data`?",
            "step `cut` has no output `spilt`; did you mean `split`?",
        ]
    );
}

// ---------------------------------------------------------------- reuse and lineage

mod chained {
    use run_runtime::prelude::*;

    type BoxError = Box<dyn std::error::Error>;

    /// Multiplies the number in the file `raw` by `factor`.
    #[aml_step(inputs(raw), outputs(clean = "out/clean"), params(factor = 2))]
    pub fn prep(raw: &Path, clean: &Path, factor: u32) -> Result<(), BoxError> {
        let n: u32 = std::fs::read_to_string(raw)?.trim().parse()?;
        std::fs::write(clean.join("value.txt"), (n * factor).to_string())?;
        Ok(())
    }

    /// Copies the value into a model folder.
    #[aml_step(inputs(clean), outputs(model = "out/model"))]
    pub fn fit(run: &Run, clean: &Path, model: &Path) -> Result<(), BoxError> {
        let value = std::fs::read_to_string(clean.join("value.txt"))?;
        std::fs::create_dir_all(model.join("weights"))?;
        std::fs::write(model.join("weights/value.txt"), &value)?;
        run.tag("value", value)?;
        Ok(())
    }

    /// A side effect: runs every time.
    #[aml_step(inputs(model), reuse = false)]
    pub fn publish(run: &Run, model: &Path) -> Result<(), BoxError> {
        let value = std::fs::read_to_string(model.join("weights/value.txt"))?;
        run.tag("published", value)?;
        Ok(())
    }

    pipeline!(pub chain = [prep, fit, publish], inputs(raw));
}

/// Runs `chain` on `raw` in a new run of `store`; returns how it went and the step runs.
fn chain(
    store: &Store,
    raw: &Path,
    more: &[(&str, &str)],
    no_reuse: bool,
) -> (PipelineRun, BTreeMap<String, RunData>) {
    let run = store.start_run("chain", "chain").unwrap();
    let mut pairs = vec![("raw", raw.to_str().unwrap())];
    pairs.extend_from_slice(more);
    let options = RunOptions {
        values: values(&pairs),
        no_reuse,
        ..RunOptions::default()
    };
    let finished = chained::chain::pipeline()
        .unwrap()
        .run_on(&run, &options)
        .unwrap();
    assert_eq!(finished.status(), Status::Finished);
    let (_, children) = family(store, run.id());
    (finished, children)
}

/// The steps that took an earlier run's outputs, with that run.
fn reused(children: &BTreeMap<String, RunData>) -> BTreeMap<&str, &str> {
    children
        .iter()
        .filter_map(|(name, c)| Some((name.as_str(), c.tags.get("runctx.reused_from")?.as_str())))
        .collect()
}

#[test]
fn a_step_is_reused_when_nothing_it_depends_on_changed_and_records_what_it_read() {
    let (dir, store) = store();
    let raw = dir.path().join("raw.txt");
    std::fs::write(&raw, "3").unwrap();
    let (first, cold) = chain(&store, &raw, &[], false);
    assert!(reused(&cold).is_empty(), "a cold run reuses nothing");
    assert!(first.steps().iter().all(|s| s.reused_from.is_none()));
    assert_eq!(cold["fit"].tags["value"], "6");

    let (second, warm) = chain(&store, &raw, &[], false);
    assert_eq!(
        reused(&warm),
        BTreeMap::from([
            ("prep", cold["prep"].meta.id.as_str()),
            ("fit", cold["fit"].meta.id.as_str()),
        ]),
        "publish has reuse = false"
    );
    assert_eq!(
        second.step("fit").unwrap().reused_from.as_deref(),
        Some(cold["fit"].meta.id.as_str())
    );
    for name in ["prep", "fit", "publish"] {
        assert_eq!(warm[name].status, Status::Finished, "{name}");
        assert_eq!(
            warm[name].tags.get("runctx.reuse_key"),
            cold[name].tags.get("runctx.reuse_key"),
            "{name}"
        );
    }
    assert!(!cold["publish"].tags.contains_key("runctx.reuse_key"));
    // The reused outputs are this pipeline run's, and the step after them read them.
    let parent = warm["fit"].meta.parent_id.clone().unwrap();
    let model = store
        .run_dir(&parent)
        .unwrap()
        .join("data/model/weights/value.txt");
    assert_eq!(std::fs::read_to_string(model).unwrap(), "6");
    assert_eq!(warm["publish"].tags["published"], "6");
    assert_eq!(warm["prep"].properties["factor"], "2");

    // Lineage: each input with its path, size and digest, the same content the same digest.
    let raw_input = &warm["prep"].inputs["raw"];
    assert_eq!(raw_input.path, raw.display().to_string());
    assert_eq!(raw_input.size, 1);
    assert_eq!(
        raw_input.digest,
        "4e07408562bedb8b60ce05c1decfe3ad16b72230967de01f640b7e4729b49fce"
    );
    assert_eq!(
        cold["fit"].inputs["clean"].digest,
        warm["fit"].inputs["clean"].digest
    );
    assert_ne!(
        cold["fit"].inputs["clean"].path,
        warm["fit"].inputs["clean"].path
    );
    assert_eq!(warm["publish"].inputs["model"].size, 1);
}

#[test]
fn a_changed_param_input_or_no_reuse_runs_the_step_again() {
    let (dir, store) = store();
    let raw = dir.path().join("raw.txt");
    std::fs::write(&raw, "3").unwrap();
    let (_, cold) = chain(&store, &raw, &[], false);

    // A param changed: prep runs, and fit, whose input content changed with it.
    let (_, factor) = chain(&store, &raw, &[("factor", "3")], false);
    assert!(reused(&factor).is_empty(), "{:?}", reused(&factor));
    assert_eq!(factor["fit"].tags["value"], "9");

    // The input's content changed, the param back: prep runs; fit's input is again 6 as in
    // the first run, so fit is that run's.
    std::fs::write(&raw, "3\n").unwrap();
    let (_, content) = chain(&store, &raw, &[], false);
    let hits = reused(&content);
    assert!(!hits.contains_key("prep"), "{hits:?}");
    assert_eq!(hits.get("fit"), Some(&cold["fit"].meta.id.as_str()));

    // The same content at another path is the same input.
    let elsewhere = dir.path().join("copy.txt");
    std::fs::write(&elsewhere, "3").unwrap();
    let (_, moved) = chain(&store, &elsewhere, &[], false);
    assert_eq!(
        reused(&moved).get("prep"),
        Some(&cold["prep"].meta.id.as_str())
    );

    // --no-reuse runs everything, and the runs it makes can be reused later.
    let (_, forced) = chain(&store, &raw, &[], true);
    assert!(reused(&forced).is_empty());
    assert!(forced["prep"].tags.contains_key("runctx.reuse_key"));
}

#[test]
fn an_index_entry_that_does_not_check_out_is_a_miss() {
    let (dir, store) = store();
    let raw = dir.path().join("raw.txt");
    std::fs::write(&raw, "5").unwrap();
    let (_, cold) = chain(&store, &raw, &[], false);
    let index = store.root().join(".cache/reuse");
    let key = &cold["prep"].tags["runctx.reuse_key"];
    // An entry naming another step's run, or a path, is not believed.
    std::fs::write(index.join(key), &cold["fit"].meta.id).unwrap();
    std::fs::write(
        index.join(&cold["fit"].tags["runctx.reuse_key"]),
        "../../etc",
    )
    .unwrap();
    let (_, again) = chain(&store, &raw, &[], false);
    assert!(reused(&again).is_empty(), "{:?}", reused(&again));
    assert_eq!(again["publish"].tags["published"], "10");
}

#[test]
fn the_export_marks_a_step_without_reuse_as_not_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("chain");
    std::fs::write(&program, "#!/bin/sh\n").unwrap();
    let pipeline = chained::chain::pipeline().unwrap();
    let mut options = run_runtime::pipeline::AzureMlOptions::for_this_program(&pipeline).unwrap();
    options.program = program;
    options.out = dir.path().join("out");
    options.values = values(&[("raw", "azureml://datastores/d/paths/raw.txt")]);
    let file = pipeline.export_azureml(&options).unwrap();
    let job: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let deterministic = |step: &str| job["jobs"][step]["component"]["is_deterministic"].clone();
    assert_eq!(deterministic("prep"), true);
    assert_eq!(deterministic("fit"), true);
    assert_eq!(deterministic("publish"), false);
}

#[test]
fn steps_in_processes_are_reused_and_a_rebuilt_program_runs_them_again() {
    let (dir, store) = store();
    // A copy of the program: changing it is a rebuild.
    let program = dir.path().join("pipes");
    std::fs::copy(PIPES, &program).unwrap();
    let reused_steps = |finished: &PipelineRun| -> Vec<&str> {
        let mut names: Vec<&str> = finished
            .steps()
            .iter()
            .filter(|s| s.reused_from.is_some())
            .map(|s| s.step)
            .collect();
        names.sort();
        names
    };
    let (cold, _) = numbers_in_processes(&store, &program);
    assert_eq!(cold.status(), Status::Finished);
    assert!(reused_steps(&cold).is_empty());
    let (warm, run) = numbers_in_processes(&store, &program);
    assert_eq!(warm.status(), Status::Finished);
    assert_eq!(
        reused_steps(&warm),
        ["audit", "check", "independent", "make", "total"]
    );
    let report = run.dir().join("data/report/total.txt");
    assert_eq!(std::fs::read_to_string(report).unwrap(), "30");

    // Appending a byte leaves an ELF program runnable: a rebuilt program, nothing reused.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&program)
        .unwrap();
    std::io::Write::write_all(&mut file, b"\0").unwrap();
    drop(file);
    let (rebuilt, _) = numbers_in_processes(&store, &program);
    assert_eq!(rebuilt.status(), Status::Finished);
    assert!(reused_steps(&rebuilt).is_empty());
}
