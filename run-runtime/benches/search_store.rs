//! A store of many runs: `Store::search` with a metric filter, and listing (a search without a
//! filter), warm, with the peak memory of the process.
//!
//! `cargo bench -p run-runtime --bench search_store -- DIR [RUNS]`
//!
//! The store in DIR is built first if it does not hold RUNS runs yet (default 100,000), each
//! with 10 metrics (one point each), 5 tags and 2 properties, through the public API. The first
//! search builds every run's overview from its journal; the figures are the searches after it
//! (median of 5), which read overviews only. `runctx list --store DIR` and the MLflow side of
//! the comparison are run by hand (docs/benchmarks.md).

use std::path::Path;
use std::time::Instant;

use run_runtime::Store;

const REPEATS: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let dir = args
        .first()
        .expect("usage: search_store DIR [RUNS]")
        .clone();
    let runs: usize = args.get(1).map_or(100_000, |n| n.parse().expect("RUNS"));
    let store = Store::new(&dir);
    build(&store, Path::new(&dir), runs);

    let filter = "metrics.m0 > 0.99 and tags.t1 = 'v1'";
    let cold = time(|| {
        store
            .search(filter, &["metrics.m0 DESC"], 1000, None)
            .unwrap()
            .runs
            .len()
    });
    println!(
        "first search (overviews built where missing): {:.3} s",
        cold.0
    );
    let mut cases = Vec::new();
    for (what, filter, order) in [
        (
            "list: every run, start order",
            "",
            &["attributes.start_time"][..],
        ),
        (
            "metric filter, ordered by the metric",
            filter,
            &["metrics.m0 DESC"][..],
        ),
    ] {
        let mut seconds: Vec<f64> = (0..REPEATS)
            .map(|_| {
                time(|| {
                    store
                        .search(filter, order, 50_000, None)
                        .unwrap()
                        .runs
                        .len()
                })
                .0
            })
            .collect();
        seconds.sort_by(f64::total_cmp);
        let found = store
            .search(filter, order, 50_000, None)
            .unwrap()
            .runs
            .len();
        cases.push((what, seconds[REPEATS / 2], found));
    }
    println!("| {runs} runs, warm | seconds (median of {REPEATS}) | runs in the first page |");
    println!("| --- | ---: | ---: |");
    for (what, s, found) in cases {
        println!("| {what} | {s:.3} | {found} |");
    }
    println!("peak RSS: {} MiB", peak_rss_kib() / 1024);
}

fn time<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed().as_secs_f64(), out)
}

/// Makes runs until the store has `runs`.
fn build(store: &Store, dir: &Path, runs: usize) {
    let have = store.ids().unwrap().len();
    if have >= runs {
        return;
    }
    let start = Instant::now();
    for i in have..runs {
        let run = store.start_run("bench", &format!("run-{i}")).unwrap();
        for m in 0..10 {
            // Deterministic values spread over [0, 1).
            let v = ((i * 7919 + m * 104_729) % 10_007) as f64 / 10_007.0;
            run.log(&format!("m{m}"), v).unwrap();
        }
        for t in 0..5 {
            run.tag(&format!("t{t}"), format!("v{}", (i + t) % 10))
                .unwrap();
        }
        run.add_property("model", ["knn", "svm", "mlp"][i % 3])
            .unwrap();
        run.add_property("seed", i).unwrap();
        run.complete().unwrap();
        if (i + 1) % 10_000 == 0 {
            eprintln!("{} runs in {:.0} s", i + 1, start.elapsed().as_secs_f64());
        }
    }
    eprintln!("built {} runs in {dir:?}", runs);
}

/// The process's peak resident memory (VmHWM), in KiB; 0 where /proc is missing.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
