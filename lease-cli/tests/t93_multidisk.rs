//! Multi-disk resource leases (`LS:RES:P1:O1:P2:O2:P3:O3`, Disk Paxos over three disks, each
//! read and write needing a majority of two) through our daemon, with faulty disks:
//!
//! * one of the three disks failing (every I/O an error): acquire and release still work, and
//!   the two good disks carry the lease;
//! * one of the three hanging (a [`StallFile`] whose I/O the test holds unanswered): acquire and
//!   release still work, within the io_timeout bounds, while the hung I/O stays held; it is
//!   answered at the end so nothing stays stuck;
//! * two of the three failing: the acquire fails cleanly, with a negative result, promptly
//!   (no hang beyond the io_timeout bound), and nothing is acquired.
//!
//! The lockspace lives on its own loop device, untouched by the faults. A failing disk is a loop
//! device whose backing file is shrunk to nothing (`losetup -c`); this kernel has no
//! device-mapper.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{init_ls, lease, s, LEASE};
use lease_io::engine::stall::{require_stall_file, StallFile};
use lease_tests::{
    fail_loop_device, join_lockspace, read_leader_json, require_loop_device, DaemonProcess,
    LoopDevice, PyHolder, Python, Scratch, MIB,
};
use serde_json::{json, Value};

const IO_TIMEOUT: u32 = 1;
/// Bound on one python3-sanlock call (far above any io_timeout bound checked).
const CALL: Duration = Duration::from_secs(60);
/// How long an acquire or release over a faulty disk may take: an acquire is six rounds of I/O
/// (leader read, two ballot phases of a write and a read, leader write), each of which may wait
/// io_timeout for a hung disk, plus slack for a loaded machine.
const FAULTY_OP_LIMIT: Duration = Duration::from_secs(6 * IO_TIMEOUT as u64 + 4);
const SANLK_RES_LVER: u64 = 0x1;

/// A daemon joined to LS on its own loop device, and the resource's disks.
struct Site {
    daemon: DaemonProcess,
    /// (image file, loop device) of each loop disk, in the order created.
    loops: Vec<(PathBuf, LoopDevice)>,
    _lockspace: LoopDevice,
    python: Python,
    scratch: Scratch,
}

impl Site {
    /// The daemon and `disks` loop devices of 8 MiB (none initialised).
    fn start(test: &str, disks: usize) -> Option<Site> {
        let python = Python::require(test)?;
        let scratch = Scratch::new(test);
        let ls_image = scratch.image("lockspace.img", 8 * MIB);
        let lockspace = require_loop_device(test, &ls_image, 512)?;
        let mut loops = Vec::new();
        for i in 0..disks {
            let image = scratch.image(&format!("disk{i}.img"), 8 * MIB);
            let dev = require_loop_device(test, &image, 512)?;
            loops.push((image, dev));
        }
        init_ls(lockspace.path(), &[]);
        let config = scratch.path().join("empty.conf");
        std::fs::write(&config, "").expect("config");
        let daemon = DaemonProcess::start_lease(
            Path::new(LEASE),
            "ours",
            &scratch.path().join("run"),
            Some(&config),
            &[],
        );
        let took = join_lockspace(&daemon, "LS", 1, lockspace.path(), IO_TIMEOUT);
        println!("joined in {took:?}");
        Some(Site {
            daemon,
            loops,
            _lockspace: lockspace,
            python,
            scratch,
        })
    }

    fn loop_path(&self, i: usize) -> PathBuf {
        self.loops[i].1.path().to_path_buf()
    }

    /// Breaks loop disk `i`: every later I/O to it fails.
    fn fail(&self, i: usize) {
        fail_loop_device(&self.loops[i].0, self.loops[i].1.path());
    }

    /// A registered holder whose `acq()` / `rel()` name `MD` on `disks` (offset 0 of each).
    fn holder(&self, disks: &[PathBuf]) -> PyHolder {
        let list: Vec<String> = disks.iter().map(|d| format!("({:?}, 0)", s(d))).collect();
        let defs = format!(
            "DISKS = [{}]\n\
             def acq():\n    return sanlock.acquire(b'LS', b'MD', DISKS, slkfd=fd)\n\
             def rel():\n    return sanlock.release(b'LS', b'MD', DISKS, slkfd=fd)\n",
            list.join(", ")
        );
        PyHolder::start(&self.python, self.daemon.run_dir(), "holder", &defs)
    }
}

/// `lease direct init -r LS:MD:P1:0:P2:0:P3:0`.
fn init_resource(disks: &[PathBuf]) {
    let spec: Vec<String> = disks.iter().map(|d| format!("{}:0", s(d))).collect();
    lease(&["direct", "init", "-r", &format!("LS:MD:{}", spec.join(":"))]).success();
}

/// The leader on one disk: (owner_id, lver, held).
fn leader_on(disk: &Path) -> (u64, u64, bool) {
    let leader = read_leader_json(Path::new(LEASE), &format!("LS:MD:{}:0", s(disk)));
    (
        leader["owner_id"].as_u64().unwrap_or_default(),
        leader["lver"].as_u64().unwrap_or_default(),
        leader["timestamp"].as_u64().unwrap_or_default() != 0,
    )
}

/// Runs `expr` on the holder and returns (reply, how long it took).
fn timed(holder: &mut PyHolder, expr: &str) -> (Value, Duration) {
    let start = Instant::now();
    let reply = holder.eval(expr, CALL);
    (reply, start.elapsed())
}

/// `rounds` acquire/release cycles on `disks` while `good` disks are healthy: each step
/// succeeds within [`FAULTY_OP_LIMIT`], inquire shows the lease at the version the good disks
/// carry.
fn cycles(site: &Site, holder: &mut PyHolder, good: &[PathBuf], what: &str, rounds: u32) {
    for round in 1..=rounds {
        let (reply, took) = timed(holder, "acq()");
        println!("{what}: acquire {round}: {reply} after {took:?}");
        assert_eq!(
            reply,
            json!({"ok": null}),
            "{what}: acquire {round}\n{}",
            site.daemon.describe()
        );
        assert!(took < FAULTY_OP_LIMIT, "{what}: acquire took {took:?}");
        let inquired = holder.ok("sanlock.inquire(slkfd=fd)", CALL);
        let version = inquired[0]["version"].as_u64().unwrap_or_default();
        assert_eq!(inquired[0]["flags"], SANLK_RES_LVER, "{inquired}");
        assert_eq!(inquired[0]["disks"].as_array().map(Vec::len), Some(3));
        for disk in good {
            assert_eq!(leader_on(disk), (1, version, true), "{what}: {}", s(disk));
        }
        let (reply, took) = timed(holder, "rel()");
        println!("{what}: release {round}: {reply} after {took:?}");
        assert_eq!(reply, json!({"ok": null}), "{what}: release {round}");
        assert!(took < FAULTY_OP_LIMIT, "{what}: release took {took:?}");
        for disk in good {
            assert_eq!(leader_on(disk), (1, version, false), "{what}: {}", s(disk));
        }
        assert_eq!(holder.ok("sanlock.inquire(slkfd=fd)", CALL), json!([]));
    }
}

#[test]
fn a_lease_on_three_disks_works_with_one_failing() {
    let Some(site) = Site::start("t93_one_failing", 3) else {
        return;
    };
    let disks: Vec<PathBuf> = (0..3).map(|i| site.loop_path(i)).collect();
    init_resource(&disks);
    site.fail(1);
    let mut holder = site.holder(&disks);
    cycles(
        &site,
        &mut holder,
        &[disks[0].clone(), disks[2].clone()],
        "one failing",
        2,
    );
}

#[test]
fn a_lease_on_three_disks_works_with_one_hanging() {
    let test = "t93_one_hanging";
    // Declared before the site: dropped after the daemon that has the file open. FUSE aborts a
    // request held for 30 s, so the test holds I/O for one cycle only (about 9 s).
    let Some(stall) = require_stall_file(test, 2 * MIB as usize) else {
        return;
    };
    let Some(site) = Site::start(test, 2) else {
        return;
    };
    let disks = vec![
        site.loop_path(0),
        stall.path().to_path_buf(),
        site.loop_path(1),
    ];
    init_resource(&disks);
    let mut holder = site.holder(&disks);
    stall.hold();
    let held_at = Instant::now();
    // Answer the held I/O whatever happens below, so nothing stays stuck.
    struct Unstall<'a>(&'a StallFile);
    impl Drop for Unstall<'_> {
        fn drop(&mut self) {
            self.0.release();
        }
    }
    let unstall = Unstall(&stall);
    cycles(
        &site,
        &mut holder,
        &[disks[0].clone(), disks[2].clone()],
        "one hanging",
        1,
    );
    let held = stall.held();
    println!(
        "{held} I/O held on the hanging disk for {:?}",
        held_at.elapsed()
    );
    assert!(held > 0, "no I/O ever reached the hanging disk");
    drop(unstall);
    // Answered now: the daemon is fine and the lease works on all three disks again.
    let (reply, took) = timed(&mut holder, "acq()");
    assert_eq!(reply, json!({"ok": null}), "{}", site.daemon.describe());
    println!("acquire after the hang ended: {took:?}");
    assert_eq!(holder.ok("rel()", CALL), Value::Null);
    drop(holder);
    drop(site);
}

#[test]
fn a_lease_on_three_disks_is_refused_cleanly_with_two_failing() {
    let Some(site) = Site::start("t93_two_failing", 3) else {
        return;
    };
    let disks: Vec<PathBuf> = (0..3).map(|i| site.loop_path(i)).collect();
    init_resource(&disks);
    let before = leader_on(&disks[0]);
    site.fail(1);
    site.fail(2);
    let mut holder = site.holder(&disks);
    for attempt in 1..=2 {
        let (reply, took) = timed(&mut holder, "acq()");
        println!("two failing: acquire {attempt}: {reply} after {took:?}");
        // A sanlock error (python3-sanlock shows sanlock's own numbers negative).
        assert!(
            PyHolder::rv(&reply) < 0,
            "acquire with two of three disks failing: {reply}\n{}",
            site.daemon.describe()
        );
        assert!(took < FAULTY_OP_LIMIT, "acquire took {took:?}");
        assert_eq!(holder.ok("sanlock.inquire(slkfd=fd)", CALL), json!([]));
        assert_eq!(
            leader_on(&disks[0]),
            before,
            "the good disk's leader changed"
        );
    }
    // The daemon is fine: status answers and nothing is held.
    let status = site.daemon.client(&["status"]);
    assert!(
        status.status == 0 && !status.stdout.lines().any(|l| l.starts_with("r ")),
        "{}",
        status.describe()
    );
    let _ = &site.scratch;
}
