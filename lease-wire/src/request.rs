//! Requests (client -> daemon): [`Request`], [`RequestBody`], [`decode_request`],
//! [`next_request`] (stream framing) and [`encode_request`].
//!
//! A request is the header followed by the structs its command needs. The daemon reads
//! exactly those structs, sized by the command, by `data` (resource counts) and by each
//! resource's `num_disks`; it never reads `header.length` bytes (libsanlock sends wrong
//! lengths for `HOST_STATUS`, `RENEWAL` and `LOOKUP_RINDEX`), except that `SET_LVB`'s LVB
//! length is `header.length - 160`. This module frames the same way.
//!
//! | cmd | body after the header | header fields used |
//! |---|---|---|
//! | REGISTER, SHUTDOWN, STATUS, LOG_DUMP, GET_LOCKSPACES, VERSION, SHUTDOWN_WAIT | none | SHUTDOWN(_WAIT): `data` = force |
//! | INQUIRE, RESTRICT | none | `data2` = pid (-1: this connection); RESTRICT: flags |
//! | ADD/REM/INQ_LOCKSPACE, EXAMINE_LOCKSPACE, HOST_STATUS, READ/WRITE_LOCKSPACE, GET_HOSTS, END_EVENT, SET_CONFIG, RENEWAL | `sanlk_lockspace` | ADD: `data` = io_timeout, flags `SANLK_ADD_ASYNC`; REM: flags `SANLK_REM_*`; INQ: flags `SANLK_INQ_WAIT`; WRITE: `data` = max_hosts (\*), `data2` = io_timeout; SET_CONFIG: `data` = `SANLK_CONFIG_*` |
//! | REG_EVENT, SET_EVENT | `sanlk_lockspace`, `sanlk_host_event` | flags `SANLK_SETEV_*` |
//! | ACQUIRE | `data` x (`sanlk_resource` + `num_disks` x `sanlk_disk`), `sanlk_options` | `data` = count (<= 8), `data2` = pid, flags `SANLK_ACQUIRE_*` |
//! | RELEASE | `data` x `sanlk_resource` (128 bytes each, no disks); nothing with `SANLK_REL_ALL` | `data` = count, `data2` = pid |
//! | CONVERT, GET_LVB, EXAMINE_RESOURCE | one `sanlk_resource` (no disks) | CONVERT: `data2` = pid |
//! | SET_LVB | `sanlk_resource` (no disks), then `length - 160` LVB bytes | |
//! | REQUEST, WRITE_RESOURCE, READ_RESOURCE, READ_RESOURCE_OWNERS | `sanlk_resource` + disks | REQUEST: `data` = force mode, flags `SANLK_REQUEST_NEXT_LVER`; WRITE: flags `SANLK_WRITE_CLEAR`, `data` = max_hosts, `data2` = num_hosts (\*) |
//! | ALIGN | `sanlk_disk` | |
//! | KILLPATH | `path[128]`, `args[128]` | `data2` = pid, flags `SANLK_KILLPATH_PID` |
//! | FORMAT_RINDEX, REBUILD_RINDEX | `sanlk_rindex` | |
//! | UPDATE/LOOKUP_RINDEX, CREATE/DELETE_RESOURCE | `sanlk_rindex`, `sanlk_rentry` | UPDATE: flags `SANLK_RXUP_*`; CREATE: `data` = max_hosts, `data2` = num_hosts (\*) |
//!
//! (\*) inferred from the API's arguments; the captures only saw 0 there.

use crate::codec::Reader;
use crate::consts::{
    HEADER_LEN, KILLPATH_LEN, MAX_LVB_LEN, MAX_RESOURCES, RESOURCE_LEN, SANLK_REL_ALL,
};
use crate::error::WireError;
use crate::fixed::HelperStr;
use crate::header::{Command, Header};
use crate::structs::{
    Disk, HostEvent, Lockspace, Options, Rentry, Resource, ResourceWithDisks, Rindex, WireStruct,
};

/// A request: its header (kept verbatim, including `length`, `seq`, `version`) and its typed
/// body. The meaning of `cmd_flags`, `data` and `data2` per command is in the module table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The header as received (or as built by [`Request::new`]).
    pub header: Header,
    /// The structs after the header.
    pub body: RequestBody,
}

/// The typed body of each command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestBody {
    /// `REGISTER`.
    Register,
    /// `ADD_LOCKSPACE`.
    AddLockspace(Lockspace),
    /// `REM_LOCKSPACE`.
    RemLockspace(Lockspace),
    /// `SHUTDOWN`.
    Shutdown,
    /// `STATUS`.
    Status,
    /// `LOG_DUMP`.
    LogDump,
    /// `ACQUIRE`.
    Acquire {
        /// The leases, each with its disks.
        resources: Vec<ResourceWithDisks>,
        /// Always present (zeroed by libsanlock when the caller gives none).
        options: Options,
    },
    /// `RELEASE` (empty with `SANLK_REL_ALL`: the daemon does not read the resources).
    Release {
        /// The leases (128-byte structs; `num_disks` is not followed by disks).
        resources: Vec<Resource>,
    },
    /// `INQUIRE`.
    Inquire,
    /// `RESTRICT`.
    Restrict,
    /// `REQUEST`.
    Request(ResourceWithDisks),
    /// `ALIGN`.
    Align(Disk),
    /// `EXAMINE_LOCKSPACE`.
    ExamineLockspace(Lockspace),
    /// `EXAMINE_RESOURCE`.
    ExamineResource(Resource),
    /// `HOST_STATUS`.
    HostStatus(Lockspace),
    /// `INQ_LOCKSPACE`.
    InqLockspace(Lockspace),
    /// `KILLPATH`.
    Killpath {
        /// Program (NUL not checked by sanlock).
        path: HelperStr,
        /// Arguments, space separated, escaped like paths (`\ `).
        args: HelperStr,
    },
    /// `WRITE_LOCKSPACE`.
    WriteLockspace(Lockspace),
    /// `WRITE_RESOURCE`.
    WriteResource(ResourceWithDisks),
    /// `READ_LOCKSPACE`.
    ReadLockspace(Lockspace),
    /// `READ_RESOURCE`.
    ReadResource(ResourceWithDisks),
    /// `GET_LOCKSPACES`.
    GetLockspaces,
    /// `GET_HOSTS` (`host_id` 0: all hosts).
    GetHosts(Lockspace),
    /// `READ_RESOURCE_OWNERS`.
    ReadResourceOwners(ResourceWithDisks),
    /// `SET_LVB`.
    SetLvb {
        /// The lease (no disks).
        resource: Resource,
        /// The value, `header.length - 160` bytes (at most [`MAX_LVB_LEN`]).
        lvb: Vec<u8>,
    },
    /// `GET_LVB`.
    GetLvb(Resource),
    /// `CONVERT`.
    Convert(Resource),
    /// `VERSION`.
    Version,
    /// `SHUTDOWN_WAIT`.
    ShutdownWait,
    /// `REG_EVENT` (the event struct is sent but unused).
    RegEvent {
        /// Lockspace (name only).
        lockspace: Lockspace,
        /// Unused by the daemon.
        event: HostEvent,
    },
    /// `END_EVENT`.
    EndEvent(Lockspace),
    /// `SET_EVENT`.
    SetEvent {
        /// Lockspace (name only).
        lockspace: Lockspace,
        /// Target host, generation, event and data.
        event: HostEvent,
    },
    /// `SET_CONFIG`.
    SetConfig(Lockspace),
    /// `RENEWAL`.
    Renewal(Lockspace),
    /// `FORMAT_RINDEX`.
    FormatRindex(Rindex),
    /// `UPDATE_RINDEX`.
    UpdateRindex {
        /// The index.
        rindex: Rindex,
        /// The entry to add or remove.
        entry: Rentry,
    },
    /// `LOOKUP_RINDEX`.
    LookupRindex {
        /// The index.
        rindex: Rindex,
        /// Name and/or offset to look up.
        entry: Rentry,
    },
    /// `CREATE_RESOURCE`.
    CreateResource {
        /// The index.
        rindex: Rindex,
        /// Name of the new resource.
        entry: Rentry,
    },
    /// `DELETE_RESOURCE`.
    DeleteResource {
        /// The index.
        rindex: Rindex,
        /// Name of the resource.
        entry: Rentry,
    },
    /// `REBUILD_RINDEX`.
    RebuildRindex(Rindex),
}

impl RequestBody {
    /// The command this body belongs to.
    pub fn command(&self) -> Command {
        use RequestBody as B;
        match self {
            B::Register => Command::Register,
            B::AddLockspace(_) => Command::AddLockspace,
            B::RemLockspace(_) => Command::RemLockspace,
            B::Shutdown => Command::Shutdown,
            B::Status => Command::Status,
            B::LogDump => Command::LogDump,
            B::Acquire { .. } => Command::Acquire,
            B::Release { .. } => Command::Release,
            B::Inquire => Command::Inquire,
            B::Restrict => Command::Restrict,
            B::Request(_) => Command::Request,
            B::Align(_) => Command::Align,
            B::ExamineLockspace(_) => Command::ExamineLockspace,
            B::ExamineResource(_) => Command::ExamineResource,
            B::HostStatus(_) => Command::HostStatus,
            B::InqLockspace(_) => Command::InqLockspace,
            B::Killpath { .. } => Command::Killpath,
            B::WriteLockspace(_) => Command::WriteLockspace,
            B::WriteResource(_) => Command::WriteResource,
            B::ReadLockspace(_) => Command::ReadLockspace,
            B::ReadResource(_) => Command::ReadResource,
            B::GetLockspaces => Command::GetLockspaces,
            B::GetHosts(_) => Command::GetHosts,
            B::ReadResourceOwners(_) => Command::ReadResourceOwners,
            B::SetLvb { .. } => Command::SetLvb,
            B::GetLvb(_) => Command::GetLvb,
            B::Convert(_) => Command::Convert,
            B::Version => Command::Version,
            B::ShutdownWait => Command::ShutdownWait,
            B::RegEvent { .. } => Command::RegEvent,
            B::EndEvent(_) => Command::EndEvent,
            B::SetEvent { .. } => Command::SetEvent,
            B::SetConfig(_) => Command::SetConfig,
            B::Renewal(_) => Command::Renewal,
            B::FormatRindex(_) => Command::FormatRindex,
            B::UpdateRindex { .. } => Command::UpdateRindex,
            B::LookupRindex { .. } => Command::LookupRindex,
            B::CreateResource { .. } => Command::CreateResource,
            B::DeleteResource { .. } => Command::DeleteResource,
            B::RebuildRindex(_) => Command::RebuildRindex,
        }
    }

    /// Appends the body's bytes (exactly what [`decode_request`] consumes for it, except a
    /// `Release` with `SANLK_REL_ALL`, whose resources the daemon does not read).
    pub fn encode(&self, out: &mut Vec<u8>) {
        use RequestBody as B;
        match self {
            B::Register
            | B::Shutdown
            | B::Status
            | B::LogDump
            | B::Inquire
            | B::Restrict
            | B::GetLockspaces
            | B::Version
            | B::ShutdownWait => {}
            B::AddLockspace(ls)
            | B::RemLockspace(ls)
            | B::ExamineLockspace(ls)
            | B::HostStatus(ls)
            | B::InqLockspace(ls)
            | B::WriteLockspace(ls)
            | B::ReadLockspace(ls)
            | B::GetHosts(ls)
            | B::EndEvent(ls)
            | B::SetConfig(ls)
            | B::Renewal(ls) => ls.encode(out),
            B::Acquire { resources, options } => {
                for r in resources {
                    r.encode(out);
                }
                options.encode(out);
            }
            B::Release { resources } => {
                for r in resources {
                    r.encode(out);
                }
            }
            B::Request(r) | B::WriteResource(r) | B::ReadResource(r) | B::ReadResourceOwners(r) => {
                r.encode(out)
            }
            B::Align(d) => d.encode(out),
            B::ExamineResource(r) | B::GetLvb(r) | B::Convert(r) => r.encode(out),
            B::Killpath { path, args } => {
                out.extend_from_slice(path.raw());
                out.extend_from_slice(args.raw());
            }
            B::SetLvb { resource, lvb } => {
                resource.encode(out);
                out.extend_from_slice(lvb);
            }
            B::RegEvent { lockspace, event } | B::SetEvent { lockspace, event } => {
                lockspace.encode(out);
                event.encode(out);
            }
            B::FormatRindex(rx) | B::RebuildRindex(rx) => rx.encode(out),
            B::UpdateRindex { rindex, entry }
            | B::LookupRindex { rindex, entry }
            | B::CreateResource { rindex, entry }
            | B::DeleteResource { rindex, entry } => {
                rindex.encode(out);
                entry.encode(out);
            }
        }
    }

    /// The body's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }
}

impl Request {
    /// A request as libsanlock builds it: magic, version 1, seq 0, `cmd` from the body and
    /// `length` = 32 + body (libsanlock itself deviates for `HOST_STATUS`, `RENEWAL` and
    /// `LOOKUP_RINDEX`; the daemon ignores `length` for them).
    pub fn new(cmd_flags: u32, data: u32, data2: u32, body: RequestBody) -> Self {
        let len = HEADER_LEN + body.to_bytes().len();
        let header = Header::request(
            body.command(),
            cmd_flags,
            u32::try_from(len).unwrap_or(u32::MAX),
            data,
            data2,
        );
        Request { header, body }
    }

    /// The command.
    pub fn command(&self) -> Command {
        self.body.command()
    }

    /// `data2` as a pid for commands that name one (`ACQUIRE`, `RELEASE`, `INQUIRE`,
    /// `CONVERT`, `RESTRICT`, `KILLPATH`); -1 means the registered connection itself.
    pub fn pid(&self) -> Option<i32> {
        match self.command() {
            Command::Acquire
            | Command::Release
            | Command::Inquire
            | Command::Convert
            | Command::Restrict
            | Command::Killpath => Some(self.header.pid()),
            _ => None,
        }
    }

    /// The message bytes: the header verbatim, then the body.
    pub fn encode(&self) -> Vec<u8> {
        encode_request(self)
    }
}

/// The message bytes of `req`: its header verbatim (so `length` is whatever it says), then
/// its body.
pub fn encode_request(req: &Request) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER_LEN + 1104);
    v.extend_from_slice(&req.header.encode());
    req.body.encode(&mut v);
    v
}

/// Decodes a request from its header and exactly its body bytes.
///
/// Errors: [`WireError::BadMagic`], [`WireError::UnknownCommand`], the command-specific
/// checks ([`WireError::TooManyResources`], [`WireError::BadNumDisks`],
/// [`WireError::PathNotTerminated`], [`WireError::LvbTooLarge`],
/// [`WireError::LvbLengthBelowResource`]), [`WireError::Truncated`] if `body` is shorter than
/// the command needs and [`WireError::TrailingBytes`] if it is longer.
pub fn decode_request(header: &Header, body: &[u8]) -> Result<Request, WireError> {
    header.check_magic()?;
    let cmd = header.command()?;
    let (b, used) = parse_body(header, cmd, body)?;
    if used != body.len() {
        return Err(WireError::TrailingBytes {
            expected: HEADER_LEN + used,
            got: HEADER_LEN + body.len(),
        });
    }
    Ok(Request {
        header: *header,
        body: b,
    })
}

/// Frames the next request at the start of `buf` (a connection's unread bytes), the way the
/// daemon reads them.
///
/// * `Ok(None)`: more bytes are needed (never more than [`crate::consts::MAX_REQUEST_LEN`] in
///   total).
/// * `Ok(Some((request, n)))`: the first `n` bytes are one request.
/// * `Err(e)`: the message is bad. [`WireError::BadMagic`] and [`WireError::UnknownCommand`]
///   concern exactly the first 32 bytes (sanlock drops them and reads on, sending no reply);
///   after the other errors the length of the bad message is unknown (sanlock replies
///   [`WireError::reply_result`] and reads on from wherever it stopped).
pub fn next_request(buf: &[u8]) -> Result<Option<(Request, usize)>, WireError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let header = Header::decode(buf)?;
    header.check_magic()?;
    let cmd = header.command()?;
    match parse_body(&header, cmd, &buf[HEADER_LEN..]) {
        Ok((body, used)) => Ok(Some((Request { header, body }, HEADER_LEN + used))),
        Err(WireError::Truncated { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads the body of `cmd` from the start of `body`; returns it and the bytes consumed.
fn parse_body(h: &Header, cmd: Command, body: &[u8]) -> Result<(RequestBody, usize), WireError> {
    use RequestBody as B;
    let r = &mut Reader::new(body, HEADER_LEN);
    let b = match cmd {
        Command::Register => B::Register,
        Command::Shutdown => B::Shutdown,
        Command::Status => B::Status,
        Command::LogDump => B::LogDump,
        Command::Inquire => B::Inquire,
        Command::Restrict => B::Restrict,
        Command::GetLockspaces => B::GetLockspaces,
        Command::Version => B::Version,
        Command::ShutdownWait => B::ShutdownWait,
        Command::AddLockspace => B::AddLockspace(Lockspace::read(r)?),
        Command::RemLockspace => B::RemLockspace(Lockspace::read(r)?),
        Command::ExamineLockspace => B::ExamineLockspace(Lockspace::read(r)?),
        Command::HostStatus => B::HostStatus(Lockspace::read(r)?),
        Command::InqLockspace => B::InqLockspace(Lockspace::read(r)?),
        Command::WriteLockspace => B::WriteLockspace(Lockspace::read(r)?),
        Command::ReadLockspace => B::ReadLockspace(Lockspace::read(r)?),
        Command::GetHosts => B::GetHosts(Lockspace::read(r)?),
        Command::EndEvent => B::EndEvent(Lockspace::read(r)?),
        Command::SetConfig => B::SetConfig(Lockspace::read(r)?),
        Command::Renewal => B::Renewal(Lockspace::read(r)?),
        Command::Acquire => {
            let count = check_count(h.data)?;
            let mut resources = Vec::with_capacity(count);
            for _ in 0..count {
                resources.push(ResourceWithDisks::read(r, true)?);
            }
            let options = Options::read(r)?;
            B::Acquire { resources, options }
        }
        Command::Release => {
            let mut resources = Vec::new();
            if h.cmd_flags & SANLK_REL_ALL == 0 {
                let count = check_count(h.data)?;
                resources.reserve(count);
                for _ in 0..count {
                    resources.push(Resource::read(r)?);
                }
            }
            B::Release { resources }
        }
        Command::Request => B::Request(ResourceWithDisks::read(r, true)?),
        Command::WriteResource => B::WriteResource(ResourceWithDisks::read(r, true)?),
        Command::ReadResource => B::ReadResource(ResourceWithDisks::read(r, true)?),
        Command::ReadResourceOwners => B::ReadResourceOwners(ResourceWithDisks::read(r, true)?),
        Command::Align => B::Align(Disk::read(r)?),
        Command::ExamineResource => B::ExamineResource(Resource::read(r)?),
        Command::GetLvb => B::GetLvb(Resource::read(r)?),
        Command::Convert => B::Convert(Resource::read(r)?),
        Command::Killpath => {
            let raw = r.take(KILLPATH_LEN)?;
            let mut path = HelperStr::zeroed();
            let mut args = HelperStr::zeroed();
            path.0.copy_from_slice(&raw[..HelperStr::LEN]);
            args.0.copy_from_slice(&raw[HelperStr::LEN..]);
            B::Killpath { path, args }
        }
        Command::SetLvb => {
            let min = HEADER_LEN + RESOURCE_LEN;
            let length = h.length as usize;
            if length < min {
                return Err(WireError::LvbLengthBelowResource { length: h.length });
            }
            let len = length - min;
            if len > MAX_LVB_LEN {
                return Err(WireError::LvbTooLarge { len });
            }
            let resource = Resource::read(r)?;
            let lvb = r.take(len)?.to_vec();
            B::SetLvb { resource, lvb }
        }
        Command::RegEvent => B::RegEvent {
            lockspace: Lockspace::read(r)?,
            event: HostEvent::read(r)?,
        },
        Command::SetEvent => B::SetEvent {
            lockspace: Lockspace::read(r)?,
            event: HostEvent::read(r)?,
        },
        Command::FormatRindex => B::FormatRindex(Rindex::read(r)?),
        Command::RebuildRindex => B::RebuildRindex(Rindex::read(r)?),
        Command::UpdateRindex => B::UpdateRindex {
            rindex: Rindex::read(r)?,
            entry: Rentry::read(r)?,
        },
        Command::LookupRindex => B::LookupRindex {
            rindex: Rindex::read(r)?,
            entry: Rentry::read(r)?,
        },
        Command::CreateResource => B::CreateResource {
            rindex: Rindex::read(r)?,
            entry: Rentry::read(r)?,
        },
        Command::DeleteResource => B::DeleteResource {
            rindex: Rindex::read(r)?,
            entry: Rentry::read(r)?,
        },
    };
    debug_assert!(r.remaining() <= body.len());
    Ok((b, r.pos()))
}

/// A resource count from `data`, bounded by [`MAX_RESOURCES`].
fn check_count(count: u32) -> Result<usize, WireError> {
    if count > MAX_RESOURCES {
        return Err(WireError::TooManyResources {
            count,
            max: MAX_RESOURCES,
        });
    }
    Ok(count as usize)
}
