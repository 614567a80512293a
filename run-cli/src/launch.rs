//! `runctx run -- COMMAND`: any program as a run (the library's `run_runtime::launch`).

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use run_runtime::launch::{self, Launch, Outcome};
use run_runtime::{Status, Store};

use crate::failure::Failure;
use crate::output;

/// `runctx run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run's name [default: the command's file name]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// The run's experiment [default: $MLFLOW_EXPERIMENT_NAME, else Default]
    #[arg(long, value_name = "NAME")]
    experiment: Option<String>,

    /// A tag of the run (repeat for more)
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    tags: Vec<(String, String)>,

    /// Log the machine's system metrics under MLflow's names (system/cpu_utilization_percentage,
    /// ...) every 10 s, as MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=true does
    #[arg(long)]
    system_metrics: bool,

    /// Seconds between two system metrics samples, from 0.1 to 86400 (implies --system-metrics)
    #[arg(long, value_name = "SECONDS", value_parser = parse_interval)]
    system_metrics_interval: Option<Duration>,

    /// The command and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

pub fn run(store: &Store, args: Args) -> Result<ExitCode, Failure> {
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| Failure::usage("give the command to run after `--`"))?;
    let name = match args.name {
        Some(name) => name,
        None => Path::new(program)
            .file_name()
            .map_or_else(|| "command".into(), |n| n.to_string_lossy().into_owned()),
    };
    let run = launch::new_run(store, args.experiment.as_deref(), &name)?;
    for (key, value) in &args.tags {
        if let Err(e) = run.tag(key, value) {
            let failure = Failure::usage(format!("--tag {key}={value}: {e}"));
            run.fail(&failure.message)?;
            return Err(failure);
        }
    }
    let mut command = Launch::new(program).args(rest);
    let interval = args
        .system_metrics_interval
        .or(args.system_metrics.then_some(Duration::from_secs(10)));
    if let Some(interval) = interval {
        command = command.system_metrics(interval);
    }
    let id = run.id().to_owned();
    let outcome = command.run(run)?;
    output::eprint(&summary(&id, &outcome));
    // Exit codes are 0 to 255 on Unix; a shell's code for a signal is 128 + its number.
    Ok(ExitCode::from(
        outcome.exit.code_for_shell().clamp(0, 255) as u8
    ))
}

/// One line on stderr: how the run ended, and where to look.
fn summary(id: &str, outcome: &Outcome) -> String {
    let how = match (&outcome.status, &outcome.error) {
        (Status::Finished, _) | (_, None) => outcome.status.to_string(),
        (status, Some(error)) => format!("{status} ({error})"),
    };
    format!("runctx: run {id} {how}; `runctx show {id}` shows it\n")
}

fn parse_tag(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} has no '='; write a tag as KEY=VALUE"))?;
    run_rules::key_rule(key).map_err(|rule| format!("the tag key {key:?} is invalid: {rule}"))?;
    Ok((key.to_owned(), value.to_owned()))
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds, such as 10 or 0.5"))?;
    if !(0.1..=86_400.0).contains(&seconds) {
        return Err(format!(
            "{text} s is outside 0.1 to 86400 s (MLflow's default is 10 s)"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_intervals_are_checked_with_the_rule_in_the_message() {
        assert_eq!(
            parse_tag("team=vision=2").unwrap(),
            ("team".into(), "vision=2".into())
        );
        assert!(parse_tag("team").unwrap_err().contains("KEY=VALUE"));
        assert!(
            parse_tag("bad key!=1")
                .unwrap_err()
                .contains("\"bad key!\"")
        );
        assert_eq!(parse_interval("0.5").unwrap(), Duration::from_millis(500));
        assert!(parse_interval("0").unwrap_err().contains("0.1 to 86400"));
        assert!(parse_interval("ten").unwrap_err().contains("seconds"));
    }
}
