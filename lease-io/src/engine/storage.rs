//! [`EngineStorage`]: the engine as a `lease_core::seam::BlockStorage`, so
//! `lease_core::seam::run_blocking` can drive any operation with its per-step timeouts enforced
//! (unlike [`crate::DeviceStorage`], whose synchronous syscalls cannot be abandoned).
//!
//! A batch the engine refuses (misaligned, bad disk index, back-pressure, ...) is answered with
//! `Failed(Error { errno })` for every I/O of the step, `errno` being the refusal's: the seam's
//! contract needs one outcome per I/O, and the protocols treat any error as a failed I/O.

use std::sync::Arc;
use std::time::Duration;

use lease_core::seam::{BlockStorage, Io, IoFailure, IoOutcome};

use super::{deadline_after, Engine};
use crate::device::Device;

/// An engine plus the disks of one operation (disk index `i` is `disks[i]`).
#[derive(Debug, Clone)]
pub struct EngineStorage {
    engine: Engine,
    disks: Vec<Arc<Device>>,
}

impl EngineStorage {
    /// Storage that issues on `engine` against `disks`.
    pub fn new(engine: Engine, disks: Vec<Arc<Device>>) -> EngineStorage {
        EngineStorage { engine, disks }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The disks, by disk index.
    pub fn disks(&self) -> &[Arc<Device>] {
        &self.disks
    }
}

impl BlockStorage for EngineStorage {
    fn submit(&mut self, ios: &[Io], timeout: Duration) -> Vec<IoOutcome> {
        match self.engine.run(&self.disks, ios, deadline_after(timeout)) {
            Ok(outcomes) => outcomes,
            Err(err) => {
                let failed = IoOutcome::Failed(IoFailure::Error {
                    errno: -err.errno(),
                });
                vec![failed; ios.len()]
            }
        }
    }
}
