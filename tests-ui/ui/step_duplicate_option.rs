use run_runtime::prelude::*;

#[aml_step(name = "train", params(threshold = 0.9), name = "fit")]
fn train(threshold: f64) {
    let _ = threshold;
}

fn main() {}
