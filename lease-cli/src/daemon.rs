//! `lease daemon`: run the lease daemon with sanlock's options, so it can replace
//! `sanlock daemon` in existing service files.
//!
//! Settings: built-in defaults, then `/etc/sanlock/sanlock.conf` (or `--config`), then the
//! command line. Without `-D` the daemon detaches (like sanlock); with `-D` it stays in the
//! foreground and logs to stderr.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use lease_core::ondisk::Name;
use lease_daemon::config::DaemonSettings;
use lease_daemon::daemon::{generate_host_name, Daemon, DaemonConfig};
use lease_daemon::exec::EngineExecutor;
use lease_daemon::rundir::{resolve_run_dir, RunDir};
use lease_daemon::server::{serve, Access};
use tokio::sync::watch;

use crate::cli::DaemonArgs;

fn user_id(name: &str) -> Result<u32> {
    if let Ok(uid) = name.parse() {
        return Ok(uid);
    }
    let c = CString::new(name).map_err(|_| anyhow!("bad user name {name:?}"))?;
    // SAFETY: getpwnam with a valid NUL-terminated string; the result is read at once.
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    if pw.is_null() {
        bail!("unknown user {name:?} (-U / uname)");
    }
    // SAFETY: non-null result of getpwnam points to a valid passwd struct.
    Ok(unsafe { (*pw).pw_uid })
}

fn group_id(name: &str) -> Result<u32> {
    if let Ok(gid) = name.parse() {
        return Ok(gid);
    }
    let c = CString::new(name).map_err(|_| anyhow!("bad group name {name:?}"))?;
    // SAFETY: getgrnam with a valid NUL-terminated string; the result is read at once.
    let gr = unsafe { libc::getgrnam(c.as_ptr()) };
    if gr.is_null() {
        bail!("unknown group {name:?} (-G / gname)");
    }
    // SAFETY: non-null result of getgrnam points to a valid group struct.
    Ok(unsafe { (*gr).gr_gid })
}

/// Settings from defaults, the config file and the command line.
pub fn settings(args: &DaemonArgs) -> Result<DaemonSettings> {
    let mut s = DaemonSettings::default();
    let config = args
        .config
        .as_deref()
        .unwrap_or(Path::new(lease_daemon::config::DEFAULT_CONFIG_PATH));
    s.apply_config_file(config)?;
    let set = |s: &mut DaemonSettings, key: &str, value: String| {
        s.set(key, &value)
            .map_err(|e| anyhow!("invalid option for {key}: {value:?}: {e}"))
    };
    if let Some(v) = args.use_watchdog {
        set(&mut s, "use_watchdog", v.to_string())?;
    }
    if let Some(v) = args.io_timeout {
        set(&mut s, "io_timeout", v.to_string())?;
    }
    if let Some(v) = args.kill_grace {
        set(&mut s, "kill_grace_seconds", v.to_string())?;
    }
    if let Some(v) = args.mlock_level {
        set(&mut s, "mlock_level", v.to_string())?;
    }
    if let Some(v) = args.high_priority {
        set(&mut s, "high_priority", v.to_string())?;
    }
    if let Some(v) = &args.host_name {
        s.our_host_name = Some(v.clone());
    }
    if let Some(v) = &args.user {
        s.uname = Some(v.clone());
    }
    if let Some(v) = &args.group {
        s.gname = Some(v.clone());
    }
    if let Some(v) = args.renewal_history {
        set(&mut s, "renewal_history_size", v.to_string())?;
    }
    Ok(s)
}

/// Run the daemon until shutdown; returns the exit status.
/// Makes glibc give freed I/O buffers back to the system, before any thread exists.
///
/// The buffer pool frees the read buffers of a burst (lockspaces joined together renew
/// together) a few seconds after it. By default glibc raises its mmap threshold to the size of
/// the largest block freed (up to 32 MiB), so later 1 MiB buffers come from per-thread arenas
/// and their memory stays resident after `free`: an idle daemon with 10 lockspaces kept about
/// 4 MiB more than it uses. A fixed threshold (64 KiB) serves every area-sized buffer with its
/// own mapping, unmapped on free; two arenas suffice for two runtime workers and the reaper.
/// Failure is harmless (the defaults stay), so it is ignored.
fn tune_malloc() {
    // SAFETY: mallopt(3) only sets allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

pub fn run(args: &DaemonArgs) -> Result<u8> {
    let settings = settings(args)?;
    let run_dir = resolve_run_dir(args.run_dir.as_deref().or(settings.run_dir.as_deref()));
    let access = Access {
        uid: settings.uname.as_deref().map(user_id).transpose()?,
        gid: settings.gname.as_deref().map(group_id).transpose()?,
    };
    let host_name = match &settings.our_host_name {
        Some(name) => {
            Name::new(name).map_err(|e| anyhow!("host name (-e / our_host_name) {name:?}: {e}"))?
        }
        None => generate_host_name(),
    };
    // Lock first: a second daemon on this run directory must fail before touching anything.
    let mut rundir = RunDir::lock(&run_dir)?;
    if !args.debug {
        // SAFETY: daemon(3) forks before any thread exists (the runtime is created after).
        if unsafe { libc::daemon(0, 0) } != 0 {
            bail!("cannot detach: {}", std::io::Error::last_os_error());
        }
        rundir.rewrite_pid().context("rewriting the pid file")?;
    }
    rundir
        .clear_stale_socket()
        .context("removing a stale socket")?;
    let config = DaemonConfig {
        io_timeout_seconds: settings.io_timeout_seconds,
        watchdog_fire_timeout_seconds: settings.watchdog_fire_timeout_seconds,
        our_host_name: host_name,
        kill_grace_seconds: settings.effective_kill_grace_seconds(),
        log_to_stderr: args.debug,
        use_watchdog: settings.use_watchdog,
    };
    tune_malloc();
    let kind = match args.io_engine.as_deref() {
        None => lease_io::EngineKind::from_env().map_err(|e| anyhow!("{e}"))?,
        Some("auto") => lease_io::EngineKind::Auto,
        Some("io_uring") => lease_io::EngineKind::IoUring,
        Some("threads") => lease_io::EngineKind::Threads,
        Some(other) => bail!("--io-engine {other:?}: expected auto, io_uring or threads"),
    };
    let exec = EngineExecutor::new(kind).map_err(|e| anyhow!("starting the I/O engine: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let socket = rundir.socket_path();
        let listener = tokio::net::UnixListener::bind(&socket)
            .with_context(|| format!("cannot listen on {}", socket.display()))?;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o660))?;
        if let Some(gid) = access.gid {
            let c = CString::new(socket.as_os_str().as_encoded_bytes())
                .map_err(|_| anyhow!("socket path"))?;
            // SAFETY: chown with a valid path; -1 keeps the owner.
            unsafe { libc::chown(c.as_ptr(), u32::MAX, gid) };
        }
        let engine = format!("{:?}", exec.engine().kind());
        let fallback = exec.engine().fallback_reason().map(str::to_owned);
        let daemon = Daemon::new(config, exec);
        daemon.log(format!(
            "lease daemon started (sanlock 3.8.5 protocol) host {} run dir {} io engine {engine}",
            daemon.config.our_host_name,
            rundir.dir().display()
        ));
        if let Some(why) = fallback {
            daemon.log(format!(
                "io_uring unavailable, using the thread pool: {why}"
            ));
        }
        let (stop, _) = watch::channel(false);
        tokio::spawn(Arc::clone(&daemon).supervise());
        tokio::spawn(signals(Arc::clone(&daemon), stop.clone()));
        serve(Arc::clone(&daemon), listener, access, stop.clone()).await;
        shutdown(&daemon).await;
        drop(rundir);
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(0)
}

/// SIGTERM/SIGINT stop the daemon only when no lockspace is joined (sanlock ignores them
/// otherwise: leaving would drop leases that processes rely on).
async fn signals(daemon: Arc<Daemon<EngineExecutor>>, stop: watch::Sender<bool>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        if daemon.lockspaces().is_empty() {
            daemon.log("signal: shutting down".into());
            stop.send_replace(true);
            return;
        }
        daemon
            .log("signal ignored: lockspaces are joined (remove them or use shutdown -f 1)".into());
    }
}

/// Forced shutdown: kill registered processes that hold leases, leave every lockspace.
async fn shutdown(daemon: &Arc<Daemon<EngineExecutor>>) {
    for client in daemon.registry.clients() {
        if !client.leases.is_empty() {
            // SAFETY: kill(2) with a pid and signal number.
            unsafe { libc::kill(client.pid as i32, libc::SIGKILL) };
        }
        daemon.client_gone(client.id).await;
    }
    for view in daemon.lockspaces() {
        let _ = daemon.rem_lockspace(&view.spec.name, true).await;
    }
    daemon.log("lease daemon stopped".into());
}
