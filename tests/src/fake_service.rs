//! A fake HTTP service on loopback for the services no test can reach (Azure ML's run history
//! and artifact service, Databricks' credentials): it answers each request with what the test's
//! handler returns, following the shapes recorded from the real services (docs/mlflow.md), and
//! records every request, so the test checks exact paths, headers and bodies. A `PUT` it
//! answers with success gets an `ETag` of its body ([`etag`]), as an object store's does.
//!
//! HTTP/1.1 with kept-alive connections; request bodies must have a `Content-Length` (what this
//! project's client sends).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, `PUT`...
    pub method: String,
    /// The path and query, as sent.
    pub target: String,
    /// Header names in lowercase, with their values.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// Header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} {}: the body is no JSON ({e}): {}",
                self.method,
                self.target,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// An answer: status and JSON body.
pub type Answer = (u16, serde_json::Value);

/// What answers requests.
pub type Handler = dyn Fn(&Request) -> Answer + Send + Sync;

/// A running fake service; it stops with the test process.
pub struct FakeService {
    /// `http://127.0.0.1:<port>`.
    pub uri: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl FakeService {
    /// Starts the service on a free loopback port, answering with `handler`.
    pub fn start(handler: impl Fn(&Request) -> Answer + Send + Sync + 'static) -> FakeService {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let uri = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let recorded = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (recorded, handler) = (recorded.clone(), handler.clone());
                std::thread::spawn(move || serve(stream, &recorded, &*handler));
            }
        });
        FakeService { uri, requests }
    }

    /// Every request so far, in the order they arrived.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

/// The `ETag` the service answers a `PUT` of `body` with: a quoted hash of the bytes (FNV-1a),
/// so a test knows which ETag goes with which part.
pub fn etag(body: &[u8]) -> String {
    let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}

fn serve(stream: TcpStream, recorded: &Mutex<Vec<Request>>, handler: &Handler) {
    // Bounded: a client that goes silent does not hold the thread for ever.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    while let Some(request) = read_request(&mut reader) {
        recorded.lock().unwrap().push(request.clone());
        let (status, body) = handler(&request);
        let body = body.to_string();
        // A stored PUT is answered with the ETag of what it stored, as object stores do.
        let etag = match (request.method.as_str(), status) {
            ("PUT", 200..=299) => format!("ETag: {}\r\n", etag(&request.body)),
            _ => String::new(),
        };
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{etag}Content-Length: {}\r\n\r\n",
            body.len()
        );
        if stream.write_all(head.as_bytes()).is_err() || stream.write_all(body.as_bytes()).is_err()
        {
            return;
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut words = line.split_whitespace();
    let (method, target) = (words.next()?.to_owned(), words.next()?.to_owned());
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let length: usize = headers
        .get("content-length")
        .map_or(0, |l| l.parse().expect("a Content-Length"));
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}
