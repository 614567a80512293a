use run_runtime::prelude::*;

#[log_metric(to = grandparent)]
fn loss() -> f64 {
    0.25
}

fn main() {}
