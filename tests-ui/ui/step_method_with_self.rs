use run_runtime::prelude::*;

struct Trainer;

impl Trainer {
    #[aml_step(params(threshold = 0.9))]
    fn train(&self, threshold: f64) {
        let _ = threshold;
    }
}

fn main() {}
