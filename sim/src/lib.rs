//! Deterministic multi-host simulator (see docs/ARCHITECTURE.md).
