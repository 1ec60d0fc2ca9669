//! Resource leases through two in-process daemons sharing one file.

use std::path::PathBuf;
use std::time::Duration;

use lease_core::geometry::Geometry;
use lease_core::host_table::HostState;
use lease_core::ondisk::{lockspace_init_area, paxos_init_area, LeaderRecord, Name};
use lease_daemon::daemon::{Daemon, DaemonConfig};
use lease_daemon::exec::EngineExecutor;
use lease_daemon::lockspace::LockspaceSpec;
use lease_daemon::resource::{AcquireOptions, ResourceSpec};
use lease_io::EngineKind;
use lease_io::{Access, Device};

fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

fn daemon(host: &str, kind: EngineKind) -> std::sync::Arc<Daemon<EngineExecutor>> {
    let config = DaemonConfig {
        io_timeout_seconds: 1,
        watchdog_fire_timeout_seconds: 60,
        our_host_name: name(host),
        kill_grace_seconds: 40,
        log_to_stderr: false,
        use_watchdog: false,
    };
    Daemon::new(config, EngineExecutor::new(kind).unwrap())
}

/// A 3 MiB image in a new temporary directory (removed when the guard drops): lockspace `LS`
/// at 0, resource `vm1` at 1 MiB. The guard, the image's path and the open image.
fn image() -> (tempfile::TempDir, PathBuf, Device) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.img");
    std::fs::write(&path, vec![0u8; 3 << 20]).unwrap();
    let device = Device::open(&path, Access::ReadWrite).unwrap();
    device
        .write_at(0, &lockspace_init_area(Geometry::S512_A1M, &name("LS"), 1))
        .unwrap();
    device
        .write_at(
            1 << 20,
            &paxos_init_area(Geometry::S512_A1M, &name("LS"), &name("vm1"), 0, None),
        )
        .unwrap();
    (dir, path, device)
}

async fn exclusive_excludes_shared_admits_and_versions_advance(kind: EngineKind) {
    let (_dir, path, device) = image();

    let (a, b) = (daemon("hostA", kind), daemon("hostB", kind));
    let ls = |host_id| LockspaceSpec {
        name: name("LS"),
        host_id,
        path: path.clone(),
        offset: 0,
    };
    let (ra, rb) = tokio::join!(
        a.add_lockspace(ls(1), None, true),
        b.add_lockspace(ls(2), None, true)
    );
    ra.unwrap();
    rb.unwrap();
    let res = ResourceSpec {
        lockspace: name("LS"),
        name: name("vm1"),
        disks: vec![(path.clone(), 1 << 20)],
    };
    let ca = a
        .registry
        .register(std::process::id(), "clientA".into())
        .unwrap();
    let cb = b
        .registry
        .register(std::process::id(), "clientB".into())
        .unwrap();

    let held = a
        .acquire(ca, res.clone(), AcquireOptions::default())
        .await
        .unwrap();
    assert_eq!(held.held.lver, 1);
    assert!(
        held.state_string().ends_with(":1"),
        "{}",
        held.state_string()
    );
    // A second local holder is refused; the other host is refused while A is alive.
    assert_eq!(
        a.acquire(ca, res.clone(), AcquireOptions::default())
            .await
            .unwrap_err()
            .errno(),
        -17
    );
    // Once B has watched A renew, A is alive to B, so B is refused at once.
    let ls_b = b.lockspace(&name("LS")).unwrap();
    let start = std::time::Instant::now();
    while !ls_b
        .host_states()
        .iter()
        .any(|h| h.0 == 1 && h.1 == HostState::Live)
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "B never saw A live"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let err = b
        .acquire(cb, res.clone(), AcquireOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.errno(), -243, "{err}");

    a.release(ca, &name("LS"), &name("vm1")).await.unwrap();
    let leader = LeaderRecord::decode(&device.read_at(1 << 20, 512).unwrap()).unwrap();
    assert_eq!((leader.lver, leader.timestamp), (1, 0));

    // Handover by version: B acquires with the version A released.
    let handover = AcquireOptions {
        expected_lver: Some(1),
        ..AcquireOptions::default()
    };
    let got = b.acquire(cb, res.clone(), handover).await.unwrap();
    assert_eq!(got.held.lver, 2);
    b.client_gone(cb).await; // connection closed: released
    let leader = LeaderRecord::decode(&device.read_at(1 << 20, 512).unwrap()).unwrap();
    assert_eq!((leader.lver, leader.owner_id, leader.timestamp), (2, 2, 0));

    // Shared: both hosts at once.
    let shared = AcquireOptions {
        shared: true,
        ..AcquireOptions::default()
    };
    let cb = b
        .registry
        .register(std::process::id(), "clientB2".into())
        .unwrap();
    a.acquire(ca, res.clone(), shared.clone()).await.unwrap();
    b.acquire(cb, res.clone(), shared).await.unwrap();
    a.client_gone(ca).await;
    b.client_gone(cb).await;
}

async fn persistent_leases_outlive_their_process_as_orphans(kind: EngineKind) {
    let (_dir, path, device) = image();
    let a = daemon("hostA", kind);
    let ls = LockspaceSpec {
        name: name("LS"),
        host_id: 1,
        path: path.clone(),
        offset: 0,
    };
    a.add_lockspace(ls, None, true).await.unwrap();
    let res = ResourceSpec {
        lockspace: name("LS"),
        name: name("vm1"),
        disks: vec![(path.clone(), 1 << 20)],
    };
    let leader = || LeaderRecord::decode(&device.read_at(1 << 20, 512).unwrap()).unwrap();

    let c1 = a.registry.register(1, "first".into()).unwrap();
    let persistent = AcquireOptions {
        persistent: true,
        ..AcquireOptions::default()
    };
    a.acquire(c1, res.clone(), persistent).await.unwrap();
    a.client_gone(c1).await;
    // The process is gone but the lease is still held on disk, as an orphan.
    assert_ne!(leader().timestamp, 0);
    assert_eq!(a.registry.orphans().len(), 1);
    // Nobody else on this host can take it; orphan-only adoption by a new process works.
    let c2 = a.registry.register(2, "second".into()).unwrap();
    assert_eq!(
        a.acquire(c2, res.clone(), AcquireOptions::default())
            .await
            .unwrap_err()
            .errno(),
        -17
    );
    let adopt = AcquireOptions {
        orphan_only: true,
        ..AcquireOptions::default()
    };
    let adopted = a.acquire(c2, res.clone(), adopt.clone()).await.unwrap();
    assert_eq!(adopted.held.lver, 1, "adopted, not re-acquired");
    assert!(a.registry.orphans().is_empty());
    // Orphan-only with no orphan: -ENOENT.
    let c3 = a.registry.register(3, "third".into()).unwrap();
    let other = ResourceSpec {
        name: name("nope"),
        ..res.clone()
    };
    assert_eq!(a.acquire(c3, other, adopt).await.unwrap_err().errno(), -2);
    // The adopting process exits (the lease is persistent again) and the orphan is released.
    a.client_gone(c2).await;
    assert_eq!(a.release_orphans(&name("LS"), None).await, 1);
    assert_eq!(leader().timestamp, 0);
}

/// Every test runs on both I/O engines: io_uring and the thread-pool fallback.
mod engines {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn exclusive_excludes_shared_admits_and_versions_advance_io_uring() {
        exclusive_excludes_shared_admits_and_versions_advance(EngineKind::IoUring).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn exclusive_excludes_shared_admits_and_versions_advance_threads() {
        exclusive_excludes_shared_admits_and_versions_advance(EngineKind::Threads).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn persistent_leases_outlive_their_process_as_orphans_io_uring() {
        persistent_leases_outlive_their_process_as_orphans(EngineKind::IoUring).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn persistent_leases_outlive_their_process_as_orphans_threads() {
        persistent_leases_outlive_their_process_as_orphans(EngineKind::Threads).await;
    }
}
