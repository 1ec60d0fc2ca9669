//! The daemon's state: joined lockspaces and the operations clients ask for.
//!
//! **Invariants**
//! * One [`Lockspace`] per name; adding a name that exists fails with -EEXIST, even while the
//!   first add is still in progress.
//! * A lockspace whose join fails is forgotten (a later add may retry).
//! * A resource release that fails on I/O is retried in the background (spec §5.5 step 3)
//!   while the lease's lockspace is live, at most [`RELEASE_RETRIES_MAX`] times; the resource
//!   cannot be acquired on this host again until that ends. Each attempt is the whole
//!   `PaxosRelease`, which leaves a leader that is no longer ours as we left it alone.
//! * An acquire that failed and could not undo a ballot it may have won, or give back a
//!   leader it committed (`PaxosAcquire::leftover`), is undone the same way in the
//!   background ([`Daemon::retract_later`]), under the same "releasing" reservation.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use lease_core::ondisk::Name;
use lease_core::timeouts::{Timeouts, IO_TIMEOUT_SECONDS_MAX};

use std::time::Duration;

use crate::clients::{ClientId, ClientLease, KillAction, Registry};
use crate::exec::{now, sleep_until, DeviceCache, IoExecutor};
use crate::lockspace::{Lockspace, LockspaceSpec, LockspaceView, Phase};
use crate::log::Log;
use crate::resource::{self, AcquireOptions, ResourceSpec};
use crate::DaemonError;

/// Background attempts at a release whose first attempt failed on I/O: the first after
/// io_timeout, then every 2·io_timeout (spec §5.5 step 3), so about 2 minutes at io_timeout 1
/// and 20 at io_timeout 10.
pub const RELEASE_RETRIES_MAX: u32 = 60;

/// Bound on `inq_lockspace` with SANLK_INQ_WAIT.
pub const SETTLE_WAIT_MAX_SECONDS: u64 = 600;

/// Settings that apply to the whole daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonConfig {
    /// Default io_timeout for lockspaces added without one (`-o`, sanlock.conf `io_timeout`).
    pub io_timeout_seconds: u32,
    /// `watchdog_fire_timeout` (all hosts of a lockspace must agree).
    pub watchdog_fire_timeout_seconds: u32,
    /// Our unique host name (`<uuid>.<nodename>`, or `-e` / `our_host_name`).
    pub our_host_name: Name,
    /// SIGTERM/killpath phase before SIGKILL when a lockspace fails.
    pub kill_grace_seconds: u32,
    /// Echo log lines to stderr (`-D`).
    pub log_to_stderr: bool,
    /// `-w 1`: lockspaces need the wdmd watchdog daemon, which this daemon does not drive;
    /// every add_lockspace then fails with SANLK_WD_ERROR (-203), exactly as sanlock does
    /// when wdmd is unavailable. Run with `-w 0`.
    pub use_watchdog: bool,
}

/// The daemon: lockspaces, devices, and the I/O executor they share.
#[derive(Debug)]
pub struct Daemon<E> {
    pub config: DaemonConfig,
    exec: Arc<E>,
    devices: DeviceCache,
    lockspaces: Mutex<BTreeMap<[u8; 48], Arc<Lockspace>>>,
    pub registry: Arc<Registry>,
    log: Arc<Log>,
    /// Highest generation used per (lockspace, host_id) during this daemon's life.
    generations: Mutex<BTreeMap<([u8; 48], u64), u64>>,
    /// Wakes [`Daemon::supervise`]: notified by a lockspace that fails or has resources to
    /// examine (a permit is stored if the supervisor is busy, so no event is lost).
    attention: Arc<tokio::sync::Notify>,
}

impl<E: IoExecutor + 'static> Daemon<E> {
    pub fn new(config: DaemonConfig, exec: E) -> Arc<Daemon<E>> {
        let config_echo = config.log_to_stderr;
        Arc::new(Daemon {
            config,
            exec: Arc::new(exec),
            devices: DeviceCache::default(),
            lockspaces: Mutex::new(BTreeMap::new()),
            registry: Arc::default(),
            log: Arc::new(Log::new(config_echo)),
            generations: Mutex::new(BTreeMap::new()),
            attention: Arc::default(),
        })
    }

    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<[u8; 48], Arc<Lockspace>>> {
        self.lockspaces.lock().expect("lockspace map lock")
    }

    fn generations(&self) -> std::sync::MutexGuard<'_, BTreeMap<([u8; 48], u64), u64>> {
        self.generations.lock().expect("generation map lock")
    }

    /// The lockspace named `name`, if added.
    pub fn lockspace(&self, name: &Name) -> Option<Arc<Lockspace>> {
        self.map().get(name.as_bytes()).cloned()
    }

    /// Views of every lockspace, in name order.
    pub fn lockspaces(&self) -> Vec<LockspaceView> {
        self.map().values().map(|ls| ls.view()).collect()
    }

    /// Join a lockspace. With `wait`, returns once our host_id is acquired (or failed);
    /// otherwise returns at once and the join continues in the background.
    pub async fn add_lockspace(
        self: &Arc<Self>,
        spec: LockspaceSpec,
        io_timeout: Option<u32>,
        wait: bool,
    ) -> Result<(), DaemonError> {
        let io = io_timeout
            .filter(|&io| io != 0)
            .unwrap_or(self.config.io_timeout_seconds);
        if !(1..=IO_TIMEOUT_SECONDS_MAX).contains(&io) {
            return Err(DaemonError::Invalid(format!(
                "io_timeout {io} is outside 1..={IO_TIMEOUT_SECONDS_MAX}"
            )));
        }
        if spec.host_id == 0 {
            return Err(DaemonError::InvalidHostId {
                host_id: 0,
                max_hosts: 2000,
            });
        }
        let device = self.devices.get(&spec.path)?;
        let timeouts = Timeouts::new(io, self.config.watchdog_fire_timeout_seconds);
        let lockspace = {
            let mut map = self.map();
            if map.contains_key(spec.name.as_bytes()) {
                return Err(DaemonError::Exists);
            }
            let previous = self
                .generations()
                .get(&(*spec.name.as_bytes(), spec.host_id))
                .copied()
                .unwrap_or(0);
            let ls = Lockspace::new(
                spec.clone(),
                timeouts,
                self.config.our_host_name,
                device,
                previous,
                Arc::clone(&self.attention),
            );
            map.insert(*spec.name.as_bytes(), ls.clone());
            ls
        };
        let daemon = self.clone();
        let join = tokio::spawn(async move {
            let result = lockspace.join(daemon.exec.as_ref()).await;
            match &result {
                Ok(()) => {
                    if let Some(held) = lockspace.view().held {
                        let key = (*lockspace.spec.name.as_bytes(), lockspace.spec.host_id);
                        let mut generations = daemon.generations();
                        let entry = generations.entry(key).or_insert(0);
                        *entry = (*entry).max(held.generation);
                    }
                    tokio::spawn(lockspace.clone().renewal_loop(daemon.exec.clone()));
                }
                Err(_) => {
                    let mut map = daemon.map();
                    if map
                        .get(lockspace.spec.name.as_bytes())
                        .is_some_and(|l| Arc::ptr_eq(l, &lockspace))
                    {
                        map.remove(lockspace.spec.name.as_bytes());
                    }
                }
            }
            result
        });
        if !wait {
            return Ok(());
        }
        join.await
            .map_err(|e| DaemonError::Io(format!("join task: {e}")))?
    }

    /// Leave a lockspace: stop renewing and release our host_id.
    pub async fn rem_lockspace(
        self: &Arc<Self>,
        name: &Name,
        wait: bool,
    ) -> Result<(), DaemonError> {
        let lockspace = self.lockspace(name).ok_or(DaemonError::NotFound)?;
        if matches!(lockspace.phase(), Phase::Removing) {
            return Err(DaemonError::InProgress);
        }
        let daemon = self.clone();
        let task = tokio::spawn(async move {
            let result = lockspace.remove(daemon.exec.as_ref()).await;
            let mut map = daemon.map();
            if map
                .get(lockspace.spec.name.as_bytes())
                .is_some_and(|l| Arc::ptr_eq(l, &lockspace))
            {
                map.remove(lockspace.spec.name.as_bytes());
            }
            result.map_err(DaemonError::from)
        });
        if !wait {
            return Ok(());
        }
        task.await
            .map_err(|e| DaemonError::Io(format!("remove task: {e}")))?
    }

    /// The open device for `path` (opened on first use).
    pub fn device(&self, path: &std::path::Path) -> Result<Arc<lease_io::Device>, DaemonError> {
        Ok(self.devices.get(path)?)
    }

    /// The I/O executor.
    pub fn exec(&self) -> &E {
        &self.exec
    }

    /// Append a line to the daemon log.
    pub fn log(&self, message: String) {
        self.log.line(message);
    }

    /// The log for `log_dump`.
    pub fn log_text(&self) -> Vec<u8> {
        self.log.text()
    }

    /// Whether any registered process holds a lease in lockspace `name`.
    pub fn lockspace_in_use(&self, name: &Name) -> bool {
        self.registry
            .clients()
            .iter()
            .any(|c| c.leases.iter().any(|l| l.spec.lockspace == *name))
    }

    /// Wait until lockspace `name` is neither being added nor removed (bounded).
    pub async fn wait_settled(&self, name: &Name) {
        let limit = now().saturating_add(Duration::from_secs(SETTLE_WAIT_MAX_SECONDS));
        while matches!(
            self.lockspace(name).map(|l| l.phase()),
            Some(Phase::Adding | Phase::Removing)
        ) && now() < limit
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The align size of the lease area at `offset` of `path` (sanlock's `align`), from its
    /// leader record.
    pub async fn align(&self, path: &std::path::Path, offset: u64) -> Result<u64, DaemonError> {
        let device = self.devices.get(path)?;
        let io = lease_core::seam::Io::Read {
            disk: 0,
            offset,
            len: 4096,
        };
        let timeout = Duration::from_secs(u64::from(self.config.io_timeout_seconds));
        let out = self.exec.submit(&[device], vec![io], timeout).await;
        let Some(lease_core::seam::IoOutcome::Read(bytes)) = out.into_iter().next() else {
            return Err(DaemonError::Io(format!("cannot read {}", path.display())));
        };
        let leader = lease_core::ondisk::LeaderRecord::decode(&bytes)
            .map_err(|e| DaemonError::Io(e.to_string()))?;
        if leader.magic != lease_core::ondisk::DELTA_LEASE_MAGIC
            && leader.magic != lease_core::ondisk::PAXOS_LEASE_MAGIC
        {
            return Err(DaemonError::Leader(
                lease_core::ondisk::LeaderError::Magic {
                    found: leader.magic,
                    expected: lease_core::ondisk::DELTA_LEASE_MAGIC,
                },
            ));
        }
        let geometry =
            lease_core::geometry::Geometry::from_leader(leader.flags, leader.sector_size)
                .map_err(|_| DaemonError::Sizes)?;
        Ok(geometry.area_bytes())
    }

    /// sanlock's inq_lockspace: 0 joined, -EINPROGRESS adding or removing, -ENOENT unknown.
    pub fn inq_lockspace(&self, name: &Name) -> Result<(), DaemonError> {
        match self.lockspace(name).map(|ls| ls.phase()) {
            None => Err(DaemonError::NotFound),
            Some(Phase::Adding | Phase::Removing) => Err(DaemonError::InProgress),
            Some(Phase::Live | Phase::Failed { .. }) => Ok(()),
        }
    }
}

impl<E: IoExecutor + 'static> Daemon<E> {
    /// Acquire `spec` for client `id`.
    pub async fn acquire(
        &self,
        id: ClientId,
        spec: ResourceSpec,
        options: AcquireOptions,
    ) -> Result<ClientLease, DaemonError> {
        if options.adopt_orphan || options.orphan_only {
            if let Some(lease) = self
                .registry
                .adopt_orphan(id, &spec.lockspace, &spec.name)?
            {
                return Ok(lease);
            }
            if options.orphan_only {
                return Err(DaemonError::NotFound);
            }
        }
        let lockspace = self
            .lockspace(&spec.lockspace)
            .ok_or(DaemonError::NoSpace)?;
        let ctx = resource::context(&self.devices, lockspace, &spec)?;
        if let crate::clients::Reserved::Join(template) =
            self.registry.reserve(id, &spec, options.shared)?
        {
            // Held shared here already: one more local holder of the same on-disk hold.
            let lease = ClientLease {
                persistent: options.persistent,
                lvb_dirty: false,
                ..*template
            };
            return match self.registry.add_lease(id, lease.clone()) {
                Ok(()) => Ok(lease),
                Err((orphan, last)) => {
                    if last {
                        let _ = self.release_on_disk(*orphan).await;
                    }
                    Err(DaemonError::NotFound)
                }
            };
        }
        let held = match resource::acquire(self.exec.as_ref(), &ctx, &options).await {
            Ok(held) => held,
            Err(failed) => {
                match failed.leftover {
                    // Not acquired here again until what the acquire left is undone.
                    Some(plan) => {
                        self.registry.unreserve_releasing(&spec);
                        self.retract_later(&ctx.lockspace, &ctx.disks, plan, Some(spec));
                    }
                    None => self.registry.unreserve(&spec),
                }
                return Err(failed.err);
            }
        };
        let lease = ClientLease {
            spec,
            held,
            disks: ctx.disks,
            lockspace: ctx.lockspace,
            persistent: options.persistent,
            lvb: None,
            lvb_dirty: false,
        };
        let mut lease = lease;
        if options.lvb {
            match resource::read_lvb(self.exec.as_ref(), &lease.held.config, &lease.disks).await {
                Ok(lvb) => lease.lvb = Some(lvb),
                Err(err) => {
                    self.registry.unreserve_releasing(&lease.spec);
                    let _ = self.release_on_disk(lease).await;
                    return Err(err);
                }
            }
        }
        match self.registry.add_lease(id, lease.clone()) {
            Ok(()) => Ok(lease),
            Err((orphan, last)) => {
                // The client disconnected during the acquire: give the lease back.
                if last {
                    let _ = self.release_on_disk(*orphan).await;
                }
                Err(DaemonError::NotFound)
            }
        }
    }

    /// `set_lvb`: replace the lock value block of a lease held on this host (written to disk
    /// when the lease is released).
    pub fn set_lvb(&self, lockspace: &Name, name: &Name, value: &[u8]) -> Result<(), DaemonError> {
        self.registry
            .with_held_lease(lockspace, name, |lease| {
                let Some(lvb) = lease.lvb.as_mut() else {
                    return Err(DaemonError::Invalid(
                        "the lease was not acquired with SANLK_ACQUIRE_LVB".into(),
                    ));
                };
                if value.len() > lvb.len() {
                    return Err(DaemonError::LvbTooLarge {
                        len: value.len(),
                        max: lvb.len(),
                    });
                }
                lvb.fill(0);
                lvb[..value.len()].copy_from_slice(value);
                lease.lvb_dirty = true;
                Ok(())
            })
            .unwrap_or(Err(DaemonError::NotFound))
    }

    /// `get_lvb`: the lock value block of a lease held on this host.
    pub fn get_lvb(&self, lockspace: &Name, name: &Name) -> Result<Vec<u8>, DaemonError> {
        self.registry
            .with_held_lease(lockspace, name, |lease| {
                lease.lvb.clone().ok_or_else(|| {
                    DaemonError::Invalid("the lease was not acquired with SANLK_ACQUIRE_LVB".into())
                })
            })
            .unwrap_or(Err(DaemonError::NotFound))
    }

    /// Release one lease of client `id`. A release that fails on I/O is reported done, as
    /// sanlock does, and retried in the background (see [`Daemon::release_on_disk`]).
    pub async fn release(
        &self,
        id: ClientId,
        lockspace: &Name,
        name: &Name,
    ) -> Result<(), DaemonError> {
        let (lease, last) = self.registry.take_lease(id, lockspace, name)?;
        if !last {
            return Ok(()); // other local processes still hold it shared
        }
        self.release_on_disk(lease).await
    }

    /// Undo, in the background, what a failed acquire of ours left (a ballot it may have won,
    /// a leader naming us: [`resource::AcquireFailed`]): the first attempt after io_timeout,
    /// then every 2·io_timeout while `lockspace` is live, at most [`RELEASE_RETRIES_MAX`]
    /// times, as a failed release. `spec`: the resource's reservation, kept "releasing" until
    /// then.
    pub fn retract_later(
        &self,
        lockspace: &Arc<Lockspace>,
        disks: &[Arc<lease_io::Device>],
        plan: lease_core::paxos_lease::RetractPlan,
        spec: Option<ResourceSpec>,
    ) {
        self.log(format!(
            "acquire of {}: lver {} left to undo; retrying in the background",
            plan.config().resource_name,
            plan.lver()
        ));
        tokio::spawn(retry_retract(
            self.exec.clone(),
            self.registry.clone(),
            self.log.clone(),
            lockspace.clone(),
            disks.to_vec(),
            plan,
            spec,
        ));
    }

    /// Convert client `id`'s lease between exclusive and shared (spec §5.6).
    pub async fn convert(
        &self,
        id: ClientId,
        lockspace: &Name,
        name: &Name,
        to_shared: bool,
    ) -> Result<(), DaemonError> {
        let lease = self.registry.checkout(id, lockspace, name)?;
        let shared_now = lease.held.mode == lease_core::paxos_lease::LeaseMode::Shared;
        let others = self.registry.holders(lockspace, name) > 1;
        let (lease, result) = if shared_now == to_shared {
            (lease, Err(DaemonError::AlreadyInMode))
        } else if others {
            (lease, Err(DaemonError::SharedByOthers))
        } else if lease_core::guard::may_start(lease.lockspace.membership(), now()).is_err() {
            (lease, Err(DaemonError::NoSpace))
        } else {
            let converted = if to_shared {
                resource::convert_to_shared(
                    self.exec.as_ref(),
                    &lease.lockspace,
                    &lease.disks,
                    lease.held.clone(),
                )
                .await
                .map_err(|err| resource::AcquireFailed {
                    err,
                    leftover: None,
                })
            } else {
                resource::convert_to_exclusive(self.exec.as_ref(), &lease).await
            };
            match converted {
                Ok(held) => (ClientLease { held, ..lease }, Ok(())),
                // A failed SH→EX conversion keeps the lease shared; a leader it left naming
                // us is freed by the shared release.
                Err(resource::AcquireFailed {
                    err,
                    leftover: Some(plan),
                }) => {
                    let held = lease.held.clone().after_failed_conversion(Some(&plan));
                    (ClientLease { held, ..lease }, Err(err))
                }
                Err(failed) => (lease, Err(failed.err)),
            }
        };
        if let Err((orphan, last)) = self.registry.checkin(id, lease) {
            if last {
                let _ = self.release_on_disk(*orphan).await; // the client went away meanwhile
            }
        }
        result
    }

    /// Release `lease`, whose last local reference was just dropped (its hold is releasing),
    /// on disk. Never with a failed lockspace (the lease expires with it). A failure on I/O is
    /// not reported: the release is retried in the background, and the resource stays
    /// unavailable on this host until that ends. Any other failure means the leader is no
    /// longer ours as we left it; it is returned and not retried.
    async fn release_on_disk(&self, lease: ClientLease) -> Result<(), DaemonError> {
        if matches!(lease.lockspace.phase(), Phase::Failed { .. }) {
            self.registry.end_release(&lease.spec);
            return Ok(());
        }
        match resource::release_attempt(self.exec.as_ref(), &lease).await {
            Err(err) if resource::release_retryable(&err) => {
                self.log(format!(
                    "release {}: {err}; retrying in the background",
                    lease.spec.name
                ));
                tokio::spawn(retry_release(
                    self.exec.clone(),
                    self.registry.clone(),
                    self.log.clone(),
                    lease,
                ));
                Ok(())
            }
            result => {
                self.registry.end_release(&lease.spec);
                result
            }
        }
    }

    /// Ask the owner of `spec` to release it (spec §5.7): write the request record, then set
    /// the owner's bit in our bitmap so its daemon examines its leases.
    pub async fn request(
        &self,
        spec: &ResourceSpec,
        lver: u64,
        force_mode: u32,
        next_lver: bool,
    ) -> Result<(), DaemonError> {
        let lockspace = self
            .lockspace(&spec.lockspace)
            .ok_or(DaemonError::NoSpace)?;
        let ctx = resource::context(&self.devices, lockspace.clone(), spec)?;
        let mut op =
            lease_core::request::PaxosRequest::new(ctx.config, lver, force_mode, next_lver);
        let done = crate::exec::drive_in(&mut op, self.exec.as_ref(), &ctx.disks, Some(&lockspace))
            .await
            .map_err(DaemonError::Request)?;
        if let Some(owner) = done.owner_id {
            self.log(format!(
                "request {} lver {} force {force_mode}: notifying host {owner}",
                spec.name, done.lver
            ));
            lockspace.notify_host(owner);
        }
        Ok(())
    }

    /// Examine the request records of our leases in lockspaces that asked for it (spec §5.7,
    /// owner side), and act on requests for a newer version than we hold.
    pub async fn examine_requests(&self) {
        let lockspaces: Vec<Arc<Lockspace>> = self
            .map()
            .values()
            .filter(|ls| ls.take_examine())
            .cloned()
            .collect();
        for lockspace in lockspaces {
            for client in self.registry.clients() {
                for lease in client
                    .leases
                    .iter()
                    .filter(|l| Arc::ptr_eq(&l.lockspace, &lockspace))
                {
                    let mut op = lease_core::request::ReadRequest::new(lease.held.config.clone());
                    let Ok(record) =
                        crate::exec::drive(&mut op, self.exec.as_ref(), &lease.disks).await
                    else {
                        continue;
                    };
                    if record.force_mode == 0 || record.lver <= lease.held.lver {
                        continue;
                    }
                    self.log(format!(
                        "request for {} lver {} (we hold {}), force_mode {}: acting on pid {}",
                        lease.spec.name,
                        record.lver,
                        lease.held.lver,
                        record.force_mode,
                        client.pid
                    ));
                    self.act_on_request(&client, record.force_mode);
                }
            }
        }
    }

    /// FORCE: SIGKILL (SIGTERM if SIGKILL is restricted); GRACEFUL: the killpath, else SIGTERM
    /// (SIGKILL if SIGTERM is restricted).
    fn act_on_request(&self, client: &crate::clients::Client, force_mode: u32) {
        use crate::clients::{SANLK_RESTRICT_SIGKILL, SANLK_RESTRICT_SIGTERM};
        let signal = match force_mode {
            lease_core::ondisk::FORCE_MODE_FORCE => {
                if client.restrict & SANLK_RESTRICT_SIGKILL != 0 {
                    libc::SIGTERM
                } else {
                    libc::SIGKILL
                }
            }
            _ => {
                if let Some(argv) = client.killpath_argv() {
                    spawn_killpath(&argv);
                    return;
                }
                if client.restrict & SANLK_RESTRICT_SIGTERM != 0 {
                    libc::SIGKILL
                } else {
                    libc::SIGTERM
                }
            }
        };
        // SAFETY: kill(2) with a pid and signal number.
        unsafe { libc::kill(client.pid as i32, signal) };
    }

    /// Release orphan leases (SANLK_REL_ORPHAN): every orphan of `lockspace`, or the one named.
    pub async fn release_orphans(&self, lockspace: &Name, name: Option<&Name>) -> usize {
        let orphans = self.registry.take_orphans(lockspace, name);
        let count = orphans.len();
        for lease in orphans {
            let _ = self.release_on_disk(lease).await;
        }
        count
    }

    /// A client went away (connection closed or unregistered): release all its leases.
    pub async fn client_gone(&self, id: ClientId) {
        for lease in self.registry.unregister(id) {
            let _ = self.release_on_disk(lease).await;
        }
    }

    /// One supervision pass: kill the holders of leases in failed lockspaces (spec §8).
    /// Returns whether any client still holds leases in a failed lockspace (kills are under
    /// way and the next pass must come soon).
    pub fn supervise_once(&self) -> bool {
        let grace = Duration::from_secs(u64::from(self.config.kill_grace_seconds));
        let failing = self.registry.clients_in_failed_lockspaces();
        for &id in &failing {
            let Some((pid, action)) = self.registry.next_kill_action(id, now(), grace) else {
                continue;
            };
            match action {
                KillAction::Signal(signal) => {
                    // SAFETY: kill(2) with a pid and signal number; no memory involved.
                    unsafe { libc::kill(pid as i32, signal) };
                }
                KillAction::RunKillpath(argv) => spawn_killpath(&argv),
            }
        }
        !failing.is_empty()
    }

    /// Run [`Daemon::supervise_once`] and [`Daemon::examine_requests`] forever: at once when
    /// a lockspace fails or has resources to examine (its `attention` notification), every
    /// [`SUPERVISE_BUSY_PERIOD`] while kills are under way, and when the buffer pool has idle
    /// memory to give back. Otherwise it sleeps: an idle daemon has no periodic wake-up here
    /// (it had one a second, as sanlock's main loop, a third of its idle CPU).
    pub async fn supervise(self: Arc<Self>) {
        loop {
            let killing = self.supervise_once();
            self.examine_requests().await;
            // A quiet daemon gives back the read buffers of its last burst (renewals of
            // lockspaces joined together, acquires) once they have been idle for the pool's
            // TTL; the pool says when the next one is due.
            let (_, trim_due) = lease_io::BufPool::global().trim();
            let wait = if killing {
                Some(SUPERVISE_BUSY_PERIOD)
            } else {
                trim_due.map(|due| due + TRIM_SLACK)
            };
            match wait {
                Some(wait) => {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = self.attention.notified() => {}
                    }
                }
                None => self.attention.notified().await,
            }
        }
    }
}

/// Supervision period while some client holds leases in a failed lockspace: kill escalation
/// (one action per client per second at most) is not delayed by the tick. A lockspace failure
/// itself is acted on at once (`Lockspace` notifies the supervisor when it fails), far inside
/// the margin between the fail deadline (8 x io_timeout) and host_dead (8 x io_timeout +
/// watchdog_fire_timeout) that the kill timeline relies on (spec §8).
pub const SUPERVISE_BUSY_PERIOD: Duration = Duration::from_millis(200);

/// Added to the pool's next trim time, so that the wake-up finds the buffer past its TTL.
const TRIM_SLACK: Duration = Duration::from_millis(10);

/// The background retries of a release whose first attempt failed on I/O (spec §5.5 step 3):
/// the first after io_timeout, then every 2·io_timeout, while the lease's lockspace is live,
/// until an attempt succeeds or finds the leader no longer ours as we left it, at most
/// [`RELEASE_RETRIES_MAX`] times. Then the resource may be acquired here again.
async fn retry_release<E: IoExecutor>(
    exec: Arc<E>,
    registry: Arc<Registry>,
    log: Arc<Log>,
    lease: ClientLease,
) {
    let outcome = retry_while_live(&lease.lockspace, "released", || {
        resource::release_attempt(exec.as_ref(), &lease)
    })
    .await;
    log.line(format!("release {}: {outcome}", lease.spec.name));
    registry.end_release(&lease.spec);
}

/// The background attempts of [`Daemon::retract_later`].
async fn retry_retract<E: IoExecutor>(
    exec: Arc<E>,
    registry: Arc<Registry>,
    log: Arc<Log>,
    lockspace: Arc<Lockspace>,
    disks: Vec<Arc<lease_io::Device>>,
    plan: lease_core::paxos_lease::RetractPlan,
    spec: Option<ResourceSpec>,
) {
    let outcome = retry_while_live(&lockspace, "undone", || {
        resource::retract(exec.as_ref(), &lockspace, &disks, plan.clone())
    })
    .await;
    let name = plan.config().resource_name;
    log.line(format!("acquire of {name} lver {}: {outcome}", plan.lver()));
    if let Some(spec) = spec {
        registry.end_release(&spec);
    }
}

/// The schedule of background retries (spec §5.5 step 3): the first attempt after
/// io_timeout, then every 2·io_timeout, while `lockspace` is live, until one succeeds or fails
/// other than on I/O ([`resource::release_retryable`]), at most [`RELEASE_RETRIES_MAX`]
/// times. Returns how it ended, for the log.
async fn retry_while_live<F, Fut>(lockspace: &Lockspace, done: &str, mut attempt: F) -> String
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), DaemonError>>,
{
    let io = lockspace.timeouts.io_timeout();
    let mut wait = io;
    for n in 1..=RELEASE_RETRIES_MAX {
        sleep_until(now().saturating_add(wait)).await;
        wait = 2 * io;
        if !matches!(lockspace.phase(), Phase::Live) {
            return "lockspace no longer live: not retried (its expiry frees the lease)".into();
        }
        match attempt().await {
            Ok(()) => return format!("{done} on retry {n}"),
            Err(err) if resource::release_retryable(&err) => {}
            Err(err) => return format!("retry {n}: {err}; not retried"),
        }
    }
    format!("gave up after {RELEASE_RETRIES_MAX} retries")
}

/// Run a client's killpath command line (see `Client::killpath_argv`); failures are ignored:
/// SIGKILL follows after the grace period anyway.
fn spawn_killpath(argv: &[String]) {
    let Some((program, args)) = argv.split_first() else {
        return;
    };
    let _ = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .spawn();
}

/// Our unique host name: `<uuid>.<nodename>`, truncated to 48 bytes (sanlock's form).
pub fn generate_host_name() -> Name {
    let mut bytes = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut bytes);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    let node = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let mut full = format!("{uuid}.{}", node.trim());
    full.truncate(48);
    while !full.is_char_boundary(full.len()) {
        full.pop();
    }
    Name::new(&full).unwrap_or_else(|_| Name::new(&uuid).expect("a uuid is a valid name"))
}
