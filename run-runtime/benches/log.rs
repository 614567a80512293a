//! The cost of `run.log` on the caller's thread.
//!
//! `cargo bench -p run-runtime --bench log`

use run_runtime::{Run, Store};

fn main() {
    divan::main();
}

fn run() -> Run {
    let dir = std::env::temp_dir().join(format!("runctx-bench-{}", std::process::id()));
    Store::new(dir)
        .start_run("bench", "log")
        .expect("start a run")
}

#[divan::bench]
fn log_f64(b: divan::Bencher) {
    let run = run();
    let mut i = 0u64;
    b.bench_local(|| {
        i += 1;
        run.log(divan::black_box("train/loss"), i as f64)
    });
    run.flush().unwrap();
}

#[divan::bench]
fn log_step_i64(b: divan::Bencher) {
    let run = run();
    let mut i = 0i64;
    b.bench_local(|| {
        i += 1;
        run.log_step(divan::black_box("accuracy"), i, i)
    });
    run.flush().unwrap();
}
