//! Executors that measure where the time of an operation goes.
//!
//! * [`Probe`] wraps any [`IoExecutor`] (the daemon's own `ThreadExecutor` in the benchmarks)
//!   and records the start and end of every I/O batch: an operation's time splits into its
//!   I/O batches and the rest (state machine, task scheduling). Two clock reads and a mutex
//!   push per batch: well under a microsecond.
//! * [`Replica`] is a copy of `lease_daemon::exec::ThreadExecutor` (one `spawn_blocking` per
//!   I/O, the waiter enforcing the deadline, `Device::read_at` = a buffer taken from
//!   `lease_io`'s global pool + pread, then `PooledBuf::into_bytes`) with a timestamp between
//!   each step, to split one I/O into: dispatch to a blocking thread, taking the buffer
//!   (allocation and zeroing only when the pool has none), the syscall, the hand-over of the
//!   buffer as `Bytes` (no copy), and waking the waiting task. The benchmark checks that its
//!   totals match the real executor's.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lease_core::seam::{Io, IoFailure, IoOutcome};
use lease_daemon::exec::IoExecutor;
use lease_io::{BufPool, Device};

/// What the first I/O of a batch was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
}

/// One I/O batch as seen by [`Probe`].
#[derive(Clone, Copy, Debug)]
pub struct Batch {
    pub start: Instant,
    pub end: Instant,
    pub kind: Kind,
    /// Offset of the first I/O.
    pub offset: u64,
    /// Length of the first I/O.
    pub len: u64,
    /// I/Os in the batch.
    pub count: usize,
}

impl Batch {
    pub fn micros(&self) -> f64 {
        self.end.duration_since(self.start).as_secs_f64() * 1e6
    }
}

/// The shared record of a [`Probe`].
pub type ProbeLog = Arc<Mutex<Vec<Batch>>>;

/// Records every batch submitted through it, then forwards it to `inner`.
#[derive(Debug)]
pub struct Probe<E> {
    inner: E,
    log: ProbeLog,
}

impl<E> Probe<E> {
    /// The probe and a handle on its record.
    pub fn new(inner: E) -> (Probe<E>, ProbeLog) {
        let log = ProbeLog::default();
        (
            Probe {
                inner,
                log: log.clone(),
            },
            log,
        )
    }
}

/// Take everything recorded so far.
pub fn take(log: &ProbeLog) -> Vec<Batch> {
    std::mem::take(&mut *log.lock().unwrap_or_else(|e| e.into_inner()))
}

fn describe(ios: &[Io]) -> (Kind, u64, u64) {
    match ios.first() {
        Some(Io::Read { offset, len, .. }) => (Kind::Read, *offset, *len),
        Some(Io::Write { offset, data, .. }) => (Kind::Write, *offset, data.len() as u64),
        None => (Kind::Read, 0, 0),
    }
}

impl<E: IoExecutor> IoExecutor for Probe<E> {
    async fn submit(
        &self,
        disks: &[Arc<Device>],
        ios: Vec<Io>,
        timeout: Duration,
    ) -> Vec<IoOutcome> {
        let (kind, offset, len) = describe(&ios);
        let count = ios.len();
        let start = Instant::now();
        let out = self.inner.submit(disks, ios, timeout).await;
        let end = Instant::now();
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Batch {
                start,
                end,
                kind,
                offset,
                len,
                count,
            });
        out
    }
}

/// The steps of one I/O through the thread executor, in microseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Phases {
    pub read: bool,
    /// Submit to the closure starting on a blocking thread.
    pub dispatch: f64,
    /// Taking an aligned buffer from the pool (reads; allocation and zeroing on a miss).
    pub alloc: f64,
    /// pread / pwrite (writes: including the copy into an aligned buffer).
    pub syscall: f64,
    /// Handing the buffer to the operation as `Bytes` (reads; no copy).
    pub copy: f64,
    /// Closure end to the waiting task running again.
    pub wake: f64,
    pub total: f64,
}

/// The shared record of a [`Replica`].
pub type PhaseLog = Arc<Mutex<Vec<Phases>>>;

/// A timestamped copy of `lease_daemon::exec::ThreadExecutor`.
#[derive(Debug, Default)]
pub struct Replica {
    log: PhaseLog,
}

impl Replica {
    pub fn new() -> (Replica, PhaseLog) {
        let log = PhaseLog::default();
        (Replica { log: log.clone() }, log)
    }
}

fn us(a: Instant, b: Instant) -> f64 {
    b.saturating_duration_since(a).as_secs_f64() * 1e6
}

/// One I/O with timestamps: (outcome, started, allocated, syscall done, copied).
fn one_io_timed(device: &Device, io: Io) -> (IoOutcome, [Instant; 4]) {
    let t0 = Instant::now();
    let fail = |err: lease_io::DeviceError| {
        IoOutcome::Failed(IoFailure::Error {
            errno: -err.errno(),
        })
    };
    match io {
        Io::Read { offset, len, .. } => {
            let Ok(len) = usize::try_from(len) else {
                let now = Instant::now();
                return (
                    IoOutcome::Failed(IoFailure::Error {
                        errno: libc::EINVAL,
                    }),
                    [t0, now, now, now],
                );
            };
            let Ok(mut buf) = BufPool::global().take(len) else {
                let now = Instant::now();
                return (
                    IoOutcome::Failed(IoFailure::Error {
                        errno: libc::ENOMEM,
                    }),
                    [t0, now, now, now],
                );
            };
            let t1 = Instant::now();
            let result = device.read_into(offset, &mut buf);
            let t2 = Instant::now();
            let outcome = match result {
                Ok(()) => IoOutcome::Read(buf.into_bytes()),
                Err(e) => fail(e),
            };
            let t3 = Instant::now();
            (outcome, [t0, t1, t2, t3])
        }
        Io::Write { offset, data, .. } => {
            let result = device.write_at(offset, &data);
            let t2 = Instant::now();
            let outcome = result.map_or_else(fail, |()| IoOutcome::Written);
            (outcome, [t0, t0, t2, t2])
        }
    }
}

impl IoExecutor for Replica {
    async fn submit(
        &self,
        disks: &[Arc<Device>],
        ios: Vec<Io>,
        timeout: Duration,
    ) -> Vec<IoOutcome> {
        let mut handles = Vec::with_capacity(ios.len());
        for io in ios {
            let disk = match &io {
                Io::Read { disk, .. } | Io::Write { disk, .. } => *disk,
            };
            let read = matches!(io, Io::Read { .. });
            let Some(device) = disks.get(disk).cloned() else {
                handles.push(None);
                continue;
            };
            let submitted = Instant::now();
            handles.push(Some((
                submitted,
                read,
                tokio::task::spawn_blocking(move || {
                    let (outcome, t) = one_io_timed(&device, io);
                    (outcome, t, Instant::now())
                }),
            )));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut outcomes = Vec::with_capacity(handles.len());
        for handle in handles {
            let outcome = match handle {
                None => IoOutcome::Failed(IoFailure::Error {
                    errno: libc::EINVAL,
                }),
                Some((submitted, read, handle)) => {
                    match tokio::time::timeout_at(deadline, handle).await {
                        Ok(Ok((outcome, [t0, t1, t2, t3], done))) => {
                            let resumed = Instant::now();
                            self.log
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(Phases {
                                    read,
                                    dispatch: us(submitted, t0),
                                    alloc: us(t0, t1),
                                    syscall: us(t1, t2),
                                    copy: us(t2, t3),
                                    wake: us(done, resumed),
                                    total: us(submitted, resumed),
                                });
                            outcome
                        }
                        Ok(Err(_join)) => IoOutcome::Failed(IoFailure::Error { errno: libc::EIO }),
                        Err(_elapsed) => IoOutcome::Failed(IoFailure::TimedOut),
                    }
                }
            };
            outcomes.push(outcome);
        }
        outcomes
    }
}

/// Take everything recorded so far.
pub fn take_phases(log: &PhaseLog) -> Vec<Phases> {
    std::mem::take(&mut *log.lock().unwrap_or_else(|e| e.into_inner()))
}
