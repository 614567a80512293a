//! Large files to Databricks' S3 storage in parts, as MLflow's `DatabricksArtifactRepository`
//! (3.17) writes a file above `MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE` (500 MiB) when
//! `credentials-for-write` hands out an `AWS_PRESIGNED_URL`:
//!
//! 1. `POST <host>/api/2.0/mlflow/artifacts/create-multipart-upload` with `{"run_id", "path",
//!    "num_parts"}` gives an `upload_id`, a presigned URL per part (`upload_credential_infos`)
//!    and one to abort (`abort_credential_info`);
//! 2. each part of `MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE` (10 MiB) is a `PUT` to its URL, whose
//!    answer's `ETag` is kept; a part refused with 401 or 403 (its URL expired) gets a new URL
//!    from `GET .../get-presigned-upload-part-url?run_id&path&upload_id&part_number` and is sent
//!    once more;
//! 3. `POST .../complete-multipart-upload` with `{"run_id", "path", "upload_id", "part_etags":
//!    [{"part_number", "etag"}]}` makes the object; on any failure before it, a `DELETE` of the
//!    abort URL leaves no half upload.
//!
//! Parts are read from disk one at a time and sent one after another (MLflow sends them from a
//! thread pool): memory holds one part.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::artifact_store::{UploadError, read_full};
use super::client::{CallError, Client};
use super::databricks_artifacts::DbfsRun;

/// MLflow's variable for the size above which a presigned S3 upload goes in parts.
const MINIMUM_VAR: &str = "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE";
/// MLflow's variable for the size of a part.
const CHUNK_VAR: &str = "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE";
/// S3's bounds on a part (all but the last): 5 MiB to 5 GiB.
const S3_PART_MIN: u64 = 5 << 20;
const S3_PART_MAX: u64 = 5 << 30;
/// S3 takes at most this many parts.
const S3_PARTS_MAX: u64 = 10_000;

/// When and how a file goes in parts: MLflow's variables, checked where they are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Multipart {
    /// Files larger than this go in parts.
    pub minimum: u64,
    /// The size of each part but the last.
    pub chunk: u64,
}

impl Multipart {
    /// From the variables `get` gives: MLflow's defaults (500 MiB, 10 MiB) when unset; a value
    /// that is no number of bytes, or a part S3 would refuse, is an error naming the variable.
    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let read = |var: &str, default: u64| match get(var).map(|v| v.trim().to_owned()) {
            None => Ok(default),
            Some(v) if v.is_empty() => Ok(default),
            Some(v) => v.parse::<u64>().map_err(|_| {
                format!("{var}={v:?} is invalid: a size in bytes, a whole number, is expected")
            }),
        };
        let minimum = read(MINIMUM_VAR, 500 << 20)?;
        let chunk = read(CHUNK_VAR, 10 << 20)?;
        if !(S3_PART_MIN..=S3_PART_MAX).contains(&chunk) {
            return Err(format!(
                "{CHUNK_VAR}={chunk:?} is invalid: S3 takes parts of 5 MiB ({S3_PART_MIN} bytes) \
                 to 5 GiB; set a size between them"
            ));
        }
        Ok(Multipart { minimum, chunk })
    }

    /// The parts of a file of `size` bytes (at least one).
    fn parts(&self, size: u64) -> u64 {
        size.div_ceil(self.chunk).max(1)
    }
}

#[derive(Deserialize)]
struct Created {
    upload_id: String,
    #[serde(default)]
    upload_credential_infos: Vec<Signed>,
    abort_credential_info: Option<Signed>,
}

#[derive(Deserialize)]
struct Renewed {
    upload_credential_info: Signed,
}

#[derive(Deserialize, Clone)]
struct Signed {
    signed_uri: String,
    #[serde(default)]
    headers: Vec<Header>,
}

#[derive(Deserialize, Clone)]
struct Header {
    name: String,
    #[serde(default)]
    value: String,
}

impl Client {
    /// Uploads the file at `file` (`size` bytes) as artifact `path` (of the run's artifacts)
    /// of `run` in parts, as `multipart` says.
    pub(crate) async fn databricks_multipart(
        &self,
        run: &DbfsRun,
        path: &str,
        file: &Path,
        size: u64,
        multipart: Multipart,
    ) -> Result<(), UploadError> {
        let parts = multipart.parts(size);
        if parts > S3_PARTS_MAX {
            return Err(UploadError::Store(CallError::Status {
                status: 0,
                code: Some(super::artifact_store::UNUSABLE.into()),
                message: format!(
                    "{path:?} ({size} bytes) would be {parts} parts of {CHUNK_VAR}={} bytes, \
                     more than S3's {S3_PARTS_MAX}; set {CHUNK_VAR} larger",
                    multipart.chunk
                ),
                retry_after: None,
            }));
        }
        let body = json!({ "run_id": run.run_id(), "path": path, "num_parts": parts });
        let created: Created = self
            .databricks_call("create-multipart-upload", Some(body.to_string()), &[])
            .await
            .map_err(UploadError::Store)?;
        if created.upload_credential_infos.len() as u64 != parts {
            return Err(UploadError::Store(CallError::Decode(format!(
                "create-multipart-upload gave {} part URLs for {parts} parts",
                created.upload_credential_infos.len()
            ))));
        }
        let sent = self
            .send_parts(run, path, file, &created, multipart.chunk)
            .await;
        let done = match sent {
            Ok(etags) => {
                let part_etags: Vec<_> = etags
                    .iter()
                    .enumerate()
                    .map(|(i, etag)| json!({ "part_number": i + 1, "etag": etag }))
                    .collect();
                let body = json!({
                    "run_id": run.run_id(), "path": path, "upload_id": created.upload_id,
                    "part_etags": part_etags,
                });
                self.databricks_call::<serde_json::Value>(
                    "complete-multipart-upload",
                    Some(body.to_string()),
                    &[],
                )
                .await
                .map(drop)
                .map_err(UploadError::Store)
            }
            Err(e) => Err(e),
        };
        if done.is_err()
            && let Some(abort) = &created.abort_credential_info
        {
            // Best effort: the upload's own error is what the caller needs.
            let _ = self
                .signed_request(reqwest::Method::DELETE, abort, None)
                .await;
        }
        done
    }

    /// Sends each part of the file; their ETags, in order.
    async fn send_parts(
        &self,
        run: &DbfsRun,
        path: &str,
        file: &Path,
        created: &Created,
        chunk: u64,
    ) -> Result<Vec<String>, UploadError> {
        let mut opened = tokio::fs::File::open(file)
            .await
            .map_err(UploadError::Gone)?;
        let mut buffer = vec![0; chunk as usize];
        let mut etags = Vec::new();
        for (i, signed) in created.upload_credential_infos.iter().enumerate() {
            let read = read_full(&mut opened, &mut buffer)
                .await
                .map_err(UploadError::Gone)?;
            let part = &buffer[..read];
            let sent = match self
                .signed_request(reqwest::Method::PUT, signed, Some(part))
                .await
            {
                Err(CallError::Status {
                    status: 401 | 403, ..
                }) => {
                    let number = (i + 1).to_string();
                    let query = [
                        ("run_id", run.run_id()),
                        ("path", path),
                        ("upload_id", created.upload_id.as_str()),
                        ("part_number", number.as_str()),
                    ];
                    let renewed: Renewed = self
                        .databricks_call("get-presigned-upload-part-url", None, &query)
                        .await
                        .map_err(UploadError::Store)?;
                    let signed = &renewed.upload_credential_info;
                    self.signed_request(reqwest::Method::PUT, signed, Some(part))
                        .await
                }
                other => other,
            };
            etags.push(sent.map_err(UploadError::Store)?);
        }
        Ok(etags)
    }

    /// A call of Databricks' artifact service: a `POST` of `body`, or a `GET` with `query`.
    async fn databricks_call<R: serde::de::DeserializeOwned>(
        &self,
        call: &str,
        body: Option<String>,
        query: &[(&str, &str)],
    ) -> Result<R, CallError> {
        let url = format!("{}/api/2.0/mlflow/artifacts/{call}", self.base());
        let request = match body {
            Some(body) => self
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body),
            None => self.http.get(url).query(query),
        };
        let answer = self.send(request).await?;
        serde_json::from_slice(&answer).map_err(|e| CallError::Decode(format!("{call}: {e}")))
    }

    /// A request to a presigned URL with its headers and no token; the answer's `ETag`.
    async fn signed_request(
        &self,
        method: reqwest::Method,
        signed: &Signed,
        body: Option<&[u8]>,
    ) -> Result<String, CallError> {
        let url = super::sas_blob::check_signed_url(&signed.signed_uri)?;
        let length = body.map_or(0, <[u8]>::len) as u64;
        let mut request = self
            .http
            .request(method, url)
            .timeout(Duration::from_secs(60 + length / (16 * 1024)))
            .header(reqwest::header::CONTENT_LENGTH, length);
        for h in &signed.headers {
            request = request.header(h.name.as_str(), h.value.as_str());
        }
        if let Some(body) = body {
            request = request.body(body.to_vec());
        }
        let response = request
            .send()
            .await
            .map_err(|e| CallError::Transport(format!("presigned URL: {}", e.without_url())))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(CallError::Status {
                status,
                code: None,
                message: format!(
                    "the presigned URL's store answered {status}{}",
                    if status == 403 {
                        " (the URL expired, or is not for this part)"
                    } else {
                        ""
                    }
                ),
                retry_after: None,
            });
        }
        Ok(response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, Read as _, Write};
    use std::sync::{Arc, Mutex};

    /// A loopback Databricks and store: `create-multipart-upload` gives two part URLs and an
    /// abort URL on itself; a part `PUT` is refused with 400. Keeps each request's first line.
    fn service() -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (kept, own) = (seen.clone(), base.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let stream = stream.unwrap();
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let (mut first, mut line, mut length) = (String::new(), String::new(), 0);
                reader.read_line(&mut first).unwrap();
                while line != "\r\n" {
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length: ") {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let first = first.trim().to_owned();
                kept.lock().unwrap().push(first.clone());
                let signed = |q: &str| json!({ "signed_uri": format!("{own}/s3/x?{q}") });
                let (status, answer) = if first.contains("create-multipart-upload") {
                    let parts = [signed("partNumber=1"), signed("partNumber=2")];
                    let abort = signed("abort=1");
                    let created = json!({ "upload_id": "u", "upload_credential_infos": parts,
                                          "abort_credential_info": abort });
                    (200, created.to_string())
                } else if first.starts_with("PUT") {
                    (400, "<Error><Code>InvalidPart</Code></Error>".to_owned())
                } else {
                    (204, String::new())
                };
                let answer = format!(
                    "HTTP/1.1 {status} X\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = (&stream).write_all(answer.as_bytes());
            }
        });
        (base, seen)
    }

    #[test]
    fn a_failed_part_aborts_the_upload_and_is_the_uploads_error() {
        let (base, seen) = service();
        let uri = crate::config::TrackingUri::parse("X", &base).unwrap();
        let client = Client::new(&uri, crate::mlflow::Credentials::None, false).unwrap();
        let run = DbfsRun::parse("dbfs:/databricks/mlflow-tracking/1/abc/artifacts").unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), vec![7u8; (5 << 20) + 1]).unwrap();
        let multipart = Multipart {
            minimum: 1,
            chunk: 5 << 20,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let size = (5 << 20) + 1;
        let e = rt
            .block_on(client.databricks_multipart(&run, "m/w.bin", file.path(), size, multipart))
            .unwrap_err();
        assert!(
            matches!(
                &e,
                UploadError::Store(CallError::Status { status: 400, .. })
            ),
            "{e:?}"
        );
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                "POST /api/2.0/mlflow/artifacts/create-multipart-upload HTTP/1.1",
                "PUT /s3/x?partNumber=1 HTTP/1.1",
                "DELETE /s3/x?abort=1 HTTP/1.1",
            ]
        );
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn mlflows_variables_set_the_sizes_within_s3s_bounds() {
        assert_eq!(
            Multipart::from_lookup(env(&[])),
            Ok(Multipart {
                minimum: 500 << 20,
                chunk: 10 << 20
            })
        );
        let set = Multipart::from_lookup(env(&[(MINIMUM_VAR, "1048576"), (CHUNK_VAR, "5242880")]))
            .unwrap();
        assert_eq!((set.minimum, set.chunk), (1 << 20, 5 << 20));
        assert_eq!(
            (set.parts(0), set.parts(5 << 20), set.parts((5 << 20) + 1)),
            (1, 1, 2)
        );
        let e = Multipart::from_lookup(env(&[(CHUNK_VAR, "1024")])).unwrap_err();
        assert!(
            e.starts_with("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE=1024 is invalid: S3"),
            "{e}"
        );
        let e = Multipart::from_lookup(env(&[(MINIMUM_VAR, "10MB")])).unwrap_err();
        assert!(
            e.starts_with("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE=\"10MB\" is invalid"),
            "{e}"
        );
    }
}
