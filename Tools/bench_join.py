#!/usr/bin/env python3
"""A node joining a live cluster with a long history, against a Redis replica's full sync, same
machine, same run.

Spool: etcd and three spoold (release), `--history` XADDs to one stream (redis-benchmark, 50
clients x 16 pipelined, 100-byte values). One follower of the stream's shard is killed and its
data directory replaced by an empty one; then a steady `--rate` XADD/s runs against the leader
(`spool bench open`, publish->ack latency) and, `--join-after` seconds in, the node starts again.
From its log: the time from its start to joining the shard at the leader's commit point (it
acknowledges and counts in quorums from then on), and the time to fill the gap; from its INFO: the
records and bytes it backfilled. The same open-loop run without a join gives the baseline p99.

Redis: a master (appendonly yes, appendfsync always) with the same history, the same open-loop
load, and a fresh replica started `--join-after` seconds in: the time until its link is up
(`master_link_status:up`, the full sync done) and the bytes the master sent it
(what the replica read, from /proc), and the master's p99 during the sync.

Server CPU per live request: every server process (Spool: the three nodes, the joiner from its
restart on, and etcd; Redis: the master and the replica) from /proc, divided by the live requests.

`--mode add` (Spool): instead of a replaced disk, a fourth node is started and added with CLUSTER
MEET (a membership change: each shard then elects a leader under the new configuration): the time
the change took (MEET to +OK), and from the node's start until it joined the stream's shard (with
a gap, at the leader's commit point) and filled it; the live p99 includes the re-elections.

Medians of `--runs`.

usage: Tools/bench_join.py [--runs 3] [--history 400000] [--rate 2000] [--duration 12] [--backfill-rate MB/s]
                          [--only redis,cluster] [--mode replace|add]
"""
import argparse
import datetime
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_cluster import HOSTS, Cluster, find_latency, redis_benchmark, spool_open  # noqa: E402
from bench_common import CLOCK_TICKS, ROOT, Peer, free_port, print_table, wait_ready  # noqa: E402

# The history and the live load: two streams of one slot, so on Spool the joiner's gap holds the
# history and its acknowledgements count for the live writes.
STREAM = "{bench-join}history"
LIVE = "{bench-join}live"


def log_time(line):
    """The UTC time a spoold log line starts with, as seconds since the epoch."""
    stamp = line.split(" ", 1)[0]
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def open_loop(spool, host, port, rate, duration, result):
    result["report"] = spool_open(spool, host, port, LIVE, rate, duration)


def spool_run(args, join):
    extra = ["--cluster-gap-threshold", "1000"]
    if args.backfill_rate is not None:
        extra += ["--cluster-backfill-rate", str(args.backfill_rate)]
    adding = args.mode == "add"
    cluster = Cluster(args.spoold, shards=4, extra=extra, spare=adding)
    try:
        host, port = cluster.leader(STREAM)
        redis_benchmark(host, port, 50, 16, args.history, STREAM)
        victim = 3 if adding else next(i for i, h in enumerate(HOSTS) if h != host)
        if join and not adding:
            cluster.replace_disk(victim)
        result = {}
        cpu_before = cluster.cpu_seconds()
        load = threading.Thread(target=open_loop, args=(args.spool, host, port, args.rate, args.duration, result))
        load.start()
        row = {}
        if join:
            time.sleep(args.join_after + 1)  # (the run's one-second warm-up)
            started = time.time()
            cluster.start_node(victim)
            if adding:
                row["change_s"] = meet(host, port, cluster.argv[victim])
            shard = None
            deadline = time.time() + args.duration + 60
            joined = filled = None
            while time.time() < deadline and filled is None:
                text = open(cluster.log_path(victim)).read()
                for line in text.splitlines():
                    match = re.search(r"cluster: shard (\d+): joined at the leader's commit point (\d+)", line)
                    if match and joined is None:
                        shard, joined = int(match.group(1)), log_time(line)
                        row["gap_records"] = int(match.group(2))
                    if shard is not None and f"cluster: shard {shard}: gap filled" in line:
                        filled = log_time(line)
                time.sleep(0.05)
            if joined is None or filled is None:
                raise RuntimeError(f"node {victim + 1} did not join and fill its gap:\n{text[-3000:]}")
            victim_host = cluster.argv[victim][cluster.argv[victim].index("--bind") + 1]
            info = redis.Redis(host=victim_host, port=cluster.port).info("shards")
            value = info[f"spool_cluster_shard{shard}"]
            fields = value if isinstance(value, dict) else dict(part.split("=", 1) for part in str(value).split(","))
            row["join_s"] = joined - started
            row["fill_s"] = filled - joined
            row["backfilled"] = int(fields.get("backfilled", 0))
            row["mb"] = int(fields.get("backfilled_bytes", 0)) / 1e6
        load.join()
        latency = find_latency(result["report"])
        row["p50"] = float(latency["p50_us"])
        row["p99"] = float(latency["p99_us"])
        # Every server process's CPU (the joiner's from its restart on) per live request.
        row["cpu"] = (cluster.cpu_seconds() - cpu_before) / latency["count"] * 1e6
        return row
    finally:
        cluster.stop()


def meet(host, port, argv):
    """CLUSTER MEET of the node `argv` starts, once it registered: the seconds from the first
    MEET that found it registered to +OK."""
    new_host = argv[argv.index("--bind") + 1]
    client = redis.Redis(host=host, port=port, socket_timeout=30)
    deadline = time.time() + 30
    while time.time() < deadline:
        asked = time.time()
        try:
            client.execute_command("CLUSTER", "MEET", new_host, port)
            return time.time() - asked
        except redis.ResponseError as error:
            if "Invalid node address" not in str(error):
                raise
        time.sleep(0.02)
    raise RuntimeError(f"{new_host} did not register")


def redis_run(args, join):
    master = Peer("redis")
    replica_dir = None
    replica = None
    try:
        redis_benchmark("127.0.0.1", master.port, 50, 16, args.history, STREAM)
        result = {}
        cpu_before = master.cpu_seconds()
        load = threading.Thread(target=open_loop, args=(args.spool, "127.0.0.1", master.port, args.rate, args.duration, result))
        load.start()
        row = {}
        if join:
            time.sleep(args.join_after + 1)
            import tempfile
            replica_dir = tempfile.mkdtemp(prefix="bench-redis-replica-")
            replica_port = free_port()
            started = time.time()
            replica = subprocess.Popen(
                ["redis-server", "--port", str(replica_port), "--dir", replica_dir, "--appendonly", "yes", "--appendfsync", "always",
                 "--save", "", "--replicaof", "127.0.0.1", str(master.port)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_ready(replica_port)
            client = redis.Redis(port=replica_port)
            deadline = time.time() + args.duration + 60
            while time.time() < deadline:
                info = client.info("replication")
                if info.get("master_link_status") == "up" and not info.get("master_sync_in_progress"):
                    break
                time.sleep(0.01)
            else:
                raise RuntimeError("the Redis replica did not finish its sync")
            row["join_s"] = time.time() - started
            row["fill_s"] = 0.0
            row["backfilled"] = int(client.xlen(STREAM))
            with open(f"/proc/{replica.pid}/io") as io:
                read = dict(line.split(": ") for line in io.read().splitlines())
            row["mb"] = int(read["rchar"]) / 1e6  # what the replica read: the snapshot and the stream after it
        load.join()
        latency = find_latency(result["report"])
        row["p50"] = float(latency["p50_us"])
        row["p99"] = float(latency["p99_us"])
        cpu = master.cpu_seconds() - cpu_before
        if replica:
            with open(f"/proc/{replica.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        row["cpu"] = cpu / latency["count"] * 1e6
        return row
    finally:
        if replica:
            replica.send_signal(signal.SIGTERM)
            replica.wait(timeout=30)
        if replica_dir:
            shutil.rmtree(replica_dir, ignore_errors=True)
        master.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--history", type=int, default=400_000)
    parser.add_argument("--rate", type=int, default=2_000)
    parser.add_argument("--duration", type=int, default=12)
    parser.add_argument("--join-after", type=float, default=3.0)
    parser.add_argument("--backfill-rate", type=int, default=None, help="spoold's cluster-backfill-rate, MB/s (default: its own)")
    parser.add_argument("--only", default="redis,cluster", help="which of redis,cluster to run")
    parser.add_argument("--mode", choices=["replace", "add"], default="replace",
                        help="Spool's joiner: a replaced disk, or a fourth node added with CLUSTER MEET")
    parser.add_argument("--spoold", default=os.path.join(ROOT, ".build/release/spoold"))
    parser.add_argument("--spool", default=os.path.join(ROOT, ".build/release/spool"))
    args = parser.parse_args()
    results = {}
    for run in range(args.runs):
        for name, fn in (("redis", redis_run), ("cluster", spool_run)):
            if name not in args.only.split(","):
                continue
            for join in (False, True):
                row = fn(args, join)
                results.setdefault((name, join), []).append(row)
                print(f"run {run + 1} {name} {'join' if join else 'baseline'}: {row}", flush=True)

    def median(rows, key):
        values = [r[key] for r in rows if key in r]
        return statistics.median(values) if values else None

    table = []
    for (name, join), rows in results.items():
        joiner = "spoold node added (CLUSTER MEET), joins with a gap" if args.mode == "add" else "spoold node joins with a gap"
        what = ("redis-server replica full sync" if name == "redis" else joiner) if join else "no join"
        cells = [name, what, f"{median(rows, 'p50'):.0f}", f"{median(rows, 'p99'):.0f}", f"{median(rows, 'cpu'):.1f}"]
        if join:
            join_s, fill_s, mb = median(rows, "join_s"), median(rows, "fill_s"), median(rows, "mb")
            change_s = median(rows, "change_s")
            cells += [f"{join_s:.2f}", f"{fill_s:.2f}", f"{median(rows, 'backfilled'):.0f}", f"{mb:.1f}",
                      f"{mb / fill_s:.1f}" if fill_s else "-", f"{change_s:.2f}" if change_s is not None else "-"]
        else:
            cells += ["-"] * 6
        table.append(cells)
    print(f"\n{args.history} XADDs of history, {args.rate} XADD/s of live load for {args.duration} s, join {args.join_after} s in; "
          f"medians of {args.runs}")
    print_table(["server", "run", "live p50 us", "live p99 us", "server CPU us/req", "joined after s", "filled after s", "records", "MB",
                 "MB/s", "MEET took s"], table)


if __name__ == "__main__":
    main()
