"""Files judged by content, images without their metadata, storage that follows the transaction."""
import io

import pytest
from PIL import Image

from registry.evidence import files
from registry.evidence.files import JPEG, PDF, PNG, FileStore, UnsupportedFile, clean
from registry.extensions import db
from tests.evidence.images import GPS_IFD, gif, jpeg_with_exif, pdf, plain_jpeg, png_with_metadata


def _decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_loses_exif_gps_and_comments_but_keeps_every_pixel(progressive):
    original = jpeg_with_exif(progressive=progressive)
    assert Image.open(io.BytesIO(original)).getexif().get(GPS_IFD)  # the test photo really has GPS
    assert b"Exif" in original and b"secret comment" in original
    kind, stored = clean(original)
    assert kind == JPEG
    assert b"Exif" not in stored and b"TestCam" not in stored and b"secret comment" not in stored
    image = _decoded(stored)
    assert not image.getexif() and "exif" not in image.info and "comment" not in image.info
    assert image.tobytes() == _decoded(original).tobytes()  # lossless: same pixels


def test_jpeg_drops_anything_after_the_end_of_the_image():
    hidden = b"<html><script>alert(1)</script>" + jpeg_with_exif()  # a second picture, or a payload
    kind, stored = clean(jpeg_with_exif() + hidden)
    assert kind == JPEG and b"<script>" not in stored and stored.count(b"Exif") == 0
    assert stored.endswith(b"\xff\xd9")
    _decoded(stored)


def test_png_loses_exif_and_text_chunks():
    original = png_with_metadata()
    assert b"eXIf" in original and b"tEXt" in original and b"iTXt" in original
    kind, stored = clean(original + b"trailing garbage")
    assert kind == PNG
    for marker in (b"eXIf", b"tEXt", b"iTXt", b"TestCam", b"xmpmeta", b"trailing"):
        assert marker not in stored
    assert _decoded(stored).tobytes() == _decoded(original).tobytes()


def test_pdf_is_kept_as_it_is():
    assert clean(pdf()) == (PDF, pdf())


@pytest.mark.parametrize("data", [
    b"", b"hello", b"<html><body>not a pdf</body></html>", b"%PDF-1.4 but never ends",
    b"\xff\xd8\xff", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", b"\x89PNG\r\n\x1a\n", gif(),
    b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"PK\x03\x04 a zip", b"MZ\x90\x00 an exe",
], ids=["empty", "text", "html", "pdf-truncated", "jpeg-magic-only", "jpeg-truncated", "png-magic-only",
        "gif", "svg", "zip", "exe"])
def test_anything_else_is_unsupported(data):
    with pytest.raises(UnsupportedFile):
        clean(data)


def test_truncated_or_corrupted_images_are_unsupported():
    photo, picture = plain_jpeg(), png_with_metadata()
    for broken in (photo[:len(photo) // 2], photo[:-2], picture[:-20],
                   picture[:40] + bytes([picture[40] ^ 0xFF]) + picture[41:]):  # a wrong CRC
        with pytest.raises(UnsupportedFile):
            clean(broken)


def test_a_png_header_on_a_jpeg_body_is_unsupported():
    with pytest.raises(UnsupportedFile):
        clean(b"\x89PNG\r\n\x1a\n" + plain_jpeg())


def test_store_names_are_random_and_checked(store):
    a, b = store.save(b"one", PDF), store.save(b"two", PDF)
    assert a != b and a.endswith(".pdf") and store.read(a) == b"one"
    if isinstance(store, FileStore):
        assert (store.path(a).stat().st_mode & 0o777) == 0o600
    for bad in ("../../etc/passwd", "x.pdf", a.replace(".pdf", ".html"), "", None):
        with pytest.raises(ValueError):
            store.read(bad)
        with pytest.raises(ValueError):
            store.delete(bad)
    assert {name for name, _ in store.names()} == {a, b}
    store.delete(a)
    store.delete(a)  # already gone: nothing to do
    assert store.read(a) is None and not store.exists(a) and store.exists(b)


def test_files_follow_the_transaction(store):
    kept = store.save(b"kept", PDF)
    files.written(db.session, store, kept)
    db.session.commit()  # (the test's savepoint)
    assert store.exists(kept)

    lost = store.save(b"lost", PDF)
    files.written(db.session, store, lost)
    db.session.rollback()
    assert not store.exists(lost)

    files.delete_on_commit(db.session, store, kept)
    db.session.rollback()  # the deletion was not committed: the file stays
    assert store.exists(kept)
    files.delete_on_commit(db.session, store, kept)
    db.session.commit()
    assert not store.exists(kept)
