#!/usr/bin/env python3
"""Durable XADD, Spool vs redis-server (appendonly yes, appendfsync always), same machine, same
run, same load generator (redis-benchmark), 100-byte values. Prints req/s and p50/p99 for each
and the ratio, then RSS of each after filling 1M entries.

usage: Tools/bench_xadd.py [--requests N] [--fill N] [--spoold PATH]
"""
import argparse
import csv
import io
import subprocess
import sys

from bench_common import Peer, print_table

VALUE = "v" * 100
WORKLOADS = [("1 client", 1, 1), ("50 clients", 50, 1), ("50 clients, pipeline 16", 50, 16)]


def run_benchmark(port, clients, pipeline, requests, stream="bench"):
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-c", str(clients), "-P", str(pipeline), "-n", str(requests),
         "--csv", "XADD", stream, "*", "field", VALUE],
        check=True, capture_output=True, text=True, timeout=600).stdout
    rows = list(csv.reader(io.StringIO(out)))
    header, values = rows[0], rows[-1]
    record = dict(zip(header, values))
    return float(record["rps"]), float(record["p50_latency_ms"]), float(record["p99_latency_ms"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=0, help="requests per workload (default: scaled per workload)")
    parser.add_argument("--fill", type=int, default=1_000_000, help="entries for the RSS comparison")
    parser.add_argument("--spoold", default=None)
    args = parser.parse_args()

    rows = []
    for name, clients, pipeline in WORKLOADS:
        requests = args.requests or {1: 20_000, 50: 200_000, 16: 1_000_000}[pipeline if pipeline > 1 else clients]
        result = {}
        for kind in ("redis", "spool"):
            peer = Peer(kind, args.spoold)
            try:
                result[kind] = run_benchmark(peer.port, clients, pipeline, requests)
            finally:
                peer.stop()
        r, s = result["redis"], result["spool"]
        rows.append([name, requests, f"{r[0]:,.0f}", f"{r[1]:.3f}/{r[2]:.3f}", f"{s[0]:,.0f}",
                     f"{s[1]:.3f}/{s[2]:.3f}", f"{s[0] / r[0]:.2f}x"])
    print("durable XADD, 100-byte values, redis-benchmark; latency in ms")
    print_table(["workload", "requests", "redis req/s", "redis p50/p99", "spool req/s", "spool p50/p99", "spool/redis"],
                rows)

    if args.fill:
        rss = {}
        for kind in ("redis", "spool"):
            peer = Peer(kind, args.spoold)
            try:
                run_benchmark(peer.port, 50, 16, args.fill, stream="fill")
                rss[kind] = peer.rss_mib()
            finally:
                peer.stop()
        print()
        print_table(["RSS after entries", "redis MiB", "spool MiB"],
                    [[f"{args.fill:,}", f"{rss['redis']:.0f}", f"{rss['spool']:.0f}"]])


if __name__ == "__main__":
    sys.exit(main())
