//! Production-style tracking servers: PostgreSQL, 4 workers and `--no-serve-artifacts`, with the
//! artifacts in Azure Blob Storage (Azurite) or in an S3 bucket. The server only names where a
//! run's artifacts go; this client writes them there itself, and MLflow's Python client reads
//! back every artifact and model version, and the store is listed with its own client library.
//! Also the load test: 16 programs at once against the PostgreSQL + Azurite server.

// The servers themselves, checked with the Python client alone; in this binary so that they
// share its servers (each costs about 35 s of CPU to start).
#[path = "production/harness.rs"]
mod harness;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use tests::load::{check_load, load_file, run_load};
use tests::mlflow::{MlflowServer, ServerOptions};
use tests::{command, last_json, pattern};

const PROBE: &str = env!("CARGO_BIN_EXE_probe");
const MIB: usize = 1 << 20;

/// A 1x1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// The probe's inputs in `dir`: an image, a note, a 20 MiB file (several parts of a multipart
/// upload, the last one short) and a model folder.
fn inputs(dir: &Path) {
    std::fs::write(dir.join("plot.png"), PNG).unwrap();
    std::fs::write(dir.join("notes.txt"), "kept as written\n").unwrap();
    std::fs::write(dir.join("big.bin"), pattern(20 * MIB + 123, 1)).unwrap();
    let model = dir.join("model");
    std::fs::create_dir_all(model.join("weights")).unwrap();
    std::fs::write(model.join("weights/layer0.bin"), pattern(3 * MIB, 2)).unwrap();
    std::fs::write(model.join("MLmodel"), "flavors: {}\n").unwrap();
}

/// Runs `probe artifacts` against `server` with `env` (the artifact store's credentials, or
/// not); its JSON line, standard error and store.
fn probe(server: &MlflowServer, env: &[(String, String)]) -> (Value, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path());
    let out = command(PROBE, &dir.path().join("runs"))
        .env("MLFLOW_TRACKING_URI", &server.uri)
        .env("MLFLOW_EXPERIMENT_NAME", "production")
        .envs(env.iter().cloned())
        .arg("artifacts")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (last_json(&out.stdout), stderr, dir)
}

/// The run's artifacts in its local folder, by path, with their bytes.
fn local_artifacts(store: &Path, id: &str) -> BTreeMap<String, Vec<u8>> {
    local_artifacts_below(&store.join(id).join("artifacts"))
}

/// The files below `root`, by `/`-separated path, with their bytes.
fn local_artifacts_below(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let root = root.to_path_buf();
    if !root.exists() {
        return BTreeMap::new();
    }
    let mut out = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(&root).unwrap().to_string_lossy();
                out.insert(rel.into_owned(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// The objects under a run's artifact root, listed straight from its store (not through
/// MLflow): the production servers' object stores, or a shared folder.
fn stored_objects(server: &MlflowServer, remote: &str) -> Vec<(String, u64)> {
    if server.stores().is_some() {
        return server.stored_objects(remote);
    }
    let run = server.run(remote);
    let uri = run["info"]["artifact_uri"].as_str().unwrap();
    let root = Path::new(uri.strip_prefix("file://").expect("a file: artifact root"));
    let mut out: Vec<(String, u64)> = local_artifacts_below(root)
        .into_iter()
        .map(|(p, b)| (p, b.len() as u64))
        .collect();
    out.sort();
    out
}

/// Every artifact of the local run is on the server, byte for byte, as MLflow's Python client
/// downloads it; the store holds each exactly once and nothing else under the run.
fn assert_all_arrived(server: &MlflowServer, store: &Path, id: &str, remote: &str) {
    let local = local_artifacts(store, id);
    for expected in ["notes.txt", "data/big.bin", "plot.png"] {
        assert!(
            local.contains_key(expected),
            "{expected} in {:?}",
            local.keys()
        );
    }
    let downloaded = server.download_artifacts(remote);
    let sizes: Vec<(String, u64)> = local
        .iter()
        .map(|(p, b)| (p.clone(), b.len() as u64))
        .collect();
    assert_eq!(
        downloaded.sizes(),
        sizes,
        "what the Python client downloaded"
    );
    for (path, bytes) in &local {
        assert!(
            downloaded.files[path].bytes() == *bytes,
            "{path}: the downloaded bytes differ from the run's file"
        );
    }
    assert_eq!(
        stored_objects(server, remote),
        sizes,
        "what the artifact store holds under the run"
    );
}

fn every_artifact_and_model_version_arrives(server: &MlflowServer) {
    let env = server.client_env();
    let (out, stderr, dir) = probe(server, &env);
    assert!(out["error"].is_null(), "{out}\n{stderr}");
    assert!(out["register_error"].is_null(), "{out}\n{stderr}");
    assert_eq!(out["refused"], serde_json::json!([]), "{stderr}");
    let (id, remote) = (
        out["id"].as_str().unwrap(),
        out["remote_id"].as_str().unwrap(),
    );
    let store = dir.path().join("runs");
    assert_all_arrived(server, &store, id, remote);

    let version = out["version"].as_i64().unwrap();
    let versions = server.download_model_versions("probe-model");
    let registered = versions
        .iter()
        .find(|v| v.version == version)
        .unwrap_or_else(|| panic!("version {version} in {versions:?}"));
    assert_eq!(registered.run_id, remote);
    assert_eq!(registered.status, "READY");
    let model = dir.path().join("model");
    let mut files: Vec<(String, u64)> = ["MLmodel", "weights/layer0.bin"]
        .iter()
        .map(|f| (f.to_string(), model.join(f).metadata().unwrap().len()))
        .collect();
    files.sort();
    assert_eq!(registered.files.sizes(), files, "{registered:?}");
    assert!(
        registered.files.files["weights/layer0.bin"].bytes()
            == std::fs::read(model.join("weights/layer0.bin")).unwrap()
    );
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn production_azure_blob_every_artifact_and_model_version_arrives() {
    every_artifact_and_model_version_arrives(MlflowServer::shared_postgres_azurite());
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn production_s3_every_artifact_and_model_version_arrives() {
    every_artifact_and_model_version_arrives(MlflowServer::shared_postgres_s3());
}

/// A folder every client reaches at the same path (`file://`), as a team shares one on a
/// network mount: the server names it, this client writes into it.
#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn production_a_shared_folder_every_artifact_and_model_version_arrives() {
    let share = tempfile::tempdir().unwrap();
    let server = MlflowServer::start_with(ServerOptions {
        no_serve_artifacts: true,
        default_artifact_root: Some(format!("file://{}", share.path().display())),
        ..ServerOptions::default()
    });
    every_artifact_and_model_version_arrives(&server);
}

/// Without the store's credentials: the records ship, the first artifact says once which
/// variables to set, `complete()` and `register_model` fail saying so, nothing is in the
/// store; with them, `sync` uploads every artifact.
#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn production_a_store_without_credentials_is_one_clear_error_and_sync_uploads_later() {
    let server = MlflowServer::shared_postgres_azurite();
    let (out, stderr, dir) = probe(server, &[]);
    let error = out["error"].as_str().unwrap_or_else(|| panic!("{out}"));
    assert!(
        error.contains("AZURE_STORAGE_CONNECTION_STRING") && error.contains("runctx sync"),
        "{error}"
    );
    let register = out["register_error"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"));
    // Its flush says why the files are not in the store: no version points at nothing.
    assert!(
        register.contains("did not reach the artifact store"),
        "{register}"
    );
    let said = stderr
        .lines()
        .filter(|l| l.contains("no credentials for Azure storage") && !l.contains("at exit"))
        .count();
    assert_eq!(said, 1, "said once at the first artifact:\n{stderr}");
    let (id, remote) = (
        out["id"].as_str().unwrap(),
        out["remote_id"].as_str().unwrap(),
    );
    // The records arrived; the files did not.
    assert_eq!(server.run(remote)["data"]["metrics"][0]["key"], "accuracy");
    assert_eq!(server.stored_objects(remote), vec![]);

    let store = dir.path().join("runs");
    let env = server.stores().unwrap().client_env();
    let synced = command(PROBE, &store)
        .envs(env)
        .args(["sync", store.to_str().unwrap(), &server.uri])
        .output()
        .unwrap();
    let report = last_json(&synced.stdout);
    let run = &report["runs"][0];
    assert!(run["error"].is_null(), "{report}");
    assert_eq!(run["remote_id"], remote);
    assert_all_arrived(server, &store, id, remote);
}

// The load test: 16 programs at once against the PostgreSQL + Azurite server, each logging
// points, 20 tags and a 20 MB file. Every point, tag and file arrives exactly once, as MLflow's
// Python client reads them and as the blob store lists them. The full load (50,000
// points each) is `load_bench` (`cargo run --release -p tests --bin load_bench`), which runs
// the same load and the same checks beside the Python client and times both
// (docs/benchmarks.md); here 10,000 points each, so that the README's test command stays
// within CI's time on 2 cores (the full load and its check take about 6 minutes there).

const SHIPPING: &str = env!("CARGO_BIN_EXE_shipping");
const LOAD_PROGRAMS: usize = 16;
const LOAD_POINTS: usize = 10_000;
const FILE_BYTES: usize = 20_000_000;

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn production_sixteen_programs_at_once_every_point_tag_and_file_arrives_exactly_once() {
    let server = MlflowServer::shared_postgres_azurite();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.bin");
    let bytes = load_file(&file, FILE_BYTES);
    let shipping = Path::new(SHIPPING);
    let (seconds, remotes) = run_load(
        server,
        shipping,
        dir.path(),
        LOAD_PROGRAMS,
        LOAD_POINTS,
        &file,
    );
    println!(
        "{LOAD_PROGRAMS} programs x {LOAD_POINTS} points + 20 tags + {FILE_BYTES} bytes: \
         {seconds:.1} s"
    );
    check_load(server, &remotes, LOAD_POINTS, FILE_BYTES);
    // One file's bytes, end to end.
    let back = server.download_artifacts(&remotes[0]);
    assert!(back.files["data.bin"].bytes() == bytes);
}
