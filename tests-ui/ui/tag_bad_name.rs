use run_runtime::prelude::*;

#[log_tag(name = "best model!")]
fn best_model() -> String {
    "knn".into()
}

fn main() {}
