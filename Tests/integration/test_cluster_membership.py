"""Membership changes on real processes (REPLICATION.md 5.5): CLUSTER MEET adds a registered node,
CLUSTER FORGET removes a member, one at a time, through etcd. Each change waits until every shard's
leader agrees; a removal is refused while a remaining member does not hold a shard's committed
log. After a change every shard elects a leader under the new configuration, whose majorities
count from then on. Under a continuous write load, ended by the checker (cluster.Cluster.check).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from typing import Any, List, Sequence

import pytest
import redis

from cli import SPOOL
from cluster import Node, finish, log, make_cluster, start_load  # noqa: F401
from helpers import ErrorReply, RawConnection, wait_until

pytestmark = [pytest.mark.spool_only, pytest.mark.slow]


def command(node: Node, *args: Any, timeout: float = 30.0) -> Any:
    """One command over a raw connection: the exact reply (ErrorReply for an error)."""
    with RawConnection(node.port, node.host, timeout=timeout) as conn:
        conn.send_command(*args)
        return conn.read_reply()


def member_names(node: Node) -> List[str]:
    """The members CLUSTER NODES on `node` lists, by address, as the harness names them."""
    text = node.client(timeout=5.0).execute_command("CLUSTER", "NODES")
    lines = text.decode() if isinstance(text, bytes) else text
    if isinstance(lines, dict):  # redis-py parses CLUSTER NODES into {address: {...}}
        addresses = [address.split("@")[0] for address in lines]
    else:
        addresses = [line.split()[1].split("@")[0] for line in lines.splitlines() if line.strip()]
    cluster = node.cluster
    return sorted(n.name for n in cluster.nodes if n.address in addresses)


def wait_members(nodes: Sequence[Node], names: List[str], timeout: float = 20.0) -> None:
    def agreed() -> bool:
        try:
            return all(member_names(n) == sorted(names) for n in nodes)
        except (redis.RedisError, OSError):
            return False

    wait_until(agreed, timeout=timeout, interval=0.1, what=f"{[n.name for n in nodes]} to list members {names}")


def shard_state(node: Node) -> dict:
    client = node.client(timeout=5.0)
    try:
        return {k: v for k, v in client.info("shards").items() if k.startswith("spool_cluster_shard")}
    finally:
        client.close()


def holds_everything(node: Node, leaders: Sequence[Node]) -> bool:
    """`node` has applied, for every shard, everything the shard's leader had committed just before
    (with no gap)."""
    committed = [int(shard_state(leader)[f"spool_cluster_shard{shard}"]["committed"]) for shard, leader in enumerate(leaders)]
    mine = shard_state(node)
    for shard, theirs in enumerate(committed):
        own = mine[f"spool_cluster_shard{shard}"]
        if "gap" in own or int(own["applied"]) < theirs:
            return False
    return True


def meet(via: Node, new: Node) -> Any:
    """CLUSTER MEET of `new` on `via`, once `via` has seen `new` register (it registers in etcd
    just after it starts answering)."""
    def registered() -> Any:
        reply = command(via, "CLUSTER", "MEET", new.host, new.port)
        if isinstance(reply, ErrorReply) and reply.message.startswith("ERR Invalid node address specified"):
            return None
        return reply

    return wait_until(registered, timeout=20.0, interval=0.1, what=f"{new.name} to register")


def test_a_node_added_under_load_counts_in_quorums_and_a_removal_shrinks_them(make_cluster) -> None:
    """A dead member replaced: n4 is started and added with CLUSTER MEET while producers write: every
    node lists it, every shard's leader is elected under the new configuration and n4 catches up.
    Then n1 dies (kill -9) and is removed with `spool cluster remove`, and n2 is killed too: n3
    and n4 are a majority of {n2, n3, n4} and keep committing, which four members (majority 3)
    would not. Nothing acknowledged is lost."""
    cluster = make_cluster(size=4, members=3)
    n1, n2, n3, n4 = cluster.nodes
    workload = start_load(cluster, "grow")
    n4.start()
    assert meet(n1, n4) == b"OK"
    wait_members([n1, n2, n3, n4], ["n1", "n2", "n3", "n4"])
    cluster.wait_ready(nodes=[n1, n2, n3, n4])
    shown = subprocess.run([SPOOL, "cluster", "--json", "--host", n2.host, "--port", str(n2.port)],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["configuration"] == {"version": 2, "members": ["n1", "n2", "n3", "n4"]}
    table = subprocess.run([SPOOL, "cluster", "--host", n2.host, "--port", str(n2.port)], capture_output=True, text=True, timeout=60)
    assert table.stdout.startswith("configuration 2: n1, n2, n3, n4\n"), table.stdout
    workload.wait_acks(200)
    leaders = cluster.wait_ready(nodes=[n1, n2, n3, n4])
    wait_until(lambda: holds_everything(n4, leaders), timeout=30.0, interval=0.2, what="n4 to hold every shard's committed log")
    # Added to a live cluster, n4 took no leadership before it had caught up with each shard's leader.
    wait_until(lambda: "joining=1" not in str(shard_state(n4)), timeout=30.0, interval=0.2, what="n4 to be caught up in every shard")
    n4_log = n4.log_path.read_text()
    assert "joining a live cluster" in n4_log
    assert n4_log.count("caught up with its leader since joining the cluster") == cluster.shard_count

    cluster.kill(n1)
    n1.proc.wait()
    cluster.wait_ready(nodes=[n2, n3, n4], timeout=30.0)
    workload.wait_acks(100)
    removed = subprocess.run([SPOOL, "cluster", "remove", "n1", "--host", n3.host, "--port", str(n3.port)],
                             capture_output=True, text=True, timeout=60)
    assert removed.returncode == 0, removed.stderr
    assert "removed n1" in removed.stdout
    wait_members([n2, n3, n4], ["n2", "n3", "n4"])
    cluster.wait_ready(nodes=[n2, n3, n4])
    workload.wait_acks(100)
    # The new configuration's majority is two of three: with n2 gone as well, n3 and n4 commit.
    cluster.kill(n2)
    n2.proc.wait()
    cluster.wait_ready(nodes=[n3, n4], timeout=30.0)
    before = len(workload.acks)
    workload.wait_acks(200, timeout=30.0)
    assert len(workload.acks) >= before + 200
    log(f"checker: {finish(cluster, workload, nodes=[n3, n4], timeout=30.0)}")
    # A removed member is not heard again: n1 restarted serves no shard and is not listed.
    n1.start()
    wait_members([n3, n4], ["n2", "n3", "n4"])
    assert all(leader in (n3, n4) for leader in cluster.leaders(n3))


def test_spool_cluster_replace_swaps_a_dead_member_for_a_new_node(make_cluster) -> None:
    """`spool cluster replace n2 HOST:PORT` with n2 dead: n4 is added, fills what it lacks, and
    n2 is removed once n4 holds every shard's committed log; writes go on throughout and nothing
    acknowledged is lost. The same command run again changes nothing."""
    cluster = make_cluster(size=4, members=3)
    n1, n2, n3, n4 = cluster.nodes
    workload = start_load(cluster, "swap")
    cluster.kill(n2)
    n2.proc.wait()
    n4.start()  # (the command waits for it to register)
    replaced = subprocess.run([SPOOL, "cluster", "replace", "n2", n4.address, "--host", n1.host, "--port", str(n1.port)],
                              capture_output=True, text=True, timeout=300)
    assert replaced.returncode == 0, replaced.stderr
    assert f"added {n4.address}" in replaced.stdout and "removed n2" in replaced.stdout, replaced.stdout
    wait_members([n1, n3, n4], ["n1", "n3", "n4"])
    again = subprocess.run([SPOOL, "cluster", "replace", "n2", n4.address, "--host", n1.host, "--port", str(n1.port), "--timeout", "5"],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and "Unknown node n2" in again.stderr, (again.stdout, again.stderr)
    assert "is a member already" in again.stdout
    log(f"checker: {finish(cluster, workload, nodes=[n1, n3, n4], timeout=30.0)}")


def configured_members(node: Node) -> str:
    """INFO shards' spool_cluster_members (redis-py splits it at the commas)."""
    with node.client(timeout=5.0) as client:
        value = client.info("shards")["spool_cluster_members"]
    return ",".join(value) if isinstance(value, list) else str(value)


def test_a_new_node_at_a_removed_members_address_is_the_one_added(make_cluster) -> None:
    """n3 is removed (a MEET of its address while it still runs is refused: removed members do not
    come back) and killed, and a new node (n3b, a bus index no member had) starts at its address
    at once, while n3's registration may still be alive (its lease runs out after the TTL): CLUSTER
    MEET of the address adds n3b, never the removed n3."""
    cluster = make_cluster(size=3)
    n1, n2, n3 = cluster.nodes
    workload = start_load(cluster, "same")
    assert command(n1, "CLUSTER", "FORGET", "n3") == b"OK"
    wait_until(lambda: configured_members(n1) == "n1,n2", timeout=20.0, interval=0.1, what="n1 to drop n3")
    # The removed n3 still runs and is registered there: it cannot be added back.
    again = command(n1, "CLUSTER", "MEET", n3.host, n3.port)
    assert isinstance(again, ErrorReply) and again.message == (
        f"ERR Invalid node address specified: {n3.address} (only a removed member (n3) is registered there until its lease "
        "runs out: start the new node)"), again
    cluster.kill(n3)
    n3.proc.wait()
    shutil.rmtree(n3.data_dir)
    n3.data_dir.mkdir()
    n3.node_id = "n3b"
    n3.members_override = f"{cluster.members_spec},n3b={n3.host}:{n3.port}"
    n3.start()
    assert meet(n1, n3) == b"OK"
    for node in (n1, n2, n3):
        wait_until(lambda: configured_members(node) == "n1,n2,n3b", timeout=20.0, interval=0.1,
                   what=f"{node.name} to use the configuration n1,n2,n3b")
    log(f"checker: {finish(cluster, workload, nodes=[n1, n2, n3], timeout=30.0)}")


def test_a_removal_is_refused_while_a_remaining_member_is_behind(make_cluster) -> None:
    """With n3 stopped (SIGSTOP) while every shard commits on n1 and n2, removing n2 would leave
    entries committed on n1 alone of {n1, n3}: refused with the reason, and nothing changes. Once
    n3 has caught up, the same removal is made."""
    cluster = make_cluster(size=3)
    n1, n2, n3 = cluster.nodes
    n3.send_signal(signal.SIGSTOP)
    n3.paused = True
    workload = start_load(cluster, "behind")
    workload.wait_acks(200)
    refused = command(n1, "CLUSTER", "FORGET", "n2")
    assert isinstance(refused, ErrorReply), refused
    assert "does not hold the shard's committed log" in refused.message and "n3" in refused.message, refused.message
    wait_members([n1, n2], ["n1", "n2", "n3"])
    n3.send_signal(signal.SIGCONT)
    n3.paused = False
    leaders = cluster.wait_ready()
    workload.stop()
    wait_until(lambda: holds_everything(n3, leaders), timeout=30.0, interval=0.2, what="n3 to catch up")
    assert command(n1, "CLUSTER", "FORGET", n2.name) == b"OK"
    wait_members([n1, n3], ["n1", "n3"])
    cluster.wait_ready(nodes=[n1, n3])
    report = cluster.check(workload.acked, workload.attempted, nodes=[n1, n3], timeout=30.0)
    log(f"checker: {report}")


def test_membership_commands_refuse_what_they_cannot_do(make_cluster) -> None:
    """Clear errors, and the configuration unchanged: a MEET of an address where no node of the
    cluster is registered, of a member, a FORGET of an unknown node, a bad port, either inside
    MULTI, and the help text."""
    cluster = make_cluster(size=3)
    n1, n2, n3 = cluster.nodes
    nowhere = command(n1, "CLUSTER", "MEET", "127.0.0.1", 1)
    assert isinstance(nowhere, ErrorReply) and nowhere.message.startswith("ERR Invalid node address specified: 127.0.0.1:1")
    member = command(n1, "CLUSTER", "MEET", n2.host, n2.port)
    assert isinstance(member, ErrorReply) and member.message == "ERR n2 is a member already", member
    unknown = command(n1, "CLUSTER", "FORGET", "n9")
    assert isinstance(unknown, ErrorReply) and unknown.message == "ERR Unknown node n9"
    port = command(n1, "CLUSTER", "MEET", n2.host, "port")
    assert isinstance(port, ErrorReply) and port.message == "ERR Invalid base port specified: port"
    arity = command(n1, "CLUSTER", "FORGET")
    assert isinstance(arity, ErrorReply) and "wrong number of arguments for 'cluster|forget'" in arity.message
    with RawConnection(n1.port, n1.host) as conn:
        for args in (("MULTI",), ("CLUSTER", "FORGET", "n3"), ("EXEC",)):
            conn.send_command(*args)
        assert conn.read_reply() == b"OK" and conn.read_reply() == b"QUEUED"
        executed = conn.read_reply()
        assert isinstance(executed[0], ErrorReply) and "cannot run in a transaction" in executed[0].message
    help_lines = [line.decode() for line in command(n1, "CLUSTER", "HELP")]
    assert any(line.startswith("MEET <ip> <port>") for line in help_lines)
    assert any(line.startswith("FORGET <node-id>") for line in help_lines)
    wait_members([n1, n2, n3], ["n1", "n2", "n3"])
