//! Registered client processes and the leases held for them; killing them when a lockspace
//! fails (format spec §8 "Supervision").
//!
//! A process registers over its own connection (the connection is its liveness). Its leases are
//! released when it unregisters or its connection closes. When a lockspace fails (our renewals
//! stopped), every process holding leases in it is killed: the configured killpath program, or
//! SIGTERM, repeated once a second, then SIGKILL once the kill grace has passed, so that it is
//! gone before another host may take the leases (host_dead_seconds after the last renewal).
//!
//! **Invariants**
//! * A resource is held at most once on this host: [`Registry::reserve`] refuses a second
//!   holder while the first acquire is in flight or held, and while its on-disk release
//!   (with its retries) is still running: the hold whose last reference is dropped stays, as
//!   *releasing*, until [`Registry::end_release`].
//! * Leases of a failed lockspace are never released on disk; they are dropped from the
//!   registry only when their holder is gone.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lease_core::ondisk::Name;
use lease_core::paxos_lease::{HeldResource, LeaseMode};
use lease_core::time::MonoTime;
use lease_io::Device;

use crate::lockspace::{Lockspace, Phase};
use crate::resource::ResourceSpec;
use crate::DaemonError;

/// Most resources one process may hold (sanlock's SANLK_MAX_RESOURCES).
pub const RESOURCES_PER_CLIENT_MAX: usize = 8;
/// Most registered processes.
pub const CLIENTS_MAX: usize = 4096;
/// sanlock's restrict flags.
pub const SANLK_RESTRICT_ALL: u32 = 0x1;
pub const SANLK_RESTRICT_SIGKILL: u32 = 0x2;
pub const SANLK_RESTRICT_SIGTERM: u32 = 0x4;

/// Identity of a registered client (a connection).
pub type ClientId = u64;

/// One lease held for a client.
#[derive(Clone, Debug)]
pub struct ClientLease {
    pub spec: ResourceSpec,
    pub held: HeldResource,
    pub disks: Vec<Arc<Device>>,
    pub lockspace: Arc<Lockspace>,
    /// SANLK_RES_PERSISTENT: kept as an orphan when its process goes away.
    pub persistent: bool,
    /// The lock value block (one sector), when acquired with SANLK_ACQUIRE_LVB.
    pub lvb: Option<Vec<u8>>,
    /// `set_lvb` changed it: written to disk before the lease is released or shared.
    pub lvb_dirty: bool,
}

impl ClientLease {
    /// sanlock's state string for inquire: `LS:RES:PATH:OFF[:PATH:OFF...]:LVER[:SH]`.
    pub fn state_string(&self) -> String {
        let esc = |s: &str| s.replace('\\', "\\\\").replace(':', "\\:");
        let mut out = format!(
            "{}:{}",
            esc(&self.spec.lockspace.to_string()),
            esc(&self.spec.name.to_string())
        );
        for (path, offset) in &self.spec.disks {
            out.push_str(&format!(":{}:{}", esc(&path.display().to_string()), offset));
        }
        out.push_str(&format!(":{}", self.held.lver));
        if self.held.mode == LeaseMode::Shared {
            out.push_str(":SH");
        }
        out
    }
}

impl Client {
    /// The killpath command line to run for this client, with its pid appended when it asked
    /// for that (SANLK_KILLPATH_PID).
    pub fn killpath_argv(&self) -> Option<Vec<String>> {
        let mut argv = self.killpath.clone()?;
        if self.killpath_pid {
            argv.push(self.pid.to_string());
        }
        Some(argv)
    }
}

/// Kill escalation state of a client whose lockspace failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Killing {
    pub started: MonoTime,
    pub last_action: Option<MonoTime>,
    pub killpath_run: bool,
    pub attempts: u32,
}

/// A registered process.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: ClientId,
    pub pid: u32,
    pub name: String,
    pub restrict: u32,
    /// Program and arguments run instead of SIGTERM (sanlock's killpath).
    pub killpath: Option<Vec<String>>,
    /// SANLK_KILLPATH_PID: the killpath gets the pid as an extra last argument.
    pub killpath_pid: bool,
    pub leases: Vec<ClientLease>,
    pub killing: Option<Killing>,
}

#[derive(Debug, Default)]
struct State {
    next_id: ClientId,
    clients: BTreeMap<ClientId, Client>,
    /// This host's hold on each resource held or being acquired, keyed by (lockspace, name).
    holds: BTreeMap<([u8; 48], [u8; 48]), Hold>,
    /// Persistent leases whose process went away: held by the daemon until adopted
    /// (SANLK_ACQUIRE_ORPHAN) or released (SANLK_REL_ORPHAN). Still reserved.
    orphans: Vec<ClientLease>,
}

/// This host's hold on one resource: one on-disk lease, shared by every local holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Hold {
    shared: bool,
    /// Client leases and orphans that refer to the on-disk lease.
    count: u32,
    /// The on-disk acquire is still running.
    acquiring: bool,
    /// The last reference is gone and the on-disk release (or its retries) is still running.
    releasing: bool,
}

fn hold_key(lockspace: &Name, name: &Name) -> ([u8; 48], [u8; 48]) {
    (*lockspace.as_bytes(), *name.as_bytes())
}

/// What [`Registry::reserve`] tells the caller to do.
#[derive(Clone, Debug)]
pub enum Reserved {
    /// Nobody holds it here: acquire it on disk.
    Acquire,
    /// Held shared on this host already: join that hold (no disk I/O), copying this lease.
    Join(Box<ClientLease>),
}

impl State {
    /// One reference to the hold on `key` is gone; true if it was the last (release on disk,
    /// then [`Registry::end_release`]: the hold stays, releasing, until then).
    fn drop_ref(&mut self, key: ([u8; 48], [u8; 48])) -> bool {
        let Some(hold) = self.holds.get_mut(&key) else {
            return true;
        };
        hold.count = hold.count.saturating_sub(1);
        if hold.count == 0 && !hold.acquiring {
            hold.releasing = true;
            return true;
        }
        false
    }

    /// Remove client `id`'s lease on `(lockspace, name)` (the hold's count is the caller's).
    fn remove_client_lease(
        &mut self,
        id: ClientId,
        lockspace: &Name,
        name: &Name,
    ) -> Result<ClientLease, DaemonError> {
        let client = self.clients.get_mut(&id).ok_or(DaemonError::NotFound)?;
        let index = client
            .leases
            .iter()
            .position(|l| l.spec.lockspace == *lockspace && l.spec.name == *name)
            .ok_or(DaemonError::NotFound)?;
        Ok(client.leases.remove(index))
    }

    /// Any lease (client's or orphan) on `key`, as a template for a joining shared holder.
    fn any_lease(&self, key: ([u8; 48], [u8; 48])) -> Option<&ClientLease> {
        let matches = |l: &&ClientLease| hold_key(&l.spec.lockspace, &l.spec.name) == key;
        self.clients
            .values()
            .flat_map(|c| c.leases.iter())
            .find(matches)
            .or_else(|| self.orphans.iter().find(matches))
    }
}

/// All registered clients.
#[derive(Debug, Default)]
pub struct Registry {
    state: Mutex<State>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("client registry lock")
    }

    pub fn register(&self, pid: u32, name: String) -> Result<ClientId, DaemonError> {
        let mut s = self.lock();
        if s.clients.len() >= CLIENTS_MAX {
            return Err(DaemonError::Invalid(format!(
                "too many registered processes ({CLIENTS_MAX})"
            )));
        }
        s.next_id += 1;
        let id = s.next_id;
        s.clients.insert(
            id,
            Client {
                id,
                pid,
                name,
                restrict: 0,
                killpath: None,
                killpath_pid: false,
                leases: Vec::new(),
                killing: None,
            },
        );
        Ok(id)
    }

    /// Remove a client, returning its leases (to release on disk unless their lockspace failed).
    pub fn unregister(&self, id: ClientId) -> Vec<ClientLease> {
        let mut s = self.lock();
        let Some(client) = s.clients.remove(&id) else {
            return Vec::new();
        };
        // Persistent leases of a live lockspace become orphans; the rest are released.
        let (persistent, released): (Vec<ClientLease>, Vec<ClientLease>) = client
            .leases
            .into_iter()
            .partition(|l| l.persistent && !matches!(l.lockspace.phase(), Phase::Failed { .. }));
        let released = released
            .into_iter()
            .filter(|l| s.drop_ref(hold_key(&l.spec.lockspace, &l.spec.name)))
            .collect();
        s.orphans.extend(persistent);
        released
    }

    /// Give the orphan lease `(lockspace, name)` to client `id` (SANLK_ACQUIRE_ORPHAN).
    pub fn adopt_orphan(
        &self,
        id: ClientId,
        lockspace: &Name,
        name: &Name,
    ) -> Result<Option<ClientLease>, DaemonError> {
        let mut s = self.lock();
        if !s.clients.contains_key(&id) {
            return Err(DaemonError::NotFound);
        }
        let Some(index) = s
            .orphans
            .iter()
            .position(|l| l.spec.lockspace == *lockspace && l.spec.name == *name)
        else {
            return Ok(None);
        };
        let lease = s.orphans.remove(index);
        let client = s.clients.get_mut(&id).expect("checked above");
        client.leases.push(lease.clone());
        Ok(Some(lease))
    }

    /// Take the orphans of `lockspace` (all of them, or the one named `name`) for release.
    pub fn take_orphans(&self, lockspace: &Name, name: Option<&Name>) -> Vec<ClientLease> {
        let mut s = self.lock();
        let (taken, kept): (Vec<ClientLease>, Vec<ClientLease>) =
            std::mem::take(&mut s.orphans).into_iter().partition(|l| {
                l.spec.lockspace == *lockspace && name.is_none_or(|n| l.spec.name == *n)
            });
        s.orphans = kept;
        taken
            .into_iter()
            .filter(|l| s.drop_ref(hold_key(&l.spec.lockspace, &l.spec.name)))
            .collect()
    }

    /// Orphan leases (for status).
    pub fn orphans(&self) -> Vec<ClientLease> {
        self.lock().orphans.clone()
    }

    pub fn client(&self, id: ClientId) -> Option<Client> {
        self.lock().clients.get(&id).cloned()
    }

    /// The client registered for `pid`.
    pub fn by_pid(&self, pid: u32) -> Option<ClientId> {
        self.lock()
            .clients
            .values()
            .find(|c| c.pid == pid)
            .map(|c| c.id)
    }

    pub fn clients(&self) -> Vec<Client> {
        self.lock().clients.values().cloned().collect()
    }

    pub fn set_restrict(&self, id: ClientId, restrict: u32) -> Result<(), DaemonError> {
        let mut s = self.lock();
        let client = s.clients.get_mut(&id).ok_or(DaemonError::NotFound)?;
        client.restrict = restrict;
        Ok(())
    }

    pub fn set_killpath(
        &self,
        id: ClientId,
        killpath: Vec<String>,
        with_pid: bool,
    ) -> Result<(), DaemonError> {
        let mut s = self.lock();
        let client = s.clients.get_mut(&id).ok_or(DaemonError::NotFound)?;
        client.killpath_pid = with_pid;
        client.killpath = if killpath.is_empty() {
            None
        } else {
            Some(killpath)
        };
        Ok(())
    }

    /// Claim `(lockspace, resource)` for an acquire by `id`. A resource not held here is to be
    /// acquired on disk; one held *shared* here is joined by another shared request (sanlock
    /// grants every local shared holder); anything else held or being acquired is refused
    /// (-EEXIST, or -EAGAIN while the first acquire runs). At most
    /// [`RESOURCES_PER_CLIENT_MAX`] per client.
    pub fn reserve(
        &self,
        id: ClientId,
        spec: &ResourceSpec,
        shared: bool,
    ) -> Result<Reserved, DaemonError> {
        let mut s = self.lock();
        let client = s.clients.get(&id).ok_or(DaemonError::NotFound)?;
        if client.killing.is_some() {
            return Err(DaemonError::NoSpace);
        }
        if client.leases.len() >= RESOURCES_PER_CLIENT_MAX {
            return Err(DaemonError::TooManyResources);
        }
        let key = hold_key(&spec.lockspace, &spec.name);
        match s.holds.get(&key).copied() {
            None => {
                s.holds.insert(
                    key,
                    Hold {
                        shared,
                        count: 0,
                        acquiring: true,
                        releasing: false,
                    },
                );
                Ok(Reserved::Acquire)
            }
            Some(hold) if hold.releasing => Err(DaemonError::BeingReleased),
            Some(hold) if hold.acquiring => Err(DaemonError::BeingAcquired),
            Some(hold) if hold.shared && shared => match s.any_lease(key) {
                Some(lease) => Ok(Reserved::Join(Box::new(lease.clone()))),
                None => Err(DaemonError::BeingAcquired),
            },
            Some(_) => Err(DaemonError::AlreadyHeld),
        }
    }

    /// Undo a reservation whose acquire failed.
    pub fn unreserve(&self, spec: &ResourceSpec) {
        let key = hold_key(&spec.lockspace, &spec.name);
        let mut s = self.lock();
        if let Some(hold) = s.holds.get_mut(&key) {
            hold.acquiring = false;
            if hold.count == 0 {
                s.holds.remove(&key);
            }
        }
    }

    /// Undo a reservation whose lease was acquired on disk but is given back at once: the hold
    /// stays, releasing, until [`Registry::end_release`].
    pub fn unreserve_releasing(&self, spec: &ResourceSpec) {
        let key = hold_key(&spec.lockspace, &spec.name);
        let mut s = self.lock();
        if let Some(hold) = s.holds.get_mut(&key) {
            hold.acquiring = false;
            if hold.count == 0 {
                hold.releasing = true;
            }
        }
    }

    /// The on-disk release of `spec` (whose last reference was dropped) is over, whatever
    /// its result: the resource may be acquired on this host again.
    pub fn end_release(&self, spec: &ResourceSpec) {
        let key = hold_key(&spec.lockspace, &spec.name);
        let mut s = self.lock();
        if s.holds.get(&key).is_some_and(|h| h.releasing) {
            s.holds.remove(&key);
        }
    }

    /// Whether the on-disk release of `(lockspace, name)` is still running (retries included).
    pub fn releasing(&self, lockspace: &Name, name: &Name) -> bool {
        self.lock()
            .holds
            .get(&hold_key(lockspace, name))
            .is_some_and(|h| h.releasing)
    }

    /// Record an acquired (or joined) lease. If the client went away meanwhile the lease comes
    /// back with whether it was this host's last reference (then the caller releases it).
    pub fn add_lease(
        &self,
        id: ClientId,
        lease: ClientLease,
    ) -> Result<(), (Box<ClientLease>, bool)> {
        let mut s = self.lock();
        let key = hold_key(&lease.spec.lockspace, &lease.spec.name);
        if let Some(hold) = s.holds.get_mut(&key) {
            hold.acquiring = false;
            hold.count += 1;
        }
        match s.clients.get_mut(&id) {
            Some(client) => {
                client.leases.push(lease);
                Ok(())
            }
            None => {
                let last = s.drop_ref(key);
                Err((Box::new(lease), last))
            }
        }
    }

    /// How many local holders share this host's hold on `(lockspace, name)`.
    pub fn holders(&self, lockspace: &Name, name: &Name) -> u32 {
        self.lock()
            .holds
            .get(&hold_key(lockspace, name))
            .map_or(0, |h| h.count)
    }

    /// Take a lease away from a client for release; with whether it was this host's last
    /// reference to the on-disk lease (only then is it released on disk).
    pub fn take_lease(
        &self,
        id: ClientId,
        lockspace: &Name,
        name: &Name,
    ) -> Result<(ClientLease, bool), DaemonError> {
        let mut s = self.lock();
        let lease = s.remove_client_lease(id, lockspace, name)?;
        let last = s.drop_ref(hold_key(lockspace, name));
        Ok((lease, last))
    }

    /// Take a lease out for an operation on it (conversion) while keeping this host's claim on
    /// the resource, so no other local client can acquire it meanwhile. Pair with
    /// [`Registry::checkin`].
    pub fn checkout(
        &self,
        id: ClientId,
        lockspace: &Name,
        name: &Name,
    ) -> Result<ClientLease, DaemonError> {
        self.lock().remove_client_lease(id, lockspace, name)
    }

    /// Put back a checked-out lease (its hold keeps its count). If the client went away
    /// meanwhile the lease comes back with whether it was the last reference.
    pub fn checkin(
        &self,
        id: ClientId,
        lease: ClientLease,
    ) -> Result<(), (Box<ClientLease>, bool)> {
        let mut s = self.lock();
        let key = hold_key(&lease.spec.lockspace, &lease.spec.name);
        if let Some(hold) = s.holds.get_mut(&key) {
            hold.shared = lease.held.mode == lease_core::paxos_lease::LeaseMode::Shared;
        }
        match s.clients.get_mut(&id) {
            Some(client) => {
                client.leases.push(lease);
                Ok(())
            }
            None => {
                let last = s.drop_ref(key);
                Err((Box::new(lease), last))
            }
        }
    }

    /// Run `f` on the lease `(lockspace, name)` held by any client of this host.
    pub fn with_held_lease<T>(
        &self,
        lockspace: &Name,
        name: &Name,
        f: impl FnOnce(&mut ClientLease) -> T,
    ) -> Option<T> {
        let mut s = self.lock();
        s.clients
            .values_mut()
            .flat_map(|c| c.leases.iter_mut())
            .find(|l| l.spec.lockspace == *lockspace && l.spec.name == *name)
            .map(f)
    }

    /// Clients holding leases in a lockspace that is no longer live.
    pub fn clients_in_failed_lockspaces(&self) -> Vec<ClientId> {
        self.lock()
            .clients
            .values()
            .filter(|c| {
                c.leases
                    .iter()
                    .any(|l| matches!(l.lockspace.phase(), Phase::Failed { .. }))
            })
            .map(|c| c.id)
            .collect()
    }

    /// Decide the next kill action for client `id` at `now` (one action per second at most).
    pub fn next_kill_action(
        &self,
        id: ClientId,
        now: MonoTime,
        kill_grace: Duration,
    ) -> Option<(u32, KillAction)> {
        let mut s = self.lock();
        let client = s.clients.get_mut(&id)?;
        let killing = client.killing.get_or_insert(Killing {
            started: now,
            last_action: None,
            killpath_run: false,
            attempts: 0,
        });
        if killing
            .last_action
            .is_some_and(|t| now.saturating_since(t) < Duration::from_secs(1))
        {
            return None;
        }
        killing.last_action = Some(now);
        killing.attempts += 1;
        let in_grace = now.saturating_since(killing.started) < kill_grace;
        let action = if in_grace && client.killpath.is_some() && !killing.killpath_run {
            killing.killpath_run = true;
            KillAction::RunKillpath(client.killpath_argv().unwrap_or_default())
        } else if in_grace && client.killpath.is_some() {
            return None; // the killpath runs once during the grace period
        } else {
            let sigkill = !in_grace;
            // Restrict flags swap the signal a client refuses (spec §8).
            let mut signal = if sigkill {
                libc::SIGKILL
            } else {
                libc::SIGTERM
            };
            if signal == libc::SIGKILL && client.restrict & SANLK_RESTRICT_SIGKILL != 0 {
                signal = libc::SIGTERM;
            } else if signal == libc::SIGTERM && client.restrict & SANLK_RESTRICT_SIGTERM != 0 {
                signal = libc::SIGKILL;
            }
            KillAction::Signal(signal)
        };
        Some((client.pid, action))
    }
}

/// What to do to a client that must die.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KillAction {
    Signal(i32),
    RunKillpath(Vec<String>),
}
