//! `sim`: run the deterministic simulator for one seed or many.
//!
//! ```text
//! cargo run --release -p sim -- --seed 42            # one seed, prints seed + trace hash
//! cargo run --release -p sim -- --seeds 100 --hosts 3  # seeds 0..100 on parallel threads
//! ```
//! Exits non-zero if any invariant fails; every failing seed is printed with its trace hash
//! and the violation report (re-run it with `--seed N`).

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use sim::runner::{run_seed, run_seeds, FaultPreset, RunConfig, WorkloadKind};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Faults {
    None,
    Timely,
    Safety,
    Chaos,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Load {
    Toy,
    Delta,
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
    /// Number of simulated hosts (2..=2000).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(2..=2000))]
    hosts: u32,
    /// Simulated seconds per seed (default: 600 for toy, 3600 for delta).
    #[arg(long)]
    duration_secs: Option<u64>,
    /// Fault preset.
    #[arg(long, value_enum, default_value_t = Faults::Safety)]
    faults: Faults,
    /// Workload.
    #[arg(long, value_enum, default_value_t = Load::Toy)]
    workload: Load,
    /// Sector size of the simulated disks (512 or 4096).
    #[arg(long, default_value_t = 512, value_parser = parse_sector_size)]
    sector_size: u64,
    /// Delta workload: misconfigure the last host with the first host's host_id.
    #[arg(long)]
    duplicate_host_id: bool,
    /// Print the whole trace of a single-seed run (optionally only these hosts, e.g. 0,2).
    #[arg(long)]
    trace: bool,
    /// With --trace: only events of these host indices.
    #[arg(long, value_delimiter = ',')]
    trace_hosts: Vec<u32>,
    /// Worker threads for --seeds.
    #[arg(long, default_value_t = 2)]
    threads: usize,
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
    let mut config = RunConfig::new(args.seed, args.hosts);
    config.sector_size = args.sector_size;
    config.duplicate_host_id = args.duplicate_host_id;
    config.keep_full_trace = args.trace && args.seeds.is_none();
    (config.workload, config.duration_secs) = match args.workload {
        Load::Toy => (WorkloadKind::Toy, args.duration_secs.unwrap_or(600)),
        Load::Delta => (WorkloadKind::Delta, args.duration_secs.unwrap_or(3600)),
    };
    config.faults = match args.faults {
        Faults::None => FaultPreset::None,
        Faults::Timely => FaultPreset::Timely,
        Faults::Safety => FaultPreset::Safety,
        Faults::Chaos => FaultPreset::Chaos,
    };
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
        return match report.violation {
            None => {
                println!("ok");
                ExitCode::SUCCESS
            }
            Some(v) => {
                println!("{v}");
                ExitCode::FAILURE
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
    }
    println!(
        "{} seeds ({}..{}), {} failed, {} hosts, {}s simulated each, {:.2}s wall on {} threads",
        batch.runs.len(),
        args.seed,
        args.seed + count,
        failed,
        args.hosts,
        config.duration_secs,
        batch.wall.as_secs_f64(),
        args.threads
    );
    println!(
        "{:.2} seeds/s, {:.0} simulated host-seconds per wall-second",
        batch.seeds_per_second(),
        batch.host_seconds_per_second()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
