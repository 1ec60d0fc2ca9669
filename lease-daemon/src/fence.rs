//! The daemon's write fence: `lease_core::fence::WriteFence` on real devices.
//!
//! One [`DaemonFence`] per daemon (this host), owned by the executor
//! ([`IoExecutor::write_fence`](crate::exec::IoExecutor::write_fence)); [`drive`](crate::exec::drive)
//! runs every batch of every operation through it (seam contract rule 6). The decision (which
//! I/O waits behind which write) is lease-core's; this module only supplies disk identities
//! (device paths, as the device cache keys them), waits, and tells the fence what finished:
//! * a write that completes or fails before its deadline finishes with its batch;
//! * a write reported `TimedOut` is parked in the `lease_io` engine until the kernel completes
//!   it; the engine does not say which parked I/O completed, so such writes are finished
//!   together once the engine reports **no** parked I/O at all (conservative: another hung
//!   I/O of this daemon keeps our late writes fenced longer, never shorter);
//! * a batch abandoned by its caller (the `drive` future dropped) counts as timed out at its
//!   deadline.
//!
//! A batch none of whose I/O is admitted waits, polling every [`SETTLE_POLL`]; a daemon
//! restart starts with an empty fence, which is right because a process cannot exit before
//! the kernel has finished its direct I/O.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lease_core::fence::{WriteFence, WriteToken};
use lease_core::guard::Refusal;
use lease_core::seam::{FenceArea, Io, IoFailure, IoOutcome};
use lease_io::Device;

use crate::exec::IoExecutor;

/// Longest single wait of a fenced batch before the fence is looked at again.
pub const SETTLE_POLL: Duration = Duration::from_secs(1);

/// Slack between our deadline of a batch and the engine's own (computed a moment later).
const DEADLINE_SLACK: Duration = Duration::from_secs(1);

/// This daemon's writes that may still land (see the module docs).
#[derive(Debug)]
pub struct DaemonFence {
    state: Mutex<State>,
    changed: tokio::sync::Notify,
    engine: lease_io::Engine,
}

#[derive(Debug, Default)]
struct State {
    fence: WriteFence<PathBuf>,
    /// Writes whose batch ended without their completion (timed out, or abandoned), with the
    /// instant after which the engine has either completed or parked them.
    late: BTreeMap<WriteToken, Instant>,
}

/// Writes of one submitted batch, until their outcomes are known. Dropped early (the caller
/// abandoned `drive`), they count as late.
struct InFlight<'a> {
    fence: &'a DaemonFence,
    tokens: Vec<WriteToken>,
    settled_after: Instant,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.tokens.is_empty() {
            return;
        }
        let mut state = self.fence.lock();
        for token in self.tokens.drain(..) {
            state.late.insert(token, self.settled_after);
        }
    }
}

impl DaemonFence {
    /// The fence of a daemon whose I/O runs on `engine`.
    pub fn new(engine: lease_io::Engine) -> DaemonFence {
        DaemonFence {
            state: Mutex::new(State::default()),
            changed: tokio::sync::Notify::new(),
            engine,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes of this daemon that may still land.
    pub fn outstanding(&self) -> usize {
        self.lock().fence.outstanding()
    }

    /// Run the batch `ios` of an operation with fence `areas` on `exec`: what the fence admits
    /// is issued with `timeout`; if nothing is, wait until something is. I/O still held is
    /// reported `TimedOut` (never issued). `guard` is the deadline guard (seam contract rule
    /// 7), asked each time right before the fence is: if it refuses, nothing is issued and
    /// every I/O is reported `lease_core::guard::REFUSED`.
    pub async fn submit<E: IoExecutor + ?Sized, G: Fn() -> Result<(), Refusal>>(
        &self,
        areas: &[FenceArea],
        exec: &E,
        disks: &[Arc<Device>],
        ios: Vec<Io>,
        timeout: Duration,
        guard: G,
    ) -> Vec<IoOutcome> {
        let disk_of = |i: usize| disks.get(i).map(|d| d.path().to_path_buf());
        let mut issued = vec![false; ios.len()];
        let admitted = loop {
            let changed = self.changed.notified();
            if guard().is_err() {
                return vec![lease_core::guard::REFUSED; ios.len()];
            }
            let (admitted, late) = {
                let mut state = self.lock();
                let admitted = state.fence.admit(areas, &ios, disk_of, &mut issued);
                (admitted, state.late.clone())
            };
            if !admitted.is_empty() || ios.is_empty() {
                break admitted;
            }
            if late.is_empty() {
                // Held by a write of a concurrent operation that is still in flight.
                let _ = tokio::time::timeout(SETTLE_POLL, changed).await;
            } else {
                self.settle(late).await;
            }
        };
        let mut in_flight = InFlight {
            fence: self,
            tokens: admitted.iter().filter_map(|a| a.token).collect(),
            settled_after: Instant::now() + timeout + DEADLINE_SLACK,
        };
        let batch: Vec<Io> = admitted.iter().map(|a| ios[a.index].clone()).collect();
        let outcomes = exec.submit(disks, batch, timeout).await;
        in_flight.tokens.clear();
        {
            let mut state = self.lock();
            for (a, outcome) in admitted.iter().zip(&outcomes) {
                let Some(token) = a.token else { continue };
                if matches!(outcome, IoOutcome::Failed(IoFailure::TimedOut)) {
                    state.late.insert(token, Instant::now());
                } else {
                    state.fence.finished(token);
                }
            }
        }
        self.changed.notify_waiters();
        let mut all = vec![IoOutcome::Failed(IoFailure::TimedOut); ios.len()];
        for (a, outcome) in admitted.into_iter().zip(outcomes) {
            all[a.index] = outcome;
        }
        all
    }

    /// Wait up to [`SETTLE_POLL`] for the engine to hold no parked I/O; then every late write
    /// that was parked (or complete) before the wait started has completed.
    async fn settle(&self, late: BTreeMap<WriteToken, Instant>) {
        let start = Instant::now();
        let engine = self.engine.clone();
        let until = start + SETTLE_POLL;
        let stats = tokio::task::spawn_blocking(move || engine.wait_parked_at_most(0, until)).await;
        let Ok(stats) = stats else { return };
        if stats.parked != 0 {
            return;
        }
        {
            let mut state = self.lock();
            for (token, after) in late {
                if after <= start {
                    state.late.remove(&token);
                    state.fence.finished(token);
                }
            }
        }
        self.changed.notify_waiters();
        // Late writes whose deadline has not passed yet: look again shortly.
        if self.lock().late.values().any(|&after| after > start) {
            let wait = until.saturating_duration_since(Instant::now());
            tokio::time::sleep(wait.max(Duration::from_millis(10))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Reports the first write it sees `TimedOut` (as if it hung), everything else done;
    /// counts the I/O it was given.
    #[derive(Debug, Default)]
    struct FirstWriteHangs {
        writes: AtomicUsize,
        ios: AtomicUsize,
    }

    impl IoExecutor for FirstWriteHangs {
        async fn submit(
            &self,
            _disks: &[Arc<Device>],
            ios: Vec<Io>,
            _timeout: Duration,
        ) -> Vec<IoOutcome> {
            self.ios.fetch_add(ios.len(), Ordering::SeqCst);
            ios.iter()
                .map(|io| match io {
                    Io::Read { len, .. } => IoOutcome::Read(vec![0; *len as usize].into()),
                    Io::Write { .. } if self.writes.fetch_add(1, Ordering::SeqCst) == 0 => {
                        IoOutcome::Failed(IoFailure::TimedOut)
                    }
                    Io::Write { .. } => IoOutcome::Written,
                })
                .collect()
        }
    }

    /// A 4 MiB image, a fence on a thread engine, an executor whose first write hangs, and the
    /// fenced lease area at 1 MiB.
    fn fixture() -> (
        tempfile::TempDir,
        Vec<Arc<Device>>,
        DaemonFence,
        FirstWriteHangs,
        [FenceArea; 1],
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("disk");
        std::fs::write(&path, vec![0u8; 4 << 20]).expect("image");
        let device = Arc::new(Device::open(&path, lease_io::Access::ReadWrite).expect("open"));
        let disks = vec![device];
        let engine = lease_io::Engine::new(lease_io::EngineKind::Threads).expect("engine");
        let fence = DaemonFence::new(engine);
        let exec = FirstWriteHangs::default();
        let area = [FenceArea {
            disk: 0,
            offset: 1 << 20,
            len: 1 << 20,
        }];
        (dir, disks, fence, exec, area)
    }

    #[test]
    fn a_timed_out_write_stays_fenced_until_the_engine_holds_nothing_parked() {
        let (_dir, disks, fence, exec, area) = fixture();
        let leader = Io::Write {
            disk: 0,
            offset: 1 << 20,
            data: vec![0; 512],
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let timeout = Duration::from_secs(1);
            let out = fence
                .submit(&area, &exec, &disks, vec![leader], timeout, || Ok(()))
                .await;
            assert_eq!(out, vec![IoOutcome::Failed(IoFailure::TimedOut)]);
            assert_eq!(fence.outstanding(), 1, "the hung write may still land");
            // Another lease area is not fenced.
            let other = Io::Read {
                disk: 0,
                offset: 2 << 20,
                len: 512,
            };
            let out = fence
                .submit(&area, &exec, &disks, vec![other], timeout, || Ok(()))
                .await;
            assert!(matches!(out[0], IoOutcome::Read(_)));
            assert_eq!(fence.outstanding(), 1);
            // Our area is: the next batch is issued only once the fence has learnt that the
            // write finished (this engine holds no parked I/O, so at once here).
            let dblock = Io::Write {
                disk: 0,
                offset: (1 << 20) + 3 * 512,
                data: vec![0; 512],
            };
            let out = fence
                .submit(&area, &exec, &disks, vec![dblock], timeout, || Ok(()))
                .await;
            assert_eq!(out, vec![IoOutcome::Written]);
            assert_eq!(fence.outstanding(), 0);
            assert_eq!(exec.ios.load(Ordering::SeqCst), 3);
        });
    }

    #[test]
    fn a_batch_the_deadline_guard_refuses_is_never_issued() {
        let (_dir, disks, fence, exec, area) = fixture();
        let ios = vec![
            Io::Write {
                disk: 0,
                offset: 1 << 20,
                data: vec![0; 512],
            },
            Io::Read {
                disk: 0,
                offset: 1 << 20,
                len: 512,
            },
        ];
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let deadline = lease_core::time::MonoTime::from_secs(100);
            let expired = || {
                Err(Refusal::Expired {
                    now: deadline,
                    fail_deadline: deadline,
                })
            };
            let timeout = Duration::from_secs(1);
            let out = fence
                .submit(&area, &exec, &disks, ios, timeout, expired)
                .await;
            assert_eq!(out, vec![lease_core::guard::REFUSED; 2]);
            assert_eq!(exec.ios.load(Ordering::SeqCst), 0, "nothing issued");
            assert_eq!(fence.outstanding(), 0, "nothing registered");
        });
    }
}
