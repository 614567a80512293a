use run_runtime::prelude::*;

#[aml_step(inputs(rate = "0.1"))]
fn train(rate: f64) {
    let _ = rate;
}

fn main() {}
