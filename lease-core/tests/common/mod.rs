//! A lockspace and one resource lease on in-memory disks, shared by the lease-core integration
//! tests that drive delta and paxos operations together (`late_delta_write`,
//! `convert_final_write`): lease disk 0 holds the resource `vm1` at [`LEASE_OFFSET`], disk
//! [`LS_DISK`] the lockspace `LS`. Each test binary uses part of it.
#![allow(dead_code)]

use std::time::Duration;

use lease_core::delta_lease::{DeltaAcquire, DeltaConfig, HeldDeltaLease};
use lease_core::geometry::{AlignSize, Geometry, SectorSize};
use lease_core::ondisk::{lockspace_init_area, paxos_init_area, Name};
use lease_core::paxos_lease::{LockspaceArea, PaxosConfig};
use lease_core::seam::{run_blocking, BlockStorage, Io, IoOutcome};
use lease_core::testing::{MemDisks, VirtualClock};
use lease_core::timeouts::Timeouts;

pub const LS_OFFSET: u64 = 0;
pub const LEASE_OFFSET: u64 = 1 << 20;
/// Disk 0: the resource lease; disk 1: the lockspace.
pub const LS_DISK: usize = 1;

pub fn geometry() -> Geometry {
    Geometry::new(SectorSize::B512, AlignSize::M1).unwrap()
}

pub fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

pub fn timeouts() -> Timeouts {
    Timeouts::new(1, 60)
}

/// Two disks: resource `vm1` initialised on disk 0, lockspace `LS` on [`LS_DISK`].
pub fn disks() -> MemDisks {
    let disks = MemDisks::new(2, 4 << 20, 512);
    let area = paxos_init_area(geometry(), &name("LS"), &name("vm1"), 0, None);
    disks.poke(0, LEASE_OFFSET, &area);
    disks.poke(
        LS_DISK,
        LS_OFFSET,
        &lockspace_init_area(geometry(), &name("LS"), 1),
    );
    disks
}

pub fn delta_config(host_id: u64, previous_generation: u64) -> DeltaConfig {
    DeltaConfig {
        geometry: geometry(),
        lockspace_offset: LS_OFFSET,
        space_name: name("LS"),
        host_id,
        our_name: name(&format!("host{host_id}")),
        timeouts: timeouts(),
        previous_generation,
    }
}

/// The delta-lease operations' disk 0 is the lockspace disk.
pub fn on_lockspace(io: &Io) -> Io {
    match io.clone() {
        Io::Read { offset, len, .. } => Io::Read {
            disk: LS_DISK,
            offset,
            len,
        },
        Io::Write { offset, data, .. } => Io::Write {
            disk: LS_DISK,
            offset,
            data,
        },
    }
}

/// The disks as the delta-lease operations see them.
pub struct Lockspace(pub MemDisks);

impl BlockStorage for Lockspace {
    fn submit(&mut self, ios: &[Io], timeout: Duration) -> Vec<IoOutcome> {
        let mapped: Vec<Io> = ios.iter().map(on_lockspace).collect();
        self.0.submit(&mapped, timeout)
    }
}

/// Joins `LS` as `host_id` (a previous instance's generation `previous`, 0 for none).
pub fn join(
    disks: &MemDisks,
    clock: &mut VirtualClock,
    host_id: u64,
    previous: u64,
) -> HeldDeltaLease {
    let op = &mut DeltaAcquire::new(delta_config(host_id, previous));
    run_blocking(op, &mut Lockspace(disks.clone()), clock).expect("joined")
}

/// The resource `vm1` as the holder of `delta` acquires it.
pub fn paxos_config(delta: &HeldDeltaLease) -> PaxosConfig {
    PaxosConfig {
        geometry: geometry(),
        lease_offsets: vec![LEASE_OFFSET],
        space_name: name("LS"),
        resource_name: name("vm1"),
        host_id: delta.config.host_id,
        host_generation: delta.generation,
        timeouts: timeouts(),
        lockspace: LockspaceArea {
            geometry: geometry(),
            offset: LS_OFFSET,
        },
    }
}
