//! Resource strings: the `INQUIRE` reply's state string and libsanlock's
//! `sanlock_res_to_str`/`sanlock_str_to_res` format, which the daemon and clients exchange
//! as text.
//!
//! ```text
//! <lockspace>:<resource>:<path>:<offset>[:<path>:<offset>...]:<lver | SH>
//! ```
//!
//! Resources in an inquire state are separated by one space and the whole string is
//! NUL-terminated (observed: `LS:R1:/dev/x:1048576:1 LS:R2:/dev/x:2097152:SH\0`, reply `data2`
//! = the number of resources). Paths are "exported": `:` and space are escaped with a
//! backslash (`sanlock_path_export`; importing drops every backslash and keeps the next
//! byte). Names are not escaped, exactly like libsanlock (a name containing `:` cannot be
//! parsed back). The last field is `SH` for `SANLK_RES_SHARED`, else the lver in decimal;
//! parsing sets `SANLK_RES_SHARED` or `SANLK_RES_LVER` accordingly.

use crate::consts::{MAX_DISKS, SANLK_RES_LVER, SANLK_RES_SHARED};
use crate::fixed::{Name, Path};
use crate::structs::{Disk, Resource, ResourceWithDisks};

/// A malformed resource string.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResStrError {
    /// Not `ls:res:path:offset[:path:offset...]:lver` (wrong number of fields).
    #[error("malformed resource string: wrong number of fields ({0})")]
    Fields(usize),
    /// A name over 48 bytes or a path of 1024 bytes or more.
    #[error("name or path too long")]
    TooLong,
    /// More than [`MAX_DISKS`] disks.
    #[error("more than 4 disks")]
    TooManyDisks,
    /// An offset or lver that is not a decimal u64.
    #[error("bad number")]
    BadNumber,
}

/// Escapes `:` and space with a backslash (`sanlock_path_export`).
pub fn path_export(path: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(path.len());
    for &b in path {
        if b == b':' || b == b' ' {
            v.push(b'\\');
        }
        v.push(b);
    }
    v
}

/// Drops each backslash and keeps the byte after it (`sanlock_path_import`).
pub fn path_import(s: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len());
    let mut esc = false;
    for &b in s {
        if b == b'\\' && !esc {
            esc = true;
            continue;
        }
        esc = false;
        v.push(b);
    }
    v
}

/// `sanlock_res_to_str`: one resource as text (no NUL).
pub fn format_resource(r: &ResourceWithDisks) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(r.res.lockspace_name.as_bytes());
    v.push(b':');
    v.extend_from_slice(r.res.name.as_bytes());
    for d in &r.disks {
        v.push(b':');
        v.extend(path_export(d.path.as_bytes()));
        v.push(b':');
        v.extend_from_slice(d.offset.to_string().as_bytes());
    }
    v.push(b':');
    if r.res.flags & SANLK_RES_SHARED != 0 {
        v.extend_from_slice(b"SH");
    } else {
        v.extend_from_slice(r.res.lver.to_string().as_bytes());
    }
    v
}

/// The `INQUIRE` reply state: resources separated by spaces, NUL-terminated. (With no
/// resources the string is just the NUL.)
pub fn format_inquire(resources: &[ResourceWithDisks]) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, r) in resources.iter().enumerate() {
        if i > 0 {
            v.push(b' ');
        }
        v.extend(format_resource(r));
    }
    v.push(0);
    v
}

/// Splits on `sep` where it is not escaped by a backslash.
fn split_unescaped(s: &[u8], sep: u8) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut esc = false;
    for (i, &b) in s.iter().enumerate() {
        if esc {
            esc = false;
        } else if b == b'\\' {
            esc = true;
        } else if b == sep {
            out.push(&s[start..i]);
            start = i + 1;
        }
    }
    out.push(&s[start..]);
    out
}

fn number(s: &[u8]) -> Result<u64, ResStrError> {
    std::str::from_utf8(s)
        .ok()
        .filter(|t| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()))
        .and_then(|t| t.parse().ok())
        .ok_or(ResStrError::BadNumber)
}

/// Parses one resource string as the daemon writes it in inquire states (lver or `SH`
/// always present). `num_disks` is set, `SANLK_RES_SHARED` or `SANLK_RES_LVER` set in
/// `flags`.
pub fn parse_resource(s: &[u8]) -> Result<ResourceWithDisks, ResStrError> {
    let f = split_unescaped(s, b':');
    if f.len() < 5 || f.len().is_multiple_of(2) {
        return Err(ResStrError::Fields(f.len()));
    }
    let ndisks = (f.len() - 3) / 2;
    if ndisks > MAX_DISKS as usize {
        return Err(ResStrError::TooManyDisks);
    }
    let mut res = Resource {
        lockspace_name: Name::new(f[0]).ok_or(ResStrError::TooLong)?,
        name: Name::new(f[1]).ok_or(ResStrError::TooLong)?,
        ..Resource::default()
    };
    let mut disks = Vec::with_capacity(ndisks);
    for i in 0..ndisks {
        let p = path_import(f[2 + 2 * i]);
        if p.len() >= crate::consts::PATH_LEN {
            return Err(ResStrError::TooLong);
        }
        let path = Path::new(&p).ok_or(ResStrError::TooLong)?;
        disks.push(Disk::new(path, number(f[3 + 2 * i])?));
    }
    let last = f[f.len() - 1];
    if last == b"SH" {
        res.flags |= SANLK_RES_SHARED;
    } else {
        res.lver = number(last)?;
        res.flags |= SANLK_RES_LVER;
    }
    Ok(ResourceWithDisks::new(res, disks))
}

/// Parses an `INQUIRE` reply state (trailing NUL optional; an empty state is no resources).
pub fn parse_inquire(state: &[u8]) -> Result<Vec<ResourceWithDisks>, ResStrError> {
    let s = match state.iter().position(|&b| b == 0) {
        Some(n) => &state[..n],
        None => state,
    };
    if s.is_empty() {
        return Ok(Vec::new());
    }
    split_unescaped(s, b' ')
        .into_iter()
        .map(parse_resource)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_import_like_libsanlock() {
        // Values from libsanlock 3.8.5's sanlock_path_export / sanlock_path_import.
        assert_eq!(path_export(b"/a:b"), b"/a\\:b");
        assert_eq!(path_export(b"/a b"), b"/a\\ b");
        assert_eq!(path_export(b"/a\\b"), b"/a\\b");
        assert_eq!(path_import(b"/a\\b"), b"/ab");
        assert_eq!(path_import(b"/x\\:y"), b"/x:y");
    }

    #[test]
    fn res_to_str_like_libsanlock() {
        // sanlock_res_to_str gave "L:S:R 1:/p\:q:5:/z:1048576:7" and ...:SH for shared.
        let mut r = ResourceWithDisks::new(
            Resource {
                lockspace_name: Name::new(b"L:S").unwrap(),
                name: Name::new(b"R 1").unwrap(),
                lver: 7,
                ..Resource::default()
            },
            vec![
                Disk::new(Path::new(b"/p:q").unwrap(), 5),
                Disk::new(Path::new(b"/z").unwrap(), 1048576),
            ],
        );
        assert_eq!(
            format_resource(&r),
            b"L:S:R 1:/p\\:q:5:/z:1048576:7".to_vec()
        );
        r.res.flags = SANLK_RES_SHARED;
        assert_eq!(
            format_resource(&r),
            b"L:S:R 1:/p\\:q:5:/z:1048576:SH".to_vec()
        );
    }

    #[test]
    fn parse_round_trip() {
        let s = b"LS:R1:/d\\:x:1048576:1 LS:R2:/d:2097152:SH\0";
        let v = parse_inquire(s).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].disks[0].path.as_bytes(), b"/d:x");
        assert_eq!(v[0].res.lver, 1);
        assert_eq!(v[0].res.flags, SANLK_RES_LVER);
        assert_eq!(v[1].res.flags, SANLK_RES_SHARED);
        assert_eq!(format_inquire(&v), s.to_vec());
        assert_eq!(parse_inquire(b"\0").unwrap(), vec![]);
        assert_eq!(parse_resource(b"LS:R1:/d:1"), Err(ResStrError::Fields(4)));
        assert_eq!(parse_resource(b"LS:R1:/d:x:1"), Err(ResStrError::BadNumber));
    }
}
