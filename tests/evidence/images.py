"""Test files made on the spot: photos with EXIF (and GPS), PNGs with metadata chunks, PDFs."""
import io
import struct
import zlib

from PIL import Image

GPS_IFD = 0x8825


def jpeg_with_exif(size=(64, 48), *, progressive=False, trailer: bytes = b"") -> bytes:
    image = Image.new("RGB", size, (200, 80, 40))
    for x in range(size[0]):
        image.putpixel((x, x % size[1]), (10, 200, 30))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0132] = "2025:05:01 10:00:00"  # DateTime
    exif[GPS_IFD] = {1: "N", 2: (35.0, 41.0, 22.0), 3: "E", 4: (139.0, 41.0, 30.0)}  # 東京
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90, progressive=progressive, comment=b"secret comment")
    return out.getvalue() + trailer


def plain_jpeg(size=(32, 32)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(out, "JPEG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_metadata(size=(20, 10)) -> bytes:
    image = Image.new("RGB", size, (0, 120, 255))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif[GPS_IFD] = {1: "N", 2: (35.0, 41.0, 22.0)}
    out = io.BytesIO()
    image.save(out, "PNG", exif=exif)
    data = out.getvalue()
    # add text chunks (XMP and a comment) right after IHDR
    ihdr_end = 8 + 12 + 13
    extra = _chunk(b"tEXt", b"Comment\x00lat 35.68") + \
        _chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00<x:xmpmeta>GPS</x:xmpmeta>")
    return data[:ihdr_end] + extra + data[ihdr_end:]


def pdf(size: int | None = None) -> bytes:
    """A small PDF; `size` pads it (inside a comment) to exactly that many bytes."""
    head = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    tail = b"trailer<</Root 1 0 R>>\n%%EOF\n"
    if size is None:
        return head + tail
    padding = size - len(head) - len(tail) - 2
    return head + b"%" + b"x" * padding + b"\n" + tail


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, "GIF")
    return out.getvalue()
