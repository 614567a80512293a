use run_runtime::prelude::*;

#[derive(Debug)]
struct TrainError;

#[aml_step]
fn train() -> Result<(), TrainError> {
    Err(TrainError)
}

fn main() {}
