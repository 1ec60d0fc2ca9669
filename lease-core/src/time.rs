//! Local monotonic time as the protocols see it.
//!
//! `lease-core` never reads a clock: every protocol step receives `now` from its driver (the
//! daemon reads `CLOCK_MONOTONIC`, the simulator reads its per-host simulated clock).
//!
//! **Invariant:** a `MonoTime` is only ever compared with other readings of the *same* host's
//! clock. Timestamps written by other hosts are opaque values that are only checked for change
//! (format spec §9 gotcha 12); they never become a `MonoTime`.

use std::fmt;
use std::time::Duration;

/// A reading of one host's monotonic clock, in milliseconds since an arbitrary origin.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MonoTime(u64);

impl MonoTime {
    /// The clock's origin.
    pub const ZERO: MonoTime = MonoTime(0);

    pub const fn from_millis(ms: u64) -> MonoTime {
        MonoTime(ms)
    }

    pub const fn from_secs(secs: u64) -> MonoTime {
        MonoTime(secs.saturating_mul(1000))
    }

    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Whole seconds, the unit of on-disk timestamps (sanlock's `monotime()`).
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// Time elapsed since `earlier`, zero if `earlier` is in the future.
    pub fn saturating_since(self, earlier: MonoTime) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, saturating at the end of time.
    pub fn saturating_add(self, d: Duration) -> MonoTime {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        MonoTime(self.0.saturating_add(ms))
    }
}

impl fmt::Debug for MonoTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}

impl fmt::Display for MonoTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_truncate_and_arithmetic_saturates() {
        let t = MonoTime::from_millis(1999);
        assert_eq!(t.as_secs(), 1);
        assert_eq!(t.saturating_add(Duration::from_millis(1)).as_secs(), 2);
        assert_eq!(MonoTime::ZERO.saturating_since(t), Duration::ZERO);
        assert_eq!(
            t.saturating_since(MonoTime::ZERO),
            Duration::from_millis(1999)
        );
        assert_eq!(
            MonoTime::from_millis(u64::MAX)
                .saturating_add(Duration::MAX)
                .as_millis(),
            u64::MAX
        );
    }
}
