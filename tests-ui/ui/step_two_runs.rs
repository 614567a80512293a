use run_runtime::prelude::*;

#[aml_step]
fn train(run: &Run, other: &Run) {
    let _ = (run, other);
}

fn main() {}
