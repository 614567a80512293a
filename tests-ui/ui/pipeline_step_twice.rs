use run_runtime::prelude::*;

#[aml_step(outputs(clean = "out/clean"))]
fn prep(clean: &Path) {
    let _ = clean;
}

#[aml_step(inputs(clean))]
fn train(clean: &Path) {
    let _ = clean;
}

pipeline!(iris = [prep, train, prep]);

fn main() {}
