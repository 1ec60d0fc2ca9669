//! Shared by the interop test files: running the freshly built `lease` binary next to the real
//! sanlock, and comparing their outputs (text exactly, `--json` field by field).

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::Path;

use lease_tests::{parse_dump, parse_read_leader, DumpRow, Run, Sanlock};
use serde_json::Value;

/// The `lease` binary Cargo built for these tests.
pub const LEASE: &str = env!("CARGO_BIN_EXE_lease");

/// Runs `lease args...`.
pub fn lease<S: AsRef<OsStr>>(args: &[S]) -> Run {
    Run::new(LEASE, args)
}

/// Runs the same arguments through sanlock and lease and asserts identical stdout and exit
/// status; returns both runs.
#[track_caller]
pub fn same_output<S: AsRef<OsStr>>(sanlock: &Sanlock, args: &[S]) -> (Run, Run) {
    let theirs = sanlock.run(args);
    let ours = lease(args);
    assert_eq!(
        ours.stdout,
        theirs.stdout,
        "stdout differs for {:?}\n=== sanlock\n{}\n=== lease\n{}",
        ours.command,
        theirs.describe(),
        ours.describe()
    );
    assert_eq!(
        ours.status,
        theirs.status,
        "exit status differs for {}\n=== sanlock\n{}\n=== lease\n{}",
        ours.command,
        theirs.describe(),
        ours.describe()
    );
    (theirs, ours)
}

/// `lease --json args...`, parsed.
#[track_caller]
pub fn lease_json(args: &[&str]) -> (Run, Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let run = lease(&all);
    let value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{}: not JSON ({e}):\n{}", run.command, run.describe()));
    (run, value)
}

/// Runs `read_leader` with sanlock, lease (text) and lease `--json`; asserts the text is
/// identical and every JSON value equals the corresponding text field.
#[track_caller]
pub fn check_read_leader(sanlock: &Sanlock, what: &str, lease_string: &str, extra: &[&str]) {
    let mut args = vec!["direct", "read_leader", what, lease_string];
    args.extend_from_slice(extra);
    let (theirs, _) = same_output(sanlock, &args);
    let text = parse_read_leader(&theirs.stdout);
    let (run, json) = lease_json(&args);
    assert_eq!(json["result"].as_i64(), Some(text.rv), "{}", run.describe());
    assert_eq!(run.status, if text.rv == 0 { 0 } else { 1 });
    if text.rv != 0 {
        assert!(
            json["error"].is_string(),
            "no error string: {}",
            run.describe()
        );
    }
    let leader = &json["leader"];
    if leader.is_null() {
        // Nothing could be read: sanlock prints every field as zero.
        assert_ne!(text.rv, 0);
        for (field, value) in &text.fields {
            assert!(
                value.is_empty() || text.number(field) == 0,
                "{field} {value}"
            );
        }
        return;
    }
    assert!(leader.is_object(), "no leader object: {}", run.describe());
    let delta = what == "-s";
    for (field, value) in &text.fields {
        let json_field = match (delta, field.as_str()) {
            (true, "extra1") => "write_id",
            (true, "extra2") => "write_generation",
            (true, "extra3") => "write_timestamp",
            (_, other) => other,
        };
        let got = &leader[json_field];
        if field.ends_with("_name") {
            assert_eq!(
                got.as_str(),
                Some(value.as_str()),
                "{field} in {}",
                run.describe()
            );
        } else {
            assert_eq!(
                got.as_u64(),
                Some(text.number(field)),
                "{field} in {}",
                run.describe()
            );
        }
    }
}

/// Runs `dump` with sanlock, lease and lease `--json`; asserts identical text and that the
/// JSON rows carry the same values as sanlock's rows.
#[track_caller]
pub fn check_dump(sanlock: &Sanlock, target: &str, extra: &[&str]) -> String {
    let mut args = vec!["direct", "dump", target];
    args.extend_from_slice(extra);
    let full = extra.windows(2).any(|w| w[0] == "-f" && w[1] != "0");
    let (theirs, _) = same_output(sanlock, &args);
    let (run, json) = lease_json(&args);
    if theirs.status != 0 {
        assert_ne!(json["result"].as_i64(), Some(0), "{}", run.describe());
        return theirs.stdout;
    }
    assert_eq!(json["result"].as_i64(), Some(0), "{}", run.describe());
    let expected = parse_dump(&theirs.stdout, full);
    let got = json_dump_rows(&json, full);
    assert_eq!(
        got, expected,
        "JSON rows differ from sanlock's for {}",
        run.command
    );
    theirs.stdout
}

/// The rows sanlock would print, rebuilt from lease's `--json` dump.
fn json_dump_rows(json: &Value, full: bool) -> Vec<DumpRow> {
    let u = |v: &Value| v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"));
    let s = |v: &Value| {
        v.as_str()
            .unwrap_or_else(|| panic!("not a string: {v}"))
            .to_owned()
    };
    let mut rows = Vec::new();
    for row in json["rows"].as_array().expect("rows array") {
        let leader = &row["leader"];
        match row["type"].as_str() {
            Some("delta") => rows.push(DumpRow::Delta {
                offset: u(&row["offset"]),
                lockspace: s(&leader["space_name"]),
                resource: s(&leader["resource_name"]),
                timestamp: u(&leader["timestamp"]),
                owner_id: u(&leader["owner_id"]),
                owner_generation: u(&leader["owner_generation"]),
                extra: if full {
                    row["bitmap"]
                        .as_array()
                        .expect("bitmap")
                        .iter()
                        .map(|host| u(host).to_string())
                        .collect()
                } else {
                    Vec::new()
                },
            }),
            Some("paxos") => {
                let lver = if full {
                    format!(
                        "{}/{}/{}",
                        u(&leader["lver"]),
                        u(&row["request"]["lver"]),
                        u(&row["request"]["force_mode"])
                    )
                } else {
                    u(&leader["lver"]).to_string()
                };
                rows.push(DumpRow::Paxos {
                    offset: u(&row["offset"]),
                    lockspace: s(&leader["space_name"]),
                    resource: s(&leader["resource_name"]),
                    timestamp: u(&leader["timestamp"]),
                    owner_id: u(&leader["owner_id"]),
                    owner_generation: u(&leader["owner_generation"]),
                    lver,
                });
                for shared in row["shared"].as_array().expect("shared") {
                    rows.push(DumpRow::Shared {
                        host_id: u(&shared["host_id"]),
                        generation: u(&shared["generation"]),
                    });
                }
            }
            Some("rindex") => {
                let header = &row["header"];
                rows.push(DumpRow::RindexHeader {
                    offset: u(&row["offset"]),
                    lockspace: s(&header["lockspace_name"]),
                    flags: format!("{:#x}", u(&header["flags"])),
                    sector_size: u(&header["sector_size"]),
                    max_resources: u(&header["max_resources"]),
                    rx_offset: u(&header["rx_offset"]),
                });
                if full {
                    for entry in row["entries"].as_array().expect("entries") {
                        rows.push(DumpRow::RindexEntry {
                            offset: u(&entry["offset"]),
                            lockspace: s(&header["lockspace_name"]),
                            name: s(&entry["name"]),
                            res_offset: u(&entry["res_offset"]),
                        });
                    }
                }
            }
            other => panic!("unknown row type {other:?} in {row}"),
        }
    }
    rows
}

/// `lease direct init` of lockspace `LS` at offset 0 of `dev` (`-o 1`: io_timeout 1), then of
/// each resource `(NAME, OFFSET)` of `LS` on `dev`.
pub fn init_ls(dev: &Path, resources: &[(&str, u64)]) {
    let dev = s(dev);
    lease(&["direct", "init", "-s", &format!("LS:0:{dev}:0"), "-o", "1"]).success();
    for (name, offset) in resources {
        lease(&["direct", "init", "-r", &format!("LS:{name}:{dev}:{offset}")]).success();
    }
}

/// `path` as a `&str` (test paths are UTF-8).
pub fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Little-endian helpers to craft states sanlock's direct commands cannot produce (shared
/// holders, requests, bitmaps) by writing a few bytes into an image file.
pub fn poke(path: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    file.write_all_at(bytes, offset).expect("poke");
    file.sync_all().expect("sync");
}
