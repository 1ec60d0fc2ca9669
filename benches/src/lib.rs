//! Latency, throughput and idle-cost benchmarks of our daemon, side by side with sanlock 3.8.5
//! in the same run on the same loop device. They run by hand (docs/benchmarks.md); timing
//! goals live here and in that document, never in tests.
//!
//! Binaries (each prints `name value unit` lines like the peer kit's `bench.py`, details on
//! stderr, and writes a JSON file; `--smoke` is a few-second run against our daemon only):
//! * `bench_renewal`: delta-lease renewal latency in-process and in the daemon, against the
//!   raw O_DIRECT floor of the same I/Os; a renewal round of 100 lockspaces against one.
//! * `bench_idle`: daemon CPU% and RSS idle with 1, 10 and 100 lockspaces, ours and sanlock's.
//! * `bench_leases`: resource lease acquire/release latency and throughput through
//!   python3-sanlock (`python/bench_leases.py`), ours and sanlock's.
//!
//! Modules: [`setup`] (scratch directory, loop device, lease areas), [`daemons`] (starting
//! and driving both daemons), [`procfs`] (CPU and memory of a process), [`probe`] (executors
//! that time I/O batches and their steps), [`report`] (output and statistics), [`cleanup`]
//! (undo on drop and on signals). Here: what every binary shares ([`main`], [`CommonArgs`],
//! [`Bench`]: the test bed and the report) and the in-process executors.

pub mod cleanup;
pub mod daemons;
pub mod probe;
pub mod procfs;
pub mod report;
pub mod setup;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use report::Report;
use setup::{LoopDev, Workdir};

/// A benchmark's `main`: cleanup on signals installed, then `run` (which parses the
/// arguments); an error is printed as `<bench>: <error>` and fails the process.
pub fn main(bench: &str, run: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    cleanup::install_signal_handler();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{bench}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The test bed and the report of one run: the `lease` binary, a scratch directory with a
/// loop device on a sparse image of [`IMAGE_BYTES`] in it, and the report with the metadata
/// every run records.
#[derive(Debug)]
pub struct Bench {
    /// Our binary (`--lease`, else found as [`setup::lease_binary`] says).
    pub lease: PathBuf,
    pub report: Report,
    /// Declared before `work`: fields drop in order, so the loop device is detached before
    /// the scratch directory holding its image is removed.
    pub lo: LoopDev,
    pub work: Workdir,
}

impl Bench {
    /// Find the `lease` binary, start the report of `bench`, create the scratch directory and
    /// the loop device (`--workdir`, `--loop-dio`), and record the machine, the revision, the
    /// binary, the device, `--smoke` and the machine's pressure at the start.
    pub fn start(bench: &str, common: &CommonArgs) -> anyhow::Result<Bench> {
        let lease = setup::lease_binary(common.lease.as_deref())?;
        let mut report = Report::new(bench);
        let work = Workdir::create(common.workdir.as_deref())?;
        let lo = LoopDev::create(&work.path().join("disk.img"), IMAGE_BYTES, common.loop_dio)?;
        report.meta("machine", setup::machine());
        report.meta("revision", setup::tree_revision());
        report.meta("lease_binary", lease.display().to_string());
        report.meta("device", lo.path_str());
        report.meta("loop_direct_io", lo.direct_io());
        report.meta("smoke", common.smoke);
        report.meta("pressure_at_start", setup::pressure());
        eprintln!("machine pressure (some, avg60): {}", setup::pressure());
        Ok(Bench {
            lease,
            report,
            lo,
            work,
        })
    }

    /// Record the pressure at the end and write the JSON file (`json`, else the report's
    /// default path); then detach the loop device and remove the scratch directory. Stop the
    /// daemons first.
    pub fn finish(mut self, json: Option<&Path>) -> anyhow::Result<()> {
        let json = json.map_or_else(|| self.report.default_path(), Path::to_path_buf);
        self.report.meta("pressure_at_end", setup::pressure());
        self.report.write(&json)
    }
}

/// Options every benchmark takes.
#[derive(Clone, Debug, clap::Args)]
pub struct CommonArgs {
    /// A few-second run against our daemon only (for tests): proves the benchmark still works.
    #[arg(long)]
    pub smoke: bool,
    /// Measure our daemon only (no sanlock).
    #[arg(long)]
    pub ours_only: bool,
    /// The `lease` binary (default: $LEASE_BIN, else next to this executable).
    #[arg(long, value_name = "PATH")]
    pub lease: Option<PathBuf>,
    /// Scratch directory to create (default /tmp/leasebench-<pid>); removed at the end.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Where to write the JSON results (default /tmp/leasebench/<bench>-<time>.json).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Attach the loop device with --direct-io=on (default: buffered, as the peer kit).
    #[arg(long)]
    pub loop_dio: bool,
    /// Daemons to compare: ours (its default I/O engine, io_uring where available),
    /// ours_threads (`--io-engine threads`), sanlock.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ours,ours_threads,sanlock"
    )]
    pub daemons: Vec<String>,
    /// Executors of the in-process measurements: threads (`exec::ThreadExecutor`) and uring
    /// (`exec::EngineExecutor` on io_uring, what the daemon uses by default).
    #[arg(long, value_delimiter = ',', default_value = "threads,uring")]
    pub executors: Vec<String>,
}

impl CommonArgs {
    /// The daemons to run: `--daemons`, without sanlock under `--ours-only`, and only `ours`
    /// under `--smoke`.
    pub fn variants(&self) -> anyhow::Result<Vec<daemons::Variant>> {
        if self.smoke {
            return Ok(vec![daemons::OURS]);
        }
        let mut out = Vec::new();
        for name in &self.daemons {
            let v = daemons::Variant::parse(name).ok_or_else(|| {
                anyhow::anyhow!("--daemons: {name:?} is not ours, ours_threads or sanlock")
            })?;
            let skipped = self.ours_only && v.kind == daemons::Kind::Sanlock;
            if !skipped && !out.contains(&v) {
                out.push(v);
            }
        }
        if out.is_empty() {
            anyhow::bail!("--daemons: nothing to measure");
        }
        Ok(out)
    }

    /// The in-process executors to measure.
    pub fn executors(&self) -> anyhow::Result<Vec<Exec>> {
        let mut out = Vec::new();
        for name in &self.executors {
            let e = match name.as_str() {
                "threads" => Exec::Threads,
                "uring" => Exec::Uring,
                other => anyhow::bail!("--executors: {other:?} is not threads or uring"),
            };
            if !out.contains(&e) {
                out.push(e);
            }
        }
        Ok(out)
    }
}

/// An in-process executor of the daemon library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exec {
    /// `lease_daemon::exec::ThreadExecutor`: one blocking-pool thread per I/O, pread/pwrite.
    Threads,
    /// `lease_daemon::exec::EngineExecutor` on `lease_io`'s io_uring engine.
    Uring,
}

impl Exec {
    pub fn label(self) -> &'static str {
        match self {
            Exec::Threads => "threads",
            Exec::Uring => "uring",
        }
    }
}

/// The io_uring executor the daemon uses by default.
pub fn uring_executor() -> anyhow::Result<lease_daemon::exec::EngineExecutor> {
    lease_daemon::exec::EngineExecutor::new(lease_io::EngineKind::IoUring)
        .map_err(|e| anyhow::anyhow!("io_uring engine: {e}"))
}

/// Either executor behind one type (a match per batch), so that both can be measured in
/// the same loop, turn by turn.
#[derive(Debug)]
pub enum AnyExec {
    Threads(lease_daemon::exec::ThreadExecutor),
    Uring(lease_daemon::exec::EngineExecutor),
}

impl AnyExec {
    pub fn new(which: Exec) -> anyhow::Result<AnyExec> {
        Ok(match which {
            Exec::Threads => AnyExec::Threads(lease_daemon::exec::ThreadExecutor),
            Exec::Uring => AnyExec::Uring(uring_executor()?),
        })
    }
}

impl lease_daemon::exec::IoExecutor for AnyExec {
    async fn submit(
        &self,
        disks: &[std::sync::Arc<lease_io::Device>],
        ios: Vec<lease_core::seam::Io>,
        timeout: std::time::Duration,
    ) -> Vec<lease_core::seam::IoOutcome> {
        match self {
            AnyExec::Threads(e) => e.submit(disks, ios, timeout).await,
            AnyExec::Uring(e) => e.submit(disks, ios, timeout).await,
        }
    }
}

/// Size of the sparse image (as the peer kit's).
pub const IMAGE_BYTES: u64 = 1 << 30;

/// A tokio runtime built exactly as `lease daemon` builds its own (2 workers, up to 64
/// blocking threads), so in-process measurements see the daemon's scheduling.
pub fn daemon_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .enable_all()
        .build()
}

/// Run `fut` on `rt` and wait for it at most `limit`, from this (non-runtime) thread.
///
/// `block_on` would wait forever if the runtime's workers are stuck (a deadlock in the code
/// under test blocks them in a mutex, and then even timers stop); this returns an error
/// instead, so the benchmark can report the stall and go on (shut such a runtime down with
/// `shutdown_timeout`: its stuck threads are leaked).
pub fn run_timeout<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    fut: impl std::future::Future<Output = T> + Send + 'static,
    limit: std::time::Duration,
) -> anyhow::Result<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv_timeout(limit).map_err(|_| {
        anyhow::Error::new(Stalled {
            seconds: limit.as_secs_f64(),
        })
    })
}

/// The code under test made no progress within the time limit (see [`run_timeout`]).
#[derive(Debug, Clone, Copy)]
pub struct Stalled {
    pub seconds: f64,
}

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no progress within {:.0} s: the runtime is stalled (deadlock in the code under test?)",
            self.seconds
        )
    }
}

impl std::error::Error for Stalled {}
