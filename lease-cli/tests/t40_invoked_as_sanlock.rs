//! Installed or symlinked as `sanlock`, the binary behaves exactly as `lease`: same parser,
//! same stdout, stderr and exit status, same bytes written.

mod common;

use common::{lease, s, LEASE};
use lease_tests::{device_bytes, Run, Scratch, MIB};

#[test]
fn sanlock_symlink_gives_identical_results() {
    let scratch = Scratch::new("symlink");
    let link = scratch.path().join("sanlock");
    std::os::unix::fs::symlink(LEASE, &link).expect("symlink");
    let ours = scratch.image("ours.img", 16 * MIB);
    let via_link = scratch.image("link.img", 16 * MIB);
    let commands: &[&[&str]] = &[
        &["direct", "init", "-s", "LS:0:{}:0", "-o", "1"],
        &["direct", "init", "-r", "LS:res1:{}:1M", "-n", "4"],
        &[
            "direct",
            "init",
            "-r",
            "LS:res2:{}:2M",
            "-Z",
            "4096",
            "-A",
            "1M",
        ],
        &["direct", "read_leader", "-s", "LS:1:{}:0"],
        &["direct", "read_leader", "-r", "LS:res1:{}:1M"],
        &["direct", "read_leader", "-r", "LS:nope:{}:1M"],
        &["--json", "direct", "read_leader", "-s", "LS:2:{}:0"],
        &["direct", "dump", "{}"],
        &["direct", "dump", "{}:1M:1M", "-f", "1"],
        &["direct", "dump", "{}", "--json"],
        &["direct", "init", "-s", "LS:0:{}:100"],
        &["direct", "init", "-s", "LS:0:{}:0", "-Z", "512", "-A", "8M"],
        &["direct", "dump", "{}:7M"],
        &["direct", "init", "-Z", "1000"],
        &["direct", "--help"],
        &["direct", "init", "--help"],
        &["direct", "read_leader", "--help"],
        &["direct", "dump", "--help"],
        &["--help"],
    ];
    for command in commands {
        let run_with = |path: &std::path::Path, program: &std::path::Path| {
            let args: Vec<String> = command.iter().map(|a| a.replace("{}", s(path))).collect();
            let run = Run::new(program, &args);
            // The image path is the only intended difference.
            (
                run.status,
                run.stdout.replace(s(path), "IMG"),
                run.stderr.replace(s(path), "IMG"),
            )
        };
        let direct = run_with(&ours, std::path::Path::new(LEASE));
        let linked = run_with(&via_link, &link);
        assert_eq!(
            direct, linked,
            "{command:?} differs when invoked as sanlock"
        );
    }
    assert!(device_bytes(&ours) == device_bytes(&via_link));
    // Sanity: the commands did something.
    let run = lease(&["direct", "dump", s(&ours)]);
    assert_eq!(run.success().lines().count(), 3, "{}", run.describe());
}
