//! SIGTERM and SIGINT (what Kubernetes, Azure ML and Ctrl-C send) end the runs KILLED with every
//! record logged before the signal, and the process still ends by that signal.

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use run_runtime::{Status, Store};
use tests::command;

const PROBE: &str = env!("CARGO_BIN_EXE_probe");
const POINTS: usize = 1_000;

/// Starts `probe wait`, waits for its "ready" line, and returns it with its run id.
fn ready_probe(home: &std::path::Path, env: &[(&str, &str)]) -> (Child, String) {
    let mut child = command(PROBE, home)
        .args(["wait", &POINTS.to_string()])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let id = tests::last_json(lines.next().unwrap().unwrap().as_bytes())["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    (child, id)
}

/// Sends `signal` and waits, at most 30 s, for the process to end; its exit status.
fn stop(child: &mut Child, signal: i32) -> std::process::ExitStatus {
    // SAFETY: kill only sends a signal to the child we started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the process did not end within 30 s of the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ends_killed_with_every_record(signal: i32, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, id) = ready_probe(dir.path(), &[]);
    let status = stop(&mut child, signal);
    assert_eq!(
        status.signal(),
        Some(signal),
        "the signal's default action ends the process: {status:?}"
    );
    let data = Store::new(dir.path()).read(&id).unwrap();
    assert_eq!(data.status, Status::Killed);
    assert_eq!(
        data.error.as_deref(),
        Some(format!("stopped by {name}").as_str())
    );
    let points = &data.metrics["m"];
    assert_eq!(points.len(), POINTS, "every point logged before the signal");
    assert!(points.iter().enumerate().all(|(i, p)| p.value == i as f64));
    assert!(data.damage.is_empty(), "{:?}", data.damage);
}

#[test]
fn sigterm_ends_the_run_killed_with_every_record_logged_before_it() {
    ends_killed_with_every_record(libc::SIGTERM, "SIGTERM");
}

#[test]
fn sigint_ends_the_run_killed_with_every_record_logged_before_it() {
    ends_killed_with_every_record(libc::SIGINT, "SIGINT");
}

#[test]
fn with_runctx_handle_signals_0_the_program_keeps_the_signals() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, id) = ready_probe(dir.path(), &[("RUNCTX_HANDLE_SIGNALS", "0")]);
    let status = stop(&mut child, libc::SIGTERM);
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    let data = Store::new(dir.path()).read(&id).unwrap();
    assert_eq!(
        data.status,
        Status::Running,
        "nothing of the library ran on the signal"
    );
}
