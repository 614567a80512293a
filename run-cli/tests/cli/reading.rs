//! `list`, `show`, `metrics` and `compare`: golden outputs, JSON, filters and errors.

use serde_json::Value;

use super::fixture::{self, id};
use super::*;

/// The killed run ran on this host, with a process id that differs from run to run; golden
/// files say `<host>` and `<pid>`.
fn normalise_process(text: &str, store: &Path) -> String {
    let meta = run_runtime::Store::new(store).meta(id("killed")).unwrap();
    let line = format!("ci@{}, process {} (gone)", fixture::host(), meta.source.pid);
    normalise(
        &text.replace(&line, "ci@<host>, process <pid> (gone)"),
        store,
    )
}

#[test]
fn list_shows_experiments_as_trees_with_status_start_duration_and_metrics() {
    let store = shared_store();
    let ran = runctx(store, &["list"]);
    golden("list.txt", &normalise(ran.ok(), store));
    assert!(!ran.stdout.contains('\x1b'), "no colour in a pipe");
    assert_eq!(ran.stderr, "");
}

#[test]
fn list_chooses_metric_columns_on_request() {
    let store = shared_store();
    let text = runctx(
        store,
        &["list", "--experiment", "mnist", "--metric", "loss"],
    )
    .ok()
    .to_owned();
    let header = text.lines().nth(1).unwrap();
    let columns: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        columns[columns.len() - 2..],
        ["DURATION", "loss"],
        "{header}"
    );
    assert!(
        text.contains("NaN"),
        "the failed run's last loss is NaN:\n{text}"
    );
}

fn listed_names(args: &[&str]) -> Vec<String> {
    let mut all = vec!["--json", "list"];
    all.extend_from_slice(args);
    let json = runctx(shared_store(), &all).json();
    json["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn list_filters_by_experiment_status_and_tag() {
    assert_eq!(listed_names(&["--status", "failed"]), ["lr=1.0"]);
    assert_eq!(
        listed_names(&["--status", "killed", "--status", "process-gone"]),
        ["cancelled", "killed"]
    );
    assert_eq!(
        listed_names(&["--tag", "model=mlp"]),
        ["lr=0.1", "lr=0.01", "lr=1.0"]
    );
    assert_eq!(listed_names(&["--tag", "phase"]), ["killed"]);
    assert!(listed_names(&["--tag", "model=cnn"]).is_empty());
    assert_eq!(
        listed_names(&["--experiment", "mnist"]),
        ["sweep", "lr=0.1", "lr=0.01", "lr=1.0"]
    );

    let typo = runctx(shared_store(), &["list", "--experiment", "mnst"]);
    assert_eq!(typo.code, 3, "{}", typo.stderr);
    assert!(
        typo.stderr.contains("did you mean mnist?"),
        "{}",
        typo.stderr
    );

    let none = runctx(shared_store(), &["list", "--tag", "model=cnn"]);
    assert!(none.ok().starts_with("No runs of "), "{}", none.stdout);
}

#[test]
fn list_searches_with_mlflows_filter_and_order() {
    assert_eq!(
        listed_names(&[
            "--filter",
            "params.learning_rate LIKE '0.%' and tags.model = 'mlp'"
        ]),
        ["lr=0.01", "lr=0.1"],
        "without --order-by, MLflow's order: the latest start first"
    );
    // The failed run's latest loss is NaN: only != holds for it (as on the server), and it
    // sorts after every number, in either direction.
    assert_eq!(
        listed_names(&[
            "--filter",
            "metrics.loss != 0.5",
            "--order-by",
            "metrics.loss DESC"
        ]),
        ["killed", "cancelled", "lr=0.01", "lr=0.1", "lr=1.0"]
    );
    assert_eq!(
        listed_names(&["--order-by", "metrics.loss", "--max-results", "2"]),
        ["lr=0.1", "lr=0.01"]
    );
    assert_eq!(
        listed_names(&[
            "--filter",
            "attributes.status = 'FAILED' and run_name ILIKE 'LR=%'"
        ]),
        ["lr=1.0"]
    );
    assert_eq!(
        listed_names(&["--filter", "params.alpha IS NOT NULL"]),
        ["regression"]
    );

    let bad = runctx(
        shared_store(),
        &["list", "--filter", "metrics.loss < 'low'"],
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("column 16")
            && bad.stderr.contains("metrics.loss < 'low'\n")
            && bad.stderr.contains("               ^"),
        "{}",
        bad.stderr
    );
    let order = runctx(shared_store(), &["list", "--order-by", "metrics.loss UP"]);
    assert_eq!(order.code, 2, "{}", order.stderr);
    assert!(
        order.stderr.contains("expected ASC, DESC"),
        "{}",
        order.stderr
    );
}

#[test]
fn list_json_has_every_run_with_its_parent_status_and_last_metrics() {
    let json = runctx(shared_store(), &["list", "--json"]).json();
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), fixture::IDS.len());
    let run = |name: &str| runs.iter().find(|r| r["name"] == name).unwrap().clone();

    let failed = run("lr=1.0");
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(failed["parent_id"], id("sweep"));
    assert_eq!(failed["depth"], 1);
    assert_eq!(failed["short_id"], "OfflineRun_5eed0004");
    assert_eq!(
        failed["metrics"]["loss"], "NaN",
        "NaN is a string, as on the wire"
    );
    assert_eq!(
        failed["error"],
        "loss is NaN at step 5: the learning rate is too high"
    );
    assert_eq!(failed["duration_ms"], 42_000);
    assert_eq!(failed["tags"]["model"], "mlp");

    assert_eq!(run("killed")["status"], "PROCESS_GONE");
    assert_eq!(run("killed")["end_time"], Value::Null);
    assert_eq!(run("cancelled")["status"], "KILLED");
    assert_eq!(run("sweep")["depth"], 0);
    assert_eq!(run("sweep")["start_time"], fixture::BASE_TIME);
    assert_eq!(run("regression")["metrics"]["rmse"], 0.58);
}

#[test]
fn show_prints_everything_about_a_run() {
    let store = shared_store();
    let failed = runctx(store, &["show", "lr=1.0"]);
    golden("show-failed.txt", &normalise(failed.ok(), store));
    let killed = runctx(store, &["show", id("killed")]);
    golden("show-killed.txt", &normalise_process(killed.ok(), store));
    let parent = runctx(store, &["show", "sweep"]);
    golden("show-parent.txt", &normalise(parent.ok(), store));
}

#[test]
fn show_json_summarises_series_and_lists_artifacts_and_children() {
    let json = runctx(shared_store(), &["--json", "show", "lr=0.01"]).json();
    assert_eq!(json["id"], id("lr=0.01"));
    assert_eq!(json["status"], "FINISHED");
    let loss = &json["metrics"]["loss"];
    assert_eq!(loss["count"], 20);
    assert_eq!(loss["nan_count"], 1);
    assert!(
        (loss["max"].as_f64().unwrap() - 2.35).abs() < 1e-9,
        "{}",
        loss["max"]
    );
    assert_eq!(loss["first_step"], 0);
    assert_eq!(loss["last_step"], 19);
    assert_eq!(json["properties"]["learning_rate"], "0.01");
    let paths: Vec<&str> = json["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["confusion.json", "per class.json", "samples.png"]);
    assert_eq!(json["artifacts"][2]["kind"], "image");
    assert_eq!(
        json["source"]["git_commit"],
        "0123456789abcdef0123456789abcdef01234567"
    );

    let parent = runctx(shared_store(), &["show", "--json", "sweep"]).json();
    let children: Vec<&str> = parent["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(children, ["lr=0.1", "lr=0.01", "lr=1.0"]);
}

#[test]
fn metrics_prints_series_step_by_step() {
    let store = shared_store();
    let ran = runctx(store, &["metrics", "lr=1.0", "loss", "accuracy"]);
    golden("metrics.txt", ran.ok());

    let json = runctx(store, &["metrics", "--json", "lr=0.01", "loss"]).json();
    let loss = json["metrics"]["loss"].as_array().unwrap();
    assert_eq!(loss.len(), 20);
    assert_eq!(loss[7]["value"], "NaN");
    assert_eq!(loss[7]["step"], 7);
    assert!(loss[0]["timestamp"].as_i64().unwrap() > fixture::BASE_TIME);
    assert!(
        json["metrics"].get("accuracy").is_none(),
        "only the keys asked for"
    );

    let typo = runctx(store, &["metrics", "lr=1.0", "los"]);
    assert_eq!(typo.code, 3);
    assert!(
        typo.stderr
            .contains("no metric \"los\" in run OfflineRun_5eed0004 (lr=1.0); did you mean loss?"),
        "{}",
        typo.stderr
    );
    let empty = runctx(store, &["metrics", "lr=0.1", "--json"]).json();
    assert_eq!(
        empty["metrics"].as_object().unwrap().len(),
        2,
        "all metrics by default"
    );
}

#[test]
fn compare_puts_runs_side_by_side_and_marks_differences() {
    let store = shared_store();
    let ran = runctx(store, &["compare", "lr=0.1", "lr=0.01", "lr=1.0"]);
    golden("compare.txt", ran.ok());

    let diff = runctx(store, &["compare", "--diff", "lr=0.1", "lr=0.01"]);
    let text = diff.ok();
    assert!(
        text.contains("learning_rate") && !text.contains("dataset"),
        "{text}"
    );

    let json = runctx(store, &["compare", "--json", "lr=0.1", "lr=1.0"]).json();
    let lr = json["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "learning_rate")
        .unwrap();
    assert_eq!(lr["values"], serde_json::json!(["0.1", "1"]));
    assert_eq!(lr["differs"], true);
    let model = json["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "model")
        .unwrap();
    assert_eq!(model["differs"], false);
    let best = runctx(store, &["compare", "--json", "sweep", "lr=0.1"]).json();
    let row = best["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "best_accuracy")
        .unwrap();
    assert_eq!(row["values"][1], Value::Null, "a run without the metric");

    let same = runctx(store, &["compare", "sweep", id("sweep")]);
    assert_eq!(same.code, 2, "{}", same.stderr);
    assert!(
        same.stderr.contains("compare needs two different runs"),
        "{}",
        same.stderr
    );
}

#[test]
fn runs_are_found_by_id_prefix_or_name_and_unknown_ids_get_suggestions() {
    let store = shared_store();
    for arg in [
        id("regression"),
        "OfflineRun_a11ce005",
        "a11ce005",
        "regression",
    ] {
        let json = runctx(store, &["show", "--json", arg]).json();
        assert_eq!(json["id"], id("regression"), "{arg}");
    }

    let typo = runctx(store, &["show", "OfflineRun_5eed0009"]);
    assert_eq!(typo.code, 3);
    assert!(
        typo.stderr
            .contains("did you mean OfflineRun_5eed0001 (sweep)"),
        "{}",
        typo.stderr
    );
    let name = runctx(store, &["show", "swep"]);
    assert_eq!(name.code, 3);
    assert!(
        name.stderr.contains("OfflineRun_5eed0001 (sweep)"),
        "{}",
        name.stderr
    );

    let ambiguous = runctx(store, &["show", "5eed"]);
    assert_eq!(ambiguous.code, 3);
    assert!(
        ambiguous.stderr.contains("matches 4 runs")
            && ambiguous.stderr.contains("give more of the id"),
        "{}",
        ambiguous.stderr
    );

    let far = runctx(store, &["show", "nothing-like-it"]);
    assert_eq!(far.code, 3);
    assert!(
        far.stderr.contains("`runctx list` shows the runs"),
        "{}",
        far.stderr
    );

    let json = runctx(store, &["show", "--json", "OfflineRun_5eed0009"]);
    assert_eq!(json.code, 3);
    assert_eq!(json.stdout, "", "errors go to stderr");
    let error: Value = serde_json::from_str(&json.stderr).unwrap();
    assert_eq!(error["error"]["code"], "not_found");
    assert_eq!(error["error"]["exit_code"], 3);
    assert!(
        error["error"]["suggestions"]
            .as_array()
            .unwrap()
            .contains(&Value::from(id("sweep")))
    );
}

#[test]
fn a_run_of_a_live_process_is_running_and_its_duration_grows() {
    let dir = tempfile::tempdir().unwrap();
    let store = run_runtime::Store::new(dir.path());
    let run = store.start_run("live", "training").unwrap();
    run.log("loss", 0.5).unwrap();
    run.flush().unwrap();
    let json = runctx(dir.path(), &["list", "--json"]).json();
    assert_eq!(json["runs"][0]["status"], "RUNNING");
    assert_eq!(json["runs"][0]["end_time"], Value::Null);
    let text = runctx(dir.path(), &["list"]).ok().to_owned();
    assert!(
        text.contains("RUNNING") && !text.contains("process gone"),
        "{text}"
    );
    run.complete().unwrap();
    let json = runctx(dir.path(), &["list", "--json"]).json();
    assert_eq!(json["runs"][0]["status"], "FINISHED");
}

#[test]
fn an_empty_or_missing_store_lists_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-yet");
    let ran = runctx(&missing, &["list"]);
    assert_eq!(ran.ok(), format!("No runs in {}.\n", missing.display()));
    let json = runctx(&missing, &["list", "--json"]).json();
    assert_eq!(json["runs"], serde_json::json!([]));
    let show = runctx(&missing, &["show", "anything"]);
    assert_eq!(show.code, 3);
    assert!(show.stderr.contains("has no runs"), "{}", show.stderr);

    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let bad = runctx(&file, &["list"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("is a file; a store is a folder"),
        "{}",
        bad.stderr
    );
}

#[test]
fn the_store_comes_from_the_flag_then_runctx_home() {
    let store = shared_store();
    let from_env = tests::clean(&mut Command::new(env!("CARGO_BIN_EXE_runctx")))
        .args(["list", "--json"])
        .env("RUNCTX_HOME", store)
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&from_env.stdout).unwrap();
    assert_eq!(json["store"], store.display().to_string());
    assert_eq!(json["runs"].as_array().unwrap().len(), fixture::IDS.len());

    let other = tempfile::tempdir().unwrap();
    let flag_wins = tests::clean(&mut Command::new(env!("CARGO_BIN_EXE_runctx")))
        .args(["list", "--json", "--store"])
        .arg(other.path())
        .env("RUNCTX_HOME", store)
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&flag_wins.stdout).unwrap();
    assert_eq!(json["runs"], serde_json::json!([]));
}

#[test]
fn every_command_has_help_and_bad_usage_exits_2() {
    let store = shared_store();
    let help = runctx(store, &["--help"]);
    for command in [
        "list", "show", "metrics", "compare", "plot", "report", "delete", "gc",
    ] {
        assert!(
            help.ok().contains(command),
            "{command} in:\n{}",
            help.stdout
        );
        let own = runctx(store, &[command, "--help"]);
        assert!(
            own.ok().contains("Usage: runctx"),
            "{command}: {}",
            own.stdout
        );
    }
    assert!(help.stdout.contains("Exit codes"), "{}", help.stdout);
    let bad = runctx(store, &["list", "--bogus"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    let missing = runctx(store, &["compare", "sweep"]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    let status = runctx(store, &["list", "--status", "done"]);
    assert_eq!(status.code, 2);
    assert!(status.stderr.contains("process-gone"), "{}", status.stderr);
}

/// Runs `runctx` on a pseudo-terminal (util-linux `script`), as a person at a terminal would.
fn on_terminal(store: &Path, no_color: Option<&str>) -> String {
    let line = format!(
        "{} --store '{}' list --experiment mnist",
        env!("CARGO_BIN_EXE_runctx"),
        store.display()
    );
    let mut cmd = Command::new("script");
    tests::clean(&mut cmd);
    cmd.args(["-qec", &line, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    if let Some(v) = no_color {
        cmd.env("NO_COLOR", v);
    }
    let out = cmd
        .output()
        .expect("util-linux `script` runs a command on a terminal");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn colour_on_a_terminal_only_and_never_with_no_color() {
    let store = shared_store();
    let coloured = on_terminal(store, None);
    assert!(coloured.contains("\x1b[32mFINISHED\x1b[0m"), "{coloured:?}");
    assert!(coloured.contains("\x1b[31mFAILED\x1b[0m"), "{coloured:?}");
    let plain = on_terminal(store, Some("1"));
    assert!(
        plain.contains("FINISHED") && !plain.contains('\x1b'),
        "{plain:?}"
    );
}

#[test]
fn a_hand_edited_parent_cycle_does_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    let store = run_runtime::Store::new(dir.path());
    let a = store.start_run("e", "a").unwrap();
    let b = a.child_run("b").unwrap();
    b.complete().unwrap();
    a.complete().unwrap();
    let mut meta = store.meta(a.id()).unwrap();
    meta.parent_id = Some(b.id().to_owned());
    let file = store.run_dir(a.id()).unwrap().join("run.json");
    std::fs::write(file, serde_json::to_vec(&meta).unwrap()).unwrap();

    // Named by id: the names "a" and "b" are also hex digits a random id can start with.
    let page = dir.path().join("r.html");
    let json = runctx(
        dir.path(),
        &["report", a.id(), "-o", page.to_str().unwrap(), "--json"],
    )
    .json();
    assert_eq!(json["runs"].as_array().unwrap().len(), 2);
    let listed = runctx(dir.path(), &["list", "--json"]).json();
    assert_eq!(listed["runs"].as_array().unwrap().len(), 2, "both listed");
    let deleted = runctx(dir.path(), &["delete", "--yes", "--json", b.id()]).json();
    assert_eq!(deleted["deleted"].as_array().unwrap().len(), 2);
}

#[test]
fn show_lists_the_inputs_a_step_read_with_their_size_and_digest() {
    // The `tests` dev-dependency turns on run-runtime's macros.
    #[run_runtime::aml_step(inputs(raw))]
    fn prep(raw: &Path) {
        let _ = raw;
    }
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw.txt");
    std::fs::write(&raw, "abc").unwrap();
    let root = dir.path().join("runs");
    let run = run_runtime::Store::new(&root)
        .start_run("Default", "prep")
        .unwrap();
    let bindings = [("raw".to_owned(), raw.display().to_string())].into();
    prep::STEP.call(&run, &bindings).unwrap();

    let shown = runctx(&root, &["show", run.id()]);
    // The tags list the input's path too: the line is the one under the heading.
    let (_, inputs) = shown
        .ok()
        .split_once("\nInputs\n")
        .expect("an Inputs section");
    let line = inputs
        .lines()
        .find(|l| l.trim_start().starts_with("raw "))
        .unwrap_or_else(|| panic!("no input line:\n{}", shown.ok()));
    assert!(line.contains(&raw.display().to_string()), "{line}");
    assert!(line.contains("3 B"), "{line}");
    assert!(line.contains("ba7816bf8f01"), "{line}");
    let json = runctx(&root, &["--json", "show", run.id()]).json();
    assert_eq!(
        json["inputs"]["raw"],
        serde_json::json!({
            "path": raw.display().to_string(),
            "size": 3,
            "digest": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        })
    );
}
