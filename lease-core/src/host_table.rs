//! Liveness of the other hosts in a lockspace, judged from successive renewal reads
//! (format spec §4.5).
//!
//! After each successful renewal the whole lockspace area has been read; [`HostTable::observe`]
//! walks every slot and records, per host_id, when (on *our* monotonic clock) its
//! (owner_id, generation, timestamp) last changed. A host is judged only by how long ago,
//! locally, its record last changed, and by *its own* io_timeout (spec §3 "other host" rule).
//! Remote timestamps are never compared with our clock (spec §9 gotcha 12).
//!
//! **Invariants**
//! * `first_check <= last_live <= last_check` for every observed slot.
//! * A slot is reported `Dead` only when its record has been seen unchanged for more than
//!   host_dead_seconds of its own io_timeout on our clock.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::geometry::Geometry;
use crate::ondisk::{DeltaSector, Name};
use crate::time::MonoTime;
use crate::timeouts::Timeouts;

/// Host states as sanlock reports them (numbers are the wire values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostState {
    /// Seen, but not long enough to judge.
    Unknown = 1,
    /// Timestamp 0: the slot is not held.
    Free = 2,
    /// Renewing.
    Live = 3,
    /// Not renewed for more than 8·io (its own): it may be failing.
    Fail = 4,
    /// Not renewed for more than host_dead_seconds (its own): its leases may be taken.
    Dead = 5,
}

impl HostState {
    /// The lower-case name used in JSON and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Unknown => "unknown",
            HostState::Free => "free",
            HostState::Live => "live",
            HostState::Fail => "fail",
            HostState::Dead => "dead",
        }
    }
}

/// What we know of one slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRecord {
    pub host_id: u64,
    pub owner_id: u64,
    pub generation: u64,
    pub timestamp: u64,
    pub io_timeout: u16,
    pub owner_name: Name,
    /// Outgoing event fields of the record (spec §4.5).
    pub write_id: u64,
    pub write_generation: u64,
    pub write_timestamp: u64,
    /// Whether the record's bitmap has *our* bit set.
    pub our_bit_set: bool,
    /// Local time of the first walk that saw this slot.
    pub first_check: MonoTime,
    /// Local time of the latest walk.
    pub last_check: MonoTime,
    /// Local time at which (owner_id, generation, timestamp) last changed; `None` if it never
    /// changed since the first check.
    pub last_live: Option<MonoTime>,
}

/// Liveness of every slot of one lockspace, as seen by one host.
///
/// Most slots of a lockspace (2000 at 512-byte sectors) were never used: initialised, owner,
/// generation and timestamp all zero. They are kept as one `u16` each (their stored
/// io_timeout), not as full records: a daemon with many lockspaces would otherwise hold
/// 2000 records per lockspace. A never-used slot that becomes used is recorded as changed at
/// that walk, with the first walk as its first check: exactly what a full record of zeros
/// would have given.
#[derive(Clone, Debug)]
pub struct HostTable {
    geometry: Geometry,
    our_host_id: u64,
    timeouts: Timeouts,
    /// Records of the slots seen in use at least once (or carrying our bit), by host_id.
    records: BTreeMap<u64, HostRecord>,
    /// Indexed by host_id - 1: `Some(io_timeout)` if the latest walk that could decode the
    /// slot found it never used (and it has no record).
    never_used: Vec<Option<u16>>,
    /// Local time of the first walk.
    first_walk: Option<MonoTime>,
}

impl HostTable {
    pub fn new(geometry: Geometry, our_host_id: u64, timeouts: Timeouts) -> HostTable {
        let slots = usize::try_from(geometry.max_hosts()).expect("max_hosts fits in usize");
        HostTable {
            geometry,
            our_host_id,
            timeouts,
            records: BTreeMap::new(),
            never_used: vec![None; slots],
            first_walk: None,
        }
    }

    /// Record one renewal read of the whole lockspace `area`, made at local time `now`.
    /// Records are not verified (magic, name, checksum): as in sanlock, a changing timestamp
    /// counts as liveness even in a damaged record, which errs on the safe side.
    pub fn observe(&mut self, now: MonoTime, area: &[u8]) {
        let sector_size = self.geometry.sector_size().bytes_usize();
        let first_walk = *self.first_walk.get_or_insert(now);
        for index in 0..self.never_used.len() {
            let host_id = index as u64 + 1;
            let Some(bytes) = area.get(index * sector_size..(index + 1) * sector_size) else {
                break;
            };
            let Ok(sector) = DeltaSector::decode(bytes) else {
                continue;
            };
            let leader = sector.leader;
            let our_bit_set = sector.bitmap.is_set(self.our_host_id);
            let unused = leader.owner_id == 0
                && leader.owner_generation == 0
                && leader.timestamp == 0
                && leader.write_id == 0
                && leader.write_generation == 0
                && leader.write_timestamp == 0
                && !our_bit_set;
            let (first_check, last_live) = match self.records.get(&host_id) {
                Some(prev) => {
                    let changed = prev.owner_id != leader.owner_id
                        || prev.generation != leader.owner_generation
                        || prev.timestamp != leader.timestamp;
                    (
                        prev.first_check,
                        if changed { Some(now) } else { prev.last_live },
                    )
                }
                None if unused => {
                    self.never_used[index] = Some(leader.io_timeout);
                    continue;
                }
                // Seen never used before: a record of zeros would have been there since the
                // first walk, and it changed now (unless only our bit or the event fields
                // moved).
                None if self.never_used[index].is_some() => {
                    let changed = leader.owner_id != 0
                        || leader.owner_generation != 0
                        || leader.timestamp != 0;
                    (first_walk, changed.then_some(now))
                }
                None => (now, None),
            };
            self.never_used[index] = None;
            let record = HostRecord {
                host_id,
                owner_id: leader.owner_id,
                generation: leader.owner_generation,
                timestamp: leader.timestamp,
                io_timeout: leader.io_timeout,
                owner_name: leader.resource_name,
                write_id: leader.write_id,
                write_generation: leader.write_generation,
                write_timestamp: leader.write_timestamp,
                our_bit_set,
                first_check,
                last_check: now,
                last_live,
            };
            debug_assert!(record.first_check <= record.last_check);
            self.records.insert(host_id, record);
        }
    }

    /// What we know of `host_id`, if it was ever seen in use.
    pub fn record(&self, host_id: u64) -> Option<&HostRecord> {
        self.records.get(&host_id)
    }

    /// What we know of `host_id`, also for a never-used slot (a record of zeros, checked at
    /// the first and latest walks, as sanlock reports a free slot).
    pub fn record_or_free(&self, host_id: u64, now: MonoTime) -> Option<HostRecord> {
        if let Some(record) = self.record(host_id) {
            return Some(record.clone());
        }
        let io_timeout = self.never_used_io_timeout(host_id)?;
        Some(HostRecord {
            host_id,
            owner_id: 0,
            generation: 0,
            timestamp: 0,
            io_timeout,
            owner_name: Name::EMPTY,
            write_id: 0,
            write_generation: 0,
            write_timestamp: 0,
            our_bit_set: false,
            first_check: self.first_walk.unwrap_or(now),
            last_check: now,
            last_live: None,
        })
    }

    /// The stored io_timeout of `host_id`'s slot if the latest walk found it never used.
    fn never_used_io_timeout(&self, host_id: u64) -> Option<u16> {
        let index = usize::try_from(host_id.checked_sub(1)?).ok()?;
        *self.never_used.get(index)?
    }

    /// Every slot seen in use at least once, by host_id.
    pub fn records(&self) -> impl Iterator<Item = &HostRecord> {
        self.records.values()
    }

    /// The state of `host_id` at local time `now` (spec §4.5).
    pub fn state(&self, host_id: u64, now: MonoTime) -> HostState {
        if host_id == self.our_host_id {
            return HostState::Live;
        }
        let Some(record) = self.record(host_id) else {
            // A never-used slot is free (its record would be all zeros).
            return match self.never_used_io_timeout(host_id) {
                Some(_) => HostState::Free,
                None => HostState::Unknown,
            };
        };
        if record.timestamp == 0 {
            return HostState::Free;
        }
        let theirs = self.timeouts.for_other_host(record.io_timeout);
        let fail = Duration::from_secs(theirs.id_renewal_fail_seconds());
        let dead = Duration::from_secs(theirs.host_dead_seconds());
        let last = record.last_live.unwrap_or(record.first_check);
        let silent_for = now.saturating_since(last);
        if record.last_live.is_none() && silent_for <= fail {
            HostState::Unknown
        } else if silent_for <= fail {
            HostState::Live
        } else if silent_for > dead {
            HostState::Dead
        } else {
            HostState::Fail
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{AlignSize, SectorSize};
    use crate::ondisk::{lockspace_init_area, DeltaSector, HostBitmap};

    fn geometry() -> Geometry {
        Geometry::new(SectorSize::B512, AlignSize::M1).unwrap()
    }

    fn area_with(records: &[(u64, u64, u64, u16)]) -> Vec<u8> {
        let mut area = lockspace_init_area(geometry(), &Name::new("LS").unwrap(), 10);
        for &(host_id, generation, timestamp, io_timeout) in records {
            let start = ((host_id - 1) * 512) as usize;
            let mut sector = DeltaSector::decode(&area[start..start + 512]).unwrap();
            sector.leader.owner_id = host_id;
            sector.leader.owner_generation = generation;
            sector.leader.timestamp = timestamp;
            sector.leader.io_timeout = io_timeout;
            if host_id == 2 {
                sector.bitmap = HostBitmap::default();
                sector.bitmap.set(1).unwrap();
            }
            let sector = DeltaSector {
                leader: sector.leader.with_checksum(),
                bitmap: sector.bitmap,
            };
            area[start..start + 512].copy_from_slice(&sector.encode(SectorSize::B512));
        }
        area
    }

    #[test]
    fn states_follow_local_time_since_the_last_change() {
        let mut table = HostTable::new(geometry(), 1, Timeouts::new(10, 60));
        let t = |s| MonoTime::from_secs(s);
        table.observe(t(100), &area_with(&[(2, 1, 5000, 1), (3, 1, 7000, 10)]));
        assert_eq!(
            table.state(1, t(100)),
            HostState::Live,
            "we are always live to ourselves"
        );
        assert_eq!(
            table.state(2, t(100)),
            HostState::Unknown,
            "no change seen yet"
        );
        assert_eq!(table.state(4, t(100)), HostState::Free);
        assert_eq!(table.state(9999, t(100)), HostState::Unknown);
        assert!(table.record(2).unwrap().our_bit_set);
        assert!(!table.record(3).unwrap().our_bit_set);

        // Host 2 renews; host 3 does not.
        table.observe(t(102), &area_with(&[(2, 1, 5002, 1), (3, 1, 7000, 10)]));
        assert_eq!(table.state(2, t(102)), HostState::Live);
        // Host 2 (io_timeout 1): fail after 8 s, dead after 68 s of silence, on our clock.
        assert_eq!(table.state(2, t(110)), HostState::Live);
        assert_eq!(table.state(2, t(111)), HostState::Fail);
        assert_eq!(table.state(2, t(170)), HostState::Fail);
        assert_eq!(table.state(2, t(171)), HostState::Dead);
        // Host 3 (io_timeout 10) never changed since first seen at 100: dead after 140 s.
        assert_eq!(table.state(3, t(180)), HostState::Unknown);
        assert_eq!(table.state(3, t(181)), HostState::Fail);
        assert_eq!(table.state(3, t(241)), HostState::Dead);
        // A new generation counts as a change (a new instance of host 3).
        table.observe(t(250), &area_with(&[(2, 1, 5002, 1), (3, 2, 10, 10)]));
        assert_eq!(table.state(3, t(250)), HostState::Live);
    }

    #[test]
    fn never_used_slots_are_free_without_records_and_live_once_used() {
        let mut table = HostTable::new(geometry(), 1, Timeouts::new(10, 60));
        let t = |s| MonoTime::from_secs(s);
        table.observe(t(100), &area_with(&[(2, 1, 5000, 1)]));
        // Only the slots in use are records: ours is never written here, host 2 is.
        assert_eq!(table.records().map(|r| r.host_id).collect::<Vec<_>>(), [2]);
        assert!(table.record(5).is_none());
        assert_eq!(table.state(5, t(100)), HostState::Free);
        let free = table.record_or_free(5, t(101)).unwrap();
        assert_eq!(
            (
                free.owner_id,
                free.generation,
                free.timestamp,
                free.io_timeout
            ),
            (0, 0, 0, 10),
            "a free slot reads as zeros with its stored io_timeout"
        );
        assert_eq!((free.first_check, free.last_check), (t(100), t(101)));
        assert!(
            table.record_or_free(2001, t(101)).is_none(),
            "beyond max_hosts"
        );
        // Host 5 joins: seen changed at once (its zeros were known since the first walk).
        table.observe(t(120), &area_with(&[(2, 1, 5002, 1), (5, 1, 42, 10)]));
        let joined = table.record(5).unwrap();
        assert_eq!(
            (joined.first_check, joined.last_live),
            (t(100), Some(t(120)))
        );
        assert_eq!(table.state(5, t(120)), HostState::Live);
        assert_eq!(table.state(2, t(120)), HostState::Live);
    }

    #[test]
    fn corrupt_records_still_count_for_liveness() {
        // Spec §4.5: records with a wrong magic or name are logged but their timestamp still
        // counts. Judging such a host alive is the safe side: its leases are not taken.
        let mut table = HostTable::new(geometry(), 1, Timeouts::new(1, 60));
        let mut area = area_with(&[(2, 1, 5000, 1)]);
        table.observe(MonoTime::from_secs(0), &area);
        area[512..712].fill(0xAB); // host 2's record is now garbage, its timestamp changed
        table.observe(MonoTime::from_secs(1), &area);
        assert_eq!(table.state(2, MonoTime::from_secs(1)), HostState::Live);
        // Unchanged garbage ages towards dead like any silent record, judged by the io_timeout
        // it carries (0xABAB, clamped to 255 s: dead after 8·255 + 60 s).
        table.observe(MonoTime::from_secs(2), &area);
        assert_eq!(table.state(2, MonoTime::from_secs(2101)), HostState::Fail);
        assert_eq!(table.state(2, MonoTime::from_secs(2102)), HostState::Dead);
    }
}
