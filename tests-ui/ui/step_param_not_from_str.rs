use run_runtime::prelude::*;

struct Schedule {
    steps: Vec<f64>,
}

#[aml_step(params(schedule))]
fn train(schedule: Schedule) {
    let _ = schedule.steps;
}

fn main() {}
