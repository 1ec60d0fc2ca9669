//! O_DIRECT device access for lease areas.
