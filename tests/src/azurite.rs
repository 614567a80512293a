//! Azure Blob Storage for the tests: Azurite, Microsoft's Azure Storage emulator (npm package
//! `azurite`, installed into `<workspace>/.venv/azurite` on first use), its blob service on a
//! free loopback port with a temporary folder, and container [`CONTAINER`] created. It runs
//! under a watchdog, so it stops with the test process even when nothing drops it.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::mlflow::{free_port, http};
use crate::venv::{install_lock, python_json, run, server_python, workspace};
use crate::watchdog::{Stop, Watched};

/// The Azurite release the tests use (scripts/test.sh installs the same).
pub const AZURITE_VERSION: &str = "3.37.0";

/// The emulator's storage account: Azure's well-known development account.
pub const ACCOUNT: &str = "devstoreaccount1";

/// The development account's key, published in Microsoft's Azurite documentation (not a
/// secret: every emulator accepts it).
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The container that exists once the emulator has started.
pub const CONTAINER: &str = "mlflow";

/// A running Azurite blob service.
pub struct Azurite {
    port: u16,
    server: Watched,
    // Dropped after `server`: the blobs outlive the emulator.
    _dir: tempfile::TempDir,
}

impl Azurite {
    /// Starts the blob service on a free loopback port and creates [`CONTAINER`].
    pub fn start() -> Azurite {
        let mut azurite = Azurite::spawn();
        azurite.wait_ready();
        azurite
    }

    /// Starts the blob service without waiting for it: its endpoint and connection string
    /// are known at once, for a server that starts beside it. [`Azurite::wait_ready`] before
    /// use.
    pub fn spawn() -> Azurite {
        let program = azurite_blob_executable();
        let dir = tempfile::tempdir().expect("a temporary folder for Azurite");
        let port = free_port();
        let mut command = Command::new(program);
        command
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(dir.path().join("data"))
            // --skipApiVersionCheck: a newer azure-storage-blob than this Azurite knows would
            // otherwise be refused.
            .args(["--silent", "--skipApiVersionCheck"]);
        let server = Watched::spawn("Azurite blob service", &command, dir.path(), Stop::Group);
        Azurite {
            port,
            server,
            _dir: dir,
        }
    }

    /// Waits until the service answers, then creates [`CONTAINER`].
    pub fn wait_ready(&mut self) {
        let root = format!("{}/", self.endpoint());
        // Any HTTP answer (an unauthenticated request is refused) means it listens.
        self.server.wait_until(Duration::from_secs(60), || {
            http("GET", &root, None).is_ok_and(|(status, _)| status != 0)
        });
        self.create_container();
    }

    fn create_container(&self) {
        let script = "import sys, json\n\
                      from azure.storage.blob import BlobServiceClient\n\
                      BlobServiceClient.from_connection_string(sys.argv[1]).create_container(sys.argv[2])\n\
                      print(json.dumps(True))";
        server_python();
        python_json(script, &[&self.connection_string(), CONTAINER], &[]);
    }

    /// The port it listens on, at 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The storage account, [`ACCOUNT`].
    pub fn account(&self) -> &'static str {
        ACCOUNT
    }

    /// The blob endpoint of the account: `http://127.0.0.1:<port>/devstoreaccount1`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    /// The connection string of the account, as `AZURE_STORAGE_CONNECTION_STRING` takes it.
    pub fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};BlobEndpoint={};",
            self.endpoint()
        )
    }

    /// What a client needs to reach the account: `AZURE_STORAGE_CONNECTION_STRING`.
    pub fn client_env(&self) -> Vec<(String, String)> {
        vec![(
            "AZURE_STORAGE_CONNECTION_STRING".to_owned(),
            self.connection_string(),
        )]
    }

    /// Every blob of [`CONTAINER`] whose name starts with `prefix`, with its size, sorted: read
    /// with `azure-storage-blob` straight from the emulator.
    pub fn list_blobs(&self, prefix: &str) -> Vec<(String, u64)> {
        let script = "import sys, json\n\
                      from azure.storage.blob import BlobServiceClient\n\
                      service = BlobServiceClient.from_connection_string(sys.argv[1])\n\
                      blobs = service.get_container_client(sys.argv[2]).list_blobs(name_starts_with=sys.argv[3])\n\
                      print(json.dumps(sorted([b.name, b.size] for b in blobs)))";
        let listed = python_json(script, &[&self.connection_string(), CONTAINER, prefix], &[]);
        serde_json::from_value(listed).expect("a list of [name, size]")
    }

    /// A shared access signature (the query of a SAS URL, without `?`) that reads, creates,
    /// writes and lists the blobs of [`CONTAINER`] for an hour: what a service hands out in its
    /// signed URLs, made with `azure-storage-blob` as the services' own libraries make them.
    pub fn container_sas(&self) -> String {
        self.container_sas_expiring_in(3600)
    }

    /// The same as [`Azurite::container_sas`], expiring `seconds` from now (in the past when
    /// negative: a signed URL that has expired, which Azurite refuses with 403).
    pub fn container_sas_expiring_in(&self, seconds: i64) -> String {
        let script = "import sys, json, datetime\n\
                      from azure.storage.blob import generate_container_sas, ContainerSasPermissions\n\
                      expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=int(sys.argv[4]))\n\
                      sas = generate_container_sas(sys.argv[1], sys.argv[2], account_key=sys.argv[3], \
                      permission=ContainerSasPermissions(read=True, write=True, create=True, list=True), expiry=expiry)\n\
                      print(json.dumps(sas))";
        let seconds = seconds.to_string();
        let sas = python_json(script, &[ACCOUNT, CONTAINER, ACCOUNT_KEY, &seconds], &[]);
        sas.as_str().expect("a SAS").to_owned()
    }

    /// The sizes of the committed blocks of blob `name` of [`CONTAINER`], in order, read with
    /// `azure-storage-blob` (empty for a blob written in one `Put Blob`).
    pub fn committed_blocks(&self, name: &str) -> Vec<u64> {
        let script = "import sys, json\n\
                      from azure.storage.blob import BlobServiceClient\n\
                      service = BlobServiceClient.from_connection_string(sys.argv[1])\n\
                      committed, _ = service.get_blob_client(sys.argv[2], sys.argv[3]).get_block_list('committed')\n\
                      print(json.dumps([b.size for b in committed]))";
        let read = python_json(script, &[&self.connection_string(), CONTAINER, name], &[]);
        serde_json::from_value(read).expect("a list of sizes")
    }

    /// The bytes of blob `name` of [`CONTAINER`], read with `azure-storage-blob`.
    pub fn blob(&self, name: &str) -> Vec<u8> {
        let script = "import sys, json, base64\n\
                      from azure.storage.blob import BlobServiceClient\n\
                      service = BlobServiceClient.from_connection_string(sys.argv[1])\n\
                      data = service.get_blob_client(sys.argv[2], sys.argv[3]).download_blob().readall()\n\
                      print(json.dumps(base64.b64encode(data).decode()))";
        let read = python_json(script, &[&self.connection_string(), CONTAINER, name], &[]);
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(read.as_str().expect("base64 text"))
            .expect("base64")
    }
}

/// `azurite-blob` of `<workspace>/.venv/azurite`, installed with npm on first use.
pub fn azurite_blob_executable() -> PathBuf {
    let prefix = workspace().join(".venv/azurite");
    let program = prefix.join("node_modules/.bin/azurite-blob");
    let manifest = prefix.join("node_modules/azurite/package.json");
    let installed = || {
        std::fs::read_to_string(&manifest)
            .ok()
            .and_then(|m| serde_json::from_str::<serde_json::Value>(&m).ok())
            .is_some_and(|m| m["version"] == AZURITE_VERSION)
            && program.is_file()
    };
    if installed() {
        return program;
    }
    let _lock = install_lock(&prefix);
    if !installed() {
        let npm = Command::new("npm").arg("--version").output();
        assert!(
            npm.is_ok_and(|o| o.status.success()),
            "npm is missing: Azurite installs from the npm registry (apt-get install npm, or \
             Node.js from your distribution)"
        );
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .arg("--prefix")
            .arg(&prefix)
            .arg(format!("azurite@{AZURITE_VERSION}")));
    }
    program
}
