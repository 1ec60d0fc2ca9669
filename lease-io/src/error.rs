//! [`DeviceError`]: every failure `lease-io` reports, as a typed enum.
//!
//! Rules:
//! * every variant carries the path of the device or file it concerns, so a message read in a log
//!   on one host of many identifies the shared disk without further context;
//! * validation errors ([`DeviceError::Misaligned`], [`DeviceError::OutOfRange`],
//!   [`DeviceError::ReadOnly`]) are produced *before* any system call is issued, so they
//!   guarantee that the device was not touched;
//! * kernel errors keep the `std::io::Error` (and so the errno) as their `source`;
//! * [`DeviceError::errno`] maps every variant to a negative errno for the sanlock-style wire
//!   protocol (sanlock returns `-errno` from its I/O paths).
//!
//! Messages start lower-case and have no trailing period (workspace style).

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::buf::BufError;

/// The operation that failed, for [`DeviceError::Io`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IoOp {
    /// `pread` on the device.
    Read,
    /// `pwrite` on the device.
    Write,
    /// `fdatasync` on the device.
    Sync,
    /// `fstat` or a size/sector-size ioctl while probing the device.
    Probe,
    /// Creating or resizing an image file.
    Create,
}

impl fmt::Display for IoOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoOp::Read => "read",
            IoOp::Write => "write",
            IoOp::Sync => "sync",
            IoOp::Probe => "probe",
            IoOp::Create => "create",
        })
    }
}

/// An error from opening, probing, reading, writing or syncing a device.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// `open(2)` failed (missing path, permission, ...).
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The path given to `Device::open`.
        path: PathBuf,
        /// The kernel's error.
        source: io::Error,
    },
    /// The file system refused `O_DIRECT` (`open` returned `EINVAL`). lease-io never falls back
    /// to buffered I/O: other hosts would not see our writes and we would not see theirs.
    #[error(
        "{} does not support O_DIRECT (open returned {source}); lease areas must live on a block \
         device or a file system with direct I/O",
        path.display()
    )]
    DirectIoUnsupported {
        /// The path given to `Device::open`.
        path: PathBuf,
        /// The kernel's error (`EINVAL`).
        source: io::Error,
    },
    /// The path is neither a block device nor a regular file (directory, character device, ...).
    #[error("{} is a {file_type}, not a block device or regular file", path.display())]
    UnsupportedFileType {
        /// The path given to `Device::open`.
        path: PathBuf,
        /// What it is instead, e.g. `"directory"`.
        file_type: &'static str,
    },
    /// The block device reports a logical sector size lease-io does not handle (it accepts
    /// powers of two from 512 to 4096).
    #[error("{} has unsupported logical sector size {sector_size} bytes", path.display())]
    UnsupportedSectorSize {
        /// The device path.
        path: PathBuf,
        /// The size BLKSSZGET reported.
        sector_size: u32,
    },
    /// The I/O does not start on, or does not cover a non-zero whole number of, `alignment`-byte
    /// units. Nothing was issued to the device.
    #[error(
        "misaligned I/O on {}: offset {offset} len {len} must both be multiples of {alignment} \
         bytes (len non-zero)",
        path.display()
    )]
    Misaligned {
        /// The device path.
        path: PathBuf,
        /// Requested byte offset.
        offset: u64,
        /// Requested length in bytes.
        len: usize,
        /// The device's I/O alignment in bytes (`max(logical sector size, 512)`).
        alignment: u32,
    },
    /// The I/O reaches past the end of the device. Nothing was issued to the device.
    #[error(
        "I/O out of range on {}: offset {offset} len {len} exceeds device size {size_bytes} bytes",
        path.display()
    )]
    OutOfRange {
        /// The device path.
        path: PathBuf,
        /// Requested byte offset.
        offset: u64,
        /// Requested length in bytes.
        len: usize,
        /// Device size in bytes when the request was checked.
        size_bytes: u64,
    },
    /// A write was attempted on a device opened with `Access::ReadOnly`. Nothing was issued.
    #[error("{} is open read-only; write refused", path.display())]
    ReadOnly {
        /// The device path.
        path: PathBuf,
    },
    /// `create_image_file` found an existing non-empty file and was not asked to replace it.
    #[error("{} already exists with {size_bytes} bytes; refusing to overwrite", path.display())]
    ImageExists {
        /// The image path.
        path: PathBuf,
        /// Its current size in bytes.
        size_bytes: u64,
    },
    /// `create_image_file` was given a size that is not a non-zero multiple of 512.
    #[error("image size {size_bytes} for {} is not a non-zero multiple of 512", path.display())]
    BadImageSize {
        /// The image path.
        path: PathBuf,
        /// The rejected size in bytes.
        size_bytes: u64,
    },
    /// An I/O buffer could not be allocated.
    #[error("cannot allocate I/O buffer for {}: {source}", path.display())]
    Buffer {
        /// The device path.
        path: PathBuf,
        /// Why allocation failed.
        source: BufError,
    },
    /// The kernel failed an I/O, or a short transfer could not be completed.
    #[error("{op} failed on {} at offset {offset} len {len}: {source}", path.display())]
    Io {
        /// The device path.
        path: PathBuf,
        /// What was being done.
        op: IoOp,
        /// Byte offset of the request (0 for `Sync`/`Probe`).
        offset: u64,
        /// Length of the request in bytes (0 for `Sync`/`Probe`).
        len: usize,
        /// The kernel's error (`raw_os_error()` is the errno), or a synthesised one for short
        /// transfers (`UnexpectedEof`, `WriteZero`).
        source: io::Error,
    },
}

impl DeviceError {
    /// The negative errno this error maps to on the wire (sanlock convention: `-errno`).
    ///
    /// Kernel errors keep their own errno; errors without one map to the errno the kernel itself
    /// would most likely have returned: misalignment `-EINVAL`, out of range `-ERANGE`, read-only
    /// `-EBADF`, existing image `-EEXIST`, allocation `-ENOMEM`, short transfer `-EIO`.
    pub fn errno(&self) -> i32 {
        let positive = match self {
            DeviceError::Open { source, .. } | DeviceError::DirectIoUnsupported { source, .. } => {
                source.raw_os_error().unwrap_or(libc::EIO)
            }
            DeviceError::Io { source, .. } => source.raw_os_error().unwrap_or(libc::EIO),
            DeviceError::UnsupportedFileType { .. } => libc::ENODEV,
            DeviceError::UnsupportedSectorSize { .. } => libc::EINVAL,
            DeviceError::Misaligned { .. } => libc::EINVAL,
            DeviceError::OutOfRange { .. } => libc::ERANGE,
            DeviceError::ReadOnly { .. } => libc::EBADF,
            DeviceError::ImageExists { .. } => libc::EEXIST,
            DeviceError::BadImageSize { .. } => libc::EINVAL,
            DeviceError::Buffer { source, .. } => match source {
                BufError::BadLength { .. } => libc::EINVAL,
                BufError::TooLarge { .. } | BufError::OutOfMemory { .. } => libc::ENOMEM,
            },
        };
        assert!(positive > 0);
        -positive
    }

    /// The device or file path this error concerns.
    pub fn path(&self) -> &std::path::Path {
        match self {
            DeviceError::Open { path, .. }
            | DeviceError::DirectIoUnsupported { path, .. }
            | DeviceError::UnsupportedFileType { path, .. }
            | DeviceError::UnsupportedSectorSize { path, .. }
            | DeviceError::Misaligned { path, .. }
            | DeviceError::OutOfRange { path, .. }
            | DeviceError::ReadOnly { path }
            | DeviceError::ImageExists { path, .. }
            | DeviceError::BadImageSize { path, .. }
            | DeviceError::Buffer { path, .. }
            | DeviceError::Io { path, .. } => path,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> PathBuf {
        PathBuf::from("/dev/shared-disk")
    }

    #[test]
    fn errno_is_negative_and_keeps_kernel_value() {
        let e = DeviceError::Io {
            path: p(),
            op: IoOp::Write,
            offset: 512,
            len: 512,
            source: io::Error::from_raw_os_error(libc::ENOSPC),
        };
        assert_eq!(e.errno(), -libc::ENOSPC);
        let short = DeviceError::Io {
            path: p(),
            op: IoOp::Read,
            offset: 0,
            len: 512,
            source: io::Error::from(io::ErrorKind::UnexpectedEof),
        };
        assert_eq!(short.errno(), -libc::EIO);
        let mis = DeviceError::Misaligned {
            path: p(),
            offset: 1,
            len: 512,
            alignment: 512,
        };
        assert_eq!(mis.errno(), -libc::EINVAL);
        assert_eq!(DeviceError::ReadOnly { path: p() }.errno(), -libc::EBADF);
    }

    #[test]
    fn messages_name_the_path_and_have_no_trailing_period() {
        let errors = [
            DeviceError::Misaligned {
                path: p(),
                offset: 100,
                len: 512,
                alignment: 4096,
            },
            DeviceError::OutOfRange {
                path: p(),
                offset: 0,
                len: 512,
                size_bytes: 0,
            },
            DeviceError::ReadOnly { path: p() },
            DeviceError::DirectIoUnsupported {
                path: p(),
                source: io::Error::from_raw_os_error(libc::EINVAL),
            },
        ];
        for e in errors {
            let msg = e.to_string();
            assert!(msg.contains("/dev/shared-disk"), "{msg}");
            assert!(!msg.ends_with('.'), "{msg}");
            assert_eq!(e.path(), p());
        }
    }
}
