"""Words of the messages the library and the ``prox`` commands share."""

from __future__ import annotations


def count(n: int | float, word: str) -> str:
    """``1 shard``, ``2 shards``, ``1,234 documents`` (thousands separated)."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def input_cut(files_cut: int, records_cut: int) -> str:
    """`` (and 1 input file not read to its end; 1 record cut short: its input file ends
    inside it)``: the input lost where files break off — a file's unread rest
    (``truncated_file``, ``corrupt_file``: no document) and a record the cut fell inside
    (``truncated_record``: a WET file cut in its payload, the file's rest lost with it); empty
    when neither."""
    parts = []
    if files_cut:
        parts.append(f"{count(files_cut, 'input file')} not read to its end")
    if records_cut:
        parts.append(f"{count(records_cut, 'record')} cut short: "
                     + ("its input file ends inside it" if records_cut == 1
                        else "their input files end inside them"))
    return f" (and {'; '.join(parts)})" if parts else ""
