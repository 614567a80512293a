use run_runtime::prelude::*;

#[derive(Metrics)]
struct Scores {
    accuracy: f64,
    #[metric(rename = "accuracy")]
    balanced_accuracy: f64,
}

fn main() {}
