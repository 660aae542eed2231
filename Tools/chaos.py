#!/usr/bin/env python3
"""Chaos: etcd and a Spool cluster on loopback under a seeded nemesis, with a Jepsen-style checker
(REPLICATION.md 5.8, 5.10, 5.11).

    Tools/chaos.py --seconds 300 --seed 7
    Tools/chaos.py --seconds 60 --seed 1 --faults kill,pause --shards 2 --keep

Workload, all threads of this process:
  producers  one idempotent producer per stream (XADD … PRODUCER p SEQ n), pipelining `--depth`
             entries to the stream's shard leader; after any failure it reconnects to whoever
             leads now and resends every entry not yet acknowledged, with the same SEQs and
             payloads, so a retry must never duplicate. An acknowledged SEQ answered again must
             get the same id.
  readers    one per node: XREAD (READONLY) of every stream from that node, remembering every
             entry it was shown.
  consumers  one group per stream; consumers XREADGROUP >, XACK what they got, and every few
             seconds XAUTOCLAIM entries idle for a while (those whose consumer's reply was lost).

Nemesis (seeded: the same seed gives the same faults at the same moments): after a healthy spell of
2-5 s it picks one of `--faults` and holds it 1-3 lease TTLs, then heals and waits until every shard
takes writes again (the recovery time):
  kill       kill -9 a node (a shard leader two times in three), restart it on its data
  pause      SIGSTOP a node (a leader two times in three), SIGCONT
  partition  cut a node off from its peers' bus (iptables + cgroup), still reaching etcd and clients
  etcd       stop etcd (SIGKILL), start it again on its data
  clock      restart a node with its wall clock 30-90 s behind or ahead (libfaketime), then back
  replace    kill -9 a node, delete its data directory (a disk replaced) and start it empty: it
             takes its epoch floor from etcd and joins every shard more than --gap-threshold
             records long at its leader's commit point, filling the gap from its peers (shorter
             ones it is sent); the next fault waits until it has caught up
  corrupt    stop a node, flip bytes in its entry and replication-log tables, start it, and read
             every stream from it: WiredTiger's block checksums must catch what was read (the
             node then answers IOERR and reports aof_last_write_status:err, never the bad data);
             a node that caught it is replaced as above (the dirty-read check covers the rest)
  power      kill -9 a node and drop every write to its disk that was not fsync'd (each node's
             data directory is on its own Tools/lazyfs.py mount when this fault or blackout is on:
             <node>/disk is the disk, mounted at <node>/mnt), unmount, mount the disk again and
             restart it.
             A node that acknowledged what it had not synced comes back without it; the cluster
             must lose nothing all the same
  blackout   the same to every node at once (kill -9 all three, then drop what each had not
             synced): whatever was acknowledged must have been synced on a majority
  member     a membership change pair: a node is removed (CLUSTER FORGET, retried while a
             remaining member is still catching up), killed, its disk emptied, and a node with a
             new name and a bus index no member ever had is started at its address and added
             (CLUSTER MEET); the next fault waits until it has caught up

Checker, after healing and draining:
  lost        acknowledged entries missing (from any node) or not at their acknowledged id
  duplicated  payloads present more than once on a node
  reordered   a producer's entries out of SEQ order, ids not increasing, or nodes disagreeing
  dirty       entries a reader saw that are not in the final log at the same id
  redelivered group entries delivered again after their XACK was acknowledged
  undelivered acknowledged entries never delivered to the stream's group
The last line is always
  chaos: F faults, A acknowledged, L lost, D duplicated, R reordered, G redelivered
and the exit status is 0 only when every count but F and A is zero (dirty reads and undelivered
entries included).

Needs root (iptables, cgroups), etcd, for `clock` Debian's faketime, and for `power` and
`blackout` FUSE (/dev/fuse, libfuse2, fusepy: Tools/install-deps.sh). SPOOLD (default
.build/debug/spoold) and ETCD name the binaries.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests" / "integration"))
sys.path.insert(0, str(ROOT / "Tools"))

import redis  # noqa: E402
from redis.backoff import NoBackoff  # noqa: E402
from redis.retry import Retry  # noqa: E402

import cluster as harness  # noqa: E402
from cluster import Cluster, Node, keys_for_shards  # noqa: E402
from helpers import parse_id, wait_until  # noqa: E402
from lazyfs import LazyFS  # noqa: E402

FAKETIME_LIBRARY = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
ALL_FAULTS = ["kill", "pause", "partition", "etcd", "clock", "replace", "corrupt", "power", "blackout", "member"]
DISK_FAULTS = {"power", "blackout"}  # these put every node's data directory on lazyfs
GROUP = b"chaos"


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Run:
    """What every thread records, under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stop = threading.Event()
        # (stream, payload) -> id, from producers' replies
        self.acked: Dict[Tuple[bytes, bytes], bytes] = {}
        self.attempted: Set[Tuple[bytes, bytes]] = set()
        self.ack_changed: List[str] = []
        self.ack_times: List[Tuple[float, bytes]] = []
        # reader observations: node name -> {(stream, id): payload}
        self.seen: Dict[str, Dict[Tuple[bytes, bytes], bytes]] = defaultdict(dict)
        self.reader_problems: List[str] = []
        # groups: ids whose XACK was acknowledged, deliveries after that, deliveries in all
        self.group_acked: Set[Tuple[bytes, bytes]] = set()
        self.redelivered: List[Tuple[bytes, bytes]] = []
        self.delivered: Set[Tuple[bytes, bytes]] = set()
        self.errors: Counter = Counter()
        self.failures: List[str] = []

    def error(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] += 1


def leader_for(cluster: Cluster, stream: bytes) -> Optional[Node]:
    shard = cluster.shard_of(stream)
    nodes = cluster.running()
    random.shuffle(nodes)
    for node in nodes:
        try:
            leader = cluster.leaders(node)[shard]
        except (redis.RedisError, OSError, KeyError):
            continue
        if leader is not None and leader in cluster.running():
            return leader
    return None


def plain(node: Node, timeout: float = 2.0) -> Optional[redis.Redis]:
    """A client of one node, or None when the node does not take the connection now (it is being
    restarted): a single-connection client connects as it is made."""
    try:
        return redis.Redis(host=node.host, port=node.port, socket_timeout=timeout, socket_connect_timeout=timeout,
                           retry=Retry(NoBackoff(), 0), single_connection_client=True)
    except (redis.ConnectionError, redis.TimeoutError):
        return None


def producer(cluster: Cluster, run: Run, index: int, stream: bytes, depth: int, rate: float) -> None:
    """SEQs 1, 2, …; `unacked` holds those sent and not yet acknowledged, resent in order after
    any failure."""
    name = f"pr{index}"
    next_seq = 1
    unacked: List[int] = []
    node: Optional[Node] = None
    client: Optional[redis.Redis] = None
    started = time.monotonic()
    while not run.stop.is_set():
        # At most `rate` new SEQs a second (resends are not held back).
        ahead = (next_seq - 1) / rate - (time.monotonic() - started)
        if ahead > 0 and len(unacked) == 0:
            time.sleep(min(ahead, 0.1))
            continue
        if client is None:
            node = leader_for(cluster, stream)
            if node is None:
                time.sleep(0.05)
                continue
            client = plain(node)
            if client is None:
                time.sleep(0.05)
                continue
        while len(unacked) < depth:
            unacked.append(next_seq)
            next_seq += 1
        batch = list(unacked)
        pipe = client.pipeline(transaction=False)
        for seq in batch:
            payload = f"{name}-{seq}".encode()
            with run.lock:
                run.attempted.add((stream, payload))
            pipe.execute_command("XADD", stream, "PRODUCER", name, "SEQ", seq, "*", "p", payload)
        try:
            replies = pipe.execute(raise_on_error=False)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            run.error(type(exc).__name__)
            client.close()
            client = None
            time.sleep(0.05)
            continue
        failed = False
        now = time.monotonic()
        for seq, reply in zip(batch, replies):
            if isinstance(reply, Exception) or failed:
                if isinstance(reply, Exception):
                    run.error(f"{type(reply).__name__} {str(reply).split(' ', 1)[0]}")
                failed = True  # later SEQs of the batch are resent after this one anyway
                continue
            payload = f"{name}-{seq}".encode()
            entry_id = bytes(reply)
            with run.lock:
                earlier = run.acked.get((stream, payload))
                if earlier is not None and earlier != entry_id:
                    run.ack_changed.append(f"{stream!r} {payload!r} acked as {earlier!r} then {entry_id!r}")
                run.acked[(stream, payload)] = entry_id
                run.ack_times.append((now, stream))
            unacked.remove(seq)
        if failed:
            client.close()
            client = None
            time.sleep(0.05)
    if client is not None:
        client.close()


def reader(cluster: Cluster, run: Run, node: Node, streams: List[bytes]) -> None:
    """XREAD of each stream in turn (one slot per command: a cluster refuses CROSSSLOT reads) from
    this node over READONLY, remembering every entry shown."""
    last = {s: b"0-0" for s in streams}
    client: Optional[redis.Redis] = None
    while not run.stop.is_set():
        if not node.is_running() or node.paused:
            if client is not None:
                client.close()
                client = None
            time.sleep(0.1)
            continue
        got = 0
        try:
            if client is None:
                client = node.client(readonly=True, timeout=2.0)
            for stream in streams:
                reply = client.xread({stream: last[stream]}, count=500)
                with run.lock:
                    seen = run.seen[node.name]
                    for _, entries in reply or []:
                        for entry_id, fields in entries:
                            entry_id = bytes(entry_id)
                            if parse_id(entry_id) <= parse_id(last[stream]):
                                run.reader_problems.append(f"{node.name} {stream!r}: {entry_id!r} after {last[stream]!r}")
                            seen[(stream, entry_id)] = fields.get(b"p", b"")
                            last[stream] = entry_id
                            got += 1
        except (redis.RedisError, OSError) as exc:
            # An error reply by its code (IOERR from a node that found damaged data, say).
            code = f" {str(exc).split(' ', 1)[0]}" if type(exc) is redis.ResponseError else ""
            run.error(f"reader {type(exc).__name__}{code}")
            if client is not None:
                client.close()
            client = None
            time.sleep(0.1)
            continue
        if got == 0:
            time.sleep(0.05)
    if client is not None:
        client.close()


def consumer(cluster: Cluster, run: Run, index: int, stream: bytes, final: threading.Event) -> None:
    """XREADGROUP > and XACK; XAUTOCLAIM every 3 s. Stops once `final` is set and a read finds
    nothing more (the drain)."""
    name = f"c{index}"
    client: Optional[redis.Redis] = None
    next_claim = time.monotonic() + 3
    while True:
        if client is None:
            node = leader_for(cluster, stream)
            if node is None:
                if final.is_set() and run.stop.is_set():
                    return
                time.sleep(0.05)
                continue
            client = plain(node, timeout=3.0)
            if client is None:
                time.sleep(0.05)
                continue
        try:
            got: List[bytes] = []
            reply = client.xreadgroup(GROUP, name, {stream: b">"}, count=100, block=100)
            for _, entries in reply or []:
                got += [bytes(i) for i, _ in entries]
            if time.monotonic() >= next_claim or final.is_set():
                next_claim = time.monotonic() + 3
                claimed = client.xautoclaim(stream, GROUP, name, min_idle_time=1500 if not final.is_set() else 0,
                                            start_id="0-0", count=200)
                got += [bytes(i) for i, _ in claimed[1]]
            with run.lock:
                for entry_id in got:
                    key = (stream, entry_id)
                    if key in run.group_acked:
                        run.redelivered.append(key)
                    run.delivered.add(key)
            if got:
                acked = client.xack(stream, GROUP, *got)
                if acked == len(got):
                    with run.lock:
                        run.group_acked.update((stream, i) for i in got)
            elif final.is_set():
                return
        except (redis.RedisError, OSError) as exc:
            run.error("consumer " + str(exc).split(" ", 1)[0])
            if client is not None:
                client.close()
            client = None
            time.sleep(0.05)


class Disks:
    """Each node's data directory on its own lazyfs mount (`power`, `blackout`): <node>/disk holds
    what survives a power loss, mounted at <node>/mnt; the node's data is <node>/mnt/data, so that
    replacing a disk (rmtree, mkdir) works through the mount."""

    def __init__(self, cluster: Cluster) -> None:
        self.mounts: Dict[str, LazyFS] = {}
        for node in cluster.nodes:
            node.data_dir.rmdir()  # the empty one Node made
            node.data_dir = node.dir / "mnt" / "data"
            self.mounts[node.name] = LazyFS(node.dir / "disk", node.dir / "mnt", log_path=node.dir / "lazyfs.log")

    def mount_all(self, cluster: Cluster) -> None:
        for node in cluster.nodes:
            self.mounts[node.name].mount()
            node.data_dir.mkdir(exist_ok=True)

    def lose_power(self, node: Node) -> Dict[str, int]:
        """Drops what `node` (stopped) wrote and did not sync, and mounts its disk again: the
        machine rebooted. Returns the unsynced bytes dropped, by file."""
        assert not node.is_running(), f"{node.name} still runs"
        old = self.mounts[node.name]
        lost = old.lose_power()
        old.unmount()
        self.mounts[node.name] = LazyFS(old.backing, old.mount_point, old.log_path).mount()
        return lost

    def close(self) -> None:
        for fs in self.mounts.values():
            fs.unmount()


class Nemesis:
    def __init__(self, cluster: Cluster, run: Run, rng: random.Random, faults: List[str], ttl: int, streams: List[bytes],
                 disks: Optional[Disks] = None) -> None:
        self.cluster = cluster
        self.disks = disks
        self.streams = set(streams)
        self.run = run
        self.rng = rng
        self.faults = faults
        self.ttl = ttl
        # (description, seconds from healing until every stream took a write again, the longest
        # time any stream went without an acknowledged write from the fault's start until then)
        self.log: List[Tuple[str, float, float]] = []
        # Member swaps: each node's bus index (its cluster-node-id's), and the next one never used.
        self.member_index: Dict[str, int] = {node.node_id: i for i, node in enumerate(cluster.nodes)}
        self.next_index = len(cluster.nodes)

    def pick_node(self) -> Node:
        nodes = list(self.cluster.nodes)
        if self.rng.random() < 2 / 3:
            try:
                leaders = [n for n in self.cluster.leaders() if n is not None]
                if leaders:
                    return self.rng.choice(sorted(set(leaders), key=lambda n: n.index))
            except (redis.RedisError, OSError, IndexError):
                pass
        return self.rng.choice(nodes)

    def apply(self, fault: str, hold: float) -> str:
        cluster = self.cluster
        if fault == "kill":
            node = self.pick_node()
            cluster.kill(node)
            time.sleep(hold)
            cluster.restart(node, wait=False)
            return f"kill -9 {node.name}"
        if fault == "pause":
            node = self.pick_node()
            node.send_signal(signal.SIGSTOP)
            time.sleep(hold)
            node.send_signal(signal.SIGCONT)
            return f"pause {node.name}"
        if fault == "partition":
            node = self.pick_node()
            cluster.cut(node)
            time.sleep(hold)
            cluster.heal()
            return f"partition {node.name}"
        if fault == "etcd":
            cluster.etcd.stop(signal.SIGKILL)
            time.sleep(hold)
            cluster.start_etcd()
            return "etcd down"
        if fault == "replace":
            node = self.pick_node()
            self.replace_disk(node, hold)
            return f"replace {node.name}"
        if fault == "corrupt":
            node = self.pick_node()
            node.stop()
            flipped = []
            for name in ("spool-live.wt", "spool-replog.wt"):
                path = node.data_dir / name
                size = path.stat().st_size if path.exists() else 0
                if size <= 8192:
                    continue
                with open(path, "r+b") as f:
                    for _ in range(4):
                        offset = self.rng.randrange(4096, size)
                        f.seek(offset)
                        byte = f.read(1)
                        f.seek(offset)
                        f.write(bytes([byte[0] ^ (1 << self.rng.randrange(8))]))
                        flipped.append(f"{name}@{offset}")
            node.start(wait=False)
            time.sleep(hold)
            outcome = self.detect_corruption(node)
            if outcome != "unnoticed":
                say(f"{node.name}: corruption {outcome}; replacing its disk")
                self.replace_disk(node)
            return f"corrupt {node.name} ({outcome}: {', '.join(flipped)})"
        if fault == "power":
            assert self.disks is not None
            node = self.pick_node()
            cluster.kill(node)
            lost = self.disks.lose_power(node)
            say(f"{node.name}: power lost, {sum(lost.values())} unsynced bytes dropped "
                f"({', '.join(f'{Path(name).name} {n}' for name, n in sorted(lost.items())) or 'none'})")
            time.sleep(hold)
            cluster.restart(node, wait=False)
            return f"power {node.name} ({sum(lost.values())} unsynced bytes dropped)"
        if fault == "member":
            return self.swap_member(self.pick_node(), hold)
        if fault == "blackout":
            assert self.disks is not None
            for node in cluster.nodes:
                if node.is_running():
                    cluster.kill(node)
            lost = {node.name: sum(self.disks.lose_power(node).values()) for node in cluster.nodes}
            dropped = ", ".join(f"{name} {n}" for name, n in lost.items())
            say(f"blackout: every node lost power; unsynced bytes dropped: {dropped}")
            time.sleep(hold)
            for node in cluster.nodes:
                cluster.restart(node, wait=False)
            return f"blackout (unsynced bytes dropped: {dropped})"
        if fault == "clock":
            node = self.pick_node()
            offset = self.rng.choice([-1, 1]) * self.rng.randint(30, 90)
            node.stop()
            node.prefix = ["env", f"LD_PRELOAD={FAKETIME_LIBRARY}", f"FAKETIME={offset:+d}s", "FAKETIME_DONT_FAKE_MONOTONIC=1"]
            node.start(wait=False)
            time.sleep(hold)
            node.stop()
            node.prefix = []
            node.start(wait=False)
            return f"clock {offset:+d}s on {node.name}"
        raise ValueError(fault)

    def change_members(self, via: List[Node], *command: object, timeout: float = 60.0) -> Optional[str]:
        """A membership change (CLUSTER MEET/FORGET) through any of `via`, retried while it is
        refused for a passing reason (a member still catching up after the last fault, a node not
        registered yet, etcd or a leader moving). None when made, else the last refusal."""
        transient = ("does not hold the shard's committed log", "has not answered", "has no leader", "another membership change",
                     "CLUSTERDOWN", "Invalid node address", "TRYAGAIN")
        deadline = time.monotonic() + timeout
        refusal = "no node answered"
        while time.monotonic() < deadline:
            for node in via:
                if not node.is_running():
                    continue
                try:
                    client = node.client(timeout=30.0)
                    try:
                        client.execute_command(*command)
                        return None
                    finally:
                        client.close()
                except redis.ResponseError as exc:
                    refusal = str(exc)
                    if not any(word in refusal for word in transient):
                        return refusal
                except (redis.RedisError, OSError) as exc:
                    refusal = f"{type(exc).__name__}: {exc}"
            time.sleep(0.5)
        return refusal

    def swap_member(self, node: Node, hold: float) -> str:
        """The node behind `node`'s address leaves the cluster and a new one takes its place: a
        removal (CLUSTER FORGET), kill -9 and an empty disk, then a node with a new name and a bus
        index no member ever had is started there and added (CLUSTER MEET), and caught up."""
        cluster = self.cluster
        old = node.node_id
        others = [n for n in cluster.nodes if n is not node]
        if self.next_index >= 64:
            return f"member swap of {old} skipped (bus indices used up)"
        refused = self.change_members(others, "CLUSTER", "FORGET", old)
        if refused is not None:
            return f"member swap of {old} skipped (removal refused: {refused})"
        self.empty_disk(node)
        time.sleep(hold)
        index = self.next_index
        self.next_index += 1
        del self.member_index[old]
        by_index = {self.member_index[n.node_id]: n for n in others}
        # Its own list gives its index: the members at theirs, a placeholder where none is.
        spec = [f"{by_index[i].node_id}={by_index[i].host}:{by_index[i].port}" if i in by_index else f"gone{i}=127.0.0.1:{1 + i}"
                for i in range(index)]
        node.node_id = f"{node.name}m{index}"
        node.members_override = ",".join(spec + [f"{node.node_id}={node.host}:{node.port}"])
        self.member_index[node.node_id] = index
        cluster.restart(node, wait=False)
        refused = self.change_members(others, "CLUSTER", "MEET", node.host, node.port)
        if refused is not None:
            raise RuntimeError(f"adding {node.node_id} failed: {refused}")
        self.wait_caught_up(node)
        return f"member swap {old} -> {node.node_id} (bus index {index})"

    def detect_corruption(self, node: Node) -> str:
        """Reads every stream from `node`; how the corruption showed: "exited", "refused"
        (IOERR, the store stopped), or "unnoticed" (no block read was damaged)."""
        def failed_store() -> bool:
            client = node.client(timeout=5.0)
            try:
                return str(client.info("persistence").get("aof_last_write_status")) == "err"
            finally:
                client.close()

        try:
            wait_until(lambda: not node.is_running() or node.answers_ping(), timeout=30, what=f"{node.name} to start")
        except AssertionError:
            return "hung"
        if not node.is_running():
            return "exited"
        client = node.client(readonly=True, timeout=10.0)
        try:
            for stream in self.streams:
                start = b"-"
                while True:
                    page = client.xrange(stream, start, b"+", count=5000)
                    if len(page) < 5000:
                        break
                    start = b"(" + bytes(page[-1][0])
        except redis.ResponseError as exc:
            if "IOERR" in str(exc) or "panic" in str(exc).lower():
                return "refused"
            raise
        except (redis.ConnectionError, redis.TimeoutError):
            return "exited" if not node.is_running() else "refused"
        finally:
            client.close()
        return "refused" if failed_store() else "unnoticed"

    def replace_failed_stores(self) -> None:
        """A node whose store stopped (a damaged block read later) gets a new disk, as an
        operator would give it."""
        for node in self.cluster.nodes:
            try:
                client = node.client(timeout=5.0)
                try:
                    failed = str(client.info("persistence").get("aof_last_write_status")) == "err"
                finally:
                    client.close()
            except (redis.RedisError, OSError):
                failed = not node.is_running()
            if failed:
                say(f"{node.name}: its store has stopped (damaged data found); replacing its disk")
                self.replace_disk(node)

    def replace_disk(self, node: Node, hold: float = 0.0) -> None:
        """kill -9 (if it runs), an empty data directory, start, and wait until it caught up."""
        self.empty_disk(node)
        time.sleep(hold)
        self.cluster.restart(node, wait=False)
        self.wait_caught_up(node)

    def empty_disk(self, node: Node) -> None:
        """kill -9 (if it runs) and an empty data directory: a new disk."""
        if node.is_running():
            self.cluster.kill(node)
        shutil.rmtree(node.data_dir)
        node.data_dir.mkdir(parents=True)

    def wait_caught_up(self, node: Node, timeout: float = 300.0) -> None:
        """Until `node` has applied every shard's log as far as that shard's leader has committed
        (INFO shards on each), with no gap and no shard it is still a learner of: a second disk
        replaced before that would be a second failure at once."""
        def shard_fields(n: Node) -> Dict[str, Dict[str, str]]:
            client = n.client(timeout=2.0)
            try:
                info = client.info("shards")
            finally:
                client.close()
            out = {}
            for k, v in info.items():
                if k.startswith("spool_cluster_shard") and k[len("spool_cluster_shard"):].isdigit():
                    # redis-py already splits "role=leader,epoch=3,…" into a dict.
                    out[k] = v if isinstance(v, dict) else dict(part.split("=", 1) for part in str(v).split(","))
            return out

        def caught_up() -> bool:
            mine = shard_fields(node)
            if any("learner" in fields or "gap" in fields or "joining" in fields for fields in mine.values()):
                return False  # (it votes again only once it holds its join mark)
            for other in self.cluster.nodes:
                if other is node:
                    continue
                for shard, fields in shard_fields(other).items():
                    if fields.get("role") == "leader" and int(mine[shard]["applied"]) < int(fields["committed"]) - 50:
                        return False
            return bool(mine)

        wait_until(caught_up, timeout=timeout, interval=0.2, what=f"{node.name} to catch up after its disk was replaced")

    def recovered_after(self, healed: float, timeout: float = 60.0) -> float:
        """Seconds from `healed` until every stream got an acknowledged write sent after it."""
        streams = self.streams

        def all_acked() -> Optional[float]:
            with self.run.lock:
                latest: Dict[bytes, float] = {}
                for at, stream in reversed(self.run.ack_times):
                    if at < healed:
                        break
                    latest[stream] = at
            if set(latest) >= streams:
                return max(latest.values()) - healed
            return None

        return wait_until(all_acked, timeout=timeout, interval=0.05, what="every stream to take writes again")

    def longest_outage(self, start: float, end: float) -> float:
        with self.run.lock:
            times = [(at, stream) for at, stream in self.run.ack_times if start <= at <= end]
        longest = 0.0
        for stream in self.streams:
            marks = [start] + [at for at, s in times if s == stream] + [end]
            longest = max(longest, max(b - a for a, b in zip(marks, marks[1:])))
        return longest

    def loop(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self.run.stop.is_set():
            time.sleep(self.rng.uniform(2, 5))
            if time.monotonic() >= end:
                break
            fault = self.rng.choice(self.faults)
            hold = self.rng.uniform(1, 3) * self.ttl
            say(f"fault: {fault} for {hold:.1f} s")
            started = time.monotonic()
            what = self.apply(fault, hold)
            healed = time.monotonic()
            for node in self.cluster.nodes:
                if not node.is_running():
                    self.cluster.restart(node, wait=False)
            try:
                seconds_to_recover = self.recovered_after(healed)
            except AssertionError as exc:
                self.run.failures.append(f"after {what}: {exc}")
                self.log.append((what, float("inf"), float("inf")))
                say(f"{what}: did not recover")
                return
            outage = self.longest_outage(started, healed + seconds_to_recover)
            self.log.append((what, seconds_to_recover, outage))
            say(f"{what}: writes on every stream {seconds_to_recover:.2f} s after healing; "
                f"longest a stream went without a write {outage:.2f} s")


def check(cluster: Cluster, run: Run, streams: List[bytes]) -> Dict[str, int]:
    """Reads every stream from every node once they agree, and counts what went wrong."""
    views: Dict[str, Dict[bytes, List[Tuple[bytes, bytes]]]] = {}

    def read_all() -> bool:
        for node in cluster.nodes:
            client = node.client(readonly=True, timeout=10.0)
            try:
                views[node.name] = {s: [(i, f.get(b"p", b"")) for i, f in Cluster.read_stream(client, s)] for s in streams}
            finally:
                client.close()
        first = next(iter(views.values()))
        return all(v == first for v in views.values())

    agreed = True
    try:
        wait_until(read_all, timeout=60, interval=0.5, what="every node to hold the same entries")
    except AssertionError as exc:
        agreed = False
        say(f"nodes disagree: {exc}")
    counts = Counter()
    problems: List[str] = []
    for name, view in views.items():
        for stream in streams:
            entries = view[stream]
            payloads = Counter(p for _, p in entries)
            for payload, n in payloads.items():
                if n > 1:
                    counts["duplicated"] += n - 1
                    problems.append(f"{name} {stream!r}: {payload!r} {n} times")
                if (stream, payload) not in run.attempted:
                    counts["unknown"] += 1
                    problems.append(f"{name} {stream!r}: {payload!r} was never sent")
            ids = [parse_id(i) for i, _ in entries]
            if any(ids[k] <= ids[k - 1] for k in range(1, len(ids))):
                counts["reordered"] += 1
                problems.append(f"{name} {stream!r}: ids not increasing")
            seqs = [int(p.rsplit(b"-", 1)[1]) for _, p in entries]
            if seqs != sorted(seqs):
                counts["reordered"] += 1
                problems.append(f"{name} {stream!r}: SEQs out of order")
            at = {(stream, i): p for i, p in entries}
            for (s, payload), entry_id in run.acked.items():
                if s == stream and at.get((s, entry_id)) != payload:
                    counts["lost"] += 1
                    problems.append(f"{name} {stream!r}: acknowledged {payload!r} at {entry_id!r} holds {at.get((s, entry_id))!r}")
    if not agreed:
        counts["reordered"] += 1
        problems.append("nodes do not hold the same entries")
    final = {(s, i): p for s in streams for i, p in views[cluster.nodes[0].name][s]}
    for name, seen in run.seen.items():
        for key, payload in seen.items():
            if final.get(key) != payload:
                counts["dirty"] += 1
                problems.append(f"reader on {name} saw {key!r} = {payload!r}, final log has {final.get(key)!r}")
    counts["dirty"] += len(run.reader_problems)
    problems += run.reader_problems
    counts["lost"] += len(run.ack_changed)
    problems += run.ack_changed
    counts["redelivered"] = len(run.redelivered)
    problems += [f"group entry {k!r} delivered again after its XACK" for k in run.redelivered[:20]]
    acked_ids = {(s, i) for (s, _), i in run.acked.items()}
    undelivered = acked_ids - run.delivered
    counts["undelivered"] = len(undelivered)
    problems += [f"acknowledged {k!r} never delivered to the group" for k in sorted(undelivered)[:20]]
    for line in problems[:40]:
        say("problem: " + line)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--faults", default=",".join(ALL_FAULTS))
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--streams-per-shard", type=int, default=1)
    parser.add_argument("--depth", type=int, default=4, help="entries each producer has in flight")
    parser.add_argument("--rate", type=float, default=300, help="new entries a second per producer (the checker reads "
                        "everything back from every node, so a long run at full speed takes long to check)")
    parser.add_argument("--lease-ttl", type=int, default=2)
    parser.add_argument("--gap-threshold", type=int, default=300,
                        help="records behind at which a node joins with a gap (cluster-gap-threshold): low, so that "
                             "replaced disks and long outages join that way")
    parser.add_argument("--dir", default=None, help="where the nodes' data and logs go (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep data and logs even if the run passes")
    args = parser.parse_args()
    faults = [f for f in args.faults.split(",") if f]
    unknown = set(faults) - set(ALL_FAULTS)
    if unknown:
        parser.error(f"unknown faults {sorted(unknown)}; choose from {ALL_FAULTS}")
    if "clock" in faults and not os.path.exists(FAKETIME_LIBRARY):
        parser.error(f"the clock fault needs {FAKETIME_LIBRARY} (apt-get install faketime)")
    if "partition" in faults and Cluster.iptables_problem():
        parser.error(f"the partition fault needs iptables: {Cluster.iptables_problem()}")
    if DISK_FAULTS & set(faults) and LazyFS.problem():
        parser.error(f"the power and blackout faults need FUSE: {LazyFS.problem()}")
    import tempfile
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="spool-chaos-"))
    rng = random.Random(args.seed)
    cluster = Cluster(base, size=3, shards=args.shards, lease_ttl=args.lease_ttl, seed=args.seed, gap_threshold=args.gap_threshold)
    run = Run()
    streams = keys_for_shards("chaos", args.shards, per_shard=args.streams_per_shard)
    disks = Disks(cluster) if DISK_FAULTS & set(faults) else None
    nemesis = Nemesis(cluster, run, rng, faults, args.lease_ttl, streams, disks)
    threads: List[threading.Thread] = []
    final = threading.Event()
    counts: Dict[str, int] = {}
    passed = False
    try:
        if disks is not None:
            disks.mount_all(cluster)
        cluster.start()
        say(f"cluster up in {base}: {[n.address for n in cluster.nodes]}; seed {args.seed}, faults {faults}")
        setup = cluster.client()
        for stream in streams:
            cluster.retrying(lambda: setup.xgroup_create(stream, GROUP, id="0", mkstream=True), setup)
        setup.close()
        for n, stream in enumerate(streams):
            threads.append(threading.Thread(target=producer, args=(cluster, run, n, stream, args.depth, args.rate), daemon=True))
        consumers = [threading.Thread(target=consumer, args=(cluster, run, n, s, final), daemon=True)
                     for n, s in enumerate(streams)]
        readers = [threading.Thread(target=reader, args=(cluster, run, node, streams), daemon=True) for node in cluster.nodes]
        for thread in threads + consumers + readers:
            thread.start()
        wait_until(lambda: len(run.acked) >= 20, timeout=30, what="the first acknowledged writes")
        nemesis.loop(args.seconds)
        # Healed: everything runs, nothing is cut off or stopped.
        cluster.heal()
        if not cluster.etcd.is_running():
            cluster.start_etcd()
        for node in cluster.nodes:
            if node.paused:
                node.send_signal(signal.SIGCONT)
            if not node.is_running():
                cluster.restart(node, wait=False)
        nemesis.replace_failed_stores()
        run.stop.set()
        for thread in threads:
            thread.join(timeout=30)
        cluster.wait_ready(timeout=60)
        final.set()
        for thread in consumers:
            thread.join(timeout=120)
        for thread in readers:
            thread.join(timeout=10)
        stuck = [t.name for t in threads + consumers + readers if t.is_alive()]
        if stuck:
            run.failures.append(f"threads did not finish: {stuck}")
        counts = check(cluster, run, streams)
        say(f"faults: {dict(Counter(w.split(' ')[0] for w, _, _ in nemesis.log))}")
        by_kind: Dict[str, List[Tuple[float, float]]] = defaultdict(list)
        for what, recovered, outage in nemesis.log:
            by_kind[what.split(" ")[0]].append((recovered, outage))
        for kind, rows in sorted(by_kind.items()):
            recovered = sorted(r for r, _ in rows)
            outages = sorted(o for _, o in rows)
            say(f"  {kind}: {len(rows)}x, writes on every stream after healing: median {recovered[len(rows) // 2]:.2f} s, "
                f"max {recovered[-1]:.2f} s; longest outage of a stream: median {outages[len(rows) // 2]:.2f} s, "
                f"max {outages[-1]:.2f} s")
        joins = fills = 0
        for node in cluster.nodes:
            text = node.log_path.read_text(errors="replace")
            joins += text.count("joined at the leader's commit point")
            fills += len(re.findall(r"cluster: shard \d+: gap filled", text))
        say(f"joins with a gap: {joins}, gaps filled: {fills}")

        def open_gaps() -> List[str]:
            found = []
            for node in cluster.running():
                client = node.client(timeout=2.0)
                try:
                    for key, value in client.info("shards").items():
                        if "gap" in (value if isinstance(value, dict) else {}):
                            found.append(f"{node.name} {key} gap {value['gap']}")
                finally:
                    client.close()
            return found
        try:
            wait_until(lambda: not open_gaps(), timeout=60, interval=0.5, what="every gap to be filled")
        except AssertionError:
            run.failures.append(f"gaps still open: {open_gaps()}")
        say(f"errors seen by clients: {dict(run.errors.most_common(8))}")
        say(f"entries seen by readers: {', '.join(f'{name} {len(seen)}' for name, seen in sorted(run.seen.items()))}")
        say(f"dirty reads {counts.get('dirty', 0)}, undelivered to groups {counts.get('undelivered', 0)}, "
            f"unknown payloads {counts.get('unknown', 0)}, failures {run.failures}")
        passed = not run.failures and all(counts.get(k, 0) == 0 for k in
                                          ("lost", "duplicated", "reordered", "redelivered", "dirty", "undelivered", "unknown"))
    except BaseException as exc:  # noqa: BLE001 - reported in the summary line's status
        run.failures.append(f"{type(exc).__name__}: {exc}")
        say(f"run failed: {exc!r}")
    finally:
        run.stop.set()
        final.set()
        try:
            cluster.close()
        finally:
            if disks is not None:
                disks.close()
        if passed and not args.keep:
            cluster.remove_data()
        else:
            say(f"data and logs kept in {base}")
    print(f"chaos: {len(nemesis.log)} faults, {len(run.acked)} acknowledged, {counts.get('lost', 0)} lost, "
          f"{counts.get('duplicated', 0)} duplicated, {counts.get('reordered', 0)} reordered, "
          f"{counts.get('redelivered', 0)} redelivered", flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
