//! `lease demo [DEVICE]`: the README's main job.
//!
//! On a file-backed shared device (`./lease-demo.img`, created sparse, 64 MiB) when none is
//! named, it lays out a lockspace and resource leases exactly as `sanlock direct init` would,
//! then shows them with `direct dump` and `direct read_leader`, printing every command before
//! its output so the demo doubles as a tutorial.
//!
//! Then it starts three hosts (three daemons, each with its own run directory and host name,
//! all on the one device) and plays a lease's life with a timeline: acquired by hostA, refused
//! to hostB, released and taken by hostB, requested away by hostC (the holder is killed), and
//! taken over by hostA once hostC's daemon is killed and hostC is dead by the timeouts. The demo
//! hosts use io_timeout 1 s and a watchdog fire timeout of 10 s, so a dead host is dead after
//! 18 s instead of sanlock's default 140 s.
//!
//! Then it starts three hosts (three daemons, each with its own run directory and host name,
//! all on the one device) and plays a lease's life with a timeline: acquired by hostA, refused
//! to hostB, released and taken by hostB, requested away by hostC (the holder is killed), and
//! taken over by hostA once hostC's daemon is killed and hostC is dead by the timeouts. The demo
//! hosts use io_timeout 1 s and a watchdog fire timeout of 10 s, so a dead host is dead after
//! 18 s instead of sanlock's default 140 s.

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
    if args.layout_only {
        return Ok(0);
    }
    hosts(&demo)?;
    Ok(0)
}

/// One demo host: a daemon child process with its own run directory.
struct Host {
    name: &'static str,
    host_id: u64,
    run_dir: PathBuf,
    daemon: Option<std::process::Child>,
}

impl Host {
    fn client(&self, exe: &Path, args: &[&str]) -> std::process::Output {
        Command::new(exe)
            .arg("client")
            .args(args)
            .arg("--run-dir")
            .arg(&self.run_dir)
            .output()
            .unwrap_or_else(|e| panic!("running lease client: {e}"))
    }

    /// `lease client command -r RES -c sleep 3600` in the background: the lease holder.
    fn hold(&self, exe: &Path, resource: &str) -> Result<std::process::Child> {
        Command::new(exe)
            .args(["client", "command", "-r", resource, "--run-dir"])
            .arg(&self.run_dir)
            .args(["-c", "sleep", "3600"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting a lease holder")
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
    }
}

/// Prints events with the time elapsed since the hosts started.
struct Timeline {
    start: std::time::Instant,
}

impl Timeline {
    fn say(&self, host: &str, what: &str) {
        println!(
            "[{:7.2} s] {host:<6} {what}",
            self.start.elapsed().as_secs_f64()
        );
        let _ = std::io::stdout().flush();
    }
}

/// Wait (bounded) until a holder process has its lease (true) or has exited (false).
fn wait_holder(exe: &Path, host: &Host, holder: &mut std::process::Child) -> Result<bool> {
    let pid = holder.id().to_string();
    for _ in 0..600 {
        if holder.try_wait()?.is_some() {
            return Ok(false);
        }
        let out = host.client(exe, &["inquire", "-p", &pid]);
        if String::from_utf8_lossy(&out.stdout).contains("res_count 1") {
            return Ok(true);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    bail!(
        "the lease holder on {} neither got the lease nor exited",
        host.name
    )
}

/// Start holders on `host` until one gets the lease (a just-released lease may still be in
/// its holder's release for a moment), for at most `limit`.
fn hold_until_acquired(
    exe: &Path,
    host: &Host,
    resource: &str,
    limit: std::time::Duration,
) -> Result<std::process::Child> {
    let start = std::time::Instant::now();
    loop {
        let mut holder = host.hold(exe, resource)?;
        if wait_holder(exe, host, &mut holder)? {
            return Ok(holder);
        }
        if start.elapsed() > limit {
            bail!("{} could not acquire {resource}", host.name);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn start_hosts(exe: &Path, scratch: &Path, config: &Path) -> Result<Vec<Host>> {
    let mut hosts = Vec::new();
    for (host_id, name) in [(1, "hostA"), (2, "hostB"), (3, "hostC")] {
        let run_dir = scratch.join(name);
        std::fs::create_dir_all(&run_dir)?;
        let daemon = Command::new(exe)
            .args(["daemon", "-D", "-w", "0", "-e", name, "--run-dir"])
            .arg(&run_dir)
            .arg("--config")
            .arg(config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting a demo daemon")?;
        hosts.push(Host {
            name,
            host_id,
            run_dir,
            daemon: Some(daemon),
        });
    }
    for host in &hosts {
        let mut tries = 0;
        while !host.client(exe, &["version"]).status.success() {
            tries += 1;
            if tries > 100 {
                bail!("the {} daemon did not start", host.name);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    Ok(hosts)
}

fn hosts(demo: &Demo) -> Result<()> {
    let exe = &demo.exe;
    let d = &demo.device;
    let scratch = std::env::temp_dir().join(format!("lease-demo-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let config = scratch.join("demo.conf");
    std::fs::write(&config, "watchdog_fire_timeout = 10\n")?;
    println!("# Three hosts share the device: a daemon each (own run directory, own host name).");
    println!(
        "# Demo timeouts: io_timeout 1 s, watchdog fire timeout 10 s: dead after 8*1+10 = 18 s."
    );
    demo.expect_ok(&["direct", "init", "-s", &format!("DEMO:0:{d}:0"), "-o", "1"])?;
    demo.expect_ok(&["direct", "init", "-r", &format!("DEMO:vm1:{d}:1M")])?;
    let t = Timeline {
        start: std::time::Instant::now(),
    };
    let mut hosts = start_hosts(exe, &scratch, &config)?;
    t.say(
        "all",
        "daemons started; joining lockspace DEMO (host ids 1, 2, 3)",
    );
    std::thread::scope(|scope| {
        for host in &hosts {
            let lockspace = format!("DEMO:{}:{d}:0", host.host_id);
            scope.spawn(move || host.client(exe, &["add_lockspace", "-s", &lockspace, "-o", "1"]));
        }
    });
    t.say("all", "joined (each host renews its host_id every 2 s)");
    let out = hosts[0].client(exe, &["gets", "-h", "1"]);
    print!("{}", String::from_utf8_lossy(&out.stdout));

    let vm1 = format!("DEMO:vm1:{d}:1048576");
    let (a, b, c) = (&hosts[0], &hosts[1], &hosts[2]);
    let mut holder_a = a.hold(exe, &vm1)?;
    wait_holder(exe, a, &mut holder_a)?
        .then_some(())
        .context("hostA could not acquire vm1")?;
    t.say(
        "hostA",
        &format!("acquired vm1 for pid {} (exclusive)", holder_a.id()),
    );

    let mut try_b = b.hold(exe, &vm1)?;
    if wait_holder(exe, b, &mut try_b)? {
        bail!("hostB acquired vm1 while hostA holds it: exclusion broken");
    }
    t.say(
        "hostB",
        "acquire of vm1 refused: held by live host 1 (-243 SANLK_ACQUIRE_IDLIVE)",
    );

    holder_a.kill()?;
    holder_a.wait()?;
    t.say("hostA", "holder exited: vm1 released");
    let mut holder_b = hold_until_acquired(exe, b, &vm1, std::time::Duration::from_secs(10))?;
    t.say("hostB", &format!("acquired vm1 for pid {}", holder_b.id()));

    let out = c.client(exe, &["request", "-r", &format!("{vm1}:99"), "-f", "1"]);
    let said = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .to_string();
    t.say("hostC", &format!("requested vm1 with FORCE: {said}"));
    for _ in 0..300 {
        if holder_b.try_wait()?.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let status = holder_b
        .try_wait()?
        .context("hostB's holder was not killed by the request")?;
    t.say(
        "hostB",
        &format!("saw the request in hostC's bitmap, killed its holder ({status})"),
    );
    let mut holder_c = hold_until_acquired(exe, c, &vm1, std::time::Duration::from_secs(10))?;
    t.say("hostC", &format!("acquired vm1 for pid {}", holder_c.id()));

    let mut c_daemon = hosts[2].daemon.take().context("hostC daemon")?;
    c_daemon.kill()?;
    c_daemon.wait()?;
    t.say(
        "hostC",
        "daemon killed (SIGKILL): host 3 stops renewing, its lease stays on disk",
    );
    let killed = std::time::Instant::now();
    let _ = holder_c.kill();
    let _ = holder_c.wait();
    let a = &hosts[0];
    let mut last_state = String::new();
    loop {
        let mut holder_a = a.hold(exe, &vm1)?;
        if wait_holder(exe, a, &mut holder_a)? {
            let secs = killed.elapsed().as_secs_f64();
            t.say(
                "hostA",
                &format!("took over vm1 {secs:.1} s after hostC's daemon died (host_dead 18 s)"),
            );
            let _ = holder_a.kill();
            let _ = holder_a.wait();
            break;
        }
        let out = a.client(exe, &["gets", "-h", "1"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let state = text
            .lines()
            .find(|l| l.starts_with("h 3 "))
            .unwrap_or("")
            .to_string();
        if state != last_state {
            t.say("hostA", &format!("acquire refused; hostA sees {state}"));
            last_state = state;
        }
        if killed.elapsed() > std::time::Duration::from_secs(120) {
            bail!("hostA never took over vm1");
        }
    }
    demo.expect_ok(&["direct", "dump", &format!("{d}:0:2M")])?;
    for host in &hosts {
        let _ = host.client(exe, &["shutdown", "-f", "1"]);
    }
    drop(hosts);
    let _ = std::fs::remove_dir_all(&scratch);
    println!("Done: one owner at a time, at every step. `lease --help` for everything else.");
    Ok(())
}
