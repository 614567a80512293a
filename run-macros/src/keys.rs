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

    // The cases of run_runtime::validate's tests.
    #[test]
    fn accepts_what_the_runtime_accepts() {
        for key in [
            "loss",
            "a",
            "train/loss",
            "Accuracy 1",
            "f1_macro",
            "lr-schedule",
            "epoch.5",
            "http:port",
            "a/b/c",
            "ünïcödé",
            "精度",
            "x_٣",
            "..a",
            "a..",
            "a/..b",
            ".hidden",
        ] {
            assert_eq!(key_problem(key), None, "{key:?}");
        }
        assert_eq!(key_problem(&"a".repeat(250)), None);
        assert_eq!(key_problem(&"é".repeat(250)), None);
    }

    #[test]
    fn rejects_what_the_runtime_rejects_with_its_words() {
        let cases = [
            ("", "is empty"),
            ("loss!", "character '!' at position 4"),
            ("a\tb", "character '\\t' at position 1"),
            ("🙂", "character '🙂' at position 0"),
            ("/abs", "starts with '/'"),
            ("a/", "ends with '/'"),
            ("a//b", "contains '//'"),
            ("..", "component '..'"),
            (".", "component '.'"),
            ("a/./b", "component '.'"),
            ("a/..", "component '..'"),
        ];
        for (key, want) in cases {
            let problem = key_problem(key).unwrap_or_default();
            assert!(problem.contains(want), "{key:?}: {problem}");
        }
        let long = key_problem(&"a".repeat(251)).unwrap();
        assert!(long.ends_with("it has 251"), "{long}");
    }

    #[test]
    fn run_names_allow_free_text_but_not_control_characters() {
        assert_eq!(run_name_problem("train (fold 1) #3"), None);
        assert!(run_name_problem(" ").is_some());
        assert!(run_name_problem("a\nb").is_some());
    }
}
