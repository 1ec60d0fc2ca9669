//! Lockspace, resource and host names: fixed 48-byte NUL-padded fields (spec §2.1, §7).
//!
//! Layout: the name bytes followed by NUL padding up to 48 bytes. A name that uses all 48
//! bytes has no terminator. Bytes after the first NUL are not part of the name; sanlock
//! compares names with `strncmp(a, b, 48)`, which is [`Name::matches`]. Derived equality
//! (`==`) compares all 48 bytes and is what round-trip tests need.
//!
//! Invariants: [`Name::new`] only builds names of at most 48 bytes without interior NUL, so they
//! round-trip through [`Name::as_str_lossy`]. [`Name::from_bytes`] accepts any 48 bytes
//! (whatever is on disk).

use std::fmt;

/// Size of every on-disk name field (`SANLK_NAME_LEN`).
pub const NAME_LEN: usize = 48;

/// A 48-byte NUL-padded name field.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Name([u8; NAME_LEN]);

/// Errors from building a [`Name`] from caller-supplied text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Longer than 48 bytes.
    #[error("name is {len} bytes long, the maximum is 48")]
    TooLong {
        /// Length of the rejected name in bytes.
        len: usize,
    },
    /// Contains a NUL byte, which would truncate it on disk.
    #[error("name contains a NUL byte at position {position}")]
    InteriorNul {
        /// Byte index of the first NUL.
        position: usize,
    },
}

impl Name {
    /// The empty name (48 NUL bytes).
    pub const EMPTY: Name = Name([0; NAME_LEN]);

    /// Builds a name from text: at most 48 bytes, no NUL.
    pub fn new(text: &str) -> Result<Name, NameError> {
        Name::from_slice(text.as_bytes())
    }

    /// Builds a name from raw bytes with the same rules as [`Name::new`].
    pub fn from_slice(bytes: &[u8]) -> Result<Name, NameError> {
        if bytes.len() > NAME_LEN {
            return Err(NameError::TooLong { len: bytes.len() });
        }
        if let Some(position) = bytes.iter().position(|&byte| byte == 0) {
            return Err(NameError::InteriorNul { position });
        }
        let mut field = [0u8; NAME_LEN];
        field[..bytes.len()].copy_from_slice(bytes);
        Ok(Name(field))
    }

    /// Builds a name in a `const` context (compile-time panic if the text is invalid).
    pub(crate) const fn from_const(text: &[u8]) -> Name {
        assert!(text.len() <= NAME_LEN, "name longer than 48 bytes");
        let mut field = [0u8; NAME_LEN];
        let mut index = 0;
        while index < text.len() {
            assert!(text[index] != 0, "name contains NUL");
            field[index] = text[index];
            index += 1;
        }
        Name(field)
    }

    /// Wraps a raw on-disk field; accepts any bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; NAME_LEN]) -> Name {
        Name(bytes)
    }

    /// The raw 48-byte field.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; NAME_LEN] {
        &self.0
    }

    /// The name bytes up to (not including) the first NUL, or all 48 bytes.
    #[must_use]
    pub fn trimmed(&self) -> &[u8] {
        let end = self
            .0
            .iter()
            .position(|&byte| byte == 0)
            .unwrap_or(NAME_LEN);
        &self.0[..end]
    }

    /// Whether the name is empty (first byte NUL).
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.0[0] == 0
    }

    /// sanlock's name comparison: `strncmp(self, other, 48) == 0`, i.e. equal up to the first
    /// NUL; bytes after it are ignored.
    #[must_use]
    pub fn matches(&self, other: &Name) -> bool {
        self.trimmed() == other.trimmed()
    }

    /// The name as text (bytes up to the first NUL, invalid UTF-8 replaced).
    #[must_use]
    pub fn as_str_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.trimmed())
    }
}

impl Default for Name {
    fn default() -> Name {
        Name::EMPTY
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str_lossy())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let trailing_garbage = self.0[self.trimmed().len()..].iter().any(|&byte| byte != 0);
        if trailing_garbage {
            write!(
                f,
                "Name({:?}, raw {:02x?})",
                self.as_str_lossy(),
                &self.0[..]
            )
        } else {
            write!(f, "Name({:?})", self.as_str_lossy())
        }
    }
}

impl TryFrom<&str> for Name {
    type Error = NameError;

    fn try_from(text: &str) -> Result<Name, NameError> {
        Name::new(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_pads_with_nul() {
        let name = Name::new("LS1").expect("short name");
        assert_eq!(&name.as_bytes()[..4], b"LS1\0");
        assert_eq!(name.to_string(), "LS1");
        assert!(!name.is_empty());
        assert!(Name::EMPTY.is_empty());
    }

    #[test]
    fn full_length_name_has_no_terminator() {
        let text = "x".repeat(48);
        let name = Name::new(&text).expect("48 bytes fit");
        assert_eq!(name.trimmed().len(), 48);
        assert_eq!(name.to_string(), text);
        assert_eq!(
            Name::new(&"x".repeat(49)),
            Err(NameError::TooLong { len: 49 })
        );
    }

    #[test]
    fn interior_nul_is_rejected() {
        assert_eq!(
            Name::new("a\0b"),
            Err(NameError::InteriorNul { position: 1 })
        );
    }

    #[test]
    fn matches_ignores_bytes_after_nul() {
        let mut raw = [0u8; NAME_LEN];
        raw[..3].copy_from_slice(b"LS1");
        raw[10] = 0xff;
        let dirty = Name::from_bytes(raw);
        let clean = Name::new("LS1").expect("short name");
        assert!(dirty.matches(&clean));
        assert_ne!(dirty, clean);
        assert!(!clean.matches(&Name::new("LS10").expect("short name")));
    }

    #[test]
    fn display_is_lossy() {
        let mut raw = [0u8; NAME_LEN];
        raw[0] = b'a';
        raw[1] = 0xff;
        assert_eq!(Name::from_bytes(raw).to_string(), "a\u{fffd}");
    }
}
