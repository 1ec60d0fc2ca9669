//! bench_renewal: delta-lease renewal latency against the raw O_DIRECT floor (issue 3).
//!
//! On one loop device, in one run:
//! 1. **floor vs renewal, interleaved.** Raw: `Device::read_into` of 1 MiB and a 512-byte
//!    `Device::write_at` (a renewal's two I/Os, O_DIRECT, O_DSYNC writes, preallocated aligned
//!    buffer) at an unused offset; the same write without O_DSYNC; the same two I/Os through
//!    lease-io's io_uring engine. In-process: our renewal path, `DeltaRenew` through
//!    `lease_daemon::exec::drive`, on each executor (`ThreadExecutor`; `EngineExecutor` on
//!    io_uring, the daemon's default), timed per I/O batch by a probe, on a tokio runtime built
//!    as the daemon's. Replica: a timestamped copy of `ThreadExecutor`, to split each I/O into
//!    dispatch, allocation, syscall, copy and wake-up. One of each in turn, so that machine
//!    noise hits all alike.
//! 2. **burst round.** N lockspaces acquired in-process; all N renewals started at once vs
//!    one renewal alone (wall time until the last completes), per executor.
//! 3. **round in the daemon, in-process.** `lease_daemon::daemon::Daemon` (the production
//!    renewal loops) with a probe around each executor: 1 lockspace, then N joined together;
//!    the time to complete one renewal of each (first read issued to last write done) vs one.
//! 4. **daemon binaries.** `lease client renewal` history (read_ms/write_ms, whole ms) of our
//!    daemon (default engine, and `--io-engine threads`) with 1 and N lockspaces, next to
//!    sanlock's (`--ours-only` skips sanlock).
//!
//! Times are in microseconds unless the unit says otherwise.

use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use benches::daemons::{join_each_at_once, labels, DaemonProc, LsRef};
use benches::probe::{self, Kind as IoKind, Probe, Replica};
use benches::report::{max, median, Report};
use benches::setup::{self, init_lockspace, LoopDev, MIB};
use benches::{
    daemon_runtime, run_timeout, uring_executor, AnyExec, Bench, CommonArgs, Exec, Stalled,
};
use clap::Parser;
use lease_core::delta_lease::{
    DeltaAcquire, DeltaConfig, DeltaRenew, HeldDeltaLease, OutgoingEvent,
};
use lease_core::geometry::Geometry;
use lease_core::ondisk::HostBitmap;
use lease_core::seam::{Io, IoOutcome};
use lease_core::timeouts::{Timeouts, DEFAULT_WATCHDOG_FIRE_TIMEOUT_SECONDS};
use lease_daemon::daemon::{generate_host_name, Daemon, DaemonConfig};
use lease_daemon::exec::{drive, DeviceCache, IoExecutor, ThreadExecutor};
use lease_daemon::lockspace::LockspaceSpec;
use lease_io::engine::deadline_after;
use lease_io::{AlignedBuf, Device, Engine, EngineKind};

#[derive(Debug, Parser)]
#[command(about = "Renewal latency of our daemon against the raw O_DIRECT floor (issue 3)")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Interleaved rounds of section 1.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Raw I/O pairs and renewals (per executor) per round.
    #[arg(long, default_value_t = 200)]
    per_run: usize,
    /// Lockspaces of the round measurements.
    #[arg(long, default_value_t = 100)]
    lockspaces: usize,
    /// Burst rounds (section 2).
    #[arg(long, default_value_t = 30)]
    rounds: usize,
    /// Seconds the daemons renew in each phase of sections 3 and 4.
    #[arg(long, default_value_t = 62.0)]
    seconds: f64,
    /// io_timeout of the renewal lockspaces (renewal every 2 x io_timeout).
    #[arg(long, default_value_t = 1)]
    io: u16,
}

impl Args {
    fn apply_smoke(&mut self) {
        if self.common.smoke {
            self.runs = 1;
            self.per_run = 20;
            self.lockspaces = 2;
            self.rounds = 3;
            // The first renewal comes 2 x io_timeout after the join.
            self.seconds = 2.5;
            self.io = 1;
        }
    }
}

/// Offset of the single lockspace of section 1.
const SINGLE_OFFSET: u64 = 0;
/// Scratch area of the raw I/O (unused by any lease).
const RAW_OFFSET: u64 = 900 * MIB;

/// Lockspace `G<i>` (ours) is at `(100 + i)` MiB; daemon variant `v` of section 4 uses
/// `(100 + 200 v + i)` MiB.
fn g_offset(i: usize) -> u64 {
    (100 + i as u64) * MIB
}
fn variant_offset(v: usize, i: usize) -> u64 {
    (100 + 200 * v as u64 + i as u64) * MIB
}

fn main() -> ExitCode {
    benches::main("bench_renewal", || {
        let mut args = Args::parse();
        args.apply_smoke();
        run(&args)
    })
}

fn run(args: &Args) -> Result<()> {
    if args.lockspaces == 0 || args.lockspaces > 200 {
        return Err(anyhow!("--lockspaces must be in 1..=200"));
    }
    let variants = args.common.variants()?;
    if variants.len() > 3 {
        return Err(anyhow!("at most 3 daemons"));
    }
    let executors = args.common.executors()?;
    let mut bench = Bench::start("bench_renewal", &args.common)?;
    let Bench {
        lease,
        report,
        lo,
        work,
    } = &mut bench;
    report.meta("io_timeout", args.io);
    report.meta("lockspaces", args.lockspaces);
    eprintln!(
        "== bench_renewal on {} (loop dio={}) with {}",
        lo.path_str(),
        u8::from(lo.direct_io()),
        lease.display()
    );
    let dev = lo.open()?;
    let rt = daemon_runtime()?;
    let devices = DeviceCache::default();
    let disk = devices.get(lo.path())?;

    // The single lockspace (section 1) and the group (section 2) are acquired together.
    init_lockspace(&dev, "S0", SINGLE_OFFSET, args.io)?;
    for i in 0..args.lockspaces {
        init_lockspace(&dev, &format!("G{i}"), g_offset(i), args.io)?;
    }
    let mut specs = vec![("S0".to_string(), SINGLE_OFFSET)];
    specs.extend((0..args.lockspaces).map(|i| (format!("G{i}"), g_offset(i))));
    eprintln!("== acquiring {} lockspaces in-process", specs.len());
    let mut held = acquire_all(&rt, &disk, &specs, args.io)?;
    let single = held.remove(0);

    // A stalled runtime (deadlock in the code under test) is reported, not waited for.
    let mut rt = Some(rt);
    for section in ["floor", "burst"] {
        let Some(r) = rt.as_ref() else { break };
        let result = if section == "floor" {
            section_floor(args, &executors, report, r, &dev, &disk, single.clone())
        } else {
            section_burst(args, &executors, report, r, &disk, held.clone())
        };
        if let Err(e) = result {
            if e.downcast_ref::<Stalled>().is_none() {
                return Err(e);
            }
            eprintln!("STALL in section {section}: {e:#}; skipping the rest of it");
            report.emit(&format!("ours.stalled.{section}"), 1.0, "flag", None);
            if let Some(r) = rt.take() {
                r.shutdown_timeout(Duration::from_secs(5));
            }
        }
    }
    if let Some(r) = rt {
        r.shutdown_timeout(Duration::from_secs(5));
    }
    for &exec in &executors {
        section_daemon_inproc(args, exec, report, lo, &dev)?;
    }
    section_binaries(args, &variants, report, lo, &dev, lease, work.path())?;

    drop(dev);
    bench.finish(args.common.json.as_deref())
}

fn delta_config(space: &str, offset: u64, io: u16) -> DeltaConfig {
    DeltaConfig {
        geometry: Geometry::S512_A1M,
        lockspace_offset: offset,
        space_name: setup::name(space),
        host_id: 1,
        our_name: generate_host_name(),
        timeouts: Timeouts::new(u32::from(io), DEFAULT_WATCHDOG_FIRE_TIMEOUT_SECONDS),
        previous_generation: 0,
    }
}

/// Acquire host_id 1 in every lockspace of `specs`, all at once.
fn acquire_all(
    rt: &tokio::runtime::Runtime,
    disk: &Arc<Device>,
    specs: &[(String, u64)],
    io: u16,
) -> Result<Vec<HeldDeltaLease>> {
    let specs = specs.to_vec();
    let disk = disk.clone();
    on(rt, async move {
        let tasks: Vec<_> = specs
            .iter()
            .map(|(space, offset)| {
                let disks = vec![disk.clone()];
                let mut op = DeltaAcquire::new(delta_config(space, *offset, io));
                tokio::spawn(async move { drive(&mut op, &ThreadExecutor, &disks).await })
            })
            .collect();
        let mut held = Vec::with_capacity(tasks.len());
        for (task, (space, _)) in tasks.into_iter().zip(&specs) {
            let lease = task
                .await
                .map_err(|e| anyhow!("acquire task: {e}"))?
                .map_err(|e| anyhow!("acquiring {space}: {e}"))?;
            held.push(lease);
        }
        Ok(held)
    })
}

/// Run `fut` on a worker of `rt` (where the daemon's tasks run), giving up after 60 s: a
/// stalled runtime is reported as [`benches::Stalled`] instead of hanging the benchmark.
fn on<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    fut: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    run_timeout(rt, fut, Duration::from_secs(60))?
}

/// One renewal through `exec`, on a runtime worker (where the daemon's renewal loops run).
async fn renew_on<E: IoExecutor + 'static>(
    exec: Arc<E>,
    disk: Arc<Device>,
    lease: HeldDeltaLease,
) -> Result<(HeldDeltaLease, f64)> {
    tokio::spawn(async move {
        let start = Instant::now();
        let mut op = DeltaRenew::new(lease, OutgoingEvent::default(), HostBitmap::default());
        let out = drive(&mut op, exec.as_ref(), &[disk]).await;
        let micros = start.elapsed().as_secs_f64() * 1e6;
        out.map(|r| (r.lease, micros))
            .map_err(|f| anyhow!("renewal failed: {}", f.error))
    })
    .await
    .map_err(|e| anyhow!("renewal task: {e}"))?
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Renewal samples of one executor in section 1.
#[derive(Debug, Default)]
struct RenewSamples {
    total: Vec<f64>,
    read: Vec<f64>,
    write: Vec<f64>,
    other: Vec<f64>,
    run_medians: Vec<f64>,
    ratios: Vec<f64>,
    /// Each renewal over the raw pair measured just before it.
    pair_ratios: Vec<f64>,
    /// Each renewal over the same two I/Os through the io_uring engine just before it.
    engine_ratios: Vec<f64>,
}

impl RenewSamples {
    /// Record a renewal of `micros` whose batches are in `log`.
    fn push(&mut self, micros: f64, log: &probe::ProbeLog) {
        let batches = probe::take(log);
        let sum = |kind| -> f64 {
            batches
                .iter()
                .filter(|b| b.kind == kind)
                .map(probe::Batch::micros)
                .sum()
        };
        let (read, write) = (sum(IoKind::Read), sum(IoKind::Write));
        self.total.push(micros);
        self.read.push(read);
        self.write.push(write);
        self.other.push(micros - read - write);
    }
}

/// Section 1: raw floor, in-process renewal per executor, replica breakdown, interleaved.
fn section_floor(
    args: &Args,
    executors: &[Exec],
    report: &mut Report,
    rt: &tokio::runtime::Runtime,
    dev: &Device,
    disk: &Arc<Device>,
    mut lease: HeldDeltaLease,
) -> Result<()> {
    eprintln!(
        "== floor vs renewal: {} rounds of {} (raw pair, renewal per executor, replica)",
        args.runs, args.per_run
    );
    let area = usize::try_from(Geometry::S512_A1M.area_bytes())?;
    let mut read_buf = AlignedBuf::zeroed(area)?;
    let sector = AlignedBuf::zeroed(512)?;
    // The same sector write without O_DSYNC (O_DIRECT only, like the peer kit's rawio.sh):
    // what the durability flag costs on this device.
    let nosync = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(dev.path())?;
    // The same two I/Os through lease-io's io_uring engine, called directly.
    let uring = match Engine::new(EngineKind::IoUring) {
        Ok(engine) => Some(engine),
        Err(e) => {
            eprintln!("  io_uring engine unavailable ({e}): skipping engine_uring.*");
            None
        }
    };
    let (threads_probe, threads_log) = Probe::new(ThreadExecutor);
    let threads_probe = Arc::new(threads_probe);
    let (uring_probe, uring_log) = if executors.contains(&Exec::Uring) {
        let (p, log) = Probe::new(uring_executor()?);
        (Some(Arc::new(p)), log)
    } else {
        (None, probe::ProbeLog::default())
    };
    let (replica, phase_log) = Replica::new();
    let replica = Arc::new(replica);
    let (mut raw_read, mut raw_write, mut raw_pair, mut raw_nosync) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut uring_read, mut uring_write) = (Vec::new(), Vec::new());
    let mut samples: Vec<(Exec, RenewSamples)> = executors
        .iter()
        .map(|&e| (e, RenewSamples::default()))
        .collect();
    let mut replica_total = Vec::new();
    let mut floor_runs = Vec::new();
    // Warm-up: page the code in, start the blocking threads and the rings.
    for _ in 0..5 {
        dev.read_into(RAW_OFFSET, &mut read_buf)?;
        dev.write_at(RAW_OFFSET, &sector)?;
        lease = on(rt, renew_on(threads_probe.clone(), disk.clone(), lease))?.0;
        if let Some(p) = &uring_probe {
            lease = on(rt, renew_on(p.clone(), disk.clone(), lease))?.0;
        }
    }
    probe::take(&threads_log);
    probe::take(&uring_log);
    for run in 0..args.runs {
        let mut pairs = Vec::with_capacity(args.per_run);
        let marks: Vec<usize> = samples.iter().map(|(_, s)| s.total.len()).collect();
        for _ in 0..args.per_run {
            let t0 = Instant::now();
            dev.read_into(RAW_OFFSET, &mut read_buf)?;
            let t1 = Instant::now();
            dev.write_at(RAW_OFFSET, &sector)?;
            let t2 = Instant::now();
            raw_read.push(us(t1 - t0));
            raw_write.push(us(t2 - t1));
            pairs.push(us(t2 - t0));
            let t3 = Instant::now();
            nosync.write_all_at(&sector, RAW_OFFSET + 4096)?;
            raw_nosync.push(us(t3.elapsed()));
            if let Some(engine) = &uring {
                let disks = [disk.clone()];
                let deadline = deadline_after(Duration::from_secs(10));
                let read = Io::Read {
                    disk: 0,
                    offset: RAW_OFFSET,
                    len: area as u64,
                };
                let t4 = Instant::now();
                let out = engine.run(&disks, &[read], deadline)?;
                let t5 = Instant::now();
                let write = Io::Write {
                    disk: 0,
                    offset: RAW_OFFSET,
                    data: vec![0; 512],
                };
                let out2 = engine.run(&disks, &[write], deadline)?;
                let t6 = Instant::now();
                if !matches!(out.first(), Some(IoOutcome::Read(_)))
                    || !matches!(out2.first(), Some(IoOutcome::Written))
                {
                    return Err(anyhow!("io_uring engine I/O failed: {out:?} {out2:?}"));
                }
                uring_read.push(us(t5 - t4));
                uring_write.push(us(t6 - t5));
            }
            for (exec, s) in samples.iter_mut() {
                let (next, micros) = match exec {
                    Exec::Threads => {
                        let r = on(rt, renew_on(threads_probe.clone(), disk.clone(), lease))?;
                        s.push(r.1, &threads_log);
                        r
                    }
                    Exec::Uring => {
                        let p = uring_probe.clone().context("io_uring executor")?;
                        let r = on(rt, renew_on(p, disk.clone(), lease))?;
                        s.push(r.1, &uring_log);
                        r
                    }
                };
                s.pair_ratios.push(micros / pairs[pairs.len() - 1]);
                if let (Some(r), Some(w)) = (uring_read.last(), uring_write.last()) {
                    s.engine_ratios.push(micros / (r + w));
                }
                lease = next;
            }
            let (next, micros) = on(rt, renew_on(replica.clone(), disk.clone(), lease))?;
            lease = next;
            replica_total.push(micros);
        }
        let floor = median(&pairs);
        let mut line = format!("  run {run}: raw floor median {floor:.1} us");
        for ((exec, s), mark) in samples.iter_mut().zip(marks) {
            let m = median(&s.total[mark..]);
            line += &format!(", {} renewal {m:.1} us ({:.2}x)", exec.label(), m / floor);
            s.run_medians.push(m);
            s.ratios.push(m / floor);
        }
        eprintln!("{line}");
        floor_runs.push(floor);
        raw_pair.extend(pairs);
    }
    let phases = probe::take_phases(&phase_log);
    report.dist("raw.read1m", &raw_read, "us");
    report.dist("raw.write512", &raw_write, "us");
    report.dist("raw.floor", &raw_pair, "us");
    report.agg("raw.floor.run_median", &floor_runs, "us");
    report.dist("raw.write512_without_dsync", &raw_nosync, "us");
    report.dist("engine_uring.read1m", &uring_read, "us");
    report.dist("engine_uring.write512", &uring_write, "us");
    for (exec, s) in &samples {
        let p = format!("ours.renewal.{}", exec.label());
        report.dist(&p, &s.total, "us");
        report.emit(&format!("{p}.read.median"), median(&s.read), "us", None);
        report.emit(&format!("{p}.write.median"), median(&s.write), "us", None);
        report.emit(&format!("{p}.other.median"), median(&s.other), "us", None);
        // The read alone: what our read path adds to the syscall.
        report.emit(
            &format!("{p}.read_over_raw_read1m"),
            median(&s.read) / median(&raw_read),
            "x",
            None,
        );
        report.agg(&format!("{p}.run_median"), &s.run_medians, "us");
        report.agg(&format!("{p}.over_floor"), &s.ratios, "x");
        report.dist(&format!("{p}.over_preceding_pair"), &s.pair_ratios, "x");
        report.dist(
            &format!("{p}.over_preceding_engine_pair"),
            &s.engine_ratios,
            "x",
        );
    }
    report.emit(
        "ours.renewal.replica.median",
        median(&replica_total),
        "us",
        None,
    );
    for (read, label) in [(true, "read"), (false, "write")] {
        let ph: Vec<&probe::Phases> = phases.iter().filter(|p| p.read == read).collect();
        let col = |f: fn(&probe::Phases) -> f64| -> Vec<f64> { ph.iter().map(|p| f(p)).collect() };
        let mut steps: Vec<(&str, Vec<f64>)> = vec![("dispatch", col(|p| p.dispatch))];
        if read {
            steps.push(("alloc_zero", col(|p| p.alloc)));
        }
        steps.push(("syscall", col(|p| p.syscall)));
        if read {
            steps.push(("copy", col(|p| p.copy)));
        }
        steps.push(("wake", col(|p| p.wake)));
        steps.push(("total", col(|p| p.total)));
        for (step, xs) in steps {
            report.emit(
                &format!("ours.renewal.replica.{label}.{step}.median"),
                median(&xs),
                "us",
                None,
            );
        }
    }
    for (exec, s) in &samples {
        report.target(
            &format!("renewal_median_over_raw_floor.{}", exec.label()),
            (median(&s.pair_ratios), "x"),
            1.5,
            false,
            &format!(
                "in-process renewal on {} / the raw pair (Device pread 1 MiB + O_DSYNC pwrite \
                 512 B) measured just before it, median over all renewals",
                exec.label()
            ),
        );
    }
    Ok(())
}

/// Section 2: all N renewals started at once vs one alone, executors in turn.
fn section_burst(
    args: &Args,
    executors: &[Exec],
    report: &mut Report,
    rt: &tokio::runtime::Runtime,
    disk: &Arc<Device>,
    mut held: Vec<HeldDeltaLease>,
) -> Result<()> {
    let n = held.len();
    eprintln!(
        "== burst: {} rounds, 1 renewal alone vs {n} at once, on each executor in turn",
        args.rounds
    );
    struct Burst {
        which: Exec,
        exec: Arc<AnyExec>,
        one: Vec<f64>,
        all: Vec<f64>,
        each: Vec<f64>,
    }
    let mut bursts = Vec::new();
    for &which in executors {
        bursts.push(Burst {
            which,
            exec: Arc::new(AnyExec::new(which)?),
            one: Vec::new(),
            all: Vec::new(),
            each: Vec::new(),
        });
    }
    // The raw floor of a burst: n area reads and n sector writes (scratch space) one after
    // the other, from n threads at once, and through the io_uring engine all at once.
    let raw_engine = Engine::new(EngineKind::IoUring).ok();
    let (mut raw_seq, mut raw_threads, mut raw_uring) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.rounds {
        raw_seq.push(raw_burst_sequential(disk, n)?);
        raw_threads.push(raw_burst_threads(disk, n)?);
        if let Some(engine) = &raw_engine {
            raw_uring.push(raw_burst_uring(engine, disk, n)?);
        }
        for b in bursts.iter_mut() {
            let exec = b.exec.clone();
            let (next, micros) = on(rt, renew_on(exec.clone(), disk.clone(), held[0].clone()))?;
            held[0] = next;
            b.one.push(micros);
            let start = Instant::now();
            let (leases, d) = (held.clone(), disk.clone());
            let results = on(rt, async move {
                let tasks: Vec<_> = leases
                    .iter()
                    .map(|lease| tokio::spawn(renew_on(exec.clone(), d.clone(), lease.clone())))
                    .collect();
                let mut out = Vec::with_capacity(tasks.len());
                for task in tasks {
                    out.push(task.await.map_err(|e| anyhow!("burst task: {e}"))??);
                }
                Ok::<_, anyhow::Error>(out)
            })?;
            b.all.push(us(start.elapsed()));
            held = results
                .into_iter()
                .map(|(lease, micros)| {
                    b.each.push(micros);
                    lease
                })
                .collect();
        }
    }
    report.dist(&format!("raw.burst.{n}.sequential"), &raw_seq, "us");
    report.dist(&format!("raw.burst.{n}.threads"), &raw_threads, "us");
    report.dist(&format!("raw.burst.{n}.uring"), &raw_uring, "us");
    for b in &bursts {
        let p = format!("ours.round.burst.{}", b.which.label());
        report.dist(&format!("{p}.1ls"), &b.one, "us");
        report.dist(&format!("{p}.{n}ls"), &b.all, "us");
        report.dist(&format!("{p}.{n}ls.each"), &b.each, "us");
        report.target(
            &format!("burst_round_over_one.{}", b.which.label()),
            (median(&b.all) / median(&b.one), "x"),
            3.0,
            false,
            &format!(
                "{n} renewals started together on {}, until the last is done / one alone",
                b.which.label()
            ),
        );
    }
    Ok(())
}

/// Scratch offsets of the raw bursts: area `i` of the scratch region.
fn raw_area(i: usize) -> u64 {
    RAW_OFFSET + (i as u64 % 100) * MIB
}

/// n (1 MiB read, sector write) pairs one after the other; microseconds.
fn raw_burst_sequential(disk: &Device, n: usize) -> Result<f64> {
    let mut buf = AlignedBuf::zeroed(MIB as usize)?;
    let sector = AlignedBuf::zeroed(512)?;
    let start = Instant::now();
    for i in 0..n {
        disk.read_into(raw_area(i), &mut buf)?;
        disk.write_at(raw_area(i), &sector)?;
    }
    Ok(us(start.elapsed()))
}

/// n pairs, one per thread, all released at once; microseconds until the last is done.
fn raw_burst_threads(disk: &Device, n: usize) -> Result<f64> {
    let barrier = std::sync::Barrier::new(n + 1);
    let (start, result) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let barrier = &barrier;
                s.spawn(move || -> Result<()> {
                    let mut buf = AlignedBuf::zeroed(MIB as usize)?;
                    let sector = AlignedBuf::zeroed(512)?;
                    barrier.wait();
                    disk.read_into(raw_area(i), &mut buf)?;
                    disk.write_at(raw_area(i), &sector)?;
                    Ok(())
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let result: Result<()> = handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|_| Err(anyhow!("raw thread panicked")))
        });
        (start, result)
    });
    result?;
    Ok(us(start.elapsed()))
}

/// n reads then n writes, each set submitted at once to the io_uring engine (batches of at
/// most 64 on one queue); microseconds.
fn raw_burst_uring(engine: &Engine, disk: &Arc<Device>, n: usize) -> Result<f64> {
    let disks = [disk.clone()];
    let deadline = deadline_after(Duration::from_secs(30));
    let start = Instant::now();
    for write in [false, true] {
        let ios: Vec<Io> = (0..n)
            .map(|i| {
                if write {
                    Io::Write {
                        disk: 0,
                        offset: raw_area(i),
                        data: vec![0; 512],
                    }
                } else {
                    Io::Read {
                        disk: 0,
                        offset: raw_area(i),
                        len: MIB,
                    }
                }
            })
            .collect();
        let mut queue = engine.queue();
        let tickets: Vec<_> = ios
            .chunks(64)
            .map(|chunk| queue.submit(&disks, chunk, deadline))
            .collect::<Result<_, _>>()?;
        for ticket in tickets {
            let out = queue.wait(ticket)?;
            if out
                .iter()
                .any(|o| !matches!(o, IoOutcome::Read(_) | IoOutcome::Written))
            {
                return Err(anyhow!("raw io_uring burst failed: {out:?}"));
            }
        }
    }
    Ok(us(start.elapsed()))
}

/// A renewal seen in a probe trace: area read issued to sector write done.
#[derive(Clone, Copy, Debug)]
struct Traced {
    offset: u64,
    start: Instant,
    end: Instant,
}

/// Pair each lockspace's area read with its next own-sector write.
fn renewals_from_trace(batches: &[probe::Batch], offsets: &[u64]) -> Vec<Vec<Traced>> {
    let area = Geometry::S512_A1M.area_bytes();
    offsets
        .iter()
        .map(|&offset| {
            let mut out = Vec::new();
            let mut read_start = None;
            for b in batches.iter().filter(|b| b.offset == offset) {
                match b.kind {
                    IoKind::Read if b.len == area => read_start = Some(b.start),
                    IoKind::Write if b.len == 512 => {
                        if let Some(start) = read_start.take() {
                            out.push(Traced {
                                offset,
                                start,
                                end: b.end,
                            });
                        }
                    }
                    _ => {}
                }
            }
            out
        })
        .collect()
}

/// Section 3: the production renewal loops in-process, 1 lockspace then N.
fn section_daemon_inproc(
    args: &Args,
    which: Exec,
    report: &mut Report,
    lo: &LoopDev,
    dev: &Device,
) -> Result<()> {
    let phases: Vec<usize> = if args.common.smoke {
        vec![args.lockspaces]
    } else {
        vec![1, args.lockspaces]
    };
    let mut single_renewal = f64::NAN;
    for n in phases {
        eprintln!(
            "== daemon in-process on {}: {n} lockspace(s) at io_timeout {}, {} s",
            which.label(),
            args.io,
            args.seconds
        );
        for i in 0..n {
            init_lockspace(dev, &format!("G{i}"), g_offset(i), args.io)?;
        }
        let rt = daemon_runtime()?;
        let (probe, log) = Probe::new(AnyExec::new(which)?);
        let config = DaemonConfig {
            io_timeout_seconds: u32::from(args.io),
            watchdog_fire_timeout_seconds: DEFAULT_WATCHDOG_FIRE_TIMEOUT_SECONDS,
            our_host_name: generate_host_name(),
            kill_grace_seconds: 40,
            log_to_stderr: false,
            use_watchdog: false,
        };
        let daemon = Daemon::new(config, probe);
        let seconds = args.seconds;
        let io = u32::from(args.io);
        let path = lo.path().to_path_buf();
        let d = daemon.clone();
        let joined = run_timeout(
            &rt,
            async move {
                let daemon = d;
                let start = Instant::now();
                for i in 0..n {
                    let spec = LockspaceSpec {
                        name: setup::name(&format!("G{i}")),
                        host_id: 1,
                        path: path.clone(),
                        offset: g_offset(i),
                    };
                    daemon
                        .add_lockspace(spec, Some(io), false)
                        .await
                        .map_err(|e| anyhow!("add_lockspace G{i}: {e}"))?;
                }
                for i in 0..n {
                    let name = setup::name(&format!("G{i}"));
                    daemon.wait_settled(&name).await;
                    daemon
                        .inq_lockspace(&name)
                        .map_err(|e| anyhow!("joining G{i}: {e}"))?;
                }
                Ok::<_, anyhow::Error>(start.elapsed())
            },
            Duration::from_secs(120),
        );
        let p = format!("ours.daemon_inproc.{}.{n}ls", which.label());
        match joined {
            Ok(Ok(took)) => eprintln!("  joined {n} in {:.2} s", took.as_secs_f64()),
            Ok(Err(e)) => return Err(e),
            Err(e) => {
                eprintln!("STALL while joining: {e:#}");
                report.emit(&format!("{p}.stalled_in_join"), 1.0, "flag", None);
                rt.shutdown_timeout(Duration::from_secs(5));
                continue;
            }
        }
        // Observe from this thread: the renewal loops run on the runtime's workers.
        probe::take(&log);
        let observed = Instant::now();
        std::thread::sleep(Duration::from_secs_f64(seconds));
        let end = Instant::now();
        let batches = probe::take(&log);
        // Stall check: with renewals every 2 x io_timeout, the last completed I/O should be
        // recent; if it is not, the daemon stopped renewing (its lockspaces would fail).
        let interval = 2.0 * f64::from(args.io);
        let last = batches.iter().map(|b| b.end).max();
        let quiet = last.map_or(seconds, |t| end.duration_since(t).as_secs_f64());
        if quiet > 2.0 * interval + 1.0 {
            let after = last.map_or(0.0, |t| t.duration_since(observed).as_secs_f64());
            eprintln!(
                "STALL: the in-process daemon on {} completed no I/O in the last {quiet:.1} s \
                 (last I/O {after:.1} s into the observation, {} batches before): its \
                 renewals stopped",
                which.label(),
                batches.len()
            );
            report.emit(&format!("{p}.stalled_after"), after, "s", None);
        }
        rt.shutdown_timeout(Duration::from_secs(5));
        let offsets: Vec<u64> = (0..n).map(g_offset).collect();
        let traced = renewals_from_trace(&batches, &offsets);
        let each: Vec<f64> = traced
            .iter()
            .flatten()
            .map(|t| us(t.end - t.start))
            .collect();
        let rounds_available = traced.iter().map(Vec::len).min().unwrap_or(0);
        // Round k = the k-th renewal of every lockspace. Its span runs from the first read
        // issued to the last write done (it includes the offsets between the lockspaces'
        // schedules); its busy time is the union of the renewals' intervals (time during
        // which at least one of them was in progress).
        let (mut spans, mut busy) = (Vec::new(), Vec::new());
        for k in 0..rounds_available {
            let mut round: Vec<(Instant, Instant)> =
                traced.iter().map(|r| (r[k].start, r[k].end)).collect();
            round.sort_by_key(|&(start, _)| start);
            let (Some(first), Some(last)) = (
                round.first().map(|&(start, _)| start),
                round.iter().map(|&(_, end)| end).max(),
            ) else {
                continue;
            };
            spans.push(us(last - first));
            let mut total = Duration::ZERO;
            let mut current: Option<(Instant, Instant)> = None;
            for (start, end) in round {
                current = match current {
                    Some((s0, e0)) if start <= e0 => Some((s0, e0.max(end))),
                    Some((s0, e0)) => {
                        total += e0 - s0;
                        Some((start, end))
                    }
                    None => Some((start, end)),
                };
            }
            if let Some((s0, e0)) = current {
                total += e0 - s0;
            }
            busy.push(us(total));
        }
        if let Some(t) = traced
            .iter()
            .flatten()
            .max_by_key(|t| t.end.duration_since(t.start))
        {
            eprintln!(
                "  slowest renewal: lockspace at {} MiB, {:.0} us",
                t.offset / MIB,
                us(t.end - t.start)
            );
        }
        report.dist(&format!("{p}.renewal"), &each, "us");
        report.emit(
            &format!("{p}.renewals"),
            each.len() as f64,
            "renewals",
            None,
        );
        if n == 1 {
            single_renewal = median(&each);
        } else {
            report.dist(&format!("{p}.round_span"), &spans, "us");
            report.emit(&format!("{p}.round_span.max"), max(&spans), "us", None);
            report.dist(&format!("{p}.round_busy"), &busy, "us");
            if single_renewal.is_finite() {
                report.target(
                    &format!("daemon_renewal_in_round_over_one.{}", which.label()),
                    (median(&each) / single_renewal, "x"),
                    3.0,
                    false,
                    &format!(
                        "daemon on {} with {n} lockspaces renewing on their own schedules: \
                         median latency of one renewal (read issued to write done) / the same \
                         with 1 lockspace",
                        which.label()
                    ),
                );
                report.target(
                    &format!("daemon_round_over_one.{}", which.label()),
                    (median(&busy) / single_renewal, "x"),
                    3.0,
                    false,
                    &format!(
                        "daemon on {} with {n} lockspaces: time spent completing one renewal \
                         of each (union of their intervals) / one renewal with 1 lockspace",
                        which.label()
                    ),
                );
            }
        }
    }
    Ok(())
}

/// Section 4: the daemon binaries' renewal history with 1 and N lockspaces.
fn section_binaries(
    args: &Args,
    variants: &[benches::daemons::Variant],
    report: &mut Report,
    lo: &LoopDev,
    dev: &Device,
    lease: &std::path::Path,
    work: &std::path::Path,
) -> Result<()> {
    let phases: Vec<usize> = if args.common.smoke {
        vec![args.lockspaces]
    } else {
        vec![1, args.lockspaces]
    };
    let path = lo.path_str();
    for n in phases {
        for (v, variant) in variants.iter().enumerate() {
            for i in 0..n {
                init_lockspace(
                    dev,
                    &format!("{}{i}", variant.label.to_uppercase()),
                    variant_offset(v, i),
                    args.io,
                )?;
            }
        }
        let mut daemons = Vec::new();
        for (v, variant) in variants.iter().enumerate() {
            let run_dir = work.join(format!("{}-{n}", variant.label));
            let d = DaemonProc::start_reported(*variant, lease, &run_dir, report)?;
            let spaces: Vec<LsRef> = (0..n)
                .map(|i| {
                    LsRef::new(
                        &format!("{}{i}", variant.label.to_uppercase()),
                        &path,
                        variant_offset(v, i),
                    )
                })
                .collect();
            daemons.push((d, spaces));
        }
        eprintln!(
            "== daemon binaries: {n} lockspace(s) at io_timeout {} ({})",
            args.io,
            labels(variants)
        );
        // Join on all daemons at the same time.
        let joins = join_each_at_once(
            daemons.iter().map(|(d, spaces)| (d, spaces.as_slice())),
            u32::from(args.io),
        );
        for ((d, _), joined) in daemons.iter().zip(joins) {
            let took = joined?;
            eprintln!("  {}: joined {n} in {:.2} s", d.label(), took.as_secs_f64());
            report.emit(
                &format!("{}.daemon.{n}ls.join", d.label()),
                took.as_secs_f64(),
                "s",
                None,
            );
        }
        std::thread::sleep(Duration::from_secs_f64(args.seconds));
        let expected = args.seconds / (2.0 * f64::from(args.io));
        for (d, spaces) in &daemons {
            let (mut read, mut write, mut total, mut counts) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let mut errors = 0u64;
            let prefix = format!("{}.daemon.{n}ls", d.label());
            let mut stalled = false;
            for ls in spaces {
                let history = match d.renewals(&ls.name) {
                    Ok(h) => h,
                    Err(e) => {
                        eprintln!(
                            "STALL: {}: renewal history of {}: {e:#}",
                            d.label(),
                            ls.name
                        );
                        stalled = true;
                        break;
                    }
                };
                // The first entry is the acquire.
                let renewals = history.get(1..).unwrap_or_default();
                counts.push(renewals.len() as f64);
                for r in renewals {
                    read.push(r.read_ms as f64);
                    write.push(r.write_ms as f64);
                    total.push((r.read_ms + r.write_ms) as f64);
                    errors += r.next_errors + r.next_timeouts;
                }
            }
            if stalled {
                report.emit(&format!("{prefix}.stalled"), 1.0, "flag", None);
                continue;
            }
            // Lockspaces with fewer than half the renewals due in the observation.
            let lagging = counts.iter().filter(|&&c| c < expected / 2.0).count();
            if lagging > 0 {
                eprintln!(
                    "  {}: {lagging} of {n} lockspaces renewed fewer than {:.0} times in {} s",
                    d.label(),
                    expected / 2.0,
                    args.seconds
                );
            }
            report.emit(
                &format!("{prefix}.lagging_lockspaces"),
                lagging as f64,
                "lockspaces",
                None,
            );
            report.emit(
                &format!("{prefix}.renewals_per_ls"),
                median(&counts),
                "renewals",
                None,
            );
            report.dist(&format!("{prefix}.read_ms"), &read, "ms");
            report.emit(&format!("{prefix}.read_ms.max"), max(&read), "ms", None);
            report.dist(&format!("{prefix}.write_ms"), &write, "ms");
            report.emit(&format!("{prefix}.write_ms.max"), max(&write), "ms", None);
            report.dist(&format!("{prefix}.renewal_ms"), &total, "ms");
            report.emit(&format!("{prefix}.errors"), errors as f64, "renewals", None);
        }
        drop(daemons);
    }
    Ok(())
}
