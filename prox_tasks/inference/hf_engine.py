"""The ``transformers`` engine: ``generate`` with left padding over length-sorted batches.

The fallback where vLLM is not installed, and the comparison point of the benchmark.
Prompts are sorted by length and cut into batches of at most ``batch_size`` prompts and
``batch_tokens`` padded tokens, so padding stays small; greedy decoding; no constraints.
"""

from __future__ import annotations

from prox_tasks.inference.base import Completion, GenerationRequest


class TransformersEngine:
    """Greedy generation with a Hugging Face causal LM.

    Args:
        model_dir: A ``save_pretrained`` folder (model and tokenizer).
        device: ``"cpu"``, ``"cuda"``...; None picks CUDA when present.
        dtype: ``"auto"``, ``"float32"``, ``"bfloat16"``...
        batch_size: Most prompts per ``generate`` call.
        batch_tokens: Most padded prompt tokens per ``generate`` call.
        threads: torch CPU threads (None: leave torch's setting).
    """

    name = "transformers"
    supports_constraints = False

    def __init__(self, model_dir: str, device: str | None = None, dtype: str = "auto",
                 batch_size: int = 32, batch_tokens: int = 32768,
                 threads: int | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.tokenizer.padding_side = "left"
        torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch_dtype)
        self.model.to(self.device).eval()
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id
        self.eos_id = self.tokenizer.eos_token_id
        self.batch_size, self.batch_tokens = batch_size, batch_tokens
        self.max_model_len = int(getattr(self.model.config, "max_position_embeddings", 2048))

    def _batches(self, requests: list[GenerationRequest]) -> list[list[int]]:
        order = sorted(range(len(requests)), key=lambda i: (len(requests[i].prompt_ids),
                                                            requests[i].max_new_tokens))
        batches: list[list[int]] = []
        for i in order:
            size = len(requests[i].prompt_ids)
            if batches and len(batches[-1]) < self.batch_size and \
                    size * (len(batches[-1]) + 1) <= self.batch_tokens:  # fmt: skip
                batches[-1].append(i)  # sorted: this prompt is the batch's longest
            else:
                batches.append([i])
        return batches

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        import torch

        out: list[Completion | None] = [None] * len(requests)
        for batch in self._batches(requests):
            width = max(len(requests[i].prompt_ids) for i in batch)
            ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                prompt = requests[i].prompt_ids
                ids[row, width - len(prompt):] = torch.tensor(prompt, dtype=torch.long)
                mask[row, width - len(prompt):] = 1
            limit = max(requests[i].max_new_tokens for i in batch)
            with torch.no_grad():
                gen = self.model.generate(
                    input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                    max_new_tokens=limit, do_sample=False, pad_token_id=self.pad_id,
                    eos_token_id=self.eos_id,
                )  # fmt: skip
            for row, i in enumerate(batch):
                out[i] = self._completion(gen[row, width:].tolist(), requests[i])
        return out  # type: ignore[return-value]

    def _completion(self, new_ids: list[int], request: GenerationRequest) -> Completion:
        new_ids = new_ids[: request.max_new_tokens]
        stopped = self.eos_id is not None and self.eos_id in new_ids
        if stopped:
            new_ids = new_ids[: new_ids.index(self.eos_id) + 1]
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        reason = "stop" if stopped or len(new_ids) < request.max_new_tokens else "length"
        return Completion(text, len(request.prompt_ids), len(new_ids), reason)

    def close(self) -> None:
        self.model = None
