use run_runtime::prelude::*;

#[log_metric(step = epohc)]
fn loss(epoch: i64) -> f64 {
    1.0 / epoch as f64
}

fn main() {}
