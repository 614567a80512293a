//! Small HTML builders: escaping, tables, definition lists, the page's style sheet.

use std::fmt::Write;

/// Text safe inside HTML elements and quoted attributes; control characters (which HTML
/// forbids, and a terminal showing the file would run) are written out, line breaks kept.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in crate::format::visible_lines(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An `id` attribute value for a run section (run ids are letters, digits, `_` and `-`, but
/// anything else is replaced all the same).
pub fn anchor(run_id: &str) -> String {
    let safe: String = run_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("run-{safe}")
}

/// Rows of a table the page shows.
pub const ROWS: usize = 200;
/// Columns of a table the page shows.
pub const COLUMNS: usize = 50;
/// Characters of a cell the page shows.
const CELL_CHARS: usize = 500;

/// A table; `numeric` columns are right-aligned. Cells are escaped.
pub fn table(headers: &[&str], numeric: &[bool], rows: &[Vec<String>]) -> String {
    table_of(headers, numeric, rows, (rows.len(), headers.len()))
}

/// A table of at most [`ROWS`] rows and [`COLUMNS`] columns of `rows`, cells cut to
/// [`CELL_CHARS`], with a note when `all` (the rows and columns of the whole, which `rows`
/// may be the start of) is more than shown.
pub fn table_of(
    headers: &[&str],
    numeric: &[bool],
    rows: &[Vec<String>],
    all: (usize, usize),
) -> String {
    let columns = headers.len().min(COLUMNS);
    let align = |i: usize| match numeric.get(i) {
        Some(true) => " class=\"num\"",
        _ => "",
    };
    let mut html = String::from("<table class=\"data\"><thead><tr>");
    for (i, h) in headers.iter().take(columns).enumerate() {
        let _ = write!(html, "<th{}>{}</th>", align(i), esc(&cut(h)));
    }
    html.push_str("</tr></thead><tbody>");
    let shown = &rows[..rows.len().min(ROWS)];
    for row in shown {
        html.push_str("<tr>");
        for (i, cell) in row.iter().take(columns).enumerate() {
            let _ = write!(html, "<td{}>{}</td>", align(i), esc(&cut(cell)));
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
    let (all_rows, all_columns) = (all.0.max(rows.len()), all.1.max(headers.len()));
    let mut cuts = Vec::new();
    if all_rows > shown.len() {
        cuts.push(format!("{} of {all_rows} rows", shown.len()));
    }
    if all_columns > columns {
        cuts.push(format!("{columns} of {all_columns} columns"));
    }
    if !cuts.is_empty() {
        let _ = write!(
            html,
            "<p class=\"note\">The first {}.</p>",
            cuts.join(" and ")
        );
    }
    html
}

/// `text` cut to [`CELL_CHARS`] characters.
fn cut(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(CELL_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]).into(),
        None => text.into(),
    }
}

/// A definition list of `(term, already-escaped HTML)` pairs.
pub fn facts(rows: &[(&str, String)]) -> String {
    let mut html = String::from("<dl class=\"facts\">");
    for (term, value) in rows {
        let _ = write!(html, "<dt>{}</dt><dd>{value}</dd>", esc(term));
    }
    html.push_str("</dl>");
    html
}

/// The page's style sheet, inline so that the page needs nothing else.
pub const CSS: &str = r#"
:root { --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --card: #ffffff; --bg: #f5f7fa;
        --accent: #4e79a7; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
       color: var(--ink); background: var(--bg); }
header.top { background: #1f2933; color: #fff; padding: 20px 32px; }
header.top h1 { margin: 0 0 4px; font-size: 24px; }
header.top .sub { margin: 0; color: #cbd2d9; }
main { max-width: 1280px; margin: 0 auto; padding: 16px 32px 48px; }
nav.tree, section.run { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
       padding: 16px 24px; margin: 16px 0; }
nav.tree ul { list-style: none; margin: 0; padding-left: 20px; }
nav.tree > ul { padding-left: 0; }
nav.tree li { margin: 2px 0; }
nav.tree a { color: var(--ink); text-decoration: none; }
nav.tree a:hover { text-decoration: underline; }
h2 { margin: 0 0 12px; font-size: 20px; }
h3 { margin: 24px 0 8px; font-size: 15px; color: var(--muted); text-transform: uppercase;
     letter-spacing: .04em; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
         font-weight: 600; vertical-align: middle; color: #fff; }
.badge.finished { background: #2f9e44; } .badge.failed { background: #e03131; }
.badge.killed { background: #e8a317; } .badge.running { background: #1c7ed6; }
.badge.gone { background: #9c36b5; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; word-break: break-all; }
.error { background: #fff5f5; border: 1px solid #ffc9c9; border-radius: 6px; padding: 8px 12px;
         margin-top: 12px; }
.error pre { margin: 0; white-space: pre-wrap; color: #c92a2a; }
table.data { border-collapse: collapse; margin: 4px 0 8px; }
table.data th, table.data td { border-bottom: 1px solid var(--line); padding: 4px 12px 4px 0;
         text-align: left; vertical-align: top; }
table.data th { color: var(--muted); font-weight: 600; }
table.data .num { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 12px; }
figure { margin: 0; }
figure.chart, figure.artifact { background: #fff; border: 1px solid var(--line); border-radius: 6px;
         padding: 8px; }
figure svg, figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figure img { min-width: min(100%, 192px); }
figcaption { color: var(--muted); font-size: 13px; margin: 4px 0; }
.scroll { overflow-x: auto; }
.note { color: var(--muted); font-style: italic; }
pre.json { max-height: 320px; overflow: auto; background: #f8f9fa; padding: 8px; }
footer { text-align: center; color: var(--muted); font-size: 12px; padding: 16px; }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_anchors() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(esc("\u{1b}]0;x\u{7}\n"), "\\x1b]0;x\\x07\n");
        assert_eq!(anchor("OfflineRun_1-2"), "run-OfflineRun_1-2");
        assert_eq!(anchor("a b\"c"), "run-a-b-c");
    }

    #[test]
    fn tables_show_a_bounded_corner_and_say_what_they_cut() {
        let headers: Vec<String> = (0..COLUMNS + 5).map(|i| format!("c{i}")).collect();
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let row = vec!["x".repeat(CELL_CHARS + 10); headers.len()];
        let html = table(&headers, &[], &vec![row; ROWS + 1]);
        assert_eq!(
            html.matches("<tr>").count(),
            ROWS + 1,
            "header and ROWS rows"
        );
        assert_eq!(html.matches("<th>").count(), COLUMNS);
        assert_eq!(html.matches("<td>").count(), ROWS * COLUMNS);
        assert!(!html.contains(&"x".repeat(CELL_CHARS + 1)), "cells are cut");
        let note = format!(
            "The first {ROWS} of {} rows and {COLUMNS} of {} columns.",
            ROWS + 1,
            COLUMNS + 5
        );
        assert!(html.contains(&note), "{}", &html[html.len() - 200..]);
        let small = table_of(&["a"], &[true], &[vec!["1".into()]], (5000, 1));
        assert!(small.contains("The first 1 of 5000 rows."), "{small}");
        assert!(!table(&["a"], &[], &[]).contains("note"));
    }
}
