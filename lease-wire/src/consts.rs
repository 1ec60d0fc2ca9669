//! Every number of the protocol in one place: header constants, limits, struct sizes, the
//! `SANLK_*` flag values of the public libsanlock API, result codes and the errno values the
//! daemon replies with.
//!
//! Names follow `sanlock.h`, `sanlock_admin.h`, `sanlock_resource.h` and `sanlock_rv.h`
//! (public LGPL API headers of sanlock 3.8.5) where a name exists there; constants that only
//! exist in the daemon (state record types, the event message command) are named after what
//! was observed on the socket (`tests/golden/`).

// ---------------------------------------------------------------------------------------
// Header
// ---------------------------------------------------------------------------------------

/// `magic` of every message in both directions.
pub const SM_MAGIC: u32 = 0x0428_2010;
/// `version` sent by libsanlock 3.8.5 and by the daemon in every reply ("socket protocol
/// 0.1" in `sanlock client version`). The daemon does not check it on requests (observed:
/// `bad_version` is answered normally).
pub const SM_PROTO: u32 = 0x0000_0001;
/// Size of the message header.
pub const HEADER_LEN: usize = 32;
/// `cmd` of the event message the daemon sends on a `REG_EVENT` connection.
pub const EVENT_MSG_CMD: u32 = 1;

// ---------------------------------------------------------------------------------------
// Limits (sanlock.h)
// ---------------------------------------------------------------------------------------

/// `SANLK_NAME_LEN`: lockspace and resource names; a terminating NUL is *not* required
/// (a 48-byte name uses the whole field; observed accepted by the daemon).
pub const NAME_LEN: usize = 48;
/// `SANLK_PATH_LEN`: disk paths, terminating NUL included (a resource disk path without a NUL
/// is answered with `-ENAMETOOLONG`).
pub const PATH_LEN: usize = 1024;
/// `SANLK_HELPER_PATH_LEN`: killpath program path.
pub const HELPER_PATH_LEN: usize = 128;
/// `SANLK_HELPER_ARGS_LEN`: killpath arguments.
pub const HELPER_ARGS_LEN: usize = 128;
/// `SANLK_MAX_DISKS`: disks per resource; `num_disks` 0 or above this is `-ERANGE`.
pub const MAX_DISKS: u32 = 4;
/// `SANLK_MAX_RESOURCES`: resources per acquire (above: `-E2BIG`, observed) and, as this
/// codec's own bound, per release.
pub const MAX_RESOURCES: u32 = 8;
/// Largest LVB `SET_LVB` accepts (one 4K sector); above it the daemon replies `-E2BIG`
/// (observed with 5000 bytes).
pub const MAX_LVB_LEN: usize = 4096;
/// `SANLK_MAX_RES_STR`: longest resource string (`LS:RES:path:off...:lver`).
pub const MAX_RES_STR: usize = 4400;

// ---------------------------------------------------------------------------------------
// Struct sizes (x86_64 C layout, checked against the captured bytes)
// ---------------------------------------------------------------------------------------

/// `struct sanlk_disk`: `path[1024]`, `offset u64`, `pad1 u32`, `pad2 u32`.
pub const DISK_LEN: usize = 1040;
/// `struct sanlk_lockspace`: `name[48]`, `host_id u64`, `flags u32`, 4 bytes of padding,
/// `sanlk_disk host_id_disk`.
pub const LOCKSPACE_LEN: usize = 1104;
/// `struct sanlk_resource` without its trailing `disks[]`.
pub const RESOURCE_LEN: usize = 128;
/// `struct sanlk_host`.
pub const HOST_LEN: usize = 32;
/// `struct sanlk_host_event`.
pub const HOST_EVENT_LEN: usize = 32;
/// `struct sanlk_options` without its trailing `str[len]` (which the 3.8.5 daemon never
/// reads: observed).
pub const OPTIONS_LEN: usize = 56;
/// `struct sanlk_rindex`: `flags u32`, `max_resources u32`, `unused u64`,
/// `lockspace_name[48]`, `sanlk_disk disk`.
pub const RINDEX_LEN: usize = 1104;
/// `struct sanlk_rentry`: `name[48]`, `offset u64`, `flags u32`, `unused u32`.
pub const RENTRY_LEN: usize = 64;
/// The daemon's `sanlk_state` record header in `STATUS`/`HOST_STATUS`/`RENEWAL` replies.
pub const STATE_LEN: usize = 80;
/// `KILLPATH` body: `path[128]` then `args[128]`.
pub const KILLPATH_LEN: usize = HELPER_PATH_LEN + HELPER_ARGS_LEN;
/// Event message: header, `sanlk_host_event`, `from_host_id u64`, `from_generation u64`.
pub const EVENT_MSG_LEN: usize = HEADER_LEN + HOST_EVENT_LEN + 16;

/// Longest request this codec accepts: an `ACQUIRE` of [`MAX_RESOURCES`] resources with
/// [`MAX_DISKS`] disks each, plus `sanlk_options`. Every other request is shorter (`SET_LVB`
/// is at most `32 + 128 + 4096`). The request framer never asks for more bytes than this.
pub const MAX_REQUEST_LEN: usize = HEADER_LEN
    + MAX_RESOURCES as usize * (RESOURCE_LEN + MAX_DISKS as usize * DISK_LEN)
    + OPTIONS_LEN;

// ---------------------------------------------------------------------------------------
// Resource / lockspace / rindex flags (sanlock.h)
// ---------------------------------------------------------------------------------------

/// `sanlk_resource.lver` is set.
pub const SANLK_RES_LVER: u32 = 0x1;
/// `sanlk_resource.data32` is a new num_hosts.
pub const SANLK_RES_NUM_HOSTS: u32 = 0x2;
/// Shared mode.
pub const SANLK_RES_SHARED: u32 = 0x4;
/// Lease survives its pid (becomes an orphan).
pub const SANLK_RES_PERSISTENT: u32 = 0x8;
/// Align size 1 MiB.
pub const SANLK_RES_ALIGN1M: u32 = 0x10;
/// Align size 2 MiB.
pub const SANLK_RES_ALIGN2M: u32 = 0x20;
/// Align size 4 MiB.
pub const SANLK_RES_ALIGN4M: u32 = 0x40;
/// Align size 8 MiB.
pub const SANLK_RES_ALIGN8M: u32 = 0x80;
/// 512-byte sectors.
pub const SANLK_RES_SECTOR512: u32 = 0x100;
/// 4096-byte sectors.
pub const SANLK_RES_SECTOR4K: u32 = 0x200;

/// `sanlk_lockspace.flags` in `GET_LOCKSPACES` replies: being added.
pub const SANLK_LSF_ADD: u32 = 0x1;
/// `sanlk_lockspace.flags` in `GET_LOCKSPACES` replies: being removed.
pub const SANLK_LSF_REM: u32 = 0x2;
/// Lockspace align 1 MiB.
pub const SANLK_LSF_ALIGN1M: u32 = 0x10;
/// Lockspace align 2 MiB.
pub const SANLK_LSF_ALIGN2M: u32 = 0x20;
/// Lockspace align 4 MiB.
pub const SANLK_LSF_ALIGN4M: u32 = 0x40;
/// Lockspace align 8 MiB.
pub const SANLK_LSF_ALIGN8M: u32 = 0x80;
/// Lockspace 512-byte sectors.
pub const SANLK_LSF_SECTOR512: u32 = 0x100;
/// Lockspace 4096-byte sectors.
pub const SANLK_LSF_SECTOR4K: u32 = 0x200;

/// Rindex align 1 MiB (same values as the `RES` flags).
pub const SANLK_RIF_ALIGN1M: u32 = 0x10;
/// Rindex align 2 MiB.
pub const SANLK_RIF_ALIGN2M: u32 = 0x20;
/// Rindex align 4 MiB.
pub const SANLK_RIF_ALIGN4M: u32 = 0x40;
/// Rindex align 8 MiB.
pub const SANLK_RIF_ALIGN8M: u32 = 0x80;
/// Rindex 512-byte sectors.
pub const SANLK_RIF_SECTOR512: u32 = 0x100;
/// Rindex 4096-byte sectors.
pub const SANLK_RIF_SECTOR4K: u32 = 0x200;

// ---------------------------------------------------------------------------------------
// Command flags (header.cmd_flags) (sanlock_admin.h, sanlock_resource.h)
// ---------------------------------------------------------------------------------------

/// `ADD_LOCKSPACE`: reply at once, join in the background.
pub const SANLK_ADD_ASYNC: u32 = 0x1;
/// `REM_LOCKSPACE`: reply at once, leave in the background.
pub const SANLK_REM_ASYNC: u32 = 0x1;
/// `REM_LOCKSPACE`: fail with `-EBUSY` while leases are held.
pub const SANLK_REM_UNUSED: u32 = 0x2;
/// `INQ_LOCKSPACE`: wait while an add/remove is in progress.
pub const SANLK_INQ_WAIT: u32 = 0x1;
/// `WRITE_RESOURCE`/`WRITE_LOCKSPACE`: write a cleared lease (later reads fail).
pub const SANLK_WRITE_CLEAR: u32 = 0x1;

/// `GET_HOSTS`: `sanlk_host.flags & SANLK_HOST_MASK` is one of the states below.
pub const SANLK_HOST_MASK: u32 = 0xF;
/// Host state: not monitored long enough yet.
pub const SANLK_HOST_UNKNOWN: u32 = 1;
/// Host state: delta lease free (timestamp 0).
pub const SANLK_HOST_FREE: u32 = 2;
/// Host state: alive.
pub const SANLK_HOST_LIVE: u32 = 3;
/// Host state: failing (may be in recovery).
pub const SANLK_HOST_FAIL: u32 = 4;
/// Host state: dead (its watchdog has fired).
pub const SANLK_HOST_DEAD: u32 = 5;

/// `SET_CONFIG` `data`: lockspace used by an external entity.
pub const SANLK_CONFIG_USED: u32 = 0x1;
/// `SET_CONFIG` `data`: clear USED.
pub const SANLK_CONFIG_UNUSED: u32 = 0x2;
/// `SET_CONFIG` `data`: used while orphans exist.
pub const SANLK_CONFIG_USED_BY_ORPHANS: u32 = 0x4;
/// `SET_CONFIG` `data`: clear USED_BY_ORPHANS.
pub const SANLK_CONFIG_UNUSED_BY_ORPHANS: u32 = 0x8;

/// Rindex commands: do not use the lockspace.
pub const SANLK_RX_NO_LOCKSPACE: u32 = 0x1;
/// `UPDATE_RINDEX`: add an entry.
pub const SANLK_RXUP_ADD: u32 = 0x0001_0000;
/// `UPDATE_RINDEX`: remove an entry.
pub const SANLK_RXUP_REM: u32 = 0x0002_0000;

/// `SET_EVENT`: generation 0 means the target's current generation.
pub const SANLK_SETEV_CUR_GENERATION: u32 = 0x1;
/// `SET_EVENT`: clear the host_id bit at the next renewal.
pub const SANLK_SETEV_CLEAR_HOSTID: u32 = 0x2;
/// `SET_EVENT`: clear the event at the next renewal.
pub const SANLK_SETEV_CLEAR_EVENT: u32 = 0x4;
/// `SET_EVENT`: replace a pending event instead of failing `-EBUSY`.
pub const SANLK_SETEV_REPLACE_EVENT: u32 = 0x8;
/// `SET_EVENT`: set the bits of all hosts.
pub const SANLK_SETEV_ALL_HOSTS: u32 = 0x10;

/// `RESTRICT`: `SANLK_RESTRICT_ALL` (semantics are the daemon's; the codec only carries it).
pub const SANLK_RESTRICT_ALL: u32 = 0x1;
/// `RESTRICT`: never SIGKILL this client (SIGTERM instead).
pub const SANLK_RESTRICT_SIGKILL: u32 = 0x2;
/// `RESTRICT`: never SIGTERM this client (SIGKILL instead).
pub const SANLK_RESTRICT_SIGTERM: u32 = 0x4;
/// `KILLPATH`: append the pid to the killpath arguments.
pub const SANLK_KILLPATH_PID: u32 = 0x1;

/// `ACQUIRE`: enable the LVB.
pub const SANLK_ACQUIRE_LVB: u32 = 0x1;
/// `ACQUIRE`: adopt an orphan if one exists, else acquire normally.
pub const SANLK_ACQUIRE_ORPHAN: u32 = 0x2;
/// `ACQUIRE`: adopt an orphan only (`-ENOENT` otherwise).
pub const SANLK_ACQUIRE_ORPHAN_ONLY: u32 = 0x4;
/// `ACQUIRE`: fail `-247` instead of waiting for a dead owner's lease to time out.
pub const SANLK_ACQUIRE_OWNER_NOWAIT: u32 = 0x8;
/// `RELEASE`: release all of the client's leases; the daemon does not read any resource
/// structs that follow (observed).
pub const SANLK_REL_ALL: u32 = 0x1;
/// `RELEASE`: the second resource carries the first's new name.
pub const SANLK_REL_RENAME: u32 = 0x2;
/// `RELEASE`: release orphans (asynchronously).
pub const SANLK_REL_ORPHAN: u32 = 0x4;
/// `CONVERT`: same as `SANLK_ACQUIRE_OWNER_NOWAIT`.
pub const SANLK_CONVERT_OWNER_NOWAIT: u32 = 0x8;
/// `REQUEST`: ask for current lver + 1.
pub const SANLK_REQUEST_NEXT_LVER: u32 = 0x1;
/// `REQUEST` force mode (`data`): SIGKILL the holder.
pub const SANLK_REQ_FORCE: u32 = 0x1;
/// `REQUEST` force mode (`data`): killpath or SIGTERM the holder.
pub const SANLK_REQ_GRACEFUL: u32 = 0x2;
/// Client-side `test_resource_owners` result flag.
pub const SANLK_TRF_FAIL: u32 = 0x1;

// ---------------------------------------------------------------------------------------
// State record types (STATUS / HOST_STATUS / RENEWAL replies; observed)
// ---------------------------------------------------------------------------------------

/// Daemon record: `name` = host name, text = settings.
pub const SANLK_STATE_DAEMON: u32 = 1;
/// Client record: `data32` = pid (-1 for internal connections), `name` = client name.
pub const SANLK_STATE_CLIENT: u32 = 2;
/// Lockspace record: `data64` = space id, `name` = lockspace; followed by a
/// `sanlk_lockspace` after the text.
pub const SANLK_STATE_LOCKSPACE: u32 = 3;
/// Resource record: `data32` = pid, `data64` = lver, `name` = resource; followed by a
/// `sanlk_resource` and its disks after the text.
pub const SANLK_STATE_RESOURCE: u32 = 4;
/// Host record (`HOST_STATUS`): `data32` = host_id, `data64` = timestamp.
pub const SANLK_STATE_HOST: u32 = 5;
/// Renewal history record (`RENEWAL`): `data64` = timestamp.
pub const SANLK_STATE_RENEWAL: u32 = 6;

// ---------------------------------------------------------------------------------------
// Result codes (sanlock_rv.h)
// ---------------------------------------------------------------------------------------

/// Success in some internal paths (never on the wire as a result).
pub const SANLK_OK: i32 = 1;
/// Unused.
pub const SANLK_NONE: i32 = 0;
/// Generic error.
pub const SANLK_ERROR: i32 = -201;
/// I/O exceeded io_timeout.
pub const SANLK_AIO_TIMEOUT: i32 = -202;
/// wdmd/watchdog unavailable.
pub const SANLK_WD_ERROR: i32 = -203;
/// No majority of dblock reads.
pub const SANLK_DBLOCK_READ: i32 = -210;
/// No majority of dblock writes.
pub const SANLK_DBLOCK_WRITE: i32 = -211;
/// Ballot aborted: larger lver seen.
pub const SANLK_DBLOCK_LVER: i32 = -212;
/// Ballot aborted: larger mbal seen.
pub const SANLK_DBLOCK_MBAL: i32 = -213;
/// Bad dblock checksum.
pub const SANLK_DBLOCK_CHECKSUM: i32 = -214;
/// Leader read failed.
pub const SANLK_LEADER_READ: i32 = -220;
/// Leader write failed.
pub const SANLK_LEADER_WRITE: i32 = -221;
/// Disks disagree.
pub const SANLK_LEADER_DIFF: i32 = -222;
/// No lease magic (or a cleared lease).
pub const SANLK_LEADER_MAGIC: i32 = -223;
/// Wrong leader version.
pub const SANLK_LEADER_VERSION: i32 = -224;
/// Wrong sector size.
pub const SANLK_LEADER_SECTORSIZE: i32 = -225;
/// Lockspace name mismatch.
pub const SANLK_LEADER_LOCKSPACE: i32 = -226;
/// Resource name mismatch.
pub const SANLK_LEADER_RESOURCE: i32 = -227;
/// Bad num_hosts.
pub const SANLK_LEADER_NUMHOSTS: i32 = -228;
/// Bad leader checksum.
pub const SANLK_LEADER_CHECKSUM: i32 = -229;
/// Lockspace size discovery failed.
pub const SANLK_ADDLS_SIZES: i32 = -230;
/// host_id out of range for the lockspace.
pub const SANLK_ADDLS_INVALID_HOSTID: i32 = -231;
/// On-disk lver differs from the requested one.
pub const SANLK_ACQUIRE_LVER: i32 = -240;
/// Owner's lockspace not joined.
pub const SANLK_ACQUIRE_LOCKSPACE: i32 = -241;
/// Cannot open the owner's lockspace disk.
pub const SANLK_ACQUIRE_IDDISK: i32 = -242;
/// Owner alive.
pub const SANLK_ACQUIRE_IDLIVE: i32 = -243;
/// Another host committed this lver.
pub const SANLK_ACQUIRE_OWNED: i32 = -244;
/// We committed another host's value.
pub const SANLK_ACQUIRE_OTHER: i32 = -245;
/// Shared acquire gave up after sh_retries.
pub const SANLK_ACQUIRE_SHRETRY: i32 = -246;
/// OWNER_NOWAIT and the owner's lease has not timed out.
pub const SANLK_ACQUIRE_OWNED_RETRY: i32 = -247;
/// Release: lver changed.
pub const SANLK_RELEASE_LVER: i32 = -250;
/// Release: not the owner.
pub const SANLK_RELEASE_OWNER: i32 = -251;
/// Renewal: someone else owns the delta lease.
pub const SANLK_RENEW_OWNER: i32 = -260;
/// Renewal: delta lease changed under us.
pub const SANLK_RENEW_DIFF: i32 = -261;
/// host_id busy.
pub const SANLK_HOSTID_BUSY: i32 = -262;
/// Bad request record magic.
pub const SANLK_REQUEST_MAGIC: i32 = -270;
/// Bad request record version.
pub const SANLK_REQUEST_VERSION: i32 = -271;
/// Request lver older than current.
pub const SANLK_REQUEST_OLD: i32 = -272;
/// Request lver mismatch.
pub const SANLK_REQUEST_LVER: i32 = -273;
/// Bad rindex magic.
pub const SANLK_RINDEX_MAGIC: i32 = -274;
/// Bad rindex version.
pub const SANLK_RINDEX_VERSION: i32 = -275;
/// Rindex lockspace mismatch.
pub const SANLK_RINDEX_LOCKSPACE: i32 = -276;
/// Rindex offset mismatch.
pub const SANLK_RINDEX_OFFSET: i32 = -277;
/// Rindex copies differ.
pub const SANLK_RINDEX_DIFF: i32 = -278;

/// Linux errno values that appear (negated) as results on the wire.
pub mod errno {
    /// Operation not permitted (observed: release of a lease the client does not hold).
    pub const EPERM: i32 = 1;
    /// No such entry (lockspace/resource/event not found).
    pub const ENOENT: i32 = 2;
    /// Too many resources (acquire > 8) or LVB too large.
    pub const E2BIG: i32 = 7;
    /// Try again (host states unknown yet, EX blocked by SH, add while removing).
    pub const EAGAIN: i32 = 11;
    /// Out of memory (observed: `SET_LVB` whose header length is below 160).
    pub const ENOMEM: i32 = 12;
    /// Busy (resource being acquired, REM_UNUSED with leases, event pending, pid -1 on an
    /// unregistered connection).
    pub const EBUSY: i32 = 16;
    /// Already exists (lease held, lockspace added).
    pub const EEXIST: i32 = 17;
    /// No such device (lockspace disk cannot be opened).
    pub const ENODEV: i32 = 19;
    /// Invalid argument.
    pub const EINVAL: i32 = 22;
    /// pid died during acquire.
    pub const ENOTTY: i32 = 25;
    /// Lockspace not joined or failing.
    pub const ENOSPC: i32 = 28;
    /// Bad num_disks.
    pub const ERANGE: i32 = 34;
    /// Disk path without a terminating NUL.
    pub const ENAMETOOLONG: i32 = 36;
    /// No more event fds for the lockspace.
    pub const ENOCSI: i32 = 50;
    /// Socket read short (observed when a body is cut off by the peer's shutdown).
    pub const ENOTCONN: i32 = 107;
    /// Convert to the current mode.
    pub const EALREADY: i32 = 114;
    /// Lockspace add/remove in progress.
    pub const EINPROGRESS: i32 = 115;
    /// Orphan mismatch.
    pub const EUCLEAN: i32 = 117;
}
