"""The words prox's messages share (prox_tasks/wording.py)."""

from __future__ import annotations

import pytest

from prox_tasks.wording import QUOTED_CHARS, QUOTED_END, quoted_error, shortened


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


def test_a_secret_across_the_cut_is_redacted_before_it_is_cut():
    """describe_error (every ``prox`` command's last line) and the quotes of other
    libraries' errors cut a long message in its middle: a URL's password across the cut
    kept its tail after "… ", its ``postgresql://prox:`` cut away, so the redaction of the
    printed line recognized nothing and the tail reached the terminal."""
    from prox_tasks.cli.errors import describe_error
    from prox_tasks.redaction import redact

    password = "Zq9vK3mW7xPd4Lr8Tn2Bh6"
    message = (
        f"could not load {'x' * 300} from postgresql://prox:{password}@db.internal:5432"
        f"/catalog{' y' * 40}"
    )
    for said in (describe_error(RuntimeError(message)), shortened(message, 400, 120)):
        printed = redact(said)
        assert "…" in printed and "@db.internal:5432/catalog" in printed, printed
        assert not [password[i : i + 6] for i in range(len(password) - 5)
                    if password[i : i + 6] in printed], printed  # fmt: skip
