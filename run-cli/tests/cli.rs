//! Tests of the `runctx` binary, run as a separate process on stores made by the library.
//!
//! Golden outputs live in `tests/fixtures/cli/`; after a deliberate change of output, rewrite
//! them with `RUNCTX_BLESS=1 cargo test -p runctx --test cli` and review
//! the diff.

#[path = "cli/bounded.rs"]
mod bounded;
#[path = "cli/browser.rs"]
mod browser;
#[path = "cli/damaged.rs"]
mod damaged;
#[path = "cli/deleting.rs"]
mod deleting;
#[path = "cli/files.rs"]
mod files;
#[path = "cli/fixture.rs"]
mod fixture;
#[cfg(unix)]
#[path = "cli/launching.rs"]
mod launching;
#[path = "cli/models.rs"]
mod models;
#[path = "cli/reading.rs"]
mod reading;
#[cfg(unix)]
#[path = "cli/sweeping.rs"]
mod sweeping;
#[path = "cli/untrusted.rs"]
mod untrusted;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The fixture store, built once and only read by the tests that share it.
pub fn shared_store() -> &'static Path {
    static STORE: OnceLock<tempfile::TempDir> = OnceLock::new();
    STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            fixture::build(dir.path());
            dir
        })
        .path()
}

/// A fresh copy of the fixture store, for tests that change it.
pub fn own_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fixture::build(dir.path());
    dir
}

/// What a run of the binary did.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    fn from(output: Output) -> Ran {
        Ran {
            code: output.status.code().expect("runctx exited, not killed"),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        }
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "runctx failed:\n{}{}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// The binary with a clean environment: UTC times, no store variable, no colour settings.
pub fn command(store: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_runctx"));
    tests::clean(&mut cmd)
        .arg("--store")
        .arg(store)
        .env("TZ", "UTC")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    cmd
}

/// Runs `runctx --store STORE ARGS...`.
pub fn runctx(store: &Path, args: &[&str]) -> Ran {
    Ran::from(command(store).args(args).output().unwrap())
}

/// Runs it with `input` on stdin.
pub fn runctx_with_input(store: &Path, args: &[&str], input: &str) -> Ran {
    use std::io::Write;
    let mut child = command(store)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    Ran::from(child.wait_with_output().unwrap())
}

/// Replaces what differs from machine to machine: the store's path.
pub fn normalise(text: &str, store: &Path) -> String {
    text.replace(&store.display().to_string(), "<store>")
}

/// Compares `actual` with the golden file `name`, or rewrites it under `RUNCTX_BLESS=1`.
#[track_caller]
pub fn golden(name: &str, actual: &str) {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", "cli", name]
        .iter()
        .collect();
    if std::env::var_os("RUNCTX_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with RUNCTX_BLESS=1 cargo test -p runctx --test cli",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "output differs from {} from line {}:\n--- expected\n{expected}\n--- actual\n{actual}\n\
             (if the change is deliberate: RUNCTX_BLESS=1 cargo test -p run-runtime --features \
             cli --test cli)",
            path.display(),
            first + 1
        );
    }
}
