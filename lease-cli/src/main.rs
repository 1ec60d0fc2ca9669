//! The `lease` binary: sanlock-compatible disk leases.
//!
//! Invoked as `lease` or, through a symlink or copy, as `sanlock`: the name makes no
//! difference, the same command lines give the same output, so existing scripts calling
//! `sanlock direct ...` keep working.
//!
//! **Architecture invariant:** this crate is the only one that knows about argv, exit codes
//! and JSON; the lease logic is in `lease-core`, the device I/O in `lease-io`.

mod cli;
mod direct;

use std::io;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, DirectAction};
use direct::Console;

fn main() -> ExitCode {
    let cli = Cli::parse();
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
        },
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
