"""Consumer groups: XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO GROUPS and
CONSUMERS, with Redis 7.4's reply shapes and errors (these run against redis-server too), then
Spool's extensions (XNACK, dead letters, ACKED trimming, time lags; `spool_only`).
"""

from __future__ import annotations

import threading
import time

import pytest
import redis

from conftest import IS_SPOOL
from helpers import wait_until

spool_only = pytest.mark.spool_only


def err(call) -> str:
    with pytest.raises(redis.ResponseError) as info:
        call()
    return str(info.value)


def fill(r, k, n, start=1):
    return [r.xadd(k, {"i": str(i)}, id=f"{i}-0") for i in range(start, start + n)]


def ids(entries):
    return [e[0] for e in entries]


def pel_rows(r, k, group, start="-", end="+", count=100):
    """XPENDING's extended form as [id, consumer, idle, deliveries] rows."""
    return [[p["message_id"], p["consumer"], p["time_since_delivered"], p["times_delivered"]]
            for p in r.xpending_range(k, group, start, end, count)]


def stream_entries(reply, k):
    """Entries for key `k` from an XREADGROUP reply in either protocol's shape."""
    if reply is None:
        return None
    if isinstance(reply, dict):
        value = reply.get(k)
        if value is None:
            return None
        # redis-py's RESP3 shape: {key: [[entries]]}
        return value[0] if value and isinstance(value[0], list) and value and (not value[0] or isinstance(value[0][0], (list, tuple))) else value
    for name, entries in reply:
        if name == k:
            return entries
    return None


# MARK: XGROUP


def test_create_requires_key_unless_mkstream(r, key):
    k = key()
    assert "requires the key to exist" in err(lambda: r.xgroup_create(k, "g", id="0"))
    assert r.xgroup_create(k, "g", id="$", mkstream=True) is True
    assert r.exists(k) == 1
    assert r.xlen(k) == 0
    assert err(lambda: r.xgroup_create(k, "g", id="0")).endswith("Consumer Group name already exists")


def test_create_errors(r2, key):
    k = key()
    r2.xadd(k, {"f": "v"}, id="1-0")
    assert "Invalid stream ID" in err(lambda: r2.xgroup_create(k, "g", id="nope"))
    assert "ENTRIESREAD must be positive or -1" in err(lambda: r2.execute_command("XGROUP", "CREATE", k, "g", "0", "ENTRIESREAD", "-5"))
    assert "wrong number of arguments for 'xgroup|create'" in err(lambda: r2.execute_command("XGROUP", "CREATE", k))
    assert "unknown subcommand" in err(lambda: r2.execute_command("XGROUP", "NOPE", k, "g"))
    assert "No such consumer group 'g' for key name" in err(lambda: r2.xgroup_setid(k, "g", "0"))
    assert "No such consumer group" in err(lambda: r2.xgroup_createconsumer(k, "g", "c"))
    assert r2.xgroup_destroy(k, "g") == 0
    help_lines = r2.execute_command("XGROUP", "HELP")
    assert any(b"CREATE" in line or "CREATE" in str(line) for line in help_lines)


def test_consumers_create_delete(r2, key):
    k = key()
    fill(r2, k, 3)
    r2.xgroup_create(k, "g", id="0")
    assert r2.xgroup_createconsumer(k, "g", "c1") == 1
    assert r2.xgroup_createconsumer(k, "g", "c1") == 0
    r2.xreadgroup("g", "c2", {k: ">"}, count=2)
    assert r2.xgroup_delconsumer(k, "g", "c2") == 2
    assert r2.xgroup_delconsumer(k, "g", "missing") == 0
    assert r2.xpending(k, "g")["pending"] == 0
    assert sorted(c["name"] for c in r2.xinfo_consumers(k, "g")) == [b"c1"]
    assert r2.xgroup_destroy(k, "g") == 1
    assert r2.xinfo_groups(k) == []


# MARK: XREADGROUP


def test_read_new_then_pending_then_ack(r, key):
    k = key()
    added = fill(r, k, 5)
    r.xgroup_create(k, "g", id="0")
    got = stream_entries(r.xreadgroup("g", "alice", {k: ">"}, count=2), k)
    assert ids(got) == added[:2]
    assert got[0][1] == {b"i": b"1"}
    got = stream_entries(r.xreadgroup("g", "bob", {k: ">"}), k)
    assert ids(got) == added[2:]
    # Nothing new: a non-blocking read answers null.
    assert r.xreadgroup("g", "bob", {k: ">"}) in (None, [], {})
    summary = r.xpending(k, "g")
    assert summary["pending"] == 5
    assert summary["min"] == added[0] and summary["max"] == added[-1]
    assert sorted((c["name"], c["pending"]) for c in summary["consumers"]) == [(b"alice", 2), (b"bob", 3)]
    detail = r.xpending_range(k, "g", "-", "+", 10)
    assert [d["message_id"] for d in detail] == added
    assert [d["consumer"] for d in detail] == [b"alice"] * 2 + [b"bob"] * 3
    assert all(d["times_delivered"] == 1 for d in detail)
    assert r.xack(k, "g", added[0], added[1], "99-0") == 2
    assert r.xack(k, "g", added[0]) == 0
    assert r.xpending(k, "g")["pending"] == 3
    only_bob = r.xpending_range(k, "g", "-", "+", 10, consumername="bob")
    assert [d["message_id"] for d in only_bob] == added[2:]


def test_xpending_summary_empty_and_ranges(r2, key):
    k = key()
    added = fill(r2, k, 4)
    r2.xgroup_create(k, "g", id="0")
    summary = r2.xpending(k, "g")
    assert summary["pending"] == 0
    assert summary["min"] is None and summary["max"] is None and not summary["consumers"]
    r2.xreadgroup("g", "c", {k: ">"})
    assert [d["message_id"] for d in r2.xpending_range(k, "g", "(" + added[0].decode(), "+", 10)] == added[1:]
    assert [d["message_id"] for d in r2.xpending_range(k, "g", "-", "+", 2)] == added[:2]
    assert r2.xpending_range(k, "g", "-", "+", 10, consumername="nobody") == []
    # IDLE: everything was just delivered.
    assert r2.xpending_range(k, "g", "-", "+", 10, idle=60_000) == []
    assert len(r2.xpending_range(k, "g", "-", "+", 10, idle=0)) == 4
    assert "No such key" in err(lambda: r2.xpending(k, "missing"))
    assert "syntax error" in err(lambda: r2.execute_command("XPENDING", k, "g", "-", "+"))
    assert "not an integer" in err(lambda: r2.execute_command("XPENDING", k, "g", "-", "+", "x"))


def test_xack_rejects_bad_ids_before_acking(r2, key):
    k = key()
    added = fill(r2, k, 2)
    r2.xgroup_create(k, "g", id="0")
    r2.xreadgroup("g", "c", {k: ">"})
    assert "Invalid stream ID" in err(lambda: r2.xack(k, "g", added[0], "bad"))
    assert r2.xpending(k, "g")["pending"] == 2
    assert r2.xack("missing-key", "g", "1-0") == 0
    assert r2.xack(k, "missing-group", "1-0") == 0


def test_xreadgroup_errors(r2, key):
    k = key()
    r2.xadd(k, {"f": "v"})
    r2.xgroup_create(k, "g", id="0")
    assert "No such key" in err(lambda: r2.xreadgroup("nogroup", "c", {k: ">"}))
    assert "No such key" in err(lambda: r2.xreadgroup("g", "c", {key("other"): ">"}))
    assert "$ ID is meaningless" in err(lambda: r2.execute_command("XREADGROUP", "GROUP", "g", "c", "STREAMS", k, "$"))
    assert "Missing GROUP option" in err(lambda: r2.execute_command("XREADGROUP", "COUNT", "1", "BLOCK", "0", "STREAMS", k, ">"))
    assert "Unbalanced" in err(lambda: r2.execute_command("XREADGROUP", "GROUP", "g", "c", "STREAMS", k, ">", "x"))
    assert "Invalid stream ID" in err(lambda: r2.execute_command("XREADGROUP", "GROUP", "g", "c", "STREAMS", k, "zz"))
    assert "can be specified only when calling XREADGROUP" in err(lambda: r2.execute_command("XREAD", "STREAMS", k, ">"))
    assert "only supported by XREADGROUP" in err(lambda: r2.execute_command("XREAD", "GROUP", "g", "c", "STREAMS", k, "0"))


def test_history_read_counts_deliveries_and_shows_deleted(r, key):
    k = key()
    added = fill(r, k, 3)
    r.xgroup_create(k, "g", id="0")
    r.xreadgroup("g", "c", {k: ">"})
    r.xdel(k, added[1])
    history = stream_entries(r.xreadgroup("g", "c", {k: "0"}), k)
    assert ids(history) == added
    assert history[1][1] in (None, {}, [])
    after_first = stream_entries(r.xreadgroup("g", "c", {k: added[0]}), k)
    assert ids(after_first) == added[1:]
    counts = {d["message_id"]: d["times_delivered"] for d in r.xpending_range(k, "g", "-", "+", 10)}
    # Each history read of a present entry counts as a delivery; the deleted one stays put.
    assert counts[added[0]] == 2
    assert counts[added[1]] == 1
    assert counts[added[2]] == 3
    # Another consumer's history is empty, but the stream is still in the reply.
    other = r.xreadgroup("g", "someone-else", {k: "0"})
    assert stream_entries(other, k) == []


def test_noack_reads_leave_no_pending(r2, key):
    k = key()
    added = fill(r2, k, 3)
    r2.xgroup_create(k, "g", id="0")
    got = stream_entries(r2.xreadgroup("g", "c", {k: ">"}, noack=True), k)
    assert ids(got) == added
    assert r2.xpending(k, "g")["pending"] == 0
    assert r2.xinfo_groups(k)[0]["last-delivered-id"] == added[-1]


def test_several_streams_in_one_read(r2, key):
    a, b, c = key("a"), key("b"), key("c")
    fill(r2, a, 2)
    fill(r2, b, 1)
    r2.xadd(c, {"x": "y"}, id="5-0")
    for s in (a, b, c):
        r2.xgroup_create(s, "g", id="$" if s == c else "0")
    reply = r2.xreadgroup("g", "c1", {a: ">", b: ">", c: ">"}, count=10)
    assert [name for name, _ in reply] == [a, b]
    assert len(reply[0][1]) == 2 and len(reply[1][1]) == 1


def test_setid_rewinds_and_reassigns(r2, key):
    k = key()
    added = fill(r2, k, 3)
    r2.xgroup_create(k, "g", id="0")
    r2.xreadgroup("g", "first", {k: ">"})
    assert r2.xgroup_setid(k, "g", "0") is True
    again = stream_entries(r2.xreadgroup("g", "second", {k: ">"}), k)
    assert ids(again) == added
    detail = r2.xpending_range(k, "g", "-", "+", 10)
    assert {d["consumer"] for d in detail} == {b"second"}
    assert all(d["times_delivered"] == 1 for d in detail)
    assert r2.xgroup_setid(k, "g", "$") is True
    assert r2.xreadgroup("g", "second", {k: ">"}) in (None, [])
    # A bare millisecond time positions the group at that time's first id.
    assert r2.xgroup_setid(k, "g", "2") is True
    assert ids(stream_entries(r2.xreadgroup("g", "third", {k: ">"}), k)) == added[2:]


def test_entries_read_and_lag(r2, key):
    k = key()
    fill(r2, k, 5)
    r2.xgroup_create(k, "g", id="0")
    info = r2.xinfo_groups(k)[0]
    assert info["lag"] == 5
    r2.xreadgroup("g", "c", {k: ">"}, count=2)
    info = r2.xinfo_groups(k)[0]
    assert info["entries-read"] == 2
    assert info["lag"] == 3
    assert info["consumers"] == 1 and info["pending"] == 2
    r2.xadd(k, {"i": "6"}, id="6-0")
    assert r2.xinfo_groups(k)[0]["lag"] == 4
    r2.xreadgroup("g", "c", {k: ">"})
    info = r2.xinfo_groups(k)[0]
    assert info["entries-read"] == 6 and info["lag"] == 0


def test_xinfo_consumers_and_stream(r, key):
    k = key()
    fill(r, k, 2)
    r.xgroup_create(k, "g", id="0")
    r.xreadgroup("g", "c", {k: ">"}, count=1)
    consumers = r.xinfo_consumers(k, "g")
    assert len(consumers) == 1
    assert consumers[0]["name"] == b"c" and consumers[0]["pending"] == 1
    assert consumers[0]["idle"] >= 0 and consumers[0].get("inactive", 0) >= 0
    assert r.xinfo_stream(k)["groups"] == 1
    full = r.xinfo_stream(k, full=True)
    group = full["groups"][0]
    assert group["name"] == b"g"
    assert group["pel-count"] == 1
    # redis-py leaves these nested map keys as bytes under RESP3.
    consumer = {(k.decode() if isinstance(k, bytes) else k): v for k, v in group["consumers"][0].items()}
    assert consumer["name"] == b"c"
    assert consumer["pel-count"] == 1
    assert "No such consumer group" in err(lambda: r.xinfo_consumers(k, "nope"))


# MARK: XCLAIM, XAUTOCLAIM


def test_xclaim(r2, key):
    k = key()
    added = fill(r2, k, 4)
    r2.xgroup_create(k, "g", id="0")
    r2.xreadgroup("g", "a", {k: ">"})
    # Not idle long enough: nothing claimed.
    assert r2.xclaim(k, "g", "b", 60_000, [added[0]]) == []
    claimed = r2.xclaim(k, "g", "b", 0, [added[0], added[1]])
    assert ids(claimed) == added[:2]
    assert claimed[0][1] == {b"i": b"1"}
    # JUSTID does not count a delivery.
    assert r2.xclaim(k, "g", "c", 0, [added[2]], justid=True) == [added[2]]
    counts = {d["message_id"]: (d["consumer"], d["times_delivered"]) for d in r2.xpending_range(k, "g", "-", "+", 10)}
    assert counts[added[0]] == (b"b", 2)
    assert counts[added[2]] == (b"c", 1)
    # RETRYCOUNT and IDLE set the counters.
    r2.xclaim(k, "g", "c", 0, [added[3]], idle=5000, retrycount=7, justid=True)
    detail = r2.xpending_range(k, "g", added[3], added[3], 1)[0]
    assert detail["times_delivered"] == 7 and detail["time_since_delivered"] >= 5000
    # A deleted entry leaves the pending list and is not returned.
    r2.xdel(k, added[1])
    assert r2.xclaim(k, "g", "d", 0, [added[1]]) == []
    assert r2.xpending(k, "g")["pending"] == 3
    # FORCE claims an entry nobody was given.
    extra = r2.xadd(k, {"i": "9"}, id="9-0")
    assert r2.xclaim(k, "g", "d", 0, [extra], force=True, justid=True) == [extra]
    assert r2.xpending(k, "g")["pending"] == 4
    assert "Unrecognized XCLAIM option" in err(lambda: r2.execute_command("XCLAIM", k, "g", "d", "0", added[0], "BOGUS"))
    assert "Invalid min-idle-time" in err(lambda: r2.execute_command("XCLAIM", k, "g", "d", "x", added[0]))
    assert "No such key" in err(lambda: r2.execute_command("XCLAIM", k, "nope", "d", "0", added[0]))


def test_xclaim_lastid_moves_group(r2, key):
    k = key()
    added = fill(r2, k, 3)
    r2.xgroup_create(k, "g", id="0")
    r2.xreadgroup("g", "a", {k: ">"}, count=1)
    r2.execute_command("XCLAIM", k, "g", "b", "0", added[0], "LASTID", added[2])
    assert r2.xinfo_groups(k)[0]["last-delivered-id"] == added[2]


def test_xautoclaim(r, key):
    k = key()
    added = fill(r, k, 5)
    r.xgroup_create(k, "g", id="0")
    r.xreadgroup("g", "a", {k: ">"})
    r.xdel(k, added[3])
    reply = r.xautoclaim(k, "g", "b", 0, start_id="0-0", count=2)
    assert reply[0] == added[2]
    assert ids(reply[1]) == added[:2]
    reply = r.xautoclaim(k, "g", "b", 0, start_id=reply[0], count=10)
    assert reply[0] == b"0-0"
    assert ids(reply[1]) == [added[2], added[4]]
    if len(reply) > 2:
        assert reply[2] == [added[3]]
    justid = r.xautoclaim(k, "g", "c", 0, start_id="0-0", count=10, justid=True)
    # redis-py returns just the claimed ids for JUSTID.
    assert justid == [added[0], added[1], added[2], added[4]]
    assert r.xautoclaim(k, "g", "c", 3_600_000, start_id="0-0")[1] == []


def test_xautoclaim_errors(r2, key):
    k = key()
    r2.xadd(k, {"f": "v"})
    r2.xgroup_create(k, "g", id="0")
    assert "COUNT must be > 0" in err(lambda: r2.execute_command("XAUTOCLAIM", k, "g", "c", "0", "0", "COUNT", "0"))
    assert "Invalid min-idle-time" in err(lambda: r2.execute_command("XAUTOCLAIM", k, "g", "c", "x", "0"))
    assert "No such key" in err(lambda: r2.execute_command("XAUTOCLAIM", k, "nope", "c", "0", "0"))
    assert "syntax error" in err(lambda: r2.execute_command("XAUTOCLAIM", k, "g", "c", "0", "0", "WHAT"))


# MARK: Blocking


def test_blocking_read_woken_by_xadd(server, key):
    k = key()
    setup = server.client(protocol=2)
    setup.xgroup_create(k, "g", id="$", mkstream=True)
    results = {}

    def reader():
        c = server.client(protocol=2)
        results["reply"] = c.xreadgroup("g", "c", {k: ">"}, block=10_000)
        c.close()

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.3)
    added = setup.xadd(k, {"f": "v"})
    t.join(10)
    assert not t.is_alive()
    assert ids(stream_entries(results["reply"], k)) == [added]
    assert setup.xpending(k, "g")["pending"] == 1
    setup.close()


def test_blocking_readers_served_in_arrival_order(server, key):
    k = key()
    setup = server.client(protocol=2)
    setup.xgroup_create(k, "g", id="$", mkstream=True)
    got = {}

    def reader(name):
        c = server.client(protocol=2)
        got[name] = c.xreadgroup("g", name, {k: ">"}, count=1, block=10_000)
        c.close()

    threads = []
    for name in ("first", "second"):
        t = threading.Thread(target=reader, args=(name,))
        t.start()
        threads.append(t)
        time.sleep(0.3)
    one = setup.xadd(k, {"n": "1"})
    time.sleep(0.3)
    two = setup.xadd(k, {"n": "2"})
    for t in threads:
        t.join(10)
    assert ids(stream_entries(got["first"], k)) == [one]
    assert ids(stream_entries(got["second"], k)) == [two]
    setup.close()


def test_blocking_timeout_and_history_never_blocks(r2, key):
    k = key()
    r2.xgroup_create(k, "g", id="$", mkstream=True)
    started = time.monotonic()
    assert r2.xreadgroup("g", "c", {k: ">"}, block=200) in (None, [], {})
    assert time.monotonic() - started >= 0.15
    # An explicit id reads history: answered at once, even with BLOCK.
    assert stream_entries(r2.xreadgroup("g", "c", {k: "0"}, block=0), k) == []


def test_blocked_reader_told_when_group_or_key_goes(server, key):
    k = key()
    setup = server.client(protocol=2)
    setup.xgroup_create(k, "g", id="$", mkstream=True)
    errors = {}

    def reader(slot):
        c = server.client(protocol=2)
        try:
            c.xreadgroup("g", "c", {k: ">"}, block=10_000)
        except redis.ResponseError as e:
            errors[slot] = str(e)
        c.close()

    def blocked():
        return int(setup.info("clients")["blocked_clients"])

    base = blocked()
    t = threading.Thread(target=reader, args=("destroy",))
    t.start()
    wait_until(lambda: blocked() == base + 1, what="the reader to block")
    setup.xgroup_destroy(k, "g")
    t.join(10)
    assert errors["destroy"].startswith("NOGROUP") or "consumer group" in errors["destroy"]

    setup.xgroup_create(k, "g", id="$")
    t = threading.Thread(target=reader, args=("delete",))
    t.start()
    wait_until(lambda: blocked() == base + 1, what="the reader to block")
    setup.delete(k)
    t.join(10)
    # Redis 7.0 answered UNBLOCKED; Redis 8 re-runs the read, which finds no group.
    version = tuple(int(x) for x in setup.info("server")["redis_version"].split(".")[:2])
    if version >= (8, 0):
        assert errors["delete"].endswith(f"No such key '{k.decode()}' or consumer group 'g' in XREADGROUP with GROUP option")
    else:
        assert "UNBLOCKED" in errors["delete"]
    setup.close()


# MARK: Persistence


def test_groups_survive_restart(start_server, key):
    srv = start_server(start=True)
    c = srv.client(protocol=2)
    added = [c.xadd("s", {"i": str(i)}, id=f"{i}-0") for i in range(1, 6)]
    c.xgroup_create("s", "g", id="0")
    c.xgroup_create("s", "other", id="$")
    c.xreadgroup("g", "alice", {"s": ">"}, count=3)
    c.xreadgroup("g", "bob", {"s": ">"})
    c.xack("s", "g", added[0])
    c.xclaim("s", "g", "carol", 0, [added[1]])
    before = (c.xinfo_groups("s"), c.xpending_range("s", "g", "-", "+", 100))
    c.close()
    srv.restart()
    c = srv.client(protocol=2)
    groups, pending = c.xinfo_groups("s"), c.xpending_range("s", "g", "-", "+", 100)
    assert [g["name"] for g in groups] == [g["name"] for g in before[0]]
    assert [(g["last-delivered-id"], g["pending"]) for g in groups] == [
        (g["last-delivered-id"], g["pending"]) for g in before[0]
    ]
    if IS_SPOOL:  # redis-server 7.0 forgets entries-read when it reloads its AOF
        assert [g["entries-read"] for g in groups] == [g["entries-read"] for g in before[0]]
    assert [(p["message_id"], p["consumer"], p["times_delivered"]) for p in pending] == [
        (p["message_id"], p["consumer"], p["times_delivered"]) for p in before[1]
    ]
    assert sorted(x["name"] for x in c.xinfo_consumers("s", "g")) == [b"alice", b"bob", b"carol"]
    assert c.xreadgroup("g", "alice", {"s": ">"}) in (None, [], {})
    c.close()
    srv.stop()


# MARK: Spool extensions


@spool_only
def test_xnack_gives_entries_back_unowned_and_claimable(r2, key):
    """Redis 8.8's XNACK: the entry loses its owner and any claim takes it at once."""
    k = key()
    added = fill(r2, k, 3)
    r2.xgroup_create(k, "g", id="0")
    r2.xreadgroup("g", "a", {k: ">"})
    assert r2.xnack(k, "g", "FAIL", added[1], "77-0") == 1
    assert r2.xinfo_consumers(k, "g")[0]["pending"] == 2
    assert r2.xpending(k, "g")["pending"] == 3
    assert pel_rows(r2, k, "g", added[1], added[1]) == [[added[1], b"", -1, 1]]
    # Not pushed to `>` readers (nothing new), nor in a's own history.
    assert stream_entries(r2.xreadgroup("g", "b", {k: ">"}), k) in (None, [])
    assert ids(stream_entries(r2.xreadgroup("g", "a", {k: "0"}), k)) == [added[0], added[2]]
    # A claim takes it whatever its minimum idle time; the others are not idle enough.
    next_start, claimed, deleted = r2.xautoclaim(k, "g", "b", 60_000, start_id="0")
    assert ids(claimed) == [added[1]] and deleted == []
    (row,) = pel_rows(r2, k, "g", added[1], added[1])
    assert row[1] == b"b" and row[3] == 2


@spool_only
def test_xnack_modes_retrycount_and_force(r2, key):
    k = key()
    added = fill(r2, k, 5)
    r2.xgroup_create(k, "g", id="0")
    r2.xreadgroup("g", "a", {k: ">"}, count=3)
    r2.xclaim(k, "g", "a", 0, [added[0], added[1], added[2]])  # delivered twice each

    def count(entry_id):
        return pel_rows(r2, k, "g", entry_id, entry_id)[0][3]

    assert r2.xnack(k, "g", "SILENT", added[0]) == 1
    assert count(added[0]) == 1
    assert r2.xnack(k, "g", "FAIL", added[1]) == 1
    assert count(added[1]) == 2
    assert r2.xnack(k, "g", "FATAL", added[2]) == 1
    assert count(added[2]) == 2**63 - 1
    assert r2.xnack(k, "g", "FAIL", added[0], retrycount=7) == 1
    assert count(added[0]) == 7
    # Not pending: only FORCE makes it a given-back entry, and only if it exists.
    assert r2.xnack(k, "g", "FAIL", added[3]) == 0
    assert r2.xnack(k, "g", "FAIL", added[3], "99999-0", force=True) == 1
    assert pel_rows(r2, k, "g", added[3], added[3]) == [[added[3], b"", -1, 0]]
    # Every listed id counts, repeats too.
    assert r2.execute_command("XNACK", k, "g", "SILENT", "IDS", 2, added[0], added[0]) == 2
    assert r2.xpending(k, "g")["pending"] == 4
    full = r2.execute_command("XINFO", "STREAM", k, "FULL")
    group = dict(zip(full[full.index(b"groups") + 1][0][::2], full[full.index(b"groups") + 1][0][1::2]))
    assert group[b"nacked-count"] == 4
    assert [row[1:3] for row in group[b"pending"]] == [[b"", 0]] * 4


@spool_only
def test_xnack_errors_change_nothing(r2, key):
    k = key()
    added = fill(r2, k, 2)
    r2.xgroup_create(k, "g", id="0")
    r2.xreadgroup("g", "a", {k: ">"})

    def xnack(*args):
        return err(lambda: r2.execute_command("XNACK", k, *args))

    assert f"No such key '{k.decode()}' or consumer group 'nope'" in xnack("nope", "FAIL", "IDS", 1, added[0])
    assert xnack("g", "LATER", "IDS", 1, added[0]) == "mode must be SILENT, FAIL, or FATAL"
    assert xnack("g", "FAIL", "IDS", 0, added[0]) == "numids must be a positive integer"
    assert xnack("g", "FAIL", "IDS", 3, added[0]) == "number of IDs doesn't match numids"
    assert xnack("g", "FAIL", "IDS", 1, added[0], added[1]) == f"Unrecognized XNACK option '{added[1].decode()}'"
    assert xnack("g", "FAIL", "FORCE", "FORCE", "FORCE") == "syntax error, expected IDS keyword"
    assert xnack("g", "FAIL", "IDS", 1, added[0], "RETRYCOUNT", -1) == "Invalid RETRYCOUNT value, must be >= 0"
    assert xnack("g", "FAIL", "IDS", 1, added[0], "RETRYCOUNT", "x") == "value is not an integer or out of range"
    assert xnack("g", "FAIL", "IDS", 2, added[0], "bad") == "Invalid stream ID specified as stream command argument"
    assert xnack("g", "FAIL", "IDS", 1, added[0], "DELAY", -5) == "DELAY must be an integer >= 0 (milliseconds)"
    assert "wrong number of arguments" in err(lambda: r2.execute_command("XNACK", k, "g", "FAIL", "IDS", 1))
    # Options before IDS are fine (Redis accepts either order).
    assert r2.execute_command("XNACK", k, "g", "FAIL", "FORCE", "RETRYCOUNT", 3, "IDS", 1, added[0]) == 1
    rows = pel_rows(r2, k, "g")
    assert rows == [[added[0], b"", -1, 3], [added[1], b"a", rows[1][2], 1]]


@spool_only
def test_xnack_delay_redelivers_through_xreadgroup_and_wakes_blocked_reader(server, key):
    k = key()
    c = server.client(protocol=2)
    added = fill(c, k, 1)
    c.xgroup_create(k, "g", id="0")
    c.xreadgroup("g", "a", {k: ">"})
    assert c.execute_command("XNACK", k, "g", "FAIL", "IDS", 1, added[0], "DELAY", 400) == 1
    # Not due yet.
    assert c.xreadgroup("g", "b", {k: ">"}) in (None, [], {})
    started = time.monotonic()
    got = c.xreadgroup("g", "b", {k: ">"}, block=5000)
    waited = time.monotonic() - started
    assert ids(stream_entries(got, k)) == added
    assert 0.1 <= waited < 4.5
    detail = c.xpending_range(k, "g", added[0], added[0], 1)[0]
    assert detail["consumer"] == b"b" and detail["times_delivered"] == 2
    c.close()


@spool_only
def test_max_deliveries_dead_letters(r2, key):
    k = key()
    added = fill(r2, k, 2)
    r2.execute_command("XGROUP", "CREATE", k, "g", "0", "MAXDELIVERIES", "2")
    r2.xreadgroup("g", "a", {k: ">"})
    # Second delivery allowed, third moves it to <key>:dlq.
    assert ids(r2.xclaim(k, "g", "b", 0, [added[0]])) == [added[0]]
    assert r2.xclaim(k, "g", "c", 0, [added[0]]) == []
    dead = r2.xrange(k + b":dlq")
    assert len(dead) == 1
    fields = dead[0][1]
    assert fields[b"original-id"] == added[0]
    assert fields[b"group"] == b"g" and fields[b"consumer"] == b"b"
    assert fields[b"deliveries"] == b"2" and fields[b"i"] == b"1"
    assert r2.xpending(k, "g")["pending"] == 1
    # A custom dead-letter stream, set afterwards; history reads count too.
    r2.execute_command("XGROUP", "SETPOLICY", k, "g", "MAXDELIVERIES", "1", "DEADLETTER", key("graveyard"))
    assert stream_entries(r2.xreadgroup("g", "a", {k: "0"}), k) == []
    assert len(r2.xrange(key("graveyard"))) == 1
    assert r2.xpending(k, "g")["pending"] == 0
    assert "other than the group's own" in err(lambda: r2.execute_command("XGROUP", "SETPOLICY", k, "g", "DEADLETTER", k))


@spool_only
def test_acked_trim_keeps_unread_and_pending(r2, key):
    k = key()
    added = fill(r2, k, 10)
    r2.xgroup_create(k, "g", id="0")
    r2.xgroup_create(k, "h", id="0")
    r2.xreadgroup("g", "a", {k: ">"}, count=6)
    r2.xack(k, "g", *added[:6])
    r2.xreadgroup("h", "a", {k: ">"}, count=8)
    r2.xack(k, "h", *added[:3])
    # h still has 4-0.. pending; g has read only up to 6-0.
    assert r2.execute_command("XTRIM", k, "MAXLEN", "0", "ACKED") == 3
    assert ids(r2.xrange(k))[0] == added[3]
    r2.xack(k, "h", *added[3:8])
    assert r2.execute_command("XTRIM", k, "MAXLEN", "0", "ACKED") == 3
    assert r2.xlen(k) == 4
    # XADD with ACKED trims the same way.
    r2.xreadgroup("g", "a", {k: ">"})
    r2.xreadgroup("h", "a", {k: ">"})
    new = r2.execute_command("XADD", k, "MAXLEN", "1", "ACKED", "*", "f", "v")
    assert ids(r2.xrange(k))[-1] == new
    assert r2.xlen(k) == 5


def test_xinfo_groups_has_exactly_redis_keys(server, r2, key):
    k = key()
    r2.xadd(k, {"f": "v"}, id="1-1")
    r2.xgroup_create(k, "g", id="0")
    raw = r2.execute_command("XINFO", "GROUPS", k)
    assert [raw[0][i] for i in range(0, len(raw[0]), 2)] == [
        b"name", b"consumers", b"pending", b"last-delivered-id", b"entries-read", b"lag"]
    r3 = server.client(protocol=3)
    (group,) = r3.execute_command("XINFO", "GROUPS", k)
    r3.close()
    assert list(group.keys()) == [b"name", b"consumers", b"pending", b"last-delivered-id", b"entries-read", b"lag"]


@spool_only
def test_time_lags_and_policy_in_xinfo_groups_extended(r2, key):
    k = key()
    now_ms = int(time.time() * 1000)
    r2.xadd(k, {"f": "v"}, id=f"{now_ms - 5000}-0")
    r2.xadd(k, {"f": "v"}, id=f"{now_ms - 1000}-0")
    r2.xgroup_create(k, "g", id="0")
    assert "oldest-unread-age-ms" not in r2.xinfo_groups(k)[0]

    def extended():
        (flat,) = r2.execute_command("XINFO", "GROUPS", k, "EXTENDED")
        keys = [flat[i].decode() for i in range(0, len(flat), 2)]
        assert keys[:6] == ["name", "consumers", "pending", "last-delivered-id", "entries-read", "lag"]
        return dict(zip(keys, flat[1::2]))

    info = extended()
    assert 4000 <= info["oldest-unread-age-ms"] < 60_000
    assert info["oldest-pending-age-ms"] is None
    assert info["max-deliveries"] == 0 and info["dead-letter-stream"] is None
    r2.xreadgroup("g", "a", {k: ">"}, count=1)
    info = extended()
    assert 500 <= info["oldest-unread-age-ms"] < 4500
    assert 4000 <= info["oldest-pending-age-ms"] < 60_000
    r2.execute_command("XGROUP", "SETPOLICY", k, "g", "MAXDELIVERIES", 3)
    info = extended()
    assert info["max-deliveries"] == 3 and info["dead-letter-stream"] == k + b":dlq"
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        r2.execute_command("XINFO", "GROUPS", k, "SOMETHING")


@spool_only
def test_group_reads_span_backfill_and_live_tables(start_server):
    """Entries written into the backfill table through the store API (below the live range) and
    live entries form one ordered sequence for a group, for XPENDING and for history reads."""
    import subprocess
    from pathlib import Path

    from conftest import SPOOLD

    srv = start_server(start=True)
    c = srv.client(protocol=2)
    live = [c.xadd("s", {"l": str(i)}, id=f"{100 + i}-0") for i in range(5)]
    c.close()
    srv.stop()
    writer = Path(SPOOLD).parent / "spool-crash-writer"
    backfill = [f"{i}-0" for i in range(10, 60, 10)]
    done = subprocess.run([str(writer), "--backfill", str(srv.data_dir), "s", *backfill], capture_output=True, timeout=60)
    assert done.returncode == 0 and done.stdout == b"ok\n", done.stderr
    srv.start()
    c = srv.client(protocol=2)
    expected = [i.encode() for i in backfill] + live
    assert [e[0] for e in c.xrange("s")] == expected
    c.xgroup_create("s", "g", id="0")
    got = []
    for _ in range(10):
        reply = c.xreadgroup("g", "a", {"s": ">"}, count=3)
        if not reply:
            break
        got += reply[0][1]
    assert [e[0] for e in got] == expected
    assert got[0][1] == {b"b": b"10-0"} and got[-1][1] == {b"l": b"4"}
    assert [p["message_id"] for p in c.xpending_range("s", "g", "-", "+", 100)] == expected
    history = c.xreadgroup("g", "a", {"s": "25-0"})[0][1]
    assert [e[0] for e in history] == expected[2:]
    assert c.xinfo_groups("s")[0]["lag"] == 0
    c.close()
    srv.stop()


@spool_only
def test_xnack_after_the_last_allowed_delivery_dead_letters_at_once(r2, key):
    k = key()
    added = fill(r2, k, 1)
    r2.execute_command("XGROUP", "CREATE", k, "g", "0", "MAXDELIVERIES", "1")
    r2.xreadgroup("g", "a", {k: ">"})
    assert r2.xnack(k, "g", "FAIL", added[0]) == 1
    assert r2.xpending(k, "g")["pending"] == 0
    dead = r2.xrange(k + b":dlq")
    assert [e[1][b"original-id"] for e in dead] == [added[0]]
    # SILENT does not count the delivery: the entry stays; FATAL dead-letters it at once.
    added = fill(r2, k, 1, start=2)
    r2.xreadgroup("g", "a", {k: ">"})
    assert r2.xnack(k, "g", "SILENT", added[0]) == 1
    assert r2.xpending(k, "g")["pending"] == 1
    assert r2.xnack(k, "g", "FATAL", added[0]) == 1
    assert r2.xpending(k, "g")["pending"] == 0
    assert [e[1][b"original-id"] for e in r2.xrange(k + b":dlq")][-1] == added[0]


@spool_only
def test_setpolicy_changes_only_the_settings_it_names(r2, key):
    k = key()
    added = fill(r2, k, 1)
    r2.execute_command("XGROUP", "CREATE", k, "g", "0", "MAXDELIVERIES", "5", "DEADLETTER", key("custom"))
    # Naming only MAXDELIVERIES keeps the custom dead-letter stream.
    r2.execute_command("XGROUP", "SETPOLICY", k, "g", "MAXDELIVERIES", "1")
    r2.xreadgroup("g", "a", {k: ">"})
    assert r2.xclaim(k, "g", "b", 0, [added[0]]) == []
    assert len(r2.xrange(key("custom"))) == 1
    assert r2.exists(k + b":dlq") == 0


@spool_only
def test_xreadgroup_claim_takes_idle_and_given_back_entries_first(server, r2, key):
    """Redis 8.4's CLAIM: claimed entries first, as [id, fields, idle, deliveries before], then
    new ones as [id, fields, 0, 0]; COUNT bounds the total."""
    k = key()
    added = fill(r2, k, 4)
    r2.xgroup_create(k, "g", id="0")
    r2.xreadgroup("g", "a", {k: ">"}, count=2)
    r2.xnack(k, "g", "FAIL", added[1])
    raw2 = server.raw()
    # Nothing of a's is idle for a minute; the given-back one is claimable at once.
    raw = raw2.cmd("XREADGROUP", "GROUP", "g", "b", "COUNT", 2, "CLAIM", 60000, "STREAMS", k, ">")
    (_, items), = raw
    assert items[0][0] == added[1] and items[0][1] == [b"i", b"2"] and items[0][3] == 1
    assert items[0][2] > 1_000_000_000  # given back: idle since the epoch, as Redis reports it
    assert items[1] == [added[2], [b"i", b"3"], 0, 0]
    # With CLAIM 0 a's entry is idle enough; then the last new one.
    raw = raw2.cmd("XREADGROUP", "GROUP", "g", "c", "CLAIM", 0, "STREAMS", k, ">")
    (_, items), = raw
    assert [item[0] for item in items] == [added[0], added[1], added[2], added[3]]
    assert [item[3] for item in items] == [1, 2, 1, 0]
    assert all(len(item) == 4 for item in items)
    assert {row[1] for row in pel_rows(r2, k, "g")} == {b"c"}
    # History reads ignore CLAIM and keep the two-element form.
    raw = raw2.cmd("XREADGROUP", "GROUP", "g", "c", "CLAIM", 0, "STREAMS", k, "0")
    assert all(len(item) == 2 for item in raw[0][1])
    raw2.close()
    assert err(lambda: r2.execute_command("XREADGROUP", "GROUP", "g", "c", "CLAIM", -1, "STREAMS", k, ">")) == \
        "min-idle-time must be a positive integer"
    assert err(lambda: r2.execute_command("XREADGROUP", "GROUP", "g", "c", "CLAIM", "x", "STREAMS", k, ">")) == \
        "min-idle-time is not an integer or out of range"
    assert err(lambda: r2.execute_command("XREAD", "CLAIM", 0, "STREAMS", k, "0")) == \
        "The CLAIM option is only supported by XREADGROUP. You called XREAD instead."


@spool_only
def test_blocked_xreadgroup_claim_wakes_when_an_entry_becomes_idle_enough(server, key):
    k = key()
    c = server.client(protocol=2)
    added = fill(c, k, 1)
    c.xgroup_create(k, "g", id="$")
    c.xadd(k, {"i": "2"}, id="2-0")
    c.xreadgroup("g", "a", {k: ">"})
    started = time.monotonic()
    with server.raw() as conn:
        raw = conn.cmd("XREADGROUP", "GROUP", "g", "b", "BLOCK", 5000, "CLAIM", 300, "STREAMS", k, ">")
    waited = time.monotonic() - started
    (_, items), = raw
    assert items[0][0] == b"2-0" and items[0][2] >= 300 and items[0][3] == 1
    assert 0.2 <= waited < 4.5
    assert added
    c.close()


@spool_only
def test_xdelex_with_reference_policies(r2, key):
    """Redis 8.2's XDELEX: 1 deleted, -1 not there, 2 kept because a group still needs it."""
    k = key()
    added = fill(r2, k, 5)
    r2.xgroup_create(k, "g", id="0")
    r2.xreadgroup("g", "a", {k: ">"}, count=3)  # 1-3 pending, 4-5 not yet delivered
    r2.xack(k, "g", added[0])
    assert r2.xdelex(k, added[0], added[1], added[3], "0-5", "99-0", ref_policy="ACKED") == [1, 2, 2, -1, 2]
    assert r2.xdelex(k, added[1], ref_policy="KEEPREF") == [1]
    # KEEPREF left the pending entry dangling; DELREF removes it with the entry.
    assert r2.xpending(k, "g")["pending"] == 2
    assert r2.xdelex(k, added[2], ref_policy="DELREF") == [1]
    assert r2.xpending(k, "g")["pending"] == 1
    assert r2.xlen(k) == 2
    info = r2.xinfo_stream(k)
    assert info["max-deleted-entry-id"] == added[2]
    assert r2.xdelex(key("missing"), "1-0", "bad") == [-1, -1]  # ids not checked on a missing key

    def xdelex(*args):
        return err(lambda: r2.execute_command("XDELEX", k, *args))

    assert xdelex("IDS", 0, "1-0") == "Number of IDs must be a positive integer"
    assert xdelex("IDS", 2, "1-0") == "The `numids` parameter must match the number of arguments"
    assert xdelex("KEEPREF", "KEEPREF", "IDS", 1, "1-0") == "syntax error"
    assert xdelex("KEEPREF", "DELREF", "IDS", 1, "1-0") == "syntax error"
    assert xdelex("IDS", 1, "1-0", "2-0") == "syntax error"
    assert xdelex("KEEPREF", "NOPE", "X") == "syntax error"
    assert xdelex("IDS", 1, "bad") == "Invalid stream ID specified as stream command argument"
    assert err(lambda: r2.execute_command("XDELEX", k, "KEEPREF", "X", "Y", "Z")) == "syntax error"
    # Options may follow the ids.
    assert r2.execute_command("XDELEX", k, "IDS", 1, added[4], "KEEPREF") == [1]
    assert xdelex("KEEPREF", "IDS", 1, added[4], "KEEPREF") == "syntax error"


@spool_only
def test_xackdel_acknowledges_and_deletes(r2, key):
    k = key()
    added = fill(r2, k, 4)
    r2.xgroup_create(k, "g", id="0")
    r2.xgroup_create(k, "h", id="0")
    r2.xreadgroup("g", "a", {k: ">"})
    r2.xreadgroup("h", "b", {k: ">"}, count=1)
    # Pending in g; h has read only the first (and still holds it).
    assert r2.xackdel(k, "g", added[0], added[1], "77-0", ref_policy="ACKED") == [2, 2, -1]
    assert r2.xpending(k, "g")["pending"] == 2  # acknowledged for g all the same
    assert r2.xlen(k) == 4
    assert r2.xackdel(k, "g", added[2]) == [1]  # KEEPREF: deleted whatever h thinks
    assert r2.xlen(k) == 3
    assert r2.xackdel(k, "h", added[0], ref_policy="DELREF") == [1]
    assert r2.xpending(k, "h")["pending"] == 0
    assert r2.xackdel(k, "g", added[3], ref_policy="DELREF") == [1]
    assert r2.xlen(k) == 1
    assert r2.xackdel(k, "nope", "1-0", "x") == [-1, -1]
    assert r2.xackdel(key("missing"), "g", "1-0") == [-1]
    assert err(lambda: r2.execute_command("XACKDEL", k, "g", "IDS", 1, "bad")) == \
        "Invalid stream ID specified as stream command argument"


@spool_only
def test_trim_reference_policies(r2, key):
    k = key()
    added = fill(r2, k, 6)
    r2.xgroup_create(k, "g", id="0")
    r2.xreadgroup("g", "a", {k: ">"}, count=4)
    r2.xack(k, "g", added[0], added[2])
    # ACKED passes over what a group still holds (2 pending, 5-6 never delivered) and goes on.
    assert r2.execute_command("XTRIM", k, "MAXLEN", 0, "ACKED") == 2
    assert ids(r2.xrange(k)) == [added[1], added[3], added[4], added[5]]
    # DELREF removes the pending entries of what it trims.
    assert r2.execute_command("XTRIM", k, "MAXLEN", 3, "DELREF") == 1
    assert r2.xpending(k, "g")["pending"] == 1
    # KEEPREF (the default) leaves them dangling.
    assert r2.xtrim(k, maxlen=2, approximate=False, ref_policy="KEEPREF") == 1
    assert r2.xpending(k, "g")["pending"] == 1
    # XADD takes the policies too; a second one is not an option there but an id.
    new = r2.xadd(k, {"f": "v"}, maxlen=1, approximate=False, ref_policy="ACKED")
    assert ids(r2.xrange(k)) == [added[4], added[5], new]
    assert err(lambda: r2.execute_command("XADD", k, "ACKED", "DELREF", "*", "f", "v")) == \
        "Invalid stream ID specified as stream command argument"
    assert err(lambda: r2.execute_command("XTRIM", k, "MAXLEN", 1, "ACKED", "DELREF")) == "syntax error"
