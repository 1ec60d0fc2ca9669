//! sanlock-compatible on-disk format and lease protocols as pure logic.
