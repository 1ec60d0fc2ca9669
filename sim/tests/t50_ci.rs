//! What CI runs on every commit: every seed of the regression list (`sim/regressions.txt`)
//! ends as recorded, and a fixed budget of fresh seeds, derived from the commit, finds no
//! violation.
//!
//! The fresh seeds change with every commit (`git rev-parse HEAD`, or a constant outside a
//! git checkout), so the budget keeps exploring; a failure prints its seed, the command that
//! replays it and the line to add to the regression list. The fresh budget runs the
//! protocols under the fault presets on which no open finding is known (see `docs/sim.md`,
//! "Open findings"): delta leases under the whole `safety` model, Disk Paxos exclusive leases
//! under crashes and pauses. The `safety` model for Disk Paxos is exercised by the pinned
//! seeds of the open findings until they are fixed.

use std::process::Command;
use std::time::Instant;

use sim::regressions::{self, entry_line, Expect};
use sim::runner::{run_seeds, FaultPreset, RunConfig, WorkloadKind};
use sim::trace::fnv1a_words;

/// The first fresh seed: a hash of the commit under test.
fn commit_seed() -> (u64, String) {
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "no-git-checkout".to_string());
    let words: Vec<u64> = head.bytes().map(u64::from).collect();
    // Keep seeds readable (below 10^9) so that they are easy to type when replaying.
    (fnv1a_words(0x5EED, &words) % 1_000_000_000, head)
}

/// One slice of the fresh budget.
struct Slice {
    what: &'static str,
    config: RunConfig,
    seeds: u64,
}

fn budget() -> Vec<Slice> {
    let mut delta = RunConfig::new(0, 3);
    delta.workload = WorkloadKind::Delta;
    delta.faults = FaultPreset::Safety;
    delta.duration_secs = WorkloadKind::Delta.default_duration_secs();

    let mut paxos_pauses = RunConfig::new(0, 3);
    paxos_pauses.workload = WorkloadKind::Paxos;
    paxos_pauses.faults = FaultPreset::Pauses;
    paxos_pauses.exclusive_only = true;
    paxos_pauses.duration_secs = WorkloadKind::Paxos.default_duration_secs();

    let paxos_contended = RunConfig {
        host_count: 5,
        resources: 1,
        faults: FaultPreset::Crashes,
        ..paxos_pauses.clone()
    };
    // Shared mode included: the SHARED blocks a write left on some disks only are read
    // correctly since finding J was fixed.
    let paxos_disks = RunConfig {
        lease_disks: 3,
        exclusive_only: false,
        ..paxos_pauses.clone()
    };
    // The whole safety model on Disk Paxos, shared mode included, with the on-disk leader
    // check set aside (open finding H: only a late write taking the record back fails it).
    let paxos_safety = RunConfig {
        faults: FaultPreset::Safety,
        exclusive_only: false,
        no_leader_check: true,
        ..paxos_pauses.clone()
    };
    vec![
        Slice {
            what: "delta leases, safety model, 3 hosts",
            config: delta,
            seeds: 300,
        },
        Slice {
            what: "Disk Paxos exclusive, crashes + pauses, 3 hosts",
            config: paxos_pauses,
            seeds: 240,
        },
        Slice {
            what: "Disk Paxos exclusive, crashes, 5 hosts on one lease",
            config: paxos_contended,
            seeds: 120,
        },
        Slice {
            what: "Disk Paxos exclusive and shared, crashes + pauses, 3 lease disks",
            config: paxos_disks,
            seeds: 24,
        },
        Slice {
            what: "Disk Paxos exclusive and shared, safety model, no on-disk leader check",
            config: paxos_safety,
            seeds: 120,
        },
    ]
}

#[test]
fn every_regression_seed_ends_as_recorded() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/regressions.txt");
    let text = std::fs::read_to_string(path).expect("sim/regressions.txt");
    let entries = regressions::parse(&text).expect("the list parses");
    assert!(entries.len() >= 5, "the list lost entries");
    let mut mismatches = Vec::new();
    for entry in &entries {
        if let Err(e) = regressions::check(entry) {
            mismatches.push(e);
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} regression seeds changed their outcome (a fixed bug: flip its line to \
         `pass`; a new failure: fix it):\n{}",
        mismatches.len(),
        entries.len(),
        mismatches.join("\n\n")
    );
}

#[test]
fn fresh_seeds_derived_from_the_commit_find_nothing() {
    let (first, head) = commit_seed();
    println!("fresh seeds from commit {head}: first seed {first}");
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut failures = Vec::new();
    for (i, slice) in budget().into_iter().enumerate() {
        let start = first + i as u64 * 1_000_000;
        let t = Instant::now();
        let batch = run_seeds(&slice.config, start, slice.seeds, threads);
        println!(
            "{}: {} seeds from {start}: {:.1} seeds/s, {:.0} simulated host-seconds/s, {:.1}s",
            slice.what,
            slice.seeds,
            batch.seeds_per_second(),
            batch.host_seconds_per_second(),
            t.elapsed().as_secs_f64()
        );
        for run in batch.failures() {
            let v = run.violation.as_ref().expect("failed");
            let config = RunConfig {
                seed: run.seed,
                ..slice.config.clone()
            };
            failures.push(format!(
                "{v}\nreplay: {}\nregression line: {}",
                regressions::replay_command(&config, None),
                entry_line(
                    &config,
                    &Expect::Violation(v.invariant.to_string()),
                    "found by CI: <describe, then fix and flip to pass>"
                )
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} fresh seeds found violations:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
