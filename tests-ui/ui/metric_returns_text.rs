use run_runtime::prelude::*;

#[log_metric]
fn model_name() -> String {
    "knn".into()
}

fn main() {}
