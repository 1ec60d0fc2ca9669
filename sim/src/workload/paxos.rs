//! The Disk Paxos workload: lease-core's `PaxosAcquire`, `PaxosRelease` and
//! `PaxosConvertToShared` run unchanged by hosts that hold their host_ids through the delta
//! workload's membership layer, and the checkers that guard resource leases.
//!
//! # What the hosts do
//! Every host joins one lockspace and renews its host_id exactly as in the delta workload
//! ([`DeltaWorkload`] with [`MemberPolicy`] `daemon_deadlines` and `deferred_kill`: the
//! lockspace fails *at* the fail deadline, as `lease_daemon::lockspace` does). The first
//! `contenders` hosts also keep a [`HostTable`] fed by every renewal's area read (observed at
//! the renewal's `last_success`, as the daemon does) and play the part of client processes on
//! `resources` resource leases: acquire exclusive or shared, sometimes with the expected lver
//! of another host's last exclusive release (handover, spec §5.8) and sometimes with
//! OWNER_NOWAIT; hold a while; release, or convert EX→SH ([`PaxosConvertToShared`]) or SH→EX
//! (`convert_from_shared`). Crashes, pauses, path loss, hangs and errors come from the fault
//! model.
//!
//! Disks: world disks `0..lease_disks` are the lease disks (resource `r` at offset
//! `r · align_size` on each), world disk `lease_disks` is the lockspace disk. The paxos
//! operations' disk indices are the world's (their index `lease_disks` is the lockspace disk,
//! as `PaxosConfig` wants); the delta operations' disk 0 is mapped to the lockspace disk.
//!
//! # When a host holds a resource (fencing model)
//! From the moment its acquire returns success until it *starts* releasing it (or, EX→SH, is
//! downgraded to shared when the conversion starts; SH→EX is exclusive only once the
//! conversion succeeded), unless it is fenced first:
//! * its host crashes or is reset by the watchdog (reset cuts the storage path);
//! * its local clock reaches the armed watchdog deadline (`last renewal + 8·io + fire - r`):
//!   a host frozen past it is reset the moment it resumes, before anything runs;
//! * its lockspace failed (fail deadline passed, or a corrupt renewal) and the daemon killed
//!   the holders: killing starts when the daemon notices (a paused daemon notices late), and
//!   the holders are gone after a random delay up to the kill grace (40 s); with probability
//!   [`PIDS_STUCK_PROBABILITY`] they never exit and only the watchdog reset ends the hold.
//!
//! This is stricter than "the lease is lost at the fail deadline": holders may outlive the fail
//! deadline by up to the kill grace, and until the watchdog fires when they are stuck, exactly
//! the window `host_dead_seconds = 8·io + fire_timeout` is built to cover (sanlock(8): the
//! watchdog fires "within a known fixed time period from the last successful host_id renewal.
//! This known time is the length of time that sanlock on another host must wait before
//! granting the resource lease").
//!
//! A lease granted to a host generation that is no longer the host's current one (the
//! lockspace failed and was re-joined while the acquire ran) is never used. Leases of a failed
//! lockspace are never released on disk (`lease_daemon::resource`); they expire.
//!
//! # Liveness phase
//! At `quiet_at` the runner switches every fault off ([`FaultOptions::quiet`]); contenders
//! stop starting acquires and release what they hold. From `liveness_at` (after pending hangs,
//! pauses, path losses and reboots have run out), the first `liveness_hosts` contenders want
//! each resource in turn, exclusively: each want must be granted within
//! [`PaxosWorkload::liveness_bound`] of when it became the current one (then the lease is
//! released and the next want starts). [`LivenessBound`] fails the run otherwise.
//!
//! [`FaultOptions::quiet`]: crate::faults::FaultOptions::quiet

use std::sync::Arc;
use std::time::Duration;

use lease_core::geometry::Geometry;
use lease_core::guard::{self, Membership};
use lease_core::host_table::HostTable;
use lease_core::ondisk::{paxos_init_area, LeaderRecord, Name};
use lease_core::paxos_lease::{
    AcquireRequest, HeldResource, LeaseMode, LockspaceArea, PaxosAcquire, PaxosConfig,
    PaxosConvertToShared, PaxosError, PaxosRelease, PaxosRetract, RetractPlan,
};
use lease_core::seam::{FenceArea, Operation, Resume, Step};
use lease_core::time::MonoTime;
use lease_core::timeouts::{Timeouts, DEFAULT_KILL_GRACE_SECONDS};

use crate::clock::TrueTime;
use crate::ids::{DiskId, HostIndex, TaskId};
use crate::invariant::{Invariant, Violation, WorldView};
use crate::workload::delta::{
    DeltaOp, DeltaOut, DeltaWorkload, HasMembership, MemberEvent, MemberPolicy, Phase,
    LOCKSPACE_NAME, TIMER_TOKENS_FIRST_FREE,
};
use crate::world::{HostCtx, Workload};

/// Probability that a failed lockspace's lease holders never exit (D state): only the
/// watchdog reset ends their hold.
pub const PIDS_STUCK_PROBABILITY: f64 = 0.25;
/// Timer token: the holders of a failed lockspace are gone.
const TIMER_KILLED: u64 = TIMER_TOKENS_FIRST_FREE - 1;
/// Most resources a run may have (a slot's timer token carries the index in 8 bits).
pub const RESOURCES_MAX: usize = 64;

/// The operations of this workload: lease-core's, unchanged.
#[derive(Debug)]
pub enum PaxosOp {
    Delta(DeltaOp),
    Acquire(Box<PaxosAcquire>),
    Release(Box<PaxosRelease>),
    ToShared(Box<PaxosConvertToShared>),
    Retract(Box<PaxosRetract>),
}

impl From<DeltaOp> for PaxosOp {
    fn from(op: DeltaOp) -> PaxosOp {
        PaxosOp::Delta(op)
    }
}

/// Their outputs.
#[derive(Debug)]
pub enum PaxosOut {
    Delta(DeltaOut),
    /// The acquire's result, and what it left to undo ([`PaxosAcquire::leftover`]).
    Acquire(Result<HeldResource, PaxosError>, Option<Box<RetractPlan>>),
    Release(Result<(), PaxosError>),
    ToShared(Result<HeldResource, PaxosError>),
    Retract(Result<(), PaxosError>),
}

fn map_step<T, U>(step: Step<T>, f: impl FnOnce(T) -> U) -> Step<U> {
    match step {
        Step::Io { ios, timeout } => Step::Io { ios, timeout },
        Step::Sleep { until, jitter } => Step::Sleep { until, jitter },
        Step::Done(out) => Step::Done(f(out)),
    }
}

impl Operation for PaxosOp {
    type Output = PaxosOut;

    fn resume(&mut self, now: MonoTime, input: Resume) -> Step<PaxosOut> {
        match self {
            PaxosOp::Delta(op) => map_step(op.resume(now, input), PaxosOut::Delta),
            PaxosOp::Acquire(op) => {
                let step = op.resume(now, input);
                map_step(step, |result| {
                    PaxosOut::Acquire(result, op.leftover().cloned().map(Box::new))
                })
            }
            PaxosOp::Release(op) => map_step(op.resume(now, input), PaxosOut::Release),
            PaxosOp::ToShared(op) => map_step(op.resume(now, input), PaxosOut::ToShared),
            PaxosOp::Retract(op) => map_step(op.resume(now, input), PaxosOut::Retract),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            PaxosOp::Delta(op) => op.name(),
            PaxosOp::Acquire(op) => op.name(),
            PaxosOp::Release(op) => op.name(),
            PaxosOp::ToShared(op) => op.name(),
            PaxosOp::Retract(op) => op.name(),
        }
    }

    fn fence_areas(&self) -> Vec<FenceArea> {
        match self {
            PaxosOp::Delta(op) => op.fence_areas(),
            PaxosOp::Acquire(op) => op.fence_areas(),
            PaxosOp::Release(op) => op.fence_areas(),
            PaxosOp::ToShared(op) => op.fence_areas(),
            PaxosOp::Retract(op) => op.fence_areas(),
        }
    }

    fn lockspace_generation(&self) -> Option<u64> {
        match self {
            PaxosOp::Delta(op) => op.lockspace_generation(),
            PaxosOp::Acquire(op) => op.lockspace_generation(),
            PaxosOp::Release(op) => op.lockspace_generation(),
            PaxosOp::ToShared(op) => op.lockspace_generation(),
            PaxosOp::Retract(op) => op.lockspace_generation(),
        }
    }
}

/// Shape of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaxosParams {
    /// Resource leases (1..=[`RESOURCES_MAX`]).
    pub resources: usize,
    /// Disks each resource lease spans (1..=4; majorities for more than one).
    pub lease_disks: usize,
    /// Hosts (the first ones) that take part in resource leases; the others only renew.
    pub contenders: u32,
    /// Faults stop (the runner switches them off) and contenders wind down.
    pub quiet_at: TrueTime,
    /// Liveness wants start.
    pub liveness_at: TrueTime,
    /// Contenders (the first ones) that want each resource in the liveness phase.
    pub liveness_hosts: u32,
    /// Contenders also acquire shared and convert; otherwise exclusive only.
    pub shared: bool,
}

impl PaxosParams {
    /// `safety_secs` of faults, then quiet and liveness; `contenders` capped by `host_count`.
    pub fn new(host_count: u32, safety_secs: u64, timeouts: &Timeouts) -> PaxosParams {
        let contenders = host_count.min(8);
        let quiet_at = TrueTime::from_secs(safety_secs);
        PaxosParams {
            resources: 2,
            lease_disks: 1,
            contenders,
            quiet_at,
            liveness_at: quiet_at.plus_ms(PaxosParams::settle_ms(timeouts)),
            liveness_hosts: contenders.min(3),
            shared: true,
        }
    }

    /// From quiet to liveness: long enough for every hang, pause and path loss begun before
    /// quiet to end (each at most 2·host_dead), reboots to happen (at most 2·host_dead), leases
    /// of failed lockspaces to expire (host_dead) and host_ids to be re-acquired.
    pub fn settle_ms(timeouts: &Timeouts) -> u64 {
        let dead_ms = timeouts.host_dead_seconds() * 1000;
        4 * dead_ms + timeouts.delta_acquire_held_max_seconds() * 1000
    }
}

/// The state of one host's use of one resource.
#[derive(Clone, Debug)]
pub enum SlotState {
    Idle,
    Acquiring {
        task: TaskId,
        request: AcquireRequest,
        /// Highest lver granted (completed) before this acquire started.
        floor: u64,
        /// SH→EX conversion: the shared lease held meanwhile.
        from_shared: Option<HeldResource>,
    },
    Held {
        held: HeldResource,
    },
    /// EX→SH conversion running; counts as shared from its start, unless its holders were
    /// killed meanwhile (`abandoned`: the result is then ignored).
    ToShared {
        task: TaskId,
        held: HeldResource,
        abandoned: bool,
    },
    Releasing {
        task: TaskId,
        held: HeldResource,
    },
    /// A release failed on I/O: retried (the client has let go already), as sanlock's
    /// resource thread does (spec §5.5 step 3), until it succeeds or the lockspace fails.
    ReleaseRetry {
        held: HeldResource,
    },
    /// An acquire failed and could not undo a ballot it may have won, or give back a leader
    /// it committed (`PaxosAcquire::leftover`): retried like a failed release, and the
    /// resource is not acquired meanwhile (as the daemon's registry keeps it "releasing").
    RetractRetry {
        plan: RetractPlan,
    },
    Retracting {
        task: TaskId,
        plan: RetractPlan,
    },
}

impl SlotState {
    /// The mode this state holds the lease in, before fencing is taken into account.
    pub fn holding_mode(&self) -> Option<LeaseMode> {
        match self {
            SlotState::Held { held } => Some(held.mode),
            SlotState::ToShared {
                abandoned: false, ..
            } => Some(LeaseMode::Shared),
            SlotState::Acquiring {
                from_shared: Some(_),
                ..
            } => Some(LeaseMode::Shared),
            _ => None,
        }
    }

    fn task(&self) -> Option<TaskId> {
        match self {
            SlotState::Acquiring { task, .. }
            | SlotState::ToShared { task, .. }
            | SlotState::Releasing { task, .. }
            | SlotState::Retracting { task, .. } => Some(*task),
            SlotState::Idle
            | SlotState::Held { .. }
            | SlotState::ReleaseRetry { .. }
            | SlotState::RetractRetry { .. } => None,
        }
    }

    /// The lease this state holds (for reports).
    pub fn held(&self) -> Option<&HeldResource> {
        match self {
            SlotState::Held { held } | SlotState::ToShared { held, .. } => Some(held),
            SlotState::Acquiring { from_shared, .. } => from_shared.as_ref(),
            _ => None,
        }
    }
}

/// One host's use of one resource.
#[derive(Clone, Debug)]
pub struct Slot {
    pub state: SlotState,
    /// Bumped whenever the slot's timer is re-armed: older timers are ignored.
    pub epoch: u64,
    /// Lver of this host's last grant or release of the resource (a stale expected lver).
    pub last_lver: u64,
}

/// Where a host's lease holders stand with respect to its lockspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fence {
    /// The lockspace is joined and renewing (or not joined: then nothing is held).
    Live,
    /// The lockspace failed; holders are being killed and are all gone at `done_at` (local),
    /// or never (`None`: the watchdog resets the host).
    Killing { done_at: Option<MonoTime> },
}

/// One host's resource-lease state.
#[derive(Clone, Debug)]
pub struct PaxosHost {
    pub contender: bool,
    /// Liveness of the other hosts, fed by every renewal (contenders only).
    pub table: Option<Arc<HostTable>>,
    pub slots: Vec<Slot>,
    pub fence: Fence,
    /// The holders of a failed lockspace are gone but resource operations of its generation
    /// still run: like a pid that has not exited, they keep the watchdog armed until they
    /// finish (their results are then discarded).
    pub exit_pending: bool,
}

/// One successful acquire (a grant), as the acquirer learnt it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    pub host: HostIndex,
    pub boot: u32,
    pub host_id: u64,
    pub generation: u64,
    pub lver: u64,
    pub mode: LeaseMode,
    pub expected: Option<u64>,
    /// Highest lver granted (completed) before the acquire started.
    pub floor: u64,
    pub at: TrueTime,
}

/// The truth about one resource, for the checkers.
#[derive(Clone, Debug, Default)]
pub struct ResourceBook {
    /// Hosts whose slot for this resource is in a holding state (fencing not applied).
    pub holders: Vec<HostIndex>,
    /// Every grant, in completion order.
    pub grants: Vec<Grant>,
    /// Highest lver among `grants`.
    pub granted_max: u64,
    /// The last clean exclusive release: (lver, releasing host), for handovers.
    pub handover: Option<(u64, HostIndex)>,
    /// Lvers whose holder released them cleanly.
    pub released: std::collections::BTreeSet<u64>,
}

/// One want of the liveness phase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Want {
    pub host: HostIndex,
    pub resource: usize,
    /// When it became the current want (true time).
    pub since: TrueTime,
    pub granted: bool,
    pub attempts: u32,
    /// sanlock errno of the last failed attempt (0: none).
    pub last_errno: i32,
}

/// Counters of what happened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PaxosStats {
    pub acquires: u64,
    pub granted_ex: u64,
    pub granted_sh: u64,
    pub handovers_tried: u64,
    pub handovers_ok: u64,
    pub refused_live: u64,
    pub refused_owned: u64,
    pub refused_lver: u64,
    pub refused_shared: u64,
    pub failed_io: u64,
    pub failed_other: u64,
    pub releases: u64,
    pub releases_failed: u64,
    /// Failed acquires that left a retract to retry (`PaxosAcquire::leftover`).
    pub retracts_left: u64,
    pub to_shared: u64,
    pub to_exclusive: u64,
    pub lost_to_fencing: u64,
    pub stale_grants: u64,
    /// Exclusive grants that followed another host's exclusive grant it never released
    /// (crashed, fenced or failed owners, taken over after their host_dead_seconds).
    pub takeovers: u64,
}

/// The Disk Paxos workload.
#[derive(Debug)]
pub struct PaxosWorkload {
    /// Lockspace membership (host_ids), the delta workload's logic.
    pub delta: DeltaWorkload,
    pub params: PaxosParams,
    pub hosts: Vec<PaxosHost>,
    pub books: Vec<ResourceBook>,
    pub stats: PaxosStats,
    /// The liveness phase's wants, in order; `want_next` is the current one.
    pub wants: Vec<Want>,
    pub want_next: usize,
}

fn resource_name(r: usize) -> Name {
    Name::new(&format!("res{r}")).expect("short name")
}

fn mode_code(mode: LeaseMode) -> u64 {
    match mode {
        LeaseMode::Exclusive => 0,
        LeaseMode::Shared => 1,
    }
}

impl PaxosWorkload {
    pub fn new(
        geometry: Geometry,
        timeouts: Timeouts,
        host_count: u32,
        params: PaxosParams,
        seed: u64,
    ) -> Self {
        assert!((1..=RESOURCES_MAX).contains(&params.resources));
        assert!((1..=lease_core::paxos_lease::MAX_DISKS).contains(&params.lease_disks));
        assert!(params.contenders <= host_count && params.liveness_hosts <= params.contenders);
        assert!(u64::from(params.contenders) <= geometry.max_hosts());
        let host_ids = (1..=u64::from(host_count)).collect();
        let mut delta = DeltaWorkload::new(geometry, timeouts, host_ids, seed);
        delta.lockspace_disk = params.lease_disks;
        delta.policy = MemberPolicy {
            daemon_deadlines: true,
            deferred_kill: true,
        };
        let hosts = (0..host_count)
            .map(|i| PaxosHost {
                contender: i < params.contenders,
                table: None,
                slots: (0..params.resources)
                    .map(|_| Slot {
                        state: SlotState::Idle,
                        epoch: 0,
                        last_lver: 0,
                    })
                    .collect(),
                fence: Fence::Live,
                exit_pending: false,
            })
            .collect();
        let mut wants = Vec::new();
        for resource in 0..params.resources {
            for h in 0..params.liveness_hosts {
                wants.push(Want {
                    host: HostIndex(h),
                    resource,
                    since: params.liveness_at,
                    granted: false,
                    attempts: 0,
                    last_errno: 0,
                });
            }
        }
        PaxosWorkload {
            delta,
            books: vec![ResourceBook::default(); params.resources],
            params,
            hosts,
            stats: PaxosStats::default(),
            wants,
            want_next: 0,
        }
    }

    pub fn geometry(&self) -> Geometry {
        self.delta.geometry
    }

    pub fn timeouts(&self) -> Timeouts {
        self.delta.timeouts
    }

    /// Offset of resource `r`'s lease area on each lease disk.
    pub fn lease_offset(&self, r: usize) -> u64 {
        r as u64 * self.geometry().area_bytes()
    }

    /// Size of each lease disk.
    pub fn lease_disk_bytes(&self) -> u64 {
        self.params.resources as u64 * self.geometry().area_bytes()
    }

    /// The initialised area of resource `r` (`sanlock direct init -r`, num_hosts = the
    /// contenders, so ballots read only their dblocks).
    pub fn initial_area(&self, r: usize) -> Vec<u8> {
        let space = Name::new(LOCKSPACE_NAME).expect("valid");
        let num_hosts = u64::from(self.params.contenders.max(1));
        paxos_init_area(self.geometry(), &space, &resource_name(r), num_hosts, None)
    }

    /// How long a liveness want may wait: a held host_id re-acquired, then a dead owner's
    /// lease taken (sanlock's delta_acquire_held_max + paxos_acquire_held_max), plus 60 s.
    pub fn liveness_bound(&self) -> Duration {
        let t = self.timeouts();
        Duration::from_secs(
            t.delta_acquire_held_max_seconds() + t.paxos_acquire_held_max_seconds() + 60,
        )
    }

    /// Whether every liveness want was granted.
    pub fn liveness_done(&self) -> bool {
        self.want_next >= self.wants.len()
    }

    /// The current liveness want, if the phase is on and not finished.
    pub fn current_want(&self) -> Option<&Want> {
        self.wants.get(self.want_next)
    }

    /// The mode in which `host` holds resource `r` at its local time `local_now`, fencing
    /// included (module docs). `up`: whether the host is up.
    pub fn holds(
        &self,
        host: HostIndex,
        r: usize,
        up: bool,
        local_now: MonoTime,
    ) -> Option<LeaseMode> {
        if !up {
            return None;
        }
        let h = &self.hosts[host.as_usize()];
        let mode = h.slots[r].state.holding_mode()?;
        let member = &self.delta.hosts[host.as_usize()];
        if member.watchdog_at.is_some_and(|at| local_now >= at) {
            return None;
        }
        if let Fence::Killing {
            done_at: Some(done),
        } = h.fence
        {
            if local_now >= done {
                return None;
            }
        }
        Some(mode)
    }

    fn paxos_config(&self, host: HostIndex, r: usize) -> Option<PaxosConfig> {
        let member = &self.delta.hosts[host.as_usize()];
        let lease = member.lease.as_ref()?;
        let geometry = self.geometry();
        Some(PaxosConfig {
            geometry,
            lease_offsets: vec![self.lease_offset(r); self.params.lease_disks],
            space_name: Name::new(LOCKSPACE_NAME).expect("valid"),
            resource_name: resource_name(r),
            host_id: member.host_id,
            host_generation: lease.generation,
            timeouts: self.timeouts(),
            lockspace: LockspaceArea {
                geometry,
                offset: 0,
            },
        })
    }

    fn op_disks(&self) -> Vec<DiskId> {
        (0..=self.params.lease_disks).collect()
    }

    /// `host`'s lockspace membership now: live while it holds its host_id (renewing or
    /// between renewals), with the fail deadline of its last successful renewal.
    pub fn membership(&self, host: HostIndex) -> Membership {
        let member = &self.delta.hosts[host.as_usize()];
        let live = matches!(member.phase, Phase::Held { .. });
        Membership::of(member.lease.as_ref(), live)
    }

    /// The host can act on resources: joined, renewing and before its fail deadline
    /// (`lease_core::guard::may_start`, as the daemon), not fenced, host table ready.
    fn ready(&self, host: HostIndex, local_now: MonoTime) -> bool {
        let h = &self.hosts[host.as_usize()];
        guard::may_start(self.membership(host), local_now).is_ok()
            && h.fence == Fence::Live
            && h.table.is_some()
    }

    /// Set a slot's state, keeping the holders list in step (tests stage scenarios with it).
    pub fn set_state(&mut self, host: HostIndex, r: usize, state: SlotState) {
        let holding = state.holding_mode().is_some();
        self.hosts[host.as_usize()].slots[r].state = state;
        let holders = &mut self.books[r].holders;
        let at = holders.iter().position(|&h| h == host);
        match (holding, at) {
            (true, None) => holders.push(host),
            (false, Some(i)) => {
                holders.swap_remove(i);
            }
            _ => {}
        }
    }

    fn arm_slot(&mut self, ctx: &mut HostCtx<'_, PaxosOp>, r: usize, ms_min: u64, ms_max: u64) {
        let host = ctx.host();
        let slot = &mut self.hosts[host.as_usize()].slots[r];
        slot.epoch += 1;
        let token = TIMER_TOKENS_FIRST_FREE + r as u64 + (slot.epoch << 8);
        let delay = ctx.rng().range_u64(ms_min, ms_max);
        let at = ctx.local_now().saturating_add(Duration::from_millis(delay));
        ctx.set_timer(at, token);
    }

    fn quiet(&self, ctx: &HostCtx<'_, PaxosOp>) -> bool {
        ctx.true_now() >= self.params.quiet_at
    }

    /// The current want if it is `host`'s for `r` and the liveness phase has begun.
    fn wanted_now(&self, ctx: &HostCtx<'_, PaxosOp>, r: usize) -> bool {
        ctx.true_now() >= self.params.liveness_at
            && self
                .current_want()
                .is_some_and(|w| w.host == ctx.host() && w.resource == r && !w.granted)
    }

    fn slot_timer(&mut self, ctx: &mut HostCtx<'_, PaxosOp>, r: usize) {
        let host = ctx.host();
        if !self.ready(host, ctx.local_now()) {
            self.arm_slot(ctx, r, 5_000, 15_000);
            return;
        }
        let quiet = self.quiet(ctx);
        let state = self.hosts[host.as_usize()].slots[r].state.clone();
        match state {
            SlotState::Idle if quiet && !self.wanted_now(ctx, r) => {
                self.arm_slot(ctx, r, 1_000, 5_000);
            }
            SlotState::Idle => self.start_acquire(ctx, r, None),
            SlotState::ReleaseRetry { held } => {
                if self.same_generation(host, held.config.host_generation) {
                    self.start_release(ctx, r, held);
                } else {
                    // Our membership changed: the lease expires with its generation.
                    self.set_state(host, r, SlotState::Idle);
                    self.arm_slot(ctx, r, 1_000, 30_000);
                }
            }
            SlotState::RetractRetry { plan } => {
                if self.same_generation(host, plan.config().host_generation) {
                    ctx.note("res retract", r as u64, plan.lver(), 0);
                    let op = PaxosRetract::new(plan.clone());
                    let task = ctx.spawn(PaxosOp::Retract(Box::new(op)), self.op_disks());
                    self.set_state(host, r, SlotState::Retracting { task, plan });
                } else {
                    // Our membership changed: a leader naming us expires with its generation.
                    self.set_state(host, r, SlotState::Idle);
                    self.arm_slot(ctx, r, 1_000, 30_000);
                }
            }
            SlotState::Held { held } => {
                let convert = !quiet && self.params.shared && ctx.rng().chance(0.3);
                match (convert, held.mode) {
                    (false, _) => self.start_release(ctx, r, held),
                    (true, LeaseMode::Exclusive) => {
                        self.stats.to_shared += 1;
                        ctx.note("res to shared", r as u64, held.lver, 0);
                        let op = PaxosConvertToShared::new(held.clone());
                        let task = ctx.spawn(PaxosOp::ToShared(Box::new(op)), self.op_disks());
                        let state = SlotState::ToShared {
                            task,
                            held,
                            abandoned: false,
                        };
                        self.set_state(host, r, state);
                    }
                    (true, LeaseMode::Shared) => {
                        self.stats.to_exclusive += 1;
                        self.start_acquire(ctx, r, Some(held));
                    }
                }
            }
            _ => {}
        }
    }

    fn start_acquire(
        &mut self,
        ctx: &mut HostCtx<'_, PaxosOp>,
        r: usize,
        from_shared: Option<HeldResource>,
    ) {
        let host = ctx.host();
        let Some(config) = self.paxos_config(host, r) else {
            self.arm_slot(ctx, r, 5_000, 15_000);
            return;
        };
        let liveness = self.quiet(ctx);
        let mut request = AcquireRequest::exclusive();
        if from_shared.is_some() {
            request.convert_from_shared = true;
        } else if !liveness {
            if self.params.shared && ctx.rng().chance(0.3) {
                request.mode = LeaseMode::Shared;
            }
            let handover = self.books[r].handover.filter(|&(_, from)| from != host);
            if let Some((lver, _)) = handover.filter(|_| ctx.rng().chance(0.6)) {
                request.expected_lver = Some(lver);
                self.stats.handovers_tried += 1;
            } else if ctx.rng().chance(0.05) {
                request.expected_lver = Some(self.hosts[host.as_usize()].slots[r].last_lver);
            }
            request.owner_nowait = ctx.rng().chance(0.2);
        }
        if liveness {
            if let Some(w) = self.wants.get_mut(self.want_next) {
                w.attempts += 1;
            }
        }
        self.stats.acquires += 1;
        ctx.note(
            "res acquire",
            r as u64,
            mode_code(request.mode),
            request.expected_lver.map_or(u64::MAX, |l| l),
        );
        let table = self.hosts[host.as_usize()].table.clone();
        let op = PaxosAcquire::new(config, request.clone(), table);
        let task = ctx.spawn(PaxosOp::Acquire(Box::new(op)), self.op_disks());
        let floor = self.books[r].granted_max;
        self.set_state(
            host,
            r,
            SlotState::Acquiring {
                task,
                request,
                floor,
                from_shared,
            },
        );
    }

    fn start_release(&mut self, ctx: &mut HostCtx<'_, PaxosOp>, r: usize, held: HeldResource) {
        let host = ctx.host();
        ctx.note("res release", r as u64, held.lver, mode_code(held.mode));
        let op = PaxosRelease::new(held.clone());
        let task = ctx.spawn(PaxosOp::Release(Box::new(op)), self.op_disks());
        self.set_state(host, r, SlotState::Releasing { task, held });
    }

    /// Does `host` still hold its host_id with `generation` (the membership a lease, or what
    /// is left of one, belongs to)?
    fn same_generation(&self, host: HostIndex, generation: u64) -> bool {
        self.delta.hosts[host.as_usize()]
            .lease
            .as_ref()
            .is_some_and(|l| l.generation == generation)
    }

    /// When a failed release or retract is tried again: 2·io (spec §5.5 step 3; sanlock's first
    /// retry comes after io).
    fn retry_wait_ms(&self) -> u64 {
        2 * u64::from(self.timeouts().io_timeout_seconds) * 1000
    }

    /// Is this grant usable by the host now: the same generation as its current delta lease,
    /// and its holders not already killed?
    fn grant_usable(&self, ctx: &HostCtx<'_, PaxosOp>, held: &HeldResource) -> bool {
        let host = ctx.host();
        let same_generation = self.same_generation(host, held.config.host_generation);
        let killed = match self.hosts[host.as_usize()].fence {
            Fence::Live => false,
            Fence::Killing { done_at } => done_at.is_some_and(|t| ctx.local_now() >= t),
        };
        same_generation && !killed
    }

    fn acquired(
        &mut self,
        ctx: &mut HostCtx<'_, PaxosOp>,
        r: usize,
        result: Result<HeldResource, PaxosError>,
        leftover: Option<RetractPlan>,
    ) {
        let host = ctx.host();
        let SlotState::Acquiring {
            request,
            floor,
            from_shared,
            ..
        } = self.hosts[host.as_usize()].slots[r].state.clone()
        else {
            unreachable!("acquire result for a slot that is not acquiring")
        };
        let wanted = self.wanted_now(ctx, r);
        match result {
            Ok(held) => {
                match held.mode {
                    LeaseMode::Exclusive => self.stats.granted_ex += 1,
                    LeaseMode::Shared => self.stats.granted_sh += 1,
                }
                if request.expected_lver.is_some() {
                    self.stats.handovers_ok += 1;
                }
                ctx.note("res granted", r as u64, held.lver, mode_code(held.mode));
                let boot = ctx.boot();
                let book = &mut self.books[r];
                let previous = book.grants.iter().rev().find(|g| g.lver < held.lver);
                if let Some(p) = previous {
                    let unreleased =
                        p.mode == LeaseMode::Exclusive && !book.released.contains(&p.lver);
                    if unreleased && p.host != host && held.mode == LeaseMode::Exclusive {
                        self.stats.takeovers += 1;
                    }
                }
                book.grants.push(Grant {
                    host,
                    boot,
                    host_id: held.config.host_id,
                    generation: held.config.host_generation,
                    lver: held.lver,
                    mode: held.mode,
                    expected: request.expected_lver,
                    floor,
                    at: ctx.true_now(),
                });
                book.granted_max = book.granted_max.max(held.lver);
                book.handover = None;
                self.hosts[host.as_usize()].slots[r].last_lver = held.lver;
                if !self.grant_usable(ctx, &held) {
                    // A lease of a failed or replaced lockspace membership: never used, never
                    // released on disk; it expires with its generation.
                    self.stats.stale_grants += 1;
                    ctx.note("res grant unusable", r as u64, held.lver, 0);
                    self.set_state(host, r, SlotState::Idle);
                    self.arm_slot(ctx, r, 5_000, 30_000);
                    return;
                }
                if wanted && held.mode == LeaseMode::Exclusive {
                    self.wants[self.want_next].granted = true;
                }
                self.set_state(host, r, SlotState::Held { held });
                if self.quiet(ctx) {
                    self.arm_slot(ctx, r, 500, 2_000);
                } else {
                    self.arm_slot(ctx, r, 2_000, 60_000);
                }
            }
            Err(err) => {
                match err {
                    PaxosError::IdLive { .. } | PaxosError::OwnedRetry { .. } => {
                        self.stats.refused_live += 1
                    }
                    PaxosError::Owned { .. } | PaxosError::Other { .. } | PaxosError::ShRetry => {
                        self.stats.refused_owned += 1
                    }
                    PaxosError::LverMismatch { .. } => self.stats.refused_lver += 1,
                    PaxosError::SharedHeld { .. } => self.stats.refused_shared += 1,
                    PaxosError::LeaderRead
                    | PaxosError::LeaderWrite
                    | PaxosError::DblockRead
                    | PaxosError::DblockWrite => self.stats.failed_io += 1,
                    _ => self.stats.failed_other += 1,
                }
                let errno = err.sanlock_errno();
                ctx.note(
                    "res acquire failed",
                    r as u64,
                    errno.unsigned_abs().into(),
                    0,
                );
                if wanted {
                    self.wants[self.want_next].last_errno = errno;
                }
                match (from_shared, leftover) {
                    // A failed SH→EX conversion keeps our SHARED mode block: still shared;
                    // a leader it could not give back is freed by the shared release.
                    (Some(held), leftover) => {
                        let held = held.after_failed_conversion(leftover.as_ref());
                        self.set_state(host, r, SlotState::Held { held })
                    }
                    (None, Some(plan)) => {
                        self.stats.retracts_left += 1;
                        self.set_state(host, r, SlotState::RetractRetry { plan });
                        let wait = self.retry_wait_ms();
                        self.arm_slot(ctx, r, wait, wait);
                        return;
                    }
                    (None, None) => self.set_state(host, r, SlotState::Idle),
                }
                if self.quiet(ctx) {
                    self.arm_slot(ctx, r, 1_000, 5_000);
                } else {
                    self.arm_slot(ctx, r, 1_000, 20_000);
                }
            }
        }
    }

    fn retracted(
        &mut self,
        ctx: &mut HostCtx<'_, PaxosOp>,
        r: usize,
        result: Result<(), PaxosError>,
    ) {
        let host = ctx.host();
        let SlotState::Retracting { plan, .. } = self.hosts[host.as_usize()].slots[r].state.clone()
        else {
            unreachable!("retract result for a slot that is not retracting")
        };
        ctx.note(
            "res retracted",
            r as u64,
            plan.lver(),
            u64::from(result.is_ok()),
        );
        match result {
            Err(e) if e.is_io() => {
                let wait = self.retry_wait_ms();
                self.set_state(host, r, SlotState::RetractRetry { plan });
                self.arm_slot(ctx, r, wait, wait);
            }
            _ => {
                self.set_state(host, r, SlotState::Idle);
                self.arm_slot(ctx, r, 1_000, 5_000);
            }
        }
    }

    fn released(
        &mut self,
        ctx: &mut HostCtx<'_, PaxosOp>,
        r: usize,
        result: Result<(), PaxosError>,
    ) {
        let host = ctx.host();
        let SlotState::Releasing { held, .. } = self.hosts[host.as_usize()].slots[r].state.clone()
        else {
            unreachable!("release result for a slot that is not releasing")
        };
        self.stats.releases += 1;
        ctx.note(
            "res released",
            r as u64,
            held.lver,
            u64::from(result.is_ok()),
        );
        if result.is_ok() {
            self.books[r].released.insert(held.lver);
        }
        match result {
            Ok(()) if held.mode == LeaseMode::Exclusive => {
                self.books[r].handover = Some((held.lver, host));
            }
            Ok(()) => {}
            Err(e) if e.is_io() => {
                // I/O: retried (see `retry_wait_ms`).
                self.stats.releases_failed += 1;
                let wait = self.retry_wait_ms();
                self.hosts[host.as_usize()].slots[r].last_lver = held.lver;
                self.set_state(host, r, SlotState::ReleaseRetry { held });
                self.arm_slot(ctx, r, wait, wait);
                return;
            }
            Err(_) => self.stats.releases_failed += 1,
        }
        self.hosts[host.as_usize()].slots[r].last_lver = held.lver;
        self.set_state(host, r, SlotState::Idle);
        if let Some(w) = self.wants.get(self.want_next) {
            if w.granted && w.host == host && w.resource == r {
                self.want_next += 1;
                let now = ctx.true_now();
                if let Some(next) = self.wants.get_mut(self.want_next) {
                    next.since = now;
                }
            }
        }
        self.arm_slot(ctx, r, 1_000, 30_000);
    }

    fn converted_to_shared(
        &mut self,
        ctx: &mut HostCtx<'_, PaxosOp>,
        r: usize,
        result: Result<HeldResource, PaxosError>,
    ) {
        let host = ctx.host();
        let SlotState::ToShared {
            held: before,
            abandoned,
            ..
        } = self.hosts[host.as_usize()].slots[r].state.clone()
        else {
            unreachable!("conversion result for a slot that is not converting")
        };
        if abandoned {
            // Its holders were killed while it ran: the lease expires with the lockspace.
            self.set_state(host, r, SlotState::Idle);
            self.arm_slot(ctx, r, 5_000, 30_000);
            return;
        }
        match result {
            Ok(held) => {
                ctx.note("res now shared", r as u64, held.lver, 0);
                self.set_state(host, r, SlotState::Held { held });
                self.arm_slot(ctx, r, 2_000, 60_000);
            }
            Err(err) => {
                // Our sector may not say SHARED: give the exclusive lease back instead.
                ctx.note(
                    "res to shared failed",
                    r as u64,
                    err.sanlock_errno().unsigned_abs().into(),
                    0,
                );
                self.start_release(ctx, r, before);
            }
        }
    }

    /// The lockspace failed: start killing the lease holders (module docs).
    fn lockspace_failed(&mut self, ctx: &mut HostCtx<'_, PaxosOp>) {
        let host = ctx.host();
        let holding = self.hosts[host.as_usize()]
            .slots
            .iter()
            .any(|s| s.state.holding_mode().is_some());
        let done_at = if !holding {
            Some(ctx.local_now())
        } else if ctx.rng().chance(PIDS_STUCK_PROBABILITY) {
            None
        } else {
            let grace_ms = u64::from(DEFAULT_KILL_GRACE_SECONDS) * 1000;
            let delay = ctx.rng().range_u64(0, grace_ms);
            Some(ctx.local_now().saturating_add(Duration::from_millis(delay)))
        };
        ctx.note(
            "killing holders",
            u64::from(holding),
            done_at.map_or(u64::MAX, MonoTime::as_millis),
            0,
        );
        self.hosts[host.as_usize()].fence = Fence::Killing { done_at };
        match done_at {
            Some(at) if at <= ctx.local_now() => self.holders_gone(ctx),
            Some(at) => ctx.set_timer(at, TIMER_KILLED),
            None => {}
        }
    }

    /// Every holder of the failed lockspace exited: forget their leases (never released on
    /// disk), let the membership re-join later.
    fn holders_gone(&mut self, ctx: &mut HostCtx<'_, PaxosOp>) {
        let host = ctx.host();
        for r in 0..self.params.resources {
            let state = &self.hosts[host.as_usize()].slots[r].state;
            if state.holding_mode().is_some() {
                self.stats.lost_to_fencing += 1;
                ctx.note("res lost", r as u64, 0, 0);
                // A conversion in flight keeps running, but no longer holds anything: its
                // result is found unusable (acquire) or ignored (EX→SH).
                let state = match state.clone() {
                    SlotState::Acquiring {
                        task,
                        request,
                        floor,
                        ..
                    } => SlotState::Acquiring {
                        task,
                        request,
                        floor,
                        from_shared: None,
                    },
                    SlotState::ToShared { task, held, .. } => SlotState::ToShared {
                        task,
                        held,
                        abandoned: true,
                    },
                    _ => SlotState::Idle,
                };
                self.set_state(host, r, state);
            }
        }
        self.exit_when_idle(ctx);
    }

    /// Let the membership re-join once no resource operation of the failed generation runs.
    fn exit_when_idle(&mut self, ctx: &mut HostCtx<'_, PaxosOp>) {
        let host = ctx.host();
        let h = &mut self.hosts[host.as_usize()];
        if h.slots.iter().any(|s| s.state.task().is_some()) {
            h.exit_pending = true;
            ctx.note("holders gone, operations still running", 0, 0, 0);
            return;
        }
        h.exit_pending = false;
        ctx.note("holders gone", 0, 0, 0);
        self.delta.pids_exited(ctx);
    }

    fn joined(&mut self, ctx: &mut HostCtx<'_, PaxosOp>) {
        let host = ctx.host();
        let h = &mut self.hosts[host.as_usize()];
        h.fence = Fence::Live;
        if !h.contender {
            return;
        }
        let id = self.delta.hosts[host.as_usize()].host_id;
        h.table = Some(Arc::new(HostTable::new(
            self.delta.geometry,
            id,
            self.delta.timeouts,
        )));
        for r in 0..self.params.resources {
            if self.hosts[host.as_usize()].slots[r].state.task().is_none() {
                self.arm_slot(ctx, r, 1_000, 20_000);
            }
        }
    }

    fn may_release_host_id(&self, ctx: &HostCtx<'_, PaxosOp>) -> bool {
        let h = &self.hosts[ctx.host().as_usize()];
        !self.quiet(ctx) && h.slots.iter().all(|s| matches!(s.state, SlotState::Idle))
    }

    fn slot_of_task(&self, host: HostIndex, task: TaskId) -> Option<usize> {
        self.hosts[host.as_usize()]
            .slots
            .iter()
            .position(|s| s.state.task() == Some(task))
    }
}

impl HasMembership for PaxosWorkload {
    fn membership(&self) -> &DeltaWorkload {
        &self.delta
    }
}

impl Workload for PaxosWorkload {
    type Op = PaxosOp;

    fn host_booted(&mut self, ctx: &mut HostCtx<'_, PaxosOp>) {
        self.delta.boot(ctx);
    }

    fn timer(&mut self, ctx: &mut HostCtx<'_, PaxosOp>, token: u64) {
        if token == TIMER_KILLED {
            let host = ctx.host();
            if let Fence::Killing { done_at: Some(at) } = self.hosts[host.as_usize()].fence {
                if ctx.local_now() >= at && self.delta.hosts[host.as_usize()].phase == Phase::Failed
                {
                    self.holders_gone(ctx);
                }
            }
            return;
        }
        if token < TIMER_TOKENS_FIRST_FREE {
            if self.delta.on_timer(ctx, token) == MemberEvent::Failed {
                self.lockspace_failed(ctx);
            }
            return;
        }
        let r = ((token - TIMER_TOKENS_FIRST_FREE) & 0xFF) as usize;
        let epoch = (token - TIMER_TOKENS_FIRST_FREE) >> 8;
        if self.hosts[ctx.host().as_usize()].slots[r].epoch == epoch {
            self.slot_timer(ctx, r);
        }
    }

    fn op_done(&mut self, ctx: &mut HostCtx<'_, PaxosOp>, task: TaskId, output: PaxosOut) {
        let host = ctx.host();
        match output {
            PaxosOut::Delta(out) => {
                let may_release = self.may_release_host_id(ctx);
                match self.delta.on_done(ctx, out, may_release) {
                    MemberEvent::Joined => self.joined(ctx),
                    MemberEvent::Renewed { area, read_at } => {
                        if let Some(table) = &mut self.hosts[host.as_usize()].table {
                            Arc::make_mut(table).observe(read_at, &area);
                        }
                        ctx.recycle(area);
                    }
                    MemberEvent::Failed => self.lockspace_failed(ctx),
                    MemberEvent::Released => self.hosts[host.as_usize()].table = None,
                    MemberEvent::Nothing => {}
                }
            }
            other => {
                let r = self
                    .slot_of_task(host, task)
                    .expect("every resource operation belongs to a slot");
                match other {
                    PaxosOut::Acquire(result, leftover) => {
                        self.acquired(ctx, r, result, leftover.map(|plan| *plan))
                    }
                    PaxosOut::Release(result) => self.released(ctx, r, result),
                    PaxosOut::Retract(result) => self.retracted(ctx, r, result),
                    PaxosOut::ToShared(result) => self.converted_to_shared(ctx, r, result),
                    PaxosOut::Delta(_) => unreachable!(),
                }
                if self.hosts[host.as_usize()].exit_pending {
                    self.exit_when_idle(ctx);
                }
            }
        }
    }

    fn lockspace(&self, host: HostIndex) -> Option<Membership> {
        Some(self.membership(host))
    }

    fn host_crashed(&mut self, host: HostIndex, _at: TrueTime) {
        self.delta.crashed(host);
        for r in 0..self.params.resources {
            self.set_state(host, r, SlotState::Idle);
            self.hosts[host.as_usize()].slots[r].epoch += 1;
        }
        let h = &mut self.hosts[host.as_usize()];
        h.table = None;
        h.fence = Fence::Live;
        h.exit_pending = false;
    }
}

fn mode_name(mode: LeaseMode) -> &'static str {
    match mode {
        LeaseMode::Exclusive => "EX",
        LeaseMode::Shared => "SH",
    }
}

/// Resource `r` is never held exclusively by two hosts, nor exclusively and shared at once,
/// at any instant of true time (fencing model in the module docs).
#[derive(Debug, Default)]
pub struct ExclusiveOwner;

impl Invariant<PaxosWorkload> for ExclusiveOwner {
    fn name(&self) -> &'static str {
        "exclusive_owner"
    }

    fn source(&self) -> &'static str {
        "sanlock(8): two hosts never hold the same resource lease at once; libvirt \
         exclusive/shared modes; anchors §5 items 1, 4, 5, 7"
    }

    fn check(&mut self, view: &WorldView<'_, PaxosWorkload>) -> Result<(), Box<Violation>> {
        let w = view.workload();
        for (r, book) in w.books.iter().enumerate() {
            if book.holders.len() < 2 {
                continue;
            }
            let holding: Vec<(HostIndex, LeaseMode)> = book
                .holders
                .iter()
                .filter_map(|&h| {
                    let up = view.host(h).is_up();
                    w.holds(h, r, up, view.local_now(h)).map(|m| (h, m))
                })
                .collect();
            let ex = holding
                .iter()
                .filter(|(_, m)| *m == LeaseMode::Exclusive)
                .count();
            if ex == 0 || holding.len() < 2 {
                continue;
            }
            let details: Vec<String> = holding
                .iter()
                .map(|&(h, mode)| {
                    let slot = &w.hosts[h.as_usize()].slots[r];
                    let member = &w.delta.hosts[h.as_usize()];
                    let lver = slot.state.held().map_or(0, |held| held.lver);
                    let generation = slot
                        .state
                        .held()
                        .map_or(0, |held| held.config.host_generation);
                    format!(
                        "{h} host_id {} gen {generation} {} lver {lver} (local now {}, watchdog \
                         at {:?}, fence {:?})",
                        member.host_id,
                        mode_name(mode),
                        view.local_now(h),
                        member.watchdog_at,
                        w.hosts[h.as_usize()].fence
                    )
                })
                .collect();
            return Err(Violation::new(
                format!(
                    "resource res{r} held by {} hosts, {ex} exclusively: {}",
                    holding.len(),
                    details.join("; ")
                ),
                holding.iter().map(|&(h, _)| h).collect(),
                format!("res{r}"),
            ));
        }
        Ok(())
    }
}

/// Lease versions never go backwards: each lver is granted to one (host_id, generation) only
/// (Disk Paxos agreement); a grant's lver is at least every lver granted before its acquire
/// started.
#[derive(Debug, Default)]
pub struct LverMonotonic {
    checked: Vec<usize>,
    values: Vec<std::collections::BTreeMap<u64, (u64, u64, HostIndex)>>,
}

impl Invariant<PaxosWorkload> for LverMonotonic {
    fn name(&self) -> &'static str {
        "lver_monotonic"
    }

    fn source(&self) -> &'static str {
        "Gafni-Lamport Disk Paxos (one value per instance); sanlock commit 5a56aa1 and format \
         spec §5.2 (lver +1 per acquire, never re-derived); anchors §5 items 2 and 9"
    }

    fn check(&mut self, view: &WorldView<'_, PaxosWorkload>) -> Result<(), Box<Violation>> {
        let w = view.workload();
        let n = w.books.len();
        self.checked.resize(n, 0);
        self.values.resize(n, Default::default());
        for (r, book) in w.books.iter().enumerate() {
            for g in &book.grants[self.checked[r]..] {
                if g.lver < g.floor {
                    return Err(Violation::new(
                        format!(
                            "res{r}: {} (host_id {} gen {}) was granted lver {} although lver {} \
                             had been granted before its acquire started",
                            g.host, g.host_id, g.generation, g.lver, g.floor
                        ),
                        vec![g.host],
                        format!("res{r}"),
                    ));
                }
                let value = (g.host_id, g.generation, g.host);
                match self.values[r].get(&g.lver) {
                    Some(&(id, gen, other)) if (id, gen) != (g.host_id, g.generation) => {
                        return Err(Violation::new(
                            format!(
                                "res{r}: lver {} granted to two owners: {other} (host_id {id} gen \
                                 {gen}) and {} (host_id {} gen {})",
                                g.lver, g.host, g.host_id, g.generation
                            ),
                            vec![other, g.host],
                            format!("res{r}"),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        self.values[r].insert(g.lver, value);
                    }
                }
            }
            self.checked[r] = book.grants.len();
        }
        Ok(())
    }
}

/// The leader record on disk never goes back: the lver a majority of the lease disks agree on
/// never decreases. Apart from [`LverMonotonic`]: what this catches (finding H, a late leader
/// write landing after the lease moved on) is a storage event that the protocol repairs but
/// cannot prevent, while the versions of grants are the protocol's own promise.
#[derive(Debug, Default)]
pub struct LeaderLverOnDisk {
    disk_max: Vec<u64>,
}

impl Invariant<PaxosWorkload> for LeaderLverOnDisk {
    fn name(&self) -> &'static str {
        "leader_lver_on_disk"
    }

    fn source(&self) -> &'static str {
        "format spec §5.2 (the leader's lver grows by one per acquire, never re-derived); \
         anchors §5 item 9"
    }

    fn check(&mut self, view: &WorldView<'_, PaxosWorkload>) -> Result<(), Box<Violation>> {
        let w = view.workload();
        self.disk_max.resize(w.books.len(), 0);
        for r in 0..w.books.len() {
            // The leader on disk: the lver a majority of the lease disks agree on.
            let disks = w.params.lease_disks;
            let offset = w.lease_offset(r);
            let sector = w.geometry().sector_bytes();
            let mut lvers: Vec<u64> = (0..disks)
                .filter_map(|d| {
                    LeaderRecord::decode(view.disk(d).peek(offset, sector))
                        .ok()
                        .map(|l| l.lver)
                })
                .collect();
            lvers.sort_unstable();
            let majority = disks / 2 + 1;
            let agreed = lvers
                .iter()
                .find(|&&v| lvers.iter().filter(|&&x| x == v).count() >= majority);
            if let Some(&lver) = agreed {
                if lver < self.disk_max[r] {
                    return Err(Violation::new(
                        format!(
                            "res{r}: the leader lver on disk went back from {} to {lver}",
                            self.disk_max[r]
                        ),
                        Vec::new(),
                        format!("res{r}"),
                    ));
                }
                self.disk_max[r] = lver;
            }
        }
        Ok(())
    }
}

/// An acquire with an expected lver L succeeds only if nobody acquired the lease since L:
/// its grant is L + 1 and no grant above L completed before it started.
#[derive(Debug, Default)]
pub struct HandoverVersion {
    checked: Vec<usize>,
}

impl Invariant<PaxosWorkload> for HandoverVersion {
    fn name(&self) -> &'static str {
        "handover_version"
    }

    fn source(&self) -> &'static str {
        "format spec §5.8 (SANLK_RES_LVER); libvirt USES_STATE handover; anchors §5 item 6"
    }

    fn check(&mut self, view: &WorldView<'_, PaxosWorkload>) -> Result<(), Box<Violation>> {
        let w = view.workload();
        self.checked.resize(w.books.len(), 0);
        for (r, book) in w.books.iter().enumerate() {
            for g in &book.grants[self.checked[r]..] {
                let Some(expected) = g.expected else { continue };
                if g.lver != expected + 1 || g.floor > expected {
                    return Err(Violation::new(
                        format!(
                            "res{r}: {} acquired with expected lver {expected} and got lver {}, \
                             but lver {} had been granted before it started",
                            g.host, g.lver, g.floor
                        ),
                        vec![g.host],
                        format!("res{r}"),
                    ));
                }
            }
            self.checked[r] = book.grants.len();
        }
        Ok(())
    }
}

/// Liveness phase: with faults off, every want is granted within
/// [`PaxosWorkload::liveness_bound`].
#[derive(Debug, Default)]
pub struct LivenessBound;

impl Invariant<PaxosWorkload> for LivenessBound {
    fn name(&self) -> &'static str {
        "liveness_bound"
    }

    fn source(&self) -> &'static str {
        "format spec §3 (delta_acquire_held_max, paxos_acquire_held_max); Disk Paxos progress \
         with a majority of disks and one live processor; anchors §4.1 item 8"
    }

    fn check(&mut self, view: &WorldView<'_, PaxosWorkload>) -> Result<(), Box<Violation>> {
        let w = view.workload();
        let Some(want) = w.current_want() else {
            return Ok(());
        };
        let now = view.now();
        if now < want.since {
            return Ok(());
        }
        let bound = u64::try_from(w.liveness_bound().as_millis()).expect("fits");
        if now.ms_since(want.since) <= bound {
            return Ok(());
        }
        let r = want.resource;
        let leaders: Vec<String> = (0..w.params.lease_disks)
            .map(|d| {
                let sector = view
                    .disk(d)
                    .peek(w.lease_offset(r), w.geometry().sector_bytes());
                match LeaderRecord::decode(sector) {
                    Ok(l) => format!(
                        "disk {d} leader: lver {} owner host_id {} gen {} timestamp {} written \
                         by host_id {}",
                        l.lver, l.owner_id, l.owner_generation, l.timestamp, l.write_id
                    ),
                    Err(e) => format!("disk {d} leader: undecodable ({e})"),
                }
            })
            .collect();
        let leader = leaders.join("; ");
        let member = &w.delta.hosts[want.host.as_usize()];
        Err(Violation::new(
            format!(
                "{} wanted res{r} from {} with faults off and was not {} within {} s: \
                 {} attempts, last error {}; its lockspace phase {:?}; {leader}",
                want.host,
                want.since,
                if want.granted {
                    "done with it (granted, not released)"
                } else {
                    "granted it"
                },
                bound / 1000,
                want.attempts,
                want.last_errno,
                member.phase
            ),
            vec![want.host],
            format!("res{r}"),
        ))
    }
}
