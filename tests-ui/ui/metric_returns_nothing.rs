use run_runtime::prelude::*;

#[log_metric(name = "loss")]
fn train() {}

fn main() {}
