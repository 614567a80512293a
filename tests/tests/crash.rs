//! A process killed with SIGKILL: what it flushed survives, a torn tail is skipped, the run
//! shows as not finished, and the store stays readable and appendable.

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use run_runtime::{Status, Store};
use tests::command;

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

#[test]
fn a_killed_process_keeps_everything_it_flushed() {
    const FLUSHED: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    for round in 0..3 {
        let mut child = command(PROBE, dir.path())
            .args(["crash", &FLUSHED.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let id = lines.next().unwrap().unwrap();
        assert_eq!(lines.next().unwrap().unwrap(), "flushed");
        // Let it log past the flush for a while, then kill it mid-write.
        std::thread::sleep(std::time::Duration::from_millis(50 + 70 * round));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let data = store.read(&id).unwrap();
        let points = &data.metrics["m"];
        assert!(
            points.len() >= FLUSHED,
            "round {round}: only {} points",
            points.len()
        );
        // The points are the prefix the program logged, in order, without gaps.
        assert!(
            points
                .iter()
                .enumerate()
                .all(|(i, p)| p.step == i as i64 && p.value == i as f64)
        );
        assert_eq!(data.status, Status::Running, "a killed run is not finished");
        assert_eq!(
            store
                .runs()
                .unwrap()
                .iter()
                .find(|r| r.meta.id == id)
                .unwrap()
                .status(),
            Status::Running
        );

        // Another process agrees, and the run can still be appended to and ended.
        let out = command(PROBE, dir.path())
            .args(["read", dir.path().to_str().unwrap(), &id])
            .output()
            .unwrap();
        let v = tests::last_json(&out.stdout);
        assert_eq!(v["points"].as_u64().unwrap() as usize, points.len());
        let run = store.attach(&id).unwrap();
        run.log_step("m", -1.0, points.len() as i64).unwrap();
        run.complete().unwrap();
        let after = store.read(&id).unwrap();
        assert!(
            after.damage.is_empty(),
            "appending cut the torn tail: {:?}",
            after.damage
        );
        assert_eq!(after.metrics["m"].len(), points.len() + 1);
        assert_eq!(after.status, Status::Finished);
    }
}
