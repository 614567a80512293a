//! `runctx list`: experiments and their runs as trees, with status, start, duration and key
//! metrics.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use run_runtime::search::MAX_RESULTS_LIMIT;
use run_runtime::{RunEnd, RunOverview, RunSummary, Store};
use serde::Serialize;

use crate::failure::Failure;
use crate::format::{self, Num};
use crate::output::{self, Align, Cell, Output, Style, Table};
use crate::runs::{self, Catalog, RunJson, State};

/// How many metric columns a listing shows when `--metric` does not choose them.
const DEFAULT_METRIC_COLUMNS: usize = 3;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only runs of this experiment (repeat for several)
    #[arg(long, short, value_name = "NAME")]
    experiment: Vec<String>,

    /// Only runs with this status (repeat for several)
    #[arg(long, short, value_enum, value_name = "STATUS")]
    status: Vec<State>,

    /// Only runs with this tag: KEY, or KEY=VALUE for that value (repeat: all must match)
    #[arg(long, short, value_name = "KEY[=VALUE]")]
    tag: Vec<String>,

    /// Show the last value of this metric as a column (repeat for several) [default: the 3
    /// metrics most runs of each experiment have]
    #[arg(long = "metric", short, value_name = "KEY")]
    metrics: Vec<String>,

    /// Only runs matching this MLflow search filter, such as "metrics.accuracy > 0.9 and
    /// params.model = 'knn'" (docs/search.md)
    #[arg(long, short = 'f', value_name = "FILTER")]
    filter: Option<String>,

    /// Order runs by this key, such as "metrics.accuracy DESC" (repeat for ties) [default:
    /// start time]
    #[arg(long = "order-by", short = 'o', value_name = "KEY [ASC|DESC]")]
    order_by: Vec<String>,

    /// Show at most this many runs (1 to 50000), the first in the order
    #[arg(long, short = 'n', value_name = "N")]
    max_results: Option<usize>,
}

impl Args {
    /// `true` when the runs come from a search rather than the catalog's order.
    fn searches(&self) -> bool {
        self.filter.is_some() || !self.order_by.is_empty() || self.max_results.is_some()
    }
}

/// A run as listed.
struct Listed<'a> {
    summary: &'a RunSummary,
    end: Option<RunEnd>,
    data: Option<RunOverview>,
}

impl Listed<'_> {
    fn state(&self) -> State {
        runs::state_of(&self.summary.meta, self.end.as_ref())
    }
}

#[derive(Serialize)]
struct ListJson {
    store: String,
    runs: Vec<RunRow>,
}

#[derive(Serialize)]
struct RunRow {
    #[serde(flatten)]
    run: RunJson,
    short_id: String,
    /// Depth in the listed tree: 0 for a top-level run.
    depth: usize,
    tags: BTreeMap<String, String>,
    /// The latest value of every metric (MLflow's: highest step, then latest time).
    metrics: BTreeMap<String, Num>,
    /// Stretches of its journal a reader found damaged (`runctx show` lists them).
    damaged_bytes: u64,
}

pub fn run(store: &Store, out: &Output, args: Args) -> Result<(), Failure> {
    let catalog = Catalog::load(store)?;
    check_experiments(&catalog, &args.experiment)?;
    let listed = select(store, &catalog, &args)?;
    let groups = group_trees(&listed);
    if out.json {
        return out.print_json(&to_json(store, &catalog, &listed, &groups));
    }
    if listed.is_empty() {
        let root = store.root().display();
        let what = match catalog.all().len() {
            0 => format!("No runs in {root}."),
            n => format!("No runs of {root} match the filters ({n} runs in all)."),
        };
        return out.print(&format!("{what}\n"));
    }
    let mut text = String::new();
    for (experiment, rows) in &groups {
        let count = rows.len();
        let noun = if count == 1 { "run" } else { "runs" };
        text.push_str(&format!(
            "{} {}\n",
            out.paint(&format!("Experiment {experiment}"), Style::Bold),
            out.paint(&format!("({count} {noun})"), Style::Dim)
        ));
        let keys = if args.metrics.is_empty() {
            common_metrics(rows.iter().map(|(i, _)| &listed[*i]))
        } else {
            args.metrics.clone()
        };
        text.push_str(&table(&catalog, &listed, rows, &keys).render(out));
        text.push('\n');
    }
    text.pop();
    out.print(&text)
}

/// The runs that pass the filters, with their overviews read (a run whose overview cannot be
/// read is reported, and listed without metrics or tags), in start order or the search's.
fn select<'a>(
    store: &Store,
    catalog: &'a Catalog,
    args: &Args,
) -> Result<Vec<Listed<'a>>, Failure> {
    let tag_filters = args
        .tag
        .iter()
        .map(|t| parse_tag_filter(t))
        .collect::<Result<Vec<_>, _>>()?;
    let candidates: Vec<(&RunSummary, Option<RunOverview>)> = if args.searches() {
        searched(store, args)?
            .into_iter()
            .filter_map(|d| Some((catalog.get(&d.meta.id)?, Some(d))))
            .collect()
    } else {
        catalog
            .all()
            .iter()
            .map(|summary| {
                let data = store
                    .overview(&summary.meta.id)
                    .inspect_err(|e| output::warn(&format!("run {}: {e}", summary.meta.id)))
                    .ok();
                (summary, data)
            })
            .collect()
    };
    let mut listed = Vec::new();
    for (summary, data) in candidates {
        let meta = &summary.meta;
        if !args.experiment.is_empty() && !args.experiment.contains(&meta.experiment) {
            continue;
        }
        let end = summary
            .end
            .clone()
            .or_else(|| data.as_ref().and_then(RunOverview::end));
        let run = Listed { summary, end, data };
        let tags_match = tag_filters.iter().all(|(k, v)| {
            let tag = run.data.as_ref().and_then(|d| d.tags.get(*k));
            tag.is_some_and(|t| v.is_none_or(|v| t == v))
        });
        if tags_match && (args.status.is_empty() || args.status.contains(&run.state())) {
            listed.push(run);
        }
    }
    Ok(listed)
}

/// The runs `--filter`, `--order-by` and `--max-results` choose, in order: every page up to
/// `--max-results` (all matching runs without it).
fn searched(store: &Store, args: &Args) -> Result<Vec<RunOverview>, Failure> {
    let filter = args.filter.as_deref().unwrap_or_default();
    let wanted = args.max_results.unwrap_or(usize::MAX);
    let mut runs = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page_size = (wanted - runs.len()).min(MAX_RESULTS_LIMIT);
        let page = store
            .search(filter, &args.order_by, page_size, token.as_deref())
            .map_err(search_failure)?;
        for problem in &page.problems {
            output::warn(&format!("warning: {problem}"));
        }
        runs.extend(page.runs);
        token = page.next_page_token;
        if token.is_none() || runs.len() >= wanted {
            return Ok(runs);
        }
    }
}

/// A bad filter, order or count is the user's to fix: a usage error.
fn search_failure(e: run_runtime::Error) -> Failure {
    match e {
        run_runtime::Error::InvalidSearch { .. } | run_runtime::Error::InvalidArgument { .. } => {
            Failure::usage(e.to_string())
        }
        other => other.into(),
    }
}

/// A row of a group: the index in `listed` and the tree prefix drawn before its id.
type Row = (usize, String);

/// The listed runs by experiment, each as trees of parents and children in start order.
fn group_trees(listed: &[Listed]) -> BTreeMap<String, Vec<Row>> {
    let index: HashMap<&str, usize> = listed
        .iter()
        .enumerate()
        .map(|(i, r)| (r.summary.meta.id.as_str(), i))
        .collect();
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut roots: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, run) in listed.iter().enumerate() {
        let meta = &run.summary.meta;
        let parent = meta
            .parent_id
            .as_deref()
            .and_then(|p| index.get(p))
            .filter(|&&p| listed[p].summary.meta.experiment == meta.experiment);
        match parent {
            Some(&p) => children.entry(p).or_default().push(i),
            None => roots.entry(meta.experiment.clone()).or_default().push(i),
        }
    }
    let mut seen = HashSet::new();
    let mut groups: BTreeMap<String, Vec<Row>> = roots
        .into_iter()
        .map(|(experiment, tops)| {
            let mut rows = Vec::new();
            for top in tops {
                walk(top, "", None, &children, &mut seen, &mut rows);
            }
            (experiment, rows)
        })
        .collect();
    // Runs that no top-level run leads to: a parent cycle in hand-edited run.json files.
    for (i, run) in listed.iter().enumerate() {
        if !seen.contains(&i) {
            let experiment = run.summary.meta.experiment.clone();
            let rows = groups.entry(experiment).or_default();
            walk(i, "", None, &children, &mut seen, rows);
        }
    }
    groups
}

/// Adds `i` and its descendants to `rows`, with box-drawing prefixes (`last` is `None` for a
/// top-level run).
fn walk(
    i: usize,
    indent: &str,
    last: Option<bool>,
    children: &HashMap<usize, Vec<usize>>,
    seen: &mut HashSet<usize>,
    rows: &mut Vec<Row>,
) {
    if !seen.insert(i) {
        return;
    }
    let (prefix, child_indent) = match last {
        None => (String::new(), String::new()),
        Some(true) => (format!("{indent}└─ "), format!("{indent}   ")),
        Some(false) => (format!("{indent}├─ "), format!("{indent}│  ")),
    };
    rows.push((i, prefix));
    let kids = children.get(&i).map(Vec::as_slice).unwrap_or_default();
    for (n, &kid) in kids.iter().enumerate() {
        walk(
            kid,
            &child_indent,
            Some(n + 1 == kids.len()),
            children,
            seen,
            rows,
        );
    }
}

/// The metrics most runs have, most common first, then by name.
fn common_metrics<'a>(runs: impl Iterator<Item = &'a Listed<'a>>) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for run in runs {
        for key in run.data.iter().flat_map(|d| d.metrics.keys()) {
            *counts.entry(key).or_default() += 1;
        }
    }
    let mut keys: Vec<(&str, usize)> = counts.into_iter().collect();
    keys.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    keys.into_iter()
        .take(DEFAULT_METRIC_COLUMNS)
        .map(|(k, _)| k.to_owned())
        .collect()
}

fn table(catalog: &Catalog, listed: &[Listed], rows: &[Row], keys: &[String]) -> Table {
    let headers = ["RUN", "NAME", "STATUS", "STARTED", "DURATION"]
        .into_iter()
        .map(String::from)
        .chain(keys.iter().cloned());
    let mut table = Table::new(headers)
        .align(4, Align::Right)
        .align_from(5, Align::Right)
        .indent(2);
    for (i, prefix) in rows {
        let run = &listed[*i];
        let meta = &run.summary.meta;
        let state = run.state();
        let last = run
            .data
            .as_ref()
            .map(RunOverview::latest_values)
            .unwrap_or_default();
        let mut row: Vec<Cell> = vec![
            format!("{prefix}{}", catalog.short_id(&meta.id)).into(),
            meta.name.clone().into(),
            status_cell(state, &run.summary.damage),
            format::time_short(meta.start_time).into(),
            runs::duration_text(meta, run.end.as_ref()).into(),
        ];
        row.extend(keys.iter().map(|k| {
            last.get(k.as_str()).map_or_else(
                || Cell::styled("-", Style::Dim),
                |v| format::value(*v).into(),
            )
        }));
        table.push(row);
    }
    table
}

/// The status, marked when a reader found damage in the run's journal: what was lost there is
/// not in any figure shown.
fn status_cell(state: State, damage: &[run_runtime::Damage]) -> Cell {
    if damage.is_empty() {
        Cell::styled(state.label(), state.style())
    } else {
        Cell::styled(format!("{} (damaged)", state.label()), Style::Red)
    }
}

fn to_json(
    store: &Store,
    catalog: &Catalog,
    listed: &[Listed],
    groups: &BTreeMap<String, Vec<Row>>,
) -> ListJson {
    let runs = groups
        .values()
        .flatten()
        .map(|(i, prefix)| {
            let run = &listed[*i];
            let meta = &run.summary.meta;
            let data = run.data.as_ref();
            RunRow {
                run: RunJson::new(meta, run.end.as_ref()),
                short_id: catalog.short_id(&meta.id).to_owned(),
                depth: prefix.chars().count() / 3,
                damaged_bytes: run.summary.damage.iter().map(|d| d.len).sum(),
                tags: data.map(|d| d.tags.clone()).unwrap_or_default(),
                metrics: data
                    .map(|d| {
                        d.latest_values()
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), Num(v)))
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect();
    ListJson {
        store: store.root().display().to_string(),
        runs,
    }
}

/// `KEY` or `KEY=VALUE`.
fn parse_tag_filter(text: &str) -> Result<(&str, Option<&str>), Failure> {
    let (key, value) = match text.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (text, None),
    };
    if key.is_empty() {
        return Err(Failure::usage(format!(
            "--tag {text:?} has no key; use --tag KEY or --tag KEY=VALUE"
        )));
    }
    Ok((key, value))
}

/// An experiment filter that names no experiment is a typo more often than not.
fn check_experiments(catalog: &Catalog, wanted: &[String]) -> Result<(), Failure> {
    let known: BTreeSet<&str> = catalog
        .all()
        .iter()
        .map(|r| r.meta.experiment.as_str())
        .collect();
    let known: Vec<String> = known.into_iter().map(String::from).collect();
    match wanted.iter().find(|w| !known.contains(w)) {
        Some(w) if !known.is_empty() => {
            Err(Failure::not_found("experiment", w, "the store", &known))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_filters() {
        assert_eq!(parse_tag_filter("model").unwrap(), ("model", None));
        assert_eq!(
            parse_tag_filter("model=knn").unwrap(),
            ("model", Some("knn"))
        );
        assert_eq!(parse_tag_filter("a=b=c").unwrap(), ("a", Some("b=c")));
        assert!(parse_tag_filter("=x").is_err());
    }
}
