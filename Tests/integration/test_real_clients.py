"""Real third-party Redis clients, each running the same realistic streams scenario.

Clients (installed by Tools/install-deps.sh; `client_versions()` reports what is installed):

- node-redis     Debian's node-redis 4.x (`redis` + `@redis/client`), run with `node`
                 (clients/node_streams.js; NODE_PATH=/usr/share/nodejs)
- ruby-redis     Debian's ruby-redis 4.8 (redis-rb), run with `ruby` (clients/ruby_streams.rb)
- hiredis        Debian's libhiredis-dev (C, RESP2), compiled with `cc $(pkg-config ... hiredis)`
                 into a temporary directory once per session (clients/hiredis_streams.c)
- redis-py       sync client with protocol=2 and redis.asyncio with protocol=3, each with the
                 hiredis parser and with redis-py's pure-Python parser (in this process)
- FastStream     `faststream[redis]` from PyPI: a RedisBroker application with two stream
                 subscribers in one consumer group and a stream publisher
                 (clients/faststream_streams.py, run with this Python)

The scenario, adapted to what each client offers:

1. publish 1000 entries (fields seq, payload, tag — the tag has non-ASCII bytes and quotes) to a
   fresh stream with XADD '*', pipelined where the client pipelines; XLEN is 1000 and XRANGE - +
   returns them in publish order with the same fields in the same order;
2. a consumer group with two consumers on their own connections reads with XREADGROUP
   (COUNT 25, BLOCK 100) and XACKs everything, until all 1000 are acked exactly once across the
   two; XPENDING (summary) is then empty, and XINFO GROUPS / XINFO CONSUMERS, parsed by the
   client's own typed helper where it has one (node-redis xInfoGroups, redis-rb xinfo(:groups),
   redis-py xinfo_groups), show the group fully read; a second XACK of an acked id returns 0;
3. replay from the 500th id: XRANGE "(id" + paged with COUNT 100, and XREAD from the id, return
   exactly the 500 later entries, in order (FastStream: a group-less subscriber with last_id).

Every external script takes PORT and KEY_PREFIX, prints one JSON object, or exits non-zero with
its reason on stderr. After each run this module also reads the stream back with redis-py to
check that the server holds what the client reported.

Run against Spool (default) or redis-server (SPOOL_TEST_TARGET=redis): both must pass.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest
import redis
import redis.asyncio
import redis.asyncio.connection
import redis.connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from helpers import version_tuple, xinfo_stream_keys

CLIENTS_DIR = Path(__file__).resolve().parent / "clients"
N = 1000
HALF = N // 2
GROUP = "billing"
READ_COUNT = 25
BLOCK_MS = 100
SCRIPT_TIMEOUT = 100.0  # below conftest's per-test limit (120 s), so a hang reports its output
NODE_PATH = os.environ.get("SPOOL_TEST_NODE_PATH", "/usr/share/nodejs:/usr/lib/nodejs")
TAG = 'é✓ "q" sp'

# Redis's plain XINFO GROUPS keys, in Redis's order (docs/protocol.md: Spool replies with exactly
# these; strict clients reject unknown keys). XINFO STREAM's depend on the version (helpers).
XINFO_GROUPS_KEYS = ["name", "consumers", "pending", "last-delivered-id", "entries-read", "lag"]


def entry_fields(i: int) -> List[Tuple[str, str]]:
    """The fields of entry i, in order, as every client script writes them."""
    return [("seq", str(i)), ("payload", f"order-{i}:" + "x" * (i % 17)), ("tag", TAG)]


# --------------------------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------------------------


def _run_quiet(argv: Sequence[str], env: Optional[Dict[str, str]] = None) -> Optional[str]:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=30, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None


def _dist_version(name: str) -> Optional[str]:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _node_env() -> Dict[str, str]:
    env = dict(os.environ)
    env["NODE_PATH"] = NODE_PATH + (":" + env["NODE_PATH"] if env.get("NODE_PATH") else "")
    return env


@functools.lru_cache(maxsize=1)
def client_versions() -> Dict[str, Optional[str]]:
    """The version of each client library (and runtime) these tests drive; None if missing."""
    versions: Dict[str, Optional[str]] = {}
    node_script = (
        "const v = (p) => { try { return require(p).version } catch (e) { return '' } };"
        "console.log(JSON.stringify({redis: v('redis/package.json'), client: v('@redis/client/package.json'),"
        " node: process.version}))"
    )
    node = _run_quiet(["node", "-e", node_script], env=_node_env())
    node_info = json.loads(node) if node else {}
    versions["node-redis"] = node_info.get("redis") or None
    versions["node-redis @redis/client"] = node_info.get("client") or None
    versions["node"] = node_info.get("node") or None
    versions["ruby-redis"] = _run_quiet(["ruby", "-e", 'require "redis"; print Redis::VERSION'])
    versions["ruby"] = _run_quiet(["ruby", "-e", "print RUBY_VERSION"])
    versions["hiredis (C)"] = _run_quiet(["pkg-config", "--modversion", "hiredis"])
    versions["redis-py"] = _dist_version("redis")
    versions["hiredis-py"] = _dist_version("hiredis")
    versions["faststream"] = _dist_version("faststream")
    return versions


def test_client_versions(record_property):
    versions = client_versions()
    for name, version in versions.items():
        record_property(name, version)
    print("real clients: " + ", ".join(f"{name} {version}" for name, version in versions.items()))
    missing = [name for name, version in versions.items() if not version]
    assert not missing, f"missing clients {missing}: run Tools/install-deps.sh"


# --------------------------------------------------------------------------------------------
# Running the external scripts
# --------------------------------------------------------------------------------------------


def run_script(argv: Sequence[str], env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """Runs a client script; returns its JSON, or fails the test with its exit status and stderr."""
    started = time.monotonic()
    try:
        proc = subprocess.run(list(argv), capture_output=True, timeout=SCRIPT_TIMEOUT, env=env)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"{argv[0]} did not finish within {SCRIPT_TIMEOUT}s\n"
            f"stderr:\n{(exc.stderr or b'').decode(errors='replace')[-4000:]}"
        )
    stderr = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, (
        f"{' '.join(map(str, argv))} exited {proc.returncode} after {time.monotonic() - started:.1f}s\n"
        f"stderr:\n{stderr[-6000:]}\nstdout:\n{proc.stdout.decode(errors='replace')[-2000:]}"
    )
    try:
        return json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"{argv[0]} printed no JSON:\n{proc.stdout.decode(errors='replace')[-2000:]}\nstderr:\n{stderr[-2000:]}")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run Tools/install-deps.sh")
    return path


@pytest.fixture(scope="session")
def hiredis_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """clients/hiredis_streams.c compiled against the system's libhiredis."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("no C compiler (cc/gcc): run Tools/install-deps.sh")
    flags = _run_quiet(["pkg-config", "--cflags", "--libs", "hiredis"])
    if flags is None:
        pytest.fail("pkg-config does not know hiredis (libhiredis-dev): run Tools/install-deps.sh")
    out = tmp_path_factory.mktemp("hiredis") / "hiredis_streams"
    proc = subprocess.run(
        [cc, "-O1", "-Wall", "-Werror", "-o", str(out), str(CLIENTS_DIR / "hiredis_streams.c"), *flags.split()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"compiling hiredis_streams.c failed:\n{proc.stderr}"
    return out


# --------------------------------------------------------------------------------------------
# Checks shared by every client
# --------------------------------------------------------------------------------------------


def parse_id(entry_id: str) -> Tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)


def check_ids(ids: List[str]) -> None:
    assert len(ids) == N, f"{len(ids)} XADD replies"
    parsed = [parse_id(i) for i in ids]
    out_of_order = [(a, b) for a, b in zip(ids, ids[1:]) if parse_id(a) >= parse_id(b)]
    assert not out_of_order, f"XADD ids not strictly increasing: {out_of_order[:3]}"
    assert parsed[0] > (0, 0)


def as_pairs(fields: Any) -> List[Tuple[str, str]]:
    """Fields as a client reported them (an ordered object, or a flat list) as ordered pairs."""
    if isinstance(fields, dict):
        return [(k, v) for k, v in fields.items()]
    assert isinstance(fields, list) and len(fields) % 2 == 0, fields
    return list(zip(fields[0::2], fields[1::2]))


def check_range(ids: List[str], range_reply: List[Any]) -> None:
    got_ids = [entry[0] for entry in range_reply]
    assert got_ids == ids, "XRANGE - + did not return the published ids in order"
    for i, (entry_id, fields) in enumerate(range_reply):
        assert as_pairs(fields) == entry_fields(i), f"entry {i} ({entry_id}) has fields {fields!r}"


def check_delivered(ids: List[str], delivered: Dict[str, List[str]], require_both: bool = True) -> None:
    counts = {name: len(got) for name, got in delivered.items()}
    every = [entry_id for got in delivered.values() for entry_id in got]
    duplicates = sorted({i for i in every if every.count(i) > 1}) if len(every) != len(set(every)) else []
    assert not duplicates, f"delivered (and acked) more than once: {duplicates[:5]} (counts {counts})"
    assert set(every) == set(ids), f"delivered {len(set(every))} of {N} distinct ids (counts {counts})"
    for name, got in delivered.items():
        assert got == sorted(got, key=parse_id), f"{name} got entries out of order"
    if require_both:
        assert all(counts.values()), f"one consumer got nothing: {counts}"


def check_xinfo_groups_pairs(groups: List[Dict[str, Any]], ids: List[str], consumers: int = 2) -> None:
    """XINFO GROUPS as an ordered key -> value mapping per group (redis-rb, hiredis, redis-py)."""
    assert len(groups) == 1, groups
    (group,) = groups
    assert list(group) == XINFO_GROUPS_KEYS, f"XINFO GROUPS keys {list(group)}, Redis has {XINFO_GROUPS_KEYS}"
    assert group == {
        "name": GROUP, "consumers": consumers, "pending": 0, "last-delivered-id": ids[-1],
        "entries-read": N, "lag": 0,
    }


def check_xinfo_stream_pairs(info: Dict[str, Any], ids: List[str], server) -> None:
    """XINFO STREAM (taken before the group existed) as an ordered mapping (redis-rb, hiredis)."""
    client = server.client(protocol=2)
    version = version_tuple(client.info("server")["redis_version"])
    client.close()
    expected = xinfo_stream_keys(version)
    assert list(info) == expected, f"XINFO STREAM keys {list(info)}, Redis {version} has {expected}"
    assert info["length"] == N and info["groups"] == 0 and info["entries-added"] == N
    assert info["last-generated-id"] == ids[-1] and info["recorded-first-entry-id"] == ids[0]
    assert info["max-deleted-entry-id"] == "0-0"
    first_id, first_fields = info["first-entry"]
    last_id, last_fields = info["last-entry"]
    assert (first_id, as_pairs(first_fields)) == (ids[0], entry_fields(0))
    assert (last_id, as_pairs(last_fields)) == (ids[-1], entry_fields(N - 1))


def check_replay(ids: List[str], replay: Dict[str, Any]) -> None:
    assert replay["from"] == ids[HALF - 1]
    assert replay["xrange_exclusive_paged"] == ids[HALF:], (
        f"XRANGE ({replay['from']} + paged: {len(replay['xrange_exclusive_paged'])} ids, "
        f"first {replay['xrange_exclusive_paged'][:1]}, want {len(ids[HALF:])} from {ids[HALF]}"
    )
    assert replay["pages"] == HALF // 100
    assert replay["xread"] == ids[HALF:], (
        f"XREAD from {replay['from']}: {len(replay['xread'])} ids, first {replay['xread'][:1]}, want from {ids[HALF]}"
    )


def check_server_state(server, stream: str, ids: List[str], consumers: Sequence[str]) -> None:
    """Reads the stream back with redis-py: the server holds what the client reported."""
    r = server.client(protocol=2, decode_responses=True)
    try:
        assert r.xlen(stream) == N
        stored = r.xrange(stream, "-", "+")
        assert [entry_id for entry_id, _ in stored] == ids
        assert all(list(fields.items()) == entry_fields(i) for i, (_, fields) in enumerate(stored))
        assert r.xpending(stream, GROUP) == {"pending": 0, "min": None, "max": None, "consumers": []}
        (group,) = r.xinfo_groups(stream)
        # Values only: the exact key list is checked where a client's own parser keeps it.
        assert {k: group.get(k) for k in XINFO_GROUPS_KEYS} == {
            "name": GROUP, "consumers": len(consumers), "pending": 0, "last-delivered-id": ids[-1],
            "entries-read": N, "lag": 0,
        }
        assert sorted((c["name"], c["pending"]) for c in r.xinfo_consumers(stream, GROUP)) == [
            (name, 0) for name in sorted(consumers)
        ]
    finally:
        r.close()


def check_common(result: Dict[str, Any], server, stream: str) -> None:
    assert result["stream"] == stream
    ids = result["ids"]
    check_ids(ids)
    assert result["xlen"] == N
    check_range(ids, result["range"])
    group = result["group"]
    check_delivered(ids, group["delivered"])
    assert group["xack_sum"] == N
    assert group["reack"] == 0, "XACK of an already acked id must return 0"
    assert sorted(group["xinfo_consumers"], key=lambda c: c["name"]) == [
        {"name": "c1", "pending": 0}, {"name": "c2", "pending": 0},
    ]
    check_replay(ids, result["replay"])
    check_server_state(server, stream, ids, ["c1", "c2"])


# --------------------------------------------------------------------------------------------
# node-redis
# --------------------------------------------------------------------------------------------


def test_node_redis(server, key):
    node = require_tool("node")
    prefix = key("rc-node").decode()
    result = run_script([node, str(CLIENTS_DIR / "node_streams.js"), str(server.port), prefix], env=_node_env())
    assert result["client"] == "node-redis"
    check_common(result, server, f"{prefix}:orders")
    ids = result["ids"]
    info = result["xinfo_stream"]
    assert info["length"] == N and info["groups"] == 0 and info["lastGeneratedId"] == ids[-1]
    assert info["firstEntry"]["id"] == ids[0] and as_pairs(info["firstEntry"]["message"]) == entry_fields(0)
    assert info["lastEntry"]["id"] == ids[-1] and as_pairs(info["lastEntry"]["message"]) == entry_fields(N - 1)
    group = result["group"]
    assert group["created"] == "OK"
    assert group["pending_summary"] == {"pending": 0, "firstId": None, "lastId": None, "consumers": None}
    # node-redis 4 maps XINFO GROUPS by position (name, consumers, pending, last-delivered-id).
    assert group["xinfo_groups"] == [{"name": GROUP, "consumers": 2, "pending": 0, "lastDeliveredId": ids[-1]}]
    first = result["replay"]["xread_first"]
    assert first["id"] == ids[HALF] and as_pairs(first["message"]) == entry_fields(HALF)


# --------------------------------------------------------------------------------------------
# ruby-redis
# --------------------------------------------------------------------------------------------


def test_ruby_redis(server, key):
    ruby = require_tool("ruby")
    prefix = key("rc-ruby").decode()
    result = run_script([ruby, str(CLIENTS_DIR / "ruby_streams.rb"), str(server.port), prefix])
    assert result["client"] == "ruby-redis"
    check_common(result, server, f"{prefix}:orders")
    ids = result["ids"]
    check_xinfo_stream_pairs(result["xinfo_stream"], ids, server)
    group = result["group"]
    assert group["created"] == "OK"
    assert group["pending_summary"] == {"size": 0, "min_entry_id": None, "max_entry_id": None, "consumers": {}}
    check_xinfo_groups_pairs(group["xinfo_groups"], ids)


# --------------------------------------------------------------------------------------------
# hiredis (C)
# --------------------------------------------------------------------------------------------


def test_hiredis_c(server, key, hiredis_binary):
    prefix = key("rc-hiredis").decode()
    result = run_script([str(hiredis_binary), str(server.port), prefix])
    assert result["client"] == "hiredis"
    check_common(result, server, f"{prefix}:orders")
    ids = result["ids"]
    check_xinfo_stream_pairs(result["xinfo_stream"], ids, server)
    group = result["group"]
    assert group["pending_summary"] == [0, None, None, None]
    check_xinfo_groups_pairs(group["xinfo_groups"], ids)


# --------------------------------------------------------------------------------------------
# redis-py: sync RESP2 and asyncio RESP3, hiredis and pure-Python parsers
# --------------------------------------------------------------------------------------------


def _stream_entries(reply: Any, stream: str) -> List[Tuple[str, Dict[str, str]]]:
    """The entries of `stream` in an XREAD/XREADGROUP reply as redis-py parsed it (RESP2: a list
    of [name, entries]; RESP3: a dict name -> [entries])."""
    if not reply:
        return []
    if isinstance(reply, dict):
        assert list(reply) == [stream], f"reply for streams {list(reply)}"
        (wrapped,) = reply.values()  # redis-py's RESP3 shape: {name: [[(id, fields), ...]]}
        assert len(wrapped) == 1, wrapped
        return [(entry_id, fields) for entry_id, fields in wrapped[0]]
    assert len(reply) == 1 and reply[0][0] == stream, f"reply for streams {[s[0] for s in reply]}"
    return [(entry_id, fields) for entry_id, fields in reply[0][1]]


def _check_delivery(name: str, entries: List[Tuple[str, Dict[str, str]]]) -> None:
    assert len(entries) <= READ_COUNT, f"{name}: XREADGROUP COUNT {READ_COUNT} returned {len(entries)}"
    for entry_id, fields in entries:
        assert list(fields.items()) == entry_fields(int(fields["seq"])), f"{name}: {entry_id} has {fields}"


def _replay_sync(r: redis.Redis, stream: str, ids: List[str], deadline: float) -> Dict[str, Any]:
    start = f"({ids[HALF - 1]}"
    paged: List[str] = []
    pages = 0
    while time.monotonic() < deadline:
        page = r.xrange(stream, min=start, max="+", count=100)
        if not page:
            break
        pages += 1
        paged += [entry_id for entry_id, _ in page]
        start = f"({page[-1][0]}"
    xread = [entry_id for entry_id, _ in _stream_entries(r.xread({stream: ids[HALF - 1]}, count=N), stream)]
    return {"from": ids[HALF - 1], "xrange_exclusive_paged": paged, "pages": pages, "xread": xread}


def run_redis_py_sync(server, stream: str, parser: Any) -> Dict[str, Any]:
    deadline = time.monotonic() + 60
    clients = []

    def connect() -> redis.Redis:
        client = server.client(protocol=2, parser_class=parser, decode_responses=True)
        clients.append(client)
        return client

    r = connect()
    assert r.exists(stream) == 0
    ids: List[str] = []
    for base in range(0, N, 200):
        with r.pipeline(transaction=False) as pipe:
            for i in range(base, base + 200):
                pipe.xadd(stream, dict(entry_fields(i)))
            ids += pipe.execute()
    result: Dict[str, Any] = {"stream": stream, "ids": ids, "xlen": r.xlen(stream)}
    result["range"] = [[entry_id, fields] for entry_id, fields in r.xrange(stream, "-", "+")]
    assert r.xgroup_create(stream, GROUP, id="0") is True

    delivered: Dict[str, List[str]] = {"c1": [], "c2": []}
    totals = {"acked": 0, "xack_sum": 0}
    lock = threading.Lock()
    errors: List[BaseException] = []
    # Both consumers are connected before either reads, so the group really has two readers.
    consumer_clients = {name: connect() for name in delivered}
    for client in consumer_clients.values():
        client.ping()

    def consume(name: str) -> None:
        client = consumer_clients[name]
        try:
            while True:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{name}: timed out with {totals['acked']}/{N} acked")
                reply = client.xreadgroup(GROUP, name, {stream: ">"}, count=READ_COUNT, block=BLOCK_MS)
                entries = _stream_entries(reply, stream)
                if not entries:
                    with lock:
                        if totals["acked"] >= N:
                            return
                    continue
                _check_delivery(name, entries)
                batch = [entry_id for entry_id, _ in entries]
                n = client.xack(stream, GROUP, *batch)
                assert n == len(batch), f"{name}: XACK of {len(batch)} ids returned {n}"
                with lock:
                    delivered[name] += batch
                    totals["acked"] += len(batch)
                    totals["xack_sum"] += n
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=consume, args=(name,), daemon=True) for name in delivered]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()) + 5)
        assert not any(thread.is_alive() for thread in threads), "a consumer thread did not finish"
        if errors:
            raise errors[0]
        result["group"] = {
            "delivered": delivered,
            "xack_sum": totals["xack_sum"],
            "reack": r.xack(stream, GROUP, ids[0]),
            "pending_summary": r.xpending(stream, GROUP),
            "xinfo_groups": r.xinfo_groups(stream),
            "xinfo_consumers": [{"name": c["name"], "pending": c["pending"]} for c in r.xinfo_consumers(stream, GROUP)],
        }
        result["replay"] = _replay_sync(r, stream, ids, deadline)
    finally:
        for client in clients:
            client.close()
    return result


async def run_redis_py_async(port: int, stream: str, parser: Any) -> Dict[str, Any]:
    deadline = time.monotonic() + 60
    clients: List[redis.asyncio.Redis] = []

    def connect() -> redis.asyncio.Redis:
        pool = redis.asyncio.ConnectionPool(
            host="127.0.0.1", port=port, protocol=3, decode_responses=True, parser_class=parser,
            socket_timeout=10, socket_connect_timeout=5, retry=Retry(NoBackoff(), 0),
        )
        client = redis.asyncio.Redis(connection_pool=pool)
        client.auto_close_connection_pool = True
        clients.append(client)
        return client

    r = connect()
    try:
        assert await r.exists(stream) == 0
        ids: List[str] = []
        for base in range(0, N, 200):
            async with r.pipeline(transaction=False) as pipe:
                for i in range(base, base + 200):
                    pipe.xadd(stream, dict(entry_fields(i)))
                ids += await pipe.execute()
        result: Dict[str, Any] = {"stream": stream, "ids": ids, "xlen": await r.xlen(stream)}
        result["range"] = [[entry_id, fields] for entry_id, fields in await r.xrange(stream, "-", "+")]
        assert await r.xgroup_create(stream, GROUP, id="0") is True

        delivered: Dict[str, List[str]] = {"c1": [], "c2": []}
        totals = {"acked": 0, "xack_sum": 0}

        consumer_clients = {name: connect() for name in delivered}
        for client in consumer_clients.values():
            await client.ping()

        async def consume(name: str) -> None:
            client = consumer_clients[name]
            while True:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{name}: timed out with {totals['acked']}/{N} acked")
                reply = await client.xreadgroup(GROUP, name, {stream: ">"}, count=READ_COUNT, block=BLOCK_MS)
                entries = _stream_entries(reply, stream)
                if not entries:
                    if totals["acked"] >= N:
                        return
                    continue
                _check_delivery(name, entries)
                batch = [entry_id for entry_id, _ in entries]
                n = await client.xack(stream, GROUP, *batch)
                assert n == len(batch), f"{name}: XACK of {len(batch)} ids returned {n}"
                delivered[name] += batch
                totals["acked"] += len(batch)
                totals["xack_sum"] += n

        await asyncio.wait_for(
            asyncio.gather(consume("c1"), consume("c2")), timeout=max(0.1, deadline - time.monotonic()) + 5
        )
        result["group"] = {
            "delivered": delivered,
            "xack_sum": totals["xack_sum"],
            "reack": await r.xack(stream, GROUP, ids[0]),
            "pending_summary": await r.xpending(stream, GROUP),
            "xinfo_groups": await r.xinfo_groups(stream),
            "xinfo_consumers": [
                {"name": c["name"], "pending": c["pending"]} for c in await r.xinfo_consumers(stream, GROUP)
            ],
        }
        start = f"({ids[HALF - 1]}"
        paged: List[str] = []
        pages = 0
        while time.monotonic() < deadline:
            page = await r.xrange(stream, min=start, max="+", count=100)
            if not page:
                break
            pages += 1
            paged += [entry_id for entry_id, _ in page]
            start = f"({page[-1][0]}"
        xread = _stream_entries(await r.xread({stream: ids[HALF - 1]}, count=N), stream)
        result["replay"] = {
            "from": ids[HALF - 1], "xrange_exclusive_paged": paged, "pages": pages,
            "xread": [entry_id for entry_id, _ in xread],
        }
        return result
    finally:
        for client in clients:
            await client.aclose()


def _check_redis_py(result: Dict[str, Any], server) -> None:
    check_common(result, server, result["stream"])
    group = result["group"]
    assert group["pending_summary"] == {"pending": 0, "min": None, "max": None, "consumers": []}
    check_xinfo_groups_pairs(group["xinfo_groups"], result["ids"])


SYNC_PARSERS = {"hiredis": redis.connection._HiredisParser, "python": redis.connection._RESP2Parser}
ASYNC_PARSERS = {"hiredis": redis.asyncio.connection._AsyncHiredisParser, "python": redis.asyncio.connection._AsyncRESP3Parser}


@pytest.mark.parametrize("parser", list(SYNC_PARSERS))
def test_redis_py_sync_resp2(server, key, parser):
    stream = key(f"rc-py-sync-{parser}").decode() + ":orders"
    _check_redis_py(run_redis_py_sync(server, stream, SYNC_PARSERS[parser]), server)


@pytest.mark.parametrize("parser", list(ASYNC_PARSERS))
def test_redis_py_asyncio_resp3(server, key, parser):
    stream = key(f"rc-py-async-{parser}").decode() + ":orders"
    _check_redis_py(asyncio.run(run_redis_py_async(server.port, stream, ASYNC_PARSERS[parser])), server)


# --------------------------------------------------------------------------------------------
# FastStream
# --------------------------------------------------------------------------------------------


def test_faststream_stream_group(server, key):
    if _dist_version("faststream") is None:
        pytest.fail("faststream is not installed: run Tools/install-deps.sh")
    prefix = key("rc-faststream").decode()
    stream = f"{prefix}:orders"
    result = run_script([sys.executable, str(CLIENTS_DIR / "faststream_streams.py"), str(server.port), prefix])
    assert result["client"] == "faststream" and result["stream"] == stream
    ids = result["ids"]
    check_ids(ids)
    assert result["xlen"] == N
    group = result["group"]
    # FastStream stores its own envelope per entry; each handler call reports (stream id, seq).
    handled = {name: [tuple(item) for item in got] for name, got in group["handled"].items()}
    check_delivered(ids, {name: [entry_id for entry_id, _ in got] for name, got in handled.items()}, require_both=False)
    by_id = dict(zip(ids, range(N)))
    wrong = [(entry_id, seq) for got in handled.values() for entry_id, seq in got if by_id[entry_id] != seq]
    assert not wrong, f"handlers saw the wrong message for these ids: {wrong[:5]}"
    assert group["pending_summary"] == {"pending": 0, "min": None, "max": None}
    assert group["pending_consumers"] == []
    check_xinfo_groups_pairs(group["xinfo_groups"], ids)
    assert sorted(group["xinfo_consumers"], key=lambda c: c["name"]) == [
        {"name": "worker-1", "pending": 0}, {"name": "worker-2", "pending": 0},
    ]
    assert result["replay"]["from"] == ids[HALF - 1]
    assert [tuple(item) for item in result["replay"]["subscriber"]] == [(ids[i], i) for i in range(HALF, N)]
    # FastStream cancels its read tasks and closes its pool without waiting: a subscriber blocked
    # in XREADGROUP may log "Message fetch error" for its own closed socket (seen against both
    # servers). Anything else logged while stopping is a failure.
    unexpected = [e for e in result["shutdown_log_errors"] if not e.startswith("Message fetch error: ConnectionError")]
    assert not unexpected, unexpected

    r = server.client(protocol=2)  # bytes: FastStream's envelope is binary
    assert r.xlen(stream) == N
    assert [entry_id.decode() for entry_id, _ in r.xrange(stream, "-", "+")] == ids
    assert r.xpending(stream, GROUP)["pending"] == 0


# --------------------------------------------------------------------------------------------
# redis-py's Redis 8.x stream API: XNACK, XREADGROUP CLAIM, XACKDEL, IDMP (the local redis-server
# is 7.0, so against it these are skipped by version, not by target)
# --------------------------------------------------------------------------------------------


def _requires_redis_8_8(client) -> None:
    version = version_tuple(client.info("server")["redis_version"])
    if version < (8, 8):
        pytest.skip(f"redis-server {'.'.join(map(str, version))} has no XNACK, XREADGROUP CLAIM or XACKDEL")


def test_redis_py_nack_claim_and_ackdel(server, key):
    r = server.client(protocol=2, decode_responses=True)
    _requires_redis_8_8(r)
    stream = key("rc-py88").decode()
    ids = [r.xadd(stream, {"n": str(i)}, idmp=("loader", f"row-{i}".encode())) for i in range(20)]
    # A resend of the same rows adds nothing and gets the same ids.
    assert [r.xadd(stream, {"n": str(i)}, idmp=("loader", f"row-{i}".encode())) for i in range(20)] == ids
    assert r.xlen(stream) == 20
    r.xgroup_create(stream, "workers", id="0")
    first = _stream_entries(r.xreadgroup("workers", "c1", {stream: ">"}, count=10), stream)
    assert [entry_id for entry_id, _ in first] == ids[:10]
    # c1 fails on the first five: given back, claimable at once by c2's CLAIM read.
    assert r.xnack(stream, "workers", "FAIL", *ids[:5]) == 5
    claimed = r.xreadgroup("workers", "c2", {stream: ">"}, count=8, claim_min_idle_time=60_000)
    (name, items), = claimed
    assert name == stream
    assert [item[0] for item in items] == ids[:5] + ids[10:13]
    assert [int(item[3]) for item in items] == [1] * 5 + [0] * 3
    pending = {p["message_id"]: p["consumer"] for p in r.xpending_range(stream, "workers", "-", "+", 100)}
    assert [pending[i] for i in ids[:5]] == ["c2"] * 5
    # XACKDEL acknowledges and deletes in one call.
    assert r.xackdel(stream, "workers", *ids[:5], ref_policy="ACKED") == [1] * 5
    assert r.xlen(stream) == 15
    r.close()


async def _async_nack(port: int, stream: str) -> None:
    r = redis.asyncio.Redis(host="127.0.0.1", port=port, protocol=3, decode_responses=True)
    try:
        ids = [await r.xadd(stream, {"n": str(i)}) for i in range(6)]
        await r.xgroup_create(stream, "g", id="0")
        await r.xreadgroup("g", "a", {stream: ">"})
        assert await r.xnack(stream, "g", "SILENT", ids[0], ids[1]) == 2
        assert await r.xnack(stream, "g", "FATAL", ids[2]) == 1
        rows = await r.xpending_range(stream, "g", "-", "+", 10)
        assert [(row["consumer"], row["times_delivered"]) for row in rows[:3]] == [("", 0), ("", 0), ("", 2**63 - 1)]
        assert await r.xdelex(stream, *ids[3:], ref_policy="DELREF") == [1, 1, 1]
        assert (await r.xpending(stream, "g"))["pending"] == 3
    finally:
        await r.aclose()


def test_redis_py_asyncio_resp3_nack(server, key):
    probe = server.client(protocol=2, decode_responses=True)
    _requires_redis_8_8(probe)
    probe.close()
    asyncio.run(_async_nack(server.port, key("rc-py88-async").decode()))
