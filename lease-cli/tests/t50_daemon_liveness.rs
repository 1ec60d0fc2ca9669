//! Two of our daemons (their own run directories, host ids 1 and 2) in one lockspace on a loop
//! device: each sees the other LIVE with advancing timestamps; after a SIGKILL of one, the
//! survivor reports it FAIL and then DEAD, never before the timeouts say (8·io and
//! 8·io + watchdog_fire_timeout after the last renewal the survivor saw) and not much later.
//! A SIGKILLed daemon leaves nothing that delays the next start in its run directory, and a
//! second daemon on a live run directory exits non-zero at once.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{init_ls, lease, s, LEASE};
use lease_tests::{
    lease_daemon_command, parse_dump, poll_until, require_loop_device, wait_exit, DaemonProcess,
    DumpRow, Scratch, MIB,
};
use serde_json::Value;

const IO_TIMEOUT: u64 = 1;
const FIRE_TIMEOUT: u64 = 10;
/// 8·io: a host not renewed for longer is FAIL.
const FAIL_AFTER: Duration = Duration::from_secs(8 * IO_TIMEOUT);
/// 8·io + watchdog_fire_timeout: a host not renewed for longer is DEAD.
const DEAD_AFTER: Duration = Duration::from_secs(8 * IO_TIMEOUT + FIRE_TIMEOUT);
/// The renewal interval (2·io): how late a survivor may see the victim's last renewal.
const RENEWAL: Duration = Duration::from_secs(2 * IO_TIMEOUT);
/// Slack for upper bounds (process start-up, polling, a loaded 2-core machine).
const SLACK: Duration = Duration::from_secs(3);
const POLL_PAUSE: Duration = Duration::from_millis(50);

/// What one daemon's `host_status --json` said about one host.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostView {
    state: String,
    timestamp: u64,
    generation: u64,
}

/// One poll, with the instants it was started and answered.
#[derive(Debug, Clone)]
struct Poll {
    start: Instant,
    end: Instant,
    view: HostView,
}

fn host_views(daemon: &DaemonProcess) -> Result<Vec<(u64, HostView)>, String> {
    let run = daemon.client_json(&["host_status", "-s", "LS"]);
    if run.status != 0 {
        return Err(run.describe());
    }
    let value: Value =
        serde_json::from_str(&run.stdout).map_err(|e| format!("{e}: {}", run.describe()))?;
    let list = value
        .as_array()
        .ok_or_else(|| format!("not an array: {}", run.stdout))?;
    list.iter()
        .map(|host| {
            let number = |key: &str| {
                host[key]
                    .as_u64()
                    .ok_or_else(|| format!("no {key} in {host}"))
            };
            Ok((
                number("host_id")?,
                HostView {
                    state: host["state"]
                        .as_str()
                        .ok_or_else(|| format!("no state in {host}"))?
                        .to_owned(),
                    timestamp: number("timestamp")?,
                    generation: number("generation")?,
                },
            ))
        })
        .collect()
}

fn poll(daemon: &DaemonProcess, host_id: u64) -> Result<Poll, String> {
    let start = Instant::now();
    let views = host_views(daemon)?;
    let end = Instant::now();
    let view = views
        .into_iter()
        .find(|(id, _)| *id == host_id)
        .map(|(_, view)| view)
        .ok_or_else(|| format!("host {host_id} not listed by {}", daemon.label()))?;
    Ok(Poll { start, end, view })
}

/// Adds `LS:host_id:dev:0` with io_timeout 1 through `daemon`; returns the time it took.
fn join(daemon: &DaemonProcess, dev: &Path, host_id: u64) -> Duration {
    let start = Instant::now();
    let spec = format!("LS:{host_id}:{}:0", s(dev));
    let run = daemon.client(&["add_lockspace", "-s", &spec, "-o", "1"]);
    assert!(
        run.status == 0 && run.stdout.ends_with("done 0\n"),
        "add_lockspace {spec}: {}\n{}",
        run.describe(),
        daemon.describe()
    );
    start.elapsed()
}

/// A delta-lease row of `lease direct dump` for `host_id`.
fn dump_row(dev: &Path, host_id: u64) -> (u64, u64) {
    let run = lease(&["direct", "dump", s(dev)]);
    parse_dump(run.success(), false)
        .into_iter()
        .find_map(|row| match row {
            DumpRow::Delta {
                owner_id,
                timestamp,
                owner_generation,
                ..
            } if owner_id == host_id => Some((timestamp, owner_generation)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no row for host {host_id}: {}", run.describe()))
}

/// Restarts a daemon on the victim's run directory right after the kill and checks that a
/// second one on that live directory exits non-zero at once. Returns the restarted daemon.
fn restart_checks(scratch: &Path, run_dir: &Path, config: &Path) -> DaemonProcess {
    let start = Instant::now();
    let restarted =
        DaemonProcess::start_lease(Path::new(LEASE), "b-restarted", run_dir, Some(config), &[]);
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "restart in the killed daemon's run directory took {took:?}\n{}",
        restarted.describe()
    );
    let log = scratch.join("second.log");
    let out = std::fs::File::create(&log).expect("log");
    let mut second = lease_daemon_command(Path::new(LEASE), run_dir, Some(config), &[])
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .spawn()
        .expect("spawn second daemon");
    let status = wait_exit(&mut second, Duration::from_secs(5));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let Some(status) = status else {
        let _ = second.kill();
        let _ = second.wait();
        panic!("a second daemon on a live run directory did not exit within 5 s: {text}");
    };
    assert!(
        !status.success(),
        "a second daemon on a live run directory exited with {status}: {text}"
    );
    assert!(
        text.contains("another daemon is running"),
        "the refusal does not say why: {text}"
    );
    restarted
}

/// `live x3, fail x2` for a sequence of states.
fn runs<'a>(states: impl Iterator<Item = &'a str>) -> String {
    let mut out: Vec<(&str, usize)> = Vec::new();
    for state in states {
        match out.last_mut() {
            Some((last, count)) if *last == state => *count += 1,
            _ => out.push((state, 1)),
        }
    }
    out.iter()
        .map(|(state, count)| format!("{state} x{count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn a_killed_daemon_is_seen_fail_then_dead_on_time_and_its_run_dir_restarts_at_once() {
    let scratch = Scratch::new("liveness");
    let image = scratch.image("disk.img", 16 * MIB);
    let Some(loop_dev) = require_loop_device("liveness", &image, 512) else {
        return;
    };
    let dev = loop_dev.path().to_path_buf();
    init_ls(&dev, &[]);
    let config = scratch.path().join("lease.conf");
    std::fs::write(
        &config,
        format!("# both of our daemons\nwatchdog_fire_timeout = {FIRE_TIMEOUT}\n"),
    )
    .expect("config");
    let dir_a = scratch.path().join("a");
    let dir_b = scratch.path().join("b");
    let a = DaemonProcess::start_lease(Path::new(LEASE), "a", &dir_a, Some(&config), &[]);
    let mut b = DaemonProcess::start_lease(Path::new(LEASE), "b", &dir_b, Some(&config), &[]);

    let (join_a, join_b) = std::thread::scope(|scope| {
        let ja = scope.spawn(|| join(&a, &dev, 1));
        let jb = scope.spawn(|| join(&b, &dev, 2));
        (ja.join().expect("join a"), jb.join().expect("join b"))
    });
    println!("joins took {join_a:?} and {join_b:?}");

    // Each sees the other LIVE, with timestamps that advance while it is watched.
    let mut polls: Vec<Poll> = Vec::new();
    let mut b_saw: Vec<u64> = Vec::new();
    let live_since = Instant::now();
    poll_until(
        "each daemon to see the other LIVE and renewing",
        Duration::from_secs(30),
        || {
            let pa = poll(&a, 2)?;
            let pb = poll(&b, 1)?;
            let summary = format!("a sees 2: {:?}; b sees 1: {:?}", pa.view, pb.view);
            if pb.view.state == "live" && b_saw.last() != Some(&pb.view.timestamp) {
                b_saw.push(pb.view.timestamp);
            }
            polls.push(pa);
            std::thread::sleep(POLL_PAUSE);
            let a_saw: Vec<u64> = polls
                .iter()
                .filter(|p| p.view.state == "live")
                .map(|p| p.view.timestamp)
                .collect();
            let advanced =
                |seen: &[u64]| seen.windows(2).all(|w| w[0] <= w[1]) && seen.first() < seen.last();
            if advanced(&a_saw) && advanced(&b_saw) {
                Ok(())
            } else {
                Err(summary)
            }
        },
    );
    println!("both live and renewing after {:?}", live_since.elapsed());
    let generation_before = polls.last().expect("polls").view.generation;

    // The crash. From here on only a is watched, as often as possible.
    b.kill9();
    let killed_at = Instant::now();
    let restarted = std::thread::scope(|scope| {
        let restart = scope.spawn(|| restart_checks(scratch.path(), &dir_b, &config));
        loop {
            let p = poll(&a, 2).unwrap_or_else(|e| panic!("{e}\n{}", a.describe()));
            let dead = p.view.state == "dead";
            polls.push(p);
            if dead {
                break;
            }
            assert!(
                killed_at.elapsed() < DEAD_AFTER + RENEWAL + SLACK * 4,
                "a never reported host 2 DEAD; last {:?}\n{}",
                polls.last().map(|p| &p.view),
                a.describe()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        restart.join().expect("restart checks")
    });

    // The victim's last renewal as the survivor saw it: the first poll showing the final
    // timestamp. The survivor's own record of it lies after the start of the poll before.
    let last_ts = polls.last().expect("polls").view.timestamp;
    let first_final = polls
        .iter()
        .rposition(|p| p.view.timestamp != last_ts)
        .map(|i| i + 1)
        .expect("the timestamp advanced before the kill");
    let seen_after = polls[first_final - 1].start;
    let seen_by = polls[first_final].end;
    let first_fail = polls
        .iter()
        .position(|p| p.view.state == "fail")
        .unwrap_or_else(|| panic!("FAIL never reported; polls: {polls:?}"));
    let first_dead = polls.len() - 1;
    let states = runs(polls[first_final..].iter().map(|p| p.view.state.as_str()));
    let report = format!(
        "killed at +0; last renewal seen between {:?} and {:?} after the kill; FAIL at {:?}; \
         DEAD at {:?}; states from the last renewal on: {states}",
        seen_after.saturating_duration_since(killed_at),
        seen_by.saturating_duration_since(killed_at),
        polls[first_fail].end.saturating_duration_since(killed_at),
        polls[first_dead].end.saturating_duration_since(killed_at),
    );
    println!("{report}");

    // Order: LIVE until FAIL, FAIL until DEAD.
    assert!(
        first_fail >= first_final,
        "FAIL before the last renewal was seen: {report}"
    );
    for (i, p) in polls.iter().enumerate().skip(first_final) {
        let want = if i < first_fail {
            "live"
        } else if i < first_dead {
            "fail"
        } else {
            "dead"
        };
        assert_eq!(p.view.state, want, "poll {i}: {report}");
        assert_eq!(p.view.generation, generation_before, "{report}");
    }
    // Not before the timeouts say.
    assert!(
        polls[first_fail].end >= seen_after + FAIL_AFTER,
        "FAIL reported less than 8·io after the last renewal: {report}"
    );
    assert!(
        polls[first_dead].end >= seen_after + DEAD_AFTER,
        "DEAD reported less than 8·io + fire timeout after the last renewal: {report}"
    );
    // And not much later.
    assert!(seen_by <= killed_at + RENEWAL + SLACK, "{report}");
    assert!(
        polls[first_fail].start <= seen_by + FAIL_AFTER + SLACK,
        "FAIL reported late: {report}"
    );
    assert!(
        polls[first_dead].start <= seen_by + DEAD_AFTER + SLACK,
        "DEAD reported late: {report}"
    );
    // The survivor saw what is on disk: the victim's last write.
    assert_eq!(dump_row(&dev, 2), (last_ts, generation_before), "{report}");
    // The survivor itself is fine.
    assert_eq!(poll(&a, 1).expect("a sees itself").view.state, "live");
    drop(restarted);
    drop(a);
}
