//! `sim`: run the deterministic simulator for one seed or many.
//!
//! ```text
//! cargo run --release -p sim -- --seed 42                       # one seed: seed + trace hash
//! cargo run --release -p sim -- --workload paxos --seeds 100    # seeds 0..100, parallel threads
//! cargo run --release -p sim -- --regressions sim/regressions.txt
//! cargo run --release -p sim --features mutations -- --mutation skip-phase1-read --seeds 50
//! cargo run --release -p sim --features mutations -- --list-mutations
//! ```
//! Exits non-zero if any invariant fails (or, with `--mutation`, if none does); every failing
//! seed is printed with its trace hash, the violation report and the command that replays it.

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use sim::regressions::{self, Expect};
use sim::runner::{run_seed, run_seeds, FaultPreset, RunConfig, WorkloadKind};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Faults {
    None,
    Timely,
    NoHangs,
    Pauses,
    Crashes,
    Safety,
    Chaos,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Load {
    Toy,
    Delta,
    Paxos,
}

/// Deterministic multi-host simulator for the lease protocols.
#[derive(Debug, Parser)]
#[command(name = "sim")]
struct Args {
    /// Seed to run (with --seeds: the first seed).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Run this many seeds (seed, seed+1, ...) in parallel threads.
    #[arg(long)]
    seeds: Option<u64>,
    /// Number of simulated hosts (2..=2000; default 3, or the mutation's own).
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=2000))]
    hosts: Option<u32>,
    /// Simulated seconds per seed (default: 600 toy, 3600 delta, 1800 paxos; for paxos this
    /// is the safety phase, followed by the quiet and liveness phases).
    #[arg(long)]
    duration_secs: Option<u64>,
    /// Fault preset (default: safety; with --mutation, the mutation's own).
    #[arg(long, value_enum)]
    faults: Option<Faults>,
    /// Workload (default: toy; with --mutation, the mutation's own).
    #[arg(long, value_enum)]
    workload: Option<Load>,
    /// Sector size of the simulated disks (512 or 4096).
    #[arg(long, default_value_t = 512, value_parser = parse_sector_size)]
    sector_size: u64,
    /// Delta workload: misconfigure the last host with the first host's host_id.
    #[arg(long)]
    duplicate_host_id: bool,
    /// Paxos workload: number of resource leases (default 2, or the mutation's own).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=64))]
    resources: Option<u64>,
    /// Paxos workload: disks per resource lease (majorities for more than one).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=4))]
    lease_disks: u64,
    /// Paxos workload: hosts taking part in resource leases (default: up to 8).
    #[arg(long)]
    contenders: Option<u32>,
    /// Paxos workload: exclusive leases only (no shared mode, no conversions).
    #[arg(long)]
    exclusive_only: bool,
    /// Paxos workload: leave out the leader_lver_on_disk check (open finding H, a late write
    /// taking the leader record back: a storage event the protocol repairs); every other
    /// invariant still runs.
    #[arg(long)]
    no_leader_check: bool,
    /// Print the whole trace of a single-seed run (optionally only some hosts).
    #[arg(long)]
    trace: bool,
    /// With --trace: only events of these host indices.
    #[arg(long, value_delimiter = ',')]
    trace_hosts: Vec<u32>,
    /// Worker threads for --seeds.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Run with this deliberate protocol bug switched on (needs `--features mutations`).
    #[arg(long)]
    mutation: Option<String>,
    /// List the deliberate protocol bugs and exit.
    #[arg(long)]
    list_mutations: bool,
    /// Replay every entry of a regression list file (`workload seed faults options expect
    /// note`) and check each still ends as recorded.
    #[arg(long)]
    regressions: Option<std::path::PathBuf>,
}

fn parse_sector_size(s: &str) -> Result<u64, String> {
    match s {
        "512" => Ok(512),
        "4096" => Ok(4096),
        _ => Err(format!("sector size must be 512 or 4096, not {s}")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.list_mutations {
        for m in sim::mutations::all() {
            println!("{:<18} {}", m.name, m.description);
            println!("{:<18} hunted with: {}", "", m.hunt_args);
            if let Some(test) = m.scripted {
                println!(
                    "{:<18} teeth: scripted (sim/tests/t30_mutations.rs, {test})",
                    ""
                );
            }
        }
        if !sim::mutations::ENABLED {
            println!(
                "(this binary was built without --features mutations: none can be switched on)"
            );
        }
        return ExitCode::SUCCESS;
    }
    if let Some(path) = &args.regressions {
        return replay_regressions(path);
    }
    let hunt = match &args.mutation {
        None => None,
        Some(name) => match sim::mutations::activate(name) {
            Ok(m) => Some(m),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let mut config = RunConfig::new(args.seed, 3);
    if let Some(m) = &hunt {
        m.apply(&mut config);
    }
    if let Some(hosts) = args.hosts {
        config.host_count = hosts;
    }
    config.sector_size = args.sector_size;
    config.duplicate_host_id |= args.duplicate_host_id;
    config.keep_full_trace = args.trace && args.seeds.is_none();
    if let Some(resources) = args.resources {
        config.resources = resources as usize;
    }
    config.lease_disks = args.lease_disks as usize;
    config.contenders = args.contenders.or(config.contenders);
    config.exclusive_only |= args.exclusive_only;
    config.no_leader_check |= args.no_leader_check;
    if let Some(load) = args.workload {
        config.workload = match load {
            Load::Toy => WorkloadKind::Toy,
            Load::Delta => WorkloadKind::Delta,
            Load::Paxos => WorkloadKind::Paxos,
        };
    }
    config.duration_secs = args.duration_secs.unwrap_or_else(|| {
        hunt.as_ref()
            .map_or(config.workload.default_duration_secs(), |m| m.duration_secs)
    });
    if let Some(faults) = args.faults {
        config.faults = match faults {
            Faults::None => FaultPreset::None,
            Faults::Timely => FaultPreset::Timely,
            Faults::NoHangs => FaultPreset::NoHangs,
            Faults::Pauses => FaultPreset::Pauses,
            Faults::Crashes => FaultPreset::Crashes,
            Faults::Safety => FaultPreset::Safety,
            Faults::Chaos => FaultPreset::Chaos,
        };
    }
    let Some(count) = args.seeds else {
        let report = run_seed(&config);
        for ev in &report.trace {
            let wanted = args.trace_hosts.is_empty()
                || ev.host.is_some_and(|h| args.trace_hosts.contains(&h.0));
            if wanted {
                println!("{ev}");
            }
        }
        println!(
            "seed {} trace {:016x} events {} sim {}s hosts {}",
            report.seed,
            report.trace_hash,
            report.event_count,
            report.sim_ms / 1000,
            report.host_count
        );
        println!("  {}", report.summary);
        return match (report.violation, &hunt) {
            (None, None) => {
                println!("ok");
                ExitCode::SUCCESS
            }
            (None, Some(m)) => {
                println!("mutation {} not found by seed {}", m.name, report.seed);
                ExitCode::FAILURE
            }
            (Some(v), _) => {
                println!("{v}");
                println!(
                    "replay: {}",
                    regressions::replay_command(&config, hunt.as_ref().map(|m| m.name))
                );
                if hunt.is_some() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
        };
    };
    let batch = run_seeds(&config, args.seed, count, args.threads);
    let mut failed = 0;
    for run in batch.failures() {
        failed += 1;
        println!("FAILED seed {} trace {:016x}", run.seed, run.trace_hash);
        if let Some(v) = &run.violation {
            println!("{v}");
        }
        let replay = RunConfig {
            seed: run.seed,
            ..config.clone()
        };
        println!(
            "replay: {}",
            regressions::replay_command(&replay, hunt.as_ref().map(|m| m.name))
        );
    }
    println!(
        "{} {} seeds ({}..{}), {} failed, {} hosts, faults {}, {}s simulated each{}, {:.2}s wall on {} threads",
        config.workload.name(),
        batch.runs.len(),
        args.seed,
        args.seed + count,
        failed,
        config.host_count,
        config.faults.name(),
        config.duration_secs,
        if config.workload == WorkloadKind::Paxos {
            " (+ quiet and liveness phases)"
        } else {
            ""
        },
        batch.wall.as_secs_f64(),
        args.threads
    );
    println!(
        "{:.2} seeds/s, {:.0} simulated host-seconds per wall-second",
        batch.seeds_per_second(),
        batch.host_seconds_per_second()
    );
    match (&hunt, failed) {
        (None, 0) => ExitCode::SUCCESS,
        (None, _) => ExitCode::FAILURE,
        (Some(m), 0) => {
            println!("mutation {} NOT found in {count} seeds", m.name);
            ExitCode::FAILURE
        }
        (Some(m), _) => {
            let first = batch.failures().next().expect("failed > 0");
            println!(
                "mutation {} found by {failed} of {count} seeds; first reproducing seed: {}",
                m.name, first.seed
            );
            ExitCode::SUCCESS
        }
    }
}

fn replay_regressions(path: &std::path::Path) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let entries = match regressions::parse(&text) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let mut bad = 0;
    for entry in &entries {
        let outcome = regressions::check(entry);
        let verdict = match &outcome {
            Ok(()) => "ok".to_string(),
            Err(e) => {
                bad += 1;
                format!("MISMATCH: {e}")
            }
        };
        let expect = match &entry.expect {
            Expect::Pass => "pass".to_string(),
            Expect::Violation(name) => format!("violates {name}"),
        };
        println!(
            "{} seed {} ({expect}): {verdict}",
            entry.config.workload.name(),
            entry.config.seed
        );
    }
    println!("{} entries, {bad} mismatches", entries.len());
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
