//! The Disk Paxos workload: lease-core's PaxosAcquire/PaxosRelease/PaxosConvertToShared on
//! the simulator, and the checkers that guard resource leases.
//!
//! What must always hold is pinned here: fault-free and crash-only runs are clean and do
//! exercise every path (exclusive, shared, conversions, handovers, dead-owner takeover,
//! liveness phase); runs replay exactly; every checker fires on the situation it guards.
//! Open protocol findings under the wider fault presets are in `t60_open_findings.rs`.

use lease_core::ondisk::LeaderRecord;
use lease_core::paxos_lease::LeaseMode;
use sim::clock::TrueTime;
use sim::ids::HostIndex;
use sim::runner::{paxos_world, run_paxos_world, run_seed, FaultPreset, RunConfig, WorkloadKind};
use sim::workload::paxos::{Grant, PaxosWorkload, SlotState};
use sim::world::World;

fn config(seed: u64, faults: FaultPreset) -> RunConfig {
    let mut c = RunConfig::new(seed, 3);
    c.workload = WorkloadKind::Paxos;
    c.faults = faults;
    c.duration_secs = 1_200;
    c
}

/// Run until some host holds `r` exclusively; return it.
fn run_until_exclusive(world: &mut World<PaxosWorkload>, r: usize) -> HostIndex {
    for _ in 0..1_000_000 {
        world.step().expect("clean");
        for h in 0..world.host_count() {
            let host = HostIndex(h);
            let now = world.local_now(host);
            let up = world.host(host).is_up();
            if world.workload().holds(host, r, up, now) == Some(LeaseMode::Exclusive) {
                return host;
            }
        }
    }
    panic!("nobody acquired res{r} exclusively");
}

#[test]
fn fault_free_runs_use_every_path_and_pass_liveness() {
    let mut world = paxos_world(&config(1, FaultPreset::None));
    run_paxos_world(&mut world).expect("no violation");
    let w = world.workload();
    let s = w.stats;
    assert!(w.liveness_done());
    assert!(s.granted_ex >= 20 && s.granted_sh >= 20, "{s:?}");
    assert!(
        s.handovers_ok >= 3 && s.to_shared >= 3 && s.to_exclusive >= 3,
        "{s:?}"
    );
    assert!(
        s.refused_live + s.refused_owned + s.refused_shared > 0,
        "{s:?}"
    );
    assert_eq!(s.failed_io + s.failed_other + s.releases_failed, 0, "{s:?}");
    // Every want of the liveness phase was granted: 2 resources x 3 hosts.
    assert_eq!(w.wants.len(), 6);
    assert!(w.wants.iter().all(|want| want.granted));
}

#[test]
fn crash_only_exclusive_runs_are_clean_and_take_over_dead_owners_leases() {
    // Exclusive only: shared mode under crashes still meets the open findings F and G.
    let mut took_over = 0;
    for seed in 0..6 {
        let mut c = config(seed, FaultPreset::Crashes);
        c.exclusive_only = true;
        let mut world = paxos_world(&c);
        let result = run_paxos_world(&mut world);
        assert!(result.is_ok(), "seed {seed}: {}", result.unwrap_err());
        took_over += world.workload().stats.takeovers;
    }
    assert!(
        took_over > 0,
        "no lease was ever taken from a crashed owner"
    );
}

#[test]
fn multi_disk_leases_and_4k_sectors_run_clean() {
    let mut c = config(7, FaultPreset::Crashes);
    c.lease_disks = 3;
    c.duration_secs = 600;
    let report = run_seed(&c);
    assert!(report.violation.is_none(), "{:?}", report.violation);
    let mut c = config(8, FaultPreset::Crashes);
    c.sector_size = 4096;
    c.duration_secs = 300;
    c.resources = 1;
    let report = run_seed(&c);
    assert!(report.violation.is_none(), "{:?}", report.violation);
}

#[test]
fn same_seed_same_hash_for_the_paxos_workload() {
    let c = config(5, FaultPreset::Safety);
    let (a, b) = (run_seed(&c), run_seed(&c));
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.event_count, b.event_count);
}

#[test]
fn exclusive_owner_fires_when_a_second_host_holds_the_lease() {
    let mut world = paxos_world(&config(2, FaultPreset::None));
    let holder = run_until_exclusive(&mut world, 0);
    let other = HostIndex((holder.0 + 1) % 3);
    let SlotState::Held { held } = world.workload().hosts[holder.as_usize()].slots[0]
        .state
        .clone()
    else {
        panic!("holder holds");
    };
    // Pretend the other host was granted the same lease too (shared, against an exclusive).
    let mut shared = held;
    shared.mode = LeaseMode::Shared;
    world
        .workload_mut()
        .set_state(other, 0, SlotState::Held { held: shared });
    let v = world.step().expect_err("must fire");
    assert_eq!(v.invariant, "exclusive_owner");
    assert_eq!(v.lease, "res0");
    let mut hosts = v.hosts.clone();
    hosts.sort();
    let mut expected = vec![holder, other];
    expected.sort();
    assert_eq!(hosts, expected);
    assert!(v.to_string().contains("1 exclusively"), "{v}");
}

#[test]
fn lver_monotonic_fires_on_two_owners_of_one_lver_and_leader_lver_on_disk_on_a_leader_going_back() {
    let mut world = paxos_world(&config(3, FaultPreset::None));
    run_until_exclusive(&mut world, 0);
    let grant = *world.workload().books[0].grants.last().expect("granted");
    let other = HostIndex((grant.host.0 + 1) % 3);
    world.workload_mut().books[0].grants.push(Grant {
        host: other,
        host_id: u64::from(other.0) + 1,
        ..grant
    });
    let v = world.step().expect_err("must fire");
    assert_eq!(v.invariant, "lver_monotonic");
    assert!(v.message.contains("granted to two owners"), "{v}");

    let mut world = paxos_world(&config(3, FaultPreset::None));
    run_until_exclusive(&mut world, 0);
    world.step().expect("clean");
    let sector = world.workload().geometry().sector_bytes();
    let mut leader = LeaderRecord::decode(world.disk(0).peek(0, sector)).expect("leader");
    assert!(leader.lver >= 1);
    leader.lver -= 1;
    let mut bytes = world.disk(0).peek(0, sector).to_vec();
    bytes[..LeaderRecord::ENCODED_LEN].copy_from_slice(&leader.with_checksum().encode());
    world.disk_mut(0).poke(0, &bytes);
    let v = world.step().expect_err("must fire");
    assert_eq!(v.invariant, "leader_lver_on_disk");
    assert!(v.message.contains("went back"), "{v}");
}

#[test]
fn handover_version_fires_when_an_expected_lver_acquire_follows_another_grant() {
    let mut world = paxos_world(&config(4, FaultPreset::None));
    run_until_exclusive(&mut world, 0);
    let grant = *world.workload().books[0].grants.last().expect("granted");
    world.workload_mut().books[0].grants.push(Grant {
        lver: grant.lver + 1,
        expected: Some(grant.lver - 1),
        floor: grant.lver,
        ..grant
    });
    let v = world.step().expect_err("must fire");
    assert_eq!(v.invariant, "handover_version");
}

#[test]
fn liveness_bound_fires_when_a_live_host_keeps_a_lease_it_does_not_hold() {
    let c = config(6, FaultPreset::None);
    let mut world = paxos_world(&c);
    let liveness_at = world.workload().params.liveness_at;
    world
        .run_until(TrueTime::from_millis(liveness_at.as_millis() - 30_000))
        .expect("clean");
    // A leader naming host 3's current generation, which host 3 does not know it holds (as
    // a failed acquire whose leader write landed leaves it): h0's want never succeeds.
    let gen = world.workload().delta.hosts[2]
        .lease
        .as_ref()
        .expect("joined")
        .generation;
    let sector = world.workload().geometry().sector_bytes();
    let mut bytes = world.disk(0).peek(0, sector).to_vec();
    let mut leader = LeaderRecord::decode(&bytes).expect("leader");
    leader.lver += 1;
    leader.owner_id = 3;
    leader.owner_generation = gen;
    leader.write_id = 3;
    leader.timestamp = 12_345;
    bytes[..LeaderRecord::ENCODED_LEN].copy_from_slice(&leader.with_checksum().encode());
    world.disk_mut(0).poke(0, &bytes);
    let v = run_paxos_world(&mut world).expect_err("must fire");
    assert_eq!(v.invariant, "liveness_bound");
    assert_eq!(v.hosts, vec![HostIndex(0)]);
    assert!(v.message.contains("-243"), "{v}");
}
