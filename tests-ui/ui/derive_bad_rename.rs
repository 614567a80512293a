use run_runtime::prelude::*;

#[derive(Metrics)]
struct Scores {
    #[metric(rename = "val//accuracy")]
    accuracy: f64,
}

fn main() {}
