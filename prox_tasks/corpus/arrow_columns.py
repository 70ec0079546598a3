"""Arrow columns built from Python values straight into Arrow's buffers.

``pyarrow.array`` (and ``Table.from_pydict``, which calls it) imports pandas the first time
it runs in a process, to ask whether the values are a pandas object: ~0.3 CPU-seconds
(pandas, and ``pyarrow.compute`` through it) in every ``prox refine`` process, which never
uses pandas. The refined-shard writer builds its columns here instead: each string is encoded
once and appended to its column's UTF-8 buffer, with the offsets and validity beside it, and
the finished buffers are handed to Arrow without a copy. The arrays equal what
``pyarrow.array`` makes of the same values (tests/corpus/test_arrow_columns.py).
"""

from __future__ import annotations

from array import array

import numpy as np

#: Bytes one ``string`` array can hold (int32 offsets); a column past it is chunked.
MAX_CHUNK_BYTES = 2**31 - 1
#: The ``array`` type code of a 32-bit signed integer on this platform (Arrow's offsets).
INT32 = next(code for code in "ilh" if array(code).itemsize == 4)


def utf8(value: str) -> bytes:
    """``value`` as UTF-8, each lone surrogate written as its escape ``\\udXXX`` (the bytes
    of :func:`prox_tasks.corpus.document.escape_surrogates`' result)."""
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace")


class StringColumn:
    """A nullable Arrow ``string`` column, appended to one value at a time."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._chunks: list = []
        self._start()

    def _start(self) -> None:
        self._data = bytearray()
        self._offsets = array(INT32, [0])
        self._valid = bytearray()
        self._nulls = 0

    def __len__(self) -> int:
        return sum(len(c) for c in self._chunks) + len(self._valid)

    def append(self, value: str | None) -> None:
        if value is None:
            self._nulls += 1
            self._valid.append(0)
        else:
            if not isinstance(value, str):
                raise TypeError(f"column {self.name}: a string or None, not "
                                f"{type(value).__name__}")  # fmt: skip
            encoded = utf8(value)
            if len(self._data) + len(encoded) > MAX_CHUNK_BYTES and self._valid:
                self._seal()
            self._data += encoded
            self._valid.append(1)
        self._offsets.append(len(self._data))

    def _seal(self) -> None:
        import pyarrow as pa

        validity = None
        if self._nulls:
            validity = pa.py_buffer(np.packbits(np.frombuffer(self._valid, np.uint8),
                                                bitorder="little"))  # fmt: skip
        buffers = [validity, pa.py_buffer(self._offsets), pa.py_buffer(self._data)]
        self._chunks.append(pa.Array.from_buffers(pa.string(), len(self._valid), buffers,
                                                  null_count=self._nulls))  # fmt: skip
        self._start()

    def finish(self):
        """The column as a ``pyarrow.Array`` (a ``ChunkedArray`` past 2 GiB); the column
        is empty again afterwards."""
        import pyarrow as pa

        if self._valid or not self._chunks:
            self._seal()
        chunks, self._chunks = self._chunks, []
        return chunks[0] if len(chunks) == 1 else pa.chunked_array(chunks, pa.string())


def bool_array(values: list[bool]):
    """A non-null Arrow ``bool`` array of ``values``."""
    import pyarrow as pa

    bits = np.packbits(np.asarray(values, dtype=bool), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])


def int64_array(values: list[int]):
    """A non-null Arrow ``int64`` array of ``values``."""
    import pyarrow as pa

    return pa.Array.from_buffers(pa.int64(), len(values),
                                 [None, pa.py_buffer(array("q", values))])  # fmt: skip
