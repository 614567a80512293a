use run_runtime::prelude::*;

#[log_metric(crate = "my runtime")]
fn loss() -> f64 {
    0.25
}

fn main() {}
