"""Shutdown, restart and crash recovery.

Clean shutdown (SIGTERM, SHUTDOWN) and restart with the same data directory must keep every
stream exactly: entries, last ids, entries-added, max-deleted-entry-id. After kill -9 at a random
moment, every acknowledged entry must be readable, in order, with no holes in any producer's
sequence. These tests run against Redis too (appendfsync always gives the same guarantee), which
keeps the test logic honest; Spool-only features are marked.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import threading
import time
from collections import defaultdict

import pytest

from conftest import IS_SPOOL
from helpers import ConnectionClosed, ErrorReply, RawConnection, encode_command, entry_size, pairs, parse_id, wait_until

CRASH_ROUNDS = int(os.environ.get("SPOOL_CRASH_ROUNDS", "5"))
# Entries per second per producer at most, so the amount of data (and the time to read it all
# back every round) stays bounded however fast the server is.
PRODUCER_RATE_MAX = int(os.environ.get("SPOOL_CRASH_RATE", "10000"))
VOLATILE_XINFO_FIELDS = {b"radix-tree-keys", b"radix-tree-nodes"}


def err(reply) -> str:
    assert isinstance(reply, ErrorReply), f"expected an error reply, got {reply!r}"
    return reply.message


def all_entries(client, stream, page=2000):
    """Every entry of a stream via redis-py (hiredis parser), paging with exclusive starts."""
    out = []
    start = "-"
    for _ in range(100_000):
        chunk = client.xrange(stream, min=start, max="+", count=page)
        if not chunk:
            return out
        out += chunk
        start = b"(" + chunk[-1][0]
    raise AssertionError("stream too long to read back")


def snapshot(srv):
    """Everything a client can observe about the keyspace, minus radix-tree statistics."""
    state = {}
    with srv.raw(timeout=30) as c:
        keys = sorted(c.cmd("KEYS", "*"))
        state["dbsize"] = c.cmd("DBSIZE")
        for k in keys:
            info = [(name, value) for name, value in pairs(c.cmd("XINFO", "STREAM", k)) if name not in VOLATILE_XINFO_FIELDS]
            state[k] = {
                "type": c.cmd("TYPE", k),
                "xlen": c.cmd("XLEN", k),
                "entries": c.cmd("XRANGE", k, "-", "+"),
                "info": info,
            }
    return state


def populate(srv):
    with srv.raw(timeout=30) as c:
        cmds = []
        for i in range(100):
            cmds.append(("XADD", "plain", "*", "i", str(i), "bin", bytes([i, 0, 13, 10, 255])))
        for j in range(40):
            cmds.append(("XADD", f"many:{j}", f"{j + 1}-{j}", "j", str(j)))
        for i in range(1, 21):
            cmds.append(("XADD", "deleted", f"{i}-1", "i", str(i)))
        cmds.append(("XDEL", "deleted", "1-1", "2-1", "15-1", "20-1"))
        for i in range(1, 4):
            cmds.append(("XADD", "empty", f"{i}-5", "i", str(i)))
        cmds.append(("XDEL", "empty", "1-5", "2-5", "3-5"))
        for i in range(1, 31):
            cmds.append(("XADD", "trimmed", "MAXLEN", "10", f"{i}-0", "i", str(i)))
        cmds.append(("XADD", "setid", "1-1", "f", "v"))
        cmds.append(("XSETID", "setid", "500-7", "ENTRIESADDED", "99", "MAXDELETEDID", "400-1"))
        cmds.append(("XADD", "big", "1-1", "blob", bytes(i % 256 for i in range(200_000))))
        cmds.append(("XADD", "born-empty", "MAXLEN", "0", "9-9", "f", "v"))
        for reply in c.pipeline(cmds):
            assert not isinstance(reply, ErrorReply), reply


def check_ids_continue_after_restart(srv, state):
    with srv.raw() as c:
        for k, s in state.items():
            if not isinstance(k, bytes):
                continue
            last = dict(s["info"])[b"last-generated-id"]
            assert err(c.cmd("XADD", k, last, "f", "v")) == (
                "ERR The ID specified in XADD is equal or smaller than the target stream top item"
            ), k
            new = c.cmd("XADD", k, "*", "f", "v")
            assert parse_id(new) > parse_id(last), k


# --------------------------------------------------------------------------------------------
# Clean shutdown and restart
# --------------------------------------------------------------------------------------------


def test_sigterm_exits_zero_promptly(start_server):
    srv = start_server()
    with srv.raw() as c:
        c.cmd("XADD", "s", "*", "f", "v")
    # Connected idle clients must not hold the shutdown up.
    idle = RawConnection(srv.port)
    idle.cmd("PING")
    started = time.monotonic()
    code = srv.stop(signal.SIGTERM, timeout=10)
    elapsed = time.monotonic() - started
    idle.close()
    assert code == 0, f"exit status {code}; log:\n{srv.log_tail()}"
    assert not srv.stopped_by_sigkill
    assert elapsed < 5.0, f"SIGTERM took {elapsed:.1f}s"


def test_sigint_exits_zero(start_server):
    srv = start_server()
    assert srv.stop(signal.SIGINT, timeout=10) == 0


def test_restart_preserves_every_stream(start_server):
    srv = start_server()
    populate(srv)
    before = snapshot(srv)
    assert before[b"empty"]["xlen"] == 0
    assert dict(before[b"setid"]["info"])[b"entries-added"] == 99
    srv.restart()
    after = snapshot(srv)
    assert after == before
    # A second restart changes nothing either.
    srv.restart()
    assert snapshot(srv) == before
    check_ids_continue_after_restart(srv, before)


def test_restart_with_blocked_and_idle_clients(start_server):
    srv = start_server()
    with srv.raw() as c:
        c.cmd("XADD", "s", "1-1", "f", "v")
    blocked = RawConnection(srv.port)
    blocked.send_command("XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    idle = RawConnection(srv.port)
    idle.cmd("PING")
    time.sleep(0.1)
    started = time.monotonic()
    assert srv.stop() == 0
    assert time.monotonic() - started < 5.0
    for conn in (blocked, idle):
        conn.wait_closed(10)
        conn.close()
    srv.start()
    with srv.raw() as c:
        assert c.cmd("XRANGE", "s", "-", "+") == [[b"1-1", [b"f", b"v"]]]


def test_shutdown_command(start_server):
    srv = start_server()
    populate(srv)
    before = snapshot(srv)
    with srv.raw() as c:
        c.send_command("SHUTDOWN")
        # Like Redis: no reply on success, the connection just closes.
        assert c.wait_closed(10) == b""
    assert srv.wait_exit(10) == 0, srv.log_tail()
    srv.start()
    assert snapshot(srv) == before


def test_shutdown_through_redis_py(start_server):
    srv = start_server()
    client = srv.client(protocol=2)
    client.xadd("s", {"f": "v"}, id="1-1")
    client.shutdown()  # redis-py expects the connection to drop, not a reply
    assert srv.wait_exit(10) == 0
    srv.start()
    assert srv.client(protocol=3).xlen("s") == 1


def test_shutdown_inside_multi_is_refused(start_server):
    srv = start_server()
    with srv.raw() as c:
        assert c.cmd("MULTI") == b"OK"
        assert err(c.cmd("SHUTDOWN")).startswith("ERR ")
        c.cmd("DISCARD")
        assert c.cmd("PING") == b"PONG"
    assert srv.is_running()


# --------------------------------------------------------------------------------------------
# kill -9
# --------------------------------------------------------------------------------------------


def test_kill9_after_acknowledged_writes(start_server):
    srv = start_server()
    with srv.raw(timeout=30) as c:
        ids = c.pipeline([("XADD", "s", "*", "i", str(i)) for i in range(2000)])
        c.cmd("XADD", "gone", "5-5", "f", "v")
        c.cmd("XDEL", "gone", "5-5")
    srv.kill9()
    srv.start()
    client = srv.client(protocol=2)
    entries = all_entries(client, "s")
    assert [e[0] for e in entries] == [bytes(x) for x in ids]
    assert [e[1][b"i"] for e in entries] == [str(i).encode() for i in range(2000)]
    info = client.xinfo_stream("gone")
    assert info["length"] == 0
    assert info["last-generated-id"] == b"5-5"
    assert info["max-deleted-entry-id"] == b"5-5"
    assert info["entries-added"] == 1


def checkpoints(c) -> int:
    text = c.cmd("INFO", "persistence").decode()
    return int(dict(line.split(":", 1) for line in text.splitlines() if ":" in line)["rdb_saves"])


@pytest.mark.spool_only
def test_kill9_after_a_checkpoint(start_server):
    srv = start_server(checkpoint_interval=1)
    with srv.raw(timeout=30) as c:
        c.pipeline([("XADD", "before", "*", "i", str(i)) for i in range(500)])
        wait_until(lambda: checkpoints(c) >= 1, timeout=30, what="a checkpoint")
        c.pipeline([("XADD", "after", "*", "i", str(i)) for i in range(500)])
    srv.kill9()
    srv.start()
    with srv.raw() as c:
        assert c.cmd("XLEN", "before") == 500
        assert c.cmd("XLEN", "after") == 500


@pytest.mark.spool_only
def test_a_checkpoint_starts_after_checkpoint_writes_whatever_the_interval(start_server):
    srv = start_server(checkpoint_interval=86400, checkpoint_writes=2000)
    with srv.raw(timeout=30) as c:
        assert checkpoints(c) == 0
        c.pipeline([("XADD", f"s:{i % 50}", "*", "i", str(i)) for i in range(1500)])
        assert checkpoints(c) == 0
        c.pipeline([("XADD", f"s:{i % 50}", "*", "i", str(i)) for i in range(1500)])
        wait_until(lambda: checkpoints(c) >= 1, timeout=30, what="a checkpoint by volume")
        c.pipeline([("XADD", "after", "*", "i", str(i)) for i in range(100)])
    srv.kill9()
    srv.start()
    with srv.raw() as c:
        assert sum(c.cmd("XLEN", f"s:{i}") for i in range(50)) == 3000
        assert c.cmd("XLEN", "after") == 100


class Producer(threading.Thread):
    """Pipelines XADDs in batches on its own connection and records every acknowledged id."""

    def __init__(self, port, number, round_number, streams, batch=50):
        super().__init__(daemon=True)
        self.port = port
        self.number = number
        self.round_number = round_number
        self.streams = streams
        self.batch = batch
        self.sent = defaultdict(list)  # stream -> [token, ...] in send order
        self.acked = defaultdict(list)  # stream -> [(id, token), ...] in ack order
        self.error = None
        self.stop = threading.Event()
        self.seq = 0

    def run(self):
        try:
            conn = RawConnection(self.port, timeout=5)
        except OSError:
            return
        started = time.monotonic()
        sent_total = 0
        try:
            while not self.stop.is_set():
                ahead = sent_total / PRODUCER_RATE_MAX - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
                batch = []
                for _ in range(self.batch):
                    stream = self.streams[self.seq % len(self.streams)]
                    token = f"{self.round_number}.{self.number}.{self.seq}".encode()
                    self.seq += 1
                    batch.append((stream, token))
                    self.sent[stream].append(token)
                conn.send(b"".join(encode_command("XADD", s, "*", "tok", t, "pad", b"p" * 64) for s, t in batch))
                for stream, token in batch:
                    reply = conn.read_reply()
                    if isinstance(reply, ErrorReply):
                        self.error = f"XADD failed: {reply.message}"
                        return
                    self.acked[stream].append((bytes(reply), token))
                sent_total += len(batch)
        except (ConnectionClosed, ConnectionError, socket.timeout, OSError):
            pass  # the server was killed
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = repr(exc)
        finally:
            conn.close()


def test_acknowledged_writes_survive_kill9_at_random_moments(start_server):
    srv = start_server()
    rng = random.Random(int(os.environ.get("SPOOL_CRASH_SEED", str(time.time_ns()))))
    producers_per_round = 4
    shared = b"crash:shared"
    probes = defaultdict(int)  # stream -> entries added (then deleted) by the checks below
    acked_by_stream = defaultdict(list)  # stream -> [(id, token)]
    producer_order = defaultdict(list)  # (stream, producer key) -> [token, ...] sent
    all_sent_tokens = set()
    total_acked = 0

    for round_number in range(CRASH_ROUNDS):
        producers = []
        for n in range(producers_per_round):
            own = f"crash:p{n}".encode()
            producers.append(Producer(srv.port, n, round_number, [shared, own]))
        for p in producers:
            p.start()
        time.sleep(rng.uniform(0.3, 1.5))
        srv.kill9()
        for p in producers:
            p.stop.set()
            p.join(15)
            assert not p.is_alive(), "producer thread hung"
            assert p.error is None, p.error
        round_acks = 0
        for p in producers:
            for stream, tokens in p.sent.items():
                producer_order[(stream, round_number, p.number)] = list(tokens)
                all_sent_tokens.update(tokens)
            for stream, acks in p.acked.items():
                acked_by_stream[stream] += acks
                round_acks += len(acks)
        total_acked += round_acks
        assert round_acks > 0, f"round {round_number}: nothing was acknowledged before the kill"

        srv.start()
        client = srv.client(protocol=2)
        for stream in {shared} | {f"crash:p{n}".encode() for n in range(producers_per_round)}:
            entries = all_entries(client, stream)
            ids = [parse_id(e[0]) for e in entries]
            assert all(a < b for a, b in zip(ids, ids[1:])), f"{stream!r}: ids out of order"
            present = {e[0]: e[1][b"tok"] for e in entries}
            for entry_id, token in acked_by_stream[stream]:
                assert present.get(entry_id) == token, (
                    f"round {round_number}: acknowledged entry {entry_id!r} ({token!r}) lost from {stream!r}"
                )
            tokens_in_stream = [e[1][b"tok"] for e in entries]
            assert set(tokens_in_stream) <= all_sent_tokens, f"{stream!r}: entry that was never sent"
            # Each producer's entries form a prefix of what it sent, in send order: no holes.
            by_producer = defaultdict(list)
            for token in tokens_in_stream:
                r, n, _ = token.decode().split(".")
                by_producer[(int(r), int(n))].append(token)
            for (r, n), tokens in by_producer.items():
                sent = producer_order[(stream, r, n)]
                assert tokens == sent[: len(tokens)], f"{stream!r}: producer {r}.{n} has a hole or reordering"
            info = client.xinfo_stream(stream)
            assert info["length"] == len(entries)
            assert info["entries-added"] == len(entries) + probes[stream]
            if IS_SPOOL:  # its size, caught up from the appends its catalog row has not seen
                assert (client.memory_usage(stream) or 0) == sum(
                    entry_size(list(e[1].keys()) + list(e[1].values())) for e in entries), stream
            if entries:
                assert parse_id(info["last-generated-id"]) >= ids[-1]
                new = client.xadd(stream, {"tok": f"probe.{round_number}".encode()})
                assert parse_id(new) > ids[-1]
                assert client.xdel(stream, new) == 1
                probes[stream] += 1
        client.close()
    assert total_acked > 0


@pytest.mark.spool_only
def test_idempotent_appends_in_another_database_survive_kill9(start_server):
    """XADD IDMP in database 3 under kill -9: after each restart every acknowledged append is there
    once with its id, and resending everything that was sent (acknowledged or not) adds each
    missing one once and answers the others with their first id."""
    srv = start_server()
    rng = random.Random(int(os.environ.get("SPOOL_CRASH_SEED", str(time.time_ns()))))
    stream = b"idmp:crash"
    setup = srv.client(protocol=2, db=3)
    setup.xadd(stream, {"tok": "setup"})
    # redis-py checks 1-300 s client-side; the server takes Redis's 1-86400.
    setup.execute_command("XCFGSET", stream, "IDMP-DURATION", 86400, "IDMP-MAXSIZE", 10000)
    setup.close()
    expected = {}  # token -> id, every append known to be in the stream
    for round_number in range(CRASH_ROUNDS):
        producer = f"p{round_number}"
        sent, acked = [], {}
        stop = threading.Event()

        def send():
            try:
                conn = RawConnection(srv.port, timeout=5)
                assert conn.cmd("SELECT", "3") == b"OK"
                seq = 0
                while not stop.is_set() and seq < 5000:
                    batch = [f"{round_number}.{seq + i}".encode() for i in range(25)]
                    seq += len(batch)
                    sent.extend(batch)
                    conn.send(b"".join(
                        encode_command("XADD", stream, "IDMP", producer, t, "*", "tok", t) for t in batch))
                    for token in batch:
                        acked[token] = bytes(conn.read_reply())
            except (ConnectionClosed, ConnectionError, socket.timeout, OSError):
                pass  # the server was killed

        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        time.sleep(rng.uniform(0.2, 1.0))
        srv.kill9()
        stop.set()
        thread.join(15)
        assert not thread.is_alive(), "sender hung"
        assert acked, f"round {round_number}: nothing was acknowledged before the kill"
        srv.start()
        client = srv.client(protocol=2, db=3)
        present = {e[1][b"tok"]: e[0] for e in all_entries(client, stream)}
        for token, entry_id in acked.items():
            assert present.get(token) == entry_id, f"round {round_number}: acknowledged {token!r} lost"
        # Resend everything: acknowledged ones (and ones that made it unacknowledged) get their id.
        pipe = client.pipeline(transaction=False)
        for token in sent:
            pipe.xadd(stream, {"tok": token}, idmp=(producer, token))
        for token, entry_id in zip(sent, pipe.execute()):
            if token in present:
                assert entry_id == present[token], f"round {round_number}: resend of {token!r} appended again"
            expected[token] = entry_id
        tokens = [e[1][b"tok"] for e in all_entries(client, stream)]
        assert len(tokens) == len(set(tokens)), f"round {round_number}: a token is in the stream twice"
        assert set(expected) <= set(tokens)
        assert srv.client(protocol=2, db=0).exists(stream) == 0
        client.close()
