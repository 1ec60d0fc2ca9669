//! `lease direct <action>`: lease areas read and written without a daemon, with sanlock's
//! output format (`sanlock direct` in sanlock 3.8.5 is the reference, see the tests).
//!
//! Conventions shared by the actions:
//! * stdout carries exactly what sanlock prints (or one JSON object with `--json`);
//! * every failure also gets one human sentence on stderr saying what was wrong and where, and
//!   exit status 1;
//! * every check that can fail happens before the first write, so a failed command writes
//!   nothing.

pub mod dump;
pub mod init;
pub mod read_leader;
mod report;
pub mod rindex;

use std::io::{self, Write};
use std::path::Path;

use lease_core::geometry::{AlignSize, Geometry, GeometryError, SectorSize};
use lease_core::names::NamesError;
use lease_io::{Access, Device, DeviceError};

use crate::cli::SizeArgs;

/// `-EINVAL`: what sanlock reports for unusable arguments.
pub const EINVAL: i32 = -22;
/// `-ENODEV`: what sanlock reports when it cannot open a lockspace path.
pub const ENODEV: i32 = -19;
/// sanlock's generic `-1`: sizes that cannot be determined, -Z without -A.
pub const RV_GENERIC: i32 = -1;

/// Where an action writes: stdout (sanlock's output or JSON) and stderr (explanations).
pub struct Console<'a> {
    /// Standard output.
    pub out: &'a mut dyn Write,
    /// Standard error.
    pub err: &'a mut dyn Write,
    /// `--json` was given.
    pub json: bool,
}

impl std::fmt::Debug for Console<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("json", &self.json)
            .finish_non_exhaustive()
    }
}

impl Console<'_> {
    /// Writes `lease direct <action>: <message>` to stderr.
    pub fn explain(&mut self, action: &str, message: &str) -> io::Result<()> {
        writeln!(self.err, "lease direct {action}: {message}")
    }

    /// Writes one JSON value and a newline to stdout.
    pub fn json_line(&mut self, value: &serde_json::Value) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *self.out, value).map_err(io::Error::from)?;
        writeln!(self.out)
    }
}

/// A failed action: the sanlock return code to print and the human explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Negative sanlock/errno code, printed in the `done` line.
    pub rv: i32,
    /// What went wrong, naming the path/offset concerned.
    pub message: String,
}

impl Failure {
    /// A failure with an explicit code.
    pub fn new(rv: i32, message: impl Into<String>) -> Failure {
        Failure {
            rv,
            message: message.into(),
        }
    }

    /// A device error: its errno and its message (which names the path and offset).
    pub fn device(error: &DeviceError) -> Failure {
        Failure::new(error.errno(), error.to_string())
    }

    /// A bad `-s`/`-r` string.
    pub fn lease_string(option: char, text: &str, error: &NamesError) -> Failure {
        Failure::new(
            EINVAL,
            format!("invalid -{option} argument {text:?}: {error}"),
        )
    }
}

/// How the sector and align sizes were specified on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeFlags {
    /// Neither -Z nor -A: take them from the device or the leader on disk.
    Unset,
    /// -Z without -A.
    SectorOnly(SectorSize),
    /// A valid -Z/-A pair.
    Both(Geometry),
}

/// -A without -Z, or an invalid pair: sanlock's two-line complaint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadCombination {
    /// -Z in bytes (0 when not given).
    pub sector_size: u32,
    /// -A in bytes.
    pub align_size_bytes: u64,
}

impl BadCombination {
    /// Prints sanlock's message (stdout) or a JSON result, and the explanation (stderr).
    pub fn report(&self, console: &mut Console<'_>, action: &str) -> io::Result<u8> {
        let message = format!(
            "Invalid sector_size/align_size combination ({}/{})",
            self.sector_size, self.align_size_bytes
        );
        let hint = "Use one of: 512/1M, 4096/1M, 4096/2M, 4096/4M, 4096/8M.";
        if console.json {
            let error = if self.sector_size == 0 {
                format!("{message}: -A needs -Z. {hint}")
            } else {
                format!("{message}. {hint}")
            };
            console.json_line(&serde_json::json!({
                "result": GeometryError::InvalidCombination {
                    sector_size: self.sector_size,
                    align_size_bytes: self.align_size_bytes,
                }
                .sanlock_errno(),
                "error": error,
            }))?;
        } else {
            writeln!(console.out, "{message}")?;
            writeln!(console.out, "{hint}")?;
        }
        if self.sector_size == 0 {
            console.explain(action, "-A was given without -Z; give both or neither")?;
        } else {
            console.explain(
                action,
                &format!(
                    "-Z {} cannot be combined with -A {}M",
                    self.sector_size,
                    self.align_size_bytes >> 20
                ),
            )?;
        }
        Ok(1)
    }
}

/// Validates -Z/-A.
pub fn size_flags(sizes: &SizeArgs) -> Result<SizeFlags, BadCombination> {
    let sector = sizes.sector_size_bytes().and_then(SectorSize::from_bytes);
    match (sector, sizes.align_size) {
        (None, None) => Ok(SizeFlags::Unset),
        (Some(sector), None) => Ok(SizeFlags::SectorOnly(sector)),
        (None, Some(align)) => Err(BadCombination {
            sector_size: 0,
            align_size_bytes: align.bytes(),
        }),
        (Some(sector), Some(align)) => {
            Geometry::new(sector, align)
                .map(SizeFlags::Both)
                .map_err(|_| BadCombination {
                    sector_size: sector.bytes(),
                    align_size_bytes: align.bytes(),
                })
        }
    }
}

/// -Z/-A when given, else the device's logical sector size with the legacy align size. A
/// sector size below the device's logical one is refused (`note` ends that message).
pub fn geometry_for(flags: SizeFlags, device: &Device, note: &str) -> Result<Geometry, Failure> {
    let geometry = match flags {
        SizeFlags::Both(geometry) => geometry,
        SizeFlags::Unset | SizeFlags::SectorOnly(_) => {
            let sector = SectorSize::from_bytes(device.logical_sector_size()).ok_or_else(|| {
                Failure::new(
                    EINVAL,
                    format!(
                        "{} has {}-byte logical sectors; leases need 512 or 4096",
                        device.path().display(),
                        device.logical_sector_size()
                    ),
                )
            })?;
            Geometry::legacy_default(sector)
        }
    };
    if geometry.sector_size().bytes() < device.io_alignment() {
        return Err(Failure::new(
            EINVAL,
            format!(
                "-Z {} is smaller than the logical sector size {} of {}{note}",
                geometry.sector_size(),
                device.io_alignment(),
                device.path().display()
            ),
        ));
    }
    Ok(geometry)
}

/// Opens a device, mapping failures to sanlock's codes: `-ENODEV` for lockspace paths (what
/// sanlock prints), the open errno for resource paths.
pub fn open_device(path: &str, access: Access, lockspace: bool) -> Result<Device, Failure> {
    Device::open(Path::new(path), access).map_err(|error| {
        let mut failure = Failure::device(&error);
        if lockspace
            && matches!(
                error,
                DeviceError::Open { .. } | DeviceError::UnsupportedFileType { .. }
            )
        {
            failure.rv = ENODEV;
        }
        failure
    })
}

/// sanlock's reading of a leader's size fields when it looks for sizes (dump, read_leader -s):
/// the first align flag found from 1M up, else the legacy default for the sector size.
/// `None` when the sector size is not one lease-io can use.
pub fn sizes_from_leader_fields(flags: u32, sector_size: u32) -> Option<(u32, u64)> {
    let sector = SectorSize::from_bytes(sector_size)?;
    let align = [
        (0x10, AlignSize::M1),
        (0x20, AlignSize::M2),
        (0x40, AlignSize::M4),
        (0x80, AlignSize::M8),
    ]
    .into_iter()
    .find(|(flag, _)| flags & flag != 0)
    .map_or_else(
        || Geometry::legacy_default(sector).align_size(),
        |(_, align)| align,
    );
    Some((sector_size, align.bytes()))
}

/// Little-endian u32 at `offset` of `bytes` (0 when out of range).
pub fn le_u32(bytes: &[u8], offset: usize) -> u32 {
    bytes
        .get(offset..offset + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_from_leader_fields_like_sanlock() {
        assert_eq!(sizes_from_leader_fields(0x10, 512), Some((512, 1 << 20)));
        assert_eq!(sizes_from_leader_fields(0x80, 4096), Some((4096, 8 << 20)));
        // Several flags: the smallest wins (observed with sanlock 3.8.5).
        assert_eq!(sizes_from_leader_fields(0x30, 4096), Some((4096, 1 << 20)));
        // No flag: legacy default.
        assert_eq!(sizes_from_leader_fields(0, 512), Some((512, 1 << 20)));
        assert_eq!(sizes_from_leader_fields(0x100, 4096), Some((4096, 8 << 20)));
        // sanlock accepts 512/2M from a leader (it only validates -Z/-A).
        assert_eq!(sizes_from_leader_fields(0x20, 512), Some((512, 2 << 20)));
        assert_eq!(sizes_from_leader_fields(0x10, 0), None);
        assert_eq!(sizes_from_leader_fields(0x10, 1024), None);
    }

    #[test]
    fn le_helpers_tolerate_short_input() {
        assert_eq!(le_u32(&[1, 0, 0, 0], 0), 1);
        assert_eq!(le_u32(&[1, 0, 0], 0), 0);
    }
}
