use run_runtime::prelude::*;

#[derive(Metrics)]
struct Scores {
    #[metric(renamed = "acc")]
    accuracy: f64,
}

fn main() {}
