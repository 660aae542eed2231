"""The cluster bus over TLS (tls-cluster yes): three nodes replicate through it, and a peer
without the cluster's certificate is not heard."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from cluster import Cluster, keys_for_shards
from tls_certs import make_certificates

pytestmark = pytest.mark.spool_only


def tls_args(certs) -> list:
    return ["--tls-cluster", "yes", "--tls-cert-file", certs["node_cert"], "--tls-key-file", certs["node_key"],
            "--tls-ca-cert-file", certs["ca"]]


def test_a_cluster_replicates_over_tls_and_refuses_a_plaintext_peer(tmp_path):
    certs = make_certificates(tmp_path / "certs")
    cluster = Cluster(tmp_path / "cluster", size=3, shards=4, extra_args=tls_args(certs))
    try:
        cluster.start()
        client = cluster.client()
        streams = keys_for_shards("tls", cluster.shard_count, per_shard=1)
        acked = {s: [] for s in streams}
        # Every write is acknowledged once a majority holds it: each went over the bus, encrypted.
        for i in range(20):
            for s in streams:
                payload = f"{s.decode()}-{i}".encode()
                acked[s].append((client.xadd(s, {b"p": payload}), payload))
        report = cluster.check(acked, {p for v in acked.values() for _, p in v}, nodes=cluster.nodes)
        assert report["present"] == report["acked"] == 20 * len(streams)
        # A plaintext peer's frames are not TLS: the node drops the connection at once.
        node = cluster.nodes[0]
        with socket.create_connection((node.host, node.bus_port), timeout=5) as raw:
            raw.sendall(struct.pack(">I", 8) + b"notahello")
            raw.settimeout(5)
            data = raw.recv(4096)
            # Either closed outright or an alert followed by the close.
            while data:
                data = raw.recv(4096)
        # The cluster goes on.
        assert client.xadd(streams[0], {b"p": b"after"})
    finally:
        cluster.close()
        cluster.remove_data()


def test_a_node_without_the_clusters_certificate_cannot_start_its_bus(tmp_path):
    certs = make_certificates(tmp_path / "certs")
    args = tls_args(certs)
    args[args.index("--tls-key-file") + 1] = str(tmp_path / "missing.key")
    cluster = Cluster(tmp_path / "cluster", size=3, shards=4, extra_args=args)
    try:
        node = cluster.nodes[0]
        cluster.etcd.start()
        with pytest.raises(Exception):
            node.start(timeout=15)
        assert "tls-cluster" in node.log_path.read_text()
    finally:
        cluster.close()
        cluster.remove_data()
