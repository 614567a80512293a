//! A program the journal tests start as a separate process: it logs under limits the test
//! chooses and prints what happened as JSON.
//!
//! journal_probe fsize BYTES      limit the files this process writes to BYTES
//!                                (`RLIMIT_FSIZE`, SIGXFSZ ignored), then log to the context
//!                                run until logging fails; print the id, the count logged and
//!                                the error
//! journal_probe share ID N       wait for a line on stdin, then log N points of the key "k"
//!                                with `run.log` to run ID of the store in RUNCTX_HOME,
//!                                flushing every 500

use std::io::{BufRead, Write};

use run_runtime::{Run, Store};
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["fsize", bytes] => fsize(bytes.parse().expect("a size in bytes")),
        ["share", id, n] => share(id, n.parse().expect("a count")),
        other => panic!("unknown arguments {other:?}"),
    }
}

#[cfg(unix)]
fn fsize(bytes: u64) {
    // SAFETY: plain libc calls with valid arguments, before any other thread runs.
    unsafe {
        let limit = libc::rlimit {
            rlim_cur: bytes as libc::rlim_t,
            rlim_max: bytes as libc::rlim_t,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
        // Without this the kernel kills the process at the limit; with it, write fails (EFBIG).
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let run = Run::get_context().unwrap();
    println!("{}", json!({"id": run.id()}));
    std::io::stdout().flush().unwrap();
    // Bounded: the file limit is reached after about bytes / 31 points; far more than that
    // without an error is a failure of its own, reported as such.
    let most = bytes * 4;
    for i in 0..most {
        if let Err(e) = run.log("m", i as f64) {
            println!(
                "{}",
                json!({"id": run.id(), "logged": i, "error": e.to_string()})
            );
            return;
        }
    }
    println!("{}", json!({"id": run.id(), "logged": most, "error": null}));
}

#[cfg(not(unix))]
fn fsize(_bytes: u64) {
    panic!("file size limits are a Unix thing");
}

fn share(id: &str, n: i64) {
    let home = std::env::var("RUNCTX_HOME").expect("RUNCTX_HOME");
    let run = Store::new(home).attach(id).unwrap();
    // Both processes start logging together.
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).unwrap();
    for i in 0..n {
        run.log("k", i as f64).unwrap();
        if i % 500 == 499 {
            run.flush().unwrap();
        }
    }
    run.flush().unwrap();
    println!("{}", json!({"id": run.id(), "logged": n}));
}
