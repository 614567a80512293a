//! Why a command failed, the exit code that says so, and how it is shown.

use std::io;

use run_runtime::Error;
use serde_json::json;

use crate::output::{self, Output};

/// What kind of failure, which chooses the exit code (docs/cli.md, "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The store or a file could not be read or written: exit 1.
    Failed,
    /// The command line asks for something impossible: exit 2 (as clap's own errors).
    Usage,
    /// No such run, metric or artifact: exit 3.
    NotFound,
    /// The user answered no at a confirmation prompt: exit 4.
    Declined,
}

/// A failed command: what went wrong, and what to do about it.
#[derive(Debug)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
    /// Names close to the one that was not found.
    pub suggestions: Vec<String>,
    /// Set when stdout was closed by the reader (`runctx list | head`): not worth a message.
    closed_pipe: bool,
}

impl Failure {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
            suggestions: Vec::new(),
            closed_pipe: false,
        }
    }

    /// The same failure, with these close names to suggest.
    pub fn with_suggestions(mut self, suggestions: Vec<String>) -> Self {
        self.suggestions = suggestions;
        self
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new(Kind::Usage, message)
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Failure::new(Kind::Failed, message)
    }

    /// `what` (e.g. `metric "loss"`) is not there; suggests the closest of `candidates`.
    pub fn not_found(what: &str, wanted: &str, within: &str, candidates: &[String]) -> Self {
        let suggestions = closest(wanted, candidates);
        let message = if suggestions.is_empty() && candidates.is_empty() {
            format!("no {what} {wanted:?} in {within}, which has none")
        } else if suggestions.is_empty() {
            format!(
                "no {what} {wanted:?} in {within}; it has {}",
                shortlist(candidates)
            )
        } else {
            format!(
                "no {what} {wanted:?} in {within}; did you mean {}?",
                suggestions.join(" or ")
            )
        };
        Failure {
            suggestions,
            ..Failure::new(Kind::NotFound, message)
        }
    }

    /// A file operation on `path` failed.
    pub fn io(op: &str, path: &std::path::Path, e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return Failure {
                closed_pipe: true,
                ..Failure::failed("stdout was closed")
            };
        }
        Failure::failed(format!("cannot {op} {}: {e}", path.display()))
    }

    pub fn is_closed_pipe(&self) -> bool {
        self.closed_pipe
    }

    pub fn code(&self) -> u8 {
        match self.kind {
            Kind::Failed => 1,
            Kind::Usage => 2,
            Kind::NotFound => 3,
            Kind::Declined => 4,
        }
    }

    fn code_name(&self) -> &'static str {
        match self.kind {
            Kind::Failed => "failed",
            Kind::Usage => "usage",
            Kind::NotFound => "not_found",
            Kind::Declined => "declined",
        }
    }

    /// Prints the failure on stderr: a line of text, or a JSON object under `--json`.
    pub fn report(&self, out: &Output) {
        if out.json {
            let value = json!({"error": {
                "code": self.code_name(),
                "exit_code": self.code(),
                "message": self.message,
                "suggestions": self.suggestions,
            }});
            output::eprint(&format!("{}\n", output::json_text(&value, false)));
        } else {
            output::warn(&self.message);
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match &e {
            Error::RunNotFound { similar, .. } => Failure {
                suggestions: similar.clone(),
                ..Failure::new(Kind::NotFound, e.to_string())
            },
            Error::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe => Failure {
                closed_pipe: true,
                ..Failure::failed(e.to_string())
            },
            _ => Failure::failed(e.to_string()),
        }
    }
}

/// Up to five names, then how many more.
fn shortlist(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
    match names.len() {
        n if n > 5 => format!("{} and {} more", shown.join(", "), n - 5),
        _ => shown.join(", "),
    }
}

/// Up to three of `candidates` closest to `wanted`, best first: the "did you mean" rule of
/// run-rules, which the library and the macros use too.
pub fn closest(wanted: &str, candidates: &[String]) -> Vec<String> {
    run_rules::closest(wanted, candidates.iter().map(String::as_str))
        .into_iter()
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_suggests_close_names_or_lists_what_there_is() {
        let keys: Vec<String> = ["loss", "accuracy"].map(String::from).to_vec();
        let f = Failure::not_found("metric", "los", "run r", &keys);
        assert_eq!(f.message, "no metric \"los\" in run r; did you mean loss?");
        assert_eq!(f.code(), 3);
        let f = Failure::not_found("metric", "f1", "run r", &keys);
        assert_eq!(
            f.message,
            "no metric \"f1\" in run r; it has loss, accuracy"
        );
        let f = Failure::not_found("metric", "f1", "run r", &[]);
        assert_eq!(f.message, "no metric \"f1\" in run r, which has none");
    }
}
