//! Test support (cargo feature `testing`): loop devices and descriptor-flag inspection.
//!
//! Not for production use. Enabled for lease-io's own tests through a self dev-dependency, and
//! available to other test crates with `lease-io = { ..., features = ["testing"] }`.
//!
//! Loop-device policy: kernel-dependent tests must never silently pass. [`require_loop_device`]
//! panics (fails the test) with the reason when a loop device cannot be attached (no `losetup`,
//! not root, no `/dev/loop-control`), unless the environment variable
//! [`ALLOW_SKIP_LOOP_ENV`]`=1` is set, in which case it prints a `SKIP:` line and returns `None`.
//! CI runs as root and does not set it, so loop tests always run there.
//!
//! [`LoopDevice`] detaches on drop (`losetup -d`), so a failing assertion does not leak the
//! device. Drop it before the backing file's temporary directory (declare the directory first).

use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::sys;

/// Set to `1` to let loop-device tests skip (with a printed reason) instead of failing.
pub const ALLOW_SKIP_LOOP_ENV: &str = "LEASE_TESTS_ALLOW_SKIP_LOOP";

/// A loop device attached to a backing file; detached when dropped.
#[derive(Debug)]
pub struct LoopDevice {
    path: PathBuf,
    attached: bool,
}

impl LoopDevice {
    /// Attaches `file` to the first free loop device with the given logical sector size
    /// (`losetup -f --show --sector-size N FILE`).
    ///
    /// Errors (as a readable message): not root, `losetup` missing or failing, unexpected output.
    pub fn attach(file: &Path, sector_size: u32) -> Result<LoopDevice, String> {
        let euid = sys::effective_uid();
        if euid != 0 {
            return Err(format!("loop devices need root, running as euid {euid}"));
        }
        let output = Command::new(losetup_program())
            .args([
                "--find",
                "--show",
                "--sector-size",
                &sector_size.to_string(),
            ])
            .arg(file)
            .output()
            .map_err(|e| format!("cannot run losetup: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "losetup --find --show --sector-size {sector_size} {} failed ({}): {}",
                file.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let name = stdout.trim();
        if !name.starts_with("/dev/") {
            return Err(format!(
                "losetup printed an unexpected device name {name:?}"
            ));
        }
        Ok(LoopDevice {
            path: PathBuf::from(name),
            attached: true,
        })
    }

    /// The loop device node, e.g. `/dev/loop3`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Detaches now, reporting failure (drop detaches silently, logging to stderr).
    pub fn detach(mut self) -> Result<(), String> {
        self.attached = false;
        detach(&self.path)
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        if self.attached {
            if let Err(e) = detach(&self.path) {
                eprintln!("warning: {e}");
            }
        }
    }
}

/// `losetup` from `PATH`, else from the sbin directories a non-login root shell may lack in
/// `PATH`; falls back to the bare name so the spawn error names it.
fn losetup_program() -> PathBuf {
    let in_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("losetup"))
                .collect()
        })
        .unwrap_or_default();
    let fixed = ["/usr/sbin/losetup", "/sbin/losetup"].map(PathBuf::from);
    in_path
        .into_iter()
        .chain(fixed)
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from("losetup"))
}

fn detach(path: &Path) -> Result<(), String> {
    let output = Command::new(losetup_program())
        .arg("--detach")
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run losetup --detach {}: {e}", path.display()))?;
    if !output.status.success() {
        return Err(format!(
            "losetup --detach {} failed ({}): {}",
            path.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(())
}

/// Attaches a loop device or fails the calling test, unless [`ALLOW_SKIP_LOOP_ENV`]`=1`, in which
/// case it prints `SKIP: <test>: <reason>` and returns `None`.
///
/// # Panics
///
/// When the device cannot be attached and skipping is not allowed. This is test-only code: the
/// panic is how the test fails with the reason.
pub fn require_loop_device(test_name: &str, file: &Path, sector_size: u32) -> Option<LoopDevice> {
    match LoopDevice::attach(file, sector_size) {
        Ok(device) => Some(device),
        Err(reason) if skip_allowed() => {
            println!("SKIP: {test_name}: {reason} ({ALLOW_SKIP_LOOP_ENV}=1)");
            None
        }
        Err(reason) => panic!(
            "{test_name}: cannot attach a loop device: {reason}. Loop-device tests need root and \
             losetup; set {ALLOW_SKIP_LOOP_ENV}=1 to skip them on machines without either"
        ),
    }
}

fn skip_allowed() -> bool {
    std::env::var(ALLOW_SKIP_LOOP_ENV).is_ok_and(|v| v == "1")
}

/// `fcntl(F_GETFL)`: status flags of a descriptor (e.g. check `O_DIRECT`, `O_DSYNC`).
pub fn fd_status_flags(fd: &impl AsFd) -> io::Result<i32> {
    sys::fcntl_getfl(fd.as_fd())
}

/// `fcntl(F_GETFD)`: descriptor flags (e.g. check `FD_CLOEXEC`).
pub fn fd_descriptor_flags(fd: &impl AsFd) -> io::Result<i32> {
    sys::fcntl_getfd(fd.as_fd())
}
