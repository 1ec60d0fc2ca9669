//! The `unsafe` boundary of `lease-io`: the only module allowed to contain `unsafe` code.
//!
//! The crate root is `#![deny(unsafe_code)]`; this module alone opts back in. Everything here is a
//! thin, safe wrapper around exactly one unsafe operation, and every `unsafe` block carries a
//! `// SAFETY:` comment that names the rule it relies on. Callers never see raw pointers or raw
//! file descriptors.
//!
//! Contents:
//! * [`AlignedAlloc`]: a zero-initialised heap allocation aligned to [`BUF_ALIGN_BYTES`]. It is
//!   the storage behind [`crate::AlignedBuf`], which adds the length rules on top.
//!   Invariants: `ptr` is non-null, was returned by `alloc_zeroed(layout)` and is owned
//!   exclusively by this value; `layout.size() == len > 0`; `layout.align() == BUF_ALIGN_BYTES`;
//!   all `len` bytes are initialised (zeroed at allocation, then only written through `&mut`).
//! * Block-device ioctls (`BLKSSZGET`, `BLKPBSZGET`, `BLKGETSIZE64`): each writes exactly one
//!   integer of a known type through the pointer argument.
//! * `fcntl(F_GETFL / F_GETFD)` and `geteuid()` for the `testing` helpers.
//!
//! When the io_uring engine lands, its submission code belongs here too: an SQE may only
//! reference a buffer that stays valid "for the entire duration of the operation" (io-uring's
//! `squeue::push` contract), which is an ownership rule the type system cannot check for us.

use std::alloc::{self, Layout};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

/// Memory alignment of every I/O buffer, in bytes.
///
/// O_DIRECT requires the user buffer to be aligned to the device's DMA alignment, which is never
/// more than the logical block size; 4096 covers every sector size sanlock supports (512, 4096).
pub const BUF_ALIGN_BYTES: usize = 4096;

const _: () = assert!(BUF_ALIGN_BYTES.is_power_of_two());
const _: () = assert!(BUF_ALIGN_BYTES.is_multiple_of(512));

/// Zeroed heap memory aligned to [`BUF_ALIGN_BYTES`]; see the module docs for its invariants.
pub(crate) struct AlignedAlloc {
    ptr: NonNull<u8>,
    layout: Layout,
}

/// Why [`AlignedAlloc::zeroed`] could not allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AllocError {
    /// The size does not fit a `Layout` (larger than `isize::MAX` minus the alignment).
    TooLarge,
    /// The global allocator returned null.
    OutOfMemory,
}

impl AlignedAlloc {
    /// Allocates `len` zero bytes aligned to [`BUF_ALIGN_BYTES`].
    ///
    /// `len` must be non-zero: callers (`AlignedBuf`) reject zero before calling, so a zero here
    /// is a programming error and asserts.
    pub(crate) fn zeroed(len: usize) -> Result<Self, AllocError> {
        assert!(len > 0, "AlignedAlloc::zeroed called with len 0");
        let layout =
            Layout::from_size_align(len, BUF_ALIGN_BYTES).map_err(|_| AllocError::TooLarge)?;
        // SAFETY: `layout` has a non-zero size (asserted above), which is the only requirement
        // of `GlobalAlloc::alloc_zeroed`.
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).ok_or(AllocError::OutOfMemory)?;
        assert_eq!(ptr.as_ptr().addr() % BUF_ALIGN_BYTES, 0);
        Ok(Self { ptr, layout })
    }

    pub(crate) fn len(&self) -> usize {
        self.layout.size()
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` points to `layout.size()` initialised bytes owned by `self` (module
        // invariants); the returned shared borrow is tied to `&self`, so no `&mut` alias exists
        // while it lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.layout.size()) }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`; the borrow is tied to `&mut self`, so it is the only
        // reference to these bytes while it lives.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.layout.size()) }
    }
}

impl Drop for AlignedAlloc {
    fn drop(&mut self) {
        // SAFETY: `ptr` was returned by `alloc_zeroed(self.layout)` with this exact layout and
        // has not been freed (we own it exclusively and free it only here, once).
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

// SAFETY: `AlignedAlloc` owns its memory exclusively (like `Box<[u8]>`); moving it to another
// thread moves that ownership.
unsafe impl Send for AlignedAlloc {}
// SAFETY: shared access only hands out `&[u8]` (through `&self`), which is safe to share across
// threads; mutation requires `&mut self`.
unsafe impl Sync for AlignedAlloc {}

fn ioctl_result(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `ioctl(BLKSSZGET)`: logical sector size of a block device, in bytes.
pub(crate) fn blk_logical_sector_size(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut value: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one `int` through its argument; `value` is a live, writable
    // `c_int` for the whole call, and `fd` is an open descriptor borrowed for the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::BLKSSZGET, &mut value) };
    ioctl_result(rc)?;
    u32::try_from(value)
        .map_err(|_| io::Error::other(format!("BLKSSZGET returned negative size {value}")))
}

/// `ioctl(BLKPBSZGET)`: physical sector size of a block device, in bytes.
pub(crate) fn blk_physical_sector_size(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut value: libc::c_uint = 0;
    // SAFETY: BLKPBSZGET writes one `unsigned int` through its argument; `value` is a live,
    // writable `c_uint` for the whole call, and `fd` is an open descriptor.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::BLKPBSZGET, &mut value) };
    ioctl_result(rc)?;
    Ok(value)
}

/// `BLKGETSIZE64` is `_IOR(0x12, 114, size_t)` in `<linux/fs.h>`; the `size_t` only shapes the
/// request number, the kernel always writes a `u64`.
const BLKGETSIZE64: libc::Ioctl = libc::_IOR::<libc::size_t>(0x12, 114);

/// `ioctl(BLKGETSIZE64)`: size of a block device, in bytes.
pub(crate) fn blk_size_bytes(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut value: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one `u64` through its argument; `value` is a live, writable
    // `u64` for the whole call, and `fd` is an open descriptor.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), BLKGETSIZE64, &mut value) };
    ioctl_result(rc)?;
    Ok(value)
}

/// `fcntl(F_GETFL)`: file status flags and access mode of an open descriptor.
#[cfg(any(test, feature = "testing"))]
pub(crate) fn fcntl_getfl(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: F_GETFL takes no argument and only reads kernel state of the open descriptor.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc)
}

/// `fcntl(F_GETFD)`: descriptor flags (`FD_CLOEXEC`) of an open descriptor.
#[cfg(any(test, feature = "testing"))]
pub(crate) fn fcntl_getfd(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: F_GETFD takes no argument and only reads kernel state of the open descriptor.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc)
}

/// `geteuid()`: effective user id of this process.
#[cfg(any(test, feature = "testing"))]
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail (POSIX).
    unsafe { libc::geteuid() }
}

/// `clock_gettime(CLOCK_MONOTONIC)`.
pub(crate) fn clock_monotonic(ts: &mut libc::timespec) {
    // SAFETY: `ts` is a valid, exclusively borrowed timespec for the duration of the call, and
    // CLOCK_MONOTONIC is always supported on Linux, so the call cannot fail.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC) cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blkgetsize64_matches_linux_header_value_on_common_arches() {
        // <linux/fs.h> on x86_64 / aarch64 / riscv64: 0x80081272.
        #[cfg(all(
            target_pointer_width = "64",
            target_env = "gnu",
            any(
                target_arch = "x86_64",
                target_arch = "aarch64",
                target_arch = "riscv64"
            )
        ))]
        assert_eq!(BLKGETSIZE64, 0x8008_1272);
    }

    #[test]
    fn alloc_is_aligned_and_zeroed() {
        for len in [512, 4096, 4096 * 3 + 512] {
            let a = AlignedAlloc::zeroed(len).expect("small allocation");
            assert_eq!(a.len(), len);
            assert_eq!(a.as_slice().as_ptr().addr() % BUF_ALIGN_BYTES, 0);
            assert!(a.as_slice().iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn oversized_alloc_is_an_error_not_a_panic() {
        assert_eq!(
            AlignedAlloc::zeroed(usize::MAX).err(),
            Some(AllocError::TooLarge)
        );
    }
}
