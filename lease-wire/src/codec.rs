//! Little-endian cursor helpers shared by the struct, request and reply codecs (crate
//! private).
//!
//! The wire carries C structs in the host's byte order. libsanlock and the daemon always run
//! on the same machine, and the hosts this project targets are little-endian (x86_64,
//! aarch64), so every field is read and written explicitly as little-endian
//! (`from_le_bytes`/`to_le_bytes`): the codec's output does not depend on the build host. A [`Reader`] never
//! panics: running out of input is a [`WireError::Truncated`] carrying how many bytes were
//! needed.

use crate::error::WireError;

/// Sequential little-endian reader over a byte slice.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Added to positions when reporting truncation (32 when reading a body after the
    /// header, so errors count whole-message bytes).
    base: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    /// Bytes consumed so far.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Fails unless `n` more bytes are available (so a struct is reported truncated as a
    /// whole, not field by field).
    pub(crate) fn need(&self, n: usize) -> Result<(), WireError> {
        if self.remaining() < n {
            return Err(WireError::Truncated {
                needed: self.base.saturating_add(self.pos).saturating_add(n),
                got: self.base + self.buf.len(),
            });
        }
        Ok(())
    }

    /// Takes the next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.buf.len() => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            _ => Err(WireError::Truncated {
                needed: self.base.saturating_add(self.pos).saturating_add(n),
                got: self.base + self.buf.len(),
            }),
        }
    }

    /// Takes the next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.array::<4>()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.array::<8>()?))
    }
}

pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
