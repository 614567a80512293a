//! The online side of a run, or nothing when the crate is built without the `mlflow` feature:
//! the rest of the crate uses `Option<Arc<Link>>` either way.

#[cfg(feature = "mlflow")]
pub(crate) use crate::mlflow::{Link, Server};

#[cfg(not(feature = "mlflow"))]
pub(crate) use offline_only::{Link, Server};

#[cfg(not(feature = "mlflow"))]
mod offline_only {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use crate::error::Result;
    use crate::store::{RunData, RunMeta};

    /// Without the `mlflow` feature no run is online: a link cannot exist.
    #[derive(Debug)]
    pub(crate) enum Link {}

    /// Without the `mlflow` feature there is no server to ship to.
    #[derive(Debug)]
    pub(crate) enum Server {}

    impl Link {
        pub(crate) fn start(
            server: Arc<Server>,
            _meta: RunMeta,
            _root: &Path,
            _parent: Option<Arc<Link>>,
            _remote: Option<String>,
        ) -> Result<Arc<Link>> {
            match *server {}
        }
        pub(crate) fn remote_id(&self) -> Option<String> {
            match *self {}
        }
        pub(crate) fn remote_parent_id(&self) -> Option<String> {
            match *self {}
        }
        pub(crate) fn base(&self) -> &str {
            match *self {}
        }
        pub(crate) fn server(&self) -> Arc<Server> {
            match *self {}
        }
        pub(crate) fn poke(&self) {
            match *self {}
        }
        pub(crate) fn close(&self) {
            match *self {}
        }
        pub(crate) fn refused(&self) -> Vec<String> {
            match *self {}
        }
        pub(crate) fn read_back(&self, _meta: RunMeta) -> Result<RunData> {
            match *self {}
        }
        pub(crate) fn wait_shipped(&self, _end: u64, _timeout: Duration) -> Result<()> {
            match *self {}
        }
    }
}
