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
    Safety,
    Chaos,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Load {
    Toy,
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
    /// Simulated seconds per seed.
    #[arg(long, default_value_t = 600)]
    duration_secs: u64,
    /// Fault preset.
    #[arg(long, value_enum, default_value_t = Faults::Safety)]
    faults: Faults,
    /// Workload.
    #[arg(long, value_enum, default_value_t = Load::Toy)]
    workload: Load,
    /// Sector size of the simulated disks (512 or 4096).
    #[arg(long, default_value_t = 512, value_parser = parse_sector_size)]
    sector_size: u64,
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
    config.duration_secs = args.duration_secs;
    config.sector_size = args.sector_size;
    config.workload = match args.workload {
        Load::Toy => WorkloadKind::Toy,
    };
    config.faults = match args.faults {
        Faults::None => FaultPreset::None,
        Faults::Safety => FaultPreset::Safety,
        Faults::Chaos => FaultPreset::Chaos,
    };
    let Some(count) = args.seeds else {
        let report = run_seed(&config);
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
        args.duration_secs,
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
