//! The daemon's state: joined lockspaces and the operations clients ask for.
//!
//! **Invariants**
//! * One [`Lockspace`] per name; adding a name that exists fails with -EEXIST, even while the
//!   first add is still in progress.
//! * A lockspace whose join fails is forgotten (a later add may retry).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use lease_core::ondisk::Name;
use lease_core::timeouts::{Timeouts, IO_TIMEOUT_SECONDS_MAX};

use crate::exec::{DeviceCache, IoExecutor};
use crate::lockspace::{Lockspace, LockspaceSpec, LockspaceView, Phase};
use crate::DaemonError;

/// Settings that apply to the whole daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonConfig {
    /// Default io_timeout for lockspaces added without one (`-o`, sanlock.conf `io_timeout`).
    pub io_timeout_seconds: u32,
    /// `watchdog_fire_timeout` (all hosts of a lockspace must agree).
    pub watchdog_fire_timeout_seconds: u32,
    /// Our unique host name (`<uuid>.<nodename>`, or `-e` / `our_host_name`).
    pub our_host_name: Name,
}

/// The daemon: lockspaces, devices, and the I/O executor they share.
#[derive(Debug)]
pub struct Daemon<E> {
    pub config: DaemonConfig,
    exec: Arc<E>,
    devices: DeviceCache,
    lockspaces: Mutex<BTreeMap<[u8; 48], Arc<Lockspace>>>,
}

impl<E: IoExecutor + 'static> Daemon<E> {
    pub fn new(config: DaemonConfig, exec: E) -> Arc<Daemon<E>> {
        Arc::new(Daemon {
            config,
            exec: Arc::new(exec),
            devices: DeviceCache::default(),
            lockspaces: Mutex::new(BTreeMap::new()),
        })
    }

    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<[u8; 48], Arc<Lockspace>>> {
        self.lockspaces.lock().expect("lockspace map lock")
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
            let ls = Lockspace::new(spec.clone(), timeouts, self.config.our_host_name, device);
            map.insert(*spec.name.as_bytes(), ls.clone());
            ls
        };
        let daemon = self.clone();
        let join = tokio::spawn(async move {
            let result = lockspace.join(daemon.exec.as_ref()).await;
            match &result {
                Ok(()) => {
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

    /// sanlock's inq_lockspace: 0 joined, -EINPROGRESS adding or removing, -ENOENT unknown.
    pub fn inq_lockspace(&self, name: &Name) -> Result<(), DaemonError> {
        match self.lockspace(name).map(|ls| ls.phase()) {
            None => Err(DaemonError::NotFound),
            Some(Phase::Adding | Phase::Removing) => Err(DaemonError::InProgress),
            Some(Phase::Live | Phase::Failed { .. }) => Ok(()),
        }
    }
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
