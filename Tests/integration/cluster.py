"""Harness for the cluster tests: etcd plus N spoold nodes on 127.0.0.2, .3, .4 …, faults, and a
Jepsen-style checker (REPLICATION.md 5.10).

    cluster = Cluster(base_dir, size=3, shards=4)
    cluster.start()                      # etcd, the nodes, then waits until every shard serves writes
    node = cluster.leader_of(b"orders")  # the Node leading that key's shard
    cluster.kill(node)                   # SIGKILL (or any signal); restart(node) comes back on the same dir
    cluster.cut(node) / cluster.heal()   # iptables: the node's bus traffic to and from its peers
    cluster.stop_etcd() / start_etcd()   # same data dir and ports
    rc = cluster.client()                # redis.cluster.RedisCluster that retries TRYAGAIN / CLUSTERDOWN
    cluster.retrying(lambda: rc.xadd(…), rc)  # … and keeps retrying through a whole failover
    cluster.check(acked, attempted)      # every acked entry once, at its id, same log on every node
    cluster.check_prefixes(acked, …)     # the same without waiting for convergence (shard stuck)
    cluster.close()                      # stops every process it started (by PID), removes its rules

The `cluster` fixture factory (`make_cluster`) does the start and the clean-up, and removes the data
directories of a passing test. `Workload` runs producer threads that pipeline XADDs to the shard
leaders over plain connections and records what was acknowledged, for the checker.

Cutting a node off. Nodes connect to their peers' bus ports from 127.0.0.1 (the kernel picks that
source address for every loopback destination; the bus does not bind its own address), so rules on
source/destination address pairs do not separate them. Instead each node runs in its own cgroup v2
group, and `cut(node)` drops (1) every packet to or from the node's own bus port and (2) packets its
process sends to the peers' bus ports (`-m cgroup --path`). Client ports and etcd stay reachable.

Environment: SPOOLD (spoold binary), ETCD (etcd binary, default /usr/bin/etcd).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import pytest
import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.retry import Retry

from helpers import parse_id, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
SPOOLD = os.environ.get("SPOOLD", str(REPO_ROOT / ".build" / "debug" / "spoold"))
ETCD = os.environ.get("ETCD") or shutil.which("etcd") or "/usr/bin/etcd"
SLOTS = 16384
START_TIMEOUT = 20.0
READY_TIMEOUT = 30.0


def _cgroup2_root() -> Optional[Path]:
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup/unified on a hybrid system,
    /sys/fs/cgroup on a pure v2 one); None without one."""
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) > 2 and fields[2] == "cgroup2":
                    return Path(fields[1])
    except OSError:
        pass
    return None


CGROUP_ROOT = _cgroup2_root()


def log(message: str) -> None:
    """Progress lines, shown with `pytest -s` and in a failing test's captured output."""
    print(f"[cluster {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------------------------
# Ports, slots
# --------------------------------------------------------------------------------------------


def _can_bind(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def pick_client_port(hosts: Sequence[str], rng: random.Random) -> int:
    """One client port free on every host, with its bus port (port + 10000) free too."""
    for _ in range(500):
        port = rng.randrange(20000, 55000)
        if all(_can_bind(h, port) and _can_bind(h, port + 10000) for h in hosts):
            return port
    raise RuntimeError(f"no free client port (and port + 10000) on {hosts}")


def free_local_port(exclude: Iterable[int] = ()) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in set(exclude):
            return port


def shard_of_slot(slot: int, shard_count: int) -> int:
    """The shard a slot folds onto (ClusterTopology.shard(ofSlot:)): contiguous ranges."""
    return ((slot + 1) * shard_count - 1) // SLOTS


def slot_range(shard: int, shard_count: int) -> Tuple[int, int]:
    """Inclusive first and last slot of a shard."""
    return shard * SLOTS // shard_count, (shard + 1) * SLOTS // shard_count - 1


def as_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def tag_for_shard(shard: int, shard_count: int, start: int = 0) -> str:
    """A hash tag whose slot lies in `shard` (the first one from `start` on)."""
    i = start
    while True:
        tag = f"t{i}"
        if shard_of_slot(key_slot(f"{{{tag}}}".encode()), shard_count) == shard:
            return tag
        i += 1


def keys_for_shards(prefix: str, shard_count: int, per_shard: int = 1) -> List[bytes]:
    """Stream names, `per_shard` for every shard, each with a hash tag pinning it there."""
    keys = []
    for shard in range(shard_count):
        start = 0
        for n in range(per_shard):
            tag = tag_for_shard(shard, shard_count, start)
            start = int(tag[1:]) + 1
            keys.append(f"{prefix}:{{{tag}}}:{n}".encode())
    return keys


# --------------------------------------------------------------------------------------------
# CLUSTER SHARDS
# --------------------------------------------------------------------------------------------


def _pairs_to_dict(value: Any) -> Dict[bytes, Any]:
    if isinstance(value, dict):
        return {as_bytes(k): v for k, v in value.items()}
    assert isinstance(value, list) and len(value) % 2 == 0, f"expected a map, got {value!r}"
    return {as_bytes(value[i]): value[i + 1] for i in range(0, len(value), 2)}


def parse_cluster_shards(reply: Any) -> List[Dict[str, Any]]:
    """CLUSTER SHARDS (RESP2 flat arrays or RESP3 maps) as
    [{"slots": [(first, last), …], "nodes": [{"id", "ip", "port", "role", "health", …}]}]."""
    shards = []
    for entry in reply:
        fields = _pairs_to_dict(entry)
        flat = [int(x) for x in fields[b"slots"]]
        slots = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
        nodes = []
        for node in fields[b"nodes"]:
            details = {k.decode(): (v.decode() if isinstance(v, bytes) else v) for k, v in _pairs_to_dict(node).items()}
            nodes.append(details)
        shards.append({"slots": slots, "nodes": nodes})
    return shards


def leaders_in(shards: List[Dict[str, Any]]) -> List[Optional[str]]:
    """The leader's `ip:port` of each shard, None where the shard has no leader."""
    out: List[Optional[str]] = []
    for shard in shards:
        masters = [n for n in shard["nodes"] if n.get("role") == "master"]
        assert len(masters) <= 1, f"a shard lists two masters: {shard}"
        out.append(f"{masters[0]['ip']}:{masters[0]['port']}" if masters and shard["slots"] else None)
    return out


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


class ProcessStartError(RuntimeError):
    pass


def _start_process(args: List[str], log_path: Path, cwd: Path, cgroup: Optional[Path] = None) -> subprocess.Popen:
    log_file = open(log_path, "ab")
    log_file.write(f"\n==== start {' '.join(args)}\n".encode())
    log_file.flush()
    if cgroup is not None:
        # Join the cgroup before exec, so every socket the process opens belongs to it (a socket
        # keeps the cgroup it was created in). `exec` keeps the PID.
        args = ["/bin/sh", "-c", f'echo $$ > "{cgroup}/cgroup.procs" && exec "$0" "$@"'] + args
    try:
        return subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(cwd))
    finally:
        log_file.close()


def _stop_process(proc: Optional[subprocess.Popen], sig: int = signal.SIGTERM, timeout: float = 10.0) -> Optional[int]:
    """Signals the process (by PID), waits, SIGKILLs it after `timeout`. A stopped process is
    continued first so that it can act on SIGTERM."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            if sig != signal.SIGKILL:
                os.kill(proc.pid, signal.SIGCONT)
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
    return proc.returncode


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Etcd:
    """One etcd member on 127.0.0.1; restarts keep its data directory and ports."""

    def __init__(self, base_dir: Path) -> None:
        self.dir = base_dir / "etcd"
        self.data_dir = self.dir / "data"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "etcd.log"
        self.client_port = free_local_port()
        self.peer_port = free_local_port(exclude=[self.client_port])
        self.proc: Optional[subprocess.Popen] = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    def command_line(self) -> List[str]:
        peer = f"http://127.0.0.1:{self.peer_port}"
        return [
            ETCD, "--name", "e", "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", f"e={peer}",
            "--heartbeat-interval", "50", "--election-timeout", "500", "--log-level", "warn",
        ]

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        assert not self.is_running(), "etcd already running"
        if not os.access(ETCD, os.X_OK):
            raise ProcessStartError(f"etcd not found at {ETCD} (apt-get install etcd-server, or set ETCD=)")
        self.proc = _start_process(self.command_line(), self.log_path, self.dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ProcessStartError(f"etcd exited with {self.proc.returncode}; log:\n{_tail(self.log_path)}")
            if self.healthy():
                return
            time.sleep(0.05)
        raise ProcessStartError(f"etcd not healthy within {timeout}s; log:\n{_tail(self.log_path)}")

    def healthy(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.client_port), timeout=1.0) as sock:
                sock.settimeout(1.0)
                sock.sendall(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                data = b""
                while True:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        except OSError:
            return False
        return b'"health":"true"' in data

    def stop(self, sig: int = signal.SIGTERM) -> None:
        _stop_process(self.proc, sig)


def _connect_readonly(connection: Any) -> None:
    connection.on_connect()
    connection.send_command("READONLY")
    reply = connection.read_response()
    if reply not in (b"OK", "OK"):
        raise redis.ConnectionError(f"READONLY answered {reply!r}")


class Node:
    """One spoold cluster member with its own address, data directory and log."""

    def __init__(self, cluster: "Cluster", index: int, host: str, port: int) -> None:
        self.cluster = cluster
        self.index = index
        self.name = f"n{index + 1}"
        # Its cluster-node-id, and a cluster-members of its own (Tools/chaos.py's member swaps give
        # the node behind this address a new identity); by default its name and the cluster's list.
        self.node_id = self.name
        self.members_override: Optional[str] = None
        self.host = host
        self.port = port
        self.bus_port = port + 10000
        self.dir = cluster.base_dir / self.name
        self.data_dir = self.dir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "spoold.log"
        self.proc: Optional[subprocess.Popen] = None
        self.paused = False
        self.cgroup: Optional[Path] = None
        # Put before spoold on its command line (e.g. `env LD_PRELOAD=…libfaketime…`; it must exec,
        # keeping the PID).
        self.prefix: List[str] = []
        # Put after this node's other arguments (e.g. its own admin port).
        self.extra_args: List[str] = []

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc else None

    def command_line(self) -> List[str]:
        c = self.cluster
        return self.prefix + [
            SPOOLD, "--bind", self.host, "--port", str(self.port), "--dir", str(self.data_dir),
            "--cluster-enabled", "yes", "--cluster-name", c.name, "--cluster-node-id", self.node_id,
            "--cluster-members", self.members_override or c.members_spec_for(self), "--cluster-etcd-endpoints", c.etcd.endpoint,
            "--cluster-shards", str(c.shard_count), "--cluster-lease-ttl", str(c.lease_ttl),
            "--cluster-quorum-timeout", str(c.quorum_timeout_ms),
        ] + (["--cluster-gap-threshold", str(c.gap_threshold)] if c.gap_threshold is not None else []) \
          + (["--cluster-backfill-rate", str(c.backfill_rate)] if c.backfill_rate is not None else []) \
          + c.extra_args + self.extra_args

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, wait: bool = True, timeout: float = START_TIMEOUT) -> None:
        assert not self.is_running(), f"{self.name} already running"
        if not os.access(SPOOLD, os.X_OK):
            raise ProcessStartError(f"spoold not found or not executable at {SPOOLD} (set SPOOLD=)")
        self.proc = _start_process(self.command_line(), self.log_path, self.dir, self.cgroup)
        self.paused = False
        if wait:
            self.wait_answering(timeout)

    def wait_answering(self, timeout: float = START_TIMEOUT) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ProcessStartError(
                    f"{self.name} exited with {self.proc.returncode} during start-up; log:\n{_tail(self.log_path)}")
            if self.answers_ping():
                return
            time.sleep(0.05)
        raise ProcessStartError(f"{self.name} did not answer PING within {timeout}s; log:\n{_tail(self.log_path)}")

    def answers_ping(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                sock.settimeout(1.0)
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                data = sock.recv(64)
        except OSError:
            return False
        return data.startswith(b"+PONG")

    def send_signal(self, sig: int) -> None:
        assert self.proc is not None and self.proc.poll() is None, f"{self.name} is not running"
        os.kill(self.proc.pid, sig)
        if sig == signal.SIGSTOP:
            self.paused = True
        elif sig == signal.SIGCONT:
            self.paused = False
        elif sig == signal.SIGKILL:
            self.proc.wait(timeout=10)

    def stop(self, sig: int = signal.SIGTERM) -> Optional[int]:
        code = _stop_process(self.proc, sig)
        self.paused = False
        return code

    def client(self, readonly: bool = False, timeout: float = 5.0, **kwargs: Any) -> redis.Redis:
        """A plain (not cluster-aware) redis-py client on one connection. With `readonly`, every
        connection it opens (a reconnect after an error too) sends READONLY first."""
        options: Dict[str, Any] = dict(
            host=self.host, port=self.port, socket_timeout=timeout, socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0), single_connection_client=True)
        if readonly:
            options["redis_connect_func"] = _connect_readonly
        options.update(kwargs)
        return redis.Redis(**options)

    def cluster_shards(self, timeout: float = 2.0) -> List[Dict[str, Any]]:
        client = self.client(timeout=timeout)
        try:
            return parse_cluster_shards(client.execute_command("CLUSTER", "SHARDS"))
        finally:
            client.close()

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    def __repr__(self) -> str:
        state = "paused" if self.paused else ("up" if self.is_running() else "down")
        return f"<Node {self.name} {self.address} pid={self.pid} {state}>"


# --------------------------------------------------------------------------------------------
# The cluster
# --------------------------------------------------------------------------------------------


class IptablesUnavailable(AssertionError):
    pass


class Cluster:
    def __init__(
        self, base_dir: Path, size: int = 3, shards: int = 4, lease_ttl: int = 2, quorum_timeout_ms: int = 1000,
        seed: Optional[int] = None, gap_threshold: Optional[int] = None, backfill_rate: Optional[int] = None,
        members: Optional[int] = None, extra_args: Sequence[str] = (),
    ) -> None:
        """`members`: how many of the `size` nodes are the seed members (default: all). The others
        are spare nodes: not started by `start`, each listing itself after the seed members (its
        bus index), to be added with CLUSTER MEET."""
        self.base_dir = Path(base_dir)
        # Put on every node's command line (e.g. the tls-* settings).
        self.extra_args = list(extra_args)
        self.gap_threshold = gap_threshold
        self.backfill_rate = backfill_rate
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.shard_count = shards
        self.lease_ttl = lease_ttl
        self.quorum_timeout_ms = quorum_timeout_ms
        self.rng = random.Random(seed)
        self.name = f"c{os.getpid()}x{self.rng.randrange(1 << 30)}"
        hosts = [f"127.0.0.{2 + i}" for i in range(size)]
        port = pick_client_port(hosts, self.rng)
        self.etcd = Etcd(self.base_dir)
        self.nodes = [Node(self, i, host, port) for i, host in enumerate(hosts)]
        self.initial_members = members if members is not None else size
        self.members_spec = ",".join(f"{n.name}={n.host}:{n.port}" for n in self.nodes[:self.initial_members])
        self._rules: List[List[str]] = []
        self._clients: List[Any] = []
        self.workloads: List["Workload"] = []
        self._cgroups_made: List[Path] = []
        self._make_cgroups()

    # -- lifecycle -----------------------------------------------------------------------------

    def _make_cgroups(self) -> None:
        """One cgroup v2 group per node, for `cut` (see the module doc). Best effort: without
        them everything but `cut` works, and `cut` says why it cannot."""
        if CGROUP_ROOT is None or not (CGROUP_ROOT / "cgroup.procs").exists():
            return
        for node in self.nodes:
            path = CGROUP_ROOT / f"spooltest-{self.name}-{node.name}"
            try:
                path.mkdir()
            except OSError:
                return
            self._cgroups_made.append(path)
            node.cgroup = path

    def members_spec_for(self, node: Node) -> str:
        """The seed members, and a spare node after them (each spare at its own position)."""
        if node.index < self.initial_members:
            return self.members_spec
        return ",".join(f"{n.name}={n.host}:{n.port}" for n in self.nodes[:node.index + 1])

    def start(self) -> "Cluster":
        self.start_etcd()
        seeds = self.nodes[:self.initial_members]
        for node in seeds:
            node.start(wait=False)
        for node in seeds:
            node.wait_answering()
        self.wait_ready()
        log(f"cluster up: {[n.address for n in self.nodes]}, etcd {self.etcd.endpoint}, {self.shard_count} shards")
        return self

    def close(self) -> None:
        """Stops everything it started (by PID) and removes its iptables rules and cgroups."""
        for workload in self.workloads:
            workload.stop_event.set()
        for workload in self.workloads:
            for thread in workload.threads:
                thread.join(timeout=workload.timeout + 5)
        try:
            self.heal()
        finally:
            for client in self._clients:
                try:
                    client.close()
                except Exception:  # noqa: BLE001 - best effort during teardown
                    pass
            self._clients.clear()
            for node in self.nodes:
                node.stop()
            self.etcd.stop()
            for path in self._cgroups_made:
                try:
                    path.rmdir()
                except OSError:
                    pass

    def remove_data(self) -> None:
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def start_etcd(self) -> None:
        self.etcd.start()

    def stop_etcd(self) -> None:
        self.etcd.stop()

    def running(self) -> List[Node]:
        return [n for n in self.nodes if n.is_running() and not n.paused]

    # -- who leads what ------------------------------------------------------------------------

    def node_for(self, address: Any) -> Node:
        """The node at `host:port` (str, bytes, a (host, port) pair or a MOVED error's text)."""
        if isinstance(address, tuple):
            host, port = address[0], int(address[1])
        else:
            text = address.decode() if isinstance(address, bytes) else str(address)
            text = text.split()[-1]
            host, _, port_text = text.rpartition(":")
            port = int(port_text)
        for node in self.nodes:
            if node.host == host and node.port == port:
                return node
        raise KeyError(f"no node at {host}:{port}")

    def shard_of(self, key: Any) -> int:
        return shard_of_slot(key_slot(as_bytes(key)), self.shard_count)

    def leaders(self, node: Optional[Node] = None) -> List[Optional[Node]]:
        """Each shard's leader as `node` (default: the first running node) sees it."""
        viewer = node or self.running()[0]
        return [self.node_for(a) if a else None for a in leaders_in(viewer.cluster_shards())]

    def agreed_leaders(self, nodes: Optional[Sequence[Node]] = None) -> Optional[List[Node]]:
        """The leaders every node in `nodes` (default: the running ones) agrees on, when every
        shard has one and each leader is among them; else None."""
        nodes = list(nodes) if nodes is not None else self.running()
        views = []
        for node in nodes:
            try:
                views.append(self.leaders(node))
            except (redis.RedisError, OSError):
                return None
        if not views or any(v != views[0] for v in views):
            return None
        if any(leader is None or leader not in nodes for leader in views[0]):
            return None
        return views[0]  # type: ignore[return-value]

    def wait_ready(self, timeout: float = READY_TIMEOUT, nodes: Optional[Sequence[Node]] = None) -> List[Node]:
        """Waits until the nodes agree on a leader for every shard and every leader commits a
        write: a DEL of a key that does not exist, which goes through the shard's log and
        changes nothing."""
        deadline = time.monotonic() + timeout
        leaders = wait_until(lambda: self.agreed_leaders(nodes), timeout=timeout, interval=0.05,
                             what="every shard to have a leader all nodes agree on")
        for shard in range(self.shard_count):
            probe = f"spool-probe:{{{tag_for_shard(shard, self.shard_count)}}}".encode()

            def commits() -> bool:
                leader = self.agreed_leaders(nodes)
                if leader is None:
                    return False
                client = leader[shard].client(timeout=2.0)
                try:
                    return client.delete(probe) == 0
                except redis.RedisError:
                    return False
                finally:
                    client.close()

            wait_until(commits, timeout=max(1.0, deadline - time.monotonic()), interval=0.05,
                       what=f"shard {shard}'s leader to commit a write")
        return self.agreed_leaders(nodes) or leaders

    def leader_of(self, key: Any, timeout: float = 15.0, exclude: Sequence[Node] = ()) -> Node:
        """The node leading `key`'s shard: the running nodes agree on it (polls until they do and it
        is not one of `exclude`)."""
        shard = self.shard_of(key)

        def find() -> Optional[Node]:
            nodes = [n for n in self.running() if n not in exclude]
            answers = []
            for node in nodes:
                try:
                    answers.append(self.leaders(node)[shard])
                except (redis.RedisError, OSError):
                    continue
            if not answers or any(a != answers[0] for a in answers):
                return None
            leader = answers[0]
            return leader if leader is not None and leader in nodes else None

        return wait_until(find, timeout=timeout, interval=0.05, what=f"an agreed leader for shard {shard}")

    def replication_state(self, node: Node) -> Dict[str, Any]:
        """INFO cluster's per-shard replication state of a node ({"shard0": {"role", "epoch", …}}),
        for failure messages; {"error": …} if it does not answer."""
        try:
            client = node.client(timeout=2.0)
            try:
                info = client.info("cluster")
            finally:
                client.close()
        except (redis.RedisError, OSError) as exc:
            return {"error": repr(exc)}
        return {k.replace("spool_cluster_", ""): v for k, v in info.items() if k.startswith("spool_cluster_shard")}

    def shards_led_by(self, node: Node) -> List[int]:
        return [s for s, leader in enumerate(self.leaders()) if leader is node]

    # -- faults --------------------------------------------------------------------------------

    def kill(self, node: Node, sig: int = signal.SIGKILL) -> float:
        """Sends `sig` to the node's process; returns the monotonic time it was sent."""
        at = time.monotonic()
        node.send_signal(sig)
        log(f"sent {signal.Signals(sig).name} to {node.name} (pid {node.pid})")
        return at

    def replace_disk(self, node: Node) -> None:
        """Kills the node and gives it an empty data directory (a new disk); it stays stopped."""
        self.kill(node)
        shutil.rmtree(node.data_dir)
        node.data_dir.mkdir()
        log(f"replaced {node.name}'s data directory with an empty one")

    def restart(self, node: Node, wait: bool = True) -> None:
        """Starts the node again on its data directory (stopping it first if it runs)."""
        if node.is_running():
            node.stop()
        node.start(wait=wait)
        log(f"restarted {node.name} (pid {node.pid})")

    @staticmethod
    def iptables_problem() -> Optional[str]:
        """None if iptables can be used here, else why not."""
        if shutil.which("iptables") is None:
            return "iptables is not installed (apt-get install iptables; Tools/install-deps.sh should)"
        result = subprocess.run(["iptables", "-L", "-n"], capture_output=True, text=True)
        if result.returncode != 0:
            return f"`iptables -L` failed ({result.returncode}): {result.stderr.strip()} (needs root and netfilter)"
        return None

    def _iptables(self, rule: List[str]) -> None:
        result = subprocess.run(["iptables", "-I"] + rule, capture_output=True, text=True)
        if result.returncode != 0:
            raise AssertionError(f"iptables -I {' '.join(rule)} failed: {result.stderr.strip()}")
        self._rules.append(rule)

    def cut(self, node: Node) -> None:
        """Cuts `node` off from every other node (the cluster bus, both ways). Clients still reach
        it and it still reaches etcd."""
        problem = self.iptables_problem()
        if problem:
            raise IptablesUnavailable(f"cannot cut {node.name} off: {problem}")
        if CGROUP_ROOT is None or node.cgroup is None or not (node.cgroup / "cgroup.procs").exists():
            raise IptablesUnavailable(
                f"cannot cut {node.name} off: no cgroup v2 group for it under {CGROUP_ROOT} (the bus connects from "
                "127.0.0.1, so only the cgroup match tells one node's outgoing packets from another's)")
        bus = str(node.bus_port)
        # Peers' connections to this node's bus, both directions.
        self._iptables(["INPUT", "-d", node.host, "-p", "tcp", "--dport", bus, "-j", "DROP"])
        self._iptables(["INPUT", "-s", node.host, "-p", "tcp", "--sport", bus, "-j", "DROP"])
        # This node's connections to its peers' buses (it sends only on those).
        cgroup = node.cgroup.relative_to(CGROUP_ROOT)
        for peer in self.nodes:
            if peer is node:
                continue
            self._iptables(["OUTPUT", "-m", "cgroup", "--path", str(cgroup), "-d", peer.host, "-p", "tcp",
                            "--dport", str(peer.bus_port), "-j", "DROP"])
        log(f"cut {node.name} off from its peers")

    def heal(self) -> None:
        """Removes every rule `cut` added."""
        errors = []
        while self._rules:
            rule = self._rules.pop()
            result = subprocess.run(["iptables", "-D"] + rule, capture_output=True, text=True)
            if result.returncode != 0:
                errors.append(f"iptables -D {' '.join(rule)}: {result.stderr.strip()}")
        if errors:
            raise AssertionError("could not remove iptables rules:\n" + "\n".join(errors))

    # -- clients -------------------------------------------------------------------------------

    RETRIED = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ClusterError,
               redis.exceptions.TryAgainError, redis.exceptions.SlotNotCoveredError)

    def retrying(self, fn: Callable[[], Any], client: Optional[RedisCluster] = None, timeout: float = 20.0,
                 what: str = "a cluster command") -> Any:
        """fn() until it does not fail with a failover error (connection refused, CLUSTERDOWN,
        TRYAGAIN…), for `timeout` s. RedisCluster retries those itself but without pausing, so
        its attempts run out long before a lease expires. Only for commands that may safely run
        twice (the failed attempt may have been applied).

        SlotNotCoveredError: redis-py never refreshes a slot map with a hole by itself (it raises
        before it sends anything), and Spool leaves a shard's slots out of CLUSTER SLOTS while the
        shard has no leader (see test_cluster_slots_keep_every_slot_covered_during_failover), so
        `client`'s map is re-read here."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return fn()
            except self.RETRIED as exc:
                if time.monotonic() >= deadline:
                    raise AssertionError(f"{what} still failing after {timeout}s: {exc!r}") from exc
                if isinstance(exc, redis.exceptions.SlotNotCoveredError) and client is not None:
                    try:
                        client.nodes_manager.initialize()
                    except redis.RedisError:
                        pass
                time.sleep(0.05)

    def client(self, retries: int = 30, timeout: float = 5.0, **kwargs: Any) -> RedisCluster:
        """A redis-py RedisCluster on the running nodes. It follows MOVED itself and retries
        TRYAGAIN (inside one attempt) and CLUSTERDOWN / connection errors (`retries` attempts,
        exponential backoff up to 0.5 s), re-reading the slot map each time."""
        options: Dict[str, Any] = dict(
            startup_nodes=[ClusterNode(n.host, n.port) for n in self.running()],
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries),
            socket_timeout=timeout, socket_connect_timeout=timeout, require_full_coverage=False,
        )
        options.update(kwargs)
        client = RedisCluster(**options)
        self._clients.append(client)
        return client

    def readonly_clients(self, nodes: Optional[Sequence[Node]] = None) -> Dict[Node, redis.Redis]:
        out = {}
        for node in nodes or self.running():
            client = node.client(readonly=True)
            self._clients.append(client)
            out[node] = client
        return out

    # -- checker -------------------------------------------------------------------------------

    @staticmethod
    def read_stream(client: redis.Redis, stream: bytes, batch: int = 2000) -> List[Tuple[bytes, Dict[bytes, bytes]]]:
        """Every entry of a stream, by XRANGE pages."""
        out: List[Tuple[bytes, Dict[bytes, bytes]]] = []
        start = b"-"
        while True:
            page = client.xrange(stream, start, b"+", count=batch)
            out += [(bytes(i), f) for i, f in page]
            if len(page) < batch:
                return out
            start = b"(" + bytes(page[-1][0])

    def check(
        self, acked: Dict[bytes, List[Tuple[bytes, bytes]]], attempted: Optional[Set[bytes]] = None,
        nodes: Optional[Sequence[Node]] = None, field: bytes = b"p", timeout: float = 20.0,
    ) -> Dict[str, Any]:
        """Checks the streams on every node in `nodes` (default: the running ones), over READONLY
        connections:
        - all nodes hold the same entries (polls until they do: a node may lag briefly);
        - ids strictly increase;
        - every acknowledged (id, payload) is present exactly once, at that id;
        - no payload appears twice (acknowledged or not), and, given `attempted`, every payload
          present is one a producer sent.
        Returns counts for the report."""
        nodes = list(nodes) if nodes is not None else self.running()
        clients = {node: node.client(readonly=True, timeout=10.0) for node in nodes}
        try:
            last: Dict[str, Any] = {}

            def converged() -> bool:
                views: Dict[str, Dict[bytes, Any]] = {}
                for n, c in clients.items():
                    try:
                        views[n.name] = {s: self.read_stream(c, s) for s in acked}
                    except redis.RedisError as exc:
                        last["error"] = f"{n.name}: {type(exc).__name__}: {exc}"
                        return False
                last["views"] = views
                last.pop("error", None)
                first = next(iter(views.values()))
                return all(v == first for v in views.values())

            try:
                wait_until(converged, timeout=timeout, interval=0.2, what="every node to hold the same entries")
            except AssertionError:
                views = last.get("views", {})
                detail = []
                for stream in acked:
                    lengths = {name: len(v.get(stream, [])) for name, v in views.items()}
                    detail.append(f"{stream!r}: {lengths}")
                    names = list(views)
                    for other in names[1:]:
                        a, b_ = views[names[0]].get(stream, []), views[other].get(stream, [])
                        for i, (x, y) in enumerate(zip(a, b_)):
                            if x != y:
                                detail.append(f"  first difference {names[0]} vs {other} at {i}: {x} / {y}")
                                break
                if "error" in last:
                    detail.append(f"last read error: {last['error']}")
                for node in nodes:
                    try:
                        detail.append(f"{node.name} sees leaders {[l.name if l else None for l in self.leaders(node)]}")
                    except (redis.RedisError, OSError) as exc:
                        detail.append(f"{node.name}: CLUSTER SHARDS failed: {exc!r}")
                raise AssertionError("nodes do not converge on the same entries:\n" + "\n".join(detail))
            views = last["views"]
            reference = next(iter(views.values()))
            report = {"streams": len(acked), "acked": 0, "present": 0, "unacked_present": 0}
            seen_payloads: Counter = Counter()
            problems: List[str] = []
            for stream, acks in acked.items():
                entries = reference[stream]
                report["present"] += len(entries)
                report["acked"] += len(acks)
                ids = [parse_id(i) for i, _ in entries]
                for i in range(1, len(ids)):
                    if ids[i] <= ids[i - 1]:
                        problems.append(f"{stream!r}: ids not increasing at {i}: {entries[i - 1][0]!r} then {entries[i][0]!r}")
                by_id: Dict[bytes, List[bytes]] = defaultdict(list)
                for entry_id, fields in entries:
                    payload = fields.get(field, b"")
                    by_id[entry_id].append(payload)
                    seen_payloads[(stream, payload)] += 1
                    if attempted is not None and payload not in attempted:
                        problems.append(f"{stream!r}: entry {entry_id!r} has a payload nobody sent: {payload!r}")
                acked_payloads = set()
                for entry_id, payload in acks:
                    acked_payloads.add(payload)
                    found = by_id.get(entry_id, [])
                    if found != [payload]:
                        problems.append(f"{stream!r}: acked {entry_id!r} {payload!r} found there as {found!r}")
                for entry_id, fields in entries:
                    if fields.get(field, b"") not in acked_payloads:
                        report["unacked_present"] += 1
            for (stream, payload), count in seen_payloads.items():
                if count > 1:
                    problems.append(f"{stream!r}: payload {payload!r} appears {count} times")
            if problems:
                shown = "\n".join(problems[:30])
                raise AssertionError(f"checker found {len(problems)} problem(s) on {[n.name for n in nodes]}:\n{shown}")
            log(f"checker: {report} on {[n.name for n in nodes]}")
            return report
        finally:
            for client in clients.values():
                client.close()

    def check_prefixes(
        self, acked: Dict[bytes, List[Tuple[bytes, bytes]]], attempted: Optional[Set[bytes]] = None,
        nodes: Optional[Sequence[Node]] = None, field: bytes = b"p", min_copies: int = 1, timeout: float = 20.0,
    ) -> Dict[str, Any]:
        """The checker for nodes that may not converge (a shard without a working leader): reads
        each node once and checks that
        - each node's ids strictly increase and no payload appears twice on it (nor one nobody sent);
        - the nodes agree: of any two, one's entries are a prefix of the other's;
        - every acknowledged (id, payload) is on at least `min_copies` of the nodes, at that id."""
        nodes = list(nodes) if nodes is not None else self.running()
        views: Dict[str, Dict[bytes, List[Tuple[bytes, Dict[bytes, bytes]]]]] = {}
        for node in nodes:
            client = node.client(readonly=True, timeout=10.0)
            try:
                views[node.name] = wait_until(lambda: {s: self.read_stream(client, s) for s in acked}, timeout=timeout,
                                              interval=0.2, what=f"{node.name} to serve READONLY reads")
            finally:
                client.close()
        problems: List[str] = []
        for stream, acks in acked.items():
            for name, view in views.items():
                entries = view[stream]
                ids = [parse_id(i) for i, _ in entries]
                if any(ids[i] <= ids[i - 1] for i in range(1, len(ids))):
                    problems.append(f"{name} {stream!r}: ids not increasing")
                payloads = Counter(f.get(field, b"") for _, f in entries)
                problems += [f"{name} {stream!r}: payload {p!r} appears {n} times" for p, n in payloads.items() if n > 1]
                if attempted is not None:
                    problems += [f"{name} {stream!r}: payload nobody sent: {p!r}" for p in payloads if p not in attempted]
            names = list(views)
            for i, a in enumerate(names):
                for b_ in names[i + 1:]:
                    x, y = views[a][stream], views[b_][stream]
                    shorter = min(len(x), len(y))
                    if x[:shorter] != y[:shorter]:
                        problems.append(f"{stream!r}: {a} and {b_} disagree within their common prefix")
            present = [{(i, f.get(field, b"")) for i, f in view[stream]} for view in views.values()]
            for entry_id, payload in acks:
                copies = sum(1 for entries in present if (entry_id, payload) in entries)
                if copies < min_copies:
                    problems.append(f"{stream!r}: acked {entry_id!r} {payload!r} on {copies} of {names} (want {min_copies})")
        if problems:
            raise AssertionError(f"prefix checker found {len(problems)} problem(s):\n" + "\n".join(problems[:30]))
        report = {name: sum(len(v) for v in view.values()) for name, view in views.items()}
        log(f"prefix checker: entries per node {report}, acked {sum(len(a) for a in acked.values())}")
        return report


# --------------------------------------------------------------------------------------------
# Workload: producer threads
# --------------------------------------------------------------------------------------------


class Workload:
    """Producer threads, one per stream, each pipelining `depth` XADDs (unique payloads, never
    retried) to the node it believes leads the stream's shard, over a plain connection. MOVED
    redirects it; CLUSTERDOWN, TRYAGAIN and connection errors make it ask the cluster again.

    Records, under one lock: `acked` {stream: [(id, payload)]}, `attempted` payloads, `acks`
    [(sent, done, stream, node name)] in monotonic time, and `errors` by their first word."""

    def __init__(self, cluster: Cluster, streams: Sequence[bytes], depth: int = 5, timeout: float = 2.0,
                 pause: float = 0.0, label: str = "p") -> None:
        self.cluster = cluster
        self.label = label
        cluster.workloads.append(self)
        self.streams = list(streams)
        self.depth = depth
        self.timeout = timeout
        self.pause = pause
        self.lock = threading.Lock()
        self.acked: Dict[bytes, List[Tuple[bytes, bytes]]] = {s: [] for s in self.streams}
        self.attempted: Set[bytes] = set()
        self.acks: List[Tuple[float, float, bytes, str]] = []
        self.errors: Counter = Counter()
        self.error_times: List[Tuple[float, str]] = []
        self.error_samples: Dict[str, str] = {}
        self.stop_event = threading.Event()
        self.threads: List[threading.Thread] = []
        self.failures: List[BaseException] = []

    def start(self) -> "Workload":
        for n, stream in enumerate(self.streams):
            thread = threading.Thread(target=self._run, args=(n, stream), name=f"producer-{n}", daemon=True)
            self.threads.append(thread)
            thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=self.timeout + 5)
        alive = [t.name for t in self.threads if t.is_alive()]
        assert not alive, f"producer threads did not stop: {alive}"
        assert not self.failures, f"a producer thread failed: {self.failures[0]!r}"

    def _locate(self, stream: bytes, previous: Optional[Node]) -> Optional[Node]:
        """The leader of the stream's shard according to any running node."""
        shard = self.cluster.shard_of(stream)
        candidates = self.cluster.running()
        random.shuffle(candidates)
        for node in candidates:
            try:
                leader = self.cluster.leaders(node)[shard]
            except (redis.RedisError, OSError):
                continue
            if leader is not None:
                return leader
        return None

    def _run(self, producer: int, stream: bytes) -> None:
        try:
            self._produce(producer, stream)
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.failures.append(exc)

    def _record_error(self, kind: str, text: str) -> None:
        with self.lock:
            self.errors[kind] += 1
            self.error_times.append((time.monotonic(), kind))
            self.error_samples.setdefault(kind, text)

    def _produce(self, producer: int, stream: bytes) -> None:
        node: Optional[Node] = None
        client: Optional[redis.Redis] = None
        n = 0
        while not self.stop_event.is_set():
            if node is None or client is None:
                if client is not None:
                    client.close()
                    client = None
                node = self._locate(stream, node)
                if node is None:
                    time.sleep(0.05)
                    continue
                client = redis.Redis(host=node.host, port=node.port, socket_timeout=self.timeout,
                                     socket_connect_timeout=self.timeout, retry=Retry(NoBackoff(), 0))
            payloads = []
            pipe = client.pipeline(transaction=False)
            for _ in range(self.depth):
                payload = f"{self.label}{producer}-{n}".encode()
                n += 1
                payloads.append(payload)
                pipe.xadd(stream, {b"p": payload})
            with self.lock:
                self.attempted.update(payloads)
            sent = time.monotonic()
            try:
                results = pipe.execute(raise_on_error=False)
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                self._record_error(type(exc).__name__, str(exc))
                client.close()
                client, node = None, None
                time.sleep(0.02)
                continue
            done = time.monotonic()
            redirect = False
            for payload, result in zip(payloads, results):
                if isinstance(result, Exception):
                    text = str(result)
                    kind = type(result).__name__
                    self._record_error(kind, text)
                    redirect = True
                else:
                    with self.lock:
                        self.acked[stream].append((bytes(result), payload))
                        self.acks.append((sent, done, stream, node.name))
            if redirect:
                client.close()
                client, node = None, None
                time.sleep(0.02)
            elif self.pause:
                time.sleep(self.pause)
        if client is not None:
            client.close()

    # -- what happened -------------------------------------------------------------------------

    def ack_count(self) -> int:
        with self.lock:
            return len(self.acks)

    def wait_acks(self, count: int, timeout: float = 20.0, streams: Optional[Iterable[bytes]] = None) -> None:
        """Waits until `count` more acks arrived (on any of `streams`, default all)."""
        wanted = set(streams) if streams is not None else set(self.streams)

        def counted() -> int:
            with self.lock:
                return sum(1 for a in self.acks if a[2] in wanted)

        target = counted() + count
        wait_until(lambda: counted() >= target, timeout=timeout, interval=0.02,
                   what=f"{count} more acknowledged writes on {sorted(wanted)!r} (errors so far: {dict(self.errors)})")

    def first_ack_after(self, at: float, streams: Optional[Iterable[bytes]] = None) -> Optional[float]:
        """Seconds from `at` to the first ack of a write sent at or after `at`."""
        wanted = set(streams) if streams is not None else set(self.streams)
        with self.lock:
            done = [d for s, d, stream, _ in self.acks if s >= at and stream in wanted]
        return (min(done) - at) if done else None

    def wait_first_ack_after(self, at: float, streams: Optional[Iterable[bytes]] = None, timeout: float = 20.0) -> float:
        def acked() -> Optional[Tuple[float]]:  # (a tuple: 0.0 s is an answer too)
            seconds = self.first_ack_after(at, streams)
            return None if seconds is None else (seconds,)

        return wait_until(acked, timeout=timeout, interval=0.02,
                          what=f"a write acknowledged after the fault (errors: {dict(self.errors)}, "
                               f"samples: {self.error_samples})")[0]

    def acks_from(self, node: Node, sent_after: float, sent_before: float = float("inf")) -> List[Tuple[float, float, bytes, str]]:
        with self.lock:
            return [a for a in self.acks if a[3] == node.name and sent_after <= a[0] < sent_before]

    def errors_between(self, start: float, end: float = float("inf")) -> Counter:
        with self.lock:
            return Counter(kind for t, kind in self.error_times if start <= t < end)

    def summary(self) -> str:
        with self.lock:
            return (f"{len(self.acks)} acked of {len(self.attempted)} sent on {len(self.streams)} streams; "
                    f"errors {dict(self.errors)}; samples {self.error_samples}")


def start_load(cluster: Cluster, name: str, label: str = "p", warmup: int = 100) -> Workload:
    """A Workload on two streams per shard (named after `name`), started, once `warmup` writes
    were acknowledged."""
    streams = keys_for_shards(name, cluster.shard_count, per_shard=2)
    workload = Workload(cluster, streams, label=label).start()
    workload.wait_acks(warmup)
    return workload


def finish(cluster: Cluster, *workloads: Workload, nodes: Optional[Sequence[Node]] = None,
           extra_attempted: Sequence[bytes] = (), timeout: float = 20.0) -> Dict[str, Any]:
    """Stops the load, waits until `nodes` (default: every running node) serve every shard again,
    and runs the checker on them (default: every node) — it waits up to `timeout` s for them to
    converge."""
    for workload in workloads:
        workload.stop()
        log(workload.summary())
    cluster.wait_ready(nodes=nodes)
    acked: Dict[bytes, list] = {}
    attempted = set(extra_attempted)
    for workload in workloads:
        for stream, acks in workload.acked.items():
            acked.setdefault(stream, []).extend(acks)
        attempted |= workload.attempted
    return cluster.check(acked, attempted, nodes=nodes if nodes is not None else cluster.nodes, timeout=timeout)


def report_availability(label: str, seconds: float) -> None:
    """The line the brief asks for, printed (visible with -s) and kept for the session summary."""
    line = f"{label}: time to first successful write after fault: {seconds:.2f} s"
    print(line, flush=True)
    AVAILABILITY.append(line)


AVAILABILITY: List[str] = []


class _AvailabilityReport:
    """Prints the measured failover times at the end of the run (without -s too)."""

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if AVAILABILITY:
            terminalreporter.section("cluster: time to first successful write after each fault")
            for line in AVAILABILITY:
                terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def availability_report(request: pytest.FixtureRequest):
    """Use it (pytest.mark.usefixtures) to get the failover times in the terminal summary."""
    plugin = _AvailabilityReport()
    if not request.config.pluginmanager.is_registered(plugin):
        request.config.pluginmanager.register(plugin, "spool-cluster-availability")
    yield


# --------------------------------------------------------------------------------------------
# pytest fixture
# --------------------------------------------------------------------------------------------


def _passed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "report_call", None)
    return report is not None and report.passed


@pytest.fixture
def make_cluster(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    """Factory: make_cluster(size=3, shards=4, …) -> a started Cluster. Every process it started
    is stopped and every iptables rule removed when the test ends; a passing test's directories
    are deleted, a failing test's kept (with each node's spoold.log) and their path printed."""
    made: List[Cluster] = []

    def factory(start: bool = True, **options: Any) -> Cluster:
        cluster = Cluster(tmp_path_factory.mktemp("cluster"), **options)
        made.append(cluster)
        if start:
            cluster.start()
        return cluster

    yield factory
    for cluster in made:
        cluster.close()
    if _passed(request):
        for cluster in made:
            cluster.remove_data()
    else:
        for cluster in made:
            print(f"cluster data and logs kept in {cluster.base_dir}")
