//! The naming and parsing rules of runctx, in one place for both of its halves: `run-runtime`
//! applies them when a record is logged, `run-macros` applies them to literals at compile time.
//! One implementation, so that a name the compiler accepts is a name the runtime accepts, and
//! both explain a refusal in the same words.
//!
//! ```
//! use run_rules::{NameRule, key_rule};
//! assert_eq!(key_rule("train/loss"), Ok(()));
//! assert_eq!(key_rule("a//b"), Err(NameRule::EmptyComponent));
//! ```

#![no_std]
#![warn(missing_docs)]

extern crate alloc;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

/// Longest key or run name, in characters (the server's limit).
pub const MAX_KEY_CHARS: usize = 250;

/// The rule a name breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameRule {
    /// The name is empty.
    Empty,
    /// More than 250 characters (how many it has).
    TooLong(usize),
    /// A character outside letters, digits, `_ - . space : /`, and its position.
    Character(char, usize),
    /// A control character (in a run or experiment name), and its position.
    ControlCharacter(char, usize),
    /// Starts with `/`.
    LeadingSlash,
    /// Ends with `/`.
    TrailingSlash,
    /// Contains `//`.
    EmptyComponent,
    /// Contains a `.` or `..` path component.
    DotComponent(&'static str),
    /// A model name holds `/` or `:`, which would split or break its folder in the registry.
    ModelSeparator(char, usize),
}

impl fmt::Display for NameRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameRule::Empty => f.write_str("a name must have 1 to 250 characters, and it is empty"),
            NameRule::TooLong(n) => {
                write!(f, "a name may have at most 250 characters, and it has {n}")
            }
            NameRule::Character(c, at) => write!(
                f,
                "character {c:?} at position {at} is not allowed; use letters, digits, \
                 underscore, hyphen, period, space, colon and slash"
            ),
            NameRule::ControlCharacter(c, at) => {
                write!(
                    f,
                    "character {c:?} at position {at} is a control character; remove it"
                )
            }
            NameRule::LeadingSlash => {
                f.write_str("it starts with '/', which makes it an absolute path; drop the '/'")
            }
            NameRule::TrailingSlash => f.write_str("it ends with '/'; drop the '/'"),
            NameRule::EmptyComponent => f.write_str("it contains '//'; use a single '/'"),
            NameRule::DotComponent(c) => write!(
                f,
                "it contains the path component '{c}', which would point somewhere else; \
                 use a plain name"
            ),
            NameRule::ModelSeparator(c, at) => write!(
                f,
                "character {c:?} at position {at} cannot be in a model name, whose folder in \
                 the registry it would split; use '-' or '_' instead"
            ),
        }
    }
}

/// Whether an ASCII character may be in a key: `[A-Za-z0-9_\-. :/]`.
pub fn ascii_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | ':' | '/')
}

/// The rule a metric, tag or property key breaks, if any: the server's rules (MLflow 3.17.2).
///
/// 1 to 250 characters of letters and digits of any script (Python's `\w` on the server) and
/// `_ - . space : /`, and no path that `posixpath.normpath` would change: no leading or trailing
/// `/`, no `//`, no `.` or `..` component. The first problem from the left is reported.
pub fn key_rule(key: &str) -> Result<(), NameRule> {
    if key.is_empty() {
        return Err(NameRule::Empty);
    }
    let mut count = 0;
    for (at, c) in key.chars().enumerate() {
        let ok = if c.is_ascii() {
            ascii_allowed(c)
        } else {
            c.is_alphanumeric()
        };
        if !ok {
            return Err(NameRule::Character(c, at));
        }
        count += 1;
    }
    if count > MAX_KEY_CHARS {
        return Err(NameRule::TooLong(count));
    }
    path_rule(key)
}

/// The path rule alone: components between `/` that are empty, `.` or `..`.
fn path_rule(key: &str) -> Result<(), NameRule> {
    let components: Vec<&str> = key.split('/').collect();
    let last = components.len() - 1;
    for (i, component) in components.iter().enumerate() {
        match *component {
            "" if i == 0 && last > 0 => return Err(NameRule::LeadingSlash),
            "" if i == last => return Err(NameRule::TrailingSlash),
            "" => return Err(NameRule::EmptyComponent),
            "." => return Err(NameRule::DotComponent(".")),
            ".." => return Err(NameRule::DotComponent("..")),
            _ => {}
        }
    }
    Ok(())
}

/// The rule a run or experiment name breaks, if any: 1 to 250 characters, none of them a
/// control character (anything else is free text).
pub fn run_name_rule(name: &str) -> Result<(), NameRule> {
    if name.trim().is_empty() {
        return Err(NameRule::Empty);
    }
    if let Some((at, c)) = name.chars().enumerate().find(|(_, c)| c.is_control()) {
        return Err(NameRule::ControlCharacter(c, at));
    }
    let count = name.chars().count();
    if count > MAX_KEY_CHARS {
        return Err(NameRule::TooLong(count));
    }
    Ok(())
}

/// Edit distance between two strings, in characters: what "did you mean" suggestions rank by.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Why `text` does not parse as the primitive type named `ty` (`f64`, `u32`, `bool`, ...; a
/// leading `&` is ignored); `None` when it parses, or when `ty` is not a primitive this can
/// check (a user's type is checked when the program runs).
pub fn parse_check(ty: &str, text: &str) -> Option<String> {
    fn check<T: FromStr>(text: &str) -> Option<String>
    where
        T::Err: fmt::Display,
    {
        text.parse::<T>().err().map(|e| e.to_string())
    }
    match ty.trim_start_matches('&').trim() {
        "f32" => check::<f32>(text),
        "f64" => check::<f64>(text),
        "i8" => check::<i8>(text),
        "i16" => check::<i16>(text),
        "i32" => check::<i32>(text),
        "i64" => check::<i64>(text),
        "i128" => check::<i128>(text),
        "isize" => check::<isize>(text),
        "u8" => check::<u8>(text),
        "u16" => check::<u16>(text),
        "u32" => check::<u32>(text),
        "u64" => check::<u64>(text),
        "u128" => check::<u128>(text),
        "usize" => check::<usize>(text),
        "bool" => check::<bool>(text),
        "char" => check::<char>(text),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn keys_follow_the_servers_rules() {
        for key in [
            "loss",
            "train/loss",
            "Accuracy 1",
            "a:b",
            "ünï",
            "精度",
            "x_٣",
            "..a",
            "a/..b",
        ] {
            assert_eq!(key_rule(key), Ok(()), "{key:?}");
        }
        let cases = vec![
            ("", NameRule::Empty),
            ("bad!", NameRule::Character('!', 3)),
            ("/abs", NameRule::LeadingSlash),
            ("/", NameRule::LeadingSlash),
            ("a/", NameRule::TrailingSlash),
            ("a//b", NameRule::EmptyComponent),
            ("a//", NameRule::EmptyComponent),
            (".", NameRule::DotComponent(".")),
            ("..", NameRule::DotComponent("..")),
            ("a/./b", NameRule::DotComponent(".")),
            ("../x", NameRule::DotComponent("..")),
        ];
        for (key, rule) in cases {
            assert_eq!(key_rule(key), Err(rule), "{key:?}");
        }
        assert_eq!(key_rule(&"é".repeat(251)), Err(NameRule::TooLong(251)));
    }

    #[test]
    fn run_names_are_free_text_without_control_characters() {
        assert_eq!(run_name_rule("train (fold 1) #3"), Ok(()));
        assert_eq!(run_name_rule(" "), Err(NameRule::Empty));
        assert_eq!(
            run_name_rule("a\tb"),
            Err(NameRule::ControlCharacter('\t', 1))
        );
        assert_eq!(
            NameRule::ControlCharacter('\t', 1).to_string(),
            "character '\\t' at position 1 is a control character; remove it"
        );
    }

    #[test]
    fn edit_distance_and_parse_check() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(parse_check("f64", "0.5"), None);
        assert_eq!(
            parse_check("u32", "-1").as_deref(),
            Some("invalid digit found in string")
        );
        assert_eq!(parse_check("&str", "anything"), None);
    }
}
