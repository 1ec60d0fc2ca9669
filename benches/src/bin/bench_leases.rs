//! bench_leases: resource lease acquire/release latency and throughput through python3-sanlock
//! (issue 5), ours next to sanlock's in the same run on the same loop device.
//!
//! Both daemons run at once, each with its own lockspace `LS` (host_id 1, io_timeout 10 as in
//! the peer kit; ours at 0 with `res<i>` at `(1 + i)` MiB, sanlock's at 100 MiB with its
//! resources at `(101 + i)` MiB). Each run executes `python/bench_leases.py` (the peer kit's
//! latency and throughput code) once against each daemon, alternating which goes first; a
//! figure is the median over runs, as in the peer kit.
//!
//! Where our time goes: the same acquire/release cycles run in-process on
//! `lease_daemon::daemon::Daemon` with a probe executor (production code, no client, no
//! socket) give the I/O batches of each operation and the time outside them; the Python
//! `noop` figure (an inquire: client library + socket + dispatch, no I/O) gives the client
//! side.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use benches::daemons::{join_each_at_once, labels, DaemonProc, LsRef};
use benches::probe::{self, Kind as IoKind, Probe};
use benches::procfs;
use benches::report::{median, parse_lines, pct, Report};
use benches::setup::{self, init_lockspace, init_resource, LoopDev, MIB};
use benches::{daemon_runtime, run_timeout, AnyExec, Bench, CommonArgs, Exec};
use clap::Parser;
use lease_core::ondisk::Name;
use lease_core::timeouts::DEFAULT_WATCHDOG_FIRE_TIMEOUT_SECONDS;
use lease_daemon::daemon::{generate_host_name, Daemon, DaemonConfig};
use std::sync::Arc;

use lease_daemon::lockspace::LockspaceSpec;
use lease_daemon::resource::{AcquireOptions, ResourceSpec};

#[derive(Debug, Parser)]
#[command(about = "Resource lease latency and throughput through python3-sanlock (issue 5)")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Runs (each runs the Python benchmark once per daemon).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Acquire/release cycles per latency run.
    #[arg(long, default_value_t = 500)]
    cycles: usize,
    /// Seconds per throughput measurement.
    #[arg(long, default_value_t = 3.0)]
    tput_seconds: f64,
    /// Concurrent client processes of the throughput measurement (at most 8).
    #[arg(long, default_value_t = 8)]
    procs: usize,
    /// io_timeout the lockspaces are initialised and joined with.
    #[arg(long, default_value_t = 10)]
    io: u16,
    /// Resources per lockspace (at least 17 for the throughput section, at most 64).
    #[arg(long, default_value_t = 64)]
    nres: usize,
    /// The Python interpreter that has the sanlock module.
    #[arg(long, default_value = "/usr/bin/python3")]
    python: PathBuf,
}

impl Args {
    fn apply_smoke(&mut self) {
        if self.common.smoke {
            self.runs = 1;
            self.cycles = 20;
            self.tput_seconds = 0.3;
            self.io = 1;
            self.nres = 20;
        }
    }
}

/// The lockspace of daemon variant `v` (its resources follow it, one MiB each).
fn ls_offset(v: usize) -> u64 {
    v as u64 * 100 * MIB
}

/// The sections of bench_leases.py, run one by one to account the daemon's CPU to each.
const SECTIONS: &[&str] = &["noop", "latency", "distinct", "tput"];

/// Longest one section of the Python benchmark may take.
const PYTHON_LIMIT: Duration = Duration::from_secs(900);

/// Scratch space of the raw I/O floor.
const RAW_OFFSET: u64 = 900 * MIB;

/// The in-process lockspace (joined at io_timeout 1: the join delay does not matter there).
const INPROC_LS_OFFSET: u64 = 400 * MIB;

fn main() -> ExitCode {
    benches::main("bench_leases", || {
        let mut args = Args::parse();
        args.apply_smoke();
        run(&args)
    })
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python/bench_leases.py")
}

/// Run the Python benchmark against `daemon`; its `name value unit` figures.
fn python_run(
    args: &Args,
    daemon: &DaemonProc,
    base: u64,
    dev: &str,
    section: &str,
) -> Result<Vec<(String, f64, String)>> {
    let res_base = base + MIB;
    let out = Command::new(&args.python)
        .arg(script())
        .arg(section)
        .args(["--dev", dev, "--ls", "LS"])
        .args(["--res-base", &res_base.to_string()])
        .args(["--nres", &args.nres.to_string()])
        .args(["--cycles", &args.cycles.to_string()])
        .args(["--tput-seconds", &args.tput_seconds.to_string()])
        .args(["--procs", &args.procs.to_string()])
        .env("SANLOCK_RUN_DIR", daemon.run_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("running {}", args.python.display()))?;
    let out = benches::daemons::wait_within(out, PYTHON_LIMIT).with_context(|| {
        format!(
            "bench_leases.py {section} against the {} daemon",
            daemon.label()
        )
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "bench_leases.py against the {} daemon failed ({}): {}",
            daemon.label(),
            out.status,
            stdout.trim()
        );
    }
    parse_lines(&stdout).map_err(|e| anyhow!("bench_leases.py output: {e}"))
}

fn run(args: &Args) -> Result<()> {
    if args.nres < 17 || args.nres > 64 || args.procs == 0 || args.procs > 8 {
        bail!("--nres must be in 17..=64 and --procs in 1..=8");
    }
    let have_module = Command::new(&args.python)
        .args(["-c", "import sanlock"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have_module {
        bail!(
            "{} cannot import sanlock: install python3-sanlock (Debian) or pass --python",
            args.python.display()
        );
    }
    let mut bench = Bench::start("bench_leases", &args.common)?;
    let (report, lo) = (&mut bench.report, &bench.lo);
    report.meta("io_timeout", args.io);
    report.meta("cycles", args.cycles);
    report.meta("procs", args.procs);
    let variants = args.common.variants()?;
    if variants.len() > 3 {
        bail!("at most 3 daemons");
    }
    let path = lo.path_str();
    {
        let dev = lo.open()?;
        for v in 0..variants.len() {
            let base = ls_offset(v);
            init_lockspace(&dev, "LS", base, args.io)?;
            for i in 0..args.nres {
                init_resource(&dev, "LS", &format!("res{i}"), base + (1 + i as u64) * MIB)?;
            }
        }
    }
    let raw = setup::raw_floor(
        &lo.open()?,
        RAW_OFFSET,
        if args.common.smoke { 20 } else { 500 },
    )?;
    report.dist("raw.read1m", &raw.read1m, "us");
    report.dist("raw.read512", &raw.read512, "us");
    report.dist("raw.write512", &raw.write512, "us");
    let mut daemons = Vec::new();
    for (v, variant) in variants.iter().enumerate() {
        let run_dir = bench.work.path().join(variant.label);
        let d = DaemonProc::start_reported(*variant, &bench.lease, &run_dir, report)?;
        daemons.push((d, ls_offset(v)));
    }
    eprintln!(
        "== joining LS at io_timeout {} on {}",
        args.io,
        labels(&variants)
    );
    let joins = join_each_at_once(
        daemons
            .iter()
            .map(|(d, base)| (d, vec![LsRef::new("LS", &path, *base)])),
        u32::from(args.io),
    );
    for ((d, _), took) in daemons.iter().zip(joins) {
        eprintln!("  {} joined in {:.1} s", d.label(), took?.as_secs_f64());
    }
    // figures[(daemon, name)] = (unit, per-run values)
    let mut figures: BTreeMap<(String, String), (String, Vec<f64>)> = BTreeMap::new();
    for run in 0..args.runs {
        // Rotate which daemon goes first.
        let mut order: Vec<&(DaemonProc, u64)> = daemons.iter().collect();
        order.rotate_left(run % daemons.len());
        for (d, base) in order {
            eprintln!("== run {run}: {} daemon", d.label());
            for section in SECTIONS {
                let before = procfs::sample(d.pid())?.ticks;
                let mut out = python_run(args, d, *base, &path, section)?;
                let ticks = procfs::sample(d.pid())?.ticks.saturating_sub(before);
                if matches!(*section, "latency" | "distinct") {
                    // The daemon's CPU time per acquire+release cycle (20 warm-up cycles
                    // included in the count).
                    let per_cycle =
                        ticks as f64 / procfs::clk_tck() as f64 * 1e3 / (args.cycles + 20) as f64;
                    out.push((
                        format!("{section}.daemon_cpu_per_cycle"),
                        per_cycle,
                        "ms".to_string(),
                    ));
                }
                for (name, value, unit) in out {
                    figures
                        .entry((d.label().to_string(), name))
                        .or_insert_with(|| (unit, Vec::new()))
                        .1
                        .push(value);
                }
            }
        }
    }
    for ((label, name), (unit, runs)) in &figures {
        report.agg(&format!("{label}.{name}"), runs, unit);
    }
    drop(daemons);

    inproc(args, report, lo)?;

    let fig = |label: &str, name: &str| {
        figures
            .get(&(label.to_string(), name.to_string()))
            .map_or(f64::NAN, |(_, runs)| median(runs))
    };
    let has = |label: &str| variants.iter().any(|v| v.label == label);
    for ours in ["ours", "ours_threads"] {
        if !(has(ours) && has("sanlock")) {
            continue;
        }
        report.target(
            &format!("acquire_median_over_sanlock.{ours}"),
            (
                fig(ours, "excl.acquire.median") / fig("sanlock", "excl.acquire.median"),
                "x",
            ),
            1.0 / 3.0,
            false,
            &format!("{ours} acquire median / sanlock's"),
        );
        report.target(
            &format!("release_median_over_sanlock.{ours}"),
            (
                fig(ours, "excl.release.median") / fig("sanlock", "excl.release.median"),
                "x",
            ),
            0.5,
            false,
            &format!("{ours} release median / sanlock's"),
        );
        let tput = format!("tput.{0}proc_{0}res", args.procs);
        report.target(
            &format!("tput_concurrent_over_sanlock.{ours}"),
            (fig(ours, &tput) / fig("sanlock", &tput), "x"),
            3.0,
            true,
            &format!(
                "{ours} acquire+release/s with {} processes / sanlock's",
                args.procs
            ),
        );
    }
    bench.finish(args.common.json.as_deref())
}

/// Per-operation samples of the in-process measurement.
#[derive(Debug, Default)]
struct Op {
    total: Vec<f64>,
    io: Vec<f64>,
    batches: Vec<f64>,
    reads: Vec<f64>,
    writes: Vec<f64>,
    bytes: Vec<f64>,
    floor: Vec<f64>,
}

impl Op {
    fn push(&mut self, batches: &[probe::Batch], took: Duration, raw: &setup::RawFloor) {
        self.total.push(took.as_secs_f64() * 1e6);
        self.io.push(batches.iter().map(probe::Batch::micros).sum());
        self.batches.push(batches.len() as f64);
        let count = |kind| batches.iter().filter(|b| b.kind == kind).count() as f64;
        self.reads.push(count(IoKind::Read));
        self.writes.push(count(IoKind::Write));
        self.bytes
            .push(batches.iter().map(|b| b.len as f64).sum::<f64>() / 1024.0);
        self.floor.push(
            batches
                .iter()
                .map(|b| raw.cost(b.kind == IoKind::Read, b.len))
                .sum(),
        );
    }
}

/// One in-process daemon (one executor) and what it measured.
#[derive(Debug)]
struct Inproc {
    which: Exec,
    daemon: Arc<Daemon<Probe<AnyExec>>>,
    log: probe::ProbeLog,
    ls: Name,
    base: u64,
    acq: Op,
    rel: Op,
    read_batches: Vec<f64>,
    write_batches: Vec<f64>,
    sample: Vec<probe::Batch>,
    concurrent_count: u64,
    concurrent_seconds: f64,
    concurrent_read: Vec<f64>,
    concurrent_write: Vec<f64>,
}

fn resource(ls: Name, k: usize, path: &Path, base: u64) -> ResourceSpec {
    ResourceSpec {
        lockspace: ls,
        name: setup::name(&format!("r{k}")),
        disks: vec![(path.to_path_buf(), base + (1 + k as u64) * MIB)],
    }
}

/// Acquire/release cycles on the daemon library in-process, with every I/O batch timed, one
/// daemon per executor (each with its own lockspace and resources), turn by turn; then
/// `procs` concurrent tasks per executor, in alternating slices.
fn inproc(args: &Args, report: &mut Report, lo: &LoopDev) -> Result<()> {
    let executors = args.common.executors()?;
    if executors.is_empty() {
        return Ok(());
    }
    eprintln!(
        "== in-process daemon on {}: {} acquire/release cycles of one resource, in turn",
        executors
            .iter()
            .map(|e| e.label())
            .collect::<Vec<_>>()
            .join(" and "),
        args.cycles
    );
    let dev = Arc::new(lo.open()?);
    let rt = daemon_runtime()?;
    let mut runs = Vec::new();
    for (x, &which) in executors.iter().enumerate() {
        let base = INPROC_LS_OFFSET + x as u64 * 20 * MIB;
        let space = format!("LSX{x}");
        init_lockspace(&dev, &space, base, 1)?;
        for k in 0..args.procs.max(1) {
            init_resource(&dev, &space, &format!("r{k}"), base + (1 + k as u64) * MIB)?;
        }
        let (probe, log) = Probe::new(AnyExec::new(which)?);
        let config = DaemonConfig {
            io_timeout_seconds: 1,
            watchdog_fire_timeout_seconds: DEFAULT_WATCHDOG_FIRE_TIMEOUT_SECONDS,
            our_host_name: generate_host_name(),
            kill_grace_seconds: 40,
            log_to_stderr: false,
            use_watchdog: false,
        };
        runs.push(Inproc {
            which,
            daemon: Daemon::new(config, probe),
            log,
            ls: setup::name(&space),
            base,
            acq: Op::default(),
            rel: Op::default(),
            read_batches: Vec::new(),
            write_batches: Vec::new(),
            sample: Vec::new(),
            concurrent_count: 0,
            concurrent_seconds: 0.0,
            concurrent_read: Vec::new(),
            concurrent_write: Vec::new(),
        });
    }
    let path = lo.path().to_path_buf();
    let cycles = args.cycles;
    let (procs, seconds) = (args.procs, args.tput_seconds);
    let limit = Duration::from_secs_f64(120.0 + cycles as f64 * 0.2 + 4.0 * seconds);
    let outcome = run_timeout(
        &rt,
        async move {
            let mut runs = runs;
            for r in &runs {
                let spec = LockspaceSpec {
                    name: r.ls,
                    host_id: 1,
                    path: path.clone(),
                    offset: r.base,
                };
                r.daemon
                    .add_lockspace(spec, Some(1), true)
                    .await
                    .map_err(|e| anyhow!("joining {}: {e}", r.ls))?;
            }
            let mut ids = Vec::new();
            for r in &runs {
                ids.push(
                    r.daemon
                        .registry
                        .register(std::process::id(), "bench_leases".into())
                        .map_err(|e| anyhow!("register: {e}"))?,
                );
            }
            let mut raw = setup::RawFloor::default();
            for cycle in 0..cycles + 20 {
                for (r, &id) in runs.iter_mut().zip(&ids) {
                    let spec = resource(r.ls, 0, &path, r.base);
                    probe::take(&r.log);
                    let t0 = Instant::now();
                    r.daemon
                        .acquire(id, spec.clone(), AcquireOptions::default())
                        .await
                        .map_err(|e| anyhow!("acquire: {e}"))?;
                    let t1 = Instant::now();
                    let acq_batches = probe::take(&r.log);
                    r.daemon
                        .release(id, &spec.lockspace, &spec.name)
                        .await
                        .map_err(|e| anyhow!("release: {e}"))?;
                    let t2 = Instant::now();
                    let rel_batches = probe::take(&r.log);
                    // The raw floor, interleaved: one 1 MiB read, one sector read, one
                    // sector write, timed inside a blocking thread.
                    let d = dev.clone();
                    let now =
                        tokio::task::spawn_blocking(move || setup::raw_floor(&d, RAW_OFFSET, 1))
                            .await
                            .map_err(|e| anyhow!("raw task: {e}"))??;
                    if cycle < 20 {
                        continue; // warm-up
                    }
                    raw.read1m.extend(&now.read1m);
                    raw.read512.extend(&now.read512);
                    raw.write512.extend(&now.write512);
                    if r.sample.is_empty() {
                        r.sample = acq_batches.clone();
                    }
                    for b in acq_batches.iter().chain(&rel_batches) {
                        match (b.kind, b.len) {
                            (IoKind::Read, len) if len == MIB => r.read_batches.push(b.micros()),
                            (IoKind::Write, _) => r.write_batches.push(b.micros()),
                            _ => {}
                        }
                    }
                    r.acq.push(&acq_batches, t1 - t0, &now);
                    r.rel.push(&rel_batches, t2 - t1, &now);
                }
            }
            // `procs` tasks per executor, each on its own resource; executors alternate in
            // slices of a quarter of `seconds`.
            let slice = seconds / 4.0;
            for _ in 0..4 {
                for r in runs.iter_mut() {
                    probe::take(&r.log);
                    let stop = Instant::now() + Duration::from_secs_f64(slice);
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..procs)
                        .map(|k| {
                            let d = r.daemon.clone();
                            let spec = resource(r.ls, k, &path, r.base);
                            tokio::spawn(async move {
                                let id = d
                                    .registry
                                    .register(std::process::id(), format!("task{k}"))
                                    .map_err(|e| anyhow!("register: {e}"))?;
                                let mut n = 0u64;
                                while Instant::now() < stop {
                                    d.acquire(id, spec.clone(), AcquireOptions::default())
                                        .await
                                        .map_err(|e| anyhow!("acquire: {e}"))?;
                                    d.release(id, &spec.lockspace, &spec.name)
                                        .await
                                        .map_err(|e| anyhow!("release: {e}"))?;
                                    n += 1;
                                }
                                d.client_gone(id).await;
                                Ok::<_, anyhow::Error>(n)
                            })
                        })
                        .collect();
                    for task in tasks {
                        r.concurrent_count += task.await.map_err(|e| anyhow!("task: {e}"))??;
                    }
                    r.concurrent_seconds += start.elapsed().as_secs_f64();
                    for b in probe::take(&r.log) {
                        match (b.kind, b.len) {
                            (IoKind::Read, len) if len == MIB => {
                                r.concurrent_read.push(b.micros());
                            }
                            (IoKind::Write, _) => r.concurrent_write.push(b.micros()),
                            _ => {}
                        }
                    }
                }
            }
            Ok::<_, anyhow::Error>((runs, raw))
        },
        limit,
    );
    let (runs, raw) = match outcome {
        Ok(result) => result?,
        Err(e) => {
            eprintln!("STALL in the in-process daemon: {e:#}");
            report.emit("ours.inproc.stalled", 1.0, "flag", None);
            rt.shutdown_timeout(Duration::from_secs(5));
            return Ok(());
        }
    };
    rt.shutdown_timeout(Duration::from_secs(5));
    report.dist("raw.inproc.read1m", &raw.read1m, "us");
    report.dist("raw.inproc.read512", &raw.read512, "us");
    report.dist("raw.inproc.write512", &raw.write512, "us");
    for r in &runs {
        let ip = format!("ours.inproc.{}", r.which.label());
        report.dist(&format!("{ip}.read1m_batch"), &r.read_batches, "us");
        report.dist(&format!("{ip}.write_batch"), &r.write_batches, "us");
        for (label, op) in [("acquire", &r.acq), ("release", &r.rel)] {
            let p = format!("{ip}.{label}");
            report.emit(&format!("{p}.median"), median(&op.total), "us", None);
            report.emit(&format!("{p}.p99"), pct(&op.total, 0.99), "us", None);
            report.emit(&format!("{p}.io.median"), median(&op.io), "us", None);
            let other: Vec<f64> = op.total.iter().zip(&op.io).map(|(t, i)| t - i).collect();
            report.emit(&format!("{p}.other.median"), median(&other), "us", None);
            report.emit(
                &format!("{p}.batches"),
                median(&op.batches),
                "batches",
                None,
            );
            report.emit(&format!("{p}.reads"), median(&op.reads), "ios", None);
            report.emit(&format!("{p}.writes"), median(&op.writes), "ios", None);
            report.emit(&format!("{p}.kib"), median(&op.bytes), "KiB", None);
            // What the same I/Os cost raw, one after the other (interleaved raw samples).
            report.emit(&format!("{p}.io_floor"), median(&op.floor), "us", None);
        }
        let tp = format!("{ip}.{procs}tasks");
        report.emit(
            &format!("{tp}.tput"),
            r.concurrent_count as f64 / r.concurrent_seconds.max(1e-9),
            "acq+rel/s",
            None,
        );
        report.dist(&format!("{tp}.read1m_batch"), &r.concurrent_read, "us");
        report.dist(&format!("{tp}.write_batch"), &r.concurrent_write, "us");
        eprintln!(
            "  one acquire's I/O batches on {} (first I/O of each):",
            r.which.label()
        );
        let origin = r.sample.first().map(|b| b.start);
        for b in &r.sample {
            eprintln!(
                "    +{:7.1} us {:?} {} B at {} ({} I/O) {:.1} us",
                origin.map_or(0.0, |o| (b.start - o).as_secs_f64() * 1e6),
                b.kind,
                b.len,
                b.offset,
                b.count,
                b.micros()
            );
        }
    }
    Ok(())
}
