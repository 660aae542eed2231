"""The real redis-cli and redis-benchmark binaries against the server."""

from __future__ import annotations

import re
import shutil
import subprocess

from helpers import encode_command

REDIS_CLI = shutil.which("redis-cli") or "redis-cli"
REDIS_BENCHMARK = shutil.which("redis-benchmark") or "redis-benchmark"
ID_LINE = re.compile(rb"^\d+-\d+$")


def cli(port, *args, stdin=None, timeout=30):
    proc = subprocess.run(
        [REDIS_CLI, "-p", str(port), *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
    )
    return proc


def out_lines(proc):
    return proc.stdout.decode().splitlines()


def test_redis_cli_ping(server):
    proc = cli(server.port, "PING")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"PONG\n"


def test_redis_cli_xadd_and_xrange(server, key):
    k = key("cli").decode()
    auto = cli(server.port, "XADD", k, "*", "a", "1")
    assert auto.returncode == 0, auto.stderr
    auto_id = auto.stdout.strip()
    assert ID_LINE.match(auto_id), auto.stdout
    explicit = cli(server.port, "XADD", k, "99999999999999-1", "b", "two words")
    assert explicit.stdout == b"99999999999999-1\n"
    proc = cli(server.port, "XRANGE", k, "-", "+")
    assert proc.returncode == 0, proc.stderr
    assert out_lines(proc) == [auto_id.decode(), "a", "1", "99999999999999-1", "b", "two words"]
    assert cli(server.port, "XLEN", k).stdout == b"2\n"


def test_redis_cli_no_raw_formatting(server, key):
    k = key("cli").decode()
    cli(server.port, "XADD", k, "1-1", "f", "v")
    proc = cli(server.port, "--no-raw", "XRANGE", k, "-", "+")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode()
    assert '"1-1"' in text and '"f"' in text and '"v"' in text


def test_redis_cli_info_server(server):
    proc = cli(server.port, "INFO", "server")
    assert proc.returncode == 0, proc.stderr
    lines = out_lines(proc)
    assert lines[0] == "# Server"
    fields = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    assert "redis_version" in fields
    assert fields["tcp_port"] == str(server.port)
    if server.is_spool:
        assert fields["redis_version"] == "8.8.0"


def test_redis_cli_shows_errors(server):
    proc = cli(server.port, "XLEN")
    assert "ERR wrong number of arguments for 'xlen' command" in proc.stdout.decode() + proc.stderr.decode()
    proc = cli(server.port, "NOSUCHCOMMAND", "x")
    assert "ERR unknown command 'NOSUCHCOMMAND'" in proc.stdout.decode() + proc.stderr.decode()


def test_redis_cli_commands_from_stdin(server, key):
    k = key("cli").decode()
    script = f"PING\nXADD {k} 5-5 f v\nXLEN {k}\nECHO hello\n".encode()
    proc = cli(server.port, stdin=script)
    assert proc.returncode == 0, proc.stderr
    assert out_lines(proc) == ["PONG", "5-5", "1", "hello"]


def test_redis_cli_resp3(server, key):
    k = key("cli").decode()
    cli(server.port, "XADD", k, "1-1", "f", "v")
    proc = cli(server.port, "-3", "XINFO", "STREAM", k)
    assert proc.returncode == 0, proc.stderr
    lines = out_lines(proc)
    assert lines[0] == "length 1"
    assert "last-generated-id 1-1" in lines
    assert "entries-added 1" in lines


def test_redis_cli_pipe_mode(server, key):
    k = key("pipe")
    payload = b"".join(encode_command("XADD", k, "*", "n", str(i)) for i in range(1000))
    proc = cli(server.port, "--pipe", stdin=payload, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout.decode() + proc.stderr.decode()
    assert "errors: 0, replies: 1000" in text, text
    assert cli(server.port, "XLEN", k.decode()).stdout == b"1000\n"


def test_redis_cli_scan(server, key):
    names = {key(f"scan{i}").decode() for i in range(12)}
    for name in names:
        cli(server.port, "XADD", name, "*", "f", "v")
    prefix = key("scan").decode()
    proc = cli(server.port, "--scan", "--pattern", prefix + "*")
    assert proc.returncode == 0, proc.stderr
    assert set(out_lines(proc)) == names


def test_redis_cli_with_password(start_server):
    srv = start_server(requirepass="clipw")
    denied = cli(srv.port, "PING")
    assert "NOAUTH Authentication required." in denied.stdout.decode() + denied.stderr.decode()
    ok = cli(srv.port, "-a", "clipw", "--no-auth-warning", "PING")
    assert ok.stdout == b"PONG\n"
    wrong = cli(srv.port, "-a", "nope", "--no-auth-warning", "PING")
    assert "WRONGPASS" in wrong.stdout.decode() + wrong.stderr.decode()


# --------------------------------------------------------------------------------------------
# redis-benchmark
# --------------------------------------------------------------------------------------------

RPS_LINE = re.compile(r"(?:^|\r|\n)\s*([^\r\n]+?): ([0-9.]+) requests per second")


def benchmark(port, *args, timeout=120):
    proc = subprocess.run(
        [REDIS_BENCHMARK, "-p", str(port), *args],
        capture_output=True,
        timeout=timeout,
    )
    text = proc.stdout.decode(errors="replace")
    results = {name.strip(): float(rps) for name, rps in RPS_LINE.findall(text)}
    return proc, results


def test_redis_benchmark_xadd(server, key):
    k = key("bench").decode()
    proc, results = benchmark(server.port, "-n", "2000", "-c", "5", "-q", "XADD", k, "*", "f", "v")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert results, proc.stdout
    (name, rps), = results.items()
    assert name.startswith("XADD")
    assert rps > 0
    assert cli(server.port, "XLEN", k).stdout == b"2000\n"


def test_redis_benchmark_pipelined_xadd(server, key):
    k = key("bench").decode()
    proc, results = benchmark(server.port, "-n", "5000", "-c", "10", "-P", "16", "-q", "XADD", k, "*", "f", "v")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert results and all(v > 0 for v in results.values()), proc.stdout
    # redis-benchmark finishes the pipelines it started, so it may send a few more than -n.
    assert 5000 <= int(cli(server.port, "XLEN", k).stdout) < 5000 + 10 * 16


def test_redis_benchmark_ping(server):
    proc, results = benchmark(server.port, "-n", "2000", "-c", "5", "-q", "-t", "ping")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(results) == {"PING_INLINE", "PING_MBULK"}, proc.stdout
    assert all(v > 0 for v in results.values())
