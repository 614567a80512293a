use run_runtime::prelude::*;

#[derive(Metrics)]
struct Scores {
    accuracy: f64,
    model: String,
}

fn main() {}
