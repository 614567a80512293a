use run_runtime::prelude::*;

#[aml_step(params(threshold = 0.9))]
fn train(treshold: f64) {
    let _ = treshold;
}

fn main() {}
