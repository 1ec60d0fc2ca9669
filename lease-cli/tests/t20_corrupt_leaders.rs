//! A damaged leader is reported, never repaired: `read_leader` on a leader with a flipped byte
//! gives sanlock's checksum error (-229) and exit status 1, prints the same fields as sanlock,
//! and the device is byte-for-byte unchanged afterwards (devices are opened read-only).

mod common;

use common::{check_dump, check_read_leader, lease, lease_json, s, same_output};
use lease_tests::{device_bytes, digest, flip_bit, parse_read_leader, Sanlock, Scratch, MIB};

const IMAGE_BYTES: u64 = 16 * MIB;

#[test]
fn flipped_byte_in_a_paxos_leader_is_a_checksum_error() {
    let Some(sanlock) = Sanlock::require("flip_paxos") else {
        return;
    };
    let scratch = Scratch::new("flip_paxos");
    let image = scratch.image("disk.img", IMAGE_BYTES);
    let path = s(&image);
    sanlock.ok(&["direct", "init", "-r", &format!("LS:res1:{path}:1M")]);
    // lver (offset 48), covered by the checksum, not checked otherwise.
    flip_bit(&image, MIB + 48, 0x04);
    let before = device_bytes(&image);
    let res = format!("LS:res1:{path}:1M");
    let (_, ours) = same_output(&sanlock, &["direct", "read_leader", "-r", &res]);
    ours.expect_status(1);
    let leader = parse_read_leader(&ours.stdout);
    assert_eq!(leader.rv, -229, "{}", ours.describe());
    assert_eq!(
        leader.number("lver"),
        4,
        "the damaged value is shown as read"
    );
    assert!(ours.stderr.contains("checksum"), "{}", ours.describe());
    assert!(
        ours.stderr.contains(path),
        "stderr names the device: {}",
        ours.describe()
    );
    check_read_leader(&sanlock, "-r", &res, &[]);
    let (_, json) = lease_json(&["direct", "read_leader", "-r", &res]);
    assert_eq!(json["result"], -229);
    assert!(
        json["error"]
            .as_str()
            .is_some_and(|e| e.contains("checksum")),
        "{json}"
    );
    // dump does not verify checksums (neither does sanlock's): it still lists the lease.
    check_dump(&sanlock, path, &[]);
    let after = device_bytes(&image);
    assert!(
        before == after,
        "device changed: digest {:x} before, {:x} after",
        digest(&before),
        digest(&after)
    );
}

#[test]
fn flipped_byte_in_a_delta_leader_is_a_checksum_error() {
    let Some(sanlock) = Sanlock::require("flip_delta") else {
        return;
    };
    let scratch = Scratch::new("flip_delta");
    let image = scratch.image("disk.img", IMAGE_BYTES);
    let path = s(&image);
    sanlock.ok(&["direct", "init", "-s", &format!("LS:0:{path}:0")]);
    // Host 3's timestamp (offset 152 of its sector).
    flip_bit(&image, 2 * 512 + 152, 0x01);
    let before = device_bytes(&image);
    let ls = format!("LS:3:{path}:0");
    let (_, ours) = same_output(&sanlock, &["direct", "read_leader", "-s", &ls]);
    let leader = parse_read_leader(&ours.stdout);
    assert_eq!(leader.rv, -229, "{}", ours.describe());
    assert_eq!(ours.status, 1);
    check_read_leader(&sanlock, "-s", &ls, &[]);
    // Host 2 is intact.
    let ok = lease(&["direct", "read_leader", "-s", &format!("LS:2:{path}:0")]);
    assert_eq!(parse_read_leader(ok.success()).rv, 0);
    // A byte outside the checksummed range (io_timeout at 174) is not an error, as in sanlock.
    flip_bit(&image, 3 * 512 + 174, 0x01);
    check_read_leader(&sanlock, "-s", &format!("LS:4:{path}:0"), &[]);
    let after = device_bytes(&image);
    let mut expected = before;
    expected[3 * 512 + 174] ^= 0x01;
    assert!(expected == after, "read_leader modified the device");
}

/// Every verification failure gives sanlock's code and the same text.
#[test]
fn verification_failures_match_sanlock() {
    let Some(sanlock) = Sanlock::require("verify") else {
        return;
    };
    let scratch = Scratch::new("verify");
    let image = scratch.image("disk.img", IMAGE_BYTES);
    let path = s(&image);
    sanlock.ok(&["direct", "init", "-s", &format!("LS:0:{path}:0")]);
    sanlock.ok(&["direct", "init", "-r", &format!("LS:res1:{path}:1M")]);
    sanlock.ok(&[
        "direct",
        "init",
        "-r",
        &format!("LS:gone:{path}:2M"),
        "-z",
        "1",
    ]);
    let before = device_bytes(&image);
    let cases: &[(&str, String, i64)] = &[
        ("-s", format!("OTHER:1:{path}:0"), -226),
        ("-r", format!("OTHER:res1:{path}:1M"), -226),
        ("-r", format!("LS:other:{path}:1M"), -227),
        ("-r", format!("LS:gone:{path}:2M"), -223),
        ("-r", format!("LS:res1:{path}:3M"), -223),
        ("-r", format!("LS:res1:{path}:0"), -223),
        ("-s", format!("LS:1:{path}:3M"), -1),
        ("-s", format!("LS:2001:{path}:0"), -223),
    ];
    for (what, text, rv) in cases {
        let (theirs, ours) = same_output(&sanlock, &["direct", "read_leader", what, text]);
        assert_eq!(parse_read_leader(&theirs.stdout).rv, *rv, "{text}");
        assert_eq!(ours.status, 1);
        assert!(!ours.stderr.is_empty(), "no explanation for {text}");
        check_read_leader(&sanlock, what, text, &[]);
    }
    // A wrong major version (-224) in a crafted leader.
    flip_bit(&image, MIB + 6, 0x01);
    let res = format!("LS:res1:{path}:1M");
    let (theirs, _) = same_output(&sanlock, &["direct", "read_leader", "-r", &res]);
    assert_eq!(parse_read_leader(&theirs.stdout).rv, -224);
    let mut expected = before;
    expected[(MIB + 6) as usize] ^= 0x01;
    assert!(
        expected == device_bytes(&image),
        "read_leader modified the device"
    );
}

/// Several disks: a majority of verified, identical leaders is needed (-222 otherwise), as in
/// sanlock; the output matches sanlock's in every case.
#[test]
fn multi_disk_read_leader_needs_a_majority() {
    let Some(sanlock) = Sanlock::require("multi_disk_read") else {
        return;
    };
    let scratch = Scratch::new("multi_disk_read");
    let a = scratch.image("a.img", 4 * MIB);
    let b = scratch.image("b.img", 4 * MIB);
    let c = scratch.image("c.img", 4 * MIB);
    let empty = scratch.image("empty.img", 4 * MIB);
    for path in [&a, &b] {
        sanlock.ok(&["direct", "init", "-r", &format!("LS:r:{}:1M", s(path))]);
    }
    sanlock.ok(&[
        "direct",
        "init",
        "-r",
        &format!("LS:r:{}:1M", s(&c)),
        "-n",
        "7",
    ]);
    let disks = |list: &[&std::path::Path]| {
        let mut text = "LS:r".to_owned();
        for path in list {
            text.push_str(&format!(":{}:1048576", s(path)));
        }
        text
    };
    for (list, rv) in [
        (vec![&*a, &*b], 0),
        (vec![&*a, &*c], -222),
        (vec![&*a, &*b, &*c], 0),
        (vec![&*c, &*a, &*b], 0),
        (vec![&*c, &*empty, &*b], -222),
    ] {
        let text = disks(&list);
        let (theirs, _) = same_output(&sanlock, &["direct", "read_leader", "-r", &text]);
        assert_eq!(parse_read_leader(&theirs.stdout).rv, rv, "{text}");
    }
}
