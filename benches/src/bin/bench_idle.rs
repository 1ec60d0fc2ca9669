//! bench_idle: daemon CPU% and resident memory, idle, with 1, 10 and 100 lockspaces
//! (issue 3), ours next to sanlock's in the same run on the same loop device.
//!
//! Both daemons run at the same time, each with its own lockspaces (`I<i>`: ours at
//! `(100 + i)` MiB, sanlock's at `(300 + i)` MiB, initialised with the io_timeout under test,
//! 10 by default, and joined with it). For each count the missing lockspaces are joined on
//! both daemons in parallel (async adds), then after a settle time each window samples both
//! daemons exactly as the peer kit does: `utime + stime` of `/proc/PID/stat` over the window
//! and `VmRSS` of `/proc/PID/status` at its end. sanlock's helper process is reported
//! separately (`helper_*`), as in the peer kit.
//!
//! Clock ticks (10 ms) cannot tell the daemons apart at 1 lockspace (1-2 ticks a minute each),
//! so each window also reads the nanosecond CPU time of every live thread of the main process
//! (`/proc/PID/task/TID/schedstat`), pooled over the windows as `cpu_us_per_min`. A thread
//! that exits during a window takes its time with it: `tids_changed` counts the windows whose
//! thread ids differed at the two ends (their per-window 0/1 in the JSON's `runs`); otherwise
//! it may be low. A thread born and gone within one window is missed by both, so the ticks,
//! which keep dead threads' time, remain the check.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use benches::daemons::{join_each_at_once, labels, DaemonProc, Kind, LsRef};
use benches::procfs::{self, CpuNs, Sample};
use benches::report::median;
use benches::setup::{init_lockspace, MIB};
use benches::{Bench, CommonArgs};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "Idle CPU% and RSS of our daemon and sanlock's with 1, 10, 100 lockspaces")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Lockspace counts, increasing, comma separated (at most 200).
    #[arg(long, default_value = "1,10,100", value_delimiter = ',')]
    counts: Vec<usize>,
    /// io_timeout the lockspaces are initialised and joined with.
    #[arg(long, default_value_t = 10)]
    io: u16,
    /// Seconds per measurement window.
    #[arg(long, visible_alias = "window-secs", default_value_t = 20.0)]
    window: f64,
    /// Windows per count.
    #[arg(long, visible_alias = "windows", default_value_t = 3)]
    runs: usize,
    /// Seconds to wait after the joins before measuring.
    #[arg(long, default_value_t = 2.0)]
    settle: f64,
}

impl Args {
    fn apply_smoke(&mut self) {
        if self.common.smoke {
            self.counts = vec![2];
            self.io = 1;
            self.window = 1.0;
            self.runs = 1;
            self.settle = 0.2;
        }
    }
}

/// Lockspace `I<i>` of daemon variant `v`.
fn offset(v: usize, i: usize) -> u64 {
    (100 + 200 * v as u64 + i as u64) * MIB
}

fn main() -> ExitCode {
    benches::main("bench_idle", || {
        let mut args = Args::parse();
        args.apply_smoke();
        run(&args)
    })
}

/// Per-daemon accumulation over the windows of one count.
#[derive(Debug, Default)]
struct Windows {
    cpu: Vec<f64>,
    rss: Vec<f64>,
    anon: Vec<f64>,
    file: Vec<f64>,
    threads: Vec<f64>,
    helper_cpu: Vec<f64>,
    helper_rss: Vec<f64>,
    ticks: u64,
    seconds: f64,
    /// Per window: µs on CPU (schedstat) per minute of wall time; NaN if unread.
    us_per_min: Vec<f64>,
    /// Per window: 1 if the thread ids differed at its two ends, else 0.
    tids_changed: Vec<f64>,
    /// Pooled ns on CPU (schedstat) over the windows read, and their seconds.
    ns: u64,
    ns_seconds: f64,
}

impl Windows {
    /// Ticks over all windows as CPU %.
    fn cpu_all_windows(&self, hz: u64) -> f64 {
        self.ticks as f64 / hz as f64 / self.seconds * 100.0
    }

    /// schedstat time over all windows as µs of CPU per minute of wall time; NaN if a window
    /// could not be read.
    fn cpu_us_per_min(&self) -> f64 {
        if self.us_per_min.iter().any(|x| x.is_nan()) {
            return f64::NAN;
        }
        self.ns as f64 / 1e3 / self.ns_seconds * 60.0
    }
}

fn helper_sample(pids: &[i32]) -> Sample {
    pids.iter().filter_map(|&p| procfs::sample(p).ok()).fold(
        Sample {
            ticks: 0,
            rss_kib: 0,
            anon_kib: 0,
            file_kib: 0,
            threads: 0,
        },
        |a, s| Sample {
            ticks: a.ticks + s.ticks,
            rss_kib: a.rss_kib + s.rss_kib,
            anon_kib: a.anon_kib + s.anon_kib,
            file_kib: a.file_kib + s.file_kib,
            threads: a.threads + s.threads,
        },
    )
}

/// The timestamp of the last renewal of each lockspace; `None` if the daemon does not answer.
fn last_renewals(d: &DaemonProc, spaces: &[LsRef]) -> Option<Vec<u64>> {
    spaces
        .iter()
        .map(|ls| {
            d.renewals(&ls.name)
                .ok()
                .map(|h| h.last().map_or(0, |r| r.timestamp))
        })
        .collect()
}

fn run(args: &Args) -> Result<()> {
    let max_count = args.counts.iter().copied().max().unwrap_or(0);
    if max_count == 0 || max_count > 200 || !args.counts.is_sorted() {
        return Err(anyhow!("--counts must increase, within 1..=200"));
    }
    let mut bench = Bench::start("bench_idle", &args.common)?;
    let report = &mut bench.report;
    report.meta("io_timeout", args.io);
    report.meta("window_seconds", args.window);
    let hz = procfs::clk_tck();
    report.meta("clk_tck", hz);
    let variants = args.common.variants()?;
    if variants.len() > 3 {
        return Err(anyhow!("at most 3 daemons"));
    }
    {
        let dev = bench.lo.open()?;
        for v in 0..variants.len() {
            for i in 0..max_count {
                init_lockspace(&dev, &format!("I{i}"), offset(v, i), args.io)?;
            }
        }
    }
    let path = bench.lo.path_str();
    let mut daemons = Vec::new();
    for variant in &variants {
        let run_dir = bench.work.path().join(variant.label);
        daemons.push(DaemonProc::start_reported(
            *variant,
            &bench.lease,
            &run_dir,
            report,
        )?);
    }
    for d in &daemons {
        let s = procfs::sample(d.pid())?;
        report.emit(
            &format!("{}.idle.0ls.rss", d.label()),
            s.rss_kib as f64 / 1024.0,
            "MiB",
            None,
        );
    }
    let mut joined = 0;
    let mut by_count: Vec<(usize, Vec<Windows>)> = Vec::new();
    for &count in &args.counts {
        let spaces = |v: usize| -> Vec<LsRef> {
            (joined..count)
                .map(|i| LsRef::new(&format!("I{i}"), &path, offset(v, i)))
                .collect()
        };
        eprintln!(
            "== joining lockspaces {joined}..{count} at io_timeout {} on {}",
            args.io,
            labels(&variants)
        );
        let joins = join_each_at_once(
            daemons.iter().enumerate().map(|(v, d)| (d, spaces(v))),
            u32::from(args.io),
        );
        for (d, took) in daemons.iter().zip(joins) {
            let took = took?;
            eprintln!(
                "  {} joined {} more in {:.1} s",
                d.label(),
                count - joined,
                took.as_secs_f64()
            );
            report.emit(
                &format!("{}.idle.{count}ls.join", d.label()),
                took.as_secs_f64(),
                "s",
                None,
            );
        }
        joined = count;
        std::thread::sleep(Duration::from_secs_f64(args.settle));
        // Liveness: the last renewal of every lockspace, before and after the windows (a
        // daemon that stopped renewing would look very idle).
        let all_spaces: Vec<Vec<LsRef>> = (0..daemons.len())
            .map(|v| {
                (0..count)
                    .map(|i| LsRef::new(&format!("I{i}"), &path, offset(v, i)))
                    .collect()
            })
            .collect();
        let last_before: Vec<Option<Vec<u64>>> = daemons
            .iter()
            .zip(&all_spaces)
            .map(|(d, spaces)| last_renewals(d, spaces))
            .collect();
        let mut acc: Vec<Windows> = daemons.iter().map(|_| Windows::default()).collect();
        for run in 0..args.runs {
            type Before = (Sample, Option<CpuNs>, Vec<i32>, Sample);
            let before: Vec<Before> = daemons
                .iter()
                .map(|d| {
                    let helpers = d.helpers();
                    let h = helper_sample(&helpers);
                    let s = procfs::sample(d.pid()).unwrap_or(h);
                    (s, procfs::cpu_ns(d.pid()).ok(), helpers, h)
                })
                .collect();
            let start = Instant::now();
            std::thread::sleep(Duration::from_secs_f64(args.window));
            let elapsed = start.elapsed().as_secs_f64();
            for ((d, (b, nb, helpers, hb)), w) in daemons.iter().zip(before).zip(acc.iter_mut()) {
                let a = procfs::sample(d.pid())?;
                let na = procfs::cpu_ns(d.pid()).ok();
                let ha = helper_sample(&helpers);
                let ticks = a.ticks.saturating_sub(b.ticks);
                let cpu = ticks as f64 / hz as f64 / elapsed * 100.0;
                let rss = a.rss_kib as f64 / 1024.0;
                let ns_text = match nb.zip(na).map(|(nb, na)| nb.until(&na)) {
                    Some((ns, same)) => {
                        w.ns += ns;
                        w.ns_seconds += elapsed;
                        w.us_per_min.push(ns as f64 / 1e3 / elapsed * 60.0);
                        w.tids_changed.push(if same { 0.0 } else { 1.0 });
                        let changed = if same { "" } else { ", thread ids changed" };
                        format!("{:.3} ms by schedstat{changed}", ns as f64 / 1e6)
                    }
                    None => {
                        w.us_per_min.push(f64::NAN);
                        "no schedstat".to_string()
                    }
                };
                eprintln!(
                    "  idle {count}ls run {run}: {} cpu {cpu:.3}% ({ticks} ticks, {ns_text}) \
                     rss {rss:.1} MiB threads {}",
                    d.label(),
                    a.threads
                );
                w.cpu.push(cpu);
                w.rss.push(rss);
                w.anon.push(a.anon_kib as f64 / 1024.0);
                w.file.push(a.file_kib as f64 / 1024.0);
                w.threads.push(a.threads as f64);
                w.ticks += ticks;
                w.seconds += elapsed;
                if d.kind() == Kind::Sanlock {
                    let hticks = ha.ticks.saturating_sub(hb.ticks);
                    w.helper_cpu
                        .push(hticks as f64 / hz as f64 / elapsed * 100.0);
                    w.helper_rss.push(ha.rss_kib as f64 / 1024.0);
                }
            }
        }
        for (d, w) in daemons.iter().zip(&acc) {
            let p = format!("{}.idle.{count}ls", d.label());
            report.agg(&format!("{p}.cpu"), &w.cpu, "%");
            report.agg(&format!("{p}.rss"), &w.rss, "MiB");
            report.emit(&format!("{p}.rss_anon"), median(&w.anon), "MiB", None);
            report.emit(&format!("{p}.rss_file"), median(&w.file), "MiB", None);
            report.emit(&format!("{p}.threads"), median(&w.threads), "threads", None);
            if d.kind() == Kind::Sanlock {
                report.agg(&format!("{p}.helper_cpu"), &w.helper_cpu, "%");
                report.agg(&format!("{p}.helper_rss"), &w.helper_rss, "MiB");
            }
            // CPU over all windows together: finer than one window's tick resolution.
            report.emit(
                &format!("{p}.cpu_all_windows"),
                w.cpu_all_windows(hz),
                "%",
                None,
            );
            report.emit(
                &format!("{p}.cpu_ticks_all_windows"),
                w.ticks as f64,
                "ticks",
                None,
            );
            // schedstat, ns: exact where no thread exited during a window (`tids_changed` 0).
            let per_window = &w.us_per_min;
            let text: Vec<String> = per_window.iter().map(|x| format!("{x:.1}")).collect();
            eprintln!("  {p}.cpu_us_per_min runs: {}", text.join(" "));
            report.emit(
                &format!("{p}.cpu_us_per_min"),
                w.cpu_us_per_min(),
                "us_per_min",
                Some(per_window),
            );
            if w.us_per_min.iter().all(|x| !x.is_nan()) {
                report.emit(
                    &format!("{p}.tids_changed"),
                    w.tids_changed.iter().sum(),
                    "windows",
                    Some(&w.tids_changed),
                );
            }
        }
        for ((d, spaces), before) in daemons.iter().zip(&all_spaces).zip(&last_before) {
            let p = format!("{}.idle.{count}ls", d.label());
            match (before, last_renewals(d, spaces)) {
                // Meaningful only if the windows span at least two renewal intervals.
                (Some(_), Some(_))
                    if (args.runs as f64 * args.window) < 4.0 * f64::from(args.io) => {}
                (Some(before), Some(after)) => {
                    let stale = before.iter().zip(&after).filter(|(b, a)| a <= b).count();
                    if stale > 0 {
                        eprintln!(
                            "STALE: {}: {stale} of {count} lockspaces did not renew during the \
                             windows",
                            d.label()
                        );
                    }
                    report.emit(
                        &format!("{p}.stale_lockspaces"),
                        stale as f64,
                        "lockspaces",
                        None,
                    );
                }
                _ => {
                    eprintln!("STALL: {} does not answer renewal requests", d.label());
                    report.emit(&format!("{p}.stalled"), 1.0, "flag", None);
                }
            }
        }
        by_count.push((count, acc));
    }
    let sanlock_at = daemons.iter().position(|d| d.kind() == Kind::Sanlock);
    for (count, acc) in &by_count {
        let Some(s) = sanlock_at else { break };
        for (o, d) in daemons.iter().enumerate() {
            if d.kind() != Kind::Ours {
                continue;
            }
            let label = d.label();
            let (ours, theirs) = (&acc[o], &acc[s]);
            if *count == 10 {
                report.target(
                    &format!("idle_rss_10ls_over_sanlock.{label}"),
                    (median(&ours.rss) / median(&theirs.rss), "x"),
                    1.0 / 3.0,
                    false,
                    &format!("{label} idle RSS with 10 lockspaces / sanlock's (main process)"),
                );
            }
            report.target(
                &format!("idle_cpu_{count}ls_minus_sanlock.{label}"),
                (
                    ours.cpu_all_windows(hz) - theirs.cpu_all_windows(hz),
                    "pct_points",
                ),
                0.0,
                false,
                &format!(
                    "{label} idle CPU% minus sanlock's with {count} lockspaces (all windows, \
                     main processes)"
                ),
            );
            let changed = |w: &Windows| w.tids_changed.iter().sum::<f64>();
            report.target(
                &format!("idle_cpu_us_per_min_{count}ls_minus_sanlock.{label}"),
                (
                    ours.cpu_us_per_min() - theirs.cpu_us_per_min(),
                    "us_per_min",
                ),
                0.0,
                false,
                &format!(
                    "{label} idle CPU µs per minute minus sanlock's with {count} lockspaces \
                     (schedstat, all windows, main processes; windows with thread ids changed: \
                     {} ours, {} sanlock's)",
                    changed(ours),
                    changed(theirs)
                ),
            );
        }
    }
    drop(daemons);
    bench.finish(args.common.json.as_deref())
}
