//! A real MLflow server for the tests: installed into a venv on first use, started on a free
//! loopback port with its own temporary data folder and `--workers 1`, and stopped when the
//! test process ends (a watchdog in the server's process group sees the test process go).
//! Production-style servers (PostgreSQL, artifacts in Azure Blob Storage or S3, 4 workers) are
//! in [`crate::production`].

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::production::Stores;
pub use crate::venv::{MLFLOW_VERSION, mlflow_executable};
use crate::venv::{NO_TELEMETRY, python_json, run};
use crate::watchdog::{Stop, Watched};

/// A running MLflow server.
pub struct MlflowServer {
    /// `http://127.0.0.1:<port>`.
    pub uri: String,
    port: u16,
    data: PathBuf,
    server: Option<Watched>,
    options: ServerOptions,
    // The database and artifact store of a production-style server, which it keeps running:
    // dropped after the server is stopped (`Drop` stops it first).
    pub(crate) stores: Option<Stores>,
    _data_guard: tempfile::TempDir,
}

/// How a test's own server differs from the default one.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Require HTTP Basic authentication (MLflow's `basic-auth` app), user `admin` with this
    /// password.
    pub admin_password: Option<String>,
    /// Serve HTTPS with a certificate for 127.0.0.1 from a private authority made with
    /// `openssl` (not trusted by the system; [`MlflowServer::certificate_authority`] is it).
    pub tls: bool,
    /// `--backend-store-uri`; by default a sqlite file in the server's data folder.
    pub backend_store_uri: Option<String>,
    /// `--default-artifact-root`: where runs' artifacts go (`wasbs://...`, `s3://...`); by
    /// default MLflow's own `mlflow-artifacts:/` proxy, stored in the server's data folder.
    pub default_artifact_root: Option<String>,
    /// `--no-serve-artifacts`: the server neither stores nor proxies artifacts; clients write
    /// and read the artifact store themselves.
    pub no_serve_artifacts: bool,
    /// `--workers`; 1 when not given (with MLflow's default of 4, each request on a
    /// kept-alive connection costs about 50 ms: the server never sets TCP_NODELAY).
    pub workers: Option<u32>,
    /// Variables added to the server process's environment.
    pub env: Vec<(String, String)>,
}

impl MlflowServer {
    /// The server shared by the tests of this test binary, started on first use.
    pub fn shared() -> &'static MlflowServer {
        static SHARED: OnceLock<MlflowServer> = OnceLock::new();
        SHARED.get_or_init(MlflowServer::start)
    }

    /// A server of its own, for a test that stops and restarts it.
    pub fn start() -> MlflowServer {
        MlflowServer::start_with(ServerOptions::default())
    }

    /// A server of its own that requires HTTP Basic authentication (MLflow's `basic-auth`
    /// app), with user `admin` and the password given.
    pub fn start_with_auth(admin_password: &str) -> MlflowServer {
        MlflowServer::start_with(ServerOptions {
            admin_password: Some(admin_password.to_owned()),
            ..Default::default()
        })
    }

    /// A server of its own with these options.
    pub fn start_with(options: ServerOptions) -> MlflowServer {
        let guard = tempfile::tempdir().expect("a temporary folder for the server");
        let port = free_port();
        let scheme = if options.tls { "https" } else { "http" };
        let mut server = MlflowServer {
            uri: format!("{scheme}://127.0.0.1:{port}"),
            port,
            data: guard.path().to_owned(),
            server: None,
            options,
            stores: None,
            _data_guard: guard,
        };
        if server.options.tls {
            make_certificate(&server.data);
        }
        server.launch();
        server
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PEM file of the authority that signed a TLS server's certificate: what a client
    /// must trust.
    pub fn certificate_authority(&self) -> PathBuf {
        self.data.join("ca.pem")
    }

    /// The database and artifact store of a production-style server; none for the others.
    pub fn stores(&self) -> Option<&Stores> {
        self.stores.as_ref()
    }

    /// The variables a client (the program under test, MLflow's Python client) needs to write
    /// and read this server's artifact store; none when the server proxies artifacts itself.
    pub fn client_env(&self) -> Vec<(String, String)> {
        self.stores
            .as_ref()
            .map(Stores::client_env)
            .unwrap_or_default()
    }

    fn launch(&mut self) {
        let mut command = Command::new(mlflow_executable());
        command.arg("server").env(NO_TELEMETRY.0, NO_TELEMETRY.1);
        if self.options.tls {
            let (key, cert) = (self.data.join("key.pem"), self.data.join("cert.pem"));
            command.arg("--uvicorn-opts").arg(format!(
                "--ssl-keyfile {} --ssl-certfile {}",
                key.display(),
                cert.display()
            ));
        }
        if let Some(password) = &self.options.admin_password {
            command
                .args(["--app-name", "basic-auth"])
                .env("MLFLOW_AUTH_ADMIN_PASSWORD", password)
                .env("MLFLOW_FLASK_SERVER_SECRET_KEY", "runctx-tests");
        }
        let workers = self.options.workers.unwrap_or(1);
        command
            .current_dir(&self.data)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--workers", &workers.to_string()])
            .arg("--backend-store-uri")
            .arg(
                self.options.backend_store_uri.clone().unwrap_or_else(|| {
                    format!("sqlite:///{}", self.data.join("mlflow.db").display())
                }),
            )
            .env("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
            .envs(self.options.env.iter().map(|(k, v)| (k, v)));
        if self.options.no_serve_artifacts {
            command.arg("--no-serve-artifacts");
        } else {
            command
                .arg("--artifacts-destination")
                .arg(self.data.join("artifacts"));
        }
        if let Some(root) = &self.options.default_artifact_root {
            command.arg("--default-artifact-root").arg(root);
        }
        self.server = Some(Watched::spawn(
            "MLflow server",
            &command,
            &self.data,
            Stop::Group,
        ));
        self.wait_healthy();
    }

    fn wait_healthy(&mut self) {
        let health = format!("{}/health", self.uri);
        let server = self.server.as_mut().expect("a started server");
        // A cold start of 4 workers on a busy 2-core machine takes up to a minute.
        server.wait_until(
            Duration::from_secs(180),
            || matches!(http("GET", &health, None), Ok((200, body)) if body.trim() == "OK"),
        );
    }

    /// The number of worker processes the server runs now: uvicorn starts each with
    /// `multiprocessing`'s spawn, so each has `spawn_main` on its command line.
    pub fn workers(&self) -> usize {
        let Some(group) = self.server.as_ref().and_then(Watched::group) else {
            return 0;
        };
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return 0;
        };
        entries
            .flatten()
            .filter(|e| {
                let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                // The fields after the parenthesised command: state, ppid, pgrp, ...
                let pgrp = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<i32>().ok());
                let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                pgrp == Some(group) && String::from_utf8_lossy(&cmdline).contains("spawn_main")
            })
            .count()
    }

    /// Stops the server (its data stays).
    pub fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.stop();
            let deadline = Instant::now() + Duration::from_secs(5);
            while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Starts the stopped server again, on the same port and data.
    pub fn restart(&mut self) {
        assert!(self.server.is_none(), "stop the server first");
        self.launch();
    }

    /// `GET /api/2.0/mlflow/<path>?<query>` as JSON.
    pub fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let query: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        let url = format!("{}/api/2.0/mlflow/{path}?{}", self.uri, query.join("&"));
        let (status, body) = http("GET", &url, None).expect("the server answers");
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).expect("JSON")
    }

    /// `POST /api/2.0/mlflow/<path>` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let url = format!("{}/api/2.0/mlflow/{path}", self.uri);
        let (status, text) =
            http("POST", &url, Some(&body.to_string())).expect("the server answers");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A run as `runs/get` gives it.
    pub fn run(&self, run_id: &str) -> Value {
        self.get("runs/get", &[("run_id", run_id)])["run"].clone()
    }

    /// The full history of metric `key`, as (step, value) pairs sorted by step; values are
    /// numbers, or strings for NaN.
    pub fn history(&self, run_id: &str, key: &str) -> Vec<(i64, Value)> {
        let mut points = Vec::new();
        let mut token = String::new();
        loop {
            let mut query = vec![
                ("run_id", run_id),
                ("metric_key", key),
                ("max_results", "25000"),
            ];
            if !token.is_empty() {
                query.push(("page_token", &token));
            }
            let reply = self.get("metrics/get-history", &query);
            for m in reply["metrics"].as_array().into_iter().flatten() {
                points.push((m["step"].as_i64().unwrap(), m["value"].clone()));
            }
            match reply["next_page_token"].as_str() {
                Some(t) if !t.is_empty() => token = t.to_owned(),
                _ => break,
            }
        }
        points.sort_by_key(|p| p.0);
        points
    }

    /// The runs of experiment `name` that have tag `key` = `value`.
    pub fn runs_with_tag(&self, experiment: &str, key: &str, value: &str) -> Vec<Value> {
        let exp = self.get(
            "experiments/get-by-name",
            &[("experiment_name", experiment)],
        );
        let id = exp["experiment"]["experiment_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let filter = format!("tags.`{key}` = '{value}'");
        let (status, reply) = self.post(
            "runs/search",
            &serde_json::json!({"experiment_ids": [id], "filter": filter, "max_results": 1000}),
        );
        assert_eq!(status, 200, "{reply}");
        reply["runs"].as_array().cloned().unwrap_or_default()
    }

    /// Every run of experiment `name`; none if the experiment does not exist.
    pub fn runs_in(&self, experiment: &str) -> Vec<Value> {
        let url = format!(
            "{}/api/2.0/mlflow/experiments/get-by-name?experiment_name={}",
            self.uri,
            encode(experiment)
        );
        let (status, body) = http("GET", &url, None).expect("the server answers");
        if status == 404 {
            return Vec::new();
        }
        let exp: Value = serde_json::from_str(&body).expect("JSON");
        let id = exp["experiment"]["experiment_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, reply) = self.post(
            "runs/search",
            &serde_json::json!({"experiment_ids": [id], "max_results": 1000}),
        );
        assert_eq!(status, 200, "{reply}");
        reply["runs"].as_array().cloned().unwrap_or_default()
    }

    /// The content of artifact `path` of a run.
    pub fn artifact(&self, run_id: &str, path: &str) -> Option<Vec<u8>> {
        let run = self.run(run_id);
        let root = run["info"]["artifact_uri"]
            .as_str()?
            .strip_prefix("mlflow-artifacts:/")?
            .to_owned();
        let url = format!(
            "{}/api/2.0/mlflow-artifacts/artifacts/{root}/{}",
            self.uri,
            encode_path(path)
        );
        match http_bytes("GET", &url, None) {
            Ok((200, body)) => Some(body),
            _ => None,
        }
    }
}

impl MlflowServer {
    /// Runs `script` with the venv's Python and MLflow's own client, and returns what it
    /// prints on its last line as JSON: a second opinion on what arrived, from a client nobody
    /// here wrote. The script has `mlflow` (its tracking URI set to this server), `json`,
    /// `client = mlflow.MlflowClient(<uri>)` and `args` (the strings given) in scope, and ends
    /// with `print(json.dumps(...))`. It runs with [`MlflowServer::client_env`], so it reaches
    /// the artifact store of a production-style server.
    pub fn python(&self, script: &str, args: &[&str]) -> Value {
        let prelude = "import json, sys, mlflow\n\
                       mlflow.set_tracking_uri(sys.argv[1])\n\
                       client = mlflow.MlflowClient(sys.argv[1])\n\
                       args = sys.argv[2:]\n";
        let args: Vec<&str> = std::iter::once(self.uri.as_str())
            .chain(args.iter().copied())
            .collect();
        python_json(&format!("{prelude}{script}"), &args, &self.client_env())
    }

    /// What MLflow's Python client sees of the things `ask` names, in one call of the
    /// interpreter (importing `mlflow` takes seconds).
    pub fn py_view(&self, ask: &PyAsk<'_>) -> PyView {
        let script = r#"
ask = json.loads(args[0])
view = {}
if ask["runs_tagged"]:
    experiment, key, value = ask["runs_tagged"]
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], f"tags.`{key}` = '{value}'")
    view["runs_tagged"] = [r.info.run_id for r in runs]
if ask["run"]:
    run = ask["run"]
    view["metric_steps"] = {k: sorted(m.step for m in client.get_metric_history(run, k))
                            for k in ask["metrics"]}
    def walk(path):
        for f in client.list_artifacts(run, path):
            yield from walk(f.path) if f.is_dir else [(f.path, f.file_size)]
    view["artifacts"] = sorted(walk(None))
if ask["model"]:
    vs = client.search_model_versions(f"name = '{ask['model']}'")
    view["model_versions"] = sorted(({"version": int(v.version), "run_id": v.run_id,
                                      "source": v.source, "tags": v.tags} for v in vs),
                                    key=lambda v: v["version"])
print(json.dumps(view))
"#;
        let ask = json!({
            "runs_tagged": ask.runs_tagged,
            "run": ask.run,
            "metrics": ask.metrics,
            "model": ask.model,
        });
        let view = self.python(script, &[&ask.to_string()]);
        // A field not asked for is absent, and reads as empty.
        let field = |key: &str| view.get(key).cloned().unwrap_or(Value::Null);
        let parse = |key: &str, empty: Value| match field(key) {
            Value::Null => empty,
            v => v,
        };
        PyView {
            runs_tagged: serde_json::from_value(parse("runs_tagged", json!([]))).unwrap(),
            metric_steps: serde_json::from_value(parse("metric_steps", json!({}))).unwrap(),
            artifacts: serde_json::from_value(parse("artifacts", json!([]))).unwrap(),
            model_versions: serde_json::from_value(parse("model_versions", json!([]))).unwrap(),
        }
    }
}

/// What to ask MLflow's Python client, for [`MlflowServer::py_view`].
#[derive(Debug, Clone, Default)]
pub struct PyAsk<'a> {
    /// The runs of an experiment with a tag: (experiment, key, value).
    pub runs_tagged: Option<(&'a str, &'a str, &'a str)>,
    /// A run whose metric histories (of `metrics`) and artifacts to read.
    pub run: Option<&'a str>,
    /// The metric keys of `run` to read.
    pub metrics: &'a [&'a str],
    /// A registered model whose versions to read.
    pub model: Option<&'a str>,
}

/// What MLflow's Python client saw.
#[derive(Debug, Clone, Default)]
pub struct PyView {
    /// The ids of the (active) runs with the tag asked for.
    pub runs_tagged: Vec<String>,
    /// The steps of each metric asked for, sorted.
    pub metric_steps: std::collections::BTreeMap<String, Vec<i64>>,
    /// Every artifact file of the run, with its size, sorted.
    pub artifacts: Vec<(String, u64)>,
    /// The versions of the model (version, run_id, source, tags), oldest first.
    pub model_versions: Vec<Value>,
}

impl Drop for MlflowServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free port on the loopback interface.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn encode_path(s: &str) -> String {
    s.split('/').map(encode).collect::<Vec<_>>().join("/")
}

/// A minimal HTTP/1.1 request to a loopback server; the body as text.
pub fn http(method: &str, url: &str, body: Option<&str>) -> std::io::Result<(u16, String)> {
    http_bytes(method, url, body).map(|(s, b)| (s, String::from_utf8_lossy(&b).into_owned()))
}

/// A certificate authority (`ca.pem`) and a server certificate it signed for 127.0.0.1
/// (`cert.pem`, `key.pem`) in `dir`, as a private PKI would have.
fn make_certificate(dir: &Path) {
    let openssl = |args: &[&str]| {
        run(Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .stderr(Stdio::null()));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=runctx test CA",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "cert.pem",
    ]);
}

/// An HTTPS request to a loopback server, through curl (which trusts any certificate here:
/// the tests check the client under test, not this reader).
fn https_bytes(method: &str, url: &str, body: Option<&str>) -> std::io::Result<(u16, Vec<u8>)> {
    let host = url
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap_or_default();
    assert!(
        host.starts_with("127.0.0.1:"),
        "tests talk to loopback only: {host}"
    );
    let mut cmd = Command::new("curl");
    cmd.args(["-sk", "-X", method, "-w", "\n%{http_code}", url]);
    if let Some(body) = body {
        cmd.args([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
        ]);
    }
    let out = cmd.output()?;
    let mut text = out.stdout;
    let split = text.iter().rposition(|&b| b == b'\n').unwrap_or(0);
    let status = String::from_utf8_lossy(&text[split..])
        .trim()
        .parse()
        .unwrap_or(0);
    text.truncate(split);
    Ok((status, text))
}

/// A minimal HTTP/1.1 request to a loopback server.
pub fn http_bytes(method: &str, url: &str, body: Option<&str>) -> std::io::Result<(u16, Vec<u8>)> {
    if url.starts_with("https://") {
        return https_bytes(method, url, body);
    }
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    assert!(
        host.starts_with("127.0.0.1:") || host.starts_with("localhost:"),
        "tests talk to loopback only: {host}"
    );
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.unwrap_or("");
    let content_type = if method == "POST" {
        "Content-Type: application/json\r\n"
    } else {
        ""
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{content_type}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut chunked = false;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if line.to_ascii_lowercase().starts_with("transfer-encoding:")
            && line.to_ascii_lowercase().contains("chunked")
        {
            chunked = true;
        }
    }
    let mut raw = Vec::new();
    reader.read_to_end(&mut raw)?;
    Ok((status, if chunked { dechunk(&raw) } else { raw }))
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&raw[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        out.extend_from_slice(&raw[start..(start + size).min(raw.len())]);
        raw = &raw[(start + size + 2).min(raw.len())..];
    }
    out
}
