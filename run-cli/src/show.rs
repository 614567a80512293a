//! `runctx show RUN`: everything about a run.

use std::collections::BTreeMap;

use run_runtime::{
    ArtifactKind, Damage, DataInput, MetricPoint, RemoteCopy, RunData, RunEnd, Source, Store,
};
use serde::Serialize;

use crate::failure::Failure;
use crate::format::{self, Num};
use crate::output::{self, Align, Cell, Output, Style, Table};
use crate::runs::{self, Catalog, RunJson, State};

/// The longest tag or property value a table shows on one line; `--json` has them whole.
const SHOWN_VALUE_CHARS: usize = 100;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run: an id, a unique prefix of one, or a run name
    run: String,
}

/// What a series amounts to.
#[derive(Debug, Serialize, PartialEq)]
pub struct Summary {
    /// The value logged last.
    pub last: Num,
    /// The smallest and largest values, NaN left out (`null` when all are NaN).
    pub min: Option<Num>,
    pub max: Option<Num>,
    /// Points in all, NaN included.
    pub count: usize,
    pub nan_count: usize,
    pub first_step: i64,
    pub last_step: i64,
}

impl Summary {
    pub fn of(series: &[MetricPoint]) -> Option<Summary> {
        let last = series.last()?;
        let numbers = series.iter().map(|p| p.value).filter(|v| !v.is_nan());
        let min = numbers.clone().reduce(f64::min).map(Num);
        let max = numbers.reduce(f64::max).map(Num);
        Some(Summary {
            last: Num(last.value),
            min,
            max,
            count: series.len(),
            nan_count: series.iter().filter(|p| p.value.is_nan()).count(),
            first_step: series.iter().map(|p| p.step).min()?,
            last_step: series.iter().map(|p| p.step).max()?,
        })
    }
}

#[derive(Serialize)]
struct ShowJson<'a> {
    #[serde(flatten)]
    run: RunJson,
    source: &'a Source,
    metrics: BTreeMap<&'a str, Summary>,
    tags: &'a BTreeMap<String, String>,
    properties: &'a BTreeMap<String, String>,
    artifacts: Vec<ArtifactJson<'a>>,
    /// The data a step read, by input name: path, size and content digest (lineage).
    inputs: &'a BTreeMap<String, DataInput>,
    children: Vec<RunJson>,
    damage: &'a [Damage],
    /// Its copies on tracking servers, by server: server run id and shipped journal position.
    servers: BTreeMap<String, RemoteCopy>,
}

#[derive(Serialize)]
struct ArtifactJson<'a> {
    path: &'a str,
    kind: ArtifactKind,
    size: u64,
}

pub fn run(store: &Store, out: &Output, args: Args) -> Result<(), Failure> {
    let catalog = Catalog::load(store)?;
    let summary = catalog.resolve(&args.run)?;
    let data = store.read(&summary.meta.id)?.without_mlflow_table_copies();
    let end = runs::end_of(summary, Some(&data));
    let children: Vec<RunJson> = catalog
        .children(&summary.meta.id)
        .into_iter()
        .map(|c| RunJson::new(&c.meta, c.end.as_ref()))
        .collect();
    let json = ShowJson {
        run: RunJson::new(&data.meta, end.as_ref()),
        source: &data.meta.source,
        metrics: data
            .metrics
            .iter()
            .filter_map(|(k, s)| Some((k.as_str(), Summary::of(s)?)))
            .collect(),
        tags: &data.tags,
        properties: &data.properties,
        artifacts: data
            .artifacts
            .iter()
            .map(|(path, a)| ArtifactJson {
                path,
                kind: a.kind,
                size: a.size,
            })
            .collect(),
        inputs: &data.inputs,
        children,
        damage: &data.damage,
        // A bad remote.json hides only the copies on servers, not the run.
        servers: store.remote_copies(&summary.meta.id).unwrap_or_else(|e| {
            crate::output::warn(&format!("warning: {e}"));
            BTreeMap::new()
        }),
    };
    if out.json {
        return out.print_json(&json);
    }
    out.print(&human(out, &catalog, &data, end.as_ref(), &json))
}

fn human(
    out: &Output,
    catalog: &Catalog,
    data: &RunData,
    end: Option<&RunEnd>,
    json: &ShowJson,
) -> String {
    let mut fields = header_fields(out, catalog, data, end, &json.run);
    let journal = catalog.journal_len(&data.meta.id);
    for (server, state) in &json.servers {
        let id = state.run_id.as_deref().unwrap_or("not created yet");
        let shipped = state.cursor.offset.min(journal);
        fields.push((
            "Server",
            format!("{server}: run {id}, {shipped} of {journal} journal bytes shipped"),
        ));
    }
    let mut text = output::fields(out, &fields);
    let sections = [
        ("Metrics", metrics_table(json)),
        ("Tags", pairs_table(json.tags)),
        ("Properties", pairs_table(json.properties)),
        ("Artifacts", artifacts_table(json)),
        ("Inputs", inputs_table(json)),
        ("Children", children_table(catalog, &data.meta.id)),
    ];
    for (title, table) in sections {
        text.push_str(&output::heading(out, title));
        if table.is_empty() {
            text.push_str(&format!("  {}\n", out.paint("none", Style::Dim)));
        } else {
            text.push_str(&table.render(out));
        }
    }
    if !data.damage.is_empty() {
        text.push_str(&output::heading(
            out,
            "Journal damage (skipped when reading)",
        ));
        for d in &data.damage {
            text.push_str(&format!("  {}\n", out.paint(&d.to_string(), Style::Yellow)));
        }
    }
    text
}

fn metrics_table(json: &ShowJson) -> Table {
    let mut table = Table::new(["KEY", "LAST", "MIN", "MAX", "COUNT", "STEPS"])
        .align_from(1, Align::Right)
        .indent(2);
    let opt = |v: Option<Num>| v.map_or_else(|| String::from("-"), |n| format::value(n.0));
    for (key, s) in &json.metrics {
        let count = match s.nan_count {
            0 => s.count.to_string(),
            n => format!("{} ({n} NaN)", s.count),
        };
        table.push(vec![
            (*key).into(),
            format::value(s.last.0).into(),
            opt(s.min).into(),
            opt(s.max).into(),
            count.into(),
            format!("{}..{}", s.first_step, s.last_step).into(),
        ]);
    }
    table
}

fn pairs_table(pairs: &BTreeMap<String, String>) -> Table {
    let mut table = Table::new(["KEY", "VALUE"]).indent(2);
    for (k, v) in pairs {
        table.push(vec![k.as_str().into(), one_line(v).into()]);
    }
    table
}

fn artifacts_table(json: &ShowJson) -> Table {
    let mut table = Table::new(["PATH", "KIND", "SIZE"])
        .align(2, Align::Right)
        .indent(2);
    for a in &json.artifacts {
        table.push(vec![
            a.path.into(),
            kind_name(a.kind).into(),
            format::size(a.size).into(),
        ]);
    }
    table
}

/// Each input with the first 12 hex digits of its digest, as git shortens a hash; `--json`
/// has the whole digest.
fn inputs_table(json: &ShowJson) -> Table {
    let mut table = Table::new(["INPUT", "PATH", "SIZE", "DIGEST"])
        .align(2, Align::Right)
        .indent(2);
    for (name, input) in json.inputs {
        let short: String = input.digest.chars().take(12).collect();
        table.push(vec![
            name.as_str().into(),
            one_line(&input.path).into(),
            format::size(input.size).into(),
            short.into(),
        ]);
    }
    table
}

fn children_table(catalog: &Catalog, id: &str) -> Table {
    let mut table = Table::new(["RUN", "NAME", "STATUS", "DURATION"])
        .align(3, Align::Right)
        .indent(2);
    for child in catalog.children(id) {
        let state = runs::state_of(&child.meta, child.end.as_ref());
        table.push(vec![
            catalog.short_id(&child.meta.id).into(),
            child.meta.name.clone().into(),
            Cell::styled(state.label(), state.style()),
            runs::duration_text(&child.meta, child.end.as_ref()).into(),
        ]);
    }
    table
}

fn header_fields<'a>(
    out: &Output,
    catalog: &Catalog,
    data: &RunData,
    end: Option<&RunEnd>,
    run: &RunJson,
) -> Vec<(&'a str, String)> {
    let meta = &data.meta;
    let src = &meta.source;
    let mut rows = vec![
        ("Run", meta.id.clone()),
        ("Name", meta.name.clone()),
        ("Experiment", meta.experiment.clone()),
        ("Status", out.paint(run.status.label(), run.status.style())),
        ("Started", format::time(meta.start_time)),
    ];
    if let Some(end) = run.end_time {
        rows.push(("Ended", format::time(end)));
    }
    rows.push(("Duration", runs::duration_text(meta, end)));
    if let Some(parent) = &meta.parent_id {
        let shown = catalog.get(parent).map_or_else(
            || format!("{parent} (not in the store)"),
            |p| catalog.describe(p),
        );
        rows.push(("Parent", shown));
    }
    let mut program = src.program.clone();
    for arg in &src.args {
        program.push(' ');
        program.push_str(arg);
    }
    rows.push(("Program", program));
    let host = match (&src.user, &src.host) {
        (Some(u), Some(h)) => format!("{u}@{h}"),
        (None, Some(h)) => h.clone(),
        (Some(u), None) => u.clone(),
        (None, None) => String::from("unknown host"),
    };
    let process = if run.status == State::ProcessGone {
        format!("{host}, process {} (gone)", src.pid)
    } else {
        format!("{host}, process {}", src.pid)
    };
    rows.push(("Process", process));
    if let Some(cwd) = &src.cwd {
        rows.push(("Directory", cwd.display().to_string()));
    }
    if let Some(commit) = &src.git_commit {
        rows.push(("Git commit", commit.clone()));
    }
    if let Some(error) = &run.error {
        let indented = error.replace('\n', &format!("\n{}", " ".repeat(12)));
        rows.push(("Error", out.paint(&indented, Style::Red)));
    }
    rows
}

/// A value on one line (line breaks and tabs as spaces, other control characters written
/// out), shortened to [`SHOWN_VALUE_CHARS`].
pub fn one_line(v: &str) -> String {
    let spaced: String = v
        .chars()
        .map(|c| {
            if matches!(c, '\n' | '\r' | '\t') {
                ' '
            } else {
                c
            }
        })
        .collect();
    let flat = format::visible(&spaced);
    if flat.chars().count() <= SHOWN_VALUE_CHARS {
        return flat.into_owned();
    }
    let head: String = flat.chars().take(SHOWN_VALUE_CHARS - 1).collect();
    format!("{head}…")
}

pub fn kind_name(kind: ArtifactKind) -> &'static str {
    match kind {
        ArtifactKind::Json => "table",
        ArtifactKind::Image => "image",
        ArtifactKind::File => "file",
        ArtifactKind::Model => "model",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(values: &[f64]) -> Vec<MetricPoint> {
        values
            .iter()
            .enumerate()
            .map(|(i, &value)| MetricPoint {
                value,
                timestamp: 0,
                step: i as i64,
            })
            .collect()
    }

    #[test]
    fn summaries_leave_nan_out_of_min_and_max() {
        let s = Summary::of(&points(&[0.5, f64::NAN, 0.25, 0.75])).unwrap();
        assert_eq!((s.min, s.max), (Some(Num(0.25)), Some(Num(0.75))));
        assert_eq!(
            (s.count, s.nan_count, s.first_step, s.last_step),
            (4, 1, 0, 3)
        );
        assert_eq!(s.last, Num(0.75));
        let s = Summary::of(&points(&[f64::NAN])).unwrap();
        assert_eq!((s.min, s.max), (None, None));
        assert!(Summary::of(&[]).is_none());
    }

    #[test]
    fn long_values_are_cut_on_one_line() {
        assert_eq!(one_line("a\nb"), "a b");
        assert_eq!(one_line("\u{1b}[2J\r\n"), "\\x1b[2J  ");
        let cut = one_line(&"x".repeat(500));
        assert_eq!(cut.chars().count(), SHOWN_VALUE_CHARS);
        assert!(cut.ends_with('…'));
    }
}
