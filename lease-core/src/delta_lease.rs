//! Delta leases: a host's ownership of a numbered slot (host_id) in a lockspace, proven by
//! renewing a timestamp in its sector (format spec §4; Chockler & Malkhi, "Light-Weight Leases
//! for Storage-Centric Coordination", 2004).
//!
//! Three [`Operation`]s, each run by the daemon and by the simulator unchanged:
//! * [`DeltaAcquire`] (spec §4.2): read our slot; if held by another instance, watch it for
//!   `max(host_dead, 8·io)` seconds of the *owner's* io_timeout; write our record; wait
//!   `2·io` (owner's); re-read. Success needs both comparisons to be byte-identical. If the
//!   owner's io_timeout is longer than ours, the acquire can end `id_renewal_warn_seconds`
//!   (ours) or more after its write: it then writes the record once more with a fresh
//!   timestamp before returning (what sanlock's first renewal right after the acquire does),
//!   so the lease it returns is not already past our fail deadline. A claim read back so
//!   late that other hosts may already take the slot (the held-slot wait of our io_timeout,
//!   minus one io_timeout for the write) fails with [`DeltaError::ClaimExpired`] instead.
//! * [`DeltaRenew`] (spec §4.3): read the whole lockspace area in one I/O, check our record is
//!   exactly what we last wrote, write a new timestamp (with the outgoing event and bitmap).
//! * [`DeltaRelease`] (spec §4.4): write our record with timestamp 0.
//!
//! **Invariants**
//! * A record we write always has a non-zero timestamp unless it is a release (timestamp 0
//!   means "free" to every reader).
//! * Acquire never writes before the owner's liveness wait has passed with an unchanged record,
//!   unless the slot is free or carries our own unique name (spec §4.2 step 3).
//! * Acquire and release write a sector whose bitmap is zero; only renew writes the bitmap.
//! * `HeldDeltaLease::last_success` is the local time at which the timestamp of the last
//!   record we wrote was taken, before that write was issued: other hosts may see that
//!   timestamp from then on, so fail deadlines counted from it are never late.
//! * The owner generation we write is one more than the larger of the generation we read and
//!   the last generation this host used in the slot (`previous_generation`), so a host never
//!   reuses a generation even when one of its own old writes lands late.
//! * Acquire is fenced on our slot ([`DeltaAcquire`]'s `fence_areas`, seam rule 6): it issues
//!   nothing while an earlier write of this host to the slot may still land, so no record of
//!   an earlier instance of ours (a late release, timestamp 0) lands over a new claim.

use std::time::Duration;

use thiserror::Error;

use crate::geometry::Geometry;
use crate::ondisk::{DeltaSector, HostBitmap, LeaderError, LeaderRecord, Name};
use crate::seam::{Bytes, FenceArea, Io, IoFailure, IoOutcome, Operation, Resume, Step};
use crate::time::MonoTime;
use crate::timeouts::Timeouts;

/// sanlock's SANLK_AIO_TIMEOUT.
pub const SANLK_AIO_TIMEOUT: i32 = -202;
/// sanlock's SANLK_RENEW_OWNER.
pub const SANLK_RENEW_OWNER: i32 = -260;
/// sanlock's SANLK_RENEW_DIFF.
pub const SANLK_RENEW_DIFF: i32 = -261;
/// sanlock's SANLK_HOSTID_BUSY.
pub const SANLK_HOSTID_BUSY: i32 = -262;
/// sanlock's SANLK_ADDLS_INVALID_HOSTID.
pub const SANLK_ADDLS_INVALID_HOSTID: i32 = -231;

/// Where a host's delta lease lives and who the host is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeltaConfig {
    /// Sector and align size of the lockspace.
    pub geometry: Geometry,
    /// Byte offset of the lockspace area on its disk (disk index 0 of every I/O).
    pub lockspace_offset: u64,
    /// The lockspace name; every record read must carry it.
    pub space_name: Name,
    /// Our slot, 1..=max_hosts.
    pub host_id: u64,
    /// Our unique host name (`<uuid>.<nodename>` or `-e`): tells a restart of this host apart
    /// from another machine configured with the same host_id.
    pub our_name: Name,
    /// Our own timeouts (io_timeout and watchdog fire timeout).
    pub timeouts: Timeouts,
    /// The highest generation this host instance has already used in this slot (0: none).
    /// A write of ours that timed out may still land after we re-acquire (a stale release,
    /// found by the simulator): without this floor the re-acquire could read that stale
    /// generation and hand out the same (host_id, generation) to a second incarnation.
    pub previous_generation: u64,
}

impl DeltaConfig {
    /// Check the host_id against the geometry.
    pub fn validate(&self) -> Result<(), DeltaError> {
        self.geometry
            .check_host_id(self.host_id)
            .map_err(|_| DeltaError::InvalidHostId {
                host_id: self.host_id,
                max_hosts: self.geometry.max_hosts(),
            })
    }

    fn sector_size(&self) -> u64 {
        self.geometry.sector_bytes()
    }

    /// Offset of our slot. Only called after `validate`, so the host_id is in range.
    fn own_sector_offset(&self) -> u64 {
        self.geometry
            .delta_lease_offset(self.lockspace_offset, self.host_id)
            .expect("host_id validated before any I/O")
    }

    fn read_own_sector(&self) -> Step<Result<HeldDeltaLease, DeltaError>> {
        let io = Io::Read {
            disk: 0,
            offset: self.own_sector_offset(),
            len: self.sector_size(),
        };
        Step::Io {
            ios: vec![io],
            timeout: self.timeouts.io_timeout(),
        }
    }

    fn sector_bytes(&self, leader: &LeaderRecord, bitmap: &HostBitmap) -> Vec<u8> {
        DeltaSector {
            leader: *leader,
            bitmap: *bitmap,
        }
        .encode(self.geometry.sector_size())
    }

    fn decode_own(&self, bytes: &[u8]) -> Result<LeaderRecord, DeltaError> {
        let sector = DeltaSector::decode(bytes).map_err(|_| DeltaError::ShortRead)?;
        sector.leader.verify_delta(&self.space_name)?;
        Ok(sector.leader)
    }
}

/// Why a delta-lease operation failed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DeltaError {
    #[error("host_id {host_id} is outside 1..={max_hosts} for this lockspace geometry")]
    InvalidHostId { host_id: u64, max_hosts: u64 },
    #[error("delta lease I/O timed out")]
    IoTimeout,
    #[error("delta lease I/O failed: errno {errno}")]
    IoError { errno: i32 },
    #[error("delta lease read returned fewer bytes than a sector")]
    ShortRead,
    #[error("invalid delta lease record: {0}")]
    Leader(#[from] LeaderError),
    #[error("host_id is busy: its record changed while we watched or after we wrote it")]
    HostIdBusy,
    #[error("the acquire ended too late: other hosts may already consider our claim dead")]
    ClaimExpired,
    #[error("our delta lease was taken over (owner, generation or name changed)")]
    RenewOwner,
    #[error("our delta lease record differs from what we last wrote")]
    RenewDiff,
}

impl DeltaError {
    /// sanlock's result code for this error (negative).
    pub fn sanlock_errno(&self) -> i32 {
        match self {
            DeltaError::InvalidHostId { .. } => SANLK_ADDLS_INVALID_HOSTID,
            DeltaError::IoTimeout => SANLK_AIO_TIMEOUT,
            DeltaError::IoError { errno } => -errno.abs(),
            DeltaError::ShortRead => -5,
            DeltaError::Leader(e) => e.sanlock_errno(),
            DeltaError::HostIdBusy | DeltaError::ClaimExpired => SANLK_HOSTID_BUSY,
            DeltaError::RenewOwner => SANLK_RENEW_OWNER,
            DeltaError::RenewDiff => SANLK_RENEW_DIFF,
        }
    }

    /// Corrupt renewal results fail the lockspace at once (spec §9 gotcha 15); I/O errors and
    /// timeouts are retried until id_renewal_fail_seconds.
    pub fn is_corrupt(&self) -> bool {
        !matches!(self, DeltaError::IoTimeout | DeltaError::IoError { .. })
    }
}

fn io_error(failure: IoFailure) -> DeltaError {
    match failure {
        IoFailure::TimedOut => DeltaError::IoTimeout,
        IoFailure::Error { errno } => DeltaError::IoError { errno },
    }
}

/// The single outcome of a one-I/O step.
fn single(input: Resume) -> Result<IoOutcome, DeltaError> {
    match input {
        Resume::Io(mut outcomes) if outcomes.len() == 1 => match outcomes.pop() {
            Some(IoOutcome::Failed(why)) => Err(io_error(why)),
            Some(outcome) => Ok(outcome),
            None => unreachable!("length checked"),
        },
        other => panic!("delta lease expected one I/O outcome, driver gave {other:?}"),
    }
}

fn single_read(input: Resume) -> Result<Bytes, DeltaError> {
    match single(input)? {
        IoOutcome::Read(bytes) => Ok(bytes),
        other => panic!("expected a read outcome, got {other:?}"),
    }
}

fn single_write(input: Resume) -> Result<(), DeltaError> {
    match single(input)? {
        IoOutcome::Written => Ok(()),
        other => panic!("expected a write outcome, got {other:?}"),
    }
}

/// The on-disk timestamp for local time `now`: whole seconds, never 0 (0 means free).
fn disk_timestamp(now: MonoTime) -> u64 {
    now.as_secs().max(1)
}

/// A delta lease we hold: the identity other hosts see and the record we last wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldDeltaLease {
    pub config: DeltaConfig,
    /// Our host generation in this lockspace (owner_generation of our record).
    pub generation: u64,
    /// Exactly the record we last wrote (renew compares the disk against it).
    pub last_written: LeaderRecord,
    /// Local time at which the timestamp of `last_written` was taken.
    pub last_success: MonoTime,
    /// Whether the last renewal attempt succeeded (spec §4.3: RENEW_DIFF is only checked then).
    pub last_renewal_ok: bool,
}

impl HeldDeltaLease {
    /// The instant after which we must consider our lease lost and fence our lease holders:
    /// last success + id_renewal_fail_seconds.
    pub fn fail_deadline(&self) -> MonoTime {
        let fail = Duration::from_secs(self.config.timeouts.id_renewal_fail_seconds());
        self.last_success.saturating_add(fail)
    }

    /// When the next renewal is due: last success + id_renewal_seconds.
    pub fn renewal_due(&self) -> MonoTime {
        let every = Duration::from_secs(self.config.timeouts.id_renewal_seconds());
        self.last_success.saturating_add(every)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum AcquireState {
    Start,
    ReadFirst,
    /// Watching a held slot: `first` is what we read before the wait.
    Watching {
        first: LeaderRecord,
    },
    ReadAfterWatch {
        first: LeaderRecord,
    },
    Writing {
        written: LeaderRecord,
        short_delay: Duration,
        timestamp_at: MonoTime,
    },
    ShortDelay {
        written: LeaderRecord,
        timestamp_at: MonoTime,
    },
    ReadBack {
        written: LeaderRecord,
        timestamp_at: MonoTime,
    },
    /// The claim read back intact, but so late that its timestamp is about to be too old for
    /// our own schedule: writing the record again with a fresh timestamp.
    Refreshing {
        written: LeaderRecord,
        timestamp_at: MonoTime,
    },
    Done,
}

/// Acquire our host_id (spec §4.2).
#[derive(Clone, Debug)]
pub struct DeltaAcquire {
    config: DeltaConfig,
    state: AcquireState,
}

impl DeltaAcquire {
    pub fn new(config: DeltaConfig) -> DeltaAcquire {
        DeltaAcquire {
            config,
            state: AcquireState::Start,
        }
    }

    /// The record we write to claim the slot, built from what we read.
    fn claim(&self, read: &LeaderRecord, now: MonoTime) -> LeaderRecord {
        let mut claim = *read;
        claim.timestamp = disk_timestamp(now);
        claim.io_timeout = (self.config.timeouts.io_timeout_seconds & 0xFF) as u16;
        claim.owner_id = self.config.host_id;
        claim.owner_generation = read.owner_generation.max(self.config.previous_generation) + 1;
        claim.resource_name = self.config.our_name;
        let claim = claim.with_checksum();
        assert!(claim.timestamp != 0, "a claim is never a free record");
        claim
    }

    fn write_claim(&mut self, read: &LeaderRecord, now: MonoTime) -> Step<AcquireOutput> {
        let written = self.claim(read, now);
        let other = self.config.timeouts.for_other_host(read.io_timeout);
        let mut short_delay = Duration::from_secs(other.delta_short_delay_seconds());
        if crate::mutations::active(crate::mutations::Mutation::SkipDeltaWait) {
            short_delay = Duration::ZERO; // deliberate bug: re-read at once (sim teeth tests)
        }
        let data = self.config.sector_bytes(&written, &HostBitmap::default());
        let io = Io::Write {
            disk: 0,
            offset: self.config.own_sector_offset(),
            data,
        };
        self.state = AcquireState::Writing {
            written,
            short_delay,
            timestamp_at: now,
        };
        Step::Io {
            ios: vec![io],
            timeout: self.config.timeouts.io_timeout(),
        }
    }

    /// The lease we hold once `written` (its timestamp taken at `timestamp_at`) is ours.
    fn held(&self, written: LeaderRecord, timestamp_at: MonoTime) -> HeldDeltaLease {
        HeldDeltaLease {
            generation: written.owner_generation,
            config: self.config.clone(),
            last_written: written,
            last_success: timestamp_at,
            last_renewal_ok: true,
        }
    }

    fn fail(&mut self, err: DeltaError) -> Step<AcquireOutput> {
        self.state = AcquireState::Done;
        Step::Done(Err(err))
    }

    fn step(&mut self, now: MonoTime, input: Resume) -> Result<Step<AcquireOutput>, DeltaError> {
        let state = std::mem::replace(&mut self.state, AcquireState::Done);
        Ok(match state {
            AcquireState::Start => {
                self.config.validate()?;
                self.state = AcquireState::ReadFirst;
                self.config.read_own_sector()
            }
            AcquireState::ReadFirst => {
                let first = self.config.decode_own(&single_read(input)?)?;
                if first.timestamp == 0 || first.resource_name == self.config.our_name {
                    // Free, or our own previous instance: no wait (spec §4.2 steps 2-3).
                    return Ok(self.write_claim(&first, now));
                }
                let other = self.config.timeouts.for_other_host(first.io_timeout);
                let mut wait = Duration::from_secs(other.delta_acquire_held_wait_seconds());
                if crate::mutations::active(crate::mutations::Mutation::SkipDeltaWait) {
                    wait = Duration::ZERO; // deliberate bug: no liveness wait (sim teeth tests)
                }
                self.state = AcquireState::Watching { first };
                Step::Sleep {
                    until: now.saturating_add(wait),
                    jitter: Duration::ZERO,
                }
            }
            AcquireState::Watching { first } => {
                assert_eq!(input, Resume::Woke);
                self.state = AcquireState::ReadAfterWatch { first };
                self.config.read_own_sector()
            }
            AcquireState::ReadAfterWatch { first } => {
                let again = self.config.decode_own(&single_read(input)?)?;
                // Unchanged for the whole wait: the owner is dead. Released: free.
                if again.encode() == first.encode() || again.timestamp == 0 {
                    return Ok(self.write_claim(&again, now));
                }
                return Err(DeltaError::HostIdBusy);
            }
            AcquireState::Writing {
                written,
                short_delay,
                timestamp_at,
            } => {
                single_write(input)?;
                self.state = AcquireState::ShortDelay {
                    written,
                    timestamp_at,
                };
                Step::Sleep {
                    until: now.saturating_add(short_delay),
                    jitter: Duration::ZERO,
                }
            }
            AcquireState::ShortDelay {
                written,
                timestamp_at,
            } => {
                assert_eq!(input, Resume::Woke);
                self.state = AcquireState::ReadBack {
                    written,
                    timestamp_at,
                };
                self.config.read_own_sector()
            }
            AcquireState::ReadBack {
                written,
                timestamp_at,
            } => {
                let bytes = single_read(input)?;
                let sector = DeltaSector::decode(&bytes).map_err(|_| DeltaError::ShortRead)?;
                // Any byte of the record changed: another host wrote the slot too.
                if sector.leader.encode() != written.encode() {
                    return Err(DeltaError::HostIdBusy);
                }
                // The short delay followed the io_timeout stored by the slot's previous owner;
                // when that is longer than ours, the claim's timestamp may already be older
                // than our renewal warning (or fail) time. Its write is the last success that
                // other hosts may have seen, so it cannot simply be counted from now: write a
                // fresh timestamp first, as the first renewal would, and count from that.
                // Another host may take the slot once it has seen the claim unchanged for the
                // held-slot wait of our io_timeout (the one the claim carries): a refresh that
                // could land after that is not safe, and neither is the claim.
                let timeouts = &self.config.timeouts;
                let claim_dead_at = timestamp_at.saturating_add(Duration::from_secs(
                    timeouts.delta_acquire_held_wait_seconds(),
                ));
                if now.saturating_add(timeouts.io_timeout()) >= claim_dead_at {
                    return Err(DeltaError::ClaimExpired);
                }
                let warn = Duration::from_secs(timeouts.id_renewal_warn_seconds());
                if now.saturating_since(timestamp_at) >= warn {
                    let mut refreshed = written;
                    refreshed.timestamp = disk_timestamp(now);
                    let refreshed = refreshed.with_checksum();
                    let data = self.config.sector_bytes(&refreshed, &HostBitmap::default());
                    let io = Io::Write {
                        disk: 0,
                        offset: self.config.own_sector_offset(),
                        data,
                    };
                    self.state = AcquireState::Refreshing {
                        written: refreshed,
                        timestamp_at: now,
                    };
                    return Ok(Step::Io {
                        ios: vec![io],
                        timeout: self.config.timeouts.io_timeout(),
                    });
                }
                Step::Done(Ok(self.held(written, timestamp_at)))
            }
            AcquireState::Refreshing {
                written,
                timestamp_at,
            } => {
                single_write(input)?;
                Step::Done(Ok(self.held(written, timestamp_at)))
            }
            AcquireState::Done => panic!("delta_acquire resumed after it finished"),
        })
    }
}

type AcquireOutput = Result<HeldDeltaLease, DeltaError>;

impl Operation for DeltaAcquire {
    type Output = AcquireOutput;

    fn name(&self) -> &'static str {
        "delta_acquire"
    }

    /// Our own slot: no I/O of the acquire is issued while an earlier write of this host to
    /// the slot may still land (seam rule 6). A write of an earlier instance of ours (a
    /// release, timestamp 0, or a renewal) that hangs and lands after our new claim would
    /// replace our new generation's record with an older one; a released one would even tell
    /// every other host that the owner of our resource leases is gone (finding L,
    /// `docs/sim.md`).
    fn fence_areas(&self) -> Vec<FenceArea> {
        if crate::mutations::active(crate::mutations::Mutation::NoDeltaFence) {
            return Vec::new(); // deliberate bug: re-join races our own late write (sim teeth)
        }
        let c = &self.config;
        match c.geometry.delta_lease_offset(c.lockspace_offset, c.host_id) {
            Ok(offset) => vec![FenceArea {
                disk: 0,
                offset,
                len: c.sector_size(),
            }],
            // An invalid host_id fails at Start, before any I/O.
            Err(_) => Vec::new(),
        }
    }

    fn resume(&mut self, now: MonoTime, input: Resume) -> Step<AcquireOutput> {
        match self.step(now, input) {
            Ok(step) => step,
            Err(err) => self.fail(err),
        }
    }
}

/// The outgoing host event carried in the write_* fields of our record (spec §4.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutgoingEvent {
    /// Goes to `write_id` ("generation" of the event).
    pub generation: u64,
    /// Goes to `write_generation` ("event"); 0 = no event.
    pub event: u64,
    /// Goes to `write_timestamp` ("data").
    pub data: u64,
}

/// A successful renewal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Renewed {
    /// The lease with the new record and success time.
    pub lease: HeldDeltaLease,
    /// The whole lockspace area as read at the start of this renewal (for the host table).
    pub area: Bytes,
}

/// A failed renewal: the lease is unchanged except `last_renewal_ok = false`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenewFailed {
    pub lease: HeldDeltaLease,
    pub error: DeltaError,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum RenewState {
    Start,
    ReadArea,
    Writing {
        record: LeaderRecord,
        timestamp_at: MonoTime,
        area: Bytes,
    },
    Done,
}

/// Renew our delta lease once (spec §4.3).
#[derive(Clone, Debug)]
pub struct DeltaRenew {
    lease: HeldDeltaLease,
    event: OutgoingEvent,
    bitmap: HostBitmap,
    state: RenewState,
}

impl DeltaRenew {
    /// Renew `lease`, publishing `event` and setting `bitmap` (hosts we are notifying).
    pub fn new(lease: HeldDeltaLease, event: OutgoingEvent, bitmap: HostBitmap) -> DeltaRenew {
        assert!(
            !bitmap.is_set(lease.config.host_id),
            "a host never sets its own bit"
        );
        DeltaRenew {
            lease,
            event,
            bitmap,
            state: RenewState::Start,
        }
    }

    fn check_own(&self, area: &[u8]) -> Result<(), DeltaError> {
        let config = &self.lease.config;
        let start = usize::try_from(config.own_sector_offset() - config.lockspace_offset)
            .map_err(|_| DeltaError::ShortRead)?;
        let sector = area.get(start..).ok_or(DeltaError::ShortRead)?;
        let on_disk = config.decode_own(sector)?;
        let ours = &self.lease.last_written;
        if on_disk.owner_id != ours.owner_id
            || on_disk.owner_generation != ours.owner_generation
            || on_disk.resource_name != ours.resource_name
        {
            return Err(DeltaError::RenewOwner);
        }
        if self.lease.last_renewal_ok && on_disk.encode() != ours.encode() {
            return Err(DeltaError::RenewDiff);
        }
        Ok(())
    }

    fn step(&mut self, now: MonoTime, input: Resume) -> Result<Step<RenewOutput>, DeltaError> {
        let config = self.lease.config.clone();
        let state = std::mem::replace(&mut self.state, RenewState::Done);
        Ok(match state {
            RenewState::Start => {
                self.state = RenewState::ReadArea;
                let len = config.geometry.area_bytes();
                let io = Io::Read {
                    disk: 0,
                    offset: config.lockspace_offset,
                    len,
                };
                Step::Io {
                    ios: vec![io],
                    timeout: config.timeouts.renewal_read_timeout(),
                }
            }
            RenewState::ReadArea => {
                let area = single_read(input)?;
                self.check_own(&area)?;
                let mut record = self.lease.last_written;
                record.timestamp = disk_timestamp(now);
                record.io_timeout = (config.timeouts.io_timeout_seconds & 0xFF) as u16;
                record.write_id = self.event.generation;
                record.write_generation = self.event.event;
                record.write_timestamp = self.event.data;
                let record = record.with_checksum();
                let data = config.sector_bytes(&record, &self.bitmap);
                let io = Io::Write {
                    disk: 0,
                    offset: config.own_sector_offset(),
                    data,
                };
                self.state = RenewState::Writing {
                    record,
                    timestamp_at: now,
                    area,
                };
                Step::Io {
                    ios: vec![io],
                    timeout: config.timeouts.renewal_write_timeout(),
                }
            }
            RenewState::Writing {
                record,
                timestamp_at,
                area,
            } => {
                single_write(input)?;
                let mut lease = self.lease.clone();
                lease.last_written = record;
                lease.last_success = timestamp_at;
                lease.last_renewal_ok = true;
                Step::Done(Ok(Renewed { lease, area }))
            }
            RenewState::Done => panic!("delta_renew resumed after it finished"),
        })
    }
}

type RenewOutput = Result<Renewed, RenewFailed>;

impl Operation for DeltaRenew {
    type Output = RenewOutput;

    fn name(&self) -> &'static str {
        "delta_renew"
    }

    fn resume(&mut self, now: MonoTime, input: Resume) -> Step<RenewOutput> {
        match self.step(now, input) {
            Ok(step) => step,
            Err(error) => {
                self.state = RenewState::Done;
                let mut lease = self.lease.clone();
                lease.last_renewal_ok = false;
                Step::Done(Err(RenewFailed { lease, error }))
            }
        }
    }
}

/// Release our host_id (spec §4.4): our last record with timestamp 0.
#[derive(Clone, Debug)]
pub struct DeltaRelease {
    lease: HeldDeltaLease,
    started: bool,
}

impl DeltaRelease {
    /// Release `lease`. Callers only release after a successful last renewal (spec §4.4).
    pub fn new(lease: HeldDeltaLease) -> DeltaRelease {
        DeltaRelease {
            lease,
            started: false,
        }
    }
}

impl Operation for DeltaRelease {
    type Output = Result<(), DeltaError>;

    fn name(&self) -> &'static str {
        "delta_release"
    }

    fn resume(&mut self, _now: MonoTime, input: Resume) -> Step<Self::Output> {
        if self.started {
            return Step::Done(single_write(input));
        }
        self.started = true;
        let config = &self.lease.config;
        let mut record = self.lease.last_written;
        record.timestamp = 0;
        let record = record.with_checksum();
        let data = config.sector_bytes(&record, &HostBitmap::default());
        let io = Io::Write {
            disk: 0,
            offset: config.own_sector_offset(),
            data,
        };
        Step::Io {
            ios: vec![io],
            timeout: config.timeouts.io_timeout(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{AlignSize, SectorSize};
    use crate::ondisk::lockspace_init_area;
    use crate::seam::{run_blocking, Clock};
    use crate::testing::{MemDisks, Stepper, VirtualClock};

    const LS_OFFSET: u64 = 1 << 20;

    fn geometry() -> Geometry {
        Geometry::new(SectorSize::B512, AlignSize::M1).unwrap()
    }

    fn setup(io_timeout: u16) -> MemDisks {
        let disks = MemDisks::new(1, 4 << 20, 512);
        let area = lockspace_init_area(geometry(), &Name::new("LS").unwrap(), io_timeout);
        disks.poke(0, LS_OFFSET, &area);
        disks
    }

    fn config(host_id: u64, name: &str, io_timeout: u32) -> DeltaConfig {
        DeltaConfig {
            geometry: geometry(),
            lockspace_offset: LS_OFFSET,
            space_name: Name::new("LS").unwrap(),
            host_id,
            our_name: Name::new(name).unwrap(),
            timeouts: Timeouts::new(io_timeout, 60),
            previous_generation: 0,
        }
    }

    fn record_on_disk(disks: &MemDisks, host_id: u64) -> LeaderRecord {
        let sector = disks.peek(0, LS_OFFSET + (host_id - 1) * 512, 512);
        DeltaSector::decode(&sector).unwrap().leader
    }

    fn acquire(disks: &MemDisks, clock: &mut VirtualClock, cfg: DeltaConfig) -> AcquireOutput {
        run_blocking(&mut DeltaAcquire::new(cfg), &mut disks.clone(), clock)
    }

    #[test]
    fn free_slot_is_acquired_after_the_short_delay_with_generation_one() {
        let disks = setup(10);
        let mut clock = VirtualClock::starting_at(MonoTime::from_secs(1000));
        let held = acquire(&disks, &mut clock, config(3, "hostA", 10)).unwrap();
        // Free slot: no liveness wait, only 2·io after the write (spec §4.2 step 6).
        assert_eq!(clock.now(), MonoTime::from_secs(1020));
        assert_eq!(held.generation, 1);
        assert_eq!(held.last_success, MonoTime::from_secs(1000));
        let on_disk = record_on_disk(&disks, 3);
        assert_eq!(on_disk, held.last_written);
        assert_eq!((on_disk.owner_id, on_disk.owner_generation), (3, 1));
        assert_eq!(on_disk.timestamp, 1000);
        assert_eq!(on_disk.resource_name, Name::new("hostA").unwrap());
        assert_eq!(on_disk.computed_checksum(), on_disk.checksum);
        // Acquire writes a zero bitmap.
        assert!(DeltaSector::decode(&disks.peek(0, LS_OFFSET + 1024, 512))
            .unwrap()
            .bitmap
            .is_empty());
    }

    #[test]
    fn acquire_reports_the_time_of_its_write_when_the_io_timeouts_agree() {
        let disks = setup(1);
        let mut clock = VirtualClock::starting_at(MonoTime::from_secs(1000));
        let held = acquire(&disks, &mut clock, config(1, "hostA", 1)).unwrap();
        assert_eq!(clock.now(), MonoTime::from_secs(1002));
        // One write only: the claim, whose timestamp was taken at 1000.
        assert_eq!(held.last_success, MonoTime::from_secs(1000));
        assert_eq!(record_on_disk(&disks, 1).timestamp, 1000);
        assert_eq!(held.renewal_due(), MonoTime::from_secs(1002));
        assert_eq!(held.fail_deadline(), MonoTime::from_secs(1008));
    }

    #[test]
    fn joining_with_a_shorter_io_timeout_than_stored_ends_with_a_fresh_timestamp() {
        // The slot was initialised with io_timeout 10; we join with io_timeout 1.
        let disks = setup(10);
        let mut clock = VirtualClock::starting_at(MonoTime::from_secs(1000));
        let held = acquire(&disks, &mut clock, config(1, "hostA", 1)).unwrap();
        // The short delay is the stored io_timeout's 2·10 s (spec §3 "other host" rule)...
        assert_eq!(clock.now(), MonoTime::from_secs(1020));
        // ...so the claim's timestamp (1000) is already past our fail time (8·1 s): the
        // acquire wrote the record again at 1020, and the lease counts from there.
        assert_eq!(held.last_success, MonoTime::from_secs(1020));
        assert_eq!(held.last_written.timestamp, 1020);
        assert_eq!(held.last_written.io_timeout, 1);
        assert_eq!(held.generation, 1);
        let on_disk = record_on_disk(&disks, 1);
        assert_eq!(on_disk, held.last_written);
        assert_eq!(on_disk.computed_checksum(), on_disk.checksum);
        // First renewal on our own schedule (2·1 s), fail deadline 8·1 s after the rewrite.
        assert_eq!(held.renewal_due(), MonoTime::from_secs(1022));
        assert_eq!(held.fail_deadline(), MonoTime::from_secs(1028));
        // And the renewal accepts what the acquire last wrote.
        clock.advance(Duration::from_secs(2));
        let renewed = run_blocking(
            &mut DeltaRenew::new(held, OutgoingEvent::default(), HostBitmap::default()),
            &mut disks.clone(),
            &mut clock,
        )
        .unwrap();
        assert_eq!(renewed.lease.last_success, MonoTime::from_secs(1022));
        assert_eq!(record_on_disk(&disks, 1).timestamp, 1022);
    }

    #[test]
    fn a_claim_read_back_after_others_may_call_it_dead_is_not_kept() {
        // Stored io_timeout 40: the short delay (80 s) outlasts the held-slot wait other hosts
        // apply to our claim (io_timeout 1: max(8 + 60, 8) = 68 s). Neither the claim nor a
        // refresh of it can be trusted any more.
        let disks = setup(40);
        let mut clock = VirtualClock::starting_at(MonoTime::from_secs(1000));
        let err = acquire(&disks, &mut clock, config(1, "hostA", 1)).unwrap_err();
        assert_eq!(err, DeltaError::ClaimExpired);
        assert_eq!(err.sanlock_errno(), SANLK_HOSTID_BUSY);
        assert_eq!(clock.now(), MonoTime::from_secs(1080));
        assert_eq!(record_on_disk(&disks, 1).timestamp, 1000);
    }

    #[test]
    fn a_failed_refresh_write_fails_the_acquire() {
        let disks = setup(10);
        let start = MonoTime::from_secs(1000);
        let mut op = Stepper::start(DeltaAcquire::new(config(1, "hostA", 1)), &disks, start);
        assert!(op.advance(start).is_none()); // read
        assert!(op.advance(start).is_none()); // claim written; sleeping
        let wake = op.sleeping_until().expect("short delay");
        assert_eq!(wake, MonoTime::from_secs(1020));
        assert!(op.advance(wake).is_none()); // woke; read back pending
        assert!(op.advance(wake).is_none()); // read back intact; refresh write pending
        disks.set_failing(0, true);
        let result = op.advance(wake).expect("done after the refresh write");
        assert_eq!(result.unwrap_err(), DeltaError::IoError { errno: 5 });
        disks.set_failing(0, false);
        assert_eq!(record_on_disk(&disks, 1).timestamp, 1000);
    }

    #[test]
    fn own_name_reacquires_without_waiting_and_bumps_generation() {
        let disks = setup(10);
        let mut clock = VirtualClock::starting_at(MonoTime::from_secs(50));
        let first = acquire(&disks, &mut clock, config(1, "hostA", 10)).unwrap();
        // Crash without release: the record still carries hostA's name and a timestamp.
        let again = acquire(&disks, &mut clock, config(1, "hostA", 10)).unwrap();
        assert_eq!(again.generation, first.generation + 1);
        assert_eq!(clock.now(), MonoTime::from_secs(90));
    }

    #[test]
    fn a_stale_release_landing_late_never_makes_us_reuse_a_generation() {
        let disks = setup(10);
        let mut clock = VirtualClock::starting_at(MonoTime::from_secs(50));
        let first = acquire(&disks, &mut clock, config(1, "hostA", 10)).unwrap();
        let second = acquire(&disks, &mut clock, config(1, "hostA", 10)).unwrap();
        assert_eq!(second.generation, first.generation + 1);
        // An old write of the first incarnation (its release) lands after the second acquire.
        let mut stale = first.last_written;
        stale.timestamp = 0;
        let sector = DeltaSector {
            leader: stale.with_checksum(),
            bitmap: HostBitmap::default(),
        };
        disks.poke(0, LS_OFFSET, &sector.encode(SectorSize::B512));
        // Re-acquiring from the stale record must not hand out `second.generation` again.
        let mut cfg = config(1, "hostA", 10);
        cfg.previous_generation = second.generation;
        let third = acquire(&disks, &mut clock, cfg).unwrap();
        assert_eq!(third.generation, second.generation + 1);
    }

    #[test]
    fn held_slot_waits_host_dead_seconds_of_the_owners_io_timeout() {
        let disks = setup(10);
        let mut clock = VirtualClock::starting_at(MonoTime::from_secs(10));
        acquire(&disks, &mut clock, config(2, "hostA", 10)).unwrap();
        // hostB (io_timeout 1) takes over a silent hostA (io_timeout 10 on disk):
        // waits max(8·10+60, 8·10) = 140 s, then 2·10 s after writing.
        let start = clock.now();
        let held = acquire(&disks, &mut clock, config(2, "hostB", 1)).unwrap();
        assert_eq!(
            clock.now().saturating_since(start),
            Duration::from_secs(160)
        );
        assert_eq!(held.generation, 2);
        assert_eq!(
            record_on_disk(&disks, 2).resource_name,
            Name::new("hostB").unwrap()
        );
    }

    #[test]
    fn a_renewing_owner_keeps_its_slot() {
        let disks = setup(10);
        let mut clock = VirtualClock::starting_at(MonoTime::from_secs(10));
        let owner = acquire(&disks, &mut clock, config(2, "hostA", 10)).unwrap();
        let mut b = Stepper::start(
            DeltaAcquire::new(config(2, "hostB", 10)),
            &disks,
            clock.now(),
        );
        assert!(b.advance(clock.now()).is_none()); // read; now sleeping
        let wake = b.sleeping_until().expect("watching the held slot");
        // The owner renews during the wait.
        clock.advance(Duration::from_secs(20));
        let renewed = run_blocking(
            &mut DeltaRenew::new(owner, OutgoingEvent::default(), HostBitmap::default()),
            &mut disks.clone(),
            &mut clock,
        );
        assert!(renewed.is_ok());
        assert_eq!(b.advance(wake), None); // re-read issued
        assert_eq!(b.advance(wake), Some(Err(DeltaError::HostIdBusy)));
        assert_eq!(
            record_on_disk(&disks, 2).resource_name,
            Name::new("hostA").unwrap()
        );
    }

    #[test]
    fn two_hosts_racing_for_a_free_slot_never_overlap() {
        // Every interleaving of A's and B's first steps. Neither renews, so a winner's lease
        // is valid until last_success + id_renewal_fail_seconds (8 s at io 1); a second
        // winner is allowed only after that (Chockler-Malkhi: uniqueness under timeliness).
        for a_first_steps in 0..6 {
            let disks = setup(1);
            let mut now = MonoTime::from_secs(100);
            let mut a = Stepper::start(DeltaAcquire::new(config(5, "hostA", 1)), &disks, now);
            let mut b = Stepper::start(DeltaAcquire::new(config(5, "hostB", 1)), &disks, now);
            let mut wins: Vec<(MonoTime, HeldDeltaLease)> = Vec::new();
            let mut done = [false, false];
            let mut turn = 0;
            while !(done[0] && done[1]) {
                let who = match done {
                    [true, _] => 1,
                    [_, true] => 0,
                    _ if turn < a_first_steps => 0,
                    _ => turn % 2,
                };
                turn += 1;
                let stepper = if who == 0 { &mut a } else { &mut b };
                // Time moves 1 ms per step, and jumps to a sleeper's deadline when needed.
                now = now
                    .saturating_add(Duration::from_millis(1))
                    .max(stepper.sleeping_until().unwrap_or(now));
                if let Some(result) = stepper.advance(now) {
                    done[who] = true;
                    if let Ok(held) = result {
                        wins.push((now, held));
                    }
                }
            }
            if let [(_, first), (second_at, _)] = &wins[..] {
                assert!(
                    *second_at >= first.fail_deadline(),
                    "interleaving {a_first_steps}: second winner at {second_at} inside {first:?}"
                );
            }
        }
    }

    #[test]
    fn renew_detects_takeover_and_foreign_writes() {
        let disks = setup(10);
        let mut clock = VirtualClock::starting_at(MonoTime::from_secs(10));
        let held = acquire(&disks, &mut clock, config(4, "hostA", 10)).unwrap();
        clock.advance(Duration::from_secs(20));
        let renewed = run_blocking(
            &mut DeltaRenew::new(
                held.clone(),
                OutgoingEvent::default(),
                HostBitmap::default(),
            ),
            &mut disks.clone(),
            &mut clock,
        )
        .unwrap();
        assert_eq!(renewed.lease.last_success, clock.now());
        assert_eq!(renewed.area.len(), 1 << 20);
        assert_eq!(record_on_disk(&disks, 4).timestamp, clock.now().as_secs());

        // Same owner, but a byte we did not write (timestamp) changed: RENEW_DIFF.
        let mut tampered = renewed.lease.last_written;
        tampered.timestamp += 1;
        let sector = DeltaSector {
            leader: tampered.with_checksum(),
            bitmap: HostBitmap::default(),
        };
        disks.poke(0, LS_OFFSET + 3 * 512, &sector.encode(SectorSize::B512));
        let failed = run_blocking(
            &mut DeltaRenew::new(
                renewed.lease.clone(),
                OutgoingEvent::default(),
                HostBitmap::default(),
            ),
            &mut disks.clone(),
            &mut clock,
        )
        .unwrap_err();
        assert_eq!(failed.error, DeltaError::RenewDiff);
        assert!(failed.error.is_corrupt());
        assert!(!failed.lease.last_renewal_ok);

        // Another instance took the slot: RENEW_OWNER.
        let mut thief = renewed.lease.last_written;
        thief.owner_generation += 1;
        let sector = DeltaSector {
            leader: thief.with_checksum(),
            bitmap: HostBitmap::default(),
        };
        disks.poke(0, LS_OFFSET + 3 * 512, &sector.encode(SectorSize::B512));
        let failed = run_blocking(
            &mut DeltaRenew::new(
                renewed.lease,
                OutgoingEvent::default(),
                HostBitmap::default(),
            ),
            &mut disks.clone(),
            &mut clock,
        )
        .unwrap_err();
        assert_eq!(failed.error, DeltaError::RenewOwner);
        assert_eq!(failed.error.sanlock_errno(), SANLK_RENEW_OWNER);
    }

    #[test]
    fn renew_writes_event_and_bitmap_and_io_errors_are_not_corruption() {
        let disks = setup(10);
        let mut clock = VirtualClock::starting_at(MonoTime::from_secs(10));
        let held = acquire(&disks, &mut clock, config(1, "hostA", 10)).unwrap();
        let mut bitmap = HostBitmap::default();
        bitmap.set(7).unwrap();
        let event = OutgoingEvent {
            generation: 3,
            event: 9,
            data: 42,
        };
        let renewed = run_blocking(
            &mut DeltaRenew::new(held, event, bitmap),
            &mut disks.clone(),
            &mut clock,
        )
        .unwrap();
        let sector = DeltaSector::decode(&disks.peek(0, LS_OFFSET, 512)).unwrap();
        assert!(sector.bitmap.is_set(7));
        assert_eq!(
            (
                sector.leader.write_id,
                sector.leader.write_generation,
                sector.leader.write_timestamp
            ),
            (3, 9, 42)
        );
        disks.set_failing(0, true);
        let failed = run_blocking(
            &mut DeltaRenew::new(renewed.lease, event, HostBitmap::default()),
            &mut disks.clone(),
            &mut clock,
        )
        .unwrap_err();
        assert_eq!(failed.error, DeltaError::IoError { errno: 5 });
        assert!(!failed.error.is_corrupt());
    }

    #[test]
    fn release_zeroes_only_the_timestamp() {
        let disks = setup(10);
        let mut clock = VirtualClock::starting_at(MonoTime::from_secs(10));
        let held = acquire(&disks, &mut clock, config(2, "hostA", 10)).unwrap();
        run_blocking(
            &mut DeltaRelease::new(held.clone()),
            &mut disks.clone(),
            &mut clock,
        )
        .unwrap();
        let on_disk = record_on_disk(&disks, 2);
        assert_eq!(on_disk.timestamp, 0);
        assert_eq!((on_disk.owner_id, on_disk.owner_generation), (2, 1));
        assert_eq!(on_disk.resource_name, held.last_written.resource_name);
        assert_eq!(on_disk.computed_checksum(), on_disk.checksum);
    }

    #[test]
    fn bad_input_is_refused_without_writing() {
        let disks = setup(10);
        let before = disks.peek(0, LS_OFFSET, 1 << 20);
        let mut clock = VirtualClock::default();
        let err = acquire(&disks, &mut clock, config(2001, "hostA", 10)).unwrap_err();
        assert_eq!(err.sanlock_errno(), SANLK_ADDLS_INVALID_HOSTID);
        let mut wrong_space = config(1, "hostA", 10);
        wrong_space.space_name = Name::new("OTHER").unwrap();
        let err = acquire(&disks, &mut clock, wrong_space).unwrap_err();
        assert_eq!(err.sanlock_errno(), -226);
        // Uninitialised area: bad magic.
        let mut elsewhere = config(1, "hostA", 10);
        elsewhere.lockspace_offset = 0;
        assert_eq!(
            acquire(&disks, &mut clock, elsewhere)
                .unwrap_err()
                .sanlock_errno(),
            -223
        );
        assert_eq!(disks.peek(0, LS_OFFSET, 1 << 20), before);
        assert_eq!(disks.peek(0, 0, 1 << 20), vec![0; 1 << 20]);
    }
}
