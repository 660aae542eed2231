"""XREAD BLOCK: timeouts, BLOCK 0, `$`, several streams and readers, wake-up by XADD from another
client, reply order behind a blocked command, and blocked clients that go away."""

from __future__ import annotations

import threading
import time

import pytest

from helpers import (
    NULL,
    NULL_ARRAY,
    ErrorReply,
    Map,
    encode_command,
    ids_of,
    norm_xread,
    parse_info,
)


@pytest.fixture(scope="module")
def bserver(tmp_path_factory):
    """A server of its own, so blocked_clients counts only this module's readers."""
    from conftest import Server

    srv = Server(tmp_path_factory.mktemp("blocking"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def admin(bserver):
    conn = bserver.raw()
    yield conn
    conn.close()


def blocked_clients(conn) -> int:
    return int(parse_info(conn.cmd("INFO", "clients"))["clients"]["blocked_clients"])


def wait_blocked(admin, count, timeout=3.0):
    """Waits (bounded) until `count` clients are blocked. Falls back to a plain delay if the
    server's INFO does not show it: test_blocked_clients_in_info checks INFO itself."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if blocked_clients(admin) >= count:
            return
        time.sleep(0.01)


def xadd(conn, k, *fields, entry_id="*"):
    reply = conn.cmd("XADD", k, entry_id, *(fields or ("f", "v")))
    assert not isinstance(reply, ErrorReply), reply
    return bytes(reply)


# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3])
def test_block_timeout_returns_null(bserver, key, protocol):
    with bserver.raw() as c:
        c.hello(protocol)
        start = time.monotonic()
        reply = c.cmd("XREAD", "BLOCK", "300", "STREAMS", key(), "$")
        elapsed = time.monotonic() - start
        assert reply is (NULL if protocol == 3 else NULL_ARRAY)
        assert 0.25 <= elapsed < 5.0, elapsed
        assert c.cmd("PING") == b"PONG"


def test_block_returns_at_once_when_data_is_there(bserver, key):
    k = key()
    with bserver.raw() as c:
        xadd(c, k, entry_id="1-1")
        start = time.monotonic()
        reply = c.cmd("XREAD", "BLOCK", "5000", "STREAMS", k, "0")
        assert time.monotonic() - start < 2.0
        assert [(n, ids_of(e)) for n, e in norm_xread(reply)] == [(k, [b"1-1"])]


@pytest.mark.parametrize("protocol", [2, 3])
def test_block_zero_is_woken_by_xadd_from_another_client(bserver, admin, key, protocol):
    k = key()
    with bserver.raw() as reader, bserver.raw() as writer:
        reader.hello(protocol)
        xadd(writer, k, "old", "1", entry_id="1-1")
        base = blocked_clients(admin)
        reader.send_command("XREAD", "BLOCK", "0", "STREAMS", k, "$")
        wait_blocked(admin, base + 1)
        new_id = xadd(writer, k, "new", "2")
        reply = reader.read_reply()
        if protocol == 3:
            assert isinstance(reply, Map)
        assert norm_xread(reply) == [(k, [(new_id, [b"new", b"2"])])]
        assert reader.cmd("PING") == b"PONG"


def test_block_with_timeout_is_woken_before_it_expires(bserver, admin, key):
    k = key()
    with bserver.raw() as reader, bserver.raw() as writer:
        base = blocked_clients(admin)
        start = time.monotonic()
        reader.send_command("XREAD", "BLOCK", "8000", "STREAMS", k, "$")
        wait_blocked(admin, base + 1)
        new_id = xadd(writer, k)
        reply = reader.read_reply()
        assert time.monotonic() - start < 6.0
        assert [(n, ids_of(e)) for n, e in norm_xread(reply)] == [(k, [new_id])]


def test_block_on_missing_stream_is_woken_when_it_is_created(bserver, admin, key):
    k = key()
    with bserver.raw() as reader, bserver.raw() as writer:
        base = blocked_clients(admin)
        reader.send_command("XREAD", "BLOCK", "0", "STREAMS", k, "$")
        wait_blocked(admin, base + 1)
        assert writer.cmd("EXISTS", k) == 0
        new_id = xadd(writer, k, entry_id="3-3")
        assert norm_xread(reader.read_reply()) == [(k, [(new_id, [b"f", b"v"])])]


def test_block_with_explicit_id(bserver, admin, key):
    k = key()
    with bserver.raw() as reader, bserver.raw() as writer:
        xadd(writer, k, entry_id="5-1")
        xadd(writer, k, entry_id="5-2")
        # Behind the top: answered at once with what is newer.
        reply = reader.cmd("XREAD", "BLOCK", "0", "STREAMS", k, "5-1")
        assert [(n, ids_of(e)) for n, e in norm_xread(reply)] == [(k, [b"5-2"])]
        # At the top: blocks until something newer arrives.
        base = blocked_clients(admin)
        reader.send_command("XREAD", "BLOCK", "0", "STREAMS", k, "5-2")
        wait_blocked(admin, base + 1)
        xadd(writer, k, entry_id="6-1")
        reply = reader.read_reply()
        assert [(n, ids_of(e)) for n, e in norm_xread(reply)] == [(k, [b"6-1"])]


def test_block_on_several_streams_returns_the_one_written(bserver, admin, key):
    a, b, c = key("a"), key("b"), key("c")
    with bserver.raw() as reader, bserver.raw() as writer:
        xadd(writer, a, entry_id="1-1")
        base = blocked_clients(admin)
        reader.send_command("XREAD", "BLOCK", "0", "STREAMS", a, b, c, "$", "$", "$")
        wait_blocked(admin, base + 1)
        new_id = xadd(writer, b, "only", "b")
        assert norm_xread(reader.read_reply()) == [(b, [(new_id, [b"only", b"b"])])]


def test_every_blocked_reader_is_woken(bserver, admin, key):
    k = key()
    readers = [bserver.raw() for _ in range(5)]
    try:
        with bserver.raw() as writer:
            base = blocked_clients(admin)
            for r in readers:
                r.send_command("XREAD", "BLOCK", "0", "STREAMS", k, "$")
            wait_blocked(admin, base + len(readers))
            new_id = xadd(writer, k, "to", "all")
            for r in readers:
                assert norm_xread(r.read_reply()) == [(k, [(new_id, [b"to", b"all"])])]
    finally:
        for r in readers:
            r.close()


def test_readers_on_different_streams_get_their_own_entries(bserver, admin, key):
    names = [key(f"s{i}") for i in range(20)]
    readers = [bserver.raw() for _ in names]
    try:
        with bserver.raw() as writer:
            base = blocked_clients(admin)
            for r, name in zip(readers, names):
                r.send_command("XREAD", "BLOCK", "0", "STREAMS", name, "$")
            wait_blocked(admin, base + len(readers))
            ids = writer.pipeline([("XADD", name, "*", "for", name) for name in names])
            for r, name, entry_id in zip(readers, names, ids):
                assert norm_xread(r.read_reply()) == [(name, [(bytes(entry_id), [b"for", name])])]
    finally:
        for r in readers:
            r.close()


def test_dollar_ignores_entries_added_before_blocking(bserver, admin, key):
    k = key()
    with bserver.raw() as reader, bserver.raw() as writer:
        for i in range(3):
            xadd(writer, k, "before", str(i))
        base = blocked_clients(admin)
        reader.send_command("XREAD", "BLOCK", "0", "STREAMS", k, "$")
        wait_blocked(admin, base + 1)
        new_id = xadd(writer, k, "after", "1")
        assert norm_xread(reader.read_reply()) == [(k, [(new_id, [b"after", b"1"])])]


def test_block_with_count_and_a_burst_of_writes(bserver, admin, key):
    k = key()
    with bserver.raw() as reader, bserver.raw() as writer:
        base = blocked_clients(admin)
        reader.send_command("XREAD", "COUNT", "3", "BLOCK", "0", "STREAMS", k, "$")
        wait_blocked(admin, base + 1)
        ids = writer.pipeline([("XADD", k, "*", "n", str(i)) for i in range(10)])
        got = norm_xread(reader.read_reply())
        assert len(got) == 1 and got[0][0] == k
        got_ids = ids_of(got[0][1])
        assert 1 <= len(got_ids) <= 3
        assert got_ids == [bytes(x) for x in ids[: len(got_ids)]]


def test_replies_after_a_blocked_command_wait_their_turn(bserver, admin, key):
    k = key()
    with bserver.raw() as reader, bserver.raw() as writer:
        base = blocked_clients(admin)
        reader.send(
            encode_command("XREAD", "BLOCK", "0", "STREAMS", k, "$")
            + encode_command("PING")
            + encode_command("ECHO", "after")
        )
        wait_blocked(admin, base + 1)
        # Nothing may arrive while the XREAD is blocked, not even the PONG.
        reader.settimeout(0.3)
        try:
            early = reader.sock.recv(1024)
        except OSError:
            early = b""
        assert early == b"", f"reply sent before the blocked XREAD finished: {early!r}"
        reader.settimeout(10)
        new_id = xadd(writer, k)
        assert ids_of(norm_xread(reader.read_reply())[0][1]) == [new_id]
        assert reader.read_reply() == b"PONG"
        assert reader.read_reply() == b"after"


def test_xadd_inside_multi_wakes_readers_after_exec(bserver, admin, key):
    k = key()
    with bserver.raw() as reader, bserver.raw() as writer:
        base = blocked_clients(admin)
        reader.send_command("XREAD", "BLOCK", "0", "STREAMS", k, "$")
        wait_blocked(admin, base + 1)
        assert writer.cmd("MULTI") == b"OK"
        writer.cmd("XADD", k, "1-1", "n", "1")
        writer.cmd("XADD", k, "1-2", "n", "2")
        assert writer.cmd("EXEC") == [b"1-1", b"1-2"]
        got = norm_xread(reader.read_reply())
        assert got == [(k, [(b"1-1", [b"n", b"1"]), (b"1-2", [b"n", b"2"])])]


def test_blocked_clients_in_info(bserver, admin, key):
    k = key()
    base = blocked_clients(admin)
    readers = [bserver.raw() for _ in range(3)]
    try:
        for r in readers:
            r.send_command("XREAD", "BLOCK", "0", "STREAMS", k, "$")
        deadline = time.monotonic() + 5
        while blocked_clients(admin) != base + 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert blocked_clients(admin) == base + 3
        admin.cmd("XADD", k, "*", "f", "v")
        for r in readers:
            r.read_reply()
        deadline = time.monotonic() + 5
        while blocked_clients(admin) != base and time.monotonic() < deadline:
            time.sleep(0.02)
        assert blocked_clients(admin) == base
    finally:
        for r in readers:
            r.close()


def test_blocked_reader_that_disconnects_is_forgotten(bserver, admin, key):
    k = key()
    base = blocked_clients(admin)
    gone = bserver.raw()
    gone.send_command("XREAD", "BLOCK", "0", "STREAMS", k, "$")
    wait_blocked(admin, base + 1)
    gone.close()
    deadline = time.monotonic() + 5
    while blocked_clients(admin) != base and time.monotonic() < deadline:
        time.sleep(0.02)
    assert blocked_clients(admin) == base
    # Writing to the stream afterwards is fine, and a new reader works.
    with bserver.raw() as reader:
        reader.send_command("XREAD", "BLOCK", "0", "STREAMS", k, "$")
        wait_blocked(admin, base + 1)
        new_id = xadd(admin, k)
        assert ids_of(norm_xread(reader.read_reply())[0][1]) == [new_id]


def test_many_timeouts_expire_independently(bserver, key):
    readers = [(bserver.raw(), ms) for ms in (100, 300, 600)]
    try:
        start = time.monotonic()
        for conn, ms in readers:
            conn.send_command("XREAD", "BLOCK", str(ms), "STREAMS", key(f"t{ms}"), "$")
        for conn, ms in readers:
            assert conn.read_reply() is NULL_ARRAY
            assert time.monotonic() - start >= ms / 1000 - 0.02
        assert time.monotonic() - start < 5
    finally:
        for conn, _ in readers:
            conn.close()


def test_redis_py_blocking_read_in_a_thread(bserver, admin, key):
    k = key()
    result = {}

    def reader():
        client = bserver.client(protocol=3)
        try:
            result["reply"] = client.xread({k: "$"}, block=8000)
        except Exception as exc:  # noqa: BLE001
            result["error"] = exc
        finally:
            client.close()

    base = blocked_clients(admin)
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    wait_blocked(admin, base + 1)
    writer = bserver.client(protocol=2)
    new_id = writer.xadd(k, {"py": "1"})
    t.join(10)
    assert not t.is_alive()
    assert "error" not in result, result.get("error")
    assert norm_xread(result["reply"]) == [(k, [(new_id, [b"py", b"1"])])]


@pytest.mark.spool_only
def test_block_with_plus_on_missing_stream_waits_for_the_first_entry(bserver, admin, key):
    """Redis 7.4: `+` on a missing stream means "from the start", so XREAD BLOCK waits."""
    k = key()
    with bserver.raw() as reader, bserver.raw() as writer:
        base = blocked_clients(admin)
        reader.send_command("XREAD", "BLOCK", "0", "STREAMS", k, "+")
        wait_blocked(admin, base + 1)
        new_id = xadd(writer, k, entry_id="2-2")
        assert norm_xread(reader.read_reply()) == [(k, [(new_id, [b"f", b"v"])])]


# XREADGROUP BLOCK is a blocked client exactly like XREAD BLOCK.


def test_blocked_xreadgroup_is_counted_and_served(bserver, admin, key):
    k = key()
    admin.cmd("XGROUP", "CREATE", k, "g", "$", "MKSTREAM")
    base = blocked_clients(admin)
    with bserver.raw() as reader:
        reader.send_command("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", k, ">")
        wait_blocked(admin, base + 1)
        assert blocked_clients(admin) == base + 1
        # A consumer named BLOCK does not make a non-blocking read count as blocked.
        assert admin.cmd("XREADGROUP", "GROUP", "g", "BLOCK", "COUNT", "1", "STREAMS", k, ">") == NULL_ARRAY
        new_id = xadd(admin, k)
        assert ids_of(norm_xread(reader.read_reply())[0][1]) == [new_id]
        deadline = time.monotonic() + 5
        while blocked_clients(admin) != base and time.monotonic() < deadline:
            time.sleep(0.02)
        assert blocked_clients(admin) == base


def test_blocked_xreadgroup_that_disconnects_takes_nothing(bserver, admin, key):
    """A consumer that went away while blocked never gets the next entry into its pending list."""
    k = key()
    admin.cmd("XGROUP", "CREATE", k, "g", "$", "MKSTREAM")
    base = blocked_clients(admin)
    gone = bserver.raw()
    gone.send_command("XREADGROUP", "GROUP", "g", "gone", "BLOCK", "0", "STREAMS", k, ">")
    wait_blocked(admin, base + 1)
    assert blocked_clients(admin) == base + 1
    gone.close()
    deadline = time.monotonic() + 5
    while blocked_clients(admin) != base and time.monotonic() < deadline:
        time.sleep(0.02)
    assert blocked_clients(admin) == base
    new_id = xadd(admin, k)
    summary = admin.cmd("XPENDING", k, "g")
    assert summary[0] == 0, summary
    # The entry is still there for a consumer that asks.
    got = admin.cmd("XREADGROUP", "GROUP", "g", "live", "COUNT", "10", "STREAMS", k, ">")
    assert ids_of(norm_xread(got)[0][1]) == [new_id]


@pytest.mark.parametrize("command", ["xread", "xreadgroup"])
def test_client_unblock_answers_as_a_timeout(bserver, admin, key, command):
    k = key()
    admin.cmd("XGROUP", "CREATE", k, "g", "$", "MKSTREAM")
    base = blocked_clients(admin)
    with bserver.raw() as reader:
        reader_id = reader.cmd("CLIENT", "ID")
        if command == "xread":
            reader.send_command("XREAD", "BLOCK", "0", "STREAMS", k, "$")
        else:
            reader.send_command("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", k, ">")
        wait_blocked(admin, base + 1)
        assert admin.cmd("CLIENT", "UNBLOCK", reader_id) == 1
        assert reader.read_reply() == NULL_ARRAY
        # Not blocked any more: nothing to unblock, and the connection serves commands again.
        assert admin.cmd("CLIENT", "UNBLOCK", reader_id) == 0
        assert reader.cmd("PING") == b"PONG"
    summary = admin.cmd("XPENDING", k, "g")
    assert summary[0] == 0


def test_client_unblock_with_error(bserver, admin, key):
    k = key()
    admin.cmd("XGROUP", "CREATE", k, "g", "$", "MKSTREAM")
    base = blocked_clients(admin)
    with bserver.raw() as reader:
        reader_id = reader.cmd("CLIENT", "ID")
        reader.send_command("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", k, ">")
        wait_blocked(admin, base + 1)
        assert admin.cmd("CLIENT", "UNBLOCK", reader_id, "ERROR") == 1
        reply = reader.read_reply()
        assert isinstance(reply, ErrorReply) and reply.message == "UNBLOCKED client unblocked via CLIENT UNBLOCK", reply


def test_client_unblock_errors(bserver, admin):
    own = admin.cmd("CLIENT", "ID")
    assert admin.cmd("CLIENT", "UNBLOCK", own) == 0
    assert admin.cmd("CLIENT", "UNBLOCK", 999999) == 0
    reply = admin.cmd("CLIENT", "UNBLOCK", own, "LATER")
    assert isinstance(reply, ErrorReply) and reply.message == "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"
    reply = admin.cmd("CLIENT", "UNBLOCK", "x")
    assert isinstance(reply, ErrorReply) and reply.message == "ERR value is not an integer or out of range"
    reply = admin.cmd("CLIENT", "UNBLOCK", "x", "LATER")  # the reason is checked first
    assert isinstance(reply, ErrorReply) and reply.message == "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"
