//! Azure ML and Databricks as tracking servers. Their services cannot be reached from here, so
//! a fake of each (tests/src/fake_service.rs) answers with the shapes recorded from Microsoft's
//! MLflow plugin and from MLflow's Databricks client (docs/mlflow.md), and every request it got
//! is checked: paths, headers, bodies. The bytes go to Azurite, which speaks the real blob
//! protocol and checks the shared access signatures, and are read back with azure-storage-blob.
//!
//! Its own binary: these tests need Azurite but no MLflow server (the production tests' Azurite
//! comes with theirs).

use std::path::Path;
use std::sync::{Mutex, OnceLock};

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

/// The value of query parameter `key` of `r`, percent-decoded.
fn query(r: &Request, key: &str) -> Option<String> {
    let (_, q) = r.target.split_once('?')?;
    q.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| decode(v))
    })
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// The model registry of a fake service, answering as MLflow's REST API does: versions kept as
/// created, and each one's `source` given back by `get-download-uri`.
#[derive(Default)]
struct FakeRegistry {
    versions: Mutex<Vec<Value>>,
}

impl FakeRegistry {
    /// The answer to `call` (the path after `/api/2.0/mlflow/`), if it is a registry call.
    fn answer(&self, call: &str, r: &Request) -> Option<(u16, Value)> {
        let mut versions = self.versions.lock().unwrap();
        Some(match call {
            "registered-models/create" => (
                200,
                json!({ "registered_model": { "name": r.json()["name"] } }),
            ),
            "model-versions/create" => {
                let body = r.json();
                let version = json!({
                    "name": body["name"], "version": (versions.len() + 1).to_string(),
                    "source": body["source"], "run_id": body["run_id"], "status": "READY",
                    "creation_timestamp": 1, "tags": body["tags"],
                });
                versions.push(version.clone());
                (200, json!({ "model_version": version }))
            }
            "model-versions/search" => (200, json!({ "model_versions": *versions })),
            "registered-models/get" => (
                200,
                json!({ "registered_model": { "name": query(r, "name"), "aliases": [] } }),
            ),
            "model-versions/get-download-uri" => {
                let number = query(r, "version").unwrap();
                let found = versions.iter().find(|v| v["version"] == number.as_str());
                (200, json!({ "artifact_uri": found.unwrap()["source"] }))
            }
            _ => return None,
        })
    }
}

/// A model folder: a small file and one of 64 MiB + 1 byte, one byte over the size the Azure
/// ML plugin writes in one put (so it goes in 4 MiB blocks, the last of one byte).
fn model_inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let model = dir.join("model");
    std::fs::create_dir_all(model.join("weights")).unwrap();
    let files = vec![
        ("MLmodel".to_owned(), b"flavors: {}\n".to_vec()),
        ("weights/w.bin".to_owned(), pattern(64 * MIB + 1, 9)),
    ];
    for (name, bytes) in &files {
        std::fs::write(model.join(name), bytes).unwrap();
    }
    files
}

/// Runs `probe model` with `env`; its JSON line, checked for no error.
fn probe_model(dir: &Path, env: &[(&str, &str)]) -> Value {
    let out = command(PROBE, &dir.join("runs"))
        .envs(env.iter().copied())
        .arg("model")
        .arg(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = last_json(&out.stdout);
    for key in ["register_error", "download_error", "error"] {
        assert_eq!(line[key], Value::Null, "{key}: {line}\n{stderr}");
    }
    line
}

/// Checks that the probe's download holds exactly the model's files.
fn assert_downloaded(line: &Value, files: &[(String, Vec<u8>)]) {
    let got = Path::new(line["downloaded"].as_str().unwrap());
    for (name, bytes) in files {
        assert!(
            std::fs::read(got.join(name)).unwrap() == *bytes,
            "{name} differs"
        );
    }
    let count = walk(got).len();
    assert_eq!(count, files.len(), "{:?}", walk(got));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Azure ML with its artifact service's read side: the names `batch/metadata` was given are
/// listed (one to a page, the next through `nextLink`), and `contentinfo` hands out a SAS URL of
/// each blob in Azurite; the registry is MLflow's API.
struct AzureMlFake {
    own: OnceLock<String>,
    blobs: String,
    sas: String,
    named: Mutex<Vec<String>>,
    registry: FakeRegistry,
}

impl AzureMlFake {
    fn answer(&self, r: &Request) -> (u16, Value) {
        if bearer(r) != "Bearer aad-token" {
            return (401, json!({ "error": { "code": "Unauthorized" } }));
        }
        let path = r.path();
        if let Some(call) = path.strip_prefix(&format!("/mlflow/v2.0{WS}/api/2.0/mlflow/")) {
            return match call {
                "runs/get" => (200, azureml_run("run_7")),
                "runs/log-batch" | "runs/update" => (200, json!({})),
                _ => self.registry.answer(call, r).unwrap_or((404, json!({}))),
            };
        }
        let h = format!("/history/v1.0{WS}/experiments/iris-train/runs/run_7/artifacts");
        let blob = |p: &str| format!("{}/ExperimentRun/dcid.run_7/{p}?{}", self.blobs, self.sas);
        let mut named = self.named.lock().unwrap();
        if path == format!("{h}/batch/metadata") {
            let p = r.json()["paths"][0]["path"].as_str().unwrap().to_owned();
            named.push(p.clone());
            let info = json!({ "contentUri": blob(&p), "origin": "ExperimentRun", "container": "dcid.run_7", "path": p });
            return (
                200,
                json!({ "artifacts": { &p: {} }, "artifactContentInformation": { &p: info }, "errors": {} }),
            );
        }
        if path == h {
            let from: usize = query(r, "continuationToken").map_or(0, |t| t.parse().unwrap());
            let page: Vec<Value> = named
                .iter()
                .skip(from)
                .take(1)
                .map(|p| json!({ "path": p, "origin": "ExperimentRun", "container": "dcid.run_7" }))
                .collect();
            let next = (from + 1 < named.len()).then(|| (from + 1).to_string());
            let link = next
                .as_ref()
                .map(|t| format!("{}{h}?continuationToken={t}", self.own.get().unwrap()));
            return (
                200,
                json!({ "value": page, "continuationToken": next, "nextLink": link }),
            );
        }
        if path == format!("{h}/contentinfo") {
            let p = query(r, "path").unwrap();
            return match named.contains(&p) {
                true => (
                    200,
                    json!({ "contentUri": blob(&p), "origin": "ExperimentRun", "container": "dcid.run_7", "path": p }),
                ),
                false => (404, json!({ "error": { "code": "NotFound" } })),
            };
        }
        (
            404,
            json!({ "error": { "code": "NotFound", "message": path } }),
        )
    }
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn azureml_model_registers_with_the_runs_artifact_uri_and_downloads_through_contentinfo() {
    let azurite = azurite();
    let fake = std::sync::Arc::new(AzureMlFake {
        own: OnceLock::new(),
        blobs: format!("{}/{CONTAINER}", azurite.endpoint()),
        sas: azurite.container_sas(),
        named: Mutex::new(Vec::new()),
        registry: FakeRegistry::default(),
    });
    let answering = fake.clone();
    let service = FakeService::start(move |r| answering.answer(r));
    fake.own.set(service.uri.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = model_inputs(dir.path());
    let uri = format!("{}/mlflow/v2.0{WS}", service.uri);
    let line = probe_model(
        dir.path(),
        &[
            ("MLFLOW_TRACKING_URI", &uri),
            ("MLFLOW_TRACKING_TOKEN", "aad-token"),
            ("MLFLOW_RUN_ID", "run_7"),
        ],
    );
    let source = "azureml://experiments/iris-train/runs/run_7/artifacts/models/probe-model";
    assert_eq!(
        (line["version"].clone(), line["source"].clone()),
        (json!(1), json!(source))
    );
    assert_downloaded(&line, &files);

    // 64 MiB + 1 byte went up in 4 MiB blocks, the last of one byte.
    let mut blocks = vec![4 * MIB as u64; 16];
    blocks.push(1);
    let big = "ExperimentRun/dcid.run_7/models/probe-model/weights/w.bin";
    assert_eq!(azurite.committed_blocks(big), blocks);
    assert_eq!(
        azurite.committed_blocks("ExperimentRun/dcid.run_7/models/probe-model/MLmodel"),
        Vec::<u64>::new(),
        "a small file is one put"
    );

    let requests = service.requests();
    for r in &requests {
        assert_eq!(bearer(r), "Bearer aad-token", "{} {}", r.method, r.target);
    }
    let created: Vec<Value> = requests
        .iter()
        .filter(|r| r.path().ends_with("/model-versions/create"))
        .map(|r| r.json())
        .collect();
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(
        (
            &created[0]["name"],
            &created[0]["source"],
            &created[0]["run_id"]
        ),
        (&json!("probe-model"), &json!(source), &json!("run_7"))
    );
    let h = format!("/history/v1.0{WS}/experiments/iris-train/runs/run_7/artifacts");
    // The registration and the download each list the run's artifacts: two pages.
    let listings: Vec<&str> = requests
        .iter()
        .filter(|r| r.path() == h)
        .map(|r| r.target.as_str())
        .collect();
    assert_eq!(
        listings,
        [
            h.clone(),
            format!("{h}?continuationToken=1"),
            h.clone(),
            format!("{h}?continuationToken=1")
        ]
    );
    let mut asked: Vec<String> = requests
        .iter()
        .filter(|r| r.path() == format!("{h}/contentinfo"))
        .map(|r| {
            assert_eq!(r.method, "GET");
            query(r, "path").unwrap()
        })
        .collect();
    asked.sort();
    let m = "models/probe-model";
    // Registration: the size of each file; download: each file's size, then its URL.
    assert_eq!(
        asked,
        [
            format!("{m}/MLmodel"),
            format!("{m}/MLmodel"),
            format!("{m}/MLmodel"),
            format!("{m}/weights/w.bin"),
            format!("{m}/weights/w.bin"),
            format!("{m}/weights/w.bin"),
        ]
    );
}

/// Databricks with the read side of its artifact repository: `artifacts/list` answers from
/// what the blob store holds (listed from Azurite through the SAS, one entry to a page, sizes
/// as strings, as protobuf's JSON mapping writes an int64), and `credentials-for-read` hands out a SAS URL
/// of the blob.
struct DatabricksFake {
    blobs: String,
    sas: String,
    registry: FakeRegistry,
}

const DBX_RUN: &str = "0a1b2c3d4e";

impl DatabricksFake {
    fn answer(&self, r: &Request) -> (u16, Value) {
        if bearer(r) != "Bearer dapi-token" {
            return (401, json!({ "error_code": "UNAUTHENTICATED" }));
        }
        let Some(call) = r.path().strip_prefix("/api/2.0/mlflow/") else {
            return (404, json!({ "error_code": "ENDPOINT_NOT_FOUND" }));
        };
        let signed = |p: &str| {
            json!({ "credential_infos": [{
                "run_id": DBX_RUN, "path": p, "type": "AZURE_SAS_URI",
                "signed_uri": format!("{}/dbx/{DBX_RUN}/{p}?{}", self.blobs, self.sas),
                "headers": [{ "name": "x-ms-version", "value": "2025-11-05" }],
            }]})
        };
        match call {
            "runs/get" => (
                200,
                json!({ "run": { "info": {
                    "run_id": DBX_RUN, "experiment_id": "77", "status": "RUNNING",
                    "artifact_uri": format!("dbfs:/databricks/mlflow-tracking/77/{DBX_RUN}/artifacts"),
                }, "data": {} }}),
            ),
            "runs/log-batch" | "runs/update" => (200, json!({})),
            "artifacts/credentials-for-write" | "artifacts/credentials-for-read" => {
                let body = r.json();
                assert_eq!(body["run_id"], DBX_RUN, "{body}");
                (200, signed(body["path"][0].as_str().unwrap()))
            }
            "artifacts/list" => self.list(r),
            _ => self
                .registry
                .answer(call, r)
                .unwrap_or((404, json!({ "error_code": "ENDPOINT_NOT_FOUND" }))),
        }
    }

    /// The entries right below `path`, from the blobs under `dbx/<run>/<path>/`.
    fn list(&self, r: &Request) -> (u16, Value) {
        assert_eq!(query(r, "run_id").as_deref(), Some(DBX_RUN));
        let folder = query(r, "path").unwrap_or_default();
        let root = format!("dbx/{DBX_RUN}/");
        let below = match folder.as_str() {
            "" => root.clone(),
            f => format!("{root}{f}/"),
        };
        let url = format!(
            "{}?restype=container&comp=list&prefix={below}&{}",
            self.blobs, self.sas
        );
        let (status, xml) = tests::mlflow::http("GET", &url, None).unwrap();
        assert_eq!(status, 200, "{xml}");
        let mut entries: Vec<Value> = Vec::new();
        for blob in xml.split("<Blob>").skip(1) {
            let field = |tag: &str| {
                let (_, rest) = blob.split_once(&format!("<{tag}>")).unwrap();
                rest.split_once(&format!("</{tag}>")).unwrap().0.to_owned()
            };
            let name = field("Name");
            let inside = name.strip_prefix(&below).unwrap();
            let path = name.strip_prefix(&root).unwrap();
            let entry = match inside.split_once('/') {
                Some((dir, _)) => {
                    let dir = path[..path.len() - inside.len() + dir.len()].to_owned();
                    json!({ "path": dir, "is_dir": true })
                }
                None => {
                    json!({ "path": path, "is_dir": false, "file_size": field("Content-Length") })
                }
            };
            if !entries.contains(&entry) {
                entries.push(entry);
            }
        }
        let from: usize = query(r, "page_token").map_or(0, |t| t.parse().unwrap());
        let next = (from + 1 < entries.len()).then(|| (from + 1).to_string());
        let page: Vec<&Value> = entries.iter().skip(from).take(1).collect();
        (
            200,
            json!({ "root_uri": "dbfs:/x", "files": page, "next_page_token": next }),
        )
    }
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn databricks_model_registers_with_the_dbfs_source_and_downloads_through_credentials_for_read() {
    let azurite = azurite();
    let fake = std::sync::Arc::new(DatabricksFake {
        blobs: format!("{}/{CONTAINER}", azurite.endpoint()),
        sas: azurite.container_sas(),
        registry: FakeRegistry::default(),
    });
    let answering = fake.clone();
    let service = FakeService::start(move |r| answering.answer(r));
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir_all(model.join("weights")).unwrap();
    let files = vec![
        ("MLmodel".to_owned(), b"flavors: {}\n".to_vec()),
        ("weights/w.bin".to_owned(), pattern(10 * MIB + 3, 4)),
    ];
    for (name, bytes) in &files {
        std::fs::write(model.join(name), bytes).unwrap();
    }
    let line = probe_model(
        dir.path(),
        &[
            ("MLFLOW_TRACKING_URI", "databricks"),
            ("DATABRICKS_HOST", &service.uri),
            ("DATABRICKS_TOKEN", "dapi-token"),
            ("MLFLOW_RUN_ID", DBX_RUN),
        ],
    );
    let source =
        format!("dbfs:/databricks/mlflow-tracking/77/{DBX_RUN}/artifacts/models/probe-model");
    assert_eq!(
        (line["version"].clone(), line["source"].clone()),
        (json!(1), json!(source))
    );
    assert_downloaded(&line, &files);

    let requests = service.requests();
    for r in &requests {
        assert_eq!(bearer(r), "Bearer dapi-token", "{} {}", r.method, r.target);
    }
    let created: Vec<Value> = requests
        .iter()
        .filter(|r| r.path().ends_with("/model-versions/create"))
        .map(|r| r.json())
        .collect();
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(
        (&created[0]["source"], &created[0]["run_id"]),
        (&json!(source), &json!(DBX_RUN))
    );
    let mut read: Vec<Value> = requests
        .iter()
        .filter(|r| r.path() == "/api/2.0/mlflow/artifacts/credentials-for-read")
        .map(|r| {
            assert_eq!(r.header("content-type"), Some("application/json"));
            r.json()
        })
        .collect();
    read.sort_by_key(|v| v.to_string());
    assert_eq!(
        read,
        [
            json!({ "run_id": DBX_RUN, "path": ["models/probe-model/MLmodel"] }),
            json!({ "run_id": DBX_RUN, "path": ["models/probe-model/weights/w.bin"] }),
        ]
    );
    // Every listing page was asked for: the registration's from the model's folder, the
    // download's from the same folder (its URI), a folder and its file each a page.
    let mut listed: Vec<(Option<String>, Option<String>)> = requests
        .iter()
        .filter(|r| r.path() == "/api/2.0/mlflow/artifacts/list")
        .map(|r| (query(r, "path"), query(r, "page_token")))
        .collect();
    listed.sort();
    let m = "models/probe-model";
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        listed,
        [
            (some(m), None),
            (some(m), None),
            (some(m), some("1")),
            (some(m), some("1")),
            (some(&format!("{m}/weights")), None),
            (some(&format!("{m}/weights")), None),
        ]
    );
}

/// The variables that choose where an Azure AD token comes from: removed from every probe of
/// the token test, so that a developer's own never leak in.
const AZURE_AD_VARS: [&str; 7] = [
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_AUTHORITY_HOST",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
];

/// Azure ML outside a job: Azure AD's token endpoint for a service principal
/// (`/<tenant>/oauth2/v2.0/token`), the instance metadata service's, and the MLflow API, which
/// takes the tokens they issued.
fn azure_ad_answer(r: &Request) -> (u16, Value) {
    let expires = (now() + 3600).to_string();
    match r.path() {
        "/tenant-1/oauth2/v2.0/token" => {
            return (
                200,
                json!({ "token_type": "Bearer", "expires_in": 3599, "access_token": "sp-token" }),
            );
        }
        "/metadata/identity/oauth2/token" => {
            return (
                200,
                json!({ "access_token": "imds-token", "expires_in": "3599", "expires_on": expires, "token_type": "Bearer" }),
            );
        }
        _ => {}
    }
    if !["Bearer sp-token", "Bearer imds-token", "Bearer cli-token"].contains(&bearer(r)) {
        return (401, json!({ "error": { "code": "Unauthorized" } }));
    }
    match r
        .path()
        .strip_prefix(&format!("/mlflow/v2.0{WS}/api/2.0/mlflow/"))
    {
        Some("runs/get") => (200, azureml_run("run_7")),
        Some("runs/log-batch" | "runs/update") => (200, json!({})),
        _ => (404, json!({ "error": { "code": "NotFound" } })),
    }
}

/// Runs `probe context` against the workspace of `uri` with `env` (and none of the developer's
/// Azure variables): its standard error.
fn probe_outside_a_job(dir: &Path, uri: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = command(PROBE, &dir.join("runs"));
    for var in AZURE_AD_VARS {
        cmd.env_remove(var);
    }
    let out = cmd
        .env("MLFLOW_TRACKING_URI", uri)
        .env("MLFLOW_RUN_ID", "run_7")
        .envs(env.iter().copied())
        .arg("context")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn azureml_outside_a_job_gets_azure_ad_tokens_from_a_service_principal_the_metadata_service_or_the_azure_cli()
 {
    let service = FakeService::start(azure_ad_answer);
    let uri = format!("{}/mlflow/v2.0{WS}", service.uri);
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: no metadata service here.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let no_imds = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    // The Azure CLI: a script that keeps its arguments and prints what `az` prints.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let args = dir.path().join("az-args");
    std::fs::write(
        bin.join("az"),
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\necho '{{\"accessToken\": \"cli-token\", \"expiresOn\": \"2030-01-01 00:00:00.000000\", \"expires_on\": {}, \"subscription\": \"s\", \"tenant\": \"t\", \"tokenType\": \"Bearer\"}}'\n",
            args.display(),
            now() + 3600
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("az"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();

    // Each way in turn: what the token endpoint got, and the token every MLflow call carried.
    let ways: [(&str, Vec<(&str, &str)>); 3] = [
        (
            "sp-token",
            vec![
                ("AZURE_TENANT_ID", "tenant-1"),
                ("AZURE_CLIENT_ID", "app-1"),
                ("AZURE_CLIENT_SECRET", "secret-1"),
                ("AZURE_AUTHORITY_HOST", &service.uri),
                ("AZURE_POD_IDENTITY_AUTHORITY_HOST", &service.uri),
                ("PATH", &path),
            ],
        ),
        (
            "imds-token",
            vec![
                ("AZURE_POD_IDENTITY_AUTHORITY_HOST", &service.uri),
                ("PATH", &path),
            ],
        ),
        (
            "cli-token",
            vec![
                ("AZURE_POD_IDENTITY_AUTHORITY_HOST", &no_imds),
                ("PATH", &path),
            ],
        ),
    ];
    let mut seen = 0;
    for (token, env) in &ways {
        probe_outside_a_job(dir.path(), &uri, env);
        let requests = service.requests();
        let new = &requests[seen..];
        seen = requests.len();
        let api: Vec<&Request> = new
            .iter()
            .filter(|r| r.path().starts_with("/mlflow/"))
            .collect();
        assert!(
            api.iter().any(|r| r.path().ends_with("/runs/log-batch")),
            "{token}: {new:#?}"
        );
        for r in &api {
            assert_eq!(
                bearer(r),
                format!("Bearer {token}"),
                "{} {}",
                r.method,
                r.target
            );
        }
        let asked: Vec<&Request> = new
            .iter()
            .filter(|r| !r.path().starts_with("/mlflow/"))
            .collect();
        match *token {
            "sp-token" => {
                assert_eq!(asked.len(), 1, "asked once, then kept: {asked:#?}");
                assert_eq!(
                    (asked[0].method.as_str(), asked[0].target.as_str()),
                    ("POST", "/tenant-1/oauth2/v2.0/token")
                );
                assert_eq!(
                    asked[0].header("content-type"),
                    Some("application/x-www-form-urlencoded")
                );
                assert_eq!(
                    String::from_utf8_lossy(&asked[0].body),
                    "grant_type=client_credentials&client_id=app-1&client_secret=secret-1\
                     &scope=https%3A%2F%2Fmanagement.azure.com%2F.default"
                );
            }
            "imds-token" => {
                assert_eq!(asked.len(), 1, "asked once, then kept: {asked:#?}");
                assert_eq!(
                    (asked[0].method.as_str(), asked[0].target.as_str()),
                    (
                        "GET",
                        "/metadata/identity/oauth2/token?api-version=2018-02-01\
                         &resource=https%3A%2F%2Fmanagement.azure.com"
                    )
                );
                assert_eq!(asked[0].header("metadata"), Some("true"));
                assert_eq!(asked[0].header("authorization"), None);
            }
            _ => assert!(asked.is_empty(), "{asked:#?}"),
        }
    }
    assert_eq!(
        std::fs::read_to_string(&args).unwrap(),
        "account get-access-token --resource https://management.azure.com --output json\n",
        "az ran once"
    );

    // None of them: one error that names each and the ways out; nothing is sent.
    let stderr = probe_outside_a_job(
        dir.path(),
        &uri,
        &[
            ("AZURE_POD_IDENTITY_AUTHORITY_HOST", &no_imds),
            ("PATH", empty.to_str().unwrap()),
        ],
    );
    for part in [
        "no Azure AD token for the Azure ML workspace",
        "managed identity (instance metadata service): no answer",
        "Azure CLI: `az` is not on PATH",
        "set MLFLOW_TRACKING_TOKEN, or AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or run `az login`",
    ] {
        assert!(stderr.contains(part), "{part:?} in:\n{stderr}");
    }
    assert_eq!(
        service.requests().len(),
        seen,
        "nothing reached the service"
    );
}

/// Databricks handing out an Azure signed URL that has expired for `notes.txt` (a new one when
/// asked again) and an ADLS Gen2 one for `data/big.bin`, served by the fake itself, which
/// records each request.
struct RenewingFake {
    own: OnceLock<String>,
    blobs: String,
    sas: String,
    expired: String,
    notes_asked: Mutex<usize>,
}

impl RenewingFake {
    fn answer(&self, r: &Request) -> (u16, Value) {
        if r.path().starts_with("/adls/") {
            return (201, json!({}));
        }
        if bearer(r) != "Bearer dapi-token" {
            return (401, json!({ "error_code": "UNAUTHENTICATED" }));
        }
        match r.path().strip_prefix("/api/2.0/mlflow/") {
            Some("runs/get") => (
                200,
                json!({ "run": { "info": {
                    "run_id": DBX_RUN, "experiment_id": "77", "status": "RUNNING",
                    "artifact_uri": format!("dbfs:/databricks/mlflow-tracking/77/{DBX_RUN}/artifacts"),
                }, "data": {} }}),
            ),
            Some("runs/log-batch" | "runs/update") => (200, json!({})),
            Some("artifacts/credentials-for-write") => {
                let p = r.json()["path"][0].as_str().unwrap().to_owned();
                let info = if p == "notes.txt" {
                    let mut asked = self.notes_asked.lock().unwrap();
                    *asked += 1;
                    let sas = if *asked == 1 {
                        &self.expired
                    } else {
                        &self.sas
                    };
                    json!({ "path": p, "type": "AZURE_SAS_URI",
                            "signed_uri": format!("{}/dbx/{DBX_RUN}/{p}?{sas}", self.blobs) })
                } else {
                    json!({ "path": p, "type": "AZURE_ADLS_GEN2_SAS_URI",
                            "signed_uri": format!("{}/adls/{p}?sig=abc", self.own.get().unwrap()),
                            "headers": [{ "name": "x-ms-encryption-scope", "value": "scope-1" }] })
                };
                (200, json!({ "credential_infos": [info] }))
            }
            _ => (404, json!({ "error_code": "ENDPOINT_NOT_FOUND" })),
        }
    }
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn databricks_renews_an_expired_signed_url_and_writes_adls_gen2_in_appends() {
    let azurite = azurite();
    let fake = std::sync::Arc::new(RenewingFake {
        own: OnceLock::new(),
        blobs: format!("{}/{CONTAINER}", azurite.endpoint()),
        sas: azurite.container_sas(),
        expired: azurite.container_sas_expiring_in(-600),
        notes_asked: Mutex::new(0),
    });
    let answering = fake.clone();
    let service = FakeService::start(move |r| answering.answer(r));
    fake.own.set(service.uri.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Over one 10 MiB append: two appends and a flush.
    let (notes, data) = inputs(dir.path(), 10 * MIB + 12_345);
    probe(
        dir.path(),
        &[
            ("MLFLOW_TRACKING_URI", "databricks"),
            ("DATABRICKS_HOST", &service.uri),
            ("DATABRICKS_TOKEN", "dapi-token"),
            ("MLFLOW_RUN_ID", DBX_RUN),
        ],
    );
    let requests = service.requests();
    let mut asked: Vec<Value> = requests
        .iter()
        .filter(|r| r.path() == "/api/2.0/mlflow/artifacts/credentials-for-write")
        .map(|r| r.json())
        .collect();
    asked.sort_by_key(|v| v.to_string());
    // notes.txt: its first URL was refused (expired), so it was asked for again.
    assert_eq!(
        asked,
        [
            json!({ "run_id": DBX_RUN, "path": ["data/big.bin"] }),
            json!({ "run_id": DBX_RUN, "path": ["notes.txt"] }),
            json!({ "run_id": DBX_RUN, "path": ["notes.txt"] }),
        ]
    );
    assert_eq!(azurite.blob(&format!("dbx/{DBX_RUN}/notes.txt")), notes);

    let adls: Vec<&Request> = requests
        .iter()
        .filter(|r| r.path().starts_with("/adls/"))
        .collect();
    let shape: Vec<(&str, &str, usize)> = adls
        .iter()
        .map(|r| (r.method.as_str(), r.target.as_str(), r.body.len()))
        .collect();
    let at = "/adls/data/big.bin?sig=abc";
    assert_eq!(
        shape,
        [
            ("PUT", format!("{at}&resource=file").as_str(), 0),
            (
                "PATCH",
                format!("{at}&action=append&position=0").as_str(),
                10 * MIB
            ),
            (
                "PATCH",
                format!("{at}&action=append&position={}", 10 * MIB).as_str(),
                12_345
            ),
            (
                "PATCH",
                format!("{at}&action=flush&position={}", data.len()).as_str(),
                0
            ),
        ]
    );
    for r in &adls {
        assert_eq!(r.header("x-ms-encryption-scope"), Some("scope-1"));
        assert_eq!(r.header("authorization"), None);
    }
    assert!(adls[1].body == data[..10 * MIB] && adls[2].body == data[10 * MIB..]);
}

/// Databricks on S3: presigned URLs (served by the fake itself, which records each request
/// and answers a stored `PUT` with its ETag), a multipart upload whose second part's first URL
/// has expired (403).
struct MultipartFake {
    own: OnceLock<String>,
}

impl MultipartFake {
    fn answer(&self, r: &Request) -> (u16, Value) {
        let own = self.own.get().unwrap();
        let signed = |p: &str, query: &str| {
            json!({ "run_id": DBX_RUN, "path": p, "type": "AWS_PRESIGNED_URL",
                    "signed_uri": format!("{own}/s3/{p}?{query}"),
                    "headers": [{ "name": "x-amz-server-side-encryption", "value": "AES256" }] })
        };
        if r.path().starts_with("/s3/") {
            return match query(r, "X-Amz-Signature").as_deref() {
                Some("expired") => (403, json!({})),
                _ => (200, json!({})),
            };
        }
        if bearer(r) != "Bearer dapi-token" {
            return (401, json!({ "error_code": "UNAUTHENTICATED" }));
        }
        match r.path().strip_prefix("/api/2.0/mlflow/") {
            Some("runs/get") => (
                200,
                json!({ "run": { "info": {
                    "run_id": DBX_RUN, "experiment_id": "77", "status": "RUNNING",
                    "artifact_uri": format!("dbfs:/databricks/mlflow-tracking/77/{DBX_RUN}/artifacts"),
                }, "data": {} }}),
            ),
            Some("runs/log-batch" | "runs/update" | "artifacts/complete-multipart-upload") => {
                (200, json!({}))
            }
            Some("artifacts/credentials-for-write") => {
                let p = r.json()["path"][0].as_str().unwrap().to_owned();
                let info = signed(&p, "X-Amz-Signature=single");
                (200, json!({ "credential_infos": [info] }))
            }
            Some("artifacts/create-multipart-upload") => {
                let body = r.json();
                let p = body["path"].as_str().unwrap();
                let parts: Vec<Value> = (1..=body["num_parts"].as_u64().unwrap())
                    .map(|n| {
                        let sig = if n == 2 { "expired" } else { "ok" };
                        signed(
                            p,
                            &format!("partNumber={n}&uploadId=up-1&X-Amz-Signature={sig}"),
                        )
                    })
                    .collect();
                (
                    200,
                    json!({ "upload_id": "up-1", "upload_credential_infos": parts,
                            "abort_credential_info": signed(p, "uploadId=up-1&X-Amz-Signature=abort") }),
                )
            }
            Some("artifacts/get-presigned-upload-part-url") => {
                let (p, n) = (query(r, "path").unwrap(), query(r, "part_number").unwrap());
                let info = signed(
                    &p,
                    &format!("partNumber={n}&uploadId=up-1&X-Amz-Signature=renewed"),
                );
                (200, json!({ "upload_credential_info": info }))
            }
            _ => (404, json!({ "error_code": "ENDPOINT_NOT_FOUND" })),
        }
    }
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn databricks_s3_above_the_multipart_size_goes_in_parts_and_an_expired_part_url_is_renewed() {
    let fake = std::sync::Arc::new(MultipartFake {
        own: OnceLock::new(),
    });
    let answering = fake.clone();
    let service = FakeService::start(move |r| answering.answer(r));
    fake.own.set(service.uri.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // MLflow's variables, made small: above 1 MiB in parts of 5 MiB (S3's least).
    let (notes, data) = inputs(dir.path(), 10 * MIB + 12_345);
    probe(
        dir.path(),
        &[
            ("MLFLOW_TRACKING_URI", "databricks"),
            ("DATABRICKS_HOST", &service.uri),
            ("DATABRICKS_TOKEN", "dapi-token"),
            ("MLFLOW_RUN_ID", DBX_RUN),
            ("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", "1048576"),
            ("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", "5242880"),
        ],
    );
    let requests = service.requests();
    let call = |name: &str| -> Vec<&Request> {
        requests
            .iter()
            .filter(|r| r.path() == format!("/api/2.0/mlflow/artifacts/{name}"))
            .collect()
    };
    let created: Vec<Value> = call("create-multipart-upload")
        .iter()
        .map(|r| r.json())
        .collect();
    assert_eq!(
        created,
        [json!({ "run_id": DBX_RUN, "path": "data/big.bin", "num_parts": 3 })]
    );
    let renewed: Vec<&str> = call("get-presigned-upload-part-url")
        .iter()
        .map(|r| {
            assert_eq!(r.method, "GET");
            r.target.as_str()
        })
        .collect();
    assert_eq!(
        renewed,
        [
            "/api/2.0/mlflow/artifacts/get-presigned-upload-part-url?run_id=0a1b2c3d4e\
          &path=data%2Fbig.bin&upload_id=up-1&part_number=2"
        ]
    );
    let part = |n: usize| &data[(n - 1) * 5 * MIB..(n * 5 * MIB).min(data.len())];
    let puts: Vec<(String, &[u8])> = requests
        .iter()
        .filter(|r| r.path().starts_with("/s3/"))
        .map(|r| {
            assert_eq!(r.method, "PUT");
            assert_eq!(r.header("x-amz-server-side-encryption"), Some("AES256"));
            assert_eq!(r.header("authorization"), None);
            (r.target.clone(), r.body.as_slice())
        })
        .collect();
    let at = |n: usize, sig: &str| {
        format!("/s3/data/big.bin?partNumber={n}&uploadId=up-1&X-Amz-Signature={sig}")
    };
    // The second part's URL had expired: sent again with the renewed one. No abort.
    assert_eq!(
        puts,
        [
            (
                "/s3/notes.txt?X-Amz-Signature=single".to_owned(),
                notes.as_slice()
            ),
            (at(1, "ok"), part(1)),
            (at(2, "expired"), part(2)),
            (at(2, "renewed"), part(2)),
            (at(3, "ok"), part(3)),
        ]
    );
    let completed: Vec<Value> = call("complete-multipart-upload")
        .iter()
        .map(|r| r.json())
        .collect();
    let etags: Vec<Value> = (1..=3)
        .map(|n| json!({ "part_number": n, "etag": tests::fake_service::etag(part(n)) }))
        .collect();
    assert_eq!(
        completed,
        [
            json!({ "run_id": DBX_RUN, "path": "data/big.bin", "upload_id": "up-1", "part_etags": etags })
        ]
    );
}
