//! Daemon processes for the integration tests: ours (`lease daemon`) and the real sanlock,
//! each in its own run directory, plus a python3-sanlock runner.
//!
//! * [`DaemonProcess`]: a started daemon. [`DaemonProcess::start_lease`] and
//!   [`DaemonProcess::start_sanlock`] spawn it (stdout and stderr to a log file next to the run
//!   directory) and return once its socket answers a VERSION request, polling with a bounded
//!   timeout; a daemon that exits first fails the start with its log. Dropping the guard stops
//!   the daemon: a forced SHUTDOWN on its socket (sanlock ignores SIGTERM while lockspaces are
//!   joined), a bounded wait, then SIGKILL of the daemon and of its process group.
//!   [`DaemonProcess::kill9`] is the crash (SIGKILL, reaped at once).
//! * [`DaemonProcess::client`]: `lease client ...` or `sanlock client ...` against that daemon
//!   (`SANLOCK_RUN_DIR` set), as a finished [`Run`].
//! * [`join_in_parallel`]: several daemons join one lockspace at once, as host ids 1, 2, ...
//! * [`wire`]: raw messages on a daemon socket (VERSION, SHUTDOWN, hand-made headers).
//! * [`Python`]: `/usr/bin/python3` with Debian's `python3-sanlock`, running a snippet with
//!   `SANLOCK_RUN_DIR` set and returning the JSON it emits.
//!
//! Polling loops sleep a few milliseconds between polls; no helper sleeps in place of waiting
//! for an observable event.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::{find_program, join_lockspace, Run, Sanlock, ALLOW_SKIP_SANLOCK_ENV};

/// How long a daemon may take to answer on its socket after being spawned.
pub const DAEMON_START_LIMIT: Duration = Duration::from_secs(15);
/// How long a forced shutdown may take before the daemon is killed (sanlock releases its
/// delta leases first: about 3 s per lockspace at io_timeout 1).
pub const DAEMON_STOP_LIMIT: Duration = Duration::from_secs(20);
/// The pause between two polls of a condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Which daemon a [`DaemonProcess`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flavor {
    /// Ours: the `lease` binary at this path.
    Lease(PathBuf),
    /// The real sanlock.
    Sanlock(PathBuf),
}

/// A running daemon with its own run directory; stopped on drop.
#[derive(Debug)]
pub struct DaemonProcess {
    flavor: Flavor,
    label: String,
    run_dir: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
    exit: Option<ExitStatus>,
}

/// Spawns `command` in its own process group with stdin closed and output appended to `log`.
fn spawn_logged(command: &mut Command, log: &Path) -> std::io::Result<Child> {
    let out = File::options().create(true).append(true).open(log)?;
    let err = out.try_clone()?;
    command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
}

/// Reads a file for a message (empty when it cannot be read).
fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// The command that runs our daemon in the foreground (`-D -w 0`) on `run_dir`.
pub fn lease_daemon_command(
    lease: &Path,
    run_dir: &Path,
    config: Option<&Path>,
    extra: &[&str],
) -> Command {
    let mut command = Command::new(lease);
    command.args(["daemon", "-D", "-w", "0", "--run-dir"]);
    command.arg(run_dir);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command.args(extra);
    // Only the flag names the run directory.
    command.env_remove("SANLOCK_RUN_DIR");
    command
}

impl DaemonProcess {
    /// Starts our daemon (`lease daemon -D -w 0 --run-dir RUN_DIR [--config CONFIG] EXTRA...`)
    /// and waits until its socket answers. The log is `RUN_DIR.log`.
    ///
    /// # Panics
    ///
    /// When it cannot be spawned, exits, or does not answer within [`DAEMON_START_LIMIT`].
    pub fn start_lease(
        lease: &Path,
        label: &str,
        run_dir: &Path,
        config: Option<&Path>,
        extra: &[&str],
    ) -> DaemonProcess {
        let mut command = lease_daemon_command(lease, run_dir, config, extra);
        Self::start(
            Flavor::Lease(lease.to_path_buf()),
            label,
            run_dir,
            &mut command,
        )
    }

    /// Starts the real sanlock daemon the only way it runs here:
    /// `SANLOCK_RUN_DIR=RUN_DIR SANLOCK_PRIVILEGED=0 sanlock daemon -w 0 -l 0 -U root -G root -D`,
    /// and waits until its socket answers. The log is `RUN_DIR.log`.
    ///
    /// # Panics
    ///
    /// When it cannot be spawned, exits, or does not answer within [`DAEMON_START_LIMIT`].
    pub fn start_sanlock(sanlock: &Sanlock, label: &str, run_dir: &Path) -> DaemonProcess {
        let mut command = Command::new(sanlock.path());
        command
            .args([
                "daemon", "-w", "0", "-l", "0", "-U", "root", "-G", "root", "-D",
            ])
            .env("SANLOCK_RUN_DIR", run_dir)
            .env("SANLOCK_PRIVILEGED", "0");
        Self::start(
            Flavor::Sanlock(sanlock.path().to_path_buf()),
            label,
            run_dir,
            &mut command,
        )
    }

    fn start(flavor: Flavor, label: &str, run_dir: &Path, command: &mut Command) -> DaemonProcess {
        std::fs::create_dir_all(run_dir)
            .unwrap_or_else(|e| panic!("{label}: cannot create {}: {e}", run_dir.display()));
        let log_path = run_dir.with_extension("log");
        let child = spawn_logged(command, &log_path)
            .unwrap_or_else(|e| panic!("{label}: cannot start {command:?}: {e}"));
        let mut daemon = DaemonProcess {
            flavor,
            label: label.to_owned(),
            run_dir: run_dir.to_path_buf(),
            log_path,
            child: Some(child),
            exit: None,
        };
        if let Err(why) = daemon.wait_ready(DAEMON_START_LIMIT) {
            panic!(
                "{label}: daemon did not start: {why}\n{}",
                daemon.describe()
            );
        }
        daemon
    }

    /// Polls until the socket answers VERSION (`Ok`), the process exits or `limit` passes.
    pub fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.exit_status() {
                return Err(format!("exited with {status} before answering"));
            }
            match wire::version(&self.socket()) {
                Ok(_) => return Ok(()),
                Err(e) if start.elapsed() > limit => {
                    return Err(format!(
                        "socket {} did not answer VERSION within {limit:?}: {e}",
                        self.socket().display()
                    ))
                }
                Err(_) => std::thread::sleep(POLL_INTERVAL),
            }
        }
    }

    /// The exit status if the process has exited (reaps it).
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.exit = Some(status);
                }
            }
        }
        self.exit
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && self.exit_status().is_none()
    }

    /// Which daemon this is.
    pub fn flavor(&self) -> &Flavor {
        &self.flavor
    }

    /// The label given at start (for messages).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The run directory.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// `RUN_DIR/sanlock.sock`.
    pub fn socket(&self) -> PathBuf {
        self.run_dir.join("sanlock.sock")
    }

    /// Everything the daemon has logged so far.
    pub fn log(&self) -> String {
        read_lossy(&self.log_path)
    }

    /// Label, pid, state and log, for assertion messages.
    pub fn describe(&self) -> String {
        let log = self.log();
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "--- {} ({:?}) pid {} run dir {} exit {:?}; last log lines:\n{}\n---",
            self.label,
            self.flavor,
            self.pid(),
            self.run_dir.display(),
            self.exit,
            tail.join("\n")
        )
    }

    /// Runs `<daemon binary> client ARGS` (`lease client` or `sanlock client`) with
    /// `SANLOCK_RUN_DIR` naming this daemon's run directory.
    pub fn client<S: AsRef<OsStr>>(&self, args: &[S]) -> Run {
        self.client_with(false, args)
    }

    /// `<daemon binary> --json client ARGS`: for our daemon only (sanlock has no `--json`).
    pub fn client_json<S: AsRef<OsStr>>(&self, args: &[S]) -> Run {
        self.client_with(true, args)
    }

    fn client_with<S: AsRef<OsStr>>(&self, json: bool, args: &[S]) -> Run {
        let program = match &self.flavor {
            Flavor::Lease(path) | Flavor::Sanlock(path) => path,
        };
        let mut all: Vec<&OsStr> = Vec::new();
        if json {
            all.push(OsStr::new("--json"));
        }
        all.push(OsStr::new("client"));
        all.extend(args.iter().map(AsRef::as_ref));
        Run::new_with_env(
            program,
            &all,
            &[("SANLOCK_RUN_DIR", self.run_dir.as_os_str())],
        )
    }

    /// SIGKILL (a crash): the process is reaped before this returns. Its process group
    /// (helpers it forked, like sanlock's helper process) is killed too, before the leader is
    /// reaped, so that the group id cannot have been reused.
    pub fn kill9(&mut self) {
        if self.exit.is_some() {
            return;
        }
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            kill_group(child.id());
            if let Ok(status) = child.wait() {
                self.exit = Some(status);
            }
        }
    }

    /// Stops the daemon: a forced SHUTDOWN on its socket, then waits up to `limit` for it to
    /// exit; SIGKILL if it does not. Returns how it ended (`Err` when it had to be killed).
    pub fn stop(&mut self, limit: Duration) -> Result<ExitStatus, String> {
        if self.child.is_none() {
            return Err("not started".into());
        }
        if let Some(status) = self.exit_status() {
            return Ok(status);
        }
        let _ = wire::shutdown(&self.socket(), true);
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.exit_status() {
                return Ok(status);
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        self.kill9();
        Err(format!(
            "{} did not exit within {limit:?} of a forced shutdown; killed",
            self.label
        ))
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        if self.child.is_some() && self.exit.is_none() {
            if let Err(why) = self.stop(DAEMON_STOP_LIMIT) {
                eprintln!("warning: {why}\n{}", self.describe());
            }
        }
    }
}

/// SIGKILL to the process group `pgid` (a daemon spawned by [`DaemonProcess`] leads its own
/// group, so this reaches only what it forked). Call it only while the leader is not yet
/// reaped. Errors (group already gone) are ignored.
fn kill_group(pgid: u32) {
    if let Ok(pgid) = i32::try_from(pgid) {
        if pgid > 1 {
            // SAFETY: kill(2) with a negative pid (a process group we created) and SIGKILL.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}

/// Waits (polling, bounded) for `child` to exit; `None` if it is still running after `limit`.
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Polls `probe` (pausing [`POLL_INTERVAL`] between calls) until it returns `Ok`, or fails
/// the test after `limit` with `what` and the last `Err` text (what was seen instead).
///
/// # Panics
///
/// When `limit` passes first.
#[track_caller]
pub fn poll_until<T>(
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match probe() {
            Ok(value) => return value,
            Err(last) if start.elapsed() > limit => {
                panic!("timed out after {limit:?} waiting for {what}; last: {last}")
            }
            Err(_) => std::thread::sleep(POLL_INTERVAL),
        }
    }
}

/// Joins each of `daemons` to lockspace `ls` at offset 0 of `dev`, as host ids 1, 2, ... in
/// the order given, all at once (their delta-lease acquires wait in parallel, one thread each:
/// see [`join_lockspace`]); prints how long each join took.
///
/// # Panics
///
/// When a join fails.
pub fn join_in_parallel<'d>(
    daemons: impl IntoIterator<Item = &'d DaemonProcess>,
    ls: &str,
    dev: &Path,
    io_timeout: u32,
) {
    std::thread::scope(|scope| {
        let joins: Vec<_> = daemons
            .into_iter()
            .zip(1u64..)
            .map(|(daemon, id)| {
                let join = scope.spawn(move || join_lockspace(daemon, ls, id, dev, io_timeout));
                (daemon.label(), join)
            })
            .collect();
        for (label, join) in joins {
            let took = join.join().expect("join thread");
            println!("{label} joined {ls} in {took:?}");
        }
    });
}

/// Raw messages of sanlock's client protocol (little-endian 32-byte header
/// `magic version cmd cmd_flags length seq data data2`).
pub mod wire {
    use std::io::{self, Read, Write};
    use std::os::unix::net::UnixStream;
    use std::path::Path;
    use std::time::Duration;

    /// `SM_MAGIC`.
    pub const MAGIC: u32 = 0x0428_2010;
    /// Header length.
    pub const HEADER_LEN: usize = 32;
    /// `SM_CMD_SHUTDOWN` (`data` = force).
    pub const CMD_SHUTDOWN: u32 = 4;
    /// `SM_CMD_INQ_LOCKSPACE`.
    pub const CMD_INQ_LOCKSPACE: u32 = 16;
    /// `SM_CMD_GET_LOCKSPACES`.
    pub const CMD_GET_LOCKSPACES: u32 = 22;
    /// `SM_CMD_GET_HOSTS`.
    pub const CMD_GET_HOSTS: u32 = 23;
    /// `SM_CMD_VERSION`.
    pub const CMD_VERSION: u32 = 28;
    /// Bound on every read and write of these helpers.
    pub const IO_LIMIT: Duration = Duration::from_secs(10);

    /// A header with the given fields (magic and version 1 unless overridden by the caller
    /// through [`header_with`]).
    pub fn header(cmd: u32, length: u32, data: u32) -> Vec<u8> {
        header_with(MAGIC, 1, cmd, 0, length, 0, data, 0)
    }

    /// A header with every field given.
    #[allow(clippy::too_many_arguments)]
    pub fn header_with(
        magic: u32,
        version: u32,
        cmd: u32,
        cmd_flags: u32,
        length: u32,
        seq: u32,
        data: u32,
        data2: u32,
    ) -> Vec<u8> {
        [magic, version, cmd, cmd_flags, length, seq, data, data2]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect()
    }

    /// `struct sanlk_lockspace` (1104 bytes): name, host_id, flags, path, offset.
    pub fn lockspace(name: &[u8], host_id: u64, path: &[u8], offset: u64) -> Vec<u8> {
        let mut out = vec![0u8; 1104];
        out[..name.len().min(48)].copy_from_slice(&name[..name.len().min(48)]);
        out[48..56].copy_from_slice(&host_id.to_le_bytes());
        let p = path.len().min(1024);
        out[64..64 + p].copy_from_slice(&path[..p]);
        out[1088..1096].copy_from_slice(&offset.to_le_bytes());
        out
    }

    /// The `u32` at byte `at` (little-endian) of a message.
    pub fn field(message: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(message[at..at + 4].try_into().expect("4 bytes"))
    }

    /// The result (`data`, signed) of a reply header.
    pub fn result(reply: &[u8]) -> i32 {
        field(reply, 24) as i32
    }

    /// A connection with bounded reads and writes.
    pub fn connect(socket: &Path) -> io::Result<UnixStream> {
        let stream = UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(IO_LIMIT))?;
        stream.set_write_timeout(Some(IO_LIMIT))?;
        Ok(stream)
    }

    /// Sends VERSION on a new connection and returns the daemon's version (`data2`).
    pub fn version(socket: &Path) -> io::Result<u32> {
        let mut stream = connect(socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(&header(CMD_VERSION, HEADER_LEN as u32, 0))?;
        let mut reply = [0u8; HEADER_LEN];
        stream.read_exact(&mut reply)?;
        if field(&reply, 0) != MAGIC || field(&reply, 8) != CMD_VERSION {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unexpected VERSION reply {reply:02x?}"),
            ));
        }
        Ok(field(&reply, 28))
    }

    /// Sends SHUTDOWN (`force` 0/1) on a new connection; no reply is expected.
    pub fn shutdown(socket: &Path, force: bool) -> io::Result<()> {
        let mut stream = connect(socket)?;
        stream.write_all(&header(CMD_SHUTDOWN, HEADER_LEN as u32, u32::from(force)))
    }

    /// Sends `bytes` on a new connection, half-closes it (the daemon sees end of input) and
    /// returns everything the daemon sends until it closes (bounded by [`IO_LIMIT`]).
    pub fn exchange(socket: &Path, bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut stream = connect(socket)?;
        stream.write_all(bytes)?;
        stream.shutdown(std::net::Shutdown::Write)?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply)?;
        Ok(reply)
    }
}

/// Debian's `python3` with the `sanlock` module (python3-sanlock).
#[derive(Debug, Clone)]
pub struct Python {
    path: PathBuf,
}

/// Defined before every snippet: `call(fn, *args, **kw)` returns `{"ok": result}` or
/// `{"errno": n, "error": text}` for a `SanlockException`; `emit(value)` prints it as JSON
/// (bytes as text). Snippets read `RUN_DIR` from the environment like libsanlock does.
pub const PYTHON_PRELUDE: &str = r#"
import json, os, sys, time
import sanlock

def _j(o):
    if isinstance(o, bytes):
        return o.decode("utf-8", "replace")
    if isinstance(o, (list, tuple)):
        return [_j(x) for x in o]
    if isinstance(o, dict):
        return {str(k): _j(v) for k, v in o.items()}
    return o

def call(fn, *args, **kw):
    try:
        return {"ok": _j(fn(*args, **kw))}
    except sanlock.SanlockException as e:
        return {"errno": e.errno, "error": str(e)}

def emit(value):
    sys.stdout.write("JSON:" + json.dumps(_j(value)) + "\n")
    sys.stdout.flush()
"#;

impl Python {
    /// `/usr/bin/python3` (else `python3` from `PATH`) if it can `import sanlock`; otherwise
    /// fails the test with the reason unless [`ALLOW_SKIP_SANLOCK_ENV`]`=1` (then prints
    /// `SKIP:` and returns `None`).
    ///
    /// # Panics
    ///
    /// When python3-sanlock is missing and skipping is not allowed.
    pub fn require(test_name: &str) -> Option<Python> {
        let candidates = [
            Some(PathBuf::from("/usr/bin/python3")),
            find_program("python3"),
        ];
        for path in candidates.into_iter().flatten() {
            let works = Command::new(&path)
                .args(["-c", "import sanlock"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if works {
                return Some(Python { path });
            }
        }
        let reason = "no python3 can `import sanlock` (Debian package `python3-sanlock`, \
                      used by /usr/bin/python3)";
        if std::env::var(ALLOW_SKIP_SANLOCK_ENV).is_ok_and(|v| v == "1") {
            println!("SKIP: {test_name}: {reason} ({ALLOW_SKIP_SANLOCK_ENV}=1)");
            return None;
        }
        panic!(
            "{test_name}: {reason}. Install it (apt-get install python3-sanlock) or set \
             {ALLOW_SKIP_SANLOCK_ENV}=1 to skip"
        );
    }

    /// The interpreter.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs [`PYTHON_PRELUDE`] + `snippet` with `SANLOCK_RUN_DIR=run_dir` and returns the
    /// value of its last `emit(...)`.
    ///
    /// # Panics
    ///
    /// When python fails or emits nothing parsable.
    pub fn run_json(&self, run_dir: &Path, snippet: &str) -> serde_json::Value {
        let program = format!("{PYTHON_PRELUDE}\n{snippet}\n");
        let run = Run::new_with_env(
            &self.path,
            &[OsStr::new("-c"), OsStr::new(&program)],
            &[("SANLOCK_RUN_DIR", run_dir.as_os_str())],
        );
        assert_eq!(
            run.status,
            0,
            "python snippet failed against {}:\n{snippet}\n{}",
            run_dir.display(),
            run.describe()
        );
        let line = run
            .stdout
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix("JSON:"))
            .unwrap_or_else(|| panic!("python snippet emitted nothing:\n{}", run.describe()));
        serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("python emitted bad JSON ({e}): {line}"))
    }
}
