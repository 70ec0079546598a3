"""SFT of a real tiny Llama checkpoint: loss goes down; a killed run resumes exactly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from prox_tasks.training.lm import build_examples
from prox_tasks.training.sft import (
    IGNORE_INDEX,
    Example,
    SFTConfig,
    _collate,
    plan_epoch,
    train_sft,
)
from tests.training.fixtures import make_docs, tiny_lm_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    from prox_tasks.models.tiny_lm import build_tokenizer

    tok = build_tokenizer([d["text"] for d in make_docs(30)], tiny_lm_config())
    path = tmp_path_factory.mktemp("tok")
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_dir)


def test_examples_put_the_loss_on_the_program_only(tokenizer):
    examples = build_examples(make_docs(3), tokenizer, chunk_tokens=64, doc_tokens=64)
    assert examples
    input_ids, mask, labels = _collate(examples, [0, 1], tokenizer.pad_token_id, 1024)
    for row in range(2):
        ex = examples[row]
        n = len(ex.prompt_ids)
        assert (labels[row, :n] == IGNORE_INDEX).all()
        assert labels[row, n : n + len(ex.target_ids)].tolist() == ex.target_ids
        assert ex.target_ids[-1] == tokenizer.eos_token_id
    # the target decodes back to a program, the prompt is rendered as inference renders it
    text = tokenizer.decode(examples[0].target_ids, skip_special_tokens=True)
    assert text.strip() in ("keep_doc()", "drop_doc()")
    chunk_target = tokenizer.decode(examples[1].target_ids, skip_special_tokens=True)
    assert chunk_target.startswith(("remove_lines(line_start=", "keep_chunk()"))
    assert "[doc]" in tokenizer.decode(examples[1].prompt_ids)


def test_length_bucketing_is_deterministic_and_within_budget():
    lengths = [5, 300, 40, 41, 900, 7, 120] * 10
    config = SFTConfig(batch_tokens=1000, bucket_size=16, seed=3, max_length=1024)
    batches = plan_epoch(lengths, config, epoch=0)
    assert batches == plan_epoch(lengths, config, epoch=0)
    assert batches != plan_epoch(lengths, config, epoch=1)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or max(lengths[i] for i in b) * len(b) <= 1000


def test_truncation_keeps_the_target():
    ids, n_prompt = Example(list(range(10)), [100, 101]).ids(max_length=5)
    assert ids == [0, 1, 2, 100, 101] and n_prompt == 3


def test_tiny_llama_loss_goes_down(tokenizer, tmp_path):
    from prox_tasks.models.tiny_lm import build_model

    model = build_model(tokenizer, tiny_lm_config(), seed=0)
    assert model.config.hidden_size // model.config.num_attention_heads == 64
    examples = build_examples(make_docs(12), tokenizer, chunk_tokens=64, doc_tokens=64)
    config = SFTConfig(max_steps=30, batch_tokens=2048, warmup_steps=3, learning_rate=3e-3,
                       save_every=0, log_every=0, threads=1)  # fmt: skip
    report = train_sft(model, examples, config, tmp_path, pad_id=tokenizer.pad_token_id)
    losses = [h["loss"] for h in report["history"]]
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < 0.5 * losses[0]
    assert (tmp_path / "checkpoint.pt").exists() and (tmp_path / "train_log.jsonl").exists()


def _worker(work, tokenizer_dir, steps, hold_at=0):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "tests.training.sft_worker", str(work), str(tokenizer_dir),
           str(steps), str(hold_at)]  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


@pytest.mark.slow  # three processes that import torch and transformers: ~15-45 s
@pytest.mark.timeout(180)
def test_killed_run_resumes_to_the_same_result(tokenizer_dir, tmp_path):
    import torch

    steps = 10
    full = _worker(tmp_path / "full", tokenizer_dir, steps)
    assert full.wait() == 0
    # a second run is killed (SIGKILL) after its 4th step's checkpoint (it holds still there,
    # so the kill cannot land a step later on a slow machine), then rerun
    killed = _worker(tmp_path / "killed", tokenizer_dir, steps, hold_at=4)
    try:
        for line in killed.stdout:
            if line.startswith("step 4 "):
                os.kill(killed.pid, signal.SIGKILL)
                break
    finally:
        killed.kill()  # no-op once killed; never left holding if the loop failed
    killed.wait()
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed" / "final.pt").exists()
    resumed = _worker(tmp_path / "killed", tokenizer_dir, steps)
    out, _ = resumed.communicate()
    assert resumed.returncode == 0
    assert out.split("\n")[0].startswith("step 5 ")  # it resumed, it did not start over
    a = torch.load(tmp_path / "full" / "final.pt", weights_only=False)
    b = torch.load(tmp_path / "killed" / "final.pt", weights_only=False)
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]
    assert a["state"].keys() == b["state"].keys()
    for name, tensor in a["state"].items():
        assert torch.equal(tensor, b["state"][name]), name


def test_training_runs_on_the_gpu_when_torch_sees_one(tokenizer, tmp_path, monkeypatch):
    """No GPU here: ``torch.cuda.is_available`` is replaced (a mock, the one fault that cannot
    be produced for real), and the model's ``to`` records where it was sent."""
    import torch

    from prox_tasks.models.tiny_lm import build_model
    from prox_tasks.training.sft import training_device

    assert training_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert training_device(None) == torch.device("cuda")
    assert training_device("cpu") == torch.device("cpu")

    class Sent(Exception):
        pass

    def to(device):
        raise Sent(device)

    model = build_model(tokenizer, tiny_lm_config(), seed=0)
    monkeypatch.setattr(model, "to", to)
    with pytest.raises(Sent) as sent:
        train_sft(model, build_examples(make_docs(2), tokenizer, 64, 64),
                  SFTConfig(max_steps=1, save_every=0, log_every=0, threads=1), tmp_path,
                  pad_id=tokenizer.pad_token_id)  # fmt: skip
    assert sent.value.args == (torch.device("cuda"),)


def test_a_checkpoint_of_other_examples_is_not_resumed(tokenizer, tmp_path):
    from prox_tasks.models.tiny_lm import build_model

    config = SFTConfig(max_steps=2, batch_tokens=2048, warmup_steps=1, save_every=1,
                       log_every=0, threads=1)  # fmt: skip
    first = build_examples(make_docs(4), tokenizer, chunk_tokens=64, doc_tokens=64)
    other = build_examples(make_docs(4, seed=5), tokenizer, chunk_tokens=64, doc_tokens=64)
    train_sft(build_model(tokenizer, tiny_lm_config(), seed=0), first, config, tmp_path)
    report = train_sft(build_model(tokenizer, tiny_lm_config(), seed=0), other, config, tmp_path)
    assert report["resumed_from"] == 0 and report["steps"] == 2
    report = train_sft(build_model(tokenizer, tiny_lm_config(), seed=0), other, config, tmp_path)
    assert report["resumed_from"] == 2  # its own steps are resumed
