//! The io_uring backend: one ring per engine, one reaper thread, submissions from any thread.
//!
//! * **Submission.** A caller queues the I/O (plain descriptor, no registered files: see the
//!   engine docs) and wakes the reaper through a pipe; the reaper pushes the SQE and submits it.
//!   The reaper is the ring's only issuer (`uring_sys` explains why: io-wq workers belong to the
//!   submitting thread). Submission never waits for the device: every SQE carries
//!   `IOSQE_ASYNC`, so the kernel's io-wq workers issue it (some files, FUSE and NFS among
//!   them, ignore `IOCB_NOWAIT` and would otherwise block the issuer inline).
//! * **Completion.** The reaper blocks in `io_uring_enter(GETEVENTS)` with a timeout of
//!   [`REAPER_WAIT`] (a bound, so shutdown is always noticed), consumes the CQEs, pushes the
//!   remainder of short transfers again, and reports finished I/O with their buffers to the
//!   frontend, which wakes the waiters. Completion time is taken when the reaper sees the CQE.
//! * **Deadlines** are the frontend's (see the engine docs for why not `LinkTimeout`). A timed-out
//!   I/O is not cancelled: its read may still be reaped, and a cancel would not stop a bio that
//!   is already on the device anyway. [`crate::engine::Engine::cancel_parked`] asks explicitly.
//! * **Shutdown** (last engine handle dropped): the reaper fails queued I/O without issuing
//!   it, cancels everything in flight, keeps reaping for at most [`SHUTDOWN_DRAIN_MAX`], and
//!   leaves its loop; the ring then leaks the buffers of I/O the kernel still holds
//!   (`uring_sys`). The engine waits for the loop to end (bounded) but never joins the thread:
//!   the kernel does not let a thread finish exiting while its io-wq workers are blocked.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::error::EngineError;
use super::exec::{Backend, Exec, OpId};
use super::state::Shared;
use super::uring_sys::Ring;
use super::SHUTDOWN_DRAIN_MAX;

/// Longest single wait of the reaper in `io_uring_enter` (it wakes earlier on any CQE, and
/// every submission and the shutdown wake it through the wake pipe): a backstop only, kept
/// long so that an idle daemon's reaper wakes once every 2 s, not twice a second.
pub(crate) const REAPER_WAIT: Duration = Duration::from_secs(2);

/// How long construction waits for the probe `Nop` to complete.
const PROBE_WAIT_MAX: Duration = Duration::from_secs(2);

/// Back-off after an unexpected `io_uring_enter` error in the reaper (never seen in practice;
/// keeps a persistent error from spinning a CPU).
const REAPER_ERROR_BACKOFF: Duration = Duration::from_millis(20);

#[derive(Debug)]
struct Inner {
    ring: Ring,
    frontend: Arc<Shared>,
    /// io-wq bounded-worker limit the reaper sets for itself.
    workers: u32,
    shutdown: AtomicBool,
    /// Set when the reaper has left its loop (drained or gave up).
    loop_done: Mutex<bool>,
    loop_done_cond: Condvar,
}

/// The io_uring backend.
#[derive(Debug)]
pub(crate) struct Uring {
    inner: Arc<Inner>,
    reaper: Mutex<Option<JoinHandle<()>>>,
}

fn unavailable(reason: String, source: Option<std::io::Error>) -> EngineError {
    EngineError::IoUringUnavailable { reason, source }
}

impl Uring {
    /// Sets up and probes a ring of `entries` SQEs, round-trips a `Nop` through it, and starts
    /// the reaper.
    ///
    /// Errors: [`EngineError::IoUringUnavailable`] (the caller may fall back to threads),
    /// [`EngineError::Spawn`].
    pub(crate) fn new(frontend: Arc<Shared>, entries: u32) -> Result<Uring, EngineError> {
        let ring = Ring::new(entries).map_err(|(reason, source)| unavailable(reason, source))?;
        // A ring that can be set up may still be unusable (seccomp filtering io_uring_enter,
        // a kernel that never posts completions): prove a round trip before trusting it.
        ring.probe_nop()
            .map_err(|e| unavailable(format!("submitting a probe NOP failed: {e}"), Some(e)))?;
        let until = Instant::now() + PROBE_WAIT_MAX;
        loop {
            let now = Instant::now();
            if now >= until {
                return Err(unavailable(
                    format!("probe NOP did not complete within {PROBE_WAIT_MAX:?}"),
                    None,
                ));
            }
            ring.wait(until - now).map_err(|e| {
                unavailable(format!("waiting for the probe NOP failed: {e}"), Some(e))
            })?;
            let (done, nops) = ring.reap();
            assert!(done.is_empty(), "no I/O was started yet");
            if nops > 0 {
                break;
            }
        }
        let inner = Arc::new(Inner {
            ring,
            frontend,
            workers: entries,
            shutdown: AtomicBool::new(false),
            loop_done: Mutex::new(false),
            loop_done_cond: Condvar::new(),
        });
        let reaper_inner = Arc::clone(&inner);
        let reaper = std::thread::Builder::new()
            .name("lease-io-uring".into())
            .spawn(move || reaper_inner.reaper())
            .map_err(|source| EngineError::Spawn { source })?;
        Ok(Uring {
            inner,
            reaper: Mutex::new(Some(reaper)),
        })
    }
}

impl Inner {
    fn reaper(&self) {
        self.ring.raise_worker_limit(self.workers);
        let mut drain_until: Option<Instant> = None;
        loop {
            let shutting_down = self.shutdown.load(Ordering::Acquire);
            if shutting_down && drain_until.is_none() {
                self.ring.cancel_all();
                drain_until = Some(Instant::now() + SHUTDOWN_DRAIN_MAX);
            }
            self.frontend.complete(self.ring.flush(!shutting_down));
            if self.ring.wait(REAPER_WAIT).is_err() {
                std::thread::sleep(REAPER_ERROR_BACKOFF);
            }
            let (done, _nops) = self.ring.reap();
            self.frontend.complete(done);
            if let Some(until) = drain_until {
                if self.ring.in_flight() == 0 || Instant::now() >= until {
                    break;
                }
            }
        }
        *self.loop_done.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.loop_done_cond.notify_all();
    }
}

impl Backend for Uring {
    fn start(&self, exec: Exec) -> Result<(), (Exec, i32)> {
        if self.inner.shutdown.load(Ordering::Acquire) {
            return Err((exec, libc::ESHUTDOWN));
        }
        self.inner.ring.start(exec);
        Ok(())
    }

    fn cancel(&self, op: OpId) {
        self.inner.ring.cancel(op);
    }

    fn shutdown(&self) {
        self.inner.shutdown.store(true, Ordering::Release);
        self.inner.ring.wake();
        let until = Instant::now() + SHUTDOWN_DRAIN_MAX + REAPER_WAIT + Duration::from_secs(1);
        let mut done = self
            .inner
            .loop_done
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        while !*done {
            let now = Instant::now();
            if now >= until {
                break;
            }
            done = self
                .inner
                .loop_done_cond
                .wait_timeout(done, until - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        drop(done);
        // Never joined: a thread whose io-wq workers are blocked in the kernel cannot finish
        // exiting until they return, and dropping the engine must stay bounded. The reaper
        // holds nothing of ours once its loop is over except its `Arc<Inner>`.
        drop(self.reaper.lock().unwrap_or_else(|p| p.into_inner()).take());
    }
}

impl Drop for Uring {
    fn drop(&mut self) {
        self.shutdown();
    }
}
