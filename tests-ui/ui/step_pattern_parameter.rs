use run_runtime::prelude::*;

#[aml_step(params(threshold = 0.9))]
fn train(threshold: f64, (low, high): (f64, f64)) {
    let _ = (threshold, low, high);
}

fn main() {}
