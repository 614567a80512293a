//! Azure ML and Databricks as tracking servers. Their services cannot be reached from here, so
//! a fake of each (tests/src/fake_service.rs) answers with the shapes recorded from Microsoft's
//! MLflow plugin and from MLflow's Databricks client (docs/mlflow.md), and every request it got
//! is checked: paths, headers, bodies. The bytes go to Azurite, which speaks the real blob
//! protocol and checks the shared access signatures, and are read back with azure-storage-blob.
//!
//! Its own binary: these tests need Azurite but no MLflow server (the production tests' Azurite
//! comes with theirs).

use std::path::Path;
use std::sync::OnceLock;

use base64::Engine;
use serde_json::{Value, json};
use tests::azurite::{Azurite, CONTAINER};
use tests::fake_service::{FakeService, Request};
use tests::{command, last_json, pattern};

const PROBE: &str = env!("CARGO_BIN_EXE_probe");
const MIB: usize = 1 << 20;
const WS: &str = "/subscriptions/sub-1/resourceGroups/rg-1/providers/\
                  Microsoft.MachineLearningServices/workspaces/ws-1";

fn azurite() -> &'static Azurite {
    static AZURITE: OnceLock<Azurite> = OnceLock::new();
    AZURITE.get_or_init(Azurite::start)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A JWT that expires at `exp` (unsigned: the client reads the claim, the service checks it).
fn jwt(exp: i64, subject: &str) -> String {
    let part = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.c2lnbmF0dXJl",
        part(json!({ "alg": "RS256", "typ": "JWT" })),
        part(json!({ "exp": exp, "sub": subject }))
    )
}

/// The probe's inputs: a note and a file of `big` bytes.
fn inputs(dir: &Path, big: usize) -> (Vec<u8>, Vec<u8>) {
    let notes = b"kept as written\n".to_vec();
    let data = pattern(big, 5);
    std::fs::write(dir.join("notes.txt"), &notes).unwrap();
    std::fs::write(dir.join("big.bin"), &data).unwrap();
    (notes, data)
}

/// Runs `probe upload` with `env`; its JSON line.
fn probe(dir: &Path, env: &[(&str, &str)]) -> Value {
    let out = command(PROBE, &dir.join("runs"))
        .envs(env.iter().copied())
        .arg("upload")
        .arg(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = last_json(&out.stdout);
    assert_eq!(line["error"], Value::Null, "{line}\n{stderr}");
    assert_eq!(line["refused"], json!([]), "{line}\n{stderr}");
    line
}

fn bearer(request: &Request) -> &str {
    request.header("authorization").unwrap_or_default()
}

/// The metrics of every `runs/log-batch` request, as (key, value, step).
fn logged_metrics(requests: &[Request], run_id: &str) -> Vec<(String, f64, i64)> {
    let mut metrics = Vec::new();
    for r in requests
        .iter()
        .filter(|r| r.path().ends_with("/runs/log-batch"))
    {
        let body = r.json();
        assert_eq!(body["run_id"], run_id, "{body}");
        for m in body["metrics"].as_array().into_iter().flatten() {
            let key = m["key"].as_str().unwrap().to_owned();
            metrics.push((
                key,
                m["value"].as_f64().unwrap(),
                m["step"].as_i64().unwrap(),
            ));
        }
    }
    metrics.sort_by_key(|a| a.2);
    metrics
}

/// A run of an Azure ML job (`MLFLOW_RUN_ID` = `AZUREML_RUN_ID`) with its artifact URI as a
/// job's run has it.
fn azureml_run(run_id: &str) -> Value {
    json!({ "run": {
        "info": {
            "run_id": run_id, "run_uuid": run_id, "experiment_id": "exp-1",
            "status": "RUNNING", "start_time": 1,
            "artifact_uri": format!("azureml://experiments/iris-train/runs/{run_id}/artifacts"),
        },
        "data": {},
    }})
}

/// Azure ML as Microsoft's plugin sees it: the MLflow REST API under `/mlflow/v2.0<workspace>`,
/// the token endpoint and the artifact service under `/history/v1.0<workspace>`; every call but
/// the token's needs `Bearer <renewed>`.
fn azureml_answer(r: &Request, renewed: &str, blobs: &str, sas: &str) -> (u16, Value) {
    let history = format!("/history/v1.0{WS}");
    let path = r.path();
    if path == format!("{history}/experimentids/exp-1/runs/job_run_1/token") {
        let expiry = "2030-01-01T00:00:00.000Z";
        return (200, json!({ "token": renewed, "expiryTimeUtc": expiry }));
    }
    if bearer(r) != format!("Bearer {renewed}") {
        return (
            401,
            json!({ "error": { "code": "Unauthorized", "message": "expired" } }),
        );
    }
    let mlflow = format!("/mlflow/v2.0{WS}/api/2.0/mlflow/");
    match path.strip_prefix(&mlflow) {
        Some("runs/get") => return (200, azureml_run("job_run_1")),
        Some("runs/log-batch" | "runs/update") => return (200, json!({})),
        _ => {}
    }
    if path == format!("{history}/experiments/iris-train/runs/job_run_1/artifacts/batch/metadata") {
        let p = r.json()["paths"][0]["path"].as_str().unwrap().to_owned();
        let blob = format!("ExperimentRun/dcid.job_run_1/{p}");
        let info = json!({
            "contentUri": format!("{blobs}/{blob}?{sas}"),
            "origin": "ExperimentRun", "container": "dcid.job_run_1", "path": p,
        });
        return (
            200,
            json!({
                "artifacts": { &p: { "origin": "ExperimentRun", "container": "dcid.job_run_1", "path": &p } },
                "artifactContentInformation": { &p: info },
                "errors": {},
            }),
        );
    }
    (
        404,
        json!({ "error": { "code": "NotFound", "message": path } }),
    )
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn azureml_job_token_is_renewed_files_go_through_the_artifact_service_and_the_job_run_stays_open() {
    let azurite = azurite();
    let sas = azurite.container_sas();
    let blobs = format!("{}/{CONTAINER}", azurite.endpoint());
    // Less than the 95 s the plugin keeps: renewed before the first call.
    let expiring = jwt(now() + 30, "job");
    let renewed = jwt(now() + 3600, "renewed");
    let answer_with = renewed.clone();
    let service = FakeService::start(move |r| azureml_answer(r, &answer_with, &blobs, &sas));
    let dir = tempfile::tempdir().unwrap();
    let (notes, data) = inputs(dir.path(), 3 * MIB + 7);
    // The https form of the plugin's REST base, over http to the fake on loopback.
    let uri = format!("{}/mlflow/v2.0{WS}", service.uri);
    let line = probe(
        dir.path(),
        &[
            ("MLFLOW_TRACKING_URI", &uri),
            ("MLFLOW_TRACKING_TOKEN", &expiring),
            ("MLFLOW_RUN_ID", "job_run_1"),
            ("MLFLOW_EXPERIMENT_ID", "exp-1"),
            ("AZUREML_RUN_ID", "job_run_1"),
        ],
    );
    assert_eq!(line["remote_id"], "job_run_1");

    let requests = service.requests();
    let token_path = format!("/history/v1.0{WS}/experimentids/exp-1/runs/job_run_1/token");
    let renewals: Vec<&Request> = requests.iter().filter(|r| r.path() == token_path).collect();
    assert_eq!(renewals.len(), 1, "renewed once: {requests:#?}");
    assert_eq!(
        requests[0].path(),
        token_path,
        "renewed before the first call"
    );
    assert_eq!(renewals[0].method, "GET");
    assert_eq!(bearer(renewals[0]), format!("Bearer {expiring}"));
    for r in requests.iter().filter(|r| r.path() != token_path) {
        assert_eq!(
            bearer(r),
            format!("Bearer {renewed}"),
            "{} {}",
            r.method,
            r.target
        );
    }
    assert!(
        !requests.iter().any(|r| r.path().ends_with("/runs/update")),
        "the job's run is Azure ML's to end"
    );
    assert_eq!(
        logged_metrics(&requests, "job_run_1"),
        [
            ("loss".to_owned(), 0.5, 0),
            ("loss".to_owned(), 0.25, 1),
            ("loss".to_owned(), 0.125, 2)
        ]
    );
    let metadata: Vec<Value> = requests
        .iter()
        .filter(|r| r.path().ends_with("/batch/metadata"))
        .map(|r| {
            assert_eq!(
                (r.method.as_str(), r.header("content-type")),
                ("POST", Some("application/json"))
            );
            r.json()
        })
        .collect();
    assert_eq!(
        metadata,
        [
            json!({ "paths": [{ "path": "notes.txt" }] }),
            json!({ "paths": [{ "path": "data/big.bin" }] })
        ]
    );
    // The bytes went to blob storage through the SAS URLs, not to the service.
    assert_eq!(
        azurite.blob("ExperimentRun/dcid.job_run_1/notes.txt"),
        notes
    );
    assert!(azurite.blob("ExperimentRun/dcid.job_run_1/data/big.bin") == data);
}

/// Databricks as MLflow's client sees it: the MLflow REST API at the workspace's host, and
/// `credentials-for-write` handing out an S3-style presigned URL (served by the fake itself,
/// which records the upload) for `notes.txt` and an Azure SAS URL (Azurite) for the rest.
fn databricks_answer(r: &Request, fake: &str, blobs: &str, sas: &str) -> (u16, Value) {
    let path = r.path();
    if let Some(file) = path.strip_prefix("/presigned/") {
        return match r.method.as_str() {
            "PUT" => (200, json!({})),
            _ => (405, json!({ "file": file })),
        };
    }
    if bearer(r) != "Bearer dapi-from-profile" {
        return (
            401,
            json!({ "error_code": "UNAUTHENTICATED", "message": "bad token" }),
        );
    }
    match path {
        "/api/2.0/mlflow/runs/get" => (
            200,
            json!({ "run": { "info": {
                "run_id": "0a1b2c3d4e", "experiment_id": "77", "status": "RUNNING",
                "artifact_uri": "dbfs:/databricks/mlflow-tracking/77/0a1b2c3d4e/artifacts",
            }, "data": {} }}),
        ),
        "/api/2.0/mlflow/runs/log-batch" | "/api/2.0/mlflow/runs/update" => (200, json!({})),
        "/api/2.0/mlflow/artifacts/credentials-for-write" => {
            let p = r.json()["path"][0].as_str().unwrap().to_owned();
            let info = match p.as_str() {
                "notes.txt" => json!({
                    "run_id": "0a1b2c3d4e", "path": p, "type": "AWS_PRESIGNED_URL",
                    "signed_uri": format!("{fake}/presigned/{p}?X-Amz-Signature=abc"),
                    "headers": [{ "name": "x-amz-server-side-encryption", "value": "AES256" }],
                }),
                _ => json!({
                    "run_id": "0a1b2c3d4e", "path": p, "type": "AZURE_SAS_URI",
                    "signed_uri": format!("{blobs}/dbx/0a1b2c3d4e/{p}?{sas}"),
                    "headers": [{ "name": "x-ms-blob-content-type", "value": "application/octet-stream" }],
                }),
            };
            (200, json!({ "credential_infos": [info] }))
        }
        _ => (
            404,
            json!({ "error_code": "ENDPOINT_NOT_FOUND", "message": path }),
        ),
    }
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn databricks_profile_token_and_signed_urls_for_each_file() {
    let azurite = azurite();
    let sas = azurite.container_sas();
    let blobs = format!("{}/{CONTAINER}", azurite.endpoint());
    // The fake needs its own address for its presigned URLs: known once it listens.
    let own = std::sync::Arc::new(OnceLock::<String>::new());
    let known = own.clone();
    let service = FakeService::start(move |r| {
        databricks_answer(r, known.get().map_or("", String::as_str), &blobs, &sas)
    });
    own.set(service.uri.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Over one 10 MiB block of MLflow's Azure upload: two blocks, the last one short.
    let (notes, data) = inputs(dir.path(), 10 * MIB + 12_345);
    let config = dir.path().join("databrickscfg");
    std::fs::write(
        &config,
        format!(
            "[DEFAULT]\nhost = https://wrong.example.com\ntoken = dapi-default\n\n[ci]\nhost = {}/\ntoken = dapi-from-profile\n",
            service.uri
        ),
    )
    .unwrap();
    let line = probe(
        dir.path(),
        &[
            ("MLFLOW_TRACKING_URI", "databricks://ci"),
            ("DATABRICKS_CONFIG_FILE", config.to_str().unwrap()),
            ("MLFLOW_RUN_ID", "0a1b2c3d4e"),
        ],
    );
    assert_eq!(line["remote_id"], "0a1b2c3d4e");

    let requests = service.requests();
    let api: Vec<&Request> = requests
        .iter()
        .filter(|r| r.path().starts_with("/api/"))
        .collect();
    for r in &api {
        assert_eq!(
            bearer(r),
            "Bearer dapi-from-profile",
            "{} {}",
            r.method,
            r.target
        );
    }
    assert_eq!(logged_metrics(&requests, "0a1b2c3d4e").len(), 3);
    let asked: Vec<Value> = api
        .iter()
        .filter(|r| r.path() == "/api/2.0/mlflow/artifacts/credentials-for-write")
        .map(|r| r.json())
        .collect();
    assert_eq!(
        asked,
        [
            json!({ "run_id": "0a1b2c3d4e", "path": ["notes.txt"] }),
            json!({ "run_id": "0a1b2c3d4e", "path": ["data/big.bin"] })
        ]
    );
    // The presigned PUT: the file, the header the server gave, and no token (the URL is the
    // credential).
    let put: Vec<&Request> = requests
        .iter()
        .filter(|r| r.path().starts_with("/presigned/"))
        .collect();
    assert_eq!(put.len(), 1, "{put:#?}");
    assert_eq!(
        (put[0].method.as_str(), put[0].target.as_str()),
        ("PUT", "/presigned/notes.txt?X-Amz-Signature=abc")
    );
    assert_eq!(
        put[0].header("x-amz-server-side-encryption"),
        Some("AES256")
    );
    assert_eq!(put[0].header("authorization"), None);
    assert_eq!(put[0].body, notes);
    // The Azure one, in blocks committed by a block list: whole in the store.
    assert!(azurite.blob("dbx/0a1b2c3d4e/data/big.bin") == data);
    let update = api
        .iter()
        .find(|r| r.path() == "/api/2.0/mlflow/runs/update");
    assert_eq!(
        update.map(|r| r.json()["status"].clone()),
        Some(json!("FINISHED"))
    );
}
