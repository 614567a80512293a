//! The system metrics sampler's CPU cost: the CPU time of the whole process (the sampler
//! thread, and the journal writer taking its samples) while a run samples, less the same
//! process idle with a run that does not, as a share of one core.
//!
//! `cargo bench -p run-runtime --bench system_metrics`
//! (`-- SECONDS` sets how long each interval is measured; the default is 60.)
//!
//! Three intervals: MLflow's default 10 s (the target: under 1% of one core), 1 s, and 100 ms
//! (the shortest allowed), whose many samples also give the cost of one sample precisely.

use std::time::Duration;

use run_runtime::Store;

fn cpu_time() -> Duration {
    // SAFETY: an all-zero rusage is valid, and getrusage only fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// CPU time of the process over `window` with a run open, sampling every `interval` if given;
/// and the number of samples taken.
fn measure(store: &Store, interval: Option<Duration>, window: Duration) -> (Duration, usize) {
    let run = store.start_run("bench", "system-metrics").unwrap();
    let before = cpu_time();
    if let Some(interval) = interval {
        run.log_system_metrics(interval).unwrap();
    }
    std::thread::sleep(window);
    let used = cpu_time() - before;
    run.complete().unwrap();
    let samples = run
        .get_metrics()
        .unwrap()
        .get(run_runtime::system_metrics::CPU_UTILIZATION)
        .map_or(0, Vec::len);
    (used, samples)
}

fn main() {
    let seconds: u64 = std::env::args()
        .skip(1)
        .find(|a| a != "--bench")
        .map_or(60, |a| a.parse().expect("SECONDS is a whole number"));
    let window = Duration::from_secs(seconds);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    // The writer thread and the first run's set-up, out of the way of the first measurement.
    measure(&store, None, Duration::from_millis(100));
    println!(
        "| interval | window (s) | samples | CPU (ms) | idle CPU (ms) | share of one core | CPU per sample (ms) |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for interval in [10_000, 1_000, 100].map(Duration::from_millis) {
        let (idle, _) = measure(&store, None, window);
        let (used, samples) = measure(&store, Some(interval), window);
        let extra = used.saturating_sub(idle);
        let share = extra.as_secs_f64() / window.as_secs_f64() * 100.0;
        let per_sample = extra.as_secs_f64() * 1000.0 / samples.max(1) as f64;
        println!(
            "| {interval:?} | {seconds} | {samples} | {:.1} | {:.1} | {share:.3}% | {per_sample:.2} |",
            used.as_secs_f64() * 1000.0,
            idle.as_secs_f64() * 1000.0,
        );
    }
}
