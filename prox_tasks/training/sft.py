"""Supervised fine-tuning of a causal LM on (prompt, program) pairs.

Loss on the program tokens only; length-bucketed batches under a padded-token budget;
gradient accumulation; AdamW with linear warm-up and cosine decay; a checkpoint every
``save_every`` optimizer steps (model, optimizer, scheduler, step, log) written atomically,
from which a killed run resumes and ends exactly where an uninterrupted run ends: the batch
order is a pure function of the seed and the epoch, and no state lives outside the
checkpoint.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
CHECKPOINT = "checkpoint.pt"


@dataclass
class SFTConfig:
    """Training settings (recorded in the artifact's ``training_config.json``).

    Attributes:
        learning_rate: Peak AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: Linear warm-up steps before the cosine decay.
        epochs: Passes over the examples (fractional allowed); ignored when ``max_steps``.
        max_steps: Optimizer steps to run (overrides ``epochs``).
        batch_tokens: Padded tokens per micro-batch (length bucketing fills it).
        grad_accum: Micro-batches per optimizer step.
        max_length: Examples are truncated to this many tokens (prompt first).
        bucket_size: Examples sorted by length within windows of this many.
        max_grad_norm: Gradient clipping norm.
        seed: Seeds initialisation order, batch order and everything random.
        save_every: Checkpoint every this many optimizer steps (0: only at the end).
        log_every: Log loss every this many optimizer steps.
        threads: torch CPU threads (shared machines: keep it small).
        bf16: bf16 autocast (CPU or GPU).
        max_seconds: Stop (with a checkpoint) after the step that passes this much training
            time in this process; the schedule still follows ``max_steps``/``epochs``.
        device: Where to train (``"cpu"``, ``"cuda"``, ``"cuda:1"``); None: the GPU when
            torch sees one, else the CPU.
    """

    learning_rate: float = 2e-3
    weight_decay: float = 0.0
    warmup_steps: int = 20
    epochs: float = 1.0
    max_steps: int | None = None
    batch_tokens: int = 4096
    grad_accum: int = 1
    max_length: int = 1024
    bucket_size: int = 256
    max_grad_norm: float = 1.0
    seed: int = 0
    save_every: int = 50
    log_every: int = 10
    threads: int = 2
    bf16: bool = False
    max_seconds: float | None = None
    device: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Example:
    """One training pair, tokenized: the prompt ids then the target (program) ids."""

    prompt_ids: list[int]
    target_ids: list[int]

    def ids(self, max_length: int) -> tuple[list[int], int]:
        """(input ids truncated to ``max_length`` keeping the target, prompt length)."""
        target = self.target_ids[:max_length]
        prompt = self.prompt_ids[: max(0, max_length - len(target))]
        return prompt + target, len(prompt)


def plan_epoch(lengths: Sequence[int], config: SFTConfig, epoch: int) -> list[list[int]]:
    """Micro-batches (lists of example indices) for one epoch; deterministic in seed, epoch."""
    rng = random.Random(config.seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    for start in range(0, len(order), config.bucket_size):
        window = sorted(order[start : start + config.bucket_size], key=lambda i: lengths[i])
        batches += pack_padded(window, lengths, config.max_length, config.batch_tokens)
    rng.shuffle(batches)
    return batches


def pack_padded(order: Sequence[int], sizes: Sequence[int], cap: int, budget: int) -> list[list[int]]:
    """Greedy batches of ``order`` whose padded size (longest x count, each size capped at
    ``cap``) stays within ``budget``; a single over-budget item gets a batch of its own."""
    batches: list[list[int]] = []
    batch: list[int] = []
    longest = 0
    for i in order:
        size = min(sizes[i], cap)
        if batch and max(longest, size) * (len(batch) + 1) > budget:
            batches.append(batch)
            batch, longest = [], 0
        batch.append(i)
        longest = max(longest, size)
    if batch:
        batches.append(batch)
    return batches


def total_steps(n_batches_per_epoch: int, config: SFTConfig) -> int:
    if config.max_steps is not None:
        return config.max_steps
    return max(1, math.ceil(n_batches_per_epoch * config.epochs / config.grad_accum))


def _collate(examples: Sequence[Example], indices: list[int], pad_id: int, max_length: int):
    import torch

    rows = [examples[i].ids(max_length) for i in indices]
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (ids, n_prompt) in enumerate(rows):
        input_ids[r, : len(ids)] = torch.tensor(ids)
        labels[r, n_prompt : len(ids)] = torch.tensor(ids[n_prompt:])
        mask[r, : len(ids)] = 1
    return input_ids, mask, labels


def _lr_lambda(config: SFTConfig, steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, steps - config.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def training_device(device: str | None = None):
    """``device`` as a torch device; None: ``cuda`` when torch sees a GPU, else ``cpu``."""
    import torch

    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def _origin(examples: Sequence[Example], config: SFTConfig) -> dict:
    """What a checkpoint must have been trained on, and with, to be resumed: a digest of
    the examples and the settings that shape the run (not threads, device or logging)."""
    import hashlib
    from array import array

    digest = hashlib.sha256()
    for example in examples:
        digest.update(array("q", [len(example.prompt_ids), len(example.target_ids)]).tobytes())
        digest.update(array("q", example.prompt_ids + example.target_ids).tobytes())
    shaping = {k: v for k, v in config.to_dict().items()
               if k not in ("threads", "device", "log_every", "save_every", "max_seconds")}
    return {"examples": digest.hexdigest(), "config": shaping}


def _save_checkpoint(path: Path, model, optimizer, scheduler, step: int, history: list,
                     origin: dict | None = None) -> None:
    from prox_tasks.training.checkpoints import save_checkpoint

    state = {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(), "step": step, "history": history,
        "origin": origin,
    }  # fmt: skip
    save_checkpoint(state, path)


def train_sft(
    model,
    examples: Sequence[Example],
    config: SFTConfig,
    output_dir: str | os.PathLike,
    pad_id: int = 0,
    on_step: Callable[[int, float], None] | None = None,
) -> dict:
    """Train ``model`` (a Hugging Face causal LM) in place; resume from ``output_dir``.

    Args:
        model: The model, moved to ``config.device`` (:func:`training_device`); its weights
            are replaced by the checkpoint's when resuming.
        examples: Tokenized (prompt, program) pairs.
        config: Training settings.
        output_dir: Working folder holding ``checkpoint.pt`` and ``train_log.jsonl``.
        pad_id: Padding token id.
        on_step: Called as ``on_step(step, loss)`` after each optimizer step.

    Returns:
        ``{"steps", "final_loss", "history", "tokens_per_s", "train_seconds",
        "peak_rss_mb", "resumed_from"}``.
    """
    import torch

    from prox_tasks.training.divergence import ADAM_BETA1, check_loss

    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = training_device(config.device)
    model.to(device)  # before the optimizer is built, so its state lives there too
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    lengths = [min(len(e.prompt_ids) + len(e.target_ids), config.max_length) for e in examples]
    steps = total_steps(len(plan_epoch(lengths, config, 0)), config)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "norm" in name else decay).append(p)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=config.learning_rate, betas=(ADAM_BETA1, 0.95),
    )  # fmt: skip
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config, steps))
    history: list[dict] = []
    step = 0
    ckpt = out / CHECKPOINT
    origin = _origin(examples, config)
    state = torch.load(ckpt, map_location="cpu", weights_only=False) if ckpt.exists() else None
    if state is not None and state.get("origin", origin) != origin:
        # another run's steps (other examples or schedule): resuming them would continue,
        # and publish, the wrong model
        log.warning("%s belongs to another training run; starting over", ckpt)
        state = None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, history = state["step"], state["history"]
        log.info("resuming from step %d of %d", step, steps)
    resumed_from = step
    model.train()

    def stream():
        epoch = 0
        while True:
            yield from plan_epoch(lengths, config, epoch)
            epoch += 1

    batches = stream()
    for _ in range(step * config.grad_accum):  # skip what the checkpoint has seen
        next(batches)
    start = time.perf_counter()
    tokens = 0
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16)
    while step < steps:
        group = [next(batches) for _ in range(config.grad_accum)]
        collated = [_collate(examples, b, pad_id, config.max_length) for b in group]
        n_target = sum(int((lab[:, 1:] != IGNORE_INDEX).sum()) for _, _, lab in collated)
        total = 0.0
        for input_ids, mask, labels in collated:
            input_ids, mask, labels = input_ids.to(device), mask.to(device), labels.to(device)
            with autocast:
                logits = model(input_ids=input_ids, attention_mask=mask).logits
            loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].float().reshape(-1, logits.size(-1)),
                labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum",
            ) / max(1, n_target)  # fmt: skip
            loss.backward()
            total += float(loss.detach())
            tokens += int(mask.sum())
        check_loss(total, step + 1, config.learning_rate)  # before the step: no NaN weights
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        history.append({"step": step, "loss": total, "lr": scheduler.get_last_lr()[0]})
        if config.log_every and (step % config.log_every == 0 or step == steps):
            rate = tokens / max(1e-9, time.perf_counter() - start)
            log.info("step %d/%d loss %.4f (%.0f tokens/s)", step, steps, total, rate)
        if config.save_every and step % config.save_every == 0 and step < steps:
            _save_checkpoint(ckpt, model, optimizer, scheduler, step, history, origin)
        if on_step is not None:
            on_step(step, total)
        if config.max_seconds is not None and time.perf_counter() - start > config.max_seconds:
            log.info("time budget of %.0f s reached at step %d of %d", config.max_seconds, step, steps)
            break
    _save_checkpoint(ckpt, model, optimizer, scheduler, step, history, origin)
    elapsed = time.perf_counter() - start
    with open(out / "train_log.jsonl", "w") as fh:
        fh.writelines(json.dumps(h) + "\n" for h in history)
    return {
        "steps": step, "final_loss": history[-1]["loss"] if history else None,
        "history": history, "tokens_per_s": tokens / elapsed if elapsed > 0 else 0.0,
        "train_seconds": elapsed, "peak_rss_mb": peak_rss_mb(), "resumed_from": resumed_from,
    }  # fmt: skip


def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MiB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
