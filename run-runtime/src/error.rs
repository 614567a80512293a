//! The one error type of the crate.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Shorthand for `Result<T, run_runtime::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, each with a message that names the key, the offending value
/// (shortened) and the rule it breaks, so that the message alone says what to fix.
///
/// A call that returns an error has recorded nothing: a rejected record never reaches the journal.
///
/// `Debug` prints the same sentence as `Display`, so that `fn main() -> Result<(), Error>`
/// ends with a message a user can act on rather than a struct.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A metric, tag, property, table or artifact name breaks the key rules.
    #[error("invalid {kind} name {name}: {rule}")]
    InvalidName {
        /// What the name was for.
        kind: NameKind,
        /// The name, quoted and shortened.
        name: Shown,
        /// The rule it breaks.
        rule: NameRule,
    },

    /// A tag or property value is longer than the server keeps.
    #[error(
        "{kind} {key:?} has a value of {len} characters ({value}); {kind} values may have at \
         most {max} characters, because the server would silently truncate a longer one"
    )]
    ValueTooLong {
        /// Tag or property.
        kind: NameKind,
        /// The key.
        key: String,
        /// The value, quoted and shortened.
        value: Shown,
        /// Its length in characters.
        len: usize,
        /// The limit in characters.
        max: usize,
    },

    /// A property was logged again with a different value.
    #[error(
        "property {key:?} is already {existing}; properties cannot change, so {new} was not \
         recorded (log the same value again, or use a tag for a value that changes)"
    )]
    PropertyConflict {
        /// The key.
        key: String,
        /// The value the run already has.
        existing: Shown,
        /// The value that was refused.
        new: Shown,
    },

    /// The data given to a table, confusion matrix or other JSON metric does not fit its shape.
    #[error("invalid {schema} {name:?}: {reason}")]
    InvalidData {
        /// The metric name.
        name: String,
        /// The Azure ML schema type (`confusion_matrix`, `table`, ...).
        schema: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// A value given to a logging call cannot be recorded as it is (a config for
    /// [`Run::log_params`](crate::Run::log_params) that is not a struct or map).
    #[error("{what}: {reason}")]
    InvalidValue {
        /// The call that refused it.
        what: String,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// An artifact name or source path is not acceptable.
    #[error("artifact {name:?}: {reason}")]
    InvalidArtifact {
        /// The artifact name inside the run folder.
        name: String,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// An environment variable holds a value this crate cannot use.
    #[error("{var}={value:?} is invalid: {reason}")]
    Config {
        /// The variable.
        var: &'static str,
        /// Its value (credentials are never shown).
        value: String,
        /// The rule and the fix.
        reason: String,
    },

    /// A run was asked to end with a different status than the one it already ended with.
    #[error("run {id} already ended as {status}; it cannot also be marked {requested}")]
    AlreadyFinished {
        /// The run id.
        id: String,
        /// The status it has.
        status: Status,
        /// The status that was refused.
        requested: Status,
    },

    /// No run with that id is in the store.
    #[error("no run {id:?} in the store {store}{}", suggest(.similar))]
    RunNotFound {
        /// The id asked for.
        id: String,
        /// The store searched.
        store: PathBuf,
        /// The closest ids that exist.
        similar: Vec<String>,
    },

    /// A run id that cannot name a run folder.
    #[error("invalid run id {id}: {reason}")]
    InvalidRunId {
        /// The id, quoted and shortened.
        id: Shown,
        /// The rule it breaks.
        reason: String,
    },

    /// The journal or run folder is not something this version can read.
    #[error("{path}: {reason}")]
    Store {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The run's records reached the tracking server but its artifacts cannot reach the run's
    /// artifact store (no credentials for it, credentials it refuses, a kind of store this
    /// client cannot write). The files stay in the run's folder for `runctx sync`.
    #[error(
        "run {id}: {pending} artifact(s) did not reach the artifact store that {server} gave \
         the run: {reason}; they are kept in the run's folder: once that is fixed, `runctx sync {id} \
         --to {server}` uploads them"
    )]
    ArtifactsNotStored {
        /// The local run id.
        id: String,
        /// The tracking server's base URL.
        server: String,
        /// What the store, or the client, said.
        reason: String,
        /// How many artifacts wait for `sync`.
        pending: usize,
    },

    /// Records are safe in the journal but not (yet) on the tracking server.
    #[error(
        "run {id}: {pending_bytes} bytes of its journal are not on {server} yet ({reason}); they \
         are safe in the local journal{}; to upload them later: runctx sync {id} --to {server}",
        if *.retrying { " and keep shipping while the process lives" } else { "" }
    )]
    NotShipped {
        /// The local run id.
        id: String,
        /// The server's base URL.
        server: String,
        /// Why not.
        reason: String,
        /// How much of the journal is not acknowledged.
        pending_bytes: u64,
        /// Shipping goes on in the background (the server is slow or failing); `false` when it
        /// stopped for good (refused credentials, a deleted run).
        retrying: bool,
    },

    /// The tracking server answered a request with an error, or did not answer.
    #[error("{server}: cannot {what}: {reason}")]
    Server {
        /// The server's base URL.
        server: String,
        /// What was asked.
        what: String,
        /// The server's answer, or why there was none.
        reason: String,
    },

    /// A pipeline's graph, or the values it was given to run, have problems; nothing ran.
    #[error("pipeline {pipeline:?}{}", problem_list(.problems))]
    Pipeline {
        /// The pipeline's name.
        pipeline: String,
        /// Each problem, saying the fix.
        problems: Vec<String>,
    },

    /// The model registry has no such model or version.
    #[error("{}", model_not_found(.name, .version, .registry, .similar))]
    ModelNotFound {
        /// The model's name.
        name: String,
        /// The version asked for; `None` when the model itself is missing.
        version: Option<u64>,
        /// The registry searched: a store folder or a server.
        registry: String,
        /// The closest names (or versions) there are.
        similar: Vec<String>,
    },

    /// A registered model has no such alias.
    #[error(
        "registered model {name:?} of {registry} has no alias {alias:?}; its aliases are {}",
        if .aliases.is_empty() { String::from("none") } else { .aliases.join(", ") }
    )]
    AliasNotFound {
        /// The model's name.
        name: String,
        /// The alias asked for.
        alias: String,
        /// The registry searched: a store folder or a server.
        registry: String,
        /// The aliases the model has.
        aliases: Vec<String>,
    },

    /// Text meant as a model reference (`models:/...`) that is not one.
    #[error("invalid model URI {uri}: {reason}")]
    InvalidModelUri {
        /// The text, quoted and shortened.
        uri: Shown,
        /// What is wrong, and the forms accepted.
        reason: String,
    },

    /// A model version's files could not be downloaded; nothing is left under the destination.
    #[error("cannot download {model} to {}: {reason}", .to.display())]
    ModelDownload {
        /// The version: `models:/NAME/VERSION`.
        model: String,
        /// The destination folder.
        to: PathBuf,
        /// Why, and what to do.
        reason: String,
    },

    /// A search filter or `order_by` that does not follow MLflow's grammar: the column (in
    /// characters, from 1) and a copy of the text with a caret under it.
    #[error("invalid search {what} at column {column}: {message}\n{pointer}")]
    InvalidSearch {
        /// `filter` or `order_by`.
        what: &'static str,
        /// Where, in characters from 1.
        column: usize,
        /// What was expected there.
        message: String,
        /// The text, and a caret line under it.
        pointer: String,
    },

    /// An argument of a call is out of its range.
    #[error("{what} {value} is invalid: {reason}")]
    InvalidArgument {
        /// The argument (and the call it was given to).
        what: &'static str,
        /// The value given.
        value: String,
        /// The rule it breaks.
        reason: String,
    },

    /// A sweep's specification has a bad setting; nothing ran.
    #[error("sweep: {key} = {value}: {reason}")]
    Sweep {
        /// The setting, as a path in the sweep's YAML (`search_space.lr.min_value`).
        key: String,
        /// The value given.
        value: String,
        /// The rule it breaks and what to do.
        reason: String,
    },

    /// A command could not be run as a run (`runctx run`, [`crate::launch`]).
    #[error("command {command}: {reason}")]
    Command {
        /// The command, as it would be typed.
        command: String,
        /// What went wrong and what to do.
        reason: String,
    },

    /// A file operation failed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done ("create", "write", "read", ...).
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn suggest(similar: &[String]) -> String {
    if similar.is_empty() {
        String::from(" (`runctx list` shows the runs)")
    } else {
        format!("; did you mean {}?", similar.join(" or "))
    }
}

fn problem_list(problems: &[String]) -> String {
    match problems {
        [one] => format!(": {one}"),
        all => {
            let mut text = format!(" has {} problems:", all.len());
            for p in all {
                text.push_str("\n- ");
                text.push_str(p);
            }
            text
        }
    }
}

fn model_not_found(
    name: &str,
    version: &Option<u64>,
    registry: &str,
    similar: &[String],
) -> String {
    match version {
        None => {
            let hint = if similar.is_empty() {
                String::from(" (`runctx models` lists the models)")
            } else {
                format!("; did you mean {}?", similar.join(" or "))
            };
            format!("no registered model {name:?} in {registry}{hint}")
        }
        Some(v) => format!(
            "registered model {name:?} of {registry} has no version {v}; its versions are {}",
            if similar.is_empty() {
                String::from("none")
            } else {
                similar.join(", ")
            }
        ),
    }
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid_data(
        name: &str,
        schema: &'static str,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidData {
            name: name.to_owned(),
            schema,
            reason: reason.into(),
        }
    }
}

/// What a name is for; it chooses the rules and the words of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A metric key.
    Metric,
    /// A tag key or value.
    Tag,
    /// A property key or value.
    Property,
    /// A table or other JSON metric.
    Table,
    /// An artifact path inside the run folder.
    Artifact,
    /// A run or experiment name.
    Run,
    /// A registered model's name.
    Model,
    /// An alias of a registered model (`champion` in `models:/iris@champion`).
    Alias,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Metric => "metric",
            NameKind::Tag => "tag",
            NameKind::Property => "property",
            NameKind::Table => "table",
            NameKind::Artifact => "artifact",
            NameKind::Run => "run",
            NameKind::Model => "model",
            NameKind::Alias => "alias",
        })
    }
}

/// The key rule a name breaks (see `docs/guide.md`, "Names"); defined in `run-rules`, which
/// the macros share to check names at compile time.
pub use run_rules::NameRule;

/// A value shown in an error: quoted, and shortened to 60 characters with its length.
#[derive(Clone, PartialEq, Eq)]
pub struct Shown(String);

impl Shown {
    const KEEP: usize = 60;

    /// Quotes `value`, keeping at most 60 characters of it.
    pub fn new(value: &str) -> Self {
        let count = value.chars().count();
        if count <= Self::KEEP {
            return Shown(format!("{value:?}"));
        }
        let head: String = value.chars().take(Self::KEEP).collect();
        Shown(format!("{head:?}... ({count} characters)"))
    }
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The status of a run, with MLflow's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Started and not ended (or its process died before it could end it).
    Running,
    /// Ended by `complete()`, or dropped without an end.
    Finished,
    /// Ended by `fail(error)`, an `Err` or a panic of its step.
    Failed,
    /// Ended by `cancel()`.
    Killed,
}

impl Status {
    /// MLflow's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "RUNNING",
            Status::Finished => "FINISHED",
            Status::Failed => "FAILED",
            Status::Killed => "KILLED",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_shortens_long_values_and_gives_their_length() {
        assert_eq!(Shown::new("abc").to_string(), "\"abc\"");
        let long = "x".repeat(7000);
        let shown = Shown::new(&long).to_string();
        assert!(shown.len() < 100, "{shown}");
        assert!(shown.ends_with("... (7000 characters)"), "{shown}");
    }

    #[test]
    fn debug_reads_like_display_for_main_returning_an_error() {
        let e = Error::Config {
            var: "RUNCTX_OFFLINE",
            value: "maybe".into(),
            reason: "use 1 or 0".into(),
        };
        assert_eq!(format!("{e:?}"), e.to_string());
        assert_eq!(
            format!("{e:?}"),
            "RUNCTX_OFFLINE=\"maybe\" is invalid: use 1 or 0"
        );
    }

    #[test]
    fn run_not_found_suggests_close_ids() {
        let e = Error::RunNotFound {
            id: "OfflineRun_ab".into(),
            store: "runs".into(),
            similar: vec!["OfflineRun_abc".into()],
        };
        assert_eq!(
            e.to_string(),
            "no run \"OfflineRun_ab\" in the store runs; did you mean OfflineRun_abc?"
        );
    }
}
