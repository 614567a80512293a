//! Text from a store (names, tags, properties, errors) reaches the terminal without its control
//! characters: a run named with escape sequences cannot clear the screen or retitle it.

use run_runtime::Store;

use super::*;

/// Clears the screen, sets the window title, rings the bell.
const NAME: &str = "\u{1b}[2J\u{1b}]0;pwned\u{7}";
/// CSI as one C1 character, then a backspace and a carriage return that would hide text.
const EXPERIMENT: &str = "exp\u{9b}2J\u{8}\r";

/// A store with a run named [`NAME`] in experiment [`EXPERIMENT`], control characters in its
/// tags, properties and error, and a plain run to compare it with. The library refuses such
/// names; a hand-edited `run.json` is not bound by it.
fn hostile_store() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let run = store.start_run("e", "hostile").unwrap();
    run.tag("note", NAME).unwrap();
    run.tag("title", "\u{1b}]2;owned\u{1b}\\").unwrap();
    run.add_property("cmd", "\u{8}\u{8}\rrm -rf /").unwrap();
    run.log_list("loss", [1.0, 0.5]).unwrap();
    run.fail(format!("{NAME}\nline two\u{1b}[1A")).unwrap();
    let id = run.id().to_owned();
    let mut meta = store.meta(&id).unwrap();
    meta.name = NAME.to_owned();
    meta.experiment = EXPERIMENT.to_owned();
    let file = store.run_dir(&id).unwrap().join("run.json");
    std::fs::write(file, serde_json::to_vec(&meta).unwrap()).unwrap();
    let other = store.start_run("e", "plain").unwrap();
    other.log_list("accuracy", [0.5, 0.75]).unwrap();
    other.complete().unwrap();
    (dir, id)
}

#[track_caller]
fn assert_no_control_characters(what: &str, text: &str) {
    let raw = text.chars().find(|c| c.is_control() && *c != '\n');
    assert!(raw.is_none(), "{what} writes {raw:?}:\n{text}");
}

#[test]
fn control_characters_from_a_store_never_reach_the_terminal() {
    let (dir, id) = hostile_store();
    let store = dir.path();
    let commands: [&[&str]; 6] = [
        &["list"],
        &["show", &id],
        &["compare", &id, "plain"],
        &["compare", "--diff", &id, "plain"],
        &["metrics", &id],
        &["list", "--tag", "note"],
    ];
    for args in commands {
        let ran = runctx(store, args);
        let stdout = ran.ok();
        assert_no_control_characters(&format!("{args:?} on stdout"), stdout);
        assert_no_control_characters(&format!("{args:?} on stderr"), &ran.stderr);
    }
    let shown = runctx(store, &["show", &id]);
    for written_out in [
        "\\x1b[2J\\x1b]0;pwned\\x07",
        "exp\\x9b2J\\x08\\x0d",
        "\\x08\\x08 rm -rf /",
        "line two\\x1b[1A",
    ] {
        assert!(
            shown.stdout.contains(written_out),
            "{written_out} in\n{}",
            shown.stdout
        );
    }
}

#[test]
fn control_characters_in_messages_on_stderr_are_written_out() {
    let (dir, id) = hostile_store();
    let store = dir.path();
    let svg = dir.path().join("x.svg");
    let warned = runctx(
        store,
        &[
            "plot",
            &id,
            "plain",
            "-m",
            "accuracy",
            "-o",
            svg.to_str().unwrap(),
        ],
    );
    warned.ok();
    assert!(warned.stderr.contains("\\x1b[2J"), "{}", warned.stderr);
    let asked = runctx(store, &["delete", &id]);
    assert_eq!(asked.code, 4, "declined: stdin is closed");
    assert!(
        asked.stderr.contains("\\x1b]0;pwned\\x07"),
        "{}",
        asked.stderr
    );
    let ambiguous = runctx(store, &["compare", &id, &id]);
    assert_eq!(ambiguous.code, 2);
    assert!(
        ambiguous.stderr.contains("\\x1b[2J"),
        "{}",
        ambiguous.stderr
    );
    for ran in [&warned, &asked, &ambiguous] {
        assert_no_control_characters("stdout", &ran.stdout);
        assert_no_control_characters("stderr", &ran.stderr);
    }
}

#[test]
fn json_keeps_the_exact_text_without_raw_control_characters() {
    let (dir, id) = hostile_store();
    let ran = runctx(dir.path(), &["--json", "show", &id]);
    assert_no_control_characters("show --json", &ran.stdout);
    let json = ran.json();
    assert_eq!(json["name"], NAME);
    assert_eq!(json["experiment"], EXPERIMENT);
    assert_eq!(json["tags"]["note"], NAME);
    let failed = runctx(dir.path(), &["--json", "compare", &id, &id]);
    assert_no_control_characters("an error as JSON", &failed.stderr);
    let error: serde_json::Value = serde_json::from_str(&failed.stderr).unwrap();
    assert!(error["error"]["message"].as_str().unwrap().contains(NAME));
}

/// On a terminal (util-linux `script`), with colour on, the only escape sequences are the
/// tool's own colours.
#[cfg(target_os = "linux")]
#[test]
fn on_a_terminal_only_the_tools_own_colours_are_sent() {
    let (dir, id) = hostile_store();
    let line = format!(
        "{} --store '{}' show {id}",
        env!("CARGO_BIN_EXE_runctx"),
        dir.path().display()
    );
    let out = tests::clean(&mut Command::new("script"))
        .args(["-qec", &line, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .expect("util-linux `script` runs a command on a terminal");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("\x1b[31mFAILED\x1b[0m"), "coloured: {text:?}");
    let own = [
        "\x1b[0m",
        "\x1b[1m",
        "\x1b[2m",
        "\x1b[31m",
        "\x1b[33m",
        "\x1b[1;33m",
    ];
    let mut rest = text.as_str();
    while let Some(at) = rest.find(|c: char| c.is_control() && !matches!(c, '\n' | '\r')) {
        rest = &rest[at..];
        let code = own.iter().find(|code| rest.starts_with(**code));
        assert!(
            code.is_some(),
            "{:?} sent to the terminal",
            &rest[..rest.len().min(12)]
        );
        rest = &rest[code.unwrap().len()..];
    }
    // The pseudo-terminal turns each line break into \r\n; none other is sent.
    assert_eq!(text.matches('\r').count(), text.matches('\n').count());
}
