//! Requests, lock value blocks and host events between hosts: two of our daemons (host ids 1
//! and 2) and the real sanlock daemon (host 3) in one lockspace on one loop device
//! (io_timeout 1, watchdog_fire_timeout 60 everywhere, as all hosts of a lockspace must agree).
//!
//! * A FORCE request (`request -f 1`) makes the owner's daemon SIGKILL the holder, after which
//!   the requester gets the lease; a GRACEFUL one (`-f 2`) runs the holder's killpath (set with
//!   python3-sanlock's `killpath`) instead, or sends SIGTERM when it has none. Requests cross
//!   between ours and sanlock both ways, and the killpath gets exactly the arguments it was
//!   registered with, as sanlock runs it.
//! * The LVB set by one holder (`set_lvb`, written at release) is what the next holder on
//!   another host reads (`acquire(lvb=True)`, `get_lvb`), along ours → ours → sanlock → ours.
//! * A host event set through our daemon (`set_event`) reaches a listener of sanlock's daemon
//!   (`reg_event`, `get_event`) and the other way round.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{init_ls, lease, s, LEASE};
use lease_tests::{
    done_rv, join_in_parallel, poll_until, read_leader_json, require_loop_device, DaemonProcess,
    LoopDevice, PyHolder, Python, Run, Sanlock, Scratch, LS_DEFS, MIB,
};
use serde_json::{json, Value};

const IO_TIMEOUT: u32 = 1;
/// Bound on one python3-sanlock call.
const CALL: Duration = Duration::from_secs(30);
/// How long a daemon may take to act on a request: the owner sees it at its next renewal
/// (every 2·io), then acts at once; generous for a loaded machine.
const ACT_LIMIT: Duration = Duration::from_secs(20);
/// How long an event may take to reach a listener (a renewal of the sender, a renewal read
/// of the receiver).
const EVENT_LIMIT: u32 = 20;
const R1: (&str, u64) = ("R1", MIB);
const IDLIVE: i64 = -243;

/// python3-sanlock helpers every holder defines after [`LS_DEFS`] (`D` is the shared device).
const DEFS: &str = r#"
def request(res, off, action):
    return sanlock.request(b"LS", res.encode(), disks(off), action=action)
def events_listen():
    global efd
    efd = sanlock.reg_event(b"LS")
    return efd
def events_wait(limit):
    ready, _, _ = select.select([efd], [], [], limit)
    if not ready:
        return None
    return sanlock.get_event(efd)
"#;

/// The killpath program: appends its arguments to the marker file named by the first one and
/// ends the process whose pid is the last one with SIGUSR2 (so the test can tell it from the
/// daemon's own SIGTERM or SIGKILL).
const KILLPATH: &str = r#"#!/bin/sh
for last in "$@"; do :; done
echo "$@" >> "$1"
kill -USR2 "$last"
"#;

/// ours1 (host 1), ours2 (host 2), sanlock (host 3) joined to LS. Fields drop in order.
struct Trio {
    daemons: [DaemonProcess; 3],
    loop_dev: LoopDevice,
    python: Python,
    scratch: Scratch,
}

impl Trio {
    fn start(test: &str) -> Option<Trio> {
        let sanlock = Sanlock::require(test)?;
        let python = Python::require(test)?;
        let scratch = Scratch::new(test);
        let image = scratch.image("disk.img", 16 * MIB);
        let loop_dev = require_loop_device(test, &image, 512)?;
        init_ls(loop_dev.path(), &[R1]);
        let config = scratch.path().join("empty.conf");
        std::fs::write(&config, "").expect("config");
        let ours = |label: &str| {
            DaemonProcess::start_lease(
                Path::new(LEASE),
                label,
                &scratch.path().join(label),
                Some(&config),
                &["-e", label],
            )
        };
        let daemons = [
            ours("ours1"),
            ours("ours2"),
            DaemonProcess::start_sanlock(&sanlock, "sanlock", &scratch.path().join("sanlock")),
        ];
        join_in_parallel(&daemons, "LS", loop_dev.path(), IO_TIMEOUT);
        let killpath = scratch.path().join("killpath.sh");
        std::fs::write(&killpath, KILLPATH).expect("killpath");
        Run::new("chmod", &["755", s(&killpath)]).success();
        Some(Trio {
            daemons,
            loop_dev,
            python,
            scratch,
        })
    }

    fn dev(&self) -> PathBuf {
        self.loop_dev.path().to_path_buf()
    }

    /// Host `id`: 1 and 2 ours, 3 sanlock.
    fn host(&self, id: usize) -> &DaemonProcess {
        &self.daemons[id - 1]
    }

    fn defs(&self) -> String {
        format!("D = {:?}\n{LS_DEFS}{DEFS}", s(&self.dev()))
    }

    fn holder(&self, id: usize, label: &str) -> PyHolder {
        PyHolder::start(&self.python, self.host(id).run_dir(), label, &self.defs())
    }

    /// An unregistered python3-sanlock process on host `id` (requests, event listeners).
    fn tool(&self, id: usize, label: &str) -> PyHolder {
        PyHolder::start_unregistered(&self.python, self.host(id).run_dir(), label, &self.defs())
    }

    /// Sets `holder`'s killpath (python3-sanlock, flags 0) to the test program with arguments
    /// `MARKER graceful PID`; returns the marker file.
    fn set_killpath(&self, holder: &mut PyHolder) -> PathBuf {
        let marker = self.scratch.path().join(format!("marker-{}", holder.pid()));
        let killpath = self.scratch.path().join("killpath.sh");
        let expr = format!(
            "sanlock.killpath({:?}, [{:?}, 'graceful', str(os.getpid())], slkfd=fd)",
            s(&killpath),
            s(&marker)
        );
        holder.ok(&expr, CALL);
        marker
    }

    fn res(&self, (name, offset): (&str, u64), suffix: &str) -> String {
        format!("LS:{name}:{}:{offset}{suffix}", s(&self.dev()))
    }

    /// `LS:R1:DEV:OFF:<current lver + 1>`: the version a request asks for.
    fn next_version(&self, res: (&str, u64)) -> String {
        let lver = read_leader_json(Path::new(LEASE), &self.res(res, ""))["lver"]
            .as_u64()
            .expect("lver");
        self.res(res, &format!(":{}", lver + 1))
    }

    fn describe(&self) -> String {
        self.daemons
            .iter()
            .map(DaemonProcess::describe)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Waits for the holder to be ended by the owner's daemon; returns the signal and how long it
/// took since `since`.
#[track_caller]
fn killed(holder: &mut PyHolder, since: Instant, trio: &Trio) -> (i32, Duration) {
    let status = holder.wait_exit(ACT_LIMIT).unwrap_or_else(|| {
        panic!(
            "{} still alive {ACT_LIMIT:?} after the request\n{}\n{}",
            holder.label(),
            holder.describe(),
            trio.describe()
        )
    });
    let took = since.elapsed();
    let signal = holder
        .killed_by()
        .unwrap_or_else(|| panic!("{} exited with {status}, not by a signal", holder.label()));
    println!(
        "{} killed by signal {signal} after {took:?}",
        holder.label()
    );
    (signal, took)
}

/// Acquires `res` for `holder` as soon as the previous holder's release lets it (refusals
/// -243 meanwhile); returns the lease version it got.
#[track_caller]
fn acquire_when_free(holder: &mut PyHolder, res: (&str, u64), trio: &Trio) -> u64 {
    poll_until(
        &format!("{} to get {}", holder.label(), res.0),
        ACT_LIMIT,
        || match holder.acq(res, "") {
            0 => Ok(()),
            IDLIVE => Err("held elsewhere (-243)".to_owned()),
            other => panic!("{}: acquire {other}\n{}", holder.label(), trio.describe()),
        },
    );
    holder.ok("inq()", CALL)[0]["version"]
        .as_u64()
        .expect("version")
}

/// The single line the killpath wrote into `marker`.
fn marker_line(marker: &Path) -> String {
    let text = std::fs::read_to_string(marker)
        .unwrap_or_else(|e| panic!("the killpath did not run ({}: {e})", marker.display()));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "the killpath ran {} times: {text}",
        lines.len()
    );
    lines[0].to_owned()
}

#[test]
fn force_and_graceful_requests_between_our_hosts() {
    let Some(trio) = Trio::start("t92_requests") else {
        return;
    };
    // FORCE through `lease client request` on host 2: the holder on host 1 is SIGKILLed and
    // host 2 gets the lease, at the version it asked for.
    let mut o1 = trio.holder(1, "o1");
    let mut o2 = trio.holder(2, "o2");
    assert_eq!(o1.acq(R1, ""), 0, "{}", trio.describe());
    assert_eq!(o2.acq(R1, ""), IDLIVE);
    let wanted = trio.next_version(R1);
    let asked = Instant::now();
    let request = trio.host(2).client(&["request", "-r", &wanted, "-f", "1"]);
    assert_eq!(done_rv(&request), Some(0), "{}", request.describe());
    let dump = lease(&["direct", "dump", s(&trio.dev()), "-f", "1"]);
    assert!(
        dump.stdout
            .contains(&format!("{}/1", wanted.rsplit(':').next().expect("lver"))),
        "the request record (lver/force) on disk: {}",
        dump.describe()
    );
    let (signal, _) = killed(&mut o1, asked, &trio);
    assert_eq!(signal, libc::SIGKILL, "FORCE kills with SIGKILL");
    let got = acquire_when_free(&mut o2, R1, &trio);
    assert_eq!(
        trio.res(R1, &format!(":{got}")),
        wanted,
        "the requester got the version it asked for"
    );
    assert_eq!(o2.rel(R1), 0);

    // GRACEFUL through python3-sanlock (next version): the killpath runs instead of SIGTERM.
    let mut o1b = trio.holder(1, "o1-killpath");
    let marker = trio.set_killpath(&mut o1b);
    assert_eq!(o1b.acq(R1, ""), 0, "{}", trio.describe());
    let mut tool = trio.tool(2, "requester");
    let asked = Instant::now();
    tool.ok(
        &format!("request({:?}, {}, sanlock.REQ_GRACEFUL)", R1.0, R1.1),
        CALL,
    );
    let (signal, _) = killed(&mut o1b, asked, &trio);
    assert_eq!(signal, libc::SIGUSR2, "the killpath ended the holder");
    let line = marker_line(&marker);
    assert!(
        line.starts_with(&format!("{} graceful ", s(&marker)))
            && line.ends_with(&format!(" {}", o1b.pid())),
        "killpath arguments: {line:?}"
    );
    acquire_when_free(&mut o2, R1, &trio);
    assert_eq!(o2.rel(R1), 0);

    // GRACEFUL without a killpath: SIGTERM.
    let mut o1c = trio.holder(1, "o1-plain");
    assert_eq!(o1c.acq(R1, ""), 0);
    let wanted = trio.next_version(R1);
    let asked = Instant::now();
    let request = trio.host(2).client(&["request", "-r", &wanted, "-f", "2"]);
    assert_eq!(done_rv(&request), Some(0), "{}", request.describe());
    let (signal, _) = killed(&mut o1c, asked, &trio);
    assert_eq!(
        signal,
        libc::SIGTERM,
        "GRACEFUL without a killpath sends SIGTERM"
    );
    acquire_when_free(&mut o2, R1, &trio);
    assert_eq!(o2.rel(R1), 0);
}

#[test]
fn requests_cross_between_ours_and_sanlock() {
    let Some(trio) = Trio::start("t92_requests_interop") else {
        return;
    };
    // sanlock's client asks, our owner acts.
    let mut o1 = trio.holder(1, "ours-holder");
    let mut s1 = trio.holder(3, "sanlock-holder");
    assert_eq!(o1.acq(R1, ""), 0, "{}", trio.describe());
    assert_eq!(s1.acq(R1, ""), IDLIVE);
    let wanted = trio.next_version(R1);
    let asked = Instant::now();
    let request = trio.host(3).client(&["request", "-r", &wanted, "-f", "1"]);
    assert_eq!(done_rv(&request), Some(0), "{}", request.describe());
    let (signal, _) = killed(&mut o1, asked, &trio);
    assert_eq!(signal, libc::SIGKILL);
    acquire_when_free(&mut s1, R1, &trio);

    // Our client asks, sanlock's owner acts.
    let mut o2 = trio.holder(2, "ours-requester");
    assert_eq!(o2.acq(R1, ""), IDLIVE);
    let wanted = trio.next_version(R1);
    let asked = Instant::now();
    let request = trio.host(2).client(&["request", "-r", &wanted, "-f", "1"]);
    assert_eq!(done_rv(&request), Some(0), "{}", request.describe());
    let (signal, _) = killed(&mut s1, asked, &trio);
    assert_eq!(signal, libc::SIGKILL);
    acquire_when_free(&mut o2, R1, &trio);
    assert_eq!(o2.rel(R1), 0);

    // GRACEFUL with a killpath registered by python3-sanlock (flags 0): sanlock runs it with
    // exactly the registered arguments, and so must ours.
    let mut s2 = trio.holder(3, "sanlock-killpath");
    let theirs_marker = trio.set_killpath(&mut s2);
    assert_eq!(s2.acq(R1, ""), 0, "{}", trio.describe());
    let mut ours_tool = trio.tool(2, "ours-requester-tool");
    let asked = Instant::now();
    ours_tool.ok(
        &format!("request({:?}, {}, sanlock.REQ_GRACEFUL)", R1.0, R1.1),
        CALL,
    );
    let (signal, _) = killed(&mut s2, asked, &trio);
    assert_eq!(signal, libc::SIGUSR2, "sanlock ran the killpath");
    let theirs_line = marker_line(&theirs_marker);
    assert_eq!(
        theirs_line,
        format!("{} graceful {}", s(&theirs_marker), s2.pid()),
        "sanlock's killpath arguments"
    );

    let mut o3 = trio.holder(1, "ours-killpath");
    let ours_marker = trio.set_killpath(&mut o3);
    acquire_when_free(&mut o3, R1, &trio);
    let mut theirs_tool = trio.tool(3, "sanlock-requester-tool");
    let asked = Instant::now();
    theirs_tool.ok(
        &format!("request({:?}, {}, sanlock.REQ_GRACEFUL)", R1.0, R1.1),
        CALL,
    );
    let (signal, _) = killed(&mut o3, asked, &trio);
    assert_eq!(signal, libc::SIGUSR2, "our daemon ran the killpath");
    let ours_line = marker_line(&ours_marker);
    assert_eq!(
        ours_line.replace(&o3.pid().to_string(), "PID"),
        theirs_line
            .replace(&s2.pid().to_string(), "PID")
            .replace(s(&theirs_marker), s(&ours_marker)),
        "our daemon runs the killpath with other arguments than sanlock (registered without \
         SANLK_KILLPATH_PID, so no pid may be appended)"
    );
}

#[test]
fn the_lock_value_block_passes_from_holder_to_holder_across_daemons() {
    let Some(trio) = Trio::start("t92_lvb") else {
        return;
    };
    let (name, offset) = R1;
    let chain = [
        (1, "ours1"),
        (2, "ours2"),
        (3, "sanlock"),
        (1, "ours1-again"),
    ];
    let mut previous: Option<String> = None;
    for (host, label) in chain {
        let mut holder = trio.holder(host, label);
        let got = holder.eval(&format!("acq({name:?}, {offset}, lvb=True)"), CALL);
        assert_eq!(got, json!({"ok": null}), "{label}\n{}", trio.describe());
        let read = holder.ok(
            &format!("sanlock.get_lvb(b'LS', {name:?}.encode(), disks({offset}), 64)"),
            CALL,
        );
        let text = read
            .as_str()
            .unwrap_or_default()
            .trim_end_matches('\0')
            .to_owned();
        match &previous {
            None => assert_eq!(text, "", "a fresh lease has an empty LVB"),
            Some(want) => assert_eq!(&text, want, "{label} reads what the last holder set"),
        }
        let value = format!("set by {label} pid {}", holder.pid());
        let set = holder.eval(
            &format!(
                "sanlock.set_lvb(b'LS', {name:?}.encode(), disks({offset}), {:?}.encode())",
                value
            ),
            CALL,
        );
        assert_eq!(set, json!({"ok": null}), "{label}");
        assert_eq!(holder.rel(R1), 0, "{label}");
        previous = Some(value);
    }
}

#[test]
fn host_events_reach_the_other_kind_of_daemon() {
    let Some(trio) = Trio::start("t92_events") else {
        return;
    };
    // (sender host, receiver host): ours → sanlock, sanlock → ours.
    for (from, to, event, data) in [(1usize, 3usize, 7u64, 42u64), (3, 1, 9, 4242)] {
        let mut listener = trio.tool(to, &format!("listener-on-{to}"));
        listener.ok("events_listen()", CALL);
        let mut sender = trio.tool(from, &format!("sender-on-{from}"));
        let hosts = sender.ok("sanlock.get_hosts(b'LS')", CALL);
        let generation_of = |id: usize| {
            hosts
                .as_array()
                .and_then(|list| list.iter().find(|h| h["host_id"] == json!(id)))
                .and_then(|h| h["generation"].as_u64())
                .unwrap_or_else(|| panic!("host {id} not in {hosts}"))
        };
        let (generation, from_generation) = (generation_of(to), generation_of(from));
        let started = Instant::now();
        sender.ok(
            &format!("sanlock.set_event(b'LS', {to}, {generation}, {event}, data={data})"),
            CALL,
        );
        let got: Value = listener.ok(
            &format!("events_wait({EVENT_LIMIT})"),
            Duration::from_secs(u64::from(EVENT_LIMIT) + 10),
        );
        println!(
            "event {event} from host {from} to host {to}: {got} after {:?}",
            started.elapsed()
        );
        assert_eq!(
            got,
            json!([{"from_host_id": from, "from_generation": from_generation, "host_id": to,
                    "generation": generation, "event": event, "data": data}]),
            "event from host {from} to host {to}\n{}",
            trio.describe()
        );
        listener.ok("sanlock.end_event(efd, b'LS')", CALL);
    }
}
