//! Line and bar charts, drawn with plotters as SVG text or PNG bytes.
//!
//! Text is laid out with DejaVu Sans, embedded in the binary, so that a PNG has readable labels
//! on a machine without fonts and an SVG's labels are placed for the font it names.

use std::ops::Range;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::failure::Failure;
use crate::format;

/// Series colours (Tableau 10): distinct, and readable on white.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0xba, 0xb0, 0xac),
];

/// Series with at most this many points get a marker at each point.
const MARKED_POINTS: usize = 40;

/// A named line: `(x, y)` points in x order. Non-finite `y` values leave gaps.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// What a chart looks like, apart from its data.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub width: u32,
    pub height: u32,
    /// Label the x axis with whole numbers (steps).
    pub integer_x: bool,
    /// Draw a dashed grey `y = x` line (ROC curves, predicted against true).
    pub diagonal: bool,
    /// Name the series in a legend.
    pub legend: bool,
}

impl Chart {
    /// A chart of metric values against steps.
    pub fn steps(title: &str, y_label: &str, width: u32, height: u32) -> Chart {
        Chart {
            title: title.to_owned(),
            x_label: String::from("step"),
            y_label: y_label.to_owned(),
            width,
            height,
            integer_x: true,
            diagonal: false,
            legend: true,
        }
    }
}

/// Bars over bins: `edges` has one more value than `counts`.
#[derive(Debug, Clone)]
pub struct Bars {
    pub edges: Vec<f64>,
    pub counts: Vec<f64>,
}

/// The chart as an SVG document.
pub fn svg(chart: &Chart, series: &[Series]) -> Result<String, Failure> {
    let ranges = ranges(chart, series)?;
    let mut text = String::new();
    {
        let root =
            SVGBackend::with_string(&mut text, (chart.width, chart.height)).into_drawing_area();
        draw_lines(&root, chart, series, ranges).map_err(drawing_failed)?;
    }
    Ok(text)
}

/// The chart as a PNG image.
pub fn png(chart: &Chart, series: &[Series]) -> Result<Vec<u8>, Failure> {
    let ranges = ranges(chart, series)?;
    let (w, h) = (chart.width, chart.height);
    let mut pixels = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        draw_lines(&root, chart, series, ranges).map_err(drawing_failed)?;
    }
    encode_png(&pixels, w, h)
}

/// A bar chart (a histogram) as an SVG document.
pub fn bars_svg(chart: &Chart, bars: &Bars) -> Result<String, Failure> {
    let (Some(&lo), Some(&hi)) = (bars.edges.first(), bars.edges.last()) else {
        return Err(Failure::failed(format!("{}: no bins to draw", chart.title)));
    };
    let top = bars.counts.iter().copied().fold(0.0, f64::max);
    let mut text = String::new();
    {
        let root =
            SVGBackend::with_string(&mut text, (chart.width, chart.height)).into_drawing_area();
        draw_bars(
            &root,
            chart,
            bars,
            lo..widen(lo, hi),
            0.0..top.max(1.0) * 1.05,
        )
        .map_err(drawing_failed)?;
    }
    Ok(text)
}

fn drawing_failed<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> Failure {
    Failure::failed(format!("cannot draw the chart: {e}"))
}

/// Registers the embedded font once: plotters looks fonts up by family name.
fn fonts() {
    static FONTS: Once = Once::new();
    FONTS.call_once(|| {
        // The bytes are a valid TrueType font, checked when the crate was packaged.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

type Ranges = (Range<f64>, Range<f64>);

/// The x and y ranges that hold every finite point, with a margin above and below.
fn ranges(chart: &Chart, series: &[Series]) -> Result<Ranges, Failure> {
    let finite = || {
        series
            .iter()
            .flat_map(|s| &s.points)
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    };
    let Some(_) = finite().next() else {
        return Err(Failure::failed(format!(
            "{}: no finite values to draw (every value is NaN or infinite)",
            chart.title
        )));
    };
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in finite() {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if chart.diagonal {
        (x0, x1, y0, y1) = (x0.min(y0), x1.max(y1), y0.min(x0), y1.max(x1));
    }
    let margin = (y1 - y0) * 0.05;
    Ok((
        x0..widen(x0, x1),
        (y0 - margin)..widen(y0 - margin, y1 + margin),
    ))
}

/// An end that makes a non-empty range: a single value gets a unit-wide one.
fn widen(lo: f64, hi: f64) -> f64 {
    if hi > lo {
        hi
    } else {
        lo + lo.abs().max(1.0) * 0.1
    }
}

fn draw_lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
    series: &[Series],
    (xs, ys): Ranges,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    fonts();
    root.fill(&WHITE)?;
    let integer_x = chart.integer_x;
    // Steps are whole numbers: a short range gets one label per step, never 0.5.
    let x_labels = if integer_x {
        ((xs.end - xs.start).round() as usize + 1).clamp(2, 10)
    } else {
        10
    };
    let mut ctx = ChartBuilder::on(root)
        .caption(&chart.title, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(xs.clone(), ys)?;
    ctx.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 13))
        .x_labels(x_labels)
        .light_line_style(RGBColor(246, 246, 246))
        .bold_line_style(RGBColor(220, 220, 220))
        .x_label_formatter(&|x| match integer_x {
            true if (x - x.round()).abs() > 1e-6 => String::new(),
            true => format!("{}", x.round() as i64),
            false => format::value(*x),
        })
        .y_label_formatter(&|y| format::value(*y))
        .draw()?;
    if chart.diagonal {
        let line = DashedLineSeries::new(
            [(xs.start, xs.start), (xs.end, xs.end)],
            6,
            4,
            RGBColor(160, 160, 160).stroke_width(1),
        );
        ctx.draw_series(line)?;
    }
    let columns = chart.width as usize;
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let style = color.stroke_width(2);
        let mut labelled = false;
        let points = thin(&s.points, columns, &xs);
        for segment in segments(&points) {
            let drawn = if segment.len() == 1 {
                ctx.draw_series(segment.iter().map(|&p| Circle::new(p, 3, color.filled())))?
            } else {
                ctx.draw_series(LineSeries::new(segment.iter().copied(), style))?
            };
            if !labelled {
                labelled = true;
                drawn.label(&s.label).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
                });
            }
        }
        if s.points.len() <= MARKED_POINTS {
            let finite = s.points.iter().filter(|(_, y)| y.is_finite());
            ctx.draw_series(finite.map(|&p| Circle::new(p, 3, color.filled())))?;
        }
    }
    if chart.legend && !series.is_empty() {
        // Curves that rise to the right (ROC) leave the lower right corner free.
        let corner = if chart.diagonal {
            SeriesLabelPosition::LowerRight
        } else {
            SeriesLabelPosition::UpperRight
        };
        ctx.configure_series_labels()
            .position(corner)
            .label_font(("sans-serif", 12))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .draw()?;
    }
    root.present()
}

fn draw_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
    bars: &Bars,
    xs: Range<f64>,
    ys: Range<f64>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    fonts();
    root.fill(&WHITE)?;
    let mut ctx = ChartBuilder::on(root)
        .caption(&chart.title, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(xs, ys)?;
    ctx.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 13))
        .light_line_style(RGBColor(246, 246, 246))
        .x_label_formatter(&|x| format::value(*x))
        .y_label_formatter(&|y| format::value(*y))
        .draw()?;
    let color = PALETTE[0];
    ctx.draw_series(
        bars.edges
            .windows(2)
            .zip(&bars.counts)
            .map(|(edge, &count)| {
                Rectangle::new([(edge[0], 0.0), (edge[1], count)], color.mix(0.8).filled())
            }),
    )?;
    ctx.draw_series(
        bars.edges
            .windows(2)
            .zip(&bars.counts)
            .map(|(edge, &count)| {
                Rectangle::new([(edge[0], 0.0), (edge[1], count)], WHITE.stroke_width(1))
            }),
    )?;
    root.present()
}

/// At most four points per pixel column: the first, lowest, highest and last of each column,
/// in x order, which draw the same line as all of them (a million steps make a chart of a few
/// thousand points). A column holding a NaN or an infinity keeps one, so a gap stays a gap.
fn thin(points: &[(f64, f64)], columns: usize, xs: &Range<f64>) -> Vec<(f64, f64)> {
    if points.len() <= 4 * columns {
        return points.to_vec();
    }
    let span = (xs.end - xs.start).max(f64::MIN_POSITIVE);
    let column = |x: f64| (((x - xs.start) / span * columns as f64) as usize).min(columns);
    let mut kept = Vec::with_capacity(4 * columns + 4);
    let mut start = 0;
    while start < points.len() {
        let c = column(points[start].0);
        let end = start
            + points[start..]
                .iter()
                .take_while(|p| column(p.0) == c)
                .count();
        kept.extend(
            representatives(&points[start..end])
                .into_iter()
                .map(|i| start + i),
        );
        start = end;
    }
    kept.sort_unstable();
    kept.dedup();
    kept.into_iter().map(|i| points[i]).collect()
}

/// Indices of the points that stand for one column: first, lowest, highest, last, and the
/// first non-finite one.
fn representatives(column: &[(f64, f64)]) -> Vec<usize> {
    let mut picked = vec![0, column.len() - 1];
    let finite = || column.iter().enumerate().filter(|(_, p)| p.1.is_finite());
    if let Some((i, _)) = finite().min_by(|a, b| a.1.1.total_cmp(&b.1.1)) {
        picked.push(i);
    }
    if let Some((i, _)) = finite().max_by(|a, b| a.1.1.total_cmp(&b.1.1)) {
        picked.push(i);
    }
    if let Some(i) = column.iter().position(|p| !p.1.is_finite()) {
        picked.push(i);
    }
    picked
}

/// Runs of finite points: a NaN or an infinity breaks the line.
fn segments(points: &[(f64, f64)]) -> Vec<&[(f64, f64)]> {
    points
        .split(|(x, y)| !x.is_finite() || !y.is_finite())
        .filter(|s| !s.is_empty())
        .collect()
}

fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    let fail = |e: png::EncodingError| Failure::failed(format!("cannot encode the PNG image: {e}"));
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(fail)?;
    writer.write_image_data(rgb).map_err(fail)?;
    writer.finish().map_err(fail)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_and_infinity_break_lines() {
        let pts = [
            (0.0, 1.0),
            (1.0, f64::NAN),
            (2.0, 2.0),
            (3.0, 3.0),
            (4.0, f64::INFINITY),
        ];
        let segs = segments(&pts);
        assert_eq!(segs, vec![&pts[0..1], &pts[2..4]]);
    }

    #[test]
    fn thinning_keeps_extremes_and_gaps() {
        let mut points: Vec<(f64, f64)> = (0..100_000)
            .map(|i| (f64::from(i), f64::from(i % 7)))
            .collect();
        points[50_000].1 = 1000.0;
        points[70_000].1 = f64::NAN;
        let thin = thin(&points, 100, &(0.0..99_999.0));
        assert!(thin.len() <= 4 * 101 + 1, "{} points", thin.len());
        assert!(thin.windows(2).all(|w| w[0].0 < w[1].0), "in x order");
        assert!(thin.contains(&(50_000.0, 1000.0)), "a spike survives");
        assert!(
            thin.iter().any(|p| p.0 == 70_000.0 && p.1.is_nan()),
            "a gap survives"
        );
        assert_eq!(thin.first(), points.first());
        assert_eq!(thin.last(), points.last());
        let few = [(0.0, 1.0), (1.0, 2.0)];
        assert_eq!(super::thin(&few, 100, &(0.0..1.0)), few);
    }

    #[test]
    fn ranges_cover_finite_points_and_never_collapse() {
        let chart = Chart::steps("t", "v", 100, 100);
        let one = [Series {
            label: "a".into(),
            points: vec![(3.0, 5.0), (3.0, f64::NAN)],
        }];
        let (xs, ys) = ranges(&chart, &one).unwrap();
        assert!(xs.start == 3.0 && xs.end > 3.0, "{xs:?}");
        assert!(ys.start <= 5.0 && ys.end > 5.0, "{ys:?}");
        let none = [Series {
            label: "a".into(),
            points: vec![(0.0, f64::NAN)],
        }];
        let e = ranges(&chart, &none).unwrap_err();
        assert!(e.message.contains("no finite values"), "{}", e.message);
    }
}
