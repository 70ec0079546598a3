"""Shared test material: short real documents, a tiny ProX-format model, a tagger artifact."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "sample.jsonl.gz"
# Small budgets keep a random-weight model's CPU time to seconds
TINY_OPTIONS = {"doc_tokens": 128, "chunk_tokens": 96, "doc_max_new_tokens": 8,
                "chunk_max_new_tokens": 24}  # fmt: skip


def short_docs(n: int, lines: int = 10, width: int = 120) -> list[dict]:
    """``n`` real documents from the bundled sample, cut to ``lines`` lines of ``width``."""
    out = []
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        for raw in f:
            row = json.loads(raw)
            kept = [line[:width] for line in row["text"].split("\n") if line.strip()][:lines]
            if len(kept) >= 3:
                out.append({"id": row["id"], "text": "\n".join(kept)})
            if len(out) == n:
                break
    return out


def build_tiny_model(folder: Path, max_positions: int = 1024) -> Path:
    """The tests' tiny random Llama in the ProX format (same weights whatever the context:
    seeded, and its positions are rotary)."""
    from prox_tasks.inference.tiny_model import build_prox_format_model

    texts = [d["text"] for d in short_docs(60)]
    return build_prox_format_model(folder, texts, vocab_size=600, max_positions=max_positions)


def build_tagger_artifact(folder: Path, seed: int = 0) -> Path:
    """A line-tagger artifact with random (seeded) weights, in the shipped format."""
    import torch
    from safetensors.torch import save_file

    from prox_tasks.models.line_tagger import TaggerConfig, build_tagger

    torch.manual_seed(seed)
    config = TaggerConfig(buckets=2048, embed_dim=8, hidden=16, dilations=(1, 2))
    model = build_tagger(config)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(folder / "model.safetensors"))
    settings = {"kind": "line_tagger", "tagger": config.to_dict()}
    (folder / "refiner.json").write_text(json.dumps(settings))
    return folder


def write_jsonl(path: Path, rows: list[dict], extra_lines: list[str] = ()) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
        for line in extra_lines:
            f.write(line + "\n")
    return path


def sentencepiece_model_folder(folder: Path, tiny_model: Path, model_type: str,
                               tokenizer_class: str) -> Path:
    """A causal LM folder of ``model_type`` whose tokenizer is a SentencePiece model (trained
    on the sample, 400 pieces) saved as ``sentencepiece.bpe.model``, as mBART's and XGLM's
    are, its class named by ``tokenizer_config.json`` (with the Llama-2 chat template); the
    tiny model's weights beside it (the checks before the plan read only their header)."""
    import io
    import shutil

    import sentencepiece

    from prox_tasks.inference.tiny_model import LLAMA2_CHAT_TEMPLATE

    folder.mkdir(parents=True)
    spm = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(d["text"] for d in short_docs(60)), model_writer=spm,
        vocab_size=400, model_type="bpe", byte_fallback=True, minloglevel=2)
    (folder / "sentencepiece.bpe.model").write_bytes(spm.getvalue())
    architecture = {"mbart": "MBartForCausalLM", "xglm": "XGLMForCausalLM"}[model_type]
    (folder / "config.json").write_text(json.dumps(
        {"model_type": model_type, "architectures": [architecture], "vocab_size": 400}))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": tokenizer_class, "chat_template": LLAMA2_CHAT_TEMPLATE}))
    shutil.copy(tiny_model / "model.safetensors", folder / "model.safetensors")
    return folder
