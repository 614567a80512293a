//! `models`: aliases set, shown and deleted; versions downloaded; errors by exit code; and
//! `sync` registering the store's versions on a real server.

use run_runtime::{ModelOptions, Registry, Store};

use super::*;

/// A store whose model `iris` has versions 1 (k = 5) and 2 (k = 7), each from its own run.
fn store_with_versions() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("runs");
    let store = Store::new(&root);
    for k in [5, 7] {
        let folder = dir.path().join(format!("model-{k}"));
        std::fs::create_dir_all(folder.join("weights")).unwrap();
        std::fs::write(folder.join("model.json"), format!(r#"{{"k": {k}}}"#)).unwrap();
        std::fs::write(folder.join("weights/w.bin"), [k as u8]).unwrap();
        let run = store.start_run("iris", "train").unwrap();
        run.register_model("iris", &folder, &ModelOptions::new().tag("k", k))
            .unwrap();
        run.complete().unwrap();
    }
    (dir, root)
}

#[test]
fn an_alias_is_set_shown_moved_and_deleted() {
    let (_dir, store) = store_with_versions();
    let ran = runctx(&store, &["models", "iris", "1", "--alias", "champion"]);
    assert_eq!(
        ran.ok(),
        "Alias champion of model iris points at version 1.\n"
    );
    let json = runctx(
        &store,
        &["--json", "models", "iris", "2", "--alias", "champion"],
    )
    .json();
    assert_eq!(json["alias"], "champion");
    assert_eq!(json["version"], 2);
    let listing = runctx(&store, &["models", "iris"]);
    let text = listing.ok();
    assert!(text.contains("VERSION  ALIASES   REGISTERED"), "{text}");
    assert!(text.contains("\n        2  champion  "), "{text}");
    let one = runctx(&store, &["models", "iris", "2"]);
    assert!(
        one.ok().contains("\nAliases     champion\n"),
        "{}",
        one.stdout
    );
    let json = runctx(&store, &["--json", "models", "iris"]).json();
    let aliases: Vec<&serde_json::Value> = json["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["aliases"])
        .collect();
    assert_eq!(
        aliases,
        [&serde_json::json!([]), &serde_json::json!(["champion"])]
    );
    let ran = runctx(&store, &["models", "iris", "--delete-alias", "champion"]);
    assert_eq!(ran.ok(), "Deleted alias champion of model iris.\n");
    assert!(
        Registry::local(&Store::new(&store))
            .aliases("iris")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn bad_aliases_and_missing_ones_exit_with_their_codes() {
    let (_dir, store) = store_with_versions();
    let ran = runctx(&store, &["models", "iris", "1", "--alias", "latest"]);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("invalid alias name \"latest\": 'latest' (in any case) is reserved"),
        "{}",
        ran.stderr
    );
    let ran = runctx(&store, &["models", "iris", "9", "--alias", "champion"]);
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("has no version 9; its versions are 1, 2"),
        "{}",
        ran.stderr
    );
    runctx(&store, &["models", "iris", "1", "--alias", "champion"]).ok();
    let ran = runctx(
        &store,
        &["--json", "models", "iris", "--delete-alias", "champoin"],
    );
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    let error: serde_json::Value = serde_json::from_str(&ran.stderr).unwrap();
    assert_eq!(error["error"]["code"], "not_found");
    assert_eq!(
        error["error"]["suggestions"],
        serde_json::json!(["champion"])
    );
    // An alias needs a version; deleting one takes none.
    let ran = runctx(&store, &["models", "iris", "--alias", "champion"]);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
}

#[test]
fn a_version_downloads_into_a_new_folder_only() {
    let (dir, store) = store_with_versions();
    let to = dir.path().join("got");
    let ran = runctx(
        &store,
        &["models", "iris", "1", "--download", to.to_str().unwrap()],
    );
    assert_eq!(
        ran.ok(),
        format!("Downloaded models:/iris/1 to {}.\n", to.display())
    );
    assert_eq!(
        std::fs::read_to_string(to.join("model.json")).unwrap(),
        r#"{"k": 5}"#
    );
    assert_eq!(std::fs::read(to.join("weights/w.bin")).unwrap(), [5]);
    let ran = runctx(
        &store,
        &["models", "iris", "2", "--download", to.to_str().unwrap()],
    );
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(ran.stderr.contains("it is not empty"), "{}", ran.stderr);
    // Still version 1's files.
    assert_eq!(std::fs::read(to.join("weights/w.bin")).unwrap(), [5]);
    let other = dir.path().join("json");
    let json = runctx(
        &store,
        &[
            "--json",
            "models",
            "iris",
            "2",
            "--download",
            other.to_str().unwrap(),
        ],
    )
    .json();
    assert_eq!(json["version"], 2);
    assert_eq!(json["downloaded"], other.to_str().unwrap());
    assert_eq!(std::fs::read(other.join("weights/w.bin")).unwrap(), [7]);
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn sync_reports_the_versions_it_registers_once() {
    let server = tests::mlflow::MlflowServer::start();
    let (_dir, store) = store_with_versions();
    let first = runctx(&store, &["sync", "--to", &server.uri]);
    let text = first.ok();
    assert!(
        text.contains("2 model versions, 2 registered by this sync"),
        "{text}"
    );
    assert!(
        text.contains("iris   1        1               registered"),
        "{text}"
    );
    let json = runctx(&store, &["--json", "sync", "--to", &server.uri]).json();
    let models: Vec<(u64, u64, bool)> = json["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["error"], serde_json::Value::Null, "{m}");
            (
                m["version"].as_u64().unwrap(),
                m["remote_version"].as_u64().unwrap(),
                m["created"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(models, [(1, 1, false), (2, 2, false)]);
    // The server's listing, through the same command.
    let listing = runctx(&store, &["models", "iris", "--tracking-uri", &server.uri]);
    assert_eq!(listing.ok().lines().count(), 4, "{}", listing.stdout);
}
