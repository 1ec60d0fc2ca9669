//! The lease daemon: joined lockspaces, resource leases held for client processes, and the
//! sanlock client wire protocol on `sanlock.sock`.
//!
//! Module map:
//! * [`exec`]: the daemon's driver of `lease-core` operations ([`exec::drive`]) and the I/O
//!   executors it runs them on; the device cache.
//! * [`fence`]: this host's write fence (`lease_core::fence`) on the engine's parked I/O.
//! * [`lockspace`]: one joined lockspace: host_id acquire, renewal loop, host table, failure.
//! * [`areas`]: whole lease areas for clients (write/read lockspace and resource, owners).
//! * [`clients`]: registered processes, their leases, killing them when a lockspace fails.
//! * [`daemon`]: the set of lockspaces and the operations clients ask for.
//! * [`resource`]: resource leases acquired and released for clients.
//! * [`rindex`]: the resource index through the daemon (format, lookup, update, create,
//!   delete, rebuild), create/delete/rebuild under the rindex lease.
//! * [`server`]: sanlock's client protocol on `sanlock.sock` (framing by `lease-wire`).
//! * [`rundir`]: the locked run directory (`sanlock.pid`, `sanlock.sock`).
//!
//! **Architecture invariant:** no protocol decision is made here. Whether a lease may be
//! granted is decided by `lease-core` operations; the daemon only schedules them, executes
//! their I/O and keeps their results.

pub mod areas;
pub mod clients;
pub mod config;
pub mod daemon;
pub mod exec;
pub mod fence;
pub mod lockspace;
pub mod log;
pub mod resource;
pub mod rindex;
pub mod rundir;
pub mod server;

use lease_core::delta_lease::DeltaError;
use lease_core::ondisk::LeaderError;
use thiserror::Error;

/// Errors of daemon operations; `errno` gives the number sanlock puts on the wire.
#[derive(Debug, Error)]
pub enum DaemonError {
    #[error("lockspace already added")]
    Exists,
    #[error("lockspace not found")]
    NotFound,
    #[error("lockspace is being added or removed")]
    InProgress,
    #[error("host_id {host_id} is outside 1..={max_hosts}")]
    InvalidHostId { host_id: u64, max_hosts: u64 },
    #[error("invalid sector size / align size combination in the lockspace")]
    Sizes,
    #[error("lockspace leader: {0}")]
    Leader(LeaderError),
    #[error("delta lease: {0}")]
    Delta(#[from] DeltaError),
    #[error("device: {0}")]
    Device(#[from] lease_io::DeviceError),
    #[error("I/O failed: {0}")]
    Io(String),
    #[error("lockspace was removed while joining")]
    Removed,
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("lockspace is not joined or is failing")]
    NoSpace,
    #[error("resource lease: {0}")]
    Paxos(lease_core::paxos_lease::PaxosError),
    #[error("resource is already held on this host")]
    AlreadyHeld,
    #[error("too many resources for one process")]
    TooManyResources,
    #[error("the watchdog (wdmd) is not available; run the daemon with -w 0")]
    Watchdog,
    #[error("the lease is already in the requested mode")]
    AlreadyInMode,
    #[error("request: {0}")]
    Request(lease_core::request::RequestOpError),
    #[error("lock value block of {len} bytes is larger than the {max} byte sector")]
    LvbTooLarge { len: usize, max: usize },
    #[error("busy: another event is being published")]
    Busy,
    #[error("the resource is being acquired on this host; try again")]
    BeingAcquired,
    #[error("other local processes share this lease; it cannot change mode")]
    SharedByOthers,
    #[error("the resource is being released on this host; try again")]
    BeingReleased,
}

impl DaemonError {
    /// sanlock's result number for this error (negative).
    pub fn errno(&self) -> i32 {
        match self {
            DaemonError::Exists => -libc::EEXIST,
            DaemonError::NotFound => -libc::ENOENT,
            DaemonError::InProgress => -libc::EINPROGRESS,
            DaemonError::InvalidHostId { .. } => -231,
            DaemonError::Sizes => -230,
            DaemonError::Leader(e) => e.sanlock_errno(),
            DaemonError::Delta(e) => e.sanlock_errno(),
            DaemonError::Device(e) => e.errno(),
            DaemonError::Io(_) => -libc::EIO,
            DaemonError::Removed => -libc::ENOENT,
            DaemonError::Invalid(_) => -libc::EINVAL,
            DaemonError::NoSpace => -libc::ENOSPC,
            DaemonError::Paxos(e) => e.sanlock_errno(),
            DaemonError::AlreadyHeld => -libc::EEXIST,
            DaemonError::TooManyResources => -libc::E2BIG,
            DaemonError::Watchdog => -203,
            DaemonError::AlreadyInMode => -libc::EALREADY,
            DaemonError::Request(e) => e.sanlock_errno(),
            DaemonError::LvbTooLarge { .. } => -libc::E2BIG,
            DaemonError::Busy => -libc::EBUSY,
            DaemonError::BeingAcquired => -libc::EAGAIN,
            DaemonError::SharedByOthers => -libc::EBUSY,
            DaemonError::BeingReleased => -libc::EAGAIN,
        }
    }
}
