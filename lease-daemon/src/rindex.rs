//! The resource index through the daemon (`FORMAT_RINDEX`, `UPDATE_RINDEX`, `LOOKUP_RINDEX`,
//! `CREATE_RESOURCE`, `DELETE_RESOURCE`, `REBUILD_RINDEX`; format spec §6).
//!
//! The index logic is `lease_core::rindex` ([`RindexOp`]); this module resolves the request
//! against the daemon (lockspace, device, timeouts), takes the rindex lease where sanlock
//! does, drives the operation on the daemon's executor and builds sanlock's reply.
//!
//! What sanlock 3.8.5 does, observed, and done here the same way:
//! * format needs no lockspace; `SANLK_RIF_*` sizes must be both given or both absent (-1);
//!   without them the device's sector size and the legacy align size are used;
//! * every other action needs the rindex's lockspace joined here (-ENOENT otherwise), except
//!   lookup, update and rebuild with `SANLK_RX_NO_LOCKSPACE`;
//! * create, delete and rebuild (unless `SANLK_RX_NO_LOCKSPACE`) run while holding the
//!   `rindex_lease` paxos lease at `rx_offset + align`, acquired with OWNER_NOWAIT under our
//!   host_id and generation in that lockspace, and released afterwards whatever happened;
//! * actions through one lockspace are serialised: a second one while one runs is -EBUSY;
//! * update: `SANLK_RXUP_REM` removes (and wins over ADD), `SANLK_RXUP_ADD` adds, neither is
//!   -EINVAL;
//! * replies carry a `sanlk_rentry` (zero on failure): lookup the entry found, update-add the
//!   entry written, create only the new lease's offset (the name is left empty), delete and
//!   update-remove a zero entry; format and rebuild reply with the header only.
//!
//! **Invariant:** nothing is written before the request is validated and, for create, delete
//! and rebuild, before the rindex lease is held.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lease_core::geometry::Geometry;
use lease_core::ondisk::{Name, RINDEX_LEASE_NAME};
use lease_core::paxos_lease::{LockspaceArea, PaxosConfig};
use lease_core::rindex::{
    RindexAction, RindexLayout, RindexOp, RindexOpError, RindexOutput, RindexTarget,
};
use lease_io::Device;
use lease_wire::consts as wc;
use lease_wire::{Header, Rentry, Reply, ReplyBody, RequestBody, Rindex};

use crate::areas::{geometry_from_flags, WRITE_INIT_TIMEOUT};
use crate::daemon::Daemon;
use crate::exec::{drive, IoExecutor};
use crate::lockspace::{Lockspace, Phase};
use crate::resource::{self, AcquireOptions, ResourceContext};
use crate::DaemonError;

/// sanlock's generic failure, what it answers for half-given sizes.
const SANLK_ERROR_GENERIC: i32 = -1;

/// A failed rindex request: sanlock's number and what went wrong (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RindexFailure {
    /// The negative result put on the wire.
    pub rv: i32,
    /// Why.
    pub message: String,
}

impl RindexFailure {
    fn new(rv: i32, message: impl Into<String>) -> RindexFailure {
        RindexFailure {
            rv,
            message: message.into(),
        }
    }
}

impl From<RindexOpError> for RindexFailure {
    fn from(error: RindexOpError) -> RindexFailure {
        RindexFailure::new(error.sanlock_errno(), error.to_string())
    }
}

impl From<DaemonError> for RindexFailure {
    fn from(error: DaemonError) -> RindexFailure {
        RindexFailure::new(error.errno(), error.to_string())
    }
}

type Outcome<T> = Result<T, RindexFailure>;

/// Lockspaces (by the address of their `Arc`, held while marked) with a rindex action
/// running. Keyed per lockspace object, so two daemons in one process never collide.
static RUNNING: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());

/// The mark of a running rindex action in one lockspace; removed on drop.
struct Running {
    lockspace: Arc<Lockspace>,
}

impl Running {
    fn start(lockspace: Arc<Lockspace>) -> Outcome<Running> {
        let key = Arc::as_ptr(&lockspace) as usize;
        let mut running = RUNNING.lock().expect("rindex busy set");
        if !running.insert(key) {
            return Err(RindexFailure::new(
                -libc::EBUSY,
                "another rindex action is running in this lockspace",
            ));
        }
        Ok(Running { lockspace })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let key = Arc::as_ptr(&self.lockspace) as usize;
        RUNNING.lock().expect("rindex busy set").remove(&key);
    }
}

/// Answers one rindex request (`body` must be one of the six rindex commands).
pub async fn handle<E: IoExecutor + 'static>(
    daemon: &Arc<Daemon<E>>,
    header: &Header,
    body: RequestBody,
) -> Reply {
    let flags = header.cmd_flags;
    let label = body.command().name();
    let (result, rentry) = match body {
        RequestBody::FormatRindex(rx) => {
            log_request(daemon, label, &rx);
            (format(daemon, &rx).await.map(|()| None), false)
        }
        RequestBody::RebuildRindex(rx) => {
            log_request(daemon, label, &rx);
            (rebuild(daemon, &rx, flags).await.map(|()| None), false)
        }
        RequestBody::LookupRindex { rindex, entry } => {
            log_request(daemon, label, &rindex);
            (lookup(daemon, &rindex, &entry, flags).await.map(Some), true)
        }
        RequestBody::UpdateRindex { rindex, entry } => {
            log_request(daemon, label, &rindex);
            (update(daemon, &rindex, &entry, flags).await.map(Some), true)
        }
        RequestBody::CreateResource { rindex, entry } => {
            log_request(daemon, label, &rindex);
            let num_hosts = u64::from(header.data2);
            (
                create(daemon, &rindex, &entry, num_hosts).await.map(Some),
                true,
            )
        }
        RequestBody::DeleteResource { rindex, entry } => {
            log_request(daemon, label, &rindex);
            (delete(daemon, &rindex, &entry).await.map(Some), true)
        }
        other => (
            Err(RindexFailure::new(
                -libc::EINVAL,
                format!("{} is not a rindex command", other.command().name()),
            )),
            false,
        ),
    };
    let (rv, found) = match result {
        Ok(found) => (0, found),
        Err(failure) => {
            daemon.log(format!(
                "{label} failed {}: {}",
                failure.rv, failure.message
            ));
            (failure.rv, None)
        }
    };
    daemon.log(format!("{label} done {rv}"));
    let body = if rentry {
        ReplyBody::Rentry(Some(found.unwrap_or_default()))
    } else {
        ReplyBody::Empty
    };
    Reply::for_request(header, rv, 0, body)
}

fn log_request<E: IoExecutor + 'static>(daemon: &Daemon<E>, label: &str, rx: &Rindex) {
    daemon.log(format!(
        "{label} {} {}:{}",
        rx.lockspace_name.to_string_lossy(),
        rx.disk.path.to_string_lossy(),
        rx.disk.offset
    ));
}

fn core_name(name: &lease_wire::Name) -> Name {
    Name::from_bytes(*name.raw())
}

fn wire_entry(name: &Name, offset: u64) -> Rentry {
    Rentry {
        name: lease_wire::Name::from_raw(*name.as_bytes()),
        offset,
        flags: 0,
        unused: 0,
    }
}

fn path_of(rx: &Rindex) -> Outcome<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = rx.disk.path.as_bytes();
    if bytes.is_empty() {
        return Err(RindexFailure::new(-libc::ENOENT, "no rindex path"));
    }
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
}

/// The rindex's device, with its size re-read (files grow).
fn device<E: IoExecutor + 'static>(daemon: &Daemon<E>, rx: &Rindex) -> Outcome<Arc<Device>> {
    let device = daemon.device(&path_of(rx)?)?;
    device.refresh_size().map_err(DaemonError::from)?;
    Ok(device)
}

fn target(rx: &Rindex, device: &Device, io_timeout: Duration) -> RindexTarget {
    RindexTarget {
        space: core_name(&rx.lockspace_name),
        rx_offset: rx.disk.offset,
        device_sector_size: device.logical_sector_size(),
        device_size: device.size_bytes(),
        io_timeout,
        area_write_timeout: WRITE_INIT_TIMEOUT,
    }
}

/// The joined, live lockspace the rindex belongs to, marked busy for this action.
fn joined<E: IoExecutor + 'static>(daemon: &Daemon<E>, rx: &Rindex) -> Outcome<Running> {
    let name = core_name(&rx.lockspace_name);
    let lockspace = daemon
        .lockspace(&name)
        .filter(|ls| ls.phase() == Phase::Live)
        .ok_or_else(|| {
            RindexFailure::new(-libc::ENOENT, format!("lockspace {name} is not joined"))
        })?;
    Running::start(lockspace)
}

async fn run<E: IoExecutor + 'static>(
    daemon: &Daemon<E>,
    device: &Arc<Device>,
    target: RindexTarget,
    action: RindexAction,
) -> Outcome<RindexOutput> {
    let mut op = RindexOp::new(target, action);
    Ok(drive(&mut op, daemon.exec(), std::slice::from_ref(device)).await?)
}

/// FORMAT_RINDEX.
async fn format<E: IoExecutor + 'static>(daemon: &Daemon<E>, rx: &Rindex) -> Outcome<()> {
    let device = device(daemon, rx)?;
    let sector = rx.flags & (wc::SANLK_RIF_SECTOR512 | wc::SANLK_RIF_SECTOR4K);
    let align = rx.flags
        & (wc::SANLK_RIF_ALIGN1M
            | wc::SANLK_RIF_ALIGN2M
            | wc::SANLK_RIF_ALIGN4M
            | wc::SANLK_RIF_ALIGN8M);
    if (sector == 0) != (align == 0) {
        return Err(RindexFailure::new(
            SANLK_ERROR_GENERIC,
            format!("sector and align flags must both be set ({:#x})", rx.flags),
        ));
    }
    let geometry = geometry_from_flags(rx.flags, &device)?;
    check_device_sectors(geometry, &device)?;
    let io_timeout = Duration::from_secs(u64::from(daemon.config.io_timeout_seconds));
    let action = RindexAction::Format {
        geometry,
        max_resources: rx.max_resources,
    };
    run(daemon, &device, target(rx, &device, io_timeout), action).await?;
    daemon.log(format!(
        "rindex_format {}:{}:{} {geometry}",
        rx.lockspace_name.to_string_lossy(),
        rx.disk.path.to_string_lossy(),
        rx.disk.offset
    ));
    Ok(())
}

fn check_device_sectors(geometry: Geometry, device: &Device) -> Outcome<()> {
    if geometry.sector_size().bytes() < device.io_alignment() {
        return Err(RindexFailure::new(
            -libc::EINVAL,
            format!(
                "{}-byte sectors on a device with {}-byte sectors",
                geometry.sector_size(),
                device.io_alignment()
            ),
        ));
    }
    Ok(())
}

/// The lockspace and device of a lockspace-bound action, with its target.
struct Bound {
    running: Option<Running>,
    device: Arc<Device>,
    target: RindexTarget,
}

fn bind<E: IoExecutor + 'static>(
    daemon: &Daemon<E>,
    rx: &Rindex,
    no_lockspace: bool,
) -> Outcome<Bound> {
    let running = if no_lockspace {
        None
    } else {
        Some(joined(daemon, rx)?)
    };
    let io_timeout = running.as_ref().map_or_else(
        || Duration::from_secs(u64::from(daemon.config.io_timeout_seconds)),
        |r| r.lockspace.timeouts.io_timeout(),
    );
    let device = device(daemon, rx)?;
    let target = target(rx, &device, io_timeout);
    Ok(Bound {
        running,
        device,
        target,
    })
}

/// LOOKUP_RINDEX.
async fn lookup<E: IoExecutor + 'static>(
    daemon: &Daemon<E>,
    rx: &Rindex,
    entry: &Rentry,
    flags: u32,
) -> Outcome<Rentry> {
    let bound = bind(daemon, rx, flags & wc::SANLK_RX_NO_LOCKSPACE != 0)?;
    let action = RindexAction::Lookup {
        name: Some(core_name(&entry.name)).filter(|n| !n.is_empty()),
        offset: Some(entry.offset).filter(|&o| o != 0),
    };
    let found = run(daemon, &bound.device, bound.target, action)
        .await?
        .entry;
    Ok(wire_entry(&found.name, found.res_offset))
}

/// UPDATE_RINDEX.
async fn update<E: IoExecutor + 'static>(
    daemon: &Daemon<E>,
    rx: &Rindex,
    entry: &Rentry,
    flags: u32,
) -> Outcome<Rentry> {
    let name = core_name(&entry.name);
    let action = if flags & wc::SANLK_RXUP_REM != 0 {
        RindexAction::Remove {
            name: Some(name).filter(|n| !n.is_empty()),
            offset: entry.offset,
        }
    } else if flags & wc::SANLK_RXUP_ADD != 0 {
        RindexAction::Add {
            name,
            offset: entry.offset,
        }
    } else {
        return Err(RindexFailure::new(
            -libc::EINVAL,
            "update needs SANLK_RXUP_ADD or SANLK_RXUP_REM",
        ));
    };
    let bound = bind(daemon, rx, flags & wc::SANLK_RX_NO_LOCKSPACE != 0)?;
    let written = run(daemon, &bound.device, bound.target, action)
        .await?
        .entry;
    Ok(wire_entry(&written.name, written.res_offset))
}

/// CREATE_RESOURCE: replies with the new lease's offset and an empty name, as sanlock.
async fn create<E: IoExecutor + 'static>(
    daemon: &Daemon<E>,
    rx: &Rindex,
    entry: &Rentry,
    num_hosts: u64,
) -> Outcome<Rentry> {
    let name = core_name(&entry.name);
    let bound = bind(daemon, rx, false)?;
    let action = RindexAction::Create { name, num_hosts };
    let created = locked(daemon, bound, action).await?.entry;
    daemon.log(format!(
        "rindex_create {name} at offset {}",
        created.res_offset
    ));
    Ok(wire_entry(&Name::EMPTY, created.res_offset))
}

/// DELETE_RESOURCE.
async fn delete<E: IoExecutor + 'static>(
    daemon: &Daemon<E>,
    rx: &Rindex,
    entry: &Rentry,
) -> Outcome<Rentry> {
    let name = core_name(&entry.name);
    let offset = Some(entry.offset).filter(|&o| o != 0);
    let bound = bind(daemon, rx, false)?;
    locked(daemon, bound, RindexAction::Delete { name, offset }).await?;
    Ok(Rentry::default())
}

/// REBUILD_RINDEX.
async fn rebuild<E: IoExecutor + 'static>(
    daemon: &Daemon<E>,
    rx: &Rindex,
    flags: u32,
) -> Outcome<()> {
    let no_lockspace = flags & wc::SANLK_RX_NO_LOCKSPACE != 0;
    let bound = bind(daemon, rx, no_lockspace)?;
    let output = if no_lockspace {
        run(daemon, &bound.device, bound.target, RindexAction::Rebuild).await?
    } else {
        locked(daemon, bound, RindexAction::Rebuild).await?
    };
    for entry in &output.entries {
        daemon.log(format!(
            "rindex_rebuild found {} at {}",
            entry.name, entry.res_offset
        ));
    }
    Ok(())
}

/// Runs `action` while holding the rindex lease: the header is read and the request checked
/// against it first (nothing is acquired for a request that cannot succeed), then the lease
/// is acquired with OWNER_NOWAIT, the action runs, and the lease is released.
async fn locked<E: IoExecutor + 'static>(
    daemon: &Daemon<E>,
    bound: Bound,
    action: RindexAction,
) -> Outcome<RindexOutput> {
    let Bound {
        running,
        device,
        target,
    } = bound;
    let lockspace = running
        .as_ref()
        .map(|r| r.lockspace.clone())
        .ok_or_else(|| RindexFailure::new(-libc::ENOENT, "no lockspace"))?;
    let header = run(daemon, &device, target.clone(), RindexAction::Header).await?;
    let layout = RindexLayout::from_header(&header.header, &target.space, target.rx_offset)?;
    action.check(&layout)?;
    let ctx = lease_context(daemon, &lockspace, &device, &layout, &target.space)?;
    let options = AcquireOptions {
        owner_nowait: true,
        ..AcquireOptions::default()
    };
    let held = match resource::acquire(daemon.exec(), &ctx, &options).await {
        Ok(held) => held,
        Err(failed) => {
            if let Some(plan) = failed.leftover {
                daemon.retract_later(&ctx.lockspace, &ctx.disks, plan, None);
            }
            return Err(failed.err.into());
        }
    };
    daemon.log(format!(
        "rindex lease at {} acquired lver {}",
        layout.lease_offset(),
        held.lver
    ));
    let result = run(daemon, &device, target, action).await;
    if let Err(e) = resource::release(daemon.exec(), &ctx.lockspace, &ctx.disks, held).await {
        daemon.log(format!("rindex lease release failed: {e}"));
    }
    drop(running);
    result
}

/// The rindex lease as a resource of the lockspace: our host_id and generation, the
/// rindex's sizes, and the lockspace disk for owners' delta leases.
fn lease_context<E: IoExecutor + 'static>(
    daemon: &Daemon<E>,
    lockspace: &Arc<Lockspace>,
    device: &Arc<Device>,
    layout: &RindexLayout,
    space: &Name,
) -> Outcome<ResourceContext> {
    let view = lockspace.view();
    let (Phase::Live, Some(held), Some(ls_geometry)) = (&view.phase, &view.held, view.geometry)
    else {
        return Err(RindexFailure::new(
            -libc::ENOSPC,
            "the lockspace is not live",
        ));
    };
    let config = PaxosConfig {
        geometry: layout.geometry,
        lease_offsets: vec![layout.lease_offset()],
        space_name: *space,
        resource_name: RINDEX_LEASE_NAME,
        host_id: held.config.host_id,
        host_generation: held.generation,
        timeouts: lockspace.timeouts,
        lockspace: LockspaceArea {
            geometry: ls_geometry,
            offset: view.spec.offset,
        },
    };
    let disks = vec![device.clone(), daemon.device(&view.spec.path)?];
    Ok(ResourceContext {
        config,
        disks,
        lockspace: lockspace.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lockspace::LockspaceSpec;
    use lease_core::timeouts::Timeouts;

    fn lockspace(dir: &std::path::Path, name: &str) -> Arc<Lockspace> {
        let path = dir.join(format!("{name}.img"));
        std::fs::File::create(&path)
            .and_then(|f| f.set_len(1 << 20))
            .expect("image");
        let device = Arc::new(Device::open(&path, lease_io::Access::ReadWrite).expect("device"));
        let spec = LockspaceSpec {
            name: Name::new(name).expect("name"),
            host_id: 1,
            path,
            offset: 0,
        };
        Lockspace::new(
            spec,
            Timeouts::new(1, 60),
            Name::EMPTY,
            device,
            0,
            Arc::default(),
        )
    }

    #[test]
    fn one_rindex_action_per_lockspace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (lockspace(dir.path(), "A"), lockspace(dir.path(), "B"));
        let first = Running::start(a.clone()).expect("first");
        let busy = Running::start(a.clone()).err().expect("second is busy");
        assert_eq!(busy.rv, -libc::EBUSY);
        // Another lockspace is independent.
        let other = Running::start(b).expect("other lockspace");
        drop(first);
        let again = Running::start(a).expect("free again after the first ended");
        drop((again, other));
    }
}
