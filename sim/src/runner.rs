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
use crate::workload::toy::{ToyDiskSlotsValid, ToyReadsWhole, ToyWorkload};
use crate::world::{DiskSpec, World, WorldConfig};

/// Which workload a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadKind {
    /// Write own slot, read back (proves the machinery).
    Toy,
    /// lease-core delta leases: acquire, renew, release host_ids.
    Delta,
}

/// Which fault preset a run uses (see `faults`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultPreset {
    None,
    /// Everything but hangs and pauses ([`FaultOptions::timely`]).
    Timely,
    Safety,
    Chaos,
}

impl FaultPreset {
    pub fn options(self, timeouts: &Timeouts) -> FaultOptions {
        match self {
            FaultPreset::None => FaultOptions::none(),
            FaultPreset::Timely => FaultOptions::timely(timeouts),
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
