//! Compile-fail tests of the macros: each file in `tests-ui/ui` is one mistake, and its `.stderr`
//! is the exact error a user sees. Regenerate with `TRYBUILD=overwrite cargo test -p tests-ui`,
//! then review the diff like code.

#[test]
fn each_mistake_is_one_error_at_the_users_token() {
    // scripts/test.sh builds the workspace with clippy-driver as its compiler; trybuild's cargo
    // would inherit it and add clippy's lints to the messages, which are rustc's alone.
    // SAFETY: this binary's only test, so no other thread reads the environment.
    unsafe {
        std::env::remove_var("RUSTC_WORKSPACE_WRAPPER");
        std::env::remove_var("CLIPPY_ARGS");
    }
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/*.rs");
}
