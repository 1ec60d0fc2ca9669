//! The daemon's in-memory log: what `log_dump` returns, echoed to stderr in debug mode.
//!
//! Bounded: at most [`LOG_LINES_MAX`] lines are kept (oldest dropped first).

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::exec::now;

/// Lines kept for `log_dump`.
pub const LOG_LINES_MAX: usize = 10_000;

#[derive(Debug, Default)]
pub struct Log {
    lines: Mutex<VecDeque<String>>,
    echo: bool,
}

impl Log {
    /// A log that also writes every line to stderr when `echo` (the daemon's `-D`).
    pub fn new(echo: bool) -> Log {
        Log {
            lines: Mutex::new(VecDeque::new()),
            echo,
        }
    }

    pub fn line(&self, message: String) {
        let line = format!("{} {message}", now().as_secs());
        if self.echo {
            eprintln!("{line}");
        }
        let mut lines = self.lines.lock().expect("log lock");
        if lines.len() == LOG_LINES_MAX {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// Every kept line, newline-terminated.
    pub fn text(&self) -> Vec<u8> {
        let lines = self.lines.lock().expect("log lock");
        let mut text = String::new();
        for line in lines.iter() {
            text.push_str(line);
            text.push('\n');
        }
        text.into_bytes()
    }
}
