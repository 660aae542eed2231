"""Stream commands: XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM, XREAD (non-blocking), XSETID,
XINFO STREAM. Expected values are Redis 7.x behaviour; where Redis 7.4 differs from the local
7.0 the assertion is guarded by `server.is_spool`."""

from __future__ import annotations

import time

import pytest
import redis

from helpers import (
    NULL,
    NULL_ARRAY,
    NULL_BULK,
    ErrorReply,
    Map,
    Status,
    ids_of,
    is_nil,
    norm_xread,
    pairs,
    parse_id,
    parse_info,
    version_tuple,
    xinfo_stream_keys,
)

INVALID_ID = "ERR Invalid stream ID specified as stream command argument"
XADD_SMALLER = "ERR The ID specified in XADD is equal or smaller than the target stream top item"
XADD_ZERO = "ERR The ID specified in XADD must be greater than 0-0"
XADD_ARITY = "ERR wrong number of arguments for 'xadd' command"
EXHAUSTED = "ERR The stream has exhausted the last possible ID, unable to add more items"
NOT_INTEGER = "ERR value is not an integer or out of range"
LIMIT_WITHOUT_TILDE = "ERR syntax error, LIMIT cannot be used without the special ~ option"
MAXLEN_NEGATIVE = "ERR The MAXLEN argument must be >= 0."
# Redis 7.2 changed this wording (7.4 keeps the 7.2 text); the local redis-server is 7.0.
UNBALANCED_XREAD_7_0 = "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."
UNBALANCED_XREAD_7_4 = "ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified."

def server_version(conn):
    return version_tuple(parse_info(conn.cmd("INFO", "server"))["server"]["redis_version"])


def err(reply) -> str:
    assert isinstance(reply, ErrorReply), f"expected an error reply, got {reply!r}"
    return reply.message


def xinfo(conn, k) -> dict:
    reply = conn.cmd("XINFO", "STREAM", k)
    assert not isinstance(reply, ErrorReply), reply
    return dict(pairs(reply))


def fill(conn, k, n, start_ms=1, field=b"i"):
    """Adds entries <start_ms+j>-1 with field i=j, pipelined; returns their ids."""
    cmds = [("XADD", k, f"{start_ms + j}-1", field, str(j)) for j in range(n)]
    replies = conn.pipeline(cmds)
    for reply in replies:
        assert not isinstance(reply, ErrorReply), reply
    return [bytes(x) for x in replies]


def range_ids(conn, k, start="-", end="+", *extra):
    return ids_of(conn.cmd("XRANGE", k, start, end, *extra))


# ============================================================================================
# XADD
# ============================================================================================


def test_xadd_auto_id_uses_the_clock(r, key):
    before = int(time.time() * 1000)
    entry_id = r.xadd(key(), {"f": "v"})
    after = int(time.time() * 1000)
    ms, seq = parse_id(entry_id)
    assert before - 2000 <= ms <= after + 2000
    assert seq >= 0


def test_xadd_auto_ids_strictly_increase(raw2, key):
    k = key()
    replies = raw2.pipeline([("XADD", k, "*", "n", str(i)) for i in range(300)])
    ids = [parse_id(x) for x in replies]
    assert all(a < b for a, b in zip(ids, ids[1:]))
    assert raw2.cmd("XLEN", k) == 300


def test_xadd_reply_is_a_bulk_string(raw, key):
    reply = raw.cmd("XADD", key(), "1-1", "f", "v")
    assert reply == b"1-1"
    assert isinstance(reply, bytes) and not isinstance(reply, Status)


def test_xadd_explicit_and_partial_ids(raw2, key):
    k = key()
    assert raw2.cmd("XADD", k, "5-1", "f", "v") == b"5-1"
    assert raw2.cmd("XADD", k, "5-*", "f", "v") == b"5-2"
    assert raw2.cmd("XADD", k, "5-*", "f", "v") == b"5-3"
    assert raw2.cmd("XADD", k, "7-*", "f", "v") == b"7-0"
    assert raw2.cmd("XADD", k, "8", "f", "v") == b"8-0"  # a bare ms means <ms>-0
    assert raw2.cmd("XADD", k, "9-18446744073709551615", "f", "v") == b"9-18446744073709551615"
    assert raw2.cmd("XADD", k, "10-0", "f", "v") == b"10-0"
    # An auto id after explicit ones that are in the past still increases.
    auto = parse_id(raw2.cmd("XADD", k, "*", "f", "v"))
    assert auto > (10, 0)
    assert range_ids(raw2, k) == [b"5-1", b"5-2", b"5-3", b"7-0", b"8-0", b"9-18446744073709551615", b"10-0", b"%d-%d" % auto]


def test_xadd_zero_seq_star_on_new_stream(raw2, key):
    assert raw2.cmd("XADD", key(), "0-*", "f", "v") == b"0-1"


def test_xadd_future_top_id_keeps_auto_ids_increasing(raw2, key):
    k = key()
    future = int(time.time() * 1000) + 10_000_000
    assert raw2.cmd("XADD", k, f"{future}-5", "f", "v") == f"{future}-5".encode()
    assert raw2.cmd("XADD", k, "*", "f", "v") == f"{future}-6".encode()


def test_xadd_id_errors(raw2, key):
    k = key()
    assert raw2.cmd("XADD", k, "123-456", "f", "v") == b"123-456"
    assert err(raw2.cmd("XADD", k, "123-456", "f", "v")) == XADD_SMALLER
    assert err(raw2.cmd("XADD", k, "123-455", "f", "v")) == XADD_SMALLER
    assert err(raw2.cmd("XADD", k, "100-999", "f", "v")) == XADD_SMALLER
    assert err(raw2.cmd("XADD", k, "42-*", "f", "v")) == XADD_SMALLER
    assert err(raw2.cmd("XADD", key("other"), "0-0", "f", "v")) == XADD_ZERO
    assert err(raw2.cmd("XADD", key("other"), "0", "f", "v")) == XADD_ZERO
    for bad in ("abc", "1-", "-1", "1-2-3", "18446744073709551616-0", "1-18446744073709551616", "1-x", "", "-", "+", "$"):
        assert err(raw2.cmd("XADD", k, bad, "f", "v")) == INVALID_ID, bad
    assert raw2.cmd("XLEN", k) == 1
    assert raw2.cmd("EXISTS", key("other")) == 0


def test_xadd_sequence_overflow_is_refused(raw2, key):
    k = key()
    assert raw2.cmd("XADD", k, "1-18446744073709551615", "a", "b") == b"1-18446744073709551615"
    # Redis 7.0 and 7.4 word this differently; both are ERR errors.
    assert err(raw2.cmd("XADD", k, "1-*", "c", "d")).startswith("ERR ")
    assert raw2.cmd("XLEN", k) == 1


def test_xadd_exhausted_id_space(raw2, key):
    k = key()
    top = "18446744073709551615-18446744073709551615"
    assert raw2.cmd("XADD", k, top, "f", "v") == top.encode()
    assert err(raw2.cmd("XADD", k, "*", "f", "v")) == EXHAUSTED
    assert err(raw2.cmd("XADD", k, "18446744073709551615-*", "f", "v")).startswith("ERR ")
    assert raw2.cmd("XLEN", k) == 1


def test_xadd_argument_count_errors(raw2, key):
    k = key()
    assert err(raw2.cmd("XADD", k, "*")) == XADD_ARITY
    assert err(raw2.cmd("XADD", k, "*", "f")) == XADD_ARITY
    assert err(raw2.cmd("XADD", k, "*", "f", "v", "g")) == XADD_ARITY
    assert err(raw2.cmd("XADD", k)) == XADD_ARITY
    assert raw2.cmd("EXISTS", k) == 0


def test_xadd_values_are_binary_safe(raw, key):
    k = key()
    fields = [b"", b"empty-field-name", b"nul", b"a\x00b", b"crlf", b"x\r\ny\r\n", b"high", bytes(range(256))]
    assert raw.cmd("XADD", k, "1-1", *fields) == b"1-1"
    assert raw.cmd("XRANGE", k, "-", "+") == [[b"1-1", fields]]


def test_xadd_duplicate_field_names_are_kept_in_order(raw2, key):
    k = key()
    raw2.cmd("XADD", k, "1-1", "a", "1", "b", "2", "a", "3")
    assert raw2.cmd("XRANGE", k, "-", "+") == [[b"1-1", [b"a", b"1", b"b", b"2", b"a", b"3"]]]


def test_xadd_many_fields_and_large_values(raw2, key):
    k = key()
    fields = []
    for i in range(500):
        fields += [f"field{i}".encode(), f"value{i}".encode() * 3]
    big = bytes(i % 251 for i in range(300_000))
    raw2.cmd("XADD", k, "1-1", *fields)
    raw2.cmd("XADD", k, "2-1", "big", big)
    entries = raw2.cmd("XRANGE", k, "-", "+")
    assert entries[0] == [b"1-1", fields]
    assert entries[1] == [b"2-1", [b"big", big]]


def test_xadd_nomkstream(raw, key):
    k = key()
    reply = raw.cmd("XADD", k, "NOMKSTREAM", "*", "f", "v")
    assert reply is (NULL if raw.protocol == 3 else NULL_BULK)
    assert raw.cmd("EXISTS", k) == 0
    raw.cmd("XADD", k, "1-1", "f", "v")
    assert raw.cmd("XADD", k, "NOMKSTREAM", "2-1", "f", "v") == b"2-1"
    assert raw.cmd("XLEN", k) == 2


def test_xadd_maxlen_exact(raw2, key):
    k = key()
    for i in range(1, 21):
        raw2.cmd("XADD", k, "MAXLEN", "5", f"{i}-1", "i", str(i))
    assert range_ids(raw2, k) == [f"{i}-1".encode() for i in range(16, 21)]
    raw2.cmd("XADD", k, "MAXLEN", "=", "2", "21-1", "i", "21")
    assert range_ids(raw2, k) == [b"20-1", b"21-1"]
    info = xinfo(raw2, k)
    assert info[b"entries-added"] == 21
    assert info[b"length"] == 2


def test_xadd_maxlen_zero_adds_then_trims(raw2, key):
    k = key()
    assert raw2.cmd("XADD", k, "MAXLEN", "0", "7-7", "f", "v") == b"7-7"
    assert raw2.cmd("XLEN", k) == 0
    info = xinfo(raw2, k)
    assert info[b"last-generated-id"] == b"7-7"
    assert info[b"entries-added"] == 1
    assert err(raw2.cmd("XADD", k, "7-7", "f", "v")) == XADD_SMALLER


def check_approximate_trim(before_ids, after_ids, removed, floor):
    """An approximate trim removes a prefix, keeps at least `floor` entries and reports what it removed."""
    assert len(after_ids) >= min(floor, len(before_ids))
    assert len(after_ids) <= len(before_ids)
    assert after_ids == before_ids[len(before_ids) - len(after_ids):]
    assert removed == len(before_ids) - len(after_ids)


def test_xadd_maxlen_approximate(raw2, key):
    k = key()
    ids = fill(raw2, k, 300)
    new_id = raw2.cmd("XADD", k, "MAXLEN", "~", "50", "1000-1", "f", "v")
    assert new_id == b"1000-1"
    after = range_ids(raw2, k)
    assert after[-1] == b"1000-1"
    check_approximate_trim(ids + [b"1000-1"], after, 301 - len(after), 50)


def test_xadd_minid(raw2, key):
    k = key()
    fill(raw2, k, 10)  # 1-1 .. 10-1
    raw2.cmd("XADD", k, "MINID", "5", "11-1", "f", "v")
    assert range_ids(raw2, k) == [f"{i}-1".encode() for i in range(5, 12)]
    raw2.cmd("XADD", k, "MINID", "=", "8-1", "12-1", "f", "v")
    assert range_ids(raw2, k) == [f"{i}-1".encode() for i in range(8, 13)]
    # MINID above the new entry's id trims the new entry too.
    raw2.cmd("XADD", k, "MINID", "100", "13-1", "f", "v")
    assert raw2.cmd("XLEN", k) == 0
    assert xinfo(raw2, k)[b"last-generated-id"] == b"13-1"


def test_xadd_minid_approximate_and_limit(raw2, key):
    k = key()
    ids = fill(raw2, k, 300)
    raw2.cmd("XADD", k, "MINID", "~", "250", "LIMIT", "120", "1000-1", "f", "v")
    after = range_ids(raw2, k)
    before = ids + [b"1000-1"]
    removed = len(before) - len(after)
    assert 0 <= removed <= 120
    check_approximate_trim(before, after, removed, 0)
    # Never removes an entry at or above MINID.
    assert set(before[249:]) <= set(after)


def test_xadd_trim_argument_errors(raw2, key):
    k = key()
    raw2.cmd("XADD", k, "1-1", "f", "v")
    assert err(raw2.cmd("XADD", k, "MAXLEN", "-1", "*", "f", "v")) == MAXLEN_NEGATIVE
    assert err(raw2.cmd("XADD", k, "MAXLEN", "abc", "*", "f", "v")) == NOT_INTEGER
    assert err(raw2.cmd("XADD", k, "MINID", "abc", "*", "f", "v")) == INVALID_ID
    assert err(raw2.cmd("XADD", k, "MAXLEN", "5", "LIMIT", "10", "*", "f", "v")) == LIMIT_WITHOUT_TILDE
    assert err(raw2.cmd("XADD", k, "MAXLEN", "=", "5", "LIMIT", "10", "*", "f", "v")) == LIMIT_WITHOUT_TILDE
    assert err(raw2.cmd("XADD", k, "MAXLEN", "~", "5", "LIMIT", "-1", "*", "f", "v")) == "ERR The LIMIT argument must be >= 0."
    assert err(raw2.cmd("XADD", k, "MAXLEN", "~", "5", "LIMIT", "x", "*", "f", "v")) == NOT_INTEGER
    assert raw2.cmd("XLEN", k) == 1


def test_xadd_through_redis_py(r, key):
    k = key()
    assert r.xadd(k, {"a": "1"}, id="1-1") == b"1-1"
    for i in range(2, 12):
        r.xadd(k, {"i": str(i)}, id=f"{i}-1", maxlen=5, approximate=False)
    assert r.xlen(k) == 5
    r.xadd(k, {"i": "m"}, id="12-1", minid="10-1", approximate=False)
    assert [e[0] for e in r.xrange(k)] == [b"10-1", b"11-1", b"12-1"]
    assert r.xadd(key("none"), {"a": "1"}, nomkstream=True) is None
    r.xadd(k, {"x": "y"}, maxlen=2, approximate=True, limit=10)
    assert 2 <= r.xlen(k) <= 4
    with pytest.raises(redis.ResponseError, match="equal or smaller"):
        r.xadd(k, {"a": "1"}, id="1-1")


# ============================================================================================
# XRANGE / XREVRANGE
# ============================================================================================


@pytest.fixture
def ten(server, key):
    """Stream with entries 1-1 .. 10-1 (field i=0..9) plus 10-2 and 10-3."""
    k = key("ten")
    with server.raw() as c:
        fill(c, k, 10)
        c.cmd("XADD", k, "10-2", "i", "x")
        c.cmd("XADD", k, "10-3", "i", "y")
    return k


ALL_TEN = [f"{i}-1".encode() for i in range(1, 11)] + [b"10-2", b"10-3"]


def test_xrange_full_and_count(raw2, ten):
    assert range_ids(raw2, ten) == ALL_TEN
    assert range_ids(raw2, ten, "-", "+", "COUNT", "3") == ALL_TEN[:3]
    assert range_ids(raw2, ten, "-", "+", "COUNT", "100") == ALL_TEN
    assert range_ids(raw2, ten, "-", "+", "count", "1") == ALL_TEN[:1]
    assert range_ids(raw2, ten, "0", "18446744073709551615") == ALL_TEN
    assert range_ids(raw2, ten, "0-0", "18446744073709551615-18446744073709551615") == ALL_TEN


def test_xrange_entry_shape(raw, ten):
    entries = raw.cmd("XRANGE", ten, "-", "+", "COUNT", "2")
    assert entries == [[b"1-1", [b"i", b"0"]], [b"2-1", [b"i", b"1"]]]
    assert isinstance(entries[0][1], list)  # fields are a flat array, in RESP3 too


def test_xrange_inclusive_and_incomplete_ids(raw2, ten):
    assert range_ids(raw2, ten, "3-1", "5-1") == [b"3-1", b"4-1", b"5-1"]
    # A bare ms means <ms>-0 as a start and <ms>-<max> as an end.
    assert range_ids(raw2, ten, "10", "10") == [b"10-1", b"10-2", b"10-3"]
    assert range_ids(raw2, ten, "3", "4") == [b"3-1", b"4-1"]
    assert range_ids(raw2, ten, "-", "2") == [b"1-1", b"2-1"]
    assert range_ids(raw2, ten, "10-2", "+") == [b"10-2", b"10-3"]


def test_xrange_exclusive_ids(raw2, ten):
    assert range_ids(raw2, ten, "(3-1", "5-1") == [b"4-1", b"5-1"]
    assert range_ids(raw2, ten, "3-1", "(5-1") == [b"3-1", b"4-1"]
    assert range_ids(raw2, ten, "(3-1", "(5-1") == [b"4-1"]
    assert range_ids(raw2, ten, "(10-1", "+") == [b"10-2", b"10-3"]
    assert range_ids(raw2, ten, "(9-1", "(10-3") == [b"10-1", b"10-2"]
    assert range_ids(raw2, ten, "(5-1", "(5-2") == []


def test_xrange_paging_with_exclusive_start(raw2, key):
    k = key()
    ids = fill(raw2, k, 103)
    seen = []
    start = "-"
    for _ in range(50):
        page = range_ids(raw2, k, start, "+", "COUNT", "7")
        if not page:
            break
        seen += page
        start = b"(" + page[-1]
    assert seen == ids


def test_xrange_empty_results(raw, ten, key):
    assert raw.cmd("XRANGE", ten, "5-1", "3-1") == []
    assert raw.cmd("XRANGE", ten, "11", "+") == []
    assert raw.cmd("XRANGE", key("missing"), "-", "+") == []
    assert raw.cmd("XREVRANGE", key("missing"), "+", "-") == []
    assert raw.cmd("XRANGE", ten, "+", "-") == []


def test_xrange_count_zero_or_negative_is_null(raw, ten):
    for count in ("0", "-1"):
        reply = raw.cmd("XRANGE", ten, "-", "+", "COUNT", count)
        assert reply is (NULL if raw.protocol == 3 else NULL_ARRAY), reply


def test_xrange_errors(raw2, ten):
    for bad in ("abc", "1-", "1-x", "-1", "18446744073709551616"):
        assert err(raw2.cmd("XRANGE", ten, bad, "+")) == INVALID_ID, bad
        assert err(raw2.cmd("XRANGE", ten, "-", bad)) == INVALID_ID, bad
    assert err(raw2.cmd("XRANGE", ten, "(-", "+")) == INVALID_ID
    assert err(raw2.cmd("XRANGE", ten, "-", "(+")) == INVALID_ID
    assert err(raw2.cmd("XRANGE", ten, "(18446744073709551615-18446744073709551615", "+")) == (
        "ERR invalid start ID for the interval"
    )
    assert err(raw2.cmd("XRANGE", ten, "-", "(0-0")) == "ERR invalid end ID for the interval"
    assert err(raw2.cmd("XRANGE", ten, "-", "+", "COUNT")) == "ERR syntax error"
    assert err(raw2.cmd("XRANGE", ten, "-", "+", "LIMIT", "1")) == "ERR syntax error"
    assert err(raw2.cmd("XRANGE", ten, "-", "+", "COUNT", "x")) == NOT_INTEGER
    assert err(raw2.cmd("XRANGE", ten, "-")) == "ERR wrong number of arguments for 'xrange' command"
    assert err(raw2.cmd("XREVRANGE", ten, "+")) == "ERR wrong number of arguments for 'xrevrange' command"
    assert err(raw2.cmd("XREVRANGE", ten, "abc", "-")) == INVALID_ID


def test_xrevrange(raw2, ten):
    rev = list(reversed(ALL_TEN))
    assert ids_of(raw2.cmd("XREVRANGE", ten, "+", "-")) == rev
    assert ids_of(raw2.cmd("XREVRANGE", ten, "+", "-", "COUNT", "2")) == [b"10-3", b"10-2"]
    assert ids_of(raw2.cmd("XREVRANGE", ten, "5-1", "3-1")) == [b"5-1", b"4-1", b"3-1"]
    assert ids_of(raw2.cmd("XREVRANGE", ten, "(5-1", "(3-1")) == [b"4-1"]
    assert ids_of(raw2.cmd("XREVRANGE", ten, "10", "10")) == [b"10-3", b"10-2", b"10-1"]
    assert raw2.cmd("XREVRANGE", ten, "3-1", "5-1") == []
    # Paging backwards.
    seen, end = [], "+"
    for _ in range(20):
        page = ids_of(raw2.cmd("XREVRANGE", ten, end, "-", "COUNT", "5"))
        if not page:
            break
        seen += page
        end = b"(" + page[-1]
    assert seen == rev


def test_xrange_skips_deleted_entries(raw2, ten):
    assert raw2.cmd("XDEL", ten, "2-1", "10-2", "5-1") == 3
    expected = [x for x in ALL_TEN if x not in (b"2-1", b"10-2", b"5-1")]
    assert range_ids(raw2, ten) == expected
    assert ids_of(raw2.cmd("XREVRANGE", ten, "+", "-")) == list(reversed(expected))
    assert range_ids(raw2, ten, "-", "+", "COUNT", "2") == [b"1-1", b"3-1"]


def test_xrange_through_redis_py(r, ten):
    entries = r.xrange(ten, min="3-1", max="4-1")
    assert entries == [(b"3-1", {b"i": b"2"}), (b"4-1", {b"i": b"3"})]
    assert [e[0] for e in r.xrevrange(ten, count=2)] == [b"10-3", b"10-2"]
    assert [e[0] for e in r.xrange(ten, min="(9-1", max="+")] == [b"10-1", b"10-2", b"10-3"]


# ============================================================================================
# XLEN / XDEL
# ============================================================================================


def test_xlen(raw2, key):
    k = key()
    assert raw2.cmd("XLEN", k) == 0
    fill(raw2, k, 25)
    assert raw2.cmd("XLEN", k) == 25
    raw2.cmd("XDEL", k, "1-1")
    assert raw2.cmd("XLEN", k) == 24


def test_xdel_counts_deleted_entries(raw2, key):
    k = key()
    fill(raw2, k, 5)
    assert raw2.cmd("XDEL", k, "2-1", "2-1", "9-9", "4-1") == 2
    assert raw2.cmd("XDEL", k, "2-1") == 0
    assert raw2.cmd("XDEL", key("missing"), "1-1") == 0
    assert range_ids(raw2, k) == [b"1-1", b"3-1", b"5-1"]


def test_xdel_errors(raw2, key):
    k = key()
    fill(raw2, k, 2)
    assert err(raw2.cmd("XDEL", k, "abc")) == INVALID_ID
    # One bad id fails the whole command: nothing is deleted.
    assert err(raw2.cmd("XDEL", k, "1-1", "abc")) == INVALID_ID
    assert raw2.cmd("XLEN", k) == 2
    assert err(raw2.cmd("XDEL", k)) == "ERR wrong number of arguments for 'xdel' command"


def test_xdel_of_the_last_entry_keeps_the_last_id(raw2, key):
    k = key()
    fill(raw2, k, 3)
    assert raw2.cmd("XDEL", k, "3-1") == 1
    info = xinfo(raw2, k)
    assert info[b"last-generated-id"] == b"3-1"
    assert info[b"max-deleted-entry-id"] == b"3-1"
    assert info[b"last-entry"] == [b"2-1", [b"i", b"1"]]
    assert err(raw2.cmd("XADD", k, "3-1", "f", "v")) == XADD_SMALLER
    assert raw2.cmd("XADD", k, "3-*", "f", "v") == b"3-2"


def test_xdel_max_deleted_id_only_grows(raw2, key):
    k = key()
    fill(raw2, k, 6)
    raw2.cmd("XDEL", k, "4-1")
    assert xinfo(raw2, k)[b"max-deleted-entry-id"] == b"4-1"
    raw2.cmd("XDEL", k, "2-1")
    assert xinfo(raw2, k)[b"max-deleted-entry-id"] == b"4-1"
    raw2.cmd("XDEL", k, "6-1", "1-1")
    info = xinfo(raw2, k)
    assert info[b"max-deleted-entry-id"] == b"6-1"
    assert info[b"entries-added"] == 6
    assert info[b"length"] == 2
    assert info[b"first-entry"] == [b"3-1", [b"i", b"2"]]
    assert info[b"recorded-first-entry-id"] == b"3-1"


# ============================================================================================
# XTRIM
# ============================================================================================


def test_xtrim_maxlen_exact(raw2, key):
    k = key()
    fill(raw2, k, 20)
    assert raw2.cmd("XTRIM", k, "MAXLEN", "15") == 5
    assert range_ids(raw2, k)[0] == b"6-1"
    assert raw2.cmd("XTRIM", k, "MAXLEN", "=", "10") == 5
    assert raw2.cmd("XLEN", k) == 10
    assert raw2.cmd("XTRIM", k, "MAXLEN", "100") == 0
    assert raw2.cmd("XTRIM", k, "MAXLEN", "0") == 10
    assert raw2.cmd("XLEN", k) == 0
    assert raw2.cmd("EXISTS", k) == 1
    info = xinfo(raw2, k)
    assert info[b"last-generated-id"] == b"20-1"
    assert info[b"entries-added"] == 20
    assert info[b"max-deleted-entry-id"] == b"0-0"  # trimming is not deleting
    assert info[b"first-entry"] is NULL_BULK and info[b"last-entry"] is NULL_BULK


def test_xtrim_minid_exact(raw2, key):
    k = key()
    fill(raw2, k, 20)
    assert raw2.cmd("XTRIM", k, "MINID", "5-1") == 4
    assert range_ids(raw2, k)[0] == b"5-1"
    assert raw2.cmd("XLEN", k) == 16


def test_xtrim_minid_exact_values(raw2, key):
    k = key()
    fill(raw2, k, 20)
    assert raw2.cmd("XTRIM", k, "MINID", "=", "11") == 10
    assert range_ids(raw2, k)[0] == b"11-1"
    assert raw2.cmd("XTRIM", k, "MINID", "0") == 0
    assert raw2.cmd("XTRIM", k, "MINID", "11-1") == 0
    assert raw2.cmd("XTRIM", k, "MINID", "11-2") == 1
    assert raw2.cmd("XTRIM", k, "MINID", "18446744073709551615-18446744073709551615") == 9
    assert raw2.cmd("XLEN", k) == 0


def test_xtrim_approximate(raw2, key):
    k = key()
    ids = fill(raw2, k, 400)
    removed = raw2.cmd("XTRIM", k, "MAXLEN", "~", "150")
    after = range_ids(raw2, k)
    check_approximate_trim(ids, after, removed, 150)
    ids = after
    removed = raw2.cmd("XTRIM", k, "MINID", "~", "350")
    after = range_ids(raw2, k)
    check_approximate_trim(ids, after, removed, 0)
    assert set(x for x in ids if parse_id(x) >= (350, 0)) <= set(after)


def test_xtrim_approximate_with_limit(raw2, key):
    k = key()
    ids = fill(raw2, k, 500)
    removed = raw2.cmd("XTRIM", k, "MAXLEN", "~", "0", "LIMIT", "150")
    assert 0 <= removed <= 150
    after = range_ids(raw2, k)
    check_approximate_trim(ids, after, removed, 0)


def test_xtrim_missing_key_and_errors(raw2, key):
    k = key()
    assert raw2.cmd("XTRIM", key("missing"), "MAXLEN", "0") == 0
    assert raw2.cmd("EXISTS", key("missing")) == 0
    fill(raw2, k, 3)
    assert err(raw2.cmd("XTRIM", k)) == "ERR wrong number of arguments for 'xtrim' command"
    assert err(raw2.cmd("XTRIM", k, "MAXLEN")) == "ERR wrong number of arguments for 'xtrim' command"
    assert err(raw2.cmd("XTRIM", k, "FOO", "1")) == "ERR syntax error"
    assert err(raw2.cmd("XTRIM", k, "MAXLEN", "-1")) == MAXLEN_NEGATIVE
    assert err(raw2.cmd("XTRIM", k, "MAXLEN", "=", "-1")) == MAXLEN_NEGATIVE
    assert err(raw2.cmd("XTRIM", k, "MAXLEN", "x")) == NOT_INTEGER
    assert err(raw2.cmd("XTRIM", k, "MINID", "x")) == INVALID_ID
    assert err(raw2.cmd("XTRIM", k, "MAXLEN", "1", "LIMIT", "5")) == LIMIT_WITHOUT_TILDE
    assert raw2.cmd("XLEN", k) == 3


def test_xtrim_through_redis_py(r, key):
    k = key()
    for i in range(1, 31):
        r.xadd(k, {"i": str(i)}, id=f"{i}-1")
    assert r.xtrim(k, maxlen=20, approximate=False) == 10
    assert r.xtrim(k, minid="25-1", approximate=False) == 14
    assert r.xlen(k) == 6
    removed = r.xtrim(k, maxlen=1, approximate=True, limit=100)
    assert r.xlen(k) == 6 - removed


# ============================================================================================
# XREAD (non-blocking)
# ============================================================================================


def test_xread_single_stream(raw2, ten):
    reply = raw2.cmd("XREAD", "STREAMS", ten, "0")
    assert norm_xread(reply) == [(ten, [(x, [b"i", v]) for x, v in zip(ALL_TEN, [str(i).encode() for i in range(10)] + [b"x", b"y"])])]
    reply = raw2.cmd("XREAD", "COUNT", "2", "STREAMS", ten, "5-1")
    assert [ids_of(e) for _, e in norm_xread(reply)] == [[b"6-1", b"7-1"]]
    # A bare ms is <ms>-0: entries after 10-0.
    reply = raw2.cmd("XREAD", "STREAMS", ten, "10")
    assert [ids_of(e) for _, e in norm_xread(reply)] == [[b"10-1", b"10-2", b"10-3"]]


def test_xread_count_zero_or_negative_means_no_limit(raw2, ten):
    for count in ("0", "-5"):
        reply = raw2.cmd("XREAD", "COUNT", count, "STREAMS", ten, "0")
        assert ids_of(norm_xread(reply)[0][1]) == ALL_TEN


def test_xread_shape_per_protocol(raw, key):
    a, b = key("a"), key("b")
    raw.cmd("XADD", a, "1-1", "f", "v")
    raw.cmd("XADD", b, "2-1", "g", "w")
    reply = raw.cmd("XREAD", "STREAMS", a, b, "0", "0")
    if raw.protocol == 3:
        assert isinstance(reply, Map)
        assert reply.items == [(a, [[b"1-1", [b"f", b"v"]]]), (b, [[b"2-1", [b"g", b"w"]]])]
    else:
        assert reply == [[a, [[b"1-1", [b"f", b"v"]]]], [b, [[b"2-1", [b"g", b"w"]]]]]


def test_xread_several_streams_omits_those_without_data(raw2, key):
    a, b, c = key("a"), key("b"), key("c")
    fill(raw2, a, 3)
    fill(raw2, b, 3)
    reply = norm_xread(raw2.cmd("XREAD", "STREAMS", a, b, c, "2-1", "3-1", "0"))
    assert [(name, ids_of(e)) for name, e in reply] == [(a, [b"3-1"])]
    reply = norm_xread(raw2.cmd("XREAD", "COUNT", "1", "STREAMS", c, b, a, "0", "0", "0"))
    assert [(name, ids_of(e)) for name, e in reply] == [(b, [b"1-1"]), (a, [b"1-1"])]


def test_xread_nothing_new_is_null(raw, key, ten):
    expected_null = NULL if raw.protocol == 3 else NULL_ARRAY
    assert raw.cmd("XREAD", "STREAMS", key("missing"), "0") is expected_null
    assert raw.cmd("XREAD", "STREAMS", ten, "$") is expected_null
    assert raw.cmd("XREAD", "STREAMS", ten, "10-3") is expected_null


def test_xread_errors(raw2, ten, server):
    UNBALANCED_XREAD = UNBALANCED_XREAD_7_4 if server.is_spool else UNBALANCED_XREAD_7_0
    assert err(raw2.cmd("XREAD", "STREAMS", ten)) == "ERR wrong number of arguments for 'xread' command"
    assert err(raw2.cmd("XREAD", "COUNT", "1", "STREAMS", ten)) == UNBALANCED_XREAD
    assert err(raw2.cmd("XREAD", "STREAMS", ten, "other", "0")) == UNBALANCED_XREAD
    assert err(raw2.cmd("XREAD", "STREAMS", ten, "abc")) == INVALID_ID
    assert err(raw2.cmd("XREAD", "FOO", "STREAMS", ten, "0")) == "ERR syntax error"
    assert err(raw2.cmd("XREAD", "COUNT", "x", "STREAMS", ten, "0")) == NOT_INTEGER
    assert err(raw2.cmd("XREAD", "BLOCK", "-1", "STREAMS", ten, "$")) == "ERR timeout is negative"
    assert err(raw2.cmd("XREAD", "BLOCK", "x", "STREAMS", ten, "$")) == "ERR timeout is not an integer or out of range"


def test_xread_through_redis_py(r, ten, key):
    got = norm_xread(r.xread({ten: "8-1"}))
    assert [(n, ids_of(e)) for n, e in got] == [(ten, [b"9-1", b"10-1", b"10-2", b"10-3"])]
    got = norm_xread(r.xread({ten: 0, key("missing"): 0}, count=1))
    assert got == [(ten, [(b"1-1", [b"i", b"0"])])]
    assert norm_xread(r.xread({key("missing"): 0})) == []


@pytest.mark.spool_only
def test_xread_plus_returns_the_last_entry(raw, key, ten):
    """Redis 7.4: `+` as XREAD id means the last entry of the stream."""
    empty = key("empty")
    raw.cmd("XADD", empty, "MAXLEN", "0", "1-1", "f", "v")
    reply = norm_xread(raw.cmd("XREAD", "STREAMS", ten, key("missing"), empty, "+", "+", "+"))
    assert reply == [(ten, [(b"10-3", [b"i", b"y"])])]
    reply = norm_xread(raw.cmd("XREAD", "COUNT", "5", "STREAMS", ten, "+"))
    assert reply == [(ten, [(b"10-3", [b"i", b"y"])])]
    raw.cmd("XADD", ten, "11-1", "i", "z")
    reply = norm_xread(raw.cmd("XREAD", "STREAMS", ten, "+"))
    assert reply == [(ten, [(b"11-1", [b"i", b"z"])])]


# ============================================================================================
# XSETID
# ============================================================================================


def test_xsetid_moves_the_last_id(raw2, key):
    k = key()
    fill(raw2, k, 3)
    assert raw2.cmd("XSETID", k, "100-5") == b"OK"
    info = xinfo(raw2, k)
    assert info[b"last-generated-id"] == b"100-5"
    assert info[b"entries-added"] == 3
    assert err(raw2.cmd("XADD", k, "100-5", "f", "v")) == XADD_SMALLER
    assert raw2.cmd("XADD", k, "100-*", "f", "v") == b"100-6"
    # Setting it to the top entry itself is allowed.
    assert raw2.cmd("XSETID", k, "100-6") == b"OK"


def test_xsetid_with_future_id_drives_auto_ids(raw2, key):
    k = key()
    raw2.cmd("XADD", k, "1-1", "f", "v")
    future = int(time.time() * 1000) + 50_000_000
    assert raw2.cmd("XSETID", k, f"{future}-9") == b"OK"
    assert raw2.cmd("XADD", k, "*", "f", "v") == f"{future}-10".encode()


def test_xsetid_entries_added_and_max_deleted_id(raw2, key):
    k = key()
    fill(raw2, k, 3)
    assert raw2.cmd("XSETID", k, "50-0", "ENTRIESADDED", "42", "MAXDELETEDID", "40-1") == b"OK"
    info = xinfo(raw2, k)
    assert info[b"last-generated-id"] == b"50-0"
    assert info[b"entries-added"] == 42
    assert info[b"max-deleted-entry-id"] == b"40-1"
    raw2.cmd("XADD", k, "51-0", "f", "v")
    assert xinfo(raw2, k)[b"entries-added"] == 43


def test_xsetid_errors(raw2, key):
    k = key()
    fill(raw2, k, 6)  # top entry 6-1
    assert err(raw2.cmd("XSETID", key("missing"), "1-1")) == "ERR no such key"
    assert err(raw2.cmd("XSETID", k, "5-0")) == (
        "ERR The ID specified in XSETID is smaller than the target stream top item"
    )
    assert err(raw2.cmd("XSETID", k, "7-0", "ENTRIESADDED", "5")) == (
        "ERR The entries_added specified in XSETID is smaller than the target stream length"
    )
    assert err(raw2.cmd("XSETID", k, "7-0", "ENTRIESADDED", "-1")) == "ERR entries_added must be positive"
    assert err(raw2.cmd("XSETID", k, "7-0", "ENTRIESADDED", "10", "MAXDELETEDID", "8-0")) == (
        "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"
    )
    assert err(raw2.cmd("XSETID", k, "abc")) == INVALID_ID
    assert err(raw2.cmd("XSETID", k)) == "ERR wrong number of arguments for 'xsetid' command"
    assert err(raw2.cmd("XSETID", k, "7-0", "ENTRIESADDED")) == "ERR syntax error"
    assert err(raw2.cmd("XSETID", k, "7-0", "FOO", "1")) == "ERR syntax error"
    info = xinfo(raw2, k)
    assert info[b"last-generated-id"] == b"6-1"
    assert info[b"entries-added"] == 6


def test_xsetid_through_redis_py(r, key):
    k = key()
    r.xadd(k, {"f": "v"}, id="1-1")
    # redis-py has no xsetid() helper; applications use execute_command.
    reply = r.execute_command("XSETID", k, "9-9", "ENTRIESADDED", 7, "MAXDELETEDID", "5-5")
    assert reply in (b"OK", "OK", True)
    info = r.xinfo_stream(k)
    assert info["last-generated-id"] == b"9-9"
    assert info["entries-added"] == 7
    assert info["max-deleted-entry-id"] == b"5-5"


# ============================================================================================
# XINFO STREAM
# ============================================================================================


def test_xinfo_stream_field_order_and_values(raw, key):
    k = key()
    for i in range(1, 5):
        raw.cmd("XADD", k, f"{i}-1", "n", str(i))
    raw.cmd("XDEL", k, "1-1", "3-1")
    reply = raw.cmd("XINFO", "STREAM", k)
    if raw.protocol == 3:
        assert isinstance(reply, Map)
    else:
        assert isinstance(reply, list)
    assert [name.decode() for name, _ in pairs(reply)] == xinfo_stream_keys(server_version(raw))
    info = dict(pairs(reply))
    assert info[b"length"] == 2
    assert isinstance(info[b"radix-tree-keys"], int)
    assert isinstance(info[b"radix-tree-nodes"], int)
    assert info[b"last-generated-id"] == b"4-1"
    assert info[b"max-deleted-entry-id"] == b"3-1"
    assert info[b"entries-added"] == 4
    assert info[b"recorded-first-entry-id"] == b"2-1"
    assert info[b"groups"] == 0
    assert info[b"first-entry"] == [b"2-1", [b"n", b"2"]]
    assert info[b"last-entry"] == [b"4-1", [b"n", b"4"]]


def test_xinfo_stream_of_an_emptied_stream(raw, key):
    k = key()
    raw.cmd("XADD", k, "1-1", "f", "v")
    raw.cmd("XADD", k, "2-1", "f", "v")
    raw.cmd("XDEL", k, "1-1", "2-1")
    info = dict(pairs(raw.cmd("XINFO", "STREAM", k)))
    null = NULL if raw.protocol == 3 else NULL_BULK
    assert info[b"length"] == 0
    assert info[b"last-generated-id"] == b"2-1"
    assert info[b"max-deleted-entry-id"] == b"2-1"
    assert info[b"entries-added"] == 2
    assert info[b"recorded-first-entry-id"] == b"0-0"
    assert info[b"first-entry"] is null
    assert info[b"last-entry"] is null


def test_xinfo_stream_full(raw, key):
    k = key()
    fill(raw, k, 15)
    raw.cmd("XDEL", k, "15-1")
    reply = raw.cmd("XINFO", "STREAM", k, "FULL")
    assert [name.decode() for name, _ in pairs(reply)] == xinfo_stream_keys(server_version(raw), full=True)
    info = dict(pairs(reply))
    assert info[b"length"] == 14
    assert info[b"last-generated-id"] == b"15-1"
    assert info[b"max-deleted-entry-id"] == b"15-1"
    assert info[b"entries-added"] == 15
    assert info[b"recorded-first-entry-id"] == b"1-1"
    assert info[b"groups"] == []
    # Default COUNT is 10 entries.
    assert ids_of(info[b"entries"]) == [f"{i}-1".encode() for i in range(1, 11)]
    assert info[b"entries"][0] == [b"1-1", [b"i", b"0"]]
    info = dict(pairs(raw.cmd("XINFO", "STREAM", k, "FULL", "COUNT", "3")))
    assert ids_of(info[b"entries"]) == [b"1-1", b"2-1", b"3-1"]
    info = dict(pairs(raw.cmd("XINFO", "STREAM", k, "FULL", "COUNT", "0")))  # 0: everything
    assert len(info[b"entries"]) == 14


def test_xinfo_errors_and_help(raw2, key):
    k = key()
    raw2.cmd("XADD", k, "1-1", "f", "v")
    assert err(raw2.cmd("XINFO", "STREAM", key("missing"))) == "ERR no such key"
    assert err(raw2.cmd("XINFO", "STREAM")) == "ERR wrong number of arguments for 'xinfo|stream' command"
    assert err(raw2.cmd("XINFO", "NOPE", k)).startswith("ERR unknown subcommand 'NOPE'")
    assert err(raw2.cmd("XINFO", "STREAM", k, "FOO")).startswith("ERR ")
    assert raw2.cmd("XINFO", "GROUPS", k) == []
    assert err(raw2.cmd("XINFO", "GROUPS", key("missing"))) == "ERR no such key"
    help_lines = raw2.cmd("XINFO", "HELP")
    assert isinstance(help_lines, list) and len(help_lines) > 2
    assert all(isinstance(line, bytes) for line in help_lines)


def test_xinfo_through_redis_py(r, key):
    k = key()
    r.xadd(k, {"a": "1"}, id="1-1")
    r.xadd(k, {"b": "2"}, id="2-1")
    info = r.xinfo_stream(k)
    assert info["length"] == 2
    assert info["last-generated-id"] == b"2-1"
    assert info["entries-added"] == 2
    assert info["max-deleted-entry-id"] == b"0-0"
    assert info["first-entry"] == (b"1-1", {b"a": b"1"})
    assert info["last-entry"] == (b"2-1", {b"b": b"2"})
    full = r.xinfo_stream(k, full=True)
    assert full["entries"] == {b"1-1": {b"a": b"1"}, b"2-1": {b"b": b"2"}}
    with pytest.raises(redis.ResponseError, match="no such key"):
        r.xinfo_stream(key("missing"))


# ============================================================================================
# Missing keys
# ============================================================================================


def test_commands_on_missing_keys(raw, key):
    k = key("missing")
    assert raw.cmd("XLEN", k) == 0
    assert raw.cmd("XRANGE", k, "-", "+") == []
    assert raw.cmd("XREVRANGE", k, "+", "-") == []
    assert raw.cmd("XDEL", k, "1-1") == 0
    assert raw.cmd("XTRIM", k, "MAXLEN", "0") == 0
    assert is_nil(raw.cmd("XREAD", "STREAMS", k, "0"))
    assert err(raw.cmd("XINFO", "STREAM", k)) == "ERR no such key"
    assert err(raw.cmd("XSETID", k, "1-1")) == "ERR no such key"
    assert raw.cmd("EXISTS", k) == 0


# Approximate trimming removes whole nodes exactly as Redis does (stream-node-max-entries and
# stream-node-max-bytes decide where nodes start); these values hold for redis-server too.


def test_approximate_trim_to_zero_empties_the_stream(raw2, key):
    """redis-py's default xtrim(maxlen=0): Redis removes every node, the last one too."""
    small, big = key("small"), key("big")
    fill(raw2, small, 10)
    fill(raw2, big, 250)
    assert raw2.cmd("XTRIM", small, "MAXLEN", "~", "0") == 10
    assert raw2.cmd("XTRIM", big, "MAXLEN", "~", "0") == 250
    assert raw2.cmd("XLEN", small) == 0 and raw2.cmd("XLEN", big) == 0
    assert raw2.cmd("EXISTS", small, big) == 2


def test_approximate_trim_removes_whole_nodes_of_100(raw2, key):
    k = key()
    fill(raw2, k, 250)  # nodes of 100, 100, 50
    assert raw2.cmd("XTRIM", k, "MAXLEN", "~", "120") == 100
    assert raw2.cmd("XLEN", k) == 150
    assert raw2.cmd("XTRIM", k, "MAXLEN", "~", "60") == 0
    assert raw2.cmd("XTRIM", k, "MAXLEN", "~", "50") == 100
    assert raw2.cmd("XTRIM", k, "MAXLEN", "~", "10") == 0
    other = key("limited")
    fill(raw2, other, 250)
    assert raw2.cmd("XTRIM", other, "MAXLEN", "~", "0", "LIMIT", "100") == 100
    assert raw2.cmd("XTRIM", other, "MAXLEN", "~", "0", "LIMIT", "99") == 0
    assert raw2.cmd("XTRIM", other, "MINID", "~", "180-1") == 0
    assert raw2.cmd("XTRIM", other, "MINID", "~", "201-1") == 100
    # A node is never trimmed in part: XADD with LIMIT 1 on a node of 3 keeps everything.
    tiny = key("tiny")
    fill(raw2, tiny, 3)
    raw2.cmd("XADD", tiny, "MAXLEN", "~", "0", "LIMIT", "1", "*", "f", "v")
    assert raw2.cmd("XLEN", tiny) == 4


def test_approximate_trim_follows_node_bytes(raw2, key):
    """1000-byte values fill a 4096-byte node after a few entries."""
    k = key()
    value = "x" * 1000
    for i in range(1, 41):
        raw2.cmd("XADD", k, f"{i}-1", "f", value)
    assert raw2.cmd("XTRIM", k, "MAXLEN", "~", "10") == 28
    assert raw2.cmd("XLEN", k) == 12


def test_node_limits_are_config_keys(start_server, key):
    srv = start_server()
    c = srv.client(protocol=2)
    assert c.config_get("stream-node-max-entries") == {"stream-node-max-entries": "100"}
    assert c.config_get("stream-node-max-bytes") == {"stream-node-max-bytes": "4096"}
    assert c.config_set("stream-node-max-entries", 10)
    for i in range(1, 26):
        c.xadd("s", {"f": "v"}, id=f"{i}-1")  # nodes of 10, 10, 5
    assert c.xtrim("s", maxlen=12, approximate=True) == 10
    assert c.xtrim("s", maxlen=0, approximate=True) == 15
    with pytest.raises(redis.ResponseError):
        c.config_set("stream-node-max-entries", -1)


@pytest.mark.spool_only
def test_nodes_survive_a_restart(start_server):
    """After a restart the tail node is found again, so later appends fill it as before."""
    srv = start_server()
    c = srv.client(protocol=2)
    for i in range(1, 151):
        c.xadd("s", {"f": "v"}, id=f"{i}-1")  # nodes of 100 and 50 ...
    c.close()
    srv.restart()
    c = srv.client(protocol=2)
    for i in range(151, 211):
        c.xadd("s", {"f": "v"}, id=f"{i}-1")  # ... 100, 100, 10
    assert c.xtrim("s", maxlen=0, approximate=True, limit=200) == 200
    assert c.xlen("s") == 10


# (entries, removed by XTRIM MAXLEN ~ n) for 20 seeded workloads of mixed entries: field names that
# change, integer-looking values, values of 0-600 bytes, ids far apart and close together. Golden
# values from redis-server 7.0.15; node boundaries are the same in Redis 8.
MIXED_TRIM_GOLDEN = [
    (281, 241), (321, 165), (325, 260), (351, 283), (374, 25), (184, 116), (330, 106), (123, 80), (391, 220),
    (263, 227), (96, 26), (316, 241), (362, 294), (376, 81), (128, 45), (400, 308), (332, 0), (394, 300),
    (222, 100), (117, 74),
]


def test_approximate_trim_matches_redis_on_mixed_entries(r2, key):
    import random

    rnd = random.Random(11)
    got = []
    for case in range(len(MIXED_TRIM_GOLDEN)):
        k = key(f"m{case}")
        n = rnd.randint(50, 400)
        per_ms = rnd.choice([1, 2, 5, 50])
        step = rnd.choice([1, 7, 300, 70000])
        pipe = r2.pipeline(transaction=False)
        for i in range(n):
            fields = {"user": f"user-{rnd.randint(0, 10 ** rnd.randint(1, 9))}",
                      "payload": "y" * rnd.randint(0, rnd.choice([10, 100, 600]))}
            if rnd.random() < 0.1:
                fields["extra"] = str(rnd.randint(-10**6, 10**6))
            pipe.xadd(k, fields, id=f"{1700000000000 + (i // per_ms) * step}-{i % per_ms}")
        pipe.execute()
        got.append((n, r2.xtrim(k, maxlen=rnd.randint(0, n), approximate=True)))
    assert got == MIXED_TRIM_GOLDEN
