//! A run's artifacts in the report: Azure ML JSON metrics drawn as tables, heatmaps and
//! charts; images embedded; other files listed.

use std::fmt::Write;
use std::io::Read;
use std::path::Path;

use base64::Engine;
use run_runtime::{ArtifactKind, RunData, Store};

use super::html::{self, esc};
use super::json::{Json, List};
use super::{Stats, caps, heatmap};
use crate::chart::{self, Bars, Chart, Series};
use crate::format;

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
        // The file's own size: the journal's is what the program said.
        let found = store
            .artifact_file(&data.meta.id, path)
            .map_err(|e| e.to_string())
            .and_then(|file| {
                let size = std::fs::metadata(&file).map_err(|e| format!("missing: {e}"))?;
                Ok((file, size.len()))
            });
        let (file, size) = match found {
            Ok(found) => found,
            Err(reason) => {
                files.push(vec![path.clone(), String::from("-"), reason]);
                continue;
            }
        };
        // Err: listed among the files, with a note saying why.
        let listed = match info.kind {
            ArtifactKind::Json => stats
                .json_room(size)
                .map(|()| parts.tables.push_str(&json_metric(path, &file, stats))),
            ArtifactKind::Image => stats.image_room(size).and_then(|()| {
                let html = image(path, &file).ok_or("image of an unknown type")?;
                stats.add_image(size);
                parts.images.push_str(&html);
                Ok(())
            }),
            ArtifactKind::File | ArtifactKind::Model => Err(""),
        };
        if let Err(note) = listed {
            files.push(vec![path.clone(), format::size(size), note.to_owned()]);
        }
    }
    if !files.is_empty() {
        parts.files = html::table(&["path", "size", "note"], &[false, true, false], &files);
    }
    parts
}

fn json_metric(path: &str, file: &Path, stats: &mut Stats) -> String {
    let name = path.strip_suffix(".json").unwrap_or(path);
    let doc = match std::fs::File::open(file)
        .map_err(|e| e.to_string())
        .and_then(|f| Json::read(f.take(caps::JSON_FILE_BYTES)).map_err(|e| e.to_string()))
    {
        Ok(doc) => doc,
        Err(e) => {
            return figure(
                name,
                &format!("<p class=\"note\">unreadable: {}</p>", esc(&e)),
            );
        }
    };
    let data = doc.get("data");
    let schema = doc.get("schema_type").as_str();
    let body = match schema {
        Some("table") => table(data).inspect(|_| stats.tables += 1),
        Some("confusion_matrix") => confusion_matrix(data).inspect(|_| stats.heatmaps += 1),
        Some("accuracy_table" | "residuals" | "predictions") if !stats.chart_room() => {
            Some(super::charts_full())
        }
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

/// A table: `data` maps column names to equally long arrays. What the page shows of it is
/// capped by [`html::table_of`].
fn table(data: &Json) -> Option<String> {
    let columns = data.as_object()?;
    let shown = &columns.items[..columns.items.len().min(html::COLUMNS)];
    let headers: Vec<&str> = shown.iter().map(|(k, _)| k.as_str()).collect();
    let arrays: Vec<&List<Json>> = shown
        .iter()
        .map(|(_, v)| v.as_array())
        .collect::<Option<_>>()?;
    let rows = arrays.iter().map(|a| a.len).max().unwrap_or(0);
    // Rows the reader kept of every column: a cell it did not keep is not an empty one.
    let kept = arrays
        .iter()
        .filter(|a| !a.complete())
        .map(|a| a.items.len())
        .min()
        .unwrap_or(rows);
    let numeric: Vec<bool> = arrays
        .iter()
        .map(|a| {
            a.items
                .iter()
                .all(|v| matches!(v, Json::Number(_) | Json::Null))
        })
        .collect();
    let cells: Vec<Vec<String>> = (0..kept.min(html::ROWS))
        .map(|r| {
            arrays
                .iter()
                .map(|a| a.items.get(r).map(cell).unwrap_or_default())
                .collect()
        })
        .collect();
    Some(html::table_of(
        &headers,
        &numeric,
        &cells,
        (rows, columns.len),
    ))
}

fn cell(v: &Json) -> String {
    match v {
        Json::Text(s) => s.clone(),
        Json::Null => String::new(),
        Json::Number(n) => n.as_f64().map_or_else(|| n.to_string(), format::value),
        other => other.to_value().to_string(),
    }
}

/// A heatmap of at most [`caps::CLASSES`] classes; `None` (the document is shown as text)
/// when it is not a square matrix of numbers or its drawn rows were not read whole.
fn confusion_matrix(data: &Json) -> Option<String> {
    let labels = data.get("class_labels").as_array()?;
    let matrix = data.get("matrix").as_array()?;
    let classes = labels.len;
    let shown = classes.min(caps::CLASSES);
    if shown == 0 || matrix.len != classes || matrix.items.len() < shown {
        return None;
    }
    let labels: Vec<String> = labels.items.get(..shown)?.iter().map(label).collect();
    let rows: Vec<Vec<f64>> = matrix.items[..shown]
        .iter()
        .map(|row| {
            let row = row
                .as_array()
                .filter(|r| r.complete() && r.len == classes)?;
            row.items.iter().map(Json::as_f64).collect()
        })
        .collect::<Option<_>>()?;
    let mut html = heatmap::svg(&labels, &rows);
    if shown < classes {
        let _ = write!(
            html,
            "<p class=\"note\">The first {shown} of {classes} classes: {} of {} cells are left \
             out. Colours are shares of whole rows.</p>",
            classes * classes - shown * shown,
            classes * classes
        );
    }
    Some(html)
}

fn label(l: &Json) -> String {
    l.as_str()
        .map_or_else(|| l.to_value().to_string(), str::to_owned)
}

/// ROC curves, one per class (the first [`caps::SERIES`]), from the accuracy table's counts at
/// probability thresholds.
fn roc(name: &str, data: &Json) -> Option<String> {
    let labels = data.get("class_labels").as_array()?;
    let tables = data.get("probability_tables").as_array()?;
    let series: Vec<Series> = labels
        .items
        .iter()
        .zip(&tables.items)
        .take(caps::SERIES)
        .map(|(l, table)| {
            let mut points: Vec<(f64, f64)> = complete(table)?
                .iter()
                .map(|counts| {
                    let c = numbers(counts)?;
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
                label: label(l),
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
    let mut svg = chart::svg(&spec, &series).ok()?;
    if labels.len > series.len() {
        let _ = write!(
            svg,
            "<p class=\"note\">The first {} of {} classes.</p>",
            series.len(),
            labels.len
        );
    }
    Some(svg)
}

fn residuals(name: &str, data: &Json) -> Option<String> {
    let bars = Bars {
        edges: numbers(data.get("bin_edges"))?,
        counts: numbers(data.get("bin_counts"))?,
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
fn predictions(name: &str, data: &Json) -> Option<String> {
    let edges = numbers(data.get("bin_edges"))?;
    let averages = numbers(data.get("bin_averages"))?;
    let counts = numbers(data.get("bin_counts"))?;
    let points: Vec<(f64, f64)> = edges
        .windows(2)
        .zip(averages.iter().zip(&counts))
        .filter(|(_, (_, n))| **n > 0.0)
        // Halves first: the sum of two edges near f64::MAX overflows.
        .map(|(e, (avg, _))| (e[0] / 2.0 + e[1] / 2.0, *avg))
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

/// The entries of an array the reader kept whole.
fn complete(v: &Json) -> Option<&[Json]> {
    let list = v.as_array().filter(|l| l.complete())?;
    Some(&list.items)
}

fn numbers(v: &Json) -> Option<Vec<f64>> {
    complete(v)?.iter().map(Json::as_f64).collect()
}

/// The document as text, cut at 20,000 characters: what the report has no drawing for.
fn raw_json(doc: &Json) -> String {
    let mut text = serde_json::to_string_pretty(&doc.to_value()).unwrap_or_default();
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
    // At most what was checked: the file may have grown since.
    let mut bytes = Vec::new();
    let file = std::fs::File::open(file).ok()?;
    file.take(caps::IMAGE_BYTES).read_to_end(&mut bytes).ok()?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let name = esc(path);
    Some(format!(
        "<figure class=\"artifact\"><img alt=\"{name}\" src=\"data:{mime};base64,{encoded}\">\
         <figcaption>{name}</figcaption></figure>"
    ))
}
