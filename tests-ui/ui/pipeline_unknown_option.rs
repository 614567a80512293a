use run_runtime::prelude::*;

#[aml_step]
fn prep() {}

pipeline!(iris = [prep], experimnt = "iris", inputs(data = 3));

fn main() {}
