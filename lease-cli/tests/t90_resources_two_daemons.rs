//! Resource leases between our own daemons (their own run directories, host ids 1, 2 and 3) in
//! one lockspace on one loop device (io_timeout 1, watchdog_fire_timeout 10: host_dead 18 s):
//!
//! * an exclusive lease excludes every other host (-243, SANLK_ACQUIRE_IDLIVE) until released,
//!   then the next host gets it at lver + 1;
//! * a shared lease admits both hosts and several local processes at once and refuses an
//!   exclusive request (-11, EAGAIN); conversion EX→SH lets the other host share, SH→EX is
//!   refused (-11) while the other host shares and works once it released;
//! * acquire with a version (`LS:RES:PATH:OFF:LVER`) succeeds right after a clean release at that
//!   version and fails with -240 (SANLK_ACQUIRE_LVER) once a third party held it in between;
//! * when the holder's daemon is SIGKILLed, the other host gets the lease only once the holder
//!   is dead by the timeouts: not before host_dead after its last renewal as the survivor saw
//!   it, and not much later.
//!
//! Holders are python3-sanlock processes ([`PyHolder`]); the `-p PID` client actions (`lease
//! client acquire|release|convert|inquire -p PID`) act for them too.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{init_ls, lease, s, LEASE};
use lease_tests::{
    done_rv, host_view, join_in_parallel, parse_dump, read_leader_json, require_loop_device,
    DaemonProcess, DumpRow, LoopDevice, PyHolder, Python, Run, Scratch, LS_DEFS, MIB,
};
use serde_json::Value;

const IO_TIMEOUT: u32 = 1;
const FIRE_TIMEOUT: u64 = 10;
/// host_dead_seconds: 8·io_timeout + watchdog_fire_timeout.
const HOST_DEAD: Duration = Duration::from_secs(8 * IO_TIMEOUT as u64 + FIRE_TIMEOUT);
/// The renewal interval (2·io): how late the survivor may see the victim's last renewal.
const RENEWAL: Duration = Duration::from_secs(2 * IO_TIMEOUT as u64);
/// Slack on upper bounds (process start-up, polling, a loaded 2-core machine).
const SLACK: Duration = Duration::from_secs(5);
/// Bound on one python3-sanlock call that does not wait for another host.
const CALL: Duration = Duration::from_secs(30);

const R_EX: (&str, u64) = ("R1", MIB);
const R_SH: (&str, u64) = ("R2", 2 * MIB);
const R_LV: (&str, u64) = ("RLV", 3 * MIB);
const R_KILL: (&str, u64) = ("RK", 4 * MIB);

/// Our daemons joined to LS on one loop device. Fields drop in order: daemons, then the
/// device, then the directory.
struct Hosts {
    daemons: Vec<DaemonProcess>,
    loop_dev: LoopDevice,
    python: Python,
    _scratch: Scratch,
}

impl Hosts {
    /// `count` daemons (host ids 1..=count) joined in parallel; every resource of `R_*`
    /// initialised. `None` when a requirement is missing and skipping is allowed.
    fn start(test: &str, count: u64) -> Option<Hosts> {
        let python = Python::require(test)?;
        let scratch = Scratch::new(test);
        let image = scratch.image("disk.img", 16 * MIB);
        let loop_dev = require_loop_device(test, &image, 512)?;
        init_ls(loop_dev.path(), &[R_EX, R_SH, R_LV, R_KILL]);
        let config = scratch.path().join("lease.conf");
        std::fs::write(&config, format!("watchdog_fire_timeout = {FIRE_TIMEOUT}\n"))
            .expect("config");
        let daemons: Vec<DaemonProcess> = (1..=count)
            .map(|id| {
                let label = format!("host{id}");
                DaemonProcess::start_lease(
                    Path::new(LEASE),
                    &label,
                    &scratch.path().join(&label),
                    Some(&config),
                    &["-e", &label],
                )
            })
            .collect();
        join_in_parallel(&daemons, "LS", loop_dev.path(), IO_TIMEOUT);
        Some(Hosts {
            daemons,
            loop_dev,
            python,
            _scratch: scratch,
        })
    }

    fn dev(&self) -> PathBuf {
        self.loop_dev.path().to_path_buf()
    }

    /// Host `id` (1-based).
    fn host(&self, id: usize) -> &DaemonProcess {
        &self.daemons[id - 1]
    }

    /// A new registered holder on host `id`.
    fn holder(&self, id: usize, label: &str) -> PyHolder {
        let defs = format!("D = {:?}\n{LS_DEFS}", s(&self.dev()));
        PyHolder::start(&self.python, self.host(id).run_dir(), label, &defs)
    }

    /// `LS:NAME:DEV:OFFSET[suffix]`.
    fn res(&self, (name, offset): (&str, u64), suffix: &str) -> String {
        format!("LS:{name}:{}:{offset}{suffix}", s(&self.dev()))
    }

    /// `lease client ACTION -p PID -r RES` through host `id`.
    fn by_pid(&self, id: usize, action: &str, holder: &PyHolder, res: &str) -> Run {
        let pid = holder.pid().to_string();
        self.host(id)
            .client(&[action, "-p", pid.as_str(), "-r", res])
    }

    fn describe(&self) -> String {
        self.daemons
            .iter()
            .map(DaemonProcess::describe)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// What python3-sanlock's inquire lists for the holder: (resource, flags, version).
fn inquired(holder: &mut PyHolder) -> Vec<(String, u64, u64)> {
    let list = holder.ok("inq()", CALL);
    list.as_array()
        .unwrap_or_else(|| panic!("inquire: {list}"))
        .iter()
        .map(|r| {
            (
                r["resource"].as_str().unwrap_or_default().to_owned(),
                r["flags"].as_u64().unwrap_or_default(),
                r["version"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

fn leader(hosts: &Hosts, res: (&str, u64)) -> Value {
    read_leader_json(Path::new(LEASE), &hosts.res(res, ""))
}

const SANLK_RES_LVER: u64 = 0x1;
const SANLK_RES_SHARED: u64 = 0x4;
const IDLIVE: i64 = -243;
const ACQUIRE_LVER: i64 = -240;
/// -EAGAIN, as the client prints it (python3-sanlock reports system errno values positive).
const EAGAIN: i64 = -11;
const PY_EAGAIN: i64 = 11;

#[test]
fn exclusive_shared_and_converted_leases_between_two_hosts() {
    let Some(hosts) = Hosts::start("t90_modes", 3) else {
        return;
    };
    let started = Instant::now();
    let mut a1 = hosts.holder(1, "a1");
    let mut b1 = hosts.holder(2, "b1");

    // Exclusive: the holder's host excludes the other, through python3-sanlock and `-p PID`.
    assert_eq!(a1.acq(R_EX, ""), 0, "{}", hosts.describe());
    let first = inquired(&mut a1);
    assert_eq!(first.len(), 1, "{first:?}");
    let (_, flags, lver) = first[0].clone();
    assert_eq!(flags, SANLK_RES_LVER, "{first:?}");
    let on_disk = leader(&hosts, R_EX);
    assert_eq!(on_disk["owner_id"], 1, "{on_disk}");
    assert_eq!(on_disk["lver"].as_u64(), Some(lver), "{on_disk}");
    assert_ne!(on_disk["timestamp"], 0, "held: {on_disk}");
    assert_eq!(b1.acq(R_EX, ""), IDLIVE, "{}", hosts.describe());
    let refused = hosts.by_pid(2, "acquire", &b1, &hosts.res(R_EX, ""));
    assert_eq!(done_rv(&refused), Some(IDLIVE), "{}", refused.describe());
    assert_eq!(refused.status, 1, "{}", refused.describe());
    assert!(inquired(&mut b1).is_empty());

    // Released, the other host gets it at lver + 1 (acquire, inquire, release by pid).
    assert_eq!(a1.rel(R_EX), 0);
    let released = leader(&hosts, R_EX);
    assert_eq!(released["timestamp"], 0, "free after release: {released}");
    assert_eq!(released["lver"].as_u64(), Some(lver), "{released}");
    let got = hosts.by_pid(2, "acquire", &b1, &hosts.res(R_EX, ""));
    assert_eq!(
        done_rv(&got),
        Some(0),
        "{}\n{}",
        got.describe(),
        hosts.describe()
    );
    let inquire = hosts.by_pid(2, "inquire", &b1, &hosts.res(R_EX, ""));
    assert_eq!(done_rv(&inquire), Some(0), "{}", inquire.describe());
    let state = format!("\"{}:{}\"", hosts.res(R_EX, ""), lver + 1);
    assert!(
        inquire.stdout.lines().any(|line| line == state),
        "inquire -p should list {state}: {}",
        inquire.describe()
    );
    let taken = leader(&hosts, R_EX);
    assert_eq!(taken["owner_id"], 2, "{taken}");
    assert_eq!(taken["lver"].as_u64(), Some(lver + 1), "{taken}");
    assert_eq!(a1.acq(R_EX, ""), IDLIVE);
    let release = hosts.by_pid(2, "release", &b1, &hosts.res(R_EX, ""));
    assert_eq!(done_rv(&release), Some(0), "{}", release.describe());
    assert!(inquired(&mut b1).is_empty());
    println!("exclusive part done after {:?}", started.elapsed());

    // Shared: both hosts, two processes on each, and a third host; exclusive refused.
    let mut a2 = hosts.holder(1, "a2");
    let mut b2 = hosts.holder(2, "b2");
    let mut c1 = hosts.holder(3, "c1");
    for holder in [&mut a1, &mut a2, &mut b1, &mut b2, &mut c1] {
        assert_eq!(
            holder.acq(R_SH, "shared=True"),
            0,
            "{} shared acquire\n{}",
            holder.label(),
            hosts.describe()
        );
        let held = inquired(holder);
        assert_eq!(
            held.iter().map(|r| (r.0.as_str(), r.1)).collect::<Vec<_>>(),
            vec![(R_SH.0, SANLK_RES_SHARED)],
            "{}",
            holder.label()
        );
    }
    assert_eq!(c1.rel(R_SH), 0);
    assert_eq!(c1.acq(R_SH, ""), PY_EAGAIN, "exclusive while shared");
    let refused = hosts.by_pid(3, "acquire", &c1, &hosts.res(R_SH, ""));
    assert_eq!(done_rv(&refused), Some(EAGAIN), "{}", refused.describe());
    // On disk: the mode blocks of hosts 1 and 2 say SHARED (one per host, however many local
    // holders), and the leader is free.
    let dump = lease(&["direct", "dump", s(&hosts.dev())]);
    let rows = parse_dump(dump.success(), false);
    let at = rows
        .iter()
        .position(|row| matches!(row, DumpRow::Paxos { resource, .. } if resource == R_SH.0))
        .unwrap_or_else(|| panic!("no {} row: {}", R_SH.0, dump.stdout));
    let shared: Vec<u64> = rows[at + 1..]
        .iter()
        .map_while(|row| match row {
            DumpRow::Shared { host_id, .. } => Some(*host_id),
            _ => None,
        })
        .collect();
    assert_eq!(shared, vec![1, 2], "{}", dump.stdout);
    assert!(
        matches!(&rows[at], DumpRow::Paxos { timestamp: 0, .. }),
        "{}",
        dump.stdout
    );
    for (holder, res) in [(&mut a1, R_SH), (&mut a2, R_SH), (&mut b1, R_SH)] {
        assert_eq!(holder.rel(res), 0, "{}", holder.label());
    }
    // One shared holder left (b2) still keeps the exclusive request out.
    assert_eq!(c1.acq(R_SH, ""), PY_EAGAIN, "exclusive while b2 shares");
    assert_eq!(b2.rel(R_SH), 0);
    assert_eq!(c1.acq(R_SH, ""), 0, "exclusive once nobody shares");
    assert_eq!(c1.rel(R_SH), 0);
    println!("shared part done after {:?}", started.elapsed());

    // Conversion: EX→SH lets the other host share; SH→EX waits for it to leave.
    let to_shared = hosts.res(R_SH, ":SH");
    let to_exclusive = hosts.res(R_SH, "");
    assert_eq!(a1.acq(R_SH, ""), 0);
    assert_ne!(
        b1.acq(R_SH, "shared=True"),
        0,
        "shared while the other host holds it exclusively"
    );
    let convert = hosts.by_pid(1, "convert", &a1, &to_shared);
    assert_eq!(done_rv(&convert), Some(0), "{}", convert.describe());
    assert_eq!(inquired(&mut a1)[0].1, SANLK_RES_SHARED);
    assert_eq!(b1.acq(R_SH, "shared=True"), 0, "{}", hosts.describe());
    let convert = hosts.by_pid(1, "convert", &a1, &to_exclusive);
    assert_eq!(
        done_rv(&convert),
        Some(EAGAIN),
        "SH→EX while host 2 shares: {}",
        convert.describe()
    );
    assert_eq!(inquired(&mut a1)[0].1, SANLK_RES_SHARED, "still shared");
    assert_eq!(b1.rel(R_SH), 0);
    let convert = hosts.by_pid(1, "convert", &a1, &to_exclusive);
    assert_eq!(done_rv(&convert), Some(0), "{}", convert.describe());
    let converted = inquired(&mut a1);
    assert_eq!(converted[0].1, SANLK_RES_LVER, "{converted:?}");
    let on_disk = leader(&hosts, R_SH);
    assert_eq!(on_disk["owner_id"], 1, "{on_disk}");
    assert_eq!(on_disk["lver"].as_u64(), Some(converted[0].2), "{on_disk}");
    assert_eq!(b1.acq(R_SH, ""), IDLIVE);
    assert_eq!(a1.rel(R_SH), 0);
    assert_eq!(b1.acq(R_SH, ""), 0);
    assert_eq!(b1.rel(R_SH), 0);
    println!("conversions done after {:?}", started.elapsed());
}

#[test]
fn acquire_with_a_version_succeeds_only_if_nobody_held_the_lease_since() {
    let Some(hosts) = Hosts::start("t90_lver", 3) else {
        return;
    };
    let mut a1 = hosts.holder(1, "a1");
    let mut b1 = hosts.holder(2, "b1");
    let mut c1 = hosts.holder(3, "c1");

    assert_eq!(a1.acq(R_LV, ""), 0);
    assert_eq!(a1.rel(R_LV), 0);
    let n = leader(&hosts, R_LV)["lver"].as_u64().expect("lver");

    // Right after a clean release at n, `:n` gets it (at n + 1).
    let with_version = hosts.by_pid(2, "acquire", &b1, &hosts.res(R_LV, &format!(":{n}")));
    assert_eq!(
        done_rv(&with_version),
        Some(0),
        "{}\n{}",
        with_version.describe(),
        hosts.describe()
    );
    assert_eq!(
        inquired(&mut b1),
        vec![(R_LV.0.to_owned(), SANLK_RES_LVER, n + 1)]
    );
    assert_eq!(b1.rel(R_LV), 0);

    // A third party holds and releases it in between: `:n+1` is refused, and nothing changes.
    assert_eq!(c1.acq(R_LV, ""), 0);
    assert_eq!(c1.rel(R_LV), 0);
    let before = leader(&hosts, R_LV);
    assert_eq!(before["lver"].as_u64(), Some(n + 2), "{before}");
    let stale = hosts.by_pid(2, "acquire", &b1, &hosts.res(R_LV, &format!(":{}", n + 1)));
    assert_eq!(
        done_rv(&stale),
        Some(ACQUIRE_LVER),
        "{}\n{}",
        stale.describe(),
        hosts.describe()
    );
    assert_eq!(
        a1.acq(R_LV, &format!("version={}", n + 1)),
        ACQUIRE_LVER,
        "python3-sanlock version= after a third party"
    );
    assert!(inquired(&mut a1).is_empty() && inquired(&mut b1).is_empty());
    let after = leader(&hosts, R_LV);
    assert_eq!(after["lver"], before["lver"], "{after}");
    assert_eq!(after["timestamp"], 0, "still free: {after}");

    // The current version works.
    assert_eq!(a1.acq(R_LV, &format!("version={}", n + 2)), 0);
    assert_eq!(
        inquired(&mut a1),
        vec![(R_LV.0.to_owned(), SANLK_RES_LVER, n + 3)]
    );
    assert_eq!(a1.rel(R_LV), 0);
}

/// One poll of the survivor's view and of the lease on disk.
#[derive(Debug, Clone)]
struct Poll {
    start: Instant,
    end: Instant,
    /// Host 1's timestamp as host 2 sees it, and its state.
    victim: (String, u64),
    /// The lease leader's owner and timestamp.
    owner: (u64, u64),
}

#[test]
fn a_crashed_holders_lease_is_taken_over_only_after_host_dead() {
    let Some(mut hosts) = Hosts::start("t90_crash", 2) else {
        return;
    };
    let mut a1 = hosts.holder(1, "a1");
    let mut b1 = hosts.holder(2, "b1");
    assert_eq!(a1.acq(R_KILL, ""), 0, "{}", hosts.describe());
    assert_eq!(b1.acq(R_KILL, ""), IDLIVE);
    let resource = hosts.res(R_KILL, "");

    let poll = |hosts: &Hosts| -> Poll {
        let start = Instant::now();
        let victim = host_view(hosts.host(2), "LS", 1)
            .unwrap_or_else(|e| panic!("{e}\n{}", hosts.describe()));
        let leader = read_leader_json(Path::new(LEASE), &resource);
        let owner = (
            leader["owner_id"].as_u64().unwrap_or_default(),
            leader["timestamp"].as_u64().unwrap_or_default(),
        );
        Poll {
            start,
            end: Instant::now(),
            victim,
            owner,
        }
    };
    // The survivor sees host 1 renewing before the crash.
    let mut polls = vec![poll(&hosts)];
    while polls.last().map(|p| p.victim.1) == polls.first().map(|p| p.victim.1) {
        assert!(
            polls[0].start.elapsed() < RENEWAL * 3 + SLACK,
            "host 1 never seen renewing: {polls:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
        polls.push(poll(&hosts));
    }

    hosts.daemons[0].kill9();
    let killed_at = Instant::now();
    // Host 2 keeps asking for the lease while the polls watch host 1 and the leader.
    let mut attempts: Vec<(Instant, Instant, i64)> = Vec::new();
    let done = AtomicBool::new(false);
    let (polls, attempts) = std::thread::scope(|scope| {
        let (done, hosts, poll) = (&done, &hosts, &poll);
        let watcher = scope.spawn(move || {
            while !done.load(Ordering::Relaxed) {
                polls.push(poll(hosts));
                std::thread::sleep(Duration::from_millis(20));
            }
            polls
        });
        loop {
            let start = Instant::now();
            let reply = b1.eval(&format!("acq({:?}, {})", R_KILL.0, R_KILL.1), HOST_DEAD * 3);
            let result = PyHolder::rv(&reply);
            attempts.push((start, Instant::now(), result));
            if result == 0 {
                break;
            }
            assert_eq!(result, IDLIVE, "unexpected refusal: {reply}");
            assert!(
                killed_at.elapsed() < HOST_DEAD + RENEWAL + SLACK * 3,
                "host 2 never got the lease: {attempts:?}\n{}",
                hosts.describe()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // One more poll after the grant, then stop.
        std::thread::sleep(Duration::from_millis(100));
        done.store(true, Ordering::Relaxed);
        (watcher.join().expect("watcher"), attempts)
    });

    // Host 1's last renewal as host 2 saw it.
    let last_ts = polls.last().expect("polls").victim.1;
    let first_final = polls
        .iter()
        .rposition(|p| p.victim.1 != last_ts)
        .map(|i| i + 1)
        .expect("the timestamp advanced before the kill");
    let seen_after = polls[first_final - 1].start;
    let seen_by = polls[first_final].end;
    // The grant as seen on disk: the first poll showing host 2 as the owner.
    let granted = polls
        .iter()
        .position(|p| p.owner.0 == 2 && p.owner.1 != 0)
        .unwrap_or_else(|| panic!("the grant was never seen on disk: {polls:?}"));
    let (_, replied, _) = *attempts.last().expect("attempts");
    // Seconds relative to the kill (negative: before it).
    let since_kill = |at: Instant| {
        if at >= killed_at {
            format!("{:+.3}s", (at - killed_at).as_secs_f64())
        } else {
            format!("{:+.3}s", -(killed_at - at).as_secs_f64())
        }
    };
    let report = format!(
        "killed at +0; host 1's last renewal seen between {} and {}; grant seen on disk \
         between {} and {}; acquire answered at {} after {} attempts; host_dead {:?}",
        since_kill(seen_after),
        since_kill(seen_by),
        since_kill(polls[granted - 1].start),
        since_kill(polls[granted].end),
        since_kill(replied),
        attempts.len(),
        HOST_DEAD
    );
    println!("{report}");
    // Not before host_dead after the last renewal (as observed), on disk and in the reply.
    assert!(
        polls[granted].end >= seen_after + HOST_DEAD,
        "granted before host_dead: {report}"
    );
    assert!(replied >= seen_after + HOST_DEAD, "{report}");
    for (_, end, result) in &attempts {
        if *end < seen_after + HOST_DEAD {
            assert_eq!(*result, IDLIVE, "an attempt succeeded early: {report}");
        }
    }
    // And not much later.
    assert!(seen_by <= killed_at + RENEWAL + SLACK, "{report}");
    assert!(
        polls[granted - 1].start <= seen_by + HOST_DEAD + SLACK,
        "granted late: {report}"
    );
    let held = inquired(&mut b1);
    let lver = leader(&hosts, R_KILL)["lver"].as_u64();
    assert_eq!(
        held,
        vec![(R_KILL.0.to_owned(), SANLK_RES_LVER, lver.unwrap_or(0))]
    );
    assert_eq!(b1.rel(R_KILL), 0);
    drop(a1);
}
