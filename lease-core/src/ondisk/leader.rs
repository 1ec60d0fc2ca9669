//! `leader_record`: the 200-byte head of every delta lease and paxos lease (spec §2.1, §2.7).
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | u32 | magic (delta 0x12212010, paxos 0x06152010, cleared paxos 0x11282016) |
//! | 4 | u32 | version (delta 0x00030004, paxos 0x00060004; only the major half is checked) |
//! | 8 | u32 | flags (`LFL_ALIGN_*`, paxos also `LFL_SHORT_HOLD`) |
//! | 12 | u32 | sector_size |
//! | 16 | u64 | num_hosts (delta: 0; paxos: dblocks in use) |
//! | 24 | u64 | max_hosts (delta: always 1; paxos: geometry max_hosts, the ballot modulus) |
//! | 32 | u64 | owner_id |
//! | 40 | u64 | owner_generation |
//! | 48 | u64 | lver (delta: 0) |
//! | 56 | 48 | space_name |
//! | 104 | 48 | resource_name (delta: the owner's unique host name) |
//! | 152 | u64 | timestamp (0 = free) |
//! | 160 | u64 | unused1 |
//! | 168 | u32 | checksum = sanlock checksum of bytes [0, 168) |
//! | 172 | u16 | unused2 |
//! | 174 | u16 | io_timeout (delta only) |
//! | 176 | u64 | write_id |
//! | 184 | u64 | write_generation |
//! | 192 | u64 | write_timestamp |
//!
//! Invariants: the checksum covers bytes `[0, 168)` only, so `io_timeout` and the `write_*`
//! fields may change without changing it (never "fix" this). Leader copies on different disks
//! are "the same" when their first 152 bytes are equal ([`LEADER_COMPARE_LEN`]).
//! [`LeaderRecord::encode`] writes the fields exactly as they are (including a stale checksum);
//! use [`LeaderRecord::with_checksum`] before writing a modified record.
//!
//! Read-side validation ([`LeaderRecord::verify_delta`], [`LeaderRecord::verify_paxos`]) checks
//! in sanlock's order and stops at the first failure; the order decides which error code a
//! caller sees for a record with several defects.

use super::codec::{array_at, prefix, put, put_u16, put_u32, put_u64, u16_at, u32_at, u64_at};
use super::name::{Name, NAME_LEN};
use super::{
    FormatError, SANLK_LEADER_CHECKSUM, SANLK_LEADER_LOCKSPACE, SANLK_LEADER_MAGIC,
    SANLK_LEADER_NUMHOSTS, SANLK_LEADER_RESOURCE, SANLK_LEADER_SECTORSIZE, SANLK_LEADER_VERSION,
};
use crate::checksum::sanlock_checksum;
use crate::geometry::{Geometry, GeometryError};

/// Magic of a delta lease leader.
pub const DELTA_LEASE_MAGIC: u32 = 0x1221_2010;
/// Magic of a paxos lease leader.
pub const PAXOS_LEASE_MAGIC: u32 = 0x0615_2010;
/// Magic of a cleared ("no lease here") paxos leader (spec §5.9).
pub const PAXOS_DISK_CLEAR_MAGIC: u32 = 0x1128_2016;
/// Version written in delta lease leaders (major 3, minor 4).
pub const DELTA_LEASE_VERSION: u32 = 0x0003_0004;
/// Version written in paxos lease leaders (major 6, minor 4).
pub const PAXOS_LEASE_VERSION: u32 = 0x0006_0004;
/// Mask of the major half of a version word; only this half is compared on read.
pub const VERSION_MAJOR_MASK: u32 = 0xFFFF_0000;
/// Leader flag: the owner is in the middle of a shared-mode acquire (spec §5.6).
pub const LFL_SHORT_HOLD: u32 = 0x1;
/// Bytes covered by the leader checksum (everything before `checksum`).
pub const LEADER_CHECKSUM_LEN: usize = 168;
/// Bytes compared to decide whether two leader copies are the same (everything before
/// `timestamp`).
pub const LEADER_COMPARE_LEN: usize = 152;

/// The 200-byte leader record, field by field as on disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LeaderRecord {
    /// Structure magic: [`DELTA_LEASE_MAGIC`], [`PAXOS_LEASE_MAGIC`] or
    /// [`PAXOS_DISK_CLEAR_MAGIC`].
    pub magic: u32,
    /// Structure version; only `version & VERSION_MAJOR_MASK` is checked.
    pub version: u32,
    /// `LFL_ALIGN_*` bit, plus [`LFL_SHORT_HOLD`] on paxos leaders.
    pub flags: u32,
    /// Sector size in bytes.
    pub sector_size: u32,
    /// Paxos: number of dblocks in use. Delta: 0.
    pub num_hosts: u64,
    /// Paxos: geometry max_hosts (ballot modulus). Delta: always 1.
    pub max_hosts: u64,
    /// Host id of the owner (delta) or of the last ballot winner (paxos).
    pub owner_id: u64,
    /// Generation of the owner.
    pub owner_generation: u64,
    /// Paxos lease version, +1 per successful acquire. Delta: 0.
    pub lver: u64,
    /// Lockspace name.
    pub space_name: Name,
    /// Paxos: resource name. Delta: unique name of the owning host.
    pub resource_name: Name,
    /// Owner's monotime at the last acquire/renew (delta) or winner's `inp3` (paxos); 0 = free.
    pub timestamp: u64,
    /// Unused, 0.
    pub unused1: u64,
    /// Stored checksum of bytes `[0, 168)`.
    pub checksum: u32,
    /// Unused, 0.
    pub unused2: u16,
    /// Delta: the owner's io_timeout in seconds. Paxos: 0.
    pub io_timeout: u16,
    /// Delta: host-event generation. Paxos: host id of the last leader writer.
    pub write_id: u64,
    /// Delta: host-event event. Paxos: generation of the last writer.
    pub write_generation: u64,
    /// Delta: host-event data. Paxos: writer's monotime (CLEAR: time of the clear).
    pub write_timestamp: u64,
}

/// Read-side validation failures of a leader record (spec §2.7).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LeaderError {
    /// Wrong magic (`SANLK_LEADER_MAGIC`, -223).
    #[error("leader magic {found:#010x}, expected {expected:#010x}")]
    Magic {
        /// Magic read from disk.
        found: u32,
        /// Magic expected.
        expected: u32,
    },
    /// Paxos leader carrying [`PAXOS_DISK_CLEAR_MAGIC`]: no lease here (-223, not corruption).
    #[error("paxos lease was cleared (write_timestamp {write_timestamp})")]
    Cleared {
        /// When the lease was cleared (writer's monotime).
        write_timestamp: u64,
    },
    /// Wrong major version (`SANLK_LEADER_VERSION`, -224).
    #[error("leader version {found:#010x}, expected major {expected:#010x}")]
    Version {
        /// Version read from disk.
        found: u32,
        /// Expected version (major half compared).
        expected: u32,
    },
    /// Sector size differs from the expected one (`SANLK_LEADER_SECTORSIZE`, -225). Not
    /// produced by the `verify_*` functions (sanlock does not check it there); for callers that
    /// compare a leader with the geometry they used.
    #[error("leader sector size {found}, expected {expected}")]
    SectorSize {
        /// Sector size read from disk.
        found: u32,
        /// Sector size expected.
        expected: u32,
    },
    /// Lockspace name differs (`SANLK_LEADER_LOCKSPACE`, -226).
    #[error("leader lockspace {found}, expected {expected}")]
    Lockspace {
        /// Name read from disk.
        found: Name,
        /// Name expected.
        expected: Name,
    },
    /// Resource name differs (`SANLK_LEADER_RESOURCE`, -227).
    #[error("leader resource {found}, expected {expected}")]
    Resource {
        /// Name read from disk.
        found: Name,
        /// Name expected.
        expected: Name,
    },
    /// `num_hosts` smaller than our host id (`SANLK_LEADER_NUMHOSTS`, -228).
    #[error("leader num_hosts {num_hosts} is smaller than host_id {host_id}")]
    NumHosts {
        /// num_hosts read from disk.
        num_hosts: u64,
        /// Our host id.
        host_id: u64,
    },
    /// Checksum mismatch (`SANLK_LEADER_CHECKSUM`, -229).
    #[error("leader checksum {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// Checksum stored on disk.
        stored: u32,
        /// Checksum computed over bytes [0, 168).
        computed: u32,
    },
}

impl LeaderError {
    /// The sanlock return code for this failure (-223 ..= -229).
    #[must_use]
    pub fn sanlock_errno(&self) -> i32 {
        match self {
            LeaderError::Magic { .. } | LeaderError::Cleared { .. } => SANLK_LEADER_MAGIC,
            LeaderError::Version { .. } => SANLK_LEADER_VERSION,
            LeaderError::SectorSize { .. } => SANLK_LEADER_SECTORSIZE,
            LeaderError::Lockspace { .. } => SANLK_LEADER_LOCKSPACE,
            LeaderError::Resource { .. } => SANLK_LEADER_RESOURCE,
            LeaderError::NumHosts { .. } => SANLK_LEADER_NUMHOSTS,
            LeaderError::Checksum { .. } => SANLK_LEADER_CHECKSUM,
        }
    }
}

impl LeaderRecord {
    /// Encoded size in bytes.
    pub const ENCODED_LEN: usize = 200;
    /// Offset of `magic`.
    pub const MAGIC_OFFSET: usize = 0;
    /// Offset of `version`.
    pub const VERSION_OFFSET: usize = Self::MAGIC_OFFSET + 4;
    /// Offset of `flags`.
    pub const FLAGS_OFFSET: usize = Self::VERSION_OFFSET + 4;
    /// Offset of `sector_size`.
    pub const SECTOR_SIZE_OFFSET: usize = Self::FLAGS_OFFSET + 4;
    /// Offset of `num_hosts`.
    pub const NUM_HOSTS_OFFSET: usize = Self::SECTOR_SIZE_OFFSET + 4;
    /// Offset of `max_hosts`.
    pub const MAX_HOSTS_OFFSET: usize = Self::NUM_HOSTS_OFFSET + 8;
    /// Offset of `owner_id`.
    pub const OWNER_ID_OFFSET: usize = Self::MAX_HOSTS_OFFSET + 8;
    /// Offset of `owner_generation`.
    pub const OWNER_GENERATION_OFFSET: usize = Self::OWNER_ID_OFFSET + 8;
    /// Offset of `lver`.
    pub const LVER_OFFSET: usize = Self::OWNER_GENERATION_OFFSET + 8;
    /// Offset of `space_name`.
    pub const SPACE_NAME_OFFSET: usize = Self::LVER_OFFSET + 8;
    /// Offset of `resource_name`.
    pub const RESOURCE_NAME_OFFSET: usize = Self::SPACE_NAME_OFFSET + NAME_LEN;
    /// Offset of `timestamp`.
    pub const TIMESTAMP_OFFSET: usize = Self::RESOURCE_NAME_OFFSET + NAME_LEN;
    /// Offset of `unused1`.
    pub const UNUSED1_OFFSET: usize = Self::TIMESTAMP_OFFSET + 8;
    /// Offset of `checksum`.
    pub const CHECKSUM_OFFSET: usize = Self::UNUSED1_OFFSET + 8;
    /// Offset of `unused2`.
    pub const UNUSED2_OFFSET: usize = Self::CHECKSUM_OFFSET + 4;
    /// Offset of `io_timeout`.
    pub const IO_TIMEOUT_OFFSET: usize = Self::UNUSED2_OFFSET + 2;
    /// Offset of `write_id`.
    pub const WRITE_ID_OFFSET: usize = Self::IO_TIMEOUT_OFFSET + 2;
    /// Offset of `write_generation`.
    pub const WRITE_GENERATION_OFFSET: usize = Self::WRITE_ID_OFFSET + 8;
    /// Offset of `write_timestamp`.
    pub const WRITE_TIMESTAMP_OFFSET: usize = Self::WRITE_GENERATION_OFFSET + 8;

    /// Encodes the fields exactly as they are (the stored `checksum` is not recomputed).
    #[must_use]
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        put_u32(&mut out, Self::MAGIC_OFFSET, self.magic);
        put_u32(&mut out, Self::VERSION_OFFSET, self.version);
        put_u32(&mut out, Self::FLAGS_OFFSET, self.flags);
        put_u32(&mut out, Self::SECTOR_SIZE_OFFSET, self.sector_size);
        put_u64(&mut out, Self::NUM_HOSTS_OFFSET, self.num_hosts);
        put_u64(&mut out, Self::MAX_HOSTS_OFFSET, self.max_hosts);
        put_u64(&mut out, Self::OWNER_ID_OFFSET, self.owner_id);
        put_u64(
            &mut out,
            Self::OWNER_GENERATION_OFFSET,
            self.owner_generation,
        );
        put_u64(&mut out, Self::LVER_OFFSET, self.lver);
        put(
            &mut out,
            Self::SPACE_NAME_OFFSET,
            self.space_name.as_bytes(),
        );
        put(
            &mut out,
            Self::RESOURCE_NAME_OFFSET,
            self.resource_name.as_bytes(),
        );
        put_u64(&mut out, Self::TIMESTAMP_OFFSET, self.timestamp);
        put_u64(&mut out, Self::UNUSED1_OFFSET, self.unused1);
        put_u32(&mut out, Self::CHECKSUM_OFFSET, self.checksum);
        put_u16(&mut out, Self::UNUSED2_OFFSET, self.unused2);
        put_u16(&mut out, Self::IO_TIMEOUT_OFFSET, self.io_timeout);
        put_u64(&mut out, Self::WRITE_ID_OFFSET, self.write_id);
        put_u64(
            &mut out,
            Self::WRITE_GENERATION_OFFSET,
            self.write_generation,
        );
        put_u64(&mut out, Self::WRITE_TIMESTAMP_OFFSET, self.write_timestamp);
        out
    }

    /// Decodes the first 200 bytes of `bytes` into raw field values (no validation).
    pub fn decode(bytes: &[u8]) -> Result<LeaderRecord, FormatError> {
        let b = prefix::<{ Self::ENCODED_LEN }>(bytes)?;
        Ok(LeaderRecord {
            magic: u32_at(b, Self::MAGIC_OFFSET),
            version: u32_at(b, Self::VERSION_OFFSET),
            flags: u32_at(b, Self::FLAGS_OFFSET),
            sector_size: u32_at(b, Self::SECTOR_SIZE_OFFSET),
            num_hosts: u64_at(b, Self::NUM_HOSTS_OFFSET),
            max_hosts: u64_at(b, Self::MAX_HOSTS_OFFSET),
            owner_id: u64_at(b, Self::OWNER_ID_OFFSET),
            owner_generation: u64_at(b, Self::OWNER_GENERATION_OFFSET),
            lver: u64_at(b, Self::LVER_OFFSET),
            space_name: Name::from_bytes(array_at(b, Self::SPACE_NAME_OFFSET)),
            resource_name: Name::from_bytes(array_at(b, Self::RESOURCE_NAME_OFFSET)),
            timestamp: u64_at(b, Self::TIMESTAMP_OFFSET),
            unused1: u64_at(b, Self::UNUSED1_OFFSET),
            checksum: u32_at(b, Self::CHECKSUM_OFFSET),
            unused2: u16_at(b, Self::UNUSED2_OFFSET),
            io_timeout: u16_at(b, Self::IO_TIMEOUT_OFFSET),
            write_id: u64_at(b, Self::WRITE_ID_OFFSET),
            write_generation: u64_at(b, Self::WRITE_GENERATION_OFFSET),
            write_timestamp: u64_at(b, Self::WRITE_TIMESTAMP_OFFSET),
        })
    }

    /// The sanlock checksum of encoded bytes `[0, 168)`.
    #[must_use]
    pub fn computed_checksum(&self) -> u32 {
        sanlock_checksum(&self.encode()[..LEADER_CHECKSUM_LEN])
    }

    /// The same record with `checksum` set to [`LeaderRecord::computed_checksum`].
    #[must_use]
    pub fn with_checksum(mut self) -> LeaderRecord {
        self.checksum = self.computed_checksum();
        self
    }

    /// The leader of a free delta lease as `sanlock direct init -s` writes it: align flag,
    /// num_hosts 0, max_hosts 1, empty resource_name, everything else 0, checksummed.
    #[must_use]
    pub fn delta_init(geometry: Geometry, space: &Name, io_timeout: u16) -> LeaderRecord {
        LeaderRecord {
            magic: DELTA_LEASE_MAGIC,
            version: DELTA_LEASE_VERSION,
            flags: geometry.leader_align_flag(),
            sector_size: geometry.sector_size().bytes(),
            max_hosts: 1,
            space_name: *space,
            io_timeout,
            ..LeaderRecord::default()
        }
        .with_checksum()
    }

    /// The leader of a free paxos lease as `sanlock direct init -r` writes it: align flag,
    /// max_hosts from the geometry, `num_hosts` as given except that 0 or a value above
    /// max_hosts becomes max_hosts, io_timeout 0, everything else 0, checksummed.
    #[must_use]
    pub fn paxos_init(
        geometry: Geometry,
        space: &Name,
        resource: &Name,
        num_hosts: u64,
    ) -> LeaderRecord {
        let max_hosts = geometry.max_hosts();
        let num_hosts = if num_hosts == 0 || num_hosts > max_hosts {
            max_hosts
        } else {
            num_hosts
        };
        LeaderRecord {
            magic: PAXOS_LEASE_MAGIC,
            version: PAXOS_LEASE_VERSION,
            flags: geometry.leader_align_flag(),
            sector_size: geometry.sector_size().bytes(),
            num_hosts,
            max_hosts,
            space_name: *space,
            resource_name: *resource,
            ..LeaderRecord::default()
        }
        .with_checksum()
    }

    /// Delta leader validation, in sanlock's order: magic (-223), major version (-224),
    /// space_name (-226), checksum (-229). sector_size and num_hosts are not checked.
    pub fn verify_delta(&self, space: &Name) -> Result<(), LeaderError> {
        self.check_magic(DELTA_LEASE_MAGIC)?;
        self.check_version(DELTA_LEASE_VERSION)?;
        self.check_space(space)?;
        self.check_checksum()
    }

    /// Paxos leader validation, in sanlock's order: CLEAR magic ([`LeaderError::Cleared`],
    /// -223), magic (-223), major version (-224), space_name (-226), resource_name (-227),
    /// `num_hosts >= host_id` (-228), checksum (-229).
    pub fn verify_paxos(
        &self,
        space: &Name,
        resource: &Name,
        host_id: u64,
    ) -> Result<(), LeaderError> {
        if self.magic == PAXOS_DISK_CLEAR_MAGIC {
            return Err(LeaderError::Cleared {
                write_timestamp: self.write_timestamp,
            });
        }
        self.check_magic(PAXOS_LEASE_MAGIC)?;
        self.check_version(PAXOS_LEASE_VERSION)?;
        self.check_space(space)?;
        if !self.resource_name.matches(resource) {
            return Err(LeaderError::Resource {
                found: self.resource_name,
                expected: *resource,
            });
        }
        if self.num_hosts < host_id {
            return Err(LeaderError::NumHosts {
                num_hosts: self.num_hosts,
                host_id,
            });
        }
        self.check_checksum()
    }

    fn check_magic(&self, expected: u32) -> Result<(), LeaderError> {
        if self.magic != expected {
            return Err(LeaderError::Magic {
                found: self.magic,
                expected,
            });
        }
        Ok(())
    }

    fn check_version(&self, expected: u32) -> Result<(), LeaderError> {
        if self.version & VERSION_MAJOR_MASK != expected & VERSION_MAJOR_MASK {
            return Err(LeaderError::Version {
                found: self.version,
                expected,
            });
        }
        Ok(())
    }

    fn check_space(&self, space: &Name) -> Result<(), LeaderError> {
        if !self.space_name.matches(space) {
            return Err(LeaderError::Lockspace {
                found: self.space_name,
                expected: *space,
            });
        }
        Ok(())
    }

    fn check_checksum(&self) -> Result<(), LeaderError> {
        let computed = self.computed_checksum();
        if self.checksum != computed {
            return Err(LeaderError::Checksum {
                stored: self.checksum,
                computed,
            });
        }
        Ok(())
    }

    /// Free ⇔ `timestamp == 0` (both lease kinds).
    #[must_use]
    pub const fn is_free(&self) -> bool {
        self.timestamp == 0
    }

    /// Whether the magic is [`PAXOS_DISK_CLEAR_MAGIC`].
    #[must_use]
    pub const fn is_cleared(&self) -> bool {
        self.magic == PAXOS_DISK_CLEAR_MAGIC
    }

    /// The geometry recorded in `flags` and `sector_size` (legacy default without align flag).
    pub fn geometry(&self) -> Result<Geometry, GeometryError> {
        Geometry::from_leader(self.flags, self.sector_size)
    }

    /// Whether two leader copies agree on their first [`LEADER_COMPARE_LEN`] bytes (the
    /// multi-disk "same leader" test).
    #[must_use]
    pub fn same_compare_prefix(&self, other: &LeaderRecord) -> bool {
        self.encode()[..LEADER_COMPARE_LEN] == other.encode()[..LEADER_COMPARE_LEN]
    }
}

const _: () = assert!(LeaderRecord::WRITE_TIMESTAMP_OFFSET + 8 == LeaderRecord::ENCODED_LEN);
const _: () = assert!(LeaderRecord::CHECKSUM_OFFSET == LEADER_CHECKSUM_LEN);
const _: () = assert!(LeaderRecord::TIMESTAMP_OFFSET == LEADER_COMPARE_LEN);

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::new(text).expect("valid name")
    }

    #[test]
    fn offsets_match_spec() {
        assert_eq!(LeaderRecord::SPACE_NAME_OFFSET, 56);
        assert_eq!(LeaderRecord::RESOURCE_NAME_OFFSET, 104);
        assert_eq!(LeaderRecord::IO_TIMEOUT_OFFSET, 174);
        assert_eq!(LeaderRecord::WRITE_ID_OFFSET, 176);
    }

    #[test]
    fn delta_init_matches_spec_checksum() {
        let leader = LeaderRecord::delta_init(Geometry::S512_A1M, &name("LS1"), 10);
        assert_eq!(leader.checksum, 0x4dba_1e1e);
        assert_eq!(leader.verify_delta(&name("LS1")), Ok(()));
    }

    #[test]
    fn paxos_verify_order() {
        let good = LeaderRecord::paxos_init(Geometry::S512_A1M, &name("LS"), &name("R"), 4);
        let (ls, res) = (name("LS"), name("R"));
        assert_eq!(good.verify_paxos(&ls, &res, 4), Ok(()));
        let mut bad = good;
        bad.checksum ^= 1;
        bad.num_hosts = 1;
        assert_eq!(
            bad.verify_paxos(&ls, &res, 2)
                .map_err(|e| e.sanlock_errno()),
            Err(-228)
        );
        bad.resource_name = name("X");
        assert_eq!(
            bad.verify_paxos(&ls, &res, 2)
                .map_err(|e| e.sanlock_errno()),
            Err(-227)
        );
        bad.version = 0x0007_0004;
        assert_eq!(
            bad.verify_paxos(&ls, &res, 2)
                .map_err(|e| e.sanlock_errno()),
            Err(-224)
        );
        bad.magic = PAXOS_DISK_CLEAR_MAGIC;
        let err = bad.verify_paxos(&ls, &res, 2).unwrap_err();
        assert!(matches!(err, LeaderError::Cleared { .. }));
        assert_eq!(err.sanlock_errno(), -223);
    }

    #[test]
    fn minor_version_is_ignored() {
        let mut leader = LeaderRecord::delta_init(Geometry::S512_A1M, &name("LS1"), 10);
        leader.version = 0x0003_0009;
        assert_eq!(leader.with_checksum().verify_delta(&name("LS1")), Ok(()));
    }
}
