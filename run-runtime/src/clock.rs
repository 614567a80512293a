//! Wall-clock milliseconds for record timestamps, cheap enough for the logging hot path.
//!
//! `SystemTime::now()` costs about 50 ns on the machines this was measured on, as much as the
//! whole budget of `run.log`. On Linux the coarse real-time clock is read from the vDSO in a few
//! nanoseconds; its resolution is the kernel tick (1 to 4 ms), finer than anything a metric
//! timestamp is used for. Order within a series comes from the step, never from the time.

/// Milliseconds since the Unix epoch.
#[inline]
pub(crate) fn now_ms() -> i64 {
    imp::now_ms()
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    #[inline]
    pub(crate) fn now_ms() -> i64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; CLOCK_REALTIME_COARSE exists on every
        // Linux since 2.6.32 and cannot fail with a valid pointer.
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
        ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod imp {
    use std::time::{SystemTime, UNIX_EPOCH};

    pub fn now_ms() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn agrees_with_the_system_clock_within_a_tick() {
        let precise = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let coarse = super::now_ms();
        assert!(
            (precise - coarse).abs() < 50,
            "precise {precise}, coarse {coarse}"
        );
    }
}
