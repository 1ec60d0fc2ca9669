//! Replies (daemon -> client): [`Reply`], [`ReplyBody`], [`decode_reply`], [`encode_reply`],
//! [`Reply::for_request`] (how the daemon fills the reply header), and the asynchronous
//! [`EventMsg`] sent on `REG_EVENT` connections.
//!
//! Reply header (observed): magic, version 1, `cmd` = the request's (0 for `SHUTDOWN_WAIT`),
//! `cmd_flags` and `seq` echoed (both 0 for `VERSION`), `length` = 32 + body, `data` = result
//! (0 or a negative errno / `SANLK_*` code), `data2` = a command-specific value (count,
//! io_timeout, version). `REGISTER` gets no reply; `SHUTDOWN` got none either (libsanlock does
//! not wait for one).
//!
//! | request | reply body | `data2` |
//! |---|---|---|
//! | READ_LOCKSPACE | `sanlk_lockspace` (also on error) | io_timeout |
//! | GET_LOCKSPACES | count x `sanlk_lockspace` (uninitialised padding) | count |
//! | GET_HOSTS | count x `sanlk_host` | count |
//! | READ_RESOURCE | `sanlk_resource`, 128 bytes, no disks though `num_disks` = 1 | |
//! | READ_RESOURCE_OWNERS | `sanlk_resource` (no disks), count x `sanlk_host` | count |
//! | INQUIRE | state string `"LS:RES:path:off:lver LS2:..."` + NUL | resource count |
//! | GET_LVB | the LVB (a whole 512-byte sector observed) | |
//! | UPDATE/LOOKUP_RINDEX, CREATE/DELETE_RESOURCE | `sanlk_rentry` | |
//! | STATUS, HOST_STATUS, RENEWAL | `length` 32, then [`crate::state`] records until EOF | |
//! | LOG_DUMP | `length` 32, `data` = text length, then the text until EOF | |
//! | VERSION | none (`data2` = daemon version, e.g. 0x03080500) | version |
//! | ALIGN | none (`data` = align size in bytes) | |
//! | all others | none | 0 |

use crate::codec::{put_u64, Reader};
use crate::consts::{
    EVENT_MSG_CMD, EVENT_MSG_LEN, HEADER_LEN, HOST_LEN, LOCKSPACE_LEN, SM_MAGIC, SM_PROTO,
};
use crate::error::WireError;
use crate::header::{Command, Header};
use crate::state::{decode_states, encode_states, StateRecord};
use crate::structs::{Host, HostEvent, Lockspace, Rentry, Resource, WireStruct};

/// How a reply's end is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyFraming {
    /// No reply is sent (`REGISTER`).
    NoReply,
    /// The reply is `header.length` bytes.
    Length,
    /// The header says 32; records or text follow until the daemon closes the connection
    /// (`STATUS`, `HOST_STATUS`, `RENEWAL`, `LOG_DUMP`).
    UntilClose,
}

/// How the reply to `cmd` is framed.
pub fn reply_framing(cmd: Command) -> ReplyFraming {
    match cmd {
        Command::Register => ReplyFraming::NoReply,
        Command::Status | Command::HostStatus | Command::Renewal | Command::LogDump => {
            ReplyFraming::UntilClose
        }
        _ => ReplyFraming::Length,
    }
}

/// A reply: the header (verbatim) and the typed body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The header.
    pub header: Header,
    /// The bytes after it.
    pub body: ReplyBody,
}

/// `READ_RESOURCE_OWNERS` reply body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceOwners {
    /// The resource as read (lver set; `SANLK_RES_SHARED` if shared owners exist).
    pub resource: Resource,
    /// The owners.
    pub owners: Vec<Host>,
}

/// The typed body of a reply. Which variant is used depends only on the request's command
/// (see [`decode_reply`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyBody {
    /// Header only.
    Empty,
    /// `READ_LOCKSPACE` (`None` when the reply has no body).
    Lockspace(Option<Lockspace>),
    /// `GET_LOCKSPACES`.
    Lockspaces(Vec<Lockspace>),
    /// `GET_HOSTS`.
    Hosts(Vec<Host>),
    /// `READ_RESOURCE` (`None` when the reply has no body).
    Resource(Option<Resource>),
    /// `READ_RESOURCE_OWNERS` (`None` when the reply has no body).
    ResourceOwners(Option<ResourceOwners>),
    /// `INQUIRE`: the state string, trailing NUL included (see [`crate::res_string`]).
    Inquire(Vec<u8>),
    /// `GET_LVB`.
    Lvb(Vec<u8>),
    /// `UPDATE_RINDEX`, `LOOKUP_RINDEX`, `CREATE_RESOURCE`, `DELETE_RESOURCE` (`None` when
    /// the reply has no body).
    Rentry(Option<Rentry>),
    /// `STATUS`, `HOST_STATUS`, `RENEWAL`.
    States(Vec<StateRecord>),
    /// `LOG_DUMP`.
    LogDump(Vec<u8>),
}

impl ReplyBody {
    /// Appends the body's bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ReplyBody::Empty
            | ReplyBody::Lockspace(None)
            | ReplyBody::Resource(None)
            | ReplyBody::ResourceOwners(None)
            | ReplyBody::Rentry(None) => {}
            ReplyBody::Lockspace(Some(ls)) => ls.encode(out),
            ReplyBody::Lockspaces(v) => v.iter().for_each(|ls| ls.encode(out)),
            ReplyBody::Hosts(v) => v.iter().for_each(|h| h.encode(out)),
            ReplyBody::Resource(Some(r)) => r.encode(out),
            ReplyBody::ResourceOwners(Some(o)) => {
                o.resource.encode(out);
                o.owners.iter().for_each(|h| h.encode(out));
            }
            ReplyBody::Inquire(b) | ReplyBody::Lvb(b) | ReplyBody::LogDump(b) => {
                out.extend_from_slice(b)
            }
            ReplyBody::Rentry(Some(e)) => e.encode(out),
            ReplyBody::States(s) => encode_states(s, out),
        }
    }

    /// The body's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }
}

impl Reply {
    /// The reply the daemon sends to a request with header `req`: result in `data`,
    /// `data2` as given, `cmd`/`cmd_flags`/`seq` echoed except where sanlock does not (see the
    /// module docs), `length` = 32 + body, or 32 for [`ReplyFraming::UntilClose`] replies.
    /// For a [`ReplyBody::LogDump`] `data` is the text length and `result` is ignored.
    pub fn for_request(req: &Header, result: i32, data2: u32, body: ReplyBody) -> Reply {
        let cmd = Command::from_u32(req.cmd).ok();
        let body_len = body.to_bytes().len();
        let streamed = cmd.map(reply_framing) == Some(ReplyFraming::UntilClose);
        let version = cmd == Some(Command::Version);
        let data = match &body {
            ReplyBody::LogDump(text) => u32::try_from(text.len()).unwrap_or(u32::MAX),
            _ => result as u32,
        };
        let header = Header {
            magic: SM_MAGIC,
            version: SM_PROTO,
            cmd: if cmd == Some(Command::ShutdownWait) {
                0
            } else {
                req.cmd
            },
            cmd_flags: if version { 0 } else { req.cmd_flags },
            length: if streamed {
                HEADER_LEN as u32
            } else {
                u32::try_from(HEADER_LEN + body_len).unwrap_or(u32::MAX)
            },
            seq: if version { 0 } else { req.seq },
            data,
            data2,
        };
        Reply { header, body }
    }

    /// The message bytes.
    pub fn encode(&self) -> Vec<u8> {
        encode_reply(self)
    }
}

/// The message bytes of `reply`: its header verbatim, then its body.
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER_LEN + 64);
    v.extend_from_slice(&reply.header.encode());
    reply.body.encode(&mut v);
    v
}

/// Decodes the reply to a `cmd` request from its header and body. For
/// [`ReplyFraming::Length`] replies `body` must be exactly `header.length - 32` bytes; for
/// [`ReplyFraming::UntilClose`] replies it is everything up to EOF.
pub fn decode_reply(cmd: Command, header: &Header, body: &[u8]) -> Result<Reply, WireError> {
    header.check_magic()?;
    if reply_framing(cmd) == ReplyFraming::Length {
        let length = header.length as usize;
        if length < HEADER_LEN {
            return Err(WireError::BadReplyLength {
                length: header.length,
            });
        }
        let want = length - HEADER_LEN;
        if body.len() < want {
            return Err(WireError::Truncated {
                needed: length,
                got: HEADER_LEN + body.len(),
            });
        }
        if body.len() > want {
            return Err(WireError::TrailingBytes {
                expected: length,
                got: HEADER_LEN + body.len(),
            });
        }
    }
    let b = decode_body(cmd, body)?;
    Ok(Reply {
        header: *header,
        body: b,
    })
}

fn decode_body(cmd: Command, body: &[u8]) -> Result<ReplyBody, WireError> {
    let r = &mut Reader::new(body, HEADER_LEN);
    let b = match cmd {
        Command::ReadLockspace => ReplyBody::Lockspace(optional(r, Lockspace::read)?),
        Command::GetLockspaces => ReplyBody::Lockspaces(array(r, LOCKSPACE_LEN, Lockspace::read)?),
        Command::GetHosts => ReplyBody::Hosts(array(r, HOST_LEN, Host::read)?),
        Command::ReadResource => ReplyBody::Resource(optional(r, Resource::read)?),
        Command::ReadResourceOwners => {
            if r.remaining() == 0 {
                ReplyBody::ResourceOwners(None)
            } else {
                let resource = Resource::read(r)?;
                let owners = array(r, HOST_LEN, Host::read)?;
                ReplyBody::ResourceOwners(Some(ResourceOwners { resource, owners }))
            }
        }
        Command::Inquire => ReplyBody::Inquire(r.take(r.remaining())?.to_vec()),
        Command::GetLvb => ReplyBody::Lvb(r.take(r.remaining())?.to_vec()),
        Command::LogDump => ReplyBody::LogDump(r.take(r.remaining())?.to_vec()),
        Command::UpdateRindex
        | Command::LookupRindex
        | Command::CreateResource
        | Command::DeleteResource => ReplyBody::Rentry(optional(r, Rentry::read)?),
        Command::Status | Command::HostStatus | Command::Renewal => {
            ReplyBody::States(decode_states(r.take(r.remaining())?).map_err(|e| shift(e, 32))?)
        }
        _ => ReplyBody::Empty,
    };
    if r.remaining() != 0 {
        return Err(WireError::TrailingBytes {
            expected: HEADER_LEN + r.pos(),
            got: HEADER_LEN + body.len(),
        });
    }
    Ok(b)
}

/// `None` for an empty body, else one struct.
fn optional<T>(
    r: &mut Reader<'_>,
    read: fn(&mut Reader<'_>) -> Result<T, WireError>,
) -> Result<Option<T>, WireError> {
    if r.remaining() == 0 {
        return Ok(None);
    }
    read(r).map(Some)
}

/// All remaining bytes as `len`-byte structs (a partial last struct is `Truncated`).
fn array<T>(
    r: &mut Reader<'_>,
    len: usize,
    read: fn(&mut Reader<'_>) -> Result<T, WireError>,
) -> Result<Vec<T>, WireError> {
    let mut v = Vec::with_capacity(r.remaining() / len);
    while r.remaining() > 0 {
        v.push(read(r)?);
    }
    Ok(v)
}

/// Re-bases a `Truncated` from a sub-decoder onto whole-message counts.
fn shift(e: WireError, by: usize) -> WireError {
    match e {
        WireError::Truncated { needed, got } => WireError::Truncated {
            needed: needed + by,
            got: got + by,
        },
        e => e,
    }
}

/// The message the daemon sends on a `REG_EVENT` connection when another host sets an event
/// for us (80 bytes: header with `cmd` 1 and `length` 80, `sanlk_host_event`,
/// `from_host_id`, `from_generation`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventMsg {
    /// The header.
    pub header: Header,
    /// Our host_id and generation, the event and its data.
    pub event: HostEvent,
    /// host_id of the sender.
    pub from_host_id: u64,
    /// Generation of the sender.
    pub from_generation: u64,
}

impl EventMsg {
    /// Encoded size.
    pub const LEN: usize = EVENT_MSG_LEN;

    /// An event message with the header the daemon uses.
    pub fn new(event: HostEvent, from_host_id: u64, from_generation: u64) -> Self {
        EventMsg {
            header: Header {
                magic: SM_MAGIC,
                version: SM_PROTO,
                cmd: EVENT_MSG_CMD,
                cmd_flags: 0,
                length: EVENT_MSG_LEN as u32,
                seq: 0,
                data: 0,
                data2: 0,
            },
            event,
            from_host_id,
            from_generation,
        }
    }

    /// The 80 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(EVENT_MSG_LEN);
        v.extend_from_slice(&self.header.encode());
        self.event.encode(&mut v);
        put_u64(&mut v, self.from_host_id);
        put_u64(&mut v, self.from_generation);
        v
    }

    /// Reads one event message from the start of `bytes` (magic checked; `cmd` and `length`
    /// are kept as received).
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let header = Header::decode(bytes)?;
        header.check_magic()?;
        let r = &mut Reader::new(&bytes[HEADER_LEN..], HEADER_LEN);
        Ok(EventMsg {
            header,
            event: HostEvent::read(r)?,
            from_host_id: r.u64()?,
            from_generation: r.u64()?,
        })
    }
}
