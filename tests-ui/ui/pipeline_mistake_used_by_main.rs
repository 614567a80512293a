use run_runtime::prelude::*;

#[aml_step(params(threshold = 0.9))]
fn train(threshold: f64) {
    let _ = threshold;
}

// A mistake in the options; the code that uses the pipeline gets no error of its own.
pipeline!(iris = [train], params(threshold = 0.95), experimnt = "iris");

fn main() -> std::process::ExitCode {
    let _ = iris::PIPELINE.steps;
    let _ = iris::pipeline();
    iris::main()
}
