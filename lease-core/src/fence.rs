//! The write fence: no I/O of ours to a lease area while an earlier write of ours to it may
//! still land.
//!
//! A timed-out I/O is failed for the protocol at its deadline, but a write keeps going and
//! may land much later (queue_if_no_path, long SCSI retries): sanlock's premise that "an I/O
//! never really times out until the host is reset or its path is cut" does not hold. Disk
//! Paxos needs each host's block to only move forward, and the leader record not to go back.
//! Without a fence, a host that issues a new write to its sector (or a RELEASED dblock, or a
//! free leader, telling everybody the lease is free) while an older write of its own there is
//! still in flight may see the old one land on top (simulator findings A and B,
//! `docs/sim.md`).
//!
//! [`WriteFence`] is the per-host registry that prevents it. The driver (the daemon's
//! executor, the simulator's world) owns one per host, across operations, and runs every
//! `Step::Io` through [`WriteFence::admit`]:
//! * every write admitted is registered until the driver learns it really finished
//!   ([`WriteFence::finished`]: completed or failed in the kernel, even long after its
//!   deadline) or the host was reset ([`WriteFence::reset`]);
//! * an I/O of an operation to one of its [`Operation::fence_areas`](crate::seam::Operation)
//!   is *held* while a registered write of this host overlaps that area on that disk. Reads
//!   are held too: what an operation reads of its area must include every write of ours
//!   there (a release builds its RELEASED dblock on the newest of ours, finding G).
//!
//! The driver's rules (seam contract rule 6): a batch none of whose I/O is admitted waits,
//! without a deadline, and is offered to `admit` again whenever a write of the host finishes;
//! once some of it is issued its deadline runs, and I/O still held is reported `TimedOut` and
//! never issued (an I/O that was never issued cannot land later). So a single-disk lease
//! waits for its own late write (it could not make progress anyway, and a retract that must
//! free the lease eventually does), while a lease on three disks keeps working with one disk
//! hung: that disk's I/O is dropped instead of piling up behind the hung write.
//!
//! Granularity is the whole area per disk, not the sector: a RELEASED dblock (our sector)
//! tells acquirers that the lease is free, so it must not be written while our leader write
//! (sector 0) may still land, and vice versa (finding B).
//!
//! The areas: a Disk Paxos operation's lease area on each of its disks, and a delta-lease
//! acquire's own slot of the lockspace, so that a re-join waits for a late write of our
//! previous instance there (a release, timestamp 0, landing over the new record told other
//! hosts that the new instance's resource leases were free: finding L). Renewals and
//! releases of the delta lease are not held (a renewal's write landing late, of the same
//! generation, is harmless, and holding renewals behind a hung one would fail the lockspace
//! where the next renewal could succeed); their writes are registered, so the next acquire
//! waits for them too.
//!
//! **Invariants:** on each disk, the writes of one host to one fenced area land in the order
//! the host issued them, and each of its I/O to that area is issued after every earlier write
//! of the host there finished. Pure and deterministic like the rest of `lease-core`: the
//! driver supplies disk identities (`D`: a device path, a simulated disk number) and tells
//! the fence what finished.

use std::collections::BTreeMap;

use crate::seam::{DiskIndex, FenceArea, Io};

/// A write registered in the fence, until [`WriteFence::finished`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WriteToken(u64);

/// One I/O of a batch that [`WriteFence::admit`] let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admitted {
    /// Index of the I/O in the batch.
    pub index: usize,
    /// For a write: its registration, to be [`WriteFence::finished`] when it really finishes.
    pub token: Option<WriteToken>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Extent<D> {
    disk: D,
    start: u64,
    end: u64,
}

impl<D: PartialEq> Extent<D> {
    fn overlaps(&self, disk: &D, start: u64, end: u64) -> bool {
        self.disk == *disk && self.start < end && start < self.end
    }
}

/// The writes of one host that may still land, and the rule that holds I/O behind them.
/// `D` identifies a disk across operations (the driver's own disk identity).
#[derive(Clone, Debug)]
pub struct WriteFence<D> {
    next: u64,
    writes: BTreeMap<WriteToken, Extent<D>>,
}

impl<D> Default for WriteFence<D> {
    fn default() -> Self {
        WriteFence {
            next: 0,
            writes: BTreeMap::new(),
        }
    }
}

fn io_extent(io: &Io) -> (DiskIndex, u64, u64) {
    match io {
        Io::Read { disk, offset, len } => (*disk, *offset, offset.saturating_add(*len)),
        Io::Write { disk, offset, data } => {
            (*disk, *offset, offset.saturating_add(data.len() as u64))
        }
    }
}

impl<D: Clone + PartialEq> WriteFence<D> {
    pub fn new() -> WriteFence<D> {
        WriteFence::default()
    }

    /// Writes registered and not finished yet.
    pub fn outstanding(&self) -> usize {
        self.writes.len()
    }

    /// True if `io`, of an operation with fence `areas`, must wait: it touches one of those
    /// areas, and a registered write overlaps that area on the same disk. `disk_of` maps the
    /// operation's disk indices to the driver's disk identities (`None`: not a disk, never
    /// held; the driver fails such an I/O itself).
    pub fn holds(
        &self,
        areas: &[FenceArea],
        io: &Io,
        disk_of: impl Fn(DiskIndex) -> Option<D>,
    ) -> bool {
        if crate::mutations::active(crate::mutations::Mutation::NoWriteFence) {
            // Deliberate bug (sim teeth tests): no fence at all.
            return false;
        }
        let (disk, start, end) = io_extent(io);
        let Some(global) = disk_of(disk) else {
            return false;
        };
        areas.iter().any(|area| {
            let area_end = area.offset.saturating_add(area.len);
            area.disk == disk
                && area.offset < end
                && start < area_end
                && self
                    .writes
                    .values()
                    .any(|w| w.overlaps(&global, area.offset, area_end))
        })
    }

    /// Admit what may be issued now of the batch `ios` of an operation with fence `areas`.
    /// `issued[i]` marks I/O already issued (skipped) and is set for each one admitted now;
    /// admitted writes are registered. The I/O of one batch are independent: each is judged
    /// against the writes registered before this call, not against its batch-mates.
    pub fn admit(
        &mut self,
        areas: &[FenceArea],
        ios: &[Io],
        disk_of: impl Fn(DiskIndex) -> Option<D>,
        issued: &mut [bool],
    ) -> Vec<Admitted> {
        assert_eq!(ios.len(), issued.len(), "one issued flag per I/O");
        let admitted: Vec<usize> = (0..ios.len())
            .filter(|&i| !issued[i] && !self.holds(areas, &ios[i], &disk_of))
            .collect();
        admitted
            .into_iter()
            .map(|index| {
                issued[index] = true;
                let token = match &ios[index] {
                    Io::Write { .. } => {
                        let (disk, start, end) = io_extent(&ios[index]);
                        disk_of(disk).map(|disk| self.register(disk, start, end))
                    }
                    Io::Read { .. } => None,
                };
                Admitted { index, token }
            })
            .collect()
    }

    fn register(&mut self, disk: D, start: u64, end: u64) -> WriteToken {
        let token = WriteToken(self.next);
        self.next += 1;
        self.writes.insert(token, Extent { disk, start, end });
        token
    }

    /// The write of `token` really finished: nothing of it can land any more. Returns false
    /// if it was not registered (finished twice, or registered before a reset).
    pub fn finished(&mut self, token: WriteToken) -> bool {
        self.writes.remove(&token).is_some()
    }

    /// The host was reset (its path cut): none of its writes can land any more.
    pub fn reset(&mut self) {
        self.writes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AREA: u64 = 1 << 20;

    fn areas(disks: usize) -> Vec<FenceArea> {
        (0..disks)
            .map(|disk| FenceArea {
                disk,
                offset: AREA,
                len: AREA,
            })
            .collect()
    }

    fn write(disk: DiskIndex, sector: u64) -> Io {
        Io::Write {
            disk,
            offset: AREA + sector * 512,
            data: vec![0; 512],
        }
    }

    fn read(disk: DiskIndex, sector: u64, len: u64) -> Io {
        Io::Read {
            disk,
            offset: AREA + sector * 512,
            len,
        }
    }

    /// Operation disk `i` is the driver's disk `10 + i`.
    fn disk_of(i: DiskIndex) -> Option<u32> {
        Some(10 + i as u32)
    }

    fn admit(fence: &mut WriteFence<u32>, areas: &[FenceArea], ios: &[Io]) -> Vec<Admitted> {
        let mut issued = vec![false; ios.len()];
        fence.admit(areas, ios, disk_of, &mut issued)
    }

    #[test]
    fn a_write_of_ours_holds_every_io_to_its_area_until_it_finished() {
        let mut fence = WriteFence::new();
        let areas = areas(1);
        // Our leader write (sector 0) is admitted and registered.
        let leader = admit(&mut fence, &areas, &[write(0, 0)]);
        let token = leader[0].token.expect("a write is registered");
        // It timed out for the protocol: the RELEASED dblock (another sector of the same
        // area) and even a read of the area wait (finding B).
        assert!(admit(&mut fence, &areas, &[write(0, 3)]).is_empty());
        assert!(admit(&mut fence, &areas, &[read(0, 0, AREA)]).is_empty());
        assert_eq!(fence.outstanding(), 1);
        assert!(fence.finished(token));
        assert!(!fence.finished(token), "finished once");
        let next = admit(&mut fence, &areas, &[write(0, 3)]);
        assert_eq!(next.len(), 1);
        assert!(next[0].token.is_some());
    }

    #[test]
    fn only_the_disks_and_areas_with_a_late_write_are_held() {
        let mut fence = WriteFence::new();
        let three = areas(3);
        let first = admit(&mut fence, &three, &[write(0, 3), write(1, 3), write(2, 3)]);
        assert_eq!(first.len(), 3, "batch-mates never hold each other");
        // Disks 0 and 2 completed, disk 1 hangs.
        fence.finished(first[0].token.unwrap());
        fence.finished(first[2].token.unwrap());
        let mut issued = vec![false; 3];
        let reads = [read(0, 0, AREA), read(1, 0, AREA), read(2, 0, AREA)];
        let got = fence.admit(&three, &reads, disk_of, &mut issued);
        assert_eq!(got.iter().map(|a| a.index).collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(issued, vec![true, false, true]);
        assert!(
            got.iter().all(|a| a.token.is_none()),
            "reads are not registered"
        );
        // Offered again: the issued ones are skipped, the held one still waits.
        assert!(fence.admit(&three, &reads, disk_of, &mut issued).is_empty());
        // The next lease area on the hung disk is not fenced by this write.
        let next_area = [FenceArea {
            disk: 1,
            offset: 2 * AREA,
            len: AREA,
        }];
        let other = Io::Read {
            disk: 1,
            offset: 2 * AREA,
            len: 512,
        };
        assert_eq!(admit(&mut fence, &next_area, &[other]).len(), 1);
        // An operation without fence areas (a delta renewal) is never held, and its writes
        // are registered too.
        let renewal = admit(&mut fence, &[], &[write(1, 0)]);
        assert_eq!(renewal.len(), 1);
        assert_eq!(fence.outstanding(), 2);
        fence.reset();
        assert_eq!(fence.outstanding(), 0);
        assert!(!fence.finished(first[1].token.unwrap()));
        assert_eq!(admit(&mut fence, &three, &reads).len(), 3);
    }

    #[test]
    fn an_io_outside_the_operations_areas_is_not_held() {
        let mut fence = WriteFence::new();
        let areas = areas(1);
        admit(&mut fence, &areas, &[write(0, 0)]);
        // The owner's delta lease on the lockspace disk (index 1 for a one-disk lease).
        let delta = Io::Read {
            disk: 1,
            offset: 0,
            len: 512,
        };
        assert_eq!(admit(&mut fence, &areas, &[delta]).len(), 1);
        // A disk index the driver cannot map is left to the driver (it fails the I/O).
        let mut issued = vec![false];
        let got = fence.admit(&areas, &[write(0, 1)], |_| None::<u32>, &mut issued);
        assert_eq!(
            got,
            vec![Admitted {
                index: 0,
                token: None
            }]
        );
    }
}
