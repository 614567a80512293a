//! A program the shipping fault tests start as a separate process, so that they can time it
//! from start to exit (exit handler included) and read its peak memory. It plays a user's
//! program under the environment the test chooses and prints what happened as one JSON line.
//!
//! shipping complete N     get the context run, log N points, complete it
//! shipping upload FILE    get the context run, upload FILE as artifact `weights.bin`, complete
//!                         it, and say the peak resident memory before and after
//! shipping load N FILE    the load test's program: get the context run, log N points of
//!                         metric `m` (steps 0..N), 20 tags `t0`..`t19`, upload FILE as
//!                         artifact `data.bin`, complete it, and say how long each part took

use std::time::Instant;

use run_runtime::Run;
use serde_json::json;

fn main() {
    let started = Instant::now();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["complete", n] => complete(started, n.parse().expect("a count")),
        ["upload", file] => upload(file),
        ["load", n, file] => load(started, n.parse().expect("a count"), file),
        other => panic!("unknown arguments {other:?}"),
    }
}

fn complete(started: Instant, n: i64) {
    let run = Run::get_context().unwrap();
    for i in 0..n {
        run.log_step("m", i as f64, i).unwrap();
    }
    let before = Instant::now();
    let outcome = run.complete();
    report(
        &run,
        outcome,
        json!({
            "complete_ms": before.elapsed().as_millis() as u64,
            // From the start of main to the return of complete(): what is left of the
            // process's wall time is the exit handler's.
            "returned_at_ms": started.elapsed().as_millis() as u64,
        }),
    );
}

/// Prints the run, how its end went, and `more`, as one JSON line.
fn report(run: &Run, outcome: run_runtime::Result<()>, more: serde_json::Value) {
    let mut line = json!({
        "id": run.id(),
        "remote_id": run.remote_id(),
        "error": outcome.err().map(|e| e.to_string()),
        "refused": run.refused_records(),
    });
    line.as_object_mut()
        .unwrap()
        .extend(more.as_object().unwrap().clone());
    println!("{line}");
}

fn upload(file: &str) {
    let run = Run::get_context().unwrap();
    run.log("before_upload", 1).unwrap();
    run.flush().unwrap();
    let hwm_before = peak_rss_kib();
    let started = Instant::now();
    run.upload_file("weights.bin", file).unwrap();
    let outcome = run.complete();
    report(
        &run,
        outcome,
        json!({
            "upload_ms": started.elapsed().as_millis() as u64,
            "hwm_before_kib": hwm_before,
            "hwm_after_kib": peak_rss_kib(),
        }),
    );
}

fn load(started: Instant, n: i64, file: &str) {
    let run = Run::get_context().unwrap();
    for i in 0..n {
        run.log_step("m", i as f64, i).unwrap();
    }
    for i in 0..20 {
        run.tag(&format!("t{i}"), format!("value {i}")).unwrap();
    }
    run.upload_file("data.bin", file).unwrap();
    let logged_ms = started.elapsed().as_millis() as u64;
    let outcome = run.complete();
    report(
        &run,
        outcome,
        json!({
            "logged_ms": logged_ms,
            "returned_at_ms": started.elapsed().as_millis() as u64,
        }),
    );
}

/// The process's peak resident memory (`VmHWM` of /proc/self/status), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}
