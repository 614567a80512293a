//! `runctx report RUN -o FILE.html`: one self-contained HTML page about a run and its
//! children. Charts are inline SVG, images data URIs, the style sheet inline: the page needs
//! no network and no other file.

mod artifacts;
mod heatmap;
mod html;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;

use run_runtime::{RunData, RunSummary, Store};
use serde::Serialize;

use crate::chart::{self, Chart, Series};
use crate::failure::Failure;
use crate::format;
use crate::output::Output;
use crate::plot::by_step;
use crate::runs::{self, Catalog, State};
use crate::show::Summary;
use html::esc;

/// The size of a metric chart in the report.
const CHART_SIZE: (u32, u32) = (560, 320);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run: an id, a unique prefix of one, or a run name; its children are included
    run: String,

    /// The HTML file to write
    #[arg(long, short, value_name = "FILE")]
    output: PathBuf,
}

/// What went into the page.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub charts: usize,
    pub heatmaps: usize,
    pub tables: usize,
    pub images: usize,
}

#[derive(Serialize)]
struct ReportJson {
    output: String,
    runs: Vec<String>,
    #[serde(flatten)]
    stats: Stats,
    bytes: usize,
}

/// A run in the report.
struct Entry<'a> {
    summary: &'a RunSummary,
    data: RunData,
    state: State,
    depth: usize,
}

pub fn run(store: &Store, out: &Output, args: Args) -> Result<(), Failure> {
    let catalog = Catalog::load(store)?;
    let top = catalog.resolve(&args.run)?;
    let mut entries = Vec::new();
    for summary in catalog.subtree(&top.meta.id) {
        let data = store.read(&summary.meta.id)?;
        let end = runs::end_of(summary, Some(&data));
        let state = runs::state_of(&summary.meta, end.as_ref());
        let depth = depth(&catalog, &summary.meta.id, &top.meta.id);
        entries.push(Entry {
            summary,
            data,
            state,
            depth,
        });
    }
    let mut stats = Stats::default();
    let page = page(store, &catalog, &entries, &mut stats);
    std::fs::write(&args.output, &page).map_err(|e| Failure::io("write", &args.output, e))?;
    if out.json {
        return out.print_json(&ReportJson {
            output: args.output.display().to_string(),
            runs: entries.iter().map(|e| e.summary.meta.id.clone()).collect(),
            stats,
            bytes: page.len(),
        });
    }
    out.print(&format!(
        "Wrote {}: {} runs, {} charts, {} confusion matrices, {} tables, {} images ({}).\n",
        args.output.display(),
        entries.len(),
        stats.charts,
        stats.heatmaps,
        stats.tables,
        stats.images,
        format::size(page.len() as u64)
    ))
}

fn depth(catalog: &Catalog, id: &str, top: &str) -> usize {
    let mut depth = 0;
    let mut at = id;
    // Bounded, in case a hand-edited run.json makes a run its own ancestor.
    while at != top && depth < catalog.all().len() {
        let Some(parent) = catalog.parent(at) else {
            break;
        };
        at = &parent.meta.id;
        depth += 1;
    }
    depth
}

fn page(store: &Store, catalog: &Catalog, entries: &[Entry], stats: &mut Stats) -> String {
    let top = &entries[0];
    let meta = &top.summary.meta;
    let mut body = String::new();
    let _ = write!(
        body,
        "<header class=\"top\"><h1>{} {}</h1><p class=\"sub\">Experiment {} · {} · started {}</p>\
         </header><main>",
        esc(&meta.name),
        badge(top.state),
        esc(&meta.experiment),
        esc(&meta.id),
        esc(&format::time(meta.start_time)),
    );
    body.push_str(&tree(catalog, entries));
    for entry in entries {
        body.push_str(&section(store, catalog, entry, entries, stats));
    }
    let _ = write!(
        body,
        "</main><footer>Made by runctx {} on {} from the store {}</footer>",
        env!("CARGO_PKG_VERSION"),
        esc(&format::time(format::now_ms())),
        esc(&store.root().display().to_string())
    );
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · runctx report</title><style>{}</style></head><body>{body}</body></html>\n",
        esc(&meta.name),
        html::CSS
    )
}

fn badge(state: State) -> String {
    format!(
        "<span class=\"badge {}\">{}</span>",
        state.css(),
        esc(state.label())
    )
}

/// The run tree: nested lists linking to each run's section.
fn tree(catalog: &Catalog, entries: &[Entry]) -> String {
    let mut html = String::from("<nav class=\"tree\"><h2>Run tree</h2>");
    if let Some(parent) = catalog.parent(&entries[0].summary.meta.id) {
        let _ = write!(
            html,
            "<p class=\"note\">A child of {} (not in this report).</p>",
            esc(&catalog.describe(parent))
        );
    }
    let mut depth = 0;
    html.push_str("<ul>");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            if e.depth > depth {
                html.push_str("<ul>");
            } else {
                html.push_str("</li>");
                for _ in e.depth..depth {
                    html.push_str("</ul></li>");
                }
            }
        }
        depth = e.depth;
        let meta = &e.summary.meta;
        let _ = write!(
            html,
            "<li><a href=\"#{}\">{}</a> {} <span class=\"mono note\">{}</span> {}",
            html::anchor(&meta.id),
            esc(&meta.name),
            badge(e.state),
            esc(catalog.short_id(&meta.id)),
            esc(&metric_hint(&e.data))
        );
    }
    html.push_str("</li>");
    for _ in 0..depth {
        html.push_str("</ul></li>");
    }
    html.push_str("</ul></nav>");
    html
}

/// A few last values for the tree: `loss 0.12 · accuracy 0.95`.
fn metric_hint(data: &RunData) -> String {
    data.last_values()
        .into_iter()
        .take(3)
        .map(|(k, v)| format!("{k} {}", format::value(v)))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn section(
    store: &Store,
    catalog: &Catalog,
    entry: &Entry,
    entries: &[Entry],
    stats: &mut Stats,
) -> String {
    let data = &entry.data;
    let meta = &data.meta;
    let mut html = format!(
        "<section class=\"run\" id=\"{}\"><h2>{} {}</h2>",
        html::anchor(&meta.id),
        esc(&meta.name),
        badge(entry.state)
    );
    html.push_str(&facts(catalog, entry));
    if let Some(error) = &data.error {
        let _ = write!(html, "<div class=\"error\"><pre>{}</pre></div>", esc(error));
    }
    if !data.metrics.is_empty() {
        html.push_str("<h3>Metrics</h3>");
        html.push_str(&metric_table(data));
        html.push_str(&metric_charts(data, stats));
    }
    html.push_str(&children_compared(catalog, &meta.id, entries, stats));
    let parts = artifacts::render(store, data, stats);
    for (title, part) in [
        ("Tables and charts", &parts.tables),
        ("Images", &parts.images),
    ] {
        if !part.is_empty() {
            let _ = write!(html, "<h3>{title}</h3><div class=\"charts\">{part}</div>");
        }
    }
    for (title, pairs) in [("Properties", &data.properties), ("Tags", &data.tags)] {
        if !pairs.is_empty() {
            let rows: Vec<Vec<String>> = pairs
                .iter()
                .map(|(k, v)| vec![k.clone(), v.clone()])
                .collect();
            let _ = write!(
                html,
                "<h3>{title}</h3>{}",
                html::table(&["key", "value"], &[], &rows)
            );
        }
    }
    if !parts.files.is_empty() {
        let _ = write!(html, "<h3>Files</h3>{}", parts.files);
    }
    html.push_str("</section>");
    html
}

fn facts(catalog: &Catalog, entry: &Entry) -> String {
    let meta = &entry.data.meta;
    let src = &meta.source;
    let end = runs::end_of(entry.summary, Some(&entry.data));
    let mut rows = vec![
        (
            "Run id",
            format!("<span class=\"mono\">{}</span>", esc(&meta.id)),
        ),
        ("Experiment", esc(&meta.experiment)),
        ("Started", esc(&format::time(meta.start_time))),
    ];
    if let Some(end) = &end {
        rows.push(("Ended", esc(&format::time(end.time))));
    }
    rows.push(("Duration", esc(&runs::duration_text(meta, end.as_ref()))));
    if let Some(parent) = catalog.parent(&meta.id) {
        rows.push((
            "Parent",
            format!(
                "<a href=\"#{}\">{}</a>",
                html::anchor(&parent.meta.id),
                esc(&catalog.describe(parent))
            ),
        ));
    }
    let mut program = src.program.clone();
    for arg in &src.args {
        program.push(' ');
        program.push_str(arg);
    }
    rows.push((
        "Program",
        format!("<span class=\"mono\">{}</span>", esc(&program)),
    ));
    if let Some(host) = &src.host {
        rows.push(("Host", esc(&format!("{host}, process {}", src.pid))));
    }
    if let Some(commit) = &src.git_commit {
        rows.push((
            "Git commit",
            format!("<span class=\"mono\">{}</span>", esc(commit)),
        ));
    }
    html::facts(&rows)
}

fn metric_table(data: &RunData) -> String {
    let rows: Vec<Vec<String>> = data
        .metrics
        .iter()
        .filter_map(|(key, series)| {
            let s = Summary::of(series)?;
            let opt =
                |v: Option<format::Num>| v.map_or_else(|| "-".to_owned(), |n| format::value(n.0));
            Some(vec![
                key.clone(),
                format::value(s.last.0),
                opt(s.min),
                opt(s.max),
                s.count.to_string(),
                format!("{}..{}", s.first_step, s.last_step),
            ])
        })
        .collect();
    html::table(
        &["metric", "last", "min", "max", "count", "steps"],
        &[false, true, true, true, true, false],
        &rows,
    )
}

/// A chart per metric with more than one point.
fn metric_charts(data: &RunData, stats: &mut Stats) -> String {
    let mut html = String::new();
    for (key, series) in &data.metrics {
        if series.len() < 2 {
            continue;
        }
        let spec = Chart {
            legend: false,
            ..Chart::steps(key, key, CHART_SIZE.0, CHART_SIZE.1)
        };
        let line = [Series {
            label: data.meta.name.clone(),
            points: by_step(series),
        }];
        html.push_str(&chart_figure(&spec, &line, stats));
    }
    if html.is_empty() {
        return html;
    }
    format!("<div class=\"charts\">{html}</div>")
}

/// For a parent of two or more children: each metric the children share, their curves on one
/// chart.
fn children_compared(catalog: &Catalog, id: &str, entries: &[Entry], stats: &mut Stats) -> String {
    let children: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.summary.meta.parent_id.as_deref() == Some(id))
        .collect();
    if children.len() < 2 {
        return String::new();
    }
    let ids: Vec<&str> = children
        .iter()
        .map(|c| c.summary.meta.id.as_str())
        .collect();
    let labels = catalog.labels(&ids);
    let mut by_key: BTreeMap<&str, Vec<Series>> = BTreeMap::new();
    for (child, label) in children.iter().zip(labels) {
        for (key, series) in &child.data.metrics {
            by_key.entry(key).or_default().push(Series {
                label: label.clone(),
                points: by_step(series),
            });
        }
    }
    let mut html = String::new();
    for (key, series) in by_key.iter().filter(|(_, s)| s.len() >= 2) {
        let spec = Chart::steps(&format!("{key} by child"), key, CHART_SIZE.0, CHART_SIZE.1);
        html.push_str(&chart_figure(&spec, series, stats));
    }
    if html.is_empty() {
        return html;
    }
    format!("<h3>Children compared</h3><div class=\"charts\">{html}</div>")
}

fn chart_figure(spec: &Chart, series: &[Series], stats: &mut Stats) -> String {
    match chart::svg(spec, series) {
        Ok(svg) => {
            stats.charts += 1;
            format!("<figure class=\"chart\">{svg}</figure>")
        }
        Err(e) => format!(
            "<figure class=\"chart\"><figcaption>{}</figcaption><p class=\"note\">{}</p></figure>",
            esc(&spec.title),
            esc(&e.message)
        ),
    }
}
