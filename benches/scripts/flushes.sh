#!/bin/bash
# flushes.sh - how many times one O_DIRECT sector write flushes the loop device's backing file,
# by the way it is issued: synchronous pwrite (our ThreadExecutor), Linux AIO (sanlock 3.8.5,
# use_aio=1) and io_uring (lease-io's engine), each with O_DSYNC and O_SYNC, and without either.
#
# The loop device turns every flush into an fsync of its backing file: we count them with the
# ext4:ext4_sync_file_enter tracepoint (filtered on the image's inode) and time the writes.
# Needs root, gcc and perf. Prints `flushes.<mode>.per_write N fsyncs` and
# `flushes.<mode>.median N us` lines.
#
# usage: benches/scripts/flushes.sh [WRITES]   (default 300)
set -euo pipefail
N=${1:-300}
W=$(mktemp -d /tmp/leasebench-flushes.XXXXXX)
DEV=""
cleanup() { [ -n "$DEV" ] && losetup -d "$DEV" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT INT TERM

cat > "$W/w.c" <<'EOF'
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/aio_abi.h>
#include <linux/io_uring.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

/* A minimal io_uring: one SQE, one CQE at a time. */
struct ring { int fd; unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask; struct io_uring_sqe *sqes; struct io_uring_cqe *cqes; };
static int ring_init(struct ring *r) {
    struct io_uring_params p; memset(&p, 0, sizeof p);
    r->fd = syscall(__NR_io_uring_setup, 4, &p); if (r->fd < 0) return -1;
    size_t sl = p.sq_off.array + p.sq_entries * sizeof(unsigned), cl = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    char *sq = mmap(0, sl, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
    char *cq = mmap(0, cl, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
    r->sqes = mmap(0, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || r->sqes == MAP_FAILED) return -1;
    r->sq_tail = (unsigned *)(sq + p.sq_off.tail); r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask); r->sq_array = (unsigned *)(sq + p.sq_off.array);
    r->cq_head = (unsigned *)(cq + p.cq_off.head); r->cq_tail = (unsigned *)(cq + p.cq_off.tail); r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask); r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    return 0;
}
static int ring_write(struct ring *r, int fd, void *buf, unsigned len, off_t off) {
    unsigned tail = *r->sq_tail, i = tail & *r->sq_mask;
    struct io_uring_sqe *s = &r->sqes[i]; memset(s, 0, sizeof *s);
    s->opcode = IORING_OP_WRITE; s->fd = fd; s->addr = (unsigned long)buf; s->len = len; s->off = off;
    r->sq_array[i] = i; __atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
    if (syscall(__NR_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) return -1;
    unsigned head = *r->cq_head; while (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) ;
    int res = r->cqes[head & *r->cq_mask].res; __atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
    return res;
}

/* w DEV MODE N; MODE = {pwrite,aio,uring}_{none,dsync,sync} */
int main(int argc, char **argv) {
    const char *m = argv[2]; int n = atoi(argv[3]);
    int flags = O_RDWR | O_DIRECT;
    if (strstr(m, "_dsync")) flags |= O_DSYNC; else if (strstr(m, "_sync")) flags |= O_SYNC;
    int fd = open(argv[1], flags); if (fd < 0) { perror("open"); return 1; }
    void *buf; if (posix_memalign(&buf, 4096, 4096)) return 1; memset(buf, 0, 4096);
    aio_context_t ctx = 0; struct ring r;
    if (!strncmp(m, "aio", 3) && syscall(__NR_io_setup, 8, &ctx)) { perror("io_setup"); return 1; }
    if (!strncmp(m, "uring", 5) && ring_init(&r)) { perror("io_uring_setup"); return 1; }
    double *lat = malloc(n * sizeof(double));
    for (int i = 0; i < n; i++) {
        off_t off = (off_t)900 * 1048576 + (i % 64) * 4096; double t0 = now(); long res;
        if (!strncmp(m, "aio", 3)) {
            struct iocb cb; memset(&cb, 0, sizeof cb); cb.aio_lio_opcode = IOCB_CMD_PWRITE; cb.aio_fildes = fd;
            cb.aio_buf = (unsigned long)buf; cb.aio_nbytes = 512; cb.aio_offset = off; struct iocb *cbs[1] = { &cb };
            struct io_event ev;
            if (syscall(__NR_io_submit, ctx, 1, cbs) != 1 || syscall(__NR_io_getevents, ctx, 1, 1, &ev, NULL) != 1) { perror("aio"); return 1; }
            res = ev.res;
        } else if (!strncmp(m, "uring", 5)) {
            res = ring_write(&r, fd, buf, 512, off);
        } else {
            res = pwrite(fd, buf, 512, off);
        }
        if (res != 512) { fprintf(stderr, "%s: write returned %ld\n", m, res); return 1; }
        lat[i] = now() - t0;
    }
    qsort(lat, n, sizeof(double), cmp);
    printf("%.1f\n", lat[n / 2]);
    return 0;
}
EOF
gcc -O2 -o "$W/w" "$W/w.c"
truncate -s 1G "$W/disk.img"
DEV=$(losetup -f --show "$W/disk.img")
INO=$(stat -c %i "$W/disk.img")
dd if=/dev/zero of="$DEV" bs=1M seek=900 count=1 oflag=direct status=none
echo "# flushes.sh $(date -u +%FT%TZ) dev=$DEV image inode=$INO writes=$N"
for io in pwrite aio uring; do
    for sync in none dsync sync; do
        mode=${io}_${sync}
        med=$(perf stat -x, -o "$W/stat" -e ext4:ext4_sync_file_enter --filter "ino == $INO" -a -- "$W/w" "$DEV" "$mode" "$N")
        count=$(awk -F, '/ext4_sync_file_enter/ {print $1}' "$W/stat")
        awk -v c="$count" -v n="$N" -v m="$mode" 'BEGIN { printf "flushes.%s.per_write %.2f fsyncs\n", m, c / n }'
        echo "flushes.$mode.median $med us"
    done
done
