//! The lockspace deadline guard: no I/O of a resource-lease operation is issued at or after
//! the fail deadline of the lockspace membership it acts under.
//!
//! Other hosts take our resource leases once they have not seen our delta lease renewed for
//! `host_dead_seconds = 8·io + watchdog fire_timeout` (spec §3, §5.3 step f); we stop at our
//! *fail deadline*, `last successful renewal + id_renewal_fail_seconds (8·io)`
//! ([`HeldDeltaLease::fail_deadline`]), and the watchdog covers the rest (spec §8). That
//! premise only holds if nothing we write to a lease area is *issued* after the fail
//! deadline: an acquire paused between reading its phase-2 dblocks and writing its leader, or
//! a release paused before its RELEASED dblock, would otherwise write, on resume, over a lease
//! that other hosts have rightly taken from us meanwhile (simulator seed 605983759 under
//! `pauses`: a leader of lver 42 written over lver 43).
//!
//! The deadline moves forward with every renewal, so it cannot be captured when an operation
//! starts: the driver reads the membership ([`Membership`]) of the operation's lockspace at
//! issue time and asks [`check`] right before issuing each batch, as it asks the write fence
//! (`crate::fence`; seam contract rule 7). A refused batch is not issued at all: every I/O of it
//! is reported [`REFUSED`] (`-ENOSPC`, sanlock's number for a lockspace that is failing), and the
//! operation fails through its own error paths (an acquire never grants on a refused I/O; one
//! that wrote phase-2 state runs its erase-all retract, whose I/O is refused in turn: nothing
//! more is written, and the lease expires with our generation as every lease of a failed
//! lockspace does). Starting a resource operation is refused the same way ([`may_start`]).
//!
//! Which operations are bound: those whose [`Operation::lockspace_generation`] is `Some`: the
//! Disk Paxos acquire, release and conversions (`paxos_lease`) and the request writer
//! (`request::PaxosRequest`). An operation of another generation than the membership's is
//! refused too: its generation may already be judged dead.
//!
//! **Invariant:** a driver issues an I/O of a bound operation only at a local time `now` with a
//! [`Permit`] from [`check`] that [`Permit::covers`] `now`: the membership is live, of the
//! operation's generation, and `now < fail_deadline`. Refusals are reads too: an operation
//! past the deadline learns nothing it could act on, and ends at once instead of keeping the
//! watchdog armed.
//!
//! [`HeldDeltaLease::fail_deadline`]: crate::delta_lease::HeldDeltaLease::fail_deadline
//! [`Operation::lockspace_generation`]: crate::seam::Operation::lockspace_generation

use std::fmt;

use crate::delta_lease::HeldDeltaLease;
use crate::seam::{IoFailure, IoOutcome};
use crate::time::MonoTime;

/// errno of a refused I/O and of a refused start (sanlock: -ENOSPC for a failing lockspace).
pub const ENOSPC: i32 = 28;

/// The outcome reported for every I/O of a refused batch (never issued).
pub const REFUSED: IoOutcome = IoOutcome::Failed(IoFailure::Error { errno: ENOSPC });

/// The lockspace membership of this host, as the driver knows it at issue time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Membership {
    /// Joined and renewing as `generation`; lost at `fail_deadline` unless renewed first.
    Live {
        generation: u64,
        fail_deadline: MonoTime,
    },
    /// Not joined, joining, failed, or being removed.
    Gone,
}

impl Membership {
    /// The membership of a live lockspace holding `lease` (`live`: the lockspace is renewing,
    /// not failed or being removed).
    pub fn of(lease: Option<&HeldDeltaLease>, live: bool) -> Membership {
        match lease {
            Some(lease) if live => Membership::Live {
                generation: lease.generation,
                fail_deadline: lease.fail_deadline(),
            },
            _ => Membership::Gone,
        }
    }
}

/// Why an operation may not start or issue I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The lockspace is not live (failed, not joined, being removed).
    Gone,
    /// Local time `now` is at or past the fail deadline.
    Expired {
        now: MonoTime,
        fail_deadline: MonoTime,
    },
    /// The operation acts under generation `ours`; the lockspace now holds `current`.
    OtherGeneration { ours: u64, current: u64 },
}

impl Refusal {
    /// sanlock's result number for it: -ENOSPC.
    pub const fn sanlock_errno(&self) -> i32 {
        -ENOSPC
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Gone => write!(f, "the lockspace is not live"),
            Refusal::Expired { now, fail_deadline } => write!(
                f,
                "our lockspace lease may have expired: now {} ms, fail deadline {} ms",
                now.as_millis(),
                fail_deadline.as_millis()
            ),
            Refusal::OtherGeneration { ours, current } => write!(
                f,
                "the operation's generation {ours} is no longer the lockspace's ({current})"
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// Leave to issue I/O of one operation, up to (excluding) a local time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permit {
    /// `None`: the operation is not bound to a lockspace (any time).
    until: Option<MonoTime>,
}

impl Permit {
    /// The permit of an operation bound to no lockspace.
    pub const UNBOUND: Permit = Permit { until: None };

    /// True if I/O may be issued under this permit at local time `now`.
    pub fn covers(&self, now: MonoTime) -> bool {
        self.until.is_none_or(|until| now < until)
    }

    /// The local time from which this permit no longer covers anything.
    pub fn until(&self) -> Option<MonoTime> {
        self.until
    }
}

/// May a resource operation start in a lockspace of `membership` at local time `now`? The
/// lockspace must be live and `now` before its fail deadline (spec §5: -ENOSPC otherwise).
pub fn may_start(membership: Membership, now: MonoTime) -> Result<(), Refusal> {
    match membership {
        Membership::Gone => Err(Refusal::Gone),
        Membership::Live { fail_deadline, .. } if now >= fail_deadline => {
            Err(Refusal::Expired { now, fail_deadline })
        }
        Membership::Live { .. } => Ok(()),
    }
}

/// May the driver issue, at local time `now`, a batch of an operation bound to lockspace
/// generation `generation` (`None`: not bound, always) whose lockspace has `membership`
/// now? The driver calls this right before issuing each batch (module docs), and issues
/// nothing of a refused one.
pub fn check(
    generation: Option<u64>,
    membership: Membership,
    now: MonoTime,
) -> Result<Permit, Refusal> {
    let Some(ours) = generation else {
        return Ok(Permit::UNBOUND);
    };
    if crate::mutations::active(crate::mutations::Mutation::NoDeadlineGuard) {
        // Deliberate bug (sim teeth tests): I/O is issued whatever the deadline.
        return Ok(Permit::UNBOUND);
    }
    may_start(membership, now)?;
    let Membership::Live {
        generation: current,
        fail_deadline,
    } = membership
    else {
        unreachable!("may_start refuses Gone")
    };
    if current != ours {
        return Err(Refusal::OtherGeneration { ours, current });
    }
    Ok(Permit {
        until: Some(fail_deadline),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(generation: u64, deadline_s: u64) -> Membership {
        Membership::Live {
            generation,
            fail_deadline: MonoTime::from_secs(deadline_s),
        }
    }

    #[test]
    fn a_bound_batch_is_issued_only_before_the_deadline_of_its_own_generation() {
        let before = MonoTime::from_millis(99_999);
        let at = MonoTime::from_secs(100);
        let permit = check(Some(7), live(7, 100), before).expect("before the deadline");
        assert!(permit.covers(before));
        assert!(!permit.covers(at), "a permit ends at the deadline");
        assert_eq!(permit.until(), Some(at));
        assert_eq!(
            check(Some(7), live(7, 100), at),
            Err(Refusal::Expired {
                now: at,
                fail_deadline: at
            })
        );
        // A renewal moved the deadline: the same operation may go on.
        assert!(check(Some(7), live(7, 120), at).is_ok());
        assert_eq!(
            check(Some(7), live(8, 120), before),
            Err(Refusal::OtherGeneration {
                ours: 7,
                current: 8
            })
        );
        assert_eq!(check(Some(7), Membership::Gone, before), Err(Refusal::Gone));
    }

    #[test]
    fn unbound_operations_are_never_refused() {
        let permit = check(None, Membership::Gone, MonoTime::from_secs(1)).expect("unbound");
        assert_eq!(permit, Permit::UNBOUND);
        assert!(permit.covers(MonoTime::from_secs(u64::MAX / 2000)));
    }

    #[test]
    fn starting_needs_a_live_lockspace_before_its_deadline() {
        assert_eq!(
            may_start(Membership::Gone, MonoTime::ZERO),
            Err(Refusal::Gone)
        );
        assert!(may_start(live(1, 10), MonoTime::from_secs(9)).is_ok());
        let err = may_start(live(1, 10), MonoTime::from_secs(10)).unwrap_err();
        assert_eq!(err.sanlock_errno(), -28);
        assert!(err.to_string().contains("may have expired"));
    }

    #[test]
    fn membership_of_a_held_lease_is_live_only_while_renewing() {
        assert_eq!(Membership::of(None, true), Membership::Gone);
    }
}
