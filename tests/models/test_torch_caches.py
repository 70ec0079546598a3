"""torch's per-shape convolution caches are bounded (prox_tasks/models/torch_caches.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from prox_tasks.models.torch_caches import IDEEP_CACHE_ENV, ONEDNN_CACHE_ENV

# A fresh process, as a refine worker starts: imports prox, sets torch's thread count (which
# fixes the cache sizes), then scores batches of 40 distinct padded shapes with the shipped
# tagger and prints the size of the C heap (glibc's main arena, trimmed) after the first 5
# and after all of them. A cached convolution is small, but it stays where it was allocated,
# amid the batch's large temporaries: the heap cannot shrink below it, and the next
# batches' arrays are carved from further up (fragmentation); in a refine process the
# heap's pages fill with those arrays, so the resident memory follows the heap's size.
SCORE_SHAPES = """
import ctypes, json, os
import prox_tasks, torch
torch.set_num_threads(1)
from prox_tasks.models.line_tagger import LineTaggerRefiner
from prox_tasks.models.resolver import shipped_default

class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks",
                "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info

def heap_size():
    libc.malloc_trim(0)
    return libc.mallinfo2().arena

tagger = LineTaggerRefiner(shipped_default().uri, threads=1)
line = "A line of words about the weather in spring and the news of the day."
used = []
for i in range(40):
    tagger.scores(["\\n".join([line] * (300 + 40 * i + d)) for d in range(4)])
    used.append(heap_size())
print(json.dumps({"after_5": used[4], "after_40": used[-1],
                  "settings": [os.environ.get(n) for n in NAMES]}))
""".replace("NAMES", repr((ONEDNN_CACHE_ENV, IDEEP_CACHE_ENV)))


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in (ONEDNN_CACHE_ENV, IDEEP_CACHE_ENV)}
    return {**env, **extra}


def run(code: str, env: dict) -> str:
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


def test_importing_prox_bounds_both_caches():
    code = ("import prox_tasks, os; "
            f"print(os.environ['{ONEDNN_CACHE_ENV}'], os.environ['{IDEEP_CACHE_ENV}'])")
    assert run(code, clean_env()) == "0 1"


def test_explicit_capacities_win():
    code = ("from prox_tasks.models.torch_caches import bound_torch_caches as b; import os; "
            f"b(); print(os.environ['{ONEDNN_CACHE_ENV}'], os.environ['{IDEEP_CACHE_ENV}'])")
    env = clean_env(**{ONEDNN_CACHE_ENV: "16", IDEEP_CACHE_ENV: "8"})
    assert run(code, env) == "16 8"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads glibc's mallinfo2")
def test_memory_stays_flat_across_new_batch_shapes():
    """35 new shapes leave the heap's size as it was with the bounds; with torch's default ideep
    cache the same batches grew it by 47-54 MiB (measured; 0-13 MiB with the bounds, the
    heap's own noise), which is what this test catches."""
    bounded = json.loads(run(SCORE_SHAPES, clean_env()))
    assert bounded["settings"] == ["0", "1"]
    default = json.loads(run(SCORE_SHAPES, clean_env(**{IDEEP_CACHE_ENV: "1024"})))
    mib = 1024 * 1024
    bounded_rise = (bounded["after_40"] - bounded["after_5"]) / mib
    default_rise = (default["after_40"] - default["after_5"]) / mib
    assert bounded_rise < 25, f"the heap grew by {bounded_rise:.1f} MiB over 35 new shapes"
    if default_rise <= 30:  # e.g. an AVX2-only CPU (measured: 13 MiB), whose kernels cache less
        import torch

        pytest.skip(f"torch's default cache grew the heap by only {default_rise:.1f} MiB on "
                    f"this CPU ({torch.backends.cpu.get_cpu_capability()}): nothing to bound")
