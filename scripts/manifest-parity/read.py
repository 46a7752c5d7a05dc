#!/usr/bin/env python3
"""Read a manifest with airbyte-cdk and with intake against the same mock, and compare what they
read (records per stream, as JSON, ignoring emitted_at) and what they asked (method, path and
query of every request, as a multiset).

Usage: read.py [--cdk-python PY] --manifest M --config C --mock "python3 mock.py" [--url-base-path /v3]

The mock is started afresh for each runtime; it must print "listening on URL" on stdout and log
each request on stderr as http.server does ("GET /path?query HTTP/1.1"), as the mocks in
shared/tools/mocks do. Both runtimes get `--url-base URL<url-base-path>` (the manifest's
url_base replaced) and every stream in full refresh. Prints a table; exit status 1 when
anything differs.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from urllib.parse import parse_qsl, urlsplit

from common import ROOT

ORACLE = os.environ.get("AIRBYTE_ORACLE", os.path.join(ROOT, "..", "shared", "tools", "airbyte-oracle"))


def start_mock(command, log):
    proc = subprocess.Popen(command, shell=True, stdout=subprocess.PIPE, stderr=log, text=True)
    line = proc.stdout.readline()
    m = re.search(r"listening on (\S+)", line)
    if not m:
        proc.kill()
        sys.exit(f"the mock did not say where it listens: {line!r}")
    return proc, m.group(1).rstrip("/")


def requests_of(log_path):
    out = collections.Counter()
    for line in open(log_path):
        m = re.search(r'"(\w+) (\S+) HTTP/', line)
        if m:
            u = urlsplit(m.group(2))
            out[(m.group(1), u.path, tuple(sorted(parse_qsl(u.query, keep_blank_values=True))))] += 1
    return out


def records_of(stdout):
    out = collections.defaultdict(list)
    for line in stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("type") == "RECORD":
            out[msg["record"]["stream"]].append(json.dumps(msg["record"]["data"], sort_keys=True))
    return {k: sorted(v) for k, v in out.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cdk-python")
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--mock", required=True)
    ap.add_argument("--url-base-path", default="")
    a = ap.parse_args()
    binary = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "source-declarative-manifest")
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "intake-source-declarative", "--bin",
                    "source-declarative-manifest"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for runtime in ("cdk", "intake"):
            log_path = os.path.join(tmp, f"{runtime}.log")
            with open(log_path, "w") as log:
                mock, url = start_mock(a.mock, log)
                try:
                    base = url + a.url_base_path
                    if runtime == "cdk":
                        cmd = [ORACLE, "read", "--manifest", a.manifest, "--config", a.config,
                               "--all-streams", "full_refresh", "--url-base", base]
                    else:
                        catalog = os.path.join(tmp, "catalog.json")
                        disc = subprocess.run([binary, "discover", "--manifest-path", a.manifest, "--url-base", base,
                                               "--config", a.config], capture_output=True, text=True, check=True)
                        streams = json.loads(disc.stdout.splitlines()[0])["catalog"]["streams"]
                        json.dump({"streams": [{"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
                                               for s in streams]}, open(catalog, "w"))
                        cmd = [binary, "read", "--manifest-path", a.manifest, "--url-base", base,
                               "--config", a.config, "--catalog", catalog]
                    started = time.monotonic()
                    run = subprocess.run(cmd, capture_output=True, text=True)
                    elapsed = time.monotonic() - started
                finally:
                    mock.kill()
                    mock.wait()
            if run.returncode != 0:
                print(f"{runtime} failed (exit {run.returncode}):\n{run.stderr[-2000:]}\n{run.stdout[-2000:]}")
            results[runtime] = (records_of(run.stdout), requests_of(log_path), elapsed, run.returncode)
    (cr, cq, ct, cc), (ir, iq, it, ic) = results["cdk"], results["intake"]
    bad = cc != 0 or ic != 0
    print(f"{'stream':24} {'cdk':>6} {'intake':>6}  records")
    for s in sorted(set(cr) | set(ir)):
        same = cr.get(s, []) == ir.get(s, [])
        bad |= not same
        print(f"{s:24} {len(cr.get(s, [])):6} {len(ir.get(s, [])):6}  {'same' if same else 'DIFFER'}")
    same_requests = cq == iq
    bad |= not same_requests
    print(f"requests: cdk {sum(cq.values())}, intake {sum(iq.values())}: {'same' if same_requests else 'DIFFER'}")
    for k in sorted(set(cq) | set(iq)):
        if cq[k] != iq[k]:
            print(f"  {k}: cdk {cq[k]}, intake {iq[k]}")
    print(f"time: cdk {ct:.2f}s, intake {it:.2f}s")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
