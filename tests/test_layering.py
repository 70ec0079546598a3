"""Package layering: inference and models never import training (no models <-> training
cycle; one prompts module, :mod:`prox_tasks.inference.prompts`, that training imports)."""

import subprocess
import sys


def test_inference_and_models_do_not_import_training():
    code = ("import sys, prox_tasks.inference, prox_tasks.inference.prompts, "
            "prox_tasks.inference.loading, prox_tasks.models, prox_tasks.models.line_tagger\n"
            "print(sorted(m for m in sys.modules if m.startswith('prox_tasks.training')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    assert out.strip() == "[]"


def test_training_takes_its_prompts_from_inference():
    from prox_tasks.inference import prompts
    from prox_tasks.training import lm

    assert lm.doc_prompt is prompts.doc_prompt and lm.chunk_prompts is prompts.chunk_prompts


def test_training_does_not_import_the_quality_gate():
    """Training names its settings as the gate does (:mod:`prox_tasks.setting_names`) without
    loading the gate (Great Expectations) with it."""
    code = ("import sys, prox_tasks.training.run\n"
            "print(sorted(m for m in sys.modules if m.startswith('prox_tasks.quality')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    assert out.strip() == "[]"
