"""Consumer groups under kill -9: a producer appends while three consumers read through one group
and acknowledge half of what they get; the server is killed at a random moment, restarted, and
the group must show that
  - no entry whose XACK was answered is pending again,
  - every entry whose XREADGROUP reply arrived, and whose XACK was never sent, is still pending,
  - the group's position never moves backwards and covers every delivered entry.
Runs against redis-server too (appendfsync always promises the same).
"""

from __future__ import annotations

import os
import random
import threading
import time

import redis

CRASH_ROUNDS = int(os.environ.get("SPOOL_CRASH_ROUNDS", "5"))


def parse_id(raw: bytes):
    ms, seq = raw.split(b"-")
    return int(ms), int(seq)


def test_group_state_survives_kill9(start_server):
    srv = start_server(start=True)
    setup = srv.client(protocol=2)
    setup.xgroup_create("s", "g", id="$", mkstream=True)
    setup.close()
    acked: set = set()  # XACK answered
    delivered: set = set()  # XREADGROUP answered
    ack_sent: set = set()  # XACK sent (answered or not)
    previous_position = (0, 0)
    rng = random.Random(7)

    for round_number in range(CRASH_ROUNDS):
        stop = threading.Event()
        lock = threading.Lock()

        def producer():
            c = srv.client(protocol=2)
            try:
                while not stop.is_set():
                    pipe = c.pipeline(transaction=False)
                    for i in range(20):
                        pipe.xadd("s", {"r": str(round_number), "i": str(i)})
                    pipe.execute()
            # kill -9 mid-call: redis-py reports the dead socket as one of these (its hiredis
            # parser's closed-socket check raises TypeError on a socket already torn down).
            except (redis.ConnectionError, redis.TimeoutError, OSError, TypeError):
                pass

        def consumer(name):
            c = srv.client(protocol=2)
            try:
                while not stop.is_set():
                    reply = c.xreadgroup("g", name, {"s": ">"}, count=20, block=50)
                    if not reply:
                        continue
                    got = [entry_id for entry_id, _ in reply[0][1]]
                    with lock:
                        delivered.update(got)
                    to_ack = got[::2]
                    with lock:
                        ack_sent.update(to_ack)
                    if to_ack:
                        c.xack("s", "g", *to_ack)
                        with lock:
                            acked.update(to_ack)
            # TypeError: redis-py's hiredis parser polls the socket of a connection the kill has
            # just dropped (its socket is None by then).
            except (redis.ConnectionError, redis.TimeoutError, OSError, TypeError):
                pass

        threads = [threading.Thread(target=producer)] + [
            threading.Thread(target=consumer, args=(f"c{i}",)) for i in range(3)
        ]
        for t in threads:
            t.start()
        time.sleep(0.3 + rng.random())
        srv.kill9()
        stop.set()
        for t in threads:
            t.join(15)
            assert not t.is_alive()
        srv.restart()

        c = srv.client(protocol=2)
        pending = set()
        start = "-"
        while True:
            page = c.xpending_range("s", "g", start, "+", 5000)
            if not page:
                break
            pending.update(p["message_id"] for p in page)
            start = "(" + page[-1]["message_id"].decode()
        group = c.xinfo_groups("s")[0]
        c.close()

        assert not (acked & pending), f"round {round_number}: acknowledged entries pending again"
        missing = (delivered - ack_sent) - pending
        assert not missing, f"round {round_number}: delivered entries vanished from the pending list: {sorted(missing)[:5]}"
        assert group["pending"] == len(pending)
        position = parse_id(group["last-delivered-id"])
        assert position >= previous_position, f"round {round_number}: group moved back"
        if delivered:
            assert position >= max(parse_id(i) for i in delivered)
        previous_position = position
    # The run really exercised both paths.
    assert acked and len(delivered) > len(acked)
    srv.stop()
