//! Whether a value written as text is a value of a parameter's type, in const code: `pipeline!`
//! checks the literals it binds against the steps' param types at compile time, where
//! `FromStr` cannot run. Each answer is `FromStr`'s, in its words ([`parse_check`](crate::parse_check)
//! is the reference; a test holds the two to the same verdicts).

/// `ty` as a message names it: without a leading `&` and spaces (`&str` is `str`).
pub const fn type_name(ty: &str) -> &str {
    let bytes = ty.as_bytes();
    let mut start = 0;
    while start < bytes.len() && (bytes[start] == b'&' || bytes[start] == b' ') {
        start += 1;
    }
    // `start` is after ASCII bytes only: a character boundary.
    ty.split_at(start).1
}

/// `true` when a param of type `a` and one of type `b` take the same values: the same type,
/// or both text (`String`, `&str`).
pub const fn same_type(a: &str, b: &str) -> bool {
    let (a, b) = (text_as_string(type_name(a)), text_as_string(type_name(b)));
    crate::str_eq(a, b)
}

const fn text_as_string(ty: &str) -> &str {
    if crate::str_eq(ty, "str") {
        "String"
    } else {
        ty
    }
}

/// Why `text` is not a value of the primitive type `ty` (`u64`, `f64`, `bool`, `char`, ...; a
/// leading `&` is ignored), in `FromStr`'s words; `None` when it is, or when `ty` is not a
/// primitive this can check (text types take anything, a user's type is checked when the
/// program runs).
pub const fn value_problem(ty: &str, text: &str) -> Option<&'static str> {
    let ty = type_name(ty).as_bytes();
    match ty {
        b"u8" => unsigned(text, u8::MAX as u128),
        b"u16" => unsigned(text, u16::MAX as u128),
        b"u32" => unsigned(text, u32::MAX as u128),
        b"u64" => unsigned(text, u64::MAX as u128),
        b"u128" => unsigned(text, u128::MAX),
        b"usize" => unsigned(text, usize::MAX as u128),
        b"i8" => signed(text, i8::MAX as u128),
        b"i16" => signed(text, i16::MAX as u128),
        b"i32" => signed(text, i32::MAX as u128),
        b"i64" => signed(text, i64::MAX as u128),
        b"i128" => signed(text, i128::MAX as u128),
        b"isize" => signed(text, isize::MAX as u128),
        b"f32" | b"f64" => float(text),
        b"bool" => match text.as_bytes() {
            b"true" | b"false" => None,
            _ => Some("provided string was not `true` or `false`"),
        },
        b"char" => match crate::char_count(text) {
            0 => Some("cannot parse char from empty string"),
            1 => None,
            _ => Some("too many characters in string"),
        },
        _ => None,
    }
}

const EMPTY_INT: &str = "cannot parse integer from empty string";
const INVALID_DIGIT: &str = "invalid digit found in string";
const TOO_LARGE: &str = "number too large to fit in target type";
const TOO_SMALL: &str = "number too small to fit in target type";

/// An unsigned integer of at most `max`: `+` allowed, `-` not.
const fn unsigned(text: &str, max: u128) -> Option<&'static str> {
    let digits = text.as_bytes();
    match digits {
        [] => Some(EMPTY_INT),
        [b'+', rest @ ..] => magnitude(rest, max, TOO_LARGE),
        _ => magnitude(digits, max, TOO_LARGE),
    }
}

/// A signed integer from `-max - 1` to `max`.
const fn signed(text: &str, max: u128) -> Option<&'static str> {
    match text.as_bytes() {
        [] => Some(EMPTY_INT),
        [b'-', rest @ ..] => magnitude(rest, max + 1, TOO_SMALL),
        [b'+', rest @ ..] => magnitude(rest, max, TOO_LARGE),
        digits => magnitude(digits, max, TOO_LARGE),
    }
}

/// Digits whose value is at most `max`, else `too_big`.
const fn magnitude(digits: &[u8], max: u128, too_big: &'static str) -> Option<&'static str> {
    if digits.is_empty() {
        return Some(INVALID_DIGIT);
    }
    let mut value: u128 = 0;
    let mut i = 0;
    // As `FromStr` does: digit by digit, the first problem is the answer.
    while i < digits.len() {
        let d = digits[i];
        if !d.is_ascii_digit() {
            return Some(INVALID_DIGIT);
        }
        value = match value.checked_mul(10) {
            Some(v) => match v.checked_add((d - b'0') as u128) {
                Some(v) if v <= max => v,
                _ => return Some(too_big),
            },
            None => return Some(too_big),
        };
        i += 1;
    }
    None
}

/// A float as `f64::from_str` reads it: a sign, then `inf`, `infinity` or `nan` (any case), or
/// digits with an optional `.` and fraction (at least one digit) and an optional exponent.
const fn float(text: &str) -> Option<&'static str> {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return Some("cannot parse float from empty string");
    }
    let rest = match bytes {
        [b'+' | b'-', rest @ ..] => rest,
        _ => bytes,
    };
    if eq_ignore_case(rest, b"inf")
        || eq_ignore_case(rest, b"infinity")
        || eq_ignore_case(rest, b"nan")
    {
        return None;
    }
    let mut i = 0;
    let mut digits = 0;
    while i < rest.len() && rest[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < rest.len() && rest[i] == b'.' {
        i += 1;
        while i < rest.len() && rest[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return Some("invalid float literal");
    }
    if i < rest.len() && (rest[i] == b'e' || rest[i] == b'E') {
        i += 1;
        if i < rest.len() && (rest[i] == b'+' || rest[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < rest.len() && rest[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Some("invalid float literal");
        }
    }
    if i == rest.len() {
        None
    } else {
        Some("invalid float literal")
    }
}

const fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if !a[i].eq_ignore_ascii_case(&b[i]) {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    const TYPES: [&str; 17] = [
        "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
        "f32", "f64", "bool", "char", "&str",
    ];

    #[test]
    fn the_const_check_gives_from_strs_verdict_and_words() {
        let texts = [
            "",
            "0",
            "7",
            "+7",
            "-7",
            "-0",
            "+",
            "-",
            "255",
            "256",
            "-128",
            "-129",
            "127",
            "128",
            "65535",
            "65536",
            "4294967296",
            "-2147483649",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "340282366920938463463374607431768211455",
            "340282366920938463463374607431768211456",
            "-170141183460469231731687303715884105728",
            "-170141183460469231731687303715884105729",
            "99999999999999999999999999999999999999999x",
            "0.5",
            ".5",
            "5.",
            ".",
            "1e5",
            "1E-5",
            "1e",
            "1e+",
            "2.5e3",
            "-0.95",
            "+0.95",
            "inf",
            "-Infinity",
            "NaN",
            "nan1",
            "0x10",
            "1_000",
            " 1",
            "1 ",
            "true",
            "false",
            "True",
            "knn",
            "é",
            "ab",
            "1.5.2",
        ];
        for ty in TYPES {
            for text in texts {
                assert_eq!(
                    value_problem(ty, text).map(String::from),
                    crate::parse_check(ty, text),
                    "{ty} {text:?}"
                );
            }
        }
    }

    #[test]
    fn types_are_named_and_compared_as_values() {
        assert_eq!(type_name("&str"), "str");
        assert_eq!(type_name("& f64"), "f64");
        assert!(same_type("&str", "String") && same_type("u64", "&u64"));
        assert!(!same_type("u64", "f64") && !same_type("String", "PathBuf"));
        assert_eq!(value_problem("MyType", "anything"), None);
    }
}
