use run_runtime::prelude::*;

#[aml_step(outputs(clean = "out/clean"))]
fn prep(clean: &Path) {
    let _ = clean;
}

// `features` has no default, no step writes it, and the pipeline binds nothing.
#[aml_step(inputs(clean, features), params(threshold = 0.9))]
fn train(clean: &Path, features: &Path, threshold: f64) {
    let _ = (clean, features, threshold);
}

pipeline!(iris = [prep, train]);

fn main() {}
