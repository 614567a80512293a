use run_runtime::prelude::*;

#[aml_step(params(threshold = 0.9))]
fn train<T: std::str::FromStr>(threshold: T) {
    let _ = threshold;
}

fn main() {}
