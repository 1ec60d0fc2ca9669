//! `rindex_entry`: one 64-byte slot of the resource index (spec §2.5, §6).
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | u64 | res_offset: absolute offset of the resource lease (0 = free) |
//! | 8 | u32 | flags (unused, 0) |
//! | 12 | u32 | unused |
//! | 16 | 48 | name (empty = free) |
//!
//! Entry `N` lives at `rx_offset + sector_size + 64 * N`; its resource lease at
//! `rx_offset + (2 + N) * align_size` (see [`crate::geometry::Geometry::rindex_entry_offset`]).
//! No checksum. Invariant: a free slot has `res_offset == 0` and an empty name.

use super::codec::{array_at, prefix, put, put_u32, put_u64, u32_at, u64_at};
use super::name::Name;
use super::FormatError;

/// The 64-byte rindex entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RindexEntry {
    /// Absolute offset of the resource lease; 0 = free.
    pub res_offset: u64,
    /// Unused, 0.
    pub flags: u32,
    /// Unused, 0.
    pub unused: u32,
    /// Resource name; empty = free.
    pub name: Name,
}

impl RindexEntry {
    /// Encoded size in bytes.
    pub const ENCODED_LEN: usize = 64;
    /// Offset of `res_offset`.
    pub const RES_OFFSET_OFFSET: usize = 0;
    /// Offset of `flags`.
    pub const FLAGS_OFFSET: usize = Self::RES_OFFSET_OFFSET + 8;
    /// Offset of `unused`.
    pub const UNUSED_OFFSET: usize = Self::FLAGS_OFFSET + 4;
    /// Offset of `name`.
    pub const NAME_OFFSET: usize = Self::UNUSED_OFFSET + 4;

    /// An entry naming the resource lease at `res_offset`.
    #[must_use]
    pub const fn new(name: Name, res_offset: u64) -> RindexEntry {
        RindexEntry {
            res_offset,
            flags: 0,
            unused: 0,
            name,
        }
    }

    /// Whether the slot is free (`res_offset == 0` and empty name).
    #[must_use]
    pub const fn is_free(&self) -> bool {
        self.res_offset == 0 && self.name.is_empty()
    }

    /// Encodes the fields exactly as they are.
    #[must_use]
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        put_u64(&mut out, Self::RES_OFFSET_OFFSET, self.res_offset);
        put_u32(&mut out, Self::FLAGS_OFFSET, self.flags);
        put_u32(&mut out, Self::UNUSED_OFFSET, self.unused);
        put(&mut out, Self::NAME_OFFSET, self.name.as_bytes());
        out
    }

    /// Decodes the first 64 bytes of `bytes` into raw field values.
    pub fn decode(bytes: &[u8]) -> Result<RindexEntry, FormatError> {
        let b = prefix::<{ Self::ENCODED_LEN }>(bytes)?;
        Ok(RindexEntry {
            res_offset: u64_at(b, Self::RES_OFFSET_OFFSET),
            flags: u32_at(b, Self::FLAGS_OFFSET),
            unused: u32_at(b, Self::UNUSED_OFFSET),
            name: Name::from_bytes(array_at(b, Self::NAME_OFFSET)),
        })
    }
}

const _: () = assert!(RindexEntry::NAME_OFFSET + 48 == RindexEntry::ENCODED_LEN);
