//! Tables as MLflow's own `log_table` records them, so that the MLflow UI shows them as tables.
//!
//! MLflow 3.17.2's `MlflowClient.log_table` (`mlflow/tracking/client.py`) writes the table with
//! pandas' `DataFrame.to_json(orient="split", index=False)`:
//!
//! ```json
//! {"columns": ["x", "y"], "data": [[1, "a"], [2, "b"]]}
//! ```
//!
//! and appends `{"path": <artifact file>, "type": "table"}` to the JSON list in the run's tag
//! `mlflow.loggedArtifacts`, keeping what the list held. The UI shows the files that list names as
//! tables, and `mlflow.load_table` finds runs by that tag (a SQL `LIKE` on
//! `"path"%:%"<file>",%"type"%:%"table"`) and reads the files back.
//!
//! Every table-like record (a table, a row-by-row table, a confusion matrix, an accuracy table,
//! residuals, predictions) gets such a copy beside its Azure ML document, at
//! `runctx.tables/<name>.json` in the run's artifacts: a folder of its own, so that the copy of
//! table `x` can never replace a user's `x.json`, nor the Azure ML document of table
//! `runctx.tables/x`: user artifact names in that folder are refused ([`check_not_reserved`]).

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::tables::{Table, number};

/// The folder of the run's artifacts that holds the copies.
pub(crate) const TABLES_DIR: &str = "runctx.tables";

/// The run tag that lists the artifacts MLflow shows specially.
pub(crate) const LOGGED_ARTIFACTS_TAG: &str = "mlflow.loggedArtifacts";

/// The artifact path of the copy of table `name`.
pub(crate) fn path_of(name: &str) -> String {
    format!("{TABLES_DIR}/{name}.json")
}

/// Refuses a user artifact name (a file, a folder, an image or a table's document) in the
/// folder of the copies. The comparison ignores ASCII case, as case-insensitive file systems do.
pub(crate) fn check_not_reserved(name: &str) -> Result<()> {
    let first = name.split('/').next().unwrap_or_default();
    if first.eq_ignore_ascii_case(TABLES_DIR) {
        return Err(Error::InvalidArtifact {
            name: name.to_owned(),
            reason: format!(
                "the folder {TABLES_DIR}/ holds the copies of tables that the MLflow UI shows; \
                 choose a name outside it"
            ),
        });
    }
    Ok(())
}

/// A table in the shape of pandas' `to_json(orient="split", index=False)`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SplitTable {
    columns: Vec<String>,
    data: Vec<Vec<Value>>,
}

impl SplitTable {
    /// The file's bytes.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&json!({ "columns": self.columns, "data": self.data }))
            .expect("JSON values serialize")
    }

    /// A table's rows, its columns in their order.
    pub(crate) fn of_table(table: &Table) -> SplitTable {
        let columns = table.columns();
        let rows = columns.first().map_or(0, |(_, values)| values.len());
        SplitTable {
            columns: columns.iter().map(|(c, _)| c.clone()).collect(),
            data: (0..rows)
                .map(|i| columns.iter().map(|(_, v)| v[i].clone()).collect())
                .collect(),
        }
    }

    /// The table form of an Azure ML document this crate wrote: a confusion matrix (a row per
    /// true label, a column per predicted label), an accuracy table, residuals or predictions
    /// (a row per class and threshold, or per bin). `None` for a table (see
    /// [`SplitTable::of_table`]) or a document of another shape.
    pub(crate) fn of_document(doc: &Value) -> Option<SplitTable> {
        let data = doc.get("data")?;
        match doc.get("schema_type")?.as_str()? {
            "confusion_matrix" => confusion_matrix(data),
            "accuracy_table" => accuracy_table(data),
            "residuals" => bins(data, &[]),
            "predictions" => bins(data, &["bin_averages", "bin_errors"]),
            _ => None,
        }
    }
}

fn confusion_matrix(data: &Value) -> Option<SplitTable> {
    let labels: Vec<String> = strings(data.get("class_labels")?)?;
    // The first column holds the true label; its name must not be a class label's.
    let mut first = String::from("true label");
    while labels.contains(&first) {
        first.push('_');
    }
    let mut columns = vec![first];
    columns.extend(labels.iter().cloned());
    let rows = data.get("matrix")?.as_array()?;
    let data = labels
        .iter()
        .zip(rows)
        .map(|(label, row)| {
            let mut out = vec![Value::from(label.as_str())];
            out.extend(row.as_array()?.iter().cloned());
            Some(out)
        })
        .collect::<Option<Vec<_>>>()?;
    Some(SplitTable { columns, data })
}

fn accuracy_table(data: &Value) -> Option<SplitTable> {
    let labels = strings(data.get("class_labels")?)?;
    let columns = [
        "class",
        "threshold_type",
        "threshold",
        "tp",
        "fp",
        "tn",
        "fn",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = Vec::new();
    for kind in ["probability", "percentile"] {
        let thresholds = data.get(format!("{kind}_thresholds"))?.as_array()?;
        let tables = data.get(format!("{kind}_tables"))?.as_array()?;
        for (label, table) in labels.iter().zip(tables) {
            for (threshold, counts) in thresholds.iter().zip(table.as_array()?) {
                let mut row = vec![json!(label), json!(kind), threshold.clone()];
                row.extend(counts.as_array()?.iter().cloned());
                rows.push(row);
            }
        }
    }
    Some(SplitTable {
        columns,
        data: rows,
    })
}

/// A row per bin: its edges, its count, and the values of `extra` (arrays of the document
/// named like the columns, without the `s`).
fn bins(data: &Value, extra: &[&str]) -> Option<SplitTable> {
    let edges = data.get("bin_edges")?.as_array()?;
    let counts = data.get("bin_counts")?.as_array()?;
    let extra: Vec<&Vec<Value>> = extra
        .iter()
        .map(|k| data.get(*k)?.as_array())
        .collect::<Option<_>>()?;
    let mut columns = vec!["bin_start".to_owned(), "bin_end".into(), "bin_count".into()];
    columns.extend(
        ["bin_average", "bin_error"]
            .iter()
            .take(extra.len())
            .map(|c| (*c).to_owned()),
    );
    let data = counts
        .iter()
        .enumerate()
        .map(|(i, count)| {
            let edge = |j: usize| edges.get(j).and_then(Value::as_f64).map(number);
            let mut row = vec![edge(i)?, edge(i + 1)?, count.clone()];
            for values in &extra {
                row.push(values.get(i)?.clone());
            }
            Some(row)
        })
        .collect::<Option<Vec<_>>>()?;
    Some(SplitTable { columns, data })
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|s| s.as_str().map(String::from))
        .collect()
}

/// The entries of a run's `mlflow.loggedArtifacts` tag, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LoggedArtifacts {
    entries: Vec<Value>,
}

/// What adding a table to the list did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Added {
    /// The list already had it.
    Listed,
    /// The tag's new value.
    Tag(String),
    /// The value would be longer than a tag may be: the table is not listed.
    Full,
}

impl LoggedArtifacts {
    /// The list a tag value holds. A value that is not a JSON list (set by hand) is replaced by
    /// the next table: `Err` says so, for the caller to report.
    pub(crate) fn parse(value: Option<&str>) -> std::result::Result<Self, String> {
        let Some(value) = value else {
            return Ok(LoggedArtifacts::default());
        };
        match serde_json::from_str::<Vec<Value>>(value) {
            Ok(entries) => Ok(LoggedArtifacts { entries }),
            Err(e) => Err(format!(
                "the tag {LOGGED_ARTIFACTS_TAG} is not a JSON list ({e}); the next table replaces it"
            )),
        }
    }

    /// Adds table file `path` to the list.
    pub(crate) fn add_table(&mut self, path: &str) -> Added {
        let entry = table_entry(path);
        if self.entries.contains(&entry) {
            return Added::Listed;
        }
        self.entries.push(entry);
        let value = self.value();
        if value.chars().count() > crate::validate::MAX_TAG_CHARS {
            self.entries.pop();
            return Added::Full;
        }
        Added::Tag(value)
    }

    /// The tag value, written as MLflow's client writes it (`json.dumps`: `", "` and `": "`
    /// between items), except that non-ASCII characters stay as they are, where `json.dumps`
    /// escapes them: `load_table`'s `LIKE` on the file name only matches them unescaped.
    pub(crate) fn value(&self) -> String {
        let items: Vec<String> = self.entries.iter().map(python_json).collect();
        format!("[{}]", items.join(", "))
    }

    /// `server`'s entries followed by those of `self` it lacks, as far as they fit in a tag
    /// value: what the tag becomes on a server run that may already list artifacts (a run an
    /// engine made, attached by `MLFLOW_RUN_ID`). Also how many of `self`'s did not fit.
    #[cfg_attr(not(feature = "mlflow"), allow(dead_code))]
    pub(crate) fn merged_into(&self, server: &LoggedArtifacts) -> (LoggedArtifacts, usize) {
        let mut merged = server.clone();
        let mut left_out = 0;
        for entry in &self.entries {
            if merged.entries.contains(entry) {
                continue;
            }
            merged.entries.push(entry.clone());
            if merged.value().chars().count() > crate::validate::MAX_TAG_CHARS {
                merged.entries.pop();
                left_out += 1;
            }
        }
        (merged, left_out)
    }
}

fn table_entry(path: &str) -> Value {
    json!({ "path": path, "type": "table" })
}

/// JSON as Python's `json.dumps` writes it with its default separators, `", "` and `": "`; object
/// keys in their order (serde_json's maps are sorted, and `"path"` comes before `"type"`, the
/// order `load_table`'s `LIKE` expects).
fn python_json(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(python_json).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::from(k.as_str()), python_json(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::{AccuracyTable, Predictions, Residuals, confusion_matrix as cm_doc};

    #[test]
    fn a_table_keeps_its_column_order_and_has_a_row_per_row() {
        let table = Table::from_columns(
            "t",
            [
                ("z".to_string(), vec![json!(1), json!(2)]),
                ("a".to_string(), vec![json!("x"), json!(null)]),
            ],
        )
        .unwrap();
        let split = SplitTable::of_table(&table);
        assert_eq!(
            String::from_utf8(split.to_bytes()).unwrap(),
            r#"{"columns":["z","a"],"data":[[1,"x"],[2,null]]}"#
        );
        let empty = Table::from_columns("t", [("a".to_string(), vec![])]).unwrap();
        assert_eq!(
            SplitTable::of_table(&empty).to_bytes(),
            br#"{"columns":["a"],"data":[]}"#
        );
    }

    #[test]
    fn a_confusion_matrix_has_a_row_per_true_label() {
        let doc = cm_doc("cm", &["cat", "true label"], &[[5, 1], [2, 7]]).unwrap();
        let split = SplitTable::of_document(&doc).unwrap();
        assert_eq!(
            split,
            SplitTable {
                // A class label takes the first column's name: it gets an underscore.
                columns: vec!["true label_".into(), "cat".into(), "true label".into()],
                data: vec![
                    vec![json!("cat"), json!(5), json!(1)],
                    vec![json!("true label"), json!(2), json!(7)],
                ],
            }
        );
    }

    #[test]
    fn accuracy_tables_residuals_and_predictions_have_a_row_per_class_threshold_or_bin() {
        let t = AccuracyTable::from_scores(
            &["no", "yes"],
            &[0, 1],
            &[vec![0.8, 0.2], vec![0.3, 0.7]],
            2,
        )
        .unwrap();
        let split = SplitTable::of_document(&t.to_document("acc").unwrap()).unwrap();
        assert_eq!(
            split.columns,
            [
                "class",
                "threshold_type",
                "threshold",
                "tp",
                "fp",
                "tn",
                "fn"
            ]
        );
        // 2 classes x 2 thresholds x (probability, percentile).
        assert_eq!(split.data.len(), 8);
        assert_eq!(
            split.data[2],
            vec![
                json!("yes"),
                json!("probability"),
                json!(0.0),
                json!(1),
                json!(1),
                json!(0),
                json!(0)
            ]
        );
        assert_eq!(split.data[4][1], "percentile");

        let r = Residuals::from_values(&[-1.0, 0.0, 0.5, 1.0], 2).unwrap();
        let split = SplitTable::of_document(&r.to_document("r").unwrap()).unwrap();
        assert_eq!(split.columns, ["bin_start", "bin_end", "bin_count"]);
        assert_eq!(
            split.data,
            vec![
                vec![json!(-1), json!(0), json!(1)],
                vec![json!(0), json!(1), json!(3)]
            ]
        );

        let p = Predictions::from_values(&[0.0, 1.0, 2.0, 3.0], &[0.5, 1.5, 2.0, 3.0], 2).unwrap();
        let split = SplitTable::of_document(&p.to_document("p").unwrap()).unwrap();
        assert_eq!(
            split.columns,
            [
                "bin_start",
                "bin_end",
                "bin_count",
                "bin_average",
                "bin_error"
            ]
        );
        assert_eq!(
            split.data[1][..4],
            [json!(1.5), json!(3), json!(2), json!(2.5)]
        );
    }

    #[test]
    fn the_tag_lists_each_table_once_as_mlflows_client_writes_it() {
        let mut logged = LoggedArtifacts::parse(Some(
            r#"[{"path": "eval.json", "type": "table"}, {"path": "x.png", "type": "image"}]"#,
        ))
        .unwrap();
        assert_eq!(
            logged.add_table("runctx.tables/ü t.json"),
            Added::Tag(
                r#"[{"path": "eval.json", "type": "table"}, {"path": "x.png", "type": "image"}, {"path": "runctx.tables/ü t.json", "type": "table"}]"#
                    .into()
            )
        );
        assert_eq!(logged.add_table("runctx.tables/ü t.json"), Added::Listed);
        assert!(LoggedArtifacts::parse(Some("not json")).is_err());

        // A list that would not fit in a tag value is not extended.
        let mut logged = LoggedArtifacts::default();
        let mut added = 0;
        while let Added::Tag(v) = logged.add_table(&path_of(&format!("table {added:04}"))) {
            assert!(v.chars().count() <= crate::validate::MAX_TAG_CHARS);
            added += 1;
        }
        assert!(added > 100, "{added}");
        assert_eq!(logged.add_table(&path_of("one more")), Added::Full);
        assert_eq!(logged.entries.len(), added);
    }

    #[test]
    fn merging_keeps_the_servers_entries_first_and_adds_the_missing_ones() {
        let ours = LoggedArtifacts::parse(Some(
            r#"[{"path": "runctx.tables/a.json", "type": "table"}, {"path": "b.json", "type": "table"}]"#,
        ))
        .unwrap();
        let server =
            LoggedArtifacts::parse(Some(r#"[{"path": "b.json", "type": "table"}]"#)).unwrap();
        let (merged, left_out) = ours.merged_into(&server);
        assert_eq!(left_out, 0);
        assert_eq!(
            merged.value(),
            r#"[{"path": "b.json", "type": "table"}, {"path": "runctx.tables/a.json", "type": "table"}]"#
        );
    }

    #[test]
    fn names_in_the_folder_of_the_copies_are_reserved() {
        for name in ["runctx.tables/x.json", "RUNCTX.Tables/x", "runctx.tables"] {
            let e = check_not_reserved(name).unwrap_err().to_string();
            assert!(e.contains("choose a name outside it"), "{e}");
        }
        for name in ["runctx.tables.json", "x/runctx.tables/y", "tables/x.json"] {
            check_not_reserved(name).unwrap();
        }
    }
}
