//! Using registered versions: aliases, `models:/` references, downloads, step inputs that name a
//! version, and `sync` registering the offline registry's versions; offline in a store, online
//! on a real MLflow server, read back by MLflow's own Python client.

use std::path::{Path, PathBuf};

use run_runtime::prelude::*;
use run_runtime::step::Bindings;
use run_runtime::sync::{SyncOptions, sync};
use run_runtime::{ModelRef, Registry};
use tests::mlflow::MlflowServer;

fn model_folder(dir: &Path, k: u32) -> PathBuf {
    let folder = dir.join(format!("model-{k}"));
    std::fs::create_dir_all(folder.join("weights")).unwrap();
    std::fs::write(folder.join("model.json"), format!(r#"{{"k": {k}}}"#)).unwrap();
    std::fs::write(folder.join("weights/layer0.bin"), [1u8, 2, 3, k as u8]).unwrap();
    folder
}

/// `name` with versions 1 (k = 5) and 2 (k = 7), each registered by a run of its own of
/// `store` (offline) or of `server` (online), completed.
fn two_versions(dir: &Path, store: &Store, server: Option<&str>, name: &str) {
    let options = ModelOptions::new().tag("algorithm", "knn");
    for k in [5, 7] {
        let run = match server {
            None => store.start_run("registry", "train").unwrap(),
            Some(uri) => store.start_online_run(uri, "registry", "train").unwrap(),
        };
        run.register_model(name, model_folder(dir, k), &options)
            .unwrap();
        run.complete().unwrap();
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), uuid_ish())
}

/// A few characters that differ between calls in one process.
fn uuid_ish() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_007
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// Checks the alias API of `registry`, whose model `name` has versions 1 and 2.
fn aliases_point_move_and_go(registry: &Registry, name: &str) {
    registry.set_alias(name, "champion", 1).unwrap();
    registry.set_alias(name, "challenger", 2).unwrap();
    let v = registry.version_by_alias(name, "champion").unwrap();
    assert_eq!(
        (v.version, v.aliases.as_slice()),
        (1, ["champion".to_owned()].as_slice())
    );
    // Moving an alias takes it from the version it pointed at.
    registry.set_alias(name, "champion", 2).unwrap();
    let versions = registry.versions(name).unwrap();
    let listed: Vec<(u64, Vec<String>)> = versions
        .iter()
        .map(|v| (v.version, v.aliases.clone()))
        .collect();
    assert_eq!(
        listed,
        [
            (1, vec![]),
            (2, vec!["challenger".to_owned(), "champion".to_owned()])
        ]
    );
    assert_eq!(registry.aliases(name).unwrap().len(), 2);
    for (text, version) in [
        (format!("models:/{name}@champion"), 2),
        (format!("models:/{name}/1"), 1),
        (format!("models:/{name}/latest"), 2),
    ] {
        let reference: ModelRef = text.parse().unwrap();
        assert_eq!(
            registry.resolve(&reference).unwrap().version,
            version,
            "{text}"
        );
    }
    registry.delete_alias(name, "challenger").unwrap();
    let e = registry.delete_alias(name, "challenger").unwrap_err();
    assert!(matches!(e, Error::AliasNotFound { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "registered model {name:?} of {} has no alias \"challenger\"; its aliases are champion",
            registry.location()
        )
    );
    let e = registry.version_by_alias(name, "staging").unwrap_err();
    assert!(e.to_string().ends_with("its aliases are champion"), "{e}");
    // A version that does not exist, a model that does not exist, an alias MLflow reserves.
    let e = registry.set_alias(name, "champion", 9).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("has no version 9; its versions are 1, 2"),
        "{e}"
    );
    let e = registry
        .version_by_alias(&format!("{name}x"), "champion")
        .unwrap_err();
    assert!(matches!(e, Error::ModelNotFound { .. }), "{e}");
    let e = registry.set_alias(name, "v2", 2).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid alias name \"v2\": 'v' followed by digits"),
        "{e}"
    );
    // Nothing above moved the champion.
    assert_eq!(
        registry.version_by_alias(name, "champion").unwrap().version,
        2
    );
}

/// Checks that `registry` downloads versions of `name` (1 with k = 5, 2 with k = 7) whole.
fn downloads_are_whole(registry: &Registry, name: &str, dir: &Path) {
    let to = dir.join("downloaded/champion");
    let reference = ModelRef::alias(name, "champion").unwrap();
    assert_eq!(registry.download(&reference, &to).unwrap(), to);
    assert_eq!(read(&to.join("model.json")), r#"{"k": 7}"#);
    assert_eq!(
        std::fs::read(to.join("weights/layer0.bin")).unwrap(),
        [1, 2, 3, 7]
    );
    // Only the version's files, and no temporary folder left beside them.
    let mut names: Vec<String> = std::fs::read_dir(dir.join("downloaded"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["champion"]);
    // A folder that holds something is refused before anything is fetched.
    let e = registry.download(&reference, &to).unwrap_err();
    assert!(e.to_string().contains("it is not empty"), "{e}");
    // An empty folder is filled.
    let empty = dir.join("downloaded/one");
    std::fs::create_dir_all(&empty).unwrap();
    registry
        .download(&ModelRef::version(name, 1).unwrap(), &empty)
        .unwrap();
    assert_eq!(read(&empty.join("model.json")), r#"{"k": 5}"#);
}

#[test]
fn offline_aliases_point_move_and_go_and_versions_download_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    two_versions(dir.path(), &store, None, "iris");
    let registry = Registry::local(&store);
    aliases_point_move_and_go(&registry, "iris");
    // Each alias is one file of the model's folder.
    let file = dir.path().join("runs/models/iris/aliases/champion");
    assert_eq!(read(&file), r#"{"version":2}"#);
    downloads_are_whole(&registry, "iris", dir.path());
}

/// A step whose input is a model's folder: it tags what it finds there.
#[aml_step(inputs(model = "models:/iris@champion"))]
fn predict(run: &Run, model: &Path) -> Result<(), String> {
    let config = std::fs::read_to_string(model.join("model.json")).map_err(|e| e.to_string())?;
    run.tag("config", config).map_err(|e| e.to_string())?;
    run.tag("folder", model.display())
        .map_err(|e| e.to_string())
}

fn bindings(pairs: &[(&str, &str)]) -> Bindings {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn offline_a_step_input_naming_a_version_gets_the_registrys_folder() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    two_versions(dir.path(), &store, None, "iris");
    let registry = Registry::local(&store);
    registry.set_alias("iris", "champion", 1).unwrap();
    // The default names the alias.
    let run = store.start_run("registry", "predict").unwrap();
    predict::STEP.call(&run, &bindings(&[])).unwrap();
    let tags = run.tags().unwrap();
    assert_eq!(tags["config"], r#"{"k": 5}"#);
    assert_eq!(tags["model"], "models:/iris@champion");
    assert_eq!(tags["model.model"], "models:/iris/1");
    let files = registry.version("iris", 1).unwrap().files.unwrap();
    assert_eq!(Path::new(&tags["folder"]), files);
    // A value given names a version; the latest is the highest.
    for (given, config, version) in [
        ("models:/iris/2", r#"{"k": 7}"#, "models:/iris/2"),
        ("models:/iris/latest", r#"{"k": 7}"#, "models:/iris/2"),
    ] {
        let run = store.start_run("registry", "predict").unwrap();
        predict::STEP
            .call(&run, &bindings(&[("model", given)]))
            .unwrap();
        let tags = run.tags().unwrap();
        assert_eq!(
            (tags["config"].as_str(), tags["model.model"].as_str()),
            (config, version)
        );
    }
    // A reference that names nothing fails the step before its body runs, and says why.
    let run = store.start_run("registry", "predict").unwrap();
    let e = predict::STEP
        .call(&run, &bindings(&[("model", "models:/iris@staging")]))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "step \"predict\": input \"model\" = \"models:/iris@staging\" (given): registered \
             model \"iris\" of {} has no alias \"staging\"; its aliases are champion",
            registry.location()
        )
    );
    assert_eq!(store.read(run.id()).unwrap().status, Status::Failed);
    let e = predict::STEP
        .call(
            &store.start_run("registry", "predict").unwrap(),
            &bindings(&[("model", "models:/iris/Production")]),
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("stages such as Production are not supported"),
        "{e}"
    );
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn online_aliases_are_the_servers_and_versions_download_from_its_artifact_store() {
    let server = MlflowServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    let name = unique("aliases");
    two_versions(dir.path(), &store, Some(&server.uri), &name);
    let registry = Registry::server(&server.uri).unwrap();
    aliases_point_move_and_go(&registry, &name);
    // MLflow's own client sees the alias where it was left.
    let seen = server.python(
        "v = client.get_model_version_by_alias(args[0], 'champion')\n\
         print(json.dumps({'version': int(v.version), 'aliases': sorted(v.aliases)}))",
        &[&name],
    );
    assert_eq!(
        seen,
        serde_json::json!({"version": 2, "aliases": ["champion"]})
    );
    downloads_are_whole(&registry, &name, dir.path());
    // The library's download and MLflow's agree byte for byte.
    let theirs = dir.path().join("theirs");
    server.python(
        "mlflow.set_tracking_uri(sys.argv[1])\nmlflow.set_registry_uri(sys.argv[1])\n\
         p = mlflow.artifacts.download_artifacts(f'models:/{args[0]}@champion', dst_path=args[1])\n\
         print(json.dumps(p))",
        &[&name, theirs.to_str().unwrap()],
    );
    assert_eq!(
        read(&theirs.join("model.json")),
        read(&dir.path().join("downloaded/champion/model.json"))
    );
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn online_a_step_input_naming_a_version_is_downloaded_once_into_the_cache() {
    let server = MlflowServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    let name = unique("step-input");
    two_versions(dir.path(), &store, Some(&server.uri), &name);
    let registry = Registry::server(&server.uri).unwrap();
    registry.set_alias(&name, "champion", 1).unwrap();
    let given = format!("models:/{name}@champion");
    let mut folders = Vec::new();
    for _ in 0..2 {
        let run = store
            .start_online_run(&server.uri, "registry", "predict")
            .unwrap();
        predict::STEP
            .call(&run, &bindings(&[("model", &given)]))
            .unwrap();
        let remote = run.remote_id().unwrap();
        let tags = &server.run(&remote)["data"]["tags"];
        let tag = |key: &str| {
            tags.as_array()
                .unwrap()
                .iter()
                .find(|t| t["key"] == key)
                .map(|t| t["value"].as_str().unwrap().to_owned())
                .unwrap_or_else(|| panic!("no tag {key}: {tags}"))
        };
        assert_eq!(tag("config"), r#"{"k": 5}"#);
        assert_eq!(tag("model"), given);
        assert_eq!(tag("model.model"), format!("models:/{name}/1"));
        folders.push(PathBuf::from(tag("folder")));
    }
    // One folder in the store's cache, keyed by server, name and version, used twice.
    assert_eq!(folders[0], folders[1]);
    let cache = dir.path().join("runs/.cache/models");
    assert!(folders[0].starts_with(&cache), "{folders:?}");
    assert!(folders[0].ends_with(format!("{name}/1")), "{folders:?}");
    // Reused as it is: a file changed in the cache is what the next step sees.
    std::fs::write(folders[0].join("model.json"), "cached").unwrap();
    let run = store
        .start_online_run(&server.uri, "registry", "predict")
        .unwrap();
    predict::STEP
        .call(&run, &bindings(&[("model", &given)]))
        .unwrap();
    let remote = run.remote_id().unwrap();
    let config = server.run(&remote)["data"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "config")
        .map(|t| t["value"].clone())
        .unwrap();
    assert_eq!(config, "cached");
    // Nothing half-downloaded is left in the cache.
    let entries: Vec<String> = std::fs::read_dir(folders[0].parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(entries, ["1"]);
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn sync_registers_the_offline_registrys_versions_once() {
    let server = MlflowServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    let name = unique("synced");
    let options = ModelOptions::new().tag("algorithm", "knn");
    let mut runs = Vec::new();
    for k in [5, 7] {
        let run = store.start_run("registry", "train").unwrap();
        run.register_model(&name, model_folder(dir.path(), k), &options)
            .unwrap();
        run.complete().unwrap();
        runs.push(run);
    }
    // A run that registers a model twice, with other files the second time: each
    // registration keeps its files (models/<name>, models.2/<name>), so both versions sync.
    let again = unique("again");
    let run = store.start_run("registry", "train").unwrap();
    for k in [1, 2] {
        run.register_model(&again, model_folder(dir.path(), k), &options)
            .unwrap();
    }
    run.complete().unwrap();
    let sync_options = SyncOptions::from_env(&server.uri).unwrap();
    let summary = |report: &run_runtime::sync::SyncReport, model: &str| {
        report
            .models
            .iter()
            .filter(|m| m.name == model)
            .map(|m| (m.version, m.remote_version, m.created, m.error.clone()))
            .collect::<Vec<_>>()
    };
    let first = sync(&store, &[], &sync_options, |_| {}).unwrap();
    assert!(first.runs.iter().all(|r| r.error.is_none()), "{first:?}");
    assert_eq!(
        summary(&first, &name),
        [(1, Some(1), true, None), (2, Some(2), true, None)]
    );
    assert_eq!(
        summary(&first, &again),
        [(1, Some(1), true, None), (2, Some(2), true, None)]
    );
    // Again: found, not created.
    let second = sync(&store, &[], &sync_options, |_| {}).unwrap();
    assert_eq!(
        summary(&second, &name),
        [(1, Some(1), false, None), (2, Some(2), false, None)]
    );
    // Even without the local memory of it: the version's key finds it on the server.
    let memory = dir.path().join(format!("runs/models/{name}/1/remote.json"));
    assert!(read(&memory).contains(&server.uri), "{}", read(&memory));
    std::fs::remove_file(&memory).unwrap();
    let third = sync(&store, &[], &sync_options, |_| {}).unwrap();
    assert_eq!(
        summary(&third, &name),
        [(1, Some(1), false, None), (2, Some(2), false, None)]
    );
    // MLflow's client sees exactly two versions, each from its synced run, and reads their
    // files.
    let seen = server.python(
        "mlflow.set_tracking_uri(sys.argv[1])\n\
         mlflow.set_registry_uri(sys.argv[1])\n\
         out = []\n\
         for v in sorted(client.search_model_versions(f\"name = '{args[0]}'\"), key=lambda v: int(v.version)):\n\
         \x20   p = mlflow.artifacts.download_artifacts(f'models:/{args[0]}/{v.version}')\n\
         \x20   out.append({'version': int(v.version), 'run_id': v.run_id, 'source': v.source,\n\
         \x20               'algorithm': v.tags.get('algorithm'),\n\
         \x20               'config': open(p + '/model.json').read()})\n\
         print(json.dumps(out))",
        &[&name],
    );
    let remote = |i: usize| {
        first
            .runs
            .iter()
            .find(|r| r.id == runs[i].id())
            .and_then(|r| r.remote_id.clone())
            .unwrap()
    };
    let expected: Vec<serde_json::Value> = [(1, 0, 5), (2, 1, 7)]
        .into_iter()
        .map(|(version, run, k)| {
            serde_json::json!({
                "version": version,
                "run_id": remote(run),
                "source": format!("runs:/{}/models/{name}", remote(run)),
                "algorithm": "knn",
                "config": format!(r#"{{"k": {k}}}"#),
            })
        })
        .collect();
    assert_eq!(seen, serde_json::Value::Array(expected));
}

/// Runs the `steps` program's step `needs_data` with its input given by the environment, as
/// Azure ML v1 pipelines give it, with the store `home`; the folder the step got.
fn needs_data(home: &Path, data: &str, env: &[(&str, &str)]) -> PathBuf {
    let out = tests::command(env!("CARGO_BIN_EXE_steps"), home)
        .arg("needs_data")
        .env("AZUREML_DATAREFERENCE_data", data)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = tests::last_json(&out.stdout);
    PathBuf::from(printed["data"].as_str().unwrap())
}

#[test]
fn a_step_process_gets_the_folder_of_a_version_named_in_its_environment() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    two_versions(dir.path(), &store, None, "iris");
    Registry::local(&store)
        .set_alias("iris", "champion", 2)
        .unwrap();
    let folder = needs_data(store.root(), "models:/iris@champion", &[]);
    assert_eq!(read(&folder.join("model.json")), r#"{"k": 7}"#);
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn online_a_step_process_downloads_the_version_named_in_its_environment() {
    let server = MlflowServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    let name = unique("process");
    two_versions(dir.path(), &store, Some(&server.uri), &name);
    let reference = format!("models:/{name}/1");
    let online = [("MLFLOW_TRACKING_URI", server.uri.as_str())];
    let folder = needs_data(store.root(), &reference, &online);
    assert!(
        folder.starts_with(store.root().join(".cache/models")),
        "{folder:?}"
    );
    assert_eq!(read(&folder.join("model.json")), r#"{"k": 5}"#);
    assert_eq!(
        std::fs::read(folder.join("weights/layer0.bin")).unwrap(),
        [1, 2, 3, 5]
    );
    // A second process reuses the cache.
    assert_eq!(needs_data(store.root(), &reference, &online), folder);
}

/// One run registers a model twice, with other files the second time: each version, as the
/// server and MLflow's Python client see it, keeps its own files.
#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn a_run_that_registers_a_model_twice_keeps_each_versions_files() {
    let server = MlflowServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    let name = unique("twice");
    let run = store
        .start_online_run(&server.uri, "registry", "twice")
        .unwrap();
    let options = ModelOptions::new();
    let first = run
        .register_model(&name, model_folder(dir.path(), 5), &options)
        .unwrap();
    let second = run
        .register_model(&name, model_folder(dir.path(), 7), &options)
        .unwrap();
    run.complete().unwrap();
    let remote = run.remote_id().unwrap();
    assert_eq!(first.source, format!("runs:/{remote}/models/{name}"));
    assert_eq!(second.source, format!("runs:/{remote}/models.2/{name}"));
    let versions = server.download_model_versions(&name);
    assert_eq!(versions.len(), 2, "{versions:?}");
    for (version, k) in versions.iter().zip([5u8, 7]) {
        assert_eq!(
            version.files.files["weights/layer0.bin"].bytes(),
            [1, 2, 3, k],
            "version {}",
            version.version
        );
    }
}
