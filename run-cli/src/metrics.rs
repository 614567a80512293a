//! `runctx metrics RUN [KEY...]`: metric series, step by step.

use std::collections::BTreeMap;

use run_runtime::{MetricPoint, RunData, Store};
use serde::Serialize;

use crate::failure::Failure;
use crate::format;
use crate::output::{Align, Output, Table};
use crate::runs::Catalog;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run: an id, a unique prefix of one, or a run name
    run: String,

    /// The metrics to print [default: all of them]
    #[arg(value_name = "KEY")]
    keys: Vec<String>,
}

#[derive(Serialize)]
struct MetricsJson<'a> {
    run: &'a str,
    /// Each series in logging order.
    metrics: BTreeMap<&'a str, &'a [MetricPoint]>,
}

pub fn run(store: &Store, out: &Output, args: Args) -> Result<(), Failure> {
    let catalog = Catalog::load(store)?;
    let summary = catalog.resolve(&args.run)?;
    let data = store.read(&summary.meta.id)?;
    let series = select(&data, &args.keys, &catalog.describe(summary))?;
    if out.json {
        return out.print_json(&MetricsJson {
            run: &data.meta.id,
            metrics: series.iter().map(|(k, s)| (*k, *s)).collect(),
        });
    }
    if series.is_empty() {
        return out.print(&format!(
            "Run {} has no metrics.\n",
            catalog.describe(summary)
        ));
    }
    out.print(&wide_table(&series).render(out))
}

/// The series asked for, in the order asked, or all of them by name.
pub fn select<'a>(
    data: &'a RunData,
    keys: &[String],
    run: &str,
) -> Result<Vec<(&'a str, &'a [MetricPoint])>, Failure> {
    if keys.is_empty() {
        return Ok(data
            .metrics
            .iter()
            .map(|(k, s)| (k.as_str(), s.as_slice()))
            .collect());
    }
    let known: Vec<String> = data.metrics.keys().cloned().collect();
    keys.iter()
        .map(|key| {
            data.metrics
                .get_key_value(key)
                .map(|(k, s)| (k.as_str(), s.as_slice()))
                .ok_or_else(|| Failure::not_found("metric", key, &format!("run {run}"), &known))
        })
        .collect()
}

/// One row per step and a column per metric. A step logged several times for a series takes
/// several rows, in logging order, so that no point is hidden.
fn wide_table(series: &[(&str, &[MetricPoint])]) -> Table {
    let mut by_step: BTreeMap<i64, Vec<Vec<f64>>> = BTreeMap::new();
    for (column, (_, points)) in series.iter().enumerate() {
        for p in *points {
            let cells = by_step
                .entry(p.step)
                .or_insert_with(|| vec![Vec::new(); series.len()]);
            cells[column].push(p.value);
        }
    }
    let headers = std::iter::once("STEP").chain(series.iter().map(|(k, _)| *k));
    let mut table = Table::new(headers).align_from(0, Align::Right);
    for (step, cells) in by_step {
        let rows = cells.iter().map(Vec::len).max().unwrap_or(0);
        for r in 0..rows {
            let mut row = vec![step.to_string().into()];
            row.extend(cells.iter().map(|values| {
                values
                    .get(r)
                    .map_or_else(String::new, |v| format::value(*v))
                    .into()
            }));
            table.push(row);
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Output;

    fn p(step: i64, value: f64) -> MetricPoint {
        MetricPoint {
            value,
            timestamp: 0,
            step,
        }
    }

    #[test]
    fn wide_table_keeps_every_point() {
        let loss = [p(0, 1.0), p(1, 0.5), p(1, 0.4)];
        let acc = [p(1, 0.9), p(2, f64::NAN)];
        let out = Output {
            json: false,
            color: false,
        };
        let text = wide_table(&[("loss", &loss), ("acc", &acc)]).render(&out);
        assert_eq!(
            text,
            "STEP  loss  acc\n   0     1\n   1   0.5  0.9\n   1   0.4\n   2        NaN\n"
        );
    }
}
