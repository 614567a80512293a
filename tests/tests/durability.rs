//! The order of writes that makes the store survive a power cut, checked on the system calls a
//! program makes (under strace): every file replaced by rename is synced before the rename and
//! its folder after it, and every new folder is synced into its parent.
//!
//! A power cut itself cannot be made here; what it leaves depends only on this order (and on
//! the disk honouring fsync), which is what docs/guide.md, "What survives", promises.

#![cfg(target_os = "linux")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const PROBE: &str = env!("CARGO_BIN_EXE_probe");

/// One traced call: its name, and the paths it names (strace -y prints a descriptor's path).
#[derive(Debug)]
struct Call {
    name: String,
    paths: Vec<PathBuf>,
    ok: bool,
    raw: String,
}

/// Parses lines like `123 fsync(5</s/a/.run.json.123.tmp>) = 0` and
/// `123 renameat2(AT_FDCWD</x>, "/s/a/.run.json.123.tmp", AT_FDCWD</x>, "/s/a/run.json", 0) = 0`.
fn parse(line: &str) -> Option<Call> {
    let rest = line.split_once(' ').map_or(line, |(_, r)| r).trim_start();
    let open = rest.find('(')?;
    let name = rest[..open].to_owned();
    let ok = !rest.contains(") = -1");
    let args = &rest[open + 1..rest.rfind(')')?];
    let mut paths = Vec::new();
    for part in args.split(", ") {
        if let Some(p) = part.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
            paths.push(PathBuf::from(p));
        } else if let (Some(a), Some(b)) = (part.find('<'), part.rfind('>'))
            && part.starts_with(|c: char| c.is_ascii_digit())
        {
            paths.push(PathBuf::from(&part[a + 1..b]));
        }
    }
    Some(Call {
        name,
        paths,
        ok,
        raw: line.to_owned(),
    })
}

#[test]
#[ignore = "needs strace; run via the README test command"]
fn every_replaced_file_and_new_folder_is_synced_in_the_right_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let data = dir.path().join("data.csv");
    std::fs::write(&data, "x,y\n1,2\n").unwrap();
    let trace = dir.path().join("trace");
    let status = Command::new("strace")
        .args(["-f", "-y", "-qq", "-o"])
        .arg(&trace)
        .args([
            "-e",
            "trace=fsync,fdatasync,rename,renameat,renameat2,mkdir,mkdirat,openat",
        ])
        .arg(PROBE)
        .arg("durable")
        .arg(&data)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("RUNCTX_HOME", &store)
        .status()
        .expect("strace runs (apt-get install strace)");
    assert!(status.success());
    let text = std::fs::read_to_string(&trace).unwrap();
    let calls: Vec<Call> = text.lines().filter_map(parse).filter(|c| c.ok).collect();
    let synced_at = |path: &Path, after: usize| {
        calls.iter().enumerate().skip(after).find_map(|(i, c)| {
            (matches!(c.name.as_str(), "fsync" | "fdatasync")
                && c.paths.first().map(PathBuf::as_path) == Some(path))
            .then_some(i)
        })
    };
    let mut checked: HashMap<&str, usize> = HashMap::new();
    for (i, call) in calls.iter().enumerate() {
        let kind = call.name.as_str();
        let paths: Vec<&PathBuf> = call
            .paths
            .iter()
            .filter(|p| p.starts_with(&store))
            .collect();
        if kind.starts_with("rename") && paths.len() == 2 {
            let (tmp, target) = (paths[0], paths[1]);
            let before = calls[..i].iter().any(|c| {
                matches!(c.name.as_str(), "fsync" | "fdatasync") && c.paths.first() == Some(tmp)
            });
            assert!(
                before,
                "{} renamed over {} before it was synced",
                tmp.display(),
                target.display()
            );
            let folder = target.parent().unwrap();
            assert!(
                synced_at(folder, i + 1).is_some(),
                "the folder {} was not synced after {} was renamed into it",
                folder.display(),
                target.display()
            );
            *checked
                .entry(target.file_name().unwrap().to_str().unwrap())
                .or_default() += 1;
        } else if kind == "openat" && line_creates(&text, call) {
            // The journal's name must be durable before the first flush of its records says
            // they are: its folder is synced before the journal's first sync.
            let file = paths.last().expect("an openat of the store names a file");
            let folder = file.parent().unwrap();
            let first_flush = synced_at(file, i + 1).expect("the journal is flushed");
            assert!(
                synced_at(folder, i + 1).is_some_and(|k| k < first_flush),
                "{} was created but {} was not synced before its records were",
                file.display(),
                folder.display()
            );
            *checked.entry("a new journal").or_default() += 1;
        } else if kind.starts_with("mkdir") && paths.len() == 1 {
            let folder = paths[0].parent().unwrap();
            assert!(
                synced_at(folder, i + 1).is_some(),
                "{} was created but {} was not synced after",
                paths[0].display(),
                folder.display()
            );
            *checked.entry("a new folder").or_default() += 1;
        }
    }
    for file in [
        "run.json",
        "status.json",
        "data.csv",
        "t.json",
        "version.json",
        "a new folder",
        "a new journal",
    ] {
        assert!(
            checked.contains_key(file),
            "no {file} was written: {checked:?}\n{text}"
        );
    }
}

/// `true` for an `openat` that creates the run's journal (temporary files are checked at
/// their rename).
fn line_creates(_text: &str, call: &Call) -> bool {
    call.raw.contains("O_CREAT") && call.paths.iter().any(|p| p.ends_with("journal.rj"))
}

#[test]
fn the_strace_line_parser_reads_descriptors_and_paths() {
    let c = parse("42 fsync(5</s/a/.run.json.42.tmp>) = 0").unwrap();
    assert_eq!((c.name.as_str(), c.ok), ("fsync", true));
    assert_eq!(c.paths, [PathBuf::from("/s/a/.run.json.42.tmp")]);
    let c =
        parse("42 renameat2(AT_FDCWD</x>, \"/s/a/.t.42.tmp\", AT_FDCWD</x>, \"/s/a/t\", 0) = 0")
            .unwrap();
    assert_eq!(
        c.paths,
        [PathBuf::from("/s/a/.t.42.tmp"), PathBuf::from("/s/a/t")]
    );
    assert!(
        !parse("42 mkdir(\"/s/b\", 0777) = -1 EEXIST (File exists)")
            .unwrap()
            .ok
    );
}
