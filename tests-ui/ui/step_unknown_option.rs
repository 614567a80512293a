use run_runtime::prelude::*;

#[aml_step(inputz(irisdata = "data/iris.csv"))]
fn train(irisdata: &Path) {
    let _ = irisdata;
}

fn main() {}
