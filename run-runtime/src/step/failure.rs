//! What a step's return value means: success, or the text of its failure. Support for the code
//! `#[aml_step]` generates (through `run_runtime::__private`).

use std::fmt::Display;

/// The error text of a failed step: its error type must implement `Display`.
#[diagnostic::on_unimplemented(
    message = "the error type `{Self}` of a step must implement `Display`, so that the run records its message",
    label = "no `Display`",
    note = "implement `Display` for the error type, or return a `Result` whose error implements it (`Box<dyn Error>`, `String`, ...)"
)]
pub trait ErrorText {
    /// The text a failed run records.
    fn error_text(&self) -> String;
}

impl<E: Display + ?Sized> ErrorText for E {
    fn error_text(&self) -> String {
        self.to_string()
    }
}

/// The failure a `Result` return value means: its `Err` text.
pub fn failure_of_result<T, E: ErrorText>(result: &Result<T, E>) -> Option<String> {
    result.as_ref().err().map(ErrorText::error_text)
}

/// Any other return value means success.
pub fn no_failure<R: ?Sized>(_: &R) -> Option<String> {
    None
}

/// Telling a `Result` from any other return type by its type, not by how it is written: a
/// step returning an alias (`type Outcome = Result<(), MyError>`) fails on `Err` too. The macro
/// sees only the tokens of the return type; this dispatch (autoref specialisation) sees the type.
///
/// `value.__runctx_failure_kind()` finds [`ViaResult`] when `value: &Result<T, E>` and falls
/// back to [`ViaOther`] otherwise; the kind then reads the failure, and for a `Result` requires
/// its error to be [`ErrorText`], so an error type without `Display` is still a compile error.
pub mod failure_kind {
    use super::ErrorText;

    /// The return type is a `Result`.
    pub struct ResultKind;
    /// Any other return type.
    pub struct OtherKind;

    /// Chosen for a `Result`.
    pub trait ViaResult {
        /// The kind of a `Result`.
        fn __runctx_failure_kind(&self) -> ResultKind {
            ResultKind
        }
    }
    impl<T, E> ViaResult for Result<T, E> {}

    /// Chosen for anything else (one more reference away, so tried second).
    pub trait ViaOther {
        /// The kind of anything else.
        fn __runctx_failure_kind(&self) -> OtherKind {
            OtherKind
        }
    }
    impl<R: ?Sized> ViaOther for &R {}

    impl ResultKind {
        /// The `Err` text.
        pub fn failure<T, E: ErrorText>(self, result: &Result<T, E>) -> Option<String> {
            super::failure_of_result(result)
        }
    }

    impl OtherKind {
        /// Success.
        pub fn failure<R: ?Sized>(self, _: &R) -> Option<String> {
            None
        }
    }
}
