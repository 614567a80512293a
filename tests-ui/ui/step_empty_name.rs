use run_runtime::prelude::*;

#[aml_step(name = "  ")]
fn train() {}

fn main() {}
