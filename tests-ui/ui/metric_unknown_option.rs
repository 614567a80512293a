use run_runtime::prelude::*;

#[log_metric(nmae = "loss")]
fn loss() -> f64 {
    0.25
}

fn main() {}
