//! [`WireError`]: every way a message can be malformed, and what sanlock 3.8.5 answers to it.
//!
//! Each variant documents the real daemon's observed reaction (see `tests/golden/`, the
//! fixture directories named in each variant). [`WireError::reply_result`] returns the
//! result a drop-in daemon should put in the reply's `data` field, or `None` when sanlock
//! sends no reply at all.

use crate::consts::errno;

/// A malformed or unsupported message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Fewer than 32 bytes where a header was expected. sanlock treats a short header read as
    /// the peer going away (it logs `recv msg header rv N` and drops the connection; no reply)
    /// (fixtures `short_header`).
    #[error("short header: {got} of 32 bytes")]
    ShortHeader {
        /// Bytes available.
        got: usize,
    },
    /// `magic` is not [`crate::consts::SM_MAGIC`]. sanlock logs it, sends no reply, discards
    /// the 32 bytes and reads the next header from the same connection (fixtures
    /// `bad_magic`, `bad_magic_then_version`).
    #[error("bad magic {magic:#010x}")]
    BadMagic {
        /// The value received.
        magic: u32,
    },
    /// `cmd` outside 1..=40. sanlock logs `cmd N unknown`, sends no reply and keeps the
    /// connection open (fixtures `unknown_cmd_99`, `cmd_0`, `unknown_cmd_41_kept_open`).
    #[error("unknown command {cmd}")]
    UnknownCommand {
        /// The value received.
        cmd: u32,
    },
    /// The message ends before the structs its command needs. sanlock blocks reading them; if
    /// the peer then shuts its side down it replies `-ENOTCONN` (-107) (fixtures
    /// `truncated_body`, `inq_no_body`). Counts are whole-message bytes, header included.
    #[error("truncated message: needed {needed} bytes, got {got}")]
    Truncated {
        /// Bytes the message needs so far (may grow once counts inside it are known).
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// More bytes than the command consumes were handed to [`crate::decode_request`] or
    /// [`crate::decode_reply`]. Not a sanlock condition: the daemon never reads past the
    /// structs a command needs, so extra bytes become the next "header" (usually a bad magic;
    /// fixture `acquire_options_len`). No reply.
    #[error("trailing bytes: message is {expected} bytes, got {got}")]
    TrailingBytes {
        /// Bytes the message occupies.
        expected: usize,
        /// Bytes supplied.
        got: usize,
    },
    /// `ACQUIRE` (or `RELEASE`) with more than [`crate::consts::MAX_RESOURCES`] resources.
    /// sanlock replies `-E2BIG` for acquire (fixture `acquire_9_resources`); for release it
    /// does not check (it answered `-EPERM`, the leases not being held: fixture
    /// `release_9_resources`); this codec bounds both and uses `-E2BIG`.
    #[error("too many resources: {count} (max {max})")]
    TooManyResources {
        /// Count from the header's `data`.
        count: u32,
        /// The limit.
        max: u32,
    },
    /// `num_disks` of a resource that carries disks is 0 or above
    /// [`crate::consts::MAX_DISKS`]: `-ERANGE` (fixtures `read_resource_0_disks`,
    /// `read_resource_5_disks`, `acquire_0_disks`, `acquire_5_disks`).
    #[error("bad num_disks {num_disks} (must be 1..=4)")]
    BadNumDisks {
        /// The value received.
        num_disks: u32,
    },
    /// A resource disk path with no NUL in its 1024 bytes: `-ENAMETOOLONG`
    /// (fixtures `acquire_path_no_nul`, `read_resource_path_no_nul`). Lockspace disk paths
    /// and killpath strings are not checked by sanlock (fixture `add_lockspace_path_no_nul`
    /// fails later with -22 or -19, `killpath_no_nul` succeeds), so neither does this codec.
    #[error("disk path not NUL-terminated within 1024 bytes")]
    PathNotTerminated,
    /// `SET_LVB` data longer than [`crate::consts::MAX_LVB_LEN`]: `-E2BIG`
    /// (fixtures `set_lvb_too_big`).
    #[error("LVB of {len} bytes is too large")]
    LvbTooLarge {
        /// LVB bytes announced by the header length.
        len: usize,
    },
    /// `SET_LVB` whose header `length` is below `32 + 128`, so the LVB length would be
    /// negative: sanlock replies `-ENOMEM` (its allocation of the negative size fails)
    /// (fixtures `set_lvb_length_below_res`).
    #[error("SET_LVB header length {length} is below 160")]
    LvbLengthBelowResource {
        /// The header's `length`.
        length: u32,
    },
    /// A reply header whose `length` is below 32.
    #[error("reply length {length} is below the header size")]
    BadReplyLength {
        /// The header's `length`.
        length: u32,
    },
}

impl WireError {
    /// The (negative) result sanlock 3.8.5 puts in the reply's `data` for this error, or
    /// `None` when it sends no reply.
    pub fn reply_result(&self) -> Option<i32> {
        match self {
            WireError::ShortHeader { .. }
            | WireError::BadMagic { .. }
            | WireError::UnknownCommand { .. }
            | WireError::TrailingBytes { .. }
            | WireError::BadReplyLength { .. } => None,
            WireError::Truncated { .. } => Some(-errno::ENOTCONN),
            WireError::TooManyResources { .. } | WireError::LvbTooLarge { .. } => {
                Some(-errno::E2BIG)
            }
            WireError::BadNumDisks { .. } => Some(-errno::ERANGE),
            WireError::PathNotTerminated => Some(-errno::ENAMETOOLONG),
            WireError::LvbLengthBelowResource { .. } => Some(-errno::ENOMEM),
        }
    }
}
