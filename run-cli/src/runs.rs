//! The runs of a store as the commands see them: finding a run from what the user typed,
//! short ids, parent and child trees, and the status a person should see.

use std::collections::HashMap;

use run_runtime::{RunData, RunEnd, RunMeta, RunSummary, Status, Store, StoreProblem};
use serde::Serialize;

use crate::failure::{Failure, Kind};
use crate::output::Style;

/// The prefix of offline run ids, which users may leave out.
const OFFLINE_PREFIX: &str = "OfflineRun_";
/// The fewest characters of an id after its prefix that a short id keeps.
const SHORT_ID_CHARS: usize = 8;

/// The status shown for a run: the stored one, except that a run which never ended and whose
/// process is gone is told apart from one that is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    /// Started, not ended, and its process runs (or cannot be checked: another host).
    Running,
    /// Never ended, and its process is gone from this host: killed or crashed.
    ProcessGone,
    /// Ended by `complete()`.
    Finished,
    /// Ended by `fail(error)`, an error or a panic.
    Failed,
    /// Ended by `cancel()`.
    Killed,
}

impl State {
    /// From a stored status and the run's description.
    pub fn of(status: Status, meta: &RunMeta) -> State {
        match status {
            Status::Running if meta.process_gone() => State::ProcessGone,
            Status::Running => State::Running,
            Status::Finished => State::Finished,
            Status::Failed => State::Failed,
            Status::Killed => State::Killed,
        }
    }

    /// What a person reads.
    pub fn label(self) -> &'static str {
        match self {
            State::Running => "RUNNING",
            State::ProcessGone => "RUNNING (process gone)",
            State::Finished => "FINISHED",
            State::Failed => "FAILED",
            State::Killed => "KILLED",
        }
    }

    pub fn style(self) -> Style {
        match self {
            State::Running => Style::Cyan,
            State::ProcessGone => Style::Magenta,
            State::Finished => Style::Green,
            State::Failed => Style::Red,
            State::Killed => Style::Yellow,
        }
    }

    /// The CSS class of the report's status badge.
    pub fn css(self) -> &'static str {
        match self {
            State::Running => "running",
            State::ProcessGone => "gone",
            State::Finished => "finished",
            State::Failed => "failed",
            State::Killed => "killed",
        }
    }
}

/// How a run ended, from `status.json` or, when that cache is missing, from the journal.
pub fn end_of(summary: &RunSummary, data: Option<&RunData>) -> Option<RunEnd> {
    summary.end.clone().or_else(|| {
        let data = data?;
        Some(RunEnd {
            status: data.status,
            time: data.end_time?,
            error: data.error.clone(),
        })
    })
}

/// The state of a run from its end (if any) and description.
pub fn state_of(meta: &RunMeta, end: Option<&RunEnd>) -> State {
    State::of(end.map_or(Status::Running, |e| e.status), meta)
}

/// What every command's JSON says about a run.
#[derive(Debug, Serialize)]
pub struct RunJson {
    pub id: String,
    pub name: String,
    pub experiment: String,
    pub parent_id: Option<String>,
    pub status: State,
    /// Milliseconds since the epoch.
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
}

impl RunJson {
    pub fn new(meta: &RunMeta, end: Option<&RunEnd>) -> Self {
        RunJson {
            id: meta.id.clone(),
            name: meta.name.clone(),
            experiment: meta.experiment.clone(),
            parent_id: meta.parent_id.clone(),
            status: state_of(meta, end),
            start_time: meta.start_time,
            end_time: end.map(|e| e.time),
            duration_ms: end.map(|e| e.time.saturating_sub(meta.start_time)),
            error: end.and_then(|e| e.error.clone()),
        }
    }
}

/// How long a run took, or has been running; `-` when it never ended and its process is gone.
pub fn duration_text(meta: &RunMeta, end: Option<&RunEnd>) -> String {
    match (end, state_of(meta, end)) {
        (Some(end), _) => crate::format::duration(end.time.saturating_sub(meta.start_time)),
        (None, State::Running) => {
            crate::format::duration(crate::format::now_ms().saturating_sub(meta.start_time))
        }
        (None, _) => String::from("-"),
    }
}

/// Every run of a store, with the indexes the commands need.
pub struct Catalog {
    runs: Vec<RunSummary>,
    by_id: HashMap<String, usize>,
    children: HashMap<String, Vec<usize>>,
    short: HashMap<String, String>,
    root: std::path::PathBuf,
    /// Files that could not be used, to explain a run that is missing because of one.
    problems: Vec<StoreProblem>,
}

impl Catalog {
    /// Reads the descriptions of all runs of `store` (not their journals).
    pub fn load(store: &Store) -> Result<Catalog, Failure> {
        let listing = store.list()?;
        // One bad file never stops a command: its run is left out, and the user told why.
        for problem in &listing.problems {
            crate::output::warn(&format!("warning: {problem}"));
        }
        let runs = listing.runs;
        let by_id: HashMap<String, usize> = runs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.meta.id.clone(), i))
            .collect();
        let mut children: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in runs.iter().enumerate() {
            if let Some(parent) = r.meta.parent_id.as_ref().filter(|p| by_id.contains_key(*p)) {
                children.entry(parent.clone()).or_default().push(i);
            }
        }
        let mut ids: Vec<&str> = runs.iter().map(|r| r.meta.id.as_str()).collect();
        ids.sort_unstable();
        let short = short_ids(&ids);
        Ok(Catalog {
            runs,
            by_id,
            children,
            short,
            root: store.root().to_path_buf(),
            problems: listing.problems,
        })
    }

    /// The size of run `id`'s journal, in bytes (0 if it has none).
    pub fn journal_len(&self, id: &str) -> u64 {
        Store::new(&self.root).journal_len(id)
    }

    /// All runs, oldest first.
    pub fn all(&self) -> &[RunSummary] {
        &self.runs
    }

    pub fn get(&self, id: &str) -> Option<&RunSummary> {
        self.by_id.get(id).map(|&i| &self.runs[i])
    }

    /// The parent of `id`, if it is in the store.
    pub fn parent(&self, id: &str) -> Option<&RunSummary> {
        self.get(self.get(id)?.meta.parent_id.as_deref()?)
    }

    /// The children of `id`, oldest first.
    pub fn children(&self, id: &str) -> Vec<&RunSummary> {
        self.children
            .get(id)
            .map(|c| c.iter().map(|&i| &self.runs[i]).collect())
            .unwrap_or_default()
    }

    /// `id` and everything below it, parents before their children.
    pub fn subtree(&self, id: &str) -> Vec<&RunSummary> {
        let mut out: Vec<&RunSummary> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut stack: Vec<&RunSummary> = self.get(id).into_iter().collect();
        while let Some(run) = stack.pop() {
            // A hand-edited run.json could make a run its own ancestor: visit each run once.
            if !seen.insert(run.meta.id.as_str()) {
                continue;
            }
            out.push(run);
            let mut kids = self.children(&run.meta.id);
            kids.reverse();
            stack.extend(kids);
        }
        out
    }

    /// The shortest unique form of `id` (at least 8 characters after `OfflineRun_`).
    pub fn short_id<'a>(&'a self, id: &'a str) -> &'a str {
        self.short.get(id).map_or(id, String::as_str)
    }

    /// Finds the run the user means by `arg`: an id, a unique prefix of one (with or without
    /// `OfflineRun_`), or a name only one run has.
    pub fn resolve(&self, arg: &str) -> Result<&RunSummary, Failure> {
        if arg.is_empty() {
            return Err(Failure::usage(
                "an empty run id; give a run id, a prefix of one or a run name (`runctx list` \
                 shows them)",
            ));
        }
        if let Some(run) = self.get(arg) {
            return Ok(run);
        }
        for prefix in [arg.to_owned(), format!("{OFFLINE_PREFIX}{arg}")] {
            let matching: Vec<&RunSummary> = self
                .runs
                .iter()
                .filter(|r| r.meta.id.starts_with(&prefix))
                .collect();
            match matching.as_slice() {
                [one] => return Ok(one),
                [] => {}
                many => return Err(self.ambiguous(arg, "the id prefix", many)),
            }
        }
        let named: Vec<&RunSummary> = self.runs.iter().filter(|r| r.meta.name == arg).collect();
        match named.as_slice() {
            [one] => Ok(one),
            [] => Err(self.damaged(arg).unwrap_or_else(|| self.unknown(arg))),
            many => Err(self.ambiguous(arg, "the name", many)),
        }
    }

    /// Resolves every argument, keeping the order and dropping repeats.
    pub fn resolve_all(&self, args: &[String]) -> Result<Vec<&RunSummary>, Failure> {
        let mut out: Vec<&RunSummary> = Vec::new();
        for arg in args {
            let run = self.resolve(arg)?;
            if !out.iter().any(|r| r.meta.id == run.meta.id) {
                out.push(run);
            }
        }
        Ok(out)
    }

    fn ambiguous(&self, arg: &str, what: &str, many: &[&RunSummary]) -> Failure {
        let ids: Vec<String> = many.iter().map(|r| r.meta.id.clone()).collect();
        let shown: Vec<String> = many.iter().take(5).map(|r| self.describe(r)).collect();
        Failure::new(
            Kind::NotFound,
            format!(
                "{what} {arg:?} matches {} runs: {}{}; give more of the id",
                many.len(),
                shown.join(", "),
                if many.len() > 5 { ", ..." } else { "" }
            ),
        )
        .with_suggestions(ids)
    }

    /// Why the run `arg` names (by id or id prefix) is missing, when a bad file hides it.
    fn damaged(&self, arg: &str) -> Option<Failure> {
        let folder = |p: &StoreProblem| {
            let dir = p.path.parent()?.file_name()?.to_str()?.to_owned();
            Some(dir)
        };
        let problem = self.problems.iter().find(|p| {
            folder(p).is_some_and(|d| {
                d.starts_with(arg) || d.starts_with(&format!("{OFFLINE_PREFIX}{arg}"))
            })
        })?;
        Some(Failure::failed(format!(
            "run {arg:?} cannot be read: {problem}"
        )))
    }

    fn unknown(&self, arg: &str) -> Failure {
        let ids: Vec<String> = self.runs.iter().map(|r| r.meta.id.clone()).collect();
        let mut similar = Vec::new();
        for wanted in [arg.to_owned(), format!("{OFFLINE_PREFIX}{arg}")] {
            // A mistyped short id is close to the start of an id, not to all of it.
            let n = wanted.chars().count();
            let heads: Vec<String> = ids.iter().map(|id| id.chars().take(n).collect()).collect();
            for head in crate::failure::closest(&wanted, &heads) {
                similar.extend(ids.iter().filter(|id| id.starts_with(&head)).cloned());
            }
        }
        let names: Vec<String> = self.runs.iter().map(|r| r.meta.name.clone()).collect();
        for name in crate::failure::closest(arg, &names) {
            similar.extend(
                self.runs
                    .iter()
                    .filter(|r| r.meta.name == name)
                    .map(|r| r.meta.id.clone()),
            );
        }
        let mut seen = std::collections::HashSet::new();
        similar.retain(|id| seen.insert(id.clone()));
        similar.truncate(3);
        let store = self.root.display();
        let message = if self.runs.is_empty() {
            format!(
                "no run {arg:?}: the store {store} has no runs (pass --store DIR or set \
                 RUNCTX_HOME to read another)"
            )
        } else if similar.is_empty() {
            format!("no run {arg:?} in the store {store}; `runctx list` shows the runs")
        } else {
            let shown: Vec<String> = similar
                .iter()
                .filter_map(|id| self.get(id))
                .map(|r| self.describe(r))
                .collect();
            format!(
                "no run {arg:?} in the store {store}; did you mean {}?",
                shown.join(" or ")
            )
        };
        Failure::new(Kind::NotFound, message).with_suggestions(similar)
    }

    /// `OfflineRun_1a2b3c4d (train)`.
    pub fn describe(&self, run: &RunSummary) -> String {
        format!("{} ({})", self.short_id(&run.meta.id), run.meta.name)
    }

    /// Chart legend names for `ids`: the run name, with the short id when names repeat.
    pub fn labels(&self, ids: &[&str]) -> Vec<String> {
        let names: Vec<&str> = ids
            .iter()
            .map(|id| self.get(id).map_or(*id, |r| r.meta.name.as_str()))
            .collect();
        ids.iter()
            .zip(&names)
            .map(|(id, name)| {
                if names.iter().filter(|n| *n == name).count() > 1 {
                    format!("{name} ({})", self.short_id(id))
                } else {
                    (*name).to_owned()
                }
            })
            .collect()
    }
}

/// The shortest prefix of each sorted id that no other id shares, with at least
/// [`SHORT_ID_CHARS`] characters after an `OfflineRun_`-style prefix.
fn short_ids(sorted: &[&str]) -> HashMap<String, String> {
    let common = |a: &str, b: &str| a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    sorted
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let before = i.checked_sub(1).map_or(0, |j| common(sorted[j], id));
            let after = sorted.get(i + 1).map_or(0, |next| common(next, id));
            let base = id.find('_').map_or(0, |p| p + 1) + SHORT_ID_CHARS;
            let keep = base.max(before.max(after) + 1);
            let short: String = id.chars().take(keep).collect();
            (id.to_string(), short)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_are_unique_prefixes() {
        let ids = [
            "OfflineRun_0123456789ab",
            "OfflineRun_0123456799ab",
            "OfflineRun_fedcba987654",
            "abc",
        ];
        let short = short_ids(&ids);
        assert_eq!(short["OfflineRun_0123456789ab"], "OfflineRun_012345678");
        assert_eq!(short["OfflineRun_0123456799ab"], "OfflineRun_012345679");
        assert_eq!(short["OfflineRun_fedcba987654"], "OfflineRun_fedcba98");
        assert_eq!(short["abc"], "abc");
    }
}
