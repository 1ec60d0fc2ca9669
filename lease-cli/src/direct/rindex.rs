//! `lease direct format|lookup|update|rebuild -x LOCKSPACE:PATH:OFFSET [-e NAME[:OFFSET]]`:
//! the resource index (format spec §6) without a daemon, with `sanlock direct`'s output.
//!
//! The index logic is `lease_core::rindex`; this module parses the arguments, opens the device
//! and runs the operation with the blocking driver. Direct mode takes no rindex lease (as in
//! sanlock): it is for setting up and repairing an index that no daemon is changing.
//!
//! Output (stdout), as sanlock 3.8.5 prints it:
//! * `format done <rv>`, `update done <rv>`, `rebuild done <rv>`;
//! * `lookup done <rv>`, then on success `name <name> offset <offset>` (`-` for no name).
//!
//! A string sanlock would misread (a name over 48 bytes, a non-numeric offset, missing
//! fields) is refused with -EINVAL before anything is opened; see `lease_core::rindex` for
//! the index-level refusals. Failures also get one sentence on stderr and exit status 1.

use std::io;
use std::time::Duration;

use lease_core::names::{parse_rindex, RindexArg};
use lease_core::ondisk::{Name, RindexEntry};
use lease_core::rindex::{
    parse_rentry, RentryArg, RindexAction, RindexOp, RindexOutput, RindexTarget,
};
use lease_core::seam::run_blocking;
use lease_io::{Access, DeviceStorage, MonotonicClock};
use serde_json::{json, Value};

use super::{
    geometry_for, open_device, size_flags, Console, Failure, SizeFlags, EINVAL, RV_GENERIC,
};
use crate::cli::RindexArgs;

/// Which direct rindex action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `format`.
    Format,
    /// `lookup`.
    Lookup,
    /// `update`.
    Update,
    /// `rebuild`.
    Rebuild,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Format => "format",
            Action::Lookup => "lookup",
            Action::Update => "update",
            Action::Rebuild => "rebuild",
        }
    }
}

/// Parsed `-x`.
pub fn rindex_arg(text: Option<&str>) -> Result<RindexArg, Failure> {
    let text =
        text.ok_or_else(|| Failure::new(EINVAL, "this action needs -x LOCKSPACE:PATH:OFFSET"))?;
    parse_rindex(text)
        .map_err(|e| Failure::new(EINVAL, format!("invalid -x argument {text:?}: {e}")))
}

/// Parsed `-e` (absent: neither name nor offset).
pub fn rentry_arg(text: Option<&str>) -> Result<RentryArg, Failure> {
    match text {
        None => Ok(RentryArg::default()),
        Some(text) => parse_rentry(text)
            .map_err(|e| Failure::new(EINVAL, format!("invalid -e argument {text:?}: {e}"))),
    }
}

/// A name already checked by the parsers.
pub fn name(text: &str) -> Result<Name, Failure> {
    Name::new(text).map_err(|e| Failure::new(EINVAL, format!("name {text:?}: {e}")))
}

/// The `-z` of update: 1 removes.
pub fn removes(args: &RindexArgs) -> bool {
    args.remove.as_deref() == Some("1")
}

/// What update asks for, checked as far as possible without the disk.
pub fn update_action(entry: &RentryArg, remove: bool) -> Result<RindexAction, Failure> {
    let Some(offset) = entry.offset else {
        return Err(Failure::new(
            EINVAL,
            "update needs the lease offset: -e NAME:OFFSET",
        ));
    };
    if remove {
        let name = entry.name.as_deref().map(name).transpose()?;
        return Ok(RindexAction::Remove { name, offset });
    }
    let Some(text) = entry.name.as_deref() else {
        return Err(Failure::new(
            EINVAL,
            "update needs a resource name: -e NAME:OFFSET (-z 1 to remove)",
        ));
    };
    Ok(RindexAction::Add {
        name: name(text)?,
        offset,
    })
}

/// Runs a direct rindex action; returns the exit status.
pub fn run(action: Action, args: &RindexArgs, console: &mut Console<'_>) -> io::Result<u8> {
    let label = action.name();
    let flags = match size_flags(&args.sizes) {
        Ok(flags) => flags,
        Err(bad) => return bad.report(console, label),
    };
    match execute(action, args, flags) {
        Ok(output) => {
            if console.json {
                console.json_line(&success_json(action, &output))?;
            } else {
                writeln!(console.out, "{label} done 0")?;
                if action == Action::Lookup {
                    write_entry_line(console.out, &output.entry)?;
                }
            }
            Ok(0)
        }
        Err(failure) => {
            if console.json {
                console.json_line(&json!({
                    "action": label,
                    "result": failure.rv,
                    "error": failure.message,
                }))?;
            } else {
                writeln!(console.out, "{label} done {}", failure.rv)?;
            }
            console.explain(label, &failure.message)?;
            Ok(1)
        }
    }
}

/// sanlock's `name <name> offset <offset>` line (`-` for an empty name).
pub fn write_entry_line(out: &mut dyn io::Write, entry: &RindexEntry) -> io::Result<()> {
    out.write_all(b"name ")?;
    if entry.name.is_empty() {
        out.write_all(b"-")?;
    } else {
        out.write_all(entry.name.trimmed())?;
    }
    writeln!(out, " offset {}", entry.res_offset)
}

/// `{"name": ..., "offset": ...}` (name `null` when empty).
pub fn entry_json(entry: &RindexEntry) -> Value {
    let name = if entry.name.is_empty() {
        Value::Null
    } else {
        Value::String(entry.name.as_str_lossy().into_owned())
    };
    json!({ "name": name, "offset": entry.res_offset })
}

fn success_json(action: Action, output: &RindexOutput) -> Value {
    let mut value = json!({ "action": action.name(), "result": 0 });
    match action {
        Action::Lookup => {
            let entry = entry_json(&output.entry);
            value["name"] = entry["name"].clone();
            value["offset"] = entry["offset"].clone();
        }
        Action::Rebuild => {
            value["entries"] = output.entries.iter().map(entry_json).collect();
        }
        Action::Format => {
            value["sector_size"] = json!(output.geometry.sector_size().bytes());
            value["align_size"] = json!(output.geometry.area_bytes());
            value["max_resources"] = json!(output.header.max_resources);
        }
        Action::Update => {}
    }
    value
}

/// Everything that can fail, in order: arguments, device, then the operation (which checks
/// the header and the request before writing).
fn execute(action: Action, args: &RindexArgs, flags: SizeFlags) -> Result<RindexOutput, Failure> {
    let rx = rindex_arg(args.rindex.as_deref())?;
    let entry = rentry_arg(args.entry.as_deref())?;
    let space = name(&rx.lockspace)?;
    let request = match action {
        Action::Format => {
            if let SizeFlags::SectorOnly(sector) = flags {
                return Err(Failure::new(
                    RV_GENERIC,
                    format!("-Z {sector} was given without -A; give both -Z and -A, or neither"),
                ));
            }
            None
        }
        Action::Lookup => Some(RindexAction::Lookup {
            name: entry.name.as_deref().map(name).transpose()?,
            offset: entry.offset,
        }),
        Action::Update => Some(update_action(&entry, removes(args))?),
        Action::Rebuild => Some(RindexAction::Rebuild),
    };
    let access = if action == Action::Lookup {
        Access::ReadOnly
    } else {
        Access::ReadWrite
    };
    let device = open_device(&rx.disk.path, access, false)?;
    let request = match request {
        Some(request) => request,
        None => RindexAction::Format {
            geometry: geometry_for(flags, &device, "")?,
            max_resources: 0,
        },
    };
    let target = RindexTarget {
        space,
        rx_offset: rx.disk.offset,
        device_sector_size: device.logical_sector_size(),
        device_size: device.size_bytes(),
        io_timeout: Duration::from_secs(10),
        area_write_timeout: Duration::from_secs(60),
    };
    let mut op = RindexOp::new(target, request);
    let mut storage = DeviceStorage::new(vec![device]);
    run_blocking(&mut op, &mut storage, &mut MonotonicClock::new()).map_err(|e| {
        let message = format!("{} at offset {}: {e}", rx.disk.path, rx.disk.offset);
        Failure::new(e.sanlock_errno(), message)
    })
}
