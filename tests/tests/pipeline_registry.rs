//! The model registry: versions registered from runs, offline in the store's registry and
//! online in a real MLflow server's, listed and read back.

use std::sync::Arc;

use run_runtime::{Error, Store};
use run_runtime::{ModelOptions, Registry};
use tests::mlflow::MlflowServer;

fn model_folder(dir: &std::path::Path) -> std::path::PathBuf {
    let folder = dir.join("model");
    std::fs::create_dir_all(folder.join("weights")).unwrap();
    std::fs::write(folder.join("model.json"), r#"{"k": 5}"#).unwrap();
    std::fs::write(folder.join("weights/layer0.bin"), [1u8, 2, 3]).unwrap();
    folder
}

#[test]
fn versions_count_from_one_and_keep_their_files_tags_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    let folder = model_folder(dir.path());
    let first = store.start_run("iris", "train").unwrap();
    let options = ModelOptions::new()
        .tag("algorithm", "knn")
        .tag("accuracy", 0.97)
        .description("k-nearest neighbours, k = 5");
    let v1 = first
        .register_model("iris-classifier", &folder, &options)
        .unwrap();
    // The folder changes; the registered copy does not.
    std::fs::write(folder.join("model.json"), r#"{"k": 7}"#).unwrap();
    let second = store.start_run("iris", "train").unwrap();
    let v2 = second
        .register_model("iris-classifier", &folder, &ModelOptions::new())
        .unwrap();
    let other = second
        .register_model("other", folder.join("model.json"), &ModelOptions::new())
        .unwrap();
    assert_eq!((v1.version, v2.version, other.version), (1, 2, 1));

    let registry = Registry::local(&store);
    let models = registry.models().unwrap();
    let listed: Vec<(&str, usize, Option<u64>)> = models
        .iter()
        .map(|m| (m.name.as_str(), m.versions, m.latest_version))
        .collect();
    assert_eq!(
        listed,
        [("iris-classifier", 2, Some(2)), ("other", 1, Some(1))]
    );

    let read = registry.version("iris-classifier", 1).unwrap();
    assert_eq!(read, v1);
    assert_eq!(read.run_id.as_deref(), Some(first.id()));
    assert_eq!(
        read.source,
        format!("runs:/{}/models/iris-classifier", first.id())
    );
    assert_eq!(
        read.description.as_deref(),
        Some("k-nearest neighbours, k = 5")
    );
    assert_eq!(read.tags["algorithm"], "knn");
    assert_eq!(
        read.file_list().unwrap(),
        ["model.json", "weights/layer0.bin"]
    );
    let files = read.files.unwrap();
    assert_eq!(
        std::fs::read_to_string(files.join("model.json")).unwrap(),
        r#"{"k": 5}"#
    );
    assert_eq!(
        std::fs::read_to_string(
            registry
                .latest("iris-classifier")
                .unwrap()
                .files
                .unwrap()
                .join("model.json")
        )
        .unwrap(),
        r#"{"k": 7}"#
    );
    // A single file is registered as itself.
    assert_eq!(
        registry.version("other", 1).unwrap().file_list().unwrap(),
        ["model.json"]
    );
    // Each registering run has the files among its artifacts.
    let artifacts = store.read(first.id()).unwrap().artifacts;
    assert!(artifacts.contains_key("models/iris-classifier/weights/layer0.bin"));
    // Runs and the registry share the store without getting in each other's way.
    assert_eq!(store.ids().unwrap().len(), 2);
}

#[test]
fn runs_registering_at_once_get_distinct_versions() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    let folder = Arc::new(model_folder(dir.path()));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (store, folder) = (store.clone(), folder.clone());
            std::thread::spawn(move || {
                let run = store.start_run("iris", "train").unwrap();
                run.register_model("shared", folder.as_path(), &ModelOptions::new())
                    .unwrap()
                    .version
            })
        })
        .collect();
    let mut versions: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());
    let registry = Registry::local(&store);
    assert_eq!(registry.versions("shared").unwrap().len(), 8);
}

#[test]
fn bad_names_tags_and_paths_are_refused_before_anything_is_registered() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    let run = store.start_run("iris", "train").unwrap();
    let folder = model_folder(dir.path());
    let e = run
        .register_model("team/iris", &folder, &ModelOptions::new())
        .unwrap_err();
    assert!(matches!(e, Error::InvalidName { .. }), "{e}");
    let e = run
        .register_model("iris", &folder, &ModelOptions::new().tag("a//b", 1))
        .unwrap_err();
    assert!(e.to_string().contains("invalid tag name \"a//b\""), "{e}");
    let e = run
        .register_model(
            "iris",
            &folder,
            &ModelOptions::new().tag("long", "x".repeat(8001)),
        )
        .unwrap_err();
    assert!(matches!(e, Error::ValueTooLong { .. }), "{e}");
    assert!(Registry::local(&store).models().unwrap().is_empty());
    assert!(store.read(run.id()).unwrap().artifacts.is_empty());
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn an_online_run_registers_on_the_server_after_uploading_the_files() {
    let server = MlflowServer::shared();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    let folder = model_folder(dir.path());
    let name = format!("registry-test-{}", std::process::id());
    let run = store
        .start_online_run(&server.uri, "registry", "train")
        .unwrap();
    let options = ModelOptions::new()
        .tag("algorithm", "knn")
        .description("k-nearest neighbours");
    let v1 = run.register_model(&name, &folder, &options).unwrap();
    let v2 = run
        .register_model(&name, &folder, &ModelOptions::new())
        .unwrap();
    let remote = run.remote_id().unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!(v1.run_id.as_deref(), Some(remote.as_str()));
    assert_eq!(v1.source, format!("runs:/{remote}/models/{name}"));
    assert_eq!(v1.files, None);
    // The files are the run's artifacts on the server.
    assert_eq!(
        server
            .artifact(&remote, &format!("models/{name}/weights/layer0.bin"))
            .unwrap(),
        [1, 2, 3]
    );
    // Read back through the REST API and through the library.
    let filter = format!("name = '{name}'");
    let reply = server.get("model-versions/search", &[("filter", &filter)]);
    let versions = reply["model_versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    let registry = Registry::server(&server.uri).unwrap();
    let read = registry.version(&name, 1).unwrap();
    assert_eq!(read.tags["algorithm"], "knn");
    assert_eq!(read.description.as_deref(), Some("k-nearest neighbours"));
    assert_eq!(read.run_id.as_deref(), Some(remote.as_str()));
    let listed = registry.models().unwrap();
    let model = listed.iter().find(|m| m.name == name).unwrap();
    assert_eq!((model.versions, model.latest_version), (2, Some(2)));
    let e = registry.version(&name, 5).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("has no version 5; its versions are 1, 2"),
        "{e}"
    );
    run.complete().unwrap();
}
