//! The 32-byte message [`Header`] and the [`Command`] numbers 1..=40.
//!
//! ```text
//! offset  field      request (libsanlock)              reply (daemon)
//!   0     magic      0x04282010                        0x04282010
//!   4     version    1                                 1
//!   8     cmd        Command                           request's cmd (0 for SHUTDOWN_WAIT)
//!  12     cmd_flags  per-command SANLK_* flags         request's (0 for VERSION)
//!  16     length     32 + body (not always: see below) 32 + body; 32 for streamed replies
//!  20     seq        0                                 request's (0 for VERSION)
//!  24     data       per command (count, io_timeout..) result (0 or -errno / -2xx)
//!  28     data2      per command (pid, ...)            per command (count, io_timeout..)
//! ```
//!
//! All fields are `u32`, little-endian. The daemon does not check `version`, and it does not
//! use `length` to frame requests (except `SET_LVB`): three libsanlock calls send a `length`
//! that disagrees with the bytes they send (`HOST_STATUS` and `RENEWAL` say 32 but send a
//! 1104-byte lockspace; `LOOKUP_RINDEX` says 1264 but sends 1168 bytes of body).

use crate::codec::{put_u32, Reader};
use crate::consts::{HEADER_LEN, SM_MAGIC, SM_PROTO};
use crate::error::WireError;

/// The message header (both directions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Header {
    /// [`SM_MAGIC`].
    pub magic: u32,
    /// [`SM_PROTO`] (not checked by the daemon).
    pub version: u32,
    /// Command number ([`Command`]), or [`crate::consts::EVENT_MSG_CMD`] for event messages.
    pub cmd: u32,
    /// Command flags (`SANLK_*`).
    pub cmd_flags: u32,
    /// Declared message length, header included.
    pub length: u32,
    /// Sequence number (libsanlock sends 0; the daemon echoes it).
    pub seq: u32,
    /// Request argument, or the reply's result (as `i32`).
    pub data: u32,
    /// Request argument (often a pid), or a reply value.
    pub data2: u32,
}

impl Header {
    /// Encoded size.
    pub const LEN: usize = HEADER_LEN;

    /// A request header as libsanlock builds it (magic, version 1, seq 0).
    pub fn request(cmd: Command, cmd_flags: u32, length: u32, data: u32, data2: u32) -> Self {
        Header {
            magic: SM_MAGIC,
            version: SM_PROTO,
            cmd: cmd as u32,
            cmd_flags,
            length,
            seq: 0,
            data,
            data2,
        }
    }

    /// The 32 bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut v = Vec::with_capacity(HEADER_LEN);
        for f in [
            self.magic,
            self.version,
            self.cmd,
            self.cmd_flags,
            self.length,
            self.seq,
            self.data,
            self.data2,
        ] {
            put_u32(&mut v, f);
        }
        let mut a = [0u8; HEADER_LEN];
        a.copy_from_slice(&v);
        a
    }

    /// Reads the first 32 bytes; no field is checked ([`Header::check_magic`] and
    /// [`Header::command`] do that).
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        if bytes.len() < HEADER_LEN {
            return Err(WireError::ShortHeader { got: bytes.len() });
        }
        let mut r = Reader::new(bytes, 0);
        Ok(Header {
            magic: r.u32()?,
            version: r.u32()?,
            cmd: r.u32()?,
            cmd_flags: r.u32()?,
            length: r.u32()?,
            seq: r.u32()?,
            data: r.u32()?,
            data2: r.u32()?,
        })
    }

    /// [`WireError::BadMagic`] unless `magic` is [`SM_MAGIC`].
    pub fn check_magic(&self) -> Result<(), WireError> {
        if self.magic == SM_MAGIC {
            Ok(())
        } else {
            Err(WireError::BadMagic { magic: self.magic })
        }
    }

    /// The command, or [`WireError::UnknownCommand`].
    pub fn command(&self) -> Result<Command, WireError> {
        Command::from_u32(self.cmd)
    }

    /// `data` as a signed result (replies).
    pub fn result(&self) -> i32 {
        self.data as i32
    }

    /// `data2` as a signed pid (requests that name a pid; -1 means "this registered
    /// connection").
    pub fn pid(&self) -> i32 {
        self.data2 as i32
    }
}

macro_rules! commands {
    ($($(#[$doc:meta])* $name:ident = $num:literal, $text:literal;)*) => {
        /// Command numbers (`SM_CMD_*` in sanlock; the numbers are fixed by libsanlock 3.8).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u32)]
        pub enum Command {
            $($(#[$doc])* $name = $num,)*
        }

        impl Command {
            /// Every command, in number order.
            pub const ALL: [Command; 40] = [$(Command::$name,)*];

            /// The command for `n`, or [`WireError::UnknownCommand`].
            pub fn from_u32(n: u32) -> Result<Command, WireError> {
                match n {
                    $($num => Ok(Command::$name),)*
                    _ => Err(WireError::UnknownCommand { cmd: n }),
                }
            }

            /// The lower-case name sanlock's logs and CLI use.
            pub fn name(self) -> &'static str {
                match self {
                    $(Command::$name => $text,)*
                }
            }
        }
    };
}

commands! {
    /// Make this connection the calling process's registration (liveness). No reply.
    Register = 1, "register";
    /// Join a lockspace (`data` = io_timeout, flags `SANLK_ADD_*`).
    AddLockspace = 2, "add_lockspace";
    /// Leave a lockspace (flags `SANLK_REM_*`).
    RemLockspace = 3, "rem_lockspace";
    /// Stop the daemon (`data` = force). libsanlock does not wait for a reply.
    Shutdown = 4, "shutdown";
    /// Dump daemon state (streamed `sanlk_state` records).
    Status = 5, "status";
    /// Dump the in-memory log (`data` of the reply = text length).
    LogDump = 6, "log_dump";
    /// Acquire resource leases (`data` = count, `data2` = pid).
    Acquire = 7, "acquire";
    /// Release resource leases (`data` = count, `data2` = pid).
    Release = 8, "release";
    /// List a client's leases (`data2` = pid).
    Inquire = 9, "inquire";
    /// Restrict the registered client (flags `SANLK_RESTRICT_*`).
    Restrict = 10, "restrict";
    /// Ask a lease's holder to release it (`data` = force mode).
    Request = 11, "request";
    /// Default align size of a disk (reply `data`).
    Align = 12, "align";
    /// Tell other hosts to examine a lockspace's requests.
    ExamineLockspace = 13, "examine_lockspace";
    /// Tell other hosts to examine a resource's request.
    ExamineResource = 14, "examine_resource";
    /// Dump host table of a lockspace (streamed records).
    HostStatus = 15, "host_status";
    /// Is a lockspace joined? (flags `SANLK_INQ_WAIT`).
    InqLockspace = 16, "inq_lockspace";
    /// Set the registered client's killpath program and args.
    Killpath = 17, "killpath";
    /// Format a lockspace area (`data` = max_hosts, `data2` = io_timeout).
    WriteLockspace = 18, "write_lockspace";
    /// Format a resource lease (`data` = max_hosts, `data2` = num_hosts).
    WriteResource = 19, "write_resource";
    /// Read one delta lease (reply `data2` = io_timeout).
    ReadLockspace = 20, "read_lockspace";
    /// Read a resource leader.
    ReadResource = 21, "read_resource";
    /// List joined lockspaces (reply `data2` = count).
    GetLockspaces = 22, "get_lockspaces";
    /// List hosts of a lockspace (reply `data2` = count).
    GetHosts = 23, "get_hosts";
    /// Read a resource lease's owners (reply `data2` = count).
    ReadResourceOwners = 24, "read_resource_owners";
    /// Write a held lease's LVB.
    SetLvb = 25, "set_lvb";
    /// Read a held lease's LVB.
    GetLvb = 26, "get_lvb";
    /// Convert a held lease between shared and exclusive (`data2` = pid).
    Convert = 27, "convert";
    /// Daemon version (reply `data2`).
    Version = 28, "version";
    /// Stop the daemon and reply when done (`data` = force).
    ShutdownWait = 29, "shutdown_wait";
    /// Make this connection an event listener for a lockspace.
    RegEvent = 30, "reg_event";
    /// End an event listener.
    EndEvent = 31, "end_event";
    /// Send an event to hosts of a lockspace.
    SetEvent = 32, "set_event";
    /// Set a lockspace option (`data` = `SANLK_CONFIG_*`).
    SetConfig = 33, "set_config";
    /// Dump a lockspace's renewal history (streamed records).
    Renewal = 34, "renewal";
    /// Format a resource index.
    FormatRindex = 35, "format_rindex";
    /// Add/remove a resource index entry (flags `SANLK_RXUP_*`).
    UpdateRindex = 36, "update_rindex";
    /// Look up a resource index entry.
    LookupRindex = 37, "lookup_rindex";
    /// Create a resource through the index.
    CreateResource = 38, "create_resource";
    /// Delete a resource through the index.
    DeleteResource = 39, "delete_resource";
    /// Rebuild a resource index from the leases on disk.
    RebuildRindex = 40, "rebuild_rindex";
}

impl TryFrom<u32> for Command {
    type Error = WireError;
    fn try_from(n: u32) -> Result<Self, WireError> {
        Command::from_u32(n)
    }
}

impl From<Command> for u32 {
    fn from(c: Command) -> u32 {
        c as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_one_to_forty() {
        for (i, c) in Command::ALL.iter().enumerate() {
            assert_eq!(*c as u32, i as u32 + 1);
            assert_eq!(Command::from_u32(i as u32 + 1), Ok(*c));
        }
        assert_eq!(
            Command::from_u32(0),
            Err(WireError::UnknownCommand { cmd: 0 })
        );
        assert_eq!(
            Command::from_u32(41),
            Err(WireError::UnknownCommand { cmd: 41 })
        );
        assert_eq!(Command::ReadResourceOwners.name(), "read_resource_owners");
    }

    #[test]
    fn header_layout() {
        let h = Header::request(Command::Version, 0, 32, 0, 0);
        assert_eq!(
            h.encode(),
            [
                0x10, 0x20, 0x28, 0x04, 1, 0, 0, 0, 28, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 0, 0, 0, 0, 0, 0
            ]
        );
        assert_eq!(Header::decode(&h.encode()), Ok(h));
        assert_eq!(
            Header::decode(&[0; 31]),
            Err(WireError::ShortHeader { got: 31 })
        );
    }
}
