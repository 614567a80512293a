//! Writing and reading a file through a signed URL (a SAS `contentUri` or `signed_uri`) that a
//! tracking service hands out: Azure ML's artifact service and Databricks'
//! `credentials-for-write` / `credentials-for-read`. The URL is the whole credential, so no
//! `Authorization` is sent.
//!
//! Small files go up in one `Put Blob`; larger ones as `Put Block`s of a fixed size, read from
//! disk one at a time, committed by one `Put Block List` (the blob appears whole, or not at
//! all). The sizes and headers are each service's client's, in [`BlobPlan`]. An ADLS Gen2 URL
//! (Databricks) is written as a create, appends and a flush. A URL refused with 403 part way
//! is renewed through the service when it can ([`Renew`]).

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use futures_util::future::BoxFuture;
use reqwest::Method;

use super::artifact_store::{UploadError, read_full};
use super::client::CallError;

/// How a service's client writes blobs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlobPlan {
    /// Files up to this size go in one `Put Blob`; `None`: always blocks.
    pub single_put_max: Option<u64>,
    /// The size of each block but the last.
    pub block: usize,
    /// Send `If-None-Match: *` on the write that creates the blob, so it never overwrites one.
    pub if_none_match: bool,
    /// `x-ms-version`, if the service's client sends one.
    pub version: Option<&'static str>,
}

/// Azure ML's plugin (azure-storage-blob 12.27 under it): one put up to 64 MiB, else 4 MiB
/// blocks; never overwrites; storage version 2025-11-05.
pub(crate) const AZUREML: BlobPlan = BlobPlan {
    single_put_max: Some(64 << 20),
    block: 4 << 20,
    if_none_match: true,
    version: Some("2025-11-05"),
};

/// MLflow's Databricks client (`mlflow/azure/client.py`): always blocks, of
/// `MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE` (10 MiB), and the headers the server gave.
pub(crate) const DATABRICKS: BlobPlan = BlobPlan {
    single_put_max: None,
    block: 10 << 20,
    if_none_match: false,
    version: None,
};

/// How long one request may take at least; more for a large body (see `ceiling`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The slowest average rate allowed for a body: only a stalled upload is cut.
const FLOOR_BYTES_PER_SEC: u64 = 16 * 1024;

/// Checks a signed URL from a service's answer: `https://`, or `http://` to this machine (a
/// storage emulator). Anything else would send the file somewhere the user did not choose.
pub(crate) fn check_signed_url(url: &str) -> Result<reqwest::Url, CallError> {
    let refused = |why: &str| CallError::Decode(format!("the service's signed URL {why}"));
    let parsed = reqwest::Url::parse(url).map_err(|e| refused(&format!("is no URL ({e})")))?;
    let host = parsed.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(refused(
            "is neither https:// nor http:// to this machine; the file is not sent there",
        )),
    }
}

/// How to get a new signed URL for the same object when storage refuses the one in hand with
/// 403 (it expired during a long upload), as MLflow's Databricks client does; `Ok(None)`: the
/// service hands out no new one.
pub(crate) type Renew<'a> =
    &'a (dyn Fn() -> BoxFuture<'a, Result<Option<String>, CallError>> + Send + Sync);

/// A [`Renew`] that gets nothing: Azure ML's plugin asks for no new URL.
pub(crate) fn no_renewal<'a>() -> BoxFuture<'a, Result<Option<String>, CallError>> {
    Box::pin(async { Ok(None) })
}

/// Writes the file at `file` to the blob of `url` (a signed URL, checked), with the extra
/// `headers` the service gave, as `plan` says. A block or block list refused with 403 is sent
/// once more with the URL `renew` gets.
pub(crate) async fn put_file(
    http: &reqwest::Client,
    url: &str,
    headers: &[(String, String)],
    file: &Path,
    plan: &BlobPlan,
    renew: Renew<'_>,
) -> Result<(), UploadError> {
    let (mut blob, mut opened, size) = Blob::open(http, url, headers, file, plan, renew).await?;
    if plan.single_put_max.is_some_and(|max| size <= max) {
        // Streamed from disk, so it cannot be sent twice: no renewal (Azure ML's plan only).
        let body = reqwest::Body::from(opened);
        let request = blob
            .request(Method::PUT, blob.url.clone(), size)
            .header("x-ms-blob-type", "BlockBlob")
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(body);
        return blob
            .send(request, plan.if_none_match)
            .await
            .map_err(UploadError::Store);
    }
    let mut ids = Vec::new();
    let mut buffer = vec![0; plan.block];
    loop {
        let read = read_full(&mut opened, &mut buffer)
            .await
            .map_err(UploadError::Gone)?;
        // An empty file is an empty block list: a block cannot be empty.
        if read == 0 {
            break;
        }
        let id = block_id(ids.len());
        let chunk = &buffer[..read];
        let block = |b: &Blob<'_, '_>, mut url: reqwest::Url| {
            url.query_pairs_mut()
                .append_pair("comp", "block")
                .append_pair("blockid", &id);
            b.request(Method::PUT, url, read as u64)
                .header("x-ms-blob-type", "BlockBlob")
                .body(chunk.to_vec())
        };
        blob.send_renewing(block, false)
            .await
            .map_err(UploadError::Store)?;
        ids.push(id);
        if read < plan.block {
            break;
        }
    }
    let list = block_list(&ids);
    let commit = |b: &Blob<'_, '_>, mut url: reqwest::Url| {
        url.query_pairs_mut().append_pair("comp", "blocklist");
        b.request(Method::PUT, url, list.len() as u64)
            .header(reqwest::header::CONTENT_TYPE, "application/xml")
            .body(list.clone())
    };
    blob.send_renewing(commit, plan.if_none_match)
        .await
        .map_err(UploadError::Store)
}

/// Writes the file at `file` to the ADLS Gen2 path of `url` (a signed URL, checked) as MLflow's
/// Databricks client does (`mlflow/azure/client.py`): create it (`PUT ...&resource=file`),
/// append `plan.block` bytes at a time (`PATCH ...&action=append&position=<offset>`, with
/// `&flush=true` when one append holds the whole file), then, for several, flush (`PATCH
/// ...&action=flush&position=<size>`). Each request refused with 403 is sent once more with the
/// URL `renew` gets.
pub(crate) async fn put_adls_file(
    http: &reqwest::Client,
    url: &str,
    headers: &[(String, String)],
    file: &Path,
    plan: &BlobPlan,
    renew: Renew<'_>,
) -> Result<(), UploadError> {
    let (mut blob, mut opened, size) = Blob::open(http, url, headers, file, plan, renew).await?;
    let create = |b: &Blob<'_, '_>, mut url: reqwest::Url| {
        url.query_pairs_mut().append_pair("resource", "file");
        b.request(Method::PUT, url, 0)
    };
    blob.send_renewing(create, false)
        .await
        .map_err(UploadError::Store)?;
    let single = size > 0 && size <= plan.block as u64;
    let mut buffer = vec![0; plan.block];
    let mut position = 0u64;
    loop {
        let read = read_full(&mut opened, &mut buffer)
            .await
            .map_err(UploadError::Gone)?;
        if read == 0 {
            break;
        }
        let chunk = &buffer[..read];
        let append = |b: &Blob<'_, '_>, mut url: reqwest::Url| {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("action", "append")
                .append_pair("position", &position.to_string());
            if single {
                query.append_pair("flush", "true");
            }
            drop(query);
            b.request(Method::PATCH, url, read as u64)
                .body(chunk.to_vec())
        };
        blob.send_renewing(append, false)
            .await
            .map_err(UploadError::Store)?;
        position += read as u64;
        if read < plan.block {
            break;
        }
    }
    if single {
        return Ok(());
    }
    let flush = |b: &Blob<'_, '_>, mut url: reqwest::Url| {
        url.query_pairs_mut()
            .append_pair("action", "flush")
            .append_pair("position", &position.to_string());
        b.request(Method::PATCH, url, 0)
    };
    blob.send_renewing(flush, false)
        .await
        .map_err(UploadError::Store)
}

/// One object being written.
struct Blob<'a, 'r> {
    http: &'a reqwest::Client,
    /// The signed URL in hand.
    url: reqwest::Url,
    headers: &'a [(String, String)],
    plan: &'a BlobPlan,
    renew: Renew<'r>,
}

impl<'a, 'r> Blob<'a, 'r> {
    /// The upload of `file` to the signed `url` (checked), with the file opened and its size.
    async fn open(
        http: &'a reqwest::Client,
        url: &str,
        headers: &'a [(String, String)],
        file: &Path,
        plan: &'a BlobPlan,
        renew: Renew<'r>,
    ) -> Result<(Self, tokio::fs::File, u64), UploadError> {
        let url = check_signed_url(url).map_err(UploadError::Store)?;
        let opened = tokio::fs::File::open(file)
            .await
            .map_err(UploadError::Gone)?;
        let size = opened.metadata().await.map_err(UploadError::Gone)?.len();
        let blob = Blob {
            http,
            url,
            headers,
            plan,
            renew,
        };
        Ok((blob, opened, size))
    }

    /// A request of `length` bytes to `url` with the service's headers and the plan's version.
    fn request(&self, method: Method, url: reqwest::Url, length: u64) -> reqwest::RequestBuilder {
        let ceiling = REQUEST_TIMEOUT + Duration::from_secs(length / FLOOR_BYTES_PER_SEC);
        let mut request = self
            .http
            .request(method, url)
            .timeout(ceiling)
            .header(reqwest::header::CONTENT_LENGTH, length);
        if let Some(version) = self.plan.version {
            request = request.header("x-ms-version", version);
        }
        for (name, value) in self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        request
    }

    /// Sends the request `build` makes of the URL in hand; when storage refuses it with 403,
    /// gets a new URL through `renew` and sends it once more with that one (kept for the
    /// requests after it).
    async fn send_renewing(
        &mut self,
        build: impl Fn(&Self, reqwest::Url) -> reqwest::RequestBuilder,
        create_only: bool,
    ) -> Result<(), CallError> {
        let refused = match self.send(build(self, self.url.clone()), create_only).await {
            Err(e @ CallError::Status { status: 403, .. }) => e,
            other => return other,
        };
        let Some(fresh) = (self.renew)().await? else {
            return Err(refused);
        };
        self.url = check_signed_url(&fresh)?;
        self.send(build(self, self.url.clone()), create_only).await
    }

    /// Sends `request` (with `If-None-Match: *` when `create_only`). A 409 to a create-only
    /// write means an earlier attempt wrote the blob (its answer was lost): done.
    async fn send(
        &self,
        mut request: reqwest::RequestBuilder,
        create_only: bool,
    ) -> Result<(), CallError> {
        if create_only {
            request = request.header(reqwest::header::IF_NONE_MATCH, "*");
        }
        let response = request
            .send()
            .await
            .map_err(|e| CallError::Transport(format!("storage: {}", e.without_url())))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) || (create_only && status == 409) {
            return Ok(());
        }
        Err(storage_error(&self.url, response).await)
    }
}

/// The error of a storage answer that is not a success: its status, the store's error code
/// (`<Code>` of Azure's and S3's XML) and, for a 403, the likely reason.
async fn storage_error(url: &reqwest::Url, response: reqwest::Response) -> CallError {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .map(Duration::from_secs);
    let body = response.bytes().await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    let code = text
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.trim().to_owned());
    CallError::Status {
        status,
        message: format!(
            "the store at {} answered {status}{}",
            url.host_str().unwrap_or("?"),
            match status {
                403 => ": the signed URL was refused (expired, or not for this object)",
                _ => "",
            }
        ),
        code,
        retry_after,
    }
}

/// The size of the object at the signed `url` (checked), from a `HEAD` with `headers`; `None`
/// when the store has no such object (404). Azure ML's service lists an artifact as soon as
/// `batch/metadata` has named it, before its bytes are written: only the store knows whether
/// they were.
pub(crate) async fn object_size(
    http: &reqwest::Client,
    url: &str,
    headers: &[(String, String)],
) -> Result<Option<u64>, CallError> {
    let url = check_signed_url(url)?;
    let mut request = http.head(url.clone()).timeout(REQUEST_TIMEOUT);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = request
        .send()
        .await
        .map_err(|e| CallError::Transport(format!("storage: {}", e.without_url())))?;
    match response.status().as_u16() {
        404 => Ok(None),
        200..=299 => response
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .map(Some)
            .ok_or_else(|| {
                CallError::Decode(format!(
                    "the store at {} gave no Content-Length for the object",
                    url.host_str().unwrap_or("?")
                ))
            }),
        _ => Err(storage_error(&url, response).await),
    }
}

/// Downloads the object at the signed `url` (checked), sent with `headers`, into the file
/// `to`, streaming it: memory holds one chunk. It fails (as a transport error, so it is
/// retried) when no byte comes for `REQUEST_TIMEOUT`, when the whole takes longer than
/// `REQUEST_TIMEOUT` plus `size` at `FLOOR_BYTES_PER_SEC`, and when the bytes that came are not
/// `size`.
pub(crate) async fn get_file(
    http: &reqwest::Client,
    url: &str,
    headers: &[(String, String)],
    size: u64,
    to: &Path,
) -> Result<(), CallError> {
    use tokio::io::AsyncWriteExt;
    let url = check_signed_url(url)?;
    let ceiling = REQUEST_TIMEOUT + Duration::from_secs(size / FLOOR_BYTES_PER_SEC);
    let mut request = http.get(url.clone()).timeout(ceiling);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let transport =
        |e: reqwest::Error| CallError::Transport(format!("storage: {}", e.without_url()));
    let mut response = request.send().await.map_err(transport)?;
    if !response.status().is_success() {
        return Err(storage_error(&url, response).await);
    }
    let local = |e: std::io::Error| CallError::Status {
        status: 0,
        code: Some("LOCAL_FILE".into()),
        message: format!("cannot write {}: {e}", to.display()),
        retry_after: None,
    };
    let mut out = tokio::fs::File::create(to).await.map_err(local)?;
    let mut got = 0u64;
    loop {
        let chunk = tokio::time::timeout(REQUEST_TIMEOUT, response.chunk())
            .await
            .map_err(|_| {
                CallError::Transport(format!(
                    "nothing received from the store for {REQUEST_TIMEOUT:?} ({got} of {size} \
                     bytes)"
                ))
            })?
            .map_err(transport)?;
        let Some(bytes) = chunk else { break };
        got += bytes.len() as u64;
        out.write_all(&bytes).await.map_err(local)?;
    }
    if got != size {
        return Err(CallError::Transport(format!(
            "the store at {} sent {got} bytes of an object listed with {size}",
            url.host_str().unwrap_or("?")
        )));
    }
    out.flush().await.map_err(local)
}

/// The id of block `index`: base64 of a fixed-width name (a blob's ids must all have one
/// length).
fn block_id(index: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("block-{index:08}"))
}

/// The body of `Put Block List`: every block, in order, from the uncommitted or committed list.
fn block_list(ids: &[String]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<BlockList>");
    for id in ids {
        xml.push_str("<Latest>");
        xml.push_str(id);
        xml.push_str("</Latest>");
    }
    xml.push_str("</BlockList>");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_url_is_https_or_to_this_machine() {
        assert!(check_signed_url("https://a.blob.core.windows.net/c/p?sv=1&sig=x").is_ok());
        assert!(check_signed_url("http://127.0.0.1:10000/devstoreaccount1/c/p?sig=x").is_ok());
        assert!(check_signed_url("http://localhost:10000/a/c/p").is_ok());
        for bad in [
            "http://evil.example.com/c/p?sig=x",
            "file:///etc/passwd",
            "not a url",
        ] {
            let e = check_signed_url(bad).unwrap_err().to_string();
            assert!(e.contains("the service's signed URL"), "{bad}: {e}");
        }
    }

    #[test]
    fn block_ids_have_one_length_and_the_list_keeps_their_order() {
        let ids: Vec<String> = (0..3).map(block_id).collect();
        assert!(ids.iter().all(|id| id.len() == ids[0].len()));
        assert_eq!(
            block_list(&ids),
            format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<BlockList><Latest>{}</Latest>\
                 <Latest>{}</Latest><Latest>{}</Latest></BlockList>",
                ids[0], ids[1], ids[2]
            )
        );
    }
}
