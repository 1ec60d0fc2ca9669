//! Requests to release a resource lease (format spec §5.7): the request record in sector 1 of
//! the lease, written by a host that wants the lease; the owner's daemon examines it when it sees
//! its bit set in the requester's delta-lease bitmap.
//!
//! * [`PaxosRequest`] (requester): read the leader; if the lease is free nothing is written;
//!   otherwise check the requested lver is newer than the lease's and not older than a pending
//!   request, and write `{lver, force_mode}`. Returns the owner whose bit the caller must set.
//! * [`ReadRequest`] (owner, on examine): read the request record.
//!
//! **Invariants**
//! * A request never writes anything but sector 1 (the request record): it cannot change who
//!   holds the lease; only the owner acts on it, and only if the requested lver is newer than
//!   the lver it holds.
//! * `lver 0, force_mode 0` clears the record unconditionally.

use thiserror::Error;

use crate::ondisk::{LeaderError, LeaderRecord, RequestError, RequestRecord};
use crate::paxos_lease::PaxosConfig;
use crate::seam::{Bytes, FenceArea, Io, IoOutcome, Operation, Resume, Step};
use crate::time::MonoTime;

/// SANLK_REQUEST_OLD: the lease is already at (or past) the requested version.
pub const SANLK_REQUEST_OLD: i32 = -272;
/// SANLK_REQUEST_LVER: a pending request asks for a later version.
pub const SANLK_REQUEST_LVER: i32 = -273;

/// Why a request failed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RequestOpError {
    #[error("could not read the lease from a majority of disks")]
    Read,
    #[error("could not write the request to a majority of disks")]
    Write,
    #[error("invalid lease leader: {0}")]
    Leader(LeaderError),
    #[error("invalid request record: {0}")]
    Record(RequestError),
    #[error("the lease is already at version {current}, not older than the requested {requested}")]
    Old { current: u64, requested: u64 },
    #[error("a pending request asks for version {pending}, later than {requested}")]
    Lver { pending: u64, requested: u64 },
}

impl RequestOpError {
    pub fn sanlock_errno(&self) -> i32 {
        match self {
            RequestOpError::Read => -210,
            RequestOpError::Write => -211,
            RequestOpError::Leader(e) => e.sanlock_errno(),
            RequestOpError::Record(e) => e.sanlock_errno(),
            RequestOpError::Old { .. } => SANLK_REQUEST_OLD,
            RequestOpError::Lver { .. } => SANLK_REQUEST_LVER,
        }
    }
}

/// What a request did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestDone {
    /// The owner to notify (its bit in our bitmap), or `None` if the lease was free (nothing
    /// written) or the record was cleared.
    pub owner_id: Option<u64>,
    /// The lver written (0 when nothing was written).
    pub lver: u64,
}

fn reads(input: Resume, expected: usize) -> Vec<Bytes> {
    match input {
        Resume::Io(outcomes) if outcomes.len() == expected => outcomes
            .into_iter()
            .filter_map(|o| match o {
                IoOutcome::Read(bytes) => Some(bytes),
                _ => None,
            })
            .collect(),
        other => panic!("request expected {expected} outcomes, driver gave {other:?}"),
    }
}

fn writes_ok(input: Resume, expected: usize) -> usize {
    match input {
        Resume::Io(outcomes) if outcomes.len() == expected => outcomes
            .iter()
            .filter(|o| matches!(o, IoOutcome::Written))
            .count(),
        other => panic!("request expected {expected} outcomes, driver gave {other:?}"),
    }
}

fn majority(n: usize) -> usize {
    n / 2 + 1
}

fn sector_io(config: &PaxosConfig, sector: u64) -> Vec<Io> {
    let ss = config.geometry.sector_bytes();
    config
        .lease_offsets
        .iter()
        .enumerate()
        .map(|(disk, base)| Io::Read {
            disk,
            offset: base + sector * ss,
            len: ss,
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Start,
    ReadLeader,
    ReadRecord { lver: u64, owner_id: u64 },
    Write { lver: u64, owner_id: Option<u64> },
    Done,
}

/// Ask the owner of a resource lease to release it (spec §5.7, requester side).
#[derive(Clone, Debug)]
pub struct PaxosRequest {
    config: PaxosConfig,
    lver: u64,
    force_mode: u32,
    next_lver: bool,
    state: State,
}

impl PaxosRequest {
    /// Request version `lver` with `force_mode` (0 none, 1 FORCE, 2 GRACEFUL); with
    /// `next_lver` and `lver` 0, the lease's current version + 1.
    pub fn new(config: PaxosConfig, lver: u64, force_mode: u32, next_lver: bool) -> PaxosRequest {
        PaxosRequest {
            config,
            lver,
            force_mode,
            next_lver,
            state: State::Start,
        }
    }

    fn write(
        &mut self,
        lver: u64,
        force_mode: u32,
        owner_id: Option<u64>,
    ) -> Step<Result<RequestDone, RequestOpError>> {
        let ss = self.config.geometry.sector_bytes();
        let mut sector = vec![0u8; ss as usize];
        sector[..RequestRecord::ENCODED_LEN]
            .copy_from_slice(&RequestRecord::new(lver, force_mode).encode());
        let ios = self
            .config
            .lease_offsets
            .iter()
            .enumerate()
            .map(|(disk, base)| Io::Write {
                disk,
                offset: base + ss,
                data: sector.clone(),
            })
            .collect();
        self.state = State::Write { lver, owner_id };
        Step::Io {
            ios,
            timeout: self.config.timeouts.io_timeout(),
        }
    }

    fn step(
        &mut self,
        input: Resume,
    ) -> Result<Step<Result<RequestDone, RequestOpError>>, RequestOpError> {
        let n = self.config.lease_offsets.len();
        match std::mem::replace(&mut self.state, State::Done) {
            State::Start => {
                if self.lver == 0 && self.force_mode == 0 && !self.next_lver {
                    return Ok(self.write(0, 0, None)); // clear unconditionally
                }
                self.state = State::ReadLeader;
                Ok(Step::Io {
                    ios: sector_io(&self.config, 0),
                    timeout: self.config.timeouts.io_timeout(),
                })
            }
            State::ReadLeader => {
                let copies = reads(input, n);
                if copies.len() < majority(n) {
                    return Err(RequestOpError::Read);
                }
                let c = &self.config;
                let leader = copies
                    .iter()
                    .filter_map(|b| LeaderRecord::decode(b).ok())
                    .find(|l| l.verify_paxos(&c.space_name, &c.resource_name, 1).is_ok());
                let leader = match leader {
                    Some(leader) => leader,
                    None => {
                        let first =
                            LeaderRecord::decode(&copies[0]).map_err(|_| RequestOpError::Read)?;
                        let err = first.verify_paxos(&c.space_name, &c.resource_name, 1).err();
                        return Err(RequestOpError::Leader(err.unwrap_or(LeaderError::Magic {
                            found: 0,
                            expected: 0,
                        })));
                    }
                };
                if leader.timestamp == 0 {
                    self.state = State::Done;
                    return Ok(Step::Done(Ok(RequestDone {
                        owner_id: None,
                        lver: 0,
                    })));
                }
                let lver = if self.next_lver && self.lver == 0 {
                    leader.lver + 1
                } else {
                    self.lver
                };
                if leader.lver >= lver {
                    return Err(RequestOpError::Old {
                        current: leader.lver,
                        requested: lver,
                    });
                }
                self.state = State::ReadRecord {
                    lver,
                    owner_id: leader.owner_id,
                };
                Ok(Step::Io {
                    ios: sector_io(&self.config, 1),
                    timeout: self.config.timeouts.io_timeout(),
                })
            }
            State::ReadRecord { lver, owner_id } => {
                let copies = reads(input, n);
                if copies.len() < majority(n) {
                    return Err(RequestOpError::Read);
                }
                for bytes in &copies {
                    let record = RequestRecord::decode(bytes).map_err(|_| RequestOpError::Read)?;
                    record.verify().map_err(RequestOpError::Record)?;
                    if record.lver > lver {
                        return Err(RequestOpError::Lver {
                            pending: record.lver,
                            requested: lver,
                        });
                    }
                }
                Ok(self.write(lver, self.force_mode, Some(owner_id)))
            }
            State::Write { lver, owner_id } => {
                if writes_ok(input, n) < majority(n) {
                    return Err(RequestOpError::Write);
                }
                self.state = State::Done;
                Ok(Step::Done(Ok(RequestDone { owner_id, lver })))
            }
            State::Done => panic!("paxos_request resumed after it finished"),
        }
    }
}

impl Operation for PaxosRequest {
    type Output = Result<RequestDone, RequestOpError>;

    fn name(&self) -> &'static str {
        "paxos_request"
    }

    fn fence_areas(&self) -> Vec<FenceArea> {
        self.config.fence_areas()
    }

    fn lockspace_generation(&self) -> Option<u64> {
        Some(self.config.host_generation)
    }

    fn resume(&mut self, _now: MonoTime, input: Resume) -> Step<Self::Output> {
        match self.step(input) {
            Ok(step) => step,
            Err(err) => {
                self.state = State::Done;
                Step::Done(Err(err))
            }
        }
    }
}

/// Read a lease's request record (owner side of spec §5.7, and `examine`).
#[derive(Clone, Debug)]
pub struct ReadRequest {
    config: PaxosConfig,
    started: bool,
}

impl ReadRequest {
    pub fn new(config: PaxosConfig) -> ReadRequest {
        ReadRequest {
            config,
            started: false,
        }
    }
}

impl Operation for ReadRequest {
    type Output = Result<RequestRecord, RequestOpError>;

    fn name(&self) -> &'static str {
        "read_request"
    }

    fn resume(&mut self, _now: MonoTime, input: Resume) -> Step<Self::Output> {
        if !self.started {
            self.started = true;
            return Step::Io {
                ios: sector_io(&self.config, 1),
                timeout: self.config.timeouts.io_timeout(),
            };
        }
        let n = self.config.lease_offsets.len();
        let copies = reads(input, n);
        if copies.len() < majority(n) {
            return Step::Done(Err(RequestOpError::Read));
        }
        // The record with the highest lver among the copies read (a request may have reached
        // only some disks).
        let mut best: Option<RequestRecord> = None;
        for bytes in &copies {
            let Ok(record) = RequestRecord::decode(bytes) else {
                continue;
            };
            if record.verify().is_err() {
                continue;
            }
            if best.is_none_or(|b| record.lver > b.lver) {
                best = Some(record);
            }
        }
        Step::Done(best.ok_or(RequestOpError::Read))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Geometry;
    use crate::ondisk::{paxos_init_area, Name, FORCE_MODE_FORCE};
    use crate::paxos_lease::LockspaceArea;
    use crate::seam::run_blocking;
    use crate::testing::{MemDisks, VirtualClock};
    use crate::timeouts::Timeouts;

    fn config() -> PaxosConfig {
        PaxosConfig {
            geometry: Geometry::S512_A1M,
            lease_offsets: vec![0],
            space_name: Name::new("LS").unwrap(),
            resource_name: Name::new("vm1").unwrap(),
            host_id: 2,
            host_generation: 1,
            timeouts: Timeouts::new(1, 60),
            lockspace: LockspaceArea {
                geometry: Geometry::S512_A1M,
                offset: 1 << 20,
            },
        }
    }

    fn disks_with_owner(lver: u64, timestamp: u64) -> MemDisks {
        let disks = MemDisks::new(2, 2 << 20, 512);
        let area = paxos_init_area(
            Geometry::S512_A1M,
            &Name::new("LS").unwrap(),
            &Name::new("vm1").unwrap(),
            0,
            None,
        );
        disks.poke(0, 0, &area);
        let mut leader = LeaderRecord::decode(&area).unwrap();
        leader.lver = lver;
        leader.owner_id = 1;
        leader.owner_generation = 1;
        leader.timestamp = timestamp;
        disks.poke(0, 0, &leader.with_checksum().encode());
        disks
    }

    fn request(
        disks: &MemDisks,
        lver: u64,
        force: u32,
        next: bool,
    ) -> Result<RequestDone, RequestOpError> {
        run_blocking(
            &mut PaxosRequest::new(config(), lver, force, next),
            &mut disks.clone(),
            &mut VirtualClock::default(),
        )
    }

    fn record(disks: &MemDisks) -> RequestRecord {
        run_blocking(
            &mut ReadRequest::new(config()),
            &mut disks.clone(),
            &mut VirtualClock::default(),
        )
        .unwrap()
    }

    #[test]
    fn a_request_for_a_newer_version_is_written_and_names_the_owner() {
        let disks = disks_with_owner(3, 77);
        let done = request(&disks, 0, FORCE_MODE_FORCE, true).unwrap();
        assert_eq!(
            done,
            RequestDone {
                owner_id: Some(1),
                lver: 4
            }
        );
        let rr = record(&disks);
        assert_eq!((rr.lver, rr.force_mode), (4, FORCE_MODE_FORCE));
        // The same version again is allowed (last writer wins); an older one is not.
        assert!(request(&disks, 4, 2, false).is_ok());
        assert_eq!(
            request(&disks, 3, 1, false).unwrap_err().sanlock_errno(),
            SANLK_REQUEST_OLD
        );
        assert_eq!(record(&disks).force_mode, 2);
        let leader_after = disks.peek(0, 0, 512);
        assert_eq!(
            LeaderRecord::decode(&leader_after).unwrap().lver,
            3,
            "a request never touches the leader"
        );
    }

    #[test]
    fn a_free_lease_gets_no_request_and_a_pending_later_request_wins() {
        let free = disks_with_owner(3, 0);
        let before = free.peek(0, 512, 512);
        assert_eq!(
            request(&free, 5, 1, false).unwrap(),
            RequestDone {
                owner_id: None,
                lver: 0
            }
        );
        assert_eq!(
            free.peek(0, 512, 512),
            before,
            "nothing written for a free lease"
        );

        let held = disks_with_owner(3, 9);
        request(&held, 6, 1, false).unwrap();
        assert_eq!(
            request(&held, 5, 1, false).unwrap_err().sanlock_errno(),
            SANLK_REQUEST_LVER
        );
        // lver 0, force 0 clears unconditionally.
        request(&held, 0, 0, false).unwrap();
        assert_eq!((record(&held).lver, record(&held).force_mode), (0, 0));
    }
}
