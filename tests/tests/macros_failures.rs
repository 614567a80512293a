//! A logging attribute never changes its function's result: a record that cannot be logged
//! goes to the failure hook. This binary holds one test because the hook is process-wide.

use std::sync::{Arc, Mutex};

use run_runtime::metrics::{LogError, Target, clear_failure_hook, set_failure_hook};
use run_runtime::prelude::*;
use run_runtime::{NameKind, enter};

#[log_property(name = "model")]
fn model(name: &str) -> String {
    name.to_owned()
}

#[log_metric(to = parent)]
fn loss() -> Result<f64, String> {
    Ok(0.5)
}

#[log_metric(step = epoch)]
fn huge_step(epoch: u64) -> f64 {
    epoch as f64
}

#[test]
fn failures_go_to_the_hook_and_results_stay_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let run = Store::new(dir.path()).start_run("Default", "r").unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    set_failure_hook(move |f| {
        sink.lock().unwrap().push((
            f.function.to_owned(),
            f.kind,
            f.key.to_owned(),
            f.target,
            f.to_string(),
            matches!(f.error, LogError::Rejected(_)),
        ));
    });

    let _context = enter(run.clone());
    assert_eq!(model("knn"), "knn");
    // A property cannot change: the second value is refused, the function still returns it.
    assert_eq!(model("svm"), "svm");
    // The run has no parent.
    assert_eq!(loss(), Ok(0.5));
    // A step beyond i64.
    assert_eq!(huge_step(u64::MAX), u64::MAX as f64);
    assert_eq!(huge_step(3), 3.0);
    clear_failure_hook();

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "{seen:#?}");
    let (function, kind, key, target, text, rejected) = &seen[0];
    assert_eq!(
        (function.as_str(), *kind, key.as_str(), *target, *rejected),
        ("model", NameKind::Property, "model", Target::Run, true)
    );
    assert!(
        text.starts_with(
            "model() could not log the property \"model\" to its run: property \"model\" is \
             already \"knn\""
        ),
        "{text}"
    );
    assert_eq!((seen[1].2.as_str(), seen[1].3), ("loss", Target::Parent));
    assert!(seen[1].4.contains("has no parent"), "{}", seen[1].4);
    assert!(
        seen[2]
            .4
            .ends_with("step 18446744073709551615 is larger than 9223372036854775807, the largest step a metric can have"),
        "{}",
        seen[2].4
    );
    assert_eq!(run.properties().unwrap()["model"], "knn");
    let steps: Vec<i64> = run.get_metrics().unwrap()["huge_step"]
        .iter()
        .map(|p| p.step)
        .collect();
    assert_eq!(steps, [3]);
}
