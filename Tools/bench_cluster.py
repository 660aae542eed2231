#!/usr/bin/env python3
"""Durable XADD on a 3-node Spool cluster vs one spoold vs redis-server (appendonly yes,
appendfsync always), same machine, same run: every node, etcd and the load generator share the
machine's cores and disk.

Workloads (each server fresh for each run; medians of `--runs`):
  50x16      redis-benchmark, 50 clients x 16 pipelined, 100-byte XADD to one stream (on the
             cluster: sent to the stream's shard leader)
  spread     the same over 100,000 streams (`s:__rand_int__`); on the cluster redis-benchmark
             --cluster spreads the clients over the shard leaders
  5k         `spool bench open`: a steady 5,000 XADD/s, publish->ack latency p50/p99

Server CPU per request is user + system of every server process (the cluster: its three spoold
and etcd) from /proc, divided by requests; client CPU per request is the load generator's (it
shares the same cores).

usage: Tools/bench_cluster.py [--runs 3] [--only 50x16,spread,5k] [--spoold PATH] [--spool PATH]
"""
import argparse
import csv
import io
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import CLOCK_TICKS, ROOT, Peer, print_table  # noqa: E402

VALUE = "v" * 100
HOSTS = ["127.0.0.5", "127.0.0.6", "127.0.0.7"]
# A node to add (Tools/bench_join.py --mode add): not started with the others, not a seed member.
SPARE_HOST = "127.0.0.8"


def cpu_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def free_port_pair():
    """A client port whose bus port (+10000) is free on every host."""
    import socket
    for port in range(21000, 55000, 7):
        try:
            sockets = []
            for host in HOSTS + [SPARE_HOST]:
                for p in (port, port + 10000):
                    s = socket.socket()
                    s.bind((host, p))
                    sockets.append(s)
            for s in sockets:
                s.close()
            return port
        except OSError:
            for s in sockets:
                s.close()
    raise RuntimeError("no free port")


class Cluster:
    """etcd and three spoold nodes on 127.0.0.5-7, files in a temporary directory; with `spare`, a
    fourth node's command line (127.0.0.8, index 3, listing the members and then itself), not
    started: `start_node(3)` starts it, CLUSTER MEET adds it."""

    def __init__(self, spoold, shards=16, extra=(), spare=False):
        self.dir = tempfile.mkdtemp(prefix="bench-cluster-")
        self.port = free_port_pair()
        etcd_port = self.port + 1
        self.etcd = subprocess.Popen(
            ["etcd", "--name", "b", "--data-dir", os.path.join(self.dir, "etcd"),
             "--listen-client-urls", f"http://127.0.0.1:{etcd_port}", "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
             "--listen-peer-urls", f"http://127.0.0.1:{etcd_port + 1}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_port + 1}",
             "--initial-cluster", f"b=http://127.0.0.1:{etcd_port + 1}", "--heartbeat-interval", "50", "--election-timeout", "500"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        members = ",".join(f"n{i + 1}={h}:{self.port}" for i, h in enumerate(HOSTS))
        hosts = HOSTS + ([SPARE_HOST] if spare else [])
        self.argv = [
            [spoold, "--bind", host, "--port", str(self.port), "--dir", os.path.join(self.dir, f"n{i + 1}"),
             "--cluster-enabled", "yes", "--cluster-node-id", f"n{i + 1}",
             "--cluster-members", members if i < len(HOSTS) else f"{members},n{i + 1}={host}:{self.port}",
             "--cluster-shards", str(shards), "--cluster-etcd-endpoints", f"http://127.0.0.1:{etcd_port}"] + list(extra)
            for i, host in enumerate(hosts)]
        self.nodes = [None] * len(hosts)
        for i in range(len(HOSTS)):
            self.start_node(i)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                slots = redis.Redis(host=HOSTS[0], port=self.port).execute_command("CLUSTER", "SLOTS")
                if sum(int(r[1]) - int(r[0]) + 1 for r in slots) == 16384:
                    break
            except redis.RedisError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("the cluster did not elect leaders for every shard")
        # Elected is not yet serving: each leader first collects its followers' promises.
        while time.time() < deadline:
            led = 0
            for host in HOSTS:
                info = redis.Redis(host=host, port=self.port).info("shards")
                led += int(info.get("spool_cluster_shards_led", 0))
            if led == shards:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("the leaders did not start serving")

    def log_path(self, index):
        return os.path.join(self.dir, f"n{index + 1}.log")

    def start_node(self, index):
        with open(self.log_path(index), "ab") as out:
            self.nodes[index] = subprocess.Popen(self.argv[index], stdout=subprocess.DEVNULL, stderr=out)

    def replace_disk(self, index):
        """Kills node `index` and empties its data directory (a new disk); it stays stopped."""
        self.nodes[index].send_signal(signal.SIGKILL)
        self.nodes[index].wait()
        shutil.rmtree(self.argv[index][self.argv[index].index("--dir") + 1], ignore_errors=True)

    def leader(self, key):
        r = redis.Redis(host=HOSTS[0], port=self.port)
        slot = r.execute_command("CLUSTER", "KEYSLOT", key)
        for row in r.execute_command("CLUSTER", "SLOTS"):
            if int(row[0]) <= slot <= int(row[1]):
                return row[2][0].decode(), int(row[2][1])
        raise RuntimeError(f"no leader for {key}")

    def cpu_seconds(self):
        return sum(cpu_of(p.pid) for p in self.nodes + [self.etcd] if p is not None and p.poll() is None)

    def stop(self):
        started = [p for p in self.nodes if p is not None]
        for p in started:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in started:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        self.etcd.send_signal(signal.SIGTERM)
        self.etcd.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def redis_benchmark(host, port, clients, pipeline, requests, key, cluster=False, spread=False):
    argv = ["redis-benchmark", "-h", host, "-p", str(port), "-c", str(clients), "-P", str(pipeline), "-n", str(requests), "--csv"]
    if cluster:
        argv.append("--cluster")
    if spread:
        argv += ["-r", "100000"]
    out = subprocess.run(argv + ["XADD", key, "*", "field", VALUE], check=True, capture_output=True, text=True, timeout=900).stdout
    rows = list(csv.reader(io.StringIO(out)))
    record = dict(zip(rows[0], rows[-1]))
    return float(record["rps"]), float(record["p50_latency_ms"]), float(record["p99_latency_ms"])


def spool_open(spool, host, port, stream, rate, duration):
    proc = subprocess.run([spool, "bench", "open", "--rate", str(rate), "--duration", str(duration), "--warmup", "1",
                           "--host", host, "--port", str(port), "--stream", stream, "--json"],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    return json.loads(proc.stdout)


def find_latency(report):
    """The publish->ack latency object of a `spool bench --json` report."""
    if isinstance(report, dict):
        if "p50_us" in report:
            return report
        for value in report.values():
            found = find_latency(value)
            if found:
                return found
    return None


def run(kind, workload, args):
    if kind == "cluster":
        server = Cluster(args.spoold)
    else:
        server = Peer("redis" if kind == "redis" else "spool", None if kind == "redis" else args.spoold)
    def client_cpu():
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    try:
        before = server.cpu_seconds()
        client_before = client_cpu()
        if workload == "5k":
            host, port = server.leader("bench-5k") if kind == "cluster" else ("127.0.0.1", server.port)
            report = spool_open(args.spool, host, port, "bench-5k", 5000, args.duration)
            latency = find_latency(report)
            requests = latency["count"]
            return {"p50": float(latency["p50_us"]), "p99": float(latency["p99_us"]),
                    "cpu": (server.cpu_seconds() - before) / requests * 1e6,
                    "client_cpu": (client_cpu() - client_before) / requests * 1e6}
        spread = workload == "spread"
        key = "s:__rand_int__" if spread else "bench"
        requests = args.requests
        if kind == "cluster":
            host, port = (HOSTS[0], server.port) if spread else server.leader("bench")
            # redis-benchmark --cluster puts a hash tag of its client's node where the key says {tag}.
            rps, p50, p99 = redis_benchmark(host, port, 50, 16, requests, "s:{tag}:__rand_int__" if spread else key,
                                            cluster=spread, spread=spread)
        else:
            rps, p50, p99 = redis_benchmark("127.0.0.1", server.port, 50, 16, requests, key, spread=spread)
        return {"rps": rps, "p50": p50, "p99": p99, "cpu": (server.cpu_seconds() - before) / requests * 1e6,
                "client_cpu": (client_cpu() - client_before) / requests * 1e6}
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=500_000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of the 5k/s run")
    parser.add_argument("--only", default="50x16,5k")
    parser.add_argument("--spoold", default=os.path.join(ROOT, ".build/release/spoold"))
    parser.add_argument("--spool", default=os.path.join(ROOT, ".build/release/spool"))
    args = parser.parse_args()
    kinds = ["redis", "spool", "cluster"]
    rows = []
    for workload in args.only.split(","):
        results = {k: [] for k in kinds}
        for n in range(args.runs):
            for kind in kinds:
                r = run(kind, workload, args)
                results[kind].append(r)
                print(f"{workload} run {n + 1} {kind}: {r}", file=sys.stderr, flush=True)
        med = {k: {f: statistics.median(r[f] for r in rs) for f in rs[0]} for k, rs in results.items()}
        for kind in kinds:
            m = med[kind]
            row = [workload, kind]
            row.append(f"{m['rps']:,.0f}" if "rps" in m else "")
            row.append(f"{m['p50']:.3f}/{m['p99']:.3f}")
            row.append(f"{m['cpu']:.2f}")
            row.append(f"{m['client_cpu']:.2f}")
            single = med["spool"]
            if kind == "cluster":
                row.append(f"{m['rps'] / single['rps']:.2f}x" if "rps" in m else "")
                row.append(f"{m['p99'] / single['p99']:.2f}x")
            else:
                row += ["", ""]
            rows.append(row)
    print(f"durable XADD, 100-byte values; medians of {args.runs} runs; latency ms (5k: us)")
    print_table(["workload", "server", "req/s", "p50/p99", "CPU us/req", "client CPU us/req", "req/s vs 1 node", "p99 vs 1 node"], rows)


if __name__ == "__main__":
    main()
