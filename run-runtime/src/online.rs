//! The online side of a run, or nothing when the crate is built without the `mlflow` feature:
//! the rest of the crate uses `Option<Arc<Link>>` either way.

#[cfg(feature = "mlflow")]
pub(crate) use crate::mlflow::{Link, Target};

#[cfg(not(feature = "mlflow"))]
pub(crate) use offline_only::{Link, Target};

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
    pub(crate) enum Target {}

    impl Link {
        pub fn start(
            target: Arc<Target>,
            _meta: RunMeta,
            _root: &Path,
            _parent: Option<Arc<Link>>,
            _remote: Option<String>,
        ) -> Result<Arc<Link>> {
            match *target {}
        }
        pub fn remote_id(&self) -> Option<String> {
            match *self {}
        }
        pub fn remote_parent_id(&self) -> Option<String> {
            match *self {}
        }
        pub fn base(&self) -> &str {
            match *self {}
        }
        pub fn target(&self) -> Arc<Target> {
            match *self {}
        }
        pub fn poke(&self) {
            match *self {}
        }
        pub fn close(&self) {
            match *self {}
        }
        pub fn refused(&self) -> Vec<String> {
            match *self {}
        }
        pub fn read_back(&self, _meta: RunMeta) -> Result<RunData> {
            match *self {}
        }
        pub fn wait_shipped(&self, _end: u64, _timeout: Duration) -> Result<()> {
            match *self {}
        }
    }
}
