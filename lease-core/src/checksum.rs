//! sanlock's checksum: CRC-32C with a non-standard seed and no final XOR (spec §2.6).
//!
//! sanlock runs the reflected Castagnoli CRC (polynomial 0x82F63B78) starting from
//! `0xFFFFFFFE` (`!1`) and stores the raw register, without the usual final inversion. In terms
//! of the standard "append" API (`crc32c_append(crc, data)` computes
//! `!raw_update(!crc, data)`), the sanlock value is `!crc32c_append(1, data)`.
//!
//! Covered bytes are always the on-disk (little-endian) encoding:
//! * leader record bytes `[0, 168)`: `io_timeout` and the `write_*` fields are *not* covered;
//! * paxos dblock bytes `[0, 48)`: `flags` is *not* covered.
//!
//! Request records, mode blocks, the delta-lease bitmap and the rindex carry no checksum.
//!
//! Test vector: `sanlock_checksum(b"123456789") == 0xE8C7BB34` (the standard CRC-32C of the
//! same input is 0xE3069283).

/// Computes sanlock's checksum of `bytes` (CRC-32C, seed `0xFFFFFFFE`, no final XOR).
#[must_use]
pub fn sanlock_checksum(bytes: &[u8]) -> u32 {
    !crc32c::crc32c_append(1, bytes)
}

#[cfg(test)]
mod tests {
    use super::sanlock_checksum;

    #[test]
    fn spec_test_vector() {
        assert_eq!(sanlock_checksum(b"123456789"), 0xE8C7_BB34);
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn empty_input_is_the_seed() {
        assert_eq!(sanlock_checksum(b""), 0xFFFF_FFFE);
    }

    /// Bit-at-a-time reference implementation written from the spec's description.
    fn reference(bytes: &[u8]) -> u32 {
        let mut crc: u32 = 0xFFFF_FFFE;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0x82F6_3B78
                } else {
                    crc >> 1
                };
            }
        }
        crc
    }

    #[test]
    fn matches_bitwise_reference() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        for len in [0, 1, 7, 8, 9, 63, 64, 168, 200, 1000] {
            assert_eq!(
                sanlock_checksum(&data[..len]),
                reference(&data[..len]),
                "len {len}"
            );
        }
    }
}
