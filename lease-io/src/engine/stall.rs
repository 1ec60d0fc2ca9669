//! Test support (feature `testing`): [`StallFile`], a regular file whose reads and writes can be
//! held in the kernel for as long as a test wants, to exercise deadlines and parked buffers.
//!
//! It is a one-file FUSE file system served by a thread of the test process: `/dev/fuse` is
//! opened, mounted with `mount -i -t fuse -o fd=0,...` (the descriptor passed as the child's
//! stdin, so no `unsafe` is needed), and the thread answers the kernel's requests from an
//! in-memory image. While [`StallFile::hold`] is in effect, `READ` and `WRITE` requests are not
//! answered; the I/O that issued them (a `pread` in a pool worker, an io_uring request in an
//! io-wq worker) stays blocked in the kernel with its user buffer pinned, exactly like I/O to a
//! hung SAN path. [`StallFile::release`] answers them (reads with the image as it is at that
//! moment, writes applied then). `O_DIRECT` on FUSE goes through the kernel's direct-I/O path,
//! so `Device` accepts the file (a 512-byte-sector regular file).
//!
//! Why FUSE and not device-mapper (`dmsetup suspend`, the `delay` target): FUSE is built into
//! far more kernels (the CI machines' kernels have no device-mapper at all), needs no extra
//! package, and holds I/O for an exact, test-controlled time instead of a fixed delay.
//!
//! Requirements: root, `/dev/fuse`, `mount`/`umount` (util-linux). [`require_stall_file`]
//! fails the test with the reason when they are missing, unless
//! [`crate::testing::ALLOW_SKIP_LOOP_ENV`]`=1` (the same switch as loop-device tests).
//!
//! Drop answers everything held, unmounts, and waits (bounded) for the server thread. Drop the
//! devices opened on the file first (declare the `StallFile` before them). Holding is bounded
//! even if the test process dies: the INIT reply sets FUSE's `request_timeout`
//! (30 s, Linux 6.14+), after which the kernel aborts the connection.
//!
//! The protocol subset served: INIT, LOOKUP, GETATTR, OPEN/OPENDIR, READDIR (empty), READ,
//! WRITE, STATFS, FLUSH/FSYNC/RELEASE/ACCESS (accepted), FORGET/INTERRUPT (no reply; an
//! interrupted held request is still held: FUSE waits for the answer, which is what makes a
//! cancelled I/O keep its buffer), everything else `ENOSYS`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::sys;
use crate::testing::ALLOW_SKIP_LOOP_ENV;

/// Name of the file inside the mount.
const FILE_NAME: &str = "disk";
/// Largest WRITE payload the kernel sends (`max_write` in the INIT reply).
const MAX_WRITE_BYTES: u32 = 128 << 10;
/// Buffer for one request: a WRITE header plus `MAX_WRITE_BYTES`, with room to spare.
const REQUEST_BUF_BYTES: usize = MAX_WRITE_BYTES as usize + (64 << 10);
/// How long drop waits for the server thread to see the unmount.
const SERVER_EXIT_WAIT: Duration = Duration::from_secs(5);

const FUSE_ROOT_ID: u64 = 1;
const FILE_NODE_ID: u64 = 2;
const IN_HEADER_BYTES: usize = 40;
const OUT_HEADER_BYTES: usize = 16;

// Opcodes (<linux/fuse.h>).
const FUSE_LOOKUP: u32 = 1;
const FUSE_FORGET: u32 = 2;
const FUSE_GETATTR: u32 = 3;
const FUSE_OPEN: u32 = 14;
const FUSE_READ: u32 = 15;
const FUSE_WRITE: u32 = 16;
const FUSE_STATFS: u32 = 17;
const FUSE_RELEASE: u32 = 18;
const FUSE_FSYNC: u32 = 20;
const FUSE_FLUSH: u32 = 25;
const FUSE_INIT: u32 = 26;
const FUSE_OPENDIR: u32 = 27;
const FUSE_READDIR: u32 = 28;
const FUSE_RELEASEDIR: u32 = 29;
const FUSE_FSYNCDIR: u32 = 30;
const FUSE_ACCESS: u32 = 34;
const FUSE_INTERRUPT: u32 = 36;
const FUSE_DESTROY: u32 = 38;
const FUSE_BATCH_FORGET: u32 = 42;

/// The protocol minor version we speak (7.43: Linux 6.14, `request_timeout`), or the kernel's
/// if older (older kernels ignore the timeout and everything else works the same).
const FUSE_MINOR_MAX: u32 = 43;
/// `FUSE_INIT_EXT`: the reply's `flags2` field is valid.
const FUSE_INIT_EXT: u32 = 1 << 30;
/// `FUSE_REQUEST_TIMEOUT` (bit 42 of the 64-bit flags, so bit 10 of `flags2`).
const FUSE2_REQUEST_TIMEOUT: u32 = 1 << 10;
/// Kernel-side bound on any request we hold: past it (checked every 15 s or so) the kernel
/// aborts the connection, failing the held I/O with `ECONNABORTED`. This is the safety net for
/// a test process killed while holding: its own threads would otherwise wait for an answer
/// that its dead server thread can never give, and the process could never exit.
const REQUEST_TIMEOUT_SECONDS: u16 = 30;

#[derive(Debug)]
enum HeldOp {
    Read { offset: u64, size: u32 },
    Write { offset: u64, data: Vec<u8> },
}

#[derive(Debug)]
struct Held {
    unique: u64,
    op: HeldOp,
}

#[derive(Debug)]
struct ServerState {
    data: Vec<u8>,
    hold: bool,
    held: Vec<Held>,
    exited: bool,
}

#[derive(Debug)]
struct Server {
    dev: File,
    state: Mutex<ServerState>,
    cond: Condvar,
}

/// A FUSE-served regular file whose I/O can be held. See the module docs.
#[derive(Debug)]
pub struct StallFile {
    server: Arc<Server>,
    dir: PathBuf,
    path: PathBuf,
    thread: Option<JoinHandle<()>>,
}

fn find_program(name: &str) -> PathBuf {
    let in_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .collect()
        })
        .unwrap_or_default();
    let fixed = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"].map(|d| Path::new(d).join(name));
    in_path
        .into_iter()
        .chain(fixed)
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn run(program: &str, args: &[&str], stdin: Stdio) -> Result<(), String> {
    let output = Command::new(find_program(program))
        .args(args)
        .stdin(stdin)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(())
}

impl StallFile {
    /// Mounts a FUSE file system holding one zero-filled file of `size_bytes` (a multiple of
    /// 512) and starts serving it. Errors are readable reasons (not root, no `/dev/fuse`,
    /// `mount` failing).
    pub fn mount(size_bytes: usize) -> Result<StallFile, String> {
        if size_bytes == 0 || size_bytes & 511 != 0 {
            return Err(format!(
                "size {size_bytes} is not a non-zero multiple of 512"
            ));
        }
        let euid = sys::effective_uid();
        if euid != 0 {
            return Err(format!("mounting FUSE needs root, running as euid {euid}"));
        }
        let dev = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
            .map_err(|e| format!("cannot open /dev/fuse: {e}"))?;
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lease-stall-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create mount point {}: {e}", dir.display()))?;
        let dir_str = dir
            .to_str()
            .ok_or_else(|| format!("mount point {} is not UTF-8", dir.display()))?
            .to_string();
        let child_fd = dev
            .try_clone()
            .map_err(|e| format!("cannot duplicate the /dev/fuse descriptor: {e}"))?;
        let mounted = run(
            "mount",
            &[
                "-i",
                "-t",
                "fuse",
                "-o",
                "fd=0,rootmode=40000,user_id=0,group_id=0,allow_other",
                "lease-stall",
                &dir_str,
            ],
            Stdio::from(child_fd),
        );
        if let Err(e) = mounted {
            let _ = std::fs::remove_dir(&dir);
            return Err(e);
        }
        let server = Arc::new(Server {
            dev,
            state: Mutex::new(ServerState {
                data: vec![0; size_bytes],
                hold: false,
                held: Vec::new(),
                exited: false,
            }),
            cond: Condvar::new(),
        });
        let thread_server = Arc::clone(&server);
        let thread = std::thread::Builder::new()
            .name("lease-stall-fuse".into())
            .spawn(move || thread_server.serve());
        let thread = match thread {
            Ok(thread) => thread,
            Err(e) => {
                let _ = run("umount", &["-l", &dir_str], Stdio::null());
                let _ = std::fs::remove_dir(&dir);
                return Err(format!("cannot spawn the FUSE server thread: {e}"));
            }
        };
        Ok(StallFile {
            server,
            path: dir.join(FILE_NAME),
            dir,
            thread: Some(thread),
        })
    }

    /// The file to open with `Device::open`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// From now on, READ and WRITE requests are held unanswered (until [`StallFile::release`]).
    pub fn hold(&self) {
        self.server.lock().hold = true;
    }

    /// Stops holding and answers every held request, in arrival order: reads get the image as
    /// it is now, writes are applied now.
    pub fn release(&self) {
        let held = {
            let mut state = self.server.lock();
            state.hold = false;
            std::mem::take(&mut state.held)
        };
        for h in held {
            self.server.answer(h.unique, h.op);
        }
    }

    /// Requests held right now.
    pub fn held(&self) -> usize {
        self.server.lock().held.len()
    }

    /// Blocks until at least `count` requests are held, or `until`. Returns whether they are.
    pub fn wait_held(&self, count: usize, until: Instant) -> bool {
        let mut state = self.server.lock();
        loop {
            if state.held.len() >= count {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            state = self
                .server
                .cond
                .wait_timeout(state, until - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// A copy of `len` bytes of the image at `offset` (what the "device" holds).
    pub fn contents(&self, offset: usize, len: usize) -> Vec<u8> {
        let state = self.server.lock();
        let end = (offset + len).min(state.data.len());
        state.data[offset.min(end)..end].to_vec()
    }

    /// Overwrites the image at `offset` behind the kernel's back (as another host would).
    pub fn set_contents(&self, offset: usize, bytes: &[u8]) {
        let mut state = self.server.lock();
        let end = (offset + bytes.len()).min(state.data.len());
        let n = end.saturating_sub(offset);
        state.data[offset..end].copy_from_slice(&bytes[..n]);
    }
}

impl Drop for StallFile {
    fn drop(&mut self) {
        self.release();
        let dir = self.dir.to_string_lossy().into_owned();
        if run("umount", &[&dir], Stdio::null()).is_err() {
            // Something still has the file open: detach now, the kernel finishes when it closes.
            if let Err(e) = run("umount", &["-l", &dir], Stdio::null()) {
                eprintln!("warning: {e}");
            }
        }
        let until = Instant::now() + SERVER_EXIT_WAIT;
        let exited = {
            let mut state = self.server.lock();
            while !state.exited && Instant::now() < until {
                let left = until.saturating_duration_since(Instant::now());
                state = self
                    .server
                    .cond
                    .wait_timeout(state, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            state.exited
        };
        if let Some(thread) = self.thread.take() {
            if exited {
                let _ = thread.join();
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Mounts a [`StallFile`] or fails the calling test, unless [`ALLOW_SKIP_LOOP_ENV`]`=1`, in which
/// case it prints `SKIP: <test>: <reason>` and returns `None`.
///
/// # Panics
///
/// When the file cannot be mounted and skipping is not allowed: this is how the test fails.
pub fn require_stall_file(test_name: &str, size_bytes: usize) -> Option<StallFile> {
    match StallFile::mount(size_bytes) {
        Ok(file) => Some(file),
        Err(reason) if std::env::var(ALLOW_SKIP_LOOP_ENV).is_ok_and(|v| v == "1") => {
            println!("SKIP: {test_name}: {reason} ({ALLOW_SKIP_LOOP_ENV}=1)");
            None
        }
        Err(reason) => panic!(
            "{test_name}: cannot mount the FUSE stall file: {reason}. Stall tests need root, \
             /dev/fuse and mount; set {ALLOW_SKIP_LOOP_ENV}=1 to skip them on machines without"
        ),
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// `struct fuse_attr` (88 bytes).
fn attr(node: u64, size: u64) -> Vec<u8> {
    let (mode, nlink, size) = if node == FUSE_ROOT_ID {
        (libc::S_IFDIR | 0o755, 2u32, 0)
    } else {
        (libc::S_IFREG | 0o644, 1u32, size)
    };
    let mut a = Vec::with_capacity(88);
    a.extend_from_slice(&node.to_le_bytes()); // ino
    a.extend_from_slice(&size.to_le_bytes()); // size
    a.extend_from_slice(&size.div_ceil(512).to_le_bytes()); // blocks
    a.extend_from_slice(&[0; 24]); // atime, mtime, ctime
    a.extend_from_slice(&[0; 12]); // atimensec, mtimensec, ctimensec
    a.extend_from_slice(&mode.to_le_bytes());
    a.extend_from_slice(&nlink.to_le_bytes());
    a.extend_from_slice(&[0; 12]); // uid, gid, rdev
    a.extend_from_slice(&4096u32.to_le_bytes()); // blksize
    a.extend_from_slice(&[0; 4]); // flags
    assert_eq!(a.len(), 88);
    a
}

/// Attribute and entry cache validity, in seconds (the image never changes size).
const VALID_SECONDS: u64 = 3600;

impl Server {
    fn lock(&self) -> MutexGuard<'_, ServerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reply(&self, unique: u64, error: i32, payload: &[u8]) {
        let len = (OUT_HEADER_BYTES + payload.len()) as u32;
        let mut msg = Vec::with_capacity(len as usize);
        msg.extend_from_slice(&len.to_le_bytes());
        msg.extend_from_slice(&error.to_le_bytes());
        msg.extend_from_slice(&unique.to_le_bytes());
        msg.extend_from_slice(payload);
        // One write per reply. It fails (ENOENT) when the kernel gave up on the request
        // (aborted connection): nothing to do then.
        let _ = (&self.dev).write(&msg);
    }

    fn serve(self: Arc<Self>) {
        let mut buf = vec![0u8; REQUEST_BUF_BYTES];
        loop {
            match (&self.dev).read(&mut buf) {
                Ok(n) => self.handle(&buf[..n]),
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EINTR | libc::EAGAIN | libc::ENOENT)
                    ) =>
                {
                    continue
                }
                // ENODEV: unmounted (connection aborted). Anything else: give up serving.
                Err(_) => break,
            }
        }
        self.lock().exited = true;
        self.cond.notify_all();
    }

    fn handle(&self, req: &[u8]) {
        let (Some(opcode), Some(unique), Some(node)) =
            (u32_at(req, 4), u64_at(req, 8), u64_at(req, 16))
        else {
            return;
        };
        let body = req.get(IN_HEADER_BYTES..).unwrap_or(&[]);
        let size = self.lock().data.len() as u64;
        match opcode {
            FUSE_INIT => {
                let kernel_minor = u32_at(body, 4).unwrap_or(0);
                let mut out = Vec::with_capacity(64);
                out.extend_from_slice(&7u32.to_le_bytes()); // major
                out.extend_from_slice(&kernel_minor.min(FUSE_MINOR_MAX).to_le_bytes());
                out.extend_from_slice(&0u32.to_le_bytes()); // max_readahead
                                                            // flags: no async dio (a held request blocks its issuer), only INIT_EXT so
                                                            // that flags2 is read.
                out.extend_from_slice(&FUSE_INIT_EXT.to_le_bytes());
                out.extend_from_slice(&16u16.to_le_bytes()); // max_background
                out.extend_from_slice(&12u16.to_le_bytes()); // congestion_threshold
                out.extend_from_slice(&MAX_WRITE_BYTES.to_le_bytes());
                out.extend_from_slice(&1u32.to_le_bytes()); // time_gran
                out.extend_from_slice(&[0; 4]); // max_pages, map_alignment
                out.extend_from_slice(&FUSE2_REQUEST_TIMEOUT.to_le_bytes()); // flags2
                out.extend_from_slice(&[0; 4]); // max_stack_depth
                out.extend_from_slice(&REQUEST_TIMEOUT_SECONDS.to_le_bytes());
                out.resize(64, 0); // unused
                self.reply(unique, 0, &out);
            }
            FUSE_LOOKUP => {
                let name = body.split(|&b| b == 0).next().unwrap_or(&[]);
                if node != FUSE_ROOT_ID || name != FILE_NAME.as_bytes() {
                    self.reply(unique, -libc::ENOENT, &[]);
                    return;
                }
                let mut out = Vec::with_capacity(128);
                out.extend_from_slice(&FILE_NODE_ID.to_le_bytes()); // nodeid
                out.extend_from_slice(&0u64.to_le_bytes()); // generation
                out.extend_from_slice(&VALID_SECONDS.to_le_bytes()); // entry_valid
                out.extend_from_slice(&VALID_SECONDS.to_le_bytes()); // attr_valid
                out.extend_from_slice(&[0; 8]); // entry_valid_nsec, attr_valid_nsec
                out.extend_from_slice(&attr(FILE_NODE_ID, size));
                self.reply(unique, 0, &out);
            }
            FUSE_GETATTR => {
                if node != FUSE_ROOT_ID && node != FILE_NODE_ID {
                    self.reply(unique, -libc::ENOENT, &[]);
                    return;
                }
                let mut out = Vec::with_capacity(104);
                out.extend_from_slice(&VALID_SECONDS.to_le_bytes()); // attr_valid
                out.extend_from_slice(&[0; 8]); // attr_valid_nsec, dummy
                out.extend_from_slice(&attr(node, size));
                self.reply(unique, 0, &out);
            }
            FUSE_OPEN | FUSE_OPENDIR => {
                let mut out = Vec::with_capacity(16);
                out.extend_from_slice(&1u64.to_le_bytes()); // fh
                out.extend_from_slice(&[0; 8]); // open_flags, backing_id
                self.reply(unique, 0, &out);
            }
            FUSE_READDIR => self.reply(unique, 0, &[]),
            FUSE_STATFS => {
                let mut out = vec![0u8; 80];
                out[40..44].copy_from_slice(&4096u32.to_le_bytes()); // bsize
                out[44..48].copy_from_slice(&255u32.to_le_bytes()); // namelen
                out[48..52].copy_from_slice(&4096u32.to_le_bytes()); // frsize
                self.reply(unique, 0, &out);
            }
            FUSE_READ => {
                let (Some(offset), Some(len)) = (u64_at(body, 8), u32_at(body, 16)) else {
                    self.reply(unique, -libc::EINVAL, &[]);
                    return;
                };
                self.hold_or_answer(unique, HeldOp::Read { offset, size: len });
            }
            FUSE_WRITE => {
                let (Some(offset), Some(len)) = (u64_at(body, 8), u32_at(body, 16)) else {
                    self.reply(unique, -libc::EINVAL, &[]);
                    return;
                };
                let Some(data) = body.get(40..40 + len as usize) else {
                    self.reply(unique, -libc::EINVAL, &[]);
                    return;
                };
                let data = data.to_vec();
                self.hold_or_answer(unique, HeldOp::Write { offset, data });
            }
            FUSE_RELEASE | FUSE_RELEASEDIR | FUSE_FLUSH | FUSE_FSYNC | FUSE_FSYNCDIR
            | FUSE_ACCESS | FUSE_DESTROY => self.reply(unique, 0, &[]),
            FUSE_FORGET | FUSE_BATCH_FORGET | FUSE_INTERRUPT => {}
            _ => self.reply(unique, -libc::ENOSYS, &[]),
        }
    }

    fn hold_or_answer(&self, unique: u64, op: HeldOp) {
        {
            let mut state = self.lock();
            if state.hold {
                state.held.push(Held { unique, op });
                self.cond.notify_all();
                return;
            }
        }
        self.answer(unique, op);
    }

    fn answer(&self, unique: u64, op: HeldOp) {
        match op {
            HeldOp::Read { offset, size } => {
                let data = {
                    let state = self.lock();
                    let len = state.data.len() as u64;
                    let start = offset.min(len) as usize;
                    let end = offset.saturating_add(u64::from(size)).min(len) as usize;
                    state.data[start..end].to_vec()
                };
                self.reply(unique, 0, &data);
            }
            HeldOp::Write { offset, data } => {
                let fits = {
                    let mut state = self.lock();
                    let end = offset.checked_add(data.len() as u64);
                    match end {
                        Some(end) if end <= state.data.len() as u64 => {
                            state.data[offset as usize..end as usize].copy_from_slice(&data);
                            true
                        }
                        _ => false,
                    }
                };
                if fits {
                    let mut out = Vec::with_capacity(8);
                    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
                    out.extend_from_slice(&[0; 4]);
                    self.reply(unique, 0, &out);
                } else {
                    self.reply(unique, -libc::EFBIG, &[]);
                }
            }
        }
    }
}
