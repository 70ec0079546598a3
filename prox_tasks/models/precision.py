"""The line tagger's inference precision: which number format its convolutions run in.

``float32`` is the format the tagger was trained and calibrated in. ``bfloat16`` runs the
convolution stack (most of the network's arithmetic) on bfloat16 inputs and weights with
float32 accumulation, and keeps the residual stream, the lexical embedding, the heads and
the pooling in float32: about twice the convolutions' speed on a CPU with native bfloat16
instructions, outputs within the bounds measured in docs/inference.md ("Inference
precision"). ``auto`` (the default) picks ``bfloat16`` where the CPU has native bfloat16
dot products (x86 ``avx512_bf16`` or ``amx_bf16``, Arm ``bf16``/``sve_bf16``, as
:func:`torch.cpu.get_capabilities` reports them) and ``float32`` elsewhere, where
bfloat16 would be emulated and slower. Training (gradients on) always runs in float32.

The setting comes from the caller (``precision=`` of the tagger), else
``$PROX_TAGGER_PRECISION`` (:func:`prox_tasks.pipeline.settings.tagger_precision`).
"""

from __future__ import annotations

# torch.cpu.get_capabilities() keys of native bfloat16 dot products (x86, then Arm)
NATIVE_BFLOAT16 = ("avx512_bf16", "amx_bf16", "bf16", "sve_bf16")


def native_bfloat16() -> bool:
    """Whether this CPU has native bfloat16 dot-product instructions (torch's own CPU
    capability report; cpuinfo underneath)."""
    import torch

    capabilities = torch.cpu.get_capabilities()
    return any(capabilities.get(name) is True for name in NATIVE_BFLOAT16)


def resolve_precision(name: str | None = None) -> str:
    """``float32`` or ``bfloat16``: ``name`` (``auto``, ``float32``, ``bfloat16``), else the
    setting (``$PROX_TAGGER_PRECISION``, default ``auto``); ``auto`` is ``bfloat16`` only
    where :func:`native_bfloat16`."""
    from prox_tasks.pipeline.settings import tagger_precision

    chosen = tagger_precision(name)
    if chosen == "auto":
        return "bfloat16" if native_bfloat16() else "float32"
    return chosen


def torch_dtype(precision: str):
    """The ``torch.dtype`` of a resolved precision (``float32`` or ``bfloat16``)."""
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[precision]
