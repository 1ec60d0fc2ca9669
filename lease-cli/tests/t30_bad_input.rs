//! Bad input: every refusal exits non-zero, explains itself on stderr (naming what was wrong),
//! prints sanlock's `done` line or message where sanlock has one, and writes nothing.

mod common;

use std::path::Path;

use common::{lease, s, same_output};
use lease_tests::{device_bytes, require_loop_device, Run, Sanlock, Scratch, MIB};

const IMAGE_BYTES: u64 = 16 * MIB;

/// Runs `lease args` (`{}` replaced by the image path) on a fresh zero image and asserts exit
/// status 1, the given stdout, a stderr containing every `needles` entry, and an untouched image.
#[track_caller]
fn refused(scratch: &Scratch, name: &str, args: &[&str], stdout: &str, needles: &[&str]) -> Run {
    let image = scratch.image(name, IMAGE_BYTES);
    let before = device_bytes(&image);
    let args: Vec<String> = args.iter().map(|a| a.replace("{}", s(&image))).collect();
    let run = lease(&args);
    assert_eq!(run.status, 1, "{}", run.describe());
    assert_eq!(run.stdout, stdout, "{}", run.describe());
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "stderr lacks {needle:?}: {}",
            run.describe()
        );
    }
    assert!(
        before == device_bytes(&image),
        "{args:?} modified the image"
    );
    run
}

#[test]
fn misaligned_offsets_write_nothing() {
    let scratch = Scratch::new("misaligned");
    let needles = ["offset 100", "not a multiple of the sector size 512"];
    refused(
        &scratch,
        "a.img",
        &["direct", "init", "-s", "LS:0:{}:100"],
        "init done -22\n",
        &needles,
    );
    refused(
        &scratch,
        "b.img",
        &["direct", "init", "-r", "LS:r:{}:100"],
        "init done -22\n",
        &needles,
    );
    // sanlock writes a 4K-sector lease at a 512-aligned offset of a file; we refuse it.
    refused(
        &scratch,
        "c.img",
        &[
            "direct",
            "init",
            "-r",
            "LS:r:{}:512",
            "-Z",
            "4096",
            "-A",
            "1M",
        ],
        "init done -22\n",
        &["offset 512", "multiple of the sector size 4096"],
    );
}

#[test]
fn misaligned_offset_output_matches_sanlock() {
    let Some(sanlock) = Sanlock::require("misaligned_sanlock") else {
        return;
    };
    let scratch = Scratch::new("misaligned_sanlock");
    let image = scratch.image("a.img", IMAGE_BYTES);
    for what in [
        format!("-s LS:0:{}:100", s(&image)),
        format!("-r LS:r:{}:1000", s(&image)),
    ] {
        let mut args = vec!["direct", "init"];
        args.extend(what.split(' '));
        same_output(&sanlock, &args);
    }
    assert!(device_bytes(&image).iter().all(|&b| b == 0));
}

#[test]
fn bad_sector_align_combinations() {
    let scratch = Scratch::new("bad_sizes");
    let two_lines = |ss: u32, align: u64| {
        format!(
            "Invalid sector_size/align_size combination ({ss}/{align})\nUse one of: 512/1M, \
             4096/1M, 4096/2M, 4096/4M, 4096/8M.\n"
        )
    };
    for (sizes, ss, align) in [
        (&["-Z", "512", "-A", "2M"][..], 512, 2 * MIB),
        (&["-Z", "512", "-A", "8M"], 512, 8 * MIB),
        (&["-A", "4M"], 0, 4 * MIB),
    ] {
        for action in [
            &["direct", "init", "-s", "LS:0:{}:0"][..],
            &["direct", "init", "-r", "LS:r:{}:0"],
            &["direct", "read_leader", "-s", "LS:1:{}:0"],
            &["direct", "dump", "{}"],
        ] {
            let mut args = action.to_vec();
            args.extend_from_slice(sizes);
            refused(&scratch, "x.img", &args, &two_lines(ss, align), &["-A"]);
        }
    }
    // -Z without -A: sanlock's init says -1 and does nothing.
    refused(
        &scratch,
        "z.img",
        &["direct", "init", "-s", "LS:0:{}:0", "-Z", "4096"],
        "init done -1\n",
        &["-Z 4096 was given without -A"],
    );
}

#[test]
fn bad_sector_align_output_matches_sanlock() {
    let Some(sanlock) = Sanlock::require("bad_sizes_sanlock") else {
        return;
    };
    let scratch = Scratch::new("bad_sizes_sanlock");
    let image = scratch.image("a.img", IMAGE_BYTES);
    let path = s(&image);
    let ls = format!("LS:0:{path}:0");
    for sizes in [
        &["-Z", "512", "-A", "2M"][..],
        &["-A", "8M"],
        &["-Z", "512"],
    ] {
        let mut args = vec!["direct", "init", "-s", ls.as_str()];
        args.extend_from_slice(sizes);
        same_output(&sanlock, &args);
    }
    same_output(&sanlock, &["direct", "dump", path, "-Z", "512", "-A", "4M"]);
    assert!(device_bytes(&image).iter().all(|&b| b == 0));
}

#[test]
fn unknown_sizes_are_usage_errors() {
    let scratch = Scratch::new("usage");
    let image = scratch.image("a.img", IMAGE_BYTES);
    let ls = format!("LS:0:{}:0", s(&image));
    for args in [
        vec![
            "direct",
            "init",
            "-s",
            ls.as_str(),
            "-Z",
            "1000",
            "-A",
            "1M",
        ],
        vec![
            "direct",
            "init",
            "-s",
            ls.as_str(),
            "-Z",
            "4096",
            "-A",
            "3M",
        ],
        vec!["direct", "init", "-s", ls.as_str(), "-o", "65536"],
        vec!["direct", "init"],
        vec!["direct", "init", "-s", ls.as_str(), "-r", "LS:r:x:0"],
    ] {
        let run = lease(&args);
        assert_eq!(run.status, 2, "{}", run.describe());
        assert!(run.stderr.contains("error"), "{}", run.describe());
        assert!(run.stdout.is_empty());
    }
    assert!(device_bytes(&image).iter().all(|&b| b == 0));
}

#[test]
fn names_longer_than_48_bytes_are_refused() {
    let scratch = Scratch::new("long_names");
    let n49 = "a".repeat(49);
    let needles = ["49 bytes", "maximum is 48"];
    refused(
        &scratch,
        "a.img",
        &["direct", "init", "-s", &format!("{n49}:0:{{}}:0")],
        "init done -22\n",
        &needles,
    );
    refused(
        &scratch,
        "b.img",
        &["direct", "init", "-r", &format!("LS:{n49}:{{}}:0")],
        "init done -22\n",
        &["resource name", "49 bytes"],
    );
    refused(
        &scratch,
        "c.img",
        &["direct", "init", "-r", &format!("{n49}:r:{{}}:0")],
        "init done -22\n",
        &["lockspace name", "49 bytes"],
    );
    let run = refused(
        &scratch,
        "d.img",
        &["direct", "init", "-s", ":0:{}:0"],
        "init done -22\n",
        &[],
    );
    assert!(
        run.stderr.contains("lockspace name is empty"),
        "{}",
        run.describe()
    );
}

/// Documents the difference: sanlock truncates a 49-byte lockspace name and writes.
#[test]
fn sanlock_would_truncate_a_49_byte_lockspace_name() {
    let Some(sanlock) = Sanlock::require("truncate") else {
        return;
    };
    let scratch = Scratch::new("truncate");
    let image = scratch.image("a.img", IMAGE_BYTES);
    let n49 = "a".repeat(49);
    let ls = format!("{n49}:0:{}:0", s(&image));
    assert_eq!(sanlock.ok(&["direct", "init", "-s", &ls]), "init done 0\n");
    let bytes = device_bytes(&image);
    assert_eq!(&bytes[56..104], "a".repeat(48).as_bytes());
}

#[test]
fn bad_lease_strings_are_explained() {
    let scratch = Scratch::new("bad_strings");
    for (text, needle) in [
        ("LS:0:{}", "missing offset"),
        ("LS:0:{}:12x", "\"12x\" is not a valid number"),
        ("LS:x:{}:0", "host_id \"x\""),
        ("LS:0:{}:0:extra", "unexpected extra field"),
    ] {
        refused(
            &scratch,
            "a.img",
            &["direct", "init", "-s", text],
            "init done -22\n",
            &[needle],
        );
    }
    let long_path = format!("{}/{}", "d".repeat(600), "p".repeat(600));
    refused(
        &scratch,
        "b.img",
        &["direct", "init", "-r", &format!("LS:r:{long_path}:0")],
        "init done -22\n",
        &["path is 1201 bytes long"],
    );
    refused(
        &scratch,
        "c.img",
        &["direct", "init", "-r", "LS:r:{}:0:b:0:c:0:d:0:e:0"],
        "init done -22\n",
        &["5 disks given"],
    );
    let run = lease(&["direct", "read_leader", "-s", "LS:0:/nonexistent:0"]);
    assert_eq!(run.status, 1);
    assert!(
        run.stdout.starts_with("read_leader done -22\n"),
        "{}",
        run.describe()
    );
    assert!(run.stderr.contains("host_id"), "{}", run.describe());
}

#[test]
fn nonexistent_paths() {
    let scratch = Scratch::new("nonexistent");
    let missing = scratch.path().join("missing.img");
    let path = s(&missing);
    let cases = [
        (
            vec!["direct", "init", "-s"],
            format!("LS:0:{path}:0"),
            "init done -19\n",
        ),
        (
            vec!["direct", "init", "-r"],
            format!("LS:r:{path}:0"),
            "init done -2\n",
        ),
    ];
    for (args, text, stdout) in cases {
        let mut args = args;
        args.push(&text);
        let run = lease(&args);
        assert_eq!(run.status, 1, "{}", run.describe());
        assert_eq!(run.stdout, stdout);
        assert!(run.stderr.contains(path), "{}", run.describe());
        assert!(run.stderr.contains("No such file"), "{}", run.describe());
        assert!(!missing.exists(), "{} was created", missing.display());
    }
    let run = lease(&["direct", "dump", path]);
    assert_eq!(run.status, 1);
    assert_eq!(run.stdout, format!("Device {path} not found.\n"));
    assert!(run.stderr.contains(path), "{}", run.describe());
    let run = lease(&["direct", "read_leader", "-r", &format!("LS:r:{path}:0")]);
    assert_eq!(run.status, 1);
    assert!(
        run.stdout.starts_with("read_leader done -2\n"),
        "{}",
        run.describe()
    );
    assert!(!Path::new(path).exists());
}

#[test]
fn nonexistent_paths_match_sanlock() {
    let Some(sanlock) = Sanlock::require("nonexistent_sanlock") else {
        return;
    };
    let scratch = Scratch::new("nonexistent_sanlock");
    let path = scratch.path().join("missing.img");
    let path = s(&path);
    same_output(
        &sanlock,
        &["direct", "init", "-s", &format!("LS:0:{path}:0")],
    );
    same_output(
        &sanlock,
        &["direct", "init", "-r", &format!("LS:r:{path}:0")],
    );
    same_output(&sanlock, &["direct", "dump", path]);
}

/// A 512-byte-sector lease on a 4K device could never be written sector by sector: refused.
#[test]
fn sector_size_below_the_devices_is_refused() {
    let scratch = Scratch::new("small_sector");
    let backing = scratch.image("backing.img", IMAGE_BYTES);
    let Some(device) = require_loop_device("small_sector", &backing, 4096) else {
        return;
    };
    let before = device_bytes(device.path());
    let run = lease(&[
        "direct",
        "init",
        "-r",
        &format!("LS:r:{}:0", s(device.path())),
        "-Z",
        "512",
        "-A",
        "1M",
    ]);
    assert_eq!(run.status, 1, "{}", run.describe());
    assert_eq!(run.stdout, "init done -22\n");
    assert!(
        run.stderr.contains("logical sector size 4096"),
        "{}",
        run.describe()
    );
    assert!(before == device_bytes(device.path()));
}

/// A block device too small for the area: refused before writing.
#[test]
fn area_beyond_the_end_of_a_block_device_is_refused() {
    let scratch = Scratch::new("too_small");
    let backing = scratch.image("backing.img", 2 * MIB);
    let Some(device) = require_loop_device("too_small", &backing, 512) else {
        return;
    };
    let run = lease(&[
        "direct",
        "init",
        "-r",
        &format!("LS:r:{}:1536K", s(device.path())),
    ]);
    assert_eq!(run.stdout, "init done -22\n", "{}", run.describe());
    let run = lease(&[
        "direct",
        "init",
        "-r",
        &format!("LS:r:{}:1572864", s(device.path())),
    ]);
    assert_eq!(run.status, 1, "{}", run.describe());
    assert_eq!(run.stdout, "init done -34\n");
    assert!(run.stderr.contains("does not fit"), "{}", run.describe());
    assert!(device_bytes(device.path()).iter().all(|&b| b == 0));
}
