//! Early termination, as Azure ML's HyperDrive defines it: a policy looks at the primary metric
//! of every trial as the trials log it, and stops the trials that are doing badly.
//!
//! Each value of the primary metric a trial logs is one *interval*. A policy is applied to a
//! trial at its interval `n` when `n >= delay_evaluation` and `n` is a multiple of
//! `evaluation_interval`, and it compares the trials on what they logged up to interval `n`:
//! a trial's value there is the best it logged in its first `n` intervals.
//!
//! | policy | stops the trial at interval `n` when |
//! | --- | --- |
//! | `bandit`, `slack_factor: f` | maximize: its value × (1 + f) < the best value of any trial up to `n`; minimize: its value > that best × (1 + f) |
//! | `bandit`, `slack_amount: a` | its value is more than `a` worse than the best value of any trial up to `n` |
//! | `median_stopping` | its value is strictly worse than the median of the other trials' running averages of their first `n` values (those that logged `n` values) |
//! | `truncation_selection`, `truncation_percentage: p` | among the trials that logged `n` values, ranked worst first (ties by trial number), it is among the first `floor(k × p / 100)` of the `k` |
//!
//! A value that is NaN (a diverged trial) is worse than any number.

use serde::{Deserialize, Serialize};

use super::objective::Goal;
use super::space::invalid;
use crate::error::Result;

/// An early termination policy, with Azure ML's names (`early_termination: {type: bandit,
/// slack_factor: 0.1, evaluation_interval: 1, delay_evaluation: 5}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Policy {
    /// Stops a trial whose value is not within a slack of the best trial's.
    Bandit {
        /// The slack as a ratio; exactly one of this and `slack_amount`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        slack_factor: Option<f64>,
        /// The slack as an absolute difference.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        slack_amount: Option<f64>,
        /// Applied every this many intervals.
        #[serde(default = "one")]
        evaluation_interval: u32,
        /// Not applied before this interval.
        #[serde(default)]
        delay_evaluation: u32,
    },
    /// Stops a trial worse than the median of the others' running averages.
    MedianStopping {
        /// Applied every this many intervals.
        #[serde(default = "one")]
        evaluation_interval: u32,
        /// Not applied before this interval.
        #[serde(default)]
        delay_evaluation: u32,
    },
    /// Stops the worst `truncation_percentage` percent of the trials.
    TruncationSelection {
        /// The share of trials stopped at each evaluation, in percent (1 to 99).
        truncation_percentage: u32,
        /// Applied every this many intervals.
        #[serde(default = "one")]
        evaluation_interval: u32,
        /// Not applied before this interval.
        #[serde(default)]
        delay_evaluation: u32,
    },
}

fn one() -> u32 {
    1
}

/// Why a policy stopped a trial.
#[derive(Debug, Clone, PartialEq)]
pub struct Stop {
    /// The policy's name: `bandit`, `median_stopping` or `truncation_selection`.
    pub policy: &'static str,
    /// The interval it was applied at.
    pub interval: usize,
    /// The comparison that stopped it, with the numbers.
    pub reason: String,
}

impl Policy {
    /// The policy's name, as in the YAML.
    pub fn name(&self) -> &'static str {
        match self {
            Policy::Bandit { .. } => "bandit",
            Policy::MedianStopping { .. } => "median_stopping",
            Policy::TruncationSelection { .. } => "truncation_selection",
        }
    }

    /// Checks the policy's settings.
    pub fn check(&self) -> Result<()> {
        let (interval, _) = self.schedule();
        if interval == 0 {
            return Err(invalid(
                "early_termination.evaluation_interval".into(),
                "0".into(),
                "the policy is applied every evaluation_interval values: give 1 or more",
            ));
        }
        match *self {
            Policy::Bandit {
                slack_factor,
                slack_amount,
                ..
            } => match (slack_factor, slack_amount) {
                (Some(s), None) | (None, Some(s)) if s.is_finite() && s >= 0.0 => Ok(()),
                (Some(_), Some(_)) | (None, None) => Err(invalid(
                    "early_termination.slack_factor".into(),
                    format!("{slack_factor:?} with slack_amount {slack_amount:?}"),
                    "a bandit policy takes exactly one of slack_factor and slack_amount",
                )),
                (Some(s), None) | (None, Some(s)) => Err(invalid(
                    "early_termination.slack_factor".into(),
                    s.to_string(),
                    "the slack must be a finite number, 0 or more",
                )),
            },
            Policy::TruncationSelection {
                truncation_percentage: p,
                ..
            } if !(1..=99).contains(&p) => Err(invalid(
                "early_termination.truncation_percentage".into(),
                p.to_string(),
                "give a percentage from 1 to 99",
            )),
            _ => Ok(()),
        }
    }

    fn schedule(&self) -> (u32, u32) {
        match *self {
            Policy::Bandit {
                evaluation_interval,
                delay_evaluation,
                ..
            }
            | Policy::MedianStopping {
                evaluation_interval,
                delay_evaluation,
            }
            | Policy::TruncationSelection {
                evaluation_interval,
                delay_evaluation,
                ..
            } => (evaluation_interval, delay_evaluation),
        }
    }

    /// Whether the policy is applied at interval `n` (from 1).
    pub fn due(&self, n: usize) -> bool {
        let (interval, delay) = self.schedule();
        interval > 0 && n >= delay as usize && n.is_multiple_of(interval as usize)
    }

    /// Whether trial `trial` stops at its interval `n`, given every trial's primary metric so
    /// far (`curves[trial]` has at least `n` values).
    pub fn stops(&self, goal: Goal, curves: &[Vec<f64>], trial: usize, n: usize) -> Option<Stop> {
        let upto = |c: &Vec<f64>| goal.best(&c[..n.min(c.len())]);
        let value = upto(&curves[trial]);
        let stop = |reason: String| Stop {
            policy: self.name(),
            interval: n,
            reason,
        };
        match *self {
            Policy::Bandit {
                slack_factor,
                slack_amount,
                ..
            } => {
                let best = curves
                    .iter()
                    .map(upto)
                    .fold(f64::NAN, |a, b| goal.better(a, b));
                let (v, b) = (goal.score(value), goal.score(best));
                let (out, slack) = match (slack_factor, goal) {
                    (Some(f), Goal::Maximize) => (v * (1.0 + f) < b, format!("slack factor {f}")),
                    (Some(f), Goal::Minimize) => (v < b * (1.0 + f), format!("slack factor {f}")),
                    (None, _) => {
                        let a = slack_amount.unwrap_or(0.0);
                        (v + a < b, format!("slack amount {a}"))
                    }
                };
                out.then(|| {
                    stop(format!(
                        "bandit: at interval {n} its best value {value} is not within {slack} of the best trial's {best}"
                    ))
                })
            }
            Policy::MedianStopping { .. } => {
                let mut averages: Vec<f64> = curves
                    .iter()
                    .enumerate()
                    .filter(|&(j, c)| j != trial && c.len() >= n)
                    .map(|(_, c)| c[..n].iter().map(|&x| goal.score(x)).sum::<f64>() / n as f64)
                    .collect();
                let median = median(&mut averages)?;
                (goal.score(value) < median).then(|| {
                    let shown = match goal {
                        Goal::Maximize => median,
                        Goal::Minimize => -median,
                    };
                    stop(format!(
                        "median_stopping: at interval {n} its best value {value} is worse than the median {shown} of the other trials' running averages"
                    ))
                })
            }
            Policy::TruncationSelection {
                truncation_percentage: p,
                ..
            } => {
                let mut ranked: Vec<(usize, f64)> = curves
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.len() >= n)
                    .map(|(j, c)| (j, goal.score(upto(c))))
                    .collect();
                ranked.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
                let cut = ranked.len() * p as usize / 100;
                let rank = ranked.iter().position(|&(j, _)| j == trial)?;
                (rank < cut).then(|| {
                    stop(format!(
                        "truncation_selection: at interval {n} its best value {value} ranks {} of the {} trials there, in the worst {p}% ({cut})",
                        ranked.len() - rank,
                        ranked.len()
                    ))
                })
            }
        }
    }
}

fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// Applies a policy to trials as they log: [`Monitor::update`] each trial's series as it is
/// read, then [`Monitor::decide`] which stop, all on the same snapshot.
#[derive(Debug)]
pub struct Monitor {
    policy: Option<Policy>,
    goal: Goal,
    curves: Vec<Vec<f64>>,
    evaluated: Vec<usize>,
    stopped: Vec<bool>,
}

impl Monitor {
    /// A monitor applying `policy` (none: it never stops a trial).
    pub fn new(policy: Option<Policy>, goal: Goal) -> Monitor {
        Monitor {
            policy,
            goal,
            curves: Vec::new(),
            evaluated: Vec::new(),
            stopped: Vec::new(),
        }
    }

    /// Records trial `trial`'s primary metric so far (the whole series, in logging order).
    pub fn update(&mut self, trial: usize, values: &[f64]) {
        if self.curves.len() <= trial {
            self.curves.resize(trial + 1, Vec::new());
            self.evaluated.resize(trial + 1, 0);
            self.stopped.resize(trial + 1, false);
        }
        if !self.stopped[trial] {
            self.curves[trial] = values.to_vec();
        }
    }

    /// Applies the policy to each trial in `running` at each interval it logged since the
    /// last call; the trials to stop, each once.
    pub fn decide(&mut self, running: &[usize]) -> Vec<(usize, Stop)> {
        let Some(policy) = &self.policy else {
            return Vec::new();
        };
        let mut stops = Vec::new();
        for &trial in running {
            let Some(len) = self.curves.get(trial).map(Vec::len) else {
                continue;
            };
            let from = self.evaluated[trial] + 1;
            self.evaluated[trial] = len;
            if self.stopped[trial] {
                continue;
            }
            let stop = (from..=len)
                .filter(|&n| policy.due(n))
                .find_map(|n| policy.stops(self.goal, &self.curves, trial, n));
            if let Some(stop) = stop {
                // Later values are not the policy's to see: the trial stopped there.
                self.curves[trial].truncate(stop.interval);
                self.stopped[trial] = true;
                stops.push((trial, stop));
            }
        }
        stops
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `curves` through a monitor in lockstep, every trial logging its `n`-th value before
    /// the policy looks: the interval each trial was stopped at.
    fn lockstep(policy: Policy, goal: Goal, curves: &[&[f64]]) -> Vec<Option<usize>> {
        let mut monitor = Monitor::new(Some(policy), goal);
        let mut stopped = vec![None; curves.len()];
        let longest = curves.iter().map(|c| c.len()).max().unwrap();
        for n in 1..=longest {
            let running: Vec<usize> = (0..curves.len())
                .filter(|&t| stopped[t].is_none() && curves[t].len() >= n)
                .collect();
            for &t in &running {
                monitor.update(t, &curves[t][..n]);
            }
            for (t, stop) in monitor.decide(&running) {
                assert_eq!(stop.interval, n);
                stopped[t] = Some(n);
            }
        }
        stopped
    }

    fn bandit(factor: Option<f64>, amount: Option<f64>, interval: u32, delay: u32) -> Policy {
        Policy::Bandit {
            slack_factor: factor,
            slack_amount: amount,
            evaluation_interval: interval,
            delay_evaluation: delay,
        }
    }

    const ACCURACY: [&[f64]; 3] = [
        &[0.5, 0.8, 0.85, 0.9],
        &[0.4, 0.75, 0.75, 0.8],
        &[0.3, 0.75, 0.8, 0.95],
    ];

    #[test]
    fn bandit_with_a_slack_factor_stops_the_trial_outside_it() {
        // Interval 2: best 0.8, and 0.75 * 1.1 = 0.825 is within. Interval 3: best 0.85; trial
        // 1's 0.75 * 1.1 = 0.825 is not, trial 2's 0.8 * 1.1 = 0.88 is. Interval 4: best 0.95,
        // trial 0's 0.9 * 1.1 = 0.99 is within.
        assert_eq!(
            lockstep(bandit(Some(0.1), None, 1, 2), Goal::Maximize, &ACCURACY),
            [None, Some(3), None]
        );
        // Every second interval: 2 as above; at 4 trial 1's 0.8 * 1.1 = 0.88 < 0.95.
        assert_eq!(
            lockstep(bandit(Some(0.1), None, 2, 0), Goal::Maximize, &ACCURACY),
            [None, Some(4), None]
        );
        // Not before interval 5: nothing is stopped.
        assert_eq!(
            lockstep(bandit(Some(0.1), None, 1, 5), Goal::Maximize, &ACCURACY),
            [None, None, None]
        );
    }

    #[test]
    fn bandit_with_a_slack_amount_minimizing_stops_the_trial_outside_it() {
        let loss: [&[f64]; 3] = [&[1.0, 0.6, 0.4], &[1.0, 0.9, 0.8], &[0.9, 0.7, 0.55]];
        // Interval 1: best 0.9, 1.0 is within 0.2. Interval 2: best 0.6; trial 1's 0.9 is 0.3
        // worse, trial 2's 0.7 is 0.1 worse. Interval 3: best 0.4, trial 2's 0.55 is 0.15 worse.
        let policy = bandit(None, Some(0.2), 1, 1);
        assert_eq!(
            lockstep(policy.clone(), Goal::Minimize, &loss),
            [None, Some(2), None]
        );
        let mut monitor = Monitor::new(Some(policy), Goal::Minimize);
        for (t, c) in loss.iter().enumerate() {
            monitor.update(t, &c[..2]);
        }
        let stops = monitor.decide(&[0, 1, 2]);
        assert_eq!(stops.len(), 1);
        assert_eq!(
            stops[0].1.reason,
            "bandit: at interval 2 its best value 0.9 is not within slack amount 0.2 of the best trial's 0.6"
        );
        // Each trial is stopped once: a later look at the same series stops nothing.
        assert!(monitor.decide(&[0, 1, 2]).is_empty());
    }

    #[test]
    fn median_stopping_stops_trials_worse_than_the_others_median() {
        let curves: [&[f64]; 4] = [
            &[0.5, 0.6, 0.7],
            &[0.4, 0.5, 0.9],
            &[0.1, 0.2, 0.3],
            &[0.55, 0.3, 0.35],
        ];
        // Interval 2, running averages 0.55, 0.45, 0.15, 0.425: trial 2's best 0.2 is below the
        // others' median 0.45; trial 3's 0.55 is not. Interval 3, averages of trials 0, 1, 3:
        // 0.6, 0.6, 0.4: trial 3's best 0.55 is below the others' median 0.6; trial 1's 0.9 and
        // trial 0's 0.7 are above theirs (0.5).
        let policy = Policy::MedianStopping {
            evaluation_interval: 1,
            delay_evaluation: 2,
        };
        assert_eq!(
            lockstep(policy, Goal::Maximize, &curves),
            [None, None, Some(2), Some(3)]
        );
    }

    #[test]
    fn truncation_selection_stops_the_worst_share() {
        let loss: [&[f64]; 4] = [
            &[0.9, 0.5, 0.3],
            &[0.8, 0.7, 0.6],
            &[1.0, 0.4, 0.35],
            &[0.7, 0.65, 0.2],
        ];
        // Interval 2, bests 0.5, 0.7, 0.4, 0.65: the worst half (2 of 4) are trials 1 and 3.
        // Interval 3, trials 0 and 2 remain with 0.3 and 0.35: the worst half is trial 2.
        let policy = Policy::TruncationSelection {
            truncation_percentage: 50,
            evaluation_interval: 1,
            delay_evaluation: 2,
        };
        assert_eq!(
            lockstep(policy, Goal::Minimize, &loss),
            [None, Some(2), Some(3), Some(2)]
        );
        // 25% of 4 trials is 1: at interval 2 only trial 1; at 3, 25% of 3 is 0.
        let policy = Policy::TruncationSelection {
            truncation_percentage: 25,
            evaluation_interval: 1,
            delay_evaluation: 2,
        };
        assert_eq!(
            lockstep(policy, Goal::Minimize, &loss),
            [None, Some(2), None, None]
        );
    }

    #[test]
    fn a_nan_value_is_worse_than_any_number() {
        let curves: [&[f64]; 2] = [&[0.5, 0.4], &[0.6, f64::NAN]];
        // Interval 1: 0.6 is within 0.1 of 0.5. Interval 2: trial 1's best stays 0.6 (NaN is
        // the worst), 0.2 worse than 0.4.
        assert_eq!(
            lockstep(bandit(None, Some(0.1), 1, 0), Goal::Minimize, &curves),
            [None, Some(2)]
        );
        let curves: [&[f64]; 2] = [&[0.5], &[f64::NAN]];
        assert_eq!(
            lockstep(bandit(None, Some(0.1), 1, 0), Goal::Minimize, &curves),
            [None, Some(1)]
        );
    }

    #[test]
    fn bad_settings_name_the_key_and_the_rule() {
        let both = bandit(Some(0.1), Some(0.2), 1, 0)
            .check()
            .unwrap_err()
            .to_string();
        assert!(
            both.contains("early_termination.slack_factor") && both.contains("exactly one of"),
            "{both}"
        );
        let zero = bandit(Some(0.1), None, 0, 0)
            .check()
            .unwrap_err()
            .to_string();
        assert!(
            zero.contains("early_termination.evaluation_interval = 0"),
            "{zero}"
        );
        let p = Policy::TruncationSelection {
            truncation_percentage: 100,
            evaluation_interval: 1,
            delay_evaluation: 0,
        };
        assert!(
            p.check()
                .unwrap_err()
                .to_string()
                .contains("truncation_percentage = 100: give a percentage from 1 to 99")
        );
        let yaml = "type: bandit\nslack_factor: 0.1\ndelay_evaluation: 5\n";
        assert_eq!(
            crate::sweep::read_yaml::<Policy>(yaml).unwrap(),
            bandit(Some(0.1), None, 1, 5)
        );
    }
}
