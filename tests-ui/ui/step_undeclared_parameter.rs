use run_runtime::prelude::*;

#[aml_step(params(threshold = 0.9))]
fn train(threshold: f64, learning_rate: f64) {
    let _ = (threshold, learning_rate);
}

fn main() {}
