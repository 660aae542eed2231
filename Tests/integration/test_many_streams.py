"""Many streams: one stream per entity, as event sourcing keeps them (storage schema 3).

Every stream's entries live in two shared WiredTiger tables keyed by (stream number, entry id), so
creating streams costs rows, not files or descriptors; streams are loaded from the catalog when
used and let go when more than `stream-cache-max` are held; deleting or trimming truncates a key
range. Data directories of the earlier layouts (schema 1: two tables per stream; schema 2: no
stream sizes in the catalog) are upgraded on open.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import socket
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from conftest import SPOOLD
from helpers import ErrorReply, RawConnection, entry_size, free_port, get, is_nil, pairs, scrape, wait_until

pytestmark = pytest.mark.spool_only

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def data_files(srv) -> int:
    return len(os.listdir(srv.data_dir))


def info(c: RawConnection, section: str) -> dict:
    text = c.cmd("INFO", section).decode()
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def pipelined(c: RawConnection, commands, chunk: int = 2000) -> list:
    replies = []
    for start in range(0, len(commands), chunk):
        replies += c.pipeline(commands[start:start + chunk])
    return replies


def scan_all(c: RawConnection, count: int = 1000) -> list:
    cursor, names, calls = b"0", [], 0
    while True:
        cursor, page = c.cmd("SCAN", cursor, "COUNT", count)
        names += page
        calls += 1
        assert calls < 1_000_000
        if cursor == b"0":
            return names


# --------------------------------------------------------------------------------------------
# Upgrade from schema 1
# --------------------------------------------------------------------------------------------


def check_fixture_contents(c: RawConnection, appended_and_deleted: bool = False) -> None:
    """What fixtures/README.md says the schema-1 directory holds (after one more entry was
    appended to `orders` and deleted again, when `appended_and_deleted`)."""
    assert c.cmd("DBSIZE") == 35
    assert sorted(c.cmd("KEYS", "*")) == sorted(
        [b"orders", b"events", b"idem", b"prod", b"empty"] + [f"agg:{i}".encode() for i in range(1, 31)])
    assert sorted(scan_all(c, count=7)) == sorted(c.cmd("KEYS", "*"))
    orders = c.cmd("XRANGE", "orders", "-", "+")
    assert [e[0] for e in orders] == [f"1700000000000-{i}".encode() for i in range(1, 121) if i != 5] + [b"1700000000001-0"]
    assert orders[0][1] == [b"item", b"i1", b"qty", b"1"]
    assert orders[-1][1] == [b"big", b"x" * 3000]
    stream = dict(pairs(c.cmd("XINFO", "STREAM", "orders")))
    added, deleted = (122, b"1700000000002-0") if appended_and_deleted else (121, b"1700000000000-5")
    assert stream[b"length"] == 120 and stream[b"entries-added"] == added
    assert stream[b"max-deleted-entry-id"] == deleted and stream[b"groups"] == 2
    groups = {dict(pairs(g))[b"name"]: dict(pairs(g)) for g in c.cmd("XINFO", "GROUPS", "orders")}
    assert groups[b"billing"][b"pending"] == 2 and groups[b"billing"][b"last-delivered-id"] == b"1700000000000-3"
    assert groups[b"audit"][b"entries-read"] == 121
    pending = c.cmd("XPENDING", "orders", "billing", "-", "+", "10")
    assert [(p[0], p[1], p[3]) for p in pending] == [(b"1700000000000-2", b"alice", 1), (b"1700000000000-3", b"alice", 1)]
    assert c.cmd("XLEN", "events") == 1 and c.cmd("XLEN", "empty") == 0
    for i in range(1, 31):
        assert c.cmd("XRANGE", f"agg:{i}", "-", "+") == [[b"1-1", [b"e", b"created"]]]
    # Producer and idempotency rows moved with their streams' numbers.
    producer = dict(pairs(c.cmd("XPRODUCERS", "prod")[0]))
    assert producer[b"last-seq"] == 2 and producer[b"last-id"] == b"1-2"
    assert c.cmd("XADD", "prod", "PRODUCER", "billing-1", "SEQ", "2", "1-2", "item", "pen") == b"1-2"
    assert c.cmd("XLEN", "idem") == 1
    # The ids themselves expire after idmp-duration (100 s); the stream's counters stay.
    idem = dict(pairs(c.cmd("XINFO", "STREAM", "idem")))
    assert idem[b"iids-added"] == 1 and idem[b"iids-duplicates"] == 1
    assert c.cmd("SELECT", "3") == b"OK"
    assert c.cmd("DBSIZE") == 1
    assert [e[0] for e in c.cmd("XRANGE", "other", "-", "+")] == [b"5-5", b"5-6"]
    c.cmd("SELECT", "0")


def test_a_schema_1_data_directory_is_upgraded_on_open(start_server):
    srv = start_server(start=False)
    shutil.rmtree(srv.data_dir)
    with tarfile.open(FIXTURES / "layout-v1.tar.gz") as archive:
        archive.extractall(srv.base_dir)
    assert any(name.endswith(".live.wt") for name in os.listdir(srv.data_dir))
    srv.start()
    # The per-stream tables are gone; the shared ones hold everything.
    names = os.listdir(srv.data_dir)
    assert not [n for n in names if n.startswith("s") and n.endswith((".live.wt", ".backfill.wt"))], names
    assert "spool-live.wt" in names and "spool-backfill.wt" in names
    with srv.raw() as c:
        check_fixture_contents(c)
        # New streams get numbers after the old ones: nothing of an old stream shows through.
        c.cmd("XADD", "fresh", "1-1", "f", "v")
        assert c.cmd("XRANGE", "fresh", "-", "+") == [[b"1-1", [b"f", b"v"]]]
        c.cmd("XADD", "orders", "1700000000002-0", "after", "upgrade")
    srv.kill9()
    srv.start()
    with srv.raw() as c:
        c.cmd("DEL", "fresh")
        assert c.cmd("XLEN", "orders") == 121
        c.cmd("XDEL", "orders", "1700000000002-0")
        check_fixture_contents(c, appended_and_deleted=True)


# --------------------------------------------------------------------------------------------
# Upgrade from schema 2
# --------------------------------------------------------------------------------------------


def test_a_schema_2_data_directory_gets_every_streams_size_on_open(start_server):
    admin_port = free_port()
    srv = start_server(start=False, admin_port=admin_port)
    shutil.rmtree(srv.data_dir)
    with tarfile.open(FIXTURES / "layout-v2.tar.gz") as archive:
        archive.extractall(srv.base_dir)
    srv.start()
    expected = {  # (database, name): (length, entries-added, last id, max deleted id), fixtures/README.md
        (0, "big"): (1450, 1550, b"2-50", b"1-10"),
        # Lowered by XSETID ENTRIESADDED: schema 2's spoold itself showed 10 after a restart.
        (0, "lowered"): (5, 5, b"1-10", b"1-5"),
        (0, "history"): (4, 4, b"5-2", b"0-0"),
        (0, "gap"): (3, 3, b"9-2", b"0-0"),
        (0, "empty"): (0, 1, b"1-1", b"1-1"),
        (2, "other"): (2, 2, b"7-2", b"0-0"),
    }

    def check(step: str) -> None:
        samples = scrape(admin_port)
        for (db, name), (length, added, last, deleted) in expected.items():
            with srv.raw() as c:
                c.cmd("SELECT", str(db))
                stream = dict(pairs(c.cmd("XINFO", "STREAM", name)))
                assert (stream[b"length"], stream[b"entries-added"], stream[b"last-generated-id"],
                        stream[b"max-deleted-entry-id"]) == (length, added, last, deleted), (step, name, stream)
                if name == "gap":  # a backfill still open: the part below 8-0 is read from 7-1 on
                    entries = c.cmd("XRANGE", name, "9-0", "+") + c.cmd("XRANGE", name, "-", "7-1")
                else:
                    entries = c.cmd("XRANGE", name, "-", "+")
                assert len(entries) == length, (step, name, entries)
                counted = sum(entry_size(fields) for _, fields in entries)
                assert get(samples, "spool_stream_bytes", db=str(db), stream=name) == counted, (step, name)

    check("upgraded")
    with srv.raw() as c:
        assert c.cmd("XBACKFILL", "STATUS", "gap") == [b"filled-through", b"7-1", b"through", b"8-0"]
        assert c.cmd("XPENDING", "big", "g")[0] == 5
        c.cmd("XADD", "lowered", "1-11", "k", "after")
        c.cmd("XDEL", "big", "2-50")
    expected[(0, "lowered")] = (6, 6, b"1-11", b"1-5")
    expected[(0, "big")] = (1449, 1550, b"2-50", b"2-50")
    srv.kill9()
    srv.start()
    check("after kill -9")


# --------------------------------------------------------------------------------------------
# 100,000 streams
# --------------------------------------------------------------------------------------------

STREAMS = int(os.environ.get("SPOOL_MANY_STREAMS", "100000"))


def test_a_hundred_thousand_streams_survive_kill_9_with_constant_descriptors(start_server):
    # A small cache, so streams are let go and loaded again throughout.
    srv = start_server(stream_cache_max=2000, checkpoint_interval=5)
    pid = srv.pid
    with srv.raw(timeout=120) as c:
        c.cmd("XADD", "warmup", "*", "f", "v")
        fds_before, files_before = open_fds(pid), data_files(srv)
        replies = pipelined(c, [("XADD", f"agg:{n}", "1-1", "e", "created", "n", str(n)) for n in range(STREAMS)])
        assert replies == [b"1-1"] * STREAMS
        assert c.cmd("DBSIZE") == STREAMS + 1
        # Fd and file counts do not grow with streams (a WiredTiger log file may rotate in: +2).
        assert open_fds(pid) <= fds_before + 2, (fds_before, open_fds(pid))
        assert data_files(srv) <= files_before + 2, (files_before, data_files(srv))
        cached = info(c, "streams")
        assert int(cached["spool_streams_cached"]) <= 2000 and int(cached["spool_stream_evictions"]) > 0
        # Written again (every 3rd gets a second entry), trimmed (every 5th emptied), deleted
        # (every 7th), in random order so the cache keeps loading streams it let go.
        rng = random.Random(15)
        commands, expected = [], {}
        for n in range(STREAMS):
            entries = [(b"1-1", [b"e", b"created", b"n", str(n).encode()])]
            if n % 3 == 0:
                commands.append(("XADD", f"agg:{n}", "2-1", "e", "paid"))
                entries.append((b"2-1", [b"e", b"paid"]))
            if n % 5 == 0:
                commands.append(("XTRIM", f"agg:{n}", "MAXLEN", "0"))
                entries = []
            if n % 7 == 0:
                commands.append(("DEL", f"agg:{n}"))
                entries = None
            expected[n] = entries
        # Keep each stream's commands in order, interleave streams at random.
        by_stream = {}
        for command in commands:
            by_stream.setdefault(command[1], []).append(command)
        order = list(by_stream)
        rng.shuffle(order)
        ordered = [cmd for name in order for cmd in by_stream[name]]
        replies = pipelined(c, ordered)
        assert not [r for r in replies if isinstance(r, ErrorReply)]
        alive = sum(1 for v in expected.values() if v is not None)
        assert c.cmd("DBSIZE") == alive + 1
        assert open_fds(pid) <= fds_before + 2
    srv.kill9()
    started = time.monotonic()
    srv.start()
    restart_seconds = time.monotonic() - started
    with srv.raw(timeout=120) as c:
        assert c.cmd("DBSIZE") == alive + 1
        assert info(c, "streams")["spool_streams_cached"] == "0"  # nothing loaded at start-up
        sample = random.Random(7).sample(range(STREAMS), 3000) + [0, 1, 2, 3, 5, 7, 15, 21, 35, STREAMS - 1]
        replies = pipelined(c, [("XRANGE", f"agg:{n}", "-", "+") for n in sample])
        for n, reply in zip(sample, replies):
            want = expected[n] or []
            assert [(e[0], e[1]) for e in reply] == want, (n, reply)
        lengths = pipelined(c, [("EXISTS", f"agg:{n}") for n in sample])
        assert lengths == [0 if expected[n] is None else 1 for n in sample]
        # Every stream, exactly once, by SCAN's number order.
        names = scan_all(c, count=5000)
        assert len(names) == len(set(names)) == alive + 1
    print(f"\n{STREAMS} streams: restart after kill -9 took {restart_seconds:.2f} s")


def test_scan_returns_every_stream_that_exists_throughout_exactly_once(start_server):
    srv = start_server(stream_cache_max=50)
    with srv.raw() as c:
        pipelined(c, [("XADD", f"keep:{n}", "*", "f", "v") for n in range(1000)])
        pipelined(c, [("XADD", f"gone:{n}", "*", "f", "v") for n in range(300)])
        seen, cursor, created = [], b"0", 0
        while True:
            cursor, page = c.cmd("SCAN", cursor, "COUNT", "37", "MATCH", "keep:*")
            seen += page
            # Churn while iterating: streams come and go.
            c.cmd("DEL", f"gone:{created}")
            c.cmd("XADD", f"new:{created}", "*", "f", "v")
            created += 1
            if cursor == b"0":
                break
        assert sorted(seen) == sorted(f"keep:{n}".encode() for n in range(1000))
        cursor, page = c.cmd("SCAN", "0", "COUNT", "10", "TYPE", "string")
        assert page == [] and cursor != b"0"


def test_streams_let_go_by_the_cache_come_back_with_groups_producers_and_idempotency(start_server):
    srv = start_server(stream_cache_max=5)
    with srv.raw() as c:
        for n in range(40):
            k = f"ev:{n}"
            c.cmd("XADD", k, "PRODUCER", "p", "SEQ", "1", "1-1", "e", "a")
            c.cmd("XADD", k, "IDMP", "svc", "req-1", "*", "e", "b")
            c.cmd("XGROUP", "CREATE", k, "g", "0")
            c.cmd("XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", k, ">")
        for n in range(40):
            c.cmd("XADD", f"filler:{n}", "*", "f", "v")
        stats = info(c, "streams")
        assert int(stats["spool_streams_cached"]) <= 10, stats
        for n in range(40):
            k = f"ev:{n}"
            assert c.cmd("XADD", k, "PRODUCER", "p", "SEQ", "1", "1-1", "e", "a") == b"1-1"  # a retry
            second = c.cmd("XRANGE", k, "-", "+")[1][0]
            assert c.cmd("XADD", k, "IDMP", "svc", "req-1", "*", "e", "b") == second
            assert c.cmd("XPENDING", k, "g")[0] == 1
            assert c.cmd("XREADGROUP", "GROUP", "g", "bob", "STREAMS", k, ">")[0][1][0][0] == second
            assert c.cmd("XACK", k, "g", "1-1", second) == 2
            assert c.cmd("XADD", k, "IFVERSION", "2", "*", "e", "c")
        assert int(info(c, "streams")["spool_stream_loads"]) >= 40
        # CONFIG SET changes the limit at once.
        c.cmd("CONFIG", "SET", "stream-cache-max", "100000")
        assert c.cmd("CONFIG", "GET", "stream-cache-max") == [b"stream-cache-max", b"100000"]


def test_swapdb_and_move_keep_working_with_streams_not_in_memory(start_server):
    srv = start_server(stream_cache_max=1)
    with srv.raw() as c:
        pipelined(c, [("XADD", f"a:{n}", "1-1", "db", "0") for n in range(20)])
        c.cmd("SELECT", "1")
        pipelined(c, [("XADD", f"b:{n}", "1-1", "db", "1") for n in range(5)])
        assert c.cmd("SWAPDB", "0", "1") == b"OK"
        assert c.cmd("DBSIZE") == 20 and c.cmd("XRANGE", "a:3", "-", "+")[0][1] == [b"db", b"0"]
        assert c.cmd("MOVE", "a:3", "2") == 1
        c.cmd("SELECT", "0")
        assert c.cmd("DBSIZE") == 5 and sorted(c.cmd("KEYS", "*")) == sorted(f"b:{n}".encode() for n in range(5))
    srv.kill9()
    srv.start()
    with srv.raw() as c:
        assert c.cmd("DBSIZE") == 5
        c.cmd("SELECT", "1")
        assert c.cmd("DBSIZE") == 19 and c.cmd("EXISTS", "a:3") == 0
        c.cmd("SELECT", "2")
        assert c.cmd("XRANGE", "a:3", "-", "+") == [[b"1-1", [b"db", b"0"]]]
        assert [int(x) for x in info(c, "keyspace")["db1"].split(",")[0].split("=")[1:]] == [19]


# --------------------------------------------------------------------------------------------
# Descriptors
# --------------------------------------------------------------------------------------------


def test_clients_are_limited_so_the_store_always_has_descriptors(tmp_path):
    port = free_port()
    log = open(tmp_path / "spoold.log", "wb")

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))

    proc = subprocess.Popen(
        [SPOOLD, "--port", str(port), "--data-dir", str(tmp_path / "data")],
        stdout=log, stderr=subprocess.STDOUT, preexec_fn=limit)
    sockets = []
    try:
        wait_until(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() is None, timeout=20, what="spoold up")
        with RawConnection(port) as c:
            assert c.cmd("CONFIG", "GET", "maxclients") == [b"maxclients", b"136"]
            error = c.cmd("CONFIG", "SET", "maxclients", "1000")
            assert isinstance(error, ErrorReply) and "try with 136" in error.message
            # Fill every client slot; the next client is refused, and the store still works.
            for _ in range(135):
                sockets.append(RawConnection(port))
                assert sockets[-1].cmd("PING") == b"PONG"
            extra = RawConnection(port)
            reply = extra.read_reply()
            assert isinstance(reply, ErrorReply) and reply.message == "ERR max number of clients reached"
            extra.close()
            for n in range(3000):
                c.send_command("XADD", f"s:{n}", "*", "f", "v")
            replies = [c.read_reply() for _ in range(3000)]
            assert not [r for r in replies if isinstance(r, ErrorReply)]
            assert c.cmd("DBSIZE") == 3000
        assert b"maxclients 10000 needs more than the open-file limit of 200 allows; maxclients is 136" in (
            tmp_path / "spoold.log").read_bytes()
    finally:
        for s in sockets:
            s.close()
        proc.kill()
        proc.wait()
        log.close()


def test_flushall_of_many_streams_fits_a_small_cache(start_server):
    # One transaction for every drop would outgrow a 2 MB cache and be rolled back.
    srv = start_server(wiredtiger_cache_size="2mb")
    with srv.raw(timeout=120) as c:
        pipelined(c, [("XADD", f"s:{n}", "1-1", "f", "v") for n in range(20_000)])
        c.cmd("SELECT", "2")
        pipelined(c, [("XADD", f"t:{n}", "1-1", "f", "v") for n in range(3_000)])
        assert c.cmd("FLUSHALL") == b"OK"
        assert c.cmd("DBSIZE") == 0
        c.cmd("SELECT", "0")
        assert c.cmd("DBSIZE") == 0
        assert c.cmd("XADD", "s:1", "*", "f", "after") is not None
    srv.kill9()
    srv.start()
    with srv.raw() as c:
        assert c.cmd("DBSIZE") == 1 and c.cmd("XLEN", "s:1") == 1
        c.cmd("SELECT", "2")
        assert c.cmd("DBSIZE") == 0
