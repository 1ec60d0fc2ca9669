//! Results: `name value unit` lines on stdout (the peer kit's format), details on stderr, and
//! everything in one JSON file at the end.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};

/// Median (mean of the two middle values for an even count), as Python's
/// `statistics.median`, which the peer kit uses. `NaN` for no samples.
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// The peer kit's percentile: `sorted[min(n - 1, floor(n * p))]`. `NaN` for no samples.
pub fn pct(xs: &[f64], p: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    let i = ((s.len() as f64 * p) as usize).min(s.len() - 1);
    s[i]
}

/// Largest value (`NaN` for none).
pub fn max(xs: &[f64]) -> f64 {
    xs.iter().copied().fold(f64::NAN, f64::max)
}

/// One target from the issues: `value <= limit` (or `>=` when `at_least`).
#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    pub value: f64,
    pub unit: String,
    pub limit: f64,
    pub at_least: bool,
}

impl Target {
    pub fn met(&self) -> bool {
        if self.at_least {
            self.value >= self.limit
        } else {
            self.value <= self.limit
        }
    }
}

/// Collected results of one benchmark run.
#[derive(Debug)]
pub struct Report {
    bench: String,
    started: String,
    results: Map<String, Value>,
    meta: Map<String, Value>,
    targets: Vec<Target>,
}

impl Report {
    pub fn new(bench: &str) -> Report {
        let started = utc_timestamp();
        println!("# {bench} {started}");
        Report {
            bench: bench.to_string(),
            started,
            results: Map::new(),
            meta: Map::new(),
            targets: Vec::new(),
        }
    }

    /// Print `name value unit` and keep it (with the per-run values, if any). Figures with no
    /// samples (`NaN`) are reported on stderr only, so stdout always parses.
    pub fn emit(&mut self, name: &str, value: f64, unit: &str, runs: Option<&[f64]>) {
        if !value.is_finite() {
            eprintln!("  {name}: no samples");
            return;
        }
        println!("{name} {value:.3} {unit}");
        let mut entry = json!({ "value": value, "unit": unit });
        if let Some(runs) = runs {
            entry["runs"] = json!(runs);
        }
        self.results.insert(name.to_string(), entry);
    }

    /// Median over runs of per-run values, with the runs logged on stderr (the peer's `agg`).
    pub fn agg(&mut self, name: &str, per_run: &[f64], unit: &str) {
        let text: Vec<String> = per_run.iter().map(|x| format!("{x:.3}")).collect();
        eprintln!("  {name} runs: {}", text.join(" "));
        self.emit(name, median(per_run), unit, Some(per_run));
    }

    /// Median and p99 of samples as `<name>.median` and `<name>.p99`.
    pub fn dist(&mut self, name: &str, samples: &[f64], unit: &str) {
        self.emit(&format!("{name}.median"), median(samples), unit, None);
        self.emit(&format!("{name}.p99"), pct(samples, 0.99), unit, None);
    }

    /// A value of interest that is not a figure (device, versions, ...).
    pub fn meta(&mut self, key: &str, value: impl Into<Value>) {
        self.meta.insert(key.to_string(), value.into());
    }

    /// Record a target check: printed as `target.<name> <value> <unit>` plus a verdict on
    /// stderr (`value <= limit`, or `>=` when `at_least`).
    pub fn target(
        &mut self,
        name: &str,
        (value, unit): (f64, &str),
        limit: f64,
        at_least: bool,
        what: &str,
    ) {
        let t = Target {
            name: name.to_string(),
            value,
            unit: unit.to_string(),
            limit,
            at_least,
        };
        let rel = if at_least { ">=" } else { "<=" };
        let verdict = if !value.is_finite() {
            "NOT MEASURED"
        } else if t.met() {
            "MET"
        } else {
            "MISSED"
        };
        eprintln!("TARGET {name}: {what}: {value:.3} (want {rel} {limit}) {verdict}");
        self.emit(&format!("target.{name}"), value, unit, None);
        self.targets.push(t);
    }

    /// Write the JSON file (creating its directory) and say where it is.
    pub fn write(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let targets: Vec<Value> = self
            .targets
            .iter()
            .filter(|t| t.value.is_finite())
            .map(|t| {
                json!({"name": t.name, "value": t.value, "unit": t.unit, "limit": t.limit,
                       "at_least": t.at_least, "met": t.met()})
            })
            .collect();
        let doc = json!({
            "bench": self.bench,
            "started": self.started,
            "finished": utc_timestamp(),
            "meta": self.meta,
            "results": self.results,
            "targets": targets,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("results in {}", path.display());
        Ok(())
    }

    /// The default JSON path: `/tmp/leasebench/<bench>-<timestamp>.json`.
    pub fn default_path(&self) -> PathBuf {
        let stamp: String = self
            .started
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == 'T')
            .collect();
        PathBuf::from(format!("/tmp/leasebench/{}-{stamp}.json", self.bench))
    }
}

/// Seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn utc_timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parse `name value unit` lines (comments `#` and blank lines skipped). Used by the smoke
/// test and to take in the figures of the Python lease benchmark.
pub fn parse_lines(text: &str) -> Result<Vec<(String, f64, String)>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [name, value, unit] = parts[..] else {
            return Err(format!("not `name value unit`: {line:?}"));
        };
        let value: f64 = value
            .parse()
            .map_err(|_| format!("value is not a number: {line:?}"))?;
        if !value.is_finite() {
            return Err(format!("value is not finite: {line:?}"));
        }
        out.push((name.to_string(), value, unit.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_percentile_follow_the_peer_kit() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let xs: Vec<f64> = (0..100).map(f64::from).collect();
        assert_eq!(pct(&xs, 0.99), 99.0);
        assert_eq!(pct(&xs, 0.5), 50.0);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn lines_parse_and_reject_garbage() {
        let ok = parse_lines("# x\nrenewal.median 1.5 us\n\nb 2 ms\n").unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0], ("renewal.median".into(), 1.5, "us".into()));
        assert!(parse_lines("a b c d").is_err());
        assert!(parse_lines("a x us").is_err());
        assert!(parse_lines("a NaN us").is_err());
    }

    #[test]
    fn timestamps_are_utc_iso() {
        let t = utc_timestamp();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z'));
    }
}
