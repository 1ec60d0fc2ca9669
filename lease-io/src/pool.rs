//! [`BufPool`]: reusable aligned I/O buffers, so that reads in the steady state neither
//! allocate, zero nor free memory; [`PooledBuf`], a buffer taken from a pool.
//!
//! A fresh [`AlignedBuf`] of 1 MiB costs an `mmap`, 256 page faults while it is zeroed and a
//! `munmap` when it is freed, several times the `pread` it serves (docs/benchmarks.md). A pool
//! keeps buffers that were given back and hands them out again; a read's buffer then goes to
//! the protocol as a [`Bytes`] without a copy ([`PooledBuf::into_bytes`]), and comes back to
//! the pool when the last clone of those bytes is dropped.
//!
//! # Size classes and bounds
//!
//! A request for `len` bytes is served by a buffer of the *class* `len.next_power_of_two()`,
//! at least [`POOL_CLASS_MIN_BYTES`]; the buffer's view is exactly `len` bytes. Lease I/O
//! lengths are sectors (512, 4096) and areas (1, 2, 4, 8 MiB), so almost nothing is wasted.
//! Requests above [`POOL_CLASS_MAX_BYTES`] get an exact, unpooled buffer, freed on drop.
//!
//! Idle buffers are bounded, so the memory a quiet daemon keeps stays small:
//! * at most [`PoolLimits::idle_per_class_max`] per class and
//!   [`PoolLimits::idle_bytes_max`] bytes in all: a buffer given back to a full pool is freed;
//! * a buffer idle for longer than [`PoolLimits::idle_ttl`] is freed at the pool's next use
//!   (each class is a LIFO stack, so the buffers in steady use stay at the top and only the
//!   surplus of a past burst ages out), or at [`BufPool::trim`], which a long-running owner
//!   (the daemon calls it when the pool says one is due) so that a quiet process gives memory
//!   back. The default TTL ([`POOL_IDLE_TTL`]) keeps a burst's surplus for 5 s;
//! * except the most recently given back buffer of each class, which is kept for
//!   [`PoolLimits::idle_keep_ttl`]: a quiet daemon's renewal (every 20 s at the default
//!   io_timeout) reuses one buffer instead of mapping, faulting in and unmapping 1 MiB each
//!   time, and a class used once is still given back after a while.
//!
//! # Safety rules (asserted, not only documented)
//!
//! 1. **A buffer the kernel may still access is never pooled or reused.** A buffer is given
//!    back only by dropping its [`PooledBuf`], and every engine owns an I/O's `PooledBuf` until
//!    the kernel has completed the I/O (engine docs; a timed-out io_uring I/O stays *parked*
//!    until its CQE is reaped, and is leaked, never dropped, if the engine shuts down first).
//!    On top of that ownership argument, an I/O engine marks a buffer it hands to the kernel
//!    with [`PooledBuf::lend_to_kernel`] and unmarks it with [`PooledBuf::reclaim_from_kernel`]
//!    only once the completion is reaped; dropping a buffer still marked leaks it (it is never
//!    freed nor pooled) and then fails an assertion, since that is an engine bug.
//! 2. **Stale bytes never reach a protocol.** A reused buffer holds whatever its last I/O left
//!    there. Its bytes are exposed as read data only after a read that transferred its whole
//!    length ([`crate::Device::read_into`] returns `Ok` only then, and the io_uring engine only
//!    reports `Read` when the transferred count reached the length); a failed, short or
//!    timed-out read gives the buffer back without showing its bytes to anyone.
//! 3. All bytes are initialised: new buffers are zeroed once, when first allocated; reuse
//!    never goes through uninitialised memory.

use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::buf::{AlignedBuf, BufError, BUF_ALIGN_BYTES, SECTOR_SIZE_MIN_BYTES};

/// Smallest class: shorter requests (a 512-byte sector) are served by a 4096-byte buffer.
pub const POOL_CLASS_MIN_BYTES: usize = BUF_ALIGN_BYTES;

/// Largest pooled class (the engine's largest I/O, `engine::IO_BYTES_MAX`).
pub const POOL_CLASS_MAX_BYTES: usize = 16 << 20;

const CLASSES: usize =
    (POOL_CLASS_MAX_BYTES.trailing_zeros() - POOL_CLASS_MIN_BYTES.trailing_zeros()) as usize + 1;

const _: () = assert!(POOL_CLASS_MIN_BYTES.is_power_of_two());
const _: () = assert!(POOL_CLASS_MAX_BYTES.is_power_of_two());
const _: () = assert!(POOL_CLASS_MIN_BYTES.is_multiple_of(SECTOR_SIZE_MIN_BYTES));

/// Default [`PoolLimits::idle_per_class_max`]: eight concurrent area reads (eight clients
/// acquiring at once) are served from the pool.
pub const POOL_IDLE_PER_CLASS_MAX: usize = 8;

/// Default [`PoolLimits::idle_bytes_max`].
pub const POOL_IDLE_BYTES_MAX: usize = 8 << 20;

/// Default [`PoolLimits::idle_ttl`]: how long the surplus of a burst (many lockspaces joined
/// together, concurrent acquires) stays idle before it is freed. With [`BufPool::trim`]
/// called when due, memory returns within about this long of a burst.
pub const POOL_IDLE_TTL: Duration = Duration::from_secs(5);

/// Default [`PoolLimits::idle_keep_ttl`]: longer than the renewal interval (2 x io_timeout)
/// for every io_timeout up to 60 s, so that a daemon renewing one lockspace keeps the one
/// buffer its renewal reads into (mapping, faulting in and unmapping a fresh 1 MiB buffer
/// was a fifth of an idle daemon's CPU).
pub const POOL_IDLE_KEEP_TTL: Duration = Duration::from_secs(125);

/// Bounds on what a [`BufPool`] keeps idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// Most idle buffers of one size class.
    pub idle_per_class_max: usize,
    /// Most idle bytes over all classes.
    pub idle_bytes_max: usize,
    /// An idle buffer unused for longer than this is freed at the pool's next use...
    pub idle_ttl: Duration,
    /// ...unless it is the most recently given back of its class: that one is freed once
    /// idle for longer than this (at least `idle_ttl`).
    pub idle_keep_ttl: Duration,
}

impl Default for PoolLimits {
    fn default() -> PoolLimits {
        PoolLimits {
            idle_per_class_max: POOL_IDLE_PER_CLASS_MAX,
            idle_bytes_max: POOL_IDLE_BYTES_MAX,
            idle_ttl: POOL_IDLE_TTL,
            idle_keep_ttl: POOL_IDLE_KEEP_TTL,
        }
    }
}

/// Counters of a [`BufPool`] (since it was created).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Buffers idle in the pool now.
    pub idle_buffers: usize,
    /// Their bytes.
    pub idle_bytes: usize,
    /// Takes served by an idle buffer (no allocation).
    pub hits: u64,
    /// Takes that allocated (and zeroed) a new pooled buffer.
    pub misses: u64,
    /// Takes above [`POOL_CLASS_MAX_BYTES`], served unpooled.
    pub unpooled: u64,
    /// Buffers freed: given back to a full pool, or idle past the TTL.
    pub freed: u64,
    /// Buffers dropped while lent to the kernel: leaked, never freed (an engine bug).
    pub leaked: u64,
}

struct Idle {
    buf: AlignedBuf,
    since: Instant,
}

#[derive(Default)]
struct PoolState {
    /// Per class, oldest first (the top, the end, is reused first).
    classes: [Vec<Idle>; CLASSES],
    idle_bytes: usize,
    hits: u64,
    misses: u64,
    unpooled: u64,
    freed: u64,
}

/// A bounded pool of aligned buffers; see the module docs. Shared through an `Arc`.
pub struct BufPool {
    state: Mutex<PoolState>,
    limits: PoolLimits,
    leaked: AtomicU64,
}

static GLOBAL: LazyLock<Arc<BufPool>> = LazyLock::new(|| BufPool::new(PoolLimits::default()));

fn class_of(len: usize) -> Option<usize> {
    if len > POOL_CLASS_MAX_BYTES {
        return None;
    }
    let size = len.max(POOL_CLASS_MIN_BYTES).next_power_of_two();
    Some((size.trailing_zeros() - POOL_CLASS_MIN_BYTES.trailing_zeros()) as usize)
}

fn class_bytes(class: usize) -> usize {
    POOL_CLASS_MIN_BYTES << class
}

impl BufPool {
    /// A new, empty pool.
    pub fn new(limits: PoolLimits) -> Arc<BufPool> {
        Arc::new(BufPool {
            state: Mutex::new(PoolState::default()),
            limits,
            leaked: AtomicU64::new(0),
        })
    }

    /// The process-wide pool, with the default limits: what [`crate::Device::read_at`] and the
    /// engines use unless given another.
    pub fn global() -> &'static Arc<BufPool> {
        &GLOBAL
    }

    /// The pool's limits.
    pub fn limits(&self) -> PoolLimits {
        self.limits
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A buffer whose view is `len` bytes, aligned to [`BUF_ALIGN_BYTES`]. Its contents are
    /// initialised but unspecified (what the buffer's previous I/O left, or zeros): fill it
    /// completely before showing it to anyone (module docs, rule 2).
    ///
    /// Errors: [`BufError::BadLength`] if `len` is zero or not a multiple of 512;
    /// [`BufError::TooLarge`] / [`BufError::OutOfMemory`] if a new buffer cannot be allocated.
    pub fn take(self: &Arc<Self>, len: usize) -> Result<PooledBuf, BufError> {
        if len == 0 || !len.is_multiple_of(SECTOR_SIZE_MIN_BYTES) {
            return Err(BufError::BadLength { len });
        }
        let Some(class) = class_of(len) else {
            self.lock().unpooled += 1;
            return Ok(PooledBuf::new(AlignedBuf::zeroed(len)?, len, None));
        };
        let now = Instant::now();
        let (reused, expired) = {
            let mut state = self.lock();
            let expired = self.expire(&mut state, now);
            let reused = state.classes[class].pop().map(|idle| idle.buf);
            match &reused {
                Some(buf) => {
                    state.idle_bytes -= buf.len();
                    state.hits += 1;
                }
                None => state.misses += 1,
            }
            (reused, expired)
        };
        drop(expired);
        let buf = match reused {
            Some(buf) => buf,
            None => AlignedBuf::zeroed(class_bytes(class))?,
        };
        assert_eq!(buf.len(), class_bytes(class));
        Ok(PooledBuf::new(buf, len, Some(Arc::clone(self))))
    }

    /// A buffer holding a copy of `data` (for writes of unaligned data).
    ///
    /// Errors: as [`BufPool::take`] with `len = data.len()`.
    pub fn take_copy(self: &Arc<Self>, data: &[u8]) -> Result<PooledBuf, BufError> {
        let mut buf = self.take(data.len())?;
        buf.copy_from_slice(data);
        Ok(buf)
    }

    /// What the pool holds and has done.
    pub fn stats(&self) -> PoolStats {
        let state = self.lock();
        PoolStats {
            idle_buffers: state.classes.iter().map(Vec::len).sum(),
            idle_bytes: state.idle_bytes,
            hits: state.hits,
            misses: state.misses,
            unpooled: state.unpooled,
            freed: state.freed,
            leaked: self.leaked.load(Ordering::Relaxed),
        }
    }

    /// Frees every idle buffer.
    pub fn clear(&self) {
        let dropped: Vec<Idle> = {
            let mut state = self.lock();
            let dropped: Vec<Idle> = state.classes.iter_mut().flat_map(|c| c.drain(..)).collect();
            state.idle_bytes = 0;
            state.freed += dropped.len() as u64;
            dropped
        };
        drop(dropped);
    }

    /// Frees the buffers idle for longer than their TTL now (without waiting for the pool's
    /// next use). Returns how many were freed, and how long until the next idle buffer's TTL
    /// runs out (`None`: nothing idle), so that an owner can call it again exactly then.
    pub fn trim(&self) -> (usize, Option<Duration>) {
        let now = Instant::now();
        let (expired, next_due) = {
            let mut state = self.lock();
            let expired = self.expire(&mut state, now);
            (expired, self.next_expiry(&state, now))
        };
        // Freed outside the lock (`munmap`).
        let freed = expired.len();
        drop(expired);
        (freed, next_due)
    }

    /// How long until the first idle buffer's TTL runs out.
    fn next_expiry(&self, state: &PoolState, now: Instant) -> Option<Duration> {
        state
            .classes
            .iter()
            .filter_map(|class| {
                let (top, rest) = class.split_last()?;
                // A class is a LIFO stack, oldest first: its first buffer expires first.
                let until = |idle: &Idle, ttl: Duration| {
                    ttl.saturating_sub(now.saturating_duration_since(idle.since))
                };
                Some(match rest.first() {
                    Some(oldest) => until(oldest, self.limits.idle_ttl),
                    None => until(top, self.limits.idle_keep_ttl.max(self.limits.idle_ttl)),
                })
            })
            .min()
    }

    /// Takes the buffers idle for longer than the TTL out of the pool (the caller frees them
    /// after unlocking: `munmap` under the lock would stall every other I/O).
    fn expire(&self, state: &mut PoolState, now: Instant) -> Vec<Idle> {
        let mut expired = Vec::new();
        let PoolState {
            classes,
            idle_bytes,
            freed,
            ..
        } = state;
        let keep_ttl = self.limits.idle_keep_ttl.max(self.limits.idle_ttl);
        for class in classes.iter_mut() {
            let idle_for = |idle: &Idle| now.saturating_duration_since(idle.since);
            let mut old = class
                .iter()
                .take_while(|idle| idle_for(idle) > self.limits.idle_ttl)
                .count();
            // The most recently given back buffer of the class lives for the keep TTL.
            if old == class.len() && class.last().is_some_and(|top| idle_for(top) <= keep_ttl) {
                old -= 1;
            }
            if old > 0 {
                for idle in class.drain(..old) {
                    *idle_bytes -= idle.buf.len();
                    *freed += 1;
                    expired.push(idle);
                }
            }
        }
        expired
    }

    /// Takes back a buffer nobody (and no kernel) accesses any more; frees it if the pool is
    /// full.
    fn give_back(&self, buf: AlignedBuf) {
        let class = class_of(buf.len()).expect("pooled buffers have a class");
        assert_eq!(buf.len(), class_bytes(class));
        assert!(buf.as_ptr().addr().is_multiple_of(BUF_ALIGN_BYTES));
        let now = Instant::now();
        let (refused, expired) = {
            let mut state = self.lock();
            let expired = self.expire(&mut state, now);
            let fits = state.classes[class].len() < self.limits.idle_per_class_max
                && state.idle_bytes + buf.len() <= self.limits.idle_bytes_max;
            let refused = if fits {
                state.idle_bytes += buf.len();
                state.classes[class].push(Idle { buf, since: now });
                None
            } else {
                state.freed += 1;
                Some(buf)
            };
            (refused, expired)
        };
        drop(refused);
        drop(expired);
    }
}

impl fmt::Debug for BufPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufPool")
            .field("limits", &self.limits)
            .field("stats", &self.stats())
            .finish()
    }
}

/// A buffer taken from a [`BufPool`] (or an unpooled one, for requests above the largest
/// class): `len()` bytes aligned to [`BUF_ALIGN_BYTES`], given back to its pool when dropped.
/// See the module docs for the rules.
pub struct PooledBuf {
    /// Always `Some` until dropped.
    buf: Option<AlignedBuf>,
    len: usize,
    /// `None`: an unpooled buffer, freed on drop.
    pool: Option<Arc<BufPool>>,
    /// Handed to the kernel by an I/O engine and not yet reclaimed (module docs, rule 1).
    lent: bool,
}

impl PooledBuf {
    fn new(buf: AlignedBuf, len: usize, pool: Option<Arc<BufPool>>) -> PooledBuf {
        assert!(len > 0 && len <= buf.len());
        PooledBuf {
            buf: Some(buf),
            len,
            pool,
            lent: false,
        }
    }

    /// Length of the view in bytes (a non-zero multiple of 512).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false` (at least one sector).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Bytes of the underlying allocation (the size class), at least `len()`.
    pub fn capacity(&self) -> usize {
        self.aligned().len()
    }

    fn aligned(&self) -> &AlignedBuf {
        self.buf.as_ref().expect("present until dropped")
    }

    /// Hands the bytes over without a copy: the returned `Bytes` owns this buffer, which goes
    /// back to its pool when the last clone of the `Bytes` is dropped. Only call this on a
    /// buffer whose whole length was just filled by a successful read (module docs, rule 2).
    pub fn into_bytes(self) -> Bytes {
        assert!(
            !self.lent,
            "a buffer lent to the kernel cannot become read data"
        );
        Bytes::from_owner(self)
    }

    /// Marks the buffer as handed to the kernel (an SQE references it). Until
    /// [`PooledBuf::reclaim_from_kernel`], dropping it leaks it and fails an assertion.
    pub fn lend_to_kernel(&mut self) {
        assert!(!self.lent, "buffer lent to the kernel twice");
        self.lent = true;
    }

    /// Marks the buffer as no longer accessed by the kernel (its completion was reaped).
    pub fn reclaim_from_kernel(&mut self) {
        assert!(self.lent, "reclaiming a buffer that was not lent");
        self.lent = false;
    }

    /// Whether the buffer is marked as lent to the kernel.
    pub fn is_lent(&self) -> bool {
        self.lent
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        let Some(buf) = self.buf.take() else {
            return;
        };
        if self.lent {
            // The kernel may still write into this memory: never free or reuse it.
            let _leaked = ManuallyDrop::new(buf);
            if let Some(pool) = &self.pool {
                pool.leaked.fetch_add(1, Ordering::Relaxed);
            }
            if !std::thread::panicking() {
                panic!("an I/O buffer was dropped while lent to the kernel (leaked, not reused)");
            }
            return;
        }
        match &self.pool {
            Some(pool) => pool.give_back(buf),
            None => drop(buf),
        }
    }
}

impl Deref for PooledBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.aligned()[..self.len]
    }
}

impl DerefMut for PooledBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        let len = self.len;
        &mut self.buf.as_mut().expect("present until dropped")[..len]
    }
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl AsMut<[u8]> for PooledBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        self
    }
}

impl PartialEq for PooledBuf {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for PooledBuf {}

impl PartialEq<[u8]> for PooledBuf {
    fn eq(&self, other: &[u8]) -> bool {
        **self == *other
    }
}

impl PartialEq<AlignedBuf> for PooledBuf {
    fn eq(&self, other: &AlignedBuf) -> bool {
        **self == **other
    }
}

impl fmt::Debug for PooledBuf {
    /// The length, the class and the first 16 bytes only (buffers are up to 16 MiB).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledBuf")
            .field("len", &self.len)
            .field("capacity", &self.capacity())
            .field("pooled", &self.pool.is_some())
            .field("lent", &self.lent)
            .field("head", &&self[..self.len.min(16)])
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_limits() -> PoolLimits {
        PoolLimits {
            idle_per_class_max: 2,
            idle_bytes_max: 3 << 20,
            idle_ttl: Duration::from_secs(3600),
            idle_keep_ttl: Duration::from_secs(3600),
        }
    }

    #[test]
    fn classes_cover_sectors_and_areas() {
        assert_eq!(class_of(512), Some(0));
        assert_eq!(class_of(4096), Some(0));
        assert_eq!(class_of(4096 + 512), Some(1));
        assert_eq!(class_bytes(class_of(1 << 20).unwrap()), 1 << 20);
        assert_eq!(class_of(POOL_CLASS_MAX_BYTES), Some(CLASSES - 1));
        assert_eq!(class_of(POOL_CLASS_MAX_BYTES + 512), None);
    }

    #[test]
    fn a_given_back_buffer_is_reused_without_allocating() {
        let pool = BufPool::new(small_limits());
        let mut a = pool.take(1 << 20).unwrap();
        assert_eq!(a.len(), 1 << 20);
        assert!(a.as_ptr().addr().is_multiple_of(BUF_ALIGN_BYTES));
        a.fill(0xA5);
        let addr = a.as_ptr().addr();
        drop(a);
        assert_eq!(pool.stats().idle_buffers, 1);
        for _ in 0..100 {
            let b = pool.take(1 << 20).unwrap();
            assert_eq!(
                b.as_ptr().addr(),
                addr,
                "the same memory is handed out again"
            );
            drop(b);
        }
        let stats = pool.stats();
        assert_eq!((stats.misses, stats.hits, stats.freed), (1, 100, 0));
        // A shorter request of the same class shares the buffer, with a shorter view.
        let c = pool.take(3 << 18).unwrap();
        assert_eq!((c.len(), c.capacity()), (3 << 18, 1 << 20));
        assert_eq!(c.as_ptr().addr(), addr);
    }

    #[test]
    fn read_bytes_give_the_buffer_back_when_the_last_clone_drops() {
        let pool = BufPool::new(small_limits());
        let mut buf = pool.take(4096).unwrap();
        buf.fill(7);
        let addr = buf.as_ptr().addr();
        let bytes = buf.into_bytes();
        assert_eq!(bytes.as_ptr().addr(), addr, "no copy");
        assert_eq!(bytes.len(), 4096);
        let clone = bytes.slice(512..1024);
        drop(bytes);
        assert_eq!(pool.stats().idle_buffers, 0, "a clone still holds it");
        assert!(clone.iter().all(|&b| b == 7));
        drop(clone);
        assert_eq!(pool.stats().idle_buffers, 1);
        assert_eq!(pool.take(512).unwrap().as_ptr().addr(), addr);
    }

    #[test]
    fn idle_memory_is_bounded_per_class_in_bytes_and_in_time() {
        let pool = BufPool::new(small_limits());
        let bufs: Vec<_> = (0..5).map(|_| pool.take(1 << 20).unwrap()).collect();
        drop(bufs);
        let stats = pool.stats();
        assert_eq!((stats.idle_buffers, stats.idle_bytes), (2, 2 << 20));
        assert_eq!(stats.freed, 3);
        // The byte bound: a 2 MiB buffer does not fit next to 2 MiB of idle 1 MiB buffers.
        drop(pool.take(2 << 20).unwrap());
        assert_eq!(pool.stats().idle_bytes, 2 << 20);
        assert_eq!(pool.stats().freed, 4);

        let pool = BufPool::new(PoolLimits {
            idle_ttl: Duration::ZERO,
            idle_keep_ttl: Duration::ZERO,
            ..small_limits()
        });
        drop(pool.take(4096).unwrap());
        assert_eq!(pool.stats().idle_buffers, 1);
        // Any later use frees what has been idle for longer than the TTL (here: anything that
        // is not brand new; the clock only needs to have moved).
        let start = Instant::now();
        while Instant::now() == start {
            std::hint::spin_loop();
        }
        drop(pool.take(1 << 20).unwrap());
        let stats = pool.stats();
        assert_eq!(
            stats.misses, 2,
            "the expired 4 KiB buffer was not reused for 1 MiB"
        );
        assert_eq!(stats.idle_buffers, 1, "{stats:?}");
        assert_eq!(stats.idle_bytes, 1 << 20, "{stats:?}");
        // `trim` frees what has been idle for longer than the TTL without any use.
        let given_back = Instant::now();
        while Instant::now() == given_back {
            std::hint::spin_loop();
        }
        assert_eq!(pool.trim(), (1, None));
        assert_eq!(pool.stats().idle_buffers, 0);
        assert_eq!(pool.trim(), (0, None));
        drop(pool.take(4096).unwrap());
        pool.clear();
        assert_eq!(pool.stats().idle_buffers, 0);
    }

    #[test]
    fn trim_keeps_buffers_younger_than_the_ttl() {
        let pool = BufPool::new(PoolLimits {
            idle_ttl: Duration::from_secs(3600),
            ..small_limits()
        });
        drop(pool.take(1 << 20).unwrap());
        let (freed, next_due) = pool.trim();
        assert_eq!(freed, 0);
        assert!(next_due.is_some_and(|due| due > Duration::from_secs(3500)));
        assert_eq!(pool.stats().idle_buffers, 1);
    }

    #[test]
    fn the_last_buffer_of_a_class_outlives_the_ttl_until_the_keep_ttl() {
        let pool = BufPool::new(PoolLimits {
            idle_ttl: Duration::ZERO,
            idle_keep_ttl: Duration::from_secs(3600),
            ..small_limits()
        });
        // A burst of two area reads and one sector read, then quiet.
        let burst = [
            pool.take(1 << 20).unwrap(),
            pool.take(1 << 20).unwrap(),
            pool.take(4096).unwrap(),
        ];
        let kept = burst[1].as_ptr().addr();
        drop(burst);
        let given_back = Instant::now();
        while Instant::now() == given_back {
            std::hint::spin_loop();
        }
        // The surplus 1 MiB buffer goes (at a give-back or here); the last one given back of
        // each class stays.
        let (_, next_due) = pool.trim();
        assert!(next_due.is_some_and(|due| due > Duration::from_secs(3500)));
        let stats = pool.stats();
        assert_eq!(stats.freed, 1);
        assert_eq!(
            (stats.idle_buffers, stats.idle_bytes),
            (2, (1 << 20) + 4096)
        );
        // The next renewal's read reuses it: no allocation.
        let again = pool.take(1 << 20).unwrap();
        assert_eq!(again.as_ptr().addr(), kept);
        assert_eq!(pool.stats().misses, 3);
        drop(again);
        // Past the keep TTL it goes too.
        let pool = BufPool::new(PoolLimits {
            idle_ttl: Duration::ZERO,
            idle_keep_ttl: Duration::ZERO,
            ..small_limits()
        });
        drop(pool.take(1 << 20).unwrap());
        let given_back = Instant::now();
        while Instant::now() == given_back {
            std::hint::spin_loop();
        }
        assert_eq!(pool.trim(), (1, None));
    }

    #[test]
    fn oversized_requests_are_served_unpooled_and_bad_lengths_refused() {
        let pool = BufPool::new(small_limits());
        let big = pool.take(POOL_CLASS_MAX_BYTES + 4096).unwrap();
        assert_eq!(big.capacity(), POOL_CLASS_MAX_BYTES + 4096);
        drop(big);
        let stats = pool.stats();
        assert_eq!((stats.unpooled, stats.idle_buffers), (1, 0));
        for len in [0, 1, 511, 513] {
            assert_eq!(pool.take(len).err(), Some(BufError::BadLength { len }));
        }
        assert_eq!(pool.take_copy(&[1; 1024]).unwrap()[..], [1; 1024][..]);
    }

    #[test]
    fn a_buffer_dropped_while_lent_to_the_kernel_is_leaked_not_reused() {
        let pool = BufPool::new(small_limits());
        let mut buf = pool.take(4096).unwrap();
        buf.lend_to_kernel();
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(buf)));
        assert!(
            dropped.is_err(),
            "dropping a lent buffer fails an assertion"
        );
        let stats = pool.stats();
        assert_eq!((stats.leaked, stats.idle_buffers), (1, 0));
        // Lent then reclaimed: an ordinary give-back.
        let mut buf = pool.take(4096).unwrap();
        buf.lend_to_kernel();
        assert!(buf.is_lent());
        buf.reclaim_from_kernel();
        drop(buf);
        assert_eq!(pool.stats().idle_buffers, 1);
    }

    #[test]
    fn pool_and_buffers_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<BufPool>();
        check::<PooledBuf>();
    }
}
