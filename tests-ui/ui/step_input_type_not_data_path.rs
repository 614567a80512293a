use run_runtime::prelude::*;

struct Dataset {
    rows: usize,
}

#[aml_step(inputs(data = "data/iris.csv"))]
fn train(data: Dataset) {
    let _ = data.rows;
}

fn main() {}
