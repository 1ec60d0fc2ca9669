//! Running seeds: one, or many in parallel threads, with throughput figures.
//!
//! A run is fully determined by its [`RunConfig`] (seed included) and the code; it reports the
//! seed, the trace hash and, if an invariant failed, the [`Violation`]. Threads only split the
//! seed range: each seed runs single-threaded, so results do not depend on the thread count.
//! Wall-clock time is read here for throughput reports only, never inside a simulation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lease_core::timeouts::Timeouts;

use crate::clock::TrueTime;
use crate::faults::FaultOptions;
use crate::invariant::Violation;
use crate::trace::TraceEvent;
use crate::workload::delta::{DeltaWorkload, GenerationsGrow, HostIdExclusive};
use crate::workload::paxos::{
    ExclusiveOwner, HandoverVersion, LeaderLverOnDisk, LivenessBound, LverMonotonic, PaxosParams,
    PaxosWorkload,
};
use crate::workload::toy::{ToyDiskSlotsValid, ToyReadsWhole, ToyWorkload};
use crate::world::{DiskSpec, World, WorldConfig};

/// Which workload a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadKind {
    /// Write own slot, read back (proves the machinery).
    Toy,
    /// lease-core delta leases: acquire, renew, release host_ids.
    Delta,
    /// lease-core Disk Paxos resource leases on top of delta-lease membership, then a
    /// liveness phase.
    Paxos,
}

impl WorkloadKind {
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Toy => "toy",
            WorkloadKind::Delta => "delta",
            WorkloadKind::Paxos => "paxos",
        }
    }

    pub fn from_name(name: &str) -> Option<WorkloadKind> {
        [WorkloadKind::Toy, WorkloadKind::Delta, WorkloadKind::Paxos]
            .into_iter()
            .find(|k| k.name() == name)
    }

    /// Default simulated seconds per seed (for paxos: the safety phase, before quiet and
    /// liveness).
    pub fn default_duration_secs(self) -> u64 {
        match self {
            WorkloadKind::Toy => 600,
            WorkloadKind::Delta => 3600,
            WorkloadKind::Paxos => 1800,
        }
    }
}

/// Which fault preset a run uses (see `faults`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultPreset {
    None,
    /// Everything but hangs and pauses ([`FaultOptions::timely`]).
    Timely,
    /// Everything but I/O that lands after its deadline ([`FaultOptions::no_hangs`]).
    NoHangs,
    /// Crashes and pauses, every I/O succeeds in time ([`FaultOptions::pauses`]).
    Pauses,
    /// Crashes only, every I/O succeeds in time ([`FaultOptions::crashes`]).
    Crashes,
    Safety,
    Chaos,
}

impl FaultPreset {
    pub fn name(self) -> &'static str {
        match self {
            FaultPreset::None => "none",
            FaultPreset::Timely => "timely",
            FaultPreset::NoHangs => "no-hangs",
            FaultPreset::Pauses => "pauses",
            FaultPreset::Crashes => "crashes",
            FaultPreset::Safety => "safety",
            FaultPreset::Chaos => "chaos",
        }
    }

    pub fn from_name(name: &str) -> Option<FaultPreset> {
        [
            FaultPreset::None,
            FaultPreset::Timely,
            FaultPreset::NoHangs,
            FaultPreset::Pauses,
            FaultPreset::Crashes,
            FaultPreset::Safety,
            FaultPreset::Chaos,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }

    pub fn options(self, timeouts: &Timeouts) -> FaultOptions {
        match self {
            FaultPreset::None => FaultOptions::none(),
            FaultPreset::Timely => FaultOptions::timely(timeouts),
            FaultPreset::NoHangs => FaultOptions::no_hangs(timeouts),
            FaultPreset::Pauses => FaultOptions::pauses(timeouts),
            FaultPreset::Crashes => FaultOptions::crashes(timeouts),
            FaultPreset::Safety => FaultOptions::safety(timeouts),
            FaultPreset::Chaos => FaultOptions::chaos(timeouts),
        }
    }
}

/// Everything that determines one run besides the code.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub seed: u64,
    pub host_count: u32,
    /// Simulated (true) time to run.
    pub duration_secs: u64,
    pub workload: WorkloadKind,
    pub faults: FaultPreset,
    pub sector_size: u64,
    pub timeouts: Timeouts,
    /// Delta workload: give the last host the same host_id as the first (misconfiguration).
    pub duplicate_host_id: bool,
    /// Keep every trace event and return it in the report (single-seed debugging).
    pub keep_full_trace: bool,
    /// Paxos workload: resource leases.
    pub resources: usize,
    /// Paxos workload: disks per resource lease.
    pub lease_disks: usize,
    /// Paxos workload: hosts that use resource leases (default: up to 8).
    pub contenders: Option<u32>,
    /// Paxos workload: exclusive leases only (no shared mode, no conversions).
    pub exclusive_only: bool,
    /// Paxos workload: leave out `leader_lver_on_disk`. Finding H (docs/sim.md): a write that
    /// lands after its host was taken for dead can take the leader record back, which no disk
    /// protocol prevents and ours repairs; every other invariant still runs.
    pub no_leader_check: bool,
}

impl RunConfig {
    pub fn new(seed: u64, host_count: u32) -> RunConfig {
        RunConfig {
            seed,
            host_count,
            duration_secs: 600,
            workload: WorkloadKind::Toy,
            faults: FaultPreset::Safety,
            sector_size: 512,
            timeouts: Timeouts::default(),
            duplicate_host_id: false,
            keep_full_trace: false,
            resources: 2,
            lease_disks: 1,
            contenders: None,
            exclusive_only: false,
            no_leader_check: false,
        }
    }
}

/// The result of one run.
#[derive(Debug)]
pub struct RunReport {
    pub seed: u64,
    pub trace_hash: u64,
    pub event_count: u64,
    pub sim_ms: u64,
    pub host_count: u32,
    /// One line of workload-specific counters.
    pub summary: String,
    pub violation: Option<Box<Violation>>,
    /// Every trace event, if `keep_full_trace` was set.
    pub trace: Vec<TraceEvent>,
}

impl RunReport {
    /// Simulated host-seconds covered by this run.
    pub fn host_seconds(&self) -> f64 {
        f64::from(self.host_count) * self.sim_ms as f64 / 1000.0
    }
}

/// Run one seed.
pub fn run_seed(config: &RunConfig) -> RunReport {
    match config.workload {
        WorkloadKind::Toy => run_toy(config),
        WorkloadKind::Delta => run_delta(config),
        WorkloadKind::Paxos => run_paxos(config),
    }
}

/// The world of a paxos run, with its invariants, before any event ran.
pub fn paxos_world(config: &RunConfig) -> World<PaxosWorkload> {
    let faults = config.faults.options(&config.timeouts);
    let geometry = DeltaWorkload::geometry_for(config.sector_size);
    let n = config.host_count;
    let mut params = PaxosParams::new(n, config.duration_secs, &config.timeouts);
    params.resources = config.resources;
    params.lease_disks = config.lease_disks;
    params.shared = !config.exclusive_only;
    if let Some(c) = config.contenders {
        params.contenders = c.min(n);
        params.liveness_hosts = params.liveness_hosts.min(params.contenders);
    }
    let workload = PaxosWorkload::new(geometry, config.timeouts, n, params, config.seed);
    let mut disks = vec![
        DiskSpec {
            size_bytes: workload.lease_disk_bytes(),
            sector_size: config.sector_size,
        };
        config.lease_disks
    ];
    disks.push(DiskSpec {
        size_bytes: geometry.area_bytes(),
        sector_size: config.sector_size,
    });
    let world_config = WorldConfig {
        seed: config.seed,
        host_count: n,
        disks,
        faults,
        keep_full_trace: config.keep_full_trace,
    };
    let lockspace = workload.delta.initial_area();
    let areas: Vec<Vec<u8>> = (0..config.resources)
        .map(|r| workload.initial_area(r))
        .collect();
    let offsets: Vec<u64> = (0..config.resources)
        .map(|r| workload.lease_offset(r))
        .collect();
    let mut world = World::new(world_config, workload);
    for d in 0..config.lease_disks {
        for (area, &offset) in areas.iter().zip(&offsets) {
            world.disk_mut(d).poke(offset, area);
        }
    }
    world.disk_mut(config.lease_disks).poke(0, &lockspace);
    world.add_invariant(Box::new(HostIdExclusive));
    world.add_invariant(Box::new(GenerationsGrow));
    world.add_invariant(Box::new(ExclusiveOwner));
    world.add_invariant(Box::new(LverMonotonic::default()));
    if !config.no_leader_check {
        world.add_invariant(Box::new(LeaderLverOnDisk::default()));
    }
    world.add_invariant(Box::new(HandoverVersion::default()));
    world.add_invariant(Box::new(LivenessBound));
    world
}

/// Run a paxos world through its safety phase, then with faults off until every liveness
/// want was granted (or a checker fails).
pub fn run_paxos_world(world: &mut World<PaxosWorkload>) -> Result<(), Box<Violation>> {
    let params = world.workload().params.clone();
    world.run_until(params.quiet_at)?;
    let quiet = world.faults().quiet();
    world.set_faults(quiet);
    let bound = u64::try_from(world.workload().liveness_bound().as_millis()).expect("fits");
    let wants = world.workload().wants.len() as u64;
    let limit = params.liveness_at.plus_ms(bound * (wants + 1));
    while !world.workload().liveness_done() && world.now() <= limit {
        if !world.step()? {
            break;
        }
    }
    assert!(
        world.workload().liveness_done(),
        "seed {}: the liveness phase neither finished nor failed by {limit}",
        world.seed()
    );
    Ok(())
}

fn run_paxos(config: &RunConfig) -> RunReport {
    let n = config.host_count;
    let mut world = paxos_world(config);
    let violation = run_paxos_world(&mut world).err();
    let s = world.stats();
    let d = world.workload().delta.stats;
    let p = world.workload().stats;
    let summary = format!(
        "steps {} ios {} hangs {} timeouts {} crashes {} pauses {} path-losses {} | \
         host_ids ok/busy/failed {}/{}/{} lockspace failures {} | acquires {} granted ex/sh \
         {}/{} refused live/owned/lver/shared {}/{}/{}/{} failed io/other {}/{} handovers \
         {}/{} releases {} (failed {}) retracts left {} to-sh {} to-ex {} lost {} stale {} \
         takeovers {}",
        s.step_count,
        s.io_count,
        s.hang_count,
        s.timed_out_count,
        s.crash_count,
        s.pause_count,
        s.path_loss_count,
        d.acquires_ok,
        d.acquires_busy,
        d.acquires_failed,
        d.lockspace_failures,
        p.acquires,
        p.granted_ex,
        p.granted_sh,
        p.refused_live,
        p.refused_owned,
        p.refused_lver,
        p.refused_shared,
        p.failed_io,
        p.failed_other,
        p.handovers_ok,
        p.handovers_tried,
        p.releases,
        p.releases_failed,
        p.retracts_left,
        p.to_shared,
        p.to_exclusive,
        p.lost_to_fencing,
        p.stale_grants,
        p.takeovers,
    );
    RunReport {
        seed: config.seed,
        trace_hash: world.trace().hash(),
        event_count: s.event_count,
        sim_ms: world.now().as_millis(),
        host_count: n,
        summary,
        violation,
        trace: world
            .trace()
            .all()
            .map(<[TraceEvent]>::to_vec)
            .unwrap_or_default(),
    }
}

/// The world of a delta-lease run, with its invariants, before any event ran.
pub fn delta_world(config: &RunConfig) -> World<DeltaWorkload> {
    let faults = config.faults.options(&config.timeouts);
    let geometry = DeltaWorkload::geometry_for(config.sector_size);
    let n = config.host_count;
    let mut host_ids: Vec<u64> = (1..=u64::from(n)).collect();
    if config.duplicate_host_id && n >= 2 {
        host_ids[n as usize - 1] = 1;
    }
    let workload = DeltaWorkload::new(geometry, config.timeouts, host_ids, config.seed);
    let area = workload.initial_area();
    let world_config = WorldConfig {
        seed: config.seed,
        host_count: n,
        disks: vec![DiskSpec {
            size_bytes: geometry.area_bytes(),
            sector_size: config.sector_size,
        }],
        faults,
        keep_full_trace: config.keep_full_trace,
    };
    let mut world = World::new(world_config, workload);
    world.disk_mut(0).poke(0, &area);
    world.add_invariant(Box::new(HostIdExclusive));
    world.add_invariant(Box::new(GenerationsGrow));
    world
}

fn run_delta(config: &RunConfig) -> RunReport {
    let n = config.host_count;
    let mut world = delta_world(config);
    let violation = world
        .run_until(TrueTime::from_secs(config.duration_secs))
        .err();
    let s = world.stats();
    let d = world.workload().stats;
    let summary = format!(
        "steps {} ios {} hangs {} timeouts {} crashes {} pauses {} path-losses {} | \
         acquires ok/busy/failed {}/{}/{} renewals ok/failed/corrupt {}/{}/{} \
         lockspace failures {} releases {}",
        s.step_count,
        s.io_count,
        s.hang_count,
        s.timed_out_count,
        s.crash_count,
        s.pause_count,
        s.path_loss_count,
        d.acquires_ok,
        d.acquires_busy,
        d.acquires_failed,
        d.renewals_ok,
        d.renewals_failed,
        d.renewals_corrupt,
        d.lockspace_failures,
        d.releases
    );
    RunReport {
        seed: config.seed,
        trace_hash: world.trace().hash(),
        event_count: s.event_count,
        sim_ms: world.now().as_millis(),
        host_count: n,
        summary,
        violation,
        trace: world
            .trace()
            .all()
            .map(<[TraceEvent]>::to_vec)
            .unwrap_or_default(),
    }
}

fn run_toy(config: &RunConfig) -> RunReport {
    let faults = config.faults.options(&config.timeouts);
    let size = ToyWorkload::disk_size_bytes(config.host_count, config.sector_size);
    let world_config = WorldConfig {
        seed: config.seed,
        host_count: config.host_count,
        disks: vec![DiskSpec {
            size_bytes: size,
            sector_size: config.sector_size,
        }],
        faults,
        keep_full_trace: config.keep_full_trace,
    };
    let workload = ToyWorkload::new(
        config.host_count,
        config.sector_size,
        1_000,
        config.timeouts.io_timeout(),
    );
    let mut world = World::new(world_config, workload);
    world.add_invariant(Box::new(ToyReadsWhole));
    world.add_invariant(Box::new(ToyDiskSlotsValid));
    let violation = world
        .run_until(TrueTime::from_secs(config.duration_secs))
        .err();
    let s = world.stats();
    let t = world.workload().stats;
    let summary = format!(
        "steps {} ios {} hangs {} timeouts {} crashes {} pauses {} path-losses {} | \
         rounds {} writes ok/timeout/fail {}/{}/{} mixed-slot reads {}",
        s.step_count,
        s.io_count,
        s.hang_count,
        s.timed_out_count,
        s.crash_count,
        s.pause_count,
        s.path_loss_count,
        t.rounds,
        t.writes_ok,
        t.writes_timed_out,
        t.writes_failed,
        t.slot_reads_mixed
    );
    RunReport {
        seed: config.seed,
        trace_hash: world.trace().hash(),
        event_count: s.event_count,
        sim_ms: world.now().as_millis(),
        host_count: config.host_count,
        summary,
        violation,
        trace: world
            .trace()
            .all()
            .map(<[TraceEvent]>::to_vec)
            .unwrap_or_default(),
    }
}

/// Results of many seeds.
#[derive(Debug)]
pub struct BatchReport {
    /// Sorted by seed.
    pub runs: Vec<RunReport>,
    pub wall: Duration,
}

impl BatchReport {
    pub fn failures(&self) -> impl Iterator<Item = &RunReport> {
        self.runs.iter().filter(|r| r.violation.is_some())
    }

    pub fn seeds_per_second(&self) -> f64 {
        self.runs.len() as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// Simulated host-seconds per wall-clock second.
    pub fn host_seconds_per_second(&self) -> f64 {
        let total: f64 = self.runs.iter().map(RunReport::host_seconds).sum();
        total / self.wall.as_secs_f64().max(1e-9)
    }
}

/// Run seeds `first..first + count` of `base` (its seed is ignored) on `threads` threads.
pub fn run_seeds(base: &RunConfig, first: u64, count: u64, threads: usize) -> BatchReport {
    let next = AtomicU64::new(0);
    let results = Mutex::new(Vec::new());
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let config = RunConfig {
                    seed: first + i,
                    ..base.clone()
                };
                let report = run_seed(&config);
                results.lock().expect("no panics while locked").push(report);
            });
        }
    });
    let wall = start.elapsed();
    let mut runs = results.into_inner().expect("threads joined");
    runs.sort_by_key(|r| r.seed);
    BatchReport { runs, wall }
}
