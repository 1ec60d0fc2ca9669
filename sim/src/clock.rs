//! True time and per-host monotonic clocks.
//!
//! [`TrueTime`] is the simulator's global time in milliseconds. Only the simulator and the
//! invariant checkers see it; operations only ever see their host's [`HostClock`] reading (a
//! `lease_core::time::MonoTime`), exactly as the daemon sees `CLOCK_MONOTONIC`.
//!
//! A host clock is piecewise linear in true time: on each segment it runs at rate
//! `1 + drift_ppm / 10^6` after an optional stand-still (a *freeze* step). Steps start a new
//! segment:
//! * a forward step makes the clock jump ahead (e.g. resume from a suspend that the clock
//!   counts);
//! * a freeze step holds the clock still for a while (e.g. a suspend that `CLOCK_MONOTONIC`
//!   does not count); a monotonic clock never goes backwards, so this is how "backwards" is
//!   modelled.
//!
//! Steps violate the timing assumptions of delta leases (bounded drift) and are off in safety
//! runs (see `faults`). A reboot gives the host a new clock (new origin, new drift): readings of
//! two boots are never compared, as on a real machine.
//!
//! **Invariants:** readings never decrease; between steps, local elapsed time differs from
//! true elapsed time by at most `|drift_ppm| * elapsed / 10^6` (+1 ms rounding).

use std::fmt;

use lease_core::time::MonoTime;

/// Simulated global ("true") time in milliseconds since the world started.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TrueTime(u64);

impl TrueTime {
    pub const ZERO: TrueTime = TrueTime(0);

    pub const fn from_millis(ms: u64) -> TrueTime {
        TrueTime(ms)
    }

    pub const fn from_secs(secs: u64) -> TrueTime {
        TrueTime(secs * 1000)
    }

    pub const fn as_millis(self) -> u64 {
        self.0
    }

    pub const fn plus_ms(self, ms: u64) -> TrueTime {
        TrueTime(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self`, zero if `earlier` is later.
    pub const fn ms_since(self, earlier: TrueTime) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Debug for TrueTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "T{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

impl fmt::Display for TrueTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Largest drift a clock may be given: far beyond any real oscillator, small enough that a
/// clock always runs forward.
pub const DRIFT_PPM_MAX: i64 = 100_000;

const PPM: u128 = 1_000_000;

/// One host's monotonic clock as a function of true time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostClock {
    /// True time at which the current segment starts.
    segment_true: TrueTime,
    /// Local reading at `segment_true`, in ms.
    segment_local_ms: u64,
    /// The clock stands still for this long after `segment_true` (a freeze step).
    freeze_ms: u64,
    /// Rate error: local runs `drift_ppm` millionths faster (negative: slower) than true time.
    drift_ppm: i64,
}

impl HostClock {
    /// A clock that reads `origin_local_ms` at true time `now` and drifts by `drift_ppm`.
    pub fn new(now: TrueTime, origin_local_ms: u64, drift_ppm: i64) -> HostClock {
        assert!(drift_ppm.abs() <= DRIFT_PPM_MAX, "drift {drift_ppm} ppm");
        HostClock {
            segment_true: now,
            segment_local_ms: origin_local_ms,
            freeze_ms: 0,
            drift_ppm,
        }
    }

    pub fn drift_ppm(&self) -> i64 {
        self.drift_ppm
    }

    fn rate_ppm(&self) -> u128 {
        u128::try_from(1_000_000 + self.drift_ppm).expect("rate positive")
    }

    /// The local reading at true time `t` (`t` not before the current segment).
    pub fn local_at(&self, t: TrueTime) -> MonoTime {
        assert!(t >= self.segment_true, "clock read before its segment");
        let running_ms = t.ms_since(self.segment_true).saturating_sub(self.freeze_ms);
        let elapsed = u128::from(running_ms) * self.rate_ppm() / PPM;
        let elapsed = u64::try_from(elapsed).expect("elapsed fits u64");
        MonoTime::from_millis(self.segment_local_ms + elapsed)
    }

    /// The earliest true time at or after `not_before` at which the clock reads at least
    /// `local`.
    pub fn true_at(&self, local: MonoTime, not_before: TrueTime) -> TrueTime {
        let not_before = not_before.max(self.segment_true);
        if self.local_at(not_before) >= local {
            return not_before;
        }
        let need = u128::from(local.as_millis() - self.segment_local_ms);
        // Smallest running time r with floor(r * rate / PPM) >= need.
        let running = (need * PPM).div_ceil(self.rate_ppm());
        let running = u64::try_from(running).expect("fits u64");
        let t = self.segment_true.plus_ms(self.freeze_ms + running);
        debug_assert!(self.local_at(t) >= local);
        debug_assert!(t.as_millis() == 0 || self.local_at(TrueTime(t.0 - 1)) < local);
        t.max(not_before)
    }

    /// Jump the clock forward by `ms` at true time `now`.
    pub fn step_forward(&mut self, now: TrueTime, ms: u64) {
        let local = self.local_at(now);
        self.segment_true = now;
        self.segment_local_ms = local.as_millis() + ms;
        self.freeze_ms = 0;
    }

    /// Hold the clock still for `ms` of true time from `now`.
    pub fn freeze(&mut self, now: TrueTime, ms: u64) {
        let local = self.local_at(now);
        self.segment_true = now;
        self.segment_local_ms = local.as_millis();
        self.freeze_ms = ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_stays_within_bound_and_inverse_is_exact() {
        for ppm in [-DRIFT_PPM_MAX, -100, 0, 37, 250, DRIFT_PPM_MAX] {
            let clock = HostClock::new(TrueTime::from_secs(5), 1_000, ppm);
            let mut last = MonoTime::ZERO;
            for t in (5_000..5_000 + 3_600_000).step_by(997) {
                let t = TrueTime::from_millis(t);
                let local = clock.local_at(t);
                assert!(local >= last, "monotonic");
                last = local;
                let true_elapsed = t.ms_since(TrueTime::from_secs(5)) as i128;
                let local_elapsed = (local.as_millis() - 1_000) as i128;
                let bound = ppm.unsigned_abs() as i128 * true_elapsed / 1_000_000 + 1;
                assert!((local_elapsed - true_elapsed).abs() <= bound);
                let back = clock.true_at(local, TrueTime::from_secs(5));
                assert!(back <= t && clock.local_at(back) == local);
            }
        }
    }

    #[test]
    fn steps_jump_or_freeze_but_never_go_back() {
        let mut clock = HostClock::new(TrueTime::ZERO, 0, 0);
        clock.step_forward(TrueTime::from_secs(10), 5_000);
        assert_eq!(clock.local_at(TrueTime::from_secs(10)).as_millis(), 15_000);
        clock.freeze(TrueTime::from_secs(20), 3_000);
        assert_eq!(clock.local_at(TrueTime::from_secs(22)).as_millis(), 25_000);
        assert_eq!(clock.local_at(TrueTime::from_secs(24)).as_millis(), 26_000);
        assert_eq!(
            clock.true_at(MonoTime::from_millis(25_500), TrueTime::from_secs(20)),
            TrueTime::from_millis(23_500)
        );
    }
}
