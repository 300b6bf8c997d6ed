"""Primary keys: time-ordered UUIDs (version 7), opaque to clients.

Time order keeps B-tree inserts local at 100 M rows, unlike random UUIDs; the random part keeps ids
unguessable, unlike a sequence.
"""
import os
import time
import uuid


def new_id() -> uuid.UUID:
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = ((ms & ((1 << 48) - 1)) << 80) | (0x7 << 76) | (((rand >> 68) & 0xFFF) << 64) \
        | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value)


# A random hex digit → a nibble with the variant bits 10 and two of its random bits.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def new_id_texts(count: int) -> list[str]:
    """`count` ids like `new_id()`'s (one millisecond, 74 random bits each), in canonical text form:
    for bulk writers that hand text to COPY, where building UUID objects would cost more than the copy."""
    ms = f"{(time.time_ns() // 1_000_000) & ((1 << 48) - 1):012x}"
    head, variant = f"{ms[:8]}-{ms[8:]}-7", _VARIANT
    rand = os.urandom(count * 10).hex()
    return [f"{head}{rand[i:i + 3]}-{variant[rand[i + 3]]}{rand[i + 4:i + 7]}-{rand[i + 7:i + 19]}"
            for i in range(0, count * 20, 20)]
