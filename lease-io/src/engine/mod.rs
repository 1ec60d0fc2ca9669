//! The asynchronous I/O engine for renewals and Disk Paxos: batches of `lease_core::seam::Io`
//! with a deadline, on io_uring or, where io_uring is unavailable, on a small thread pool.
//!
//! # Contract (the seam's driver contract, rule 2)
//!
//! * A batch is submitted against a list of open [`Device`]s (disk index `i` of an `Io` is
//!   `disks[i]`) with one deadline. Its outcomes come back in batch order. An I/O not complete
//!   by the deadline is reported `IoOutcome::Failed(IoFailure::TimedOut)`, **at** the deadline
//!   (a waiter's bounded condition-variable wait ends there), whatever the kernel is doing.
//! * The whole batch is validated before any of it is issued: a misaligned, out-of-range,
//!   read-only or oversized I/O, or a bad disk index, refuses the batch with an
//!   [`EngineError`] and touches no device. I/O errors after submission are outcomes
//!   (`Failed(Error { errno })`), not errors.
//! * **Buffer ownership.** Buffers come from a [`BufPool`] (the process-wide one unless
//!   [`Engine::with_pool`]). A timed-out I/O counts as failed for the protocol, but its
//!   [`PooledBuf`](crate::PooledBuf) stays owned by the engine until the kernel completes it:
//!   it is *parked* (counted by [`Engine::stats`]) and given back to the pool only when its
//!   completion arrives, never freed or reused before. The backends own every in-flight buffer
//!   and hand it back only with the completion (see `exec`); the frontend (`state`) only ever
//!   sees finished buffers.
//! * **Zero copy.** A read that transferred its whole length is reported as `Read(bytes)` whose
//!   `Bytes` *is* the I/O buffer (`PooledBuf::into_bytes`); the buffer returns to the pool when
//!   the protocol drops the last clone. A failed or short read is `Failed`, and its buffer goes
//!   back to the pool unseen, so a reused buffer's stale bytes never reach a protocol.
//! * **Late reads** (sanlock's `renewal_read_extend_sec`, format spec §4.3): a timed-out read
//!   can be handed back later with [`Engine::reap_late_read`], which waits up to a given instant
//!   for the kernel to complete it. Completed late reads are kept until reaped or discarded
//!   (the newest [`LATE_READS_KEPT_MAX`] at most).
//! * **Bounds.** Everything the engine holds is bounded, and exceeding a bound is a retryable
//!   error (`-EAGAIN`) rather than growth: I/O in the kernel's hands ([`IN_FLIGHT_MAX`]), parked
//!   I/O ([`PARKED_MAX`], [`PARKED_BYTES_MAX`]), uncollected tickets per queue
//!   ([`TICKETS_PER_QUEUE_MAX`]), batch size ([`BATCH_IOS_MAX`]), I/O size ([`IO_BYTES_MAX`]).
//!   Every wait has a bound (a deadline, an explicit `until`, or an internal constant).
//! * Writes are durable on success: devices are opened `O_DSYNC` and both backends honour it.
//!
//! # Shapes
//!
//! * Blocking: [`Engine::run`] (any thread, e.g. tokio's blocking pool); also
//!   [`EngineStorage`], a `lease_core::seam::BlockStorage` for `run_blocking` with enforced
//!   deadlines.
//! * Non-blocking, for one thread driving many lockspaces: [`Engine::queue`] gives a [`Queue`];
//!   [`Queue::submit`] returns a [`Ticket`] at once; [`Queue::poll`] collects finished tickets
//!   without blocking, [`Queue::wait_any`] blocks until one finishes or an instant passes,
//!   [`Queue::wait`] waits for one ticket.
//! * One engine is shared by everything (it is `Clone + Send + Sync`): every lockspace's
//!   renewals go through its single ring, not a thread or ring each.
//!
//! # Design choices
//!
//! **Deadlines are the engine's, not `LinkTimeout`s.** A `LinkTimeout` cancels its I/O when it
//! fires, but cancelling a direct I/O whose bio is already on the device fails (`EALREADY`) and
//! the CQE still comes only when the device answers, so a hung path would still not be reported
//! at the deadline; and when the cancel does succeed (I/O still queued in io-wq) it destroys the
//! late read that sanlock's renewal wants to reuse. It would also double the SQEs and CQEs and
//! make the outcome racy (timeout CQE versus I/O CQE). Instead the frontend keeps each batch's
//! deadline; waiters sleep on a condition variable until the earliest deadline; a completion
//! observed after the deadline is reported as timed out (and kept as a late read). The same
//! frontend serves the thread pool, whose blocking syscalls cannot be timed out by the kernel
//! anyway, so both backends have exactly one deadline implementation.
//!
//! **No cancellation at the deadline.** As in sanlock (whose `io_cancel` on Linux AIO nearly
//! always fails), a timed-out I/O is left to finish: a late read may be reaped, and a late write
//! is something the protocols are written to survive. [`Engine::cancel_parked`] submits
//! `AsyncCancel` for every parked I/O (for shutdown or lockspace removal); it does **not**
//! guarantee the I/O stops, so the buffer stays parked until its CQE arrives (possibly
//! `ECANCELED`, possibly success). Dropping the last engine handle cancels everything, waits at
//! most [`SHUTDOWN_DRAIN_MAX`], and then *leaks* (never frees) buffers the kernel still holds.
//!
//! **Plain descriptors, not registered files.** Each in-flight I/O holds an `Arc<Device>`, so its
//! descriptor cannot be closed (or its number reused) before the CQE, which is the property fixed
//! files would give. Registration would save an fd lookup per I/O, irrelevant at renewal rates,
//! at the cost of slot management across lockspace add/remove; it can be added behind the same
//! API.
//!
//! **Choosing a backend.** [`Engine::new`] with [`EngineKind::Auto`] reads [`ENGINE_ENV`]
//! (`LEASE_IO_ENGINE=auto|io_uring|threads`, unset means `auto`); `auto` sets up and probes a
//! ring (features `NODROP` and `EXT_ARG`, opcodes read/write/async-cancel/nop, and a `Nop` round
//! trip) and falls back to the thread pool if any of that fails (`ENOSYS` on old kernels, `EPERM`
//! under seccomp or `io_uring_disabled`), recording why in [`Engine::fallback_reason`].
//! [`EngineKind::IoUring`] and [`EngineKind::Threads`] force a backend (the daemon's flag);
//! forcing io_uring where it is unavailable is an error, never a silent fallback.
//!
//! # Modules
//! * `state`: tickets, deadlines, parking, late reads (the frontend);
//! * `exec`: an I/O owned by a backend, validation, the backend trait;
//! * `uring` and `uring_sys` (the only `unsafe`: SQEs and their buffers): io_uring backend;
//! * `threads`: thread-pool backend;
//! * `storage`: [`EngineStorage`];
//! * `stall` (feature `testing`): a FUSE-backed file whose I/O can be held, for timeout tests.

mod error;
mod exec;
#[cfg(any(test, feature = "testing"))]
pub mod stall;
mod state;
mod storage;
mod threads;
mod uring;
#[allow(unsafe_code)]
mod uring_sys;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lease_core::seam::{Io, IoOutcome};

use crate::device::Device;
use crate::pool::BufPool;

pub use error::EngineError;
pub use storage::EngineStorage;

use exec::{Backend, Completion, Exec};
use state::{Limits, QueueId, Shared};

/// Environment variable that picks the backend when [`EngineKind::Auto`] is requested:
/// `auto` (or unset), `io_uring`, `threads`.
pub const ENGINE_ENV: &str = "LEASE_IO_ENGINE";

/// Largest single I/O in bytes (the largest area, an 8 MiB lockspace or lease, fits twice).
pub const IO_BYTES_MAX: usize = 16 << 20;

/// Most I/Os in one batch (a multi-disk lease issues one or two per disk, four disks at most).
pub const BATCH_IOS_MAX: usize = 64;

/// Most tickets a queue may hold uncollected (submitted, not yet returned by `poll`,
/// `wait_any` or `wait`).
pub const TICKETS_PER_QUEUE_MAX: usize = 1024;

/// Default limit on I/O in the kernel's hands at once (pending plus parked); also the io_uring
/// submission-queue size.
pub const IN_FLIGHT_MAX: usize = 256;

/// Hard upper limit for [`EngineConfig::in_flight_max`].
pub const IN_FLIGHT_LIMIT: usize = 4096;

/// Default limit on parked I/O (timed out, still in the kernel's hands): while this many are
/// parked, new batches are refused with [`EngineError::TooManyParked`].
pub const PARKED_MAX: usize = 64;

/// Default limit on the bytes of parked buffers (same refusal).
pub const PARKED_BYTES_MAX: u64 = 256 << 20;

/// Default number of completed late reads kept for [`Engine::reap_late_read`].
pub const LATE_READS_KEPT_MAX: usize = 16;

/// Default number of worker threads of the thread-pool backend.
pub const THREADS_DEFAULT: usize = 8;

/// Hard upper limit for [`EngineConfig::threads`].
pub const THREADS_MAX: usize = 64;

/// Default number of pool workers one device may occupy at once.
pub const THREADS_PER_DEVICE_DEFAULT: usize = 2;

/// How long dropping the engine waits for the kernel to give back in-flight buffers before
/// leaking them (io_uring) or detaching the workers that hold them (threads).
pub const SHUTDOWN_DRAIN_MAX: Duration = Duration::from_secs(2);

/// Horizon of [`deadline_after`]: longer timeouts are clamped to it (24 hours).
pub const DEADLINE_HORIZON_MAX: Duration = Duration::from_secs(24 * 3600);

/// Which backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EngineKind {
    /// Obey [`ENGINE_ENV`]; if it is unset or `auto`, io_uring if it works, else threads.
    #[default]
    Auto,
    /// io_uring; an error if it is unavailable.
    IoUring,
    /// The thread pool doing `pread`/`pwrite`.
    Threads,
}

impl EngineKind {
    /// The kind named by [`ENGINE_ENV`]; `Auto` when it is unset or empty.
    ///
    /// Errors: [`EngineError::BadEngineName`] for any other value.
    pub fn from_env() -> Result<EngineKind, EngineError> {
        match std::env::var(ENGINE_ENV) {
            Ok(value) if !value.trim().is_empty() => {
                value
                    .parse::<EngineKind>()
                    .map_err(|_| EngineError::BadEngineName {
                        var: ENGINE_ENV,
                        value,
                    })
            }
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(EngineKind::Auto),
            Err(std::env::VarError::NotUnicode(value)) => Err(EngineError::BadEngineName {
                var: ENGINE_ENV,
                value: value.to_string_lossy().into_owned(),
            }),
        }
    }
}

impl FromStr for EngineKind {
    type Err = EngineError;

    /// `auto`, `io_uring` (also `io-uring`, `uring`) or `threads`, case-insensitive.
    fn from_str(s: &str) -> Result<EngineKind, EngineError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(EngineKind::Auto),
            "io_uring" | "io-uring" | "uring" => Ok(EngineKind::IoUring),
            "threads" => Ok(EngineKind::Threads),
            _ => Err(EngineError::BadEngineName {
                var: "engine kind",
                value: s.to_string(),
            }),
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EngineKind::Auto => "auto",
            EngineKind::IoUring => "io_uring",
            EngineKind::Threads => "threads",
        })
    }
}

/// Engine settings. `EngineConfig::default()` uses the named default constants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Backend choice.
    pub kind: EngineKind,
    /// Most I/O in the kernel's hands at once, `1..=IN_FLIGHT_LIMIT` ([`IN_FLIGHT_MAX`]).
    pub in_flight_max: usize,
    /// Parked I/O at which new batches are refused, `1..=in_flight_max` ([`PARKED_MAX`]).
    pub parked_max: usize,
    /// Parked bytes at which new batches are refused, at least 1 ([`PARKED_BYTES_MAX`]).
    pub parked_bytes_max: u64,
    /// Completed late reads kept, `0..=TICKETS_PER_QUEUE_MAX` ([`LATE_READS_KEPT_MAX`]).
    pub late_reads_kept_max: usize,
    /// Thread-pool workers, `1..=THREADS_MAX` ([`THREADS_DEFAULT`]); unused by io_uring.
    pub threads: usize,
    /// Workers one device may occupy, `1..=threads` ([`THREADS_PER_DEVICE_DEFAULT`]).
    pub threads_per_device: usize,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            kind: EngineKind::Auto,
            in_flight_max: IN_FLIGHT_MAX,
            parked_max: PARKED_MAX,
            parked_bytes_max: PARKED_BYTES_MAX,
            late_reads_kept_max: LATE_READS_KEPT_MAX,
            threads: THREADS_DEFAULT,
            threads_per_device: THREADS_PER_DEVICE_DEFAULT,
        }
    }
}

impl EngineConfig {
    fn validate(&self) -> Result<(), EngineError> {
        let check = |field: &'static str, value: u64, min: u64, max: u64| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(EngineError::BadConfig {
                    field,
                    value,
                    min,
                    max,
                })
            }
        };
        let n = |v: usize| v as u64;
        check(
            "in_flight_max",
            n(self.in_flight_max),
            1,
            n(IN_FLIGHT_LIMIT),
        )?;
        check("parked_max", n(self.parked_max), 1, n(self.in_flight_max))?;
        check("parked_bytes_max", self.parked_bytes_max, 1, u64::MAX)?;
        check(
            "late_reads_kept_max",
            n(self.late_reads_kept_max),
            0,
            n(TICKETS_PER_QUEUE_MAX),
        )?;
        check("threads", n(self.threads), 1, n(THREADS_MAX))?;
        check(
            "threads_per_device",
            n(self.threads_per_device),
            1,
            n(self.threads),
        )?;
        Ok(())
    }
}

/// Counters of what the engine holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EngineStats {
    /// I/O in the kernel's hands (pending plus parked).
    pub in_flight: usize,
    /// I/O reported timed out whose buffers the kernel still holds.
    pub parked: usize,
    /// Bytes of the parked buffers.
    pub parked_bytes: u64,
    /// Timed-out reads that completed later and wait to be reaped.
    pub late_reads_kept: usize,
    /// Timed-out reads still in flight that may be reaped when they complete.
    pub late_reads_in_flight: usize,
}

/// A submitted batch. Unique within an engine; printable for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub(crate) u64);

impl Ticket {
    /// The ticket's number (for logs and maps).
    pub fn id(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// `Instant::now() + timeout`, with `timeout` clamped to [`DEADLINE_HORIZON_MAX`] (so a huge
/// timeout cannot overflow). Deadlines of the seam's `Step::Io { timeout }` are built with it.
pub fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout.min(DEADLINE_HORIZON_MAX))
        .unwrap_or(now)
}

#[derive(Debug)]
struct EngineInner {
    shared: Arc<Shared>,
    pool: Arc<BufPool>,
    backend: Box<dyn Backend>,
    kind: EngineKind,
    fallback_reason: Option<String>,
}

/// The I/O engine: a cheap, cloneable, thread-safe handle; the backend shuts down when the last
/// handle (including every [`Queue`]) is dropped. See the module docs.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

impl Engine {
    /// An engine of `kind` with default limits. `EngineKind::Auto` obeys [`ENGINE_ENV`].
    ///
    /// Errors: [`EngineError::IoUringUnavailable`] (only when io_uring is forced),
    /// [`EngineError::BadEngineName`], [`EngineError::Spawn`].
    pub fn new(kind: EngineKind) -> Result<Engine, EngineError> {
        Engine::with_config(EngineConfig {
            kind,
            ..EngineConfig::default()
        })
    }

    /// An engine with explicit limits, on the process-wide buffer pool ([`BufPool::global`]).
    ///
    /// Errors: as [`Engine::new`], plus [`EngineError::BadConfig`].
    pub fn with_config(config: EngineConfig) -> Result<Engine, EngineError> {
        Engine::with_pool(config, Arc::clone(BufPool::global()))
    }

    /// An engine with explicit limits whose I/O buffers come from `pool`.
    ///
    /// Errors: as [`Engine::with_config`].
    pub fn with_pool(config: EngineConfig, pool: Arc<BufPool>) -> Result<Engine, EngineError> {
        config.validate()?;
        let requested = match config.kind {
            EngineKind::Auto => EngineKind::from_env()?,
            forced => forced,
        };
        let shared = Arc::new(Shared::new(Limits {
            in_flight_max: config.in_flight_max,
            parked_max: config.parked_max,
            parked_bytes_max: config.parked_bytes_max,
            late_reads_kept_max: config.late_reads_kept_max,
        }));
        let entries = u32::try_from(config.in_flight_max.next_power_of_two())
            .expect("in_flight_max <= IN_FLIGHT_LIMIT");
        let threads = || -> Result<Box<dyn Backend>, EngineError> {
            Ok(Box::new(threads::ThreadPool::new(
                Arc::clone(&shared),
                config.threads,
                config.threads_per_device,
            )?))
        };
        let (backend, kind, fallback_reason): (Box<dyn Backend>, _, _) = match requested {
            EngineKind::IoUring => (
                Box::new(uring::Uring::new(Arc::clone(&shared), entries)?),
                EngineKind::IoUring,
                None,
            ),
            EngineKind::Threads => (threads()?, EngineKind::Threads, None),
            EngineKind::Auto => match uring::Uring::new(Arc::clone(&shared), entries) {
                Ok(backend) => (Box::new(backend), EngineKind::IoUring, None),
                Err(e @ EngineError::IoUringUnavailable { .. }) => {
                    (threads()?, EngineKind::Threads, Some(e.to_string()))
                }
                Err(e) => return Err(e),
            },
        };
        Ok(Engine {
            inner: Arc::new(EngineInner {
                shared,
                pool,
                backend,
                kind,
                fallback_reason,
            }),
        })
    }

    /// The backend in use: [`EngineKind::IoUring`] or [`EngineKind::Threads`].
    pub fn kind(&self) -> EngineKind {
        self.inner.kind
    }

    /// The pool the engine's I/O buffers come from and go back to.
    pub fn pool(&self) -> &Arc<BufPool> {
        &self.inner.pool
    }

    /// Why `Auto` fell back to threads (`None` if it did not, or the kind was forced).
    pub fn fallback_reason(&self) -> Option<&str> {
        self.inner.fallback_reason.as_deref()
    }

    /// A new completion queue for the non-blocking shape.
    pub fn queue(&self) -> Queue {
        Queue {
            id: self.inner.shared.new_queue(),
            engine: self.clone(),
        }
    }

    /// Issues `ios` on `disks` and blocks until every I/O completed or `deadline` passed;
    /// outcomes in batch order, `Failed(TimedOut)` for those not complete by the deadline.
    ///
    /// Errors: the refusals of [`Queue::submit`]; nothing was issued.
    pub fn run(
        &self,
        disks: &[Arc<Device>],
        ios: &[Io],
        deadline: Instant,
    ) -> Result<Vec<IoOutcome>, EngineError> {
        let mut queue = self.queue();
        let ticket = queue.submit(disks, ios, deadline)?;
        queue.wait(ticket)
    }

    /// The result of timed-out read `index` of `ticket`, if the kernel completes it by `until`
    /// (sanlock's `renewal_read_extend_sec`): `Read(data)` (the data the device returned, late),
    /// `Failed(Error)`, or `Failed(TimedOut)` when it is still in flight at `until` (it stays
    /// parked and may be reaped again). A successful reap removes it.
    ///
    /// Errors: [`EngineError::NotParked`] if there is no such timed-out read (it did not time
    /// out, is a write, was reaped, discarded or evicted).
    pub fn reap_late_read(
        &self,
        ticket: Ticket,
        index: usize,
        until: Instant,
    ) -> Result<IoOutcome, EngineError> {
        self.inner.shared.reap_late_read(ticket, index, until)
    }

    /// Forgets the late reads of `ticket`: kept data is dropped now, in-flight reads when the
    /// kernel completes them (their buffers stay parked until then).
    pub fn discard_late_reads(&self, ticket: Ticket) {
        self.inner.shared.discard_late(ticket);
    }

    /// What the engine holds now.
    pub fn stats(&self) -> EngineStats {
        self.inner.shared.stats()
    }

    /// Blocks until at most `max_parked` I/O are parked, or `until`; returns the stats seen last
    /// (compare `parked` to know which).
    pub fn wait_parked_at_most(&self, max_parked: usize, until: Instant) -> EngineStats {
        self.inner.shared.wait_parked_at_most(max_parked, until)
    }

    /// Asks the kernel to cancel every parked I/O (best effort; io_uring only, the thread pool
    /// cannot interrupt a running syscall). Buffers stay parked until each I/O's completion
    /// arrives, which a cancel does not guarantee. Returns how many cancels were requested.
    pub fn cancel_parked(&self) -> usize {
        let ops = self.inner.shared.parked_ops();
        for &op in &ops {
            self.inner.backend.cancel(op);
        }
        ops.len()
    }

    fn submit_on(
        &self,
        queue: QueueId,
        disks: &[Arc<Device>],
        ios: &[Io],
        deadline: Instant,
    ) -> Result<Ticket, EngineError> {
        if ios.len() > BATCH_IOS_MAX {
            return Err(EngineError::BatchTooLarge {
                len: ios.len(),
                max: BATCH_IOS_MAX,
            });
        }
        let prepared = ios
            .iter()
            .enumerate()
            .map(|(index, io)| exec::prepare(&self.inner.pool, disks, index, io))
            .collect::<Result<Vec<_>, _>>()?;
        let kinds_lens: Vec<_> = prepared.iter().map(|p| (p.kind, p.buf.len())).collect();
        let begun = self.inner.shared.begin(queue, &kinds_lens, deadline)?;
        let mut failed = Vec::new();
        // An empty `begun.ops` (deadline already passed) starts nothing; the buffers are dropped.
        for (p, op) in prepared.into_iter().zip(begun.ops) {
            let exec = Exec {
                op,
                kind: p.kind,
                device: p.device,
                offset: p.offset,
                buf: p.buf,
                deadline,
            };
            if let Err((exec, errno)) = self.inner.backend.start(exec) {
                failed.push(Completion {
                    exec,
                    at: Instant::now(),
                    result: Err(errno),
                });
            }
        }
        self.inner.shared.complete(failed);
        Ok(begun.ticket)
    }
}

/// A completion queue: tickets submitted here are collected only here. Owned by one thread
/// (e.g. the daemon's lockspace driver); any number of queues share one engine. Dropping it
/// abandons its uncollected tickets (their I/O is parked until the kernel completes it); late
/// reads of tickets already collected stay reapable with [`Engine::reap_late_read`], so a
/// queue per batch is fine.
#[derive(Debug)]
pub struct Queue {
    engine: Engine,
    id: QueueId,
}

impl Queue {
    /// Validates and issues `ios` on `disks` with `deadline`, returning at once.
    ///
    /// A deadline already passed issues nothing: the ticket finishes at once, every I/O timed
    /// out. An empty batch finishes at once with no outcomes.
    ///
    /// Errors (nothing of the batch was issued): [`EngineError::NoSuchDisk`],
    /// [`EngineError::Refused`] (misaligned, out of range, read-only, allocation),
    /// [`EngineError::TooLarge`], [`EngineError::BatchTooLarge`], and the retryable
    /// [`EngineError::Busy`], [`EngineError::TooManyParked`], [`EngineError::QueueFull`].
    pub fn submit(
        &mut self,
        disks: &[Arc<Device>],
        ios: &[Io],
        deadline: Instant,
    ) -> Result<Ticket, EngineError> {
        self.engine.submit_on(self.id, disks, ios, deadline)
    }

    /// Collects every finished ticket (all I/O complete, or deadline passed) without blocking.
    pub fn poll(&mut self) -> Vec<(Ticket, Vec<IoOutcome>)> {
        self.engine.inner.shared.poll(self.id)
    }

    /// Blocks until at least one ticket is finished or `until` passes; collects every finished
    /// ticket (empty if none finished by `until`).
    pub fn wait_any(&mut self, until: Instant) -> Vec<(Ticket, Vec<IoOutcome>)> {
        self.engine.inner.shared.wait_any(self.id, until)
    }

    /// Blocks until `ticket` is finished (at the latest at its deadline) and collects it.
    ///
    /// Errors: [`EngineError::UnknownTicket`] if it was not submitted here or was collected.
    pub fn wait(&mut self, ticket: Ticket) -> Result<Vec<IoOutcome>, EngineError> {
        self.engine.inner.shared.wait_ticket(self.id, ticket)
    }

    /// [`Queue::wait`] for async callers, without blocking a thread: collects `ticket` if it
    /// is finished (passed deadlines are applied first), else registers `waker`, which a
    /// completion that finishes the ticket wakes, and returns `Pending`. The engine sets no
    /// timer for the deadline: the caller polls again once the deadline has passed (e.g. with
    /// its runtime's timer), and then the ticket is finished with its pending I/O timed out.
    ///
    /// Errors: [`EngineError::UnknownTicket`] if it was not submitted here or was collected.
    pub fn poll_ticket(
        &mut self,
        ticket: Ticket,
        waker: &std::task::Waker,
    ) -> std::task::Poll<Result<Vec<IoOutcome>, EngineError>> {
        self.engine.inner.shared.poll_ticket(self.id, ticket, waker)
    }

    /// The engine this queue submits to (for `reap_late_read`, `stats`, ...).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.engine.inner.shared.drop_queue(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_print() {
        for (text, kind) in [
            ("auto", EngineKind::Auto),
            ("io_uring", EngineKind::IoUring),
            ("IO-URING", EngineKind::IoUring),
            ("threads", EngineKind::Threads),
        ] {
            assert_eq!(text.parse::<EngineKind>().unwrap(), kind);
        }
        for kind in [EngineKind::Auto, EngineKind::IoUring, EngineKind::Threads] {
            assert_eq!(kind.to_string().parse::<EngineKind>().unwrap(), kind);
        }
        let err = "aio".parse::<EngineKind>().unwrap_err();
        assert!(matches!(err, EngineError::BadEngineName { .. }), "{err:?}");
    }

    #[test]
    fn config_limits_are_checked() {
        let bad = [
            EngineConfig {
                in_flight_max: 0,
                ..EngineConfig::default()
            },
            EngineConfig {
                parked_max: IN_FLIGHT_MAX + 1,
                ..EngineConfig::default()
            },
            EngineConfig {
                threads: THREADS_MAX + 1,
                ..EngineConfig::default()
            },
            EngineConfig {
                threads: 2,
                threads_per_device: 3,
                ..EngineConfig::default()
            },
        ];
        for config in bad {
            let err = Engine::with_config(config).unwrap_err();
            assert!(matches!(err, EngineError::BadConfig { .. }), "{err:?}");
        }
        EngineConfig::default().validate().unwrap();
    }

    #[test]
    fn deadline_after_never_overflows() {
        let far = deadline_after(Duration::MAX);
        assert!(far <= Instant::now() + DEADLINE_HORIZON_MAX);
        assert!(deadline_after(Duration::ZERO) <= Instant::now());
    }

    #[test]
    fn engine_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Engine>();
        check::<Queue>();
        check::<EngineStorage>();
    }
}
