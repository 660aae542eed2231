"""The `spool group …` commands and `spool bench e2e` through a consumer group, end to end.

Tests marked spool_only use Spool's extensions (XNACK, MAXDELIVERIES/DEADLETTER) and are skipped
against Redis.
"""

from __future__ import annotations

import json

import pytest

from cli import spool, start
from helpers import wait_until


def _fill(server, stream: str, count: int) -> list:
    r = server.client()
    return [r.xadd(stream, {"n": n}).decode() for n in range(count)]


def test_group_create_list_with_lag_and_consumers(server, key) -> None:
    stream = key("g").decode()
    _fill(server, stream, 5)
    assert spool("group", "create", stream, "workers", "--start", "0", server=server).out.strip() == "OK"
    created = spool("group", "create", stream, "audit", "--json", server=server).json()
    assert created == {"stream": stream, "group": "audit", "created": True}
    busy = spool("group", "create", stream, "workers", server=server)
    assert busy.code == 1 and "BUSYGROUP" in busy.err
    consumed = spool("group", "consume", stream, "workers", "c1", "--count", 2, "--no-ack", "--json", server=server).json_lines()
    assert [e["fields"]["n"] for e in consumed] == ["0", "1"]
    groups = {g["name"]: g for g in spool("group", "list", stream, "--json", server=server).json()}
    assert groups["workers"]["pending"] == 2 and groups["workers"]["lag"] == 3 and groups["workers"]["entries_read"] == 2
    assert groups["audit"]["lag"] == 0 and groups["audit"]["consumers"] == 0
    table = spool("group", "list", stream, server=server)
    assert table.out.splitlines()[0].split() == ["GROUP", "CONSUMERS", "PENDING", "LAST-DELIVERED", "ENTRIES-READ", "LAG"]
    consumers = spool("group", "consumers", stream, "workers", "--json", server=server).json()
    assert [(c["name"], c["pending"]) for c in consumers] == [("c1", 2)]


def test_group_consume_acknowledges_and_redelivers_unacknowledged(server, key) -> None:
    stream = key("g").decode()
    ids = _fill(server, stream, 4)
    spool("group", "create", stream, "g", "--start", "0", server=server)
    first = spool("group", "consume", stream, "g", "c", "--count", 2, "--no-ack", "--json", server=server).json_lines()
    assert [e["id"] for e in first] == ids[:2] and not any(e["redelivery"] for e in first)
    # The same consumer again: its two pending entries first (acknowledged this time), then new ones.
    second = spool("group", "consume", stream, "g", "c", "--count", 4, "--json", server=server).json_lines()
    assert [e["id"] for e in second] == ids
    assert [e["redelivery"] for e in second] == [True, True, False, False]
    pending = spool("group", "pending", stream, "g", "--json", server=server).json()
    assert pending["count"] == 0 and pending["entries"] == []


def test_group_consume_follows_new_entries_and_can_create_the_group(server, key) -> None:
    stream = key("g").decode()
    r = server.client()
    proc = start("group", "consume", stream, "g", "c", "--create", "$", "--count", 1, "--json", server=server)
    try:
        def published_and_done() -> bool:
            r.xadd(stream, {"job": "x"})
            return proc.poll() is not None

        wait_until(published_and_done, timeout=30, interval=0.1, what="consume to print an entry")
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert json.loads(out.splitlines()[0])["fields"] == {"job": "x"}


def test_group_ack_pending_and_claim(server, key) -> None:
    stream = key("g").decode()
    ids = _fill(server, stream, 3)
    spool("group", "create", stream, "g", "--start", "0", server=server)
    spool("group", "consume", stream, "g", "slow", "--count", 3, "--no-ack", server=server)
    pending = spool("group", "pending", stream, "g", "--json", server=server).json()
    assert pending["count"] == 3 and pending["consumers"] == {"slow": 3}
    assert [(e["id"], e["consumer"], e["deliveries"]) for e in pending["entries"]] == [(i, "slow", 1) for i in ids]
    text = spool("group", "pending", stream, "g", server=server)
    assert text.out.startswith("3 pending") and "DELIVERIES" in text.out
    assert spool("group", "ack", stream, "g", ids[0], "0-1", "--json", server=server).json() == {"acknowledged": 1}
    # Another consumer claims what "slow" left idle.
    claimed = spool("group", "consume", stream, "g", "rescuer", "--claim-idle", 1, "--count", 2, "--json", server=server)
    assert sorted(e["id"] for e in claimed.json_lines()) == ids[1:]
    assert spool("group", "pending", stream, "g", "--json", server=server).json()["count"] == 0


def test_group_reset_replays_and_delete_removes(server, key) -> None:
    stream = key("g").decode()
    ids = _fill(server, stream, 3)
    spool("group", "create", stream, "g", "--start", "0", server=server)
    spool("group", "consume", stream, "g", "c", "--count", 3, server=server)
    assert spool("group", "list", stream, "--json", server=server).json()[0]["lag"] == 0
    assert spool("group", "reset", stream, "g", "--to", "0", server=server).out.strip() == "OK"
    group = spool("group", "list", stream, "--json", server=server).json()[0]
    assert group["last_delivered_id"] == "0-0" and group["lag"] == 3
    again = spool("group", "consume", stream, "g", "c2", "--count", 3, "--json", server=server).json_lines()
    assert [e["id"] for e in again] == ids
    assert spool("group", "delete", stream, "g", server=server).out.strip() == "OK"
    missing = spool("group", "delete", stream, "g", server=server)
    assert missing.code == 2
    nogroup = spool("group", "pending", stream, "g", server=server)
    assert nogroup.code == 2 and "NOGROUP" in nogroup.err


def test_bench_end_to_end_through_a_group(server, key) -> None:
    report = spool(
        "bench", "e2e", "--stream", key("e2e").decode(), "--rate", 1000, "--duration", 0.5, "--warmup", 0.1, "--json",
        server=server,
    ).json()
    assert report["via"] == "group" and report["errors"] == 0 and report["completed"] == 500
    assert report["latency"]["publish→deliver"]["count"] == 500


@pytest.mark.spool_only
def test_group_nack_gives_entries_back(server, key) -> None:
    stream = key("g").decode()
    ids = _fill(server, stream, 2)
    spool("group", "create", stream, "g", "--start", "0", server=server)
    spool("group", "consume", stream, "g", "a", "--count", 2, "--no-ack", server=server)
    assert spool("group", "nack", stream, "g", *ids, "--json", server=server).json() == {"given_back": 2}
    again = spool("group", "consume", stream, "g", "b", "--count", 2, "--json", server=server).json_lines()
    assert [e["id"] for e in again] == ids


@pytest.mark.spool_only
def test_group_create_with_a_dead_letter_stream(server, key) -> None:
    stream = key("g").decode()
    dead = stream + ":dead"
    run = spool("group", "create", stream, "g", "--mkstream", "--max-deliveries", 1, "--dead-letter", dead, server=server)
    assert run.code == 0, run
    entry = server.client().xadd(stream, {"job": "poison"}).decode()
    spool("group", "consume", stream, "g", "c", "--count", 1, "--no-ack", server=server)
    spool("group", "nack", stream, "g", entry, server=server)
    r = server.client()
    wait_until(lambda: r.xlen(dead) == 1, timeout=10, what="the entry to reach the dead-letter stream")
