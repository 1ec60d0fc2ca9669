//! The seam between protocol logic and the world: sans-I/O operations.
//!
//! Every multi-step disk protocol (delta-lease acquire and renew, Disk Paxos acquire and
//! release, ...) is an [`Operation`]: a state machine that is *resumed* by a driver with the
//! current local time and the outcome of what it last asked for, and answers with the next
//! [`Step`]: I/O to issue, a time to sleep until, or its result.
//!
//! ```text
//! driver                                   lease-core operation
//!   | resume(now, Resume::Start) ------------> |
//!   | <----------- Step::Io { ios: [Read { disk 0, offset, len }], timeout }
//!   | (I/O completes, fails or times out)      |
//!   | resume(now, Resume::Io([Read(bytes)])) -> |
//!   | <----------- Step::Sleep { until, jitter }
//!   | resume(now, Resume::Woke) --------------> |
//!   | <----------- Step::Done(result)
//! ```
//!
//! Two drivers run the same operations: the daemon (on `lease-io`, real devices and
//! `CLOCK_MONOTONIC`) and the simulator (simulated disks, clocks and faults). The blocking
//! driver [`run_blocking`] is the third, smallest one, used by `direct` commands and tests.
//!
//! # Driver contract
//! 1. The first call is `resume(now, Resume::Start)`.
//! 2. After `Step::Io { ios, timeout }` the driver issues every I/O in `ios` (they are
//!    independent and may run concurrently, e.g. one per disk of a multi-disk lease) and
//!    resumes once with `Resume::Io(outcomes)`, `outcomes[i]` answering `ios[i]`.
//!    An I/O not complete within `timeout` is reported as [`IoFailure::TimedOut`]; the driver
//!    must keep its buffer alive until the kernel really completes it (a timed-out write may
//!    still land on the disk later, and the protocols are written to survive that).
//! 3. After `Step::Sleep { until, jitter }` the driver resumes with `Resume::Woke` at a local
//!    time no earlier than `until + r`, where `r` is drawn by the driver uniformly from
//!    `[0, jitter]` (operations own no randomness). A driver may wake an operation early only
//!    by cancelling it ([`Operation::cancel`]).
//! 4. After `Step::Done` the operation is finished and must not be resumed again.
//! 5. `now` never goes backwards between two resumes of one operation.
//! 6. **Write fence.** A driver keeps one [`crate::fence::WriteFence`] per host (across
//!    operations) and issues the I/O of every `Step::Io` through it: an I/O of an operation
//!    to one of its [`Operation::fence_areas`] is issued only when no earlier write of this
//!    host to that area may still land. A batch none of whose I/O is admitted waits (without
//!    a deadline) until some is; once some I/O of a batch is issued, the batch's deadline
//!    runs, and the I/O still held is reported `TimedOut` and never issued. A write stays in
//!    the fence from its issue until the driver learns it really finished (the kernel
//!    completed it, also long after its deadline), or the host was reset.
//!
//! **Architecture invariant:** nothing in this module, or any operation, performs I/O, reads a
//! clock, sleeps, spawns a thread or draws a random number.

use std::fmt;
use std::time::Duration;

/// The bytes of a completed read: a cheaply cloneable, immutable view of the driver's buffer.
/// Re-exported so that drivers and tests need no direct dependency on the `bytes` crate.
pub use bytes::Bytes;

use crate::time::MonoTime;

/// Index of a disk in the disk list the operation was built with (a lockspace has one, a
/// resource lease up to four).
pub type DiskIndex = usize;

/// One I/O an operation wants issued. Offsets and lengths are byte values that are multiples
/// of the lease's sector size; buffers are whole sectors.
#[derive(Clone, PartialEq, Eq)]
pub enum Io {
    /// Read `len` bytes at `offset` of disk `disk`.
    Read {
        disk: DiskIndex,
        offset: u64,
        len: u64,
    },
    /// Write `data` (whole sectors) at `offset` of disk `disk`.
    Write {
        disk: DiskIndex,
        offset: u64,
        data: Vec<u8>,
    },
}

impl fmt::Debug for Io {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Io::Read { disk, offset, len } => write!(f, "Read(disk {disk}, @{offset}, {len}B)"),
            Io::Write { disk, offset, data } => {
                write!(f, "Write(disk {disk}, @{offset}, {}B)", data.len())
            }
        }
    }
}

/// Why an I/O did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoFailure {
    /// Not complete within its deadline. A timed-out write may still land later.
    TimedOut,
    /// The device reported an error (positive errno).
    Error { errno: i32 },
}

/// What happened to one [`Io`].
#[derive(Clone, PartialEq, Eq)]
pub enum IoOutcome {
    /// A read completed with exactly the requested length.
    ///
    /// The bytes are the driver's own read buffer where it can hand it over without a copy
    /// (`lease-io` wraps its pooled aligned buffer; dropping the last clone gives the buffer
    /// back). They are only ever bytes this read returned: a failed or short read is `Failed`.
    /// An operation may keep them (a `Bytes` clone is a reference count), but holding one
    /// keeps the whole buffer out of the driver's pool.
    Read(Bytes),
    /// A write completed.
    Written,
    /// The I/O failed or timed out.
    Failed(IoFailure),
}

impl fmt::Debug for IoOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IoOutcome::Read(data) => write!(f, "Read({}B)", data.len()),
            IoOutcome::Written => write!(f, "Written"),
            IoOutcome::Failed(why) => write!(f, "Failed({why:?})"),
        }
    }
}

/// What the driver hands back to an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resume {
    /// The first call.
    Start,
    /// Outcomes of the previous `Step::Io`, in request order.
    Io(Vec<IoOutcome>),
    /// The previous `Step::Sleep` has elapsed.
    Woke,
}

/// What an operation asks of its driver next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step<T> {
    /// Issue these I/Os (independent of each other), each with deadline `timeout`.
    Io { ios: Vec<Io>, timeout: Duration },
    /// Resume no earlier than `until` plus a random delay in `[0, jitter]`.
    Sleep { until: MonoTime, jitter: Duration },
    /// Finished.
    Done(T),
}

/// A sans-I/O protocol operation. See the module docs for the driver contract.
pub trait Operation {
    /// The operation's result (usually a `Result<_, SomeError>`).
    type Output;

    /// Advance the operation.
    fn resume(&mut self, now: MonoTime, input: Resume) -> Step<Self::Output>;

    /// Short name for traces ("delta_acquire", "paxos_acquire", ...).
    fn name(&self) -> &'static str;

    /// The areas this operation works on under the write fence ([`crate::fence`]): none of
    /// its I/O to one of them is issued while an earlier write of this host to it may still
    /// land. Empty (the default) for operations that need no fence.
    fn fence_areas(&self) -> Vec<FenceArea> {
        Vec::new()
    }

    /// The host generation of the lockspace membership this operation acts under, for a
    /// resource-lease operation: the driver issues none of its I/O at or after that
    /// membership's fail deadline, nor once the lockspace holds another generation
    /// ([`crate::guard`], rule 7). `None` (the default): bound to no lockspace.
    fn lockspace_generation(&self) -> Option<u64> {
        None
    }
}

/// An area of one of an operation's disks (a Disk Paxos lease area; for `DeltaAcquire`, our
/// own slot of the lockspace) guarded by the write fence ([`crate::fence`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FenceArea {
    pub disk: DiskIndex,
    pub offset: u64,
    pub len: u64,
}

/// A blocking executor of I/O batches: real devices (`lease-io`) or in-memory disks.
pub trait BlockStorage {
    /// Issue `ios`, wait for all of them (at most `timeout` each), return outcomes in order.
    fn submit(&mut self, ios: &[Io], timeout: Duration) -> Vec<IoOutcome>;
}

/// A clock the blocking driver can read and sleep on. Implemented outside `lease-core` by the
/// real clock, and by [`crate::testing::VirtualClock`] for tests.
pub trait Clock {
    fn now(&self) -> MonoTime;
    /// Block until local time `until + r`, `r` uniform in `[0, jitter]`.
    fn sleep_until(&mut self, until: MonoTime, jitter: Duration);
}

/// Bound on the steps one operation may take under the blocking driver: every protocol loop
/// is bounded, so hitting this is a bug in the operation, not an input problem.
pub const BLOCKING_STEPS_MAX: u64 = 10_000_000;

/// Drive `op` to completion on `storage` and `clock`.
pub fn run_blocking<O: Operation>(
    op: &mut O,
    storage: &mut impl BlockStorage,
    clock: &mut impl Clock,
) -> O::Output {
    let mut input = Resume::Start;
    for _ in 0..BLOCKING_STEPS_MAX {
        match op.resume(clock.now(), input) {
            Step::Io { ios, timeout } => {
                let outcomes = storage.submit(&ios, timeout);
                assert_eq!(outcomes.len(), ios.len(), "storage must answer every I/O");
                input = Resume::Io(outcomes);
            }
            Step::Sleep { until, jitter } => {
                clock.sleep_until(until, jitter);
                input = Resume::Woke;
            }
            Step::Done(output) => return output,
        }
    }
    panic!(
        "operation {} exceeded {BLOCKING_STEPS_MAX} steps",
        op.name()
    );
}
