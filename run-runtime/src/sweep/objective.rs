//! What a sweep optimizes: the primary metric and its goal.

use serde::{Deserialize, Serialize};

/// Whether larger or smaller values of the primary metric are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Goal {
    /// Larger is better (accuracy).
    Maximize,
    /// Smaller is better (loss).
    Minimize,
}

impl Goal {
    /// `value` made larger-is-better: negated when minimizing; NaN (a diverged trial) the worst
    /// of all.
    pub fn score(self, value: f64) -> f64 {
        match (value.is_nan(), self) {
            (true, _) => f64::NEG_INFINITY,
            (false, Goal::Maximize) => value,
            (false, Goal::Minimize) => -value,
        }
    }

    /// The better of two values.
    pub fn better(self, a: f64, b: f64) -> f64 {
        if self.score(b) > self.score(a) { b } else { a }
    }

    /// The best of `values` (NaN only when all are).
    pub fn best(self, values: &[f64]) -> f64 {
        values
            .iter()
            .copied()
            .fold(f64::NAN, |a, b| self.better(a, b))
    }
}

/// The sweep's objective, with Azure ML's names (`objective: {goal: minimize, primary_metric:
/// loss}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    /// Maximize or minimize.
    pub goal: Goal,
    /// The metric the trials log; a trial's result is the best value it logged.
    pub primary_metric: String,
}
