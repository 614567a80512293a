//! A real MLflow server for the tests: installed into a venv on first use, started on a free
//! loopback port with its own temporary data folder and `--workers 1`, and stopped when the
//! test process ends (a watchdog in the server's process group sees the test process go).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The MLflow release the project is tested against.
pub const MLFLOW_VERSION: &str = "3.17.2";

/// A running MLflow server.
pub struct MlflowServer {
    /// `http://127.0.0.1:<port>`.
    pub uri: String,
    port: u16,
    data: PathBuf,
    _data_guard: Option<tempfile::TempDir>,
    child: Option<Child>,
    options: ServerOptions,
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
            tls: false,
        })
    }

    /// A server of its own with these options.
    pub fn start_with(options: ServerOptions) -> MlflowServer {
        let guard = tempfile::tempdir().expect("a temporary folder for the server");
        let data = guard.path().to_owned();
        let mut server = MlflowServer {
            uri: String::new(),
            port: free_port(),
            data,
            _data_guard: Some(guard),
            child: None,
            options,
        };
        let scheme = if server.options.tls { "https" } else { "http" };
        server.uri = format!("{scheme}://127.0.0.1:{}", server.port);
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

    fn launch(&mut self) {
        let mlflow = mlflow_executable();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.join("server.log"))
            .expect("the server log");
        // bash leads the process group: it starts the server, and kills the whole group when
        // the test process (its parent) is gone.
        let watchdog = r#"
            "$@" &
            server=$!
            while kill -0 "$TEST_PID" 2>/dev/null && kill -0 "$server" 2>/dev/null; do sleep 0.5; done
            kill -TERM -- -$$ 2>/dev/null; sleep 3; kill -KILL -- -$$ 2>/dev/null
        "#;
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(watchdog)
            .arg("watchdog")
            .arg(&mlflow)
            .arg("server");
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
        let child = command
            .current_dir(&self.data)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
                "--workers",
                "1",
            ])
            .arg("--backend-store-uri")
            .arg(format!(
                "sqlite:///{}",
                self.data.join("mlflow.db").display()
            ))
            .arg("--artifacts-destination")
            .arg(self.data.join("artifacts"))
            .env("TEST_PID", std::process::id().to_string())
            .env("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start bash for the MLflow server");
        self.child = Some(child);
        self.wait_healthy();
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(180);
        while Instant::now() < deadline {
            let health = http("GET", &format!("{}/health", self.uri), None);
            if matches!(&health, Ok((200, body)) if body.trim() == "OK") {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("the MLflow server exited ({status}):\n{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "the MLflow server is not healthy after 180 s:\n{}",
            self.log_tail()
        );
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.data.join("server.log")).unwrap_or_default();
        log.lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Stops the server (its data stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let group = child.id() as i32;
            // SAFETY: signalling a process group we created.
            unsafe { libc::kill(-group, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            // SAFETY: as above.
            unsafe { libc::kill(-group, libc::SIGKILL) };
            let _ = child.wait();
        }
    }

    /// Starts the stopped server again, on the same port and data.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the server first");
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
    /// here wrote. The script has `mlflow`, `json`, `client = mlflow.MlflowClient(<uri>)` and
    /// `args` (the strings given) in scope, and ends with `print(json.dumps(...))`.
    pub fn python(&self, script: &str, args: &[&str]) -> Value {
        let python = mlflow_executable().with_file_name("python");
        let prelude = "import json, sys, mlflow\n\
                       client = mlflow.MlflowClient(sys.argv[1])\n\
                       args = sys.argv[2:]\n";
        let out = Command::new(python)
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .arg(&self.uri)
            .args(args)
            // The client must not pick up a developer's own server or credentials.
            .env_remove("MLFLOW_TRACKING_URI")
            .env_remove("MLFLOW_TRACKING_TOKEN")
            .env_remove("MLFLOW_TRACKING_USERNAME")
            .env_remove("MLFLOW_TRACKING_PASSWORD")
            .output()
            .expect("run the venv's python");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the Python client failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let last = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"))
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

/// The `mlflow` executable of the project's venv, installed on first use:
/// `$MLFLOW_VENV` or `<workspace>/.venv/mlflow`.
pub fn mlflow_executable() -> PathBuf {
    let venv = std::env::var_os("MLFLOW_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv/mlflow"));
    let mlflow = venv.join("bin/mlflow");
    let python = venv.join("bin/python");
    let installed = || {
        Command::new(&python)
            .args(["-c", &format!("import importlib.metadata as m, sys, flask_wtf; sys.exit(m.version('mlflow') != '{MLFLOW_VERSION}')")])
            .status()
            .is_ok_and(|s| s.success())
    };
    if mlflow.is_file() && installed() {
        return mlflow;
    }
    std::fs::create_dir_all(venv.parent().unwrap()).unwrap();
    let lock = std::fs::File::create(venv.with_extension("lock")).unwrap();
    lock.lock().unwrap();
    if !(mlflow.is_file() && installed()) {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
        // The `auth` extra brings Flask-WTF, which MLflow's basic-auth app needs.
        run(Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("mlflow[auth]=={MLFLOW_VERSION}"),
        ]));
    }
    mlflow
}

fn run(cmd: &mut Command) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed: {status}");
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
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
