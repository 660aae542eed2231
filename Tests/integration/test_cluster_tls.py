"""The cluster bus over TLS (tls-cluster yes): three nodes replicate through it, and a peer
without the cluster's certificate is not heard."""

from __future__ import annotations

import socket
import struct
import time

import pytest
import redis
from redis.cluster import RedisCluster

from cluster import Cluster, keys_for_shards
from helpers import free_port, wait_until
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


def test_tls_clients_are_sent_to_tls_ports(tmp_path):
    """With tls-port on every node, CLUSTER SLOTS and MOVED give TLS clients the TLS ports and
    plain clients the plain ones, so redis-py's RedisCluster works over TLS across every shard."""
    certs = make_certificates(tmp_path / "certs")
    tls_port = free_port()
    cluster = Cluster(tmp_path / "cluster", size=3, shards=4, extra_args=[
        "--tls-port", str(tls_port), "--tls-cert-file", certs["node_cert"], "--tls-key-file", certs["node_key"],
        "--tls-ca-cert-file", certs["ca"]])
    try:
        cluster.start()
        tls_options = dict(ssl=True, ssl_ca_certs=certs["ca"], ssl_certfile=certs["client_cert"],
                           ssl_keyfile=certs["client_key"], ssl_check_hostname=False)
        node = cluster.nodes[0]
        plain = redis.Redis(host=node.host, port=node.port)
        secure = redis.Redis(host=node.host, port=tls_port, **tls_options)

        def ports(client) -> set:
            return {entry[2][1] for entry in client.execute_command("CLUSTER", "SLOTS")}

        wait_until(lambda: ports(secure) == {tls_port} and ports(plain) == {node.port for node in cluster.nodes},
                   what="TLS ports in CLUSTER SLOTS for TLS clients")
        # MOVED over TLS names a TLS address.
        stream = next(s for s in keys_for_shards("tls", cluster.shard_count, per_shard=1)
                      if cluster.leader_of(s) is not node)
        with pytest.raises(redis.exceptions.MovedError) as moved:
            secure.xadd(stream, {"p": "1"})
        assert str(moved.value).endswith(f":{tls_port}")
        client = RedisCluster(host=node.host, port=tls_port, **tls_options)
        streams = keys_for_shards("tlsc", cluster.shard_count, per_shard=2)
        for s in streams:
            client.xadd(s, {"p": "1"})
        assert all(cluster.client().xlen(s) == 1 for s in streams)
        client.close()
    finally:
        cluster.close()
        cluster.remove_data()
