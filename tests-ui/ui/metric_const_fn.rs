use run_runtime::prelude::*;

#[log_metric]
const fn answer() -> u32 {
    42
}

fn main() {}
