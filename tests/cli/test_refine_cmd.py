"""``prox refine --help`` states the limits' defaults a run really takes."""

from __future__ import annotations

import pytest

from prox_tasks.cli import main


def _help(capsys) -> str:
    with pytest.raises(SystemExit):
        main(["refine", "--help"])
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines


def test_limit_defaults_in_the_help_follow_the_environment(capsys, monkeypatch):
    monkeypatch.delenv("PROX_MAX_DOC_LINES", raising=False)
    assert "too_many_lines (default 100000)" in _help(capsys)
    # the variable is the default a run takes (Limits.resolve): the help says so
    monkeypatch.setenv("PROX_MAX_DOC_LINES", "50000")
    text = _help(capsys)
    assert "too_many_lines (default 50000, from $PROX_MAX_DOC_LINES)" in text
    assert "(100000)" not in text
