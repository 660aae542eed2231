"""Debian's prometheus-redis-exporter pointed at the server with its stream checks on: every
stream, group and consumer metric it exports for redis-server, with the right values. The same
body runs against spoold and redis-server."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from helpers import free_port, get, scrape, wait_until

EXPORTER = shutil.which("prometheus-redis-exporter")

@pytest.fixture
def exporter(server):
    assert EXPORTER, "prometheus-redis-exporter is missing: Tools/install-deps.sh installs it"
    port = free_port()
    proc = subprocess.Popen(
        [EXPORTER, "-redis.addr", f"redis://127.0.0.1:{server.port}", "-web.listen-address", f"127.0.0.1:{port}",
         "-check-streams", "expo:*", "-check-single-streams", "db0=single:stream"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: scrape(port), what="the exporter answering")
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_exporter_exports_every_stream_group_and_consumer_metric(r2, exporter):
    r2.delete("expo:orders", "expo:audit", "single:stream")
    ids = [r2.xadd("expo:orders", {"item": str(i)}) for i in range(5)]
    r2.xgroup_create("expo:orders", "billing", id="0")
    r2.xgroup_create("expo:orders", "shipping", id="0")
    r2.xreadgroup("billing", "w1", {"expo:orders": ">"}, count=3)
    r2.xreadgroup("billing", "w2", {"expo:orders": ">"}, count=1)
    r2.xack("expo:orders", "billing", ids[0])
    r2.xadd("expo:audit", {"a": "1"})
    r2.xadd("single:stream", {"a": "1"})
    samples = scrape(exporter)
    assert get(samples, "redis_up") == 1
    assert get(samples, "redis_exporter_last_scrape_error") == 0
    assert get(samples, "redis_stream_length", stream="expo:orders") == 5
    assert get(samples, "redis_stream_length", stream="expo:audit") == 1
    assert get(samples, "redis_stream_length", stream="single:stream") == 1
    assert get(samples, "redis_stream_groups", stream="expo:orders") == 2
    assert get(samples, "redis_stream_groups", stream="expo:audit") == 0
    last_ms = int(ids[-1].split(b"-")[0])
    assert get(samples, "redis_stream_last_generated_id", stream="expo:orders") == pytest.approx(last_ms, rel=1e-9)
    assert get(samples, "redis_stream_radix_tree_keys", stream="expo:orders") >= 1
    assert get(samples, "redis_stream_radix_tree_nodes", stream="expo:orders") >= 1
    assert get(samples, "redis_stream_group_consumers", stream="expo:orders", group="billing") == 2
    assert get(samples, "redis_stream_group_consumers", stream="expo:orders", group="shipping") == 0
    assert get(samples, "redis_stream_group_messages_pending", stream="expo:orders", group="billing") == 3
    assert get(samples, "redis_stream_group_last_delivered_id", stream="expo:orders", group="billing") == pytest.approx(
        int(ids[3].split(b"-")[0]), rel=1e-9)
    assert get(samples, "redis_stream_group_consumer_messages_pending", group="billing", consumer="w1") == 2
    assert get(samples, "redis_stream_group_consumer_messages_pending", group="billing", consumer="w2") == 1
    assert get(samples, "redis_stream_group_consumer_idle_seconds", group="billing", consumer="w1") >= 0
    # The server-wide families a dashboard starts from are there too.
    for name in ("redis_connected_clients", "redis_commands_processed_total", "redis_db_keys", "redis_uptime_in_seconds"):
        assert any(n == name for n, _ in samples), name
