//! Small identifier types shared by the simulator's modules.
//!
//! A [`HostIndex`] names a simulated machine (0-based position in the world). It is *not* a
//! sanlock host_id: two machines may be (mis)configured with the same host_id, and that is
//! exactly what some workloads test.

use std::fmt;

/// A simulated machine, 0-based.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostIndex(pub u32);

impl HostIndex {
    pub fn as_usize(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Debug for HostIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "h{}", self.0)
    }
}

impl fmt::Display for HostIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// An operation running on a host; unique within the whole run (never reused).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct TaskId(pub u64);

/// One issued I/O; unique within the whole run.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct IoId(pub u64);

/// A simulated disk, 0-based position in the world.
pub type DiskId = usize;
