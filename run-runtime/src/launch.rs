//! Any program as a run: [`Launch`] starts a command on a run, with the environment contract,
//! its output passed through and captured, and ends the run from how the command ended.
//! `runctx run -- COMMAND` is this; a sweep's trials are this too.
//!
//! ```no_run
//! use run_runtime::{Status, Store};
//! use run_runtime::launch::Launch;
//!
//! let run = Store::new("runs").start_run("Default", "train")?;
//! let outcome = Launch::new("python").arg("train.py").run(run)?;
//! assert_eq!(outcome.status, Status::Finished);
//! std::process::exit(outcome.exit.code_for_shell());
//! # Ok::<(), run_runtime::Error>(())
//! ```
//!
//! # What the command gets
//!
//! | variable | value |
//! | --- | --- |
//! | `RUNCTX_HOME` | the store the run is in (an absolute path) |
//! | `RUNCTX_RUN_ID` | the run: `Run::get_context()` in a Rust program attaches to it |
//! | `RUNCTX_PARENT_RUN_ID` | the run's parent, if it has one |
//! | `RUNCTX_LAUNCHER_ENDS_RUN=1` | the program logs to the run but does not end it: the launcher does, from the exit status |
//! | `RUNCTX_OFFLINE=1` | the launcher ships the run (one shipper per journal); a Rust program only appends to the journal |
//! | `MLFLOW_TRACKING_URI`, `MLFLOW_RUN_ID` | online: the server and the run's id there, so that a Python program using `mlflow` logs into the same server run |
//! | `MLFLOW_EXPERIMENT_NAME` | the run's experiment |
//! | `MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=false` | when the launcher samples system metrics, so that they are not sampled twice |
//! | `PYTHONUNBUFFERED=1` | unless set: Python writes its output as it goes, so that it is passed through live |
//!
//! # How the run ends
//!
//! | the command | the run | [`Exit`] |
//! | --- | --- | --- |
//! | exits 0 | FINISHED | `Code(0)` |
//! | exits with code n | FAILED, error "the command exited with code n" | `Code(n)` |
//! | is killed by a signal | KILLED, error "killed by SIGKILL" (the signal's name) | `Signal(9)` |
//! | ended the run itself (`run.fail(...)`) | as the program ended it | as it exited |
//!
//! The tag `runctx.exit_code` says the code as a shell reports it (128 + the signal's number
//! for a signal), and `runctx.command` the command line.
//!
//! # Output
//!
//! Standard output and error go through pipes: each chunk is passed on to this process's own
//! output at once and appended to the run's artifacts `logs/stdout.txt` and `logs/stderr.txt`,
//! so memory stays bounded (one 64 KiB buffer per stream) whatever the command writes. The
//! command's standard input is this process's.
//!
//! # Signals
//!
//! The command runs in a process group of its own. While it runs, SIGINT and SIGTERM sent to
//! this process (Ctrl-C, `kill`, a job scheduler) are forwarded to that whole group, so the
//! command's own children get them too, once; this process waits for the command to end and
//! ends the run from its exit status. When this process has the terminal (it is in the
//! terminal's foreground), the command's group gets it while the command runs, so that the
//! command can read the terminal and Ctrl-C typed there reaches its group directly; this
//! process takes it back after. SIGKILL of this process cannot be forwarded: the command
//! goes on, and the run stays RUNNING (`runctx gc` finds it).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use signal_hook::low_level::signal_name;

use crate::error::{Error, Result, Status};
use crate::journal::ArtifactKind;
use crate::lifecycle::signals::{Forwarding, forward_to};
use crate::process::{lock, process};
use crate::run::Run;
use crate::store::Store;

/// The artifact of the command's standard output.
pub const STDOUT_ARTIFACT: &str = "logs/stdout.txt";
/// The artifact of the command's standard error.
pub const STDERR_ARTIFACT: &str = "logs/stderr.txt";
/// The tag with the command line.
pub const COMMAND_TAG: &str = "runctx.command";
/// The tag with the exit code, as a shell reports it.
pub const EXIT_CODE_TAG: &str = "runctx.exit_code";

/// How long the output is still captured after the command exits, for what its own children
/// (which may keep the pipes open) still write.
const DRAIN: Duration = Duration::from_secs(2);
/// The chunk the output is read in.
const CHUNK: usize = 64 * 1024;
/// The longest command line the tag keeps (a tag value holds 8000 characters).
const MAX_COMMAND_CHARS: usize = 7_000;

/// A new run named `name` for a command, in `store`: online when the environment names a
/// tracking server (as for [`Run::get_context`]), in `experiment`, else the environment's
/// (`MLFLOW_EXPERIMENT_NAME`, `MLFLOW_EXPERIMENT_ID`, else `Default`).
pub fn new_run(store: &Store, experiment: Option<&str>, name: &str) -> Result<Run> {
    let settings = process().settings()?;
    let (experiment, experiment_id) = match experiment {
        Some(e) => (e, None),
        None => (
            settings.experiment.as_str(),
            settings.experiment_id.as_deref(),
        ),
    };
    let online = crate::context::online_server(&settings)?;
    Run::start(store, experiment, experiment_id, name, None, online)
}

/// A command to run as a run; see the [module](self) documentation.
#[derive(Debug, Clone)]
pub struct Launch {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    system_metrics: Option<Duration>,
    echo: bool,
    dir: Option<PathBuf>,
    die_with_launcher: bool,
}

impl Launch {
    /// The command `program` (looked up in `PATH` if it has no `/`), without arguments.
    pub fn new(program: impl Into<OsString>) -> Launch {
        Launch {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            system_metrics: None,
            echo: true,
            dir: None,
            die_with_launcher: false,
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Launch {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = A>, A: Into<OsString>>(mut self, args: I) -> Launch {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets a variable of the command's environment (beside the contract's, which win).
    pub fn env(mut self, name: impl Into<OsString>, value: impl Into<OsString>) -> Launch {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Samples system metrics into the run every `interval` while the command runs (see
    /// [`Run::log_system_metrics`]). Without this call, they are sampled when
    /// `MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=true`, at `MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL`.
    pub fn system_metrics(mut self, interval: Duration) -> Launch {
        self.system_metrics = Some(interval);
        self
    }

    /// Whether the command's output is also passed on to this process's output (on by
    /// default); it is captured either way.
    pub fn echo(mut self, on: bool) -> Launch {
        self.echo = on;
        self
    }

    /// Runs the command in folder `dir` (by default, this process's current folder).
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Launch {
        self.dir = Some(dir.into());
        self
    }

    /// Has the command killed (SIGKILL) when this process dies, however it dies, on Linux
    /// (`PR_SET_PDEATHSIG`; elsewhere this does nothing). The signal goes when the *thread*
    /// that spawned the command ends, so spawn from a thread that lives as long as the command
    /// should. It reaches the command's own process only, not processes it started.
    pub fn die_with_launcher(mut self) -> Launch {
        self.die_with_launcher = true;
        self
    }

    /// The command line, with arguments quoted as a POSIX shell would need them.
    pub fn command_line(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs the command on `run` to its end; see [`Launched::wait`].
    pub fn run(self, run: Run) -> Result<Outcome> {
        self.spawn(run)?.wait()
    }

    /// Starts the command on `run`, which this call takes over: it ends when the command does
    /// ([`Launched::wait`]). A command that cannot start fails the run with the reason, which
    /// is also the error returned.
    pub fn spawn(self, run: Run) -> Result<Launched> {
        let command_line = self.command_line();
        let started = self.start(&run, &command_line);
        match started {
            Ok(launched) => Ok(launched),
            Err(e) => {
                if run.status().is_none() {
                    run.end_as(Status::Failed, Some(e.to_string()))?;
                }
                Err(e)
            }
        }
    }

    fn start(self, run: &Run, command_line: &str) -> Result<Launched> {
        let interval = match self.system_metrics {
            Some(i) => Some(crate::system_metrics::check_interval(
                "system metrics interval",
                i,
            )?),
            None => process().settings()?.system_metrics,
        };
        run.tag(COMMAND_TAG, shorten(command_line))?;
        let out = Sink::create(run, STDOUT_ARTIFACT)?;
        let err = Sink::create(run, STDERR_ARTIFACT)?;
        // The command attaches to the run from the store, and online its server id is needed.
        run.flush()?;
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::inherit())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        contract(&mut command, run, interval.is_some())?;
        if let Some(interval) = interval {
            run.log_system_metrics(interval)?;
        }
        let terminal = has_terminal();
        let die_with = self.die_with_launcher;
        // SAFETY: getpid only reads this process's id.
        let launcher = unsafe { libc::getpid() };
        // SAFETY: setpgid, getpid, getppid, prctl, tcsetpgrp and pthread_sigmask are
        // async-signal-safe; the child leads a process group of its own, which the signals are
        // forwarded to, and takes the terminal if this process had it.
        unsafe {
            command.pre_exec(move || {
                if libc::setpgid(0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if die_with {
                    die_with_parent(launcher)?;
                }
                match terminal {
                    true => give_terminal(libc::getpid()),
                    false => Ok(()),
                }
            });
        }
        let mut child = command.spawn().map_err(|e| Error::Command {
            command: command_line.to_owned(),
            reason: format!(
                "cannot start it ({e}); check that the program exists and is executable (a name \
                 without '/' is looked up in PATH)"
            ),
        })?;
        let forwarding = forward_to(child.id() as i32);
        let pumps = [
            pump(child.stdout.take(), self.echo.then(stdout), &out),
            pump(child.stderr.take(), self.echo.then(stderr), &err),
        ];
        Ok(Launched {
            run: run.clone(),
            child,
            command_line: command_line.to_owned(),
            sinks: [out, err],
            pumps,
            forwarding: Some(forwarding),
            terminal,
        })
    }
}

/// Sets the environment contract of the module documentation on `command`.
fn contract(command: &mut Command, run: &Run, sampling: bool) -> Result<()> {
    let root = run.store().root();
    let home = std::path::absolute(root).map_err(|e| Error::io("find", root, e))?;
    command
        .env("RUNCTX_HOME", home)
        .env("RUNCTX_RUN_ID", run.id())
        .env("RUNCTX_LAUNCHER_ENDS_RUN", "1")
        .env("RUNCTX_OFFLINE", "1")
        .env("MLFLOW_EXPERIMENT_NAME", run.experiment())
        .env_remove("MLFLOW_EXPERIMENT_ID");
    match run.parent_id() {
        Some(parent) => command.env("RUNCTX_PARENT_RUN_ID", parent),
        None => command.env_remove("RUNCTX_PARENT_RUN_ID"),
    };
    match (run.tracking_uri(), run.remote_id()) {
        (Some(uri), Some(remote)) => {
            // An inherited URI names the same server, in the form the user gave (azureml://).
            if std::env::var_os("MLFLOW_TRACKING_URI").is_none_or(|v| v.is_empty()) {
                command.env("MLFLOW_TRACKING_URI", uri);
            }
            command.env("MLFLOW_RUN_ID", remote);
        }
        (Some(uri), None) => {
            return Err(Error::Server {
                server: uri.to_owned(),
                what: format!("create the run {}", run.id()),
                reason: "the run has no id on the server after a flush; is the server up?".into(),
            });
        }
        (None, _) => {
            command.env_remove("MLFLOW_RUN_ID");
        }
    }
    if sampling {
        command.env("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "false");
    }
    if std::env::var_os("PYTHONUNBUFFERED").is_none() {
        command.env("PYTHONUNBUFFERED", "1");
    }
    Ok(())
}

/// A command running on a run; [`Launched::wait`] ends the run when the command ends.
#[derive(Debug)]
pub struct Launched {
    run: Run,
    child: Child,
    command_line: String,
    sinks: [Arc<Sink>; 2],
    pumps: [Option<JoinHandle<()>>; 2],
    /// Forwards SIGINT and SIGTERM to the command until it has ended.
    forwarding: Option<Forwarding>,
    /// The command's group has the terminal, to be taken back when it ends.
    terminal: bool,
}

impl Launched {
    /// The command's process id, which is also its process group's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The run the command runs on.
    pub fn run(&self) -> &Run {
        &self.run
    }

    /// Sends `signal` (such as `libc::SIGTERM`) to the command and every process of its
    /// group.
    pub fn signal(&self, signal: i32) -> Result<()> {
        // SAFETY: kill only sends a signal, to the group this launch started.
        match unsafe { libc::kill(-(self.child.id() as i32), signal) } {
            0 => Ok(()),
            _ => Err(Error::Command {
                command: self.command_line.clone(),
                reason: format!(
                    "cannot send it signal {signal}: {}",
                    io::Error::last_os_error()
                ),
            }),
        }
    }

    /// Whether the command has ended, without waiting.
    pub fn has_ended(&mut self) -> Result<bool> {
        self.child
            .try_wait()
            .map(|s| s.is_some())
            .map_err(|e| self.failure("cannot learn whether it ended", &e))
    }

    /// Waits for the command to end, records its output as the run's artifacts, and ends the
    /// run as the module documentation says (unless the program ended it); flushed, and online
    /// shipped within the flush timeout.
    pub fn wait(mut self) -> Result<Outcome> {
        let status = self.child.wait();
        self.forwarding = None;
        if self.terminal
            // SAFETY: getpgrp only reads this process's group.
            && let Err(e) = give_terminal(unsafe { libc::getpgrp() })
        {
            eprintln!("run-runtime: cannot take the terminal back from the command: {e}");
        }
        let status = status.map_err(|e| self.failure("cannot wait for it", &e))?;
        let exit = Exit::of(status);
        self.record_output();
        self.run.tag(EXIT_CODE_TAG, exit.code_for_shell())?;
        let ended_by_program = self.run.store().end(self.run.id())?;
        let (status, error) = match ended_by_program {
            Some(end) => {
                // Its handle here must neither end it again nor stop shipping it early.
                self.run.hand_over();
                self.run.flush()?;
                (end.status, end.error)
            }
            None => {
                let (status, error) = exit.run_end();
                self.run.end_as(status, error.clone())?;
                (status, error)
            }
        };
        Ok(Outcome {
            status,
            exit,
            error,
        })
    }

    /// Waits a little for the output's end, then records what was captured as artifacts.
    fn record_output(&mut self) {
        let deadline = Instant::now() + DRAIN;
        for (pump, sink) in self.pumps.iter_mut().zip(&self.sinks) {
            if let Some(p) = pump.take() {
                while !p.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            let result = sink.close().and_then(|size| {
                self.run
                    .record_artifact(sink.name, ArtifactKind::File, size)
            });
            if let Err(e) = result {
                eprintln!("run-runtime: run {}: {}: {e}", self.run.id(), sink.name);
            }
        }
    }

    fn failure(&self, what: &str, e: &io::Error) -> Error {
        Error::Command {
            command: self.command_line.clone(),
            reason: format!("{what}: {e}"),
        }
    }
}

/// In the child before exec: SIGKILL when the launcher dies. The launcher may have died before
/// the call, leaving the child to a new parent: then the child does not start.
#[cfg(target_os = "linux")]
fn die_with_parent(launcher: libc::pid_t) -> io::Result<()> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) and getppid only set and read this process's state.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::getppid() != launcher {
            return Err(io::Error::other(
                "the launcher ended before the command started",
            ));
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_launcher: libc::pid_t) -> io::Result<()> {
    Ok(())
}

/// Whether this process is in the foreground of a terminal on its standard input.
fn has_terminal() -> bool {
    // SAFETY: both only query the terminal of standard input, if it is one.
    unsafe { libc::isatty(0) == 1 && libc::tcgetpgrp(0) == libc::getpgrp() }
}

/// Makes process group `group` the foreground of the terminal on standard input. A process
/// outside the foreground asking that is stopped by SIGTTOU unless it blocks the signal, so
/// the calling thread blocks it meanwhile (Linux then sends nothing).
fn give_terminal(group: libc::pid_t) -> io::Result<()> {
    // SAFETY: the sets are initialised by sigemptyset and pthread_sigmask before being read;
    // tcsetpgrp only changes the terminal's foreground group.
    unsafe {
        let mut ttou: libc::sigset_t = std::mem::zeroed();
        let mut before: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut ttou);
        libc::sigaddset(&mut ttou, libc::SIGTTOU);
        libc::pthread_sigmask(libc::SIG_BLOCK, &ttou, &mut before);
        let done = libc::tcsetpgrp(0, group);
        let error = io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &before, std::ptr::null_mut());
        match done {
            0 => Ok(()),
            _ => Err(error),
        }
    }
}

/// How a launched command ended, and how its run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The run's status.
    pub status: Status,
    /// How the command ended.
    pub exit: Exit,
    /// The run's error, if it did not finish.
    pub error: Option<String>,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal (this number) killed it.
    Signal(i32),
}

impl Exit {
    fn of(status: ExitStatus) -> Exit {
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            // Stopped or continued cannot come from `wait`: treat it as a failure.
            (None, None) => Exit::Code(1),
        }
    }

    /// The code a shell would report: the exit code, or 128 + the signal's number.
    pub fn code_for_shell(&self) -> i32 {
        match *self {
            Exit::Code(code) => code,
            Exit::Signal(signal) => 128 + signal,
        }
    }

    /// The status and error a run ends with.
    fn run_end(&self) -> (Status, Option<String>) {
        match *self {
            Exit::Code(0) => (Status::Finished, None),
            Exit::Code(code) => (
                Status::Failed,
                Some(format!("the command exited with code {code}")),
            ),
            Exit::Signal(signal) => {
                let name = signal_name(signal)
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("signal {signal}"));
                (Status::Killed, Some(format!("killed by {name}")))
            }
        }
    }
}

/// One captured stream: the artifact file it is appended to.
#[derive(Debug)]
struct Sink {
    name: &'static str,
    file: Mutex<Option<(File, u64)>>,
    /// The first error writing the file, after which the stream is only passed through.
    error: Mutex<Option<io::Error>>,
}

impl Sink {
    fn create(run: &Run, name: &'static str) -> Result<Arc<Sink>> {
        let path = crate::artifacts::place(&run.artifacts_dir(), name)?;
        let file = File::create(&path).map_err(|e| Error::io("create", &path, e))?;
        Ok(Arc::new(Sink {
            name,
            file: Mutex::new(Some((file, 0))),
            error: Mutex::new(None),
        }))
    }

    fn append(&self, bytes: &[u8]) {
        let mut file = lock(&self.file);
        let Some((f, size)) = file.as_mut() else {
            return;
        };
        match f.write_all(bytes) {
            Ok(()) => *size += bytes.len() as u64,
            Err(e) => {
                *file = None;
                *lock(&self.error) = Some(e);
            }
        }
    }

    /// Stops appending; the size written, made durable.
    fn close(&self) -> Result<u64> {
        if let Some(e) = lock(&self.error).take() {
            return Err(Error::io("write", self.name, e));
        }
        match lock(&self.file).take() {
            Some((file, size)) => {
                file.sync_all()
                    .map_err(|e| Error::io("sync", self.name, e))?;
                Ok(size)
            }
            None => Ok(0),
        }
    }
}

/// A stream the output is passed on to.
type Echo = Box<dyn Write + Send>;

fn stdout() -> Echo {
    Box::new(io::stdout())
}

fn stderr() -> Echo {
    Box::new(io::stderr())
}

/// A stream of the child's output.
trait Output: Read + Send + 'static {}
impl Output for ChildStdout {}
impl Output for ChildStderr {}

/// Copies `from` to `echo` and `sink` chunk by chunk on a thread of its own, until the end.
fn pump(from: Option<impl Output>, echo: Option<Echo>, sink: &Arc<Sink>) -> Option<JoinHandle<()>> {
    let mut from = from?;
    let theirs = Arc::clone(sink);
    let mut echo = echo;
    let thread = std::thread::Builder::new()
        .name("runctx-output".into())
        .spawn(move || {
            let mut buf = vec![0; CHUNK];
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return,
                };
                // A closed terminal or pipe downstream stops the passing on, not the capture.
                if let Some(out) = &mut echo
                    && out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err()
                {
                    echo = None;
                }
                theirs.append(&buf[..n]);
            }
        });
    match thread {
        Ok(t) => Some(t),
        Err(e) => {
            *lock(&sink.error) = Some(e);
            None
        }
    }
}

/// `arg` as a POSIX shell reads it back: bare when it is plain, else in single quotes.
pub(crate) fn quote(arg: &OsStr) -> String {
    let text = arg.to_string_lossy();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The command line, cut to what a tag holds.
fn shorten(line: &str) -> String {
    match line.char_indices().nth(MAX_COMMAND_CHARS) {
        None => line.to_owned(),
        Some((at, _)) => format!("{}…", &line[..at]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_are_quoted_as_a_shell_reads_them() {
        let launch = Launch::new("python").args(["train.py", "--lr=0.1", "it's", ""]);
        assert_eq!(
            launch.command_line(),
            r"python train.py --lr=0.1 'it'\''s' ''"
        );
    }

    #[test]
    fn exits_map_to_statuses_and_shell_codes() {
        assert_eq!(Exit::Code(0).run_end(), (Status::Finished, None));
        let (status, error) = Exit::Code(3).run_end();
        assert_eq!(status, Status::Failed);
        assert_eq!(error.unwrap(), "the command exited with code 3");
        let (status, error) = Exit::Signal(libc::SIGKILL).run_end();
        assert_eq!(status, Status::Killed);
        assert_eq!(error.unwrap(), "killed by SIGKILL");
        assert_eq!(Exit::Signal(libc::SIGINT).code_for_shell(), 130);
        assert_eq!(Exit::Code(3).code_for_shell(), 3);
    }

    #[test]
    fn long_command_lines_are_cut_for_the_tag() {
        let long = "x".repeat(MAX_COMMAND_CHARS + 10);
        assert_eq!(shorten(&long).chars().count(), MAX_COMMAND_CHARS + 1);
        assert_eq!(shorten("short"), "short");
    }
}
