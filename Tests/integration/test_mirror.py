"""XBACKFILL (history copied in below a stream's live entries, into the backfill table) and
`spool mirror redis://… stream…` (a live Redis stream moved to Spool: history and new entries at
the same time), against a real redis-server as the source."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
import redis

from cli import spool, start
from conftest import Server
from helpers import wait_until

pytestmark = pytest.mark.spool_only

TRYAGAIN = "TRYAGAIN the stream is being backfilled"


def tryagain(fn) -> str:
    """The TRYAGAIN error `fn` gets (redis-py raises TryAgainError and drops the code)."""
    with pytest.raises(redis.exceptions.TryAgainError) as caught:
        fn()
    return "TRYAGAIN " + str(caught.value)


def test_xbackfill_fills_history_below_live_entries_and_refuses_reads_into_the_gap(server: Server, key) -> None:
    r = server.client()
    s = key("s")
    assert r.execute_command("XBACKFILL", "BEGIN", s, "100-5") == b"OK"
    # XADD goes above the history's end; an explicit id inside it is refused.
    with pytest.raises(redis.ResponseError, match="equal or smaller"):
        r.xadd(s, {"a": 1}, id="50-0")
    live = r.xadd(s, {"live": 1}, id="200-0")
    assert live == b"200-0"
    assert r.execute_command("XBACKFILL", "STATUS", s) == [b"filled-through", b"0-0", b"through", b"100-5"]
    # Reads above the gap are served; reads and changes that reach into it get TRYAGAIN.
    assert [i for i, _ in r.xrange(s, "101", "+")] == [b"200-0"]
    assert r.xread({s: "100-5"}) == [[s, [(b"200-0", {b"live": b"1"})]]]
    for attempt in (lambda: r.xrange(s), lambda: r.xrevrange(s), lambda: r.xrange(s, "-", "50"), lambda: r.xread({s: "0"}),
                    lambda: r.xdel(s, "10-0"), lambda: r.xtrim(s, maxlen=1), lambda: r.xadd(s, {"a": 1}, maxlen=5),
                    lambda: r.xinfo_stream(s, full=True)):
        assert TRYAGAIN in tryagain(attempt)
    r.xgroup_create(s, "g", id="0")
    assert TRYAGAIN in tryagain(lambda: r.xreadgroup("g", "c", {s: ">"}))
    assert r.xpending(s, "g")["pending"] == 0, "a refused XREADGROUP changed nothing"
    # ADD: oldest first, within the gap, never twice; errors change nothing.
    assert r.execute_command("XBACKFILL", "ADD", s, "10-0", "h", "1") == b"10-0"
    for bad, message in (("5-0", "above the last one added"), ("10-0", "above the last one added"), ("100-6", "at most the backfill")):
        with pytest.raises(redis.ResponseError, match=message):
            r.execute_command("XBACKFILL", "ADD", s, bad, "h", "x")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        r.execute_command("XBACKFILL", "ADD", s, "20-0", "h")
    assert r.execute_command("XBACKFILL", "ADD", s, "20-0", "h", "2") == b"20-0"
    # The filled part reads; the rest still refuses.
    assert [i for i, _ in r.xrange(s, "-", "20-0")] == [b"10-0", b"20-0"]  # "20" would mean 20-18446744073709551615
    assert TRYAGAIN in tryagain(lambda: r.xrange(s, "-", "21"))
    with pytest.raises(redis.ResponseError, match="already open"):
        r.execute_command("XBACKFILL", "BEGIN", s, "300-0")
    assert r.execute_command("XBACKFILL", "END", s) == b"OK"
    assert r.execute_command("XBACKFILL", "STATUS", s) is None
    assert [i for i, _ in r.xrange(s)] == [b"10-0", b"20-0", b"200-0"]
    assert r.xlen(s) == 3
    entries = r.xreadgroup("g", "c", {s: ">"})[0][1]
    assert [i for i, _ in entries] == [b"10-0", b"20-0", b"200-0"]
    with pytest.raises(redis.ResponseError, match="no backfill is open"):
        r.execute_command("XBACKFILL", "END", s)
    with pytest.raises(redis.ResponseError, match="at or below"):
        r.execute_command("XBACKFILL", "BEGIN", s, "150-0")
    with pytest.raises(redis.ResponseError, match="no such key"):
        r.execute_command("XBACKFILL", "ADD", key("missing"), "1-0", "f", "v")
    help_lines = r.execute_command("XBACKFILL", "HELP")
    assert any(b"BEGIN <key> <through-id>" in line for line in help_lines)


def test_xbackfill_blocked_reader_waits_for_the_end(server: Server, key) -> None:
    """A reader blocked from 0 before the backfill began is not answered with the live entries
    alone while history is missing below them: it waits until END and then gets everything."""
    r, r2 = server.client(), server.client()
    s = key("s")
    blocked_before = int(r.info("clients")["blocked_clients"])
    got: List[Any] = []
    reader = threading.Thread(target=lambda: got.append(r2.xread({s: "0"}, block=20_000)))
    reader.start()
    wait_until(lambda: int(r.info("clients")["blocked_clients"]) > blocked_before, what="the reader to block")
    r.execute_command("XBACKFILL", "BEGIN", s, "100-0")
    r.execute_command("XBACKFILL", "ADD", s, "50-0", "h", "1")
    r.xadd(s, {"live": 1}, id="150-0")
    assert int(r.info("clients")["blocked_clients"]) > blocked_before, "the reader was answered across the gap"
    assert got == []
    r.execute_command("XBACKFILL", "END", s)
    reader.join(timeout=15)
    assert got and [i for i, _ in got[0][0][1]] == [b"50-0", b"150-0"], got


def test_xbackfill_survives_kill9(start_server, key) -> None:
    srv = start_server()
    r = srv.client()
    s = key("s")
    r.execute_command("XBACKFILL", "BEGIN", s, "1000-0")
    for n in range(1, 6):
        r.execute_command("XBACKFILL", "ADD", s, f"{n * 10}-0", "n", n)
    r.xadd(s, {"live": 1}, id="2000-0")
    srv.kill9()
    srv.restart()
    r = srv.client()
    assert r.execute_command("XBACKFILL", "STATUS", s) == [b"filled-through", b"50-0", b"through", b"1000-0"]
    assert TRYAGAIN in tryagain(lambda: r.xrange(s))
    r.execute_command("XBACKFILL", "ADD", s, "60-0", "n", 6)
    r.execute_command("XBACKFILL", "END", s)
    assert [i for i, _ in r.xrange(s)] == [f"{n * 10}-0".encode() for n in range(1, 7)] + [b"2000-0"]
    assert r.xlen(s) == 7


def redis_source(tmp_path: Path) -> Server:
    source = Server(tmp_path / "redis", target="redis")
    source.start()
    return source


def stream_view(client: redis.Redis, stream: bytes) -> Dict[str, Any]:
    info = client.xinfo_stream(stream)
    return {k: info[k] for k in ("length", "last-generated-id", "entries-added", "max-deleted-entry-id", "first-entry", "last-entry")}


def test_mirror_copies_a_live_redis_stream_history_and_tail(start_server, tmp_path: Path, key) -> None:
    source = redis_source(tmp_path)
    try:
        spoold = start_server()
        src, dst = source.client(), spoold.client()
        streams = [key("a"), key("b")]
        for s in streams:
            pipe = src.pipeline()
            for n in range(3000):
                pipe.xadd(s, {"n": n, "pad": "x" * 40})
            pipe.execute()
        # A hole in the history (XDEL), which Redis counts in max-deleted-entry-id.
        src.xdel(streams[0], src.xrange(streams[0], count=10)[5][0])
        stop = threading.Event()

        def produce() -> None:
            producer = source.client()
            n = 0
            while not stop.is_set():
                for s in streams:
                    producer.xadd(s, {"live": n})
                n += 1
                time.sleep(0.002)

        writer = threading.Thread(target=produce)
        writer.start()
        mirror = start("mirror", f"redis://127.0.0.1:{source.port}", *[s.decode() for s in streams], "--batch", "200",
                       "--json", server=spoold)
        try:
            met: List[Any] = []
            for _ in streams:
                line = mirror.stdout.readline()
                assert line, f"mirror ended early: {mirror.stderr.read()}"
                met.append(line)
            import json
            reports = {json.loads(line)["stream"]: json.loads(line) for line in met}
            assert set(reports) == {s.decode() for s in streams}
            assert all(report["history"] >= 2999 for report in reports.values()), reports
            stop.set()
            writer.join()
            # The tail follows until Spool holds everything Redis does.
            for s in streams:
                wait_until(lambda: dst.xrange(s) == src.xrange(s), timeout=30, what=f"{s!r} mirrored")
        finally:
            stop.set()
            writer.join()
            mirror.terminate()
            mirror.wait(timeout=10)
        # A second run resumes (no backfill open, tail from Spool's last entry), meets at once and
        # copies the counters, so XINFO STREAM reads the same on both.
        result = spool("mirror", f"redis://127.0.0.1:{source.port}", *[s.decode() for s in streams], "--until-met", server=spoold)
        assert result.code == 0, result
        for s in streams:
            assert dst.xrange(s) == src.xrange(s)
            assert stream_view(dst, s) == stream_view(src, s)
        assert stream_view(dst, streams[0])["max-deleted-entry-id"] != b"0-0"
    finally:
        source.stop()


def test_mirror_resumes_after_spoold_is_killed_mid_backfill(start_server, tmp_path: Path, key) -> None:
    source = redis_source(tmp_path)
    try:
        spoold = start_server()
        src = source.client()
        s = key("big")
        for chunk in range(10):
            pipe = src.pipeline()
            for n in range(2000):
                pipe.xadd(s, {"n": chunk * 2000 + n})
            pipe.execute()
        mirror = start("mirror", f"redis://127.0.0.1:{source.port}", s.decode(), "--batch", "50", server=spoold)
        dst = spoold.client()

        def partly_filled() -> bool:
            try:
                status = dst.execute_command("XBACKFILL", "STATUS", s)
            except redis.RedisError:
                return False
            return status is not None and status[1] != b"0-0"

        wait_until(partly_filled, timeout=30, interval=0.01, what="the backfill to start")
        spoold.kill9()
        spoold.restart()
        dst = spoold.client()
        status = dst.execute_command("XBACKFILL", "STATUS", s)
        assert status is not None, "the backfill finished before the kill; use a bigger history"
        mirror.terminate()
        mirror.wait(timeout=30)
        src.xadd(s, {"after": "restart"})
        result = spool("mirror", f"redis://127.0.0.1:{source.port}", s.decode(), "--until-met", server=spoold, timeout=300)
        assert result.code == 0, result
        assert "resuming" in result.err
        assert dst.xrange(s) == src.xrange(s)
        assert stream_view(dst, s) == stream_view(src, s)
    finally:
        source.stop()


def test_mirror_errors(start_server, tmp_path: Path) -> None:
    spoold = start_server()
    bad = spool("mirror", "http://x", "s", server=spoold)
    assert bad.code == 64 and "not a redis:// address" in bad.err
    unreachable = spool("mirror", "redis://127.0.0.1:1", "s", "--until-met", server=spoold)
    assert unreachable.code == 3 and "cannot reach Redis" in unreachable.err
