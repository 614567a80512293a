//! Azure ML job files, as `az ml job create --file` reads them: typed structs, one per job type,
//! serialized by serde-saphyr (no YAML is written by hand, so no value can break the file).
//!
//! A job type is a variant of [`Job`] with the fields of its schema; what runs (code, command,
//! environment) is a [`Command`] that command jobs and pipeline steps share, as a sweep job's
//! `trial` would.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::error::{Error, Result};

/// One Azure ML job file.
#[derive(Debug, serde::Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum Job {
    /// `type: pipeline`: a graph of steps.
    Pipeline(PipelineJob),
    /// `type: command`: one program run.
    Command(CommandJob),
    /// `type: sweep`: a hyperparameter sweep, each trial a command.
    #[cfg(unix)]
    Sweep(SweepJob),
}

impl Job {
    /// The JSON schema of the job type, which editors with Azure ML's extension check against.
    fn schema(&self) -> &'static str {
        match self {
            Job::Pipeline(_) => {
                "https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json"
            }
            Job::Command(_) => "https://azuremlschemas.azureedge.net/latest/commandJob.schema.json",
            #[cfg(unix)]
            Job::Sweep(_) => "https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json",
        }
    }

    /// The job file: the comment lines of `header`, then the job, its `$schema` first.
    pub(crate) fn to_yaml(&self, header: &str) -> Result<String> {
        #[derive(serde::Serialize)]
        struct Document<'a> {
            #[serde(rename = "$schema")]
            schema: &'static str,
            #[serde(flatten)]
            job: &'a Job,
        }
        let mut options = serde_saphyr::SerializerOptions::default();
        // A command on one line reads as the shell will run it; folded, it would not.
        options.prefer_block_scalars = false;
        let document = Document {
            schema: self.schema(),
            job: self,
        };
        let yaml = serde_saphyr::to_string_with_options(&document, options).map_err(|e| {
            Error::Pipeline {
                pipeline: String::new(),
                problems: vec![format!("the job cannot be written as YAML: {e}")],
            }
        })?;
        let comments: String = header.lines().map(|l| format!("# {l}\n")).collect();
        Ok(comments + &yaml)
    }
}

/// `type: pipeline`: each step a command job, wired by `${{parent...}}` bindings.
#[derive(Debug, serde::Serialize)]
pub(crate) struct PipelineJob {
    pub display_name: String,
    pub experiment_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub settings: PipelineSettings,
    #[serde(skip_serializing_if = "Entries::is_empty")]
    pub inputs: Entries<JobInput>,
    pub jobs: Entries<PipelineStep>,
}

/// A pipeline job's `settings`.
#[derive(Debug, serde::Serialize)]
pub(crate) struct PipelineSettings {
    /// The compute of every step: `azureml:serverless` or `azureml:<name>`. Azure ML refuses a
    /// pipeline job without one ("Compute not set").
    pub default_compute: String,
    pub continue_on_step_failure: bool,
}

/// A step of a pipeline job: a command component (what runs, and whether Azure ML may reuse an
/// earlier result) with the bindings of its inputs.
#[derive(Debug, serde::Serialize)]
pub(crate) struct PipelineStep {
    #[serde(rename = "type")]
    pub kind: JobKind,
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `${{parent.inputs.<name>}}` or `${{parent.jobs.<writer>.outputs.<name>}}`.
    #[serde(skip_serializing_if = "Entries::is_empty")]
    pub inputs: Entries<String>,
    #[serde(skip_serializing_if = "Entries::is_empty")]
    pub outputs: Entries<Output>,
    pub component: CommandComponent,
}

/// The job type of a pipeline step.
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum JobKind {
    Command,
}

/// An inline command component: its inputs' types, its outputs, what it runs.
#[derive(Debug, serde::Serialize)]
pub(crate) struct CommandComponent {
    #[serde(rename = "type")]
    pub kind: JobKind,
    /// `false`: Azure ML runs the step every time instead of reusing the result of an earlier
    /// run with the same inputs.
    pub is_deterministic: bool,
    #[serde(flatten)]
    pub command: Command,
    #[serde(skip_serializing_if = "Entries::is_empty")]
    pub inputs: Entries<InputSpec>,
    #[serde(skip_serializing_if = "Entries::is_empty")]
    pub outputs: Entries<Output>,
}

/// `type: command`: one step as a job of its own.
#[derive(Debug, serde::Serialize)]
pub(crate) struct CommandJob {
    pub display_name: String,
    pub experiment_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `azureml:serverless` or `azureml:<name>`.
    pub compute: String,
    #[serde(flatten)]
    pub command: Command,
    #[serde(skip_serializing_if = "Entries::is_empty")]
    pub inputs: Entries<JobInput>,
    #[serde(skip_serializing_if = "Entries::is_empty")]
    pub outputs: Entries<Output>,
}

/// `type: sweep`: the fields of a sweep file ([`crate::sweep::SweepSpec`]) as Azure ML reads
/// them, with the compute and environment filled in.
#[cfg(unix)]
#[derive(Debug, serde::Serialize)]
pub(crate) struct SweepJob {
    pub display_name: String,
    pub experiment_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `azureml:serverless` or `azureml:<name>`.
    pub compute: String,
    pub trial: Command,
    pub sampling_algorithm: SamplingAlgorithm,
    pub search_space: crate::sweep::SearchSpace,
    pub objective: crate::sweep::Objective,
    pub limits: crate::sweep::Limits,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub early_termination: Option<crate::sweep::Policy>,
}

/// A sweep job's `sampling_algorithm`: `grid`, `random` or `bayesian`, and a random one's seed.
#[cfg(unix)]
#[derive(Debug, serde::Serialize)]
pub(crate) struct SamplingAlgorithm {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// What a job runs: the folder uploaded as its working directory, the shell command, the
/// environment it runs in.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Command {
    pub code: String,
    pub command: String,
    pub environment: Environment,
}

/// A registered environment (`azureml:name@latest`), or a Docker image.
#[derive(Debug, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub(crate) enum Environment {
    Registered(String),
    Image { image: String },
}

impl Environment {
    /// `azureml:...` names a registered environment; anything else is an image.
    pub(crate) fn parse(text: &str) -> Self {
        match text.starts_with("azureml:") {
            true => Environment::Registered(text.to_owned()),
            false => Environment::Image {
                image: text.to_owned(),
            },
        }
    }
}

/// The value of a job input: a literal, or data (a file or folder, uploaded or remote).
#[derive(Debug, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub(crate) enum JobInput {
    Literal(Literal),
    Data {
        #[serde(rename = "type")]
        kind: DataKind,
        path: String,
    },
}

impl JobInput {
    /// The type of a component input holding it.
    pub(crate) fn kind(&self) -> InputKind {
        match self {
            JobInput::Literal(literal) => literal.input_kind(),
            JobInput::Data { kind, .. } => (*kind).into(),
        }
    }
}

/// A literal input, typed so that Azure ML shows and checks a number as a number.
#[derive(Debug, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub(crate) enum Literal {
    Integer(i64),
    Number(f64),
    String(String),
}

impl Literal {
    /// The value `text` of a param of Rust type `ty`: an integer or a (finite) number when the
    /// type is one and the text parses, else a string. A `bool` stays the string `true` or
    /// `false`: Azure ML renders a boolean input into the command as Python does, `True` or
    /// `False`, which Rust's `bool` does not parse.
    pub(crate) fn of(ty: &str, text: &str) -> Self {
        const INTEGERS: [&str; 12] = [
            "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize",
        ];
        if INTEGERS.contains(&ty)
            && let Ok(n) = text.parse::<i64>()
        {
            return Literal::Integer(n);
        }
        if matches!(ty, "f32" | "f64")
            && let Ok(x) = text.parse::<f64>()
            && x.is_finite()
        {
            return Literal::Number(x);
        }
        Literal::String(text.to_owned())
    }

    /// The type of a component input holding this value.
    pub(crate) fn input_kind(&self) -> InputKind {
        match self {
            Literal::Integer(_) => InputKind::Integer,
            Literal::Number(_) => InputKind::Number,
            Literal::String(_) => InputKind::String,
        }
    }
}

/// A data input's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DataKind {
    UriFile,
    UriFolder,
}

/// A component input's declaration.
#[derive(Debug, serde::Serialize)]
pub(crate) struct InputSpec {
    #[serde(rename = "type")]
    pub kind: InputKind,
}

/// The type of a component input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum InputKind {
    Integer,
    Number,
    String,
    UriFile,
    UriFolder,
}

impl From<DataKind> for InputKind {
    fn from(kind: DataKind) -> Self {
        match kind {
            DataKind::UriFile => InputKind::UriFile,
            DataKind::UriFolder => InputKind::UriFolder,
        }
    }
}

/// A job output: a folder Azure ML provides (on the workspace's default datastore).
#[derive(Debug, serde::Serialize)]
pub(crate) struct Output {
    #[serde(rename = "type")]
    pub kind: DataKind,
}

impl Output {
    /// A folder output.
    pub(crate) const FOLDER: Output = Output {
        kind: DataKind::UriFolder,
    };
}

/// Named entries written as a YAML mapping in their order (steps in run order, inputs in the
/// order the steps declare them), which a `BTreeMap` would sort.
#[derive(Debug)]
pub(crate) struct Entries<T>(pub Vec<(String, T)>);

impl<T> Entries<T> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T: Serialize> Serialize for Entries<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(value: &impl Serialize) -> String {
        serde_saphyr::to_string(value).unwrap()
    }

    #[test]
    fn numeric_params_are_numbers_and_the_rest_strings() {
        assert_eq!(Literal::of("f64", "0.9"), Literal::Number(0.9));
        assert_eq!(Literal::of("f32", "1e3"), Literal::Number(1000.0));
        assert_eq!(Literal::of("u32", "10"), Literal::Integer(10));
        assert_eq!(Literal::of("i64", "-3"), Literal::Integer(-3));
        assert_eq!(Literal::of("bool", "true"), Literal::String("true".into()));
        assert_eq!(Literal::of("String", "knn"), Literal::String("knn".into()));
        // Not finite, or beyond Azure ML's 64-bit integers: kept as written.
        assert_eq!(Literal::of("f64", "NaN"), Literal::String("NaN".into()));
        assert_eq!(
            Literal::of("u64", "18446744073709551615"),
            Literal::String("18446744073709551615".into())
        );
        assert_eq!(Literal::of("f64", "2").input_kind(), InputKind::Number);
        assert_eq!(Literal::of("&str", "7").input_kind(), InputKind::String);
    }

    #[test]
    fn literals_keep_their_type_in_yaml() {
        assert_eq!(yaml(&Literal::Number(2.0)), "2.0\n");
        assert_eq!(yaml(&Literal::Integer(7)), "7\n");
        // Strings a YAML 1.1 reader (Azure ML's PyYAML) would read as another type are quoted.
        for text in [
            "true",
            "no",
            "0.9",
            "7",
            "null",
            "~",
            "a: b",
            "#x",
            "${{inputs.x}} && y",
        ] {
            let written = yaml(&Literal::String(text.into()));
            let read: String = serde_saphyr::from_str(&written).unwrap_or_else(|e| {
                panic!("{text:?} written as {written:?} does not read back: {e}")
            });
            assert_eq!(read, text);
            if matches!(text, "true" | "no" | "0.9" | "7" | "null" | "~") {
                assert!(
                    written.starts_with(['"', '\'']),
                    "{text:?} unquoted: {written}"
                );
            }
        }
    }

    #[test]
    fn a_job_file_starts_with_its_header_type_and_schema() {
        let job = Job::Command(CommandJob {
            display_name: "train".into(),
            experiment_name: "iris".into(),
            description: None,
            compute: "azureml:serverless".into(),
            command: Command {
                code: "./code".into(),
                command: "./iris --step train --split ${{inputs.split}}".into(),
                environment: Environment::parse("azureml:rust@latest"),
            },
            inputs: Entries(vec![(
                "split".into(),
                JobInput::Data {
                    kind: DataKind::UriFolder,
                    path: "/data/split".into(),
                },
            )]),
            outputs: Entries(vec![("model".into(), Output::FOLDER)]),
        });
        let text = job.to_yaml("a job\nsubmit it").unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("# a job"));
        assert_eq!(lines.next(), Some("# submit it"));
        assert_eq!(
            lines.next(),
            Some("$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json")
        );
        assert_eq!(lines.next(), Some("type: command"));
        assert!(!text.contains("description"), "{text}");
        assert!(
            text.contains("environment: azureml:rust@latest\n"),
            "{text}"
        );
        assert!(
            text.contains("inputs:\n  split:\n    type: uri_folder\n    path: /data/split\n"),
            "{text}"
        );
        assert!(
            text.contains("outputs:\n  model:\n    type: uri_folder\n"),
            "{text}"
        );
    }

    #[test]
    fn an_image_is_an_inline_environment() {
        assert_eq!(
            yaml(&Environment::parse("mcr.microsoft.com/azureml/x:latest")),
            "image: mcr.microsoft.com/azureml/x:latest\n"
        );
    }
}
