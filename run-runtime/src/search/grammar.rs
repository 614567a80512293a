//! MLflow 3.17.2's `search_runs` filter and `order_by` grammar, parsed into a typed [`Filter`]
//! and [`OrderBy`].
//!
//! The tokens (quoted keys and strings, numbers, comparators) are read with `winnow`, a
//! maintained parser-combinator crate (already in the lock file through toml); the shape of a clause
//! (`KEY OP VALUE`, joined by `AND`) is a short descent over those tokens, so that every error
//! names the token it stopped at. MLflow tokenizes with `sqlparse` and then inspects the
//! tokens the same way (`SearchUtils.parse_search_filter`); the accepted language is the same,
//! except where MLflow silently ignores text (a dangling or doubled `AND`), which is an error
//! here.

use winnow::Parser;
use winnow::ascii::{digit0, digit1};
use winnow::combinator::{alt, delimited, opt, repeat};
use winnow::token::{any, none_of, one_of, take_till, take_while};

use crate::error::{Error, Result};

/// A parsed filter: clauses that must all hold (MLflow has no `OR`).
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    clauses: Vec<Clause>,
}

/// One clause of a [`Filter`].
#[derive(Debug, Clone, PartialEq)]
pub enum Clause {
    /// `metrics.KEY OP NUMBER`: the run's latest value of the metric.
    Metric {
        /// The metric key.
        key: String,
        /// The comparison.
        op: Compare,
        /// The number compared with.
        value: f64,
    },
    /// `params.KEY ...`: a property (MLflow's params).
    Property {
        /// The property key.
        key: String,
        /// The test.
        test: TextTest,
    },
    /// `tags.KEY ...`.
    Tag {
        /// The tag key.
        key: String,
        /// The test.
        test: TextTest,
    },
    /// `attributes.status`, `run_name`, `run_id`, `user_id` or `artifact_uri`.
    Text {
        /// Which attribute.
        attribute: TextAttribute,
        /// The test (`IN` and `NOT IN` only for `run_id`, as in MLflow).
        test: TextTest,
    },
    /// `attributes.start_time` or `end_time` (milliseconds since the epoch).
    Time {
        /// Which attribute.
        attribute: TimeAttribute,
        /// The comparison.
        op: Compare,
        /// The time compared with.
        value: f64,
    },
}

/// A numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A test of a text value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextTest {
    /// `= 'v'`
    Eq(String),
    /// `!= 'v'`
    Ne(String),
    /// `LIKE 'pattern'`: `%` any run of characters, `_` one, case-sensitive.
    Like(String),
    /// `ILIKE 'pattern'`: as `LIKE`, ignoring case.
    ILike(String),
    /// `IN ('a', 'b')`
    In(Vec<String>),
    /// `NOT IN ('a', 'b')`
    NotIn(Vec<String>),
    /// `IS NULL`: the key is absent.
    IsNull,
    /// `IS NOT NULL`: the key is present.
    IsNotNull,
}

/// A run attribute holding text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TextAttribute {
    /// `status`: RUNNING, FINISHED, FAILED or KILLED.
    Status,
    /// `run_name` (aliases `run name`, `Run name`, `Run Name` in filters).
    RunName,
    /// `run_id`.
    RunId,
    /// `user_id`: who started the run.
    UserId,
    /// `artifact_uri`.
    ArtifactUri,
}

/// A run attribute holding a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimeAttribute {
    /// `start_time` (aliases `created`, `Created`).
    StartTime,
    /// `end_time`: absent while the run runs.
    EndTime,
}

/// One `order_by` key, such as `metrics.accuracy DESC`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    /// What is compared.
    pub key: SortKey,
    /// `ASC` (the default) or `DESC`.
    pub ascending: bool,
}

/// What an [`OrderBy`] compares.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SortKey {
    /// A metric's latest value.
    Metric(String),
    /// A property.
    Property(String),
    /// A tag.
    Tag(String),
    /// A text attribute.
    Text(TextAttribute),
    /// A time attribute.
    Time(TimeAttribute),
}

impl Filter {
    /// Parses a filter such as `metrics.accuracy > 0.9 and params.model = 'knn'`. An empty or
    /// blank string matches every run. A malformed filter is [`Error::InvalidSearch`], which
    /// points at the character and says what was expected.
    ///
    /// ```
    /// use run_runtime::search::{Clause, Compare, Filter};
    /// let filter = Filter::parse("metrics.`val loss` <= 0.5 AND tags.stage != 'dev'")?;
    /// assert_eq!(
    ///     filter.clauses()[0],
    ///     Clause::Metric { key: "val loss".into(), op: Compare::Le, value: 0.5 }
    /// );
    /// let err = Filter::parse("metrics.loss < 'low'").unwrap_err();
    /// assert!(err.to_string().contains("column 16"), "{err}");
    /// # Ok::<(), run_runtime::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<Filter> {
        let mut p = Clauses::new(text, "filter")?;
        let mut clauses = Vec::new();
        if p.peek().is_none() {
            return Ok(Filter { clauses });
        }
        loop {
            clauses.push(p.clause()?);
            match p.next() {
                None => return Ok(Filter { clauses }),
                Some(t) if t.is_word("AND") => {}
                Some(t) if t.is_word("OR") => {
                    return Err(p.error_at(
                        &t,
                        "MLflow filters have no OR; run one search per alternative, or use IN \
                         for several run ids",
                    ));
                }
                Some(t) => return Err(p.expected(&t, "AND or the end of the filter")),
            }
        }
    }

    /// The clauses, all of which must hold.
    pub fn clauses(&self) -> &[Clause] {
        &self.clauses
    }
}

impl OrderBy {
    /// Parses one `order_by` entry: a key (`metrics.accuracy`, `attributes.start_time`,
    /// `` params.`learning rate` ``) and an optional `ASC` or `DESC`.
    ///
    /// ```
    /// use run_runtime::search::{OrderBy, SortKey};
    /// let order = OrderBy::parse("metrics.accuracy DESC")?;
    /// assert_eq!(order.key, SortKey::Metric("accuracy".into()));
    /// assert!(!order.ascending);
    /// # Ok::<(), run_runtime::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<OrderBy> {
        let mut p = Clauses::new(text, "order_by")?;
        let (name, at) = p.name("a key such as metrics.accuracy or attributes.start_time")?;
        let key = sort_key(&name).map_err(|m| p.error_at(&at, &m))?;
        let ascending = match p.next() {
            None => true,
            Some(t) if t.is_word("ASC") => true,
            Some(t) if t.is_word("DESC") => false,
            Some(t) => return Err(p.expected(&t, "ASC, DESC or the end of the key")),
        };
        match p.next() {
            None => Ok(OrderBy { key, ascending }),
            Some(t) => Err(p.expected(&t, "the end of the key (one key per order_by entry)")),
        }
    }

    /// Parses several entries, refusing the same key twice (as MLflow does).
    pub fn parse_all<S: AsRef<str>>(texts: &[S]) -> Result<Vec<OrderBy>> {
        let mut out: Vec<OrderBy> = Vec::new();
        for text in texts {
            let order = OrderBy::parse(text.as_ref())?;
            if out.iter().any(|o| o.key == order.key) {
                return Err(Error::InvalidArgument {
                    what: "order_by",
                    value: format!("{:?}", text.as_ref()),
                    reason: "it orders by a key an earlier entry already orders by; give each \
                             key once"
                        .into(),
                });
            }
            out.push(order);
        }
        Ok(out)
    }
}

/// A token: its kind and where it is in the text (byte offsets).
#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// A key, keyword or dotted name: its parts, each with whether it was quoted.
    Name(Vec<(String, bool)>),
    /// A quoted string, its quote character and text between the quotes as written (MLflow
    /// keeps doubled quotes and backslashes as they are).
    Str(char, String),
    Number(String),
    Op(String),
    Open,
    Close,
    Comma,
}

impl Token {
    fn is_word(&self, word: &str) -> bool {
        matches!(&self.kind, Kind::Name(parts) if parts.len() == 1 && !parts[0].1
            && parts[0].0.eq_ignore_ascii_case(word))
    }

    fn describe(&self, text: &str) -> String {
        format!("'{}'", &text[self.start..self.end])
    }
}

/// The tokens of one filter or order_by text, read front to back.
struct Clauses<'a> {
    text: &'a str,
    what: &'static str,
    tokens: Vec<Token>,
    at: usize,
}

impl<'a> Clauses<'a> {
    fn new(text: &'a str, what: &'static str) -> Result<Self> {
        let tokens = lex(text).map_err(|(offset, message)| error(what, text, offset, &message))?;
        Ok(Clauses {
            text,
            what,
            tokens,
            at: 0,
        })
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn error_at(&self, token: &Token, message: &str) -> Error {
        error(self.what, self.text, token.start, message)
    }

    fn expected(&self, found: &Token, expected: &str) -> Error {
        let message = format!("expected {expected}, found {}", found.describe(self.text));
        self.error_at(found, &message)
    }

    fn at_end(&self, expected: &str) -> Error {
        let message = format!("expected {expected}, found the end of the {}", self.what);
        error(self.what, self.text, self.text.len(), &message)
    }

    /// The next token, which must be there.
    fn must(&mut self, expected: &str) -> Result<Token> {
        self.next().ok_or_else(|| self.at_end(expected))
    }

    /// A key: a dotted name, or a quoted string standing for an attribute (`"run name"`).
    fn name(&mut self, expected: &str) -> Result<(Vec<(String, bool)>, Token)> {
        let t = self.must(expected)?;
        match &t.kind {
            Kind::Name(parts) => Ok((parts.clone(), t)),
            Kind::Str(_, s) => Ok((vec![(s.clone(), true)], t)),
            _ => Err(self.expected(&t, expected)),
        }
    }

    fn clause(&mut self) -> Result<Clause> {
        let expected = "a key such as metrics.accuracy, params.model or attributes.status";
        let (name, key_token) = self.name(expected)?;
        if KEYWORDS.iter().any(|k| key_token.is_word(k)) {
            return Err(self.expected(&key_token, expected));
        }
        let entity = entity(&name).map_err(|m| self.error_at(&key_token, &m))?;
        let op_token = self.must(
            "a comparison (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL)",
        )?;
        let op = self.operator(&op_token)?;
        let value = match op {
            Op::IsNull | Op::IsNotNull => Value::None,
            Op::In | Op::NotIn => self.list()?,
            _ => self.value()?,
        };
        build(entity, op, value).map_err(|(m, on_value)| {
            let at = if on_value {
                self.tokens.get(self.at - 1).unwrap_or(&op_token)
            } else {
                &op_token
            };
            self.error_at(at, &m)
        })
    }

    fn operator(&mut self, t: &Token) -> Result<Op> {
        if let Kind::Op(op) = &t.kind {
            return match op.as_str() {
                "=" => Ok(Op::Cmp(Compare::Eq)),
                "!=" => Ok(Op::Cmp(Compare::Ne)),
                "<" => Ok(Op::Cmp(Compare::Lt)),
                "<=" => Ok(Op::Cmp(Compare::Le)),
                ">" => Ok(Op::Cmp(Compare::Gt)),
                ">=" => Ok(Op::Cmp(Compare::Ge)),
                "==" => Err(self.error_at(t, "'==' is not a comparison here; use =")),
                _ => Err(self.error_at(t, "'<>' is not a comparison here; use !=")),
            };
        }
        let comparisons = "a comparison (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL, \
                           IS NOT NULL)";
        if t.is_word("LIKE") {
            Ok(Op::Like)
        } else if t.is_word("ILIKE") {
            Ok(Op::ILike)
        } else if t.is_word("IN") {
            Ok(Op::In)
        } else if t.is_word("NOT") {
            let t = self.must("IN after NOT")?;
            if t.is_word("IN") {
                Ok(Op::NotIn)
            } else {
                Err(self.expected(&t, "IN after NOT"))
            }
        } else if t.is_word("IS") {
            let t = self.must("NULL or NOT NULL after IS")?;
            if t.is_word("NULL") {
                return Ok(Op::IsNull);
            }
            if !t.is_word("NOT") {
                return Err(self.expected(&t, "NULL or NOT NULL after IS"));
            }
            let t = self.must("NULL after IS NOT")?;
            if t.is_word("NULL") {
                Ok(Op::IsNotNull)
            } else {
                Err(self.expected(&t, "NULL after IS NOT"))
            }
        } else {
            Err(self.expected(t, comparisons))
        }
    }

    fn value(&mut self) -> Result<Value> {
        let expected = "a value: a number, or a string in single or double quotes";
        let t = self.must(expected)?;
        match t.kind {
            Kind::Number(n) => Ok(Value::Number(n)),
            Kind::Str(_, s) => Ok(Value::Text(s)),
            _ => Err(self.expected(&t, expected)),
        }
    }

    fn list(&mut self) -> Result<Value> {
        let t = self.must("'(' starting a list of quoted strings")?;
        if t.kind != Kind::Open {
            return Err(self.expected(&t, "'(' starting a list of quoted strings"));
        }
        let mut items = Vec::new();
        loop {
            let t = self.must("a quoted string")?;
            match t.kind {
                Kind::Str(_, s) => items.push(s),
                _ => return Err(self.expected(&t, "a quoted string")),
            }
            let t = self.must("',' or ')'")?;
            match t.kind {
                Kind::Comma => {}
                Kind::Close => return Ok(Value::List(items)),
                _ => return Err(self.expected(&t, "',' or ')'")),
            }
        }
    }
}

/// Words that cannot stand for a key (MLflow's sqlparse reads them as keywords).
const KEYWORDS: [&str; 8] = ["AND", "OR", "NOT", "IN", "IS", "LIKE", "ILIKE", "NULL"];

#[derive(Debug, Clone, Copy)]
enum Op {
    Cmp(Compare),
    Like,
    ILike,
    In,
    NotIn,
    IsNull,
    IsNotNull,
}

enum Value {
    None,
    Number(String),
    Text(String),
    List(Vec<String>),
}

/// What a key names before its comparison is known.
enum Entity {
    Metric(String),
    Property(String),
    Tag(String),
    Text(TextAttribute),
    Time(TimeAttribute),
}

const ENTITIES: &str = "metrics, params, tags or attributes";

/// The entity and key of a dotted name, with MLflow's aliases. A name without a dot is an
/// attribute.
fn split(name: &[(String, bool)]) -> Result<(&'static str, String), String> {
    let (first, rest) = name.split_first().expect("a name has a part");
    if rest.is_empty() {
        return Ok(("attribute", first.0.clone()));
    }
    let kind = match first.0.as_str() {
        "metric" | "metrics" => "metric",
        "parameter" | "parameters" | "param" | "params" => "param",
        "tag" | "tags" => "tag",
        "attribute" | "attr" | "attributes" | "run" => "attribute",
        "dataset" | "datasets" => {
            return Err("dataset filters are not supported: runctx records no datasets".into());
        }
        other => {
            return Err(format!(
                "unknown key type '{other}'; a key starts with {ENTITIES} (or their singular \
                 forms), then a dot"
            ));
        }
    };
    let key: Vec<&str> = rest.iter().map(|(p, _)| p.as_str()).collect();
    Ok((kind, key.join(".")))
}

fn entity(name: &[(String, bool)]) -> Result<Entity, String> {
    let (kind, key) = split(name)?;
    Ok(match kind {
        "metric" => Entity::Metric(key),
        "param" => Entity::Property(key),
        "tag" => Entity::Tag(key),
        _ => match key.as_str() {
            "start_time" | "created" | "Created" => Entity::Time(TimeAttribute::StartTime),
            "end_time" => Entity::Time(TimeAttribute::EndTime),
            "run name" | "Run name" | "Run Name" => Entity::Text(TextAttribute::RunName),
            other => Entity::Text(text_attribute(other)?),
        },
    })
}

fn text_attribute(key: &str) -> Result<TextAttribute, String> {
    match key {
        "status" => Ok(TextAttribute::Status),
        "run_name" => Ok(TextAttribute::RunName),
        "run_id" => Ok(TextAttribute::RunId),
        "user_id" => Ok(TextAttribute::UserId),
        "artifact_uri" => Ok(TextAttribute::ArtifactUri),
        other => Err(format!(
            "unknown attribute '{other}'; attributes are status, run_name, run_id, user_id, \
             artifact_uri, start_time and end_time (a metric, param or tag needs its prefix, \
             such as metrics.{other})"
        )),
    }
}

fn sort_key(name: &[(String, bool)]) -> Result<SortKey, String> {
    let (kind, key) = split(name)?;
    Ok(match kind {
        "metric" => SortKey::Metric(key),
        "param" => SortKey::Property(key),
        "tag" => SortKey::Tag(key),
        _ => match key.as_str() {
            // MLflow orders by `created` but not by the `run name` spellings.
            "start_time" | "created" | "Created" => SortKey::Time(TimeAttribute::StartTime),
            "end_time" => SortKey::Time(TimeAttribute::EndTime),
            other => SortKey::Text(text_attribute(other)?),
        },
    })
}

/// The clause of an entity, comparison and value, or the message and whether it concerns the
/// value (else the comparison).
fn build(entity: Entity, op: Op, value: Value) -> Result<Clause, (String, bool)> {
    let on_op = |m: &str| (m.to_owned(), false);
    let run_id = matches!(entity, Entity::Text(TextAttribute::RunId));
    if matches!(op, Op::In | Op::NotIn) && !run_id {
        return Err(on_op(
            "only attributes.run_id takes IN and NOT IN (as in MLflow)",
        ));
    }
    match entity {
        Entity::Metric(key) => {
            let Op::Cmp(op) = op else {
                return Err(on_op("a metric is compared with =, !=, <, <=, > or >="));
            };
            let value = number(value, "a metric")?;
            Ok(Clause::Metric { key, op, value })
        }
        Entity::Time(attribute) => {
            let Op::Cmp(op) = op else {
                return Err(on_op(
                    "start_time and end_time are compared with =, !=, <, <=, > or >=",
                ));
            };
            let value = number(value, "a time (milliseconds since the epoch)")?;
            Ok(Clause::Time {
                attribute,
                op,
                value,
            })
        }
        Entity::Property(key) => Ok(Clause::Property {
            key,
            test: text_test(op, value, "a param", true)?,
        }),
        Entity::Tag(key) => Ok(Clause::Tag {
            key,
            test: text_test(op, value, "a tag", true)?,
        }),
        Entity::Text(attribute) => {
            let test = text_test(op, value, "an attribute", false)?;
            Ok(Clause::Text { attribute, test })
        }
    }
}

fn number(value: Value, what: &str) -> Result<f64, (String, bool)> {
    match value {
        Value::Number(n) => n
            .parse()
            .map_err(|_| (format!("'{n}' is not a number"), true)),
        Value::Text(t) => Err((
            format!("{what} is compared with a number, not a string ('{t}'); drop the quotes"),
            true,
        )),
        _ => Err((format!("{what} is compared with a number"), true)),
    }
}

fn text_test(op: Op, value: Value, what: &str, nullable: bool) -> Result<TextTest, (String, bool)> {
    let text = |value: Value| match value {
        Value::Text(t) => Ok(t),
        Value::Number(n) => Err((
            format!("{what} is compared with a quoted string; write '{n}'"),
            true,
        )),
        _ => Err((format!("{what} is compared with a quoted string"), true)),
    };
    Ok(match op {
        Op::Cmp(Compare::Eq) => TextTest::Eq(text(value)?),
        Op::Cmp(Compare::Ne) => TextTest::Ne(text(value)?),
        Op::Cmp(_) => {
            return Err((
                format!("{what} is compared with =, !=, LIKE or ILIKE, not <, <=, > or >="),
                false,
            ));
        }
        Op::Like => TextTest::Like(text(value)?),
        Op::ILike => TextTest::ILike(text(value)?),
        Op::In | Op::NotIn => {
            let Value::List(items) = value else {
                unreachable!("IN is followed by a list")
            };
            if matches!(op, Op::In) {
                TextTest::In(items)
            } else {
                TextTest::NotIn(items)
            }
        }
        Op::IsNull | Op::IsNotNull if !nullable => {
            return Err((
                "IS NULL and IS NOT NULL apply to params and tags only (as in MLflow)".into(),
                false,
            ));
        }
        Op::IsNull => TextTest::IsNull,
        Op::IsNotNull => TextTest::IsNotNull,
    })
}

/// The error for `text` at byte `offset`: the column (in characters, from 1), the message and
/// the text with a caret under the character.
fn error(what: &'static str, text: &str, offset: usize, message: &str) -> Error {
    let column = text[..offset].chars().count() + 1;
    let shown: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Error::InvalidSearch {
        what,
        column,
        message: message.to_owned(),
        pointer: format!("    {shown}\n    {}^", " ".repeat(column - 1)),
    }
}

/// The tokens of `text`, or the byte offset and message of the first character that starts
/// none.
fn lex(text: &str) -> Result<Vec<Token>, (usize, String)> {
    let mut rest = text;
    let mut tokens = Vec::new();
    loop {
        rest = rest.trim_start();
        let start = text.len() - rest.len();
        if rest.is_empty() {
            return Ok(tokens);
        }
        let here = rest;
        let kind = token(&mut rest).map_err(|_| lex_error(start, here))?;
        tokens.push(Token {
            kind,
            start,
            end: text.len() - rest.len(),
        });
    }
}

/// The offset and message for text at `start` that starts no token.
fn lex_error(start: usize, rest: &str) -> (usize, String) {
    let mut chars = rest.chars();
    let c = chars.next().expect("lex_error is called on text");
    // A dot after a name whose next part does not lex: the part is the problem.
    match (c, chars.next()) {
        ('.', Some(q @ ('\'' | '"' | '`'))) => (start + 1, unexpected(q)),
        ('.', _) => (start, "a '.' must be followed by a key".into()),
        _ => (start, unexpected(c)),
    }
}

fn unexpected(c: char) -> String {
    match c {
        '\'' | '"' | '`' => format!("this {c} starts a quoted text that has no closing {c}"),
        c => format!(
            "unexpected character {c:?}; expected a key, a comparison, a quoted string, a number \
             or AND"
        ),
    }
}

type PResult<T> = winnow::Result<T>;

fn token(i: &mut &str) -> PResult<Kind> {
    alt((
        name.map(Kind::Name),
        quoted('\'').map(|s| Kind::Str('\'', s.to_owned())),
        quoted('"').map(|s| Kind::Str('"', s.to_owned())),
        numeral.map(|n: &str| Kind::Number(n.to_owned())),
        alt(("<=", ">=", "!=", "<>", "==", "=", "<", ">")).map(|o: &str| Kind::Op(o.to_owned())),
        '('.value(Kind::Open),
        ')'.value(Kind::Close),
        ','.value(Kind::Comma),
    ))
    .parse_next(i)
}

/// `sqlparse`'s strings: a doubled quote or a backslash escape stays inside.
fn quoted<'s>(q: char) -> impl Parser<&'s str, &'s str, winnow::error::ContextError> {
    let escaped = alt(((q, q).void(), ('\\', any).void(), none_of([q, '\\']).void()));
    delimited(q, repeat::<_, _, (), _, _>(0.., escaped).take(), q)
}

fn backticked<'s>(i: &mut &'s str) -> PResult<&'s str> {
    delimited('`', take_till(0.., '`'), '`').parse_next(i)
}

fn bare<'s>(i: &mut &'s str) -> PResult<&'s str> {
    take_while(1.., |c: char| c.is_alphanumeric() || c == '_').parse_next(i)
}

/// A key or keyword: a first part (a word starting with a letter or `_`, or a backticked
/// text), then parts after dots (words, or text in any quotes).
fn name(i: &mut &str) -> PResult<Vec<(String, bool)>> {
    let first = alt((
        (
            one_of(|c: char| c.is_alphabetic() || c == '_'),
            take_while(0.., |c: char| c.is_alphanumeric() || c == '_'),
        )
            .take()
            .map(|s: &str| (s.to_owned(), false)),
        backticked.map(|s| (s.to_owned(), true)),
    ))
    .parse_next(i)?;
    let part = alt((
        bare.map(|s| (s.to_owned(), false)),
        backticked.map(|s| (s.to_owned(), true)),
        quoted('\'').map(|s| (s.to_owned(), true)),
        quoted('"').map(|s| (s.to_owned(), true)),
    ));
    let rest: Vec<(String, bool)> = repeat(0.., ('.', part).map(|(_, p)| p)).parse_next(i)?;
    Ok(std::iter::once(first).chain(rest).collect())
}

/// `-12`, `3.5`, `.5`, `1e-3`.
fn numeral<'s>(i: &mut &'s str) -> PResult<&'s str> {
    (
        opt('-'),
        alt(((digit1, opt(('.', digit0))).void(), ('.', digit1).void())),
        opt((one_of(['e', 'E']), opt(one_of(['+', '-'])), digit1)),
    )
        .take()
        .parse_next(i)
}

#[cfg(test)]
mod tests;
