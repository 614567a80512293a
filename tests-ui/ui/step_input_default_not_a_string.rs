use run_runtime::prelude::*;

#[aml_step(inputs(irisdata = 3))]
fn train(irisdata: &Path) {
    let _ = irisdata;
}

fn main() {}
