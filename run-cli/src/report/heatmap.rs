//! Confusion matrices as SVG heatmaps: rows are true classes, columns predicted ones, each
//! cell coloured by its share of its row (recall), so that a rare class is as readable as a
//! common one, and labelled with its count.

use std::fmt::Write;

use super::html::esc;

/// The lightest and darkest cell colours.
const LIGHT: (f64, f64, f64) = (247.0, 251.0, 255.0);
const DARK: (f64, f64, f64) = (8.0, 48.0, 107.0);

/// The heatmap of the first `labels.len()` rows and columns of `matrix`
/// (`matrix[true][predicted]`), one label per class drawn; shares are of whole rows.
pub fn svg(labels: &[String], matrix: &[Vec<f64>]) -> String {
    let n = labels.len();
    let cell = match n {
        0..=4 => 72.0,
        5..=8 => 56.0,
        9..=16 => 40.0,
        _ => 28.0,
    };
    let longest = labels
        .iter()
        .map(|l| l.chars().count().min(24))
        .max()
        .unwrap_or(1) as f64;
    let left = 40.0 + longest * 7.0;
    let top = 40.0 + longest * 7.0;
    let side = cell * n as f64;
    let (width, height) = (left + side + 20.0, top + side + 20.0);
    let mut svg = format!(
        "<svg class=\"heatmap\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" \
         height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\">"
    );
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"14\" text-anchor=\"middle\" font-size=\"13\" fill=\"#616e7c\">\
         predicted</text>",
        left + side / 2.0
    );
    let _ = write!(
        svg,
        "<text transform=\"translate(14 {}) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\" \
         fill=\"#616e7c\">true</text>",
        top + side / 2.0
    );
    for (i, label) in labels.iter().enumerate() {
        let shown = esc(&shorten(label));
        let centre = i as f64 * cell + cell / 2.0;
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" dominant-baseline=\"middle\" \
             font-size=\"12\">{shown}</text>",
            left - 6.0,
            top + centre
        );
        let _ = write!(
            svg,
            "<text transform=\"translate({} {}) rotate(-45)\" font-size=\"12\">{shown}</text>",
            left + centre,
            top - 6.0
        );
    }
    for (i, row) in matrix.iter().take(n).enumerate() {
        let shares = shares(row);
        for (j, (&count, &share)) in row.iter().zip(&shares).take(n).enumerate() {
            let (x, y) = (left + j as f64 * cell, top + i as f64 * cell);
            let text_color = if share > 0.5 { "#ffffff" } else { "#1f2933" };
            let _ = write!(
                svg,
                "<rect x=\"{x}\" y=\"{y}\" width=\"{cell}\" height=\"{cell}\" fill=\"{}\" \
                 stroke=\"#ffffff\"><title>true {}, predicted {}: {} ({:.1}% of the row)</title>\
                 </rect>",
                color(share),
                esc(&labels[i]),
                esc(&labels[j]),
                crate::format::value(count),
                share * 100.0
            );
            let size = (cell / 4.5).clamp(9.0, 15.0);
            let _ = write!(
                svg,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" dominant-baseline=\"middle\" \
                 font-size=\"{size}\" fill=\"{text_color}\">{}</text>",
                x + cell / 2.0,
                y + cell / 2.0,
                crate::format::value(count)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Each count's share of its row, in 0..=1. Counts are scaled by the largest first, so that
/// a sum of counts near f64::MAX does not overflow; a NaN, infinite or negative count has
/// no share.
fn shares(row: &[f64]) -> Vec<f64> {
    let counted = |c: f64| if c.is_finite() && c > 0.0 { c } else { 0.0 };
    let largest = row.iter().map(|&c| counted(c)).fold(0.0, f64::max);
    if largest == 0.0 {
        return vec![0.0; row.len()];
    }
    let total: f64 = row.iter().map(|&c| counted(c) / largest).sum();
    row.iter()
        .map(|&c| (counted(c) / largest / total).clamp(0.0, 1.0))
        .collect()
}

/// The cell colour for a share of its row, from light to dark blue.
fn color(share: f64) -> String {
    let t = share.clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(LIGHT.0, DARK.0),
        mix(LIGHT.1, DARK.1),
        mix(LIGHT.2, DARK.2)
    )
}

fn shorten(label: &str) -> String {
    if label.chars().count() <= 24 {
        return label.to_owned();
    }
    let head: String = label.chars().take(23).collect();
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_per_class_pair_coloured_by_row_share() {
        let labels = vec!["cat".to_owned(), "<dog>".to_owned()];
        let svg = svg(&labels, &[vec![8.0, 2.0], vec![0.0, 5.0]]);
        assert_eq!(svg.matches("<rect").count(), 4);
        assert!(
            svg.contains("&lt;dog&gt;") && !svg.contains("<dog>"),
            "labels are escaped"
        );
        assert!(
            svg.contains(&format!("fill=\"{}\"", color(1.0))),
            "a full row is darkest"
        );
        assert!(svg.contains(&format!("fill=\"{}\"", color(0.0))));
        assert_eq!(color(0.0), "#f7fbff");
        assert_eq!(color(1.0), "#08306b");
    }

    #[test]
    fn shares_are_of_whole_rows_whatever_the_counts() {
        assert_eq!(shares(&[8.0, 2.0]), [0.8, 0.2]);
        assert_eq!(shares(&[f64::MAX, f64::MAX]), [0.5, 0.5]);
        assert_eq!(shares(&[f64::NAN, f64::INFINITY, -1.0, 0.0]), [0.0; 4]);
        assert_eq!(shares(&[5e-324, f64::NAN]), [1.0, 0.0]);
        let labels = vec!["a".to_owned()];
        let one = svg(&labels, &[vec![1.0, 3.0], vec![2.0, 2.0]]);
        assert_eq!(one.matches("<rect").count(), 1, "only the labelled classes");
        assert!(one.contains("25.0% of the row"), "of the whole row");
    }
}
