//! Sustained offline logging: N metrics logged and flushed to the journal, against the floor of
//! the simplest possible loop writing the same records as JSON lines through a `BufWriter`.
//!
//! `cargo bench -p run-runtime --bench journal_throughput`
//! (`-- 1000000 10000000` picks the counts; the default is both of those.)
//!
//! Each measurement runs in a child process of its own, so its peak memory (VmHWM) is its own:
//! the journal's peak must not grow with the count. Figures are medians of 3 runs, and both
//! variants run alternately in the same invocation, so their ratio is fair on a noisy machine.

use std::io::Write;
use std::process::Command;
use std::time::Instant;

const REPEATS: usize = 3;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.first().map(String::as_str) == Some("child") {
        let n: u64 = args[2].parse().expect("count");
        child(&args[1], n);
        return;
    }
    let counts: Vec<u64> = if args.is_empty() {
        vec![1_000_000, 10_000_000]
    } else {
        args.iter()
            .map(|a| a.parse().expect("counts are numbers"))
            .collect()
    };
    println!("| metrics | variant | seconds | metrics/s | peak RSS (MiB) | bytes on disk |");
    println!("| ---: | --- | ---: | ---: | ---: | ---: |");
    for n in counts {
        let mut results: Vec<(&str, Vec<Measure>)> = vec![("journal", vec![]), ("jsonl", vec![])];
        for _ in 0..REPEATS {
            for (variant, runs) in &mut results {
                runs.push(measure(variant, n));
            }
        }
        let mut rates = Vec::new();
        for (variant, runs) in &mut results {
            runs.sort_by(|a, b| a.secs.total_cmp(&b.secs));
            let m = &runs[runs.len() / 2];
            let rate = n as f64 / m.secs;
            rates.push(rate);
            println!(
                "| {n} | {variant} | {:.3} | {:.2} M | {:.1} | {} |",
                m.secs,
                rate / 1e6,
                m.peak_kib as f64 / 1024.0,
                m.bytes
            );
        }
        println!(
            "| {n} | journal / jsonl | | {:.2}x | | |",
            rates[0] / rates[1]
        );
    }
}

struct Measure {
    secs: f64,
    peak_kib: u64,
    bytes: u64,
}

fn measure(variant: &str, n: u64) -> Measure {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["child", variant, &n.to_string()])
        .output()
        .expect("run the child");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let v: Vec<f64> = text
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    Measure {
        secs: v[0],
        peak_kib: v[1] as u64,
        bytes: v[2] as u64,
    }
}

fn child(variant: &str, n: u64) {
    let dir = tempfile::tempdir().unwrap();
    let keys = ["train/loss", "train/accuracy", "lr", "grad_norm"];
    let start = Instant::now();
    let bytes = match variant {
        "journal" => {
            let store = run_runtime::Store::new(dir.path());
            let run = store.start_run("bench", "throughput").unwrap();
            for i in 0..n {
                run.log(keys[(i & 3) as usize], i as f64 * 0.5).unwrap();
            }
            run.flush().unwrap();
            let bytes = std::fs::metadata(run.dir().join("journal.rj"))
                .unwrap()
                .len();
            // Ended by the exit handler, outside the measurement.
            std::mem::forget(run);
            bytes
        }
        "jsonl" => {
            let path = dir.path().join("metrics.jsonl");
            let file = std::fs::File::create(&path).unwrap();
            let mut w = std::io::BufWriter::with_capacity(1 << 16, file);
            let mut steps = [0u64; 4];
            for i in 0..n {
                let k = (i & 3) as usize;
                let ts = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis();
                writeln!(
                    w,
                    "{{\"key\":\"{}\",\"value\":{},\"timestamp\":{ts},\"step\":{}}}",
                    keys[k],
                    i as f64 * 0.5,
                    steps[k]
                )
                .unwrap();
                steps[k] += 1;
            }
            let file = w.into_inner().unwrap();
            file.sync_data().unwrap();
            std::fs::metadata(&path).unwrap().len()
        }
        other => panic!("unknown variant {other}"),
    };
    let secs = start.elapsed().as_secs_f64();
    println!("{secs} {} {bytes}", peak_kib());
}

fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
