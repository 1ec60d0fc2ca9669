//! A host's whole sector in a paxos lease: dblock plus mode block (spec §1.3, §2.3, §2.4).
//!
//! Host `H` owns sector `H + 1` of the lease (`lease_offset + (1 + H) * sector_size`):
//!
//! | bytes | content |
//! |---|---|
//! | 0..56 | [`Dblock`] |
//! | 56..128 | zero |
//! | 128..144 | [`ModeBlock`] (its 4 padding bytes at 132..136 written as zero) |
//! | 144..sector_size | zero |
//!
//! Invariants: [`HostSector::encode`] always produces a full zero-padded sector, so writing a
//! dblock alone (mode block zero) clears shared mode; keeping SH while writing a dblock means
//! encoding both in the same sector.

use super::dblock::Dblock;
use super::mode_block::ModeBlock;
use super::FormatError;
use crate::geometry::SectorSize;

/// Dblock and mode block of one host sector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HostSector {
    /// The dblock at +0.
    pub dblock: Dblock,
    /// The mode block at +128.
    pub mode_block: ModeBlock,
}

impl HostSector {
    /// Bytes needed to decode (through the end of the mode block).
    pub const DECODE_LEN: usize = ModeBlock::SECTOR_OFFSET + ModeBlock::ENCODED_LEN;

    /// Encodes a full zero-padded sector of `sector_size` bytes.
    #[must_use]
    pub fn encode(&self, sector_size: SectorSize) -> Vec<u8> {
        let mut sector = vec![0u8; sector_size.bytes_usize()];
        sector[..Dblock::ENCODED_LEN].copy_from_slice(&self.dblock.encode());
        sector[ModeBlock::SECTOR_OFFSET..Self::DECODE_LEN]
            .copy_from_slice(&self.mode_block.encode());
        sector
    }

    /// Decodes the dblock and mode block from the start of a sector (at least 144 bytes).
    pub fn decode(sector: &[u8]) -> Result<HostSector, FormatError> {
        if sector.len() < Self::DECODE_LEN {
            return Err(FormatError::Truncated {
                needed: Self::DECODE_LEN,
                got: sector.len(),
            });
        }
        Ok(HostSector {
            dblock: Dblock::decode(sector)?,
            mode_block: ModeBlock::decode(&sector[ModeBlock::SECTOR_OFFSET..])?,
        })
    }
}

const _: () = assert!(Dblock::ENCODED_LEN <= ModeBlock::SECTOR_OFFSET);
