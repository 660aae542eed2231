#!/usr/bin/env python3
"""Consumer-group drain and replay, Spool vs redis-server (appendonly yes, appendfsync always),
same machine, same run, same client (redis-py with the hiredis parser).

For each server: fill a stream with N 100-byte entries (redis-benchmark, 50 clients, pipeline
16), then
  - drain it through a consumer group: XREADGROUP COUNT 1000 then XACK of those ids, until empty;
  - replay it with XRANGE COUNT 1000 from a mid-stream id to the end.
Prints entries/s for both and the ratio (median of --repeat runs).

usage: Tools/bench_groups.py [--entries N] [--repeat K] [--spoold PATH]
"""
import argparse
import statistics
import subprocess
import sys
import time

import redis

from bench_common import Peer, print_table

VALUE = "v" * 100


def fill(port, entries):
    subprocess.run(
        ["redis-benchmark", "-p", str(port), "-c", "50", "-P", "16", "-n", str(entries), "-q",
         "XADD", "s", "*", "field", VALUE],
        check=True, capture_output=True, timeout=1200)


def drain(client, group):
    client.xgroup_create("s", group, id="0")
    started = time.perf_counter()
    total = 0
    while True:
        reply = client.xreadgroup(group, "c", {"s": ">"}, count=1000)
        if not reply or not reply[0][1]:
            break
        ids = [entry_id for entry_id, _ in reply[0][1]]
        client.xack("s", group, *ids)
        total += len(ids)
    elapsed = time.perf_counter() - started
    assert client.xpending("s", group)["pending"] == 0
    return total, elapsed


def replay(client, start):
    started = time.perf_counter()
    total = 0
    cursor = start
    while True:
        page = client.xrange("s", min=cursor, max="+", count=1000)
        if not page:
            break
        total += len(page)
        cursor = b"(" + page[-1][0]
    return total, time.perf_counter() - started


def measure(kind, entries, repeat, spoold):
    peer = Peer(kind, spoold)
    try:
        fill(peer.port, entries)
        client = redis.Redis(port=peer.port, protocol=2)
        assert client.xlen("s") == entries, client.xlen("s")
        middle = client.xrange("s", count=entries // 2 + 1)[-1][0] if entries <= 10_000 else None
        if middle is None:
            # The id in the middle: walk to it in pages (cheap next to the measured runs).
            cursor, seen = "-", 0
            while seen < entries // 2:
                page = client.xrange("s", min=cursor, max="+", count=min(10_000, entries // 2 - seen))
                seen += len(page)
                cursor = b"(" + page[-1][0]
                middle = page[-1][0]
        drains, replays = [], []
        for run in range(repeat):
            total, elapsed = drain(client, f"g{run}")
            assert total == entries, (total, entries)
            drains.append(total / elapsed)
            total, elapsed = replay(client, middle)
            assert total == entries - entries // 2 + 1, total
            replays.append(total / elapsed)
        rss = peer.rss_mib()
        client.close()
        return statistics.median(drains), statistics.median(replays), rss
    finally:
        peer.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--spoold", default=None)
    args = parser.parse_args()
    results = {kind: measure(kind, args.entries, args.repeat, args.spoold) for kind in ("redis", "spool")}
    r, s = results["redis"], results["spool"]
    print(f"{args.entries:,} entries of 100 bytes; redis-py + hiredis; median of {args.repeat} runs")
    print_table(
        ["workload", "redis entries/s", "spool entries/s", "spool/redis"],
        [
            ["XREADGROUP COUNT 1000 + XACK drain", f"{r[0]:,.0f}", f"{s[0]:,.0f}", f"{s[0] / r[0]:.2f}x"],
            ["XRANGE COUNT 1000 replay from mid-stream", f"{r[1]:,.0f}", f"{s[1]:,.0f}", f"{s[1] / r[1]:.2f}x"],
        ])
    print(f"RSS after the runs: redis {r[2]:.0f} MiB, spool {s[2]:.0f} MiB")


if __name__ == "__main__":
    sys.exit(main())
