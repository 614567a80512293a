//! The key rules of `run_runtime::validate`, checked on name literals at compile time.
//!
//! This mirrors `run_runtime::validate::key_rule` (the macro crate cannot depend on the runtime,
//! which depends on it); the unit tests below use the runtime's own test cases.

/// Longest key, in characters.
const MAX_KEY_CHARS: usize = 250;

/// Why `key` cannot be a metric, tag or property name, with the fix; `None` when it can.
pub fn key_problem(key: &str) -> Option<String> {
    if key.is_empty() {
        return Some("a name must have 1 to 250 characters, and it is empty".into());
    }
    let mut count = 0;
    for (at, c) in key.chars().enumerate() {
        let allowed = if c.is_ascii() {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | ':' | '/')
        } else {
            c.is_alphanumeric()
        };
        if !allowed {
            return Some(format!(
                "character {c:?} at position {at} is not allowed; use letters, digits, \
                 underscore, hyphen, period, space, colon and slash"
            ));
        }
        count += 1;
    }
    if count > MAX_KEY_CHARS {
        return Some(format!(
            "a name may have at most {MAX_KEY_CHARS} characters, and it has {count}"
        ));
    }
    path_problem(key)
}

fn path_problem(key: &str) -> Option<String> {
    if key.starts_with('/') {
        return Some("it starts with '/', which makes it an absolute path; drop the '/'".into());
    }
    if key.ends_with('/') {
        return Some("it ends with '/'; drop the '/'".into());
    }
    if key.contains("//") {
        return Some("it contains '//'; use a single '/'".into());
    }
    key.split('/').find(|c| *c == "." || *c == "..").map(|c| {
        format!(
            "it contains the path component '{c}', which would point somewhere else; use a \
                 plain name"
        )
    })
}

/// Why `name` cannot be a run or experiment name; `None` when it can.
pub fn run_name_problem(name: &str) -> Option<String> {
    if name.trim().is_empty() {
        return Some("it is empty; give it a name".into());
    }
    if let Some((at, c)) = name.chars().enumerate().find(|(_, c)| c.is_control()) {
        return Some(format!(
            "character {c:?} at position {at} is a control character; remove it"
        ));
    }
    let count = name.chars().count();
    (count > MAX_KEY_CHARS)
        .then(|| format!("a name may have at most {MAX_KEY_CHARS} characters, and it has {count}"))
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
