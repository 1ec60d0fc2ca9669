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
#[derive(Clone, Debug)]
pub struct HostTable {
    geometry: Geometry,
    our_host_id: u64,
    timeouts: Timeouts,
    /// Indexed by host_id - 1; `None` until first observed.
    records: Vec<Option<HostRecord>>,
}

impl HostTable {
    pub fn new(geometry: Geometry, our_host_id: u64, timeouts: Timeouts) -> HostTable {
        let slots = usize::try_from(geometry.max_hosts()).expect("max_hosts fits in usize");
        HostTable {
            geometry,
            our_host_id,
            timeouts,
            records: vec![None; slots],
        }
    }

    /// Record one renewal read of the whole lockspace `area`, made at local time `now`.
    /// Records are not verified (magic, name, checksum): as in sanlock, a changing timestamp
    /// counts as liveness even in a damaged record, which errs on the safe side.
    pub fn observe(&mut self, now: MonoTime, area: &[u8]) {
        let sector_size = self.geometry.sector_size().bytes_usize();
        for (index, slot) in self.records.iter_mut().enumerate() {
            let host_id = index as u64 + 1;
            let Some(bytes) = area.get(index * sector_size..(index + 1) * sector_size) else {
                break;
            };
            let Ok(sector) = DeltaSector::decode(bytes) else {
                continue;
            };
            let leader = sector.leader;
            let our_bit_set = sector.bitmap.is_set(self.our_host_id);
            let changed = match slot {
                Some(prev) => {
                    prev.owner_id != leader.owner_id
                        || prev.generation != leader.owner_generation
                        || prev.timestamp != leader.timestamp
                }
                None => false,
            };
            let (first_check, last_live) = match slot {
                Some(prev) => (
                    prev.first_check,
                    if changed { Some(now) } else { prev.last_live },
                ),
                None => (now, None),
            };
            *slot = Some(HostRecord {
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
            });
            let record = slot.as_ref().expect("just set");
            debug_assert!(record.first_check <= record.last_check);
        }
    }

    /// What we know of `host_id`, if it was ever observed.
    pub fn record(&self, host_id: u64) -> Option<&HostRecord> {
        let index = usize::try_from(host_id.checked_sub(1)?).ok()?;
        self.records.get(index)?.as_ref()
    }

    /// Every observed slot whose timestamp is non-zero or that is us.
    pub fn records(&self) -> impl Iterator<Item = &HostRecord> {
        self.records.iter().flatten()
    }

    /// The state of `host_id` at local time `now` (spec §4.5).
    pub fn state(&self, host_id: u64, now: MonoTime) -> HostState {
        if host_id == self.our_host_id {
            return HostState::Live;
        }
        let Some(record) = self.record(host_id) else {
            return HostState::Unknown;
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
