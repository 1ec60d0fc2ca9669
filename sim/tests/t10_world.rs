//! The simulator's own machinery, scenario by scenario: determinism, the three-time I/O
//! model, sector atomicity, crashes, pauses, drift, path loss, watchdog and reports.
//!
//! Each test scripts operations ([`ScriptOp`]) on a small world, usually with
//! `FaultOptions::none()` plus the one fault under test, and asserts what the operations
//! received and what the disks hold in true time.

use std::time::Duration;

use lease_core::seam::{Io, IoFailure, IoOutcome, Resume};
use lease_core::time::MonoTime;
use sim::clock::TrueTime;
use sim::faults::FaultOptions;
use sim::ids::{HostIndex, TaskId};
use sim::invariant::{Invariant, Violation, WorldView};
use sim::runner::{run_seed, run_seeds, FaultPreset, RunConfig};
use sim::trace::TraceKind;
use sim::workload::script::{ScriptOp, ScriptRecord, ScriptStep, ScriptWorkload};
use sim::world::{DiskSpec, World, WorldConfig};

const H0: HostIndex = HostIndex(0);
const H1: HostIndex = HostIndex(1);

fn world(
    seed: u64,
    host_count: u32,
    sector_size: u64,
    faults: FaultOptions,
) -> World<ScriptWorkload> {
    let config = WorldConfig {
        seed,
        host_count,
        disks: vec![DiskSpec {
            size_bytes: 64 * sector_size,
            sector_size,
        }],
        faults,
        keep_full_trace: true,
    };
    let mut w = World::new(config, ScriptWorkload::default());
    w.run_until(TrueTime::ZERO).expect("boot");
    w
}

fn write(offset: u64, data: Vec<u8>) -> Io {
    Io::Write {
        disk: 0,
        offset,
        data,
    }
}

fn read(offset: u64, len: u64) -> Io {
    Io::Read {
        disk: 0,
        offset,
        len,
    }
}

fn spawn(w: &mut World<ScriptWorkload>, host: HostIndex, steps: Vec<ScriptStep>) -> TaskId {
    w.spawn(host, ScriptOp::new(steps), vec![0])
}

fn record(w: &World<ScriptWorkload>, task: TaskId) -> &ScriptRecord {
    w.workload().record_of(task).expect("task finished")
}

fn io_outcomes(input: &Resume) -> &[IoOutcome] {
    match input {
        Resume::Io(out) => out,
        other => panic!("expected I/O outcomes, got {other:?}"),
    }
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn same_seed_gives_same_trace_hash_and_different_seeds_differ() {
    let mut config = RunConfig::new(7, 5);
    config.duration_secs = 300;
    config.faults = FaultPreset::Safety;
    let a = run_seed(&config);
    let b = run_seed(&config);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.event_count, b.event_count);
    config.seed = 8;
    let c = run_seed(&config);
    assert_ne!(a.trace_hash, c.trace_hash);
}

#[test]
fn thread_count_does_not_change_any_seed_result() {
    let mut config = RunConfig::new(0, 3);
    config.duration_secs = 120;
    let one = run_seeds(&config, 100, 6, 1);
    let two = run_seeds(&config, 100, 6, 2);
    let hashes = |b: &sim::runner::BatchReport| -> Vec<(u64, u64)> {
        b.runs.iter().map(|r| (r.seed, r.trace_hash)).collect()
    };
    assert_eq!(hashes(&one), hashes(&two));
    let distinct: std::collections::BTreeSet<u64> = one.runs.iter().map(|r| r.trace_hash).collect();
    assert_eq!(distinct.len(), 6);
}

#[test]
fn timed_out_write_still_lands_later() {
    let faults = FaultOptions {
        io_hang_probability: 1.0,
        io_hang_ms_min: 20_000,
        io_hang_ms_max: 20_000,
        ..FaultOptions::none()
    };
    let mut w = world(1, 2, 512, faults);
    let task = spawn(
        &mut w,
        H0,
        vec![ScriptStep::Io(vec![write(512, vec![9; 512])], SECOND)],
    );
    w.run_until(TrueTime::from_secs(2)).unwrap();
    let rec = record(&w, task);
    assert_eq!(
        rec[1].0,
        MonoTime::from_millis(1_000),
        "resumed at the deadline"
    );
    assert_eq!(
        io_outcomes(&rec[1].1),
        [IoOutcome::Failed(IoFailure::TimedOut)]
    );
    assert_eq!(w.disk(0).peek(512, 512), [0; 512], "not landed yet");
    w.run_until(TrueTime::from_secs(25)).unwrap();
    assert_eq!(
        w.disk(0).peek(512, 512),
        [9; 512],
        "landed after the timeout"
    );
}

#[test]
fn successful_write_has_landed_when_the_issuer_hears_of_it() {
    let faults = FaultOptions {
        write_latency_ms_min: 1,
        write_latency_ms_mean: 30,
        write_latency_ms_max: 500,
        completion_delay_ms_max: 50,
        torn_write_window_ms_max: 40,
        ..FaultOptions::none()
    };
    for seed in 0..20 {
        let mut w = world(seed, 1, 4096, faults.clone());
        let task = spawn(
            &mut w,
            H0,
            vec![ScriptStep::Io(vec![write(0, vec![5; 4 * 4096])], SECOND)],
        );
        while w.workload().record_of(task).is_none() {
            w.step().unwrap();
        }
        assert_eq!(io_outcomes(&record(&w, task)[1].1), [IoOutcome::Written]);
        assert_eq!(w.disk(0).peek(0, 4 * 4096), vec![5; 4 * 4096]);
    }
}

#[test]
fn crash_before_landing_loses_pending_writes_or_lands_them_at_the_crash() {
    for (land_p, expect) in [(0.0, 0u8), (1.0, 9u8)] {
        let faults = FaultOptions {
            io_hang_probability: 1.0,
            io_hang_ms_min: 20_000,
            io_hang_ms_max: 20_000,
            crash_write_land_probability: land_p,
            ..FaultOptions::none()
        };
        let mut w = world(1, 1, 512, faults);
        spawn(
            &mut w,
            H0,
            vec![ScriptStep::Io(vec![write(0, vec![9; 1024])], SECOND)],
        );
        w.run_until(TrueTime::from_secs(5)).unwrap();
        w.crash_host(H0);
        w.run_until(TrueTime::from_secs(60)).unwrap();
        assert_eq!(
            w.disk(0).peek(0, 1024),
            vec![expect; 1024],
            "land_p {land_p}"
        );
    }
}

#[test]
fn concurrent_reads_see_each_sector_whole_old_or_new_in_any_mix() {
    for sector_size in [512u64, 4096] {
        let faults = FaultOptions {
            read_latency_ms_min: 1,
            read_latency_ms_mean: 5,
            read_latency_ms_max: 20,
            write_latency_ms_min: 1,
            write_latency_ms_mean: 5,
            write_latency_ms_max: 20,
            torn_write_window_ms_max: 20,
            read_sample_window_ms_max: 20,
            ..FaultOptions::none()
        };
        let mut w = world(3, 2, sector_size, faults);
        let len = 8 * sector_size;
        let writes = (1..=200u8)
            .map(|fill| ScriptStep::Io(vec![write(0, vec![fill; len as usize])], SECOND))
            .collect();
        let reads = (0..200)
            .map(|_| ScriptStep::Io(vec![read(0, len)], SECOND))
            .collect();
        spawn(&mut w, H0, writes);
        let reader = spawn(&mut w, H1, reads);
        w.run_until(TrueTime::from_secs(60)).unwrap();
        let mut mixed = 0;
        for (_, input) in &record(&w, reader)[1..] {
            let [IoOutcome::Read(bytes)] = io_outcomes(input) else {
                panic!("read failed")
            };
            let firsts: Vec<u8> = bytes
                .chunks(sector_size as usize)
                .map(|s| {
                    assert!(s.iter().all(|&b| b == s[0]), "torn within a sector");
                    s[0]
                })
                .collect();
            mixed += usize::from(firsts.windows(2).any(|p| p[0] != p[1]));
        }
        assert!(
            mixed > 0,
            "some reads should mix sectors of different writes"
        );
    }
}

#[test]
fn multi_sector_write_lands_sector_by_sector_within_the_torn_window() {
    let faults = FaultOptions {
        torn_write_window_ms_max: 50,
        ..FaultOptions::none()
    };
    let mut w = world(11, 1, 512, faults);
    spawn(
        &mut w,
        H0,
        vec![ScriptStep::Io(vec![write(0, vec![1; 16 * 512])], SECOND)],
    );
    w.run_until(TrueTime::from_secs(1)).unwrap();
    let landed: Vec<(TrueTime, u64)> = w
        .trace()
        .all()
        .unwrap()
        .iter()
        .filter(|e| e.kind == TraceKind::SectorLanded)
        .map(|e| (e.at, e.c))
        .collect();
    assert_eq!(landed.len(), 16);
    let first = landed[0].0;
    assert!(landed.iter().all(|(t, _)| t.ms_since(first) <= 50));
    let distinct_times: std::collections::BTreeSet<_> = landed.iter().map(|l| l.0).collect();
    assert!(
        distinct_times.len() > 1,
        "sectors land at different instants"
    );
    let in_order = landed.windows(2).all(|p| p[0].1 < p[1].1);
    assert!(
        !in_order,
        "landing order is not the sector order (seed-dependent)"
    );
}

#[test]
fn crash_abandons_operations_and_the_host_reboots_fresh() {
    let faults = FaultOptions {
        restart_delay_ms_min: 3_000,
        restart_delay_ms_max: 3_000,
        ..FaultOptions::none()
    };
    let mut w = world(1, 2, 512, faults);
    spawn(
        &mut w,
        H0,
        vec![ScriptStep::SleepFor(10_000, Duration::ZERO)],
    );
    let other = spawn(
        &mut w,
        H1,
        vec![ScriptStep::SleepFor(10_000, Duration::ZERO)],
    );
    w.run_until(TrueTime::from_secs(1)).unwrap();
    w.crash_host(H0);
    assert!(!w.host(H0).is_up());
    assert_eq!(w.host(H0).task_count(), 0);
    w.run_until(TrueTime::from_secs(30)).unwrap();
    let wl = w.workload();
    assert_eq!(
        wl.finished.len(),
        1,
        "only the other host's operation finished"
    );
    assert_eq!(wl.finished[0].task, other);
    assert_eq!(wl.crashes, vec![(H0, TrueTime::from_secs(1))]);
    assert!(
        wl.boots.contains(&(H0, TrueTime::from_secs(4))),
        "{:?}",
        wl.boots
    );
    assert!(w.host(H0).is_up());
    assert_eq!(w.host(H0).boot(), 1);
}

#[test]
fn host_clocks_drift_within_the_configured_bound() {
    let faults = FaultOptions {
        drift_ppm_max: 500,
        boot_clock_origin_ms_max: 100_000,
        ..FaultOptions::none()
    };
    let mut w = world(5, 50, 512, faults);
    let start: Vec<MonoTime> = (0..50).map(|h| w.local_now(HostIndex(h))).collect();
    let mut drifts = std::collections::BTreeSet::new();
    for secs in [1u64, 60, 3_600, 86_400] {
        w.run_until(TrueTime::from_secs(secs)).unwrap();
        for h in 0..50 {
            let host = HostIndex(h);
            let local = w.local_now(host).as_millis() - start[h as usize].as_millis();
            let true_ms = secs * 1000;
            let bound = 500 * true_ms / 1_000_000 + 1;
            assert!(
                local.abs_diff(true_ms) <= bound,
                "{host}: {local} vs {true_ms}"
            );
            drifts.insert(w.host(host).clock().drift_ppm());
        }
    }
    assert!(drifts.len() > 10, "hosts draw different drifts");
}

#[test]
fn path_loss_affects_one_host_only() {
    // Failing path: the host's I/O fails at once; the other host's works.
    let mut w = world(1, 2, 512, FaultOptions::none());
    w.disk_mut(0).poke(0, &[3; 512]);
    w.lose_path(H0, 5_000, false);
    let lost = spawn(&mut w, H0, vec![ScriptStep::Io(vec![read(0, 512)], SECOND)]);
    let fine = spawn(&mut w, H1, vec![ScriptStep::Io(vec![read(0, 512)], SECOND)]);
    w.run_until(TrueTime::from_secs(2)).unwrap();
    let eio = IoOutcome::Failed(IoFailure::Error { errno: 5 });
    assert_eq!(io_outcomes(&record(&w, lost)[1].1), [eio]);
    assert_eq!(
        io_outcomes(&record(&w, fine)[1].1),
        [IoOutcome::Read(vec![3; 512].into())]
    );

    // Hanging path: the host's write times out, then lands when the path returns.
    let mut w = world(1, 2, 512, FaultOptions::none());
    w.lose_path(H0, 5_000, true);
    let hung = spawn(
        &mut w,
        H0,
        vec![ScriptStep::Io(vec![write(0, vec![4; 512])], SECOND)],
    );
    let fine = spawn(
        &mut w,
        H1,
        vec![ScriptStep::Io(vec![write(512, vec![6; 512])], SECOND)],
    );
    w.run_until(TrueTime::from_secs(2)).unwrap();
    assert_eq!(
        io_outcomes(&record(&w, hung)[1].1),
        [IoOutcome::Failed(IoFailure::TimedOut)]
    );
    assert_eq!(io_outcomes(&record(&w, fine)[1].1), [IoOutcome::Written]);
    assert_eq!(w.disk(0).peek(0, 512), [0; 512]);
    w.run_until(TrueTime::from_secs(6)).unwrap();
    assert_eq!(
        w.disk(0).peek(0, 512),
        [4; 512],
        "queued write lands after the path returns"
    );
}

#[test]
fn pause_holds_the_operation_while_its_clock_and_io_move_on() {
    let mut w = world(1, 1, 512, FaultOptions::none());
    let task = spawn(
        &mut w,
        H0,
        vec![
            ScriptStep::Io(vec![write(0, vec![8; 512])], SECOND),
            ScriptStep::SleepFor(100, Duration::ZERO),
        ],
    );
    w.pause_host(H0, 0, false); // no-op pause of length 0 is allowed
    w.run_until(TrueTime::ZERO).unwrap();
    w.pause_host(H0, 10_000, false);
    w.run_until(TrueTime::from_secs(5)).unwrap();
    assert_eq!(
        w.disk(0).peek(0, 512),
        [8; 512],
        "pending I/O keeps landing during a pause"
    );
    assert!(
        w.workload().record_of(task).is_none(),
        "no progress while paused"
    );
    w.run_until(TrueTime::from_secs(11)).unwrap();
    let rec = record(&w, task);
    // The I/O completed at 1 ms but the op only heard of it when the pause ended.
    assert_eq!(rec[1].0, MonoTime::from_millis(10_000));
    assert_eq!(io_outcomes(&rec[1].1), [IoOutcome::Written]);
    assert_eq!(rec[2], (MonoTime::from_millis(10_100), Resume::Woke));
}

#[test]
fn deadline_resumes_once_with_completed_and_timed_out_outcomes_in_order() {
    let mut w = world(1, 2, 512, FaultOptions::none());
    w.lose_path(H0, 60_000, true);
    let task = spawn(&mut w, H0, vec![ScriptStep::Io(vec![read(0, 512)], SECOND)]);
    w.run_until(TrueTime::from_secs(2)).unwrap();
    assert_eq!(
        io_outcomes(&record(&w, task)[1].1),
        [IoOutcome::Failed(IoFailure::TimedOut)]
    );

    let faults = FaultOptions {
        io_hang_probability: 0.5,
        io_hang_ms_min: 5_000,
        io_hang_ms_max: 5_000,
        ..FaultOptions::none()
    };
    let mut seen_mix = false;
    for seed in 0..16 {
        let mut w = world(seed, 1, 512, faults.clone());
        let task = spawn(
            &mut w,
            H0,
            vec![ScriptStep::Io(vec![read(0, 512), read(512, 512)], SECOND)],
        );
        w.run_until(TrueTime::from_secs(10)).unwrap();
        let rec = record(&w, task);
        assert_eq!(rec.len(), 2, "exactly one resume for the batch");
        let out = io_outcomes(&rec[1].1);
        let timed_out = out
            .iter()
            .filter(|o| matches!(o, IoOutcome::Failed(IoFailure::TimedOut)))
            .count();
        let expected_at = if timed_out > 0 { 1_000 } else { 1 };
        assert_eq!(rec[1].0, MonoTime::from_millis(expected_at));
        seen_mix |= timed_out == 1;
    }
    assert!(seen_mix);
}

#[test]
fn sleep_wakes_within_until_plus_jitter() {
    let mut w = world(9, 1, 512, FaultOptions::none());
    let steps = (0..100)
        .map(|_| ScriptStep::SleepFor(1_000, Duration::from_millis(250)))
        .collect();
    let task = spawn(&mut w, H0, steps);
    w.run_until(TrueTime::from_secs(200)).unwrap();
    let rec = record(&w, task);
    let mut jitters = std::collections::BTreeSet::new();
    for pair in rec.windows(2) {
        let slept = pair[1].0.as_millis() - pair[0].0.as_millis();
        assert!((1_000..=1_250).contains(&slept), "{slept}");
        jitters.insert(slept);
    }
    assert!(jitters.len() > 20);
}

#[test]
fn watchdog_reset_cuts_the_storage_path_of_pending_writes() {
    let faults = FaultOptions {
        io_hang_probability: 1.0,
        io_hang_ms_min: 20_000,
        io_hang_ms_max: 20_000,
        crash_write_land_probability: 0.0,
        ..FaultOptions::none()
    };
    let mut w = world(1, 1, 512, faults);
    spawn(
        &mut w,
        H0,
        vec![ScriptStep::Io(vec![write(0, vec![9; 512])], SECOND)],
    );
    w.arm_watchdog(H0, Some(MonoTime::from_millis(5_000)));
    w.run_until(TrueTime::from_secs(60)).unwrap();
    assert_eq!(w.workload().crashes, vec![(H0, TrueTime::from_secs(5))]);
    assert_eq!(
        w.disk(0).peek(0, 512),
        [0; 512],
        "never lands after the reset"
    );
    let fired = w
        .trace()
        .all()
        .unwrap()
        .iter()
        .any(|e| e.kind == TraceKind::WatchdogFire);
    assert!(fired);
}

#[test]
fn frozen_host_watchdog_fires_when_it_resumes_but_a_paused_daemon_is_reset_on_time() {
    for (frozen, reset_at) in [(true, 20), (false, 5)] {
        let mut w = world(1, 1, 512, FaultOptions::none());
        w.arm_watchdog(H0, Some(MonoTime::from_millis(5_000)));
        w.run_until(TrueTime::from_secs(1)).unwrap();
        w.pause_host(H0, 19_000, frozen);
        w.run_until(TrueTime::from_secs(60)).unwrap();
        assert_eq!(
            w.workload().crashes,
            vec![(H0, TrueTime::from_secs(reset_at))]
        );
    }
}

#[test]
fn misaligned_io_fails_with_einval_and_changes_nothing() {
    let mut w = world(1, 1, 4096, FaultOptions::none());
    let task = spawn(
        &mut w,
        H0,
        vec![ScriptStep::Io(
            vec![write(512, vec![1; 512]), read(0, 100)],
            SECOND,
        )],
    );
    w.run_until(TrueTime::from_secs(1)).unwrap();
    let einval = IoOutcome::Failed(IoFailure::Error { errno: 22 });
    assert_eq!(
        io_outcomes(&record(&w, task)[1].1),
        [einval.clone(), einval]
    );
    assert_eq!(w.disk(0).peek(0, 4096), vec![0; 4096]);
}

/// Fails as soon as any sector of disk 0 becomes non-zero.
struct DiskStaysZero;

impl Invariant<ScriptWorkload> for DiskStaysZero {
    fn name(&self) -> &'static str {
        "disk_stays_zero"
    }
    fn source(&self) -> &'static str {
        "test: a deliberately failing invariant"
    }
    fn check(&mut self, view: &WorldView<'_, ScriptWorkload>) -> Result<(), Box<Violation>> {
        if view.disk(0).peek(0, 512).iter().all(|&b| b == 0) {
            return Ok(());
        }
        let hosts = view.last_event_host().into_iter().collect();
        Err(Violation::new("sector 0 was written", hosts, "sector 0"))
    }
}

#[test]
fn violation_report_names_invariant_source_hosts_seed_and_recent_events() {
    let mut w = world(77, 2, 512, FaultOptions::none());
    w.add_invariant(Box::new(DiskStaysZero));
    spawn(
        &mut w,
        H1,
        vec![ScriptStep::Io(vec![write(0, vec![1; 512])], SECOND)],
    );
    let v = w.run_until(TrueTime::from_secs(1)).expect_err("must fail");
    assert_eq!(v.invariant, "disk_stays_zero");
    assert_eq!(v.hosts, vec![H1]);
    assert_eq!(v.seed, 77);
    assert_eq!(v.at, TrueTime::from_millis(1));
    let text = v.to_string();
    for needle in [
        "INVARIANT VIOLATED: disk_stays_zero",
        "deliberately failing",
        "sector 0 was written",
        "h1",
        "seed 77",
        "landed disk 0 sector 0",
    ] {
        assert!(text.contains(needle), "report lacks {needle:?}:\n{text}");
    }
    assert!(!v.trace_tail.is_empty() && v.trace_tail.len() <= 30);
}
