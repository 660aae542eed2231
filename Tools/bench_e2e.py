#!/usr/bin/env python3
"""Spool vs redis-server (appendonly yes, appendfsync always), same machine, same run, same load
generator (`spool bench`): closed-loop durable publish throughput (N connections x D in flight),
open-loop publish latency at a fixed rate, and end-to-end publish->deliver latency at that rate
through a consumer group (XREADGROUP BLOCK + XACK). Each workload gets a fresh server. Prints a
side-by-side table with ratios and checks the targets of issue #6.

If spoold has no XREADGROUP yet, the end-to-end workload runs through XREAD BLOCK on both servers
instead (and says so).

usage: Tools/bench_e2e.py [--duration S] [--rate N] [--connections N] [--depth N]
                          [--plots DIR] [--json FILE] [--skip-build] [--also-xread]
"""
import argparse
import json
import os
import subprocess
import sys

from bench_common import ROOT, Peer, print_table

TARGETS = {"e2e_p99_us": 400.0, "e2e_p999_us": 1000.0, "closed_throughput": 200_000.0}


def spool_bench(spool, port, args, plot=None):
    argv = [spool, "bench", *args, "--port", str(port), "--json"]
    if plot:
        argv += ["--plot", plot]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        return None, proc.stderr.strip()
    return json.loads(proc.stdout), None


def supports_groups(spool, port):
    report, error = spool_bench(spool, port, ["e2e", "--rate", "100", "--duration", "0.05", "--warmup", "0",
                                              "--stream", "probe"])
    return report is not None


def load_average():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per workload")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=5000.0, help="entries/s for the open-loop and e2e runs")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--depth", type=int, default=64)
    parser.add_argument("--plots", default=None, help="directory for one SVG latency plot per run")
    parser.add_argument("--json", default=None, help="write every report to this file")
    parser.add_argument("--spoold", default=os.path.join(ROOT, ".build/release/spoold"))
    parser.add_argument("--spool", default=os.path.join(ROOT, ".build/release/spool"))
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--also-xread", action="store_true",
                        help="also run the end-to-end workload through XREAD BLOCK (isolates the group's cost)")
    args = parser.parse_args()

    if not args.skip_build:
        for product in ("spoold", "spool"):
            subprocess.run(["swift", "build", "-c", "release", "--product", product], cwd=ROOT, check=True)
    if args.plots:
        os.makedirs(args.plots, exist_ok=True)
    print(f"load average before: {load_average()}", flush=True)

    common = ["--duration", str(args.duration), "--warmup", str(args.warmup)]
    workloads = [
        ("closed", f"closed loop {args.connections}x{args.depth}",
         ["closed", "--connections", str(args.connections), "--depth", str(args.depth)] + common),
        ("open", f"open loop {args.rate:.0f}/s", ["open", "--rate", str(args.rate)] + common),
        ("e2e", f"end to end {args.rate:.0f}/s", ["e2e", "--rate", str(args.rate)] + common),
    ]

    # Decide how the e2e reader reads: through a group if both servers have XREADGROUP.
    probe = Peer("spool", args.spoold)
    try:
        spool_has_groups = supports_groups(args.spool, probe.port)
    finally:
        probe.stop()
    via = "group" if spool_has_groups else "xread"
    if not spool_has_groups:
        print("spoold has no XREADGROUP yet: the end-to-end runs read with XREAD BLOCK on both servers", flush=True)

    if args.also_xread and via == "group":
        workloads.append(("e2e-xread", f"end to end {args.rate:.0f}/s", ["e2e", "--rate", str(args.rate)] + common))

    reports = {}
    for name, label, bench_args in workloads:
        if name == "e2e":
            bench_args = bench_args + ["--via", via]
            label += f" via {'XREADGROUP+XACK' if via == 'group' else 'XREAD'}"
        if name == "e2e-xread":
            bench_args = bench_args + ["--via", "xread"]
            label += " via XREAD"
        for kind in ("redis", "spool"):
            peer = Peer(kind, args.spoold)
            try:
                plot = os.path.join(args.plots, f"{name}-{kind}.svg") if args.plots else None
                report, error = spool_bench(args.spool, peer.port, bench_args + ["--stream", f"bench-{name}"], plot)
                if report is None:
                    print(f"{kind} {label}: failed: {error}", file=sys.stderr)
                reports[(name, kind)] = report
            finally:
                peer.stop()
            print(f"  done: {kind:5} {label}", flush=True)

    def latency(name, kind, series):
        report = reports.get((name, kind))
        return report["latency"][series] if report else None

    rows = []

    def ratio(spool_value, redis_value):
        return f"{spool_value / redis_value:.2f}x" if spool_value and redis_value else "-"

    for name, label, _ in workloads:
        if name == "e2e":
            label += f" via {via}"
        if name == "e2e-xread":
            label += " via xread"
        redis_report, spool_report = reports.get((name, "redis")), reports.get((name, "spool"))
        if name == "closed":
            r = redis_report["throughput_per_second"] if redis_report else None
            s = spool_report["throughput_per_second"] if spool_report else None
            rows.append([label, "entries/s", f"{r:,.0f}" if r else "-", f"{s:,.0f}" if s else "-", ratio(s, r)])
        series = "publish→deliver" if name.startswith("e2e") else "publish→ack"
        rl, sl = latency(name, "redis", series), latency(name, "spool", series)
        for key, title in (("p50_us", "p50"), ("p90_us", "p90"), ("p99_us", "p99"), ("p999_us", "p99.9"), ("max_us", "max")):
            rv = rl[key] if rl else None
            sv = sl[key] if sl else None
            rows.append([label if name != "closed" and key == "p50_us" else "", f"{series} {title} µs",
                         f"{rv:,.0f}" if rv is not None else "-", f"{sv:,.0f}" if sv is not None else "-", ratio(sv, rv)])
        for kind, report in (("redis", redis_report), ("spool", spool_report)):
            if report and report["errors"]:
                rows.append(["", f"{kind} errors", str(report["errors"]), "", ""])

    print()
    print(f"spool bench, 100-byte values, {args.duration:g} s measured per run (+{args.warmup:g} s warm-up); "
          f"redis-server appendonly yes, appendfsync always; load average after: {load_average()}")
    print_table(["workload", "metric", "redis", "spool", "spool/redis"], rows)

    print()
    checks = []
    e2e_spool, e2e_redis = latency("e2e", "spool", "publish→deliver"), latency("e2e", "redis", "publish→deliver")
    closed_spool = reports.get(("closed", "spool"))
    if e2e_spool:
        checks.append((f"e2e p99 ≤ {TARGETS['e2e_p99_us']:.0f} µs", e2e_spool["p99_us"] <= TARGETS["e2e_p99_us"],
                       f"{e2e_spool['p99_us']:.0f} µs"))
        checks.append((f"e2e p99.9 ≤ {TARGETS['e2e_p999_us']:.0f} µs", e2e_spool["p999_us"] <= TARGETS["e2e_p999_us"],
                       f"{e2e_spool['p999_us']:.0f} µs"))
    if e2e_spool and e2e_redis:
        checks.append(("e2e p99 no worse than Redis", e2e_spool["p99_us"] <= e2e_redis["p99_us"],
                       f"{e2e_spool['p99_us']:.0f} vs {e2e_redis['p99_us']:.0f} µs"))
    if closed_spool:
        checks.append((f"closed loop {args.connections}x{args.depth} ≥ 200k/s",
                       closed_spool["throughput_per_second"] >= TARGETS["closed_throughput"],
                       f"{closed_spool['throughput_per_second']:,.0f}/s"))
    print_table(["target", "met", "measured"], [[c, "yes" if ok else "NO", m] for c, ok, m in checks])
    if via == "xread":
        print("(end to end measured through XREAD BLOCK: spoold has no consumer groups yet)")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{name}/{kind}": report for (name, kind), report in reports.items()}, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
