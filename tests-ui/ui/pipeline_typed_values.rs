use run_runtime::prelude::*;

#[aml_step(outputs(split), params(seed = 7, ratio = 0.8, label = "species"))]
fn prep(split: &Path, seed: u64, ratio: f64, label: String) {
    let _ = (split, seed, ratio, label);
}

#[aml_step(inputs(split), params(seed = 1.5, label = "class"))]
fn train(split: &Path, seed: f64, label: &str) {
    let _ = (split, seed, label);
}

// A float for a `u64`, a string for an `f64`, a number too large for a `u64`; `label` is
// text in both steps (`String` and `&str`), which is fine, but `seed` is a `u64` in `prep` and
// an `f64` in `train`, while one pipeline value gives both.
pipeline!(
    iris = [prep, train],
    params(seed = 0.5, ratio = "high", label = "kind"),
);

#[aml_step(params(count = 3))]
fn count(count: u64) {
    let _ = count;
}

pipeline!(counts = [count], params(count = 18446744073709551616));

fn main() {}
