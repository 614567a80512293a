//! A fault-injecting HTTP proxy on loopback, between a client and a real server. It forwards
//! requests and counts them, and on demand:
//! - answers requests itself with an error status (500, or 429 with `Retry-After`);
//! - forwards one request for a chosen path, then drops the connection without answering (the
//!   server did the work, the client saw no answer: a lost answer);
//! - answers 413 to artifact uploads above a size, as a reverse proxy with a body limit does;
//! - reads request bodies slowly (a pause before each read), as a slow link does;
//! - answers 401 to requests without `Authorization: Bearer <token>` for a token of the test's
//!   choosing, as a gateway in front of a tracking server does (MLflow's own server checks
//!   no bearer token).
//!
//! Bodies with a `Content-Length` are streamed to the server as they are read, so a large
//! upload does not sit in the proxy's memory and a slow read slows the client down.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy answers in place of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything.
    None,
    /// Answer `500 Internal Server Error` without forwarding.
    ServerError,
    /// Answer `429 Too Many Requests` with `Retry-After: 1`, without forwarding.
    TooManyRequests,
}

/// The proxy's settings, changed by the test while it runs.
#[derive(Debug, Clone)]
struct Settings {
    fault: Fault,
    /// Forward the next request whose path contains this, then drop the connection unanswered.
    drop_answer: Option<String>,
    /// Answer 413 to artifact uploads whose body is larger than this.
    max_artifact_body: Option<u64>,
    /// Pause before each read of a request body (of at most `SLOW_READ` bytes).
    slow_read: Option<Duration>,
    /// Answer 401 to requests that do not carry this bearer token.
    bearer: Option<String>,
}

/// Bytes read at once from a request body when reads are slowed.
const SLOW_READ: usize = 16 * 1024;
/// Bytes read at once from a request body otherwise.
const READ: usize = 256 * 1024;

/// A running proxy.
pub struct FaultProxy {
    /// `http://127.0.0.1:<port>`.
    pub uri: String,
    settings: Arc<Mutex<Settings>>,
    /// Requests answered with a fault (including 413s and dropped answers).
    pub faulted: Arc<AtomicU64>,
    /// Requests forwarded.
    pub forwarded: Arc<AtomicU64>,
    /// The request line (`METHOD /path`) of each request forwarded, in order.
    log: Arc<Mutex<Vec<String>>>,
    /// The request line of each request answered 401 for its token, in order.
    unauthorized: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

/// What a connection's thread shares with the proxy.
#[derive(Clone)]
struct Shared {
    settings: Arc<Mutex<Settings>>,
    faulted: Arc<AtomicU64>,
    forwarded: Arc<AtomicU64>,
    log: Arc<Mutex<Vec<String>>>,
    unauthorized: Arc<Mutex<Vec<String>>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`127.0.0.1:<port>`).
    pub fn start(upstream: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = FaultProxy {
            uri: format!("http://127.0.0.1:{port}"),
            settings: Arc::new(Mutex::new(Settings {
                fault: Fault::None,
                drop_answer: None,
                max_artifact_body: None,
                slow_read: None,
                bearer: None,
            })),
            faulted: Arc::default(),
            forwarded: Arc::default(),
            log: Arc::default(),
            unauthorized: Arc::default(),
            stop: Arc::default(),
        };
        let shared = Shared {
            settings: proxy.settings.clone(),
            faulted: proxy.faulted.clone(),
            forwarded: proxy.forwarded.clone(),
            log: proxy.log.clone(),
            unauthorized: proxy.unauthorized.clone(),
        };
        let stop = proxy.stop.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = client else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(client, upstream, &shared);
                });
            }
        });
        proxy
    }

    /// Sets what the proxy answers in place of the server.
    pub fn set(&self, fault: Fault) {
        self.settings.lock().unwrap().fault = fault;
    }

    /// Forwards the next request whose path contains `path` (such as `runs/create`), then
    /// closes the client's connection without answering: once.
    pub fn drop_answer_once(&self, path: &str) {
        self.settings.lock().unwrap().drop_answer = Some(path.to_owned());
    }

    /// Answers `413 Payload Too Large` to artifact uploads with a body over `limit` bytes
    /// (`None`: forward them all).
    pub fn refuse_artifacts_over(&self, limit: Option<u64>) {
        self.settings.lock().unwrap().max_artifact_body = limit;
    }

    /// Pauses `delay` before each read of at most 16 KiB of a request body (`None`: full
    /// speed).
    pub fn slow_reads(&self, delay: Option<Duration>) {
        self.settings.lock().unwrap().slow_read = delay;
    }

    /// Answers `401 Unauthorized` to every request without `Authorization: Bearer <token>`
    /// (`None`: no check). Such answers count as faults.
    pub fn require_bearer(&self, token: Option<&str>) {
        self.settings.lock().unwrap().bearer = token.map(String::from);
    }

    /// Whether the answer to drop has been dropped.
    pub fn answer_dropped(&self) -> bool {
        self.settings.lock().unwrap().drop_answer.is_none()
    }

    /// The requests forwarded so far whose request line contains `fragment`.
    pub fn forwarded_matching(&self, fragment: &str) -> usize {
        let log = self.log.lock().unwrap();
        log.iter().filter(|l| l.contains(fragment)).count()
    }

    /// The requests answered 401 for their token so far whose request line contains
    /// `fragment`.
    pub fn unauthorized_matching(&self, fragment: &str) -> usize {
        let log = self.unauthorized.lock().unwrap();
        log.iter().filter(|l| l.contains(fragment)).count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.uri.trim_start_matches("http://"));
    }
}

/// A request's head, as read.
struct Head {
    raw: Vec<u8>,
    /// `METHOD /path`.
    line: String,
    length: u64,
    chunked: bool,
    /// The `Authorization` header's value.
    authorization: Option<String>,
}

/// One client connection, request by request (keep-alive).
fn serve(client: TcpStream, upstream: u16, shared: &Shared) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    let mut server: Option<BufReader<TcpStream>> = None;
    loop {
        let Some(head) = read_head(&mut reader)? else {
            return Ok(());
        };
        let settings = shared.settings.lock().unwrap().clone();
        let canned = match settings.fault {
            Fault::None => None,
            Fault::ServerError => Some(("500 Internal Server Error", "")),
            Fault::TooManyRequests => Some(("429 Too Many Requests", "Retry-After: 1\r\n")),
        };
        if let Some((status, extra)) = canned {
            read_body(&mut reader, &head, None, &mut std::io::sink())?;
            shared.faulted.fetch_add(1, Ordering::Relaxed);
            let body = r#"{"error_code":"INTERNAL_ERROR","message":"injected fault"}"#;
            answer(&mut client, status, extra, body)?;
            continue;
        }
        let refused = settings
            .bearer
            .as_ref()
            .is_some_and(|t| head.authorization.as_deref() != Some(&format!("Bearer {t}")));
        if refused {
            read_body(&mut reader, &head, None, &mut std::io::sink())?;
            shared.faulted.fetch_add(1, Ordering::Relaxed);
            shared.unauthorized.lock().unwrap().push(head.line.clone());
            let body =
                r#"{"error_code":"UNAUTHENTICATED","message":"the bearer token is not valid"}"#;
            answer(
                &mut client,
                "401 Unauthorized",
                "WWW-Authenticate: Bearer\r\n",
                body,
            )?;
            continue;
        }
        let is_artifact = head.line.contains("/mlflow-artifacts/");
        if is_artifact
            && settings
                .max_artifact_body
                .is_some_and(|max| head.length > max)
        {
            // As a reverse proxy with a body limit: refused on the head, the body read and
            // dropped (so the client sees the answer, not a reset), then the connection closed.
            shared.faulted.fetch_add(1, Ordering::Relaxed);
            read_body(&mut reader, &head, None, &mut std::io::sink())?;
            let body = "<html><body><h1>413 Request Entity Too Large</h1></body></html>";
            answer(
                &mut client,
                "413 Request Entity Too Large",
                "Connection: close\r\n",
                body,
            )?;
            return Ok(());
        }
        if server.is_none() {
            let conn = TcpStream::connect(("127.0.0.1", upstream))?;
            // Every wait ends, a server that hangs included.
            conn.set_read_timeout(Some(Duration::from_secs(120)))?;
            server = Some(BufReader::new(conn));
        }
        let upstream_conn = server.as_mut().unwrap();
        upstream_conn.get_mut().write_all(&head.raw)?;
        read_body(
            &mut reader,
            &head,
            settings.slow_read,
            upstream_conn.get_mut(),
        )?;
        let Some(response) = read_response(upstream_conn)? else {
            return Ok(());
        };
        shared.forwarded.fetch_add(1, Ordering::Relaxed);
        shared.log.lock().unwrap().push(head.line.clone());
        let drop_it = {
            let mut s = shared.settings.lock().unwrap();
            let hit = s
                .drop_answer
                .as_deref()
                .is_some_and(|p| head.line.contains(p));
            if hit {
                s.drop_answer = None;
            }
            hit
        };
        if drop_it {
            // The server did the work; the client never hears of it.
            shared.faulted.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        client.write_all(&response)?;
    }
}

fn answer(client: &mut TcpStream, status: &str, extra: &str, body: &str) -> std::io::Result<()> {
    write!(
        client,
        "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Reads a request's head: the request line and the headers.
fn read_head(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Head>> {
    let mut head = Head {
        raw: Vec::new(),
        line: String::new(),
        length: 0,
        chunked: false,
        authorization: None,
    };
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if head.raw.is_empty() {
            head.line = line
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            head.length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            head.chunked = true;
        }
        if lower.starts_with("authorization:") {
            head.authorization = Some(line["authorization:".len()..].trim().to_owned());
        }
        head.raw.extend_from_slice(line.as_bytes());
        if line == "\r\n" {
            return Ok(Some(head));
        }
    }
}

/// Copies a request's body to `out` as it reads it, pausing `slow` before each read if given.
fn read_body(
    reader: &mut BufReader<TcpStream>,
    head: &Head,
    slow: Option<Duration>,
    out: &mut impl Write,
) -> std::io::Result<()> {
    if head.chunked {
        return copy_chunked(reader, out);
    }
    let mut left = head.length;
    let mut buf = vec![0; if slow.is_some() { SLOW_READ } else { READ }];
    while left > 0 {
        if let Some(delay) = slow {
            std::thread::sleep(delay);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = reader.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}

fn copy_chunked(reader: &mut BufReader<TcpStream>, out: &mut impl Write) -> std::io::Result<()> {
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line)?;
        out.write_all(size_line.as_bytes())?;
        let size = usize::from_str_radix(size_line.trim(), 16).unwrap_or(0);
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk)?;
        out.write_all(&chunk)?;
        if size == 0 {
            return Ok(());
        }
    }
}

/// Reads one HTTP/1.1 response (head and body, by Content-Length or chunked) as raw bytes.
fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Vec<u8>>> {
    let Some(head) = read_head(reader)? else {
        return Ok(None);
    };
    let mut message = head.raw.clone();
    read_body(reader, &head, None, &mut message)?;
    Ok(Some(message))
}
