"""TLS beside the plain port (Redis's tls-* settings), against spoold and redis-server alike:
redis-cli --tls and redis-py with ssl=True; missing, untrusted and expired client certificates
refused with nothing else happening; protocol limits; certificates replaced under load."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
import redis

from conftest import IS_SPOOL
from helpers import free_port
from tls_certs import make_certificates


@pytest.fixture
def certs(tmp_path):
    return make_certificates(tmp_path / "certs")


def tls_server(start_server, certs, **extra):
    return start_server(
        tls_port=free_port(), tls_cert_file=certs["server_cert"], tls_key_file=certs["server_key"],
        tls_ca_cert_file=certs["ca"], **extra)


def tls_client(srv, certs, cert="client", protocol=2, **kwargs):
    options = dict(ssl=True, ssl_ca_certs=certs["ca"], ssl_check_hostname=False, protocol=protocol)
    if cert:
        options.update(ssl_certfile=certs[f"{cert}_cert"], ssl_keyfile=certs[f"{cert}_key"])
    options.update(kwargs)
    return srv.client(port=int(srv.config["tls-port"]), **options)


def redis_cli(srv, certs, *args, cert="client"):
    argv = ["redis-cli", "-p", srv.config["tls-port"], "--tls", "--cacert", certs["ca"]]
    if cert:
        argv += ["--cert", certs[f"{cert}_cert"], "--key", certs[f"{cert}_key"]]
    return subprocess.run(argv + list(args), capture_output=True, text=True, timeout=30)


def test_redis_cli_and_redis_py_speak_tls_beside_the_plain_port(start_server, certs):
    srv = tls_server(start_server, certs)
    assert redis_cli(srv, certs, "PING").stdout.strip() == "PONG"
    entry = redis_cli(srv, certs, "XADD", "orders", "*", "item", "book").stdout.strip()
    for protocol in (2, 3):
        client = tls_client(srv, certs, protocol=protocol)
        assert client.xrange("orders")[0][0].decode() == entry
        client.xadd("orders", {"item": "pen"})
    plain = srv.client()
    assert plain.xlen("orders") == 3
    # A TLS client on the plain port, or a plain one on the TLS port, gets nowhere.
    with pytest.raises(redis.ConnectionError):
        srv.client(port=int(srv.config["tls-port"]), socket_timeout=3).ping()


@pytest.mark.parametrize("cert", [None, "untrusted", "expired"], ids=["missing", "untrusted", "expired"])
def test_a_client_without_a_trusted_valid_certificate_is_refused(start_server, certs, cert):
    srv = tls_server(start_server, certs)
    client = tls_client(srv, certs, cert=cert, socket_timeout=5)
    with pytest.raises((redis.ConnectionError, ssl.SSLError)):
        client.xadd("refused", {"f": "v"})
    run = redis_cli(srv, certs, "XADD", "refused", "*", "f", "v", cert=cert)
    assert run.returncode != 0 or "closed" in (run.stdout + run.stderr).lower() or "error" in (run.stdout + run.stderr).lower()
    # Nothing the refused client sent happened, and everyone else is served.
    assert tls_client(srv, certs).xlen("refused") == 0
    assert srv.client().ping()


def test_client_certificates_can_be_optional_or_off(start_server, certs):
    srv = tls_server(start_server, certs, tls_auth_clients="no")
    assert tls_client(srv, certs, cert=None).ping()
    optional = tls_server(start_server, certs, tls_auth_clients="optional")
    assert tls_client(optional, certs, cert=None).ping()
    assert tls_client(optional, certs).ping()
    with pytest.raises((redis.ConnectionError, ssl.SSLError)):
        tls_client(optional, certs, cert="untrusted", socket_timeout=5).ping()


def test_tls_protocols_limits_what_clients_may_use(start_server, certs):
    srv = tls_server(start_server, certs, tls_protocols="TLSv1.3")
    assert tls_client(srv, certs, ssl_min_version=ssl.TLSVersion.TLSv1_3).ping()
    context = ssl.create_default_context(cafile=certs["ca"])
    context.check_hostname = False
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certs["client_cert"], certs["client_key"])
    with socket.create_connection(("127.0.0.1", int(srv.config["tls-port"])), timeout=5) as raw:
        with pytest.raises(ssl.SSLError):
            context.wrap_socket(raw).do_handshake()


def test_certificates_are_replaced_under_load_without_a_restart(start_server, certs, tmp_path):
    srv = tls_server(start_server, certs)
    fresh = make_certificates(tmp_path / "fresh", server_name="spool-server-2")
    writer = tls_client(srv, certs)
    acknowledged = []
    errors = []
    stop = threading.Event()

    def write() -> None:
        try:
            while not stop.is_set():
                acknowledged.append(writer.xadd("load", {"n": str(len(acknowledged))}))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    admin = srv.client()
    # A broken file changes nothing: the old certificate still serves new clients.
    with pytest.raises(redis.ResponseError):
        admin.config_set("tls-cert-file", str(tmp_path / "no-such.crt"))
    assert tls_client(srv, certs).ping()
    admin.config_set("tls-cert-file", fresh["server_cert"], "tls-key-file", fresh["server_key"], "tls-ca-cert-file", fresh["ca"])
    # New clients now need the new CA (and a client certificate it signed) ...
    assert tls_client(srv, fresh).ping()
    with pytest.raises((redis.ConnectionError, ssl.SSLError)):
        tls_client(srv, certs, socket_timeout=5).ping()
    # ... while the connection made before goes on writing.
    count = len(acknowledged)
    while len(acknowledged) < count + 200 and not errors:
        pass
    stop.set()
    thread.join(10)
    assert not errors, errors
    assert admin.xlen("load") == len(acknowledged)
    assert [entry for entry, _ in admin.xrange("load")] == acknowledged


@pytest.mark.spool_only
def test_the_spool_cli_connects_over_tls(start_server, certs):
    from cli import spool

    srv = tls_server(start_server, certs)
    port = srv.config["tls-port"]
    tls = ["--tls", "--cacert", certs["ca"]]
    published = spool("publish", "tls-cli", "item", "book", "--port", port, *tls,
                      "--cert", certs["client_cert"], "--key", certs["client_key"])
    assert published.code == 0, published
    assert srv.client().xlen("tls-cli") == 1
    # Without a client certificate the server refuses the handshake.
    refused = spool("publish", "tls-cli", "item", "pen", "--port", port, *tls, "--connect-attempts", "1")
    assert refused.code != 0 and "TLS" in refused.err, refused
    # A CA that did not sign the server's certificate: the client refuses the server.
    untrusted = spool("publish", "tls-cli", "item", "pen", "--port", port, "--tls", "--cacert", certs["untrusted_cert"],
                      "--cert", certs["client_cert"], "--key", certs["client_key"], "--connect-attempts", "1")
    assert untrusted.code != 0, untrusted
    assert srv.client().xlen("tls-cli") == 1


def test_port_0_turns_the_plain_port_off(tmp_path, certs):
    """`port 0` with a tls-port: TLS only, as in Redis (INFO tcp_port shows the TLS port then). With
    no tls-port either,
    the server refuses to start: it would listen nowhere."""
    import time

    from conftest import REDIS_SERVER, SPOOLD
    tls_port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    tls = ["--tls-port", str(tls_port), "--tls-cert-file", certs["server_cert"], "--tls-key-file", certs["server_key"],
           "--tls-ca-cert-file", certs["ca"]]
    base = ([SPOOLD, "--port", "0", "--data-dir", str(data)] if IS_SPOOL
            else [REDIS_SERVER, "--port", "0", "--dir", str(data), "--save", "", "--daemonize", "no"])
    nowhere = subprocess.run(base, capture_output=True, text=True, timeout=30)
    assert nowhere.returncode != 0, nowhere
    assert ("listen nowhere" if IS_SPOOL else "not listen anywhere") in nowhere.stdout + nowhere.stderr
    proc = subprocess.Popen(base + tls, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        client = redis.Redis(port=tls_port, ssl=True, ssl_ca_certs=certs["ca"], ssl_check_hostname=False,
                             ssl_certfile=certs["client_cert"], ssl_keyfile=certs["client_key"], socket_timeout=5)
        deadline = time.monotonic() + 30
        while True:
            try:
                assert client.ping()
                break
            except redis.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "no TLS port"
                time.sleep(0.05)
        client.xadd("tls-only", {"k": "v"})
        assert client.xlen("tls-only") == 1
        info = client.info("server")
        assert info["tcp_port"] == tls_port
        if IS_SPOOL:
            assert info["listener0"] == {"name": "tls", "bind": "127.0.0.1", "port": tls_port}
            assert "listener1" not in info
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    if IS_SPOOL:
        assert f"ready on 127.0.0.1:{tls_port} (TLS only)" in err
