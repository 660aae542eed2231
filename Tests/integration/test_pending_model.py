"""The pending entries list under random traffic, Spool side by side with redis-server.

Spool keeps a group's pending list in runs (entries delivered together share one row) that
claims, acknowledgements, history reads and SETID split and rewrite. Whatever the sequence, the
list must read exactly as Redis's does: the same ids, owners and delivery counts, per group and
per consumer, the same replies to every command — and the same after a restart.
"""

from __future__ import annotations

import random

import pytest

from conftest import Server

CONSUMERS = [b"alice", b"bob", b"carol"]


def raw_replies(client):
    """The client with redis-py's reply parsing off: both servers' replies compared as sent."""
    client.response_callbacks.clear()
    return client


def pending_view(r, k, group):
    """Everything XPENDING and XINFO CONSUMERS say, without the times."""
    summary = r.execute_command("XPENDING", k, group)
    full = r.execute_command("XPENDING", k, group, "-", "+", 100_000)
    per_consumer = {
        c: [row[0] for row in r.execute_command("XPENDING", k, group, "-", "+", 100_000, c)] for c in CONSUMERS
    }
    # Consumers holding entries (which idle ones exist differs between Redis versions: 7.2
    # started creating the consumer of an XCLAIM that claims nothing).
    consumers = sorted(
        (info[1], info[3]) for info in r.execute_command("XINFO", "CONSUMERS", k, group) if info[3] > 0
    )
    return {
        "count": summary[0],
        "bounds": (summary[1], summary[2]),
        "owners": sorted(summary[3] or []),
        "entries": [(row[0], row[1], row[3]) for row in full],
        "per_consumer": per_consumer,
        "consumers": consumers,
    }


def ids_of(reply):
    if not reply:
        return []
    return [entry[0] for entry in reply[0][1]]


def random_step(rng, r, k, group, next_id):
    """One random operation; returns (description, reply normalised to compare across servers)."""
    consumer = rng.choice(CONSUMERS)
    roll = rng.random()
    if roll < 0.15:
        count = rng.randint(1, 40)
        ids = []
        for _ in range(count):
            ids.append(f"{next_id[0]}-0")
            next_id[0] += rng.choice([1, 1, 1, 2, 7])
        for entry_id in ids:
            r.execute_command("XADD", k, entry_id, "f", entry_id)
        return ("xadd", count), count
    if roll < 0.35:
        count = rng.randint(1, 300)
        reply = r.execute_command("XREADGROUP", "GROUP", group, consumer, "COUNT", count, "STREAMS", k, ">")
        return ("read new", consumer, count), ids_of(reply)
    if roll < 0.45:
        start = rng.choice(["0", f"{rng.randint(0, next_id[0])}-0"])
        count = rng.randint(1, 60)
        reply = r.execute_command("XREADGROUP", "GROUP", group, consumer, "COUNT", count, "STREAMS", k, start)
        return ("read history", consumer, start, count), [(e[0], e[1] is None) for e in reply[0][1]]
    pending = [row[0] for row in r.execute_command("XPENDING", k, group, "-", "+", 100_000)]
    if roll < 0.65:
        chosen = rng.sample(pending, min(len(pending), rng.randint(1, 80))) if pending else []
        chosen += [f"{rng.randint(1, next_id[0])}-0" for _ in range(rng.randint(0, 3))]
        if not chosen:
            return ("ack none",), None
        return ("ack", len(chosen)), r.execute_command("XACK", k, group, *chosen)
    if roll < 0.78:
        chosen = rng.sample(pending, min(len(pending), rng.randint(1, 20))) if pending else []
        if rng.random() < 0.3:
            chosen.append(f"{rng.randint(1, next_id[0])}-0")
        if not chosen:
            return ("claim none",), None
        args = ["XCLAIM", k, group, consumer, 0, *chosen]
        if rng.random() < 0.5:
            args.append("JUSTID")
        if rng.random() < 0.2:
            args += ["RETRYCOUNT", rng.randint(0, 9)]
        if rng.random() < 0.3:
            args.append("FORCE")
        reply = r.execute_command(*args)
        return ("claim", args[3:]), [e if isinstance(e, bytes) else e[0] for e in reply]
    if roll < 0.86:
        start = rng.choice(["0-0", f"{rng.randint(0, next_id[0])}-0"])
        count = rng.randint(1, 50)
        reply = r.execute_command("XAUTOCLAIM", k, group, consumer, 0, start, "COUNT", count, "JUSTID")
        return ("autoclaim", consumer, start, count), [reply[0], list(reply[1]), list(reply[2])]
    if roll < 0.92:
        victims = [f"{rng.randint(1, next_id[0])}-0" for _ in range(rng.randint(1, 5))]
        return ("xdel", victims), r.execute_command("XDEL", k, *victims)
    if roll < 0.97:
        position = f"{rng.randint(0, next_id[0])}-0"
        return ("setid", position), r.execute_command("XGROUP", "SETID", k, group, position)
    if rng.random() < 0.5:
        return ("delconsumer", consumer), r.execute_command("XGROUP", "DELCONSUMER", k, group, consumer)
    return ("noop",), None


@pytest.mark.spool_only
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pending_list_matches_redis_under_random_traffic(start_server, tmp_path, seed):
    spool = start_server()
    redis_server = Server(tmp_path / "redis", target="redis")
    redis_server.start()
    try:
        servers = {"spool": raw_replies(spool.client()), "redis": raw_replies(redis_server.client())}
        rng_state = random.Random(seed).getstate()
        next_ids = {name: [1] for name in servers}
        for r in servers.values():
            r.execute_command("XGROUP", "CREATE", "s", "g", "0", "MKSTREAM")
        restarted = False
        for step in range(600):
            replies = {}
            for name, r in servers.items():
                rng = random.Random()
                rng.setstate(rng_state)
                replies[name] = random_step(rng, r, "s", "g", next_ids[name])
                after = rng.getstate()
            rng_state = after
            assert replies["spool"] == replies["redis"], f"step {step} (seed {seed})"
            if step % 25 == 0 or step == 599:
                views = {name: pending_view(r, "s", "g") for name, r in servers.items()}
                assert views["spool"] == views["redis"], f"after step {step}: {replies['redis'][0]}"
            if step == 300 and not restarted:
                spool.restart()
                servers["spool"] = raw_replies(spool.client())
                restarted = True
        final = {name: pending_view(r, "s", "g") for name, r in servers.items()}
        assert final["spool"] == final["redis"]
        assert final["spool"]["count"] > 0 or final["redis"]["count"] == 0
    finally:
        redis_server.stop()
