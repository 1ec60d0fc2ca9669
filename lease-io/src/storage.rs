//! The blocking executor of `lease-core` operations on real devices.
//!
//! [`DeviceStorage`] implements `lease_core::seam::BlockStorage` over a list of open
//! [`Device`]s (disk index `i` of an operation is `devices[i]`), and [`MonotonicClock`]
//! implements `lease_core::seam::Clock` on `CLOCK_MONOTONIC`. Together with
//! `lease_core::seam::run_blocking` they run any protocol operation synchronously, which is
//! what `direct` commands need.
//!
//! **Limitation (by design of the blocking path):** a synchronous `pread`/`pwrite` cannot be
//! abandoned, so the per-I/O `timeout` of a step is not enforced here; an I/O that takes too
//! long simply makes the command slow. The daemon's engines (io_uring, and the thread-pool
//! fallback) enforce deadlines.

use std::time::{Duration, Instant};

use lease_core::seam::{BlockStorage, Clock, Io, IoFailure, IoOutcome};
use lease_core::time::MonoTime;

use crate::device::Device;

/// Open devices, indexed by the operations' disk index.
#[derive(Debug)]
pub struct DeviceStorage {
    devices: Vec<Device>,
}

impl DeviceStorage {
    pub fn new(devices: Vec<Device>) -> DeviceStorage {
        DeviceStorage { devices }
    }

    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    fn one(&self, io: &Io) -> IoOutcome {
        let disk = match io {
            Io::Read { disk, .. } | Io::Write { disk, .. } => *disk,
        };
        let Some(device) = self.devices.get(disk) else {
            return IoOutcome::Failed(IoFailure::Error {
                errno: libc::EINVAL,
            });
        };
        let result = match io {
            Io::Read { offset, len, .. } => match usize::try_from(*len) {
                Ok(len) => device
                    .read_at(*offset, len)
                    .map(|buf| IoOutcome::Read(buf.into_bytes())),
                Err(_) => {
                    return IoOutcome::Failed(IoFailure::Error {
                        errno: libc::EINVAL,
                    })
                }
            },
            Io::Write { offset, data, .. } => {
                device.write_at(*offset, data).map(|()| IoOutcome::Written)
            }
        };
        result.unwrap_or_else(|err| {
            IoOutcome::Failed(IoFailure::Error {
                errno: -err.errno(),
            })
        })
    }
}

impl BlockStorage for DeviceStorage {
    fn submit(&mut self, ios: &[Io], _timeout: Duration) -> Vec<IoOutcome> {
        ios.iter().map(|io| self.one(io)).collect()
    }
}

/// `CLOCK_MONOTONIC` as a `lease-core` clock (milliseconds since an arbitrary origin; the
/// origin is the kernel's, so timestamps written by different processes on one host agree).
#[derive(Debug, Default)]
pub struct MonotonicClock {
    /// State of a xorshift generator for sleep jitter (seeded from the clock).
    jitter_state: u64,
}

impl MonotonicClock {
    pub fn new() -> MonotonicClock {
        let seed = monotonic_now().as_millis() | 1;
        MonotonicClock {
            jitter_state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    fn jitter(&mut self, max: Duration) -> Duration {
        if max.is_zero() {
            return Duration::ZERO;
        }
        let mut x = self.jitter_state.max(1);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter_state = x;
        let max_us = u64::try_from(max.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(x % max_us.saturating_add(1))
    }
}

/// Read `CLOCK_MONOTONIC`.
pub fn monotonic_now() -> MonoTime {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    crate::sys::clock_monotonic(&mut ts);
    let ms = (ts.tv_sec as u64).saturating_mul(1000) + (ts.tv_nsec as u64) / 1_000_000;
    MonoTime::from_millis(ms)
}

impl Clock for MonotonicClock {
    fn now(&self) -> MonoTime {
        monotonic_now()
    }

    fn sleep_until(&mut self, until: MonoTime, jitter: Duration) {
        let until = until.saturating_add(self.jitter(jitter));
        let start = Instant::now();
        let wait = until.saturating_since(monotonic_now());
        while start.elapsed() < wait {
            std::thread::sleep(wait - start.elapsed());
        }
    }
}
