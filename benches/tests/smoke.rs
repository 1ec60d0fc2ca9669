//! The benchmarks still work: each one's `--smoke` mode (a few seconds, our daemon only) runs
//! to completion, prints only `name value unit` lines that parse, includes its key figures and
//! writes a JSON file holding the same figures. No timing is asserted (timing goals live in
//! docs/benchmarks.md, never in tests).
//!
//! Needs root (loop devices), the `lease` binary next to the benchmark binaries (`cargo test
//! --workspace` builds it; alone: `cargo build -p lease-cli`) and, for bench_leases,
//! `/usr/bin/python3` with the sanlock module (python3-sanlock). Set
//! `LEASE_TESTS_ALLOW_SKIP_LOOP=1` to skip instead of failing when not root.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use benches::report::parse_lines;

fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no memory effects.
    let euid = unsafe { libc::geteuid() };
    if euid == 0 {
        return None;
    }
    let reason = format!("the benchmarks need root for loop devices (euid {euid})");
    if std::env::var("LEASE_TESTS_ALLOW_SKIP_LOOP").is_ok_and(|v| v == "1") {
        Some(reason)
    } else {
        panic!("{reason}; set LEASE_TESTS_ALLOW_SKIP_LOOP=1 to skip")
    }
}

/// `target/<profile>/lease`, built by `cargo test --workspace` (or `cargo build -p lease-cli`).
fn lease_binary(bench: &Path) -> PathBuf {
    let lease = bench.with_file_name("lease");
    assert!(
        lease.is_file(),
        "{} is missing: build it first with `cargo build -p lease-cli` \
         (`cargo test --workspace` does)",
        lease.display()
    );
    lease
}

/// Run `bench --smoke` with a time limit; its stdout.
fn run_smoke(bench: &str, exe: &str, json: &Path) -> String {
    let exe = PathBuf::from(exe);
    let lease = lease_binary(&exe);
    let mut child = Command::new(&exe)
        .arg("--smoke")
        .arg("--lease")
        .arg(&lease)
        .arg("--json")
        .arg(json)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bench}: {e}"));
    let limit = Instant::now() + Duration::from_secs(180);
    loop {
        if child
            .try_wait()
            .expect("waiting for the benchmark")
            .is_some()
        {
            break;
        }
        if Instant::now() > limit {
            // SIGTERM: the benchmark cleans up (daemons, loop device) and exits.
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let out = child.wait_with_output().expect("benchmark output");
            panic!(
                "{bench} --smoke took more than 180 s:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().expect("benchmark output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{bench} --smoke failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Check the output and the JSON file; `expected` figures must be there.
fn check(bench: &str, exe: &str, expected: &[&str]) {
    if let Some(reason) = skip_reason() {
        println!("SKIP: {bench}: {reason}");
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let json = dir.path().join("out.json");
    let stdout = run_smoke(bench, exe, &json);
    let figures = parse_lines(&stdout).unwrap_or_else(|e| panic!("{bench}: {e}\n{stdout}"));
    let names: Vec<&str> = figures.iter().map(|(n, _, _)| n.as_str()).collect();
    for want in expected {
        assert!(
            names.contains(want),
            "{bench}: no {want} in the output:\n{stdout}"
        );
    }
    assert!(
        !names.iter().any(|n| n.starts_with("sanlock.")),
        "{bench}: the smoke mode must measure our daemon only:\n{stdout}"
    );
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("{bench}: no JSON file: {e}")),
    )
    .unwrap_or_else(|e| panic!("{bench}: JSON does not parse: {e}"));
    assert_eq!(doc["bench"], bench);
    assert_eq!(doc["meta"]["smoke"], true);
    for (name, value, unit) in &figures {
        let entry = &doc["results"][name];
        assert_eq!(entry["unit"], unit.as_str(), "{bench}: {name} in the JSON");
        let stored = entry["value"].as_f64().expect("numeric value");
        assert!(
            (stored - value).abs() <= 1e-3 * value.abs().max(1.0),
            "{bench}: {name}: printed {value}, stored {stored}"
        );
    }
}

#[test]
fn bench_renewal_smoke() {
    check(
        "bench_renewal",
        env!("CARGO_BIN_EXE_bench_renewal"),
        &[
            "raw.read1m.median",
            "raw.write512.median",
            "raw.floor.median",
            "ours.renewal.threads.median",
            "ours.renewal.threads.p99",
            "ours.renewal.uring.median",
            "ours.renewal.replica.read.syscall.median",
            "target.renewal_median_over_raw_floor.threads",
            "target.renewal_median_over_raw_floor.uring",
            "ours.round.burst.threads.1ls.median",
            "ours.round.burst.threads.2ls.median",
            "ours.round.burst.uring.2ls.median",
            "target.burst_round_over_one.threads",
            "ours.daemon_inproc.threads.2ls.renewal.median",
            "ours.daemon_inproc.threads.2ls.round_span.median",
            "ours.daemon_inproc.threads.2ls.round_busy.median",
            "ours.daemon_inproc.uring.2ls.round_busy.median",
            "ours.daemon.2ls.join",
            "ours.daemon.2ls.read_ms.median",
            "ours.daemon.2ls.write_ms.median",
        ],
    );
}

#[test]
fn bench_idle_smoke() {
    check(
        "bench_idle",
        env!("CARGO_BIN_EXE_bench_idle"),
        &[
            "ours.idle.0ls.rss",
            "ours.idle.2ls.join",
            "ours.idle.2ls.cpu",
            "ours.idle.2ls.rss",
            "ours.idle.2ls.threads",
            "ours.idle.2ls.cpu_all_windows",
            "ours.idle.2ls.cpu_ticks_all_windows",
            "ours.idle.2ls.cpu_us_per_min",
            "ours.idle.2ls.tids_changed",
        ],
    );
}

#[test]
fn bench_leases_smoke() {
    if !Path::new("/usr/bin/python3").is_file()
        || !Command::new("/usr/bin/python3")
            .args(["-c", "import sanlock"])
            .status()
            .is_ok_and(|s| s.success())
    {
        let reason = "/usr/bin/python3 cannot import sanlock (install python3-sanlock)";
        if std::env::var("LEASE_TESTS_ALLOW_SKIP_SANLOCK").is_ok_and(|v| v == "1") {
            println!("SKIP: bench_leases: {reason}");
            return;
        }
        panic!("{reason}; set LEASE_TESTS_ALLOW_SKIP_SANLOCK=1 to skip");
    }
    check(
        "bench_leases",
        env!("CARGO_BIN_EXE_bench_leases"),
        &[
            "raw.read1m.median",
            "ours.noop.inquire.median",
            "ours.excl.acquire.median",
            "ours.excl.acquire.p99",
            "ours.excl.release.median",
            "ours.excl.release.p99",
            "ours.distinct.acquire.median",
            "ours.tput.sequential_distinct",
            "ours.tput.8proc_8res",
            "ours.inproc.threads.acquire.median",
            "ours.inproc.threads.acquire.io_floor",
            "ours.inproc.threads.release.median",
            "ours.inproc.uring.acquire.median",
            "ours.inproc.uring.8tasks.tput",
        ],
    );
}
