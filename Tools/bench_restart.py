#!/usr/bin/env python3
"""Restart after kill -9, Spool vs redis-server (appendonly yes, appendfsync always): fill one
stream with N 100-byte entries as fast as redis-benchmark sends them (50 clients x 16
pipelined XADD), kill -9 the server, restart it on the same files and time until it answers
PING; then check that XLEN still counts every acknowledged entry. Medians of --runs runs, each on
a fresh data directory.

usage: Tools/bench_restart.py [--entries 3000000] [--runs 3] [--spoold PATH]...
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, Peer, peers, print_table  # noqa: E402

VALUE = "v" * 100


def xlen(port):
    out = subprocess.run(["redis-cli", "-p", str(port), "XLEN", "s"], capture_output=True, text=True, timeout=60)
    return int(out.stdout.strip())


def measure(kind, binary, entries):
    peer = Peer(kind, binary)
    try:
        started = time.monotonic()
        subprocess.run(
            ["redis-benchmark", "-p", str(peer.port), "-c", "50", "-P", "16", "-n", str(entries), "-q",
             "XADD", "s", "*", "field", VALUE],
            check=True, capture_output=True, timeout=1800)
        filled = time.monotonic() - started
        restart = peer.kill9_and_restart()
        length = xlen(peer.port)
        if length != entries:
            raise SystemExit(f"{kind}: {length} entries after the restart, {entries} were acknowledged")
        return {"fill s": filled, "restart s": restart}
    finally:
        peer.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=3_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--spoold", action="append", help="spoold binaries (default .build/release/spoold)")
    args = parser.parse_args()
    binaries = args.spoold or [os.path.join(ROOT, ".build/release/spoold")]
    servers = peers(binaries)
    results = {label: [] for _, _, label in servers}
    for run in range(args.runs):
        for kind, binary, label in servers:
            r = measure(kind, binary, args.entries)
            results[label].append(r)
            print(f"run {run + 1} {label}: filled in {r['fill s']:.1f} s, restarted in {r['restart s']:.2f} s",
                  file=sys.stderr, flush=True)
    rows = [[label, f"{statistics.median(r['fill s'] for r in runs):.1f}",
             f"{statistics.median(r['restart s'] for r in runs):.2f}"] for label, runs in results.items()]
    print(f"{args.entries:,} entries, kill -9, restart until PING answers; medians of {args.runs} runs")
    print_table(["server", "fill s", "restart s"], rows)


if __name__ == "__main__":
    sys.exit(main())
