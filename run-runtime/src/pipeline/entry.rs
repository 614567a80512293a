//! A pipeline as a program: the command line of `<pipeline>::main()`.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use crate::error::Status;
use crate::step::SlotKind;
use crate::store::closest;

use super::azureml::AzureMlOptions;
use super::exec::{Mode, PipelineRun, RunOptions};
use super::{Pipeline, PipelineDef};

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Command {
    Run {
        values: BTreeMap<String, String>,
        processes: bool,
        max_parallel: Option<NonZeroUsize>,
        no_reuse: bool,
    },
    Step {
        name: String,
        args: Vec<String>,
    },
    List,
    Graph {
        dot: bool,
    },
    Export {
        values: BTreeMap<String, String>,
        /// `--step NAME`: that step as a command job; otherwise the pipeline job.
        step: Option<String>,
        out: Option<PathBuf>,
        compute: Option<String>,
        environment: Option<String>,
    },
    Help,
}

impl PipelineDef {
    /// Runs the program: the whole pipeline with no argument, or what the arguments ask for
    /// (`--help` lists it all). Exit code 0 on success, 1 when a step failed, 2 for a bad
    /// command line or a pipeline that cannot start.
    ///
    /// ```text
    /// iris                                run the pipeline, each step in this process
    /// iris --processes                    each step in a process of its own
    /// iris --max-parallel 2               at most 2 steps at once (default: the cores)
    /// iris --no-reuse                     run every step, even where an earlier run matches
    /// iris --threshold 0.95               override a pipeline input or param (--NAME VALUE)
    /// iris --step train [--NAME VALUE]    run one step, as an engine does
    /// iris --list                         the steps, with their inputs, outputs and params
    /// iris --graph [dot]                  the graph, as text or as Graphviz dot
    /// iris --export azureml [--out DIR] [--compute NAME] [--environment ENV]
    /// iris --export azureml --step train [--split PATH]...   one step as a command job
    /// ```
    pub fn main(&self) -> ExitCode {
        self.main_with_args(std::env::args().skip(1))
    }

    /// [`PipelineDef::main`] with these arguments instead of the program's.
    pub fn main_with_args(&self, args: impl IntoIterator<Item = String>) -> ExitCode {
        let pipeline = match self.pipeline() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        pipeline.main_with_args(args)
    }
}

impl Pipeline {
    /// [`PipelineDef::main`] for a pipeline built at run time.
    pub fn main_with_args(&self, args: impl IntoIterator<Item = String>) -> ExitCode {
        let args: Vec<String> = args.into_iter().collect();
        let command = match self.parse(&args) {
            Ok(c) => c,
            Err(message) => {
                eprintln!(
                    "{message}\n\n(`{} --help` shows the options)",
                    crate::source::program_name()
                );
                return ExitCode::from(2);
            }
        };
        match command {
            Command::Help => print(&self.usage()),
            Command::List => print(&self.describe()),
            Command::Graph { dot: false } => print(&self.graph_text()),
            Command::Graph { dot: true } => print(&self.to_dot()),
            Command::Step { name, args } => self.run_step(&name, args),
            Command::Export {
                values,
                step,
                out,
                compute,
                environment,
            } => self.export(values, step, out, compute, environment),
            Command::Run {
                values,
                processes,
                max_parallel,
                no_reuse,
            } => self.run_all(values, processes, max_parallel, no_reuse),
        }
    }

    fn parse(&self, args: &[String]) -> Result<Command, String> {
        if args.iter().any(|a| a == "--help" || a == "-h") {
            return Ok(Command::Help);
        }
        // The export's own options, wherever they are on its command line: with it, `--step`
        // chooses the step to export.
        let exporting = args
            .iter()
            .any(|a| a == "--export" || a.starts_with("--export="));
        if let Some(first) = args.first()
            && is_step_option(first)
            && !exporting
        {
            let (name, rest) = match first.strip_prefix("--step=") {
                Some(name) => (name.to_owned(), &args[1..]),
                None => match args.get(1) {
                    Some(name) => (name.clone(), &args[2..]),
                    None => return Err(format!("--step needs a step name: {}", self.names())),
                },
            };
            return Ok(Command::Step {
                name,
                args: rest.to_vec(),
            });
        }
        let mut values = BTreeMap::new();
        let mut modes: Vec<&str> = Vec::new();
        let (mut processes, mut dot, mut no_reuse) = (false, false, false);
        let mut max_parallel = None;
        let (mut out, mut compute, mut environment, mut step) = (None, None, None, None);
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            let Some(option) = arg.strip_prefix("--") else {
                return Err(format!(
                    "unexpected argument {arg:?}; give values as --NAME VALUE"
                ));
            };
            let (key, inline) = match option.split_once('=') {
                Some((k, v)) => (k, Some(v.to_owned())),
                None => (option, None),
            };
            let value = |what: &str, rest: &mut std::slice::Iter<'_, String>| {
                inline
                    .clone()
                    .or_else(|| rest.next().cloned())
                    .ok_or_else(|| format!("--{key} needs a value: --{key} {what}"))
            };
            match key {
                "step" if exporting => {
                    if step.replace(value("NAME", &mut rest)?).is_some() {
                        return Err("--step is given twice; export one step at a time".into());
                    }
                }
                "step" => return Err("--step comes first: --step NAME [--NAME VALUE]...".into()),
                "list" => modes.push("--list"),
                "processes" => processes = true,
                "no-reuse" | "no_reuse" => no_reuse = true,
                "max-parallel" | "max_parallel" => {
                    max_parallel = Some(parse_max_parallel(&value("N", &mut rest)?)?);
                }
                "graph" => {
                    modes.push("--graph");
                    let format = match &inline {
                        Some(f) => Some(f.clone()),
                        None => match rest.clone().next().map(String::as_str) {
                            Some("dot" | "text") => rest.next().cloned(),
                            _ => None,
                        },
                    };
                    dot = match format.as_deref() {
                        None | Some("text") => false,
                        Some("dot") => true,
                        Some(other) => {
                            return Err(format!("--graph {other:?}: use --graph, or --graph dot"));
                        }
                    };
                }
                "export" => {
                    modes.push("--export");
                    let target = value("azureml", &mut rest)?;
                    if target != "azureml" {
                        return Err(format!(
                            "--export {target:?} is not a target; the one there is: --export azureml"
                        ));
                    }
                }
                "out" if exporting => out = Some(PathBuf::from(value("DIR", &mut rest)?)),
                "compute" if exporting => compute = Some(value("NAME", &mut rest)?),
                "environment" if exporting => environment = Some(value("ENV", &mut rest)?),
                _ => {
                    let name = key.replace('-', "_");
                    let given = match self.value(&name) {
                        Some(v) if v.kind == SlotKind::Param => value("VALUE", &mut rest)?,
                        Some(_) => value("PATH", &mut rest)?,
                        // A step exported alone takes its own inputs and params, checked
                        // against it by the export.
                        None if exporting && args.iter().any(|a| is_step_option(a)) => {
                            value("VALUE", &mut rest)?
                        }
                        None => return Err(self.unknown_option(key, &name)),
                    };
                    if values.insert(name, given).is_some() {
                        return Err(format!("--{key} is given twice; give it once"));
                    }
                }
            }
        }
        if modes.len() > 1 {
            return Err(format!(
                "{} cannot go together; choose one",
                modes.join(" and ")
            ));
        }
        let running = [
            ("--processes", processes),
            ("--max-parallel", max_parallel.is_some()),
            ("--no-reuse", no_reuse),
        ];
        if let (Some((option, _)), Some(mode)) =
            (running.iter().find(|(_, given)| *given), modes.first())
        {
            return Err(format!(
                "{option} runs the pipeline; it does not go with {mode}"
            ));
        }
        Ok(match modes.first().copied() {
            Some("--list") => Command::List,
            Some("--graph") => Command::Graph { dot },
            Some(_) => Command::Export {
                values,
                step,
                out,
                compute,
                environment,
            },
            None => Command::Run {
                values,
                processes,
                max_parallel,
                no_reuse,
            },
        })
    }

    fn unknown_option(&self, given: &str, name: &str) -> String {
        if let Some(step) = self.producer(name) {
            return format!(
                "--{given} cannot be given: it is an output of step {:?}, whose folder is under \
                 the pipeline's run",
                step.name
            );
        }
        let mut names: Vec<String> = self.values().iter().map(|v| v.name.clone()).collect();
        names.extend(
            [
                "step",
                "list",
                "graph",
                "export",
                "processes",
                "max-parallel",
                "no-reuse",
                "help",
            ]
            .map(String::from),
        );
        match closest(name, &names).first() {
            Some(similar) => format!("unknown option --{given}; did you mean --{similar}?"),
            None => format!(
                "unknown option --{given}; the pipeline's inputs and params are {}",
                self.values()
                    .iter()
                    .map(|v| format!("--{}", v.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn names(&self) -> String {
        let names: Vec<&str> = self.steps().iter().map(|s| s.name).collect();
        format!("the steps are {}", names.join(", "))
    }

    fn run_step(&self, name: &str, args: Vec<String>) -> ExitCode {
        let Some(step) = self.step(name) else {
            let names: Vec<String> = self.steps().iter().map(|s| s.name.to_owned()).collect();
            let hint = match closest(name, &names).first() {
                Some(similar) => format!("did you mean {similar:?}?"),
                None => self.names(),
            };
            eprintln!("pipeline {:?} has no step {name:?}; {hint}", self.name());
            return ExitCode::from(2);
        };
        if let Err(message) = check_parent() {
            eprintln!("step {name:?}: {message}");
            return ExitCode::from(2);
        }
        step.main_with_args(args)
    }

    fn export(
        &self,
        values: BTreeMap<String, String>,
        step: Option<String>,
        out: Option<PathBuf>,
        compute: Option<String>,
        environment: Option<String>,
    ) -> ExitCode {
        let mut options = match AzureMlOptions::for_this_program(self) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        options.values = values;
        if let Some(out) = out {
            options.out = out;
        }
        options.compute = compute;
        if let Some(environment) = environment {
            options.environment = environment;
        }
        let (exported, file) = match &step {
            Some(step) => (
                self.export_azureml_step(step, &options),
                format!("command job of step {step}"),
            ),
            None => (self.export_azureml(&options), String::from("pipeline job")),
        };
        match exported {
            Ok(path) => {
                println!(
                    "wrote the Azure ML {file} {} and the program into {}\nsubmit it with: az \
                     ml job create --file {}",
                    path.display(),
                    options.out.join("code").display(),
                    path.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        }
    }

    fn run_all(
        &self,
        values: BTreeMap<String, String>,
        processes: bool,
        max_parallel: Option<NonZeroUsize>,
        no_reuse: bool,
    ) -> ExitCode {
        let mode = match processes {
            false => Mode::InProcess,
            true => match Mode::processes() {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            },
        };
        let options = RunOptions {
            values,
            mode,
            progress: true,
            max_parallel,
            no_reuse,
        };
        let started = Instant::now();
        match self.run(&options) {
            Ok(finished) => {
                print(&summary(self, &finished, started));
                match finished.status() {
                    Status::Finished => ExitCode::SUCCESS,
                    _ => ExitCode::FAILURE,
                }
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        }
    }

    /// What `--help` prints.
    pub fn usage(&self) -> String {
        let program = crate::source::program_name();
        let mut text = format!("pipeline {}", self.name());
        if let Some(d) = self.description() {
            text.push_str(&format!(": {d}"));
        }
        text.push_str(&format!(
            "\n\nusage:\n\
             \x20 {program} [--NAME VALUE]...             run the pipeline, each step in this process\n\
             \x20 {program} --processes [--NAME VALUE]... run each step in a process of its own\n\
             \x20 {program} --max-parallel N [...]        at most N steps at once (default: the cores)\n\
             \x20 {program} --step STEP [--NAME VALUE]... run one step, as an engine does\n\
             \x20 {program} --list                        the steps, with their inputs, outputs and params\n\
             \x20 {program} --graph [dot]                 the graph, as text or as Graphviz dot\n\
             \x20 {program} --export azureml [--out DIR] [--compute NAME] [--environment ENV]\n\
             \x20     write an Azure ML pipeline job (DIR/pipeline.yml, default ./{}-azureml)\n\
             \x20 {program} --export azureml --step STEP [--NAME VALUE]... [--out DIR] ...\n\
             \x20     write STEP as an Azure ML command job (DIR/command-STEP.yml)\n\
             \x20 {program} --help                        this text\n",
            self.name()
        ));
        text.push_str(
            "\ninputs and params of the pipeline (--NAME VALUE; each also read from the \
             environment variable shown):\n",
        );
        let rows: Vec<(String, String)> = self.values().iter().map(|v| self.value_row(v)).collect();
        let width = rows.iter().map(|(o, _)| o.len()).max().unwrap_or(0);
        for (option, what) in rows {
            text.push_str(&format!("  {option:width$}  {what}\n"));
        }
        text.push_str(
            "\nRuns go to the local store ($RUNCTX_HOME, else ./runs), and to the tracking \
             server when MLFLOW_TRACKING_URI is set.\n",
        );
        text
    }

    fn value_row(&self, v: &super::PipelineValue) -> (String, String) {
        let ty = match v.kind {
            SlotKind::Param => self
                .steps()
                .iter()
                .find_map(|s| s.param(&v.name))
                .map_or("value", |slot| slot.ty),
            _ => "path",
        };
        let value = match &v.value {
            Some(value) => format!(", {value:?} (pipeline)"),
            None => match self.default_of(&v.name) {
                Some(d) => format!(", default {d:?}"),
                None => String::from(", required"),
            },
        };
        (
            format!("--{} <{ty}>", v.name),
            format!(
                "{} of {}{value}; ${}",
                v.kind,
                v.steps.join(", "),
                v.kind.env_var(&v.name)
            ),
        )
    }

    /// The first default the steps give for the value `name`.
    pub(super) fn default_of(&self, name: &str) -> Option<&'static str> {
        self.steps()
            .iter()
            .find_map(|s| s.slot(name).and_then(|(_, slot)| slot.default))
    }
}

/// `--step` or `--step=NAME`.
fn is_step_option(arg: &str) -> bool {
    arg == "--step" || arg.starts_with("--step=")
}

/// The value of `--max-parallel`: a whole number of steps, at least 1.
fn parse_max_parallel(text: &str) -> Result<NonZeroUsize, String> {
    text.parse().map_err(|_| {
        format!(
            "--max-parallel {text:?} is not a number of steps: give a whole number of at least 1, \
             such as --max-parallel 2 (without it, as many steps run at once as there are cores)"
        )
    })
}

/// In a step process a launcher started, the parent it names must be the run's parent.
fn check_parent() -> Result<(), String> {
    let settings = crate::process::process()
        .settings()
        .map_err(|e| e.to_string())?;
    let (Some(parent), Some(run)) = (&settings.parent_run_id, &settings.local_run_id) else {
        return Ok(());
    };
    let store = crate::store::Store::new(&settings.home);
    let Ok(meta) = store.meta(run) else {
        // The run is not in this store: the step's own entry point says so.
        return Ok(());
    };
    match meta.parent_id.as_deref() {
        Some(p) if p == parent.as_str() => Ok(()),
        other => Err(format!(
            "RUNCTX_PARENT_RUN_ID={parent:?} is not the parent of RUNCTX_RUN_ID={run:?}, whose \
             parent is {}; the launcher set them wrongly",
            other.map_or("none".to_owned(), |p| format!("{p:?}"))
        )),
    }
}

fn print(text: &str) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot write to standard output: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The end of a run of the whole pipeline: how it went, where the runs are, how to look.
fn summary(pipeline: &Pipeline, finished: &PipelineRun, started: Instant) -> String {
    let run = finished.run();
    let mut text = format!(
        "pipeline {} {} in {:.2} s\n",
        pipeline.name(),
        finished.status(),
        started.elapsed().as_secs_f64()
    );
    let store = run.store().root().display().to_string();
    match (run.tracking_uri(), run.remote_id()) {
        (Some(uri), Some(remote)) => text.push_str(&format!(
            "\nThe runs are on {uri}, experiment {:?}: the pipeline's run {remote} and a child run \
             per step (copies in the local store {store}).\n",
            run.experiment()
        )),
        _ => text.push_str(&format!(
            "\nThe runs are in the local store {store}: the pipeline's run {} (experiment {:?}) \
             and a child run per step.\n",
            run.id(),
            run.experiment()
        )),
    }
    let id = run.id();
    text.push_str(&format!(
        "Look at them with runctx (install: cargo install runctx, or cargo install --path run-cli \
         from a clone; or run it in place: cargo run -p runctx -- list):\n\
         \x20 runctx list\n\
         \x20 runctx show {id}\n\
         \x20 runctx report {id} -o {}.html\n",
        pipeline.name()
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::fixture;

    fn pipeline() -> Pipeline {
        Pipeline::builder("flow")
            .step(&fixture::STEP)
            .runtime_input("irisdata")
            .build()
            .unwrap()
    }

    fn parse(args: &[&str]) -> Result<Command, String> {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        pipeline().parse(&args)
    }

    #[test]
    fn the_command_line_chooses_what_to_do() {
        assert_eq!(
            parse(&[]).unwrap(),
            Command::Run {
                values: BTreeMap::new(),
                processes: false,
                max_parallel: None,
                no_reuse: false,
            }
        );
        assert_eq!(
            parse(&["--threshold", "0.5", "--processes", "--max-parallel", "3"]).unwrap(),
            Command::Run {
                values: BTreeMap::from([("threshold".into(), "0.5".into())]),
                processes: true,
                max_parallel: NonZeroUsize::new(3),
                no_reuse: false,
            }
        );
        assert_eq!(
            parse(&["--no-reuse"]).unwrap(),
            Command::Run {
                values: BTreeMap::new(),
                processes: false,
                max_parallel: None,
                no_reuse: true,
            }
        );
        assert_eq!(
            parse(&["--step", "train", "--x", "1"]).unwrap(),
            Command::Step {
                name: "train".into(),
                args: vec!["--x".into(), "1".into()]
            }
        );
        assert_eq!(
            parse(&["--graph", "dot"]).unwrap(),
            Command::Graph { dot: true }
        );
        assert_eq!(parse(&["--graph"]).unwrap(), Command::Graph { dot: false });
        assert_eq!(parse(&["--list", "--help"]).unwrap(), Command::Help);
        assert!(matches!(
            parse(&["--export", "azureml", "--out", "x", "--threshold=1"]).unwrap(),
            Command::Export { out: Some(_), .. }
        ));
        // With --export, --step chooses the step, wherever it is, and takes its own values.
        assert_eq!(
            parse(&[
                "--step",
                "train",
                "--export",
                "azureml",
                "--model-input",
                "m"
            ])
            .unwrap(),
            Command::Export {
                values: BTreeMap::from([("model_input".into(), "m".into())]),
                step: Some("train".into()),
                out: None,
                compute: None,
                environment: None,
            }
        );
    }

    #[test]
    fn command_line_mistakes_say_the_fix() {
        let err = |args: &[&str]| parse(args).unwrap_err();
        assert_eq!(
            err(&["--treshold", "1"]),
            "unknown option --treshold; did you mean --threshold?"
        );
        assert_eq!(
            err(&["--model_output", "x"]),
            "--model_output cannot be given: it is an output of step \"train\", whose folder \
             is under the pipeline's run"
        );
        assert_eq!(
            err(&["--threshold"]),
            "--threshold needs a value: --threshold VALUE"
        );
        assert_eq!(
            err(&["--list", "--graph"]),
            "--list and --graph cannot go together; choose one"
        );
        assert_eq!(
            err(&["--export", "azureml", "--step", "train", "--step=train"]),
            "--step is given twice; export one step at a time"
        );
        assert_eq!(
            err(&["--export", "azureml", "--model-input", "m"]),
            "unknown option --model-input; the pipeline's inputs and params are --irisdata, \
             --threshold"
        );
        assert_eq!(
            err(&["--export", "kubeflow"]),
            "--export \"kubeflow\" is not a target; the one there is: --export azureml"
        );
        for bad in ["0", "-1", "two", "1.5"] {
            assert_eq!(
                err(&["--max-parallel", bad]),
                format!(
                    "--max-parallel {bad:?} is not a number of steps: give a whole number of at \
                     least 1, such as --max-parallel 2 (without it, as many steps run at once as \
                     there are cores)"
                )
            );
        }
        assert_eq!(
            err(&["--list", "--max-parallel=2"]),
            "--max-parallel runs the pipeline; it does not go with --list"
        );
        assert_eq!(
            err(&["--max-paralel", "2"]),
            "unknown option --max-paralel; did you mean --max-parallel?"
        );
        assert_eq!(
            err(&["data.csv"]),
            "unexpected argument \"data.csv\"; give values as --NAME VALUE"
        );
    }
}
