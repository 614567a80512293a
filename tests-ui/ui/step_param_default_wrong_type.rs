use run_runtime::prelude::*;

#[aml_step(params(epochs = 2.5))]
fn train(epochs: u32) {
    let _ = epochs;
}

fn main() {}
