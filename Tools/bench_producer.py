#!/usr/bin/env python3
"""One producer pipelining entries with PRODUCER/SEQ over 4 connections, against plain pipelined
XADD over 4 connections, same spoold binary (a fresh one per workload), same run, same client. Every reply is durable (sent after
the fsync), so entries/s is durable entries/s. Prints both rates, their ratio (target >= 0.8) and
checks that the producer's stream holds SEQ 1..N exactly, in order.

Each run stripes the entries over the connections in runs of --stripe consecutive entries (entry
i goes to connection (i // stripe) % 4), so the server sees a producer's SEQs out of order
whenever one connection runs ahead of another, and must put them back in order. Each connection
has at most --in-flight entries unanswered; one client process per connection.

usage: Tools/bench_producer.py [--entries N] [--stripe N] [--in-flight N] [--spoold PATH]
"""
import argparse
import multiprocessing
import socket
import sys
import time

import redis

from bench_common import Peer, print_table

CONNECTIONS = 4
ENTRY_BYTES = 100


def encode(*args):
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if not isinstance(arg, bytes):
            arg = str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


def command(stream, seq, with_producer):
    # Fields "seq <n>" and "v <padding>": 100 bytes of field names and values per entry.
    seq_text = str(seq).encode()
    padding = b"v" * (ENTRY_BYTES - 4 - len(seq_text))
    if with_producer:
        return encode(b"XADD", stream, b"PRODUCER", b"bench", b"SEQ", seq_text, b"*", b"seq", seq_text, b"v", padding)
    return encode(b"XADD", stream, b"*", b"seq", seq_text, b"v", padding)


def my_seqs(index, entries, stripe):
    """The SEQs (1-based) connection `index` sends, in order."""
    out = []
    for start in range(index * stripe, entries, stripe * CONNECTIONS):
        out.extend(range(start + 1, min(start + stripe, entries) + 1))
    return out


def client(port, stream, with_producer, index, entries, stripe, in_flight, start_event, result):
    """One connection: sends its share pipelined with at most `in_flight` unanswered, counts
    replies; every reply must be a bulk string (an entry id)."""
    seqs = my_seqs(index, entries, stripe)
    chunk = max(1, min(500, in_flight // 2))
    payloads = [b"".join(command(stream, s, with_producer) for s in seqs[i:i + chunk]) for i in range(0, len(seqs), chunk)]
    counts = [min(chunk, len(seqs) - i) for i in range(0, len(seqs), chunk)]
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    start_event.wait()
    sent = 0
    answered = 0
    next_payload = 0
    pending = b""
    errors = 0
    while answered < len(seqs):
        while next_payload < len(payloads) and sent - answered + counts[next_payload] <= in_flight:
            sock.sendall(payloads[next_payload])
            sent += counts[next_payload]
            next_payload += 1
        data = sock.recv(1 << 20)
        if not data:
            raise RuntimeError("server closed the connection")
        data = pending + data
        # Replies are "$<n>\r\n<id>\r\n" (or "-<error>\r\n"). Count complete ones; keep the rest.
        lines = data.split(b"\r\n")
        tail = lines.pop()
        i = 0
        while i < len(lines):
            if lines[i].startswith(b"$"):
                if i + 1 == len(lines):
                    break
                i += 2
            else:
                errors += 1
                i += 1
            answered += 1
        pending = b"\r\n".join(lines[i:] + [tail])
    sock.close()
    result.put((index, errors))


def run(port, stream, with_producer, entries, stripe, in_flight):
    start = multiprocessing.Event()
    results = multiprocessing.Queue()
    processes = [
        multiprocessing.Process(
            target=client, args=(port, stream, with_producer, i, entries, stripe, in_flight, start, results))
        for i in range(CONNECTIONS)
    ]
    for p in processes:
        p.start()
    time.sleep(1.0)  # let every client encode its commands before the clock starts
    began = time.perf_counter()
    start.set()
    errors = sum(results.get()[1] for _ in processes)
    elapsed = time.perf_counter() - began
    for p in processes:
        p.join()
    if errors:
        raise RuntimeError(f"{errors} error replies in the {'producer' if with_producer else 'plain'} run")
    return entries / elapsed


def verify(port, stream, entries, in_seq_order):
    """The stream holds `entries` entries; with `in_seq_order`, their SEQs are 1..entries in order."""
    r = redis.Redis(port=port)
    if not in_seq_order:
        length = r.xlen(stream)
        r.close()
        if length != entries:
            raise RuntimeError(f"{stream!r} holds {length} entries, not {entries}")
        return
    expected = 1
    start = "-"
    while True:
        chunk = r.xrange(stream, min=start, max="+", count=20_000)
        if not chunk:
            break
        for _, fields in chunk:
            if int(fields[b"seq"]) != expected:
                raise RuntimeError(f"entry {expected} of {stream!r} holds SEQ {fields[b'seq']!r}")
            expected += 1
        start = b"(" + chunk[-1][0]
    if expected - 1 != entries:
        raise RuntimeError(f"{stream!r} holds {expected - 1} entries, not {entries}")
    r.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--stripe", type=int, default=100, help="consecutive entries per connection turn")
    parser.add_argument("--in-flight", type=int, default=2_000, help="unanswered entries per connection")
    parser.add_argument("--spoold", default=None)
    args = parser.parse_args()

    rates = {}
    batching = {}
    waits = {}
    # Each workload gets a fresh spoold, so neither runs against the other's data.
    for name, with_producer in (("plain", False), ("producer", True)):
        peer = Peer("spool", args.spoold)
        try:
            rates[name] = run(peer.port, name.encode(), with_producer, args.entries, args.stripe, args.in_flight)
            info = redis.Redis(port=peer.port).info("persistence")
            batching[name] = (info.get("spool_commits", 0), info.get("spool_fsyncs", 0),
                              info.get("spool_entries_per_fsync", 0))
            if with_producer:
                waits = redis.Redis(port=peer.port).info("producers")
            verify(peer.port, name.encode(), args.entries, in_seq_order=with_producer)
        finally:
            peer.stop()
    plain, producer = rates["plain"], rates["producer"]
    print(f"{args.entries:,} entries of {ENTRY_BYTES} bytes over {CONNECTIONS} connections, stripe {args.stripe}, "
          f"{args.in_flight} in flight per connection; durable entries/s")
    print_table(["workload", "entries/s"], [
        ["plain pipelined XADD", f"{plain:,.0f}"],
        ["one producer, PRODUCER/SEQ", f"{producer:,.0f}"],
        ["ratio producer/plain", f"{producer / plain:.2f} (target >= 0.80)"],
    ])
    for name, (commits, fsyncs, per_fsync) in batching.items():
        print(f"{name}: {commits:,} commits, {fsyncs:,} fsyncs, {per_fsync} entries per fsync")
    print(f"producer waits: {waits['spool_producer_groups_set_aside']:,} groups set aside, "
          f"{waits['spool_producer_set_aside_carried']:,} times carried into the next batch, "
          f"{waits['spool_producer_set_aside_outwaited']:,} outwaited producer-reorder-wait, "
          f"{waits['spool_producer_appends_parked']:,} appends parked")
    print("producer stream verified: SEQ 1..N in order, no duplicates, no holes")


if __name__ == "__main__":
    sys.exit(main())
