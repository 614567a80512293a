//! `runctx compare RUN RUN...`: metrics, properties and tags side by side.

use std::collections::BTreeSet;

use run_runtime::{RunData, Store};
use serde::Serialize;

use crate::failure::Failure;
use crate::format::{self, Num};
use crate::output::{Cell, Output, Style, Table};
use crate::runs::{self, Catalog, RunJson};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The runs: ids, unique prefixes of ids, or run names (two or more)
    #[arg(required = true, num_args = 2.., value_name = "RUN")]
    runs: Vec<String>,

    /// Show only the rows whose values differ
    #[arg(long)]
    diff: bool,
}

/// One compared key: its value in each run (`None` where a run lacks it).
#[derive(Debug, Serialize)]
struct Compared<T> {
    key: String,
    values: Vec<Option<T>>,
    differs: bool,
}

#[derive(Serialize)]
struct CompareJson {
    runs: Vec<RunJson>,
    /// The last value of each metric.
    metrics: Vec<Compared<Num>>,
    properties: Vec<Compared<String>>,
    tags: Vec<Compared<String>>,
}

pub fn run(store: &Store, out: &Output, args: Args) -> Result<(), Failure> {
    let catalog = Catalog::load(store)?;
    let chosen = catalog.resolve_all(&args.runs)?;
    if chosen.len() < 2 {
        return Err(Failure::usage(format!(
            "compare needs two different runs, and {} all name {}",
            args.runs.join(", "),
            catalog.describe(chosen[0])
        )));
    }
    let mut data = Vec::with_capacity(chosen.len());
    for summary in &chosen {
        data.push(store.read(&summary.meta.id)?.without_mlflow_table_copies());
    }
    let json = CompareJson {
        runs: chosen
            .iter()
            .zip(&data)
            .map(|(s, d)| RunJson::new(&s.meta, runs::end_of(s, Some(d)).as_ref()))
            .collect(),
        metrics: compare(&data, |d| {
            d.last_values()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Num(v)))
                .collect()
        }),
        properties: compare(&data, |d| d.properties.clone().into_iter().collect()),
        tags: compare(&data, |d| d.tags.clone().into_iter().collect()),
    };
    if out.json {
        return out.print_json(&json);
    }
    out.print(&human(out, &catalog, &json, args.diff))
}

/// Every key any run has, with each run's value.
fn compare<T: Clone + Same>(
    data: &[RunData],
    entries: impl Fn(&RunData) -> Vec<(String, T)>,
) -> Vec<Compared<T>> {
    let per_run: Vec<Vec<(String, T)>> = data.iter().map(entries).collect();
    let keys: BTreeSet<&String> = per_run.iter().flatten().map(|(k, _)| k).collect();
    keys.into_iter()
        .map(|key| {
            let values: Vec<Option<T>> = per_run
                .iter()
                .map(|run| run.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
                .collect();
            let differs = values.windows(2).any(|w| match (&w[0], &w[1]) {
                (Some(a), Some(b)) => !a.same(b),
                (None, None) => false,
                _ => true,
            });
            Compared {
                key: key.clone(),
                values,
                differs,
            }
        })
        .collect()
}

/// Equality for comparing runs: NaN is the same as NaN.
trait Same {
    fn same(&self, other: &Self) -> bool;
}

impl Same for Num {
    fn same(&self, other: &Self) -> bool {
        self.0 == other.0 || (self.0.is_nan() && other.0.is_nan())
    }
}

impl Same for String {
    fn same(&self, other: &Self) -> bool {
        self == other
    }
}

/// A row as printed: key, one text per run, whether they differ.
type Line = (String, Vec<String>, bool);

fn human(out: &Output, catalog: &Catalog, json: &CompareJson, only_diff: bool) -> String {
    let headers = ["", ""]
        .into_iter()
        .map(String::from)
        .chain(json.runs.iter().map(|r| catalog.short_id(&r.id).to_owned()));
    let mut table = Table::new(headers);
    for (title, lines) in sections(json) {
        let mut row = vec![Cell::from(""), Cell::styled(title, Style::Bold)];
        row.extend(std::iter::repeat_n(Cell::from(""), json.runs.len()));
        table.push(row);
        for (key, cells, differs) in lines {
            if only_diff && !differs {
                continue;
            }
            let (mark, style) = if differs {
                ("*", Style::Changed)
            } else {
                ("", Style::Plain)
            };
            let mut row = vec![Cell::styled(mark, style), Cell::from(format!("  {key}"))];
            row.extend(cells.into_iter().map(|c| Cell::styled(c, style)));
            table.push(row);
        }
    }
    let all = json.metrics.len() + json.properties.len() + json.tags.len();
    let differing = json.metrics.iter().filter(|m| m.differs).count()
        + json.properties.iter().filter(|m| m.differs).count()
        + json.tags.iter().filter(|m| m.differs).count();
    let mut text = table.render(out);
    text.push_str(&format!(
        "\n{differing} of {all} metrics, properties and tags {} (marked *).\n",
        out.paint("differ", Style::Changed)
    ));
    text
}

/// The table's sections: the runs themselves, then metrics, properties and tags.
fn sections(json: &CompareJson) -> [(&'static str, Vec<Line>); 4] {
    let field = |key: &str, value: fn(&RunJson) -> String| -> Line {
        let cells: Vec<String> = json.runs.iter().map(value).collect();
        let differs = cells.windows(2).any(|w| w[0] != w[1]);
        (key.to_owned(), cells, differs)
    };
    let runs = vec![
        field("name", |r| r.name.clone()),
        field("experiment", |r| r.experiment.clone()),
        field("status", |r| r.status.label().to_owned()),
    ];
    let metrics = json
        .metrics
        .iter()
        .map(|m| {
            let cells = m
                .values
                .iter()
                .map(|v| v.map_or_else(|| "-".to_owned(), |n| format::value(n.0)))
                .collect();
            (m.key.clone(), cells, m.differs)
        })
        .collect();
    let texts = |rows: &[Compared<String>]| -> Vec<Line> {
        rows.iter()
            .map(|r| {
                let cells = r
                    .values
                    .iter()
                    .map(|v| {
                        v.as_deref()
                            .map_or_else(|| "-".to_owned(), crate::show::one_line)
                    })
                    .collect();
                (r.key.clone(), cells, r.differs)
            })
            .collect()
    };
    [
        ("Run", runs),
        ("Metrics (last value)", metrics),
        ("Properties", texts(&json.properties)),
        ("Tags", texts(&json.tags)),
    ]
}
