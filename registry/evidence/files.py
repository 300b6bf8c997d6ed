"""Evidence files: judged by their content, cleaned of metadata, stored outside the database.

A file is accepted when its bytes are a PDF, a JPEG or a PNG, whatever its name or declared type.
Images are rewritten losslessly without the segments that carry EXIF (location, camera, time) and
other embedded metadata, and without anything after the image's end (a phone's second picture or a
smuggled payload); pixels are never decoded, so a crafted image cannot exhaust memory.

Files live under `UPLOAD_DIR` (default `<instance>/uploads`) with random names, or with
`EVIDENCE_STORE=s3://bucket/prefix` as objects in an S3-compatible store (`S3Store`, the same
interface), so that every app host serves the same files. Writes and deletions follow the database
transaction: a file written in a transaction that rolls back is removed, and a deletion takes effect
once the transaction that recorded it commits (`sweep_orphans` removes what a crash or an unreachable
store in between leaves behind). A store that cannot be reached, or refuses a write, is
`StorageUnavailable`: 503 `storage_unavailable` with Retry-After, and the request writes nothing.
"""
import base64
import functools
import hashlib
import logging
import os
import re
import secrets
import threading
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session, scoped_session

from registry.errors import Problem

log = logging.getLogger(__name__)

PDF, JPEG, PNG = "application/pdf", "image/jpeg", "image/png"
EXTENSIONS = {PDF: "pdf", JPEG: "jpg", PNG: "png"}
MAX_FILE_BYTES = 5 * 1024 * 1024
NAME = re.compile(r"^[0-9a-f]{32}\.(pdf|jpg|png)$")


class UnsupportedFile(ValueError):
    """Not a well-formed PDF, JPEG or PNG."""


class StorageUnavailable(Problem):
    """The file store cannot be reached or refused the operation: try again shortly."""

    def __init__(self):
        super().__init__(503, "storage_unavailable", headers={"Retry-After": "5"})


def clean(data: bytes) -> tuple[str, bytes]:
    """(content type, bytes to store) for an upload, judged by its content; images lose their
    metadata. Raises UnsupportedFile for anything else."""
    if data.startswith(b"%PDF-"):
        if b"%%EOF" not in data[-1024:]:
            raise UnsupportedFile("truncated PDF")
        return PDF, data
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG, strip_jpeg(data)
    if data.startswith(PNG_SIGNATURE):
        return PNG, strip_png(data)
    raise UnsupportedFile("not a PDF, JPEG or PNG")


# --- JPEG ------------------------------------------------------------------------------------------

SOI, EOI, SOS, COM = 0xD8, 0xD9, 0xDA, 0xFE
APP0, APP2, APP14, APP15 = 0xE0, 0xE2, 0xEE, 0xEF
FRAME_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _keep_jpeg_segment(marker: int, payload: bytes) -> bool:
    """APPn and comments carry metadata (APP1: EXIF and XMP; APP13: IPTC; APP2 MPF: more pictures);
    only those a decoder needs stay: JFIF (APP0), the colour profile (APP2 ICC_PROFILE) and Adobe's
    colour transform (APP14)."""
    if marker == COM:
        return False
    if APP0 <= marker <= APP15:
        return (marker == APP0 and payload[:5] in (b"JFIF\0", b"JFXX\0")) \
            or (marker == APP2 and payload.startswith(b"ICC_PROFILE\0")) \
            or (marker == APP14 and payload.startswith(b"Adobe"))
    return True


def strip_jpeg(data: bytes) -> bytes:
    """The JPEG without its metadata segments and without anything after its end (EOI)."""
    n = len(data)
    out = bytearray(b"\xff\xd8")
    i = 2
    seen_frame = seen_scan = False
    while True:
        if i >= n or data[i] != 0xFF:
            raise UnsupportedFile("broken JPEG marker")
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            raise UnsupportedFile("truncated JPEG")
        marker = data[i]
        i += 1
        if marker == EOI:
            if not (seen_frame and seen_scan):
                raise UnsupportedFile("JPEG without an image")
            out += b"\xff\xd9"
            return bytes(out)  # whatever follows the end of the image is dropped
        if marker == SOI or marker == 0x00:
            raise UnsupportedFile("broken JPEG marker")
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # standalone markers
            out += bytes((0xFF, marker))
            continue
        if i + 2 > n:
            raise UnsupportedFile("truncated JPEG")
        length = int.from_bytes(data[i:i + 2], "big")
        if length < 2 or i + length > n:
            raise UnsupportedFile("truncated JPEG segment")
        payload = data[i + 2:i + length]
        i += length
        if marker in FRAME_MARKERS:
            seen_frame = True
        if _keep_jpeg_segment(marker, payload):
            out += bytes((0xFF, marker)) + data[i - length:i]
        if marker == SOS:
            if not seen_frame:
                raise UnsupportedFile("JPEG scan before its frame")
            seen_scan = True
            i = _copy_entropy_coded(data, i, out)


def _copy_entropy_coded(data: bytes, start: int, out: bytearray) -> int:
    """Copies a scan's entropy-coded bytes (where 0xFF is followed by 0x00 or a restart marker)
    and answers where the next marker starts."""
    j = start
    while True:
        k = data.find(b"\xff", j)
        if k < 0 or k + 1 >= len(data):
            raise UnsupportedFile("truncated JPEG scan")
        following = data[k + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            j = k + 2
            continue
        if following == 0xFF:
            j = k + 1
            continue
        out += data[start:k]
        return k


# --- PNG -------------------------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Text chunks hold XMP and "Raw profile type exif"; eXIf is EXIF itself; tIME is when it was made.
PNG_METADATA = {b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"}


def strip_png(data: bytes) -> bytes:
    """The PNG without metadata chunks and without anything after IEND; every chunk's CRC checked."""
    n = len(data)
    out = bytearray(PNG_SIGNATURE)
    i = len(PNG_SIGNATURE)
    first, seen_data = True, False
    while True:
        if i + 12 > n:
            raise UnsupportedFile("truncated PNG")
        length = int.from_bytes(data[i:i + 4], "big")
        kind = data[i + 4:i + 8]
        end = i + 12 + length
        if length > 0x7FFFFFFF or end > n or not kind.isalpha():
            raise UnsupportedFile("broken PNG chunk")
        if zlib.crc32(data[i + 4:end - 4]) != int.from_bytes(data[end - 4:end], "big"):
            raise UnsupportedFile("PNG chunk with a wrong CRC")
        if first and kind != b"IHDR":
            raise UnsupportedFile("PNG without IHDR")
        first = False
        seen_data = seen_data or kind == b"IDAT"
        if kind not in PNG_METADATA:
            out += data[i:end]
        i = end
        if kind == b"IEND":
            if not seen_data:
                raise UnsupportedFile("PNG without image data")
            return bytes(out)


# --- storage ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FileStore:
    """A folder of files named `<32 hex>.<ext>`, fanned out by their first two characters."""

    root: Path

    def path(self, name: str) -> Path:
        if not NAME.match(name or ""):
            raise ValueError(f"not a stored file name: {name!r}")
        return self.root / name[:2] / name

    def save(self, data: bytes, content_type: str) -> str:
        """Writes the bytes under a new random name (atomically, mode 0600) and answers the name."""
        name = f"{secrets.token_hex(16)}.{EXTENSIONS[content_type]}"
        target = self.path(name)
        temporary = target.with_name(f".{name}.part")
        try:
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(temporary, target)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
        except OSError as error:  # a full or failing disk, a folder that cannot be made
            log.warning("evidence store: cannot write %s: %s", name, error)
            raise StorageUnavailable() from error
        return name

    def read(self, name: str) -> bytes | None:
        try:
            return self.path(name).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            log.warning("evidence store: cannot read %s: %s", name, error)
            raise StorageUnavailable() from error

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def delete(self, name: str) -> None:
        try:
            self.path(name).unlink(missing_ok=True)
        except OSError as error:
            log.warning("evidence store: cannot delete %s: %s", name, error)
            raise StorageUnavailable() from error

    def names(self):
        """(name, modified at) of every stored file."""
        if not self.root.is_dir():
            return
        for folder in self.root.iterdir():
            if folder.is_dir() and len(folder.name) == 2:
                for entry in folder.iterdir():
                    if NAME.match(entry.name):
                        yield entry.name, datetime.fromtimestamp(entry.stat().st_mtime, timezone.utc)


# Object keys are the prefix and the name; S3 bucket names are 3-63 of a-z 0-9 . - (no "..").
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MISSING = {"NoSuchKey", "404", "NotFound"}


def parse_store_url(url: str) -> tuple[str, str]:
    """`s3://bucket/prefix` → (bucket, prefix ending in "/" or empty). Raises ValueError."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not BUCKET.match(parts.netloc or "") or ".." in parts.netloc \
            or parts.query or parts.fragment:
        raise ValueError(f"EVIDENCE_STORE must be s3://bucket/prefix, not {url!r}")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


@dataclass(frozen=True)
class S3Store:
    """Objects `<prefix><32 hex>.<ext>` in one bucket of an S3-compatible store; the same interface
    as FileStore. An unreachable store, a missing bucket or a refused operation is logged and raised
    as StorageUnavailable; a missing object is None (read) or nothing to do (delete)."""

    bucket: str
    prefix: str
    client: object = field(compare=False, repr=False)

    def key(self, name: str) -> str:
        if not NAME.match(name or ""):
            raise ValueError(f"not a stored file name: {name!r}")
        return self.prefix + name

    def _unavailable(self, operation: str, error: Exception) -> StorageUnavailable:
        log.warning("evidence store s3://%s/%s: %s failed: %s", self.bucket, self.prefix, operation, error)
        return StorageUnavailable()

    def save(self, data: bytes, content_type: str) -> str:
        """Puts the bytes under a new random name (the store checks them against their MD5: a
        damaged upload is refused whole) and answers the name."""
        from botocore.exceptions import BotoCoreError, ClientError
        name = f"{secrets.token_hex(16)}.{EXTENSIONS[content_type]}"
        digest = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.key(name), Body=data, ContentType=content_type,
                                   ContentMD5=digest)
        except (BotoCoreError, ClientError) as error:
            raise self._unavailable("put", error) from error
        return name

    def read(self, name: str) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(name))["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in MISSING:
                return None
            raise self._unavailable("get", error) from error
        except BotoCoreError as error:
            raise self._unavailable("get", error) from error

    def exists(self, name: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(name))
            return True
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in MISSING:
                return False
            raise self._unavailable("head", error) from error
        except BotoCoreError as error:
            raise self._unavailable("head", error) from error

    def delete(self, name: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key(name))  # absent: nothing to do
        except (BotoCoreError, ClientError) as error:
            raise self._unavailable("delete", error) from error

    def names(self):
        """(name, modified at) of every stored object under the prefix."""
        from botocore.exceptions import BotoCoreError, ClientError
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        try:
            for page in pages:
                for item in page.get("Contents", ()):
                    name = item["Key"][len(self.prefix):]
                    if NAME.match(name):
                        yield name, item["LastModified"]
        except (BotoCoreError, ClientError) as error:
            raise self._unavailable("list", error) from error

    def check(self) -> None:
        """At start-up: a bucket the store says does not exist, or may not be used, is a
        configuration error (RuntimeError naming EVIDENCE_STORE); a store that does not answer is
        only logged: the app starts, and evidence files answer 503 until it is back."""
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in ("404", "NoSuchBucket", "403", "AccessDenied"):
                raise RuntimeError(f"EVIDENCE_STORE names the bucket {self.bucket!r}, which "
                                   f"{'does not exist' if code in ('404', 'NoSuchBucket') else 'may not be used'}"
                                   f" at the store (S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID): create it or "
                                   f"correct the setting") from None
            log.warning("evidence store s3://%s: not ready at start-up: %s", self.bucket, error)
        except BotoCoreError as error:
            log.warning("evidence store s3://%s: unreachable at start-up: %s", self.bucket, error)


_CLIENT_LOCK = threading.Lock()


@functools.lru_cache(maxsize=16)
def _s3_client(endpoint: str | None, key_id: str | None, secret: str | None, region: str, pid: int):
    """One client per process and setting: making one costs a few hundred milliseconds, and one is
    safe to share between threads; the pid keeps a client made before gunicorn forks out of the
    workers."""
    import boto3
    from botocore.config import Config as BotoConfig
    settings = BotoConfig(
        connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 2},
        # Plain Content-MD5 integrity, which every S3-compatible store understands (the newer
        # CRC checksums are not); path-style addressing for stores other than AWS.
        request_checksum_calculation="when_required", response_checksum_validation="when_required",
        s3={"addressing_style": "path"} if endpoint else None)
    credentials = {"aws_access_key_id": key_id, "aws_secret_access_key": secret} if key_id and secret else {}
    with _CLIENT_LOCK:  # a boto3 session makes one client at a time
        return boto3.session.Session().client("s3", endpoint_url=endpoint, region_name=region, config=settings,
                                              **credentials)


def store_for(config) -> FileStore | S3Store:
    """The store configured by `EVIDENCE_STORE` (s3://bucket/prefix), else the folder `UPLOAD_DIR`
    (default `<instance>/uploads`)."""
    if config.get("EVIDENCE_STORE"):
        bucket, prefix = parse_store_url(config["EVIDENCE_STORE"])
        return S3Store(bucket, prefix, _s3_client(config.get("S3_ENDPOINT_URL"), config.get("AWS_ACCESS_KEY_ID"),
                                                  config.get("AWS_SECRET_ACCESS_KEY"),
                                                  config.get("AWS_REGION") or "us-east-1", os.getpid()))
    root = config.get("UPLOAD_DIR") or os.path.join(current_app.instance_path, "uploads")
    return FileStore(Path(root))


def check_store(config) -> None:
    """create_app: a malformed EVIDENCE_STORE or a bucket that does not exist stops the start."""
    if config.get("EVIDENCE_STORE"):
        try:
            parse_store_url(config["EVIDENCE_STORE"])
        except ValueError as error:
            raise RuntimeError(str(error)) from None
        store_for(config).check()


def current_store() -> "Store":
    return store_for(current_app.config)


Store = FileStore | S3Store


# --- files follow the transaction ------------------------------------------------------------------

_KEY = "registry.evidence.files"


def _pending(session: Session | scoped_session) -> dict:
    if isinstance(session, scoped_session):
        session = session()
    if not session.in_transaction():
        session.begin()  # the transaction the file now belongs to
    return session.info.setdefault(_KEY, {"written": [], "deleted": []})


def written(session: Session, store: FileStore | S3Store, name: str) -> None:
    """A file just written for this transaction: removed again unless the transaction commits."""
    _pending(session)["written"].append((store, name))


def delete_on_commit(session: Session, store: FileStore | S3Store, name: str) -> None:
    """A file that no row refers to once this transaction commits: removed right after the commit."""
    _pending(session)["deleted"].append((store, name))


def _remove(store, name: str, why: str) -> None:
    """Removal after the transaction's end never fails the request: a store that cannot be reached
    leaves the file to `sweep-uploads` (no row refers to it)."""
    try:
        store.delete(name)
    except StorageUnavailable:
        log.warning("evidence file %s (%s) left for sweep-uploads: the store is unavailable", name, why)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending = session.info.pop(_KEY, None)
    if pending:
        for store, name in pending["deleted"]:
            _remove(store, name, "deleted by a committed change")


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction) -> None:
    if transaction.parent is not None:
        return
    pending = session.info.pop(_KEY, None)  # still here: the transaction did not commit
    if pending:
        for store, name in pending["written"]:
            _remove(store, name, "written by a transaction that rolled back")
