//! Helpers shared by the integration tests (loop devices, sanlock oracle, the `lease` binary).
//!
//! * [`Sanlock`]: the real `sanlock` 3.8 binary, used as the oracle. [`Sanlock::require`] fails
//!   the calling test with a clear message when it is missing, unless
//!   [`ALLOW_SKIP_SANLOCK_ENV`]`=1`, in which case the test prints `SKIP:` and returns.
//! * [`Scratch`]: a unique temporary directory with sparse image files; removed on drop.
//! * [`LoopDevice`] / [`require_loop_device`] (re-exported from `lease_io::testing`): loop
//!   devices that detach on drop; tests fail when one cannot be attached unless
//!   `LEASE_TESTS_ALLOW_SKIP_LOOP=1`.
//! * [`Run`]: one finished command (exit status, stdout, stderr) with assertion helpers.
//! * [`device_bytes`]: the current contents of a file or block device read with O_DIRECT, to
//!   prove a command wrote nothing (or exactly what sanlock writes).
//! * Parsers for sanlock's `read_leader` and `dump` text, to compare with `--json` output.
//!
//! The interop tests themselves live in `lease-cli/tests/`, where Cargo provides the freshly
//! built `lease` binary (`CARGO_BIN_EXE_lease`).
//!
//! * [`DaemonProcess`], [`Python`], [`wire`] (module `daemons`): our daemon and sanlock's in
//!   their own run directories (started until the socket answers, stopped on drop), raw
//!   socket messages, and python3-sanlock snippets run against a daemon.
//!
//! * [`PyHolder`], [`fail_loop_device`], [`join_lockspace`], [`host_view`],
//!   [`read_leader_json`], [`done_rv`] (module `resources`): a registered python3-sanlock
//!   process driven one call at a time (a lease holder with a pid), a loop device whose every
//!   I/O fails, and small readers of daemon and lease state for the resource tests.
//!
//! No helper sleeps in place of waiting for an event: every command is run to completion and
//! its effects are read afterwards; daemons are polled (bounded) until they answer.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use lease_io::testing::{require_loop_device, LoopDevice, ALLOW_SKIP_LOOP_ENV};

mod daemons;
pub use daemons::{
    join_in_parallel, lease_daemon_command, poll_until, wait_exit, wire, DaemonProcess, Flavor,
    Python, DAEMON_START_LIMIT, DAEMON_STOP_LIMIT, POLL_INTERVAL, PYTHON_PRELUDE,
};

mod resources;
pub use resources::{
    done_rv, fail_loop_device, host_view, join_lockspace, read_leader_json, PyHolder,
    HOLDER_START_LIMIT, LS_CALL_LIMIT, LS_DEFS,
};

/// Set to `1` to let tests that need the real sanlock skip (with a printed reason) instead of
/// failing when it is not installed.
pub const ALLOW_SKIP_SANLOCK_ENV: &str = "LEASE_TESTS_ALLOW_SKIP_SANLOCK";

/// One MiB.
pub const MIB: u64 = 1 << 20;

/// A finished command.
#[derive(Debug, Clone)]
pub struct Run {
    /// The command line, for messages.
    pub command: String,
    /// Exit status (`-1` when killed by a signal).
    pub status: i32,
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
}

impl Run {
    /// Runs `program` with `args` to completion.
    ///
    /// # Panics
    ///
    /// When the program cannot be started (test-only code: the panic fails the test).
    pub fn new<S: AsRef<OsStr>>(program: impl AsRef<OsStr>, args: &[S]) -> Run {
        Run::new_with_env(program, args, &[])
    }

    /// Runs `program` with `args` and the extra environment variables `env` to completion.
    ///
    /// # Panics
    ///
    /// When the program cannot be started.
    pub fn new_with_env<S: AsRef<OsStr>>(
        program: impl AsRef<OsStr>,
        args: &[S],
        env: &[(&str, &OsStr)],
    ) -> Run {
        let program = program.as_ref();
        let command = std::iter::once(program)
            .chain(args.iter().map(AsRef::as_ref))
            .map(|part| part.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        let output = Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .output()
            .unwrap_or_else(|e| panic!("cannot run {command}: {e}"));
        Run {
            command,
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts exit status 0 and returns stdout.
    ///
    /// # Panics
    ///
    /// When the status is not 0.
    #[track_caller]
    pub fn success(&self) -> &str {
        assert_eq!(
            self.status,
            0,
            "{} failed:\n{}",
            self.command,
            self.describe()
        );
        &self.stdout
    }

    /// Asserts exit status `status`.
    ///
    /// # Panics
    ///
    /// When the status differs.
    #[track_caller]
    pub fn expect_status(&self, status: i32) -> &Run {
        assert_eq!(
            self.status,
            status,
            "{}: unexpected exit status:\n{}",
            self.command,
            self.describe()
        );
        self
    }

    /// Status, stdout and stderr, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "status {}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// The real sanlock binary (the oracle).
#[derive(Debug, Clone)]
pub struct Sanlock {
    path: PathBuf,
}

impl Sanlock {
    /// Finds sanlock (`PATH`, then `/usr/sbin`, `/sbin`), or fails the test with the reason,
    /// unless [`ALLOW_SKIP_SANLOCK_ENV`]`=1` (then prints `SKIP:` and returns `None`).
    ///
    /// # Panics
    ///
    /// When sanlock is missing and skipping is not allowed.
    pub fn require(test_name: &str) -> Option<Sanlock> {
        if let Some(path) = find_program("sanlock") {
            return Some(Sanlock { path });
        }
        let reason = "the sanlock binary (Debian package `sanlock`) is not installed; the \
                      interop tests use it as the oracle";
        if std::env::var(ALLOW_SKIP_SANLOCK_ENV).is_ok_and(|v| v == "1") {
            println!("SKIP: {test_name}: {reason} ({ALLOW_SKIP_SANLOCK_ENV}=1)");
            return None;
        }
        panic!(
            "{test_name}: {reason}. Install it (apt-get install sanlock) or set \
             {ALLOW_SKIP_SANLOCK_ENV}=1 to skip"
        );
    }

    /// Path of the binary.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `sanlock args...`.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Run {
        Run::new(&self.path, args)
    }

    /// Runs `sanlock args...` and asserts it succeeded; returns stdout.
    ///
    /// # Panics
    ///
    /// When sanlock fails.
    #[track_caller]
    pub fn ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        self.run(args).success().to_owned()
    }
}

/// `name` from `PATH`, else from the sbin directories a non-login root shell may lack.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let in_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .collect()
        })
        .unwrap_or_default();
    let fixed = ["/usr/sbin", "/sbin", "/usr/local/sbin"].map(|dir| Path::new(dir).join(name));
    in_path
        .into_iter()
        .chain(fixed)
        .find(|candidate| candidate.is_file())
}

/// A unique temporary directory for one test; removed on drop.
#[derive(Debug)]
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    /// Creates the directory (under `$TMPDIR`, which must support O_DIRECT). Its path has no
    /// `M`: sanlock 3.8.5's resource parser takes an `M` anywhere after an offset as that
    /// offset's MiB unit (`LS:r:/tmp/xMx/a.img:1M` is written 1 TiB in), so a random directory
    /// name with an `M` (about 1 run in 10) made the oracle misread the device, not us.
    ///
    /// # Panics
    ///
    /// When the directory cannot be created, or `$TMPDIR` contains an `M`. An `M` in
    /// `test_name` is written as `m` in the directory name.
    pub fn new(test_name: &str) -> Scratch {
        let prefix = format!("lease-{}-", test_name.replace('M', "m"));
        let create = || {
            tempfile::Builder::new()
                .prefix(&prefix)
                .tempdir()
                .unwrap_or_else(|e| panic!("{test_name}: cannot create a temporary directory: {e}"))
        };
        let dir = std::iter::repeat_with(create)
            .take(100)
            .find(|dir| !dir.path().to_string_lossy().contains('M'))
            .unwrap_or_else(|| panic!("{test_name}: no temporary directory name without `M`"));
        Scratch { dir }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A sparse zero-filled file of `size_bytes` (like `truncate -s`).
    ///
    /// # Panics
    ///
    /// When the file cannot be created.
    pub fn image(&self, name: &str, size_bytes: u64) -> PathBuf {
        let path = self.dir.path().join(name);
        let file =
            File::create(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        file.set_len(size_bytes)
            .unwrap_or_else(|e| panic!("cannot size {}: {e}", path.display()));
        path
    }
}

/// The whole contents of a file or block device, read with O_DIRECT (so a block device shows
/// what is on it, not a cached copy).
///
/// # Panics
///
/// When the device cannot be read.
pub fn device_bytes(path: &Path) -> Vec<u8> {
    let device = lease_io::Device::open(path, lease_io::Access::ReadOnly)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let size = usize::try_from(device.size_bytes()).expect("device fits in memory");
    // Test images are small: a huge one means something wrote far outside it.
    assert!(
        size <= 1 << 30,
        "{} is {size} bytes: written outside the test image?",
        path.display()
    );
    let mut bytes = Vec::with_capacity(size);
    let chunk = 8 << 20;
    let mut offset = 0usize;
    while offset < size {
        let len = chunk.min(size - offset);
        let buf = device
            .read_at(offset as u64, len)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        bytes.extend_from_slice(&buf);
        offset += len;
    }
    bytes
}

/// `len` bytes at `offset` of a file or block device (O_DIRECT).
///
/// # Panics
///
/// When the range cannot be read.
pub fn device_range(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let device = lease_io::Device::open(path, lease_io::Access::ReadOnly)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    device
        .read_at(offset, len)
        .unwrap_or_else(|e| panic!("cannot read {} at {offset}: {e}", path.display()))
        .to_vec()
}

/// Flips one bit of the byte at `offset` of a regular file (buffered I/O is fine for files:
/// every reader under test uses O_DIRECT, which sees the file system's data).
///
/// # Panics
///
/// When the file cannot be modified.
pub fn flip_bit(path: &Path, offset: u64, mask: u8) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, offset).expect("read byte");
    byte[0] ^= mask;
    file.write_all_at(&byte, offset).expect("write byte");
    file.sync_all().expect("sync");
}

/// A short FNV-1a digest, for assertion messages about large buffers.
pub fn digest(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The first byte offset where `a` and `b` differ, if any (also when lengths differ).
/// Compares 4 KiB chunks with `memcmp` first: tests compare whole 64 MiB devices in debug
/// builds.
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    if a == b {
        return None;
    }
    const CHUNK: usize = 4096;
    let common = a.len().min(b.len());
    let (a, b) = (&a[..common], &b[..common]);
    let chunk_index = a
        .chunks(CHUNK)
        .zip(b.chunks(CHUNK))
        .position(|(x, y)| x != y);
    Some(chunk_index.map_or(common, |index| {
        let start = index * CHUNK;
        let within = a[start..].iter().zip(&b[start..]).position(|(x, y)| x != y);
        start + within.unwrap_or(0)
    }))
}

/// sanlock's `read_leader` output: the `done` value and the `name value` fields, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderText {
    /// The number in `read_leader done <rv>`.
    pub rv: i64,
    /// Field name to value text, e.g. `"magic" -> "0x12212010"`.
    pub fields: BTreeMap<String, String>,
}

impl LeaderText {
    /// A field parsed as a number (`0x` hexadecimal or decimal).
    ///
    /// # Panics
    ///
    /// When the field is missing or not a number.
    pub fn number(&self, field: &str) -> u64 {
        let text = self
            .fields
            .get(field)
            .unwrap_or_else(|| panic!("no field {field} in {self:?}"));
        match text.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => text.parse(),
        }
        .unwrap_or_else(|e| panic!("field {field} = {text:?}: {e}"))
    }
}

/// Parses `read_leader done N` followed by `field value` lines.
///
/// # Panics
///
/// When the text does not have that shape.
pub fn parse_read_leader(text: &str) -> LeaderText {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let rv = first
        .strip_prefix("read_leader done ")
        .and_then(|rv| rv.parse().ok())
        .unwrap_or_else(|| panic!("not read_leader output: {text:?}"));
    let fields = lines
        .map(|line| {
            let (name, value) = line.split_once(' ').unwrap_or((line, ""));
            (name.to_owned(), value.to_owned())
        })
        .collect();
    LeaderText { rv, fields }
}

/// One row of sanlock's `dump` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DumpRow {
    /// A delta lease (no lver column); `extra` holds the -f bitmap host ids.
    Delta {
        offset: u64,
        lockspace: String,
        resource: String,
        timestamp: u64,
        owner_id: u64,
        owner_generation: u64,
        extra: Vec<String>,
    },
    /// A paxos lease; `lver` is the text of the last column (`1` or `1/0/0` with -f).
    Paxos {
        offset: u64,
        lockspace: String,
        resource: String,
        timestamp: u64,
        owner_id: u64,
        owner_generation: u64,
        lver: String,
    },
    /// A shared holder row.
    Shared { host_id: u64, generation: u64 },
    /// A rindex header row.
    RindexHeader {
        offset: u64,
        lockspace: String,
        flags: String,
        sector_size: u64,
        max_resources: u64,
        rx_offset: u64,
    },
    /// A rindex entry row (-f).
    RindexEntry {
        offset: u64,
        lockspace: String,
        name: String,
        res_offset: u64,
    },
}

/// Parses sanlock's `dump` rows (header line and warnings skipped); `full` tells whether
/// `-f 1` was given (it decides whether a number after a lease row is an lver or a bitmap
/// host id). Names must not contain spaces and must fit their columns (lockspace 36 bytes,
/// resource 48): lease rows are cut at sanlock's fixed column positions.
///
/// # Panics
///
/// On a row of unknown shape.
pub fn parse_dump(text: &str, full: bool) -> Vec<DumpRow> {
    let number = |s: &str| -> u64 { s.parse().unwrap_or_else(|e| panic!("{s:?}: {e} in {text}")) };
    text.lines()
        .filter(|line| !line.starts_with("  offset") && !line.starts_with("WARNING"))
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [host, generation, "SH"] => DumpRow::Shared {
                    host_id: number(host),
                    generation: number(generation),
                },
                [offset, lockspace, "rindex_header", flags, sector, max, rx] => {
                    DumpRow::RindexHeader {
                        offset: number(offset),
                        lockspace: (*lockspace).to_owned(),
                        flags: (*flags).to_owned(),
                        sector_size: number(sector),
                        max_resources: number(max),
                        rx_offset: number(rx),
                    }
                }
                [offset, lockspace, "rentry", name, res_offset] => DumpRow::RindexEntry {
                    offset: number(offset),
                    lockspace: (*lockspace).to_owned(),
                    name: (*name).to_owned(),
                    res_offset: number(res_offset),
                },
                [offset, lockspace, "rentry", res_offset] => DumpRow::RindexEntry {
                    offset: number(offset),
                    lockspace: (*lockspace).to_owned(),
                    name: String::new(),
                    res_offset: number(res_offset),
                },
                _ => parse_lease_row(line, full, &number),
            }
        })
        .collect()
}

/// A lease row: fixed columns `%08llu %36s %48s %010llu %04llu %04llu` then the rest.
fn parse_lease_row(line: &str, full: bool, number: &dyn Fn(&str) -> u64) -> DumpRow {
    let column = |from: usize, to: usize| line.get(from..to).unwrap_or_default().trim();
    let offset = number(column(0, 8));
    let lockspace = column(9, 45).to_owned();
    let resource = column(46, 94).to_owned();
    let timestamp = number(column(95, 105));
    let owner_id = number(column(106, 110));
    let owner_generation = number(column(111, 115));
    let rest: Vec<String> = line
        .get(115..)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let paxos = if full {
        rest.first().is_some_and(|first| first.contains('/'))
    } else {
        rest.len() == 1
    };
    if paxos {
        return DumpRow::Paxos {
            offset,
            lockspace,
            resource,
            timestamp,
            owner_id,
            owner_generation,
            lver: rest[0].clone(),
        };
    }
    DumpRow::Delta {
        offset,
        lockspace,
        resource,
        timestamp,
        owner_id,
        owner_generation,
        extra: rest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_leader_text_is_parsed() {
        let text = "read_leader done -229\nmagic 0x6152010\nspace_name LS\nresource_name \n";
        let leader = parse_read_leader(text);
        assert_eq!(leader.rv, -229);
        assert_eq!(leader.number("magic"), 0x0615_2010);
        assert_eq!(leader.fields["space_name"], "LS");
        assert_eq!(leader.fields["resource_name"], "");
    }

    #[test]
    fn dump_rows_are_parsed() {
        let text = concat!(
            "  offset                            lockspace                                         resource  timestamp  own  gen lver/req/mode\n",
            "00000000                                   LS                                            hostA 0000000356 0001 0001 2 5\n",
            "01048576                                   LS                                             res1 0000000361 0001 0001 1/5/2\n",
            "                                                                                                          0002 0007 SH\n",
            "03145728                                   LS rindex_header 0x1 512 4096 3145728\n",
            "03146240                                   LS rentry resA 5242880\n",
        );
        let rows = parse_dump(text, true);
        assert_eq!(rows.len(), 5);
        assert_eq!(
            rows[0],
            DumpRow::Delta {
                offset: 0,
                lockspace: "LS".into(),
                resource: "hostA".into(),
                timestamp: 356,
                owner_id: 1,
                owner_generation: 1,
                extra: vec!["2".into(), "5".into()],
            }
        );
        assert!(matches!(&rows[1], DumpRow::Paxos { lver, .. } if lver == "1/5/2"));
        assert_eq!(
            rows[2],
            DumpRow::Shared {
                host_id: 2,
                generation: 7
            }
        );
        assert!(matches!(
            &rows[3],
            DumpRow::RindexHeader {
                max_resources: 4096,
                ..
            }
        ));
        assert!(matches!(
            &rows[4],
            DumpRow::RindexEntry {
                res_offset: 5_242_880,
                ..
            }
        ));
        // Without -f a single trailing number is the lver of a paxos row.
        let plain = "01048576                                   LS                                             res1 0000000000 0000 0000 7\n";
        assert!(matches!(&parse_dump(plain, false)[0], DumpRow::Paxos { lver, .. } if lver == "7"));
    }

    #[test]
    fn first_difference_finds_the_byte() {
        let a = vec![0u8; 10_000];
        let mut b = a.clone();
        assert_eq!(first_difference(&a, &b), None);
        b[9_000] = 1;
        assert_eq!(first_difference(&a, &b), Some(9_000));
        assert_eq!(first_difference(&a, &a[..5]), Some(5));
    }
}
