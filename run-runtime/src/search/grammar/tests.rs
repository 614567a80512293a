use super::*;

fn one(text: &str) -> Clause {
    let f = Filter::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    assert_eq!(f.clauses().len(), 1, "{text:?}");
    f.clauses()[0].clone()
}

/// The column and message of the error for `text`, checking the caret line points there.
fn err(text: &str) -> (usize, String) {
    match Filter::parse(text) {
        Ok(f) => panic!("{text:?} parsed as {f:?}"),
        Err(Error::InvalidSearch {
            what,
            column,
            message,
            pointer,
        }) => {
            assert_eq!(what, "filter");
            let caret = pointer.lines().nth(1).unwrap();
            assert_eq!(caret.chars().count(), 4 + column, "{pointer}");
            assert!(caret.ends_with('^'));
            (column, message)
        }
        Err(other) => panic!("{text:?}: {other}"),
    }
}

#[test]
fn the_issue_example_parses_into_typed_clauses() {
    let f = Filter::parse(
        "metrics.accuracy > 0.9 and params.model = 'knn' and tags.stage != 'dev' and \
         attributes.status = 'FINISHED'",
    )
    .unwrap();
    assert_eq!(
        f.clauses(),
        [
            Clause::Metric {
                key: "accuracy".into(),
                op: Compare::Gt,
                value: 0.9
            },
            Clause::Property {
                key: "model".into(),
                test: TextTest::Eq("knn".into())
            },
            Clause::Tag {
                key: "stage".into(),
                test: TextTest::Ne("dev".into())
            },
            Clause::Text {
                attribute: TextAttribute::Status,
                test: TextTest::Eq("FINISHED".into())
            },
        ]
    );
}

#[test]
fn aliases_and_quoted_keys_are_mlflows() {
    let metric = |key: &str, op, value| Clause::Metric {
        key: key.into(),
        op,
        value,
    };
    assert_eq!(one("metric.a >= -1.5e3"), metric("a", Compare::Ge, -1500.0));
    assert_eq!(one("`metrics`.a<.5"), metric("a", Compare::Lt, 0.5));
    assert_eq!(
        one("metrics.`val loss` = 1"),
        metric("val loss", Compare::Eq, 1.0)
    );
    assert_eq!(one("metrics.\"a-b\" != 2"), metric("a-b", Compare::Ne, 2.0));
    assert_eq!(one("metrics.2a <= 3"), metric("2a", Compare::Le, 3.0));
    for p in ["param", "params", "parameter", "parameters"] {
        assert_eq!(
            one(&format!("{p}.optimizer.lr LIKE '0.%'")),
            Clause::Property {
                key: "optimizer.lr".into(),
                test: TextTest::Like("0.%".into())
            }
        );
    }
    assert_eq!(
        one("tags.'a b' ilike \"X%\""),
        Clause::Tag {
            key: "a b".into(),
            test: TextTest::ILike("X%".into())
        }
    );
    assert_eq!(
        one("tags.x is not null"),
        Clause::Tag {
            key: "x".into(),
            test: TextTest::IsNotNull
        }
    );
    assert_eq!(
        one("params.x IS NULL"),
        Clause::Property {
            key: "x".into(),
            test: TextTest::IsNull
        }
    );
    let name = |t: &str| Clause::Text {
        attribute: TextAttribute::RunName,
        test: TextTest::Eq(t.into()),
    };
    assert_eq!(one("run_name = 'x'"), name("x"));
    assert_eq!(one("attributes.run_name = 'x'"), name("x"));
    assert_eq!(one("`Run Name` = 'x'"), name("x"));
    assert_eq!(one("\"run name\" = 'x'"), name("x"));
    assert_eq!(
        one("created > 5"),
        Clause::Time {
            attribute: TimeAttribute::StartTime,
            op: Compare::Gt,
            value: 5.0
        }
    );
    assert_eq!(
        one("attr.end_time < 1700000000000"),
        Clause::Time {
            attribute: TimeAttribute::EndTime,
            op: Compare::Lt,
            value: 1.7e12
        }
    );
    assert_eq!(
        one("run.run_id NOT IN ('a', \"b\")"),
        Clause::Text {
            attribute: TextAttribute::RunId,
            test: TextTest::NotIn(vec!["a".into(), "b".into()])
        }
    );
}

#[test]
fn strings_keep_what_mlflow_keeps() {
    // MLflow (sqlparse) does not unescape: a doubled quote or a backslash stays in the value.
    assert_eq!(
        one("params.a = 'it''s'"),
        Clause::Property {
            key: "a".into(),
            test: TextTest::Eq("it''s".into())
        }
    );
    assert_eq!(
        one(r"params.a = 'it\'s'"),
        Clause::Property {
            key: "a".into(),
            test: TextTest::Eq(r"it\'s".into())
        }
    );
}

#[test]
fn blank_filters_match_everything() {
    assert!(Filter::parse("").unwrap().clauses().is_empty());
    assert!(Filter::parse("  \t").unwrap().clauses().is_empty());
}

#[test]
fn every_error_points_at_its_character() {
    let cases: &[(&str, usize, &str)] = &[
        ("metrics.a > 1 or metrics.b < 2", 15, "no OR"),
        ("metrics.a > 1 and", 18, "expected a key"),
        ("metrics.a > 1 and and metrics.b > 1", 19, "expected a key"),
        ("metrics.a > 1 metrics.b > 2", 15, "expected AND"),
        ("metrics.a", 10, "expected a comparison"),
        ("metrics.a ~ 1", 11, "unexpected character '~'"),
        ("metrics.a <> 1", 11, "use !="),
        ("metrics.a == 1", 11, "use ="),
        ("metrics.a >", 12, "expected a value"),
        ("metrics.a > 'x'", 13, "not a string"),
        ("metrics.a > inf", 13, "expected a value"),
        ("metrics.a LIKE '1'", 11, "a metric is compared with"),
        ("params.model = knn", 16, "expected a value"),
        ("params.model = 3", 16, "write '3'"),
        ("params.model > 'a'", 14, "not <, <=, > or >="),
        ("params.model IN ('a')", 14, "only attributes.run_id"),
        ("tags.t = 'open", 10, "no closing '"),
        ("tags.`t = 'x'", 6, "no closing `"),
        ("metricz.a > 1", 1, "unknown key type 'metricz'"),
        ("datasets.name = 'x'", 1, "runctx records no datasets"),
        ("accuracy > 0.9", 1, "unknown attribute 'accuracy'"),
        ("status IN ('FINISHED')", 8, "only attributes.run_id"),
        ("status IS NULL", 8, "params and tags only"),
        ("start_time > '5'", 14, "not a string"),
        (
            "start_time LIKE '5'",
            12,
            "start_time and end_time are compared",
        ),
        ("run_id IN 'a'", 11, "expected '('"),
        ("run_id IN ()", 12, "expected a quoted string"),
        ("run_id IN ('a' 'b')", 16, "expected ',' or ')'"),
        ("run_id IN ('a',", 16, "found the end of the filter"),
        ("tags.x IS NOT 3", 15, "expected NULL"),
        ("tags.x NOT LIKE 'a'", 12, "expected IN after NOT"),
        ("= 1", 1, "expected a key"),
        (
            "metrics.a > 1; metrics.b > 2",
            14,
            "unexpected character ';'",
        ),
        ("(metrics.a > 1)", 1, "expected a key"),
        (
            "params.ünïcode = 'ok' and metrics.é ~ 1",
            37,
            "unexpected character '~'",
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter_map(|(text, column, message)| {
            let (got_column, got) = err(text);
            (got_column != *column || !got.contains(message))
                .then(|| format!("{text:?}: column {got_column}: {got}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_error_shows_the_text_and_a_caret() {
    let e = Filter::parse("metrics.a > 1 or metrics.b < 2").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid search filter at column 15: MLflow filters have no OR; run one search per \
         alternative, or use IN for several run ids\n    metrics.a > 1 or metrics.b < 2\n    \
         \x20             ^"
    );
}

#[test]
fn order_by_keys() {
    let o = |t: &str| OrderBy::parse(t).unwrap_or_else(|e| panic!("{t:?}: {e}"));
    assert_eq!(
        o("metrics.accuracy DESC"),
        OrderBy {
            key: SortKey::Metric("accuracy".into()),
            ascending: false
        }
    );
    assert_eq!(
        o("params.`learning rate`"),
        OrderBy {
            key: SortKey::Property("learning rate".into()),
            ascending: true
        }
    );
    assert_eq!(
        o("created asc").key,
        SortKey::Time(TimeAttribute::StartTime)
    );
    assert_eq!(
        o("attributes.status").key,
        SortKey::Text(TextAttribute::Status)
    );
    assert_eq!(o("tags.stage Desc").key, SortKey::Tag("stage".into()));

    let bad: &[(&str, usize, &str)] = &[
        ("metrics.a DOWN", 11, "expected ASC, DESC"),
        ("metrics.a DESC metrics.b", 16, "one key per order_by entry"),
        ("", 1, "expected a key"),
        ("'run name'", 1, "unknown attribute 'run name'"),
        ("metrics.a > 1", 11, "expected ASC, DESC"),
    ];
    for (text, column, message) in bad {
        match OrderBy::parse(text) {
            Err(Error::InvalidSearch {
                what: "order_by",
                column: c,
                message: m,
                ..
            }) => {
                assert_eq!((c, text), (*column, text), "{m}");
                assert!(m.contains(message), "{text:?}: {m:?}");
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }
    let twice = OrderBy::parse_all(&["metrics.a", "metric.a DESC"]).unwrap_err();
    assert!(twice.to_string().contains("already orders by"), "{twice}");
}
