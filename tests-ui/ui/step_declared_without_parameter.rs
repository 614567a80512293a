use run_runtime::prelude::*;

#[aml_step(inputs(irisdata = "data/iris.csv"), params(threshold = 0.9))]
fn train(threshold: f64) {
    let _ = threshold;
}

fn main() {}
