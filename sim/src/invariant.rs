//! Invariant checkers: properties checked after every event, against true time.
//!
//! An [`Invariant`] names itself, cites where the property comes from (a paper section, the
//! sanlock man page, the format spec), and checks a [`WorldView`]: the world's true state
//! (true time, disk contents, host clocks and liveness) plus the workload's bookkeeping (who
//! believes it holds what). `check` takes `&mut self` so that a checker may remember history
//! (e.g. "generations only grow" keeps the last value seen).
//!
//! A failing check returns a [`Violation`]; the world fills in the invariant's name and
//! source, the seed, the true time, the trace hash and the last [`REPORT_TAIL_EVENTS`] trace
//! events, so the report reads without a debugger and names the seed that replays it.

use std::fmt;

use lease_core::seam::Operation;
use lease_core::time::MonoTime;

use crate::clock::TrueTime;
use crate::disk::SimDisk;
use crate::host::Host;
use crate::ids::{DiskId, HostIndex};
use crate::trace::TraceEvent;
use crate::world::{Core, Workload};

/// Trace events printed with a violation.
pub const REPORT_TAIL_EVENTS: usize = 30;

/// A property of the world checked after every event.
pub trait Invariant<W: Workload> {
    /// Short name, e.g. "host_id_exclusive".
    fn name(&self) -> &'static str;
    /// Where the property comes from (citation).
    fn source(&self) -> &'static str;
    /// `Err` if the property does not hold now.
    fn check(&mut self, view: &WorldView<'_, W>) -> Result<(), Box<Violation>>;
}

/// What invariants see: the true state of the world and the workload.
pub struct WorldView<'a, W: Workload> {
    pub(crate) core: &'a Core<W::Op>,
    pub(crate) workload: &'a W,
}

impl<W: Workload> fmt::Debug for WorldView<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorldView")
            .field("now", &self.core.now)
            .finish()
    }
}

impl<'a, W: Workload> WorldView<'a, W> {
    /// True time now.
    pub fn now(&self) -> TrueTime {
        self.core.now
    }

    pub fn workload(&self) -> &'a W {
        self.workload
    }

    pub fn host_count(&self) -> u32 {
        self.core.hosts.len() as u32
    }

    pub fn host(&self, host: HostIndex) -> &'a Host<W::Op> {
        &self.core.hosts[host.as_usize()]
    }

    /// `host`'s clock reading at true time now.
    pub fn local_now(&self, host: HostIndex) -> MonoTime
    where
        W::Op: Operation,
    {
        self.core.hosts[host.as_usize()].local_at(self.core.now)
    }

    pub fn disk(&self, disk: DiskId) -> &'a SimDisk {
        &self.core.disks[disk]
    }

    /// The host the last event concerned, if any (lets checkers work incrementally).
    pub fn last_event_host(&self) -> Option<HostIndex> {
        self.core.last_host
    }
}

/// A broken invariant, with enough context to understand it from the report alone.
#[derive(Clone, PartialEq, Eq)]
pub struct Violation {
    /// Filled in by the world.
    pub invariant: &'static str,
    /// Filled in by the world.
    pub source: &'static str,
    /// What went wrong, in one or two sentences.
    pub message: String,
    /// The hosts involved.
    pub hosts: Vec<HostIndex>,
    /// The lease or resource involved (e.g. "host_id 3" or "sector 7").
    pub lease: String,
    /// Filled in by the world: when.
    pub at: TrueTime,
    /// Filled in by the world.
    pub seed: u64,
    /// Filled in by the world: trace hash at the violation.
    pub trace_hash: u64,
    /// Filled in by the world: the last trace events, oldest first.
    pub trace_tail: Vec<TraceEvent>,
}

impl Violation {
    /// A violation about `lease` involving `hosts`; the world fills in the rest.
    pub fn new(
        message: impl Into<String>,
        hosts: Vec<HostIndex>,
        lease: impl Into<String>,
    ) -> Box<Self> {
        Box::new(Violation {
            invariant: "",
            source: "",
            message: message.into(),
            hosts,
            lease: lease.into(),
            at: TrueTime::ZERO,
            seed: 0,
            trace_hash: 0,
            trace_tail: Vec::new(),
        })
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "INVARIANT VIOLATED: {}", self.invariant)?;
        writeln!(f, "  source:  {}", self.source)?;
        writeln!(f, "  what:    {}", self.message)?;
        let hosts: Vec<String> = self.hosts.iter().map(|h| h.to_string()).collect();
        writeln!(f, "  hosts:   {}", hosts.join(", "))?;
        writeln!(f, "  lease:   {}", self.lease)?;
        writeln!(f, "  at:      {} (true time)", self.at)?;
        writeln!(
            f,
            "  replay:  seed {} (trace hash {:016x})",
            self.seed, self.trace_hash
        )?;
        writeln!(f, "  last {} trace events:", self.trace_tail.len())?;
        for ev in &self.trace_tail {
            writeln!(f, "    {ev}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
