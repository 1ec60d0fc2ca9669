//! `paxos_dblock`: a host's Disk Paxos block, at +0 of its sector in a paxos lease (spec §2.3).
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | u64 | mbal: ballot number this host promised |
//! | 8 | u64 | bal: ballot in which `inp` was accepted |
//! | 16 | u64 | inp: proposed owner host_id |
//! | 24 | u64 | inp2: proposed owner generation |
//! | 32 | u64 | inp3: proposer's monotime (becomes the leader timestamp) |
//! | 40 | u64 | lver: lease version this ballot is for |
//! | 48 | u32 | checksum = sanlock checksum of bytes [0, 48) |
//! | 52 | u32 | flags: [`DBLOCK_FL_RELEASED`] |
//!
//! Invariants: `flags` is not covered by the checksum. A dblock whose checksum, mbal, bal, inp
//! and lver are all zero is "empty" (never written since init) and accepted without a checksum
//! check. The dblock must stay below the mode block at +128.

use super::codec::{prefix, put_u32, put_u64, u32_at, u64_at};
use super::{FormatError, SANLK_DBLOCK_CHECKSUM};
use crate::checksum::sanlock_checksum;

/// Dblock flag: the host released the lease (tells acquirers the lease is free when the leader
/// was last written by another host, spec §5.3/§5.5).
pub const DBLOCK_FL_RELEASED: u32 = 0x1;

/// The 56-byte paxos dblock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Dblock {
    /// Ballot number this host promised.
    pub mbal: u64,
    /// Ballot in which `inp` was accepted (0 in phase 1).
    pub bal: u64,
    /// Proposed owner host id.
    pub inp: u64,
    /// Proposed owner generation.
    pub inp2: u64,
    /// Proposer's monotime.
    pub inp3: u64,
    /// Lease version this ballot is for.
    pub lver: u64,
    /// Stored checksum of bytes `[0, 48)`.
    pub checksum: u32,
    /// [`DBLOCK_FL_RELEASED`] or 0.
    pub flags: u32,
}

/// A non-empty dblock whose stored checksum is wrong (`SANLK_DBLOCK_CHECKSUM`, -214).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("dblock checksum {stored:#010x}, computed {computed:#010x}")]
pub struct ChecksumError {
    /// Checksum stored on disk.
    pub stored: u32,
    /// Checksum computed over bytes [0, 48).
    pub computed: u32,
}

impl ChecksumError {
    /// The sanlock return code (-214).
    #[must_use]
    pub fn sanlock_errno(&self) -> i32 {
        SANLK_DBLOCK_CHECKSUM
    }
}

impl Dblock {
    /// Encoded size in bytes.
    pub const ENCODED_LEN: usize = 56;
    /// Bytes covered by the checksum.
    pub const CHECKSUM_LEN: usize = 48;
    /// Offset of `mbal`.
    pub const MBAL_OFFSET: usize = 0;
    /// Offset of `bal`.
    pub const BAL_OFFSET: usize = Self::MBAL_OFFSET + 8;
    /// Offset of `inp`.
    pub const INP_OFFSET: usize = Self::BAL_OFFSET + 8;
    /// Offset of `inp2`.
    pub const INP2_OFFSET: usize = Self::INP_OFFSET + 8;
    /// Offset of `inp3`.
    pub const INP3_OFFSET: usize = Self::INP2_OFFSET + 8;
    /// Offset of `lver`.
    pub const LVER_OFFSET: usize = Self::INP3_OFFSET + 8;
    /// Offset of `checksum`.
    pub const CHECKSUM_OFFSET: usize = Self::LVER_OFFSET + 8;
    /// Offset of `flags`.
    pub const FLAGS_OFFSET: usize = Self::CHECKSUM_OFFSET + 4;

    /// Encodes the fields exactly as they are (the stored `checksum` is not recomputed).
    #[must_use]
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        put_u64(&mut out, Self::MBAL_OFFSET, self.mbal);
        put_u64(&mut out, Self::BAL_OFFSET, self.bal);
        put_u64(&mut out, Self::INP_OFFSET, self.inp);
        put_u64(&mut out, Self::INP2_OFFSET, self.inp2);
        put_u64(&mut out, Self::INP3_OFFSET, self.inp3);
        put_u64(&mut out, Self::LVER_OFFSET, self.lver);
        put_u32(&mut out, Self::CHECKSUM_OFFSET, self.checksum);
        put_u32(&mut out, Self::FLAGS_OFFSET, self.flags);
        out
    }

    /// Decodes the first 56 bytes of `bytes` into raw field values (no validation).
    pub fn decode(bytes: &[u8]) -> Result<Dblock, FormatError> {
        let b = prefix::<{ Self::ENCODED_LEN }>(bytes)?;
        Ok(Dblock {
            mbal: u64_at(b, Self::MBAL_OFFSET),
            bal: u64_at(b, Self::BAL_OFFSET),
            inp: u64_at(b, Self::INP_OFFSET),
            inp2: u64_at(b, Self::INP2_OFFSET),
            inp3: u64_at(b, Self::INP3_OFFSET),
            lver: u64_at(b, Self::LVER_OFFSET),
            checksum: u32_at(b, Self::CHECKSUM_OFFSET),
            flags: u32_at(b, Self::FLAGS_OFFSET),
        })
    }

    /// The sanlock checksum of encoded bytes `[0, 48)`.
    #[must_use]
    pub fn computed_checksum(&self) -> u32 {
        sanlock_checksum(&self.encode()[..Self::CHECKSUM_LEN])
    }

    /// The same dblock with `checksum` set to [`Dblock::computed_checksum`].
    #[must_use]
    pub fn with_checksum(mut self) -> Dblock {
        self.checksum = self.computed_checksum();
        self
    }

    /// "Empty" per spec §2.3: checksum, mbal, bal, inp and lver all zero (inp2, inp3 and flags
    /// are not looked at).
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.checksum == 0 && self.mbal == 0 && self.bal == 0 && self.inp == 0 && self.lver == 0
    }

    /// Whether [`DBLOCK_FL_RELEASED`] is set.
    #[must_use]
    pub const fn is_released(&self) -> bool {
        self.flags & DBLOCK_FL_RELEASED != 0
    }

    /// Accepts an empty dblock, otherwise checks the stored checksum.
    pub fn verify(&self) -> Result<(), ChecksumError> {
        if self.is_empty() {
            return Ok(());
        }
        let computed = self.computed_checksum();
        if self.checksum != computed {
            return Err(ChecksumError {
                stored: self.checksum,
                computed,
            });
        }
        Ok(())
    }
}

const _: () = assert!(Dblock::FLAGS_OFFSET + 4 == Dblock::ENCODED_LEN);
const _: () = assert!(Dblock::CHECKSUM_OFFSET == Dblock::CHECKSUM_LEN);
