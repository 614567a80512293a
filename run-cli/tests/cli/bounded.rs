//! Bounded output: `plot` and `report` finish on any values, and the report caps what it
//! embeds and says what it left out.

use std::io::Read;
use std::time::{Duration, Instant};

use run_runtime::RunEnd;
use run_runtime::{Run, Status, Store};

use super::*;

/// Long enough for a debug build on a slow machine to do anything these tests ask; only a
/// hang takes longer.
const HANG: Duration = Duration::from_secs(60);

/// Runs `runctx --store STORE ARGS...`, killing it and failing if it has not exited after
/// [`HANG`], so that a regression fails instead of hanging the test run.
pub fn runctx_or_hang(store: &Path, args: &[&str]) -> Ran {
    let mut child = command(store)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read both pipes while waiting: a child blocked on a full pipe is not a hang of ours.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).unwrap();
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > HANG {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("runctx {args:?} did not finish in {HANG:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ran::from(Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    })
}

/// Values that overflow a span (`hi - lo`), underflow one, or cannot be drawn at all.
const EXTREMES: [f64; 12] = [
    f64::MAX,
    -f64::MAX,
    1e308,
    1e-308,
    -1e308,
    f64::MIN_POSITIVE,
    5e-324,
    -5e-324,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    0.0,
];

/// A run whose metrics hold extreme values at extreme steps, and whose start and end times
/// are the ends of time.
fn extreme_run(store: &Store) -> Run {
    let run = store.start_run("e", "extremes").unwrap();
    let steps = [i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
    for (i, &v) in EXTREMES.iter().enumerate() {
        run.log_step("mixed", v, steps[i % steps.len()]).unwrap();
    }
    run.log_list("huge", [1e308, 1e-308, -1e308, 1e308])
        .unwrap();
    run.log_list("range", [-f64::MAX, f64::MAX]).unwrap();
    run.log_list("subnormal", [5e-324, 1e-323, 0.0, -5e-324])
        .unwrap();
    run.log_list("flat", [f64::MAX; 5]).unwrap();
    run.log_list("near", [1e300, f64::from_bits(1e300f64.to_bits() + 2)])
        .unwrap();
    run.log_step("single", -f64::MAX, i64::MAX).unwrap();
    run.log_list("blank", [f64::NAN, f64::INFINITY, f64::NAN])
        .unwrap();
    run
}

/// Sets the run's start to the first millisecond i64 holds and its end to the last.
fn ends_of_time(store: &Store, id: &str) {
    let dir = store.run_dir(id).unwrap();
    let mut meta = store.meta(id).unwrap();
    meta.start_time = i64::MIN;
    std::fs::write(dir.join("run.json"), serde_json::to_vec(&meta).unwrap()).unwrap();
    let end = RunEnd {
        status: Status::Finished,
        time: i64::MAX,
        error: None,
    };
    std::fs::write(dir.join("status.json"), serde_json::to_vec(&end).unwrap()).unwrap();
}

const KEYS: [&str; 8] = [
    "mixed",
    "huge",
    "range",
    "subnormal",
    "flat",
    "near",
    "single",
    "blank",
];

#[test]
fn plot_of_extreme_values_finishes_with_a_valid_svg_and_png_per_metric() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let run = extreme_run(&store);
    run.complete().unwrap();
    ends_of_time(&store, run.id());
    let out = tempfile::tempdir().unwrap();
    for key in KEYS.into_iter().filter(|k| *k != "blank") {
        let svg = out.path().join(format!("{key}.svg"));
        runctx_or_hang(
            dir.path(),
            &["plot", "extremes", "-m", key, "-o", svg.to_str().unwrap()],
        )
        .ok();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(
            text.starts_with("<svg") && text.trim_end().ends_with("</svg>"),
            "{key}: {text:.200}"
        );
        assert!(
            text.contains("<polyline") || text.contains("<circle"),
            "{key}: a line or a point is drawn"
        );
        assert!(!text.contains("NaN") && !text.contains("inf"), "{key}");

        let png = out.path().join(format!("{key}.png"));
        runctx_or_hang(
            dir.path(),
            &["plot", "extremes", "-m", key, "-o", png.to_str().unwrap()],
        )
        .ok();
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{key}");
        assert!(super::files::png_colours(&bytes).len() > 2, "{key}: drawn");
    }
    let all = out.path().join("all.svg");
    let mut args = vec!["plot", "extremes", "-o", all.to_str().unwrap()];
    for key in KEYS {
        args.extend(["-m", key]);
    }
    let ran = runctx_or_hang(dir.path(), &args);
    ran.ok();
    assert!(std::fs::read_to_string(&all).unwrap().ends_with("</svg>\n"));

    let blank = runctx_or_hang(
        dir.path(),
        &[
            "plot",
            "extremes",
            "-m",
            "blank",
            "-o",
            all.to_str().unwrap(),
        ],
    );
    assert_eq!(blank.code, 1, "no finite value: {}", blank.stderr);
}

#[test]
fn report_of_extreme_values_finishes_with_a_valid_page() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let run = extreme_run(&store);
    for (name, lr) in [("a", 1e308), ("b", -1e308)] {
        let child = run.child_run(name).unwrap();
        child
            .log_list("huge", [lr, f64::NAN, -lr, f64::MIN_POSITIVE])
            .unwrap();
        child.complete().unwrap();
    }
    run.log_residuals(
        "residuals",
        &run_runtime::Residuals::from_values(&[-1.0, 1.0, 0.0], 4).unwrap(),
    )
    .unwrap();
    run.complete().unwrap();
    ends_of_time(&store, run.id());
    // The library refuses such bins; a file is not bound by it.
    let residuals = serde_json::json!({
        "schema_type": "residuals",
        "schema_version": "1.0.0",
        "data": {
            "bin_edges": [-f64::MAX, -1e308, 0.0, 1e-308, f64::MAX],
            "bin_counts": [1e308, f64::MAX, 3.0, 5e-324],
        },
    });
    let file = store
        .run_dir(run.id())
        .unwrap()
        .join("artifacts")
        .join("residuals.json");
    std::fs::write(file, residuals.to_string()).unwrap();
    let page = dir.path().join("extremes.html");
    let json = runctx_or_hang(
        dir.path(),
        &["report", "extremes", "-o", page.to_str().unwrap(), "--json"],
    )
    .json();
    // Six metrics of more than one finite point, "huge" of each child and compared, residuals.
    assert_eq!(json["charts"], 10, "{json}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
    assert!(html.contains("no finite values to draw"), "blank says why");

    for command in [&["show", "extremes"][..], &["list"][..]] {
        let ran = runctx_or_hang(dir.path(), command);
        assert!(ran.ok().contains("extremes"), "{command:?}: {}", ran.stdout);
    }
}

#[test]
fn plot_of_five_million_points_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let run = store.start_run("e", "r").unwrap();
    for step in 0..5_000_000_i64 {
        run.log_step("loss", (step % 1000) as f64, step).unwrap();
    }
    run.complete().unwrap();
    let svg = dir.path().join("loss.svg");
    let ran = runctx_or_hang(
        dir.path(),
        &[
            "plot",
            "r",
            "-m",
            "loss",
            "-o",
            svg.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(ran.json()["series"][0]["points"], 5_000_000);
    let text = std::fs::read_to_string(&svg).unwrap();
    let drawn: usize = text
        .split(" points=\"")
        .skip(1)
        .map(|p| p[..p.find('"').unwrap()].split_whitespace().count())
        .sum();
    // At most five points per pixel column of the default 960 wide chart.
    assert!(
        (960..=5 * 961).contains(&drawn),
        "{drawn} points drawn of 5 million"
    );
}

/// Writes a `classes` x `classes` confusion matrix document to `file`, streamed: 25 million
/// cells are 50 MB of text.
fn write_confusion_matrix(file: &Path, classes: usize) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(file).unwrap());
    let labels: Vec<String> = (0..classes).map(|i| format!("\"class {i}\"")).collect();
    write!(
        out,
        "{{\"data\":{{\"class_labels\":[{}],\"matrix\":[",
        labels.join(",")
    )
    .unwrap();
    for i in 0..classes {
        let row: Vec<&str> = (0..classes)
            .map(|j| if i == j { "9" } else { "0" })
            .collect();
        let comma = if i + 1 < classes { "," } else { "" };
        write!(out, "[{}]{comma}", row.join(",")).unwrap();
    }
    write!(
        out,
        "]}},\"schema_type\":\"confusion_matrix\",\"schema_version\":\"1.0.0\"}}"
    )
    .unwrap();
    out.flush().unwrap();
}

#[test]
fn a_report_of_a_huge_run_is_bounded_and_says_what_it_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let run = store.start_run("e", "huge").unwrap();
    for i in 0..120 {
        run.log_list(&format!("metric {i:03}"), [1.0, 2.0]).unwrap();
    }
    run.log_confusion_matrix("confusion", &["a", "b"], &[[1, 0], [0, 1]])
        .unwrap();
    let columns = (0..80).map(|c| (format!("column {c:02}"), vec![1.5; 300]));
    run.log_table("big table", columns).unwrap();
    for i in 0..103 {
        run.log_table(&format!("table {i:03}"), [("x", vec![1])])
            .unwrap();
    }
    let png = dir.path().join("image.png");
    std::fs::write(&png, super::fixture::gradient_png(48, 32)).unwrap();
    for i in 0..60 {
        run.log_image(&format!("image {i:02}"), &png).unwrap();
    }
    run.complete().unwrap();
    let artifacts = store.run_dir(run.id()).unwrap().join("artifacts");
    write_confusion_matrix(&artifacts.join("confusion.json"), 5000);

    let page = dir.path().join("huge.html");
    let json = runctx_or_hang(
        dir.path(),
        &["report", "huge", "-o", page.to_str().unwrap(), "--json"],
    )
    .json();
    assert_eq!(
        json["left_out"],
        serde_json::json!({"charts": 20, "json_metrics": 5, "images": 10}),
        "{json}"
    );
    assert_eq!(
        (
            &json["charts"],
            &json["heatmaps"],
            &json["tables"],
            &json["images"]
        ),
        (&100.into(), &1.into(), &99.into(), &50.into())
    );
    let html = std::fs::read_to_string(&page).unwrap();
    // Drawn whole, the matrix alone would take gigabytes.
    assert!(html.len() < 8 << 20, "{} bytes", html.len());
    for said in [
        "This page is capped in size and leaves out 20 charts (it draws at most 100), 5 JSON \
         metrics (it shows at most 100; they are listed as files), 10 images (it embeds at most \
         50, 64 MiB in all; they are listed as files).",
        "20 more charts are left out: the report draws at most 100.",
        "The first 50 of 5000 classes: 24997500 of 25000000 cells are left out.",
        "The first 200 of 300 rows and 50 of 80 columns.",
        "not shown: the report already shows 100 JSON metrics",
        "not embedded: the report already holds 50 images",
    ] {
        assert!(html.contains(said), "the page says {said:?}");
    }
    let heatmap = &html[html.find("class=\"heatmap\"").unwrap()..];
    let heatmap = &heatmap[..heatmap.find("</svg>").unwrap()];
    assert_eq!(heatmap.matches("<rect").count(), 50 * 50);
    assert_eq!(html.matches("<img").count(), 50);
}
