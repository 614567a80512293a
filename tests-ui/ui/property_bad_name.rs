use run_runtime::prelude::*;

#[log_property(name = "")]
fn learning_rate() -> f64 {
    0.01
}

fn main() {}
