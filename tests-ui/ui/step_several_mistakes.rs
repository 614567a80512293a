use run_runtime::prelude::*;

#[aml_step(name = "train", inputs(irisdata = "data/iris.csv"), params(treshold = 0.9), name = "fit")]
fn train(irisdata: &Path, threshold: f64, epochs: u32) {
    let _ = (irisdata, threshold, epochs);
}

fn main() {}
