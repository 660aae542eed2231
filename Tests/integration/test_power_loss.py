"""Power loss: the data directory on lazyfs (Tools/lazyfs.py), a filesystem that keeps every write
in memory until the file is fsync'd and can drop all of it at once.

kill -9 loses only what the process held; the kernel still writes back what it was given. A power
loss also drops what was written but never fsync'd, so an acknowledgement sent before its fsync
returned shows up here as a lost entry, where kill -9 tests cannot see it. Under
SPOOL_TEST_TARGET=redis the same test runs against redis-server (appendfsync always), and every
run has redis-server with `appendfsync no` as the control that must be caught losing entries:
both keep the test's logic honest.
"""

from __future__ import annotations

import mmap
import os
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import REPO_ROOT, Server
from helpers import parse_id, wait_until
from test_restart_and_crash import Producer, all_entries

sys.path.insert(0, str(REPO_ROOT / "Tools"))
from lazyfs import LazyFS  # noqa: E402

ROUNDS = 5
PRODUCERS = 4
ACKS_PER_ROUND = 5000


@pytest.fixture
def lazyfs(tmp_path: Path):
    """Factory: lazyfs(backing, mount) -> a mounted LazyFS. Every mount made here is gone when
    the test ends, whatever happened (stop the servers using it first)."""
    problem = LazyFS.problem()
    assert problem is None, problem
    made: List[LazyFS] = []

    def mount(backing: Path, mount_point: Path) -> LazyFS:
        fs = LazyFS(backing, mount_point, log_path=tmp_path / "lazyfs.log")
        made.append(fs)
        return fs.mount()

    yield mount
    for fs in made:
        fs.unmount()


def test_lazyfs_keeps_synced_writes_and_drops_the_rest(tmp_path: Path, lazyfs) -> None:
    backing, mount_point = tmp_path / "disk", tmp_path / "mnt"
    fs = lazyfs(backing, mount_point)
    synced = mount_point / "synced"
    with open(synced, "wb") as f:
        f.write(b"a" * 10_000)
        f.flush()
        os.fsync(f.fileno())
        f.write(b"b" * 5_000)  # never synced
    (mount_point / "never").write_bytes(b"never synced")
    fd = os.open(mount_point / "shrunk", os.O_CREAT | os.O_RDWR)
    os.write(fd, b"c" * 9_000)
    os.fdatasync(fd)
    os.ftruncate(fd, 100)  # unsynced, like the write after it
    os.pwrite(fd, b"d", 5_000)
    os.close(fd)
    os.mkdir(mount_point / "dir")
    os.rename(mount_point / "never", mount_point / "dir" / "renamed")

    # Before the loss everything reads back through the mount, by read(2) and by mmap.
    assert synced.read_bytes() == b"a" * 10_000 + b"b" * 5_000
    with open(synced, "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mapped:
        assert mapped[9_998:10_002] == b"aabb"
    assert (mount_point / "dir" / "renamed").read_bytes() == b"never synced"
    assert (mount_point / "shrunk").read_bytes() == b"c" * 100 + bytes(4_900) + b"d"
    # … while the backing files hold only what was synced.
    assert (backing / "synced").read_bytes() == b"a" * 10_000
    assert (backing / "dir" / "renamed").read_bytes() == b""
    assert (backing / "shrunk").read_bytes() == b"c" * 9_000
    assert fs.stats()["files"] == 3

    lost = fs.lose_power()
    assert set(lost) == {"/synced", "/dir/renamed", "/shrunk"}, lost
    with pytest.raises(OSError):
        synced.read_bytes()
    fs.unmount()
    assert not fs.is_mounted()

    # Synced data and every metadata operation survive; nothing else does.
    assert (backing / "synced").read_bytes() == b"a" * 10_000
    assert (backing / "dir" / "renamed").read_bytes() == b""
    assert not (backing / "never").exists()
    assert (backing / "shrunk").read_bytes() == b"c" * 9_000
    again = lazyfs(backing, mount_point)
    assert synced.read_bytes() == b"a" * 10_000
    assert again.stats()["files"] == 0


def power_loss_rounds(srv: Server, lazyfs, backing: Path, mount_point: Path, rounds: int) -> List[str]:
    """`rounds` times: pipelined XADDs from several clients, every acknowledged id recorded; then
    kill -9, drop every unsynced write, unmount, mount again over the same disk and restart. After
    each restart every acknowledged entry must be there at its id, each producer's entries a
    prefix of what it sent, and the store must take writes. Returns what was wrong after the
    first round that found anything (the server then holds that state)."""
    shared = b"power:shared"
    streams = [shared] + [f"power:p{n}".encode() for n in range(PRODUCERS)]
    acked_by_stream: Dict[bytes, List] = defaultdict(list)  # stream -> [(id, token)]
    sent_by_producer: Dict = {}  # (stream, round, producer) -> [token, ...]
    srv.data_dir = mount_point / "data"
    fs = lazyfs(backing, mount_point)
    srv.data_dir.mkdir()
    srv.start()
    for round_number in range(rounds):
        producers = [Producer(srv.port, n, round_number, [shared, streams[1 + n]]) for n in range(PRODUCERS)]
        for p in producers:
            p.start()

        def acked() -> int:
            failed = [p.error for p in producers if p.error]
            assert not failed, failed
            return sum(len(a) for p in producers for a in list(p.acked.values()))

        wait_until(lambda: acked() >= ACKS_PER_ROUND, timeout=30, what=f"{ACKS_PER_ROUND} acknowledged XADDs")
        # Power goes: the process dies at once, then every write not yet fsync'd is gone.
        srv.kill9()
        lost = fs.lose_power()
        for p in producers:
            p.stop.set()
            p.join(15)
            assert not p.is_alive(), "producer thread hung"
            assert p.error is None, p.error
            for stream, acks in p.acked.items():
                acked_by_stream[stream] += acks
            for stream, tokens in p.sent.items():
                sent_by_producer[(stream, round_number, p.number)] = list(tokens)
        fs.unmount()

        fs = lazyfs(backing, mount_point)
        srv.start()
        problems: List[str] = []
        if srv.is_spool:
            # The store opened cleanly: recovery said nothing about errors or damage.
            since_start = srv.log_path.read_text(errors="replace").rsplit("==== start", 1)[1]
            problems += [f"round {round_number}: spoold logged {line!r}" for line in since_start.splitlines()
                         if re.search(r"error|panic|salvage|corrupt", line, re.IGNORECASE)]
        client = srv.client(protocol=2)
        for stream in streams:
            entries = all_entries(client, stream)
            ids = [parse_id(e[0]) for e in entries]
            if any(a >= b for a, b in zip(ids, ids[1:])):
                problems.append(f"{stream!r}: ids out of order")
            present = {bytes(e[0]): e[1][b"tok"] for e in entries}
            missing = [(i, t) for i, t in acked_by_stream[stream] if present.get(i) != t]
            if missing:
                problems.append(f"round {round_number}: {len(missing)} of {len(acked_by_stream[stream])} acknowledged "
                                f"entries of {stream!r} lost (first {missing[:2]}); unsynced writes dropped: {lost}")
            by_producer = defaultdict(list)
            for _, fields in entries:
                r, n, _ = fields[b"tok"].decode().split(".")
                by_producer[(stream, int(r), int(n))].append(fields[b"tok"])
            for key, tokens in by_producer.items():
                if tokens != sent_by_producer[key][:len(tokens)]:
                    problems.append(f"{key}: a hole or reordering")
            new = client.xadd(stream, {"tok": f"probe.{round_number}"})
            assert not ids or parse_id(new) > ids[-1]
            assert client.xdel(stream, new) == 1
        client.close()
        if problems:
            return problems
    assert sum(len(a) for a in acked_by_stream.values()) >= rounds * ACKS_PER_ROUND
    return []


def test_acknowledged_entries_survive_power_loss(tmp_path: Path, lazyfs) -> None:
    srv = Server(tmp_path / "server")
    try:
        problems = power_loss_rounds(srv, lazyfs, tmp_path / "disk", tmp_path / "mnt", ROUNDS)
        assert not problems, problems
    finally:
        srv.stop()


def test_power_loss_finds_acknowledgements_sent_before_their_fsync(tmp_path: Path, lazyfs) -> None:
    """The control: redis-server with `appendfsync no` acknowledges writes it has not synced, and
    the same rounds must catch it losing them (a kill -9 alone would not: the kernel still holds
    the writes)."""
    srv = Server(tmp_path / "server", {"appendfsync": "no"}, target="redis")
    try:
        problems = power_loss_rounds(srv, lazyfs, tmp_path / "disk", tmp_path / "mnt", 1)
        assert any("acknowledged entries" in p for p in problems), problems
    finally:
        srv.stop()
