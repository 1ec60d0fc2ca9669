//! The `sanlk_state` records streamed by `STATUS`, `HOST_STATUS` and `RENEWAL` replies.
//!
//! Those replies are a header with `length` 32, then records until the daemon closes the
//! connection. A record is an 80-byte [`State`], `str_len` bytes of text (`key=value`
//! pairs, NUL-terminated), and for two record types a struct after the text:
//!
//! ```text
//! State (80 bytes)
//!   0  type    u32   SANLK_STATE_DAEMON 1 | CLIENT 2 | LOCKSPACE 3 | RESOURCE 4 | HOST 5 | RENEWAL 6
//!   4  flags   u32
//!   8  data32  u32   CLIENT/RESOURCE: pid; HOST: host_id
//!  12  (pad)   u32
//!  16  data64  u64   LOCKSPACE: space id; RESOURCE: lver; HOST/RENEWAL: timestamp
//!  24  name    [48]  DAEMON: host name; CLIENT: client name; LOCKSPACE/RESOURCE: its name
//!  72  str_len u32
//!  76  (pad)   u32
//! then str_len bytes of text
//! then LOCKSPACE: sanlk_lockspace (1104); RESOURCE: sanlk_resource + num_disks sanlk_disk
//! ```
//!
//! (Observed in `tests/golden/status`, `host_status`, `renewal`; the type numbers are the
//! daemon's, named in [`crate::consts`].)

use crate::codec::{put_u32, put_u64, Reader};
use crate::consts::{SANLK_STATE_LOCKSPACE, SANLK_STATE_RESOURCE, STATE_LEN};
use crate::error::WireError;
use crate::fixed::Name;
use crate::structs::{Lockspace, ResourceWithDisks, WireStruct};

/// The 80-byte record header.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct State {
    /// `SANLK_STATE_*`.
    pub kind: u32,
    /// Flags.
    pub flags: u32,
    /// Type-specific (pid, host_id).
    pub data32: u32,
    /// C padding.
    pub pad: u32,
    /// Type-specific (lver, timestamp, space id).
    pub data64: u64,
    /// Type-specific name.
    pub name: Name,
    /// Length of the text that follows.
    pub str_len: u32,
    /// C padding.
    pub pad2: u32,
}

impl WireStruct for State {
    const LEN: usize = STATE_LEN;
    fn encode(&self, out: &mut Vec<u8>) {
        put_u32(out, self.kind);
        put_u32(out, self.flags);
        put_u32(out, self.data32);
        put_u32(out, self.pad);
        put_u64(out, self.data64);
        out.extend_from_slice(self.name.raw());
        put_u32(out, self.str_len);
        put_u32(out, self.pad2);
    }
    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        Self::read(&mut Reader::new(bytes, 0))
    }
}

impl State {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        r.need(<Self as WireStruct>::LEN)?;
        Ok(State {
            kind: r.u32()?,
            flags: r.u32()?,
            data32: r.u32()?,
            pad: r.u32()?,
            data64: r.u64()?,
            name: Name::from_raw(r.array()?),
            str_len: r.u32()?,
            pad2: r.u32()?,
        })
    }
}

/// The struct after a record's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateExtra {
    /// Nothing (DAEMON, CLIENT, HOST, RENEWAL records).
    None,
    /// LOCKSPACE records.
    Lockspace(Lockspace),
    /// RESOURCE records.
    Resource(ResourceWithDisks),
}

/// One record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateRecord {
    /// The header (`str_len` is kept as received).
    pub state: State,
    /// The text, `state.str_len` bytes (NUL included when the daemon sends one).
    pub text: Vec<u8>,
    /// The struct after the text.
    pub extra: StateExtra,
}

impl StateRecord {
    /// A record whose `str_len` matches `text`.
    pub fn new(mut state: State, text: Vec<u8>, extra: StateExtra) -> Self {
        state.str_len = u32::try_from(text.len()).unwrap_or(u32::MAX);
        StateRecord { state, text, extra }
    }

    /// Appends the record.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.state.encode(out);
        out.extend_from_slice(&self.text);
        match &self.extra {
            StateExtra::None => {}
            StateExtra::Lockspace(ls) => ls.encode(out),
            StateExtra::Resource(r) => r.encode(out),
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let state = State::read(r)?;
        let text = r.take(state.str_len as usize)?.to_vec();
        let extra = match state.kind {
            SANLK_STATE_LOCKSPACE => StateExtra::Lockspace(Lockspace::read(r)?),
            SANLK_STATE_RESOURCE => StateExtra::Resource(ResourceWithDisks::read(r, false)?),
            _ => StateExtra::None,
        };
        Ok(StateRecord { state, text, extra })
    }
}

/// Decodes a whole stream of records (the bytes after a `STATUS`/`HOST_STATUS`/`RENEWAL`
/// reply header, up to EOF). A record cut short is [`WireError::Truncated`] (counts are
/// relative to `bytes`).
pub fn decode_states(bytes: &[u8]) -> Result<Vec<StateRecord>, WireError> {
    let mut r = Reader::new(bytes, 0);
    let mut out = Vec::new();
    while r.remaining() > 0 {
        out.push(StateRecord::read(&mut r)?);
    }
    Ok(out)
}

/// Appends a stream of records.
pub fn encode_states(records: &[StateRecord], out: &mut Vec<u8>) {
    for rec in records {
        rec.encode(out);
    }
}
