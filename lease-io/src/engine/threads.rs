//! The syscall fallback: a small fixed pool of threads doing `pread`/`pwrite` through
//! [`Device`](crate::Device), with the same contract as the io_uring backend.
//!
//! * A worker takes an [`Exec`] off the queue, runs the blocking `Device::read_into` /
//!   `Device::write_at` (O_DIRECT, short transfers and `EINTR` retried), and reports a
//!   [`Completion`] with the buffer. The worker owns the buffer for the whole system call, so a
//!   deadline that passes meanwhile changes only what the frontend reports; the buffer is freed
//!   by the frontend after the syscall has returned.
//! * Deadlines are enforced by the waiter (the frontend's condition-variable wait), never by
//!   the worker: a blocking `pread` cannot be abandoned.
//! * An I/O whose deadline passed while it waited in the queue is **not issued**; it completes
//!   with `ECANCELED` (its ticket already reported it timed out). This keeps a backlog behind a
//!   hung device from issuing stale writes later.
//! * **Head-of-line blocking.** A hung device can hold at most `threads_per_device` workers
//!   (jobs for a device at its cap stay queued while workers serve other devices), so one
//!   dead path does not stall the renewals of lockspaces on other devices. Many hung devices
//!   can still take every worker; io_uring (which has no such limit) is preferred.
//! * Shutdown drops queued, never-issued jobs, and waits [`SHUTDOWN_DRAIN_MAX`] for busy workers;
//!   a worker still blocked in the kernel after that is detached: it frees its buffer itself
//!   when the system call returns.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::error::EngineError;
use super::exec::{Backend, Completion, Exec, ExecKind, OpId};
use super::state::Shared;
use super::SHUTDOWN_DRAIN_MAX;

/// How long an idle worker sleeps before re-checking for shutdown (a bound, not a poll: workers
/// are woken by the condition variable when work arrives).
const WORKER_IDLE_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct PoolState {
    jobs: VecDeque<Exec>,
    /// Workers busy per device (keyed by the `Device`'s address, stable while it is shared).
    busy: HashMap<usize, usize>,
    live_workers: usize,
    shutdown: bool,
}

#[derive(Debug)]
struct Pool {
    state: Mutex<PoolState>,
    cond: Condvar,
    frontend: Arc<Shared>,
    per_device: usize,
}

/// The thread-pool backend.
#[derive(Debug)]
pub(crate) struct ThreadPool {
    pool: Arc<Pool>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

fn device_key(exec: &Exec) -> usize {
    Arc::as_ptr(&exec.device).addr()
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn worker(self: Arc<Self>) {
        let mut state = self.lock();
        loop {
            if state.shutdown {
                break;
            }
            let per_device = self.per_device;
            let pick = {
                let PoolState { jobs, busy, .. } = &*state;
                jobs.iter()
                    .position(|j| busy.get(&device_key(j)).copied().unwrap_or(0) < per_device)
            };
            let Some(pos) = pick else {
                state = self
                    .cond
                    .wait_timeout(state, WORKER_IDLE_WAIT)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
                continue;
            };
            let exec = state.jobs.remove(pos).expect("position is in range");
            let key = device_key(&exec);
            *state.busy.entry(key).or_insert(0) += 1;
            drop(state);

            let completion = run(exec);
            self.frontend.complete(vec![completion]);

            state = self.lock();
            let count = state.busy.get_mut(&key).expect("counted above");
            *count -= 1;
            if *count == 0 {
                state.busy.remove(&key);
            }
            // A job for this device may have been waiting for the cap.
            self.cond.notify_all();
        }
        state.live_workers -= 1;
        self.cond.notify_all();
    }
}

/// Executes one I/O on the calling (worker) thread.
fn run(mut exec: Exec) -> Completion {
    if Instant::now() >= exec.deadline {
        return Completion {
            exec,
            at: Instant::now(),
            result: Err(libc::ECANCELED),
        };
    }
    let result = match exec.kind {
        ExecKind::Read => exec.device.read_into(exec.offset, &mut exec.buf),
        ExecKind::Write => exec.device.write_at(exec.offset, &exec.buf),
    };
    Completion {
        at: Instant::now(),
        result: result.map_err(|e| -e.errno()),
        exec,
    }
}

impl ThreadPool {
    /// Starts `threads` workers; at most `per_device` of them serve one device at a time.
    pub(crate) fn new(
        frontend: Arc<Shared>,
        threads: usize,
        per_device: usize,
    ) -> Result<ThreadPool, EngineError> {
        assert!(threads > 0 && per_device > 0);
        let pool = Arc::new(Pool {
            state: Mutex::new(PoolState::default()),
            cond: Condvar::new(),
            frontend,
            per_device,
        });
        let backend = ThreadPool {
            pool: Arc::clone(&pool),
            handles: Mutex::new(Vec::with_capacity(threads)),
        };
        for i in 0..threads {
            let worker_pool = Arc::clone(&pool);
            pool.lock().live_workers += 1;
            let spawned = std::thread::Builder::new()
                .name(format!("lease-io-{i}"))
                .spawn(move || worker_pool.worker());
            match spawned {
                Ok(handle) => backend
                    .handles
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(handle),
                Err(source) => {
                    pool.lock().live_workers -= 1;
                    // Dropping `backend` shuts down the workers spawned so far.
                    return Err(EngineError::Spawn { source });
                }
            }
        }
        Ok(backend)
    }
}

impl Backend for ThreadPool {
    fn start(&self, exec: Exec) -> Result<(), (Exec, i32)> {
        let mut state = self.pool.lock();
        if state.shutdown {
            return Err((exec, libc::ESHUTDOWN));
        }
        state.jobs.push_back(exec);
        self.pool.cond.notify_all();
        Ok(())
    }

    fn cancel(&self, op: OpId) {
        let mut state = self.pool.lock();
        let Some(pos) = state.jobs.iter().position(|j| j.op == op) else {
            // Running (a blocking syscall cannot be cancelled) or already done.
            return;
        };
        let exec = state.jobs.remove(pos).expect("position is in range");
        drop(state);
        self.pool.frontend.complete(vec![Completion {
            exec,
            at: Instant::now(),
            result: Err(libc::ECANCELED),
        }]);
    }

    fn shutdown(&self) {
        let mut state = self.pool.lock();
        state.shutdown = true;
        // Never issued: the kernel never saw these buffers, so they may be freed.
        let dropped: Vec<Exec> = state.jobs.drain(..).collect();
        self.pool.cond.notify_all();
        let until = Instant::now() + SHUTDOWN_DRAIN_MAX;
        while state.live_workers > 0 {
            let now = Instant::now();
            if now >= until {
                break;
            }
            state = self
                .pool
                .cond
                .wait_timeout(state, until - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let all_exited = state.live_workers == 0;
        drop(state);
        drop(dropped);
        let handles = std::mem::take(&mut *self.handles.lock().unwrap_or_else(|p| p.into_inner()));
        if all_exited {
            for handle in handles {
                // A worker that panicked has nothing left to clean up.
                let _ = handle.join();
            }
        }
        // Otherwise the handles are dropped: busy workers are detached and free their buffer
        // when their system call returns.
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shutdown();
    }
}
