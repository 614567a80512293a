use run_runtime::prelude::*;

#[aml_step]
const fn train() {}

fn main() {}
