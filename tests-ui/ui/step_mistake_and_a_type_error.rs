use run_runtime::prelude::*;

// Two independent mistakes, both reported in one build: the attribute's, and a type error in
// code that uses the step (which type-checks because the step's type and `STEP` still exist).
#[aml_step(nme = "fit")]
fn train() {}

fn main() -> std::process::ExitCode {
    let epochs: u32 = train::STEP.name;
    let _ = epochs;
    train::main()
}
