//! A scripted operation and a passive workload, for tests of the simulator itself.
//!
//! [`ScriptOp`] asks for a fixed sequence of steps and records every resume it gets (local
//! time and input), so a test can assert exactly what the driver delivered. [`ScriptWorkload`]
//! starts nothing by itself (tests call `World::spawn`) and keeps each finished operation's
//! record.

use std::time::Duration;

use lease_core::seam::{Io, Operation, Resume, Step};
use lease_core::time::MonoTime;

use crate::clock::TrueTime;
use crate::ids::{HostIndex, TaskId};
use crate::world::{HostCtx, Workload};

/// One scripted request.
#[derive(Clone, Debug)]
pub enum ScriptStep {
    /// Issue these I/Os with this deadline.
    Io(Vec<Io>, Duration),
    /// Sleep until `ms` after the current local time, with `jitter`.
    SleepFor(u64, Duration),
}

/// What a [`ScriptOp`] received: (local time, input) per resume, in order.
pub type ScriptRecord = Vec<(MonoTime, Resume)>;

/// An operation that performs a fixed script and records what it gets.
#[derive(Debug)]
pub struct ScriptOp {
    steps: std::vec::IntoIter<ScriptStep>,
    record: ScriptRecord,
}

impl ScriptOp {
    pub fn new(steps: Vec<ScriptStep>) -> ScriptOp {
        ScriptOp {
            steps: steps.into_iter(),
            record: Vec::new(),
        }
    }
}

impl Operation for ScriptOp {
    type Output = ScriptRecord;

    fn resume(&mut self, now: MonoTime, input: Resume) -> Step<ScriptRecord> {
        if let Some((last, _)) = self.record.last() {
            assert!(now >= *last, "seam rule 5: now never goes backwards");
        }
        self.record.push((now, input));
        match self.steps.next() {
            Some(ScriptStep::Io(ios, timeout)) => Step::Io { ios, timeout },
            Some(ScriptStep::SleepFor(ms, jitter)) => Step::Sleep {
                until: now.saturating_add(Duration::from_millis(ms)),
                jitter,
            },
            None => Step::Done(std::mem::take(&mut self.record)),
        }
    }

    fn name(&self) -> &'static str {
        "script"
    }
}

/// A finished scripted operation.
#[derive(Clone, Debug)]
pub struct Finished {
    pub host: HostIndex,
    pub task: TaskId,
    pub at: TrueTime,
    pub record: ScriptRecord,
}

/// Starts nothing; records finished operations, boots and crashes.
#[derive(Debug, Default)]
pub struct ScriptWorkload {
    pub finished: Vec<Finished>,
    pub boots: Vec<(HostIndex, TrueTime)>,
    pub crashes: Vec<(HostIndex, TrueTime)>,
}

impl ScriptWorkload {
    /// The record of `task`, if it finished.
    pub fn record_of(&self, task: TaskId) -> Option<&ScriptRecord> {
        self.finished
            .iter()
            .find(|f| f.task == task)
            .map(|f| &f.record)
    }
}

impl Workload for ScriptWorkload {
    type Op = ScriptOp;

    fn host_booted(&mut self, ctx: &mut HostCtx<'_, ScriptOp>) {
        self.boots.push((ctx.host(), ctx.true_now()));
    }

    fn op_done(&mut self, ctx: &mut HostCtx<'_, ScriptOp>, task: TaskId, record: ScriptRecord) {
        self.finished.push(Finished {
            host: ctx.host(),
            task,
            at: ctx.true_now(),
            record,
        });
    }

    fn host_crashed(&mut self, host: HostIndex, at: TrueTime) {
        self.crashes.push((host, at));
    }
}
