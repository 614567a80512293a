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

/// A bar chart (a histogram) as an SVG document. Bars with a non-finite edge or count are
/// left out.
pub fn bars_svg(chart: &Chart, bars: &Bars) -> Result<String, Failure> {
    let drawn: Vec<(f64, f64, f64)> = bars
        .edges
        .windows(2)
        .zip(&bars.counts)
        .filter(|(e, c)| e[0].is_finite() && e[1].is_finite() && c.is_finite())
        .map(|(e, &c)| (limit(e[0]), limit(e[1]), limit(c)))
        .collect();
    if drawn.is_empty() {
        return Err(Failure::failed(format!("{}: no bins to draw", chart.title)));
    }
    let (lo, hi) = bounds(drawn.iter().flat_map(|&(a, b, _)| [a, b]));
    let (low, high) = bounds(drawn.iter().map(|&(_, _, c)| c));
    // Counts rise from 0, with room above the tallest bar.
    let (bottom, top) = (low.min(0.0), high.max(1.0));
    let ys = bottom..top + (top - bottom) * 0.05;
    let mut text = String::new();
    {
        let root =
            SVGBackend::with_string(&mut text, (chart.width, chart.height)).into_drawing_area();
        draw_bars(&root, chart, &drawn, axis(lo, hi, 0.0), ys).map_err(drawing_failed)?;
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

/// The largest magnitude an axis end or a drawn point may have. Plotters' tick search takes
/// `hi - lo`, its power of ten, and that times 10: with ends within ±MAX/16 each stays finite.
/// Beyond, `hi - lo` overflows to infinity and the search loops for ever (values of `1e308`
/// and `-1e308` hung `plot` and `report`). Values further out are drawn at this limit.
const AXIS_LIMIT: f64 = f64::MAX / 16.0;

/// The narrowest axis, relative to the magnitude of its ends. A span of a few ulps (`1e300`
/// and the next float) makes plotters' tick search shrink its step to 0 and loop for ever;
/// at a billionth of the magnitude every tick is a distinct float.
const MIN_RELATIVE_SPAN: f64 = 1e-9;

/// The x and y ranges that hold every finite point, with a margin above and below.
fn ranges(chart: &Chart, series: &[Series]) -> Result<Ranges, Failure> {
    let finite = || {
        series
            .iter()
            .flat_map(|s| &s.points)
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    };
    if finite().next().is_none() {
        return Err(Failure::failed(format!(
            "{}: no finite values to draw (every value is NaN or infinite)",
            chart.title
        )));
    }
    let (mut x0, mut x1) = bounds(finite().map(|p| p.0));
    let (mut y0, mut y1) = bounds(finite().map(|p| p.1));
    if chart.diagonal {
        (x0, x1, y0, y1) = (x0.min(y0), x1.max(y1), y0.min(x0), y1.max(x1));
    }
    Ok((axis(x0, x1, 0.0), axis(y0, y1, 0.05)))
}

/// The smallest and largest of `values` (finite ones), each within [`AXIS_LIMIT`].
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(limit(v)), hi.max(limit(v)))
    })
}

/// `v` within [`AXIS_LIMIT`]; NaN as 0, so that no caller has to think about it.
fn limit(v: f64) -> f64 {
    if v.is_nan() {
        0.0
    } else {
        v.clamp(-AXIS_LIMIT, AXIS_LIMIT)
    }
}

/// An axis over `lo..=hi` that plotters can always draw: finite ends within about
/// [`AXIS_LIMIT`], a span of at least [`MIN_RELATIVE_SPAN`] of their magnitude, and `pad`
/// of the span added at each end. Values f64 cannot tell apart (or a single value) get an
/// axis centred on them, a tenth of their size wide (at least 0.1).
fn axis(lo: f64, hi: f64, pad: f64) -> Range<f64> {
    let (lo, hi) = (limit(lo.min(hi)), limit(hi.max(lo)));
    let magnitude = lo.abs().max(hi.abs());
    // At most 2 * AXIS_LIMIT: finite.
    let span = hi - lo;
    if span <= magnitude * MIN_RELATIVE_SPAN {
        let (mid, half) = (lo / 2.0 + hi / 2.0, magnitude.max(1.0) * 0.05);
        return (mid - half)..(mid + half);
    }
    let pad = span * pad.clamp(0.0, 1.0);
    (lo - pad)..(hi + pad)
}

/// A point as drawn: within [`AXIS_LIMIT`], a non-finite coordinate kept (it breaks the line).
fn drawable((x, y): (f64, f64)) -> (f64, f64) {
    let finite = |v: f64| if v.is_finite() { limit(v) } else { v };
    (finite(x), finite(y))
}

/// Text for an SVG document: XML has no control characters, and a terminal showing the file
/// must not run them.
fn visible_text(text: &str) -> String {
    format::visible(text).into_owned()
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
        (xs.end - xs.start).round().clamp(1.0, 9.0) as usize + 1
    } else {
        10
    };
    let mut ctx = ChartBuilder::on(root)
        .caption(visible_text(&chart.title), ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(xs.clone(), ys)?;
    ctx.configure_mesh()
        .x_desc(visible_text(&chart.x_label))
        .y_desc(visible_text(&chart.y_label))
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
        let points: Vec<(f64, f64)> = thin(&s.points, columns, &xs)
            .into_iter()
            .map(drawable)
            .collect();
        for segment in segments(&points) {
            let drawn = if segment.len() == 1 {
                ctx.draw_series(segment.iter().map(|&p| Circle::new(p, 3, color.filled())))?
            } else {
                ctx.draw_series(LineSeries::new(segment.iter().copied(), style))?
            };
            if !labelled {
                labelled = true;
                drawn.label(visible_text(&s.label)).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
                });
            }
        }
        if s.points.len() <= MARKED_POINTS {
            let finite = points
                .iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite());
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
    bars: &[(f64, f64, f64)],
    xs: Range<f64>,
    ys: Range<f64>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    fonts();
    root.fill(&WHITE)?;
    let mut ctx = ChartBuilder::on(root)
        .caption(visible_text(&chart.title), ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(xs, ys)?;
    ctx.configure_mesh()
        .x_desc(visible_text(&chart.x_label))
        .y_desc(visible_text(&chart.y_label))
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 13))
        .light_line_style(RGBColor(246, 246, 246))
        .x_label_formatter(&|x| format::value(*x))
        .y_label_formatter(&|y| format::value(*y))
        .draw()?;
    let color = PALETTE[0];
    let rect = |&(a, b, count): &(f64, f64, f64)| [(a, 0.0), (b, count)];
    ctx.draw_series(
        bars.iter()
            .map(|bar| Rectangle::new(rect(bar), color.mix(0.8).filled())),
    )?;
    ctx.draw_series(
        bars.iter()
            .map(|bar| Rectangle::new(rect(bar), WHITE.stroke_width(1))),
    )?;
    root.present()
}

/// At most five points per pixel column: the first, lowest, highest and last of each column
/// and its first NaN or infinity (so a gap stays a gap), in the order given. Drawn, they make
/// the same line as all of them; a million steps make a chart of a few thousand points.
/// O(points) time and O(columns) memory, whatever the order or the values of the points.
fn thin(points: &[(f64, f64)], columns: usize, xs: &Range<f64>) -> Vec<(f64, f64)> {
    if points.len() <= 4 * columns {
        return points.to_vec();
    }
    // `axis` made the span finite and positive; the column of a far-out or NaN x is clamped.
    let scale = columns as f64 / (xs.end - xs.start);
    let column = |x: f64| (((limit(x) - xs.start) * scale).max(0.0) as usize).min(columns);
    let mut picks = vec![Picks::default(); columns + 1];
    for (i, &(x, y)) in points.iter().enumerate() {
        picks[column(x)].add(i, y);
    }
    let mut kept: Vec<usize> = picks.iter().flat_map(Picks::indices).collect();
    kept.sort_unstable();
    kept.dedup();
    kept.into_iter().map(|i| points[i]).collect()
}

/// The points that stand for one pixel column, by index.
#[derive(Debug, Clone, Copy, Default)]
struct Picks {
    first: Option<usize>,
    last: usize,
    low: Option<(usize, f64)>,
    high: Option<(usize, f64)>,
    gap: Option<usize>,
}

impl Picks {
    fn add(&mut self, i: usize, y: f64) {
        self.first.get_or_insert(i);
        self.last = i;
        if !y.is_finite() {
            self.gap.get_or_insert(i);
            return;
        }
        if self.low.is_none_or(|(_, low)| y < low) {
            self.low = Some((i, y));
        }
        if self.high.is_none_or(|(_, high)| y > high) {
            self.high = Some((i, y));
        }
    }

    fn indices(&self) -> impl Iterator<Item = usize> {
        let Some(first) = self.first else {
            return [None; 5].into_iter().flatten();
        };
        [
            Some(first),
            Some(self.last),
            self.low.map(|l| l.0),
            self.high.map(|h| h.0),
            self.gap,
        ]
        .into_iter()
        .flatten()
    }
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
        // A NaN x (a ROC rate of inf / inf) stays a gap rather than a point at the edge.
        assert!(drawable((f64::NAN, 1.0)).0.is_nan());
        assert_eq!(drawable((f64::MAX, -1e308)), (AXIS_LIMIT, -AXIS_LIMIT));
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
        assert!(xs.start < 3.0 && xs.end > 3.0, "{xs:?}");
        assert!(ys.start < 5.0 && ys.end > 5.0, "{ys:?}");
        let none = [Series {
            label: "a".into(),
            points: vec![(0.0, f64::NAN)],
        }];
        let e = ranges(&chart, &none).unwrap_err();
        assert!(e.message.contains("no finite values"), "{}", e.message);
    }

    /// Checks what plotters needs of an axis, and that its tick search ends on it.
    fn assert_drawable(axis: &Range<f64>) {
        use plotters::coord::ranged1d::Ranged;
        use plotters::coord::types::RangedCoordf64;
        assert!(axis.start.is_finite() && axis.end.is_finite(), "{axis:?}");
        assert!(axis.start < axis.end, "{axis:?}");
        assert!((axis.end - axis.start).is_finite(), "{axis:?}");
        let coord = RangedCoordf64::from(axis.clone());
        for hint in [1, 2, 10, 100] {
            let ticks = coord.key_points(hint);
            // Plotters lets the last tick pass the end by f64::EPSILON (an absolute slack),
            // which on spans of a few EPSILON adds up to `hint` more ticks: a bound all the same.
            assert!(
                ticks.len() <= 2 * hint + 2,
                "{axis:?}: {} ticks",
                ticks.len()
            );
        }
    }

    const EXTREMES: [f64; 14] = [
        0.0,
        -0.0,
        1.0,
        f64::MAX,
        -f64::MAX,
        1e308,
        -1e308,
        1e-308,
        f64::MIN_POSITIVE,
        5e-324,
        -5e-324,
        9.223372036854776e18,
        -9.223372036854776e18,
        1e300,
    ];

    #[test]
    fn axes_of_extreme_values_are_finite_non_empty_and_ticked() {
        for lo in EXTREMES {
            for hi in EXTREMES {
                for pad in [0.0, 0.05] {
                    assert_drawable(&axis(lo, hi, pad));
                }
            }
        }
        let next = f64::from_bits(1e300f64.to_bits() + 3);
        assert_drawable(&axis(1e300, next, 0.05));
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_drawable(&axis(v, v, 0.05));
            assert_drawable(&axis(v, 1.0, 0.05));
        }
    }

    #[test]
    fn extreme_series_give_drawable_ranges() {
        let chart = Chart {
            diagonal: true,
            ..Chart::steps("t", "v", 100, 100)
        };
        let points = vec![
            (i64::MIN as f64, f64::MAX),
            (0.0, 1e308),
            (1.0, -1e308),
            (2.0, f64::NAN),
            (3.0, f64::NEG_INFINITY),
            (i64::MAX as f64, -f64::MAX),
        ];
        let (xs, ys) = ranges(
            &chart,
            &[Series {
                label: "a".into(),
                points,
            }],
        )
        .unwrap();
        assert_drawable(&xs);
        assert_drawable(&ys);
        assert!(ys.start <= -AXIS_LIMIT && ys.end >= AXIS_LIMIT, "{ys:?}");
    }

    proptest::proptest! {
        #[test]
        fn any_two_values_make_a_drawable_axis_that_holds_them(
            a in proptest::num::f64::ANY,
            b in proptest::num::f64::ANY,
            pad in 0.0..1.0f64,
        ) {
            let axis = axis(a, b, pad);
            assert_drawable(&axis);
            for v in [a, b].into_iter().filter(|v| !v.is_nan()) {
                proptest::prop_assert!(axis.contains(&limit(v)), "{} not in {:?}", v, axis);
            }
        }

        #[test]
        fn thinning_is_bounded_by_columns_and_keeps_ends(
            ys in proptest::collection::vec(proptest::num::f64::ANY, 1..2000),
            columns in 1usize..50,
        ) {
            let points: Vec<(f64, f64)> =
                ys.iter().enumerate().map(|(i, &y)| (i as f64 * 1e300, y)).collect();
            let xs = axis(0.0, points.last().unwrap().0, 0.0);
            let thin = thin(&points, columns, &xs);
            proptest::prop_assert!(thin.len() <= 5 * (columns + 1));
            proptest::prop_assert_eq!(thin[0].0, points[0].0);
            proptest::prop_assert_eq!(thin.last().unwrap().0, points.last().unwrap().0);
        }
    }

    #[test]
    fn thinning_out_of_order_points_stays_within_the_columns() {
        // A NaN or far-out x, and x going back and forth, must not add points per column.
        let points: Vec<(f64, f64)> = (0..100_000)
            .map(|i| match i % 3 {
                0 => (f64::NAN, 1.0),
                1 => (f64::from(i % 1000), f64::from(i)),
                _ => (1e308, f64::NAN),
            })
            .collect();
        let thin = thin(&points, 50, &(0.0..1000.0));
        assert!(thin.len() <= 5 * 51, "{} points", thin.len());
    }

    #[test]
    fn bars_with_extreme_or_missing_values_draw() {
        let chart = Chart {
            integer_x: false,
            legend: false,
            ..Chart::steps("residuals", "count", 300, 200)
        };
        let bars = Bars {
            edges: vec![-f64::MAX, -1.0, f64::NAN, 1e308, f64::MAX],
            counts: vec![f64::INFINITY, 3.0, 1e308, 2.0],
        };
        let svg = bars_svg(&chart, &bars).unwrap();
        assert!(svg.contains("<rect"), "{svg:.300}");
        let nothing = Bars {
            edges: vec![f64::NAN, 1.0],
            counts: vec![1.0],
        };
        assert!(bars_svg(&chart, &nothing).is_err());
    }

    #[test]
    fn svg_text_has_no_control_characters() {
        let chart = Chart::steps("\u{1b}[2Jtitle", "key\u{7}", 300, 200);
        let series = [Series {
            label: "\u{1b}]0;pwned\u{7}".into(),
            points: vec![(0.0, 1.0), (1.0, 2.0)],
        }];
        let svg = svg(&chart, &series).unwrap();
        assert!(!svg.chars().any(|c| c.is_control() && c != '\n'), "{svg}");
        assert!(svg.contains("\\x1b[2Jtitle") && svg.contains("\\x1b]0;pwned\\x07"));
    }
}
