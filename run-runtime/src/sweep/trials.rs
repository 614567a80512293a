//! Running a sweep's trials and resuming an interrupted sweep (documented with the `sweep` module).

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::SweepSpec;
use super::sampling::Scored;
use super::space::{Params, invalid};
use super::termination::{Monitor, Stop};
use crate::error::{Error, Result, Status};
use crate::launch::{Launch, Launched};
use crate::run::Run;
use crate::store::Store;

/// The sweep, as run: an artifact of the sweep's run.
pub const SPEC_ARTIFACT: &str = "sweep.yaml";
/// The folder the trials' commands run in: a property of the sweep's run.
pub const DIR_PROPERTY: &str = "runctx.sweep.dir";
/// A trial's number: a property of its run.
pub const TRIAL_PROPERTY: &str = "runctx.sweep.trial";
/// A trial's parameters as JSON: a property of its run.
pub const PARAMS_PROPERTY: &str = "runctx.sweep.params";
/// What stopped a trial early: a tag of its run.
pub const STOPPED_BY_TAG: &str = "runctx.sweep.stopped_by";
/// Why it was stopped: a tag of its run.
pub const STOP_REASON_TAG: &str = "runctx.sweep.stop_reason";
/// Set on an interrupted sweep's run and on the trials the interruption cut off.
pub const INTERRUPTED_TAG: &str = "runctx.sweep.interrupted";
/// The best trial's run id: a tag and property of the sweep's run.
pub const BEST_TRIAL: &str = "best_trial";

/// How long a stopped trial has to end after SIGTERM before it gets SIGKILL.
pub const KILL_AFTER: Duration = Duration::from_secs(10);
/// How often the running trials are checked for their end.
const POLL: Duration = Duration::from_millis(10);
/// How often their primary metric is read for the policy.
const READ_EVERY: Duration = Duration::from_millis(200);

/// How one trial went.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialOutcome {
    /// Its number, from 0.
    pub trial: usize,
    /// Its run.
    pub run_id: String,
    /// Its parameters.
    pub params: Params,
    /// How its run ended.
    pub status: Status,
    /// The best value of the primary metric it logged.
    pub value: Option<f64>,
    /// What stopped it early, if anything did.
    pub stopped: Option<Stop>,
}

/// How a sweep went.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepOutcome {
    /// The sweep's run.
    pub run_id: String,
    /// The trials that ended, by number.
    pub trials: Vec<TrialOutcome>,
    /// The best of them (an index into `trials`).
    pub best: Option<usize>,
    /// Whether a signal interrupted it (then its run is still RUNNING: [`resume`] it).
    pub interrupted: bool,
}

impl SweepOutcome {
    /// The best trial.
    pub fn best_trial(&self) -> Option<&TrialOutcome> {
        self.best.map(|b| &self.trials[b])
    }
}

impl SweepSpec {
    /// Runs the sweep in `store`, each trial's command in folder `dir`; see the
    /// [module](super) documentation. Returns when every trial has ended (or, interrupted, when
    /// the running ones have).
    pub fn run(&self, store: &Store, dir: &Path) -> Result<SweepOutcome> {
        self.run_reporting(store, dir, &mut |_| {})
    }

    /// [`SweepSpec::run`], calling `report` with each trial as it ends (in end order).
    pub fn run_reporting(
        &self,
        store: &Store,
        dir: &Path,
        report: &mut dyn FnMut(&TrialOutcome),
    ) -> Result<SweepOutcome> {
        self.check()?;
        let name = self.display_name.as_deref().unwrap_or("sweep");
        let parent = crate::launch::new_run(store, self.experiment_name.as_deref(), name)?;
        let dir = std::path::absolute(dir).map_err(|e| Error::io("find", dir, e))?;
        parent.log_text(SPEC_ARTIFACT, &self.to_yaml()?)?;
        parent.add_property(DIR_PROPERTY, dir.display())?;
        if let Some(d) = &self.description {
            parent.tag("mlflow.note.content", d)?;
        }
        // `resume` finds the sweep's folder in this property: on disk before any trial starts,
        // or a SIGKILL in the first second left a sweep that could not be resumed (seen in CI).
        parent.flush()?;
        let survey = Survey {
            done: Vec::new(),
            pending: VecDeque::new(),
            next: 0,
        };
        Engine::new(self, parent, dir, survey, report).run()
    }
}

/// Goes on with the interrupted sweep `id` of `store`; see the [module](super) documentation.
pub fn resume(store: &Store, id: &str) -> Result<SweepOutcome> {
    resume_reporting(store, id, &mut |_| {})
}

/// [`resume`], calling `report` with each trial as it ends (in end order).
pub fn resume_reporting(
    store: &Store,
    id: &str,
    report: &mut dyn FnMut(&TrialOutcome),
) -> Result<SweepOutcome> {
    let id = store.resolve(id)?;
    let data = store.read(&id)?;
    let not_a_sweep = |why: &str| invalid("--resume".into(), id.clone(), why);
    let spec_file = store
        .artifact_file(&id, SPEC_ARTIFACT)
        .map_err(|_| not_a_sweep("the run has no sweep.yaml artifact: it is not a sweep's run"))?;
    let text = std::fs::read_to_string(&spec_file).map_err(|e| Error::io("read", &spec_file, e))?;
    let spec = SweepSpec::from_yaml(&text)?;
    let dir = data.properties.get(DIR_PROPERTY).ok_or_else(|| {
        not_a_sweep("the run has no runctx.sweep.dir property: it is not a sweep's run")
    })?;
    if data.status != Status::Running {
        return Err(not_a_sweep(&format!(
            "the sweep already ended ({}); only an interrupted sweep, still RUNNING, can go on",
            data.status
        )));
    }
    let parent = store.attach(&id)?;
    if let Some(before) = data.tags.get(INTERRUPTED_TAG) {
        parent.tag(INTERRUPTED_TAG, format!("{before}; resumed"))?;
    }
    let survey = survey(store, &id, &spec)?;
    Engine::new(&spec, parent, PathBuf::from(dir), survey, report).run()
}

/// The trials of a sweep so far, as [`survey`] finds them.
struct Survey {
    /// The trials that ended.
    done: Vec<TrialOutcome>,
    /// The trials to run again, cut off by an interruption.
    pending: VecDeque<(usize, Params)>,
    /// The next trial number.
    next: usize,
}

/// The trials of sweep `id` so far (the runs of the ones cut off are ended KILLED here).
fn survey(store: &Store, id: &str, spec: &SweepSpec) -> Result<Survey> {
    let mut done = BTreeMap::new();
    let mut cut = BTreeMap::new();
    let mut next = 0;
    for child in store.children(id)? {
        let data = store.read(&child)?;
        let (Some(trial), Some(params)) = (
            data.properties
                .get(TRIAL_PROPERTY)
                .and_then(|t| t.parse::<usize>().ok()),
            data.properties
                .get(PARAMS_PROPERTY)
                .and_then(|p| serde_json::from_str::<Params>(p).ok()),
        ) else {
            continue;
        };
        next = next.max(trial + 1);
        if data.status == Status::Running {
            let run = store.attach(&child)?;
            run.tag(INTERRUPTED_TAG, "the sweep's process died while it ran")?;
            run.end_as(Status::Killed, Some("the sweep was interrupted".into()))?;
            cut.insert(trial, params);
        } else if data.tags.contains_key(INTERRUPTED_TAG) {
            cut.insert(trial, params);
        } else {
            let stopped = data.tags.get(STOPPED_BY_TAG).map(|p| Stop {
                policy: policy_name(p),
                interval: 0,
                reason: data.tags.get(STOP_REASON_TAG).cloned().unwrap_or_default(),
            });
            let value = best_value(spec, &data.metrics);
            done.insert(
                trial,
                TrialOutcome {
                    trial,
                    run_id: child,
                    params,
                    status: data.status,
                    value,
                    stopped,
                },
            );
        }
    }
    let pending = cut
        .into_iter()
        .filter(|(t, _)| !done.contains_key(t))
        .collect();
    Ok(Survey {
        done: done.into_values().collect(),
        pending,
        next,
    })
}

fn policy_name(name: &str) -> &'static str {
    [
        "bandit",
        "median_stopping",
        "truncation_selection",
        "trial_timeout",
        "timeout",
    ]
    .into_iter()
    .find(|p| *p == name)
    .unwrap_or("unknown")
}

/// The series of the primary metric in `metrics`, in logging order.
fn primary(spec: &SweepSpec, metrics: &Metrics) -> Vec<f64> {
    metrics
        .get(&spec.objective.primary_metric)
        .map_or_else(Vec::new, |s| s.iter().map(|p| p.value).collect())
}

/// The best value of the primary metric in `metrics`.
fn best_value(spec: &SweepSpec, metrics: &Metrics) -> Option<f64> {
    let values = primary(spec, metrics);
    (!values.is_empty()).then(|| spec.objective.goal.best(&values))
}

type Metrics = BTreeMap<String, Vec<crate::store::MetricPoint>>;

/// A trial whose process runs.
struct Active {
    trial: usize,
    params: Params,
    launched: Launched,
    since: Instant,
    /// What stopped it, and when SIGTERM went; whether SIGKILL followed.
    stop: Option<(Stop, Instant, bool)>,
}

struct Engine<'a> {
    spec: &'a SweepSpec,
    parent: Run,
    dir: PathBuf,
    monitor: Monitor,
    done: Vec<TrialOutcome>,
    pending: VecDeque<(usize, Params)>,
    next: usize,
    running: Vec<Active>,
    cut: usize,
    exhausted: bool,
    started: Instant,
    read_at: Instant,
    report: &'a mut dyn FnMut(&TrialOutcome),
}

impl<'a> Engine<'a> {
    fn new(
        spec: &'a SweepSpec,
        parent: Run,
        dir: PathBuf,
        survey: Survey,
        report: &'a mut dyn FnMut(&TrialOutcome),
    ) -> Engine<'a> {
        let Survey {
            done,
            pending,
            next,
        } = survey;
        let monitor = Monitor::new(spec.early_termination.clone(), spec.objective.goal);
        let now = Instant::now();
        Engine {
            spec,
            parent,
            dir,
            monitor,
            done,
            pending,
            next,
            running: Vec::new(),
            cut: 0,
            exhausted: false,
            started: now,
            read_at: now,
            report,
        }
    }

    fn run(mut self) -> Result<SweepOutcome> {
        self.feed_done()?;
        let interrupted = interruption();
        loop {
            let stopping = interrupted.load(Ordering::SeqCst) || self.timed_out();
            if !stopping {
                self.launch_more()?;
            }
            if self.running.is_empty()
                && (stopping || (self.pending.is_empty() && self.no_more_trials()))
            {
                break;
            }
            self.watch()?;
            self.reap(interrupted.load(Ordering::SeqCst))?;
            std::thread::sleep(POLL);
        }
        self.finish(interrupted.load(Ordering::SeqCst))
    }

    /// Trials kept from before a resume count for the policy's comparisons.
    fn feed_done(&mut self) -> Result<()> {
        for t in &self.done {
            let data = self.parent.store().read(&t.run_id)?;
            self.monitor
                .update(t.trial, &primary(self.spec, &data.metrics));
        }
        Ok(())
    }

    fn timed_out(&self) -> bool {
        self.spec
            .timeout()
            .is_some_and(|t| self.started.elapsed() >= t)
    }

    fn no_more_trials(&self) -> bool {
        self.exhausted || self.next >= self.spec.limits.max_total_trials
    }

    fn launch_more(&mut self) -> Result<()> {
        while self.running.len() < self.spec.limits.max_concurrent_trials {
            let (trial, params) = match self.pending.pop_front() {
                Some(again) => again,
                None if self.no_more_trials() => return Ok(()),
                None => {
                    let scored: Vec<Scored> = self
                        .done
                        .iter()
                        .filter_map(|t| {
                            Some(Scored {
                                params: t.params.clone(),
                                score: self.spec.objective.goal.score(t.value?),
                            })
                        })
                        .collect();
                    match self.spec.sampling_algorithm.trial(
                        &self.spec.search_space,
                        self.next,
                        &scored,
                    ) {
                        Some(params) => {
                            self.next += 1;
                            (self.next - 1, params)
                        }
                        None => {
                            self.exhausted = true;
                            return Ok(());
                        }
                    }
                }
            };
            self.start(trial, params)?;
        }
        Ok(())
    }

    fn start(&mut self, trial: usize, params: Params) -> Result<()> {
        let child = self.parent.child_run(&format!("trial_{trial}"))?;
        child.add_properties(params.iter().map(|(k, v)| (k.as_str(), v.to_string())))?;
        child.add_property(TRIAL_PROPERTY, trial)?;
        let json = serde_json::to_string(&params)
            .map_err(|e| invalid("search_space".into(), format!("{params:?}"), &e.to_string()))?;
        child.add_property(PARAMS_PROPERTY, json)?;
        let line = self.spec.command_for(&params);
        let launch = match simple_words(&line) {
            // Started directly, so that dying with the sweep reaches the program itself.
            Some(words) if !words.is_empty() => Launch::new(&words[0]).args(&words[1..]),
            _ => Launch::new("sh").arg("-c").arg(&line),
        };
        let launched = launch
            .current_dir(&self.dir)
            .echo(false)
            .die_with_launcher()
            .spawn(child)?;
        self.running.push(Active {
            trial,
            params,
            launched,
            since: Instant::now(),
            stop: None,
        });
        Ok(())
    }

    /// Reads the running trials' primary metric, applies the policy and the timeouts, and
    /// signals the trials to stop.
    fn watch(&mut self) -> Result<()> {
        let mut stops = Vec::new();
        if self.read_at.elapsed() >= READ_EVERY {
            self.read_at = Instant::now();
            for a in &self.running {
                let data = self.parent.store().read(a.launched.run().id())?;
                self.monitor
                    .update(a.trial, &primary(self.spec, &data.metrics));
            }
            let trials: Vec<usize> = self
                .running
                .iter()
                .filter(|a| a.stop.is_none())
                .map(|a| a.trial)
                .collect();
            stops = self.monitor.decide(&trials);
        }
        for a in &self.running {
            let over = |limit: Option<Duration>, since: Instant| {
                limit.is_some_and(|l| since.elapsed() >= l)
            };
            if over(self.spec.timeout(), self.started) {
                let reason = format!(
                    "the sweep's timeout of {} s passed",
                    self.spec.limits.timeout.unwrap_or(0)
                );
                stops.push((
                    a.trial,
                    Stop {
                        policy: "timeout",
                        interval: 0,
                        reason,
                    },
                ));
            } else if over(self.spec.trial_timeout(), a.since) {
                let reason = format!(
                    "the trial ran past trial_timeout, {} s",
                    self.spec.limits.trial_timeout.unwrap_or(0)
                );
                stops.push((
                    a.trial,
                    Stop {
                        policy: "trial_timeout",
                        interval: 0,
                        reason,
                    },
                ));
            }
        }
        for (trial, stop) in stops {
            if let Some(a) = self
                .running
                .iter_mut()
                .find(|a| a.trial == trial && a.stop.is_none())
            {
                let run = a.launched.run();
                run.tag(STOPPED_BY_TAG, stop.policy)?;
                run.tag(STOP_REASON_TAG, &stop.reason)?;
                run.flush()?;
                signal(&a.launched, libc::SIGTERM);
                a.stop = Some((stop, Instant::now(), false));
            }
        }
        for a in &mut self.running {
            if let Some((_, sent, killed @ false)) = &mut a.stop
                && sent.elapsed() >= KILL_AFTER
            {
                signal(&a.launched, libc::SIGKILL);
                *killed = true;
            }
        }
        Ok(())
    }

    /// Ends the runs of the trials whose processes ended.
    fn reap(&mut self, interrupted: bool) -> Result<()> {
        let mut i = 0;
        while i < self.running.len() {
            if !self.running[i].launched.has_ended()? {
                i += 1;
                continue;
            }
            let a = self.running.swap_remove(i);
            let run = a.launched.run().clone();
            let outcome = a.launched.wait()?;
            if interrupted && a.stop.is_none() && outcome.status != Status::Finished {
                run.tag(INTERRUPTED_TAG, "the sweep was interrupted while it ran")?;
                run.flush()?;
                self.cut += 1;
                continue;
            }
            let data = self.parent.store().read(run.id())?;
            let value = best_value(self.spec, &data.metrics);
            // The policy compares the running trials with every trial's whole series.
            self.monitor
                .update(a.trial, &primary(self.spec, &data.metrics));
            self.done.push(TrialOutcome {
                trial: a.trial,
                run_id: run.id().to_owned(),
                params: a.params,
                status: outcome.status,
                value,
                stopped: a.stop.map(|(s, _, _)| s),
            });
            if let Some(t) = self.done.last() {
                (self.report)(t);
            }
        }
        Ok(())
    }

    fn finish(mut self, interrupted: bool) -> Result<SweepOutcome> {
        self.done.sort_by_key(|t| t.trial);
        let goal = self.spec.objective.goal;
        let best = self
            .done
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((i, goal.score(t.value?))))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(i, _)| i);
        let id = self.parent.id().to_owned();
        if interrupted {
            self.parent.tag(INTERRUPTED_TAG, format!("stopped by a signal with {} trials cut off; go on with: runctx sweep --resume {id}", self.cut))?;
            self.parent.flush()?;
            // Left RUNNING for `resume`: this process neither ends it nor ships it further.
            self.parent.hand_over();
        } else {
            match best {
                Some(b) => self.record_best(&self.done[b])?,
                None => self.parent.fail(format!(
                    "no trial logged the primary metric {:?}; see the trials' logs/stderr.txt",
                    self.spec.objective.primary_metric
                ))?,
            }
            if self.parent.status().is_none() {
                self.parent.complete()?;
            }
        }
        Ok(SweepOutcome {
            run_id: id,
            trials: self.done,
            best,
            interrupted,
        })
    }

    fn record_best(&self, best: &TrialOutcome) -> Result<()> {
        let metric = format!("{BEST_TRIAL}.metric.{}", self.spec.objective.primary_metric);
        let value = best.value.map(|v| v.to_string()).unwrap_or_default();
        let mut pairs = vec![
            (BEST_TRIAL.to_owned(), best.run_id.clone()),
            (metric, value),
        ];
        pairs.extend(
            best.params
                .iter()
                .map(|(k, v)| (format!("{BEST_TRIAL}.param.{k}"), v.to_string())),
        );
        self.parent
            .set_tags(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        self.parent
            .add_properties(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

/// The words of `line` when it is a simple command (words, quotes and backslashes only), as a
/// POSIX shell would split them; `None` when it needs a shell (pipes, `&&`, `$`, globs,
/// redirections, a leading `NAME=value`, ...).
fn simple_words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => w.push(c),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '$' | '`' => return None,
                        '\\' => match chars.next()? {
                            c @ ('"' | '\\' | '$' | '`') => w.push(c),
                            c => {
                                w.push('\\');
                                w.push(c);
                            }
                        },
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).push(chars.next()?),
            '|' | '&' | ';' | '<' | '>' | '(' | ')' | '$' | '`' | '*' | '?' | '[' | '#' | '~'
            | '{' | '}' | '\n' => {
                return None;
            }
            '=' if words.is_empty() => return None,
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Some(words)
}

/// Sends `signal` to a trial's process group; one that has just ended needs none.
fn signal(launched: &Launched, signal: i32) {
    let _ = launched.signal(signal);
}

/// Set by SIGINT or SIGTERM, once registered; the launcher forwards the signals to the trials
/// themselves.
fn interruption() -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        for s in [libc::SIGINT, libc::SIGTERM] {
            if let Err(e) = signal_hook::flag::register(s, Arc::clone(&flag)) {
                eprintln!("run-runtime: sweep: cannot watch signal {s} ({e}); a Ctrl-C will not stop the sweep cleanly");
            }
        }
        flag
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::simple_words;

    #[test]
    fn simple_commands_are_split_as_a_shell_splits_them() {
        let words = |line| simple_words(line).map(|w| w.join("|"));
        assert_eq!(
            words("python train.py --lr 0.01").as_deref(),
            Some("python|train.py|--lr|0.01")
        );
        assert_eq!(
            words(r#"prog 'it'\''s' "a \" b" x\ y --k=v"#).as_deref(),
            Some(r#"prog|it's|a " b|x y|--k=v"#)
        );
        assert_eq!(words("prog ''").as_deref(), Some("prog|"));
        for shell in [
            "a && b",
            "a | b",
            "a > f",
            "echo $HOME",
            "x=1 prog",
            "prog *.csv",
            r#"prog "$x""#,
            "a; b",
            "prog 'open",
        ] {
            assert_eq!(simple_words(shell), None, "{shell}");
        }
    }
}
