//! Whole-area images exactly as sanlock's `init` and `format` commands write them (spec §1.2,
//! §1.3, §5.9, §6).
//!
//! * [`lockspace_init_area`] (`sanlock direct init -s`): `max_hosts` identical delta-lease
//!   sectors (leader with align flag, num_hosts 0, max_hosts 1, the given io_timeout, empty
//!   resource_name, zero bitmap), then zero up to `align_size`.
//! * [`paxos_init_area`] (`sanlock direct init -r`): leader in sector 0, request record
//!   `{lver 0, force_mode 0}` in sector 1, every dblock/mode block zero. With `clear` the leader
//!   magic is `PAXOS_DISK_CLEAR_MAGIC` and `write_timestamp` the given time (`init -z 1`, rindex
//!   delete).
//! * [`rindex_format_area`] (`sanlock direct format -x`): header sector, zero entries. `format`
//!   also writes [`paxos_init_area`] named [`RINDEX_LEASE_NAME`] with num_hosts = max_hosts at
//!   `rx_offset + align_size` (sanlock leaves its stack garbage in the 4 request-record
//!   padding bytes there; this crate writes zero, which readers ignore).
//!
//! Invariants: every image is exactly `align_size` bytes and every byte not belonging to a
//! structure is zero, so writing it erases whatever the area held before.

use super::delta_sector::DeltaSector;
use super::leader::{LeaderRecord, PAXOS_DISK_CLEAR_MAGIC};
use super::name::Name;
use super::request::RequestRecord;
use super::rindex_header::RindexHeader;
use crate::geometry::Geometry;

/// Resource name of the paxos lease protecting a rindex (`rindex_lease`).
pub const RINDEX_LEASE_NAME: Name = Name::from_const(b"rindex_lease");

fn zeroed_area(geometry: Geometry) -> Vec<u8> {
    // An area is at most 8 MiB, which fits in usize on every supported target.
    let len = usize::try_from(geometry.area_bytes()).unwrap_or(usize::MAX);
    vec![0u8; len]
}

/// The lockspace area `sanlock direct init -s SPACE:0:PATH:OFFSET -o io_timeout` writes.
#[must_use]
pub fn lockspace_init_area(geometry: Geometry, space: &Name, io_timeout: u16) -> Vec<u8> {
    let mut area = zeroed_area(geometry);
    let sector_size = geometry.sector_size();
    let sector = DeltaSector {
        leader: LeaderRecord::delta_init(geometry, space, io_timeout),
        ..DeltaSector::default()
    }
    .encode(sector_size);
    let host_count = usize::try_from(geometry.max_hosts()).unwrap_or(usize::MAX);
    for chunk in area
        .chunks_exact_mut(sector_size.bytes_usize())
        .take(host_count)
    {
        chunk.copy_from_slice(&sector);
    }
    area
}

/// The paxos lease area `sanlock direct init -r SPACE:RESOURCE:PATH:OFFSET [-n num_hosts]
/// [-z 1]` writes. `num_hosts` 0 or above the geometry's max_hosts means max_hosts (as
/// sanlock does). `clear: Some(write_timestamp)` writes the CLEAR variant.
#[must_use]
pub fn paxos_init_area(
    geometry: Geometry,
    space: &Name,
    resource: &Name,
    num_hosts: u64,
    clear: Option<u64>,
) -> Vec<u8> {
    let mut leader = LeaderRecord::paxos_init(geometry, space, resource, num_hosts);
    if let Some(write_timestamp) = clear {
        leader.magic = PAXOS_DISK_CLEAR_MAGIC;
        leader.write_timestamp = write_timestamp;
        leader = leader.with_checksum();
    }
    let mut area = zeroed_area(geometry);
    let sector_len = geometry.sector_size().bytes_usize();
    area[..LeaderRecord::ENCODED_LEN].copy_from_slice(&leader.encode());
    let request = RequestRecord::new(0, 0).encode();
    area[sector_len..sector_len + RequestRecord::ENCODED_LEN].copy_from_slice(&request);
    area
}

/// The rindex area `sanlock direct format -x SPACE:PATH:RX_OFFSET` writes (the rindex lease
/// area at `rx_offset + align_size` is a separate [`paxos_init_area`]). `max_resources` 0
/// means the default 4096; larger values are clamped to the geometry's entry maximum.
#[must_use]
pub fn rindex_format_area(
    geometry: Geometry,
    space: &Name,
    rx_offset: u64,
    max_resources: u32,
) -> Vec<u8> {
    let mut area = zeroed_area(geometry);
    let header = RindexHeader::new(geometry, space, rx_offset, max_resources);
    area[..RindexHeader::ENCODED_LEN].copy_from_slice(&header.encode());
    area
}
