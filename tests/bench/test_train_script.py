"""bench/train.py: ``table`` and ``study`` before any ``run`` say what to run, not a traceback."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "train.py"


@pytest.mark.parametrize("command", ["table", "study"])
def test_table_and_study_without_results_print_a_hint_and_exit_2(command, tmp_path,
                                                                  monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("bench_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path / "train_results.jsonl")  # no run yet
    monkeypatch.setattr(sys, "argv", ["bench/train.py", command])
    assert module.main() == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "python bench/train.py run default" in captured.err


def test_the_study_rows_peak_memory_is_the_one_prox_train_reports():
    """One implementation: bench/train.py's rows record the peak RSS as prox's training does
    (prox_tasks.training.sft.peak_rss_mb), not by a copy of its own."""
    import bench.train
    from prox_tasks.training import sft

    assert bench.train.peak_rss_mb is sft.peak_rss_mb
