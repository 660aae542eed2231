// Streams scenario driven by node-redis (Debian's node-redis 4.x, @redis/client 1.x).
//
// usage: NODE_PATH=/usr/share/nodejs node node_streams.js PORT KEY_PREFIX
//
// 1. publishes 1000 entries to a fresh stream with XADD '*' (auto-pipelined: every command of a
//    batch is issued in the same tick, so node-redis writes them back to back), then reads XLEN
//    and XRANGE - + back through node-redis's own reply transformers;
// 2. two consumers in one group, each on its own connection, read with XREADGROUP COUNT/BLOCK
//    and XACK everything they get, until the group has acked all 1000; then XPENDING (summary),
//    XINFO GROUPS and XINFO CONSUMERS through the client's typed helpers;
// 3. replays from the 500th id: XRANGE "(id" + paged with COUNT, and XREAD from the id.
//
// Prints one JSON object on stdout; on any failure prints the reason on stderr and exits 1.
'use strict';

const { createClient } = require('redis');

const N = 1000;
const BATCH = 250;
const READ_COUNT = 25;
const BLOCK_MS = 100;
const DEADLINE_MS = 60000;

function fail(message) {
    process.stderr.write(`node-redis scenario failed: ${message}\n`);
    process.exit(1);
}

function entryFields(i) {
    return { seq: String(i), payload: `order-${i}:` + 'x'.repeat(i % 17), tag: 'é✓ "q" sp' };
}

async function connect(port, name) {
    const client = createClient({
        socket: { host: '127.0.0.1', port, connectTimeout: 5000, reconnectStrategy: () => new Error('no reconnects in this test') },
    });
    client.on('error', (err) => fail(`${name}: connection error: ${err && err.stack ? err.stack : err}`));
    await client.connect();
    return client;
}

async function main() {
    const [portArg, prefix] = process.argv.slice(2);
    if (!portArg || !prefix) fail('usage: node node_streams.js PORT KEY_PREFIX');
    const port = Number(portArg);
    const key = `${prefix}:orders`;
    const group = 'billing';
    const started = Date.now();
    const deadline = started + DEADLINE_MS;

    const producer = await connect(port, 'producer');
    if ((await producer.exists(key)) !== 0) fail(`stream ${key} already exists`);

    // 1. publish, pipelined per batch
    const ids = [];
    for (let base = 0; base < N; base += BATCH) {
        const pending = [];
        for (let i = base; i < Math.min(N, base + BATCH); i++) {
            pending.push(producer.xAdd(key, '*', entryFields(i)));
        }
        ids.push(...(await Promise.all(pending)));
    }
    const xlen = await producer.xLen(key);
    const range = (await producer.xRange(key, '-', '+')).map((m) => [m.id, m.message]);
    const infoStream = await producer.xInfoStream(key);

    // 2. a consumer group with two consumers
    const created = await producer.xGroupCreate(key, group, '0');
    const consumers = { c1: await connect(port, 'c1'), c2: await connect(port, 'c2') };
    const delivered = { c1: [], c2: [] };
    let ackedTotal = 0;
    let xackSum = 0;
    let emptyReads = 0;

    async function consume(name) {
        const client = consumers[name];
        while (true) {
            if (Date.now() > deadline) {
                throw new Error(`${name}: timed out with ${ackedTotal}/${N} acked`);
            }
            const reply = await client.xReadGroup(group, name, { key, id: '>' }, { COUNT: READ_COUNT, BLOCK: BLOCK_MS });
            if (reply === null || reply.length === 0 || reply[0].messages.length === 0) {
                emptyReads += 1;
                if (ackedTotal >= N) return;
                continue;
            }
            if (reply.length !== 1 || reply[0].name !== key) {
                throw new Error(`${name}: XREADGROUP replied for streams ${JSON.stringify(reply.map((s) => s.name))}`);
            }
            const messages = reply[0].messages;
            if (messages.length > READ_COUNT) {
                throw new Error(`${name}: XREADGROUP COUNT ${READ_COUNT} returned ${messages.length}`);
            }
            for (const m of messages) {
                const seq = Number(m.message.seq);
                const want = entryFields(seq);
                if (JSON.stringify(m.message) !== JSON.stringify(want)) {
                    throw new Error(`${name}: entry ${m.id} has ${JSON.stringify(m.message)}, want ${JSON.stringify(want)}`);
                }
            }
            const batch = messages.map((m) => m.id);
            delivered[name].push(...batch);
            const n = await client.xAck(key, group, batch);
            if (n !== batch.length) {
                throw new Error(`${name}: XACK of ${batch.length} ids returned ${n}`);
            }
            xackSum += n;
            ackedTotal += batch.length;
        }
    }
    await Promise.all([consume('c1'), consume('c2')]);
    const reack = await producer.xAck(key, group, ids[0]);
    const pendingSummary = await producer.xPending(key, group);
    const infoGroups = await producer.xInfoGroups(key);
    const infoConsumers = await producer.xInfoConsumers(key, group);

    // 3. replay from a mid-stream id
    const from = ids[N / 2 - 1];
    const paged = [];
    let start = `(${from}`;
    let pages = 0;
    while (Date.now() < deadline) {
        const page = await producer.xRange(key, start, '+', { COUNT: 100 });
        if (page.length === 0) break;
        pages += 1;
        paged.push(...page.map((m) => m.id));
        start = `(${page[page.length - 1].id}`;
    }
    const xread = await producer.xRead({ key, id: from }, { COUNT: N });
    const xreadIds = xread === null ? [] : xread[0].messages.map((m) => m.id);
    const xreadFirst = xread === null ? null : xread[0].messages[0];

    const result = {
        client: 'node-redis',
        version: require('redis/package.json').version,
        client_core_version: require('@redis/client/package.json').version,
        node: process.version,
        stream: key,
        ids,
        xlen,
        range,
        xinfo_stream: {
            length: infoStream.length,
            groups: infoStream.groups,
            lastGeneratedId: infoStream.lastGeneratedId,
            firstEntry: infoStream.firstEntry,
            lastEntry: infoStream.lastEntry,
        },
        group: {
            name: group,
            created,
            delivered,
            xack_sum: xackSum,
            reack,
            empty_reads: emptyReads,
            pending_summary: pendingSummary,
            xinfo_groups: infoGroups,
            xinfo_consumers: infoConsumers.map((c) => ({ name: c.name, pending: c.pending })),
        },
        replay: { from, xrange_exclusive_paged: paged, pages, xread: xreadIds, xread_first: xreadFirst },
        elapsed_ms: Date.now() - started,
    };
    for (const client of [producer, consumers.c1, consumers.c2]) await client.quit();
    process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((err) => fail(err && err.stack ? err.stack : String(err)));
