//! Daemon settings: sanlock's command-line options and `/etc/sanlock/sanlock.conf` keys.
//!
//! Precedence, as in sanlock: built-in defaults, then the config file, then command-line
//! options. Keys sanlock has that do not apply to this daemon (log levels, mlock, priority,
//! worker threads, ...) are accepted and recorded so existing files keep working; unknown keys
//! and malformed values are errors naming the line.

use std::path::{Path, PathBuf};

use thiserror::Error;

use lease_core::timeouts::{
    DEFAULT_IO_TIMEOUT_SECONDS, DEFAULT_KILL_GRACE_SECONDS, DEFAULT_WATCHDOG_FIRE_TIMEOUT_SECONDS,
    IO_TIMEOUT_SECONDS_MAX,
};

/// sanlock's config file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/sanlock/sanlock.conf";

/// Every daemon setting, with sanlock's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonSettings {
    pub io_timeout_seconds: u32,
    pub watchdog_fire_timeout_seconds: u32,
    pub kill_grace_seconds: u32,
    /// `-g` or `kill_grace_seconds` given explicitly (otherwise auto-adjusted, spec §3).
    pub kill_grace_explicit: bool,
    pub use_watchdog: bool,
    pub high_priority: bool,
    pub mlock_level: u32,
    pub our_host_name: Option<String>,
    pub uname: Option<String>,
    pub gname: Option<String>,
    pub renewal_history_size: u32,
    pub renewal_read_extend_seconds: Option<u32>,
    pub set_bitmap_seconds: Option<u32>,
    pub max_worker_threads: u32,
    pub write_init_io_timeout_seconds: u32,
    pub sh_retries: u32,
    pub quiet_fail: bool,
    pub debug_renew: bool,
    pub run_dir: Option<PathBuf>,
}

impl Default for DaemonSettings {
    fn default() -> DaemonSettings {
        DaemonSettings {
            io_timeout_seconds: DEFAULT_IO_TIMEOUT_SECONDS,
            watchdog_fire_timeout_seconds: DEFAULT_WATCHDOG_FIRE_TIMEOUT_SECONDS,
            kill_grace_seconds: DEFAULT_KILL_GRACE_SECONDS,
            kill_grace_explicit: false,
            use_watchdog: true,
            high_priority: false,
            mlock_level: 1,
            our_host_name: None,
            uname: None,
            gname: None,
            renewal_history_size: 180,
            renewal_read_extend_seconds: None,
            set_bitmap_seconds: None,
            max_worker_threads: 8,
            write_init_io_timeout_seconds: 60,
            sh_retries: 8,
            quiet_fail: true,
            debug_renew: false,
            run_dir: None,
        }
    }
}

/// Why one setting was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SetError {
    #[error("unknown key")]
    UnknownKey,
    #[error("{0}")]
    BadValue(String),
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{path}:{line}: expected `key = value`, got {text:?}")]
    Syntax {
        path: String,
        line: usize,
        text: String,
    },
    #[error("{path}:{line}: unknown key {key:?}")]
    UnknownKey {
        path: String,
        line: usize,
        key: String,
    },
    #[error("{path}:{line}: {key} = {value:?}: {why}")]
    BadValue {
        path: String,
        line: usize,
        key: String,
        value: String,
        why: String,
    },
    #[error("cannot read {path}: {why}")]
    Read { path: String, why: String },
}

fn parse_u32(value: &str, min: u32, max: u32) -> Result<u32, String> {
    let n: u32 = value
        .parse()
        .map_err(|_| "not a whole number".to_string())?;
    if n < min || n > max {
        return Err(format!("must be in {min}..={max}"));
    }
    Ok(n)
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value {
        "0" | "no" | "false" => Ok(false),
        "1" | "yes" | "true" => Ok(true),
        _ => Err("must be 0 or 1".into()),
    }
}

impl DaemonSettings {
    /// Apply one `key = value` setting (config file syntax).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), SetError> {
        let v = value;
        let bad = SetError::BadValue;
        match key {
            "io_timeout" => {
                self.io_timeout_seconds = parse_u32(v, 1, IO_TIMEOUT_SECONDS_MAX).map_err(bad)?
            }
            "watchdog_fire_timeout" => {
                self.watchdog_fire_timeout_seconds = parse_u32(v, 1, 3600).map_err(bad)?
            }
            "kill_grace_seconds" => {
                self.kill_grace_seconds = parse_u32(v, 0, 60).map_err(bad)?;
                self.kill_grace_explicit = true;
            }
            "use_watchdog" => self.use_watchdog = parse_bool(v).map_err(bad)?,
            "high_priority" => self.high_priority = parse_bool(v).map_err(bad)?,
            "mlock_level" => self.mlock_level = parse_u32(v, 0, 2).map_err(bad)?,
            "our_host_name" => self.our_host_name = Some(v.to_string()),
            "uname" => self.uname = Some(v.to_string()),
            "gname" => self.gname = Some(v.to_string()),
            "renewal_history_size" => {
                self.renewal_history_size = parse_u32(v, 0, 100_000).map_err(bad)?
            }
            "renewal_read_extend_sec" => {
                self.renewal_read_extend_seconds = Some(parse_u32(v, 0, 3600).map_err(bad)?)
            }
            "max_worker_threads" => self.max_worker_threads = parse_u32(v, 2, 1024).map_err(bad)?,
            "write_init_io_timeout" => {
                self.write_init_io_timeout_seconds = parse_u32(v, 1, 3600).map_err(bad)?
            }
            "sh_retries" => self.sh_retries = parse_u32(v, 0, 1000).map_err(bad)?,
            "quiet_fail" => self.quiet_fail = parse_bool(v).map_err(bad)?,
            "debug_renew" => self.debug_renew = parse_bool(v).map_err(bad)?,
            // Accepted for compatibility; logging and tuning knobs of sanlock's own.
            "logfile_priority" | "logfile_use_utc" | "syslog_priority" | "names_log_priority"
            | "paxos_debug_all" | "debug_io" | "max_sectors_kb" | "debug_clients" | "debug_cmd" => {
            }
            _ => return Err(SetError::UnknownKey),
        }
        Ok(())
    }

    /// Apply a config file's text. `path` is only used in error messages.
    pub fn apply_config_text(&mut self, path: &str, text: &str) -> Result<(), ConfigError> {
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let Some((key, value)) = content.split_once('=') else {
                return Err(ConfigError::Syntax {
                    path: path.into(),
                    line,
                    text: raw.into(),
                });
            };
            let (key, value) = (key.trim(), value.trim());
            match self.set(key, value) {
                Ok(()) => {}
                Err(SetError::UnknownKey) => {
                    return Err(ConfigError::UnknownKey {
                        path: path.into(),
                        line,
                        key: key.into(),
                    })
                }
                Err(SetError::BadValue(why)) => {
                    return Err(ConfigError::BadValue {
                        path: path.into(),
                        line,
                        key: key.into(),
                        value: value.into(),
                        why,
                    })
                }
            }
        }
        Ok(())
    }

    /// Apply the config file at `path` if it exists.
    pub fn apply_config_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => self.apply_config_text(&path.display().to_string(), &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ConfigError::Read {
                path: path.display().to_string(),
                why: e.to_string(),
            }),
        }
    }

    /// The kill grace in force: explicit, or auto-adjusted from the fire timeout (spec §3).
    pub fn effective_kill_grace_seconds(&self) -> u32 {
        if self.kill_grace_explicit {
            return self.kill_grace_seconds;
        }
        match self.watchdog_fire_timeout_seconds {
            0..30 => 0,
            30..60 => 15,
            _ => self.kill_grace_seconds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_text_sets_known_keys_and_names_bad_lines() {
        let mut s = DaemonSettings::default();
        s.apply_config_text(
            "t.conf",
            "# comment\nio_timeout = 5\nuse_watchdog=0 # inline\n\nlogfile_priority = 7\n",
        )
        .unwrap();
        assert_eq!(s.io_timeout_seconds, 5);
        assert!(!s.use_watchdog);
        let err = s
            .apply_config_text("t.conf", "io_timeout = 0\n")
            .unwrap_err();
        assert!(err.to_string().contains("t.conf:1"), "{err}");
        assert!(matches!(
            s.apply_config_text("t.conf", "\nbogus = 1\n"),
            Err(ConfigError::UnknownKey { line: 2, .. })
        ));
        assert!(matches!(
            s.apply_config_text("t.conf", "io_timeout\n"),
            Err(ConfigError::Syntax { .. })
        ));
        assert_eq!(
            s.io_timeout_seconds, 5,
            "a bad line changes nothing it names"
        );
    }

    #[test]
    fn kill_grace_auto_adjusts_with_the_fire_timeout() {
        let mut s = DaemonSettings::default();
        assert_eq!(s.effective_kill_grace_seconds(), 40);
        s.watchdog_fire_timeout_seconds = 45;
        assert_eq!(s.effective_kill_grace_seconds(), 15);
        s.watchdog_fire_timeout_seconds = 20;
        assert_eq!(s.effective_kill_grace_seconds(), 0);
        s.set("kill_grace_seconds", "7").unwrap();
        assert_eq!(s.effective_kill_grace_seconds(), 7);
    }
}
