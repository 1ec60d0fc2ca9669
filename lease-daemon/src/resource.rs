//! Resource leases held by this daemon for its client processes.
//!
//! A client (a registered process) asks for a resource; the daemon runs `lease-core`'s
//! [`PaxosAcquire`] on the resource's disks with the lockspace's identity (host_id and
//! generation of our delta lease) and liveness cache, and records the [`HeldResource`] against
//! the client. Release runs [`PaxosRelease`].
//!
//! **Invariants**
//! * A resource is acquired only in a lockspace that is `Live` (joined, renewing) and before
//!   its fail deadline (`lease_core::guard::may_start`): otherwise -ENOSPC, as sanlock.
//! * Every paxos operation and LVB write runs under the deadline guard of its lockspace
//!   (`exec::drive_in`, `lease_core::guard`): nothing of it is issued at or after the fail
//!   deadline, or once the lockspace is not live.
//! * This host holds a given resource at most once (one owner in the paxos sense); a second
//!   local acquire of a held resource is refused with -EEXIST.
//! * Leases held in a lockspace that failed are never released on disk (the lockspace is dead;
//!   they expire through host_dead_seconds), only forgotten after their holders are killed.
//! * A release is retried only after I/O failures ([`release_retryable`]); every attempt is a
//!   whole [`PaxosRelease`], which frees only the leader we committed.

use std::path::PathBuf;
use std::sync::Arc;

use lease_core::ondisk::Name;
use lease_core::paxos_lease::{
    AcquireRequest, HeldResource, LeaseMode, LockspaceArea, PaxosAcquire, PaxosConfig,
    PaxosConvertToShared, PaxosError, PaxosRelease, PaxosRetract, RetractPlan, MAX_DISKS,
};
use lease_io::Device;

use lease_core::guard;

use crate::exec::{drive_in, now, DeviceCache, IoExecutor};
use crate::lockspace::{Lockspace, Phase};
use crate::DaemonError;

/// A resource as clients name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceSpec {
    pub lockspace: Name,
    pub name: Name,
    /// (path, offset) of each disk, 1..=4.
    pub disks: Vec<(PathBuf, u64)>,
}

/// Acquire options (from the wire flags).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AcquireOptions {
    pub shared: bool,
    /// SANLK_ACQUIRE_LVB: read the lock value block after acquiring.
    pub lvb: bool,
    /// SANLK_RES_PERSISTENT: the lease outlives its process (becomes an orphan).
    pub persistent: bool,
    /// SANLK_ACQUIRE_ORPHAN: adopt an orphan of this resource if there is one.
    pub adopt_orphan: bool,
    /// SANLK_ACQUIRE_ORPHAN_ONLY: only adopt; -ENOENT if there is no orphan.
    pub orphan_only: bool,
    pub expected_lver: Option<u64>,
    pub owner_nowait: bool,
    pub num_hosts: Option<u64>,
}

/// Everything needed to run paxos operations on one resource.
#[derive(Debug)]
pub struct ResourceContext {
    pub config: PaxosConfig,
    pub disks: Vec<Arc<Device>>,
    pub lockspace: Arc<Lockspace>,
}

/// Resolve `spec` against a live lockspace: devices, geometry, our identity.
pub fn context(
    devices: &DeviceCache,
    lockspace: Arc<Lockspace>,
    spec: &ResourceSpec,
) -> Result<ResourceContext, DaemonError> {
    if spec.disks.is_empty() || spec.disks.len() > MAX_DISKS {
        return Err(DaemonError::Paxos(PaxosError::BadDiskCount {
            count: spec.disks.len(),
        }));
    }
    let view = lockspace.view();
    let (Phase::Live, Some(held), Some(geometry)) = (&view.phase, &view.held, view.geometry) else {
        return Err(DaemonError::NoSpace);
    };
    if guard::may_start(lockspace.membership(), now()).is_err() {
        // Past our fail deadline: the renewal loop is about to fail the lockspace.
        return Err(DaemonError::NoSpace);
    }
    let mut disks = Vec::with_capacity(spec.disks.len() + 1);
    for (path, _) in &spec.disks {
        disks.push(devices.get(path)?);
    }
    disks.push(devices.get(&view.spec.path)?);
    let config = PaxosConfig {
        geometry,
        lease_offsets: spec.disks.iter().map(|(_, offset)| *offset).collect(),
        space_name: spec.lockspace,
        resource_name: spec.name,
        host_id: held.config.host_id,
        host_generation: held.generation,
        timeouts: lockspace.timeouts,
        lockspace: LockspaceArea {
            geometry,
            offset: view.spec.offset,
        },
    };
    Ok(ResourceContext {
        config,
        disks,
        lockspace,
    })
}

/// An acquire (or SH→EX conversion) that failed, with what it could not undo: a ballot it
/// may have won or a leader it committed for us ([`PaxosAcquire::leftover`]). The caller
/// retries that in the background ([`retract`]) and keeps from acquiring the resource
/// meanwhile; a failed conversion hands it to the shared release instead
/// ([`HeldResource::after_failed_conversion`]).
#[derive(Debug)]
pub struct AcquireFailed {
    pub err: DaemonError,
    pub leftover: Option<RetractPlan>,
}

impl AcquireFailed {
    fn from_op(op: &PaxosAcquire, err: PaxosError) -> AcquireFailed {
        AcquireFailed {
            err: DaemonError::Paxos(err),
            leftover: op.leftover().cloned(),
        }
    }
}

/// Run the acquire.
pub async fn acquire(
    exec: &impl IoExecutor,
    ctx: &ResourceContext,
    options: &AcquireOptions,
) -> Result<HeldResource, AcquireFailed> {
    let request = AcquireRequest {
        mode: if options.shared {
            LeaseMode::Shared
        } else {
            LeaseMode::Exclusive
        },
        expected_lver: options.expected_lver,
        owner_nowait: options.owner_nowait,
        num_hosts: options.num_hosts,
        convert_from_shared: false,
    };
    run_acquire(
        exec,
        ctx.config.clone(),
        request,
        &ctx.lockspace,
        &ctx.disks,
    )
    .await
}

/// [`PaxosAcquire`] with our lockspace's liveness cache, under its deadline guard; a failure
/// comes with what the acquire left to undo.
async fn run_acquire(
    exec: &impl IoExecutor,
    config: PaxosConfig,
    request: AcquireRequest,
    lockspace: &Lockspace,
    disks: &[Arc<Device>],
) -> Result<HeldResource, AcquireFailed> {
    let table = lockspace.view().host_table;
    let mut op = PaxosAcquire::new(config, request, table);
    let result = drive_in(&mut op, exec, disks, Some(lockspace)).await;
    result.map_err(|err| AcquireFailed::from_op(&op, err))
}

/// One attempt at undoing what a failed acquire left ([`PaxosRetract`]).
pub async fn retract(
    exec: &impl IoExecutor,
    lockspace: &Lockspace,
    disks: &[Arc<Device>],
    plan: RetractPlan,
) -> Result<(), DaemonError> {
    drive_in(&mut PaxosRetract::new(plan), exec, disks, Some(lockspace))
        .await
        .map_err(DaemonError::Paxos)
}

/// Run the release of a held lease of `lockspace`.
pub async fn release(
    exec: &impl IoExecutor,
    lockspace: &Lockspace,
    disks: &[Arc<Device>],
    held: HeldResource,
) -> Result<(), DaemonError> {
    drive_in(&mut PaxosRelease::new(held), exec, disks, Some(lockspace))
        .await
        .map_err(DaemonError::Paxos)
}

/// One attempt at releasing a lease on disk: its lock value block first when it was changed
/// (spec §5.5 step 1), then [`PaxosRelease`].
pub async fn release_attempt(
    exec: &impl IoExecutor,
    lease: &crate::clients::ClientLease,
) -> Result<(), DaemonError> {
    if let (true, Some(lvb)) = (lease.lvb_dirty, &lease.lvb) {
        let generation = Some(lease.held.config.host_generation);
        guard::check(generation, lease.lockspace.membership(), now())
            .map_err(|_| DaemonError::NoSpace)?;
        write_lvb(exec, &lease.held.config, &lease.disks, lvb).await?;
    }
    release(exec, &lease.lockspace, &lease.disks, lease.held.clone()).await
}

/// Whether a failed release may succeed if tried again: the I/O failed (spec §5.5 step 3).
/// Any other error means the leader is no longer the one we committed (freed already, or a
/// newer version), and a retry would find the same.
pub fn release_retryable(err: &DaemonError) -> bool {
    match err {
        DaemonError::Io(_) => true,
        DaemonError::Paxos(e) => e.is_io(),
        _ => false,
    }
}

/// EX→SH.
pub async fn convert_to_shared(
    exec: &impl IoExecutor,
    lockspace: &Lockspace,
    disks: &[Arc<Device>],
    held: HeldResource,
) -> Result<HeldResource, DaemonError> {
    drive_in(
        &mut PaxosConvertToShared::new(held),
        exec,
        disks,
        Some(lockspace),
    )
    .await
    .map_err(DaemonError::Paxos)
}

/// SH→EX: a ballot that keeps our SHARED block until it wins.
pub async fn convert_to_exclusive(
    exec: &impl IoExecutor,
    lease: &crate::clients::ClientLease,
) -> Result<HeldResource, AcquireFailed> {
    let request = AcquireRequest {
        convert_from_shared: true,
        ..AcquireRequest::exclusive()
    };
    let config = lease.held.config.clone();
    run_acquire(exec, config, request, &lease.lockspace, &lease.disks).await
}

/// Sector of the lock value block in a lease area (sanlock's fixed sector 2002, spec §1.3).
pub const LVB_SECTOR: u64 = 2002;

/// Offset of the LVB relative to the lease start, if it lies inside the lease area. sanlock
/// puts it at sector 2002 whatever the geometry, which for 4K sectors with 1, 2 or 4 MiB areas
/// is inside the *next* lease (spec gotcha 16): refused here rather than corrupting it.
pub fn lvb_relative_offset(geometry: lease_core::geometry::Geometry) -> Result<u64, DaemonError> {
    let offset = LVB_SECTOR * geometry.sector_bytes();
    if offset + geometry.sector_bytes() > geometry.area_bytes() {
        return Err(DaemonError::Invalid(format!(
            "the lock value block (sector {LVB_SECTOR}) does not fit in a {} byte lease area",
            geometry.area_bytes()
        )));
    }
    Ok(offset)
}

/// Read the LVB sector of a held lease (first disk that answers).
pub async fn read_lvb(
    exec: &impl IoExecutor,
    config: &PaxosConfig,
    disks: &[Arc<Device>],
) -> Result<Vec<u8>, DaemonError> {
    let relative = lvb_relative_offset(config.geometry)?;
    let ss = config.geometry.sector_bytes();
    let ios = config
        .lease_offsets
        .iter()
        .enumerate()
        .map(|(disk, base)| lease_core::seam::Io::Read {
            disk,
            offset: base + relative,
            len: ss,
        })
        .collect();
    let out = exec.submit(disks, ios, config.timeouts.io_timeout()).await;
    out.into_iter()
        .find_map(|o| match o {
            lease_core::seam::IoOutcome::Read(bytes) => Some(Vec::from(bytes)),
            _ => None,
        })
        .ok_or_else(|| DaemonError::Io("cannot read the lock value block".into()))
}

/// Write the LVB sector of a held lease on every disk (a majority must succeed).
pub async fn write_lvb(
    exec: &impl IoExecutor,
    config: &PaxosConfig,
    disks: &[Arc<Device>],
    lvb: &[u8],
) -> Result<(), DaemonError> {
    let relative = lvb_relative_offset(config.geometry)?;
    let mut sector = vec![0u8; config.geometry.sector_size().bytes_usize()];
    let len = lvb.len().min(sector.len());
    sector[..len].copy_from_slice(&lvb[..len]);
    let ios: Vec<_> = config
        .lease_offsets
        .iter()
        .enumerate()
        .map(|(disk, base)| lease_core::seam::Io::Write {
            disk,
            offset: base + relative,
            data: sector.clone(),
        })
        .collect();
    let n = ios.len();
    let out = exec.submit(disks, ios, config.timeouts.io_timeout()).await;
    let ok = out
        .iter()
        .filter(|o| matches!(o, lease_core::seam::IoOutcome::Written))
        .count();
    if ok < n / 2 + 1 {
        return Err(DaemonError::Io("cannot write the lock value block".into()));
    }
    Ok(())
}
