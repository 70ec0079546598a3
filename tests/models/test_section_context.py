"""The tagger's section context (``TaggerConfig.section_channels``): running maxima of learned
line signals from the top and the bottom of a document, at any distance, never leaking
across padding or between documents, equal in windows and whole; off by default."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from prox_tasks.models.line_tagger import (
    SECTION_FLOOR,
    LineTaggerRefiner,
    TaggerConfig,
    build_tagger,
    collate,
    section_context,
    tensorize,
)
from prox_tasks.training.tagger import TaggerTrainConfig, save_tagger, train_tagger

SMALL = {"buckets": 512, "embed_dim": 4, "hidden": 8, "dilations": [1, 2]}
WORDS = "the cat sat on a mat home login menu share reply comments 2024 news sport".split()


def _text(lines: int, seed: int) -> str:
    rng = random.Random(seed)
    return "\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.choice([0, 1, 2, 5, 12])))
                     for _ in range(lines))  # fmt: skip


def _model(**overrides):
    import torch

    torch.manual_seed(0)
    config = TaggerConfig.from_dict({**SMALL, **overrides})
    return build_tagger(config).eval(), config


def test_off_by_default_and_the_old_weights_are_the_whole_state():
    assert TaggerConfig().section_channels == 0
    plain, _ = _model()
    with_section, _ = _model(section_channels=3)
    extra = set(with_section.state_dict()) - set(plain.state_dict())
    assert extra == {"section.weight", "section.bias", "section_mix.weight", "section_mix.bias"}


def test_a_silent_section_mix_gives_the_plain_model_outputs():
    """The layer only adds to the line vectors: zero mixing weights give the outputs of the
    architecture without it (the default), up to the heads' float rounding (the vectors are
    made contiguous for the section layer)."""
    import torch

    plain, _ = _model()
    with_section, _ = _model(section_channels=3)
    state = {**with_section.state_dict(), **plain.state_dict()}
    state["section_mix.weight"] = torch.zeros_like(state["section_mix.weight"])
    state["section_mix.bias"] = torch.zeros_like(state["section_mix.bias"])
    with_section.load_state_dict(state)
    inputs = collate([tensorize(_text(30, s), 512) for s in (1, 2)])
    with torch.inference_mode():
        for a, b in zip(plain(*inputs), with_section(*inputs)):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_prefix_and_suffix_reach_any_distance():
    import torch

    signals = torch.zeros(1, 1200, 2)  # [B, lines, channels]
    signals[0, 0, 0] = 5.0  # a heading at the top
    signals[0, 1100, 1] = 7.0  # a footer near the bottom
    mask = torch.ones(1, 1200, dtype=torch.bool)
    prefix, suffix = section_context(signals, mask)
    assert prefix[0, 1000, 0] == 5.0 and prefix[0, 1099, 1] == 0.0 and prefix[0, 1100, 1] == 7.0
    assert suffix[0, 0, 1] == 7.0 and suffix[0, 1101, 1] == 0.0 and suffix[0, 1, 0] == 0.0


def test_padding_never_raises_a_maximum():
    import torch

    signals = torch.tensor([[[1.0], [2.0], [9.0], [9.0]]])
    mask = torch.tensor([[True, True, False, False]])
    prefix, suffix = section_context(signals, mask)
    assert prefix[0, :2, 0].tolist() == [1.0, 2.0]
    assert suffix[0, :2, 0].tolist() == [2.0, 2.0]
    assert (suffix[0, 2:, 0] == SECTION_FLOOR).all()


@pytest.mark.parametrize("context", [{"section_channels": 4},
                                     {"scan_channels": 4, "section_channels": 2}])  # fmt: skip
def test_a_padded_batch_scores_each_document_as_alone(context):
    import torch

    model, _ = _model(**context)
    docs = [tensorize(_text(n, n), 512) for n in (300, 7, 120)]
    with torch.inference_mode():
        lines, keeps = model(*collate(docs))
        for r, d in enumerate(docs):
            alone_lines, alone_keep = model(*collate([d]))
            torch.testing.assert_close(lines[r, : d.lines], alone_lines[0], rtol=0, atol=1e-6)
            torch.testing.assert_close(keeps[r], alone_keep[0], rtol=0, atol=1e-6)


def test_windows_fold_in_the_maxima_outside_them():
    import torch

    torch.manual_seed(1)
    signals = torch.randn(1, 50, 3)
    mask = torch.ones(1, 50, dtype=torch.bool)
    prefix, suffix = section_context(signals, mask)
    before, after = signals[:, :20].amax(1), signals[:, 35:].amax(1)
    p, s = section_context(signals[:, 20:35], mask[:, 20:35], before, after)
    assert torch.equal(p, prefix[:, 20:35]) and torch.equal(s, suffix[:, 20:35])


@pytest.mark.parametrize("context", [
    {"section_channels": 4}, {"section_channels": 4, "section_reads_lines": False},
    {"scan_channels": 4}, {"scan_channels": 4, "section_channels": 3},
])  # fmt: skip
def test_long_documents_in_windows_score_like_whole(context):
    """With section context or a document scan (tests/models/test_line_scan.py)."""
    import torch

    config = TaggerConfig.from_dict({**SMALL, **context})
    torch.manual_seed(0)
    model = build_tagger(config).eval()
    texts = [_text(5, 1), _text(700, 2), _text(65, 5)]
    whole, windowed = (LineTaggerRefiner.from_model(model, config) for _ in range(2))
    whole.batch_lines, windowed.batch_lines = 100_000, 64
    # a scan's states cross windows as float32 logs of affine maps: rounding of ~1e-6
    tolerance = 1e-5 if context.get("scan_channels") else 1e-6
    for (p, keep), (q, keep_w) in zip(whole._score(texts)[0], windowed._score(texts)[0]):
        np.testing.assert_allclose(q, p, rtol=0, atol=tolerance)
        assert keep_w == pytest.approx(keep, abs=tolerance)


def test_trains_saves_and_loads(tmp_path):
    docs = [{"text": _text(40, s), "doc_program": "keep_doc()",
             "chunk_program": "remove_lines(line_start=0, line_end=2)"} for s in range(6)]  # fmt: skip
    config = TaggerConfig.from_dict({**SMALL, "section_channels": 2})
    refiner, report = train_tagger(docs[:4], docs[4:], config, TaggerTrainConfig(epochs=1),
                                   tmp_path / "work")  # fmt: skip
    assert report["epochs"] == 1 and np.isfinite(report["history"][0]["loss"])
    folder = save_tagger(refiner, tmp_path / "artifact", {})
    assert json.loads((folder / "refiner.json").read_text())["format"] == 3
    loaded = LineTaggerRefiner(folder)
    assert loaded.config.section_channels == 2
    texts = [d["text"] for d in docs]
    for (p, keep), (q, keep_l) in zip(refiner.scores(texts), loaded.scores(texts)):
        np.testing.assert_allclose(q, p, rtol=0, atol=1e-6)
        assert keep_l == pytest.approx(keep, abs=1e-6)


def test_artifacts_without_section_context_stay_format_2(tmp_path):
    """Code that predates the section context (formats 1-2) keeps loading every artifact
    that does not use it."""
    model, config = _model()
    folder = save_tagger(LineTaggerRefiner.from_model(model, config), tmp_path / "plain", {})
    settings = json.loads((folder / "refiner.json").read_text())
    assert settings["format"] == 2 and settings["tagger"]["section_channels"] == 0


def test_a_mix_of_the_maxima_alone_is_smaller_and_trains(tmp_path):
    """``section_reads_lines=False``: the mix reads the 2 x section_channels maxima only."""
    model, _ = _model(section_channels=3, section_reads_lines=False)
    assert model.section_mix.weight.shape == (SMALL["hidden"], 6)
    docs = [{"text": _text(30, s), "doc_program": "keep_doc()", "chunk_program": ""}
            for s in range(3)]  # fmt: skip
    config = TaggerConfig.from_dict({**SMALL, "section_channels": 3, "section_reads_lines": False})
    refiner, _ = train_tagger(docs, [], config, TaggerTrainConfig(epochs=1), tmp_path / "w")
    loaded = LineTaggerRefiner(save_tagger(refiner, tmp_path / "a", {}))
    assert loaded.config.section_reads_lines is False
    assert loaded.scores([docs[0]["text"]]) == refiner.scores([docs[0]["text"]])
