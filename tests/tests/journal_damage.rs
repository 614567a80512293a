//! A damaged journal, seen through the store: attaching cuts only a torn tail, every other
//! stretch stays on disk and is reported, and once anything has read it the listing marks the
//! run damaged without reading journals.

use std::io::Write;

use run_runtime::Store;

/// A finished run of three blocks of one point each, and where each block starts.
fn three_blocks(store: &Store) -> (String, Vec<u64>) {
    let run = store.start_run("exp", "damaged").unwrap();
    let journal = run.dir().join("journal.rj");
    let mut starts = Vec::new();
    for i in 0..3 {
        starts.push(std::fs::metadata(&journal).unwrap().len());
        run.log("m", i).unwrap();
        run.flush().unwrap();
    }
    run.tag("done", "yes").unwrap();
    run.complete().unwrap();
    (run.id().to_owned(), starts)
}

fn listed_damage(store: &Store, id: &str) -> usize {
    let listing = store.list().unwrap();
    assert!(listing.problems.is_empty(), "{:?}", listing.problems);
    let run = listing.runs.iter().find(|r| r.meta.id == id).unwrap();
    run.damage.len()
}

#[test]
fn damage_in_the_middle_stays_on_disk_is_reported_and_listed_once_seen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let (id, starts) = three_blocks(&store);
    let journal = dir.path().join(&id).join("journal.rj");
    let mut bytes = std::fs::read(&journal).unwrap();
    bytes[starts[1] as usize + 12 + 4] ^= 0x55;
    std::fs::write(&journal, &bytes).unwrap();
    assert_eq!(
        listed_damage(&store, &id),
        0,
        "nothing has read the journal yet"
    );

    let data = store.read(&id).unwrap();
    assert_eq!(data.damage.len(), 1);
    assert_eq!(data.damage[0].offset, starts[1]);
    let steps: Vec<i64> = data.metrics["m"].iter().map(|p| p.step).collect();
    assert_eq!(steps, [0, 2]);
    assert_eq!(listed_damage(&store, &id), 1, "reading noted it");

    // Attaching keeps the damaged block (it is no torn tail) and appends after it.
    let run = store.attach(&id).unwrap();
    run.log_step("m", 9, 9).unwrap();
    run.flush().unwrap();
    drop(run);
    let after = std::fs::read(&journal).unwrap();
    assert_eq!(after[..bytes.len()], bytes[..], "no byte was removed");
    let data = store.read(&id).unwrap();
    assert_eq!(data.damage.len(), 1);
    let steps: Vec<i64> = data.metrics["m"].iter().map(|p| p.step).collect();
    assert_eq!(steps, [0, 2, 9]);
    assert_eq!(data.tags["done"], "yes");
    assert_eq!(listed_damage(&store, &id), 1, "each stretch once");
}

#[test]
fn a_torn_tail_is_cut_by_attaching_and_never_listed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let (id, _) = three_blocks(&store);
    let journal = dir.path().join(&id).join("journal.rj");
    let intact = std::fs::metadata(&journal).unwrap().len();
    // A process that died in the middle of a write: a header that promises more than is there.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    f.write_all(b"RJB1\x00\x01\x00\x00\x12\x34\x56\x78partial")
        .unwrap();
    drop(f);

    let data = store.read(&id).unwrap();
    assert_eq!(data.damage.len(), 1, "a reader reports the torn tail");
    assert_eq!(
        listed_damage(&store, &id),
        0,
        "a torn tail may be a write in progress: not listed"
    );
    let run = store.attach(&id).unwrap();
    assert_eq!(std::fs::metadata(&journal).unwrap().len(), intact);
    run.log_step("m", 9, 9).unwrap();
    run.flush().unwrap();
    drop(run);
    let data = store.read(&id).unwrap();
    assert!(data.damage.is_empty(), "{:?}", data.damage);
    assert_eq!(data.metrics["m"].len(), 4);
    assert_eq!(listed_damage(&store, &id), 0);
}
