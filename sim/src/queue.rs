//! The discrete-event scheduler: a priority queue ordered by (true time, sequence number).
//!
//! Events scheduled for the same true time run in the order they were scheduled, so ties are
//! broken deterministically without consulting the PRNG or any hash order.
//!
//! **Invariant:** popped keys strictly increase (time never goes backwards, and the sequence
//! number separates equal times); an event can never be scheduled in the past.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::clock::TrueTime;

/// Upper bound on pending events; hitting it means a runaway workload (a bug), not load.
pub const EVENTS_PENDING_MAX: usize = 50_000_000;

struct Entry<E> {
    at: TrueTime,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse to pop the earliest (time, seq) first.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Pending events of one world.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    seq_next: u64,
    now: TrueTime,
}

impl<E> std::fmt::Debug for EventQueue<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventQueue")
            .field("pending", &self.heap.len())
            .field("now", &self.now)
            .finish()
    }
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            seq_next: 0,
            now: TrueTime::ZERO,
        }
    }
}

impl<E> EventQueue<E> {
    /// Schedule `event` at `at` (not before the time of the last popped event).
    pub fn schedule(&mut self, at: TrueTime, event: E) {
        assert!(
            at >= self.now,
            "event scheduled in the past: {at} < {}",
            self.now
        );
        assert!(self.heap.len() < EVENTS_PENDING_MAX, "event queue overflow");
        let seq = self.seq_next;
        self.seq_next += 1;
        self.heap.push(Entry { at, seq, event });
    }

    /// Time of the earliest pending event.
    pub fn peek_time(&self) -> Option<TrueTime> {
        self.heap.peek().map(|e| e.at)
    }

    /// Remove and return the earliest event; advances the queue's notion of now.
    pub fn pop(&mut self) -> Option<(TrueTime, E)> {
        let entry = self.heap.pop()?;
        assert!(entry.at >= self.now);
        self.now = entry.at;
        Some((entry.at, entry.event))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_pop_in_schedule_order() {
        let mut q = EventQueue::default();
        q.schedule(TrueTime::from_millis(5), "b1");
        q.schedule(TrueTime::from_millis(3), "a");
        q.schedule(TrueTime::from_millis(5), "b2");
        q.schedule(TrueTime::from_millis(5), "b3");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["a", "b1", "b2", "b3"]);
    }
}
