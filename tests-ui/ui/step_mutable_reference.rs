use run_runtime::prelude::*;

#[aml_step(params(count = 1))]
fn train(count: &mut u32) {
    *count += 1;
}

fn main() {}
