//! Process figures from `/proc`, read exactly as the peer kit's `bench.py` does: CPU time is
//! `utime + stime` of `/proc/PID/stat` (all threads, dead ones included, in clock ticks) and
//! memory is `VmRSS` of `/proc/PID/status`.

use std::time::{Duration, Instant};

/// One reading of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// utime + stime, clock ticks.
    pub ticks: u64,
    /// VmRSS, KiB.
    pub rss_kib: u64,
    /// RssAnon (heap, stacks), KiB.
    pub anon_kib: u64,
    /// RssFile (mapped binary and libraries), KiB.
    pub file_kib: u64,
    /// Threads.
    pub threads: u64,
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
pub fn clk_tck() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|&hz| hz > 0).unwrap_or(100)
}

/// Fields of `/proc/PID/stat` after the command name (field 3 onwards).
fn stat_fields(pid: i32) -> std::io::Result<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = text
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| std::io::Error::other("malformed stat"))?;
    Ok(after.split_whitespace().map(str::to_string).collect())
}

/// Read CPU ticks, RSS and thread count of `pid`.
pub fn sample(pid: i32) -> std::io::Result<Sample> {
    let fields = stat_fields(pid)?;
    let num = |i: usize| -> u64 { fields.get(i).and_then(|f| f.parse().ok()).unwrap_or(0) };
    // After ')': state is index 0, utime field 14 is index 11, stime 12, num_threads 17.
    let ticks = num(11) + num(12);
    let threads = num(17);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Sample {
        ticks,
        rss_kib: field("VmRSS:"),
        anon_kib: field("RssAnon:"),
        file_kib: field("RssFile:"),
        threads,
    })
}

/// Pids whose parent is `pid` (sanlock's helper process).
pub fn children(pid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| {
            stat_fields(p)
                .ok()
                .and_then(|f| f.get(1).and_then(|pp| pp.parse::<i32>().ok()))
                == Some(pid)
        })
        .collect()
}

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    stat_fields(pid).is_ok_and(|f| f.first().is_some_and(|s| s != "Z"))
}

/// Wait up to `limit` for `pid` to be gone (or a zombie).
pub fn wait_gone(pid: i32, limit: Duration) {
    let end = Instant::now() + limit;
    while alive(pid) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_reads() {
        let me = i32::try_from(std::process::id()).unwrap();
        let s = sample(me).unwrap();
        assert!(s.rss_kib > 0);
        assert!(s.threads >= 1);
        assert!(alive(me));
        assert!(clk_tck() > 0);
    }
}
