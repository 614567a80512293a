//! An S3-compatible object store for the tests: moto's standalone server (`moto[s3]` and
//! `flask-cors` in the MLflow venv), on a free loopback port, with bucket [`BUCKET`] created.
//! It runs under a watchdog, so it stops with the test process even when nothing drops it.
//!
//! Why moto: MinIO, SeaweedFS and Garage are not installable from the package registries the
//! project's machines reach (Garage builds from crates.io, far too slowly for CI on 2 cores),
//! and Ceph's radosgw needs a whole Ceph cluster. moto's server speaks S3's REST API over HTTP:
//! path-style requests, SigV4-signed, multipart uploads with S3's 5 MiB minimum part size.
//! Two differences from S3 that a client under test must not rely on (checked by hand with
//! curl): moto does not verify signatures (a wrong secret is accepted), and it reads a body
//! sent as `application/x-www-form-urlencoded` (curl's default) as a form, storing an empty
//! object; real clients send `application/octet-stream` or the file's type.

use std::process::Command;
use std::time::Duration;

use crate::mlflow::{free_port, http};
use crate::venv::{python_json, server_python};
use crate::watchdog::{Stop, Watched};

/// The bucket that exists once the server has started.
pub const BUCKET: &str = "mlflow";

/// The access key id the tests sign with (moto accepts any).
pub const ACCESS_KEY_ID: &str = "runctx-test-key";

/// The secret access key the tests sign with.
pub const SECRET_ACCESS_KEY: &str = "runctx-test-secret";

/// The region of the bucket.
pub const REGION: &str = "us-east-1";

/// A running moto S3 server.
pub struct S3Server {
    port: u16,
    server: Watched,
    _dir: tempfile::TempDir,
}

impl S3Server {
    /// Starts moto's server on a free loopback port and creates [`BUCKET`].
    pub fn start() -> S3Server {
        let mut s3 = S3Server::spawn();
        s3.wait_ready();
        s3
    }

    /// Starts moto's server without waiting for it: its endpoint is known at once, for a
    /// server that starts beside it. [`S3Server::wait_ready`] before use.
    pub fn spawn() -> S3Server {
        let moto = server_python().with_file_name("moto_server");
        let dir = tempfile::tempdir().expect("a temporary folder for the S3 server");
        let port = free_port();
        let mut command = Command::new(moto);
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(dir.path());
        let server = Watched::spawn("moto S3 server", &command, dir.path(), Stop::Group);
        S3Server {
            port,
            server,
            _dir: dir,
        }
    }

    /// Waits until the server answers, then creates [`BUCKET`].
    pub fn wait_ready(&mut self) {
        let root = format!("{}/", self.endpoint_url());
        self.server.wait_until(Duration::from_secs(60), || {
            http("GET", &root, None).is_ok_and(|(status, _)| status == 200)
        });
        let script = "s3.create_bucket(Bucket=sys.argv[1]); print(json.dumps(True))";
        self.boto3(script, &[BUCKET]);
    }

    /// Runs `script` with `s3`, a boto3 S3 client of this server, and `sys`, `json` in scope;
    /// its last line of output as JSON.
    fn boto3(&self, script: &str, args: &[&str]) -> serde_json::Value {
        let prelude = "import sys, json, boto3\n\
                       s3 = boto3.client('s3')\n";
        python_json(&format!("{prelude}{script}"), args, &self.client_env())
    }

    /// The port it listens on, at 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What a client needs to reach the bucket: `MLFLOW_S3_ENDPOINT_URL` (MLflow's),
    /// `AWS_ENDPOINT_URL_S3` (boto3's own), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    /// `AWS_DEFAULT_REGION`.
    pub fn client_env(&self) -> Vec<(String, String)> {
        [
            ("MLFLOW_S3_ENDPOINT_URL", self.endpoint_url()),
            ("AWS_ENDPOINT_URL_S3", self.endpoint_url()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_owned()),
            ("AWS_DEFAULT_REGION", REGION.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Every object of [`BUCKET`] whose key starts with `prefix`, with its size, sorted: read
    /// with boto3 straight from the server.
    pub fn list_objects(&self, prefix: &str) -> Vec<(String, u64)> {
        let script = "pages = s3.get_paginator('list_objects_v2').paginate(Bucket=sys.argv[1], Prefix=sys.argv[2])\n\
                      print(json.dumps(sorted([o['Key'], o['Size']] for p in pages for o in p.get('Contents', []))))";
        let listed = self.boto3(script, &[BUCKET, prefix]);
        serde_json::from_value(listed).expect("a list of [key, size]")
    }
}
