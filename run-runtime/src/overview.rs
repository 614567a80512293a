//! The per-run summary that listing and searching read instead of replaying journals: each
//! metric's latest value, minimum, maximum and count, the tags, properties and status, cached
//! in the run's `overview.json`.
//!
//! The cache is checked against the journal it was built from (its length: the journal is
//! append-only, so a longer one has records the overview lacks). An overview that is missing,
//! unreadable, of another format or built from a shorter journal is rebuilt from the journal
//! and written again: the journal is the record, the overview never outranks it.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::durable;
use crate::error::{Result, Status};
use crate::journal::Damage;
use crate::store::{JOURNAL_FILE, MetricPoint, RunData, RunEnd, RunMeta, Store};

/// The file holding a run's overview.
pub(crate) const OVERVIEW_FILE: &str = "overview.json";

/// Version of `overview.json` written by this build; another is rebuilt.
const OVERVIEW_FORMAT: u32 = 1;

/// What listing and searching need to know about a run, without its metric series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOverview {
    /// Version of this layout.
    pub format: u32,
    /// Its description.
    pub meta: RunMeta,
    /// RUNNING until it has ended.
    pub status: Status,
    /// When it ended.
    pub end_time: Option<i64>,
    /// The error of a failed run.
    pub error: Option<String>,
    /// Each metric's summary, by key.
    pub metrics: BTreeMap<String, MetricOverview>,
    /// Tags, the last value of each.
    pub tags: BTreeMap<String, String>,
    /// Properties (MLflow's params).
    pub properties: BTreeMap<String, String>,
    /// Damage found in the journal when the overview was built.
    pub damage: Vec<Damage>,
    /// The length of the journal it was built from, in bytes.
    pub journal_len: u64,
}

/// The summary of one metric series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricOverview {
    /// MLflow's latest point: the one with the highest step, then the latest timestamp, then
    /// the highest value (what MLflow's `latest_metrics` keeps and its searches compare).
    pub latest: MetricPoint,
    /// The least value, NaN left out (NaN when every value is NaN).
    #[serde(with = "crate::store::float")]
    pub min: f64,
    /// The greatest value, NaN left out (NaN when every value is NaN).
    #[serde(with = "crate::store::float")]
    pub max: f64,
    /// How many points were logged.
    pub count: u64,
}

impl MetricOverview {
    fn of(series: &[MetricPoint]) -> Option<MetricOverview> {
        let first = *series.first()?;
        let mut overview = MetricOverview {
            latest: first,
            min: first.value,
            max: first.value,
            count: 0,
        };
        for point in series {
            overview.add(*point);
        }
        Some(overview)
    }

    fn add(&mut self, point: MetricPoint) {
        self.count += 1;
        // f64::min and max return the other operand for NaN: NaN only stays while all are.
        self.min = self.min.min(point.value);
        self.max = self.max.max(point.value);
        if newer(&point, &self.latest) {
            self.latest = point;
        }
    }
}

/// MLflow's order of points (`_update_latest_metrics_if_necessary`): step, then timestamp,
/// then value, where a NaN is stored as 0.
fn newer(a: &MetricPoint, b: &MetricPoint) -> bool {
    let stored = |v: f64| if v.is_nan() { 0.0 } else { v };
    (a.step, a.timestamp) > (b.step, b.timestamp)
        || ((a.step, a.timestamp) == (b.step, b.timestamp) && stored(a.value) > stored(b.value))
}

impl RunOverview {
    /// The overview of a run read back from `journal_len` bytes of its journal.
    pub(crate) fn of(data: RunData, journal_len: u64) -> RunOverview {
        let metrics = data
            .metrics
            .iter()
            .filter_map(|(k, s)| Some((k.clone(), MetricOverview::of(s)?)))
            .collect();
        RunOverview {
            format: OVERVIEW_FORMAT,
            meta: data.meta,
            status: data.status,
            end_time: data.end_time,
            error: data.error,
            metrics,
            tags: data.tags,
            properties: data.properties,
            damage: data.damage,
            journal_len,
        }
    }

    /// How the run ended, if it has.
    pub fn end(&self) -> Option<RunEnd> {
        Some(RunEnd {
            status: self.status,
            time: self.end_time?,
            error: self.error.clone(),
        })
    }

    /// The latest value of each metric.
    pub fn latest_values(&self) -> BTreeMap<&str, f64> {
        self.metrics
            .iter()
            .map(|(k, m)| (k.as_str(), m.latest.value))
            .collect()
    }
}

impl Store {
    /// The overview of run `id`: from its `overview.json` when that matches the journal, else
    /// rebuilt from the journal (and the cache written again when the store can be written).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let store = run_runtime::Store::new(dir.path());
    /// let run = store.start_run("Default", "overview")?;
    /// run.log_list("loss", [0.5, 0.25, 0.375])?;
    /// run.complete()?;
    /// let loss = store.overview(run.id())?.metrics["loss"];
    /// assert_eq!((loss.latest.value, loss.min, loss.max, loss.count), (0.375, 0.25, 0.5, 3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn overview(&self, id: &str) -> Result<RunOverview> {
        let dir = self.run_dir(id)?;
        let journal_len = fs::metadata(dir.join(JOURNAL_FILE)).map_or(0, |m| m.len());
        if let Some(cached) = cached(&dir, id, journal_len) {
            return Ok(cached);
        }
        let overview = RunOverview::of(self.read(id)?, journal_len);
        // A cache that cannot be written (a read-only store) only costs the next reader a
        // replay.
        let _ = write_cache(&dir, &overview);
        Ok(overview)
    }
}

/// The cached overview, if it was built from this journal length by this format for this run.
fn cached(dir: &Path, id: &str, journal_len: u64) -> Option<RunOverview> {
    let bytes = fs::read(dir.join(OVERVIEW_FILE)).ok()?;
    let overview: RunOverview = serde_json::from_slice(&bytes).ok()?;
    (overview.format == OVERVIEW_FORMAT
        && overview.journal_len == journal_len
        && overview.meta.id == id)
        .then_some(overview)
}

/// Replaces the cache by rename, without syncing: an overview lost in a crash is rebuilt.
fn write_cache(dir: &Path, overview: &RunOverview) -> std::io::Result<()> {
    let path = dir.join(OVERVIEW_FILE);
    let tmp = durable::temporary(&path, "tmp");
    let bytes = serde_json::to_vec(overview).map_err(std::io::Error::other)?;
    let written = fs::File::create(&tmp).and_then(|mut f| f.write_all(&bytes));
    match written.and_then(|()| fs::rename(&tmp, &path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(value: f64, timestamp: i64, step: i64) -> MetricPoint {
        MetricPoint {
            value,
            timestamp,
            step,
        }
    }

    #[test]
    fn latest_is_mlflows_highest_step_then_time_then_value() {
        let series = [point(1.0, 5, 2), point(2.0, 9, 1), point(3.0, 4, 2)];
        let d = MetricOverview::of(&series).unwrap();
        assert_eq!(d.latest, point(1.0, 5, 2), "step 2, later timestamp wins");
        let tie = [point(0.5, 1, 0), point(0.25, 1, 0)];
        assert_eq!(MetricOverview::of(&tie).unwrap().latest.value, 0.5);
        let nan = [point(f64::NAN, 1, 0), point(-1.0, 1, 0)];
        assert!(
            MetricOverview::of(&nan).unwrap().latest.value.is_nan(),
            "NaN counts as 0"
        );
    }

    #[test]
    fn min_and_max_leave_nan_out() {
        let series = [point(f64::NAN, 1, 0), point(2.0, 2, 1), point(-1.0, 3, 2)];
        let d = MetricOverview::of(&series).unwrap();
        assert_eq!((d.min, d.max, d.count), (-1.0, 2.0, 3));
        let all_nan = MetricOverview::of(&[point(f64::NAN, 1, 0)]).unwrap();
        assert!(all_nan.min.is_nan() && all_nan.max.is_nan());
    }

    #[test]
    fn a_stale_or_broken_overview_is_rebuilt_from_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let run = store.start_run("Default", "stale").unwrap();
        run.log("acc", 0.5).unwrap();
        run.flush().unwrap();
        assert_eq!(store.overview(run.id()).unwrap().metrics["acc"].count, 1);
        run.log("acc", 0.75).unwrap();
        run.complete().unwrap();
        let fresh = store.overview(run.id()).unwrap();
        assert_eq!(fresh.metrics["acc"].latest.value, 0.75, "the journal grew");
        assert_eq!(fresh.status, Status::Finished);

        let file = dir.path().join(run.id()).join(OVERVIEW_FILE);
        // An overview edited to claim another value, with the journal's length, is trusted only
        // as far as the length check goes; one that no longer parses is rebuilt.
        fs::write(&file, b"{not json").unwrap();
        assert_eq!(store.overview(run.id()).unwrap(), fresh);
        fs::remove_file(&file).unwrap();
        assert_eq!(store.overview(run.id()).unwrap(), fresh);
        assert!(file.is_file(), "the cache is written again");
    }
}
