"""Ordered, idempotent, pipelined producers and conditional appends (Spool extensions).

XADD key PRODUCER <id> SEQ <n> [EPOCH <e>] ... commits a producer's entries in SEQ order whatever
order they arrive in, on any number of connections; a retry of a committed SEQ returns its
original id; a higher EPOCH fences older instances. XADD key IFLAST <id> ... appends only if the
stream's last id is exactly <id>; IFVERSION <n> only if n entries were ever added to it. A
MULTI/EXEC using any of them is all or nothing. See
docs/protocol.md, "Producers and conditional appends".
"""

from __future__ import annotations

import os
import random
import threading
import time
from typing import Dict, List, Sequence

import pytest
import redis

from helpers import ConnectionClosed, ErrorReply, RawConnection, encode_command, is_nil, pairs, parse_id, wait_until

pytestmark = pytest.mark.spool_only

CRASH_ROUNDS = int(os.environ.get("SPOOL_CRASH_ROUNDS", "5"))


def err(reply) -> str:
    assert isinstance(reply, ErrorReply), f"expected an error reply, got {reply!r}"
    return reply.message


def produce(stream, producer, seq, *extra, token=None, epoch=None):
    """The XADD command line of one producer entry; its field `seq` carries the SEQ."""
    args = ["XADD", stream, "PRODUCER", producer, "SEQ", str(seq)]
    if epoch is not None:
        args += ["EPOCH", str(epoch)]
    args += list(extra)
    args += ["*", "seq", str(seq)]
    if token is not None:
        args += ["tok", token]
    return args


def entries(conn: RawConnection, stream) -> list:
    out = []
    start = "-"
    while True:
        chunk = conn.cmd("XRANGE", stream, start, "+", "COUNT", "5000")
        if not chunk:
            return out
        out += chunk
        start = b"(" + chunk[-1][0]


def seqs_of(conn: RawConnection, stream) -> List[int]:
    return [int(dict(zip(e[1][::2], e[1][1::2]))[b"seq"]) for e in entries(conn, stream)]


def producer_info(conn: RawConnection, stream, producer) -> dict:
    rows = conn.cmd("XPRODUCERS", stream, producer)
    assert len(rows) == 1, rows
    return dict(pairs(rows[0]))


def wait_until_waiting(conn: RawConnection, stream, producer, count):
    """Polls XPRODUCERS until `count` appends of the producer are parked (commands on other
    connections are not ordered with this one's otherwise)."""
    for _ in range(2000):
        rows = conn.cmd("XPRODUCERS", stream, producer)
        if isinstance(rows, list) and rows and dict(pairs(rows[0]))[b"waiting"] == count:
            return
        time.sleep(0.005)
    raise AssertionError(f"{count} appends of {producer!r} never parked")


def send_over_connections(port, commands_per_connection: Sequence[Sequence[Sequence]], timeout=30):
    """Sends each connection's commands pipelined (one write), all connections at once, and
    returns every connection's replies in its request order."""
    results: List[list] = [None] * len(commands_per_connection)  # type: ignore[list-item]
    failures: List[BaseException] = []
    barrier = threading.Barrier(len(commands_per_connection))

    def run(index, commands):
        try:
            with RawConnection(port, timeout=timeout) as conn:
                payload = b"".join(encode_command(*c) for c in commands)
                barrier.wait()
                conn.send(payload)
                results[index] = [conn.read_reply() for _ in commands]
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(commands_per_connection)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 10)
    assert not failures, failures
    return results


def split(items, parts):
    return [items[i::parts] for i in range(parts)]


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------


def test_argument_errors_reject_before_any_write(server, key):
    k = key()
    with server.raw() as c:
        cases = [
            (["XADD", k, "PRODUCER", "p", "*", "f", "v"], "ERR syntax error, PRODUCER requires SEQ"),
            (["XADD", k, "SEQ", "1", "*", "f", "v"], "ERR syntax error, SEQ and EPOCH require PRODUCER"),
            (["XADD", k, "EPOCH", "1", "*", "f", "v"], "ERR syntax error, SEQ and EPOCH require PRODUCER"),
            (["XADD", k, "PRODUCER", "p", "SEQ", "0", "*", "f", "v"], "ERR SEQ must be a positive integer"),
            (["XADD", k, "PRODUCER", "p", "SEQ", "-3", "*", "f", "v"], "ERR SEQ must be a positive integer"),
            (["XADD", k, "PRODUCER", "p", "SEQ", "x", "*", "f", "v"], "ERR SEQ must be a positive integer"),
            (["XADD", k, "PRODUCER", "p", "SEQ", "1", "EPOCH", "-1", "*", "f", "v"],
             "ERR EPOCH must be a non-negative integer"),
            (["XADD", k, "PRODUCER", "", "SEQ", "1", "*", "f", "v"], "ERR PRODUCER id must be 1 to 256 bytes"),
            (["XADD", k, "PRODUCER", "x" * 257, "SEQ", "1", "*", "f", "v"], "ERR PRODUCER id must be 1 to 256 bytes"),
            (["XADD", k, "PRODUCER", "p", "PRODUCER", "q", "SEQ", "1", "*", "f", "v"], "ERR syntax error"),
            (["XADD", k, "PRODUCER", "p", "SEQ", "1", "SEQ", "2", "*", "f", "v"], "ERR syntax error"),
            (["XADD", k, "IFLAST", "nope", "*", "f", "v"], "ERR Invalid stream ID specified as stream command argument"),
            (["XADD", k, "IFLAST", "0-0", "IFLAST", "0-0", "*", "f", "v"], "ERR syntax error"),
            (["XADD", k, "PRODUCER", "p", "SEQ", "1", "*", "odd"], "ERR wrong number of arguments for 'xadd' command"),
        ]
        for command, expected in cases:
            assert err(c.cmd(*command)) == expected, command
        assert c.cmd("EXISTS", k) == 0
        # Option keywords after the id are ordinary fields.
        entry = c.cmd("XADD", k, "*", "PRODUCER", "p", "SEQ", "x")
        assert c.cmd("XRANGE", k, "-", "+") == [[entry, [b"PRODUCER", b"p", b"SEQ", b"x"]]]
        assert c.cmd("XPRODUCERS", k) == []


def test_options_combine_with_trimming_and_explicit_ids(server, key):
    k = key()
    with server.raw() as c:
        assert c.cmd("XADD", k, "MAXLEN", "2", "PRODUCER", "p", "SEQ", "1", "5-1", "f", "1") == b"5-1"
        assert c.cmd("XADD", k, "PRODUCER", "p", "NOMKSTREAM", "SEQ", "2", "MAXLEN", "2", "6-*", "f", "2") == b"6-0"
        assert c.cmd("XADD", k, "PRODUCER", "p", "SEQ", "3", "IFLAST", "6-0", "MAXLEN", "2", "7-0", "f", "3") == b"7-0"
        assert c.cmd("XLEN", k) == 2
        # A failed append does not use up its SEQ: fix the request and send the SEQ again.
        assert err(c.cmd("XADD", k, "PRODUCER", "p", "SEQ", "4", "7-0", "f", "4")).startswith(
            "ERR The ID specified in XADD is equal or smaller")
        assert c.cmd("XADD", k, "PRODUCER", "p", "SEQ", "4", "8-0", "f", "4") == b"8-0"
        assert producer_info(c, k, "p")[b"last-seq"] == 4
        # NOMKSTREAM on a missing stream: null, nothing created, SEQ unused.
        missing = key("missing")
        assert is_nil(c.cmd("XADD", missing, "NOMKSTREAM", "PRODUCER", "p", "SEQ", "1", "*", "f", "v"))
        assert c.cmd("EXISTS", missing) == 0


# --------------------------------------------------------------------------------------------
# Ordering
# --------------------------------------------------------------------------------------------


def test_four_connections_shuffled_commit_in_seq_order(server, key):
    k = key()
    total = 2000
    order = list(range(1, total + 1))
    random.Random(5).shuffle(order)
    per_connection = [[produce(k, "p", seq) for seq in part] for part in split(order, 4)]
    replies = send_over_connections(server.port, per_connection)
    id_of = {}
    for commands, answers in zip(per_connection, replies):
        for command, reply in zip(commands, answers):
            assert isinstance(reply, bytes), reply
            id_of[int(command[5])] = reply
    with server.raw() as c:
        stream = entries(c, k)
        assert seqs_of(c, k) == list(range(1, total + 1))
        assert [e[0] for e in stream] == [id_of[s] for s in range(1, total + 1)]
        info = producer_info(c, k, "p")
        assert info[b"last-seq"] == total and info[b"waiting"] == 0
        assert info[b"last-id"] == id_of[total]


def test_one_producer_pipelining_many_windows_over_the_same_connections(server, key):
    """Windows of shuffled SEQs over the same four connections, one after another: appends that
    wait are set aside or parked and every one commits, in order, whatever window it came in."""
    k = key()
    total = 6000
    for window, seed in ((500, 1), (97, 2), (2000, 3)):
        stream = k + str(window).encode()
        producer = PipelinedProducer(
            server.port, stream, list(range(1, total + 1)), window=window, rng=random.Random(seed),
            may_be_killed=False)
        producer.start()
        producer.join(120)
        assert not producer.is_alive() and producer.errors == []
        assert len(producer.acked) == total
        with server.raw() as c:
            assert seqs_of(c, stream) == list(range(1, total + 1))
            assert [e[0] for e in entries(c, stream)] == [producer.acked[s] for s in range(1, total + 1)]


def test_connections_go_on_after_their_early_appends_commit_in_the_same_batch(server, key):
    """A's SEQ 2 and B's SEQ 1 reach the storage thread together (a long pipeline on a third
    connection keeps it busy meanwhile): A's group waits for B's within the batch. Afterwards
    both connections go on as usual."""
    k, filler = key(), key("filler")
    for round_number in range(20):
        with server.raw(timeout=20) as a, server.raw(timeout=20) as b, server.raw(timeout=20) as busy:
            busy.send(b"".join(encode_command("XADD", filler, "*", "f", "v") for _ in range(3000)))
            a.send_command(*produce(k, f"p{round_number}", 2))
            b.send_command(*produce(k, f"p{round_number}", 1))
            assert isinstance(a.read_reply(), bytes) and isinstance(b.read_reply(), bytes)
            assert a.cmd("XLEN", k) == b.cmd("XLEN", k) == 2 * (round_number + 1)
            for _ in range(3000):
                busy.read_reply()


def test_commands_after_a_parked_append_run_and_replies_stay_in_order(server, key):
    k, other = key(), key("other")
    with server.raw() as a, server.raw() as b:
        b.cmd(*produce(k, "q", 1))
        a.send(b"".join(encode_command(*c) for c in [
            produce(k, "p", 2),
            ("XADD", other, "*", "f", "v"),
            ("XLEN", other),
            produce(k, "p", 3),
        ]))
        # The XADD and XLEN after the parked SEQ 2 run without waiting for it.
        wait_until_waiting(b, k, "p", 2)
        assert b.cmd("XLEN", other) == 1
        assert b.cmd("XLEN", k) == 1
        first = b.cmd(*produce(k, "p", 1))
        replies = [a.read_reply() for _ in range(4)]
        assert isinstance(replies[0], bytes) and isinstance(replies[1], bytes) and replies[2] == 1
        assert [e[0] for e in entries(b, k)][1:] == [first, replies[0], replies[3]]
        assert seqs_of(b, k) == [1, 1, 2, 3]


def test_parked_append_before_a_blocking_read_in_one_pipeline(server, key):
    k, events = key(), key("events")
    with server.raw() as a, server.raw() as b:
        b.cmd(*produce(k, "q", 1))
        a.send(encode_command(*produce(k, "p", 2)) + encode_command("XREAD", "BLOCK", "0", "STREAMS", events, "$"))
        wait_until_waiting(b, k, "p", 1)
        b.cmd(*produce(k, "p", 1))
        event = b.cmd("XADD", events, "*", "e", "1")
        second, read = a.read_reply(), a.read_reply()
        assert seqs_of(b, k) == [1, 1, 2] and entries(b, k)[2][0] == second
        assert read == [[events, [[event, [b"e", b"1"]]]]]


def producer_counters(conn: RawConnection) -> Dict[str, int]:
    """INFO producers, as numbers."""
    text = conn.cmd("INFO", "producers")
    assert text.startswith(b"# Producers\r\n"), text
    return {k.decode(): int(v) for k, v in (line.split(b":") for line in text.split(b"\r\n")[1:] if line)}


def test_parked_appends_of_a_closed_connection_commit_when_the_gap_fills(server, key):
    k = key()
    with server.raw() as b:
        b.cmd(*produce(k, "q", 1))
        before = producer_counters(b)
        with server.raw() as a:
            a.send(b"".join(encode_command(*produce(k, "p", s)) for s in (3, 2)))
            wait_until_waiting(b, k, "p", 2)
        # INFO counts the wait: the group was set aside at SEQ 3, outwaited producer-reorder-wait
        # and both appends parked.
        waiting = producer_counters(b)
        assert waiting["spool_producer_groups_set_aside"] > before["spool_producer_groups_set_aside"]
        assert waiting["spool_producer_set_aside_outwaited"] > before["spool_producer_set_aside_outwaited"]
        assert waiting["spool_producer_appends_parked"] == before["spool_producer_appends_parked"] + 2
        assert waiting["spool_producer_appends_waiting"] == before["spool_producer_appends_waiting"] + 2
        b.cmd(*produce(k, "p", 1))
        assert seqs_of(b, k) == [1, 1, 2, 3]
        after = producer_counters(b)
        assert after["spool_producer_appends_waiting"] == before["spool_producer_appends_waiting"]
        assert after["spool_producer_appends_parked"] == waiting["spool_producer_appends_parked"]


# --------------------------------------------------------------------------------------------
# Idempotence
# --------------------------------------------------------------------------------------------


def test_retries_return_the_original_id_and_write_nothing(server, key):
    k = key()
    with server.raw() as a, server.raw() as b:
        ids = [a.cmd(*produce(k, "p", s)) for s in range(1, 6)]
        for s in range(1, 6):
            assert a.cmd(*produce(k, "p", s)) == ids[s - 1]
            assert b.cmd(*produce(k, "p", s)) == ids[s - 1]
        assert b.cmd("XLEN", k) == 5
        # Another producer on the same stream has its own sequence.
        assert isinstance(b.cmd(*produce(k, "q", 1)), bytes)
        assert b.cmd(*produce(k, "q", 1)) == entries(b, k)[-1][0]
        assert b.cmd("XLEN", k) == 6


def test_retry_of_a_parked_seq_attaches_to_it(server, key):
    k = key()
    with server.raw() as a, server.raw() as b, server.raw() as c:
        c.cmd(*produce(k, "q", 1))
        a.send_command(*produce(k, "p", 2))
        wait_until_waiting(c, k, "p", 1)
        # The retry and a marker in one write: once the marker exists, the retry has attached.
        marker = key("marker")
        b.send(encode_command(*produce(k, "p", 2)) + encode_command("XADD", marker, "*", "f", "v"))
        for _ in range(2000):
            if c.cmd("EXISTS", marker) == 1:
                break
            time.sleep(0.005)
        assert producer_info(c, k, "p")[b"waiting"] == 1
        c.cmd(*produce(k, "p", 1))
        first, retry = a.read_reply(), b.read_reply()
        assert first == retry
        assert isinstance(b.read_reply(), bytes)
        assert seqs_of(c, k) == [1, 1, 2]


@pytest.fixture
def small_window_server(start_server):
    return start_server(producer_seq_window=4)


def test_seq_below_the_window_is_a_clear_error(small_window_server):
    srv = small_window_server
    with srv.raw() as c:
        ids = [c.cmd(*produce("s", "p", s)) for s in range(1, 11)]
        for s in range(7, 11):
            assert c.cmd(*produce("s", "p", s)) == ids[s - 1]
        assert err(c.cmd(*produce("s", "p", 6))) == (
            "STALESEQ producer 'p' SEQ 6 is already committed but below the window "
            "(last committed SEQ 10, ids are kept from SEQ 7)")
        assert err(c.cmd(*produce("s", "p", 1))).startswith("STALESEQ producer 'p' SEQ 1 ")
        assert c.cmd("XLEN", "s") == 10
        info = producer_info(c, "s", "p")
        assert info[b"oldest-kept-seq"] == 7 and info[b"last-id"] == ids[-1]


def test_producer_state_survives_restart(start_server):
    srv = start_server(producer_seq_window=8)
    with srv.raw() as c:
        ids = [c.cmd(*produce("s", "p", s, epoch=3)) for s in range(1, 21)]
    srv.restart()
    with srv.raw() as c:
        for s in range(13, 21):
            assert c.cmd(*produce("s", "p", s, epoch=3)) == ids[s - 1]
        assert err(c.cmd(*produce("s", "p", 12, epoch=3))).startswith("STALESEQ")
        assert err(c.cmd(*produce("s", "p", 21, epoch=2))).startswith("FENCED")
        new = c.cmd(*produce("s", "p", 21, epoch=3))
        assert parse_id(new) > parse_id(ids[-1])
        assert seqs_of(c, "s") == list(range(1, 22))
    srv.kill9()
    srv.start()
    with srv.raw() as c:
        assert c.cmd(*produce("s", "p", 21, epoch=3)) == new
        assert c.cmd("XLEN", "s") == 21


# --------------------------------------------------------------------------------------------
# Gaps: timeout and bounds
# --------------------------------------------------------------------------------------------


def test_gap_timeout_fails_every_parked_append_and_keeps_the_stream_consistent(start_server):
    srv = start_server(producer_gap_timeout=300)
    with srv.raw() as c, srv.raw() as other:
        first = c.cmd(*produce("s", "p", 1))
        c.send(b"".join(encode_command(*x) for x in [produce("s", "p", 4), produce("s", "p", 3), ("XLEN", "s")]))
        replies = [c.read_reply() for _ in range(3)]
        assert err(replies[0]) == "SEQGAP producer 'p' SEQ 4 timed out after 300 ms waiting for missing SEQ 2"
        assert err(replies[1]) == "SEQGAP producer 'p' SEQ 3 timed out after 300 ms waiting for missing SEQ 2"
        assert replies[2] == 1
        assert [e[0] for e in entries(other, "s")] == [first]
        info = producer_info(other, "s", "p")
        assert info[b"last-seq"] == 1 and info[b"waiting"] == 0
        # Nothing after the gap committed out of order: resend from the missing SEQ.
        results = c.pipeline([produce("s", "p", s) for s in (3, 4, 2)])
        assert all(isinstance(r, bytes) for r in results)
        assert seqs_of(other, "s") == [1, 2, 3, 4]


def test_queue_bounds(start_server):
    srv = start_server(producer_queue_max=3, producer_queue_total_max=4)
    with srv.raw() as c, srv.raw() as d:
        c.cmd(*produce("s", "p", 1))
        assert err(c.cmd(*produce("s", "p", 6))) == (
            "SEQGAP producer 'p' SEQ 6 is more than producer-queue-max (3) ahead of missing SEQ 2")
        # Within the bound: parks.
        c.send_command(*produce("s", "p", 4))
        c.send_command(*produce("s", "p", 3))
        d.cmd(*produce("s", "q", 1))
        d.send_command(*produce("s", "q", 3))
        d.send_command(*produce("s", "q", 4))
        # Four appends wait now: the next one anywhere is refused.
        with srv.raw() as e:
            wait_until_waiting(e, "s", "p", 2)
            wait_until_waiting(e, "s", "q", 2)
            assert err(e.cmd(*produce("s", "r", 2))) == (
                "SEQGAP producer 'r' SEQ 2 cannot wait for missing SEQ 1: "
                "producer-queue-total-max (4) appends are already waiting")
            e.cmd(*produce("s", "p", 2))
            e.cmd(*produce("s", "q", 2))
        assert all(isinstance(c.read_reply(), bytes) for _ in range(2))
        assert all(isinstance(d.read_reply(), bytes) for _ in range(2))
        assert [s for s in seqs_of(c, "s")] == [1, 1, 2, 3, 4, 2, 3, 4]


def test_deleting_a_stream_fails_its_parked_appends_and_forgets_its_producers(server, key):
    k = key()
    with server.raw() as a, server.raw() as b:
        b.cmd(*produce(k, "p", 1))
        a.send_command(*produce(k, "p", 3))
        wait_until_waiting(b, k, "p", 1)
        assert b.cmd("DEL", k) == 1
        assert err(a.read_reply()) == "SEQGAP producer 'p' SEQ 3 was waiting when its stream was deleted"
        # The producer starts afresh on the new stream.
        assert isinstance(b.cmd(*produce(k, "p", 1)), bytes)
        assert b.cmd("XLEN", k) == 1
        assert producer_info(b, k, "p")[b"last-seq"] == 1


def test_flushall_forgets_every_producer(start_server):
    srv = start_server()
    with srv.raw() as c:
        for stream in ("a", "b"):
            for s in range(1, 4):
                c.cmd(*produce(stream, "p", s))
        assert c.cmd("FLUSHALL") == b"OK"
    srv.restart()
    with srv.raw() as c:
        assert isinstance(c.cmd(*produce("a", "p", 1)), bytes)
        assert producer_info(c, "a", "p")[b"last-seq"] == 1


def test_idle_producers_expire_but_never_while_entries_wait(start_server):
    srv = start_server(producer_idle_expiry=1, producer_gap_timeout=10000)
    with srv.raw() as c, srv.raw() as waiting:
        first = c.cmd(*produce("s", "p", 1))
        c.cmd(*produce("s", "q", 1))
        waiting.send_command(*produce("s", "q", 3))
        wait_until_waiting(c, "s", "q", 1)
        time.sleep(1.3)
        # p was idle longer than the expiry: forgotten, so SEQ 1 is new again.
        again = c.cmd(*produce("s", "p", 1))
        assert again != first
        # q has an append waiting: kept (it is idle as long), and its gap still fills.
        second = c.cmd(*produce("s", "q", 2))
        third = waiting.read_reply()
        assert parse_id(third) > parse_id(second)
        info = producer_info(c, "s", "q")
        assert info[b"last-seq"] == 3 and info[b"waiting"] == 0


def test_too_many_producers_on_a_stream(start_server):
    srv = start_server(stream_producers_max=2)
    with srv.raw() as c:
        c.cmd(*produce("s", "a", 1))
        c.cmd(*produce("s", "b", 1))
        assert err(c.cmd(*produce("s", "c", 1))) == "ERR too many producers on stream 's' (stream-producers-max is 2)"
        assert c.cmd("XLEN", "s") == 2
        # Known producers go on.
        assert isinstance(c.cmd(*produce("s", "a", 2)), bytes)


# --------------------------------------------------------------------------------------------
# Fencing
# --------------------------------------------------------------------------------------------


def test_a_higher_epoch_fences_older_instances(start_server):
    srv = start_server()
    with srv.raw() as zombie, srv.raw() as successor, srv.raw() as probe:
        zombie.cmd(*produce("s", "p", 1, epoch=1))
        zombie.cmd(*produce("s", "p", 2, epoch=1))
        # The zombie's SEQ 4 waits for 3 ...
        zombie.send_command(*produce("s", "p", 4, epoch=1, token="zombie"))
        wait_until_waiting(probe, "s", "p", 1)
        # ... when the successor claims the producer: the parked append is fenced at once.
        third = successor.cmd(*produce("s", "p", 3, epoch=2))
        assert err(zombie.read_reply()) == "FENCED producer 'p' epoch 1 is fenced by epoch 2"
        assert err(zombie.cmd(*produce("s", "p", 4, epoch=1))) == "FENCED producer 'p' epoch 1 is fenced by epoch 2"
        assert err(zombie.cmd(*produce("s", "p", 4))) == "FENCED producer 'p' epoch 0 is fenced by epoch 2"
        # The successor resends what it cannot know was written: duplicates are caught across epochs.
        assert successor.cmd(*produce("s", "p", 3, epoch=2)) == third
        assert isinstance(successor.cmd(*produce("s", "p", 4, epoch=2)), bytes)
        assert seqs_of(probe, "s") == [1, 2, 3, 4]
        assert producer_info(probe, "s", "p")[b"epoch"] == 2
    srv.kill9()
    srv.start()
    with srv.raw() as c:
        assert err(c.cmd(*produce("s", "p", 5, epoch=1))).startswith("FENCED")
        assert isinstance(c.cmd(*produce("s", "p", 5, epoch=2)), bytes)


def test_a_claim_by_a_duplicate_is_durable(start_server):
    srv = start_server()
    with srv.raw() as c:
        first = c.cmd(*produce("s", "p", 1, epoch=1))
        assert c.cmd(*produce("s", "p", 1, epoch=5)) == first
    srv.kill9()
    srv.start()
    with srv.raw() as c:
        assert err(c.cmd(*produce("s", "p", 2, epoch=4))) == "FENCED producer 'p' epoch 4 is fenced by epoch 5"


# --------------------------------------------------------------------------------------------
# IFLAST
# --------------------------------------------------------------------------------------------


def test_iflast_appends_only_on_the_expected_last_id(server, key):
    k = key()
    with server.raw() as c:
        assert err(c.cmd("XADD", k, "IFLAST", "1-0", "*", "f", "v")) == "IFLAST the stream's last id is 0-0"
        assert c.cmd("EXISTS", k) == 0
        first = c.cmd("XADD", k, "IFLAST", "0-0", "*", "f", "1")
        assert err(c.cmd("XADD", k, "IFLAST", "0-0", "*", "f", "2")) == f"IFLAST the stream's last id is {first.decode()}"
        second = c.cmd("XADD", k, "IFLAST", first, "*", "f", "2")
        # The last id is the last one ever added: XDEL does not move it back.
        c.cmd("XDEL", k, second)
        assert err(c.cmd("XADD", k, "IFLAST", first, "*", "f", "3")).endswith(second.decode())
        assert c.cmd("XADD", k, "IFLAST", second, "*", "f", "3")
        # Missing milliseconds' sequence reads as 0, as in XADD ids.
        k2 = key("explicit")
        c.cmd("XADD", k2, "7-0", "f", "v")
        assert c.cmd("XADD", k2, "IFLAST", "7", "8-0", "f", "v") == b"8-0"


def test_iflast_races_between_two_writers_have_exactly_one_winner(server, key):
    k = key()
    with server.raw() as setup:
        last = setup.cmd("XADD", k, "*", "w", "init")
    for round_number in range(30):
        names = ["a", "b"]
        replies = send_over_connections(
            server.port, [[("XADD", k, "IFLAST", last, "*", "w", n, "round", str(round_number))] for n in names])
        flat = [r[0] for r in replies]
        winners = [r for r in flat if isinstance(r, bytes)]
        losers = [r for r in flat if isinstance(r, ErrorReply)]
        assert len(winners) == 1 and len(losers) == 1, flat
        assert err(losers[0]) == f"IFLAST the stream's last id is {winners[0].decode()}"
        last = winners[0]
    with server.raw() as c:
        assert c.cmd("XLEN", k) == 31


def test_iflast_composes_with_a_producer(server, key):
    k = key()
    with server.raw() as c, server.raw() as other:
        first = c.cmd(*produce(k, "p", 1, "IFLAST", "0-0"))
        interloper = other.cmd("XADD", k, "*", "x", "y")
        assert err(c.cmd(*produce(k, "p", 2, "IFLAST", first))) == f"IFLAST the stream's last id is {interloper.decode()}"
        # The SEQ was not used: the producer retries it with the right expectation.
        second = c.cmd(*produce(k, "p", 2, "IFLAST", interloper))
        assert c.cmd(*produce(k, "p", 2, "IFLAST", "0-0")) == second  # a retry of a committed SEQ wins over IFLAST
        # A parked append checks IFLAST when its turn comes.
        c.send_command(*produce(k, "p", 4, "IFLAST", "1-1"))
        third = other.cmd(*produce(k, "p", 3))
        assert err(c.read_reply()) == f"IFLAST the stream's last id is {third.decode()}"
        assert producer_info(other, k, "p")[b"last-seq"] == 3


# --------------------------------------------------------------------------------------------
# IFVERSION
# --------------------------------------------------------------------------------------------


def test_ifversion_appends_only_at_the_expected_entries_added(server, key):
    k = key()
    with server.raw() as c:
        assert err(c.cmd("XADD", k, "IFVERSION", "1", "*", "f", "v")) == "IFVERSION the stream's version is 0"
        assert c.cmd("EXISTS", k) == 0
        first = c.cmd("XADD", k, "IFVERSION", "0", "*", "e", "created")
        assert err(c.cmd("XADD", k, "IFVERSION", "0", "*", "e", "again")) == "IFVERSION the stream's version is 1"
        c.cmd("XADD", k, "IFVERSION", "1", "*", "e", "paid")
        # The version is entries-added: XDEL and trimming do not lower it.
        c.cmd("XDEL", k, first)
        c.cmd("XTRIM", k, "MAXLEN", "0")
        assert c.cmd("XLEN", k) == 0
        assert err(c.cmd("XADD", k, "IFVERSION", "0", "*", "e", "x")) == "IFVERSION the stream's version is 2"
        assert c.cmd("XADD", k, "IFVERSION", "2", "*", "e", "shipped")
        info = dict(pairs(c.cmd("XINFO", "STREAM", k)))
        assert info[b"entries-added"] == 3
        # With IFLAST both must hold; IFLAST is checked first.
        last = info[b"last-generated-id"]
        assert err(c.cmd("XADD", k, "IFLAST", "1-1", "IFVERSION", "9", "*", "f", "v")).startswith("IFLAST ")
        assert err(c.cmd("XADD", k, "IFLAST", last, "IFVERSION", "9", "*", "f", "v")) == "IFVERSION the stream's version is 3"
        assert c.cmd("XADD", k, "IFLAST", last, "IFVERSION", "3", "*", "f", "v")
        # NOMKSTREAM on a missing stream answers null, as without a condition.
        assert is_nil(c.cmd("XADD", key("none"), "NOMKSTREAM", "IFVERSION", "5", "*", "f", "v"))
        for bad, expected in [
            (["IFVERSION", "-1"], "ERR IFVERSION must be a non-negative integer"),
            (["IFVERSION", "x"], "ERR IFVERSION must be a non-negative integer"),
            (["IFVERSION", "1", "IFVERSION", "1"], "ERR syntax error"),
            (["IDMPAUTO", "p", "IFVERSION", "4"], "ERR IDMP/IDMPAUTO cannot be combined with PRODUCER, IFLAST or IFVERSION"),
        ]:
            assert err(c.cmd("XADD", k, *bad, "*", "f", "v")) == expected
        assert c.cmd("XLEN", k) == 2


def test_ifversion_races_between_two_writers_have_exactly_one_winner(server, key):
    k = key()
    version = 0
    for round_number in range(30):
        replies = send_over_connections(
            server.port,
            [[("XADD", k, "IFVERSION", str(version), "*", "w", n, "round", str(round_number))] for n in ["a", "b"]])
        flat = [r[0] for r in replies]
        winners = [r for r in flat if isinstance(r, bytes)]
        losers = [r for r in flat if isinstance(r, ErrorReply)]
        assert len(winners) == 1 and len(losers) == 1, flat
        version += 1
        assert err(losers[0]) == f"IFVERSION the stream's version is {version}"
    with server.raw() as c:
        assert c.cmd("XLEN", k) == 30


def test_a_failed_ifversion_discards_the_whole_transaction(server, key):
    a, b = key("a"), key("b")
    with server.raw() as c:
        c.cmd("XADD", a, "*", "e", "created")
        c.cmd("MULTI")
        c.cmd("XADD", b, "*", "f", "before")
        c.cmd("XADD", a, "IFVERSION", "0", "*", "e", "late")
        reply = c.cmd("EXEC")
        assert err(reply) == "EXECABORT Transaction discarded: IFVERSION the stream's version is 1"
        assert c.cmd("EXISTS", b) == 0 and c.cmd("XLEN", a) == 1
        c.cmd("MULTI")
        c.cmd("XADD", a, "IFVERSION", "1", "*", "e", "next")
        c.cmd("XADD", b, "*", "f", "with")
        assert all(isinstance(r, bytes) for r in c.cmd("EXEC"))
        assert c.cmd("XLEN", a) == 2 and c.cmd("XLEN", b) == 1


# --------------------------------------------------------------------------------------------
# MULTI / EXEC
# --------------------------------------------------------------------------------------------


def test_a_failed_condition_discards_the_whole_transaction(server, key):
    a, b = key("a"), key("b")
    with server.raw() as c:
        for _ in range(2):
            assert c.cmd("MULTI") == b"OK"
            c.cmd("XADD", b, "*", "f", "before")
            c.cmd("XADD", a, "IFLAST", "0-0", "*", "f", "v")
            c.cmd("XADD", b, "*", "f", "after")
            c.cmd("XLEN", b)
            reply = c.cmd("EXEC")
        # The first EXEC applied, the second found a's last id moved and applied nothing.
        last_a = entries(c, a)[-1][0]
        assert err(reply) == f"EXECABORT Transaction discarded: IFLAST the stream's last id is {last_a.decode()}"
        assert c.cmd("XLEN", a) == 1 and c.cmd("XLEN", b) == 2
        # Other runtime errors keep Redis's rule: that command fails, the rest applies.
        c.cmd("MULTI")
        c.cmd("XADD", a, "IFLAST", last_a, "1-1", "f", "too-small")
        c.cmd("XADD", b, "*", "f", "ok")
        reply = c.cmd("EXEC")
        assert err(reply[0]).startswith("ERR The ID specified in XADD is equal or smaller")
        assert isinstance(reply[1], bytes)


def test_producer_checks_in_a_transaction(server, key):
    k, log = key(), key("log")
    with server.raw() as c:
        c.cmd(*produce(k, "p", 1))
        for failing, expected in [
            (produce(k, "p", 3), "SEQGAP producer 'p' SEQ 3 cannot wait for missing SEQ 2 inside a transaction"),
            (produce(k, "p", 2, epoch=0) + [], None),
        ]:
            c.cmd("MULTI")
            c.cmd("XADD", log, "*", "f", "v")
            c.cmd(*failing)
            reply = c.cmd("EXEC")
            if expected:
                assert err(reply) == "EXECABORT Transaction discarded: " + expected
                assert c.cmd("EXISTS", log) == 0
            else:
                assert isinstance(reply[1], bytes)
        # A transaction that fills a gap resumes the appends waiting for it, after it commits.
        c.send_command(*produce(k, "p", 4))
        with server.raw() as d:
            d.cmd("MULTI")
            d.cmd(*produce(k, "p", 3))
            d.cmd(*produce(k, "p", 3))
            d.cmd("XLEN", k)
            third, retry, length = d.cmd("EXEC")
            assert third == retry and length == 3
        assert isinstance(c.read_reply(), bytes)
        assert seqs_of(c, k) == [1, 2, 3, 4]


def test_redis_py_sees_execabort_and_nothing_applies(r, key):
    k, other = key(), key("other")
    pipe = r.pipeline(transaction=True)
    pipe.execute_command("XADD", k, "IFLAST", "0-0", "*", "f", "1")
    pipe.xadd(other, {"f": "1"})
    first = pipe.execute()
    pipe = r.pipeline(transaction=True)
    pipe.xadd(other, {"f": "2"})
    pipe.execute_command("XADD", k, "IFLAST", "0-0", "*", "f", "2")
    with pytest.raises(redis.exceptions.ExecAbortError, match="IFLAST the stream's last id is"):
        pipe.execute()
    assert r.xlen(k) == 1 and r.xlen(other) == 1
    assert r.xrange(k)[0][0] == first[0]


# --------------------------------------------------------------------------------------------
# kill -9
# --------------------------------------------------------------------------------------------


class PipelinedProducer(threading.Thread):
    """One producer pipelining SEQs 1..total in windows over four connections, each window
    shuffled across them; records every acknowledged SEQ's id and reports progress."""

    def __init__(self, port, stream, seqs, window=400, connections=4, rng=None, may_be_killed=True):
        super().__init__(daemon=True)
        self.may_be_killed = may_be_killed
        self.port, self.stream, self.seqs, self.window = port, stream, seqs, window
        self.connections = connections
        self.rng = rng or random.Random()
        self.acked: Dict[int, bytes] = {}
        self.stale: List[int] = []
        self.errors: List[str] = []
        self.progress = threading.Condition()

    def run(self):
        try:
            conns = [RawConnection(self.port, timeout=30) for _ in range(self.connections)]
        except OSError:
            return
        try:
            for start in range(0, len(self.seqs), self.window):
                window = self.seqs[start:start + self.window]
                self.rng.shuffle(window)
                parts = split(window, self.connections)
                for conn, part in zip(conns, parts):
                    conn.send(b"".join(encode_command(*produce(self.stream, "p", s, token=f"t{s}")) for s in part))
                for conn, part in zip(conns, parts):
                    for s in part:
                        reply = conn.read_reply()
                        if isinstance(reply, bytes):
                            self.acked[s] = reply
                        elif reply.message.startswith("STALESEQ"):
                            self.stale.append(s)
                        else:
                            self.errors.append(reply.message)
                with self.progress:
                    self.progress.notify_all()
        except (ConnectionClosed, ConnectionError, OSError) as exc:
            if not self.may_be_killed:
                self.errors.append(repr(exc))  # a timeout: a reply never came
        finally:
            for conn in conns:
                conn.close()


def test_kill9_during_a_pipelined_producer_then_retries(start_server):
    srv = start_server()
    rng = random.Random(int(os.environ.get("SPOOL_CRASH_SEED", str(time.time_ns()))))
    total = 12_000
    acked: Dict[int, bytes] = {}
    for round_number in range(max(1, CRASH_ROUNDS // 2)):
        stream = f"p{round_number}"
        producer = PipelinedProducer(srv.port, stream, list(range(1, total + 1)), rng=rng)
        target = rng.randint(total // 10, total * 8 // 10)
        producer.start()
        with producer.progress:
            producer.progress.wait_for(lambda: len(producer.acked) >= target or not producer.is_alive(), timeout=60)
        srv.kill9()
        producer.join(30)
        assert not producer.is_alive()
        assert producer.errors == []
        acked = dict(producer.acked)
        assert acked, "nothing acknowledged before the kill"
        srv.start()
        # Retry everything not acknowledged, plus a sample of what was, in shuffled windows.
        retry = sorted(set(range(1, total + 1)) - set(acked) | set(rng.sample(sorted(acked), min(200, len(acked)))))
        again = PipelinedProducer(srv.port, stream, retry, rng=rng, may_be_killed=False)
        again.start()
        again.join(120)
        assert not again.is_alive() and again.errors == []
        for s, entry_id in again.acked.items():
            if s in acked:
                assert entry_id == acked[s], f"SEQ {s}: a retry returned another id"
        with srv.raw(timeout=30) as c:
            stream_entries = entries(c, stream)
            assert seqs_of(c, stream) == list(range(1, total + 1)), "holes, duplicates or reordering"
            tokens = [dict(zip(e[1][::2], e[1][1::2]))[b"tok"] for e in stream_entries]
            assert tokens == [f"t{s}".encode() for s in range(1, total + 1)]
            by_seq = {s: e[0] for s, e in zip(range(1, total + 1), stream_entries)}
            for s, entry_id in {**acked, **again.acked}.items():
                assert by_seq[s] == entry_id, f"SEQ {s}: acknowledged id {entry_id!r} is not in the stream"
            # Every STALESEQ was indeed an entry already committed.
            assert set(again.stale) <= set(range(1, total + 1))
            info = producer_info(c, stream, "p")
            assert info[b"last-seq"] == total and info[b"waiting"] == 0


def test_kill9_never_splits_a_transaction(start_server):
    srv = start_server()
    rng = random.Random(int(os.environ.get("SPOOL_CRASH_SEED", str(time.time_ns()))))
    streams = ("ta", "tb", "tc")
    acked: List[str] = []
    done = threading.Event()

    def writer():
        try:
            with RawConnection(srv.port, timeout=30) as conn:
                n = 0
                while True:
                    batch = []
                    for _ in range(20):
                        token = f"x{n}"
                        n += 1
                        batch.append(token)
                    payload = b""
                    for token in batch:
                        payload += encode_command("MULTI")
                        for s in streams:
                            payload += encode_command("XADD", s, "*", "tok", token)
                        payload += encode_command("EXEC")
                    conn.send(payload)
                    for token in batch:
                        replies = [conn.read_reply() for _ in range(len(streams) + 2)]
                        assert all(isinstance(x, bytes) for x in replies[-1]), replies
                        acked.append(token)
                    if len(acked) >= target:
                        done.set()
        except (ConnectionClosed, ConnectionError, OSError):
            pass

    target = rng.randint(100, 3000)
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    assert done.wait(60)
    srv.kill9()
    thread.join(30)
    srv.start()
    with srv.raw(timeout=30) as c:
        contents = []
        for s in streams:
            contents.append([dict(zip(e[1][::2], e[1][1::2]))[b"tok"].decode() for e in entries(c, s)])
        assert contents[0] == contents[1] == contents[2], "a transaction was split by the crash"
        assert set(acked) <= set(contents[0])


def test_producer_settings_have_their_documented_defaults(server):
    with server.raw() as c:
        got = dict(pairs(c.cmd("CONFIG", "GET", "producer-*")))
        got.update(pairs(c.cmd("CONFIG", "GET", "stream-producers-max")))
    assert got == {
        b"producer-gap-timeout": b"5000",
        b"producer-queue-max": b"10000",
        b"producer-queue-total-max": b"1000000",
        b"producer-seq-window": b"128",
        b"producer-reorder-wait": b"10",
        b"producer-idle-expiry": b"604800",
        b"stream-producers-max": b"10000",
    }


def test_the_shipped_config_file_starts_spoold(start_server):
    config = os.path.join(os.path.dirname(__file__), "..", "..", "Config", "spoold.conf")
    srv = start_server(config=os.path.abspath(config))
    with srv.raw() as c:
        assert c.cmd("CONFIG", "GET", "producer-reorder-wait") == [b"producer-reorder-wait", b"10"]
        assert isinstance(c.cmd(*produce("s", "p", 1)), bytes)


def test_a_full_disk_fails_waiting_appends_and_retries_after_restart_leave_no_holes(start_server, tmp_path):
    """spoold on a 24 MiB tmpfs; one producer pipelines shuffled windows of large entries until
    the disk fills. Every request gets a reply (waiting appends fail with IOERR, none hangs);
    with room made and spoold restarted, resending every unacknowledged SEQ leaves SEQ 1..N in
    order, each acknowledged id where it was."""
    import subprocess

    srv = start_server(start=False)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(srv.data_dir)], check=True)
    try:
        srv.start()
        rng = random.Random(11)
        payload = "x" * 4000

        def big(seq):
            return ["XADD", "s", "PRODUCER", "p", "SEQ", str(seq), "*", "seq", str(seq), "pad", payload]
        acked: Dict[int, bytes] = {}
        failed = False
        total = 0
        with RawConnection(srv.port, timeout=30) as a, RawConnection(srv.port, timeout=30) as b:
            for start in range(1, 40_000, 200):
                window = list(range(start, start + 200))
                rng.shuffle(window)
                parts = split(window, 2)
                for conn, part in zip((a, b), parts):
                    conn.send(b"".join(encode_command(*big(s)) for s in part))
                for conn, part in zip((a, b), parts):
                    for s in part:
                        reply = conn.read_reply()  # a hang here fails the test (30 s timeout)
                        if isinstance(reply, bytes):
                            acked[s] = reply
                        else:
                            assert reply.message.startswith(("IOERR", "SEQGAP", "STALESEQ")), reply.message
                            failed = failed or reply.message.startswith("IOERR")
                total = start + 199
                if failed:
                    break
        assert failed, "the disk never filled"
        assert len(acked) > 100
        srv.kill9()
        subprocess.run(["mount", "-o", "remount,size=512m", str(srv.data_dir)], check=True)
        srv.start()
        retry = [s for s in range(1, total + 1) if s not in acked]
        with RawConnection(srv.port, timeout=30) as c:
            for start in range(0, len(retry), 200):
                chunk = retry[start:start + 200]
                replies = c.pipeline([big(s) for s in chunk])
                for s, reply in zip(chunk, replies):
                    assert isinstance(reply, bytes) or reply.message.startswith("STALESEQ"), reply
            assert seqs_of(c, "s") == list(range(1, total + 1))
            ids = [e[0] for e in entries(c, "s")]
            for s, entry_id in acked.items():
                assert ids[s - 1] == entry_id, f"SEQ {s}: acknowledged id lost"
    finally:
        srv.stop()
        subprocess.run(["umount", "-l", str(srv.data_dir)], check=False)


# Redis 8.6's idempotent appends: XADD IDMP / IDMPAUTO and XCFGSET.


def _xinfo(r, k):
    return r.xinfo_stream(k)


@pytest.mark.spool_only
def test_xadd_idmp_answers_a_resend_with_the_first_id(start_server):
    srv = start_server()
    r = srv.client(protocol=2)
    first = r.xadd("orders", {"item": "book"}, idmp=("billing", b"order-1"))
    again = r.xadd("orders", {"item": "something else"}, idmp=("billing", b"order-1"))
    assert again == first
    assert r.xlen("orders") == 1
    # Another producer's id space is its own.
    other = r.xadd("orders", {"item": "book"}, idmp=("shipping", b"order-1"))
    assert other != first and r.xlen("orders") == 2
    info = _xinfo(r, "orders")
    assert (info["idmp-duration"], info["idmp-maxsize"]) == (100, 100)
    assert (info["pids-tracked"], info["iids-tracked"], info["iids-added"], info["iids-duplicates"]) == (2, 2, 2, 1)
    # Durable like every write: a restart remembers what was appended.
    r.close()
    srv.restart()
    r = srv.client(protocol=2)
    assert r.xadd("orders", {"item": "book"}, idmp=("billing", b"order-1")) == first
    assert r.xlen("orders") == 2
    assert _xinfo(r, "orders")["iids-duplicates"] == 2


@pytest.mark.spool_only
def test_xadd_idmpauto_hashes_the_fields_in_any_order(r2, key):
    k = key()
    first = r2.execute_command("XADD", k, "IDMPAUTO", "p", "*", "a", "1", "b", "2")
    assert r2.execute_command("XADD", k, "IDMPAUTO", "p", "*", "b", "2", "a", "1") == first
    assert r2.execute_command("XADD", k, "IDMPAUTO", "p", "*", "a", "1", "b", "3") != first
    assert r2.execute_command("XADD", k, "IDMPAUTO", "p", "*", "b", "1", "a", "2") != first
    assert r2.xlen(k) == 3


@pytest.mark.spool_only
def test_idmp_keeps_at_most_maxsize_ids_per_producer(r2, key):
    k = key()
    r2.xadd(k, {"f": "v"})
    assert r2.xcfgset(k, idmp_maxsize=2) in (b"OK", "OK", True)
    ids = [r2.xadd(k, {"n": n}, idmp=("p", f"i{n}".encode())) for n in range(3)]
    assert _xinfo(r2, k)["iids-tracked"] == 2
    # i0 was the oldest: forgotten, so sending it again appends.
    assert r2.xadd(k, {"n": 0}, idmp=("p", b"i0")) not in ids
    assert r2.xadd(k, {"n": 2}, idmp=("p", b"i2")) == ids[2]
    # A changed setting forgets every producer (the counters stay); the same value changes nothing.
    before = _xinfo(r2, k)
    r2.xcfgset(k, idmp_maxsize=2)
    assert _xinfo(r2, k)["pids-tracked"] == 1
    r2.xcfgset(k, idmp_duration=50)
    after = _xinfo(r2, k)
    assert (after["pids-tracked"], after["iids-tracked"], after["idmp-duration"]) == (0, 0, 50)
    assert after["iids-added"] == before["iids-added"] and after["iids-duplicates"] == before["iids-duplicates"]


@pytest.mark.spool_only
def test_idmp_forgets_ids_older_than_the_duration(r2, key):
    k = key()
    r2.xadd(k, {"f": "v"})
    r2.xcfgset(k, idmp_duration=1)
    first = r2.xadd(k, {"f": "v"}, idmp=("p", b"once"))
    assert r2.xadd(k, {"f": "v"}, idmp=("p", b"once")) == first
    wait_until(lambda: _xinfo(r2, k)["iids-tracked"] == 0, timeout=10, what="the idempotent id to expire")
    assert r2.xadd(k, {"f": "v"}, idmp=("p", b"once")) != first


@pytest.mark.spool_only
def test_idmp_and_xcfgset_errors(r2, key):
    k = key()

    def error(*args):
        with pytest.raises(redis.ResponseError) as info:
            r2.execute_command(*args)
        return str(info.value)

    assert error("XADD", k, "IDMP", "p", "i", "1-1", "f", "v") == \
        "syntax error, IDMP/IDMPAUTO can be used only with auto-generated IDs"
    assert error("XADD", k, "IDMP", "p", "i", "IDMPAUTO", "p", "*", "f", "v") == \
        "syntax error, IDMP/IDMPAUTO specified multiple times"
    assert error("XADD", k, "IDMP", "", "i", "*", "f", "v") == "syntax error, IDMP requires a non-empty producer ID"
    assert error("XADD", k, "IDMPAUTO", "", "*", "f", "v") == "syntax error, IDMPAUTO requires a non-empty producer ID"
    assert error("XADD", k, "IDMP", "p", "", "*", "f", "v") == "syntax error, IDMP requires a non-empty idempotent ID"
    assert error("XADD", k, "IDMP", "p", "i", "PRODUCER", "q", "SEQ", 1, "*", "f", "v") == \
        "IDMP/IDMPAUTO cannot be combined with PRODUCER, IFLAST or IFVERSION"
    assert r2.exists(k) == 0
    assert error("XCFGSET", k, "IDMP-DURATION", 5) == "no such key"
    r2.xadd(k, {"f": "v"})
    assert error("XCFGSET", k) == "At least one parameter must be specified"
    assert error("XCFGSET", k, "IDMP-DURATION", 0) == "IDMP-DURATION must be between 1 and 86400 seconds"
    assert error("XCFGSET", k, "IDMP-MAXSIZE", 10001) == "IDMP-MAXSIZE must be between 1 and 10000 entries"
    assert error("XCFGSET", k, "IDMP-MAXSIZE", "x") == "value is not an integer or out of range"
    assert error("XCFGSET", k, "IDMP-MAXSIZE", 5, "IDMP-MAXSIZE", 6) == "IDMP-MAXSIZE specified multiple times"
    assert error("XCFGSET", k, "IDMP-MAXSIZE") == "syntax error"
    assert error("XCFGSET", k, "NOPE", 1) == "syntax error"


@pytest.mark.spool_only
def test_new_streams_take_the_configured_idmp_settings(start_server):
    srv = start_server(stream_idmp_duration=250, stream_idmp_maxsize=7)
    r = srv.client(protocol=2)
    r.xadd("first", {"f": "v"})
    assert (_xinfo(r, "first")["idmp-duration"], _xinfo(r, "first")["idmp-maxsize"]) == (250, 7)
    assert r.config_set("stream-idmp-maxsize", 9)
    r.xadd("second", {"f": "v"})
    # Streams keep what they started with; only new ones follow the configuration.
    assert _xinfo(r, "first")["idmp-maxsize"] == 7 and _xinfo(r, "second")["idmp-maxsize"] == 9
    assert r.config_get("stream-idmp-duration") == {"stream-idmp-duration": "250"}
    with pytest.raises(redis.ResponseError):
        r.config_set("stream-idmp-duration", 0)
    r.close()
    srv.restart()
    r = srv.client(protocol=2)
    assert _xinfo(r, "first")["idmp-maxsize"] == 7
