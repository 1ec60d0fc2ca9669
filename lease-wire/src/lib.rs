//! sanlock 3.8 client-socket protocol: a pure, byte-exact codec (no sockets, no I/O).
//!
//! Unchanged libsanlock clients (python3-sanlock, libvirt's sanlock plugin, lvmlockd, the
//! `sanlock client` CLI) talk to the daemon over a unix stream socket
//! (`$SANLOCK_RUN_DIR/sanlock.sock`, default `/run/sanlock/sanlock.sock`). This crate decodes
//! what they send and encodes what the daemon answers, exactly as sanlock 3.8.5 does. Every
//! statement below was observed on the socket between the real libsanlock 3.8.5 and the real
//! daemon; the bytes are in `tests/golden/` (`capture.sh` there re-records them).
//!
//! # Modules
//!
//! | module | contents |
//! |---|---|
//! | [`consts`] | header constants, limits, struct sizes, `SANLK_*` flags, result codes, errno |
//! | [`header`] | [`Header`] (32 bytes) and [`Command`] (1..=40) |
//! | [`structs`] | `sanlk_disk`, `sanlk_lockspace`, `sanlk_resource`, `sanlk_host`, `sanlk_host_event`, `sanlk_options`, `sanlk_rindex`, `sanlk_rentry` |
//! | [`fixed`] | raw `char[N]` fields ([`Name`], [`Path`], [`HelperStr`]) |
//! | [`request`] | [`Request`], [`decode_request`], [`next_request`] (framing), [`encode_request`] |
//! | [`reply`] | [`Reply`], [`decode_reply`], [`encode_reply`], [`Reply::for_request`], [`EventMsg`] |
//! | [`state`] | the `sanlk_state` records of `STATUS`/`HOST_STATUS`/`RENEWAL` |
//! | [`res_string`] | the `INQUIRE` state string (`LS:RES:path:off:lver`) |
//! | [`error`] | [`WireError`] and the result sanlock replies for each |
//!
//! # The protocol as observed
//!
//! **Messages.** Every message starts with a 32-byte header of eight little-endian `u32`:
//! `magic` 0x04282010, `version` 1, `cmd`, `cmd_flags`, `length`, `seq`, `data`, `data2`.
//! The request body is the C structs of `sanlock.h` in x86_64 layout (padding bytes
//! included). The per-command use of `cmd_flags`/`data`/`data2` and the body layouts are
//! tabulated in [`request`] (requests) and [`reply`] (replies).
//!
//! **Framing.** The daemon reads a header, then exactly the structs the command needs (sized
//! by the command, by `data` for resource counts and by each resource's `num_disks`), and
//! then the next header. It never frames by `length` (only `SET_LVB` derives its LVB size
//! from it), and libsanlock relies on that: `HOST_STATUS` and `RENEWAL` requests say
//! `length` 32 but carry a 1104-byte lockspace; `LOOKUP_RINDEX` says 1264 but sends 1200
//! bytes. `ACQUIRE` always ends with a 56-byte `sanlk_options` (zeroed if the caller has
//! none) whose `len` trailing bytes are never read. `RELEASE` with `SANLK_REL_ALL` has no body
//! for the daemon, whatever `data` says. Several commands send a 128-byte `sanlk_resource`
//! whose `num_disks` is 1 with no disk after it (`RELEASE`, `CONVERT`, `GET_LVB`, `SET_LVB`,
//! `EXAMINE_RESOURCE`). [`next_request`] frames a byte stream the same way.
//!
//! **Replies.** The reply header copies `cmd`, `cmd_flags` and `seq` from the request
//! (exceptions: `VERSION` replies with `cmd_flags` and `seq` 0; `SHUTDOWN_WAIT` replies with
//! `cmd` 0), has `version` 1, `length` = 32 + body, the result in `data` (0 or negative:
//! `-errno` or a `SANLK_*` code from [`consts`]) and a command-specific `data2` (counts,
//! io_timeout, daemon version). `STATUS`, `HOST_STATUS`, `RENEWAL` and `LOG_DUMP` replies
//! say `length` 32 and then stream records or text until the daemon closes the connection.
//! `REGISTER` is never answered.
//!
//! **Connection lifetime.** The connection belongs to the client; the daemon answers each
//! request and reads the next one (two `VERSION`s on one connection are both answered),
//! and libsanlock opens a new connection per call and closes it after the reply, except:
//! * `REGISTER` makes the connection the process's registration: the daemon records the
//!   peer pid (`SO_PEERCRED`), the connection stays open, and its close (or the process's
//!   death) is the process's death for the daemon: its leases are released. `ACQUIRE`,
//!   `RELEASE`, `INQUIRE`, `CONVERT`, `RESTRICT` and `KILLPATH` with `data2` = -1 are sent on
//!   that registered connection and act on it; with `data2` = pid they come on a fresh
//!   connection and act on that pid's registration (`-EBUSY` if `data2` is -1 on an
//!   unregistered connection).
//! * `REG_EVENT` makes the connection an event listener: after the reply, the daemon sends an
//!   80-byte [`EventMsg`] (header `cmd` 1) on it whenever another host sets an event for us.
//!   `END_EVENT` is sent on a new connection with the lockspace name; libsanlock first writes
//!   4 bytes (`01 00 00 00`) on the listener connection itself.
//! * `SHUTDOWN` is sent without waiting for a reply; `SHUTDOWN_WAIT` waits for it.
//!
//! **Malformed input** (what sanlock does; [`WireError::reply_result`]): bad magic, an
//! unknown command or a short header get no reply (sanlock keeps reading the connection
//! after a bad magic or unknown command); a body cut short by the peer gets `-ENOTCONN`;
//! more than 8 resources `-E2BIG`; `num_disks` 0 or above 4 `-ERANGE`; a resource disk path
//! without a NUL `-ENAMETOOLONG`; an LVB above 4096 bytes `-E2BIG`. Names need no NUL. The
//! `version` field is not checked.

// The request enum carries 1 KiB structs inline (one per message); boxing them would only add
// allocations.
#![allow(clippy::large_enum_variant)]

pub mod consts;
pub mod error;
pub mod fixed;
pub mod header;
pub mod reply;
pub mod request;
pub mod res_string;
pub mod state;
pub mod structs;

mod codec;

pub use error::WireError;
pub use fixed::{FixedStr, HelperStr, Name, Path};
pub use header::{Command, Header};
pub use reply::{
    decode_reply, encode_reply, reply_framing, EventMsg, Reply, ReplyBody, ReplyFraming,
    ResourceOwners,
};
pub use request::{decode_request, encode_request, next_request, Request, RequestBody};
pub use state::{decode_states, encode_states, State, StateExtra, StateRecord};
pub use structs::{
    Disk, Host, HostEvent, Lockspace, Options, Rentry, Resource, ResourceWithDisks, Rindex,
    WireStruct,
};
