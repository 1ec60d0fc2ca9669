//! Deterministic multi-host simulator for the lease protocols (see docs/ARCHITECTURE.md).
//!
//! The simulator runs the production `lease-core` [`Operation`](lease_core::seam::Operation)s,
//! unchanged, on simulated shared disks, clocks and hosts, all driven by one seeded PRNG, and
//! checks invariants against true time after every event. A seed replays a run exactly; a run
//! reports its seed and trace hash.
//!
//! Module map:
//! * [`world`]: the world, the event loop, the seam driver, the [`world::Workload`] trait;
//! * [`host`]: a simulated machine (clock, boots, pauses, path, running operations);
//! * [`io`]: the three-time I/O model (issue, land, complete) and path loss;
//! * [`disk`]: shared disks with sector-atomic landing and windowed reads;
//! * [`clock`]: true time and per-host drifting monotonic clocks;
//! * [`faults`]: the written fault model ([`faults::FaultOptions`]) and what the protocols
//!   claim to survive;
//! * [`queue`]: the deterministic event queue; [`rng`]: the seeded PRNG;
//! * [`trace`]: the hashed event trace; [`invariant`]: checkers and violation reports;
//! * [`workload`]: workloads: delta leases and Disk Paxos resource leases (lease-core,
//!   unchanged), a toy one that proves the machinery, and scripted operations for tests;
//! * [`runner`]: one seed or many in parallel threads, with throughput figures;
//! * [`mutations`]: the deliberate protocol bugs (`lease_core::mutations`) and how to hunt
//!   them; [`regressions`]: the list of seeds that once found something.
//!
//! **Architecture invariants:** no `HashMap`/`HashSet` (iteration order); no wall-clock
//! reads or sleeps in the simulation (only the runner measures wall time for reports); every
//! random draw comes from the world's single PRNG.

pub mod clock;
pub mod disk;
pub mod faults;
pub mod host;
pub mod ids;
pub mod invariant;
pub mod io;
pub mod mutations;
pub mod queue;
pub mod regressions;
pub mod rng;
pub mod runner;
pub mod trace;
pub mod workload;
pub mod world;
