//! Sector size, align size and the offsets derived from them (spec §1, §5.4, §6).
//!
//! A [`Geometry`] is one of exactly five valid (sector size, align size) pairs:
//!
//! | sector_size | align_size | max_hosts | sectors per area | rindex entries max |
//! |---|---|---|---|---|
//! | 512  | 1 MiB | 2000 | 2048 | 16000 |
//! | 4096 | 1 MiB | 250  | 256  | 16000 |
//! | 4096 | 2 MiB | 500  | 512  | 32000 |
//! | 4096 | 4 MiB | 1000 | 1024 | 64000 |
//! | 4096 | 8 MiB | 2000 | 2048 | 128000 |
//!
//! Every area (lockspace, paxos lease, rindex, rindex lease) is `align_size` bytes long.
//! Layout inside an area, with `ss` = sector size:
//!
//! * lockspace: delta lease of host `H` (1..=max_hosts) at `offset + (H - 1) * ss`;
//! * paxos lease: leader at `offset`, request record at `offset + ss`, dblock/mode block of
//!   host `H` at `offset + (1 + H) * ss`;
//! * rindex: header at `rx_offset`, entry `N` at `rx_offset + ss + 64 * N`, the `rindex_lease`
//!   paxos lease at `rx_offset + align`, the resource lease of entry `N` at
//!   `rx_offset + (2 + N) * align`.
//!
//! Invariants: a `Geometry` value is always one of the five valid pairs (fields are private and
//! every constructor validates); host ids are 1-based and `<= max_hosts()`; offset arithmetic is
//! checked and reports overflow instead of wrapping.
//!
//! Align flags differ between the leader record (`LFL_ALIGN_*`, 0x10..0x80) and the rindex
//! header (`RHF_ALIGN_*`, 0x1..0x8). A leader without any align flag uses the legacy default:
//! 512 → 1 MiB, 4096 → 8 MiB.

use std::fmt;
use std::str::FromStr;

/// `LFL_ALIGN_1M`: leader record flag for a 1 MiB area.
pub const LFL_ALIGN_1M: u32 = 0x10;
/// `LFL_ALIGN_2M`: leader record flag for a 2 MiB area.
pub const LFL_ALIGN_2M: u32 = 0x20;
/// `LFL_ALIGN_4M`: leader record flag for a 4 MiB area.
pub const LFL_ALIGN_4M: u32 = 0x40;
/// `LFL_ALIGN_8M`: leader record flag for an 8 MiB area.
pub const LFL_ALIGN_8M: u32 = 0x80;
/// All leader align flag bits.
pub const LFL_ALIGN_MASK: u32 = LFL_ALIGN_1M | LFL_ALIGN_2M | LFL_ALIGN_4M | LFL_ALIGN_8M;

/// `RHF_ALIGN_1M`: rindex header flag for a 1 MiB area.
pub const RHF_ALIGN_1M: u32 = 0x1;
/// `RHF_ALIGN_2M`: rindex header flag for a 2 MiB area.
pub const RHF_ALIGN_2M: u32 = 0x2;
/// `RHF_ALIGN_4M`: rindex header flag for a 4 MiB area.
pub const RHF_ALIGN_4M: u32 = 0x4;
/// `RHF_ALIGN_8M`: rindex header flag for an 8 MiB area.
pub const RHF_ALIGN_8M: u32 = 0x8;
/// All rindex header align flag bits.
pub const RHF_ALIGN_MASK: u32 = RHF_ALIGN_1M | RHF_ALIGN_2M | RHF_ALIGN_4M | RHF_ALIGN_8M;

/// Size in bytes of one rindex entry (spec §2.5).
pub const RINDEX_ENTRY_SIZE_BYTES: u64 = 64;

/// Largest host id any geometry allows (512/1M and 4096/8M).
pub const HOST_ID_MAX: u64 = 2000;

/// `SANLK_ADDLS_SIZES`: invalid sector size / align size combination.
pub const SANLK_ADDLS_SIZES: i32 = -230;

/// Sector size of the device holding the leases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SectorSize {
    /// 512-byte sectors (also what sanlock assumes for every regular file).
    B512,
    /// 4096-byte sectors.
    B4096,
}

impl SectorSize {
    /// The sector size in bytes.
    #[must_use]
    pub const fn bytes(self) -> u32 {
        match self {
            SectorSize::B512 => 512,
            SectorSize::B4096 => 4096,
        }
    }

    /// The sector size in bytes as a `usize`, for buffer lengths.
    #[must_use]
    pub const fn bytes_usize(self) -> usize {
        match self {
            SectorSize::B512 => 512,
            SectorSize::B4096 => 4096,
        }
    }

    /// Parses a sector size in bytes; only 512 and 4096 exist.
    #[must_use]
    pub const fn from_bytes(bytes: u32) -> Option<SectorSize> {
        match bytes {
            512 => Some(SectorSize::B512),
            4096 => Some(SectorSize::B4096),
            _ => None,
        }
    }
}

impl fmt::Display for SectorSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.bytes())
    }
}

/// Align size: the size of every area.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlignSize {
    /// 1 MiB.
    M1,
    /// 2 MiB.
    M2,
    /// 4 MiB.
    M4,
    /// 8 MiB.
    M8,
}

impl AlignSize {
    /// The align size in bytes.
    #[must_use]
    pub const fn bytes(self) -> u64 {
        self.mebibytes() << 20
    }

    /// The align size in MiB (1, 2, 4 or 8).
    #[must_use]
    pub const fn mebibytes(self) -> u64 {
        match self {
            AlignSize::M1 => 1,
            AlignSize::M2 => 2,
            AlignSize::M4 => 4,
            AlignSize::M8 => 8,
        }
    }

    /// Parses an align size in bytes (1, 2, 4 or 8 MiB).
    #[must_use]
    pub const fn from_bytes(bytes: u64) -> Option<AlignSize> {
        match bytes {
            0x10_0000 => Some(AlignSize::M1),
            0x20_0000 => Some(AlignSize::M2),
            0x40_0000 => Some(AlignSize::M4),
            0x80_0000 => Some(AlignSize::M8),
            _ => None,
        }
    }

    /// Parses the CLI spelling `"1M"`, `"2M"`, `"4M"` or `"8M"`.
    #[must_use]
    pub fn parse(text: &str) -> Option<AlignSize> {
        match text {
            "1M" => Some(AlignSize::M1),
            "2M" => Some(AlignSize::M2),
            "4M" => Some(AlignSize::M4),
            "8M" => Some(AlignSize::M8),
            _ => None,
        }
    }
}

impl FromStr for AlignSize {
    type Err = GeometryError;

    fn from_str(text: &str) -> Result<AlignSize, GeometryError> {
        AlignSize::parse(text).ok_or_else(|| GeometryError::AlignSizeUnknown(text.to_owned()))
    }
}

impl fmt::Display for AlignSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}M", self.mebibytes())
    }
}

/// Errors from geometry validation and offset computation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GeometryError {
    /// The pair is not one of 512/1M, 4096/1M, 4096/2M, 4096/4M, 4096/8M.
    #[error("invalid sector_size/align_size combination ({sector_size}/{align_size_bytes})")]
    InvalidCombination {
        /// Sector size in bytes.
        sector_size: u32,
        /// Align size in bytes.
        align_size_bytes: u64,
    },
    /// A sector size other than 512 or 4096.
    #[error("unknown sector size {0}")]
    SectorSizeUnknown(u32),
    /// An align size other than 1M, 2M, 4M or 8M.
    #[error("unknown align size {0:?} (expected 1M, 2M, 4M or 8M)")]
    AlignSizeUnknown(String),
    /// More than one align flag bit is set.
    #[error("ambiguous align flags {flags:#x}")]
    AlignFlagsAmbiguous {
        /// The flags word as read.
        flags: u32,
    },
    /// Host id 0 or larger than the geometry's max_hosts.
    #[error("invalid host_id {host_id} (valid: 1..={host_id_max})")]
    HostIdInvalid {
        /// The rejected host id.
        host_id: u64,
        /// The largest valid host id.
        host_id_max: u64,
    },
    /// Offset not a multiple of the sector size.
    #[error("offset {offset} is not a multiple of the sector size {sector_size}")]
    OffsetUnaligned {
        /// The rejected offset.
        offset: u64,
        /// Sector size in bytes.
        sector_size: u32,
    },
    /// Rindex entry index beyond the geometry's maximum.
    #[error("rindex entry {index} out of range (max {entries_max})")]
    RindexIndexInvalid {
        /// The rejected index.
        index: u64,
        /// Number of entries the geometry allows.
        entries_max: u64,
    },
    /// Offset arithmetic overflowed u64.
    #[error("offset computation overflowed")]
    OffsetOverflow,
}

impl GeometryError {
    /// The sanlock return code closest to this error (`-230` for a bad combination, `-EINVAL`
    /// otherwise).
    #[must_use]
    pub fn sanlock_errno(&self) -> i32 {
        match self {
            GeometryError::InvalidCombination { .. } => SANLK_ADDLS_SIZES,
            _ => -22,
        }
    }
}

/// A validated (sector size, align size) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    sector_size: SectorSize,
    align_size: AlignSize,
}

impl Geometry {
    /// 512-byte sectors, 1 MiB areas (the legacy default and what regular files get).
    pub const S512_A1M: Geometry = Geometry {
        sector_size: SectorSize::B512,
        align_size: AlignSize::M1,
    };

    /// All five valid geometries.
    pub const ALL: [Geometry; 5] = [
        Geometry::S512_A1M,
        Geometry {
            sector_size: SectorSize::B4096,
            align_size: AlignSize::M1,
        },
        Geometry {
            sector_size: SectorSize::B4096,
            align_size: AlignSize::M2,
        },
        Geometry {
            sector_size: SectorSize::B4096,
            align_size: AlignSize::M4,
        },
        Geometry {
            sector_size: SectorSize::B4096,
            align_size: AlignSize::M8,
        },
    ];

    /// Validates the pair: 512 only with 1M, 4096 with any align size.
    pub fn new(sector_size: SectorSize, align_size: AlignSize) -> Result<Geometry, GeometryError> {
        match (sector_size, align_size) {
            (SectorSize::B512, AlignSize::M1) | (SectorSize::B4096, _) => Ok(Geometry {
                sector_size,
                align_size,
            }),
            (SectorSize::B512, _) => Err(GeometryError::InvalidCombination {
                sector_size: sector_size.bytes(),
                align_size_bytes: align_size.bytes(),
            }),
        }
    }

    /// The geometry used when a leader record carries no align flag: 512 → 1 MiB,
    /// 4096 → 8 MiB.
    #[must_use]
    pub const fn legacy_default(sector_size: SectorSize) -> Geometry {
        match sector_size {
            SectorSize::B512 => Geometry::S512_A1M,
            SectorSize::B4096 => Geometry {
                sector_size,
                align_size: AlignSize::M8,
            },
        }
    }

    /// Geometry recorded in a leader record: `sector_size` field plus the `LFL_ALIGN_*` bit of
    /// `flags` (legacy default when none is set).
    pub fn from_leader(flags: u32, sector_size: u32) -> Result<Geometry, GeometryError> {
        let align = match flags & LFL_ALIGN_MASK {
            0 => None,
            LFL_ALIGN_1M => Some(AlignSize::M1),
            LFL_ALIGN_2M => Some(AlignSize::M2),
            LFL_ALIGN_4M => Some(AlignSize::M4),
            LFL_ALIGN_8M => Some(AlignSize::M8),
            _ => return Err(GeometryError::AlignFlagsAmbiguous { flags }),
        };
        Geometry::from_parts(align, sector_size)
    }

    /// Geometry recorded in a rindex header: `sector_size` field plus the `RHF_ALIGN_*` bit of
    /// `flags` (legacy default when none is set).
    pub fn from_rindex_flags(flags: u32, sector_size: u32) -> Result<Geometry, GeometryError> {
        let align = match flags & RHF_ALIGN_MASK {
            0 => None,
            RHF_ALIGN_1M => Some(AlignSize::M1),
            RHF_ALIGN_2M => Some(AlignSize::M2),
            RHF_ALIGN_4M => Some(AlignSize::M4),
            RHF_ALIGN_8M => Some(AlignSize::M8),
            _ => return Err(GeometryError::AlignFlagsAmbiguous { flags }),
        };
        Geometry::from_parts(align, sector_size)
    }

    fn from_parts(align: Option<AlignSize>, sector_size: u32) -> Result<Geometry, GeometryError> {
        let sector = SectorSize::from_bytes(sector_size)
            .ok_or(GeometryError::SectorSizeUnknown(sector_size))?;
        match align {
            None => Ok(Geometry::legacy_default(sector)),
            Some(align) => Geometry::new(sector, align),
        }
    }

    /// The sector size.
    #[must_use]
    pub const fn sector_size(self) -> SectorSize {
        self.sector_size
    }

    /// The align size.
    #[must_use]
    pub const fn align_size(self) -> AlignSize {
        self.align_size
    }

    /// Sector size in bytes as u64, for offset arithmetic.
    #[must_use]
    pub const fn sector_bytes(self) -> u64 {
        self.sector_size.bytes() as u64
    }

    /// Size of every area in bytes (= align size).
    #[must_use]
    pub const fn area_bytes(self) -> u64 {
        self.align_size.bytes()
    }

    /// Number of sectors in an area.
    #[must_use]
    pub const fn sectors_per_area(self) -> u64 {
        self.area_bytes() / self.sector_bytes()
    }

    /// Number of host ids (delta leases, dblocks) the geometry holds: 2000/250/500/1000/2000.
    #[must_use]
    pub const fn max_hosts(self) -> u64 {
        match (self.sector_size, self.align_size) {
            (SectorSize::B512, _) => 2000,
            (SectorSize::B4096, align) => 250 * align.mebibytes(),
        }
    }

    /// Maximum number of rindex entries: 16000/16000/32000/64000/128000.
    #[must_use]
    pub const fn rindex_entries_max(self) -> u64 {
        match (self.sector_size, self.align_size) {
            (SectorSize::B512, _) => 16000,
            (SectorSize::B4096, align) => 16000 * align.mebibytes(),
        }
    }

    /// `LFL_ALIGN_*` flag for this align size (0x10, 0x20, 0x40, 0x80).
    #[must_use]
    pub const fn leader_align_flag(self) -> u32 {
        match self.align_size {
            AlignSize::M1 => LFL_ALIGN_1M,
            AlignSize::M2 => LFL_ALIGN_2M,
            AlignSize::M4 => LFL_ALIGN_4M,
            AlignSize::M8 => LFL_ALIGN_8M,
        }
    }

    /// `RHF_ALIGN_*` flag for this align size (0x1, 0x2, 0x4, 0x8).
    #[must_use]
    pub const fn rindex_align_flag(self) -> u32 {
        match self.align_size {
            AlignSize::M1 => RHF_ALIGN_1M,
            AlignSize::M2 => RHF_ALIGN_2M,
            AlignSize::M4 => RHF_ALIGN_4M,
            AlignSize::M8 => RHF_ALIGN_8M,
        }
    }

    /// Checks `1 <= host_id <= max_hosts()`.
    pub fn check_host_id(self, host_id: u64) -> Result<(), GeometryError> {
        if host_id == 0 || host_id > self.max_hosts() {
            return Err(GeometryError::HostIdInvalid {
                host_id,
                host_id_max: self.max_hosts(),
            });
        }
        Ok(())
    }

    /// Byte offset of the `sector_index`-th sector after `base`.
    fn sector_offset(self, base: u64, sector_index: u64) -> Result<u64, GeometryError> {
        sector_index
            .checked_mul(self.sector_bytes())
            .and_then(|delta| base.checked_add(delta))
            .ok_or(GeometryError::OffsetOverflow)
    }

    /// Offset of host `host_id`'s delta lease sector: `lockspace_offset + (host_id-1) * ss`.
    pub fn delta_lease_offset(
        self,
        lockspace_offset: u64,
        host_id: u64,
    ) -> Result<u64, GeometryError> {
        self.check_host_id(host_id)?;
        self.sector_offset(lockspace_offset, host_id - 1)
    }

    /// Offset of host `host_id`'s dblock/mode block sector: `lease_offset + (1+host_id) * ss`.
    pub fn dblock_offset(self, lease_offset: u64, host_id: u64) -> Result<u64, GeometryError> {
        self.check_host_id(host_id)?;
        self.sector_offset(lease_offset, 1 + host_id)
    }

    /// Offset of the request record sector: `lease_offset + ss`.
    pub fn request_offset(self, lease_offset: u64) -> Result<u64, GeometryError> {
        self.sector_offset(lease_offset, 1)
    }

    /// Bytes read from the lease start by a ballot read: `roundup_pow2(num_hosts + 2) * ss`,
    /// capped at the area size (spec §5.4).
    #[must_use]
    pub fn ballot_read_len(self, num_hosts: u64) -> u64 {
        let sectors = num_hosts
            .checked_add(2)
            .and_then(u64::checked_next_power_of_two)
            .unwrap_or(u64::MAX)
            .min(self.sectors_per_area());
        sectors * self.sector_bytes()
    }

    /// Checks that `offset` is a multiple of the sector size (required for O_DIRECT I/O).
    pub fn check_offset_aligned(self, offset: u64) -> Result<(), GeometryError> {
        if !offset.is_multiple_of(self.sector_bytes()) {
            return Err(GeometryError::OffsetUnaligned {
                offset,
                sector_size: self.sector_size.bytes(),
            });
        }
        Ok(())
    }

    /// Whether `offset` is a multiple of the align size (the vdsm/rindex convention; sanlock
    /// only warns otherwise).
    #[must_use]
    pub const fn is_align_multiple(self, offset: u64) -> bool {
        offset.is_multiple_of(self.area_bytes())
    }

    /// Offset of rindex entry `index`: `rx_offset + ss + 64 * index`.
    pub fn rindex_entry_offset(self, rx_offset: u64, index: u64) -> Result<u64, GeometryError> {
        self.check_rindex_index(index)?;
        let delta = self.sector_bytes() + RINDEX_ENTRY_SIZE_BYTES * index;
        rx_offset
            .checked_add(delta)
            .ok_or(GeometryError::OffsetOverflow)
    }

    /// Offset of the `rindex_lease` paxos lease: `rx_offset + align`.
    pub fn rindex_lease_offset(self, rx_offset: u64) -> Result<u64, GeometryError> {
        rx_offset
            .checked_add(self.area_bytes())
            .ok_or(GeometryError::OffsetOverflow)
    }

    /// Offset of the resource lease of rindex entry `index`: `rx_offset + (2 + index) * align`.
    pub fn rindex_resource_offset(self, rx_offset: u64, index: u64) -> Result<u64, GeometryError> {
        self.check_rindex_index(index)?;
        let delta = (2 + index) * self.area_bytes();
        rx_offset
            .checked_add(delta)
            .ok_or(GeometryError::OffsetOverflow)
    }

    fn check_rindex_index(self, index: u64) -> Result<(), GeometryError> {
        if index >= self.rindex_entries_max() {
            return Err(GeometryError::RindexIndexInvalid {
                index,
                entries_max: self.rindex_entries_max(),
            });
        }
        Ok(())
    }
}

impl fmt::Display for Geometry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.sector_size, self.align_size)
    }
}

// The largest geometry max_hosts must fit the 256-byte delta-lease bitmap (2048 bits) and
// (max_hosts + 2) sectors must fit in an area.
const _: () = assert!(HOST_ID_MAX <= 256 * 8);
const _: () = {
    let mut index = 0;
    while index < Geometry::ALL.len() {
        let geometry = Geometry::ALL[index];
        assert!(geometry.max_hosts() <= HOST_ID_MAX);
        assert!(geometry.max_hosts() + 2 <= geometry.sectors_per_area());
        let entry_bytes = geometry.rindex_entries_max() * RINDEX_ENTRY_SIZE_BYTES;
        assert!(geometry.sector_bytes() + entry_bytes <= geometry.area_bytes());
        index += 1;
    }
};

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(sector: u32, align: &str) -> Geometry {
        let sector = SectorSize::from_bytes(sector).expect("valid sector size");
        let align = AlignSize::parse(align).expect("valid align size");
        Geometry::new(sector, align).expect("valid combination")
    }

    #[test]
    fn table_matches_spec() {
        let rows = [
            (512, "1M", 2000, 2048, 16000),
            (4096, "1M", 250, 256, 16000),
            (4096, "2M", 500, 512, 32000),
            (4096, "4M", 1000, 1024, 64000),
            (4096, "8M", 2000, 2048, 128000),
        ];
        for (sector, align, hosts, sectors, entries) in rows {
            let g = geometry(sector, align);
            assert_eq!(g.max_hosts(), hosts, "{g}");
            assert_eq!(g.sectors_per_area(), sectors, "{g}");
            assert_eq!(g.rindex_entries_max(), entries, "{g}");
        }
    }

    #[test]
    fn sector_512_rejects_large_align() {
        for align in [AlignSize::M2, AlignSize::M4, AlignSize::M8] {
            let err = Geometry::new(SectorSize::B512, align).unwrap_err();
            assert_eq!(err.sanlock_errno(), -230);
        }
    }

    #[test]
    fn from_leader_uses_legacy_default_without_flag() {
        assert_eq!(Geometry::from_leader(0, 512), Ok(geometry(512, "1M")));
        assert_eq!(Geometry::from_leader(0x1, 4096), Ok(geometry(4096, "8M")));
        assert_eq!(Geometry::from_leader(0x20, 4096), Ok(geometry(4096, "2M")));
        assert!(Geometry::from_leader(0x30, 4096).is_err());
        assert!(Geometry::from_leader(0x80, 512).is_err());
        assert!(Geometry::from_leader(0x10, 1024).is_err());
        assert_eq!(
            Geometry::from_rindex_flags(0x8, 4096),
            Ok(geometry(4096, "8M"))
        );
    }

    #[test]
    fn offsets_match_spec_examples() {
        let g = geometry(512, "1M");
        assert_eq!(g.delta_lease_offset(0, 1), Ok(0));
        assert_eq!(g.delta_lease_offset(0, 2), Ok(512));
        assert_eq!(g.request_offset(0x10_0000), Ok(0x10_0200));
        assert_eq!(g.dblock_offset(0x10_0000, 1), Ok(0x10_0400));
        assert!(g.dblock_offset(0, 0).is_err());
        assert!(g.delta_lease_offset(0, 2001).is_err());
        assert_eq!(
            g.delta_lease_offset(u64::MAX, 2),
            Err(GeometryError::OffsetOverflow)
        );
        assert!(geometry(4096, "1M").dblock_offset(0, 251).is_err());
    }

    #[test]
    fn ballot_read_len_rounds_up_and_caps() {
        let g = geometry(512, "1M");
        assert_eq!(g.ballot_read_len(7), 16 * 512);
        assert_eq!(g.ballot_read_len(2000), 1 << 20);
        assert_eq!(g.ballot_read_len(u64::MAX), 1 << 20);
        assert_eq!(geometry(4096, "1M").ballot_read_len(250), 1 << 20);
    }

    #[test]
    fn rindex_offsets() {
        let g = geometry(512, "1M");
        assert_eq!(g.rindex_entry_offset(1 << 20, 0), Ok((1 << 20) + 512));
        assert_eq!(g.rindex_entry_offset(1 << 20, 9), Ok((1 << 20) + 512 + 576));
        assert_eq!(g.rindex_lease_offset(1 << 20), Ok(2 << 20));
        assert_eq!(g.rindex_resource_offset(1 << 20, 2), Ok(5 << 20));
        assert!(g.rindex_entry_offset(0, 16000).is_err());
    }

    #[test]
    fn alignment_checks() {
        let g = geometry(4096, "8M");
        assert!(g.check_offset_aligned(8192).is_ok());
        assert!(g.check_offset_aligned(512).is_err());
        assert!(g.is_align_multiple(16 << 20));
        assert!(!g.is_align_multiple(1 << 20));
    }

    #[test]
    fn align_size_parsing() {
        assert_eq!("4M".parse::<AlignSize>(), Ok(AlignSize::M4));
        assert!("3M".parse::<AlignSize>().is_err());
        assert_eq!(AlignSize::from_bytes(8 << 20), Some(AlignSize::M8));
        assert_eq!(AlignSize::M2.to_string(), "2M");
    }
}
