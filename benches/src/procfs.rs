//! Process figures from `/proc`, read exactly as the peer kit's `bench.py` does: CPU time is
//! `utime + stime` of `/proc/PID/stat` (all threads, dead ones included, in clock ticks) and
//! memory is `VmRSS` of `/proc/PID/status`.
//!
//! [`cpu_ns`] adds a nanosecond reading: the time on CPU of every live thread, the first field
//! of `/proc/PID/task/TID/schedstat`. Threads that exit take their time with them, so a
//! difference of two readings is exact only if both saw the same threads ([`CpuNs::tids`]);
//! the tick count of [`sample`] counts dead threads too.

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

/// Time on CPU of the live threads of a process, nanoseconds (see [`cpu_ns`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuNs {
    /// Sum of the first field of `/proc/PID/task/TID/schedstat` over `tids`.
    pub ns: u64,
    /// The threads read, ascending.
    pub tids: Vec<i32>,
}

impl CpuNs {
    /// CPU time from `self` to the later reading `later`, and whether both read the same
    /// threads (if not, the time of threads that exited in between is missing).
    pub fn until(&self, later: &CpuNs) -> (u64, bool) {
        (later.ns.saturating_sub(self.ns), self.tids == later.tids)
    }
}

/// Time on CPU (ns) from the text of a `schedstat` file: its first field. The other two are
/// the time spent waiting on a run queue and the number of time slices.
pub fn parse_schedstat(text: &str) -> Option<u64> {
    let mut fields = text.split_whitespace();
    let on_cpu = fields.next()?.parse().ok()?;
    // A file with fewer than three numeric fields is not a schedstat.
    let rest: Option<Vec<u64>> = fields.map(|f| f.parse().ok()).collect();
    rest.filter(|r| r.len() == 2).map(|_| on_cpu)
}

/// Read the CPU time of every live thread of `pid` from `/proc/PID/task/*/schedstat`. A thread
/// that exits between the listing and its read is left out (and out of `tids`).
pub fn cpu_ns(pid: i32) -> std::io::Result<CpuNs> {
    let mut tids: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/task"))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable();
    let mut out = CpuNs::default();
    for tid in tids {
        if let Some(ns) = thread_ns(pid, tid)? {
            out.ns += ns;
            out.tids.push(tid);
        }
    }
    if out.tids.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no threads of {pid}"),
        ));
    }
    Ok(out)
}

/// Time on CPU of thread `tid` of `pid`, ns; `None` if the thread is gone.
fn thread_ns(pid: i32, tid: i32) -> std::io::Result<Option<u64>> {
    let path = format!("/proc/{pid}/task/{tid}/schedstat");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        // Gone: ENOENT on open, ESRCH on read.
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || e.raw_os_error() == Some(libc::ESRCH) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    parse_schedstat(&text)
        .map(Some)
        .ok_or_else(|| std::io::Error::other(format!("malformed {path}: {text:?}")))
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

    #[test]
    fn schedstat_parses_its_first_field() {
        assert_eq!(parse_schedstat("20228225 4253641 48\n"), Some(20_228_225));
        assert_eq!(parse_schedstat("0 67938 1"), Some(0));
        assert_eq!(
            parse_schedstat("18446744073709551615 0 0\n"),
            Some(u64::MAX)
        );
        assert_eq!(parse_schedstat(""), None);
        assert_eq!(parse_schedstat("12 34\n"), None);
        assert_eq!(parse_schedstat("12 34 56 78\n"), None);
        assert_eq!(parse_schedstat("-1 0 0\n"), None);
        assert_eq!(parse_schedstat("1.5 0 0\n"), None);
        assert_eq!(parse_schedstat("12 x 56\n"), None);
    }

    #[test]
    fn tids_tell_whether_a_difference_is_complete() {
        let a = CpuNs {
            ns: 1_000,
            tids: vec![10, 11],
        };
        let same = CpuNs {
            ns: 1_500,
            tids: vec![10, 11],
        };
        let lost = CpuNs {
            ns: 900,
            tids: vec![10],
        };
        assert_eq!(a.until(&same), (500, true));
        assert_eq!(a.until(&lost), (0, false));
    }

    #[test]
    fn our_own_cpu_time_grows_while_busy() {
        let me = i32::try_from(std::process::id()).unwrap();
        // SAFETY: gettid has no memory effects.
        let tid = unsafe { libc::gettid() };
        let mine = || thread_ns(me, tid).unwrap().expect("our own thread");
        let before = cpu_ns(me).unwrap();
        let mine_before = mine();
        assert!(before.tids.contains(&tid), "{before:?} lacks thread {tid}");
        assert!(before.tids.is_sorted());
        // Spin until this thread has had 20 ms on CPU (within 10 s, however busy the machine).
        let start = Instant::now();
        let mut x = 0u64;
        while mine() < mine_before + 20_000_000 && start.elapsed() < Duration::from_secs(10) {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
            }
        }
        let grew = mine() - mine_before;
        let after = cpu_ns(me).unwrap();
        assert!(
            grew >= 20_000_000,
            "{grew} ns on CPU after 10 s of spinning"
        );
        assert!(after.tids.contains(&tid));
        // Other test threads may come and go meanwhile; with the same threads, the whole
        // process's time grew at least as much as ours.
        let (delta, same) = before.until(&after);
        assert!(
            !same || delta >= grew,
            "{before:?} -> {after:?}, ours grew {grew}"
        );
    }
}
