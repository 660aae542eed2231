"""Cluster mode in normal operation: three spoold nodes and etcd (cluster.py), driven with
redis-py's RedisCluster, plain redis-py clients, raw RESP and redis-cli -c.

All tests here share one cluster (started once per module) and use their own key names; the fault
tests (test_cluster_faults.py) each get a fresh one.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any, Dict, List

import pytest
import redis
from redis.crc import key_slot
from redis.exceptions import MovedError, ResponseError

from cluster import SLOTS, Cluster, Node, keys_for_shards, slot_range
from helpers import ErrorReply, RawConnection, wait_until

pytestmark = pytest.mark.spool_only


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    failed_before = request.session.testsfailed
    c = Cluster(tmp_path_factory.mktemp("cluster"), size=3, shards=4)
    try:
        c.start()
        yield c
    finally:
        c.close()
        if request.session.testsfailed == failed_before:
            c.remove_data()
        else:
            print(f"cluster data and logs kept in {c.base_dir}")


@pytest.fixture
def rc(cluster: Cluster):
    client = cluster.client()
    yield client
    client.close()


_names = iter(range(1, 1 << 30))


@pytest.fixture
def name():
    """Unique key prefix per test."""
    return f"k{next(_names)}"


def followers_of(cluster: Cluster, key: bytes) -> List[Node]:
    leader = cluster.leader_of(key)
    return [n for n in cluster.nodes if n is not leader]


def readonly_views(cluster: Cluster, fn, timeout: float = 10.0) -> Dict[str, Any]:
    """fn(client) on every node over READONLY, polled until every node answers the same."""
    clients = cluster.readonly_clients()
    last: Dict[str, Any] = {}

    def same() -> bool:
        views = {n.name: fn(c) for n, c in clients.items()}
        last.update(views)
        first = next(iter(views.values()))
        return all(v == first for v in views.values())

    try:
        wait_until(same, timeout=timeout, interval=0.05, what="every node to answer the same")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last answers: {last}") from None
    finally:
        for c in clients.values():
            c.close()
    return last


# --------------------------------------------------------------------------------------------
# Writes and reads
# --------------------------------------------------------------------------------------------


def test_writes_through_cluster_client_land_on_every_node(cluster: Cluster, rc, name: str) -> None:
    streams = keys_for_shards(name, cluster.shard_count, per_shard=2)
    acked: Dict[bytes, list] = {s: [] for s in streams}
    for i in range(20):
        for s in streams:
            payload = f"{s.decode()}-{i}".encode()
            acked[s].append((rc.xadd(s, {b"p": payload}), payload))
    # Every shard got writes, so every leader took part.
    assert {cluster.shard_of(s) for s in streams} == set(range(cluster.shard_count))
    report = cluster.check(acked, {p for v in acked.values() for _, p in v}, nodes=cluster.nodes)
    assert report["present"] == report["acked"] == 20 * len(streams)


def test_redis_cli_c_follows_moved_for_write_and_read(cluster: Cluster, name: str) -> None:
    cli = shutil.which("redis-cli")
    assert cli, "redis-cli is not installed (Tools/install-deps.sh installs redis-tools)"
    key = f"{name}:cli".encode()
    follower, other = followers_of(cluster, key)

    def run(node: Node, *args: str, follow: bool = True) -> str:
        cmd = [cli] + (["-c"] if follow else []) + ["-h", node.host, "-p", str(node.port)] + list(args)
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        assert out.returncode == 0, out
        return out.stdout.strip()

    # Without -c a follower answers MOVED to the leader.
    leader = cluster.leader_of(key)
    moved = run(follower, "XADD", key.decode(), "*", "f", "plain", follow=False)
    assert moved.startswith(f"MOVED {key_slot(key)} {leader.address}"), moved
    entry_id = run(follower, "XADD", key.decode(), "*", "f", "v")
    assert entry_id.count("-") == 1 and all(p.isdigit() for p in entry_id.split("-")), entry_id
    listing = run(other, "XRANGE", key.decode(), "-", "+").splitlines()
    assert listing == [entry_id, "f", "v"], listing
    assert run(other, "XLEN", key.decode()) == "1"


def test_cluster_slots_shards_nodes_cover_every_slot_with_leaders(cluster: Cluster, rc) -> None:
    addresses = {(n.host, n.port) for n in cluster.nodes}
    for node in cluster.nodes:
        target = rc.get_node(node.host, node.port)
        assert target is not None, f"RedisCluster does not know {node.address}"
        slots = rc.cluster_slots(target_nodes=target)
        covered = sorted(slots)
        assert covered[0][0] == 0 and covered[-1][1] == SLOTS - 1, covered
        for (_, end), (start, _) in zip(covered, covered[1:]):
            assert start == end + 1, f"gap or overlap in CLUSTER SLOTS: {covered}"
        for (start, end), detail in slots.items():
            assert detail["primary"] in addresses, detail
            # Every member replicates every shard: the other two are listed as replicas.
            assert sorted(detail["replicas"]) == sorted(addresses - {detail["primary"]}), detail

        shards = rc.cluster_shards(target_nodes=target)
        assert len(shards) == cluster.shard_count
        for index, shard in enumerate(shards):
            # redis-py before 8.2 gives the flat [first, last]; 8.2 pairs them: [(first, last)].
            ranges = shard["slots"]
            if ranges and isinstance(ranges[0], (list, tuple)):
                assert len(ranges) == 1, shard
                ranges = ranges[0]
            first, last = ranges
            assert (first, last) == slot_range(index, cluster.shard_count)
            roles = [n[b"role"] for n in shard["nodes"]]
            assert roles == [b"master", b"replica", b"replica"], shard
            assert all(n[b"health"] == b"online" for n in shard["nodes"]), shard
            # CLUSTER SLOTS names the same leader for the shard's slots.
            primary = next(v["primary"] for (s, e), v in slots.items() if s <= first and last <= e)
            leader = shard["nodes"][0]
            assert primary == (leader[b"ip"].decode(), leader[b"port"])

        nodes = rc.cluster_nodes()  # parsed by redis-py: {"host:port": {...}}
        assert set(nodes) == {n.address for n in cluster.nodes}
        counted = 0
        for detail in nodes.values():
            for rng in detail["slots"]:
                first, last = int(rng[0]), int(rng[-1])
                counted += last - first + 1
        assert counted == SLOTS

        raw = node.client()
        try:
            my_id = raw.execute_command("CLUSTER", "MYID")
            nodes_text = raw.execute_command("CLUSTER", "NODES").decode()
            myself = [line for line in nodes_text.splitlines() if "myself" in line.split()[2]]
            assert len(myself) == 1 and myself[0].split()[0] == my_id.decode(), nodes_text
            assert myself[0].split()[1].startswith(f"{node.address}@{node.bus_port}")
            info = raw.execute_command("CLUSTER", "INFO").decode()
            fields = dict(line.split(":", 1) for line in info.split("\r\n") if line)
            assert fields["cluster_state"] == "ok", info
            assert fields["cluster_slots_assigned"] == str(SLOTS)
            assert fields["cluster_known_nodes"] == "3"
            for key in [b"foo", b"{user1000}.following", b"a{b}c", b"\xff\x00binary"]:
                assert raw.execute_command("CLUSTER", "KEYSLOT", key) == key_slot(key)
        finally:
            raw.close()


def test_follower_answers_moved_for_writes_and_plain_reads(cluster: Cluster, name: str) -> None:
    key = f"{name}:s".encode()
    leader = cluster.leader_of(key)
    follower = followers_of(cluster, key)[0]
    writer = leader.client()
    entry_id = writer.xadd(key, {b"f": b"v"})
    writer.xgroup_create(key, b"g", id="0")
    client = follower.client()
    try:
        with pytest.raises(MovedError) as moved:
            client.xadd(key, {b"f": b"w"})
        assert moved.value.slot_id == key_slot(key)
        assert (moved.value.host, moved.value.port) == (leader.host, leader.port)
        # A read without READONLY is MOVED too (what a Redis replica does).
        with pytest.raises(MovedError):
            client.xrange(key)
        # READONLY: committed data is served by the follower (poll: it may lag a little).
        assert client.execute_command("READONLY") in (True, b"OK")
        wait_until(lambda: [i for i, _ in client.xrange(key)] == [entry_id], what="the follower to serve the entry")
        # Writes stay MOVED on a READONLY connection; XREADGROUP is a write.
        with pytest.raises(MovedError):
            client.xadd(key, {b"f": b"w"})
        with pytest.raises(MovedError):
            client.xreadgroup(b"g", b"c", {key: ">"})
        assert client.execute_command("READWRITE") in (True, b"OK")
        with pytest.raises(MovedError):
            client.xrange(key)
        assert [i for i, _ in writer.xrange(key)] == [entry_id]
    finally:
        client.close()
        writer.close()


def test_xread_over_two_slots_is_crossslot_and_hash_tags_keep_keys_together(cluster: Cluster, name: str) -> None:
    a, b = f"{name}:a".encode(), f"{name}:b".encode()
    assert key_slot(a) != key_slot(b)
    leader = cluster.leader_of(a)
    conn = RawConnection(leader.port, leader.host)
    try:
        reply = conn.cmd("XREAD", "STREAMS", a, b, "0", "0")
        assert reply == ErrorReply("CROSSSLOT Keys in request don't hash to the same slot"), reply
        # A READONLY follower answers the same.
        follower = followers_of(cluster, a)[0]
        ro = RawConnection(follower.port, follower.host)
        assert ro.cmd("READONLY") == b"OK"
        assert ro.cmd("XREAD", "STREAMS", a, b, "0", "0") == ErrorReply(
            "CROSSSLOT Keys in request don't hash to the same slot")
        ro.close()
    finally:
        conn.close()
    ta, tb = f"{{{name}}}:a".encode(), f"{{{name}}}:b".encode()
    assert key_slot(ta) == key_slot(tb)
    tagged_leader = cluster.leader_of(ta)
    client = tagged_leader.client()
    try:
        ida = client.xadd(ta, {b"f": b"1"})
        idb = client.xadd(tb, {b"f": b"2"})
        reply = client.xread({ta: "0", tb: "0"})
        got = {bytes(k): [bytes(e[0]) for e in v] for k, v in reply}
        assert got == {ta: [ida], tb: [idb]}
    finally:
        client.close()


# --------------------------------------------------------------------------------------------
# Transactions
# --------------------------------------------------------------------------------------------


def test_multi_exec_in_one_slot_commits_all_on_every_node(cluster: Cluster, rc, name: str) -> None:
    a, b = f"{{{name}}}:a".encode(), f"{{{name}}}:b".encode()
    pipe = rc.pipeline(transaction=True)
    pipe.xadd(a, {b"f": b"1"})
    pipe.xadd(b, {b"f": b"2"})
    pipe.xadd(a, {b"f": b"3"})
    pipe.xlen(a)
    id1, id2, id3, length = pipe.execute()
    assert length == 2
    views = readonly_views(cluster, lambda c: ([i for i, _ in c.xrange(a)], [i for i, _ in c.xrange(b)]))
    assert next(iter(views.values())) == ([id1, id3], [id2])


def test_multi_exec_aborted_or_cross_slot_applies_nothing(cluster: Cluster, name: str) -> None:
    a = f"{{{name}}}:a".encode()
    other = f"{name}:elsewhere".encode()
    assert key_slot(other) != key_slot(a)
    leader = cluster.leader_of(a)
    conn = RawConnection(leader.port, leader.host)
    try:
        # A syntax error while queueing discards the whole transaction.
        assert conn.cmd("MULTI") == b"OK"
        assert conn.cmd("XADD", a, "*", "f", "1") == b"QUEUED"
        assert isinstance(conn.cmd("XADD", a), ErrorReply)
        assert conn.cmd("EXEC") == ErrorReply("EXECABORT Transaction discarded because of previous errors.")
        # Keys in two slots: EXEC is refused with CROSSSLOT (Redis's getNodeByQuery on EXEC).
        assert conn.cmd("MULTI") == b"OK"
        assert conn.cmd("XADD", a, "*", "f", "2") == b"QUEUED"
        reply = conn.cmd("XADD", other, "*", "f", "3")
        if reply == b"QUEUED":
            exec_reply = conn.cmd("EXEC")
            assert isinstance(exec_reply, ErrorReply) and exec_reply.code in ("CROSSSLOT", "EXECABORT"), exec_reply
        else:  # refused when queued (MOVED): then EXEC aborts
            assert isinstance(reply, ErrorReply), reply
            assert conn.cmd("EXEC") == ErrorReply("EXECABORT Transaction discarded because of previous errors.")
        # Still usable, and a committed write goes after it.
        last = conn.cmd("XADD", a, "*", "f", "after")
        assert isinstance(last, bytes), last
    finally:
        conn.close()
    views = readonly_views(cluster, lambda c: (c.xrange(a), c.exists(other)))
    entries, other_exists = next(iter(views.values()))
    assert [fields for _, fields in entries] == [{b"f": b"after"}]
    assert other_exists == 0


# --------------------------------------------------------------------------------------------
# Consumer groups
# --------------------------------------------------------------------------------------------


def test_consumer_groups_through_the_cluster_are_the_same_on_every_node(cluster: Cluster, rc, name: str) -> None:
    stream = f"{name}:jobs".encode()
    ids = [rc.xadd(stream, {b"n": str(i).encode()}) for i in range(10)]
    assert rc.xgroup_create(stream, b"g", id="0") is True
    first = rc.xreadgroup(b"g", b"c1", {stream: ">"}, count=6)
    delivered = [bytes(e[0]) for e in first[0][1]]
    assert delivered == ids[:6]
    assert rc.xack(stream, b"g", *delivered[:3]) == 3
    second = rc.xreadgroup(b"g", b"c2", {stream: ">"}, count=10)
    assert [bytes(e[0]) for e in second[0][1]] == ids[6:]
    assert rc.xack(stream, b"g", ids[9]) == 1

    def groups(client: redis.Redis) -> Any:
        summary = client.xpending(stream, b"g")
        detail = [(p["message_id"], p["consumer"], p["times_delivered"])
                  for p in client.xpending_range(stream, b"g", min="-", max="+", count=100)]
        info = client.xinfo_groups(stream)
        consumers = [(c["name"], c["pending"]) for c in client.xinfo_consumers(stream, b"g")]
        return summary, detail, info, consumers

    views = readonly_views(cluster, groups)
    summary, detail, info, consumers = next(iter(views.values()))
    assert summary["pending"] == 6
    assert summary["min"] == ids[3] and summary["max"] == ids[8]
    assert detail == [(i, b"c1", 1) for i in ids[3:6]] + [(i, b"c2", 1) for i in ids[6:9]]
    assert len(info) == 1 and info[0]["name"] == b"g"
    assert info[0]["pending"] == 6 and info[0]["last-delivered-id"] == ids[9]
    assert info[0]["consumers"] == 2 and info[0]["entries-read"] == 10 and info[0]["lag"] == 0
    assert consumers == [(b"c1", 3), (b"c2", 3)]


# --------------------------------------------------------------------------------------------
# Modes
# --------------------------------------------------------------------------------------------


def test_info_cluster_says_enabled_and_cross_database_commands_are_refused(cluster: Cluster, name: str) -> None:
    for node in cluster.nodes:
        client = node.client()
        try:
            assert client.info("cluster")["cluster_enabled"] == 1
            assert client.execute_command("SELECT", 0) in (True, b"OK")
            for command in (("SELECT", 1), ("FLUSHALL",), ("FLUSHDB",), ("SWAPDB", 0, 1)):
                with pytest.raises(ResponseError):
                    client.execute_command(*command)
        finally:
            client.close()


def test_single_node_without_cluster_config_reports_cluster_disabled(start_server) -> None:
    server = start_server()
    client = server.client()
    assert client.info("cluster") == {"cluster_enabled": 0}
    for command in (("CLUSTER", "INFO"), ("CLUSTER", "SHARDS"), ("READONLY",)):
        with pytest.raises(ResponseError) as err:
            client.execute_command(*command)
        assert str(err.value) == "This instance has cluster support disabled", command


def test_spool_cluster_shows_members_leaders_and_lag(cluster: Cluster, rc, name: str) -> None:
    """`spool cluster`: every member up, one leader per shard (the one CLUSTER SHARDS names), the
    slots each shard covers, and every node's lag settling at 0 once writes stop."""
    import json

    from cli import SPOOL
    for key in keys_for_shards(name, cluster.shard_count):
        cluster.retrying(lambda: rc.xadd(key, {"n": 1}), rc)
    node = cluster.nodes[1]

    def report() -> Dict[str, Any]:
        out = subprocess.run([SPOOL, "cluster", "--json", "--host", node.host, "--port", str(node.port)],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    settled = wait_until(lambda: (lambda r: r if all(v == 0 for s in r["shards"] for v in s["lag"].values()) else None)(report()),
                         timeout=20, what="every node's lag to reach 0")
    assert sorted(n["address"] for n in settled["nodes"]) == sorted(n.address for n in cluster.nodes)
    assert all(n["up"] for n in settled["nodes"])
    assert sum(n["leads"] for n in settled["nodes"]) == cluster.shard_count
    # A healthy cluster of nodes that never lost their data: no gaps, no learners.
    assert all(gap is None for s in settled["shards"] for gap in s["gaps"].values()), settled["shards"]
    assert all(s["learners"] == [] for s in settled["shards"]), settled["shards"]
    leaders = cluster.leaders()
    for shard in settled["shards"]:
        first, last = slot_range(shard["shard"], cluster.shard_count)
        assert shard["slots"] == f"{first}-{last}"
        assert shard["leader"] == leaders[shard["shard"]].address
        assert shard["epoch"] > 0 and shard["committed"] > 0
    text = subprocess.run([SPOOL, "cluster", "--host", node.host, "--port", str(node.port)], capture_output=True, text=True,
                          timeout=30)
    assert text.returncode == 0 and "LAG " + cluster.nodes[0].address in text.stdout, text.stdout


def test_xbackfill_is_replicated_and_every_node_refuses_reads_into_the_gap(cluster: Cluster, rc, name: str) -> None:
    """XBACKFILL goes through the shard's log like any write: the backfill's state and the
    copied entries are the same on every node, and every node answers TRYAGAIN for the part not
    copied yet (READONLY reads on followers too)."""
    key = f"{name}:history".encode()
    cluster.retrying(lambda: rc.execute_command("XBACKFILL", "BEGIN", key, "1000-0", target_nodes=rc.get_node_from_key(key)), rc)
    rc.xadd(key, {"live": 1}, id="2000-0")
    for n in range(1, 4):
        rc.execute_command("XBACKFILL", "ADD", key, f"{n * 100}-0", "n", str(n), target_nodes=rc.get_node_from_key(key))
    readers = cluster.readonly_clients()

    def refused_everywhere() -> bool:
        for client in readers.values():
            try:
                client.xrange(key)
                return False
            except redis.exceptions.TryAgainError:
                continue
        return True

    assert refused_everywhere()
    wait_until(lambda: all(c.xrange(key, "-", "300-0") == [(f"{n * 100}-0".encode(), {b"n": str(n).encode()}) for n in range(1, 4)]
                           for c in readers.values()), what="the copied entries on every node")
    def status(client: redis.Redis) -> Dict[bytes, bytes]:
        reply = client.execute_command("XBACKFILL", "STATUS", key)  # a map: a dict in RESP3, pairs in RESP2
        return reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2]))

    statuses = {n.name: status(c) for n, c in readers.items()}
    assert all(v == {b"filled-through": b"300-0", b"through": b"1000-0"} for v in statuses.values()), statuses
    rc.execute_command("XBACKFILL", "END", key, target_nodes=rc.get_node_from_key(key))
    expected = [b"100-0", b"200-0", b"300-0", b"2000-0"]
    wait_until(lambda: all([i for i, _ in c.xrange(key)] == expected for c in readers.values()),
               what="the whole stream on every node after END")
