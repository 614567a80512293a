//! The same search on a tracking server: `POST /api/2.0/mlflow/runs/search`, one page per
//! call.

use std::collections::BTreeMap;

use super::{Filter, OrderBy, check_max_results};
use crate::config::TrackingUri;
use crate::error::{Error, Result, Status};
use crate::mlflow::wire::RemoteRun;
use crate::mlflow::{Client, Credentials, block_on, retry_call};
use crate::process::process;
use crate::store::MetricPoint;

/// The runs of a tracking server, for searching.
#[derive(Debug, Clone)]
pub struct ServerRuns {
    client: Client,
}

/// A run as a server's search gives it: its info and each metric's latest point.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerRun {
    /// The server's run id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The id of its experiment.
    pub experiment_id: String,
    /// RUNNING, FINISHED, FAILED or KILLED (SCHEDULED reads as RUNNING).
    pub status: Status,
    /// Milliseconds since the epoch.
    pub start_time: Option<i64>,
    /// When it ended.
    pub end_time: Option<i64>,
    /// Each metric's latest point (the server's clamped infinities read back as infinities).
    pub metrics: BTreeMap<String, MetricPoint>,
    /// Tags, the server's own `mlflow.*` tags included.
    pub tags: BTreeMap<String, String>,
    /// Params, which are runctx's properties.
    pub properties: BTreeMap<String, String>,
}

/// One page of a server's search.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerPage {
    /// The runs, in the server's order.
    pub runs: Vec<ServerRun>,
    /// The token of the next page, when there are more runs.
    pub next_page_token: Option<String>,
}

impl ServerRuns {
    /// The runs of the tracking server at `uri`, with credentials from the environment (as
    /// [`crate::Registry::server`]).
    pub fn new(uri: &str) -> Result<ServerRuns> {
        let uri = TrackingUri::parse("tracking URI", uri)?;
        let settings = process().settings()?;
        let credentials = Credentials::for_server(&uri, |k| std::env::var(k).ok())?;
        let client = Client::new(&uri, credentials, settings.insecure_tls)?;
        Ok(ServerRuns { client })
    }

    /// The server's URL.
    pub fn location(&self) -> &str {
        self.client.base()
    }

    /// The runs of the experiments named `experiments` that match `filter`, ordered by
    /// `order_by`, at most `max_results`, from the page `page_token` names. The filter and
    /// order are checked here first, so a malformed one is the same error, pointing at the same
    /// character, as offline.
    pub fn search<S: AsRef<str>>(
        &self,
        experiments: &[&str],
        filter: &str,
        order_by: &[S],
        max_results: usize,
        page_token: Option<&str>,
    ) -> Result<ServerPage> {
        Filter::parse(filter)?;
        OrderBy::parse_all(order_by)?;
        check_max_results(max_results)?;
        let client = self.client.clone();
        let names: Vec<String> = experiments.iter().map(|e| (*e).to_owned()).collect();
        let filter = filter.to_owned();
        let order: Vec<String> = order_by.iter().map(|o| o.as_ref().to_owned()).collect();
        let token = page_token.map(str::to_owned);
        let ids = block_on(
            self.client.base(),
            "find the experiments to search",
            process().flush_timeout(),
            {
                let client = client.clone();
                let names = names.clone();
                async move {
                    let mut ids = Vec::new();
                    for name in &names {
                        let found = retry_call(|_| client.experiment_by_name(name)).await?;
                        ids.push(found.map(|e| e.experiment_id));
                    }
                    Ok(ids)
                }
            },
        )?;
        let mut experiment_ids = Vec::new();
        for (name, id) in names.iter().zip(ids) {
            experiment_ids.push(id.ok_or_else(|| Error::InvalidArgument {
                what: "experiment",
                value: format!("{name:?}"),
                reason: format!(
                    "the server {} has no experiment of that name",
                    self.location()
                ),
            })?);
        }
        let reply = block_on(
            self.client.base(),
            "search runs",
            process().flush_timeout(),
            async move {
                retry_call(|_| {
                    client.search_runs_page(
                        &experiment_ids,
                        &filter,
                        &order,
                        max_results,
                        token.as_deref(),
                    )
                })
                .await
            },
        )?;
        Ok(ServerPage {
            runs: reply.runs.into_iter().map(server_run).collect(),
            next_page_token: reply.next_page_token.filter(|t| !t.is_empty()),
        })
    }
}

fn server_run(run: RemoteRun) -> ServerRun {
    let status = match run.info.status.as_str() {
        "FINISHED" => Status::Finished,
        "FAILED" => Status::Failed,
        "KILLED" => Status::Killed,
        _ => Status::Running,
    };
    ServerRun {
        id: run.info.run_id,
        name: run.info.run_name,
        experiment_id: run.info.experiment_id,
        status,
        start_time: run.info.start_time,
        end_time: run.info.end_time,
        metrics: run
            .data
            .metrics
            .iter()
            .map(|m| (m.key.clone(), m.point()))
            .collect(),
        tags: run
            .data
            .tags
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect(),
        properties: run
            .data
            .params
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect(),
    }
}
