//! Azure ML's JSON metrics: tables, confusion matrices, accuracy tables, residuals and
//! predictions. Each is stored as a JSON artifact `<name>.json` of the shape Azure ML documents:
//!
//! ```json
//! {"schema_type": "confusion_matrix", "schema_version": "1.0.0",
//!  "data": {"class_labels": ["a", "b"], "matrix": [[3, 1], [0, 4]]}}
//! ```
//!
//! Every shape is checked before anything is written.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::value::MetricValue;

/// A value that can stand in a table cell: numbers, bools, text and JSON values.
///
/// Non-finite numbers become the strings `"NaN"`, `"Infinity"` and `"-Infinity"`, since JSON
/// has no numbers for them.
pub trait Cell {
    /// The cell as JSON.
    fn into_value(self) -> Value;
}

macro_rules! number_cells {
    ($($t:ty)*) => {$(
        impl Cell for $t {
            fn into_value(self) -> Value { number(self.to_f64()) }
        }
    )*};
}
number_cells!(f32 f64);

macro_rules! integer_cells {
    ($($t:ty)*) => {$(
        impl Cell for $t {
            fn into_value(self) -> Value { Value::from(self) }
        }
    )*};
}
integer_cells!(i8 i16 i32 i64 isize u8 u16 u32 u64 usize);

impl Cell for bool {
    fn into_value(self) -> Value {
        Value::Bool(self)
    }
}

impl Cell for &str {
    fn into_value(self) -> Value {
        Value::String(self.to_owned())
    }
}

impl Cell for String {
    fn into_value(self) -> Value {
        Value::String(self)
    }
}

impl Cell for Value {
    fn into_value(self) -> Value {
        self
    }
}

impl<T: Cell> Cell for Option<T> {
    fn into_value(self) -> Value {
        self.map_or(Value::Null, Cell::into_value)
    }
}

/// A float as JSON: integral values as integers, non-finite ones as strings.
pub(crate) fn number(v: f64) -> Value {
    if let Some(text) = crate::store::float::special(v) {
        return Value::String(text.to_owned());
    }
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        return Value::from(v as i64);
    }
    Value::from(v)
}

/// The document stored for a JSON metric.
pub(crate) fn document(schema_type: &str, schema_version: &str, data: Value) -> Value {
    json!({ "schema_type": schema_type, "schema_version": schema_version, "data": data })
}

/// A table built column by column or row by row.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Table {
    columns: Vec<(String, Vec<Value>)>,
}

impl Table {
    pub(crate) fn from_columns(
        name: &str,
        columns: impl IntoIterator<Item = (String, Vec<Value>)>,
    ) -> Result<Table> {
        let columns: Vec<(String, Vec<Value>)> = columns.into_iter().collect();
        if columns.is_empty() {
            return Err(Error::invalid_data(name, "table", "it has no columns"));
        }
        let rows = columns[0].1.len();
        for (i, (column, values)) in columns.iter().enumerate() {
            if column.is_empty() {
                return Err(Error::invalid_data(
                    name,
                    "table",
                    "a column has an empty name",
                ));
            }
            if columns[..i].iter().any(|(c, _)| c == column) {
                return Err(Error::invalid_data(
                    name,
                    "table",
                    format!("column {column:?} appears twice"),
                ));
            }
            if values.len() != rows {
                return Err(Error::invalid_data(
                    name,
                    "table",
                    format!(
                        "columns must have equal lengths, but {:?} has {rows} values and \
                         {column:?} has {}",
                        columns[0].0,
                        values.len()
                    ),
                ));
            }
        }
        Ok(Table { columns })
    }

    /// The columns, each with its values, in their order.
    pub(crate) fn columns(&self) -> &[(String, Vec<Value>)] {
        &self.columns
    }

    /// Reads back a table written by [`Table::to_document`].
    pub(crate) fn from_document(doc: &Value) -> Option<Table> {
        let data = doc.get("data")?.as_object()?;
        let columns = data
            .iter()
            .map(|(k, v)| Some((k.clone(), v.as_array()?.clone())))
            .collect::<Option<Vec<_>>>()?;
        Some(Table { columns })
    }

    /// Appends a row; its columns must be those of the rows before it.
    pub(crate) fn push_row(&mut self, name: &str, row: Vec<(String, Value)>) -> Result<()> {
        if row.is_empty() {
            return Err(Error::invalid_data(name, "table", "the row has no cells"));
        }
        if self.columns.is_empty() {
            let columns = row.into_iter().map(|(k, v)| (k, vec![v]));
            *self = Table::from_columns(name, columns)?;
            return Ok(());
        }
        let expected: Vec<&str> = self.columns.iter().map(|(c, _)| c.as_str()).collect();
        let mut given: Vec<&str> = row.iter().map(|(c, _)| c.as_str()).collect();
        given.sort_unstable();
        let mut sorted = expected.clone();
        sorted.sort_unstable();
        if given != sorted {
            return Err(Error::invalid_data(
                name,
                "table",
                format!(
                    "every row must have the columns of the first one ({}), but this row has ({})",
                    sorted.join(", "),
                    given.join(", ")
                ),
            ));
        }
        for (column, value) in row {
            let slot = self
                .columns
                .iter_mut()
                .find(|(c, _)| *c == column)
                .expect("checked");
            slot.1.push(value);
        }
        Ok(())
    }

    pub(crate) fn to_document(&self) -> Value {
        let data: Map<String, Value> = self
            .columns
            .iter()
            .map(|(c, v)| (c.clone(), Value::Array(v.clone())))
            .collect();
        document("table", "1.0.0", Value::Object(data))
    }
}

/// The document of a confusion matrix, after checking its shape.
pub(crate) fn confusion_matrix<L: ToString, T: MetricValue>(
    name: &str,
    class_labels: &[L],
    matrix: &[impl AsRef<[T]>],
) -> Result<Value> {
    let bad = |reason: String| Err(Error::invalid_data(name, "confusion_matrix", reason));
    let n = matrix.len();
    if n == 0 {
        return bad("the matrix is empty".into());
    }
    if class_labels.len() != n {
        return bad(format!(
            "there are {} class labels for a {n}x{n} matrix; give one label per row",
            class_labels.len()
        ));
    }
    let mut rows = Vec::with_capacity(n);
    for (i, row) in matrix.iter().enumerate() {
        let row = row.as_ref();
        if row.len() != n {
            return bad(format!(
                "the matrix must be square, but row {i} has {} values and there are {n} rows",
                row.len()
            ));
        }
        let mut out = Vec::with_capacity(n);
        for (j, v) in row.iter().enumerate() {
            let v = v.to_f64();
            if !v.is_finite() || v < 0.0 {
                return bad(format!(
                    "cell [{i}][{j}] is {v}; cells must be finite and not negative"
                ));
            }
            out.push(number(v));
        }
        rows.push(Value::Array(out));
    }
    let labels: Vec<String> = class_labels.iter().map(ToString::to_string).collect();
    unique_labels(name, "confusion_matrix", &labels)?;
    Ok(document(
        "confusion_matrix",
        "1.0.0",
        json!({ "class_labels": labels, "matrix": rows }),
    ))
}

fn unique_labels(name: &str, schema: &'static str, labels: &[String]) -> Result<()> {
    for (i, l) in labels.iter().enumerate() {
        if labels[..i].contains(l) {
            return Err(Error::invalid_data(
                name,
                schema,
                format!("class label {l:?} appears twice"),
            ));
        }
    }
    Ok(())
}

/// Azure ML's accuracy table: true and false positives and negatives of each class
/// (one-vs-rest) at probability and percentile thresholds. Charts such as ROC,
/// precision-recall and lift curves are drawn from it.
///
/// Build one from predictions with [`AccuracyTable::from_scores`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccuracyTable {
    /// The classes.
    pub class_labels: Vec<String>,
    /// Thresholds evenly spaced from 0 to 1.
    pub probability_thresholds: Vec<f64>,
    /// Thresholds at evenly spaced percentiles of the scores.
    pub percentile_thresholds: Vec<f64>,
    /// `[class][threshold] = [tp, fp, tn, fn]` at each probability threshold.
    pub probability_tables: Vec<Vec<[u64; 4]>>,
    /// `[class][threshold] = [tp, fp, tn, fn]` at each percentile threshold.
    pub percentile_tables: Vec<Vec<[u64; 4]>>,
}

impl AccuracyTable {
    /// Computes the table from the true class of each sample and its predicted probability of
    /// each class, at `num_points` thresholds (Azure ML uses 100).
    ///
    /// ```
    /// use run_runtime::AccuracyTable;
    /// let t = AccuracyTable::from_scores(
    ///     &["no", "yes"],
    ///     &[0, 1, 1],
    ///     &[vec![0.8, 0.2], vec![0.3, 0.7], vec![0.6, 0.4]],
    ///     5,
    /// )?;
    /// // At threshold 0.5 class "yes" has one true positive and one false negative.
    /// assert_eq!(t.probability_tables[1][2], [1, 0, 1, 1]);
    /// # Ok::<(), run_runtime::Error>(())
    /// ```
    pub fn from_scores(
        class_labels: &[impl ToString],
        y_true: &[usize],
        probabilities: &[Vec<f64>],
        num_points: usize,
    ) -> Result<Self> {
        let labels: Vec<String> = class_labels.iter().map(ToString::to_string).collect();
        let name = "accuracy table";
        let bad = |reason: String| Err(Error::invalid_data(name, "accuracy_table", reason));
        if num_points < 2 {
            return bad(format!("num_points is {num_points}; use at least 2"));
        }
        if y_true.len() != probabilities.len() || y_true.is_empty() {
            return bad(format!(
                "{} labels for {} rows of probabilities; give one of each per sample",
                y_true.len(),
                probabilities.len()
            ));
        }
        if let Some((i, row)) = probabilities
            .iter()
            .enumerate()
            .find(|(_, r)| r.len() != labels.len())
        {
            return bad(format!(
                "row {i} has {} probabilities for {} classes",
                row.len(),
                labels.len()
            ));
        }
        if let Some((i, y)) = y_true.iter().enumerate().find(|(_, y)| **y >= labels.len()) {
            return bad(format!(
                "sample {i} has class {y}, but there are {} classes",
                labels.len()
            ));
        }
        let step = 1.0 / (num_points - 1) as f64;
        let probability_thresholds: Vec<f64> = (0..num_points).map(|i| i as f64 * step).collect();
        let mut all: Vec<f64> = probabilities.iter().flatten().copied().collect();
        all.sort_by(f64::total_cmp);
        let percentile_thresholds: Vec<f64> = (0..num_points)
            .map(|i| {
                let at = ((i as f64 * step) * (all.len() - 1) as f64).round() as usize;
                all[at]
            })
            .collect();
        let tables = |thresholds: &[f64]| -> Vec<Vec<[u64; 4]>> {
            (0..labels.len())
                .map(|class| {
                    thresholds
                        .iter()
                        .map(|&t| {
                            let mut c = [0u64; 4];
                            for (y, p) in y_true.iter().zip(probabilities) {
                                let predicted = p[class] >= t;
                                let actual = *y == class;
                                let slot = match (predicted, actual) {
                                    (true, true) => 0,
                                    (true, false) => 1,
                                    (false, false) => 2,
                                    (false, true) => 3,
                                };
                                c[slot] += 1;
                            }
                            c
                        })
                        .collect()
                })
                .collect()
        };
        Ok(AccuracyTable {
            probability_tables: tables(&probability_thresholds),
            percentile_tables: tables(&percentile_thresholds),
            class_labels: labels,
            probability_thresholds,
            percentile_thresholds,
        })
    }

    pub(crate) fn to_document(&self, name: &str) -> Result<Value> {
        let bad = |reason: String| Err(Error::invalid_data(name, "accuracy_table", reason));
        let classes = self.class_labels.len();
        if classes == 0 {
            return bad("there are no class labels".into());
        }
        unique_labels(name, "accuracy_table", &self.class_labels)?;
        for (kind, thresholds, tables) in [
            (
                "probability",
                &self.probability_thresholds,
                &self.probability_tables,
            ),
            (
                "percentile",
                &self.percentile_thresholds,
                &self.percentile_tables,
            ),
        ] {
            if tables.len() != classes {
                return bad(format!(
                    "{kind}_tables has {} classes, class_labels {classes}",
                    tables.len()
                ));
            }
            if let Some((c, t)) = tables
                .iter()
                .enumerate()
                .find(|(_, t)| t.len() != thresholds.len())
            {
                return bad(format!(
                    "{kind}_tables[{c}] has {} rows for {} {kind}_thresholds",
                    t.len(),
                    thresholds.len()
                ));
            }
            if thresholds.iter().any(|t| !t.is_finite()) {
                return bad(format!("{kind}_thresholds must be finite"));
            }
        }
        let data = serde_json::to_value(self).expect("accuracy table serializes");
        Ok(document("accuracy_table", "1.0.1", data))
    }
}

/// Azure ML's residuals histogram: counts of `y_true - y_pred` in bins.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Residuals {
    /// `n + 1` increasing bin edges.
    pub bin_edges: Vec<f64>,
    /// `n` counts.
    pub bin_counts: Vec<u64>,
}

impl Residuals {
    /// Bins `residuals` into `bins` equal bins between their smallest and largest value.
    ///
    /// ```
    /// let r = run_runtime::Residuals::from_values(&[-1.0, 0.0, 0.5, 1.0], 2)?;
    /// assert_eq!(r.bin_edges, vec![-1.0, 0.0, 1.0]);
    /// assert_eq!(r.bin_counts, vec![1, 3]);
    /// # Ok::<(), run_runtime::Error>(())
    /// ```
    pub fn from_values(residuals: &[f64], bins: usize) -> Result<Self> {
        let (bin_edges, bin_of) = histogram("residuals", "residuals", residuals, bins)?;
        let mut bin_counts = vec![0u64; bins];
        for &r in residuals {
            bin_counts[bin_of(r)] += 1;
        }
        Ok(Residuals {
            bin_edges,
            bin_counts,
        })
    }

    pub(crate) fn to_document(&self, name: &str) -> Result<Value> {
        check_edges(name, "residuals", &self.bin_edges, self.bin_counts.len())?;
        let data = serde_json::to_value(self).expect("residuals serialize");
        Ok(document("residuals", "1.0.0", data))
    }
}

/// Azure ML's predicted-versus-true chart: for bins of the true value, the average prediction
/// and its standard error.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Predictions {
    /// The average prediction in each bin.
    pub bin_averages: Vec<f64>,
    /// The standard error of the predictions in each bin.
    pub bin_errors: Vec<f64>,
    /// How many samples fall in each bin.
    pub bin_counts: Vec<u64>,
    /// `n + 1` increasing edges of the bins of the true value.
    pub bin_edges: Vec<f64>,
}

impl Predictions {
    /// Bins samples by their true value into `bins` equal bins.
    ///
    /// ```
    /// let p = run_runtime::Predictions::from_values(&[0.0, 1.0, 2.0, 3.0], &[0.5, 1.5, 2.0, 3.0], 2)?;
    /// assert_eq!(p.bin_counts, vec![2, 2]);
    /// assert_eq!(p.bin_averages, vec![1.0, 2.5]);
    /// # Ok::<(), run_runtime::Error>(())
    /// ```
    pub fn from_values(y_true: &[f64], y_pred: &[f64], bins: usize) -> Result<Self> {
        if y_true.len() != y_pred.len() {
            return Err(Error::invalid_data(
                "predictions",
                "predictions",
                format!(
                    "{} true values for {} predictions",
                    y_true.len(),
                    y_pred.len()
                ),
            ));
        }
        let (bin_edges, bin_of) = histogram("predictions", "predictions", y_true, bins)?;
        let mut sums = vec![(0u64, 0.0f64, 0.0f64); bins];
        for (&t, &p) in y_true.iter().zip(y_pred) {
            let s = &mut sums[bin_of(t)];
            s.0 += 1;
            s.1 += p;
            s.2 += p * p;
        }
        let mut out = Predictions {
            bin_averages: vec![],
            bin_errors: vec![],
            bin_counts: vec![],
            bin_edges,
        };
        for (n, sum, squares) in sums {
            let mean = if n == 0 { 0.0 } else { sum / n as f64 };
            let var = if n < 2 {
                0.0
            } else {
                ((squares - n as f64 * mean * mean) / (n - 1) as f64).max(0.0)
            };
            out.bin_counts.push(n);
            out.bin_averages.push(mean);
            out.bin_errors
                .push(if n == 0 { 0.0 } else { (var / n as f64).sqrt() });
        }
        Ok(out)
    }

    pub(crate) fn to_document(&self, name: &str) -> Result<Value> {
        let n = self.bin_counts.len();
        check_edges(name, "predictions", &self.bin_edges, n)?;
        if self.bin_averages.len() != n || self.bin_errors.len() != n {
            return Err(Error::invalid_data(
                name,
                "predictions",
                format!(
                    "bin_averages ({}), bin_errors ({}) and bin_counts ({n}) must have equal lengths",
                    self.bin_averages.len(),
                    self.bin_errors.len()
                ),
            ));
        }
        if self
            .bin_averages
            .iter()
            .chain(&self.bin_errors)
            .any(|v| !v.is_finite())
        {
            return Err(Error::invalid_data(
                name,
                "predictions",
                "averages and errors must be finite",
            ));
        }
        let data = serde_json::to_value(self).expect("predictions serialize");
        Ok(document("predictions", "1.0.0", data))
    }
}

type BinOf = Box<dyn Fn(f64) -> usize>;

fn histogram(
    name: &str,
    schema: &'static str,
    values: &[f64],
    bins: usize,
) -> Result<(Vec<f64>, BinOf)> {
    if bins == 0 {
        return Err(Error::invalid_data(
            name,
            schema,
            "bins is 0; use at least 1",
        ));
    }
    if values.is_empty() {
        return Err(Error::invalid_data(name, schema, "there are no values"));
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid_data(name, schema, "values must be finite"));
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let width = if hi > lo {
        (hi - lo) / bins as f64
    } else {
        1.0
    };
    let edges = (0..=bins)
        .map(|i| {
            if i == bins && hi > lo {
                hi
            } else {
                lo + i as f64 * width
            }
        })
        .collect();
    let bin_of = move |v: f64| (((v - lo) / width) as usize).min(bins - 1);
    Ok((edges, Box::new(bin_of)))
}

fn check_edges(name: &str, schema: &'static str, edges: &[f64], bins: usize) -> Result<()> {
    if bins == 0 {
        return Err(Error::invalid_data(name, schema, "there are no bins"));
    }
    if edges.len() != bins + 1 {
        return Err(Error::invalid_data(
            name,
            schema,
            format!(
                "{bins} bins need {} bin_edges, and there are {}",
                bins + 1,
                edges.len()
            ),
        ));
    }
    if edges.iter().any(|e| !e.is_finite()) || edges.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Error::invalid_data(
            name,
            schema,
            "bin_edges must be finite and increasing",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_matrix_has_azure_mls_shape() {
        let doc = confusion_matrix("cm", &["a", "b"], &[[3u32, 1], [0, 4]]).unwrap();
        assert_eq!(
            doc,
            json!({"schema_type": "confusion_matrix", "schema_version": "1.0.0",
                   "data": {"class_labels": ["a", "b"], "matrix": [[3, 1], [0, 4]]}})
        );
    }

    #[test]
    fn confusion_matrix_shape_errors() {
        let err = |r: Result<Value>| r.unwrap_err().to_string();
        let e = err(confusion_matrix("cm", &["a", "b"], &[vec![1, 2], vec![3]]));
        assert!(e.contains("must be square, but row 1 has 1 values"), "{e}");
        let e = err(confusion_matrix("cm", &["a"], &[[1, 2], [3, 4]]));
        assert!(e.contains("1 class labels for a 2x2 matrix"), "{e}");
        let e = err(confusion_matrix("cm", &["a", "a"], &[[1, 2], [3, 4]]));
        assert!(e.contains("appears twice"), "{e}");
        let e = err(confusion_matrix(
            "cm",
            &["a", "b"],
            &[[1.0, f64::NAN], [3.0, 4.0]],
        ));
        assert!(e.contains("cell [0][1] is NaN"), "{e}");
        let e = err(confusion_matrix::<&str, u8>("cm", &[], &[] as &[[u8; 0]]));
        assert!(e.contains("empty"), "{e}");
    }

    #[test]
    fn tables_need_equal_columns_and_rows_need_the_same_columns() {
        let cols = vec![
            ("a".to_string(), vec![json!(1), json!(2)]),
            ("b".to_string(), vec![json!(1)]),
        ];
        let e = Table::from_columns("t", cols).unwrap_err().to_string();
        assert!(e.contains("\"a\" has 2 values and \"b\" has 1"), "{e}");

        let mut t = Table::default();
        t.push_row("t", vec![("x".into(), json!(1)), ("y".into(), json!("a"))])
            .unwrap();
        t.push_row("t", vec![("y".into(), json!("b")), ("x".into(), json!(2))])
            .unwrap();
        let e = t
            .push_row("t", vec![("x".into(), json!(3))])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("columns of the first one (x, y), but this row has (x)"),
            "{e}"
        );
        assert_eq!(
            t.to_document()["data"],
            json!({"x": [1, 2], "y": ["a", "b"]})
        );
        assert_eq!(
            Table::from_document(&t.to_document())
                .unwrap()
                .to_document(),
            t.to_document()
        );
    }

    #[test]
    fn accuracy_table_counts_one_vs_rest() {
        let t = AccuracyTable::from_scores(
            &["a", "b", "c"],
            &[0, 1, 2, 2],
            &[
                vec![0.7, 0.2, 0.1],
                vec![0.1, 0.8, 0.1],
                vec![0.2, 0.2, 0.6],
                vec![0.5, 0.1, 0.4],
            ],
            3,
        )
        .unwrap();
        assert_eq!(t.probability_thresholds, vec![0.0, 0.5, 1.0]);
        // Threshold 0: everything is predicted positive.
        assert_eq!(t.probability_tables[2][0], [2, 2, 0, 0]);
        // Threshold 0.5, class c: sample 2 is a TP, sample 3 (0.4) a FN.
        assert_eq!(t.probability_tables[2][1], [1, 0, 2, 1]);
        for class in &t.probability_tables {
            for row in class {
                assert_eq!(row.iter().sum::<u64>(), 4);
            }
        }
        let doc = t.to_document("acc").unwrap();
        assert_eq!(doc["schema_type"], "accuracy_table");
        assert_eq!(doc["data"]["probability_tables"][2][1], json!([1, 0, 2, 1]));

        let mut broken = t.clone();
        broken.percentile_tables[1].pop();
        let e = broken.to_document("acc").unwrap_err().to_string();
        assert!(
            e.contains("percentile_tables[1] has 2 rows for 3 percentile_thresholds"),
            "{e}"
        );
    }

    #[test]
    fn residuals_and_predictions_check_their_bins() {
        let r = Residuals {
            bin_edges: vec![0.0, 1.0],
            bin_counts: vec![1, 2],
        };
        let e = r.to_document("r").unwrap_err().to_string();
        assert!(e.contains("2 bins need 3 bin_edges"), "{e}");
        let p = Predictions::from_values(&[1.0, 2.0], &[1.0], 2)
            .unwrap_err()
            .to_string();
        assert!(p.contains("2 true values for 1 predictions"), "{p}");
        let p = Predictions::from_values(&[0.0, 0.0, 1.0, 1.0], &[0.0, 1.0, 1.0, 1.0], 2).unwrap();
        assert_eq!(p.bin_averages, vec![0.5, 1.0]);
        assert!((p.bin_errors[0] - 0.5).abs() < 1e-12);
        let doc = p.to_document("p").unwrap();
        assert_eq!(doc["schema_type"], "predictions");
        assert_eq!(doc["data"]["bin_counts"], json!([2, 2]));
    }

    #[test]
    fn cells_keep_non_finite_numbers_as_strings() {
        assert_eq!(f64::NAN.into_value(), json!("NaN"));
        assert_eq!(2.0f64.into_value(), json!(2));
        assert_eq!(2.5f32.into_value(), json!(2.5));
        assert_eq!(Some("x").into_value(), json!("x"));
        assert_eq!(None::<i32>.into_value(), Value::Null);
    }
}
