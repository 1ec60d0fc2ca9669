//! The README's main job: `lease demo DEVICE` lays out leases that the real sanlock reads.

use lease_tests::{Run, Sanlock, Scratch};

const LEASE: &str = env!("CARGO_BIN_EXE_lease");

#[test]
fn demo_lays_out_a_lockspace_and_resources_that_sanlock_reads() {
    let Some(sanlock) =
        Sanlock::require("demo_lays_out_a_lockspace_and_resources_that_sanlock_reads")
    else {
        return;
    };
    let scratch = Scratch::new("demo");
    let image = scratch.image("shared.img", 8 << 20);
    let demo = Run::new(
        LEASE,
        &["demo".as_ref(), image.as_os_str(), "--layout-only".as_ref()],
    );
    let out = demo.success();
    assert!(out.contains("init done 0"), "{out}");
    assert!(out.contains("read_leader done 0"), "{out}");
    // sanlock sees what the demo wrote: the lockspace and both resources.
    let dump = sanlock.ok(&["direct".as_ref(), "dump".as_ref(), image.as_os_str()]);
    assert!(dump.contains("vm1") && dump.contains("vm2"), "{dump}");
    let read = sanlock.ok(&[
        "direct",
        "read_leader",
        "-s",
        &format!("DEMO:1:{}:0", image.display()),
    ]);
    assert!(
        read.contains("read_leader done 0") && read.contains("space_name DEMO"),
        "{read}"
    );
}

#[test]
fn demo_refuses_a_device_too_small_and_writes_nothing() {
    let scratch = Scratch::new("demo_small");
    let image = scratch.image("tiny.img", 1 << 20);
    let before = std::fs::read(&image).unwrap();
    let run = Run::new(LEASE, &["demo".as_ref(), image.as_os_str()]);
    run.expect_status(1);
    assert_eq!(std::fs::read(&image).unwrap(), before);
}

/// The whole main job: three hosts, one lease, every step of its life on the timeline.
#[test]
fn demo_hosts_pass_the_lease_around_and_take_it_over_from_a_dead_host() {
    let scratch = Scratch::new("demo_hosts");
    let image = scratch.image("shared.img", 8 << 20);
    let demo = Run::new(LEASE, &["demo".as_ref(), image.as_os_str()]);
    let out = demo.success();
    for step in [
        "hostA  acquired vm1",
        "hostB  acquire of vm1 refused",
        "hostB  acquired vm1",
        "killed its holder",
        "hostC  acquired vm1",
        "hostA  took over vm1",
    ] {
        assert!(out.contains(step), "missing step {step:?} in:\n{out}");
    }
    // The takeover happened only after host_dead (18 s at the demo's timeouts) since hostC's
    // last renewal, which came at most one renewal interval (2 s) before its daemon was killed.
    let line = out.lines().find(|l| l.contains("took over vm1")).unwrap();
    let secs: f64 = line
        .split("vm1 ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        secs >= 16.0,
        "took over {secs} s after the kill, before host_dead: {line}"
    );
}
