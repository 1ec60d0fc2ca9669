//! `lease direct dump PATH[:OFFSET[:SIZE]] [-f 1]`: the rows and columns of
//! `sanlock direct dump`, from the same walk over the device. Read-only.
//!
//! The walk, as sanlock 3.8.5 does it (observed with strace and crafted images):
//! 1. If OFFSET is not a multiple of 1 MiB, print `WARNING: dump offset should be a multiple of
//!    1048576 bytes.` first.
//! 2. Sizes: -Z with -A, else the first leader (delta or paxos magic, non-zero sector size)
//!    found by reading at OFFSET + n MiB for n in 0..1024. The align size is the leader's
//!    smallest LFL_ALIGN flag, or the legacy default for its sector size. None found: `Cannot
//!    find sector_size and align_size, set with -A and -Z.`, exit 1.
//! 3. From OFFSET, read one area (align size bytes) at a time and classify it by the magic of
//!    its first sector:
//!    * delta lease: one row per sector of the whole area whose magic is non-zero and whose
//!      owner_id or owner_generation is non-zero (never-acquired slots are skipped; sectors
//!      beyond max_hosts count too). `-f` appends the hosts set in the bitmap (1..=max_hosts);
//!    * paxos lease: one row; `-f` appends `/<request lver>/<force_mode>`; then an `SH` row for
//!      each of the first num_hosts host sectors whose mode block has the SHARED flag (always,
//!      not only with `-f`);
//!    * rindex: a `rindex_header` row; `-f` adds a `rentry` row for every entry of the area
//!      with a non-zero offset or a name (not bounded by max_resources);
//!    * anything else (zeros, a cleared lease, a request record, ...): stop.
//! 4. Stop also at the end of the device (a short last area is not shown) or once SIZE bytes
//!    (rounded down to whole sectors; 0 = no limit) have been walked.
//!
//! All sizes come from step 2: areas of a different geometry further on are read with those
//! sizes, as sanlock does. Unlike sanlock, host sectors beyond the area are never read (sanlock
//! can read past its buffer, and crash, on a lease whose num_hosts does not fit the sizes).

use std::io::{self, Write};

use lease_core::geometry::{AlignSize, Geometry, SectorSize};
use lease_core::names::{parse_dump_target, DumpTarget, MIB};
use lease_core::ondisk::{
    HostBitmap, LeaderRecord, ModeBlock, Name, RequestRecord, RindexEntry, RindexHeader,
    DELTA_LEASE_MAGIC, PAXOS_LEASE_MAGIC, RINDEX_DISK_MAGIC,
};
use lease_io::{Access, Device, DeviceError};
use serde_json::{json, Value};

use super::report::{leader_json, name_bytes, name_json, write_padded};
use super::{
    le_u32, open_device, size_flags, sizes_from_leader_fields, Console, Failure, SizeFlags,
};
use crate::cli::DumpArgs;

const ACTION: &str = "dump";
/// How far (in MiB steps) sanlock looks for a leader to take the sizes from.
const PROBE_STEPS_MAX: u64 = 1024;
/// Bytes read per probe step.
const PROBE_READ_BYTES: u64 = 4096;
/// Indentation of `SH` rows: the width of the columns before `own`.
const SH_INDENT: usize = 106;
const WARNING_OFFSET: &str = "WARNING: dump offset should be a multiple of 1048576 bytes.";
const NO_SIZES: &str = "Cannot find sector_size and align_size, set with -A and -Z.";

/// One printed item of the walk.
#[derive(Debug)]
enum Row {
    /// An acquired (or once acquired) delta lease sector.
    Delta {
        offset: u64,
        leader: LeaderRecord,
        bitmap: Vec<u64>,
    },
    /// A paxos lease area.
    Paxos {
        offset: u64,
        leader: LeaderRecord,
        request: RequestRecord,
        shared: Vec<(u64, u64)>,
    },
    /// A rindex area.
    Rindex {
        offset: u64,
        header: RindexHeader,
        entries: Vec<(u64, RindexEntry)>,
    },
}

/// Sizes the walk uses (not necessarily a valid [`Geometry`]: sanlock takes what a leader says).
#[derive(Debug, Clone, Copy)]
struct Sizes {
    sector_size: u64,
    align_size: u64,
}

impl Sizes {
    /// Host ids whose bitmap bits are reported: max_hosts of the geometry (250 per MiB of 4K
    /// sectors, 2000 for 512/1M), at most the 2048 bits of the bitmap.
    fn max_hosts(self) -> u64 {
        let geometry = SectorSize::from_bytes(u32::try_from(self.sector_size).unwrap_or(0))
            .zip(AlignSize::from_bytes(self.align_size))
            .and_then(|(sector, align)| Geometry::new(sector, align).ok());
        match geometry {
            Some(geometry) => geometry.max_hosts(),
            None => (250 * self.align_size / (self.sector_size * 256)).min(HostBitmap::HOST_ID_MAX),
        }
    }
}

/// What the walk needs, once the arguments, the device and the sizes are settled.
struct Prepared {
    target: DumpTarget,
    device: Device,
    sizes: Sizes,
    warning: Option<&'static str>,
}

/// Runs `direct dump`; returns the exit status.
pub fn run(args: &DumpArgs, console: &mut Console<'_>) -> io::Result<u8> {
    let prepared = match prepare(args, console)? {
        Ok(prepared) => prepared,
        Err(status) => return Ok(status),
    };
    let full = args.full.unwrap_or(0) != 0;
    if !console.json {
        write_header(console.out, full)?;
    }
    let mut rows_json = Vec::new();
    let walked = walk(&prepared.device, &prepared.target, prepared.sizes, |row| {
        if console.json {
            rows_json.push(row_json(&row));
            Ok(())
        } else {
            write_row(console.out, &row, full)
        }
    })?;
    let failure = walked.err();
    if console.json {
        let Prepared {
            target,
            sizes,
            warning,
            ..
        } = &prepared;
        let mut value = json!({
            "result": failure.as_ref().map_or(0, |f| f.rv),
            "path": target.path,
            "offset": target.offset,
            "size": target.size,
            "sector_size": sizes.sector_size,
            "align_size": sizes.align_size,
            "rows": rows_json,
        });
        if let Some(warning) = warning {
            value["warning"] = Value::String((*warning).to_owned());
        }
        if let Some(failure) = &failure {
            value["error"] = Value::String(failure.message.clone());
        }
        console.json_line(&value)?;
    }
    match failure {
        None => Ok(0),
        Some(failure) => {
            console.explain(ACTION, &failure.message)?;
            Ok(1)
        }
    }
}

/// Steps 1 and 2 of the walk (see the module docs): `Ok(Err(status))` when the command already
/// failed and reported it.
fn prepare(args: &DumpArgs, console: &mut Console<'_>) -> io::Result<Result<Prepared, u8>> {
    let flags = match size_flags(&args.sizes) {
        Ok(flags) => flags,
        Err(bad) => return bad.report(console, ACTION).map(Err),
    };
    let target = match parse_dump_target(&args.target) {
        Ok(target) => target,
        Err(e) => {
            let message = format!("invalid target {:?}: {e}", args.target);
            return fail(console, &Failure::new(super::EINVAL, message), None).map(Err);
        }
    };
    let warning = (target.offset.checked_rem(MIB) != Some(0)).then_some(WARNING_OFFSET);
    if let (Some(warning), false) = (warning, console.json) {
        writeln!(console.out, "{warning}")?;
    }
    let device = match open_device(&target.path, Access::ReadOnly, false) {
        Ok(device) => device,
        Err(failure) => {
            if !console.json {
                writeln!(console.out, "Device {} not found.", target.path)?;
            }
            return fail(console, &failure, warning).map(Err);
        }
    };
    let sizes = match flags {
        SizeFlags::Both(geometry) => Sizes {
            sector_size: geometry.sector_bytes(),
            align_size: geometry.area_bytes(),
        },
        SizeFlags::Unset | SizeFlags::SectorOnly(_) => match probe_sizes(&device, target.offset) {
            Some(sizes) => sizes,
            None => {
                if !console.json {
                    writeln!(console.out, "{NO_SIZES}")?;
                }
                let message = format!(
                    "no delta or paxos leader at {} offset {} + n MiB (n < {PROBE_STEPS_MAX}) to \
                     take the sector and align sizes from; give -Z and -A",
                    target.path, target.offset
                );
                let failure = Failure::new(super::RV_GENERIC, message);
                return fail(console, &failure, warning).map(Err);
            }
        },
    };
    Ok(Ok(Prepared {
        target,
        device,
        sizes,
        warning,
    }))
}

/// Reports a failure that happened before the walk.
fn fail(console: &mut Console<'_>, failure: &Failure, warning: Option<&str>) -> io::Result<u8> {
    if console.json {
        let mut value = json!({ "result": failure.rv, "error": failure.message });
        if let Some(warning) = warning {
            value["warning"] = Value::String(warning.to_owned());
        }
        console.json_line(&value)?;
    }
    console.explain(ACTION, &failure.message)?;
    Ok(1)
}

/// sanlock's size discovery: the first delta or paxos leader at `offset + n MiB`.
fn probe_sizes(device: &Device, offset: u64) -> Option<Sizes> {
    let size = device.size_bytes();
    let unit = u64::from(device.io_alignment());
    for step in 0..PROBE_STEPS_MAX {
        let at = offset.checked_add(step * MIB)?;
        let available = size.saturating_sub(at);
        let len = PROBE_READ_BYTES.max(unit).min(available) / unit * unit;
        if len == 0 {
            break;
        }
        let Ok(buf) = device.read_at(at, usize::try_from(len).ok()?) else {
            continue;
        };
        let magic = le_u32(&buf, 0);
        if magic != DELTA_LEASE_MAGIC && magic != PAXOS_LEASE_MAGIC {
            continue;
        }
        let Ok(leader) = LeaderRecord::decode(&buf) else {
            continue;
        };
        if let Some((sector_size, align_size)) =
            sizes_from_leader_fields(leader.flags, leader.sector_size)
        {
            return Some(Sizes {
                sector_size: u64::from(sector_size),
                align_size,
            });
        }
    }
    None
}

/// Walks the areas, handing each row to `emit`. `Ok(Err(failure))` when a read failed for a
/// reason other than reaching the end of the device (the rows before it were emitted).
fn walk(
    device: &Device,
    target: &DumpTarget,
    sizes: Sizes,
    mut emit: impl FnMut(Row) -> io::Result<()>,
) -> io::Result<Result<(), Failure>> {
    let sectors_per_area = sizes.align_size / sizes.sector_size;
    // sanlock counts the size in whole sectors; 0 sectors means no limit.
    let sectors_max = target.size.map_or(0, |size| size / sizes.sector_size);
    let mut sectors_done = 0u64;
    let mut area_offset = target.offset;
    while sectors_max == 0 || sectors_done < sectors_max {
        let Ok(len) = usize::try_from(sizes.align_size) else {
            break;
        };
        let area = match device.read_at(area_offset, len) {
            Ok(area) => area,
            Err(DeviceError::OutOfRange { .. }) => break,
            Err(DeviceError::Io { source, .. })
                if source.kind() == io::ErrorKind::UnexpectedEof =>
            {
                break
            }
            Err(error) => return Ok(Err(Failure::device(&error))),
        };
        let rows = match le_u32(&area, 0) {
            DELTA_LEASE_MAGIC => delta_rows(&area, area_offset, sizes),
            PAXOS_LEASE_MAGIC => paxos_rows(&area, area_offset, sizes),
            RINDEX_DISK_MAGIC => rindex_rows(&area, area_offset, sizes),
            _ => break,
        };
        for row in rows {
            emit(row)?;
        }
        sectors_done += sectors_per_area;
        let Some(next) = area_offset.checked_add(sizes.align_size) else {
            break;
        };
        area_offset = next;
    }
    Ok(Ok(()))
}

fn sector_len(sizes: Sizes) -> usize {
    usize::try_from(sizes.sector_size).unwrap_or(usize::MAX)
}

fn delta_rows(area: &[u8], area_offset: u64, sizes: Sizes) -> Vec<Row> {
    let max_hosts = sizes.max_hosts();
    let mut rows = Vec::new();
    for (index, sector) in area.chunks_exact(sector_len(sizes)).enumerate() {
        if le_u32(sector, 0) == 0 {
            continue;
        }
        let Ok(leader) = LeaderRecord::decode(sector) else {
            continue;
        };
        if leader.owner_id == 0 && leader.owner_generation == 0 {
            continue; // never acquired
        }
        let bitmap = sector
            .get(HostBitmap::SECTOR_OFFSET..)
            .and_then(|bytes| HostBitmap::decode(bytes).ok())
            .map(|bitmap| {
                (1..=max_hosts)
                    .filter(|&host| bitmap.is_set(host))
                    .collect()
            })
            .unwrap_or_default();
        rows.push(Row::Delta {
            offset: area_offset + index as u64 * sizes.sector_size,
            leader,
            bitmap,
        });
    }
    rows
}

fn paxos_rows(area: &[u8], area_offset: u64, sizes: Sizes) -> Vec<Row> {
    let sector = sector_len(sizes);
    let Ok(leader) = LeaderRecord::decode(area) else {
        return Vec::new();
    };
    let request = area
        .get(sector..)
        .and_then(|bytes| RequestRecord::decode(bytes).ok())
        .unwrap_or_default();
    let host_sectors = (area.len() / sector).saturating_sub(2) as u64;
    let shared = (0..leader.num_hosts.min(host_sectors))
        .filter_map(|index| {
            let start = usize::try_from(2 + index).ok()? * sector + ModeBlock::SECTOR_OFFSET;
            let mode = ModeBlock::decode(area.get(start..)?).ok()?;
            mode.is_shared().then_some((index + 1, mode.generation))
        })
        .collect();
    vec![Row::Paxos {
        offset: area_offset,
        leader,
        request,
        shared,
    }]
}

fn rindex_rows(area: &[u8], area_offset: u64, sizes: Sizes) -> Vec<Row> {
    let sector = sector_len(sizes);
    let Ok(header) = RindexHeader::decode(area) else {
        return Vec::new();
    };
    let entries = area
        .get(sector..)
        .unwrap_or_default()
        .chunks_exact(RindexEntry::ENCODED_LEN)
        .enumerate()
        .filter_map(|(index, bytes)| {
            let entry = RindexEntry::decode(bytes).ok()?;
            let offset =
                area_offset + sizes.sector_size + index as u64 * RindexEntry::ENCODED_LEN as u64;
            (!entry.is_free()).then_some((offset, entry))
        })
        .collect();
    vec![Row::Rindex {
        offset: area_offset,
        header,
        entries,
    }]
}

fn write_header(out: &mut dyn Write, full: bool) -> io::Result<()> {
    let last = if full { "lver/req/mode" } else { "lver" };
    writeln!(
        out,
        "{:>8} {:>36} {:>48} {:>10} {:>4} {:>4} {last}",
        "offset", "lockspace", "resource", "timestamp", "own", "gen"
    )
}

/// `%08llu %36s %48s %010llu %04llu %04llu`: the columns common to lease rows.
fn write_lease_columns(out: &mut dyn Write, offset: u64, leader: &LeaderRecord) -> io::Result<()> {
    write!(out, "{offset:08} ")?;
    write_padded(out, name_bytes(&leader.space_name), 36)?;
    out.write_all(b" ")?;
    write_padded(out, name_bytes(&leader.resource_name), 48)?;
    write!(
        out,
        " {:010} {:04} {:04}",
        leader.timestamp, leader.owner_id, leader.owner_generation
    )
}

fn write_row(out: &mut dyn Write, row: &Row, full: bool) -> io::Result<()> {
    match row {
        Row::Delta {
            offset,
            leader,
            bitmap,
        } => {
            write_lease_columns(out, *offset, leader)?;
            if full {
                for host in bitmap {
                    write!(out, " {host}")?;
                }
            }
            writeln!(out)
        }
        Row::Paxos {
            offset,
            leader,
            request,
            shared,
        } => {
            write_lease_columns(out, *offset, leader)?;
            write!(out, " {}", leader.lver)?;
            if full {
                write!(out, "/{}/{}", request.lver, request.force_mode)?;
            }
            writeln!(out)?;
            for (host_id, generation) in shared {
                writeln!(out, "{:SH_INDENT$}{host_id:04} {generation:04} SH", "")?;
            }
            Ok(())
        }
        Row::Rindex {
            offset,
            header,
            entries,
        } => {
            write!(out, "{offset:08} ")?;
            write_padded(out, name_bytes(&header.lockspace_name), 36)?;
            writeln!(
                out,
                " rindex_header 0x{:x} {} {} {}",
                header.flags, header.sector_size, header.max_resources, header.rx_offset
            )?;
            if full {
                for (entry_offset, entry) in entries {
                    write_rentry(out, *entry_offset, &header.lockspace_name, entry)?;
                }
            }
            Ok(())
        }
    }
}

fn write_rentry(
    out: &mut dyn Write,
    offset: u64,
    space: &Name,
    entry: &RindexEntry,
) -> io::Result<()> {
    write!(out, "{offset:08} ")?;
    write_padded(out, name_bytes(space), 36)?;
    out.write_all(b" rentry ")?;
    out.write_all(name_bytes(&entry.name))?;
    writeln!(out, " {}", entry.res_offset)
}

fn row_json(row: &Row) -> Value {
    match row {
        Row::Delta {
            offset,
            leader,
            bitmap,
        } => json!({
            "type": "delta",
            "offset": offset,
            "leader": leader_json(leader),
            "bitmap": bitmap,
        }),
        Row::Paxos {
            offset,
            leader,
            request,
            shared,
        } => json!({
            "type": "paxos",
            "offset": offset,
            "leader": leader_json(leader),
            "request": {
                "magic": request.magic,
                "version": request.version,
                "lver": request.lver,
                "force_mode": request.force_mode,
            },
            "shared": shared
                .iter()
                .map(|(host_id, generation)| json!({ "host_id": host_id, "generation": generation }))
                .collect::<Vec<_>>(),
        }),
        Row::Rindex {
            offset,
            header,
            entries,
        } => json!({
            "type": "rindex",
            "offset": offset,
            "header": {
                "magic": header.magic,
                "version": header.version,
                "flags": header.flags,
                "sector_size": header.sector_size,
                "max_resources": header.max_resources,
                "unused": header.unused,
                "rx_offset": header.rx_offset,
                "lockspace_name": name_json(&header.lockspace_name),
            },
            "entries": entries
                .iter()
                .map(|(entry_offset, entry)| json!({
                    "offset": entry_offset,
                    "res_offset": entry.res_offset,
                    "flags": entry.flags,
                    "name": name_json(&entry.name),
                }))
                .collect::<Vec<_>>(),
        }),
    }
}
