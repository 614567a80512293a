//! `runctx models [NAME [VERSION]]`: the model registry, the store's or a tracking server's: its
//! models, versions and aliases; an alias set or deleted; a version downloaded.

use std::path::PathBuf;

use run_runtime::{Error, Store};
use run_runtime::{ModelRef, ModelVersion, RegisteredModel, Registry};
use serde::Serialize;

use crate::failure::{Failure, Kind};
use crate::format;
use crate::output::{Align, Cell, Output, Style, Table};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A registered model: list its versions
    #[arg(value_name = "NAME")]
    name: Option<String>,

    /// One version of the model, in full
    #[arg(value_name = "VERSION", requires = "name")]
    version: Option<u64>,

    /// The tracking server whose registry to read [default: $MLFLOW_TRACKING_URI; when unset,
    /// the registry of the local store]
    #[arg(
        long,
        value_name = "URI",
        env = "MLFLOW_TRACKING_URI",
        hide_env_values = true
    )]
    tracking_uri: Option<String>,

    /// Read the registry of the local store even when MLFLOW_TRACKING_URI is set
    #[arg(long, conflicts_with = "tracking_uri")]
    local: bool,

    /// Download the version's files into DIR (a new or empty folder); DIR is filled only once
    /// every file is complete (a temporary folder is renamed into place)
    #[arg(long, value_name = "DIR", requires = "version")]
    download: Option<PathBuf>,

    /// Point ALIAS at the version (moving it from the version it pointed at)
    #[arg(
        long,
        value_name = "ALIAS",
        requires = "version",
        conflicts_with = "download"
    )]
    alias: Option<String>,

    /// Delete the model's alias ALIAS
    #[arg(
        long,
        value_name = "ALIAS",
        requires = "name",
        conflicts_with_all = ["version", "download", "alias"]
    )]
    delete_alias: Option<String>,
}

#[derive(Serialize)]
struct ModelsJson<'a> {
    registry: String,
    models: &'a [RegisteredModel],
}

#[derive(Serialize)]
struct VersionsJson<'a> {
    registry: String,
    versions: &'a [VersionJson<'a>],
}

#[derive(Serialize)]
struct VersionJson<'a> {
    #[serde(flatten)]
    version: &'a ModelVersion,
    /// The copy of the files, for the local registry.
    files: Option<String>,
}

#[derive(Serialize)]
struct DownloadJson<'a> {
    registry: String,
    name: &'a str,
    version: u64,
    downloaded: String,
}

#[derive(Serialize)]
struct AliasJson<'a> {
    registry: String,
    name: &'a str,
    alias: &'a str,
    /// The version it points at; `null` once deleted.
    version: Option<u64>,
}

pub fn run(store: &Store, out: &Output, args: Args) -> Result<(), Failure> {
    let registry = registry(store, &args)?;
    if let Some(change) = change(&registry, out, &args) {
        return change;
    }
    let location = registry.location();
    match (&args.name, args.version) {
        (None, _) => {
            let models = registry.models().map_err(failure)?;
            if out.json {
                return out.print_json(&ModelsJson {
                    registry: location,
                    models: &models,
                });
            }
            out.print(&models_text(out, &location, &models))
        }
        (Some(name), version) => {
            let versions = match version {
                None => registry.versions(name),
                Some(v) => registry.version(name, v).map(|v| vec![v]),
            }
            .map_err(failure)?;
            if out.json {
                let versions: Vec<VersionJson<'_>> = versions.iter().map(version_json).collect();
                return out.print_json(&VersionsJson {
                    registry: location,
                    versions: &versions,
                });
            }
            match version {
                None => out.print(&versions_text(out, &location, name, &versions)),
                Some(_) => out.print(&version_text(out, &versions[0])),
            }
        }
    }
}

/// Downloads, sets or deletes, when the arguments ask for it.
fn change(registry: &Registry, out: &Output, args: &Args) -> Option<Result<(), Failure>> {
    let name = args.name.as_deref()?;
    let location = registry.location();
    if let Some(alias) = &args.delete_alias {
        return Some(
            registry
                .delete_alias(name, alias)
                .map_err(failure)
                .and_then(|()| {
                    let json = AliasJson {
                        registry: location,
                        name,
                        alias,
                        version: None,
                    };
                    print(
                        out,
                        &json,
                        format!("Deleted alias {alias} of model {name}.\n"),
                    )
                }),
        );
    }
    let version = args.version?;
    if let Some(alias) = &args.alias {
        return Some(
            registry
                .set_alias(name, alias, version)
                .map_err(failure)
                .and_then(|()| {
                    let json = AliasJson {
                        registry: location,
                        name,
                        alias,
                        version: Some(version),
                    };
                    let text =
                        format!("Alias {alias} of model {name} points at version {version}.\n");
                    print(out, &json, text)
                }),
        );
    }
    let dir = args.download.as_ref()?;
    let downloaded = ModelRef::version(name, version)
        .and_then(|r| registry.download(&r, dir))
        .map_err(failure);
    Some(downloaded.and_then(|dir| {
        let shown = dir.display().to_string();
        let text = format!("Downloaded models:/{name}/{version} to {shown}.\n");
        let json = DownloadJson {
            registry: location,
            name,
            version,
            downloaded: shown,
        };
        print(out, &json, text)
    }))
}

fn print(out: &Output, json: &impl Serialize, text: String) -> Result<(), Failure> {
    if out.json {
        out.print_json(json)
    } else {
        out.print(&text)
    }
}

fn registry(store: &Store, args: &Args) -> Result<Registry, Failure> {
    let offline = std::env::var("RUNCTX_OFFLINE").is_ok_and(|v| v == "1" || v == "true");
    match (&args.tracking_uri, args.local || offline) {
        (Some(uri), false) if !uri.is_empty() => {
            Registry::server(uri).map_err(|e| Failure::usage(e.to_string()))
        }
        _ => Ok(Registry::local(store)),
    }
}

fn failure(e: Error) -> Failure {
    match e {
        Error::ModelNotFound { ref similar, .. } => {
            Failure::new(Kind::NotFound, e.to_string()).with_suggestions(similar.clone())
        }
        Error::AliasNotFound { ref aliases, .. } => {
            Failure::new(Kind::NotFound, e.to_string()).with_suggestions(aliases.clone())
        }
        Error::InvalidName { .. } | Error::InvalidModelUri { .. } => Failure::usage(e.to_string()),
        other => Failure::from(other),
    }
}

fn version_json(v: &ModelVersion) -> VersionJson<'_> {
    VersionJson {
        version: v,
        files: v.files.as_ref().map(|f| f.display().to_string()),
    }
}

fn models_text(out: &Output, location: &str, models: &[RegisteredModel]) -> String {
    if models.is_empty() {
        return format!("No registered models in {location}.\n");
    }
    let mut table = Table::new(["MODEL", "VERSIONS", "LATEST", "UPDATED"])
        .align(1, Align::Right)
        .align(2, Align::Right)
        .indent(2);
    for m in models {
        table.push(vec![
            Cell::styled(m.name.clone(), Style::Cyan),
            m.versions.to_string().into(),
            m.latest_version
                .map_or("-".into(), |v| v.to_string())
                .into(),
            m.updated.map_or("-".into(), format::time).into(),
        ]);
    }
    format!(
        "{}\n{}",
        out.paint(&format!("Registered models in {location}"), Style::Bold),
        table.render(out)
    )
}

fn versions_text(out: &Output, location: &str, name: &str, versions: &[ModelVersion]) -> String {
    let mut table = Table::new([
        "VERSION",
        "ALIASES",
        "REGISTERED",
        "RUN",
        "TAGS",
        "DESCRIPTION",
    ])
    .align(0, Align::Right)
    .indent(2);
    for v in versions {
        let tags: Vec<String> = v.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        table.push(vec![
            Cell::styled(v.version.to_string(), Style::Cyan),
            v.aliases.join(", ").into(),
            format::time(v.created).into(),
            v.run_id.clone().unwrap_or_else(|| "-".into()).into(),
            tags.join(", ").into(),
            v.description.clone().unwrap_or_default().into(),
        ]);
    }
    format!(
        "{}\n{}",
        out.paint(&format!("Model {name} in {location}"), Style::Bold),
        table.render(out)
    )
}

fn version_text(out: &Output, v: &ModelVersion) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        ("Model", v.name.clone()),
        ("Version", v.version.to_string()),
        ("Registered", format::time(v.created)),
        ("Source", v.source.clone()),
        ("Run", v.run_id.clone().unwrap_or_else(|| "-".into())),
    ];
    if !v.aliases.is_empty() {
        rows.insert(2, ("Aliases", v.aliases.join(", ")));
    }
    if let Some(d) = &v.description {
        rows.push(("Description", d.clone()));
    }
    for (key, value) in &v.tags {
        rows.push(("Tag", format!("{key} = {value}")));
    }
    if let Some(files) = &v.files {
        rows.push(("Files", files.display().to_string()));
        for relative in v.file_list().unwrap_or_default() {
            rows.push(("", format!("  {relative}")));
        }
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut text = String::new();
    for (key, value) in rows {
        let key = out.paint(&format!("{key:width$}"), Style::Bold);
        text.push_str(format!("{key}  {value}").trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use run_runtime::ModelOptions;

    fn plain() -> Output {
        Output {
            json: false,
            color: false,
        }
    }

    fn registry_with_two_versions() -> (tempfile::TempDir, Store, Registry) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("runs"));
        let run = store.start_run("iris", "register").unwrap();
        let model = dir.path().join("model.json");
        std::fs::write(&model, "{}").unwrap();
        let options = ModelOptions::new().tag("accuracy", 0.97).description("knn");
        run.register_model("iris-classifier", &model, &options)
            .unwrap();
        run.register_model("iris-classifier", &model, &ModelOptions::new())
            .unwrap();
        let registry = Registry::local(&store);
        registry
            .set_alias("iris-classifier", "champion", 1)
            .unwrap();
        (dir, store, registry)
    }

    #[test]
    fn the_listings_show_models_versions_and_one_version() {
        let (_dir, _store, registry) = registry_with_two_versions();
        let location = registry.location();
        let models = registry.models().unwrap();
        let text = models_text(&plain(), &location, &models);
        assert!(
            text.starts_with(&format!("Registered models in {location}\n")),
            "{text}"
        );
        assert!(
            text.contains("  iris-classifier         2       2"),
            "{text}"
        );

        let versions = registry.versions("iris-classifier").unwrap();
        let text = versions_text(&plain(), &location, "iris-classifier", &versions);
        assert!(text.contains("accuracy=0.97"), "{text}");
        assert!(text.contains("  VERSION  ALIASES   REGISTERED"), "{text}");
        assert!(text.contains("        1  champion  "), "{text}");
        assert_eq!(text.lines().count(), 4, "{text}");

        let text = version_text(&plain(), &versions[0]);
        assert!(
            text.contains("Version      1\nAliases      champion\n"),
            "{text}"
        );
        assert!(text.contains("Tag          accuracy = 0.97\n"), "{text}");
        assert!(text.contains("Description  knn\n"), "{text}");
        assert!(text.contains("\n               model.json\n"), "{text}");
    }

    #[test]
    fn a_missing_model_is_not_found_with_suggestions() {
        let (_dir, _store, registry) = registry_with_two_versions();
        let f = failure(registry.versions("iris-clasifier").unwrap_err());
        assert_eq!(f.code(), 3);
        assert_eq!(f.suggestions, ["iris-classifier"]);
        let f = failure(registry.version("iris-classifier", 9).unwrap_err());
        assert_eq!(f.code(), 3);
        assert!(
            f.message
                .ends_with("has no version 9; its versions are 1, 2"),
            "{}",
            f.message
        );
    }
}
