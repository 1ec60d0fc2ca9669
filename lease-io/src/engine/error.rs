//! [`EngineError`]: why the engine refused a batch, could not start, or cannot answer a request.
//!
//! Rules (as for [`DeviceError`]):
//! * refusals of a batch ([`EngineError::Refused`], [`EngineError::NoSuchDisk`],
//!   [`EngineError::TooLarge`], [`EngineError::BatchTooLarge`], and the back-pressure errors
//!   [`EngineError::Busy`], [`EngineError::TooManyParked`], [`EngineError::QueueFull`]) are
//!   produced **before anything of the batch is issued**: a refused batch touched no device;
//! * failures of an individual I/O after submission are not errors of the engine: they are
//!   `IoOutcome::Failed` outcomes of the batch (the seam's contract);
//! * [`EngineError::errno`] maps every variant to a negative errno for the sanlock-style wire
//!   protocol; back-pressure maps to `-EAGAIN`, as the brief of the engine asks ("retry later").
//!
//! Messages start lower-case and have no trailing period (workspace style).

use std::io;

use crate::error::DeviceError;

use super::Ticket;

/// An error from constructing an [`super::Engine`], submitting a batch, or waiting on one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// io_uring could not be set up or lacks a feature the engine needs (old kernel, `ENOSYS`,
    /// `EPERM` under seccomp, `io_uring_disabled` sysctl). `EngineKind::Auto` falls back to the
    /// thread pool on this error; `EngineKind::IoUring` returns it.
    #[error("io_uring is unavailable: {reason}")]
    IoUringUnavailable {
        /// What failed, e.g. "io_uring_setup failed: Operation not permitted (os error 1)".
        reason: String,
        /// The kernel's error, when there was one.
        #[source]
        source: Option<io::Error>,
    },
    /// The `LEASE_IO_ENGINE` environment variable holds something other than `auto`,
    /// `io_uring` or `threads`.
    #[error("invalid {var} value {value:?}: expected auto, io_uring or threads")]
    BadEngineName {
        /// The variable (or flag) the value came from.
        var: &'static str,
        /// The rejected value.
        value: String,
    },
    /// An [`super::EngineConfig`] field is zero or above its hard limit.
    #[error("invalid engine configuration: {field} = {value} (allowed {min}..={max})")]
    BadConfig {
        /// The field name.
        field: &'static str,
        /// The rejected value.
        value: u64,
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
    },
    /// A thread of the engine (io_uring reaper or pool worker) could not be spawned.
    #[error("cannot spawn engine thread: {source}")]
    Spawn {
        /// The error from `std::thread::Builder::spawn`.
        source: io::Error,
    },
    /// I/O `index` of the batch names a disk index outside the disk list it was submitted with.
    /// Nothing of the batch was issued.
    #[error("I/O {index} of the batch names disk {disk} but only {disks} disks were given")]
    NoSuchDisk {
        /// Position of the I/O in the batch.
        index: usize,
        /// The disk index it named.
        disk: usize,
        /// Number of disks submitted with the batch.
        disks: usize,
    },
    /// I/O `index` of the batch is larger than [`super::IO_BYTES_MAX`]. Nothing was issued.
    #[error("I/O {index} of the batch is {len} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// Position of the I/O in the batch.
        index: usize,
        /// Its length in bytes.
        len: u64,
        /// The limit in bytes.
        max: usize,
    },
    /// The batch holds more than [`super::BATCH_IOS_MAX`] I/Os. Nothing was issued.
    #[error("batch of {len} I/Os exceeds the limit of {max}")]
    BatchTooLarge {
        /// Number of I/Os in the batch.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// I/O `index` of the batch failed the device's checks (misaligned, out of range, write on
    /// a read-only device, buffer allocation). Nothing of the batch was issued.
    #[error("I/O {index} of the batch refused: {source}")]
    Refused {
        /// Position of the I/O in the batch.
        index: usize,
        /// The device's reason (`Misaligned`, `OutOfRange`, `ReadOnly`, `Buffer`, `Io` probe).
        #[source]
        source: DeviceError,
    },
    /// Accepting the batch would put more than the configured `in_flight_max` I/Os in the
    /// kernel's hands at once. Retry later (`-EAGAIN`). Nothing was issued.
    #[error("{in_flight} I/Os in flight; a batch of {batch} would exceed the limit of {max}")]
    Busy {
        /// I/Os currently owned by the kernel (including parked ones).
        in_flight: usize,
        /// Size of the refused batch.
        batch: usize,
        /// The configured limit.
        max: usize,
    },
    /// Too many I/Os that already passed their deadline are still in the kernel's hands (their
    /// buffers are parked). The device is probably hung; new I/O is refused (`-EAGAIN`) rather
    /// than letting parked buffers grow without bound. Nothing was issued.
    #[error(
        "{parked} timed-out I/Os ({parked_bytes} bytes) are still in flight (limits {max} I/Os, \
         {max_bytes} bytes); refusing new I/O"
    )]
    TooManyParked {
        /// Parked I/Os.
        parked: usize,
        /// Bytes of their buffers.
        parked_bytes: u64,
        /// The configured `parked_max`.
        max: usize,
        /// The configured `parked_bytes_max`.
        max_bytes: u64,
    },
    /// The queue holds `max` tickets not yet collected with `poll`, `wait_any` or `wait`
    /// (`-EAGAIN`). Nothing was issued.
    #[error("queue holds {held} uncollected tickets (limit {max})")]
    QueueFull {
        /// Tickets submitted on the queue and not yet collected.
        held: usize,
        /// The limit ([`super::TICKETS_PER_QUEUE_MAX`]).
        max: usize,
    },
    /// The ticket was not submitted on this queue, or was already collected.
    #[error("unknown ticket {ticket}")]
    UnknownTicket {
        /// The ticket.
        ticket: Ticket,
    },
    /// There is no timed-out read at (`ticket`, `index`) to reap: the I/O did not time out, is
    /// a write, was already reaped or discarded, or its completed data was evicted (only the
    /// newest `late_reads_kept_max` completed late reads are kept).
    #[error("no timed-out read to reap for ticket {ticket} I/O {index}")]
    NotParked {
        /// The ticket the read was submitted under.
        ticket: Ticket,
        /// Its position in the batch.
        index: usize,
    },
}

impl EngineError {
    /// The negative errno this error maps to on the wire (sanlock convention: `-errno`).
    ///
    /// Back-pressure (`Busy`, `TooManyParked`, `QueueFull`) is `-EAGAIN`; refused I/O keeps the
    /// device error's errno (`-EINVAL` for misalignment, ...); io_uring unavailability keeps the
    /// kernel's errno, else `-ENOSYS`.
    pub fn errno(&self) -> i32 {
        let positive = match self {
            EngineError::IoUringUnavailable { source, .. } => source
                .as_ref()
                .and_then(io::Error::raw_os_error)
                .unwrap_or(libc::ENOSYS),
            EngineError::BadEngineName { .. } | EngineError::BadConfig { .. } => libc::EINVAL,
            EngineError::Spawn { source } => source.raw_os_error().unwrap_or(libc::EAGAIN),
            EngineError::NoSuchDisk { .. } => libc::EINVAL,
            EngineError::TooLarge { .. } | EngineError::BatchTooLarge { .. } => libc::E2BIG,
            EngineError::Refused { source, .. } => -source.errno(),
            EngineError::Busy { .. }
            | EngineError::TooManyParked { .. }
            | EngineError::QueueFull { .. } => libc::EAGAIN,
            EngineError::UnknownTicket { .. } | EngineError::NotParked { .. } => libc::ENOENT,
        };
        assert!(positive > 0);
        -positive
    }

    /// `true` for the back-pressure errors (`-EAGAIN`): the batch was fine, retry later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            EngineError::Busy { .. }
                | EngineError::TooManyParked { .. }
                | EngineError::QueueFull { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn errno_mapping() {
        let parked = EngineError::TooManyParked {
            parked: 3,
            parked_bytes: 1536,
            max: 3,
            max_bytes: 1 << 20,
        };
        assert_eq!(parked.errno(), -libc::EAGAIN);
        assert!(parked.is_retryable());
        let refused = EngineError::Refused {
            index: 1,
            source: DeviceError::Misaligned {
                path: PathBuf::from("/dev/x"),
                offset: 1,
                len: 512,
                alignment: 512,
            },
        };
        assert_eq!(refused.errno(), -libc::EINVAL);
        assert!(!refused.is_retryable());
        let unavailable = EngineError::IoUringUnavailable {
            reason: "io_uring_setup failed".into(),
            source: Some(io::Error::from_raw_os_error(libc::EPERM)),
        };
        assert_eq!(unavailable.errno(), -libc::EPERM);
    }

    #[test]
    fn messages_have_no_trailing_period() {
        let errors = [
            EngineError::Busy {
                in_flight: 1,
                batch: 2,
                max: 2,
            },
            EngineError::NotParked {
                ticket: Ticket(7),
                index: 0,
            },
            EngineError::BadEngineName {
                var: "LEASE_IO_ENGINE",
                value: "uring".into(),
            },
        ];
        for e in errors {
            let msg = e.to_string();
            assert!(!msg.ends_with('.'), "{msg}");
        }
    }
}
