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

mod values;
pub use values::{same_type, type_name, value_problem};

/// Longest key or run name, in characters (the server's limit).
pub const MAX_KEY_CHARS: usize = 250;

/// Longest alias of a registered model, in characters (MLflow's
/// `MAX_REGISTERED_MODEL_ALIAS_LENGTH`).
pub const MAX_ALIAS_CHARS: usize = 255;

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
    /// An alias is empty or longer than 255 characters (how many it has).
    AliasLength(usize),
    /// A character of an alias that is not a letter, digit, `_` or `-`, and its position.
    AliasCharacter(char, usize),
    /// The alias `latest` (in any case), which names a model's highest version.
    AliasLatest,
    /// An alias of the form `v<digits>`, which names a version.
    AliasVersion,
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
            NameRule::AliasLength(0) => {
                f.write_str("an alias must have 1 to 255 characters, and it is empty")
            }
            NameRule::AliasLength(n) => {
                write!(
                    f,
                    "an alias may have at most 255 characters, and it has {n}"
                )
            }
            NameRule::AliasCharacter(c, at) => write!(
                f,
                "character {c:?} at position {at} cannot be in an alias; use letters, digits, \
                 underscore and hyphen"
            ),
            NameRule::AliasLatest => f.write_str(
                "'latest' (in any case) is reserved: it always names the model's highest \
                 version; choose another alias",
            ),
            NameRule::AliasVersion => f.write_str(
                "'v' followed by digits is reserved: it names a version (v3 is version 3); \
                 choose another alias",
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

/// The rule an alias of a registered model breaks, if any: MLflow's (3.17.2) rules for
/// `registered-models/alias`.
///
/// 1 to 255 characters, each a letter or digit of any script (Python's `\w` on the server), `_`
/// or `-`; not `latest` in any case (it names the highest version) and not `v` or `V` followed
/// by digits (a version). The first problem from the left is reported.
///
/// ```
/// use run_rules::{NameRule, alias_rule};
/// assert_eq!(alias_rule("champion"), Ok(()));
/// assert_eq!(alias_rule("Latest"), Err(NameRule::AliasLatest));
/// assert_eq!(alias_rule("v2"), Err(NameRule::AliasVersion));
/// ```
pub fn alias_rule(alias: &str) -> Result<(), NameRule> {
    let mut count = 0;
    for (at, c) in alias.chars().enumerate() {
        if !(c.is_alphanumeric() || c == '_' || c == '-') {
            return Err(NameRule::AliasCharacter(c, at));
        }
        count += 1;
    }
    if count == 0 || count > MAX_ALIAS_CHARS {
        return Err(NameRule::AliasLength(count));
    }
    if alias.eq_ignore_ascii_case("latest") {
        return Err(NameRule::AliasLatest);
    }
    let mut rest = alias.chars();
    let v = matches!(rest.next(), Some('v' | 'V'));
    // Python's `\d` is any decimal digit, not only ASCII: `char::is_numeric` is its nearest.
    if v && alias.len() > 1 && rest.all(char::is_numeric) {
        return Err(NameRule::AliasVersion);
    }
    Ok(())
}

// ---------------------------------------------------------------- "did you mean"

/// Longest name [`levenshtein`] measures, in characters. Longer names are never close by
/// edits (the distance is `usize::MAX`), which bounds one comparison to 64 × 64 steps and its
/// working memory to a few arrays on the stack: it runs in const evaluation (`pipeline!`'s
/// checks), where nothing can be allocated.
pub const MAX_EDIT_CHARS: usize = 64;

/// Edit distance between two strings, in characters (insertions, deletions, substitutions):
/// what "did you mean" suggestions rank by. `usize::MAX` when either has more than
/// [`MAX_EDIT_CHARS`] characters.
///
/// ```
/// const D: usize = run_rules::levenshtein("treshold", "threshold");
/// assert_eq!(D, 1);
/// ```
pub const fn levenshtein(a: &str, b: &str) -> usize {
    let (mut a_chars, mut b_chars) = ([0u32; MAX_EDIT_CHARS], [0u32; MAX_EDIT_CHARS]);
    let (Some(a_len), Some(b_len)) = (decode(a, &mut a_chars), decode(b, &mut b_chars)) else {
        return usize::MAX;
    };
    let mut row = [0usize; MAX_EDIT_CHARS + 1];
    let mut j = 0;
    while j <= b_len {
        row[j] = j;
        j += 1;
    }
    let mut i = 0;
    while i < a_len {
        let mut diagonal = row[0];
        row[0] = i + 1;
        let mut j = 0;
        while j < b_len {
            let above = row[j + 1];
            let substitute = diagonal + (a_chars[i] != b_chars[j]) as usize;
            row[j + 1] = min(min(above + 1, row[j] + 1), substitute);
            diagonal = above;
            j += 1;
        }
        i += 1;
    }
    row[b_len]
}

const fn min(a: usize, b: usize) -> usize {
    if a < b { a } else { b }
}

/// The characters of `s` as code points into `out`, and their count; `None` when there are
/// more than `out` holds. (`str::chars` is not a `const fn`.)
const fn decode(s: &str, out: &mut [u32; MAX_EDIT_CHARS]) -> Option<usize> {
    let bytes = s.as_bytes();
    let (mut at, mut count) = (0, 0);
    while at < bytes.len() {
        if count == MAX_EDIT_CHARS {
            return None;
        }
        let lead = bytes[at] as u32;
        // A `str` is valid UTF-8: the lead byte says how many continuation bytes follow.
        let (mut code, width) = match lead {
            0x00..=0x7F => (lead, 1),
            0xC0..=0xDF => (lead & 0x1F, 2),
            0xE0..=0xEF => (lead & 0x0F, 3),
            _ => (lead & 0x07, 4),
        };
        let mut k = 1;
        while k < width {
            code = (code << 6) | (bytes[at + k] as u32 & 0x3F);
            k += 1;
        }
        out[count] = code;
        count += 1;
        at += width;
    }
    Some(count)
}

/// Whether `candidate` is close enough to `wanted` to be suggested for it ("did you mean"),
/// and how close: `Some(rank)`, smaller first, or `None`.
///
/// The rule, the same for every suggestion of runctx (macro options, step and pipeline names,
/// run ids): `wanted` is not empty, and either
///
/// - `candidate` starts with `wanted`: an abbreviation, such as the first characters of a run
///   id, ranked with an exact match (0); or
/// - they are at most `max(2, n / 5)` edits apart ([`levenshtein`]) and fewer than `n`, for a
///   `wanted` of `n` characters, ranked by their distance: a typo keeps most of a name, so two
///   edits are allowed in a short name and one more per five characters in a long one, and a
///   name of one or two letters is not a "typo" of every other short name.
///
/// ```
/// use run_rules::closeness;
/// assert_eq!(closeness("treshold", "threshold"), Some(1));
/// assert_eq!(closeness("OfflineRun_3f", "OfflineRun_3f2a"), Some(0));
/// assert_eq!(closeness("learning_rate", "threshold"), None);
/// ```
pub const fn closeness(wanted: &str, candidate: &str) -> Option<usize> {
    let n = char_count(wanted);
    if n == 0 {
        return None;
    }
    if starts_with(candidate, wanted) {
        return Some(0);
    }
    let limit = if n / 5 > 2 { n / 5 } else { 2 };
    let distance = levenshtein(wanted, candidate);
    if distance <= limit && distance < n {
        Some(distance)
    } else {
        None
    }
}

/// Characters in `s`: its bytes that are not UTF-8 continuation bytes.
const fn char_count(s: &str) -> usize {
    let bytes = s.as_bytes();
    let (mut i, mut count) = (0, 0);
    while i < bytes.len() {
        count += (bytes[i] & 0xC0 != 0x80) as usize;
        i += 1;
    }
    count
}

/// `a == b`, in const code (where `==` on `str` is not available).
pub const fn str_eq(a: &str, b: &str) -> bool {
    bytes_eq(a.as_bytes(), b.as_bytes())
}

const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// `s.starts_with(prefix)`, in const code. Bytes suffice: a prefix of valid UTF-8 that is
/// itself a `str` ends at a character boundary.
const fn starts_with(s: &str, prefix: &str) -> bool {
    let (s, prefix) = (s.as_bytes(), prefix.as_bytes());
    prefix.len() <= s.len() && bytes_eq(s.split_at(prefix.len()).0, prefix)
}

/// Up to three of `candidates` close to `wanted` ([`closeness`]), best first; ties keep the
/// candidates' order, and a candidate given twice is listed once.
///
/// ```
/// let ids = ["OfflineRun_abc", "OfflineRun_abd", "OfflineRun_xyz"];
/// assert_eq!(run_rules::closest("OfflineRun_abx", ids), ["OfflineRun_abc", "OfflineRun_abd"]);
/// assert!(run_rules::closest("something else", ids).is_empty());
/// ```
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut ranked: Vec<(usize, &'a str)> = Vec::new();
    for candidate in candidates {
        if let Some(rank) = closeness(wanted, candidate)
            && !ranked.iter().any(|(_, c)| *c == candidate)
        {
            ranked.push((rank, candidate));
        }
    }
    // Stable: equally close candidates stay in the order given.
    ranked.sort_by_key(|(rank, _)| *rank);
    ranked.into_iter().take(3).map(|(_, c)| c).collect()
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

/// The rules' cases, one table for every implementation to be checked against: these rules
/// here, the macros that apply them at compile time, and the runtime's fast path for short ASCII
/// keys (`run_runtime::validate`), which must decide exactly as [`key_rule`] does.
#[doc(hidden)]
pub mod testing {
    use super::NameRule::{self, *};
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;
    use alloc::{format, vec};

    /// One case: a name, the rule's verdict, and words its message must contain (empty for
    /// an accepted name).
    pub type Case = (String, Result<(), NameRule>, &'static str);

    /// Metric, tag and property keys: every character class, every path rule, both sides of
    /// the length limit in one- and two-byte characters, and the edges of the fast path
    /// (dots and slashes that are and are not path components).
    pub fn key_cases() -> Vec<Case> {
        let accepted = [
            "loss",
            "a",
            "train/loss",
            "Accuracy 1",
            "f1_macro",
            "lr-schedule",
            "epoch.5",
            "http:port",
            "a:b",
            "a/b/c",
            "ünïcödé",
            "精度",
            "x_٣",
            "..a",
            "a..",
            "a/..b",
            ".hidden",
        ];
        let rejected: [(&str, NameRule, &str); 19] = [
            ("", Empty, "and it is empty"),
            ("bad!", Character('!', 3), "character '!' at position 3"),
            ("loss!", Character('!', 4), "character '!' at position 4"),
            ("a\tb", Character('\t', 1), "character '\\t' at position 1"),
            ("a\nb", Character('\n', 1), "character '\\n' at position 1"),
            ("a\\b", Character('\\', 1), "character '\\\\' at position 1"),
            ("é+", Character('+', 1), "character '+' at position 1"),
            ("🙂", Character('🙂', 0), "character '🙂' at position 0"),
            ("/abs", LeadingSlash, "starts with '/'"),
            ("/", LeadingSlash, "starts with '/'"),
            ("a/", TrailingSlash, "ends with '/'"),
            ("a//b", EmptyComponent, "contains '//'"),
            // An empty component before a trailing slash: the first problem from the left.
            ("a//", EmptyComponent, "contains '//'"),
            (".", DotComponent("."), "component '.'"),
            ("..", DotComponent(".."), "component '..'"),
            ("a/./b", DotComponent("."), "component '.'"),
            ("../x", DotComponent(".."), "component '..'"),
            ("a/../b", DotComponent(".."), "component '..'"),
            ("a/..", DotComponent(".."), "component '..'"),
        ];
        let mut cases: Vec<Case> = accepted
            .iter()
            .map(|k| (k.to_string(), Ok(()), ""))
            .collect();
        cases.extend(
            rejected
                .into_iter()
                .map(|(k, rule, says)| (k.to_string(), Err(rule), says)),
        );
        for c in ["a", "é"] {
            // 250 two-byte characters are 500 bytes, and still allowed: characters count.
            cases.push((c.repeat(250), Ok(()), ""));
            cases.push((
                c.repeat(251),
                Err(TooLong(251)),
                "at most 250 characters, and it has 251",
            ));
        }
        cases
    }

    /// Run and experiment names: free text, but not blank, without control characters, and
    /// at most 250 characters.
    pub fn run_name_cases() -> Vec<Case> {
        vec![
            ("train (fold 1) #3".to_string(), Ok(()), ""),
            ("精度 / loss: 1".to_string(), Ok(()), ""),
            ("n".repeat(250), Ok(()), ""),
            ("".to_string(), Err(Empty), "and it is empty"),
            ("  ".to_string(), Err(Empty), "and it is empty"),
            (
                "a\tb".to_string(),
                Err(ControlCharacter('\t', 1)),
                "character '\\t' at position 1 is a control character; remove it",
            ),
            (
                "a\nb".to_string(),
                Err(ControlCharacter('\n', 1)),
                "is a control character",
            ),
            (
                "n".repeat(251),
                Err(TooLong(251)),
                "at most 250 characters, and it has 251",
            ),
        ]
    }

    /// Aliases of registered models: MLflow's characters, length and reserved names.
    pub fn alias_cases() -> Vec<Case> {
        let mut cases: Vec<Case> = [
            "champion",
            "a",
            "prod-2024_01",
            "Ünï",
            "v",
            "vx1",
            "v1a",
            "latest2",
        ]
        .iter()
        .map(|a| (a.to_string(), Ok(()), ""))
        .collect();
        let rejected: [(&str, NameRule, &str); 9] = [
            ("", AliasLength(0), "1 to 255 characters, and it is empty"),
            ("a b", AliasCharacter(' ', 1), "character ' ' at position 1"),
            ("a.b", AliasCharacter('.', 1), "underscore and hyphen"),
            ("a@b", AliasCharacter('@', 1), "character '@'"),
            ("a/b", AliasCharacter('/', 1), "character '/'"),
            ("latest", AliasLatest, "'latest' (in any case) is reserved"),
            ("LaTeSt", AliasLatest, "highest version"),
            ("v3", AliasVersion, "names a version"),
            ("V12", AliasVersion, "'v' followed by digits"),
        ];
        cases.extend(
            rejected
                .into_iter()
                .map(|(a, rule, says)| (a.to_string(), Err(rule), says)),
        );
        cases.push(("é".repeat(255), Ok(()), ""));
        cases.push((
            "a".repeat(256),
            Err(AliasLength(256)),
            "at most 255 characters, and it has 256",
        ));
        cases
    }

    /// Checks `rule` against `cases` (from [`key_cases`] or [`run_name_cases`]); the error
    /// lists every case it gets wrong.
    pub fn check(
        cases: &[Case],
        rule: impl Fn(&str) -> Result<(), NameRule>,
    ) -> Result<(), String> {
        let wrong: Vec<String> = cases
            .iter()
            .filter_map(|(name, want, _)| {
                let got = rule(name);
                (got != *want).then(|| format!("{name:?}: {got:?}, want {want:?}"))
            })
            .collect();
        match wrong.is_empty() {
            true => Ok(()),
            false => Err(wrong.join("\n")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn keys_follow_the_servers_rules() {
        testing::check(&testing::key_cases(), key_rule).unwrap();
    }

    #[test]
    fn run_names_are_free_text_without_control_characters() {
        testing::check(&testing::run_name_cases(), run_name_rule).unwrap();
    }

    #[test]
    fn aliases_follow_mlflows_rules() {
        testing::check(&testing::alias_cases(), alias_rule).unwrap();
    }

    #[test]
    fn each_refusal_says_the_rule_and_the_fix() {
        for (name, want, says) in testing::key_cases()
            .into_iter()
            .chain(testing::run_name_cases())
            .chain(testing::alias_cases())
        {
            if let Err(rule) = want {
                let message = rule.to_string();
                assert!(message.contains(says), "{name:?}: {message}");
            }
        }
    }

    #[test]
    fn edit_distance_counts_characters_up_to_a_bound() {
        const IN_CONST: usize = levenshtein("kitten", "sitting");
        assert_eq!(IN_CONST, 3);
        let cases = [
            ("", "", 0),
            ("", "abc", 3),
            ("abc", "", 3),
            ("treshold", "threshold", 1),
            ("epohc", "epoch", 2),
            ("flaw", "lawn", 2),
            // Characters, not bytes: é is two bytes, one edit.
            ("café", "cafe", 1),
            ("精度", "精", 1),
            ("🙂a", "a🙂", 2),
        ];
        for (a, b, d) in cases {
            assert_eq!(levenshtein(a, b), d, "{a:?} {b:?}");
            assert_eq!(levenshtein(b, a), d, "{b:?} {a:?}");
        }
        let at_bound = "é".repeat(MAX_EDIT_CHARS);
        assert_eq!(levenshtein(&at_bound, ""), MAX_EDIT_CHARS);
        let over = "x".repeat(MAX_EDIT_CHARS + 1);
        assert_eq!(levenshtein(&over, "x"), usize::MAX);
        assert_eq!(levenshtein("x", &over), usize::MAX);
    }

    #[test]
    fn close_means_an_abbreviation_or_a_few_edits() {
        let (x70, x71) = ("x".repeat(70), "x".repeat(71));
        // (wanted, candidate, rank)
        let cases = [
            ("treshold", "threshold", Some(1)),
            ("iris_data", "irisdata", Some(1)),
            ("epohc", "epoch", Some(2)),
            ("fti", "fit", Some(2)),
            ("inputz", "inputs", Some(1)),
            ("experimnt", "experiment", Some(1)),
            ("threshold", "threshold", Some(0)),
            // An abbreviation ranks with an exact match, however much is left out.
            ("OfflineRun_", "OfflineRun_abc", Some(0)),
            ("n", "name", Some(0)),
            // Two edits in a short name, one more per five characters.
            ("abcdefghij", "abcdefghXY", Some(2)),
            ("abcdefghij", "abcdefgXYZ", None),
            ("abcdefghijklmno", "abcdefghijklXYZ", Some(3)),
            ("learning_rate", "threshold", None),
            ("something else entirely", "OfflineRun_abc", None),
            // A name of one or two letters is not a typo of every short name.
            ("x", "y", None),
            ("x", "to", None),
            ("ab", "cd", None),
            ("ab", "ac", Some(1)),
            // Nothing is close to nothing.
            ("", "anything", None),
            ("", "", None),
            // Longer than MAX_EDIT_CHARS: close only as an abbreviation.
            (x70.as_str(), x71.as_str(), Some(0)),
            (x71.as_str(), x70.as_str(), None),
        ];
        for (wanted, candidate, rank) in cases {
            assert_eq!(
                closeness(wanted, candidate),
                rank,
                "{wanted:?} {candidate:?}"
            );
        }
        const IN_CONST: Option<usize> = closeness("treshold", "threshold");
        assert_eq!(IN_CONST, Some(1));
    }

    #[test]
    fn closest_lists_three_at_most_best_first() {
        let ids = ["OfflineRun_abc", "OfflineRun_abd", "OfflineRun_xyz"];
        assert_eq!(
            closest("OfflineRun_abx", ids),
            ["OfflineRun_abc", "OfflineRun_abd"]
        );
        assert_eq!(closest("OfflineRun_", ids).len(), 3);
        assert!(closest("something else entirely", ids).is_empty());
        assert!(closest("x", []).is_empty());
        let names = ["trian", "train", "training", "rain", "train"];
        assert_eq!(closest("train", names), ["train", "training", "rain"]);
        let owned: Vec<alloc::string::String> = vec!["a".into(), "b".into()];
        assert_eq!(closest("a", owned.iter().map(|s| s.as_str())), ["a"]);
    }

    #[test]
    fn parse_check_names_the_parse_error() {
        assert_eq!(parse_check("f64", "0.5"), None);
        assert_eq!(
            parse_check("u32", "-1").as_deref(),
            Some("invalid digit found in string")
        );
        assert_eq!(parse_check("&str", "anything"), None);
    }
}
