/* Streams scenario driven by hiredis from C (Debian's libhiredis-dev).
 *
 * build: cc -O1 -Wall -o hiredis_streams hiredis_streams.c $(pkg-config --cflags --libs hiredis)
 * usage: hiredis_streams PORT KEY_PREFIX
 *
 * 1. publishes 1000 entries to a fresh stream: 1000 XADD '*' appended with redisAppendCommandArgv
 *    and only then read back with redisGetReply (one pipeline); then XLEN and XRANGE - +;
 * 2. two consumers in one group, each on its own redisContext, take turns reading with
 *    XREADGROUP COUNT/BLOCK and XACK-ing what they got until the group has acked all 1000; then
 *    XPENDING (summary), XINFO GROUPS and XINFO CONSUMERS, walked as hiredis's reply trees;
 * 3. replays from the 500th id: XRANGE "(id" + paged with COUNT, and XREAD from the id.
 *
 * Prints one JSON object on stdout; on any failure prints the reason on stderr and exits 1.
 */
#include <hiredis.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 1000
#define READ_COUNT 25
#define DEADLINE_S 60.0

static const char *TAG = "\xc3\xa9\xe2\x9c\x93 \"q\" sp"; /* "é✓ \"q\" sp" in UTF-8 */

static void fail(const char *fmt, ...) {
    va_list ap;
    fputs("hiredis scenario failed: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- a growable output buffer with JSON helpers ------------------------------------------ */

static char *out;
static size_t out_len, out_cap;

static void put(const char *s, size_t n) {
    if (out_len + n + 1 > out_cap) {
        out_cap = (out_len + n + 1) * 2;
        out = realloc(out, out_cap);
        if (!out) fail("out of memory");
    }
    memcpy(out + out_len, s, n);
    out_len += n;
    out[out_len] = 0;
}

static void puts_(const char *s) { put(s, strlen(s)); }

static void putf(const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf) fail("putf overflow");
    put(buf, (size_t)n);
}

static void put_json_str(const char *s, size_t n) {
    put("\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put(esc, 2);
        } else if (c < 0x20) {
            putf("\\u%04x", c);
        } else {
            put((const char *)&s[i], 1);
        }
    }
    put("\"", 1);
}

/* A RESP2 reply as JSON: strings/status as strings, integers, nil as null, arrays as lists. */
static void put_json_reply(const redisReply *r) {
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        put_json_str(r->str, r->len);
        break;
    case REDIS_REPLY_INTEGER:
        putf("%lld", r->integer);
        break;
    case REDIS_REPLY_NIL:
        puts_("null");
        break;
    case REDIS_REPLY_ARRAY:
        put("[", 1);
        for (size_t i = 0; i < r->elements; i++) {
            if (i) put(",", 1);
            put_json_reply(r->element[i]);
        }
        put("]", 1);
        break;
    default:
        fail("unexpected reply type %d in put_json_reply", r->type);
    }
}

/* A flat [k1, v1, k2, v2, ...] reply as a JSON object, in the server's order. */
static void put_json_pairs(const redisReply *r) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) fail("expected a flat key/value array, got type %d", r->type);
    put("{", 1);
    for (size_t i = 0; i < r->elements; i += 2) {
        if (i) put(",", 1);
        if (r->element[i]->type != REDIS_REPLY_STRING && r->element[i]->type != REDIS_REPLY_STATUS)
            fail("key/value array has a key of type %d", r->element[i]->type);
        put_json_str(r->element[i]->str, r->element[i]->len);
        put(":", 1);
        put_json_reply(r->element[i + 1]);
    }
    put("}", 1);
}

/* ---- commands ------------------------------------------------------------------------------ */

static redisReply *command(redisContext *c, const char *what, int argc, const char **argv) {
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (!r) fail("%s: connection error: %s", what, c->errstr);
    if (r->type == REDIS_REPLY_ERROR) fail("%s: server replied error: %s", what, r->str);
    return r;
}

static redisContext *connect_to(int port) {
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!c || c->err) fail("connect to port %d: %s", port, c ? c->errstr : "cannot allocate context");
    struct timeval rw = {10, 0};
    if (redisSetTimeout(c, rw) != REDIS_OK) fail("redisSetTimeout: %s", c->errstr);
    return c;
}

static void entry_fields(int i, char seq[16], char payload[64]) {
    snprintf(seq, 16, "%d", i);
    int n = snprintf(payload, 64, "order-%d:", i);
    for (int k = 0; k < i % 17; k++) payload[n++] = 'x';
    payload[n] = 0;
}

/* Checks one stream entry [id, [f, v, ...]] against the fields of entry `seq` it claims to be. */
static int check_entry(const redisReply *e, const char *who) {
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_ARRAY || e->element[1]->elements != 6)
        fail("%s: malformed stream entry", who);
    redisReply **f = e->element[1]->element;
    for (int k = 0; k < 6; k++)
        if (f[k]->type != REDIS_REPLY_STRING) fail("%s: entry %s field %d is type %d", who, e->element[0]->str, k, f[k]->type);
    int seq = atoi(f[1]->str);
    char want_seq[16], want_payload[64];
    entry_fields(seq, want_seq, want_payload);
    if (strcmp(f[0]->str, "seq") || strcmp(f[1]->str, want_seq) || strcmp(f[2]->str, "payload") ||
        strcmp(f[3]->str, want_payload) || strcmp(f[4]->str, "tag") || strcmp(f[5]->str, TAG))
        fail("%s: entry %s has unexpected fields (seq %s payload %s)", who, e->element[0]->str, f[1]->str, f[3]->str);
    return seq;
}

/* The entries of the single stream in an XREAD/XREADGROUP reply, or NULL for a nil reply. */
static const redisReply *single_stream_entries(const redisReply *r, const char *key, const char *who) {
    if (r->type == REDIS_REPLY_NIL) return NULL;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1) fail("%s: expected one stream, got type %d", who, r->type);
    const redisReply *s = r->element[0];
    if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 || s->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(s->element[0]->str, key) || s->element[1]->type != REDIS_REPLY_ARRAY)
        fail("%s: malformed reply for stream %s", who, key);
    return s->element[1];
}

int main(int argc, char **argv) {
    if (argc != 3) fail("usage: hiredis_streams PORT KEY_PREFIX");
    int port = atoi(argv[1]);
    char key[512];
    snprintf(key, sizeof key, "%s:orders", argv[2]);
    const char *group = "billing";
    double started = now_s(), deadline = started + DEADLINE_S;
    static char ids[N][64];

    redisContext *producer = connect_to(port);
    {
        const char *a[] = {"EXISTS", key};
        redisReply *r = command(producer, "EXISTS", 2, a);
        if (r->type != REDIS_REPLY_INTEGER || r->integer != 0) fail("stream %s already exists", key);
        freeReplyObject(r);
    }

    /* 1. publish: one pipeline of 1000 XADDs */
    for (int i = 0; i < N; i++) {
        char seq[16], payload[64];
        entry_fields(i, seq, payload);
        const char *a[] = {"XADD", key, "*", "seq", seq, "payload", payload, "tag", TAG};
        if (redisAppendCommandArgv(producer, 9, a, NULL) != REDIS_OK) fail("append XADD %d: %s", i, producer->errstr);
    }
    for (int i = 0; i < N; i++) {
        redisReply *r;
        if (redisGetReply(producer, (void **)&r) != REDIS_OK) fail("XADD reply %d: %s", i, producer->errstr);
        if (r->type != REDIS_REPLY_STRING || r->len >= sizeof ids[i]) fail("XADD %d: reply type %d %s", i, r->type, r->type == REDIS_REPLY_ERROR ? r->str : "");
        memcpy(ids[i], r->str, r->len + 1);
        freeReplyObject(r);
    }

    puts_("{\"client\":\"hiredis\",");
    putf("\"version\":\"%d.%d.%d\",", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
    puts_("\"stream\":");
    put_json_str(key, strlen(key));
    puts_(",\"ids\":[");
    for (int i = 0; i < N; i++) {
        if (i) put(",", 1);
        put_json_str(ids[i], strlen(ids[i]));
    }
    puts_("],");
    {
        const char *a[] = {"XLEN", key};
        redisReply *r = command(producer, "XLEN", 2, a);
        if (r->type != REDIS_REPLY_INTEGER) fail("XLEN: reply type %d", r->type);
        putf("\"xlen\":%lld,", r->integer);
        freeReplyObject(r);
    }
    {
        const char *a[] = {"XRANGE", key, "-", "+"};
        redisReply *r = command(producer, "XRANGE", 4, a);
        if (r->type != REDIS_REPLY_ARRAY) fail("XRANGE: reply type %d", r->type);
        puts_("\"range\":[");
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            check_entry(e, "XRANGE");
            if (i) put(",", 1);
            put("[", 1);
            put_json_str(e->element[0]->str, e->element[0]->len);
            put(",", 1);
            put_json_pairs(e->element[1]);
            put("]", 1);
        }
        puts_("],");
        freeReplyObject(r);
    }
    {
        const char *a[] = {"XINFO", "STREAM", key};
        redisReply *r = command(producer, "XINFO STREAM", 3, a);
        puts_("\"xinfo_stream\":");
        put_json_pairs(r);
        puts_(",");
        freeReplyObject(r);
    }

    /* 2. a consumer group with two consumers taking turns */
    {
        const char *a[] = {"XGROUP", "CREATE", key, group, "0"};
        redisReply *r = command(producer, "XGROUP CREATE", 5, a);
        if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, "OK")) fail("XGROUP CREATE: unexpected reply");
        freeReplyObject(r);
    }
    redisContext *consumers[2] = {connect_to(port), connect_to(port)};
    const char *names[2] = {"c1", "c2"};
    static char delivered[2][N][64];
    int ndelivered[2] = {0, 0};
    int acked_total = 0, empty_reads = 0;
    long long xack_sum = 0;
    for (int turn = 0;; turn++) {
        if (now_s() > deadline) fail("timed out with %d/%d acked", acked_total, N);
        int who = turn % 2;
        const char *a[] = {"XREADGROUP", "GROUP", group, names[who], "COUNT", "25", "BLOCK", "100", "STREAMS", key, ">"};
        redisReply *r = command(consumers[who], "XREADGROUP", 11, a);
        const redisReply *entries = single_stream_entries(r, key, "XREADGROUP");
        if (!entries || entries->elements == 0) {
            empty_reads++;
            freeReplyObject(r);
            if (acked_total >= N) break;
            continue;
        }
        if (entries->elements > READ_COUNT) fail("XREADGROUP COUNT %d returned %zu", READ_COUNT, entries->elements);
        const char *ack[3 + READ_COUNT] = {"XACK", key, group};
        for (size_t i = 0; i < entries->elements; i++) {
            check_entry(entries->element[i], "XREADGROUP");
            const char *id = entries->element[i]->element[0]->str;
            if (ndelivered[who] >= N) fail("%s got more than %d entries", names[who], N);
            snprintf(delivered[who][ndelivered[who]++], 64, "%s", id);
            ack[3 + i] = id;
        }
        redisReply *ar = command(consumers[who], "XACK", 3 + (int)entries->elements, ack);
        if (ar->type != REDIS_REPLY_INTEGER || ar->integer != (long long)entries->elements)
            fail("%s: XACK of %zu ids returned %lld", names[who], entries->elements, ar->integer);
        xack_sum += ar->integer;
        acked_total += (int)entries->elements;
        freeReplyObject(ar);
        freeReplyObject(r);
    }
    puts_("\"group\":{\"name\":");
    put_json_str(group, strlen(group));
    puts_(",\"delivered\":{");
    for (int w = 0; w < 2; w++) {
        if (w) put(",", 1);
        put_json_str(names[w], strlen(names[w]));
        puts_(":[");
        for (int i = 0; i < ndelivered[w]; i++) {
            if (i) put(",", 1);
            put_json_str(delivered[w][i], strlen(delivered[w][i]));
        }
        puts_("]");
    }
    putf("},\"xack_sum\":%lld,\"empty_reads\":%d,", xack_sum, empty_reads);
    {
        const char *a[] = {"XACK", key, group, ids[0]};
        redisReply *r = command(producer, "XACK (again)", 4, a);
        if (r->type != REDIS_REPLY_INTEGER) fail("XACK (again): reply type %d", r->type);
        putf("\"reack\":%lld,", r->integer);
        freeReplyObject(r);
    }
    {
        const char *a[] = {"XPENDING", key, group};
        redisReply *r = command(producer, "XPENDING", 3, a);
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 4 || r->element[0]->type != REDIS_REPLY_INTEGER)
            fail("XPENDING summary: malformed reply");
        puts_("\"pending_summary\":");
        put_json_reply(r);
        puts_(",");
        freeReplyObject(r);
    }
    {
        const char *a[] = {"XINFO", "GROUPS", key};
        redisReply *r = command(producer, "XINFO GROUPS", 3, a);
        if (r->type != REDIS_REPLY_ARRAY) fail("XINFO GROUPS: reply type %d", r->type);
        puts_("\"xinfo_groups\":[");
        for (size_t i = 0; i < r->elements; i++) {
            if (i) put(",", 1);
            put_json_pairs(r->element[i]);
        }
        puts_("],");
        freeReplyObject(r);
    }
    {
        const char *a[] = {"XINFO", "CONSUMERS", key, group};
        redisReply *r = command(producer, "XINFO CONSUMERS", 4, a);
        if (r->type != REDIS_REPLY_ARRAY) fail("XINFO CONSUMERS: reply type %d", r->type);
        puts_("\"xinfo_consumers\":[");
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *c = r->element[i];
            if (c->type != REDIS_REPLY_ARRAY || c->elements < 4 || c->elements % 2) fail("XINFO CONSUMERS: malformed consumer");
            if (i) put(",", 1);
            put("{", 1);
            int first = 1;
            for (size_t k = 0; k < c->elements; k += 2) {
                const char *name = c->element[k]->str;
                if (strcmp(name, "name") && strcmp(name, "pending")) continue;
                if (!first) put(",", 1);
                first = 0;
                put_json_str(name, strlen(name));
                put(":", 1);
                put_json_reply(c->element[k + 1]);
            }
            put("}", 1);
        }
        puts_("]},");
        freeReplyObject(r);
    }

    /* 3. replay from a mid-stream id */
    const char *from = ids[N / 2 - 1];
    char start[80];
    snprintf(start, sizeof start, "(%s", from);
    puts_("\"replay\":{\"from\":");
    put_json_str(from, strlen(from));
    puts_(",\"xrange_exclusive_paged\":[");
    int pages = 0, npaged = 0;
    while (now_s() < deadline) {
        const char *a[] = {"XRANGE", key, start, "+", "COUNT", "100"};
        redisReply *r = command(producer, "XRANGE (paged)", 6, a);
        if (r->type != REDIS_REPLY_ARRAY) fail("XRANGE (paged): reply type %d", r->type);
        if (r->elements == 0) {
            freeReplyObject(r);
            break;
        }
        pages++;
        for (size_t i = 0; i < r->elements; i++) {
            check_entry(r->element[i], "XRANGE (paged)");
            if (npaged++) put(",", 1);
            put_json_str(r->element[i]->element[0]->str, r->element[i]->element[0]->len);
        }
        snprintf(start, sizeof start, "(%s", r->element[r->elements - 1]->element[0]->str);
        freeReplyObject(r);
    }
    putf("],\"pages\":%d,\"xread\":[", pages);
    {
        char count[16];
        snprintf(count, sizeof count, "%d", N);
        const char *a[] = {"XREAD", "COUNT", count, "STREAMS", key, from};
        redisReply *r = command(producer, "XREAD", 6, a);
        const redisReply *entries = single_stream_entries(r, key, "XREAD");
        for (size_t i = 0; entries && i < entries->elements; i++) {
            check_entry(entries->element[i], "XREAD");
            if (i) put(",", 1);
            put_json_str(entries->element[i]->element[0]->str, entries->element[i]->element[0]->len);
        }
        freeReplyObject(r);
    }
    putf("]},\"elapsed_ms\":%ld}\n", (long)((now_s() - started) * 1000));

    redisFree(consumers[0]);
    redisFree(consumers[1]);
    redisFree(producer);
    fwrite(out, 1, out_len, stdout);
    return 0;
}
