//! Compile-fail tests of the macros: each file in `tests/ui` is one mistake, and its `.stderr`
//! is the exact error a user sees. Regenerate with `TRYBUILD=overwrite cargo test -p tests
//! --test ui`, then review the diff like code.

#[test]
fn each_mistake_is_one_error_at_the_users_token() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/*.rs");
}
