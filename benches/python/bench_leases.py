#!/usr/bin/python3
"""bench_leases.py - resource lease latency and throughput through python3-sanlock.

Adapted from the peer kit's bench.py (sections b "latency" and d "tput"), so that both
daemons are measured with the same client code. Talks to the daemon of $SANLOCK_RUN_DIR
(ours or sanlock's: the client library cannot tell them apart). The lockspace must be
joined (host_id 1) and the resources res0..res{N-1} initialised at RES_BASE + i MiB.

Prints one "name value unit" line per figure (one run; bench_leases, the Rust driver,
interleaves runs over both daemons and takes the median over runs); details on stderr.

usage: bench_leases.py --dev DEV --ls LS --res-base BYTES --nres N
                       [--cycles 500] [--tput-seconds 3] [--procs 8] [section ...]
sections: noop latency distinct tput (default: all)
  noop     inquire on the registered connection while holding nothing: the client library,
           the socket round trip and the daemon's dispatch, without any I/O
  latency  exclusive acquire and release of res0, one registered process, CYCLES cycles
           (after 20 warm-up cycles)
  distinct the same, each cycle on the next of res16..res{N-1} (as the sequential throughput)
  tput     acquire+release pairs per second: one process cycling through the distinct
           resources res16..res{N-1}; then PROCS processes, each on its own resource
           res8..res{8+PROCS-1} (needs N >= 16 + 1 and PROCS <= 8)
"""
import argparse
import multiprocessing as mp
import statistics
import sys
import time
import os

import sanlock

MIB = 1048576
clk = time.perf_counter
A = None


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def emit(name, value, unit):
    print("%s %.6f %s" % (name, value, unit), flush=True)


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * p))]


def res(i):
    return b"res%d" % i, [(A.dev, A.res_base + i * MIB)]


def sec_noop():
    fd = sanlock.register()
    lat = []
    for _ in range(20 + A.cycles):
        t0 = clk()
        sanlock.inquire(slkfd=fd)
        lat.append(clk() - t0)
    lat = lat[20:]
    os.close(fd)
    emit("noop.inquire.median", statistics.median(lat) * 1e3, "ms")
    emit("noop.inquire.p99", pct(lat, .99) * 1e3, "ms")


def cycle_latency(fd, cycles):
    name, disks = res(0)
    acq, rel = [], []
    for _ in range(cycles):
        t0 = clk()
        sanlock.acquire(A.ls, name, disks, slkfd=fd)
        t1 = clk()
        sanlock.release(A.ls, name, disks, slkfd=fd)
        t2 = clk()
        acq.append(t1 - t0)
        rel.append(t2 - t1)
    return acq, rel


def sec_latency():
    fd = sanlock.register()
    cycle_latency(fd, 20)  # warm-up
    acq, rel = cycle_latency(fd, A.cycles)
    os.close(fd)
    emit("excl.acquire.median", statistics.median(acq) * 1e3, "ms")
    emit("excl.acquire.p99", pct(acq, .99) * 1e3, "ms")
    emit("excl.release.median", statistics.median(rel) * 1e3, "ms")
    emit("excl.release.p99", pct(rel, .99) * 1e3, "ms")


def sec_distinct():
    """latency when each cycle takes another resource (what the sequential throughput does)"""
    fd = sanlock.register()
    acq, rel = [], []
    rs = list(range(16, A.nres))
    for k in range(20 + A.cycles):
        name, disks = res(rs[k % len(rs)])
        t0 = clk()
        sanlock.acquire(A.ls, name, disks, slkfd=fd)
        t1 = clk()
        sanlock.release(A.ls, name, disks, slkfd=fd)
        t2 = clk()
        if k >= 20:
            acq.append(t1 - t0)
            rel.append(t2 - t1)
    os.close(fd)
    emit("distinct.acquire.median", statistics.median(acq) * 1e3, "ms")
    emit("distinct.acquire.p99", pct(acq, .99) * 1e3, "ms")
    emit("distinct.release.median", statistics.median(rel) * 1e3, "ms")
    emit("distinct.release.p99", pct(rel, .99) * 1e3, "ms")


def _tput_worker(args, res_list, start_at, dur, q):
    global A
    A = args
    fd = sanlock.register()
    while time.time() < start_at:
        time.sleep(0.001)
    n, i, end = 0, 0, start_at + dur
    while time.time() < end:
        name, disks = res(res_list[i % len(res_list)])
        sanlock.acquire(A.ls, name, disks, slkfd=fd)
        sanlock.release(A.ls, name, disks, slkfd=fd)
        n += 1
        i += 1
    q.put(n)


def run_tput(groups, dur):
    q = mp.Queue()
    start_at = time.time() + 0.5
    ps = [mp.Process(target=_tput_worker, args=(A, g, start_at, dur, q)) for g in groups]
    for p in ps:
        p.start()
    total = sum(q.get() for _ in ps)
    for p in ps:
        p.join()
    return total / dur


def sec_tput():
    if A.nres < 17 or A.procs > 8:
        raise SystemExit("tput needs --nres >= 17 and --procs <= 8")
    seq_res = list(range(16, A.nres))             # distinct resources, round robin
    par_res = [[8 + k] for k in range(A.procs)]    # PROCS processes, 1 resource each
    run_tput([seq_res], min(0.5, A.tput_seconds))  # warm-up
    seq = run_tput([seq_res], A.tput_seconds)
    par = run_tput(par_res, A.tput_seconds)
    log("  tput: seq %.1f/s  %dproc %.1f/s" % (seq, A.procs, par))
    emit("tput.sequential_distinct", seq, "acq+rel/s")
    emit("tput.%dproc_%dres" % (A.procs, A.procs), par, "acq+rel/s")


SECTIONS = [("noop", sec_noop), ("latency", sec_latency), ("distinct", sec_distinct),
            ("tput", sec_tput)]


def main():
    global A
    p = argparse.ArgumentParser()
    p.add_argument("--dev", required=True)
    p.add_argument("--ls", required=True)
    p.add_argument("--res-base", type=int, required=True)
    p.add_argument("--nres", type=int, required=True)
    p.add_argument("--cycles", type=int, default=500)
    p.add_argument("--tput-seconds", type=float, default=3.0)
    p.add_argument("--procs", type=int, default=8)
    p.add_argument("sections", nargs="*")
    A = p.parse_args()
    A.ls = A.ls.encode()
    want = A.sections or [n for n, _ in SECTIONS]
    for n, f in SECTIONS:
        if n in want:
            t0 = clk()
            f()
            log("  %s took %.1f s" % (n, clk() - t0))


if __name__ == "__main__":
    main()
