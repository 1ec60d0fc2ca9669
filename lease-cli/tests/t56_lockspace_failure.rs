//! Lockspace failure fences the lease holders: when the lockspace's storage fails (I/O errors)
//! or hangs, the daemon stops renewing, fails the lockspace at 8·io_timeout after the last
//! good renewal and kills every process holding leases in it, before host_dead_seconds, the
//! moment another host may take those leases (format spec §8).
//!
//! The device is a loop device whose backing file the test shrinks to nothing under the running
//! daemon, so every I/O fails (this kernel has no device-mapper for error or delay targets; hung
//! I/O is covered by the simulator). Needs root and losetup.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lease_io::testing::LoopDevice;
use lease_tests::Scratch;

const LEASE: &str = env!("CARGO_BIN_EXE_lease");
/// io_timeout of the test lockspace.
const IO_TIMEOUT_S: u64 = 1;
/// watchdog_fire_timeout of the test daemon: host_dead = 8·1 + 10 = 18 s.
const FIRE_TIMEOUT_S: u64 = 10;

fn host_dead() -> Duration {
    Duration::from_secs(8 * IO_TIMEOUT_S + FIRE_TIMEOUT_S)
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Make every later I/O to the loop device over `image` fail: shrink the backing file to
/// nothing and tell the loop driver (`losetup -c`), so reads and writes fall past the end.
fn break_storage(image: &Path, loop_dev: &Path) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(image)
        .unwrap()
        .set_len(0)
        .unwrap();
    run("losetup", &["-c", &loop_dev.display().to_string()]);
}

/// Our daemon in the foreground; killed on drop.
struct Daemon {
    child: Child,
    run_dir: PathBuf,
}

impl Daemon {
    fn start(scratch: &Scratch) -> Daemon {
        let run_dir = scratch.path().join("run");
        std::fs::create_dir_all(&run_dir).unwrap();
        let config = scratch.path().join("lease.conf");
        std::fs::write(
            &config,
            format!("watchdog_fire_timeout = {FIRE_TIMEOUT_S}\n"),
        )
        .unwrap();
        let child = Command::new(LEASE)
            .args(["daemon", "-D", "-w", "0", "-g", "2", "--run-dir"])
            .arg(&run_dir)
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let daemon = Daemon { child, run_dir };
        let start = Instant::now();
        while daemon.client(&["version"]).0 != 0 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        daemon
    }

    /// `lease client ARGS --run-dir DIR`: (exit status, stdout).
    fn client(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new(LEASE)
            .arg("client")
            .args(args)
            .arg("--run-dir")
            .arg(&self.run_dir)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn require_root_tools(test: &str) -> bool {
    let allow = std::env::var("LEASE_TESTS_ALLOW_SKIP_LOOP").is_ok_and(|v| v == "1");
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        return true;
    }
    let why = "needs root for loop devices";
    assert!(
        allow,
        "{test}: {why}; set LEASE_TESTS_ALLOW_SKIP_LOOP=1 to skip"
    );
    println!("SKIP: {test}: {why}");
    false
}

/// Holder of R1 through `lease client command`, then the storage fails.
fn holder_is_killed_before_host_dead(test: &str) {
    if !require_root_tools(test) {
        return;
    }
    let scratch = Scratch::new(test);
    let image = scratch.image("disk.img", 8 << 20);
    let looped = LoopDevice::attach(&image, 512).unwrap();
    let dev = looped.path().display().to_string();
    run(
        LEASE,
        &["direct", "init", "-s", &format!("LS:0:{dev}:0"), "-o", "1"],
    );
    run(LEASE, &["direct", "init", "-r", &format!("LS:R1:{dev}:1M")]);
    let daemon = Daemon::start(&scratch);
    let (rc, out) = daemon.client(&["add_lockspace", "-s", &format!("LS:1:{dev}:0"), "-o", "1"]);
    assert_eq!(rc, 0, "{out}");

    let mut holder = Command::new(LEASE)
        .args([
            "client",
            "command",
            "-r",
            &format!("LS:R1:{dev}:1048576"),
            "--run-dir",
        ])
        .arg(&daemon.run_dir)
        .args(["-c", "/bin/sleep", "600"])
        .spawn()
        .unwrap();
    let pid = holder.id().to_string();
    let start = Instant::now();
    loop {
        let (_, out) = daemon.client(&["inquire", "-p", &pid]);
        if out.contains("LS:R1:") {
            break;
        }
        assert!(
            holder.try_wait().unwrap().is_none(),
            "holder exited: acquire failed?"
        );
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "holder never got R1: {out}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Break the storage. The last good renewal was at most one renewal interval ago.
    let broken = Instant::now();
    break_storage(&image, looped.path());
    let status = loop {
        if let Some(status) = holder.try_wait().unwrap() {
            break status;
        }
        assert!(
            broken.elapsed() < Duration::from_secs(60),
            "holder still alive 60 s after the storage broke"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let died_after = broken.elapsed();
    use std::os::unix::process::ExitStatusExt;
    assert!(
        status.signal().is_some(),
        "holder must be killed by a signal, got {status:?}"
    );
    // Not on the first failed I/O: only once renewals have failed for a while (8·io after the
    // last success, which was at most 2·io before the break).
    assert!(
        died_after >= Duration::from_secs(5),
        "killed too early: {died_after:?}"
    );
    // Before another host may take the lease: host_dead after the last renewal.
    assert!(
        died_after < host_dead(),
        "killed after host_dead: {died_after:?}"
    );
    let (_, status_text) = daemon.client(&["status", "-D"]);
    assert!(status_text.contains("phase=failed"), "{status_text}");
}

#[test]
fn failing_storage_kills_the_holder_before_host_dead() {
    holder_is_killed_before_host_dead("t56_error");
}
