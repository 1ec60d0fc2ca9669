#!/usr/bin/python3
"""Split the recording proxy's log into per-step hex fixtures (used by capture.sh).

Usage: extract.py LOG_JSONL OUT_DIR

For every label and every connection that carried bytes under that label, writes
OUT_DIR/<label>/request.hex (client -> daemon) and reply.hex (daemon -> client); a second
or later connection under the same label gets a `.<n>` suffix (request.2.hex ...).
Format: `#` comment lines, then 32 bytes per line as lowercase hex; whitespace and
comments are ignored by the tests. Labels starting with "probe" or "b_" are skipped.
"""
import json
import os
import sys
from collections import OrderedDict

log_path, out_dir = sys.argv[1:3]
steps = OrderedDict()
for line in open(log_path):
    e = json.loads(line)
    lab = e["label"]
    if not lab or lab.startswith("probe") or lab.startswith("b_"):
        continue
    conns = steps.setdefault(lab, OrderedDict())
    c = conns.setdefault(e["conn"], {"c2d": b"", "d2c": b""})
    c[e["dir"]] += bytes.fromhex(e["hex"])


def write(path, comment, data):
    with open(path, "w") as f:
        f.write("# %s\n# %d bytes\n" % (comment, len(data)))
        for i in range(0, len(data), 32):
            f.write(data[i:i + 32].hex() + "\n")


for lab, conns in steps.items():
    d = os.path.join(out_dir, lab)
    os.makedirs(d, exist_ok=True)
    for n, (conn, c) in enumerate(conns.items(), start=1):
        sfx = "" if n == 1 else ".%d" % n
        if c["c2d"]:
            write(os.path.join(d, "request%s.hex" % sfx),
                  "%s: client -> daemon (connection %d)" % (lab, conn), c["c2d"])
        if c["d2c"]:
            write(os.path.join(d, "reply%s.hex" % sfx),
                  "%s: daemon -> client (connection %d)" % (lab, conn), c["d2c"])
