//! Bad input on the daemon socket: malformed, truncated, bad-magic and unknown-command
//! messages sent raw to our daemon get exactly the bytes the real sanlock 3.8.5 daemon answers
//! (recorded in `lease-wire/tests/golden/capture.log`, and compared live with a sanlock daemon
//! started next to ours), and the daemon keeps serving other clients afterwards.

mod common;

use std::io::{Read, Write};
use std::path::Path;

use common::LEASE;
use lease_tests::wire::{self, header, header_with, lockspace, HEADER_LEN, MAGIC};
use lease_tests::{DaemonProcess, Sanlock, Scratch};

/// What sanlock answered to a probe in the golden capture.
#[derive(Debug, Clone, Copy)]
enum Golden {
    /// Recorded: these reply bytes (hex), then the connection closed.
    Reply(&'static str),
    /// Not recorded by the capture: compared with the live sanlock only.
    Live,
}

struct Probe {
    name: &'static str,
    bytes: Vec<u8>,
    golden: Golden,
}

/// The VERSION reply of sanlock 3.8.5 (and ours): result 0, data2 0x03080500.
const VERSION_REPLY: &str = "10202804010000001c0000000000000020000000000000000000000000050803";
/// GET_LOCKSPACES with no lockspace joined: an empty reply with count 0.
const EMPTY_GET_LOCKSPACES: &str =
    "1020280401000000160000000000000020000000000000000000000000000000";
/// INQ_LOCKSPACE whose body never came: -ENOTCONN (-107).
const INQ_NOT_CONNECTED: &str = "10202804010000001000000000000000200000000000000095ffffff00000000";
/// INQ_LOCKSPACE of a lockspace that is not joined: -ENOENT.
const INQ_NOT_FOUND: &str = "102028040100000010000000000000002000000000000000feffffff00000000";

fn version_request() -> Vec<u8> {
    header(wire::CMD_VERSION, HEADER_LEN as u32, 0)
}

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Bytes that never start a header with sanlock's magic (deterministic xorshift).
fn garbage(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut out: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    for chunk in out.chunks_mut(HEADER_LEN) {
        if chunk.len() >= 4 && wire::field(chunk, 0) == MAGIC {
            chunk[0] ^= 0xff;
        }
    }
    out
}

fn probes(disk: &Path) -> Vec<Probe> {
    let disk = disk.as_os_str().as_encoded_bytes();
    let ls_ok = lockspace(b"LS", 0, disk, 0);
    let body_len = (HEADER_LEN + ls_ok.len()) as u32;
    vec![
        Probe {
            name: "bad_magic",
            bytes: header_with(0x1234_5678, 1, 22, 0, 32, 0, 0, 0),
            golden: Golden::Reply(""),
        },
        Probe {
            // The bad header is dropped without a reply; the connection is still served.
            name: "bad_magic_then_version",
            bytes: concat(&[&header_with(1, 1, 28, 0, 32, 0, 0, 0), &version_request()]),
            golden: Golden::Reply(VERSION_REPLY),
        },
        Probe {
            name: "bad_version",
            bytes: header_with(MAGIC, 7, 22, 0, 32, 0, 0, 0),
            golden: Golden::Reply(EMPTY_GET_LOCKSPACES),
        },
        Probe {
            name: "unknown_cmd_99",
            bytes: header(99, 32, 0),
            golden: Golden::Reply(""),
        },
        Probe {
            name: "cmd_0",
            bytes: header(0, 32, 0),
            golden: Golden::Reply(""),
        },
        Probe {
            name: "unknown_cmd_41_then_version",
            bytes: concat(&[&header(41, 32, 0), &version_request()]),
            golden: Golden::Live,
        },
        Probe {
            name: "short_header",
            bytes: header(22, 32, 0)[..20].to_vec(),
            golden: Golden::Reply(""),
        },
        Probe {
            name: "length_below_header",
            bytes: header(22, 16, 0),
            golden: Golden::Reply(EMPTY_GET_LOCKSPACES),
        },
        Probe {
            name: "truncated_body",
            bytes: concat(&[&header(16, body_len, 0), &ls_ok[..100]]),
            golden: Golden::Reply(INQ_NOT_CONNECTED),
        },
        Probe {
            name: "inq_no_body",
            bytes: header(16, 32, 0),
            golden: Golden::Reply(INQ_NOT_CONNECTED),
        },
        Probe {
            name: "name_no_nul",
            bytes: concat(&[
                &header(16, body_len, 0),
                &lockspace(&[b'N'; 48], 0, disk, 0),
            ]),
            golden: Golden::Reply(INQ_NOT_FOUND),
        },
        Probe {
            name: "oversize_length",
            bytes: concat(&[&header(16, 0x10_0000, 0), &ls_ok]),
            golden: Golden::Reply(INQ_NOT_FOUND),
        },
        Probe {
            name: "get_hosts_unknown_ls",
            bytes: concat(&[&header(23, body_len, 0), &lockspace(b"NOPE", 0, b"", 0)]),
            golden: Golden::Reply(
                "102028040100000017000000000000002000000000000000feffffff00000000",
            ),
        },
        Probe {
            name: "garbage_then_version",
            bytes: concat(&[&garbage(64 * 1024), &version_request()]),
            golden: Golden::Live,
        },
        Probe {
            name: "two_versions_one_write",
            bytes: concat(&[&version_request(), &version_request()]),
            golden: Golden::Reply(
                "10202804010000001c0000000000000020000000000000000000000000050803\
                 10202804010000001c0000000000000020000000000000000000000000050803",
            ),
        },
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A connection opened before the probes and used after them.
fn bystander(socket: &Path) -> std::os::unix::net::UnixStream {
    wire::connect(socket).expect("connect bystander")
}

fn bystander_version(mut stream: std::os::unix::net::UnixStream) -> String {
    stream
        .write_all(&version_request())
        .expect("bystander write");
    let mut reply = [0u8; HEADER_LEN];
    stream.read_exact(&mut reply).expect("bystander reply");
    hex(&reply)
}

#[test]
fn malformed_messages_are_answered_like_sanlock_and_the_daemon_keeps_serving() {
    let Some(sanlock) = Sanlock::require("bad_wire_input") else {
        return;
    };
    let scratch = Scratch::new("bad_wire_input");
    let disk = scratch.image("disk.img", 16 << 20);
    let config = scratch.path().join("empty.conf");
    std::fs::write(&config, "").expect("config");
    let mut ours = DaemonProcess::start_lease(
        Path::new(LEASE),
        "ours",
        &scratch.path().join("ours"),
        Some(&config),
        &[],
    );
    let mut theirs = DaemonProcess::start_sanlock(&sanlock, "sanlock", &scratch.path().join("s"));
    let our_bystander = bystander(&ours.socket());
    let their_bystander = bystander(&theirs.socket());

    let mut failures = Vec::new();
    for probe in probes(&disk) {
        let got = wire::exchange(&ours.socket(), &probe.bytes)
            .unwrap_or_else(|e| panic!("{}: our daemon: {e}\n{}", probe.name, ours.describe()));
        let want = wire::exchange(&theirs.socket(), &probe.bytes).unwrap_or_else(|e| {
            panic!("{}: sanlock daemon: {e}\n{}", probe.name, theirs.describe())
        });
        if got != want {
            failures.push(format!(
                "{}: ours {} vs sanlock {}",
                probe.name,
                hex(&got),
                hex(&want)
            ));
        }
        if let Golden::Reply(golden) = probe.golden {
            assert_eq!(
                hex(&want),
                golden,
                "{}: the live sanlock no longer answers as captured",
                probe.name
            );
        }
        assert!(
            ours.is_running(),
            "our daemon died on probe {}\n{}",
            probe.name,
            ours.describe()
        );
    }
    assert!(
        failures.is_empty(),
        "our daemon answers differently from sanlock:\n{}\n{}",
        failures.join("\n"),
        ours.describe()
    );

    // Still serving: the connection opened before the probes, a new one, and the CLI.
    assert_eq!(bystander_version(our_bystander), VERSION_REPLY);
    assert_eq!(bystander_version(their_bystander), VERSION_REPLY);
    assert_eq!(wire::version(&ours.socket()).expect("version"), 0x0308_0500);
    let status = ours.client(&["status"]);
    assert!(
        status.success().starts_with("daemon "),
        "{}",
        status.describe()
    );
    let via_sanlock_cli = lease_tests::Run::new_with_env(
        sanlock.path(),
        &["client", "version"],
        &[("SANLOCK_RUN_DIR", ours.run_dir().as_os_str())],
    );
    assert!(
        via_sanlock_cli.success().contains("3.8.5"),
        "{}",
        via_sanlock_cli.describe()
    );
    ours.stop(lease_tests::DAEMON_STOP_LIMIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", ours.describe()));
    theirs
        .stop(lease_tests::DAEMON_STOP_LIMIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", theirs.describe()));
}
