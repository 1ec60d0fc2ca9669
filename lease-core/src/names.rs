//! sanlock's command-line lease strings (format spec §7): parsing, validation and printing.
//!
//! | string | syntax |
//! |---|---|
//! | lockspace | `name:host_id:path:offset` |
//! | resource | `lockspace:resource:path:offset[:path2:offset2 ...][:lver \| :SH]` (1 to 4 disks) |
//! | rindex | `lockspace:path:offset` |
//! | dump target | `path[:offset[:size]]` |
//!
//! Fields are separated by `:`. A backslash makes the next character literal, so `\:` puts a
//! colon and `\\` a backslash into any field (paths are where this matters:
//! `/dev/disk/by-path/pci-0000\:00\:1f.2`). A lone trailing backslash is an error.
//!
//! Numbers are decimal. Offsets (and dump sizes) may end in `M`, meaning MiB: `1M` = 1048576.
//! The dump target also accepts `0x` hexadecimal, as `sanlock direct dump` does.
//!
//! A resource string has an even number of fields after `lockspace:resource` (path/offset
//! pairs); an odd number means the last field is the lease version (`lver`) or `SH` (shared).
//!
//! Limits: names are 1 to 48 bytes (they fill a 48-byte on-disk field), paths 1 to 1023 bytes
//! (sanlock's `SANLK_PATH_LEN` is 1024 including the terminating NUL), at most 4 disks.
//!
//! Where sanlock 3.8.5 is lax we are strict, and say so in the error: sanlock silently truncates
//! a lockspace name longer than 48 bytes (two lockspaces that differ after byte 48 would then
//! collide on disk), ignores missing or extra fields, reads `abc` or `12x` as numbers, and in
//! the lockspace parser misreads two-digit `M` offsets (`16M` becomes 168 MiB). Its resource
//! parser also mishandles `\:` and `M` on second and later disks. These strings parse here as
//! documented above.
//!
//! Invariants: every value this module returns satisfies the limits above, and
//! `parse(x.to_string()) == x` for every parsed value `x` ([`fmt::Display`] escapes `:` and
//! `\` and prints offsets in bytes).

use std::fmt;

/// Longest name in bytes (`SANLK_NAME_LEN`, the on-disk field size).
pub const NAME_LEN_MAX: usize = 48;
/// Longest path in bytes: sanlock's `SANLK_PATH_LEN` (1024) minus the terminating NUL.
pub const PATH_LEN_MAX: usize = 1023;
/// Most disks a resource string may name.
pub const DISKS_MAX: usize = 4;
/// One MiB, the unit of the `M` suffix.
pub const MIB: u64 = 1 << 20;

/// Which field of a lease string an error concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// The lockspace name.
    LockspaceName,
    /// The resource name.
    ResourceName,
    /// The host id of a lockspace string.
    HostId,
    /// A disk path.
    Path,
    /// A disk offset.
    Offset,
    /// The trailing lease version of a resource string.
    Lver,
    /// The size of a dump target.
    Size,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::LockspaceName => "lockspace name",
            Field::ResourceName => "resource name",
            Field::HostId => "host_id",
            Field::Path => "path",
            Field::Offset => "offset",
            Field::Lver => "lver",
            Field::Size => "size",
        })
    }
}

/// Why a lease string was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NamesError {
    /// The string ended before a required field.
    #[error("missing {field} (expected {syntax})")]
    MissingField {
        /// The first missing field.
        field: Field,
        /// The expected syntax, e.g. `name:host_id:path:offset`.
        syntax: &'static str,
    },
    /// More fields than the syntax has.
    #[error("unexpected extra field {extra:?} (expected {syntax})")]
    ExtraField {
        /// The first surplus field, unescaped.
        extra: String,
        /// The expected syntax.
        syntax: &'static str,
    },
    /// An empty name.
    #[error("{field} is empty")]
    NameEmpty {
        /// Which name.
        field: Field,
    },
    /// A name longer than 48 bytes. sanlock would silently truncate it; we refuse.
    #[error(
        "{field} {name:?} is {len} bytes long, the maximum is 48 (sanlock would silently \
         truncate it to 48 bytes; refusing instead)"
    )]
    NameTooLong {
        /// Which name.
        field: Field,
        /// The rejected name.
        name: String,
        /// Its length in bytes.
        len: usize,
    },
    /// A field contains a NUL byte, which would end it early on disk or in the kernel.
    #[error("{field} contains a NUL byte")]
    NulByte {
        /// Which field.
        field: Field,
    },
    /// An empty path.
    #[error("path is empty")]
    PathEmpty,
    /// A path of 1024 bytes or more.
    #[error("path is {len} bytes long, the maximum is {PATH_LEN_MAX}")]
    PathTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A number that is not a (decimal, optionally `M`-suffixed) integer.
    #[error("{field} {text:?} is not a valid number ({expected})")]
    BadNumber {
        /// Which field.
        field: Field,
        /// The rejected text.
        text: String,
        /// What is accepted there.
        expected: &'static str,
    },
    /// A number that does not fit in 64 bits (after applying `M`).
    #[error("{field} {text:?} is too large")]
    NumberTooLarge {
        /// Which field.
        field: Field,
        /// The rejected text.
        text: String,
    },
    /// A resource string naming more than 4 disks.
    #[error("{count} disks given, a resource may have at most {DISKS_MAX}")]
    TooManyDisks {
        /// Number of path/offset pairs given.
        count: usize,
    },
    /// A backslash at the very end of the string (it escapes nothing).
    #[error("trailing backslash (use \\\\ for a literal backslash, \\: for a colon)")]
    TrailingBackslash,
}

/// One disk of a lease: a path and a byte offset.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Disk {
    /// Path of the block device or file (1..=1023 bytes, unescaped).
    pub path: String,
    /// Byte offset of the lease area on it.
    pub offset: u64,
}

impl fmt::Display for Disk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, &self.path)?;
        write!(f, ":{}", self.offset)
    }
}

/// A lockspace string `name:host_id:path:offset` (`-s` argument).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LockspaceArg {
    /// Lockspace name (1..=48 bytes).
    pub name: String,
    /// Host id; 0 is allowed here (it is what `init` takes), callers needing one check it.
    pub host_id: u64,
    /// Where the lockspace area is.
    pub disk: Disk,
}

/// The optional trailing field of a resource string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceSuffix {
    /// No trailing field.
    None,
    /// `:lver`: the lease version the caller expects (`SANLK_RES_LVER`).
    Lver(u64),
    /// `:SH`: shared mode (`SANLK_RES_SHARED`).
    Shared,
}

/// A resource string `lockspace:resource:path:offset[:path2:offset2...][:lver|:SH]` (`-r`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResourceArg {
    /// Lockspace name (1..=48 bytes).
    pub lockspace: String,
    /// Resource name (1..=48 bytes).
    pub name: String,
    /// 1 to 4 disks, in the order given.
    pub disks: Vec<Disk>,
    /// Trailing lver or SH.
    pub suffix: ResourceSuffix,
}

/// A rindex string `lockspace:path:offset` (`-x` argument).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RindexArg {
    /// Lockspace name (1..=48 bytes).
    pub lockspace: String,
    /// Where the rindex area is.
    pub disk: Disk,
}

/// The `sanlock direct dump` target `path[:offset[:size]]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DumpTarget {
    /// Device or file path.
    pub path: String,
    /// First byte to dump (default 0).
    pub offset: u64,
    /// Bytes to dump; `None` (also written as size 0) means "until the first area that holds no
    /// lease structure".
    pub size: Option<u64>,
}

const LOCKSPACE_SYNTAX: &str = "name:host_id:path:offset";
const RESOURCE_SYNTAX: &str = "lockspace:resource:path:offset[:path2:offset2...][:lver|:SH]";
const RINDEX_SYNTAX: &str = "lockspace:path:offset";
const DUMP_SYNTAX: &str = "path[:offset[:size]]";

impl std::str::FromStr for LockspaceArg {
    type Err = NamesError;

    fn from_str(text: &str) -> Result<LockspaceArg, NamesError> {
        parse_lockspace(text)
    }
}

impl std::str::FromStr for ResourceArg {
    type Err = NamesError;

    fn from_str(text: &str) -> Result<ResourceArg, NamesError> {
        parse_resource(text)
    }
}

impl std::str::FromStr for RindexArg {
    type Err = NamesError;

    fn from_str(text: &str) -> Result<RindexArg, NamesError> {
        parse_rindex(text)
    }
}

impl std::str::FromStr for DumpTarget {
    type Err = NamesError;

    fn from_str(text: &str) -> Result<DumpTarget, NamesError> {
        parse_dump_target(text)
    }
}

/// Parses a lockspace string `name:host_id:path:offset`.
pub fn parse_lockspace(text: &str) -> Result<LockspaceArg, NamesError> {
    let fields = split_fields(text)?;
    let mut fields = Fields::new(fields, LOCKSPACE_SYNTAX);
    let name = check_name(Field::LockspaceName, fields.next(Field::LockspaceName)?)?;
    let host_id = parse_decimal(Field::HostId, &fields.next(Field::HostId)?)?;
    let disk = parse_disk(&mut fields)?;
    fields.finish()?;
    Ok(LockspaceArg {
        name,
        host_id,
        disk,
    })
}

/// Parses a resource string `lockspace:resource:path:offset[:path2:offset2...][:lver|:SH]`.
pub fn parse_resource(text: &str) -> Result<ResourceArg, NamesError> {
    let fields = split_fields(text)?;
    let total = fields.len();
    let mut fields = Fields::new(fields, RESOURCE_SYNTAX);
    let lockspace = check_name(Field::LockspaceName, fields.next(Field::LockspaceName)?)?;
    let name = check_name(Field::ResourceName, fields.next(Field::ResourceName)?)?;
    let rest = total.saturating_sub(2);
    let (disk_count, has_suffix) = (rest / 2, rest % 2 == 1);
    if disk_count > DISKS_MAX {
        return Err(NamesError::TooManyDisks { count: disk_count });
    }
    let mut disks = Vec::with_capacity(disk_count.max(1));
    // At least one disk: with zero path/offset pairs the first missing field is the path.
    for _ in 0..disk_count.max(1) {
        disks.push(parse_disk(&mut fields)?);
    }
    let suffix = if has_suffix {
        let last = fields.next(Field::Lver)?;
        if last == "SH" {
            ResourceSuffix::Shared
        } else {
            ResourceSuffix::Lver(parse_decimal(Field::Lver, &last)?)
        }
    } else {
        ResourceSuffix::None
    };
    fields.finish()?;
    Ok(ResourceArg {
        lockspace,
        name,
        disks,
        suffix,
    })
}

/// Parses a rindex string `lockspace:path:offset`.
pub fn parse_rindex(text: &str) -> Result<RindexArg, NamesError> {
    let fields = split_fields(text)?;
    let mut fields = Fields::new(fields, RINDEX_SYNTAX);
    let lockspace = check_name(Field::LockspaceName, fields.next(Field::LockspaceName)?)?;
    let disk = parse_disk(&mut fields)?;
    fields.finish()?;
    Ok(RindexArg { lockspace, disk })
}

/// Parses a dump target `path[:offset[:size]]`. Offset and size accept decimal, `0x`
/// hexadecimal and an `M` (MiB) suffix; an empty or zero size means "no limit".
pub fn parse_dump_target(text: &str) -> Result<DumpTarget, NamesError> {
    let fields = split_fields(text)?;
    let mut fields = Fields::new(fields, DUMP_SYNTAX);
    let path = check_path(fields.next(Field::Path)?)?;
    let offset = match fields.next_optional() {
        None => 0,
        Some(t) if t.is_empty() => 0,
        Some(t) => parse_size(Field::Offset, &t, true)?,
    };
    let size = match fields.next_optional() {
        None => None,
        Some(t) if t.is_empty() => None,
        Some(t) => Some(parse_size(Field::Size, &t, true)?).filter(|&size| size != 0),
    };
    fields.finish()?;
    Ok(DumpTarget { path, offset, size })
}

/// Parses an offset as the lease strings spell it: decimal bytes, or decimal MiB with an `M`
/// suffix (`1M` = 1048576).
pub fn parse_offset(text: &str) -> Result<u64, NamesError> {
    parse_size(Field::Offset, text, false)
}

/// Checks a name given as text: 1..=48 bytes, no NUL. Returns it unchanged.
pub fn check_name(field: Field, name: String) -> Result<String, NamesError> {
    if name.is_empty() {
        return Err(NamesError::NameEmpty { field });
    }
    if name.contains('\0') {
        return Err(NamesError::NulByte { field });
    }
    if name.len() > NAME_LEN_MAX {
        return Err(NamesError::NameTooLong {
            field,
            len: name.len(),
            name,
        });
    }
    Ok(name)
}

fn check_path(path: String) -> Result<String, NamesError> {
    if path.is_empty() {
        return Err(NamesError::PathEmpty);
    }
    if path.contains('\0') {
        return Err(NamesError::NulByte { field: Field::Path });
    }
    if path.len() > PATH_LEN_MAX {
        return Err(NamesError::PathTooLong { len: path.len() });
    }
    Ok(path)
}

fn parse_disk(fields: &mut Fields) -> Result<Disk, NamesError> {
    let path = check_path(fields.next(Field::Path)?)?;
    let offset = parse_offset(&fields.next(Field::Offset)?)?;
    Ok(Disk { path, offset })
}

/// Decimal digits only (no sign, no `M`).
fn parse_decimal(field: Field, text: &str) -> Result<u64, NamesError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NamesError::BadNumber {
            field,
            text: text.to_owned(),
            expected: "decimal digits",
        });
    }
    text.parse::<u64>().map_err(|_| NamesError::NumberTooLarge {
        field,
        text: text.to_owned(),
    })
}

/// Decimal (or, with `allow_hex`, `0x` hexadecimal) with an optional `M` suffix.
fn parse_size(field: Field, text: &str, allow_hex: bool) -> Result<u64, NamesError> {
    let expected = if allow_hex {
        "decimal or 0x-hexadecimal bytes, or a number of MiB with an M suffix, e.g. 1M"
    } else {
        "decimal bytes, or a number of MiB with an M suffix, e.g. 1M"
    };
    let bad = || NamesError::BadNumber {
        field,
        text: text.to_owned(),
        expected,
    };
    let too_large = || NamesError::NumberTooLarge {
        field,
        text: text.to_owned(),
    };
    let (digits, mib) = match text.strip_suffix('M') {
        Some(digits) => (digits, true),
        None => (text, false),
    };
    let (digits, radix) = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) if allow_hex => (hex, 16),
        _ => (digits, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(bad());
    }
    let value = u64::from_str_radix(digits, radix).map_err(|_| too_large())?;
    if mib {
        value.checked_mul(MIB).ok_or_else(too_large)
    } else {
        Ok(value)
    }
}

/// Splits on unescaped colons and removes the escapes.
fn split_fields(text: &str) -> Result<Vec<String>, NamesError> {
    let mut fields = Vec::new();
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
    Ok(fields)
}

/// A cursor over split fields that reports the first missing one by name.
struct Fields {
    fields: std::vec::IntoIter<String>,
    syntax: &'static str,
}

impl Fields {
    fn new(fields: Vec<String>, syntax: &'static str) -> Fields {
        Fields {
            fields: fields.into_iter(),
            syntax,
        }
    }

    fn next(&mut self, field: Field) -> Result<String, NamesError> {
        self.fields.next().ok_or(NamesError::MissingField {
            field,
            syntax: self.syntax,
        })
    }

    fn next_optional(&mut self) -> Option<String> {
        self.fields.next()
    }

    fn finish(mut self) -> Result<(), NamesError> {
        match self.fields.next() {
            None => Ok(()),
            Some(extra) => Err(NamesError::ExtraField {
                extra,
                syntax: self.syntax,
            }),
        }
    }
}

/// Writes `text` with `\` and `:` escaped by a backslash.
fn write_escaped(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    for c in text.chars() {
        if c == ':' || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    Ok(())
}

impl fmt::Display for LockspaceArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, &self.name)?;
        write!(f, ":{}:{}", self.host_id, self.disk)
    }
}

impl fmt::Display for ResourceArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, &self.lockspace)?;
        f.write_str(":")?;
        write_escaped(f, &self.name)?;
        for disk in &self.disks {
            write!(f, ":{disk}")?;
        }
        match self.suffix {
            ResourceSuffix::None => Ok(()),
            ResourceSuffix::Lver(lver) => write!(f, ":{lver}"),
            ResourceSuffix::Shared => f.write_str(":SH"),
        }
    }
}

impl fmt::Display for RindexArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, &self.lockspace)?;
        write!(f, ":{}", self.disk)
    }
}

impl fmt::Display for DumpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, &self.path)?;
        write!(f, ":{}", self.offset)?;
        if let Some(size) = self.size {
            write!(f, ":{size}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(path: &str, offset: u64) -> Disk {
        Disk {
            path: path.to_owned(),
            offset,
        }
    }

    #[test]
    fn lockspace_parses_and_prints_back() {
        let ls = parse_lockspace("LS:1:/dev/sdb:1048576").expect("valid");
        assert_eq!(
            ls,
            LockspaceArg {
                name: "LS".into(),
                host_id: 1,
                disk: disk("/dev/sdb", 1 << 20),
            }
        );
        assert_eq!(ls.to_string(), "LS:1:/dev/sdb:1048576");
    }

    #[test]
    fn offsets_accept_decimal_and_mib_suffix() {
        for (text, offset) in [
            ("0", 0),
            ("512", 512),
            ("1M", MIB),
            ("16M", 16 * MIB),
            ("0M", 0),
            ("0010", 10),
        ] {
            assert_eq!(parse_offset(text), Ok(offset), "{text}");
        }
        // sanlock 3.8.5's lockspace parser reads "16M" as 168 MiB; we do not.
        let ls = parse_lockspace("LS:2:f.img:16M").expect("valid");
        assert_eq!(ls.disk.offset, 16 * MIB);
    }

    #[test]
    fn offsets_reject_what_sanlock_would_misread() {
        for text in [
            "", "abc", "512abc", "1.5M", "1m", "-512", "+5", "0x200", "M", "1MM", "1K",
        ] {
            assert!(
                matches!(
                    parse_offset(text),
                    Err(NamesError::BadNumber {
                        field: Field::Offset,
                        ..
                    })
                ),
                "{text:?} should be refused"
            );
        }
        assert_eq!(
            parse_offset("18446744073709551616"),
            Err(NamesError::NumberTooLarge {
                field: Field::Offset,
                text: "18446744073709551616".into()
            })
        );
        assert_eq!(
            parse_offset("17592186044416M"),
            Err(NamesError::NumberTooLarge {
                field: Field::Offset,
                text: "17592186044416M".into()
            })
        );
    }

    #[test]
    fn escaped_colons_stay_in_the_path() {
        let ls = parse_lockspace(r"LS:1:/dev/disk/by-path/pci-0000\:00\:1f.2:0").expect("valid");
        assert_eq!(ls.disk.path, "/dev/disk/by-path/pci-0000:00:1f.2");
        assert_eq!(
            ls.to_string(),
            r"LS:1:/dev/disk/by-path/pci-0000\:00\:1f.2:0"
        );
        let res = parse_resource(r"LS:R:a\:b:1M:c\\d:2M").expect("valid");
        assert_eq!(res.disks, vec![disk("a:b", MIB), disk(r"c\d", 2 * MIB)]);
        assert_eq!(res.to_string(), r"LS:R:a\:b:1048576:c\\d:2097152");
        // A backslash before any other character just makes it literal.
        assert_eq!(
            parse_lockspace(r"LS:1:a\b:0").expect("valid").disk.path,
            "ab"
        );
        // Names may carry escaped colons too, and print back escaped.
        let ls = parse_lockspace(r"L\:S:1:p:0").expect("valid");
        assert_eq!(ls.name, "L:S");
        assert_eq!(ls.to_string(), r"L\:S:1:p:0");
    }

    #[test]
    fn trailing_backslash_is_refused() {
        assert_eq!(
            parse_lockspace("LS:1:p:0\\"),
            Err(NamesError::TrailingBackslash)
        );
    }

    #[test]
    fn resource_with_one_to_four_disks() {
        let res = parse_resource("LS:res1:/dev/a:1M").expect("valid");
        assert_eq!(res.lockspace, "LS");
        assert_eq!(res.name, "res1");
        assert_eq!(res.disks, vec![disk("/dev/a", MIB)]);
        assert_eq!(res.suffix, ResourceSuffix::None);
        let four = "LS:r:a:0:b:1:c:2M:d:3";
        let res = parse_resource(four).expect("valid");
        assert_eq!(
            res.disks,
            vec![disk("a", 0), disk("b", 1), disk("c", 2 * MIB), disk("d", 3)]
        );
        assert_eq!(res.to_string(), "LS:r:a:0:b:1:c:2097152:d:3");
    }

    #[test]
    fn resource_trailing_lver_or_sh() {
        let res = parse_resource("LS:r:a:0:7").expect("valid");
        assert_eq!(res.suffix, ResourceSuffix::Lver(7));
        assert_eq!(res.to_string(), "LS:r:a:0:7");
        let res = parse_resource("LS:r:a:0:b:512:SH").expect("valid");
        assert_eq!(res.suffix, ResourceSuffix::Shared);
        assert_eq!(res.disks.len(), 2);
        assert_eq!(res.to_string(), "LS:r:a:0:b:512:SH");
        assert!(matches!(
            parse_resource("LS:r:a:0:sh"),
            Err(NamesError::BadNumber {
                field: Field::Lver,
                ..
            })
        ));
        assert!(matches!(
            parse_resource("LS:r:a:0:b:1:c:2:d:3:SH"),
            Ok(ResourceArg {
                suffix: ResourceSuffix::Shared,
                ..
            })
        ));
    }

    #[test]
    fn too_many_disks() {
        assert_eq!(
            parse_resource("LS:r:a:0:b:0:c:0:d:0:e:0"),
            Err(NamesError::TooManyDisks { count: 5 })
        );
        assert_eq!(
            parse_resource("LS:r:a:0:b:0:c:0:d:0:e:0:5"),
            Err(NamesError::TooManyDisks { count: 5 })
        );
    }

    #[test]
    fn missing_fields_are_named() {
        let missing = |text: &str| match parse_lockspace(text) {
            Err(NamesError::MissingField { field, .. }) => field,
            other => panic!("{text:?}: {other:?}"),
        };
        assert_eq!(missing("LS"), Field::HostId);
        assert_eq!(missing("LS:1"), Field::Path);
        assert_eq!(missing("LS:1:p"), Field::Offset);
        let missing = |text: &str| match parse_resource(text) {
            Err(NamesError::MissingField { field, .. }) => field,
            other => panic!("{text:?}: {other:?}"),
        };
        assert_eq!(missing("LS"), Field::ResourceName);
        assert_eq!(missing("LS:r"), Field::Path);
        assert_eq!(missing("LS:r:p"), Field::Offset);
        assert!(matches!(
            parse_rindex("LS:p"),
            Err(NamesError::MissingField {
                field: Field::Offset,
                ..
            })
        ));
    }

    #[test]
    fn extra_fields_are_refused() {
        assert_eq!(
            parse_lockspace("LS:1:p:0:extra"),
            Err(NamesError::ExtraField {
                extra: "extra".into(),
                syntax: LOCKSPACE_SYNTAX
            })
        );
        assert!(matches!(
            parse_rindex("LS:p:0:x"),
            Err(NamesError::ExtraField { .. })
        ));
        assert!(matches!(
            parse_dump_target("p:0:1:x"),
            Err(NamesError::ExtraField { .. })
        ));
    }

    #[test]
    fn names_longer_than_48_bytes_are_refused() {
        let n48 = "a".repeat(48);
        let n49 = "a".repeat(49);
        assert_eq!(
            parse_lockspace(&format!("{n48}:0:p:0"))
                .expect("48 fit")
                .name,
            n48
        );
        assert_eq!(
            parse_lockspace(&format!("{n49}:0:p:0")),
            Err(NamesError::NameTooLong {
                field: Field::LockspaceName,
                name: n49.clone(),
                len: 49
            })
        );
        assert!(matches!(
            parse_resource(&format!("LS:{n49}:p:0")),
            Err(NamesError::NameTooLong {
                field: Field::ResourceName,
                len: 49,
                ..
            })
        ));
        assert!(matches!(
            parse_resource(&format!("{n49}:r:p:0")),
            Err(NamesError::NameTooLong {
                field: Field::LockspaceName,
                ..
            })
        ));
        assert!(matches!(
            parse_rindex(&format!("{n49}:p:0")),
            Err(NamesError::NameTooLong {
                field: Field::LockspaceName,
                ..
            })
        ));
        // Multi-byte characters count in bytes.
        let wide = "é".repeat(25);
        assert!(matches!(
            parse_lockspace(&format!("{wide}:0:p:0")),
            Err(NamesError::NameTooLong { len: 50, .. })
        ));
        let message = parse_lockspace(&format!("{n49}:0:p:0"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("49 bytes") && message.contains("truncate"),
            "{message}"
        );
    }

    #[test]
    fn empty_names_are_refused() {
        assert_eq!(
            parse_lockspace(":0:p:0"),
            Err(NamesError::NameEmpty {
                field: Field::LockspaceName
            })
        );
        assert_eq!(
            parse_resource("LS::p:0"),
            Err(NamesError::NameEmpty {
                field: Field::ResourceName
            })
        );
        assert_eq!(
            check_name(Field::ResourceName, "a\0b".into()),
            Err(NamesError::NulByte {
                field: Field::ResourceName
            })
        );
    }

    #[test]
    fn paths_must_be_1_to_1023_bytes() {
        assert_eq!(parse_lockspace("LS:0::0"), Err(NamesError::PathEmpty));
        let p1023 = "p".repeat(1023);
        let p1024 = "p".repeat(1024);
        assert_eq!(
            parse_lockspace(&format!("LS:0:{p1023}:0"))
                .expect("fits")
                .disk
                .path
                .len(),
            1023
        );
        assert_eq!(
            parse_lockspace(&format!("LS:0:{p1024}:0")),
            Err(NamesError::PathTooLong { len: 1024 })
        );
        assert_eq!(
            parse_resource(&format!("LS:r:a:0:{p1024}:0")),
            Err(NamesError::PathTooLong { len: 1024 })
        );
    }

    #[test]
    fn host_id_and_lver_are_decimal() {
        for bad in ["x", "0x2", "-1", ""] {
            assert!(
                matches!(
                    parse_lockspace(&format!("LS:{bad}:p:0")),
                    Err(NamesError::BadNumber {
                        field: Field::HostId,
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_lockspace("LS:1M:p:0"),
            Err(NamesError::BadNumber {
                field: Field::HostId,
                ..
            })
        ));
        assert!(matches!(
            parse_resource("LS:r:p:0:99999999999999999999"),
            Err(NamesError::NumberTooLarge {
                field: Field::Lver,
                ..
            })
        ));
    }

    #[test]
    fn rindex_parses_and_prints_back() {
        let rx = parse_rindex("LS:/dev/a:1M").expect("valid");
        assert_eq!(
            rx,
            RindexArg {
                lockspace: "LS".into(),
                disk: disk("/dev/a", MIB)
            }
        );
        assert_eq!(rx.to_string(), "LS:/dev/a:1048576");
    }

    #[test]
    fn dump_target_like_sanlock() {
        let t = |text: &str| parse_dump_target(text).expect(text);
        assert_eq!(
            t("f.img"),
            DumpTarget {
                path: "f.img".into(),
                offset: 0,
                size: None
            }
        );
        assert_eq!(t("f.img:1M").offset, MIB);
        assert_eq!(t("f.img:0x100000").offset, MIB);
        assert_eq!(t("f.img:1M:2M").size, Some(2 * MIB));
        assert_eq!(t("f.img:1M:0").size, None);
        assert_eq!(t("f.img:1M:").size, None);
        assert_eq!(
            t("f.img::1M"),
            DumpTarget {
                path: "f.img".into(),
                offset: 0,
                size: Some(MIB)
            }
        );
        assert_eq!(t(r"d\:x.img:0").path, "d:x.img");
        assert_eq!(t("f.img:1M:512").to_string(), "f.img:1048576:512");
        assert!(matches!(
            parse_dump_target("f.img:abc"),
            Err(NamesError::BadNumber {
                field: Field::Offset,
                ..
            })
        ));
        assert!(matches!(
            parse_dump_target("f.img:0:2m"),
            Err(NamesError::BadNumber {
                field: Field::Size,
                ..
            })
        ));
        assert_eq!(parse_dump_target(":0"), Err(NamesError::PathEmpty));
    }

    #[test]
    fn display_round_trips() {
        for text in ["LS:0:/dev/sdb:0", r"a\:b:17:/x\\y\:z:512"] {
            let ls = parse_lockspace(text).expect(text);
            assert_eq!(parse_lockspace(&ls.to_string()), Ok(ls));
        }
        for text in ["LS:r:a:1M:b:2M:SH", r"L\:S:r\\:a\:b:0:5", "LS:r:a:0:0"] {
            let res = parse_resource(text).expect(text);
            assert_eq!(parse_resource(&res.to_string()), Ok(res));
        }
    }

    #[test]
    fn errors_read_well() {
        let e = parse_lockspace("LS:1:p").unwrap_err();
        assert_eq!(
            e.to_string(),
            "missing offset (expected name:host_id:path:offset)"
        );
        let e = parse_offset("12x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "offset \"12x\" is not a valid number (decimal bytes, or a number of MiB with an M \
             suffix, e.g. 1M)"
        );
        let e = parse_resource("LS:r:a:0:b:0:c:0:d:0:e:0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "5 disks given, a resource may have at most 4"
        );
    }
}
