"""The refine process's memory settings (prox_tasks/refine/memory.py)."""

from __future__ import annotations


def test_refine_shard_bounds_the_heap_before_loading_a_model():
    """bound_heap must run before the first batch: glibc raises its mmap threshold the first
    time a large array is freed, and a later fixed threshold does not undo what the heap
    kept by then."""
    import inspect

    from prox_tasks.refine import step

    source = inspect.getsource(step.refine_shard)
    assert source.index("bound_heap()") < source.index("load_backend(")
