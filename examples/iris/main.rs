//! The Iris pipeline, a port of Azure ML's classic `iris_supervised_model` flow, and the main
//! job of this repository:
//!
//! ```sh
//! cargo run --example iris                        # offline: runs go to ./runs
//! cargo run --example iris -- --threshold 0.99    # a stricter registration
//! cargo run --example iris -- --processes         # each step in a process of its own
//! cargo run --example iris -- --help              # --list, --graph, --step, --export azureml
//! ```
//!
//! `prep` cleans the shipped data set and splits it, `train` fits three classifiers (logistic
//! regression, a decision tree, k-nearest neighbours), logs each one's accuracy and confusion
//! matrix and records the best on the pipeline's run, and `register` registers the best model
//! if its accuracy reaches `threshold`. With `MLFLOW_TRACKING_URI` set, the same program logs
//! to that server and registers the model in its registry.

mod data;
mod models;
mod steps;

use steps::{prep, register, train};

run_runtime::pipeline!(
    /// Clean the Iris data, train three classifiers, register the best if it is accurate enough.
    pub iris = [prep, train, register],
    experiment = "iris",
);

pub fn main() -> std::process::ExitCode {
    iris::main()
}
