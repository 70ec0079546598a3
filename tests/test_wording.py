"""The words prox's messages share (prox_tasks/wording.py)."""

from __future__ import annotations

import pytest

from prox_tasks.wording import QUOTED_CHARS, QUOTED_END, quoted_error


def test_another_library_s_long_error_is_quoted_cut_in_its_middle():
    """``float()`` quotes its whole input: a 5 KB field whose bad character is its last.
    The readers, the gate and the teachers quoted such an error as its first 200 or 300
    characters (``f"{type(err).__name__}: {err}"[:200]``), never reaching it; quoted now,
    it keeps its start (what failed) and its end (where)."""
    with pytest.raises(ValueError) as raised:
        float("1." + "0" * 5000 + "x")
    said = quoted_error(raised.value)
    assert said.startswith("ValueError: could not convert string to float: '1.000")
    assert said.endswith("0" * (QUOTED_END - 2) + "x'") and " … " in said
    assert len(said) == len("ValueError: ") + QUOTED_CHARS
    assert quoted_error(ValueError("short")) == "ValueError: short"
    assert quoted_error(StopIteration()) == "StopIteration"
