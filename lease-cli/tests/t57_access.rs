//! Only root and the configured user or group may talk to the daemon (peer credentials); a
//! refused peer does not disturb anyone else.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lease_tests::Scratch;

const LEASE: &str = env!("CARGO_BIN_EXE_lease");

struct Daemon {
    child: Child,
    run_dir: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn version_ok(run_dir: &std::path::Path) -> bool {
    Command::new(LEASE)
        .args(["client", "version", "--run-dir"])
        .arg(run_dir)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn an_unauthorised_peer_is_disconnected_and_others_are_served() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            std::env::var("LEASE_TESTS_ALLOW_SKIP_LOOP").is_ok_and(|v| v == "1"),
            "needs root to connect as another user; set LEASE_TESTS_ALLOW_SKIP_LOOP=1 to skip"
        );
        return;
    }
    let scratch = Scratch::new("access");
    let run_dir = scratch.path().join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let child = Command::new(LEASE)
        .args(["daemon", "-D", "-w", "0", "--run-dir"])
        .arg(&run_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let daemon = Daemon { child, run_dir };
    let start = Instant::now();
    while !version_ok(&daemon.run_dir) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let "nobody" reach the socket at the file-system level: only the credential check stops it.
    use std::os::unix::fs::PermissionsExt;
    for path in [
        scratch.path().to_path_buf(),
        daemon.run_dir.clone(),
        daemon.run_dir.join("sanlock.sock"),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let socket = daemon.run_dir.join("sanlock.sock");
    // A VERSION request sent as uid/gid 65534: the daemon closes without answering.
    let script = format!(
        "import os, socket, struct\n\
         os.setgid(65534); os.setuid(65534)\n\
         s = socket.socket(socket.AF_UNIX); s.connect({socket:?})\n\
         s.send(struct.pack('<8I', 0x04282010, 1, 28, 0, 32, 0, 0, 0))\n\
         try:\n    data = s.recv(64)\nexcept ConnectionResetError:\n    data = b''\n\
         print('REPLY', len(data))\n"
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("REPLY 0"),
        "an unauthorised peer got an answer: {text}"
    );
    // Root is still served.
    assert!(version_ok(&daemon.run_dir));
}
