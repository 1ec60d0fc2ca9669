//! [`AlignedBuf`]: the aligned allocation behind every buffer `Device` reads into (directly, or
//! pooled and reused through [`crate::pool`]); [`IoBuffer`], the buffers `Device` accepts.
//!
//! O_DIRECT transfers DMA straight between the device and user memory, so the kernel demands that
//! the buffer address, the file offset and the length are all suitably aligned; otherwise the call
//! fails with `EINVAL` (or, on some file systems, silently falls back to buffered I/O).
//! `AlignedBuf` makes the memory half of that contract a type invariant.
//!
//! Invariants (hold for every value, checked at construction, never changed afterwards):
//! * the first byte is aligned to [`BUF_ALIGN_BYTES`] (4096) bytes;
//! * `len()` is a non-zero multiple of [`SECTOR_SIZE_MIN_BYTES`] (512);
//! * every byte is initialised (new buffers are zero-filled).
//!
//! The length is fixed for the life of the buffer; the bytes are reached through
//! `Deref`/`DerefMut` to `[u8]`. Whether the length also suits a particular device (a multiple
//! of 4096 for a 4K-sector device) is checked by `Device` at I/O time, because it depends on the
//! device. Allocation lives in `crate::sys`, the crate's only `unsafe` module.

use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::sys::{AlignedAlloc, AllocError};

pub use crate::sys::BUF_ALIGN_BYTES;

/// Smallest sector size sanlock (and Linux) supports, in bytes; every buffer and every I/O is a
/// whole number of these.
pub const SECTOR_SIZE_MIN_BYTES: usize = 512;

const _: () = assert!(BUF_ALIGN_BYTES.is_multiple_of(SECTOR_SIZE_MIN_BYTES));

/// Why an [`AlignedBuf`] could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BufError {
    /// The requested length is zero or not a multiple of 512.
    #[error("buffer length {len} is not a non-zero multiple of {SECTOR_SIZE_MIN_BYTES} bytes")]
    BadLength {
        /// The rejected length, in bytes.
        len: usize,
    },
    /// The length is too large to describe as an allocation.
    #[error("buffer length {len} is too large to allocate")]
    TooLarge {
        /// The rejected length, in bytes.
        len: usize,
    },
    /// The allocator had no memory for the buffer.
    #[error("out of memory allocating a {len}-byte aligned buffer")]
    OutOfMemory {
        /// The requested length, in bytes.
        len: usize,
    },
}

/// A zero-initialised heap buffer aligned to 4096 bytes whose length is a non-zero multiple of
/// 512. See the module docs for the invariants.
pub struct AlignedBuf {
    alloc: AlignedAlloc,
}

impl AlignedBuf {
    /// Allocates a zero-filled buffer of `len` bytes.
    ///
    /// Errors: [`BufError::BadLength`] if `len` is zero or not a multiple of 512;
    /// [`BufError::TooLarge`] / [`BufError::OutOfMemory`] if it cannot be allocated.
    pub fn zeroed(len: usize) -> Result<Self, BufError> {
        if len == 0 || !len.is_multiple_of(SECTOR_SIZE_MIN_BYTES) {
            return Err(BufError::BadLength { len });
        }
        let alloc = AlignedAlloc::zeroed(len).map_err(|e| match e {
            AllocError::TooLarge => BufError::TooLarge { len },
            AllocError::OutOfMemory => BufError::OutOfMemory { len },
        })?;
        assert_eq!(alloc.len(), len);
        Ok(Self { alloc })
    }

    /// Allocates a buffer holding a copy of `data`.
    ///
    /// Errors: as [`AlignedBuf::zeroed`] with `len = data.len()`.
    pub fn from_slice(data: &[u8]) -> Result<Self, BufError> {
        let mut buf = Self::zeroed(data.len())?;
        buf.copy_from_slice(data);
        Ok(buf)
    }

    /// Length in bytes (a non-zero multiple of 512).
    pub fn len(&self) -> usize {
        self.alloc.len()
    }

    /// Always `false`: an `AlignedBuf` holds at least one 512-byte sector. Provided for API
    /// symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.alloc.as_slice()
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.alloc.as_mut_slice()
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl AsMut<[u8]> for AlignedBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        self
    }
}

impl Clone for AlignedBuf {
    fn clone(&self) -> Self {
        let mut alloc = match AlignedAlloc::zeroed(self.len()) {
            Ok(alloc) => alloc,
            // Same policy as `Vec::clone`: failing to allocate a copy of an existing buffer is
            // an out-of-memory abort, not a recoverable error.
            Err(_) => std::alloc::handle_alloc_error(
                std::alloc::Layout::from_size_align(self.len(), BUF_ALIGN_BYTES)
                    .expect("layout of an existing buffer is valid"),
            ),
        };
        alloc.as_mut_slice().copy_from_slice(self);
        Self { alloc }
    }
}

/// A buffer `Device` may hand to the kernel for O_DIRECT: [`AlignedBuf`] or
/// [`crate::PooledBuf`]. Both guarantee that the first byte is aligned to [`BUF_ALIGN_BYTES`]
/// and that the length is a non-zero multiple of [`SECTOR_SIZE_MIN_BYTES`] (sealed: no other
/// type can promise that).
pub trait IoBuffer: DerefMut<Target = [u8]> + sealed::Sealed {}

impl IoBuffer for AlignedBuf {}
impl IoBuffer for crate::pool::PooledBuf {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::AlignedBuf {}
    impl Sealed for crate::pool::PooledBuf {}
}

impl PartialEq for AlignedBuf {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for AlignedBuf {}

impl PartialEq<[u8]> for AlignedBuf {
    fn eq(&self, other: &[u8]) -> bool {
        **self == *other
    }
}

impl fmt::Debug for AlignedBuf {
    /// Prints the length and the first 16 bytes only: buffers are sectors or whole areas
    /// (up to 8 MiB) and dumping them would drown any log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = &self[..self.len().min(16)];
        f.debug_struct("AlignedBuf")
            .field("len", &self.len())
            .field("head", &head)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_is_aligned_zero_filled_and_sized() {
        for len in [512, 1024, 4096, 8192, 1 << 20] {
            let buf = AlignedBuf::zeroed(len).unwrap();
            assert_eq!(buf.len(), len);
            assert_eq!(buf.as_ptr().addr() % BUF_ALIGN_BYTES, 0);
            assert!(buf.iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn bad_lengths_are_typed_errors() {
        for len in [0, 1, 511, 513, 4095] {
            assert_eq!(
                AlignedBuf::zeroed(len).err(),
                Some(BufError::BadLength { len })
            );
        }
        let huge = usize::MAX - (usize::MAX % 512);
        assert_eq!(
            AlignedBuf::zeroed(huge).err(),
            Some(BufError::TooLarge { len: huge })
        );
        assert_eq!(
            AlignedBuf::from_slice(&[1, 2, 3]).err(),
            Some(BufError::BadLength { len: 3 })
        );
    }

    #[test]
    fn from_slice_copies_and_deref_mut_writes() {
        let data: Vec<u8> = (0..1024u32).map(|i| (i % 251) as u8).collect();
        let mut buf = AlignedBuf::from_slice(&data).unwrap();
        assert_eq!(&buf[..], &data[..]);
        buf[0] = 0xAA;
        assert_eq!(buf[0], 0xAA);
        let copy = buf.clone();
        assert_eq!(copy, buf);
        assert_eq!(copy.as_ptr().addr() % BUF_ALIGN_BYTES, 0);
        assert_ne!(copy.as_ptr(), buf.as_ptr());
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<AlignedBuf>();
    }

    #[test]
    fn debug_is_short() {
        let buf = AlignedBuf::zeroed(1 << 20).unwrap();
        assert!(format!("{buf:?}").len() < 200);
    }
}
