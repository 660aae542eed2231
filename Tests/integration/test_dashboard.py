"""The admin port's dashboard, loaded in headless Chromium (Debian's chromium) against a live
spoold with traffic: what the page shows after its scripts ran is checked, cell by cell."""

from __future__ import annotations

import html.parser
import re
import shutil
import subprocess
import urllib.request
from typing import Dict, List, Optional

import pytest

from cluster import Cluster, keys_for_shards
from helpers import free_port

pytestmark = pytest.mark.spool_only

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def render(url: str, budget_ms: int = 5000) -> str:
    """The page's DOM once its scripts ran for `budget_ms` of virtual time (several refreshes)."""
    assert CHROMIUM, "chromium is missing: Tools/install-deps.sh installs it"
    run = subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "<html" in run.stdout, run.stderr[-2000:]
    return run.stdout


class Page(html.parser.HTMLParser):
    """Element texts by id, and table rows (their data-* attributes and cell texts)."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.by_id: Dict[str, str] = {}
        self.attributes: Dict[str, Dict[str, Optional[str]]] = {}
        self.rows: List[Dict] = []
        self._open: List[tuple] = []
        self._row: Optional[Dict] = None
        self._cell: Optional[List[str]] = None
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "id" in attributes:
            self.attributes[attributes["id"]] = attributes
        self._open.append((tag, attributes.get("id"), []))
        if tag == "tr":
            self._row = {"data": {k[5:]: v for k, v in attributes.items() if k.startswith("data-")}, "cells": {}, "texts": []}
        if tag == "td" and self._row is not None:
            self._cell = []
            self._field = attributes.get("data-field")

    def handle_endtag(self, tag):
        while self._open:
            open_tag, element_id, texts = self._open.pop()
            if element_id:
                self.by_id[element_id] = "".join(texts).strip()
            if self._open:
                self._open[-1][2].extend(texts)
            if open_tag == tag:
                break
        if tag == "td" and self._row is not None and self._cell is not None:
            text = "".join(self._cell).strip()
            self._row["texts"].append(text)
            if self._field:
                self._row["cells"][self._field] = text
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._open:
            self._open[-1][2].append(data)
        if self._cell is not None:
            self._cell.append(data)

    def row(self, **data) -> Dict:
        found = [r for r in self.rows if r["data"] == data]
        assert len(found) == 1, f"{data}: {found}"
        return found[0]


def test_the_dashboard_shows_streams_groups_and_fsyncs(start_server):
    admin_port = free_port()
    srv = start_server(admin_port=admin_port)
    client = srv.client()
    ids = [client.xadd("orders", {"n": str(i)}) for i in range(40)]
    client.xgroup_create("orders", "billing", id="0")
    client.xreadgroup("billing", "w1", {"orders": ">"}, count=15)
    client.xack("orders", "billing", *ids[:5])
    client.xadd("audit", {"who": "me"})
    page = Page(render(f"http://127.0.0.1:{admin_port}/"))
    assert page.by_id["status"] == "healthy"
    assert page.by_id["stream-count"] == "2"
    assert page.row(stream="orders")["cells"]["length"] == "40"
    assert page.row(stream="audit")["cells"]["length"] == "1"
    # Sizes as spool_stream_bytes counts them (test_metrics.entry_size): 40 entries of
    # 16 + 12 + (4 + 1) + (4 + len(str(i))) bytes are 1,550 bytes; one of 41 bytes.
    assert page.row(stream="orders")["cells"]["size"] == "1.5 KiB"
    assert page.row(stream="audit")["cells"]["size"] == "41 B"
    group = page.row(stream="orders", group="billing")
    assert group["cells"]["pending"] == "10"
    assert group["cells"]["lag"] == "25"
    assert float(group["cells"]["lag-seconds"]) >= 0
    # Several refreshes ran: the fsync panel has figures, and the charts have lines.
    assert float(page.by_id["batching"]) >= 0
    assert int(page.by_id["durable-p99-all"]) > 0
    assert "hidden" in page.attributes["cluster"], "no cluster section on a single node"


def test_the_dashboard_shows_cluster_members_and_shard_leaders(tmp_path):
    cluster = Cluster(tmp_path / "cluster", size=3, shards=4)
    admin_port = free_port()
    node = cluster.nodes[0]
    node.extra_args = ["--admin-port", str(admin_port), "--admin-bind", node.host]
    try:
        cluster.start()
        client = cluster.client()
        for stream in keys_for_shards("dash", cluster.shard_count, per_shard=1):
            client.xadd(stream, {"p": "1"})
        page = Page(render(f"http://{node.host}:{admin_port}/"))
        assert "hidden" not in page.attributes["cluster"]
        assert page.by_id["me"] == node.name
        for other in cluster.nodes:
            assert other.name in page.by_id["members"]
        # The leaders the page shows are those the node reports in CLUSTER SHARDS.
        expected = cluster.leaders(node)
        for index in range(cluster.shard_count):
            assert page.row(shard=str(index))["cells"]["leader"] == expected[index].name
        # /metrics on the same port has each shard's epoch and whether this node leads it.
        text = urllib.request.urlopen(f"http://{node.host}:{admin_port}/metrics", timeout=10).read().decode()
        for index in range(cluster.shard_count):
            epoch = re.search(rf'^spool_shard_epoch\{{shard="{index}"\}} (\S+)$', text, re.M)
            leads = re.search(rf'^spool_shard_leader\{{shard="{index}"\}} (\S+)$', text, re.M)
            assert epoch and float(epoch.group(1)) >= 1, text
            assert leads and float(leads.group(1)) == (1.0 if expected[index] is node else 0.0), text
    finally:
        cluster.close()
        cluster.remove_data()
