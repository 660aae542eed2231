"""Connection-level commands: PING, ECHO, HELLO, AUTH, CLIENT, SELECT, QUIT, COMMAND, INFO,
CONFIG, start-up flags, inline commands and pipelining."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time

import pytest
import redis

from conftest import SPOOLD
from helpers import (
    NULL,
    NULL_BULK,
    ErrorReply,
    Map,
    RawConnection,
    Status,
    Verbatim,
    encode_command,
    is_nil,
    pairs,
    parse_id,
    parse_info,
    wait_until,
)

SPOOL_REDIS_VERSION = "8.8.0"

HELLO_KEYS = [b"server", b"version", b"proto", b"id", b"mode", b"role", b"modules"]

# name -> (arity, first key, last key, step), as Redis 7.x reports them in COMMAND INFO.
COMMAND_TABLE = {
    "ping": (-1, 0, 0, 0),
    "echo": (2, 0, 0, 0),
    "hello": (-1, 0, 0, 0),
    "auth": (-2, 0, 0, 0),
    "client": (-2, 0, 0, 0),
    "select": (2, 0, 0, 0),
    "quit": (-1, 0, 0, 0),
    "command": (-1, 0, 0, 0),
    "info": (-1, 0, 0, 0),
    "config": (-2, 0, 0, 0),
    "dbsize": (1, 0, 0, 0),
    "del": (-2, 1, -1, 1),
    "exists": (-2, 1, -1, 1),
    "type": (2, 1, 1, 1),
    "keys": (2, 0, 0, 0),
    "scan": (-2, 0, 0, 0),
    "flushdb": (-1, 0, 0, 0),
    "flushall": (-1, 0, 0, 0),
    "multi": (1, 0, 0, 0),
    "exec": (1, 0, 0, 0),
    "discard": (1, 0, 0, 0),
    "shutdown": (-1, 0, 0, 0),
    "xadd": (-5, 1, 1, 1),
    "xrange": (-4, 1, 1, 1),
    "xrevrange": (-4, 1, 1, 1),
    "xlen": (2, 1, 1, 1),
    "xdel": (-3, 1, 1, 1),
    "xtrim": (-4, 1, 1, 1),
    "xread": (-4, 0, 0, 0),
    "xsetid": (-3, 1, 1, 1),
    "xinfo": (-2, 0, 0, 0),
}


def text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def err(reply) -> str:
    assert isinstance(reply, ErrorReply), f"expected an error reply, got {reply!r}"
    return reply.message


# --------------------------------------------------------------------------------------------
# PING / ECHO
# --------------------------------------------------------------------------------------------


def test_ping_and_echo_through_redis_py(r):
    assert r.ping() is True
    assert r.echo(b"bin\x00ary\r\n") == b"bin\x00ary\r\n"
    assert r.echo(b"") == b""


def test_ping_is_simple_string_and_ping_with_argument_is_bulk(raw):
    pong = raw.cmd("PING")
    assert isinstance(pong, Status) and pong == b"PONG"
    reply = raw.cmd("PING", "x y")
    assert reply == b"x y" and not isinstance(reply, Status)
    assert err(raw.cmd("PING", "a", "b")) == "ERR wrong number of arguments for 'ping' command"


def test_echo_arity(raw2):
    assert err(raw2.cmd("ECHO")) == "ERR wrong number of arguments for 'echo' command"
    assert err(raw2.cmd("ECHO", "a", "b")) == "ERR wrong number of arguments for 'echo' command"


# --------------------------------------------------------------------------------------------
# Errors every command shares
# --------------------------------------------------------------------------------------------


def test_unknown_command_error_format(raw2):
    assert err(raw2.cmd("FOO", "a")) == "ERR unknown command 'FOO', with args beginning with: 'a' "
    assert err(raw2.cmd("foo", "a", "b")) == "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
    assert err(raw2.cmd("FOO")) == "ERR unknown command 'FOO', with args beginning with: "
    # The connection stays usable.
    assert raw2.cmd("PING") == b"PONG"


def test_wrong_arity_error_format(raw2):
    assert err(raw2.cmd("XLEN")) == "ERR wrong number of arguments for 'xlen' command"
    assert err(raw2.cmd("XLEN", "a", "b")) == "ERR wrong number of arguments for 'xlen' command"
    assert err(raw2.cmd("xadd", "s", "*")) == "ERR wrong number of arguments for 'xadd' command"
    assert err(raw2.cmd("CLIENT", "SETNAME")) == "ERR wrong number of arguments for 'client|setname' command"


def test_command_names_are_case_insensitive(raw2, key):
    assert raw2.cmd("pInG") == b"PONG"
    assert parse_id(raw2.cmd("xAdD", key(), "1-1", "f", "v")) == (1, 1)
    assert raw2.cmd("XlEn", key()) == 1


def test_redis_py_raises_response_error_with_message(r):
    with pytest.raises(redis.ResponseError) as exc:
        r.execute_command("FOO", "a")
    assert str(exc.value) == "unknown command 'FOO', with args beginning with: 'a' "


# --------------------------------------------------------------------------------------------
# HELLO
# --------------------------------------------------------------------------------------------


def test_hello_without_arguments_reports_resp2(raw2, server):
    reply = raw2.cmd("HELLO")
    assert isinstance(reply, list)
    fields = dict(pairs(reply))
    assert [k for k, _ in pairs(reply)] == HELLO_KEYS
    assert fields[b"proto"] == 2
    assert fields[b"mode"] == b"standalone"
    assert fields[b"role"] == b"master"
    assert fields[b"modules"] == []
    assert isinstance(fields[b"id"], int)
    if server.is_spool:
        assert fields[b"version"] == SPOOL_REDIS_VERSION.encode()


def test_hello_3_switches_to_resp3_and_back(raw2, server):
    reply = raw2.cmd("HELLO", "3")
    assert isinstance(reply, Map)
    assert reply.keys() == HELLO_KEYS
    assert reply[b"proto"] == 3
    client_id = reply[b"id"]
    assert raw2.cmd("CLIENT", "ID") == client_id
    if server.is_spool:
        assert reply[b"version"] == SPOOL_REDIS_VERSION.encode()
    # RESP3 now: CONFIG GET answers a map, a missing name a RESP3 null.
    assert isinstance(raw2.cmd("CONFIG", "GET", "maxclients"), Map)
    assert raw2.cmd("CLIENT", "GETNAME") is NULL
    reply2 = raw2.cmd("HELLO", "2")
    assert isinstance(reply2, list) and dict(pairs(reply2))[b"proto"] == 2
    assert isinstance(raw2.cmd("CONFIG", "GET", "maxclients"), list)
    assert raw2.cmd("CLIENT", "GETNAME") is NULL_BULK


def test_hello_errors(raw2):
    assert err(raw2.cmd("HELLO", "4")) == "NOPROTO unsupported protocol version"
    assert err(raw2.cmd("HELLO", "1")) == "NOPROTO unsupported protocol version"
    assert err(raw2.cmd("HELLO", "abc")) == "ERR Protocol version is not an integer or out of range"
    assert err(raw2.cmd("HELLO", "3", "AUTH", "x")).startswith("ERR Syntax error in HELLO option 'AUTH'")
    # Nothing changed: still RESP2.
    assert isinstance(raw2.cmd("CONFIG", "GET", "maxclients"), list)


def test_hello_setname(raw2):
    reply = raw2.cmd("HELLO", "3", "SETNAME", "worker-1")
    assert isinstance(reply, Map)
    assert raw2.cmd("CLIENT", "GETNAME") == b"worker-1"


def test_redis_py_handshake_metadata(r, server):
    r.ping()
    conn = r.connection_pool.get_connection()
    try:
        if r.protocol == 3:
            meta = conn.handshake_metadata
            proto = meta.get(b"proto", meta.get("proto"))
            assert proto == 3
    finally:
        r.connection_pool.release(conn)


# --------------------------------------------------------------------------------------------
# AUTH
# --------------------------------------------------------------------------------------------

NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    from conftest import Server

    srv = Server(tmp_path_factory.mktemp("auth"), {"requirepass": "s3cret"})
    srv.start()
    yield srv
    srv.stop()


def test_commands_before_auth_are_refused(auth_server):
    with auth_server.raw() as c:
        assert err(c.cmd("PING")) == NOAUTH
        assert err(c.cmd("XADD", "s", "*", "a", "1")) == NOAUTH
        assert err(c.cmd("XLEN", "s")) == NOAUTH
        assert err(c.cmd("CLIENT", "ID")) == NOAUTH
        # HELLO without AUTH is refused with NOAUTH too (its text changed across 7.x).
        assert err(c.cmd("HELLO", "3")).startswith("NOAUTH ")
        assert err(c.cmd("FOO")).startswith(("NOAUTH", "ERR unknown command"))


def test_auth_with_wrong_password(auth_server):
    with auth_server.raw() as c:
        assert err(c.cmd("AUTH", "nope")) == WRONGPASS
        assert err(c.cmd("AUTH", "default", "nope")) == WRONGPASS
        assert err(c.cmd("AUTH", "someone", "s3cret")) == WRONGPASS
        assert err(c.cmd("PING")) == NOAUTH


def test_auth_then_commands_work(auth_server, key):
    with auth_server.raw() as c:
        assert c.cmd("AUTH", "s3cret") == b"OK"
        assert c.cmd("PING") == b"PONG"
        assert parse_id(c.cmd("XADD", key(), "1-1", "a", "1")) == (1, 1)
    with auth_server.raw() as c:
        assert c.cmd("AUTH", "default", "s3cret") == b"OK"
        assert c.cmd("XLEN", key()) == 1


def test_hello_with_auth(auth_server):
    with auth_server.raw() as c:
        assert err(c.cmd("HELLO", "3", "AUTH", "default", "bad")) == WRONGPASS
        reply = c.cmd("HELLO", "3", "AUTH", "default", "s3cret")
        assert isinstance(reply, Map) and reply[b"proto"] == 3
        assert c.cmd("PING") == b"PONG"
    with auth_server.raw() as c:
        reply = c.cmd("HELLO", "2", "AUTH", "default", "s3cret", "SETNAME", "n1")
        assert isinstance(reply, list)
        assert c.cmd("CLIENT", "GETNAME") == b"n1"


def test_quit_is_allowed_before_auth(auth_server):
    with auth_server.raw() as c:
        assert c.cmd("QUIT") == b"OK"
        c.wait_closed(5)


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_authenticates(auth_server, protocol, key):
    client = auth_server.client(protocol=protocol)
    assert client.ping() is True
    client.xadd(key(), {"a": "1"})
    assert client.xlen(key()) == 1
    bad = auth_server.client(protocol=protocol, password="wrong")
    with pytest.raises(redis.AuthenticationError):
        bad.ping()


def test_auth_without_configured_password(raw2):
    assert err(raw2.cmd("AUTH", "pw")) == (
        "ERR AUTH <password> called without any password configured for the default user. "
        "Are you sure your configuration is correct?"
    )


# --------------------------------------------------------------------------------------------
# CLIENT
# --------------------------------------------------------------------------------------------


def test_client_setname_getname(r):
    assert r.client_getname() is None
    assert r.client_setname("app-1") is True
    assert text(r.client_getname()) == "app-1"
    assert r.client_setname("") is True  # empty name clears it
    assert r.client_getname() is None


def test_client_setname_rejects_spaces(raw2):
    assert err(raw2.cmd("CLIENT", "SETNAME", "a b")) == (
        "ERR Client names cannot contain spaces, newlines or special characters."
    )
    assert err(raw2.cmd("CLIENT", "SETNAME", "a\nb")) == (
        "ERR Client names cannot contain spaces, newlines or special characters."
    )


def test_client_id_is_unique_and_increasing(server):
    with server.raw() as a, server.raw() as b:
        id_a = a.cmd("CLIENT", "ID")
        id_b = b.cmd("CLIENT", "ID")
        assert isinstance(id_a, int) and isinstance(id_b, int)
        assert id_b > id_a
        assert a.cmd("CLIENT", "ID") == id_a


def _client_line_fields(line: str) -> dict:
    out = {}
    for token in line.strip().split(" "):
        k, _, v = token.partition("=")
        out[k] = v
    return out


def test_client_info(raw):
    raw.cmd("CLIENT", "SETNAME", "info-test")
    reply = raw.cmd("CLIENT", "INFO")
    if raw.protocol == 3:
        assert isinstance(reply, Verbatim) and reply.fmt == b"txt"
    else:
        assert isinstance(reply, bytes) and not isinstance(reply, (Status, Verbatim))
    text = reply.decode()
    assert text.endswith("\n") and text.count("\n") == 1
    fields = _client_line_fields(text)
    assert int(fields["id"]) == raw.cmd("CLIENT", "ID")
    assert fields["name"] == "info-test"
    assert fields["db"] == "0"
    local_port = raw.sock.getsockname()[1]
    assert fields["addr"] == f"127.0.0.1:{local_port}"
    assert fields["resp"] == str(raw.protocol)
    assert fields["cmd"] == "client|info"


def test_client_list_shows_every_connection(server):
    with server.raw() as a, server.raw() as b:
        a.cmd("CLIENT", "SETNAME", "list-a")
        b.cmd("CLIENT", "SETNAME", "list-b")
        ids = {a.cmd("CLIENT", "ID"), b.cmd("CLIENT", "ID")}
        text = a.cmd("CLIENT", "LIST").decode()
        lines = [l for l in text.split("\n") if l]
        parsed = [_client_line_fields(l) for l in lines]
        listed = {int(p["id"]): p for p in parsed}
        assert ids <= set(listed)
        names = {listed[i]["name"] for i in ids}
        assert names == {"list-a", "list-b"}
        for p in parsed:
            assert {"id", "addr", "name", "db", "cmd"} <= set(p)


def test_client_list_through_redis_py(r):
    r.client_setname("py-list")
    entries = r.client_list()
    mine = [e for e in entries if e.get("name") == "py-list"]
    assert len(mine) == 1
    assert int(mine[0]["id"]) == r.client_id()


def test_client_unknown_subcommand(raw2):
    assert err(raw2.cmd("CLIENT", "FOO")).startswith("ERR unknown subcommand 'FOO'")


# --------------------------------------------------------------------------------------------
# SELECT / QUIT
# --------------------------------------------------------------------------------------------


def test_select(raw2, server):
    assert raw2.cmd("SELECT", "0") == b"OK"
    assert err(raw2.cmd("SELECT", "16")) == "ERR DB index is out of range"
    assert err(raw2.cmd("SELECT", "-1")) == "ERR DB index is out of range"
    assert err(raw2.cmd("SELECT", "abc")) == "ERR value is not an integer or out of range"
    assert raw2.cmd("SELECT", "15") == b"OK"
    assert b"db=15" in bytes(raw2.cmd("CLIENT", "INFO"))
    assert raw2.cmd("SELECT", "0") == b"OK"


def test_redis_py_db_zero(server):
    client = server.client(db=0)
    assert client.ping()


def test_quit_replies_ok_then_closes(raw2):
    assert raw2.cmd("QUIT") == b"OK"
    raw2.wait_closed(5)


def test_quit_in_a_pipeline_drops_later_commands(raw2):
    raw2.send(b"PING\r\nQUIT\r\nPING\r\n")
    assert raw2.read_reply() == b"PONG"
    assert raw2.read_reply() == b"OK"
    leftover = raw2.wait_closed(5)
    assert leftover == b""


# --------------------------------------------------------------------------------------------
# COMMAND
# --------------------------------------------------------------------------------------------


def test_command_count(raw2):
    count = raw2.cmd("COMMAND", "COUNT")
    assert isinstance(count, int) and count >= len(COMMAND_TABLE)


@pytest.mark.parametrize("name", sorted(COMMAND_TABLE))
def test_command_info_shape(raw2, name):
    reply = raw2.cmd("COMMAND", "INFO", name)
    assert isinstance(reply, list) and len(reply) == 1
    info = reply[0]
    assert isinstance(info, list) and len(info) == 10, info
    arity, first, last, step = COMMAND_TABLE[name]
    assert info[0] == name.encode()
    assert info[1] == arity
    assert isinstance(info[2], list)  # flags
    assert (info[3], info[4], info[5]) == (first, last, step)
    assert isinstance(info[6], list)  # ACL categories
    assert isinstance(info[7], list)  # tips
    assert isinstance(info[8], list)  # key specs
    assert isinstance(info[9], list)  # subcommands


def test_command_info_unknown_and_several(raw2):
    reply = raw2.cmd("COMMAND", "INFO", "xlen", "nosuchcommand", "XADD")
    assert len(reply) == 3
    assert reply[0][0] == b"xlen"
    assert is_nil(reply[1])
    assert reply[2][0] == b"xadd"


def test_command_lists_every_supported_command(raw2):
    reply = raw2.cmd("COMMAND")
    assert isinstance(reply, list)
    names = {row[0] for row in reply}
    assert {n.encode() for n in COMMAND_TABLE} <= names
    assert len(reply) == raw2.cmd("COMMAND", "COUNT")


def test_command_docs(raw):
    reply = raw.cmd("COMMAND", "DOCS", "xadd")
    entries = pairs(reply)
    assert len(entries) == 1 and entries[0][0] == b"xadd"
    doc = dict(pairs(entries[0][1]))
    assert isinstance(doc[b"summary"], bytes) and doc[b"summary"]
    assert doc[b"group"] == b"stream"
    assert b"since" in doc
    assert pairs(raw.cmd("COMMAND", "DOCS", "nosuchcommand")) == []


def test_command_through_redis_py(r):
    assert r.command_count() >= len(COMMAND_TABLE)


# --------------------------------------------------------------------------------------------
# INFO
# --------------------------------------------------------------------------------------------


def test_info_default_sections(raw2, server):
    text = raw2.cmd("INFO")
    info = parse_info(text)
    for section in ("server", "clients", "memory", "persistence", "stats", "keyspace"):
        assert section in info, f"INFO lacks # {section.capitalize()}"
    srv = info["server"]
    for field in ("redis_version", "redis_mode", "process_id", "tcp_port", "uptime_in_seconds"):
        assert field in srv, field
    assert srv["tcp_port"] == str(server.port)
    assert int(srv["process_id"]) == server.pid
    assert srv["redis_mode"] == "standalone"
    if server.is_spool:
        assert srv["redis_version"] == SPOOL_REDIS_VERSION
        assert srv.get("spool_version"), "INFO server lacks spool_version"
    clients = info["clients"]
    assert int(clients["connected_clients"]) >= 1
    assert int(clients["blocked_clients"]) >= 0
    memory = info["memory"]
    for field in ("used_memory", "used_memory_rss"):
        assert int(memory[field]) > 0, field
    assert "used_memory_human" in memory
    assert int(memory["used_memory_peak"]) >= int(memory["used_memory"])
    # Both allocate through jemalloc (Debian builds Redis with it; spoold links it).
    assert memory["mem_allocator"].startswith("jemalloc-"), memory["mem_allocator"]
    assert info["persistence"]["loading"] == "0"
    stats = info["stats"]
    for field in (
        "total_connections_received",
        "total_commands_processed",
        "instantaneous_ops_per_sec",
        "total_net_input_bytes",
        "total_net_output_bytes",
        "rejected_connections",
    ):
        assert int(stats[field]) >= 0, field


def test_info_single_and_multiple_sections(raw):
    reply = raw.cmd("INFO", "server")
    if raw.protocol == 3:
        assert isinstance(reply, Verbatim) and reply.fmt == b"txt"
    info = parse_info(reply)
    assert list(info) == ["server"]
    info = parse_info(raw.cmd("INFO", "server", "clients"))
    assert set(info) == {"server", "clients"}
    info = parse_info(raw.cmd("INFO", "CLIENTS"))
    assert list(info) == ["clients"]
    assert raw.cmd("INFO", "nosuchsection") == b""


def test_info_stats_count_commands_and_connections(server):
    with server.raw() as c:
        before = parse_info(c.cmd("INFO", "stats"))["stats"]
        for _ in range(10):
            c.cmd("PING")
        with server.raw() as other:
            other.cmd("PING")
        after = parse_info(c.cmd("INFO", "stats"))["stats"]
    assert int(after["total_commands_processed"]) >= int(before["total_commands_processed"]) + 11
    assert int(after["total_connections_received"]) >= int(before["total_connections_received"]) + 1


def test_info_keyspace_counts_streams(start_server):
    srv = start_server()
    c = srv.client(protocol=2)
    assert c.info("keyspace") == {}
    for i in range(3):
        c.xadd(f"ks{i}", {"f": "v"})
    db0 = c.info("keyspace")["db0"]
    assert db0["keys"] == 3
    assert db0["expires"] == 0


def test_info_sections_monitoring_tools_read(raw2, server):
    """Exporters and client test harnesses read role, connected_slaves, master_repl_offset and
    cluster_enabled, and expect Redis's section order."""
    text = raw2.cmd("INFO")
    info = parse_info(text)
    order = [name for name in info if name in
             ("server", "clients", "memory", "persistence", "stats", "replication", "cpu", "cluster", "keyspace")]
    assert order == ["server", "clients", "memory", "persistence", "stats", "replication", "cpu", "cluster", "keyspace"]
    replication = info["replication"]
    assert replication["role"] == "master"
    assert replication["connected_slaves"] == "0"
    assert int(replication["master_repl_offset"]) >= 0
    assert len(replication["master_replid"]) == 40
    assert info["cluster"]["cluster_enabled"] == "0"
    cpu = info["cpu"]
    for field in ("used_cpu_sys", "used_cpu_user", "used_cpu_sys_main_thread", "used_cpu_user_main_thread"):
        assert float(cpu[field]) >= 0, field
    assert float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]) > 0
    server_section = info["server"]
    assert len(server_section["run_id"]) == 40
    assert server_section["arch_bits"] == "64"
    assert int(server_section["server_time_usec"]) > 1_600_000_000 * 1_000_000
    persistence = info["persistence"]
    assert persistence["aof_enabled"] == "1"
    assert persistence["rdb_bgsave_in_progress"] in ("0", "1")
    assert int(persistence["rdb_last_save_time"]) > 1_600_000_000
    assert list(parse_info(raw2.cmd("INFO", "replication"))) == ["replication"]
    assert list(parse_info(raw2.cmd("INFO", "Cluster"))) == ["cluster"]


def test_info_rdb_changes_count_writes(start_server):
    srv = start_server()
    c = srv.client(protocol=2)
    before = c.info("persistence")["rdb_changes_since_last_save"]
    for i in range(3):
        c.xadd("changes", {"f": i})
    c.xlen("changes")
    after = c.info("persistence")["rdb_changes_since_last_save"]
    assert after == before + 3
    db0 = c.info("keyspace")["db0"]
    assert db0["keys"] == 1 and db0["expires"] == 0 and db0["avg_ttl"] == 0


@pytest.mark.spool_only
def test_info_rdb_changes_reset_by_a_checkpoint(start_server):
    """A WiredTiger checkpoint is Spool's save: it covers every write before it."""
    srv = start_server(checkpoint_interval=1)
    c = srv.client(protocol=2)
    saves = c.info("persistence")["rdb_saves"]
    c.xadd("changes", {"f": 1})
    c.xadd("changes", {"f": 2})
    persistence = wait_until(
        lambda: (p := c.info("persistence"))["rdb_saves"] > saves and p["rdb_changes_since_last_save"] == 0 and p,
        timeout=15, what="a checkpoint covering both writes")
    assert persistence["rdb_last_bgsave_status"] == "ok"
    assert abs(persistence["rdb_last_save_time"] - time.time()) < 60


def test_info_through_redis_py(r, server):
    info = r.info()
    assert "redis_version" in info
    assert info["tcp_port"] == server.port
    assert r.info("server")["redis_mode"] == "standalone"


# --------------------------------------------------------------------------------------------
# CONFIG
# --------------------------------------------------------------------------------------------


def test_config_get_defaults(raw2, server):
    assert raw2.cmd("CONFIG", "GET", "maxclients") == [b"maxclients", b"10000"]
    assert raw2.cmd("CONFIG", "GET", "port") == [b"port", str(server.port).encode()]
    assert raw2.cmd("CONFIG", "GET", "bind") == [b"bind", b"127.0.0.1"]
    assert raw2.cmd("CONFIG", "GET", "proto-max-bulk-len") == [b"proto-max-bulk-len", b"536870912"]
    assert raw2.cmd("CONFIG", "GET", "client-query-buffer-limit") == [b"client-query-buffer-limit", b"1073741824"]
    assert raw2.cmd("CONFIG", "GET", "requirepass") == [b"requirepass", b""]
    name, value = raw2.cmd("CONFIG", "GET", "dir")
    assert name == b"dir"
    assert os.path.realpath(value.decode()) == os.path.realpath(server.data_dir)
    if server.is_spool:
        assert raw2.cmd("CONFIG", "GET", "client-output-buffer-limit") == [
            b"client-output-buffer-limit",
            str(64 << 20).encode(),
        ]
        for spool_key in (b"wiredtiger-cache-size", b"checkpoint-interval"):
            got = raw2.cmd("CONFIG", "GET", spool_key)
            assert len(got) == 2 and got[0] == spool_key and got[1], got
        assert raw2.cmd("CONFIG", "GET", "transaction-commands-max") == [b"transaction-commands-max", b"512"]
        assert isinstance(raw2.cmd("CONFIG", "SET", "transaction-commands-max", "64"), ErrorReply)


def test_config_get_resp3_map(raw):
    reply = raw.cmd("CONFIG", "GET", "maxclients")
    if raw.protocol == 3:
        assert isinstance(reply, Map) and reply.items == [(b"maxclients", b"10000")]
    else:
        assert reply == [b"maxclients", b"10000"]


def test_config_get_glob_and_several(raw2):
    got = dict(pairs(raw2.cmd("CONFIG", "GET", "max*")))
    assert got[b"maxclients"] == b"10000"
    assert all(k.startswith(b"max") for k in got)
    got = dict(pairs(raw2.cmd("CONFIG", "GET", "*")))
    assert {b"port", b"bind", b"dir", b"maxclients", b"requirepass", b"proto-max-bulk-len"} <= set(got)
    got = dict(pairs(raw2.cmd("CONFIG", "GET", "port", "maxclients")))
    assert set(got) == {b"port", b"maxclients"}
    got = dict(pairs(raw2.cmd("CONFIG", "GET", "proto-max-bulk-le?")))
    assert set(got) == {b"proto-max-bulk-len"}
    assert pairs(raw2.cmd("CONFIG", "GET", "no-such-parameter")) == []


def test_config_get_through_redis_py(r):
    got = r.config_get("maxclients")
    assert {text(k): text(v) for k, v in got.items()} == {"maxclients": "10000"}


def test_config_set(start_server):
    srv = start_server()
    with srv.raw() as c:
        assert c.cmd("CONFIG", "SET", "maxclients", "50") == b"OK"
        assert c.cmd("CONFIG", "GET", "maxclients") == [b"maxclients", b"50"]
        assert c.cmd("CONFIG", "SET", "proto-max-bulk-len", "2mb") == b"OK"
        assert c.cmd("CONFIG", "GET", "proto-max-bulk-len") == [b"proto-max-bulk-len", b"2097152"]
        assert c.cmd("CONFIG", "SET", "client-query-buffer-limit", "3GB") == b"OK"
        assert c.cmd("CONFIG", "GET", "client-query-buffer-limit") == [b"client-query-buffer-limit", b"3221225472"]
        assert err(c.cmd("CONFIG", "SET", "no-such-parameter", "1")) == (
            "ERR Unknown option or number of arguments for CONFIG SET - 'no-such-parameter'"
        )
        assert err(c.cmd("CONFIG", "SET", "maxclients", "lots")).startswith("ERR ")
        assert c.cmd("CONFIG", "GET", "maxclients") == [b"maxclients", b"50"]
        assert err(c.cmd("CONFIG", "SET", "maxclients")) == "ERR wrong number of arguments for 'config|set' command"
        assert err(c.cmd("CONFIG", "NOPE")).startswith("ERR unknown subcommand 'NOPE'")


def test_config_set_requirepass_applies_to_new_connections(start_server):
    srv = start_server()
    with srv.raw() as c:
        assert c.cmd("CONFIG", "SET", "requirepass", "later") == b"OK"
        assert c.cmd("PING") == b"PONG"  # already-connected clients stay authenticated
    with srv.raw() as c:
        assert err(c.cmd("PING")) == NOAUTH
        assert c.cmd("AUTH", "later") == b"OK"
        assert c.cmd("CONFIG", "SET", "requirepass", "") == b"OK"
    with srv.raw() as c:
        assert c.cmd("PING") == b"PONG"


def test_config_sizes_accept_suffixes_at_startup(start_server):
    srv = start_server(proto_max_bulk_len="1mb", client_query_buffer_limit="2GB", maxclients=77)
    with srv.raw() as c:
        assert c.cmd("CONFIG", "GET", "proto-max-bulk-len") == [b"proto-max-bulk-len", b"1048576"]
        assert c.cmd("CONFIG", "GET", "client-query-buffer-limit") == [b"client-query-buffer-limit", b"2147483648"]
        assert c.cmd("CONFIG", "GET", "maxclients") == [b"maxclients", b"77"]


@pytest.mark.spool_only
def test_spoold_help_names_every_config_key(raw2):
    """`spoold --help` names every key the shipped config file sets (data-dir stands for dir), and
    each of them is a key CONFIG GET knows."""
    text = subprocess.run([SPOOLD, "--help"], check=True, capture_output=True, text=True, timeout=30).stdout
    config = os.path.join(os.path.dirname(__file__), "..", "..", "Config", "spoold.conf")
    with open(config) as f:
        names = [line.split()[0] for line in f if line.strip() and not line.startswith("#")]
    assert "transaction-commands-max" in names and "producer-reorder-wait" in names
    for name in names:
        assert raw2.cmd("CONFIG", "GET", name)[0] == name.encode()
        shown = "--data-dir" if name == "dir" else name
        assert shown in text, f"spoold --help does not mention {name}"


@pytest.mark.spool_only
def test_spool_config_keys_at_startup(start_server):
    srv = start_server(
        wiredtiger_cache_size="64mb",
        checkpoint_interval="1",
        client_output_buffer_limit="2mb",
    )
    with srv.raw() as c:
        assert c.cmd("CONFIG", "GET", "client-output-buffer-limit") == [
            b"client-output-buffer-limit",
            str(2 << 20).encode(),
        ]
        assert c.cmd("CONFIG", "GET", "wiredtiger-cache-size") == [b"wiredtiger-cache-size", str(64 << 20).encode()]
        assert c.cmd("CONFIG", "GET", "checkpoint-interval") == [b"checkpoint-interval", b"1"]
        assert c.cmd("PING") == b"PONG"


@pytest.mark.spool_only
def test_spool_config_file(tmp_path):
    from conftest import Server

    srv = Server(tmp_path / "srv")
    conf = tmp_path / "spool.conf"
    conf.write_text(
        "# Spool test configuration (redis.conf style)\n"
        "maxclients 123\n"
        "proto-max-bulk-len 2mb\n"
    )
    srv.config["config"] = str(conf)
    srv.start()
    try:
        with srv.raw() as c:
            assert c.cmd("CONFIG", "GET", "maxclients") == [b"maxclients", b"123"]
            assert c.cmd("CONFIG", "GET", "proto-max-bulk-len") == [b"proto-max-bulk-len", str(2 << 20).encode()]
    finally:
        assert srv.stop() == 0


@pytest.mark.spool_only
def test_spool_command_line_overrides_config_file(tmp_path):
    from conftest import Server

    srv = Server(tmp_path / "srv", {"maxclients": "55"})
    conf = tmp_path / "spool.conf"
    conf.write_text("maxclients 123\n")
    # --config first, then --maxclients: the command line wins, as with redis-server.
    srv.config = {"config": str(conf), "maxclients": "55"}
    srv.start()
    try:
        with srv.raw() as c:
            assert c.cmd("CONFIG", "GET", "maxclients") == [b"maxclients", b"55"]
    finally:
        srv.stop()


@pytest.mark.spool_only
def test_spool_default_port_and_bind(tmp_path):
    """Without --port, spoold listens on 127.0.0.1:7379."""
    import subprocess

    from conftest import SPOOLD

    probe = socket.socket()
    # As spoold binds (libuv sets SO_REUSEADDR): connections in TIME_WAIT from an earlier server
    # on this port do not count as "in use"; a listener still does.
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("127.0.0.1", 7379))
    except OSError:
        pytest.fail("port 7379 is in use on this machine; the default-port test needs it free")
    finally:
        probe.close()
    data = tmp_path / "data"
    data.mkdir()
    log = open(tmp_path / "spoold.log", "wb")
    proc = subprocess.Popen([SPOOLD, "--data-dir", str(data)], stdout=log, stderr=subprocess.STDOUT)
    try:
        def answers():
            with RawConnection(7379, timeout=1) as c:
                return c.cmd("PING") == b"PONG"

        wait_until(answers, timeout=20, what="spoold on the default port")
        with RawConnection(7379) as c:
            assert c.cmd("CONFIG", "GET", "port") == [b"port", b"7379"]
            assert c.cmd("CONFIG", "GET", "bind") == [b"bind", b"127.0.0.1"]
    finally:
        proc.terminate()
        try:
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            log.close()


@pytest.mark.spool_only
def test_spool_bind_flag_and_dir_config_key(tmp_path):
    """--bind is honoured and the data directory can also be given as the config key --dir."""
    from conftest import Server

    srv = Server(tmp_path / "srv", {"bind": "127.0.0.1"})
    srv.data_dir_flag = "--dir"
    srv.start()
    try:
        with srv.raw() as c:
            assert c.cmd("CONFIG", "GET", "bind") == [b"bind", b"127.0.0.1"]
            name, value = c.cmd("CONFIG", "GET", "dir")
            assert os.path.realpath(value.decode()) == os.path.realpath(srv.data_dir)
            c.cmd("XADD", "kept", "1-1", "f", "v")
        assert srv.stop() == 0
        assert any(srv.data_dir.iterdir()), "spoold wrote nothing into --dir"
        srv.start()
        with srv.raw() as c:
            assert c.cmd("XLEN", "kept") == 1
    finally:
        srv.stop()


# --------------------------------------------------------------------------------------------
# Inline commands
# --------------------------------------------------------------------------------------------


def test_inline_ping_and_xadd(raw2, key):
    assert raw2.inline(b"PING\r\n") == b"PONG"
    entry_id = raw2.inline(b"XADD " + key() + b" * a 1\r\n")
    assert isinstance(entry_id, bytes) and not isinstance(entry_id, Status)
    parse_id(entry_id)
    assert raw2.cmd("XRANGE", key(), "-", "+") == [[entry_id, [b"a", b"1"]]]
    assert raw2.inline(b"XLEN " + key() + b"\r\n") == 1


def test_inline_quoting_and_line_endings(raw2):
    assert raw2.inline(b'ECHO "hello world"\r\n') == b"hello world"
    assert raw2.inline(b"ECHO 'single quoted'\r\n") == b"single quoted"
    assert raw2.inline(b'ECHO "\\x41\\n"\r\n') == b"A\n"
    assert raw2.inline(b"PING\n") == b"PONG"
    assert raw2.inline(b"   PING   \r\n") == b"PONG"
    # Empty lines are skipped.
    assert raw2.inline(b"\r\n\r\nPING\r\n") == b"PONG"


def test_inline_and_multibulk_mixed_in_one_write(raw2, key):
    k = key()
    raw2.send(b"PING\r\n" + encode_command("XADD", k, "1-1", "f", "v") + b"XLEN " + k + b"\r\n" + encode_command("ECHO", "x"))
    assert raw2.read_reply() == b"PONG"
    assert raw2.read_reply() == b"1-1"
    assert raw2.read_reply() == 1
    assert raw2.read_reply() == b"x"


def test_inline_unbalanced_quotes_is_a_protocol_error(raw2):
    raw2.send(b'ECHO "abc\r\n')
    assert err(raw2.read_reply()) == "ERR Protocol error: unbalanced quotes in request"
    raw2.wait_closed(5)


# --------------------------------------------------------------------------------------------
# Pipelining
# --------------------------------------------------------------------------------------------


def test_raw_pipeline_of_10k_mixed_commands_keeps_order(server, key):
    k = key()
    commands = []
    for i in range(10_000):
        kind = i % 4
        if kind == 0:
            commands.append(("XADD", k, "*", "i", str(i)))
        elif kind == 1:
            commands.append(("PING",))
        elif kind == 2:
            commands.append(("XLEN", k))
        else:
            commands.append(("ECHO", f"e{i}"))
    payload = b"".join(encode_command(*c) for c in commands)
    with server.raw(timeout=30) as c:
        errors = []

        def sender():
            try:
                c.send(payload)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        replies = [c.read_reply() for _ in commands]
        t.join(30)
        assert not errors
        added = 0
        last_id = (0, 0)
        for i, (command, reply) in enumerate(zip(commands, replies)):
            name = command[0]
            if name == "XADD":
                entry = parse_id(reply)
                assert entry > last_id, f"reply {i}: ids not increasing"
                last_id = entry
                added += 1
            elif name == "PING":
                assert reply == b"PONG", f"reply {i}: {reply!r}"
            elif name == "XLEN":
                assert reply == added, f"reply {i}: XLEN {reply!r}, expected {added}"
            else:
                assert reply == command[1].encode(), f"reply {i}: {reply!r}"
        assert c.cmd("XLEN", k) == 2500
        got = c.cmd("XRANGE", k, "-", "+")
        assert [int(e[1][1]) for e in got] == list(range(0, 10_000, 4))


def test_very_deep_pipeline_is_answered_in_order(server):
    """100k pipelined commands, far deeper than any per-client reply budget: the server may
    pause reading from us, but must answer everything, in order, while we keep reading."""
    total = 100_000
    payload = b"".join(encode_command("ECHO", str(i)) for i in range(total))
    with server.raw(timeout=30) as c:
        errors = []

        def sender():
            try:
                c.send(payload)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        for i in range(total):
            reply = c.read_reply()
            if reply != str(i).encode():
                pytest.fail(f"reply {i} is {reply!r}")
        t.join(30)
        assert not errors
        assert c.cmd("PING") == b"PONG"


def test_raw_pipeline_with_errors_in_the_middle(raw2, key):
    k = key()
    replies = raw2.pipeline(
        [
            ("XADD", k, "5-1", "a", "1"),
            ("XADD", k, "5-1", "a", "2"),  # equal id: error
            ("NOSUCH",),
            ("XADD", k, "5-2", "a", "3"),
            ("XLEN", k),
        ]
    )
    assert replies[0] == b"5-1"
    assert err(replies[1]) == "ERR The ID specified in XADD is equal or smaller than the target stream top item"
    assert err(replies[2]).startswith("ERR unknown command 'NOSUCH'")
    assert replies[3] == b"5-2"
    assert replies[4] == 2


def test_redis_py_pipeline_without_transaction(r, key):
    k = key()
    pipe = r.pipeline(transaction=False)
    for i in range(2000):
        if i % 2 == 0:
            pipe.xadd(k, {"i": str(i)})
        else:
            pipe.xlen(k)
    results = pipe.execute()
    assert len(results) == 2000
    ids = [parse_id(x) for x in results[0::2]]
    assert ids == sorted(ids) and len(set(ids)) == 1000
    assert results[1::2] == list(range(1, 1001))
    assert r.xlen(k) == 1000


def test_pipelined_replies_are_not_split_across_clients(server, key):
    """Several connections pipelining at once each get exactly their own replies, in order."""
    k = key()
    results = {}
    errors = []

    def worker(n):
        try:
            with server.raw(timeout=30) as c:
                cmds = []
                for i in range(500):
                    cmds.append(("XADD", k, "*", "w", str(n), "i", str(i)))
                    cmds.append(("ECHO", f"{n}:{i}"))
                replies = c.pipeline(cmds)
                results[n] = replies
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for n, replies in results.items():
        for i in range(500):
            parse_id(replies[2 * i])
            assert replies[2 * i + 1] == f"{n}:{i}".encode()
    with server.raw() as c:
        entries = c.cmd("XRANGE", k, "-", "+")
        assert len(entries) == 2000
        for n in range(4):
            mine = [int(e[1][3]) for e in entries if e[1][1] == str(n).encode()]
            assert mine == list(range(500)), f"worker {n} entries out of order"


def test_ipv6_bind_and_peers(start_server):
    """Bound to ::1, clients connect over IPv6 and CLIENT LIST writes addresses as Redis does:
    [host]:port."""
    srv = start_server(start=False, bind="::1")
    srv.host = "::1"
    srv.start()
    client = redis.Redis(host="::1", port=srv.port)
    try:
        assert client.xadd("s", {"f": "v"})
        info = client.execute_command("CLIENT", "INFO")
        info = info.decode() if isinstance(info, bytes) else info
        fields = dict(part.split("=", 1) for part in info.split() if "=" in part)
        assert fields["addr"].startswith("[::1]:"), info
        assert fields["laddr"] == f"[::1]:{srv.port}", info
        assert client.xlen("s") == 1
    finally:
        client.close()
