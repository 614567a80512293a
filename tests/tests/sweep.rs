//! Sweeps run as processes: each trial a child run of the sweep's run, launched through the
//! `steps` program's `curve` step (a scripted metric curve), never more than
//! `max_concurrent_trials` at once, the policy stopping the bad ones, and a sweep killed with
//! SIGKILL resumed without repeating what had finished.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use run_runtime::sweep::SweepSpec;
use run_runtime::sweep::{
    BEST_TRIAL, INTERRUPTED_TAG, STOP_REASON_TAG, STOPPED_BY_TAG, TRIAL_PROPERTY,
};
use run_runtime::{RunData, Status, Store};

const STEPS: &str = env!("CARGO_BIN_EXE_steps");

/// A sweep file over the `curve` step: a grid of the curves, one trial each, in order.
fn sweep_file(curves: &[&str], concurrent: usize, policy: &str) -> String {
    let values: Vec<String> = curves.iter().map(|c| format!("{c:?}")).collect();
    format!(
        "type: sweep\n\
         display_name: curves\n\
         trial:\n  command: {STEPS} curve --curve ${{{{search_space.curve}}}}\n\
         search_space:\n  curve: {{type: choice, values: [{}]}}\n\
         sampling_algorithm: grid\n\
         objective: {{goal: minimize, primary_metric: loss}}\n\
         limits: {{max_total_trials: {}, max_concurrent_trials: {concurrent}}}\n\
         {policy}",
        values.join(", "),
        curves.len()
    )
}

/// The sweep's run and its trials' runs by trial number (a trial run again has several).
fn family(store: &Store, sweep: &str) -> (RunData, BTreeMap<usize, Vec<RunData>>) {
    let parent = store.read(sweep).unwrap();
    let mut trials: BTreeMap<usize, Vec<RunData>> = BTreeMap::new();
    for id in store.children(sweep).unwrap() {
        let run = store.read(&id).unwrap();
        let n = run.properties[TRIAL_PROPERTY].parse().unwrap();
        trials.entry(n).or_default().push(run);
    }
    (parent, trials)
}

#[test]
fn trials_are_child_runs_with_their_params_and_the_sweep_records_the_best() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    let spec =
        SweepSpec::from_yaml(&sweep_file(&["0.9 0.5", "0.8 0.2 0.3", "1.0"], 2, "")).unwrap();
    let outcome = spec.run(&store, dir.path()).unwrap();
    assert!(!outcome.interrupted);
    let (parent, trials) = family(&store, &outcome.run_id);
    assert_eq!(parent.status, Status::Finished);
    assert_eq!(trials.len(), 3);
    for (n, curve) in ["0.9 0.5", "0.8 0.2 0.3", "1.0"].iter().enumerate() {
        let run = &trials[&n][0];
        assert_eq!(run.status, Status::Finished, "{:?}", run.error);
        assert_eq!(run.meta.name, format!("trial_{n}"));
        assert_eq!(run.meta.parent_id.as_deref(), Some(outcome.run_id.as_str()));
        assert_eq!(run.properties["curve"], *curve);
        assert_eq!(run.metrics["loss"].len(), curve.split(' ').count());
    }
    // The best is the lowest loss any trial logged: trial 1's 0.2.
    let best = &trials[&1][0];
    assert_eq!(outcome.best_trial().unwrap().run_id, best.meta.id);
    for record in [&parent.tags, &parent.properties] {
        assert_eq!(record[BEST_TRIAL], best.meta.id);
        assert_eq!(record["best_trial.metric.loss"], "0.2");
        assert_eq!(record["best_trial.param.curve"], "0.8 0.2 0.3");
    }
}

/// When each run started and ended, in milliseconds.
fn span(run: &RunData) -> (i64, i64) {
    (run.meta.start_time, run.end_time.unwrap())
}

#[test]
fn never_more_than_max_concurrent_trials_run_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    // Each trial holds until the file `release` exists in the sweep's folder, which is made once
    // two trials run at once; after that each ends as soon as it has logged.
    let release = dir.path().join("release");
    let curves = [
        "0.6 hold", "0.5 hold", "0.4 hold", "0.3 hold", "0.2 hold", "0.1 hold",
    ];
    let spec = SweepSpec::from_yaml(&sweep_file(&curves, 2, "")).unwrap();
    let watcher = {
        let (store, release) = (store.clone(), release.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                let running = store
                    .runs()
                    .unwrap()
                    .iter()
                    .filter(|r| r.meta.parent_id.is_some() && r.status() == Status::Running)
                    .count();
                if running >= 2 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            std::fs::write(&release, "go").unwrap();
        })
    };
    let outcome = spec.run(&store, dir.path()).unwrap();
    watcher.join().unwrap();
    let (_, trials) = family(&store, &outcome.run_id);
    assert_eq!(trials.len(), 6);
    let spans: Vec<(i64, i64)> = trials.values().map(|r| span(&r[0])).collect();
    // The most runs alive at one moment: at each start, count those started and not ended.
    let most = spans
        .iter()
        .map(|&(s, _)| spans.iter().filter(|&&(a, b)| a <= s && s < b).count())
        .max()
        .unwrap();
    assert_eq!(most, 2, "runs' times: {spans:?}");
    assert_eq!(
        outcome.best_trial().unwrap().params["curve"].to_string(),
        "0.1 hold"
    );
}

#[test]
fn a_trial_the_bandit_stops_ends_killed_with_the_policy_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    // One at a time: trial 0 logs 0.5 0.3 0.2; trial 1 logs 0.9 0.8 and would hold for a
    // minute, but at interval 2 its best, 0.8, is more than 0.1 worse than the best any trial
    // had at its interval 2, trial 0's 0.3.
    let policy = "early_termination: {type: bandit, slack_amount: 0.1, evaluation_interval: 1, delay_evaluation: 2}\n";
    let spec =
        SweepSpec::from_yaml(&sweep_file(&["0.5 0.3 0.2", "0.9 0.8 hold"], 1, policy)).unwrap();
    let started = Instant::now();
    let outcome = spec.run(&store, dir.path()).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "the held trial was not stopped"
    );
    let (parent, trials) = family(&store, &outcome.run_id);
    let stopped = &trials[&1][0];
    assert_eq!(stopped.status, Status::Killed, "{:?}", stopped.error);
    assert_eq!(stopped.tags[STOPPED_BY_TAG], "bandit");
    assert_eq!(
        stopped.tags[STOP_REASON_TAG],
        "bandit: at interval 2 its best value 0.8 is not within slack amount 0.1 of the best trial's 0.3"
    );
    assert_eq!(trials[&0][0].status, Status::Finished);
    assert!(!trials[&0][0].tags.contains_key(STOPPED_BY_TAG));
    assert_eq!(parent.tags[BEST_TRIAL], trials[&0][0].meta.id);
    assert_eq!(outcome.trials[1].stopped.as_ref().unwrap().policy, "bandit");
}

/// Whether process `pid` is gone (or a zombie no one has reaped yet).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

/// Waits (bounded) for `check`, polling.
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_sweep_killed_with_sigkill_resumes_without_repeating_finished_trials() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("runs");
    let store = Store::new(&home);
    let release = dir.path().join("release");
    let file = dir.path().join("sweep.yml");
    std::fs::write(
        &file,
        sweep_file(&["0.5", "0.4", "0.3 hold", "0.35"], 1, ""),
    )
    .unwrap();
    let steps = |mode: &str, arg: &str| {
        let mut command = Command::new(STEPS);
        command
            .args([mode, arg])
            .current_dir(dir.path())
            .env("RUNCTX_HOME", &home)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    };
    let mut sweep = steps("--sweep", file.to_str().unwrap()).spawn().unwrap();
    // Trial 2 holds: once it has said its process id, SIGKILL the sweep.
    let mut held = None;
    wait_for("trial 2 to start", || {
        let runs = store.runs().unwrap();
        let Some(run) = runs.iter().find(|r| r.meta.name == "trial_2") else {
            return false;
        };
        let out = store
            .artifact_file(&run.meta.id, "logs/stdout.txt")
            .ok()
            .and_then(|f| std::fs::read_to_string(f).ok());
        held = out
            .and_then(|o| serde_json::from_str::<serde_json::Value>(o.lines().next()?).ok())
            .and_then(|v| v["pid"].as_u64());
        held.is_some()
    });
    sweep.kill().unwrap();
    sweep.wait().unwrap();
    let pid = held.unwrap() as u32;
    wait_for("the held trial to die with the sweep", || gone(pid));
    let sweep_id = store
        .runs()
        .unwrap()
        .into_iter()
        .find(|r| r.meta.parent_id.is_none())
        .unwrap()
        .meta
        .id;
    assert_eq!(store.read(&sweep_id).unwrap().status, Status::Running);

    std::fs::write(&release, "go").unwrap();
    let resumed = steps("--resume", &sweep_id).output().unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let (parent, trials) = family(&store, &sweep_id);
    assert_eq!(parent.status, Status::Finished);
    // Trials 0 and 1 ran once; trial 2 was cut off and ran again with the same curve; 3 ran.
    assert_eq!(trials.keys().copied().collect::<Vec<_>>(), [0, 1, 2, 3]);
    assert_eq!(
        (
            trials[&0].len(),
            trials[&1].len(),
            trials[&2].len(),
            trials[&3].len()
        ),
        (1, 1, 2, 1)
    );
    let (cut, again): (Vec<&RunData>, Vec<&RunData>) = trials[&2]
        .iter()
        .partition(|r| r.tags.contains_key(INTERRUPTED_TAG));
    assert_eq!(cut[0].status, Status::Killed);
    assert_eq!(again[0].status, Status::Finished);
    assert_eq!(again[0].properties["curve"], "0.3 hold");
    assert_eq!(parent.tags[BEST_TRIAL], again[0].meta.id);
    // Resuming a sweep that ended is refused, saying why.
    let error = run_runtime::sweep::resume(&store, &sweep_id)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("the sweep already ended (FINISHED)"),
        "{error}"
    );
}
