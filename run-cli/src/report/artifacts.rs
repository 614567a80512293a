//! A run's artifacts in the report: Azure ML JSON metrics drawn as tables, heatmaps and
//! charts; images embedded; other files listed.

use std::fmt::Write;
use std::path::Path;

use base64::Engine;
use run_runtime::{ArtifactKind, RunData, Store};
use serde_json::Value;

use super::html::{self, esc};
use super::{Stats, heatmap};
use crate::chart::{self, Bars, Chart, Series};
use crate::format;

/// Table rows shown before the rest is cut.
const TABLE_ROWS: usize = 200;
/// Images larger than this are listed, not embedded.
const EMBEDDED_IMAGE_BYTES: u64 = 8 * 1024 * 1024;
/// The size of the report's artifact charts.
const CHART_SIZE: (u32, u32) = (560, 340);

/// The HTML of the run's JSON metrics, images and other files, as three parts (any may be
/// empty).
pub struct Parts {
    pub tables: String,
    pub images: String,
    pub files: String,
}

pub fn render(store: &Store, data: &RunData, stats: &mut Stats) -> Parts {
    let mut parts = Parts {
        tables: String::new(),
        images: String::new(),
        files: String::new(),
    };
    let mut files = Vec::new();
    for (path, info) in &data.artifacts {
        let file = match store.artifact_file(&data.meta.id, path) {
            Ok(file) => file,
            Err(e) => {
                files.push(vec![path.clone(), String::from("-"), e.to_string()]);
                continue;
            }
        };
        match info.kind {
            ArtifactKind::Json => parts.tables.push_str(&json_metric(path, &file, stats)),
            ArtifactKind::Image if info.size <= EMBEDDED_IMAGE_BYTES => match image(path, &file) {
                Some(html) => {
                    stats.images += 1;
                    parts.images.push_str(&html);
                }
                None => files.push(vec![
                    path.clone(),
                    format::size(info.size),
                    String::from("image of an unknown type"),
                ]),
            },
            ArtifactKind::Image => files.push(vec![
                path.clone(),
                format::size(info.size),
                String::from("image too large to embed"),
            ]),
            ArtifactKind::File | ArtifactKind::Model => {
                files.push(vec![path.clone(), format::size(info.size), String::new()]);
            }
        }
    }
    if !files.is_empty() {
        parts.files = html::table(&["path", "size", "note"], &[false, true, false], &files);
    }
    parts
}

fn json_metric(path: &str, file: &Path, stats: &mut Stats) -> String {
    let name = path.strip_suffix(".json").unwrap_or(path);
    let doc: Value = match std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(doc) => doc,
        Err(e) => {
            return figure(
                name,
                &format!("<p class=\"note\">unreadable: {}</p>", esc(&e)),
            );
        }
    };
    let data = &doc["data"];
    let body = match doc["schema_type"].as_str() {
        Some("table") => table(data).inspect(|_| stats.tables += 1),
        Some("confusion_matrix") => confusion_matrix(data).inspect(|_| stats.heatmaps += 1),
        Some("accuracy_table") => roc(name, data).inspect(|_| stats.charts += 1),
        Some("residuals") => residuals(name, data).inspect(|_| stats.charts += 1),
        Some("predictions") => predictions(name, data).inspect(|_| stats.charts += 1),
        _ => None,
    };
    let body = body.unwrap_or_else(|| raw_json(&doc));
    figure(name, &body)
}

fn figure(name: &str, body: &str) -> String {
    format!(
        "<figure class=\"artifact\"><figcaption>{}</figcaption><div class=\"scroll\">{body}</div>\
         </figure>",
        esc(name)
    )
}

/// A table: `data` maps column names to equally long arrays.
fn table(data: &Value) -> Option<String> {
    let columns = data.as_object()?;
    let headers: Vec<&str> = columns.keys().map(String::as_str).collect();
    let arrays: Vec<&Vec<Value>> = columns
        .values()
        .map(Value::as_array)
        .collect::<Option<_>>()?;
    let rows = arrays.iter().map(|a| a.len()).max().unwrap_or(0);
    let numeric: Vec<bool> = arrays
        .iter()
        .map(|a| a.iter().all(|v| v.is_number() || v.is_null()))
        .collect();
    let cells: Vec<Vec<String>> = (0..rows.min(TABLE_ROWS))
        .map(|r| {
            arrays
                .iter()
                .map(|a| a.get(r).map(cell).unwrap_or_default())
                .collect()
        })
        .collect();
    let mut html = html::table(&headers, &numeric, &cells);
    if rows > TABLE_ROWS {
        let _ = write!(
            html,
            "<p class=\"note\">The first {TABLE_ROWS} of {rows} rows.</p>"
        );
    }
    Some(html)
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), format::value),
        other => other.to_string(),
    }
}

fn confusion_matrix(data: &Value) -> Option<String> {
    let labels: Vec<String> = data["class_labels"]
        .as_array()?
        .iter()
        .map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_owned))
        .collect();
    let matrix: Vec<Vec<f64>> = data["matrix"]
        .as_array()?
        .iter()
        .map(|row| row.as_array()?.iter().map(Value::as_f64).collect())
        .collect::<Option<_>>()?;
    let square = matrix.len() == labels.len() && matrix.iter().all(|r| r.len() == labels.len());
    (square && !labels.is_empty()).then(|| heatmap::svg(&labels, &matrix))
}

/// ROC curves, one per class, from the accuracy table's counts at probability thresholds.
fn roc(name: &str, data: &Value) -> Option<String> {
    let labels = data["class_labels"].as_array()?;
    let tables = data["probability_tables"].as_array()?;
    let series: Vec<Series> = labels
        .iter()
        .zip(tables)
        .map(|(label, table)| {
            let mut points: Vec<(f64, f64)> = table
                .as_array()?
                .iter()
                .map(|counts| {
                    let c: Vec<f64> = counts
                        .as_array()?
                        .iter()
                        .map(Value::as_f64)
                        .collect::<Option<_>>()?;
                    let [tp, fp, tn, fneg] = c[..] else {
                        return None;
                    };
                    let tpr = tp / (tp + fneg).max(1.0);
                    let fpr = fp / (fp + tn).max(1.0);
                    Some((fpr, tpr))
                })
                .collect::<Option<_>>()?;
            points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
            Some(Series {
                label: label
                    .as_str()
                    .map_or_else(|| label.to_string(), str::to_owned),
                points,
            })
        })
        .collect::<Option<_>>()?;
    let spec = Chart {
        title: format!("{name}: ROC"),
        x_label: String::from("false positive rate"),
        y_label: String::from("true positive rate"),
        width: CHART_SIZE.0,
        height: CHART_SIZE.1,
        integer_x: false,
        diagonal: true,
        legend: true,
    };
    chart::svg(&spec, &series).ok()
}

fn residuals(name: &str, data: &Value) -> Option<String> {
    let bars = Bars {
        edges: numbers(&data["bin_edges"])?,
        counts: numbers(&data["bin_counts"])?,
    };
    if bars.edges.len() != bars.counts.len() + 1 {
        return None;
    }
    let spec = Chart {
        title: name.to_owned(),
        x_label: String::from("residual"),
        y_label: String::from("count"),
        width: CHART_SIZE.0,
        height: CHART_SIZE.1,
        integer_x: false,
        diagonal: false,
        legend: false,
    };
    chart::bars_svg(&spec, &bars).ok()
}

/// The average prediction in each bin of true values, against the ideal `y = x`.
fn predictions(name: &str, data: &Value) -> Option<String> {
    let edges = numbers(&data["bin_edges"])?;
    let averages = numbers(&data["bin_averages"])?;
    let counts = numbers(&data["bin_counts"])?;
    let points: Vec<(f64, f64)> = edges
        .windows(2)
        .zip(averages.iter().zip(&counts))
        .filter(|(_, (_, n))| **n > 0.0)
        .map(|(e, (avg, _))| ((e[0] + e[1]) / 2.0, *avg))
        .collect();
    let spec = Chart {
        title: name.to_owned(),
        x_label: String::from("true value (bin centre)"),
        y_label: String::from("average prediction"),
        width: CHART_SIZE.0,
        height: CHART_SIZE.1,
        integer_x: false,
        diagonal: true,
        legend: false,
    };
    let series = [Series {
        label: String::from("average prediction"),
        points,
    }];
    chart::svg(&spec, &series).ok()
}

fn numbers(v: &Value) -> Option<Vec<f64>> {
    v.as_array()?.iter().map(Value::as_f64).collect()
}

fn raw_json(doc: &Value) -> String {
    let mut text = serde_json::to_string_pretty(doc).unwrap_or_default();
    if text.len() > 20_000 {
        let cut = (0..=20_000)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push_str("\n…");
    }
    format!("<pre class=\"json\">{}</pre>", esc(&text))
}

/// The image as an `<img>` with a data URI, if its type is one browsers show.
fn image(path: &str, file: &Path) -> Option<String> {
    let ext = Path::new(path).extension()?.to_str()?.to_ascii_lowercase();
    let mime = match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "bmp" => "image/bmp",
        "webp" => "image/webp",
        _ => return None,
    };
    let bytes = std::fs::read(file).ok()?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let name = esc(path);
    Some(format!(
        "<figure class=\"artifact\"><img alt=\"{name}\" src=\"data:{mime};base64,{encoded}\">\
         <figcaption>{name}</figcaption></figure>"
    ))
}
