//! Searching runs with MLflow's `search_runs` filter and `order_by` grammar: the same string
//! offline ([`Store::search`]) and on a tracking server.
//!
//! Offline results follow what an MLflow 3.17.2 server on its SQL store answers for the same
//! runs (docs/search.md lists the rules, and `tests/tests/online.rs` compares the two):
//! - a metric is its latest point (highest step, then timestamp, then value); a NaN satisfies only
//!   `!=` (IEEE 754), and the infinities compare as the greatest and least finite values, as the
//!   server stores them;
//! - a clause on a key a run does not have never matches, `!=` included (`IS NULL` is how to ask
//!   for a missing param or tag);
//! - `LIKE` is case-sensitive, `ILIKE` ignores ASCII case, `%` is any text and `_` one
//!   character, with no escape character;
//! - each `order_by` key puts runs that have the key first (for a metric: numbers, then NaN,
//!   then missing, in either direction), then the start time, latest first (unless ordered by
//!   it), then the run id.

mod grammar;
#[cfg(feature = "mlflow")]
mod server;

pub use grammar::{
    Clause, Compare, Filter, OrderBy, SortKey, TextAttribute, TextTest, TimeAttribute,
};
#[cfg(feature = "mlflow")]
pub use server::{ServerPage, ServerRun, ServerRuns};

use std::cmp::Ordering;

use crate::error::{Error, Result};
use crate::overview::RunOverview;
use crate::store::{Store, StoreProblem};

/// The most runs one page may hold (MLflow's `SEARCH_MAX_RESULTS_THRESHOLD`).
pub const MAX_RESULTS_LIMIT: usize = 50_000;

/// One page of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    /// The runs, in order.
    pub runs: Vec<RunOverview>,
    /// The token of the next page, when there are more runs.
    pub next_page_token: Option<String>,
    /// Runs that could not be read (left out), each with why.
    pub problems: Vec<StoreProblem>,
}

impl Store {
    /// The runs that match `filter`, ordered by `order_by` (each entry such as
    /// `metrics.accuracy DESC`), at most `max_results` of them (1 to 50,000), from the page
    /// that `page_token` names (`None` for the first).
    ///
    /// Runs are read from their overviews ([`Store::overview`]): journals are replayed only for
    /// runs whose overview is missing or stale.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let store = run_runtime::Store::new(dir.path());
    /// for (name, acc) in [("a", 0.8), ("b", 0.95), ("c", 0.97)] {
    ///     let run = store.start_run("Default", name)?;
    ///     run.log("accuracy", acc)?;
    ///     run.add_property("model", "knn")?;
    ///     run.complete()?;
    /// }
    /// let page = store.search(
    ///     "metrics.accuracy > 0.9 and params.model = 'knn'",
    ///     &["metrics.accuracy DESC"],
    ///     10,
    ///     None,
    /// )?;
    /// let names: Vec<&str> = page.runs.iter().map(|r| r.meta.name.as_str()).collect();
    /// assert_eq!(names, ["c", "b"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn search<S: AsRef<str>>(
        &self,
        filter: &str,
        order_by: &[S],
        max_results: usize,
        page_token: Option<&str>,
    ) -> Result<SearchPage> {
        let filter = Filter::parse(filter)?;
        let order = OrderBy::parse_all(order_by)?;
        check_max_results(max_results)?;
        let offset = page_token.map(parse_page_token).transpose()?.unwrap_or(0);
        let (mut runs, problems) = self.matching(&filter)?;
        runs.sort_by(|a, b| compare(&order, a, b));
        let total = runs.len();
        let runs: Vec<RunOverview> = runs.into_iter().skip(offset).take(max_results).collect();
        let end = offset + runs.len();
        Ok(SearchPage {
            runs,
            next_page_token: (end < total).then(|| end.to_string()),
            problems,
        })
    }
}

impl Store {
    /// The overviews of the runs matching `filter`, and the runs that could not be read. The
    /// overviews are read on as many threads as there are cores: reading and parsing them is
    /// the whole cost of a search of a large store.
    fn matching(&self, filter: &Filter) -> Result<(Vec<RunOverview>, Vec<StoreProblem>)> {
        let ids = self.ids()?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = ids.len().div_ceil(threads).max(1);
        let parts: Vec<(Vec<RunOverview>, Vec<StoreProblem>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = ids
                .chunks(chunk)
                .map(|ids| scope.spawn(move || self.matching_of(ids, filter)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a search thread does not panic"))
                .collect()
        });
        let mut runs = Vec::new();
        let mut problems = Vec::new();
        for (r, p) in parts {
            runs.extend(r);
            problems.extend(p);
        }
        Ok((runs, problems))
    }

    fn matching_of(
        &self,
        ids: &[String],
        filter: &Filter,
    ) -> (Vec<RunOverview>, Vec<StoreProblem>) {
        let mut runs = Vec::new();
        let mut problems = Vec::new();
        for id in ids {
            match self.overview(id) {
                Ok(overview) if matches(filter, &overview) => runs.push(overview),
                Ok(_) => {}
                Err(e) => problems.push(StoreProblem {
                    path: self.root().join(id),
                    reason: format!("{e}; the run is left out of the search"),
                }),
            }
        }
        (runs, problems)
    }
}

fn check_max_results(n: usize) -> Result<()> {
    if (1..=MAX_RESULTS_LIMIT).contains(&n) {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            what: "max_results",
            value: n.to_string(),
            reason: format!(
                "a page holds 1 to {MAX_RESULTS_LIMIT} runs (MLflow's limit); use page tokens \
                 for more"
            ),
        })
    }
}

fn parse_page_token(token: &str) -> Result<usize> {
    token.parse().map_err(|_| Error::InvalidArgument {
        what: "page_token",
        value: format!("{token:?}"),
        reason: "not a page token of this store's searches; pass the next_page_token of the \
                 previous page, or none for the first"
            .into(),
    })
}

/// `true` when every clause of `filter` holds for the run.
pub fn matches(filter: &Filter, run: &RunOverview) -> bool {
    filter.clauses().iter().all(|c| holds(c, run))
}

fn holds(clause: &Clause, run: &RunOverview) -> bool {
    match clause {
        // A NaN compares as IEEE 754 says on the server (found by tests/tests/online.rs):
        // only `!=` holds, as here.
        Clause::Metric { key, op, value } => run
            .metrics
            .get(key)
            .is_some_and(|m| compare_numbers(*op, stored(m.latest.value), *value)),
        Clause::Property { key, test } => text_holds(test, run.properties.get(key)),
        Clause::Tag { key, test } => text_holds(test, run.tags.get(key)),
        Clause::Text { attribute, test } => {
            text_holds(test, Some(&text_attribute(run, *attribute)))
        }
        Clause::Time {
            attribute,
            op,
            value,
        } => {
            time_attribute(run, *attribute).is_some_and(|t| compare_numbers(*op, t as f64, *value))
        }
    }
}

/// A metric value as MLflow's SQL store keeps it: the infinities as the greatest and least
/// finite values.
fn stored(v: f64) -> f64 {
    if v.is_infinite() {
        f64::MAX.copysign(v)
    } else {
        v
    }
}

fn compare_numbers(op: Compare, lhs: f64, rhs: f64) -> bool {
    match op {
        Compare::Eq => lhs == rhs,
        Compare::Ne => lhs != rhs,
        Compare::Lt => lhs < rhs,
        Compare::Le => lhs <= rhs,
        Compare::Gt => lhs > rhs,
        Compare::Ge => lhs >= rhs,
    }
}

fn text_holds(test: &TextTest, value: Option<&String>) -> bool {
    match (test, value) {
        (TextTest::IsNull, v) => v.is_none(),
        (TextTest::IsNotNull, v) => v.is_some(),
        (_, None) => false,
        (TextTest::Eq(x), Some(v)) => v == x,
        (TextTest::Ne(x), Some(v)) => v != x,
        (TextTest::Like(p), Some(v)) => like(v, p, false),
        (TextTest::ILike(p), Some(v)) => like(v, p, true),
        (TextTest::In(xs), Some(v)) => xs.contains(v),
        (TextTest::NotIn(xs), Some(v)) => !xs.contains(v),
    }
}

/// SQL `LIKE` without an escape character: `%` matches any text, `_` one character.
fn like(text: &str, pattern: &str, ignore_case: bool) -> bool {
    let fold = |s: &str| -> Vec<char> {
        if ignore_case {
            s.chars().map(|c| c.to_ascii_lowercase()).collect()
        } else {
            s.chars().collect()
        }
    };
    let (t, p) = (fold(text), fold(pattern));
    // The classic two-pointer match with backtracking to the last '%': linear in practice.
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || (p[pi] != '%' && p[pi] == t[ti])) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

fn text_attribute(run: &RunOverview, attribute: TextAttribute) -> String {
    match attribute {
        TextAttribute::Status => run.status.as_str().to_owned(),
        TextAttribute::RunName => run.meta.name.clone(),
        TextAttribute::RunId => run.meta.id.clone(),
        TextAttribute::UserId => run.meta.source.user.clone().unwrap_or_default(),
        TextAttribute::ArtifactUri => String::new(),
    }
}

fn time_attribute(run: &RunOverview, attribute: TimeAttribute) -> Option<i64> {
    match attribute {
        TimeAttribute::StartTime => Some(run.meta.start_time),
        TimeAttribute::EndTime => run.end_time,
    }
}

/// A run's value of a sort key: its class (0 present, then for metrics 1 NaN, then 2
/// missing), and the value.
enum SortValue {
    Number(f64),
    Text(String),
}

fn sort_value(run: &RunOverview, key: &SortKey) -> (u8, Option<SortValue>) {
    let text = |v: Option<&String>| match v {
        Some(v) => (0, Some(SortValue::Text(v.clone()))),
        None => (1, None),
    };
    match key {
        SortKey::Metric(k) => match run.metrics.get(k) {
            Some(m) if m.latest.value.is_nan() => (1, None),
            Some(m) => (0, Some(SortValue::Number(stored(m.latest.value)))),
            None => (2, None),
        },
        SortKey::Property(k) => text(run.properties.get(k)),
        SortKey::Tag(k) => text(run.tags.get(k)),
        SortKey::Text(a) => (0, Some(SortValue::Text(text_attribute(run, *a)))),
        SortKey::Time(a) => match time_attribute(run, *a) {
            Some(t) => (0, Some(SortValue::Number(t as f64))),
            None => (1, None),
        },
    }
}

/// The server's order: each key (present first, then by value in its direction), then the
/// start time (latest first) unless a key ordered by it, then the run id.
fn compare(order: &[OrderBy], a: &RunOverview, b: &RunOverview) -> Ordering {
    for o in order {
        let (ca, va) = sort_value(a, &o.key);
        let (cb, vb) = sort_value(b, &o.key);
        let by_value = match (va, vb) {
            (Some(SortValue::Number(x)), Some(SortValue::Number(y))) => x.total_cmp(&y),
            (Some(SortValue::Text(x)), Some(SortValue::Text(y))) => x.cmp(&y),
            _ => Ordering::Equal,
        };
        let by_value = if o.ascending {
            by_value
        } else {
            by_value.reverse()
        };
        let ordering = ca.cmp(&cb).then(by_value);
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    let by_start = order
        .iter()
        .all(|o| o.key != SortKey::Time(TimeAttribute::StartTime));
    let start = if by_start {
        b.meta.start_time.cmp(&a.meta.start_time)
    } else {
        Ordering::Equal
    };
    start.then_with(|| a.meta.id.cmp(&b.meta.id))
}

#[cfg(test)]
mod tests {
    use super::like;
    use crate::Store;

    /// The names `store.search` gives.
    fn names(store: &Store, filter: &str, order: &[&str]) -> Vec<String> {
        let page = store.search(filter, order, 100, None).unwrap();
        page.runs.into_iter().map(|r| r.meta.name).collect()
    }

    #[test]
    fn nan_and_missing_keys_follow_the_servers_rules() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        for (name, acc) in [("nan", Some(f64::NAN)), ("none", None), ("low", Some(0.1))] {
            let run = store.start_run("Default", name).unwrap();
            if let Some(acc) = acc {
                run.log("acc", acc).unwrap();
            }
            run.complete().unwrap();
        }
        assert_eq!(names(&store, "metrics.acc >= 0", &[]), ["low"]);
        let mut ne = names(&store, "metrics.acc != 0.5", &[]);
        ne.sort();
        assert_eq!(
            ne,
            ["low", "nan"],
            "NaN != x holds; a missing key never matches"
        );
        for order in ["metrics.acc", "metrics.acc DESC"] {
            assert_eq!(
                names(&store, "", &[order]),
                ["low", "nan", "none"],
                "{order}"
            );
        }
        let page = store.search("", &["metrics.acc"], 2, None).unwrap();
        let token = page.next_page_token.unwrap();
        let rest = store.search("", &["metrics.acc"], 2, Some(&token)).unwrap();
        assert_eq!(rest.runs[0].meta.name, "none");
        assert!(rest.next_page_token.is_none());
        let bad = store
            .search("", &["metrics.acc"], 2, Some("x"))
            .unwrap_err();
        assert!(bad.to_string().contains("page_token"), "{bad}");
        let zero = store.search("", &["metrics.acc"], 0, None).unwrap_err();
        assert!(zero.to_string().contains("max_results"), "{zero}");
    }

    #[test]
    fn like_follows_sql() {
        assert!(like("knn-3", "knn%", false));
        assert!(like("knn", "k_n", false));
        assert!(!like("KNN", "knn", false));
        assert!(like("KNN", "knn", true));
        assert!(like("a%b", "a%b", false));
        assert!(like("", "%", false));
        assert!(!like("abc", "a_", false));
        assert!(like("xaYbz", "%a%b%", false));
        assert!(!like("xaYbz", "%b%a%", false));
    }
}
