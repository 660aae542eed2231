"""Certificates for the TLS tests, made with the `cryptography` package: a CA, a server
certificate for 127.0.0.1/localhost, client certificates the CA signed (one valid, one expired),
and a client certificate from a CA the server does not trust."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Dict, Optional, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
import ipaddress


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: Path, key, cert) -> Tuple[str, str]:
    cert_path = path.with_suffix(".crt")
    key_path = path.with_suffix(".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def _ca(name: str):
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _leaf(ca_key, ca_cert, name: str, server: bool, expired: bool = False, client_too: bool = False):
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = (now - datetime.timedelta(days=10), now - datetime.timedelta(days=1)) if expired else (
        now - datetime.timedelta(days=1), now + datetime.timedelta(days=30))
    builder = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False).add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH] + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client_too else [])),
                critical=False)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def make_certificates(directory: Path, server_name: str = "spool-server") -> Dict[str, str]:
    """Writes every certificate and key into `directory`; returns their paths by role."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _ca("spool-test-ca")
    paths: Dict[str, str] = {}
    paths["ca"], _ = _write(directory / "ca", ca_key, ca_cert)
    paths["server_cert"], paths["server_key"] = _write(directory / "server", *_leaf(ca_key, ca_cert, server_name, True))
    # A cluster node's: it accepts connections from its peers and opens connections to them.
    paths["node_cert"], paths["node_key"] = _write(directory / "node", *_leaf(ca_key, ca_cert, "spool-node", True, client_too=True))
    paths["client_cert"], paths["client_key"] = _write(directory / "client", *_leaf(ca_key, ca_cert, "client", False))
    paths["expired_cert"], paths["expired_key"] = _write(
        directory / "expired", *_leaf(ca_key, ca_cert, "expired-client", False, expired=True))
    other_key, other_cert = _ca("some-other-ca")
    paths["untrusted_cert"], paths["untrusted_key"] = _write(
        directory / "untrusted", *_leaf(other_key, other_cert, "stranger", False))
    return paths
