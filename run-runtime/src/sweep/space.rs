//! A sweep's search space: each parameter's distribution, as Azure ML sweep jobs write them, and
//! the values a trial gets.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One trial's parameters, by name.
pub type Params = BTreeMap<String, ParamValue>;

/// A parameter's value: what a `choice` lists, or what a distribution drew.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// `true` or `false` (a `choice`).
    Bool(bool),
    /// An integer (`randint`, or an integer in a `choice`).
    Int(i64),
    /// A number (`uniform`, `loguniform`, `quniform`, or a number in a `choice`).
    Float(f64),
    /// Text (a `choice`).
    Text(String),
}

impl ParamValue {
    /// The value as a number, for a sampler's arithmetic (text has none).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            ParamValue::Int(i) => Some(i as f64),
            ParamValue::Float(f) => Some(f),
            ParamValue::Bool(_) | ParamValue::Text(_) => None,
        }
    }
}

/// The text a trial's command line and its run's properties get: Rust's shortest text that
/// reads back as the same number (`0.001`, `32`), or the text itself.
impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Text(t) => f.write_str(t),
        }
    }
}

/// One parameter's distribution, with Azure ML's names and fields (`type: loguniform`,
/// `min_value`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Space {
    /// One of `values`, each as likely.
    Choice {
        /// The values.
        values: Vec<ParamValue>,
    },
    /// An integer in `0..upper` (`upper` excluded), each as likely.
    Randint {
        /// One more than the largest value.
        upper: i64,
    },
    /// A number between `min_value` and `max_value`, uniformly.
    Uniform {
        /// The lower bound.
        min_value: f64,
        /// The upper bound.
        max_value: f64,
    },
    /// `exp(x)` with `x` uniform between `min_value` and `max_value`: the bounds are natural
    /// logarithms, as in Azure ML (`min_value: -6.9` is about 0.001).
    Loguniform {
        /// The natural logarithm of the lower bound.
        min_value: f64,
        /// The natural logarithm of the upper bound.
        max_value: f64,
    },
    /// `round(x / q) * q` with `x` uniform between `min_value` and `max_value`.
    Quniform {
        /// The lower bound.
        min_value: f64,
        /// The upper bound.
        max_value: f64,
        /// The step the value is rounded to.
        q: f64,
    },
}

/// A search space: each parameter's distribution, by name (parameters are sampled, and a grid
/// enumerated, in the order of their names).
pub type SearchSpace = BTreeMap<String, Space>;

impl Space {
    /// Checks the distribution of parameter `name`: an error names the parameter, the value and
    /// the rule.
    pub fn check(&self, name: &str) -> Result<()> {
        let bad = |field: &str, value: String, reason: &str| {
            Err(invalid(
                format!("search_space.{name}.{field}"),
                value,
                reason,
            ))
        };
        match self {
            Space::Choice { values } if values.is_empty() => {
                bad("values", "[]".into(), "a choice needs at least one value")
            }
            Space::Choice { values } => match values
                .iter()
                .find(|v| v.as_f64().is_some_and(|x| !x.is_finite()))
            {
                Some(v) => bad("values", v.to_string(), "a choice's numbers must be finite"),
                None => Ok(()),
            },
            Space::Randint { upper } if *upper < 1 => bad(
                "upper",
                upper.to_string(),
                "randint draws from 0..upper, so upper must be at least 1",
            ),
            Space::Randint { .. } => Ok(()),
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
            } => {
                if !(min_value.is_finite() && max_value.is_finite() && min_value < max_value) {
                    return bad(
                        "min_value",
                        format!("{min_value} (max_value {max_value})"),
                        "the bounds must be finite numbers with min_value below max_value",
                    );
                }
                match self {
                    Space::Quniform { q, .. } if !(q.is_finite() && *q > 0.0) => {
                        bad("q", q.to_string(), "q must be a positive number")
                    }
                    _ => Ok(()),
                }
            }
        }
    }

    /// The value at `u`, a number in `[0, 1)`: the inverse of the distribution's cumulative
    /// distribution, so that one uniform draw gives one value.
    pub(crate) fn at(&self, u: f64) -> ParamValue {
        match self {
            Space::Choice { values } => values[index(u, values.len())].clone(),
            Space::Randint { upper } => ParamValue::Int(index(u, *upper as usize) as i64),
            Space::Uniform {
                min_value,
                max_value,
            } => ParamValue::Float(min_value + u * (max_value - min_value)),
            Space::Loguniform {
                min_value,
                max_value,
            } => ParamValue::Float((min_value + u * (max_value - min_value)).exp()),
            Space::Quniform {
                min_value,
                max_value,
                q,
            } => ParamValue::Float(quantize(min_value + u * (max_value - min_value), *q)),
        }
    }

    /// The values of a grid: a choice's; any other distribution has none (Azure ML's grid
    /// sampling takes `choice` only).
    pub(crate) fn grid_values(&self) -> Option<&[ParamValue]> {
        match self {
            Space::Choice { values } => Some(values),
            _ => None,
        }
    }

    /// The distribution's name, as in the YAML.
    pub fn kind(&self) -> &'static str {
        match self {
            Space::Choice { .. } => "choice",
            Space::Randint { .. } => "randint",
            Space::Uniform { .. } => "uniform",
            Space::Loguniform { .. } => "loguniform",
            Space::Quniform { .. } => "quniform",
        }
    }
}

/// `round(x / q) * q`, the rounding of hyperopt's and Azure ML's `quniform`.
pub(crate) fn quantize(x: f64, q: f64) -> f64 {
    (x / q).round() * q
}

/// The index `floor(u * n)` of `n` equally likely ones, for `u` in `[0, 1)`.
pub(crate) fn index(u: f64, n: usize) -> usize {
    ((u * n as f64) as usize).min(n.saturating_sub(1))
}

/// The error of a bad sweep setting: the key, the value and the rule.
pub(crate) fn invalid(key: String, value: String, reason: &str) -> Error {
    Error::Sweep {
        key,
        value,
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_distribution_maps_a_uniform_draw_as_azure_ml_defines_it() {
        let choice = Space::Choice {
            values: vec![ParamValue::Int(16), ParamValue::Text("adam".into())],
        };
        assert_eq!(choice.at(0.0), ParamValue::Int(16));
        assert_eq!(choice.at(0.49), ParamValue::Int(16));
        assert_eq!(choice.at(0.5), ParamValue::Text("adam".into()));
        assert_eq!(choice.at(0.999_999), ParamValue::Text("adam".into()));
        let randint = Space::Randint { upper: 4 };
        assert_eq!(randint.at(0.0), ParamValue::Int(0));
        assert_eq!(randint.at(0.74), ParamValue::Int(2));
        assert_eq!(randint.at(0.999_999), ParamValue::Int(3));
        let uniform = Space::Uniform {
            min_value: -1.0,
            max_value: 3.0,
        };
        assert_eq!(uniform.at(0.25), ParamValue::Float(0.0));
        // loguniform's bounds are natural logarithms: exp(ln(0.001) + 0.5 * ln(1000)) = 0.0316...
        let log = Space::Loguniform {
            min_value: 0.001f64.ln(),
            max_value: 1.0f64.ln(),
        };
        let ParamValue::Float(v) = log.at(0.5) else {
            panic!()
        };
        assert!((v - 0.001f64.sqrt()).abs() < 1e-12, "{v}");
        let q = Space::Quniform {
            min_value: 0.0,
            max_value: 100.0,
            q: 8.0,
        };
        // 0.37 * 100 = 37, 37 / 8 = 4.625, rounded 5, times 8 = 40.
        assert_eq!(q.at(0.37), ParamValue::Float(40.0));
        assert_eq!(q.at(0.37).to_string(), "40");
    }

    #[test]
    fn bad_distributions_name_the_key_the_value_and_the_rule() {
        let cases = [
            (
                Space::Choice { values: vec![] },
                "search_space.x.values = []: a choice needs at least one value",
            ),
            (
                Space::Randint { upper: 0 },
                "search_space.x.upper = 0: randint draws from 0..upper, so upper must be at least 1",
            ),
            (
                Space::Uniform {
                    min_value: 2.0,
                    max_value: 1.0,
                },
                "search_space.x.min_value = 2 (max_value 1): the bounds must be finite numbers with min_value below max_value",
            ),
            (
                Space::Quniform {
                    min_value: 0.0,
                    max_value: 1.0,
                    q: 0.0,
                },
                "search_space.x.q = 0: q must be a positive number",
            ),
        ];
        for (space, message) in cases {
            let error = space.check("x").unwrap_err().to_string();
            assert!(error.ends_with(message), "{error}");
        }
    }

    #[test]
    fn spaces_read_as_azure_ml_writes_them() {
        let yaml = "lr: {type: loguniform, min_value: -6.9, max_value: -1}\n\
                    batch: {type: choice, values: [16, 32, relu, 0.5, true, y]}\n\
                    seed: {type: randint, upper: 10}\n";
        let space: SearchSpace = crate::sweep::read_yaml(yaml).unwrap();
        assert_eq!(
            space["batch"],
            Space::Choice {
                values: vec![
                    ParamValue::Int(16),
                    ParamValue::Int(32),
                    ParamValue::Text("relu".into()),
                    ParamValue::Float(0.5),
                    ParamValue::Bool(true),
                    ParamValue::Text("y".into()),
                ]
            }
        );
        assert_eq!(
            space["lr"],
            Space::Loguniform {
                min_value: -6.9,
                max_value: -1.0
            }
        );
        assert_eq!(space["seed"].kind(), "randint");
        let unknown = crate::sweep::read_yaml::<SearchSpace>("x: {type: normal, mu: 0, sigma: 1}");
        assert!(unknown.unwrap_err().to_string().contains("normal"));
    }
}
