//! One I/O as a backend executes it ([`Exec`]), its validation, and the [`Backend`] trait.
//!
//! **Ownership rule (the engine's central invariant).** An [`Exec`] owns the I/O's
//! [`PooledBuf`] and an `Arc` of its [`Device`] (so the descriptor stays open). The frontend
//! (`state`) builds the `Exec` and hands it to a backend with [`Backend::start`]; from then on
//! the backend owns it, and gives it back only inside a [`Completion`], once the kernel has
//! finished with the buffer (the CQE arrived, or the worker's `pread`/`pwrite` returned). So the
//! frontend can never free or reuse a buffer the kernel may still touch, whatever deadlines do:
//! a deadline only changes what the frontend *reports*, never who owns the memory. Buffers come
//! from the engine's [`BufPool`] and go back to it only when the `Completion` (or the read data
//! made from it) is dropped, that is after the kernel finished with them; the io_uring backend
//! additionally marks a buffer lent to the kernel while its SQE is outstanding
//! ([`PooledBuf::lend_to_kernel`]), so that a buffer dropped too early is leaked and asserted,
//! never reused.
//!
//! Validation ([`prepare`]) mirrors `Device`'s own checks (alignment, range with one size
//! refresh, read-only, size limit) and runs on the whole batch before any I/O of it starts, so a
//! refused batch never touched a device.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use lease_core::seam::Io;

use crate::device::{Access, Device, DeviceKind};
use crate::error::DeviceError;
use crate::pool::{BufPool, PooledBuf};

use super::error::EngineError;
use super::IO_BYTES_MAX;

/// Identifier of one I/O inside the engine (never 0; below 2^62, see `uring_sys`).
pub(crate) type OpId = u64;

/// Direction of an [`Exec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExecKind {
    Read,
    Write,
}

/// A validated I/O with its buffer, ready to be started by a backend.
pub(crate) struct Prepared {
    pub kind: ExecKind,
    pub device: Arc<Device>,
    pub offset: u64,
    pub buf: PooledBuf,
}

/// One I/O owned by a backend. See the module docs for the ownership rule.
pub(crate) struct Exec {
    pub op: OpId,
    pub kind: ExecKind,
    pub device: Arc<Device>,
    pub offset: u64,
    /// For reads, filled by the kernel; for writes, the data. Never touched by the engine while
    /// the kernel may access it. A read's bytes are read data only if the whole length was
    /// transferred (`Completion::result` is `Ok`).
    pub buf: PooledBuf,
    /// The batch's deadline (the thread pool does not start an I/O whose deadline has passed).
    pub deadline: Instant,
}

impl fmt::Debug for Exec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exec")
            .field("op", &self.op)
            .field("kind", &self.kind)
            .field("device", &self.device.path())
            .field("offset", &self.offset)
            .field("len", &self.buf.len())
            .finish()
    }
}

/// A finished I/O handed back by a backend: the kernel no longer touches `exec.buf`.
#[derive(Debug)]
pub(crate) struct Completion {
    pub exec: Exec,
    /// When the engine observed the completion; compared with the deadline.
    pub at: Instant,
    /// `Ok` when the whole length was transferred, else a positive errno.
    pub result: Result<(), i32>,
}

/// An I/O executor: io_uring or the thread pool.
pub(crate) trait Backend: Send + Sync + fmt::Debug {
    /// Starts `exec`. On success the backend owns it until it reports a [`Completion`] to the
    /// frontend. On failure nothing was issued and `exec` comes back with a positive errno.
    fn start(&self, exec: Exec) -> Result<(), (Exec, i32)>;

    /// Asks the kernel (best effort) to stop I/O `op`. Whatever happens, `op` still ends with a
    /// [`Completion`] (possibly `ECANCELED`), and its buffer stays owned until then.
    fn cancel(&self, op: OpId);

    /// Stops the backend's threads (bounded wait), cancelling what can be cancelled. Buffers of
    /// I/O the kernel still holds after the bound are leaked, never freed.
    fn shutdown(&self);
}

/// Validates `io` (position `index` of a batch) against `disks` and takes its buffer from
/// `pool`.
///
/// Errors: every refusal of [`EngineError`] that concerns one I/O; nothing is issued.
pub(crate) fn prepare(
    pool: &Arc<BufPool>,
    disks: &[Arc<Device>],
    index: usize,
    io: &Io,
) -> Result<Prepared, EngineError> {
    let (disk, offset) = match io {
        Io::Read { disk, offset, .. } | Io::Write { disk, offset, .. } => (*disk, *offset),
    };
    let Some(device) = disks.get(disk) else {
        return Err(EngineError::NoSuchDisk {
            index,
            disk,
            disks: disks.len(),
        });
    };
    let refused = |source: DeviceError| EngineError::Refused { index, source };
    let (kind, len) = match io {
        Io::Read { len, .. } => (ExecKind::Read, *len),
        Io::Write { data, .. } => (ExecKind::Write, data.len() as u64),
    };
    let len = match usize::try_from(len) {
        Ok(len) if len <= IO_BYTES_MAX => len,
        _ => {
            return Err(EngineError::TooLarge {
                index,
                len,
                max: IO_BYTES_MAX,
            })
        }
    };
    if kind == ExecKind::Write && device.access() == Access::ReadOnly {
        return Err(refused(DeviceError::ReadOnly {
            path: device.path().to_path_buf(),
        }));
    }
    let alignment = device.io_alignment();
    if len == 0 || offset % u64::from(alignment) != 0 || len % alignment as usize != 0 {
        return Err(refused(DeviceError::Misaligned {
            path: device.path().to_path_buf(),
            offset,
            len,
            alignment,
        }));
    }
    check_range(device, kind, offset, len).map_err(refused)?;
    let buf = match io {
        Io::Read { .. } => pool.take(len),
        Io::Write { data, .. } => pool.take_copy(data),
    }
    .map_err(|source| {
        refused(DeviceError::Buffer {
            path: device.path().to_path_buf(),
            source,
        })
    })?;
    Ok(Prepared {
        kind,
        device: Arc::clone(device),
        offset,
        buf,
    })
}

/// `Device`'s range rule: reads (and writes to block devices) must end inside the device, with
/// one size refresh before refusing; writes to regular files may extend them; no range may end
/// past `i64::MAX` (`off_t`).
fn check_range(
    device: &Device,
    kind: ExecKind,
    offset: u64,
    len: usize,
) -> Result<(), DeviceError> {
    let out_of_range = |size_bytes: u64| DeviceError::OutOfRange {
        path: device.path().to_path_buf(),
        offset,
        len,
        size_bytes,
    };
    let Some(end) = offset
        .checked_add(len as u64)
        .filter(|&end| end <= i64::MAX as u64)
    else {
        return Err(out_of_range(device.size_bytes()));
    };
    if kind == ExecKind::Write && device.kind() == DeviceKind::RegularFile {
        return Ok(());
    }
    if end <= device.size_bytes() {
        return Ok(());
    }
    let size = device.refresh_size()?;
    if end <= size {
        return Ok(());
    }
    Err(out_of_range(size))
}
