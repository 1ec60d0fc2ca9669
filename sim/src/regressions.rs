//! The regression list: seeds that once found something, replayed by every test run.
//!
//! `sim/regressions.txt` has one entry per line (`#` starts a comment):
//!
//! ```text
//! workload seed faults options expect note...
//! delta    6    safety -       pass   stale release landed late: generation reused (fixed 09efd24)
//! delta    99   safety dup     violates:host_id_exclusive  duplicate host_id outside timeliness
//! ```
//!
//! * `workload`: `toy`, `delta` or `paxos`; `faults`: `none`, `timely`, `safety`, `chaos`;
//! * `options`: `-` or a comma list of `hosts=N`, `dup` (duplicate host_id), `secs=N` (duration),
//!   `resources=N`, `lease-disks=N`, `contenders=N`, `ex-only` (exclusive leases only),
//!   `sector=4096`;
//! * `expect`: `pass` (the bug was fixed: the seed must stay clean) or `violates:NAME` (a known
//!   finding outside what the protocols promise, or a bug not fixed yet: the seed must keep
//!   reproducing it, so that a fix is noticed and the entry flipped to `pass`).

use crate::runner::{run_seed, FaultPreset, RunConfig, WorkloadKind};

/// What a regression seed must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    Pass,
    Violation(String),
}

/// One line of the list.
#[derive(Clone, Debug)]
pub struct Entry {
    pub config: RunConfig,
    pub expect: Expect,
    pub note: String,
    /// 1-based line number.
    pub line: usize,
}

/// Parse a regression list.
pub fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = |msg: String| format!("line {}: {msg}", i + 1);
        let mut words = line.split_whitespace();
        let mut next = |what: &str| words.next().ok_or_else(|| at(format!("missing {what}")));
        let workload = next("workload")?;
        let workload = WorkloadKind::from_name(workload)
            .ok_or_else(|| at(format!("workload {workload:?}")))?;
        let seed = next("seed")?;
        let seed: u64 = seed.parse().map_err(|_| at(format!("seed {seed:?}")))?;
        let faults = next("faults")?;
        let faults =
            FaultPreset::from_name(faults).ok_or_else(|| at(format!("faults {faults:?}")))?;
        let options = next("options")?;
        let expect = next("expect")?;
        let note = words.collect::<Vec<_>>().join(" ");
        let mut config = RunConfig::new(seed, 3);
        config.workload = workload;
        config.faults = faults;
        config.duration_secs = workload.default_duration_secs();
        if options != "-" {
            for opt in options.split(',') {
                let (key, value) = opt.split_once('=').unwrap_or((opt, ""));
                let number = || -> Result<u64, String> {
                    value.parse().map_err(|_| at(format!("option {opt:?}")))
                };
                match key {
                    "hosts" => config.host_count = number()? as u32,
                    "dup" => config.duplicate_host_id = true,
                    "secs" => config.duration_secs = number()?,
                    "resources" => config.resources = number()? as usize,
                    "lease-disks" => config.lease_disks = number()? as usize,
                    "contenders" => config.contenders = Some(number()? as u32),
                    "sector" => config.sector_size = number()?,
                    "ex-only" => config.exclusive_only = true,
                    "no-leader-check" => config.no_leader_check = true,
                    _ => return Err(at(format!("unknown option {opt:?}"))),
                }
            }
        }
        let expect = match expect.strip_prefix("violates:") {
            _ if expect == "pass" => Expect::Pass,
            Some(name) if !name.is_empty() => Expect::Violation(name.to_string()),
            _ => return Err(at(format!("expect {expect:?} (pass or violates:NAME)"))),
        };
        entries.push(Entry {
            config,
            expect,
            note,
            line: i + 1,
        });
    }
    Ok(entries)
}

/// Run an entry; `Err` says how it differs from what is recorded.
pub fn check(entry: &Entry) -> Result<(), String> {
    let report = run_seed(&entry.config);
    let replay = replay_command(&entry.config, None);
    match (&entry.expect, &report.violation) {
        (Expect::Pass, None) => Ok(()),
        (Expect::Pass, Some(v)) => Err(format!(
            "line {} ({}): expected no violation, got:\n{v}\nreplay: {replay}",
            entry.line, entry.note
        )),
        (Expect::Violation(name), Some(v)) if v.invariant == name => Ok(()),
        (Expect::Violation(name), other) => Err(format!(
            "line {} ({}): expected a {name} violation, got {}\nreplay: {replay}",
            entry.line,
            entry.note,
            other.as_ref().map_or("none".to_string(), |v| v.to_string())
        )),
    }
}

/// The command that replays `config` (with `mutation` switched on, if any).
pub fn replay_command(config: &RunConfig, mutation: Option<&str>) -> String {
    let defaults = RunConfig::new(config.seed, 3);
    let mut cmd = String::from("cargo run --release -p sim");
    if mutation.is_some() {
        cmd.push_str(" --features mutations");
    }
    cmd.push_str(&format!(
        " -- --workload {} --seed {} --faults {} --hosts {} --duration-secs {}",
        config.workload.name(),
        config.seed,
        config.faults.name(),
        config.host_count,
        config.duration_secs
    ));
    if config.duplicate_host_id {
        cmd.push_str(" --duplicate-host-id");
    }
    if config.workload == WorkloadKind::Paxos {
        if config.resources != defaults.resources {
            cmd.push_str(&format!(" --resources {}", config.resources));
        }
        if config.lease_disks != defaults.lease_disks {
            cmd.push_str(&format!(" --lease-disks {}", config.lease_disks));
        }
        if let Some(c) = config.contenders {
            cmd.push_str(&format!(" --contenders {c}"));
        }
        if config.exclusive_only {
            cmd.push_str(" --exclusive-only");
        }
        if config.no_leader_check {
            cmd.push_str(" --no-leader-check");
        }
    }
    if config.sector_size != defaults.sector_size {
        cmd.push_str(&format!(" --sector-size {}", config.sector_size));
    }
    if let Some(m) = mutation {
        cmd.push_str(&format!(" --mutation {m}"));
    }
    cmd.push_str(" --trace");
    cmd
}

/// A regression-list line for `config` (options spelled out), to paste into the list.
pub fn entry_line(config: &RunConfig, expect: &Expect, note: &str) -> String {
    let defaults = RunConfig::new(config.seed, 3);
    let mut options = Vec::new();
    if config.host_count != 3 {
        options.push(format!("hosts={}", config.host_count));
    }
    if config.duplicate_host_id {
        options.push("dup".to_string());
    }
    if config.duration_secs != config.workload.default_duration_secs() {
        options.push(format!("secs={}", config.duration_secs));
    }
    if config.resources != defaults.resources {
        options.push(format!("resources={}", config.resources));
    }
    if config.lease_disks != defaults.lease_disks {
        options.push(format!("lease-disks={}", config.lease_disks));
    }
    if let Some(c) = config.contenders {
        options.push(format!("contenders={c}"));
    }
    if config.exclusive_only {
        options.push("ex-only".to_string());
    }
    if config.no_leader_check {
        options.push("no-leader-check".to_string());
    }
    if config.sector_size != defaults.sector_size {
        options.push(format!("sector={}", config.sector_size));
    }
    let options = if options.is_empty() {
        "-".to_string()
    } else {
        options.join(",")
    };
    let expect = match expect {
        Expect::Pass => "pass".to_string(),
        Expect::Violation(name) => format!("violates:{name}"),
    };
    format!(
        "{} {} {} {options} {expect} {note}",
        config.workload.name(),
        config.seed,
        config.faults.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_and_round_trip() {
        let text = "# comment\n\ndelta 6 safety - pass a note here\n\
                    paxos 7 timely hosts=5,dup,secs=100,resources=3,lease-disks=3 \
                    violates:exclusive_owner x\n";
        let entries = parse(text).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].config.seed, 6);
        assert_eq!(entries[0].expect, Expect::Pass);
        assert_eq!(entries[0].note, "a note here");
        assert_eq!(entries[0].line, 3);
        let c = &entries[1].config;
        assert_eq!(
            (c.host_count, c.duplicate_host_id, c.duration_secs),
            (5, true, 100)
        );
        assert_eq!((c.resources, c.lease_disks), (3, 3));
        assert_eq!(
            entries[1].expect,
            Expect::Violation("exclusive_owner".into())
        );
        let line = entry_line(c, &entries[1].expect, "x");
        let again = parse(&line).unwrap();
        assert_eq!(again[0].config.resources, 3);
        assert!(parse("delta x safety - pass").is_err());
        assert!(parse("delta 1 safety bogus=1 pass").is_err());
        assert!(parse("delta 1 safety - maybe").is_err());
    }
}
