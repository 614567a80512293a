//! `delete` and `gc`: they ask, they delete what they listed and nothing else.

use std::fs;
use std::time::{Duration, SystemTime};

use super::fixture::{IDS, id};
use super::*;

fn remaining(store: &Path) -> Vec<String> {
    let mut names: Vec<String> = run_runtime::Store::new(store)
        .runs()
        .unwrap()
        .into_iter()
        .map(|r| r.meta.name)
        .collect();
    names.sort();
    names
}

fn all_names_but(gone: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = IDS
        .iter()
        .map(|(n, _)| n.to_string())
        .filter(|n| !gone.contains(&n.as_str()))
        .collect();
    names.sort();
    names
}

#[test]
fn delete_asks_first_and_takes_the_children_along() {
    let dir = own_store();
    let store = dir.path();

    let no = runctx_with_input(store, &["delete", "sweep"], "n\n");
    assert_eq!(no.code, 4, "{}", no.stderr);
    assert!(no.stderr.contains("Delete these 4 runs"), "{}", no.stderr);
    for name in ["sweep", "lr=0.1", "lr=0.01", "lr=1.0"] {
        assert!(
            no.stderr.contains(name),
            "{name} listed before asking:\n{}",
            no.stderr
        );
    }
    assert_eq!(remaining(store), all_names_but(&[]));

    let closed = runctx(store, &["delete", "sweep"]);
    assert_eq!(closed.code, 4, "no answer is no");
    assert!(closed.stderr.contains("pass --yes"), "{}", closed.stderr);
    assert_eq!(remaining(store), all_names_but(&[]));

    let yes = runctx_with_input(store, &["delete", "sweep"], "y\n");
    assert!(yes.ok().starts_with("Deleted 4 runs ("), "{}", yes.stdout);
    assert_eq!(
        remaining(store),
        all_names_but(&["sweep", "lr=0.1", "lr=0.01", "lr=1.0"])
    );
    assert!(!store.join(id("lr=0.1")).exists());
}

#[test]
fn delete_yes_deletes_without_asking_and_reports_json() {
    let dir = own_store();
    let json = runctx(
        dir.path(),
        &["delete", "--yes", "--json", "regression", "lr=1.0"],
    )
    .json();
    let deleted: Vec<&str> = json["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(deleted, [id("regression"), id("lr=1.0")]);
    assert!(json["bytes"].as_u64().unwrap() > 0);
    assert_eq!(
        remaining(dir.path()),
        all_names_but(&["regression", "lr=1.0"])
    );

    let gone = runctx(dir.path(), &["delete", "--yes", "regression"]);
    assert_eq!(gone.code, 3, "{}", gone.stderr);
}

#[test]
fn delete_keeps_a_running_run_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_runtime::Store::new(dir.path())
        .start_run("e", "live")
        .unwrap();
    run.flush().unwrap();
    let refused = runctx(dir.path(), &["delete", "--yes", "live"]);
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("is still running") && refused.stderr.contains("--force"),
        "{}",
        refused.stderr
    );
    assert!(dir.path().join(run.id()).exists());
    runctx(dir.path(), &["delete", "--yes", "--force", "live"]).ok();
    assert!(!dir.path().join(run.id()).exists());
}

/// Sets a file's modification time `age` in the past.
fn age(path: &Path, age: Duration) {
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

#[test]
fn gc_collects_failed_killed_and_abandoned_runs_and_old_leftovers() {
    let dir = own_store();
    let store = dir.path();
    let day = Duration::from_secs(86_400);
    let stale_tmp = store.join(id("regression")).join(".run.json.999.tmp");
    fs::write(&stale_tmp, "{").unwrap();
    age(&stale_tmp, day);
    let fresh_part = store
        .join(id("regression"))
        .join("artifacts")
        .join(".model.bin.998.part");
    fs::write(&fresh_part, "x").unwrap();
    let half_made = store.join("OfflineRun_deadbeef");
    fs::create_dir_all(half_made.join("artifacts")).unwrap();
    let marker = half_made.join(".run.json.997.tmp");
    fs::write(&marker, "{").unwrap();
    age(&marker, day);
    fs::File::open(&half_made)
        .unwrap()
        .set_modified(SystemTime::now() - day)
        .unwrap();

    let plan = runctx(store, &["gc", "--dry-run"]);
    let text = plan.ok();
    assert!(text.contains("Runs (3):"), "{text}");
    for name in ["lr=1.0", "cancelled", "killed"] {
        assert!(text.contains(name), "{name} would go:\n{text}");
    }
    assert!(
        text.contains(".run.json.999.tmp") && text.contains("OfflineRun_deadbeef"),
        "{text}"
    );
    assert!(
        !text.contains(".model.bin.998.part"),
        "a fresh temporary file may be in use"
    );
    assert!(text.contains("dry run: nothing was deleted"));
    assert_eq!(remaining(store), all_names_but(&[]));

    let json = runctx(store, &["gc", "--yes", "--json"]).json();
    assert_eq!(json["runs"].as_array().unwrap().len(), 3);
    assert_eq!(json["leftovers"].as_array().unwrap().len(), 2);
    assert_eq!(
        remaining(store),
        all_names_but(&["lr=1.0", "cancelled", "killed"])
    );
    assert!(!stale_tmp.exists() && !half_made.exists());
    assert!(fresh_part.exists());

    let again = runctx(store, &["gc", "--yes"]);
    assert!(
        again.ok().starts_with("Nothing to collect"),
        "{}",
        again.stdout
    );
}

#[test]
fn gc_filters_by_status_age_and_experiment_and_never_takes_running_runs() {
    let dir = own_store();
    let store = dir.path();
    let plan = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["gc", "--dry-run", "--json"];
        all.extend_from_slice(args);
        let json = runctx(store, &all).json();
        json["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(plan(&["--status", "killed"]), ["cancelled"]);
    assert_eq!(plan(&["--experiment", "mnist"]), ["lr=1.0"]);
    assert_eq!(
        plan(&["--older-than", "1d"]).len(),
        3,
        "the fixture runs are from 2025"
    );
    assert!(
        plan(&["--older-than", "5200w"]).is_empty(),
        "nothing is a century old"
    );
    assert_eq!(
        plan(&["--status", "finished", "--experiment", "mnist"]),
        ["sweep", "lr=0.1", "lr=0.01", "lr=1.0"],
        "a parent takes its children along"
    );

    let running = runctx(store, &["gc", "--status", "running"]);
    assert_eq!(running.code, 2);
    assert!(
        running.stderr.contains("never deletes running runs"),
        "{}",
        running.stderr
    );
    let bad_age = runctx(store, &["gc", "--older-than", "3x"]);
    assert_eq!(bad_age.code, 2);
    assert!(
        bad_age.stderr.contains("s, m, h, d or w"),
        "{}",
        bad_age.stderr
    );
    let declined = runctx_with_input(store, &["gc"], "no\n");
    assert_eq!(declined.code, 4);
    assert_eq!(remaining(store), all_names_but(&[]));
}
