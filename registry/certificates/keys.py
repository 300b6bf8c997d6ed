"""The Ed25519 key that signs certificates, and its public JWK (RFC 8037) with an RFC 7638 `kid`.

The key comes from `CERTIFICATE_SIGNING_KEY` (PEM) when set; otherwise one is generated once and kept
in `<instance_path>/certificate_signing_key.pem` (mode 0600), so tokens survive restarts. It is loaded
once per app and cached in `app.extensions`.
"""
import base64
import hashlib
import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from functools import cached_property

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

log = logging.getLogger(__name__)

KEY_FILE = "certificate_signing_key.pem"
EXTENSION = "registry.certificates"
_lock = threading.Lock()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class CertificateKey:
    private_key: Ed25519PrivateKey

    @cached_property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @cached_property
    def x(self) -> str:
        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return b64url(raw)

    @cached_property
    def kid(self) -> str:
        """RFC 7638 thumbprint: SHA-256 of the required members, sorted, without whitespace."""
        canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": self.x}, separators=(",", ":"), sort_keys=True)
        return b64url(hashlib.sha256(canonical.encode("ascii")).digest())

    def public_jwk(self) -> dict:
        return {"kty": "OKP", "crv": "Ed25519", "x": self.x, "kid": self.kid, "use": "sig", "alg": "EdDSA"}

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())

    @classmethod
    def generate(cls) -> "CertificateKey":
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes | str, source: str = "CERTIFICATE_SIGNING_KEY") -> "CertificateKey":
        if isinstance(pem, str):
            pem = pem.replace("\\n", "\n").encode()  # a PEM put in one environment line
        try:
            key = serialization.load_pem_private_key(pem.strip() + b"\n", password=None)
        except (ValueError, TypeError) as error:
            raise RuntimeError(f"{source} is not an unencrypted PEM private key: {error}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise RuntimeError(f"{source} must be an Ed25519 private key")
        return cls(key)


def load_or_create(pem: str | bytes | None, instance_path: str) -> CertificateKey:
    """The configured key, else the instance's key file, created on first use."""
    if pem:
        return CertificateKey.from_pem(pem)
    path = os.path.join(instance_path, KEY_FILE)
    if not os.path.exists(path):
        _create_key_file(path)
    mode = os.stat(path).st_mode & 0o777
    if mode & 0o077:
        log.warning("%s is readable by others (mode %o); it should be 0600", path, mode)
    with open(path, "rb") as f:
        return CertificateKey.from_pem(f.read(), source=path)


def _create_key_file(path: str) -> None:
    """Writes a new key beside `path` and links it into place: atomic, and when several workers
    start at once the first link wins and everyone reads that one."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(CertificateKey.generate().private_pem())
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
            log.info("generated a certificate signing key in %s", path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)


def app_key(app) -> CertificateKey:
    """The app's signing key, loaded on first use and then kept for the app's lifetime."""
    key = app.extensions.get(EXTENSION)
    if key is None:
        with _lock:
            key = app.extensions.get(EXTENSION)
            if key is None:
                key = load_or_create(app.config.get("CERTIFICATE_SIGNING_KEY"), app.instance_path)
                app.extensions[EXTENSION] = key
    return key
