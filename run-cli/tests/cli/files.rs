//! `plot` and `report`: the files are real SVG, PNG and HTML with the data in them.

use std::collections::{BTreeMap, HashSet};

use super::fixture::id;
use super::*;

/// The `<polyline>` elements of an SVG document: stroke colour, stroke width, point count.
fn polylines(svg: &str) -> Vec<(String, String, usize)> {
    svg.split("<polyline")
        .skip(1)
        .map(|element| {
            let element = &element[..element.find("/>").expect("a polyline ends")];
            let attr = |name: &str| {
                let start = element
                    .find(&format!(" {name}=\""))
                    .map(|i| i + name.len() + 3)?;
                let len = element[start..].find('"')?;
                Some(element[start..start + len].to_owned())
            };
            let points = attr("points").unwrap_or_default();
            (
                attr("stroke").unwrap_or_default(),
                attr("stroke-width").unwrap_or_default(),
                points.split_whitespace().count(),
            )
        })
        .collect()
}

#[test]
fn plot_svg_has_a_line_per_run_with_gaps_at_nan() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("loss.svg");
    let ran = runctx(
        shared_store(),
        &[
            "plot",
            "lr=0.1",
            "lr=0.01",
            "lr=1.0",
            "--metric",
            "loss",
            "-o",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(
        ran.ok(),
        format!("Wrote {} (3 series, 46 points).\n", file.display())
    );
    let svg = std::fs::read_to_string(&file).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
        "{svg:.200}"
    );
    assert!(svg.contains("width=\"960\" height=\"540\""));

    // Series lines are 2 wide; points per colour, in the order of the runs.
    let mut points: Vec<(String, usize)> = Vec::new();
    let mut segments: BTreeMap<String, usize> = BTreeMap::new();
    for (stroke, width, n) in polylines(&svg) {
        if width != "2" {
            continue;
        }
        *segments.entry(stroke.clone()).or_default() += 1;
        match points.iter_mut().find(|(s, _)| *s == stroke) {
            Some((_, total)) => *total += n,
            None => points.push((stroke, n)),
        }
    }
    let counts: Vec<usize> = points.iter().map(|(_, n)| *n).collect();
    // lr=0.1: 20 steps; lr=0.01: 20 with a NaN at step 7; lr=1.0: 4 finite of 6.
    assert_eq!(counts, [20, 19, 4], "{points:?}");
    assert_eq!(
        segments[&points[1].0], 2,
        "the NaN breaks lr=0.01's line in two"
    );
    for label in ["lr=0.1", "lr=0.01", "lr=1.0", "step", "loss"] {
        assert!(
            svg.contains(&format!("\n{label}\n")),
            "text {label:?} in the SVG"
        );
    }
}

#[test]
fn plot_png_is_a_real_image_of_the_asked_size() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("curves.png");
    let ran = runctx(
        shared_store(),
        &[
            "plot",
            "lr=0.1",
            "lr=0.01",
            "-m",
            "loss",
            "-m",
            "accuracy",
            "-o",
            file.to_str().unwrap(),
            "--width",
            "800",
            "--height",
            "500",
            "--json",
        ],
    );
    let json = ran.json();
    assert_eq!(json["format"], "png");
    assert_eq!(json["series"].as_array().unwrap().len(), 4);
    assert_eq!(json["series"][0]["label"], "lr=0.1: loss");

    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (800, 500));

    let colours = png_colours(&bytes);
    assert!(
        colours.len() > 30,
        "{} colours: lines, text and grid",
        colours.len()
    );
    for series_colour in [
        [0x4e, 0x79, 0xa7],
        [0xf2, 0x8e, 0x2b],
        [0xe1, 0x57, 0x59],
        [0x76, 0xb7, 0xb2],
    ] {
        assert!(colours.contains(&series_colour), "{series_colour:?} drawn");
    }
}

/// The distinct RGB colours of a PNG image.
pub fn png_colours(bytes: &[u8]) -> HashSet<[u8; 3]> {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{:?}", info.color_type);
    buf[..info.buffer_size()]
        .chunks(channels)
        .map(|px| [px[0], px[1], px[2]])
        .collect()
}

#[test]
fn plot_refuses_unknown_metrics_formats_and_all_nan_series() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("x.svg");
    let svg = svg.to_str().unwrap();
    let typo = runctx(shared_store(), &["plot", "lr=0.1", "-m", "los", "-o", svg]);
    assert_eq!(typo.code, 3);
    assert!(
        typo.stderr.contains("did you mean loss?"),
        "{}",
        typo.stderr
    );

    let jpeg = dir.path().join("x.jpg");
    let bad = runctx(
        shared_store(),
        &["plot", "lr=0.1", "-m", "loss", "-o", jpeg.to_str().unwrap()],
    );
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("must end in .svg or .png"),
        "{}",
        bad.stderr
    );

    let some = runctx(
        shared_store(),
        &["plot", "sweep", "lr=0.1", "-m", "loss", "-o", svg],
    );
    some.ok();
    assert!(
        some.stderr
            .contains("run OfflineRun_5eed0001 (sweep) has no metric \"loss\"; it is left out"),
        "{}",
        some.stderr
    );

    let store = tempfile::tempdir().unwrap();
    let run = run_runtime::Store::new(store.path())
        .start_run("e", "nan")
        .unwrap();
    run.log_list("loss", [f64::NAN, f64::INFINITY]).unwrap();
    run.complete().unwrap();
    let nan = runctx(store.path(), &["plot", "nan", "-m", "loss", "-o", svg]);
    assert_eq!(nan.code, 1);
    assert!(nan.stderr.contains("no finite values"), "{}", nan.stderr);
}

#[test]
fn report_is_one_self_contained_page_with_the_whole_tree() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sweep.html");
    let json = runctx(
        shared_store(),
        &["report", "sweep", "-o", file.to_str().unwrap(), "--json"],
    )
    .json();
    assert_eq!(
        json["runs"].as_array().unwrap().len(),
        4,
        "the sweep and its children"
    );
    // sweep: best_accuracy + 2 compared; each finished child: loss and accuracy; failed: 2.
    assert_eq!(json["charts"], 9);
    assert_eq!(json["heatmaps"], 3);
    assert_eq!(json["tables"], 3);
    assert_eq!(json["images"], 3);

    let html = std::fs::read_to_string(&file).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 9 + 3);
    assert_eq!(html.matches("<img").count(), 3);
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), 3);
    // Nothing is fetched: no scripts, style sheets or images from anywhere else.
    for outside in [
        "<script",
        "<link",
        "<iframe",
        "url(",
        "src=\"http",
        "href=\"http",
        "@import",
    ] {
        assert!(!html.contains(outside), "{outside} in the report");
    }
    let links: Vec<&str> = html.split("href=\"").skip(1).collect();
    assert!(
        links.iter().all(|l| l.starts_with('#')),
        "only links within the page"
    );
    for name in ["sweep", "lr=0.1", "lr=0.01", "lr=1.0"] {
        assert!(
            html.contains(&format!(">{name}</a>")),
            "{name} in the run tree"
        );
    }
    for anchor in ["sweep", "lr=0.1", "lr=0.01", "lr=1.0"] {
        assert!(html.contains(&format!("id=\"run-{}\"", id(anchor))));
    }
    assert!(html.contains("loss is NaN at step 5: the learning rate is too high"));
    assert!(
        html.contains("<td>learning_rate</td><td>0.01</td>"),
        "properties"
    );
    assert!(html.contains("<td>owner</td><td>ml-team</td>"), "tags");
    assert!(html.contains("Children compared"));
    assert!(html.contains("class=\"heatmap\""));
    assert!(
        html.contains("<td>two</td><td class=\"num\">0.95</td>"),
        "the per-class table"
    );
}

#[test]
fn report_draws_accuracy_tables_residuals_and_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("regression.html");
    let ran = runctx(
        shared_store(),
        &["report", "regression", "-o", file.to_str().unwrap()],
    );
    assert!(
        ran.ok()
            .starts_with(&format!("Wrote {}: 1 runs, 4 charts", file.display())),
        "{}",
        ran.stdout
    );
    let html = std::fs::read_to_string(&file).unwrap();
    for title in ["accuracy: ROC", "residuals", "predictions", "rmse"] {
        assert!(html.contains(&format!("\n{title}\n")), "chart {title}");
    }
    assert!(html.contains("false positive rate") && html.contains("true positive rate"));

    let missing = runctx(
        shared_store(),
        &["report", "nope", "-o", file.to_str().unwrap()],
    );
    assert_eq!(missing.code, 3);
}
