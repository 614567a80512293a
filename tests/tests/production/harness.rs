//! The production-style test servers themselves: MLflow on PostgreSQL with 4 workers and
//! `--no-serve-artifacts`, its artifacts in Azurite or in moto's S3 server. MLflow's Python
//! client logs a run, a 3 MB file and a model version; then its downloads, the artifact store
//! listed with its own client library, and the database are all checked against what was sent.

use tests::mlflow::MlflowServer;
use tests::pattern;
use tests::production::{AZURE_ARTIFACT_ROOT, S3_ARTIFACT_ROOT, WORKERS};

const MIB: usize = 1 << 20;

/// What the Python client logged: the run, where its artifacts are, the files by path.
struct Logged {
    run_id: String,
    artifact_uri: String,
    files: Vec<(String, Vec<u8>)>,
}

/// MLflow's Python client, with the server's client environment, creates a run in
/// `experiment`, logs a metric, `data.bin` (3 MB) and a folder `model`, and registers the
/// folder as version 1 of `model_name`.
fn log_with_python(server: &MlflowServer, experiment: &str, model_name: &str) -> Logged {
    let dir = tempfile::tempdir().unwrap();
    let files = vec![
        ("data.bin".to_owned(), pattern(3 * MIB, 7)),
        ("model/MLmodel".to_owned(), b"flavors: {}\n".to_vec()),
        ("model/weights.bin".to_owned(), pattern(100_000, 11)),
    ];
    for (path, bytes) in &files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let script = r#"
experiment, folder, model_name = args
run = client.create_run(client.create_experiment(experiment))
run_id = run.info.run_id
client.log_metric(run_id, "loss", 0.25, step=3)
client.log_artifact(run_id, f"{folder}/data.bin")
client.log_artifacts(run_id, f"{folder}/model", "model")
client.create_registered_model(model_name)
client.create_model_version(model_name, source=f"runs:/{run_id}/model", run_id=run_id)
client.set_terminated(run_id)
print(json.dumps({"run_id": run_id, "artifact_uri": run.info.artifact_uri}))
"#;
    let folder = dir.path().to_string_lossy();
    let out = server.python(script, &[experiment, &folder, model_name]);
    Logged {
        run_id: out["run_id"].as_str().unwrap().to_owned(),
        artifact_uri: out["artifact_uri"].as_str().unwrap().to_owned(),
        files,
    }
}

/// Everything the Python client logged to `server` is in its stores, once, byte for byte.
fn round_trip(server: &MlflowServer, name: &str, artifact_root: &str) {
    let model = format!("{name}-model");
    let logged = log_with_python(server, name, &model);
    assert!(
        logged.artifact_uri.starts_with(artifact_root),
        "{} is not under {artifact_root}",
        logged.artifact_uri
    );
    let sizes: Vec<(String, u64)> = (logged.files.iter())
        .map(|(path, bytes)| (path.clone(), bytes.len() as u64))
        .collect();

    // Read back through MLflow's Python client, which reads the artifact store itself.
    let mut downloads = server.download(&[&logged.run_id], &[&model]);
    let downloaded = &downloads.runs[&logged.run_id];
    assert_eq!(downloaded.sizes(), sizes);
    for (path, bytes) in &logged.files {
        assert!(downloaded.files[path].bytes() == *bytes, "{path} differs");
    }
    let versions = downloads.models.remove(&model).unwrap();
    assert_eq!(versions.len(), 1, "{versions:?}");
    let version = &versions[0];
    assert_eq!(version.version, 1);
    assert_eq!(version.status, "READY");
    assert_eq!(version.run_id, logged.run_id);
    assert_eq!(version.source, format!("runs:/{}/model", logged.run_id));
    let model_sizes: Vec<(String, u64)> = (sizes.iter())
        .filter_map(|(p, s)| Some((p.strip_prefix("model/")?.to_owned(), *s)))
        .collect();
    assert_eq!(version.files.sizes(), model_sizes);
    assert!(version.files.files["weights.bin"].bytes() == logged.files[2].1);

    // The objects are in the artifact store, listed with its own client, not MLflow's.
    assert_eq!(server.stored_objects(&logged.run_id), sizes);

    // The run and its metric are in PostgreSQL.
    let postgres = &server.stores().unwrap().postgres;
    let row = postgres.psql(&format!(
        "select r.status, r.artifact_uri, m.key, m.value, m.step from runs r \
         join metrics m on m.run_uuid = r.run_uuid where r.run_uuid = '{}'",
        logged.run_id
    ));
    assert_eq!(
        row.trim(),
        format!("FINISHED|{}|loss|0.25|3", logged.artifact_uri)
    );
}

/// The server runs [`WORKERS`] worker processes (uvicorn starts them all at once, but a
/// server answers its health check as soon as one is up).
fn assert_workers(server: &MlflowServer) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while server.workers() != WORKERS as usize && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(server.workers(), WORKERS as usize);
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn postgres_and_azurite_hold_what_the_python_client_logged() {
    let server = MlflowServer::shared_postgres_azurite();
    assert_workers(server);
    round_trip(server, "production-azurite", AZURE_ARTIFACT_ROOT);
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn postgres_and_s3_hold_what_the_python_client_logged() {
    let server = MlflowServer::shared_postgres_s3();
    assert_workers(server);
    round_trip(server, "production-s3", S3_ARTIFACT_ROOT);
}

#[test]
#[ignore = "needs PostgreSQL; run via the README test command"]
fn a_dropped_postgres_stops_and_frees_its_port() {
    let postgres = tests::postgres::Postgres::start();
    let port = postgres.port();
    assert_eq!(postgres.psql("select 1 + 1").trim(), "2");
    drop(postgres);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

/// scripts/bench-python-load.py, small: every process's run, points, tags and file arrive.
#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn the_python_load_script_logs_what_it_reports() {
    let server = MlflowServer::shared_postgres_s3();
    let script = tests::venv::workspace().join("scripts/bench-python-load.py");
    let experiment = "python-load-check";
    let out = std::process::Command::new(tests::venv::server_python())
        .arg(script)
        .args(["--tracking-uri", &server.uri, "--experiment", experiment])
        .args(["--processes", "2", "--metrics", "2500", "--tags", "20"])
        .args(["--file-mb", "1"])
        .envs(server.client_env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = tests::last_json(&out.stdout);
    assert!(
        report["points_per_second"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    let runs = server.runs_in(experiment);
    assert_eq!(runs.len(), 2);
    for run in &runs {
        let id = run["info"]["run_id"].as_str().unwrap();
        assert_eq!(run["info"]["status"], "FINISHED");
        let steps: Vec<i64> = server.history(id, "loss").iter().map(|p| p.0).collect();
        assert_eq!(steps, (0..2500).collect::<Vec<_>>());
        let tags = run["data"]["tags"].as_array().unwrap();
        let ours = tags
            .iter()
            .filter(|t| t["key"].as_str().unwrap().starts_with("tag"));
        assert_eq!(ours.count(), 20);
        assert_eq!(
            server.stored_objects(id),
            vec![("data.bin".to_owned(), 1_000_000)]
        );
    }
}
