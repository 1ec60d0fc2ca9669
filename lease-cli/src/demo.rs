//! `lease demo [DEVICE]`: the README's main job.
//!
//! On a file-backed shared device (`./lease-demo.img`, created sparse, 64 MiB) when none is
//! named, it lays out a lockspace and resource leases exactly as `sanlock direct init` would,
//! then shows them with `direct dump` and `direct read_leader`, printing every command before
//! its output so the demo doubles as a tutorial.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use lease_io::{create_image_file, probe, IfExists};

use crate::cli::DemoArgs;

/// Size of the default demo image.
pub const DEMO_IMAGE_BYTES: u64 = 64 << 20;
/// Default demo image path (relative to the current directory).
pub const DEMO_IMAGE: &str = "lease-demo.img";

struct Demo {
    exe: PathBuf,
    device: String,
}

impl Demo {
    /// Print `$ lease ARGS`, run it, return its exit status.
    fn run(&self, args: &[&str]) -> Result<i32> {
        println!("$ lease {}", args.join(" "));
        std::io::stdout().flush()?;
        let status = Command::new(&self.exe)
            .args(args.iter().map(OsString::from))
            .status()
            .with_context(|| format!("running {}", self.exe.display()))?;
        println!();
        Ok(status.code().unwrap_or(-1))
    }

    fn expect_ok(&self, args: &[&str]) -> Result<()> {
        match self.run(args)? {
            0 => Ok(()),
            code => bail!("`lease {}` failed with exit status {code}", args.join(" ")),
        }
    }
}

pub fn run(args: &DemoArgs) -> Result<u8> {
    let device = match &args.device {
        Some(device) => device.clone(),
        None => {
            let path = Path::new(DEMO_IMAGE);
            if !path.exists() {
                create_image_file(path, DEMO_IMAGE_BYTES, IfExists::Refuse)
                    .with_context(|| format!("creating {DEMO_IMAGE}"))?;
                println!(
                    "created {DEMO_IMAGE} ({} MiB, sparse) as the shared device",
                    DEMO_IMAGE_BYTES >> 20
                );
            }
            path.to_path_buf()
        }
    };
    let info = probe(&device).with_context(|| format!("probing {}", device.display()))?;
    println!(
        "device {}: {:?}, {} bytes, logical sector size {}\n",
        device.display(),
        info.kind,
        info.size_bytes,
        info.logical_sector_size
    );
    if info.size_bytes < 4 << 20 {
        bail!(
            "{} is too small for the demo (needs 4 MiB)",
            device.display()
        );
    }
    let demo = Demo {
        exe: std::env::current_exe()?,
        device: device.display().to_string().replace(':', "\\:"),
    };
    let d = &demo.device;
    println!("# A lockspace (host_id leases for up to 2000 hosts) at offset 0, io_timeout 10 s:");
    demo.expect_ok(&["direct", "init", "-s", &format!("DEMO:0:{d}:0")])?;
    println!("# Two resource leases (say, two VMs), one MiB each, after it:");
    demo.expect_ok(&["direct", "init", "-r", &format!("DEMO:vm1:{d}:1M")])?;
    demo.expect_ok(&["direct", "init", "-r", &format!("DEMO:vm2:{d}:2M")])?;
    println!("# What is on the device (the same table as `sanlock direct dump`):");
    demo.expect_ok(&["direct", "dump", &format!("{d}:0:3M")])?;
    println!("# Every field of host 1's delta lease and of vm1's paxos leader:");
    demo.expect_ok(&["direct", "read_leader", "-s", &format!("DEMO:1:{d}:0")])?;
    demo.expect_ok(&["direct", "read_leader", "-r", &format!("DEMO:vm1:{d}:1M")])?;
    println!("# The same, for scripts:");
    demo.expect_ok(&[
        "--json",
        "direct",
        "read_leader",
        "-r",
        &format!("DEMO:vm1:{d}:1M"),
    ])?;
    println!(
        "Next: start a daemon per host (`lease daemon -D -w 0 --run-dir DIR -e HOSTNAME`) and"
    );
    println!("join with `lease client add_lockspace -s DEMO:HOST_ID:{d}:0 --run-dir DIR`.");
    Ok(0)
}
