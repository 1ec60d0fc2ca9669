//! Resource leases: Disk Paxos over per-host blocks on shared disks (format spec §5; Gafni &
//! Lamport, "Disk Paxos", 2000/2003).
//!
//! A resource lease area has a leader record (sector 0), a request record (sector 1) and one
//! sector per host (`dblock` + mode block). Each new lease version (`lver`) is decided by one
//! Disk Paxos instance among the hosts that compete for it; the winner writes the leader record.
//!
//! Operations (all [`Operation`]s, run by the daemon and the simulator unchanged):
//! * [`PaxosAcquire`]: read the leader and our own sector, judge the current owner through its
//!   delta lease (spec §5.3), run a ballot (§5.4) for `lver + 1`, write the leader (§5.2);
//!   shared mode and exclusive acquires that must clear dead shared holders (§5.6). Unlike
//!   spec §5.2 step 1, the first read is not the whole area: our first mbal comes from our own
//!   dblock (a first ballot below the others' is retried at once), and the first phase-1 read
//!   checks the dblocks' checksums (-214, our sector written back as it was). So a lease held
//!   by a live owner is refused with -243 even when another dblock is corrupt (spec: -214).
//! * [`PaxosRelease`]: mark our dblock released, then free the leader if we wrote it (§5.5).
//!
//! Disks: a lease lives on 1..=4 disks ([`MAX_DISKS`]); the operation's disk indices
//! `0..disks` are the lease's disks and index `disks` is the lockspace disk (for owner delta
//! leases). Reads and writes need a majority of the lease's disks.
//!
//! **Invariants**
//! * Our ballot numbers satisfy `mbal % max_hosts == host_id % max_hosts` and only grow within
//!   an acquire (spec §5.1; "each node's mbal should always increase").
//! * `next_lver` is fixed from the first leader read of an acquire and never re-derived
//!   (spec §9 gotcha 6): we compete for exactly one lease version.
//! * A lease owned by another live host instance is never taken: the ballot only runs once the
//!   leader is free, ours, or its owner's delta lease shows it dead (§5.3).
//! * Phase 1 and phase 2 each need a majority of dblock writes and reads; any dblock with a
//!   larger mbal or lver aborts the ballot (Disk Paxos safety does not depend on timing).
//! * Every ballot retry loop and every liveness wait is bounded.

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::geometry::{Geometry, SectorSize};
use crate::host_table::HostTable;
use crate::ondisk::{
    Dblock, DeltaSector, HostSector, LeaderError, LeaderRecord, ModeBlock, Name,
    DBLOCK_FL_RELEASED, LEADER_COMPARE_LEN, LFL_SHORT_HOLD, MBLOCK_SHARED,
};
use crate::seam::{Bytes, DiskIndex, FenceArea, Io, IoOutcome, Operation, Resume, Step};
use crate::time::MonoTime;
use crate::timeouts::Timeouts;

/// Most disks one resource lease may span (sanlock's SANLK_MAX_DISKS).
pub const MAX_DISKS: usize = 4;
/// Ballots one acquire may run before giving up (each abort means a competing host).
pub const BALLOTS_MAX: u32 = 64;
/// Times an acquire may restart from the top (leader changed under it).
pub const RESTARTS_MAX: u32 = 64;
/// Retries of a shared acquire that met another host's short hold (sanlock's sh_retries).
pub const SH_RETRIES_MAX: u32 = 8;
/// Random back-off after an aborted ballot or a short-hold collision: up to 1 s.
pub const BACKOFF_JITTER: Duration = Duration::from_secs(1);
/// Poll interval of the owner liveness wait.
pub const OWNER_POLL: Duration = Duration::from_secs(1);

/// Result codes (sanlock's numbers, negative).
pub mod code {
    pub const EAGAIN: i32 = -11;
    pub const SANLK_DBLOCK_READ: i32 = -210;
    pub const SANLK_DBLOCK_WRITE: i32 = -211;
    pub const SANLK_DBLOCK_LVER: i32 = -212;
    pub const SANLK_DBLOCK_MBAL: i32 = -213;
    pub const SANLK_DBLOCK_CHECKSUM: i32 = -214;
    pub const SANLK_LEADER_READ: i32 = -220;
    pub const SANLK_LEADER_WRITE: i32 = -221;
    pub const SANLK_LEADER_DIFF: i32 = -222;
    pub const SANLK_ACQUIRE_LVER: i32 = -240;
    pub const SANLK_ACQUIRE_IDLIVE: i32 = -243;
    pub const SANLK_ACQUIRE_OWNED: i32 = -244;
    pub const SANLK_ACQUIRE_OTHER: i32 = -245;
    pub const SANLK_ACQUIRE_SHRETRY: i32 = -246;
    pub const SANLK_ACQUIRE_OWNED_RETRY: i32 = -247;
    pub const SANLK_RELEASE_LVER: i32 = -250;
    pub const SANLK_RELEASE_OWNER: i32 = -251;
    pub const SANLK_ERROR: i32 = -201;
}

/// Where the lockspace that judges owners lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockspaceArea {
    pub geometry: Geometry,
    /// Offset of the lockspace area on the lockspace disk (disk index `lease disks`).
    pub offset: u64,
}

/// A resource lease and the host instance acting on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaxosConfig {
    /// Geometry expected for the lease (the lockspace's); the leader's flags win if they differ.
    pub geometry: Geometry,
    /// Offset of the lease area on each of its disks (1..=4); disk index = position.
    pub lease_offsets: Vec<u64>,
    pub space_name: Name,
    pub resource_name: Name,
    /// Our host_id and generation in the lockspace (our delta lease).
    pub host_id: u64,
    pub host_generation: u64,
    /// Our timeouts; owners are judged with their own io_timeout.
    pub timeouts: Timeouts,
    /// The lockspace, for reading owners' delta leases.
    pub lockspace: LockspaceArea,
}

impl PaxosConfig {
    fn disk_count(&self) -> usize {
        self.lease_offsets.len()
    }

    fn lockspace_disk(&self) -> DiskIndex {
        self.disk_count()
    }

    fn majority(&self) -> usize {
        self.disk_count() / 2 + 1
    }

    fn sector_bytes(&self) -> u64 {
        self.geometry.sector_bytes()
    }

    fn validate(&self) -> Result<(), PaxosError> {
        if self.lease_offsets.is_empty() || self.lease_offsets.len() > MAX_DISKS {
            return Err(PaxosError::BadDiskCount {
                count: self.lease_offsets.len(),
            });
        }
        if self.host_id == 0 || self.host_id > self.geometry.max_hosts() {
            return Err(PaxosError::BadHostId {
                host_id: self.host_id,
            });
        }
        Ok(())
    }

    /// The same read on every lease disk.
    fn read_all(&self, relative: u64, len: u64) -> Vec<Io> {
        let reads = self.lease_offsets.iter().enumerate();
        reads
            .map(|(disk, base)| Io::Read {
                disk,
                offset: base + relative,
                len,
            })
            .collect()
    }

    /// The same write on every lease disk.
    fn write_all(&self, relative: u64, data: &[u8]) -> Vec<Io> {
        let writes = self.lease_offsets.iter().enumerate();
        writes
            .map(|(disk, base)| Io::Write {
                disk,
                offset: base + relative,
                data: data.to_vec(),
            })
            .collect()
    }

    /// The lease area on each of its disks: every paxos operation runs under the write fence
    /// (`crate::fence`; simulator findings A and B).
    pub fn fence_areas(&self) -> Vec<FenceArea> {
        let len = self.geometry.area_bytes();
        let areas = self.lease_offsets.iter().enumerate();
        areas
            .map(|(disk, &offset)| FenceArea { disk, offset, len })
            .collect()
    }

    /// Offset, relative to the lease start, of `host_id`'s sector.
    fn host_sector_relative(&self, host_id: u64) -> u64 {
        (1 + host_id) * self.sector_bytes()
    }

    fn io(&self, ios: Vec<Io>) -> Step<()> {
        Step::Io {
            ios,
            timeout: self.timeouts.io_timeout(),
        }
    }

    fn leader_sector(&self, leader: &LeaderRecord) -> Vec<u8> {
        let mut sector = vec![0u8; self.geometry.sector_size().bytes_usize()];
        sector[..LeaderRecord::ENCODED_LEN].copy_from_slice(&leader.encode());
        sector
    }

    fn host_sector(&self, dblock: Dblock, mode_block: ModeBlock) -> Vec<u8> {
        HostSector { dblock, mode_block }.encode(self.geometry.sector_size())
    }
}

/// Why a paxos operation failed. `sanlock_errno` gives the wire/CLI number.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PaxosError {
    #[error("a resource lease spans 1 to 4 disks, not {count}")]
    BadDiskCount { count: usize },
    #[error("host_id {host_id} is outside this lease's geometry")]
    BadHostId { host_id: u64 },
    #[error("invalid lease leader: {0}")]
    Leader(LeaderError),
    #[error("could not read the lease leader from a majority of disks")]
    LeaderRead,
    #[error("could not write the lease leader to a majority of disks")]
    LeaderWrite,
    #[error("the lease's disks disagree on the leader record")]
    LeaderDiff,
    #[error("could not read ballot blocks from a majority of disks")]
    DblockRead,
    #[error("could not write our ballot block to a majority of disks")]
    DblockWrite,
    #[error("a ballot block of host {host_id} has a bad checksum")]
    DblockChecksum { host_id: u64 },
    #[error("owner delta lease unreadable: {0}")]
    OwnerDelta(LeaderError),
    #[error("lease version is {on_disk}, not the expected {expected}")]
    LverMismatch { on_disk: u64, expected: u64 },
    #[error("lease is held by host {owner_id} (generation {owner_generation}), which is alive")]
    IdLive {
        owner_id: u64,
        owner_generation: u64,
    },
    #[error("lease owner host {owner_id} is not yet dead (OWNER_NOWAIT)")]
    OwnedRetry { owner_id: u64 },
    #[error("another host acquired lease version {lver} first")]
    Owned { lver: u64 },
    #[error("our ballot committed another host's value for lease version {lver}")]
    Other { lver: u64 },
    #[error("gave up a shared acquire after {SH_RETRIES_MAX} short-hold collisions")]
    ShRetry,
    #[error("lease is held shared by live host {host_id}")]
    SharedHeld { host_id: u64 },
    #[error("competing hosts kept aborting our ballots ({BALLOTS_MAX} ballots)")]
    TooManyBallots,
    #[error("the leader kept changing under us ({RESTARTS_MAX} restarts)")]
    TooManyRestarts,
    #[error("release: lease version on disk is {on_disk}, we hold {ours}")]
    ReleaseLver { on_disk: u64, ours: u64 },
    #[error("release: the leader is not the one we committed")]
    ReleaseOwner,
}

impl PaxosError {
    /// The I/O failed (a read or write without a majority, or copies without one): a later
    /// attempt may get past it. What failed releases and retracts are retried on (spec §5.5
    /// step 3); anything else would be found again.
    pub fn is_io(&self) -> bool {
        matches!(
            self,
            PaxosError::LeaderRead
                | PaxosError::LeaderWrite
                | PaxosError::LeaderDiff
                | PaxosError::DblockRead
                | PaxosError::DblockWrite
        )
    }

    pub fn sanlock_errno(&self) -> i32 {
        use code::*;
        match self {
            PaxosError::BadDiskCount { .. } => -34,
            PaxosError::BadHostId { .. } => -22,
            PaxosError::Leader(e) | PaxosError::OwnerDelta(e) => e.sanlock_errno(),
            PaxosError::LeaderRead => SANLK_LEADER_READ,
            PaxosError::LeaderWrite => SANLK_LEADER_WRITE,
            PaxosError::LeaderDiff => SANLK_LEADER_DIFF,
            PaxosError::DblockRead => SANLK_DBLOCK_READ,
            PaxosError::DblockWrite => SANLK_DBLOCK_WRITE,
            PaxosError::DblockChecksum { .. } => SANLK_DBLOCK_CHECKSUM,
            PaxosError::LverMismatch { .. } => SANLK_ACQUIRE_LVER,
            PaxosError::IdLive { .. } => SANLK_ACQUIRE_IDLIVE,
            PaxosError::OwnedRetry { .. } => SANLK_ACQUIRE_OWNED_RETRY,
            PaxosError::Owned { .. } => SANLK_ACQUIRE_OWNED,
            PaxosError::Other { .. } => SANLK_ACQUIRE_OTHER,
            PaxosError::ShRetry => SANLK_ACQUIRE_SHRETRY,
            PaxosError::SharedHeld { .. } => EAGAIN,
            PaxosError::TooManyBallots | PaxosError::TooManyRestarts => SANLK_ERROR,
            PaxosError::ReleaseLver { .. } => SANLK_RELEASE_LVER,
            PaxosError::ReleaseOwner => SANLK_RELEASE_OWNER,
        }
    }
}

/// Exclusive or shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LeaseMode {
    Exclusive,
    Shared,
}

/// What the caller asks of an acquire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcquireRequest {
    pub mode: LeaseMode,
    /// Acquire only if the lease's current lver is exactly this (SANLK_RES_LVER, §5.8).
    pub expected_lver: Option<u64>,
    /// Fail with OWNED_RETRY instead of waiting for a silent owner to be dead.
    pub owner_nowait: bool,
    /// Replace the leader's num_hosts (SANLK_RES_NUM_HOSTS).
    pub num_hosts: Option<u64>,
    /// We hold the lease shared and convert it to exclusive (spec §5.6): every ballot write
    /// keeps our SHARED mode block, so we stay a shared holder until the conversion succeeds,
    /// which it does once the leader naming us is committed (the last write, dropping our
    /// SHARED mode block, is best effort: finding M).
    pub convert_from_shared: bool,
}

impl AcquireRequest {
    pub fn exclusive() -> AcquireRequest {
        AcquireRequest {
            mode: LeaseMode::Exclusive,
            expected_lver: None,
            owner_nowait: false,
            num_hosts: None,
            convert_from_shared: false,
        }
    }

    pub fn shared() -> AcquireRequest {
        AcquireRequest {
            mode: LeaseMode::Shared,
            ..AcquireRequest::exclusive()
        }
    }
}

/// A resource lease we hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldResource {
    pub config: PaxosConfig,
    pub mode: LeaseMode,
    /// The lease version we acquired.
    pub lver: u64,
    /// The leader we committed (exclusive) or the leader as we left it (shared).
    pub leader: LeaderRecord,
    /// Our last dblock (what release marks RELEASED).
    pub dblock: Dblock,
    /// Shared holds only: a leader naming us at this lver, committed by a failed SH→EX
    /// conversion that could not give it back ([`PaxosAcquire::leftover`]); the release
    /// frees it (else, while we live, it refused every other acquirer: finding I).
    pub leader_to_free: Option<u64>,
}

impl HeldResource {
    /// The shared hold kept after its SH→EX conversion failed, with what the conversion
    /// left to undo (see [`HeldResource::leader_to_free`]).
    pub fn after_failed_conversion(self, leftover: Option<&RetractPlan>) -> HeldResource {
        let lver = leftover.map(RetractPlan::lver);
        HeldResource {
            leader_to_free: self.leader_to_free.max(lver),
            ..self
        }
    }
}

type AcquireOutput = Result<HeldResource, PaxosError>;

// ---------------------------------------------------------------------------------------------
// Reading majority results

fn io_failed(outcome: &IoOutcome) -> bool {
    matches!(outcome, IoOutcome::Failed(_))
}

fn outcomes(input: Resume, expected: usize) -> Vec<IoOutcome> {
    match input {
        Resume::Io(outcomes) if outcomes.len() == expected => outcomes,
        other => panic!("paxos lease expected {expected} I/O outcomes, driver gave {other:?}"),
    }
}

/// Successful reads, one per disk that answered.
fn reads(input: Resume, expected: usize) -> Vec<Bytes> {
    outcomes(input, expected)
        .into_iter()
        .filter_map(|o| match o {
            IoOutcome::Read(bytes) => Some(bytes),
            _ => None,
        })
        .collect()
}

fn writes_ok(input: Resume, expected: usize) -> usize {
    outcomes(input, expected)
        .iter()
        .filter(|o| !io_failed(o))
        .count()
}

/// The leader of a lease from the copies read on its disks: the one a majority of them agree
/// on (first 152 bytes), else the newest of at least a majority of valid copies.
///
/// Spec §5.10 answers LEADER_DIFF (-222) whenever no majority agrees. A write that reached only
/// some disks (an error, a hang, a write the fence dropped) leaves such a split, and since
/// every operation starts with this read, nothing would ever rewrite the minority copies: the
/// lease stayed unusable for good (simulator finding J). The newest copy is the truth:
/// * A copy of lver L is either a commit of L's chosen value (written only after a ballot
///   for L succeeded) or the free copy its owner wrote when it gave L up; at one lver the
///   free copy is the later one (`newest_copy`).
/// * Every leader write that succeeded reached a majority of the disks, and the valid copies
///   read come from a majority, so each successful write is among them or was overwritten by a
///   later one. A copy older than the truth (a late write, finding H) loses to the newest.
/// * Safety never rests on the leader: a ballot for lver L+1 finds any value already chosen
///   for it in the dblocks (Disk Paxos). The leader only says whether L is still held, and
///   a newest copy "free at L" is written by L's holder only.
///
/// The next commit or release writes the leader to every disk and heals the split.
fn majority_leader(
    copies: &[Bytes],
    majority: usize,
    verify: impl Fn(&LeaderRecord) -> Result<(), LeaderError>,
) -> Result<LeaderRecord, PaxosError> {
    if copies.len() < majority {
        return Err(PaxosError::LeaderRead);
    }
    let mut first_error = None;
    let mut valid = Vec::new();
    for bytes in copies {
        let Ok(leader) = LeaderRecord::decode(bytes) else {
            continue;
        };
        match verify(&leader) {
            Ok(()) => valid.push(leader),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    for candidate in &valid {
        let prefix = &candidate.encode()[..LEADER_COMPARE_LEN];
        let agreeing = valid
            .iter()
            .filter(|l| &l.encode()[..LEADER_COMPARE_LEN] == prefix);
        if agreeing.clone().count() >= majority {
            // The compared prefix stops before the timestamp: copies that agree may still
            // differ in being free. The free one is the newer (a late commit of the same
            // lver landing on one disk after the release must not make it held again).
            let newest = agreeing.max_by_key(|l| newest_copy(l)).expect("counted");
            return Ok(*newest);
        }
    }
    if valid.len() >= majority {
        // No majority agrees, but a majority of the disks answered with valid copies.
        if let Some(newest) = valid.iter().max_by_key(|l| newest_copy(l)) {
            return Ok(*newest);
        }
    }
    match first_error {
        Some(e) if valid.is_empty() => Err(PaxosError::Leader(e)),
        _ => Err(PaxosError::LeaderDiff),
    }
}

/// The leader of `config`'s lease from the copies read on its disks ([`majority_leader`], each
/// copy verified as this lease's paxos leader).
fn lease_leader(config: &PaxosConfig, copies: &[Bytes]) -> Result<LeaderRecord, PaxosError> {
    majority_leader(copies, config.majority(), |l| {
        l.verify_paxos(&config.space_name, &config.resource_name, config.host_id)
    })
}

/// Order of leader copies by age: by lver, and at one lver the free copy (timestamp 0, written
/// by the owner when it gave the lease up) after the owned one.
fn newest_copy(leader: &LeaderRecord) -> (u64, bool) {
    (leader.lver, leader.timestamp == 0)
}

/// What one phase's dblock reads tell a ballot (spec §5.4 steps 2 and 5).
#[derive(Debug, Default)]
struct PhaseView {
    /// A dblock with a larger lver: abort with DBLOCK_LVER.
    larger_lver: bool,
    /// A dblock with a larger mbal: abort with DBLOCK_MBAL.
    larger_mbal: bool,
    /// The accepted value with the largest bal (inp, inp2, inp3).
    bk_max: Option<Dblock>,
    /// Hosts (other than us) whose mode block says SHARED.
    shared_hosts: Vec<(u64, u64)>,
    /// The first host whose dblock has a bad checksum (such blocks are otherwise skipped).
    corrupt: Option<u64>,
    /// The largest mbal of any verified dblock, whatever its lver.
    max_mbal: u64,
    /// The largest lver of any verified dblock.
    max_lver: u64,
}

fn examine_dblocks(
    config: &PaxosConfig,
    copies: &[Bytes],
    num_hosts: u64,
    next_lver: u64,
    mbal: u64,
) -> PhaseView {
    let mut view = PhaseView::default();
    let sector = config.sector_bytes() as usize;
    for area in copies {
        for host_id in 1..=num_hosts {
            let start = (1 + host_id as usize) * sector;
            let Some(bytes) = area.get(start..start + sector) else {
                break;
            };
            let Ok(host) = HostSector::decode(bytes) else {
                continue;
            };
            let bk = host.dblock;
            if bk.verify().is_err() {
                view.corrupt.get_or_insert(host_id);
                continue; // a torn or foreign block: skipped during ballots (spec §2.7)
            }
            view.max_mbal = view.max_mbal.max(bk.mbal);
            view.max_lver = view.max_lver.max(bk.lver);
            if host.mode_block.is_shared()
                && host_id != config.host_id
                && !view.shared_hosts.iter().any(|&(h, _)| h == host_id)
            {
                view.shared_hosts
                    .push((host_id, host.mode_block.generation));
            }
            if bk.lver < next_lver {
                continue;
            }
            if bk.lver > next_lver {
                view.larger_lver = true;
            }
            if bk.mbal > mbal {
                view.larger_mbal = true;
            }
            if bk.inp != 0 && bk.bal != 0 && view.bk_max.is_none_or(|m| bk.bal > m.bal) {
                view.bk_max = Some(bk);
            }
        }
    }
    view
}

/// Step 1 reads our sector together with the leader, in one read per disk, when it ends
/// within this many bytes of the lease start.
pub const STEP1_ONE_READ_MAX: u64 = 64 * 1024;

/// The length of step 1's leader read: 4 KiB, the largest sector size (see `read_start`).
fn step1_leader_len(c: &PaxosConfig) -> u64 {
    c.sector_bytes().max(u64::from(SectorSize::B4096.bytes()))
}

/// `Some(len)`: step 1 reads `len` bytes from the lease start, leader and our sector in one.
fn step1_single_read(c: &PaxosConfig) -> Option<u64> {
    let own_end = c.host_sector_relative(c.host_id) + c.sector_bytes();
    (own_end <= step1_leader_len(c).max(STEP1_ONE_READ_MAX))
        .then(|| own_end.max(step1_leader_len(c)))
}

/// Initial mbal (spec §5.1): `host_id` if `max_mbal` is 0, else the next value ≡ host_id
/// (mod max_hosts) above `max_mbal`. Always larger than `max_mbal`.
fn initial_mbal(max_mbal: u64, max_hosts: u64, host_id: u64) -> u64 {
    if max_mbal == 0 {
        host_id
    } else {
        max_mbal - max_mbal % max_hosts + max_hosts + host_id
    }
}

fn disk_timestamp(now: MonoTime) -> u64 {
    now.as_secs().max(1)
}

// ---------------------------------------------------------------------------------------------
// Acquire

/// The ballot being run for one lease version.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Ballot {
    /// The leader read at the top of this attempt (step 1); commit builds on it.
    leader: LeaderRecord,
    next_lver: u64,
    mbal: u64,
    /// Our dblock as last written.
    dblock: Dblock,
    /// Shared holders seen by any phase-1 read of this ballot, including reads that aborted
    /// it: (host_id, mode block generation). Kept across retried ballots: a retry may end
    /// with the leader committed for us by another host, without a phase-1 read of its own.
    shared_hosts: Vec<(u64, u64)>,
    ballots: u32,
    /// The largest lver of the dblocks read by the last aborted phase (0: none larger than
    /// ours): a ballot that aborted on it, and then reads the same leader again, is for a
    /// version the leader lags behind (finding H) and moves up to it.
    larger_lver_seen: u64,
}

/// The owner liveness wait (spec §5.3).
#[derive(Clone, Debug, PartialEq, Eq)]
struct OwnerWait {
    leader: LeaderRecord,
    wait_start: MonoTime,
    last_ts: u64,
    /// The cache saw the owner's record change at its latest check.
    cache_saw_change: bool,
    /// When this acquire first read a stale release on the owner's slot (see
    /// `on_owner_delta`); `None` while the slot shows something else.
    stale_since: Option<MonoTime>,
    /// Our own largest mbal, read at step 1 (the ballot starts above it).
    own_mbal: u64,
    /// Our own dblock's largest lver, read at step 1, and whether we gave our own value up
    /// there (RELEASED, ourselves as `inp`): see `start_ballot`.
    own_lver: u64,
    own_gave_up: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum AcquireState {
    Start,
    /// Step 1: the leader and our own sector, on every lease disk.
    ReadStart,
    OwnerDelta(OwnerWait),
    OwnerDblock(OwnerWait),
    OwnerSleep(OwnerWait),
    OwnerLeaderReread(OwnerWait),
    RetryLeaderRead(Ballot),
    Phase1Write(Ballot),
    Phase1Read(Ballot),
    Phase2Write(Ballot),
    Phase2Read(Ballot),
    AbortBackoff(Ballot),
    LeaderWrite {
        ballot: Ballot,
        committed: LeaderRecord,
    },
    /// Exclusive acquire: checking shared holders one by one (re-read its sector).
    ShCheckRead {
        held: HeldResource,
        pending: Vec<(u64, u64)>,
    },
    /// Clearing a dead shared holder's sector.
    ShClearWrite {
        held: HeldResource,
        pending: Vec<(u64, u64)>,
    },
    /// Shared acquire: our sector becomes RELEASED dblock + SHARED mode block.
    SharedModeWrite {
        held: HeldResource,
    },
    /// Shared acquire: free the leader we committed.
    SharedLeaderRelease {
        held: HeldResource,
        step: ReleaseLeader,
    },
    ShortHoldBackoff,
    /// Undoing a ballot we may have won (spec §5.5 erase-all release, after a failure past
    /// phase 2), or giving back a leader we committed when a live shared holder refuses us
    /// (then `err` is EAGAIN): one [`PaxosRetract`] attempt, then the acquire fails with
    /// `err`; if the attempt failed, what it could not undo is left to the caller
    /// ([`PaxosAcquire::leftover`]).
    Retracting {
        err: PaxosError,
        op: PaxosRetract,
    },
    /// SH→EX conversion done: our sector rewritten without the SHARED mode block.
    ConvertFinalWrite {
        held: HeldResource,
    },
    /// The first phase-1 read found a corrupt dblock: our sector is written back as step 1
    /// read it, then the acquire fails with `err` (DBLOCK_CHECKSUM).
    RestoreOwnSector {
        err: PaxosError,
    },
    Done,
}

/// Acquire a resource lease (spec §5.2-5.6).
#[derive(Clone, Debug)]
pub struct PaxosAcquire {
    config: PaxosConfig,
    request: AcquireRequest,
    host_table: Option<Arc<HostTable>>,
    state: AcquireState,
    restarts: u32,
    sh_retries: u32,
    adopted_geometry: bool,
    /// Our phase-2 dblock once written: another host may commit our value even if this acquire
    /// fails, so a failure after this point runs the erase-all release (spec §5.4-5.5).
    retract: Option<Dblock>,
    /// The last leader read had LFL_SHORT_HOLD: another host is mid-way through a shared
    /// acquire (spec §5.6), so a shared acquire that collides with it retries.
    short_hold_seen: bool,
    /// Our own sector as step 1 of this attempt read it, per lease disk (`None`: that read
    /// failed): what a refused acquire writes back (see `RestoreOwnSector`).
    own_sectors: Vec<Option<Bytes>>,
    /// Set when the acquire failed with a retract or give-back that could not finish: see
    /// [`PaxosAcquire::leftover`].
    leftover: Option<RetractPlan>,
}

impl PaxosAcquire {
    /// `host_table` is our lockspace's liveness cache (spec §5.3 step 1); without it every
    /// silent owner is watched for a full host_dead_seconds from now.
    pub fn new(
        config: PaxosConfig,
        request: AcquireRequest,
        host_table: Option<Arc<HostTable>>,
    ) -> PaxosAcquire {
        PaxosAcquire {
            config,
            request,
            host_table,
            state: AcquireState::Start,
            restarts: 0,
            sh_retries: 0,
            adopted_geometry: false,
            retract: None,
            short_hold_seen: false,
            own_sectors: Vec::new(),
            leftover: None,
        }
    }

    /// After the acquire failed: a ballot it may have won, or a leader it committed for us,
    /// that its one attempt to undo failed on I/O. While we live, a leader naming us refuses
    /// every other host (finding I), so the caller must run [`PaxosRetract`] on it again
    /// (every 2·io_timeout, as a failed release) until it succeeds or our lockspace
    /// membership ends, and must not acquire this resource meanwhile (the retract writes our
    /// sector with this ballot's dblock). `None` after a success, or when nothing is left.
    pub fn leftover(&self) -> Option<&RetractPlan> {
        self.leftover.as_ref()
    }

    /// Step 1 (spec §5.2, reduced): the leader and our own sector, on every lease disk, in one
    /// batch (leader reads first). Not the whole area: the other hosts' dblocks are first
    /// looked at by the phase-1 read, which reads them anyway (see [`PaxosAcquire::on_start`]).
    /// The leader read is 4 KiB, the largest sector size, so that a lease whose leader says
    /// 4096-byte sectors is recognised (and adopted) even when we start from a 512-byte
    /// lockspace geometry, on a device that refuses 512-byte reads.
    ///
    /// When our sector ends within [`STEP1_ONE_READ_MAX`] bytes of the lease start (host_id 6
    /// or lower with 512-byte sectors fits in the 4 KiB leader read itself), one read per disk
    /// covers both: on this bench's loop device two small reads cost 76-127 µs, one 4 KiB read
    /// about 25.
    fn read_start(&mut self) -> Step<AcquireOutput> {
        let c = &self.config;
        let leader_len = step1_leader_len(c);
        let ios = if let Some(len) = step1_single_read(c) {
            c.read_all(0, len)
        } else {
            let mut ios = c.read_all(0, leader_len);
            ios.extend(c.read_all(c.host_sector_relative(c.host_id), c.sector_bytes()));
            ios
        };
        self.state = AcquireState::ReadStart;
        io(c.io(ios))
    }

    /// Step 1's outcomes as (leader copies, own-sector copies), one of each per disk, from
    /// either form of [`PaxosAcquire::read_start`]: a single read per disk is sliced (no copy).
    fn split_start(&self, input: Resume) -> (Vec<IoOutcome>, Vec<IoOutcome>) {
        let c = &self.config;
        let n = c.disk_count();
        if step1_single_read(c).is_none() {
            let mut outcomes = outcomes(input, 2 * n);
            let own = outcomes.split_off(n);
            return (outcomes, own);
        }
        let outcomes = outcomes(input, n);
        let own_start = c.host_sector_relative(c.host_id) as usize;
        let own_end = own_start + c.sector_bytes() as usize;
        let own = outcomes
            .iter()
            .map(|o| match o {
                // A complete read has exactly the length asked for, which covers our sector.
                IoOutcome::Read(bytes) if bytes.len() >= own_end => {
                    IoOutcome::Read(bytes.slice(own_start..own_end))
                }
                other => other.clone(),
            })
            .collect();
        (outcomes, own)
    }

    fn restart(&mut self) -> Result<Step<AcquireOutput>, PaxosError> {
        self.restarts += 1;
        if self.restarts > RESTARTS_MAX {
            return Err(PaxosError::TooManyRestarts);
        }
        Ok(self.read_start())
    }

    fn read_leader(&self) -> Step<AcquireOutput> {
        io(self
            .config
            .io(self.config.read_all(0, self.config.sector_bytes())))
    }

    fn majority_leader(&mut self, copies: &[Bytes]) -> Result<LeaderRecord, PaxosError> {
        let leader = lease_leader(&self.config, copies)?;
        self.short_hold_seen = leader.flags & LFL_SHORT_HOLD != 0;
        Ok(leader)
    }

    /// Step 1 analysis: the leader copies and our own sector's copies.
    ///
    /// Our first mbal comes from our own dblock only, not from every dblock as in spec §5.1: the
    /// phase-1 read sees the real maximum, and a first ballot that aborts on a larger mbal is
    /// retried at once above it (`on_phase_read`). The checksums of the other dblocks (-214,
    /// spec §5.2 step 1) are checked by that first phase-1 read, which writes our sector back
    /// as read here if it finds a bad one. Ours is checked here, before anything is written.
    fn on_start(
        &mut self,
        now: MonoTime,
        input: Resume,
    ) -> Result<Step<AcquireOutput>, PaxosError> {
        let n = self.config.disk_count();
        let (outcomes, own_outcomes) = self.split_start(input);
        let leader = self.majority_leader(&reads(Resume::Io(outcomes), n))?;
        // The leader's own geometry wins (spec §5 intro); adopt it once and start again.
        if let Ok(geometry) = leader.geometry() {
            if geometry != self.config.geometry {
                if self.adopted_geometry {
                    return Err(PaxosError::Leader(LeaderError::SectorSize {
                        expected: self.config.geometry.sector_size().bytes(),
                        found: leader.sector_size,
                    }));
                }
                self.adopted_geometry = true;
                self.config.geometry = geometry;
                return self.restart();
            }
        }
        // Our own sector: a majority of copies, so that we see every mbal of ours that reached
        // a majority of disks (our ballot numbers must only grow), and their largest mbal.
        self.own_sectors = own_outcomes
            .into_iter()
            .map(|o| match o {
                IoOutcome::Read(bytes) => Some(bytes),
                _ => None,
            })
            .collect();
        let own_copies = self.own_sectors.iter().flatten();
        if own_copies.clone().count() < self.config.majority() {
            return Err(PaxosError::DblockRead);
        }
        let host_id = self.config.host_id;
        let (mut own_mbal, mut own_lver, mut own_gave_up) = (0, 0, false);
        for bytes in own_copies {
            let Ok(host) = HostSector::decode(bytes) else {
                continue;
            };
            if host.dblock.verify().is_err() {
                if host_id <= leader.num_hosts {
                    return Err(PaxosError::DblockChecksum { host_id });
                }
                continue; // outside the ballots' dblocks, as spec §5.2 step 1 reads them
            }
            own_mbal = own_mbal.max(host.dblock.mbal);
            if host.dblock.lver >= own_lver {
                own_lver = host.dblock.lver;
                own_gave_up = host.dblock.is_released() && host.dblock.inp == host_id;
            }
        }
        if let Some(expected) = self.request.expected_lver {
            if leader.lver != expected {
                return Err(PaxosError::LverMismatch {
                    on_disk: leader.lver,
                    expected,
                });
            }
        }
        let c = &self.config;
        let ours = leader.owner_id == c.host_id && leader.owner_generation == c.host_generation;
        let our_old_instance =
            leader.owner_id == c.host_id && leader.owner_generation < c.host_generation;
        if leader.timestamp == 0 || ours || our_old_instance {
            return self.start_ballot(now, leader, own_mbal, own_lver, own_gave_up);
        }
        // Held by another host instance: judge it through its delta lease (spec §5.3).
        let cached = self
            .host_table
            .as_ref()
            .and_then(|t| t.record(leader.owner_id).cloned());
        let wait = match cached {
            Some(r) if r.owner_id == leader.owner_id && r.generation == leader.owner_generation => {
                OwnerWait {
                    leader,
                    wait_start: r.last_live.unwrap_or(r.first_check),
                    last_ts: r.timestamp,
                    cache_saw_change: r.last_live == Some(r.last_check),
                    stale_since: None,
                    own_mbal,
                    own_lver,
                    own_gave_up,
                }
            }
            _ => OwnerWait {
                leader,
                wait_start: now,
                last_ts: 0,
                cache_saw_change: false,
                stale_since: None,
                own_mbal,
                own_lver,
                own_gave_up,
            },
        };
        Ok(self.read_owner_delta(wait))
    }

    fn read_owner_delta(&mut self, wait: OwnerWait) -> Step<AcquireOutput> {
        let ls = &self.config.lockspace;
        let offset = ls.offset + (wait.leader.owner_id - 1) * ls.geometry.sector_bytes();
        let read = Io::Read {
            disk: self.config.lockspace_disk(),
            offset,
            len: ls.geometry.sector_bytes(),
        };
        self.state = AcquireState::OwnerDelta(wait);
        io(self.config.io(vec![read]))
    }

    /// Timeouts that apply to the owner (its io_timeout from the cache or its delta lease).
    fn owner_timeouts(&self, delta_io_timeout: u16) -> Timeouts {
        self.config.timeouts.for_other_host(delta_io_timeout)
    }

    /// Spec §5.3 step 2 after reading the owner's delta lease.
    fn on_owner_delta(
        &mut self,
        now: MonoTime,
        mut wait: OwnerWait,
        input: Resume,
    ) -> Result<Step<AcquireOutput>, PaxosError> {
        let bytes = reads(input, 1).pop().ok_or(PaxosError::LeaderRead)?;
        let delta = DeltaSector::decode(&bytes)
            .map_err(|_| PaxosError::LeaderRead)?
            .leader;
        delta
            .verify_delta(&self.config.space_name)
            .map_err(PaxosError::OwnerDelta)?;
        let owner = &wait.leader;
        // A release of an *older* generation than the owner's proves nothing about the owner:
        // a late write of an earlier instance landed over the owner's record (finding L; our
        // own DeltaAcquire is fenced against it). It also erased the owner's renewals, so the
        // wait counts from our first sight of it, not from the cache: the owner cannot renew
        // over it (its renewal finds another generation in its slot and fails its lockspace,
        // RENEW_OWNER), so its last renewal came before that sight, and its holders are gone
        // host_dead_seconds after it. Any change of the slot is judged as usual.
        let stale_release = delta.timestamp == 0
            && delta.owner_id == owner.owner_id
            && delta.owner_generation < owner.owner_generation;
        if stale_release && !crate::mutations::active(crate::mutations::Mutation::NoDeltaFence) {
            let since = *wait.stale_since.get_or_insert(now);
            return self.owner_silent(now, wait, since, delta.io_timeout);
        }
        wait.stale_since = None;
        // b. The owner released its host_id; c. a newer instance holds the host_id (which took
        // at least host_dead_seconds): either way the owner instance is gone.
        if delta.timestamp == 0
            || delta.owner_id != owner.owner_id
            || delta.owner_generation > owner.owner_generation
        {
            return self.start_ballot(
                now,
                wait.leader,
                wait.own_mbal,
                wait.own_lver,
                wait.own_gave_up,
            );
        }
        if wait.last_ts == 0 {
            wait.last_ts = delta.timestamp;
        } else if delta.timestamp != wait.last_ts || wait.cache_saw_change {
            // e. Alive, unless it released while another host's ballot re-committed it.
            if owner.write_id != owner.owner_id {
                let relative = self.config.host_sector_relative(owner.owner_id);
                self.state = AcquireState::OwnerDblock(wait);
                return Ok(io(self
                    .config
                    .io(self.config.read_all(relative, self.config.sector_bytes()))));
            }
            return Err(PaxosError::IdLive {
                owner_id: owner.owner_id,
                owner_generation: owner.owner_generation,
            });
        } else {
            let since = wait.wait_start;
            return self.owner_silent(now, wait, since, delta.io_timeout);
        }
        self.owner_poll(now, wait)
    }

    /// Spec §5.3 f: the owner has been silent since `since`; dead once that is longer than
    /// its host_dead_seconds (its delta lease's `io_timeout`), else -247 for OWNER_NOWAIT or
    /// poll again.
    fn owner_silent(
        &mut self,
        now: MonoTime,
        wait: OwnerWait,
        since: MonoTime,
        io_timeout: u16,
    ) -> Result<Step<AcquireOutput>, PaxosError> {
        let timeouts = self.owner_timeouts(io_timeout);
        let mut dead = Duration::from_secs(timeouts.host_dead_seconds());
        if crate::mutations::active(crate::mutations::Mutation::ShortOwnerWait) {
            // Deliberate bug (sim teeth tests): dead after 8·io, not host_dead_seconds.
            dead = Duration::from_secs(timeouts.id_renewal_fail_seconds());
        }
        if now.saturating_since(since) > dead {
            return self.start_ballot(
                now,
                wait.leader,
                wait.own_mbal,
                wait.own_lver,
                wait.own_gave_up,
            );
        }
        if self.request.owner_nowait {
            return Err(PaxosError::OwnedRetry {
                owner_id: wait.leader.owner_id,
            });
        }
        self.owner_poll(now, wait)
    }

    /// Spec §5.3 g: poll the owner again in a second.
    fn owner_poll(
        &mut self,
        now: MonoTime,
        wait: OwnerWait,
    ) -> Result<Step<AcquireOutput>, PaxosError> {
        self.state = AcquireState::OwnerSleep(wait);
        Ok(Step::Sleep {
            until: now.saturating_add(OWNER_POLL),
            jitter: Duration::ZERO,
        })
    }

    fn on_owner_dblock(
        &mut self,
        now: MonoTime,
        wait: OwnerWait,
        input: Resume,
    ) -> Result<Step<AcquireOutput>, PaxosError> {
        let copies = reads(input, self.config.disk_count());
        if copies.len() < self.config.majority() {
            return Err(PaxosError::DblockRead);
        }
        let owner = wait.leader;
        // Any copy will do: the owner marks its dblock RELEASED only when it gives the lease
        // up, and its write may have missed a disk (simulator finding J: a late helper's
        // commit named the owner again after its release, whose RELEASED dblock had reached
        // two disks of three, and every acquirer answered IDLIVE while the owner lived). The
        // ballot that follows finds any value chosen since (Disk Paxos), so a stale flag can
        // cost a ballot, never a second owner.
        let released = copies.iter().any(|bytes| {
            HostSector::decode(bytes)
                .map(|h| {
                    h.dblock.verify().is_ok()
                        && h.dblock.is_released()
                        && h.dblock.lver >= owner.lver
                })
                .unwrap_or(false)
        });
        if released {
            return self.start_ballot(now, owner, wait.own_mbal, wait.own_lver, wait.own_gave_up);
        }
        Err(PaxosError::IdLive {
            owner_id: owner.owner_id,
            owner_generation: owner.owner_generation,
        })
    }

    /// `run:` of spec §5.2: fix next_lver, pick the first mbal above our own (step 1), write
    /// phase 1.
    ///
    /// next_lver is the leader's lver + 1 (spec), except after a late write took the leader
    /// back (finding H) behind a ballot of ours: never below our own dblock's lver, since a
    /// phase-1 write for an older version would erase what we accepted for ours, so that a
    /// later ballot there could choose another value (simulator, `safety` seed 435 with the
    /// leader check off: lver 50 granted again after 52); Disk Paxos keeps each processor's
    /// state from going back, and so do we. Past it when we gave our own value up there
    /// (released or retracted): its ballot would hand the version we had out to us again,
    /// and a handover expecting it would then pass over our hold. (When the leader is not
    /// behind, a retracted version of ours right after it is balloted again: it was never
    /// granted, so it is the next one.)
    fn start_ballot(
        &mut self,
        now: MonoTime,
        leader: LeaderRecord,
        own_mbal: u64,
        own_lver: u64,
        own_gave_up: bool,
    ) -> Result<Step<AcquireOutput>, PaxosError> {
        let mut next_lver = leader.lver + 1;
        if own_lver > next_lver {
            next_lver = if own_gave_up { own_lver + 1 } else { own_lver };
        }
        let mbal = initial_mbal(own_mbal, leader.max_hosts.max(1), self.config.host_id);
        let ballot = Ballot {
            leader,
            next_lver,
            mbal,
            dblock: Dblock::default(),
            shared_hosts: Vec::new(),
            ballots: 0,
            larger_lver_seen: 0,
        };
        // The first attempt reuses the step-1 leader instead of re-reading it.
        self.phase1(now, ballot)
    }

    fn phase1(
        &mut self,
        _now: MonoTime,
        mut ballot: Ballot,
    ) -> Result<Step<AcquireOutput>, PaxosError> {
        ballot.ballots += 1;
        if ballot.ballots > BALLOTS_MAX {
            return Err(PaxosError::TooManyBallots);
        }
        assert_eq!(
            ballot.mbal % ballot.leader.max_hosts.max(1),
            self.config.host_id % ballot.leader.max_hosts.max(1)
        );
        // Phase 1 dblock: bal and inp zero (sanlock's variant, spec §9 gotcha 4).
        ballot.dblock = Dblock {
            mbal: ballot.mbal,
            lver: ballot.next_lver,
            ..Dblock::default()
        }
        .with_checksum();
        let sector = self
            .config
            .host_sector(ballot.dblock, self.ballot_mode_block());
        let relative = self.config.host_sector_relative(self.config.host_id);
        let ios = self.config.write_all(relative, &sector);
        self.state = AcquireState::Phase1Write(ballot);
        Ok(io(self.config.io(ios)))
    }

    /// The mode block written with our ballot dblocks: ours stays SHARED while converting
    /// SH→EX, zero otherwise (a dblock write always rewrites the whole sector).
    fn ballot_mode_block(&self) -> ModeBlock {
        if self.request.convert_from_shared {
            ModeBlock {
                flags: MBLOCK_SHARED,
                generation: self.config.host_generation,
            }
        } else {
            ModeBlock::default()
        }
    }

    /// Writes our sector back, on each disk, as step 1 read it there (disks whose step-1 read
    /// failed keep our phase-1 dblock, which holds no value), then fails with `err`.
    /// Only used before our phase-2 write: nothing of ours that may have been chosen is undone
    /// (the phase-1 write had erased our older accepted value, if any; it comes back as it was).
    /// A later acquire may use the phase-1 mbal again, as it starts above our own dblock: that
    /// ballot never carried a value, so no ballot number of ours ever proposes two values.
    fn restore_own_sector(&mut self, err: PaxosError) -> Step<AcquireOutput> {
        let c = &self.config;
        let relative = c.host_sector_relative(c.host_id);
        let ios = self
            .own_sectors
            .iter()
            .zip(&c.lease_offsets)
            .enumerate()
            .filter_map(|(disk, (bytes, base))| {
                bytes.as_ref().map(|bytes| Io::Write {
                    disk,
                    offset: base + relative,
                    data: bytes.to_vec(),
                })
            })
            .collect();
        self.state = AcquireState::RestoreOwnSector { err };
        io(c.io(ios))
    }

    fn read_dblocks(&self, ballot: &Ballot) -> Step<AcquireOutput> {
        let len = self
            .config
            .geometry
            .ballot_read_len(ballot.leader.num_hosts);
        io(self.config.io(self.config.read_all(0, len)))
    }

    fn on_phase_read(
        &mut self,
        now: MonoTime,
        mut ballot: Ballot,
        input: Resume,
        phase: u8,
    ) -> Result<Step<AcquireOutput>, PaxosError> {
        let copies = reads(input, self.config.disk_count());
        if copies.len() < self.config.majority() {
            return Err(PaxosError::DblockRead);
        }
        let mut view = examine_dblocks(
            &self.config,
            &copies,
            ballot.leader.num_hosts,
            ballot.next_lver,
            ballot.mbal,
        );
        // The first phase-1 read of this attempt is the first look at the other dblocks: it
        // does step 1's checksum check (spec §5.2 step 1). We wrote only a phase-1 dblock (no
        // value), so a refused acquire writes our sector back as step 1 found it.
        let first_read = phase == 1 && ballot.ballots == 1;
        if let (true, Some(host_id)) = (first_read, view.corrupt) {
            return Ok(self.restore_own_sector(PaxosError::DblockChecksum { host_id }));
        }
        if phase == 1 {
            // Shared holders are noted before any abort, and kept across retried ballots (see
            // `Ballot::shared_hosts`).
            for &(host_id, generation) in &view.shared_hosts {
                if !ballot.shared_hosts.iter().any(|&(h, _)| h == host_id) {
                    ballot.shared_hosts.push((host_id, generation));
                }
            }
        }
        if phase == 1 && crate::mutations::active(crate::mutations::Mutation::SkipPhase1Read) {
            // Deliberate bug (sim teeth tests): ignore the other hosts' dblocks in phase 1.
            (view.larger_lver, view.larger_mbal, view.bk_max) = (false, false, None);
        }
        if first_read && view.larger_mbal && !view.larger_lver {
            // Our first mbal was only above our own (step 1 did not read the others): jump past
            // every mbal seen and ballot again at once. No back-off: this is what the spec's
            // whole-area read at step 1 would have cost, not contention. Only once per attempt;
            // later aborts back off.
            let max_hosts = ballot.leader.max_hosts.max(1);
            let mbal = initial_mbal(view.max_mbal, max_hosts, self.config.host_id);
            assert!(mbal > ballot.mbal, "our ballot numbers only grow");
            ballot.mbal = mbal;
            return self.phase1(now, ballot);
        }
        if view.larger_lver || view.larger_mbal {
            // Abort: back off a random time up to 1 s, then a higher ballot (spec §5.2): the
            // spec's mbal + max_hosts, or past every mbal seen if that is more. Our first mbal
            // is only above our own, so a competitor's can be far above it; one step of
            // max_hosts per ballot could then exhaust BALLOTS_MAX (simulator, no-hangs seed 114
            // needed 13 ballots).
            let max_hosts = ballot.leader.max_hosts.max(1);
            let past_seen = initial_mbal(view.max_mbal, max_hosts, self.config.host_id);
            ballot.mbal = (ballot.mbal + max_hosts).max(past_seen);
            ballot.larger_lver_seen = if view.larger_lver { view.max_lver } else { 0 };
            self.state = AcquireState::AbortBackoff(ballot);
            return Ok(Step::Sleep {
                until: now,
                jitter: BACKOFF_JITTER,
            });
        }
        if phase == 2 {
            return self.commit(now, ballot);
        }
        // Choose the value: the accepted one with the largest bal, else ourselves.
        let c = &self.config;
        let (inp, inp2, inp3) = match view.bk_max {
            Some(bk) => (bk.inp, bk.inp2, bk.inp3),
            None => (c.host_id, c.host_generation, disk_timestamp(now)),
        };
        ballot.dblock = Dblock {
            mbal: ballot.mbal,
            bal: ballot.mbal,
            inp,
            inp2,
            inp3,
            lver: ballot.next_lver,
            ..Dblock::default()
        }
        .with_checksum();
        let sector = c.host_sector(ballot.dblock, self.ballot_mode_block());
        let ios = c.write_all(c.host_sector_relative(c.host_id), &sector);
        self.retract = Some(ballot.dblock);
        self.state = AcquireState::Phase2Write(ballot);
        Ok(io(c.io(ios)))
    }

    /// Phase 2 succeeded: the value in our dblock is chosen for next_lver. Write the leader.
    fn commit(&mut self, now: MonoTime, ballot: Ballot) -> Result<Step<AcquireOutput>, PaxosError> {
        let c = &self.config;
        let mut committed = ballot.leader;
        committed.lver = ballot.dblock.lver;
        committed.owner_id = ballot.dblock.inp;
        committed.owner_generation = ballot.dblock.inp2;
        committed.timestamp = ballot.dblock.inp3;
        committed.write_id = c.host_id;
        committed.write_generation = c.host_generation;
        committed.write_timestamp = disk_timestamp(now);
        if let Some(num_hosts) = self.request.num_hosts {
            committed.num_hosts = num_hosts;
        }
        if committed.owner_id == c.host_id {
            match self.request.mode {
                LeaseMode::Shared => committed.flags |= LFL_SHORT_HOLD,
                LeaseMode::Exclusive => committed.flags &= !LFL_SHORT_HOLD,
            }
        }
        let committed = committed.with_checksum();
        assert!(committed.timestamp != 0, "a committed leader is never free");
        let ios = c.write_all(0, &c.leader_sector(&committed));
        self.state = AcquireState::LeaderWrite { ballot, committed };
        Ok(io(c.io(ios)))
    }

    fn on_leader_written(
        &mut self,
        now: MonoTime,
        ballot: Ballot,
        committed: LeaderRecord,
        input: Resume,
    ) -> Result<Step<AcquireOutput>, PaxosError> {
        if writes_ok(input, self.config.disk_count()) < self.config.majority() {
            return Err(PaxosError::LeaderWrite);
        }
        let c = &self.config;
        if committed.owner_id != c.host_id || committed.owner_generation != c.host_generation {
            return Err(PaxosError::Other {
                lver: committed.lver,
            });
        }
        let held = HeldResource {
            config: c.clone(),
            mode: self.request.mode,
            lver: committed.lver,
            leader: committed,
            dblock: ballot.dblock,
            leader_to_free: None,
        };
        self.after_success(now, held, ballot.shared_hosts)
    }

    /// What follows a committed ballot in each mode (spec §5.6).
    fn after_success(
        &mut self,
        now: MonoTime,
        held: HeldResource,
        shared_hosts: Vec<(u64, u64)>,
    ) -> Result<Step<AcquireOutput>, PaxosError> {
        match held.mode {
            LeaseMode::Shared => {
                let c = &self.config;
                let mut dblock = held.dblock;
                dblock.flags |= DBLOCK_FL_RELEASED;
                let mode_block = ModeBlock {
                    flags: MBLOCK_SHARED,
                    generation: c.host_generation,
                };
                let ios = c.write_all(
                    c.host_sector_relative(c.host_id),
                    &c.host_sector(dblock, mode_block),
                );
                let held = HeldResource { dblock, ..held };
                self.state = AcquireState::SharedModeWrite { held };
                Ok(io(c.io(ios)))
            }
            LeaseMode::Exclusive => self.next_shared_check(now, held, shared_hosts),
        }
    }

    fn next_shared_check(
        &mut self,
        _now: MonoTime,
        held: HeldResource,
        pending: Vec<(u64, u64)>,
    ) -> Result<Step<AcquireOutput>, PaxosError> {
        let Some(&(host_id, _)) = pending.last() else {
            if self.request.convert_from_shared {
                // Exclusive now: drop our SHARED mode block (spec §5.6 "Convert SH→EX").
                let c = &self.config;
                let sector = c.host_sector(held.dblock, ModeBlock::default());
                let ios = c.write_all(c.host_sector_relative(c.host_id), &sector);
                self.state = AcquireState::ConvertFinalWrite { held };
                return Ok(io(c.io(ios)));
            }
            self.state = AcquireState::Done;
            return Ok(Step::Done(Ok(held)));
        };
        let c = &self.config;
        let ios = c.read_all(c.host_sector_relative(host_id), c.sector_bytes());
        self.state = AcquireState::ShCheckRead { held, pending };
        Ok(io(c.io(ios)))
    }

    /// Is shared holder `host_id` (mode block generation `generation`) alive, per our cache?
    /// Unknown counts as alive (spec §5.6).
    fn shared_holder_alive(&self, now: MonoTime, host_id: u64, generation: u64) -> bool {
        let Some(table) = &self.host_table else {
            return true;
        };
        let Some(record) = table.record(host_id) else {
            return true;
        };
        if generation > record.generation {
            // A newer incarnation than our table has seen wrote this SHARED block: unknown to
            // us, so alive (a finding of the simulator: judging it by the old incarnation's
            // silence cleared a live holder).
            return true;
        }
        if record.timestamp == 0 || record.generation > generation {
            return false;
        }
        let dead = Duration::from_secs(
            self.config
                .timeouts
                .for_other_host(record.io_timeout)
                .host_dead_seconds(),
        );
        // Dead only on evidence: our own checks saw the record unchanged for longer than
        // host_dead. Time since our last check proves nothing (our renewals may have stalled,
        // leaving a stale table), so `now` is not used here (a finding of the simulator).
        let _ = now;
        let last = record.last_live.unwrap_or(record.first_check);
        record.last_check.saturating_since(last) <= dead
    }

    fn on_sh_check(
        &mut self,
        now: MonoTime,
        held: HeldResource,
        mut pending: Vec<(u64, u64)>,
        input: Resume,
    ) -> Result<Step<AcquireOutput>, PaxosError> {
        let (host_id, _) = pending.pop().expect("a pending shared holder");
        let copies = reads(input, self.config.disk_count());
        if copies.len() < self.config.majority() {
            return Err(PaxosError::DblockRead);
        }
        let shared: Vec<u64> = copies
            .iter()
            .filter_map(|bytes| {
                let host = HostSector::decode(bytes).ok()?;
                host.mode_block
                    .is_shared()
                    .then_some(host.mode_block.generation)
            })
            .collect();
        // A shared hold was written to a majority of the disks before its holder freed the
        // leader we have since committed, and only a release or a dead-holder clear takes it
        // off a disk. So when every disk answered and fewer than a majority show the SHARED
        // block, it is a leftover (a release or a failed shared acquire whose write missed
        // some disks), not a hold: left alone, it refused every exclusive acquire for as
        // long as its writer lived (simulator finding J, seed 20011). With a disk silent,
        // one copy is enough to count.
        let all_answered = copies.len() == self.config.disk_count();
        // The newest incarnation's block is the hold: a disk that missed its write may still
        // show an older one's (judged by that, a live holder was taken for dead and cleared:
        // simulator, three disks, seed 30544).
        let shared_generation = if all_answered && shared.len() < self.config.majority() {
            None
        } else {
            shared.iter().copied().max()
        };
        let Some(generation) = shared_generation else {
            return self.next_shared_check(now, held, pending); // no longer shared
        };
        if self.shared_holder_alive(now, host_id, generation) {
            // Give the lease back: first our dblock RELEASED (a concurrent ballot may have
            // adopted our value and commit it after we free the leader; acquirers then treat
            // that leader as free because of this flag), then the leader (simulator finding F).
            // The same job as the erase-all retract: a leader naming us at this lver.
            self.retract = None;
            let plan = self.retract_plan(held.dblock);
            return Ok(self.start_retract(now, PaxosError::SharedHeld { host_id }, plan));
        }
        // A dead shared holder: zero its whole sector (dblock and mode block).
        let c = &self.config;
        let zero = vec![0u8; c.geometry.sector_size().bytes_usize()];
        let ios = c.write_all(c.host_sector_relative(host_id), &zero);
        self.state = AcquireState::ShClearWrite { held, pending };
        Ok(io(c.io(ios)))
    }

    fn step(&mut self, now: MonoTime, input: Resume) -> Result<Step<AcquireOutput>, PaxosError> {
        let n = self.config.disk_count();
        let state = std::mem::replace(&mut self.state, AcquireState::Done);
        match state {
            AcquireState::Start => {
                self.config.validate()?;
                Ok(self.read_start())
            }
            AcquireState::ReadStart => self.on_start(now, input),
            AcquireState::OwnerDelta(wait) => self.on_owner_delta(now, wait, input),
            AcquireState::OwnerDblock(wait) => self.on_owner_dblock(now, wait, input),
            AcquireState::OwnerSleep(wait) => {
                self.state = AcquireState::OwnerLeaderReread(wait);
                Ok(self.read_leader())
            }
            AcquireState::OwnerLeaderReread(wait) => {
                let leader = self.majority_leader(&reads(input, n))?;
                if leader.encode() != wait.leader.encode() {
                    return self.restart(); // the lease changed while we watched its owner
                }
                Ok(self.read_owner_delta(wait))
            }
            AcquireState::AbortBackoff(ballot) => {
                self.state = AcquireState::RetryLeaderRead(ballot);
                Ok(self.read_leader())
            }
            AcquireState::RetryLeaderRead(ballot) => {
                let leader = self.majority_leader(&reads(input, n))?;
                if leader.lver == ballot.next_lver {
                    // Somebody committed our version: us (a ballot finished by another host
                    // with our value) or another host.
                    let c = &self.config;
                    if leader.owner_id == c.host_id && leader.owner_generation == c.host_generation
                    {
                        let held = HeldResource {
                            config: c.clone(),
                            mode: self.request.mode,
                            lver: leader.lver,
                            leader,
                            dblock: ballot.dblock,
                            leader_to_free: None,
                        };
                        return self.after_success(now, held, ballot.shared_hosts);
                    }
                    return Err(PaxosError::Owned { lver: leader.lver });
                }
                if leader.lver > ballot.next_lver || leader.encode() != ballot.leader.encode() {
                    return self.restart();
                }
                let mut ballot = ballot;
                if ballot.larger_lver_seen > ballot.next_lver {
                    // The leader has not moved, yet a ballot for a later version ran: the
                    // leader went back (a late write, finding H). Ballot for that version: it
                    // adopts the value chosen there, if any, and its commit repairs the leader.
                    // Every other ballot for our version would abort on it, for good.
                    ballot.next_lver = ballot.larger_lver_seen;
                }
                self.phase1(now, ballot)
            }
            AcquireState::Phase1Write(ballot) => {
                if writes_ok(input, n) < self.config.majority() {
                    return Err(PaxosError::DblockWrite);
                }
                let step = self.read_dblocks(&ballot);
                self.state = AcquireState::Phase1Read(ballot);
                Ok(step)
            }
            AcquireState::Phase1Read(ballot) => self.on_phase_read(now, ballot, input, 1),
            AcquireState::Phase2Write(ballot) => {
                if writes_ok(input, n) < self.config.majority() {
                    return Err(PaxosError::DblockWrite);
                }
                let step = self.read_dblocks(&ballot);
                self.state = AcquireState::Phase2Read(ballot);
                Ok(step)
            }
            AcquireState::Phase2Read(ballot) => self.on_phase_read(now, ballot, input, 2),
            AcquireState::LeaderWrite { ballot, committed } => {
                self.on_leader_written(now, ballot, committed, input)
            }
            AcquireState::ShCheckRead { held, pending } => {
                self.on_sh_check(now, held, pending, input)
            }
            AcquireState::ShClearWrite { held, pending } => {
                if writes_ok(input, n) < self.config.majority() {
                    return Err(PaxosError::DblockWrite);
                }
                self.next_shared_check(now, held, pending)
            }
            AcquireState::SharedModeWrite { held } => {
                if writes_ok(input, n) < self.config.majority() {
                    return Err(PaxosError::DblockWrite);
                }
                let step = ReleaseLeader::start(&self.config, &held.leader);
                let ios = step.ios(&self.config, now);
                self.state = AcquireState::SharedLeaderRelease { held, step };
                Ok(io(self.config.io(ios)))
            }
            AcquireState::SharedLeaderRelease { held, step } => {
                match step.on_io(&self.config, now, input) {
                    ReleaseProgress::Io(step, ios) => {
                        self.state = AcquireState::SharedLeaderRelease { held, step };
                        Ok(io(self.config.io(ios)))
                    }
                    ReleaseProgress::Done(Err(
                        PaxosError::LeaderWrite | PaxosError::LeaderRead | PaxosError::LeaderDiff,
                    )) => {
                        // The leader may still name us with LFL_SHORT_HOLD: fail, and the
                        // erase-all release drops our SHARED block and frees the leader
                        // (a finding of the simulator: reporting success left it held).
                        Err(PaxosError::LeaderWrite)
                    }
                    ReleaseProgress::Done(result) => {
                        // Freed, or another host already moved the leader on: we hold SH
                        // through our mode block.
                        let leader = result.unwrap_or(held.leader);
                        self.state = AcquireState::Done;
                        Ok(Step::Done(Ok(HeldResource { leader, ..held })))
                    }
                }
            }
            AcquireState::ShortHoldBackoff => self.restart(),
            AcquireState::Retracting { err, mut op } => match op.resume(now, input) {
                Step::Io { ios, timeout } => {
                    self.state = AcquireState::Retracting { err, op };
                    Ok(Step::Io { ios, timeout })
                }
                Step::Sleep { .. } => unreachable!("a retract never sleeps"),
                Step::Done(done) => {
                    if done.is_err() {
                        self.leftover = Some(op.plan);
                    }
                    Err(err)
                }
            },
            AcquireState::RestoreOwnSector { err } => {
                let _ = outcomes(input, self.own_sectors.iter().flatten().count()); // best effort
                Err(err)
            }
            AcquireState::ConvertFinalWrite { held } => {
                // Exclusive already, whatever became of this write: the leader we committed
                // names us, so nobody takes the lease while we live. A SHARED mode block of
                // ours left on some disk is harmless meanwhile, and our release rewrites our
                // sector without it. Failing here would tell the caller it still holds SH
                // while this write may have cleared our SHARED mode block, and the retract
                // then freed the leader: nothing on disk would show our hold (finding M).
                let _ = writes_ok(input, n);
                self.state = AcquireState::Done;
                Ok(Step::Done(Ok(held)))
            }
            AcquireState::Done => panic!("paxos_acquire resumed after it finished"),
        }
    }

    /// After a failure past phase 2 that leaves our value possibly chosen (I/O errors, given-up
    /// ballots), run the erase-all release: mark our dblock RELEASED (acquirers then treat a
    /// leader naming us, written by another host, as free) and free a leader we wrote.
    fn retract_after(&mut self, err: &PaxosError, now: MonoTime) -> Option<Step<AcquireOutput>> {
        let possibly_chosen = matches!(
            err,
            PaxosError::DblockRead
                | PaxosError::DblockWrite
                | PaxosError::LeaderRead
                | PaxosError::LeaderWrite
                | PaxosError::LeaderDiff
                | PaxosError::TooManyBallots
                | PaxosError::TooManyRestarts
        );
        let dblock = self.retract.filter(|_| possibly_chosen)?;
        self.retract = None;
        let plan = self.retract_plan(dblock);
        Some(self.start_retract(now, err.clone(), plan))
    }

    /// What undoing our ballot of `dblock` takes: our sector with it RELEASED (and the mode
    /// block our ballot writes carried), and a leader naming us at its lver freed.
    fn retract_plan(&self, mut dblock: Dblock) -> RetractPlan {
        dblock.flags |= DBLOCK_FL_RELEASED;
        RetractPlan {
            config: self.config.clone(),
            dblock,
            sector: self.config.host_sector(dblock, self.ballot_mode_block()),
            lver: dblock.lver,
        }
    }

    fn start_retract(
        &mut self,
        now: MonoTime,
        err: PaxosError,
        plan: RetractPlan,
    ) -> Step<AcquireOutput> {
        let mut op = PaxosRetract::continuing(plan);
        let Step::Io { ios, timeout } = op.resume(now, Resume::Start) else {
            unreachable!("a retract starts with its dblock write");
        };
        self.state = AcquireState::Retracting { err, op };
        Step::Io { ios, timeout }
    }

    /// Shared acquires retry when they collide with another host's short hold (spec §5.6).
    fn retry_short_hold(&mut self, err: &PaxosError, now: MonoTime) -> Option<Step<AcquireOutput>> {
        let collision = matches!(
            err,
            PaxosError::IdLive { .. } | PaxosError::Owned { .. } | PaxosError::Other { .. }
        );
        if self.request.mode != LeaseMode::Shared
            || !collision
            || !self.short_hold_seen
            || self.sh_retries >= SH_RETRIES_MAX
        {
            return None;
        }
        self.sh_retries += 1;
        self.state = AcquireState::ShortHoldBackoff;
        Some(Step::Sleep {
            until: now,
            jitter: BACKOFF_JITTER,
        })
    }
}

impl Operation for PaxosAcquire {
    type Output = AcquireOutput;

    fn name(&self) -> &'static str {
        "paxos_acquire"
    }

    fn fence_areas(&self) -> Vec<FenceArea> {
        self.config.fence_areas()
    }

    fn lockspace_generation(&self) -> Option<u64> {
        Some(self.config.host_generation)
    }

    fn resume(&mut self, now: MonoTime, input: Resume) -> Step<AcquireOutput> {
        match self.step(now, input) {
            Ok(step) => {
                if matches!(step, Step::Done(Ok(_))) {
                    self.retract = None;
                }
                step
            }
            Err(err) => {
                if let Some(step) = self.retract_after(&err, now) {
                    return step;
                }
                if let Some(step) = self.retry_short_hold(&err, now) {
                    return step;
                }
                let err = if self.sh_retries >= SH_RETRIES_MAX
                    && self.request.mode == LeaseMode::Shared
                {
                    PaxosError::ShRetry
                } else {
                    err
                };
                self.state = AcquireState::Done;
                Step::Done(Err(err))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Release

/// Freeing the leader we committed (spec §5.5 step 2): read it, then write its free copy if it
/// is still ours as committed. Used by a shared acquire (its short hold) and by the EX→SH
/// conversion; a refused or failed acquire gives its leader back through [`PaxosRetract`].
#[derive(Clone, Debug, PartialEq, Eq)]
struct ReleaseLeader {
    /// The leader we committed (what must still be on disk).
    ours: LeaderRecord,
    /// Set once the leader was read and the free leader written.
    wrote: Option<LeaderRecord>,
}

enum ReleaseProgress {
    Io(ReleaseLeader, Vec<Io>),
    /// The leader as we left it (free, or untouched when another host wrote it).
    Done(Result<LeaderRecord, PaxosError>),
}

impl ReleaseLeader {
    fn start(_config: &PaxosConfig, ours: &LeaderRecord) -> ReleaseLeader {
        ReleaseLeader {
            ours: *ours,
            wrote: None,
        }
    }

    fn ios(&self, config: &PaxosConfig, _now: MonoTime) -> Vec<Io> {
        config.read_all(0, config.sector_bytes())
    }

    fn on_io(self, config: &PaxosConfig, now: MonoTime, input: Resume) -> ReleaseProgress {
        let n = config.disk_count();
        if let Some(free) = self.wrote {
            let ok = writes_ok(input, n) >= config.majority();
            return ReleaseProgress::Done(if ok {
                Ok(free)
            } else {
                Err(PaxosError::LeaderWrite)
            });
        }
        let free = match leader_to_free(config, &self.ours, &reads(input, n), now) {
            Ok(FreeLeader::Write(free)) => free,
            Ok(FreeLeader::LeaveAlone(leader)) => return ReleaseProgress::Done(Ok(leader)),
            Err(e) => return ReleaseProgress::Done(Err(e)),
        };
        let ios = config.write_all(0, &config.leader_sector(&free));
        ReleaseProgress::Io(
            ReleaseLeader {
                ours: self.ours,
                wrote: Some(free),
            },
            ios,
        )
    }
}

/// What a release does with the leader it read (spec §5.5 step 2).
#[derive(Clone, Debug, PartialEq, Eq)]
enum FreeLeader {
    /// The free leader to write: ours, exactly as we committed it, with timestamp 0.
    Write(LeaderRecord),
    /// Another host committed us as owner: leave its leader alone; our RELEASED dblock tells
    /// acquirers the lease is free (spec §5.5, gotcha 8).
    LeaveAlone(LeaderRecord),
}

/// Checks the leader copies read by a release against `ours`, the leader we committed, and
/// builds the free leader to write. Errors: the majority read's, RELEASE_LVER, RELEASE_OWNER.
fn leader_to_free(
    config: &PaxosConfig,
    ours: &LeaderRecord,
    copies: &[Bytes],
    now: MonoTime,
) -> Result<FreeLeader, PaxosError> {
    let leader = lease_leader(config, copies)?;
    if leader.write_id != config.host_id {
        return Ok(FreeLeader::LeaveAlone(leader));
    }
    if leader.lver != ours.lver {
        return Err(PaxosError::ReleaseLver {
            on_disk: leader.lver,
            ours: ours.lver,
        });
    }
    let owned_by_us =
        leader.owner_id == config.host_id && leader.owner_generation == config.host_generation;
    if leader.timestamp == 0 || !owned_by_us || leader.encode() != ours.encode() {
        return Err(PaxosError::ReleaseOwner);
    }
    Ok(FreeLeader::Write(free_copy(config, leader, now)))
}

/// The free copy of `leader` we write (spec §5.5 step 2): timestamp 0, written by us now,
/// LFL_SHORT_HOLD cleared; lver, owner_id and owner_generation kept.
fn free_copy(config: &PaxosConfig, leader: LeaderRecord, now: MonoTime) -> LeaderRecord {
    let mut free = leader;
    free.timestamp = 0;
    free.write_id = config.host_id;
    free.write_generation = config.host_generation;
    free.write_timestamp = disk_timestamp(now);
    free.flags &= !LFL_SHORT_HOLD;
    free.with_checksum()
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum ReleaseState {
    Start,
    /// Reading our own sector (the RELEASED dblock must not be older than what we last wrote
    /// there: a failed conversion ran ballots the held lease does not know about) and, for an
    /// exclusive lease, the leader, in one batch.
    Read,
    /// Writing the RELEASED dblock and, if the leader is still ours as we committed it, the
    /// free leader, in one batch. `leader`: the leader as we leave it, if any was read.
    Write {
        leader: Option<Result<FreeLeader, PaxosError>>,
    },
    Done,
}

/// Release a resource lease (spec §5.5; shared: §5.6 "Release SH").
#[derive(Clone, Debug)]
pub struct PaxosRelease {
    held: HeldResource,
    state: ReleaseState,
}

impl PaxosRelease {
    pub fn new(held: HeldResource) -> PaxosRelease {
        PaxosRelease {
            held,
            state: ReleaseState::Start,
        }
    }
}

impl Operation for PaxosRelease {
    type Output = Result<(), PaxosError>;

    fn name(&self) -> &'static str {
        "paxos_release"
    }

    fn fence_areas(&self) -> Vec<FenceArea> {
        self.held.config.fence_areas()
    }

    fn lockspace_generation(&self) -> Option<u64> {
        Some(self.held.config.host_generation)
    }

    fn resume(&mut self, now: MonoTime, input: Resume) -> Step<Self::Output> {
        let config = &self.held.config;
        match std::mem::replace(&mut self.state, ReleaseState::Done) {
            ReleaseState::Start => {
                self.state = ReleaseState::Read;
                let relative = config.host_sector_relative(config.host_id);
                let mut ios = config.read_all(relative, config.sector_bytes());
                if self.reads_leader() {
                    ios.extend(config.read_all(0, config.sector_bytes()));
                }
                io(config.io(ios))
            }
            ReleaseState::Read => {
                let n = config.disk_count();
                let exclusive = self.held.mode == LeaseMode::Exclusive;
                let reads_leader = self.reads_leader();
                let mut outcomes = outcomes(input, if reads_leader { 2 * n } else { n });
                let leader_reads = outcomes.split_off(n);
                // 1. Our dblock with RELEASED, mode block zero (drops SH too). Built on the
                // newest of our dblocks (ours as held, ours as on disk): a processor's ballot
                // state must never go back (Disk Paxos; simulator finding G).
                let newest = newest_own_dblock(self.held.dblock, &reads(Resume::Io(outcomes), n));
                let mut dblock = newest;
                dblock.flags |= DBLOCK_FL_RELEASED;
                self.held.dblock = dblock;
                let sector = config.host_sector(dblock, ModeBlock::default());
                let mut ios =
                    config.write_all(config.host_sector_relative(config.host_id), &sector);
                // 2. Exclusive: the leader, checked against the one we committed. Its free
                // copy goes in the same batch as the dblock: the two are independent (an
                // acquirer of the next lver ignores our dblock; a failed dblock write is
                // ignored, spec §5.5 step 1), so the release costs two round trips, not four.
                let copies = if reads_leader {
                    reads(Resume::Io(leader_reads), n)
                } else {
                    Vec::new()
                };
                let leader = match self.held.leader_to_free {
                    _ if exclusive => Some(leader_to_free(config, &self.held.leader, &copies, now)),
                    // Shared, with a leader a failed conversion left naming us: freed in the
                    // same batch if it still does.
                    Some(lver) => Some(free_leftover_leader(config, lver, &copies, now)),
                    None => None,
                };
                if let Some(Ok(FreeLeader::Write(free))) = &leader {
                    ios.extend(config.write_all(0, &config.leader_sector(free)));
                }
                self.state = ReleaseState::Write { leader };
                io(config.io(ios))
            }
            ReleaseState::Write { leader } => {
                let n = config.disk_count();
                let expected = match &leader {
                    Some(Ok(FreeLeader::Write(_))) => 2 * n,
                    _ => n,
                };
                let mut outcomes = outcomes(input, expected);
                let leader_writes = outcomes.split_off(n);
                let dblocks_written = outcomes.iter().filter(|o| !io_failed(o)).count();
                let shared = self.held.mode == LeaseMode::Shared;
                match leader {
                    // Shared: our mode block *is* the shared hold: a release that did not
                    // clear it on a majority of disks has not released anything (a finding of
                    // the simulator: reporting success left a SHARED block behind). Shared
                    // holders never own the leader (but for a failed conversion's leftover).
                    _ if shared && dblocks_written < config.majority() => {
                        Step::Done(Err(PaxosError::DblockWrite))
                    }
                    None => Step::Done(Ok(())),
                    // Exclusive: a failed dblock write is ignored (spec §5.5 step 1), the
                    // leader decides.
                    Some(Err(e)) => Step::Done(Err(e)),
                    Some(Ok(FreeLeader::LeaveAlone(_))) => Step::Done(Ok(())),
                    Some(Ok(FreeLeader::Write(_))) => {
                        let written = leader_writes.iter().filter(|o| !io_failed(o)).count();
                        if written >= config.majority() {
                            Step::Done(Ok(()))
                        } else {
                            Step::Done(Err(PaxosError::LeaderWrite))
                        }
                    }
                }
            }
            ReleaseState::Done => panic!("paxos_release resumed after it finished"),
        }
    }
}

impl PaxosRelease {
    /// Exclusive holds free the leader; shared ones only a failed conversion's leftover.
    fn reads_leader(&self) -> bool {
        self.held.mode == LeaseMode::Exclusive || self.held.leader_to_free.is_some()
    }
}

/// What an erase-all release, or the release of a shared hold that carries a failed
/// conversion's leftover, does with the leader copies read: a leader naming us (owner and
/// writer) at `lver` is freed; any other is left alone.
fn free_leftover_leader(
    config: &PaxosConfig,
    lver: u64,
    copies: &[Bytes],
    now: MonoTime,
) -> Result<FreeLeader, PaxosError> {
    let leader = lease_leader(config, copies)?;
    if !names_us_at(config, &leader, lver) {
        return Ok(FreeLeader::LeaveAlone(leader));
    }
    Ok(FreeLeader::Write(free_copy(config, leader, now)))
}

/// Whether `leader` holds the lease for us at `lver`, written by us.
fn names_us_at(config: &PaxosConfig, leader: &LeaderRecord, lver: u64) -> bool {
    leader.timestamp != 0
        && leader.owner_id == config.host_id
        && leader.owner_generation == config.host_generation
        && leader.write_id == config.host_id
        && leader.lver == lver
}

// ---------------------------------------------------------------------------------------------
// Erase-all release (retract)

/// What an erase-all release undoes (spec §5.5): our sector with our ballot's dblock marked
/// RELEASED, and a leader naming us at that ballot's lver. Made by an acquire that failed
/// after its phase-2 write, or that gives back a leader it committed (see
/// [`PaxosAcquire::leftover`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetractPlan {
    config: PaxosConfig,
    /// Our ballot's dblock, RELEASED.
    dblock: Dblock,
    /// The first attempt's sector: the dblock with the mode block the ballot's writes carried.
    sector: Vec<u8>,
    lver: u64,
}

impl RetractPlan {
    /// The lease version of the ballot to undo.
    pub fn lver(&self) -> u64 {
        self.lver
    }

    /// The lease (and our lockspace identity) the plan is for.
    pub fn config(&self) -> &PaxosConfig {
        &self.config
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum RetractState {
    /// A caller's retry: our own sector is read first.
    Start,
    /// Inside the acquire that made the plan: our sector is its ballot's.
    StartWrite,
    OwnRead,
    DblockWrite,
    LeaderRead,
    LeaderWrite,
    Done,
}

/// One attempt at the erase-all release (spec §5.5): our sector with the RELEASED dblock
/// (best effort, as in a release), then the leader: freed when it names us, as owner and as
/// writer, at the plan's lver; left alone otherwise (another host committed us: the RELEASED
/// flag tells acquirers it is free; or the lease moved on). Fails with DBLOCK_READ,
/// LEADER_READ, LEADER_DIFF or LEADER_WRITE on I/O, which a later attempt may get past.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaxosRetract {
    plan: RetractPlan,
    state: RetractState,
}

impl PaxosRetract {
    /// A retry of `plan` by the caller of the acquire that left it. It first reads our own
    /// sector and does nothing if it shows a newer ballot of ours than the plan's (a retract
    /// must never take our ballot state back, nor free a leader a newer acquire of ours may
    /// be committing; callers also keep from acquiring the resource while it is pending).
    pub fn new(plan: RetractPlan) -> PaxosRetract {
        PaxosRetract {
            plan,
            state: RetractState::Start,
        }
    }

    /// The first attempt, inside the acquire whose ballot wrote our sector last.
    fn continuing(plan: RetractPlan) -> PaxosRetract {
        PaxosRetract {
            plan,
            state: RetractState::StartWrite,
        }
    }
}

impl Operation for PaxosRetract {
    type Output = Result<(), PaxosError>;

    fn name(&self) -> &'static str {
        "paxos_retract"
    }

    fn fence_areas(&self) -> Vec<FenceArea> {
        self.plan.config.fence_areas()
    }

    fn lockspace_generation(&self) -> Option<u64> {
        Some(self.plan.config.host_generation)
    }

    fn resume(&mut self, now: MonoTime, input: Resume) -> Step<Self::Output> {
        let c = &self.plan.config;
        let n = c.disk_count();
        match std::mem::replace(&mut self.state, RetractState::Done) {
            RetractState::Start => {
                self.state = RetractState::OwnRead;
                io(c.io(c.read_all(c.host_sector_relative(c.host_id), c.sector_bytes())))
            }
            RetractState::OwnRead => {
                let copies = reads(input, n);
                if copies.len() < c.majority() {
                    return Step::Done(Err(PaxosError::DblockRead));
                }
                let ours = self.plan.dblock;
                let newest = newest_own_dblock(ours, &copies);
                if (newest.lver, newest.mbal) > (ours.lver, ours.mbal) {
                    return Step::Done(Ok(())); // superseded by a newer ballot of ours
                }
                // Without a mode block: a retry never holds the lease shared (a failed SH→EX
                // conversion's plan is retried after its shared hold was released).
                let sector = c.host_sector(ours, ModeBlock::default());
                self.state = RetractState::DblockWrite;
                io(c.io(c.write_all(c.host_sector_relative(c.host_id), &sector)))
            }
            RetractState::StartWrite => {
                self.state = RetractState::DblockWrite;
                io(c.io(c.write_all(c.host_sector_relative(c.host_id), &self.plan.sector)))
            }
            RetractState::DblockWrite => {
                let _ = writes_ok(input, n); // best effort: the leader decides
                self.state = RetractState::LeaderRead;
                io(c.io(c.read_all(0, c.sector_bytes())))
            }
            RetractState::LeaderRead => {
                match free_leftover_leader(c, self.plan.lver, &reads(input, n), now) {
                    Ok(FreeLeader::Write(free)) => {
                        self.state = RetractState::LeaderWrite;
                        io(c.io(c.write_all(0, &c.leader_sector(&free))))
                    }
                    Ok(FreeLeader::LeaveAlone(_)) => Step::Done(Ok(())),
                    Err(e) => Step::Done(Err(e)),
                }
            }
            RetractState::LeaderWrite => {
                if writes_ok(input, n) >= c.majority() {
                    Step::Done(Ok(()))
                } else {
                    Step::Done(Err(PaxosError::LeaderWrite))
                }
            }
            RetractState::Done => panic!("paxos_retract resumed after it finished"),
        }
    }
}

/// Convert an exclusive lease to shared (spec §5.6 "Convert EX→SH"): our sector becomes
/// the RELEASED dblock plus a SHARED mode block, then the leader is freed.
#[derive(Clone, Debug)]
pub struct PaxosConvertToShared {
    held: HeldResource,
    release: Option<ReleaseLeader>,
    started: bool,
}

impl PaxosConvertToShared {
    pub fn new(held: HeldResource) -> PaxosConvertToShared {
        assert_eq!(
            held.mode,
            LeaseMode::Exclusive,
            "only an exclusive lease converts to shared"
        );
        PaxosConvertToShared {
            held,
            release: None,
            started: false,
        }
    }
}

impl Operation for PaxosConvertToShared {
    type Output = Result<HeldResource, PaxosError>;

    fn name(&self) -> &'static str {
        "paxos_convert_to_shared"
    }

    fn fence_areas(&self) -> Vec<FenceArea> {
        self.held.config.fence_areas()
    }

    fn lockspace_generation(&self) -> Option<u64> {
        Some(self.held.config.host_generation)
    }

    fn resume(&mut self, now: MonoTime, input: Resume) -> Step<Self::Output> {
        let config = &self.held.config;
        if !self.started {
            self.started = true;
            let mut dblock = self.held.dblock;
            dblock.flags |= DBLOCK_FL_RELEASED;
            self.held.dblock = dblock;
            let mode_block = ModeBlock {
                flags: MBLOCK_SHARED,
                generation: config.host_generation,
            };
            let sector = config.host_sector(dblock, mode_block);
            return io(
                config.io(config.write_all(config.host_sector_relative(config.host_id), &sector))
            );
        }
        match self.release.take() {
            None => {
                if writes_ok(input, config.disk_count()) < config.majority() {
                    return Step::Done(Err(PaxosError::DblockWrite));
                }
                let step = ReleaseLeader::start(config, &self.held.leader);
                let ios = step.ios(config, now);
                self.release = Some(step);
                io(config.io(ios))
            }
            Some(step) => match step.on_io(config, now, input) {
                ReleaseProgress::Io(step, ios) => {
                    self.release = Some(step);
                    io(config.io(ios))
                }
                // The leader could not be freed (I/O): it still names us as exclusive owner,
                // so the conversion failed; the caller keeps the exclusive lease and its
                // release frees the leader (simulator finding C).
                ReleaseProgress::Done(Err(
                    e @ (PaxosError::LeaderWrite | PaxosError::LeaderRead | PaxosError::LeaderDiff),
                )) => Step::Done(Err(e)),
                // Freed, or another host moved the leader on: we hold SH by our mode block.
                ReleaseProgress::Done(result) => {
                    let leader = result.unwrap_or(self.held.leader);
                    Step::Done(Ok(HeldResource {
                        mode: LeaseMode::Shared,
                        leader,
                        ..self.held.clone()
                    }))
                }
            },
        }
    }
}

/// The newest of `held` and the verified dblocks in `sectors` (copies of our own sector), by
/// (lver, mbal): what we last wrote, even if the caller's copy is older.
fn newest_own_dblock(held: Dblock, sectors: &[Bytes]) -> Dblock {
    let mut newest = held;
    for bytes in sectors {
        let Ok(host) = HostSector::decode(bytes) else {
            continue;
        };
        let d = host.dblock;
        if d.verify().is_ok() && !d.is_empty() && (d.lver, d.mbal) > (newest.lver, newest.mbal) {
            newest = Dblock { flags: 0, ..d };
        }
    }
    newest
}

fn io<T>(step: Step<()>) -> Step<T> {
    match step {
        Step::Io { ios, timeout } => Step::Io { ios, timeout },
        Step::Sleep { until, jitter } => Step::Sleep { until, jitter },
        Step::Done(()) => unreachable!("io() wraps I/O steps only"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta_lease::{
        DeltaAcquire, DeltaConfig, DeltaRenew, HeldDeltaLease, OutgoingEvent,
    };
    use crate::geometry::{AlignSize, SectorSize};
    use crate::ondisk::{lockspace_init_area, paxos_init_area, HostBitmap};
    use crate::seam::{run_blocking, Clock};
    use crate::testing::{Fault, Faulty, MemDisks, Stepper, VirtualClock};

    const LEASE_OFFSET: u64 = 1 << 20;
    const LS_OFFSET: u64 = 0;

    fn geometry() -> Geometry {
        Geometry::new(SectorSize::B512, AlignSize::M1).unwrap()
    }

    fn name(s: &str) -> Name {
        Name::new(s).unwrap()
    }

    /// `lease_disks` lease disks (indices 0..n) and the lockspace disk (index n).
    struct Cluster {
        disks: MemDisks,
        lease_disks: usize,
        clock: VirtualClock,
    }

    impl Cluster {
        fn new(lease_disks: usize) -> Cluster {
            let disks = MemDisks::new(lease_disks + 1, 4 << 20, 512);
            let area = paxos_init_area(geometry(), &name("LS"), &name("vm1"), 0, None);
            for disk in 0..lease_disks {
                disks.poke(disk, LEASE_OFFSET, &area);
            }
            disks.poke(
                lease_disks,
                LS_OFFSET,
                &lockspace_init_area(geometry(), &name("LS"), 1),
            );
            Cluster {
                disks,
                lease_disks,
                clock: VirtualClock::starting_at(MonoTime::from_secs(1000)),
            }
        }

        /// A host joins the lockspace (real delta-lease acquire on the lockspace disk).
        fn join(&mut self, host_id: u64) -> HeldDeltaLease {
            let config = DeltaConfig {
                geometry: geometry(),
                lockspace_offset: LS_OFFSET,
                space_name: name("LS"),
                host_id,
                our_name: name(&format!("host{host_id}")),
                timeouts: Timeouts::new(1, 60),
                previous_generation: 0,
            };
            let mut ls = LockspaceOnly {
                disks: self.disks.clone(),
                disk: self.lease_disks,
            };
            run_blocking(&mut DeltaAcquire::new(config), &mut ls, &mut self.clock).unwrap()
        }

        fn renew(&mut self, lease: HeldDeltaLease) -> (HeldDeltaLease, Bytes) {
            let mut ls = LockspaceOnly {
                disks: self.disks.clone(),
                disk: self.lease_disks,
            };
            let op = &mut DeltaRenew::new(lease, OutgoingEvent::default(), HostBitmap::default());
            let renewed = run_blocking(op, &mut ls, &mut self.clock).unwrap();
            (renewed.lease, renewed.area)
        }

        fn config(&self, delta: &HeldDeltaLease) -> PaxosConfig {
            PaxosConfig {
                geometry: geometry(),
                lease_offsets: vec![LEASE_OFFSET; self.lease_disks],
                space_name: name("LS"),
                resource_name: name("vm1"),
                host_id: delta.config.host_id,
                host_generation: delta.generation,
                timeouts: Timeouts::new(1, 60),
                lockspace: LockspaceArea {
                    geometry: geometry(),
                    offset: LS_OFFSET,
                },
            }
        }

        fn acquire(
            &mut self,
            delta: &HeldDeltaLease,
            request: AcquireRequest,
            table: Option<Arc<HostTable>>,
        ) -> AcquireOutput {
            let op = &mut PaxosAcquire::new(self.config(delta), request, table);
            run_blocking(op, &mut self.disks.clone(), &mut self.clock)
        }

        fn release(&mut self, held: HeldResource) -> Result<(), PaxosError> {
            run_blocking(
                &mut PaxosRelease::new(held),
                &mut self.disks.clone(),
                &mut self.clock,
            )
        }

        fn leader(&self) -> LeaderRecord {
            LeaderRecord::decode(&self.disks.peek(0, LEASE_OFFSET, 512)).unwrap()
        }

        fn host_sector(&self, host_id: u64) -> HostSector {
            HostSector::decode(&self.disks.peek(0, LEASE_OFFSET + (1 + host_id) * 512, 512))
                .unwrap()
        }
    }

    /// Maps the delta-lease operations' disk 0 onto the cluster's lockspace disk.
    struct LockspaceOnly {
        disks: MemDisks,
        disk: usize,
    }

    impl crate::seam::BlockStorage for LockspaceOnly {
        fn submit(&mut self, ios: &[Io], timeout: Duration) -> Vec<IoOutcome> {
            let mapped: Vec<Io> = ios
                .iter()
                .map(|io| match io.clone() {
                    Io::Read { offset, len, .. } => Io::Read {
                        disk: self.disk,
                        offset,
                        len,
                    },
                    Io::Write { offset, data, .. } => Io::Write {
                        disk: self.disk,
                        offset,
                        data,
                    },
                })
                .collect();
            self.disks.submit(&mapped, timeout)
        }
    }

    /// Each I/O's offset, and whether it is a write.
    fn offsets_and_writes(ios: &[Io]) -> Vec<(u64, bool)> {
        ios.iter()
            .map(|io| match io {
                Io::Read { offset, .. } => (*offset, false),
                Io::Write { offset, .. } => (*offset, true),
            })
            .collect()
    }

    #[test]
    fn an_exclusive_release_is_two_round_trips_and_frees_the_leader() {
        let mut c = Cluster::new(1);
        let host = c.join(1);
        let held = c.acquire(&host, AcquireRequest::exclusive(), None).unwrap();
        let mut op = PaxosRelease::new(held.clone());
        let now = c.clock.now();
        // Batch 1: our sector and the leader, read together.
        let Step::Io { ios, timeout } = op.resume(now, Resume::Start) else {
            panic!("a release starts with reads");
        };
        let offsets = offsets_and_writes(&ios);
        assert_eq!(
            offsets,
            [(LEASE_OFFSET + 2 * 512, false), (LEASE_OFFSET, false)]
        );
        let outcomes = crate::seam::BlockStorage::submit(&mut c.disks.clone(), &ios, timeout);
        // Batch 2: the RELEASED dblock and the free leader, written together.
        let Step::Io { ios, timeout } = op.resume(now, Resume::Io(outcomes)) else {
            panic!("then writes");
        };
        let offsets = offsets_and_writes(&ios);
        assert_eq!(
            offsets,
            [(LEASE_OFFSET + 2 * 512, true), (LEASE_OFFSET, true)]
        );
        let outcomes = crate::seam::BlockStorage::submit(&mut c.disks.clone(), &ios, timeout);
        assert!(matches!(
            op.resume(now, Resume::Io(outcomes)),
            Step::Done(Ok(()))
        ));
        let leader = c.leader();
        assert_eq!(leader.timestamp, 0, "the leader is free");
        assert_eq!(
            (leader.lver, leader.owner_id, leader.owner_generation),
            (held.lver, 1, host.generation),
            "lver and owner are kept (spec §5.5)"
        );
        assert_ne!(c.host_sector(1).dblock.flags & DBLOCK_FL_RELEASED, 0);
    }

    #[test]
    fn a_release_writes_only_its_dblock_when_the_leader_is_no_longer_ours() {
        let mut c = Cluster::new(1);
        let host = c.join(1);
        let held = c.acquire(&host, AcquireRequest::exclusive(), None).unwrap();
        // Someone moved the lease on (as after a takeover): lver + 1, another owner.
        let mut theirs = c.leader();
        theirs.lver += 1;
        theirs.owner_id = 2;
        theirs.write_id = 2;
        let theirs = theirs.with_checksum();
        let mut sector = theirs.encode().to_vec();
        sector.resize(512, 0);
        c.disks.poke(0, LEASE_OFFSET, &sector);
        let mut op = PaxosRelease::new(held);
        let now = c.clock.now();
        let Step::Io { ios, timeout } = op.resume(now, Resume::Start) else {
            panic!("reads");
        };
        let outcomes = crate::seam::BlockStorage::submit(&mut c.disks.clone(), &ios, timeout);
        let Step::Io { ios, .. } = op.resume(now, Resume::Io(outcomes)) else {
            panic!("the dblock write");
        };
        assert_eq!(ios.len(), 1, "only our dblock: {ios:?}");
        assert!(matches!(ios[0], Io::Write { offset, .. } if offset == LEASE_OFFSET + 2 * 512));
    }

    #[test]
    fn free_lease_is_acquired_with_lver_1_and_mbal_host_id() {
        let mut c = Cluster::new(1);
        let host = c.join(1);
        let held = c.acquire(&host, AcquireRequest::exclusive(), None).unwrap();
        assert_eq!(held.lver, 1);
        let leader = c.leader();
        assert_eq!(
            (leader.lver, leader.owner_id, leader.owner_generation),
            (1, 1, host.generation)
        );
        assert_ne!(leader.timestamp, 0);
        assert_eq!(
            (leader.write_id, leader.write_generation),
            (1, host.generation)
        );
        assert_eq!(leader.computed_checksum(), leader.checksum);
        let ours = c.host_sector(1).dblock;
        // Verified against sanlock: a fresh lease gives mbal 1 (spec §5.1).
        assert_eq!((ours.mbal, ours.bal, ours.inp, ours.lver), (1, 1, 1, 1));
        assert_eq!(ours.inp3, leader.timestamp);

        // Release keeps lver and owner, zeroes the timestamp; our dblock is RELEASED.
        c.release(held).unwrap();
        let freed = c.leader();
        assert_eq!((freed.lver, freed.owner_id, freed.timestamp), (1, 1, 0));
        assert!(c.host_sector(1).dblock.is_released());

        // The next acquire by the same host: lver 2, mbal 2001 (max_hosts 2000).
        let again = c.acquire(&host, AcquireRequest::exclusive(), None).unwrap();
        assert_eq!(again.lver, 2);
        assert_eq!(c.host_sector(1).dblock.mbal, 2001);
    }

    #[test]
    fn a_lease_held_by_a_live_host_is_refused_at_once() {
        let mut c = Cluster::new(1);
        let h1 = c.join(1);
        let h2 = c.join(2);
        c.acquire(&h1, AcquireRequest::exclusive(), None).unwrap();
        // Host 2's cache watched host 1 renew.
        let mut table = HostTable::new(geometry(), 2, Timeouts::new(1, 60));
        let (_, area) = c.renew(h2.clone());
        table.observe(c.clock.now(), &area);
        c.clock.advance(Duration::from_secs(2));
        let (_, area) = c.renew(h1.clone());
        table.observe(c.clock.now(), &area);
        let before = c.leader();
        let started = c.clock.now();
        let err = c
            .acquire(&h2, AcquireRequest::exclusive(), Some(Arc::new(table)))
            .unwrap_err();
        assert_eq!(err.sanlock_errno(), code::SANLK_ACQUIRE_IDLIVE);
        assert_eq!(c.clock.now(), started, "no waiting for a live owner");
        assert_eq!(c.leader(), before);
        assert_eq!(
            c.host_sector(2).dblock,
            Dblock::default(),
            "no ballot was run"
        );
    }

    #[test]
    fn a_dead_owners_lease_is_taken_only_after_host_dead_seconds() {
        let mut c = Cluster::new(1);
        let h1 = c.join(1);
        let h2 = c.join(2);
        c.acquire(&h1, AcquireRequest::exclusive(), None).unwrap();
        // Host 1 stops renewing now (crash). Host 2 has no cache: it watches from now.
        let started = c.clock.now();
        let held = c.acquire(&h2, AcquireRequest::exclusive(), None).unwrap();
        let waited = c.clock.now().saturating_since(started);
        // host_dead_seconds at io_timeout 1 = 8 + 60.
        assert!(waited > Duration::from_secs(68), "waited only {waited:?}");
        assert!(waited <= Duration::from_secs(70), "waited {waited:?}");
        assert_eq!((held.lver, c.leader().owner_id), (2, 2));

        // With OWNER_NOWAIT, the same situation fails fast with OWNED_RETRY.
        let h3 = c.join(3);
        let nowait = AcquireRequest {
            owner_nowait: true,
            ..AcquireRequest::exclusive()
        };
        let err = c.acquire(&h3, nowait, None).unwrap_err();
        assert_eq!(err.sanlock_errno(), code::SANLK_ACQUIRE_OWNED_RETRY);
    }

    #[test]
    fn acquire_with_expected_version_is_the_handover_rule() {
        let mut c = Cluster::new(1);
        let src = c.join(1);
        let dst = c.join(2);
        let third = c.join(3);
        let held = c.acquire(&src, AcquireRequest::exclusive(), None).unwrap();
        let lver = held.lver;
        c.release(held).unwrap();
        let handover = AcquireRequest {
            expected_lver: Some(lver),
            ..AcquireRequest::exclusive()
        };
        let got = c.acquire(&dst, handover.clone(), None).unwrap();
        assert_eq!(got.lver, lver + 1);
        c.release(got).unwrap();
        // A third party slips in between: the stale version is refused.
        let slipped = c
            .acquire(&third, AcquireRequest::exclusive(), None)
            .unwrap();
        c.release(slipped).unwrap();
        let stale = AcquireRequest {
            expected_lver: Some(lver + 1),
            ..AcquireRequest::exclusive()
        };
        let err = c.acquire(&dst, stale, None).unwrap_err();
        assert_eq!(err.sanlock_errno(), code::SANLK_ACQUIRE_LVER);
        assert_eq!(c.leader().lver, lver + 2);
    }

    #[test]
    fn shared_holders_coexist_and_exclude_exclusive() {
        let mut c = Cluster::new(1);
        let h1 = c.join(1);
        let h2 = c.join(2);
        let h3 = c.join(3);
        let s1 = c.acquire(&h1, AcquireRequest::shared(), None).unwrap();
        let s2 = c.acquire(&h2, AcquireRequest::shared(), None).unwrap();
        assert_eq!(
            c.leader().timestamp,
            0,
            "shared acquires leave the leader free"
        );
        assert!(c.host_sector(1).mode_block.is_shared());
        assert!(c.host_sector(2).mode_block.is_shared());
        // Host 3 sees them alive (its cache has recent changes for both).
        let mut table = HostTable::new(geometry(), 3, Timeouts::new(1, 60));
        let (_, area) = c.renew(h3.clone());
        table.observe(c.clock.now(), &area);
        let table = Arc::new(table);
        let err = c
            .acquire(&h3, AcquireRequest::exclusive(), Some(table.clone()))
            .unwrap_err();
        assert_eq!(err, PaxosError::SharedHeld { host_id: 2 });
        assert_eq!(err.sanlock_errno(), code::EAGAIN);
        assert_eq!(
            c.leader().timestamp,
            0,
            "the refused exclusive acquire gave the leader back"
        );
        c.release(s1).unwrap();
        c.release(s2).unwrap();
        assert!(!c.host_sector(1).mode_block.is_shared());
        let ex = c
            .acquire(&h3, AcquireRequest::exclusive(), Some(table))
            .unwrap();
        assert_eq!(c.leader().owner_id, 3);
        assert_eq!(ex.mode, LeaseMode::Exclusive);
    }

    #[test]
    fn conversions_both_ways_keep_exclusion() {
        let mut c = Cluster::new(1);
        let h1 = c.join(1);
        let h2 = c.join(2);
        let mut table = HostTable::new(geometry(), 1, Timeouts::new(1, 60));
        let (h2, area) = c.renew(h2);
        table.observe(c.clock.now(), &area);
        let table = Some(Arc::new(table));
        // EX -> SH: the leader is freed, our mode block says SHARED.
        let ex = c
            .acquire(&h1, AcquireRequest::exclusive(), table.clone())
            .unwrap();
        let sh = run_blocking(
            &mut PaxosConvertToShared::new(ex),
            &mut c.disks.clone(),
            &mut c.clock,
        )
        .unwrap();
        assert_eq!(sh.mode, LeaseMode::Shared);
        assert_eq!(c.leader().timestamp, 0);
        assert!(c.host_sector(1).mode_block.is_shared());
        // Another host joins in shared mode; SH -> EX by host 1 is refused while it lives,
        // and host 1 stays a shared holder.
        let s2 = c.acquire(&h2, AcquireRequest::shared(), None).unwrap();
        let mut t1 = HostTable::new(geometry(), 1, Timeouts::new(1, 60));
        let (_, area) = c.renew(h2);
        t1.observe(c.clock.now(), &area);
        let up = AcquireRequest {
            convert_from_shared: true,
            ..AcquireRequest::exclusive()
        };
        let err = c
            .acquire(&h1, up.clone(), Some(Arc::new(t1.clone())))
            .unwrap_err();
        assert_eq!(err.sanlock_errno(), code::EAGAIN);
        assert!(
            c.host_sector(1).mode_block.is_shared(),
            "kept SH while competing"
        );
        assert_eq!(c.leader().timestamp, 0);
        // Host 2 lets go: host 1 converts to exclusive, its SHARED block is gone.
        c.release(s2).unwrap();
        let ex = c.acquire(&h1, up, Some(Arc::new(t1))).unwrap();
        assert_eq!(ex.mode, LeaseMode::Exclusive);
        assert!(!c.host_sector(1).mode_block.is_shared());
        assert_eq!((c.leader().owner_id, c.leader().lver), (1, ex.lver));
    }

    /// Whether `io` reads the leader sector alone (a give-back's or a retract's read; step 1
    /// reads 4 KiB).
    fn leader_sector_read(io: &Io) -> bool {
        matches!(io, Io::Read { offset, len, .. } if *offset == LEASE_OFFSET && *len == 512)
    }

    fn leader_write(io: &Io) -> bool {
        matches!(io, Io::Write { offset, .. } if *offset == LEASE_OFFSET)
    }

    #[test]
    fn a_failed_give_back_is_left_to_the_caller_and_frees_the_leader_later() {
        // Finding I (seed 56, and three disks seed 20579): an exclusive acquire commits the
        // leader for itself, finds a live SHARED holder, and must give the leader back; an
        // EIO on that read left the leader naming a live host that held nothing, refused to
        // everyone for good. The acquire fails at once; its leftover, retried, frees it.
        let mut c = Cluster::new(1);
        let h1 = c.join(1);
        let h3 = c.join(3);
        let _s1 = c.acquire(&h1, AcquireRequest::shared(), None).unwrap();
        let mut table = HostTable::new(geometry(), 3, Timeouts::new(1, 60));
        let (_, area) = c.renew(h3.clone());
        table.observe(c.clock.now(), &area);
        let op = &mut PaxosAcquire::new(
            c.config(&h3),
            AcquireRequest::exclusive(),
            Some(Arc::new(table)),
        );
        // Every read of the leader sector alone (the give-back's) fails with EIO.
        let mut leader_written = false;
        let storage = &mut Faulty {
            disks: c.disks.clone(),
            fault: |io: &Io| {
                leader_written |= leader_write(io);
                if leader_written && leader_sector_read(io) {
                    return Fault::Lost;
                }
                Fault::Pass
            },
        };
        let started = c.clock.now();
        let err = run_blocking(op, storage, &mut c.clock).unwrap_err();
        assert_eq!(err, PaxosError::SharedHeld { host_id: 1 });
        assert_eq!(c.clock.now(), started, "failed at once");
        let leader = c.leader();
        assert_eq!(
            (leader.lver, leader.owner_id),
            (2, 3),
            "committed, not given back"
        );
        assert_ne!(leader.timestamp, 0);
        assert!(
            c.host_sector(3).dblock.is_released(),
            "the give-back's first write"
        );
        let plan = op
            .leftover()
            .expect("the give-back is left to the caller")
            .clone();
        assert_eq!(plan.lver(), 2);
        // The caller's retry, once the path is back, frees it; a second one finds nothing to do.
        for _ in 0..2 {
            let retract = &mut PaxosRetract::new(plan.clone());
            run_blocking(retract, &mut c.disks.clone(), &mut c.clock).unwrap();
            let leader = c.leader();
            assert_eq!((leader.lver, leader.owner_id, leader.timestamp), (2, 3, 0));
        }
    }

    #[test]
    fn a_failed_conversions_leftover_is_freed_by_the_shared_release() {
        // Simulator, three disks, seed 31908: an SH->EX conversion committed the leader for
        // itself, found another live shared holder, and its give-back failed: the caller
        // keeps SH and the leader named it for good.
        let mut c = Cluster::new(1);
        let h1 = c.join(1);
        let h3 = c.join(3);
        let shared = c.acquire(&h1, AcquireRequest::shared(), None).unwrap();
        let _s3 = c.acquire(&h3, AcquireRequest::shared(), None).unwrap();
        let mut table = HostTable::new(geometry(), 1, Timeouts::new(1, 60));
        let (_, area) = c.renew(h1.clone());
        table.observe(c.clock.now(), &area);
        let convert = AcquireRequest {
            convert_from_shared: true,
            ..AcquireRequest::exclusive()
        };
        let op = &mut PaxosAcquire::new(c.config(&h1), convert, Some(Arc::new(table)));
        let mut leader_written = false;
        let storage = &mut Faulty {
            disks: c.disks.clone(),
            fault: |io: &Io| {
                leader_written |= leader_write(io);
                if leader_written && leader_sector_read(io) {
                    return Fault::Lost;
                }
                Fault::Pass
            },
        };
        let err = run_blocking(op, storage, &mut c.clock).unwrap_err();
        assert_eq!(err, PaxosError::SharedHeld { host_id: 3 });
        let leader = c.leader();
        assert_eq!(
            (leader.lver, leader.owner_id),
            (3, 1),
            "committed, not given back"
        );
        assert_ne!(leader.timestamp, 0);
        assert!(c.host_sector(1).mode_block.is_shared(), "still shared");
        let held = shared.after_failed_conversion(op.leftover());
        assert_eq!(held.leader_to_free, Some(3));
        c.release(held).unwrap();
        let leader = c.leader();
        assert_eq!((leader.lver, leader.owner_id, leader.timestamp), (3, 1, 0));
        assert!(!c.host_sector(1).mode_block.is_shared(), "SH released");
        // Without the leftover, the same release leaves a leader naming us alone, as before.
        let held = c.acquire(&h1, AcquireRequest::shared(), None).unwrap();
        let mut named = c.leader();
        named.timestamp = 7;
        c.disks
            .poke(0, LEASE_OFFSET, &leader_sector(&named.with_checksum()));
        c.release(held).unwrap();
        assert_eq!(c.leader().timestamp, 7);
    }

    #[test]
    fn a_failed_retract_is_left_to_the_caller_and_never_frees_a_newer_hold() {
        // Finding I (seed 75): the commit's leader write failed but landed, and a path loss
        // failed the erase-all retract's I/O too: the leader named its live writer for good.
        let mut c = Cluster::new(1);
        let h1 = c.join(1);
        let op = &mut PaxosAcquire::new(c.config(&h1), AcquireRequest::exclusive(), None);
        // The first leader write lands but reports EIO; every read of the leader sector alone
        // fails with EIO.
        let mut leader_writes = 0;
        let storage = &mut Faulty {
            disks: c.disks.clone(),
            fault: |io: &Io| {
                if leader_write(io) {
                    leader_writes += 1;
                    if leader_writes == 1 {
                        return Fault::Landed;
                    }
                }
                if leader_writes > 0 && leader_sector_read(io) {
                    return Fault::Lost;
                }
                Fault::Pass
            },
        };
        let started = c.clock.now();
        let err = run_blocking(op, storage, &mut c.clock).unwrap_err();
        assert_eq!(err, PaxosError::LeaderWrite);
        assert_eq!(c.clock.now(), started, "failed at once");
        let leader = c.leader();
        assert_eq!((leader.lver, leader.owner_id), (1, 1), "the commit landed");
        assert_ne!(leader.timestamp, 0);
        let plan = op
            .leftover()
            .expect("the retract is left to the caller")
            .clone();
        // While the path stays bad, a retry fails and changes nothing.
        let mut lost = Faulty {
            disks: c.disks.clone(),
            fault: |io: &Io| {
                if leader_sector_read(io) {
                    Fault::Lost
                } else {
                    Fault::Pass
                }
            },
        };
        let err = run_blocking(
            &mut PaxosRetract::new(plan.clone()),
            &mut lost,
            &mut c.clock,
        );
        assert_eq!(err, Err(PaxosError::LeaderRead));
        assert_ne!(c.leader().timestamp, 0);
        // Once it is back, a retry frees lver 1.
        run_blocking(
            &mut PaxosRetract::new(plan.clone()),
            &mut c.disks.clone(),
            &mut c.clock,
        )
        .unwrap();
        assert_eq!((c.leader().lver, c.leader().timestamp), (1, 0));
        // A retry that comes after a newer ballot of ours (callers keep from this, but the
        // retract does not rely on it) writes nothing: our ballot state never goes back.
        let held = c.acquire(&h1, AcquireRequest::exclusive(), None).unwrap();
        assert_eq!(held.lver, 2);
        let before = c.host_sector(1);
        run_blocking(
            &mut PaxosRetract::new(plan),
            &mut c.disks.clone(),
            &mut c.clock,
        )
        .unwrap();
        assert_eq!(c.host_sector(1), before, "our lver-2 dblock kept");
        let leader = c.leader();
        assert_eq!((leader.lver, leader.owner_id), (2, 1));
        assert_ne!(leader.timestamp, 0, "lver 2 still held");
    }

    #[test]
    fn dead_shared_holders_are_cleared_by_an_exclusive_acquire() {
        let mut c = Cluster::new(1);
        let h1 = c.join(1);
        let h3 = c.join(3);
        c.acquire(&h1, AcquireRequest::shared(), None).unwrap();
        let mut table = HostTable::new(geometry(), 3, Timeouts::new(1, 60));
        let (h3, area) = c.renew(h3);
        table.observe(c.clock.now(), &area);
        // Host 1 never renews again. A table that was not updated since proves nothing: host 1
        // still counts as alive (a stale cache must not kill a shared holder).
        c.clock.advance(Duration::from_secs(69));
        let stale = Some(Arc::new(table.clone()));
        let err = c
            .acquire(&h3, AcquireRequest::exclusive(), stale)
            .unwrap_err();
        assert_eq!(err, PaxosError::SharedHeld { host_id: 1 });
        // Host 3's own renewal 69 s later sees host 1 unchanged over more than host_dead: dead.
        let (_, area) = c.renew(h3.clone());
        table.observe(c.clock.now(), &area);
        let held = c
            .acquire(&h3, AcquireRequest::exclusive(), Some(Arc::new(table)))
            .unwrap();
        assert_eq!(held.mode, LeaseMode::Exclusive);
        assert_eq!(
            c.host_sector(1),
            HostSector::default(),
            "dead SH holder's sector zeroed"
        );
    }

    #[test]
    fn concurrent_acquires_of_a_free_lease_never_both_win() {
        // Many interleavings (a deterministic schedule per seed): at most one exclusive owner
        // per lease version (Disk Paxos agreement). OWNER_NOWAIT keeps the loser from waiting
        // out the winner's (non-renewing) delta lease and legitimately taking over later.
        for seed in 0..200u64 {
            let mut c = Cluster::new(1);
            let h1 = c.join(1);
            let h2 = c.join(2);
            let now = c.clock.now();
            let nowait = AcquireRequest {
                owner_nowait: true,
                ..AcquireRequest::exclusive()
            };
            let mut ops = [
                Stepper::start(
                    PaxosAcquire::new(c.config(&h1), nowait.clone(), None),
                    &c.disks,
                    now,
                ),
                Stepper::start(
                    PaxosAcquire::new(c.config(&h2), nowait.clone(), None),
                    &c.disks,
                    now,
                ),
            ];
            let mut t = now;
            let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut results: [Option<AcquireOutput>; 2] = [None, None];
            for _ in 0..10_000 {
                if results.iter().all(Option::is_some) {
                    break;
                }
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let who = if results[0].is_some() {
                    1
                } else if results[1].is_some() {
                    0
                } else {
                    (rng % 2) as usize
                };
                t = t
                    .saturating_add(Duration::from_millis(1))
                    .max(ops[who].sleeping_until().unwrap_or(t));
                if let Some(out) = ops[who].advance(t) {
                    results[who] = Some(out);
                }
            }
            let winners: Vec<&HeldResource> = results
                .iter()
                .flatten()
                .filter_map(|r| r.as_ref().ok())
                .collect();
            assert!(
                results.iter().all(Option::is_some),
                "seed {seed}: an acquire did not finish"
            );
            assert!(winners.len() <= 1, "seed {seed}: two owners: {results:?}");
            let leader = c.leader();
            if let [w] = winners[..] {
                assert_eq!(
                    (leader.owner_id, leader.lver),
                    (w.config.host_id, w.lver),
                    "seed {seed}"
                );
            }
        }
    }

    /// Fails (or lands, then reports a time-out for) the `nth` write it sees.
    struct FailNthWrite {
        disks: MemDisks,
        nth: usize,
        seen: usize,
        land_anyway: bool,
    }

    impl crate::seam::BlockStorage for FailNthWrite {
        fn submit(&mut self, ios: &[Io], timeout: Duration) -> Vec<IoOutcome> {
            ios.iter()
                .map(|io| {
                    if let Io::Write { .. } = io {
                        self.seen += 1;
                        if self.seen == self.nth {
                            if self.land_anyway {
                                let _ = self.disks.submit(std::slice::from_ref(io), timeout);
                            }
                            return IoOutcome::Failed(crate::seam::IoFailure::TimedOut);
                        }
                    }
                    self.disks
                        .submit(std::slice::from_ref(io), timeout)
                        .remove(0)
                })
                .collect()
        }
    }

    #[test]
    fn a_failed_leader_write_is_retracted_so_the_lease_stays_free() {
        for land_anyway in [false, true] {
            let mut c = Cluster::new(1);
            let h1 = c.join(1);
            let h2 = c.join(2);
            // Writes: phase-1 dblock, phase-2 dblock, leader (the 3rd fails).
            let mut storage = FailNthWrite {
                disks: c.disks.clone(),
                nth: 3,
                seen: 0,
                land_anyway,
            };
            let op = &mut PaxosAcquire::new(c.config(&h1), AcquireRequest::exclusive(), None);
            let err = run_blocking(op, &mut storage, &mut c.clock).unwrap_err();
            assert_eq!(err, PaxosError::LeaderWrite);
            assert!(
                c.host_sector(1).dblock.is_released(),
                "our dblock is marked RELEASED"
            );
            // Whether or not the leader write landed, the lease is not left held by us.
            assert_eq!(c.leader().timestamp, 0, "land_anyway={land_anyway}");
            let mut got = c.acquire(&h2, AcquireRequest::exclusive(), None);
            if !land_anyway {
                // Our accepted phase-2 value may have been chosen for lver 1, so host 2's ballot
                // must commit it (Disk Paxos) and reports -245; our RELEASED dblock then lets
                // host 2 take the lease at once with lver 2.
                assert_eq!(got, Err(PaxosError::Other { lver: 1 }));
                assert_eq!((c.leader().owner_id, c.leader().write_id), (1, 2));
                got = c.acquire(&h2, AcquireRequest::exclusive(), None);
            }
            assert_eq!(got.unwrap().lver, 2, "land_anyway={land_anyway}");
        }
    }

    #[test]
    fn three_disks_survive_one_failure_but_not_two() {
        let mut c = Cluster::new(3);
        let h1 = c.join(1);
        c.disks.set_failing(2, true);
        let held = c.acquire(&h1, AcquireRequest::exclusive(), None).unwrap();
        c.release(held).unwrap();
        c.disks.set_failing(1, true);
        let err = c
            .acquire(&h1, AcquireRequest::exclusive(), None)
            .unwrap_err();
        assert_eq!(err, PaxosError::LeaderRead);
    }

    /// A table in which `observer` saw `watched` renew (a live host, spec §5.3 e).
    fn live_table(
        c: &mut Cluster,
        observer: &HeldDeltaLease,
        watched: &HeldDeltaLease,
    ) -> Arc<HostTable> {
        let mut table = HostTable::new(geometry(), observer.config.host_id, Timeouts::new(1, 60));
        let (_, area) = c.renew(observer.clone());
        table.observe(c.clock.now(), &area);
        c.clock.advance(Duration::from_secs(2));
        let (_, area) = c.renew(watched.clone());
        table.observe(c.clock.now(), &area);
        Arc::new(table)
    }

    fn leader_sector(leader: &LeaderRecord) -> Vec<u8> {
        let mut sector = leader.encode().to_vec();
        sector.resize(512, 0);
        sector
    }

    #[test]
    fn leader_copies_that_agree_but_one_is_free_are_read_as_free() {
        // Simulator finding J (seed 20026): a late commit of lver 1 landed on disk 0 after the
        // owner's release had freed lver 1 on the others. The copies agree on the compared
        // 152 bytes (the timestamp is not among them); the free one is the newer.
        let mut c = Cluster::new(3);
        let h1 = c.join(1);
        let h2 = c.join(2);
        let held = c.acquire(&h1, AcquireRequest::exclusive(), None).unwrap();
        let owned = c.leader();
        c.release(held).unwrap();
        c.disks.poke(0, LEASE_OFFSET, &leader_sector(&owned));
        let table = live_table(&mut c, &h2, &h1);
        let held = c
            .acquire(&h2, AcquireRequest::exclusive(), Some(table))
            .expect("free on two disks of three, whatever disk 0 says");
        assert_eq!((held.lver, c.leader().owner_id), (2, 2));
    }

    #[test]
    fn a_leader_split_three_ways_is_read_as_its_newest_copy() {
        // Simulator finding J: writes that reached different disks left no two copies alike,
        // and every operation failed LEADER_DIFF for good. The newest copy is the truth.
        let mut c = Cluster::new(3);
        let h1 = c.join(1);
        let h2 = c.join(2);
        let held = c.acquire(&h1, AcquireRequest::exclusive(), None).unwrap();
        c.release(held).unwrap();
        let free1 = c.leader();
        let held = c.acquire(&h1, AcquireRequest::exclusive(), None).unwrap();
        c.release(held).unwrap();
        let free2 = c.leader();
        let held3 = c.acquire(&h1, AcquireRequest::exclusive(), None).unwrap();
        c.disks.poke(0, LEASE_OFFSET, &leader_sector(&free1));
        c.disks.poke(1, LEASE_OFFSET, &leader_sector(&free2));
        // Disk 2 keeps lver 3, held by live host 1: respected, not LEADER_DIFF.
        let table = live_table(&mut c, &h2, &h1);
        let err = c
            .acquire(&h2, AcquireRequest::exclusive(), Some(table.clone()))
            .unwrap_err();
        assert_eq!(err.sanlock_errno(), code::SANLK_ACQUIRE_IDLIVE);
        // Its release writes every disk and heals the split.
        c.release(held3).unwrap();
        for disk in 0..3 {
            let copy = LeaderRecord::decode(&c.disks.peek(disk, LEASE_OFFSET, 512)).unwrap();
            assert_eq!((copy.lver, copy.timestamp), (3, 0), "disk {disk}");
        }
        let held = c
            .acquire(&h2, AcquireRequest::exclusive(), Some(table))
            .unwrap();
        assert_eq!(held.lver, 4);
        // Fewer valid copies than a majority still decide nothing.
        let mut c = Cluster::new(3);
        let h1 = c.join(1);
        c.disks.poke(1, LEASE_OFFSET, &[0xA5; 512]);
        c.disks.poke(2, LEASE_OFFSET, &[0x5A; 512]);
        let err = c
            .acquire(&h1, AcquireRequest::exclusive(), None)
            .unwrap_err();
        assert_eq!(err, PaxosError::LeaderDiff);
        assert_eq!(
            c.host_sector(1).dblock,
            Dblock::default(),
            "nothing written"
        );
    }

    #[test]
    fn a_leader_taken_back_by_a_late_write_is_repaired_without_any_dblock_going_back() {
        // Finding H: a late leader write took the leader back from lver 3 to 1. Acquirers
        // must not ballot lver 2 over their own later dblocks (that erased the value chosen
        // there: a version handed out twice), must not abort on the later ballots forever,
        // and must not be handed a version they had again.
        let regressed = |acquirer: u64| {
            let mut c = Cluster::new(1);
            let h1 = c.join(1);
            let h2 = c.join(2);
            let held = c.acquire(&h1, AcquireRequest::exclusive(), None).unwrap();
            c.release(held).unwrap();
            let free1 = c.leader();
            let held = c.acquire(&h2, AcquireRequest::exclusive(), None).unwrap();
            c.release(held).unwrap();
            let held = c.acquire(&h1, AcquireRequest::exclusive(), None).unwrap();
            assert_eq!(held.lver, 3);
            c.release(held).unwrap();
            c.disks.poke(0, LEASE_OFFSET, &leader_sector(&free1));
            let host = match acquirer {
                1 => h1.clone(),
                2 => h2,
                _ => c.join(3),
            };
            (c, h1, host)
        };
        // Hosts 2 (last balloted 2) and 3 (never) start at 2, abort on host 1's lver-3
        // dblock, find the leader unchanged and move to 3, whose ballot adopts host 1's value
        // there: the leader is repaired. Host 1 gave lver 3 up itself: it starts at 4.
        for (acquirer, floor) in [(2, 2), (3, 2), (1, 4)] {
            let (mut c, h1, host) = regressed(acquirer);
            let own_offset = LEASE_OFFSET + (1 + acquirer) * 512;
            let mut written_lvers = Vec::new();
            let storage = &mut Faulty {
                disks: c.disks.clone(),
                fault: |io: &Io| {
                    if let Io::Write { offset, data, .. } = io {
                        if *offset == own_offset {
                            written_lvers.push(HostSector::decode(data).unwrap().dblock.lver);
                        }
                    }
                    Fault::Pass
                },
            };
            let op = &mut PaxosAcquire::new(c.config(&host), AcquireRequest::exclusive(), None);
            let result = run_blocking(op, storage, &mut c.clock);
            assert!(
                written_lvers.iter().all(|&l| l >= floor),
                "host {acquirer} wrote dblocks for {written_lvers:?}"
            );
            if acquirer == 1 {
                assert_eq!(result.unwrap().lver, 4, "not lver 3 again");
                continue;
            }
            assert_eq!(
                result.unwrap_err(),
                PaxosError::Other { lver: 3 },
                "host {acquirer}"
            );
            let leader = c.leader();
            assert_eq!((leader.lver, leader.owner_id), (3, 1), "repaired");
            // From there on, as after any ballot that finished another host's value.
            let table = live_table(&mut c, &host, &h1);
            let held = c
                .acquire(&host, AcquireRequest::exclusive(), Some(table))
                .unwrap();
            assert_eq!(held.lver, 4, "host {acquirer}");
        }
    }

    #[test]
    fn a_shared_block_left_on_a_minority_of_disks_is_not_a_hold() {
        // Simulator finding J (seed 20011): a shared release whose write missed one disk left
        // the SHARED block there, and every exclusive acquire answered EAGAIN while its writer
        // lived.
        let mut c = Cluster::new(3);
        let h1 = c.join(1);
        let h2 = c.join(2);
        let shared = c.acquire(&h1, AcquireRequest::shared(), None).unwrap();
        let sector_of_h1 = LEASE_OFFSET + 2 * 512;
        let shared_sector = c.disks.peek(0, sector_of_h1, 512);
        c.release(shared).unwrap();
        c.disks.poke(0, sector_of_h1, &shared_sector);
        let table = live_table(&mut c, &h2, &h1);
        let held = c
            .acquire(&h2, AcquireRequest::exclusive(), Some(table.clone()))
            .expect("one SHARED copy of three, every disk answered: a leftover");
        c.release(held).unwrap();
        // On two disks of three it is a hold.
        c.disks.poke(1, sector_of_h1, &shared_sector);
        let err = c
            .acquire(&h2, AcquireRequest::exclusive(), Some(table.clone()))
            .unwrap_err();
        assert_eq!(err, PaxosError::SharedHeld { host_id: 1 });
        // With a disk silent, one copy of the two read is enough to count.
        c.disks
            .poke(1, sector_of_h1, &c.disks.peek(2, sector_of_h1, 512));
        c.disks.set_failing(2, true);
        let err = c
            .acquire(&h2, AcquireRequest::exclusive(), Some(table))
            .unwrap_err();
        assert_eq!(err, PaxosError::SharedHeld { host_id: 1 });
    }

    #[test]
    fn a_shared_holder_is_judged_by_its_newest_block() {
        // Simulator, three disks, seed 30544: disk 0 missed the SHARED block of host 1's new
        // incarnation and kept its previous one's. Judged by that older generation, the live
        // holder was taken for dead, cleared, and EX granted over it.
        let mut c = Cluster::new(3);
        let h1_old = c.join(1);
        let h2 = c.join(2);
        let old = c.acquire(&h1_old, AcquireRequest::shared(), None).unwrap();
        let sector_of_h1 = LEASE_OFFSET + 2 * 512;
        let old_sector = c.disks.peek(0, sector_of_h1, 512);
        c.release(old).unwrap();
        let h1 = c.join(1); // host 1 restarted: a new generation
        assert!(h1.generation > h1_old.generation);
        c.acquire(&h1, AcquireRequest::shared(), None).unwrap();
        c.disks.poke(0, sector_of_h1, &old_sector);
        let table = live_table(&mut c, &h2, &h1);
        let err = c
            .acquire(&h2, AcquireRequest::exclusive(), Some(table))
            .unwrap_err();
        assert_eq!(err, PaxosError::SharedHeld { host_id: 1 });
        assert!(c.host_sector(1).mode_block.is_shared(), "not cleared");
    }

    #[test]
    fn a_released_dblock_on_some_disks_frees_a_lease_another_host_recommitted() {
        // Simulator finding J (seed 20333): a helper's late commit named host 1 again after
        // its release, whose RELEASED dblock had reached two disks of three; every acquirer
        // answered IDLIVE while host 1 lived.
        let mut c = Cluster::new(3);
        let h1 = c.join(1);
        let h2 = c.join(2);
        let held = c.acquire(&h1, AcquireRequest::exclusive(), None).unwrap();
        let mut recommitted = c.leader();
        let sector_of_h1 = LEASE_OFFSET + 2 * 512;
        let not_released = c.disks.peek(0, sector_of_h1, 512);
        c.release(held).unwrap();
        recommitted.write_id = 3; // outside the checksum: the helper's copy
        for disk in 0..3 {
            c.disks
                .poke(disk, LEASE_OFFSET, &leader_sector(&recommitted));
        }
        c.disks.poke(0, sector_of_h1, &not_released);
        let table = live_table(&mut c, &h2, &h1);
        let held = c
            .acquire(&h2, AcquireRequest::exclusive(), Some(table))
            .expect("host 1 released lver 1: its RELEASED dblock is on disks 1 and 2");
        assert_eq!(held.lver, 2);
    }

    #[test]
    fn corrupt_dblocks_and_cleared_leases_are_refused_without_writing() {
        let mut c = Cluster::new(1);
        let h1 = c.join(1);
        let mut bad = Dblock {
            mbal: 5,
            bal: 5,
            inp: 2,
            inp2: 1,
            inp3: 9,
            lver: 1,
            ..Dblock::default()
        }
        .with_checksum();
        bad.checksum ^= 1;
        c.disks.poke(
            0,
            LEASE_OFFSET + 3 * 512,
            &HostSector {
                dblock: bad,
                mode_block: ModeBlock::default(),
            }
            .encode(SectorSize::B512),
        );
        let before = c.disks.peek(0, LEASE_OFFSET, 1 << 20);
        let err = c
            .acquire(&h1, AcquireRequest::exclusive(), None)
            .unwrap_err();
        assert_eq!(err.sanlock_errno(), code::SANLK_DBLOCK_CHECKSUM);
        assert_eq!(c.disks.peek(0, LEASE_OFFSET, 1 << 20), before);

        let cleared = paxos_init_area(geometry(), &name("LS"), &name("vm1"), 0, Some(77));
        c.disks.poke(0, LEASE_OFFSET, &cleared);
        let err = c
            .acquire(&h1, AcquireRequest::exclusive(), None)
            .unwrap_err();
        assert_eq!(err.sanlock_errno(), -223);
        assert_eq!(c.disks.peek(0, LEASE_OFFSET, 1 << 20), cleared);
    }
    /// One step of an operation as a test driver saw it.
    #[derive(Clone, Debug)]
    enum Seen {
        Batch(Vec<Io>),
        Sleep { jitter: Duration },
    }

    /// Runs `op` on `disks` (as `run_blocking`), calling `hook(batch number, batch, disks)`
    /// before each batch is executed, and records every batch and sleep.
    fn drive_recorded<O: Operation>(
        op: &mut O,
        disks: &MemDisks,
        clock: &mut VirtualClock,
        mut hook: impl FnMut(usize, &[Io], &MemDisks),
    ) -> (O::Output, Vec<Seen>) {
        let mut seen = Vec::new();
        let mut batches = 0;
        let mut input = Resume::Start;
        for _ in 0..10_000 {
            match op.resume(clock.now(), input) {
                Step::Io { ios, timeout } => {
                    hook(batches, &ios, disks);
                    batches += 1;
                    input = Resume::Io(crate::seam::BlockStorage::submit(
                        &mut disks.clone(),
                        &ios,
                        timeout,
                    ));
                    seen.push(Seen::Batch(ios));
                }
                Step::Sleep { until, jitter } => {
                    clock.sleep_until(until, jitter);
                    input = Resume::Woke;
                    seen.push(Seen::Sleep { jitter });
                }
                Step::Done(out) => return (out, seen),
            }
        }
        panic!("operation did not finish");
    }

    /// (disk, offset relative to the lease, length, is a write) of each I/O of a batch.
    fn shape(ios: &[Io]) -> Vec<(usize, u64, u64, bool)> {
        ios.iter()
            .map(|io| match io {
                Io::Read { disk, offset, len } => (*disk, offset - LEASE_OFFSET, *len, false),
                Io::Write { disk, offset, data } => {
                    (*disk, offset - LEASE_OFFSET, data.len() as u64, true)
                }
            })
            .collect()
    }

    fn batches(seen: &[Seen]) -> Vec<Vec<(usize, u64, u64, bool)>> {
        seen.iter()
            .filter_map(|s| match s {
                Seen::Batch(ios) => Some(shape(ios)),
                Seen::Sleep { .. } => None,
            })
            .collect()
    }

    fn poke_host_sector(c: &Cluster, disk: usize, host_id: u64, dblock: Dblock, mode: ModeBlock) {
        let sector = HostSector {
            dblock,
            mode_block: mode,
        }
        .encode(SectorSize::B512);
        c.disks
            .poke(disk, LEASE_OFFSET + (1 + host_id) * 512, &sector);
    }

    #[test]
    fn step_1_reads_the_leader_and_our_sector_on_every_disk_in_one_batch() {
        for disks in [1, 3] {
            let mut c = Cluster::new(disks);
            let _h1 = c.join(1);
            let h2 = c.join(2);
            let h200 = c.join(200);
            let mut op = PaxosAcquire::new(c.config(&h200), AcquireRequest::exclusive(), None);
            let Step::Io { ios, .. } = op.resume(c.clock.now(), Resume::Start) else {
                panic!("an acquire starts with reads");
            };
            let mut expected: Vec<_> = (0..disks).map(|d| (d, 0, 4096, false)).collect();
            expected.extend((0..disks).map(|d| (d, 201 * 512, 512, false)));
            // Per disk: the leader (4 KiB: the largest sector size, see `read_start`) and our
            // own sector (host 200: sector 201, past STEP1_ONE_READ_MAX). Not the 1 MiB area.
            assert_eq!(shape(&ios), expected, "{disks} disks, host 200");
            // Host 2's sector (3) lies inside the 4 KiB leader read: one read per disk.
            let mut op = PaxosAcquire::new(c.config(&h2), AcquireRequest::exclusive(), None);
            let Step::Io { ios, .. } = op.resume(c.clock.now(), Resume::Start) else {
                panic!("an acquire starts with reads");
            };
            let expected: Vec<_> = (0..disks).map(|d| (d, 0, 4096, false)).collect();
            assert_eq!(shape(&ios), expected, "{disks} disks, host 2");
        }
    }

    #[test]
    fn step_1_in_one_read_or_two_finds_the_same_own_mbal() {
        // Host 100's sector ends at 102 * 512 bytes, inside STEP1_ONE_READ_MAX; host 200's
        // beyond it. Both start their ballot above their own earlier mbal.
        for host_id in [100, 200] {
            let mut c = Cluster::new(3);
            let h = c.join(host_id);
            let held = c.acquire(&h, AcquireRequest::exclusive(), None).unwrap();
            assert_eq!(held.dblock.mbal, host_id);
            c.release(held).unwrap();
            let held = c.acquire(&h, AcquireRequest::exclusive(), None).unwrap();
            assert_eq!(held.dblock.mbal, 2000 + host_id, "host {host_id}");
            assert_eq!(held.lver, 2);
        }
    }

    #[test]
    fn an_uncontended_acquire_reads_the_area_twice_and_the_leader_with_our_sector() {
        let mut c = Cluster::new(1);
        let h1 = c.join(1);
        let h2 = c.join(2);
        // Host 1 takes and releases the lease three times: its dblock (lver 3, mbal 4001) is
        // larger than anything of host 2's, but for an older lver.
        for _ in 0..3 {
            let held = c.acquire(&h1, AcquireRequest::exclusive(), None).unwrap();
            c.release(held).unwrap();
        }
        assert_eq!(c.host_sector(1).dblock.mbal, 4001);
        let mut op = PaxosAcquire::new(c.config(&h2), AcquireRequest::exclusive(), None);
        let disks = c.disks.clone();
        let (out, seen) = drive_recorded(&mut op, &disks, &mut c.clock, |_, _, _| {});
        let held = out.unwrap();
        assert_eq!(held.lver, 4);
        // Our first mbal comes from our own (empty) dblock: 2, no abort on host 1's 4001.
        assert_eq!(held.dblock.mbal, 2);
        let area = 1 << 20;
        assert_eq!(
            batches(&seen),
            vec![
                vec![(0, 0, 4096, false)],
                vec![(0, 3 * 512, 512, true)],
                vec![(0, 0, area, false)],
                vec![(0, 3 * 512, 512, true)],
                vec![(0, 0, area, false)],
                vec![(0, 0, 512, true)],
            ]
        );
        assert!(seen.iter().all(|s| matches!(s, Seen::Batch(_))), "no sleep");
    }

    #[test]
    fn our_first_mbal_is_above_our_own_dblock() {
        let mut c = Cluster::new(3);
        let h1 = c.join(1);
        let held = c.acquire(&h1, AcquireRequest::exclusive(), None).unwrap();
        c.release(held).unwrap();
        // Our sector on one disk of three missed the last write (a minority): the majority read
        // still sees mbal 1, so the next ballot is 2001.
        poke_host_sector(&c, 2, 1, Dblock::default(), ModeBlock::default());
        let held = c.acquire(&h1, AcquireRequest::exclusive(), None).unwrap();
        assert_eq!((held.lver, held.dblock.mbal), (2, 2001));
    }

    #[test]
    fn a_first_ballot_below_the_disk_is_retried_at_once_above_it_later_aborts_back_off() {
        let mut c = Cluster::new(1);
        let h1 = c.join(1);
        let h3 = c.join(3);
        // Host 2 has a phase-1 dblock for lver 1 with mbal 4002 (a competitor, or a leftover).
        let theirs = |mbal, lver| {
            Dblock {
                mbal,
                lver,
                ..Dblock::default()
            }
            .with_checksum()
        };
        poke_host_sector(&c, 0, 2, theirs(4002, 1), ModeBlock::default());
        let mut op = PaxosAcquire::new(c.config(&h1), AcquireRequest::exclusive(), None);
        let disks = c.disks.clone();
        let (out, seen) = drive_recorded(&mut op, &disks, &mut c.clock, |_, _, _| {});
        let held = out.unwrap();
        // Ballot 1 (mbal 1) aborted on 4002; ballot 2 jumped to 6001 at once, no sleep.
        assert_eq!((held.lver, held.dblock.mbal), (1, 6001));
        assert!(seen.iter().all(|s| matches!(s, Seen::Batch(_))), "no sleep");
        let writes: Vec<u64> = seen
            .iter()
            .filter_map(|s| match s {
                Seen::Batch(ios) => match &ios[..] {
                    [Io::Write { offset, data, .. }] if *offset == LEASE_OFFSET + 2 * 512 => {
                        Some(HostSector::decode(data).unwrap().dblock.mbal)
                    }
                    _ => None,
                },
                _ => None,
            })
            .collect();
        assert_eq!(writes, [1, 6001, 6001], "phase 1, phase 1 again, phase 2");
        c.release(held).unwrap();

        // When the second ballot aborts too (the competitor moved on), the spec's random
        // back-off applies before the third, and before every later one.
        let mut op = PaxosAcquire::new(c.config(&h3), AcquireRequest::exclusive(), None);
        poke_host_sector(&c, 0, 2, theirs(8002, 2), ModeBlock::default());
        let (out, seen) = drive_recorded(&mut op, &disks, &mut c.clock, |n, _, disks| {
            if n == 4 {
                // Before host 3's second phase-1 read (step 1, write, read, write, read):
                // host 2 is above host 3's jumped mbal (10003).
                let sector = HostSector {
                    dblock: theirs(20002, 2),
                    mode_block: ModeBlock::default(),
                }
                .encode(SectorSize::B512);
                disks.poke(0, LEASE_OFFSET + 3 * 512, &sector);
            }
        });
        // Ballot 3 comes after the back-off, past host 2's mbal: 22003, not 12003.
        let held = out.unwrap();
        assert_eq!((held.lver, held.dblock.mbal), (2, 22003));
        let sleeps: Vec<(usize, Duration)> = seen
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Seen::Sleep { jitter } => Some((i, *jitter)),
                Seen::Batch(_) => None,
            })
            .collect();
        assert_eq!(sleeps, [(5, BACKOFF_JITTER)], "{seen:?}");
    }

    #[test]
    fn a_corrupt_dblock_found_in_phase_1_restores_our_sector_on_every_disk() {
        let mut c = Cluster::new(3);
        let h1 = c.join(1);
        // Our sector holds something worth keeping: a RELEASED dblock of lver 1 and, on disk 1
        // only, garbage in the mode block's padding (bytes sanlock leaves uninitialised).
        let held = c.acquire(&h1, AcquireRequest::exclusive(), None).unwrap();
        c.release(held).unwrap();
        let ours = LEASE_OFFSET + 2 * 512;
        c.disks.poke(1, ours + 132, &[0xAB; 4]);
        let mut bad = Dblock {
            mbal: 7,
            lver: 2,
            ..Dblock::default()
        }
        .with_checksum();
        bad.checksum ^= 1;
        for disk in 0..3 {
            poke_host_sector(&c, disk, 5, bad, ModeBlock::default());
        }
        let before: Vec<Vec<u8>> = (0..3)
            .map(|d| c.disks.peek(d, LEASE_OFFSET, 1 << 20))
            .collect();
        let mut op = PaxosAcquire::new(c.config(&h1), AcquireRequest::exclusive(), None);
        let disks = c.disks.clone();
        let (out, seen) = drive_recorded(&mut op, &disks, &mut c.clock, |_, _, _| {});
        assert_eq!(out.unwrap_err(), PaxosError::DblockChecksum { host_id: 5 });
        let area = 1 << 20;
        assert_eq!(
            batches(&seen)[1..],
            [
                (0..3).map(|d| (d, 2 * 512, 512, true)).collect::<Vec<_>>(),
                (0..3).map(|d| (d, 0, area, false)).collect(),
                (0..3).map(|d| (d, 2 * 512, 512, true)).collect(),
            ],
            "phase-1 write, phase-1 read, our sector written back"
        );
        for (disk, before) in before.iter().enumerate() {
            assert!(
                c.disks.peek(disk, LEASE_OFFSET, 1 << 20) == *before,
                "disk {disk}"
            );
        }

        // Our own dblock corrupt: refused at step 1, nothing written at all.
        c.disks
            .poke(0, ours, &c.disks.peek(0, LEASE_OFFSET + 6 * 512, 512));
        let mut op = PaxosAcquire::new(c.config(&h1), AcquireRequest::exclusive(), None);
        let (out, seen) = drive_recorded(&mut op, &disks, &mut c.clock, |_, _, _| {});
        assert_eq!(out.unwrap_err(), PaxosError::DblockChecksum { host_id: 1 });
        assert_eq!(batches(&seen).len(), 1, "step 1 only: {seen:?}");
    }

    #[test]
    fn shared_holders_seen_by_aborted_phase_1_reads_still_block_an_exclusive_grant() {
        // Host 1 holds the lease shared (alive: no host table, unknown counts as alive). Host 3
        // wants it exclusive; both its phase-1 reads abort on host 2's larger mbal, and then
        // its leader re-read shows lver 2 committed for host 3 by host 2 (which adopted host
        // 3's value). No phase-1 read of host 3 completed, yet host 1's SHARED block was seen
        // by both aborted ones: the exclusive grant must be refused.
        let mut c = Cluster::new(1);
        let h1 = c.join(1);
        let h3 = c.join(3);
        c.acquire(&h1, AcquireRequest::shared(), None).unwrap();
        assert!(c.host_sector(1).mode_block.is_shared());
        let lver = c.leader().lver + 1;
        let value = |mbal| {
            Dblock {
                mbal,
                bal: mbal,
                inp: 3,
                inp2: h3.generation,
                inp3: 77,
                lver,
                ..Dblock::default()
            }
            .with_checksum()
        };
        poke_host_sector(&c, 0, 2, value(4002), ModeBlock::default());
        let committed = {
            let mut l = c.leader();
            l.lver = lver;
            l.owner_id = 3;
            l.owner_generation = h3.generation;
            l.timestamp = 77;
            l.write_id = 2;
            l.with_checksum()
        };
        let mut op = PaxosAcquire::new(c.config(&h3), AcquireRequest::exclusive(), None);
        let disks = c.disks.clone();
        let (out, seen) = drive_recorded(&mut op, &disks, &mut c.clock, |n, _, disks| {
            let sector = |dblock: Dblock| {
                HostSector {
                    dblock,
                    mode_block: ModeBlock::default(),
                }
                .encode(SectorSize::B512)
            };
            match n {
                // Before host 3's second phase-1 read: host 2 is above its jumped mbal (6003).
                4 => disks.poke(0, LEASE_OFFSET + 3 * 512, &sector(value(8002))),
                // Before its leader re-read: host 2 committed host 3's value.
                5 => {
                    let mut leader = committed.encode().to_vec();
                    leader.resize(512, 0);
                    disks.poke(0, LEASE_OFFSET, &leader);
                }
                _ => {}
            }
        });
        assert!(
            matches!(seen[5], Seen::Sleep { .. }),
            "the second phase-1 read aborted: {seen:?}"
        );
        assert_eq!(out, Err(PaxosError::SharedHeld { host_id: 1 }));
        assert!(c.host_sector(1).mode_block.is_shared());
        // The leader host 2 wrote is left alone (spec §5.5); our RELEASED dblock tells
        // acquirers that it is free.
        assert_eq!(c.leader(), committed);
        assert!(c.host_sector(3).dblock.is_released());
    }

    #[test]
    fn a_4k_sector_lease_is_adopted_from_a_512_byte_start_on_a_4k_device() {
        // A 4K-sector device refuses 512-byte reads (EINVAL, as O_DIRECT). Step 1 reads the
        // leader with 4 KiB, so the leader's geometry is seen and adopted, as it was when step 1
        // read the whole area.
        let g4k = Geometry::new(SectorSize::B4096, AlignSize::M1).unwrap();
        let disks = MemDisks::new(1, 4 << 20, 4096);
        disks.poke(
            0,
            LEASE_OFFSET,
            &paxos_init_area(g4k, &name("LS"), &name("vm1"), 0, None),
        );
        let config = PaxosConfig {
            geometry: geometry(), // 512-byte sectors: wrong for this lease
            lease_offsets: vec![LEASE_OFFSET],
            space_name: name("LS"),
            resource_name: name("vm1"),
            host_id: 1,
            host_generation: 1,
            timeouts: Timeouts::new(1, 60),
            lockspace: LockspaceArea {
                geometry: g4k,
                offset: 2 << 20,
            },
        };
        let mut clock = VirtualClock::starting_at(MonoTime::from_secs(1000));
        let mut op = PaxosAcquire::new(config, AcquireRequest::exclusive(), None);
        let held = run_blocking(&mut op, &mut disks.clone(), &mut clock).unwrap();
        assert_eq!((held.config.geometry, held.lver), (g4k, 1));
        let ours = HostSector::decode(&disks.peek(0, LEASE_OFFSET + 2 * 4096, 4096)).unwrap();
        assert_eq!((ours.dblock.mbal, ours.dblock.inp), (1, 1));
    }
}
