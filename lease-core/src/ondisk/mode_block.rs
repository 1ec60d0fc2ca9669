//! `mode_block`: shared-mode marker at +128 of a host's paxos sector (spec §2.4, §5.6).
//!
//! | off (in block) | off (in sector) | size | field |
//! |---|---|---|---|
//! | 0 | 128 | u32 | flags: [`MBLOCK_SHARED`] |
//! | 4 | 132 | 4 | padding: not initialised by sanlock; ignored on read, written as zero |
//! | 8 | 136 | u64 | generation: the SH holder's host generation |
//!
//! No checksum. Invariants: the padding is never interpreted or preserved; writing a dblock
//! sector without the mode block erases it (whole-sector writes).

use super::codec::{prefix, put_u32, put_u64, u32_at, u64_at};
use super::FormatError;

/// Mode block flag: the host holds the lease in shared mode.
pub const MBLOCK_SHARED: u32 = 0x1;

/// The 16-byte mode block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ModeBlock {
    /// [`MBLOCK_SHARED`] or 0.
    pub flags: u32,
    /// Host generation of the shared holder.
    pub generation: u64,
}

impl ModeBlock {
    /// Encoded size in bytes.
    pub const ENCODED_LEN: usize = 16;
    /// Offset of the mode block inside the host's sector.
    pub const SECTOR_OFFSET: usize = 128;
    /// Offset of `flags`.
    pub const FLAGS_OFFSET: usize = 0;
    /// Offset of the 4 padding bytes.
    pub const PADDING_OFFSET: usize = Self::FLAGS_OFFSET + 4;
    /// Offset of `generation`.
    pub const GENERATION_OFFSET: usize = Self::PADDING_OFFSET + 4;

    /// Encodes with zero padding.
    #[must_use]
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        put_u32(&mut out, Self::FLAGS_OFFSET, self.flags);
        put_u64(&mut out, Self::GENERATION_OFFSET, self.generation);
        out
    }

    /// Decodes the first 16 bytes of `bytes`, ignoring the padding.
    pub fn decode(bytes: &[u8]) -> Result<ModeBlock, FormatError> {
        let b = prefix::<{ Self::ENCODED_LEN }>(bytes)?;
        Ok(ModeBlock {
            flags: u32_at(b, Self::FLAGS_OFFSET),
            generation: u64_at(b, Self::GENERATION_OFFSET),
        })
    }

    /// Whether [`MBLOCK_SHARED`] is set.
    #[must_use]
    pub const fn is_shared(&self) -> bool {
        self.flags & MBLOCK_SHARED != 0
    }
}

const _: () = assert!(ModeBlock::GENERATION_OFFSET + 8 == ModeBlock::ENCODED_LEN);
