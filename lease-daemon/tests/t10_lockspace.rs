//! Joining, renewing and leaving lockspaces with two in-process daemons on one file.

use std::sync::Arc;
use std::time::Duration;

use lease_core::geometry::Geometry;
use lease_core::host_table::HostState;
use lease_core::ondisk::{lockspace_init_area, DeltaSector, Name};
use lease_daemon::daemon::{Daemon, DaemonConfig};
use lease_daemon::exec::EngineExecutor;
use lease_daemon::lockspace::{LockspaceSpec, Phase};
use lease_io::EngineKind;
use lease_io::{Access, Device};

fn config(name: &str) -> DaemonConfig {
    DaemonConfig {
        io_timeout_seconds: 1,
        watchdog_fire_timeout_seconds: 60,
        our_host_name: Name::new(name).unwrap(),
        kill_grace_seconds: 40,
        log_to_stderr: false,
        use_watchdog: false,
    }
}

fn spec(path: &std::path::Path, host_id: u64) -> LockspaceSpec {
    LockspaceSpec {
        name: Name::new("LS").unwrap(),
        host_id,
        path: path.to_path_buf(),
        offset: 0,
    }
}

/// Wait (bounded) until `cond` holds, polling the daemon's state.
async fn eventually(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn two_daemons_join_see_each_other_and_leave(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.img");
    let device = Device::open(
        &{
            std::fs::write(&path, vec![0u8; 2 << 20]).unwrap();
            path.clone()
        },
        Access::ReadWrite,
    )
    .unwrap();
    device
        .write_at(
            0,
            &lockspace_init_area(Geometry::S512_A1M, &Name::new("LS").unwrap(), 1),
        )
        .unwrap();

    let a = Daemon::new(config("hostA"), EngineExecutor::new(kind).unwrap());
    let b = Daemon::new(config("hostB"), EngineExecutor::new(kind).unwrap());
    let (ra, rb) = tokio::join!(
        a.add_lockspace(spec(&path, 1), None, true),
        b.add_lockspace(spec(&path, 2), None, true)
    );
    ra.unwrap();
    rb.unwrap();
    let name = Name::new("LS").unwrap();
    assert_eq!(a.inq_lockspace(&name).unwrap(), ());
    assert_eq!(
        a.add_lockspace(spec(&path, 1), None, true)
            .await
            .unwrap_err()
            .errno(),
        -17
    );

    // Each sees the other live once it has watched one renewal of the other.
    let ls_a = a.lockspace(&name).unwrap();
    let ls_b = b.lockspace(&name).unwrap();
    let state_of = |ls: &lease_daemon::lockspace::Lockspace, host: u64| {
        ls.host_states()
            .into_iter()
            .find(|h| h.0 == host)
            .map(|h| h.1)
    };
    eventually("A sees B live", Duration::from_secs(10), || {
        state_of(&ls_a, 2) == Some(HostState::Live)
    })
    .await;
    eventually("B sees A live", Duration::from_secs(10), || {
        state_of(&ls_b, 1) == Some(HostState::Live)
    })
    .await;
    assert!(ls_a.renewal_history().len() >= 2);
    assert_eq!(ls_a.phase(), Phase::Live);

    // A renewal updates the host table in place when no reader holds it: no copy of the
    // table (a record per slot) per renewal.
    let table_at = |ls: &lease_daemon::lockspace::Lockspace| {
        Arc::as_ptr(&ls.view().host_table.expect("joined")).addr()
    };
    let before = table_at(&ls_a);
    let renewals = ls_a.renewal_history().len();
    eventually("A renews again", Duration::from_secs(10), || {
        ls_a.renewal_history().len() > renewals
    })
    .await;
    assert_eq!(table_at(&ls_a), before, "the host table was copied");
    assert_eq!(state_of(&ls_a, 2), Some(HostState::Live));

    // A leaves cleanly: its slot is free on disk and B reports it free.
    a.rem_lockspace(&name, true).await.unwrap();
    assert!(a.lockspace(&name).is_none());
    let sector = device.read_at(0, 512).unwrap();
    let record = DeltaSector::decode(&sector).unwrap().leader;
    assert_eq!(
        (record.timestamp, record.owner_id, record.owner_generation),
        (0, 1, 1)
    );
    eventually("B sees A free", Duration::from_secs(10), || {
        state_of(&ls_b, 1).is_none_or(|s| s == HostState::Free)
    })
    .await;
    b.rem_lockspace(&name, true).await.unwrap();
}

async fn bad_lockspaces_are_refused_and_nothing_is_written(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blank.img");
    std::fs::write(&path, vec![0u8; 2 << 20]).unwrap();
    let d = Daemon::new(config("hostA"), EngineExecutor::new(kind).unwrap());
    // Uninitialised area: bad magic (-223), nothing written.
    let err = d
        .add_lockspace(spec(&path, 1), None, true)
        .await
        .unwrap_err();
    assert_eq!(err.errno(), -223);
    assert!(std::fs::read(&path).unwrap().iter().all(|&b| b == 0));
    assert!(d.lockspace(&Name::new("LS").unwrap()).is_none());

    // host_id above max_hosts: -231; wrong name: -226.
    let device = Device::open(&path, Access::ReadWrite).unwrap();
    device
        .write_at(
            0,
            &lockspace_init_area(Geometry::S512_A1M, &Name::new("LS").unwrap(), 1),
        )
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    assert_eq!(
        d.add_lockspace(spec(&path, 2001), None, true)
            .await
            .unwrap_err()
            .errno(),
        -231
    );
    let mut other = spec(&path, 1);
    other.name = Name::new("OTHER").unwrap();
    assert_eq!(
        d.add_lockspace(other, None, true)
            .await
            .unwrap_err()
            .errno(),
        -226
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// Every test runs on both I/O engines: io_uring and the thread-pool fallback.
mod engines {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_daemons_join_see_each_other_and_leave_io_uring() {
        two_daemons_join_see_each_other_and_leave(EngineKind::IoUring).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_daemons_join_see_each_other_and_leave_threads() {
        two_daemons_join_see_each_other_and_leave(EngineKind::Threads).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_lockspaces_are_refused_and_nothing_is_written_io_uring() {
        bad_lockspaces_are_refused_and_nothing_is_written(EngineKind::IoUring).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_lockspaces_are_refused_and_nothing_is_written_threads() {
        bad_lockspaces_are_refused_and_nothing_is_written(EngineKind::Threads).await;
    }
}
