//! A resource release whose I/O times out is reported done to the client (as sanlock does) and
//! retried in the background (format spec §5.5 step 3) until the lease is free on disk; a
//! retry never frees a leader that another host wrote meanwhile; the resource cannot be
//! acquired again on this host while the retries run.
//!
//! The resource lease lives on a FUSE file whose I/O the test holds (`StallFile`): the hung
//! SAN path. The lockspace is on a regular file, so our delta lease keeps renewing. Needs root
//! and /dev/fuse (`LEASE_TESTS_ALLOW_SKIP_LOOP=1` skips).

use std::sync::Arc;
use std::time::{Duration, Instant};

use lease_core::geometry::Geometry;
use lease_core::ondisk::{lockspace_init_area, paxos_init_area, LeaderRecord, Name};
use lease_daemon::daemon::{Daemon, DaemonConfig};
use lease_daemon::exec::EngineExecutor;
use lease_daemon::lockspace::LockspaceSpec;
use lease_daemon::resource::{AcquireOptions, ResourceSpec};
use lease_io::engine::stall::{require_stall_file, StallFile};
use lease_io::{Access, Device, EngineKind};

/// How long the retries may take to free the lease once the I/O completes again: the first
/// retry comes io_timeout (1 s) after the failure, the next ones every 2 s.
const FREED_LIMIT: Duration = Duration::from_secs(15);

fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

fn daemon(kind: EngineKind) -> Arc<Daemon<EngineExecutor>> {
    let config = DaemonConfig {
        io_timeout_seconds: 1,
        watchdog_fire_timeout_seconds: 60,
        our_host_name: name("hostA"),
        kill_grace_seconds: 40,
        log_to_stderr: false,
        use_watchdog: false,
    };
    Daemon::new(config, EngineExecutor::new(kind).unwrap())
}

fn leader(stall: &StallFile) -> LeaderRecord {
    LeaderRecord::decode(&stall.contents(0, 512)).unwrap()
}

/// Polls (bounded) until `done`, pacing the polls; fails with `what` and the last state.
async fn wait_for<T: std::fmt::Debug>(
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> (bool, T),
) -> T {
    let start = Instant::now();
    loop {
        let (done, seen) = probe();
        if done {
            return seen;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}; last: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `taken_meanwhile`: while our release is pending, another host (host 2) commits a newer
/// version of the lease; the retries must leave it alone.
async fn release_retried(test: &str, kind: EngineKind, taken_meanwhile: bool) {
    let Some(stall) = require_stall_file(test, 1 << 20) else {
        return;
    };
    let area = paxos_init_area(Geometry::S512_A1M, &name("LS"), &name("vm1"), 0, None);
    stall.set_contents(0, &area);
    let dir = tempfile::tempdir().unwrap();
    let ls_path = dir.path().join("ls.img");
    std::fs::write(&ls_path, vec![0u8; 1 << 20]).unwrap();
    Device::open(&ls_path, Access::ReadWrite)
        .unwrap()
        .write_at(0, &lockspace_init_area(Geometry::S512_A1M, &name("LS"), 1))
        .unwrap();

    let a = daemon(kind);
    let ls = LockspaceSpec {
        name: name("LS"),
        host_id: 1,
        path: ls_path,
        offset: 0,
    };
    a.add_lockspace(ls, None, true).await.unwrap();
    let res = ResourceSpec {
        lockspace: name("LS"),
        name: name("vm1"),
        disks: vec![(stall.path().to_path_buf(), 0)],
    };
    let client = a.registry.register(std::process::id(), "c".into()).unwrap();
    let held = a
        .acquire(client, res.clone(), AcquireOptions::default())
        .await
        .unwrap();
    assert_eq!(held.held.lver, 1);
    let ours = leader(&stall);
    assert_eq!((ours.owner_id, ours.lver), (1, 1));
    assert_ne!(ours.timestamp, 0);

    // The resource's storage hangs: every I/O of the release times out.
    stall.hold();
    a.release(client, &name("LS"), &name("vm1"))
        .await
        .expect("a release that failed on I/O is reported done");
    assert!(stall.held() > 0, "the release issued no I/O");
    assert_eq!(leader(&stall), ours, "nothing reached the disk");
    assert!(a.registry.releasing(&name("LS"), &name("vm1")));
    // Not acquirable here while the release is pending (-EAGAIN).
    let err = a
        .acquire(client, res.clone(), AcquireOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.errno(), -libc::EAGAIN, "{err}");

    let theirs = taken_meanwhile.then(|| {
        // Host 2 found us dead (say) and committed lver 2 while our disk path hung.
        let mut theirs = ours;
        theirs.lver = 2;
        theirs.owner_id = 2;
        theirs.owner_generation = 1;
        theirs.write_id = 2;
        theirs.write_generation = 1;
        theirs.timestamp = ours.timestamp + 100;
        let theirs = theirs.with_checksum();
        stall.set_contents(0, &theirs.encode());
        theirs
    });
    // The storage answers again (the held I/O completes now, late).
    stall.release();
    wait_for("the release retries to end", FREED_LIMIT, || {
        let pending = a.registry.releasing(&name("LS"), &name("vm1"));
        (!pending, leader(&stall))
    })
    .await;
    let after = leader(&stall);
    match theirs {
        None => {
            // Free, still naming us as the last owner, version kept (spec §5.5).
            assert_eq!(after.timestamp, 0, "{after:?}");
            let log = String::from_utf8_lossy(&a.log_text()).into_owned();
            assert!(log.contains("release vm1: released on retry"), "{log}");
            assert_eq!((after.lver, after.owner_id, after.write_id), (1, 1, 1));
            // And acquirable again.
            let again = a
                .acquire(client, res.clone(), AcquireOptions::default())
                .await
                .unwrap();
            assert_eq!(again.held.lver, 2);
            a.release(client, &name("LS"), &name("vm1")).await.unwrap();
            assert_eq!(leader(&stall).timestamp, 0);
        }
        Some(theirs) => assert_eq!(after, theirs, "a retry touched host 2's leader"),
    }
    a.client_gone(client).await;
    drop(a);
}

mod engines {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_timed_out_release_is_retried_until_free_io_uring() {
        release_retried("release_retry_uring", EngineKind::IoUring, false).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_timed_out_release_is_retried_until_free_threads() {
        release_retried("release_retry_threads", EngineKind::Threads, false).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn retries_leave_a_leader_another_host_wrote_alone() {
        release_retried("release_retry_taken", EngineKind::Threads, true).await;
    }
}
