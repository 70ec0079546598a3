"""zlib's CRC-32, one byte at a time from a 256-entry table, inside compiled kernels.

A *register* is the running value: it starts at :data:`START`, each byte goes through
:func:`step`, and ``zlib.crc32(data) == register ^ MASK`` at the end. Starting from the
register after a prefix (:func:`register_after`) hashes ``prefix + data`` without reading
the prefix again.
"""

from __future__ import annotations

import zlib

import numpy as np

from prox_tasks.models.native import kernel

POLY = 0xEDB88320
MASK = 0xFFFFFFFF
START = MASK  # the register before any byte


def _byte_table() -> np.ndarray:
    t = np.arange(256, dtype=np.int64)
    for _ in range(8):
        t = np.where(t & 1, (t >> 1) ^ POLY, t >> 1)
    return t


# int64 entries: registers stay below 2**32 and int64 arithmetic needs no casts in kernels
TABLE = _byte_table()


@kernel(inline=True)
def step(register, byte, table):
    """The register after one more byte."""
    return table[(register ^ byte) & 0xFF] ^ (register >> 8)


def register_after(prefix: bytes) -> int:
    """The register after running ``prefix`` from the start."""
    return zlib.crc32(prefix) ^ MASK
