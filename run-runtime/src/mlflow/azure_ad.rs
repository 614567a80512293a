//! Azure AD (Microsoft Entra ID) tokens for an Azure ML workspace outside a job, from the
//! credentials a user already has, tried in the order of Azure's `DefaultAzureCredential`
//! (which Microsoft's MLflow plugin uses):
//!
//! 1. a service principal: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET`, the
//!    OAuth2 client-credentials grant (`POST <authority>/<tenant>/oauth2/v2.0/token`);
//! 2. a managed identity: `IDENTITY_ENDPOINT` with `IDENTITY_HEADER` (App Service, Azure ML
//!    compute), else the instance metadata service (IMDS, `GET
//!    http://169.254.169.254/metadata/identity/oauth2/token` with `Metadata: true`), asked once
//!    with a short wait since most machines have none; `AZURE_CLIENT_ID` picks a user-assigned
//!    identity;
//! 3. the Azure CLI's login: `az account get-access-token --resource <resource> --output json`,
//!    run with a bounded wait.
//!
//! The first that gives a token is used from then on. The token is for
//! `https://management.azure.com` (the plugin's scope), kept, and renewed when less than
//! [`RENEW_BEFORE_SECS`] are left, as Azure's SDKs do.
//!
//! Written here rather than with the `azure_identity` crate (1.0): that crate no longer reads a
//! service principal from the environment (its `DefaultAzureCredential` lost the service
//! credentials in 0.22), and it brings `azure_core`'s HTTP pipeline for three requests this
//! client makes with the HTTP client it has (docs/mlflow.md, "Azure ML").

use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::client::{CallError, Secret};
use super::expiring::{Expiring, now};
use super::token::check_token;
use crate::error::{Error, Result};

/// The resource the tokens are for: what the plugin asks for
/// (`https://management.azure.com/.default`), and what Azure ML's services accept.
pub(crate) const RESOURCE: &str = "https://management.azure.com";
/// A token with less than this left is renewed (Azure's SDKs renew 5 minutes before expiry).
const RENEW_BEFORE_SECS: i64 = 300;
/// How long the instance metadata service gets to answer before it counts as absent.
const IMDS_PROBE: Duration = Duration::from_secs(2);
/// How long `az` may take (the Azure SDKs wait 10 s).
const CLI_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of `az`'s output read: a token is a few KiB.
const CLI_OUTPUT_MAX: u64 = 1 << 20;
/// The instance metadata service's address; `AZURE_POD_IDENTITY_AUTHORITY_HOST` replaces it,
/// as in Azure's SDKs.
const IMDS_HOST: &str = "http://169.254.169.254";

/// Where a token comes from.
#[derive(Debug)]
enum Source {
    ServicePrincipal {
        /// `<authority>/<tenant>/oauth2/v2.0/token`.
        url: String,
        client_id: String,
        secret: Secret,
    },
    /// `IDENTITY_ENDPOINT` with `IDENTITY_HEADER`.
    IdentityEndpoint {
        url: String,
        header: Secret,
        client_id: Option<String>,
    },
    Imds {
        url: String,
        client_id: Option<String>,
    },
    /// `az`, found on PATH.
    AzureCli { program: std::path::PathBuf },
}

/// The Azure AD token of an Azure ML workspace outside a job.
pub(crate) struct AzureAd {
    sources: Vec<Source>,
    /// The index of the source that gave a token: used from then on.
    chosen: Mutex<Option<usize>>,
    token: Expiring,
}

impl std::fmt::Debug for AzureAd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.sources.iter().map(Source::name).collect();
        write!(f, "AzureAd({}, <redacted>)", names.join(", "))
    }
}

/// A failed try of one source.
struct Failure {
    /// Worth trying again later (the source is there, but did not answer).
    transient: bool,
    reason: String,
}

impl AzureAd {
    /// The sources the variables `get` gives configure. A service principal or an identity
    /// endpoint half configured is an error naming the variable missing.
    pub(crate) fn from_env(get: &impl Fn(&str) -> Option<String>) -> Result<AzureAd> {
        let var = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let client_id = var("AZURE_CLIENT_ID");
        let mut sources = Vec::new();
        if let Some(secret) = var("AZURE_CLIENT_SECRET") {
            let tenant = var("AZURE_TENANT_ID").ok_or_else(|| missing("AZURE_TENANT_ID"))?;
            if !tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
            {
                return Err(Error::Config {
                    var: "AZURE_TENANT_ID",
                    value: tenant,
                    reason: "a tenant is an id (a GUID) or a domain name: letters, digits, `-`, \
                             `.` and `_`"
                        .into(),
                });
            }
            let authority = var("AZURE_AUTHORITY_HOST")
                .unwrap_or_else(|| "https://login.microsoftonline.com".into());
            let authority = checked_url("AZURE_AUTHORITY_HOST", &authority)?;
            sources.push(Source::ServicePrincipal {
                url: format!(
                    "{}/{tenant}/oauth2/v2.0/token",
                    authority.trim_end_matches('/')
                ),
                client_id: client_id
                    .clone()
                    .ok_or_else(|| missing("AZURE_CLIENT_ID"))?,
                secret: Secret::new(&secret),
            });
        }
        if let Some(endpoint) = var("IDENTITY_ENDPOINT") {
            let header = var("IDENTITY_HEADER").ok_or_else(|| Error::Config {
                var: "IDENTITY_HEADER",
                value: String::new(),
                reason: "IDENTITY_ENDPOINT is set but IDENTITY_HEADER is not; a managed \
                         identity's endpoint is asked with both (App Service and Azure ML \
                         compute set them together)"
                    .into(),
            })?;
            sources.push(Source::IdentityEndpoint {
                url: checked_url("IDENTITY_ENDPOINT", &endpoint)?,
                header: Secret::new(&header),
                client_id: client_id.clone(),
            });
        } else {
            let host = var("AZURE_POD_IDENTITY_AUTHORITY_HOST").unwrap_or_else(|| IMDS_HOST.into());
            let host = checked_url("AZURE_POD_IDENTITY_AUTHORITY_HOST", &host)?;
            sources.push(Source::Imds {
                url: format!(
                    "{}/metadata/identity/oauth2/token",
                    host.trim_end_matches('/')
                ),
                client_id: client_id.clone(),
            });
        }
        sources.push(Source::AzureCli {
            program: "az".into(),
        });
        Ok(AzureAd {
            sources,
            chosen: Mutex::new(None),
            token: Expiring::new(RENEW_BEFORE_SECS, None),
        })
    }

    /// The token last got, if any.
    pub(crate) fn current(&self) -> Option<Secret> {
        self.token.current()
    }

    /// A token good for the next request: the one kept, or a new one when it has less than
    /// [`RENEW_BEFORE_SECS`] left (see [`Expiring::fresh`] for a failed renewal). No source
    /// giving a token is a 401 whose message says what each source said, so shipping stops
    /// with it; a source that did not answer is a transport error, retried.
    pub(crate) async fn fresh(
        &self,
        http: &reqwest::Client,
    ) -> std::result::Result<Secret, CallError> {
        self.token.fresh(|| self.get_token(http)).await
    }

    /// A new token and its expiry: from the source chosen before, else from the first source
    /// that gives one.
    async fn get_token(
        &self,
        http: &reqwest::Client,
    ) -> std::result::Result<(Secret, i64), CallError> {
        let chosen = *crate::process::lock(&self.chosen);
        if let Some(i) = chosen {
            let source = &self.sources[i];
            return source.token(http, false).await.map_err(|f| {
                source_failed(f.transient, format!("{}: {}", source.name(), f.reason))
            });
        }
        let mut reasons = Vec::new();
        let mut transient = false;
        for (i, source) in self.sources.iter().enumerate() {
            match source.token(http, true).await {
                Ok(got) => {
                    *crate::process::lock(&self.chosen) = Some(i);
                    return Ok(got);
                }
                Err(f) => {
                    transient |= f.transient;
                    reasons.push(format!("{}: {}", source.name(), f.reason));
                }
            }
        }
        Err(source_failed(
            transient,
            format!(
                "no Azure AD token for the Azure ML workspace ({}); set MLFLOW_TRACKING_TOKEN, \
                 or AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or run `az login`",
                reasons.join("; ")
            ),
        ))
    }
}

impl Source {
    fn name(&self) -> &'static str {
        match self {
            Source::ServicePrincipal { .. } => "service principal",
            Source::IdentityEndpoint { .. } => "managed identity (IDENTITY_ENDPOINT)",
            Source::Imds { .. } => "managed identity (instance metadata service)",
            Source::AzureCli { .. } => "Azure CLI",
        }
    }

    /// A token and its expiry from this source; `probing`: the source may well be absent, so
    /// the instance metadata service gets a short wait.
    async fn token(
        &self,
        http: &reqwest::Client,
        probing: bool,
    ) -> std::result::Result<(Secret, i64), Failure> {
        match self {
            Source::ServicePrincipal {
                url,
                client_id,
                secret,
            } => {
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    ("client_secret", secret.expose()),
                    ("scope", &format!("{RESOURCE}/.default")),
                ];
                let body = reqwest::Url::parse_with_params("http://form/", form)
                    .ok()
                    .and_then(|u| u.query().map(str::to_owned))
                    .unwrap_or_default();
                let request = http
                    .post(url)
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(body);
                token_answer(request).await
            }
            Source::IdentityEndpoint {
                url,
                header,
                client_id,
            } => {
                let mut query = vec![("api-version", "2019-08-01"), ("resource", RESOURCE)];
                if let Some(id) = client_id {
                    query.push(("client_id", id));
                }
                let request = http
                    .get(url)
                    .query(&query)
                    .header("X-IDENTITY-HEADER", header.expose());
                token_answer(request).await
            }
            Source::Imds { url, client_id } => {
                let mut query = vec![("api-version", "2018-02-01"), ("resource", RESOURCE)];
                if let Some(id) = client_id {
                    query.push(("client_id", id));
                }
                let mut request = http.get(url).query(&query).header("Metadata", "true");
                if probing {
                    request = request.timeout(IMDS_PROBE);
                }
                token_answer(request).await.map_err(|f| match probing {
                    // Absent on most machines: not worth retrying as if it were down.
                    true => Failure {
                        transient: false,
                        reason: f.reason,
                    },
                    false => f,
                })
            }
            Source::AzureCli { program } => {
                let program = program.clone();
                let got = tokio::task::spawn_blocking(move || run_az(&program))
                    .await
                    .map_err(|e| Failure {
                        transient: true,
                        reason: format!("running az failed: {e}"),
                    })??;
                Ok(got)
            }
        }
    }
}

/// Sends a token request and reads the answer: `access_token`, and its expiry from
/// `expires_on` (seconds since the epoch), `expires_in` (seconds from now) or the token's own
/// `exp` claim, as a number or a string.
async fn token_answer(
    request: reqwest::RequestBuilder,
) -> std::result::Result<(Secret, i64), Failure> {
    let response = request.send().await.map_err(|e| Failure {
        transient: true,
        reason: format!("no answer ({})", e.without_url()),
    })?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| Failure {
        transient: true,
        reason: format!("no answer ({e})"),
    })?;
    let answer: Option<Value> = serde_json::from_slice(&body).ok();
    if !(200..300).contains(&status) {
        let said = answer
            .as_ref()
            .and_then(|a| {
                a.get("error_description")
                    .or_else(|| a.get("message"))
                    .or_else(|| a.get("error"))
            })
            .and_then(Value::as_str)
            .map(gist)
            .unwrap_or_default();
        return Err(Failure {
            transient: status == 429 || status >= 500,
            reason: format!("HTTP {status} {said}"),
        });
    }
    let answer = answer.ok_or_else(|| bad("the answer is no JSON"))?;
    read_token(&answer, "access_token", &["expires_on", "expires_in"])
}

/// The token of `answer[key]`, checked, and its expiry.
fn read_token(
    answer: &Value,
    key: &str,
    expiry: &[&str],
) -> std::result::Result<(Secret, i64), Failure> {
    let token = answer
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(&format!("the answer has no {key:?}")))?;
    check_token(token.as_bytes()).map_err(|rule| bad(&format!("its token: {rule}")))?;
    let number = |k: &str| {
        let v = answer.get(k)?;
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    };
    let expires = expiry
        .iter()
        .find_map(|k| match *k {
            "expires_in" => number(k).map(|secs| now() + secs),
            k => number(k),
        })
        .or_else(|| super::job_token::jwt_expiry(token))
        .ok_or_else(|| bad("the answer says no expiry (expires_on, expires_in)"))?;
    Ok((Secret::new(token), expires))
}

/// Runs `az account get-access-token`, waiting at most [`CLI_TIMEOUT`].
fn run_az(program: &std::path::Path) -> std::result::Result<(Secret, i64), Failure> {
    let mut child = std::process::Command::new(program)
        .args([
            "account",
            "get-access-token",
            "--resource",
            RESOURCE,
            "--output",
            "json",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Failure {
            transient: false,
            reason: match e.kind() {
                std::io::ErrorKind::NotFound => "`az` is not on PATH".into(),
                _ => format!("cannot run `az`: {e}"),
            },
        })?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(pipe) = pipe {
                let _ = pipe.take(CLI_OUTPUT_MAX).read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + CLI_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Failure {
                    transient: true,
                    reason: format!("`az account get-access-token` took more than {CLI_TIMEOUT:?}"),
                });
            }
        }
    };
    let (stdout, stderr) = (
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default(),
    );
    if !status.success() {
        let said = gist(String::from_utf8_lossy(&stderr).trim());
        return Err(Failure {
            transient: false,
            reason: format!("`az account get-access-token` failed ({status}): {said}"),
        });
    }
    let answer: Value = serde_json::from_slice(&stdout).map_err(|e| {
        bad(&format!(
            "`az account get-access-token` printed no JSON ({e})"
        ))
    })?;
    read_token(&answer, "accessToken", &["expires_on"])
}

/// The first line of a service's or a tool's message, cut to 300 characters: the reason, not
/// the trace ids and the rest that follow it.
fn gist(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .trim()
        .chars()
        .take(300)
        .collect()
}

fn bad(reason: &str) -> Failure {
    Failure {
        transient: false,
        reason: reason.to_owned(),
    }
}

/// The error of a token that could not be got: a 401 that stops shipping with the reasons, or
/// a transport error, retried.
fn source_failed(transient: bool, message: String) -> CallError {
    match transient {
        true => CallError::Transport(message),
        false => CallError::Status {
            status: 401,
            code: Some("UNAUTHENTICATED".into()),
            message,
            retry_after: None,
        },
    }
}

fn missing(var: &'static str) -> Error {
    Error::Config {
        var,
        value: String::new(),
        reason: "AZURE_CLIENT_SECRET is set, so a service principal signs in, and it needs \
                 AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET together"
            .into(),
    }
}

/// `value` of `var` if it is an `https://` URL, or `http://` to this machine (an endpoint a
/// platform runs beside the process, or a test's).
fn checked_url(var: &'static str, value: &str) -> Result<String> {
    let refused = |reason: &str| Error::Config {
        var,
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let url = reqwest::Url::parse(value).map_err(|e| refused(&format!("it is no URL ({e})")))?;
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let local = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || is_link_local(&ip));
    match url.scheme() {
        "https" => Ok(value.to_owned()),
        "http" if local => Ok(value.to_owned()),
        _ => Err(refused(
            "a token endpoint is https://, or http:// to this machine or the instance metadata \
             service; tokens are not sent elsewhere",
        )),
    }
}

/// 169.254.0.0/16, where the instance metadata service is.
fn is_link_local(ip: &std::net::IpAddr) -> bool {
    matches!(ip, std::net::IpAddr::V4(v4) if v4.is_link_local())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlflow::test_support::{block_on, http};
    use std::io::{BufRead, Write};
    use std::sync::Arc;

    /// Each request as text: first line, headers in lowercase, body.
    type Seen = Arc<Mutex<Vec<String>>>;

    /// A loopback endpoint answering `answers` in turn (the last one again when they run out).
    fn endpoint(answers: Vec<(u16, String)>) -> (String, Seen) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen: Seen = Arc::new(Mutex::new(Vec::new()));
        let kept = seen.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let stream = stream.unwrap();
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let (mut text, mut line, mut length) = (String::new(), String::new(), 0);
                reader.read_line(&mut text).unwrap();
                while line != "\r\n" {
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length: ") {
                        length = v.trim().parse().unwrap();
                    }
                    text.push_str(&line.to_ascii_lowercase());
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                text.push_str(&String::from_utf8(body).unwrap());
                kept.lock().unwrap().push(text);
                let (status, body) = answers[n.min(answers.len() - 1)].clone();
                let answer = format!(
                    "HTTP/1.1 {status} X\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = (&stream).write_all(answer.as_bytes());
            }
        });
        (base, seen)
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn a_service_principal_posts_the_client_credentials_grant_and_the_token_is_kept() {
        let answer = r#"{"token_type":"Bearer","expires_in":3599,"access_token":"sp-token"}"#;
        let (base, seen) = endpoint(vec![(200, answer.into())]);
        let ad = AzureAd::from_env(&env(&[
            ("AZURE_TENANT_ID", "tenant-1"),
            ("AZURE_CLIENT_ID", "app 1"),
            ("AZURE_CLIENT_SECRET", "s3cr&t"),
            ("AZURE_AUTHORITY_HOST", &base),
        ]))
        .unwrap();
        assert!(!format!("{ad:?}").contains("s3cr"), "{ad:?}");
        let http = http();
        assert!(block_on(ad.fresh(&http)).unwrap().is("sp-token"));
        // An hour left: kept, not asked for again.
        assert!(block_on(ad.fresh(&http)).unwrap().is("sp-token"));
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(
            seen[0].starts_with("POST /tenant-1/oauth2/v2.0/token HTTP/1.1\r\n"),
            "{}",
            seen[0]
        );
        assert!(
            seen[0].contains("content-type: application/x-www-form-urlencoded\r\n"),
            "{}",
            seen[0]
        );
        assert!(
            seen[0].ends_with(
                "\r\n\r\ngrant_type=client_credentials&client_id=app+1&client_secret=s3cr%26t\
                 &scope=https%3A%2F%2Fmanagement.azure.com%2F.default"
            ),
            "{}",
            seen[0]
        );
    }

    #[test]
    fn a_token_about_to_expire_is_renewed_and_a_failed_renewal_keeps_it_while_valid() {
        let (base, seen) = endpoint(vec![
            (200, r#"{"access_token":"first","expires_in":"200"}"#.into()),
            (
                200,
                format!(
                    r#"{{"access_token":"second","expires_on":"{}"}}"#,
                    now() + 100
                ),
            ),
            (503, r#"{"error":"temporarily_unavailable"}"#.into()),
        ]);
        let ad = AzureAd::from_env(&env(&[
            ("IDENTITY_ENDPOINT", &format!("{base}/msi/token")),
            ("IDENTITY_HEADER", "hdr"),
            ("AZURE_CLIENT_ID", "user-assigned"),
        ]))
        .unwrap();
        let http = http();
        // 200 s left is under the 300 s margin: each call renews.
        assert!(block_on(ad.fresh(&http)).unwrap().is("first"));
        assert!(block_on(ad.fresh(&http)).unwrap().is("second"));
        // The renewal fails (503) while "second" is valid: it stays.
        assert!(block_on(ad.fresh(&http)).unwrap().is("second"));
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(
            seen[0].starts_with(
                "GET /msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fmanagement.azure.com\
                 &client_id=user-assigned HTTP/1.1\r\n"
            ),
            "{}",
            seen[0]
        );
        assert!(
            seen[0].contains("x-identity-header: hdr\r\n"),
            "{}",
            seen[0]
        );
    }

    #[test]
    fn the_metadata_service_is_asked_with_metadata_true_and_nothing_configured_is_one_clear_error()
    {
        let answer = format!(
            r#"{{"access_token":"imds-token","expires_in":"86399","expires_on":"{}"}}"#,
            now() + 86399
        );
        let (base, seen) = endpoint(vec![(200, answer)]);
        let ad = AzureAd::from_env(&env(&[("AZURE_POD_IDENTITY_AUTHORITY_HOST", &base)])).unwrap();
        assert!(block_on(ad.fresh(&http())).unwrap().is("imds-token"));
        let seen = seen.lock().unwrap().clone();
        assert!(
            seen[0].starts_with(
                "GET /metadata/identity/oauth2/token?api-version=2018-02-01\
                 &resource=https%3A%2F%2Fmanagement.azure.com HTTP/1.1\r\n"
            ),
            "{}",
            seen[0]
        );
        assert!(seen[0].contains("metadata: true\r\n"), "{}", seen[0]);

        // No metadata service (a closed port), and an `az` that is not on this PATH or fails.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let sp = endpoint(vec![(
            401,
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"}"#.into(),
        )]);
        let ad = AzureAd::from_env(&env(&[
            ("AZURE_POD_IDENTITY_AUTHORITY_HOST", &host),
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "wrong"),
            ("AZURE_AUTHORITY_HOST", &sp.0),
        ]))
        .unwrap();
        let mut ad = ad;
        // Whatever this machine's PATH holds: an `az` that is not there.
        *ad.sources.last_mut().unwrap() = Source::AzureCli {
            program: "/nonexistent/az".into(),
        };
        let e = block_on(ad.fresh(&http())).unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(e, CallError::Status { status: 401, .. }),
            "not retried: {e:?}"
        );
        for part in [
            "no Azure AD token for the Azure ML workspace",
            "service principal: HTTP 401 AADSTS7000215: Invalid client secret provided.",
            "managed identity (instance metadata service): no answer",
            "Azure CLI: `az` is not on PATH",
            "or run `az login`",
        ] {
            assert!(text.contains(part), "{part:?} in {text}");
        }
        assert!(!text.contains("wrong"), "the secret is never shown: {text}");
    }

    #[test]
    fn half_configured_sources_and_foreign_endpoints_are_errors_naming_the_variable() {
        let e = AzureAd::from_env(&env(&[
            ("AZURE_CLIENT_SECRET", "x"),
            ("AZURE_CLIENT_ID", "c"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("AZURE_TENANT_ID=\"\" is invalid"), "{e}");
        let e = AzureAd::from_env(&env(&[("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("IDENTITY_HEADER"), "{e}");
        let e = AzureAd::from_env(&env(&[
            ("AZURE_CLIENT_SECRET", "x"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_AUTHORITY_HOST", "http://login.example.com"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("AZURE_AUTHORITY_HOST=\"http://login.example.com\"")
                && e.contains("tokens are not sent elsewhere"),
            "{e}"
        );
        let e = AzureAd::from_env(&env(&[
            ("AZURE_CLIENT_SECRET", "x"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_TENANT_ID", "t/../x"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("AZURE_TENANT_ID=\"t/../x\""), "{e}");
    }
}
