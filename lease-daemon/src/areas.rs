//! Reading and writing whole lease areas for clients (`write_lockspace`, `read_lockspace`,
//! `write_resource`, `read_resource`, `read_resource_owners`): what vdsm and libvirt use to
//! create and inspect leases through the daemon instead of `direct`.
//!
//! Areas are built by `lease_core::ondisk` exactly as `sanlock direct init` writes them.
//! **Invariant:** every input is validated (geometry, names, alignment) before the first write.

use std::sync::Arc;
use std::time::Duration;

use lease_core::geometry::{AlignSize, Geometry, SectorSize};
use lease_core::ondisk::{
    lockspace_init_area, paxos_init_area, HostSector, LeaderError, LeaderRecord, Name,
    DELTA_LEASE_MAGIC, PAXOS_DISK_CLEAR_MAGIC, PAXOS_LEASE_MAGIC,
};
use lease_core::seam::{Bytes, Io, IoOutcome};
use lease_io::Device;

use crate::exec::{now, IoExecutor};
use crate::DaemonError;

/// sanlock's SANLK_LSF/RES/RIF align and sector flags (they share values).
const FLAG_ALIGN_1M: u32 = 0x10;
const FLAG_ALIGN_2M: u32 = 0x20;
const FLAG_ALIGN_4M: u32 = 0x40;
const FLAG_ALIGN_8M: u32 = 0x80;
const FLAG_SECTOR_512: u32 = 0x100;
const FLAG_SECTOR_4K: u32 = 0x200;

/// Deadline of area initialisation writes (sanlock's write_init_io_timeout).
pub const WRITE_INIT_TIMEOUT: Duration = Duration::from_secs(60);

/// The geometry named by API flags; missing parts default like `direct init` (device sector
/// size, legacy align).
pub fn geometry_from_flags(flags: u32, device: &Device) -> Result<Geometry, DaemonError> {
    let sector = match flags & (FLAG_SECTOR_512 | FLAG_SECTOR_4K) {
        0 => SectorSize::from_bytes(device.logical_sector_size()).ok_or(DaemonError::Sizes)?,
        FLAG_SECTOR_512 => SectorSize::B512,
        FLAG_SECTOR_4K => SectorSize::B4096,
        _ => return Err(DaemonError::Sizes),
    };
    let align = match flags & (FLAG_ALIGN_1M | FLAG_ALIGN_2M | FLAG_ALIGN_4M | FLAG_ALIGN_8M) {
        0 => return Ok(Geometry::legacy_default(sector)),
        FLAG_ALIGN_1M => AlignSize::M1,
        FLAG_ALIGN_2M => AlignSize::M2,
        FLAG_ALIGN_4M => AlignSize::M4,
        FLAG_ALIGN_8M => AlignSize::M8,
        _ => return Err(DaemonError::Sizes),
    };
    Geometry::new(sector, align).map_err(|_| DaemonError::Sizes)
}

/// The API flags describing `geometry`.
pub fn flags_of(geometry: Geometry) -> u32 {
    let sector = if geometry.sector_bytes() == 512 {
        FLAG_SECTOR_512
    } else {
        FLAG_SECTOR_4K
    };
    sector | geometry.leader_align_flag()
}

async fn write(
    exec: &impl IoExecutor,
    device: &Arc<Device>,
    offset: u64,
    data: Vec<u8>,
) -> Result<(), DaemonError> {
    let out = exec
        .submit(
            std::slice::from_ref(device),
            vec![Io::Write {
                disk: 0,
                offset,
                data,
            }],
            WRITE_INIT_TIMEOUT,
        )
        .await;
    match out.into_iter().next() {
        Some(IoOutcome::Written) => Ok(()),
        other => Err(DaemonError::Io(format!("write at {offset}: {other:?}"))),
    }
}

async fn read(
    exec: &impl IoExecutor,
    device: &Arc<Device>,
    offset: u64,
    len: u64,
    timeout: Duration,
) -> Result<Bytes, DaemonError> {
    let out = exec
        .submit(
            std::slice::from_ref(device),
            vec![Io::Read {
                disk: 0,
                offset,
                len,
            }],
            timeout,
        )
        .await;
    match out.into_iter().next() {
        Some(IoOutcome::Read(bytes)) => Ok(bytes),
        other => Err(DaemonError::Io(format!("read at {offset}: {other:?}"))),
    }
}

fn check_aligned(geometry: Geometry, offset: u64) -> Result<(), DaemonError> {
    geometry
        .check_offset_aligned(offset)
        .map_err(|e| DaemonError::Invalid(e.to_string()))
}

/// `write_lockspace`: initialise a lockspace area.
pub async fn write_lockspace(
    exec: &impl IoExecutor,
    device: &Arc<Device>,
    offset: u64,
    name: &Name,
    io_timeout: u16,
    flags: u32,
) -> Result<(), DaemonError> {
    if name.is_empty() {
        return Err(DaemonError::Invalid("empty lockspace name".into()));
    }
    let geometry = geometry_from_flags(flags, device)?;
    check_aligned(geometry, offset)?;
    let io_timeout = if io_timeout == 0 { 10 } else { io_timeout };
    write(
        exec,
        device,
        offset,
        lockspace_init_area(geometry, name, io_timeout),
    )
    .await
}

/// `read_lockspace`: the name, geometry flags and io_timeout of the lockspace at `offset`
/// (from host 1's record, as sanlock does).
pub async fn read_lockspace(
    exec: &impl IoExecutor,
    device: &Arc<Device>,
    offset: u64,
) -> Result<(Name, u32, u16), DaemonError> {
    let bytes = read(exec, device, offset, 4096, Duration::from_secs(10)).await?;
    let leader = LeaderRecord::decode(&bytes).map_err(|e| DaemonError::Io(e.to_string()))?;
    if leader.magic != DELTA_LEASE_MAGIC {
        return Err(DaemonError::Leader(LeaderError::Magic {
            found: leader.magic,
            expected: DELTA_LEASE_MAGIC,
        }));
    }
    leader
        .verify_delta(&leader.space_name)
        .map_err(DaemonError::Leader)?;
    let geometry = leader.geometry().map_err(|_| DaemonError::Sizes)?;
    Ok((leader.space_name, flags_of(geometry), leader.io_timeout))
}

/// `write_resource`: initialise (or with `clear`, clear) a resource lease on each disk.
pub async fn write_resource(
    exec: &impl IoExecutor,
    disks: &[(Arc<Device>, u64)],
    space: &Name,
    resource: &Name,
    num_hosts: u64,
    flags: u32,
    clear: bool,
) -> Result<(), DaemonError> {
    let (first, _) = disks
        .first()
        .ok_or(DaemonError::Invalid("no disk".into()))?;
    if space.is_empty() || resource.is_empty() {
        return Err(DaemonError::Invalid(
            "empty lockspace or resource name".into(),
        ));
    }
    let geometry = geometry_from_flags(flags, first)?;
    for (_, offset) in disks {
        check_aligned(geometry, *offset)?;
    }
    let cleared = clear.then(|| now().as_secs().max(1));
    let area = paxos_init_area(geometry, space, resource, num_hosts, cleared);
    for (device, offset) in disks {
        write(exec, device, *offset, area.clone()).await?;
    }
    Ok(())
}

/// The leader (verified for magic, version and checksum) and the area of a resource lease.
async fn read_resource_area(
    exec: &impl IoExecutor,
    device: &Arc<Device>,
    offset: u64,
    flags: u32,
) -> Result<(LeaderRecord, Bytes), DaemonError> {
    let first = read(exec, device, offset, 4096, Duration::from_secs(10)).await?;
    let leader = LeaderRecord::decode(&first).map_err(|e| DaemonError::Io(e.to_string()))?;
    if leader.magic == PAXOS_DISK_CLEAR_MAGIC || leader.magic != PAXOS_LEASE_MAGIC {
        return Err(DaemonError::Leader(LeaderError::Magic {
            found: leader.magic,
            expected: PAXOS_LEASE_MAGIC,
        }));
    }
    leader
        .verify_paxos(&leader.space_name, &leader.resource_name, 1)
        .map_err(DaemonError::Leader)?;
    let geometry = leader
        .geometry()
        .or_else(|_| geometry_from_flags(flags, device))?;
    let area = read(
        exec,
        device,
        offset,
        geometry.area_bytes(),
        Duration::from_secs(10),
    )
    .await?;
    Ok((leader, area))
}

/// `read_resource`: the leader of the resource lease at `offset`, and its geometry flags.
pub async fn read_resource(
    exec: &impl IoExecutor,
    device: &Arc<Device>,
    offset: u64,
    flags: u32,
) -> Result<(LeaderRecord, u32), DaemonError> {
    let (leader, _) = read_resource_area(exec, device, offset, flags).await?;
    let geometry = leader.geometry().map_err(|_| DaemonError::Sizes)?;
    Ok((leader, flags_of(geometry)))
}

/// One owner of a resource lease: (host_id, generation, timestamp).
pub type Owner = (u64, u64, u64);

/// `read_resource_owners`: the exclusive owner if the lease is held, then every host whose
/// mode block says SHARED.
pub async fn read_resource_owners(
    exec: &impl IoExecutor,
    device: &Arc<Device>,
    offset: u64,
    flags: u32,
) -> Result<(LeaderRecord, u32, Vec<Owner>), DaemonError> {
    let (leader, area) = read_resource_area(exec, device, offset, flags).await?;
    let geometry = leader.geometry().map_err(|_| DaemonError::Sizes)?;
    let mut owners = Vec::new();
    if leader.timestamp != 0 {
        owners.push((leader.owner_id, leader.owner_generation, leader.timestamp));
    }
    let sector = geometry.sector_size().bytes_usize();
    for host_id in 1..=leader.num_hosts {
        let start = (1 + host_id as usize) * sector;
        let Some(bytes) = area.get(start..start + sector) else {
            break;
        };
        if let Ok(host) = HostSector::decode(bytes) {
            if host.mode_block.is_shared() && !owners.iter().any(|o| o.0 == host_id) {
                owners.push((host_id, host.mode_block.generation, 0));
            }
        }
    }
    Ok((leader, flags_of(geometry), owners))
}
