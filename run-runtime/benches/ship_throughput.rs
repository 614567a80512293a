//! End-to-end shipping to a tracking server: N metrics logged with `run.log`, then flushed
//! until the server has them all; and the cost of `run.log` on the caller's thread meanwhile,
//! and while the server is down.
//!
//! Run by `scripts/bench-mlflow.py`, which starts the server and runs the Python client beside
//! it. By hand: `cargo bench -p run-runtime --bench ship_throughput -- http://127.0.0.1:5000 100000`
//! (a port nothing listens on measures the server-down case: add `down`).

use std::time::{Duration, Instant};

use run_runtime::Store;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let uri = args
        .first()
        .expect("usage: ship_throughput URI N [down]")
        .clone();
    let n: u64 = args
        .get(1)
        .map_or(100_000, |a| a.parse().expect("N is a number"));
    let down = args.get(2).is_some_and(|a| a == "down");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let run = store
        .start_online_run(&uri, "ship-bench", "throughput")
        .unwrap();
    let mut per_call = Vec::with_capacity((n / 256) as usize + 1);
    let start = Instant::now();
    let mut i = 0u64;
    while i < n {
        let batch = (n - i).min(256);
        let t = Instant::now();
        for j in i..i + batch {
            run.log("throughput", j as f64).unwrap();
        }
        per_call.push(t.elapsed().as_nanos() as f64 / batch as f64);
        i += batch;
    }
    let logged = start.elapsed();
    per_call.sort_by(f64::total_cmp);
    let median = per_call[per_call.len() / 2];
    if down {
        println!(
            "{{\"variant\": \"rust_server_down\", \"n\": {n}, \"log_ns_median\": {median:.1}, \"log_seconds\": {:.3}}}",
            logged.as_secs_f64()
        );
        std::process::exit(0); // nothing will ship: skip the exit handler's wait
    }
    run.flush_within(Duration::from_secs(600)).unwrap();
    let shipped = start.elapsed();
    println!(
        "{{\"variant\": \"rust\", \"n\": {n}, \"seconds\": {:.3}, \"per_s\": {:.0}, \"log_ns_median\": {median:.1}, \"log_seconds\": {:.3}}}",
        shipped.as_secs_f64(),
        n as f64 / shipped.as_secs_f64(),
        logged.as_secs_f64()
    );
}
