//! `lease direct read_leader -s LOCKSPACE | -r RESOURCE`: read one leader record, verify it as
//! sanlock does and print every field. Devices are opened read-only: this action never writes.
//!
//! sanlock 3.8.5 behaviour reproduced here:
//! * `-s NAME:H:PATH:OFF` reads host H's delta lease at `OFF + (H - 1) * sector_size`. Without
//!   -Z/-A the sector size comes from the leader at `OFF` (delta or paxos magic accepted); if
//!   there is none the result is -1 and all fields print as 0. Host id 0 is refused (-22); host
//!   ids above max_hosts are read anyway.
//! * `-r` reads the leader at the offset of each disk. With several disks a majority of them
//!   must hold verified leaders that agree on their first 152 bytes (else -222, fields 0).
//! * The `done` line carries 0 or the first verification failure (-223 magic or cleared, -224
//!   version, -226 lockspace, -227 resource, -229 checksum); the fields are printed either way.

use std::io;

use lease_core::names::{parse_lockspace, parse_resource};
use lease_core::ondisk::{LeaderRecord, Name, DELTA_LEASE_MAGIC, PAXOS_LEASE_MAGIC};
use lease_io::{Access, Device};
use serde_json::{json, Value};

use super::report::{leader_json, write_leader_text, LeaderKind};
use super::{
    open_device, size_flags, sizes_from_leader_fields, Console, Failure, SizeFlags, EINVAL,
    RV_GENERIC,
};
use crate::cli::ReadLeaderArgs;

const ACTION: &str = "read_leader";

/// `SANLK_LEADER_READ`: too few disks could be read.
const SANLK_LEADER_READ: i32 = -220;
/// `SANLK_LEADER_DIFF`: the disks do not agree on the leader.
const SANLK_LEADER_DIFF: i32 = -222;

/// What was read and how it verified.
struct Outcome {
    kind: LeaderKind,
    /// Where the record was read (path, byte offset), when a read happened.
    location: Option<(String, u64)>,
    /// The record, when one was read (and, for several disks, agreed on).
    leader: Option<LeaderRecord>,
    /// `Ok` or the failure to report.
    result: Result<(), Failure>,
}

impl Outcome {
    fn failed(kind: LeaderKind, failure: Failure) -> Outcome {
        Outcome {
            kind,
            location: None,
            leader: None,
            result: Err(failure),
        }
    }
}

/// Runs `direct read_leader`; returns the exit status.
pub fn run(args: &ReadLeaderArgs, console: &mut Console<'_>) -> io::Result<u8> {
    let flags = match size_flags(&args.sizes) {
        Ok(flags) => flags,
        Err(bad) => return bad.report(console, ACTION),
    };
    let outcome = match (&args.lockspace, &args.resource) {
        (Some(text), _) => read_delta(text, flags),
        (None, Some(text)) => read_paxos(text, flags),
        (None, None) => Outcome::failed(
            LeaderKind::Paxos,
            Failure::new(EINVAL, "give -s LOCKSPACE or -r RESOURCE"),
        ),
    };
    print(&outcome, console)
}

fn print(outcome: &Outcome, console: &mut Console<'_>) -> io::Result<u8> {
    let rv = outcome.result.as_ref().err().map_or(0, |f| f.rv);
    if console.json {
        let mut value = json!({
            "result": rv,
            "kind": outcome.kind.as_str(),
            "path": outcome.location.as_ref().map(|(path, _)| path.clone()),
            "offset": outcome.location.as_ref().map(|(_, offset)| *offset),
            "leader": outcome.leader.as_ref().map_or(Value::Null, leader_json),
        });
        if let Err(failure) = &outcome.result {
            value["error"] = Value::String(failure.message.clone());
        }
        console.json_line(&value)?;
    } else {
        writeln!(console.out, "read_leader done {rv}")?;
        // sanlock prints the field block even when nothing could be read (all zero then).
        let leader = outcome.leader.unwrap_or_default();
        write_leader_text(console.out, &leader, outcome.kind)?;
    }
    if let Err(failure) = &outcome.result {
        console.explain(ACTION, &failure.message)?;
        return Ok(1);
    }
    Ok(0)
}

fn read_delta(text: &str, flags: SizeFlags) -> Outcome {
    let kind = LeaderKind::Delta;
    let ls = match parse_lockspace(text) {
        Ok(ls) => ls,
        Err(e) => return Outcome::failed(kind, Failure::lease_string('s', text, &e)),
    };
    if ls.host_id == 0 {
        return Outcome::failed(
            kind,
            Failure::new(EINVAL, format!("host_id in -s {text:?} must be 1 or more")),
        );
    }
    let space = match name(&ls.name) {
        Ok(space) => space,
        Err(failure) => return Outcome::failed(kind, failure),
    };
    let device = match open_device(&ls.disk.path, Access::ReadOnly, true) {
        Ok(device) => device,
        Err(failure) => return Outcome::failed(kind, failure),
    };
    let sector_size = match flags {
        SizeFlags::Both(geometry) => u64::from(geometry.sector_size().bytes()),
        SizeFlags::Unset | SizeFlags::SectorOnly(_) => {
            match probe_sector_size(&device, &ls.disk.path, ls.disk.offset) {
                Ok(sector_size) => sector_size,
                Err(failure) => return Outcome::failed(kind, failure),
            }
        }
    };
    let slot_offset = (ls.host_id - 1)
        .checked_mul(sector_size)
        .and_then(|delta| delta.checked_add(ls.disk.offset));
    let Some(slot_offset) = slot_offset else {
        return Outcome::failed(kind, Failure::new(EINVAL, "host_id/offset out of range"));
    };
    let path = ls.disk.path.clone();
    let leader = match read_leader_at(&device, slot_offset, sector_size) {
        Ok(leader) => leader,
        Err(failure) => return Outcome::failed(kind, failure),
    };
    let result = leader.verify_delta(&space).map_err(|e| {
        Failure::new(
            e.sanlock_errno(),
            format!(
                "delta lease of host_id {} at {path} offset {slot_offset}: {e}",
                ls.host_id
            ),
        )
    });
    Outcome {
        kind,
        location: Some((path, slot_offset)),
        leader: Some(leader),
        result,
    }
}

fn read_paxos(text: &str, flags: SizeFlags) -> Outcome {
    let kind = LeaderKind::Paxos;
    let res = match parse_resource(text) {
        Ok(res) => res,
        Err(e) => return Outcome::failed(kind, Failure::lease_string('r', text, &e)),
    };
    let names = name(&res.lockspace).and_then(|space| Ok((space, name(&res.name)?)));
    let (space, resource) = match names {
        Ok(names) => names,
        Err(failure) => return Outcome::failed(kind, failure),
    };
    let sector_size = match flags {
        SizeFlags::Both(geometry) => u64::from(geometry.sector_size().bytes()),
        SizeFlags::Unset | SizeFlags::SectorOnly(_) => 0,
    };
    // Open every disk first: an unusable path fails the command, as in sanlock.
    let mut devices = Vec::with_capacity(res.disks.len());
    for disk in &res.disks {
        match open_device(&disk.path, Access::ReadOnly, false) {
            Ok(device) => devices.push(device),
            Err(failure) => return Outcome::failed(kind, failure),
        }
    }
    let copies: Vec<Copy> = res
        .disks
        .iter()
        .zip(&devices)
        .map(|(disk, device)| {
            let leader = read_leader_at(device, disk.offset, sector_size);
            let result = match &leader {
                Err(failure) => Err(failure.clone()),
                Ok(leader) => leader.verify_paxos(&space, &resource, 0).map_err(|e| {
                    Failure::new(
                        e.sanlock_errno(),
                        format!("leader at {} offset {}: {e}", disk.path, disk.offset),
                    )
                }),
            };
            Copy {
                path: disk.path.clone(),
                offset: disk.offset,
                leader: leader.ok(),
                result,
            }
        })
        .collect();
    match copies.as_slice() {
        // One disk: print what was read even when it fails verification.
        [only] => Outcome {
            kind,
            location: only.leader.map(|_| (only.path.clone(), only.offset)),
            leader: only.leader,
            result: only.result.clone(),
        },
        _ => majority(kind, &copies),
    }
}

/// One disk's leader: what was read (if the read worked) and whether it verified.
struct Copy {
    path: String,
    offset: u64,
    leader: Option<LeaderRecord>,
    result: Result<(), Failure>,
}

/// The multi-disk rule: a leader verified on a majority of disks, identical in its first 152
/// bytes on all of them. Too few readable disks is -220, no agreeing majority -222.
fn majority(kind: LeaderKind, copies: &[Copy]) -> Outcome {
    let needed = copies.len() / 2 + 1;
    let verified: Vec<(&Copy, &LeaderRecord)> = copies
        .iter()
        .filter(|copy| copy.result.is_ok())
        .filter_map(|copy| copy.leader.as_ref().map(|leader| (copy, leader)))
        .collect();
    for (copy, candidate) in &verified {
        let agreeing = verified
            .iter()
            .filter(|(_, other)| other.same_compare_prefix(candidate))
            .count();
        if agreeing >= needed {
            return Outcome {
                kind,
                location: Some((copy.path.clone(), copy.offset)),
                leader: Some(**candidate),
                result: Ok(()),
            };
        }
    }
    let readable = copies.iter().filter(|copy| copy.leader.is_some()).count();
    let details: Vec<String> = copies
        .iter()
        .map(|copy| match &copy.result {
            Ok(()) => format!("{}:{} valid", copy.path, copy.offset),
            Err(failure) => format!("{}:{}: {}", copy.path, copy.offset, failure.message),
        })
        .collect();
    let rv = if readable < needed {
        SANLK_LEADER_READ
    } else {
        SANLK_LEADER_DIFF
    };
    Outcome::failed(
        kind,
        Failure::new(
            rv,
            format!(
                "no majority of the {} disks ({needed} needed) holds the same valid leader: {}",
                copies.len(),
                details.join("; ")
            ),
        ),
    )
}

fn name(text: &str) -> Result<Name, Failure> {
    Name::new(text).map_err(|e| Failure::new(EINVAL, format!("name {text:?}: {e}")))
}

/// Reads the leader record at `offset`: one sector (`sector_size`, or the device's I/O unit
/// when 0 or smaller).
fn read_leader_at(device: &Device, offset: u64, sector_size: u64) -> Result<LeaderRecord, Failure> {
    let len = sector_size.max(u64::from(device.io_alignment()));
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    let buf = device
        .read_at(offset, len)
        .map_err(|e| Failure::device(&e))?;
    LeaderRecord::decode(&buf).map_err(|e| Failure::new(EINVAL, e.to_string()))
}

/// sanlock's size discovery for `read_leader -s`: the sector size recorded in the leader at
/// the lockspace offset (delta or paxos magic).
fn probe_sector_size(device: &Device, path: &str, offset: u64) -> Result<u64, Failure> {
    let leader = read_leader_at(device, offset, 0)?;
    let no_sizes = |why: String| {
        Failure::new(
            RV_GENERIC,
            format!("{why}; cannot tell the sector size, give -Z and -A"),
        )
    };
    if leader.magic != DELTA_LEASE_MAGIC && leader.magic != PAXOS_LEASE_MAGIC {
        return Err(no_sizes(format!(
            "no lease at {path} offset {offset} (magic {:#x})",
            leader.magic
        )));
    }
    sizes_from_leader_fields(leader.flags, leader.sector_size)
        .map(|(sector_size, _)| u64::from(sector_size))
        .ok_or_else(|| {
            no_sizes(format!(
                "the leader at {path} offset {offset} records sector size {}",
                leader.sector_size
            ))
        })
}
