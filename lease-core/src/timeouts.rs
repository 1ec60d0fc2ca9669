//! Every timeout the protocols use, derived from `io_timeout` in this one place.
//!
//! The formulas are sanlock 3.8's (format spec §3). They are not tuning knobs: hosts running
//! sanlock and hosts running this engine share one lockspace, and each side's safety rests on
//! the other side waiting exactly as long as these formulas say.
//!
//! **"Other host" rule (spec §3, gotcha 13):** a wait that concerns another host uses *that
//! host's* io_timeout, read from the io_timeout field of its delta lease, falling back to the
//! local io_timeout when the field is 0. [`Timeouts::for_other_host`] is the only way to build
//! those.
//!
//! **Invariant:** `host_dead_seconds > id_renewal_fail_seconds`: a host whose renewals fail
//! starts killing its lease holders (fail) strictly before any other host may take its leases
//! (dead). Asserted in [`Timeouts::new`].

use std::time::Duration;

/// sanlock's default io_timeout (seconds).
pub const DEFAULT_IO_TIMEOUT_SECONDS: u32 = 10;
/// sanlock's default watchdog fire timeout (seconds). All hosts must use the same value; sanlock
/// adds it to `host_dead_seconds` even when the watchdog is disabled (`-w 0`).
pub const DEFAULT_WATCHDOG_FIRE_TIMEOUT_SECONDS: u32 = 60;
/// sanlock's default kill grace (seconds): SIGTERM/killpath phase before SIGKILL.
pub const DEFAULT_KILL_GRACE_SECONDS: u32 = 40;
/// Upper bound on io_timeout accepted anywhere (the on-disk field is written as 8 bits on
/// acquire/renew, spec §3).
pub const IO_TIMEOUT_SECONDS_MAX: u32 = 255;

/// The derived timeouts for one io_timeout (spec §3 table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// io_timeout in seconds (never 0).
    pub io_timeout_seconds: u32,
    /// watchdog_fire_timeout in seconds.
    pub watchdog_fire_timeout_seconds: u32,
}

impl Timeouts {
    /// Timeouts for a local io_timeout. `io_timeout_seconds` must be in 1..=255 and the fire
    /// timeout non-zero; callers validate user input before this (an invalid value here is a bug).
    pub fn new(io_timeout_seconds: u32, watchdog_fire_timeout_seconds: u32) -> Timeouts {
        assert!((1..=IO_TIMEOUT_SECONDS_MAX).contains(&io_timeout_seconds));
        assert!(watchdog_fire_timeout_seconds > 0);
        let t = Timeouts {
            io_timeout_seconds,
            watchdog_fire_timeout_seconds,
        };
        // Fail (kill holders) strictly before dead (others may take leases).
        assert!(t.host_dead_seconds() > t.id_renewal_fail_seconds());
        t
    }

    /// Timeouts that apply to another host whose delta lease carries `stored_io_timeout`
    /// (0 means "not recorded": use ours).
    pub fn for_other_host(&self, stored_io_timeout: u16) -> Timeouts {
        let io = match u32::from(stored_io_timeout) {
            0 => self.io_timeout_seconds,
            io => io.min(IO_TIMEOUT_SECONDS_MAX),
        };
        Timeouts::new(io, self.watchdog_fire_timeout_seconds)
    }

    fn io(&self) -> u64 {
        u64::from(self.io_timeout_seconds)
    }

    /// The per-I/O deadline.
    pub fn io_timeout(&self) -> Duration {
        Duration::from_secs(self.io())
    }
    /// Renewal interval: 2·io.
    pub fn id_renewal_seconds(&self) -> u64 {
        2 * self.io()
    }
    /// Renewal warnings start: 6·io.
    pub fn id_renewal_warn_seconds(&self) -> u64 {
        6 * self.io()
    }
    /// Local recovery (killing lease holders) starts: 8·io after the last good renewal.
    pub fn id_renewal_fail_seconds(&self) -> u64 {
        8 * self.io()
    }
    /// Other hosts may take this host's leases: 8·io + watchdog fire timeout.
    pub fn host_dead_seconds(&self) -> u64 {
        8 * self.io() + u64::from(self.watchdog_fire_timeout_seconds)
    }
    /// Chockler–Malkhi D + 6d with D = renewal interval: 8·io.
    pub fn delta_large_delay_seconds(&self) -> u64 {
        self.id_renewal_seconds() + 6 * self.io()
    }
    /// The re-read delay after writing a delta lease: 2·io.
    pub fn delta_short_delay_seconds(&self) -> u64 {
        2 * self.io()
    }
    /// Wait before taking over a delta lease held by another instance:
    /// max(host_dead_seconds, delta_large_delay).
    pub fn delta_acquire_held_wait_seconds(&self) -> u64 {
        self.host_dead_seconds()
            .max(self.delta_large_delay_seconds())
    }
    /// How long a bit set in our bitmap stays set by default: 6·io.
    pub fn set_bitmap_seconds(&self) -> u64 {
        6 * self.io()
    }
    /// Deadline of the renewal read: io_timeout plus sanlock's `renewal_read_extend_sec`
    /// (default io_timeout). sanlock lets a renewal read time out at io_timeout and then reaps
    /// the same late read for up to the extension in the next attempt; one read with the
    /// summed deadline tolerates the same slow storage (format spec §4.3; sanlock commit
    /// 0257ef1). Safety does not depend on it: the fail deadline is unchanged.
    pub fn renewal_read_timeout(&self) -> Duration {
        Duration::from_secs(2 * self.io())
    }

    /// Deadline of the renewal write: host_dead_seconds of our own io_timeout.
    pub fn renewal_write_timeout(&self) -> Duration {
        Duration::from_secs(self.host_dead_seconds())
    }
    /// Upper bound sanlock documents for acquiring a held delta lease.
    pub fn delta_acquire_held_max_seconds(&self) -> u64 {
        self.delta_acquire_held_wait_seconds() + 2 * self.io() + 4 * self.io()
    }
    /// Upper bound sanlock documents for acquiring a free delta lease.
    pub fn delta_acquire_free_max_seconds(&self) -> u64 {
        2 * self.io() + 3 * self.io()
    }
    /// Upper bound on acquiring a paxos lease held by a dead host.
    pub fn paxos_acquire_held_max_seconds(&self) -> u64 {
        self.host_dead_seconds() + 7 * self.io()
    }
    /// Upper bound on acquiring a free paxos lease (six I/Os).
    pub fn paxos_acquire_free_max_seconds(&self) -> u64 {
        6 * self.io()
    }
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts::new(
            DEFAULT_IO_TIMEOUT_SECONDS,
            DEFAULT_WATCHDOG_FIRE_TIMEOUT_SECONDS,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of spec §3, columns io=5, 10, 20.
    #[test]
    fn matches_the_spec_table() {
        for (io, renew, warn, fail, dead, large, short, held, bitmap) in [
            (5, 10, 30, 40, 100, 40, 10, 100, 30),
            (10, 20, 60, 80, 140, 80, 20, 140, 60),
            (20, 40, 120, 160, 220, 160, 40, 220, 120),
        ] {
            let t = Timeouts::new(io, 60);
            assert_eq!(t.id_renewal_seconds(), renew);
            assert_eq!(t.id_renewal_warn_seconds(), warn);
            assert_eq!(t.id_renewal_fail_seconds(), fail);
            assert_eq!(t.host_dead_seconds(), dead);
            assert_eq!(t.delta_large_delay_seconds(), large);
            assert_eq!(t.delta_short_delay_seconds(), short);
            assert_eq!(t.delta_acquire_held_wait_seconds(), held);
            assert_eq!(t.set_bitmap_seconds(), bitmap);
            assert_eq!(t.renewal_write_timeout(), Duration::from_secs(dead));
        }
    }

    #[test]
    fn other_host_uses_its_stored_io_timeout_or_ours() {
        let ours = Timeouts::new(1, 60);
        assert_eq!(ours.for_other_host(10).host_dead_seconds(), 140);
        assert_eq!(ours.for_other_host(0).host_dead_seconds(), 68);
    }
}
