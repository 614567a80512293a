use run_runtime::prelude::*;

#[log_metric(step = learning_rate)]
fn loss(learning_rate: f64) -> f64 {
    learning_rate * 2.0
}

fn main() {}
