"""Whether a ``*.safetensors`` weights file is whole, from its header and its size alone.

A download or copy cut short leaves a weights file whose header is fine and whose tensors
stop early (or a file of garbage): every backend failed on it only when a shard loaded the
model, after the plan and the output folder's claim. A safetensors file is 8 bytes (the
header's length, little-endian), a JSON header naming each tensor's ``data_offsets``, then
the data, exactly as long as the largest end offset says (the safetensors library refuses a
file one byte longer or shorter): reading the header and comparing sizes tells a whole file
from a cut one without loading a tensor, locally or on S3 (one ranged read and one size).
"""

from __future__ import annotations

import json

from prox_tasks.models.artifact import ModelDamaged

#: What to do about a weights file that is not whole, wherever it is found.
NOT_WHOLE_ADVICE = ("A download or copy that stopped early leaves such a file: fetch or copy "
                    "the model's files again (whole), or point --model at a complete model "
                    "folder")  # fmt: skip


class WeightsNotWhole(ModelDamaged):
    """A ``*.safetensors`` file whose size is not what its header says (cut short, or not
    safetensors at all), found as a model is loaded: no rerun gets past it (exit 2, a DAG
    task fails without retries)."""


def check_whole(uri: str) -> None:
    """Refuse the safetensors file at ``uri`` unless its size is what its header says.

    Raises:
        WeightsNotWhole: Naming the file, what is wrong (:func:`safetensors_problem`) and
            what to do: loading it failed with the library's "invalid header length", naming
            no file.
    """
    problem = safetensors_problem(uri)
    if problem is not None:
        raise WeightsNotWhole(f"weights file {uri} is not whole: {problem}. {NOT_WHOLE_ADVICE}")


#: The most header bytes read: safetensors itself refuses headers over 100 MB, and a larger
#: length read from garbage must not make us read the whole file.
MAX_HEADER_BYTES = 100_000_000


def safetensors_problem(uri: str) -> str | None:
    """What is wrong with the safetensors file at ``uri`` (local or ``s3://``), in words,
    or None when its size is what its header says.

    Reads the first 8 bytes, the header, and the file's size; never the tensors.
    """
    from prox_tasks.storage import open_uri, size_of

    size = size_of(uri)
    with open_uri(uri, "rb") as stream:
        first = stream.read(8)
        if len(first) < 8:
            return f"{size} bytes, too short for a safetensors header"
        length = int.from_bytes(first, "little")
        if length > min(MAX_HEADER_BYTES, size - 8):
            return (f"its first bytes give a header of {length} bytes in a file of {size} "
                    "bytes: not a safetensors file, or cut short in its header")
        header = stream.read(length)
    try:
        tensors = json.loads(header)
        end = max((entry["data_offsets"][1] for name, entry in tensors.items()
                   if name != "__metadata__"), default=0)  # fmt: skip
        expected = 8 + length + int(end)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return "its header is no safetensors header (not JSON naming tensors' data_offsets)"
    if size < expected:
        return f"{size} bytes where its header says {expected}: cut short"
    if size > expected:
        return f"{size} bytes where its header says {expected}: other bytes after its tensors"
    return None
