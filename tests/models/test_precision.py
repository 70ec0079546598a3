"""The tagger's inference precision: float32 is training's arithmetic exactly, bfloat16 agrees
with it on real pages within stated bounds (and is really bfloat16), the setting is honoured,
``auto`` follows torch's CPU capability report, and outputs stay deterministic."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from prox_tasks.models import SHIPPED_MODEL, precision
from prox_tasks.models.line_features import featurize_batch
from prox_tasks.models.line_tagger import LineTaggerRefiner, _at_least, collate_features
from prox_tasks.models.precision import native_bfloat16, resolve_precision

ROOT = Path(__file__).resolve().parents[2]
SHARED = next((p for p in (ROOT.parent / "shared" / "data", ROOT.parent.parent / "shared" / "data")
               if p.is_dir()), None)  # fmt: skip
needs_bfloat16 = pytest.mark.skipif(not native_bfloat16(),
                                    reason="this CPU has no native bfloat16 (torch.cpu."
                                           "get_capabilities): auto runs float32 here")  # fmt: skip


def _pages(per_source: int = 40) -> list[str]:
    """Real pages: ``per_source`` of every shared collection (the bundled sample without)."""
    files = sorted(SHARED.glob("*/*.jsonl.gz")) if SHARED else []
    files = files or [ROOT / "data" / "sample" / "sample.jsonl.gz"]
    texts = []
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            rows = (json.loads(line).get("text") for line in f)
            texts.extend([t for t in rows if t][:per_source])
    return texts


@pytest.fixture(scope="module")
def pages() -> list[str]:
    return _pages()


def _tagger(name: str) -> LineTaggerRefiner:
    return LineTaggerRefiner(SHIPPED_MODEL, threads=1, precision=name)


def test_float32_inference_is_training_arithmetic_exactly(pages):
    """The float32 inference path (in place, no temporaries) computes training's float32
    sums bit for bit: what the tagger was calibrated with."""
    import torch

    tagger = _tagger("float32")
    f = featurize_batch(pages[:48], tagger.config.buckets)
    inputs = collate_features([f], [(0, d) for d in range(48)])
    with torch.no_grad():
        inferred = tagger.model(*inputs)
    with torch.enable_grad():
        trained = tagger.model(*inputs)
    assert all(torch.equal(a, b.detach()) for a, b in zip(inferred, trained))


@needs_bfloat16
def test_bfloat16_agrees_with_float32_on_real_pages(pages):
    """Bounds (measured on all 3,874 shared pages: 0.010% of line decisions and no document
    decision differ, largest line probability difference 0.006): here at least 99.5% of line
    and document decisions equal, probabilities within 0.05 — and not all bit-identical, or
    the bfloat16 path did not run."""
    f32, bf16 = _tagger("float32"), _tagger("bfloat16")
    a, b = f32._score(pages)[0], bf16._score(pages)[0]
    lines = sum(len(p) for p, _ in a)
    t = f32.config.line_threshold
    differ = sum(len(np.setxor1d(_at_least(p, t), _at_least(q, t))) for (p, _), (q, _) in zip(a, b))
    assert lines > 10_000 and differ <= 0.005 * lines
    docs = f32.predict_doc(pages), bf16.predict_doc(pages)
    assert sum(x != y for x, y in zip(*docs)) <= 0.005 * len(pages)
    diffs = np.concatenate([np.abs(p - q) for (p, _), (q, _) in zip(a, b)])
    keep_diffs = np.abs(np.array([k for _, k in a]) - np.array([k for _, k in b]))
    assert 0 < diffs.max() < 0.05 and keep_diffs.max() < 0.05


@needs_bfloat16
def test_bfloat16_word_f1_on_the_gold_set_within_half_a_point():
    """Word P/R/F1 of the executed programs against the shipped human gold (152 pages): the
    two precisions within 0.005 of each other."""
    from prox_tasks.evaluation.goldset import evaluate_on_gold

    f32, bf16 = evaluate_on_gold(_tagger("float32")), evaluate_on_gold(_tagger("bfloat16"))
    assert f32["docs"] == bf16["docs"] >= 100
    for key in ("precision", "recall", "f1"):
        assert abs(f32[key] - bf16[key]) <= 0.005


@needs_bfloat16
def test_bfloat16_is_deterministic_across_threads(pages):
    """One machine, one precision: the same pages give the same probabilities again, and with
    1 or 2 threads (workers divide the cores among them). oneDNN's bfloat16 kernel sums the
    edge columns of an implicitly padded convolution in another order, and where the edges
    fall depends on the threads: with the kernel's padding this test fails."""
    import torch

    tagger = _tagger("bfloat16")
    once = tagger.scores(pages)
    assert tagger.scores(pages) == once
    torch.set_num_threads(2)
    try:
        assert tagger.scores(pages) == once
    finally:
        torch.set_num_threads(1)


def test_the_setting_is_honoured(monkeypatch):
    import torch

    assert _tagger("float32").model.conv_dtype == torch.float32
    assert _tagger("bfloat16").model.conv_dtype == torch.bfloat16
    monkeypatch.setenv("PROX_TAGGER_PRECISION", "float32")
    assert LineTaggerRefiner(SHIPPED_MODEL, threads=1).precision == "float32"
    monkeypatch.setenv("PROX_TAGGER_PRECISION", "BFloat16")
    assert LineTaggerRefiner(SHIPPED_MODEL, threads=1).precision == "bfloat16"
    assert resolve_precision("float32") == "float32"  # the caller's choice wins
    from prox_tasks.inference import load_backend

    backend = load_backend("tagger", str(SHIPPED_MODEL), threads=1, precision="float32")
    assert backend.settings.precision == "float32"  # the backend's option
    monkeypatch.setenv("PROX_TAGGER_PRECISION", "fp8")
    with pytest.raises(ValueError, match="PROX_TAGGER_PRECISION must be one of auto, float32"):
        resolve_precision()
    with pytest.raises(ValueError, match="precision must be one of"):
        LineTaggerRefiner(SHIPPED_MODEL, precision="half")


def test_auto_reads_torch_cpu_capabilities():
    import torch

    capabilities = torch.cpu.get_capabilities()
    native = any(capabilities.get(k) is True for k in ("avx512_bf16", "amx_bf16", "bf16", "sve_bf16"))
    assert native_bfloat16() is native
    assert resolve_precision("auto") == ("bfloat16" if native else "float32")


def test_auto_falls_back_to_float32_without_native_bfloat16(monkeypatch):
    """Simulated fault (a CPU without bfloat16 instructions cannot be produced on this one):
    torch's capability report patched to an AVX-512 CPU without avx512_bf16/amx_bf16."""
    import torch

    report = {k: v for k, v in torch.cpu.get_capabilities().items()}
    report.update(avx512_bf16=False, amx_bf16=False)
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: report)
    monkeypatch.delenv("PROX_TAGGER_PRECISION", raising=False)
    assert precision.native_bfloat16() is False
    tagger = LineTaggerRefiner(SHIPPED_MODEL, threads=1)
    assert tagger.precision == "float32" and tagger.model.conv_dtype == torch.float32
    assert LineTaggerRefiner(SHIPPED_MODEL, threads=1, precision="bfloat16").precision == "bfloat16"


def test_precision_is_part_of_the_checkpoint_fingerprint():
    """A retry on a machine with another precision must not reuse this one's checkpoints."""
    from prox_tasks.inference.tagger import TaggerRefiner
    from prox_tasks.refine.step import _fingerprint

    class Manifest:
        id = "m"

    def fingerprint(name: str) -> dict:
        from prox_tasks.programs import Policy
        from prox_tasks.refine.limits import Limits

        refiner = TaggerRefiner(_tagger(name))
        assert refiner.settings.to_dict()["precision"] == name
        return _fingerprint(Manifest(), 0, refiner, Policy(), 512, Limits.resolve({}))

    a, b = fingerprint("float32"), fingerprint("bfloat16")
    assert a["model"] == b["model"] and a != b
    assert fingerprint("float32") == a


def test_the_tagger_runs_one_thread_unless_told():
    """Refine tasks that share a machine each took 2 threads: two Celery workers on 2 cores
    refined 2.5x slower than one (bench/cluster.py). One thread unless asked for more."""
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        LineTaggerRefiner(SHIPPED_MODEL)
        assert torch.get_num_threads() == 1
        LineTaggerRefiner(SHIPPED_MODEL, threads=2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
