//! In-memory shared disks and a virtual clock, for unit tests of the protocols.
//!
//! [`MemDisks`] is a set of shared disks: several hosts' operations may run against the same
//! `MemDisks` (through [`MemDisks::clone`], which shares the bytes), and every write lands
//! whole-sector-atomically, as the format assumes of real devices. It is deliberately
//! simple: delayed landing and concurrent scheduling belong to the simulator (`sim`); a test
//! picks single I/O errors with [`Faulty`].
//!
//! **Invariant:** I/O must be sector aligned; a misaligned request is answered with `EINVAL`,
//! like O_DIRECT on a real device, and changes nothing.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::seam::{BlockStorage, Bytes, Clock, Io, IoFailure, IoOutcome, Operation, Resume, Step};
use crate::time::MonoTime;

const EINVAL: i32 = 22;
const EIO: i32 = 5;

#[derive(Debug)]
struct Disk {
    bytes: Vec<u8>,
    failing: bool,
}

/// Shared in-memory disks. Cloning shares the same disks.
#[derive(Clone, Debug)]
pub struct MemDisks {
    sector_size: u64,
    disks: Rc<RefCell<Vec<Disk>>>,
}

impl MemDisks {
    /// `disk_count` zeroed disks of `size_bytes` each, with `sector_size`-byte sectors.
    pub fn new(disk_count: usize, size_bytes: u64, sector_size: u64) -> MemDisks {
        assert!(sector_size == 512 || sector_size == 4096);
        assert_eq!(size_bytes % sector_size, 0);
        let len = usize::try_from(size_bytes).expect("disk fits in memory");
        let disks = (0..disk_count)
            .map(|_| Disk {
                bytes: vec![0; len],
                failing: false,
            })
            .collect();
        MemDisks {
            sector_size,
            disks: Rc::new(RefCell::new(disks)),
        }
    }

    /// Make every later I/O to `disk` fail with EIO (or work again).
    pub fn set_failing(&self, disk: usize, failing: bool) {
        self.disks.borrow_mut()[disk].failing = failing;
    }

    /// Copy of `len` bytes at `offset` of `disk` (test inspection; no alignment rules).
    pub fn peek(&self, disk: usize, offset: u64, len: u64) -> Vec<u8> {
        let disks = self.disks.borrow();
        let (start, end) = (offset as usize, (offset + len) as usize);
        disks[disk].bytes[start..end].to_vec()
    }

    /// Overwrite bytes at `offset` of `disk` directly (test set-up and corruption).
    pub fn poke(&self, disk: usize, offset: u64, data: &[u8]) {
        let mut disks = self.disks.borrow_mut();
        let start = offset as usize;
        disks[disk].bytes[start..start + data.len()].copy_from_slice(data);
    }

    fn one(&self, io: &Io) -> IoOutcome {
        let mut disks = self.disks.borrow_mut();
        let (disk, offset, len) = match io {
            Io::Read { disk, offset, len } => (*disk, *offset, *len),
            Io::Write { disk, offset, data } => (*disk, *offset, data.len() as u64),
        };
        let Some(target) = disks.get_mut(disk) else {
            return IoOutcome::Failed(IoFailure::Error { errno: EINVAL });
        };
        if target.failing {
            return IoOutcome::Failed(IoFailure::Error { errno: EIO });
        }
        let aligned = offset % self.sector_size == 0 && len % self.sector_size == 0 && len > 0;
        let end = offset
            .checked_add(len)
            .filter(|&end| end <= target.bytes.len() as u64);
        let Some(end) = end.filter(|_| aligned) else {
            return IoOutcome::Failed(IoFailure::Error { errno: EINVAL });
        };
        let range = offset as usize..end as usize;
        match io {
            Io::Read { .. } => IoOutcome::Read(Bytes::copy_from_slice(&target.bytes[range])),
            Io::Write { data, .. } => {
                target.bytes[range].copy_from_slice(data);
                IoOutcome::Written
            }
        }
    }
}

impl BlockStorage for MemDisks {
    fn submit(&mut self, ios: &[Io], _timeout: Duration) -> Vec<IoOutcome> {
        ios.iter().map(|io| self.one(io)).collect()
    }
}

/// What [`Faulty`] does with one I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The I/O goes to the disks.
    Pass,
    /// The I/O never reaches the disks and is reported as EIO.
    Lost,
    /// The I/O reaches the disks but is reported as EIO (a write that landed anyway).
    Landed,
}

/// [`MemDisks`] whose I/O errors a test chooses: `fault` is asked about each I/O, in order.
pub struct Faulty<F> {
    pub disks: MemDisks,
    pub fault: F,
}

impl<F> std::fmt::Debug for Faulty<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faulty")
            .field("disks", &self.disks)
            .finish_non_exhaustive()
    }
}

impl<F: FnMut(&Io) -> Fault> BlockStorage for Faulty<F> {
    fn submit(&mut self, ios: &[Io], _timeout: Duration) -> Vec<IoOutcome> {
        let eio = || IoOutcome::Failed(IoFailure::Error { errno: EIO });
        ios.iter()
            .map(|io| match (self.fault)(io) {
                Fault::Pass => self.disks.one(io),
                Fault::Lost => eio(),
                Fault::Landed => {
                    self.disks.one(io);
                    eio()
                }
            })
            .collect()
    }
}

/// A clock that only moves when slept on (or advanced by the test). Jitter is taken as zero,
/// so runs are exactly repeatable.
#[derive(Clone, Debug, Default)]
pub struct VirtualClock {
    now: Rc<RefCell<MonoTime>>,
}

impl VirtualClock {
    pub fn starting_at(t: MonoTime) -> VirtualClock {
        VirtualClock {
            now: Rc::new(RefCell::new(t)),
        }
    }

    /// Move time forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut now = self.now.borrow_mut();
        *now = now.saturating_add(d);
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> MonoTime {
        *self.now.borrow()
    }

    fn sleep_until(&mut self, until: MonoTime, _jitter: Duration) {
        let mut now = self.now.borrow_mut();
        *now = (*now).max(until);
    }
}

/// Drives one operation a step at a time on [`MemDisks`], so a test can interleave several
/// hosts' operations in any order it chooses.
#[derive(Debug)]
pub struct Stepper<O: Operation> {
    op: O,
    disks: MemDisks,
    pending: Option<Step<O::Output>>,
}

impl<O: Operation> Stepper<O> {
    /// Start `op` at local time `now`.
    pub fn start(mut op: O, disks: &MemDisks, now: MonoTime) -> Stepper<O> {
        let pending = Some(op.resume(now, Resume::Start));
        Stepper {
            op,
            disks: disks.clone(),
            pending,
        }
    }

    /// Execute the pending step at local time `now` (its I/O, or its wake-up, which requires
    /// `now` to be past the sleep). Returns the output once the operation is done.
    pub fn advance(&mut self, now: MonoTime) -> Option<O::Output> {
        let input = match self.pending.take().expect("operation already finished") {
            Step::Done(out) => return Some(out),
            Step::Io { ios, timeout } => Resume::Io(self.disks.submit(&ios, timeout)),
            Step::Sleep { until, .. } => {
                assert!(now >= until, "woken early");
                Resume::Woke
            }
        };
        match self.op.resume(now, input) {
            Step::Done(out) => Some(out),
            step => {
                self.pending = Some(step);
                None
            }
        }
    }

    /// The wake-up time if the operation is sleeping.
    pub fn sleeping_until(&self) -> Option<MonoTime> {
        match &self.pending {
            Some(Step::Sleep { until, .. }) => Some(*until),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seam::{run_blocking, Operation, Resume, Step};

    /// A toy operation that writes a sector, sleeps, and reads it back: exercises the seam.
    struct WriteSleepRead {
        state: u8,
    }

    impl Operation for WriteSleepRead {
        type Output = Result<Vec<u8>, IoFailure>;
        fn name(&self) -> &'static str {
            "write_sleep_read"
        }
        fn resume(&mut self, now: MonoTime, input: Resume) -> Step<Self::Output> {
            let timeout = Duration::from_secs(10);
            self.state += 1;
            match (self.state, input) {
                (1, Resume::Start) => Step::Io {
                    ios: vec![Io::Write {
                        disk: 0,
                        offset: 512,
                        data: vec![7; 512],
                    }],
                    timeout,
                },
                (2, Resume::Io(out)) if out == [IoOutcome::Written] => Step::Sleep {
                    until: now.saturating_add(Duration::from_secs(20)),
                    jitter: Duration::ZERO,
                },
                (3, Resume::Woke) => {
                    assert!(now >= MonoTime::from_secs(20));
                    Step::Io {
                        ios: vec![Io::Read {
                            disk: 0,
                            offset: 0,
                            len: 1024,
                        }],
                        timeout,
                    }
                }
                (4, Resume::Io(mut out)) => match out.pop() {
                    Some(IoOutcome::Read(bytes)) => Step::Done(Ok(bytes.to_vec())),
                    Some(IoOutcome::Failed(why)) => Step::Done(Err(why)),
                    other => panic!("unexpected {other:?}"),
                },
                (state, input) => panic!("state {state} got {input:?}"),
            }
        }
    }

    #[test]
    fn blocking_driver_runs_an_operation_on_shared_mem_disks() {
        let disks = MemDisks::new(1, 4096, 512);
        let mut clock = VirtualClock::default();
        let got = run_blocking(
            &mut WriteSleepRead { state: 0 },
            &mut disks.clone(),
            &mut clock,
        );
        let bytes = got.expect("read works");
        assert_eq!(&bytes[..512], &[0; 512][..]);
        assert_eq!(&bytes[512..], &[7; 512][..]);
        assert_eq!(clock.now(), MonoTime::from_secs(20));
        // The write is visible through every clone.
        assert_eq!(disks.peek(0, 512, 1), vec![7]);
    }

    #[test]
    fn misaligned_and_failing_io_is_refused_without_change() {
        let mut disks = MemDisks::new(1, 4096, 512);
        let out = disks.submit(
            &[Io::Write {
                disk: 0,
                offset: 100,
                data: vec![1; 512],
            }],
            Duration::ZERO,
        );
        assert_eq!(
            out,
            vec![IoOutcome::Failed(IoFailure::Error { errno: EINVAL })]
        );
        assert_eq!(disks.peek(0, 0, 4096), vec![0; 4096]);
        disks.set_failing(0, true);
        let out = disks.submit(
            &[Io::Read {
                disk: 0,
                offset: 0,
                len: 512,
            }],
            Duration::ZERO,
        );
        assert_eq!(
            out,
            vec![IoOutcome::Failed(IoFailure::Error { errno: EIO })]
        );
    }
}
