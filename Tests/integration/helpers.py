"""Small helpers shared by the integration tests.

`RawConnection` is a minimal RESP2/RESP3 client over a plain socket. It keeps the wire types
apart (simple string vs bulk string, null bulk vs null array vs RESP3 null, map vs array) so
tests can check reply shapes exactly, and it lets tests send arbitrary bytes (inline commands,
malformed frames, deep pipelines). Every socket operation has a timeout.
"""

from __future__ import annotations

import re
import socket
import time
import urllib.request
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple

DEFAULT_TIMEOUT = 10.0


# --------------------------------------------------------------------------------------------
# Reply value types
# --------------------------------------------------------------------------------------------


class Status(bytes):
    """A RESP simple string (`+OK`). Compares equal to the plain bytes."""

    def __repr__(self) -> str:
        return f"Status({bytes(self)!r})"


class ErrorReply:
    """A RESP error (`-ERR ...` or RESP3 blob error). Never equal to a non-error value."""

    def __init__(self, message: str) -> None:
        self.message = message

    @property
    def code(self) -> str:
        return self.message.split(" ", 1)[0]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ErrorReply) and other.message == self.message

    def __hash__(self) -> int:
        return hash(self.message)

    def __repr__(self) -> str:
        return f"ErrorReply({self.message!r})"


class _Null:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def __bool__(self) -> bool:
        return False


NULL_BULK = _Null("NULL_BULK")  # RESP2 $-1
NULL_ARRAY = _Null("NULL_ARRAY")  # RESP2 *-1
NULL = _Null("NULL")  # RESP3 _


def is_nil(value: Any) -> bool:
    return isinstance(value, _Null)


class Map:
    """A RESP3 map, keeping the order in which the server sent the pairs."""

    def __init__(self, items: List[Tuple[Any, Any]]) -> None:
        self.items = items

    def keys(self) -> List[Any]:
        return [k for k, _ in self.items]

    def dict(self) -> dict:
        return {_hashable(k): v for k, v in self.items}

    def __getitem__(self, key: Any) -> Any:
        for k, v in self.items:
            if k == key:
                return v
        raise KeyError(key)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"Map({self.items!r})"


class RespSet(list):
    """A RESP3 set (`~`)."""


class Push(list):
    """A RESP3 push (`>`)."""


class Verbatim(bytes):
    """A RESP3 verbatim string; `fmt` is the three-letter format (`txt`, `mkd`)."""

    fmt: bytes = b""


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def pairs(value: Any) -> List[Tuple[Any, Any]]:
    """Key/value pairs of a RESP2 flat array or a RESP3 map, in wire order."""
    if isinstance(value, Map):
        return list(value.items)
    assert isinstance(value, list), f"expected array or map, got {value!r}"
    assert len(value) % 2 == 0, f"odd-length key/value array: {value!r}"
    return [(value[i], value[i + 1]) for i in range(0, len(value), 2)]


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------


def _to_bytes(arg: Any) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, (int, float)):
        return str(arg).encode()
    return str(arg).encode()


def encode_command(*args: Any) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = _to_bytes(arg)
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


# --------------------------------------------------------------------------------------------
# Raw connection
# --------------------------------------------------------------------------------------------


class ConnectionClosed(Exception):
    pass


class RawConnection:
    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        timeout: float = DEFAULT_TIMEOUT,
        rcvbuf: Optional[int] = None,
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # Must be set before connect so the TCP window is negotiated small.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        self.pos = 0
        self.closed = False

    # -- plumbing ------------------------------------------------------------------------------

    def settimeout(self, timeout: float) -> None:
        self.sock.settimeout(timeout)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "RawConnection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_command(self, *args: Any) -> None:
        self.send(encode_command(*args))

    def _fill(self) -> None:
        if self.pos > 0 and self.pos > len(self.buffer) // 2:
            del self.buffer[: self.pos]
            self.pos = 0
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            self.closed = True
            raise ConnectionClosed("server closed the connection")
        self.buffer += chunk

    def _readline(self) -> bytes:
        while True:
            idx = self.buffer.find(b"\r\n", self.pos)
            if idx >= 0:
                line = bytes(self.buffer[self.pos : idx])
                self.pos = idx + 2
                return line
            self._fill()

    def _readexact(self, n: int) -> bytes:
        while len(self.buffer) - self.pos < n + 2:
            self._fill()
        data = bytes(self.buffer[self.pos : self.pos + n])
        assert self.buffer[self.pos + n : self.pos + n + 2] == b"\r\n", "bulk not followed by CRLF"
        self.pos += n + 2
        return data

    # -- replies -------------------------------------------------------------------------------

    def read_reply(self) -> Any:
        line = self._readline()
        if not line:
            raise AssertionError("empty reply line")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return Status(rest)
        if kind == b"-":
            return ErrorReply(rest.decode("utf-8", "replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return NULL_BULK
            return self._readexact(n)
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return NULL_ARRAY
            return [self.read_reply() for _ in range(n)]
        if kind == b"%":
            n = int(rest)
            return Map([(self.read_reply(), self.read_reply()) for _ in range(n)])
        if kind == b"~":
            return RespSet(self.read_reply() for _ in range(int(rest)))
        if kind == b">":
            return Push(self.read_reply() for _ in range(int(rest)))
        if kind == b"_":
            return NULL
        if kind == b"#":
            return rest == b"t"
        if kind == b",":
            return float(rest)
        if kind == b"(":
            return int(rest)
        if kind == b"=":
            data = self._readexact(int(rest))
            value = Verbatim(data[4:])
            value.fmt = data[:3]
            return value
        if kind == b"!":
            return ErrorReply(self._readexact(int(rest)).decode("utf-8", "replace"))
        if kind == b"|":
            n = int(rest)
            for _ in range(n):  # attributes: read and drop
                self.read_reply()
                self.read_reply()
            return self.read_reply()
        raise AssertionError(f"unknown RESP type byte in line {line!r}")

    def cmd(self, *args: Any) -> Any:
        self.send_command(*args)
        return self.read_reply()

    def inline(self, line: bytes) -> Any:
        self.send(line)
        return self.read_reply()

    def pipeline(self, commands: Sequence[Sequence[Any]]) -> List[Any]:
        self.send(b"".join(encode_command(*c) for c in commands))
        return [self.read_reply() for _ in commands]

    def hello(self, protocol: int) -> Any:
        reply = self.cmd("HELLO", protocol)
        assert not isinstance(reply, ErrorReply), reply
        return reply

    def wait_closed(self, timeout: float = DEFAULT_TIMEOUT, max_bytes: int = 1 << 30) -> bytes:
        """Reads until the server closes the connection; returns everything not yet parsed.

        Fails (AssertionError) if the connection is still open after `timeout` seconds or after
        `max_bytes` bytes were read.
        """
        deadline = time.monotonic() + timeout
        received = bytearray(self.buffer[self.pos :])
        self.buffer = bytearray()
        self.pos = 0
        total = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("server did not close the connection in time")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                raise AssertionError("server did not close the connection in time")
            except (ConnectionResetError, BrokenPipeError):
                self.closed = True
                return bytes(received)
            if not chunk:
                self.closed = True
                return bytes(received)
            total += len(chunk)
            if len(received) < (1 << 20):
                received += chunk
            if total > max_bytes:
                raise AssertionError(f"read more than {max_bytes} bytes without a close")


def read_all_replies(conn: RawConnection, count: int) -> List[Any]:
    return [conn.read_reply() for _ in range(count)]


# --------------------------------------------------------------------------------------------
# Stream ids and values
# --------------------------------------------------------------------------------------------

U64_MAX = (1 << 64) - 1


def parse_id(value: Any) -> Tuple[int, int]:
    if isinstance(value, bytes):
        value = value.decode()
    ms, seq = value.split("-")
    return int(ms), int(seq)


def format_id(ms: int, seq: int) -> str:
    return f"{ms}-{seq}"


def b(value: Any) -> bytes:
    return _to_bytes(value)


def ids_of(entries: Iterable[Any]) -> List[bytes]:
    return [bytes(e[0]) for e in entries]


def norm_entries(entries: Any) -> List[Tuple[bytes, List[bytes]]]:
    """Stream entries as [(id, [f1, v1, ...]), ...] whatever client/parser produced them."""
    out = []
    if is_nil(entries) or entries is None:
        return out
    for entry in entries:
        entry_id, fields = entry[0], entry[1]
        if isinstance(fields, dict):
            flat: List[bytes] = []
            for k, v in fields.items():
                flat += [k, v]
            fields = flat
        elif isinstance(fields, Map):
            fields = [x for kv in fields.items for x in kv]
        out.append((bytes(entry_id), [bytes(x) for x in fields]))
    return out


def norm_xread(reply: Any) -> List[Tuple[bytes, List[Tuple[bytes, List[bytes]]]]]:
    """XREAD reply (RESP2 array, RESP3 map, redis-py list or dict) as [(stream, entries)]."""
    if reply is None or is_nil(reply):
        return []
    if isinstance(reply, Map):
        return [(bytes(k), norm_entries(v)) for k, v in reply.items]
    if isinstance(reply, dict):
        out = []
        for k, v in reply.items():
            # redis-py RESP3 callback gives {name: [[id, fields], ...]}; some versions wrap
            # the entries in one more list.
            if isinstance(v, list) and len(v) == 1 and isinstance(v[0], list) and (
                not v[0] or isinstance(v[0][0], (list, tuple))
            ):
                v = v[0]
            out.append((bytes(k), norm_entries(v)))
        return out
    return [(bytes(item[0]), norm_entries(item[1])) for item in reply]


# --------------------------------------------------------------------------------------------
# Misc
# --------------------------------------------------------------------------------------------


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last_exc: Optional[BaseException] = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_exc = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last error: {last_exc!r}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_info(text: bytes) -> dict:
    """INFO text as {section: {field: value}} (values left as str)."""
    sections: dict = {}
    current = None
    for raw in text.decode().splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            current = line[1:].strip().lower()
            sections[current] = {}
            continue
        assert current is not None, f"INFO field outside a section: {line!r}"
        key, _, value = line.partition(":")
        sections[current][key] = value
    return sections


# Redis 8.6 added six IDMP keys to XINFO STREAM (the local redis-server is 7.0; Spool follows 8.8).
IDMP_KEYS = ["idmp-duration", "idmp-maxsize", "pids-tracked", "iids-tracked", "iids-added", "iids-duplicates"]


def version_tuple(text: str) -> Tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3])


def xinfo_stream_keys(version: Tuple[int, ...], full: bool = False) -> List[str]:
    """XINFO STREAM's keys in Redis's order for a server reporting `version`."""
    keys = ["length", "radix-tree-keys", "radix-tree-nodes", "last-generated-id", "max-deleted-entry-id",
            "entries-added", "recorded-first-entry-id"]
    if version >= (8, 6):
        keys += IDMP_KEYS
    return keys + (["entries", "groups"] if full else ["groups", "first-entry", "last-entry"])


# --------------------------------------------------------------------------------------------
# Prometheus text and stream sizes
# --------------------------------------------------------------------------------------------

PROMETHEUS_SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$')


def scrape(port: int, host: str = "127.0.0.1") -> dict:
    """GET /metrics: {(name, frozenset of label pairs): value} of every sample, and
    {name: type} from the TYPE lines under ("__types__", frozenset()). Every line must be
    Prometheus text."""
    text = urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10).read().decode()
    samples = {}
    types = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        match = PROMETHEUS_SAMPLE.match(line)
        assert match, f"not Prometheus text: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
        samples[(match["name"], labels)] = float(match["value"])
    samples[("__types__", frozenset())] = types
    return samples


def get(samples: dict, name: str, **labels) -> float:
    """The one sample named `name` whose labels include `labels`."""
    wanted = frozenset(labels.items())
    found = [v for (n, l), v in samples.items() if n == name and wanted <= l]
    assert len(found) == 1, f"{name} {labels}: {found}"
    return found[0]


def has(samples: dict, name: str, **labels) -> bool:
    wanted = frozenset(labels.items())
    return any(n == name and wanted <= l for (n, l) in samples)


def entry_size(fields: list) -> int:
    """An entry's size as Spool counts it (spool_stream_bytes, MEMORY USAGE): its 16-byte id, a
    12-byte header, and each field and value string with a 4-byte length."""
    return 16 + 12 + sum(4 + len(x) for x in fields)
