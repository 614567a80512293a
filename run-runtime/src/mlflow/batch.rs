//! Records as MLflow batches: deduplicated, split within the server's limits, sent several at
//! once, and bisected when the server refuses one so that only the bad records stay behind.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::client::CallError;
use super::error::ShipError;
use super::link::Link;
use super::retry::retry;
use super::wire::{KeyValue, LogBatch, WireMetric};

/// Most params and tags in one batch, and most items (the server's limits).
const MAX_PARAMS: usize = 100;
const MAX_TAGS: usize = 100;
const MAX_ITEMS: usize = 1000;

/// An item of a batch, owned so that batches can be sent from separate tasks.
#[derive(Debug, Clone)]
pub(super) enum Item {
    Metric {
        key: String,
        value: f64,
        timestamp: i64,
        step: i64,
    },
    Param {
        key: String,
        value: String,
    },
    Tag {
        key: String,
        value: String,
    },
}

impl Item {
    fn describe(&self) -> String {
        match self {
            Item::Metric { key, step, .. } => format!("metric {key:?} (step {step})"),
            Item::Param { key, .. } => format!("property {key:?}"),
            Item::Tag { key, .. } => format!("tag {key:?}"),
        }
    }
}

/// Keeps the last value of each tag and the first of each param: within a chunk, batches go
/// out in parallel, so a tag set twice must travel once, and a batch may not hold a param key
/// twice.
fn dedupe(items: Vec<Item>) -> Vec<Item> {
    let mut last_tag: HashMap<String, usize> = HashMap::new();
    let mut seen_param: HashSet<String> = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        if let Item::Tag { key, .. } = item {
            last_tag.insert(key.clone(), i);
        }
    }
    items
        .into_iter()
        .enumerate()
        .filter(|(i, item)| match item {
            Item::Tag { key, .. } => last_tag.get(key) == Some(i),
            Item::Param { key, .. } => seen_param.insert(key.clone()),
            Item::Metric { .. } => true,
        })
        .map(|(_, item)| item)
        .collect()
}

/// Sends `items` to run `run_id` in batches within the server's limits.
pub(super) async fn send_batches(
    link: &Arc<Link>,
    run_id: &str,
    items: Vec<Item>,
) -> Result<(), ShipError> {
    let batches = batches(dedupe(items), link.server.max_batch_metrics);
    send_all(link, run_id, batches).await
}

/// Splits items into batches within the server's limits.
fn batches(items: Vec<Item>, max_metrics: usize) -> Vec<Vec<Item>> {
    let mut out = Vec::new();
    let mut current: Vec<Item> = Vec::new();
    let (mut metrics, mut params, mut tags) = (0, 0, 0);
    for item in items {
        let fits = current.len() < MAX_ITEMS
            && match item {
                Item::Metric { .. } => metrics < max_metrics,
                Item::Param { .. } => params < MAX_PARAMS,
                Item::Tag { .. } => tags < MAX_TAGS,
            };
        if !fits {
            out.push(std::mem::take(&mut current));
            (metrics, params, tags) = (0, 0, 0);
        }
        match item {
            Item::Metric { .. } => metrics += 1,
            Item::Param { .. } => params += 1,
            Item::Tag { .. } => tags += 1,
        }
        current.push(item);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Sends batches, `concurrency` at a time; isolates and reports records the server refuses.
/// After a batch fails for good, no more are sent: the reason (a deleted run, a lost
/// credential) holds for every other batch too.
async fn send_all(
    link: &Arc<Link>,
    run_id: &str,
    batches: Vec<Vec<Item>>,
) -> Result<(), ShipError> {
    let permits = Arc::new(Semaphore::new(link.server.concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    let mut first_error = None;
    for batch in batches {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        while let Some(joined) = tasks.try_join_next() {
            keep_first_error(&mut first_error, joined);
        }
        if first_error.is_some() {
            break;
        }
        let (link, run_id) = (link.clone(), run_id.to_owned());
        tasks.spawn(async move {
            let result = send_batch(&link, &run_id, batch).await;
            drop(permit);
            result
        });
    }
    while let Some(joined) = tasks.join_next().await {
        keep_first_error(&mut first_error, joined);
    }
    first_error.map_or(Ok(()), Err)
}

fn keep_first_error(
    first: &mut Option<ShipError>,
    joined: Result<Result<(), ShipError>, tokio::task::JoinError>,
) {
    if let Err(e) = joined.unwrap_or_else(|e| Err(ShipError::Task(e.to_string()))) {
        first.get_or_insert(e);
    }
}

/// Sends one batch; when the server refuses it as invalid, sends each half apart, down to the
/// single records it refuses, which are reported and skipped.
async fn send_batch(link: &Arc<Link>, run_id: &str, batch: Vec<Item>) -> Result<(), ShipError> {
    let mut stack = vec![batch];
    while let Some(batch) = stack.pop() {
        let body = to_wire(run_id, &batch);
        let client = &link.server.client;
        let result = retry_refusal(link, || client.log_batch(&body)).await;
        let result = result.map_err(|e| inactive_run(link, run_id, e))?;
        let Err(refusal) = result else { continue };
        if is_inactive_run(&refusal) {
            // The whole run is refused: bisecting would send one request per record for nothing.
            return Err(ShipError::RunInactive {
                server: link.base().to_owned(),
                run_id: run_id.to_owned(),
                message: refusal.to_string(),
            });
        }
        if batch.len() == 1 {
            link.refuse(format!(
                "the server refused {}: {refusal}",
                batch[0].describe()
            ));
        } else {
            let mut first = batch;
            let second = first.split_off(first.len() / 2);
            stack.push(second);
            stack.push(first);
        }
    }
    Ok(())
}

/// Like `retry`, but hands back a refusal of the data (400) instead of failing, so the caller
/// can isolate it; authentication and other errors still fail.
async fn retry_refusal<F, Fut>(link: &Link, call: F) -> Result<Result<(), CallError>, ShipError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), CallError>>,
{
    let mut call = call;
    let outcome = retry(link, "send a batch", || {
        let fut = call();
        async move {
            match fut.await {
                Err(e @ CallError::Status { status: 400, .. }) => Ok(Err(e)),
                other => other.map(Ok),
            }
        }
    })
    .await?;
    Ok(outcome)
}

/// MLflow refuses every record of a deleted run, or of one that is not active, with 400 and this
/// message (`check_run_is_active`), and a run removed for good with 404.
fn is_inactive_run(error: &CallError) -> bool {
    match error {
        CallError::Status {
            status: 400,
            message,
            ..
        } => message.contains("must be in the 'active' state"),
        CallError::Status {
            status: 404, code, ..
        } => code.as_deref() == Some("RESOURCE_DOES_NOT_EXIST"),
        _ => false,
    }
}

/// `error`, or the inactive-run error when the server said the run is gone.
pub(super) fn inactive_run(link: &Link, run_id: &str, error: ShipError) -> ShipError {
    match error {
        ShipError::Call { error: e, .. } if is_inactive_run(&e) => ShipError::RunInactive {
            server: link.base().to_owned(),
            run_id: run_id.to_owned(),
            message: e.to_string(),
        },
        other => other,
    }
}

fn to_wire<'a>(run_id: &'a str, batch: &'a [Item]) -> LogBatch<'a> {
    let mut body = LogBatch {
        run_id,
        ..LogBatch::default()
    };
    for item in batch {
        match item {
            Item::Metric {
                key,
                value,
                timestamp,
                step,
            } => {
                body.metrics.push(WireMetric {
                    key,
                    value: *value,
                    timestamp: *timestamp,
                    step: *step,
                });
            }
            Item::Param { key, value } => body.params.push(KeyValue { key, value }),
            Item::Tag { key, value } => body.tags.push(KeyValue { key, value }),
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(i: i64) -> Item {
        Item::Metric {
            key: "m".into(),
            value: i as f64,
            timestamp: 0,
            step: i,
        }
    }

    #[test]
    fn batches_respect_every_limit() {
        let mut items: Vec<Item> = (0..2500).map(metric).collect();
        items.extend((0..150).map(|i| Item::Param {
            key: format!("p{i}"),
            value: "v".into(),
        }));
        items.extend((0..250).map(|i| Item::Tag {
            key: format!("t{i}"),
            value: "v".into(),
        }));
        let out = batches(items, 1000);
        assert_eq!(out.iter().map(Vec::len).sum::<usize>(), 2900);
        for b in &out {
            let count = |f: fn(&Item) -> bool| b.iter().filter(|i| f(i)).count();
            assert!(b.len() <= MAX_ITEMS);
            assert!(count(|i| matches!(i, Item::Metric { .. })) <= 1000);
            assert!(count(|i| matches!(i, Item::Param { .. })) <= MAX_PARAMS);
            assert!(count(|i| matches!(i, Item::Tag { .. })) <= MAX_TAGS);
        }
        let azure = batches((0..1000).map(metric).collect(), 250);
        assert_eq!(azure.len(), 4);
    }

    #[test]
    fn dedupe_keeps_the_last_tag_and_the_first_param() {
        let items = vec![
            Item::Tag {
                key: "t".into(),
                value: "1".into(),
            },
            Item::Param {
                key: "p".into(),
                value: "a".into(),
            },
            metric(0),
            Item::Tag {
                key: "t".into(),
                value: "2".into(),
            },
            Item::Param {
                key: "p".into(),
                value: "a".into(),
            },
        ];
        let kept = dedupe(items);
        assert_eq!(kept.len(), 3);
        assert!(matches!(&kept[2], Item::Tag { value, .. } if value == "2"));
        assert!(matches!(&kept[0], Item::Param { .. }));
    }
}
