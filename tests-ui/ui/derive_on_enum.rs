use run_runtime::prelude::*;

#[derive(Metrics)]
enum Score {
    Accuracy(f64),
    Loss(f64),
}

fn main() {}
