//! A long training loop: logistic regression fitted by gradient descent for thousands of
//! epochs, with the loss and accuracy of every epoch logged through `#[log_metric(step =
//! epoch)]`, in an async step.
//!
//! ```sh
//! cargo run --release --example training_loop
//! cargo run --release --example training_loop -- --epochs 20000 --learning_rate 0.2
//! MLFLOW_TRACKING_URI=http://127.0.0.1:5000 cargo run --release --example training_loop
//! ```
//!
//! The step has only parameters, whose defaults apply online too, so the same command logs to a
//! tracking server when `MLFLOW_TRACKING_URI` names one.
//!
//! Two models train on the same data in turns, a block of epochs each, one without logging and
//! one with every epoch logged, and the program says what logging cost: every `log` call
//! appends to an in-memory buffer that a background writer puts in the journal, so the loop
//! never waits for the disk.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use run_runtime::prelude::*;

/// What is logged every epoch.
#[derive(Metrics, Debug, Clone, Copy)]
struct EpochMetrics {
    loss: f64,
    accuracy: f64,
}

/// The epoch's loss and accuracy, logged at step `epoch` on the step's run.
#[log_metric(step = epoch)]
fn logged(model: &Model, data: &Data, epoch: i64) -> EpochMetrics {
    let _ = epoch;
    model.evaluate(data)
}

/// The same, not logged: the baseline.
fn unlogged(model: &Model, data: &Data, epoch: i64) -> EpochMetrics {
    let _ = epoch;
    model.evaluate(data)
}

/// Trains the model twice, without and with logging, and reports the difference.
#[aml_step(
    description = "logistic regression by gradient descent, every epoch logged",
    params(epochs = 3000, learning_rate = 0.5, samples = 2000, seed = 42)
)]
async fn train(
    run: &Run,
    epochs: u32,
    learning_rate: f64,
    samples: usize,
    seed: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    if samples < 10 || epochs == 0 {
        return Err(
            format!("give at least 10 samples and 1 epoch (got {samples} and {epochs})").into(),
        );
    }
    let data = Data::generate(samples, seed);
    println!(
        "training_loop: {epochs} epochs of logistic regression on {samples} samples of {FEATURES} features"
    );
    let (model, timing) = fit_both(&data, epochs, learning_rate).await;
    let flush_started = Instant::now();
    run.flush()?;
    let flushed = flush_started.elapsed();

    let last = model.evaluate(&data);
    run.add_properties([("final_loss", last.loss), ("final_accuracy", last.accuracy)])?;
    let points = run.get_metrics()?.values().map(Vec::len).sum::<usize>();
    timing.report(points, flushed);
    println!(
        "final loss {:.4}, accuracy {:.4}\nrun {} is in {}; plot its loss with:\n  runctx plot {} --metric loss -o loss.svg",
        last.loss,
        last.accuracy,
        run.id(),
        run.store().root().display(),
        run.id()
    );
    Ok(())
}

/// Epochs timed together: the two loops take turns, a block of epochs each, so that whatever
/// else the machine does slows both alike.
const BLOCK: u32 = 50;

/// The time of each block of epochs, without and with logging.
struct Timing {
    blocks: Vec<(Duration, Duration)>,
    epochs: u32,
}

impl Timing {
    fn report(&self, points: usize, flushed: Duration) {
        let total = |pick: fn(&(Duration, Duration)) -> Duration| {
            self.blocks.iter().map(pick).sum::<Duration>()
        };
        let (plain, logged) = (total(|b| b.0), total(|b| b.1));
        let per_epoch = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(self.epochs);
        // The median block difference: a burst of other work in one block does not move it.
        let mut differences: Vec<f64> = self
            .blocks
            .iter()
            .map(|(p, l)| (l.as_secs_f64() - p.as_secs_f64()) / p.as_secs_f64())
            .collect();
        differences.sort_by(f64::total_cmp);
        let median = differences[differences.len() / 2];
        println!(
            "  without logging: {:>8.1} ms ({:.1} µs per epoch)",
            plain.as_secs_f64() * 1e3,
            per_epoch(plain)
        );
        println!(
            "  with logging:    {:>8.1} ms ({:.1} µs per epoch), {points} metric points",
            logged.as_secs_f64() * 1e3,
            per_epoch(logged)
        );
        println!(
            "  logging cost:    {:+.2}% of an epoch ({:+.2} µs), the median over {} blocks of {BLOCK} \
             epochs run in turns; then {:.1} ms to flush the run to disk",
            100.0 * median,
            median * per_epoch(plain),
            self.blocks.len(),
            flushed.as_secs_f64() * 1e3
        );
    }
}

/// Trains two models on `data` in turns, a block of epochs each: one evaluated every epoch
/// without logging, one with every epoch's metrics logged. Returns the logged model and the
/// timings. Yields to the executor after each block, as a long async step should.
async fn fit_both(data: &Data, epochs: u32, learning_rate: f64) -> (Model, Timing) {
    let (mut plain, mut logged_model) = (Model::new(), Model::new());
    let mut blocks = Vec::new();
    let mut start = 0;
    while start < epochs {
        let end = (start + BLOCK).min(epochs);
        let time = |model: &mut Model, evaluate: fn(&Model, &Data, i64) -> EpochMetrics| {
            let started = Instant::now();
            for epoch in start..end {
                model.step(data, learning_rate);
                std::hint::black_box(evaluate(model, data, i64::from(epoch)));
            }
            started.elapsed()
        };
        // Alternate which goes first, so neither always finds the caches warm.
        let block = if blocks.len() % 2 == 0 {
            let p = time(&mut plain, unlogged);
            (p, time(&mut logged_model, logged))
        } else {
            let l = time(&mut logged_model, logged);
            (time(&mut plain, unlogged), l)
        };
        blocks.push(block);
        YieldNow(false).await;
        start = end;
    }
    (logged_model, Timing { blocks, epochs })
}

const FEATURES: usize = 8;

/// Points of two overlapping Gaussian clouds, labelled 0 and 1.
struct Data {
    x: Vec<[f64; FEATURES]>,
    y: Vec<f64>,
}

impl Data {
    fn generate(samples: usize, seed: u64) -> Data {
        let mut rng = SplitMix(seed);
        let mut normal = move || {
            // Box-Muller.
            let u = (rng.next() as f64 + 1.0) / (u64::MAX as f64 + 2.0);
            let v = rng.next() as f64 / u64::MAX as f64;
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let (mut x, mut y) = (Vec::with_capacity(samples), Vec::with_capacity(samples));
        for i in 0..samples {
            let label = (i % 2) as f64;
            let shift = if label == 1.0 { 0.6 } else { -0.6 };
            x.push(std::array::from_fn(|f| normal() + shift / (1.0 + f as f64)));
            y.push(label);
        }
        Data { x, y }
    }
}

/// Logistic regression: weights and a bias.
struct Model {
    w: [f64; FEATURES],
    b: f64,
}

impl Model {
    fn new() -> Model {
        Model {
            w: [0.0; FEATURES],
            b: 0.0,
        }
    }

    fn probability(&self, x: &[f64; FEATURES]) -> f64 {
        let z: f64 = self.w.iter().zip(x).map(|(w, x)| w * x).sum::<f64>() + self.b;
        1.0 / (1.0 + (-z).exp())
    }

    /// One step of batch gradient descent on the log loss.
    fn step(&mut self, data: &Data, learning_rate: f64) {
        let (mut gw, mut gb) = ([0.0; FEATURES], 0.0);
        for (x, y) in data.x.iter().zip(&data.y) {
            let error = self.probability(x) - y;
            for (g, v) in gw.iter_mut().zip(x) {
                *g += error * v;
            }
            gb += error;
        }
        let n = data.y.len() as f64;
        for (w, g) in self.w.iter_mut().zip(gw) {
            *w -= learning_rate * g / n;
        }
        self.b -= learning_rate * gb / n;
    }

    fn evaluate(&self, data: &Data) -> EpochMetrics {
        let (mut loss, mut correct) = (0.0, 0usize);
        for (x, y) in data.x.iter().zip(&data.y) {
            let p = self.probability(x).clamp(1e-12, 1.0 - 1e-12);
            loss -= y * p.ln() + (1.0 - y) * (1.0 - p).ln();
            correct += usize::from((p >= 0.5) == (*y == 1.0));
        }
        let n = data.y.len() as f64;
        EpochMetrics {
            loss: loss / n,
            accuracy: correct as f64 / n,
        }
    }
}

/// SplitMix64, so the data are the same on every machine. (The Iris example has the same ten
/// lines on purpose: each example is read, and copied, as a program of its own.)
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Gives the executor a turn once.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

fn main() -> ExitCode {
    // An async step that needs no runtime of its own: driven on this thread.
    train::STEP.main()
}
