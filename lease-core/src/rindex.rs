//! The resource index ("rindex", format spec §1.4, §2.5, §6): resources named instead of
//! located by offset.
//!
//! ```text
//! rx_offset                      rindex area: header sector, then 64-byte entries
//! rx_offset + align              "rindex_lease": the paxos lease that serialises create,
//!                                delete and rebuild between hosts (taken by the daemon)
//! rx_offset + (2 + N) * align    the resource lease of entry N ("slot" N)
//! ```
//!
//! Everything here is pure. [`RindexImage`] is a verified copy of a rindex area with the
//! lookups of §6 as functions; [`RindexOp`] is the sans-I/O [`Operation`] that runs one
//! action (format, lookup, update, create, delete, rebuild) on a rindex: it reads the header
//! sector, then the whole area, decides, and asks for the writes. `direct` drives it with
//! `seam::run_blocking`; the daemon drives it between acquiring and releasing the rindex
//! lease (create, delete, rebuild), which is the daemon's business, not this module's.
//!
//! sanlock 3.8.5's behaviour, observed, is kept for well-formed requests:
//! * every read verifies the header: magic (-274), major version (-275), lockspace name
//!   (-276), `rx_offset` equal to where it was read (-277); sizes come from the header;
//! * a read past the end of the device is a short read, -EMSGSIZE (-90);
//! * an entry is written by rewriting only the sector that contains it (from the area image);
//! * lookup: nothing given → the first free slot's lease offset; an offset → the name recorded
//!   in its slot (possibly none); a name → its entry (-ENOENT); both → -278 when the slot's
//!   name differs;
//! * update adds `name:offset` in the offset's slot (overwriting it: it is the repair tool) or
//!   removes the slot's entry;
//! * create: the first free slot gets a fresh paxos lease, then the entry (-ENOENT when full);
//! * delete: the entry is zeroed, then a CLEAR lease is written over the resource's area;
//! * rebuild: every entry is rebuilt from the slots whose leader magic is a paxos lease's
//!   (nothing else is checked, as in sanlock), probing until `max_resources` or the end of
//!   the device, then the whole area is written back.
//!
//! Where sanlock 3.8.5 misbehaves on bad input, this module refuses, writes nothing, and
//! returns sanlock's number for the kind of error:
//! * an offset that is not a slot of this rindex is -277: sanlock accepts offsets below the
//!   first slot (`-e x:1M` on a rindex at 1M writes an entry *into the header sector*),
//!   beyond `max_resources`, and, for a rindex not at an align multiple, rounds offsets down
//!   to a neighbouring slot;
//! * an empty name where a name is needed (create, delete, update add) is -EINVAL: sanlock
//!   creates an entry with an empty name that nothing can find;
//! * create of a name that is already indexed is -EEXIST: sanlock makes a second entry that
//!   a lookup by name never finds;
//! * delete `NAME:OFFSET` and update remove `NAME:OFFSET` check that the slot at that offset
//!   holds that name (-278, as lookup); sanlock ignores the offset (delete) or the name
//!   (remove) and acts on whatever matches the other half;
//! * an entry whose recorded offset is not a slot of this rindex is never cleared (-277).
//!
//! And one sanlock bug not reproduced: its lookup by name reports the entry's offset cut to
//! 32 bits (an entry recorded at 4098 MiB is printed as 2097152); the offset recorded is
//! returned here.
//!
//! **Invariants**
//! * Nothing is written before every check of the request has passed.
//! * Writes are whole sectors of the rindex area or whole lease areas; an entry write never
//!   touches the header sector; a lease area is only written at a slot offset of this rindex.
//! * Every search is bounded by `min(header.max_resources, geometry.rindex_entries_max())`.

use std::time::Duration;

use thiserror::Error;

use crate::geometry::{Geometry, GeometryError};
use crate::names::{check_name, parse_offset, Field, NamesError};
use crate::ondisk::{
    paxos_init_area, rindex_format_area, LeaderRecord, Name, RindexEntry, RindexError,
    RindexHeader, PAXOS_LEASE_MAGIC, RINDEX_LEASE_NAME,
};
use crate::seam::{Io, IoFailure, IoOutcome, Operation, Resume, Step};
use crate::time::MonoTime;

/// `-ENOENT`.
pub const ENOENT: i32 = -2;
/// `-EEXIST`.
pub const EEXIST: i32 = -17;
/// `-EINVAL`.
pub const EINVAL: i32 = -22;
/// `-EMSGSIZE`: what sanlock reports for a read past the end of the device.
pub const EMSGSIZE: i32 = -90;
/// `SANLK_AIO_TIMEOUT`.
pub const SANLK_AIO_TIMEOUT: i32 = -202;

/// Slots probed per I/O batch by rebuild.
pub const PROBE_BATCH: usize = 64;
/// Largest first read of a rindex (the header sector of a 4K device).
pub const HEADER_READ_MAX: u64 = 4096;

/// Why a rindex action failed; [`RindexOpError::sanlock_errno`] is the number sanlock
/// prints or puts on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RindexOpError {
    /// Header validation failed, or an offset is not a slot (-277), or names differ (-278).
    #[error("{0}")]
    Rindex(RindexError),
    /// No entry of that name, or no free slot (-ENOENT).
    #[error("{0}")]
    NotFound(String),
    /// The name is already indexed (-EEXIST).
    #[error("resource {name} is already in the index at offset {offset}")]
    Exists {
        /// The name.
        name: String,
        /// Where its lease is.
        offset: u64,
    },
    /// A request sanlock's grammar cannot express sensibly (-EINVAL).
    #[error("{0}")]
    Invalid(String),
    /// The header names an impossible geometry (-EINVAL).
    #[error("rindex header: {0}")]
    Geometry(GeometryError),
    /// A read would go past the end of the device (-EMSGSIZE, as sanlock's short read).
    #[error("{len} bytes at offset {offset} go past the end of the device ({device_size} bytes)")]
    ShortRead {
        /// Offset of the read.
        offset: u64,
        /// Its length.
        len: u64,
        /// The device size.
        device_size: u64,
    },
    /// An I/O failed (negative errno) or timed out (-202).
    #[error("{what} at offset {offset} failed ({errno})")]
    Io {
        /// "read" or "write".
        what: &'static str,
        /// Where.
        offset: u64,
        /// The negative errno, or `SANLK_AIO_TIMEOUT`.
        errno: i32,
    },
}

impl RindexOpError {
    /// The sanlock return code.
    #[must_use]
    pub fn sanlock_errno(&self) -> i32 {
        match self {
            RindexOpError::Rindex(e) => e.sanlock_errno(),
            RindexOpError::NotFound(_) => ENOENT,
            RindexOpError::Exists { .. } => EEXIST,
            RindexOpError::Invalid(_) | RindexOpError::Geometry(_) => EINVAL,
            RindexOpError::ShortRead { .. } => EMSGSIZE,
            RindexOpError::Io { errno, .. } => *errno,
        }
    }

    fn not_slot(offset: u64, expected: u64) -> RindexOpError {
        RindexOpError::Rindex(RindexError::Offset {
            found: offset,
            expected,
        })
    }
}

/// The `-e NAME[:OFFSET]` argument: either half may be absent (`-e :3M`, `-e name`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RentryArg {
    /// The resource name (absent when empty).
    pub name: Option<String>,
    /// The lease offset (absent when not given or 0, which sanlock reads as "none").
    pub offset: Option<u64>,
}

const RENTRY_SYNTAX: &str = "name[:offset]";

/// Parses `NAME[:OFFSET]`: names of at most 48 bytes (sanlock truncates longer ones; refused
/// here), `\:` for a colon in a name, offsets in bytes or with an `M` (MiB) suffix.
pub fn parse_rentry(text: &str) -> Result<RentryArg, NamesError> {
    let mut fields: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.push(chars.next().ok_or(NamesError::TrailingBackslash)?),
            ':' => fields.push(std::mem::take(&mut current)),
            other => current.push(other),
        }
    }
    fields.push(current);
    if fields.len() > 2 {
        return Err(NamesError::ExtraField {
            extra: fields.swap_remove(2),
            syntax: RENTRY_SYNTAX,
        });
    }
    let mut fields = fields.into_iter();
    let name = fields.next().unwrap_or_default();
    let name = if name.is_empty() {
        None
    } else {
        Some(check_name(Field::ResourceName, name)?)
    };
    let offset = match fields.next() {
        None => None,
        Some(text) => Some(parse_offset(&text)?).filter(|&offset| offset != 0),
    };
    Ok(RentryArg { name, offset })
}

/// Where the slots of a rindex are (from its verified header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RindexLayout {
    /// Offset of the rindex area (its header).
    pub rx_offset: u64,
    /// Sizes recorded in the header.
    pub geometry: Geometry,
    /// Entries searched: `min(header.max_resources, geometry.rindex_entries_max())`.
    pub max_resources: u64,
}

impl RindexLayout {
    /// Verifies `header` (read at `rx_offset`, for lockspace `space`) and derives the layout.
    pub fn from_header(
        header: &RindexHeader,
        space: &Name,
        rx_offset: u64,
    ) -> Result<RindexLayout, RindexOpError> {
        header
            .verify(space, rx_offset)
            .map_err(RindexOpError::Rindex)?;
        let geometry = header.geometry().map_err(RindexOpError::Geometry)?;
        let max_resources = u64::from(header.max_resources).min(geometry.rindex_entries_max());
        // The whole area must be addressable, and so must the last slot.
        rx_offset
            .checked_add((2 + max_resources) * geometry.area_bytes())
            .ok_or(RindexOpError::Geometry(GeometryError::OffsetOverflow))?;
        Ok(RindexLayout {
            rx_offset,
            geometry,
            max_resources,
        })
    }

    /// Offset of the `rindex_lease` paxos lease.
    #[must_use]
    pub fn lease_offset(&self) -> u64 {
        self.rx_offset + self.geometry.area_bytes()
    }

    /// Offset of slot `index`'s resource lease (`index < max_resources`).
    #[must_use]
    pub fn slot_offset(&self, index: u64) -> u64 {
        self.rx_offset + (2 + index) * self.geometry.area_bytes()
    }

    /// The slot whose lease is at `offset`: -277 unless `offset` is exactly a slot offset
    /// below `max_resources`.
    pub fn slot_index(&self, offset: u64) -> Result<u64, RindexOpError> {
        let align = self.geometry.area_bytes();
        let first = self.slot_offset(0);
        let Some(relative) = offset.checked_sub(first) else {
            return Err(RindexOpError::not_slot(offset, first));
        };
        if !relative.is_multiple_of(align) {
            let below = offset - relative % align;
            return Err(RindexOpError::not_slot(offset, below));
        }
        let index = relative / align;
        if index >= self.max_resources {
            return Err(RindexOpError::not_slot(
                offset,
                self.slot_offset(self.max_resources - 1),
            ));
        }
        Ok(index)
    }

    /// Byte offset of entry `index` inside the area.
    fn entry_relative(&self, index: u64) -> usize {
        let at = self.geometry.sector_bytes() + 64 * index;
        usize::try_from(at).expect("an entry lies inside an area of at most 8 MiB")
    }
}

/// A verified copy of a rindex area.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RindexImage {
    /// The header as read.
    pub header: RindexHeader,
    /// Where everything is.
    pub layout: RindexLayout,
    area: Vec<u8>,
}

impl RindexImage {
    /// Verifies the header at the start of `area` (read at `rx_offset`, for lockspace
    /// `space`); `area` must be the whole area (align size bytes).
    pub fn new(space: &Name, rx_offset: u64, area: Vec<u8>) -> Result<RindexImage, RindexOpError> {
        let header = RindexHeader::decode(&area)
            .map_err(|e| RindexOpError::Invalid(format!("rindex area: {e}")))?;
        let layout = RindexLayout::from_header(&header, space, rx_offset)?;
        if area.len() as u64 != layout.geometry.area_bytes() {
            return Err(RindexOpError::Invalid(format!(
                "rindex area image is {} bytes, the header says {}",
                area.len(),
                layout.geometry.area_bytes()
            )));
        }
        Ok(RindexImage {
            header,
            layout,
            area,
        })
    }

    /// The area bytes.
    #[must_use]
    pub fn area(&self) -> &[u8] {
        &self.area
    }

    /// Entry `index` (`index < max_resources`).
    #[must_use]
    pub fn entry(&self, index: u64) -> RindexEntry {
        let at = self.layout.entry_relative(index);
        RindexEntry::decode(&self.area[at..]).expect("entries lie inside the area")
    }

    /// Every searched entry with its index.
    pub fn entries(&self) -> impl Iterator<Item = (u64, RindexEntry)> + '_ {
        (0..self.layout.max_resources).map(|index| (index, self.entry(index)))
    }

    /// The entries in use (not free).
    #[must_use]
    pub fn used(&self) -> Vec<(u64, RindexEntry)> {
        self.entries().filter(|(_, e)| !e.is_free()).collect()
    }

    /// The first free slot (zero offset and empty name).
    #[must_use]
    pub fn first_free(&self) -> Option<u64> {
        self.entries()
            .find(|(_, entry)| entry.is_free())
            .map(|(index, _)| index)
    }

    /// The first entry named `name`.
    #[must_use]
    pub fn find(&self, name: &Name) -> Option<(u64, RindexEntry)> {
        self.entries()
            .find(|(_, entry)| !entry.name.is_empty() && entry.name.matches(name))
    }

    /// §6 lookup. Returns the entry (name, lease offset) found; see the module docs.
    pub fn lookup(
        &self,
        name: Option<&Name>,
        offset: Option<u64>,
    ) -> Result<RindexEntry, RindexOpError> {
        match (name, offset) {
            (None, None) => {
                let index = self
                    .first_free()
                    .ok_or_else(|| RindexOpError::NotFound("the rindex has no free slot".into()))?;
                Ok(RindexEntry::new(
                    Name::EMPTY,
                    self.layout.slot_offset(index),
                ))
            }
            (None, Some(offset)) => {
                let index = self.layout.slot_index(offset)?;
                Ok(RindexEntry::new(self.entry(index).name, offset))
            }
            (Some(name), None) => self
                .find(name)
                .map(|(_, entry)| RindexEntry::new(entry.name, entry.res_offset))
                .ok_or_else(|| not_indexed(name)),
            (Some(name), Some(offset)) => {
                let index = self.layout.slot_index(offset)?;
                let found = self.entry(index).name;
                if !found.matches(name) {
                    return Err(RindexOpError::Rindex(RindexError::Diff {
                        found,
                        expected: *name,
                    }));
                }
                Ok(RindexEntry::new(found, offset))
            }
        }
    }

    /// Replaces entry `index` in the image and returns the write of the sector holding it.
    pub fn set_entry(&mut self, index: u64, entry: &RindexEntry) -> Io {
        let at = self.layout.entry_relative(index);
        self.area[at..at + RindexEntry::ENCODED_LEN].copy_from_slice(&entry.encode());
        let sector = self.layout.geometry.sector_size().bytes_usize();
        let start = at - at % sector;
        Io::Write {
            disk: 0,
            offset: self.layout.rx_offset + start as u64,
            data: self.area[start..start + sector].to_vec(),
        }
    }

    /// Zeroes every entry sector (rebuild starts from an empty index).
    pub fn clear_entries(&mut self) {
        let sector = self.layout.geometry.sector_size().bytes_usize();
        self.area[sector..].fill(0);
    }

    /// Writes entry `index` into the image only (rebuild writes the whole area once).
    fn put_entry(&mut self, index: u64, entry: &RindexEntry) {
        let at = self.layout.entry_relative(index);
        self.area[at..at + RindexEntry::ENCODED_LEN].copy_from_slice(&entry.encode());
    }
}

fn not_indexed(name: &Name) -> RindexOpError {
    RindexOpError::NotFound(format!("no resource named {name} in the rindex"))
}

/// The two writes of `format`, in order: the rindex area (header, zero entries) at
/// `rx_offset`, then the `rindex_lease` paxos lease (num_hosts = max_hosts) at
/// `rx_offset + align`. `max_resources` 0 means 4096.
pub fn format_writes(
    geometry: Geometry,
    space: &Name,
    rx_offset: u64,
    max_resources: u32,
) -> Result<Vec<Io>, RindexOpError> {
    if space.is_empty() {
        return Err(RindexOpError::Invalid(
            "the rindex needs a lockspace name".into(),
        ));
    }
    geometry
        .check_offset_aligned(rx_offset)
        .map_err(|e| RindexOpError::Invalid(e.to_string()))?;
    let lease_offset = geometry
        .rindex_lease_offset(rx_offset)
        .map_err(RindexOpError::Geometry)?;
    if lease_offset.checked_add(geometry.area_bytes()).is_none() {
        return Err(RindexOpError::Geometry(GeometryError::OffsetOverflow));
    }
    Ok(vec![
        Io::Write {
            disk: 0,
            offset: rx_offset,
            data: rindex_format_area(geometry, space, rx_offset, max_resources),
        },
        Io::Write {
            disk: 0,
            offset: lease_offset,
            data: paxos_init_area(geometry, space, &RINDEX_LEASE_NAME, 0, None),
        },
    ])
}

/// What a [`RindexOp`] does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RindexAction {
    /// `format`: write a new rindex and its lease (`max_resources` 0 = 4096).
    Format {
        /// Sizes of the new rindex.
        geometry: Geometry,
        /// Entries searched by later actions.
        max_resources: u32,
    },
    /// Read and verify the header only (the daemon needs the sizes to take the rindex lease).
    Header,
    /// `lookup [-e NAME[:OFFSET]]`.
    Lookup {
        /// The name, if given.
        name: Option<Name>,
        /// The offset, if given.
        offset: Option<u64>,
    },
    /// `update -e NAME:OFFSET`: record `name` in the slot of `offset`.
    Add {
        /// The name.
        name: Name,
        /// The offset (a slot).
        offset: u64,
    },
    /// `update -e [NAME]:OFFSET -z 1`: free the slot of `offset` (whose name must be `name`
    /// if one is given).
    Remove {
        /// The name expected in the slot, if given.
        name: Option<Name>,
        /// The offset (a slot).
        offset: u64,
    },
    /// `create -e NAME`: a new lease in the first free slot, then its entry.
    Create {
        /// The new resource's name.
        name: Name,
        /// num_hosts of the new lease (0 = max_hosts).
        num_hosts: u64,
    },
    /// `delete -e NAME[:OFFSET]`: zero the entry, then clear the lease.
    Delete {
        /// The name.
        name: Name,
        /// Where its lease must be, if given.
        offset: Option<u64>,
    },
    /// `rebuild`: entries recomputed from the leases found in the slots.
    Rebuild,
}

impl RindexAction {
    /// The checks that need the rindex's sizes but not its entries: names where a name is
    /// needed (-EINVAL), offsets where an offset is needed (-EINVAL), offsets that are slots
    /// (-277). The daemon runs them before taking the rindex lease; [`RindexOp`] runs them
    /// right after verifying the header.
    pub fn check(&self, layout: &RindexLayout) -> Result<(), RindexOpError> {
        let unnamed = |what: &str| {
            Err(RindexOpError::Invalid(format!(
                "{what} needs a resource name (-e NAME)"
            )))
        };
        match self {
            RindexAction::Add { offset: 0, .. } | RindexAction::Remove { offset: 0, .. } => Err(
                RindexOpError::Invalid("update needs the lease offset (-e NAME:OFFSET)".into()),
            ),
            RindexAction::Add { name, .. } if name.is_empty() => unnamed("update"),
            RindexAction::Create { name, .. } if name.is_empty() => unnamed("create"),
            RindexAction::Delete { name, .. } if name.is_empty() => unnamed("delete"),
            RindexAction::Lookup {
                offset: Some(offset),
                ..
            }
            | RindexAction::Add { offset, .. }
            | RindexAction::Remove { offset, .. }
            | RindexAction::Delete {
                offset: Some(offset),
                ..
            } => layout.slot_index(*offset).map(|_| ()),
            _ => Ok(()),
        }
    }

    fn label(&self) -> &'static str {
        match self {
            RindexAction::Format { .. } => "rindex_format",
            RindexAction::Header => "rindex_header",
            RindexAction::Lookup { .. } => "rindex_lookup",
            RindexAction::Add { .. } | RindexAction::Remove { .. } => "rindex_update",
            RindexAction::Create { .. } => "rindex_create",
            RindexAction::Delete { .. } => "rindex_delete",
            RindexAction::Rebuild => "rindex_rebuild",
        }
    }
}

/// Where the rindex is, and what the driver knows of its device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RindexTarget {
    /// The lockspace name given with `-x` (checked against the header).
    pub space: Name,
    /// Offset of the rindex area (disk index 0 of the operation).
    pub rx_offset: u64,
    /// The device's logical sector size: the length of the first (header) read.
    pub device_sector_size: u32,
    /// The device size in bytes: reads past it are short reads (-EMSGSIZE); rebuild stops
    /// probing there.
    pub device_size: u64,
    /// Deadline of reads and entry writes.
    pub io_timeout: Duration,
    /// Deadline of whole-area writes (format, create, delete, rebuild).
    pub area_write_timeout: Duration,
}

/// What a finished [`RindexOp`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RindexOutput {
    /// The header read (format: the header written).
    pub header: RindexHeader,
    /// The sizes from the header.
    pub geometry: Geometry,
    /// Lookup: the entry found. Add: the entry written. Create: the new entry. Remove,
    /// delete, format, rebuild, header: the default (zero) entry.
    pub entry: RindexEntry,
    /// Rebuild: the entries written.
    pub entries: Vec<RindexEntry>,
}

#[derive(Clone, Debug)]
enum State {
    Start,
    HeaderRead,
    AreaRead,
    Probe {
        image: RindexImage,
        /// Slot indices of the reads in flight.
        batch: Vec<u64>,
        /// Next slot to probe.
        next: u64,
        found: Vec<RindexEntry>,
    },
    /// Ordered writes; the output once the last one has landed.
    Writes {
        pending: Vec<(Io, Duration)>,
        in_flight: u64,
        output: RindexOutput,
    },
    Done,
}

/// One rindex action as a sans-I/O operation on one disk (index 0: the rindex's device).
#[derive(Clone, Debug)]
pub struct RindexOp {
    target: RindexTarget,
    action: RindexAction,
    state: State,
}

type OpOutput = Result<RindexOutput, RindexOpError>;

impl RindexOp {
    /// An operation running `action` on the rindex at `target`.
    #[must_use]
    pub fn new(target: RindexTarget, action: RindexAction) -> RindexOp {
        RindexOp {
            target,
            action,
            state: State::Start,
        }
    }

    fn read(&self, offset: u64, len: u64) -> Result<Io, RindexOpError> {
        let end = offset.checked_add(len);
        if end.is_none_or(|end| end > self.target.device_size) {
            return Err(RindexOpError::ShortRead {
                offset,
                len,
                device_size: self.target.device_size,
            });
        }
        Ok(Io::Read {
            disk: 0,
            offset,
            len,
        })
    }

    fn start(&mut self) -> Result<Step<OpOutput>, RindexOpError> {
        if let RindexAction::Format {
            geometry,
            max_resources,
        } = &self.action
        {
            let ios = format_writes(
                *geometry,
                &self.target.space,
                self.target.rx_offset,
                *max_resources,
            )?;
            let header = RindexHeader::new(
                *geometry,
                &self.target.space,
                self.target.rx_offset,
                *max_resources,
            );
            let output = RindexOutput {
                header,
                geometry: *geometry,
                entry: RindexEntry::default(),
                entries: Vec::new(),
            };
            let timeout = self.target.area_write_timeout;
            let pending = ios.into_iter().map(|io| (io, timeout)).collect();
            return Ok(self.write_next(pending, output));
        }
        let len = u64::from(self.target.device_sector_size).clamp(512, HEADER_READ_MAX);
        let io = self.read(self.target.rx_offset, len)?;
        self.state = State::HeaderRead;
        Ok(self.io(vec![io], self.target.io_timeout))
    }

    fn io(&self, ios: Vec<Io>, timeout: Duration) -> Step<OpOutput> {
        Step::Io { ios, timeout }
    }

    fn write_next(
        &mut self,
        mut pending: Vec<(Io, Duration)>,
        output: RindexOutput,
    ) -> Step<OpOutput> {
        if pending.is_empty() {
            self.state = State::Done;
            return Step::Done(Ok(output));
        }
        let (io, timeout) = pending.remove(0);
        let in_flight = match &io {
            Io::Write { offset, .. } | Io::Read { offset, .. } => *offset,
        };
        self.state = State::Writes {
            pending,
            in_flight,
            output,
        };
        self.io(vec![io], timeout)
    }

    fn on_header(&mut self, bytes: &[u8]) -> Result<Step<OpOutput>, RindexOpError> {
        let header = RindexHeader::decode(bytes)
            .map_err(|e| RindexOpError::Invalid(format!("rindex header: {e}")))?;
        let layout = RindexLayout::from_header(&header, &self.target.space, self.target.rx_offset)?;
        if self.action == RindexAction::Header {
            self.state = State::Done;
            return Ok(Step::Done(Ok(RindexOutput {
                header,
                geometry: layout.geometry,
                entry: RindexEntry::default(),
                entries: Vec::new(),
            })));
        }
        // The request's own checks come after the header's, as in sanlock.
        self.action.check(&layout)?;
        let io = self.read(self.target.rx_offset, layout.geometry.area_bytes())?;
        self.state = State::AreaRead;
        Ok(self.io(vec![io], self.target.io_timeout))
    }

    fn on_area(&mut self, now: MonoTime, area: Vec<u8>) -> Result<Step<OpOutput>, RindexOpError> {
        let mut image = RindexImage::new(&self.target.space, self.target.rx_offset, area)?;
        let layout = image.layout;
        let geometry = layout.geometry;
        let mut output = RindexOutput {
            header: image.header,
            geometry,
            entry: RindexEntry::default(),
            entries: Vec::new(),
        };
        let io_timeout = self.target.io_timeout;
        let area_timeout = self.target.area_write_timeout;
        let pending = match self.action.clone() {
            RindexAction::Format { .. } | RindexAction::Header => {
                unreachable!("handled before the area is read")
            }
            RindexAction::Lookup { name, offset } => {
                output.entry = image.lookup(name.as_ref(), offset)?;
                Vec::new()
            }
            RindexAction::Add { name, offset } => {
                let index = layout.slot_index(offset)?;
                let entry = RindexEntry::new(name, offset);
                output.entry = entry;
                vec![(image.set_entry(index, &entry), io_timeout)]
            }
            RindexAction::Remove { name, offset } => {
                let index = layout.slot_index(offset)?;
                let found = image.entry(index).name;
                if let Some(name) = name {
                    if !found.is_empty() && !found.matches(&name) {
                        return Err(RindexOpError::Rindex(RindexError::Diff {
                            found,
                            expected: name,
                        }));
                    }
                }
                vec![(image.set_entry(index, &RindexEntry::default()), io_timeout)]
            }
            RindexAction::Create { name, num_hosts } => {
                if let Some((_, entry)) = image.find(&name) {
                    return Err(RindexOpError::Exists {
                        name: name.to_string(),
                        offset: entry.res_offset,
                    });
                }
                let index = image
                    .first_free()
                    .ok_or_else(|| RindexOpError::NotFound("the rindex has no free slot".into()))?;
                let offset = layout.slot_offset(index);
                let space = image.header.lockspace_name;
                let lease = paxos_init_area(geometry, &space, &name, num_hosts, None);
                let entry = RindexEntry::new(name, offset);
                output.entry = entry;
                vec![
                    (
                        Io::Write {
                            disk: 0,
                            offset,
                            data: lease,
                        },
                        area_timeout,
                    ),
                    (image.set_entry(index, &entry), io_timeout),
                ]
            }
            RindexAction::Delete { name, offset } => {
                let (index, entry) = match offset {
                    // The entry in that slot, which must carry the name (-278 otherwise).
                    Some(offset) => {
                        let index = layout.slot_index(offset)?;
                        let entry = image.entry(index);
                        if !entry.name.matches(&name) {
                            return Err(RindexOpError::Rindex(RindexError::Diff {
                                found: entry.name,
                                expected: name,
                            }));
                        }
                        (index, entry)
                    }
                    None => image.find(&name).ok_or_else(|| not_indexed(&name))?,
                };
                // Never clear anything but a slot of this rindex, whatever the entry says.
                layout.slot_index(entry.res_offset)?;
                let space = image.header.lockspace_name;
                let cleared = paxos_init_area(geometry, &space, &name, 0, Some(now.as_secs()));
                vec![
                    (image.set_entry(index, &RindexEntry::default()), io_timeout),
                    (
                        Io::Write {
                            disk: 0,
                            offset: entry.res_offset,
                            data: cleared,
                        },
                        area_timeout,
                    ),
                ]
            }
            RindexAction::Rebuild => {
                image.clear_entries();
                return Ok(self.probe(image, 0, Vec::new()));
            }
        };
        Ok(self.write_next(pending, output))
    }

    /// Reads the leader sectors of the next batch of slots, or writes the rebuilt area.
    fn probe(&mut self, image: RindexImage, next: u64, found: Vec<RindexEntry>) -> Step<OpOutput> {
        let layout = image.layout;
        let len = layout
            .geometry
            .sector_bytes()
            .max(u64::from(self.target.device_sector_size));
        let mut batch = Vec::new();
        let mut ios = Vec::new();
        let mut index = next;
        while index < layout.max_resources && batch.len() < PROBE_BATCH {
            let offset = layout.slot_offset(index);
            if offset
                .checked_add(len)
                .is_none_or(|end| end > self.target.device_size)
            {
                break; // the end of the device: no further slot exists
            }
            batch.push(index);
            ios.push(Io::Read {
                disk: 0,
                offset,
                len,
            });
            index += 1;
        }
        if ios.is_empty() {
            let output = RindexOutput {
                header: image.header,
                geometry: layout.geometry,
                entry: RindexEntry::default(),
                entries: found,
            };
            let write = Io::Write {
                disk: 0,
                offset: layout.rx_offset,
                data: image.area().to_vec(),
            };
            return self.write_next(vec![(write, self.target.area_write_timeout)], output);
        }
        self.state = State::Probe {
            image,
            batch,
            next: index,
            found,
        };
        self.io(ios, self.target.io_timeout)
    }

    fn on_probe(
        &mut self,
        mut image: RindexImage,
        batch: Vec<u64>,
        next: u64,
        mut found: Vec<RindexEntry>,
        outcomes: Vec<IoOutcome>,
    ) -> Result<Step<OpOutput>, RindexOpError> {
        for (index, outcome) in batch.into_iter().zip(outcomes) {
            let offset = image.layout.slot_offset(index);
            let bytes = read_bytes(outcome, offset)?;
            let Ok(leader) = LeaderRecord::decode(&bytes) else {
                continue;
            };
            if leader.magic == PAXOS_LEASE_MAGIC {
                let entry = RindexEntry::new(leader.resource_name, offset);
                image.put_entry(index, &entry);
                found.push(entry);
            }
        }
        Ok(self.probe(image, next, found))
    }
}

fn read_bytes(outcome: IoOutcome, offset: u64) -> Result<Vec<u8>, RindexOpError> {
    match outcome {
        // The image is edited in place (entries are rewritten): it needs its own copy.
        IoOutcome::Read(bytes) => Ok(Vec::from(bytes)),
        other => Err(io_error("read", offset, &other)),
    }
}

fn io_error(what: &'static str, offset: u64, outcome: &IoOutcome) -> RindexOpError {
    let errno = match outcome {
        IoOutcome::Failed(IoFailure::TimedOut) => SANLK_AIO_TIMEOUT,
        IoOutcome::Failed(IoFailure::Error { errno }) => -errno.abs(),
        // A read answered with a write's outcome or the reverse: a driver bug.
        IoOutcome::Read(_) | IoOutcome::Written => -5,
    };
    RindexOpError::Io {
        what,
        offset,
        errno,
    }
}

fn single(input: Resume, what: &str) -> IoOutcome {
    match input {
        Resume::Io(mut outcomes) if outcomes.len() == 1 => outcomes.remove(0),
        other => panic!("{what} expected one I/O outcome, the driver gave {other:?}"),
    }
}

impl Operation for RindexOp {
    type Output = OpOutput;

    fn name(&self) -> &'static str {
        self.action.label()
    }

    fn resume(&mut self, now: MonoTime, input: Resume) -> Step<OpOutput> {
        let name = self.name();
        let result = match std::mem::replace(&mut self.state, State::Done) {
            State::Start => {
                assert!(
                    matches!(input, Resume::Start),
                    "{name}: first resume must be Start"
                );
                self.start()
            }
            State::HeaderRead => {
                let offset = self.target.rx_offset;
                read_bytes(single(input, name), offset).and_then(|bytes| self.on_header(&bytes))
            }
            State::AreaRead => {
                let offset = self.target.rx_offset;
                read_bytes(single(input, name), offset).and_then(|area| self.on_area(now, area))
            }
            State::Probe {
                image,
                batch,
                next,
                found,
            } => match input {
                Resume::Io(outcomes) if outcomes.len() == batch.len() => {
                    self.on_probe(image, batch, next, found, outcomes)
                }
                other => panic!(
                    "{name}: probe expected {} outcomes, got {other:?}",
                    batch.len()
                ),
            },
            State::Writes {
                pending,
                in_flight,
                output,
            } => match single(input, name) {
                IoOutcome::Written => Ok(self.write_next(pending, output)),
                other => Err(io_error("write", in_flight, &other)),
            },
            State::Done => panic!("{name} resumed after it finished"),
        };
        result.unwrap_or_else(|error| {
            self.state = State::Done;
            Step::Done(Err(error))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{AlignSize, SectorSize};
    use crate::ondisk::PAXOS_DISK_CLEAR_MAGIC;
    use crate::seam::run_blocking;
    use crate::testing::{MemDisks, VirtualClock};

    const MIB: u64 = 1 << 20;
    const RX: u64 = MIB;

    fn name(text: &str) -> Name {
        Name::new(text).expect("valid name")
    }

    fn target(space: &str, rx_offset: u64, disks: &MemDisks, size: u64) -> RindexTarget {
        let _ = disks;
        RindexTarget {
            space: name(space),
            rx_offset,
            device_sector_size: 512,
            device_size: size,
            io_timeout: Duration::from_secs(1),
            area_write_timeout: Duration::from_secs(60),
        }
    }

    /// A 32 MiB disk with a 512/1M rindex formatted at 1 MiB for lockspace LS.
    fn formatted() -> MemDisks {
        let disks = MemDisks::new(1, 32 * MIB, 512);
        run(&disks, RX, format(Geometry::S512_A1M)).expect("format");
        disks
    }

    fn format(geometry: Geometry) -> RindexAction {
        RindexAction::Format {
            geometry,
            max_resources: 0,
        }
    }

    fn run(disks: &MemDisks, rx_offset: u64, action: RindexAction) -> OpOutput {
        let size = 32 * MIB;
        run_sized(disks, rx_offset, size, action)
    }

    fn run_sized(disks: &MemDisks, rx_offset: u64, size: u64, action: RindexAction) -> OpOutput {
        let mut op = RindexOp::new(target("LS", rx_offset, disks, size), action);
        let mut storage = disks.clone();
        let mut clock = VirtualClock::starting_at(MonoTime::from_secs(4136));
        run_blocking(&mut op, &mut storage, &mut clock)
    }

    fn errno(result: OpOutput) -> i32 {
        result.expect_err("should fail").sanlock_errno()
    }

    fn lookup(disks: &MemDisks, name_text: Option<&str>, offset: Option<u64>) -> OpOutput {
        run(
            disks,
            RX,
            RindexAction::Lookup {
                name: name_text.map(name),
                offset,
            },
        )
    }

    fn add(disks: &MemDisks, text: &str, offset: u64) -> OpOutput {
        run(
            disks,
            RX,
            RindexAction::Add {
                name: name(text),
                offset,
            },
        )
    }

    fn area(disks: &MemDisks) -> Vec<u8> {
        disks.peek(0, 0, 32 * MIB)
    }

    #[test]
    fn format_writes_sanlocks_header_and_lease() {
        let disks = formatted();
        // Header bytes as `sanlock direct format -x LS:disk:1M` writes them (spec §2.5).
        let header = disks.peek(0, RX, 48);
        let mut expected = vec![
            0x18, 0x20, 0x04, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0, 0, 0, 0x00, 0x02, 0, 0, 0x00,
            0x10, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x10, 0, 0, 0, 0, 0, b'L', b'S',
        ];
        expected.resize(48, 0);
        assert_eq!(header, expected);
        let lease = disks.peek(0, 2 * MIB, MIB);
        let want = paxos_init_area(Geometry::S512_A1M, &name("LS"), &RINDEX_LEASE_NAME, 0, None);
        assert_eq!(lease, want);
        let leader = LeaderRecord::decode(&lease).expect("leader");
        assert_eq!(leader.num_hosts, 2000);
        // What `sanlock direct read_leader -r LS:rindex_lease:...` prints after its format.
        assert_eq!(leader.checksum, 0xfa00_43ec);
    }

    #[test]
    fn format_refuses_bad_input_before_writing() {
        let disks = MemDisks::new(1, 32 * MIB, 512);
        let mut op = RindexOp::new(target("", RX, &disks, 32 * MIB), format(Geometry::S512_A1M));
        let mut storage = disks.clone();
        let mut clock = VirtualClock::default();
        let result = run_blocking(&mut op, &mut storage, &mut clock);
        assert_eq!(errno(result), EINVAL);
        assert_eq!(errno(run(&disks, 1000, format(Geometry::S512_A1M))), EINVAL);
        assert!(area(&disks).iter().all(|&b| b == 0));
    }

    #[test]
    fn lookup_of_nothing_is_the_first_free_slot() {
        let disks = formatted();
        let found = lookup(&disks, None, None).expect("lookup");
        assert_eq!(found.entry, RindexEntry::new(Name::EMPTY, 3 * MIB));
        add(&disks, "resA", 3 * MIB).expect("add");
        let found = lookup(&disks, None, None).expect("lookup");
        assert_eq!(
            found.entry.res_offset,
            4 * MIB,
            "spec §6: 4194304 once slot 0 is used"
        );
    }

    #[test]
    fn lookup_by_name_offset_and_both() {
        let disks = formatted();
        add(&disks, "resA", 3 * MIB).expect("add");
        // The entry bytes sanlock writes (spec §6 update).
        let entry = disks.peek(0, RX + 512, 64);
        assert_eq!(&entry[..8], &(3 * MIB).to_le_bytes());
        assert_eq!(&entry[16..20], b"resA");
        let by_name = lookup(&disks, Some("resA"), None).expect("by name").entry;
        assert_eq!(by_name, RindexEntry::new(name("resA"), 3 * MIB));
        let by_offset = lookup(&disks, None, Some(3 * MIB))
            .expect("by offset")
            .entry;
        assert_eq!(by_offset, by_name);
        let free = lookup(&disks, None, Some(4 * MIB))
            .expect("free slot")
            .entry;
        assert_eq!(free, RindexEntry::new(Name::EMPTY, 4 * MIB));
        let both = lookup(&disks, Some("resA"), Some(3 * MIB))
            .expect("both")
            .entry;
        assert_eq!(both, by_name);
        assert_eq!(errno(lookup(&disks, Some("resB"), Some(3 * MIB))), -278);
        assert_eq!(errno(lookup(&disks, Some("resB"), None)), ENOENT);
    }

    #[test]
    fn offsets_that_are_not_slots_are_refused_without_writing() {
        let disks = formatted();
        let before = area(&disks);
        for offset in [
            3_000_000,        // misaligned
            MIB,              // the rindex itself (sanlock writes into the header sector)
            2 * MIB,          // the rindex lease
            (3 + 4096) * MIB, // beyond max_resources
        ] {
            assert_eq!(errno(add(&disks, "x", offset)), -277, "{offset}");
            assert_eq!(errno(lookup(&disks, None, Some(offset))), -277, "{offset}");
            let remove = RindexAction::Remove { name: None, offset };
            assert_eq!(errno(run(&disks, RX, remove)), -277, "{offset}");
        }
        assert_eq!(area(&disks), before);
        // The last slot is fine.
        add(&disks, "last", (2 + 4096) * MIB).expect("last slot");
    }

    #[test]
    fn slots_of_a_rindex_not_at_an_align_multiple() {
        let disks = MemDisks::new(1, 32 * MIB, 512);
        run(&disks, 512, format(Geometry::S512_A1M)).expect("format");
        let first = 2 * MIB + 512;
        let free = run(
            &disks,
            512,
            RindexAction::Lookup {
                name: None,
                offset: None,
            },
        )
        .expect("lookup");
        assert_eq!(free.entry.res_offset, first);
        let added = run(
            &disks,
            512,
            RindexAction::Add {
                name: name("a"),
                offset: first,
            },
        );
        assert_eq!(added.expect("add").entry.res_offset, first);
        let add_3m = RindexAction::Add {
            name: name("b"),
            offset: 3 * MIB,
        };
        assert_eq!(errno(run(&disks, 512, add_3m)), -277);
    }

    #[test]
    fn update_add_overwrites_and_remove_checks_the_name() {
        let disks = formatted();
        add(&disks, "resA", 3 * MIB).expect("add");
        add(&disks, "resB", 3 * MIB).expect("overwrite (repair tool)");
        assert_eq!(errno(lookup(&disks, Some("resA"), None)), ENOENT);
        let before = area(&disks);
        let wrong = RindexAction::Remove {
            name: Some(name("resA")),
            offset: 3 * MIB,
        };
        assert_eq!(errno(run(&disks, RX, wrong)), -278);
        assert_eq!(area(&disks), before);
        let right = RindexAction::Remove {
            name: Some(name("resB")),
            offset: 3 * MIB,
        };
        let removed = run(&disks, RX, right).expect("remove");
        assert_eq!(removed.entry, RindexEntry::default());
        assert!(disks.peek(0, RX + 512, 64).iter().all(|&b| b == 0));
        // Removing a free slot (no name given) is fine.
        let again = RindexAction::Remove {
            name: None,
            offset: 3 * MIB,
        };
        run(&disks, RX, again).expect("remove free");
        assert_eq!(errno(add(&disks, "", 3 * MIB)), EINVAL);
    }

    #[test]
    fn entry_writes_rewrite_only_their_sector() {
        let disks = formatted();
        // Entry 8 is the first of the second entry sector (8 entries per 512-byte sector).
        let before = area(&disks);
        add(&disks, "nine", (3 + 8) * MIB).expect("add");
        let after = area(&disks);
        let changed: Vec<usize> = (0..after.len())
            .filter(|&i| after[i] != before[i])
            .collect();
        let sector = (RX + 1024) as usize..(RX + 1536) as usize;
        assert!(!changed.is_empty());
        assert!(changed.iter().all(|i| sector.contains(i)), "{changed:?}");
    }

    #[test]
    fn header_validation_in_sanlocks_order() {
        let disks = formatted();
        let mut op = RindexOp::new(target("OTHER", RX, &disks, 32 * MIB), RindexAction::Rebuild);
        let result = run_blocking(&mut op, &mut disks.clone(), &mut VirtualClock::default());
        assert_eq!(errno(result), -276);
        // No rindex at 0: magic.
        assert_eq!(errno(run(&disks, 0, RindexAction::Header)), -274);
        // A copy of the area elsewhere: rx_offset differs from where it is read.
        let copy = disks.peek(0, RX, MIB);
        disks.poke(0, 8 * MIB, &copy);
        assert_eq!(errno(run(&disks, 8 * MIB, RindexAction::Header)), -277);
        // Version 2.x.
        disks.poke(0, RX + 6, &[2, 0]);
        assert_eq!(errno(run(&disks, RX, RindexAction::Header)), -275);
        disks.poke(0, RX + 6, &[1, 0]);
        disks.poke(0, RX, &[0]);
        assert_eq!(errno(run(&disks, RX, RindexAction::Header)), -274);
    }

    #[test]
    fn header_errors_come_before_request_errors() {
        let disks = formatted();
        let bad_requests = [
            RindexAction::Add {
                name: name("x"),
                offset: 0,
            },
            RindexAction::Add {
                name: Name::EMPTY,
                offset: 3 * MIB,
            },
            RindexAction::Create {
                name: Name::EMPTY,
                num_hosts: 0,
            },
            RindexAction::Delete {
                name: name("x"),
                offset: Some(3_000_000),
            },
        ];
        for action in bad_requests {
            // No rindex at 0: sanlock reports the header (-274) first.
            assert_eq!(errno(run(&disks, 0, action.clone())), -274, "{action:?}");
            let expected = if matches!(action, RindexAction::Delete { .. }) {
                -277
            } else {
                EINVAL
            };
            assert_eq!(
                errno(run(&disks, RX, action.clone())),
                expected,
                "{action:?}"
            );
        }
    }

    #[test]
    fn reads_past_the_end_are_short_reads() {
        let disks = formatted();
        // The header fits, the area does not.
        let result = run_sized(
            &disks,
            RX,
            RX + 4096,
            RindexAction::Lookup {
                name: None,
                offset: None,
            },
        );
        assert_eq!(errno(result), EMSGSIZE);
        assert_eq!(
            errno(run_sized(&disks, 100 * MIB, 32 * MIB, RindexAction::Header)),
            EMSGSIZE
        );
    }

    #[test]
    fn create_takes_the_first_free_slot_once_per_name() {
        let disks = formatted();
        add(&disks, "taken", 3 * MIB).expect("add");
        let created = run(
            &disks,
            RX,
            RindexAction::Create {
                name: name("r1"),
                num_hosts: 0,
            },
        )
        .expect("create");
        assert_eq!(created.entry, RindexEntry::new(name("r1"), 4 * MIB));
        let lease = disks.peek(0, 4 * MIB, MIB);
        let want = paxos_init_area(Geometry::S512_A1M, &name("LS"), &name("r1"), 0, None);
        assert_eq!(lease, want);
        assert_eq!(
            lookup(&disks, Some("r1"), None)
                .expect("lookup")
                .entry
                .res_offset,
            4 * MIB
        );
        let before = area(&disks);
        let again = RindexAction::Create {
            name: name("r1"),
            num_hosts: 0,
        };
        assert_eq!(errno(run(&disks, RX, again)), EEXIST);
        let nameless = RindexAction::Create {
            name: Name::EMPTY,
            num_hosts: 0,
        };
        assert_eq!(errno(run(&disks, RX, nameless)), EINVAL);
        assert_eq!(area(&disks), before);
    }

    #[test]
    fn create_in_a_full_index_is_enoent() {
        let disks = MemDisks::new(1, 32 * MIB, 512);
        let action = RindexAction::Format {
            geometry: Geometry::S512_A1M,
            max_resources: 2,
        };
        run(&disks, RX, action).expect("format");
        assert_eq!(
            RindexHeader::decode(&disks.peek(0, RX, 512))
                .unwrap()
                .max_resources,
            2
        );
        for (text, offset) in [("a", 3 * MIB), ("b", 4 * MIB)] {
            let created = run(
                &disks,
                RX,
                RindexAction::Create {
                    name: name(text),
                    num_hosts: 4,
                },
            )
            .expect("create");
            assert_eq!(created.entry.res_offset, offset);
        }
        let leader = LeaderRecord::decode(&disks.peek(0, 4 * MIB, 512)).expect("leader");
        assert_eq!(leader.num_hosts, 4);
        let full = RindexAction::Create {
            name: name("c"),
            num_hosts: 0,
        };
        assert_eq!(errno(run(&disks, RX, full)), ENOENT);
        assert_eq!(errno(lookup_at(&disks)), ENOENT);
    }

    fn lookup_at(disks: &MemDisks) -> OpOutput {
        lookup(disks, None, None)
    }

    #[test]
    fn delete_zeroes_the_entry_and_clears_the_lease() {
        let disks = formatted();
        for text in ["r1", "r2"] {
            let create = RindexAction::Create {
                name: name(text),
                num_hosts: 0,
            };
            run(&disks, RX, create).expect("create");
        }
        let before = area(&disks);
        let wrong = RindexAction::Delete {
            name: name("r2"),
            offset: Some(3 * MIB),
        };
        assert_eq!(errno(run(&disks, RX, wrong)), -278);
        let misaligned = RindexAction::Delete {
            name: name("r2"),
            offset: Some(4_000_000),
        };
        assert_eq!(errno(run(&disks, RX, misaligned)), -277);
        let absent = RindexAction::Delete {
            name: name("r9"),
            offset: None,
        };
        assert_eq!(errno(run(&disks, RX, absent)), ENOENT);
        assert_eq!(area(&disks), before);
        let delete = RindexAction::Delete {
            name: name("r1"),
            offset: None,
        };
        run(&disks, RX, delete).expect("delete");
        assert!(disks.peek(0, RX + 512, 64).iter().all(|&b| b == 0));
        let cleared = disks.peek(0, 3 * MIB, MIB);
        let want = paxos_init_area(Geometry::S512_A1M, &name("LS"), &name("r1"), 0, Some(4136));
        assert_eq!(cleared, want);
        assert_eq!(
            LeaderRecord::decode(&cleared).unwrap().magic,
            PAXOS_DISK_CLEAR_MAGIC
        );
        assert_eq!(errno(lookup(&disks, Some("r1"), None)), ENOENT);
        // r2 by name and offset.
        let delete = RindexAction::Delete {
            name: name("r2"),
            offset: Some(4 * MIB),
        };
        run(&disks, RX, delete).expect("delete r2");
        assert_eq!(lookup_at(&disks).expect("free").entry.res_offset, 3 * MIB);
    }

    #[test]
    fn delete_never_clears_outside_the_slots() {
        let disks = formatted();
        // An entry recorded with the rindex's own offset (what sanlock's update can write).
        let bogus = RindexEntry::new(name("bad"), RX);
        disks.poke(0, RX + 512, &bogus.encode());
        let before = area(&disks);
        let delete = RindexAction::Delete {
            name: name("bad"),
            offset: None,
        };
        assert_eq!(errno(run(&disks, RX, delete)), -277);
        assert_eq!(area(&disks), before);
    }

    #[test]
    fn rebuild_finds_unindexed_leases_and_drops_stale_entries() {
        let disks = formatted();
        add(&disks, "ghost", 4 * MIB).expect("add");
        let g = Geometry::S512_A1M;
        disks.poke(
            0,
            5 * MIB,
            &paxos_init_area(g, &name("LS"), &name("vm7"), 0, None),
        );
        disks.poke(
            0,
            7 * MIB,
            &paxos_init_area(g, &name("OTHER"), &name("vm8"), 0, None),
        );
        disks.poke(
            0,
            9 * MIB,
            &paxos_init_area(g, &name("LS"), &name("vm9"), 0, Some(1)),
        );
        // The last slot that fits on the 32 MiB disk.
        disks.poke(
            0,
            31 * MIB,
            &paxos_init_area(g, &name("LS"), &name("end"), 0, None),
        );
        let rebuilt = run(&disks, RX, RindexAction::Rebuild).expect("rebuild");
        let names: Vec<(String, u64)> = rebuilt
            .entries
            .iter()
            .map(|e| (e.name.to_string(), e.res_offset))
            .collect();
        assert_eq!(
            names,
            vec![
                ("vm7".into(), 5 * MIB),
                ("vm8".into(), 7 * MIB),
                ("end".into(), 31 * MIB)
            ]
        );
        assert_eq!(
            lookup(&disks, Some("vm7"), None).unwrap().entry.res_offset,
            5 * MIB
        );
        assert_eq!(errno(lookup(&disks, Some("ghost"), None)), ENOENT);
        assert_eq!(errno(lookup(&disks, Some("vm9"), None)), ENOENT);
        assert_eq!(lookup_at(&disks).unwrap().entry.res_offset, 3 * MIB);
        // The header sector is written back unchanged.
        let header = RindexHeader::decode(&disks.peek(0, RX, 512)).unwrap();
        assert_eq!(header, RindexHeader::new(g, &name("LS"), RX, 0));
    }

    #[test]
    fn failed_reads_write_nothing() {
        let disks = formatted();
        let before = area(&disks);
        disks.set_failing(0, true);
        let result = run(&disks, RX, RindexAction::Rebuild);
        assert_eq!(errno(result), -5);
        disks.set_failing(0, false);
        assert_eq!(area(&disks), before);
    }

    #[test]
    fn four_k_geometry() {
        let g = Geometry::new(SectorSize::B4096, AlignSize::M8).expect("4K/8M");
        let disks = MemDisks::new(1, 64 * MIB, 4096);
        let action = format(g);
        let mut op = RindexOp::new(
            RindexTarget {
                device_sector_size: 4096,
                ..target("LS", 8 * MIB, &disks, 64 * MIB)
            },
            action,
        );
        run_blocking(&mut op, &mut disks.clone(), &mut VirtualClock::default()).expect("format");
        let header = disks.peek(0, 8 * MIB, 32);
        assert_eq!(&header[8..16], &[8, 0, 0, 0, 0, 0x10, 0, 0]);
        let lookup = RindexAction::Lookup {
            name: None,
            offset: None,
        };
        let mut op = RindexOp::new(
            RindexTarget {
                device_sector_size: 4096,
                ..target("LS", 8 * MIB, &disks, 64 * MIB)
            },
            lookup,
        );
        let found = run_blocking(&mut op, &mut disks.clone(), &mut VirtualClock::default());
        assert_eq!(found.expect("lookup").entry.res_offset, 24 * MIB);
    }

    #[test]
    fn rentry_arguments() {
        let parse = |t: &str| parse_rentry(t);
        assert_eq!(
            parse("r1").unwrap(),
            RentryArg {
                name: Some("r1".into()),
                offset: None
            }
        );
        assert_eq!(
            parse("r1:3M").unwrap(),
            RentryArg {
                name: Some("r1".into()),
                offset: Some(3 * MIB)
            }
        );
        assert_eq!(
            parse(":4194304").unwrap(),
            RentryArg {
                name: None,
                offset: Some(4 * MIB)
            }
        );
        assert_eq!(parse(":0").unwrap(), RentryArg::default());
        assert_eq!(parse("a\\:b").unwrap().name.as_deref(), Some("a:b"));
        assert!(parse(&"n".repeat(49)).is_err());
        assert!(parse(&"n".repeat(48)).is_ok());
        assert!(parse("a:b:c").is_err());
        assert!(parse("a:").is_err());
        assert!(parse("a:abc").is_err());
        assert!(parse("a\\").is_err());
    }
}
