//! We write, sanlock reads: `lease direct init` must write exactly the bytes
//! `sanlock direct init` writes for the same arguments (whole device compared), print the same
//! `init done 0`, and sanlock must accept the result (`read_leader`, `dump`, and acquiring the
//! leases with `sanlock direct acquire_id` / `acquire`).

mod common;

use std::path::Path;

use common::{lease, s, same_output};
use lease_tests::{
    device_bytes, first_difference, parse_read_leader, require_loop_device, Sanlock, Scratch, MIB,
};

const IMAGE_BYTES: u64 = 40 * MIB;

/// Runs `init <args>` with sanlock on `theirs` and lease on `ours` (`{}` in an argument is
/// replaced by the path) and asserts identical output and identical device contents.
#[track_caller]
fn init_both(sanlock: &Sanlock, theirs: &Path, ours: &Path, args: &[&str]) {
    let with = |path: &Path| -> Vec<String> {
        std::iter::once("direct".to_owned())
            .chain(std::iter::once("init".to_owned()))
            .chain(args.iter().map(|arg| arg.replace("{}", s(path))))
            .collect()
    };
    let their_run = sanlock.run(&with(theirs));
    let our_run = lease(&with(ours));
    assert_eq!(
        our_run.stdout,
        their_run.stdout,
        "{args:?}\n{}",
        our_run.describe()
    );
    assert_eq!(
        our_run.status,
        their_run.status,
        "{args:?}\n{}",
        our_run.describe()
    );
    assert_same_bytes(theirs, ours, args);
}

#[track_caller]
fn assert_same_bytes(theirs: &Path, ours: &Path, what: &[&str]) {
    let (a, b) = (device_bytes(theirs), device_bytes(ours));
    if let Some(at) = first_difference(&a, &b) {
        panic!(
            "{what:?}: lease wrote different bytes than sanlock, first difference at byte {at} \
             (sanlock {:02x?}, lease {:02x?})",
            &a[at..(at + 16).min(a.len())],
            &b[at..(at + 16).min(b.len())]
        );
    }
}

/// The argument sets compared; offsets in `-s` strings are in bytes (sanlock misreads
/// two-digit `M` values there).
const FILE_CASES: &[&[&str]] = &[
    &["-s", "LS:0:{}:0"],
    &["-s", "LS:0:{}:1048576", "-o", "1"],
    &["-s", "LS:0:{}:0", "-o", "65535"],
    &["-s", "LS:0:{}:0", "-o", "0"],
    &["-s", "LS:0:{}:512"],
    &["-s", "LS:0:{}:0", "-Z", "512", "-A", "1M"],
    &["-s", "LS:0:{}:0", "-Z", "4096", "-A", "1M"],
    &["-s", "LS:0:{}:2097152", "-Z", "4096", "-A", "2M", "-o", "20"],
    &["-s", "LS:0:{}:4194304", "-Z", "4096", "-A", "4M"],
    &["-s", "LS:0:{}:8388608", "-Z", "4096", "-A", "8M", "-o", "5"],
    &["-s", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:0:{}:0"],
    &["-r", "LS:res1:{}:1M"],
    &["-r", "LS:res1:{}:1M", "-n", "5"],
    &["-r", "LS:res1:{}:0", "-n", "2001"],
    &["-r", "LS:res1:{}:0:5"],
    &["-r", "LS:res1:{}:0:SH"],
    &["-r", "LS:res1:{}:8M", "-Z", "4096", "-A", "1M", "-n", "300"],
    &["-r", "LS:res1:{}:16M", "-Z", "4096", "-A", "8M"],
    &["-r", "LS:res1:{}:6M", "-Z", "4096", "-A", "2M", "-a", "0"],
    &[
        "-r",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr:{}:1M",
    ],
];

#[test]
fn init_writes_sanlocks_bytes_on_files() {
    let Some(sanlock) = Sanlock::require("init_files") else {
        return;
    };
    let scratch = Scratch::new("init_files");
    for (index, case) in FILE_CASES.iter().enumerate() {
        let theirs = scratch.image(&format!("theirs{index}.img"), IMAGE_BYTES);
        let ours = scratch.image(&format!("ours{index}.img"), IMAGE_BYTES);
        init_both(&sanlock, &theirs, &ours, case);
    }
}

/// Several inits into one image, in sequence, as a vdsm storage domain gets them.
#[test]
fn init_sequence_and_sanlock_reads_it() {
    let Some(sanlock) = Sanlock::require("init_sequence") else {
        return;
    };
    let scratch = Scratch::new("init_sequence");
    let theirs = scratch.image("theirs.img", IMAGE_BYTES);
    let ours = scratch.image("ours.img", IMAGE_BYTES);
    for case in [
        &["-s", "LS:0:{}:0", "-o", "1"][..],
        &["-r", "LS:res1:{}:1M"],
        &["-r", "LS:res2:{}:2M", "-n", "16"],
        &["-r", "LS:res3:{}:3M"],
    ] {
        init_both(&sanlock, &theirs, &ours, case);
    }
    // sanlock reads our areas exactly as its own.
    let ours = s(&ours);
    let theirs = s(&theirs);
    for (what, text) in [
        ("-s", "LS:1:{}:0"),
        ("-s", "LS:2000:{}:0"),
        ("-r", "LS:res1:{}:1048576"),
        ("-r", "LS:res2:{}:2097152"),
    ] {
        let on_ours = sanlock.run(&["direct", "read_leader", what, &text.replace("{}", ours)]);
        let on_theirs = sanlock.run(&["direct", "read_leader", what, &text.replace("{}", theirs)]);
        assert_eq!(on_ours.status, 0, "{}", on_ours.describe());
        assert_eq!(on_ours.stdout, on_theirs.stdout);
        let leader = parse_read_leader(&on_ours.stdout);
        assert_eq!(leader.rv, 0);
        assert_eq!(leader.fields["space_name"], "LS");
        assert_eq!(leader.number("sector_size"), 512);
        assert_eq!(leader.number("flags"), 0x10);
        if what == "-s" {
            assert_eq!(leader.number("magic"), 0x1221_2010);
            assert_eq!(leader.number("io_timeout"), 1);
        } else {
            assert_eq!(leader.number("magic"), 0x0615_2010);
            let expected_hosts = if text.contains("res2") { 16 } else { 2000 };
            assert_eq!(leader.number("num_hosts"), expected_hosts);
        }
    }
    let dump_ours = sanlock.ok(&["direct", "dump", ours, "-f", "1"]);
    let dump_theirs = sanlock.ok(&["direct", "dump", theirs, "-f", "1"]);
    assert_eq!(dump_ours, dump_theirs);
    assert_eq!(dump_ours.lines().count(), 4, "{dump_ours}");
}

/// sanlock can use what we wrote: join (acquire_id) and acquire.
#[test]
fn sanlock_acquires_leases_we_initialised() {
    let Some(sanlock) = Sanlock::require("sanlock_acquires") else {
        return;
    };
    let scratch = Scratch::new("sanlock_acquires");
    let image = scratch.image("disk.img", IMAGE_BYTES);
    let path = s(&image);
    lease(&["direct", "init", "-s", &format!("LS:0:{path}:0"), "-o", "1"]).success();
    lease(&["direct", "init", "-r", &format!("LS:res1:{path}:1M")]).success();
    // io_timeout 1: sanlock waits 2 s inside acquire_id.
    let ls = format!("LS:1:{path}:0");
    sanlock.ok(&["direct", "acquire_id", "-s", &ls, "-o", "1", "-e", "hostA"]);
    let res = format!("LS:res1:{path}:1M");
    sanlock.ok(&["direct", "acquire", "-r", &res, "-i", "1", "-g", "1"]);
    let (theirs, _) = same_output(&sanlock, &["direct", "dump", path]);
    let rows: Vec<&str> = theirs.stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{}", theirs.stdout);
    assert!(
        rows[0].contains("hostA") && rows[0].ends_with("0001 0001"),
        "{}",
        rows[0]
    );
    assert!(
        rows[1].contains("res1") && rows[1].ends_with("0001 0001 1"),
        "{}",
        rows[1]
    );
    same_output(&sanlock, &["direct", "read_leader", "-s", &ls]);
    same_output(&sanlock, &["direct", "read_leader", "-r", &res]);
}

/// `-z 1` writes a cleared lease; only the clear time (write_timestamp, not covered by the
/// checksum) may differ from sanlock's.
#[test]
fn clear_matches_sanlock_except_the_clear_time() {
    let Some(sanlock) = Sanlock::require("clear") else {
        return;
    };
    let scratch = Scratch::new("clear");
    let theirs = scratch.image("theirs.img", IMAGE_BYTES);
    let ours = scratch.image("ours.img", IMAGE_BYTES);
    let args = |path: &Path| {
        vec![
            "direct".to_owned(),
            "init".to_owned(),
            "-r".to_owned(),
            format!("LS:gone:{}:1M", s(path)),
            "-z".to_owned(),
            "1".to_owned(),
        ]
    };
    assert_eq!(sanlock.ok(&args(&theirs)), "init done 0\n");
    assert_eq!(lease(&args(&ours)).success(), "init done 0\n");
    let mut a = device_bytes(&theirs);
    let mut b = device_bytes(&ours);
    let write_timestamp = (MIB + 192) as usize..(MIB + 200) as usize;
    assert_ne!(&b[write_timestamp.clone()], &[0; 8], "clear time not set");
    a[write_timestamp.clone()].fill(0);
    b[write_timestamp].fill(0);
    assert_eq!(first_difference(&a, &b), None);
    let res = format!("LS:gone:{}:1M", s(&ours));
    let run = sanlock.run(&["direct", "read_leader", "-r", &res]);
    let leader = parse_read_leader(&run.stdout);
    assert_eq!(leader.rv, -223);
    assert_eq!(leader.number("magic"), 0x1128_2016);
}

fn init_on_loop_devices(test: &str, sector_size: u32, cases: &[&[&str]]) {
    let Some(sanlock) = Sanlock::require(test) else {
        return;
    };
    let scratch = Scratch::new(test);
    let backing_theirs = scratch.image("theirs.img", IMAGE_BYTES);
    let backing_ours = scratch.image("ours.img", IMAGE_BYTES);
    let Some(theirs) = require_loop_device(test, &backing_theirs, sector_size) else {
        return;
    };
    let Some(ours) = require_loop_device(test, &backing_ours, sector_size) else {
        return;
    };
    for case in cases {
        init_both(&sanlock, theirs.path(), ours.path(), case);
    }
    let (dump, _) = same_output(&sanlock, &["direct", "dump", s(ours.path()), "-f", "1"]);
    assert_eq!(
        sanlock.ok(&["direct", "dump", s(theirs.path()), "-f", "1"]),
        dump.stdout
    );
}

#[test]
fn init_writes_sanlocks_bytes_on_a_512_loop_device() {
    init_on_loop_devices(
        "init_loop_512",
        512,
        &[
            &["-s", "LS:0:{}:0"],
            &["-r", "LS:res1:{}:1M", "-n", "10"],
            &["-r", "LS:res2:{}:2M"],
            &["-s", "LS4K:0:{}:8388608", "-Z", "4096", "-A", "8M"],
            &["-r", "LS4K:res:{}:16M", "-Z", "4096", "-A", "8M"],
        ],
    );
}

#[test]
fn init_writes_sanlocks_bytes_on_a_4096_loop_device() {
    // No -Z/-A on a 4K device: 4096-byte sectors, legacy 8 MiB areas.
    init_on_loop_devices(
        "init_loop_4096",
        4096,
        &[
            &["-s", "LS:0:{}:0"],
            &["-r", "LS:res1:{}:8M"],
            &["-r", "LS:res2:{}:16M", "-n", "3"],
            &["-s", "LS1M:0:{}:25165824", "-Z", "4096", "-A", "1M"],
            &["-r", "LS1M:res:{}:25M", "-Z", "4096", "-A", "1M"],
        ],
    );
}

/// A resource on several disks is initialised on each of them; a missing disk fails the whole
/// command before anything is written. (Offsets of later disks in bytes: sanlock 3.8.5 ignores
/// `M` there.)
#[test]
fn multi_disk_resource_init() {
    let Some(sanlock) = Sanlock::require("multi_disk_init") else {
        return;
    };
    // sanlock 3.8.5 misreads a path with an `M` in it; Scratch's paths have none.
    let scratch = Scratch::new("multi_disk_init");
    let images: Vec<_> = (0..6)
        .map(|i| scratch.image(&format!("d{i}.img"), 8 * MIB))
        .collect();
    let res =
        |a: &Path, b: &Path, c: &Path| format!("LS:r:{}:1048576:{}:2097152:{}:0", s(a), s(b), s(c));
    let theirs = res(&images[0], &images[1], &images[2]);
    let ours = res(&images[3], &images[4], &images[5]);
    assert_eq!(
        sanlock.ok(&["direct", "init", "-r", &theirs]),
        "init done 0\n"
    );
    for image in &images[..3] {
        assert_eq!(std::fs::metadata(image).unwrap().len(), 8 * MIB, "{theirs}");
    }
    assert_eq!(
        lease(&["direct", "init", "-r", &ours]).success(),
        "init done 0\n"
    );
    for i in 0..3 {
        assert_same_bytes(&images[i], &images[i + 3], &["multi-disk", &ours]);
    }
    same_output(&sanlock, &["direct", "read_leader", "-r", &ours]);
    let fresh = scratch.image("fresh.img", 8 * MIB);
    let missing = scratch.path().join("missing.img");
    let run = lease(&["direct", "init", "-r", &res(&fresh, &fresh, &missing)]);
    assert_eq!(run.status, 1, "{}", run.describe());
    assert_eq!(run.stdout, "init done -2\n");
    assert!(
        device_bytes(&fresh).iter().all(|&b| b == 0),
        "first disk written"
    );
}
