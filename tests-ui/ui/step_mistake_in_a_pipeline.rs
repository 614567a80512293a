use run_runtime::prelude::*;

#[aml_step(outputs(clean = "out/clean"))]
fn prep(clean: &Path) {
    let _ = clean;
}

// The default is not a literal, so `train::STEP` cannot say `epochs` has one: the pipeline
// does not report "param `epochs` of step `train` has no value" on top of the real mistake.
#[aml_step(inputs(clean), params(epochs = [3]))]
fn train(clean: &Path, epochs: u32) {
    let _ = (clean, epochs);
}

pipeline!(iris = [prep, train]);

fn main() -> std::process::ExitCode {
    iris::main()
}
