"""Evidence files: judged by their content, cleaned of metadata, stored outside the database.

A file is accepted when its bytes are a PDF, a JPEG or a PNG, whatever its name or declared type.
Images are rewritten losslessly without the segments that carry EXIF (location, camera, time) and
other embedded metadata, and without anything after the image's end (a phone's second picture or a
smuggled payload); pixels are never decoded, so a crafted image cannot exhaust memory.

Files live under `UPLOAD_DIR` (default `<instance>/uploads`) with random names. Writes and deletions
follow the database transaction: a file written in a transaction that rolls back is removed, and a
deletion takes effect once the transaction that recorded it commits (`sweep_orphans` removes what a
crash in between leaves behind).
"""
import os
import re
import secrets
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session, scoped_session

PDF, JPEG, PNG = "application/pdf", "image/jpeg", "image/png"
EXTENSIONS = {PDF: "pdf", JPEG: "jpg", PNG: "png"}
MAX_FILE_BYTES = 5 * 1024 * 1024
NAME = re.compile(r"^[0-9a-f]{32}\.(pdf|jpg|png)$")


class UnsupportedFile(ValueError):
    """Not a well-formed PDF, JPEG or PNG."""


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
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = target.with_name(f".{name}.part")
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
        return name

    def read(self, name: str) -> bytes | None:
        try:
            return self.path(name).read_bytes()
        except FileNotFoundError:
            return None

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def delete(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)

    def names(self):
        """(name, modified at) of every stored file."""
        if not self.root.is_dir():
            return
        for folder in self.root.iterdir():
            if folder.is_dir() and len(folder.name) == 2:
                for entry in folder.iterdir():
                    if NAME.match(entry.name):
                        yield entry.name, datetime.fromtimestamp(entry.stat().st_mtime, timezone.utc)


def store_for(config) -> FileStore:
    """The store configured by `UPLOAD_DIR` (default `<instance>/uploads`)."""
    root = config.get("UPLOAD_DIR") or os.path.join(current_app.instance_path, "uploads")
    return FileStore(Path(root))


def current_store() -> FileStore:
    return store_for(current_app.config)


# --- files follow the transaction ------------------------------------------------------------------

_KEY = "registry.evidence.files"


def _pending(session: Session | scoped_session) -> dict:
    if isinstance(session, scoped_session):
        session = session()
    if not session.in_transaction():
        session.begin()  # the transaction the file now belongs to
    return session.info.setdefault(_KEY, {"written": [], "deleted": []})


def written(session: Session, store: FileStore, name: str) -> None:
    """A file just written for this transaction: removed again unless the transaction commits."""
    _pending(session)["written"].append((store, name))


def delete_on_commit(session: Session, store: FileStore, name: str) -> None:
    """A file that no row refers to once this transaction commits: removed right after the commit."""
    _pending(session)["deleted"].append((store, name))


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending = session.info.pop(_KEY, None)
    if pending:
        for store, name in pending["deleted"]:
            store.delete(name)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction) -> None:
    if transaction.parent is not None:
        return
    pending = session.info.pop(_KEY, None)  # still here: the transaction did not commit
    if pending:
        for store, name in pending["written"]:
            store.delete(name)
