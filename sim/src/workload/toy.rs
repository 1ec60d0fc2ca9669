//! The toy workload: "write my slot, read it back", on every host, forever.
//!
//! Host `h` owns slot `h`: [`SLOT_SECTORS`] sectors at `h * SLOT_SECTORS * sector_size` of
//! disk 0. Each round, [`ToyOp`] writes the slot with a stamp `(h, seq, part)` that determines
//! every byte of each sector, sleeps, then reads its own slot and its neighbour's in one batch.
//! The workload checks every sector it reads and the true disk contents:
//! * every sector is whole: zero (never written) or one stamp, never a mix within a sector;
//! * a slot's sectors carry its owner's host number and a `seq` the owner has issued;
//! * (allowed, and counted) the sectors of one slot may carry different seqs: a torn write,
//!   a read racing a write, or a timed-out write landing late.

use std::time::Duration;

use lease_core::seam::{Io, IoFailure, IoOutcome, Operation, Resume, Step};
use lease_core::time::MonoTime;

use crate::ids::{HostIndex, TaskId};
use crate::invariant::{Invariant, Violation, WorldView};
use crate::world::{HostCtx, Workload};

/// Sectors per host slot (two, so writes can tear).
pub const SLOT_SECTORS: u64 = 2;
const MAGIC: &[u8; 4] = b"TOY1";
const HEADER_BYTES: usize = 24;

/// The stamp written in one sector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub host: u32,
    pub seq: u64,
    pub part: u64,
}

fn fill_byte(stamp: Stamp, i: usize) -> u8 {
    let x = u64::from(stamp.host)
        .wrapping_mul(31)
        .wrapping_add(stamp.seq.wrapping_mul(7))
        .wrapping_add(stamp.part.wrapping_mul(3))
        .wrapping_add(i as u64);
    x as u8
}

/// Encode `stamp` as a full sector.
pub fn stamp_sector(stamp: Stamp, sector_size: usize) -> Vec<u8> {
    let mut s = vec![0u8; sector_size];
    s[..4].copy_from_slice(MAGIC);
    s[4..8].copy_from_slice(&stamp.host.to_le_bytes());
    s[8..16].copy_from_slice(&stamp.seq.to_le_bytes());
    s[16..24].copy_from_slice(&stamp.part.to_le_bytes());
    for (i, b) in s.iter_mut().enumerate().skip(HEADER_BYTES) {
        *b = fill_byte(stamp, i);
    }
    s
}

/// Decode a sector: `Ok(None)` if all zero, `Ok(Some)` if one whole stamp, `Err` otherwise.
pub fn decode_sector(s: &[u8]) -> Result<Option<Stamp>, String> {
    if s.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    if &s[..4] != MAGIC {
        return Err("sector is neither zero nor a stamp".into());
    }
    let u32_at = |i: usize| u32::from_le_bytes(s[i..i + 4].try_into().expect("4"));
    let u64_at = |i: usize| u64::from_le_bytes(s[i..i + 8].try_into().expect("8"));
    let stamp = Stamp {
        host: u32_at(4),
        seq: u64_at(8),
        part: u64_at(16),
    };
    let whole = s
        .iter()
        .enumerate()
        .skip(HEADER_BYTES)
        .all(|(i, &b)| b == fill_byte(stamp, i));
    if whole {
        Ok(Some(stamp))
    } else {
        Err(format!(
            "sector mixes {stamp:?} with other data (torn within a sector)"
        ))
    }
}

/// One round of the toy workload on one host.
#[derive(Debug)]
pub struct ToyOp {
    host: u32,
    neighbour: u32,
    seq: u64,
    sector_size: u64,
    pause_ms: u64,
    timeout: Duration,
    state: u8,
    write: Option<IoOutcome>,
}

/// What a round saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToyOutput {
    pub seq: u64,
    pub write: IoOutcome,
    /// (slot owner, outcome) for the own slot and the neighbour's.
    pub reads: Vec<(u32, IoOutcome)>,
}

impl ToyOp {
    fn slot_offset(&self, host: u32) -> u64 {
        u64::from(host) * SLOT_SECTORS * self.sector_size
    }
}

impl Operation for ToyOp {
    type Output = ToyOutput;

    fn resume(&mut self, now: MonoTime, input: Resume) -> Step<ToyOutput> {
        self.state += 1;
        match (self.state, input) {
            (1, Resume::Start) => {
                let mut data = Vec::new();
                for part in 0..SLOT_SECTORS {
                    let stamp = Stamp {
                        host: self.host,
                        seq: self.seq,
                        part,
                    };
                    data.extend(stamp_sector(stamp, self.sector_size as usize));
                }
                let offset = self.slot_offset(self.host);
                Step::Io {
                    ios: vec![Io::Write {
                        disk: 0,
                        offset,
                        data,
                    }],
                    timeout: self.timeout,
                }
            }
            (2, Resume::Io(mut out)) => {
                self.write = out.pop();
                Step::Sleep {
                    until: now.saturating_add(Duration::from_millis(self.pause_ms)),
                    jitter: Duration::from_millis(self.pause_ms / 2),
                }
            }
            (3, Resume::Woke) => {
                let len = SLOT_SECTORS * self.sector_size;
                let read = |host| Io::Read {
                    disk: 0,
                    offset: self.slot_offset(host),
                    len,
                };
                Step::Io {
                    ios: vec![read(self.host), read(self.neighbour)],
                    timeout: self.timeout,
                }
            }
            (4, Resume::Io(out)) => {
                assert_eq!(out.len(), 2, "one outcome per I/O");
                let reads = vec![self.host, self.neighbour]
                    .into_iter()
                    .zip(out)
                    .collect();
                let write = self.write.take().expect("write outcome recorded");
                Step::Done(ToyOutput {
                    seq: self.seq,
                    write,
                    reads,
                })
            }
            (state, input) => panic!("toy op: state {state} got {input:?}"),
        }
    }

    fn name(&self) -> &'static str {
        "toy_write_read"
    }
}

/// Counters of what the toy workload saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ToyStats {
    pub rounds: u64,
    pub writes_ok: u64,
    pub writes_timed_out: u64,
    pub writes_failed: u64,
    pub reads_ok: u64,
    pub reads_failed: u64,
    /// Reads of one slot whose two sectors carry different seqs (legal).
    pub slot_reads_mixed: u64,
}

/// The toy workload.
#[derive(Debug)]
pub struct ToyWorkload {
    host_count: u32,
    sector_size: u64,
    interval_ms: u64,
    timeout: Duration,
    /// Highest seq issued per host (seqs continue across reboots).
    issued_max: Vec<u64>,
    /// Problems found in reads, for [`ToyReadsWhole`] to report.
    pub problems: Vec<(HostIndex, String)>,
    pub stats: ToyStats,
}

impl ToyWorkload {
    /// `interval_ms`: local time between rounds; `timeout`: per-I/O deadline.
    pub fn new(host_count: u32, sector_size: u64, interval_ms: u64, timeout: Duration) -> Self {
        ToyWorkload {
            host_count,
            sector_size,
            interval_ms,
            timeout,
            issued_max: vec![0; host_count as usize],
            problems: Vec::new(),
            stats: ToyStats::default(),
        }
    }

    /// Disk bytes the workload needs on disk 0.
    pub fn disk_size_bytes(host_count: u32, sector_size: u64) -> u64 {
        u64::from(host_count) * SLOT_SECTORS * sector_size
    }

    /// Highest seq `host` has issued.
    pub fn issued_max(&self, host: u32) -> u64 {
        self.issued_max[host as usize]
    }

    /// Check one slot's bytes as read or as on disk; `Ok(true)` if its sectors' seqs differ.
    pub fn check_slot(&self, owner: u32, bytes: &[u8]) -> Result<bool, String> {
        let mut seqs = Vec::new();
        for (part, sector) in bytes.chunks(self.sector_size as usize).enumerate() {
            match decode_sector(sector)? {
                None => seqs.push(0),
                Some(stamp) => {
                    if stamp.host != owner || stamp.part != part as u64 {
                        return Err(format!("slot {owner} part {part} holds {stamp:?}"));
                    }
                    if stamp.seq > self.issued_max(owner) {
                        return Err(format!(
                            "slot {owner} holds seq {} never issued (max {})",
                            stamp.seq,
                            self.issued_max(owner)
                        ));
                    }
                    seqs.push(stamp.seq);
                }
            }
        }
        Ok(seqs.windows(2).any(|w| w[0] != w[1]))
    }

    fn start_round(&mut self, ctx: &mut HostCtx<'_, ToyOp>) {
        let host = ctx.host().0;
        self.issued_max[host as usize] += 1;
        let op = ToyOp {
            host,
            neighbour: (host + 1) % self.host_count,
            seq: self.issued_max[host as usize],
            sector_size: self.sector_size,
            pause_ms: self.interval_ms / 4,
            timeout: self.timeout,
            state: 0,
            write: None,
        };
        ctx.spawn(op, vec![0]);
    }

    fn next_round_after(&mut self, ctx: &mut HostCtx<'_, ToyOp>, ms: u64) {
        let at = ctx.local_now().saturating_add(Duration::from_millis(ms));
        ctx.set_timer(at, 0);
    }
}

impl Workload for ToyWorkload {
    type Op = ToyOp;

    fn host_booted(&mut self, ctx: &mut HostCtx<'_, ToyOp>) {
        let stagger = ctx.rng().range_u64(0, self.interval_ms);
        self.next_round_after(ctx, stagger);
    }

    fn timer(&mut self, ctx: &mut HostCtx<'_, ToyOp>, _token: u64) {
        self.start_round(ctx);
    }

    fn op_done(&mut self, ctx: &mut HostCtx<'_, ToyOp>, _task: TaskId, out: ToyOutput) {
        self.stats.rounds += 1;
        match out.write {
            IoOutcome::Written => self.stats.writes_ok += 1,
            IoOutcome::Failed(IoFailure::TimedOut) => self.stats.writes_timed_out += 1,
            _ => self.stats.writes_failed += 1,
        }
        for (owner, outcome) in &out.reads {
            let IoOutcome::Read(bytes) = outcome else {
                self.stats.reads_failed += 1;
                continue;
            };
            self.stats.reads_ok += 1;
            match self.check_slot(*owner, bytes) {
                Ok(mixed) => self.stats.slot_reads_mixed += u64::from(mixed),
                Err(why) => self.problems.push((ctx.host(), why)),
            }
        }
        let interval = self.interval_ms;
        self.next_round_after(ctx, interval);
    }
}

/// Every sector the toy workload read was whole and plausible.
#[derive(Debug, Default)]
pub struct ToyReadsWhole;

impl Invariant<ToyWorkload> for ToyReadsWhole {
    fn name(&self) -> &'static str {
        "toy_reads_whole"
    }
    fn source(&self) -> &'static str {
        "sector atomicity: anchors §4.1 item 2; format spec 'Assumptions about the media'"
    }
    fn check(&mut self, view: &WorldView<'_, ToyWorkload>) -> Result<(), Box<Violation>> {
        match view.workload().problems.first() {
            None => Ok(()),
            Some((host, why)) => Err(Violation::new(why.clone(), vec![*host], "toy slots")),
        }
    }
}

/// The true contents of the slot of the host whose I/O just landed are whole and plausible.
#[derive(Debug, Default)]
pub struct ToyDiskSlotsValid;

impl Invariant<ToyWorkload> for ToyDiskSlotsValid {
    fn name(&self) -> &'static str {
        "toy_disk_slots_valid"
    }
    fn source(&self) -> &'static str {
        "sector atomicity and no phantom writes: anchors §4.1 items 1-2"
    }
    fn check(&mut self, view: &WorldView<'_, ToyWorkload>) -> Result<(), Box<Violation>> {
        let Some(host) = view.last_event_host() else {
            return Ok(());
        };
        let w = view.workload();
        let len = SLOT_SECTORS * w.sector_size;
        let bytes = view.disk(0).peek(u64::from(host.0) * len, len);
        w.check_slot(host.0, bytes)
            .map(|_| ())
            .map_err(|why| Violation::new(why, vec![host], format!("slot {}", host.0)))
    }
}
