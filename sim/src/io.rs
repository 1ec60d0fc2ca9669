//! The three-time I/O model: issue, land, complete.
//!
//! `Core::issue_io` draws everything about an I/O when it is issued (latency, hang, error,
//! read sampling window, torn-write landing order) and schedules its events:
//! * reads: `ReadBegin` (sampling starts) → `ReadEnd` (sampling done) → `IoComplete`;
//! * writes: one `SectorLand` per sector, each at its own instant inside the torn-write window,
//!   → `IoComplete` no earlier than the last landing.
//!
//! The issuer's deadline is separate (`BatchDeadline` in `world`): it may pass first, and the
//! I/O then keeps going. Path loss is applied when an event fires: a hanging path postpones
//! the event to the path's return, a failed path makes the I/O fail and its unlanded sectors
//! never land. A crash resolves every unlanded sector of the host at once
//! (`Core::abandon_host_ios`).
//!
//! **Invariants:** a successful write completes only after all its sectors landed; each
//! sector lands at most once, whole; an I/O record is removed only when it has completed (or
//! its host crashed) and no sector or sampling is pending.

use lease_core::fence::WriteToken;
use lease_core::seam::{Bytes, Io, IoFailure, IoOutcome, Operation};

use crate::clock::TrueTime;
use crate::host::{Delivery, Wait};
use crate::ids::{DiskId, HostIndex, IoId, TaskId};
use crate::trace::{data_digest, TraceKind};
use crate::world::{Core, Event};

pub(crate) const EIO: i32 = 5;
pub(crate) const EINVAL: i32 = 22;

/// Where one sector of a write stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SectorState {
    Pending,
    Landed,
    Lost,
}

#[derive(Debug)]
pub(crate) enum Kind {
    Read {
        len: u64,
        /// Between ReadBegin and ReadEnd.
        sampling: bool,
        /// ReadEnd happened (`data` holds the result until completion takes it).
        sampled: bool,
        /// Sampling lasts this long from ReadBegin (drawn at issue).
        window_ms: u64,
        /// Completion follows ReadEnd after this long (drawn at issue).
        delay_ms: u64,
        data: Option<Vec<u8>>,
    },
    Write {
        data: Vec<u8>,
        sector_size: u64,
        sectors: Vec<SectorState>,
    },
}

/// One issued I/O that has not fully resolved.
#[derive(Debug)]
pub(crate) struct InFlight {
    pub host: HostIndex,
    /// The batch slot this I/O answers, while its issuer still waits for it.
    pub owner: Option<(TaskId, u64, usize)>,
    pub disk: DiskId,
    pub offset: u64,
    pub kind: Kind,
    pub error: Option<i32>,
    pub completed: bool,
    /// A write's registration in its host's write fence, until it fully resolved.
    pub fence_token: Option<WriteToken>,
}

impl InFlight {
    fn pending_sectors(&self) -> bool {
        match &self.kind {
            Kind::Read { sampled, .. } => self.error.is_none() && !*sampled,
            Kind::Write { sectors, .. } => sectors.contains(&SectorState::Pending),
        }
    }
}

/// An I/O completion that its issuer still waits for.
#[derive(Debug)]
pub(crate) struct IoDone {
    pub host: HostIndex,
    /// (task, batch sequence number, index in the batch).
    pub slot: (TaskId, u64, usize),
    pub outcome: IoOutcome,
}

/// What the path lets an I/O event do.
enum Gate {
    Proceed,
    Postponed,
    Failed,
}

/// The state of a host's path.
enum PathVerdict {
    Ok,
    Hang(TrueTime),
    Fail,
}

impl<O: Operation> Core<O> {
    fn path_verdict(&self, host: HostIndex) -> PathVerdict {
        match self.hosts[host.as_usize()].path {
            None => PathVerdict::Ok,
            Some(loss) if loss.hang => PathVerdict::Hang(loss.until),
            Some(_) => PathVerdict::Fail,
        }
    }

    /// Issue `io` for slot `index` of batch `seq` of `task` (a write with its registration in
    /// the host's write fence); returns its id.
    pub(crate) fn issue_io(
        &mut self,
        host: HostIndex,
        owner: (TaskId, u64, usize),
        io: &Io,
        disks: &[DiskId],
        fence_token: Option<WriteToken>,
    ) -> IoId {
        let id = IoId(self.io_id_next);
        self.io_id_next += 1;
        self.stats.io_count += 1;
        let now = self.now;
        let (disk, offset, len) = match io {
            Io::Read { disk, offset, len } => (*disk, *offset, *len),
            Io::Write { disk, offset, data } => (*disk, *offset, data.len() as u64),
        };
        let world_disk = disks.get(disk).copied();
        let valid = world_disk.is_some_and(|d| self.disks[d].is_valid_range(offset, len));
        let world_disk = world_disk.unwrap_or(usize::MAX);
        let (kind, label) = match io {
            Io::Read { .. } => (
                Kind::Read {
                    len,
                    sampling: false,
                    sampled: false,
                    window_ms: 0,
                    delay_ms: 0,
                    data: None,
                },
                TraceKind::ReadIssue,
            ),
            Io::Write { data, .. } => {
                let sector_size = if valid {
                    self.disks[world_disk].sector_size()
                } else {
                    len.max(1)
                };
                let count = (len / sector_size).max(1) as usize;
                (
                    Kind::Write {
                        data: data.clone(),
                        sector_size,
                        sectors: vec![SectorState::Lost; count],
                    },
                    TraceKind::WriteIssue,
                )
            }
        };
        let mut rec = InFlight {
            host,
            owner: Some(owner),
            disk: world_disk,
            offset,
            kind,
            error: None,
            completed: false,
            fence_token,
        };
        match &rec.kind {
            Kind::Read { .. } => self.trace(Some(host), label, "", id.0, disk as u64, offset),
            Kind::Write { data, .. } => {
                let digest = data_digest(data);
                self.trace(Some(host), label, "", id.0, offset, digest)
            }
        }
        let complete_at = if !valid {
            rec.error = Some(EINVAL);
            Some(now)
        } else {
            self.schedule_io(id, &mut rec)
        };
        if let Some(at) = complete_at {
            self.queue.schedule(at, Event::IoComplete(id));
        }
        self.hosts[host.as_usize()].inflight.insert(id);
        self.ios.insert(id, rec);
        id
    }

    /// Draw the I/O's timing and faults and schedule its land events; returns its completion
    /// time, or `None` for a read that will schedule its completion when sampling ends.
    fn schedule_io(&mut self, id: IoId, rec: &mut InFlight) -> Option<TrueTime> {
        let f = &self.faults;
        let (lat_min, lat_mean, lat_max) = match rec.kind {
            Kind::Read { .. } => (
                f.read_latency_ms_min,
                f.read_latency_ms_mean,
                f.read_latency_ms_max,
            ),
            Kind::Write { .. } => (
                f.write_latency_ms_min,
                f.write_latency_ms_mean,
                f.write_latency_ms_max,
            ),
        };
        let (hang_p, hang_min, hang_max) =
            (f.io_hang_probability, f.io_hang_ms_min, f.io_hang_ms_max);
        let (error_p, error_land_p) = (
            f.io_error_probability,
            f.error_write_sector_land_probability,
        );
        let (read_window_max, torn_max, delay_max) = (
            f.read_sample_window_ms_max,
            f.torn_write_window_ms_max,
            f.completion_delay_ms_max,
        );
        let mut latency = self.rng.latency_ms(lat_min, lat_mean, lat_max);
        if self.rng.chance(hang_p) {
            latency += self.rng.range_u64(hang_min, hang_max);
            self.stats.hang_count += 1;
        }
        let begin = self.now.plus_ms(latency);
        if let PathVerdict::Fail = self.path_verdict(rec.host) {
            rec.error = Some(EIO);
            return Some(begin);
        }
        if self.rng.chance(error_p) {
            rec.error = Some(EIO);
        }
        let delay = self.rng.range_u64(0, delay_max);
        match &mut rec.kind {
            Kind::Read {
                window_ms,
                delay_ms,
                ..
            } => {
                if rec.error.is_some() {
                    return Some(begin.plus_ms(delay));
                }
                *window_ms = self.rng.range_u64(0, read_window_max);
                *delay_ms = delay;
                // ReadBegin schedules ReadEnd, which schedules IoComplete: postponing one
                // (hanging path) postpones the rest.
                self.queue.schedule(begin, Event::ReadBegin(id));
                None
            }
            Kind::Write { sectors, .. } => {
                let window = if sectors.len() > 1 {
                    self.rng.range_u64(0, torn_max)
                } else {
                    0
                };
                let mut last = begin;
                for (k, state) in sectors.iter_mut().enumerate() {
                    if rec.error.is_some() && !self.rng.chance(error_land_p) {
                        *state = SectorState::Lost;
                        continue;
                    }
                    *state = SectorState::Pending;
                    let at = begin.plus_ms(self.rng.range_u64(0, window));
                    last = last.max(at);
                    let k = u32::try_from(k).expect("sector count fits u32");
                    self.queue.schedule(at, Event::SectorLand(id, k));
                }
                Some(last.plus_ms(delay))
            }
        }
    }

    /// Apply the path state to an I/O event firing now. A hanging path postpones the event
    /// to the path's return; a failed path kills the whole I/O: EIO for the issuer, every
    /// unlanded sector lost, sampling abandoned. `None` if the I/O no longer exists.
    fn path_gate(&mut self, id: IoId, event: Event) -> Option<Gate> {
        let host = self.ios.get(&id)?.host;
        match self.path_verdict(host) {
            PathVerdict::Ok => Some(Gate::Proceed),
            PathVerdict::Hang(until) => {
                self.queue.schedule(until, event);
                Some(Gate::Postponed)
            }
            PathVerdict::Fail => {
                self.kill_io(id);
                Some(Gate::Failed)
            }
        }
    }

    /// The I/O fails with EIO (path failure): nothing more of it lands or is sampled.
    fn kill_io(&mut self, id: IoId) {
        let rec = self.ios.get_mut(&id).expect("present");
        rec.error = Some(EIO);
        let (host, disk, offset) = (rec.host, rec.disk, rec.offset);
        let mut lost = Vec::new();
        match &mut rec.kind {
            Kind::Read { sampling, .. } => {
                if std::mem::take(sampling) {
                    self.disks[disk].abandon_read(id);
                }
            }
            Kind::Write {
                sector_size,
                sectors,
                ..
            } => {
                for (k, state) in sectors.iter_mut().enumerate() {
                    if *state == SectorState::Pending {
                        *state = SectorState::Lost;
                        lost.push(offset / *sector_size + k as u64);
                    }
                }
            }
        }
        for sector in lost {
            self.trace(
                Some(host),
                TraceKind::SectorLost,
                "",
                id.0,
                disk as u64,
                sector,
            );
        }
    }

    pub(crate) fn on_read_begin(&mut self, id: IoId) {
        let Some(Gate::Proceed) = self.path_gate(id, Event::ReadBegin(id)) else {
            return;
        };
        let rec = self.ios.get(&id).expect("present");
        if rec.error.is_some() {
            return;
        }
        let Kind::Read { len, window_ms, .. } = rec.kind else {
            unreachable!("ReadBegin for a write")
        };
        let (disk, offset) = (rec.disk, rec.offset);
        let buf = if len >= 64 * 1024 && self.disks[disk].is_sparse(offset, len) {
            None
        } else {
            Some(self.read_buffer(len))
        };
        self.disks[disk].begin_read(id, offset, len, buf);
        let rec = self.ios.get_mut(&id).expect("present");
        let Kind::Read { sampling, .. } = &mut rec.kind else {
            unreachable!()
        };
        *sampling = true;
        let end = self.now.plus_ms(window_ms);
        self.queue.schedule(end, Event::ReadEnd(id));
    }

    pub(crate) fn on_read_end(&mut self, id: IoId) {
        let Some(rec) = self.ios.get(&id) else { return };
        let Kind::Read { sampling, .. } = rec.kind else {
            unreachable!("ReadEnd for a write")
        };
        if !sampling {
            return; // its path failed before or during sampling
        }
        let (disk, host) = (rec.disk, rec.host);
        if let Some(Gate::Proceed) = self.path_gate(id, Event::ReadEnd(id)) {
            let (buf, digest) = self.disks[disk].end_read(id);
            let rec = self.ios.get_mut(&id).expect("present");
            let Kind::Read {
                sampling,
                sampled,
                data,
                delay_ms,
                ..
            } = &mut rec.kind
            else {
                unreachable!()
            };
            *sampling = false;
            *sampled = true;
            *data = Some(buf);
            let complete_at = self.now.plus_ms(*delay_ms);
            self.queue.schedule(complete_at, Event::IoComplete(id));
            self.trace(Some(host), TraceKind::ReadSampled, "", id.0, digest, 0);
        }
        self.maybe_retire(id);
    }

    pub(crate) fn on_sector_land(&mut self, id: IoId, k: u32) {
        let pending = self.ios.get(&id).is_some_and(|rec| match &rec.kind {
            Kind::Write { sectors, .. } => sectors[k as usize] == SectorState::Pending,
            Kind::Read { .. } => unreachable!("SectorLand for a read"),
        });
        if !pending {
            return;
        }
        if let Some(Gate::Proceed) = self.path_gate(id, Event::SectorLand(id, k)) {
            let rec = self.ios.get_mut(&id).expect("present");
            let Kind::Write {
                data,
                sector_size,
                sectors,
            } = &mut rec.kind
            else {
                unreachable!()
            };
            let k = k as usize;
            sectors[k] = SectorState::Landed;
            let sector_index = rec.offset / *sector_size + k as u64;
            let start = k * *sector_size as usize;
            let bytes = &data[start..start + *sector_size as usize];
            self.disks[rec.disk].land_sector(sector_index, bytes, &mut self.rng);
            let (host, disk) = (rec.host, rec.disk as u64);
            self.last_host = Some(host);
            self.trace(
                Some(host),
                TraceKind::SectorLanded,
                "",
                id.0,
                disk,
                sector_index,
            );
        }
        self.maybe_retire(id);
    }

    /// The issuer hears of the I/O. Returns the batch slot to update, if the issuer waits.
    pub(crate) fn on_io_complete(&mut self, id: IoId) -> Option<IoDone> {
        if let Gate::Postponed = self.path_gate(id, Event::IoComplete(id))? {
            return None;
        }
        let rec = self.ios.get_mut(&id).expect("present");
        // Landing and sampling precede completion, also when a hanging path postponed them:
        // a read's completion is scheduled by its ReadEnd, and a write's sectors were
        // postponed before (so to no later than) its completion.
        assert!(
            !rec.pending_sectors(),
            "I/O {id:?} completes before it took effect"
        );
        rec.completed = true;
        let outcome = match (rec.error, &mut rec.kind) {
            (Some(errno), _) => IoOutcome::Failed(IoFailure::Error { errno }),
            (None, Kind::Read { data, .. }) => {
                IoOutcome::Read(Bytes::from(data.take().expect("sampled")))
            }
            (None, Kind::Write { .. }) => IoOutcome::Written,
        };
        let host = rec.host;
        let owner = rec.owner.take();
        let errno = rec.error.unwrap_or(0);
        self.trace(
            Some(host),
            TraceKind::IoCompleted,
            "",
            id.0,
            errno as u64,
            0,
        );
        self.maybe_retire(id);
        owner.map(|slot| IoDone {
            host,
            slot,
            outcome,
        })
    }

    fn maybe_retire(&mut self, id: IoId) {
        let Some(rec) = self.ios.get(&id) else { return };
        if rec.completed && !rec.pending_sectors() {
            let (host, token) = (rec.host, rec.fence_token);
            self.ios.remove(&id);
            let h = &mut self.hosts[host.as_usize()];
            h.inflight.remove(&id);
            if let Some(token) = token {
                // Nothing of this write can land any more: offer the host's fenced batches to
                // the fence again (seam contract rule 6).
                assert!(h.fence.finished(token), "a write leaves the fence once");
                let fenced: Vec<TaskId> = h
                    .tasks
                    .iter()
                    .filter(|(_, t)| matches!(t.wait, Wait::Fenced { .. }))
                    .map(|(&task, _)| task)
                    .collect();
                for task in fenced {
                    self.deliver_now(host, Delivery::Unfence(task));
                }
            }
        }
    }

    /// The issuer no longer waits for this I/O (its batch was delivered without it).
    pub(crate) fn orphan_io(&mut self, id: IoId) {
        if let Some(rec) = self.ios.get_mut(&id) {
            rec.owner = None;
        }
    }

    /// `host` was reset: every unlanded sector of its writes lands now (with probability
    /// `crash_write_land_probability`, and only if its path is up) or is lost; reads are
    /// dropped. Returns (sectors lost, sectors landed).
    pub(crate) fn abandon_host_ios(&mut self, host: HostIndex) -> (u64, u64) {
        let ids: Vec<IoId> = std::mem::take(&mut self.hosts[host.as_usize()].inflight)
            .into_iter()
            .collect();
        // The reset cuts the path: once the sectors below are resolved, nothing of this
        // incarnation can land any more.
        self.hosts[host.as_usize()].fence.reset();
        let land_p = self.faults.crash_write_land_probability;
        let path_up = self.hosts[host.as_usize()].path.is_none();
        let (mut lost, mut landed) = (0, 0);
        for id in ids {
            let mut rec = self.ios.remove(&id).expect("inflight is consistent");
            match &mut rec.kind {
                Kind::Read { sampling, .. } => {
                    if *sampling {
                        self.disks[rec.disk].abandon_read(id);
                    }
                }
                Kind::Write {
                    data,
                    sector_size,
                    sectors,
                } => {
                    for (k, state) in sectors.iter_mut().enumerate() {
                        if *state != SectorState::Pending {
                            continue;
                        }
                        let sector_index = rec.offset / *sector_size + k as u64;
                        if path_up && self.rng.chance(land_p) {
                            *state = SectorState::Landed;
                            let start = k * *sector_size as usize;
                            let bytes = &data[start..start + *sector_size as usize];
                            self.disks[rec.disk].land_sector(sector_index, bytes, &mut self.rng);
                            landed += 1;
                        } else {
                            *state = SectorState::Lost;
                            lost += 1;
                        }
                    }
                }
            }
        }
        (lost, landed)
    }
}
