//! A program the integration tests start as a separate process: it plays a user's program
//! under an environment the test chooses, and prints what happened as JSON.
//!
//! probe context              get the context run, log a little, print its description
//! probe exit normal|panic|exit3|drop-child
//!                            get the context run, log, then end the process that way
//! probe crash N [PAUSE]      log N points, flush, say "flushed", then log until killed
//!                            (pausing 1 ms every PAUSE points)
//! probe read STORE ID        read a run back and print its metric count and status
//! probe refused              log a batch with one record the server refuses (MLFLOW_RUN_ID)
//! probe wait N               log N points (no flush), say "ready", then wait to be stopped
//! probe durable FILE         start a run, log, copy FILE in as an artifact, write a table,
//!                            end it: every kind of file the store writes
//! probe artifacts DIR        get the context run and give it every kind of artifact: a table,
//!                            a confusion matrix, the image DIR/plot.png, the files DIR/notes.txt
//!                            and DIR/big.bin, and the folder DIR/model registered as model
//!                            `probe-model`; complete it and print what happened
//! probe upload DIR          get the context run, log `loss` at steps 0..3, upload DIR/notes.txt
//!                            and DIR/big.bin (as data/big.bin), complete it, print what happened
//! probe model DIR          get the context run, register the folder DIR/model as `probe-model`,
//!                            download that version through the environment's registry into
//!                            DIR/downloaded, complete the run, print what happened
//! probe sync STORE URI       sync every run of STORE to URI (as `runctx sync`), print the report
//! probe parent-rows N        append rows i = 1..=N to the table "rows" of the context run's
//!                            parent, as a step does, then exit
//! probe tables               log a table, three rows of another and a confusion matrix

use std::io::Write;

use run_runtime::{Run, Store};
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["context"] => context(),
        ["exit", how] => exit(how),
        ["crash", n] => crash(n.parse().expect("a count"), None),
        ["crash", n, pause] => crash(
            n.parse().expect("a count"),
            Some(pause.parse().expect("a count")),
        ),
        ["read", store, id] => read(store, id),
        ["refused"] => refused(),
        ["wait", n] => wait(n.parse().expect("a count")),
        ["durable", file] => durable(file),
        ["artifacts", dir] => artifacts(std::path::Path::new(dir)),
        ["upload", dir] => upload(std::path::Path::new(dir)),
        ["model", dir] => model(std::path::Path::new(dir)),
        ["sync", store, uri] => sync(store, uri),
        ["parent-rows", n] => parent_rows(n.parse().expect("a count")),
        ["tables"] => tables(),
        other => panic!("unknown arguments {other:?}"),
    }
}

fn tables() {
    let run = Run::get_context().unwrap();
    run.log_table("from rust", [("x", vec![1.0, 2.0]), ("y", vec![0.5, 0.25])])
        .unwrap();
    for epoch in 0..3 {
        let loss = 1.0 / f64::from(epoch + 1);
        run.log_row("by epoch", [("epoch", json!(epoch)), ("loss", json!(loss))])
            .unwrap();
    }
    run.log_confusion_matrix("cm", &["cat", "dog"], &[[5, 1], [2, 7]])
        .unwrap();
    println!("{}", json!({"id": run.id()}));
}

fn parent_rows(n: i64) {
    let run = Run::get_context().unwrap();
    let parent = run.parent().expect("the context run has a parent");
    for i in 1..=n {
        parent.log_row("rows", [("i", i)]).unwrap();
    }
    println!("{}", json!({"parent": parent.id()}));
}

fn context() {
    match Run::get_context() {
        Ok(run) => {
            run.log("probe", 1).unwrap();
            println!(
                "{}",
                json!({"id": run.id(), "offline": run.is_offline(), "experiment": run.experiment(),
                       "dir": run.dir(), "name": run.name(), "parent": run.parent_id()})
            );
        }
        Err(e) => {
            println!("{}", json!({"error": e.to_string()}));
            std::process::exit(2);
        }
    }
}

/// Writes every kind of file the store writes: run.json, journal, an artifact copied in, a
/// JSON metric, status.json, and a registered model's files and version.json.
fn durable(file: &str) {
    let run = Run::get_context().unwrap();
    run.log("m", 1.0).unwrap();
    run.upload_file("inputs/data.csv", file).unwrap();
    run.log_table("t", [("x", vec![1.0, 2.0])]).unwrap();
    let model = std::path::Path::new(file).parent().unwrap().join("model");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("weights.bin"), b"w").unwrap();
    run.register_model("m", &model, &run_runtime::ModelOptions::new())
        .unwrap();
    run.complete().unwrap();
    println!("{}", json!({"id": run.id()}));
}

fn artifacts(dir: &std::path::Path) {
    let run = Run::get_context().unwrap();
    run.log("accuracy", 0.93).unwrap();
    run.log_table(
        "scores",
        [("epoch", vec![1.0, 2.0]), ("loss", vec![0.5, 0.25])],
    )
    .unwrap();
    run.log_confusion_matrix("confusion", &["cat", "dog"], &[[5, 1], [2, 7]])
        .unwrap();
    run.log_image("plot", dir.join("plot.png")).unwrap();
    run.upload_file("notes.txt", dir.join("notes.txt")).unwrap();
    run.upload_file("data/big.bin", dir.join("big.bin"))
        .unwrap();
    let version = run.register_model(
        "probe-model",
        dir.join("model"),
        &run_runtime::ModelOptions::new(),
    );
    let completed = run.complete();
    println!(
        "{}",
        json!({
            "id": run.id(),
            "remote_id": run.remote_id(),
            "version": version.as_ref().ok().map(|v| v.version),
            "register_error": version.err().map(|e| e.to_string()),
            "error": completed.err().map(|e| e.to_string()),
            "refused": run.refused_records(),
        })
    );
}

fn upload(dir: &std::path::Path) {
    let run = Run::get_context().unwrap();
    run.log_list("loss", [0.5, 0.25, 0.125]).unwrap();
    run.upload_file("notes.txt", dir.join("notes.txt")).unwrap();
    run.upload_file("data/big.bin", dir.join("big.bin"))
        .unwrap();
    let completed = run.complete();
    println!(
        "{}",
        json!({
            "id": run.id(),
            "remote_id": run.remote_id(),
            "error": completed.err().map(|e| e.to_string()),
            "refused": run.refused_records(),
        })
    );
}

fn model(dir: &std::path::Path) {
    use run_runtime::{ModelOptions, ModelRef, Registry};
    let run = Run::get_context().unwrap();
    let version = run.register_model("probe-model", dir.join("model"), &ModelOptions::new());
    let downloaded = version.as_ref().ok().map(|v| {
        ModelRef::version("probe-model", v.version)
            .and_then(|r| Registry::from_env()?.download(&r, dir.join("downloaded")))
    });
    let completed = run.complete();
    println!(
        "{}",
        json!({
            "id": run.id(),
            "remote_id": run.remote_id(),
            "version": version.as_ref().ok().map(|v| v.version),
            "source": version.as_ref().ok().map(|v| v.source.clone()),
            "register_error": version.err().map(|e| e.to_string()),
            "downloaded": downloaded.as_ref().and_then(|d| d.as_ref().ok()),
            "download_error": downloaded.and_then(|d| d.err()).map(|e| e.to_string()),
            "error": completed.err().map(|e| e.to_string()),
            "refused": run.refused_records(),
        })
    );
}

fn sync(store: &str, uri: &str) {
    use run_runtime::sync::{SyncOptions, sync};
    let options = SyncOptions::from_env(uri).unwrap();
    let report = sync(&Store::new(store), &[], &options, |_| {}).unwrap();
    println!("{}", json!({ "runs": report.runs }));
}

/// Logs `n` points without flushing, says "ready", and waits (at most a minute) for a signal.
fn wait(n: i64) {
    let run = Run::get_context().unwrap();
    for i in 0..n {
        run.log("m", i as f64).unwrap();
    }
    println!("{}", json!({"id": run.id()}));
    println!("ready");
    std::io::stdout().flush().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(60));
}

fn exit(how: &str) {
    let run = Run::get_context().unwrap();
    run.log("before_exit", 1).unwrap();
    println!("{}", json!({"id": run.id()}));
    std::io::stdout().flush().unwrap();
    match how {
        "normal" => {}
        "panic" => panic!("the model diverged"),
        "exit3" => std::process::exit(3),
        "drop-child" => {
            let child = run.child_run("child").unwrap();
            child.log("x", 1).unwrap();
            println!("{}", json!({"child": child.id()}));
            drop(child);
        }
        "leak-child" => {
            let child = run.child_run("child").unwrap();
            child.log("x", 1).unwrap();
            println!("{}", json!({"child": child.id()}));
            std::mem::forget(child);
        }
        other => panic!("unknown exit {other}"),
    }
}

/// Logs `n` points, flushes, then logs until killed, pausing a millisecond every `pause` points
/// if given (an online client that does not outrun the server by too much).
fn crash(n: i64, pause: Option<i64>) {
    let run = Run::get_context().unwrap();
    println!("{}", run.id());
    for i in 0..n {
        run.log_step("m", i as f64, i).unwrap();
    }
    run.flush().unwrap();
    println!("flushed");
    std::io::stdout().flush().unwrap();
    let mut i = n;
    loop {
        run.log_step("m", i as f64, i).unwrap();
        i += 1;
        if pause.is_some_and(|p| i % p == 0) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

/// Logs, in one batch, a param the server already has with another value among good records.
fn refused() {
    let run = Run::get_context().unwrap();
    for i in 0..50 {
        run.log("m", i).unwrap();
    }
    run.add_property("seed", 2).unwrap();
    run.add_property("lr", 0.1).unwrap();
    run.tag("stage", "done").unwrap();
    run.flush().unwrap();
    println!("{}", json!({"refused": run.refused_records()}));
}

fn read(store: &str, id: &str) {
    let data = Store::new(store).read(id).unwrap();
    println!(
        "{}",
        json!({"points": data.metrics.get("m").map_or(0, Vec::len), "status": data.status,
               "damage": data.damage.len()})
    );
}
