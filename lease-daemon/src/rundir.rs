//! The daemon's run directory: `sanlock.pid` (locked while the daemon runs) and
//! `sanlock.sock` (the client socket).
//!
//! **Invariants**
//! * At most one daemon runs per run directory: the pid file is held with an exclusive
//!   `flock`, taken before anything else is touched; a second daemon fails at once.
//! * A daemon killed with SIGKILL leaves nothing that delays the next start: the kernel drops
//!   the `flock` with the process, and a stale socket file is replaced only by the process that
//!   holds the lock.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Default run directory (sanlock's).
pub const DEFAULT_RUN_DIR: &str = "/run/sanlock";
/// Environment variable that overrides the run directory (sanlock's and libsanlock's).
pub const RUN_DIR_ENV: &str = "SANLOCK_RUN_DIR";
pub const PID_FILE: &str = "sanlock.pid";
pub const SOCKET_FILE: &str = "sanlock.sock";

#[derive(Debug, Error)]
pub enum RunDirError {
    #[error("cannot create run directory {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot open pid file {path}: {source}")]
    PidFile { path: PathBuf, source: io::Error },
    #[error("another daemon is running with run directory {dir} (pid file {path} is locked)")]
    AlreadyRunning { dir: PathBuf, path: PathBuf },
}

/// The run directory from `--run-dir`, else `SANLOCK_RUN_DIR`, else `/run/sanlock`.
pub fn resolve_run_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(dir) = flag {
        return dir.to_path_buf();
    }
    match std::env::var_os(RUN_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(DEFAULT_RUN_DIR),
    }
}

/// A locked run directory. Dropping it removes the socket and pid files; the lock goes with
/// the file descriptor.
#[derive(Debug)]
pub struct RunDir {
    dir: PathBuf,
    _pid_file: File,
}

impl RunDir {
    /// Create the directory if needed, lock `sanlock.pid` and write our pid into it.
    pub fn lock(dir: &Path) -> Result<RunDir, RunDirError> {
        std::fs::create_dir_all(dir).map_err(|source| RunDirError::Create {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(PID_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&path)
            .map_err(|source| RunDirError::PidFile {
                path: path.clone(),
                source,
            })?;
        // SAFETY: flock on a valid, owned descriptor; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(RunDirError::AlreadyRunning {
                    dir: dir.to_path_buf(),
                    path,
                });
            }
            return Err(RunDirError::PidFile { path, source: err });
        }
        file.set_len(0).map_err(|source| RunDirError::PidFile {
            path: path.clone(),
            source,
        })?;
        writeln!(file, "{}", std::process::id()).map_err(|source| RunDirError::PidFile {
            path: path.clone(),
            source,
        })?;
        Ok(RunDir {
            dir: dir.to_path_buf(),
            _pid_file: file,
        })
    }

    /// Write the current pid again (after daemonizing: the lock survives `fork`, the pid
    /// changes).
    pub fn rewrite_pid(&mut self) -> io::Result<()> {
        use std::io::Seek;
        self._pid_file.set_len(0)?;
        self._pid_file.rewind()?;
        writeln!(self._pid_file, "{}", std::process::id())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn socket_path(&self) -> PathBuf {
        self.dir.join(SOCKET_FILE)
    }

    /// Remove a stale socket left by a killed daemon (we hold the lock, so it is stale).
    pub fn clear_stale_socket(&self) -> io::Result<()> {
        match std::fs::remove_file(self.socket_path()) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.socket_path());
        let _ = std::fs::remove_file(self.dir.join(PID_FILE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_of_one_run_dir_fails_at_once_and_the_lock_dies_with_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunDir::lock(dir.path()).unwrap();
        let pid = std::fs::read_to_string(dir.path().join(PID_FILE)).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
        assert!(matches!(
            RunDir::lock(dir.path()),
            Err(RunDirError::AlreadyRunning { .. })
        ));
        drop(first);
        let again = RunDir::lock(dir.path()).unwrap();
        std::fs::write(again.socket_path(), b"stale").unwrap();
        again.clear_stale_socket().unwrap();
        assert!(!again.socket_path().exists());
    }

    #[test]
    fn run_dir_resolution_prefers_the_flag() {
        assert_eq!(resolve_run_dir(Some(Path::new("/x"))), PathBuf::from("/x"));
    }
}
