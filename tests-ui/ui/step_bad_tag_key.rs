use run_runtime::prelude::*;

#[aml_step(tags(team = "vision", "stage//name" = "train"))]
fn train() {}

fn main() {}
