//! The load benchmark: the load test's work (16 processes at once, each 50,000 points, 20 tags
//! and a 20 MB file) against a production-style server (PostgreSQL, 4 workers, artifacts in
//! Azure Blob on Azurite), done by this crate's client and by MLflow's Python client
//! (`scripts/bench-python-load.py`: `log_batch` of 1000 and `log_artifact`), in alternation on
//! one server, so that the two are compared side by side on the same machine and moment.
//!
//! After each round of this crate's client, every point, tag and file is checked to have
//! arrived exactly once (`tests::load::check_load`, as the load test does at a smaller size).
//!
//! `cargo run --release -p tests --bin load_bench -- [ROUNDS] [PROCESSES] [POINTS] [MB]`
//! (defaults 3, 16, 50000, 20). Prints a markdown table of each round and the medians.

use std::process::Command;

use tests::last_json;
use tests::load::{check_load, load_file, run_load};
use tests::mlflow::MlflowServer;
use tests::venv::server_python;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("ROUNDS PROCESSES POINTS MB are numbers"))
        .collect();
    let arg = |i: usize, default: usize| args.get(i).copied().unwrap_or(default);
    let (rounds, processes, points, mb) = (arg(0, 3), arg(1, 16), arg(2, 50_000), arg(3, 20));
    let server = MlflowServer::postgres_azurite();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.bin");
    load_file(&file, mb * 1_000_000);
    println!(
        "{processes} processes x ({points} points + 20 tags + {mb} MB), PostgreSQL + Azurite, \
         {} workers\n",
        tests::production::WORKERS
    );
    println!("| round | this crate (s) | Python client (s) | ratio (Python / this) |");
    println!("| --- | --- | --- | --- |");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let rust = rust_load(&server, dir.path(), round, processes, points, &file);
        let python = python_load(&server, processes, points, mb);
        println!(
            "| {round} | {rust:.1} | {python:.1} | {:.2} |",
            python / rust
        );
        ours.push(rust);
        theirs.push(python);
    }
    let (rust, python) = (median(&mut ours), median(&mut theirs));
    println!(
        "| median | {rust:.1} ({:.0} points/s) | {python:.1} ({:.0} points/s) | {:.2} |",
        (processes * points) as f64 / rust,
        (processes * points) as f64 / python,
        python / rust
    );
}

/// Seconds from starting `processes` programs (`shipping load`) to the last one's exit: each
/// creates its run, logs, uploads and completes (waiting for the server to have everything).
/// Then checks that everything arrived exactly once.
fn rust_load(
    server: &MlflowServer,
    dir: &std::path::Path,
    round: usize,
    processes: usize,
    points: usize,
    file: &std::path::Path,
) -> f64 {
    let program = std::env::current_exe().unwrap().with_file_name("shipping");
    let runs = dir.join(format!("round{round}"));
    let (seconds, remotes) = run_load(server, &program, &runs, processes, points, file);
    let bytes = file.metadata().unwrap().len() as usize;
    check_load(server, &remotes, points, bytes);
    seconds
}

/// The Python client's seconds for the same load (its own clock: from every run created to the
/// last one ended; interpreter start-up not counted).
fn python_load(server: &MlflowServer, processes: usize, points: usize, mb: usize) -> f64 {
    let script = tests::venv::workspace().join("scripts/bench-python-load.py");
    let out = Command::new(server_python())
        .arg(script)
        .args(["--tracking-uri", &server.uri])
        .args(["--processes", &processes.to_string()])
        .args(["--metrics", &points.to_string()])
        .args(["--file-mb", &mb.to_string()])
        .envs(server.client_env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    last_json(&out.stdout)["seconds"].as_f64().unwrap()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
