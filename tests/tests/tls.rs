//! HTTPS to a real MLflow server whose certificate comes from a private authority: refused
//! unless that authority is trusted (SSL_CERT_FILE) or the check is turned off
//! (MLFLOW_TRACKING_INSECURE_TLS).

use std::process::Output;
use std::sync::OnceLock;

use run_runtime::Store;
use tests::mlflow::{MlflowServer, ServerOptions};
use tests::{command, last_json};

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

fn server() -> &'static MlflowServer {
    static SERVER: OnceLock<MlflowServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        MlflowServer::start_with(ServerOptions {
            tls: true,
            ..Default::default()
        })
    })
}

/// The probe's context run against the TLS server, with `env`; its output and local run id.
fn probe(home: &std::path::Path, experiment: &str, env: &[(&str, &str)]) -> (Output, String) {
    let out = command(PROBE, home)
        .arg("context")
        .env("MLFLOW_TRACKING_URI", &server().uri)
        .env("MLFLOW_EXPERIMENT_NAME", experiment)
        .env("RUNCTX_EXIT_TIMEOUT", "20")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let id = last_json(&out.stdout)["id"].as_str().unwrap().to_owned();
    (out, id)
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn an_untrusted_certificate_is_refused_at_once_with_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    server(); // started before the clock: only the probe's own time is bounded
    let started = std::time::Instant::now();
    let (out, id) = probe(dir.path(), "tls-refused", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the TLS handshake failed") && stderr.contains("UnknownIssuer"),
        "{stderr}"
    );
    assert!(
        stderr.contains("MLFLOW_TRACKING_INSECURE_TLS") && stderr.contains("runctx sync"),
        "{stderr}"
    );
    // Not retried until the exit timeout: a certificate does not fix itself.
    assert!(
        started.elapsed().as_secs() < 15,
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        Store::new(dir.path()).read(&id).unwrap().metrics["probe"].len(),
        1,
        "journal kept"
    );
    assert!(server().runs_in("tls-refused").is_empty());
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn a_certificate_trusted_through_ssl_cert_file_is_verified_and_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let cert = server().certificate_authority();
    let (out, id) = probe(
        dir.path(),
        "tls-trusted",
        &[("SSL_CERT_FILE", cert.to_str().unwrap())],
    );
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs = server().runs_with_tag("tls-trusted", "runctx.local_id", &id);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["info"]["status"], "FINISHED");
}

#[test]
#[ignore = "needs MLflow; run via the README test command"]
fn insecure_tls_skips_the_check_when_the_user_asks() {
    let dir = tempfile::tempdir().unwrap();
    let (out, id) = probe(
        dir.path(),
        "tls-insecure",
        &[("MLFLOW_TRACKING_INSECURE_TLS", "true")],
    );
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs = server().runs_with_tag("tls-insecure", "runctx.local_id", &id);
    assert_eq!(runs.len(), 1);
    let remote = runs[0]["info"]["run_id"].as_str().unwrap();
    assert_eq!(server().history(remote, "probe").len(), 1);
}
