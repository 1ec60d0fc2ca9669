//! sanlock writes, we read: areas written by the real `sanlock direct init` (and acquired with
//! `sanlock direct acquire_id` / `acquire`, or crafted where sanlock's direct commands cannot
//! reach a state) must give byte-identical `dump` and `read_leader` text from `lease`, and
//! `--json` values equal to sanlock's fields.
//!
//! Offsets in `-s` strings are written in bytes: sanlock 3.8.5's lockspace parser misreads
//! two-digit `M` offsets (`16M` becomes 168 MiB).

mod common;

use common::{check_dump, check_read_leader, poke, s};
use lease_tests::{require_loop_device, Sanlock, Scratch, MIB};

const IMAGE_BYTES: u64 = 64 * MIB;

/// A lockspace and resources as vdsm lays them out, written by sanlock.
struct Layout {
    /// -Z/-A arguments (empty for the device default).
    sizes: Vec<&'static str>,
    /// Area size in bytes.
    align: u64,
}

impl Layout {
    fn init(&self, sanlock: &Sanlock, path: &str) {
        let ls = format!("LS:0:{path}:0");
        let mut args = vec!["direct", "init", "-s", &ls, "-o", "1"];
        args.extend(self.sizes.iter().copied());
        sanlock.ok(&args);
        for (index, (name, num_hosts)) in [("res1", "0"), ("res2", "8")].iter().enumerate() {
            let res = format!("LS:{name}:{path}:{}", (index as u64 + 1) * self.align);
            let mut args = vec!["direct", "init", "-r", &res, "-n", num_hosts];
            args.extend(self.sizes.iter().copied());
            sanlock.ok(&args);
        }
    }

    fn res(&self, path: &str, index: u64) -> String {
        format!("LS:res{index}:{path}:{}", index * self.align)
    }

    /// dump (plain and -f 1) and read_leader of hosts 1, 2 and both resources.
    fn compare_all(&self, sanlock: &Sanlock, path: &str) {
        for full in [&[][..], &["-f", "1"][..]] {
            check_dump(sanlock, path, full);
        }
        for host in [1, 2] {
            check_read_leader(sanlock, "-s", &format!("LS:{host}:{path}:0"), &[]);
        }
        for index in [1, 2] {
            check_read_leader(sanlock, "-r", &self.res(path, index), &[]);
        }
    }
}

fn run_file_layout(test: &str, sizes: Vec<&'static str>, align: u64, acquire: bool) {
    let Some(sanlock) = Sanlock::require(test) else {
        return;
    };
    let scratch = Scratch::new(test);
    let image = scratch.image("disk.img", IMAGE_BYTES);
    let path = s(&image);
    let layout = Layout { sizes, align };
    layout.init(&sanlock, path);
    layout.compare_all(&sanlock, path);
    if acquire {
        // io_timeout 1 in the lockspace: acquire_id waits 2 s inside sanlock.
        let ls = format!("LS:1:{path}:0");
        let mut args = vec!["direct", "acquire_id", "-s", &ls, "-o", "1", "-e", "hostA"];
        args.extend(layout.sizes.iter().copied());
        sanlock.ok(&args);
        let res = layout.res(path, 1);
        let mut args = vec!["direct", "acquire", "-r", &res, "-i", "1", "-g", "1"];
        args.extend(layout.sizes.iter().copied());
        sanlock.ok(&args);
        let dump = check_dump(&sanlock, path, &[]);
        assert!(
            dump.contains("hostA"),
            "acquired host id missing from dump:\n{dump}"
        );
        layout.compare_all(&sanlock, path);
    }
}

#[test]
fn file_512_1m_fresh_and_acquired() {
    run_file_layout("file_512_1m", vec![], MIB, true);
}

#[test]
fn file_4096_8m_fresh_and_acquired() {
    run_file_layout(
        "file_4096_8m",
        vec!["-Z", "4096", "-A", "8M"],
        8 * MIB,
        true,
    );
}

#[test]
fn file_4096_1m_2m_4m_fresh() {
    for (align, text) in [(MIB, "1M"), (2 * MIB, "2M"), (4 * MIB, "4M")] {
        run_file_layout(
            &format!("file_4096_{text}"),
            vec!["-Z", "4096", "-A", text],
            align,
            false,
        );
    }
}

#[test]
fn sizes_given_explicitly_read_the_same() {
    let Some(sanlock) = Sanlock::require("sizes_given") else {
        return;
    };
    let scratch = Scratch::new("sizes_given");
    let image = scratch.image("disk.img", IMAGE_BYTES);
    let path = s(&image);
    let layout = Layout {
        sizes: vec!["-Z", "4096", "-A", "2M"],
        align: 2 * MIB,
    };
    layout.init(&sanlock, path);
    let sizes = ["-Z", "4096", "-A", "2M"];
    check_dump(&sanlock, path, &sizes);
    check_read_leader(&sanlock, "-s", &format!("LS:2:{path}:0"), &sizes);
    check_read_leader(&sanlock, "-r", &layout.res(path, 2), &sizes);
    // Sizes that do not match the layout: both read the same (wrong) sector. (A dump with
    // wrong sizes is not compared: sanlock then reads past its buffer and prints garbage.)
    check_read_leader(
        &sanlock,
        "-s",
        &format!("LS:2:{path}:0"),
        &["-Z", "512", "-A", "1M"],
    );
}

#[test]
fn dump_targets_offsets_and_sizes() {
    let Some(sanlock) = Sanlock::require("dump_targets") else {
        return;
    };
    let scratch = Scratch::new("dump_targets");
    let image = scratch.image("disk.img", IMAGE_BYTES);
    let path = s(&image);
    Layout {
        sizes: vec![],
        align: MIB,
    }
    .init(&sanlock, path);
    // A resource after a gap: the walk stops at the empty area before it.
    sanlock.ok(&["direct", "init", "-r", &format!("LS:far:{path}:5M")]);
    for suffix in [
        ":0",
        ":1M",
        ":1048576",
        ":0x100000",
        ":512",
        ":1024:512",
        ":1024:511",
        ":0:1M",
        ":0:512",
        ":0:1048577",
        ":0:2M",
        ":1M:0",
        "::1M",
        ":1M:",
        ":3M",
        ":5M",
        ":4M",
        ":2M:1M",
    ] {
        check_dump(&sanlock, &format!("{path}{suffix}"), &[]);
        check_dump(&sanlock, &format!("{path}{suffix}"), &["-f", "1"]);
    }
}

#[test]
fn dump_of_rindex_areas() {
    let Some(sanlock) = Sanlock::require("dump_rindex") else {
        return;
    };
    let scratch = Scratch::new("dump_rindex");
    let image = scratch.image("disk.img", IMAGE_BYTES);
    let path = s(&image);
    sanlock.ok(&["direct", "init", "-s", &format!("LS:0:{path}:0")]);
    let rindex = format!("LS:{path}:1048576");
    sanlock.ok(&["direct", "format", "-x", &rindex]);
    sanlock.ok(&["direct", "init", "-r", &format!("LS:resA:{path}:3145728")]);
    sanlock.ok(&["direct", "update", "-x", &rindex, "-e", "resA:3145728"]);
    sanlock.ok(&["direct", "update", "-x", &rindex, "-e", "resB:5242880"]);
    check_dump(&sanlock, path, &[]);
    check_dump(&sanlock, path, &["-f", "1"]);
    check_dump(&sanlock, &format!("{path}:1M"), &["-f", "1"]);
}

/// States the direct commands cannot produce: bitmap bits, shared holders (also beyond
/// num_hosts), request records, a slot with a foreign magic, a cleared lease ending the walk.
#[test]
fn dump_of_crafted_states_matches() {
    let Some(sanlock) = Sanlock::require("dump_crafted") else {
        return;
    };
    let scratch = Scratch::new("dump_crafted");
    let image = scratch.image("disk.img", IMAGE_BYTES);
    let path = s(&image);
    let layout = Layout {
        sizes: vec![],
        align: MIB,
    };
    layout.init(&sanlock, path);
    // Host 1: owner 1 generation 1, bitmap bits for hosts 2, 5 and 2000 (and 2001, not shown).
    poke(
        &image,
        32,
        &[1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
    );
    poke(&image, 256, &[0x12]);
    poke(&image, 256 + 249, &[0x80, 0x01]);
    // Host 7: foreign magic but owner set (shown); host 8: magic 0 (skipped).
    poke(&image, 6 * 512, &0xdead_beef_u32.to_le_bytes());
    poke(&image, 6 * 512 + 32, &[7, 0, 0, 0, 0, 0, 0, 0, 3]);
    poke(&image, 7 * 512, &[0, 0, 0, 0]);
    poke(&image, 7 * 512 + 32, &[8]);
    // res1: request lver 5 force 2; SH holders host 2 (gen 7) and 2000 (gen 9, flags 3).
    poke(&image, MIB + 512 + 8, &[5, 0, 0, 0, 0, 0, 0, 0, 2]);
    poke(&image, MIB + 3 * 512 + 128, &[1, 0, 0, 0, 0, 0, 0, 0, 7]);
    poke(&image, MIB + 2001 * 512 + 128, &[3, 0, 0, 0, 0, 0, 0, 0, 9]);
    // res2 has num_hosts 8: host 5 is shown, host 9 is not.
    poke(
        &image,
        2 * MIB + 6 * 512 + 128,
        &[1, 0, 0, 0, 0, 0, 0, 0, 4],
    );
    poke(
        &image,
        2 * MIB + 10 * 512 + 128,
        &[1, 0, 0, 0, 0, 0, 0, 0, 4],
    );
    // A cleared lease at 3M stops the walk before the lease at 4M.
    sanlock.ok(&[
        "direct",
        "init",
        "-r",
        &format!("LS:gone:{path}:3M"),
        "-z",
        "1",
    ]);
    sanlock.ok(&["direct", "init", "-r", &format!("LS:after:{path}:4M")]);
    let text = check_dump(&sanlock, path, &[]);
    assert!(text.contains(" SH\n"), "no SH row:\n{text}");
    check_dump(&sanlock, path, &["-f", "1"]);
    check_dump(&sanlock, &format!("{path}:4M"), &["-f", "1"]);
    check_read_leader(&sanlock, "-r", &format!("LS:gone:{path}:3M"), &[]);
}

/// The same with 4096-byte sectors: the bitmap is reported up to max_hosts of the geometry
/// (250 for 4096/1M), mode blocks sit at +128 of 4 KiB host sectors.
#[test]
fn dump_of_crafted_states_4096_matches() {
    let Some(sanlock) = Sanlock::require("dump_crafted_4k") else {
        return;
    };
    let scratch = Scratch::new("dump_crafted_4k");
    let image = scratch.image("disk.img", IMAGE_BYTES);
    let path = s(&image);
    let layout = Layout {
        sizes: vec!["-Z", "4096", "-A", "1M"],
        align: MIB,
    };
    layout.init(&sanlock, path);
    // Host 1 owned, bits for hosts 10, 249, 250 and 251 (251 is beyond max_hosts 250).
    poke(&image, 32, &[1, 0, 0, 0, 0, 0, 0, 0, 2]);
    poke(&image, 256 + 1, &[0x02]);
    poke(&image, 256 + 31, &[0x03]);
    poke(&image, 256 + 32, &[0x04]);
    poke(&image, 256 + 31, &[0x07]);
    // Host 256 (last sector of the area, beyond max_hosts) owned: still listed.
    poke(&image, 255 * 4096 + 32, &[9, 0, 0, 0, 0, 0, 0, 0, 9]);
    // res1 (num_hosts 250): host 3 shared with generation 12.
    poke(&image, MIB + 4 * 4096 + 128, &[1, 0, 0, 0, 0, 0, 0, 0, 12]);
    for full in [&[][..], &["-f", "1"][..]] {
        check_dump(&sanlock, path, full);
    }
    let text = check_dump(&sanlock, path, &["-f", "1"]);
    assert!(text.contains(" 0001 0002 10 249 250\n"), "{text}");
}

fn run_loop_layout(test: &str, sector_size: u32, sizes: Vec<&'static str>, align: u64) {
    let Some(sanlock) = Sanlock::require(test) else {
        return;
    };
    let scratch = Scratch::new(test);
    let backing = scratch.image("backing.img", IMAGE_BYTES);
    let Some(device) = require_loop_device(test, &backing, sector_size) else {
        return;
    };
    let path = s(device.path());
    let layout = Layout { sizes, align };
    layout.init(&sanlock, path);
    layout.compare_all(&sanlock, path);
    check_dump(&sanlock, &format!("{path}:{}", align), &["-f", "1"]);
}

#[test]
fn loop_device_512() {
    run_loop_layout("loop_512", 512, vec![], MIB);
}

#[test]
fn loop_device_4096_default_sizes() {
    // A 4K device without -Z/-A gets 4096-byte sectors and the legacy 8 MiB align.
    run_loop_layout("loop_4096", 4096, vec![], 8 * MIB);
}

#[test]
fn loop_device_4096_1m() {
    run_loop_layout("loop_4096_1m", 4096, vec!["-Z", "4096", "-A", "1M"], MIB);
}
