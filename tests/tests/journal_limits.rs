//! The journal at its limits: any number of points in one `log_list`, a `log_list` whose values
//! log to the same run, and a file that cannot grow. Nothing is lost without an error, nothing
//! hangs, and the journal stays readable.

use std::path::Path;

use run_runtime::{Status, Store};

/// The largest block payload this crate's writer makes: a buffer just under its 1 MiB limit
/// plus one append of at most 1 MiB (`MAX_WRITE_BLOCK` in `journal/writer.rs`). Readers accept
/// up to 256 MiB.
const WRITER_BLOCK_BOUND: usize = 2 << 20;

/// The payload length of every block of the journal at `path`, from the block headers.
fn block_lengths(path: &Path) -> Vec<usize> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"RUNCTXJ\0");
    let mut at = 16;
    let mut lens = Vec::new();
    while at < bytes.len() {
        assert_eq!(&bytes[at..at + 4], b"RJB1", "a block header at {at}");
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        lens.push(len);
        at += 12 + len;
    }
    assert_eq!(at, bytes.len(), "the last block ends with the file");
    lens
}

#[test]
fn three_million_points_in_one_log_list_read_back_whole_and_survive_attaching() {
    // About 30 MB of journal: tens of blocks, each within the writer's bound.
    const N: usize = 3_000_000;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let run = store.start_run("exp", "big list").unwrap();
    run.log_list("loss", (0..N).map(|i| i as f64)).unwrap();
    run.complete().unwrap();
    let id = run.id().to_owned();
    drop(run);
    let journal = dir.path().join(&id).join("journal.rj");

    let data = store.read(&id).unwrap();
    assert!(data.damage.is_empty(), "{:?}", data.damage);
    assert_eq!(data.status, Status::Finished);
    let points = &data.metrics["loss"];
    assert_eq!(points.len(), N);
    assert!(
        points
            .iter()
            .enumerate()
            .all(|(i, p)| p.step == i as i64 && p.value == i as f64),
        "the points are 0..N in order"
    );
    drop(data);

    // Attaching reads the journal (all of it, to learn the step counters) and cuts nothing.
    let before = std::fs::metadata(&journal).unwrap().len();
    let attached = store.attach(&id).unwrap();
    drop(attached);
    assert_eq!(std::fs::metadata(&journal).unwrap().len(), before);

    let lens = block_lengths(&journal);
    assert!(lens.len() > 20, "{} blocks", lens.len());
    let largest = lens.iter().max().unwrap();
    assert!(*largest <= WRITER_BLOCK_BOUND, "a block of {largest} bytes");
    assert!(store.list().unwrap().runs[0].damage.is_empty());
}

#[test]
fn a_log_list_whose_values_log_to_the_same_run_finishes() {
    const N: i64 = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let run = store.start_run("exp", "re-entrant").unwrap();
    let values = (0..N).inspect(|&i| {
        run.log("seen", i).unwrap();
    });
    run.log_list("list", values).unwrap();
    run.complete().unwrap();
    let data = store.read(run.id()).unwrap();
    assert!(data.damage.is_empty(), "{:?}", data.damage);
    for key in ["list", "seen"] {
        let points = &data.metrics[key];
        let want: Vec<(i64, f64)> = (0..N).map(|i| (i, i as f64)).collect();
        let got: Vec<(i64, f64)> = points.iter().map(|p| (p.step, p.value)).collect();
        assert!(
            got == want,
            "{key}: {} points, not 0..N in order",
            got.len()
        );
    }
}

#[cfg(unix)]
#[test]
fn a_file_size_limit_refuses_records_with_an_error_and_keeps_what_was_written() {
    const LIMIT: u64 = 4 << 20;
    let dir = tempfile::tempdir().unwrap();
    let out = tests::command(env!("CARGO_BIN_EXE_journal_probe"), dir.path())
        .args(["fsize", &LIMIT.to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v = tests::last_json(&out.stdout);
    let id = v["id"].as_str().unwrap();
    let journal = dir.path().join(id).join("journal.rj");
    let error = v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error: {v}"));
    assert!(error.contains(&journal.display().to_string()), "{error}");
    assert!(error.contains("File too large"), "{error}");
    assert!(
        error.contains("refused") && error.contains("raise the file size limit"),
        "{error}"
    );
    let logged = v["logged"].as_u64().unwrap() as usize;

    // Everything written before the limit reads back, in order, without damage: the block
    // cut short by the limit was removed by its writer.
    let data = Store::new(dir.path()).read(id).unwrap();
    assert!(data.damage.is_empty(), "{:?}", data.damage);
    let points = &data.metrics["m"];
    assert!(points.len() <= logged, "{} of {logged}", points.len());
    assert!(points.len() > 50_000, "only {} points", points.len());
    assert!(
        points
            .iter()
            .enumerate()
            .all(|(i, p)| p.step == i as i64 && p.value == i as f64)
    );
    assert!(std::fs::metadata(&journal).unwrap().len() <= LIMIT);
}
