"""The `spool` command-line tool end to end: help text, exit codes, and every command against the
running server, with --json output parsed back. Consumer-group commands are in test_cli_groups.py,
idempotent publishing in test_cli_idempotent.py."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import time

import pytest

from cli import SPOOL, Run, spool, start
from conftest import IS_SPOOL
from helpers import entry_size, free_port, parse_id, wait_until

# ---------------------------------------------------------------------------------------------
# Help and usage
# ---------------------------------------------------------------------------------------------


def test_help_lists_every_command_and_the_exit_codes() -> None:
    run = spool("--help")
    assert run.code == 0
    for command in ("publish", "tail", "replay", "group", "streams", "stats", "bench"):
        assert command in run.out
    text = " ".join(run.out.split())  # help is wrapped to the terminal width
    assert "Exit codes: 0 success" in text and "3 cannot connect" in text and "64 bad usage" in text


@pytest.mark.parametrize(
    "args, expected",
    [
        (["publish", "--help"], ["--stdin", "--file", "--idempotent", "--json"]),
        (["replay", "--help"], ["--from", "--since", "--until", "ISO 8601"]),
        (["group", "--help"], ["create", "list", "consume", "ack", "pending", "reset"]),
        (["group", "consume", "--help"], ["--claim-idle", "--no-ack", "--count"]),
        (["streams", "--help"], ["list", "info", "trim"]),
        (["bench", "--help"], ["closed", "open", "e2e"]),
        (["bench", "open", "--help"], ["--rate", "intended send time", "--plot"]),
        (["help", "tail"], ["--from", "--count"]),
    ],
)
def test_subcommand_help(args, expected) -> None:
    run = spool(*args)
    assert run.code == 0, run
    out = " ".join(run.out.split())
    for text in expected:
        assert text in out, (text, run.out)


def test_version() -> None:
    run = spool("--version")
    assert run.code == 0 and run.out.strip()


@pytest.mark.parametrize(
    "args, message",
    [
        (["nosuchcommand"], "Unexpected argument"),
        (["publish", "s", "field-without-value"], "fields and values come in pairs"),
        (["replay", "s", "--since", "yesterday-ish"], "--since"),
        (["replay", "s", "--from", "1-0", "--since", "1m"], "not both"),
        (["streams", "trim", "s"], "--maxlen or --minid"),
        (["bench", "closed", "--connections", "0"], "--connections"),
        (["tail", "s", "--from", "garbage"], "--from"),
    ],
)
def test_bad_usage_exits_64_with_a_message(args, message) -> None:
    run = spool(*args)
    assert run.code == 64, run
    assert message in run.err, run.err


def test_an_unreachable_server_exits_3() -> None:
    run = spool("streams", "list", "--port", free_port(), "--connect-attempts", "1")
    assert run.code == 3, run
    assert "cannot connect" in run.err and "refused" in run.err


# ---------------------------------------------------------------------------------------------
# publish / replay / tail
# ---------------------------------------------------------------------------------------------


def test_publish_from_arguments_prints_the_id(server, key) -> None:
    stream = key("orders").decode()
    run = spool("publish", stream, "item", "book", "qty", "1", server=server)
    assert run.code == 0, run
    entry_id = run.out.strip()
    parse_id(entry_id)
    as_json = spool("publish", stream, "item", "pen", "--json", server=server).json()
    assert as_json["stream"] == stream
    assert parse_id(as_json["id"]) > parse_id(entry_id)
    r = server.client()
    entries = r.xrange(stream)
    assert [e[0].decode() for e in entries] == [entry_id, as_json["id"]]
    assert entries[0][1] == {b"item": b"book", b"qty": b"1"}


def test_publish_stdin_lines_in_order(server, key) -> None:
    stream = key("logs").decode()
    lines = [f"line {n}" for n in range(500)]
    summary = spool("publish", stream, "--stdin", "--json", "--in-flight", "32", server=server, stdin="\n".join(lines) + "\n").json()
    assert summary["published"] == 500
    entries = server.client().xrange(stream)
    assert [e[1][b"data"].decode() for e in entries] == lines
    assert summary["first_id"] == entries[0][0].decode()
    assert summary["last_id"] == entries[-1][0].decode()


def test_publish_reads_piped_stdin_without_a_flag(server, key) -> None:
    stream = key("piped").decode()
    summary = spool("publish", stream, "--json", server=server, stdin="one\ntwo\n").json()
    assert summary["published"] == 2
    assert [e[1][b"data"] for e in server.client().xrange(stream)] == [b"one", b"two"]


def test_publish_with_nothing_to_publish_on_a_terminal_exits_64() -> None:
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run([SPOOL, "publish", "s"], stdin=secondary, capture_output=True, text=True, timeout=30)
    finally:
        os.close(primary)
        os.close(secondary)
    assert proc.returncode == 64, proc
    assert "exactly one" in proc.stderr


def test_publish_a_file_with_ids_and_a_field_name(server, key, tmp_path) -> None:
    stream = key("file").decode()
    path = tmp_path / "input.txt"
    path.write_text("alpha\nbeta\r\n\ngamma")  # CRLF, an empty line (skipped), no final newline
    run = spool("publish", stream, "--file", path, "--field", "word", "--ids", "--no-progress", server=server)
    assert run.code == 0, run
    ids = run.out.split()
    assert len(ids) == 3
    entries = server.client().xrange(stream)
    assert [e[0].decode() for e in entries] == ids
    assert [e[1][b"word"] for e in entries] == [b"alpha", b"beta", b"gamma"]


def test_publish_json_input_and_a_replay_round_trip(server, key) -> None:
    source, copy = key("src").decode(), key("copy").decode()
    objects = [{"user": "ann", "n": 1}, {"user": "bob", "n": 2, "tags": ["a", "b"]}]
    run = spool("publish", source, "--stdin", "--json-input", server=server, stdin="\n".join(json.dumps(o) for o in objects))
    assert run.code == 0, run
    replayed = spool("replay", source, "--json", server=server)
    assert [e["fields"]["user"] for e in replayed.json_lines()] == ["ann", "bob"]
    assert replayed.json_lines()[1]["fields"]["tags"] == '["a","b"]'
    # `replay --json` output is valid `publish --json-input` input.
    assert spool("publish", copy, "--stdin", "--json-input", server=server, stdin=replayed.out).code == 0
    assert [e["fields"] for e in spool("replay", copy, "--json", server=server).json_lines()] == [
        e["fields"] for e in replayed.json_lines()
    ]


def test_publish_with_maxlen_trims(server, key) -> None:
    stream = key("capped").decode()
    for n in range(5):
        assert spool("publish", stream, "n", n, "--maxlen", 3, server=server).code == 0
    assert server.client().xlen(stream) == 3


def _fill_at_fixed_times(server, stream: str) -> None:
    r = server.client()
    for ms in (1000, 2000, 3000, 4000):
        for seq in range(2):
            r.xadd(stream, {"at": f"{ms}-{seq}"}, id=f"{ms}-{seq}")


def test_replay_from_an_id_since_a_time_until_a_time(server, key) -> None:
    stream = key("times").decode()
    _fill_at_fixed_times(server, stream)
    everything = spool("replay", stream, "--json", "--batch", "3", server=server).json_lines()
    assert [e["id"] for e in everything] == [f"{ms}-{s}" for ms in (1000, 2000, 3000, 4000) for s in range(2)]
    assert everything[0]["fields"] == {"at": "1000-0"}
    from_id = spool("replay", stream, "--from", "2000-1", "--json", server=server).json_lines()
    assert [e["id"] for e in from_id] == ["2000-1", "3000-0", "3000-1", "4000-0", "4000-1"]
    window = spool("replay", stream, "--since", "1970-01-01T00:00:02Z", "--until", "3000", "--json", server=server)
    assert [e["id"] for e in window.json_lines()] == ["2000-0", "2000-1", "3000-0", "3000-1"]
    until_id = spool("replay", stream, "--until", "2000-0", server=server)
    assert until_id.code == 0
    assert [line.split()[0] for line in until_id.out.splitlines()] == ["1000-0", "1000-1", "2000-0"]
    limited = spool("replay", stream, "--count", "3", "--json", server=server).json_lines()
    assert len(limited) == 3


def test_replay_text_output_and_a_forced_progress_bar(server, key) -> None:
    stream = key("bar").decode()
    server.client().xadd(stream, {"a": "1", "b": "two words"})
    run = spool("replay", stream, "--progress", server=server)
    assert run.code == 0, run
    assert run.out.split("  ", 1)[1].strip() == "a=1  b=two words"
    assert "replay" in run.err and "entries" in run.err


def test_replay_of_a_missing_stream_prints_nothing(server, key) -> None:
    run = spool("replay", key("missing").decode(), server=server)
    assert run.code == 0 and run.out == ""


def test_tail_from_the_beginning_stops_after_count(server, key) -> None:
    stream = key("tail").decode()
    r = server.client()
    for n in range(3):
        r.xadd(stream, {"n": n})
    run = spool("tail", stream, "--from", "0", "--count", "3", "--json", server=server)
    assert [e["fields"]["n"] for e in run.json_lines()] == ["0", "1", "2"]


def test_tail_follows_new_entries(server, key) -> None:
    stream = key("follow").decode()
    r = server.client()
    r.xadd(stream, {"n": "old"})
    proc = start("tail", stream, "--count", "1", "--json", server=server)
    try:
        # The tail starts at some point: publish until it has printed an entry and exited.
        def published_and_done() -> bool:
            r.xadd(stream, {"n": "new"})
            return proc.poll() is not None

        wait_until(published_and_done, timeout=30, interval=0.1, what="tail to print a new entry")
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert json.loads(out.splitlines()[0])["fields"] == {"n": "new"}


# ---------------------------------------------------------------------------------------------
# streams / stats
# ---------------------------------------------------------------------------------------------


def test_streams_list_info_trim_delete(server, key) -> None:
    prefix = key("adm").decode()
    r = server.client()
    for n in range(4):
        r.xadd(f"{prefix}:a", {"n": n})
    r.xadd(f"{prefix}:b", {"n": 0})
    listed = spool("streams", "list", "--pattern", f"{prefix}:*", "--json", server=server).json()
    assert [(s["name"], s["length"]) for s in listed] == [(f"{prefix}:a", 4), (f"{prefix}:b", 1)]
    # Sizes are MEMORY USAGE's: on Spool, the entries as stored (test_metrics.entry_size).
    sizes = {s["name"]: s["bytes"] for s in listed}
    assert sizes == {s: server.client().memory_usage(s) for s in sizes}
    if IS_SPOOL:
        assert sizes[f"{prefix}:b"] == entry_size([b"n", b"0"])
    table = spool("streams", "list", "--pattern", f"{prefix}:*", server=server)
    assert table.out.splitlines()[0].split() == ["STREAM", "LENGTH", "BYTES", "LAST-ID", "GROUPS"]
    assert table.out.splitlines()[2].split()[:3] == [f"{prefix}:b", "1", str(sizes[f"{prefix}:b"])]
    info = spool("streams", "info", f"{prefix}:a", "--json", server=server).json()
    assert info["length"] == 4 and info["groups"] == 0 and info["bytes"] == sizes[f"{prefix}:a"]
    assert info["first_entry"]["fields"] == {"n": "0"} and info["last_entry"]["fields"] == {"n": "3"}
    assert spool("streams", "trim", f"{prefix}:a", "--maxlen", "1", "--json", server=server).json() == {"removed": 3}
    assert spool("streams", "trim", f"{prefix}:a", "--maxlen", "1", server=server).out.strip() == "0"
    assert spool("streams", "delete", f"{prefix}:a", f"{prefix}:b", f"{prefix}:c", "--json", server=server).json() == {"deleted": 2}


def test_group_list_of_a_stream_without_groups_is_empty(server, key) -> None:
    stream = key("nogroups").decode()
    server.client().xadd(stream, {"a": 1})
    assert spool("group", "list", stream, "--json", server=server).json() == []
    table = spool("group", "list", stream, server=server)
    assert table.code == 0 and table.out.split() == ["GROUP", "CONSUMERS", "PENDING", "LAST-DELIVERED", "ENTRIES-READ", "LAG"]


def test_info_of_a_missing_stream_exits_2(server, key) -> None:
    run = spool("streams", "info", key("missing").decode(), server=server)
    assert run.code == 2, run
    assert "no such key" in run.err


def test_stats_reports_rates_and_latency(server, key) -> None:
    r = server.client()
    r.xadd(key("stats").decode(), {"a": 1})
    stats = spool("stats", "--interval", "0.2", "--json", server=server).json()
    assert stats["server"] == ("spool" if server.is_spool else "redis")
    assert stats["interval_seconds"] > 0.15
    assert stats["commands_per_second"] >= 0
    for key_name in ("appends_per_second", "fsyncs_per_second", "entries_per_fsync", "durable_latency_us", "fsync_latency_us"):
        assert key_name in stats
    text = spool("stats", "--interval", "0.1", server=server)
    assert text.code == 0 and "append→durable p99 (µs)" in text.out


@pytest.mark.spool_only
def test_stats_shows_spools_durability_figures(server, key) -> None:
    r = server.client()
    for n in range(10):
        r.xadd(key("durable").decode(), {"n": n})
    stats = spool("stats", "--interval", "0.1", "--json", server=server).json()
    # Group reads and acks are fsynced too, so the shared server may average below one entry.
    assert stats["entries_per_fsync_total"] > 0
    assert stats["durable_latency_us"]["p99"] >= stats["durable_latency_us"]["p50"] > 0
    assert stats["fsync_latency_us"]["p50"] > 0


def test_a_wrong_password_exits_4(start_server) -> None:
    srv = start_server(requirepass="secret")
    assert spool("streams", "list", "--port", srv.port, "--password", "secret").code == 0
    wrong = spool("streams", "list", "--port", srv.port, "--password", "nope")
    assert wrong.code == 4, wrong
    assert "WRONGPASS" in wrong.err
    missing = spool("streams", "list", "--port", srv.port)
    assert missing.code == 4, missing


# ---------------------------------------------------------------------------------------------
# bench
# ---------------------------------------------------------------------------------------------


def _check_latency(summary: dict) -> None:
    assert summary["count"] > 0
    assert 0 < summary["p50_us"] <= summary["p90_us"] <= summary["p99_us"] <= summary["p999_us"] <= summary["max_us"]


def test_bench_closed_loop_json_and_plot(server, key, tmp_path) -> None:
    plot = tmp_path / "closed.svg"
    report = spool(
        "bench", "closed", "--stream", key("bench").decode(), "--connections", 2, "--depth", 8, "--duration", 0.5,
        "--warmup", 0.1, "--json", "--plot", plot, server=server,
    ).json()
    assert report["workload"] == "closed-loop publish"
    assert report["server"].split()[0] == ("spool" if server.is_spool else "redis")
    assert report["connections"] == 2 and report["depth"] == 8
    assert report["errors"] == 0 and report["completed"] > 0
    assert report["throughput_per_second"] == pytest.approx(report["completed"] / report["seconds"])
    _check_latency(report["latency"]["publish→ack"])
    svg = plot.read_text()
    assert svg.startswith("<svg") and "polyline" in svg and "publish→ack" in svg


def test_bench_open_loop_holds_the_rate(server, key) -> None:
    report = spool(
        "bench", "open", "--stream", key("bench").decode(), "--rate", 1000, "--duration", 0.5, "--warmup", 0.1, "--json",
        server=server,
    ).json()
    assert report["workload"] == "open-loop publish"
    assert report["errors"] == 0
    # The schedule is fixed: 1000/s for 0.5 s is 500 entries in the measured window.
    assert report["completed"] == 500
    _check_latency(report["latency"]["publish→ack"])
    text = spool("bench", "open", "--stream", key("bench2").decode(), "--rate", 500, "--duration", 0.2, "--warmup", 0, server=server)
    assert text.code == 0 and "P99.9" in text.out


def test_bench_end_to_end_through_xread(server, key, tmp_path) -> None:
    plot = tmp_path / "e2e.svg"
    report = spool(
        "bench", "e2e", "--via", "xread", "--stream", key("e2e").decode(), "--rate", 1000, "--duration", 0.5,
        "--warmup", 0.1, "--json", "--plot", plot, server=server,
    ).json()
    assert report["errors"] == 0
    assert report["completed"] == 500
    _check_latency(report["latency"]["publish→deliver"])
    _check_latency(report["latency"]["publish→ack"])
    assert "publish→deliver" in plot.read_text()
