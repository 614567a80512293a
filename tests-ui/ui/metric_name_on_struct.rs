use run_runtime::prelude::*;

#[derive(Metrics)]
struct Scores {
    accuracy: f64,
}

#[log_metric(name = "scores")]
fn score() -> Scores {
    Scores { accuracy: 0.9 }
}

fn main() {
    let _ = score();
}
