use run_runtime::prelude::*;

#[aml_step(system_metrics = "10s")]
fn train() {}

#[aml_step(system_metrics = 0)]
fn evaluate() {}

fn main() {}
