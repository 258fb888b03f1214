"""Self-signed certificates for the embedded services' TLS listeners, made at first start.

The Kafka broker's keystore comes from the JDK's own `keytool` (PKCS12, the CA file
clients trust exported beside it); PostgreSQL's PEM certificate and key from the
`cryptography` package. Both name the listening host in subjectAltName, so clients
can verify the hostname.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from paystream.runtime import processes

VALID_DAYS = 825


def subject_alt_names(host: str) -> list[str]:
    """keytool SAN entries for a listening host, always with the loopback names (pure)."""
    names = ["dns:localhost", "ip:127.0.0.1"]
    try:
        ipaddress.ip_address(host)
        entry = f"ip:{host}"
    except ValueError:
        entry = f"dns:{host}"
    return names if entry in names else [*names, entry]


def secret_file(path: Path) -> str:
    """The random secret kept in `path` (made on first use, readable by its owner only)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(24) + "\n")
    return path.read_text().strip()


def ensure_keystore(keytool: Path, folder: Path, host: str) -> tuple[Path, str, Path]:
    """A PKCS12 keystore with a self-signed key pair for `host` and its certificate as a
    PEM CA file; made once. Returns (keystore, its password, CA file)."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    keystore, ca_file = folder / "broker.p12", folder / "ca.pem"
    password = secret_file(folder / "keystore.password")
    if not keystore.exists():
        processes.run_checked(
            [str(keytool), "-genkeypair", "-alias", "paystream-kafka", "-keyalg", "RSA",
             "-keysize", "2048", "-validity", str(VALID_DAYS),
             "-dname", "CN=paystream-kafka, O=Paystream",
             "-ext", "SAN=" + ",".join(subject_alt_names(host)),
             "-keystore", str(keystore), "-storetype", "PKCS12",
             "-storepass", password, "-keypass", password, "-noprompt"],
            "making the Kafka broker's certificate with keytool")
        ca_file.unlink(missing_ok=True)
    if not ca_file.exists():
        processes.run_checked(
            [str(keytool), "-exportcert", "-rfc", "-alias", "paystream-kafka",
             "-keystore", str(keystore), "-storetype", "PKCS12", "-storepass", password,
             "-file", str(ca_file)],
            "exporting the Kafka broker's certificate")
    return keystore, password, ca_file


def self_signed_pem(common_name: str, host: str) -> tuple[bytes, bytes]:
    """A self-signed certificate and its unencrypted private key, both PEM, for `host`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    alt: list[x509.GeneralName] = []
    for entry in subject_alt_names(host):
        kind, value = entry.split(":", 1)
        alt.append(x509.IPAddress(ipaddress.ip_address(value)) if kind == "ip"
                   else x509.DNSName(value))
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem
