"""The fork server's imports (prox_tasks.refine.worker_imports) leave the feature kernels
compiled for what real pages need: a forked worker loads or compiles none of them again."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import gzip, json, numba
from prox_tasks.models import line_features

def signatures():  # of every kernel of prox's modules
    return {f"{m.__name__}.{n}": len(d.signatures)
            for m in list(sys.modules.values()) if m.__name__.startswith("prox_tasks.")
            for n, d in vars(m).items() if isinstance(d, numba.core.registry.CPUDispatcher)}

before = signatures()
import prox_tasks.refine.worker_imports
warm = signatures()
texts = [json.loads(line)["text"] for line in gzip.open(sys.argv[1], "rt", encoding="utf-8")]
for stats in (True, False):
    line_features.featurize_batch(texts, 1 << 15, stats)
print(json.dumps([before, warm, signatures()]))
"""


def test_the_warm_up_compiles_every_kernel_real_pages_use():
    sample = ROOT / "data" / "sample" / "sample.jsonl.gz"
    out = subprocess.run([sys.executable, "-c", "import sys\n" + CHECK, str(sample)],
                         capture_output=True, text=True, check=True, cwd=ROOT)  # fmt: skip
    import json

    before, warm, after = json.loads(out.stdout)
    assert len(before) >= 5 and not any(before.values())  # nothing compiled before the warm-up
    assert any(warm.values())  # the kernels ran (inline helpers compile into their callers)
    assert after == warm  # 300 real pages needed no other compiled variant
