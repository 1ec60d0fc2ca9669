//! sanlock-compatible on-disk format and lease protocols as pure, deterministic logic.
//!
//! **Architecture invariant:** this crate never performs I/O, never reads a clock, never
//! sleeps, never spawns a thread and never draws a random number. Time and storage are
//! supplied from outside through [`seam`]; the daemon and the simulator drive the same code.
//! See `docs/ARCHITECTURE.md`.

// Operation states are enums with one value per running operation: boxing the large variants
// would add allocations for no memory saved.
#![allow(clippy::large_enum_variant)]

pub mod checksum;
pub mod delta_lease;
pub mod fence;
pub mod geometry;
pub mod guard;
pub mod host_table;
pub mod mutations;
pub mod names;
pub mod ondisk;
pub mod paxos_lease;
pub mod request;
pub mod rindex;
pub mod seam;
pub mod testing;
pub mod time;
pub mod timeouts;
