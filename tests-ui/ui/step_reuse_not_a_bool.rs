use run_runtime::prelude::*;

#[aml_step(reuse = "no")]
fn publish() {}

#[aml_step(reuse)]
fn deploy() {}

fn main() {}
