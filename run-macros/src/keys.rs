//! The naming rules, checked on name literals at compile time.
//!
//! The rules live in `run-rules`, which the runtime applies too: a name the compiler accepts is
//! one the runtime accepts, refused in the same words.

/// Why `key` cannot be a metric, tag or property name, with the fix; `None` when it can.
pub fn key_problem(key: &str) -> Option<String> {
    run_rules::key_rule(key).err().map(|rule| rule.to_string())
}

/// Why `name` cannot be a run or experiment name; `None` when it can.
pub fn run_name_problem(name: &str) -> Option<String> {
    run_rules::run_name_rule(name)
        .err()
        .map(|rule| rule.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use run_rules::testing::{key_cases, run_name_cases};

    // The rules' own table: the compiler refuses what the runtime refuses, in its words.
    #[test]
    fn keys_are_checked_as_the_runtime_checks_them() {
        for (key, rule, _) in key_cases() {
            assert_eq!(
                key_problem(&key),
                rule.err().map(|r| r.to_string()),
                "{key:?}"
            );
        }
    }

    #[test]
    fn run_names_are_checked_as_the_runtime_checks_them() {
        for (name, rule, _) in run_name_cases() {
            assert_eq!(
                run_name_problem(&name),
                rule.err().map(|r| r.to_string()),
                "{name:?}"
            );
        }
    }
}
