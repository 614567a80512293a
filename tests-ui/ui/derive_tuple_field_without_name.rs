use run_runtime::prelude::*;

#[derive(Metrics)]
struct Scores(#[metric(rename = "accuracy")] f64, f64);

fn main() {}
