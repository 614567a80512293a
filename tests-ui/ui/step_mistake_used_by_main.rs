use run_runtime::prelude::*;

// The step's attribute has a mistake; the code that uses the step gets no error of its own.
#[aml_step(inputz(irisdata = "data/iris.csv"))]
fn train(irisdata: &Path) {
    let _ = irisdata;
}

const _: &str = train::STEP.name;

fn main() -> std::process::ExitCode {
    assert!(train::STEP.params.is_empty());
    train::main()
}
