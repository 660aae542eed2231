"""Harness for the Spool integration tests.

The same tests run against Spool (`SPOOL_TEST_TARGET=spool`, the default) or against the real
redis-server (`SPOOL_TEST_TARGET=redis`), which keeps the expected values honest: everything that
is not marked `spool_only` must pass against Redis.

Spool:  $SPOOLD (default <repo>/.build/debug/spoold) --port P --data-dir D [--key value ...]
Redis:  redis-server --port P --dir D --appendonly yes --appendfsync always --save "" [...]

Environment:
  SPOOL_TEST_TARGET    spool | redis
  SPOOLD               path of the spoold binary
  REDIS_SERVER         path of redis-server (default: from PATH)
  SPOOL_TEST_TIMEOUT   per-test wall-clock limit in seconds (default 120)
  SPOOL_CRASH_ROUNDS   kill -9 rounds in the crash test (default 5)
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import redis
import redis.connection
from redis.backoff import NoBackoff
from redis.retry import Retry

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import RawConnection, free_port  # noqa: E402

TARGET = os.environ.get("SPOOL_TEST_TARGET", "spool").strip().lower()
if TARGET not in ("spool", "redis"):
    raise pytest.UsageError(f"SPOOL_TEST_TARGET must be 'spool' or 'redis', not {TARGET!r}")
IS_SPOOL = TARGET == "spool"

REPO_ROOT = Path(__file__).resolve().parents[2]
SPOOLD = os.environ.get("SPOOLD", str(REPO_ROOT / ".build" / "debug" / "spoold"))
REDIS_SERVER = os.environ.get("REDIS_SERVER") or shutil.which("redis-server") or "redis-server"

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
TEST_TIMEOUT = float(os.environ.get("SPOOL_TEST_TIMEOUT", "120"))

# Config keys only Spool understands; dropped when the target is Redis (tests that depend on
# them are spool_only).
SPOOL_ONLY_KEYS = {
    "wiredtiger-cache-size", "checkpoint-interval", "transaction-commands-max", "data-dir", "config",
    "producer-gap-timeout", "producer-queue-max", "producer-queue-total-max", "producer-seq-window",
    "stream-producers-max", "producer-idle-expiry", "producer-reorder-wait", "checkpoint-writes", "stream-cache-max",
}


def _redis_value(key: str, value: str) -> str:
    """Translates a Spool config value into redis-server's spelling of the same limit."""
    if key == "client-output-buffer-limit" and len(value.split()) == 1:
        # Spool: one byte size for every client. Redis: per class "hard soft seconds".
        return f"normal {value} {value} 0"
    return value


class ServerStartError(RuntimeError):
    pass


class ServerExitedDuringStart(ServerStartError):
    """The process exited before answering PING (possibly: lost a race for the port)."""


class Server:
    """One spoold or redis-server process with its own data directory and port."""

    _ids = itertools.count(1)

    def __init__(self, base_dir: Path, config: Optional[Dict[str, Any]] = None, target: str = TARGET) -> None:
        self.target = target
        self.is_spool = target == "spool"
        self.number = next(Server._ids)
        self.base_dir = Path(base_dir)
        self.data_dir = self.base_dir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.base_dir / "server.log"
        self.config: Dict[str, str] = {}
        for key, value in (config or {}).items():
            self.config[key.replace("_", "-")] = str(value)
        explicit_port = int(self.config.pop("port", 0))
        self.port: int = explicit_port or free_port()
        # Once started (or when given), the port stays: restarts come back on the same port.
        self._fixed_port = explicit_port != 0
        self.proc: Optional[subprocess.Popen] = None
        self.host = "127.0.0.1"
        self.password: Optional[str] = self.config.get("requirepass")
        self._clients: List[Any] = []
        self.stopped_by_sigkill = False
        # Spool accepts the data directory as --data-dir or as the config key --dir.
        self.data_dir_flag = "--data-dir"

    # -- command line ------------------------------------------------------------------------

    def command_line(self) -> List[str]:
        if self.is_spool:
            args = [SPOOLD, "--port", str(self.port), self.data_dir_flag, str(self.data_dir)]
            for key, value in self.config.items():
                args += [f"--{key}", value]
            return args
        args = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--save", "",
            "--logfile", "",
            "--daemonize", "no",
        ]
        for key, value in self.config.items():
            if key in SPOOL_ONLY_KEYS:
                continue
            args += [f"--{key}", _redis_value(key, value)]
        return args

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc else None

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> "Server":
        assert not self.is_running(), "server already running"
        if self.is_spool and not os.access(SPOOLD, os.X_OK):
            raise ServerStartError(
                f"spoold binary not found or not executable at {SPOOLD} "
                "(build it with `swift build`, or set SPOOLD=/path/to/spoold)"
            )
        attempts = 1 if self._fixed_port else 3
        last_error: Optional[Exception] = None
        for _ in range(attempts):
            try:
                self._start_once(timeout)
                self._fixed_port = True  # restarts reuse the same port
                return self
            except ServerExitedDuringStart as exc:
                last_error = exc
                if self._fixed_port:
                    raise
                # Possibly lost a race for the port between free_port() and bind: try another.
                self.port = free_port()
        assert last_error is not None
        raise last_error

    def _start_once(self, timeout: float) -> None:
        log = open(self.log_path, "ab")
        log.write(f"\n==== start {' '.join(self.command_line())}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            self.command_line(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=str(self.base_dir),
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerExitedDuringStart(
                    f"{self.target} exited with status {self.proc.returncode} during start-up; "
                    f"log tail:\n{self.log_tail()}"
                )
            if self._answers_ping():
                return
            time.sleep(0.05)
        self.kill9()
        raise ServerStartError(f"{self.target} did not answer PING within {timeout}s; log tail:\n{self.log_tail()}")

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                sock.settimeout(1.0)
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                data = b""
                while b"\r\n" not in data and len(data) < 4096:
                    chunk = sock.recv(4096)
                    if not chunk:
                        return False
                    data += chunk
        except OSError:
            return False
        return data.startswith(b"+PONG") or data.startswith(b"-NOAUTH")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> Optional[int]:
        """Sends `sig`, waits up to `timeout` s, then SIGKILLs. Returns the exit status
        (negative for a signal, as subprocess reports it), or None if it was not running."""
        self.close_clients()
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
                self.stopped_by_sigkill = True
        return self.proc.returncode

    def kill9(self) -> None:
        self.close_clients()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)

    def restart(self, timeout: float = START_TIMEOUT) -> "Server":
        if self.is_running():
            code = self.stop()
            assert code == 0, f"{self.target} exited with {code} on SIGTERM; log tail:\n{self.log_tail()}"
        return self.start(timeout)

    def wait_exit(self, timeout: float) -> Optional[int]:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- clients -----------------------------------------------------------------------------

    def client(self, protocol: int = 2, parser_class: Any = None, **kwargs: Any) -> redis.Redis:
        options: Dict[str, Any] = dict(
            host=self.host,
            port=self.port,
            protocol=protocol,
            socket_timeout=10,
            socket_connect_timeout=5,
            decode_responses=False,
            # No silent reconnect-and-retry: a dropped connection must fail the test.
            retry=Retry(NoBackoff(), 0),
        )
        if self.password is not None and "password" not in kwargs:
            options["password"] = self.password
        options.update(kwargs)
        if parser_class is not None:
            # redis.Redis() does not take parser_class; a ConnectionPool does.
            options["parser_class"] = parser_class
            client = redis.Redis(connection_pool=redis.ConnectionPool(**options))
            client.auto_close_connection_pool = True
        else:
            client = redis.Redis(**options)
        self._clients.append(client)
        return client

    def raw(self, **kwargs: Any) -> RawConnection:
        conn = RawConnection(self.port, self.host, **kwargs)
        self._clients.append(conn)
        return conn

    def close_clients(self) -> None:
        for client in self._clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - best effort during teardown
                pass
        self._clients.clear()

    def __repr__(self) -> str:
        return f"<Server {self.target} port={self.port} dir={self.data_dir}>"


# --------------------------------------------------------------------------------------------
# pytest hooks
# --------------------------------------------------------------------------------------------


def pytest_report_header(config: pytest.Config) -> List[str]:
    binary = SPOOLD if IS_SPOOL else REDIS_SERVER
    return [f"spool integration target: {TARGET} ({binary})"]


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    if IS_SPOOL:
        return
    skip = pytest.mark.skip(reason="spool_only: tests a Spool feature; target is redis-server")
    for item in items:
        if "spool_only" in item.keywords:
            item.add_marker(skip)


class TestTimeout(Exception):
    pass


@pytest.fixture(autouse=True)
def _per_test_time_limit():
    """A hard wall-clock bound on every test (pytest-timeout is not installed)."""

    def on_alarm(signum: int, frame: Any) -> None:
        raise TestTimeout(f"test exceeded {TEST_TIMEOUT}s (SPOOL_TEST_TIMEOUT)")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, TEST_TIMEOUT)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def target() -> str:
    return TARGET


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory):
    """The shared server most tests use. Tests must use their own key names (`key` fixture)."""
    srv = Server(tmp_path_factory.mktemp("shared"))
    srv.start()
    yield srv
    srv.stop()
    shutil.rmtree(srv.data_dir, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any):
    """Records each phase's report on the test item, so fixtures can see how the test went."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def _passed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "report_call", None)
    return report is not None and report.passed


@pytest.fixture
def start_server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    """Factory: start_server(requirepass="pw", maxclients=3) -> running Server.

    Keys become `--key value` for either binary (underscores turn into dashes). Every server
    started here is stopped (SIGTERM, then SIGKILL after 10 s) when the test ends. A passing
    test's data directories are removed then (each holds about 200 MB of preallocated
    WiredTiger log files; the whole suite's would fill a small disk); a failing test's stay, with
    every server's log, for a look.
    """
    started: List[Server] = []

    def factory(start: bool = True, **config: Any) -> Server:
        srv = Server(tmp_path_factory.mktemp("srv"), config)
        started.append(srv)
        if start:
            srv.start()
        return srv

    yield factory
    for srv in started:
        srv.stop()
    if _passed(request):
        for srv in started:
            shutil.rmtree(srv.data_dir, ignore_errors=True)


_counter = itertools.count(1)


@pytest.fixture
def key(request: pytest.FixtureRequest):
    """Unique key names for this test: key("s") -> b"t17:s"."""
    prefix = f"t{next(_counter)}:"

    def make(name: str = "s") -> bytes:
        return (prefix + name).encode()

    return make


def _parser_for(protocol: int, name: str) -> Any:
    if name == "hiredis":
        return redis.connection._HiredisParser
    return redis.connection._RESP3Parser if protocol == 3 else redis.connection._RESP2Parser


CLIENT_VARIANTS = [(2, "hiredis"), (2, "python"), (3, "hiredis"), (3, "python")]


@pytest.fixture(params=CLIENT_VARIANTS, ids=[f"resp{p}-{n}" for p, n in CLIENT_VARIANTS])
def r(request: pytest.FixtureRequest, server: Server) -> redis.Redis:
    """redis-py client on the shared server; parametrized over RESP2/RESP3 x hiredis/python."""
    protocol, parser = request.param
    client = server.client(protocol=protocol, parser_class=_parser_for(protocol, parser))
    client.protocol = protocol  # type: ignore[attr-defined]
    client.parser_name = parser  # type: ignore[attr-defined]
    yield client
    client.close()


@pytest.fixture
def r2(server: Server) -> redis.Redis:
    """One plain RESP2 redis-py client (hiredis parser) on the shared server."""
    client = server.client(protocol=2)
    yield client
    client.close()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def raw(request: pytest.FixtureRequest, server: Server) -> RawConnection:
    """Raw socket connection switched to RESP2 or RESP3 with HELLO; `raw.protocol` says which."""
    conn = server.raw()
    conn.hello(request.param)
    conn.protocol = request.param  # type: ignore[attr-defined]
    yield conn
    conn.close()


@pytest.fixture
def raw2(server: Server) -> RawConnection:
    """Raw socket connection in the default protocol (RESP2), no HELLO sent."""
    conn = server.raw()
    yield conn
    conn.close()
