use run_runtime::prelude::*;

struct Model {
    name: &'static str,
}

#[log_tag]
fn best() -> Option<Model> {
    Some(Model { name: "knn" })
}

fn main() {
    let _ = best().map(|m| m.name);
}
