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
_PLACES = [f"{place:03x}" for place in range(1 << 12)]  # rand_a's text for each place in a batch


def ascending_id_texts(count: int) -> list[str]:
    """`count` ids of this millisecond in ascending order, without sorting them (a sort of many
    strings holds the GIL, which a bulk writer's thread waits on): rand_a holds each id's place in
    the batch, 12 bits of sub-millisecond order (RFC 9562 §6.2, method 3), so a B-tree takes them
    at one edge; ids sharing a place (more than 4096 in the batch) come in random order. 62 random
    bits each, canonical text form."""
    ms = f"{(time.time_ns() // 1_000_000) & ((1 << 48) - 1):012x}"
    head, variant, places = f"{ms[:8]}-{ms[8:]}-7", _VARIANT, _PLACES
    rand = os.urandom(count * 8).hex()
    return [f"{head}{places[(i << 12) // count]}-{variant[rand[j]]}{rand[j + 1:j + 4]}-{rand[j + 4:j + 16]}"
            for i, j in zip(range(count), range(0, count * 16, 16))]
