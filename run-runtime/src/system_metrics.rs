//! System metrics: readings of the machine (CPU, memory, disk, network and, with the `gpu`
//! feature, NVIDIA GPUs) that a background thread logs to a run under MLflow's own names, so
//! that the MLflow UI's "System metrics" tab shows them.
//!
//! The names, units and computations are those of MLflow 3's `mlflow.system_metrics` (psutil
//! there, the `sysinfo` crate here, and `statvfs` for the disk as psutil does): megabytes are
//! 10^6 bytes; CPU utilisation is the whole machine's since the previous sample; the network
//! counts are cumulative since sampling started; the disk is the file system of `/`, its used
//! space the blocks not free, its available space what an unprivileged user may still write.
//! One difference from psutil: used memory is total minus available (psutil subtracts free,
//! buffers and cache on Linux, which comes to nearly the same).
//!
//! Each sample is logged at the next step (0, 1, 2, ...) as MLflow does, after every interval,
//! and once more when sampling stops (the run ends), so even a run shorter than the interval
//! has a sample.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sysinfo::{Networks, System};

use crate::error::{Error, Result};
use crate::process::lock;
use crate::run::{Run, RunInner};

/// MLflow's default sampling interval.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// The longest interval accepted: a day (longer would be a mistake, such as milliseconds given
/// as seconds).
const MAX_INTERVAL: Duration = Duration::from_secs(86_400);
/// The shortest: MLflow's CPU reading (and sysinfo's) needs time between two samples to mean
/// anything, and a faster sampler would cost more than the 1% of a core it is allowed.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// The metric names, exactly MLflow's.
pub const CPU_UTILIZATION: &str = "system/cpu_utilization_percentage";
/// Memory in use, MB.
pub const MEMORY_USAGE_MB: &str = "system/system_memory_usage_megabytes";
/// Memory in use, percent of the total.
pub const MEMORY_USAGE_PERCENT: &str = "system/system_memory_usage_percentage";
/// Disk space in use on `/`, MB.
pub const DISK_USAGE_MB: &str = "system/disk_usage_megabytes";
/// Disk space in use on `/`, percent.
pub const DISK_USAGE_PERCENT: &str = "system/disk_usage_percentage";
/// Disk space available on `/`, MB.
pub const DISK_AVAILABLE_MB: &str = "system/disk_available_megabytes";
/// Bytes received on every interface since sampling started, MB.
pub const NETWORK_RECEIVE_MB: &str = "system/network_receive_megabytes";
/// Bytes sent on every interface since sampling started, MB.
pub const NETWORK_TRANSMIT_MB: &str = "system/network_transmit_megabytes";

/// Checks a sampling interval: from 100 ms to a day.
pub(crate) fn check_interval(what: &'static str, interval: Duration) -> Result<Duration> {
    if (MIN_INTERVAL..=MAX_INTERVAL).contains(&interval) {
        return Ok(interval);
    }
    Err(Error::InvalidArgument {
        what,
        value: format!("{interval:?}"),
        reason: "a sampling interval is from 100 ms to a day (MLflow's default is 10 s)".into(),
    })
}

/// What the sampler reads the machine with.
struct Readings {
    system: System,
    networks: Networks,
    /// Bytes received and sent when sampling started.
    network_start: (u64, u64),
    gpus: gpu::Gpus,
}

impl Readings {
    fn new() -> Readings {
        let mut system = System::new();
        // The first CPU reading is the baseline the next one is measured from.
        system.refresh_cpu_usage();
        let networks = Networks::new_with_refreshed_list();
        let network_start = network_totals(&networks);
        Readings {
            system,
            networks,
            network_start,
            gpus: gpu::Gpus::open(),
        }
    }

    /// One sample: every reading this machine has, by its MLflow name.
    fn sample(&mut self) -> Vec<(String, f64)> {
        let mb = |bytes: u64| bytes as f64 / 1e6;
        let percent = |part: u64, whole: u64| match whole {
            0 => 0.0,
            w => part as f64 / w as f64 * 100.0,
        };
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        let (total, used) = (self.system.total_memory(), self.system.used_memory());
        let mut out = vec![
            (
                CPU_UTILIZATION.to_owned(),
                f64::from(self.system.global_cpu_usage()),
            ),
            (MEMORY_USAGE_MB.to_owned(), mb(used)),
            (MEMORY_USAGE_PERCENT.to_owned(), percent(used, total)),
        ];
        if let Some((used, available)) = root_disk() {
            out.push((DISK_USAGE_MB.to_owned(), mb(used)));
            // psutil's percentage: of what a user can have, used plus available.
            out.push((
                DISK_USAGE_PERCENT.to_owned(),
                percent(used, used + available),
            ));
            out.push((DISK_AVAILABLE_MB.to_owned(), mb(available)));
        }
        self.networks.refresh(true);
        let (received, sent) = network_totals(&self.networks);
        out.push((
            NETWORK_RECEIVE_MB.to_owned(),
            mb(received.saturating_sub(self.network_start.0)),
        ));
        out.push((
            NETWORK_TRANSMIT_MB.to_owned(),
            mb(sent.saturating_sub(self.network_start.1)),
        ));
        self.gpus.sample(&mut out);
        out
    }
}

/// Bytes used and available to unprivileged users on the file system of `/`, as psutil's
/// `disk_usage` computes them (sysinfo has no count of free blocks, only of available ones, and
/// a file system that reserves blocks for root would show them as used).
#[cfg(unix)]
fn root_disk() -> Option<(u64, u64)> {
    // SAFETY: an all-zero statvfs is valid; statvfs fills it for a NUL-terminated path.
    let mut fs: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c"/".as_ptr(), &mut fs) } != 0 {
        return None;
    }
    let block = fs.f_frsize as u64;
    let used = (fs.f_blocks as u64).saturating_sub(fs.f_bfree as u64) * block;
    Some((used, fs.f_bavail as u64 * block))
}

#[cfg(not(unix))]
fn root_disk() -> Option<(u64, u64)> {
    None
}

fn network_totals(networks: &Networks) -> (u64, u64) {
    networks.list().values().fold((0, 0), |(r, t), data| {
        (r + data.total_received(), t + data.total_transmitted())
    })
}

/// The sampling thread of one run, and how to stop it.
pub(crate) struct Sampler {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    stop: Mutex<bool>,
    wake: Condvar,
    interval_ms: AtomicU64,
}

impl Sampler {
    /// Starts sampling every `interval` into `run` (held weakly: the sampler keeps no run
    /// alive), until [`Sampler::stop`] or the run ends.
    pub(crate) fn start(run: Weak<RunInner>, interval: Duration) -> Result<Sampler> {
        let shared = Arc::new(Shared {
            stop: Mutex::new(false),
            wake: Condvar::new(),
            interval_ms: AtomicU64::new(interval.as_millis() as u64),
        });
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("runctx-system-metrics".into())
            .spawn(move || sample_until_stopped(&run, &theirs))
            .map_err(|e| Error::io("start a thread for", "the system metrics sampler", e))?;
        Ok(Sampler {
            shared,
            thread: Some(thread),
        })
    }

    /// Samples every `interval` from the next sample on.
    pub(crate) fn set_interval(&self, interval: Duration) {
        let ms = interval.as_millis() as u64;
        self.shared.interval_ms.store(ms, Ordering::Relaxed);
        self.shared.wake.notify_all();
    }

    /// Takes a last sample and stops; returns once the thread has ended, unless it is the
    /// calling thread (the sampler's own handle was the run's last).
    pub(crate) fn stop(mut self) {
        *lock(&self.shared.stop) = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

fn sample_until_stopped(run: &Weak<RunInner>, shared: &Shared) {
    let mut readings = Readings::new();
    let mut step = 0i64;
    loop {
        let stopped = wait(shared);
        let Some(run) = Run::upgrade(run) else { return };
        if run.status().is_some() {
            return;
        }
        for (name, value) in readings.sample() {
            if let Err(e) = run.log_step(&name, value, step) {
                eprintln!(
                    "run-runtime: run {}: system metrics stop, {name} could not be logged: {e}",
                    run.id()
                );
                return;
            }
        }
        step += 1;
        if stopped {
            return;
        }
    }
}

/// Waits one interval, or until told to stop (`true`).
fn wait(shared: &Shared) -> bool {
    let start = Instant::now();
    let mut stop = lock(&shared.stop);
    loop {
        if *stop {
            return true;
        }
        let interval = Duration::from_millis(shared.interval_ms.load(Ordering::Relaxed));
        let Some(left) = interval
            .checked_sub(start.elapsed())
            .filter(|l| !l.is_zero())
        else {
            return false;
        };
        stop = shared
            .wake
            .wait_timeout(stop, left)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0;
    }
}

#[cfg(feature = "gpu")]
mod gpu {
    //! `system/gpu_<i>_*` through NVML, when the driver's library loads.

    use nvml_wrapper::Nvml;

    pub(super) struct Gpus(Option<Nvml>);

    impl Gpus {
        /// NVML, if this machine has the driver and at least one GPU.
        pub(super) fn open() -> Gpus {
            let nvml = Nvml::init()
                .ok()
                .filter(|n| n.device_count().is_ok_and(|c| c > 0));
            Gpus(nvml)
        }

        pub(super) fn sample(&self, out: &mut Vec<(String, f64)>) {
            let Some(nvml) = &self.0 else { return };
            for i in 0..nvml.device_count().unwrap_or(0) {
                let Ok(device) = nvml.device_by_index(i) else {
                    continue;
                };
                let mut put = |what: &str, v: f64| out.push((format!("system/gpu_{i}_{what}"), v));
                if let Ok(m) = device.memory_info() {
                    put("memory_usage_megabytes", m.used as f64 / 1e6);
                    if m.total > 0 {
                        put(
                            "memory_usage_percentage",
                            m.used as f64 / m.total as f64 * 100.0,
                        );
                    }
                }
                if let Ok(u) = device.utilization_rates() {
                    put("utilization_percentage", f64::from(u.gpu));
                }
                if let (Ok(power), Ok(limit)) =
                    (device.power_usage(), device.enforced_power_limit())
                {
                    put("power_usage_watts", f64::from(power) / 1000.0);
                    if limit > 0 {
                        put(
                            "power_usage_percentage",
                            f64::from(power) / f64::from(limit) * 100.0,
                        );
                    }
                }
            }
        }
    }
}

#[cfg(not(feature = "gpu"))]
mod gpu {
    //! Without the `gpu` feature there are no GPU readings.

    pub(super) struct Gpus;

    impl Gpus {
        pub(super) fn open() -> Gpus {
            Gpus
        }

        pub(super) fn sample(&self, _out: &mut Vec<(String, f64)>) {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_has_every_reading_under_mlflow_names_in_range() {
        let mut readings = Readings::new();
        let sample: std::collections::BTreeMap<String, f64> =
            readings.sample().into_iter().collect();
        for name in [
            CPU_UTILIZATION,
            MEMORY_USAGE_MB,
            MEMORY_USAGE_PERCENT,
            DISK_USAGE_MB,
            NETWORK_RECEIVE_MB,
            NETWORK_TRANSMIT_MB,
        ] {
            let v = sample[name];
            assert!(v.is_finite() && v >= 0.0, "{name} = {v}");
        }
        for name in [CPU_UTILIZATION, MEMORY_USAGE_PERCENT, DISK_USAGE_PERCENT] {
            assert!(sample[name] <= 100.0, "{name} = {}", sample[name]);
        }
        assert!(sample[MEMORY_USAGE_MB] > 1.0, "a machine uses some memory");
    }

    #[test]
    fn intervals_outside_100_ms_to_a_day_are_refused_with_the_rule() {
        assert!(check_interval("interval", Duration::from_secs(10)).is_ok());
        for bad in [
            Duration::ZERO,
            Duration::from_millis(99),
            Duration::from_secs(86_401),
        ] {
            let e = check_interval("interval", bad).unwrap_err().to_string();
            assert!(e.contains("from 100 ms to a day"), "{e}");
        }
    }
}
