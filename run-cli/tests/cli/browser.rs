//! The report opened in a real headless Chromium: it renders, with its charts.
//!
//! Ignored by plain `cargo test`, which must stay fast and needs no browser; `scripts/test.sh`
//! installs Debian's `chromium` and runs it with `--ignored`.

use std::path::Path;
use std::process::Command;

use super::files::png_colours;
use super::*;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Runs headless Chromium on `page` with a fresh profile, the flags that keep it off the
/// network, and `extra` arguments; returns stdout.
fn chromium(page: &Path, extra: &[&str]) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium), \
         as scripts/test.sh does"
    );
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs chromium; run via the README test command"]
fn the_report_renders_in_chromium_with_its_charts() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let json = runctx(
        shared_store(),
        &["report", "sweep", "-o", page.to_str().unwrap(), "--json"],
    )
    .json();
    let drawn = json["charts"].as_u64().unwrap() + json["heatmaps"].as_u64().unwrap();

    // The DOM after rendering: the browser parsed every chart and kept every image.
    let dom = chromium(&page, &["--dump-dom"]);
    assert_eq!(
        dom.matches("<svg").count() as u64,
        drawn,
        "every chart is in the DOM"
    );
    assert!(
        dom.matches("<polyline").count() >= 9,
        "chart lines in the DOM"
    );
    assert_eq!(dom.matches("<img").count(), 3);
    assert!(dom.contains("Run tree") && dom.contains("lr=0.01"));

    // The picture: not blank, the status colours and the chart colours on it.
    let shot = dir.path().join("report.png");
    chromium(
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,2400",
        ],
    );
    let bytes = std::fs::read(&shot).unwrap();
    let colours = png_colours(&bytes);
    assert!(
        colours.len() > 200,
        "only {} colours: blank or unstyled",
        colours.len()
    );
    let near = |want: [u8; 3]| {
        colours.iter().any(|c| {
            c.iter()
                .zip(want)
                .all(|(a, b)| (i16::from(*a) - i16::from(b)).abs() <= 6)
        })
    };
    assert!(near([0x1f, 0x29, 0x33]), "the dark page header");
    assert!(near([0x2f, 0x9e, 0x44]), "a FINISHED badge");
    assert!(near([0xe0, 0x31, 0x31]), "the FAILED badge");
    assert!(near([0x4e, 0x79, 0xa7]), "the first chart line colour");
    assert!(near([0xf2, 0x8e, 0x2b]), "the second chart line colour");
}
