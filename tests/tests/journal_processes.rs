//! Two processes logging to one run (a step process and its pipeline's process do): the
//! steps `run.log` gives one key never collide, and no record is torn.

use std::io::Write;
use std::process::Stdio;

use run_runtime::Store;

#[test]
fn two_processes_logging_one_key_to_one_run_number_its_steps_together() {
    const EACH: i64 = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let run = store.start_run("exp", "shared").unwrap();
    run.log("k", -1.0).unwrap(); // step 0, from this process
    run.flush().unwrap();
    let mut children: Vec<_> = (0..2)
        .map(|_| {
            tests::command(env!("CARGO_BIN_EXE_journal_probe"), dir.path())
                .args(["share", run.id(), &EACH.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Both start together (each waits for a line; a closed pipe lets it go too).
    for child in &mut children {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"go\n").unwrap();
    }
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(tests::last_json(&out.stdout)["logged"], EACH);
    }
    run.complete().unwrap();

    let data = store.read(run.id()).unwrap();
    assert!(data.damage.is_empty(), "{:?}", data.damage);
    let mut steps: Vec<i64> = data.metrics["k"].iter().map(|p| p.step).collect();
    assert_eq!(steps.len(), 2 * EACH as usize + 1);
    steps.sort_unstable();
    assert_eq!(steps, (0..=2 * EACH).collect::<Vec<_>>());
}
