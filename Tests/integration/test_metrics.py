"""The admin port's GET /metrics (Prometheus text format) on a live spoold with traffic: the
storage engine's counters and latency histograms, per-stream and per-group gauges that follow
the streams, dead letters and producer parks."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from helpers import entry_size, free_port, get, has, scrape, wait_until

pytestmark = pytest.mark.spool_only

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


def test_stream_bytes_follow_appends_deletes_trims_and_restarts(start_server):
    admin_port = free_port()
    # A stream cache of two: streams are let go and loaded again between commands.
    srv = start_server(admin_port=admin_port, stream_cache_max=2)
    client = srv.client()

    def check(step: str) -> None:
        samples = scrape(admin_port)
        for name in (b"big", b"small", b"other"):
            counted = sum(entry_size(list(fields.keys()) + list(fields.values()))
                          for _, fields in client.xrange(name, "-", "+"))
            shown = get(samples, "spool_stream_bytes", stream=name.decode())
            assert shown == counted, f"{step}: {name!r} shows {shown}, its entries add up to {counted}"

    pipe = client.pipeline(transaction=False)
    for i in range(1500):
        pipe.xadd("big", {"n": str(i), "pad": "x" * (i % 97)}, id=f"1-{i + 1}")
    pipe.execute()
    ids = [client.xadd("small", {"k": "v" * i}) for i in range(10)]
    client.xadd("other", {"a": "b"})
    check("appends")
    assert client.xdel("big", "1-1", "1-700", "1-1500", "9-9") == 3
    check("XDEL")
    assert client.xtrim("big", maxlen=1200, approximate=False) == 297
    check("XTRIM MAXLEN")
    assert client.xtrim("big", maxlen=800, approximate=True) > 0
    check("XTRIM MAXLEN ~")
    assert client.xtrim("big", minid="1-1000") > 0
    check("XTRIM MINID")
    client.xadd("big", {"late": "entry"}, maxlen=500, approximate=False)
    check("XADD MAXLEN")
    # XSETID may lower entries-added below the newest entry's number (as in Redis): a restart
    # must not take that for appends.
    assert client.xdel("small", *ids[:5]) == 5
    assert client.execute_command("XSETID", "small", ids[-1], "ENTRIESADDED", 5) == b"OK"
    check("XSETID")
    # Appends after the last rewrite of each stream's catalog row, then kill -9.
    pipe = client.pipeline(transaction=False)
    for i in range(1100):
        pipe.xadd("other", {"m": str(i)})
    pipe.execute()
    expected = {name: client.xinfo_stream(name) for name in ("big", "small", "other")}
    srv.kill9()
    srv.start()
    client = srv.client()
    check("restart")
    for name, info in expected.items():
        again = client.xinfo_stream(name)
        assert (again["length"], again["entries-added"], again["last-generated-id"]) == (
            info["length"], info["entries-added"], info["last-generated-id"]), name
    assert client.xlen("small") == 5
