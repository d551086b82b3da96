"""The cluster's stand-in for the public web PKI: one CA per run, trusted by every host from boot.

In production the site's certificate chains to a public CA that Debian already trusts, so the app
hosts can fetch the identity provider's keys through the edge and a worker can reach a customer's
webhook receiver over TLS. The cluster has no internet, so the harness makes a CA for the run, adds
it to every host's trust store before it boots, and plants it as the root of Caddy's internal CA on
the edge: ``tls internal`` then issues the site's certificate under it. Whatever else the run serves
over TLS (the webhook receiver on the internet host) gets a certificate from the same CA.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from deploy.cluster.config import STATE_DIR

PKI_DIR = STATE_DIR / "pki"
ROOT_CERT = PKI_DIR / "root.crt"
ROOT_KEY = PKI_DIR / "root.key"
# Where Caddy keeps its internal CA (the caddy user's $HOME is /var/lib/caddy).
CADDY_HOME = Path("var/lib/caddy")
CADDY_CA = CADDY_HOME / ".local/share/caddy/pki/authorities/local"
SYSTEM_BUNDLE = Path("etc/ssl/certs/ca-certificates.crt")
# update-ca-certificates keeps what is here when a package or role rebuilds the bundle.
LOCAL_CERT = Path("usr/local/share/ca-certificates/shipyard-cluster.crt")
VALID_DAYS = 30
_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    key_cert_sign=True,
    crl_sign=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    encipher_only=False,
    decipher_only=False,
)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    pkcs8 = serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def ensure_ca() -> None:
    """Make the run's root CA (an EC P-256 key) unless this run already has one."""
    if ROOT_CERT.exists() and ROOT_KEY.exists():
        return
    PKI_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = _name("Shipyard cluster root CA")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    ROOT_KEY.write_bytes(_pem_key(key))
    ROOT_KEY.chmod(0o600)
    ROOT_CERT.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def issue(dns_name: str, directory: Path) -> tuple[Path, Path]:
    """A server certificate for ``dns_name`` signed by the run's CA; return (certificate, key) files."""
    ensure_ca()
    root_key = serialization.load_pem_private_key(ROOT_KEY.read_bytes(), password=None)
    root = x509.load_pem_x509_certificate(ROOT_CERT.read_bytes())
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)  # noqa: S101 (ensure_ca writes an EC key)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(dns_name))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_file, key_file = directory / f"{dns_name}.crt", directory / f"{dns_name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(_pem_key(key))
    key_file.chmod(0o600)
    return cert_file, key_file


def trust(upper: Path, root: Path) -> None:
    """Add the run's CA to the host's trust store (its overlay's upper layer), as Debian would."""
    ensure_ca()
    ca = ROOT_CERT.read_bytes()
    (upper / LOCAL_CERT).parent.mkdir(parents=True, exist_ok=True)
    (upper / LOCAL_CERT).write_bytes(ca)
    (upper / SYSTEM_BUNDLE).parent.mkdir(parents=True, exist_ok=True)
    (upper / SYSTEM_BUNDLE).write_bytes((root / SYSTEM_BUNDLE).read_bytes() + ca)


def plant_caddy_root(upper: Path, root: Path) -> None:
    """Make the run's CA the root of Caddy's internal CA on the edge (Caddy makes its intermediate)."""
    ensure_ca()
    home = root / CADDY_HOME
    owner = home.stat()
    # An upper-layer directory hides the lower one's owner and mode: give each Caddy's own.
    (upper / CADDY_HOME).mkdir(parents=True, exist_ok=True)
    os.chown(upper / CADDY_HOME, owner.st_uid, owner.st_gid)
    (upper / CADDY_HOME).chmod(owner.st_mode & 0o7777)
    directory = upper / CADDY_HOME
    for part in CADDY_CA.relative_to(CADDY_HOME).parts:
        directory /= part
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chown(directory, owner.st_uid, owner.st_gid)
    for name, source in (("root.crt", ROOT_CERT), ("root.key", ROOT_KEY)):
        target = directory / name
        target.write_bytes(source.read_bytes())
        target.chmod(0o600)
        os.chown(target, owner.st_uid, owner.st_gid)
