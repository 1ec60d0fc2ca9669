//! `lease client format|create|delete|lookup|update|rebuild -x RINDEX [-e NAME[:OFFSET]]`:
//! the resource index through a daemon (ours or sanlock's), with `sanlock client`'s output.
//!
//! Output (stdout), as sanlock 3.8.5 prints it:
//! * `format done <rv>`, `update done <rv>`, `rebuild done <rv>`, `delete_resource done <rv>`;
//! * `create_resource done <rv>`, then on success `offset <offset>`;
//! * `lookup done <rv>`, then on success `name <name> offset <offset>` (`-` for no name).
//!
//! Arguments the wire cannot carry faithfully, or that would make sanlock's daemon write a
//! nameless entry (create or delete without a name, update without an offset), are refused
//! here with -EINVAL before connecting; the daemon checks everything else. `--json` prints
//! one object: `{"action", "result", "error" (on failure)}` plus `name`/`offset` (lookup)
//! or `offset` (create).

use std::io::{self, Read};
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use lease_core::geometry::Geometry;
use lease_core::ondisk::{Name, RindexEntry};
use lease_core::rindex::{RentryArg, RindexAction};
use lease_wire::consts as wc;
use lease_wire::{decode_reply, Disk, Header, Rentry, ReplyBody, Request, RequestBody, Rindex};
use serde_json::json;

use crate::cli::{ClientAction, ClientArgs, RindexArgs};
use crate::direct::rindex::{
    entry_json, removes, rentry_arg, rindex_arg, update_action, write_entry_line,
};
use crate::direct::{size_flags, Console, Failure, SizeFlags, EINVAL};

/// Longest wait for a reply (create and delete wait for the rindex lease and area writes).
const REPLY_TIMEOUT: Duration = Duration::from_secs(600);

/// Which client rindex action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Format,
    Create,
    Delete,
    Lookup,
    Update,
    Rebuild,
}

impl Action {
    /// The word sanlock prints before `done`.
    fn label(self) -> &'static str {
        match self {
            Action::Format => "format",
            Action::Create => "create_resource",
            Action::Delete => "delete_resource",
            Action::Lookup => "lookup",
            Action::Update => "update",
            Action::Rebuild => "rebuild",
        }
    }
}

/// Runs a rindex client action (format, create, delete, lookup, update, rebuild).
pub fn run(args: &ClientArgs, console: &mut Console<'_>) -> Result<u8> {
    let (action, rindex_args) = match &args.action {
        ClientAction::Format(a) => (Action::Format, a),
        ClientAction::Create(a) => (Action::Create, a),
        ClientAction::Delete(a) => (Action::Delete, a),
        ClientAction::Lookup(a) => (Action::Lookup, a),
        ClientAction::Update(a) => (Action::Update, a),
        ClientAction::Rebuild(a) => (Action::Rebuild, a),
        other => return Err(anyhow!("{other:?} is not a rindex action")),
    };
    let socket = crate::client::socket_path(args.run_dir.as_deref());
    run_action(action, rindex_args, &socket, console)
}

fn run_action(
    action: Action,
    args: &RindexArgs,
    socket: &Path,
    console: &mut Console<'_>,
) -> Result<u8> {
    let label = action.label();
    let flags = match size_flags(&args.sizes) {
        Ok(flags) => flags,
        Err(bad) => return Ok(bad.report(console, label)?),
    };
    let request = match request(action, args, flags) {
        Ok(request) => request,
        Err(failure) => {
            report_failure(console, action, &failure)?;
            return Ok(1);
        }
    };
    let (header, entry) = call(socket, &request)?;
    let rv = header.result();
    let entry = entry.unwrap_or_default();
    let found = RindexEntry::new(Name::from_bytes(*entry.name.raw()), entry.offset);
    if console.json {
        let mut value = json!({ "action": label, "result": rv });
        if rv < 0 {
            value["error"] = json!(describe(rv));
        } else if action == Action::Lookup {
            let entry = entry_json(&found);
            value["name"] = entry["name"].clone();
            value["offset"] = entry["offset"].clone();
        } else if action == Action::Create {
            value["offset"] = json!(found.res_offset);
        }
        writeln!(console.out, "{value}")?;
    } else {
        writeln!(console.out, "{label} done {rv}")?;
        if rv == 0 && action == Action::Lookup {
            write_entry_line(console.out, &found)?;
        }
        if rv == 0 && action == Action::Create {
            writeln!(console.out, "offset {}", found.res_offset)?;
        }
    }
    if rv < 0 {
        writeln!(console.err, "lease client {label}: {}", describe(rv))?;
    }
    Ok(u8::from(rv != 0))
}

fn report_failure(console: &mut Console<'_>, action: Action, failure: &Failure) -> io::Result<()> {
    let label = action.label();
    if console.json {
        writeln!(
            console.out,
            "{}",
            json!({ "action": label, "result": failure.rv, "error": failure.message })
        )?;
    } else {
        writeln!(console.out, "{label} done {}", failure.rv)?;
    }
    writeln!(console.err, "lease client {label}: {}", failure.message)
}

/// sanlock's rindex numbers in words, errno text for the rest.
fn describe(rv: i32) -> String {
    match rv {
        -274 => "no resource index at that offset (SANLK_RINDEX_MAGIC)".into(),
        -275 => "unsupported resource index version (SANLK_RINDEX_VERSION)".into(),
        -276 => "the resource index belongs to another lockspace (SANLK_RINDEX_LOCKSPACE)".into(),
        -277 => "the offset is not a slot of this resource index (SANLK_RINDEX_OFFSET)".into(),
        -278 => "the slot holds another name (SANLK_RINDEX_DIFF)".into(),
        -243 | -247 => format!("the rindex lease is held by another host ({rv})"),
        rv if rv < 0 && rv > -200 => io::Error::from_raw_os_error(-rv).to_string(),
        rv => format!("error {rv}"),
    }
}

/// The request, checked as far as the client can.
fn request(action: Action, args: &RindexArgs, flags: SizeFlags) -> Result<Request, Failure> {
    let rx = rindex_arg(args.rindex.as_deref())?;
    let entry = rentry_arg(args.entry.as_deref())?;
    let lockspace_name = lease_wire::Name::new(rx.lockspace.as_bytes())
        .ok_or_else(|| Failure::new(EINVAL, "lockspace name longer than 48 bytes"))?;
    let path = lease_wire::Path::new(rx.disk.path.as_bytes())
        .ok_or_else(|| Failure::new(EINVAL, "path longer than 1023 bytes"))?;
    let mut rindex = Rindex {
        flags: 0,
        max_resources: 0,
        unused: 0,
        lockspace_name,
        disk: Disk::new(path, rx.disk.offset),
    };
    let body = match action {
        Action::Format => {
            rindex.flags = match flags {
                SizeFlags::Unset => 0,
                // Sent as given: the daemon refuses half-given sizes (-1), as sanlock's does.
                SizeFlags::SectorOnly(sector) => sector_flag(sector.bytes()),
                SizeFlags::Both(geometry) => geometry_flags(geometry),
            };
            RequestBody::FormatRindex(rindex)
        }
        Action::Rebuild => RequestBody::RebuildRindex(rindex),
        Action::Lookup => RequestBody::LookupRindex {
            rindex,
            entry: wire_entry(&entry)?,
        },
        Action::Create => {
            if entry.name.is_none() || entry.offset.is_some() {
                return Err(Failure::new(EINVAL, "create takes a name only: -e NAME"));
            }
            RequestBody::CreateResource {
                rindex,
                entry: wire_entry(&entry)?,
            }
        }
        Action::Delete => {
            if entry.name.is_none() {
                return Err(Failure::new(
                    EINVAL,
                    "delete needs a name: -e NAME[:OFFSET]",
                ));
            }
            RequestBody::DeleteResource {
                rindex,
                entry: wire_entry(&entry)?,
            }
        }
        Action::Update => {
            let remove = removes(args);
            // The same checks as direct update.
            let _: RindexAction = update_action(&entry, remove)?;
            RequestBody::UpdateRindex {
                rindex,
                entry: wire_entry(&entry)?,
            }
        }
    };
    let cmd_flags = match action {
        Action::Update if removes(args) => wc::SANLK_RXUP_REM,
        Action::Update => wc::SANLK_RXUP_ADD,
        _ => 0,
    };
    Ok(Request::new(cmd_flags, 0, 0, body))
}

fn sector_flag(bytes: u32) -> u32 {
    if bytes == 512 {
        wc::SANLK_RIF_SECTOR512
    } else {
        wc::SANLK_RIF_SECTOR4K
    }
}

fn geometry_flags(geometry: Geometry) -> u32 {
    let align = match geometry.area_bytes() >> 20 {
        1 => wc::SANLK_RIF_ALIGN1M,
        2 => wc::SANLK_RIF_ALIGN2M,
        4 => wc::SANLK_RIF_ALIGN4M,
        _ => wc::SANLK_RIF_ALIGN8M,
    };
    sector_flag(geometry.sector_size().bytes()) | align
}

fn wire_entry(entry: &RentryArg) -> Result<Rentry, Failure> {
    let name = entry.name.as_deref().unwrap_or_default();
    let name = lease_wire::Name::new(name.as_bytes())
        .ok_or_else(|| Failure::new(EINVAL, "name longer than 48 bytes"))?;
    Ok(Rentry {
        name,
        offset: entry.offset.unwrap_or(0),
        flags: 0,
        unused: 0,
    })
}

/// One request and its reply on a fresh connection: the header, and the entry if any.
fn call(socket: &Path, request: &Request) -> Result<(Header, Option<Rentry>)> {
    let (mut stream, header) = crate::client::send(socket, request, REPLY_TIMEOUT)?;
    let len = (header.length as usize).saturating_sub(wc::HEADER_LEN);
    if len > wc::RENTRY_LEN {
        return Err(anyhow!("reply length {} is implausible", header.length));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).context("reply cut short")?;
    let reply =
        decode_reply(request.command(), &header, &body).map_err(|e| anyhow!("bad reply: {e}"))?;
    let entry = match reply.body {
        ReplyBody::Rentry(entry) => entry,
        _ => None,
    };
    Ok((reply.header, entry))
}
