//! `runctx plot RUN... --metric KEY -o FILE.svg|png`: metric curves, runs overlaid.

use std::path::{Path, PathBuf};

use run_runtime::{MetricPoint, RunData, RunSummary, Store};
use serde::Serialize;

use crate::chart::{self, Chart, Series};
use crate::failure::Failure;
use crate::output::{self, Output};
use crate::runs::Catalog;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The runs to overlay: ids, unique prefixes of ids, or run names
    #[arg(required = true, value_name = "RUN")]
    runs: Vec<String>,

    /// The metric to draw (repeat for several on the same axes)
    #[arg(long = "metric", short, required = true, value_name = "KEY")]
    metrics: Vec<String>,

    /// The file to write: its extension, .svg or .png, chooses the format
    #[arg(long, short, value_name = "FILE")]
    output: PathBuf,

    /// Width of the image in pixels
    #[arg(long, default_value_t = 960, value_parser = clap::value_parser!(u32).range(200..=8000))]
    width: u32,

    /// Height of the image in pixels
    #[arg(long, default_value_t = 540, value_parser = clap::value_parser!(u32).range(150..=8000))]
    height: u32,

    /// The chart's title [default: the metric names]
    #[arg(long)]
    title: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Format {
    Svg,
    Png,
}

#[derive(Serialize)]
struct PlotJson {
    output: String,
    format: Format,
    series: Vec<SeriesJson>,
}

#[derive(Serialize)]
struct SeriesJson {
    run: String,
    metric: String,
    label: String,
    points: usize,
}

pub fn run(store: &Store, out: &Output, args: Args) -> Result<(), Failure> {
    let format = format_of(&args.output)?;
    let catalog = Catalog::load(store)?;
    let chosen = catalog.resolve_all(&args.runs)?;
    let ids: Vec<&str> = chosen.iter().map(|r| r.meta.id.as_str()).collect();
    let labels = catalog.labels(&ids);
    let mut data = Vec::with_capacity(chosen.len());
    for summary in &chosen {
        data.push(store.read(&summary.meta.id)?);
    }
    check_keys(&catalog, &chosen, &data, &args.metrics)?;
    let mut series = Vec::new();
    let mut listed = Vec::new();
    for ((summary, data), run_label) in chosen.iter().zip(&data).zip(&labels) {
        for key in &args.metrics {
            let Some(points) = data.metrics.get(key) else {
                output::warn(&format!(
                    "run {} has no metric {key:?}; it is left out",
                    catalog.describe(summary)
                ));
                continue;
            };
            let label = match args.metrics.len() {
                1 => run_label.clone(),
                _ if chosen.len() == 1 => key.clone(),
                _ => format!("{run_label}: {key}"),
            };
            listed.push(SeriesJson {
                run: summary.meta.id.clone(),
                metric: key.clone(),
                label: label.clone(),
                points: points.len(),
            });
            series.push(Series {
                label,
                points: by_step(points),
            });
        }
    }
    let title = args.title.unwrap_or_else(|| args.metrics.join(", "));
    let y_label = match args.metrics.as_slice() {
        [one] => one.clone(),
        _ => String::from("value"),
    };
    let spec = Chart::steps(&title, &y_label, args.width, args.height);
    let bytes = match format {
        Format::Svg => chart::svg(&spec, &series)?.into_bytes(),
        Format::Png => chart::png(&spec, &series)?,
    };
    std::fs::write(&args.output, &bytes).map_err(|e| Failure::io("write", &args.output, e))?;
    if out.json {
        return out.print_json(&PlotJson {
            output: args.output.display().to_string(),
            format,
            series: listed,
        });
    }
    let points: usize = listed.iter().map(|s| s.points).sum();
    out.print(&format!(
        "Wrote {} ({} series, {points} points).\n",
        args.output.display(),
        listed.len()
    ))
}

/// Every key must be a metric of at least one run: one that none has is a typo.
fn check_keys(
    catalog: &Catalog,
    chosen: &[&RunSummary],
    data: &[RunData],
    keys: &[String],
) -> Result<(), Failure> {
    let Some(missing) = keys
        .iter()
        .find(|k| data.iter().all(|d| !d.metrics.contains_key(*k)))
    else {
        return Ok(());
    };
    let mut known: Vec<String> = data
        .iter()
        .flat_map(|d| d.metrics.keys().cloned())
        .collect();
    known.sort();
    known.dedup();
    let runs = match chosen {
        [one] => format!("run {}", catalog.describe(one)),
        many => format!("any of the {} runs", many.len()),
    };
    Err(Failure::not_found("metric", missing, &runs, &known))
}

/// The series as `(step, value)` in step order (logging order among equal steps).
pub fn by_step(points: &[MetricPoint]) -> Vec<(f64, f64)> {
    let mut sorted: Vec<(f64, f64)> = points.iter().map(|p| (p.step as f64, p.value)).collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    sorted
}

fn format_of(path: &Path) -> Result<Format, Failure> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("svg") => Ok(Format::Svg),
        Some("png") => Ok(Format::Png),
        _ => Err(Failure::usage(format!(
            "--output {}: the file name must end in .svg or .png, which chooses the format",
            path.display()
        ))),
    }
}
