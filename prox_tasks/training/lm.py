"""The generative path: SFT of a causal LM on the seed set's programs, saved as an artifact.

The base is any Hugging Face causal LM folder (local or S3, e.g. the ProX paper's refining
models or a SmolLM-class model) or, with no base, the embedded tiny Llama and its tokenizer
with line tokens (:mod:`prox_tasks.models.tiny_lm`) built from the training texts. One
model learns both levels (document and chunk prompts differ), as ``refiner.json`` records.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from prox_tasks.inference.prompts import chunk_prompts, doc_prompt
from prox_tasks.training.sft import Example, SFTConfig, train_sft
from prox_tasks.training.targets import chunk_targets


def build_examples(docs: list[dict], tokenizer, chunk_tokens: int, doc_tokens: int = 2000,
                   levels: tuple[str, ...] = ("doc", "chunk")) -> list[Example]:
    """Tokenized (prompt, program) pairs of ``docs`` at ``levels``, rendered as inference does.

    The target is the program, a newline and the EOS token; loss falls on it only.
    """
    eos = [tokenizer.eos_token_id]

    def encode(text: str) -> list[int]:
        return tokenizer.encode(text, add_special_tokens=False)

    examples = []
    for doc in docs:
        text = doc.get("text") or ""
        if "doc" in levels and doc.get("doc_program"):
            target = doc["doc_program"].strip() + "\n"
            examples.append(Example(encode(doc_prompt(tokenizer, text, doc_tokens)),
                                    encode(target) + eos))  # fmt: skip
        if "chunk" in levels and doc.get("chunk_program") is not None:
            chunks, prompts = chunk_prompts(tokenizer, text, chunk_tokens)
            for prompt, target in zip(prompts, chunk_targets(text, doc["chunk_program"], chunks)):
                examples.append(Example(encode(prompt), encode(target + "\n") + eos))
    return examples


def train_causal_lm(train_docs: list[dict], out_dir: str | os.PathLike, work_dir,
                    config: SFTConfig, base: str | None = None, chunk_tokens: int = 256,
                    doc_tokens: int = 512, tiny: dict | None = None,
                    base_dir: str | os.PathLike | None = None) -> tuple[Path, dict]:
    """Fine-tune ``base`` (or the embedded tiny LM) and save a ``causal_lm`` artifact.

    ``base`` is a Hugging Face model folder or a ``causal_lm`` refiner artifact (what this
    function writes: ``refiner.json`` and the model in the folder its ``doc_model`` names),
    recorded as given; ``base_dir`` is its local folder when the caller resolved it
    (``default``, ``promoted``, an S3 copy), else ``base`` is fetched here.

    Raises:
        ValueError: An artifact with a model per level (one folder can be fine-tuned).

    Returns:
        (artifact folder, training report from :func:`train_sft`).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prox_tasks.models.tiny_lm import TinyLMConfig, build_model, build_tokenizer
    from prox_tasks.registry import fetch_folder

    if base is None:
        tiny_config = TinyLMConfig(**(tiny or {}))
        tokenizer = build_tokenizer((d.get("text") or "" for d in train_docs), tiny_config)
        model = build_model(tokenizer, tiny_config, seed=config.seed)
    else:
        base_dir = model_folder(Path(base_dir) if base_dir is not None else fetch_folder(base),
                                base)
        tokenizer = AutoTokenizer.from_pretrained(base_dir)
        model = AutoModelForCausalLM.from_pretrained(base_dir)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
    examples = build_examples(train_docs, tokenizer, chunk_tokens, doc_tokens)
    report = train_sft(model, examples, config, work_dir, pad_id=tokenizer.pad_token_id)
    report["examples"] = len(examples)
    report["parameters"] = sum(p.numel() for p in model.parameters())
    out = Path(out_dir)
    model.save_pretrained(out / "model")
    tokenizer.save_pretrained(out / "model")
    settings = {"kind": "causal_lm", "doc_model": "model", "chunk_model": "model",
                "doc_tokens": doc_tokens, "chunk_tokens": chunk_tokens, "max_new_tokens": 128,
                "base": base or "embedded-tiny-llama", "tiny": tiny}  # fmt: skip
    (out / "refiner.json").write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")
    return out, report


def model_folder(folder: Path, base: str) -> Path:
    """The Hugging Face folder to fine-tune in ``folder``: the folder itself, or the one a
    ``causal_lm`` artifact's ``refiner.json`` names (its tokenizer and weights live there:
    transformers finds neither at the artifact's top)."""
    from prox_tasks.models.artifact import read_refiner_settings

    settings = read_refiner_settings(folder)
    doc, chunk = settings.get("doc_model", "."), settings.get("chunk_model", ".")
    if doc != chunk:
        raise ValueError(f"--base {base} holds a model per level (doc_model {doc!r}, "
                         f"chunk_model {chunk!r}); fine-tune one of them: --base "
                         f"{folder / doc} or {folder / chunk}")
    return folder / doc
