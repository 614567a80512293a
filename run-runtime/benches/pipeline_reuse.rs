//! A wide pipeline run cold, then reused: 1 `prep` that writes a data file, 8 independent
//! `train_*` steps that each read it and fit a model, 1 `register` (`reuse = false`) that reads
//! the 8 models. For each round: the wall time of `run_on`, the time inside the step bodies
//! (each body times itself), and the runtime's own share: each step's duration as the pipeline
//! saw it (its run started, values recorded, inputs hashed, the identity looked up, the run
//! ended) less its body's time, summed over the steps.
//!
//! `cargo bench -p run-runtime --bench pipeline_reuse` (`-- ROUNDS ROWS`: the default is 5
//! rounds of a 2,000,000-row data file, 32 MB).

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use run_runtime::pipeline::RunOptions;
use run_runtime::prelude::*;

type BoxError = Box<dyn std::error::Error>;

/// The time each body took, by step, in the round being measured.
static BODIES: Mutex<Vec<(&'static str, Duration)>> = Mutex::new(Vec::new());

fn timed<R>(step: &'static str, body: impl FnOnce() -> R) -> R {
    let started = Instant::now();
    let result = body();
    BODIES.lock().unwrap().push((step, started.elapsed()));
    result
}

/// Writes `rows` pseudo-random (x, y) pairs of little-endian f64, y close to 3x + 1.
#[aml_step(outputs(data), params(rows = 2000000))]
fn prep(data: &Path, rows: u64) -> Result<(), BoxError> {
    timed("prep", || {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut bytes = Vec::with_capacity(rows as usize * 16);
        for _ in 0..rows {
            let x = next();
            let y = 3.0 * x + 1.0 + (next() - 0.5) * 0.1;
            bytes.extend_from_slice(&x.to_le_bytes());
            bytes.extend_from_slice(&y.to_le_bytes());
        }
        std::fs::write(data.join("xy.bin"), bytes)
    })?;
    Ok(())
}

/// Least squares of y on x over the data, by `passes` passes of gradient descent from `start`.
fn fit(data: &Path, model: &Path, start: f64) -> Result<(), BoxError> {
    let bytes = std::fs::read(data.join("xy.bin"))?;
    let pairs: Vec<(f64, f64)> = bytes
        .chunks_exact(16)
        .map(|c| {
            let (x, y) = c.split_at(8);
            (
                f64::from_le_bytes(x.try_into().unwrap()),
                f64::from_le_bytes(y.try_into().unwrap()),
            )
        })
        .collect();
    let (mut a, mut b) = (start, 0.0);
    let n = pairs.len() as f64;
    for _ in 0..20 {
        let (mut ga, mut gb) = (0.0, 0.0);
        for &(x, y) in &pairs {
            let e = a * x + b - y;
            ga += e * x;
            gb += e;
        }
        a -= 1.5 * ga / n;
        b -= 1.5 * gb / n;
    }
    std::fs::write(model.join("model.txt"), format!("{a} {b}"))?;
    Ok(())
}

macro_rules! trains {
    ($($name:ident $model:ident $start:literal;)*) => {$(
        #[aml_step(inputs(data), outputs($model))]
        fn $name(data: &Path, $model: &Path) -> Result<(), BoxError> {
            timed(stringify!($name), || fit(data, $model, $start))
        }
    )*};
}

trains! {
    train_1 model_1 0.0;
    train_2 model_2 1.0;
    train_3 model_3 2.0;
    train_4 model_4 3.0;
    train_5 model_5 4.0;
    train_6 model_6 5.0;
    train_7 model_7 6.0;
    train_8 model_8 7.0;
}

/// Reads the 8 models and records the best; a side effect, so never reused.
#[aml_step(
    reuse = false,
    inputs(model_1, model_2, model_3, model_4, model_5, model_6, model_7, model_8)
)]
#[allow(clippy::too_many_arguments)]
fn register(
    run: &Run,
    model_1: &Path,
    model_2: &Path,
    model_3: &Path,
    model_4: &Path,
    model_5: &Path,
    model_6: &Path,
    model_7: &Path,
    model_8: &Path,
) -> Result<(), BoxError> {
    timed("register", || {
        let models = [
            model_1, model_2, model_3, model_4, model_5, model_6, model_7, model_8,
        ];
        let mut best = f64::INFINITY;
        for model in models {
            let text = std::fs::read_to_string(model.join("model.txt"))?;
            let a: f64 = text.split(' ').next().unwrap_or("").parse()?;
            best = best.min((a - 3.0).abs());
        }
        run.log("best_slope_error", best)?;
        Ok::<(), BoxError>(())
    })
}

pipeline!(
    wide = [
        prep, train_1, train_2, train_3, train_4, train_5, train_6, train_7, train_8, register
    ]
);

struct Round {
    wall: Duration,
    bodies: Duration,
    overhead: Duration,
    reused: usize,
}

fn round(store: &Store, rows: u64) -> Round {
    BODIES.lock().unwrap().clear();
    let run = store.start_run("bench", "wide").unwrap();
    let options = RunOptions {
        values: [("rows".to_owned(), rows.to_string())].into(),
        ..RunOptions::default()
    };
    let started = Instant::now();
    let finished = wide::pipeline().unwrap().run_on(&run, &options).unwrap();
    let wall = started.elapsed();
    assert_eq!(finished.status(), Status::Finished);
    let bodies: Vec<(&str, Duration)> = BODIES.lock().unwrap().clone();
    let body_of = |step: &str| {
        bodies
            .iter()
            .filter(|(s, _)| *s == step)
            .map(|(_, d)| *d)
            .sum::<Duration>()
    };
    let overhead = finished
        .steps()
        .iter()
        .map(|s| s.duration.saturating_sub(body_of(s.step)))
        .sum();
    Round {
        wall,
        bodies: bodies.iter().map(|(_, d)| *d).sum(),
        overhead,
        reused: finished
            .steps()
            .iter()
            .filter(|s| s.reused_from.is_some())
            .count(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let rounds: usize = args.first().map_or(5, |a| a.parse().expect("ROUNDS"));
    let rows: u64 = args.get(1).map_or(2_000_000, |a| a.parse().expect("ROWS"));
    println!(
        "wide pipeline: 1 prep, 8 trains, 1 register; {rows} rows ({} MB); {rounds} rounds",
        rows * 16 / 1_000_000
    );
    println!(
        "{:<6} {:<7} {:>10} {:>12} {:>16} {:>7}",
        "round", "run", "wall", "step bodies", "runtime's share", "reused"
    );
    for r in 1..=rounds {
        // A new store each round: the first run is cold, the second finds the first.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        for label in ["cold", "reused"] {
            let m = round(&store, rows);
            println!(
                "{r:<6} {label:<7} {:>8.1}ms {:>10.1}ms {:>14.1}ms {:>4}/10",
                m.wall.as_secs_f64() * 1e3,
                m.bodies.as_secs_f64() * 1e3,
                m.overhead.as_secs_f64() * 1e3,
                m.reused
            );
        }
    }
}
