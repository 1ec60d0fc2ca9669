//! [`create_image_file`]: sparse regular files that stand in for shared disks in tests and demos.
//!
//! Contract:
//! * the result is a regular file of exactly `size_bytes` bytes that reads as zeros (a sparse file
//!   made with `set_len`, so a 1 GiB image costs no disk space until written);
//! * `size_bytes` must be a non-zero multiple of 512 ([`DeviceError::BadImageSize`]), so the
//!   whole image is addressable with 512-byte sectors (use a multiple of 4096 if the image will
//!   back a 4K loop device, and of the align size for sanlock areas);
//! * an existing **empty** regular file is sized in place; an existing **non-empty** file is
//!   refused with [`DeviceError::ImageExists`] unless [`IfExists::Replace`] is passed, in which
//!   case its contents are discarded (truncated to 0, then resized: all zeros);
//! * a path that exists but is not a regular file (block device, directory) is refused with
//!   [`DeviceError::UnsupportedFileType`]: this helper must never clobber a real disk;
//! * the size is made durable with `fsync` before returning, so a `Device` opened afterwards, on
//!   this host or another, sees the full length.

use std::fs::OpenOptions;
use std::io;
use std::path::Path;

use crate::buf::SECTOR_SIZE_MIN_BYTES;
use crate::error::{DeviceError, IoOp};

/// What [`create_image_file`] does when the path already holds a non-empty file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IfExists {
    /// Refuse with [`DeviceError::ImageExists`] (the safe default).
    Refuse,
    /// Discard the old contents and recreate the image as all zeros.
    Replace,
}

/// Creates (or sizes) a sparse, zero-filled image file of `size_bytes`. See the module docs.
pub fn create_image_file(
    path: &Path,
    size_bytes: u64,
    if_exists: IfExists,
) -> Result<(), DeviceError> {
    let create_error = |source: io::Error| DeviceError::Io {
        path: path.to_path_buf(),
        op: IoOp::Create,
        offset: 0,
        len: 0,
        source,
    };
    if size_bytes == 0 || !size_bytes.is_multiple_of(SECTOR_SIZE_MIN_BYTES as u64) {
        return Err(DeviceError::BadImageSize {
            path: path.to_path_buf(),
            size_bytes,
        });
    }
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => {
            return Err(DeviceError::UnsupportedFileType {
                path: path.to_path_buf(),
                file_type: if meta.is_dir() {
                    "directory"
                } else {
                    "non-regular file"
                },
            });
        }
        Ok(meta) if meta.len() > 0 && if_exists == IfExists::Refuse => {
            return Err(DeviceError::ImageExists {
                path: path.to_path_buf(),
                size_bytes: meta.len(),
            });
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(create_error(e)),
    }
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(if_exists == IfExists::Replace)
        .open(path)
        .map_err(create_error)?;
    // Re-check on the descriptor we hold: another process may have filled the file since the
    // metadata check above.
    let meta = file.metadata().map_err(create_error)?;
    if !meta.is_file() {
        return Err(DeviceError::UnsupportedFileType {
            path: path.to_path_buf(),
            file_type: "non-regular file",
        });
    }
    if meta.len() > 0 && if_exists == IfExists::Refuse {
        return Err(DeviceError::ImageExists {
            path: path.to_path_buf(),
            size_bytes: meta.len(),
        });
    }
    file.set_len(size_bytes).map_err(create_error)?;
    file.sync_all().map_err(create_error)?;
    Ok(())
}
