//! Kafka's `Throttler` for `log.cleaner.io.max.bytes.per.second`: the cleaner threads report
//! the bytes they read and write, and sleep whenever the rate measured over the last check
//! interval is above the limit, so compaction leaves disk bandwidth to produce and fetch.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How often the rate is checked (Kafka's cleaner uses 300 ms).
const CHECK_INTERVAL: Duration = Duration::from_millis(300);

/// Bytes counted since the window began.
struct Window {
    started: Instant,
    observed: f64,
}

/// A rate limiter shared by all cleaner threads.
pub struct Throttler {
    /// Bytes per second allowed; `f64::MAX` (Kafka's default) means unlimited.
    desired_rate: f64,
    /// The current measuring window.
    window: Mutex<Window>,
}

impl Throttler {
    /// A throttler allowing `bytes_per_second`.
    pub fn new(bytes_per_second: f64) -> Throttler {
        Throttler {
            desired_rate: bytes_per_second,
            window: Mutex::new(Window {
                started: Instant::now(),
                observed: 0.0,
            }),
        }
    }

    /// Counts `bytes` of I/O and sleeps if the rate over the window exceeds the limit. Returns
    /// how long it slept.
    pub fn maybe_throttle(&self, bytes: f64) -> Duration {
        if !(self.desired_rate.is_finite() && self.desired_rate > 0.0) {
            return Duration::ZERO;
        }
        let sleep = {
            let mut window = self.window.lock();
            window.observed += bytes;
            let elapsed = window.started.elapsed();
            if elapsed < CHECK_INTERVAL {
                return Duration::ZERO;
            }
            let rate = window.observed / elapsed.as_secs_f64();
            let sleep = if rate > self.desired_rate {
                // Sleep long enough that the window's average comes down to the limit.
                let wanted = window.observed / self.desired_rate;
                Duration::from_secs_f64((wanted - elapsed.as_secs_f64()).clamp(0.0, 60.0))
            } else {
                Duration::ZERO
            };
            window.started = Instant::now() + sleep;
            window.observed = 0.0;
            sleep
        };
        if !sleep.is_zero() {
            std::thread::sleep(sleep);
        }
        sleep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_never_sleeps() {
        let t = Throttler::new(f64::MAX);
        assert_eq!(t.maybe_throttle(1e12), Duration::ZERO);
    }

    #[test]
    fn sleeps_when_over_the_rate() {
        let t = Throttler::new(1_000_000.0);
        assert_eq!(t.maybe_throttle(100.0), Duration::ZERO, "within the window");
        std::thread::sleep(CHECK_INTERVAL);
        // About 0.3 s elapsed; 1 MB more makes ~1 MB in the window: ~0.7 s of sleep due.
        let slept = t.maybe_throttle(1_000_000.0);
        assert!(slept > Duration::from_millis(100), "{slept:?}");
        assert_eq!(t.maybe_throttle(10.0), Duration::ZERO, "new window");
    }
}
