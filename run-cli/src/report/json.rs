//! JSON artifacts read in bounded memory. A run's files are written by programs we do not
//! trust, and a 5000-class confusion matrix is 25 million numbers: as a `serde_json::Value`,
//! gigabytes. Here a document of any size becomes a tree of at most [`BUDGET`] bytes: each
//! array and object keeps its first [`ITEMS`] entries (while the budget lasts) and knows how
//! many it has, each string its first [`TEXT`] bytes. The rest is read past, not kept.

use std::cell::Cell;
use std::fmt;
use std::io::Read;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

/// Entries an array or object keeps.
pub const ITEMS: usize = 10_000;
/// Bytes a string keeps (cut at a character boundary).
const TEXT: usize = 4096;
/// Bytes the whole tree may take, about: enough for 50 rows of a 10,000-class matrix.
const BUDGET: usize = 32 * 1024 * 1024;

/// A JSON value; arrays and objects may hold fewer entries than the document had.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(Number),
    Text(String),
    Array(List<Json>),
    Object(List<(String, Json)>),
}

/// The first entries of an array or object, and how many the document has.
#[derive(Debug, Clone, PartialEq)]
pub struct List<T> {
    pub items: Vec<T>,
    pub len: usize,
}

impl<T> List<T> {
    /// Whether every entry was kept.
    pub fn complete(&self) -> bool {
        self.items.len() == self.len
    }
}

static NULL: Json = Json::Null;

impl Json {
    /// Reads a document from `reader`, keeping what the bounds allow.
    pub fn read(reader: impl Read) -> Result<Json, serde_json::Error> {
        let budget = Cell::new(BUDGET);
        let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::new(reader));
        let json = Seed {
            budget: &budget,
            depth: 0,
        }
        .deserialize(&mut de)?;
        de.end()?;
        Ok(json)
    }

    /// The member `key` of an object, or null.
    pub fn get(&self, key: &str) -> &Json {
        let Json::Object(members) = self else {
            return &NULL;
        };
        members
            .items
            .iter()
            .find(|(k, _)| k == key)
            .map_or(&NULL, |(_, v)| v)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&List<Json>> {
        match self {
            Json::Array(list) => Some(list),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&List<(String, Json)>> {
        match self {
            Json::Object(list) => Some(list),
            _ => None,
        }
    }

    /// The value to show as JSON text: what was left out of an array or object is said in
    /// a last entry, `"… 24990000 more"`.
    pub fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::Text(s) => Value::String(s.clone()),
            Json::Array(list) => {
                let mut items: Vec<Value> = list.items.iter().map(Json::to_value).collect();
                if !list.complete() {
                    items.push(Value::String(more(list)));
                }
                Value::Array(items)
            }
            Json::Object(list) => {
                let mut members: serde_json::Map<String, Value> = list
                    .items
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect();
                if !list.complete() {
                    members.insert(String::from("…"), Value::String(more(list)));
                }
                Value::Object(members)
            }
        }
    }
}

fn more<T>(list: &List<T>) -> String {
    format!("… {} more", list.len - list.items.len())
}

/// Builds a [`Json`] from what the deserializer reads, drawing on a shared byte budget.
#[derive(Clone, Copy)]
struct Seed<'a> {
    budget: &'a Cell<usize>,
    /// 0 for the document itself.
    depth: usize,
}

impl Seed<'_> {
    /// Takes `bytes` from the budget, if it has them.
    fn spend(&self, bytes: usize) -> bool {
        let left = self.budget.get();
        self.budget.set(left.saturating_sub(bytes));
        left >= bytes
    }

    /// Whether the entry at `index` of a container can be kept. The document's own members
    /// always are: `schema_type` must survive a huge `data` before it (keys are written in
    /// order).
    fn keep(&self, index: usize) -> bool {
        index < ITEMS && (self.spend(std::mem::size_of::<Json>()) || self.depth == 0)
    }

    fn child(self) -> Self {
        Seed {
            depth: self.depth + 1,
            ..self
        }
    }

    fn text(&self, s: &str) -> Json {
        let cut = (0..=s.len().min(TEXT))
            .rev()
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        self.spend(cut);
        Json::Text(s[..cut].to_owned())
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Json;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Number::from_f64(v).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(self.text(v))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        let mut len = 0;
        loop {
            let more = if self.keep(len) {
                seq.next_element_seed(self.child())?.map(|v| items.push(v))
            } else {
                seq.next_element::<IgnoredAny>()?.map(drop)
            };
            if more.is_none() {
                break;
            }
            len += 1;
        }
        Ok(Json::Array(List { items, len }))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        let mut len = 0;
        while let Some(key) = map.next_key::<String>()? {
            if self.keep(len) {
                self.spend(key.len());
                items.push((key, map.next_value_seed(self.child())?));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
            len += 1;
        }
        Ok(Json::Object(List { items, len }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_documents_are_read_whole() {
        let text = r#"{"schema_type": "table", "data": {"a": [1, -2, 0.5, null, true, "x"]}}"#;
        let json = Json::read(text.as_bytes()).unwrap();
        assert_eq!(json.get("schema_type").as_str(), Some("table"));
        let a = json.get("data").get("a").as_array().unwrap();
        assert!(a.complete() && a.len == 6);
        let back: Value = serde_json::from_str(text).unwrap();
        assert_eq!(json.to_value(), back);
        assert!(Json::read("[1, 2".as_bytes()).is_err());
        assert!(Json::read("[1] [2]".as_bytes()).is_err(), "one document");
    }

    #[test]
    fn a_huge_document_keeps_its_first_entries_and_counts_the_rest() {
        let n = 3 * ITEMS;
        let row = format!("[{}0]", "1,".repeat(n - 1));
        let text = format!(
            r#"{{"data": {{"matrix": [{}]}}, "schema_type": "confusion_matrix", "long": "{}"}}"#,
            vec![row; 1000].join(","),
            "é".repeat(TEXT)
        );
        let json = Json::read(text.as_bytes()).unwrap();
        assert_eq!(json.get("schema_type").as_str(), Some("confusion_matrix"));
        let matrix = json.get("data").get("matrix").as_array().unwrap();
        assert_eq!(matrix.len, 1000);
        let kept: usize = matrix
            .items
            .iter()
            .map(|r| r.as_array().unwrap().items.len())
            .sum();
        assert!(
            kept * std::mem::size_of::<Json>() <= BUDGET,
            "{kept} numbers kept"
        );
        let first = matrix.items[0].as_array().unwrap();
        assert_eq!((first.items.len(), first.len), (ITEMS, n));
        assert_eq!(json.get("long").as_str().unwrap().len(), TEXT);
        let shown = json.get("data").get("matrix").to_value();
        assert_eq!(
            shown[0][ITEMS],
            Value::from(format!("… {} more", n - ITEMS))
        );
    }
}
