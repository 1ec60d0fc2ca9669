//! Little-endian field access shared by the on-disk encoders and decoders.
//!
//! Callers check lengths first (decoders via [`prefix`]), so the fixed-offset reads and writes
//! below index within bounds by construction; an out-of-bounds offset is a programming error in
//! this crate, never a property of input data.

use super::FormatError;

/// The first `N` bytes of `bytes`, or [`FormatError::Truncated`].
pub(crate) fn prefix<const N: usize>(bytes: &[u8]) -> Result<&[u8; N], FormatError> {
    bytes.first_chunk::<N>().ok_or(FormatError::Truncated {
        needed: N,
        got: bytes.len(),
    })
}

/// Copies `N` bytes starting at `offset`.
pub(crate) fn array_at<const N: usize>(bytes: &[u8], offset: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[offset..offset + N]);
    out
}

pub(crate) fn u16_at(bytes: &[u8], offset: usize) -> u16 {
    u16::from_le_bytes(array_at(bytes, offset))
}

pub(crate) fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(array_at(bytes, offset))
}

pub(crate) fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(array_at(bytes, offset))
}

pub(crate) fn put(bytes: &mut [u8], offset: usize, value: &[u8]) {
    bytes[offset..offset + value.len()].copy_from_slice(value);
}

pub(crate) fn put_u16(bytes: &mut [u8], offset: usize, value: u16) {
    put(bytes, offset, &value.to_le_bytes());
}

pub(crate) fn put_u32(bytes: &mut [u8], offset: usize, value: u32) {
    put(bytes, offset, &value.to_le_bytes());
}

pub(crate) fn put_u64(bytes: &mut [u8], offset: usize, value: u64) {
    put(bytes, offset, &value.to_le_bytes());
}
