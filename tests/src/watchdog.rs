//! A server process of the tests that cannot outlive them: it runs in its own process group,
//! led by a bash watchdog that ends the group when the test process is gone. Test binaries
//! keep their shared servers in statics, which are never dropped, and a test killed by a
//! timeout never runs its destructors: the watchdog is what stops those servers.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The watchdog: it starts the server (its arguments) and polls for the test process and the
/// server. When the test process is gone, or the watchdog gets TERM, it sends the server its
/// stop signal, gives it 5 s, then kills what is left of the group, itself included. When the
/// test process is gone it also removes the server's folder first: a server kept in a static
/// is never dropped, and nothing else would.
const WATCHDOG: &str = r#"
    stop() {
        trap '' TERM INT
        if [ "$STOP_GROUP" = 1 ]; then kill -"$STOP_SIGNAL" -- -$$; else kill -"$STOP_SIGNAL" "$server"; fi 2>/dev/null
        for _ in $(seq 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
        [ -e "/proc/$TEST_PID" ] || rm -rf -- "$FOLDER"
        kill -KILL -- -$$ 2>/dev/null
    }
    trap stop TERM
    "$@" &
    server=$!
    while [ -e "/proc/$TEST_PID" ] && kill -0 "$server" 2>/dev/null; do sleep 0.5; done
    stop
"#;

/// How the watchdog stops its server.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// TERM to the whole process group: a server whose workers are its children and stop on
    /// TERM (MLflow's uvicorn, node, moto).
    Group,
    /// This signal (`"INT"`, ...) to the server process alone, which stops its own children
    /// (PostgreSQL's postmaster: INT is its fast shutdown, and its children leave the group).
    Server(&'static str),
}

/// A running server process under its watchdog, with its output in a log file.
pub struct Watched {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Watched {
    /// Starts `server` (program, arguments, environment and folder are taken from it) under a
    /// watchdog that stops it with `stop`, its standard output and error appended to
    /// `<folder>/server.log`; `folder` is the server's own temporary folder, removed when the
    /// test process is gone. `name` is how panics call the server.
    pub fn spawn(name: &str, server: &Command, folder: &Path, stop: Stop) -> Watched {
        let log = folder.join("server.log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("cannot open the log of the {name} at {log:?}: {e}"));
        let (group, signal) = match stop {
            Stop::Group => ("1", "TERM"),
            Stop::Server(signal) => ("0", signal),
        };
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(WATCHDOG)
            .arg("watchdog")
            .arg(server.get_program())
            .args(server.get_args())
            .env("TEST_PID", std::process::id().to_string())
            .env("STOP_GROUP", group)
            .env("STOP_SIGNAL", signal)
            .env("FOLDER", folder)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("the log"))
            .stderr(out)
            .process_group(0);
        for (key, value) in server.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        if let Some(dir) = server.get_current_dir() {
            command.current_dir(dir);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start bash for the {name}: {e}"));
        Watched {
            name: name.to_owned(),
            child: Some(child),
            log,
        }
    }

    /// The process group of the watchdog and the server (the watchdog's pid), while it runs.
    pub fn group(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    /// Polls `ready` every 100 ms until it is true. Panics, with the end of the server's log,
    /// when the server exits first or `timeout` passes.
    pub fn wait_until(&mut self, timeout: Duration, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if ready() {
                return;
            }
            if let Some(status) = self.exited() {
                panic!(
                    "the {} exited ({status}) before it was ready:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "the {} is not ready after {} s:\n{}",
                    self.name,
                    timeout.as_secs(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// The last 30 lines of the server's log.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Stops the server through the watchdog, which sends the stop signal and waits up to 5 s
    /// for the server to exit; then KILL to whatever is left of the group. The folder stays.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = child.id() as i32;
        // SAFETY: signalling the watchdog this value started.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: signalling the process group the watchdog leads.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = child.wait();
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.stop();
    }
}
