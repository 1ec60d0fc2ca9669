//! Executing `lease-core` operations asynchronously on real devices.
//!
//! [`drive`] is the daemon's driver of the sans-I/O seam (`lease_core::seam`): it resumes an
//! operation with `CLOCK_MONOTONIC` time, runs its I/O batches on an [`IoExecutor`] with the
//! step's deadline, and sleeps (with the requested random jitter) on tokio's timer.
//!
//! **Invariant (driver contract):** an I/O that misses its deadline is reported
//! `TimedOut` to the operation, but its buffer stays owned by the task that issued the syscall
//! until the kernel returns: nothing is freed or reused early.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lease_core::guard;
use lease_core::seam::{Io, IoFailure, IoOutcome, Operation, Resume, Step};
use lease_core::time::MonoTime;
use lease_io::{monotonic_now, Access, Device, DeviceError};

/// Shared, open devices by path: every lockspace and resource on one device uses one fd.
#[derive(Debug, Default)]
pub struct DeviceCache {
    devices: Mutex<Vec<(PathBuf, Arc<Device>)>>,
}

impl DeviceCache {
    /// The open device for `path`, opening it read-write with O_DIRECT on first use.
    pub fn get(&self, path: &Path) -> Result<Arc<Device>, DeviceError> {
        let mut devices = self.devices.lock().expect("device cache lock");
        if let Some((_, device)) = devices.iter().find(|(p, _)| p == path) {
            return Ok(device.clone());
        }
        let device = Arc::new(Device::open(path, Access::ReadWrite)?);
        devices.push((path.to_path_buf(), device.clone()));
        Ok(device)
    }
}

/// Executes batches of I/O with a deadline per I/O.
pub trait IoExecutor: Send + Sync + std::fmt::Debug {
    /// Run `ios` (disk index `i` is `disks[i]`) concurrently; each I/O not complete within
    /// `timeout` is reported `TimedOut`.
    fn submit(
        &self,
        disks: &[Arc<Device>],
        ios: Vec<Io>,
        timeout: Duration,
    ) -> impl std::future::Future<Output = Vec<IoOutcome>> + Send;

    /// This host's write fence ([`crate::fence`]), which [`drive`] runs every batch through.
    /// `None` (the default, test and benchmark executors): batches run unfenced.
    fn write_fence(&self) -> Option<&crate::fence::DaemonFence> {
        None
    }
}

/// Runs each I/O as a blocking syscall on tokio's blocking pool; the waiter enforces the
/// deadline. A read goes into a buffer of `lease_io`'s process-wide pool (`Device::read_at`)
/// and reaches the operation as that very buffer (`PooledBuf::into_bytes`, no copy). A
/// timed-out syscall keeps its buffer (owned by the blocking closure) until it returns; only
/// then is the buffer given back to the pool, unseen.
#[derive(Debug, Default)]
pub struct ThreadExecutor;

fn one_io(device: &Device, io: Io) -> IoOutcome {
    let result = match io {
        Io::Read { offset, len, .. } => match usize::try_from(len) {
            Ok(len) => device
                .read_at(offset, len)
                .map(|buf| IoOutcome::Read(buf.into_bytes())),
            Err(_) => {
                return IoOutcome::Failed(IoFailure::Error {
                    errno: libc::EINVAL,
                })
            }
        },
        Io::Write { offset, data, .. } => {
            device.write_at(offset, &data).map(|()| IoOutcome::Written)
        }
    };
    result.unwrap_or_else(|err| {
        IoOutcome::Failed(IoFailure::Error {
            errno: -err.errno(),
        })
    })
}

impl IoExecutor for ThreadExecutor {
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
            let Some(device) = disks.get(disk).cloned() else {
                handles.push(None);
                continue;
            };
            handles.push(Some(tokio::task::spawn_blocking(move || {
                one_io(&device, io)
            })));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut outcomes = Vec::with_capacity(handles.len());
        for handle in handles {
            let outcome = match handle {
                None => IoOutcome::Failed(IoFailure::Error {
                    errno: libc::EINVAL,
                }),
                Some(handle) => match tokio::time::timeout_at(deadline, handle).await {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(_join)) => IoOutcome::Failed(IoFailure::Error { errno: libc::EIO }),
                    // The blocking task still owns its buffer and finishes on its own.
                    Err(_elapsed) => IoOutcome::Failed(IoFailure::TimedOut),
                },
            };
            outcomes.push(outcome);
        }
        outcomes
    }
}

/// Local monotonic time.
pub fn now() -> MonoTime {
    monotonic_now()
}

/// A uniformly random duration in `[0, max]` (jitter for ballot back-off).
fn jitter(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let max_us = u64::try_from(max.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(rand_u64() % max_us.saturating_add(1))
}

fn rand_u64() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            (now().as_millis() ^ u64::from(std::process::id()).rotate_left(32)) | 1
        );
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x
    })
}

/// Sleep until local monotonic time `until`.
pub async fn sleep_until(until: MonoTime) {
    // tokio's timer has millisecond granularity on a different rounding than ours: loop until
    // our own clock says the time has come (the contract forbids early wake-ups).
    loop {
        let wait = until.saturating_since(now());
        if wait.is_zero() {
            return;
        }
        tokio::time::sleep(wait).await;
    }
}

/// Drive `op` to completion: the daemon's implementation of the seam's driver contract, for
/// operations bound to no lockspace (delta leases, rindex, direct reads).
pub async fn drive<O: Operation>(
    op: &mut O,
    exec: &impl IoExecutor,
    disks: &[Arc<Device>],
) -> O::Output {
    drive_in(op, exec, disks, None).await
}

/// [`drive`] for a resource-lease operation of `lockspace` (seam contract rule 7): right
/// before each batch is issued (after the write fence admitted it), the lockspace's current
/// membership is checked with `lease_core::guard::check`; a refused batch is not issued, its
/// I/O are reported `guard::REFUSED`.
pub async fn drive_in<O: Operation>(
    op: &mut O,
    exec: &impl IoExecutor,
    disks: &[Arc<Device>],
    lockspace: Option<&crate::lockspace::Lockspace>,
) -> O::Output {
    let generation = op.lockspace_generation();
    let guard = || match lockspace {
        Some(ls) => guard::check(generation, ls.membership(), now()).map(|_| ()),
        None => Ok(()),
    };
    let mut input = Resume::Start;
    loop {
        match op.resume(now(), input) {
            Step::Io { ios, timeout } => {
                let outcomes = match exec.write_fence() {
                    Some(fence) => {
                        let areas = op.fence_areas();
                        fence.submit(&areas, exec, disks, ios, timeout, guard).await
                    }
                    None => match guard() {
                        Ok(()) => exec.submit(disks, ios, timeout).await,
                        Err(_) => vec![guard::REFUSED; ios.len()],
                    },
                };
                input = Resume::Io(outcomes);
            }
            Step::Sleep { until, jitter: max } => {
                sleep_until(until.saturating_add(jitter(max))).await;
                input = Resume::Woke;
            }
            Step::Done(output) => return output,
        }
    }
}

/// An executor wrapper that records how long each batch took (renewal history's read_ms and
/// write_ms).
#[derive(Debug)]
pub struct Timed<'a, E> {
    inner: &'a E,
    batches_ms: Mutex<Vec<u64>>,
}

impl<'a, E: IoExecutor> Timed<'a, E> {
    pub fn new(inner: &'a E) -> Timed<'a, E> {
        Timed {
            inner,
            batches_ms: Mutex::new(Vec::new()),
        }
    }

    /// Durations of the first two batches (0 for a batch that did not run).
    pub fn first_two_ms(&self) -> (u64, u64) {
        let batches = self.batches_ms.lock().expect("timing lock");
        (
            batches.first().copied().unwrap_or(0),
            batches.get(1).copied().unwrap_or(0),
        )
    }
}

impl<E: IoExecutor> IoExecutor for Timed<'_, E> {
    async fn submit(
        &self,
        disks: &[Arc<Device>],
        ios: Vec<Io>,
        timeout: Duration,
    ) -> Vec<IoOutcome> {
        let start = now();
        let out = self.inner.submit(disks, ios, timeout).await;
        let ms = now().saturating_since(start).as_millis();
        self.batches_ms
            .lock()
            .expect("timing lock")
            .push(u64::try_from(ms).unwrap_or(u64::MAX));
        out
    }

    fn write_fence(&self) -> Option<&crate::fence::DaemonFence> {
        self.inner.write_fence()
    }
}

/// The daemon's executor on `lease_io`'s engine: one io_uring (or, where io_uring is
/// unavailable or `LEASE_IO_ENGINE=threads`, the engine's thread pool) shared by every
/// lockspace and resource. Each batch is submitted on its own completion queue and awaited on
/// tokio's blocking pool; the engine owns every buffer until the kernel completes it, so a
/// timed-out I/O is reported at its deadline and its buffer parked, never reused early.
///
/// It keeps this host's write fence ([`crate::fence`]): [`drive`] runs every batch through it.
#[derive(Clone, Debug)]
pub struct EngineExecutor {
    engine: lease_io::Engine,
    fence: Arc<crate::fence::DaemonFence>,
}

impl EngineExecutor {
    pub fn new(kind: lease_io::EngineKind) -> Result<EngineExecutor, lease_io::EngineError> {
        let engine = lease_io::Engine::new(kind)?;
        let fence = Arc::new(crate::fence::DaemonFence::new(engine.clone()));
        Ok(EngineExecutor { engine, fence })
    }

    pub fn engine(&self) -> &lease_io::Engine {
        &self.engine
    }
}

impl IoExecutor for EngineExecutor {
    fn write_fence(&self) -> Option<&crate::fence::DaemonFence> {
        Some(&self.fence)
    }

    async fn submit(
        &self,
        disks: &[Arc<Device>],
        ios: Vec<Io>,
        timeout: Duration,
    ) -> Vec<IoOutcome> {
        let count = ios.len();
        let mut queue = self.engine.queue();
        let deadline = lease_io::engine::deadline_after(timeout);
        // An I/O the engine refuses before issuing anything (its device shrank under us, say)
        // fails alone: the rest of the batch (other disks of a multi-disk lease) still runs.
        let mut outcomes: Vec<Option<IoOutcome>> = vec![None; count];
        let (ticket, issued) = loop {
            let issued: Vec<usize> = (0..count).filter(|&i| outcomes[i].is_none()).collect();
            let submitted = if issued.len() == count {
                queue.submit(disks, &ios, deadline)
            } else {
                let batch: Vec<Io> = issued.iter().map(|&i| ios[i].clone()).collect();
                queue.submit(disks, &batch, deadline)
            };
            match submitted {
                Ok(ticket) => break (ticket, issued),
                Err(lease_io::EngineError::Refused { index, source }) if issued.len() > 1 => {
                    outcomes[issued[index]] = Some(IoOutcome::Failed(IoFailure::Error {
                        errno: source.errno(),
                    }));
                }
                Err(err) => {
                    return vec![
                        IoOutcome::Failed(IoFailure::Error {
                            errno: -err.errno()
                        });
                        count
                    ]
                }
            }
        };
        // Awaited on this task (no thread blocks): the reaper's completion wakes it, and the
        // timer below makes it look again once the deadline has passed.
        let finished = {
            let collect = std::future::poll_fn(|cx| queue.poll_ticket(ticket, cx.waker()));
            tokio::pin!(collect);
            let mut look_at = deadline;
            loop {
                tokio::select! {
                    biased;
                    result = &mut collect => break result,
                    // Past the deadline the next poll finishes the ticket (timed out).
                    () = tokio::time::sleep_until(look_at.into()) => {
                        look_at = std::time::Instant::now() + Duration::from_millis(1);
                    }
                }
            }
        };
        let results = match finished {
            Ok(results) if results.len() == issued.len() => results,
            Ok(_) => {
                vec![IoOutcome::Failed(IoFailure::Error { errno: libc::EIO }); issued.len()]
            }
            Err(err) => vec![
                IoOutcome::Failed(IoFailure::Error {
                    errno: -err.errno()
                });
                issued.len()
            ],
        };
        for (i, result) in issued.into_iter().zip(results) {
            outcomes[i] = Some(result);
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or(IoOutcome::Failed(IoFailure::Error { errno: libc::EIO })))
            .collect()
    }
}
