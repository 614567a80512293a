use run_runtime::prelude::*;

// An async step keeps an async entry point when its attribute has a mistake.
#[aml_step(params(epochs = 2.5))]
async fn train(epochs: u32) {
    let _ = epochs;
}

async fn program() -> std::process::ExitCode {
    train::main().await
}

fn main() {
    let _ = program();
}
