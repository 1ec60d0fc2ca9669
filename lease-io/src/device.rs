//! [`Device`]: a block device or regular file opened for O_DIRECT, synchronous positional I/O.
//!
//! # Contract
//!
//! * [`Device::open`] opens with `O_DIRECT | O_CLOEXEC`, plus `O_RDWR | O_DSYNC` for
//!   [`Access::ReadWrite`]. It never falls back to buffered I/O: a file system that rejects
//!   `O_DIRECT` yields [`DeviceError::DirectIoUnsupported`] naming the path. Only block devices
//!   and regular files are accepted; anything else is refused before it is opened, so a FIFO
//!   cannot block the caller.
//! * The **I/O alignment** is `max(logical sector size, 512)`. For a block device the logical
//!   sector size comes from `BLKSSZGET`; for a regular file it is always 512, exactly as sanlock
//!   assumes ("regular files are always 512-byte devices", sanlock-format.md §1.1). Every I/O must
//!   start on an alignment boundary and cover a non-zero whole number of alignment units, or it is
//!   refused with [`DeviceError::Misaligned`] **before** any system call is made.
//! * Reads must lie entirely inside the device ([`DeviceError::OutOfRange`] otherwise, again
//!   before issuing). Writes to a block device likewise. Writes to a regular file may extend it
//!   (this is how sanlock initialises leases into a fresh file); prefer pre-sizing it with
//!   [`crate::create_image_file`].
//! * A write on a device opened [`Access::ReadOnly`] is refused with [`DeviceError::ReadOnly`]
//!   before issuing.
//! * A successful [`Device::write_at`] is durable when it returns (`O_DSYNC`); [`Device::sync`]
//!   (`fdatasync`) exists for callers that want an explicit barrier and for future engines.
//! * Short transfers and `EINTR` are retried until the whole range is done, bounded by
//!   [`IO_ATTEMPTS_MAX`] system calls; a transfer that stops early (end of device, or a partial
//!   transfer that is not a whole number of sectors and so cannot be resumed under O_DIRECT) is
//!   reported as [`DeviceError::Io`] with `UnexpectedEof`/`WriteZero`/`Other`.
//! * The size is read at open and cached. A range check that fails against the cache re-reads the
//!   size once before refusing, so devices grown by another host or by `lvextend` are seen.
//!
//! # Why O_DIRECT
//!
//! Lease areas live on storage shared by many hosts, and the lease algorithms (Disk Paxos, delta
//! leases) are only correct if each read returns what is on the device *now* and each write is on
//! the device before we act on it. The page cache breaks both: a buffered read can return this
//! host's stale cached copy of a sector that another host rewrote, and a buffered write sits in
//! memory until writeback. Worse, writeback errors surface later through `fsync`, are reported only
//! once, and the failed pages may be marked clean and dropped ("fsyncgate", PostgreSQL 2018), so a
//! lost ballot write can go unnoticed. With `O_DIRECT | O_DSYNC` every write reaches the device
//! (and its volatile cache is flushed) before `pwrite` returns, and any error is returned by that
//! very `pwrite`, attributable to one offset. sanlock opens devices the same way
//! (`O_RDWR | O_DIRECT | O_SYNC`; we use `O_DSYNC`, which gives the same data durability without
//! forcing inode timestamp updates).
//!
//! # Invariants of a `Device`
//!
//! * `kind`, `logical_sector_size`, `physical_sector_size` and `access` never change after open;
//! * `io_alignment()` is a power of two in `512..=4096` and divides [`crate::BUF_ALIGN_BYTES`],
//!   so every [`IoBuffer`] (aligned or pooled buffer) is suitably aligned in memory for every
//!   device;
//! * no I/O is ever issued with an offset or length that is not a multiple of `io_alignment()`.
//!
//! # Engine seam
//!
//! Validation (`check_write`, `check_read`) is separate from execution (`read_exact_at`,
//! `write_all_at`). The engines (`crate::engine`) mirror the validation and replace only the
//! execution half; a `Device` is `Send + Sync` so engines may share it.
//!
//! # Buffers
//!
//! [`Device::read_at`] reads into a buffer of the process-wide [`BufPool`] and returns it as a
//! [`PooledBuf`] only when the whole length was read; on any error the buffer goes back to the
//! pool unseen, so a reused buffer never shows an earlier read's bytes as this read's.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::buf::{IoBuffer, BUF_ALIGN_BYTES, SECTOR_SIZE_MIN_BYTES};
use crate::error::{DeviceError, IoOp};
use crate::pool::{BufPool, PooledBuf};
use crate::sys;

/// Logical sector size lease-io reports for regular files, as sanlock does.
pub const REGULAR_FILE_SECTOR_SIZE_BYTES: u32 = 512;

/// Largest logical sector size accepted (sanlock supports 512 and 4096).
pub const SECTOR_SIZE_MAX_BYTES: u32 = 4096;

/// Upper bound on system calls spent on one `read_at`/`write_at` (short transfers and `EINTR`).
pub const IO_ATTEMPTS_MAX: u32 = 64;

const _: () = assert!(SECTOR_SIZE_MAX_BYTES as usize <= BUF_ALIGN_BYTES);
const _: () = assert!(REGULAR_FILE_SECTOR_SIZE_BYTES as usize == SECTOR_SIZE_MIN_BYTES);

/// How a device is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// `O_RDONLY | O_DIRECT`: writes are refused with [`DeviceError::ReadOnly`].
    ReadOnly,
    /// `O_RDWR | O_DIRECT | O_DSYNC`: every completed write is durable.
    ReadWrite,
}

/// What a [`Device`] is backed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// A block special file (disk, partition, LV, multipath, loop device).
    BlockDevice,
    /// A regular file; treated as a 512-byte-sector device.
    RegularFile,
}

/// Static facts about a device, as returned by [`probe`] and [`Device::info`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Block device or regular file.
    pub kind: DeviceKind,
    /// Logical sector size in bytes (`BLKSSZGET`; 512 for regular files).
    pub logical_sector_size: u32,
    /// Physical sector size in bytes (`BLKPBSZGET`); `None` for regular files, whose file
    /// system's physical layout is not meaningful to the lease format.
    pub physical_sector_size: Option<u32>,
    /// Size in bytes (`BLKGETSIZE64`, or the file length).
    pub size_bytes: u64,
}

impl DeviceInfo {
    /// `max(logical_sector_size, 512)`: every offset and length must be a multiple of this.
    pub fn io_alignment(&self) -> u32 {
        self.logical_sector_size.max(REGULAR_FILE_SECTOR_SIZE_BYTES)
    }
}

/// A block device or regular file opened for O_DIRECT I/O. See the module docs for the contract.
#[derive(Debug)]
pub struct Device {
    file: File,
    path: PathBuf,
    access: Access,
    kind: DeviceKind,
    logical_sector_size: u32,
    physical_sector_size: Option<u32>,
    /// Cached size; refreshed when a range check fails and after extending writes to files.
    size_bytes: AtomicU64,
}

impl Device {
    /// Opens `path` for O_DIRECT I/O and probes its kind, sector size and size.
    ///
    /// Errors: [`DeviceError::Open`] (missing, permission, ...),
    /// [`DeviceError::DirectIoUnsupported`] (file system refuses O_DIRECT),
    /// [`DeviceError::UnsupportedFileType`] (directory, char device, FIFO, ...),
    /// [`DeviceError::UnsupportedSectorSize`], [`DeviceError::Io`] with [`IoOp::Probe`].
    pub fn open(path: &Path, access: Access) -> Result<Device, DeviceError> {
        // Refuse odd file types before open(2): opening a FIFO for reading would block.
        let pre = std::fs::metadata(path).map_err(|source| DeviceError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        file_kind(path, &pre.file_type())?;

        let mut options = OpenOptions::new();
        let mut flags = libc::O_DIRECT | libc::O_CLOEXEC;
        options.read(true);
        if access == Access::ReadWrite {
            options.write(true);
            flags |= libc::O_DSYNC;
        }
        options.custom_flags(flags);
        let file = options.open(path).map_err(|e| open_error(path, e))?;

        // fstat the descriptor we actually hold: the path may have changed since `pre`.
        let meta = file.metadata().map_err(|e| probe_error(path, e))?;
        let kind = file_kind(path, &meta.file_type())?;
        let (logical_sector_size, physical_sector_size, size_bytes) = match kind {
            DeviceKind::RegularFile => (REGULAR_FILE_SECTOR_SIZE_BYTES, None, meta.len()),
            DeviceKind::BlockDevice => {
                let fd = file.as_fd();
                let logical = sys::blk_logical_sector_size(fd).map_err(|e| probe_error(path, e))?;
                let physical =
                    sys::blk_physical_sector_size(fd).map_err(|e| probe_error(path, e))?;
                let size = sys::blk_size_bytes(fd).map_err(|e| probe_error(path, e))?;
                (logical, Some(physical), size)
            }
        };
        if !logical_sector_size.is_power_of_two()
            || !(REGULAR_FILE_SECTOR_SIZE_BYTES..=SECTOR_SIZE_MAX_BYTES)
                .contains(&logical_sector_size)
        {
            return Err(DeviceError::UnsupportedSectorSize {
                path: path.to_path_buf(),
                sector_size: logical_sector_size,
            });
        }
        let device = Device {
            file,
            path: path.to_path_buf(),
            access,
            kind,
            logical_sector_size,
            physical_sector_size,
            size_bytes: AtomicU64::new(size_bytes),
        };
        assert!(BUF_ALIGN_BYTES.is_multiple_of(device.io_alignment() as usize));
        Ok(device)
    }

    /// The path this device was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The access mode it was opened with.
    pub fn access(&self) -> Access {
        self.access
    }

    /// Block device or regular file.
    pub fn kind(&self) -> DeviceKind {
        self.kind
    }

    /// Logical sector size in bytes: `BLKSSZGET` for block devices, 512 for regular files.
    pub fn logical_sector_size(&self) -> u32 {
        self.logical_sector_size
    }

    /// Physical sector size in bytes (`BLKPBSZGET`); `None` for regular files.
    pub fn physical_sector_size(&self) -> Option<u32> {
        self.physical_sector_size
    }

    /// `max(logical_sector_size, 512)`: offsets and lengths must be multiples of this.
    pub fn io_alignment(&self) -> u32 {
        self.logical_sector_size.max(REGULAR_FILE_SECTOR_SIZE_BYTES)
    }

    /// Size in bytes as of open, the last [`Device::refresh_size`], or the last range check
    /// that had to re-read it (or an extending write, for regular files).
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes.load(Ordering::Acquire)
    }

    /// Re-reads the size from the kernel (`BLKGETSIZE64` or `fstat`), caches and returns it.
    pub fn refresh_size(&self) -> Result<u64, DeviceError> {
        let size = match self.kind {
            DeviceKind::BlockDevice => sys::blk_size_bytes(self.file.as_fd()),
            DeviceKind::RegularFile => self.file.metadata().map(|m| m.len()),
        }
        .map_err(|e| probe_error(&self.path, e))?;
        self.size_bytes.store(size, Ordering::Release);
        Ok(size)
    }

    /// Kind, sector sizes and (cached) size.
    pub fn info(&self) -> DeviceInfo {
        DeviceInfo {
            kind: self.kind,
            logical_sector_size: self.logical_sector_size,
            physical_sector_size: self.physical_sector_size,
            size_bytes: self.size_bytes(),
        }
    }

    /// Reads `len` bytes at `offset` into a buffer of the process-wide [`BufPool`]
    /// ([`BufPool::global`]); dropping the result (or the last clone of
    /// [`PooledBuf::into_bytes`]) gives the buffer back, so repeated reads do not allocate.
    ///
    /// Errors: [`DeviceError::Misaligned`], [`DeviceError::OutOfRange`] (both before issuing),
    /// [`DeviceError::Buffer`], [`DeviceError::Io`]. On error no byte of the buffer is shown
    /// (it goes back to the pool).
    pub fn read_at(&self, offset: u64, len: usize) -> Result<PooledBuf, DeviceError> {
        self.read_at_in(BufPool::global(), offset, len)
    }

    /// [`Device::read_at`] with a buffer of `pool`.
    pub fn read_at_in(
        &self,
        pool: &Arc<BufPool>,
        offset: u64,
        len: usize,
    ) -> Result<PooledBuf, DeviceError> {
        self.check_read(offset, len)?;
        let mut buf = pool.take(len).map_err(|source| DeviceError::Buffer {
            path: self.path.clone(),
            source,
        })?;
        // A pooled buffer holds an earlier read's bytes: only a complete read may be returned.
        self.read_exact_at(offset, &mut buf)?;
        Ok(buf)
    }

    /// Reads `buf.len()` bytes at `offset` into `buf` (an `AlignedBuf` or a [`PooledBuf`]).
    /// `Ok` means every byte of `buf` was transferred by this read. On error the contents of
    /// `buf` are unspecified (possibly partly overwritten, possibly an earlier read's).
    ///
    /// Errors: as [`Device::read_at`]; `buf.len()` must also be a multiple of `io_alignment()`.
    pub fn read_into(&self, offset: u64, buf: &mut impl IoBuffer) -> Result<(), DeviceError> {
        self.check_read(offset, buf.len())?;
        self.read_exact_at(offset, buf)
    }

    /// Writes all of `data` at `offset`; durable on return (`O_DSYNC`).
    ///
    /// `data` need not be aligned in memory: if it is not aligned to [`BUF_ALIGN_BYTES`] it is
    /// first copied into a buffer of the global [`BufPool`] (pass an aligned buffer to avoid
    /// the copy).
    ///
    /// Errors: [`DeviceError::ReadOnly`], [`DeviceError::Misaligned`],
    /// [`DeviceError::OutOfRange`] (block devices, or offsets past `i64::MAX`), all before
    /// issuing; [`DeviceError::Buffer`], [`DeviceError::Io`].
    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), DeviceError> {
        self.check_write(offset, data.len())?;
        if data.as_ptr().addr().is_multiple_of(BUF_ALIGN_BYTES) {
            self.write_all_at(offset, data)?;
        } else {
            let copy = BufPool::global()
                .take_copy(data)
                .map_err(|source| DeviceError::Buffer {
                    path: self.path.clone(),
                    source,
                })?;
            self.write_all_at(offset, &copy)?;
        }
        if self.kind == DeviceKind::RegularFile {
            let end = offset + data.len() as u64; // Cannot overflow: checked in check_write.
            self.size_bytes.fetch_max(end, Ordering::AcqRel);
        }
        Ok(())
    }

    /// `fdatasync(2)`: flushes data and the metadata needed to read it back.
    ///
    /// Writes through a `ReadWrite` device are already durable on return (`O_DSYNC`); this is an
    /// explicit barrier, e.g. after an engine that does not use `O_DSYNC` semantics per write.
    pub fn sync(&self) -> Result<(), DeviceError> {
        self.file.sync_data().map_err(|source| DeviceError::Io {
            path: self.path.clone(),
            op: IoOp::Sync,
            offset: 0,
            len: 0,
            source,
        })
    }

    fn check_aligned(&self, offset: u64, len: usize) -> Result<(), DeviceError> {
        let alignment = self.io_alignment();
        if len == 0
            || !offset.is_multiple_of(u64::from(alignment))
            || !len.is_multiple_of(alignment as usize)
        {
            return Err(DeviceError::Misaligned {
                path: self.path.clone(),
                offset,
                len,
                alignment,
            });
        }
        Ok(())
    }

    /// Exclusive end of `offset..offset+len`, or `OutOfRange` if it exceeds what `pread` /
    /// `pwrite` accept (`off_t` is signed 64-bit).
    fn range_end(&self, offset: u64, len: usize) -> Result<u64, DeviceError> {
        offset
            .checked_add(len as u64)
            .filter(|&end| end <= i64::MAX as u64)
            .ok_or_else(|| self.out_of_range(offset, len, self.size_bytes()))
    }

    fn out_of_range(&self, offset: u64, len: usize, size_bytes: u64) -> DeviceError {
        DeviceError::OutOfRange {
            path: self.path.clone(),
            offset,
            len,
            size_bytes,
        }
    }

    /// Refuses a range that ends past the device, re-reading the size once before refusing.
    fn check_in_range(&self, offset: u64, len: usize) -> Result<(), DeviceError> {
        let end = self.range_end(offset, len)?;
        if end <= self.size_bytes() {
            return Ok(());
        }
        let size = self.refresh_size()?;
        if end <= size {
            return Ok(());
        }
        Err(self.out_of_range(offset, len, size))
    }

    fn check_read(&self, offset: u64, len: usize) -> Result<(), DeviceError> {
        self.check_aligned(offset, len)?;
        self.check_in_range(offset, len)
    }

    fn check_write(&self, offset: u64, len: usize) -> Result<(), DeviceError> {
        if self.access == Access::ReadOnly {
            return Err(DeviceError::ReadOnly {
                path: self.path.clone(),
            });
        }
        self.check_aligned(offset, len)?;
        match self.kind {
            DeviceKind::BlockDevice => self.check_in_range(offset, len),
            DeviceKind::RegularFile => self.range_end(offset, len).map(|_| ()),
        }
    }

    fn io_error(&self, op: IoOp, offset: u64, len: usize, source: io::Error) -> DeviceError {
        DeviceError::Io {
            path: self.path.clone(),
            op,
            offset,
            len,
            source,
        }
    }

    /// Execution half of a read: `pread` until `buf` is full. Preconditions (checked by
    /// `check_read`): aligned offset and length, range inside the device.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), DeviceError> {
        let len = buf.len();
        let mut done = 0usize;
        let mut attempts = 0u32;
        while done < len {
            if attempts == IO_ATTEMPTS_MAX {
                return Err(self.io_error(IoOp::Read, offset, len, gave_up(done, len)));
            }
            attempts += 1;
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => {
                    let e = io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("end of device after {done} of {len} bytes"),
                    );
                    return Err(self.io_error(IoOp::Read, offset, len, e));
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(IoOp::Read, offset, len, e)),
            }
            self.check_resumable(IoOp::Read, offset, len, done)?;
        }
        assert_eq!(done, len);
        Ok(())
    }

    /// Execution half of a write: `pwrite` until all of `data` is written. Preconditions
    /// (checked by `check_write`): writable, aligned offset, length and memory.
    fn write_all_at(&self, offset: u64, data: &[u8]) -> Result<(), DeviceError> {
        assert_eq!(data.as_ptr().addr() % BUF_ALIGN_BYTES, 0);
        let len = data.len();
        let mut done = 0usize;
        let mut attempts = 0u32;
        while done < len {
            if attempts == IO_ATTEMPTS_MAX {
                return Err(self.io_error(IoOp::Write, offset, len, gave_up(done, len)));
            }
            attempts += 1;
            match self.file.write_at(&data[done..], offset + done as u64) {
                Ok(0) => {
                    let e = io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("device accepted 0 bytes after {done} of {len}"),
                    );
                    return Err(self.io_error(IoOp::Write, offset, len, e));
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(IoOp::Write, offset, len, e)),
            }
            self.check_resumable(IoOp::Write, offset, len, done)?;
        }
        assert_eq!(done, len);
        Ok(())
    }

    /// A partial transfer can only be resumed under O_DIRECT if it ended on a sector boundary.
    fn check_resumable(
        &self,
        op: IoOp,
        offset: u64,
        len: usize,
        done: usize,
    ) -> Result<(), DeviceError> {
        if done < len && !done.is_multiple_of(self.io_alignment() as usize) {
            let e = io::Error::other(format!(
                "short {op} of {done} of {len} bytes is not a whole number of {}-byte sectors; \
                 cannot resume under O_DIRECT",
                self.io_alignment()
            ));
            return Err(self.io_error(op, offset, len, e));
        }
        Ok(())
    }
}

impl AsFd for Device {
    /// The underlying descriptor, for engines and diagnostics. I/O issued through it bypasses
    /// the alignment and range checks of `Device`.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Opens `path` read-only with O_DIRECT and reports its kind, sector sizes and size.
///
/// Errors: as [`Device::open`].
pub fn probe(path: &Path) -> Result<DeviceInfo, DeviceError> {
    Ok(Device::open(path, Access::ReadOnly)?.info())
}

fn gave_up(done: usize, len: usize) -> io::Error {
    io::Error::other(format!(
        "gave up after {IO_ATTEMPTS_MAX} attempts with {done} of {len} bytes transferred"
    ))
}

fn file_kind(path: &Path, file_type: &std::fs::FileType) -> Result<DeviceKind, DeviceError> {
    if file_type.is_block_device() {
        return Ok(DeviceKind::BlockDevice);
    }
    if file_type.is_file() {
        return Ok(DeviceKind::RegularFile);
    }
    let name = if file_type.is_dir() {
        "directory"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else {
        "special file"
    };
    Err(DeviceError::UnsupportedFileType {
        path: path.to_path_buf(),
        file_type: name,
    })
}

/// `open(2)` with O_DIRECT fails with `EINVAL` exactly when the file system does not implement
/// direct I/O (our other flags are always valid), so `EINVAL` gets its own, explicit error.
pub(crate) fn open_error(path: &Path, source: io::Error) -> DeviceError {
    let path = path.to_path_buf();
    if source.raw_os_error() == Some(libc::EINVAL) {
        DeviceError::DirectIoUnsupported { path, source }
    } else {
        DeviceError::Open { path, source }
    }
}

fn probe_error(path: &Path, source: io::Error) -> DeviceError {
    DeviceError::Io {
        path: path.to_path_buf(),
        op: IoOp::Probe,
        offset: 0,
        len: 0,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn einval_on_open_means_no_direct_io_and_names_the_path() {
        let path = Path::new("/mnt/no-odirect/leases");
        let e = open_error(path, io::Error::from_raw_os_error(libc::EINVAL));
        assert!(
            matches!(e, DeviceError::DirectIoUnsupported { .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("/mnt/no-odirect/leases"));
        assert!(e.to_string().contains("O_DIRECT"));
        assert_eq!(e.errno(), -libc::EINVAL);
        let e = open_error(path, io::Error::from_raw_os_error(libc::ENOENT));
        assert!(matches!(e, DeviceError::Open { .. }), "{e:?}");
        assert_eq!(e.errno(), -libc::ENOENT);
    }

    #[test]
    fn device_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Device>();
    }

    #[test]
    fn io_alignment_is_at_least_512() {
        let info = DeviceInfo {
            kind: DeviceKind::RegularFile,
            logical_sector_size: 512,
            physical_sector_size: None,
            size_bytes: 0,
        };
        assert_eq!(info.io_alignment(), 512);
        assert_eq!(
            DeviceInfo {
                logical_sector_size: 4096,
                ..info
            }
            .io_alignment(),
            4096
        );
    }
}
