"""Limits and bad input: proto-max-bulk-len, malformed RESP, too-long inline requests,
client-output-buffer-limit, client-query-buffer-limit, maxclients. After each abuse the server
must still serve other clients, and everything acknowledged before must be intact."""

from __future__ import annotations

import time

import pytest

from helpers import (
    ErrorReply,
    RawConnection,
    encode_command,
    parse_info,
    wait_until,
)

MB = 1 << 20


def err(reply) -> str:
    assert isinstance(reply, ErrorReply), f"expected an error reply, got {reply!r}"
    return reply.message


class Ledger:
    """What the server acknowledged; checked again at the end of the module."""

    def __init__(self) -> None:
        self.entries = {}  # stream -> [(id, fields)]

    def add(self, conn, stream, fields, entry_id="*"):
        reply = conn.cmd("XADD", stream, entry_id, *fields)
        assert not isinstance(reply, ErrorReply), reply
        self.entries.setdefault(stream, []).append([bytes(reply), list(fields)])
        return reply

    def verify(self, conn):
        for stream, expected in self.entries.items():
            assert conn.cmd("XLEN", stream) == len(expected), stream
            got = []
            start = "-"
            for _ in range(10_000):
                page = conn.cmd("XRANGE", stream, start, "+", "COUNT", "50")
                if not page:
                    break
                got += page
                start = b"(" + page[-1][0]
            assert got == expected, f"{stream!r}: acknowledged entries changed"


@pytest.fixture(scope="module")
def lserver(tmp_path_factory):
    from conftest import Server

    srv = Server(
        tmp_path_factory.mktemp("limits"),
        {"proto_max_bulk_len": "1mb", "client_output_buffer_limit": "4mb"},
    )
    srv.start()
    srv.ledger = Ledger()
    with srv.raw() as c:
        for i in range(50):
            srv.ledger.add(c, "seed", [b"i", str(i).encode()])
    yield srv
    srv.stop()


def assert_healthy(srv):
    with srv.raw(timeout=10) as c:
        assert c.cmd("PING") == b"PONG"
        srv.ledger.add(c, "health", [b"t", str(time.time()).encode()])


# --------------------------------------------------------------------------------------------
# Bulk length, malformed frames, inline size
# --------------------------------------------------------------------------------------------


def test_bulk_longer_than_proto_max_bulk_len_is_refused(lserver):
    with lserver.raw() as c:
        c.send(b"*3\r\n$4\r\nECHO\r\n$" + str(2 * MB).encode() + b"\r\n")
        assert err(c.read_reply()) == "ERR Protocol error: invalid bulk length"
        c.wait_closed(10)
    assert_healthy(lserver)


def test_bulk_longer_than_limit_is_refused_even_when_the_body_follows(lserver):
    with lserver.raw() as c:
        payload = b"*5\r\n$4\r\nXADD\r\n$3\r\nbig\r\n$1\r\n*\r\n$1\r\nf\r\n$" + str(MB + 1).encode() + b"\r\n"
        c.send(payload)
        assert err(c.read_reply()) == "ERR Protocol error: invalid bulk length"
        try:
            c.send(b"z" * 65536)
        except OSError:
            pass
        c.wait_closed(10)
    with lserver.raw() as c:
        assert c.cmd("EXISTS", "big") == 0
    assert_healthy(lserver)


def test_bulk_exactly_at_the_limit_is_accepted(lserver):
    value = bytes(i % 253 for i in range(MB))
    with lserver.raw(timeout=20) as c:
        lserver.ledger.add(c, "at-limit", [b"v", value])
        assert c.cmd("XRANGE", "at-limit", "-", "+")[0][1] == [b"v", value]


@pytest.mark.parametrize(
    "frame, message",
    [
        (b"*1\r\n$x\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*x\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"*99999999999\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"*2\r\n+PING\r\n", "ERR Protocol error: expected '$', got '+'"),
    ],
    ids=["bulk-length-not-a-number", "negative-bulk-length", "count-not-a-number", "count-too-large", "not-a-bulk"],
)
def test_malformed_resp_gets_protocol_error_and_close(lserver, frame, message):
    with lserver.raw() as c:
        # Commands before the bad frame are still answered, in order.
        c.send(encode_command("PING") + encode_command("ECHO", "first") + frame)
        assert c.read_reply() == b"PONG"
        assert c.read_reply() == b"first"
        reply = c.read_reply()
        assert err(reply) == message
        c.wait_closed(10)
    assert_healthy(lserver)


def test_malformed_resp_error_has_protocol_error_prefix(lserver):
    with lserver.raw() as c:
        c.send(b"*1\r\n$x\r\n")
        assert err(c.read_reply()).startswith("ERR Protocol error: ")
        c.wait_closed(10)


def test_too_big_inline_request(lserver):
    with lserver.raw() as c:
        try:
            c.send(b"PING " + b"x" * (256 * 1024))
        except OSError:
            pass
        assert err(c.read_reply()) == "ERR Protocol error: too big inline request"
        c.wait_closed(10)
    assert_healthy(lserver)


# --------------------------------------------------------------------------------------------
# client-output-buffer-limit
# --------------------------------------------------------------------------------------------


def test_client_that_does_not_read_is_disconnected_at_the_output_limit(lserver):
    value = b"v" * 1000
    with lserver.raw(timeout=30) as c:
        # ~4 MB per XRANGE reply: each one alone exceeds the 4 MB limit.
        c.pipeline([("XADD", "wide", "*", "f", value) for _ in range(4200)])
    with lserver.raw() as c:
        assert c.cmd("XLEN", "wide") == 4200
    reply_size_estimate = 4200 * 1040
    requests = 30
    slow = RawConnection(lserver.port, rcvbuf=32 * 1024, timeout=10)
    try:
        slow.send(encode_command("XRANGE", "wide", "-", "+") * requests)
        # Meanwhile another client is served normally.
        assert_healthy(lserver)
        time.sleep(0.5)
        # Then we read: the server must have closed us before sending everything.
        slow.wait_closed(timeout=20, max_bytes=(requests * reply_size_estimate) // 2)
    finally:
        slow.close()
    assert_healthy(lserver)


def test_reader_that_keeps_up_is_not_disconnected(lserver):
    with lserver.raw(timeout=30) as c:
        for _ in range(5):
            entries = c.cmd("XRANGE", "seed", "-", "+")
            assert len(entries) == 50
        c.send(encode_command("XRANGE", "seed", "-", "+") * 200)
        for _ in range(200):
            assert len(c.read_reply()) == 50


# --------------------------------------------------------------------------------------------
# client-query-buffer-limit
# --------------------------------------------------------------------------------------------


def test_query_buffer_limit_closes_the_connection(start_server):
    srv = start_server(client_query_buffer_limit="1mb")
    with srv.raw() as c:
        c.cmd("XADD", "kept", "1-1", "f", "v")
    with srv.raw(timeout=10) as c:
        try:
            c.send(b"*3\r\n$4\r\nECHO\r\n$" + str(4 * MB).encode() + b"\r\n")
            for _ in range(64):
                c.send(b"x" * 65536)
        except OSError:
            pass  # closed while we were still sending: that is the point
        try:
            leftover = c.wait_closed(10)
        except ConnectionResetError:
            leftover = b""
        # Redis closes without a reply; an error reply before the close is fine too.
        assert leftover == b"" or leftover.startswith(b"-ERR"), leftover[:200]
    with srv.raw() as c:
        assert c.cmd("PING") == b"PONG"
        assert c.cmd("XRANGE", "kept", "-", "+") == [[b"1-1", [b"f", b"v"]]]
        # A request below the limit is fine.
        assert c.cmd("ECHO", b"y" * (512 * 1024)) == b"y" * (512 * 1024)


# --------------------------------------------------------------------------------------------
# maxclients
# --------------------------------------------------------------------------------------------


def test_maxclients(start_server):
    srv = start_server(maxclients=3)
    first = srv.raw()
    ledger = Ledger()
    ledger.add(first, "mc", [b"n", b"1"])
    # Wait until the start-up probe connection is gone and only `first` is counted.
    wait_until(
        lambda: int(parse_info(first.cmd("INFO", "clients"))["clients"]["connected_clients"]) == 1,
        timeout=10,
        what="connected_clients == 1",
    )
    second = srv.raw()
    third = srv.raw()
    assert second.cmd("PING") == b"PONG"
    assert third.cmd("PING") == b"PONG"
    rejected = []
    for _ in range(2):
        extra = RawConnection(srv.port)
        reply = extra.read_reply()
        assert err(reply) == "ERR max number of clients reached"
        extra.wait_closed(10)
        extra.close()
        rejected.append(reply)
    # The accepted clients keep working.
    ledger.add(second, "mc", [b"n", b"2"])
    assert third.cmd("XLEN", "mc") == 2
    stats = parse_info(first.cmd("INFO", "stats"))["stats"]
    assert int(stats["rejected_connections"]) >= 2
    # A slot frees up when a client leaves.
    third.close()

    def fourth_accepted():
        conn = RawConnection(srv.port)
        reply = conn.cmd("PING")
        if reply == b"PONG":
            return conn
        conn.close()
        return None

    fourth = wait_until(fourth_accepted, timeout=10, what="a free client slot")
    ledger.add(fourth, "mc", [b"n", b"3"])
    ledger.verify(first)
    for conn in (first, second, fourth):
        conn.close()


def test_maxclients_rejection_happens_before_auth(start_server):
    srv = start_server(maxclients=1, requirepass="pw")
    holder = srv.raw()
    assert holder.cmd("AUTH", "pw") == b"OK"
    wait_until(
        lambda: int(parse_info(holder.cmd("INFO", "clients"))["clients"]["connected_clients"]) == 1,
        timeout=10,
        what="connected_clients == 1",
    )
    extra = RawConnection(srv.port)
    assert err(extra.read_reply()) == "ERR max number of clients reached"
    extra.wait_closed(10)
    extra.close()
    assert holder.cmd("PING") == b"PONG"
    holder.close()


# --------------------------------------------------------------------------------------------


def test_acknowledged_data_survives_all_of_the_above(lserver):
    with lserver.raw(timeout=30) as c:
        assert c.cmd("PING") == b"PONG"
        lserver.ledger.verify(c)
