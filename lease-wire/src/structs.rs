//! The public libsanlock structs as they travel on the socket: [`Disk`], [`Lockspace`],
//! [`Resource`] (+ [`ResourceWithDisks`]), [`Host`], [`HostEvent`], [`Options`],
//! [`Rindex`], [`Rentry`].
//!
//! Layouts are the x86_64 C layouts of `sanlock.h` (sizes in [`crate::consts`]), every field
//! little-endian. Padding and "unused" fields are kept as fields because the daemon sends
//! uninitialised bytes in them (observed: the 4 padding bytes of `sanlk_lockspace` in
//! `GET_LOCKSPACES` replies; `sanlk_disk.pad1/pad2` carry the sector size and fd in `STATUS`
//! records), so decode followed by encode reproduces the input exactly.
//!
//! Each fixed-size struct implements [`WireStruct`]: `decode` reads the first `LEN` bytes of
//! its input (shorter input is [`WireError::Truncated`]) and never validates semantics; the
//! request decoder applies sanlock's checks (`num_disks`, path NUL) where sanlock does.

use crate::codec::{put_u32, put_u64, Reader};
use crate::consts::{
    DISK_LEN, HOST_EVENT_LEN, HOST_LEN, LOCKSPACE_LEN, MAX_DISKS, OPTIONS_LEN, RENTRY_LEN,
    RESOURCE_LEN, RINDEX_LEN,
};
use crate::error::WireError;
use crate::fixed::{Name, Path};

/// A fixed-size struct with a byte-exact encoding.
pub trait WireStruct: Sized {
    /// Encoded size in bytes.
    const LEN: usize;
    /// Appends exactly `LEN` bytes.
    fn encode(&self, out: &mut Vec<u8>);
    /// Reads the struct from the first `LEN` bytes of `bytes`.
    fn decode(bytes: &[u8]) -> Result<Self, WireError>;
    /// The encoding as a new vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(Self::LEN);
        self.encode(&mut v);
        v
    }
}

/// `struct sanlk_disk` (1040 bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Disk {
    /// Device or file path; must be NUL-terminated where the daemon opens it.
    pub path: Path,
    /// Byte offset of the lease area.
    pub offset: u64,
    /// Padding; the daemon's `STATUS` records put the sector size here.
    pub pad1: u32,
    /// Padding; the daemon's `STATUS` records put the fd here.
    pub pad2: u32,
}

impl Disk {
    /// A disk with zero padding.
    pub fn new(path: Path, offset: u64) -> Self {
        Disk {
            path,
            offset,
            pad1: 0,
            pad2: 0,
        }
    }
}

impl WireStruct for Disk {
    const LEN: usize = DISK_LEN;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.path.raw());
        put_u64(out, self.offset);
        put_u32(out, self.pad1);
        put_u32(out, self.pad2);
    }
    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        Self::read(&mut Reader::new(bytes, 0))
    }
}

impl Disk {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        r.need(<Self as WireStruct>::LEN)?;
        Ok(Disk {
            path: Path::from_raw(r.array()?),
            offset: r.u64()?,
            pad1: r.u32()?,
            pad2: r.u32()?,
        })
    }
}

/// `struct sanlk_lockspace` (1104 bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Lockspace {
    /// Lockspace name (NUL not required).
    pub name: Name,
    /// Our host_id (0 in name-only requests; `GET_HOSTS` uses it to select one host).
    pub host_id: u64,
    /// `SANLK_LSF_*`.
    pub flags: u32,
    /// The C padding after `flags` (uninitialised in some daemon replies).
    pub pad: u32,
    /// Where the delta leases are.
    pub host_id_disk: Disk,
}

impl WireStruct for Lockspace {
    const LEN: usize = LOCKSPACE_LEN;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.name.raw());
        put_u64(out, self.host_id);
        put_u32(out, self.flags);
        put_u32(out, self.pad);
        self.host_id_disk.encode(out);
    }
    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        Self::read(&mut Reader::new(bytes, 0))
    }
}

impl Lockspace {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        r.need(<Self as WireStruct>::LEN)?;
        Ok(Lockspace {
            name: Name::from_raw(r.array()?),
            host_id: r.u64()?,
            flags: r.u32()?,
            pad: r.u32()?,
            host_id_disk: Disk::read(r)?,
        })
    }
}

/// `struct sanlk_resource` without its trailing disks (128 bytes).
///
/// `num_disks` is kept raw: several requests (`RELEASE`, `CONVERT`, `GET_LVB`, `SET_LVB`,
/// `EXAMINE_RESOURCE`) and the `READ_RESOURCE`/`READ_RESOURCE_OWNERS` replies send only these
/// 128 bytes while `num_disks` still says 1 (observed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Resource {
    /// Lockspace name (NUL not required).
    pub lockspace_name: Name,
    /// Resource name (NUL not required).
    pub name: Name,
    /// Lease version (with `SANLK_RES_LVER`).
    pub lver: u64,
    /// Command-specific.
    pub data64: u64,
    /// Command-specific (new num_hosts with `SANLK_RES_NUM_HOSTS`).
    pub data32: u32,
    /// Unused.
    pub unused: u32,
    /// `SANLK_RES_*`.
    pub flags: u32,
    /// Number of `sanlk_disk` that follow (when they do).
    pub num_disks: u32,
}

impl WireStruct for Resource {
    const LEN: usize = RESOURCE_LEN;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.lockspace_name.raw());
        out.extend_from_slice(self.name.raw());
        put_u64(out, self.lver);
        put_u64(out, self.data64);
        put_u32(out, self.data32);
        put_u32(out, self.unused);
        put_u32(out, self.flags);
        put_u32(out, self.num_disks);
    }
    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        Self::read(&mut Reader::new(bytes, 0))
    }
}

impl Resource {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        r.need(<Self as WireStruct>::LEN)?;
        Ok(Resource {
            lockspace_name: Name::from_raw(r.array()?),
            name: Name::from_raw(r.array()?),
            lver: r.u64()?,
            data64: r.u64()?,
            data32: r.u32()?,
            unused: r.u32()?,
            flags: r.u32()?,
            num_disks: r.u32()?,
        })
    }
}

/// A `sanlk_resource` followed by its `num_disks` disks (128 + num_disks * 1040 bytes).
///
/// Decoding applies sanlock's checks: `num_disks` in `1..=MAX_DISKS` (else
/// [`WireError::BadNumDisks`], `-ERANGE`) and every path NUL-terminated (else
/// [`WireError::PathNotTerminated`], `-ENAMETOOLONG`). Decoded values always have
/// `disks.len() == res.num_disks`; [`ResourceWithDisks::encode`] writes `res.num_disks` as
/// stored and the disks as given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResourceWithDisks {
    /// The fixed part.
    pub res: Resource,
    /// The disks.
    pub disks: Vec<Disk>,
}

impl ResourceWithDisks {
    /// A resource whose `num_disks` matches `disks`.
    pub fn new(mut res: Resource, disks: Vec<Disk>) -> Self {
        res.num_disks = u32::try_from(disks.len()).unwrap_or(u32::MAX);
        ResourceWithDisks { res, disks }
    }

    /// Encoded size.
    pub fn encoded_len(&self) -> usize {
        RESOURCE_LEN + self.disks.len() * DISK_LEN
    }

    /// Appends the encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.res.encode(out);
        for d in &self.disks {
            d.encode(out);
        }
    }

    /// The encoding as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.encode(&mut v);
        v
    }

    /// Decodes from the start of `bytes` with sanlock's checks; returns the value and the
    /// bytes consumed.
    pub fn decode(bytes: &[u8]) -> Result<(Self, usize), WireError> {
        let mut r = Reader::new(bytes, 0);
        let v = Self::read(&mut r, true)?;
        Ok((v, r.pos()))
    }

    /// Reads one resource and its disks. `check_paths`: reject disk paths without a NUL.
    pub(crate) fn read(r: &mut Reader<'_>, check_paths: bool) -> Result<Self, WireError> {
        let res = Resource::read(r)?;
        if res.num_disks == 0 || res.num_disks > MAX_DISKS {
            return Err(WireError::BadNumDisks {
                num_disks: res.num_disks,
            });
        }
        r.need(res.num_disks as usize * DISK_LEN)?;
        let mut disks = Vec::with_capacity(res.num_disks as usize);
        for _ in 0..res.num_disks {
            let d = Disk::read(r)?;
            if check_paths && !d.path.is_terminated() {
                return Err(WireError::PathNotTerminated);
            }
            disks.push(d);
        }
        Ok(ResourceWithDisks { res, disks })
    }
}

/// `struct sanlk_host` (32 bytes): `GET_HOSTS` and `READ_RESOURCE_OWNERS` entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Host {
    /// host_id.
    pub host_id: u64,
    /// Delta lease generation.
    pub generation: u64,
    /// Delta lease timestamp (the owner's monotonic seconds).
    pub timestamp: u64,
    /// The host's io_timeout.
    pub io_timeout: u32,
    /// `SANLK_HOST_*` in the low 4 bits (`GET_HOSTS`).
    pub flags: u32,
}

impl WireStruct for Host {
    const LEN: usize = HOST_LEN;
    fn encode(&self, out: &mut Vec<u8>) {
        put_u64(out, self.host_id);
        put_u64(out, self.generation);
        put_u64(out, self.timestamp);
        put_u32(out, self.io_timeout);
        put_u32(out, self.flags);
    }
    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        Self::read(&mut Reader::new(bytes, 0))
    }
}

impl Host {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        r.need(<Self as WireStruct>::LEN)?;
        Ok(Host {
            host_id: r.u64()?,
            generation: r.u64()?,
            timestamp: r.u64()?,
            io_timeout: r.u32()?,
            flags: r.u32()?,
        })
    }
}

/// `struct sanlk_host_event` (32 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HostEvent {
    /// Target host_id (`SET_EVENT`) or our host_id (event message).
    pub host_id: u64,
    /// Target generation.
    pub generation: u64,
    /// Event value (application defined).
    pub event: u64,
    /// Event data (application defined).
    pub data: u64,
}

impl WireStruct for HostEvent {
    const LEN: usize = HOST_EVENT_LEN;
    fn encode(&self, out: &mut Vec<u8>) {
        put_u64(out, self.host_id);
        put_u64(out, self.generation);
        put_u64(out, self.event);
        put_u64(out, self.data);
    }
    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        Self::read(&mut Reader::new(bytes, 0))
    }
}

impl HostEvent {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        r.need(<Self as WireStruct>::LEN)?;
        Ok(HostEvent {
            host_id: r.u64()?,
            generation: r.u64()?,
            event: r.u64()?,
            data: r.u64()?,
        })
    }
}

/// `struct sanlk_options` without its `str[len]` (56 bytes). Always sent after the
/// resources of an `ACQUIRE` (zeroed when the caller passes none). The 3.8.5 daemon never
/// reads the `len` bytes of `str` (observed: they are parsed as the next header), so they are
/// not part of the message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Options {
    /// Optional owner name shown in status.
    pub owner_name: Name,
    /// Unused by 3.8.5.
    pub flags: u32,
    /// Length of the (never read) trailing string.
    pub len: u32,
}

impl WireStruct for Options {
    const LEN: usize = OPTIONS_LEN;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.owner_name.raw());
        put_u32(out, self.flags);
        put_u32(out, self.len);
    }
    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        Self::read(&mut Reader::new(bytes, 0))
    }
}

impl Options {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        r.need(<Self as WireStruct>::LEN)?;
        Ok(Options {
            owner_name: Name::from_raw(r.array()?),
            flags: r.u32()?,
            len: r.u32()?,
        })
    }
}

/// `struct sanlk_rindex` (1104 bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rindex {
    /// `SANLK_RIF_*`.
    pub flags: u32,
    /// Max resources that may follow (unused on the wire so far).
    pub max_resources: u32,
    /// Unused.
    pub unused: u64,
    /// Lockspace of the indexed resources.
    pub lockspace_name: Name,
    /// Location of the rindex.
    pub disk: Disk,
}

impl WireStruct for Rindex {
    const LEN: usize = RINDEX_LEN;
    fn encode(&self, out: &mut Vec<u8>) {
        put_u32(out, self.flags);
        put_u32(out, self.max_resources);
        put_u64(out, self.unused);
        out.extend_from_slice(self.lockspace_name.raw());
        self.disk.encode(out);
    }
    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        Self::read(&mut Reader::new(bytes, 0))
    }
}

impl Rindex {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        r.need(<Self as WireStruct>::LEN)?;
        Ok(Rindex {
            flags: r.u32()?,
            max_resources: r.u32()?,
            unused: r.u64()?,
            lockspace_name: Name::from_raw(r.array()?),
            disk: Disk::read(r)?,
        })
    }
}

/// `struct sanlk_rentry` (64 bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rentry {
    /// Resource name.
    pub name: Name,
    /// Offset of the resource lease.
    pub offset: u64,
    /// Flags.
    pub flags: u32,
    /// Unused.
    pub unused: u32,
}

impl WireStruct for Rentry {
    const LEN: usize = RENTRY_LEN;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.name.raw());
        put_u64(out, self.offset);
        put_u32(out, self.flags);
        put_u32(out, self.unused);
    }
    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        Self::read(&mut Reader::new(bytes, 0))
    }
}

impl Rentry {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        r.need(<Self as WireStruct>::LEN)?;
        Ok(Rentry {
            name: Name::from_raw(r.array()?),
            offset: r.u64()?,
            flags: r.u32()?,
            unused: r.u32()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_c_layouts() {
        assert_eq!(Disk::default().to_bytes().len(), 1040);
        assert_eq!(Lockspace::default().to_bytes().len(), 1104);
        assert_eq!(Resource::default().to_bytes().len(), 128);
        assert_eq!(Host::default().to_bytes().len(), 32);
        assert_eq!(HostEvent::default().to_bytes().len(), 32);
        assert_eq!(Options::default().to_bytes().len(), 56);
        assert_eq!(Rindex::default().to_bytes().len(), 1104);
        assert_eq!(Rentry::default().to_bytes().len(), 64);
    }

    #[test]
    fn field_offsets() {
        let ls = Lockspace {
            name: Name::new(b"LS").unwrap(),
            host_id: 0x0102,
            flags: 0x0304,
            pad: 0x0506,
            host_id_disk: Disk {
                path: Path::new(b"/p").unwrap(),
                offset: 0x0708,
                pad1: 9,
                pad2: 10,
            },
        };
        let b = ls.to_bytes();
        assert_eq!(&b[0..2], b"LS");
        assert_eq!(b[48], 0x02);
        assert_eq!(b[56], 0x04);
        assert_eq!(b[60], 0x06);
        assert_eq!(&b[64..66], b"/p");
        assert_eq!(b[64 + 1024], 0x08);
        assert_eq!(b[64 + 1032], 9);
        assert_eq!(b[64 + 1036], 10);
        assert_eq!(Lockspace::decode(&b).unwrap(), ls);
    }

    #[test]
    fn resource_checks() {
        let mut rd = ResourceWithDisks::new(
            Resource::default(),
            vec![Disk::new(Path::new(b"/d").unwrap(), 1 << 20)],
        );
        let b = rd.to_bytes();
        assert_eq!(ResourceWithDisks::decode(&b).unwrap(), (rd.clone(), 1168));
        rd.res.num_disks = 5;
        assert_eq!(
            ResourceWithDisks::decode(&rd.to_bytes()),
            Err(WireError::BadNumDisks { num_disks: 5 })
        );
        rd.res.num_disks = 1;
        rd.disks[0].path = Path::from_raw([b'x'; 1024]);
        assert_eq!(
            ResourceWithDisks::decode(&rd.to_bytes()),
            Err(WireError::PathNotTerminated)
        );
        assert_eq!(
            ResourceWithDisks::decode(&b[..200]),
            Err(WireError::Truncated {
                needed: 1168,
                got: 200
            })
        );
    }
}
