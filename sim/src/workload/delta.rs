//! The delta-lease workload: every host joins one lockspace with `lease_core::delta_lease`,
//! renews its host_id every `id_renewal_seconds`, sometimes releases and re-joins, and
//! crashes, pauses and restarts as the fault model says.
//!
//! Each host plays the part of the daemon's lockspace thread (format spec §4, §8):
//! * boot → after a short random delay, [`DeltaAcquire`]; on failure retry later;
//! * acquired → arm the simulated watchdog to reset the host at
//!   `last_success + 8·io + fire_timeout - r`, `r` in `[0, 10 s]` (wdmd stops petting at
//!   `last_success + 8·io`; the device fires `fire_timeout` after the last pet, and pets come
//!   every 10 s), which is never later than `host_dead_seconds` after the last success;
//! * renewal due (`last_success + id_renewal_seconds`, plus up to 1 s of polling delay) →
//!   [`DeltaRenew`]; success re-arms the watchdog; an I/O failure is retried every second
//!   until `id_renewal_fail_seconds` have passed since the last success; then (or at once on
//!   a corrupt result) the lockspace fails: the host stops renewing, and either its lease
//!   holders all exit (the watchdog is disarmed, as sanlock does when every pid is gone) or
//!   the watchdog resets it;
//! * now and then, after a successful renewal, [`DeltaRelease`] and re-join later.
//!
//! Misconfiguration: the runner may give two machines the same host_id (different unique
//! names). Delta leases "attempt to detect" this (sanlock(8)); Chockler–Malkhi uniqueness holds
//! only under timeliness.
//!
//! The same logic is the membership layer of the paxos workload ([`DeltaWorkload::boot`],
//! [`DeltaWorkload::on_timer`], [`DeltaWorkload::on_done`], [`DeltaWorkload::crashed`],
//! generic over any operation type carrying [`DeltaOp`]), with a [`MemberPolicy`] that makes it
//! behave as the daemon's renewal loop where the two differ, and [`MemberEvent`]s that tell the
//! layer above when the host joined, renewed (with the area read, for its host table), failed or
//! released.
//!
//! A host *holds* its host_id (for [`HostIdExclusive`]) from the moment its acquire succeeds
//! until `id_renewal_fail_seconds` after its last successful renewal (or the acquire's
//! timestamp), on its own clock (after that it has fenced itself), or until it starts a
//! release or crashes, whichever is first.

use std::time::Duration;

use lease_core::delta_lease::{
    DeltaAcquire, DeltaConfig, DeltaError, DeltaRelease, DeltaRenew, HeldDeltaLease, OutgoingEvent,
    RenewFailed, Renewed,
};
use lease_core::geometry::{AlignSize, Geometry, SectorSize};
use lease_core::ondisk::{lockspace_init_area, HostBitmap, Name};
use lease_core::seam::{FenceArea, Operation, Resume, Step};
use lease_core::time::MonoTime;
use lease_core::timeouts::Timeouts;

use crate::ids::{DiskId, HostIndex, TaskId};
use crate::invariant::{Invariant, Violation, WorldView};
use crate::world::{HostCtx, Workload};

/// The lockspace name used by every run.
pub const LOCKSPACE_NAME: &str = "sim_ls";
/// Polling delay of the renewal loop (sanlock checks once a second).
const RENEW_POLL_MS_MAX: u64 = 1_000;
/// Retry interval after a failed renewal attempt.
const RENEW_RETRY_MS: u64 = 1_000;
/// wdmd's test interval: the watchdog is petted this often while the host is live.
const WDMD_TEST_INTERVAL_MS: u64 = 10_000;

/// Map a `Step<T>` to `Step<U>`.
fn map_step<T, U>(step: Step<T>, f: impl FnOnce(T) -> U) -> Step<U> {
    match step {
        Step::Io { ios, timeout } => Step::Io { ios, timeout },
        Step::Sleep { until, jitter } => Step::Sleep { until, jitter },
        Step::Done(out) => Step::Done(f(out)),
    }
}

/// The lease-core delta-lease operations, run unchanged.
#[derive(Debug)]
pub enum DeltaOp {
    Acquire(Box<DeltaAcquire>),
    Renew(Box<DeltaRenew>),
    Release(Box<DeltaRelease>),
}

/// Their outputs.
#[derive(Debug)]
pub enum DeltaOut {
    Acquire(Result<HeldDeltaLease, DeltaError>),
    Renew(Result<Renewed, RenewFailed>),
    Release(Result<(), DeltaError>),
}

impl Operation for DeltaOp {
    type Output = DeltaOut;

    fn resume(&mut self, now: MonoTime, input: Resume) -> Step<DeltaOut> {
        match self {
            DeltaOp::Acquire(op) => map_step(op.resume(now, input), DeltaOut::Acquire),
            DeltaOp::Renew(op) => map_step(op.resume(now, input), DeltaOut::Renew),
            DeltaOp::Release(op) => map_step(op.resume(now, input), DeltaOut::Release),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            DeltaOp::Acquire(op) => op.name(),
            DeltaOp::Renew(op) => op.name(),
            DeltaOp::Release(op) => op.name(),
        }
    }

    fn fence_areas(&self) -> Vec<FenceArea> {
        match self {
            DeltaOp::Acquire(op) => op.fence_areas(),
            DeltaOp::Renew(op) => op.fence_areas(),
            DeltaOp::Release(op) => op.fence_areas(),
        }
    }
}

/// Where a host's lockspace membership stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Down,
    /// Waiting to (re)join.
    Idle,
    Acquiring,
    /// Holding; `renewing` while a renewal runs.
    Held {
        renewing: bool,
    },
    Releasing,
    /// The lockspace failed; nothing more until the host is reset or re-joins.
    Failed,
}

/// How the membership layer behaves where the plain delta workload and a layer of resource
/// leases above it differ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemberPolicy {
    /// Do as the daemon's renewal loop does (`lease_daemon::lockspace`): fail the lockspace
    /// *at* the fail deadline even while a renewal is still running (its result is then
    /// ignored), and fail it when a renewal succeeds only after the deadline. Off in the
    /// plain delta workload, which notices an expired lease at its next renewal attempt.
    pub daemon_deadlines: bool,
    /// When the lockspace fails, leave killing the lease holders to the layer above, which
    /// calls [`DeltaWorkload::pids_exited`] once they are gone (the watchdog resets the host
    /// otherwise). Off: a fair coin decides at once whether every holder exits.
    pub deferred_kill: bool,
}

/// What a membership step means for a layer of resource leases above it.
#[derive(Debug, PartialEq, Eq)]
pub enum MemberEvent {
    Nothing,
    /// The host_id was acquired (a new generation).
    Joined,
    /// A renewal succeeded; `area` is the lockspace as its read saw it, at local time `read_at`
    /// (the renewal's `last_success`), for the host table.
    Renewed {
        area: Vec<u8>,
        read_at: MonoTime,
    },
    /// The lockspace failed: lease holders must be killed (see [`MemberPolicy`]).
    Failed,
    /// The host_id was released.
    Released,
}

/// One host's state, as the workload (the "daemon") sees it.
#[derive(Clone, Debug)]
pub struct DeltaHost {
    pub host_id: u64,
    /// Keep the same unique name across reboots (like `-e NAME`) or draw one per boot.
    pub stable_name: bool,
    pub phase: Phase,
    pub lease: Option<HeldDeltaLease>,
    /// Whether this host counts as holding its host_id (see module docs), before expiry.
    pub holding: bool,
    /// Local time the hold began (the acquire succeeded).
    pub held_since: MonoTime,
    /// The boot this state belongs to.
    pub boot: u32,
    /// Highest generation this boot has acquired with (the daemon's memory; lost at reboot,
    /// when the crash has landed or lost every pending write).
    pub last_generation: u64,
    /// Local deadline of the armed simulated watchdog, if armed (a mirror of the world's).
    pub watchdog_at: Option<MonoTime>,
}

/// One successful acquire of a host_id: which generation, by which host incarnation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenerationUse {
    pub generation: u64,
    pub host: HostIndex,
    pub boot: u32,
}

/// Counters of what happened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeltaStats {
    pub acquires_ok: u64,
    pub acquires_busy: u64,
    pub acquires_failed: u64,
    pub renewals_ok: u64,
    pub renewals_failed: u64,
    pub renewals_corrupt: u64,
    pub lockspace_failures: u64,
    pub releases: u64,
}

/// Timer tokens. Layers above use tokens of [`TIMER_TOKENS_FIRST_FREE`] and up.
const TIMER_JOIN: u64 = 1;
const TIMER_RENEW: u64 = 2;
const TIMER_DEADLINE: u64 = 3;
/// The first timer token the membership layer does not use.
pub const TIMER_TOKENS_FIRST_FREE: u64 = 16;

/// Operations that can carry the delta-lease operations (the plain [`DeltaOp`], or a
/// workload's own enum with a delta variant).
pub trait CarriesDelta: Operation + From<DeltaOp> {}
impl<O: Operation + From<DeltaOp>> CarriesDelta for O {}

/// The delta-lease workload.
#[derive(Debug)]
pub struct DeltaWorkload {
    pub geometry: Geometry,
    pub timeouts: Timeouts,
    pub hosts: Vec<DeltaHost>,
    /// Per host_id: the generations of successful acquires, in order.
    pub acquired_generations: Vec<Vec<GenerationUse>>,
    /// Groups of hosts configured with the same host_id (only groups of two or more).
    pub shared_ids: Vec<Vec<HostIndex>>,
    pub stats: DeltaStats,
    /// Probability of releasing after a successful renewal.
    pub release_probability: f64,
    /// World disk holding the lockspace (the delta operations' disk 0).
    pub lockspace_disk: DiskId,
    pub policy: MemberPolicy,
}

impl DeltaWorkload {
    /// `host_ids[i]` is host `i`'s configured host_id (duplicates allowed: misconfiguration).
    pub fn new(geometry: Geometry, timeouts: Timeouts, host_ids: Vec<u64>, seed: u64) -> Self {
        let max = geometry.max_hosts();
        assert!(host_ids.iter().all(|&id| (1..=max).contains(&id)));
        let mut by_id: Vec<Vec<HostIndex>> = vec![Vec::new(); max as usize];
        for (i, &id) in host_ids.iter().enumerate() {
            by_id[(id - 1) as usize].push(HostIndex(i as u32));
        }
        let shared_ids = by_id.into_iter().filter(|g| g.len() > 1).collect();
        let hosts = host_ids
            .iter()
            .enumerate()
            .map(|(i, &host_id)| DeltaHost {
                host_id,
                // Deterministic per seed and host, without touching the world's PRNG.
                stable_name: (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (i % 64)) & 1 == 1,
                phase: Phase::Down,
                lease: None,
                holding: false,
                held_since: MonoTime::ZERO,
                boot: 0,
                last_generation: 0,
                watchdog_at: None,
            })
            .collect();
        DeltaWorkload {
            geometry,
            timeouts,
            hosts,
            acquired_generations: vec![Vec::new(); max as usize],
            shared_ids,
            stats: DeltaStats::default(),
            release_probability: 0.01,
            lockspace_disk: 0,
            policy: MemberPolicy::default(),
        }
    }

    /// The geometry for `sector_size` that fits 2000 hosts.
    pub fn geometry_for(sector_size: u64) -> Geometry {
        match sector_size {
            512 => Geometry::new(SectorSize::B512, AlignSize::M1),
            4096 => Geometry::new(SectorSize::B4096, AlignSize::M8),
            other => panic!("sector size {other}"),
        }
        .expect("valid geometry")
    }

    /// The initialised lockspace area (`sanlock direct init -s`), to place at offset 0.
    pub fn initial_area(&self) -> Vec<u8> {
        let name = Name::new(LOCKSPACE_NAME).expect("valid name");
        let io = u16::try_from(self.timeouts.io_timeout_seconds).expect("io fits");
        lockspace_init_area(self.geometry, &name, io)
    }

    /// Whether `host` holds its host_id at local time `local_now` (module docs).
    pub fn holds(&self, host: HostIndex, local_now: MonoTime) -> bool {
        let h = &self.hosts[host.as_usize()];
        let Some(lease) = h.lease.as_ref().filter(|_| h.holding) else {
            return false;
        };
        local_now >= h.held_since && local_now < lease.fail_deadline()
    }

    fn state(&mut self, host: HostIndex) -> &mut DeltaHost {
        &mut self.hosts[host.as_usize()]
    }

    fn config<O: CarriesDelta>(&self, ctx: &HostCtx<'_, O>) -> DeltaConfig {
        let host = ctx.host();
        let h = &self.hosts[host.as_usize()];
        let name = if h.stable_name {
            format!("host{}", host.0)
        } else {
            format!("host{}.boot{}", host.0, ctx.boot())
        };
        DeltaConfig {
            geometry: self.geometry,
            lockspace_offset: 0,
            space_name: Name::new(LOCKSPACE_NAME).expect("valid"),
            host_id: h.host_id,
            our_name: Name::new(&name).expect("short name"),
            timeouts: self.timeouts,
            previous_generation: h.last_generation,
        }
    }

    fn join_later<O: CarriesDelta>(&mut self, ctx: &mut HostCtx<'_, O>, ms_min: u64, ms_max: u64) {
        let delay = ctx.rng().range_u64(ms_min, ms_max);
        let at = ctx.local_now().saturating_add(Duration::from_millis(delay));
        self.state(ctx.host()).phase = Phase::Idle;
        ctx.set_timer(at, TIMER_JOIN);
    }

    fn arm_watchdog<O: CarriesDelta>(&mut self, ctx: &mut HostCtx<'_, O>, lease: &HeldDeltaLease) {
        let t = &self.timeouts;
        let expire_ms =
            (t.id_renewal_fail_seconds() + u64::from(t.watchdog_fire_timeout_seconds)) * 1000;
        let early = ctx.rng().range_u64(0, WDMD_TEST_INTERVAL_MS);
        let deadline = lease
            .last_success
            .saturating_add(Duration::from_millis(expire_ms - early));
        self.set_watchdog(ctx, Some(deadline));
    }

    fn set_watchdog<O: CarriesDelta>(&mut self, ctx: &mut HostCtx<'_, O>, at: Option<MonoTime>) {
        self.state(ctx.host()).watchdog_at = at;
        ctx.arm_watchdog(at);
    }

    fn schedule_renewal<O: CarriesDelta>(&mut self, ctx: &mut HostCtx<'_, O>, at: MonoTime) {
        let poll = ctx.rng().range_u64(0, RENEW_POLL_MS_MAX);
        ctx.set_timer(at.saturating_add(Duration::from_millis(poll)), TIMER_RENEW);
    }

    fn acquired<O: CarriesDelta>(
        &mut self,
        ctx: &mut HostCtx<'_, O>,
        result: Result<HeldDeltaLease, DeltaError>,
    ) -> MemberEvent {
        let host = ctx.host();
        match result {
            Ok(lease) => {
                self.stats.acquires_ok += 1;
                let id = lease.config.host_id;
                ctx.note(
                    "acquired host_id",
                    id,
                    lease.generation,
                    lease.last_success.as_millis(),
                );
                let boot = self.hosts[host.as_usize()].boot;
                let used = GenerationUse {
                    generation: lease.generation,
                    host,
                    boot,
                };
                self.acquired_generations[(id - 1) as usize].push(used);
                let h = &mut self.hosts[host.as_usize()];
                h.last_generation = h.last_generation.max(lease.generation);
                self.arm_watchdog(ctx, &lease);
                let due = lease.renewal_due();
                let now = ctx.local_now();
                let h = self.state(host);
                h.held_since = now;
                h.holding = true;
                h.lease = Some(lease);
                h.phase = Phase::Held { renewing: false };
                self.schedule_renewal(ctx, due);
                MemberEvent::Joined
            }
            Err(err) => {
                match err {
                    DeltaError::HostIdBusy => self.stats.acquires_busy += 1,
                    _ => self.stats.acquires_failed += 1,
                }
                ctx.note(
                    "acquire failed",
                    err.sanlock_errno().unsigned_abs().into(),
                    0,
                    0,
                );
                self.join_later(ctx, 5_000, 60_000);
                MemberEvent::Nothing
            }
        }
    }

    fn renewed<O: CarriesDelta>(
        &mut self,
        ctx: &mut HostCtx<'_, O>,
        result: Result<Renewed, RenewFailed>,
        may_release: bool,
    ) -> MemberEvent {
        let host = ctx.host();
        let h = &self.hosts[host.as_usize()];
        if h.phase != (Phase::Held { renewing: true }) {
            // The lockspace failed at its deadline while this renewal ran: ignore its result.
            if let Ok(renewed) = result {
                ctx.recycle(Vec::from(renewed.area));
            }
            return MemberEvent::Nothing;
        }
        let deadline = h.lease.as_ref().expect("held").fail_deadline();
        match result {
            Ok(renewed) if self.policy.daemon_deadlines && ctx.local_now() > deadline => {
                // Too late: the daemon fails the lockspace rather than trust a stale view.
                ctx.recycle(Vec::from(renewed.area));
                ctx.note("renewed after the fail deadline", 0, 0, 0);
                self.lockspace_failed(ctx)
            }
            Ok(renewed) => {
                self.stats.renewals_ok += 1;
                let lease = renewed.lease;
                self.arm_watchdog(ctx, &lease);
                let due = lease.renewal_due();
                let h = self.state(host);
                h.lease = Some(lease.clone());
                h.phase = Phase::Held { renewing: false };
                if ctx.rng().chance(self.release_probability) && may_release {
                    let h = self.state(host);
                    h.holding = false;
                    h.phase = Phase::Releasing;
                    ctx.note("release", lease.config.host_id, lease.generation, 0);
                    let disk = self.lockspace_disk;
                    ctx.spawn(
                        DeltaOp::Release(Box::new(DeltaRelease::new(lease))).into(),
                        vec![disk],
                    );
                } else {
                    self.schedule_renewal(ctx, due);
                }
                MemberEvent::Renewed {
                    read_at: self.hosts[host.as_usize()]
                        .lease
                        .as_ref()
                        .expect("held")
                        .last_success,
                    area: Vec::from(renewed.area),
                }
            }
            Err(RenewFailed { lease, error }) => {
                let corrupt = error.is_corrupt();
                if corrupt {
                    self.stats.renewals_corrupt += 1;
                } else {
                    self.stats.renewals_failed += 1;
                }
                let errno = error.sanlock_errno().unsigned_abs().into();
                ctx.note("renew failed", errno, u64::from(corrupt), 0);
                let past_fail = ctx.local_now() >= lease.fail_deadline();
                let h = self.state(host);
                h.lease = Some(lease);
                if corrupt || past_fail {
                    self.lockspace_failed(ctx)
                } else {
                    h.phase = Phase::Held { renewing: false };
                    let at = ctx
                        .local_now()
                        .saturating_add(Duration::from_millis(RENEW_RETRY_MS));
                    ctx.set_timer(at, TIMER_RENEW);
                    MemberEvent::Nothing
                }
            }
        }
    }

    /// Stop renewing. The holders are killed; if they all exit, sanlock disables the watchdog
    /// check and the host may later re-join; otherwise the watchdog resets the host. With
    /// [`MemberPolicy::deferred_kill`] the layer above decides, through [`Self::pids_exited`].
    fn lockspace_failed<O: CarriesDelta>(&mut self, ctx: &mut HostCtx<'_, O>) -> MemberEvent {
        self.stats.lockspace_failures += 1;
        let host = ctx.host();
        self.state(host).phase = Phase::Failed;
        if self.policy.deferred_kill {
            ctx.note("lockspace failed", 2, 0, 0);
            return MemberEvent::Failed;
        }
        let all_pids_exit = ctx.rng().chance(0.5);
        ctx.note("lockspace failed", u64::from(all_pids_exit), 0, 0);
        if all_pids_exit {
            self.pids_exited(ctx);
        }
        MemberEvent::Failed
    }

    /// Every lease holder of a failed lockspace has exited: sanlock stops the watchdog check
    /// and the host may re-join, once the hold has expired on its clock.
    pub fn pids_exited<O: CarriesDelta>(&mut self, ctx: &mut HostCtx<'_, O>) {
        let host = ctx.host();
        assert_eq!(self.hosts[host.as_usize()].phase, Phase::Failed);
        let lease = self.hosts[host.as_usize()].lease.clone().expect("held");
        let deadline = lease.fail_deadline();
        self.set_watchdog(ctx, None);
        let local = ctx.local_now().max(deadline);
        let at = local.saturating_add(Duration::from_millis(5_000));
        self.state(host).phase = Phase::Idle;
        ctx.set_timer(at, TIMER_JOIN);
    }

    /// [`Workload::host_booted`] for any operation type carrying the delta operations.
    pub fn boot<O: CarriesDelta>(&mut self, ctx: &mut HostCtx<'_, O>) {
        let boot = ctx.boot();
        let h = self.state(ctx.host());
        h.boot = boot;
        h.lease = None;
        h.holding = false;
        h.last_generation = 0;
        h.watchdog_at = None;
        self.join_later(ctx, 0, 5_000);
    }

    /// [`Workload::timer`] for the membership's tokens (below [`TIMER_TOKENS_FIRST_FREE`]).
    pub fn on_timer<O: CarriesDelta>(
        &mut self,
        ctx: &mut HostCtx<'_, O>,
        token: u64,
    ) -> MemberEvent {
        let host = ctx.host();
        let phase = self.hosts[host.as_usize()].phase;
        let disk = self.lockspace_disk;
        match (token, phase) {
            (TIMER_JOIN, Phase::Idle) => {
                let config = self.config(ctx);
                let h = self.state(host);
                h.phase = Phase::Acquiring;
                h.holding = false;
                ctx.spawn(
                    DeltaOp::Acquire(Box::new(DeltaAcquire::new(config))).into(),
                    vec![disk],
                );
            }
            (TIMER_RENEW, Phase::Held { renewing: false }) => {
                let h = self.state(host);
                let lease = h.lease.clone().expect("held");
                if ctx.local_now() >= lease.fail_deadline() {
                    return self.lockspace_failed(ctx);
                }
                h.phase = Phase::Held { renewing: true };
                if self.policy.daemon_deadlines {
                    ctx.set_timer(lease.fail_deadline(), TIMER_DEADLINE);
                }
                let op = DeltaRenew::new(lease, OutgoingEvent::default(), HostBitmap::default());
                ctx.spawn(DeltaOp::Renew(Box::new(op)).into(), vec![disk]);
            }
            (TIMER_DEADLINE, Phase::Held { renewing: true }) => {
                let lease = self.hosts[host.as_usize()].lease.as_ref().expect("held");
                if ctx.local_now() >= lease.fail_deadline() {
                    ctx.note("renewal still running at the fail deadline", 0, 0, 0);
                    return self.lockspace_failed(ctx);
                }
            }
            _ => {}
        }
        MemberEvent::Nothing
    }

    /// [`Workload::op_done`] for the delta operations. The host_id is released now and then
    /// after a renewal, if `may_release`.
    pub fn on_done<O: CarriesDelta>(
        &mut self,
        ctx: &mut HostCtx<'_, O>,
        output: DeltaOut,
        may_release: bool,
    ) -> MemberEvent {
        match output {
            DeltaOut::Acquire(result) => self.acquired(ctx, result),
            DeltaOut::Renew(result) => self.renewed(ctx, result, may_release),
            DeltaOut::Release(result) => {
                self.stats.releases += 1;
                ctx.note("released", u64::from(result.is_ok()), 0, 0);
                self.set_watchdog(ctx, None);
                let h = self.state(ctx.host());
                h.lease = None;
                self.join_later(ctx, 5_000, 60_000);
                MemberEvent::Released
            }
        }
    }

    /// [`Workload::host_crashed`].
    pub fn crashed(&mut self, host: HostIndex) {
        let h = self.state(host);
        h.phase = Phase::Down;
        h.holding = false;
        h.lease = None;
        h.watchdog_at = None;
    }
}

impl Workload for DeltaWorkload {
    type Op = DeltaOp;

    fn host_booted(&mut self, ctx: &mut HostCtx<'_, DeltaOp>) {
        self.boot(ctx);
    }

    fn timer(&mut self, ctx: &mut HostCtx<'_, DeltaOp>, token: u64) {
        self.on_timer(ctx, token);
    }

    fn op_done(&mut self, ctx: &mut HostCtx<'_, DeltaOp>, _task: TaskId, output: DeltaOut) {
        if let MemberEvent::Renewed { area, .. } = self.on_done(ctx, output, true) {
            ctx.recycle(area);
        }
    }

    fn host_crashed(&mut self, host: HostIndex, _at: crate::clock::TrueTime) {
        self.crashed(host);
    }
}

/// Workloads whose hosts join the lockspace through a [`DeltaWorkload`] membership layer;
/// the delta checkers apply to all of them.
pub trait HasMembership {
    fn membership(&self) -> &DeltaWorkload;
}

impl HasMembership for DeltaWorkload {
    fn membership(&self) -> &DeltaWorkload {
        self
    }
}

/// A host_id is never held by two hosts at once (in true time).
#[derive(Debug, Default)]
pub struct HostIdExclusive;

impl<W: Workload + HasMembership> Invariant<W> for HostIdExclusive {
    fn name(&self) -> &'static str {
        "host_id_exclusive"
    }

    fn source(&self) -> &'static str {
        "Chockler-Malkhi delta leases (uniqueness under timeliness); sanlock(8) host_id; \
         anchors §5 items 3, 4 and 10"
    }

    fn check(&mut self, view: &WorldView<'_, W>) -> Result<(), Box<Violation>> {
        let w = view.workload().membership();
        for group in &w.shared_ids {
            let holders: Vec<HostIndex> = group
                .iter()
                .copied()
                .filter(|&h| view.host(h).is_up() && w.holds(h, view.local_now(h)))
                .collect();
            if holders.len() > 1 {
                let id = w.hosts[holders[0].as_usize()].host_id;
                let details: Vec<String> = holders
                    .iter()
                    .map(|&h| {
                        let s = &w.hosts[h.as_usize()];
                        let lease = s.lease.as_ref().expect("holder has a lease");
                        format!(
                            "{h} (gen {}, held since local {}, last renewal local {}, now local {})",
                            lease.generation,
                            s.held_since,
                            lease.last_success,
                            view.local_now(h)
                        )
                    })
                    .collect();
                return Err(Violation::new(
                    format!(
                        "host_id {id} held by {} hosts: {}",
                        holders.len(),
                        details.join("; ")
                    ),
                    holders,
                    format!("host_id {id}"),
                ));
            }
        }
        Ok(())
    }
}

/// A (host_id, generation) pair is never handed to an incarnation while an earlier
/// incarnation that used the same or a later generation of that host_id is still running.
///
/// Generations of one host_id grow with every acquire as long as the acquirer can read its
/// own last write. One case defeats that and is allowed: a host whose timed-out write of an
/// old generation landed late, and which then crashed (reset), re-reads the stale generation
/// after reboot and may reuse a number its dead incarnation had used. Paxos ownership is keyed
/// on (host_id, generation), so reuse is harmless only when the earlier user is gone: that is
/// what this checks. Within one incarnation `DeltaConfig::previous_generation` prevents reuse.
#[derive(Debug, Default)]
pub struct GenerationsGrow;

impl<W: Workload + HasMembership> Invariant<W> for GenerationsGrow {
    fn name(&self) -> &'static str {
        "generations_grow"
    }

    fn source(&self) -> &'static str {
        "format spec §4.2 step 5 (owner_generation = read + 1); anchors §5 items 9-10"
    }

    fn check(&mut self, view: &WorldView<'_, W>) -> Result<(), Box<Violation>> {
        // Acquires are recorded in events that concern their host: check that host_id only.
        let Some(host) = view.last_event_host() else {
            return Ok(());
        };
        let w = view.workload().membership();
        let id = w.hosts[host.as_usize()].host_id;
        let uses = &w.acquired_generations[(id - 1) as usize];
        let Some((last, earlier)) = uses.split_last() else {
            return Ok(());
        };
        // An earlier use of a generation >= ours by an incarnation that is still running.
        let clash = earlier
            .iter()
            .rev()
            .find(|u| u.generation >= last.generation && w.hosts[u.host.as_usize()].boot == u.boot);
        match clash {
            Some(before) => {
                Err(Violation::new(
                    format!(
                    "host_id {id} acquired with generation {} by h{} boot {} after generation {} \
                     by h{} boot {}, which is still running",
                    last.generation, last.host.0, last.boot, before.generation, before.host.0,
                    before.boot
                ),
                    vec![host],
                    format!("host_id {id}"),
                ))
            }
            None => Ok(()),
        }
    }
}
