"""A generative refiner: Hugging Face causal LMs that write the programs (transformers).

An artifact folder holds ``refiner.json`` (``{"kind": "causal_lm", "doc_model": "doc",
"chunk_model": "chunk", "doc_tokens": 2000, "chunk_tokens": 1500, ...}``) and the model
folders it names (``save_pretrained`` output with the tokenizer). Both names may point to
one folder. Any causal LM checkpoint works, on GPU when present.
"""

from __future__ import annotations

import json
from pathlib import Path

from prox_tasks.models.artifact import artifact_version
from prox_tasks.programs import join_chunk_programs
from prox_tasks.training.prompts import chunk_prompts, doc_prompt

REFINER_FILE = "refiner.json"


class CausalLMRefiner:
    """Writes document and chunk programs with greedy decoding.

    Args:
        path: The artifact folder (see module docs).
        device: ``"cpu"``, ``"cuda"``...; ``None`` picks CUDA when present.
        batch_size: Prompts per ``generate`` call.
        threads: torch CPU threads.
    """

    def __init__(self, path, device: str | None = None, batch_size: int = 16, threads: int = 2):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path = Path(path)
        settings_file = self.path / REFINER_FILE
        # a bare Hugging Face checkpoint serves both levels with DESIGN.md's budgets
        self.settings = (json.loads(settings_file.read_text()) if settings_file.exists()
                         else {"kind": "causal_lm", "doc_model": ".", "chunk_model": "."})
        self.version = artifact_version(self.path, self.settings)
        torch.set_num_threads(threads)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size = batch_size
        self._models: dict = {}
        for level in ("doc", "chunk"):
            sub = self.settings.get(f"{level}_model")
            if sub is None:
                continue
            if sub not in self._models:
                tok = AutoTokenizer.from_pretrained(self.path / sub)
                tok.padding_side = "left"
                model = AutoModelForCausalLM.from_pretrained(self.path / sub).to(self.device)
                self._models[sub] = (model.eval(), tok)
        self.doc_tokens = int(self.settings.get("doc_tokens", 2000))
        self.chunk_tokens = int(self.settings.get("chunk_tokens", 1500))

    def _pair(self, level: str):
        sub = self.settings.get(f"{level}_model")
        if sub is None:
            raise ValueError(f"{self.path} has no {level}-level model")
        return self._models[sub]

    def generate(self, level: str, prompts: list[str], max_new_tokens: int) -> list[str]:
        """Greedy completions of ``prompts`` by the ``level`` model, special tokens removed."""
        import torch

        model, tok = self._pair(level)
        outputs: list[str] = []
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        by_index: dict[int, str] = {}
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            enc = tok([prompts[i] for i in idx], return_tensors="pt", padding=True,
                      add_special_tokens=False).to(self.device)  # fmt: skip
            with torch.no_grad():
                gen = model.generate(
                    **enc, max_new_tokens=max_new_tokens, do_sample=False,
                    pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                )  # fmt: skip
            texts = tok.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            for i, text in zip(idx, texts):
                by_index[i] = text.strip()
        outputs = [by_index[i] for i in range(len(prompts))]
        return outputs

    def predict_doc(self, texts: list[str]) -> list[str]:
        """One document-level program per text."""
        _, tok = self._pair("doc")
        prompts = [doc_prompt(tok, t, self.doc_tokens) for t in texts]
        return self.generate("doc", prompts, max_new_tokens=8)

    def predict_chunks(self, texts: list[str]) -> list[str]:
        """One chunk program per text: per-chunk programs joined with scope markers."""
        _, tok = self._pair("chunk")
        spans, prompts = [], []
        for text in texts:
            chunks, chunk_texts = chunk_prompts(tok, text, self.chunk_tokens)
            spans.append(chunks)
            prompts.extend(chunk_texts)
        outputs = iter(self.generate("chunk", prompts, self.settings.get("max_new_tokens", 128)))
        return [
            join_chunk_programs([(c.first_line, c.last_line, next(outputs)) for c in chunks])
            if chunks else "keep_chunk()"
            for chunks in spans
        ]  # fmt: skip
