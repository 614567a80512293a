use run_runtime::prelude::*;

#[aml_step(inputs(raw = "data/raw.csv"), outputs(clean = "out/clean"))]
fn prep(raw: &Path, clean: &Path) {
    let _ = (raw, clean);
}

#[aml_step(inputs(clean, feedback), outputs(model = "out/model"))]
fn train(clean: &Path, feedback: &Path, model: &Path) {
    let _ = (clean, feedback, model);
}

#[aml_step(inputs(model), outputs(feedback = "out/feedback"))]
fn evaluate(model: &Path, feedback: &Path) {
    let _ = (model, feedback);
}

pipeline!(iris = [prep, train, evaluate]);

fn main() {}
