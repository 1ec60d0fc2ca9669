//! Byte-exact encodings of sanlock's on-disk structures (spec §1, §2).
//!
//! One file per structure. Each structure has an explicit little-endian `encode` to a fixed-size
//! array and a `decode(&[u8])` that accepts a slice of any length: it checks the length, reads
//! the raw field values and never panics. Semantic validation (magic, version, names, checksum)
//! is a separate `verify*` step, so callers can inspect records that fail it.
//!
//! | structure | size | where |
//! |---|---|---|
//! | [`LeaderRecord`] | 200 | sector 0 of a paxos lease; start of every delta-lease sector |
//! | [`HostBitmap`] | 256 | +256 of every delta-lease sector |
//! | [`RequestRecord`] | 24 | sector 1 of a paxos lease |
//! | [`Dblock`] | 56 | +0 of host `H`'s sector (sector `H + 1`) of a paxos lease |
//! | [`ModeBlock`] | 16 | +128 of the same sector |
//! | [`RindexHeader`] | 80 | sector 0 of a rindex area |
//! | [`RindexEntry`] | 64 | entry `N` at +`sector_size + 64 * N` of a rindex area |
//!
//! [`DeltaSector`] and [`HostSector`] are whole-sector images. Every sanlock write is a full
//! sector whose bytes after the structures are zero; the sector encoders reproduce that.
//! [`lockspace_init_area`], [`paxos_init_area`] and [`rindex_format_area`] build the exact
//! area images sanlock's `init`/`format` commands write.
//!
//! Invariants: `decode(encode(x)) == x` for every structure (the mode block's padding is the
//! only on-disk byte range not round-tripped: it is always written as zero);
//! `encode(decode(bytes))` equals the first `ENCODED_LEN` bytes of `bytes` for every fixed-size
//! structure except the mode block. Sector images additionally zero every byte between and
//! after their structures. Decoders and `verify*` never panic, whatever the input.

mod area;
mod bitmap;
mod codec;
mod dblock;
mod delta_sector;
mod host_sector;
mod leader;
mod mode_block;
mod name;
mod request;
mod rindex_entry;
mod rindex_header;

pub use area::{lockspace_init_area, paxos_init_area, rindex_format_area, RINDEX_LEASE_NAME};
pub use bitmap::HostBitmap;
pub use dblock::{ChecksumError, Dblock, DBLOCK_FL_RELEASED};
pub use delta_sector::DeltaSector;
pub use host_sector::HostSector;
pub use leader::{
    LeaderError, LeaderRecord, DELTA_LEASE_MAGIC, DELTA_LEASE_VERSION, LEADER_CHECKSUM_LEN,
    LEADER_COMPARE_LEN, LFL_SHORT_HOLD, PAXOS_DISK_CLEAR_MAGIC, PAXOS_LEASE_MAGIC,
    PAXOS_LEASE_VERSION, VERSION_MAJOR_MASK,
};
pub use mode_block::{ModeBlock, MBLOCK_SHARED};
pub use name::{Name, NameError, NAME_LEN};
pub use request::{
    RequestError, RequestRecord, FORCE_MODE_FORCE, FORCE_MODE_GRACEFUL, FORCE_MODE_NONE,
    REQ_DISK_MAGIC, REQ_DISK_VERSION,
};
pub use rindex_entry::RindexEntry;
pub use rindex_header::{
    RindexError, RindexHeader, RINDEX_DISK_MAGIC, RINDEX_DISK_VERSION, RINDEX_MAX_RESOURCES_DEFAULT,
};

/// Errors from decoding raw bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The input is shorter than the structure.
    #[error("truncated input: needed {needed} bytes, got {got}")]
    Truncated {
        /// Bytes the structure needs.
        needed: usize,
        /// Bytes supplied.
        got: usize,
    },
}

/// `SANLK_DBLOCK_CHECKSUM`: bad dblock checksum.
pub const SANLK_DBLOCK_CHECKSUM: i32 = -214;
/// `SANLK_LEADER_MAGIC`: wrong (or CLEAR) leader magic.
pub const SANLK_LEADER_MAGIC: i32 = -223;
/// `SANLK_LEADER_VERSION`: wrong leader major version.
pub const SANLK_LEADER_VERSION: i32 = -224;
/// `SANLK_LEADER_SECTORSIZE`: leader sector size differs from the expected one.
pub const SANLK_LEADER_SECTORSIZE: i32 = -225;
/// `SANLK_LEADER_LOCKSPACE`: leader lockspace name differs.
pub const SANLK_LEADER_LOCKSPACE: i32 = -226;
/// `SANLK_LEADER_RESOURCE`: leader resource name differs.
pub const SANLK_LEADER_RESOURCE: i32 = -227;
/// `SANLK_LEADER_NUMHOSTS`: leader num_hosts smaller than our host id.
pub const SANLK_LEADER_NUMHOSTS: i32 = -228;
/// `SANLK_LEADER_CHECKSUM`: leader checksum mismatch.
pub const SANLK_LEADER_CHECKSUM: i32 = -229;
/// `SANLK_REQUEST_MAGIC`: wrong request record magic.
pub const SANLK_REQUEST_MAGIC: i32 = -270;
/// `SANLK_REQUEST_VERSION`: wrong request record major version.
pub const SANLK_REQUEST_VERSION: i32 = -271;
/// `SANLK_RINDEX_MAGIC`: wrong rindex header magic.
pub const SANLK_RINDEX_MAGIC: i32 = -274;
/// `SANLK_RINDEX_VERSION`: wrong rindex header major version.
pub const SANLK_RINDEX_VERSION: i32 = -275;
/// `SANLK_RINDEX_LOCKSPACE`: rindex lockspace name differs.
pub const SANLK_RINDEX_LOCKSPACE: i32 = -276;
/// `SANLK_RINDEX_OFFSET`: rindex offset mismatch or misaligned resource offset.
pub const SANLK_RINDEX_OFFSET: i32 = -277;
/// `SANLK_RINDEX_DIFF`: rindex entry name differs from the one looked up.
pub const SANLK_RINDEX_DIFF: i32 = -278;
