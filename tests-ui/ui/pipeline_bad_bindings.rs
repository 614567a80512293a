use run_runtime::prelude::*;

#[aml_step(inputs(irisdata = "data/iris.csv"), outputs(clean = "out/clean"))]
fn prep(irisdata: &Path, clean: &Path) {
    let _ = (irisdata, clean);
}

#[aml_step(inputs(clean), params(threshold = 0.9))]
fn train(clean: &Path, threshold: f64) {
    let _ = (clean, threshold);
}

// A typo, an input bound as a param, and a binding of data a step writes.
pipeline!(
    iris = [prep, train],
    params(treshold = 0.95, irisdata = "x.csv"),
    inputs(clean = "elsewhere"),
);

fn main() {}
