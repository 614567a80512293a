//! A store made with the library, the way a training program would fill it: a sweep parent
//! with three children (one failed), a run with the regression and classification JSON
//! metrics, a cancelled run and a run whose process was killed.
//!
//! After the runs end, their ids, start and end times and sources are rewritten to fixed values
//! so that outputs can be compared with golden files: the journals are untouched.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use run_runtime::{AccuracyTable, Predictions, Residuals, Run, RunEnd, RunMeta, Source, Store};

/// 2025-01-15 09:00:00 UTC.
pub const BASE_TIME: i64 = 1_736_931_600_000;

/// The fixed id of each run, by its name.
pub const IDS: [(&str, &str); 7] = [
    ("sweep", "OfflineRun_5eed0001-0000-4000-8000-000000000001"),
    ("lr=0.1", "OfflineRun_5eed0002-0000-4000-8000-000000000002"),
    ("lr=0.01", "OfflineRun_5eed0003-0000-4000-8000-000000000003"),
    ("lr=1.0", "OfflineRun_5eed0004-0000-4000-8000-000000000004"),
    (
        "regression",
        "OfflineRun_a11ce005-0000-4000-8000-000000000005",
    ),
    (
        "cancelled",
        "OfflineRun_a11ce006-0000-4000-8000-000000000006",
    ),
    ("killed", "OfflineRun_b0b00007-0000-4000-8000-000000000007"),
];

/// The id of the fixture run named `name`.
pub fn id(name: &str) -> &'static str {
    IDS.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, id)| *id)
        .unwrap_or_else(|| panic!("no fixture run {name}"))
}

/// How long each run took, in seconds (the killed run never ended).
fn duration_s(name: &str) -> i64 {
    match name {
        "sweep" => 3725,
        "lr=0.1" => 1210,
        "lr=0.01" => 1195,
        "lr=1.0" => 42,
        "regression" => 7,
        "cancelled" => 95,
        _ => 0,
    }
}

/// Builds the store in `root`.
pub fn build(root: &Path) -> Store {
    let store = Store::new(root);
    let mut made: Vec<(String, &str)> = Vec::new();

    let sweep = store.start_run("mnist", "sweep").unwrap();
    sweep.add_property("search", "grid").unwrap();
    sweep.tag("owner", "ml-team").unwrap();
    for (name, lr) in [("lr=0.1", 0.1), ("lr=0.01", 0.01), ("lr=1.0", 1.0)] {
        let child = sweep.child_run(name).unwrap();
        train(&child, lr, root);
        if lr > 0.5 {
            child
                .fail("loss is NaN at step 5: the learning rate is too high")
                .unwrap();
        } else {
            sweep.log("best_accuracy", accuracy(lr, 19)).unwrap();
            child.complete().unwrap();
        }
        made.push((child.id().to_owned(), name));
    }
    sweep.complete().unwrap();
    made.push((sweep.id().to_owned(), "sweep"));

    let regression = store.start_run("Default", "regression").unwrap();
    let y_true: Vec<f64> = (0..50).map(|i| f64::from(i) / 5.0).collect();
    let y_pred: Vec<f64> = y_true.iter().map(|y| y * 0.9 + 0.4).collect();
    let residuals: Vec<f64> = y_true.iter().zip(&y_pred).map(|(t, p)| t - p).collect();
    regression
        .log_residuals("residuals", &Residuals::from_values(&residuals, 8).unwrap())
        .unwrap();
    regression
        .log_predictions(
            "predictions",
            &Predictions::from_values(&y_true, &y_pred, 5).unwrap(),
        )
        .unwrap();
    let scores: Vec<Vec<f64>> = (0..20)
        .map(|i| {
            let p = f64::from(i) / 20.0;
            vec![1.0 - p, p]
        })
        .collect();
    let labels: Vec<usize> = (0..20).map(|i| usize::from(i >= 9)).collect();
    regression
        .log_accuracy_table(
            "accuracy",
            &AccuracyTable::from_scores(&["no", "yes"], &labels, &scores, 11).unwrap(),
        )
        .unwrap();
    regression.log_list("rmse", [0.9, 0.7, 0.61, 0.58]).unwrap();
    regression.add_property("alpha", 0.5).unwrap();
    regression.complete().unwrap();
    made.push((regression.id().to_owned(), "regression"));

    let cancelled = store.start_run("Default", "cancelled").unwrap();
    cancelled.log_list("loss", [0.9, 0.85]).unwrap();
    cancelled.cancel().unwrap();
    made.push((cancelled.id().to_owned(), "cancelled"));

    let killed = killed_run(&store);
    made.push((killed, "killed"));

    fix_ids_and_times(&store, &made);
    store
}

/// A run that was logging when its process died: copied from a run before it ended, then the
/// copy's process is set to one that has exited.
fn killed_run(store: &Store) -> String {
    let run = store.start_run("Default", "killed").unwrap();
    run.log_list("loss", [2.0, 1.5, 1.2]).unwrap();
    run.tag("phase", "warmup").unwrap();
    run.flush().unwrap();
    let copy = format!("{}-copy", run.id());
    let copy_dir_path = store.run_dir(&copy).unwrap();
    copy_dir(&store.run_dir(run.id()).unwrap(), &copy_dir_path);
    // A run is its folder: the copy's run.json must name the copy.
    let file = copy_dir_path.join("run.json");
    let mut meta: serde_json::Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    meta["id"] = copy.clone().into();
    fs::write(&file, serde_json::to_vec_pretty(&meta).unwrap()).unwrap();
    run.complete().unwrap();
    fs::remove_dir_all(store.run_dir(run.id()).unwrap()).unwrap();
    copy
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A training run: loss and accuracy per step (with a NaN at step 7 for the smallest learning
/// rate, an overflow for the largest), tags, properties, a confusion matrix, a table and an
/// image.
fn train(run: &Run, lr: f64, scratch: &Path) {
    run.add_properties([("learning_rate", lr.to_string()), ("epochs", "20".into())])
        .unwrap();
    run.set_tags([("model", "mlp"), ("dataset", "mnist-small")])
        .unwrap();
    let steps = if lr > 0.5 { 6 } else { 20 };
    for step in 0..steps {
        let loss = if lr > 0.5 && step >= 4 {
            if step == 4 { f64::INFINITY } else { f64::NAN }
        } else if lr < 0.05 && step == 7 {
            f64::NAN
        } else {
            2.3 * (-(lr.sqrt() * 0.9) * step as f64).exp() + 0.05
        };
        run.log_step("loss", loss, step).unwrap();
        run.log_step("accuracy", accuracy(lr, step), step).unwrap();
    }
    let right = (accuracy(lr, 19) * 100.0).round() as u32;
    run.log_confusion_matrix(
        "confusion",
        &["zero", "one", "two"],
        &[[right, 100 - right, 0], [3, right, 97 - right], [0, 5, 95]],
    )
    .unwrap();
    run.log_table(
        "per class",
        [
            (
                "class",
                vec![serde_json::json!("zero"), "one".into(), "two".into()],
            ),
            ("precision", vec![0.91.into(), 0.88.into(), 0.95.into()]),
        ],
    )
    .unwrap();
    let image = scratch.join(format!("samples-{}.png", run.id()));
    fs::write(&image, gradient_png(48, 32)).unwrap();
    run.log_image("samples", &image).unwrap();
    fs::remove_file(&image).unwrap();
}

fn accuracy(lr: f64, step: i64) -> f64 {
    let ceiling = if lr > 0.5 { 0.3 } else { 0.97 - lr * 0.2 };
    ceiling * (1.0 - (-0.3 * (step + 1) as f64).exp())
}

/// A small RGB PNG: a red to blue gradient over green stripes.
pub fn gradient_png(width: u32, height: u32) -> Vec<u8> {
    let mut pixels = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            let r = (255 * x / (width - 1)) as u8;
            let g = if (y / 4) % 2 == 0 { 200 } else { 40 };
            pixels.extend_from_slice(&[r, g, 255 - r]);
        }
    }
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&pixels).unwrap();
    writer.finish().unwrap();
    bytes
}

/// Renames every run to its fixed id and sets fixed start and end times and sources.
fn fix_ids_and_times(store: &Store, made: &[(String, &str)]) {
    let new_id: HashMap<&str, &str> = made
        .iter()
        .map(|(old, name)| (old.as_str(), id(name)))
        .collect();
    for (old, name) in made {
        let mut meta: RunMeta = store.meta(old).unwrap();
        meta.id = id(name).to_owned();
        meta.parent_id = meta.parent_id.as_deref().map(|p| new_id[p].to_owned());
        let order = IDS.iter().position(|(n, _)| n == name).unwrap() as i64;
        meta.start_time = BASE_TIME + order * 60_000;
        meta.source = if *name == "killed" {
            dead_process_here()
        } else {
            fixed_source()
        };
        let dir = store.run_dir(old).unwrap();
        fs::write(
            dir.join("run.json"),
            serde_json::to_vec_pretty(&meta).unwrap(),
        )
        .unwrap();
        if let Some(mut end) = store.end(old).unwrap() {
            end.time = meta.start_time + duration_s(name) * 1000;
            write_end(&dir, &end);
        }
        fs::rename(&dir, store.run_dir(id(name)).unwrap()).unwrap();
    }
}

fn write_end(dir: &Path, end: &RunEnd) {
    fs::write(
        dir.join("status.json"),
        serde_json::to_vec_pretty(end).unwrap(),
    )
    .unwrap();
}

fn fixed_source() -> Source {
    Source {
        program: "train".into(),
        args: vec!["--epochs".into(), "20".into()],
        user: Some("ci".into()),
        host: Some("build-host".into()),
        pid: 4242,
        cwd: Some(PathBuf::from("/work/project")),
        git_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
    }
}

/// This host, and the id of a process that has exited.
fn dead_process_here() -> Source {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    Source {
        pid,
        host: Source::current().host,
        ..fixed_source()
    }
}

/// This machine's host name, as runs record it (golden outputs replace it).
pub fn host() -> String {
    Source::current().host.unwrap_or_default()
}
