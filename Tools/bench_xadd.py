#!/usr/bin/env python3
"""Durable XADD, Spool vs redis-server (appendonly yes, appendfsync always), same machine, same
run, same load generator (redis-benchmark), 100-byte values, one stream.

For each workload (1 client; 50 clients; 50 clients x 16 pipelined) and each server, `--runs`
runs, each on a fresh server: req/s, p50/p99 latency, and server CPU per request (all the
server's threads, user + system, from /proc, divided by requests; redis-benchmark shares the
machine's cores, so throughput alone hides what the server spends). The table shows medians and
the ratios to Redis. Pass `--spoold PATH` more than once to compare builds. `--acl` adds, for
each server, runs as an ACL user that may append to `bench*` only (`~bench* -@all +xadd …`), so
every command goes through the command and key-pattern checks: the rows "+acl" against the same
server's default-user rows show what the checks cost.

`--tls` adds, for each server, runs over TLS (a second port with tls-port, client certificates
required, as Redis's defaults; redis-benchmark --tls): the rows "+tls" against the same server's
plain rows show what TLS costs.

usage: Tools/bench_xadd.py [--runs 3] [--requests N] [--spoold PATH]... [--only 1,50,50x16] [--acl] [--tls]
"""
import argparse
import csv
import io
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, Peer, free_port, peers, print_table  # noqa: E402

VALUE = "v" * 100
WORKLOADS = {"1": ("1 client", 1, 1, 20_000), "50": ("50 clients", 50, 1, 200_000),
             "50x16": ("50 clients x 16", 50, 16, 1_000_000)}


ACL_USER = ["bench", "on", ">bench-pw", "~bench*", "-@all", "+xadd", "+ping", "+config|get", "+@connection"]


def make_certificates():
    """A CA, a server certificate and a client certificate (the integration tests' helper)."""
    sys.path.insert(0, os.path.join(ROOT, "Tests", "integration"))
    from pathlib import Path
    import tempfile
    from tls_certs import make_certificates as make
    return make(Path(tempfile.mkdtemp(prefix="bench-certs-")))


def run_benchmark(port, clients, pipeline, requests, stream="bench", acl=False, certs=None):
    login = ["--user", "bench", "-a", "bench-pw"] if acl else []
    if certs:
        login += ["--tls", "--cacert", certs["ca"], "--cert", certs["client_cert"], "--key", certs["client_key"]]
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-c", str(clients), "-P", str(pipeline), "-n", str(requests)] + login
        + ["--csv", "XADD", stream, "*", "field", VALUE],
        check=True, capture_output=True, text=True, timeout=600).stdout
    rows = list(csv.reader(io.StringIO(out)))
    record = dict(zip(rows[0], rows[-1]))
    return float(record["rps"]), float(record["p50_latency_ms"]), float(record["p99_latency_ms"])


def measure(kind, binary, clients, pipeline, requests, acl=False, certs=None):
    extra = []
    tls_port = None
    if certs:
        tls_port = free_port()
        extra = ["--tls-port", str(tls_port), "--tls-cert-file", certs["server_cert"], "--tls-key-file",
                 certs["server_key"], "--tls-ca-cert-file", certs["ca"]]
    peer = Peer(kind, binary, extra=extra)
    try:
        if acl:
            subprocess.run(["redis-cli", "-p", str(peer.port), "ACL", "SETUSER"] + ACL_USER, check=True,
                           capture_output=True, timeout=30)
        before = peer.cpu_seconds()
        rps, p50, p99 = run_benchmark(tls_port or peer.port, clients, pipeline, requests, acl=acl, certs=certs)
        cpu = (peer.cpu_seconds() - before) / requests * 1e6
        return {"rps": rps, "p50": p50, "p99": p99, "cpu": cpu}
    finally:
        peer.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=0, help="requests per run (default: scaled per workload)")
    parser.add_argument("--spoold", action="append", help="spoold binaries (default .build/release/spoold)")
    parser.add_argument("--only", default="1,50,50x16", help="workloads: 1, 50, 50x16")
    parser.add_argument("--acl", action="store_true", help="also run each server as a restricted ACL user")
    parser.add_argument("--tls", action="store_true", help="also run each server over TLS")
    args = parser.parse_args()
    binaries = args.spoold or [os.path.join(ROOT, ".build/release/spoold")]
    plain = [(kind, binary, label, False, None) for kind, binary, label in peers(binaries)]
    servers = list(plain)
    if args.acl:
        servers += [(kind, binary, label + "+acl", True, None) for kind, binary, label, _, _ in plain]
    if args.tls:
        certs = make_certificates()
        servers += [(kind, binary, label + "+tls", False, certs) for kind, binary, label, _, _ in plain]

    rows = []
    for key in args.only.split(","):
        name, clients, pipeline, default_requests = WORKLOADS[key]
        requests = args.requests or default_requests
        results = {label: [] for _, _, label, _, _ in servers}
        for run in range(args.runs):
            for kind, binary, label, acl, certs in servers:
                r = measure(kind, binary, clients, pipeline, requests, acl, certs)
                results[label].append(r)
                print(f"{name} run {run + 1} {label}: {r['rps']:,.0f} req/s, p50 {r['p50']:.3f} ms, "
                      f"p99 {r['p99']:.3f} ms, {r['cpu']:.2f} CPU us/req", file=sys.stderr, flush=True)
        med = {label: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for label, runs in results.items()}
        redis = med["redis"]
        for label, m in med.items():
            base = label.rsplit("+", 1)[0] if label.endswith(("+acl", "+tls")) else None
            plain = med.get(base) if base else None
            rows.append([name, label, f"{m['rps']:,.0f}", f"{m['p50']:.3f}/{m['p99']:.3f}", f"{m['cpu']:.2f}",
                         "" if label == "redis" else f"{m['rps'] / redis['rps']:.2f}x",
                         "" if label == "redis" else f"{m['cpu'] / redis['cpu']:.2f}x",
                         f"{(m['cpu'] / plain['cpu'] - 1) * 100:+.1f}%" if plain else ""])
    print(f"durable XADD, 100-byte values, redis-benchmark; medians of {args.runs} runs; latency in ms")
    print_table(["workload", "server", "req/s", "p50/p99", "CPU us/req", "req/s vs redis", "CPU vs redis",
                 "CPU vs same server plain"], rows)


if __name__ == "__main__":
    sys.exit(main())
