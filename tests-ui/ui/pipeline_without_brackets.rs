use run_runtime::prelude::*;

#[aml_step]
fn prep() {}

#[aml_step]
fn train() {}

pipeline!(iris = prep, train);

fn main() -> std::process::ExitCode {
    iris::main()
}
