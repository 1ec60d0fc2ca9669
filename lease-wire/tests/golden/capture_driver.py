#!/usr/bin/python3
"""Drives the real libsanlock clients through the recording proxy (used by capture.sh).

Not run by tests. Environment (set by capture.sh):
  SANLOCK_RUN_DIR  the proxy's run dir (clients connect to its sanlock.sock)
  CAP_DIR          scratch dir holding the `label` file the proxy reads
  CAP_DISK         lease image file (16 MiB, on a filesystem that supports O_DIRECT)
  CAP_PROXY_PID    pid of the proxy (the daemon sees it as the peer of every connection)
  CAP_B_RUN_DIR    run dir of a second daemon (host 2, not proxied) used for events

Every step writes its label to $CAP_DIR/label before it talks to the daemon; the proxy tags
each chunk it copies with the label current at that moment. Results are printed so a human
can read what each step returned (capture.log).
"""
import ctypes
import os
import select
import socket
import struct
import subprocess
import sys
import time

import sanlock

CAP_DIR = os.environ["CAP_DIR"]
DISK = os.environ["CAP_DISK"]
PROXY_PID = int(os.environ["CAP_PROXY_PID"])
B_RUN = os.environ["CAP_B_RUN_DIR"]
RUN = os.environ["SANLOCK_RUN_DIR"]
LS = b"LS"
MiB = 1024 * 1024

lib = ctypes.CDLL("libsanlock.so.1")


def label(name):
    with open(os.path.join(CAP_DIR, "label"), "w") as f:
        f.write(name)
    print("=== " + name, flush=True)


def run(name, fn, *args, **kw):
    label(name)
    try:
        r = fn(*args, **kw)
        print("  ->", repr(r), flush=True)
        return r
    except sanlock.SanlockException as e:
        print("  -> SanlockException", e.args, flush=True)
        return e
    finally:
        time.sleep(0.05)


def cli(name, *argv, env_run=None):
    label(name)
    env = dict(os.environ)
    env["SANLOCK_RUN_DIR"] = env_run or RUN
    p = subprocess.run(["sanlock", "client", *argv], env=env, capture_output=True, text=True)
    print("  -> rc", p.returncode, (p.stdout + p.stderr).strip()[:400].replace("\n", " | "),
          flush=True)
    time.sleep(0.05)


# --- ctypes mirrors of the public sanlock.h structs (for calls python3-sanlock lacks) ---
class Disk(ctypes.Structure):
    _fields_ = [("path", ctypes.c_char * 1024), ("offset", ctypes.c_uint64),
                ("pad1", ctypes.c_uint32), ("pad2", ctypes.c_uint32)]


class Res1(ctypes.Structure):
    _fields_ = [("lockspace_name", ctypes.c_char * 48), ("name", ctypes.c_char * 48),
                ("lver", ctypes.c_uint64), ("data64", ctypes.c_uint64),
                ("data32", ctypes.c_uint32), ("unused", ctypes.c_uint32),
                ("flags", ctypes.c_uint32), ("num_disks", ctypes.c_uint32),
                ("disks", Disk * 1)]


def res1(name, offset, flags=0):
    r = Res1()
    r.lockspace_name = LS
    r.name = name
    r.flags = flags
    r.num_disks = 1
    r.disks[0].path = DISK.encode()
    r.disks[0].offset = offset
    return r


def c_call(name, fn, *args):
    label(name)
    rv = fn(*args)
    print("  -> rv", rv, flush=True)
    time.sleep(0.05)
    return rv


def raw(name, data, read_reply=True, shut=True):
    """Send hand-made bytes to the real daemon (through the proxy) and print what comes back."""
    label(name)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.path.join(RUN, "sanlock.sock"))
    s.sendall(data)
    if shut:
        s.shutdown(socket.SHUT_WR)
    out = b""
    if read_reply:
        s.settimeout(5)
        try:
            while True:
                c = s.recv(65536)
                if not c:
                    break
                out += c
        except socket.timeout:
            out += b"<timeout>"
    s.close()
    print("  -> reply", out.hex(), flush=True)
    time.sleep(0.05)


def raw_session(name, msgs, register=True):
    """Optionally register on a fresh connection, then send each message and print each
    reply (or <timeout> when the daemon sends nothing within 3 s)."""
    label(name)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.path.join(RUN, "sanlock.sock"))
    if register:
        s.sendall(hdr(1, 32))
    s.settimeout(3)
    for m in msgs:
        s.sendall(m)
        out = b""
        try:
            out = s.recv(65536)
        except socket.timeout:
            out = b"<timeout>"
        print("  -> reply", out.hex(), flush=True)
    s.close()
    time.sleep(0.1)


def hdr(cmd, length, flags=0, data=0, data2=0, magic=0x04282010, version=1, seq=0):
    return struct.pack("<8I", magic, version, cmd, flags, length, seq, data, data2)


def lockspace_struct(name=b"LS", host_id=0, flags=0, path=b"", offset=0):
    return struct.pack("<48sQI4x1024sQII", name, host_id, flags, path, offset, 0, 0)


def resource_struct(ls=b"LS", name=b"R1", lver=0, flags=0, disks=((b"", 0),), num_disks=None):
    nd = len(disks) if num_disks is None else num_disks
    b = struct.pack("<48s48sQQIIII", ls, name, lver, 0, 0, 0, flags, nd)
    for p, o in disks:
        b += struct.pack("<1024sQII", p, o, 0, 0)
    return b


def main():
    d = DISK.encode()
    r1 = [(DISK, 1 * MiB)]
    r2 = [(DISK, 2 * MiB)]
    r3 = [(DISK, 3 * MiB)]

    # --- daemon-less-ish admin: versions, log, status ---
    ver = ctypes.c_uint32()
    proto = ctypes.c_uint32()
    c_call("version", lib.sanlock_version, 0, ctypes.byref(ver), ctypes.byref(proto))
    print("  version %#x proto %#x" % (ver.value, proto.value))
    cli("log_dump", "log_dump")
    cli("status_empty", "status")

    # --- on-disk formatting through the daemon ---
    run("write_lockspace", sanlock.write_lockspace, LS, DISK, 0, iotimeout=1)
    run("read_lockspace", sanlock.read_lockspace, DISK, 0)
    run("read_lockspace_err", sanlock.read_lockspace, DISK, 8 * MiB)
    run("write_resource", sanlock.write_resource, LS, b"R1", r1)
    run("write_resource_r2", sanlock.write_resource, LS, b"R2", r2)
    run("write_resource_clear", sanlock.write_resource, LS, b"R3", r3, clear=True)
    run("write_resource_2disks", sanlock.write_resource, LS, b"R4",
        [(DISK, 5 * MiB), (DISK, 6 * MiB)])
    run("read_resource", sanlock.read_resource, DISK, 1 * MiB)
    run("read_resource_err", sanlock.read_resource, DISK, 3 * MiB)

    # --- lockspace membership ---
    run("inq_lockspace_absent", sanlock.inq_lockspace, LS, 1, DISK, 0)
    run("add_lockspace", sanlock.add_lockspace, LS, 1, DISK, 0, iotimeout=1)
    run("add_lockspace_exists", sanlock.add_lockspace, LS, 1, DISK, 0, iotimeout=1)
    run("inq_lockspace", sanlock.inq_lockspace, LS, 1, DISK, 0)
    run("get_lockspaces", sanlock.get_lockspaces)
    run("get_hosts_early", sanlock.get_hosts, LS)
    for _ in range(40):
        time.sleep(0.5)
        try:
            label("probe")
            sanlock.get_hosts(LS)
            break
        except sanlock.SanlockException:
            pass
    run("get_hosts", sanlock.get_hosts, LS)
    run("get_hosts_one", sanlock.get_hosts, LS, 1)
    cli("gets", "gets", "-h", "1")
    cli("host_status", "host_status", "-s", "LS", "-D")
    cli("renewal", "renewal", "-s", "LS")
    cli("set_config_used", "set_config", "-s", "LS", "-u", "1")
    cli("set_config_unused", "set_config", "-s", "LS", "-u", "0")
    cli("examine_lockspace", "examine", "-s", "LS:1:%s:0" % DISK)
    cli("shutdown_busy", "shutdown")

    # --- a registered client: killpath, restrict, acquire, inquire, convert, release ---
    fd = run("register", sanlock.register)
    run("killpath", sanlock.killpath, "/usr/bin/true", ["arg1", "arg 2"], slkfd=fd)
    c_call("restrict", lib.sanlock_restrict, fd, 0x4)
    run("acquire", sanlock.acquire, LS, b"R1", r1, slkfd=fd, lvb=True)
    run("acquire_exists", sanlock.acquire, LS, b"R1", r1, slkfd=fd)
    run("acquire_shared", sanlock.acquire, LS, b"R2", r2, slkfd=fd, shared=True)
    run("inquire", sanlock.inquire, slkfd=fd)
    run("set_lvb", sanlock.set_lvb, LS, b"R1", r1, b"hello lvb")
    run("get_lvb", sanlock.get_lvb, LS, b"R1", r1, 16)
    run("read_resource_owners", sanlock.read_resource_owners, LS, b"R1", r1)
    cli("status", "status")
    cli("status_D", "status", "-D")
    cli("examine_resource", "examine", "-r", "LS:R1:%s:%d" % (DISK, MiB))
    run("rem_lockspace_unused_busy", sanlock.rem_lockspace, LS, 1, DISK, 0, unused=True)
    c_call("convert", lib.sanlock_convert, fd, -1, 0, ctypes.byref(res1(b"R2", 2 * MiB)))
    c_call("convert_already", lib.sanlock_convert, fd, -1, 0,
           ctypes.byref(res1(b"R2", 2 * MiB)))
    run("release_shared", sanlock.release, LS, b"R2", r2, slkfd=fd)
    run("release", sanlock.release, LS, b"R1", r1, slkfd=fd)
    run("release_not_held", sanlock.release, LS, b"R1", r1, slkfd=fd)
    run("request", sanlock.request, LS, b"R1", r1, action=sanlock.REQ_GRACEFUL)
    run("acquire_version", sanlock.acquire, LS, b"R1", r1, slkfd=fd, version=1)
    run("release_all_by_close", os.close, fd)

    # --- acting for another pid (the daemon only knows the proxy's pid) ---
    fd2 = run("register_2", sanlock.register)
    run("acquire_pid", sanlock.acquire, LS, b"R2", r2, pid=PROXY_PID)
    run("inquire_pid", sanlock.inquire, pid=PROXY_PID)
    cli("convert_cli", "convert", "-r", "LS:R2:%s:%d:SH" % (DISK, 2 * MiB), "-p",
        str(PROXY_PID))
    run("release_pid", sanlock.release, LS, b"R2", r2, pid=PROXY_PID)
    cli("acquire_cli", "acquire", "-r", "LS:R2:%s:%d" % (DISK, 2 * MiB), "-p",
        str(PROXY_PID))
    cli("release_cli_all", "release", "-p", str(PROXY_PID))
    run("inquire_pid_empty", sanlock.inquire, pid=PROXY_PID)
    run("close_2", os.close, fd2)

    # --- lockspace events between this daemon (host 1) and daemon B (host 2) ---
    envb = dict(os.environ, SANLOCK_RUN_DIR=B_RUN)
    label("b_setup")
    subprocess.run(["/usr/bin/python3", "-c",
                    "import sanlock; sanlock.add_lockspace(b'LS', 2, %r, 0, iotimeout=1)"
                    % DISK], env=envb, check=True)
    efd = run("reg_event", sanlock.reg_event, LS)
    time.sleep(3)
    run("get_hosts_two", sanlock.get_hosts, LS)
    label("b_set_event")
    subprocess.run(["/usr/bin/python3", "-c",
                    "import sanlock; sanlock.set_event(b'LS', 1, 0, 5, data=7, "
                    "flags=sanlock.SETEV_CUR_GENERATION)"], env=envb, check=True)
    label("event_callback")
    ready, _, _ = select.select([efd], [], [], 20)
    print("  event fd ready:", bool(ready), flush=True)
    time.sleep(0.2)
    run("get_event_local", sanlock.get_event, efd)
    run("set_event", sanlock.set_event, LS, 2, 0, 9, data=11,
        flags=sanlock.SETEV_CUR_GENERATION)
    run("set_event_busy", sanlock.set_event, LS, 2, 0, 10, data=12)
    run("end_event", sanlock.end_event, efd, LS)
    label("b_rem")
    subprocess.run(["/usr/bin/python3", "-c",
                    "import sanlock; sanlock.rem_lockspace(b'LS', 2, %r, 0)" % DISK],
                   env=envb, check=True)

    # --- resource index ---
    rx = "LS:%s:%d" % (DISK, 8 * MiB)
    cli("format_rindex", "format", "-x", rx)
    cli("create_resource", "create", "-x", rx, "-e", "RX1")
    cli("lookup_rindex", "lookup", "-x", rx, "-e", "RX1")
    cli("update_rindex", "update", "-x", rx, "-e", "RX2:%d" % (11 * MiB))
    cli("delete_resource", "delete", "-x", rx, "-e", "RX1")
    cli("rebuild_rindex", "rebuild", "-x", rx)

    # --- async add/remove and inq wait ---
    run("rem_lockspace_async", sanlock.rem_lockspace, LS, 1, DISK, 0, wait=False)
    run("inq_lockspace_removing", sanlock.inq_lockspace, LS, 1, DISK, 0)
    run("inq_lockspace_wait", sanlock.inq_lockspace, LS, 1, DISK, 0, wait=True)
    for _ in range(40):
        label("probe")
        if sanlock.inq_lockspace(LS, 1, DISK, 0) is False:
            break
        time.sleep(0.5)
    run("add_lockspace_async", sanlock.add_lockspace, LS, 1, DISK, 0, iotimeout=1,
        wait=False)
    run("inq_lockspace_adding", sanlock.inq_lockspace, LS, 1, DISK, 0)
    run("add_lockspace_inprogress", sanlock.add_lockspace, LS, 1, DISK, 0, iotimeout=1)
    run("rem_lockspace_while_adding", sanlock.rem_lockspace, LS, 1, DISK, 0)
    run("inq_lockspace_wait_added", sanlock.inq_lockspace, LS, 1, DISK, 0, wait=True)
    for _ in range(40):
        label("probe")
        if sanlock.inq_lockspace(LS, 1, DISK, 0) is True:
            break
        time.sleep(0.5)
    else:
        label("probe")
        sanlock.add_lockspace(LS, 1, DISK, 0, iotimeout=1)
    raw_session("acquire_9_resources", [
        hdr(7, 32 + 9 * 1168 + 56, data=9, data2=0xFFFFFFFF)
        + resource_struct(name=b"R1", disks=[(d, MiB)]) * 9 + bytes(56)])
    raw_session("acquire_5_disks", [
        hdr(7, 32 + 128 + 5 * 1040 + 56, data=1, data2=0xFFFFFFFF)
        + resource_struct(name=b"R1", disks=[(d, MiB)] * 5) + bytes(56)])
    raw_session("acquire_0_disks", [
        hdr(7, 32 + 128 + 56, data=1, data2=0xFFFFFFFF)
        + resource_struct(name=b"R1", disks=()) + bytes(56)])
    raw_session("acquire_path_no_nul", [
        hdr(7, 32 + 128 + 1040 + 56, data=1, data2=0xFFFFFFFF)
        + resource_struct(name=b"R1", disks=[(b"x" * 1024, MiB)]) + bytes(56)])
    raw_session("release_9_resources", [
        hdr(8, 32 + 9 * 128, data=9, data2=0xFFFFFFFF)
        + resource_struct(name=b"R1", disks=())[:128] * 9])
    # options.len bytes are not read by the daemon: they become the next "header".
    raw_session("acquire_options_len", [
        hdr(7, 32 + 1168 + 56 + 10, data=1, data2=0xFFFFFFFF)
        + resource_struct(name=b"R1", disks=[(d, MiB)]) + b"own" + bytes(45)
        + struct.pack("<II", 0, 10) + b"0123456789",
        hdr(9, 32, data2=0xFFFFFFFF, seq=78)])
    # REL_ALL: the daemon does not read the resources that follow.
    raw_session("release_all_with_body", [
        hdr(8, 32 + 128, flags=1, data=1, data2=0xFFFFFFFF)
        + resource_struct(name=b"R1", disks=())[:128]])
    raw_session("seq_echo", [
        hdr(9, 32, data2=0xFFFFFFFF, seq=78, flags=2),
        hdr(22, 32, seq=77, flags=8, data=5, data2=6),
        hdr(28, 32, seq=77, flags=3, data=5)])
    raw_session("bad_magic_then_version", [hdr(28, 32, magic=1), hdr(28, 32)], register=False)
    raw_session("unknown_cmd_41_kept_open", [hdr(41, 32)], register=False)
    raw_session("killpath_no_nul", [hdr(17, 32 + 256, data2=0xFFFFFFFF) + b"p" * 128 + b"a" * 128])
    raw_session("set_lvb_too_big", [hdr(25, 32 + 128 + 5000) + resource_struct(disks=())[:128]
                                    + b"L" * 5000], register=False)
    raw_session("set_lvb_length_below_res", [hdr(25, 100) + resource_struct(disks=())[:128]],
                register=False)
    raw_session("add_lockspace_path_no_nul", [hdr(2, 32 + 1104, data=1)
                                              + lockspace_struct(host_id=7, path=b"z" * 1024)],
                register=False)
    raw_session("add_lockspace_host_id_0", [hdr(2, 32 + 1104, data=1)
                                            + lockspace_struct(host_id=0, path=d)],
                register=False)
    raw_session("inquire_unregistered", [hdr(9, 32, data2=0xFFFFFFFF)], register=False)
    cli("align", "align", "-s", "LS:0:%s:0" % DISK)
    fd4 = run("register_4", sanlock.register)
    cli("acquire_cli_multi", "acquire", "-r", "LS:R1:%s:%d" % (DISK, MiB),
        "-r", "LS:R4:%s:%d:%s:%d" % (DISK, 5 * MiB, DISK, 6 * MiB), "-p", str(PROXY_PID))
    cli("release_cli_multi", "release", "-r", "LS:R1:%s:%d" % (DISK, MiB),
        "-r", "LS:R4:%s:%d:%s:%d" % (DISK, 5 * MiB, DISK, 6 * MiB), "-p", str(PROXY_PID))
    run("close_4", os.close, fd4)
    run("rem_lockspace", sanlock.rem_lockspace, LS, 1, DISK, 0)
    run("rem_lockspace_absent", sanlock.rem_lockspace, LS, 1, DISK, 0)

    # --- hand-made malformed messages (what does the real daemon do?) ---
    ls_ok = lockspace_struct(path=d)
    raw("bad_magic", hdr(22, 32, magic=0x12345678))
    raw("bad_version", hdr(22, 32, version=7))
    raw("unknown_cmd_99", hdr(99, 32))
    raw("cmd_0", hdr(0, 32))
    raw("short_header", hdr(22, 32)[:20])
    raw("length_below_header", hdr(22, 16))
    raw("truncated_body", hdr(16, 32 + 1104) + ls_ok[:100])
    raw("inq_no_body", hdr(16, 32))
    raw("name_no_nul", hdr(16, 32 + 1104) + lockspace_struct(name=b"N" * 48, path=d))
    raw("oversize_length", hdr(16, 0x100000) + ls_ok)
    raw("read_resource_0_disks", hdr(21, 32 + 128) + resource_struct(disks=()))
    raw("read_resource_5_disks",
        hdr(21, 32 + 128 + 5 * 1040) + resource_struct(disks=[(d, 0)] * 5))
    raw("read_resource_path_no_nul",
        hdr(21, 32 + 128 + 1040) + resource_struct(disks=[(b"y" * 1024, MiB)]))
    raw("get_hosts_unknown_ls", hdr(23, 32 + 1104) + lockspace_struct(name=b"NOPE"))

    # --- shutdown (lockspaces are gone by now; -w 1 selects SHUTDOWN_WAIT) ---
    cli("shutdown_wait", "shutdown", "-f", "1", "-w", "1")


if __name__ == "__main__":
    sys.exit(main())
