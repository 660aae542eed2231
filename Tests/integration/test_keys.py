"""Keyspace commands over streams (DBSIZE, DEL, EXISTS, TYPE, KEYS, SCAN, FLUSHDB, FLUSHALL) and
MULTI/EXEC/DISCARD."""

from __future__ import annotations

import threading

import pytest
import redis

from helpers import ErrorReply, Status, entry_size, is_nil, pairs, parse_id, wait_until


def err(reply) -> str:
    assert isinstance(reply, ErrorReply), f"expected an error reply, got {reply!r}"
    return reply.message


@pytest.fixture
def empty(server):
    """A RESP2 raw connection to the shared server after FLUSHALL."""
    conn = server.raw()
    assert conn.cmd("FLUSHALL") == b"OK"
    yield conn
    conn.close()


def add(conn, key, entry_id="*", *fields):
    fields = fields or ("f", "v")
    reply = conn.cmd("XADD", key, entry_id, *fields)
    assert not isinstance(reply, ErrorReply), reply
    return reply


# --------------------------------------------------------------------------------------------
# DBSIZE / DEL / EXISTS / TYPE
# --------------------------------------------------------------------------------------------


def test_dbsize_counts_streams(empty):
    assert empty.cmd("DBSIZE") == 0
    for name in ("a", "b", "c"):
        add(empty, name)
    add(empty, "a")
    assert empty.cmd("DBSIZE") == 3
    assert empty.cmd("DEL", "b") == 1
    assert empty.cmd("DBSIZE") == 2


def test_del_counts_only_existing_keys(empty):
    add(empty, "a")
    add(empty, "b")
    assert empty.cmd("DEL", "a", "missing", "b", "a") == 2
    assert empty.cmd("DEL", "a") == 0
    assert empty.cmd("DBSIZE") == 0
    assert err(empty.cmd("DEL")) == "ERR wrong number of arguments for 'del' command"


def test_deleted_stream_is_gone_completely(empty):
    add(empty, "s", "5-1")
    add(empty, "s", "6-1")
    empty.cmd("XDEL", "s", "6-1")
    assert empty.cmd("DEL", "s") == 1
    assert empty.cmd("EXISTS", "s") == 0
    assert empty.cmd("TYPE", "s") == b"none"
    assert empty.cmd("XLEN", "s") == 0
    assert empty.cmd("XRANGE", "s", "-", "+") == []
    assert err(empty.cmd("XINFO", "STREAM", "s")) == "ERR no such key"
    # A new stream under the same name starts from scratch: a smaller id is accepted again.
    assert add(empty, "s", "1-1") == b"1-1"
    info = dict(pairs(empty.cmd("XINFO", "STREAM", "s")))
    assert info[b"entries-added"] == 1
    assert info[b"max-deleted-entry-id"] == b"0-0"
    assert info[b"last-generated-id"] == b"1-1"


def test_exists_counts_each_argument(empty):
    add(empty, "a")
    assert empty.cmd("EXISTS", "a") == 1
    assert empty.cmd("EXISTS", "a", "a", "missing") == 2
    assert empty.cmd("EXISTS", "missing") == 0


def test_type(empty, raw):
    add(empty, "a")
    reply = raw.cmd("TYPE", "a")
    assert isinstance(reply, Status) and reply == b"stream"
    reply = raw.cmd("TYPE", "missing")
    assert isinstance(reply, Status) and reply == b"none"


def test_memory_usage(empty):
    """MEMORY USAGE key [SAMPLES n]: an integer for a stream, nil for a missing key, Redis's errors.
    Spool's figure is exact: the stream's entries as stored (spool_stream_bytes)."""
    from conftest import IS_SPOOL
    add(empty, "m", "1-1", "f", "v")
    small = empty.cmd("MEMORY", "USAGE", "m")
    assert isinstance(small, int) and small > 0
    add(empty, "m", "1-2", "field", "x" * 10_000)
    large = empty.cmd("MEMORY", "USAGE", "m", "SAMPLES", "0")
    assert large > small + 5_000
    if IS_SPOOL:
        assert small == entry_size([b"f", b"v"])
        assert large == small + entry_size([b"field", b"x" * 10_000])
    assert is_nil(empty.cmd("MEMORY", "USAGE", "missing"))
    assert err(empty.cmd("MEMORY", "USAGE", "m", "SAMPLES", "-1")) == "ERR syntax error"
    assert err(empty.cmd("MEMORY", "USAGE", "m", "SAMPLES", "x")) == "ERR value is not an integer or out of range"
    assert err(empty.cmd("MEMORY", "USAGE", "m", "SAMPLES")) == "ERR syntax error"
    assert err(empty.cmd("MEMORY", "USAGE", "m", "COUNT", "1")) == "ERR syntax error"
    assert err(empty.cmd("MEMORY", "USAGE")).startswith("ERR wrong number of arguments for 'memory|usage'")
    assert b"USAGE <key> [SAMPLES <count>]" in empty.cmd("MEMORY", "HELP")


def test_command_getkeys_finds_keys_where_the_key_spec_says(empty):
    # STREAMS is searched for from where Redis's key spec starts: a group or consumer named
    # "streams" is not the keyword (cluster routing finds keys the same way).
    assert empty.cmd("COMMAND", "GETKEYS", "XREADGROUP", "GROUP", "streams", "streams", "STREAMS", "a", "b", ">", ">") == [b"a", b"b"]
    assert empty.cmd("COMMAND", "GETKEYS", "XREAD", "COUNT", "1", "STREAMS", "a", "0") == [b"a"]
    assert empty.cmd("COMMAND", "GETKEYS", "MEMORY", "USAGE", "m") == [b"m"]
    assert empty.cmd("COMMAND", "GETKEYS", "XADD", "s", "*", "f", "v") == [b"s"]


def test_empty_streams_still_exist(empty):
    """Redis keeps a stream whose entries were all deleted or trimmed away."""
    add(empty, "deleted", "1-1")
    assert empty.cmd("XDEL", "deleted", "1-1") == 1
    add(empty, "trimmed", "1-1")
    assert empty.cmd("XTRIM", "trimmed", "MAXLEN", "0") == 1
    assert empty.cmd("XADD", "born-empty", "MAXLEN", "0", "1-1", "f", "v") == b"1-1"
    for name in ("deleted", "trimmed", "born-empty"):
        assert empty.cmd("EXISTS", name) == 1, name
        assert empty.cmd("TYPE", name) == b"stream", name
        assert empty.cmd("XLEN", name) == 0, name
    assert empty.cmd("DBSIZE") == 3
    assert sorted(empty.cmd("KEYS", "*")) == [b"born-empty", b"deleted", b"trimmed"]


def test_keyspace_through_redis_py(r, key):
    a, b = key("a"), key("b")
    r.xadd(a, {"f": "v"})
    assert r.exists(a, b) == 1
    assert r.type(a) in (b"stream", "stream")
    assert r.type(b) in (b"none", "none")
    assert r.delete(a, b) == 1
    assert r.exists(a) == 0


# --------------------------------------------------------------------------------------------
# KEYS / SCAN
# --------------------------------------------------------------------------------------------


def test_keys_patterns(empty):
    names = [b"alpha", b"beta", b"gamma", b"a1", b"a2", b"ab", b"x*y", b"x:1", b"x:2"]
    for name in names:
        add(empty, name)
    assert sorted(empty.cmd("KEYS", "*")) == sorted(names)
    assert sorted(empty.cmd("KEYS", "a?")) == [b"a1", b"a2", b"ab"]
    assert sorted(empty.cmd("KEYS", "a[12]")) == [b"a1", b"a2"]
    assert sorted(empty.cmd("KEYS", "a[^1]")) == [b"a2", b"ab"]
    assert sorted(empty.cmd("KEYS", "*a")) == [b"alpha", b"beta", b"gamma"]
    assert sorted(empty.cmd("KEYS", "x:*")) == [b"x:1", b"x:2"]
    assert empty.cmd("KEYS", "x\\*y") == [b"x*y"]
    assert empty.cmd("KEYS", "nomatch*") == []
    assert empty.cmd("KEYS", "alpha") == [b"alpha"]


def scan_all(conn, *options, max_calls=1000):
    cursor = b"0"
    seen = []
    for _ in range(max_calls):
        reply = conn.cmd("SCAN", cursor, *options)
        assert isinstance(reply, list) and len(reply) == 2, reply
        cursor, keys = reply
        assert isinstance(cursor, bytes) and not isinstance(cursor, Status)
        assert isinstance(keys, list)
        seen.extend(keys)
        if cursor == b"0":
            return seen
    raise AssertionError(f"SCAN did not finish in {max_calls} calls")


def test_scan_visits_every_key(empty):
    names = {f"k{i}".encode() for i in range(57)}
    for name in names:
        add(empty, name)
    assert set(scan_all(empty)) == names
    seen = scan_all(empty, "COUNT", "5")
    assert set(seen) == names
    assert set(scan_all(empty, "COUNT", "1000")) == names


def test_scan_match_and_type(empty):
    for i in range(20):
        add(empty, f"user:{i}")
        add(empty, f"order:{i}")
    users = {f"user:{i}".encode() for i in range(20)}
    assert set(scan_all(empty, "MATCH", "user:*")) == users
    assert set(scan_all(empty, "MATCH", "user:*", "COUNT", "3")) == users
    assert len(set(scan_all(empty, "TYPE", "stream"))) == 40
    assert set(scan_all(empty, "MATCH", "order:1*", "TYPE", "stream")) == {
        f"order:{i}".encode() for i in [1] + list(range(10, 20))
    }
    assert scan_all(empty, "TYPE", "string") == []
    assert scan_all(empty, "MATCH", "nothing*") == []


def test_scan_on_empty_database(empty):
    assert empty.cmd("SCAN", "0") == [b"0", []]


def test_scan_errors(empty):
    assert err(empty.cmd("SCAN", "abc")) == "ERR invalid cursor"
    assert err(empty.cmd("SCAN", "0", "COUNT", "0")) == "ERR syntax error"
    assert err(empty.cmd("SCAN", "0", "BOGUS")) == "ERR syntax error"


def test_scan_resp3(server):
    with server.raw() as c:
        c.hello(3)
        c.cmd("FLUSHALL")
        c.cmd("XADD", "only", "*", "f", "v")
        reply = c.cmd("SCAN", "0")
        assert reply == [b"0", [b"only"]]


def test_scan_iter_through_redis_py(r, key):
    names = {key(f"it{i}") for i in range(30)}
    for name in names:
        r.xadd(name, {"f": "v"})
    prefix = key("it").decode()
    found = {k if isinstance(k, bytes) else k.encode() for k in r.scan_iter(match=prefix + "*", count=7)}
    assert found == names
    found = set(r.scan_iter(match=prefix + "*", _type="STREAM"))
    assert found == names


# --------------------------------------------------------------------------------------------
# FLUSHDB / FLUSHALL
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [("FLUSHDB",), ("FLUSHALL",), ("FLUSHDB", "SYNC"), ("FLUSHALL", "ASYNC")])
def test_flush_removes_every_stream(server, command):
    with server.raw() as c:
        for i in range(5):
            c.cmd("XADD", f"f{i}", "5-5", "f", "v")
        assert c.cmd(*command) == b"OK"
        assert c.cmd("DBSIZE") == 0
        assert c.cmd("KEYS", "*") == []
        assert c.cmd("XLEN", "f0") == 0
        assert err(c.cmd("XINFO", "STREAM", "f0")) == "ERR no such key"
        # Streams start over: an id below the old top is accepted.
        assert c.cmd("XADD", "f0", "1-1", "f", "v") == b"1-1"


def test_flush_syntax_error(raw2):
    assert err(raw2.cmd("FLUSHDB", "NOW")) == "ERR syntax error"
    assert err(raw2.cmd("FLUSHALL", "NOW")) == "ERR syntax error"


# --------------------------------------------------------------------------------------------
# MULTI / EXEC / DISCARD
# --------------------------------------------------------------------------------------------


def test_multi_exec_queues_and_returns_array(raw, key):
    k = key()
    assert raw.cmd("MULTI") == b"OK"
    queued = raw.cmd("XADD", k, "1-1", "a", "1")
    assert isinstance(queued, Status) and queued == b"QUEUED"
    assert raw.cmd("XADD", k, "2-1", "b", "2") == b"QUEUED"
    assert raw.cmd("XLEN", k) == b"QUEUED"
    assert raw.cmd("PING") == b"QUEUED"
    assert raw.cmd("XRANGE", k, "-", "+") == b"QUEUED"
    reply = raw.cmd("EXEC")
    assert isinstance(reply, list)
    assert reply == [
        b"1-1",
        b"2-1",
        2,
        b"PONG",
        [[b"1-1", [b"a", b"1"]], [b"2-1", [b"b", b"2"]]],
    ]
    assert isinstance(reply[3], Status)


def test_exec_of_empty_transaction(raw2):
    assert raw2.cmd("MULTI") == b"OK"
    assert raw2.cmd("EXEC") == []


def test_nothing_is_visible_before_exec(server, key):
    k = key()
    with server.raw() as a, server.raw() as b:
        assert a.cmd("MULTI") == b"OK"
        assert a.cmd("XADD", k, "1-1", "f", "v") == b"QUEUED"
        assert b.cmd("XLEN", k) == 0
        assert a.cmd("EXEC") == [b"1-1"]
        assert b.cmd("XLEN", k) == 1


def test_discard(raw2, key):
    k = key()
    assert raw2.cmd("MULTI") == b"OK"
    assert raw2.cmd("XADD", k, "*", "f", "v") == b"QUEUED"
    assert raw2.cmd("DISCARD") == b"OK"
    assert raw2.cmd("XLEN", k) == 0
    assert err(raw2.cmd("EXEC")) == "ERR EXEC without MULTI"


def test_exec_and_discard_without_multi(raw2):
    assert err(raw2.cmd("EXEC")) == "ERR EXEC without MULTI"
    assert err(raw2.cmd("DISCARD")) == "ERR DISCARD without MULTI"


def test_nested_multi_is_an_error_but_keeps_the_transaction(raw2, key):
    k = key()
    assert raw2.cmd("MULTI") == b"OK"
    assert err(raw2.cmd("MULTI")) == "ERR MULTI calls can not be nested"
    assert raw2.cmd("XADD", k, "1-1", "f", "v") == b"QUEUED"
    assert raw2.cmd("EXEC") == [b"1-1"]


def test_queue_time_error_aborts_the_transaction(raw2, key):
    k = key()
    assert raw2.cmd("MULTI") == b"OK"
    assert raw2.cmd("XADD", k, "1-1", "f", "v") == b"QUEUED"
    assert err(raw2.cmd("XADD", k, "*", "odd")) == "ERR wrong number of arguments for 'xadd' command"
    assert err(raw2.cmd("NOSUCH", "x")) == "ERR unknown command 'NOSUCH', with args beginning with: 'x' "
    assert err(raw2.cmd("EXEC")) == "EXECABORT Transaction discarded because of previous errors."
    assert raw2.cmd("XLEN", k) == 0
    # The connection is out of MULTI now.
    assert raw2.cmd("PING") == b"PONG"


def test_runtime_error_inside_exec_does_not_stop_the_rest(raw, key):
    k = key()
    assert raw.cmd("MULTI") == b"OK"
    assert raw.cmd("XADD", k, "5-5", "f", "v") == b"QUEUED"
    assert raw.cmd("XADD", k, "5-5", "f", "again") == b"QUEUED"
    assert raw.cmd("XADD", k, "0-0", "f", "zero") == b"QUEUED"
    assert raw.cmd("XRANGE", k, "nope", "+") == b"QUEUED"
    assert raw.cmd("XLEN", k) == b"QUEUED"
    reply = raw.cmd("EXEC")
    assert reply[0] == b"5-5"
    assert err(reply[1]) == "ERR The ID specified in XADD is equal or smaller than the target stream top item"
    assert err(reply[2]) == "ERR The ID specified in XADD must be greater than 0-0"
    assert err(reply[3]) == "ERR Invalid stream ID specified as stream command argument"
    assert reply[4] == 1


def test_transaction_through_redis_py(r, key):
    k = key()
    pipe = r.pipeline(transaction=True)
    pipe.xadd(k, {"a": "1"}, id="1-1")
    pipe.xadd(k, {"b": "2"}, id="2-1")
    pipe.xlen(k)
    ids_and_len = pipe.execute()
    assert [x if isinstance(x, int) else parse_id(x) for x in ids_and_len] == [(1, 1), (2, 1), 2]

    pipe = r.pipeline(transaction=True)
    pipe.xadd(k, {"c": "3"}, id="1-1")  # too small: fails at EXEC time
    pipe.xlen(k)
    results = pipe.execute(raise_on_error=False)
    assert isinstance(results[0], redis.ResponseError)
    assert results[1] == 2


def test_blocking_xread_inside_multi_does_not_block(raw2, key):
    k = key()
    assert raw2.cmd("MULTI") == b"OK"
    assert raw2.cmd("XREAD", "BLOCK", "0", "STREAMS", k, "$") == b"QUEUED"
    assert raw2.cmd("XLEN", k) == b"QUEUED"
    raw2.settimeout(5)
    reply = raw2.cmd("EXEC")
    assert len(reply) == 2
    assert is_nil(reply[0])
    assert reply[1] == 0


def test_connection_and_server_commands_are_queued_too(raw2, server):
    """Redis queues these inside MULTI and answers them at EXEC like any other command."""
    assert raw2.cmd("MULTI") == b"OK"
    queued = [
        ("PING",),
        ("ECHO", "e"),
        ("SELECT", "0"),
        ("CLIENT", "ID"),
        ("CONFIG", "GET", "port"),
        ("COMMAND", "COUNT"),
        ("DBSIZE",),
    ]
    for command in queued:
        assert raw2.cmd(*command) == b"QUEUED", command
    reply = raw2.cmd("EXEC")
    assert len(reply) == len(queued)
    assert reply[0] == b"PONG"
    assert reply[1] == b"e"
    assert reply[2] == b"OK"
    assert reply[3] == raw2.cmd("CLIENT", "ID")
    assert reply[4] == [b"port", str(server.port).encode()]
    assert isinstance(reply[5], int) and reply[5] > 0
    assert isinstance(reply[6], int)


# Databases: SELECT 0-15, each its own keyspace; FLUSHDB per database, SWAPDB, MOVE.


def test_databases_are_separate_keyspaces(start_server):
    srv = start_server()
    zero = srv.client(protocol=2, db=0)
    one = srv.client(protocol=2, db=1)
    zero.xadd("s", {"db": "0"}, id="1-1")
    one.xadd("s", {"db": "1"}, id="5-5")
    one.xadd("only-in-1", {"f": "v"})
    assert zero.xrange("s") == [(b"1-1", {b"db": b"0"})]
    assert one.xrange("s") == [(b"5-5", {b"db": b"1"})]
    assert zero.dbsize() == 1 and one.dbsize() == 2
    assert sorted(one.keys("*")) == [b"only-in-1", b"s"] and zero.keys("*") == [b"s"]
    assert zero.exists("only-in-1") == 0
    keyspace = zero.info("keyspace")
    assert keyspace["db0"]["keys"] == 1 and keyspace["db1"]["keys"] == 2
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        zero.execute_command("SELECT", 16)
    # FLUSHDB empties the selected database only; FLUSHALL every one.
    assert one.flushdb()
    assert one.dbsize() == 0 and zero.dbsize() == 1
    one.xadd("s", {"f": "v"})
    assert zero.flushall()
    assert one.dbsize() == 0 and zero.dbsize() == 0


def test_database_url_and_restart(start_server):
    """redis://host:port/15 clients select on connect; each database survives a restart."""
    srv = start_server()
    fifteen = redis.Redis.from_url(f"redis://127.0.0.1:{srv.port}/15")
    fifteen.xadd("events", {"n": "1"}, id="7-7")
    fifteen.xgroup_create("events", "g", id="0")
    fifteen.xreadgroup("g", "c", {"events": ">"})
    fifteen.close()
    srv.restart()
    fifteen = redis.Redis.from_url(f"redis://127.0.0.1:{srv.port}/15")
    assert fifteen.xrange("events") == [(b"7-7", {b"n": b"1"})]
    assert fifteen.xpending("events", "g")["pending"] == 1
    assert srv.client(protocol=2).exists("events") == 0
    fifteen.close()


def test_swapdb_and_move(start_server):
    srv = start_server()
    zero = srv.client(protocol=2, db=0)
    two = srv.client(protocol=2, db=2)
    zero.xadd("a", {"from": "0"}, id="1-1")
    zero.xgroup_create("a", "g", id="0")
    two.xadd("b", {"from": "2"}, id="2-2")
    assert zero.swapdb(0, 2)
    assert zero.keys("*") == [b"b"] and two.keys("*") == [b"a"]
    assert two.xinfo_groups("a")[0]["name"] == b"g"
    # MOVE: 1 when moved, 0 when missing or taken in the target.
    assert zero.move("b", 3) == 1
    assert zero.exists("b") == 0
    three = srv.client(protocol=2, db=3)
    assert three.xrange("b") == [(b"2-2", {b"from": b"2"})]
    assert three.move("nope", 0) == 0
    zero.xadd("b", {"f": "v"})
    assert three.move("b", 0) == 0
    assert three.exists("b") == 1
    with pytest.raises(redis.ResponseError, match="source and destination objects are the same"):
        three.move("b", 3)
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        three.move("b", 99)
    with pytest.raises(redis.ResponseError, match="invalid first DB index"):
        zero.execute_command("SWAPDB", "x", 1)
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        zero.execute_command("SWAPDB", 0, 16)


def test_select_inside_a_transaction_applies_from_there_on(start_server):
    srv = start_server()
    c = srv.client(protocol=2)
    pipe = c.pipeline(transaction=True)
    pipe.xadd("s", {"db": "0"}, id="1-1")
    pipe.execute_command("SELECT", 4)
    pipe.xadd("s", {"db": "4"}, id="4-4")
    pipe.execute()
    four = srv.client(protocol=2, db=4)
    assert four.xrange("s") == [(b"4-4", {b"db": b"4"})]
    assert srv.client(protocol=2, db=0).xrange("s") == [(b"1-1", {b"db": b"0"})]


def test_blocked_reader_in_another_database(start_server):
    srv = start_server()
    one = srv.client(protocol=2, db=1)
    zero = srv.client(protocol=2, db=0)
    got = []
    reader = threading.Thread(target=lambda: got.append(one.xread({"s": "$"}, block=5000)))
    reader.start()
    wait_until(lambda: int(zero.info("clients")["blocked_clients"]) == 1, what="the reader to block")
    zero.xadd("s", {"db": "0"})  # another database's stream of the same name: not for it
    new_id = srv.client(protocol=2, db=1).xadd("s", {"db": "1"})
    reader.join(10)
    assert got and got[0][0][1][0][0] == new_id


@pytest.mark.spool_only
def test_blocked_group_reader_of_a_moved_stream_gets_nogroup(start_server):
    """Redis 8 re-runs a woken XREADGROUP: a stream gone from its database answers NOGROUP."""
    srv = start_server()
    c = srv.client(protocol=2)
    c.xgroup_create("s", "g", id="$", mkstream=True)
    errors = []

    def read():
        try:
            srv.client(protocol=2).xreadgroup("g", "c", {"s": ">"}, block=5000)
        except redis.ResponseError as error:
            errors.append(str(error))

    reader = threading.Thread(target=read)
    reader.start()
    wait_until(lambda: int(c.info("clients")["blocked_clients"]) == 1, what="the reader to block")
    assert c.move("s", 1) == 1
    reader.join(10)
    assert len(errors) == 1 and errors[0].endswith("No such key 's' or consumer group 'g' in XREADGROUP with GROUP option")
