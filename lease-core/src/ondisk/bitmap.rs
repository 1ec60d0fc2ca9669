//! Host-id bitmap of a delta-lease sector (spec §1.2, §4.5).
//!
//! Layout: 256 bytes (2048 bits) at offset 256 of every delta-lease sector. The bit for host
//! `H` is byte `(H - 1) / 8`, mask `1 << ((H - 1) % 8)` (bit 0 = least significant). A host
//! sets bits for *other* hosts it wants to notify; only the renew path writes it, acquire and
//! release write an all-zero bitmap. No checksum.
//!
//! Invariants: host ids are 1-based; bits beyond [`HostBitmap::HOST_ID_MAX`] do not exist, and
//! bits above the geometry's max_hosts are carried through decode/encode unchanged.

use super::codec::prefix;
use super::FormatError;
use crate::geometry::GeometryError;

/// The 256-byte host bitmap.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostBitmap([u8; HostBitmap::ENCODED_LEN]);

impl HostBitmap {
    /// Encoded size in bytes.
    pub const ENCODED_LEN: usize = 256;
    /// Offset of the bitmap inside a delta-lease sector.
    pub const SECTOR_OFFSET: usize = 256;
    /// Largest host id the bitmap can represent (2048).
    pub const HOST_ID_MAX: u64 = (Self::ENCODED_LEN * 8) as u64;

    /// A bitmap with no bit set.
    #[must_use]
    pub const fn new() -> HostBitmap {
        HostBitmap([0; Self::ENCODED_LEN])
    }

    /// Wraps raw bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; Self::ENCODED_LEN]) -> HostBitmap {
        HostBitmap(bytes)
    }

    /// The raw bytes (also the encoding).
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; Self::ENCODED_LEN] {
        &self.0
    }

    /// Encodes the bitmap (its raw bytes).
    #[must_use]
    pub const fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        self.0
    }

    /// Decodes the first 256 bytes of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<HostBitmap, FormatError> {
        prefix::<{ Self::ENCODED_LEN }>(bytes).map(|b| HostBitmap(*b))
    }

    fn position(host_id: u64) -> Result<(usize, u8), GeometryError> {
        if host_id == 0 || host_id > Self::HOST_ID_MAX {
            return Err(GeometryError::HostIdInvalid {
                host_id,
                host_id_max: Self::HOST_ID_MAX,
            });
        }
        let bit = host_id - 1;
        // bit / 8 < 256, so the cast cannot truncate.
        Ok(((bit / 8) as usize, 1u8 << (bit % 8)))
    }

    /// Sets the bit of `host_id` (1..=2048).
    pub fn set(&mut self, host_id: u64) -> Result<(), GeometryError> {
        let (byte, mask) = Self::position(host_id)?;
        self.0[byte] |= mask;
        Ok(())
    }

    /// Clears the bit of `host_id` (1..=2048).
    pub fn clear(&mut self, host_id: u64) -> Result<(), GeometryError> {
        let (byte, mask) = Self::position(host_id)?;
        self.0[byte] &= !mask;
        Ok(())
    }

    /// Whether the bit of `host_id` is set; false for host ids outside 1..=2048.
    #[must_use]
    pub fn is_set(&self, host_id: u64) -> bool {
        Self::position(host_id).is_ok_and(|(byte, mask)| self.0[byte] & mask != 0)
    }

    /// Whether no bit is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&byte| byte == 0)
    }

    /// Host ids whose bit is set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (1..=Self::HOST_ID_MAX).filter(|&host_id| self.is_set(host_id))
    }
}

impl Default for HostBitmap {
    fn default() -> HostBitmap {
        HostBitmap::new()
    }
}

impl std::fmt::Debug for HostBitmap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("HostBitmap")
            .field(&self.iter().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_layout_is_lsb_first() {
        let mut bitmap = HostBitmap::new();
        bitmap.set(1).expect("valid host id");
        bitmap.set(10).expect("valid host id");
        bitmap.set(2048).expect("valid host id");
        assert_eq!(bitmap.as_bytes()[0], 0x01);
        assert_eq!(bitmap.as_bytes()[1], 0x02);
        assert_eq!(bitmap.as_bytes()[255], 0x80);
        assert_eq!(bitmap.iter().collect::<Vec<_>>(), vec![1, 10, 2048]);
        bitmap.clear(10).expect("valid host id");
        assert!(!bitmap.is_set(10));
        assert!(bitmap.set(0).is_err());
        assert!(bitmap.set(2049).is_err());
        assert!(!bitmap.is_set(0));
    }
}
