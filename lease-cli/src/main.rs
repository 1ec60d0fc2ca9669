//! The `lease` binary: sanlock-compatible disk leases.
//!
//! Invoked as `lease` or, through a symlink or copy, as `sanlock`: the name makes no
//! difference, the same command lines give the same output, so existing scripts calling
//! `sanlock direct ...` keep working.
//!
//! **Architecture invariant:** this crate is the only one that knows about argv, exit codes
//! and JSON; the lease logic is in `lease-core`, the device I/O in `lease-io`.

mod cli;
mod client;
mod daemon;
mod demo;
mod direct;
mod rindex_client;

use std::io;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, DirectAction};
use direct::Console;

/// sanlock accepts `sanlock <client action>` without the word `client`: insert it.
fn sanlock_argv(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    const TOP: [&str; 10] = [
        "direct",
        "client",
        "daemon",
        "demo",
        "sim",
        "help",
        "--help",
        "-h",
        "--version",
        "-V",
    ];
    let first = args
        .iter()
        .skip(1)
        .find(|a| *a != "--json")
        .and_then(|a| a.to_str());
    if let Some(first) = first {
        if !TOP.contains(&first) && !first.starts_with('-') {
            let index = args.iter().position(|a| a == first).unwrap_or(1);
            args.insert(index, "client".into());
        }
    }
    args
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(sanlock_argv(std::env::args_os().collect()));
    // The daemon runs for long and logs from many threads: it must not hold the stdio locks.
    if let Command::Daemon(args) = &cli.command {
        return match daemon::run(args) {
            Ok(status) => ExitCode::from(status),
            Err(error) => {
                eprintln!("lease daemon: {error:#}");
                ExitCode::from(1)
            }
        };
    }
    let stdout = io::stdout();
    let stderr = io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    let mut console = Console {
        out: &mut out,
        err: &mut err,
        json: cli.json,
    };
    let status = match &cli.command {
        Command::Direct(direct) => match &direct.action {
            DirectAction::Init(args) => direct::init::run(args, &mut console),
            DirectAction::ReadLeader(args) => direct::read_leader::run(args, &mut console),
            DirectAction::Dump(args) => direct::dump::run(args, &mut console),
            DirectAction::Format(args) => {
                direct::rindex::run(direct::rindex::Action::Format, args, &mut console)
            }
            DirectAction::Lookup(args) => {
                direct::rindex::run(direct::rindex::Action::Lookup, args, &mut console)
            }
            DirectAction::Update(args) => {
                direct::rindex::run(direct::rindex::Action::Update, args, &mut console)
            }
            DirectAction::Rebuild(args) => {
                direct::rindex::run(direct::rindex::Action::Rebuild, args, &mut console)
            }
        },
        Command::Client(args) => client::run(args, &mut console).or_else(|error| {
            let _ = writeln!(console.err, "lease client: {error:#}");
            Ok(1)
        }),
        Command::Daemon(_) => unreachable!("handled above"),
        Command::Demo(args) => demo::run(args).or_else(|error| {
            let _ = writeln!(console.err, "lease demo: {error:#}");
            Ok(1)
        }),
    };
    let status = status.and_then(|status| console.out.flush().map(|()| status));
    match status {
        Ok(status) => ExitCode::from(status),
        // Broken pipe and the like: nothing more can be said on stdout.
        Err(error) => {
            let _ = writeln!(console.err, "lease: cannot write output: {error}");
            ExitCode::from(1)
        }
    }
}
