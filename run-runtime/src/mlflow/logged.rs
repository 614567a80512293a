//! The tag `mlflow.loggedArtifacts` on the server: the list of a run the program did not make
//! alone (an engine's run attached by `MLFLOW_RUN_ID`, whose Python side may have logged tables
//! too) keeps its entries. The journal holds the list as this process knows it; before it
//! ships, it is merged into the server's list, as MLflow's own `log_table` does.

use super::batch::{Item, inactive_run};
use super::error::ShipError;
use super::link::Link;
use super::retry::retry;
use crate::mlflow_tables::{LOGGED_ARTIFACTS_TAG, LoggedArtifacts};

/// Merges each value of the tag among `items` into the server run's value, if it has one.
pub(super) async fn merge_with_server(
    link: &Link,
    run_id: &str,
    items: &mut [Item],
) -> Result<(), ShipError> {
    let is_list = |i: &Item| matches!(i, Item::Tag { key, .. } if key == LOGGED_ARTIFACTS_TAG);
    if !items.iter().any(is_list) {
        return Ok(());
    }
    let client = &link.server.client;
    let run = retry(link, "read the run's tags", || client.get_run(run_id))
        .await
        .map_err(|e| inactive_run(link, run_id, e))?;
    let Some(on_server) = run.tag(LOGGED_ARTIFACTS_TAG) else {
        return Ok(());
    };
    let on_server = match LoggedArtifacts::parse(Some(on_server)) {
        Ok(list) => list,
        Err(e) => {
            link.report(&format!("on the server, {e}"));
            return Ok(());
        }
    };
    for item in items.iter_mut() {
        let Item::Tag { key, value } = item else {
            continue;
        };
        if key != LOGGED_ARTIFACTS_TAG {
            continue;
        }
        // A value the program set by hand that is no list is sent as it is.
        let Ok(ours) = LoggedArtifacts::parse(Some(value)) else {
            continue;
        };
        let (merged, left_out) = ours.merged_into(&on_server);
        if left_out > 0 {
            link.report(&format!(
                "the tag {LOGGED_ARTIFACTS_TAG} on the server has no room for {left_out} of this \
                 run's tables: the MLflow UI shows them as files"
            ));
        }
        *value = merged.value();
    }
    Ok(())
}
