//! Joined lockspaces: acquiring our host_id, renewing it, watching the other hosts.
//!
//! One tokio task per lockspace runs the `lease-core` delta-lease operations through the
//! daemon's driver ([`crate::exec::drive`]): [`DeltaAcquire`] once, then [`DeltaRenew`] every
//! `id_renewal_seconds`, feeding each renewal's read of the whole area to the [`HostTable`].
//!
//! **Invariants**
//! * A lockspace whose renewals have not succeeded for `id_renewal_fail_seconds` (8·io), or
//!   whose renewal read shows a corrupt or foreign record, is `Failed` and is never renewed
//!   again: a late success cannot revive it (its lease holders are being killed).
//! * Our delta lease is released on removal only if the last renewal succeeded (spec §4.4).
//! * A join's `DeltaAcquire` runs through the daemon's write fence, which holds it (on our
//!   slot) until every earlier write of this daemon there finished: a release of a previous
//!   join that timed out never lands over the new record (finding L, `docs/sim.md`). A join
//!   waiting there is ended by `rem_lockspace` like any other.
//! * At most one lockspace per name; a second add of the same name is refused (-EEXIST).

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lease_core::delta_lease::{
    DeltaAcquire, DeltaConfig, DeltaError, DeltaRelease, DeltaRenew, HeldDeltaLease, OutgoingEvent,
};
use lease_core::geometry::Geometry;
use lease_core::host_table::{HostState, HostTable};
use lease_core::ondisk::{
    HostBitmap, LeaderError, LeaderRecord, Name, DELTA_LEASE_MAGIC, VERSION_MAJOR_MASK,
};
use lease_core::seam::{Io, IoOutcome};
use lease_core::time::MonoTime;
use lease_core::timeouts::Timeouts;
use lease_io::Device;
use tokio::sync::watch;

use crate::exec::{drive, now, sleep_until, IoExecutor};
use crate::DaemonError;
use lease_core::guard::Membership;

/// Renewal records kept per lockspace (sanlock's renewal_history_size default).
pub const RENEWAL_HISTORY_MAX: usize = 180;

/// Where a lockspace lives and which slot we take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockspaceSpec {
    pub name: Name,
    pub host_id: u64,
    pub path: PathBuf,
    pub offset: u64,
}

/// Lifecycle of a joined lockspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Acquiring our host_id (delta waits in progress).
    Adding,
    /// Renewing.
    Live,
    /// Renewal lost (too old, or corrupt): lease holders must be killed; never renewed again.
    Failed { reason: String },
    /// Being removed (releasing the host_id).
    Removing,
}

/// One renewal attempt, for `sanlock client renewal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenewalRecord {
    /// On-disk timestamp written (0 if the attempt failed).
    pub timestamp: u64,
    pub read_ms: u64,
    pub write_ms: u64,
    /// sanlock error number of a failed attempt, 0 on success.
    pub result: i32,
}

/// What clients may read about a lockspace.
#[derive(Clone, Debug)]
pub struct LockspaceView {
    pub spec: LockspaceSpec,
    pub phase: Phase,
    pub geometry: Option<Geometry>,
    pub io_timeout_seconds: u32,
    pub held: Option<HeldDeltaLease>,
    pub host_table: Option<Arc<HostTable>>,
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    geometry: Option<Geometry>,
    held: Option<HeldDeltaLease>,
    host_table: Option<Arc<HostTable>>,
    history: VecDeque<RenewalRecord>,
    /// Hosts we are notifying (their bit in our bitmap) and since when: a bit stays set for
    /// set_bitmap_seconds (spec §4.5).
    notify: BTreeMap<u64, MonoTime>,
    /// The outgoing host event carried by our renewals (spec §4.5).
    event: OutgoingEvent,
    /// When we last examined our resources because host X had our bit set.
    examined_for: BTreeMap<u64, MonoTime>,
    /// Our bit was seen set by some host: our resources must be examined (requests).
    examine_pending: bool,
    /// When the outgoing event was set (it may be replaced only after set_bitmap_seconds).
    event_set_at: Option<MonoTime>,
    /// Connections registered for host events (reg_event).
    listeners: Vec<tokio::sync::mpsc::Sender<HostEventMsg>>,
    /// Last event delivered from each host (so each is delivered once).
    delivered: BTreeMap<u64, (u64, u64, u64, u64)>,
}

/// A host event delivered to listeners: (our host_id, generation, event, data) from
/// (host_id, generation) of the sender (spec §4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostEventMsg {
    pub host_id: u64,
    pub generation: u64,
    pub event: u64,
    pub data: u64,
    pub from_host_id: u64,
    pub from_generation: u64,
}

/// Most undelivered events queued per listener.
pub const EVENT_QUEUE_MAX: usize = 64;

/// A lockspace this daemon has joined (or is joining).
#[derive(Debug)]
pub struct Lockspace {
    pub spec: LockspaceSpec,
    pub timeouts: Timeouts,
    our_name: Name,
    inner: Mutex<Inner>,
    stop: watch::Sender<bool>,
    device: Arc<Device>,
    /// The highest generation this daemon has used in this slot before (see `DeltaConfig`).
    previous_generation: u64,
    /// Wakes the daemon's supervisor: notified whenever this lockspace fails or its resources
    /// must be examined, the only events the supervisor acts on (it has no periodic tick).
    attention: Arc<tokio::sync::Notify>,
}

impl Lockspace {
    pub fn new(
        spec: LockspaceSpec,
        timeouts: Timeouts,
        our_name: Name,
        device: Arc<Device>,
        previous_generation: u64,
        attention: Arc<tokio::sync::Notify>,
    ) -> Arc<Lockspace> {
        let (stop, _) = watch::channel(false);
        Arc::new(Lockspace {
            spec,
            timeouts,
            our_name,
            inner: Mutex::new(Inner {
                phase: Phase::Adding,
                geometry: None,
                held: None,
                host_table: None,
                history: VecDeque::new(),
                notify: BTreeMap::new(),
                event: OutgoingEvent::default(),
                examined_for: BTreeMap::new(),
                examine_pending: false,
                event_set_at: None,
                listeners: Vec::new(),
                delivered: BTreeMap::new(),
            }),
            stop,
            device,
            previous_generation,
            attention,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("lockspace state lock")
    }

    pub fn view(&self) -> LockspaceView {
        let inner = self.lock();
        LockspaceView {
            spec: self.spec.clone(),
            phase: inner.phase.clone(),
            geometry: inner.geometry,
            io_timeout_seconds: self.timeouts.io_timeout_seconds,
            held: inner.held.clone(),
            host_table: inner.host_table.clone(),
        }
    }

    pub fn phase(&self) -> Phase {
        self.lock().phase.clone()
    }

    pub fn renewal_history(&self) -> Vec<RenewalRecord> {
        self.lock().history.iter().copied().collect()
    }

    /// State of every host seen in the lockspace (ours included once joined).
    pub fn host_states(&self) -> Vec<(u64, HostState, u64, u64)> {
        let inner = self.lock();
        let (Some(table), Some(_)) = (&inner.host_table, &inner.held) else {
            return Vec::new();
        };
        let at = now();
        table
            .records()
            .filter(|r| r.timestamp != 0 || r.host_id == self.spec.host_id)
            .map(|r| {
                (
                    r.host_id,
                    table.state(r.host_id, at),
                    r.timestamp,
                    r.generation,
                )
            })
            .collect()
    }

    fn disks(&self) -> Vec<Arc<Device>> {
        vec![self.device.clone()]
    }

    fn fail(&self, reason: String) {
        self.set_failed(&mut self.lock(), reason);
    }

    /// The one way into `Phase::Failed`: the supervisor is woken to kill the holders.
    fn set_failed(&self, inner: &mut Inner, reason: String) {
        if !matches!(inner.phase, Phase::Failed { .. }) {
            inner.phase = Phase::Failed { reason };
            self.attention.notify_one();
        }
    }

    /// Sizes discovery (spec §4.1): the first record names the geometry.
    async fn discover_geometry(&self, exec: &impl IoExecutor) -> Result<Geometry, DaemonError> {
        let io = Io::Read {
            disk: 0,
            offset: self.spec.offset,
            len: 4096,
        };
        let mut out = exec
            .submit(&self.disks(), vec![io], self.timeouts.io_timeout())
            .await;
        let bytes = match out.pop() {
            Some(IoOutcome::Read(bytes)) => bytes,
            Some(IoOutcome::Failed(why)) => return Err(DaemonError::Io(format!("{why:?}"))),
            _ => return Err(DaemonError::Io("no read result".into())),
        };
        let first =
            LeaderRecord::decode(&bytes).map_err(|_| DaemonError::Io("short read".into()))?;
        if first.magic != DELTA_LEASE_MAGIC {
            return Err(DaemonError::Leader(LeaderError::Magic {
                found: first.magic,
                expected: DELTA_LEASE_MAGIC,
            }));
        }
        if first.version & VERSION_MAJOR_MASK
            != lease_core::ondisk::DELTA_LEASE_VERSION & VERSION_MAJOR_MASK
        {
            return Err(DaemonError::Leader(LeaderError::Version {
                found: first.version,
                expected: lease_core::ondisk::DELTA_LEASE_VERSION,
            }));
        }
        let geometry = Geometry::from_leader(first.flags, first.sector_size)
            .map_err(|_| DaemonError::Sizes)?;
        if self.spec.host_id == 0 || self.spec.host_id > geometry.max_hosts() {
            return Err(DaemonError::InvalidHostId {
                host_id: self.spec.host_id,
                max_hosts: geometry.max_hosts(),
            });
        }
        Ok(geometry)
    }

    /// Join: discover sizes, acquire our host_id. On success the lockspace is `Live` and the
    /// caller must start [`Lockspace::renewal_loop`].
    pub async fn join(&self, exec: &impl IoExecutor) -> Result<(), DaemonError> {
        let result = self.join_inner(exec).await;
        if let Err(err) = &result {
            self.fail(err.to_string());
        }
        result
    }

    async fn join_inner(&self, exec: &impl IoExecutor) -> Result<(), DaemonError> {
        let geometry = self.discover_geometry(exec).await?;
        self.lock().geometry = Some(geometry);
        let config = DeltaConfig {
            geometry,
            lockspace_offset: self.spec.offset,
            space_name: self.spec.name,
            host_id: self.spec.host_id,
            our_name: self.our_name,
            timeouts: self.timeouts,
            previous_generation: self.previous_generation,
        };
        let mut stop = self.stop.subscribe();
        let disks = self.disks();
        let mut acquire = DeltaAcquire::new(config);
        let held = tokio::select! {
            held = drive(&mut acquire, exec, &disks) => held?,
            _ = stop.wait_for(|s| *s) => return Err(DaemonError::Removed),
        };
        let mut table = HostTable::new(geometry, self.spec.host_id, self.timeouts);
        // A first observation right away, so clients see the other hosts as soon as we join.
        let area = Io::Read {
            disk: 0,
            offset: self.spec.offset,
            len: geometry.area_bytes(),
        };
        if let Some(IoOutcome::Read(bytes)) = exec
            .submit(&self.disks(), vec![area], self.timeouts.io_timeout())
            .await
            .pop()
        {
            table.observe(now(), &bytes);
        }
        let mut inner = self.lock();
        inner.history.push_back(RenewalRecord {
            timestamp: held.last_written.timestamp,
            read_ms: 0,
            write_ms: 0,
            result: 0,
        });
        inner.held = Some(held);
        inner.host_table = Some(Arc::new(table));
        inner.phase = Phase::Live;
        Ok(())
    }

    /// Renew every id_renewal_seconds until removed or failed.
    pub async fn renewal_loop(self: Arc<Self>, exec: Arc<impl IoExecutor + 'static>) {
        let mut stop = self.stop.subscribe();
        loop {
            let Some(held) = self.lock().held.clone() else {
                return;
            };
            if !matches!(self.phase(), Phase::Live) {
                return;
            }
            // Renew when due; after a failed attempt, retry every half second.
            let due = if held.last_renewal_ok {
                held.renewal_due()
            } else {
                now().saturating_add(Duration::from_millis(500))
            };
            let wake = due.min(held.fail_deadline());
            tokio::select! {
                _ = sleep_until(wake) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if now() > held.fail_deadline() {
                self.fail(format!(
                    "no successful renewal for {} s",
                    self.timeouts.id_renewal_fail_seconds()
                ));
                return;
            }
            let started = now();
            let (event, bitmap) = self.outgoing(started);
            let mut renew = DeltaRenew::new(held.clone(), event, bitmap);
            let timed = crate::exec::Timed::new(exec.as_ref());
            let disks = self.disks();
            let result = tokio::select! {
                r = drive(&mut renew, &timed, &disks) => r,
                // A renewal stuck past our fail deadline must not keep us waiting: fail now.
                _ = sleep_until(held.fail_deadline()) => {
                    self.fail("renewal I/O did not complete before the fail deadline".into());
                    return;
                }
            };
            let (read_ms, write_ms) = timed.first_two_ms();
            if now() > held.fail_deadline() {
                // Too late: a success now would be built on a stale view.
                self.fail(format!(
                    "renewal completed after the fail deadline (started {started})"
                ));
                return;
            }
            let mut inner = self.lock();
            match result {
                Ok(renewed) => {
                    // Updated in place: the table (a record per host slot, 2000 with 512-byte
                    // sectors) is copied only if a reader still holds the previous version
                    // (a `view()` being used by an acquire), never on every renewal.
                    let mut table = inner.host_table.take().unwrap_or_else(|| {
                        Arc::new(HostTable::new(
                            held.config.geometry,
                            self.spec.host_id,
                            self.timeouts,
                        ))
                    });
                    Arc::make_mut(&mut table).observe(renewed.lease.last_success, &renewed.area);
                    self.note_our_bit(&mut inner, &table, renewed.lease.last_success);
                    inner.host_table = Some(table);
                    let timestamp = renewed.lease.last_written.timestamp;
                    inner.held = Some(renewed.lease);
                    push_history(
                        &mut inner.history,
                        RenewalRecord {
                            timestamp,
                            read_ms,
                            write_ms,
                            result: 0,
                        },
                    );
                }
                Err(failed) => {
                    let corrupt = failed.error.is_corrupt();
                    let result = failed.error.sanlock_errno();
                    push_history(
                        &mut inner.history,
                        RenewalRecord {
                            timestamp: 0,
                            read_ms,
                            write_ms,
                            result,
                        },
                    );
                    inner.held = Some(failed.lease);
                    if corrupt {
                        self.set_failed(&mut inner, failed.error.to_string());
                        return;
                    }
                }
            }
        }
    }

    /// Stop renewing and release our host_id if the last renewal succeeded.
    pub async fn remove(&self, exec: &impl IoExecutor) -> Result<(), DeltaError> {
        let held = {
            let mut inner = self.lock();
            let was_live = matches!(inner.phase, Phase::Live);
            inner.phase = Phase::Removing;
            if was_live {
                inner.held.clone()
            } else {
                None
            }
        };
        self.stop.send_replace(true);
        match held {
            Some(held) if held.last_renewal_ok => {
                drive(&mut DeltaRelease::new(held), exec, &self.disks()).await
            }
            _ => Ok(()),
        }
    }

    /// Our membership now, for the deadline guard (`lease_core::guard`): live with the fail
    /// deadline of our last successful renewal while the lockspace is `Live`, else gone.
    pub fn membership(&self) -> Membership {
        let inner = self.lock();
        Membership::of(inner.held.as_ref(), inner.phase == Phase::Live)
    }

    /// Local time of the next fail deadline (for supervision).
    pub fn fail_deadline(&self) -> Option<MonoTime> {
        self.lock().held.as_ref().map(HeldDeltaLease::fail_deadline)
    }
}

impl Lockspace {
    /// Set `host_id`'s bit in our bitmap for set_bitmap_seconds from now (a request or an
    /// event for it, spec §4.5).
    pub fn notify_host(&self, host_id: u64) {
        if host_id != self.spec.host_id && host_id != 0 {
            self.lock().notify.insert(host_id, now());
        }
    }

    /// The event and bitmap our next renewal writes; expired bits are dropped.
    fn outgoing(&self, at: MonoTime) -> (OutgoingEvent, HostBitmap) {
        let keep = Duration::from_secs(self.timeouts.set_bitmap_seconds());
        let mut inner = self.lock();
        inner
            .notify
            .retain(|_, since| at.saturating_since(*since) < keep);
        let mut bitmap = HostBitmap::default();
        for host_id in inner.notify.keys() {
            let _ = bitmap.set(*host_id);
        }
        (inner.event, bitmap)
    }

    /// After a renewal read: if a host has our bit set, our resources are examined, at most
    /// once per set_bitmap_seconds per host (spec §4.5).
    fn note_our_bit(&self, inner: &mut Inner, table: &HostTable, at: MonoTime) {
        let every = Duration::from_secs(self.timeouts.set_bitmap_seconds());
        for record in table
            .records()
            .filter(|r| r.our_bit_set && r.host_id != self.spec.host_id)
        {
            // A host event for us: delivered once to every listener (spec §4.5).
            let key = (
                record.generation,
                record.write_id,
                record.write_generation,
                record.write_timestamp,
            );
            if record.write_generation != 0 && inner.delivered.get(&record.host_id) != Some(&key) {
                inner.delivered.insert(record.host_id, key);
                let msg = HostEventMsg {
                    host_id: self.spec.host_id,
                    generation: record.write_id,
                    event: record.write_generation,
                    data: record.write_timestamp,
                    from_host_id: record.host_id,
                    from_generation: record.generation,
                };
                inner.listeners.retain(|l| !l.is_closed());
                for listener in &inner.listeners {
                    let _ = listener.try_send(msg);
                }
            }
            let due = inner
                .examined_for
                .get(&record.host_id)
                .is_none_or(|t| at.saturating_since(*t) >= every);
            if due {
                inner.examined_for.insert(record.host_id, at);
                inner.examine_pending = true;
                self.attention.notify_one();
            }
        }
    }

    /// Whether our resources must be examined now (clears the flag).
    pub fn take_examine(&self) -> bool {
        std::mem::take(&mut self.lock().examine_pending)
    }

    /// Ask for our resources to be examined (sanlock's `examine`).
    pub fn request_examine(&self) {
        self.lock().examine_pending = true;
        self.attention.notify_one();
    }

    /// Register a listener for host events (reg_event).
    pub fn listen(&self) -> tokio::sync::mpsc::Receiver<HostEventMsg> {
        let (tx, rx) = tokio::sync::mpsc::channel(EVENT_QUEUE_MAX);
        self.lock().listeners.push(tx);
        rx
    }

    /// Drop every listener (end_event).
    pub fn end_listeners(&self) {
        self.lock().listeners.clear();
    }

    /// set_event (spec §4.5): publish `event` in our renewals and set the bits of `targets`
    /// for set_bitmap_seconds. A different event while one is still being published fails
    /// with -EBUSY unless `replace`.
    pub fn set_event(
        &self,
        event: OutgoingEvent,
        targets: &[u64],
        replace: bool,
    ) -> Result<(), DaemonError> {
        let keep = Duration::from_secs(self.timeouts.set_bitmap_seconds());
        let at = now();
        let mut inner = self.lock();
        let active = inner
            .event_set_at
            .is_some_and(|t| at.saturating_since(t) < keep)
            && inner.event.event != 0;
        if active && inner.event != event && event.event != 0 && !replace {
            return Err(DaemonError::Busy);
        }
        if event.event != 0 {
            inner.event = event;
            inner.event_set_at = Some(at);
        }
        for &host_id in targets
            .iter()
            .filter(|&&h| h != self.spec.host_id && h != 0)
        {
            inner.notify.insert(host_id, at);
        }
        Ok(())
    }

    /// Clear our outgoing event and/or the bits of `targets` (SANLK_SETEV_CLEAR_*).
    pub fn clear_event(&self, clear_event: bool, targets: &[u64]) {
        let mut inner = self.lock();
        if clear_event {
            inner.event = OutgoingEvent::default();
            inner.event_set_at = None;
        }
        for host_id in targets {
            inner.notify.remove(host_id);
        }
    }
}

fn push_history(history: &mut VecDeque<RenewalRecord>, record: RenewalRecord) {
    if history.len() == RENEWAL_HISTORY_MAX {
        history.pop_front();
    }
    history.push_back(record);
}
