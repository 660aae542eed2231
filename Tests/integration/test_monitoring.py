"""SLOWLOG and LATENCY over real connections, against spoold and redis-server alike."""

from __future__ import annotations

import pytest
import redis

from conftest import IS_SPOOL
from helpers import ErrorReply, wait_until


def slowlog_args(entry) -> list:
    return entry[3]


def test_slow_commands_are_logged_with_their_arguments_and_client(start_server):
    srv = start_server(slowlog_log_slower_than=0)
    client = srv.client()
    client.client_setname("writer")
    client.execute_command("SLOWLOG", "RESET")
    client.xadd("s", {"f": "v"})
    client.xlen("s")
    entries = client.execute_command("SLOWLOG", "GET", "10")
    # Newest first: the XLEN, then the XADD (SLOWLOG RESET itself is logged too).
    assert slowlog_args(entries[0]) == [b"XLEN", b"s"]
    assert slowlog_args(entries[1])[:2] == [b"XADD", b"s"]
    newest, older = entries[0], entries[1]
    assert newest[0] > older[0], "ids grow"
    assert isinstance(newest[1], int) and newest[1] > 1_700_000_000
    assert isinstance(newest[2], int) and newest[2] >= 0
    assert newest[4].startswith(b"127.0.0.1:") and newest[5] == b"writer"
    # LEN counts what was logged before it; it is logged itself once it has run.
    length = client.execute_command("SLOWLOG", "LEN")
    assert len(client.execute_command("SLOWLOG", "GET", "-1")) == length + 1
    assert len(client.execute_command("SLOWLOG", "GET", "1")) == 1
    with pytest.raises(redis.ResponseError, match="count should be greater than or equal to -1"):
        client.execute_command("SLOWLOG", "GET", "-2")
    assert client.execute_command("SLOWLOG", "RESET") == b"OK"
    assert client.execute_command("SLOWLOG", "LEN") <= 1


def test_long_commands_are_trimmed_as_redis_trims_them(start_server):
    srv = start_server(slowlog_log_slower_than=0)
    client = srv.client()
    fields = []
    for i in range(20):
        fields += [f"f{i}", "v"]
    client.execute_command("XADD", "wide", "*", *fields)
    client.execute_command("XADD", "long", "*", "f", "x" * 200)
    entries = client.execute_command("SLOWLOG", "GET", "2")
    long_args, wide_args = slowlog_args(entries[0]), slowlog_args(entries[1])
    assert len(wide_args) == 32 and wide_args[-1] == b"... (12 more arguments)", wide_args[-2:]
    assert long_args[-1] == b"x" * 128 + b"... (72 more bytes)"


def test_passwords_never_reach_the_slowlog(start_server):
    srv = start_server(slowlog_log_slower_than=0)
    client = srv.client()
    client.execute_command("ACL", "SETUSER", "bob", "on", ">secret-pw", "~*", "+@all")
    conn = srv.raw()
    assert conn.cmd("AUTH", "bob", "secret-pw") == b"OK"
    assert conn.cmd("HELLO", "2", "AUTH", "bob", "secret-pw")
    logged = b" ".join(b" ".join(slowlog_args(e)) for e in client.execute_command("SLOWLOG", "GET", "-1"))
    assert b"secret-pw" not in logged and b"(redacted)" in logged


def test_the_slowlog_keeps_its_length_and_can_be_off(start_server):
    srv = start_server(slowlog_log_slower_than=0, slowlog_max_len=3)
    client = srv.client()
    for _ in range(10):
        client.xlen("s")
    assert client.execute_command("SLOWLOG", "LEN") == 3
    client.config_set("slowlog-log-slower-than", "-1")
    client.execute_command("SLOWLOG", "RESET")
    for _ in range(5):
        client.xlen("s")
    assert client.execute_command("SLOWLOG", "LEN") == 0
    # The default threshold (10 ms) keeps quick commands out.
    client.config_set("slowlog-log-slower-than", "10000")
    client.xlen("s")
    assert client.execute_command("SLOWLOG", "LEN") == 0


def test_latency_events_of_slow_commands(start_server):
    srv = start_server()
    client = srv.client()
    assert b"disabled" in client.execute_command("LATENCY", "DOCTOR")
    pipe = client.pipeline(transaction=False)
    for i in range(20_000):
        pipe.xadd("big", {"f": "v" * 20})
    pipe.execute()
    client.config_set("latency-monitor-threshold", "1")
    assert b"no latency spike" in client.execute_command("LATENCY", "DOCTOR")
    # Reading 20,000 entries takes more than a millisecond on either server.
    assert len(client.xrange("big")) == 20_000

    def command_event():
        return [e for e in client.execute_command("LATENCY", "LATEST") if e[0] == b"command"]

    latest = wait_until(command_event, what="a command latency event")[0]
    assert latest[2] >= 1 and latest[3] >= latest[2] and latest[1] > 1_700_000_000
    history = client.execute_command("LATENCY", "HISTORY", "command")
    assert history and all(len(sample) == 2 and sample[1] >= 1 for sample in history)
    assert b"latency spikes" in client.execute_command("LATENCY", "DOCTOR")
    assert b"command - high" in client.execute_command("LATENCY", "GRAPH", "command")
    assert client.execute_command("LATENCY", "HISTORY", "no-such-event") == []
    with pytest.raises(redis.ResponseError, match="No samples available for event 'no-such-event'"):
        client.execute_command("LATENCY", "GRAPH", "no-such-event")
    assert client.execute_command("LATENCY", "RESET", "command") == 1
    assert command_event() == []


def test_slowlog_and_latency_need_the_admin_category(start_server):
    srv = start_server()
    client = srv.client()
    client.execute_command("ACL", "SETUSER", "app", "on", ">pw", "~*", "+@all", "-@admin")
    conn = srv.raw()
    conn.cmd("AUTH", "app", "pw")
    for command in (("SLOWLOG", "GET"), ("LATENCY", "LATEST")):
        reply = conn.cmd(*command)
        assert isinstance(reply, ErrorReply) and reply.code == "NOPERM", reply
    help_lines = conn.cmd("SLOWLOG", "HELP")
    assert isinstance(help_lines, list) and help_lines[0].startswith(b"SLOWLOG <subcommand>")


@pytest.mark.spool_only
def test_slow_fsyncs_are_latency_events(start_server):
    srv = start_server(latency_monitor_threshold=1)
    client = srv.client()
    # An fsync of several megabytes of log takes more than a millisecond on any disk; the event
    # is named as Redis names a slow fsync of its always-synced log.
    pipe = client.pipeline(transaction=False)
    for round_number in range(20):
        for i in range(1000):
            pipe.xadd("burst", {"f": "v" * 4000})
        pipe.execute()
        if any(e[0] == b"aof-fsync-always" for e in client.execute_command("LATENCY", "LATEST")):
            break
    events = {e[0]: e for e in client.execute_command("LATENCY", "LATEST")}
    assert b"aof-fsync-always" in events, events
    assert events[b"aof-fsync-always"][3] >= 1
