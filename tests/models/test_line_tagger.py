"""Line tagger artifact formats (1: no kept-line statistics, 2: with them) and the
statistics the document head reads."""

from __future__ import annotations

import json

import pytest

from prox_tasks.models.line_features import STAT_DIM, featurize_batch
from prox_tasks.models.line_tagger import (
    LineTaggerRefiner,
    TaggerConfig,
    TaggerFormatError,
    build_tagger,
    collate,
    collate_features,
    config_of,
    tensorize,
    tensorize_batch,
)

SMALL = {"buckets": 512, "embed_dim": 4, "hidden": 8, "dilations": [1]}
TEXT = "Home\nThe cat sat on the mat and the dog was in the garden all day long ...\n\n# # #"


def write_artifact(folder, config: TaggerConfig, settings: dict):
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = build_tagger(config)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(folder / "model.safetensors"))  # fmt: skip
    (folder / "refiner.json").write_text(json.dumps({"kind": "line_tagger", **settings}))
    return folder


def test_line_stats_count_what_the_document_decision_reads():
    line = "The cat sat on the mat and ate it all up ..."
    stats = featurize_batch([f"{line}\n   \n{line}"], 512).stats
    assert stats.shape == (3, STAT_DIM)
    units, words, alpha, stops, symbols, chars, non_empty, ellipsis, sentence, repeated = \
        stats[0].tolist()  # fmt: skip
    assert (units, words, alpha) == (12, 12, 11)  # "..." is a word without a letter
    assert stops >= 4 and symbols == 1 and ellipsis == 1
    assert (non_empty, sentence, repeated) == (1, 1, 1)  # the line is there twice
    assert stats[1, :8].tolist() == [0.0] * 8


def test_kept_statistics_move_the_document_score():
    import torch

    config = TaggerConfig.from_dict(SMALL)
    torch.manual_seed(0)
    model = build_tagger(config).eval()
    inputs = list(collate([tensorize(TEXT, config.buckets)]))
    with torch.no_grad():
        _, doc_logit = model(*inputs)
        inputs[5] = torch.zeros_like(inputs[5])  # the same page without its statistics
        _, blank_logit = model(*inputs)
    assert float(doc_logit) != pytest.approx(float(blank_logit))


def test_format_1_artifact_still_loads(tmp_path):
    old = TaggerConfig.from_dict({**SMALL, "kept_stats": False})
    settings = {"tagger": {k: v for k, v in old.to_dict().items() if k != "kept_stats"}}
    folder = write_artifact(tmp_path / "v1", old, settings)
    refiner = LineTaggerRefiner(folder, threads=1)
    assert refiner.config.kept_stats is False
    assert refiner.predict_doc([TEXT])[0] in ("keep_doc()", "drop_doc()")


def test_format_2_artifact_loads(tmp_path):
    config = TaggerConfig.from_dict(SMALL)
    folder = write_artifact(tmp_path / "v2", config,
                            {"format": 2, "tagger": config.to_dict()})  # fmt: skip
    refiner = LineTaggerRefiner(folder, threads=1)
    assert refiner.config.kept_stats is True and len(refiner.predict_chunks([TEXT])) == 1


def test_newer_format_is_a_clear_error():
    with pytest.raises(TaggerFormatError, match="format 99 is not supported"):
        config_of({"format": 99, "tagger": SMALL})


def test_mismatched_weights_are_a_clear_error(tmp_path):
    config = TaggerConfig.from_dict(SMALL)  # format 2 weights ...
    settings = {"tagger": {k: v for k, v in config.to_dict().items() if k != "kept_stats"}}
    folder = write_artifact(tmp_path / "bad", config, settings)  # ... labeled format 1
    with pytest.raises(TaggerFormatError, match="do not match a format 1 line tagger"):
        LineTaggerRefiner(folder, threads=1)


def test_inference_batches_equal_the_training_collation():
    """The inference path pads the batch features directly (no tensors per document): the
    model's arguments are those of the per-document tensors training collates, padded as
    before (padding lines: zeros and one id 0 each, offsets running on)."""
    import torch

    texts = [TEXT, "", "one line", "\n".join(f"line {i} of a longer page" for i in range(40)),
             "  indented\n\n\tand tabbed ©"]
    parts = [featurize_batch(texts[:2], 512), featurize_batch(texts[2:], 512)]
    pairs = [(1, 2), (0, 1), (1, 0), (0, 0), (1, 1)]  # mixed order, across parts
    docs = [tensorize_batch(texts[:2], 512), tensorize_batch(texts[2:], 512)]
    chosen = [docs[p][d] for p, d in pairs]
    got = collate_features(parts, pairs)
    assert all(torch.equal(a, b) for a, b in zip(got, collate(chosen)))
    for part, part_docs in zip(parts, docs):  # a whole part in order: scattered at once
        whole = collate_features([part], [(0, d) for d in range(len(part_docs))])
        assert all(torch.equal(a, b) for a, b in zip(whole, collate(part_docs)))
    dense, ids, offsets, mask, doc, stats = got
    length = max(d.lines for d in chosen)
    assert dense.shape == (5, length, dense.shape[2]) and stats.shape[:2] == (5, length)
    assert mask.sum(1).tolist() == [d.lines for d in chosen]
    base = 0
    for r, d in enumerate(chosen):  # each document's ids, then one 0 per padding line
        row = offsets[r * length : (r + 1) * length]
        assert torch.equal(row[: d.lines], d.starts[:-1] + base)
        assert torch.equal(ids[base : base + len(d.ids)], d.ids)
        pad = length - d.lines
        assert row[d.lines :].tolist() == list(range(base + len(d.ids), base + len(d.ids) + pad))
        base += len(d.ids) + pad
        assert torch.equal(dense[r, : d.lines], d.dense) and not dense[r, d.lines :].any()
        assert torch.equal(doc[r], d.doc)
    assert ids.dtype == offsets.dtype == torch.long and len(ids) == base


def test_weights_that_are_not_finite_are_refused_not_run(tmp_path, capsys):
    """A tagger whose weights hold NaN (a training run that diverged) scored every line and
    document NaN, which no threshold passes: ``prox refine`` dropped every document, exit 0,
    as if the crawl were all junk. Loading it is refused, naming what to do, and the run
    publishes nothing."""
    import torch
    from safetensors.torch import load_file, save_file

    from prox_tasks.cli import main

    config = TaggerConfig.from_dict(SMALL)
    folder = write_artifact(tmp_path / "nan", config, {"format": 2, "tagger": config.to_dict()})
    weights = load_file(str(folder / "model.safetensors"))
    name = sorted(weights)[0]
    weights[name] = torch.full_like(weights[name], float("nan"))
    save_file(weights, str(folder / "model.safetensors"))
    with pytest.raises(TaggerFormatError, match=f"weights {name} hold NaN or infinite values"):
        LineTaggerRefiner(folder, threads=1)

    crawl = tmp_path / "crawl.jsonl"
    crawl.write_text(json.dumps({"id": "a", "text": TEXT}) + "\n")
    out = tmp_path / "out"
    assert main(["refine", "--input", str(crawl), "--output", str(out), "--model", str(folder),
                 "--no-progress", "--catalog", f"sqlite:///{tmp_path / 'c.sqlite'}"]) == 1
    assert "NaN or infinite values" in capsys.readouterr().err
    assert not list(out.glob("shards/*.parquet"))
