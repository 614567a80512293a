//! The rules every record passes before it reaches the journal.
//!
//! They are the server's rules (MLflow 3.17.2, measured), checked locally so that one bad record
//! is refused alone instead of making the server reject a whole batch, and so that nothing is
//! silently truncated.

use crate::error::{Error, NameKind, NameRule, Result, Shown};

/// Longest key, in characters.
pub(crate) use run_rules::MAX_KEY_CHARS;
/// Longest property value, in characters (MLflow params).
pub(crate) const MAX_PROPERTY_CHARS: usize = 6000;
/// Longest tag value, in characters.
pub(crate) const MAX_TAG_CHARS: usize = 8000;

/// Class bits of each byte, for the one-pass check of short ASCII keys.
const ALLOWED: u8 = 1;
const SLASH: u8 = 2;
const DOT: u8 = 4;

/// `CLASS[b]`: `ALLOWED` for the ASCII bytes a key may hold, `[A-Za-z0-9_\-. :/]`, plus `SLASH`
/// or `DOT` for the two that make paths. Bytes of 128 and above (UTF-8) are 0 here and go to
/// the general check.
const CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b' ' | b':' | b'/') {
            table[b] = ALLOWED;
        }
        b += 1;
    }
    table[b'/' as usize] |= SLASH;
    table[b'.' as usize] |= DOT;
    table
};

/// Checks a metric, tag, property or artifact name against the key rules (`run_rules::key_rule`,
/// which a program can call to check a name without logging it).
pub(crate) fn check_name(kind: NameKind, name: &str) -> Result<()> {
    key_rule(name).map_err(|rule| Error::InvalidName {
        kind,
        name: Shown::new(name),
        rule,
    })
}

/// The rule `key` breaks, if any. Kept apart from the error so the hot path builds nothing.
#[inline]
pub(crate) fn key_rule(key: &str) -> Result<(), NameRule> {
    let bytes = key.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_KEY_CHARS {
        return general_rule(key);
    }
    // The hot path of `run.log`: a branch-free pass that ANDs and ORs the class bits of every
    // byte (and notes "//"), so a short ASCII key costs about a table load a byte.
    let (mut all, mut any, mut double, mut previous) = (ALLOWED, 0u8, 0u8, 0u8);
    for &b in bytes {
        let class = CLASS[b as usize];
        all &= class;
        any |= class;
        double |= previous & class;
        previous = class;
    }
    if all == 0 {
        return general_rule(key);
    }
    if any & DOT != 0 {
        // Only a "." or ".." component needs the component scan.
        return general_rule(key);
    }
    if any & SLASH != 0 {
        if bytes[0] == b'/' {
            return Err(NameRule::LeadingSlash);
        }
        // The general check reports the first problem from the left: "a//" is an empty
        // component before it is a trailing slash.
        if double & SLASH != 0 {
            return Err(NameRule::EmptyComponent);
        }
        if bytes[bytes.len() - 1] == b'/' {
            return Err(NameRule::TrailingSlash);
        }
    }
    Ok(())
}

/// The complete check (`run_rules::key_rule`, which the macros apply at compile time), for
/// keys the fast pass does not clear.
#[cold]
fn general_rule(key: &str) -> Result<(), NameRule> {
    run_rules::key_rule(key)
}

/// Checks a run or experiment name: 1 to 250 characters, none of them a control character.
pub(crate) fn check_run_name(name: &str) -> Result<()> {
    run_rules::run_name_rule(name).map_err(|rule| Error::InvalidName {
        kind: NameKind::Run,
        name: Shown::new(name),
        rule,
    })
}

/// Checks a tag or property value against the server's length limit.
pub(crate) fn check_value(kind: NameKind, key: &str, value: &str) -> Result<()> {
    let max = match kind {
        NameKind::Property => MAX_PROPERTY_CHARS,
        _ => MAX_TAG_CHARS,
    };
    // Bytes bound characters from above: most values never need counting.
    if value.len() <= max {
        return Ok(());
    }
    let len = value.chars().count();
    if len <= max {
        return Ok(());
    }
    Err(Error::ValueTooLong {
        kind,
        key: key.to_owned(),
        value: Shown::new(value),
        len,
        max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The fast path decides every case of the rules' table as `run_rules::key_rule` does.
    #[test]
    fn the_fast_check_passes_the_rules_table() {
        run_rules::testing::check(&run_rules::testing::key_cases(), key_rule).unwrap();
    }

    #[test]
    fn the_fast_check_agrees_with_the_general_one_on_every_byte_everywhere() {
        for len in 1..=20 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut key = vec![b'a'; len];
                    key[at] = b;
                    let Ok(key) = String::from_utf8(key) else {
                        continue;
                    };
                    assert_eq!(key_rule(&key), general_rule(&key), "{key:?}");
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]

        #[test]
        fn the_fast_check_agrees_with_the_general_one(key in "[a/._ :Z9\\-!é]{1,40}") {
            proptest::prop_assert_eq!(key_rule(&key), general_rule(&key), "{:?}", key);
        }
    }

    #[test]
    fn errors_name_the_kind_the_key_and_the_rule() {
        let e = check_name(NameKind::Tag, "bad//key").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid tag name \"bad//key\": it contains '//'; use a single '/'"
        );
        let long = "k".repeat(300);
        let e = check_name(NameKind::Metric, &long).unwrap_err().to_string();
        assert!(e.contains("(300 characters)"), "{e}");
        assert!(e.contains("at most 250 characters, and it has 300"), "{e}");
    }

    #[test]
    fn run_names_follow_the_rules_table() {
        run_rules::testing::check(
            &run_rules::testing::run_name_cases(),
            |name| match check_run_name(name) {
                Err(Error::InvalidName { rule, .. }) => Err(rule),
                other => other.map_err(|e| panic!("{name:?}: {e}")),
            },
        )
        .unwrap();
    }

    #[test]
    fn value_limits_are_6000_for_properties_and_8000_for_tags() {
        assert!(check_value(NameKind::Property, "k", &"v".repeat(6000)).is_ok());
        assert!(check_value(NameKind::Tag, "k", &"v".repeat(8000)).is_ok());
        // Multi-byte characters count once.
        assert!(check_value(NameKind::Property, "k", &"é".repeat(6000)).is_ok());
        let e = check_value(NameKind::Property, "note", &"v".repeat(6001)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "property \"note\" has a value of 6001 characters ({}... (6001 characters)); \
                 property values may have at most 6000 characters, because the server would \
                 silently truncate a longer one",
                format_args!("{:?}", "v".repeat(60))
            )
        );
        let e = check_value(NameKind::Tag, "t", &"v".repeat(8001)).unwrap_err();
        assert!(matches!(
            e,
            Error::ValueTooLong {
                len: 8001,
                max: 8000,
                ..
            }
        ));
    }
}
