//! Command-line grammar: `lease [--json] direct <action> [options]`, with sanlock's option
//! letters so that existing `sanlock direct ...` command lines work unchanged.
//!
//! The lease strings (`-s`, `-r`, the dump target) are taken as plain text here and parsed by
//! the actions with [`lease_core::names`], so that a bad string is reported the sanlock way
//! (`<action> done -22` on stdout) plus a precise message on stderr, instead of as a usage error.

use clap::{Args, Parser, Subcommand};
use lease_core::geometry::AlignSize;

const AFTER_HELP: &str = "\
Strings (as in sanlock; `\\:` puts a colon into a path, offsets may end in M = MiB):
  LOCKSPACE  name:host_id:path:offset
  RESOURCE   lockspace:resource:path:offset[:path2:offset2...][:lver|:SH]   (1 to 4 disks)
Names are 1 to 48 bytes (longer names are refused, never truncated); paths < 1024 bytes.

When installed or symlinked as `sanlock`, the binary accepts the same command lines and prints
the same output: `sanlock direct dump /dev/vg/leases` works as before.";

/// sanlock-compatible disk leases (drop-in for `sanlock direct` init, read_leader and dump).
#[derive(Debug, Parser)]
#[command(
    name = "lease",
    bin_name = "lease",
    version,
    disable_help_subcommand = true,
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Print one JSON object (with "result" and, on failure, "error") instead of sanlock's text.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Operate on lease areas directly, without a daemon (like `sanlock direct`).
    Direct(DirectArgs),
    /// Run the lease daemon (like `sanlock daemon`; speaks sanlock's client protocol).
    #[command(after_help = DAEMON_AFTER_HELP)]
    Daemon(DaemonArgs),
    /// Ask a running daemon (ours or sanlock's) to do something (like `sanlock client`).
    Client(ClientArgs),
    /// Lay out a lockspace and resources on a device (default: ./lease-demo.img) and show them.
    Demo(DemoArgs),
}

/// `demo` options.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Device or file to use (default: ./lease-demo.img, created sparse, 64 MiB).
    /// Its first 4 MiB are overwritten.
    #[arg(value_name = "DEVICE")]
    pub device: Option<std::path::PathBuf>,
    /// Only lay out and show the leases; do not start the three demo hosts.
    #[arg(long)]
    pub layout_only: bool,
}

const DAEMON_AFTER_HELP: &str = "\
Settings come from the defaults, then /etc/sanlock/sanlock.conf (or --config), then options.
The run directory is --run-dir, else $SANLOCK_RUN_DIR, else /run/sanlock; it holds
sanlock.pid (locked: one daemon per run directory) and sanlock.sock.

-w 1 (the default, as in sanlock) needs the wdmd watchdog daemon, which this daemon does not
drive: every add_lockspace then fails with -203 (SANLK_WD_ERROR), as sanlock does when wdmd is
unavailable. Use -w 0.

Only root and the -U user / -G group may connect. SIGTERM stops the daemon only when no
lockspace is joined; `lease client shutdown -f 1` forces it (holders of leases are killed).";

/// `daemon` options (sanlock's letters; `-h` is sanlock's priority switch, so help is
/// `--help` only).
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct DaemonArgs {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Stay in the foreground and log to stderr (sanlock -D).
    #[arg(short = 'D')]
    pub debug: bool,
    /// 1 = use the wdmd watchdog (unavailable here: lockspaces then fail), 0 = no watchdog.
    #[arg(short = 'w', value_name = "0|1", value_parser = clap::value_parser!(u8).range(0..=1))]
    pub use_watchdog: Option<u8>,
    /// mlockall level (accepted for compatibility).
    #[arg(short = 'l', value_name = "0|1|2", value_parser = clap::value_parser!(u8).range(0..=2))]
    pub mlock_level: Option<u8>,
    /// Real-time priority (accepted for compatibility).
    #[arg(short = 'h', value_name = "0|1", value_parser = clap::value_parser!(u8).range(0..=1))]
    pub high_priority: Option<u8>,
    /// User allowed to connect besides root.
    #[arg(short = 'U', value_name = "USER")]
    pub user: Option<String>,
    /// Group allowed to connect besides root.
    #[arg(short = 'G', value_name = "GROUP")]
    pub group: Option<String>,
    /// Default io_timeout in seconds for lockspaces (1..255; sanlock default 10).
    #[arg(short = 'o', value_name = "SECONDS")]
    pub io_timeout: Option<u32>,
    /// Our unique host name (default: a new <uuid>.<nodename> per start).
    #[arg(short = 'e', value_name = "NAME")]
    pub host_name: Option<String>,
    /// Seconds of SIGTERM/killpath before SIGKILL when a lockspace fails (0..60).
    #[arg(short = 'g', value_name = "SECONDS")]
    pub kill_grace: Option<u32>,
    /// Renewal history entries kept per lockspace.
    #[arg(short = 'H', value_name = "COUNT")]
    pub renewal_history: Option<u32>,
    /// Accepted for compatibility and ignored: quiet fail, renewal debug, log levels, worker
    /// threads, bitmap seconds.
    #[arg(short = 'Q', hide = true)]
    pub quiet_fail: Option<String>,
    #[arg(short = 'R', hide = true)]
    pub debug_renew: Option<String>,
    #[arg(short = 'L', hide = true)]
    pub log_level: Option<String>,
    #[arg(short = 'S', hide = true)]
    pub syslog_level: Option<String>,
    #[arg(short = 't', hide = true)]
    pub threads: Option<String>,
    #[arg(short = 'b', hide = true)]
    pub bitmap_seconds: Option<String>,
    /// Run directory (default $SANLOCK_RUN_DIR, else /run/sanlock).
    #[arg(long = "run-dir", value_name = "DIR")]
    pub run_dir: Option<std::path::PathBuf>,
    /// Config file (default /etc/sanlock/sanlock.conf; a missing file is fine).
    #[arg(long = "config", value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// I/O engine: auto (io_uring if it works, else a thread pool), io_uring, threads.
    /// Default: $LEASE_IO_ENGINE, else auto.
    #[arg(long = "io-engine", value_name = "auto|io_uring|threads")]
    pub io_engine: Option<String>,
}

/// `client` and its action.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Run directory of the daemon (default $SANLOCK_RUN_DIR, else /run/sanlock).
    #[arg(long = "run-dir", value_name = "DIR", global = true)]
    pub run_dir: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub action: ClientAction,
}

/// `-s LOCKSPACE` and friends.
#[derive(Debug, Args)]
pub struct LockspaceOpt {
    /// Lockspace: name:host_id:path:offset.
    #[arg(short = 's', value_name = "LOCKSPACE")]
    pub lockspace: Option<String>,
    /// io_timeout in seconds for this lockspace (add_lockspace).
    #[arg(short = 'o', value_name = "SECONDS")]
    pub io_timeout: Option<u32>,
    /// 0 = return at once and let the operation finish in the background (add/rem);
    /// 1 = wait for an add or remove in progress to finish (inq_lockspace).
    #[arg(short = 'w', value_name = "0|1", value_parser = clap::value_parser!(u8).range(0..=1))]
    pub wait: Option<u8>,
    /// Print details (host_status).
    #[arg(short = 'D')]
    pub debug: bool,
}

/// `client status` options.
#[derive(Debug, Args)]
pub struct StatusOpt {
    /// Print details.
    #[arg(short = 'D')]
    pub debug: bool,
    /// Sort order (accepted for compatibility).
    #[arg(short = 'o', value_name = "p|s", hide = true)]
    pub order: Option<String>,
}

/// `client gets` options (`-h` is sanlock's hosts switch, so help is `--help` only).
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct GetsOpt {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// 1 = also list each lockspace's hosts and their states.
    #[arg(short = 'h', value_name = "0|1", value_parser = clap::value_parser!(u8).range(0..=1))]
    pub hosts: Option<u8>,
}

/// `client shutdown` options.
#[derive(Debug, Args)]
pub struct ShutdownOpt {
    /// 1 = stop even with lockspaces joined (lease holders are killed).
    #[arg(short = 'f', value_name = "0|1", value_parser = clap::value_parser!(u32).range(0..=1))]
    pub force: Option<u32>,
    /// 1 = wait for the daemon's answer.
    #[arg(short = 'w', value_name = "0|1", value_parser = clap::value_parser!(u32).range(0..=1))]
    pub wait: Option<u32>,
}

/// Actions of `lease client` (sanlock's names and output).
#[derive(Debug, Subcommand)]
pub enum ClientAction {
    /// Join a lockspace: acquire host_id and renew it (prints `add_lockspace done <rv>`).
    #[command(name = "add_lockspace")]
    AddLockspace(LockspaceOpt),
    /// Leave a lockspace, releasing host_id.
    #[command(name = "rem_lockspace")]
    RemLockspace(LockspaceOpt),
    /// Is the lockspace joined? (0 yes, -2 no, -115 add/remove in progress)
    #[command(name = "inq_lockspace")]
    InqLockspace(LockspaceOpt),
    /// The align size of the lease area at the lockspace's path and offset.
    Align(LockspaceOpt),
    /// Every host's last renewal timestamp in a lockspace (-D: details; --json: states).
    #[command(name = "host_status")]
    HostStatus(LockspaceOpt),
    /// Joined lockspaces (-h 1: with hosts and their states).
    Gets(GetsOpt),
    /// Recent renewals of our host_id in a lockspace.
    Renewal(LockspaceOpt),
    /// Daemon, processes, lockspaces and held resources.
    Status(StatusOpt),
    /// The daemon's recent log.
    #[command(name = "log_dump")]
    LogDump,
    /// Stop the daemon.
    Shutdown(ShutdownOpt),
    /// Client and daemon versions.
    Version,
    /// Acquire resource leases for a registered process (-p PID).
    Acquire(ResourceOpt),
    /// Release resource leases of a registered process (-p PID).
    Release(ResourceOpt),
    /// List the leases a registered process holds (-p PID), as `LS:RES:PATH:OFF:LVER` strings.
    Inquire(ResourceOpt),
    /// Convert a lease of a registered process: -r ...:SH to shared, without :SH to exclusive.
    Convert(ResourceOpt),
    /// Ask the owner of a lease to release it: -r LS:RES:PATH:OFFSET:LVER -f 1 (FORCE: kill
    /// the holder) or -f 2 (GRACEFUL: its killpath, else SIGTERM); LVER 0 with -f 0 clears.
    Request(RequestOpt),
    /// Make the daemon examine the request records of its leases now (-r RES or -s LS).
    Examine(ExamineOpt),
    /// Register, acquire the -r leases, then exec the -c program holding them (the leases are
    /// released when it exits).
    #[command(trailing_var_arg = true)]
    Command(CommandOpt),
    /// Write a new resource index and its lease: -x LOCKSPACE:PATH:OFFSET [-Z -A].
    #[command(after_help = RINDEX_AFTER_HELP)]
    Format(RindexArgs),
    /// Create a resource lease in the index's first free slot: -x RINDEX -e NAME.
    #[command(after_help = RINDEX_AFTER_HELP)]
    Create(RindexArgs),
    /// Delete an indexed resource (entry and lease): -x RINDEX -e NAME[:OFFSET].
    #[command(after_help = RINDEX_AFTER_HELP)]
    Delete(RindexArgs),
    /// Find a resource by name or offset, or the first free slot: -x RINDEX [-e NAME[:OFFSET]].
    #[command(after_help = RINDEX_AFTER_HELP)]
    Lookup(RindexArgs),
    /// Add (-e NAME:OFFSET) or remove (-z 1) one index entry: -x RINDEX.
    #[command(after_help = RINDEX_AFTER_HELP)]
    Update(RindexArgs),
    /// Rebuild the index from the leases found in its slots: -x RINDEX.
    #[command(after_help = RINDEX_AFTER_HELP)]
    Rebuild(RindexArgs),
}

/// `-r RESOURCE` (repeatable) and `-p PID`.
#[derive(Debug, Args)]
pub struct ResourceOpt {
    /// Resource: lockspace:resource:path:offset[:path2:offset2...][:lver|:SH] (repeatable).
    #[arg(short = 'r', value_name = "RESOURCE")]
    pub resources: Vec<String>,
    /// The registered process to act for.
    #[arg(short = 'p', value_name = "PID")]
    pub pid: Option<i32>,
}

/// `request` options.
#[derive(Debug, Args)]
pub struct RequestOpt {
    /// Resource with the requested version: lockspace:resource:path:offset:lver.
    #[arg(short = 'r', value_name = "RESOURCE")]
    pub resource: String,
    /// 0 none (clear with lver 0), 1 FORCE, 2 GRACEFUL.
    #[arg(short = 'f', value_name = "0|1|2", value_parser = clap::value_parser!(u32).range(0..=2))]
    pub force_mode: Option<u32>,
}

/// `examine` options.
#[derive(Debug, Args)]
pub struct ExamineOpt {
    /// A resource: lockspace:resource:path:offset.
    #[arg(short = 'r', value_name = "RESOURCE")]
    pub resource: Option<String>,
    /// A lockspace: name:host_id:path:offset (or just the name).
    #[arg(short = 's', value_name = "LOCKSPACE")]
    pub lockspace: Option<String>,
}

/// `command -r RES [-r RES...] -c PATH ARGS...`.
#[derive(Debug, Args)]
pub struct CommandOpt {
    /// Resource to hold while the program runs (repeatable).
    #[arg(short = 'r', value_name = "RESOURCE")]
    pub resources: Vec<String>,
    /// The program and its arguments (everything after -c).
    #[arg(short = 'c', value_name = "PATH", num_args = 1.., allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

/// `direct` and its action.
#[derive(Debug, Args)]
pub struct DirectArgs {
    /// The action.
    #[command(subcommand)]
    pub action: DirectAction,
}

/// Actions of `lease direct`.
#[derive(Debug, Subcommand)]
pub enum DirectAction {
    /// Initialise a lockspace (-s) or resource lease (-r) area; prints `init done <rv>`.
    #[command(after_help = INIT_AFTER_HELP)]
    Init(InitArgs),
    /// Read and verify one leader record; prints `read_leader done <rv>` and every field.
    #[command(name = "read_leader", after_help = READ_LEADER_AFTER_HELP)]
    ReadLeader(ReadLeaderArgs),
    /// List the leases found in consecutive areas of a device, like `sanlock direct dump`.
    #[command(after_help = DUMP_AFTER_HELP)]
    Dump(DumpArgs),
    /// Write a new resource index and its lease: -x LOCKSPACE:PATH:OFFSET [-Z -A].
    #[command(after_help = RINDEX_AFTER_HELP)]
    Format(RindexArgs),
    /// Find a resource by name or offset, or the first free slot: -x RINDEX [-e NAME[:OFFSET]].
    #[command(after_help = RINDEX_AFTER_HELP)]
    Lookup(RindexArgs),
    /// Add (-e NAME:OFFSET) or remove (-z 1) one index entry: -x RINDEX.
    #[command(after_help = RINDEX_AFTER_HELP)]
    Update(RindexArgs),
    /// Rebuild the index from the leases found in its slots: -x RINDEX.
    #[command(after_help = RINDEX_AFTER_HELP)]
    Rebuild(RindexArgs),
}

const INIT_AFTER_HELP: &str = "\
Writes the whole area (align size bytes) at the offset, exactly as `sanlock direct init` does:
a lockspace gets a free delta lease for every host id 1..max_hosts; a resource gets a free
leader, an empty request record and zeroed ballot blocks.

Sector size: -Z, else the device's logical sector size (always 512 for a regular file).
Align size: -A, else the legacy default (1M for 512-byte sectors, 8M for 4096).
Valid -Z/-A pairs: 512/1M, 4096/1M, 4096/2M, 4096/4M, 4096/8M (max_hosts 2000, 250, 500,
1000, 2000). The offset must be a multiple of the sector size.

Exit status 0 on success; on failure `init done <negative errno>` is printed, the reason goes to
stderr, the exit status is 1 and nothing is written.

Examples:
  lease direct init -s LS:0:/dev/vg/leases:0
  lease direct init -r LS:vm1:/dev/vg/leases:1M -n 16
  lease direct init -s LS:0:/var/lib/ls.img:0 -Z 4096 -A 8M -o 20";

const READ_LEADER_AFTER_HELP: &str = r#"With -s, reads the delta lease of host_id (which must be 1 or more): the sector at
offset + (host_id - 1) * sector_size. Without -Z/-A the sizes are taken from the leader at the
lockspace offset. With -r, reads the paxos leader at the offset (of every disk given; they must
agree, as in sanlock).

The record is verified as sanlock does: magic (-223), version (-224), lockspace name (-226),
resource name (-227, -r only), checksum (-229). The fields are printed even when verification
fails; the exit status is then 1. Delta leases print write_id/generation/timestamp as
extra1..3, as sanlock does. Nothing is ever written.

--json prints {"result", "error" (on failure), "kind": "delta"|"paxos", "path", "offset" (of
the record read), "leader": {every on-disk field by its name, or null if nothing was read}}."#;

const DUMP_AFTER_HELP: &str = r#"TARGET is path[:offset[:size]]; offset and size take decimal, 0x-hex or an M (MiB) suffix.
Walks areas of align size from the offset and prints one row per lease found: acquired host
ids of a lockspace (slots never acquired are skipped), every resource leader, shared holders
(SH rows), rindex headers. Stops at the first area holding no lease structure, at the end of
the device, or after size bytes. Without -Z and -A, the sizes come from the first leader found
at offset + n MiB (n < 1024).

-f 1 adds the host-id bitmap to lockspace rows, /<request lver>/<force mode> to resource rows
and one row per used rindex entry.

--json prints {"result", "error" (on failure), "warning" (misaligned offset), "path",
"offset", "size", "sector_size", "align_size", "rows": [...]} with rows
{"type": "delta", "offset", "leader": {...}, "bitmap": [host ids]},
{"type": "paxos", "offset", "leader": {...}, "request": {...}, "shared": [{"host_id",
"generation"}]} and {"type": "rindex", "offset", "header": {...}, "entries": [...]}; bitmaps,
requests and entries are always included."#;

/// -Z and -A.
#[derive(Debug, Args, Clone)]
pub struct SizeArgs {
    /// Sector size in bytes: 512 or 4096 (sanlock -Z).
    #[arg(short = 'Z', value_name = "512|4096", value_parser = ["512", "4096"])]
    pub sector_size: Option<String>,

    /// Align size, the size of every area: 1M, 2M, 4M or 8M (sanlock -A).
    #[arg(short = 'A', value_name = "1M|2M|4M|8M", value_parser = parse_align)]
    pub align_size: Option<AlignSize>,
}

impl SizeArgs {
    /// The -Z value in bytes.
    pub fn sector_size_bytes(&self) -> Option<u32> {
        self.sector_size.as_deref().and_then(|s| s.parse().ok())
    }
}

fn parse_align(text: &str) -> Result<AlignSize, String> {
    AlignSize::parse(text).ok_or_else(|| format!("{text:?} is not one of 1M, 2M, 4M, 8M"))
}

/// Options every direct action accepts (sanlock parses them for every action).
#[derive(Debug, Args, Clone)]
pub struct CommonArgs {
    /// Accepted for sanlock compatibility and ignored (sanlock's async I/O switch).
    #[arg(short = 'a', value_name = "0|1", value_parser = ["0", "1"])]
    pub aio: Option<String>,
}

/// `direct init`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["lockspace", "resource"])))]
pub struct InitArgs {
    /// Lockspace to initialise: name:host_id:path:offset (host_id is ignored, use 0).
    #[arg(short = 's', value_name = "LOCKSPACE")]
    pub lockspace: Option<String>,

    /// Resource lease to initialise: lockspace:resource:path:offset[:path2:offset2...].
    #[arg(short = 'r', value_name = "RESOURCE")]
    pub resource: Option<String>,

    #[command(flatten)]
    pub sizes: SizeArgs,

    /// io_timeout in seconds stored in every delta lease (-s only; 0 means the default 10).
    #[arg(short = 'o', value_name = "SECONDS", value_parser = clap::value_parser!(u16))]
    pub io_timeout: Option<u16>,

    /// Number of hosts whose ballot blocks are used (-r only; 0 or more than max_hosts means
    /// max_hosts).
    #[arg(short = 'n', value_name = "NUM_HOSTS", value_parser = clap::value_parser!(u64))]
    pub num_hosts: Option<u64>,

    /// 1 = write a cleared ("no lease here") resource area instead (-r only).
    #[arg(short = 'z', value_name = "0|1", value_parser = ["0", "1"])]
    pub clear: Option<String>,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// `direct read_leader`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["lockspace", "resource"])))]
pub struct ReadLeaderArgs {
    /// Delta lease to read: name:host_id:path:offset (host_id 1 or more).
    #[arg(short = 's', value_name = "LOCKSPACE")]
    pub lockspace: Option<String>,

    /// Resource leader to read: lockspace:resource:path:offset[:path2:offset2...].
    #[arg(short = 'r', value_name = "RESOURCE")]
    pub resource: Option<String>,

    #[command(flatten)]
    pub sizes: SizeArgs,

    /// I/O timeout in seconds: accepted for sanlock compatibility and ignored (sanlock -o).
    #[arg(short = 'o', value_name = "SECONDS", value_parser = clap::value_parser!(u16), hide = true)]
    pub io_timeout: Option<u16>,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// `direct dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// What to dump: path[:offset[:size]].
    #[arg(value_name = "TARGET")]
    pub target: String,

    /// 1 = full rows: delta-lease bitmaps, request records, rindex entries (sanlock -f).
    #[arg(short = 'f', value_name = "0|1", value_parser = clap::value_parser!(u32))]
    pub full: Option<u32>,

    #[command(flatten)]
    pub sizes: SizeArgs,

    /// I/O timeout in seconds: accepted for sanlock compatibility and ignored (sanlock -o).
    #[arg(short = 'o', value_name = "SECONDS", value_parser = clap::value_parser!(u16), hide = true)]
    pub io_timeout: Option<u16>,

    #[command(flatten)]
    pub common: CommonArgs,
}

const RINDEX_AFTER_HELP: &str = r#"A resource index (RINDEX = lockspace:path:offset) names resource leases: the index area
at offset, its own "rindex_lease" at offset + align, and the lease of slot N at
offset + (2 + N) * align. -e takes NAME[:OFFSET] (either half may be left out: -e :3M).

  format   write the index (header, no entries) and the rindex lease (-Z/-A as for init)
  create   (daemon) a new lease in the first free slot, then its entry; prints its offset
  delete   (daemon) zero the entry, then clear the lease
  lookup   nothing: the first free slot; NAME: its offset; OFFSET: the name in that slot;
           both: -278 unless the slot holds that name
  update   -e NAME:OFFSET records NAME in OFFSET's slot; with -z 1 frees it
  rebuild  recompute every entry from the leases found in the slots

Through the daemon, create, delete and rebuild hold the rindex lease (taken with
OWNER_NOWAIT in the joined lockspace) and one rindex action runs per lockspace at a time
(-16 otherwise). Direct mode takes no lease: use it only when no daemon changes the index.
Offsets that are not slots of the index (-277), names over 48 bytes, empty names and
duplicate names on create (-17) are refused before anything is written.

--json (lookup) prints {"action", "result", "error" (on failure), "name" (null when the
slot has none), "offset"}."#;

/// `-x RINDEX`, `-e NAME[:OFFSET]` and the options sanlock accepts with them.
#[derive(Debug, Args)]
pub struct RindexArgs {
    /// Resource index: lockspace:path:offset.
    #[arg(short = 'x', value_name = "RINDEX", required = true)]
    pub rindex: Option<String>,

    /// Resource entry: name[:offset] (offset in bytes or with an M suffix).
    #[arg(short = 'e', value_name = "NAME[:OFFSET]")]
    pub entry: Option<String>,

    /// update: 1 = remove the entry instead of adding it.
    #[arg(short = 'z', value_name = "0|1", value_parser = ["0", "1"])]
    pub remove: Option<String>,

    /// format: sector and align size, as for init.
    #[command(flatten)]
    pub sizes: SizeArgs,

    /// I/O timeout in seconds: accepted for sanlock compatibility and ignored (sanlock -o).
    #[arg(short = 'o', value_name = "SECONDS", value_parser = clap::value_parser!(u16), hide = true)]
    pub io_timeout: Option<u16>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// clap's own consistency checks over every command (duplicate short options and the like).
    #[test]
    fn command_line_grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sanlock_letters_parse_for_daemon_and_client() {
        let cli = Cli::try_parse_from([
            "lease", "daemon", "-D", "-w", "0", "-h", "1", "-U", "root", "-o", "5",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Daemon(DaemonArgs {
                debug: true,
                io_timeout: Some(5),
                ..
            })
        ));
        let cli = Cli::try_parse_from(["lease", "client", "gets", "-h", "1"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Client(ClientArgs {
                action: ClientAction::Gets(GetsOpt { hosts: Some(1), .. }),
                ..
            })
        ));
    }
}
