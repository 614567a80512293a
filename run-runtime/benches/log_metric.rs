//! The cost of `#[log_metric]` against the same function logging by hand.
//!
//! `cargo bench -p run-runtime --bench log_metric`
//!
//! Every function computes the same value and logs it to the run of the current context (a
//! step's run, entered as `#[aml_step]` does). `by_hand` is what a user writes without the
//! attribute: `Run::get_context()` then `run.log`, ignoring a logging error as the attribute
//! does. `held_handle` is the floor: `run.log` on a handle the caller already holds.

use run_runtime::__private::with_current;
use run_runtime::{Run, Store, enter, log_metric};

fn main() {
    divan::main();
}

fn run() -> Run {
    let dir = std::env::temp_dir().join(format!("runctx-bench-macro-{}", std::process::id()));
    Store::new(dir)
        .start_run("bench", "log_metric")
        .expect("start a run")
}

#[log_metric(name = "train/loss")]
fn annotated(x: f64) -> f64 {
    x * 0.5
}

fn by_hand(x: f64) -> f64 {
    let value = x * 0.5;
    if let Ok(run) = Run::get_context() {
        let _ = run.log("train/loss", value);
    }
    value
}

/// What the attribute expands to, written out (through the generated code's own helper).
fn by_hand_borrowed(x: f64) -> f64 {
    let value = x * 0.5;
    let _ = with_current(|run| run.log("train/loss", value));
    value
}

#[log_metric(name = "accuracy", step = epoch)]
fn annotated_step(epoch: i64) -> i64 {
    epoch & 0xff
}

fn by_hand_step(epoch: i64) -> i64 {
    let value = epoch & 0xff;
    if let Ok(run) = Run::get_context() {
        let _ = run.log_step("accuracy", value, epoch);
    }
    value
}

/// Runs `f` on increasing inputs with a step's run as the context.
fn bench_in_step(b: divan::Bencher, f: fn(f64) -> f64) {
    let run = run();
    let _context = enter(run.clone());
    let mut i = 0.0;
    b.bench_local(|| {
        i += 1.0;
        f(divan::black_box(i))
    });
    run.flush().unwrap();
}

#[divan::bench]
fn log_metric_attribute(b: divan::Bencher) {
    bench_in_step(b, annotated);
}

#[divan::bench]
fn log_metric_by_hand(b: divan::Bencher) {
    bench_in_step(b, by_hand);
}

#[divan::bench]
fn log_metric_by_hand_borrowed(b: divan::Bencher) {
    bench_in_step(b, by_hand_borrowed);
}

#[divan::bench]
fn held_handle(b: divan::Bencher) {
    let run = run();
    let mut i = 0.0;
    b.bench_local(|| {
        i += 1.0;
        let value = divan::black_box(i) * 0.5;
        let _ = run.log("train/loss", value);
        value
    });
    run.flush().unwrap();
}

#[divan::bench]
fn log_metric_step_attribute(b: divan::Bencher) {
    let run = run();
    let _context = enter(run.clone());
    let mut i = 0;
    b.bench_local(|| {
        i += 1;
        annotated_step(divan::black_box(i))
    });
    run.flush().unwrap();
}

#[divan::bench]
fn log_metric_step_by_hand(b: divan::Bencher) {
    let run = run();
    let _context = enter(run.clone());
    let mut i = 0;
    b.bench_local(|| {
        i += 1;
        by_hand_step(divan::black_box(i))
    });
    run.flush().unwrap();
}
