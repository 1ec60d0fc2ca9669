//! Finding L (`docs/sim.md`): a host's release of its host_id (timestamp 0) hangs in the
//! storage, the host re-joins the lockspace with a new generation and takes a resource lease,
//! and then the old release lands over the new record. Another host's owner liveness check
//! (spec §5.3) read "owner released its host_id" and took the lease from its live holder.
//!
//! Two layers keep it from happening: `DeltaAcquire` is fenced on our own slot (seam rule 6:
//! the re-join waits until the late write finished), and §5.3 does not take a release of an
//! *older* generation than the leader's owner as proof that the owner is gone.

use std::sync::Arc;
use std::time::Duration;

use lease_core::delta_lease::{DeltaAcquire, DeltaRelease, HeldDeltaLease};
use lease_core::fence::WriteFence;
use lease_core::host_table::HostTable;
use lease_core::ondisk::{DeltaSector, LeaderRecord};
use lease_core::paxos_lease::{AcquireRequest, PaxosAcquire, PaxosError};
use lease_core::seam::{run_blocking, BlockStorage, Clock, FenceArea, Io, Operation, Resume, Step};
use lease_core::testing::{MemDisks, VirtualClock};
use lease_core::time::MonoTime;

mod common;

use common::*;

/// The release's one write, issued and not landed yet (it hangs).
fn hung_release(lease: HeldDeltaLease, now: MonoTime) -> Io {
    let mut release = DeltaRelease::new(lease);
    let Step::Io { mut ios, .. } = release.resume(now, Resume::Start) else {
        panic!("a release is one write");
    };
    assert_eq!(ios.len(), 1);
    ios.pop().expect("one write")
}

fn slot(disks: &MemDisks, host_id: u64) -> LeaderRecord {
    let offset = LS_OFFSET + (host_id - 1) * 512;
    DeltaSector::decode(&disks.peek(LS_DISK, offset, 512))
        .unwrap()
        .leader
}

#[test]
fn a_rejoin_waits_in_the_write_fence_for_our_late_release() {
    let disks = disks();
    let mut clock = VirtualClock::starting_at(MonoTime::from_secs(1000));
    let first = join(&disks, &mut clock, 1, 0);
    let generation = first.generation;

    // The release is issued through the fence (a delta release has no fence area: it is
    // never held, but its write is registered) and hangs.
    let mut fence: WriteFence<usize> = WriteFence::new();
    let release = hung_release(first, clock.now());
    let mut issued = vec![false];
    let admitted = fence.admit(&[], std::slice::from_ref(&release), Some, &mut issued);
    let token = admitted[0].token.expect("a write is registered");
    // A write of this host to the next slot, also pending: not our slot, holds nothing.
    let elsewhere = Io::Write {
        disk: 0,
        offset: LS_OFFSET + 512,
        data: vec![0; 512],
    };
    let mut issued = vec![false];
    let other = fence.admit(&[], &[elsewhere], Some, &mut issued)[0]
        .token
        .expect("registered");

    // The re-join: its fence area is exactly our slot, and its first read waits.
    let mut acquire = DeltaAcquire::new(delta_config(1, generation));
    assert_eq!(
        acquire.fence_areas(),
        vec![FenceArea {
            disk: 0,
            offset: LS_OFFSET,
            len: 512
        }]
    );
    let Step::Io { ios, timeout } = acquire.resume(clock.now(), Resume::Start) else {
        panic!("an acquire starts with a read");
    };
    let areas = acquire.fence_areas();
    let mut issued = vec![false; ios.len()];
    assert!(
        fence.admit(&areas, &ios, Some, &mut issued).is_empty(),
        "the re-join must not read our slot while our release may still land"
    );
    assert!(fence.finished(other));
    assert!(
        fence.admit(&areas, &ios, Some, &mut issued).is_empty(),
        "a write to another slot was not what held it"
    );

    // The release lands (late), the kernel completes it: the re-join goes ahead.
    Lockspace(disks.clone()).submit(&[release], timeout);
    assert!(fence.finished(token));
    assert_eq!(fence.admit(&areas, &ios, Some, &mut issued).len(), 1);
    let mut input = Resume::Io(Lockspace(disks.clone()).submit(&ios, timeout));
    let held = loop {
        match acquire.resume(clock.now(), input) {
            Step::Io { ios, timeout } => {
                input = Resume::Io(Lockspace(disks.clone()).submit(&ios, timeout))
            }
            Step::Sleep { until, jitter } => {
                clock.sleep_until(until, jitter);
                input = Resume::Woke;
            }
            Step::Done(result) => break result.expect("re-joined"),
        }
    };
    assert_eq!(held.generation, generation + 1);
    // Nothing of the old instance can land on the new record any more.
    let record = slot(&disks, 1);
    assert_eq!(record.owner_generation, generation + 1);
    assert_ne!(record.timestamp, 0);
}

/// The §5.3 guard, for a driver without the fence (or a late write the fence cannot order):
/// a release of an older generation than the leader's owner, found on the owner's slot, does
/// not free the owner's lease at once: the owner counts as silent from the acquirer's first
/// sight of that record, and its lease is taken only host_dead_seconds later.
#[test]
fn a_late_release_of_an_older_generation_frees_the_owners_lease_only_after_host_dead() {
    let disks = disks();
    let mut clock = VirtualClock::starting_at(MonoTime::from_secs(1000));
    let first = join(&disks, &mut clock, 1, 0);
    let old_generation = first.generation;
    let late = hung_release(first, clock.now());
    // Re-joined before the release landed (no fence in this driver), then took the lease.
    let owner = join(&disks, &mut clock, 1, old_generation);
    assert_eq!(owner.generation, old_generation + 1);
    let acquire = |delta: &HeldDeltaLease, request: AcquireRequest, clock: &mut VirtualClock| {
        let op = &mut PaxosAcquire::new(paxos_config(delta), request, None::<Arc<HostTable>>);
        run_blocking(op, &mut disks.clone(), clock)
    };
    let held =
        acquire(&owner, AcquireRequest::exclusive(), &mut clock).expect("the owner acquires");
    assert_eq!(held.leader.owner_generation, owner.generation);

    // The old release lands over the owner's record.
    Lockspace(disks.clone()).submit(&[late], timeouts().io_timeout());
    let record = slot(&disks, 1);
    assert_eq!(
        (record.timestamp, record.owner_generation),
        (0, old_generation)
    );

    // Another host that will not wait: the owner is not judged released (-247, not a grant).
    let other = join(&disks, &mut clock, 2, 0);
    let nowait = AcquireRequest {
        owner_nowait: true,
        ..AcquireRequest::exclusive()
    };
    let result = acquire(&other, nowait, &mut clock);
    assert!(
        matches!(result, Err(PaxosError::OwnedRetry { owner_id: 1 })),
        "a late release of generation {old_generation} must not free a lease of generation {}: \
         {result:?}",
        owner.generation
    );
    let leader = LeaderRecord::decode(&disks.peek(0, LEASE_OFFSET, 512)).unwrap();
    assert_eq!(
        (leader.lver, leader.owner_id, leader.owner_generation),
        (held.leader.lver, 1, owner.generation),
        "the leader is left alone"
    );

    // A waiting acquire: granted once the slot stayed as it is for host_dead_seconds, counted
    // from its own first read of it, and not before.
    let started = clock.now();
    let taken = acquire(&other, AcquireRequest::exclusive(), &mut clock)
        .expect("a silent owner is dead after host_dead_seconds");
    let waited = clock.now().saturating_since(started);
    let host_dead = Duration::from_secs(timeouts().host_dead_seconds());
    assert!(
        waited > host_dead,
        "waited {waited:?}, host_dead {host_dead:?}"
    );
    assert_eq!(taken.leader.owner_id, 2);
    assert_eq!(taken.leader.lver, held.leader.lver + 1);
}
