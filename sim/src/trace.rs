//! The run's trace: every event, folded into a running hash, with the recent tail kept.
//!
//! Each [`TraceEvent`] is encoded compactly (little-endian fields, label bytes) and folded into
//! an FNV-1a 64-bit hash. Two runs with the same seed, configuration and code produce the same
//! sequence of events and so the same hash; a run prints its seed and hash, which is how
//! determinism is checked and how a failing seed is identified. The last [`TAIL_MAX`] events
//! are kept for violation reports; a full copy is kept only when asked (tests).

use std::collections::VecDeque;
use std::fmt;

use crate::clock::TrueTime;
use crate::ids::HostIndex;

/// Events kept for reports.
pub const TAIL_MAX: usize = 64;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64 of `bytes`, continuing from `hash`.
pub fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// FNV-style mix of `words` (one multiply per word), seeded with `seed`.
pub fn fnv1a_words(seed: u64, words: &[u64]) -> u64 {
    let mut hash = FNV_OFFSET ^ seed;
    for &word in words {
        hash = (hash ^ word).wrapping_mul(FNV_PRIME);
    }
    hash
}

/// A cheap 64-bit digest of a data buffer for the trace (FNV-1a over 8-byte words).
pub fn data_digest(bytes: &[u8]) -> u64 {
    let mut hash = FNV_OFFSET ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        hash = (hash ^ word).wrapping_mul(FNV_PRIME);
    }
    fnv1a(hash, chunks.remainder())
}

/// What happened. The meaning of `a`, `b`, `c` is given per variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TraceKind {
    /// Host booted: a = clock origin ms, b = drift ppm (as u64 two's complement), c = boot count.
    Boot,
    /// Host crashed or was reset: a = writes lost (sectors), b = sectors landed at the crash.
    Crash,
    /// Watchdog fired (followed by a Crash).
    WatchdogFire,
    /// Pause started: a = duration ms, b = 1 if the whole host froze (watchdog too).
    PauseStart,
    /// Pause ended: a = deferred deliveries released.
    PauseEnd,
    /// Storage path lost: a = duration ms, b = 1 if I/O hangs (queued), 0 if it fails.
    PathLost,
    /// Storage path restored.
    PathRestored,
    /// Clock step: a = ms, b = 1 forward jump, 0 freeze.
    ClockStep,
    /// Task started (label = operation name): a = task id.
    TaskStart,
    /// Read issued: a = io id, b = disk, c = offset.
    ReadIssue,
    /// Write issued: a = io id, b = offset (disk in label-free form), c = data digest.
    WriteIssue,
    /// A read sampled the disk (finished sampling): a = io id, b = data digest.
    ReadSampled,
    /// One sector of a write landed: a = io id, b = disk, c = sector index.
    SectorLanded,
    /// One sector of a write will never land: a = io id, b = disk, c = sector index.
    SectorLost,
    /// The issuer heard of an I/O: a = io id, b = 0 ok / errno.
    IoCompleted,
    /// A task resumed after I/O: a = task id, b = I/Os in batch, c = how many timed out.
    IoResume,
    /// A task sleeps: a = task id, b = local target ms.
    Sleep,
    /// A task woke: a = task id, b = local now ms.
    Woke,
    /// A task finished (label = operation name): a = task id.
    TaskDone,
    /// Workload annotation: label and numbers chosen by the workload.
    Note,
    /// The write fence (`lease_core::fence`) holds I/O of a task behind a write of its host
    /// that may still land: a = task id, b = I/Os held, c = I/Os in the batch. With c > b the
    /// rest was issued and the held ones are reported timed out, never issued.
    FenceHold,
    /// The lockspace deadline guard (`lease_core::guard`) refused a batch of a resource
    /// operation: none of it was issued. a = task id, b = I/Os in the batch, c = the host's
    /// fail deadline (local ms; 0: the lockspace is not live or holds another generation).
    GuardRefuse,
}

/// One trace entry.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceEvent {
    pub at: TrueTime,
    pub host: Option<HostIndex>,
    pub kind: TraceKind,
    pub label: &'static str,
    pub a: u64,
    pub b: u64,
    pub c: u64,
}

impl TraceEvent {
    fn encode_into(&self, hash: u64) -> u64 {
        let mut buf = [0u8; 8 + 4 + 1 + 24];
        buf[..8].copy_from_slice(&self.at.as_millis().to_le_bytes());
        let host = self.host.map_or(u32::MAX, |h| h.0);
        buf[8..12].copy_from_slice(&host.to_le_bytes());
        buf[12] = self.kind as u8;
        buf[13..21].copy_from_slice(&self.a.to_le_bytes());
        buf[21..29].copy_from_slice(&self.b.to_le_bytes());
        buf[29..37].copy_from_slice(&self.c.to_le_bytes());
        let hash = fnv1a(hash, &buf);
        fnv1a(hash, self.label.as_bytes())
    }
}

impl fmt::Debug for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>12} ", self.at)?;
        match self.host {
            Some(h) => write!(f, "{:>6} ", h)?,
            None => write!(f, "{:>6} ", "-")?,
        }
        let (a, b, c) = (self.a, self.b, self.c);
        match self.kind {
            TraceKind::Boot => write!(f, "boot #{c} clock@{a}ms drift {}ppm", b as i64),
            TraceKind::Crash => write!(f, "CRASH: {a} sectors lost, {b} landed at crash"),
            TraceKind::WatchdogFire => write!(f, "WATCHDOG fired"),
            TraceKind::PauseStart => {
                let what = if b == 1 {
                    "host frozen"
                } else {
                    "process paused"
                };
                write!(f, "PAUSE {a}ms ({what})")
            }
            TraceKind::PauseEnd => write!(f, "resume after pause ({a} deliveries released)"),
            TraceKind::PathLost => {
                let how = if b == 1 { "I/O hangs" } else { "I/O fails" };
                write!(f, "PATH LOST for {a}ms ({how})")
            }
            TraceKind::PathRestored => write!(f, "path restored"),
            TraceKind::ClockStep => {
                let how = if b == 1 { "jumps forward" } else { "freezes" };
                write!(f, "CLOCK {how} {a}ms")
            }
            TraceKind::TaskStart => write!(f, "task {a} start {}", self.label),
            TraceKind::ReadIssue => write!(f, "io {a} read disk {b} @{c} {}", self.label),
            TraceKind::WriteIssue => write!(f, "io {a} write @{b} data {c:016x} {}", self.label),
            TraceKind::ReadSampled => write!(f, "io {a} read sampled data {b:016x}"),
            TraceKind::SectorLanded => write!(f, "io {a} landed disk {b} sector {c}"),
            TraceKind::SectorLost => write!(f, "io {a} LOST disk {b} sector {c}"),
            TraceKind::IoCompleted => match b {
                0 => write!(f, "io {a} completed ok"),
                errno => write!(f, "io {a} completed errno {errno}"),
            },
            TraceKind::IoResume => write!(f, "task {a} resumed: {b} I/Os, {c} timed out"),
            TraceKind::Sleep => write!(f, "task {a} sleeps until local {b}ms"),
            TraceKind::Woke => write!(f, "task {a} woke at local {b}ms"),
            TraceKind::TaskDone => write!(f, "task {a} done {}", self.label),
            TraceKind::Note => write!(f, "{} a={a} b={b} c={c}", self.label),
            TraceKind::FenceHold if b == c => {
                write!(f, "task {a} fenced: {b} I/Os wait for a late write of ours")
            }
            TraceKind::FenceHold => {
                write!(f, "task {a} fenced: {b} of {c} I/Os dropped (never issued)")
            }
            TraceKind::GuardRefuse if c == 0 => write!(
                f,
                "task {a} refused: {b} I/Os not issued, lockspace not live for its generation"
            ),
            TraceKind::GuardRefuse => write!(
                f,
                "task {a} refused: {b} I/Os not issued, past our fail deadline {c}ms"
            ),
        }
    }
}

impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The trace of one run.
#[derive(Debug)]
pub struct Trace {
    hash: u64,
    count: u64,
    tail: VecDeque<TraceEvent>,
    all: Option<Vec<TraceEvent>>,
}

impl Trace {
    /// A trace that keeps only the hash and the tail, or (`keep_all`) every event too.
    pub fn new(keep_all: bool) -> Trace {
        Trace {
            hash: FNV_OFFSET,
            count: 0,
            tail: VecDeque::with_capacity(TAIL_MAX),
            all: keep_all.then(Vec::new),
        }
    }

    pub fn push(&mut self, event: TraceEvent) {
        self.hash = event.encode_into(self.hash);
        self.count += 1;
        if self.tail.len() == TAIL_MAX {
            self.tail.pop_front();
        }
        self.tail.push_back(event);
        if let Some(all) = &mut self.all {
            all.push(event);
        }
    }

    /// The running hash over every event so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The last `n` events (at most [`TAIL_MAX`]), oldest first.
    pub fn tail(&self, n: usize) -> Vec<TraceEvent> {
        let skip = self.tail.len().saturating_sub(n);
        self.tail.iter().skip(skip).copied().collect()
    }

    /// Every event, if the trace was created with `keep_all`.
    pub fn all(&self) -> Option<&[TraceEvent]> {
        self.all.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_reference_vectors() {
        assert_eq!(fnv1a(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(FNV_OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn hash_depends_on_every_field_and_tail_is_bounded() {
        let ev = TraceEvent {
            at: TrueTime::from_millis(1),
            host: Some(HostIndex(2)),
            kind: TraceKind::Note,
            label: "x",
            a: 1,
            b: 2,
            c: 3,
        };
        let mut t1 = Trace::new(false);
        let mut t2 = Trace::new(false);
        t1.push(ev);
        t2.push(TraceEvent { c: 4, ..ev });
        assert_ne!(t1.hash(), t2.hash());
        for _ in 0..200 {
            t1.push(ev);
        }
        assert_eq!(t1.tail(1000).len(), TAIL_MAX);
        assert_eq!(t1.count(), 201);
    }
}
