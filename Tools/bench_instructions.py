#!/usr/bin/env python3
"""What a feature costs per request, in instructions (valgrind's callgrind counts them, so the
figure does not depend on what else the shared machine is doing).

`--compare acl` (Spool and redis-server side by side): N durable XADDs as a user who may do
anything (`~* &* +@all`: no check), and N as a user restricted to `bench*` (`~bench* -@all
+xadd …`: the command bit and a key pattern are checked for each XADD); both log in the same
way, so the difference is the checks alone.

`--compare metrics` (Spool): N durable XADDs without and with the admin port (`admin-port`:
every fsync and durable write recorded into the Prometheus histograms).

Each run also has an empty twin (start-up and shutdown only) whose instructions are subtracted:
instructions per request are (run - empty run) / N, all the server's threads.

usage: Tools/bench_instructions.py [--compare acl|metrics] [--requests 20000] [--spoold PATH] [--runs 3]
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, free_port, print_table  # noqa: E402

USER = ["bench", "on", ">bench-pw", "~bench*", "-@all", "+xadd", "+ping", "+config|get", "+@connection"]
# The control: a user who may do anything, logged in the same way (AUTH on each connection), so the
# difference between the two is the checks alone.
UNRESTRICTED = ["bench", "on", ">bench-pw", "~*", "&*", "+@all"]


def wait_ready(port, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True, text=True).stdout.strip() == "PONG":
            return
        time.sleep(0.5)
    raise RuntimeError("server did not start")


def stripped_copy(binary):
    """valgrind 3.19 cannot read the DWARF 5 debug info of this toolchain's binaries and gives up;
    a copy without it runs (instruction counts need no symbols)."""
    copy = os.path.join(tempfile.mkdtemp(prefix="aclcost-bin-"), "spoold")
    shutil.copy(binary, copy)
    subprocess.run(["strip", "--strip-debug", copy], check=True)
    return copy


def instructions(kind, spoold, requests, acl, extra=(), login=True):
    directory = tempfile.mkdtemp(prefix=f"aclcost-{kind}-")
    port = free_port()
    out = os.path.join(directory, "callgrind.out")
    if kind == "redis":
        server = ["redis-server", "--port", str(port), "--dir", directory, "--appendonly", "yes",
                  "--appendfsync", "always", "--save", "", "--daemonize", "no"]
    else:
        server = [spoold, "--port", str(port), "--data-dir", os.path.join(directory, "data")] + list(extra)
    process = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + server,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port)
        if requests:
            credentials = []
            if login:
                subprocess.run(["redis-cli", "-p", str(port), "ACL", "SETUSER"] + (USER if acl else UNRESTRICTED),
                               check=True, capture_output=True)
                credentials = ["--user", "bench", "-a", "bench-pw"]
            subprocess.run(["redis-benchmark", "-p", str(port), "-c", "50", "-P", "16", "-n", str(requests), "-q"]
                           + credentials + ["XADD", "bench", "*", "field", "v" * 100],
                           check=True, capture_output=True, timeout=3600)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=600)
        with open(out) as f:
            text = f.read()
        total = sum(int(m) for m in re.findall(r"^totals: (\d+)", text, re.M))
        if not total:
            total = sum(int(m) for m in re.findall(r"^summary: (\d+)", text, re.M))
        return total
    finally:
        if process.poll() is None:
            process.kill()
        shutil.rmtree(directory, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--spoold", default=os.path.join(ROOT, ".build/release/spoold"))
    parser.add_argument("--compare", choices=["acl", "metrics"], default="acl")
    args = parser.parse_args()
    args.spoold = stripped_copy(args.spoold)
    if args.compare == "acl":
        kinds = ("redis", "spool")
        variants = [("user ~* +@all", True, False, ()), ("user ~bench* +xadd", True, True, ())]
    else:
        kinds = ("spool",)
        variants = [("no admin port", False, False, ()), ("admin-port (metrics)", False, False, ("--admin-port", str(free_port())))]
    rows = []
    for kind in kinds:
        per = {label: [] for label, _, _, _ in variants}
        for run in range(args.runs):
            empty = instructions(kind, args.spoold, 0, False)
            for label, login, acl, extra in variants:
                total = instructions(kind, args.spoold, args.requests, acl, extra=extra, login=login)
                per[label].append((total - empty) / args.requests)
                print(f"{kind} run {run + 1} {label}: {per[label][-1]:,.0f} instructions/request", file=sys.stderr, flush=True)
        base, other = (statistics.median(per[label]) for label, _, _, _ in variants)
        rows.append([kind, f"{base:,.0f}", f"{other:,.0f}", f"{other - base:+,.0f}", f"{(other / base - 1) * 100:+.1f}%"])
    print(f"durable XADD, 50 clients x 16 pipelined, {args.requests} requests; instructions per request "
          f"(callgrind, every server thread), medians of {args.runs}")
    print_table(["server", variants[0][0], variants[1][0], "cost", "cost share"], rows)


if __name__ == "__main__":
    sys.exit(main())
