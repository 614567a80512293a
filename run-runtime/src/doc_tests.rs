//! The Rust code blocks of `README.md` and `docs/*.md`, compiled and run as doc tests (`cargo
//! test --doc`), so that the documentation cannot drift from the API. Each item only carries a
//! file's text: rustdoc collects the code blocks of its doc comment.

#[doc = include_str!("../../README.md")]
struct Readme;

#[doc = include_str!("../../docs/guide.md")]
struct Guide;

#[doc = include_str!("../../docs/journal-format.md")]
struct JournalFormat;

#[doc = include_str!("../../docs/cli.md")]
struct Cli;

#[doc = include_str!("../../docs/benchmarks.md")]
struct Benchmarks;

#[doc = include_str!("../../docs/search.md")]
struct Search;

// The examples of these use the attributes and `pipeline!`.
#[cfg(feature = "macros")]
#[doc = include_str!("../../docs/macros.md")]
struct Macros;

#[cfg(feature = "macros")]
#[doc = include_str!("../../docs/pipelines.md")]
struct Pipelines;

#[cfg(feature = "mlflow")]
#[doc = include_str!("../../docs/mlflow.md")]
struct Mlflow;

#[cfg(unix)]
#[doc = include_str!("../../docs/sweeps.md")]
struct Sweeps;
