//! A whole delta-lease sector: leader record plus host bitmap (spec §1.2).
//!
//! Layout of the sector of host `H` at `lockspace_offset + (H - 1) * sector_size`:
//!
//! | bytes | content |
//! |---|---|
//! | 0..200 | [`LeaderRecord`] (magic 0x12212010) |
//! | 200..256 | zero |
//! | 256..512 | [`HostBitmap`] |
//! | 512..sector_size | zero (4K sectors) |
//!
//! Invariants: [`DeltaSector::encode`] always produces a full sector with every byte outside the
//! two structures zero, because sanlock writes whole zero-padded sectors. Decoding ignores the
//! padding bytes.

use super::bitmap::HostBitmap;
use super::leader::LeaderRecord;
use super::FormatError;
use crate::geometry::SectorSize;

/// Leader record and host bitmap of one delta-lease sector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DeltaSector {
    /// The delta lease leader record at +0.
    pub leader: LeaderRecord,
    /// The host bitmap at +256.
    pub bitmap: HostBitmap,
}

impl DeltaSector {
    /// Bytes needed to decode (leader through the end of the bitmap).
    pub const DECODE_LEN: usize = HostBitmap::SECTOR_OFFSET + HostBitmap::ENCODED_LEN;

    /// Encodes a full zero-padded sector of `sector_size` bytes.
    #[must_use]
    pub fn encode(&self, sector_size: SectorSize) -> Vec<u8> {
        let mut sector = vec![0u8; sector_size.bytes_usize()];
        sector[..LeaderRecord::ENCODED_LEN].copy_from_slice(&self.leader.encode());
        sector[HostBitmap::SECTOR_OFFSET..Self::DECODE_LEN].copy_from_slice(self.bitmap.as_bytes());
        sector
    }

    /// Decodes the leader and bitmap from the start of a sector (at least 512 bytes).
    pub fn decode(sector: &[u8]) -> Result<DeltaSector, FormatError> {
        if sector.len() < Self::DECODE_LEN {
            return Err(FormatError::Truncated {
                needed: Self::DECODE_LEN,
                got: sector.len(),
            });
        }
        Ok(DeltaSector {
            leader: LeaderRecord::decode(sector)?,
            bitmap: HostBitmap::decode(&sector[HostBitmap::SECTOR_OFFSET..])?,
        })
    }
}

const _: () = assert!(LeaderRecord::ENCODED_LEN <= HostBitmap::SECTOR_OFFSET);
const _: () = assert!(DeltaSector::DECODE_LEN <= 512);
