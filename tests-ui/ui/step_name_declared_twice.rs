use run_runtime::prelude::*;

#[aml_step(inputs(data = "data/iris.csv"), params(data = 3))]
fn train(data: &Path) {
    let _ = data;
}

fn main() {}
