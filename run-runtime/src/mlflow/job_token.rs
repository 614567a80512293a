//! The token of an Azure ML job, renewed before it expires.
//!
//! Azure ML starts a job's process with `MLFLOW_TRACKING_TOKEN`, a JWT that expires (its
//! unverified `exp` claim says when), and a job can run for days. Microsoft's MLflow plugin
//! (azureml-mlflow 1.62) renews it when less than 95 s are left, with
//! `GET https://<host>/history/v1.0<workspace>/experimentids/<MLFLOW_EXPERIMENT_ID>/runs/<MLFLOW_RUN_ID>/token`
//! sent with the current token, which answers `{"token", "expiryTimeUtc"}`. This client does
//! the same, checked before each request ([`super::expiring`]).

use base64::Engine;
use serde_json::Value;

use super::client::{CallError, Secret, encode_segment};
use super::expiring::Expiring;
use super::token::check_token;
use crate::config::Workspace;

/// A token with less than this left is renewed (the plugin's margin).
const RENEW_BEFORE_SECS: i64 = 95;

/// A job's token and how to renew it.
pub(crate) struct JobToken {
    /// The renewal endpoint.
    url: String,
    token: Expiring,
}

impl std::fmt::Debug for JobToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JobToken({}, <redacted>)", self.url)
    }
}

impl JobToken {
    /// The token of the job whose run is `run_id` in experiment `experiment_id` of `workspace`;
    /// `None` when `token` is no JWT with an expiry (it is then used as it is).
    pub(crate) fn new(
        workspace: &Workspace,
        token: &str,
        run_id: &str,
        experiment_id: &str,
    ) -> Option<JobToken> {
        let expires = jwt_expiry(token)?;
        let url = format!(
            "{}/history/v1.0{}/experimentids/{}/runs/{}/token",
            workspace.host,
            workspace.path,
            encode_segment(experiment_id),
            encode_segment(run_id)
        );
        Some(JobToken {
            url,
            token: Expiring::new(RENEW_BEFORE_SECS, Some((Secret::new(token), expires))),
        })
    }

    /// The token now, whatever its expiry.
    pub(crate) fn current(&self) -> Option<Secret> {
        self.token.current()
    }

    /// A token good for the next request: the current one, or a renewed one when it has less
    /// than [`RENEW_BEFORE_SECS`] left (see [`Expiring::fresh`] for a failed renewal).
    pub(crate) async fn fresh(&self, http: &reqwest::Client) -> Result<Secret, CallError> {
        self.token.fresh(|| self.renew(http)).await
    }

    async fn renew(&self, http: &reqwest::Client) -> Result<(Secret, i64), CallError> {
        let current = self.current().ok_or_else(|| {
            CallError::Decode("the job has no token to renew the token with".into())
        })?;
        let response = http
            .get(&self.url)
            .bearer_auth(current.expose())
            .send()
            .await
            .map_err(|e| {
                CallError::Transport(format!("renewing the job's token: {}", e.without_url()))
            })?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| CallError::Transport(format!("renewing the job's token: {e}")))?;
        if !(200..300).contains(&status) {
            return Err(CallError::Status {
                status,
                code: None,
                message: format!(
                    "Azure ML refused to renew the job's token ({}); the records stay in the \
                     journal, and `runctx sync` uploads them with a valid MLFLOW_TRACKING_TOKEN",
                    crate::error::Shown::new(String::from_utf8_lossy(&body).trim())
                ),
                retry_after: None,
            });
        }
        let token = renewed_token(&body)?;
        let expires = jwt_expiry(&token).ok_or_else(|| {
            CallError::Decode("the job's renewed token is no JWT with an expiry (exp)".into())
        })?;
        Ok((Secret::new(&token), expires))
    }
}

/// The token of the renewal endpoint's answer, checked as a header value.
fn renewed_token(body: &[u8]) -> Result<String, CallError> {
    let answer: Value = serde_json::from_slice(body)
        .map_err(|e| CallError::Decode(format!("the token endpoint's answer: {e}")))?;
    let token = answer
        .get("token")
        .and_then(Value::as_str)
        .ok_or_else(|| CallError::Decode("the token endpoint's answer has no \"token\"".into()))?;
    check_token(token.as_bytes())
        .map_err(|rule| CallError::Decode(format!("the token endpoint's token: {rule}")))?;
    Ok(token.to_owned())
}

/// The `exp` claim of a JWT (not verified: the server checks the token, this client only needs
/// to know when to renew it).
pub(crate) fn jwt_expiry(token: &str) -> Option<i64> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?;
    exp.as_i64().or_else(|| exp.as_f64().map(|f| f as i64))
}

#[cfg(test)]
mod tests {
    use super::super::expiring::now;
    use super::*;
    use crate::mlflow::test_support::{block_on, http};
    use std::io::{BufRead, Write};
    use std::sync::{Arc, Mutex};

    fn jwt(exp: i64) -> String {
        let part =
            |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.c2ln",
            part(serde_json::json!({ "alg": "RS256" })),
            part(serde_json::json!({ "exp": exp }))
        )
    }

    /// Each request's first line and `Authorization`.
    type Seen = Arc<Mutex<Vec<(String, String)>>>;

    /// A loopback token endpoint answering `status` and `body` to each request; it keeps each
    /// request's first line and `Authorization`.
    fn endpoint(status: u16, body: String) -> (Workspace, Seen) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let stream = stream.unwrap();
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let (mut first, mut auth, mut line) = (String::new(), String::new(), String::new());
                reader.read_line(&mut first).unwrap();
                while line != "\r\n" {
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                    if let Some(v) = line.strip_prefix("authorization: ") {
                        auth = v.trim().to_owned();
                    }
                }
                kept.lock().unwrap().push((first.trim().to_owned(), auth));
                let answer = format!(
                    "HTTP/1.1 {status} X\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = (&stream).write_all(answer.as_bytes());
            }
        });
        let workspace = Workspace {
            host,
            path: "/subscriptions/s/resourceGroups/g/providers/\
                   Microsoft.MachineLearningServices/workspaces/w"
                .into(),
        };
        (workspace, seen)
    }

    #[test]
    fn the_expiry_is_the_unverified_exp_claim() {
        assert_eq!(jwt_expiry(&jwt(1_900_000_000)), Some(1_900_000_000));
        assert_eq!(jwt_expiry("not-a-jwt"), None);
        assert_eq!(jwt_expiry("a.b.c"), None);
        let no_exp = format!(
            "x.{}.y",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"sub":"me"}"#)
        );
        assert_eq!(jwt_expiry(&no_exp), None);
    }

    #[test]
    fn a_token_about_to_expire_is_renewed_once_at_the_runs_endpoint() {
        let renewed = jwt(now() + 3600);
        let (workspace, seen) = endpoint(
            200,
            format!(r#"{{"token":"{renewed}","expiryTimeUtc":"x"}}"#),
        );
        let old = jwt(now() + 60);
        let job = JobToken::new(&workspace, &old, "run 1", "exp-1").unwrap();
        let http = http();
        let token = block_on(job.fresh(&http)).unwrap();
        assert_eq!(token.expose(), renewed);
        // Good for an hour now: no second call.
        assert_eq!(block_on(job.fresh(&http)).unwrap().expose(), renewed);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            [(
                "GET /history/v1.0/subscriptions/s/resourceGroups/g/providers/\
                 Microsoft.MachineLearningServices/workspaces/w/experimentids/exp-1/runs/run%201/\
                 token HTTP/1.1"
                    .to_owned(),
                format!("Bearer {old}")
            )]
        );
    }

    #[test]
    fn a_token_with_time_left_is_not_renewed() {
        let (workspace, seen) = endpoint(500, "{}".into());
        let token = jwt(now() + 600);
        let job = JobToken::new(&workspace, &token, "r", "e").unwrap();
        assert_eq!(block_on(job.fresh(&http())).unwrap().expose(), token);
        assert!(seen.lock().unwrap().is_empty());
    }

    #[test]
    fn a_failed_renewal_keeps_a_valid_token_and_fails_an_expired_one() {
        let (workspace, seen) = endpoint(403, r#"{"error":{"code":"Forbidden"}}"#.into());
        let http = http();
        let valid = jwt(now() + 30);
        let job = JobToken::new(&workspace, &valid, "r", "e").unwrap();
        assert_eq!(block_on(job.fresh(&http)).unwrap().expose(), valid);
        // Tried again only after a pause, while the token still works.
        assert_eq!(block_on(job.fresh(&http)).unwrap().expose(), valid);
        assert_eq!(seen.lock().unwrap().len(), 1);
        let expired = JobToken::new(&workspace, &jwt(now() - 5), "r", "e").unwrap();
        let e = block_on(expired.fresh(&http)).unwrap_err();
        assert!(
            matches!(e, CallError::Status { status: 403, .. })
                && e.to_string()
                    .contains("Azure ML refused to renew the job's token"),
            "{e}"
        );
        // A JWT without an expiry is no job token: used as it is.
        assert!(JobToken::new(&workspace, "opaque-token", "r", "e").is_none());
    }
}
