//! Printing leader records and names the way sanlock prints them, and as JSON.

use std::io::{self, Write};

use lease_core::ondisk::{LeaderRecord, Name};
use serde_json::{json, Value};

/// Which kind of leader is printed: sanlock labels the last three fields differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaderKind {
    /// A delta lease: `extra1..3` (host-event generation, event, data).
    Delta,
    /// A paxos lease: `write_id`, `write_generation`, `write_timestamp`.
    Paxos,
}

impl LeaderKind {
    /// `"delta"` or `"paxos"`.
    pub fn as_str(self) -> &'static str {
        match self {
            LeaderKind::Delta => "delta",
            LeaderKind::Paxos => "paxos",
        }
    }
}

/// The name bytes as sanlock's `printf("%s")` prints them: up to the first NUL, at most 48.
pub fn name_bytes(name: &Name) -> &[u8] {
    name.trimmed()
}

/// Writes `bytes` right-aligned in `width` columns, as `printf("%<width>s")` does (a longer
/// value is printed whole).
pub fn write_padded(out: &mut dyn Write, bytes: &[u8], width: usize) -> io::Result<()> {
    for _ in bytes.len()..width {
        out.write_all(b" ")?;
    }
    out.write_all(bytes)
}

/// sanlock's `read_leader` field block (everything after the `done` line).
pub fn write_leader_text(
    out: &mut dyn Write,
    leader: &LeaderRecord,
    kind: LeaderKind,
) -> io::Result<()> {
    writeln!(out, "magic 0x{:x}", leader.magic)?;
    writeln!(out, "version 0x{:x}", leader.version)?;
    writeln!(out, "flags 0x{:x}", leader.flags)?;
    writeln!(out, "sector_size {}", leader.sector_size)?;
    writeln!(out, "num_hosts {}", leader.num_hosts)?;
    writeln!(out, "max_hosts {}", leader.max_hosts)?;
    writeln!(out, "owner_id {}", leader.owner_id)?;
    writeln!(out, "owner_generation {}", leader.owner_generation)?;
    writeln!(out, "lver {}", leader.lver)?;
    out.write_all(b"space_name ")?;
    out.write_all(name_bytes(&leader.space_name))?;
    out.write_all(b"\nresource_name ")?;
    out.write_all(name_bytes(&leader.resource_name))?;
    writeln!(out)?;
    writeln!(out, "timestamp {}", leader.timestamp)?;
    writeln!(out, "checksum 0x{:x}", leader.checksum)?;
    writeln!(out, "io_timeout {}", leader.io_timeout)?;
    let labels = match kind {
        LeaderKind::Delta => ["extra1", "extra2", "extra3"],
        LeaderKind::Paxos => ["write_id", "write_generation", "write_timestamp"],
    };
    writeln!(out, "{} {}", labels[0], leader.write_id)?;
    writeln!(out, "{} {}", labels[1], leader.write_generation)?;
    writeln!(out, "{} {}", labels[2], leader.write_timestamp)
}

/// Every field of a leader record as a JSON object (numbers as numbers, names as strings).
/// The last three fields keep their on-disk names for both lease kinds (sanlock's text calls
/// them extra1..3 for delta leases).
pub fn leader_json(leader: &LeaderRecord) -> Value {
    json!({
        "magic": leader.magic,
        "version": leader.version,
        "flags": leader.flags,
        "sector_size": leader.sector_size,
        "num_hosts": leader.num_hosts,
        "max_hosts": leader.max_hosts,
        "owner_id": leader.owner_id,
        "owner_generation": leader.owner_generation,
        "lver": leader.lver,
        "space_name": name_json(&leader.space_name),
        "resource_name": name_json(&leader.resource_name),
        "timestamp": leader.timestamp,
        "unused1": leader.unused1,
        "checksum": leader.checksum,
        "unused2": leader.unused2,
        "io_timeout": leader.io_timeout,
        "write_id": leader.write_id,
        "write_generation": leader.write_generation,
        "write_timestamp": leader.write_timestamp,
    })
}

/// A name as a JSON string (bytes up to the first NUL; invalid UTF-8 replaced).
pub fn name_json(name: &Name) -> Value {
    Value::String(name.as_str_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_matches_printf() {
        let mut out = Vec::new();
        write_padded(&mut out, b"LS", 5).expect("vec");
        assert_eq!(out, b"   LS");
        let mut out = Vec::new();
        write_padded(&mut out, b"toolong", 3).expect("vec");
        assert_eq!(out, b"toolong");
    }

    #[test]
    fn leader_text_labels_depend_on_kind() {
        let leader = LeaderRecord {
            write_id: 7,
            ..LeaderRecord::default()
        };
        let mut delta = Vec::new();
        write_leader_text(&mut delta, &leader, LeaderKind::Delta).expect("vec");
        let delta = String::from_utf8(delta).expect("utf8");
        assert!(delta.contains("\nextra1 7\n"), "{delta}");
        let mut paxos = Vec::new();
        write_leader_text(&mut paxos, &leader, LeaderKind::Paxos).expect("vec");
        let paxos = String::from_utf8(paxos).expect("utf8");
        assert!(
            paxos.ends_with("write_id 7\nwrite_generation 0\nwrite_timestamp 0\n"),
            "{paxos}"
        );
        assert_eq!(paxos.lines().count(), 17);
    }
}
