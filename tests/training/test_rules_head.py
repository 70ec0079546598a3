"""The tagger's rules head (``TaggerConfig.rules_head``): the documents the rules teacher
labeled train a second line head, the others the line head the refiner decides with; saved
as format 4 and loaded; off by default."""

from __future__ import annotations

import json

import numpy as np

from prox_tasks.models.line_tagger import (
    LineTaggerRefiner,
    TaggerConfig,
    build_tagger,
    collate,
    config_of,
    tensorize,
)
from prox_tasks.training.tagger import TaggerTrainConfig, save_tagger, train_tagger
from tests.models.test_section_context import SMALL, _text


def _docs(teacher: str, n: int = 4) -> list[dict]:
    return [{"text": _text(30, s), "teacher": teacher, "doc_program": "keep_doc()",
             "chunk_program": "remove_lines(line_start=0, line_end=4)"} for s in range(n)]  # fmt: skip


def test_off_by_default_and_its_weights_are_the_only_new_state():
    assert TaggerConfig().rules_head is False
    plain = build_tagger(TaggerConfig.from_dict(SMALL))
    with_head = build_tagger(TaggerConfig.from_dict({**SMALL, "rules_head": True}))
    assert set(with_head.state_dict()) - set(plain.state_dict()) == {
        "rules_head.weight", "rules_head.bias"}  # fmt: skip


def test_only_the_rules_documents_train_the_rules_head(tmp_path):
    config = TaggerConfig.from_dict({**SMALL, "rules_head": True})
    clean, _ = train_tagger(_docs("diff"), [], config, TaggerTrainConfig(epochs=1), tmp_path / "a")
    assert not clean.model.rules_head.weight.grad.any()  # no rules document: no gradient
    assert clean.model.line_head.weight.grad.any()
    rules, _ = train_tagger(_docs("rules"), [], config, TaggerTrainConfig(epochs=1), tmp_path / "b")
    assert rules.model.rules_head.weight.grad.any()
    # the line head learns only through the document head's pool of its logits, so the two
    # heads' removal scores part: the rules head learned to remove lines 0-4
    import torch

    text = _docs("rules")[0]["text"]
    with torch.inference_mode():
        inputs = collate([tensorize(text, SMALL["buckets"])])
        by_rules, _ = rules.model(*inputs, rules=torch.tensor([True]))
        by_line, _ = rules.model(*inputs)
    assert not torch.equal(by_rules, by_line)


def test_saved_as_format_4_and_loaded(tmp_path):
    config = TaggerConfig.from_dict({**SMALL, "rules_head": True, "section_channels": 2})
    docs = _docs("diff", 2) + _docs("rules", 2)
    refiner, _ = train_tagger(docs, [], config, TaggerTrainConfig(epochs=1), tmp_path / "w")
    folder = save_tagger(refiner, tmp_path / "artifact", {})
    settings = json.loads((folder / "refiner.json").read_text())
    assert settings["format"] == 4 and config_of(settings).rules_head is True
    texts = [d["text"] for d in docs]
    for (p, keep), (q, keep_l) in zip(refiner.scores(texts), LineTaggerRefiner(folder).scores(texts)):
        np.testing.assert_allclose(q, p, rtol=0, atol=1e-6)
        assert abs(keep - keep_l) < 1e-6
