//! The compile-fail cases of runctx's macros live in `ui/`, one mistake per file with the exact
//! error a user sees in its `.stderr`; `tests/ui.rs` runs them. This library is empty: the crate
//! exists so that trybuild's project depends on the runtime without its online backend.
