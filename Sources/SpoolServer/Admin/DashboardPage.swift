/// GET / on the admin port: the page a person opens to see whether the broker is healthy. It
/// reads GET /api/overview once a second and draws everything in the browser (no scripts or
/// styles from elsewhere): status, streams with their length, size and rate, groups with lag and
/// pending entries, fsync batching and latency percentiles over the last minutes, and the
/// cluster's members and shard leaders when clustered.
enum DashboardPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Spool</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
  header { display: flex; gap: 24px; align-items: baseline; padding: 12px 20px; background: #1d2330; color: #fff; }
  header h1 { font-size: 18px; margin: 0; }
  #status { font-weight: 600; padding: 2px 10px; border-radius: 10px; }
  #status.ok { background: #1f8a4c; }
  #status.bad { background: #c0392b; }
  main { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; padding: 16px 20px; }
  section { background: #fff; border-radius: 8px; padding: 12px 16px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  h2 { font-size: 15px; margin: 0 0 8px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eceef2; }
  td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
  .lagging { color: #c0392b; font-weight: 600; }
  svg { width: 100%; height: 120px; background: #fbfbfc; border: 1px solid #eceef2; }
  .legend span { margin-right: 12px; }
  .muted { color: #6b7280; }
</style>
</head>
<body>
<header>
  <h1>Spool</h1>
  <span id="status" class="ok">loading…</span>
  <span>version <b id="version">–</b></span>
  <span>up <b id="uptime">–</b></span>
  <span>clients <b id="clients">–</b></span>
  <span>ops/s <b id="ops">–</b></span>
  <span>streams <b id="stream-count">–</b></span>
</header>
<main>
  <section>
    <h2>Streams</h2>
    <table id="streams"><thead><tr><th>stream</th><th class="n">length</th><th class="n">size</th><th class="n">appends/s</th><th class="n">groups</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Consumer groups</h2>
    <table id="groups"><thead><tr><th>stream</th><th>group</th><th class="n">consumers</th><th class="n">pending</th><th class="n">lag (entries)</th><th class="n">lag (s)</th></tr></thead><tbody></tbody></table>
    <p class="muted">Dead-lettered entries: <b id="dead-lettered">–</b></p>
  </section>
  <section>
    <h2>Append → durable latency (µs), each second</h2>
    <svg id="chart-durable" viewBox="0 0 600 120" preserveAspectRatio="none"></svg>
    <div class="legend"><span style="color:#2563eb">p50 ≤ <b id="durable-p50">–</b></span><span style="color:#c0392b">p99 ≤ <b id="durable-p99">–</b></span><span class="muted">since start: p50 <b id="durable-p50-all">–</b>, p99 <b id="durable-p99-all">–</b>, p99.9 <b id="durable-p999-all">–</b></span></div>
  </section>
  <section>
    <h2>Fsyncs</h2>
    <svg id="chart-fsync" viewBox="0 0 600 120" preserveAspectRatio="none"></svg>
    <div class="legend"><span style="color:#2563eb">entries per fsync <b id="batching">–</b></span><span style="color:#c0392b">fsync p99 ≤ <b id="fsync-p99">–</b> µs</span><span class="muted">fsyncs/s <b id="fsync-rate">–</b></span></div>
  </section>
  <section id="cluster" hidden>
    <h2>Cluster</h2>
    <p>This node: <b id="me">–</b>. Members: <span id="members"></span></p>
    <table id="shards"><thead><tr><th>shard</th><th>leader</th><th class="n">epoch</th><th>role here</th><th class="n">apply lag</th></tr></thead><tbody></tbody></table>
  </section>
</main>
<script>
"use strict";
const history = { durableP50: [], durableP99: [], batching: [], fsyncP99: [] };
const keep = 300;
let previous = null;
let previousBuckets = null;

// Cumulative bucket counts of a Prometheus histogram in /metrics text: [[upper bound, count]].
function buckets(metrics, name) {
  const found = [];
  const pattern = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`);
  for (const line of metrics.split("\n")) {
    const match = pattern.exec(line);
    if (match) found.push([match[1] === "+Inf" ? Infinity : parseFloat(match[1]), parseFloat(match[2])]);
  }
  return found.sort((a, b) => a[0] - b[0]);
}
// The q-quantile of what was recorded between two scrapes, as the bucket bound it falls under (µs).
function quantile(now, before, q) {
  if (!before || now.length !== before.length) return null;
  const total = now[now.length - 1][1] - before[before.length - 1][1];
  if (total <= 0) return null;
  for (let i = 0; i < now.length; i++) {
    if (now[i][1] - before[i][1] >= q * total) return now[i][0] === Infinity ? Infinity : Math.round(now[i][0] * 1e6);
  }
  return null;
}

function text(id, value) { document.getElementById(id).textContent = value; }
function cell(row, value, numeric) {
  const td = row.insertCell();
  td.textContent = value;
  if (numeric) td.className = "n";
  return td;
}
function duration(seconds) {
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600), m = Math.floor(seconds % 3600 / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : `${m}m ${seconds % 60}s`;
}
function size(bytes) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let unit = 0;
  while (bytes >= 1024 && unit < units.length - 1) { bytes /= 1024; unit++; }
  return unit ? `${bytes.toFixed(1)} ${units[unit]}` : `${bytes} B`;
}
function push(series, value) { series.push(value); if (series.length > keep) series.shift(); }
function draw(id, lines) {
  const svg = document.getElementById(id);
  const max = Math.max(1, ...lines.flatMap(l => l.values));
  svg.innerHTML = "";
  for (const line of lines) {
    if (line.values.length < 2) continue;
    const step = 600 / (keep - 1);
    const points = line.values.map((v, i) => `${(i + keep - line.values.length) * step},${118 - v / max * 110}`).join(" ");
    const polyline = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    polyline.setAttribute("points", points);
    polyline.setAttribute("fill", "none");
    polyline.setAttribute("stroke", line.color);
    polyline.setAttribute("stroke-width", "2");
    polyline.dataset.series = line.name;
    svg.appendChild(polyline);
  }
}

function render(data, metrics, now) {
  const status = document.getElementById("status");
  status.textContent = data.healthy ? "healthy" : "storage failed: writes refused";
  status.className = data.healthy ? "ok" : "bad";
  text("version", data.version);
  text("uptime", duration(data.uptime_seconds));
  text("clients", data.connected_clients);
  text("ops", data.ops_per_second);
  text("stream-count", data.stream_count);
  text("dead-lettered", data.dead_lettered);

  const elapsed = previous ? (now - previous.time) / 1000 : 0;
  const before = new Map(previous ? previous.data.streams.map(s => [s.db + "/" + s.name, s.entries_added]) : []);
  const streams = document.querySelector("#streams tbody");
  streams.innerHTML = "";
  const groups = document.querySelector("#groups tbody");
  groups.innerHTML = "";
  for (const stream of data.streams) {
    const row = streams.insertRow();
    row.dataset.stream = stream.name;
    cell(row, stream.db ? `${stream.name} (db ${stream.db})` : stream.name);
    cell(row, stream.length, true).dataset.field = "length";
    const bytes = cell(row, size(stream.bytes), true);
    bytes.dataset.field = "size";
    bytes.title = `${stream.bytes} bytes`;
    const added = before.get(stream.db + "/" + stream.name);
    cell(row, elapsed > 0 && added !== undefined ? ((stream.entries_added - added) / elapsed).toFixed(1) : "–", true).dataset.field = "rate";
    cell(row, stream.groups.length, true);
    for (const group of stream.groups) {
      const g = groups.insertRow();
      g.dataset.stream = stream.name;
      g.dataset.group = group.name;
      cell(g, stream.name);
      cell(g, group.name);
      cell(g, group.consumers, true);
      cell(g, group.pending, true).dataset.field = "pending";
      const lag = cell(g, group.lag_entries === null ? "?" : group.lag_entries, true);
      lag.dataset.field = "lag";
      if (group.lag_seconds > 60) lag.className = "n lagging";
      cell(g, group.lag_seconds.toFixed(1), true).dataset.field = "lag-seconds";
    }
  }

  const p = data.persistence;
  text("durable-p50-all", p.durable_p50_us); text("durable-p99-all", p.durable_p99_us); text("durable-p999-all", p.durable_p999_us);
  if (metrics) {
    const durable = buckets(metrics, "spool_append_durable_seconds"), fsync = buckets(metrics, "spool_fsync_duration_seconds");
    if (previousBuckets) {
      const p50 = quantile(durable, previousBuckets.durable, 0.5), p99 = quantile(durable, previousBuckets.durable, 0.99);
      const f99 = quantile(fsync, previousBuckets.fsync, 0.99);
      if (p50 !== null) { push(history.durableP50, p50); text("durable-p50", p50); }
      if (p99 !== null) { push(history.durableP99, p99); text("durable-p99", p99); }
      if (f99 !== null) { push(history.fsyncP99, f99); text("fsync-p99", f99); }
    }
    previousBuckets = { durable, fsync };
  }
  if (previous && elapsed > 0) {
    const fsyncs = p.fsyncs - previous.data.persistence.fsyncs, appends = p.appends - previous.data.persistence.appends;
    const batching = fsyncs > 0 ? appends / fsyncs : 0;
    push(history.batching, batching);
    text("batching", batching.toFixed(1));
    text("fsync-rate", (fsyncs / elapsed).toFixed(0));
  }
  draw("chart-durable", [{ name: "p50", values: history.durableP50, color: "#2563eb" }, { name: "p99", values: history.durableP99, color: "#c0392b" }]);
  draw("chart-fsync", [{ name: "batching", values: history.batching, color: "#2563eb" }, { name: "fsync-p99", values: history.fsyncP99, color: "#c0392b" }]);

  const cluster = document.getElementById("cluster");
  cluster.hidden = !data.cluster;
  if (data.cluster) {
    text("me", data.cluster.me);
    text("members", data.cluster.nodes.map(n => `${n.name} (${n.address})`).join(", "));
    const shards = document.querySelector("#shards tbody");
    shards.innerHTML = "";
    for (const shard of data.cluster.shards) {
      const row = shards.insertRow();
      row.dataset.shard = shard.index;
      cell(row, shard.index);
      cell(row, shard.leader === null ? "none (election)" : shard.leader).dataset.field = "leader";
      cell(row, shard.epoch, true);
      cell(row, shard.role_here);
      cell(row, shard.apply_lag, true);
    }
  }
  previous = { data, time: now };
}

async function refresh() {
  try {
    const [overview, metrics] = await Promise.all([
      fetch("/api/overview", { cache: "no-store" }), fetch("/metrics", { cache: "no-store" })]);
    if (!overview.ok) throw new Error(`HTTP ${overview.status}`);
    render(await overview.json(), metrics.ok ? await metrics.text() : null, Date.now());
  } catch (error) {
    const status = document.getElementById("status");
    status.textContent = `unreachable: ${error.message}`;
    status.className = "bad";
  }
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
"""#
}
