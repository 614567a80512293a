//! `runctx report RUN -o FILE.html`: one self-contained HTML page about a run and its
//! children. Charts are inline SVG, images data URIs, the style sheet inline: the page needs
//! no network and no other file.

mod artifacts;
mod heatmap;
mod html;
mod json;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;

use run_runtime::{MetricPoint, RunData, RunSummary, Store};
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

/// What one report embeds at most, so that its size stays bounded whatever the store holds.
/// The page says what each cap left out, where it would have been. (Tables are capped in
/// [`html::table_of`]; the points of a curve by the chart's thinning, about five per pixel
/// column.)
pub mod caps {
    /// Charts: metric curves, children compared, charts of JSON metrics.
    pub const CHARTS: usize = 100;
    /// Curves on one chart: the palette has 10 colours; more could not be told apart.
    pub const SERIES: usize = crate::chart::PALETTE.len();
    /// Classes of a confusion matrix drawn: 50 x 50 cells.
    pub const CLASSES: usize = 50;
    /// JSON metrics drawn or shown as text.
    pub const JSON_METRICS: usize = 100;
    /// Bytes of a JSON metric file that is read: reading takes time in proportion.
    pub const JSON_FILE_BYTES: u64 = 256 * 1024 * 1024;
    /// Images embedded.
    pub const IMAGES: usize = 50;
    /// Bytes of one embedded image.
    pub const IMAGE_BYTES: u64 = 8 * 1024 * 1024;
    /// Bytes of all embedded images.
    pub const ALL_IMAGE_BYTES: u64 = 64 * 1024 * 1024;
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run: an id, a unique prefix of one, or a run name; its children are included
    run: String,

    /// The HTML file to write
    #[arg(long, short, value_name = "FILE")]
    output: PathBuf,
}

/// What went into the page, and what its [`caps`] left out.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub charts: usize,
    pub heatmaps: usize,
    pub tables: usize,
    pub images: usize,
    pub left_out: LeftOut,
    #[serde(skip)]
    image_bytes: u64,
    #[serde(skip)]
    json_metrics: usize,
}

/// What the caps on a whole report left out.
#[derive(Debug, Default, Serialize)]
pub struct LeftOut {
    pub charts: usize,
    pub json_metrics: usize,
    pub images: usize,
}

impl Stats {
    /// Whether another chart fits; one that does not is counted as left out.
    fn chart_room(&mut self) -> bool {
        let room = self.charts < caps::CHARTS;
        if !room {
            self.left_out.charts += 1;
        }
        room
    }

    /// Whether a JSON metric of `size` bytes is shown; if not, why (it is listed instead).
    fn json_room(&mut self, size: u64) -> Result<(), &'static str> {
        if size > caps::JSON_FILE_BYTES {
            return Err("too large to read (more than 256 MiB)");
        }
        if self.json_metrics >= caps::JSON_METRICS {
            self.left_out.json_metrics += 1;
            return Err("not shown: the report already shows 100 JSON metrics");
        }
        self.json_metrics += 1;
        Ok(())
    }

    /// Whether an image of `size` bytes is embedded; if not, why (it is listed instead).
    fn image_room(&mut self, size: u64) -> Result<(), &'static str> {
        if size > caps::IMAGE_BYTES {
            return Err("image too large to embed (more than 8 MiB)");
        }
        let full = if self.images >= caps::IMAGES {
            "not embedded: the report already holds 50 images"
        } else if self.image_bytes + size > caps::ALL_IMAGE_BYTES {
            "not embedded: the report already holds 64 MiB of images"
        } else {
            return Ok(());
        };
        self.left_out.images += 1;
        Err(full)
    }

    fn add_image(&mut self, size: u64) {
        self.images += 1;
        self.image_bytes += size;
    }

    /// A note at the top of the page on what the caps left out, if anything.
    fn left_out_note(&self) -> String {
        let LeftOut {
            charts,
            json_metrics,
            images,
        } = self.left_out;
        let mut parts = Vec::new();
        for (n, what, cap) in [
            (charts, "charts", "it draws at most 100"),
            (
                json_metrics,
                "JSON metrics",
                "it shows at most 100; they are listed as files",
            ),
            (
                images,
                "images",
                "it embeds at most 50, 64 MiB in all; they are listed as files",
            ),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what} ({cap})"));
            }
        }
        if parts.is_empty() {
            return String::new();
        }
        format!(
            "<p class=\"note capped\">This page is capped in size and leaves out {}.</p>",
            parts.join(", ")
        )
    }
}

/// What a chart's place says when the report has all the charts it draws.
fn charts_full() -> String {
    format!(
        "<p class=\"note\">Not drawn: the report already has {} charts, the most it draws.</p>",
        caps::CHARTS
    )
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
        let data = store.read(&summary.meta.id)?.without_mlflow_table_copies();
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
    let left_out = &stats.left_out;
    let capped = match left_out.charts + left_out.json_metrics + left_out.images {
        0 => String::new(),
        _ => format!(
            "; left out: {} charts, {} JSON metrics, {} images",
            left_out.charts, left_out.json_metrics, left_out.images
        ),
    };
    out.print(&format!(
        "Wrote {}: {} runs, {} charts, {} confusion matrices, {} tables, {} images ({}){capped}.\n",
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
    let mut sections = String::new();
    for entry in entries {
        sections.push_str(&section(store, catalog, entry, entries, stats));
    }
    body.push_str(&stats.left_out_note());
    body.push_str(&tree(catalog, entries));
    body.push_str(&sections);
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
    let mut left_out = 0;
    for (key, series) in data.metrics.iter().filter(|(_, s)| s.len() >= 2) {
        if !stats.chart_room() {
            left_out += 1;
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
    charts_grid(&html, left_out)
}

/// Charts in a grid, and how many the cap on charts left out.
fn charts_grid(html: &str, left_out: usize) -> String {
    let mut grid = String::new();
    if !html.is_empty() {
        let _ = write!(grid, "<div class=\"charts\">{html}</div>");
    }
    if left_out > 0 {
        let _ = write!(
            grid,
            "<p class=\"note\">{left_out} more charts are left out: the report draws at most {}.</p>",
            caps::CHARTS
        );
    }
    grid
}

/// For a parent of two or more children: each metric the children share, the curves of the
/// first [`caps::SERIES`] children on one chart.
fn children_compared(catalog: &Catalog, id: &str, entries: &[Entry], stats: &mut Stats) -> String {
    let children: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.summary.meta.parent_id.as_deref() == Some(id))
        .collect();
    if children.len() < 2 {
        return String::new();
    }
    let drawn = &children[..children.len().min(caps::SERIES)];
    let ids: Vec<&str> = drawn.iter().map(|c| c.summary.meta.id.as_str()).collect();
    let labels = catalog.labels(&ids);
    let mut by_key: BTreeMap<&str, Vec<(&str, &[MetricPoint])>> = BTreeMap::new();
    for (child, label) in drawn.iter().zip(&labels) {
        for (key, series) in &child.data.metrics {
            by_key.entry(key).or_default().push((label, series));
        }
    }
    let (mut html, mut left_out) = (String::new(), 0);
    for (key, lines) in by_key.iter().filter(|(_, s)| s.len() >= 2) {
        if !stats.chart_room() {
            left_out += 1;
            continue;
        }
        // Series are made only for a chart that is drawn: each holds a copy of every point.
        let series: Vec<Series> = lines
            .iter()
            .map(|(label, points)| Series {
                label: (*label).to_owned(),
                points: by_step(points),
            })
            .collect();
        let spec = Chart::steps(&format!("{key} by child"), key, CHART_SIZE.0, CHART_SIZE.1);
        html.push_str(&chart_figure(&spec, &series, stats));
    }
    if html.is_empty() && left_out == 0 {
        return html;
    }
    let mut part = format!("<h3>Children compared</h3>{}", charts_grid(&html, left_out));
    if children.len() > drawn.len() {
        let _ = write!(
            part,
            "<p class=\"note\">The first {} of {} children are drawn.</p>",
            drawn.len(),
            children.len()
        );
    }
    part
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_embedded_up_to_a_count_and_a_total_size() {
        let mut stats = Stats::default();
        let big = caps::IMAGE_BYTES;
        assert!(stats.image_room(big + 1).is_err(), "too large alone");
        assert_eq!(stats.left_out.images, 0, "listed, not cut by a cap");
        for _ in 0..caps::ALL_IMAGE_BYTES / big {
            stats.image_room(big).unwrap();
            stats.add_image(big);
        }
        let full = stats.image_room(1).unwrap_err();
        assert!(full.contains("64 MiB"), "{full}");
        let mut stats = Stats::default();
        for _ in 0..caps::IMAGES {
            stats.image_room(1).unwrap();
            stats.add_image(1);
        }
        assert!(stats.image_room(1).unwrap_err().contains("50 images"));
        assert_eq!(stats.left_out.images, 1);
    }

    #[test]
    fn json_metrics_are_shown_up_to_a_count_and_read_up_to_a_size() {
        let mut stats = Stats::default();
        assert!(stats.json_room(caps::JSON_FILE_BYTES + 1).is_err());
        for _ in 0..caps::JSON_METRICS {
            stats.json_room(10).unwrap();
        }
        assert!(stats.json_room(10).is_err());
        assert_eq!(stats.left_out.json_metrics, 1);
        assert!(stats.left_out_note().contains("1 JSON metrics"));
    }
}
