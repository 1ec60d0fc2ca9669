#!/bin/bash
# Capture golden wire bytes from the real libsanlock clients talking to the real sanlock
# daemon. Documentation and provenance for the fixtures in this directory; NOT run by the
# tests (cargo test only reads the *.hex files this produces).
#
# Requirements: sanlock 3.8.5 (the daemon and the `sanlock client` CLI, which links
# libsanlock.so.1), python3-sanlock for /usr/bin/python3, a filesystem under $TMPDIR (default
# /var/tmp; override with CAPTURE_DIR) that supports O_DIRECT (ext4/xfs; not tmpfs). Run as root.
#
# What it does:
#   1. makes a 16 MiB lease image file (regular file => 512-byte sectors, 1 MiB align);
#   2. starts daemon A (host 1) and daemon B (host 2, used only as the other end of lockspace
#      events), each with its own SANLOCK_RUN_DIR, as
#      `SANLOCK_RUN_DIR=<dir> SANLOCK_PRIVILEGED=0 sanlock daemon -w 0 -l 0 -U root -G root -D`;
#   3. starts record_proxy.py: a unix socket in its own run dir that forwards every
#      connection to daemon A and logs every chunk, both directions, tagged with the label
#      of the step being run;
#   4. runs capture_driver.py with SANLOCK_RUN_DIR pointing at the proxy, so python3-sanlock,
#      libsanlock via ctypes (version, restrict, convert) and the `sanlock client` CLI
#      (status, log_dump, host_status, renewal, set_config, examine, rindex ops, shutdown)
#      all talk to daemon A through the proxy; it also sends a few hand-made malformed
#      messages to see how the real daemon answers;
#   5. stops both daemons and the proxy, then extract.py writes <label>/request.hex and
#      <label>/reply.hex (one pair per connection) next to this script.
#
# The daemon sees the proxy as the peer of every connection (SO_PEERCRED), so "pid" fields
# in the fixtures are the proxy's pid, not the python process's.
#
# Usage: bash lease-wire/tests/golden/capture.sh            (rewrites the fixtures)
#        KEEP=1 bash ...                                     (keeps the scratch dir)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY=/usr/bin/python3
# A fixed scratch path keeps the disk path inside the fixtures stable across captures.
W="${CAPTURE_DIR:-/var/tmp/sanlock-capture}"
rm -rf "$W"
mkdir -p "$W/a" "$W/b" "$W/p"
DISK="$W/disk.img"
truncate -s 16M "$DISK"

A_PID=""; B_PID=""; P_PID=""
cleanup() {
    set +e
    SANLOCK_RUN_DIR="$W/a" sanlock client shutdown -f 1 >/dev/null 2>&1
    SANLOCK_RUN_DIR="$W/b" sanlock client shutdown -f 1 >/dev/null 2>&1
    sleep 2
    for p in $A_PID $B_PID $P_PID; do kill "$p" 2>/dev/null; done
    if [ -z "${KEEP:-}" ]; then rm -rf "$W"; else echo "scratch kept in $W"; fi
}
trap cleanup EXIT

start_daemon() { # $1 = run dir, $2 = log file; prints the pid
    SANLOCK_RUN_DIR="$1" SANLOCK_PRIVILEGED=0 \
        sanlock daemon -w 0 -l 0 -U root -G root -D >"$2" 2>&1 &
    echo $!
}
A_PID=$(start_daemon "$W/a" "$W/daemon-a.log")
B_PID=$(start_daemon "$W/b" "$W/daemon-b.log")
for _ in $(seq 50); do
    [ -S "$W/a/sanlock.sock" ] && [ -S "$W/b/sanlock.sock" ] && break
    sleep 0.1
done

: >"$W/label"
$PY "$HERE/record_proxy.py" "$W/p/sanlock.sock" "$W/a/sanlock.sock" "$W/log.jsonl" \
    "$W/label" 2>"$W/proxy.log" &
P_PID=$!
for _ in $(seq 50); do [ -S "$W/p/sanlock.sock" ] && break; sleep 0.1; done

SANLOCK_RUN_DIR="$W/p" CAP_DIR="$W" CAP_DISK="$DISK" CAP_PROXY_PID="$P_PID" \
    CAP_B_RUN_DIR="$W/b" $PY "$HERE/capture_driver.py" 2>&1 | tee "$W/capture.log"

# Let daemon A finish the SHUTDOWN_WAIT the driver asked for, then stop the rest.
for _ in $(seq 100); do kill -0 "$A_PID" 2>/dev/null || break; sleep 0.1; done
SANLOCK_RUN_DIR="$W/b" sanlock client shutdown -f 1 >/dev/null 2>&1 || true
sleep 1
kill "$P_PID" 2>/dev/null || true

# Regenerate the fixtures (the driver's readable transcript goes along as capture.log).
find "$HERE" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
$PY "$HERE/extract.py" "$W/log.jsonl" "$HERE"
cp "$W/capture.log" "$HERE/capture.log"
echo "fixtures written under $HERE"
