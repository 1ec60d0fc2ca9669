//! Teeth: every deliberate protocol bug of `lease_core::mutations` is found by the checkers
//! within a fixed seed budget, and the same budget finds nothing without it.
//!
//! Compiled only with `--features mutations` (`[[test]] required-features` in
//! `sim/Cargo.toml`): `cargo test -p sim --features mutations --test t30_mutations`.
//! The switch is process-global, so the tests of this file take turns ([`SWITCH`]).
#![cfg(feature = "mutations")]

use std::sync::Mutex;

use lease_core::mutations::Mutation;
use sim::mutations::{hunt, set};
use sim::regressions::replay_command;
use sim::runner::run_seeds;

static SWITCH: Mutex<()> = Mutex::new(());

fn teeth(mutation: Mutation) {
    let _turn = SWITCH.lock().unwrap_or_else(|e| e.into_inner());
    let h = hunt(mutation);
    let base = h.config(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());

    set(Some(mutation)).expect("built with the mutations feature");
    let with = run_seeds(&base, h.first_seed, h.budget, threads);
    set(None).expect("switch off");
    let found: Vec<_> = with
        .failures()
        .filter(|r| {
            let v = r.violation.as_ref().expect("failed");
            !h.control_tolerates.contains(&v.invariant)
        })
        .collect();
    assert!(
        !found.is_empty(),
        "mutation {} was not found in seeds {}..{} ({})",
        h.name,
        h.first_seed,
        h.first_seed + h.budget,
        h.hunt_args
    );
    let first = found[0];
    let v = first.violation.as_ref().expect("failed");
    println!(
        "mutation {}: found by {} of {} seeds; first reproducing seed {} ({}):\n{v}\nreplay: {}",
        h.name,
        found.len(),
        h.budget,
        first.seed,
        v.invariant,
        replay_command(&h.config(first.seed), Some(h.name))
    );

    let without = run_seeds(&base, h.first_seed, h.budget, threads);
    let false_alarms: Vec<String> = without
        .failures()
        .filter(|r| {
            let v = r.violation.as_ref().expect("failed");
            !h.control_tolerates.contains(&v.invariant)
        })
        .map(|r| format!("seed {}: {}", r.seed, r.violation.as_ref().expect("failed")))
        .collect();
    assert!(
        false_alarms.is_empty(),
        "without mutation {} the same budget must find nothing:\n{}",
        h.name,
        false_alarms.join("\n")
    );
}

#[test]
fn skip_delta_wait_is_found_by_host_id_exclusive() {
    teeth(Mutation::SkipDeltaWait);
}

#[test]
fn skip_phase1_read_is_found() {
    teeth(Mutation::SkipPhase1Read);
}

#[test]
fn short_owner_wait_is_found() {
    teeth(Mutation::ShortOwnerWait);
}

#[test]
fn no_write_fence_is_found() {
    teeth(Mutation::NoWriteFence);
}

#[test]
fn no_deadline_guard_is_found() {
    teeth(Mutation::NoDeadlineGuard);
}

#[test]
fn every_mutation_has_a_hunt_and_names_round_trip() {
    let hunts = sim::mutations::all();
    assert_eq!(hunts.len(), Mutation::ALL.len());
    for h in hunts {
        assert_eq!(Mutation::from_name(h.name), Some(h.mutation));
        assert!(h.budget > 0 && !h.hunt_args.is_empty());
    }
}
