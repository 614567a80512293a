//! `runctx run -- COMMAND`: the exit status decides the run's status and runctx's exit code,
//! the output is passed through and kept as artifacts, and signals reach the command.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Child;
use std::time::{Duration, Instant};

use run_runtime::{RunData, Status, Store};

use super::bounded::runctx_or_hang;
use super::*;

/// The run `runctx run` made: the id its last line on stderr names.
fn run_of(store: &Path, stderr: &str) -> RunData {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("runctx: run "))
        .unwrap_or_else(|| panic!("no summary line on stderr:\n{stderr}"));
    let id = line["runctx: run ".len()..].split(' ').next().unwrap();
    Store::new(store).read(id).unwrap()
}

fn artifact(store: &Path, run: &RunData, name: &str) -> String {
    let path = Store::new(store)
        .run_dir(&run.meta.id)
        .unwrap()
        .join("artifacts")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn exit_codes_decide_the_status_and_runctx_exits_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let ok = runctx_or_hang(
        dir.path(),
        &[
            "run",
            "--name",
            "fine",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2",
        ],
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    // Passed through live, and kept.
    assert_eq!(ok.stdout, "out\n");
    assert!(ok.stderr.starts_with("err\n"), "{}", ok.stderr);
    let run = run_of(dir.path(), &ok.stderr);
    assert_eq!(run.status, Status::Finished);
    assert_eq!(run.meta.name, "fine");
    assert_eq!(artifact(dir.path(), &run, "logs/stdout.txt"), "out\n");
    assert_eq!(artifact(dir.path(), &run, "logs/stderr.txt"), "err\n");
    assert_eq!(run.tags["runctx.exit_code"], "0");
    assert_eq!(run.tags["runctx.command"], "sh -c 'echo out; echo err >&2'");

    let failed = runctx_or_hang(dir.path(), &["run", "--", "sh", "-c", "exit 3"]);
    assert_eq!(failed.code, 3, "{}", failed.stderr);
    let run = run_of(dir.path(), &failed.stderr);
    assert_eq!(run.status, Status::Failed);
    assert_eq!(run.error.as_deref(), Some("the command exited with code 3"));
    assert_eq!(run.tags["runctx.exit_code"], "3");
    assert_eq!(run.meta.name, "sh", "the name defaults to the program's");
    assert!(
        failed
            .stderr
            .contains("FAILED (the command exited with code 3)"),
        "{}",
        failed.stderr
    );
}

#[test]
fn a_command_killed_by_a_signal_ends_killed_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let ran = runctx_or_hang(dir.path(), &["run", "--", "sh", "-c", "kill -KILL $$"]);
    assert_eq!(ran.code, 128 + 9, "as a shell reports it: {}", ran.stderr);
    let run = run_of(dir.path(), &ran.stderr);
    assert_eq!(run.status, Status::Killed);
    assert_eq!(run.error.as_deref(), Some("killed by SIGKILL"));
    assert_eq!(run.tags["runctx.exit_code"], "137");
}

#[test]
fn tags_experiment_and_a_bad_tag_or_command() {
    let dir = tempfile::tempdir().unwrap();
    let ran = runctx_or_hang(
        dir.path(),
        &[
            "run",
            "--experiment",
            "vision",
            "--tag",
            "team=cv",
            "--tag",
            "note=a=b",
            "--",
            "true",
        ],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let run = run_of(dir.path(), &ran.stderr);
    assert_eq!(run.meta.experiment, "vision");
    assert_eq!(run.tags["team"], "cv");
    assert_eq!(run.tags["note"], "a=b");

    let bad = runctx_or_hang(dir.path(), &["run", "--tag", "no equals", "--", "true"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("KEY=VALUE"), "{}", bad.stderr);

    let missing = runctx_or_hang(dir.path(), &["run", "--", "/nonexistent/program"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("/nonexistent/program") && missing.stderr.contains("cannot start"),
        "{}",
        missing.stderr
    );
    // The run says why it failed.
    let failed: Vec<String> = Store::new(dir.path())
        .list()
        .unwrap()
        .runs
        .into_iter()
        .filter_map(|r| r.end.filter(|e| e.status == Status::Failed))
        .filter_map(|e| e.error)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].contains("cannot start"), "{failed:?}");

    let none = runctx_or_hang(dir.path(), &["run"]);
    assert_eq!(none.code, 2, "{}", none.stderr);
}

/// Starts `runctx run -- sh -c SCRIPT` and waits for the script's first line, "ready".
fn ready(store: &Path, script: &str) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = command(store)
        .args(["run", "--", "sh", "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    (child, out)
}

/// Sends `signal` to runctx and waits, at most a minute, for it to end.
fn signal_and_wait(child: &mut Child, signal: i32) -> (i32, String) {
    // SAFETY: kill only sends a signal to the process this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "runctx did not end after the signal"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (
        status.code().expect("runctx exits, it is not killed"),
        stderr,
    )
}

#[test]
fn ctrl_c_reaches_the_command_whose_handler_decides_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut out) = ready(
        dir.path(),
        "trap 'echo handled INT; exit 7' INT; echo ready; while :; do sleep 0.05; done",
    );
    let (code, stderr) = signal_and_wait(&mut child, libc::SIGINT);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "handled INT\n", "the command's handler ran");
    assert_eq!(code, 7, "runctx exits with the command's code: {stderr}");
    let run = run_of(dir.path(), &stderr);
    assert_eq!(run.status, Status::Failed);
    assert_eq!(run.error.as_deref(), Some("the command exited with code 7"));
    assert_eq!(
        artifact(dir.path(), &run, "logs/stdout.txt"),
        "ready\nhandled INT\n"
    );
}

#[test]
fn sigterm_reaches_the_commands_own_children_too() {
    let dir = tempfile::tempdir().unwrap();
    // The grandchild prints its pid; `wait` keeps the shell waiting for it.
    let (mut child, mut out) = ready(dir.path(), "sleep 300 & echo ready; echo $!; wait");
    let mut pid = String::new();
    out.read_line(&mut pid).unwrap();
    let grandchild: i32 = pid.trim().parse().unwrap();
    let (code, stderr) = signal_and_wait(&mut child, libc::SIGTERM);
    assert_eq!(code, 128 + libc::SIGTERM, "{stderr}");
    let run = run_of(dir.path(), &stderr);
    assert_eq!(run.status, Status::Killed);
    assert_eq!(run.error.as_deref(), Some("killed by SIGTERM"));
    // The grandchild is gone (or a zombie waiting for init to reap it).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{grandchild}/stat"));
        match state {
            Err(_) => break,
            Ok(stat) if stat.rsplit(") ").next().unwrap().starts_with('Z') => break,
            Ok(_) => {}
        }
        assert!(Instant::now() < deadline, "the grandchild survived SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn large_output_is_streamed_to_the_artifact_not_held_in_memory() {
    const BYTES: u64 = 64 << 20;
    let dir = tempfile::tempdir().unwrap();
    // Reaped by wait4 below, which also gives its peak memory.
    #[allow(clippy::zombie_processes)]
    let mut child = command(dir.path())
        .args(["run", "--", "head", "-c", &BYTES.to_string(), "/dev/zero"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    // wait4 gives the peak memory of runctx (and of `head`, which it waited for).
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid, and wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{stderr}"
    );
    let peak_bytes = usage.ru_maxrss as u64 * 1024;
    assert!(
        peak_bytes < BYTES * 3 / 4,
        "runctx peaked at {peak_bytes} bytes for {BYTES} bytes of output"
    );
    let run = run_of(dir.path(), &stderr);
    let file = Store::new(dir.path())
        .run_dir(&run.meta.id)
        .unwrap()
        .join("artifacts/logs/stdout.txt");
    assert_eq!(std::fs::metadata(file).unwrap().len(), BYTES);
}

#[test]
fn system_metrics_are_logged_under_mlflows_names() {
    let dir = tempfile::tempdir().unwrap();
    let ran = runctx_or_hang(dir.path(), &["run", "--system-metrics", "--", "true"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let run = run_of(dir.path(), &ran.stderr);
    // A command shorter than the interval still has the sample taken as its run ends.
    for name in [
        "system/cpu_utilization_percentage",
        "system/system_memory_usage_megabytes",
        "system/system_memory_usage_percentage",
        "system/disk_usage_megabytes",
        "system/network_receive_megabytes",
        "system/network_transmit_megabytes",
    ] {
        let points = run
            .metrics
            .get(name)
            .unwrap_or_else(|| panic!("no {name}: {:?}", run.metrics.keys()));
        assert_eq!(points[0].step, 0, "{name}");
    }
}

#[test]
fn a_command_started_from_a_terminal_can_read_it() {
    // `script` gives runctx a terminal (a pseudo-terminal) whose foreground it is; the command
    // must get the terminal to read it (from the background it would be stopped by SIGTTIN).
    let dir = tempfile::tempdir().unwrap();
    let line = format!(
        "{} --store {} run -- sh -c 'read answer; echo got $answer'",
        env!("CARGO_BIN_EXE_runctx"),
        dir.path().display()
    );
    let mut script = Command::new("script");
    tests::clean(&mut script)
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = script.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the command could not read the terminal: it hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(status.success(), "{out}");
    assert!(out.contains("got hello"), "{out}");
}
