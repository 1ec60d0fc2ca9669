//! The deliberate protocol bugs of `lease_core::mutations`, as the simulator hunts them.
//!
//! Each [`Hunt`] pairs a mutation with the run configuration that exposes it: the workload,
//! the fault preset and the misconfiguration under which the checkers must catch the bug
//! within a small seed budget (`sim/tests/t30_mutations.rs`), while the same budget without
//! the bug finds nothing. The switch itself is lease-core's process-global one; it exists only
//! when this crate is built with `--features mutations` ([`ENABLED`]).

use lease_core::mutations::Mutation;

use crate::runner::{FaultPreset, RunConfig, WorkloadKind};

/// Whether this build can switch mutations on.
pub const ENABLED: bool = cfg!(feature = "mutations");

/// A mutation and the runs that hunt it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hunt {
    pub mutation: Mutation,
    pub name: &'static str,
    pub description: &'static str,
    pub workload: WorkloadKind,
    pub faults: FaultPreset,
    pub host_count: u32,
    pub duplicate_host_id: bool,
    pub duration_secs: u64,
    pub exclusive_only: bool,
    pub resources: usize,
    /// Seeds `0..budget` must find the bug (and find nothing without it):
    /// `sim/tests/t30_mutations.rs`. 0 for a [`Hunt::scripted`] one.
    pub budget: u64,
    /// `Some(test)`: no small random budget reaches the bug's scenario, so its teeth are a
    /// scripted fault in this test of `sim/tests/t30_mutations.rs` (run with and without the
    /// mutation) instead of a seed budget.
    pub scripted: Option<&'static str>,
    /// The same, as `sim` command-line arguments.
    pub hunt_args: &'static str,
    /// Invariants the run *without* the mutation may still break in this budget because of an
    /// open finding of the same fault model (`docs/sim.md`); the mutation must still be found
    /// by another invariant or in other seeds. Empty for every hunt whose model is clean.
    pub control_tolerates: &'static [&'static str],
    /// Seeds of the budget whose run *without* the mutation reaches an open finding (each
    /// analysed, named in the comment where it is set): left out on both sides, so the teeth
    /// are counted only on seeds the unmutated code keeps clean.
    pub control_open_seeds: &'static [u64],
}

impl Hunt {
    /// Set `config`'s workload, faults, hosts and misconfiguration to this hunt's.
    pub fn apply(&self, config: &mut RunConfig) {
        config.workload = self.workload;
        config.faults = self.faults;
        config.host_count = self.host_count;
        config.duplicate_host_id = self.duplicate_host_id;
        config.duration_secs = self.duration_secs;
        config.exclusive_only = self.exclusive_only;
        config.resources = self.resources;
    }

    /// A run configuration for `seed` that hunts this mutation.
    pub fn config(&self, seed: u64) -> RunConfig {
        let mut config = RunConfig::new(seed, self.host_count);
        self.apply(&mut config);
        config
    }
}

/// Every mutation with its hunt.
pub fn all() -> Vec<Hunt> {
    Mutation::ALL.into_iter().map(hunt).collect()
}

/// The hunt of `mutation`.
pub fn hunt(mutation: Mutation) -> Hunt {
    let base = Hunt {
        mutation,
        name: mutation.name(),
        description: mutation.description(),
        workload: WorkloadKind::Paxos,
        faults: FaultPreset::Crashes,
        host_count: 3,
        duplicate_host_id: false,
        duration_secs: 1_800,
        exclusive_only: false,
        resources: 2,
        budget: 24,
        scripted: None,
        hunt_args: "",
        control_tolerates: &[],
        control_open_seeds: &[],
    };
    match mutation {
        // A second machine with the same host_id must wait out the first one's liveness;
        // under timely faults delta leases promise exclusivity even to duplicates.
        Mutation::SkipDeltaWait => Hunt {
            workload: WorkloadKind::Delta,
            faults: FaultPreset::Timely,
            duplicate_host_id: true,
            budget: 8,
            hunt_args: "--workload delta --faults timely --hosts 3 --duplicate-host-id \
                        --duration-secs 1800",
            ..base
        },
        // Contention alone (and crashes mid-ballot) exposes a phase 1 that ignores the others:
        // five hosts on one exclusive lease. Budget 48: since an acquire's first mbal comes
        // from its own dblock only (not from every dblock), a phase 1 that ignores the others
        // also skips the jump above their mbals, so its phase 2 aborts more often and the bug
        // is rarer (37 of seeds 0..300, first at 31; it was 6 of 0..24).
        Mutation::SkipPhase1Read => Hunt {
            host_count: 5,
            resources: 1,
            exclusive_only: true,
            budget: 48,
            hunt_args: "--workload paxos --faults crashes --hosts 5 --resources 1 \
                        --exclusive-only --duration-secs 1800",
            ..base
        },
        // An owner must stop renewing while its lease holders live on: a paused daemon (its
        // holders keep running until the watchdog fires).
        Mutation::ShortOwnerWait => Hunt {
            faults: FaultPreset::Pauses,
            exclusive_only: true,
            hunt_args: "--workload paxos --faults pauses --exclusive-only --hosts 3 \
                        --duration-secs 1800",
            ..base
        },
        // Writes that land long after their deadline (hangs, queued paths): findings A, B.
        Mutation::NoWriteFence => Hunt {
            faults: FaultPreset::Safety,
            budget: 24,
            hunt_args: "--workload paxos --faults safety --hosts 3 --duration-secs 1800",
            // The fence's teeth are `leader_lver_on_disk` (and, before the delta fence,
            // `exclusive_owner`); since finding I was fixed the control tolerates nothing.
            // Seed 19: open finding H (docs/sim.md) without the mutation: a late leader write
            // of res0 lands after the lease moved on (59 -> 58).
            control_open_seeds: &[19],
            ..base
        },
        // A host frozen between its phase-2 read and its leader write, resuming after its
        // fail deadline (regression K). About 1 seed in 2000 of this slice reached that, and
        // since the release's I/O schedule changed not even K's seed 605983759 does (4000
        // seeds found nothing): the teeth are scripted, the hunt only sets up `--mutation`.
        Mutation::NoDeadlineGuard => Hunt {
            faults: FaultPreset::Pauses,
            exclusive_only: true,
            budget: 0,
            scripted: Some("no_deadline_guard_is_found_by_a_scripted_freeze"),
            hunt_args: "--workload paxos --faults pauses --exclusive-only --hosts 3 \
                        --duration-secs 1800",
            ..base
        },
        // A host's release of its host_id hangs and lands after it re-joined (finding L):
        // rare in random seeds (a host_id release is 1 in 100 renewals of an idle host, and
        // its write must hang past the re-join), so the teeth are scripted: a fault-free world
        // in which that one write is made to hang.
        Mutation::NoDeltaFence => Hunt {
            faults: FaultPreset::Safety,
            exclusive_only: true,
            budget: 0,
            scripted: Some("no_delta_fence_is_found_by_a_scripted_late_release"),
            hunt_args: "--workload paxos --faults safety --exclusive-only --hosts 3 \
                        --duration-secs 1800",
            ..base
        },
    }
}

/// Switch the mutation called `name` on (and every other off) for the whole process.
pub fn activate(name: &str) -> Result<Hunt, String> {
    let Some(mutation) = Mutation::from_name(name) else {
        let names: Vec<&str> = Mutation::ALL.iter().map(|m| m.name()).collect();
        return Err(format!(
            "unknown mutation {name:?}; known: {}",
            names.join(", ")
        ));
    };
    set(Some(mutation))?;
    Ok(hunt(mutation))
}

/// Switch `mutation` on, or every mutation off with `None`.
pub fn set(mutation: Option<Mutation>) -> Result<(), String> {
    #[cfg(feature = "mutations")]
    {
        lease_core::mutations::set_active(mutation);
        Ok(())
    }
    #[cfg(not(feature = "mutations"))]
    match mutation {
        None => Ok(()),
        Some(m) => Err(format!(
            "mutation {} needs a build with `--features mutations` \
             (cargo run --release -p sim --features mutations -- ...)",
            m.name()
        )),
    }
}
