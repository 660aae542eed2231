#!/usr/bin/env python3
"""`spool mirror` moving a live Redis stream to spoold: how fast the history is copied into the
backfill table while the tail keeps up with a producer still writing to Redis.

Each run: a fresh redis-server (the source, appendfsync always) holding `--history` entries of
100-byte values, a fresh spoold, and a producer writing `--rate` entries a second to Redis for
the whole run; `spool mirror --until-met --json` copies the stream. Reported (medians of
`--runs`): seconds until the history and the tail met, history entries/s and MB/s (entry payload
bytes), the live entries copied meanwhile, spoold's CPU per copied entry, and whether Spool's
stream then equals Redis's.

usage: Tools/bench_mirror.py [--runs 3] [--history 200000] [--rate 2000] [--spoold PATH] [--spool PATH]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, Peer, print_table  # noqa: E402

VALUE = "v" * 100


def run_once(args):
    source = Peer("redis")
    target = Peer("spool", args.spoold)
    try:
        src = redis.Redis(port=source.port)
        for start in range(0, args.history, 5000):
            pipe = src.pipeline(transaction=False)
            for n in range(start, min(start + 5000, args.history)):
                pipe.xadd("orders", {"n": n, "v": VALUE})
            pipe.execute()
        stop = threading.Event()

        def produce():
            client = redis.Redis(port=source.port)
            sent = 0
            began = time.monotonic()
            while not stop.is_set():
                if sent >= (time.monotonic() - began) * args.rate:
                    time.sleep(0.001)
                    continue
                client.xadd("orders", {"live": sent, "v": VALUE})
                sent += 1

        producer = threading.Thread(target=produce)
        producer.start()
        cpu_before = target.cpu_seconds()
        began = time.monotonic()
        proc = subprocess.run([args.spool, "mirror", f"redis://127.0.0.1:{source.port}", "orders", "--until-met", "--json",
                               "--port", str(target.port)], capture_output=True, text=True, timeout=1800)
        elapsed = time.monotonic() - began
        cpu = target.cpu_seconds() - cpu_before
        stop.set()
        producer.join()
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr)
        report = json.loads(proc.stdout.splitlines()[0])
        history, live = report["history"], report["live"]
        # The producer stopped after the meeting: one more pass copies what it wrote meanwhile.
        again = subprocess.run([args.spool, "mirror", f"redis://127.0.0.1:{source.port}", "orders", "--until-met",
                                "--port", str(target.port)], capture_output=True, text=True, timeout=600)
        dst = redis.Redis(port=target.port)
        equal = again.returncode == 0 and dst.xrange("orders") == src.xrange("orders")
        entry_bytes = len("n") + len(str(args.history)) + len("v") + len(VALUE)
        return {"seconds": elapsed, "entries_per_s": history / elapsed, "mb_per_s": history * entry_bytes / elapsed / 1e6,
                "live": live, "cpu_us": cpu / (history + live) * 1e6, "equal": equal}
    finally:
        source.stop()
        target.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--history", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--spoold", default=os.path.join(ROOT, ".build/release/spoold"))
    parser.add_argument("--spool", default=os.path.join(ROOT, ".build/release/spool"))
    args = parser.parse_args()
    results = []
    for n in range(args.runs):
        result = run_once(args)
        results.append(result)
        print(f"run {n + 1}: {result}", file=sys.stderr, flush=True)
    med = {k: statistics.median(r[k] for r in results) for k in ("seconds", "entries_per_s", "mb_per_s", "live", "cpu_us")}
    print(f"spool mirror: {args.history:,} history entries of ~{100 + 6} bytes, producer at {args.rate:,.0f}/s; medians of {args.runs}")
    print_table(["until met (s)", "history entries/s", "history MB/s", "live entries copied", "spoold CPU us/entry", "streams equal"],
                [[f"{med['seconds']:.2f}", f"{med['entries_per_s']:,.0f}", f"{med['mb_per_s']:.2f}", f"{med['live']:,.0f}",
                  f"{med['cpu_us']:.1f}", "yes" if all(r["equal"] for r in results) else "NO"]])


if __name__ == "__main__":
    main()
