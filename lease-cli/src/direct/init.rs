//! `lease direct init -s LOCKSPACE | -r RESOURCE`: write a fresh lockspace or resource area,
//! byte for byte what `sanlock direct init` writes.
//!
//! Order of work: parse and validate everything (strings, sizes, io_timeout), open every disk,
//! check offsets and ranges on every disk, build the area image(s) with
//! [`lease_core::ondisk`], and only then write. A lockspace is written as sanlock writes it: the
//! whole area with host 1's magic zeroed first, then host 1's sector, so an interrupted init
//! never leaves an area that looks like a valid lockspace.

use std::io;

use lease_core::geometry::Geometry;
use lease_core::names::{parse_lockspace, parse_resource, Disk};
use lease_core::ondisk::{lockspace_init_area, paxos_init_area, LeaderRecord, Name};
use lease_core::timeouts::DEFAULT_IO_TIMEOUT_SECONDS;
use lease_io::{Access, Device, DeviceKind};
use serde_json::json;

use super::{
    geometry_for, open_device, size_flags, Console, Failure, SizeFlags, EINVAL, RV_GENERIC,
};
use crate::cli::InitArgs;

const ACTION: &str = "init";

/// One area to write: where, and the writes in order.
struct Plan {
    device: Device,
    writes: Vec<(u64, Vec<u8>)>,
}

/// Runs `direct init`; returns the exit status.
pub fn run(args: &InitArgs, console: &mut Console<'_>) -> io::Result<u8> {
    let flags = match size_flags(&args.sizes) {
        Ok(flags) => flags,
        Err(bad) => return bad.report(console, ACTION),
    };
    let result = plan(args, flags).and_then(|plans| {
        for plan in &plans {
            for (offset, bytes) in &plan.writes {
                plan.device
                    .write_at(*offset, bytes)
                    .map_err(|e| Failure::device(&e))?;
            }
        }
        Ok(())
    });
    match result {
        Ok(()) => {
            if console.json {
                console.json_line(&json!({ "result": 0 }))?;
            } else {
                writeln!(console.out, "init done 0")?;
            }
            Ok(0)
        }
        Err(failure) => {
            if console.json {
                console.json_line(&json!({ "result": failure.rv, "error": failure.message }))?;
            } else {
                writeln!(console.out, "init done {}", failure.rv)?;
            }
            console.explain(ACTION, &failure.message)?;
            Ok(1)
        }
    }
}

/// Everything that can fail before writing.
fn plan(args: &InitArgs, flags: SizeFlags) -> Result<Vec<Plan>, Failure> {
    if let SizeFlags::SectorOnly(sector) = flags {
        return Err(Failure::new(
            RV_GENERIC,
            format!("-Z {sector} was given without -A; give both -Z and -A, or neither"),
        ));
    }
    let clear = args.clear.as_deref() == Some("1");
    if let Some(text) = &args.lockspace {
        let ls = parse_lockspace(text).map_err(|e| Failure::lease_string('s', text, &e))?;
        let space = name(&ls.name)?;
        let io_timeout = match args.io_timeout {
            None | Some(0) => DEFAULT_IO_TIMEOUT_SECONDS as u16,
            Some(seconds) => seconds,
        };
        let device = open_device(&ls.disk.path, Access::ReadWrite, true)?;
        let geometry = geometry_for(flags, &device, SINGLE_SECTORS)?;
        check_placement(&device, &ls.disk, geometry)?;
        let area = lockspace_init_area(geometry, &space, io_timeout);
        let writes = lockspace_writes(ls.disk.offset, area, geometry)?;
        return Ok(vec![Plan { device, writes }]);
    }
    let text = args.resource.as_deref().unwrap_or_default();
    let res = parse_resource(text).map_err(|e| Failure::lease_string('r', text, &e))?;
    let space = name(&res.lockspace)?;
    let resource = name(&res.name)?;
    let mut plans = Vec::with_capacity(res.disks.len());
    let mut geometry_first: Option<Geometry> = None;
    for disk in &res.disks {
        let device = open_device(&disk.path, Access::ReadWrite, false)?;
        let geometry = geometry_for(flags, &device, SINGLE_SECTORS)?;
        if let Some(first) = geometry_first {
            if first != geometry {
                return Err(Failure::new(
                    EINVAL,
                    format!(
                        "{} has {}-byte sectors but the first disk has {}; give -Z and -A",
                        disk.path,
                        geometry.sector_size(),
                        first.sector_size()
                    ),
                ));
            }
        }
        geometry_first = Some(geometry);
        check_placement(&device, disk, geometry)?;
        let clear_time = clear.then(|| lease_io::monotonic_now().as_secs());
        let area = paxos_init_area(
            geometry,
            &space,
            &resource,
            args.num_hosts.unwrap_or(0),
            clear_time,
        );
        plans.push(Plan {
            device,
            writes: vec![(disk.offset, area)],
        });
    }
    Ok(plans)
}

/// The end of the message refusing a sector size below the device's ([`geometry_for`]).
const SINGLE_SECTORS: &str = ": sanlock could not write single sectors of such a lease";

fn name(text: &str) -> Result<Name, Failure> {
    Name::new(text).map_err(|e| Failure::new(EINVAL, format!("name {text:?}: {e}")))
}

/// The offset is sector aligned and the area fits on a block device.
fn check_placement(device: &Device, disk: &Disk, geometry: Geometry) -> Result<(), Failure> {
    let sector = geometry.sector_bytes();
    if disk.offset.checked_rem(sector) != Some(0) {
        return Err(Failure::new(
            EINVAL,
            format!(
                "offset {} on {} is not a multiple of the sector size {sector}",
                disk.offset, disk.path
            ),
        ));
    }
    let end = disk.offset.checked_add(geometry.area_bytes());
    if device.kind() == DeviceKind::BlockDevice && end.is_none_or(|end| end > device.size_bytes()) {
        return Err(Failure::new(
            -34,
            format!(
                "the {}-byte area at offset {} does not fit on {} ({} bytes)",
                geometry.area_bytes(),
                disk.offset,
                disk.path,
                device.size_bytes()
            ),
        ));
    }
    if end.is_none() {
        return Err(Failure::new(
            EINVAL,
            format!("offset {} is too large", disk.offset),
        ));
    }
    Ok(())
}

/// sanlock's two writes: the area with host 1's leader de-magicked (and re-checksummed), then
/// host 1's real sector.
fn lockspace_writes(
    offset: u64,
    area: Vec<u8>,
    geometry: Geometry,
) -> Result<Vec<(u64, Vec<u8>)>, Failure> {
    let sector_len = geometry.sector_size().bytes_usize();
    let first_sector = area[..sector_len].to_vec();
    let mut leader = LeaderRecord::decode(&first_sector)
        .map_err(|e| Failure::new(EINVAL, format!("internal: lockspace image: {e}")))?;
    leader.magic = 0;
    let staged = leader.with_checksum().encode();
    let mut area = area;
    area[..staged.len()].copy_from_slice(&staged);
    Ok(vec![(offset, area), (offset, first_sector)])
}
