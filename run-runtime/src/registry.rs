//! The model registry: named models, each version the files a run produced.
//!
//! [`Run::register_model`] copies the files into the run as artifacts (under
//! `models/<name>/`), then registers a new version of the model:
//!
//! - offline, in the registry of the run's store: `<store>/models/<name>/<version>/`, holding
//!   `version.json` (the [`ModelVersion`]) and `files/` (a copy of the files); versions count
//!   from 1;
//! - online, on the tracking server's model registry: the registered model is created if it
//!   does not exist, and a version is created with `source: runs:/<run>/models/<name>` (the
//!   run's k-th registration of that model: `models.<k>/<name>`) and the run's id, once the
//!   files are in the run's artifact store.
//!
//! [`Registry`] lists and reads back models and versions, locally or from a server
//! (`runctx models` shows them); points aliases at versions ([`Registry::set_alias`]); resolves
//! a [`ModelRef`] (`models:/NAME/3`, `models:/NAME@champion`, `models:/NAME/latest`) to a
//! version; and downloads a version's files ([`Registry::download`]).
//!
//! ```
//! # let dir = tempfile::tempdir()?;
//! use run_runtime::Store;
//! use run_runtime::{ModelOptions, Registry};
//!
//! let store = Store::new(dir.path().join("runs"));
//! let run = store.start_run("iris", "train")?;
//! let model = dir.path().join("model.json");
//! std::fs::write(&model, r#"{"k": 5}"#)?;
//! let options = ModelOptions::new().tag("accuracy", 0.97).description("k-nearest neighbours");
//! let v1 = run.register_model("iris-classifier", &model, &options)?;
//! let v2 = run.register_model("iris-classifier", &model, &options)?;
//! assert_eq!((v1.version, v2.version), (1, 2));
//! // Each registration keeps its own files among the run's artifacts.
//! assert_eq!(v1.source, format!("runs:/{}/models/iris-classifier", run.id()));
//! assert_eq!(v2.source, format!("runs:/{}/models.2/iris-classifier", run.id()));
//!
//! let registry = Registry::local(&store);
//! assert_eq!(registry.models()?[0].latest_version, Some(2));
//! let read = registry.version("iris-classifier", 1)?;
//! assert_eq!(read.tags["accuracy"], "0.97");
//! assert!(read.files.unwrap().join("model.json").is_file());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt::Display;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::artifacts;
use crate::durable::write_atomic;
use crate::error::{Error, NameKind, NameRule, Result, Shown};
use crate::run::Run;
use crate::store::{Store, closest};
use crate::validate::{check_name, check_value};

mod alias;
mod download;
#[cfg(feature = "mlflow")]
pub(crate) mod publish;
mod reference;
#[cfg(feature = "mlflow")]
mod server;

#[cfg(feature = "mlflow")]
pub(crate) use download::is_plain_component;
pub(crate) use reference::check_alias;
pub use reference::{ModelRef, Selector};

/// The folder of the local registry in a store, and of a run's registered files among its
/// artifacts.
pub(crate) const MODELS_DIR: &str = "models";
/// A version's description in its folder.
const VERSION_FILE: &str = "version.json";
/// A version's files in its folder.
const FILES_DIR: &str = "files";

/// Tags and a description for a new model version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelOptions {
    tags: Vec<(String, String)>,
    description: Option<String>,
}

impl ModelOptions {
    /// No tags, no description.
    pub fn new() -> Self {
        ModelOptions::default()
    }

    /// Adds the tag `key` = `value`.
    pub fn tag(mut self, key: &str, value: impl Display) -> Self {
        self.tags.push((key.to_owned(), value.to_string()));
        self
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

/// A version of a registered model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelVersion {
    /// The model's name.
    pub name: String,
    /// Its version: 1, 2, ...
    pub version: u64,
    /// Where its files are: `runs:/<run id>/models/<name>`.
    pub source: String,
    /// The run that registered it (offline: the local id; online: the server's).
    pub run_id: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// The aliases that point at it, sorted.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// When it was registered, in milliseconds since the epoch.
    pub created: i64,
    /// The copy of its files, for a version of the local registry.
    #[serde(skip)]
    pub files: Option<PathBuf>,
}

impl ModelVersion {
    /// The files of a version of the local registry, as paths relative to
    /// [`files`](Self::files) (with `/` separators), sorted; none for a server's version.
    pub fn file_list(&self) -> Result<Vec<String>> {
        match &self.files {
            Some(dir) => Ok(artifacts::files_below(dir)?
                .into_iter()
                .map(|(relative, _)| relative)
                .collect()),
            None => Ok(Vec::new()),
        }
    }
}

/// A registered model, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisteredModel {
    /// Its name.
    pub name: String,
    /// How many versions it has.
    pub versions: usize,
    /// Its highest version.
    pub latest_version: Option<u64>,
    /// When its latest version was registered (ms since the epoch), if known.
    pub updated: Option<i64>,
}

/// Where models are registered: the registry of a local store, or a tracking server's.
#[derive(Debug, Clone)]
pub struct Registry {
    place: Place,
}

#[derive(Debug, Clone)]
enum Place {
    Local(Store),
    #[cfg(feature = "mlflow")]
    Server(crate::mlflow::Client),
}

impl Run {
    /// Registers the file or folder at `path` as a new version of the model `name`, with the
    /// tags and description of `options`, and returns the version.
    ///
    /// The files are copied into the run as artifacts under `models/<name>/`, and the run is
    /// flushed (online: until the files are on the server). Offline, the version goes to the
    /// registry of the run's store (the files copied there too); online, to the tracking
    /// server's registry.
    /// A model name is a key (see the guide) without `/` or `:`.
    pub fn register_model(
        &self,
        name: &str,
        path: impl AsRef<Path>,
        options: &ModelOptions,
    ) -> Result<ModelVersion> {
        let path = path.as_ref();
        check_model_name(name)?;
        for (key, value) in &options.tags {
            check_name(NameKind::Tag, key)?;
            check_value(NameKind::Tag, key, value)?;
        }
        if let Some(d) = &options.description {
            check_value(NameKind::Tag, "description", d)?;
        }
        let artifact = registration_folder(&self.artifacts_dir(), name);
        if path.is_dir() {
            self.upload_folder(&artifact, path)?;
        } else if let (true, Some(file)) = (path.is_file(), path.file_name()) {
            self.upload_file(&format!("{artifact}/{}", file.to_string_lossy()), path)?;
        } else {
            return Err(Error::InvalidArtifact {
                name: artifact,
                reason: format!(
                    "{} is not a file or folder, so there is no model to register",
                    path.display()
                ),
            });
        }
        // The version refers to the run's artifacts: they are durable before it exists.
        self.flush()?;
        match self.link() {
            None => register_locally(self, name, path, &artifact, options),
            #[cfg(feature = "mlflow")]
            Some(link) => server::register(self, link, name, &artifact, options),
            #[cfg(not(feature = "mlflow"))]
            Some(link) => match **link {},
        }
    }
}

/// The run's artifact folder of a new registration of model `name`: `models/<name>` the first
/// time, `models.<k>/<name>` the k-th time the run registers that model. A version's source is
/// that folder, so a second registration must not replace the files the first version names;
/// the suffix goes on the top folder, where no model name can collide with it.
fn registration_folder(artifacts: &Path, name: &str) -> String {
    (1u64..)
        .map(|k| match k {
            1 => format!("{MODELS_DIR}/{name}"),
            k => format!("{MODELS_DIR}.{k}/{name}"),
        })
        .find(|folder| !artifacts.join(folder).exists())
        .expect("a free folder among unboundedly many")
}

/// A model name: the key rules, and no `/` or `:` (its registry folder).
pub(crate) fn check_model_name(name: &str) -> Result<()> {
    check_name(NameKind::Model, name)?;
    match name
        .chars()
        .enumerate()
        .find(|(_, c)| matches!(c, '/' | ':'))
    {
        Some((at, c)) => Err(Error::InvalidName {
            kind: NameKind::Model,
            name: Shown::new(name),
            rule: NameRule::ModelSeparator(c, at),
        }),
        None => Ok(()),
    }
}

fn register_locally(
    run: &Run,
    name: &str,
    path: &Path,
    artifact: &str,
    options: &ModelOptions,
) -> Result<ModelVersion> {
    let folder = run.store().root().join(MODELS_DIR).join(name);
    crate::durable::create_dir_all(&folder)?;
    let (version, dir) = claim_version(&folder)?;
    let files = dir.join(FILES_DIR);
    copy_model(path, &files)?;
    let v = ModelVersion {
        name: name.to_owned(),
        version,
        source: format!("runs:/{}/{artifact}", run.id()),
        run_id: Some(run.id().to_owned()),
        description: options.description.clone(),
        tags: options.tags.iter().cloned().collect(),
        aliases: Vec::new(),
        created: crate::clock::now_ms(),
        files: Some(files),
    };
    let json = serde_json::to_vec_pretty(&v).expect("model versions serialize");
    // Written last: a version without it is still being copied, and is not listed.
    write_atomic(&dir.join(VERSION_FILE), &json)?;
    Ok(v)
}

/// The next version's folder, created: two processes registering at once get two versions.
fn claim_version(folder: &Path) -> Result<(u64, PathBuf)> {
    let mut version = version_numbers(folder)?.last().copied().unwrap_or(0) + 1;
    loop {
        let dir = folder.join(version.to_string());
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                crate::durable::sync_parent(&dir)?;
                return Ok((version, dir));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => version += 1,
            Err(e) => return Err(Error::io("create", dir, e)),
        }
    }
}

/// The version folders of a model, numbers sorted.
fn version_numbers(folder: &Path) -> Result<Vec<u64>> {
    let entries = match std::fs::read_dir(folder) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list", folder, e)),
    };
    let mut numbers: Vec<u64> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u64>().ok())
        .collect();
    numbers.sort_unstable();
    Ok(numbers)
}

fn copy_model(path: &Path, files: &Path) -> Result<()> {
    let pairs = if path.is_dir() {
        artifacts::files_below(path)?
    } else {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        vec![(name, path.to_owned())]
    };
    // Each file and folder is durable before version.json names the version: a power cut never
    // leaves a listed version with missing files.
    for (relative, source) in pairs {
        let target = files.join(&relative);
        if let Some(parent) = target.parent() {
            crate::durable::create_dir_all(parent)?;
        }
        std::fs::copy(&source, &target).map_err(|e| Error::io("copy", &source, e))?;
        crate::durable::sync_file(&target)?;
        crate::durable::sync_parent(&target)?;
    }
    Ok(())
}

impl Registry {
    /// The registry of a local store: `<store>/models`.
    pub fn local(store: &Store) -> Registry {
        Registry {
            place: Place::Local(store.clone()),
        }
    }

    /// The registry of the tracking server at `uri`, with credentials from the environment
    /// (`MLFLOW_TRACKING_TOKEN`, or `MLFLOW_TRACKING_USERNAME` and `MLFLOW_TRACKING_PASSWORD`).
    #[cfg(feature = "mlflow")]
    pub fn server(uri: &str) -> Result<Registry> {
        Registry::at(&crate::config::TrackingUri::parse("tracking URI", uri)?)
    }

    /// The registry of the tracking server at `uri`, parsed.
    #[cfg(feature = "mlflow")]
    fn at(uri: &crate::config::TrackingUri) -> Result<Registry> {
        let settings = crate::process::process().settings()?;
        let credentials = crate::mlflow::Credentials::for_server(uri, |k| std::env::var(k).ok())?;
        let client = crate::mlflow::Client::new(uri, credentials, settings.insecure_tls)?;
        Ok(Registry {
            place: Place::Server(client),
        })
    }

    /// The registry the environment means, as for [`Run::get_context`]: the tracking server's
    /// when `MLFLOW_TRACKING_URI` names one, otherwise the local store's (`RUNCTX_HOME`).
    pub fn from_env() -> Result<Registry> {
        let settings = crate::process::process().settings()?;
        match &settings.tracking {
            crate::config::Tracking::Offline => Ok(Registry::local(&Store::new(&settings.home))),
            #[cfg(feature = "mlflow")]
            crate::config::Tracking::Online(uri) => Registry::at(uri),
            #[cfg(not(feature = "mlflow"))]
            crate::config::Tracking::Online(uri) => Err(Error::Config {
                var: "MLFLOW_TRACKING_URI",
                value: uri.base.clone(),
                reason: "this build of run-runtime has no online backend (the `mlflow` feature \
                         is off); set RUNCTX_OFFLINE=1 to read the local registry"
                    .into(),
            }),
        }
    }

    /// Where it is: the local registry's folder, or the server's URL.
    pub fn location(&self) -> String {
        match &self.place {
            Place::Local(store) => store.root().join(MODELS_DIR).display().to_string(),
            #[cfg(feature = "mlflow")]
            Place::Server(client) => client.base().to_owned(),
        }
    }

    /// Every registered model, sorted by name.
    pub fn models(&self) -> Result<Vec<RegisteredModel>> {
        match &self.place {
            Place::Local(store) => local_models(store),
            #[cfg(feature = "mlflow")]
            Place::Server(client) => server::models(client),
        }
    }

    /// Every version of model `name`, oldest first; [`Error::ModelNotFound`] if there is no
    /// such model.
    pub fn versions(&self, name: &str) -> Result<Vec<ModelVersion>> {
        let versions = match &self.place {
            Place::Local(store) => local_versions(store, name)?,
            #[cfg(feature = "mlflow")]
            Place::Server(client) => server::versions(client, name)?,
        };
        if versions.is_empty() {
            let names: Vec<String> = self.models()?.into_iter().map(|m| m.name).collect();
            return Err(Error::ModelNotFound {
                name: name.to_owned(),
                version: None,
                registry: self.location(),
                similar: closest(name, &names),
            });
        }
        Ok(versions)
    }

    /// Version `version` of model `name`.
    pub fn version(&self, name: &str, version: u64) -> Result<ModelVersion> {
        let versions = self.versions(name)?;
        let numbers: Vec<String> = versions.iter().map(|v| v.version.to_string()).collect();
        versions
            .into_iter()
            .find(|v| v.version == version)
            .ok_or_else(|| Error::ModelNotFound {
                name: name.to_owned(),
                version: Some(version),
                registry: self.location(),
                similar: numbers,
            })
    }

    /// The highest version of model `name`.
    pub fn latest(&self, name: &str) -> Result<ModelVersion> {
        let mut versions = self.versions(name)?;
        Ok(versions.pop().expect("versions() is never empty"))
    }

    /// The aliases of model `name`, each with the version it points at;
    /// [`Error::ModelNotFound`] if there is no such model.
    pub fn aliases(&self, name: &str) -> Result<BTreeMap<String, u64>> {
        let aliases = match &self.place {
            Place::Local(store) => alias::read(&model_folder(store, name)?)?,
            #[cfg(feature = "mlflow")]
            Place::Server(client) => server::aliases(client, name)?,
        };
        if aliases.is_empty() {
            // No alias, or no model: only the versions tell.
            self.versions(name)?;
        }
        Ok(aliases)
    }

    /// Points alias `alias` of model `name` at version `version`, moving it from the version it
    /// pointed at, if any. The alias follows MLflow's rules: 1 to 255 letters, digits, `_` and
    /// `-`, neither `latest` nor `v<digits>`. Offline the alias is a file of the model's folder
    /// in the store (`aliases/<alias>`), replaced atomically; online it is the server's
    /// (`registered-models/alias`).
    pub fn set_alias(&self, name: &str, alias: &str, version: u64) -> Result<()> {
        check_model_name(name)?;
        check_alias(alias)?;
        // The version must exist: a clear error naming the versions there are, not the
        // server's.
        self.version(name, version)?;
        match &self.place {
            Place::Local(store) => alias::set(&model_folder(store, name)?, alias, version),
            #[cfg(feature = "mlflow")]
            Place::Server(client) => server::set_alias(client, name, alias, version),
        }
    }

    /// Removes alias `alias` of model `name`; [`Error::AliasNotFound`] if it has no such alias.
    pub fn delete_alias(&self, name: &str, alias: &str) -> Result<()> {
        check_model_name(name)?;
        check_alias(alias)?;
        let aliases = self.aliases(name)?;
        if !aliases.contains_key(alias) {
            return Err(self.alias_not_found(name, alias, &aliases));
        }
        match &self.place {
            Place::Local(store) => alias::delete(&model_folder(store, name)?, alias),
            #[cfg(feature = "mlflow")]
            Place::Server(client) => server::delete_alias(client, name, alias),
        }
    }

    /// The version of model `name` that alias `alias` points at.
    pub fn version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        check_model_name(name)?;
        check_alias(alias)?;
        match &self.place {
            Place::Local(_) => {
                let aliases = self.aliases(name)?;
                match aliases.get(alias) {
                    Some(version) => self.version(name, *version),
                    None => Err(self.alias_not_found(name, alias, &aliases)),
                }
            }
            #[cfg(feature = "mlflow")]
            Place::Server(client) => server::version_by_alias(self, client, name, alias),
        }
    }

    /// The version `reference` names: by number, by alias, or the latest.
    pub fn resolve(&self, reference: &ModelRef) -> Result<ModelVersion> {
        let name = reference.name();
        match reference.selector() {
            Selector::Version(v) => self.version(name, *v),
            Selector::Alias(alias) => self.version_by_alias(name, alias),
            Selector::Latest => self.latest(name),
        }
    }

    /// Downloads the files of the version `reference` names into the folder `dir`, which must
    /// not exist or be empty, and returns `dir`.
    ///
    /// The files go to a temporary folder beside `dir` (`.NAME.PID.part`), renamed to `dir`
    /// once every file is complete: `dir` does not hold half a version. Offline they are copied
    /// from the local registry; online they are read from where the server says the version
    /// is (`model-versions/get-download-uri`; for `runs:/` the run's artifact store): through
    /// the server's artifact proxy, or straight from the store (Azure Blob, S3, GCS, a shared
    /// folder) with its credentials, as for uploads. Every path the server lists must stay
    /// inside `dir`.
    pub fn download(&self, reference: &ModelRef, dir: impl AsRef<Path>) -> Result<PathBuf> {
        let version = self.resolve(reference)?;
        let dir = dir.as_ref();
        match &self.place {
            Place::Local(_) => download::local(&version, dir),
            #[cfg(feature = "mlflow")]
            Place::Server(client) => server::download(client, &version, dir),
        }
    }

    /// The registry a run registers in: its store's offline, its server's online.
    pub(crate) fn of_run(run: &Run) -> Registry {
        match run.link() {
            None => Registry::local(run.store()),
            #[cfg(feature = "mlflow")]
            Some(link) => Registry {
                place: Place::Server(link.client().clone()),
            },
            #[cfg(not(feature = "mlflow"))]
            Some(link) => match **link {},
        }
    }

    /// A local folder with the files of `version`, for a step's input: offline, the local
    /// registry's own copy (to be read, never written); online, a copy downloaded once into
    /// the store's cache, `<store>/.cache/models/<server>/<name>/<version>`, and reused from
    /// then on.
    pub(crate) fn local_files(&self, version: &ModelVersion, store: &Store) -> Result<PathBuf> {
        match &self.place {
            Place::Local(_) => version.files.clone().ok_or_else(|| Error::ModelDownload {
                model: version_uri(version),
                to: store.root().to_owned(),
                reason: "the local registry has no copy of its files".into(),
            }),
            #[cfg(feature = "mlflow")]
            Place::Server(client) => server::cached(client, version, store),
        }
    }

    fn alias_not_found(&self, name: &str, alias: &str, aliases: &BTreeMap<String, u64>) -> Error {
        Error::AliasNotFound {
            name: name.to_owned(),
            alias: alias.to_owned(),
            registry: self.location(),
            aliases: aliases.keys().cloned().collect(),
        }
    }
}

/// `models:/NAME/VERSION`, for messages.
fn version_uri(v: &ModelVersion) -> String {
    format!("models:/{}/{}", v.name, v.version)
}

/// The folder of model `name` in the local registry (its name checked: it is a path).
fn model_folder(store: &Store, name: &str) -> Result<PathBuf> {
    check_model_name(name)?;
    Ok(store.root().join(MODELS_DIR).join(name))
}

fn local_models(store: &Store) -> Result<Vec<RegisteredModel>> {
    let root = store.root().join(MODELS_DIR);
    let entries = match std::fs::read_dir(&root) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list", root, e)),
    };
    let mut models = Vec::new();
    for name in entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        // Only folders named as models are; anything else was not made by a registration.
        .filter(|name| check_model_name(name).is_ok())
    {
        let versions = local_versions(store, &name)?;
        if let Some(last) = versions.last() {
            models.push(RegisteredModel {
                name: name.clone(),
                versions: versions.len(),
                latest_version: Some(last.version),
                updated: Some(last.created),
            });
        }
    }
    models.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(models)
}

fn local_versions(store: &Store, name: &str) -> Result<Vec<ModelVersion>> {
    let folder = model_folder(store, name)?;
    let aliases = alias::read(&folder)?;
    let mut versions = Vec::new();
    for number in version_numbers(&folder)? {
        let dir = folder.join(number.to_string());
        let file = dir.join(VERSION_FILE);
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            // Still being registered.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("read", file, e)),
        };
        let mut v: ModelVersion = serde_json::from_slice(&bytes).map_err(|e| Error::Store {
            path: file.clone(),
            reason: format!("unreadable: {e}"),
        })?;
        v.files = Some(dir.join(FILES_DIR));
        v.aliases = aliases
            .iter()
            .filter(|(_, version)| **version == number)
            .map(|(alias, _)| alias.clone())
            .collect();
        versions.push(v);
    }
    Ok(versions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_follow_the_key_rules_without_separators() {
        assert!(check_model_name("iris-classifier.v2").is_ok());
        let e = check_model_name("team/iris").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid model name \"team/iris\": character '/' at position 4 cannot be in a model \
             name, whose folder in the registry it would split; use '-' or '_' instead"
        );
        assert!(check_model_name("..").is_err());
        assert!(check_model_name("").is_err());
    }

    #[test]
    fn a_missing_path_or_model_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let run = store.start_run("e", "r").unwrap();
        let e = run
            .register_model("m", dir.path().join("nope"), &ModelOptions::new())
            .unwrap_err();
        assert!(e.to_string().contains("is not a file or folder"), "{e}");
        let model = dir.path().join("weights.bin");
        std::fs::write(&model, [1, 2, 3]).unwrap();
        run.register_model("iris", &model, &ModelOptions::new())
            .unwrap();
        let registry = Registry::local(&store);
        let e = registry.versions("irsi").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "no registered model \"irsi\" in {}; did you mean iris?",
                registry.location()
            )
        );
        let e = registry.version("iris", 4).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("has no version 4; its versions are 1"),
            "{e}"
        );
    }

    #[test]
    fn a_version_being_copied_is_not_listed_and_numbers_keep_rising() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        std::fs::create_dir_all(dir.path().join("models/m/1")).unwrap();
        let run = store.start_run("e", "r").unwrap();
        let folder = dir.path().join("model");
        std::fs::create_dir_all(folder.join("sub")).unwrap();
        std::fs::write(folder.join("sub/w.bin"), [7]).unwrap();
        let v = run
            .register_model("m", &folder, &ModelOptions::new())
            .unwrap();
        assert_eq!(v.version, 2);
        let listed = Registry::local(&store).versions("m").unwrap();
        assert_eq!(listed.iter().map(|v| v.version).collect::<Vec<_>>(), [2]);
        assert_eq!(
            std::fs::read(listed[0].files.as_ref().unwrap().join("sub/w.bin")).unwrap(),
            [7]
        );
        // The run has the files as artifacts too.
        assert!(run.artifacts_dir().join("models/m/sub/w.bin").is_file());
        // The store's run listing ignores the registry.
        assert_eq!(store.ids().unwrap(), [run.id()]);
    }
}
