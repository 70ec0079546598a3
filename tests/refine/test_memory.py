"""The refine process's memory settings (prox_tasks/refine/memory.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SHOW = ("from prox_tasks.refine.memory import bound_heap; bound_heap(); "
        "from prox_tasks.models.torch_caches import ONEDNN_CACHE_ENV; "
        "import os; print(os.environ.get(ONEDNN_CACHE_ENV))")


def run_bound_heap(env: dict) -> str:
    out = subprocess.run([sys.executable, "-c", SHOW], env=env, capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


@pytest.fixture
def clean_env():
    return {k: v for k, v in os.environ.items() if k != "ONEDNN_PRIMITIVE_CACHE_CAPACITY"}


def test_bound_heap_turns_onednn_primitive_cache_off(clean_env):
    assert run_bound_heap(clean_env) == "0"


def test_an_explicit_onednn_cache_capacity_wins(clean_env):
    assert run_bound_heap({**clean_env, "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "16"}) == "16"


def test_refine_shard_bounds_the_heap_before_loading_a_model():
    """bound_heap must run before the first forward pass: oneDNN reads the cache size once."""
    import inspect

    from prox_tasks.refine import step

    source = inspect.getsource(step.refine_shard)
    assert source.index("bound_heap()") < source.index("load_backend(")
