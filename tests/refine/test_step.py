"""refine_shard: one shard end to end, idempotent, checkpointed, resumable."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prox_tasks.corpus import plan_shards, read_refined_rows, read_status
from prox_tasks.inference import load_backend
from prox_tasks.models.artifact import artifact_version
from prox_tasks.refine import refine_shard
from prox_tasks.refine.checkpoint import CHECKPOINT_DIR
from tests.inference.helpers import TINY_OPTIONS, short_docs, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
BAD_LINES = ["{not json", '{"id": "no-text"}', '{"id": "blank", "text": "   "}']


@pytest.fixture
def planned(tmp_path):
    """A 30-document corpus with 3 bad records, planned as one shard."""
    source = write_jsonl(tmp_path / "in.jsonl", short_docs(30), BAD_LINES)
    out = tmp_path / "out"
    plan_shards(str(source), str(out), target_docs=1000)
    return out


def _rows(out):
    return sorted(read_refined_rows(str(out)), key=lambda r: r["offset"])


def test_a_shard_is_refined_accounted_and_published(planned, tagger_model):
    result = refine_shard(str(planned), 0, model=str(tagger_model), checkpoint_every=8)
    json.dumps(result)  # the Airflow task returns it: JSON-serializable
    acc, stats = result["accounting"], result["stats"]
    assert result["status"] == "refined" and result["backend"] == "tagger"
    assert acc["docs_read"] == 33 and acc["docs_written"] == 30 and acc["docs_quarantined"] == 3
    assert acc["quarantine_reasons"] == {"empty_text": 1, "malformed_json": 1, "missing_text": 1}
    assert stats["docs_in"] == 33 and stats["docs_kept"] + stats["docs_dropped"] == 30
    assert set(stats["seconds"]) >= {"read", "doc_phase", "chunk_phase", "execute", "write",
                                     "checkpoint", "total"}
    assert stats["usage"]["doc"]["requests"] == 30
    rows = _rows(planned)
    assert [r["id"] for r in rows] == [d["id"] for d in short_docs(30)]
    assert all(r["model_version"] == artifact_version(tagger_model) for r in rows)
    assert not list((planned / CHECKPOINT_DIR).rglob("*.jsonl.zst"))  # cleared once published


def test_a_published_shard_is_skipped_and_force_gives_identical_output(planned, tagger_model):
    first = refine_shard(str(planned), 0, model=str(tagger_model), checkpoint_every=8)
    again = refine_shard(str(planned), 0, model=str(tagger_model), checkpoint_every=8)
    assert again["status"] == "skipped"
    assert again["accounting"]["sha256"] == first["accounting"]["sha256"]
    forced = refine_shard(str(planned), 0, model=str(tagger_model), checkpoint_every=5,
                          force=True)
    assert forced["status"] == "refined"
    assert forced["accounting"]["sha256"] == first["accounting"]["sha256"]


def test_a_shard_refined_again_is_not_done_until_it_is_published_again(planned,
                                                                        tagger_model):
    """--force over a published shard removes its status record before refining (a gate or
    a release meanwhile must not pass on files about to be replaced), once the folder's
    claim still holds this run's settings; a run whose claim was taken over removes
    nothing."""
    from prox_tasks.corpus import load_manifest
    from prox_tasks.refine.claim import claim_settings
    from prox_tasks.refine.step import SettingsConflict, shard_request

    out, model = str(planned), str(tagger_model)
    first = refine_shard(out, 0, model=model)
    seen = []
    forced = refine_shard(out, 0, model=model, force=True,
                          progress=lambda _n: seen.append(read_status(out, 0)))
    assert seen and seen == [None] * len(seen)
    assert read_status(out, 0)["sha256"] == forced["accounting"]["sha256"]
    manifest = load_manifest(out)
    mine = shard_request(model, None, None, None, None)
    theirs = shard_request(model, None, {"line_threshold": 0.9}, None, None)
    claim_settings(out, manifest, theirs, take_over=True)  # another --force run took it over
    with pytest.raises(SettingsConflict, match="shard 0 .* was not published"):
        refine_shard(out, 0, model=model, force=True, request=mine)
    assert read_status(out, 0)["sha256"] == first["accounting"]["sha256"]


class _Crash(Exception):
    pass


def test_an_interrupted_shard_resumes_from_its_checkpoints(planned, tmp_path, tagger_model):
    reference = tmp_path / "reference"
    plan_shards(str(tmp_path / "in.jsonl"), str(reference), target_docs=1000)
    expected = refine_shard(str(reference), 0, model=str(tagger_model), checkpoint_every=8)

    done = []

    def crash_after_two_batches(n):
        done.append(n)
        if len(done) == 2:
            raise _Crash

    with pytest.raises(_Crash):
        refine_shard(str(planned), 0, model=str(tagger_model), checkpoint_every=8,
                     progress=crash_after_two_batches)
    assert read_status(str(planned), 0) is None  # nothing published
    assert len(list((planned / CHECKPOINT_DIR).rglob("part-*.jsonl.zst"))) == 2
    resumed = refine_shard(str(planned), 0, model=str(tagger_model), checkpoint_every=8)
    assert resumed["stats"]["docs_resumed"] == 16
    assert resumed["stats"]["usage"]["doc"]["requests"] == 30  # counts carry over
    assert resumed["accounting"]["sha256"] == expected["accounting"]["sha256"]
    assert _rows(planned) == _rows(reference)


def test_checkpoints_of_another_model_are_discarded(planned, tagger_model, tmp_path):
    from tests.inference.helpers import build_tagger_artifact

    other = build_tagger_artifact(tmp_path / "other", seed=1)  # another version

    def crash(n, seen=[]):  # noqa: B006 - counts calls within this test
        seen.append(n)
        if len(seen) == 2:
            raise _Crash

    with pytest.raises(_Crash):
        refine_shard(str(planned), 0, model=str(other), checkpoint_every=8, progress=crash)
    result = refine_shard(str(planned), 0, model=str(tagger_model), checkpoint_every=8)
    assert result["stats"]["docs_resumed"] == 0
    assert {r["model_version"] for r in _rows(planned)} == {artifact_version(tagger_model)}


# The worker holds still after its second checkpoint (progress is reported once a batch is
# saved), so the kill lands there however loaded the machine is: with no hold a slow poll
# could see the third or fourth checkpoint, or a finished shard, before killing.
_WORKER = """
import sys, time
from prox_tasks.refine import refine_shard
saved = []
def hold_after_two_checkpoints(docs):
    saved.append(docs)
    if len(saved) == 2:
        time.sleep(600)
refine_shard(sys.argv[1], 0, model=sys.argv[2], backend="transformers",
             backend_options={opts!r}, checkpoint_every=3, progress=hold_after_two_checkpoints)
"""


@pytest.mark.slow  # ~17 s idle, over 30 s on a loaded 2-core machine (a real subprocess)
def test_a_killed_process_resumes_with_identical_output(tmp_path, tiny_model):
    """A real subprocess refining with a real model is SIGKILLed mid-shard, then resumed."""
    source = write_jsonl(tmp_path / "in.jsonl", short_docs(12), BAD_LINES[:1])
    out, reference = tmp_path / "out", tmp_path / "reference"
    for folder in (out, reference):
        plan_shards(str(source), str(folder), target_docs=1000)
    options = dict(TINY_OPTIONS, batch_size=8, chunk_max_new_tokens=8)
    script = _WORKER.format(opts=options)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    worker = subprocess.Popen([sys.executable, "-c", script, str(out), str(tiny_model)],
                              cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    parts = out / CHECKPOINT_DIR / "shard-00000"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and worker.poll() is None:
        if len(list(parts.glob("part-*.jsonl.zst"))) >= 2:
            break
        time.sleep(0.02)
    assert worker.poll() is None, "the worker finished before it could be killed"
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    assert read_status(str(out), 0) is None
    saved = len(list(parts.glob("part-*.jsonl.zst")))
    assert saved == 2

    refiner = load_backend("transformers", str(tiny_model), **options)  # as the worker's
    resumed = refine_shard(str(out), 0, refiner=refiner, checkpoint_every=3)
    whole = refine_shard(str(reference), 0, refiner=refiner, checkpoint_every=3)
    assert resumed["stats"]["docs_resumed"] == 3 * saved
    assert resumed["accounting"]["docs_quarantined"] == 1
    assert resumed["accounting"]["sha256"] == whole["accounting"]["sha256"]
    assert _rows(out) == _rows(reference)


def test_a_bad_setting_is_refused_before_the_shard_is_touched(planned, tagger_model,
                                                              monkeypatch):
    """refine_shard, the per-shard entry, checks the refine's deployment variables first:
    a --force refine with PROX_PROGRESS_EVERY wrong had unpublished the shard (and loaded
    the model) before the progress log refused it."""
    from prox_tasks.pipeline.settings import SettingInvalid

    out, model = str(planned), str(tagger_model)
    published = refine_shard(out, 0, model=model)["accounting"]
    monkeypatch.setenv("PROX_PROGRESS_EVERY", "often")
    with pytest.raises(SettingInvalid, match="PROX_PROGRESS_EVERY='often'"):
        refine_shard(out, 0, model=model, force=True)
    assert read_status(out, 0)["sha256"] == published["sha256"]  # still published
