//! Times, durations, metric values, sizes and untrusted text as people read them.

use std::borrow::Cow;
use std::fmt::Write;

/// Milliseconds since the epoch as local time, `YYYY-MM-DD HH:MM:SS`.
pub fn time(ms: i64) -> String {
    let t = civil(ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// Milliseconds since the epoch as local time to the minute, `YYYY-MM-DD HH:MM`.
pub fn time_short(ms: i64) -> String {
    let mut s = time(ms);
    s.truncate(16);
    s
}

/// A duration in milliseconds: `0.4s`, `42s`, `3m 05s`, `2h 03m`, `3d 04h`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    let s = ms / 1000;
    match s {
        0..10 => format!("{:.1}s", ms as f64 / 1000.0),
        10..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// Parses a duration such as `90s`, `30m`, `12h`, `7d` or `2w` into milliseconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_ms = match unit.trim() {
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => 0,
    };
    match number.parse::<i64>() {
        Ok(n) if unit_ms > 0 => n
            .checked_mul(unit_ms)
            .ok_or_else(|| format!("{text:?} is too long a time")),
        _ => Err(format!(
            "{text:?} is not a duration; use a whole number and a unit: s, m, h, d or w (such as \
             7d)"
        )),
    }
}

/// The wire name of a value JSON has no number for: `NaN`, `Infinity`, `-Infinity`. The
/// library's store writes the same names (a documented convention, docs/cli.md and MLflow's
/// wire format); the tool spells them itself rather than the library making its serde helper
/// public API for four lines.
fn special(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("Infinity")
    } else if v == f64::NEG_INFINITY {
        Some("-Infinity")
    } else {
        None
    }
}

/// A metric value in at most 6 significant digits; NaN and the infinities by their wire names.
pub fn value(v: f64) -> String {
    if let Some(text) = special(v) {
        return text.to_owned();
    }
    if v == 0.0 {
        return "0".to_owned();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{}", v as i64);
    }
    let magnitude = v.abs().log10().floor() as i32;
    if !(-4..15).contains(&magnitude) {
        let s = format!("{v:.5e}");
        let (mantissa, exponent) = s.split_once('e').expect("exponent format has an e");
        return format!("{}e{exponent}", trim_zeros(mantissa));
    }
    let decimals = (5 - magnitude).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_owned()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Text that came from a store (names, tags, keys, error messages: written by programs and
/// files we do not trust) as it may be shown on a terminal or in a file: every control
/// character (C0, DEL and C1: ESC, CSI, BEL, backspace, CR, tab, newline...) written out as
/// `\x1b`, so that none can move the cursor, retitle the window or hide what follows.
pub fn visible(text: &str) -> Cow<'_, str> {
    escape_controls(text, false)
}

/// [`visible`], keeping line breaks: for text the tool lays out on several lines.
pub fn visible_lines(text: &str) -> Cow<'_, str> {
    escape_controls(text, true)
}

fn escape_controls(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && !(keep_newlines && c == '\n');
    if !text.contains(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            // Every control character is below U+00A0: two hex digits say which.
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A size in bytes: `812 B`, `1.2 KiB`, `3.4 MiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A metric value in JSON output: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"` (JSON has
/// no numbers for them), as on the wire to MLflow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Num(pub f64);

impl serde::Serialize for Num {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match special(self.0) {
            Some(text) => s.serialize_str(text),
            None => s.serialize_f64(self.0),
        }
    }
}

struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

/// Local time where the C library tells the time zone (it reads `TZ`), else UTC.
#[cfg(unix)]
fn civil(ms: i64) -> Civil {
    let secs = ms.div_euclid(1000) as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, which lives on this stack frame.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = !unsafe { libc::localtime_r(&secs, &mut tm) }.is_null();
    if !ok {
        return utc(ms);
    }
    Civil {
        year: i64::from(tm.tm_year) + 1900,
        month: (tm.tm_mon + 1) as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec as u32,
    }
}

#[cfg(not(unix))]
fn civil(ms: i64) -> Civil {
    utc(ms)
}

/// Days since the epoch to a date: Howard Hinnant's `civil_from_days`.
fn utc(ms: i64) -> Civil {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: (rest / 3600) as u32,
        minute: (rest % 3600 / 60) as u32,
        second: (rest % 60) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        let t = utc(1_764_147_600_000);
        assert_eq!((t.year, t.month, t.day, t.hour), (2025, 11, 26, 9));
        let t = utc(951_782_400_000); // 2000-02-29
        assert_eq!((t.year, t.month, t.day), (2000, 2, 29));
        let t = utc(-1000);
        assert_eq!((t.year, t.month, t.day, t.second), (1969, 12, 31, 59));
    }

    #[test]
    fn durations() {
        assert_eq!(duration(420), "0.4s");
        assert_eq!(duration(42_000), "42s");
        assert_eq!(duration(185_000), "3m 05s");
        assert_eq!(duration(7_380_000), "2h 03m");
        assert_eq!(duration(3 * 86_400_000 + 4 * 3_600_000), "3d 04h");
        assert_eq!(parse_duration("7d"), Ok(7 * 86_400_000));
        assert_eq!(parse_duration("90s"), Ok(90_000));
        let e = parse_duration("7x").unwrap_err();
        assert!(e.contains("use a whole number and a unit"), "{e}");
        assert!(parse_duration("d").is_err());
    }

    #[test]
    fn values() {
        assert_eq!(value(0.25), "0.25");
        assert_eq!(value(1.0 / 3.0), "0.333333");
        assert_eq!(value(123456.789), "123457");
        assert_eq!(value(42.0), "42");
        assert_eq!(value(-0.000012345), "-1.2345e-5");
        assert_eq!(value(f64::NAN), "NaN");
        assert_eq!(value(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(value(1e20), "1e20");
        assert_eq!(value(0.1073741824), "0.107374");
    }

    #[test]
    fn control_characters_are_written_out() {
        let name = "\u{1b}[2J\u{1b}]0;pwned\u{7}";
        assert_eq!(visible(name), "\\x1b[2J\\x1b]0;pwned\\x07");
        assert_eq!(
            visible("a\u{9b}31m\u{8}\r\tb\n"),
            "a\\x9b31m\\x08\\x0d\\x09b\\x0a"
        );
        assert_eq!(visible_lines("one\ntwo\u{7f}"), "one\ntwo\\x7f");
        assert!(matches!(visible("plain · ü"), Cow::Borrowed(_)));
    }

    proptest::proptest! {
        #[test]
        fn visible_text_has_no_control_character(text in proptest::prelude::any::<String>()) {
            proptest::prop_assert!(!visible(&text).chars().any(char::is_control));
            let lines = visible_lines(&text);
            proptest::prop_assert!(!lines.chars().any(|c| c.is_control() && c != '\n'));
            proptest::prop_assert_eq!(lines.matches('\n').count(), text.matches('\n').count());
        }

        #[test]
        fn every_value_formats_short(bits in proptest::prelude::any::<u64>()) {
            let v = f64::from_bits(bits);
            let text = value(v);
            // Whole numbers below 1e15 are written in full: 16 characters with a sign.
            proptest::prop_assert!(text.len() <= 16, "{:e} as {}", v, text);
            if v.is_normal() {
                let back: f64 = text.parse().unwrap();
                let close = back == v || (back - v).abs() <= v.abs() * 1e-5;
                proptest::prop_assert!(close, "{:e} as {}", v, text);
            }
        }
    }

    #[test]
    fn extreme_values_format() {
        assert_eq!(value(f64::MAX), "1.79769e308");
        assert_eq!(value(-f64::MAX), "-1.79769e308");
        assert_eq!(value(f64::MIN_POSITIVE), "2.22507e-308");
        assert_eq!(value(5e-324), "4.94066e-324");
        assert_eq!(value(-1e15), "-1e15");
    }

    #[test]
    fn sizes() {
        assert_eq!(size(812), "812 B");
        assert_eq!(size(1229), "1.2 KiB");
        assert_eq!(size(5 * 1024 * 1024), "5.0 MiB");
    }
}
