//! Helpers shared by the integration tests (loop devices, sanlock oracle, the `lease` binary).
