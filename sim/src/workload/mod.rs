//! Workloads: what the simulated hosts do.
//!
//! * [`toy`]: every host writes its own two-sector slot, sleeps, and reads its slot and its
//!   neighbour's back; proves the I/O model, faults and checkers before the real protocols.
//! * [`delta`]: lease-core's delta leases (acquire, renew, release host_ids) with a simulated
//!   watchdog, and the `host_id_exclusive` and `generations_grow` checkers.
//! * [`paxos`]: lease-core's Disk Paxos resource leases (exclusive, shared, conversions,
//!   handover with an expected lver) on top of the delta membership, with the
//!   `exclusive_owner`, `lver_monotonic`, `leader_lver_on_disk`, `handover_version` and
//!   `liveness_bound` checkers.
//! * [`script`]: a scripted operation and a passive workload for the simulator's own tests.

pub mod delta;
pub mod paxos;
pub mod script;
pub mod toy;
