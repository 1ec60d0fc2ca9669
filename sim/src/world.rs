//! The world: one seeded PRNG, true time, the event queue, disks, hosts and the driver that
//! runs lease-core [`Operation`]s on them.
//!
//! A run is a loop: pop the earliest event (ties in scheduling order), handle it, record it
//! in the trace, then check every invariant against true time. The driver implements the
//! seam contract (`lease_core::seam` module docs) exactly:
//! 1. a task's first resume is `Resume::Start`;
//! 2. `Step::Io` issues every I/O at once (rule 6) and resumes once, with outcomes in request order,
//!    when all completed or at the deadline (local clock), whichever is first; I/O not
//!    complete by then is `TimedOut` and keeps going (a write may still land);
//! 3. `Step::Sleep { until, jitter }` resumes with `Woke` at local time ≥ `until + r`, `r`
//!    uniform in `[0, jitter]` from the world PRNG;
//! 4. after `Step::Done` the task is removed;
//! 5. `now` is the host's clock, which never goes backwards;
//! 6. every batch goes through the host's write fence (`lease_core::fence`, one per host,
//!    reset when it crashes): what it admits is issued, the rest is reported `TimedOut` and
//!    never issued; a batch of which nothing is admitted waits in `Wait::Fenced` (no
//!    deadline) and is offered again whenever a write of the host fully resolves;
//! 7. the deadline guard (`lease_core::guard`): right before a batch of a resource operation
//!    is offered to the fence, in the same event as its issue, the workload's *current*
//!    membership of the host's lockspace ([`Workload::lockspace`]) is checked; a refused batch
//!    issues nothing and resumes the task at once with every I/O `guard::REFUSED`. Every I/O
//!    issued is asserted to be covered by the batch's permit.
//!
//! Workloads ([`Workload`]) decide which operations each host runs; faults are rolled per step
//! as [`FaultOptions`] says.
//!
//! **Invariants:** no `HashMap` anywhere (iteration order must not depend on hashing); every
//! random draw comes from `Core::rng` in event order; time only moves forward.

use std::collections::BTreeMap;
use std::time::Duration;

use lease_core::guard::{self, Membership};
use lease_core::seam::{IoFailure, IoOutcome, Operation, Resume, Step};
use lease_core::time::MonoTime;

use crate::clock::{HostClock, TrueTime};
use crate::disk::SimDisk;
use crate::faults::FaultOptions;
use crate::host::{Batch, Delivery, Host, PathLoss, Pause, Task, Wait};
use crate::ids::{DiskId, HostIndex, IoId, TaskId};
use crate::invariant::{Invariant, Violation, WorldView};
use crate::io::InFlight;
use crate::queue::EventQueue;
use crate::rng::SimRng;
use crate::trace::{Trace, TraceEvent, TraceKind};

/// Most hosts a world may have.
pub const HOSTS_MAX: u32 = 4096;
/// Most operations one host may run at once.
pub const TASKS_PER_HOST_MAX: usize = 64;

/// Shape of one simulated disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskSpec {
    pub size_bytes: u64,
    pub sector_size: u64,
}

/// Everything that determines a run (with the code and the workload).
#[derive(Clone, Debug)]
pub struct WorldConfig {
    pub seed: u64,
    pub host_count: u32,
    pub disks: Vec<DiskSpec>,
    pub faults: FaultOptions,
    /// Keep every trace event in memory (tests); otherwise only the hash and the tail.
    pub keep_full_trace: bool,
}

/// Counters for reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub event_count: u64,
    pub step_count: u64,
    pub io_count: u64,
    pub hang_count: u64,
    pub crash_count: u64,
    pub pause_count: u64,
    pub path_loss_count: u64,
    pub timed_out_count: u64,
}

/// A scheduled event.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Event {
    Boot {
        host: HostIndex,
        boot: u32,
    },
    Deliver {
        host: HostIndex,
        boot: u32,
        what: Delivery,
    },
    BatchDeadline {
        host: HostIndex,
        boot: u32,
        task: TaskId,
        seq: u64,
    },
    ReadBegin(IoId),
    ReadEnd(IoId),
    SectorLand(IoId, u32),
    IoComplete(IoId),
    Watchdog {
        host: HostIndex,
        boot: u32,
        epoch: u64,
    },
    PauseEnd {
        host: HostIndex,
        boot: u32,
    },
    PathRestore {
        host: HostIndex,
        epoch: u64,
    },
}

/// The world minus the workload and the invariants (so both can borrow it).
#[derive(Debug)]
pub struct Core<O> {
    pub(crate) seed: u64,
    pub(crate) rng: SimRng,
    pub(crate) queue: EventQueue<Event>,
    pub(crate) now: TrueTime,
    pub(crate) disks: Vec<SimDisk>,
    pub(crate) hosts: Vec<Host<O>>,
    pub(crate) ios: BTreeMap<IoId, InFlight>,
    pub(crate) trace: Trace,
    pub(crate) faults: FaultOptions,
    pub(crate) task_id_next: u64,
    pub(crate) io_id_next: u64,
    pub(crate) stats: Stats,
    /// Host the last handled event concerned (for incremental invariant checks).
    pub(crate) last_host: Option<HostIndex>,
    /// Read buffers handed back by workloads ([`HostCtx::recycle`]), reused by later reads so
    /// that 1 MiB lockspace reads do not fault in fresh pages every time.
    pub(crate) buffers: Vec<Vec<u8>>,
}

impl<O: Operation> Core<O> {
    pub(crate) fn trace(
        &mut self,
        host: Option<HostIndex>,
        kind: TraceKind,
        label: &'static str,
        a: u64,
        b: u64,
        c: u64,
    ) {
        self.trace.push(TraceEvent {
            at: self.now,
            host,
            kind,
            label,
            a,
            b,
            c,
        });
    }

    /// Most recycled read buffers kept.
    const BUFFERS_MAX: usize = 8;

    pub(crate) fn recycle(&mut self, buffer: Vec<u8>) {
        if self.buffers.len() < Self::BUFFERS_MAX && buffer.capacity() > 0 {
            self.buffers.push(buffer);
        }
    }

    /// A buffer for a read of `len` bytes (recycled if one is large enough).
    pub(crate) fn read_buffer(&mut self, len: u64) -> Vec<u8> {
        if len < 64 * 1024 {
            return Vec::new();
        }
        match self.buffers.iter().position(|b| b.capacity() as u64 >= len) {
            Some(at) => self.buffers.swap_remove(at),
            None => Vec::new(),
        }
    }

    fn host(&self, host: HostIndex) -> &Host<O> {
        &self.hosts[host.as_usize()]
    }

    fn host_mut(&mut self, host: HostIndex) -> &mut Host<O> {
        &mut self.hosts[host.as_usize()]
    }

    /// True if an event stamped with `boot` still concerns the running incarnation.
    fn current(&self, host: HostIndex, boot: u32) -> bool {
        let h = self.host(host);
        h.up && h.boot == boot
    }

    pub(crate) fn deliver_now(&mut self, host: HostIndex, what: Delivery) {
        let boot = self.host(host).boot;
        let now = self.now;
        self.queue
            .schedule(now, Event::Deliver { host, boot, what });
    }

    fn spawn(&mut self, host: HostIndex, op: O, disks: Vec<DiskId>) -> TaskId {
        assert!(self.host(host).up, "spawn on a host that is down");
        assert!(
            self.host(host).tasks.len() < TASKS_PER_HOST_MAX,
            "host {host} runs too many operations"
        );
        let task = TaskId(self.task_id_next);
        self.task_id_next += 1;
        let name = op.name();
        self.host_mut(host).tasks.insert(
            task,
            Task {
                op,
                disks,
                wait: Wait::Start,
                batch_seq_next: 0,
            },
        );
        self.trace(Some(host), TraceKind::TaskStart, name, task.0, 0, 0);
        self.deliver_now(host, Delivery::Start(task));
        task
    }

    fn local_now(&self, host: HostIndex) -> MonoTime {
        self.host(host).clock.local_at(self.now)
    }

    fn arm_watchdog(&mut self, host: HostIndex, deadline: Option<MonoTime>) {
        let now = self.now;
        let h = self.host_mut(host);
        h.watchdog = deadline;
        h.watchdog_epoch += 1;
        let (boot, epoch) = (h.boot, h.watchdog_epoch);
        if let Some(deadline) = deadline {
            let at = h.clock.true_at(deadline, now);
            self.queue
                .schedule(at, Event::Watchdog { host, boot, epoch });
        }
    }

    /// Start a pause of `ms` (no-op if already paused or down).
    fn start_pause(&mut self, host: HostIndex, ms: u64, host_frozen: bool) {
        let now = self.now;
        let h = self.host_mut(host);
        if !h.up || h.pause.is_some() {
            return;
        }
        let until = now.plus_ms(ms);
        h.pause = Some(Pause { until, host_frozen });
        let boot = h.boot;
        self.stats.pause_count += 1;
        self.queue.schedule(until, Event::PauseEnd { host, boot });
        self.trace(
            Some(host),
            TraceKind::PauseStart,
            "",
            ms,
            u64::from(host_frozen),
            0,
        );
    }

    /// Lose the host's storage path for `ms` (no-op if already lost).
    fn start_path_loss(&mut self, host: HostIndex, ms: u64, hang: bool) {
        let now = self.now;
        let h = self.host_mut(host);
        if h.path.is_some() {
            return;
        }
        h.path_epoch += 1;
        let until = now.plus_ms(ms);
        let epoch = h.path_epoch;
        h.path = Some(PathLoss { until, hang, epoch });
        self.stats.path_loss_count += 1;
        self.queue
            .schedule(until, Event::PathRestore { host, epoch });
        self.trace(Some(host), TraceKind::PathLost, "", ms, u64::from(hang), 0);
    }

    fn step_clock(&mut self, host: HostIndex, ms: u64, forward: bool) {
        let now = self.now;
        let h = self.host_mut(host);
        if forward {
            h.clock.step_forward(now, ms);
        } else {
            h.clock.freeze(now, ms);
        }
        self.trace(
            Some(host),
            TraceKind::ClockStep,
            "",
            ms,
            u64::from(forward),
            0,
        );
    }

    /// Issue a `Step::Io` batch for `task` through the deadline guard and the host's write
    /// fence (seam contract rules 7 and 6). `membership` is the host's lockspace membership
    /// now (`None`: the workload models none). A batch the guard refuses issues nothing and
    /// resumes the task at once; what the fence admits is issued with the deadline; if
    /// nothing is, the task waits in `Wait::Fenced` (no deadline) until a write of the host
    /// finishes, and is checked by the guard again then.
    fn issue_batch(
        &mut self,
        host: HostIndex,
        task: TaskId,
        ios: Vec<lease_core::seam::Io>,
        timeout: Duration,
        areas: Vec<lease_core::seam::FenceArea>,
        membership: Option<Membership>,
    ) {
        let now = self.now;
        let local = self.local_now(host);
        let h = self.host_mut(host);
        let t = h.tasks.get(&task).expect("task exists");
        let disks = t.disks.clone();
        let generation = t.op.lockspace_generation().filter(|_| membership.is_some());
        let membership = membership.unwrap_or(Membership::Gone);
        let permit = match guard::check(generation, membership, local) {
            Ok(permit) => permit,
            Err(refusal) => {
                self.refuse_batch(host, task, ios.len(), refusal);
                return;
            }
        };
        let mut issued = vec![false; ios.len()];
        let admitted = h
            .fence
            .admit(&areas, &ios, |i| disks.get(i).copied(), &mut issued);
        let held = ios.len() - admitted.len();
        if held > 0 {
            let count = ios.len() as u64;
            self.trace(
                Some(host),
                TraceKind::FenceHold,
                "",
                task.0,
                held as u64,
                count,
            );
        }
        if admitted.is_empty() && !ios.is_empty() {
            let t = self.host_mut(host).tasks.get_mut(&task).expect("exists");
            t.wait = Wait::Fenced {
                ios,
                timeout,
                areas,
            };
            return;
        }
        let t = self.host_mut(host).tasks.get_mut(&task).expect("exists");
        let seq = t.batch_seq_next;
        t.batch_seq_next += 1;
        let deadline = local.saturating_add(timeout);
        let mut ids = vec![None; ios.len()];
        for a in &admitted {
            assert!(
                permit.covers(local),
                "seam rule 7: {host} issues I/O of task {} past its permit",
                task.0
            );
            let owner = (task, seq, a.index);
            ids[a.index] = Some(self.issue_io(host, owner, &ios[a.index], &disks, a.token));
        }
        let h = self.host_mut(host);
        let boot = h.boot;
        let count = ids.len();
        let deadline_at = h.clock.true_at(deadline, now);
        let t = h.tasks.get_mut(&task).expect("task exists");
        t.wait = Wait::Io(Batch {
            seq,
            ios: ids,
            outcomes: vec![None; count],
            pending: admitted.len(),
            deadline,
        });
        if admitted.is_empty() {
            self.deliver_now(host, Delivery::Batch(task, seq));
        }
        let ev = Event::BatchDeadline {
            host,
            boot,
            task,
            seq,
        };
        self.queue.schedule(deadline_at, ev);
    }

    /// The deadline guard refused `task`'s batch of `count` I/O: nothing is issued, the task
    /// resumes now with every outcome `guard::REFUSED`.
    fn refuse_batch(
        &mut self,
        host: HostIndex,
        task: TaskId,
        count: usize,
        refusal: guard::Refusal,
    ) {
        let deadline = match refusal {
            guard::Refusal::Expired { fail_deadline, .. } => fail_deadline.as_millis(),
            guard::Refusal::Gone | guard::Refusal::OtherGeneration { .. } => 0,
        };
        self.trace(
            Some(host),
            TraceKind::GuardRefuse,
            "",
            task.0,
            count as u64,
            deadline,
        );
        let local = self.local_now(host);
        let t = self.host_mut(host).tasks.get_mut(&task).expect("exists");
        let seq = t.batch_seq_next;
        t.batch_seq_next += 1;
        t.wait = Wait::Io(Batch {
            seq,
            ios: vec![None; count],
            outcomes: vec![Some(guard::REFUSED); count],
            pending: 0,
            deadline: local,
        });
        self.deliver_now(host, Delivery::Batch(task, seq));
    }

    /// A write of `host` finished: offer `task`'s fenced batch to the fence again.
    fn unfence(&mut self, host: HostIndex, task: TaskId, membership: Option<Membership>) {
        let Some(t) = self.host_mut(host).tasks.get_mut(&task) else {
            return;
        };
        if !matches!(t.wait, Wait::Fenced { .. }) {
            return;
        }
        let Wait::Fenced {
            ios,
            timeout,
            areas,
        } = std::mem::replace(&mut t.wait, Wait::Start)
        else {
            unreachable!()
        };
        self.issue_batch(host, task, ios, timeout, areas, membership);
    }
}

/// Access to one host for a workload callback.
#[derive(Debug)]
pub struct HostCtx<'a, O> {
    core: &'a mut Core<O>,
    host: HostIndex,
}

impl<O: Operation> HostCtx<'_, O> {
    pub fn host(&self) -> HostIndex {
        self.host
    }

    /// The host's clock now (what its operations see).
    pub fn local_now(&self) -> MonoTime {
        self.core.local_now(self.host)
    }

    /// True time now: for the workload's bookkeeping and invariants only, never for decisions
    /// a real host would make.
    pub fn true_now(&self) -> TrueTime {
        self.core.now
    }

    /// Number of crashes of this host so far.
    pub fn boot(&self) -> u32 {
        self.core.host(self.host).boot
    }

    /// Start `op` on this host; its disk `i` is world disk `disks[i]`.
    pub fn spawn(&mut self, op: O, disks: Vec<DiskId>) -> TaskId {
        self.core.spawn(self.host, op, disks)
    }

    /// Call the workload's `timer(token)` when the host's clock reads `at` (later if the host
    /// is paused; never if it crashes first).
    pub fn set_timer(&mut self, at: MonoTime, token: u64) {
        let host = self.host;
        let h = self.core.host(host);
        let (boot, when) = (h.boot, h.clock.true_at(at, self.core.now));
        let what = Delivery::Timer(token);
        self.core
            .queue
            .schedule(when, Event::Deliver { host, boot, what });
    }

    /// Arm (or disarm with `None`) the simulated watchdog: the host is reset when its clock
    /// reaches `deadline`, unless re-armed first. A frozen host is reset when it resumes.
    pub fn arm_watchdog(&mut self, deadline: Option<MonoTime>) {
        self.core.arm_watchdog(self.host, deadline);
    }

    pub fn rng(&mut self) -> &mut SimRng {
        &mut self.core.rng
    }

    /// Hand back a buffer an operation returned (e.g. a renewal's area) for reuse by later
    /// reads. Purely a performance measure: contents are overwritten before reuse.
    pub fn recycle(&mut self, buffer: Vec<u8>) {
        self.core.recycle(buffer);
    }

    /// Add a workload annotation to the trace.
    pub fn note(&mut self, label: &'static str, a: u64, b: u64, c: u64) {
        self.core
            .trace(Some(self.host), TraceKind::Note, label, a, b, c);
    }
}

/// What the hosts of a world do: which operations run, and what happens with their results.
pub trait Workload: Sized {
    /// The operations this workload runs (usually an enum over lease-core operations).
    type Op: Operation;

    /// The host booted (at the start of the run and after every crash).
    fn host_booted(&mut self, ctx: &mut HostCtx<'_, Self::Op>);

    /// An operation finished with `output`.
    fn op_done(
        &mut self,
        ctx: &mut HostCtx<'_, Self::Op>,
        task: TaskId,
        output: <Self::Op as Operation>::Output,
    );

    /// A timer set with [`HostCtx::set_timer`] fired.
    fn timer(&mut self, ctx: &mut HostCtx<'_, Self::Op>, token: u64) {
        let _ = (ctx, token);
    }

    /// The host crashed or was reset at true time `at`; its operations are gone.
    fn host_crashed(&mut self, host: HostIndex, at: TrueTime) {
        let _ = (host, at);
    }

    /// `host`'s membership of the lockspace its resource-lease operations act under, as it
    /// stands now: read by the driver right before it issues each batch of such an operation
    /// (the deadline guard, `lease_core::guard`; seam contract rule 7). `None` (the default):
    /// the workload models no lockspace, and no batch is guarded (scripted tests).
    fn lockspace(&self, host: HostIndex) -> Option<Membership> {
        let _ = host;
        None
    }
}

/// A simulated world running workload `W`.
pub struct World<W: Workload> {
    pub(crate) core: Core<W::Op>,
    pub(crate) workload: W,
    invariants: Vec<Box<dyn Invariant<W>>>,
}

impl<W: Workload> std::fmt::Debug for World<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("seed", &self.core.seed)
            .field("now", &self.core.now)
            .field("hosts", &self.core.hosts.len())
            .field("stats", &self.core.stats)
            .finish()
    }
}

impl<W: Workload> World<W> {
    /// A world whose hosts all boot at true time 0 (in index order).
    pub fn new(config: WorldConfig, workload: W) -> World<W> {
        config.faults.validate();
        assert!((1..=HOSTS_MAX).contains(&config.host_count), "host count");
        let mut queue = EventQueue::default();
        let hosts = (0..config.host_count)
            .map(|i| {
                let host = HostIndex(i);
                queue.schedule(TrueTime::ZERO, Event::Boot { host, boot: 0 });
                Host::new(host)
            })
            .collect();
        let disks = config
            .disks
            .iter()
            .map(|d| SimDisk::new(d.size_bytes, d.sector_size))
            .collect();
        World {
            core: Core {
                seed: config.seed,
                rng: SimRng::from_seed(config.seed),
                queue,
                now: TrueTime::ZERO,
                disks,
                hosts,
                ios: BTreeMap::new(),
                trace: Trace::new(config.keep_full_trace),
                faults: config.faults,
                task_id_next: 0,
                io_id_next: 0,
                stats: Stats::default(),
                last_host: None,
                buffers: Vec::new(),
            },
            workload,
            invariants: Vec::new(),
        }
    }

    /// Change the fault options from now on (e.g. [`FaultOptions::quiet`] for a liveness
    /// phase). I/O already issued keeps the timing it drew.
    pub fn set_faults(&mut self, faults: FaultOptions) {
        faults.validate();
        self.core.faults = faults;
    }

    pub fn faults(&self) -> &FaultOptions {
        &self.core.faults
    }

    /// Check `invariant` after every event from now on.
    pub fn add_invariant(&mut self, invariant: Box<dyn Invariant<W>>) {
        self.invariants.push(invariant);
    }

    pub fn seed(&self) -> u64 {
        self.core.seed
    }

    pub fn now(&self) -> TrueTime {
        self.core.now
    }

    pub fn trace(&self) -> &Trace {
        &self.core.trace
    }

    pub fn stats(&self) -> Stats {
        self.core.stats
    }

    pub fn workload(&self) -> &W {
        &self.workload
    }

    pub fn workload_mut(&mut self) -> &mut W {
        &mut self.workload
    }

    pub fn disk(&self, disk: DiskId) -> &SimDisk {
        &self.core.disks[disk]
    }

    /// Direct access to a disk (set-up before the run; bypasses the I/O model).
    pub fn disk_mut(&mut self, disk: DiskId) -> &mut SimDisk {
        &mut self.core.disks[disk]
    }

    pub fn host(&self, host: HostIndex) -> &Host<W::Op> {
        self.core.host(host)
    }

    pub fn host_count(&self) -> u32 {
        self.core.hosts.len() as u32
    }

    /// The host's clock reading now.
    pub fn local_now(&self, host: HostIndex) -> MonoTime {
        self.core.local_now(host)
    }

    /// A read-only view, as invariants see it.
    pub fn view(&self) -> WorldView<'_, W> {
        WorldView {
            core: &self.core,
            workload: &self.workload,
        }
    }

    /// Start `op` on `host` directly (tests; workloads use [`HostCtx::spawn`]).
    pub fn spawn(&mut self, host: HostIndex, op: W::Op, disks: Vec<DiskId>) -> TaskId {
        self.core.spawn(host, op, disks)
    }

    /// Crash `host` now (scripted fault).
    pub fn crash_host(&mut self, host: HostIndex) {
        self.crash(host);
    }

    /// Pause `host` for `ms` now (scripted fault).
    pub fn pause_host(&mut self, host: HostIndex, ms: u64, host_frozen: bool) {
        self.core.start_pause(host, ms, host_frozen);
    }

    /// Lose `host`'s storage path for `ms` now (scripted fault).
    pub fn lose_path(&mut self, host: HostIndex, ms: u64, hang: bool) {
        self.core.start_path_loss(host, ms, hang);
    }

    /// Arm `host`'s simulated watchdog directly (tests; workloads use [`HostCtx::arm_watchdog`]).
    pub fn arm_watchdog(&mut self, host: HostIndex, deadline: Option<MonoTime>) {
        self.core.arm_watchdog(host, deadline);
    }

    /// Step `host`'s clock now (scripted fault).
    pub fn step_clock(&mut self, host: HostIndex, ms: u64, forward: bool) {
        self.core.step_clock(host, ms, forward);
    }

    /// Run events until true time `end` (events at `end` included) or a violation.
    pub fn run_until(&mut self, end: TrueTime) -> Result<(), Box<Violation>> {
        while self.core.queue.peek_time().is_some_and(|t| t <= end) {
            self.step()?;
        }
        // Time passes even when nothing happens.
        self.core.now = self.core.now.max(end);
        Ok(())
    }

    /// Handle one event and check the invariants. `Ok(false)` if no event was pending.
    pub fn step(&mut self) -> Result<bool, Box<Violation>> {
        let Some((at, event)) = self.core.queue.pop() else {
            return Ok(false);
        };
        self.core.now = at;
        self.core.stats.event_count += 1;
        self.core.last_host = None;
        self.handle(event);
        self.check_invariants()?;
        Ok(true)
    }

    fn check_invariants(&mut self) -> Result<(), Box<Violation>> {
        let view = WorldView {
            core: &self.core,
            workload: &self.workload,
        };
        for inv in &mut self.invariants {
            if let Err(mut v) = inv.check(&view) {
                v.invariant = inv.name();
                v.source = inv.source();
                v.at = self.core.now;
                v.seed = self.core.seed;
                v.trace_hash = self.core.trace.hash();
                v.trace_tail = self.core.trace.tail(crate::invariant::REPORT_TAIL_EVENTS);
                return Err(v);
            }
        }
        Ok(())
    }

    fn ctx(&mut self, host: HostIndex) -> (&mut W, HostCtx<'_, W::Op>) {
        (
            &mut self.workload,
            HostCtx {
                core: &mut self.core,
                host,
            },
        )
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Boot { host, boot } => self.boot(host, boot),
            Event::Deliver { host, boot, what } => {
                if self.core.current(host, boot) {
                    self.core.last_host = Some(host);
                    self.deliver(host, what);
                }
            }
            Event::BatchDeadline {
                host,
                boot,
                task,
                seq,
            } => self.batch_deadline(host, boot, task, seq),
            Event::ReadBegin(io) => self.core.on_read_begin(io),
            Event::ReadEnd(io) => self.core.on_read_end(io),
            Event::SectorLand(io, k) => self.core.on_sector_land(io, k),
            Event::IoComplete(io) => self.io_complete(io),
            Event::Watchdog { host, boot, epoch } => self.watchdog(host, boot, epoch),
            Event::PauseEnd { host, boot } => self.pause_end(host, boot),
            Event::PathRestore { host, epoch } => {
                let h = self.core.host_mut(host);
                if h.path.is_some_and(|p| p.epoch == epoch) {
                    h.path = None;
                    self.core
                        .trace(Some(host), TraceKind::PathRestored, "", 0, 0, 0);
                }
            }
        }
    }

    fn boot(&mut self, host: HostIndex, boot: u32) {
        let now = self.core.now;
        let (origin_max, drift_max) = (
            self.core.faults.boot_clock_origin_ms_max,
            self.core.faults.drift_ppm_max,
        );
        let origin = self.core.rng.range_u64(0, origin_max);
        let drift = self.core.rng.range_i64_symmetric(drift_max);
        let h = self.core.host_mut(host);
        if h.up || h.boot != boot {
            return;
        }
        h.up = true;
        h.clock = HostClock::new(now, origin, drift);
        h.watchdog = None;
        h.watchdog_due = false;
        self.core.last_host = Some(host);
        self.core.trace(
            Some(host),
            TraceKind::Boot,
            "",
            origin,
            drift as u64,
            u64::from(boot),
        );
        let (workload, mut ctx) = self.ctx(host);
        workload.host_booted(&mut ctx);
    }

    /// Reset `host`: abandon its operations and timers; resolve its pending writes.
    fn crash(&mut self, host: HostIndex) {
        if !self.core.host(host).up {
            return;
        }
        let (lost, landed) = self.core.abandon_host_ios(host);
        let h = self.core.host_mut(host);
        h.up = false;
        h.boot += 1;
        h.tasks.clear();
        h.deferred.clear();
        debug_assert_eq!(h.fence.outstanding(), 0, "the reset resolved every write");
        h.pause = None;
        h.watchdog = None;
        h.watchdog_due = false;
        let boot = h.boot;
        self.core.stats.crash_count += 1;
        self.core.last_host = Some(host);
        self.core
            .trace(Some(host), TraceKind::Crash, "", lost, landed, 0);
        let (min, max) = (
            self.core.faults.restart_delay_ms_min,
            self.core.faults.restart_delay_ms_max,
        );
        let delay = self.core.rng.range_u64(min, max);
        let at = self.core.now.plus_ms(delay);
        self.core.queue.schedule(at, Event::Boot { host, boot });
        let now = self.core.now;
        self.workload.host_crashed(host, now);
    }

    fn deliver(&mut self, host: HostIndex, what: Delivery) {
        let h = self.core.host_mut(host);
        if h.pause.is_some() {
            h.deferred.push_back(what);
            return;
        }
        match what {
            Delivery::Start(task) => {
                if let Some(t) = h.tasks.get(&task) {
                    assert!(matches!(t.wait, Wait::Start));
                    self.drive(host, task, Resume::Start);
                }
            }
            Delivery::Batch(task, seq) => self.deliver_batch(host, task, seq),
            Delivery::Wake(task) => self.wake(host, task),
            Delivery::Unfence(task) => {
                let membership = self.workload.lockspace(host);
                self.core.unfence(host, task, membership);
            }
            Delivery::Timer(token) => {
                let (workload, mut ctx) = self.ctx(host);
                workload.timer(&mut ctx, token);
            }
        }
    }

    fn deliver_batch(&mut self, host: HostIndex, task: TaskId, seq: u64) {
        let h = self.core.host_mut(host);
        let Some(t) = h.tasks.get_mut(&task) else {
            return;
        };
        let Wait::Io(batch) = &t.wait else { return };
        if batch.seq != seq {
            return;
        }
        let Wait::Io(batch) = std::mem::replace(&mut t.wait, Wait::Start) else {
            unreachable!()
        };
        let mut timed_out = 0u64;
        let outcomes: Vec<IoOutcome> = batch
            .outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    timed_out += 1;
                    IoOutcome::Failed(IoFailure::TimedOut)
                })
            })
            .collect();
        for (id, outcome) in batch.ios.iter().zip(&outcomes) {
            if let (Some(id), IoOutcome::Failed(IoFailure::TimedOut)) = (id, outcome) {
                self.core.orphan_io(*id);
            }
        }
        self.core.stats.timed_out_count += timed_out;
        let count = outcomes.len() as u64;
        self.core.trace(
            Some(host),
            TraceKind::IoResume,
            "",
            task.0,
            count,
            timed_out,
        );
        self.drive(host, task, Resume::Io(outcomes));
    }

    fn wake(&mut self, host: HostIndex, task: TaskId) {
        let now = self.core.now;
        let local = self.core.local_now(host);
        let h = self.core.host_mut(host);
        let Some(t) = h.tasks.get(&task) else { return };
        let Wait::Sleep { target } = t.wait else {
            return;
        };
        if local < target {
            // The clock was frozen meanwhile: sleep on.
            let at = h.clock.true_at(target, now);
            let boot = h.boot;
            let what = Delivery::Wake(task);
            self.core
                .queue
                .schedule(at, Event::Deliver { host, boot, what });
            return;
        }
        self.core.trace(
            Some(host),
            TraceKind::Woke,
            "",
            task.0,
            local.as_millis(),
            0,
        );
        self.drive(host, task, Resume::Woke);
    }

    fn batch_deadline(&mut self, host: HostIndex, boot: u32, task: TaskId, seq: u64) {
        if !self.core.current(host, boot) {
            return;
        }
        let now = self.core.now;
        let local = self.core.local_now(host);
        let h = self.core.host(host);
        let Some(Wait::Io(batch)) = h.tasks.get(&task).map(|t| &t.wait) else {
            return;
        };
        if batch.seq != seq {
            return;
        }
        if local < batch.deadline {
            let at = h.clock.true_at(batch.deadline, now);
            let ev = Event::BatchDeadline {
                host,
                boot,
                task,
                seq,
            };
            self.core.queue.schedule(at, ev);
            return;
        }
        self.core.last_host = Some(host);
        self.deliver(host, Delivery::Batch(task, seq));
    }

    fn io_complete(&mut self, io: IoId) {
        let Some(done) = self.core.on_io_complete(io) else {
            return;
        };
        let (task, seq, index) = done.slot;
        let h = self.core.host_mut(done.host);
        let Some(Wait::Io(batch)) = h.tasks.get_mut(&task).map(|t| &mut t.wait) else {
            return;
        };
        if batch.seq != seq {
            return;
        }
        assert!(batch.outcomes[index].is_none());
        batch.outcomes[index] = Some(done.outcome);
        batch.pending -= 1;
        if batch.pending == 0 {
            self.core.deliver_now(done.host, Delivery::Batch(task, seq));
        }
    }

    fn watchdog(&mut self, host: HostIndex, boot: u32, epoch: u64) {
        if !self.core.current(host, boot) {
            return;
        }
        let now = self.core.now;
        let local = self.core.local_now(host);
        let h = self.core.host_mut(host);
        let Some(deadline) = h.watchdog.filter(|_| h.watchdog_epoch == epoch) else {
            return;
        };
        if local < deadline {
            let at = h.clock.true_at(deadline, now);
            self.core
                .queue
                .schedule(at, Event::Watchdog { host, boot, epoch });
            return;
        }
        if h.pause.is_some_and(|p| p.host_frozen) {
            h.watchdog_due = true;
            return;
        }
        self.core
            .trace(Some(host), TraceKind::WatchdogFire, "", 0, 0, 0);
        self.crash(host);
    }

    fn pause_end(&mut self, host: HostIndex, boot: u32) {
        if !self.core.current(host, boot) {
            return;
        }
        let h = self.core.host_mut(host);
        if h.pause.take().is_none() {
            return;
        }
        let released = h.deferred.len() as u64;
        let due = std::mem::take(&mut h.watchdog_due);
        self.core.last_host = Some(host);
        self.core
            .trace(Some(host), TraceKind::PauseEnd, "", released, 0, 0);
        if due {
            self.core
                .trace(Some(host), TraceKind::WatchdogFire, "", 0, 0, 0);
            self.crash(host);
            return;
        }
        loop {
            let h = self.core.host_mut(host);
            if !h.up || h.boot != boot || h.pause.is_some() {
                break;
            }
            let Some(what) = h.deferred.pop_front() else {
                break;
            };
            self.deliver(host, what);
        }
    }

    /// Resume `task` with `input` and act on the step it returns; then roll step faults.
    fn drive(&mut self, host: HostIndex, task: TaskId, input: Resume) {
        let local = self.core.local_now(host);
        let t = self
            .core
            .host_mut(host)
            .tasks
            .get_mut(&task)
            .expect("driven task exists");
        let step = t.op.resume(local, input);
        let areas = match step {
            Step::Io { .. } => t.op.fence_areas(),
            _ => Vec::new(),
        };
        self.core.stats.step_count += 1;
        match step {
            Step::Io { ios, timeout } => {
                let membership = self.workload.lockspace(host);
                self.core
                    .issue_batch(host, task, ios, timeout, areas, membership);
            }
            Step::Sleep { until, jitter } => {
                let jitter_ms = u64::try_from(jitter.as_millis()).unwrap_or(u64::MAX);
                let r = self.core.rng.range_u64(0, jitter_ms);
                let target = until.saturating_add(Duration::from_millis(r));
                let now = self.core.now;
                let h = self.core.host_mut(host);
                let at = h.clock.true_at(target, now);
                let boot = h.boot;
                h.tasks.get_mut(&task).expect("exists").wait = Wait::Sleep { target };
                let what = Delivery::Wake(task);
                self.core
                    .queue
                    .schedule(at, Event::Deliver { host, boot, what });
                self.core.trace(
                    Some(host),
                    TraceKind::Sleep,
                    "",
                    task.0,
                    target.as_millis(),
                    0,
                );
            }
            Step::Done(output) => {
                let t = self
                    .core
                    .host_mut(host)
                    .tasks
                    .remove(&task)
                    .expect("exists");
                let name = t.op.name();
                self.core
                    .trace(Some(host), TraceKind::TaskDone, name, task.0, 0, 0);
                let (workload, mut ctx) = self.ctx(host);
                workload.op_done(&mut ctx, task, output);
            }
        }
        self.roll_step_faults(host);
    }

    fn roll_step_faults(&mut self, host: HostIndex) {
        if !self.core.host(host).up {
            return;
        }
        let f = &self.core.faults;
        let crash_p = f.crash_probability_per_step;
        let (pause_p, pause_min, pause_max, frozen_p) = (
            f.pause_probability_per_step,
            f.pause_ms_min,
            f.pause_ms_max,
            f.pause_host_frozen_probability,
        );
        let (path_p, path_min, path_max, path_hang_p) = (
            f.path_loss_probability_per_step,
            f.path_loss_ms_min,
            f.path_loss_ms_max,
            f.path_loss_hang_probability,
        );
        let (step_p, step_max) = (f.clock_step_probability_per_step, f.clock_step_ms_max);
        let rng = &mut self.core.rng;
        if rng.chance(crash_p) {
            self.crash(host);
            return;
        }
        if rng.chance(pause_p) {
            let ms = rng.range_u64(pause_min, pause_max);
            let frozen = rng.chance(frozen_p);
            self.core.start_pause(host, ms, frozen);
        }
        let rng = &mut self.core.rng;
        if rng.chance(path_p) {
            let ms = rng.range_u64(path_min, path_max);
            let hang = rng.chance(path_hang_p);
            self.core.start_path_loss(host, ms, hang);
        }
        let rng = &mut self.core.rng;
        if rng.chance(step_p) {
            let ms = rng.range_u64(1, step_max.max(1));
            let forward = rng.chance(0.5);
            self.core.step_clock(host, ms, forward);
        }
    }
}
