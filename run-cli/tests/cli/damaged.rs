//! Files of the store that lie or are broken: a crafted `run.json` never leads a command out of
//! the store, and one bad file never breaks the commands on the other runs.

use std::fs;

use super::fixture::id;
use super::*;

/// Rewrites the `"id"` of run `name`'s run.json to `value`.
fn forge_id(store: &Path, name: &str, value: &str) -> PathBuf {
    let file = store.join(id(name)).join("run.json");
    let mut meta: serde_json::Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    meta["id"] = value.into();
    fs::write(&file, serde_json::to_vec_pretty(&meta).unwrap()).unwrap();
    file
}

/// Every run folder of the store, by name.
fn folders(store: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(store)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_crafted_run_json_id_never_leads_delete_or_gc_out_of_the_store() {
    for forged in ["", "../x", "/tmp", "..", ".", "a/../../b"] {
        let outer = tempfile::tempdir().unwrap();
        let store = outer.path().join("store");
        fs::create_dir(&store).unwrap();
        super::fixture::build(&store);
        // A sibling of the store that a joined "../x" would reach, and the root's own files.
        let victim = outer.path().join("x");
        fs::create_dir(&victim).unwrap();
        fs::write(victim.join("keep.txt"), "keep").unwrap();
        let before = folders(&store);
        let file = forge_id(&store, "lr=1.0", forged);

        let gc = runctx(&store, &["gc", "--yes"]);
        assert_eq!(gc.code, 0, "{forged:?}: {}{}", gc.stdout, gc.stderr);
        assert!(
            gc.stderr.contains(&file.display().to_string()),
            "{forged:?}: the bad file is named: {}",
            gc.stderr
        );
        assert!(
            victim.join("keep.txt").exists(),
            "{forged:?}: gc left the store"
        );
        assert!(store.is_dir(), "{forged:?}: gc deleted the store");
        let after = folders(&store);
        assert!(
            after.contains(&id("lr=1.0").to_string()),
            "{forged:?}: the damaged run is left alone"
        );
        for healthy in ["sweep", "regression"] {
            assert!(
                after.contains(&id(healthy).to_string()),
                "{forged:?}: {healthy} gone"
            );
        }
        assert!(
            after.len() < before.len(),
            "gc still collects the other runs"
        );

        let delete = runctx(&store, &["delete", "--yes", id("lr=1.0")]);
        assert_ne!(delete.code, 0, "{forged:?}: a damaged run is not deleted");
        assert!(
            delete.stderr.contains("left alone"),
            "{forged:?}: {}",
            delete.stderr
        );
        assert!(store.join(id("lr=1.0")).is_dir());
        assert!(victim.join("keep.txt").exists());
    }
}

#[cfg(unix)]
#[test]
fn delete_never_goes_through_a_symbolic_link() {
    let outer = tempfile::tempdir().unwrap();
    let store = outer.path().join("store");
    fs::create_dir(&store).unwrap();
    super::fixture::build(&store);
    // A run folder that is a link to a folder outside the store that looks like a run.
    let elsewhere = outer.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    let real = store.join(id("regression"));
    for entry in fs::read_dir(&real).unwrap().flatten() {
        if entry.file_type().unwrap().is_file() {
            fs::copy(entry.path(), elsewhere.join(entry.file_name())).unwrap();
        }
    }
    fs::remove_dir_all(&real).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &real).unwrap();

    let store_api = run_runtime::Store::new(&store);
    let err = store_api.delete_run(id("regression")).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert!(elsewhere.join("run.json").exists());
    // Nor is it read: a link is not a run folder.
    let err = store_api.meta(id("regression")).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    let listed = runctx(&store, &["list", "--json"]).json();
    assert!(!listed.to_string().contains(id("regression")));
}

#[test]
fn one_bad_status_json_never_breaks_list_show_or_compare() {
    let dir = own_store();
    let store = dir.path();
    let status = store.join(id("lr=0.1")).join("status.json");
    fs::write(&status, "{").unwrap();

    let list = runctx(store, &["list", "--json"]);
    let json = list.json();
    assert!(
        list.stderr.contains(&status.display().to_string()),
        "{}",
        list.stderr
    );
    let runs = json["runs"].as_array().unwrap();
    let damaged = runs.iter().find(|r| r["id"] == id("lr=0.1")).unwrap();
    assert_eq!(
        damaged["status"], "FINISHED",
        "the status comes from the journal instead"
    );
    assert_eq!(runs.len(), super::fixture::IDS.len());

    runctx(store, &["show", id("regression")]).ok();
    let show = runctx(store, &["show", id("lr=0.1")]);
    show.ok();
    let compare = runctx(store, &["compare", id("lr=0.1"), id("lr=0.01")]);
    compare.ok();
}

#[test]
fn one_unreadable_run_json_is_skipped_by_every_command_and_explained_by_show() {
    for content in [
        "",
        "{",
        "not json at all",
        "{\"format\": 99, \"id\": \"x\"}",
    ] {
        let dir = own_store();
        let store = dir.path();
        let file = store.join(id("lr=1.0")).join("run.json");
        fs::write(&file, content).unwrap();
        let named = file.display().to_string();

        let list = runctx(store, &["list"]);
        list.ok();
        assert!(list.stderr.contains(&named), "{content:?}: {}", list.stderr);
        assert!(list.stdout.contains("regression"));

        for args in [
            vec!["compare", id("lr=0.1"), id("lr=0.01")],
            vec!["gc", "--dry-run"],
        ] {
            let ran = runctx(store, &args);
            assert_eq!(ran.code, 0, "{content:?} {args:?}: {}", ran.stderr);
            assert!(
                ran.stderr.contains(&named),
                "{content:?} {args:?}: {}",
                ran.stderr
            );
        }
        let report_file = dir.path().join("r.html");
        let report = runctx(
            store,
            &["report", id("sweep"), "-o", report_file.to_str().unwrap()],
        );
        assert_eq!(report.code, 0, "{content:?}: {}", report.stderr);

        let show = runctx(store, &["show", id("lr=1.0")]);
        assert_ne!(show.code, 0);
        assert!(show.stderr.contains(&named), "{content:?}: {}", show.stderr);
        let why = if content.contains("99") {
            "newer"
        } else {
            "unreadable"
        };
        assert!(show.stderr.contains(why), "{content:?}: {}", show.stderr);
    }
}

#[test]
fn an_unreadable_remote_json_is_explained_and_does_not_hide_the_run() {
    let dir = own_store();
    let store = dir.path();
    let remote = store.join(id("regression")).join("remote.json");
    fs::write(&remote, "[1, 2").unwrap();
    let show = runctx(store, &["show", id("regression")]);
    assert!(show.ok().contains("regression"));
    assert!(
        show.stderr.contains(&remote.display().to_string()),
        "{}",
        show.stderr
    );
    runctx(store, &["list"]).ok();
}

#[test]
fn a_run_whose_journal_is_damaged_is_marked_by_list_once_a_reader_saw_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = run_runtime::Store::new(dir.path());
    let run = store.start_run("Default", "bitrot").unwrap();
    for i in 0..3 {
        run.log("m", f64::from(i)).unwrap();
        run.flush().unwrap(); // one block each
    }
    run.complete().unwrap();
    // Flip a byte inside the first block's records: a bad disk, not a crash.
    let journal = run.dir().join("journal.rj");
    let mut bytes = fs::read(&journal).unwrap();
    bytes[16 + 12 + 4] ^= 0xff;
    fs::write(&journal, bytes).unwrap();

    let show = runctx(dir.path(), &["show", run.id()]);
    assert!(show.ok().contains("damage"), "{}", show.stdout);
    let list = runctx(dir.path(), &["list"]);
    assert!(list.ok().contains("FINISHED (damaged)"), "{}", list.stdout);
    let json = runctx(dir.path(), &["list", "--json"]).json();
    assert!(json["runs"][0]["damaged_bytes"].as_u64().unwrap() > 0);
}
