#!/usr/bin/python3
"""Recording proxy for sanlock's client socket (used by capture.sh; not run by tests).

Usage: record_proxy.py LISTEN_SOCK UPSTREAM_SOCK LOG_JSONL LABEL_FILE

Accepts connections on LISTEN_SOCK, opens one connection to UPSTREAM_SOCK per client
connection and copies bytes in both directions unchanged. Every chunk is appended to
LOG_JSONL as {"conn": n, "dir": "c2d"|"d2c", "label": <contents of LABEL_FILE>, "hex": ...}.
The label file is re-read for every chunk so the driver can name the step it is running.
Half-closes are forwarded (shutdown(SHUT_WR)) so EOF-driven exchanges behave as without
the proxy. The daemon sees the proxy's pid through SO_PEERCRED, not the client's.
"""
import json
import os
import socket
import sys
import threading

listen_path, upstream_path, log_path, label_path = sys.argv[1:5]
lock = threading.Lock()
log = open(log_path, "a", buffering=1)
counter = [0]


def label():
    try:
        with open(label_path) as f:
            return f.read().strip()
    except OSError:
        return ""


def pump(conn_id, direction, src, dst):
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if not data:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return
        with lock:
            log.write(json.dumps({"conn": conn_id, "dir": direction,
                                  "label": label(), "hex": data.hex()}) + "\n")
        try:
            dst.sendall(data)
        except OSError:
            return


def serve(client):
    with lock:
        counter[0] += 1
        conn_id = counter[0]
    up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    up.connect(upstream_path)
    t1 = threading.Thread(target=pump, args=(conn_id, "c2d", client, up), daemon=True)
    t2 = threading.Thread(target=pump, args=(conn_id, "d2c", up, client), daemon=True)
    t1.start()
    t2.start()
    t1.join()
    t2.join()
    client.close()
    up.close()


if os.path.exists(listen_path):
    os.unlink(listen_path)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(listen_path)
srv.listen(64)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
