//! The two daemons under test, started the only way the peer kit could start sanlock here,
//! each in its own run directory:
//!
//! * ours: `SANLOCK_RUN_DIR=DIR lease daemon -D -w 0 --run-dir DIR`
//! * sanlock: `SANLOCK_RUN_DIR=DIR SANLOCK_PRIVILEGED=0 sanlock daemon -w 0 -l 0 -U root -G root -D`
//!
//! Both are driven with `lease client ... --run-dir DIR` (our client speaks sanlock's wire
//! protocol byte for byte; the renewal history of both comes from the same `renewal` request).
//! Each daemon runs in its own process group (a Ctrl-C reaches the benchmark, which kills
//! the daemons itself) and is killed by pid on drop; sanlock's helper process with it.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cleanup;
use crate::procfs;
use crate::report::Report;

/// Which daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ours,
    Sanlock,
}

impl Kind {
    /// The prefix of its figures.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::Sanlock => "sanlock",
        }
    }
}

/// One daemon configuration under test: the daemon, the prefix of its figures, and extra
/// arguments for `daemon`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    pub kind: Kind,
    pub label: &'static str,
    pub args: &'static [&'static str],
}

/// Our daemon with its default I/O engine (io_uring where available).
pub const OURS: Variant = Variant {
    kind: Kind::Ours,
    label: "ours",
    args: &[],
};
/// Our daemon on the engine's thread pool (`--io-engine threads`).
pub const OURS_THREADS: Variant = Variant {
    kind: Kind::Ours,
    label: "ours_threads",
    args: &["--io-engine", "threads"],
};
/// sanlock 3.8.5.
pub const SANLOCK: Variant = Variant {
    kind: Kind::Sanlock,
    label: "sanlock",
    args: &[],
};

impl Variant {
    /// `ours`, `ours_threads` or `sanlock`.
    pub fn parse(name: &str) -> Option<Variant> {
        [OURS, OURS_THREADS, SANLOCK]
            .into_iter()
            .find(|v| v.label == name)
    }
}

/// The sanlock binary (Debian installs it in /usr/sbin).
pub fn sanlock_binary() -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin/sanlock");
    if sbin.is_file() {
        sbin
    } else {
        PathBuf::from("sanlock")
    }
}

/// One entry of `client renewal` (`timestamp=.. read_ms=.. write_ms=.. next_timeouts=..
/// next_errors=..`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Renewal {
    pub timestamp: u64,
    pub read_ms: u64,
    pub write_ms: u64,
    pub next_timeouts: u64,
    pub next_errors: u64,
}

/// Parse `client renewal` output.
pub fn parse_renewals(text: &str) -> Vec<Renewal> {
    text.lines()
        .filter(|l| l.contains("read_ms="))
        .map(|line| {
            let mut r = Renewal::default();
            for pair in line.split_whitespace() {
                let Some((k, v)) = pair.split_once('=') else {
                    continue;
                };
                let v = v.parse().unwrap_or(0);
                match k {
                    "timestamp" => r.timestamp = v,
                    "read_ms" => r.read_ms = v,
                    "write_ms" => r.write_ms = v,
                    "next_timeouts" => r.next_timeouts = v,
                    "next_errors" => r.next_errors = v,
                    _ => {}
                }
            }
            r
        })
        .collect()
}

/// Longest a client request may take before the daemon counts as stalled.
pub const CLIENT_LIMIT: Duration = Duration::from_secs(120);
/// Longest a join may take (sanlock joins many lockspaces at io_timeout 10 slowly).
pub const JOIN_LIMIT: Duration = Duration::from_secs(1800);

/// Wait for `child` at most `limit`, collecting its output; kill it when the limit passes.
pub fn wait_within(mut child: Child, limit: Duration) -> Result<std::process::Output> {
    use std::io::Read;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let end = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            bail!("no answer within {} s (killed)", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(std::process::Output {
        status,
        stdout: out_thread.join().unwrap_or_default(),
        stderr: err_thread.join().unwrap_or_default(),
    })
}

/// A running daemon; killed (with its helpers) on drop.
#[derive(Debug)]
pub struct DaemonProc {
    variant: Variant,
    child: Child,
    run_dir: PathBuf,
    lease: PathBuf,
    key: u64,
}

impl DaemonProc {
    /// Start `variant` with run directory `run_dir` (created) and wait until it answers.
    /// `lease` is our binary (also the client used for both daemons).
    pub fn start(variant: Variant, lease: &Path, run_dir: &Path) -> Result<DaemonProc> {
        let kind = variant.kind;
        std::fs::create_dir_all(run_dir)
            .with_context(|| format!("creating {}", run_dir.display()))?;
        let log_path = run_dir.join("daemon.log");
        let log = std::fs::File::create(&log_path)?;
        let mut cmd = match kind {
            Kind::Ours => {
                let mut c = Command::new(lease);
                c.args(["daemon", "-D", "-w", "0", "--run-dir"])
                    .arg(run_dir)
                    .args(variant.args);
                c
            }
            Kind::Sanlock => {
                let mut c = Command::new(sanlock_binary());
                c.args([
                    "daemon", "-w", "0", "-l", "0", "-U", "root", "-G", "root", "-D",
                ])
                .env("SANLOCK_PRIVILEGED", "0");
                c
            }
        };
        cmd.env("SANLOCK_RUN_DIR", run_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting the {} daemon", kind.label()))?;
        let pid = i32::try_from(child.id()).unwrap_or(0);
        let key = cleanup::register(cleanup::Item::Pid(pid));
        let mut daemon = DaemonProc {
            variant,
            child,
            run_dir: run_dir.to_path_buf(),
            lease: lease.to_path_buf(),
            key,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                bail!(
                    "the {} daemon exited ({status}) at start:\n{}",
                    variant.label,
                    log.trim()
                );
            }
            if run_dir.join("sanlock.sock").exists() && daemon.client(&["status"]).is_ok() {
                return Ok(daemon);
            }
            if Instant::now() > deadline {
                bail!("the {} daemon did not answer within 15 s", variant.label);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// [`DaemonProc::start`], and the I/O engine the daemon reports recorded in `report`'s
    /// metadata as `<label>.io_engine`.
    pub fn start_reported(
        variant: Variant,
        lease: &Path,
        run_dir: &Path,
        report: &mut Report,
    ) -> Result<DaemonProc> {
        let d = DaemonProc::start(variant, lease, run_dir)?;
        if let Some(engine) = d.engine() {
            report.meta(&format!("{}.io_engine", variant.label), engine);
        }
        Ok(d)
    }

    pub fn kind(&self) -> Kind {
        self.variant.kind
    }

    /// The prefix of this daemon's figures.
    pub fn label(&self) -> &'static str {
        self.variant.label
    }

    /// The I/O engine our daemon reports in its log (`io engine IoUring`), if any.
    pub fn engine(&self) -> Option<String> {
        let log = std::fs::read_to_string(self.run_dir.join("daemon.log")).ok()?;
        let rest = log.split("io engine ").nth(1)?;
        rest.split_whitespace().next().map(str::to_string)
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap_or(0)
    }

    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Child processes of the daemon (sanlock's helper).
    pub fn helpers(&self) -> Vec<i32> {
        procfs::children(self.pid())
    }

    /// `lease client ARGS --run-dir DIR`; stdout on exit status 0, else an error (also when
    /// the daemon does not answer within 120 s).
    pub fn client<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Result<String> {
        self.client_within(args, CLIENT_LIMIT)
    }

    /// [`DaemonProc::client`] with a time limit (the client is killed when it is reached).
    pub fn client_within<S: AsRef<std::ffi::OsStr>>(
        &self,
        args: &[S],
        limit: Duration,
    ) -> Result<String> {
        let text: Vec<String> = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        let child = Command::new(&self.lease)
            .arg("client")
            .args(args)
            .arg("--run-dir")
            .arg(&self.run_dir)
            .env("SANLOCK_RUN_DIR", &self.run_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running lease client")?;
        let out = wait_within(child, limit).with_context(|| {
            format!(
                "lease client {} ({} daemon)",
                text.join(" "),
                self.variant.label
            )
        })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "lease client {} ({} daemon): {} {}",
                text.join(" "),
                self.variant.label,
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(stdout)
    }

    /// `add_lockspace -s NAME:HOST_ID:DEV:OFFSET -o IO` (`-w 0`: return at once).
    pub fn add_lockspace(&self, ls: &LsRef, io_timeout: u32, wait: bool) -> Result<()> {
        let mut args = vec![
            "add_lockspace".to_string(),
            "-s".into(),
            ls.string(),
            "-o".into(),
            io_timeout.to_string(),
        ];
        if !wait {
            args.extend(["-w".into(), "0".into()]);
        }
        self.client(&args).map(drop)
    }

    /// `inq_lockspace -s ... -w 1`: wait until the add (or remove) has finished; Ok if joined.
    pub fn wait_joined(&self, ls: &LsRef) -> Result<()> {
        self.client_within(
            &["inq_lockspace", "-s", &ls.string(), "-w", "1"],
            JOIN_LIMIT,
        )
        .map(drop)
    }

    /// `rem_lockspace -s ...` (`-w 0`: return at once).
    pub fn rem_lockspace(&self, ls: &LsRef, wait: bool) -> Result<()> {
        let s = ls.string();
        let mut args = vec!["rem_lockspace", "-s", &s];
        if !wait {
            args.extend(["-w", "0"]);
        }
        self.client(&args).map(drop)
    }

    /// Join all of `spaces` in parallel (async adds, then wait for each); returns the wall
    /// time until every one is joined.
    pub fn join_all(&self, spaces: &[LsRef], io_timeout: u32) -> Result<Duration> {
        let start = Instant::now();
        for ls in spaces {
            self.add_lockspace(ls, io_timeout, false)?;
        }
        for ls in spaces {
            self.wait_joined(ls)
                .with_context(|| format!("joining {}", ls.name))?;
        }
        Ok(start.elapsed())
    }

    /// The renewal history of lockspace `name`.
    pub fn renewals(&self, name: &str) -> Result<Vec<Renewal>> {
        Ok(parse_renewals(&self.client(&["renewal", "-s", name])?))
    }
}

impl Drop for DaemonProc {
    fn drop(&mut self) {
        cleanup::unregister(self.key);
        cleanup::undo(&cleanup::Item::Pid(self.pid()));
        let _ = self.child.wait();
    }
}

/// Each daemon joins its own lockspaces ([`DaemonProc::join_all`]), all daemons at the same
/// time (one thread each); how long each took, in the order given.
pub fn join_each_at_once<'d, S>(
    joins: impl IntoIterator<Item = (&'d DaemonProc, S)>,
    io_timeout: u32,
) -> Vec<Result<Duration>>
where
    S: std::borrow::Borrow<[LsRef]> + Send,
{
    std::thread::scope(|s| {
        let handles: Vec<_> = joins
            .into_iter()
            .map(|(d, spaces)| s.spawn(move || d.join_all(spaces.borrow(), io_timeout)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("join thread panicked")))
            })
            .collect()
    })
}

/// The labels of `variants`, comma separated (progress lines).
pub fn labels(variants: &[Variant]) -> String {
    variants
        .iter()
        .map(|v| v.label)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A lockspace as `NAME:HOST_ID:PATH:OFFSET`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LsRef {
    pub name: String,
    pub host_id: u64,
    pub path: String,
    pub offset: u64,
}

impl LsRef {
    pub fn new(name: &str, path: &str, offset: u64) -> LsRef {
        LsRef {
            name: name.to_string(),
            host_id: 1,
            path: path.to_string(),
            offset,
        }
    }

    pub fn string(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.name, self.host_id, self.path, self.offset
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_lines_parse() {
        let text = "timestamp=3161 read_ms=0 write_ms=0 next_timeouts=0 next_errors=0\n\
                    timestamp=3163 read_ms=3 write_ms=5 next_timeouts=0 next_errors=0\n";
        let r = parse_renewals(text);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].timestamp, 3163);
        assert_eq!(r[1].read_ms, 3);
        assert_eq!(r[1].write_ms, 5);
    }
}
