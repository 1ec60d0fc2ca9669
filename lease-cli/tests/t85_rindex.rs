//! The resource index (rindex, format spec §6) against the real sanlock 3.8.5.
//!
//! * Through the daemons: our daemon (host 1) and sanlock's (host 2) join one lockspace
//!   (io_timeout 1) on a file; an index formatted by us is used by both: what one creates the
//!   other finds (`client lookup` prints the same), what one deletes is gone for the other,
//!   and the leases created through the index are the bytes `direct init -r` writes. The
//!   rindex lease passes between the two hosts on every create/delete/rebuild, so each one
//!   proves the other released it. `rebuild` finds a lease initialised with `direct init -r`
//!   at a slot the index did not know.
//! * Direct: the same commands on two copies of an image, one with sanlock and one with
//!   lease, print the same and leave identical bytes (except the 4 padding bytes of the
//!   rindex lease's request record, where sanlock leaves stack garbage); inputs sanlock
//!   misreads are refused by us with nothing written.

mod common;

use std::path::{Path, PathBuf};

use common::{lease, s, LEASE};
use lease_tests::{
    device_bytes, done_rv, first_difference, DaemonProcess, Run, Sanlock, Scratch, MIB,
};
use serde_json::Value;

/// Offset of the index in every test image.
const RX: u64 = MIB;

/// Runs `args` through both daemons' clients and asserts identical stdout and exit status.
#[track_caller]
fn same_client(ours: &DaemonProcess, theirs: &DaemonProcess, args: &[&str]) -> String {
    let a = ours.client(args);
    let b = theirs.client(args);
    assert_eq!(
        (a.stdout.as_str(), a.status),
        (b.stdout.as_str(), b.status),
        "client {args:?} differs\n=== lease (our daemon)\n{}\n=== sanlock (its daemon)\n{}",
        a.describe(),
        b.describe()
    );
    a.stdout
}

/// `client lookup -x rx -e entry` through `daemon`: the expected stdout for a found entry.
#[track_caller]
fn expect_found(daemon: &DaemonProcess, rx: &str, entry: &str, name: &str, offset: u64) {
    let run = daemon.client(&["lookup", "-x", rx, "-e", entry]);
    assert_eq!(
        run.stdout,
        format!("lookup done 0\nname {name} offset {offset}\n"),
        "{} lookup {entry}: {}\n{}",
        daemon.label(),
        run.describe(),
        daemon.describe()
    );
    assert_eq!(run.status, 0);
}

#[track_caller]
fn expect_rv(daemon: &DaemonProcess, args: &[&str], rv: i64) -> Run {
    let run = daemon.client(args);
    assert_eq!(
        done_rv(&run),
        Some(rv),
        "{} {args:?}: {}\n{}",
        daemon.label(),
        run.describe(),
        daemon.describe()
    );
    assert_eq!(run.status, i32::from(rv != 0), "{}", run.describe());
    run
}

/// A lease area as `direct init -r SPACE:NAME` writes it (sanlock's bytes), for comparison.
fn reference_lease(sanlock: &Sanlock, scratch: &Scratch, name: &str, clear: bool) -> Vec<u8> {
    let path = scratch.image(&format!("ref-{name}-{clear}.img"), 2 * MIB);
    let spec = format!("LS:{name}:{}:0", s(&path));
    let mut args = vec!["direct", "init", "-r", &spec];
    if clear {
        args.extend(["-z", "1"]);
    }
    sanlock.ok(&args);
    device_bytes(&path)[..MIB as usize].to_vec()
}

/// Bytes of `len` at `offset` of `path`.
fn range(path: &Path, offset: u64, len: u64) -> Vec<u8> {
    device_bytes(path)[offset as usize..(offset + len) as usize].to_vec()
}

/// Zeroes the request record's 4 padding bytes (sector 1, +20..+24) of a 512-byte-sector
/// lease area: sanlock writes whatever was on its stack there.
fn mask_request_padding(area: &mut [u8], lease_offset: usize) {
    area[lease_offset + 512 + 20..lease_offset + 512 + 24].fill(0);
}

/// A cleared lease (CLEAR magic) records the clearing host's monotonic seconds in the
/// leader's write_timestamp (offset 192, not covered by the checksum): zeroed to compare.
fn without_clear_time(area: &[u8]) -> Vec<u8> {
    let mut area = area.to_vec();
    area[192..200].fill(0);
    area
}

#[test]
fn daemons_share_one_index_both_ways() {
    let Some(sanlock) = Sanlock::require("t85_rindex_daemons") else {
        return;
    };
    let scratch = Scratch::new("t85-rindex-daemons");
    let disk = scratch.image("disk.img", 64 * MIB);
    let d = s(&disk);
    lease(&["direct", "init", "-s", &format!("LS:0:{d}:0"), "-o", "1"]).success();
    let config = scratch.path().join("empty.conf");
    std::fs::write(&config, "").expect("config");
    let ours = DaemonProcess::start_lease(
        Path::new(LEASE),
        "ours",
        &scratch.path().join("ours"),
        Some(&config),
        &[],
    );
    let theirs = DaemonProcess::start_sanlock(&sanlock, "sanlock", &scratch.path().join("s"));
    std::thread::scope(|scope| {
        let a = scope.spawn(|| ours.client(&["add_lockspace", "-s", &format!("LS:1:{d}:0")]));
        let b = scope.spawn(|| theirs.client(&["add_lockspace", "-s", &format!("LS:2:{d}:0")]));
        for (daemon, run) in [(&ours, a.join()), (&theirs, b.join())] {
            let run = run.expect("join thread");
            assert_eq!(
                done_rv(&run),
                Some(0),
                "{}: {}\n{}",
                daemon.label(),
                run.describe(),
                daemon.describe()
            );
        }
    });
    let rx = format!("LS:{d}:{RX}");
    let rx = rx.as_str();

    // Before format: no index there, both say so.
    same_client(&ours, &theirs, &["lookup", "-x", rx]);
    expect_rv(&ours, &["lookup", "-x", rx], -274);

    // Format by us: the index bytes are sanlock's (checked byte for byte in the direct test).
    let run = expect_rv(&ours, &["format", "-x", rx], 0);
    assert_eq!(run.stdout, "format done 0\n");
    same_client(&ours, &theirs, &["lookup", "-x", rx]);

    // Create by us, found by sanlock.
    let run = expect_rv(&ours, &["create", "-x", rx, "-e", "ours1"], 0);
    assert_eq!(run.stdout, "create_resource done 0\noffset 3145728\n");
    expect_found(&theirs, rx, "ours1", "ours1", 3 * MIB);
    expect_found(&theirs, rx, ":3M", "ours1", 3 * MIB);
    let mut created = range(&disk, 3 * MIB, MIB);
    let mut want = reference_lease(&sanlock, &scratch, "ours1", false);
    mask_request_padding(&mut created, 0);
    mask_request_padding(&mut want, 0);
    assert_eq!(
        first_difference(&created, &want),
        None,
        "our created lease differs from sanlock's init -r"
    );

    // Create by sanlock (it must acquire the rindex lease we released), found by us.
    let run = expect_rv(&theirs, &["create", "-x", rx, "-e", "theirs1"], 0);
    assert_eq!(run.stdout, "create_resource done 0\noffset 4194304\n");
    expect_found(&ours, rx, "theirs1", "theirs1", 4 * MIB);
    for query in [
        vec!["lookup", "-x", rx],
        vec!["lookup", "-x", rx, "-e", "ours1"],
        vec!["lookup", "-x", rx, "-e", "theirs1"],
        vec!["lookup", "-x", rx, "-e", ":4M"],
        vec!["lookup", "-x", rx, "-e", ":5M"],
        vec!["lookup", "-x", rx, "-e", "ours1:3M"],
        vec!["lookup", "-x", rx, "-e", "ours1:4M"],
        vec!["lookup", "-x", rx, "-e", "nope"],
        vec!["lookup", "-x", rx, "-e", ":3000000"],
        vec!["lookup", "-x", &format!("OTHER:{d}:{RX}")],
        vec!["delete", "-x", rx, "-e", "nope"],
        vec!["delete", "-x", rx, "-e", "theirs1:4000000"],
    ] {
        same_client(&ours, &theirs, &query);
    }
    // --json lookup.
    let run = ours.client_json(&["lookup", "-x", rx, "-e", "theirs1"]);
    let value: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(value["result"], 0, "{}", run.describe());
    assert_eq!(value["name"], "theirs1");
    assert_eq!(value["offset"], 4 * MIB);
    let run = ours.client_json(&["lookup", "-x", rx]);
    let value: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(value["name"], Value::Null);
    assert_eq!(value["offset"], 5 * MIB);

    // A second create of a name already indexed is refused by us, nothing written.
    let before = device_bytes(&disk);
    expect_rv(&ours, &["create", "-x", rx, "-e", "theirs1"], -17);
    let after = device_bytes(&disk);
    // Only the rindex lease (taken and released) may have changed.
    let lease_area = RX as usize + MIB as usize..RX as usize + 2 * MIB as usize;
    let outside = |v: &[u8]| {
        let mut v = v.to_vec();
        v[lease_area.clone()].fill(0);
        // The delta leases renew meanwhile.
        v[..MIB as usize].fill(0);
        v
    };
    assert_eq!(
        first_difference(&outside(&before), &outside(&after)),
        None,
        "a refused create wrote something"
    );

    // Delete both ways: sanlock deletes ours, we delete theirs.
    let run = expect_rv(&theirs, &["delete", "-x", rx, "-e", "ours1"], 0);
    assert_eq!(run.stdout, "delete_resource done 0\n");
    expect_rv(&ours, &["lookup", "-x", rx, "-e", "ours1"], -2);
    let run = expect_rv(&ours, &["delete", "-x", rx, "-e", "theirs1:4M"], 0);
    assert_eq!(run.stdout, "delete_resource done 0\n");
    expect_rv(&theirs, &["lookup", "-x", rx, "-e", "theirs1"], -2);
    same_client(&ours, &theirs, &["lookup", "-x", rx]);
    // Our cleared lease is sanlock's CLEAR area (but for the clearing time).
    let cleared = range(&disk, 4 * MIB, MIB);
    let want = reference_lease(&sanlock, &scratch, "theirs1", true);
    assert_eq!(&cleared[..4], &want[..4], "CLEAR magic");
    let (mut a, mut b) = (without_clear_time(&cleared), without_clear_time(&want));
    mask_request_padding(&mut a, 0);
    mask_request_padding(&mut b, 0);
    assert_eq!(first_difference(&a, &b), None, "cleared lease differs");
    let read = sanlock.run(&["direct", "read_leader", "-r", &format!("LS:theirs1:{d}:4M")]);
    assert_eq!(done_rv(&read), Some(-223), "{}", read.describe());

    // Rebuild finds a lease the index does not know (slot 4), by either daemon.
    lease(&["direct", "init", "-r", &format!("LS:lost:{d}:7M")]).success();
    expect_rv(&ours, &["lookup", "-x", rx, "-e", "lost"], -2);
    let run = expect_rv(&ours, &["rebuild", "-x", rx], 0);
    assert_eq!(run.stdout, "rebuild done 0\n");
    expect_found(&theirs, rx, "lost", "lost", 7 * MIB);
    expect_found(&ours, rx, ":7M", "lost", 7 * MIB);
    lease(&["direct", "init", "-r", &format!("LS:lost2:{d}:9M")]).success();
    expect_rv(&theirs, &["rebuild", "-x", rx], 0);
    expect_found(&ours, rx, "lost2", "lost2", 9 * MIB);
    same_client(&ours, &theirs, &["lookup", "-x", rx, "-e", "lost"]);

    // update through the daemons, both ways.
    expect_rv(&ours, &["update", "-x", rx, "-e", "u1:10M"], 0);
    expect_found(&theirs, rx, "u1", "u1", 10 * MIB);
    expect_rv(&theirs, &["update", "-x", rx, "-e", "u1:10M", "-z", "1"], 0);
    expect_rv(&ours, &["lookup", "-x", rx, "-e", "u1"], -2);

    // A lockspace this daemon has not joined: -ENOENT from both.
    let other = scratch.image("other.img", 8 * MIB);
    let other_rx = format!("LS2:{}:{RX}", s(&other));
    lease(&["direct", "format", "-x", &other_rx]).success();
    for action in [["lookup"], ["rebuild"]] {
        let mut args = action.to_vec();
        args.extend(["-x", &other_rx]);
        same_client(&ours, &theirs, &args);
    }
    same_client(&ours, &theirs, &["create", "-x", &other_rx, "-e", "x"]);
    expect_rv(&ours, &["create", "-x", &other_rx, "-e", "x"], -2);

    // Leave cleanly (both release their host ids).
    for (daemon, host) in [(&ours, 1), (&theirs, 2)] {
        expect_rv(
            daemon,
            &["rem_lockspace", "-s", &format!("LS:{host}:{d}:0")],
            0,
        );
    }
}

/// One image per tool; `{}` in an argument stands for the image path.
struct Pair {
    theirs: PathBuf,
    ours: PathBuf,
}

impl Pair {
    fn new(scratch: &Scratch, size: u64) -> Pair {
        Pair {
            theirs: scratch.image("sanlock.img", size),
            ours: scratch.image("lease.img", size),
        }
    }

    fn args(args: &[&str], path: &Path) -> Vec<String> {
        args.iter().map(|a| a.replace("{}", s(path))).collect()
    }

    /// Runs `args` with sanlock on its image and with lease on ours; same stdout and status.
    #[track_caller]
    fn same(&self, sanlock: &Sanlock, args: &[&str]) -> Run {
        let theirs = sanlock.run(&Self::args(args, &self.theirs));
        let ours = lease(&Self::args(args, &self.ours));
        let normalise = |r: &Run, p: &Path| r.stdout.replace(s(p), "{}");
        assert_eq!(
            (normalise(&ours, &self.ours), ours.status),
            (normalise(&theirs, &self.theirs), theirs.status),
            "{args:?} differs\n=== sanlock\n{}\n=== lease\n{}",
            theirs.describe(),
            ours.describe()
        );
        ours
    }

    /// Both images are identical, but for the rindex lease's request padding at each of
    /// `rindex_offsets` (512-byte sectors).
    #[track_caller]
    fn same_bytes(&self, rindex_lease_offsets: &[u64]) {
        let mut theirs = device_bytes(&self.theirs);
        let mut ours = device_bytes(&self.ours);
        for &offset in rindex_lease_offsets {
            mask_request_padding(&mut theirs, offset as usize);
            mask_request_padding(&mut ours, offset as usize);
        }
        assert_eq!(
            first_difference(&theirs, &ours),
            None,
            "images differ (sanlock's vs ours)"
        );
    }
}

#[test]
fn direct_actions_print_and_write_what_sanlock_does() {
    let Some(sanlock) = Sanlock::require("t85_rindex_direct") else {
        return;
    };
    let scratch = Scratch::new("t85-rindex-direct");
    let pair = Pair::new(&scratch, 32 * MIB);
    let x = "LS:{}:1M";
    let name48 = "n".repeat(48);
    let entry48 = format!("{name48}:6M");
    let steps: Vec<Vec<&str>> = vec![
        vec!["direct", "format", "-x", x],
        vec!["direct", "lookup", "-x", x],
        vec!["direct", "update", "-x", x, "-e", "resA:3M"],
        vec!["direct", "lookup", "-x", x, "-e", "resA"],
        vec!["direct", "lookup", "-x", x, "-e", ":3M"],
        vec!["direct", "lookup", "-x", x, "-e", ":4M"],
        vec!["direct", "lookup", "-x", x, "-e", "resA:3M"],
        vec!["direct", "lookup", "-x", x, "-e", "resB:3M"],
        vec!["direct", "lookup", "-x", x, "-e", "nope"],
        vec!["direct", "lookup", "-x", x, "-e", ":3000000"],
        vec!["direct", "lookup", "-x", x, "-e", ":0"],
        vec!["direct", "lookup", "-x", x],
        vec!["direct", "update", "-x", x, "-e", "resB"],
        vec!["direct", "update", "-x", x, "-e", ":6M"],
        vec!["direct", "update", "-x", x],
        vec!["direct", "update", "-x", x, "-e", "resB:3000000"],
        vec!["direct", "update", "-x", x, "-e", &entry48],
        vec!["direct", "lookup", "-x", x, "-e", &name48],
        // The last slot of 4096; its offset is above 4 GiB.
        vec!["direct", "update", "-x", x, "-e", "last:4098M"],
        vec!["direct", "lookup", "-x", x, "-e", ":4098M"],
        vec!["direct", "lookup", "-x", "LSX:{}:1M"],
        vec!["direct", "lookup", "-x", "LS:{}:0"],
        vec!["direct", "lookup", "-x", "LS:{}:2M"],
        vec!["direct", "lookup", "-x", "LS:{}:31M"],
        vec!["direct", "lookup", "-x", "LS:{}:100M"],
        vec!["direct", "update", "-x", "LS:{}:100M", "-e", "a:103M"],
        vec!["direct", "rebuild", "-x", "LS:{}:100M"],
        vec!["direct", "format", "-x", "LS:{}:1000"],
        vec!["direct", "format", "-x", "LS:{}:8M", "-Z", "4096"],
        vec!["direct", "format", "-x", "LS:{}:8M", "-A", "2M"],
        vec![
            "direct", "format", "-x", "LS:{}:8M", "-Z", "512", "-A", "2M",
        ],
        vec!["direct", "lookup", "-x", "LS:/nonexistent/disk:1M"],
        vec!["direct", "format", "-x", "LS:/nonexistent/disk:1M"],
    ];
    for step in &steps {
        pair.same(&sanlock, step);
    }
    pair.same_bytes(&[2 * MIB]);
    // sanlock 3.8.5 records 4098M correctly but its lookup by name prints the offset cut to
    // 32 bits (2097152); we print the offset recorded.
    let rx = format!("LS:{}:1M", s(&pair.ours));
    let run = lease(&["direct", "lookup", "-x", &rx, "-e", "last"]);
    assert_eq!(
        run.stdout,
        format!("lookup done 0\nname last offset {}\n", 4098 * MIB),
        "{}",
        run.describe()
    );
    // --json lookup.
    let run = lease(&["--json", "direct", "lookup", "-x", &rx, "-e", "last"]);
    let value: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(value["result"], 0, "{}", run.describe());
    assert_eq!(value["name"], "last");
    assert_eq!(value["offset"], 4098 * MIB);
    let run = lease(&["--json", "direct", "lookup", "-x", &rx, "-e", "nope"]);
    let value: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(value["result"], -2);
    assert!(value["error"].is_string());
    assert_eq!(run.status, 1);

    // Rebuild: an unindexed lease at slot 2 (5 MiB), another lockspace's at slot 4, a
    // cleared one at slot 6 (not indexed), a stale entry for slot 1 (dropped).
    sanlock.ok(&[
        "direct",
        "init",
        "-r",
        &format!("LS:vm7:{}:5M", s(&pair.theirs)),
    ]);
    lease(&[
        "direct",
        "init",
        "-r",
        &format!("LS:vm7:{}:5M", s(&pair.ours)),
    ])
    .success();
    for (spec, extra) in [("OTHER:vm8:{}:7M", None), ("LS:vm9:{}:9M", Some("-z"))] {
        for (path, ours) in [(&pair.theirs, false), (&pair.ours, true)] {
            let spec = spec.replace("{}", s(path));
            let mut args = vec!["direct", "init", "-r", &spec];
            if let Some(flag) = extra {
                args.extend([flag, "1"]);
            }
            if ours {
                lease(&args).success();
            } else {
                sanlock.ok(&args);
            }
        }
    }
    // The cleared leases carry each host's clock in write_timestamp: make them equal.
    let theirs_clear = range(&pair.theirs, 9 * MIB, 512);
    common::poke(&pair.ours, 9 * MIB, &theirs_clear);
    for step in [
        vec!["direct", "update", "-x", x, "-e", "ghost:4M"],
        vec!["direct", "rebuild", "-x", x],
        vec!["direct", "lookup", "-x", x, "-e", "vm7"],
        vec!["direct", "lookup", "-x", x, "-e", "vm8"],
        vec!["direct", "lookup", "-x", x, "-e", "vm9"],
        vec!["direct", "lookup", "-x", x, "-e", "ghost"],
        vec!["direct", "lookup", "-x", x, "-e", "resA"],
        vec!["direct", "lookup", "-x", x],
        vec!["direct", "update", "-x", x, "-e", "vm7:5M", "-z", "1"],
        vec!["direct", "update", "-x", x, "-e", ":7M", "-z", "1"],
        vec!["direct", "lookup", "-x", x, "-e", ":5M"],
        vec!["direct", "lookup", "-x", x],
    ] {
        pair.same(&sanlock, &step);
    }
    pair.same_bytes(&[2 * MIB]);
}

#[test]
fn direct_four_k_index_matches_sanlock() {
    let Some(sanlock) = Sanlock::require("t85_rindex_4k") else {
        return;
    };
    let scratch = Scratch::new("t85-rindex-4k");
    let pair = Pair::new(&scratch, 64 * MIB);
    let x = "LS:{}:8M";
    for step in [
        vec!["direct", "format", "-x", x, "-Z", "4096", "-A", "8M"],
        vec!["direct", "lookup", "-x", x],
        vec!["direct", "update", "-x", x, "-e", "a:32M"],
        vec!["direct", "lookup", "-x", x, "-e", "a"],
        vec!["direct", "lookup", "-x", x, "-e", ":25M"],
        vec!["direct", "lookup", "-x", x],
        vec!["direct", "rebuild", "-x", x],
        vec!["direct", "lookup", "-x", x],
    ] {
        pair.same(&sanlock, &step);
    }
    // 4K sectors: the request record padding is in the second 4096-byte sector.
    let mut theirs = device_bytes(&pair.theirs);
    let mut ours = device_bytes(&pair.ours);
    for v in [&mut theirs, &mut ours] {
        let at = (16 * MIB + 4096) as usize;
        v[at + 20..at + 24].fill(0);
    }
    assert_eq!(first_difference(&theirs, &ours), None, "4K images differ");
}

#[test]
fn bad_input_sanlock_misreads_is_refused_and_writes_nothing() {
    let scratch = Scratch::new("t85-rindex-bad");
    let disk = scratch.image("disk.img", 32 * MIB);
    let rx = format!("LS:{}:1M", s(&disk));
    lease(&["direct", "format", "-x", &rx]).success();
    lease(&["direct", "update", "-x", &rx, "-e", "resA:3M"]).success();
    let before = device_bytes(&disk);
    let long = format!("{}:6M", "n".repeat(49));
    for (entry, rv) in [
        // sanlock writes this entry into the header sector.
        ("x:1M", -277),
        ("x:2M", -277),
        // Beyond max_resources (4096 slots): sanlock writes an entry no search finds.
        ("x:4099M", -277),
        // sanlock truncates the name to 48 bytes.
        (long.as_str(), -22),
        // sanlock reads "abc" as 0.
        ("x:abc", -22),
        ("x:", -22),
        ("a:b:c", -22),
        // The slot holds resA: removing it as resB is refused (sanlock removes resA).
        ("resB:3M", -278),
    ] {
        let mut args = vec!["direct", "update", "-x", &rx, "-e", entry];
        if entry.starts_with("resB") {
            args.extend(["-z", "1"]);
        }
        let run = lease(&args);
        assert_eq!(
            run.stdout,
            format!("update done {rv}\n"),
            "{entry}: {}",
            run.describe()
        );
        assert_eq!(run.status, 1);
        assert!(
            run.stderr.starts_with("lease direct update: "),
            "{}",
            run.describe()
        );
    }
    // An empty lockspace name and lookups of names sanlock would truncate.
    let run = lease(&["direct", "lookup", "-x", &rx, "-e", &"n".repeat(49)]);
    assert_eq!(run.stdout, "lookup done -22\n", "{}", run.describe());
    let run = lease(&["direct", "format", "-x", &format!(":{}:1M", s(&disk))]);
    assert_eq!(run.stdout, "format done -22\n", "{}", run.describe());
    assert_eq!(
        first_difference(&before, &device_bytes(&disk)),
        None,
        "a refused command wrote something"
    );
}
