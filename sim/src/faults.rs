//! The fault model: what the simulated world may do to hosts, clocks and disks.
//!
//! [`FaultOptions`] lists every fault field by field. Probabilities named `*_per_step` are
//! rolled each time a host's operation takes a step (is resumed by the driver); probabilities
//! named `io_*` are rolled per issued I/O. All durations are milliseconds of true time.
//!
//! Presets, weakest first: [`FaultOptions::none`], [`FaultOptions::crashes`],
//! [`FaultOptions::pauses`], [`FaultOptions::timely`], [`FaultOptions::no_hangs`],
//! [`FaultOptions::safety`] (everything claimed below) and [`FaultOptions::chaos`] (beyond it);
//! [`FaultOptions::quiet`] switches a world's faults off for a liveness phase. The table is in
//! `docs/sim.md`.
//!
//! # The I/O model (three times)
//! Every I/O has an *issue* time, a *land* time (a write takes effect; a read samples the
//! disk) and a *completion* time (the issuer hears of it). Land ≤ completion for every I/O
//! that completes successfully: a write reported `Written` has landed (O_DIRECT, no lying
//! cache). The issuer's deadline may pass before completion: the operation is then resumed
//! with `TimedOut`, and the write still lands later, unless the issuing host is reset
//! (crash, watchdog) before it lands.
//!
//! # What the protocols claim to survive (injected in safety runs, [`FaultOptions::safety`])
//! * Any latency, including I/O that completes long after its deadline, and timed-out writes
//!   that land later while the issuer is still up (a hang).
//! * Read and write errors; a failed write may have landed some of its sectors.
//! * Multi-sector writes torn at sector boundaries; reads concurrent with writes that see each
//!   sector whole-old or whole-new, in any mix across sectors.
//! * Host crashes at any step; a crash loses each not-yet-landed sector of the host's pending
//!   writes, or lands it at the crash instant ([`FaultOptions::crash_write_land_probability`]).
//! * Process pauses and whole-host freezes of any length, including longer than
//!   `host_dead_seconds`: the paused host's operations make no progress, its clock keeps
//!   running (so it jumps, as seen by the operations, on resume) and its pending I/O keeps
//!   landing.
//! * Loss of one host's storage path (its I/O fails, or hangs until the path returns) while
//!   the other hosts' I/O works.
//! * Clock drift within ±[`FaultOptions::drift_ppm_max`].
//!
//! Exception: uniqueness of a host_id between two machines *misconfigured* with the same
//! host_id is promised only under timeliness (Chockler–Malkhi; sanlock(8): delta leases
//! "attempt to detect" duplicates). Test it with [`FaultOptions::timely`] (no hangs, no
//! pauses); under [`FaultOptions::safety`] a stale read across a long pause, or a hung write
//! landing late, lets the second machine take a live host_id.
//!
//! # Assumptions the protocols rest on (never violated in safety runs)
//! * **Fencing by the deadline.** A host whose renewals fail is fenced (its lease holders are
//!   killed) by the time its delta lease expires at other hosts: workloads count a host's
//!   lease as held only while its last successful renewal is less than
//!   `id_renewal_fail_seconds` old on *its own* clock, and arm the simulated watchdog so the
//!   host is reset no later than `host_dead_seconds` after that renewal.
//! * **A reset cuts the storage path.** I/O that would land after its issuer's host was reset
//!   (crash or watchdog) never lands. sanlock relies on this: an I/O "never really times out"
//!   until the host is reset or its path is cut.
//! * **Sector atomicity.** A single sector is written whole or not at all; there is no
//!   misdirected write and no silent corruption (not modelled yet).
//! * **Bounded drift, no steps.** Monotonic clocks run at rate 1 ± ρ; clock steps
//!   ([`FaultOptions::clock_step_probability_per_step`]) break the delta-lease timing
//!   argument (Chockler–Malkhi: uniqueness only under timeliness) and are only for
//!   [`FaultOptions::chaos`] runs, where delta-lease violations are expected findings, not bugs.

use lease_core::timeouts::Timeouts;

use crate::clock::DRIFT_PPM_MAX;

/// Every fault and timing parameter of a simulated world. See the module docs for the model.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultOptions {
    // ---- Latency (true ms) ----
    /// Read latency from issue to the start of sampling: minimum.
    pub read_latency_ms_min: u64,
    /// Read latency: mean of the exponential tail above the minimum (approximate: the cap trims).
    pub read_latency_ms_mean: u64,
    /// Read latency: hard cap (a read slower than this is a *hang*, see `io_hang_*`).
    pub read_latency_ms_max: u64,
    /// Write latency from issue to the landing of its first sector: minimum.
    pub write_latency_ms_min: u64,
    /// Write latency: mean (approximate).
    pub write_latency_ms_mean: u64,
    /// Write latency: hard cap.
    pub write_latency_ms_max: u64,
    /// After a write's last sector lands (or a read finishes sampling), the issuer hears of it
    /// after a further delay uniform in `[0, completion_delay_ms_max]`.
    pub completion_delay_ms_max: u64,
    /// A read samples each sector at some instant within a window of up to this length
    /// (uniform per read), so a multi-sector read concurrent with writes may see any mix of
    /// whole-old and whole-new sectors. 0: reads are instantaneous snapshots.
    pub read_sample_window_ms_max: u64,
    /// Torn-write window: each sector of a multi-sector write lands at its own instant within
    /// a window of up to this length after the first, in random order. 0: writes land whole.
    pub torn_write_window_ms_max: u64,

    // ---- Hangs (I/O that lands and completes late) ----
    /// Probability that an I/O hangs: its land and completion times are pushed out by a hang
    /// duration, typically past the issuer's deadline (the issuer sees `TimedOut`; a write
    /// still lands later).
    pub io_hang_probability: f64,
    /// Hang duration: minimum.
    pub io_hang_ms_min: u64,
    /// Hang duration: maximum.
    pub io_hang_ms_max: u64,

    // ---- Errors ----
    /// Probability that an I/O completes with EIO. A failed read returns no data.
    pub io_error_probability: f64,
    /// For a failed write, the probability that each of its sectors lands anyway.
    pub error_write_sector_land_probability: f64,

    // ---- Crashes ----
    /// Probability, at each step of an operation, that its host crashes right after issuing
    /// what the step asked for. Every operation of the host is abandoned.
    pub crash_probability_per_step: f64,
    /// At a crash (or watchdog reset), the probability that each not-yet-landed sector of the
    /// host's pending writes lands at the crash instant; otherwise it is lost forever.
    pub crash_write_land_probability: f64,
    /// Delay from crash to reboot: minimum.
    pub restart_delay_ms_min: u64,
    /// Delay from crash to reboot: maximum.
    pub restart_delay_ms_max: u64,

    // ---- Pauses ----
    /// Probability, at each step, that the host pauses (SIGSTOP, GC, hypervisor stun).
    pub pause_probability_per_step: f64,
    /// Pause duration: minimum.
    pub pause_ms_min: u64,
    /// Pause duration: maximum (set beyond `host_dead_seconds` to test long stalls).
    pub pause_ms_max: u64,
    /// Probability that a pause freezes the whole host (the simulated watchdog is frozen
    /// too, as in VM suspend) rather than only the lease daemon (the watchdog keeps running).
    pub pause_host_frozen_probability: f64,

    // ---- Clocks ----
    /// Each boot draws its clock's drift uniformly from `[-drift_ppm_max, +drift_ppm_max]`.
    pub drift_ppm_max: u64,
    /// Each boot's clock starts at a reading uniform in `[0, boot_clock_origin_ms_max]`.
    pub boot_clock_origin_ms_max: u64,
    /// Probability, at each step, of a clock step (outside the safety model; 0 in safety runs).
    pub clock_step_probability_per_step: f64,
    /// Size of a clock step: uniform in `[1, clock_step_ms_max]`, forward jump or freeze with
    /// equal probability.
    pub clock_step_ms_max: u64,

    // ---- Storage path loss (one host only) ----
    /// Probability, at each step, that the host loses its path to every disk.
    pub path_loss_probability_per_step: f64,
    /// Path-loss duration: minimum.
    pub path_loss_ms_min: u64,
    /// Path-loss duration: maximum.
    pub path_loss_ms_max: u64,
    /// Probability that a lost path queues I/O until it returns (multipath
    /// `queue_if_no_path`: landing and completion wait) rather than failing it with EIO
    /// (in-flight writes that had not landed are then lost).
    pub path_loss_hang_probability: f64,
}

impl FaultOptions {
    /// No faults at all; fixed 1 ms latency. Useful for unit tests of exact behaviour.
    pub fn none() -> FaultOptions {
        FaultOptions {
            read_latency_ms_min: 1,
            read_latency_ms_mean: 1,
            read_latency_ms_max: 1,
            write_latency_ms_min: 1,
            write_latency_ms_mean: 1,
            write_latency_ms_max: 1,
            completion_delay_ms_max: 0,
            read_sample_window_ms_max: 0,
            torn_write_window_ms_max: 0,
            io_hang_probability: 0.0,
            io_hang_ms_min: 0,
            io_hang_ms_max: 0,
            io_error_probability: 0.0,
            error_write_sector_land_probability: 0.0,
            crash_probability_per_step: 0.0,
            crash_write_land_probability: 0.0,
            restart_delay_ms_min: 1_000,
            restart_delay_ms_max: 1_000,
            pause_probability_per_step: 0.0,
            pause_ms_min: 0,
            pause_ms_max: 0,
            pause_host_frozen_probability: 0.0,
            drift_ppm_max: 0,
            boot_clock_origin_ms_max: 0,
            clock_step_probability_per_step: 0.0,
            clock_step_ms_max: 0,
            path_loss_probability_per_step: 0.0,
            path_loss_ms_min: 0,
            path_loss_ms_max: 0,
            path_loss_hang_probability: 0.0,
        }
    }

    /// Every fault the protocols claim to survive (module docs), scaled to `timeouts`:
    /// hangs, pauses and path losses reach past `host_dead_seconds`.
    pub fn safety(timeouts: &Timeouts) -> FaultOptions {
        let io_ms = u64::from(timeouts.io_timeout_seconds) * 1000;
        let dead_ms = timeouts.host_dead_seconds() * 1000;
        FaultOptions {
            read_latency_ms_min: 1,
            read_latency_ms_mean: 5,
            read_latency_ms_max: io_ms / 2,
            write_latency_ms_min: 1,
            write_latency_ms_mean: 5,
            write_latency_ms_max: io_ms / 2,
            completion_delay_ms_max: 3,
            read_sample_window_ms_max: 5,
            torn_write_window_ms_max: 5,
            io_hang_probability: 0.002,
            io_hang_ms_min: io_ms / 2,
            io_hang_ms_max: dead_ms * 2,
            io_error_probability: 0.002,
            error_write_sector_land_probability: 0.5,
            crash_probability_per_step: 0.0005,
            crash_write_land_probability: 0.5,
            restart_delay_ms_min: 1_000,
            restart_delay_ms_max: dead_ms * 2,
            pause_probability_per_step: 0.0005,
            pause_ms_min: 1,
            pause_ms_max: dead_ms * 3 / 2,
            pause_host_frozen_probability: 0.5,
            drift_ppm_max: 200,
            boot_clock_origin_ms_max: 600_000,
            clock_step_probability_per_step: 0.0,
            clock_step_ms_max: 0,
            path_loss_probability_per_step: 0.0005,
            path_loss_ms_min: 1_000,
            path_loss_ms_max: dead_ms * 2,
            path_loss_hang_probability: 0.5,
        }
    }

    /// [`FaultOptions::safety`] restricted to *timely* runs, the Chockler–Malkhi assumption
    /// under which delta leases promise uniqueness even to hosts misconfigured with the same
    /// host_id: every I/O completes (or fails) within io_timeout, and no host pauses. Crashes,
    /// errors, torn writes, drift and failing (not hanging) path loss remain.
    pub fn timely(timeouts: &Timeouts) -> FaultOptions {
        FaultOptions {
            io_hang_probability: 0.0,
            pause_probability_per_step: 0.0,
            path_loss_hang_probability: 0.0,
            ..FaultOptions::safety(timeouts)
        }
    }

    /// [`FaultOptions::safety`] without I/O that lands late: no I/O hangs, and a lost path
    /// fails its I/O rather than queueing it. Every I/O completes or fails within its
    /// deadline, so no write lands after its operation gave up on it. Pauses of any length,
    /// crashes, errors, failing path loss, torn writes and drift remain.
    pub fn no_hangs(timeouts: &Timeouts) -> FaultOptions {
        FaultOptions {
            io_hang_probability: 0.0,
            path_loss_hang_probability: 0.0,
            ..FaultOptions::safety(timeouts)
        }
    }

    /// [`FaultOptions::no_hangs`] without I/O errors or path loss: every I/O succeeds, late
    /// only within its deadline. Crashes (with writes lost or landed at the crash), pauses of
    /// any length, torn writes and drift remain.
    pub fn pauses(timeouts: &Timeouts) -> FaultOptions {
        FaultOptions {
            io_error_probability: 0.0,
            path_loss_probability_per_step: 0.0,
            ..FaultOptions::no_hangs(timeouts)
        }
    }

    /// [`FaultOptions::pauses`] without pauses: crashes, torn writes and drift only.
    pub fn crashes(timeouts: &Timeouts) -> FaultOptions {
        FaultOptions {
            pause_probability_per_step: 0.0,
            ..FaultOptions::pauses(timeouts)
        }
    }

    /// [`FaultOptions::safety`] plus faults outside the model (clock steps, extreme drift).
    /// Delta-lease violations found under these are expected, not bugs; Disk Paxos safety
    /// must still hold (it needs no timing).
    pub fn chaos(timeouts: &Timeouts) -> FaultOptions {
        let dead_ms = timeouts.host_dead_seconds() * 1000;
        FaultOptions {
            drift_ppm_max: 20_000,
            clock_step_probability_per_step: 0.0005,
            clock_step_ms_max: dead_ms,
            ..FaultOptions::safety(timeouts)
        }
    }

    /// These options with every fault switched off (no hangs, errors, crashes, pauses, path
    /// loss or clock steps); latencies, drift and reboot delays unchanged. The liveness phase
    /// of a run switches to this.
    pub fn quiet(&self) -> FaultOptions {
        FaultOptions {
            io_hang_probability: 0.0,
            io_error_probability: 0.0,
            crash_probability_per_step: 0.0,
            pause_probability_per_step: 0.0,
            clock_step_probability_per_step: 0.0,
            path_loss_probability_per_step: 0.0,
            ..self.clone()
        }
    }

    /// Panics with a message naming the field if the options are inconsistent.
    pub fn validate(&self) {
        let ordered = |name: &str, min: u64, mean: u64, max: u64| {
            assert!(
                min <= mean && mean <= max,
                "{name}: min {min} mean {mean} max {max}"
            );
        };
        ordered(
            "read_latency_ms",
            self.read_latency_ms_min,
            self.read_latency_ms_mean,
            self.read_latency_ms_max,
        );
        ordered(
            "write_latency_ms",
            self.write_latency_ms_min,
            self.write_latency_ms_mean,
            self.write_latency_ms_max,
        );
        ordered(
            "io_hang_ms",
            self.io_hang_ms_min,
            self.io_hang_ms_min,
            self.io_hang_ms_max,
        );
        ordered(
            "restart_delay_ms",
            self.restart_delay_ms_min,
            self.restart_delay_ms_min,
            self.restart_delay_ms_max,
        );
        ordered(
            "pause_ms",
            self.pause_ms_min,
            self.pause_ms_min,
            self.pause_ms_max,
        );
        ordered(
            "path_loss_ms",
            self.path_loss_ms_min,
            self.path_loss_ms_min,
            self.path_loss_ms_max,
        );
        for (name, p) in [
            ("io_hang_probability", self.io_hang_probability),
            ("io_error_probability", self.io_error_probability),
            (
                "error_write_sector_land_probability",
                self.error_write_sector_land_probability,
            ),
            (
                "crash_probability_per_step",
                self.crash_probability_per_step,
            ),
            (
                "crash_write_land_probability",
                self.crash_write_land_probability,
            ),
            (
                "pause_probability_per_step",
                self.pause_probability_per_step,
            ),
            (
                "pause_host_frozen_probability",
                self.pause_host_frozen_probability,
            ),
            (
                "clock_step_probability_per_step",
                self.clock_step_probability_per_step,
            ),
            (
                "path_loss_probability_per_step",
                self.path_loss_probability_per_step,
            ),
            (
                "path_loss_hang_probability",
                self.path_loss_hang_probability,
            ),
        ] {
            assert!(
                (0.0..=1.0).contains(&p),
                "{name} = {p} is not a probability"
            );
        }
        assert!(
            self.drift_ppm_max <= DRIFT_PPM_MAX as u64,
            "drift_ppm_max {} > {DRIFT_PPM_MAX}",
            self.drift_ppm_max
        );
        assert!(
            self.restart_delay_ms_min > 0,
            "restart_delay_ms_min must be > 0"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_safety_excludes_clock_steps() {
        let t = Timeouts::default();
        FaultOptions::none().validate();
        FaultOptions::safety(&t).validate();
        FaultOptions::timely(&t).validate();
        FaultOptions::no_hangs(&t).validate();
        FaultOptions::pauses(&t).validate();
        FaultOptions::crashes(&t).validate();
        FaultOptions::chaos(&t).validate();
        assert_eq!(
            FaultOptions::safety(&t).clock_step_probability_per_step,
            0.0
        );
        // Pauses, hangs and path losses reach beyond host_dead_seconds.
        let dead_ms = t.host_dead_seconds() * 1000;
        let s = FaultOptions::safety(&t);
        assert!(s.pause_ms_max > dead_ms && s.io_hang_ms_max > dead_ms);
        assert!(s.path_loss_ms_max > dead_ms);
    }
}
