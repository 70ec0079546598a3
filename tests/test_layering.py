"""Package layering: inference and models never import training (no models <-> training
cycle; one prompts module, :mod:`prox_tasks.inference.prompts`, that training imports)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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


def test_the_light_dag_tasks_import_no_model_or_gate_library():
    """Every Airflow task runs in a fresh process: one that neither refines, trains nor gates
    (the DAG file's parse, resolve, plan's option checks, collect, release) loads no torch,
    Great Expectations, pandas or numba kernels (plan's check of a line-tagger model with no
    backend options imported the tagger, numba and scipy with it: 0.3 CPU-s a run)."""
    code = ("import sys\n"
            "sys.path[:0] = ['dags', 'plugins']\n"
            "import prox_refine_snapshot, prox_seed_label, prox_train_refiner\n"
            "from prox_tasks.pipeline import refresh, seeding, training\n"
            "from prox_tasks.models import SHIPPED_MODEL\n"
            "from prox_tasks.refine.options import check_refine_options\n"
            "check_refine_options(1, None, None, str(SHIPPED_MODEL))\n"
            "heavy = ('torch', 'transformers', 'great_expectations', 'pandas', 'pyarrow',\n"
            "         'vllm', 'numba', 'scipy')\n"
            "print(sorted(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout  # fmt: skip
    assert out.strip() == "[]"


def test_parsing_the_dag_files_imports_no_numpy():
    """The scheduler's DAG processor parses each DAG file every 30 s: the refine DAG's Params
    (``dag_config.limit_params``) imported ``refine.limits``, whose default document size
    came from ``prox_tasks.corpus`` — its package loading the writer, its Arrow columns and
    numpy (~100 ms a parse). The default lives in a light module now; numpy loads only
    where a task reads or writes a corpus."""
    code = ("import sys\n"
            "sys.path[:0] = ['dags', 'plugins']\n"
            "import prox_refine_snapshot, prox_seed_label, prox_train_refiner\n"
            "print(sorted(m for m in ('numpy', 'prox_tasks.corpus') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout  # fmt: skip
    assert out.strip() == "[]"
