//! The tracking server's registry: versions created once, aliases, and downloads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::download::{create_parent, inside, into_place};
use super::{ModelOptions, ModelVersion, RegisteredModel, Registry, version_uri};
use crate::config::Platform;
use crate::error::{Error, Result};
use crate::mlflow::artifact_store::{ArtifactStore, stored_files};
use crate::mlflow::wire::{self, KeyValue};
use crate::mlflow::{Backoff, CallError, Client, Link, ShipError, block_on, retry_call};
use crate::process::process;
use crate::run::Run;
use crate::store::{ARTIFACTS_DIR, Store};

/// The tag that makes creating a version idempotent: a key unique to one version, set on the
/// version created, and looked for before creating it again.
pub(super) const VERSION_KEY: &str = "runctx.version_key";

/// Tries of one file's download before it fails.
const DOWNLOAD_ATTEMPTS: u32 = 4;
/// What one try of a file may take at most, besides its size at `DOWNLOAD_FLOOR` (the
/// clients' own limits are shorter: this only bounds the whole).
const DOWNLOAD_TRY: Duration = Duration::from_secs(180);
/// The slowest rate a download is given time for, in bytes a second.
const DOWNLOAD_FLOOR: u64 = 16 * 1024;

/// The environment's variables, for the artifact store's credentials.
fn env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// A version to create on the server: what `register_model` and `runctx sync` send.
pub(super) struct NewVersion {
    /// The model's name.
    pub(super) name: String,
    /// `runs:/<server run id>/<artifact folder>`.
    pub(super) source: String,
    /// The server's run id.
    pub(super) run_id: String,
    pub(super) description: Option<String>,
    pub(super) tags: Vec<(String, String)>,
    /// The value of [`VERSION_KEY`] on the version.
    pub(super) key: String,
}

/// The `source` of a version made of the run's artifact folder `artifact` (`remote` the run's
/// id on the server): `runs:/<run>/<folder>` for MLflow, whose server resolves it; on Azure ML
/// and Databricks, the folder's URI in the run's artifacts (`<artifact_uri>/<folder>`), which is
/// what MLflow's Python client sends there (3.17.2's `register_model` turns a `runs:/` URI
/// whose folder holds an `MLmodel` into that before `model-versions/create`); whether their
/// registries take `runs:/` is unproven.
pub(super) fn version_source(link: &Link, remote: &str, artifact: &str) -> String {
    match (link.client().platform(), link.artifact_uri()) {
        (Platform::AzureMl(_) | Platform::Databricks { .. }, Some(root)) => {
            format!("{}/{artifact}", root.trim_end_matches('/'))
        }
        _ => format!("runs:/{remote}/{artifact}"),
    }
}

/// Registers the run's artifact folder `artifact` as a new version of `name`, once the
/// files are on the server.
pub(super) fn register(
    run: &Run,
    link: &Arc<Link>,
    name: &str,
    artifact: &str,
    options: &ModelOptions,
) -> Result<ModelVersion> {
    let server = link.base().to_owned();
    let failed = |reason: String| Error::Server {
        server: server.clone(),
        what: format!("register model {name:?}"),
        reason,
    };
    let remote = run
        .remote_id()
        .ok_or_else(|| failed("the run has no id on the server".into()))?;
    let local = run.dir().join(ARTIFACTS_DIR).join(artifact);
    check_files(link, run.id(), &remote, artifact, &local)?.map_or(Ok(()), |e| Err(failed(e)))?;
    let new = NewVersion {
        name: name.to_owned(),
        source: version_source(link, &remote, artifact),
        run_id: remote,
        description: options.description.clone(),
        tags: options.tags.clone(),
        key: uuid::Uuid::new_v4().simple().to_string(),
    };
    create_once(link.client(), new)
}

/// Why the files of the run's folder `artifact` cannot back a version yet, if they cannot:
/// some were refused by the server, or the run's artifact store does not list them all with
/// the size of their copy in `local` (the folder compared).
///
/// With a store the client writes itself, nothing else would notice a file that is not there.
pub(super) fn check_files(
    link: &Arc<Link>,
    local_id: &str,
    remote: &str,
    artifact: &str,
    local: &Path,
) -> Result<Option<String>> {
    // The flush or sync before this has tried every one of them.
    let folder = format!("{artifact}/");
    let missing: Vec<String> = link
        .pending_artifacts()
        .into_iter()
        .filter(|p| p.starts_with(&folder))
        .collect();
    if !missing.is_empty() {
        let error = ShipError::ModelFilesMissing {
            id: local_id.to_owned(),
            server: link.base().to_owned(),
            paths: missing,
        };
        return Ok(Some(error.to_string()));
    }
    let local = crate::artifacts::files_below(local)?;
    let artifact_uri = link.artifact_uri().unwrap_or_default();
    let (client, run_id, uri, folder) = (
        link.client().clone(),
        remote.to_owned(),
        artifact_uri.clone(),
        artifact.to_owned(),
    );
    let listed = block_on(
        link.base(),
        "list the model's files in the run's artifact store",
        process().flush_timeout(),
        async move {
            retry_call(|_| {
                let (client, run_id, uri, folder) = (&client, &run_id, &uri, &folder);
                async move { stored_files(client, run_id, uri, folder, &env).await }
            })
            .await
        },
    )?;
    let missing: Vec<String> = local
        .iter()
        .filter_map(|(rel, path)| {
            let name = format!("{artifact}/{rel}");
            let size = std::fs::metadata(path).map(|m| m.len()).ok();
            let stored = listed.iter().any(|(p, s)| *p == name && Some(*s) == size);
            (!stored).then_some(name)
        })
        .collect();
    let error = ShipError::ModelFilesNotStored {
        id: local_id.to_owned(),
        server: link.base().to_owned(),
        store: artifact_uri,
        paths: missing,
    };
    Ok(
        matches!(&error, ShipError::ModelFilesNotStored { paths, .. } if !paths.is_empty())
            .then(|| error.to_string()),
    )
}

/// Creates the version `new` describes, once.
///
/// `model-versions/create` is not idempotent: an attempt whose answer is lost may have
/// created the version. So the version carries `new.key`, and a retry first looks for a
/// version with that key. The retries end with the flush timeout.
pub(super) fn create_once(client: &Client, new: NewVersion) -> Result<ModelVersion> {
    let server = client.base().to_owned();
    let what = format!("register model {:?}", new.name);
    let client = client.clone();
    let created = block_on(&server, &what, process().flush_timeout(), async move {
        let mut tags = new.tags.clone();
        tags.push((VERSION_KEY.to_owned(), new.key.clone()));
        let tags: Vec<KeyValue<'_>> = tags
            .iter()
            .map(|(key, value)| KeyValue { key, value })
            .collect();
        let (client, new, tags) = (&client, &new, &tags);
        retry_call(|failures| async move {
            if failures > 0
                && let Some(v) = client
                    .model_version_tagged(&new.name, VERSION_KEY, &new.key)
                    .await?
            {
                return Ok(v);
            }
            client.ensure_registered_model(&new.name, None, &[]).await?;
            let description = new.description.as_deref();
            client
                .create_model_version(&new.name, &new.source, &new.run_id, description, tags)
                .await
        })
        .await
    })?;
    from_wire(created).map_err(|reason| Error::Server {
        server,
        what,
        reason,
    })
}

/// Runs `call` against the server with retries, within the flush timeout.
pub(super) fn ask<T, F, Fut>(client: &Client, what: &str, call: F) -> Result<T>
where
    T: Send + 'static,
    F: Fn(Client) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = std::result::Result<T, CallError>> + Send,
{
    let c = client.clone();
    block_on(client.base(), what, process().flush_timeout(), async move {
        retry_call(|_| call(c.clone())).await
    })
}

pub(super) fn models(client: &Client) -> Result<Vec<RegisteredModel>> {
    let listed = ask(client, "list the registered models", |c| async move {
        c.registered_models().await
    })?;
    let mut models = Vec::new();
    for model in listed {
        let Some(name) = model.get("name").and_then(Value::as_str) else {
            continue;
        };
        let versions = versions(client, name)?;
        models.push(RegisteredModel {
            name: name.to_owned(),
            versions: versions.len(),
            latest_version: versions.last().map(|v| v.version),
            updated: model.get("last_updated_timestamp").and_then(Value::as_i64),
        });
    }
    models.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(models)
}

/// Every version of `name`, oldest first, with its aliases (which `model-versions/search`
/// leaves out: they come from `registered-models/get`).
pub(super) fn versions(client: &Client, name: &str) -> Result<Vec<ModelVersion>> {
    let model = name.to_owned();
    let what = format!("list the versions of model {name:?}");
    let listed = ask(client, &what, move |c| {
        let model = model.clone();
        async move { c.model_versions(&model).await }
    })?;
    let mut versions = listed
        .into_iter()
        .map(from_wire)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|reason| bad_answer(client, name, reason))?;
    versions.sort_by_key(|v| v.version);
    if !versions.is_empty() {
        let aliases = aliases(client, name)?;
        for v in &mut versions {
            v.aliases = aliases
                .iter()
                .filter(|(_, n)| **n == v.version)
                .map(|(a, _)| a.clone())
                .collect();
        }
    }
    Ok(versions)
}

/// The aliases of model `name`; none for a model that does not exist (the caller asks the
/// versions, which say so with the names there are).
pub(super) fn aliases(client: &Client, name: &str) -> Result<BTreeMap<String, u64>> {
    let model = name.to_owned();
    let what = format!("read the aliases of model {name:?}");
    let listed = ask(client, &what, move |c| {
        let model = model.clone();
        async move {
            match c.model_aliases(&model).await {
                Err(e) if e.code() == Some("RESOURCE_DOES_NOT_EXIST") => Ok(Vec::new()),
                other => other,
            }
        }
    })?;
    listed
        .into_iter()
        .map(|a| match a.version.parse::<u64>() {
            Ok(v) => Ok((a.alias, v)),
            Err(_) => Err(bad_answer(
                client,
                name,
                format!("alias {:?} points at version {:?}", a.alias, a.version),
            )),
        })
        .collect()
}

pub(super) fn set_alias(client: &Client, name: &str, alias: &str, version: u64) -> Result<()> {
    let (model, alias_owned) = (name.to_owned(), alias.to_owned());
    let what = format!("point alias {alias:?} of model {name:?} at version {version}");
    ask(client, &what, move |c| {
        let (model, alias) = (model.clone(), alias_owned.clone());
        async move { c.set_model_alias(&model, &alias, version).await }
    })
}

pub(super) fn delete_alias(client: &Client, name: &str, alias: &str) -> Result<()> {
    let (model, alias_owned) = (name.to_owned(), alias.to_owned());
    let what = format!("delete alias {alias:?} of model {name:?}");
    ask(client, &what, move |c| {
        let (model, alias) = (model.clone(), alias_owned.clone());
        async move { c.delete_model_alias(&model, &alias).await }
    })
}

/// The version alias `alias` of `name` points at.
///
/// MLflow 3.17.2 answers a missing model with `RESOURCE_DOES_NOT_EXIST` and a missing alias
/// with `INVALID_PARAMETER_VALUE`; both become this crate's not-found errors, with the names
/// there are.
pub(super) fn version_by_alias(
    registry: &Registry,
    client: &Client,
    name: &str,
    alias: &str,
) -> Result<ModelVersion> {
    let (model, alias_owned) = (name.to_owned(), alias.to_owned());
    let what = format!("read alias {alias:?} of model {name:?}");
    let found = ask(client, &what, move |c| {
        let (model, alias) = (model.clone(), alias_owned.clone());
        async move {
            match c.model_version_by_alias(&model, &alias).await {
                Ok(v) => Ok(Some(v)),
                Err(e)
                    if matches!(
                        e.code(),
                        Some("RESOURCE_DOES_NOT_EXIST" | "INVALID_PARAMETER_VALUE")
                    ) =>
                {
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        }
    })?;
    match found {
        Some(v) => from_wire(v).map_err(|reason| bad_answer(client, name, reason)),
        None => {
            // Says which: no such model (with the closest names), or no such alias.
            let aliases = registry.aliases(name)?;
            Err(registry.alias_not_found(name, alias, &aliases))
        }
    }
}

/// Downloads the files of `version` into `dir` (see [`Registry::download`]).
pub(super) fn download(client: &Client, version: &ModelVersion, dir: &Path) -> Result<PathBuf> {
    let model = version_uri(version);
    let located = locate(client, version)?;
    into_place(&model, dir, |tmp| fetch_all(client, &model, &located, tmp))
}

/// A local copy of `version`'s files in the store's cache (see [`Registry::local_files`]).
pub(super) fn cached(client: &Client, version: &ModelVersion, store: &Store) -> Result<PathBuf> {
    let dir = store
        .root()
        .join(".cache")
        .join("models")
        .join(server_folder(client.base()))
        .join(&version.name)
        .join(version.version.to_string());
    // A folder under this name is complete: it is only ever renamed into place whole.
    if dir.is_dir() {
        return Ok(dir);
    }
    match download(client, version, &dir) {
        Ok(dir) => Ok(dir),
        // Another process finished the same download first.
        Err(_) if dir.is_dir() && std::fs::read_dir(&dir).is_ok_and(|mut e| e.next().is_some()) => {
            Ok(dir)
        }
        Err(e) => Err(e),
    }
}

/// A folder name for the server at `base`: its URL with anything but letters, digits, `.` and
/// `-` made `_`.
fn server_folder(base: &str) -> String {
    base.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Where a version's files are, and what they are.
struct Located {
    /// The URI of their folder.
    uri: String,
    store: ArtifactStore,
    /// Paths relative to the folder, and sizes, as the store lists them.
    files: Vec<(String, u64)>,
}

/// Finds the folder of `version`'s files and lists it: the server's download URI, which for a
/// `runs:/<run>/<path>` source is resolved through the run's artifact URI.
fn locate(client: &Client, version: &ModelVersion) -> Result<Located> {
    let (name, number) = (version.name.clone(), version.version);
    let what = format!("find the files of {}", version_uri(version));
    ask(client, &what, move |c| {
        let name = name.clone();
        async move {
            let uri = files_uri(&c, &name, number).await?;
            let store = ArtifactStore::open(&uri, c.platform(), &env)?;
            let files = match &store {
                ArtifactStore::Proxy { root } => c.list_proxy(root).await?,
                ArtifactStore::Objects(objects) => objects.list("").await?,
                ArtifactStore::AzureMl(run) => c.azureml_list(run, "").await?,
                ArtifactStore::Databricks(run) => c.databricks_list(run, "").await?,
            };
            Ok(Located { uri, store, files })
        }
    })
}

/// The URI of the folder of version `number` of `name`.
async fn files_uri(
    client: &Client,
    name: &str,
    number: u64,
) -> std::result::Result<String, CallError> {
    let uri = client.model_download_uri(name, number).await?;
    let Some(rest) = uri.strip_prefix("runs:/") else {
        return Ok(uri);
    };
    let (run_id, path) = rest.split_once('/').unwrap_or((rest, ""));
    let path = path.trim_matches('/');
    if !path.is_empty() && inside(Path::new(""), path).is_none() {
        return Err(CallError::Decode(format!(
            "the server gave the source {uri:?}, whose path is not a plain relative one"
        )));
    }
    let run = client.get_run(run_id).await?;
    let root = run.info.artifact_uri.trim_end_matches('/');
    Ok(if path.is_empty() {
        root.to_owned()
    } else {
        format!("{root}/{path}")
    })
}

/// Downloads every file `located` lists into `tmp`, each retried a few times; every path is
/// checked to stay inside `tmp` before anything is fetched.
fn fetch_all(
    client: &Client,
    model: &str,
    located: &Located,
    tmp: &Path,
) -> std::result::Result<(), String> {
    if located.files.is_empty() {
        return Err(format!("the store lists no files at {}", located.uri));
    }
    let mut targets = Vec::new();
    for (relative, size) in &located.files {
        let target = inside(tmp, relative).ok_or_else(|| {
            format!(
                "the store at {} listed the file {relative:?}, whose path would leave the \
                 folder; nothing was downloaded",
                located.uri
            )
        })?;
        create_parent(&target)?;
        targets.push((relative.clone(), *size, target));
    }
    let budget = targets
        .iter()
        .map(|(_, size, _)| {
            (DOWNLOAD_TRY + Duration::from_secs(size / DOWNLOAD_FLOOR)) * DOWNLOAD_ATTEMPTS
        })
        .sum();
    let (server, client, store) = (
        client.base().to_owned(),
        client.clone(),
        located.store.clone(),
    );
    block_on(
        &server,
        &format!("download the files of {model}"),
        budget,
        async move {
            for (relative, size, target) in &targets {
                fetch_one(&client, &store, relative, *size, target).await?;
            }
            Ok(())
        },
    )
    .map_err(|e| e.to_string())
}

/// Downloads one file, with up to `DOWNLOAD_ATTEMPTS` tries for failures worth retrying.
async fn fetch_one(
    client: &Client,
    store: &ArtifactStore,
    relative: &str,
    size: u64,
    target: &Path,
) -> std::result::Result<(), CallError> {
    let mut backoff = Backoff::new();
    loop {
        let fetched = match store {
            ArtifactStore::Proxy { root } => {
                client.download_proxy(root, relative, size, target).await
            }
            ArtifactStore::Objects(objects) => objects.download(relative, target).await,
            ArtifactStore::AzureMl(run) => {
                client.azureml_download(run, relative, size, target).await
            }
            ArtifactStore::Databricks(run) => {
                client
                    .databricks_download(run, relative, size, target)
                    .await
            }
        };
        match fetched {
            Err(e) if e.is_transient() && backoff.failures + 1 < DOWNLOAD_ATTEMPTS => {
                tokio::time::sleep(backoff.next(&e)).await;
            }
            other => return other,
        }
    }
}

fn bad_answer(client: &Client, name: &str, reason: String) -> Error {
    Error::Server {
        server: client.base().to_owned(),
        what: format!("read model {name:?}"),
        reason,
    }
}

pub(super) fn from_wire(v: wire::ModelVersion) -> std::result::Result<ModelVersion, String> {
    let version = v.version.parse::<u64>().map_err(|_| {
        format!(
            "the server gave version {:?}, which is not a number",
            v.version
        )
    })?;
    let mut aliases = v.aliases;
    aliases.sort();
    Ok(ModelVersion {
        name: v.name,
        version,
        source: v.source,
        run_id: v.run_id.filter(|r| !r.is_empty()),
        description: v.description.filter(|d| !d.is_empty()),
        tags: v.tags.into_iter().map(|t| (t.key, t.value)).collect(),
        aliases,
        created: v.creation_timestamp,
        files: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version's folder in a shared-folder store, as `file:` artifact roots give it.
    fn stored(dir: &Path) -> Located {
        let folder = dir.join("share/1/run/artifacts/models/m");
        std::fs::create_dir_all(folder.join("weights")).unwrap();
        std::fs::write(folder.join("model.json"), "{}").unwrap();
        std::fs::write(folder.join("weights/w.bin"), [9; 5]).unwrap();
        let uri = format!("file://{}", folder.display());
        let store = ArtifactStore::open(&uri, &crate::config::Platform::Mlflow, &env).unwrap();
        let ArtifactStore::Objects(objects) = &store else {
            panic!("a file: root is an object store")
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let files = rt.block_on(objects.list("")).unwrap();
        Located { uri, store, files }
    }

    fn no_server() -> Client {
        let uri = crate::config::TrackingUri::parse("X", "http://127.0.0.1:1").unwrap();
        Client::new(&uri, crate::mlflow::Credentials::None, false).unwrap()
    }

    #[test]
    fn a_version_downloads_from_an_object_store_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let located = stored(dir.path());
        assert_eq!(
            located.files,
            [
                ("model.json".to_owned(), 2),
                ("weights/w.bin".to_owned(), 5)
            ]
        );
        let to = dir.path().join("got");
        let client = no_server();
        into_place("models:/m/1", &to, |tmp| {
            fetch_all(&client, "models:/m/1", &located, tmp)
        })
        .unwrap();
        assert_eq!(std::fs::read(to.join("weights/w.bin")).unwrap(), [9; 5]);
        assert_eq!(std::fs::read(to.join("model.json")).unwrap(), b"{}");
    }

    #[test]
    fn a_listed_path_outside_the_folder_downloads_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut located = stored(dir.path());
        located.files.push(("../../../escaped".to_owned(), 1));
        let to = dir.path().join("got");
        let client = no_server();
        let e = into_place("models:/m/1", &to, |tmp| {
            fetch_all(&client, "models:/m/1", &located, tmp)
        })
        .unwrap_err();
        assert!(
            e.to_string().contains(
                "listed the file \"../../../escaped\", whose path would leave the folder; \
                 nothing was downloaded"
            ),
            "{e}"
        );
        assert!(!to.exists());
        assert!(!dir.path().join("escaped").exists());
        let empty = Located {
            files: Vec::new(),
            ..stored(&dir.path().join("other"))
        };
        let e = into_place("models:/m/1", &to, |tmp| {
            fetch_all(&client, "models:/m/1", &empty, tmp)
        })
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("the store lists no files at file://"),
            "{e}"
        );
    }

    #[test]
    fn a_server_folder_is_one_plain_name() {
        assert_eq!(
            server_folder("https://mlflow.example.com:5000/path"),
            "https___mlflow.example.com_5000_path"
        );
        assert!(super::super::is_plain_component(&server_folder(
            "http://[::1]:80/../x"
        )));
    }
}
