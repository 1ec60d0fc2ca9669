//! [`FixedStr`]: a C `char[N]` field kept byte for byte ([`Name`], [`Path`], [`HelperStr`]).
//!
//! The daemon copies names and paths with C string functions and sends whole structs, so the
//! bytes after the first NUL are not always zero (and a 48-byte name may have no NUL at all:
//! `sanlock.h` says "terminating \0 not required" for names). Keeping the raw array makes
//! every decode/encode round trip byte-exact; [`FixedStr::as_bytes`] gives the C-string view.

use std::fmt;

use crate::consts::{HELPER_PATH_LEN, NAME_LEN, PATH_LEN};

/// A fixed-size C character array, stored raw.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FixedStr<const N: usize>(pub [u8; N]);

/// `char name[SANLK_NAME_LEN]` (48): lockspace, resource, owner and rentry names.
pub type Name = FixedStr<NAME_LEN>;
/// `char path[SANLK_PATH_LEN]` (1024): disk paths.
pub type Path = FixedStr<PATH_LEN>;
/// `char path[SANLK_HELPER_PATH_LEN]` (128): killpath program and arguments.
pub type HelperStr = FixedStr<HELPER_PATH_LEN>;

impl<const N: usize> FixedStr<N> {
    /// Size of the field.
    pub const LEN: usize = N;

    /// All zeros (the empty string).
    pub const fn zeroed() -> Self {
        FixedStr([0u8; N])
    }

    /// The field exactly as received.
    pub const fn from_raw(raw: [u8; N]) -> Self {
        FixedStr(raw)
    }

    /// `s` zero-padded to `N` bytes. `None` if `s` is longer than `N` or contains a NUL.
    /// A string of exactly `N` bytes has no terminating NUL (valid for names, not for paths:
    /// see [`FixedStr::is_terminated`]).
    pub fn new(s: &[u8]) -> Option<Self> {
        if s.len() > N || s.contains(&0) {
            return None;
        }
        let mut a = [0u8; N];
        a[..s.len()].copy_from_slice(s);
        Some(FixedStr(a))
    }

    /// The C-string view: the bytes before the first NUL (all `N` bytes if there is none).
    pub fn as_bytes(&self) -> &[u8] {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(N);
        &self.0[..end]
    }

    /// The raw field.
    pub fn raw(&self) -> &[u8; N] {
        &self.0
    }

    /// Whether the field contains a NUL (required for paths, optional for names).
    pub fn is_terminated(&self) -> bool {
        self.0.contains(&0)
    }

    /// Whether the C string is empty.
    pub fn is_empty(&self) -> bool {
        self.0[0] == 0
    }

    /// Whether any byte after the C string's terminating NUL is non-zero (uninitialised
    /// memory sent by the daemon; carried so that re-encoding is exact).
    pub fn has_trailing_garbage(&self) -> bool {
        let s = self.as_bytes().len();
        s < N && self.0[s + 1..].iter().any(|&b| b != 0)
    }

    /// The C string, lossily decoded as UTF-8.
    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(self.as_bytes()).into_owned()
    }
}

impl<const N: usize> Default for FixedStr<N> {
    fn default() -> Self {
        Self::zeroed()
    }
}

impl<const N: usize> fmt::Debug for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string_lossy())?;
        if !self.is_terminated() {
            write!(f, "<no NUL>")?;
        } else if self.has_trailing_garbage() {
            write!(f, "<+garbage>")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_string_view() {
        let n = Name::new(b"LS").unwrap();
        assert_eq!(n.as_bytes(), b"LS");
        assert!(n.is_terminated());
        assert!(!n.has_trailing_garbage());
        let full = Name::new(&[b'x'; 48]).unwrap();
        assert_eq!(full.as_bytes().len(), 48);
        assert!(!full.is_terminated());
        assert!(Name::new(&[b'x'; 49]).is_none());
        assert!(Name::new(b"a\0b").is_none());
        let mut g = Name::new(b"ab").unwrap();
        g.0[10] = 7;
        assert!(g.has_trailing_garbage());
        assert_eq!(format!("{g:?}"), "\"ab\"<+garbage>");
        assert!(Name::zeroed().is_empty());
    }
}
