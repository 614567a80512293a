//! A step as a program: the command line, the run of the entry point, the exit code, and
//! the dispatcher of a program that holds several steps.

use std::process::ExitCode;

use super::registry::{find, steps};
use super::resolve::unknown_name;
use super::{Bindings, SlotKind, Step, StepError, StepErrorKind};
use crate::context::current_step;
use crate::run::Run;

impl Step {
    /// Runs the step as the program: bindings from the command line, the environment and the
    /// defaults, on the process's context run. Exit code 0 when it succeeds, 1 when it fails,
    /// 2 when it cannot start (a bad command line, a missing or bad value, no run).
    pub fn main(&self) -> ExitCode {
        self.main_with_args(std::env::args().skip(1))
    }

    /// [`Step::main`] with these arguments instead of the program's.
    pub fn main_with_args(&self, args: impl IntoIterator<Item = String>) -> ExitCode {
        match self.start(args) {
            Ok((run, bindings)) => exit_code(self.call(&run, &bindings)),
            Err(code) => code,
        }
    }

    /// [`Step::main`] for an async step that needs the caller's executor.
    pub async fn main_async(&self) -> ExitCode {
        match self.start(std::env::args().skip(1)) {
            Ok((run, bindings)) => exit_code(self.call_async(&run, &bindings).await),
            Err(code) => code,
        }
    }

    fn start(&self, args: impl IntoIterator<Item = String>) -> Result<(Run, Bindings), ExitCode> {
        let bindings = match parse_args(self, args) {
            Ok(Some(bindings)) => bindings,
            Ok(None) => {
                println!("{}", self.usage());
                return Err(ExitCode::SUCCESS);
            }
            Err(e) => {
                eprintln!("{e}\n\n{}", self.usage());
                return Err(ExitCode::from(2));
            }
        };
        match entry_run(self) {
            Ok(run) => Ok((run, bindings)),
            Err(e) => {
                eprintln!("step {:?}: no run to log to: {e}", self.name);
                Err(ExitCode::from(2))
            }
        }
    }

    /// What `--help` prints: the step, its options, their defaults and variables.
    pub fn usage(&self) -> String {
        let mut text = format!("step {}", self.name);
        if let Some(d) = self.description {
            text.push_str(&format!(": {d}"));
        }
        text.push_str("\n\noptions (each also read from the environment variable shown):\n");
        let rows: Vec<(String, String)> = self
            .slots()
            .map(|(kind, slot)| {
                let value = match kind {
                    SlotKind::Param => slot.ty,
                    _ => "path",
                };
                // A param's default applies online too; a path's only offline.
                let default = match (slot.default, kind) {
                    (Some(d), SlotKind::Param) => format!(", default {d:?}"),
                    (Some(d), _) => format!(", default {d:?} (offline)"),
                    (None, _) => String::new(),
                };
                (
                    format!("--{} <{value}>", slot.name),
                    format!("{kind}{default}; ${}", kind.env_var(slot.name)),
                )
            })
            .collect();
        let width = rows.iter().map(|(o, _)| o.len()).max().unwrap_or(0);
        for (option, what) in rows {
            text.push_str(&format!("  {option:width$}  {what}\n"));
        }
        text
    }
}

fn exit_code(result: Result<(), StepError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            match e.kind {
                StepErrorKind::Binding | StepErrorKind::Usage => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

/// The run of the entry point: the process's context run, except that a step naming an
/// experiment starts it in that experiment, named after the step, when the environment names
/// no run and no experiment.
fn entry_run(step: &Step) -> crate::Result<Run> {
    match step.experiment {
        Some(experiment) if current_step().is_none() => {
            crate::context::process_run_in(experiment, step.name)
        }
        _ => Run::get_context(),
    }
}

/// Reads `--name value` and `--name=value` pairs; `Ok(None)` for `--help`.
fn parse_args(
    step: &Step,
    args: impl IntoIterator<Item = String>,
) -> Result<Option<Bindings>, StepError> {
    let usage = |message: String| StepError::new(StepErrorKind::Usage, message);
    let mut bindings = Bindings::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            return Ok(None);
        }
        let Some(option) = arg.strip_prefix("--") else {
            return Err(usage(format!(
                "step {:?}: unexpected argument {arg:?}; give values as --name value",
                step.name
            )));
        };
        let (given, inline) = match option.split_once('=') {
            Some((k, v)) => (k, Some(v.to_owned())),
            None => (option, None),
        };
        let name = given.replace('-', "_");
        let Some((kind, slot)) = step.slot(&name) else {
            return Err(usage(unknown_name(step, &format!("--{given}"), &name)));
        };
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None => {
                return Err(usage(format!(
                    "step {:?}: --{given} needs a value: --{given} <{}>",
                    step.name,
                    if kind == SlotKind::Param {
                        slot.ty
                    } else {
                        "path"
                    }
                )));
            }
        };
        if bindings.insert(slot.name.to_owned(), value).is_some() {
            return Err(usage(format!(
                "step {:?}: --{given} is given twice; give it once",
                step.name
            )));
        }
    }
    Ok(Some(bindings))
}

/// The entry point of a program holding several steps: `program <step> [--name value]...` runs
/// the registered step named by the first argument as [`Step::main`] would.
pub fn dispatch() -> ExitCode {
    dispatch_args(std::env::args().skip(1))
}

/// [`dispatch`] with these arguments instead of the program's.
pub fn dispatch_args(args: impl IntoIterator<Item = String>) -> ExitCode {
    let mut args = args.into_iter();
    let listing = || {
        let names: Vec<&str> = steps().iter().map(|s| s.name).collect();
        format!(
            "usage: <program> <step> [--name value]...\nsteps: {}",
            names.join(", ")
        )
    };
    match args.next() {
        None => {
            eprintln!("{}", listing());
            ExitCode::from(2)
        }
        Some(h) if h == "--help" || h == "-h" => {
            println!("{}", listing());
            ExitCode::SUCCESS
        }
        Some(name) => match find(&name) {
            Ok(step) => step.main_with_args(args),
            Err(e) => {
                eprintln!("{e}\n{}", listing());
                ExitCode::from(2)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::fixture::{STEP, given};

    #[test]
    fn the_command_line_takes_both_forms_and_hyphens() {
        let args = [
            "--irisdata",
            "a.csv",
            "--model-output=out",
            "--threshold",
            "-1",
        ];
        let b = parse_args(&STEP, args.map(String::from)).unwrap().unwrap();
        assert_eq!(
            b,
            given(&[
                ("irisdata", "a.csv"),
                ("model_output", "out"),
                ("threshold", "-1")
            ])
        );
        assert!(parse_args(&STEP, ["-h".to_owned()]).unwrap().is_none());
    }

    #[test]
    fn command_line_mistakes_say_the_fix() {
        let err = |args: &[&str]| {
            parse_args(&STEP, args.iter().map(|a| (*a).to_owned()))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&["data.csv"]),
            "step \"train\": unexpected argument \"data.csv\"; give values as --name value"
        );
        assert_eq!(
            err(&["--threshold"]),
            "step \"train\": --threshold needs a value: --threshold <f64>"
        );
        assert_eq!(
            err(&["--irisdata", "a", "--irisdata", "b"]),
            "step \"train\": --irisdata is given twice; give it once"
        );
        assert_eq!(
            err(&["--iris", "a"]),
            "step \"train\" has no input, output or param --iris; did you mean \"irisdata\"?"
        );
    }

    #[test]
    fn usage_lists_every_option_with_its_default_and_variable() {
        let text = STEP.usage();
        assert!(
            text.contains(
                "--irisdata <path>      input, default \"data/iris.csv\" (offline); \
                 $AZUREML_DATAREFERENCE_irisdata"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "--threshold <f64>      param, default \"0.9\"; $AML_PARAMETER_threshold"
            ),
            "{text}"
        );
    }
}
