use run_runtime::prelude::*;

#[log_metric(prefix = "val/")]
fn accuracy() -> f64 {
    0.9
}

fn main() {
    let _ = accuracy();
}
