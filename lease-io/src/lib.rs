//! O_DIRECT device access for lease areas.
//!
//! `lease-io` is the only crate that touches file descriptors. It gives the lease engine a
//! byte-addressed view of a shared block device (or a regular file standing in for one) with the
//! guarantees the lease algorithms rely on:
//!
//! 1. **No page cache.** Devices are opened `O_DIRECT`; a read returns the device's bytes as they
//!    are now, not a stale copy cached on this host, and a write reaches the device rather than
//!    local memory. File systems without direct I/O are refused, never silently used buffered.
//! 2. **Durable, attributable writes.** Writable devices are opened `O_DSYNC`: when
//!    [`Device::write_at`] returns `Ok` the data is on stable storage, and a failure is reported
//!    by that call for that offset, instead of surfacing later through a lossy `fsync` error
//!    (see [`device`] for the full argument).
//! 3. **Sector discipline.** Every I/O starts on and covers whole units of the device's I/O
//!    alignment, `max(logical sector size, 512)` (regular files count as 512-byte devices, as in
//!    sanlock). Violations are typed errors raised before anything is issued.
//! 4. **Typed errors carrying the path and errno** ([`DeviceError`]); no panics on bad input.
//!
//! Module map:
//! * [`buf`] holds [`AlignedBuf`], 4096-aligned zeroed buffers;
//! * [`pool`] holds [`BufPool`], bounded pools of reusable aligned buffers ([`PooledBuf`]), which
//!   every read uses so that the steady state neither allocates nor zeroes, and whose buffers
//!   reach the protocol as `Bytes` without a copy;
//! * [`device`] holds [`Device`], [`probe`] and the synchronous I/O engine;
//! * [`error`] holds [`DeviceError`];
//! * [`image`] holds [`create_image_file`] for tests and demos;
//! * [`storage`] runs `lease-core` operations on devices ([`DeviceStorage`], [`MonotonicClock`]);
//! * `testing` (feature `testing`) holds the loop-device guard and fd-flag helpers for tests;
//! * `sys` (private) holds the crate's only `unsafe` code (allocation, ioctls, fcntl).
//!
//! **Architecture invariant:** only `sys` and `engine::uring_sys` contain `unsafe`; the crate
//! root denies `unsafe_code` and those two modules alone allow it.
//!
//! Two ways to do I/O: [`Device`]'s synchronous `pread`/`pwrite` on the caller's thread (the
//! `direct` commands), and [`engine`]: batches with deadlines on one io_uring shared by every
//! lockspace, or a small thread pool where io_uring is unavailable (the daemon).

#![deny(unsafe_code)]

#[cfg(not(target_os = "linux"))]
compile_error!("lease-io supports Linux only (O_DIRECT, BLKSSZGET, loop devices)");

pub mod buf;
pub mod device;
pub mod engine;
pub mod error;
pub mod image;
pub mod pool;
pub mod storage;
#[allow(unsafe_code)]
mod sys;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use buf::{AlignedBuf, BufError, IoBuffer, BUF_ALIGN_BYTES, SECTOR_SIZE_MIN_BYTES};
pub use device::{probe, Access, Device, DeviceInfo, DeviceKind};
pub use engine::{
    Engine, EngineConfig, EngineError, EngineKind, EngineStats, EngineStorage, Queue, Ticket,
};
pub use error::{DeviceError, IoOp};
pub use image::{create_image_file, IfExists};
pub use pool::{BufPool, PoolLimits, PoolStats, PooledBuf};
pub use storage::{monotonic_now, DeviceStorage, MonotonicClock};
