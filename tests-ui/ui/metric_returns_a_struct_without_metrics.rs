use run_runtime::prelude::*;

struct Model {
    weights: Vec<f64>,
}

#[log_metric]
fn fit() -> Model {
    Model { weights: vec![] }
}

fn main() {
    let _ = fit().weights;
}
