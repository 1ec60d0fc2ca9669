//! The test bed, as the peer kit's `setup.sh` builds it: a sparse 1 GiB file in a scratch
//! directory, a loop device on it (buffered by default, `--direct-io=on` on request), and
//! lease areas written exactly as `sanlock direct init` writes them (`lease-core`'s area
//! builders, golden-tested against sanlock 3.8.5).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use lease_core::geometry::Geometry;
use lease_core::ondisk::{lockspace_init_area, paxos_init_area, Name};
use lease_io::{Access, Device};

use crate::cleanup;

/// One MiB.
pub const MIB: u64 = 1 << 20;

/// A scratch directory, removed on drop (and on SIGINT/SIGTERM).
#[derive(Debug)]
pub struct Workdir {
    path: PathBuf,
    key: u64,
}

impl Workdir {
    /// Create `path` (or `/tmp/leasebench-<pid>`); it must not exist yet, so we never remove
    /// something that is not ours.
    pub fn create(path: Option<&Path>) -> Result<Workdir> {
        let path = path.map_or_else(
            || PathBuf::from(format!("/tmp/leasebench-{}", std::process::id())),
            Path::to_path_buf,
        );
        std::fs::create_dir(&path)
            .with_context(|| format!("creating the scratch directory {}", path.display()))?;
        let key = cleanup::register(cleanup::Item::Dir(path.clone()));
        Ok(Workdir { path, key })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        cleanup::unregister(self.key);
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `losetup` from PATH or the sbin directories.
fn losetup() -> PathBuf {
    ["/usr/sbin/losetup", "/sbin/losetup"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("losetup"))
}

/// `losetup -d PATH`.
pub fn detach_loop(path: &Path) -> Result<(), String> {
    let out = Command::new(losetup())
        .arg("-d")
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run losetup -d {}: {e}", path.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "losetup -d {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A loop device over a sparse image file; detached on drop (and on SIGINT/SIGTERM).
#[derive(Debug)]
pub struct LoopDev {
    path: PathBuf,
    image: PathBuf,
    direct_io: bool,
    key: u64,
}

impl LoopDev {
    /// Create the sparse file `image` of `size` bytes and attach it (`losetup -f --show`,
    /// with `--direct-io=on` when `direct_io`).
    pub fn create(image: &Path, size: u64, direct_io: bool) -> Result<LoopDev> {
        let file = std::fs::File::create(image)
            .with_context(|| format!("creating {}", image.display()))?;
        file.set_len(size)
            .with_context(|| format!("sizing {}", image.display()))?;
        drop(file);
        let mut cmd = Command::new(losetup());
        cmd.args(["-f", "--show"]);
        if direct_io {
            cmd.arg("--direct-io=on");
        }
        let out = cmd.arg(image).output().context("cannot run losetup")?;
        if !out.status.success() {
            bail!(
                "losetup -f --show {} failed (loop devices need root): {}",
                image.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !name.starts_with("/dev/") {
            bail!("losetup printed {name:?}");
        }
        let path = PathBuf::from(name);
        let key = cleanup::register(cleanup::Item::Loop(path.clone()));
        Ok(LoopDev {
            path,
            image: image.to_path_buf(),
            direct_io,
            key,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path as a string (for lease strings and Python).
    pub fn path_str(&self) -> String {
        self.path.display().to_string()
    }

    pub fn image(&self) -> &Path {
        &self.image
    }

    pub fn direct_io(&self) -> bool {
        self.direct_io
    }

    /// Open the device as the daemon does (O_DIRECT, O_DSYNC for writes).
    pub fn open(&self) -> Result<Device> {
        Device::open(&self.path, Access::ReadWrite)
            .with_context(|| format!("opening {}", self.path.display()))
    }
}

impl Drop for LoopDev {
    fn drop(&mut self) {
        cleanup::unregister(self.key);
        if let Err(e) = detach_loop(&self.path) {
            eprintln!("warning: {e}");
        }
    }
}

/// A lockspace or resource name (at most 48 bytes).
pub fn name(text: &str) -> Name {
    Name::new(text).expect("benchmark names are short and valid")
}

/// Write a lockspace area as `sanlock direct init -s NAME:0:DEV:OFFSET -o IO` does.
pub fn init_lockspace(dev: &Device, space: &str, offset: u64, io_timeout: u16) -> Result<()> {
    let area = lockspace_init_area(Geometry::S512_A1M, &name(space), io_timeout);
    dev.write_at(offset, &area)
        .with_context(|| format!("initialising lockspace {space} at {offset}"))
}

/// Write a resource area as `sanlock direct init -r SPACE:RES:DEV:OFFSET` does.
pub fn init_resource(dev: &Device, space: &str, resource: &str, offset: u64) -> Result<()> {
    let area = paxos_init_area(Geometry::S512_A1M, &name(space), &name(resource), 0, None);
    dev.write_at(offset, &area)
        .with_context(|| format!("initialising resource {space}:{resource} at {offset}"))
}

/// The `lease` binary to benchmark: `explicit`, else `$LEASE_BIN`, else the one next to this
/// executable (`target/<profile>/lease`; test executables live one level down, in `deps/`).
pub fn lease_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        if path.is_file() {
            return Ok(path.to_path_buf());
        }
        bail!("--lease {}: no such file", path.display());
    }
    if let Some(path) = std::env::var_os("LEASE_BIN") {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        bail!("LEASE_BIN={}: no such file", path.display());
    }
    let exe = std::env::current_exe().context("locating this executable")?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    let candidate = dir.join("lease");
    if candidate.is_file() {
        return Ok(candidate);
    }
    bail!(
        "the lease binary is not at {} : build it first (`cargo build --release -p lease-cli`, \
         or `cargo build -p lease-cli` for the smoke test), or pass --lease PATH",
        candidate.display()
    )
}

/// `git describe`-like provenance of the benchmarked tree (commit and whether it is dirty).
pub fn tree_revision() -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let head = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{head}+dirty")
    } else {
        head
    }
}

/// A short description of the machine (CPU model and count, kernel).
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_string();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpus} x {model}, kernel {}", kernel.trim())
}

/// Raw O_DIRECT latencies (microseconds) of the I/Os lease operations issue, through
/// `lease_io::Device` (O_DIRECT, O_DSYNC writes) with a preallocated aligned buffer: the floor
/// under any lease operation on this device.
#[derive(Clone, Debug, Default)]
pub struct RawFloor {
    /// 1 MiB reads (a whole lease area).
    pub read1m: Vec<f64>,
    /// 512-byte reads (one sector).
    pub read512: Vec<f64>,
    /// 512-byte writes (one sector).
    pub write512: Vec<f64>,
}

/// Measure `n` each of 1 MiB reads, 512-byte reads and 512-byte writes, alternating, at
/// `offset` (1 MiB of scratch space that no lease uses).
pub fn raw_floor(dev: &Device, offset: u64, n: usize) -> Result<RawFloor> {
    let mut buf = lease_io::AlignedBuf::zeroed(MIB as usize)?;
    let mut sector = lease_io::AlignedBuf::zeroed(512)?;
    let mut out = RawFloor::default();
    for _ in 0..n {
        let t0 = std::time::Instant::now();
        dev.read_into(offset, &mut buf)?;
        let t1 = std::time::Instant::now();
        dev.read_into(offset, &mut sector)?;
        let t2 = std::time::Instant::now();
        dev.write_at(offset, &sector)?;
        let t3 = std::time::Instant::now();
        out.read1m.push((t1 - t0).as_secs_f64() * 1e6);
        out.read512.push((t2 - t1).as_secs_f64() * 1e6);
        out.write512.push((t3 - t2).as_secs_f64() * 1e6);
    }
    Ok(out)
}

impl RawFloor {
    /// The raw cost of one I/O of `len` bytes (median): reads of more than 4 KiB count as a
    /// 1 MiB read scaled by length, smaller ones as a sector read.
    pub fn cost(&self, read: bool, len: u64) -> f64 {
        let m = crate::report::median;
        if !read {
            m(&self.write512)
        } else if len > 4096 {
            m(&self.read1m) * len as f64 / MIB as f64
        } else {
            m(&self.read512)
        }
    }
}

/// CPU and I/O pressure of the whole machine (`/proc/pressure`, "some" avg60, percent): the
/// machine may be shared; recorded at the start and the end of every run.
pub fn pressure() -> String {
    let read = |what: &str| {
        std::fs::read_to_string(format!("/proc/pressure/{what}"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("some"))
                    .and_then(|l| l.split_whitespace().find(|f| f.starts_with("avg60=")))
                    .map(|f| f.trim_start_matches("avg60=").to_string())
            })
            .unwrap_or_else(|| "?".into())
    };
    format!("cpu {}% io {}%", read("cpu"), read("io"))
}
