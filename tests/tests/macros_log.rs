//! `#[log_metric]`, `#[log_tag]`, `#[log_property]` and `#[derive(Metrics)]` on the real
//! runtime: every option, every shape of return value, read back from the store.

extern crate run_runtime as runtime_alias;

use run_runtime::metrics::log_metrics;
use run_runtime::prelude::*;
use run_runtime::{MetricPoint, enter};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    (dir, store)
}

/// A run, its child and grandchild.
fn family(store: &Store) -> (Run, Run, Run) {
    let root = store.start_run("Default", "root").unwrap();
    let child = root.child_run("child").unwrap();
    let grandchild = child.child_run("grandchild").unwrap();
    (root, child, grandchild)
}

fn values(points: &[MetricPoint]) -> Vec<(i64, f64)> {
    points.iter().map(|p| (p.step, p.value)).collect()
}

// ---------------------------------------------------------------- metrics

#[log_metric]
fn accuracy() -> f64 {
    0.97
}

#[log_metric(name = "train/loss", step = epoch)]
fn loss(epoch: u32, base: f32) -> f32 {
    if epoch == 0 {
        return base; // an early return is logged too
    }
    base / epoch as f32
}

#[log_metric(name = "converged")]
fn converged(loss: f64) -> bool {
    loss < 0.1
}

#[test]
fn a_number_or_bool_is_a_metric_named_after_the_function_or_the_name_option() {
    let (_dir, store) = store();
    let run = store.start_run("Default", "r").unwrap();
    let _context = enter(run.clone());
    assert_eq!(accuracy(), 0.97);
    assert_eq!(loss(0, 2.0), 2.0);
    assert_eq!(loss(4, 2.0), 0.5);
    assert!(!converged(0.5));
    assert!(converged(0.05));
    let m = run.get_metrics().unwrap();
    assert_eq!(values(&m["accuracy"]), [(0, 0.97)]);
    assert_eq!(values(&m["train/loss"]), [(0, 2.0), (4, 0.5)]);
    assert_eq!(values(&m["converged"]), [(0, 0.0), (1, 1.0)]);
}

#[log_metric(name = "parsed")]
fn parse(text: &str) -> Result<i32, std::num::ParseIntError> {
    let n: i32 = text.trim().parse()?;
    Ok(n * 2)
}

#[log_metric(name = "found")]
fn find(values: &[u8], wanted: u8) -> Option<usize> {
    values.iter().position(|v| *v == wanted)
}

#[test]
fn a_result_logs_on_ok_and_an_option_on_some_and_both_return_unchanged() {
    let (_dir, store) = store();
    let run = store.start_run("Default", "r").unwrap();
    let _context = enter(run.clone());
    assert_eq!(parse(" 21 "), Ok(42));
    let err = parse("x").unwrap_err();
    assert_eq!(err.to_string(), "invalid digit found in string");
    assert_eq!(find(&[1, 2, 3], 3), Some(2));
    assert_eq!(find(&[1, 2, 3], 9), None);
    let m = run.get_metrics().unwrap();
    assert_eq!(values(&m["parsed"]), [(0, 42.0)]);
    assert_eq!(values(&m["found"]), [(0, 2.0)]);
}

#[log_metric(to = parent)]
fn to_parent() -> i64 {
    1
}

#[log_metric(to = root)]
fn to_root() -> i64 {
    2
}

#[log_metric(name = "everywhere", to = [run, parent, root])]
fn everywhere() -> u8 {
    3
}

#[test]
fn to_sends_the_value_to_the_parent_the_root_or_several_runs() {
    let (_dir, store) = store();
    let (root, child, grandchild) = family(&store);
    let _context = enter(grandchild.clone());
    to_parent();
    to_root();
    everywhere();
    let (r, c, g) = (
        root.get_metrics().unwrap(),
        child.get_metrics().unwrap(),
        grandchild.get_metrics().unwrap(),
    );
    assert!(c.contains_key("to_parent") && !g.contains_key("to_parent"));
    assert!(r.contains_key("to_root") && !c.contains_key("to_root"));
    for m in [&r, &c, &g] {
        assert_eq!(values(&m["everywhere"]), [(0, 3.0)]);
    }
}

#[test]
fn a_root_run_is_its_own_root() {
    let (_dir, store) = store();
    let run = store.start_run("Default", "alone").unwrap();
    let _context = enter(run.clone());
    to_root();
    assert_eq!(values(&run.get_metrics().unwrap()["to_root"]), [(0, 2.0)]);
}

// ---------------------------------------------------------------- Metrics structs

#[derive(Metrics)]
struct Scores {
    accuracy: f64,
    #[metric(rename = "f1_macro")]
    f1: f64,
    support: Option<u32>,
    better: bool,
    #[metric(skip)]
    #[allow(dead_code)]
    note: String,
    validation: Losses,
}

#[derive(Metrics)]
struct Losses {
    loss: f32,
    #[metric(rename = "loss std")]
    spread: Option<f32>,
}

fn scores(support: Option<u32>) -> Scores {
    Scores {
        accuracy: 0.9,
        f1: 0.8,
        support,
        better: true,
        note: "not a metric".into(),
        validation: Losses {
            loss: 0.25,
            spread: None,
        },
    }
}

#[log_metric(to = parent)]
fn score() -> Scores {
    scores(Some(30))
}

#[log_metric(prefix = "val/", step = epoch)]
fn validate(epoch: usize) -> Result<Scores, String> {
    Ok(scores(None))
}

#[test]
fn a_metrics_struct_logs_each_field_with_renames_prefixes_and_nesting() {
    let (_dir, store) = store();
    let (_root, child, grandchild) = family(&store);
    let _context = enter(grandchild.clone());
    let s = score();
    assert_eq!(s.note, "not a metric");
    let m = child.get_metrics().unwrap();
    let names: Vec<&str> = m.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "accuracy",
            "better",
            "f1_macro",
            "support",
            "validation/loss"
        ]
    );
    assert_eq!(values(&m["support"]), [(0, 30.0)]);
    assert_eq!(values(&m["better"]), [(0, 1.0)]);

    validate(7).unwrap();
    let m = grandchild.get_metrics().unwrap();
    let names: Vec<&str> = m.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "val/accuracy",
            "val/better",
            "val/f1_macro",
            "val/validation/loss"
        ]
    );
    assert_eq!(values(&m["val/validation/loss"]), [(7, 0.25)]);
}

#[derive(Metrics)]
struct Pair<T> {
    first: T,
    second: Option<T>,
}

#[test]
fn a_generic_struct_and_log_metrics_by_hand() {
    let (_dir, store) = store();
    let run = store.start_run("Default", "r").unwrap();
    let pair = Pair {
        first: 1u8,
        second: Some(2u8),
    };
    log_metrics(&run, &pair, "pair.", Some(5)).unwrap();
    let m = run.get_metrics().unwrap();
    assert_eq!(values(&m["pair.first"]), [(5, 1.0)]);
    assert_eq!(values(&m["pair.second"]), [(5, 2.0)]);
}

// ---------------------------------------------------------------- tags and properties

#[log_tag(name = "best_model", to = parent)]
fn pick_best(candidates: &[&str]) -> String {
    candidates
        .iter()
        .max_by_key(|c| c.len())
        .unwrap()
        .to_string()
}

#[log_tag]
fn stage(done: bool) -> Option<&'static str> {
    done.then_some("evaluated")
}

#[log_property(name = "learning_rate")]
fn learning_rate(text: &str) -> Result<f64, std::num::ParseFloatError> {
    text.parse()
}

#[log_property]
fn seed() -> u64 {
    42
}

#[test]
fn tags_and_properties_take_anything_display_and_skip_none_and_err() {
    let (_dir, store) = store();
    let parent = store.start_run("Default", "parent").unwrap();
    let run = parent.child_run("child").unwrap();
    let _context = enter(run.clone());
    assert_eq!(pick_best(&["knn", "forest", "svm"]), "forest");
    assert_eq!(stage(false), None);
    assert!(learning_rate("fast").is_err());
    assert_eq!(learning_rate("0.01"), Ok(0.01));
    assert_eq!(seed(), 42);
    assert!(!run.tags().unwrap().contains_key("stage"));
    assert_eq!(stage(true), Some("evaluated"));
    assert_eq!(parent.tags().unwrap()["best_model"], "forest");
    assert_eq!(run.tags().unwrap()["stage"], "evaluated");
    let properties = run.properties().unwrap();
    assert_eq!(properties["learning_rate"], "0.01");
    assert_eq!(properties["seed"], "42");
}

// ---------------------------------------------------------------- methods, generics, async

struct Model {
    weights: Vec<f64>,
}

impl Model {
    #[log_metric(name = "norm")]
    fn norm(&self) -> f64 {
        self.weights.iter().map(|w| w * w).sum::<f64>().sqrt()
    }

    #[log_metric(name = "size")]
    fn size<T: Into<f64> + Copy>(&self, scale: T) -> f64 {
        self.weights.len() as f64 * scale.into()
    }
}

#[log_metric(name = "awaited")]
async fn awaited(x: f64) -> Result<f64, String> {
    let y = std::future::ready(x * 2.0).await;
    if y < 0.0 {
        return Err("negative".into());
    }
    Ok(y)
}

#[test]
fn methods_generic_functions_and_async_functions_log_too() {
    let (_dir, store) = store();
    let run = store.start_run("Default", "r").unwrap();
    let _context = enter(run.clone());
    let model = Model {
        weights: vec![3.0, 4.0],
    };
    assert_eq!(model.norm(), 5.0);
    assert_eq!(model.size(2u8), 4.0);
    // On this thread, which holds the context run: a current-thread runtime polls here.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(awaited(1.5)), Ok(3.0));
    assert!(rt.block_on(awaited(-1.0)).is_err());
    let m = run.get_metrics().unwrap();
    assert_eq!(values(&m["norm"]), [(0, 5.0)]);
    assert_eq!(values(&m["size"]), [(0, 4.0)]);
    assert_eq!(values(&m["awaited"]), [(0, 3.0)]);
}

// ---------------------------------------------------------------- a renamed dependency

#[log_metric(crate = "::runtime_alias", name = "renamed")]
fn renamed() -> f64 {
    1.0
}

#[derive(Metrics)]
#[metric(crate = "::runtime_alias")]
struct Renamed {
    value: f64,
}

#[aml_step(crate = "::runtime_alias", params(n = 1))]
fn renamed_step(n: u8) -> u8 {
    n
}

#[test]
fn crate_names_the_runtime_under_another_name() {
    let (_dir, store) = store();
    let run = store.start_run("Default", "r").unwrap();
    let _context = enter(run.clone());
    renamed();
    log_metrics(&run, &Renamed { value: 2.0 }, "", None).unwrap();
    renamed_step::STEP.call(&run, &Default::default()).unwrap();
    let m = run.get_metrics().unwrap();
    assert_eq!(values(&m["renamed"]), [(0, 1.0)]);
    assert_eq!(values(&m["value"]), [(0, 2.0)]);
    assert_eq!(run.properties().unwrap()["n"], "1");
}
