"""The admin port's GET /metrics (Prometheus text format) on a live spoold with traffic: the
storage engine's counters and latency histograms, per-stream and per-group gauges that follow
the streams, dead letters and producer parks."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest

from helpers import free_port, wait_until

pytestmark = pytest.mark.spool_only

SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$')


def scrape(port: int) -> dict:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    samples = {}
    types = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not Prometheus text: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
        samples[(match["name"], labels)] = float(match["value"])
    samples[("__types__", frozenset())] = types
    return samples


def get(samples: dict, name: str, **labels) -> float:
    wanted = frozenset(labels.items())
    found = [v for (n, l), v in samples.items() if n == name and wanted <= l]
    assert len(found) == 1, f"{name} {labels}: {found}"
    return found[0]


def has(samples: dict, name: str, **labels) -> bool:
    wanted = frozenset(labels.items())
    return any(n == name and wanted <= l for (n, l) in samples)


def test_metrics_follow_the_traffic(start_server):
    admin_port = free_port()
    srv = start_server(admin_port=admin_port)
    client = srv.client()
    ids = [client.xadd("orders", {"n": str(i)}) for i in range(10)]
    client.xgroup_create("orders", "billing", id="0")
    client.execute_command("XGROUP", "SETPOLICY", "orders", "billing", "MAXDELIVERIES", "1")
    client.xreadgroup("billing", "w1", {"orders": ">"}, count=4)
    # A second delivery of an entry past MAXDELIVERIES 1 dead-letters it.
    client.xclaim("orders", "billing", "w2", 0, [ids[0]])
    client.xadd("doomed", {"x": "1"})

    samples = scrape(admin_port)
    types = samples[("__types__", frozenset())]
    assert get(samples, "spool_appends_total") >= 12
    assert get(samples, "spool_fsyncs_total") >= 1 and types["spool_fsyncs_total"] == "counter"
    assert types["spool_fsync_duration_seconds"] == "histogram"
    assert get(samples, "spool_fsync_duration_seconds_count") >= 1
    assert get(samples, "spool_append_durable_seconds_count") >= 1
    assert get(samples, "spool_fsync_entries_sum") >= 12
    assert has(samples, "spool_fsync_duration_seconds_bucket", le="+Inf")
    assert get(samples, "spool_stream_length_entries", stream="orders") == 10
    assert get(samples, "spool_stream_entries_added", stream="orders") == 10
    assert get(samples, "spool_group_pending_entries", stream="orders", group="billing") == 3
    assert get(samples, "spool_group_lag_entries", stream="orders", group="billing") == 6
    assert get(samples, "spool_group_lag_seconds", stream="orders", group="billing") >= 0
    assert get(samples, "spool_dead_lettered_entries_total") == 1
    assert get(samples, "spool_stream_length_entries", stream="orders:dlq") == 1
    assert get(samples, "spool_streams") == 3
    wait_until(lambda: get(scrape(admin_port), "spool_connected_clients") >= 1, what="connected clients published")
    wait_until(lambda: get(scrape(admin_port), "spool_commands_processed_total") >= 15, what="commands published")

    # A deleted stream's gauges go; counters only grow.
    client.delete("doomed")
    samples = scrape(admin_port)
    assert not has(samples, "spool_stream_length_entries", stream="doomed")
    assert get(samples, "spool_streams") == 2
    assert get(samples, "spool_dead_lettered_entries_total") == 1


def test_the_admin_port_answers_only_what_it_has(start_server):
    admin_port = free_port()
    start_server(admin_port=admin_port)
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/nothing-here", timeout=10)
    assert error.value.code == 404
    request = urllib.request.Request(f"http://127.0.0.1:{admin_port}/metrics", method="POST", data=b"x")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)
    assert error.value.code == 405
