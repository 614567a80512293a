use run_runtime::prelude::*;

#[log_metric(to = [run, parent, run])]
fn loss() -> f64 {
    0.25
}

fn main() {}
