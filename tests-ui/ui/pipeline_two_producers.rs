use run_runtime::prelude::*;

#[aml_step(outputs(model = "out/model"))]
fn train(model: &Path) {
    let _ = model;
}

#[aml_step(outputs(model = "out/model2"))]
fn retrain(model: &Path) {
    let _ = model;
}

#[aml_step(inputs(model))]
fn register(model: &Path) {
    let _ = model;
}

pipeline!(iris = [train, retrain, register]);

fn main() {}
