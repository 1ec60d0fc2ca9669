//! `request_record`: sector 1 of a paxos lease (spec §2.2, §5.7).
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | u32 | magic 0x08292011 |
//! | 4 | u32 | version 0x00010001 (only the major half is checked) |
//! | 8 | u64 | lver: requested lease version |
//! | 16 | u32 | force_mode: 0 none, 1 FORCE, 2 GRACEFUL |
//! | 20 | 4 | struct padding: may contain garbage (e.g. after `direct format`) |
//!
//! No checksum. Invariants: the padding is never interpreted or compared, but it is kept in
//! [`RequestRecord::padding`] so that re-encoding a sector read from disk reproduces it byte for
//! byte. Records built by this crate have zero padding.

use super::codec::{array_at, prefix, put, put_u32, put_u64, u32_at, u64_at};
use super::leader::VERSION_MAJOR_MASK;
use super::{FormatError, SANLK_REQUEST_MAGIC, SANLK_REQUEST_VERSION};

/// Magic of a request record.
pub const REQ_DISK_MAGIC: u32 = 0x0829_2011;
/// Version of a request record (major 1, minor 1).
pub const REQ_DISK_VERSION: u32 = 0x0001_0001;
/// force_mode: no action requested.
pub const FORCE_MODE_NONE: u32 = 0;
/// force_mode `SANLK_REQ_FORCE`: kill the holder.
pub const FORCE_MODE_FORCE: u32 = 1;
/// force_mode `SANLK_REQ_GRACEFUL`: run the killpath or SIGTERM the holder.
pub const FORCE_MODE_GRACEFUL: u32 = 2;

/// The 24-byte request record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RequestRecord {
    /// [`REQ_DISK_MAGIC`].
    pub magic: u32,
    /// [`REQ_DISK_VERSION`].
    pub version: u32,
    /// Requested lease version.
    pub lver: u64,
    /// `FORCE_MODE_*`.
    pub force_mode: u32,
    /// Trailing struct padding as found on disk (meaningless; preserved for byte-exact
    /// re-encoding).
    pub padding: [u8; 4],
}

/// Read-side validation failures of a request record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Wrong magic (`SANLK_REQUEST_MAGIC`, -270).
    #[error("request record magic {found:#010x}, expected {REQ_DISK_MAGIC:#010x}")]
    Magic {
        /// Magic read from disk.
        found: u32,
    },
    /// Wrong major version (`SANLK_REQUEST_VERSION`, -271).
    #[error("request record version {found:#010x}, expected major {REQ_DISK_VERSION:#010x}")]
    Version {
        /// Version read from disk.
        found: u32,
    },
}

impl RequestError {
    /// The sanlock return code (-270 or -271).
    #[must_use]
    pub fn sanlock_errno(&self) -> i32 {
        match self {
            RequestError::Magic { .. } => SANLK_REQUEST_MAGIC,
            RequestError::Version { .. } => SANLK_REQUEST_VERSION,
        }
    }
}

impl RequestRecord {
    /// Encoded size in bytes.
    pub const ENCODED_LEN: usize = 24;
    /// Offset of `magic`.
    pub const MAGIC_OFFSET: usize = 0;
    /// Offset of `version`.
    pub const VERSION_OFFSET: usize = Self::MAGIC_OFFSET + 4;
    /// Offset of `lver`.
    pub const LVER_OFFSET: usize = Self::VERSION_OFFSET + 4;
    /// Offset of `force_mode`.
    pub const FORCE_MODE_OFFSET: usize = Self::LVER_OFFSET + 8;
    /// Offset of the 4 padding bytes.
    pub const PADDING_OFFSET: usize = Self::FORCE_MODE_OFFSET + 4;

    /// A valid record requesting `lver` with `force_mode`, zero padding. `new(0, 0)` is what
    /// init writes and what clears a request.
    #[must_use]
    pub const fn new(lver: u64, force_mode: u32) -> RequestRecord {
        RequestRecord {
            magic: REQ_DISK_MAGIC,
            version: REQ_DISK_VERSION,
            lver,
            force_mode,
            padding: [0; 4],
        }
    }

    /// Encodes the fields, including `padding`, exactly as they are.
    #[must_use]
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        put_u32(&mut out, Self::MAGIC_OFFSET, self.magic);
        put_u32(&mut out, Self::VERSION_OFFSET, self.version);
        put_u64(&mut out, Self::LVER_OFFSET, self.lver);
        put_u32(&mut out, Self::FORCE_MODE_OFFSET, self.force_mode);
        put(&mut out, Self::PADDING_OFFSET, &self.padding);
        out
    }

    /// Decodes the first 24 bytes of `bytes` into raw field values (no validation).
    pub fn decode(bytes: &[u8]) -> Result<RequestRecord, FormatError> {
        let b = prefix::<{ Self::ENCODED_LEN }>(bytes)?;
        Ok(RequestRecord {
            magic: u32_at(b, Self::MAGIC_OFFSET),
            version: u32_at(b, Self::VERSION_OFFSET),
            lver: u64_at(b, Self::LVER_OFFSET),
            force_mode: u32_at(b, Self::FORCE_MODE_OFFSET),
            padding: array_at(b, Self::PADDING_OFFSET),
        })
    }

    /// Checks magic (-270) then major version (-271).
    pub fn verify(&self) -> Result<(), RequestError> {
        if self.magic != REQ_DISK_MAGIC {
            return Err(RequestError::Magic { found: self.magic });
        }
        if self.version & VERSION_MAJOR_MASK != REQ_DISK_VERSION & VERSION_MAJOR_MASK {
            return Err(RequestError::Version {
                found: self.version,
            });
        }
        Ok(())
    }

    /// Whether two records are equal ignoring the padding.
    #[must_use]
    pub fn same_fields(&self, other: &RequestRecord) -> bool {
        RequestRecord {
            padding: [0; 4],
            ..*self
        } == RequestRecord {
            padding: [0; 4],
            ..*other
        }
    }
}

const _: () = assert!(RequestRecord::PADDING_OFFSET + 4 == RequestRecord::ENCODED_LEN);
