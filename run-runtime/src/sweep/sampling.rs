//! How a sweep picks each trial's parameters: a grid, seeded random draws, or TPE (the
//! tree-structured Parzen estimator), which draws where the best trials so far were.
//!
//! Every draw comes from SplitMix64 (Steele, Lea and Flood 2014; the generator that seeds
//! xoshiro), written out here: ten lines whose outputs are specified, so a seed gives the same
//! trials on every platform and in every version of this crate, which a library generator does
//! not promise. Trial `i` draws from a generator of its own, seeded by the `i`-th output of the
//! sweep's seed, so its parameters do not depend on how many draws other trials took (resuming a
//! sweep gives the trials it would have given).

use serde::{Deserialize, Serialize};

use super::space::{ParamValue, Params, SearchSpace, Space, index, invalid, quantize};
use crate::error::Result;

/// SplitMix64: the reference outputs are in the tests.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[0, 1)`: the top 53 bits, so every value is exact.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal number (Box-Muller, the cosine half).
    fn next_normal(&mut self) -> f64 {
        let u = 1.0 - self.next_f64();
        let v = self.next_f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// The generator of trial `trial` of a sweep seeded `seed`.
    fn for_trial(seed: u64, trial: usize) -> SplitMix64 {
        let mut master = SplitMix64::new(seed);
        let mut state = 0;
        for _ in 0..=trial {
            state = master.next_u64();
        }
        SplitMix64::new(state)
    }
}

/// The sampling algorithm, with Azure ML's names (`sampling_algorithm: random` or
/// `{type: random, seed: 7}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Sampling {
    /// Every combination of the `choice` values, in order: the last parameter (by name) varies
    /// fastest. Only `choice` parameters.
    Grid,
    /// Independent draws from each distribution.
    Random {
        /// The seed: the same seed gives the same trials.
        #[serde(default)]
        seed: u64,
    },
    /// TPE: random for the first [`TPE_STARTUP`] trials, then, for each parameter, the draw
    /// among [`TPE_CANDIDATES`] from the density of the best quarter of the finished trials that
    /// is most likely there against the density of the rest.
    Tpe {
        /// The seed of its draws.
        #[serde(default)]
        seed: u64,
    },
}

/// The trials TPE draws at random before it models the results (Optuna's default).
pub const TPE_STARTUP: usize = 10;
/// The candidates TPE draws for each parameter of a trial (hyperopt's and Optuna's default).
pub const TPE_CANDIDATES: usize = 24;
/// The share of finished trials TPE takes as the good ones (hyperopt's 0.25).
const TPE_GAMMA: f64 = 0.25;

/// A finished trial, as an adaptive sampler learns from it: its parameters and the value of the
/// primary metric, made larger-is-better (negated when the goal is to minimize).
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The trial's parameters.
    pub params: Params,
    /// Its result, larger is better.
    pub score: f64,
}

impl Sampling {
    /// Checks that the algorithm can sample `space`.
    pub fn check(&self, space: &SearchSpace) -> Result<()> {
        if let Sampling::Grid = self
            && let Some((name, space)) = space.iter().find(|(_, s)| s.grid_values().is_none())
        {
            return Err(invalid(
                format!("search_space.{name}.type"),
                space.kind().into(),
                "grid sampling enumerates choice values only; make it a choice, or use \
                 sampling_algorithm: random",
            ));
        }
        Ok(())
    }

    /// How many trials the algorithm can give: a grid's size, else unbounded.
    pub fn size(&self, space: &SearchSpace) -> Option<usize> {
        match self {
            Sampling::Grid => Some(
                space
                    .values()
                    .map(|s| s.grid_values().map_or(0, <[ParamValue]>::len))
                    .product(),
            ),
            _ => None,
        }
    }

    /// The parameters of trial `trial` (numbered from 0), given the finished trials so far
    /// (only TPE reads them); `None` past the end of a grid.
    pub fn trial(&self, space: &SearchSpace, trial: usize, finished: &[Scored]) -> Option<Params> {
        match *self {
            Sampling::Grid => grid(space, trial),
            Sampling::Random { seed } => {
                Some(random(space, &mut SplitMix64::for_trial(seed, trial)))
            }
            Sampling::Tpe { seed } => {
                let mut rng = SplitMix64::for_trial(seed, trial);
                Some(match finished.len() < TPE_STARTUP {
                    true => random(space, &mut rng),
                    false => tpe(space, finished, &mut rng),
                })
            }
        }
    }
}

fn grid(space: &SearchSpace, trial: usize) -> Option<Params> {
    let mut rest = trial;
    let mut params = Params::new();
    // Mixed radix, the last name the lowest digit.
    for (name, s) in space.iter().rev() {
        let values = s.grid_values()?;
        params.insert(name.clone(), values[rest % values.len()].clone());
        rest /= values.len();
    }
    (rest == 0).then_some(params)
}

fn random(space: &SearchSpace, rng: &mut SplitMix64) -> Params {
    space
        .iter()
        .map(|(name, s)| (name.clone(), s.at(rng.next_f64())))
        .collect()
}

fn tpe(space: &SearchSpace, finished: &[Scored], rng: &mut SplitMix64) -> Params {
    let mut order: Vec<&Scored> = finished.iter().collect();
    // Best first; NaN results (a diverged trial) count as the worst.
    order.sort_by(|a, b| nan_last(b.score).total_cmp(&nan_last(a.score)));
    let good = ((TPE_GAMMA * order.len() as f64).ceil() as usize).max(1);
    let (good, bad) = order.split_at(good);
    space
        .iter()
        .map(|(name, s)| {
            let of = |trials: &[&Scored]| -> Vec<ParamValue> {
                trials
                    .iter()
                    .filter_map(|t| t.params.get(name).cloned())
                    .collect()
            };
            (name.clone(), tpe_param(s, &of(good), &of(bad), rng))
        })
        .collect()
}

fn nan_last(x: f64) -> f64 {
    if x.is_nan() { f64::NEG_INFINITY } else { x }
}

/// One parameter's TPE draw: the candidate from the good trials' density `l` with the largest
/// `l / g`, `g` the other trials' density.
fn tpe_param(
    space: &Space,
    good: &[ParamValue],
    bad: &[ParamValue],
    rng: &mut SplitMix64,
) -> ParamValue {
    if let Space::Choice { values } = space {
        let l = Categorical::new(values, good);
        let g = Categorical::new(values, bad);
        let best = (0..TPE_CANDIDATES)
            .map(|_| l.draw(rng))
            .max_by(|&a, &b| (l.p[a] / g.p[a]).total_cmp(&(l.p[b] / g.p[b])))
            .unwrap_or(0);
        return values[best].clone();
    }
    let (lo, hi) = bounds(space);
    let l = Parzen::new(
        lo,
        hi,
        good.iter().filter_map(|v| internal(space, v)).collect(),
    );
    let g = Parzen::new(
        lo,
        hi,
        bad.iter().filter_map(|v| internal(space, v)).collect(),
    );
    let x = (0..TPE_CANDIDATES)
        .map(|_| l.draw(rng))
        .max_by(|&a, &b| {
            (l.ln_density(a) - g.ln_density(a)).total_cmp(&(l.ln_density(b) - g.ln_density(b)))
        })
        .unwrap_or(lo);
    external(space, x)
}

/// The interval TPE models a numeric parameter on: a loguniform's logarithm, a randint's
/// `[0, upper)`.
fn bounds(space: &Space) -> (f64, f64) {
    match *space {
        Space::Randint { upper } => (0.0, upper as f64),
        Space::Uniform {
            min_value,
            max_value,
        }
        | Space::Loguniform {
            min_value,
            max_value,
        }
        | Space::Quniform {
            min_value,
            max_value,
            ..
        } => (min_value, max_value),
        Space::Choice { .. } => (0.0, 1.0),
    }
}

/// A value on the interval of [`bounds`].
fn internal(space: &Space, value: &ParamValue) -> Option<f64> {
    let x = value.as_f64()?;
    match space {
        Space::Loguniform { .. } => Some(x.ln()),
        Space::Randint { .. } => Some(x + 0.5),
        _ => Some(x),
    }
}

/// The parameter's value at `x` of the interval of [`bounds`].
fn external(space: &Space, x: f64) -> ParamValue {
    match *space {
        Space::Loguniform { .. } => ParamValue::Float(x.exp()),
        Space::Randint { upper } => ParamValue::Int((x.floor() as i64).clamp(0, upper - 1)),
        Space::Quniform { q, .. } => ParamValue::Float(quantize(x, q)),
        _ => ParamValue::Float(x),
    }
}

/// A choice's probabilities from counts, one prior count each (so no value is ever ruled out).
struct Categorical {
    p: Vec<f64>,
}

impl Categorical {
    fn new(values: &[ParamValue], seen: &[ParamValue]) -> Categorical {
        let mut counts = vec![1.0; values.len()];
        for v in seen {
            if let Some(i) = values.iter().position(|x| x == v) {
                counts[i] += 1.0;
            }
        }
        let total: f64 = counts.iter().sum();
        Categorical {
            p: counts.into_iter().map(|c| c / total).collect(),
        }
    }

    fn draw(&self, rng: &mut SplitMix64) -> usize {
        let mut u = rng.next_f64();
        for (i, p) in self.p.iter().enumerate() {
            if u < *p {
                return i;
            }
            u -= p;
        }
        self.p.len() - 1
    }
}

/// A Parzen estimator on `[lo, hi]`: a Gaussian at each point, of width
/// `(hi - lo) / (n + 1)^(1/5)`, plus the uniform prior as one more component.
struct Parzen {
    lo: f64,
    hi: f64,
    points: Vec<f64>,
    width: f64,
}

impl Parzen {
    fn new(lo: f64, hi: f64, points: Vec<f64>) -> Parzen {
        let width = (hi - lo) / ((points.len() + 1) as f64).powf(0.2);
        Parzen {
            lo,
            hi,
            points,
            width,
        }
    }

    fn draw(&self, rng: &mut SplitMix64) -> f64 {
        let k = index(rng.next_f64(), self.points.len() + 1);
        match self.points.get(k) {
            Some(mu) => (mu + self.width * rng.next_normal()).clamp(self.lo, self.hi),
            None => self.lo + rng.next_f64() * (self.hi - self.lo),
        }
    }

    fn ln_density(&self, x: f64) -> f64 {
        let prior = 1.0 / (self.hi - self.lo);
        let norm = 1.0 / (self.width * (std::f64::consts::TAU).sqrt());
        let sum: f64 = self
            .points
            .iter()
            .map(|mu| norm * (-0.5 * ((x - mu) / self.width).powi(2)).exp())
            .sum::<f64>()
            + prior;
        (sum / (self.points.len() + 1) as f64).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_gives_the_reference_outputs() {
        // The outputs of the reference C code (prng.di.unimi.it/splitmix64.c) for seed 1234567.
        let mut rng = SplitMix64::new(1234567);
        let outputs: Vec<u64> = (0..5).map(|_| rng.next_u64()).collect();
        assert_eq!(
            outputs,
            [
                6457827717110365317,
                3203168211198807973,
                9817491932198370423,
                4593380528125082431,
                16408922859458223821
            ]
        );
    }

    fn space() -> SearchSpace {
        crate::sweep::read_yaml(
            "lr: {type: loguniform, min_value: -6.907755278982137, max_value: 0}\n\
             batch: {type: choice, values: [16, 32, 64]}\n\
             dropout: {type: uniform, min_value: 0, max_value: 0.5}\n\
             layers: {type: randint, upper: 4}\n\
             width: {type: quniform, min_value: 8, max_value: 128, q: 8}\n",
        )
        .unwrap()
    }

    fn shown(params: &Params) -> String {
        params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn random_sampling_gives_exactly_these_trials_for_seed_7() {
        let sampling = Sampling::Random { seed: 7 };
        let trials: Vec<String> = (0..3)
            .map(|i| shown(&sampling.trial(&space(), i, &[]).unwrap()))
            .collect();
        assert_eq!(trials, EXPECTED_RANDOM);
        // A trial does not depend on the others: trial 2 alone is the same.
        assert_eq!(
            shown(&sampling.trial(&space(), 2, &[]).unwrap()),
            EXPECTED_RANDOM[2]
        );
        assert_ne!(
            shown(
                &Sampling::Random { seed: 8 }
                    .trial(&space(), 0, &[])
                    .unwrap()
            ),
            EXPECTED_RANDOM[0]
        );
    }

    /// Worked out apart from this code, by a Python transcription of the same definitions
    /// (SplitMix64, the trial's generator from the seed's outputs, one draw per parameter in
    /// name order, each distribution's inverse).
    const EXPECTED_RANDOM: [&str; 3] = [
        "batch=64 dropout=0.32485216823422786 layers=2 lr=0.06496873580234373 width=48",
        "batch=32 dropout=0.3756315033012909 layers=3 lr=0.3540198334398944 width=48",
        "batch=32 dropout=0.4802079329196472 layers=1 lr=0.01170374054951907 width=72",
    ];

    #[test]
    fn a_grid_enumerates_every_combination_the_last_name_fastest() {
        let space: SearchSpace = crate::sweep::read_yaml(
            "a: {type: choice, values: [1, 2]}\nb: {type: choice, values: [x, y, z]}\n",
        )
        .unwrap();
        let grid = Sampling::Grid;
        assert_eq!(grid.size(&space), Some(6));
        let trials: Vec<String> = (0..7)
            .map(|i| {
                grid.trial(&space, i, &[])
                    .map(|p| shown(&p))
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(
            trials,
            [
                "a=1 b=x", "a=1 b=y", "a=1 b=z", "a=2 b=x", "a=2 b=y", "a=2 b=z", ""
            ]
        );
        let error = grid.check(&super::super::space::SearchSpace::from([(
            "lr".into(),
            Space::Uniform {
                min_value: 0.0,
                max_value: 1.0,
            },
        )]));
        assert!(error.unwrap_err().to_string().contains(
            "search_space.lr.type = uniform: grid sampling enumerates choice values only"
        ));
    }

    /// The score of the toy objective: best at x = 0.8 and the choice "b".
    fn score(p: &Params) -> f64 {
        let x = p["x"].as_f64().unwrap();
        -(x - 0.8).powi(2)
            - if p["c"] == ParamValue::Text("b".into()) {
                0.0
            } else {
                0.3
            }
    }

    #[test]
    fn tpe_draws_near_the_best_trials_once_it_has_results() {
        let space: SearchSpace =
            crate::sweep::read_yaml("x: {type: uniform, min_value: 0, max_value: 1}\nc: {type: choice, values: [a, b, c]}\n").unwrap();
        let tpe = Sampling::Tpe { seed: 3 };
        let mut finished = Vec::new();
        for i in 0..40 {
            let params = tpe.trial(&space, i, &finished).unwrap();
            if i < TPE_STARTUP {
                // The startup trials are the random sampler's.
                assert_eq!(
                    Some(&params),
                    Sampling::Random { seed: 3 }.trial(&space, i, &[]).as_ref()
                );
            }
            finished.push(Scored {
                score: score(&params),
                params,
            });
        }
        let mean =
            |trials: &[Scored]| trials.iter().map(|t| t.score).sum::<f64>() / trials.len() as f64;
        let (startup, modelled) = (mean(&finished[..TPE_STARTUP]), mean(&finished[30..]));
        assert!(
            modelled > startup + 0.1,
            "TPE's last ten trials average {modelled}, the random ones {startup}"
        );
        // Reproducible: the same seed and results give the same trial.
        assert_eq!(
            tpe.trial(&space, 40, &finished),
            tpe.trial(&space, 40, &finished)
        );
    }
}
