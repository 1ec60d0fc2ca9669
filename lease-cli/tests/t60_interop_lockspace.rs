//! Our daemon and the real sanlock daemon in ONE lockspace on one loop device (ours host_id 1,
//! sanlock host_id 2): each reports the other LIVE with advancing timestamps, and a host_id
//! held by one cannot be joined by the other: a second daemon of either kind adding the held
//! host_id waits host_dead of the owner's io_timeout (8 + 60 = 68 s) and fails with -262
//! (SANLK_HOSTID_BUSY), and nothing changes ownership on disk.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{init_ls, lease, s, LEASE};
use lease_tests::{
    done_rv, parse_dump, poll_until, require_loop_device, DaemonProcess, DumpRow, Run, Sanlock,
    Scratch, MIB,
};
use serde_json::Value;

/// host_dead_seconds for an owner with io_timeout 1 seen by a daemon with
/// watchdog_fire_timeout 60 (sanlock's fixed value, and our default).
const HOST_DEAD_IO1: Duration = Duration::from_secs(8 + 60);
/// Upper slack on that wait (reads, process start-up, a loaded machine).
const SLACK: Duration = Duration::from_secs(15);

/// (host_id, state, timestamp) as one daemon reports them.
type Hosts = Vec<(u64, String, u64)>;

/// Our daemon: `lease --json client host_status -s LS`.
fn our_hosts(daemon: &DaemonProcess) -> Result<Hosts, String> {
    let run = daemon.client_json(&["host_status", "-s", "LS"]);
    if run.status != 0 {
        return Err(run.describe());
    }
    let value: Value =
        serde_json::from_str(&run.stdout).map_err(|e| format!("{e}: {}", run.describe()))?;
    Ok(value
        .as_array()
        .ok_or_else(|| run.describe())?
        .iter()
        .map(|h| {
            (
                h["host_id"].as_u64().unwrap_or(0),
                h["state"].as_str().unwrap_or("").to_owned(),
                h["timestamp"].as_u64().unwrap_or(0),
            )
        })
        .collect())
}

/// The sanlock daemon: `sanlock client gets -h 1` (`h 1 gen 1 timestamp 1069 LIVE`), states
/// in lower case; cross-checked against `sanlock client host_status -s LS -D`.
fn sanlock_hosts(daemon: &DaemonProcess) -> Result<Hosts, String> {
    let gets = daemon.client(&["gets", "-h", "1"]);
    if gets.status != 0 {
        return Err(gets.describe());
    }
    let hosts: Hosts = gets
        .stdout
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["h", id, "gen", _, "timestamp", ts, state] => {
                    Some((id.parse().ok()?, state.to_lowercase(), ts.parse().ok()?))
                }
                _ => None,
            }
        })
        .collect();
    let status = daemon.client(&["host_status", "-s", "LS", "-D"]);
    if status.status != 0 {
        return Err(status.describe());
    }
    let listed: Vec<u64> = status
        .stdout
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [id, "timestamp", _] => id.parse().ok(),
                _ => None,
            }
        })
        .collect();
    for (id, _, _) in &hosts {
        if !listed.contains(id) {
            return Err(format!(
                "host {id} is in gets but not in host_status:\n{}{}",
                gets.stdout, status.stdout
            ));
        }
    }
    Ok(hosts)
}

fn state_of(hosts: &Hosts, host_id: u64) -> Option<(String, u64)> {
    hosts
        .iter()
        .find(|(id, _, _)| *id == host_id)
        .map(|(_, state, ts)| (state.clone(), *ts))
}

/// Polls until our daemon sees host 2 and sanlock sees host 1 LIVE, each with a timestamp
/// that advanced while watched.
fn wait_mutually_live(ours: &DaemonProcess, theirs: &DaemonProcess, limit: Duration) {
    let mut ours_saw: Vec<u64> = Vec::new();
    let mut theirs_saw: Vec<u64> = Vec::new();
    poll_until(
        "ours and sanlock to see each other LIVE and renewing",
        limit,
        || {
            let a = our_hosts(ours)?;
            let b = sanlock_hosts(theirs)?;
            let summary = format!("ours: {a:?}; sanlock: {b:?}");
            for (seen, view) in [
                (&mut ours_saw, state_of(&a, 2)),
                (&mut theirs_saw, state_of(&b, 1)),
            ] {
                if let Some((state, ts)) = view {
                    if state == "live" && seen.last() != Some(&ts) {
                        seen.push(ts);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(200));
            let advanced = |seen: &[u64]| seen.windows(2).all(|w| w[0] < w[1]) && seen.len() >= 2;
            if advanced(&ours_saw) && advanced(&theirs_saw) {
                Ok(())
            } else {
                Err(summary)
            }
        },
    );
}

/// The delta-lease rows on disk without their timestamps: (host_id, owner name, generation).
fn ownership(dev: &Path) -> Vec<(u64, String, u64)> {
    let run = lease(&["direct", "dump", s(dev)]);
    parse_dump(run.success(), false)
        .into_iter()
        .filter_map(|row| match row {
            DumpRow::Delta {
                owner_id,
                resource,
                owner_generation,
                ..
            } => Some((owner_id, resource, owner_generation)),
            _ => None,
        })
        .collect()
}

/// Adds `LS:host_id:dev:0` (io_timeout 1) through `daemon`; returns the run and its duration.
fn add(daemon: &DaemonProcess, dev: &Path, host_id: u64) -> (Run, Duration) {
    let start = Instant::now();
    let spec = format!("LS:{host_id}:{}:0", s(dev));
    let run = daemon.client(&["add_lockspace", "-s", &spec, "-o", "1"]);
    (run, start.elapsed())
}

#[test]
fn ours_and_sanlock_share_a_lockspace_and_respect_each_others_host_ids() {
    let Some(sanlock) = Sanlock::require("interop_lockspace") else {
        return;
    };
    let scratch = Scratch::new("interop_lockspace");
    let image = scratch.image("disk.img", 16 * MIB);
    let Some(loop_dev) = require_loop_device("interop_lockspace", &image, 512) else {
        return;
    };
    let dev = loop_dev.path().to_path_buf();
    init_ls(&dev, &[]);
    // Our defaults (watchdog_fire_timeout 60, as sanlock's), whatever /etc/sanlock says.
    let config = scratch.path().join("empty.conf");
    std::fs::write(&config, "").expect("config");
    let lease_bin = Path::new(LEASE);
    let ours = DaemonProcess::start_lease(
        lease_bin,
        "ours",
        &scratch.path().join("a"),
        Some(&config),
        &[],
    );
    let theirs = DaemonProcess::start_sanlock(&sanlock, "sanlock", &scratch.path().join("s"));

    std::thread::scope(|scope| {
        let a = scope.spawn(|| add(&ours, &dev, 1));
        let b = scope.spawn(|| add(&theirs, &dev, 2));
        for (daemon, joined) in [(&ours, a.join()), (&theirs, b.join())] {
            let (run, took) = joined.expect("join thread");
            assert_eq!(
                done_rv(&run),
                Some(0),
                "{} add_lockspace: {}\n{}",
                daemon.label(),
                run.describe(),
                daemon.describe()
            );
            println!("{} joined in {took:?}", daemon.label());
        }
    });
    wait_mutually_live(&ours, &theirs, Duration::from_secs(30));
    let before = ownership(&dev);
    let owners: Vec<u64> = before.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(owners, vec![1, 2], "{before:?}");

    // A second daemon of each kind tries the host_id the other kind holds, concurrently.
    let ours_c = DaemonProcess::start_lease(
        lease_bin,
        "ours-c",
        &scratch.path().join("c"),
        Some(&config),
        &[],
    );
    let theirs_d = DaemonProcess::start_sanlock(&sanlock, "sanlock-d", &scratch.path().join("d"));
    let started = Instant::now();
    let ((ours_run, ours_took), (theirs_run, theirs_took)) = std::thread::scope(|scope| {
        let c = scope.spawn(|| add(&ours_c, &dev, 2));
        let d = scope.spawn(|| add(&theirs_d, &dev, 1));
        // Meanwhile the owners keep renewing and keep seeing each other.
        while !(c.is_finished() && d.is_finished()) {
            assert!(
                started.elapsed() < HOST_DEAD_IO1 + SLACK * 2,
                "the busy checks did not finish"
            );
            let a = our_hosts(&ours).unwrap_or_else(|e| panic!("{e}\n{}", ours.describe()));
            let b = sanlock_hosts(&theirs).unwrap_or_else(|e| panic!("{e}\n{}", theirs.describe()));
            assert_eq!(
                state_of(&a, 2).map(|v| v.0).as_deref(),
                Some("live"),
                "{a:?}"
            );
            assert_eq!(
                state_of(&b, 1).map(|v| v.0).as_deref(),
                Some("live"),
                "{b:?}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        (c.join().expect("c"), d.join().expect("d"))
    });
    println!(
        "ours adding host_id 2 (held by sanlock): {:?} after {ours_took:?}; \
         sanlock adding host_id 1 (held by ours): {:?} after {theirs_took:?}",
        done_rv(&ours_run),
        done_rv(&theirs_run)
    );
    assert_eq!(
        done_rv(&ours_run),
        Some(-262),
        "ours joining sanlock's host_id: {}\n{}",
        ours_run.describe(),
        ours_c.describe()
    );
    assert_eq!(
        done_rv(&theirs_run),
        Some(-262),
        "sanlock joining our host_id: {}\n{}",
        theirs_run.describe(),
        theirs_d.describe()
    );
    assert_eq!(
        ours_run.stdout, theirs_run.stdout,
        "`lease client add_lockspace` and `sanlock client add_lockspace` print differently"
    );
    assert!(
        ours_took >= HOST_DEAD_IO1 && ours_took <= HOST_DEAD_IO1 + SLACK,
        "ours gave up after {ours_took:?}, expected host_dead {HOST_DEAD_IO1:?} of the owner"
    );
    assert!(
        theirs_took >= HOST_DEAD_IO1 && theirs_took <= HOST_DEAD_IO1 + SLACK,
        "sanlock gave up after {theirs_took:?}"
    );

    // Nothing changed hands, the losers hold nothing, the owners still see each other.
    let after = ownership(&dev);
    assert_eq!(before, after, "ownership changed on disk");
    assert_eq!(
        ours_c.client(&["gets"]).success(),
        "",
        "ours-c holds a lockspace"
    );
    assert_eq!(
        theirs_d.client(&["gets"]).success(),
        "",
        "sanlock-d holds a lockspace"
    );
    wait_mutually_live(&ours, &theirs, Duration::from_secs(15));
    drop((ours_c, theirs_d, ours, theirs));
}
