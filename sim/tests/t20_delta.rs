//! The delta-lease workload: lease-core's DeltaAcquire/DeltaRenew/DeltaRelease run unchanged
//! on the simulator, and the checkers that guard them.
//!
//! Safety runs (`FaultPreset::Safety`) with a misconfigured duplicate host_id, and safety runs
//! with stale writes landing after a release, find known weaknesses (see the sim report); the
//! tests here pin down what must always hold: fault-free and timely runs are clean, and the
//! checkers do fire on a double holder.

use sim::clock::TrueTime;
use sim::ids::HostIndex;
use sim::runner::{delta_world, run_seed, FaultPreset, RunConfig, WorkloadKind};
use sim::workload::delta::DeltaWorkload;
use sim::world::World;

fn config(seed: u64, hosts: u32, faults: FaultPreset, duplicate: bool) -> RunConfig {
    let mut c = RunConfig::new(seed, hosts);
    c.workload = WorkloadKind::Delta;
    c.faults = faults;
    c.duplicate_host_id = duplicate;
    c.duration_secs = 1_800;
    c
}

#[test]
fn fault_free_hosts_acquire_once_and_renew_every_id_renewal_seconds() {
    let mut world = delta_world(&config(1, 3, FaultPreset::None, false));
    world
        .run_until(TrueTime::from_secs(600))
        .expect("no violation");
    let stats = world.workload().stats;
    assert_eq!(stats.renewals_failed + stats.renewals_corrupt, 0);
    assert!(stats.acquires_ok >= 3, "{stats:?}");
    // 3 hosts, ~600 s, a renewal every 20 s (+ up to 1 s polling), minus releases.
    assert!((70..=90).contains(&stats.renewals_ok), "{stats:?}");
}

#[test]
fn timely_runs_with_a_duplicate_host_id_keep_it_exclusive() {
    let mut busy = 0;
    for seed in 0..6 {
        let mut world = delta_world(&config(seed, 3, FaultPreset::Timely, true));
        let result = world.run_until(TrueTime::from_secs(1_800));
        assert!(result.is_ok(), "seed {seed}: {}", result.unwrap_err());
        busy += world.workload().stats.acquires_busy;
    }
    assert!(
        busy > 0,
        "the duplicate must have been detected (HOSTID_BUSY) at least once"
    );
}

#[test]
fn same_seed_same_hash_for_the_delta_workload() {
    let c = config(5, 4, FaultPreset::Safety, false);
    assert_eq!(run_seed(&c).trace_hash, run_seed(&c).trace_hash);
}

#[test]
fn host_id_exclusive_fires_when_two_hosts_hold_one_host_id() {
    let mut world = delta_world(&config(2, 3, FaultPreset::None, true));
    world
        .run_until(TrueTime::from_secs(100))
        .expect("clean so far");
    let (h0, h2) = (HostIndex(0), HostIndex(2));
    let holds = |w: &World<DeltaWorkload>, h| w.workload().holds(h, w.local_now(h));
    let (holder, other) = if holds(&world, h0) {
        (h0, h2)
    } else {
        (h2, h0)
    };
    assert!(
        holds(&world, holder) && !holds(&world, other),
        "exactly one holds"
    );
    // Pretend the other host's acquire of the same host_id had succeeded just now.
    let now = world.local_now(other);
    let mut lease = world.workload().hosts[holder.as_usize()]
        .lease
        .clone()
        .expect("held");
    lease.last_success = now;
    let s = &mut world.workload_mut().hosts[other.as_usize()];
    s.lease = Some(lease);
    s.holding = true;
    s.held_since = now;
    let v = world
        .run_until(TrueTime::from_secs(200))
        .expect_err("must fire");
    assert_eq!(v.invariant, "host_id_exclusive");
    assert_eq!(v.hosts, vec![h0, h2]);
    assert_eq!(v.lease, "host_id 1");
    assert!(v.to_string().contains("held by 2 hosts"), "{v}");
}

#[test]
fn generations_grow_fires_when_a_generation_is_reused() {
    let mut world = delta_world(&config(3, 2, FaultPreset::None, false));
    world.run_until(TrueTime::from_secs(60)).expect("clean");
    let gens = &mut world.workload_mut().acquired_generations[0];
    let last = *gens.last().expect("host_id 1 was acquired");
    gens.push(last);
    let v = world
        .run_until(TrueTime::from_secs(200))
        .expect_err("must fire");
    assert_eq!(v.invariant, "generations_grow");
    assert_eq!(v.lease, "host_id 1");
}
