//! The I/O engine (`lease_io::engine`) on real files, loop devices and a hung device, with the
//! SAME test functions run against both backends: `io_uring::*` and `threads::*`.
//!
//! Environment:
//! * Loop-device and stall tests need root, `losetup`, `/dev/fuse` and `mount`. They FAIL when
//!   those are missing, unless `LEASE_TESTS_ALLOW_SKIP_LOOP=1` (then they print `SKIP:`).
//! * io_uring tests FAIL if io_uring cannot be set up, unless
//!   `LEASE_TESTS_ALLOW_SKIP_IO_URING=1`. CI sets neither, so everything runs there.
//!
//! The hung device is a `StallFile` (a FUSE file whose READ/WRITE requests the test holds and
//! releases): the I/O really is stuck in the kernel with its buffer pinned. No test sleeps to
//! synchronise: they wait on conditions (engine completions, held requests) with bounds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lease_core::seam::{BlockStorage, Io, IoFailure, IoOutcome};
use lease_io::engine::stall::{require_stall_file, StallFile};
use lease_io::engine::{
    EngineConfig, EngineKind, EngineStorage, BATCH_IOS_MAX, ENGINE_ENV, IO_BYTES_MAX,
    SHUTDOWN_DRAIN_MAX,
};
use lease_io::testing::require_loop_device;
use lease_io::{
    create_image_file, Access, BufPool, Device, DeviceError, Engine, EngineError, IfExists,
    PoolLimits,
};

const ALLOW_SKIP_IO_URING_ENV: &str = "LEASE_TESTS_ALLOW_SKIP_IO_URING";

/// Deadline used for I/O that must time out: short, so the suite stays fast.
const HUNG_DEADLINE: Duration = Duration::from_millis(300);
/// Slack allowed between a deadline and the moment its timeout is reported (loaded 2-core CI).
const REPORT_SLACK: Duration = Duration::from_secs(2);
/// Bound on waits for something that must happen (a completion after release, ...).
const EVENTUALLY: Duration = Duration::from_secs(10);
/// Deadline of I/O that must complete.
const HEALTHY_DEADLINE: Duration = Duration::from_secs(20);

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn soon(d: Duration) -> Instant {
    Instant::now() + d
}

fn timed_out() -> IoOutcome {
    IoOutcome::Failed(IoFailure::TimedOut)
}

/// An engine of `kind`; io_uring unavailability fails the test unless skipping is allowed.
fn engine_with(test: &str, config: EngineConfig) -> Option<Engine> {
    engine_on_pool(test, config, Arc::clone(BufPool::global()))
}

/// As [`engine_with`], with the engine's buffers taken from `pool`.
fn engine_on_pool(test: &str, config: EngineConfig, pool: Arc<BufPool>) -> Option<Engine> {
    match Engine::with_pool(config, pool) {
        Ok(engine) => Some(engine),
        Err(e @ EngineError::IoUringUnavailable { .. })
            if std::env::var(ALLOW_SKIP_IO_URING_ENV).is_ok_and(|v| v == "1") =>
        {
            println!("SKIP: {test}: {e} ({ALLOW_SKIP_IO_URING_ENV}=1)");
            None
        }
        Err(e) => panic!(
            "{test}: cannot build the engine: {e}; set {ALLOW_SKIP_IO_URING_ENV}=1 to skip \
             io_uring tests on kernels without it"
        ),
    }
}

fn engine(test: &str, kind: EngineKind) -> Option<Engine> {
    let engine = engine_with(
        test,
        EngineConfig {
            kind,
            ..EngineConfig::default()
        },
    )?;
    assert_eq!(engine.kind(), kind);
    Some(engine)
}

fn image(dir: &tempfile::TempDir, name: &str, size: u64) -> Arc<Device> {
    let path = dir.path().join(name);
    create_image_file(&path, size, IfExists::Refuse).unwrap();
    Arc::new(Device::open(&path, Access::ReadWrite).unwrap())
}

fn write(disk: usize, offset: u64, data: Vec<u8>) -> Io {
    Io::Write { disk, offset, data }
}

fn read(disk: usize, offset: u64, len: u64) -> Io {
    Io::Read { disk, offset, len }
}

/// Runs every named test function once per backend.
macro_rules! for_both_engines {
    ($($name:ident),* $(,)?) => {
        mod io_uring {
            $(#[test] fn $name() { super::$name(super::EngineKind::IoUring) })*
        }
        mod threads {
            $(#[test] fn $name() { super::$name(super::EngineKind::Threads) })*
        }
    };
}

for_both_engines!(
    round_trip_on_a_file,
    round_trip_on_loop_devices,
    batch_across_two_devices,
    bad_io_is_refused_before_anything_is_issued,
    empty_and_already_expired_batches,
    deadline_on_a_hung_device_parks_buffers_until_the_kernel_completes,
    late_read_is_reaped_with_its_data,
    one_queue_drives_many_lockspaces_and_a_hung_one_does_not_block_the_others,
    many_threads_share_one_engine,
    submitters_racing_the_reaper_never_stall_it,
    cancel_does_not_release_a_buffer_the_kernel_holds,
    engine_storage_answers_every_io,
    dropping_the_engine_with_hung_io_is_bounded,
    a_thread_that_submitted_hung_io_can_exit,
    reads_reuse_pooled_buffers_and_a_failed_read_shows_no_stale_bytes,
    a_parked_buffer_is_not_reused_until_the_kernel_completes_it,
);

fn round_trip_on_a_file(kind: EngineKind) {
    let Some(engine) = engine("round_trip_on_a_file", kind) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let disk = image(&dir, "disk.img", 1 << 20);
    let disks = [Arc::clone(&disk)];
    let a = pattern(4096, 1);
    let b = pattern(512, 2);
    let out = engine
        .run(
            &disks,
            &[write(0, 0, a.clone()), write(0, 65536, b.clone())],
            soon(HEALTHY_DEADLINE),
        )
        .unwrap();
    assert_eq!(out, vec![IoOutcome::Written, IoOutcome::Written]);
    let out = engine
        .run(
            &disks,
            &[
                read(0, 65536, 512),
                read(0, 0, 4096),
                read(0, 1 << 19, 1 << 19),
            ],
            soon(HEALTHY_DEADLINE),
        )
        .unwrap();
    assert_eq!(
        out,
        vec![
            IoOutcome::Read(b.clone().into()),
            IoOutcome::Read(a.clone().into()),
            IoOutcome::Read(vec![0; 1 << 19].into())
        ]
    );
    // The bytes are on the file, not in some cache of ours.
    let on_disk = std::fs::read(disk.path()).unwrap();
    assert_eq!(&on_disk[..4096], &a[..]);
    assert_eq!(&on_disk[65536..65536 + 512], &b[..]);
    assert_eq!(engine.stats().in_flight, 0);
}

fn round_trip_on_loop_devices(kind: EngineKind) {
    let test = "round_trip_on_loop_devices";
    let Some(engine) = engine(test, kind) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for sector in [512u32, 4096] {
        let backing = dir.path().join(format!("backing-{sector}.img"));
        create_image_file(&backing, 4 << 20, IfExists::Refuse).unwrap();
        let Some(loop_dev) = require_loop_device(test, &backing, sector) else {
            return;
        };
        let device = Arc::new(Device::open(loop_dev.path(), Access::ReadWrite).unwrap());
        assert_eq!(device.io_alignment(), sector);
        let disks = [Arc::clone(&device)];
        let s = sector as u64;
        let data = pattern(2 * sector as usize, sector as u8);
        let last = (4 << 20) - s;
        let out = engine
            .run(
                &disks,
                &[
                    write(0, 3 * s, data.clone()),
                    write(0, last, data[..sector as usize].to_vec()),
                ],
                soon(HEALTHY_DEADLINE),
            )
            .unwrap();
        assert_eq!(out, vec![IoOutcome::Written, IoOutcome::Written]);
        let out = engine
            .run(
                &disks,
                &[read(0, 3 * s, 2 * s), read(0, last, s)],
                soon(HEALTHY_DEADLINE),
            )
            .unwrap();
        assert_eq!(
            out,
            vec![
                IoOutcome::Read(data.clone().into()),
                IoOutcome::Read(data[..sector as usize].to_vec().into())
            ]
        );
        // The write went through the loop device into the backing file.
        drop(disks);
        drop(device);
        loop_dev.detach().unwrap();
        let on_disk = std::fs::read(&backing).unwrap();
        assert_eq!(
            &on_disk[3 * sector as usize..5 * sector as usize],
            &data[..]
        );
    }
}

fn batch_across_two_devices(kind: EngineKind) {
    let test = "batch_across_two_devices";
    let Some(engine) = engine(test, kind) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = image(&dir, "disk0.img", 1 << 20);
    let backing = dir.path().join("backing.img");
    create_image_file(&backing, 1 << 20, IfExists::Refuse).unwrap();
    let Some(loop_dev) = require_loop_device(test, &backing, 4096) else {
        return;
    };
    let block = Arc::new(Device::open(loop_dev.path(), Access::ReadWrite).unwrap());
    let disks = [Arc::clone(&file), Arc::clone(&block)];
    let a = pattern(512, 10);
    let b = pattern(8192, 20);
    let out = engine
        .run(
            &disks,
            &[write(0, 1024, a.clone()), write(1, 8192, b.clone())],
            soon(HEALTHY_DEADLINE),
        )
        .unwrap();
    assert_eq!(out, vec![IoOutcome::Written, IoOutcome::Written]);
    let out = engine
        .run(
            &disks,
            &[read(1, 8192, 8192), read(0, 1024, 512), read(1, 0, 4096)],
            soon(HEALTHY_DEADLINE),
        )
        .unwrap();
    assert_eq!(
        out,
        vec![
            IoOutcome::Read(b.into()),
            IoOutcome::Read(a.into()),
            IoOutcome::Read(vec![0; 4096].into())
        ]
    );
    drop(disks);
    drop(block);
}

fn bad_io_is_refused_before_anything_is_issued(kind: EngineKind) {
    let Some(engine) = engine("bad_io_is_refused_before_anything_is_issued", kind) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let disk = image(&dir, "disk.img", 1 << 20);
    let read_only = Arc::new(Device::open(disk.path(), Access::ReadOnly).unwrap());
    let disks = [Arc::clone(&disk), read_only];
    let good = write(0, 0, pattern(512, 5));
    let deadline = soon(HEALTHY_DEADLINE);
    let refused = |ios: &[Io]| engine.run(&disks, ios, deadline).unwrap_err();

    let e = refused(&[good.clone(), write(0, 100, vec![1; 512])]);
    assert!(
        matches!(
            &e,
            EngineError::Refused {
                index: 1,
                source: DeviceError::Misaligned { .. }
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.errno(), -libc::EINVAL);
    let e = refused(&[good.clone(), read(0, 0, 100)]);
    assert!(
        matches!(
            &e,
            EngineError::Refused {
                index: 1,
                source: DeviceError::Misaligned { .. }
            }
        ),
        "{e:?}"
    );
    let e = refused(&[good.clone(), read(0, 1 << 20, 512)]);
    assert!(
        matches!(
            &e,
            EngineError::Refused {
                index: 1,
                source: DeviceError::OutOfRange { .. }
            }
        ),
        "{e:?}"
    );
    let e = refused(&[good.clone(), write(1, 0, vec![1; 512])]);
    assert!(
        matches!(
            &e,
            EngineError::Refused {
                index: 1,
                source: DeviceError::ReadOnly { .. }
            }
        ),
        "{e:?}"
    );
    let e = refused(&[good.clone(), read(2, 0, 512)]);
    assert!(
        matches!(
            e,
            EngineError::NoSuchDisk {
                index: 1,
                disk: 2,
                disks: 2
            }
        ),
        "{e:?}"
    );
    let e = refused(&[good.clone(), read(0, 0, IO_BYTES_MAX as u64 + 512)]);
    assert!(matches!(e, EngineError::TooLarge { index: 1, .. }), "{e:?}");
    let e = refused(&[good.clone(), read(0, u64::MAX - 511, 512)]);
    assert!(matches!(e, EngineError::Refused { index: 1, .. }), "{e:?}");
    let e = refused(&vec![good.clone(); BATCH_IOS_MAX + 1]);
    assert!(matches!(e, EngineError::BatchTooLarge { .. }), "{e:?}");

    // Nothing was issued: the valid write at the head of every batch never reached the file.
    assert_eq!(engine.stats().in_flight, 0);
    let on_disk = std::fs::read(disk.path()).unwrap();
    assert!(on_disk[..512].iter().all(|&b| b == 0));
}

fn empty_and_already_expired_batches(kind: EngineKind) {
    let Some(engine) = engine("empty_and_already_expired_batches", kind) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let disk = image(&dir, "disk.img", 1 << 20);
    let disks = [Arc::clone(&disk)];
    assert_eq!(
        engine.run(&disks, &[], soon(HEALTHY_DEADLINE)).unwrap(),
        vec![]
    );
    let out = engine
        .run(
            &disks,
            &[write(0, 0, vec![9; 512]), read(0, 0, 512)],
            Instant::now(),
        )
        .unwrap();
    assert_eq!(out, vec![timed_out(), timed_out()]);
    assert_eq!(engine.stats().in_flight, 0);
    assert!(std::fs::read(disk.path()).unwrap()[..512]
        .iter()
        .all(|&b| b == 0));
}

/// A stall file plus the device opened on it (declared in drop order: device first).
struct Hung {
    device: Arc<Device>,
    stall: StallFile,
}

fn hung_device(test: &str) -> Option<Hung> {
    let stall = require_stall_file(test, 1 << 20)?;
    let device = Arc::new(Device::open(stall.path(), Access::ReadWrite).unwrap());
    Some(Hung { device, stall })
}

impl Drop for Hung {
    fn drop(&mut self) {
        // Let anything still held complete before the device and the mount go away.
        self.stall.release();
    }
}

fn deadline_on_a_hung_device_parks_buffers_until_the_kernel_completes(kind: EngineKind) {
    let test = "deadline_on_a_hung_device_parks_buffers_until_the_kernel_completes";
    let Some(engine) = engine_with(
        test,
        EngineConfig {
            kind,
            parked_max: 2,
            ..EngineConfig::default()
        },
    ) else {
        return;
    };
    let Some(hung) = hung_device(test) else {
        return;
    };
    let disks = [Arc::clone(&hung.device)];
    let old = pattern(4096, 1);
    let new = pattern(4096, 2);
    let out = engine
        .run(&disks, &[write(0, 0, old.clone())], soon(HEALTHY_DEADLINE))
        .unwrap();
    assert_eq!(out, vec![IoOutcome::Written]);

    hung.stall.hold();
    let start = Instant::now();
    let out = engine
        .run(
            &disks,
            &[read(0, 0, 4096), write(0, 8192, new.clone())],
            start + HUNG_DEADLINE,
        )
        .unwrap();
    let elapsed = start.elapsed();
    assert_eq!(out, vec![timed_out(), timed_out()]);
    assert!(
        elapsed >= HUNG_DEADLINE,
        "reported before the deadline: {elapsed:?}"
    );
    assert!(
        elapsed < HUNG_DEADLINE + REPORT_SLACK,
        "reported long after the deadline: {elapsed:?}"
    );
    // Both I/Os really are in the kernel (held by the device), and their buffers are parked.
    assert!(
        hung.stall.wait_held(2, soon(EVENTUALLY)),
        "held {}",
        hung.stall.held()
    );
    let stats = engine.stats();
    assert_eq!(
        (stats.parked, stats.in_flight, stats.parked_bytes),
        (2, 2, 8192)
    );

    // At the parked limit new I/O is refused with EAGAIN, even to a healthy device.
    let dir = tempfile::tempdir().unwrap();
    let healthy = [image(&dir, "healthy.img", 1 << 20)];
    let e = engine
        .run(&healthy, &[read(0, 0, 512)], soon(HEALTHY_DEADLINE))
        .unwrap_err();
    assert!(
        matches!(e, EngineError::TooManyParked { parked: 2, .. }),
        "{e:?}"
    );
    assert_eq!(e.errno(), -libc::EAGAIN);
    assert!(e.is_retryable());

    // The device comes back: the kernel completes both, the engine reaps them.
    hung.stall.release();
    let stats = engine.wait_parked_at_most(0, soon(EVENTUALLY));
    assert_eq!(
        (stats.parked, stats.in_flight, stats.parked_bytes),
        (0, 0, 0)
    );
    // The timed-out write landed after all (the protocols are written to survive that).
    assert_eq!(hung.stall.contents(8192, 4096), new);
    let out = engine
        .run(&healthy, &[read(0, 0, 512)], soon(HEALTHY_DEADLINE))
        .unwrap();
    assert_eq!(out, vec![IoOutcome::Read(vec![0; 512].into())]);
}

fn late_read_is_reaped_with_its_data(kind: EngineKind) {
    let test = "late_read_is_reaped_with_its_data";
    let Some(engine) = engine(test, kind) else {
        return;
    };
    let Some(hung) = hung_device(test) else {
        return;
    };
    let disks = [Arc::clone(&hung.device)];
    let mut queue = engine.queue();
    hung.stall.hold();
    let ticket = queue
        .submit(&disks, &[read(0, 4096, 4096)], soon(HUNG_DEADLINE))
        .unwrap();
    assert_eq!(queue.wait(ticket).unwrap(), vec![timed_out()]);
    assert!(hung.stall.wait_held(1, soon(EVENTUALLY)));
    assert_eq!(engine.stats().late_reads_in_flight, 1);

    // The renewal's extension passes with the read still held: it stays parked.
    let start = Instant::now();
    let r = engine
        .reap_late_read(ticket, 0, start + Duration::from_millis(100))
        .unwrap();
    assert_eq!(r, timed_out());
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert_eq!(engine.stats().parked, 1);

    // Another host writes the area meanwhile; when the device answers, the late read carries
    // what the device returned.
    let fresh = pattern(4096, 77);
    hung.stall.set_contents(4096, &fresh);
    hung.stall.release();
    let r = engine.reap_late_read(ticket, 0, soon(EVENTUALLY)).unwrap();
    assert_eq!(r, IoOutcome::Read(fresh.into()));
    let e = engine
        .reap_late_read(ticket, 0, Instant::now())
        .unwrap_err();
    assert!(matches!(e, EngineError::NotParked { .. }), "{e:?}");
    let stats = engine.stats();
    assert_eq!(
        (
            stats.parked,
            stats.late_reads_kept,
            stats.late_reads_in_flight
        ),
        (0, 0, 0)
    );
}

fn one_queue_drives_many_lockspaces_and_a_hung_one_does_not_block_the_others(kind: EngineKind) {
    let test = "one_queue_drives_many_lockspaces_and_a_hung_one_does_not_block_the_others";
    let Some(engine) = engine(test, kind) else {
        return;
    };
    let Some(hung) = hung_device(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let healthy: Vec<Arc<Device>> = (0..3)
        .map(|i| image(&dir, &format!("ls{i}.img"), 1 << 20))
        .collect();
    let mut queue = engine.queue();
    hung.stall.hold();
    let start = Instant::now();
    let stuck = queue
        .submit(
            &[Arc::clone(&hung.device)],
            &[read(0, 0, 1 << 20)],
            start + HUNG_DEADLINE,
        )
        .unwrap();
    let mut tickets = Vec::new();
    for (i, disk) in healthy.iter().enumerate() {
        let data = pattern(512, i as u8);
        let t = queue
            .submit(
                &[Arc::clone(disk)],
                &[write(0, 512 * i as u64, data)],
                soon(HEALTHY_DEADLINE),
            )
            .unwrap();
        tickets.push(t);
    }
    // The healthy lockspaces' renewals finish while the hung one is still waiting.
    let mut done = Vec::new();
    while done.len() < tickets.len() {
        let got = queue.wait_any(soon(EVENTUALLY));
        assert!(!got.is_empty(), "healthy renewals did not finish");
        for (t, out) in got {
            assert_ne!(t, stuck, "the hung read finished before its deadline");
            assert_eq!(out, vec![IoOutcome::Written]);
            done.push(t);
        }
    }
    done.sort();
    assert_eq!(done, tickets);
    assert!(queue.poll().is_empty());
    // Then the hung one is reported at its deadline.
    let got = queue.wait_any(soon(EVENTUALLY));
    assert_eq!(got, vec![(stuck, vec![timed_out()])]);
    assert!(start.elapsed() >= HUNG_DEADLINE);
    assert!(start.elapsed() < HUNG_DEADLINE + REPORT_SLACK);
    hung.stall.release();
    assert_eq!(engine.wait_parked_at_most(0, soon(EVENTUALLY)).parked, 0);
}

fn many_threads_share_one_engine(kind: EngineKind) {
    let Some(engine) = engine("many_threads_share_one_engine", kind) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let disk = image(&dir, "disk.img", 1 << 20);
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let engine = engine.clone();
            let disks = [Arc::clone(&disk)];
            std::thread::spawn(move || {
                for round in 0..16u8 {
                    let offset = u64::from(t) * 65536 + u64::from(round) * 4096;
                    let data = pattern(4096, t.wrapping_mul(16).wrapping_add(round));
                    let out = engine
                        .run(
                            &disks,
                            &[write(0, offset, data.clone())],
                            soon(HEALTHY_DEADLINE),
                        )
                        .unwrap();
                    assert_eq!(out, vec![IoOutcome::Written]);
                    let out = engine
                        .run(&disks, &[read(0, offset, 4096)], soon(HEALTHY_DEADLINE))
                        .unwrap();
                    assert_eq!(out, vec![IoOutcome::Read(data.into())]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(engine.stats().in_flight, 0);
}

/// Many threads submitting small I/O back to back race the reaper's wake-up handshake
/// (queue, wake byte, poll CQE, drain) thousands of times. A lost or doubled wake-up shows as a
/// stall: every batch must finish, and the whole run within a bound far above its normal time
/// (the io_uring engine once deadlocked here: its reaper blocked reading the wake pipe while
/// holding the submission lock).
fn submitters_racing_the_reaper_never_stall_it(kind: EngineKind) {
    const THREADS: u64 = 8;
    const ROUNDS: u64 = 400;
    let Some(engine) = engine("submitters_racing_the_reaper_never_stall_it", kind) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let disk = image(&dir, "disk.img", 1 << 20);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    for t in 0..THREADS {
        let engine = engine.clone();
        let disks = [Arc::clone(&disk)];
        let done_tx = done_tx.clone();
        std::thread::spawn(move || {
            for round in 0..ROUNDS {
                let offset = (t * ROUNDS + round) % 256 * 4096;
                let out = engine
                    .run(&disks, &[read(0, offset, 512)], soon(HEALTHY_DEADLINE))
                    .unwrap();
                assert!(matches!(out[..], [IoOutcome::Read(_)]), "{out:?}");
            }
            done_tx.send(t).unwrap();
        });
    }
    drop(done_tx);
    let until = Instant::now() + Duration::from_secs(120);
    let mut finished = 0;
    while finished < THREADS {
        let left = until.saturating_duration_since(Instant::now());
        match done_rx.recv_timeout(left) {
            Ok(_) => finished += 1,
            Err(e) => panic!(
                "{finished} of {THREADS} submitters finished; the engine stalled ({e}): {:?}",
                engine.stats()
            ),
        }
    }
    assert_eq!(engine.stats().in_flight, 0);
}

fn cancel_does_not_release_a_buffer_the_kernel_holds(kind: EngineKind) {
    let test = "cancel_does_not_release_a_buffer_the_kernel_holds";
    let Some(engine) = engine(test, kind) else {
        return;
    };
    let Some(hung) = hung_device(test) else {
        return;
    };
    let disks = [Arc::clone(&hung.device)];
    hung.stall.hold();
    let out = engine
        .run(&disks, &[read(0, 0, 4096)], soon(HUNG_DEADLINE))
        .unwrap();
    assert_eq!(out, vec![timed_out()]);
    assert!(hung.stall.wait_held(1, soon(EVENTUALLY)));
    assert_eq!(engine.cancel_parked(), 1);
    // The device still holds the request (FUSE, like a bio on a SAN path, does not abandon it),
    // so the buffer must stay parked: give a wrongly released buffer time to show up.
    let stats = engine.wait_parked_at_most(0, soon(Duration::from_millis(300)));
    assert_eq!(
        stats.parked, 1,
        "a cancelled but unfinished I/O lost its buffer"
    );
    assert_eq!(hung.stall.held(), 1);
    hung.stall.release();
    assert_eq!(engine.wait_parked_at_most(0, soon(EVENTUALLY)).parked, 0);
}

fn engine_storage_answers_every_io(kind: EngineKind) {
    let Some(engine) = engine("engine_storage_answers_every_io", kind) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let disk = image(&dir, "disk.img", 1 << 20);
    let mut storage = EngineStorage::new(engine, vec![disk]);
    let data = pattern(1024, 3);
    let out = storage.submit(&[write(0, 512, data.clone())], Duration::from_secs(20));
    assert_eq!(out, vec![IoOutcome::Written]);
    let out = storage.submit(&[read(0, 512, 1024)], Duration::MAX);
    assert_eq!(out, vec![IoOutcome::Read(data.into())]);
    // A refused batch still gets one outcome per I/O, carrying the refusal's errno.
    let out = storage.submit(&[read(0, 0, 512), read(0, 1, 512)], Duration::from_secs(20));
    let einval = IoOutcome::Failed(IoFailure::Error {
        errno: libc::EINVAL,
    });
    assert_eq!(out, vec![einval.clone(), einval]);
}

fn dropping_the_engine_with_hung_io_is_bounded(kind: EngineKind) {
    let test = "dropping_the_engine_with_hung_io_is_bounded";
    let Some(engine) = engine(test, kind) else {
        return;
    };
    let Some(hung) = hung_device(test) else {
        return;
    };
    let disks = [Arc::clone(&hung.device)];
    hung.stall.hold();
    let mut queue = engine.queue();
    queue
        .submit(&disks, &[read(0, 0, 4096)], soon(HEALTHY_DEADLINE))
        .unwrap();
    assert!(hung.stall.wait_held(1, soon(EVENTUALLY)));
    let start = Instant::now();
    drop(queue);
    drop(engine);
    assert!(
        start.elapsed() < SHUTDOWN_DRAIN_MAX + REPORT_SLACK,
        "drop took {:?}",
        start.elapsed()
    );
    // The kernel still holds the buffer (leaked by io_uring, kept by a detached worker); when
    // the device answers nothing may crash.
    hung.stall.release();
}

/// `Auto` obeys `LEASE_IO_ENGINE`; explicit kinds ignore it. One test owns the variable (the
/// other tests of this binary never use `Auto`).
#[test]
fn auto_obeys_the_environment_variable() {
    let Some(_) = engine("auto_obeys_the_environment_variable", EngineKind::IoUring) else {
        return;
    };
    std::env::set_var(ENGINE_ENV, "threads");
    assert_eq!(
        Engine::new(EngineKind::Auto).unwrap().kind(),
        EngineKind::Threads
    );
    assert_eq!(
        Engine::new(EngineKind::IoUring).unwrap().kind(),
        EngineKind::IoUring
    );
    std::env::set_var(ENGINE_ENV, "io_uring");
    assert_eq!(
        Engine::new(EngineKind::Auto).unwrap().kind(),
        EngineKind::IoUring
    );
    assert_eq!(
        Engine::new(EngineKind::Threads).unwrap().kind(),
        EngineKind::Threads
    );
    std::env::set_var(ENGINE_ENV, "aio");
    let e = Engine::new(EngineKind::Auto).unwrap_err();
    assert!(matches!(e, EngineError::BadEngineName { .. }), "{e:?}");
    assert!(e.to_string().contains("LEASE_IO_ENGINE"), "{e}");
    std::env::set_var(ENGINE_ENV, "auto");
    let auto = Engine::new(EngineKind::Auto).unwrap();
    assert_eq!(auto.kind(), EngineKind::IoUring, "io_uring works here");
    assert_eq!(auto.fallback_reason(), None);
    std::env::remove_var(ENGINE_ENV);
    assert_eq!(
        Engine::new(EngineKind::Auto).unwrap().kind(),
        EngineKind::IoUring
    );
}

/// The daemon submits from short-lived threads (tokio's blocking pool): such a thread must be
/// able to exit while I/O it submitted is stuck in the kernel. (With io_uring, io-wq workers
/// belong to the thread that entered the ring, and a thread cannot finish exiting while they
/// are blocked; the engine's reaper is therefore the only thread that enters the ring.)
fn a_thread_that_submitted_hung_io_can_exit(kind: EngineKind) {
    let test = "a_thread_that_submitted_hung_io_can_exit";
    let Some(engine) = engine(test, kind) else {
        return;
    };
    let Some(hung) = hung_device(test) else {
        return;
    };
    hung.stall.hold();
    let submitter_engine = engine.clone();
    let disks = [Arc::clone(&hung.device)];
    let submitter = std::thread::spawn(move || {
        let mut queue = submitter_engine.queue();
        let ticket = queue
            .submit(&disks, &[read(0, 0, 4096)], soon(HUNG_DEADLINE))
            .unwrap();
        assert_eq!(queue.wait(ticket).unwrap(), vec![timed_out()]);
    });
    // `join` returns only once the OS thread has exited; wait for it with a bound.
    let (joined_tx, joined_rx) = std::sync::mpsc::channel();
    let joiner = std::thread::spawn(move || {
        let _ = joined_tx.send(submitter.join().is_ok());
    });
    assert!(hung.stall.wait_held(1, soon(EVENTUALLY)));
    let joined = joined_rx.recv_timeout(Duration::from_secs(5));
    // Release before asserting, so that a failure does not leave threads stuck.
    hung.stall.release();
    assert_eq!(
        joined,
        Ok(true),
        "the submitting thread could not exit while its I/O was held"
    );
    joiner.join().unwrap();
    assert_eq!(engine.wait_parked_at_most(0, soon(EVENTUALLY)).parked, 0);
}

/// The one read outcome of `out`, which must be `Read`.
fn read_bytes(out: &[IoOutcome]) -> &[u8] {
    match out {
        [IoOutcome::Read(bytes)] => bytes,
        other => panic!("expected one read, got {other:?}"),
    }
}

/// An engine of `kind` on a pool of its own (default limits), so the test can count it.
fn engine_on_own_pool(test: &str, kind: EngineKind) -> Option<(Engine, Arc<BufPool>)> {
    let pool = BufPool::new(PoolLimits::default());
    let config = EngineConfig {
        kind,
        ..EngineConfig::default()
    };
    let engine = engine_on_pool(test, config, Arc::clone(&pool))?;
    Some((engine, pool))
}

fn reads_reuse_pooled_buffers_and_a_failed_read_shows_no_stale_bytes(kind: EngineKind) {
    let test = "reads_reuse_pooled_buffers_and_a_failed_read_shows_no_stale_bytes";
    let Some((engine, pool)) = engine_on_own_pool(test, kind) else {
        return;
    };
    assert!(Arc::ptr_eq(engine.pool(), &pool));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.img");
    create_image_file(&path, 1 << 20, IfExists::Refuse).unwrap();
    let disks = [Arc::new(Device::open(&path, Access::ReadWrite).unwrap())];
    let len = 64 * 1024;
    let (a, b) = (pattern(len, 1), pattern(len, 2));
    let run = |ios: &[Io]| engine.run(&disks, ios, soon(HEALTHY_DEADLINE)).unwrap();

    assert_eq!(run(&[write(0, 0, a.clone())]), vec![IoOutcome::Written]);
    let out = run(&[read(0, 0, len as u64)]);
    assert_eq!(read_bytes(&out), &a[..]);
    let addr = read_bytes(&out).as_ptr().addr();
    drop(out);
    assert_eq!(run(&[write(0, 0, b.clone())]), vec![IoOutcome::Written]);
    // The steady state: the read data *is* the pooled buffer, reused, nothing allocated.
    let misses = pool.stats().misses;
    for _ in 0..10 {
        let out = run(&[read(0, 0, len as u64)]);
        assert_eq!(read_bytes(&out), &b[..]);
        assert_eq!(read_bytes(&out).as_ptr().addr(), addr);
    }
    assert_eq!(pool.stats().misses, misses, "{:?}", pool.stats());

    // The file shrinks under the device's cached size: the read comes up short after 32 KiB.
    // The reused buffer (holding `b`) goes back unseen: a failure, never stale bytes.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(32 * 1024)
        .unwrap();
    let out = run(&[read(0, 0, len as u64)]);
    assert_eq!(
        out,
        vec![IoOutcome::Failed(IoFailure::Error { errno: libc::EIO })]
    );
    let stats = pool.stats();
    assert_eq!(stats.misses, misses, "{stats:?}");
    assert!(stats.idle_buffers >= 1, "{stats:?}");
    assert_eq!(stats.leaked, 0);
}

fn a_parked_buffer_is_not_reused_until_the_kernel_completes_it(kind: EngineKind) {
    let test = "a_parked_buffer_is_not_reused_until_the_kernel_completes_it";
    let Some((engine, pool)) = engine_on_own_pool(test, kind) else {
        return;
    };
    let Some(hung) = hung_device(test) else {
        return;
    };
    let disks = [Arc::clone(&hung.device)];
    let dir = tempfile::tempdir().unwrap();
    let healthy = [image(&dir, "healthy.img", 1 << 20)];

    // One buffer of the class in the pool.
    let out = engine
        .run(&disks, &[read(0, 0, 4096)], soon(HEALTHY_DEADLINE))
        .unwrap();
    let parked_addr = read_bytes(&out).as_ptr().addr();
    drop(out);
    assert_eq!(pool.stats().idle_buffers, 1);

    // It serves a read that the device holds past its deadline: the buffer is parked, the
    // kernel's, and not in the pool.
    hung.stall.hold();
    let mut queue = engine.queue();
    let ticket = queue
        .submit(&disks, &[read(0, 0, 4096)], soon(HUNG_DEADLINE))
        .unwrap();
    assert_eq!(queue.wait(ticket).unwrap(), vec![timed_out()]);
    assert!(hung.stall.wait_held(1, soon(EVENTUALLY)));
    engine.discard_late_reads(ticket);
    assert_eq!(engine.stats().parked, 1);
    assert_eq!(pool.stats().idle_buffers, 0, "{:?}", pool.stats());

    // Another read of the same size gets other memory.
    let out = engine
        .run(&healthy, &[read(0, 0, 4096)], soon(HEALTHY_DEADLINE))
        .unwrap();
    assert_ne!(read_bytes(&out).as_ptr().addr(), parked_addr);
    drop(out);
    assert_eq!(pool.stats().idle_buffers, 1);

    // The device answers: only now does the parked buffer come back to the pool.
    hung.stall.release();
    assert_eq!(engine.wait_parked_at_most(0, soon(EVENTUALLY)).parked, 0);
    let stats = pool.stats();
    assert_eq!((stats.idle_buffers, stats.leaked), (2, 0), "{stats:?}");
}
