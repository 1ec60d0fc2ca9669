//! `rindex_header`: sector 0 of a resource index area (spec §2.5, §6).
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | u32 | magic 0x01042018 |
//! | 4 | u32 | version 0x00010002 (only the major half is checked) |
//! | 8 | u32 | flags: `RHF_ALIGN_*` (0x1..0x8, not the leader's 0x10..0x80) |
//! | 12 | u32 | sector_size |
//! | 16 | u32 | max_resources (default 4096, at most the geometry's entry maximum) |
//! | 20 | u32 | unused |
//! | 24 | u64 | rx_offset: absolute offset of this header |
//! | 32 | 48 | lockspace_name |
//!
//! No checksum. Invariants: `rx_offset` must equal the offset the header was read from;
//! validation order is magic (-274), major version (-275), lockspace name (-276), offset (-277).

use super::codec::{array_at, prefix, put, put_u32, put_u64, u32_at, u64_at};
use super::leader::VERSION_MAJOR_MASK;
use super::name::Name;
use super::{
    FormatError, SANLK_RINDEX_DIFF, SANLK_RINDEX_LOCKSPACE, SANLK_RINDEX_MAGIC,
    SANLK_RINDEX_OFFSET, SANLK_RINDEX_VERSION,
};
use crate::geometry::{Geometry, GeometryError};

/// Magic of a rindex header.
pub const RINDEX_DISK_MAGIC: u32 = 0x0104_2018;
/// Version of a rindex header (major 1, minor 2).
pub const RINDEX_DISK_VERSION: u32 = 0x0001_0002;
/// max_resources written by `format` when the caller gives none.
pub const RINDEX_MAX_RESOURCES_DEFAULT: u32 = 4096;

/// The 80-byte rindex header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RindexHeader {
    /// [`RINDEX_DISK_MAGIC`].
    pub magic: u32,
    /// [`RINDEX_DISK_VERSION`].
    pub version: u32,
    /// `RHF_ALIGN_*` bit.
    pub flags: u32,
    /// Sector size in bytes.
    pub sector_size: u32,
    /// Number of entries searched by every operation.
    pub max_resources: u32,
    /// Unused, 0.
    pub unused: u32,
    /// Absolute offset of this header.
    pub rx_offset: u64,
    /// Lockspace the indexed resources belong to.
    pub lockspace_name: Name,
}

/// Rindex validation failures (spec §6).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RindexError {
    /// Wrong header magic (`SANLK_RINDEX_MAGIC`, -274).
    #[error("rindex magic {found:#010x}, expected {RINDEX_DISK_MAGIC:#010x}")]
    Magic {
        /// Magic read from disk.
        found: u32,
    },
    /// Wrong major version (`SANLK_RINDEX_VERSION`, -275).
    #[error("rindex version {found:#010x}, expected major {RINDEX_DISK_VERSION:#010x}")]
    Version {
        /// Version read from disk.
        found: u32,
    },
    /// Lockspace name differs (`SANLK_RINDEX_LOCKSPACE`, -276).
    #[error("rindex lockspace {found}, expected {expected}")]
    Lockspace {
        /// Name read from disk.
        found: Name,
        /// Name expected.
        expected: Name,
    },
    /// Header rx_offset differs from where it was read, or a resource offset is not an
    /// align-size multiple (`SANLK_RINDEX_OFFSET`, -277).
    #[error("rindex offset {found}, expected {expected}")]
    Offset {
        /// Offset found.
        found: u64,
        /// Offset expected.
        expected: u64,
    },
    /// The entry at the looked-up slot has a different name (`SANLK_RINDEX_DIFF`, -278).
    #[error("rindex entry name {found}, expected {expected}")]
    Diff {
        /// Name in the entry.
        found: Name,
        /// Name looked up.
        expected: Name,
    },
}

impl RindexError {
    /// The sanlock return code (-274 ..= -278).
    #[must_use]
    pub fn sanlock_errno(&self) -> i32 {
        match self {
            RindexError::Magic { .. } => SANLK_RINDEX_MAGIC,
            RindexError::Version { .. } => SANLK_RINDEX_VERSION,
            RindexError::Lockspace { .. } => SANLK_RINDEX_LOCKSPACE,
            RindexError::Offset { .. } => SANLK_RINDEX_OFFSET,
            RindexError::Diff { .. } => SANLK_RINDEX_DIFF,
        }
    }
}

impl RindexHeader {
    /// Encoded size in bytes.
    pub const ENCODED_LEN: usize = 80;
    /// Offset of `magic`.
    pub const MAGIC_OFFSET: usize = 0;
    /// Offset of `version`.
    pub const VERSION_OFFSET: usize = Self::MAGIC_OFFSET + 4;
    /// Offset of `flags`.
    pub const FLAGS_OFFSET: usize = Self::VERSION_OFFSET + 4;
    /// Offset of `sector_size`.
    pub const SECTOR_SIZE_OFFSET: usize = Self::FLAGS_OFFSET + 4;
    /// Offset of `max_resources`.
    pub const MAX_RESOURCES_OFFSET: usize = Self::SECTOR_SIZE_OFFSET + 4;
    /// Offset of `unused`.
    pub const UNUSED_OFFSET: usize = Self::MAX_RESOURCES_OFFSET + 4;
    /// Offset of `rx_offset`.
    pub const RX_OFFSET_OFFSET: usize = Self::UNUSED_OFFSET + 4;
    /// Offset of `lockspace_name`.
    pub const LOCKSPACE_NAME_OFFSET: usize = Self::RX_OFFSET_OFFSET + 8;

    /// The header `format` writes: geometry flags and sector size, `max_resources` (0 means
    /// [`RINDEX_MAX_RESOURCES_DEFAULT`], clamped to the geometry's entry maximum).
    #[must_use]
    pub fn new(
        geometry: Geometry,
        space: &Name,
        rx_offset: u64,
        max_resources: u32,
    ) -> RindexHeader {
        let requested = if max_resources == 0 {
            RINDEX_MAX_RESOURCES_DEFAULT
        } else {
            max_resources
        };
        let entries_max = u32::try_from(geometry.rindex_entries_max()).unwrap_or(u32::MAX);
        RindexHeader {
            magic: RINDEX_DISK_MAGIC,
            version: RINDEX_DISK_VERSION,
            flags: geometry.rindex_align_flag(),
            sector_size: geometry.sector_size().bytes(),
            max_resources: requested.min(entries_max),
            unused: 0,
            rx_offset,
            lockspace_name: *space,
        }
    }

    /// Encodes the fields exactly as they are.
    #[must_use]
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        put_u32(&mut out, Self::MAGIC_OFFSET, self.magic);
        put_u32(&mut out, Self::VERSION_OFFSET, self.version);
        put_u32(&mut out, Self::FLAGS_OFFSET, self.flags);
        put_u32(&mut out, Self::SECTOR_SIZE_OFFSET, self.sector_size);
        put_u32(&mut out, Self::MAX_RESOURCES_OFFSET, self.max_resources);
        put_u32(&mut out, Self::UNUSED_OFFSET, self.unused);
        put_u64(&mut out, Self::RX_OFFSET_OFFSET, self.rx_offset);
        put(
            &mut out,
            Self::LOCKSPACE_NAME_OFFSET,
            self.lockspace_name.as_bytes(),
        );
        out
    }

    /// Decodes the first 80 bytes of `bytes` into raw field values (no validation).
    pub fn decode(bytes: &[u8]) -> Result<RindexHeader, FormatError> {
        let b = prefix::<{ Self::ENCODED_LEN }>(bytes)?;
        Ok(RindexHeader {
            magic: u32_at(b, Self::MAGIC_OFFSET),
            version: u32_at(b, Self::VERSION_OFFSET),
            flags: u32_at(b, Self::FLAGS_OFFSET),
            sector_size: u32_at(b, Self::SECTOR_SIZE_OFFSET),
            max_resources: u32_at(b, Self::MAX_RESOURCES_OFFSET),
            unused: u32_at(b, Self::UNUSED_OFFSET),
            rx_offset: u64_at(b, Self::RX_OFFSET_OFFSET),
            lockspace_name: Name::from_bytes(array_at(b, Self::LOCKSPACE_NAME_OFFSET)),
        })
    }

    /// Validation in sanlock's order: magic (-274), major version (-275), lockspace name
    /// (-276), `rx_offset == read_offset` (-277).
    pub fn verify(&self, space: &Name, read_offset: u64) -> Result<(), RindexError> {
        if self.magic != RINDEX_DISK_MAGIC {
            return Err(RindexError::Magic { found: self.magic });
        }
        if self.version & VERSION_MAJOR_MASK != RINDEX_DISK_VERSION & VERSION_MAJOR_MASK {
            return Err(RindexError::Version {
                found: self.version,
            });
        }
        if !self.lockspace_name.matches(space) {
            return Err(RindexError::Lockspace {
                found: self.lockspace_name,
                expected: *space,
            });
        }
        if self.rx_offset != read_offset {
            return Err(RindexError::Offset {
                found: self.rx_offset,
                expected: read_offset,
            });
        }
        Ok(())
    }

    /// The geometry recorded in `flags` and `sector_size`.
    pub fn geometry(&self) -> Result<Geometry, GeometryError> {
        Geometry::from_rindex_flags(self.flags, self.sector_size)
    }
}

const _: () = assert!(RindexHeader::LOCKSPACE_NAME_OFFSET + 48 == RindexHeader::ENCODED_LEN);
