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
    let demo = Run::new(LEASE, &["demo".as_ref(), image.as_os_str()]);
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
