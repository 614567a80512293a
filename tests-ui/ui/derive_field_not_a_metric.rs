use run_runtime::prelude::*;

struct Histogram {
    bins: Vec<u32>,
}

#[derive(Metrics)]
struct Scores {
    accuracy: f64,
    histogram: Histogram,
}

fn main() {
    let _ = |s: Scores| s.histogram.bins;
}
