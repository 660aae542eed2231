"""Streams scenario driven by FastStream's Redis broker (faststream[redis] from PyPI).

usage: python3 faststream_streams.py PORT KEY_PREFIX

A small FastStream application, written the way its documentation writes one:

1. two stream subscribers (`StreamSub(stream, group=..., consumer=...)`, i.e. XGROUP CREATE ...
   MKSTREAM then XREADGROUP COUNT/BLOCK loops, acking with XACK after the handler returns) form one
   consumer group; a `broker.publisher(stream=...)` publishes 1000 messages through redis-py
   pipelines (`publish(..., pipeline=pipe)`), and the handlers must see every one of them exactly
   once; then XPENDING must drain to 0 and XINFO GROUPS (redis-py's typed `xinfo_groups`) must
   show the group fully read;
2. a second application replays the stream from the 500th id with a group-less subscriber
   (`StreamSub(stream, last_id=id)`: XREAD from that id), which must get exactly the 500 later
   messages, in order.

Prints one JSON object on stdout; on any failure prints the reason on stderr and exits 1.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import logging
import sys
import time
import traceback
from typing import Any, Dict, List

import redis.asyncio
from faststream import AckPolicy
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import RedisStreamMessage

N = 1000
BATCH = 100
READ_COUNT = 25
POLL_MS = 100
DEADLINE_S = 60.0


class ErrorRecorder(logging.Handler):
    """Keeps FastStream's ERROR records (a failed read, a failed ack, a handler exception), tagged
    with whether the application was already shutting down when they were logged."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.stopping = False
        self.running_errors: List[str] = []
        self.shutdown_errors: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f": {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        (self.shutdown_errors if self.stopping else self.running_errors).append(text)


# FastStream logs every message at INFO: keep warnings and errors, on stderr (stdout is the JSON).
LOGGER = logging.getLogger("faststream-scenario")
LOGGER.addHandler(logging.StreamHandler(sys.stderr))
ERRORS = ErrorRecorder()
LOGGER.addHandler(ERRORS)
LOGGER.setLevel(logging.WARNING)
LOGGER.propagate = False


class ScenarioError(Exception):
    pass


def body_for(i: int) -> Dict[str, Any]:
    return {"seq": i, "payload": f"order-{i}:" + "x" * (i % 17), "tag": 'é✓ "q" sp'}


async def wait_for(condition, what: str, deadline: float, interval: float = 0.02) -> None:
    """Polls an async condition until it holds or the deadline passes."""
    while not await condition():
        if time.monotonic() > deadline:
            raise ScenarioError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


def stream_id(msg: Any) -> str:
    (message_id,) = msg.raw_message["message_ids"]
    return message_id.decode() if isinstance(message_id, bytes) else str(message_id)


async def group_phase(url: str, key: str, group: str, plain: redis.asyncio.Redis, deadline: float) -> Dict[str, Any]:
    broker = RedisBroker(url, socket_timeout=10, socket_connect_timeout=5, logger=LOGGER)
    handled: Dict[str, List[List[Any]]] = {"worker-1": [], "worker-2": []}
    all_handled = asyncio.Event()
    problems: List[str] = []

    def add_worker(name: str) -> None:
        @broker.subscriber(
            stream=StreamSub(key, group=group, consumer=name, polling_interval=POLL_MS, max_records=READ_COUNT),
            ack_policy=AckPolicy.ACK,
        )
        async def handle(body: Dict[str, Any], msg: RedisStreamMessage) -> None:
            if body != body_for(int(body["seq"])):
                problems.append(f"{name}: message {stream_id(msg)} has body {body!r}")
            handled[name].append([stream_id(msg), body["seq"]])
            if sum(len(v) for v in handled.values()) >= N:
                all_handled.set()

    add_worker("worker-1")
    add_worker("worker-2")
    publisher = broker.publisher(stream=key)

    async with broker:
        await broker.start()  # creates the group (XGROUP CREATE key group $ MKSTREAM) before returning
        connection = broker._connection  # the client FastStream's own `Redis` annotation resolves to
        ids: List[str] = []
        for base in range(0, N, BATCH):
            async with connection.pipeline(transaction=False) as pipe:
                for i in range(base, min(N, base + BATCH)):
                    await publisher.publish(body_for(i), pipeline=pipe)
                replies = await pipe.execute()
            ids.extend(r.decode() if isinstance(r, bytes) else str(r) for r in replies)
        try:
            await asyncio.wait_for(all_handled.wait(), timeout=max(0.1, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            raise ScenarioError(
                f"handlers saw {sum(len(v) for v in handled.values())}/{N} messages before the deadline"
            ) from None

        async def drained() -> bool:
            return (await plain.xpending(key, group))["pending"] == 0

        # The handler returns before FastStream sends XACK: poll until the group has no pending.
        await wait_for(drained, "XPENDING to reach 0", deadline)
        if ERRORS.running_errors:
            raise ScenarioError(f"FastStream logged errors while consuming: {ERRORS.running_errors[:3]}")
        ERRORS.stopping = True  # leaving the block stops the broker
    ERRORS.stopping = False
    if problems:
        raise ScenarioError("; ".join(problems[:5]))

    pending = await plain.xpending(key, group)
    groups = await plain.xinfo_groups(key)
    consumers = await plain.xinfo_consumers(key, group)
    return {
        "ids": ids,
        "handled": handled,
        "pending_summary": {k: (v.decode() if isinstance(v, bytes) else v) for k, v in pending.items() if k != "consumers"},
        "pending_consumers": pending["consumers"],
        "xinfo_groups": [{_s(k): _s(v) for k, v in g.items()} for g in groups],
        "xinfo_consumers": [{"name": _s(c["name"]), "pending": c["pending"]} for c in consumers],
    }


def _s(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


async def replay_phase(url: str, key: str, from_id: str, deadline: float) -> List[List[Any]]:
    broker = RedisBroker(url, socket_timeout=10, socket_connect_timeout=5, logger=LOGGER)
    seen: List[List[Any]] = []
    done = asyncio.Event()

    @broker.subscriber(stream=StreamSub(key, last_id=from_id, polling_interval=POLL_MS, max_records=100))
    async def replay(body: Dict[str, Any], msg: RedisStreamMessage) -> None:
        seen.append([stream_id(msg), body["seq"]])
        if len(seen) >= N - N // 2:
            done.set()

    async with broker:
        await broker.start()
        try:
            await asyncio.wait_for(done.wait(), timeout=max(0.1, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            raise ScenarioError(f"replay subscriber saw {len(seen)}/{N - N // 2} messages before the deadline") from None
        if ERRORS.running_errors:
            raise ScenarioError(f"FastStream logged errors while replaying: {ERRORS.running_errors[:3]}")
        ERRORS.stopping = True
    ERRORS.stopping = False
    return seen


async def main(port: int, prefix: str) -> Dict[str, Any]:
    url = f"redis://127.0.0.1:{port}"
    key = f"{prefix}:orders"
    group = "billing"
    started = time.monotonic()
    deadline = started + DEADLINE_S
    plain = redis.asyncio.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=10)
    try:
        if await plain.exists(key):
            raise ScenarioError(f"stream {key} already exists")
        result = await group_phase(url, key, group, plain, deadline)
        ids = result.pop("ids")
        xlen = await plain.xlen(key)
        from_id = ids[N // 2 - 1]
        replayed = await replay_phase(url, key, from_id, deadline)
    finally:
        await plain.aclose()
    return {
        "client": "faststream",
        "version": importlib.metadata.version("faststream"),
        "redis_py": importlib.metadata.version("redis"),
        "stream": key,
        "xlen": xlen,
        "group": {"name": group, **result},
        "ids": ids,
        "replay": {"from": from_id, "subscriber": replayed},
        # Errors FastStream logged after the application began to stop (e.g. a subscriber's
        # in-flight XREADGROUP failing because the broker closed its own connection pool first).
        "shutdown_log_errors": ERRORS.shutdown_errors,
        "elapsed_ms": round((time.monotonic() - started) * 1000),
    }


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: faststream_streams.py PORT KEY_PREFIX", file=sys.stderr)
        sys.exit(2)
    try:
        output = asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
    except Exception as exc:  # noqa: BLE001 - report any failure with its traceback
        print(f"faststream scenario failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        sys.exit(1)
    print(json.dumps(output))
