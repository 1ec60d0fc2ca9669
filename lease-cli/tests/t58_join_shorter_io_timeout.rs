//! Joining a lockspace whose slot was initialised with io_timeout 10 (`direct init`'s default)
//! with `add_lockspace -o 1`: the acquire waits 2·10 s after its write (the io_timeout stored
//! on disk governs that wait, format spec §3 "other host" rule), and then the lockspace must
//! keep renewing every 2·1 s, not be failed because the acquire's write is more than 8·1 s old.
//! Ours and the real sanlock (which renews at once after such an acquire) side by side, each on
//! its own loop device. Needs root and losetup.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{lease, s, LEASE};
use lease_tests::{
    join_lockspace, parse_read_leader, poll_until, require_loop_device, DaemonProcess, Run,
    Sanlock, Scratch, MIB,
};

/// The io_timeout `direct init` stores, and the one we join with.
const STORED_IO_S: u64 = 10;
const JOIN_IO_S: u32 = 1;
/// Renewal interval at io_timeout 1 plus the renewal loop's polling (sanlock checks once a
/// second) and a loaded machine.
const RENEWAL_GAP_MAX_S: u64 = 4;
/// Renewals to watch after the join.
const RENEWALS: usize = 4;

/// The successful renewal timestamps of `client renewal -s LS` (the acquire's record first).
fn renewal_timestamps(daemon: &DaemonProcess) -> Result<Vec<u64>, String> {
    let run = daemon.client(&["renewal", "-s", "LS"]);
    if run.status != 0 {
        return Err(run.describe());
    }
    let mut stamps = Vec::new();
    for line in run.stdout.lines() {
        let Some(value) = line
            .split_whitespace()
            .find_map(|word| word.strip_prefix("timestamp="))
        else {
            continue;
        };
        let stamp: u64 = value
            .parse()
            .map_err(|e| format!("{e} in {line:?}: {}", run.describe()))?;
        if stamp == 0 {
            return Err(format!("a failed renewal: {}", run.describe()));
        }
        stamps.push(stamp);
    }
    Ok(stamps)
}

/// Joins `LS:1:dev:0` with io_timeout 1 through `daemon`, then waits for [`RENEWALS`] renewals
/// on the io_timeout-1 schedule. Returns (join duration, renewal timestamps).
fn join_and_watch(daemon: &DaemonProcess, dev: &Path) -> (Duration, Vec<u64>) {
    let took = join_lockspace(daemon, "LS", 1, dev, JOIN_IO_S);
    let stamps = poll_until(
        &format!("{} to renew {RENEWALS} times", daemon.label()),
        Duration::from_secs(RENEWAL_GAP_MAX_S * (RENEWALS as u64 + 2)),
        || {
            std::thread::sleep(Duration::from_millis(200)); // pacing of the poll only
            let stamps = renewal_timestamps(daemon)?;
            if stamps.len() > RENEWALS {
                Ok(stamps)
            } else {
                Err(format!("{stamps:?}"))
            }
        },
    );
    (took, stamps)
}

fn check(label: &str, took: Duration, stamps: &[u64], dev: &Path) {
    println!("{label}: joined in {took:?}; renewal timestamps {stamps:?}");
    // The acquire followed the stored io_timeout: 2·10 s after its write.
    assert!(
        took >= Duration::from_secs(2 * STORED_IO_S - 1),
        "{label}: joined in {took:?}"
    );
    assert!(
        stamps.windows(2).all(|w| w[0] < w[1]),
        "{label}: timestamps do not advance: {stamps:?}"
    );
    // After the first renewal (sanlock's comes 20 s after the acquire's write, right when the
    // acquire ends; ours is written by the acquire itself), every 2·1 s.
    for w in stamps[1..].windows(2) {
        assert!(
            w[1] - w[0] <= RENEWAL_GAP_MAX_S,
            "{label}: renewals {} s apart: {stamps:?}",
            w[1] - w[0]
        );
    }
    // On disk: our record, with the io_timeout we joined with, renewed since.
    let run = Run::new(
        LEASE,
        &["direct", "read_leader", "-s", &format!("LS:1:{}:0", s(dev))],
    );
    let leader = parse_read_leader(run.success());
    assert_eq!(leader.number("io_timeout"), u64::from(JOIN_IO_S), "{label}");
    assert_eq!(leader.number("owner_id"), 1, "{label}");
    assert!(
        leader.number("timestamp") >= *stamps.last().expect("stamps"),
        "{label}: on-disk timestamp {} older than the last renewal",
        leader.number("timestamp")
    );
}

#[test]
fn joining_with_a_shorter_io_timeout_than_stored_keeps_renewing() {
    let test = "join_shorter_io_timeout";
    let Some(sanlock) = Sanlock::require(test) else {
        return;
    };
    let scratch = Scratch::new(test);
    let ours_image = scratch.image("ours.img", 8 * MIB);
    let theirs_image = scratch.image("theirs.img", 8 * MIB);
    let Some(ours_dev) = require_loop_device(test, &ours_image, 512) else {
        return;
    };
    let Some(theirs_dev) = require_loop_device(test, &theirs_image, 512) else {
        return;
    };
    for dev in [ours_dev.path(), theirs_dev.path()] {
        // No -o: the stored io_timeout is the default 10.
        lease(&["direct", "init", "-s", &format!("LS:0:{}:0", s(dev))]).success();
    }
    let config = scratch.path().join("empty.conf");
    std::fs::write(&config, "").expect("config");
    let ours = DaemonProcess::start_lease(
        Path::new(LEASE),
        "ours",
        &scratch.path().join("a"),
        Some(&config),
        &[],
    );
    let theirs = DaemonProcess::start_sanlock(&sanlock, "sanlock", &scratch.path().join("s"));

    let (ours_result, theirs_result) = std::thread::scope(|scope| {
        let a = scope.spawn(|| join_and_watch(&ours, ours_dev.path()));
        let b = scope.spawn(|| join_and_watch(&theirs, theirs_dev.path()));
        (a.join(), b.join())
    });
    let (took, stamps) = ours_result.unwrap_or_else(|_| panic!("ours:\n{}", ours.describe()));
    check("ours", took, &stamps, ours_dev.path());
    let (took, stamps) =
        theirs_result.unwrap_or_else(|_| panic!("sanlock:\n{}", theirs.describe()));
    check("sanlock", took, &stamps, theirs_dev.path());

    let status = ours.client(&["status", "-D"]);
    assert!(
        !status.success().contains("phase=failed"),
        "{}",
        status.describe()
    );
}
