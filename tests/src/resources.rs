//! Lease holders for the resource tests: a long-lived python3-sanlock process driven one call
//! at a time, and storage faults on loop devices.
//!
//! * [`PyHolder`]: `/usr/bin/python3` with python3-sanlock, registered with a daemon (its own
//!   connection, so it is a sanlock client process with a pid the `-p PID` client actions can
//!   name). The test sends it one Python expression at a time ([`PyHolder::eval`]) and gets the
//!   result as JSON (`{"ok": value}`, `{"errno": n, "error": text}` for a `SanlockException`,
//!   `{"exception": text}` for anything else), each call bounded by a timeout. The process is
//!   killed on drop. Its exit (a kill by a daemon acting on a request, say) is observed with
//!   [`PyHolder::wait_exit`].
//! * [`LS_DEFS`]: the Python helpers of holders in lockspace `LS` on one device, which
//!   [`PyHolder::acq`] and [`PyHolder::rel`] call.
//! * [`fail_loop_device`]: makes every later I/O to a loop device fail (backing file shrunk to
//!   nothing, `losetup -c`).
//! * [`join_lockspace`], [`host_view`], [`read_leader_json`], [`done_rv`]: joining a lockspace
//!   through either daemon, one host as our daemon sees it, a lease leader as `lease --json
//!   direct read_leader` shows it, and the number of sanlock's `... done N` line.
//!
//! No helper sleeps in place of waiting for an event: replies are read as they come, exits are
//! polled with a bound.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{DaemonProcess, Python, Run, POLL_INTERVAL, PYTHON_PRELUDE};

/// The holder's loop: optionally register, announce the pid, then evaluate one JSON-encoded
/// expression per input line and emit its result. `fd` is the registered connection (or -1).
const HOLDER_LOOP: &str = r#"
import select
fd = sanlock.register() if REGISTER else -1
emit({"pid": os.getpid(), "fd": fd})
while True:
    line = sys.stdin.readline()
    if not line:
        break
    code = json.loads(line)
    try:
        emit({"ok": _j(eval(code, globals()))})
    except sanlock.SanlockException as e:
        emit({"errno": e.errno, "error": str(e)})
    except Exception as e:
        emit({"exception": repr(e)})
"#;

/// python3-sanlock definitions for holders of resource leases in lockspace `LS`, all on one
/// shared device `D` (to be defined before them): `disks(off)`, `acq(res, off, **kw)`,
/// `rel(res, off)` and `inq()`; [`PyHolder::acq`] and [`PyHolder::rel`] call them.
pub const LS_DEFS: &str = r#"
def disks(off):
    return [(D, off)]
def acq(res, off, **kw):
    return sanlock.acquire(b"LS", res.encode(), disks(off), slkfd=fd, **kw)
def rel(res, off):
    return sanlock.release(b"LS", res.encode(), disks(off), slkfd=fd)
def inq():
    return sanlock.inquire(slkfd=fd)
"#;

/// Bound on one [`PyHolder::acq`] or [`PyHolder::rel`] call (they do not wait for another
/// host).
pub const LS_CALL_LIMIT: Duration = Duration::from_secs(30);

/// How long a holder may take to start and register.
pub const HOLDER_START_LIMIT: Duration = Duration::from_secs(15);

/// A registered python3-sanlock process answering one expression at a time; killed on drop.
#[derive(Debug)]
pub struct PyHolder {
    label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    replies: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    pid: u32,
    exit: Option<ExitStatus>,
}

impl PyHolder {
    /// Starts a holder against the daemon whose run directory is `run_dir` and registers it
    /// (`fd = sanlock.register()`), after running `defs` (Python definitions the expressions
    /// may use, e.g. `D = "/dev/loop3"`).
    ///
    /// # Panics
    ///
    /// When python cannot be started or does not announce itself within
    /// [`HOLDER_START_LIMIT`].
    pub fn start(python: &Python, run_dir: &Path, label: &str, defs: &str) -> PyHolder {
        Self::start_with(python, run_dir, label, defs, true)
    }

    /// Like [`PyHolder::start`], without registering (`fd` is -1): for event listeners and
    /// requests, which need no registered connection.
    pub fn start_unregistered(
        python: &Python,
        run_dir: &Path,
        label: &str,
        defs: &str,
    ) -> PyHolder {
        Self::start_with(python, run_dir, label, defs, false)
    }

    fn start_with(
        python: &Python,
        run_dir: &Path,
        label: &str,
        defs: &str,
        register: bool,
    ) -> PyHolder {
        let register = if register { "True" } else { "False" };
        let program = format!("{PYTHON_PRELUDE}\nREGISTER = {register}\n{defs}\n{HOLDER_LOOP}\n");
        let mut child = Command::new(python.path())
            .args(["-u", "-c", &program])
            .env("SANLOCK_RUN_DIR", run_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{label}: cannot start python: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(json) = line.strip_prefix("JSON:") {
                    if tx.send(json.to_owned()).is_err() {
                        break;
                    }
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines() {
                let Ok(line) = line else { break };
                let mut text = sink.lock().unwrap_or_else(|p| p.into_inner());
                text.push_str(&line);
                text.push('\n');
            }
        });
        let mut holder = PyHolder {
            label: label.to_owned(),
            stdin: child.stdin.take(),
            child,
            replies,
            stderr,
            pid: 0,
            exit: None,
        };
        let hello = holder.reply(HOLDER_START_LIMIT, "start");
        holder.pid = hello["pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or_else(|| panic!("{label}: bad greeting {hello}\n{}", holder.describe()));
        if register == "True" {
            assert!(
                hello["fd"].as_i64().is_some_and(|fd| fd >= 0),
                "{label}: register failed: {hello}\n{}",
                holder.describe()
            );
        }
        holder
    }

    /// The process id (what `-p PID` names).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The label given at start.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// `acq(NAME, OFFSET, KW)` of [`LS_DEFS`] (`kw`: extra keyword arguments such as
    /// `shared=True` or `version=N`, or empty) as a sanlock result number ([`PyHolder::rv`]).
    ///
    /// # Panics
    ///
    /// As [`PyHolder::eval`] within [`LS_CALL_LIMIT`].
    #[track_caller]
    pub fn acq(&mut self, (name, offset): (&str, u64), kw: &str) -> i64 {
        let kw = if kw.is_empty() {
            String::new()
        } else {
            format!(", {kw}")
        };
        Self::rv(&self.eval(&format!("acq({name:?}, {offset}{kw})"), LS_CALL_LIMIT))
    }

    /// `rel(NAME, OFFSET)` of [`LS_DEFS`] as a sanlock result number ([`PyHolder::rv`]).
    ///
    /// # Panics
    ///
    /// As [`PyHolder::eval`] within [`LS_CALL_LIMIT`].
    #[track_caller]
    pub fn rel(&mut self, (name, offset): (&str, u64)) -> i64 {
        Self::rv(&self.eval(&format!("rel({name:?}, {offset})"), LS_CALL_LIMIT))
    }

    /// Evaluates the Python expression `expr` in the holder (globals: `sanlock`, `fd`, `call`,
    /// the `defs`) and returns `{"ok": value}`, `{"errno": n, "error": text}` or
    /// `{"exception": text}`.
    ///
    /// # Panics
    ///
    /// When the holder has exited or does not answer within `limit`.
    #[track_caller]
    pub fn eval(&mut self, expr: &str, limit: Duration) -> Value {
        let line = serde_json::to_string(expr).expect("a string encodes") + "\n";
        let sent = self.stdin.as_mut().map(|stdin| {
            stdin
                .write_all(line.as_bytes())
                .and_then(|()| stdin.flush())
        });
        if !matches!(sent, Some(Ok(()))) {
            panic!(
                "{}: cannot send {expr:?} ({sent:?})\n{}",
                self.label,
                self.describe()
            );
        }
        self.reply(limit, expr)
    }

    /// [`PyHolder::eval`], asserting the call succeeded; returns the `ok` value.
    ///
    /// # Panics
    ///
    /// When the call failed or timed out.
    #[track_caller]
    pub fn ok(&mut self, expr: &str, limit: Duration) -> Value {
        let reply = self.eval(expr, limit);
        match reply.get("ok") {
            Some(value) => value.clone(),
            None => panic!(
                "{}: {expr} failed: {reply}\n{}",
                self.label,
                self.describe()
            ),
        }
    }

    /// The sanlock result number of a reply: 0 for `ok`, else `errno` as python3-sanlock
    /// reports it (sanlock's own numbers are negative, system errno values positive).
    ///
    /// # Panics
    ///
    /// On a reply that is neither (a Python exception).
    #[track_caller]
    pub fn rv(reply: &Value) -> i64 {
        if reply.get("ok").is_some() {
            return 0;
        }
        reply["errno"]
            .as_i64()
            .unwrap_or_else(|| panic!("not a sanlock result: {reply}"))
    }

    fn reply(&mut self, limit: Duration, what: &str) -> Value {
        match self.replies.recv_timeout(limit) {
            Ok(text) => serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: bad JSON ({e}): {text}", self.label)),
            Err(RecvTimeoutError::Timeout) => panic!(
                "{}: no answer to {what:?} within {limit:?}\n{}",
                self.label,
                self.describe()
            ),
            Err(RecvTimeoutError::Disconnected) => {
                let _ = self.wait_exit(Duration::from_secs(5));
                panic!(
                    "{}: exited before answering {what:?}\n{}",
                    self.label,
                    self.describe()
                )
            }
        }
    }

    /// The exit status if the process has exited (reaps it).
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(status);
            }
        }
        self.exit
    }

    /// Polls (bounded) until the process exits; `None` if it still runs after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            if start.elapsed() > limit {
                return None;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// The signal that ended the process, if it was killed by one.
    pub fn killed_by(&mut self) -> Option<i32> {
        self.exit_status().and_then(|status| status.signal())
    }

    /// Label, pid, exit and what the process wrote to stderr, for messages.
    pub fn describe(&self) -> String {
        let stderr = self
            .stderr
            .lock()
            .map(|text| text.clone())
            .unwrap_or_default();
        format!(
            "--- holder {} pid {} exit {:?}; stderr:\n{stderr}---",
            self.label, self.pid, self.exit
        )
    }
}

impl Drop for PyHolder {
    fn drop(&mut self) {
        self.stdin = None;
        if self.exit_status().is_none() {
            let _ = self.child.kill();
            if let Ok(status) = self.child.wait() {
                self.exit = Some(status);
            }
        }
    }
}

/// Makes every later I/O to the loop device `loop_dev` (backed by the regular file `image`)
/// fail: the file is shrunk to nothing and the loop driver told (`losetup -c`), so reads and
/// writes fall past the end of the device.
///
/// # Panics
///
/// When the file cannot be truncated or losetup fails.
pub fn fail_loop_device(image: &Path, loop_dev: &Path) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(image)
        .and_then(|file| file.set_len(0))
        .unwrap_or_else(|e| panic!("cannot shrink {}: {e}", image.display()));
    let losetup = crate::find_program("losetup").unwrap_or_else(|| "losetup".into());
    let run = crate::Run::new(&losetup, &[Path::new("-c"), loop_dev]);
    run.success();
}

/// The number of the last `<action> done N` line of a client's output (ours and sanlock's print
/// the same lines).
pub fn done_rv(run: &Run) -> Option<i64> {
    run.stdout
        .lines()
        .rev()
        .filter_map(|line| line.rsplit_once(" done "))
        .find_map(|(_, rv)| rv.split_whitespace().next()?.parse().ok())
}

/// Joins lockspace `ls` as `host_id` (lockspace area at offset 0 of `dev`, the given
/// io_timeout) through `daemon` (ours or sanlock's: both print `add_lockspace_timeout done 0`);
/// returns how long it took.
///
/// # Panics
///
/// When the join fails.
#[track_caller]
pub fn join_lockspace(
    daemon: &DaemonProcess,
    ls: &str,
    host_id: u64,
    dev: &Path,
    io_timeout: u32,
) -> Duration {
    let start = Instant::now();
    let spec = format!("{ls}:{host_id}:{}:0", dev.display());
    let io = io_timeout.to_string();
    let run = daemon.client(&["add_lockspace", "-s", spec.as_str(), "-o", io.as_str()]);
    assert_eq!(
        done_rv(&run),
        Some(0),
        "add_lockspace {spec} through {}: {}\n{}",
        daemon.label(),
        run.describe(),
        daemon.describe()
    );
    start.elapsed()
}

/// How our daemon sees `host_id` in lockspace `ls`: (state in lower case, timestamp), from
/// `lease --json client host_status -s LS`.
pub fn host_view(daemon: &DaemonProcess, ls: &str, host_id: u64) -> Result<(String, u64), String> {
    let run = daemon.client_json(&["host_status", "-s", ls]);
    if run.status != 0 {
        return Err(run.describe());
    }
    let value: Value =
        serde_json::from_str(&run.stdout).map_err(|e| format!("{e}: {}", run.describe()))?;
    value
        .as_array()
        .ok_or_else(|| format!("not an array: {}", run.stdout))?
        .iter()
        .find(|host| host["host_id"].as_u64() == Some(host_id))
        .map(|host| {
            (
                host["state"].as_str().unwrap_or_default().to_owned(),
                host["timestamp"].as_u64().unwrap_or_default(),
            )
        })
        .ok_or_else(|| format!("host {host_id} not listed: {}", run.stdout))
}

/// The leader of the resource lease `resource` (`LS:RES:PATH:OFFSET`) as `lease --json direct
/// read_leader -r` shows it (the `leader` object: `lver`, `owner_id`, `timestamp`, ...).
///
/// # Panics
///
/// When the leader cannot be read.
#[track_caller]
pub fn read_leader_json(lease: &Path, resource: &str) -> Value {
    let run = Run::new(lease, &["--json", "direct", "read_leader", "-r", resource]);
    let value: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("read_leader -r {resource}: {e}\n{}", run.describe()));
    assert_eq!(
        value["result"].as_i64(),
        Some(0),
        "read_leader -r {resource}: {}",
        run.describe()
    );
    value["leader"].clone()
}
