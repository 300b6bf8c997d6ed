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


def ascending_ids(count: int) -> list[bytes]:
    """`count` ids of this millisecond (16 bytes each, `uuid.UUID(bytes=…)`'s), in ascending order
    without sorting them: rand_a holds each id's place in the batch, 12 bits of sub-millisecond order
    (RFC 9562 §6.2, method 3), so a B-tree takes them at one edge; ids sharing a place (more than
    4096 in the batch) come in random order; 62 random bits each. For bulk writers: no UUID objects,
    and no sort of many values (which would hold the GIL a writer thread waits on)."""
    ms = ((time.time_ns() // 1_000_000) & ((1 << 48) - 1)).to_bytes(6, "big")
    heads = [ms + place for place in _VERSION_AND_PLACE]
    rand = os.urandom(count * 8)
    return [heads[(i << 12) // count] + _VARIANT_AND_RANDOM[rand[j]] + rand[j + 1:j + 8]
            for i, j in zip(range(count), range(0, count * 8, 8))]


_VERSION_AND_PLACE = [(0x7000 | place).to_bytes(2, "big") for place in range(1 << 12)]  # version 7, rand_a
_VARIANT_AND_RANDOM = [bytes((0b1000_0000 | byte & 0b0011_1111,)) for byte in range(256)]  # variant 10, 6 random bits
