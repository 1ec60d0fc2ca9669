//! A simulated machine: its clock, boot count, pause and path state, and running operations.
//!
//! A host runs any number of operations (`Task`s) concurrently, like the daemon's lockspace
//! and resource threads. Each task is in exactly one `Wait` state. Host-directed deliveries
//! (start an operation, resume it after I/O or sleep, fire a workload timer) are held in
//! `deferred` while the host is paused and released in order when it resumes.
//!
//! **Invariants:** a crash increments `boot`, and every event stamped with an older boot is
//! ignored, so nothing of a previous incarnation ever reaches a new one; a task that reached
//! `Step::Done` is removed and never resumed again (seam contract rule 4).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use std::time::Duration;

use lease_core::fence::WriteFence;
use lease_core::seam::{FenceArea, Io, IoOutcome};
use lease_core::time::MonoTime;

use crate::clock::{HostClock, TrueTime};
use crate::ids::{DiskId, HostIndex, IoId, TaskId};

/// A batch of I/O issued by one `Step::Io`, awaiting completion or its deadline.
#[derive(Debug)]
pub(crate) struct Batch {
    pub seq: u64,
    /// The issued I/O per slot; `None`: held by the write fence, never issued (reported
    /// `TimedOut`).
    pub ios: Vec<Option<IoId>>,
    pub outcomes: Vec<Option<IoOutcome>>,
    pub pending: usize,
    /// Local-clock deadline (issue time + the step's timeout).
    pub deadline: MonoTime,
}

/// What a task is waiting for.
#[derive(Debug)]
pub(crate) enum Wait {
    /// Created, `Resume::Start` not delivered yet.
    Start,
    /// Waiting for an I/O batch.
    Io(Batch),
    /// Sleeping until the local clock reads `target`.
    Sleep { target: MonoTime },
    /// A `Step::Io` none of whose I/O the write fence admits yet (no deadline runs): offered
    /// again whenever a write of the host finishes (seam contract rule 6).
    Fenced {
        ios: Vec<Io>,
        timeout: Duration,
        areas: Vec<FenceArea>,
    },
}

/// One operation running on a host.
#[derive(Debug)]
pub(crate) struct Task<O> {
    pub op: O,
    /// Maps the operation's disk indices to world disks.
    pub disks: Vec<DiskId>,
    pub wait: Wait,
    pub batch_seq_next: u64,
}

/// Something addressed to a host's operations or workload; held while the host is paused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    Start(TaskId),
    Batch(TaskId, u64),
    Wake(TaskId),
    Timer(u64),
    /// A write of the host finished: offer a fenced batch to the write fence again.
    Unfence(TaskId),
}

/// An ongoing pause.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pause {
    pub until: TrueTime,
    /// The whole host is frozen: the simulated watchdog cannot fire until it resumes.
    pub host_frozen: bool,
}

/// An ongoing loss of the host's storage path.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PathLoss {
    pub until: TrueTime,
    /// I/O queues until the path returns (true) or fails with EIO (false).
    pub hang: bool,
    pub epoch: u64,
}

/// One simulated machine.
#[derive(Debug)]
pub struct Host<O> {
    pub(crate) index: HostIndex,
    /// Incarnation: incremented at every crash.
    pub(crate) boot: u32,
    pub(crate) up: bool,
    pub(crate) clock: HostClock,
    pub(crate) pause: Option<Pause>,
    pub(crate) deferred: VecDeque<Delivery>,
    pub(crate) path: Option<PathLoss>,
    pub(crate) path_epoch: u64,
    pub(crate) tasks: BTreeMap<TaskId, Task<O>>,
    /// I/Os issued by this incarnation that have not fully resolved.
    pub(crate) inflight: BTreeSet<IoId>,
    /// The host's write fence (`lease_core::fence`): its writes that may still land.
    pub(crate) fence: WriteFence<DiskId>,
    /// Local deadline of the simulated watchdog, if armed.
    pub(crate) watchdog: Option<MonoTime>,
    pub(crate) watchdog_epoch: u64,
    /// The watchdog expired while the host was frozen: it fires when the host resumes.
    pub(crate) watchdog_due: bool,
}

impl<O> Host<O> {
    pub(crate) fn new(index: HostIndex) -> Host<O> {
        Host {
            index,
            boot: 0,
            up: false,
            clock: HostClock::new(TrueTime::ZERO, 0, 0),
            pause: None,
            deferred: VecDeque::new(),
            path: None,
            path_epoch: 0,
            tasks: BTreeMap::new(),
            inflight: BTreeSet::new(),
            fence: WriteFence::new(),
            watchdog: None,
            watchdog_epoch: 0,
            watchdog_due: false,
        }
    }

    pub fn index(&self) -> HostIndex {
        self.index
    }

    /// Number of crashes so far (0 for the first incarnation).
    pub fn boot(&self) -> u32 {
        self.boot
    }

    pub fn is_up(&self) -> bool {
        self.up
    }

    pub fn is_paused(&self) -> bool {
        self.pause.is_some()
    }

    /// End of the current pause (true time), if paused.
    pub fn paused_until(&self) -> Option<TrueTime> {
        self.pause.map(|p| p.until)
    }

    pub fn has_path(&self) -> bool {
        self.path.is_none()
    }

    /// Operations currently running.
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// The host's clock reading at true time `now` (only meaningful while up).
    pub fn local_at(&self, now: TrueTime) -> MonoTime {
        self.clock.local_at(now)
    }

    pub fn clock(&self) -> &HostClock {
        &self.clock
    }
}
