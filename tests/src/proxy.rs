//! A fault-injecting HTTP proxy on loopback, between a client and a real server: it answers
//! some requests itself with an error status (500, or 429 with `Retry-After`), forwards the
//! others, and counts both.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does with the next requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything.
    None,
    /// Answer `500 Internal Server Error` without forwarding.
    ServerError,
    /// Answer `429 Too Many Requests` with `Retry-After: 1`, without forwarding.
    TooManyRequests,
}

/// A running proxy.
pub struct FaultProxy {
    /// `http://127.0.0.1:<port>`.
    pub uri: String,
    fault: Arc<Mutex<Fault>>,
    /// Requests answered with a fault.
    pub faulted: Arc<AtomicU64>,
    /// Requests forwarded.
    pub forwarded: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`127.0.0.1:<port>`).
    pub fn start(upstream: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = FaultProxy {
            uri: format!("http://127.0.0.1:{port}"),
            fault: Arc::new(Mutex::new(Fault::None)),
            faulted: Arc::default(),
            forwarded: Arc::default(),
            stop: Arc::default(),
        };
        let (fault, faulted, forwarded, stop) = (
            proxy.fault.clone(),
            proxy.faulted.clone(),
            proxy.forwarded.clone(),
            proxy.stop.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = client else { continue };
                let (fault, faulted, forwarded) =
                    (fault.clone(), faulted.clone(), forwarded.clone());
                std::thread::spawn(move || {
                    let _ = serve(client, upstream, &fault, &faulted, &forwarded);
                });
            }
        });
        proxy
    }

    /// Sets what happens to the next requests.
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.uri.trim_start_matches("http://"));
    }
}

/// One client connection, request by request (keep-alive).
fn serve(
    client: TcpStream,
    upstream: u16,
    fault: &Mutex<Fault>,
    faulted: &AtomicU64,
    forwarded: &AtomicU64,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    let mut server: Option<BufReader<TcpStream>> = None;
    loop {
        let Some(request) = read_message(&mut reader)? else {
            return Ok(());
        };
        let current = *fault.lock().unwrap();
        let canned = match current {
            Fault::None => None,
            Fault::ServerError => Some(("500 Internal Server Error", "")),
            Fault::TooManyRequests => Some(("429 Too Many Requests", "Retry-After: 1\r\n")),
        };
        if let Some((status, extra)) = canned {
            faulted.fetch_add(1, Ordering::Relaxed);
            let body = r#"{"error_code":"INTERNAL_ERROR","message":"injected fault"}"#;
            write!(
                client,
                "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )?;
            continue;
        }
        if server.is_none() {
            server = Some(BufReader::new(TcpStream::connect(("127.0.0.1", upstream))?));
        }
        let upstream_conn = server.as_mut().unwrap();
        upstream_conn.get_mut().write_all(&request)?;
        let Some(response) = read_message(upstream_conn)? else {
            return Ok(());
        };
        forwarded.fetch_add(1, Ordering::Relaxed);
        client.write_all(&response)?;
    }
}

/// Reads one HTTP/1.1 message (head and body, by Content-Length or chunked) as raw bytes.
fn read_message(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
        head.extend_from_slice(line.as_bytes());
        if line == "\r\n" {
            break;
        }
    }
    if chunked {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            head.extend_from_slice(size_line.as_bytes());
            let size = usize::from_str_radix(size_line.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            head.extend_from_slice(&chunk);
            if size == 0 {
                break;
            }
        }
    } else {
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        head.extend_from_slice(&body);
    }
    Ok(Some(head))
}
