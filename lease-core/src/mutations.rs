//! Deliberate protocol bugs, switched on one at a time by the simulator to prove that its
//! checkers find them ("teeth" tests, `sim/tests/t30_mutations.rs`).
//!
//! Each [`Mutation`] names one bug planted behind an `if crate::mutations::active(..)` hook at
//! the exact spot of the protocol code it breaks. Without the cargo feature `mutations`,
//! [`active`] is a `const fn` returning `false`: every hook is dead code the compiler removes,
//! so a daemon build carries no trace of them. Only the simulator enables the feature
//! (`sim/Cargo.toml`: `mutations = ["lease-core/mutations"]`); `lease-cli` and `lease-daemon`
//! never do.
//!
//! With the feature, the switch is one process-global atomic ([`set_active`]): the simulator
//! sets it before running seeds, so every thread of a run sees the same bug. Tests that flip it
//! must not run concurrently with tests that expect another setting.

/// A deliberate bug (see the module docs). The discriminants are the switch's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Mutation {
    /// `DeltaAcquire` claims a held host_id without the liveness wait
    /// (`max(host_dead, 8·io)`) and reads back without the `2·io` short delay (spec §4.2
    /// steps 4 and 6).
    SkipDeltaWait = 1,
    /// `PaxosAcquire` phase 1 ignores what it read of the other hosts' dblocks: no abort on a
    /// larger lver or mbal, no adoption of the accepted value with the largest bal (spec §5.4
    /// step 2; Disk Paxos phase 1).
    SkipPhase1Read = 2,
    /// `PaxosAcquire` judges a silent owner dead after `8·io` (its id_renewal_fail_seconds)
    /// instead of host_dead_seconds (spec §5.3 step f).
    ShortOwnerWait = 3,
    /// The write fence (`crate::fence`) admits every I/O: a lease area is written (and read)
    /// while an earlier write of this host to it may still land (simulator findings A, B).
    NoWriteFence = 4,
    /// The lockspace deadline guard (`crate::guard::check`) lets every batch through: a
    /// resource operation issues I/O after its lockspace's fail deadline (an acquire paused
    /// before its leader write, resumed after the others took the lease).
    NoDeadlineGuard = 5,
    /// `DeltaAcquire` is not fenced on our slot, and the owner liveness check (spec §5.3)
    /// takes a released delta lease of an older generation than the leader's owner as free:
    /// the code before finding L was fixed (a late release of ours lands over our re-join).
    NoDeltaFence = 6,
}

impl Mutation {
    /// Every mutation, in discriminant order.
    pub const ALL: [Mutation; 6] = [
        Mutation::SkipDeltaWait,
        Mutation::SkipPhase1Read,
        Mutation::ShortOwnerWait,
        Mutation::NoWriteFence,
        Mutation::NoDeadlineGuard,
        Mutation::NoDeltaFence,
    ];

    /// The kebab-case name used on command lines.
    pub const fn name(self) -> &'static str {
        match self {
            Mutation::SkipDeltaWait => "skip-delta-wait",
            Mutation::SkipPhase1Read => "skip-phase1-read",
            Mutation::ShortOwnerWait => "short-owner-wait",
            Mutation::NoWriteFence => "no-write-fence",
            Mutation::NoDeadlineGuard => "no-deadline-guard",
            Mutation::NoDeltaFence => "no-delta-fence",
        }
    }

    /// One line on what the bug does.
    pub const fn description(self) -> &'static str {
        match self {
            Mutation::SkipDeltaWait => {
                "delta acquire joins a held host_id without the liveness wait and the 2*io \
                 re-read delay"
            }
            Mutation::SkipPhase1Read => {
                "Disk Paxos phase 1 ignores the other hosts' dblocks (no abort, no bk_max)"
            }
            Mutation::ShortOwnerWait => {
                "paxos acquire judges a silent owner dead after 8*io instead of \
                 host_dead_seconds"
            }
            Mutation::NoWriteFence => {
                "the write fence admits every I/O: a lease area is written while an earlier \
                 write of ours to it may still land"
            }
            Mutation::NoDeadlineGuard => {
                "the lockspace deadline guard admits every batch: resource-lease writes are \
                 issued after our lockspace's fail deadline"
            }
            Mutation::NoDeltaFence => {
                "a re-join is not fenced behind our late delta-lease writes, and a released \
                 delta lease of an older generation frees the owner's resource leases"
            }
        }
    }

    /// The mutation called `name`, if any.
    pub fn from_name(name: &str) -> Option<Mutation> {
        Mutation::ALL.into_iter().find(|m| m.name() == name)
    }
}

#[cfg(feature = "mutations")]
static ACTIVE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Switch `mutation` on (and every other one off), or all off with `None`.
#[cfg(feature = "mutations")]
pub fn set_active(mutation: Option<Mutation>) {
    let value = mutation.map_or(0, |m| m as u8);
    ACTIVE.store(value, std::sync::atomic::Ordering::SeqCst);
}

/// The mutation currently switched on.
#[cfg(feature = "mutations")]
pub fn current() -> Option<Mutation> {
    let value = ACTIVE.load(std::sync::atomic::Ordering::SeqCst);
    Mutation::ALL.into_iter().find(|m| *m as u8 == value)
}

/// Whether the bug `mutation` is switched on.
#[cfg(feature = "mutations")]
#[inline]
pub fn active(mutation: Mutation) -> bool {
    ACTIVE.load(std::sync::atomic::Ordering::Relaxed) == mutation as u8
}

/// Whether the bug `mutation` is switched on: never, without the `mutations` feature.
#[cfg(not(feature = "mutations"))]
#[inline(always)]
pub const fn active(mutation: Mutation) -> bool {
    let _ = mutation;
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_nothing_is_active_by_default() {
        for m in Mutation::ALL {
            assert_eq!(Mutation::from_name(m.name()), Some(m));
            assert!(!active(m));
        }
        assert_eq!(Mutation::from_name("no-such-bug"), None);
    }
}
