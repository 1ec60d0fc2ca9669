//! The `unsafe` boundary of the io_uring backend: [`Ring`] owns the ring *and* the table of
//! I/O the kernel holds, so the ownership argument for every SQE is local to this file.
//!
//! # The invariant
//!
//! io-uring's `SubmissionQueue::push` is `unsafe` because "developers must ensure that
//! parameters of the entry (such as buffer) are valid and will be valid for the entire duration
//! of the operation". Here:
//!
//! * every read/write SQE is pushed while holding the `sq` lock, **after** its [`Exec`] was
//!   inserted into `sq.in_flight` under its `user_data`; the SQE's buffer pointer points into the
//!   heap allocation of `exec.buf` (which does not move when the `Exec` value moves) and its fd
//!   is that of `exec.device`, an `Arc<Device>` held by the same `Exec` (the descriptor stays
//!   open and cannot be reused for another file);
//! * an `Exec` leaves `in_flight` only in [`Ring::reap`], when the CQE carrying its `user_data`
//!   is consumed: the kernel has then finished with the buffer (for a resubmitted remainder of a
//!   short transfer, the new SQE is pushed only after the previous CQE was consumed);
//! * nothing in the engine reads or writes the bytes of a buffer in `in_flight`;
//! * a buffer in `in_flight` is marked lent to the kernel (`PooledBuf::lend_to_kernel`) and
//!   unmarked only when its CQE is consumed (or its push failed); dropping a marked buffer
//!   leaks it and asserts, so no engine bug can return memory the kernel may still DMA into to
//!   the buffer pool;
//! * if the ring is dropped with I/O still in flight (the kernel did not complete it within the
//!   shutdown bound), those `Exec`s are leaked, never freed: a device may still DMA into them.
//!
//! Cancellation (`AsyncCancel`) changes none of this: a cancel request may fail (`EALREADY`:
//! the bio is on the device) or succeed, but either way the I/O's own CQE still arrives and is
//! what releases the buffer.
//!
//! The submission queue is touched only under the `sq` lock; the completion queue only under
//! the `reap` lock (`submission_shared` / `completion_shared` require that no other queue view
//! exists at the same time).
//!
//! # One issuing thread
//!
//! Callers never enter the ring. [`Ring::start`] and [`Ring::cancel`] only queue a request in
//! `sq.pending` and wake the reaper through a pipe (a one-shot `PollAdd` on its read end is
//! kept armed in the ring); the reaper alone pushes SQEs ([`Ring::flush`]) and calls
//! `io_uring_enter`. Why: io_uring's io-wq workers, which run our `IOSQE_ASYNC` I/O, belong to
//! the task that submitted it, and a thread cannot finish exiting while its io-wq workers are
//! blocked (a read of a FUSE or NFS file on a hung server): a tokio blocking-pool thread that
//! submitted such a read would hang in `exit` for as long as the server. With one issuer, only
//! the engine's own reaper carries that risk, and the engine never joins it unboundedly.

use std::collections::HashMap;
use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, squeue, types, IoUring, Probe};

use super::exec::{Completion, Exec, ExecKind, OpId};
use crate::device::IO_ATTEMPTS_MAX;

/// `user_data` tag of `AsyncCancel` SQEs (their CQEs carry no buffer).
const TAG_CANCEL: u64 = 1 << 63;
/// `user_data` tag of internal SQEs: the construction `Nop` and the wake-pipe `PollAdd`.
const TAG_INTERNAL: u64 = 1 << 62;
const TAG_MASK: u64 = TAG_CANCEL | TAG_INTERNAL;
/// `user_data` of the construction probe's `Nop`.
const USER_DATA_NOP: u64 = TAG_INTERNAL;
/// `user_data` of the wake pipe's `PollAdd`.
const USER_DATA_WAKE: u64 = TAG_INTERNAL | 1;

/// How many times a full submission queue is flushed before a push gives up with `EBUSY`.
const PUSH_ATTEMPTS_MAX: u32 = 8;

/// One I/O in the kernel's hands, with progress for short transfers.
#[derive(Debug)]
struct InFlight {
    exec: Exec,
    /// Bytes transferred by earlier CQEs of this I/O.
    done: usize,
    /// SQEs pushed for this I/O so far.
    attempts: u32,
    /// A cancel was requested: `EINTR`/`EAGAIN` end the I/O instead of being retried.
    cancelled: bool,
}

/// A request queued by a caller for the reaper to push.
#[derive(Debug)]
enum Pending {
    Io(InFlight),
    Cancel(OpId),
}

#[derive(Debug, Default)]
struct Sq {
    /// I/O whose SQE was pushed and whose final CQE was not yet consumed.
    in_flight: HashMap<u64, InFlight>,
    /// Requests from callers, pushed by the reaper in [`Ring::flush`] (FIFO).
    pending: Vec<Pending>,
    /// The wake pipe's `PollAdd` is in the ring.
    wake_armed: bool,
}

/// An io_uring instance and the I/O it holds. See the module docs for the invariant.
pub(crate) struct Ring {
    ring: IoUring,
    sq: Mutex<Sq>,
    reap: Mutex<()>,
    wake_reader: Mutex<PipeReader>,
    wake_writer: PipeWriter,
    /// A wake byte is in the pipe (or about to be) and not yet consumed by the reaper.
    wake_requested: AtomicBool,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("sq_entries", &self.ring.params().sq_entries())
            .field("cq_entries", &self.ring.params().cq_entries())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl Ring {
    /// Sets up a ring with `entries` SQEs (and twice as many CQEs) and checks that the kernel
    /// offers what the engine needs. Errors are human-readable reasons plus the kernel's error.
    pub(crate) fn new(entries: u32) -> Result<Ring, (String, Option<io::Error>)> {
        // No COOP_TASKRUN / DEFER_TASKRUN: completions of a thread's submissions must be posted
        // even while that thread sleeps on a condition variable, which the default
        // (signal-style task work) guarantees.
        let ring = IoUring::builder()
            .setup_cqsize(entries.saturating_mul(2))
            .dontfork()
            .build(entries)
            .map_err(|e| (format!("io_uring_setup failed: {e}"), Some(e)))?;
        let params = ring.params();
        if !params.is_feature_nodrop() {
            return Err(("kernel lacks IORING_FEAT_NODROP (Linux 5.5)".into(), None));
        }
        if !params.is_feature_ext_arg() {
            return Err((
                "kernel lacks IORING_FEAT_EXT_ARG for bounded waits (Linux 5.11)".into(),
                None,
            ));
        }
        let mut probe = Probe::new();
        ring.submitter()
            .register_probe(&mut probe)
            .map_err(|e| (format!("IORING_REGISTER_PROBE failed: {e}"), Some(e)))?;
        for (code, name) in [
            (opcode::Read::CODE, "IORING_OP_READ"),
            (opcode::Write::CODE, "IORING_OP_WRITE"),
            (opcode::AsyncCancel::CODE, "IORING_OP_ASYNC_CANCEL"),
            (opcode::Nop::CODE, "IORING_OP_NOP"),
            (opcode::PollAdd::CODE, "IORING_OP_POLL_ADD"),
        ] {
            if !probe.is_supported(code) {
                return Err((format!("kernel does not support {name}"), None));
            }
        }
        let (wake_reader, wake_writer) =
            io::pipe().map_err(|e| (format!("cannot create the wake pipe: {e}"), Some(e)))?;
        // The reaper drains the pipe without ever blocking (see `drain_wake_pipe`).
        set_nonblocking(&wake_reader).map_err(|e| {
            (
                format!("cannot make the wake pipe non-blocking: {e}"),
                Some(e),
            )
        })?;
        Ok(Ring {
            ring,
            sq: Mutex::new(Sq::default()),
            reap: Mutex::new(()),
            wake_reader: Mutex::new(wake_reader),
            wake_writer,
            wake_requested: AtomicBool::new(false),
        })
    }

    /// Raises the io-wq bounded-worker limit of the calling thread (the reaper) to `workers`.
    ///
    /// By default io-wq runs at most min(SQ entries, 4 x CPUs) bounded workers: on a small
    /// machine a handful of I/O stuck on one hung path would queue every other device's I/O
    /// behind them. Workers are created on demand. Linux 5.15+; older kernels keep their
    /// default (not an error).
    pub(crate) fn raise_worker_limit(&self, workers: u32) {
        let _ = self
            .ring
            .submitter()
            .register_iowq_max_workers(&mut [workers, 0]);
    }

    fn lock_sq(&self) -> MutexGuard<'_, Sq> {
        self.sq.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Pushes `entry`, flushing a full submission queue a bounded number of times.
    ///
    /// # Safety
    ///
    /// The caller holds the `sq` lock (`_sq` proves it) and every buffer and descriptor `entry`
    /// references stays valid until the entry's CQE is consumed (module invariant).
    unsafe fn push(&self, _sq: &MutexGuard<'_, Sq>, entry: &squeue::Entry) -> io::Result<()> {
        for _ in 0..PUSH_ATTEMPTS_MAX {
            // SAFETY: the `sq` lock is held, so no other `SubmissionQueue` view exists (the only
            // other users of the submission queue also hold it).
            let mut queue = unsafe { self.ring.submission_shared() };
            // SAFETY: forwarded from this function's contract: the entry's buffer and fd stay
            // valid "for the entire duration of the operation".
            let pushed = unsafe { queue.push(entry) };
            queue.sync();
            drop(queue);
            if pushed.is_ok() {
                return Ok(());
            }
            // Full: hand the queued entries to the kernel and retry.
            self.ring.submit()?;
        }
        Err(io::Error::from_raw_os_error(libc::EBUSY))
    }

    /// Builds the SQE for the not yet transferred part of `f`.
    ///
    /// Every read and write carries `IOSQE_ASYNC`: io_uring hands it straight to its io-wq
    /// workers instead of first trying it inline in `io_uring_enter`. Files whose read path
    /// ignores `IOCB_NOWAIT` (FUSE, and NFS, where oVirt keeps file-based lease areas) would
    /// otherwise block the *submitting* thread until the device answers, which for a hung path
    /// means never reporting the deadline. For block devices the worker only issues the bio
    /// and returns (`-EIOCBQUEUED`), so the cost is one hand-off per I/O.
    fn entry(f: &mut InFlight, user_data: u64) -> squeue::Entry {
        let fd = types::Fd(f.exec.device.as_fd().as_raw_fd());
        let offset = f.exec.offset + f.done as u64;
        let len = u32::try_from(f.exec.buf.len() - f.done)
            .expect("I/O length is bounded by IO_BYTES_MAX, far below 4 GiB");
        match f.exec.kind {
            ExecKind::Read => {
                let ptr = f.exec.buf[f.done..].as_mut_ptr();
                opcode::Read::new(fd, ptr, len)
                    .offset(offset)
                    .build()
                    .flags(squeue::Flags::ASYNC)
                    .user_data(user_data)
            }
            ExecKind::Write => {
                let ptr = f.exec.buf[f.done..].as_ptr();
                opcode::Write::new(fd, ptr, len)
                    .offset(offset)
                    .build()
                    .flags(squeue::Flags::ASYNC)
                    .user_data(user_data)
            }
        }
    }

    /// Inserts `f` into the in-flight table and pushes its SQE (lock held by the caller). On
    /// failure `f` is taken back out and returned: the kernel never saw it.
    fn push_in_flight(
        &self,
        sq: &mut MutexGuard<'_, Sq>,
        mut f: InFlight,
    ) -> Result<(), (InFlight, io::Error)> {
        let user_data = f.exec.op;
        assert_eq!(user_data & TAG_MASK, 0, "op ids stay below 2^62");
        f.attempts += 1;
        let entry = Self::entry(&mut f, user_data);
        // From here until its CQE is consumed the kernel may access the buffer: a drop before
        // that leaks it and asserts instead of handing it back to the pool (`crate::pool`).
        f.exec.buf.lend_to_kernel();
        let previous = sq.in_flight.insert(user_data, f);
        assert!(previous.is_none(), "op {user_data} started twice");
        // SAFETY: the `sq` lock is held; the entry's buffer is the heap allocation of the
        // `Exec` just stored in `in_flight` (its address does not change when the `Exec` moves)
        // and its fd belongs to the `Arc<Device>` stored with it; both stay there until the CQE
        // for `user_data` is consumed in `reap` (module invariant).
        match unsafe { self.push(sq, &entry) } {
            Ok(()) => Ok(()),
            Err(e) => {
                let mut f = sq.in_flight.remove(&user_data).expect("inserted above");
                // The push failed: the kernel never saw this SQE.
                f.exec.buf.reclaim_from_kernel();
                Err((f, e))
            }
        }
    }

    /// Queues `exec` for the reaper to issue (see "One issuing thread"). Never fails: the
    /// frontend bounds how much is in flight.
    pub(crate) fn start(&self, exec: Exec) {
        self.lock_sq().pending.push(Pending::Io(InFlight {
            exec,
            done: 0,
            attempts: 0,
            cancelled: false,
        }));
        self.wake();
    }

    /// Queues a best-effort cancel of `op` (see module docs).
    pub(crate) fn cancel(&self, op: OpId) {
        self.lock_sq().pending.push(Pending::Cancel(op));
        self.wake();
    }

    /// Queues a cancel of every I/O in flight or pending (best effort).
    pub(crate) fn cancel_all(&self) {
        {
            let mut sq = self.lock_sq();
            let mut ops: Vec<OpId> = sq.in_flight.keys().copied().collect();
            ops.extend(sq.pending.iter().filter_map(|p| match p {
                Pending::Io(f) => Some(f.exec.op),
                Pending::Cancel(_) => None,
            }));
            sq.pending.extend(ops.into_iter().map(Pending::Cancel));
        }
        self.wake();
    }

    /// Makes the reaper's `wait` return soon: one byte in the wake pipe per wake-up, however
    /// many callers ask before the reaper drains it.
    pub(crate) fn wake(&self) {
        if !self.wake_requested.swap(true, Ordering::SeqCst) {
            // At most a couple of bytes are ever unread (see `drain_wake_pipe`), so a 1-byte
            // write to the pipe cannot block. If it failed anyway, the reaper still flushes at
            // its next timeout (REAPER_WAIT).
            let _ = (&self.wake_writer).write(&[1]);
        }
    }

    /// Reaper only: pushes every pending request, and the wake pipe's `PollAdd` if it is not in
    /// the ring. Returns I/O that was not issued, with an errno: I/O that could not be pushed,
    /// and with `issue == false` (shutting down) every pending I/O (`ESHUTDOWN`). The pushed
    /// SQEs are submitted by the next [`Ring::wait`].
    pub(crate) fn flush(&self, issue: bool) -> Vec<Completion> {
        let mut sq = self.lock_sq();
        let mut failed = Vec::new();
        let at = Instant::now();
        for pending in std::mem::take(&mut sq.pending) {
            match pending {
                Pending::Io(f) if !issue => failed.push(completion(f, at, Err(libc::ESHUTDOWN))),
                Pending::Io(f) => {
                    if let Err((f, e)) = self.push_in_flight(&mut sq, f) {
                        failed.push(completion(
                            f,
                            at,
                            Err(e.raw_os_error().unwrap_or(libc::EIO)),
                        ));
                    }
                }
                Pending::Cancel(op) => {
                    let Some(f) = sq.in_flight.get_mut(&op) else {
                        // Completed already (or failed to start): nothing to cancel.
                        continue;
                    };
                    f.cancelled = true;
                    let entry = opcode::AsyncCancel::new(op)
                        .build()
                        .user_data(TAG_CANCEL | op);
                    // SAFETY: the `sq` lock is held; an AsyncCancel SQE references no memory
                    // (its target is named by a `user_data` value). If the push fails the
                    // cancel is simply not requested (best effort).
                    let _ = unsafe { self.push(&sq, &entry) };
                }
            }
        }
        if !sq.wake_armed {
            let fd = types::Fd(
                self.wake_reader
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_fd()
                    .as_raw_fd(),
            );
            let entry = opcode::PollAdd::new(fd, libc::POLLIN as u32)
                .build()
                .user_data(USER_DATA_WAKE);
            // SAFETY: the `sq` lock is held; a PollAdd SQE references no memory, and its fd is
            // the read end of the wake pipe, owned by `self` and closed only when the ring is
            // dropped (after which no CQE is consumed).
            if unsafe { self.push(&sq, &entry) }.is_ok() {
                sq.wake_armed = true;
            }
        }
        failed
    }

    /// Construction probe: pushes and submits a `Nop` from the calling thread.
    pub(crate) fn probe_nop(&self) -> io::Result<()> {
        let sq = self.lock_sq();
        let entry = opcode::Nop::new().build().user_data(USER_DATA_NOP);
        // SAFETY: the `sq` lock is held; a Nop SQE references no memory.
        unsafe { self.push(&sq, &entry) }?;
        self.ring.submit()?;
        Ok(())
    }

    /// Blocks until at least one CQE is available or `timeout` passes (also submits anything
    /// queued). Timeouts and signals are not errors.
    pub(crate) fn wait(&self, timeout: Duration) -> io::Result<()> {
        let ts = types::Timespec::from(timeout);
        let args = types::SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Reaper only, after its `PollAdd` fired: empties the wake pipe, then clears
    /// `wake_requested`. Never blocks (the read end is non-blocking) and takes no lock but the
    /// reader's.
    ///
    /// Order matters: the flag is cleared *after* the bytes are gone, so a caller that set it
    /// while we were draining (and will write its byte after) leaves one spare byte, a harmless
    /// early wake-up; a caller that found it still set did not write, and its request was queued
    /// before the clear, so the flush that follows this reap pushes it. The opposite order could
    /// drain a byte written after the clear and leave the flag set with an empty pipe: every
    /// later wake would be lost.
    ///
    /// Why the poll's completion is not proof of a byte: `pipe_write` makes the byte visible
    /// before it wakes the pipe's readers. If the reaper polls, reads that byte and arms a new
    /// poll in between, the writer's late wake-up completes the *new* poll with `POLLIN` (the
    /// kernel takes the wake-up's event mask without polling the pipe again) while the pipe is
    /// empty. An earlier version then read one byte with a blocking read while holding the `sq`
    /// lock, and blocked there for good with every submitter waiting for that lock.
    fn drain_wake_pipe(&self) {
        let mut reader = self.wake_reader.lock().unwrap_or_else(|p| p.into_inner());
        let mut bytes = [0u8; 64];
        loop {
            match reader.read(&mut bytes) {
                Ok(n) if n == bytes.len() => continue,
                // Short read: the pipe is empty now. `Ok(0)` (no writer) cannot happen while
                // `self` holds the write end.
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // `WouldBlock`: empty. Any other error: nothing more to read either.
                Err(_) => break,
            }
        }
        drop(reader);
        self.wake_requested.store(false, Ordering::SeqCst);
    }

    /// Consumes every available CQE. Returns finished I/O (with their buffers, which the kernel
    /// no longer touches) and how many probe `Nop`s completed. Short transfers and
    /// `EINTR`/`EAGAIN` are pushed again for the remainder, at most [`IO_ATTEMPTS_MAX`] SQEs per
    /// I/O (submitted by the next [`Ring::wait`]).
    pub(crate) fn reap(&self) -> (Vec<Completion>, usize) {
        let _reaping = self.reap.lock().unwrap_or_else(|p| p.into_inner());
        let cqes: Vec<cqueue::Entry> = {
            // SAFETY: the `reap` lock is held, so no other `CompletionQueue` view exists.
            let mut queue = unsafe { self.ring.completion_shared() };
            queue.sync();
            queue.by_ref().collect()
        };
        if cqes.iter().any(|cqe| cqe.user_data() == USER_DATA_WAKE) {
            self.drain_wake_pipe();
        }
        let at = Instant::now();
        let mut done = Vec::new();
        let mut nops = 0;
        let mut sq = self.lock_sq();
        for cqe in cqes {
            let user_data = cqe.user_data();
            if user_data == USER_DATA_WAKE {
                // The one-shot poll is used up; the next flush arms it again.
                sq.wake_armed = false;
                continue;
            }
            if user_data & TAG_INTERNAL != 0 {
                nops += 1;
                continue;
            }
            if user_data & TAG_CANCEL != 0 {
                // The cancel request's own result (0, -ENOENT, -EALREADY): informational only;
                // the I/O's CQE is what releases its buffer.
                continue;
            }
            let Some(mut f) = sq.in_flight.remove(&user_data) else {
                debug_assert!(false, "CQE for unknown user_data {user_data}");
                continue;
            };
            // This CQE ends the kernel's use of the buffer (a remainder is pushed anew below).
            f.exec.buf.reclaim_from_kernel();
            let res = cqe.result();
            let len = f.exec.buf.len();
            let alignment = f.exec.device.io_alignment() as usize;
            let finished = if res < 0 {
                let errno = -res;
                if !f.cancelled && matches!(errno, libc::EINTR | libc::EAGAIN) {
                    None
                } else {
                    Some(Err(errno))
                }
            } else if res == 0 {
                // End of device or a zero-length write: cannot make progress.
                Some(Err(libc::EIO))
            } else {
                f.done += res as usize;
                if f.done >= len {
                    Some(Ok(()))
                } else if f.done % alignment != 0 || f.cancelled {
                    // A partial transfer that is not whole sectors cannot resume under O_DIRECT.
                    Some(Err(libc::EIO))
                } else {
                    None
                }
            };
            if let Some(result) = finished {
                done.push(completion(f, at, result));
                continue;
            }
            if f.attempts >= IO_ATTEMPTS_MAX {
                done.push(completion(f, at, Err(libc::EIO)));
                continue;
            }
            if let Err((f, e)) = self.push_in_flight(&mut sq, f) {
                done.push(completion(
                    f,
                    at,
                    Err(e.raw_os_error().unwrap_or(libc::EIO)),
                ));
            }
        }
        (done, nops)
    }

    /// I/O the kernel holds or that is queued for the reaper to issue.
    pub(crate) fn in_flight(&self) -> usize {
        let sq = self.lock_sq();
        let pending = sq
            .pending
            .iter()
            .filter(|p| matches!(p, Pending::Io(_)))
            .count();
        sq.in_flight.len() + pending
    }
}

fn set_nonblocking(fd: &impl AsFd) -> io::Result<()> {
    let raw = fd.as_fd().as_raw_fd();
    // SAFETY: F_GETFL/F_SETFL on a descriptor we own; no memory is passed.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn completion(f: InFlight, at: Instant, result: Result<(), i32>) -> Completion {
    Completion {
        exec: f.exec,
        at,
        result,
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        let sq = self.sq.get_mut().unwrap_or_else(|p| p.into_inner());
        // Pending I/O never reached the kernel: its buffers are freed normally.
        sq.pending.clear();
        let leaked = sq.in_flight.len();
        if leaked > 0 {
            eprintln!(
                "lease-io: io_uring dropped with {leaked} I/O still in the kernel's hands; leaking \
                 their buffers"
            );
            for (_, f) in sq.in_flight.drain() {
                // The kernel may still write into (or read from) this buffer: never free it.
                std::mem::forget(f);
            }
        }
    }
}
