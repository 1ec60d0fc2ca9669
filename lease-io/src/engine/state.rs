//! The engine's frontend: tickets, deadlines, parked I/O and late reads, shared by both backends.
//!
//! Everything here is bookkeeping under one mutex, woken by one condition variable; no I/O and
//! no buffer of an in-flight I/O is ever held here (backends own those, see `exec`).
//!
//! # States of one I/O (an *op*)
//!
//! ```text
//!  begin ──> Pending ──(completion at <= deadline)──> outcome delivered with its ticket
//!               │  └──(completion at >  deadline)──> TimedOut delivered; a read's result is
//!               │                                    kept as a late read
//!               └──(deadline passes first)──> Parked ──(completion)──> gone; a read's result
//!                                                                      is kept as a late read
//! ```
//!
//! * A ticket *finishes* when every op has an outcome or its deadline has passed, whichever
//!   comes first; at the deadline every op still pending is reported `TimedOut` and becomes
//!   *parked* (its buffer still owned by the backend, counted in `parked` / `parked_bytes`).
//! * Deadlines are applied lazily, by whoever next looks at the state (a waiter whose
//!   condition-variable wait times out at the deadline, a submit, `stats`); what is reported does
//!   not depend on when that happens, because a completion carries the instant the engine
//!   observed it and is compared with the deadline.
//! * A timed-out read whose kernel completion arrives later is kept, as a *late read*, until
//!   reaped, discarded or evicted (only the newest `late_reads_kept_max` completed ones are
//!   kept). This is sanlock's `renewal_read_extend_sec`: the next renewal may reuse it.
//!
//! # Bounds
//! * ops in the kernel's hands (pending + parked) ≤ `in_flight_max`, refused with `Busy`;
//! * new batches are refused with `TooManyParked` while parked ops reach `parked_max` or their
//!   buffers reach `parked_bytes_max` bytes;
//! * uncollected tickets per queue ≤ [`TICKETS_PER_QUEUE_MAX`], refused with `QueueFull`;
//! * completed late reads ≤ `late_reads_kept_max` (oldest evicted);
//! * every wait is bounded by a deadline or an explicit `until`.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::Instant;

use lease_core::seam::{IoFailure, IoOutcome};

use super::error::EngineError;
use super::exec::{Completion, ExecKind, OpId};
use super::{EngineStats, Ticket, TICKETS_PER_QUEUE_MAX};

/// Identifier of a completion queue (`Queue`, or the private one of `Engine::run`).
pub(crate) type QueueId = u64;

/// The configured bounds the frontend enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub in_flight_max: usize,
    pub parked_max: usize,
    pub parked_bytes_max: u64,
    pub late_reads_kept_max: usize,
}

/// Frontend state shared by the engine handle, its queues and the backend threads.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    cond: Condvar,
    limits: Limits,
}

#[derive(Debug)]
struct TicketState {
    queue: QueueId,
    deadline: Instant,
    outcomes: Vec<Option<IoOutcome>>,
    /// `Some(op)` while op `i` is pending (no outcome yet).
    ops: Vec<Option<OpId>>,
    remaining: usize,
    finished: bool,
    /// The task awaiting this ticket ([`Shared::poll_ticket`]), woken when it finishes.
    waker: Option<Waker>,
}

#[derive(Debug)]
struct OpState {
    ticket: u64,
    index: usize,
    kind: ExecKind,
    len: usize,
    parked: bool,
}

#[derive(Debug, Default)]
struct QueueState {
    /// Finished, uncollected tickets, in finishing order.
    ready: VecDeque<u64>,
    /// Tickets submitted and not yet collected (pending or ready).
    held: usize,
}

#[derive(Debug)]
enum LateState {
    /// The read timed out and the kernel still holds its buffer.
    InFlight,
    /// The read completed after its deadline (`Read(data)` or `Failed(Error)`).
    Done(IoOutcome),
}

#[derive(Debug)]
struct Late {
    state: LateState,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    tickets: HashMap<u64, TicketState>,
    /// (deadline, ticket) of every unfinished ticket.
    deadlines: BTreeSet<(Instant, u64)>,
    ops: HashMap<OpId, OpState>,
    queues: HashMap<QueueId, QueueState>,
    late: HashMap<(u64, usize), Late>,
    /// Keys of `late` entries in state `Done`, oldest first.
    late_done: VecDeque<(u64, usize)>,
    in_flight: usize,
    parked: usize,
    parked_bytes: u64,
}

impl State {
    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        // Ids stay far below 2^62 (the io_uring backend uses the top bits of user_data as tags):
        // a billion ids per second would take 146 years to get there.
        assert!(self.next_id < (1 << 62));
        self.next_id
    }

    /// Applies every deadline that is `<= now`. Returns whether any ticket finished.
    fn expire(&mut self, now: Instant) -> bool {
        let mut any = false;
        while let Some(&(deadline, ticket)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            self.expire_ticket(ticket, true);
            any = true;
        }
        any
    }

    /// Reports every pending op of `ticket` as timed out and parks it. With `keep_late`,
    /// parked reads become late reads that can be reaped.
    fn expire_ticket(&mut self, ticket: u64, keep_late: bool) {
        let Some(state) = self.tickets.get_mut(&ticket) else {
            return;
        };
        for index in 0..state.ops.len() {
            let Some(op) = state.ops[index].take() else {
                continue;
            };
            state.outcomes[index] = Some(IoOutcome::Failed(IoFailure::TimedOut));
            let op_state = self
                .ops
                .get_mut(&op)
                .expect("a pending op of a ticket is in the op table");
            assert!(!op_state.parked);
            op_state.parked = true;
            self.parked += 1;
            self.parked_bytes += op_state.len as u64;
            if keep_late && op_state.kind == ExecKind::Read {
                self.late.insert(
                    (ticket, index),
                    Late {
                        state: LateState::InFlight,
                    },
                );
            }
        }
        state.remaining = 0;
        self.finish(ticket);
    }

    fn finish(&mut self, ticket: u64) {
        let state = self.tickets.get_mut(&ticket).expect("ticket exists");
        assert!(!state.finished);
        assert_eq!(state.remaining, 0);
        state.finished = true;
        if let Some(waker) = state.waker.take() {
            // Only schedules the task (no lock of ours is taken by it).
            waker.wake();
        }
        self.deadlines.remove(&(state.deadline, ticket));
        let queue = state.queue;
        self.queues
            .get_mut(&queue)
            .expect("a live ticket's queue exists")
            .ready
            .push_back(ticket);
    }

    /// Keeps a late read's outcome; evicted older ones go to `dropped` (their buffers are given
    /// back to the pool by the caller, outside the lock).
    fn keep_late_done(
        &mut self,
        key: (u64, usize),
        outcome: IoOutcome,
        max: usize,
        dropped: &mut Vec<IoOutcome>,
    ) {
        self.late.insert(
            key,
            Late {
                state: LateState::Done(outcome),
            },
        );
        self.late_done.retain(|k| *k != key);
        self.late_done.push_back(key);
        while self.late_done.len() > max {
            let oldest = self.late_done.pop_front().expect("non-empty");
            if let Some(Late {
                state: LateState::Done(evicted),
            }) = self.late.remove(&oldest)
            {
                dropped.push(evicted);
            }
        }
    }

    /// Records one completion. Outcomes nobody will see (a parked I/O's, evicted late reads)
    /// go to `dropped`, for the caller to drop outside the lock.
    fn apply(
        &mut self,
        op: OpId,
        at: Instant,
        outcome: IoOutcome,
        limits: &Limits,
        dropped: &mut Vec<IoOutcome>,
    ) {
        let Some(op_state) = self.ops.remove(&op) else {
            // Every started op is in the table until its one completion; a second completion
            // would be a backend bug, which must not free anything twice: ignore it.
            debug_assert!(false, "completion of unknown op {op}");
            return;
        };
        assert!(self.in_flight > 0);
        self.in_flight -= 1;
        let key = (op_state.ticket, op_state.index);
        if op_state.parked {
            assert!(self.parked > 0);
            self.parked -= 1;
            self.parked_bytes -= op_state.len as u64;
            if self.late.contains_key(&key) {
                self.keep_late_done(key, outcome, limits.late_reads_kept_max, dropped);
            } else {
                dropped.push(outcome);
            }
            return;
        }
        let ticket = self
            .tickets
            .get_mut(&op_state.ticket)
            .expect("a pending op's ticket is uncollected");
        assert_eq!(ticket.ops[op_state.index], Some(op));
        ticket.ops[op_state.index] = None;
        ticket.remaining -= 1;
        if at <= ticket.deadline {
            ticket.outcomes[op_state.index] = Some(outcome);
        } else {
            ticket.outcomes[op_state.index] = Some(IoOutcome::Failed(IoFailure::TimedOut));
            if op_state.kind == ExecKind::Read {
                self.keep_late_done(key, outcome, limits.late_reads_kept_max, dropped);
            }
        }
        let ticket = &self.tickets[&op_state.ticket];
        if ticket.remaining == 0 {
            self.finish(op_state.ticket);
        }
    }

    /// Removes a finished ticket and returns its outcomes.
    fn collect(&mut self, ticket: u64) -> Vec<IoOutcome> {
        let state = self.tickets.remove(&ticket).expect("ticket exists");
        assert!(state.finished);
        let queue = self
            .queues
            .get_mut(&state.queue)
            .expect("a live ticket's queue exists");
        assert!(queue.held > 0);
        queue.held -= 1;
        state
            .outcomes
            .into_iter()
            .map(|o| o.expect("a finished ticket has every outcome"))
            .collect()
    }

    fn stats(&self) -> EngineStats {
        let late_reads_kept = self.late_done.len();
        EngineStats {
            in_flight: self.in_flight,
            parked: self.parked,
            parked_bytes: self.parked_bytes,
            late_reads_kept,
            late_reads_in_flight: self.late.len() - late_reads_kept,
        }
    }
}

/// What `begin` decided about a batch.
#[derive(Debug)]
pub(crate) struct Begun {
    pub ticket: Ticket,
    /// One op id per I/O to start, in batch order; empty when nothing is to be started (empty
    /// batch, or a deadline already passed: the ticket is finished with every I/O timed out).
    pub ops: Vec<OpId>,
}

impl Shared {
    pub(crate) fn new(limits: Limits) -> Shared {
        Shared {
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
            limits,
        }
    }

    /// Locks the state. A panic while holding the lock (a broken internal assertion) leaves
    /// the state as it was at that point; continuing with it is safe for buffers (backends own
    /// them), so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait_until<'a>(
        &self,
        guard: MutexGuard<'a, State>,
        until: Instant,
    ) -> MutexGuard<'a, State> {
        let timeout = until.saturating_duration_since(Instant::now());
        self.cond
            .wait_timeout(guard, timeout)
            .unwrap_or_else(|p| p.into_inner())
            .0
    }

    fn expire_and_notify(&self, state: &mut State, now: Instant) {
        if state.expire(now) {
            self.cond.notify_all();
        }
    }

    pub(crate) fn new_queue(&self) -> QueueId {
        let mut state = self.lock();
        let id = state.new_id();
        state.queues.insert(id, QueueState::default());
        id
    }

    /// Forgets a queue: its unfinished tickets' ops are parked (their buffers stay with the
    /// backend until the kernel completes them) and its uncollected tickets are dropped, with
    /// their late reads (nobody saw those time out). Late reads of tickets already collected
    /// stay reapable through the engine: a caller may submit each batch on a short-lived queue
    /// and still reap its timed-out read later.
    pub(crate) fn drop_queue(&self, queue: QueueId) {
        let mut state = self.lock();
        let ids: Vec<u64> = state
            .tickets
            .iter()
            .filter(|(_, t)| t.queue == queue)
            .map(|(&id, _)| id)
            .collect();
        for &id in &ids {
            if !state.tickets[&id].finished {
                state.expire_ticket(id, false);
            }
            state.tickets.remove(&id);
        }
        state.queues.remove(&queue);
        state.late.retain(|key, _| !ids.contains(&key.0));
        let State {
            late, late_done, ..
        } = &mut *state;
        late_done.retain(|key| late.contains_key(key));
        self.cond.notify_all();
    }

    /// Registers a batch of `kinds_lens` (one per I/O) on `queue`, or refuses it.
    pub(crate) fn begin(
        &self,
        queue: QueueId,
        kinds_lens: &[(ExecKind, usize)],
        deadline: Instant,
    ) -> Result<Begun, EngineError> {
        let now = Instant::now();
        let mut state = self.lock();
        self.expire_and_notify(&mut state, now);
        let held = state.queues.get(&queue).map_or(0, |q| q.held);
        if held >= TICKETS_PER_QUEUE_MAX {
            return Err(EngineError::QueueFull {
                held,
                max: TICKETS_PER_QUEUE_MAX,
            });
        }
        let issue = !kinds_lens.is_empty() && deadline > now;
        if issue {
            if state.parked >= self.limits.parked_max
                || state.parked_bytes >= self.limits.parked_bytes_max
            {
                return Err(EngineError::TooManyParked {
                    parked: state.parked,
                    parked_bytes: state.parked_bytes,
                    max: self.limits.parked_max,
                    max_bytes: self.limits.parked_bytes_max,
                });
            }
            if state.in_flight + kinds_lens.len() > self.limits.in_flight_max {
                return Err(EngineError::Busy {
                    in_flight: state.in_flight,
                    batch: kinds_lens.len(),
                    max: self.limits.in_flight_max,
                });
            }
        }
        let ticket = state.new_id();
        state
            .queues
            .get_mut(&queue)
            .expect("queue of a live handle exists")
            .held += 1;
        let n = kinds_lens.len();
        let mut ticket_state = TicketState {
            queue,
            deadline,
            outcomes: vec![None; n],
            ops: vec![None; n],
            remaining: n,
            finished: false,
            waker: None,
        };
        let mut ops = Vec::new();
        if issue {
            for (index, &(kind, len)) in kinds_lens.iter().enumerate() {
                let op = state.new_id();
                state.ops.insert(
                    op,
                    OpState {
                        ticket,
                        index,
                        kind,
                        len,
                        parked: false,
                    },
                );
                ticket_state.ops[index] = Some(op);
                ops.push(op);
            }
            state.in_flight += n;
        } else {
            // Nothing to issue: an empty batch, or one whose deadline already passed (reported
            // timed out without touching the device).
            ticket_state.outcomes = vec![Some(IoOutcome::Failed(IoFailure::TimedOut)); n];
            ticket_state.remaining = 0;
        }
        state.tickets.insert(ticket, ticket_state);
        if issue {
            state.deadlines.insert((deadline, ticket));
        } else {
            state.finish(ticket);
            self.cond.notify_all();
        }
        Ok(Begun {
            ticket: Ticket(ticket),
            ops,
        })
    }

    /// Records completions reported by a backend (the kernel has finished with their buffers).
    /// A complete read's buffer becomes its outcome's `Bytes` without a copy; every other
    /// buffer (a write's, a failed or short read's, whose bytes nobody sees) goes back to the
    /// pool here, outside the lock.
    pub(crate) fn complete(&self, completions: Vec<Completion>) {
        let converted: Vec<(OpId, Instant, IoOutcome)> = completions
            .into_iter()
            .map(|c| {
                let Completion { exec, at, result } = c;
                assert!(
                    !exec.buf.is_lent(),
                    "a completion's buffer is back from the kernel"
                );
                let outcome = match (result, exec.kind) {
                    (Ok(()), ExecKind::Read) => IoOutcome::Read(exec.buf.into_bytes()),
                    (Ok(()), ExecKind::Write) => IoOutcome::Written,
                    (Err(errno), _) => IoOutcome::Failed(IoFailure::Error { errno }),
                };
                (exec.op, at, outcome)
            })
            .collect();
        if converted.is_empty() {
            return;
        }
        let mut dropped = Vec::new();
        let mut state = self.lock();
        for (op, at, outcome) in converted {
            state.apply(op, at, outcome, &self.limits, &mut dropped);
        }
        // Buffers of outcomes nobody will see go back to the pool before the lock is released:
        // whoever sees the I/O completed (`stats`, `wait_parked_at_most`) sees its buffer back.
        drop(dropped);
        drop(state);
        self.cond.notify_all();
    }

    /// Collects every finished ticket of `queue` without blocking.
    pub(crate) fn poll(&self, queue: QueueId) -> Vec<(Ticket, Vec<IoOutcome>)> {
        let mut state = self.lock();
        self.expire_and_notify(&mut state, Instant::now());
        Self::take_ready(&mut state, queue)
    }

    fn take_ready(state: &mut State, queue: QueueId) -> Vec<(Ticket, Vec<IoOutcome>)> {
        let ready: Vec<u64> = match state.queues.get_mut(&queue) {
            Some(q) => q.ready.drain(..).collect(),
            None => Vec::new(),
        };
        ready
            .into_iter()
            .map(|t| (Ticket(t), state.collect(t)))
            .collect()
    }

    /// Blocks until at least one ticket of `queue` is finished, or `until`; collects all
    /// finished ones (empty at `until`).
    pub(crate) fn wait_any(&self, queue: QueueId, until: Instant) -> Vec<(Ticket, Vec<IoOutcome>)> {
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            self.expire_and_notify(&mut state, now);
            let ready = Self::take_ready(&mut state, queue);
            if !ready.is_empty() || now >= until {
                return ready;
            }
            // Wake at the earliest unfinished deadline (any queue's: harmless), or `until`.
            let next = state
                .deadlines
                .first()
                .map_or(until, |&(deadline, _)| deadline.min(until));
            state = self.wait_until(state, next);
        }
    }

    /// Blocks until `ticket` (of `queue`) is finished (at the latest at its deadline) and
    /// collects it.
    pub(crate) fn wait_ticket(
        &self,
        queue: QueueId,
        ticket: Ticket,
    ) -> Result<Vec<IoOutcome>, EngineError> {
        let mut state = self.lock();
        loop {
            self.expire_and_notify(&mut state, Instant::now());
            let Some(t) = state.tickets.get(&ticket.0).filter(|t| t.queue == queue) else {
                return Err(EngineError::UnknownTicket { ticket });
            };
            if t.finished {
                if let Some(q) = state.queues.get_mut(&queue) {
                    q.ready.retain(|&id| id != ticket.0);
                }
                return Ok(state.collect(ticket.0));
            }
            let deadline = t.deadline;
            state = self.wait_until(state, deadline);
        }
    }

    /// Non-blocking form of [`Shared::wait_ticket`] for async callers: collects `ticket` if it
    /// is finished (applying passed deadlines first), else remembers `waker` and returns
    /// `Pending`; the waker is woken when a completion finishes the ticket. Deadlines are not
    /// timers here: the caller polls again at the ticket's deadline (as `wait_ticket` wakes at
    /// it), and then the ticket is finished with its pending I/O timed out.
    pub(crate) fn poll_ticket(
        &self,
        queue: QueueId,
        ticket: Ticket,
        waker: &Waker,
    ) -> Poll<Result<Vec<IoOutcome>, EngineError>> {
        let mut state = self.lock();
        self.expire_and_notify(&mut state, Instant::now());
        let Some(t) = state
            .tickets
            .get_mut(&ticket.0)
            .filter(|t| t.queue == queue)
        else {
            return Poll::Ready(Err(EngineError::UnknownTicket { ticket }));
        };
        if !t.finished {
            if !t.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                t.waker = Some(waker.clone());
            }
            return Poll::Pending;
        }
        if let Some(q) = state.queues.get_mut(&queue) {
            q.ready.retain(|&id| id != ticket.0);
        }
        Poll::Ready(Ok(state.collect(ticket.0)))
    }

    /// Hands back the result of timed-out read (`ticket`, `index`) if the kernel completes it
    /// by `until`: `Read(data)` or `Failed(Error)`, or `Failed(TimedOut)` if it is still in
    /// flight at `until` (it stays parked and can be reaped again).
    pub(crate) fn reap_late_read(
        &self,
        ticket: Ticket,
        index: usize,
        until: Instant,
    ) -> Result<IoOutcome, EngineError> {
        let key = (ticket.0, index);
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            self.expire_and_notify(&mut state, now);
            match state.late.get(&key).map(|late| &late.state) {
                None => return Err(EngineError::NotParked { ticket, index }),
                Some(LateState::Done(_)) => {
                    let late = state.late.remove(&key).expect("present");
                    state.late_done.retain(|k| *k != key);
                    let LateState::Done(outcome) = late.state else {
                        unreachable!("matched Done above");
                    };
                    return Ok(outcome);
                }
                Some(LateState::InFlight) if now >= until => {
                    return Ok(IoOutcome::Failed(IoFailure::TimedOut));
                }
                Some(LateState::InFlight) => state = self.wait_until(state, until),
            }
        }
    }

    /// Drops every late read of `ticket` (kept data now; in-flight ones when they complete).
    pub(crate) fn discard_late(&self, ticket: Ticket) {
        let mut state = self.lock();
        state.late.retain(|key, _| key.0 != ticket.0);
        state.late_done.retain(|key| key.0 != ticket.0);
    }

    pub(crate) fn stats(&self) -> EngineStats {
        let mut state = self.lock();
        self.expire_and_notify(&mut state, Instant::now());
        state.stats()
    }

    /// Ops currently parked (for best-effort cancellation).
    pub(crate) fn parked_ops(&self) -> Vec<OpId> {
        let mut state = self.lock();
        self.expire_and_notify(&mut state, Instant::now());
        state
            .ops
            .iter()
            .filter(|(_, o)| o.parked)
            .map(|(&id, _)| id)
            .collect()
    }

    /// Blocks until at most `max_parked` ops are parked, or `until`. Returns the stats seen
    /// last; the caller compares `parked`.
    pub(crate) fn wait_parked_at_most(&self, max_parked: usize, until: Instant) -> EngineStats {
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            self.expire_and_notify(&mut state, now);
            if state.parked <= max_parked || now >= until {
                return state.stats();
            }
            state = self.wait_until(state, until);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The frontend alone, fed fabricated completions: deadlines, parking, late reads and
    //! bounds without any kernel in the loop.

    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::device::{Access, Device};
    use crate::engine::exec::Exec;
    use crate::pool::BufPool;

    const SHORT: Duration = Duration::from_millis(30);

    fn limits() -> Limits {
        Limits {
            in_flight_max: 8,
            parked_max: 3,
            parked_bytes_max: 1 << 20,
            late_reads_kept_max: 2,
        }
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        device: Arc<Device>,
        shared: Shared,
        queue: QueueId,
    }

    fn fixture(limits: Limits) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.img");
        crate::create_image_file(&path, 1 << 20, crate::IfExists::Refuse).unwrap();
        let device = Arc::new(Device::open(&path, Access::ReadWrite).unwrap());
        let shared = Shared::new(limits);
        let queue = shared.new_queue();
        Fixture {
            _dir: dir,
            device,
            shared,
            queue,
        }
    }

    impl Fixture {
        /// A completion of `op`, as a backend would report it, observed at `at`.
        fn done(&self, op: OpId, kind: ExecKind, fill: u8, at: Instant, ok: bool) -> Completion {
            let mut buf = BufPool::global().take(512).unwrap();
            buf.fill(fill);
            Completion {
                exec: Exec {
                    op,
                    kind,
                    device: Arc::clone(&self.device),
                    offset: 0,
                    buf,
                    deadline: at,
                },
                at,
                result: if ok { Ok(()) } else { Err(libc::EIO) },
            }
        }

        fn begin(&self, kinds: &[ExecKind], deadline: Instant) -> Result<Begun, EngineError> {
            let kl: Vec<_> = kinds.iter().map(|&k| (k, 512)).collect();
            self.shared.begin(self.queue, &kl, deadline)
        }
    }

    fn timed_out() -> IoOutcome {
        IoOutcome::Failed(IoFailure::TimedOut)
    }

    #[test]
    fn completions_before_the_deadline_are_delivered_in_order() {
        let f = fixture(limits());
        let deadline = Instant::now() + Duration::from_secs(60);
        let b = f
            .begin(&[ExecKind::Read, ExecKind::Write], deadline)
            .unwrap();
        assert_eq!(b.ops.len(), 2);
        assert!(f.shared.poll(f.queue).is_empty());
        let now = Instant::now();
        f.shared
            .complete(vec![f.done(b.ops[1], ExecKind::Write, 0, now, true)]);
        assert!(f.shared.poll(f.queue).is_empty(), "one I/O still pending");
        f.shared
            .complete(vec![f.done(b.ops[0], ExecKind::Read, 7, now, true)]);
        let out = f.shared.wait_ticket(f.queue, b.ticket).unwrap();
        assert_eq!(
            out,
            vec![IoOutcome::Read(vec![7; 512].into()), IoOutcome::Written]
        );
        assert_eq!(f.shared.stats(), EngineStats::default());
        assert!(matches!(
            f.shared.wait_ticket(f.queue, b.ticket),
            Err(EngineError::UnknownTicket { .. })
        ));
    }

    /// Counts its wake-ups.
    struct CountingWaker(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn an_async_waiter_is_woken_by_the_completion_and_collects_the_ticket() {
        let f = fixture(limits());
        let counter = Arc::new(CountingWaker(0.into()));
        let waker = Waker::from(Arc::clone(&counter));
        let b = f
            .begin(&[ExecKind::Read], Instant::now() + Duration::from_secs(60))
            .unwrap();
        assert!(f.shared.poll_ticket(f.queue, b.ticket, &waker).is_pending());
        assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 0);
        f.shared.complete(vec![f.done(
            b.ops[0],
            ExecKind::Read,
            9,
            Instant::now(),
            true,
        )]);
        assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        let Poll::Ready(Ok(out)) = f.shared.poll_ticket(f.queue, b.ticket, &waker) else {
            panic!("the ticket is finished");
        };
        assert_eq!(out, vec![IoOutcome::Read(vec![9; 512].into())]);
        assert!(matches!(
            f.shared.poll_ticket(f.queue, b.ticket, &waker),
            Poll::Ready(Err(EngineError::UnknownTicket { .. }))
        ));
    }

    #[test]
    fn an_async_waiter_polling_after_the_deadline_gets_timed_out_io() {
        let f = fixture(limits());
        let waker = Waker::from(Arc::new(CountingWaker(0.into())));
        let deadline = Instant::now() + SHORT;
        let b = f.begin(&[ExecKind::Write], deadline).unwrap();
        assert!(f.shared.poll_ticket(f.queue, b.ticket, &waker).is_pending());
        while Instant::now() < deadline {
            std::thread::yield_now();
        }
        let Poll::Ready(Ok(out)) = f.shared.poll_ticket(f.queue, b.ticket, &waker) else {
            panic!("past its deadline the ticket is finished");
        };
        assert_eq!(out, vec![timed_out()]);
        assert_eq!(
            f.shared.stats().parked,
            1,
            "the write stays parked until it completes"
        );
    }

    #[test]
    fn deadline_parks_pending_io_and_a_late_read_can_be_reaped() {
        let f = fixture(limits());
        let start = Instant::now();
        let deadline = start + SHORT;
        let b = f
            .begin(&[ExecKind::Read, ExecKind::Write], deadline)
            .unwrap();
        let finished = f.shared.wait_any(f.queue, start + Duration::from_secs(10));
        assert!(Instant::now() >= deadline);
        assert_eq!(finished, vec![(b.ticket, vec![timed_out(), timed_out()])]);
        let stats = f.shared.stats();
        assert_eq!(
            (stats.in_flight, stats.parked, stats.parked_bytes),
            (2, 2, 1024)
        );
        assert_eq!(stats.late_reads_in_flight, 1);
        // Still in flight: reaping gives up at `until` and leaves it parked.
        let r = f.shared.reap_late_read(b.ticket, 0, Instant::now() + SHORT);
        assert_eq!(r.unwrap(), timed_out());
        assert!(matches!(
            f.shared.reap_late_read(b.ticket, 1, Instant::now()),
            Err(EngineError::NotParked { index: 1, .. })
        ));
        let now = Instant::now();
        f.shared.complete(vec![
            f.done(b.ops[0], ExecKind::Read, 9, now, true),
            f.done(b.ops[1], ExecKind::Write, 0, now, true),
        ]);
        let stats = f.shared.stats();
        assert_eq!(
            (stats.in_flight, stats.parked, stats.parked_bytes),
            (0, 0, 0)
        );
        assert_eq!((stats.late_reads_kept, stats.late_reads_in_flight), (1, 0));
        let r = f.shared.reap_late_read(b.ticket, 0, now).unwrap();
        assert_eq!(r, IoOutcome::Read(vec![9; 512].into()));
        assert!(f.shared.reap_late_read(b.ticket, 0, now).is_err());
        assert_eq!(f.shared.stats(), EngineStats::default());
    }

    #[test]
    fn a_completion_seen_after_the_deadline_is_timed_out_even_if_nobody_looked() {
        let f = fixture(limits());
        let deadline = Instant::now() + Duration::from_secs(60);
        let b = f.begin(&[ExecKind::Read], deadline).unwrap();
        let late = deadline + Duration::from_millis(1);
        f.shared
            .complete(vec![f.done(b.ops[0], ExecKind::Read, 3, late, true)]);
        assert_eq!(
            f.shared.wait_ticket(f.queue, b.ticket).unwrap(),
            vec![timed_out()]
        );
        let r = f
            .shared
            .reap_late_read(b.ticket, 0, Instant::now())
            .unwrap();
        assert_eq!(r, IoOutcome::Read(vec![3; 512].into()));
    }

    #[test]
    fn too_many_parked_and_busy_are_refused_before_issuing() {
        let f = fixture(limits());
        let b = f
            .begin(&[ExecKind::Write; 3], Instant::now() + SHORT)
            .unwrap();
        f.shared
            .wait_any(f.queue, Instant::now() + Duration::from_secs(10));
        assert_eq!(f.shared.stats().parked, 3);
        let err = f
            .begin(&[ExecKind::Read], Instant::now() + Duration::from_secs(60))
            .unwrap_err();
        assert!(
            matches!(err, EngineError::TooManyParked { parked: 3, .. }),
            "{err:?}"
        );
        assert_eq!(err.errno(), -libc::EAGAIN);
        // An empty batch issues nothing and is still accepted.
        f.begin(&[], Instant::now()).unwrap();
        let now = Instant::now();
        f.shared
            .complete(vec![f.done(b.ops[0], ExecKind::Write, 0, now, true)]);
        // 2 parked < 3: accepted again, until in-flight would pass 8.
        let b2 = f
            .begin(
                &[ExecKind::Read; 6],
                Instant::now() + Duration::from_secs(60),
            )
            .unwrap();
        let err = f
            .begin(&[ExecKind::Read], Instant::now() + Duration::from_secs(60))
            .unwrap_err();
        assert!(
            matches!(err, EngineError::Busy { in_flight: 8, .. }),
            "{err:?}"
        );
        assert_eq!(b2.ops.len(), 6);
    }

    #[test]
    fn a_queue_holds_a_bounded_number_of_uncollected_tickets() {
        let f = fixture(limits());
        for _ in 0..TICKETS_PER_QUEUE_MAX {
            f.begin(&[], Instant::now()).unwrap();
        }
        let err = f.begin(&[], Instant::now()).unwrap_err();
        assert!(matches!(err, EngineError::QueueFull { .. }), "{err:?}");
        assert_eq!(f.shared.poll(f.queue).len(), TICKETS_PER_QUEUE_MAX);
        f.begin(&[], Instant::now()).unwrap();
    }

    #[test]
    fn past_deadline_issues_nothing_and_times_out_at_once() {
        let f = fixture(limits());
        let b = f
            .begin(&[ExecKind::Write, ExecKind::Read], Instant::now())
            .unwrap();
        assert!(b.ops.is_empty());
        assert_eq!(
            f.shared.poll(f.queue),
            vec![(b.ticket, vec![timed_out(), timed_out()])]
        );
        assert_eq!(f.shared.stats(), EngineStats::default());
    }

    #[test]
    fn only_the_newest_completed_late_reads_are_kept() {
        let f = fixture(limits());
        let b = f
            .begin(&[ExecKind::Read; 3], Instant::now() + SHORT)
            .unwrap();
        f.shared
            .wait_any(f.queue, Instant::now() + Duration::from_secs(10));
        let now = Instant::now();
        for (i, &op) in b.ops.iter().enumerate() {
            f.shared
                .complete(vec![f.done(op, ExecKind::Read, i as u8, now, true)]);
        }
        assert_eq!(f.shared.stats().late_reads_kept, 2);
        assert!(
            f.shared.reap_late_read(b.ticket, 0, now).is_err(),
            "evicted"
        );
        assert_eq!(
            f.shared.reap_late_read(b.ticket, 2, now).unwrap(),
            IoOutcome::Read(vec![2; 512].into())
        );
        f.shared.discard_late(b.ticket);
        assert!(f.shared.reap_late_read(b.ticket, 1, now).is_err());
        assert_eq!(f.shared.stats(), EngineStats::default());
    }

    #[test]
    fn dropping_a_queue_parks_its_io_until_the_kernel_completes_it() {
        let f = fixture(limits());
        let b = f
            .begin(&[ExecKind::Read], Instant::now() + Duration::from_secs(60))
            .unwrap();
        f.shared.drop_queue(f.queue);
        let stats = f.shared.stats();
        assert_eq!((stats.in_flight, stats.parked), (1, 1));
        assert_eq!(stats.late_reads_in_flight, 0, "nobody can reap it");
        f.shared.complete(vec![f.done(
            b.ops[0],
            ExecKind::Read,
            1,
            Instant::now(),
            false,
        )]);
        assert_eq!(f.shared.stats(), EngineStats::default());
    }

    #[test]
    fn late_reads_of_collected_tickets_outlive_their_queue() {
        let f = fixture(limits());
        let b = f.begin(&[ExecKind::Read], Instant::now() + SHORT).unwrap();
        let got = f
            .shared
            .wait_any(f.queue, Instant::now() + Duration::from_secs(10));
        assert_eq!(got, vec![(b.ticket, vec![timed_out()])]);
        f.shared.drop_queue(f.queue);
        f.shared.complete(vec![f.done(
            b.ops[0],
            ExecKind::Read,
            4,
            Instant::now(),
            true,
        )]);
        assert_eq!(
            f.shared
                .reap_late_read(b.ticket, 0, Instant::now())
                .unwrap(),
            IoOutcome::Read(vec![4; 512].into())
        );
        assert_eq!(f.shared.stats(), EngineStats::default());
    }

    #[test]
    fn errors_are_outcomes() {
        let f = fixture(limits());
        let b = f
            .begin(&[ExecKind::Read], Instant::now() + Duration::from_secs(60))
            .unwrap();
        f.shared.complete(vec![f.done(
            b.ops[0],
            ExecKind::Read,
            1,
            Instant::now(),
            false,
        )]);
        assert_eq!(
            f.shared.wait_any(f.queue, Instant::now()),
            vec![(
                b.ticket,
                vec![IoOutcome::Failed(IoFailure::Error { errno: libc::EIO })]
            )]
        );
    }
}
