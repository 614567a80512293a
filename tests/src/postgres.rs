//! A PostgreSQL server for the tests: Debian's `postgresql` (installed with apt-get on first
//! use), a cluster of its own in a temporary folder, on a free loopback port, with database
//! `mlflow` owned by user `mlflow` (trust authentication: loopback only). It runs under a
//! watchdog, so it stops with the test process even when nothing drops it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::mlflow::free_port;
use crate::venv::{install_lock, run, workspace};
use crate::watchdog::{Stop, Watched};

/// The database, and its owner, that the server starts with.
pub const DATABASE: &str = "mlflow";

/// A running PostgreSQL server.
pub struct Postgres {
    port: u16,
    bin: PathBuf,
    server: Watched,
    // Dropped after `server` (fields drop in order): the cluster outlives its server.
    dir: tempfile::TempDir,
}

impl Postgres {
    /// Creates a cluster in a temporary folder and starts it on a free loopback port.
    pub fn start() -> Postgres {
        let bin = postgres_bin();
        let dir = tempfile::tempdir().expect("a temporary folder for PostgreSQL");
        let owner = cluster_owner();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .expect("give the cluster's folder to user postgres");
        }
        let data = dir.path().join("data");
        // --no-sync: the cluster is thrown away with the test, and fsync of initdb's files
        // costs seconds on a busy disk. The server itself keeps fsync on, as in production.
        run(as_owner(&bin.join("initdb"), owner)
            .args([
                "--no-sync",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
            ])
            .args(["--username", DATABASE, "--pgdata"])
            .arg(&data)
            .stdout(std::process::Stdio::null()));
        let port = free_port();
        let mut server = as_owner(&bin.join("postgres"), owner);
        server
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            // The socket in the cluster's folder: the system's /var/run/postgresql may not exist.
            .arg("-k")
            .arg(dir.path())
            // MLflow's 4 workers each pool connections for tracking and registry: above the
            // default 100 under the load tests.
            .args(["-c", "max_connections=400"]);
        // INT: PostgreSQL's fast shutdown, what `pg_ctl stop -m fast` sends.
        let server = Watched::spawn(
            "PostgreSQL server",
            &server,
            dir.path(),
            Stop::Server("INT"),
        );
        let mut postgres = Postgres {
            port,
            bin,
            server,
            dir,
        };
        postgres.wait_ready();
        postgres.psql_in("postgres", &format!("create database {DATABASE}"));
        postgres
    }

    fn wait_ready(&mut self) {
        let isready = self.bin.join("pg_isready");
        let port = self.port.to_string();
        self.server.wait_until(Duration::from_secs(60), || {
            Command::new(&isready)
                .args(["-q", "-h", "127.0.0.1", "-p", &port])
                .status()
                .is_ok_and(|s| s.success())
        });
    }

    /// The port it listens on, at 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URI of [`DATABASE`]: `postgresql://mlflow@127.0.0.1:<port>/mlflow`.
    pub fn uri(&self) -> String {
        format!("postgresql://{DATABASE}@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// Runs `sql` in [`DATABASE`] with `psql`; its output, unaligned, tuples only (one row a
    /// line, columns separated by `|`). Panics with psql's message when it fails.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_in(DATABASE, sql)
    }

    fn psql_in(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", DATABASE, "-d", database, "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}\nthe server's log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.server.log_tail()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stops the server the way `pg_ctl stop -m fast` does (SIGINT: roll back open
    /// transactions, close connections, checkpoint), then its watchdog.
    fn stop(&mut self) {
        let pid = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<i32>().ok()));
        if let Some(pid) = pid {
            // SAFETY: signalling the postmaster of this cluster, which this value started.
            unsafe { libc::kill(pid, libc::SIGINT) };
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            // SAFETY: signal 0 only checks that the process exists.
            while unsafe { libc::kill(pid, 0) } == 0 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.server.stop();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `program` as the cluster's owner: user `postgres` when the tests run as root (initdb and
/// postgres refuse to run as root), the current user otherwise. setpriv (util-linux) execs the
/// program as that user, so that its pid is the server's, under the watchdog.
fn as_owner(program: &Path, owner: Option<(u32, u32)>) -> Command {
    match owner {
        Some((uid, gid)) => {
            let mut command = Command::new("setpriv");
            command
                .arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// The uid and gid of user `postgres` when running as root, which Debian's package creates.
fn cluster_owner() -> Option<(u32, u32)> {
    // SAFETY: getuid cannot fail.
    if unsafe { libc::getuid() } != 0 {
        return None;
    }
    // SAFETY: a NUL-terminated name; the result is read at once, before any other getpw call
    // of this thread.
    let entry = unsafe { libc::getpwnam(c"postgres".as_ptr()) };
    assert!(
        !entry.is_null(),
        "no user postgres: PostgreSQL refuses to run as root, and Debian's postgresql package \
         creates that user (apt-get install postgresql)"
    );
    // SAFETY: not null, checked above.
    let entry = unsafe { &*entry };
    Some((entry.pw_uid, entry.pw_gid))
}

/// The newest `/usr/lib/postgresql/<version>/bin`, with Debian's `postgresql` installed by
/// apt-get on first use (as root; otherwise a panic that says to install it).
pub fn postgres_bin() -> PathBuf {
    if let Some(bin) = newest_bin() {
        return bin;
    }
    let _lock = install_lock(&workspace().join(".venv/postgresql"));
    if newest_bin().is_none() {
        // SAFETY: getuid cannot fail.
        assert!(
            unsafe { libc::getuid() } == 0,
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb) and the tests \
             are not root: sudo apt-get install postgresql"
        );
        run(Command::new("apt-get").arg("update"));
        run(Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "postgresql"])
            .env("DEBIAN_FRONTEND", "noninteractive"));
    }
    newest_bin().expect("initdb after installing postgresql")
}

fn newest_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}
