"""A training run in its own process, for the kill-and-resume test.

    python -m tests.training.sft_worker WORK_DIR TOKENIZER_DIR STEPS [HOLD_AT_STEP]

Prints ``step N`` after each optimizer step (after its checkpoint is written) and saves the
final weights to ``WORK_DIR/final.pt``. With HOLD_AT_STEP it holds still (10 minutes) after
printing that step, so a test's kill lands right after that step's checkpoint whatever the
machine's load.
"""

from __future__ import annotations

import sys
import time


def main() -> int:
    import torch
    from transformers import AutoTokenizer

    from prox_tasks.models.tiny_lm import build_model
    from prox_tasks.training.lm import build_examples
    from prox_tasks.training.sft import SFTConfig, train_sft
    from tests.training.fixtures import make_docs, tiny_lm_config

    work, tok_dir, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    hold_at = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    model = build_model(tokenizer, tiny_lm_config(), seed=0)
    examples = build_examples(make_docs(12), tokenizer, chunk_tokens=64, doc_tokens=64)
    config = SFTConfig(max_steps=steps, batch_tokens=1024, grad_accum=2, save_every=1,
                       warmup_steps=2, learning_rate=3e-3, threads=1, log_every=0)  # fmt: skip

    def on_step(step: int, loss: float) -> None:
        print(f"step {step} {loss:.6f}", flush=True)
        if step == hold_at:
            time.sleep(600)

    report = train_sft(model, examples, config, work, pad_id=tokenizer.pad_token_id,
                       on_step=on_step)  # fmt: skip
    torch.save({"state": model.state_dict(), "history": report["history"]}, f"{work}/final.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
