//! Finding M (`docs/sim.md`): an SH→EX conversion commits the leader (exclusive, ours), then
//! rewrites our sector without the SHARED mode block. That last write failed with EIO but
//! landed; the conversion reported failure, so its caller kept holding the lease *shared*,
//! while the erase-all retract (its RELEASED dblock write with our SHARED mode block failed
//! too, and did not land) freed the leader: nothing on disk showed our hold any more, and
//! another host's exclusive acquire was granted.
//!
//! The conversion is exclusive once its leader is committed: a failed final write no longer
//! fails it.

use std::cell::Cell;
use std::time::Duration;

use lease_core::delta_lease::HeldDeltaLease;
use lease_core::ondisk::{HostSector, LeaderRecord, MBLOCK_SHARED};
use lease_core::paxos_lease::{AcquireRequest, LeaseMode, PaxosAcquire};
use lease_core::seam::{run_blocking, BlockStorage, Io, IoOutcome};
use lease_core::testing::{Fault, Faulty, VirtualClock};
use lease_core::time::MonoTime;

mod common;

use common::*;

fn our_sector(host_id: u64) -> u64 {
    LEASE_OFFSET + (1 + host_id) * 512
}

#[test]
fn a_conversion_to_exclusive_whose_final_write_fails_still_holds_the_lease() {
    let disks = disks();
    let mut clock = VirtualClock::starting_at(MonoTime::from_secs(1000));
    let h1 = join(&disks, &mut clock, 1, 0);
    let h2 = join(&disks, &mut clock, 2, 0);

    let acquire = |delta: &HeldDeltaLease,
                   request: AcquireRequest,
                   storage: &mut dyn BlockStorage,
                   clock: &mut VirtualClock| {
        let op = &mut PaxosAcquire::new(paxos_config(delta), request, None);
        run_blocking(op, &mut Dyn(storage), clock)
    };
    let shared = acquire(
        &h1,
        AcquireRequest::shared(),
        &mut disks.clone(),
        &mut clock,
    )
    .expect("h1 acquires shared");
    assert_eq!(shared.mode, LeaseMode::Shared);

    // SH→EX: the leader commit works, the final write (our sector without the SHARED mode
    // block) lands but reports EIO, and so would every later write to our sector.
    let failed = Cell::new(0);
    let mut leader_written = false;
    let mut storage = Faulty {
        disks: disks.clone(),
        fault: |io: &Io| match io {
            Io::Write {
                disk: 0, offset, ..
            } if *offset == LEASE_OFFSET => {
                leader_written = true;
                Fault::Pass
            }
            Io::Write {
                disk: 0, offset, ..
            } if *offset == our_sector(1) && leader_written => {
                failed.set(failed.get() + 1);
                if failed.get() == 1 {
                    Fault::Landed
                } else {
                    Fault::Lost
                }
            }
            _ => Fault::Pass,
        },
    };
    let request = AcquireRequest {
        convert_from_shared: true,
        ..AcquireRequest::exclusive()
    };
    let converted = acquire(&h1, request, &mut storage, &mut clock);
    assert!(failed.get() >= 1, "the final write was made to fail");
    let sector = HostSector::decode(&disks.peek(0, our_sector(1), 512)).unwrap();
    let leader = LeaderRecord::decode(&disks.peek(0, LEASE_OFFSET, 512)).unwrap();
    match &converted {
        // Exclusive: the leader must name us.
        Ok(held) => {
            assert_eq!(held.mode, LeaseMode::Exclusive);
            assert_eq!(
                (
                    leader.timestamp != 0,
                    leader.owner_id,
                    leader.owner_generation
                ),
                (true, 1, h1.generation),
                "an exclusive holder is named by the leader"
            );
        }
        // Still shared (a failed SH→EX conversion keeps the shared hold): our SHARED mode
        // block must be on disk.
        Err(err) => assert_eq!(
            sector.mode_block.flags & MBLOCK_SHARED,
            MBLOCK_SHARED,
            "the conversion failed ({err:?}), so h1 still holds the lease shared, but \
             nothing on disk shows it: mode block {:?}, leader owner {} timestamp {}",
            sector.mode_block,
            leader.owner_id,
            leader.timestamp
        ),
    }

    // Either way another host must not get the lease exclusively now.
    let request = AcquireRequest {
        owner_nowait: true,
        ..AcquireRequest::exclusive()
    };
    let other = acquire(&h2, request, &mut disks.clone(), &mut clock);
    assert!(
        other.is_err(),
        "h2 was granted the lease while h1 holds it ({converted:?}): {other:?}"
    );
}

/// `run_blocking` wants a sized storage.
struct Dyn<'a>(&'a mut dyn BlockStorage);

impl BlockStorage for Dyn<'_> {
    fn submit(&mut self, ios: &[Io], timeout: Duration) -> Vec<IoOutcome> {
        self.0.submit(ios, timeout)
    }
}
