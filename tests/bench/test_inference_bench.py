"""bench/inference.py on a tiny model, transformers only, with ``--train-steps``: it teaches
the random model through prox's own SFT (``prox train``'s generative path), not a training
loop of its own, and prints its figures."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_inference_bench_trains_through_prox_sft_and_prints_its_figures(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "inference.py"),
                          "--backends", "transformers", "--overhead-backends", "", "--docs", "2",
                          "--hidden", "64", "--layers", "1", "--doc-tokens", "128",
                          "--chunk-tokens", "64", "--doc-new", "4", "--chunk-new", "8",
                          "--threads", "1", "--train-steps", "2"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["training"]["steps"] == 2 and report["training"]["examples"] > 0
    assert report["results"]["transformers"]["doc"]["docs_per_s"] > 0
    assert re.search(r"trained 2 steps on \d+ rules-teacher examples", out.stdout)


def test_no_bench_trains_a_prox_model_with_a_loop_of_its_own():
    """One implementation of training: a bench that teaches a prox model calls
    ``prox_tasks.training`` (the copy in bench/inference.py had its own examples, targets and
    optimizer, and drifted from ``prox train``'s). bench/train.py's ``minilm-probe`` is a study
    variant (a linear head on sentence embeddings), not a prox model."""
    own_loops = [p.name for p in sorted((ROOT / "bench").glob("*.py"))
                 if "torch.optim" in p.read_text(encoding="utf-8") and p.name != "train.py"]
    assert own_loops == []
    assert "train_sft" in (ROOT / "bench" / "inference.py").read_text(encoding="utf-8")
