#!/usr/bin/env python3
"""Many streams, side by side with redis-server (appendonly yes, appendfsync always).

  creation  N streams x 1 entry by pipelined `XADD agg:<n> * e created` over a few connections:
            streams/s, server CPU µs per stream (all threads' user+sys from /proc), RSS and open
            descriptors before and after, then kill -9 and the time until the restarted server
            answers PING (and its RSS then).
  spread    redis-benchmark 50 clients x 16 pipelined, 100-byte XADD, to one stream and to keys
            spread over 100,000 streams (-r 100000): req/s and server CPU µs/req.
  replay    XRANGE pages of 100 entries from random ids of one stream of 200,000 entries
            (redis-benchmark): entries/s and server CPU µs per entry.

Each peer runs `--runs` times (fresh data directory each run); the table shows medians. Pass
`--spoold PATH` several times to compare builds (the first is the one measured against Redis).

    python3 Tools/bench_streams.py --streams 1000000 --runs 3
    python3 Tools/bench_streams.py --only spread,replay --spoold .build/release/spoold --spoold /tmp/base/spoold
"""
import argparse
import re
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import ROOT, Peer, peers, print_table  # noqa: E402




def command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def pipelined_xadds(port, first, count, window=2000):
    """Sends `XADD agg:<n> * e created` for n in [first, first+count) with up to `window` in
    flight; returns when every reply is read. Replies are bulk ids: two lines each."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    errors = []
    done = threading.Event()

    def reader():
        lines, need = 0, 2 * count
        while lines < need:
            data = sock.recv(1 << 20)
            if not data:
                errors.append("connection closed")
                break
            if b"-" in data[:1] or b"\n-" in data:
                errors.append(data[:200])
            lines += data.count(b"\r\n")
            with sent_lock:
                acked[0] = lines // 2
                sent_lock.notify_all()
        done.set()

    sent_lock = threading.Condition()
    acked = [0]
    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    sent = 0
    chunk = 500
    while sent < count:
        with sent_lock:
            while sent - acked[0] >= window:
                sent_lock.wait()
        n = min(chunk, count - sent)
        sock.sendall(b"".join(command("XADD", f"agg:{first + sent + i}", "*", "e", "created") for i in range(n)))
        sent += n
    done.wait()
    sock.close()
    if errors:
        raise RuntimeError(f"errors from the server: {errors[:3]}")


def creation(kind, binary, streams, connections, extra=()):
    server = Peer(kind, binary, extra)
    try:
        rss0, fds0 = server.rss_mib(), server.fds()
        cpu0 = server.cpu_seconds()
        started = time.monotonic()
        per = streams // connections
        threads = [threading.Thread(target=pipelined_xadds, args=(server.port, i * per, per)) for i in range(connections)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        cpu = server.cpu_seconds() - cpu0
        rss1, fds1 = server.rss_mib(), server.fds()
        restart = server.kill9_and_restart()
        rss2 = server.rss_mib()
        return {
            "streams/s": per * connections / elapsed, "cpu µs/stream": cpu * 1e6 / (per * connections),
            "RSS MiB": rss1, "RSS before": rss0, "fds before": fds0, "fds after": fds1,
            "restart s": restart, "RSS after restart": rss2,
        }
    finally:
        server.stop()


def redis_benchmark(port, key, random_keys, requests):
    args = ["redis-benchmark", "-p", str(port), "-c", "50", "-P", "16", "-n", str(requests), "-q"]
    if random_keys:
        args += ["-r", str(random_keys)]
    args += ["XADD", key, "*", "f", "x" * 100]
    out = subprocess.run(args, capture_output=True, text=True, timeout=900).stdout
    rates = re.findall(r"([0-9.]+) requests per second", out)
    if rates:
        return float(rates[-1])
    raise RuntimeError(f"redis-benchmark printed no rate: {out!r}")


def spread(kind, binary, requests, many=True):
    """redis-benchmark to one stream, then (when `many`) to keys spread over 100,000 streams:
    {name: (req/s, server CPU µs/req)}."""
    server = Peer(kind, binary)
    try:
        out = {}
        runs = [("one stream", "one", 0)] + ([("100k streams", "s:__rand_int__", 100_000)] if many else [])
        for name, key, keys in runs:
            cpu0 = server.cpu_seconds()
            rate = redis_benchmark(server.port, key, keys, requests)
            out[name] = (rate, (server.cpu_seconds() - cpu0) * 1e6 / requests)
        return out
    finally:
        server.stop()


def replay(kind, binary, entries=200_000, requests=100_000):
    """XRANGE pages of 100 entries from random places of one stream of `entries` 100-byte
    entries (ids 1-0 … entries-0), by redis-benchmark: (entries/s, server CPU µs per entry)."""
    server = Peer(kind, binary)
    try:
        sock = socket.create_connection(("127.0.0.1", server.port))
        for first in range(1, entries + 1, 1000):
            sock.sendall(b"".join(command("XADD", "log", f"{n}-0", "f", "x" * 100) for n in range(first, first + 1000)))
            got = 0
            while got < 2000:
                got += sock.recv(1 << 20).count(b"\r\n")
        sock.close()
        cpu0 = server.cpu_seconds()
        args = ["redis-benchmark", "-p", str(server.port), "-c", "50", "-P", "4", "-n", str(requests), "-q",
                "-r", str(entries - 100), "XRANGE", "log", "__rand_int__", "+", "COUNT", "100"]
        out = subprocess.run(args, capture_output=True, text=True, timeout=900).stdout
        rate = float(re.findall(r"([0-9.]+) requests per second", out)[-1])
        cpu = server.cpu_seconds() - cpu0
        return rate * 100, cpu * 1e6 / (requests * 100)
    finally:
        server.stop()


def median(values):
    return statistics.median(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=1_000_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1_000_000, help="redis-benchmark requests per spread run")
    parser.add_argument("--spoold", action="append", help="spoold binaries (default .build/release/spoold)")
    parser.add_argument("--only", default="creation,spread,replay")
    parser.add_argument("--no-redis", action="store_true")
    options = parser.parse_args()
    binaries = options.spoold or [os.path.join(ROOT, ".build/release/spoold")]
    servers = peers(binaries, redis=not options.no_redis)
    parts = options.only.split(",")

    if "creation" in parts:
        results = {label: [] for _, _, label in servers}
        for run in range(options.runs):
            for kind, binary, label in servers:
                result = creation(kind, binary, options.streams, options.connections)
                results[label].append(result)
                print(f"creation run {run + 1} {label}: " + ", ".join(f"{k} {v:,.1f}" for k, v in result.items()), flush=True)
        keys = list(next(iter(results.values()))[0].keys())
        rows = [[name] + [f"{median([r[k] for r in runs]):,.1f}" for k in keys] for name, runs in results.items()]
        print(f"\n{options.streams:,} streams x 1 entry, pipelined XADD over {options.connections} connections, medians of {options.runs}:")
        print_table(["server"] + keys, rows)

    if "spread" in parts:
        results = {label: [] for _, _, label in servers}
        for run in range(options.runs):
            # Each run starts with the next peer, so none is always the one after a busy machine.
            for kind, binary, label in servers[run % len(servers):] + servers[:run % len(servers)]:
                result = spread(kind, binary, options.requests)
                results[label].append(result)
                print(f"spread run {run + 1} {label}: {result}", flush=True)
        rows = []
        for name, runs in results.items():
            one = median([r["one stream"][0] for r in runs])
            row = [name, f"{one:,.0f}", f"{median([r['one stream'][1] for r in runs]):.2f}"]
            if "100k streams" in runs[0]:
                many = median([r["100k streams"][0] for r in runs])
                row += [f"{many:,.0f}", f"{median([r['100k streams'][1] for r in runs]):.2f}", f"{many / one:.2f}"]
            else:
                row += ["-", "-", "-"]
            rows.append(row)
        print(f"\n50 clients x 16 pipelined, 100-byte XADD, {options.requests:,} requests, medians of {options.runs}:")
        print_table(["server", "one stream req/s", "CPU µs/req", "100k streams req/s", "CPU µs/req", "spread/one"], rows)

    if "replay" in parts:
        results = {label: [] for _, _, label in servers}
        for run in range(options.runs):
            for kind, binary, label in servers:
                results[label].append(replay(kind, binary))
        print(f"\nXRANGE id + COUNT 100 from random ids of a 200,000-entry stream, 50 clients x 4 pipelined, medians of {options.runs}:")
        print_table(
            ["server", "entries/s", "CPU µs/entry"],
            [[n, f"{median([r[0] for r in v]):,.0f}", f"{median([r[1] for r in v]):.3f}"] for n, v in results.items()])


if __name__ == "__main__":
    main()
