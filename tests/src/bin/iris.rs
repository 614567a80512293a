//! The Iris example (`examples/iris`) as a program the integration tests can start: the same
//! source files, built into the tests package.

#[path = "../../../examples/iris/main.rs"]
mod example;

fn main() -> std::process::ExitCode {
    example::main()
}
