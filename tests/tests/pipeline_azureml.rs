//! `--export azureml`: the Azure ML pipeline job a pipeline program writes, parsed as YAML and
//! checked against the pipeline itself: every step a command job running the program with
//! `--step`, every input and output wired by name; one step as a command job of its own
//! (`--export azureml --step NAME`). The ignored tests (run by the README test command) check
//! every export with Azure ML's own validation (azure-ai-ml, offline), and that this validation
//! refuses what Azure ML would.

use std::path::{Path, PathBuf};

use run_runtime::pipeline::{AzureMlOptions, Pipeline};
use run_runtime::step::SlotKind;
use serde_json::Value;
use tests::azureml::{assert_valid, validate};
use tests::command;

#[allow(dead_code)]
#[path = "../src/bin/pipes.rs"]
mod pipes;

#[allow(dead_code)]
#[path = "../../examples/iris/main.rs"]
mod iris;

const PIPES: &str = env!("CARGO_BIN_EXE_pipes");
const IRIS: &str = env!("CARGO_BIN_EXE_iris");

/// The workspace: the Iris program's default data path is relative to it.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Exports with `args` into a temporary folder; the parsed YAML and the folder.
fn export(program: &str, args: &[&str]) -> (Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (job, _) = export_into(dir.path(), "pipeline.yml", program, args);
    (job, dir)
}

/// Exports with `args` into `<dir>/job`, expecting the job file `file`; the parsed YAML and the
/// file's path.
fn export_into(dir: &Path, file: &str, program: &str, args: &[&str]) -> (Value, PathBuf) {
    let out_dir = dir.join("job");
    let out = command(program, &dir.join("runs"))
        .current_dir(workspace())
        .args(["--export", "azureml", "--out"])
        .arg(&out_dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let file = out_dir.join(file);
    assert!(
        stdout.contains(&format!("az ml job create --file {}", file.display())),
        "{stdout}"
    );
    (read(&file), file)
}

fn read(file: &Path) -> Value {
    let yaml = std::fs::read_to_string(file).unwrap();
    serde_saphyr::from_str(&yaml).unwrap()
}

/// Checks every step and binding of `job` against `pipeline`.
fn check_job(job: &Value, pipeline: &Pipeline, program: &str) {
    assert_eq!(job["type"], "pipeline");
    assert_eq!(job["display_name"], pipeline.name());
    assert_eq!(
        job["$schema"],
        "https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json"
    );
    let jobs = job["jobs"].as_object().unwrap();
    let names: Vec<&str> = jobs.keys().map(String::as_str).collect();
    let mut expected: Vec<&str> = pipeline.steps().iter().map(|s| s.name).collect();
    expected.sort_unstable();
    let mut names_sorted = names.clone();
    names_sorted.sort_unstable();
    assert_eq!(names_sorted, expected);
    for step in pipeline.steps() {
        let j = &jobs[step.name];
        assert_eq!(j["type"], "command", "{}", step.name);
        let component = &j["component"];
        assert_eq!(component["type"], "command", "{}", step.name);
        assert_eq!(component["code"], "./code");
        let cmd = component["command"].as_str().unwrap();
        assert!(
            cmd.contains(&format!("./{program} --step {}", step.name)),
            "{cmd}"
        );
        for (kind, slot) in step.slots() {
            let side = if kind == SlotKind::Output {
                "outputs"
            } else {
                "inputs"
            };
            assert!(
                cmd.contains(&format!("--{} ${{{{{side}.{}}}}}", slot.name, slot.name)),
                "{} {} missing from {cmd}",
                step.name,
                slot.name
            );
            let declared = &component[side][slot.name]["type"];
            match kind {
                SlotKind::Output => {
                    assert_eq!(j["outputs"][slot.name]["type"], "uri_folder");
                    assert_eq!(*declared, "uri_folder");
                }
                _ => {
                    let binding = j["inputs"][slot.name].as_str().unwrap();
                    match pipeline.producer(slot.name) {
                        Some(from) => {
                            assert_eq!(
                                binding,
                                format!("${{{{parent.jobs.{}.outputs.{}}}}}", from.name, slot.name)
                            );
                            assert_eq!(*declared, "uri_folder");
                        }
                        None => {
                            assert_eq!(binding, format!("${{{{parent.inputs.{}}}}}", slot.name));
                            let input = &job["inputs"][slot.name];
                            assert!(!input.is_null(), "pipeline input {} missing", slot.name);
                            // The component declares the type of the value it is given.
                            let ty = match input {
                                Value::Number(n) if n.is_i64() => "integer",
                                Value::Number(_) => "number",
                                Value::String(_) => "string",
                                data => data["type"].as_str().unwrap(),
                            };
                            assert_eq!(*declared, ty, "{} {}", step.name, slot.name);
                        }
                    }
                }
            }
        }
        // Nothing but its slots.
        let count = |job: &Value, side: &str| job[side].as_object().map_or(0, |o| o.len());
        for job in [j, component] {
            assert_eq!(
                count(job, "inputs") + count(job, "outputs"),
                step.slots().count(),
                "{}",
                step.name
            );
        }
    }
    let inputs = job["inputs"].as_object().unwrap();
    assert_eq!(inputs.len(), pipeline.values().len());
}

#[test]
fn every_step_is_a_command_job_wired_by_name() {
    let (job, dir) = export(PIPES, &["--count", "7", "--compute", "cpu-cluster"]);
    let pipeline = pipes::numbers::pipeline().unwrap();
    check_job(&job, &pipeline, "pipes");
    assert_eq!(job["experiment_name"], "numbers");
    assert_eq!(job["settings"]["default_compute"], "azureml:cpu-cluster");
    assert_eq!(job["settings"]["continue_on_step_failure"], true);
    // Params are pipeline inputs with their values (given, the pipeline's, else the default),
    // typed; a boolean is the text Rust parses, as Azure ML would write `True`.
    assert_eq!(job["inputs"]["count"], 7);
    assert_eq!(job["inputs"]["scale"], 2.0);
    assert!(job["inputs"]["scale"].is_f64());
    assert_eq!(job["inputs"]["limit"], 100.0);
    assert_eq!(job["inputs"]["panic"], "false");
    assert_eq!(job["inputs"]["message"], "hello");
    assert_eq!(
        job["jobs"]["check"]["inputs"]["report"],
        "${{parent.jobs.total.outputs.report}}"
    );
    assert_eq!(
        job["jobs"]["make"]["component"]["environment"]["image"],
        "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
    );
    // Azure ML may reuse every step's earlier result unless told otherwise.
    for step in pipeline.steps() {
        assert_eq!(
            job["jobs"][step.name]["component"]["is_deterministic"],
            true
        );
    }
    // The program is in the code folder the jobs run in.
    let program = dir.path().join("job/code/pipes");
    assert_eq!(
        std::fs::metadata(&program).unwrap().len(),
        std::fs::metadata(PIPES).unwrap().len()
    );
}

#[test]
fn data_inputs_are_uploaded_files_and_a_registered_environment_is_named() {
    let (job, _dir) = export(IRIS, &["--environment", "azureml:rust-runtime@latest"]);
    check_job(&job, &iris::iris::pipeline().unwrap(), "iris");
    let data = &job["inputs"]["irisdata"];
    assert_eq!(data["type"], "uri_file");
    let path = workspace().join("examples/iris/sample_data.csv");
    assert_eq!(data["path"], path.display().to_string());
    assert_eq!(job["settings"]["default_compute"], "azureml:serverless");
    assert_eq!(job["inputs"]["threshold"], 0.9);
    assert_eq!(job["inputs"]["model_name"], "iris-classifier");
    let jobs = &job["jobs"];
    assert_eq!(
        jobs["train"]["inputs"]["split"],
        "${{parent.jobs.prep.outputs.split}}"
    );
    assert_eq!(
        jobs["register"]["inputs"]["model"],
        "${{parent.jobs.train.outputs.model}}"
    );
    assert_eq!(
        jobs["prep"]["component"]["environment"],
        "azureml:rust-runtime@latest"
    );
    assert_eq!(
        jobs["register"]["component"]["command"],
        "chmod +x ./iris && ./iris --step register --model ${{inputs.model}} --threshold \
         ${{inputs.threshold}} --model_name ${{inputs.model_name}}"
    );
}

#[test]
fn an_export_that_cannot_run_on_azure_ml_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(IRIS, &dir.path().join("runs"))
        .current_dir(dir.path())
        .args(["--export", "azureml", "--out"])
        .arg(dir.path().join("job"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "input \"irisdata\": {} does not exist; give --<name> with a local file or folder",
            dir.path().join("examples/iris/sample_data.csv").display()
        )),
        "{stderr}"
    );
    assert!(!dir.path().join("job").exists());
}

#[test]
fn a_step_is_a_command_job_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let split = dir.path().join("split");
    std::fs::create_dir(&split).unwrap();
    let (job, _) = export_into(
        dir.path(),
        "command-train.yml",
        IRIS,
        &["--step", "train", "--split", split.to_str().unwrap()],
    );
    assert_eq!(job["type"], "command");
    assert_eq!(
        job["$schema"],
        "https://azuremlschemas.azureedge.net/latest/commandJob.schema.json"
    );
    assert_eq!(job["display_name"], "train");
    assert_eq!(job["experiment_name"], "iris");
    assert_eq!(
        job["description"],
        "train three classifiers and keep the most accurate"
    );
    assert_eq!(job["compute"], "azureml:serverless");
    assert_eq!(job["code"], "./code");
    assert_eq!(
        job["command"],
        "chmod +x ./iris && ./iris --step train --split ${{inputs.split}} --model ${{outputs.model}}"
    );
    assert_eq!(
        job["environment"]["image"],
        "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
    );
    assert_eq!(job["inputs"]["split"]["type"], "uri_folder");
    assert_eq!(job["inputs"]["split"]["path"], split.display().to_string());
    assert_eq!(job["outputs"]["model"]["type"], "uri_folder");
    assert_eq!(
        std::fs::metadata(dir.path().join("job/code/iris"))
            .unwrap()
            .len(),
        std::fs::metadata(IRIS).unwrap().len()
    );

    // Params keep their types and defaults; a remote input is taken as given; the compute named.
    let (job, _) = export_into(
        dir.path(),
        "command-register.yml",
        IRIS,
        &[
            "--step=register",
            "--model",
            "azureml://datastores/workspaceblobstore/paths/iris/model/",
            "--compute",
            "cpu-cluster",
        ],
    );
    assert_eq!(job["compute"], "azureml:cpu-cluster");
    assert_eq!(job["inputs"]["threshold"], 0.9);
    assert_eq!(job["inputs"]["model_name"], "iris-classifier");
    assert_eq!(job["inputs"]["model"]["type"], "uri_folder");
    assert!(job.get("outputs").is_none(), "{job}");
}

#[test]
fn a_step_export_says_what_is_missing_or_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |args: &[&str]| {
        let out = command(IRIS, &dir.path().join("runs"))
            .current_dir(workspace())
            .args(["--export", "azureml", "--out"])
            .arg(dir.path().join("job"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = refused(&["--step", "register"]);
    assert!(
        stderr.contains(
            "input \"model\" of step \"register\" has no value for the job: in the pipeline, \
             step \"train\" writes it; give --model <local path or azureml:// URI>"
        ),
        "{stderr}"
    );
    let stderr = refused(&["--step", "trian"]);
    assert!(
        stderr.contains("--step \"trian\" is not a step of the pipeline; did you mean \"train\"?"),
        "{stderr}"
    );
    let stderr = refused(&[
        "--step",
        "train",
        "--split",
        ".",
        "--model",
        "m",
        "--treshold",
        "1",
    ]);
    assert!(
        stderr.contains(
            "--model cannot be given: it is an output of step \"train\", whose folder Azure ML \
             provides"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("--treshold is not an input or param of step \"train\"; they are split"),
        "{stderr}"
    );
    let stderr = refused(&["--step", "register", "--model", ".", "--threshold", "high"]);
    assert!(
        stderr.contains(
            "--threshold \"high\" is not a valid f64 (param of step \"register\"): invalid float \
             literal"
        ),
        "{stderr}"
    );
    assert!(!dir.path().join("job").exists());
}

#[test]
#[ignore = "needs azure-ai-ml (the venv); run via the README test command"]
fn azure_ml_validates_every_export() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| {
        let sub = dir.path().join(name);
        std::fs::create_dir(&sub).unwrap();
        sub
    };
    let split = at("split");
    let split = split.to_str().unwrap();
    let mut files = vec![
        export_into(
            &at("pipes"),
            "pipeline.yml",
            PIPES,
            &["--count", "7", "--compute", "cpu-cluster"],
        )
        .1,
        export_into(
            &at("iris"),
            "pipeline.yml",
            IRIS,
            &["--environment", "azureml:rust-runtime@latest"],
        )
        .1,
        export_into(&at("prep"), "command-prep.yml", IRIS, &["--step", "prep"]).1,
        export_into(
            &at("train"),
            "command-train.yml",
            IRIS,
            &["--step", "train", "--split", split],
        )
        .1,
        export_into(
            &at("register"),
            "command-register.yml",
            IRIS,
            &["--step", "register", "--model", split, "--compute", "gpu"],
        )
        .1,
        export_into(
            &at("check"),
            "command-check.yml",
            PIPES,
            &["--step", "check", "--report", split, "--panic", "true"],
        )
        .1,
    ];
    // A step whose result Azure ML must not reuse, through the library.
    let pipeline = pipes::numbers::pipeline().unwrap();
    let mut options = AzureMlOptions::for_this_program(&pipeline).unwrap();
    options.program = PIPES.into();
    options.out = at("library").join("job");
    options.reuse.insert("check".into(), false);
    let file = pipeline.export_azureml(&options).unwrap();
    let job = read(&file);
    assert_eq!(job["jobs"]["check"]["component"]["is_deterministic"], false);
    assert_eq!(job["jobs"]["make"]["component"]["is_deterministic"], true);
    files.push(file);
    assert_valid(&files.iter().map(PathBuf::as_path).collect::<Vec<_>>());
}

#[test]
#[ignore = "needs azure-ai-ml (the venv); run via the README test command"]
fn azure_ml_refuses_a_pipeline_job_without_compute() {
    let dir = tempfile::tempdir().unwrap();
    let (mut job, file) = export_into(dir.path(), "pipeline.yml", IRIS, &[]);
    job["settings"]
        .as_object_mut()
        .unwrap()
        .remove("default_compute");
    let without = file.with_file_name("without-compute.yml");
    std::fs::write(&without, serde_saphyr::to_string(&job).unwrap()).unwrap();
    let verdicts = validate(&[&file, &without]);
    assert!(verdicts[0].passed, "{:?}", verdicts[0].errors);
    assert!(!verdicts[1].passed);
    assert!(
        verdicts[1]
            .errors
            .iter()
            .any(|e| e.ends_with("Compute not set")),
        "{:?}",
        verdicts[1].errors
    );
}

#[test]
#[ignore = "needs azure-ai-ml (the venv); run via the README test command"]
fn azure_ml_validates_a_sweep_export() {
    use run_runtime::sweep::SweepSpec;
    let dir = tempfile::tempdir().unwrap();
    let sweep = "\
type: sweep
display_name: lr-sweep
compute: cpu-cluster
trial:
  command: ./train --lr ${{search_space.lr}} --epochs ${{search_space.epochs}} --layers ${{search_space.layers}} --dropout ${{search_space.dropout}} --width ${{search_space.width}}
  environment: azureml:rust-runtime@latest
search_space:
  lr: {type: loguniform, min_value: -6.9, max_value: -0.7}
  epochs: {type: choice, values: [100, 200]}
  layers: {type: randint, upper: 4}
  dropout: {type: uniform, min_value: 0, max_value: 0.5}
  width: {type: quniform, min_value: 8, max_value: 128, q: 8}
sampling_algorithm: {type: random, seed: 7}
objective: {goal: minimize, primary_metric: loss}
limits: {max_total_trials: 20, max_concurrent_trials: 4, timeout: 3600, trial_timeout: 600}
early_termination: {type: bandit, slack_factor: 0.1, delay_evaluation: 5}
";
    let median = sweep
        .replace("{type: random, seed: 7}", "grid")
        .replace(
            "{type: loguniform, min_value: -6.9, max_value: -0.7}",
            "{type: choice, values: [0.01, 0.1]}",
        )
        .replace(
            "{type: randint, upper: 4}",
            "{type: choice, values: [1, 2]}",
        )
        .replace(
            "{type: uniform, min_value: 0, max_value: 0.5}",
            "{type: choice, values: [0.0, 0.5]}",
        )
        .replace(
            "{type: quniform, min_value: 8, max_value: 128, q: 8}",
            "{type: choice, values: [8, 16]}",
        )
        .replace(
            "{type: bandit, slack_factor: 0.1, delay_evaluation: 5}",
            "{type: median_stopping, evaluation_interval: 2}",
        )
        .replace("compute: cpu-cluster\n", "");
    let truncation = sweep.replace(
        "{type: bandit, slack_factor: 0.1, delay_evaluation: 5}",
        "{type: truncation_selection, truncation_percentage: 20}",
    );
    let tpe = sweep.replace("{type: random, seed: 7}", "tpe").replace(
        "early_termination: {type: bandit, slack_factor: 0.1, delay_evaluation: 5}\n",
        "",
    );
    let mut files = Vec::new();
    for (name, text) in [
        ("bandit", sweep.to_owned()),
        ("median", median),
        ("truncation", truncation),
        ("tpe", tpe),
    ] {
        let job = SweepSpec::from_yaml(&text).unwrap().to_azureml().unwrap();
        let file = dir.path().join(format!("sweep-{name}.yml"));
        std::fs::write(&file, &job).unwrap();
        files.push(file);
    }
    let tpe_job: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&files[3]).unwrap()).unwrap();
    assert_eq!(tpe_job["type"], "sweep");
    assert_eq!(tpe_job["sampling_algorithm"]["type"], "bayesian");
    assert_eq!(tpe_job["compute"], "azureml:cpu-cluster");
    assert_valid(&files.iter().map(PathBuf::as_path).collect::<Vec<_>>());
}
