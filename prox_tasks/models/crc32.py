"""zlib's CRC-32 of many byte strings at once, with numpy.

CRC-32 is affine over GF(2): running bytes ``data`` through the register from a start value
``r`` gives ``zero_shift(r, len(data)) ^ run(data, 0)``. So each word's bytes are run once
from zero (:func:`registers`, one numpy step per byte position for all words together) and
the hashed features built from words — the word itself, ``"f:" + word``, ``word + " " +
next`` — are combined from those registers without touching their bytes again.

A *register* is zlib's internal value: ``zlib.crc32(data, v) == ~run(data, ~v)``.
"""

from __future__ import annotations

import zlib

import numpy as np

POLY = 0xEDB88320
MASK = 0xFFFFFFFF
MAX_SHIFT = 64  # zero runs up to this many bytes are one table lookup per register byte


def _byte_table() -> np.ndarray:
    t = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        t = np.where(t & 1, (t >> 1) ^ np.uint32(POLY), t >> 1).astype(np.uint32)
    return t


TABLE = _byte_table()


def _shift_tables() -> np.ndarray:
    # row n: where each register byte value (256 per byte lane, 4 lanes) goes after n zero bytes
    lanes = np.arange(256, dtype=np.uint32)[None, :] << (8 * np.arange(4, dtype=np.uint32))[:, None]
    x = lanes.ravel()
    rows = np.empty((MAX_SHIFT + 1, 1024), np.uint32)
    for n in range(MAX_SHIFT + 1):
        rows[n] = x
        x = TABLE[x & 0xFF] ^ (x >> 8)
    return rows.ravel()


SHIFT = _shift_tables()


def step(registers: np.ndarray, byte: int) -> np.ndarray:
    """Run one byte through each register."""
    return TABLE[(registers ^ np.uint32(byte)) & 0xFF] ^ (registers >> 8)


def _shift_small(registers: np.ndarray, n: np.ndarray) -> np.ndarray:
    base = n.astype(np.intp) * 1024
    r = registers
    return (SHIFT[base + (r & 0xFF)] ^ SHIFT[base + 256 + ((r >> 8) & 0xFF)]
            ^ SHIFT[base + 512 + ((r >> 16) & 0xFF)] ^ SHIFT[base + 768 + (r >> 24)])  # fmt: skip


def zero_shift(registers: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Run ``n[i]`` zero bytes through register ``i``."""
    registers = np.asarray(registers, np.uint32)
    n = np.asarray(n)
    long = n > MAX_SHIFT
    if long.any():  # rare: words of more than MAX_SHIFT bytes
        registers, n = registers.copy(), n.copy()
        while long.any():
            registers[long] = _shift_small(registers[long], np.full(long.sum(), MAX_SHIFT))
            n[long] -= MAX_SHIFT
            long = n > MAX_SHIFT
    return _shift_small(registers, n)


def shifted_start(start: int, n: np.ndarray) -> np.ndarray:
    """:func:`zero_shift` of the one register ``start`` by each of ``n``: a gather from the
    table of its shifts by ``0..max(n)``."""
    n = np.asarray(n)
    size = int(n.max(initial=0)) + 1
    return zero_shift(np.full(size, start, np.uint32), np.arange(size))[n]


def registers(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The register after running ``buf[starts[i]:starts[i] + lengths[i]]`` from zero, for
    every ``i`` (``lengths`` at most :data:`MAX_SHIFT`; ``buf`` uint8)."""
    out = np.zeros(len(starts), np.uint32)
    if not len(starts):
        return out
    order = np.argsort(lengths.astype(np.uint8), kind="stable")[::-1]  # longest first
    pos = starts[order]
    ends = np.bincount(lengths, minlength=MAX_SHIFT + 2)[::-1].cumsum()[::-1]  # ends[k]: len >= k
    reg = np.zeros(len(starts), np.uint32)
    for k in range(1, int(lengths.max()) + 1):
        active = int(ends[k])
        r = reg[:active]
        reg[:active] = TABLE[(r ^ buf[pos[:active] + (k - 1)]) & 0xFF] ^ (r >> 8)
    out[order] = reg
    return out


def register_of(data: bytes) -> int:
    """:func:`registers` of one byte string of any length (with zlib)."""
    return ~zlib.crc32(data, MASK) & MASK


START = MASK  # the register of zlib.crc32(b"") before any byte


def start_after(prefix: bytes) -> int:
    """The register after running ``prefix`` from the start of a CRC."""
    return ~zlib.crc32(prefix) & MASK
