//! Where output goes and how it looks: aligned tables, colour only on a terminal, JSON.
//!
//! Everything `runctx` writes to stdout or stderr goes through here, and much of it came from
//! a store: run and experiment names, tags, keys, error texts, written by programs and files we
//! do not trust. So this is where control characters are neutralised, once for every command:
//! a table cell or painted text shows them written out (`\x1b`), and [`Output::print`],
//! [`Output::print_json`] and [`eprint`] let through no control character but line breaks and
//! the colour codes of [`Output::paint`]. `main.rs` denies `print!` and `eprint!` elsewhere.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::failure::Failure;
use crate::format;

/// How to print.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// `--json`: one JSON document on stdout, nothing else.
    pub json: bool,
    /// ANSI colour in human output.
    pub color: bool,
}

impl Output {
    /// Colour when stdout is a terminal, `NO_COLOR` is unset or empty and `TERM` is not `dumb`.
    pub fn for_stdout(json: bool) -> Self {
        let color = use_color(
            std::io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
            std::env::var_os("TERM").as_deref(),
        );
        Output {
            json,
            color: color && !json,
        }
    }

    /// `text` in `style`, or plain without colour; its control characters written out, line
    /// breaks kept.
    pub fn paint(&self, text: &str, style: Style) -> String {
        let text = format::visible_lines(text);
        if self.color && style != Style::Plain {
            format!("\x1b[{}m{text}\x1b[0m", style.code())
        } else {
            text.into_owned()
        }
    }

    /// Prints human output (already built) on stdout.
    pub fn print(&self, text: &str) -> Result<(), Failure> {
        write_stdout(&terminal_text(text, self.color))
    }

    /// Prints `value` as pretty JSON on stdout.
    pub fn print_json(&self, value: &impl Serialize) -> Result<(), Failure> {
        let mut text = json_text(value, true);
        text.push('\n');
        write_stdout(&text)
    }
}

fn write_stdout(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::io("write", std::path::Path::new("stdout"), e))
}

/// Writes `text` on stderr (never coloured), control characters but line breaks written out.
/// A failure to write is ignored: stderr is where it would be reported.
pub fn eprint(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr
        .write_all(terminal_text(text, false).as_bytes())
        .and_then(|()| stderr.flush());
}

/// `runctx: MESSAGE` on stderr: a warning, or why the command failed.
pub fn warn(message: &str) {
    eprint(&format!("runctx: {message}\n"));
}

/// `value` as JSON (pretty or on one line). serde escapes C0 control characters in strings but
/// writes DEL and C1 (CSI `\u{9b}` among them) as they are; they can only be in strings, where
/// `\u009b` is the same value, so the JSON stays exact and the terminal safe.
pub fn json_text(value: &impl Serialize, pretty: bool) -> String {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }
    .expect("output values serialize");
    if !text.contains(|c: char| c.is_control() && c != '\n') {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c.is_control() && c != '\n' {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// Text for a terminal: every control character written out but line breaks and, with
/// `color`, the codes [`Output::paint`] writes. A store's text could hold those codes too, but
/// they only colour text: none moves the cursor, clears, retitles or hides anything.
fn terminal_text(text: &str, color: bool) -> Cow<'_, str> {
    if !text.contains(|c: char| c.is_control() && c != '\n') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(code) = color_code(rest).filter(|_| color) {
            out.push_str(code);
            rest = &rest[code.len()..];
            continue;
        }
        let (head, tail) = rest.split_at(c.len_utf8());
        out.push_str(&format::visible_lines(head));
        rest = tail;
    }
    Cow::Owned(out)
}

/// The colour code of [`Output::paint`] that `text` starts with, if any.
fn color_code(text: &str) -> Option<&str> {
    let code = text.strip_prefix("\x1b[")?;
    let end = code.find('m')?;
    Style::ALL
        .iter()
        .any(|s| s.code() == &code[..end])
        .then(|| &text[..end + 3])
}

/// The colour rule (<https://no-color.org>): a terminal, `NO_COLOR` unset or empty, and a
/// `TERM` other than `dumb`.
pub fn use_color(
    terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
}

/// A text style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Bold,
    Dim,
    Green,
    Red,
    Yellow,
    Cyan,
    Magenta,
    /// Bold yellow: a value that differs between runs.
    Changed,
}

impl Style {
    const ALL: [Style; 9] = [
        Style::Plain,
        Style::Bold,
        Style::Dim,
        Style::Green,
        Style::Red,
        Style::Yellow,
        Style::Cyan,
        Style::Magenta,
        Style::Changed,
    ];

    fn code(self) -> &'static str {
        match self {
            Style::Plain => "0",
            Style::Bold => "1",
            Style::Dim => "2",
            Style::Green => "32",
            Style::Red => "31",
            Style::Yellow => "33",
            Style::Cyan => "36",
            Style::Magenta => "35",
            Style::Changed => "1;33",
        }
    }
}

/// How a column is aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table cell: text on one line (control characters written out) and the style it is
/// printed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub text: String,
    pub style: Style,
}

impl Cell {
    pub fn styled(text: impl Into<String>, style: Style) -> Self {
        let text: String = text.into();
        Cell {
            text: format::visible(&text).into_owned(),
            style,
        }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell::styled(text, Style::Plain)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::styled(text, Style::Plain)
    }
}

/// A table with a header row, columns padded to their widest cell.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<String>,
    aligns: Vec<Align>,
    rows: Vec<Vec<Cell>>,
    indent: usize,
}

impl Table {
    /// A table with these columns, all left-aligned.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        // Headers are metric keys too.
        let headers: Vec<String> = headers
            .into_iter()
            .map(|h| format::visible(&h.into()).into_owned())
            .collect();
        let aligns = vec![Align::Left; headers.len()];
        Table {
            headers,
            aligns,
            rows: Vec::new(),
            indent: 0,
        }
    }

    /// Aligns column `i` (numbers go right).
    pub fn align(mut self, i: usize, align: Align) -> Self {
        self.aligns[i] = align;
        self
    }

    /// Aligns every column from `i` on.
    pub fn align_from(mut self, i: usize, align: Align) -> Self {
        for a in self.aligns.iter_mut().skip(i) {
            *a = align;
        }
        self
    }

    /// Starts every line with `n` spaces.
    pub fn indent(mut self, n: usize) -> Self {
        self.indent = n;
        self
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.headers.len(), "a row has every column");
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as lines of text, columns two spaces apart, trailing spaces trimmed.
    pub fn render(&self, out: &Output) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(&cell.text));
            }
        }
        let header: Vec<Cell> = self
            .headers
            .iter()
            .map(|h| Cell::styled(h.clone(), Style::Bold))
            .collect();
        let mut text = String::new();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = " ".repeat(self.indent);
            let last = row.len().saturating_sub(1);
            for (i, cell) in row.iter().enumerate() {
                let pad = widths[i] - width(&cell.text);
                let painted = out.paint(&cell.text, cell.style);
                match self.aligns[i] {
                    Align::Left if i == last => line.push_str(&painted),
                    Align::Left => {
                        line.push_str(&painted);
                        line.push_str(&" ".repeat(pad));
                    }
                    Align::Right => {
                        line.push_str(&" ".repeat(pad));
                        line.push_str(&painted);
                    }
                }
                if i != last {
                    line.push_str("  ");
                }
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }
}

/// Width on a terminal, in columns (one per character: tables hold ids, names and numbers).
pub fn width(s: &str) -> usize {
    s.chars().count()
}

/// `key   value` lines, keys padded to the widest, keys bold.
pub fn fields(out: &Output, rows: &[(&str, String)]) -> String {
    let w = rows.iter().map(|(k, _)| width(k)).max().unwrap_or(0);
    let mut text = String::new();
    for (key, value) in rows {
        let pad = " ".repeat(w - width(key));
        text.push_str(&format!("{}{pad}  {value}\n", out.paint(key, Style::Bold)));
    }
    text
}

/// A section heading.
pub fn heading(out: &Output, title: &str) -> String {
    format!("\n{}\n", out.paint(title, Style::Bold))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        let tty = Some(OsStr::new("xterm-256color"));
        assert!(use_color(true, None, tty));
        assert!(
            use_color(true, Some(OsStr::new("")), tty),
            "empty counts as unset"
        );
        assert!(!use_color(true, Some(OsStr::new("1")), tty));
        assert!(!use_color(false, None, tty));
        assert!(!use_color(true, None, Some(OsStr::new("dumb"))));
    }

    #[test]
    fn only_line_breaks_and_own_colours_reach_a_terminal() {
        let text = "\x1b[32mok\x1b[0m \x1b[2J\x1b]0;pwned\x07 \u{9b}8m\r\n";
        assert_eq!(
            terminal_text(text, false),
            "\\x1b[32mok\\x1b[0m \\x1b[2J\\x1b]0;pwned\\x07 \\x9b8m\\x0d\n"
        );
        assert_eq!(
            terminal_text(text, true),
            "\x1b[32mok\x1b[0m \\x1b[2J\\x1b]0;pwned\\x07 \\x9b8m\\x0d\n"
        );
        assert_eq!(terminal_text("\x1b[8mhidden", true), "\\x1b[8mhidden");
        let out = Output {
            json: false,
            color: true,
        };
        assert_eq!(
            out.paint("a\x1b[8m\nb", Style::Red),
            "\x1b[31ma\\x1b[8m\nb\x1b[0m"
        );
        let cell = Cell::from("\x1b[2J\nname");
        assert_eq!(cell.text, "\\x1b[2J\\x0aname");
    }

    #[test]
    fn json_stays_exact_without_raw_control_characters() {
        let value = serde_json::json!({"name": "\x1b[2J\u{9b}31m\u{7f}\n"});
        for pretty in [false, true] {
            let text = json_text(&value, pretty);
            assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text}");
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back, value);
        }
    }

    #[test]
    fn tables_align_columns_and_colour_does_not_shift_them() {
        let mut t = Table::new(["KEY", "VALUE"]).align(1, Align::Right);
        t.push(vec!["loss".into(), "0.25".into()]);
        t.push(vec![Cell::styled("accuracy", Style::Green), "1".into()]);
        let plain = Output {
            json: false,
            color: false,
        };
        assert_eq!(
            t.render(&plain),
            "KEY       VALUE\nloss       0.25\naccuracy      1\n"
        );
        let color = Output {
            json: false,
            color: true,
        };
        let strip = |s: String| {
            let mut out = String::new();
            let mut chars = s.chars();
            while let Some(c) = chars.next() {
                if c == '\x1b' {
                    chars.by_ref().find(|c| *c == 'm');
                } else {
                    out.push(c);
                }
            }
            out
        };
        let coloured = t.render(&color);
        assert!(coloured.contains("\x1b[32maccuracy\x1b[0m"), "{coloured:?}");
        assert_eq!(strip(coloured), t.render(&plain));
    }
}
