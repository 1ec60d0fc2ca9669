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
//! (undo on drop and on signals).

pub mod cleanup;
pub mod daemons;
pub mod probe;
pub mod procfs;
pub mod report;
pub mod setup;

use std::path::PathBuf;

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
}

impl CommonArgs {
    /// Whether sanlock is measured too.
    pub fn with_sanlock(&self) -> bool {
        !self.smoke && !self.ours_only
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
