"""The settings claim of a snapshot folder: runs with other settings are refused before any
shard is refined, whoever starts first — real processes, on local disk and on S3."""

from __future__ import annotations

import json
import multiprocessing
import os
import time

import pytest

from prox_tasks.corpus import load_manifest, plan_shards, read_status
from prox_tasks.refine.claim import SETTINGS_CLAIM_NAME, check_claim, claim_settings
from prox_tasks.refine.step import SettingsConflict, shard_request
from prox_tasks.refine.workers import refine_shards
from prox_tasks.release.release import check_releasable
from prox_tasks.storage import join_uri, put_atomic, read_json
from tests.inference.helpers import short_docs

THRESHOLDS = (0.3, 0.7)
SHARDS = 3


def _input(root: str) -> str:
    """Three shards' worth of real documents at ``root``/in/."""
    rows = "".join(json.dumps(d) + "\n" for d in short_docs(SHARDS * 4, lines=5, width=80))
    put_atomic(join_uri(root, "in", "part-0.jsonl"), rows)
    return join_uri(root, "in") + "/"


def _refine_at_the_same_moment(input_uri, output_uri, model, threshold, start, refining, go,
                               outcomes) -> None:
    """A child process: ``refine_corpus`` (what ``prox refine`` runs) with keep threshold
    ``threshold``, started when ``start`` is set. Once past every check up front it reports
    ``refining`` and waits for ``go`` before refining its first shard: without a claim both
    runs get there, and neither publishes before the other has started refining."""
    from prox_tasks.refine import step
    from prox_tasks.refine.corpus import refine_corpus

    refine = step._refine

    def at_the_rendezvous(*args, **kwargs):
        refining.set()
        go.wait(120)
        return refine(*args, **kwargs)

    step._refine = at_the_rendezvous
    start.wait(120)
    try:
        summary = refine_corpus(input_uri, output_uri, model=model, target_docs=4,
                                backend_options={"line_threshold": threshold})
        outcomes.put((threshold, "refined", summary["shards_refined"]))
    except SettingsConflict as err:
        outcomes.put((threshold, "refused", str(err)))


def _race(input_uri: str, output_uri: str, model: str) -> dict:
    """Start two refines of one folder with other keep thresholds at once, in two processes;
    their outcomes by threshold."""
    ctx = multiprocessing.get_context("spawn")
    start, go, outcomes = ctx.Event(), ctx.Event(), ctx.Queue()
    refining = [ctx.Event() for _ in THRESHOLDS]
    runs = [ctx.Process(target=_refine_at_the_same_moment,
                        args=(input_uri, output_uri, model, t, start, r, go, outcomes))
            for t, r in zip(THRESHOLDS, refining)]  # fmt: skip
    for run in runs:
        run.start()
    start.set()
    deadline = time.monotonic() + 180
    # both refining (no claim), or one stopped (refused): let the refining one go on
    while (time.monotonic() < deadline and not all(r.is_set() for r in refining)
           and all(run.is_alive() for run in runs)):
        time.sleep(0.05)
    go.set()
    found = {}
    for _ in runs:
        threshold, outcome, detail = outcomes.get(timeout=300)
        found[threshold] = (outcome, detail)
    for run in runs:
        run.join(60)
    assert [run.exitcode for run in runs] == [0, 0]
    return found


def _check_one_refused(found: dict, output_uri: str) -> None:
    """Exactly one run refined; the other was refused naming the keep thresholds, and every
    published shard holds the winner's settings (the gate's ``refine_settings`` is 1)."""
    from prox_tasks.quality.frames import build_frames

    assert sorted(outcome for outcome, _ in found.values()) == ["refined", "refused"], found
    [winner] = [t for t, (outcome, _) in found.items() if outcome == "refined"]
    [loser] = [t for t in THRESHOLDS if t != winner]
    message = found[loser][1]
    assert f"keep_threshold {winner!r} -> {loser!r}" in message, message
    assert found[winner][1] == SHARDS
    manifest = load_manifest(output_uri)
    thresholds = {read_status(output_uri, s.index, manifest.id)["request"]["keep_threshold"]
                  for s in manifest.shards}  # fmt: skip
    assert thresholds == {winner}
    assert build_frames(output_uri).metrics["refine_settings"] == 1
    assert read_json(join_uri(output_uri, SETTINGS_CLAIM_NAME))["request"][
        "keep_threshold"] == winner  # fmt: skip


@pytest.mark.slow  # two processes loading the refine code and the tagger (~20 s on 2 cores)
def test_two_local_runs_with_other_thresholds_at_once_one_is_refused_up_front(
        tmp_path, tagger_model):
    out = str(tmp_path / "out")
    found = _race(_input(str(tmp_path)), out, str(tagger_model))
    _check_one_refused(found, out)


@pytest.mark.slow
def test_two_s3_runs_with_other_thresholds_at_once_one_is_refused_up_front(
        s3_bucket, moto_server, tagger_model, monkeypatch):
    # the runs are other processes: they find the S3 server through the environment
    monkeypatch.setenv("PROX_S3_ENDPOINT_URL", moto_server.endpoint_url)
    monkeypatch.setenv("PROX_S3_ADDRESSING_STYLE", "path")
    out = f"{s3_bucket}/out"
    found = _race(_input(s3_bucket), out, str(tagger_model))
    _check_one_refused(found, out)


# ---- the claim's rules, one process -------------------------------------------------------


@pytest.fixture
def planned(tmp_path):
    out = str(tmp_path / "out")
    return out, plan_shards(_input(str(tmp_path)), out, target_docs=4)


def _request(threshold: float | None = None, model: str = "m") -> dict:
    return shard_request(model, None, None if threshold is None
                         else {"line_threshold": threshold}, None, None)  # fmt: skip


def test_the_same_settings_again_proceed_and_leave_the_claim_as_it_is(planned):
    out, manifest = planned
    claim_settings(out, manifest, _request(0.3))
    claimed = read_json(join_uri(out, SETTINGS_CLAIM_NAME))
    assert claimed == {"manifest_id": manifest.id, "request": _request(0.3)}
    claim_settings(out, manifest, _request(0.3))  # a retry, another shard task
    claim_settings(out, manifest, _request(0.3), take_over=True)  # a retried --force
    with pytest.raises(SettingsConflict, match=r"claimed.*keep_threshold 0\.3 -> 0\.7") as err:
        claim_settings(out, manifest, _request(0.7))
    assert err.value.differences == ["keep_threshold 0.3 -> 0.7"]
    assert read_json(join_uri(out, SETTINGS_CLAIM_NAME)) == claimed


def test_a_refusal_names_who_holds_the_claim(planned):
    """A run refused for other settings is told who claimed the folder: the prox refine
    process the claim names (it may still run), else the DAG's plan. It said only "another
    run refines it, or did"."""
    import socket

    from prox_tasks.refine import runner as runners

    out, manifest = planned
    claim_settings(out, manifest, _request(0.3), runner=runners.current())  # a prox refine
    with pytest.raises(SettingsConflict) as err:
        claim_settings(out, manifest, _request(0.7))  # the DAG's plan
    assert (f"by prox refine process {os.getpid()} on {socket.gethostname()}, which may still "
            "be refining it); refine into a new output folder" in str(err.value))
    claim_settings(out, manifest, _request(0.3), for_others=True)  # the DAG shares it: no process
    with pytest.raises(SettingsConflict, match=r"by a refine DAG run's plan, or by runs that "
                                               r"shared it\); refine into a new output folder"):
        claim_settings(out, manifest, _request(0.7), runner=runners.current())


def test_force_takes_the_claim_over_and_the_old_run_publishes_no_more(planned, tagger_model):
    from prox_tasks.refine.step import refine_shard

    out, manifest = planned
    model = str(tagger_model)
    old = refine_shards(out, [0], model=model, backend_options={"line_threshold": 0.3})
    assert old[0]["status"] == "refined"
    new = refine_shards(out, [1], model=model, backend_options={"line_threshold": 0.7},
                        force=True)  # takes the claim over
    assert new[0]["status"] == "refined"
    # the old run, starting its next shard task (the DAG's plan claimed for it): refused
    with pytest.raises(SettingsConflict, match=r"is claimed.*0\.7 -> 0\.3"):
        refine_shards(out, [2], model=model, backend_options={"line_threshold": 0.3},
                      settings_claimed=True)
    # ... or refining a shard while the claim was taken over: not published
    with pytest.raises(SettingsConflict, match=r"shard 2 .* was not published.*0\.7 -> 0\.3"):
        refine_shard(out, 2, model=model, backend_options={"line_threshold": 0.3},
                     request=_request(0.3, model))
    assert read_status(out, 2, manifest.id) is None
    check_claim(out, manifest.id, _request(0.7, model), 2)  # the new run's shards publish


def test_a_folder_without_a_claim_is_judged_by_its_published_shards(planned, tagger_model):
    """A folder refined before claims existed: its status records say what it holds."""
    from prox_tasks.storage import remove

    out, manifest = planned
    model = str(tagger_model)
    refine_shards(out, [0], model=model, backend_options={"line_threshold": 0.3})
    remove(join_uri(out, SETTINGS_CLAIM_NAME))
    with pytest.raises(SettingsConflict, match=r"shard 0 .*refined with other settings"):
        claim_settings(out, manifest, _request(0.7, model))
    assert read_json(join_uri(out, SETTINGS_CLAIM_NAME)) is None  # refused: nothing claimed
    claim_settings(out, manifest, _request(0.3, model))  # its settings: claimed for them
    assert read_json(join_uri(out, SETTINGS_CLAIM_NAME))["request"] == _request(0.3, model)


def test_a_claim_of_a_replaced_plan_counts_as_none(planned):
    out, manifest = planned
    put_atomic(join_uri(out, SETTINGS_CLAIM_NAME),
               json.dumps({"manifest_id": "replaced", "request": _request(0.3)}))
    claim_settings(out, manifest, _request(0.7))
    assert read_json(join_uri(out, SETTINGS_CLAIM_NAME))["manifest_id"] == manifest.id


def test_a_rerun_naming_no_model_keeps_the_claimed_one(planned):
    """A run killed before it published a shard (it could not give its claim up) still holds
    it: a rerun that names no model takes the claimed one, not one promoted since (which the
    claim would refuse)."""
    from prox_tasks.refine.options import snapshot_model

    out, manifest = planned
    assert snapshot_model(out) is None
    claim_settings(out, manifest, _request(model="/models/v1"))
    assert (snapshot_model(out).uri, snapshot_model(out).source) == ("/models/v1", "snapshot")


def test_a_takeover_stops_worker_processes_with_the_conflict_not_a_broken_pool(
        planned, tagger_model, tmp_path):
    """``--workers``/``workers_per_task``: the shards are refined in worker processes, whose
    errors travel back pickled. A takeover while they refine must reach the caller as the
    refusal it is (no attempt booked, the snapshot not booked failed), not as the pool
    breaking on an exception it cannot rebuild (BrokenProcessPool: every shard booked
    failed, the snapshot too)."""
    import pickle

    from prox_tasks.catalog import Catalog
    from prox_tasks.refine.booking import ShardBooking, book_failed, register_plan

    error = SettingsConflict("shard 2 was not published", ["keep_threshold 0.7 -> 0.3"])
    again = pickle.loads(pickle.dumps(error))
    assert (str(again), again.differences) == (str(error), error.differences)

    out, manifest = planned
    model = str(tagger_model)
    catalog = Catalog(f"sqlite:///{tmp_path}/cat.sqlite")
    register_plan(catalog, "snap", manifest)

    class TakenOverWhileRefining(ShardBooking):
        def start(self, index: int, reused: bool) -> None:
            super().start(index, reused)  # then a --force run claims the folder
            claim_settings(out, manifest, _request(0.7, model), take_over=True)

    with pytest.raises(SettingsConflict, match=r"was not published.*0\.7 -> 0\.3") as err:
        refine_shards(out, [0, 1], workers=2, model=model, settings_claimed=True,
                      backend_options={"line_threshold": 0.3},
                      booking=TakenOverWhileRefining(catalog, "snap"))
    book_failed(catalog, "snap", err.value)  # what refine_batch and refine_corpus do
    assert catalog.get_snapshot("snap")["status"] == "planned"
    assert [s["attempts"] for s in catalog.get_shards("snap")][:2] == [0, 0]
    assert [read_status(out, i, manifest.id) for i in (0, 1)] == [None, None]
    catalog.close()


def test_a_run_refining_a_plan_replaced_and_claimed_meanwhile_publishes_no_more(
        planned, tagger_model):
    """reprocess (or --force) with a changed input plans the folder again and claims it for
    the new plan: a run still refining the old plan must not publish its shards over the
    new plan's (its claim check found "no claim of my plan" and let it publish)."""
    from prox_tasks.refine.step import refine_shard

    out, manifest = planned
    model = str(tagger_model)
    claim_settings(out, manifest, _request(0.3, model))  # this run's claim, up front
    put_atomic(join_uri(out, SETTINGS_CLAIM_NAME),  # the new plan's run claimed it since
               json.dumps({"manifest_id": "replanned", "request": _request(0.3, model)}))
    with pytest.raises(SettingsConflict, match=r"shard 2 .* not published.*planned again"):
        refine_shard(out, 2, model=model, backend_options={"line_threshold": 0.3},
                     request=_request(0.3, model))
    assert read_status(out, 2) is None


def test_a_gated_folder_takes_no_more_shards_even_of_the_same_settings(planned, tagger_model):
    """Once the gate judged the folder (``mark_gated``: the DAG's gate, ``prox gate
    --name``), a run still refining its plan with the same settings publishes nothing there
    (a sampling backend would write other bytes than the gate judged); reruns with those
    settings keep the mark, and ``--force`` (``reprocess``) clears it: refined again, the
    folder needs the gate again."""
    import pickle

    from prox_tasks.refine.claim import GatedSnapshot, mark_gated
    from prox_tasks.refine.step import refine_shard

    out, manifest = planned
    model = str(tagger_model)
    refine_shards(out, [0, 1], model=model, backend_options={"line_threshold": 0.3})
    mark_gated(out, manifest.id, "snap", "quarantined")
    with pytest.raises(GatedSnapshot, match=r"shard 2 .* was not published: snapshot snap "
                       r"there was gated \(quarantined\).*another snapshot name.*--force"):
        refine_shard(out, 2, model=model, backend_options={"line_threshold": 0.3},
                     request=_request(0.3, model))
    assert read_status(out, 2, manifest.id) is None
    again = pickle.loads(pickle.dumps(GatedSnapshot("x")))  # from worker processes
    assert (type(again), str(again)) == (GatedSnapshot, "x")
    # a rerun would refine shard 2, which the mark says the gate judged: refused up front
    with pytest.raises(GatedSnapshot, match=r"shard 2 .* is not published and was not "
                       r"refined: snapshot snap there was gated \(quarantined\),"):
        claim_settings(out, manifest, _request(0.3, model))
    published = manifest.part([0, 1])  # a rerun (a DAG task) reusing them: the mark stays
    claim_settings(out, published, _request(0.3, model))
    claim_settings(out, published, _request(0.3, model), for_others=True)  # the DAG's plan
    claim = read_json(join_uri(out, SETTINGS_CLAIM_NAME))
    assert "runner" not in claim  # rewritten as shared, and still marked
    assert claim["gated"] == {"snapshot": "snap", "verdict": "quarantined"}
    claim_settings(out, manifest, _request(0.3, model), take_over=True)  # --force
    assert "gated" not in read_json(join_uri(out, SETTINGS_CLAIM_NAME))
    assert refine_shard(out, 2, model=model, backend_options={"line_threshold": 0.3},
                        request=_request(0.3, model))["status"] == "refined"


def test_a_run_the_gate_refuses_leaves_the_record_another_run_published(planned):
    """Run A checks shard 2 (unpublished) and goes on to refine it; in that window run B
    (the same settings) publishes shard 2 and the gate judges the folder, passes and freezes
    it; then A's writer runs. A is refused at publish (GatedSnapshot) and B's shard stays
    published: the release goes on with the files the gate judged. Before, A's writer
    removed shard 2's status record when it started, and the release failed ("shard 2 is
    not written"). A's steps are refine_shard's, called in that order: its check, its
    refined rows, its writer with its claim check before publishing."""
    from prox_tasks.corpus import Quarantine, read_shard, write_refined_shard
    from prox_tasks.quality import run_gate
    from prox_tasks.refine.claim import GatedSnapshot, mark_gated
    from prox_tasks.refine.step import refine_shard
    from tests.corpus.conftest import refine_rows

    out, manifest = planned
    request = _request(None, None)  # the embedded model: one the gate passes
    refine_shards(out, [0, 1])
    assert read_status(out, 2, manifest.id) is None  # A: not published, so refine it
    other = refine_shard(out, 2, request=request)  # B publishes it meanwhile
    assert other["status"] == "refined"
    result = run_gate(out)
    assert result.passed, result.summary()["failed"]
    mark_gated(out, manifest.id, "snap", "gated")
    quarantine = Quarantine()
    with pytest.raises(GatedSnapshot, match=r"shard 2 .* was not published: snapshot snap"):
        write_refined_shard(out, 2, refine_rows(read_shard(manifest, 2, quarantine)),
                            quarantine=quarantine, request=request, manifest_id=manifest.id,
                            before_publish=lambda: check_claim(out, manifest.id, request, 2))
    _, statuses = check_releasable(out)
    assert [s["sha256"] for s in statuses] == [result.shard_checksums[str(i)]
                                               for i in range(SHARDS)]


def test_a_gate_of_a_plan_replaced_since_marks_nothing(planned):
    from prox_tasks.refine.claim import mark_gated

    out, manifest = planned
    claim_settings(out, manifest, _request(0.3))
    mark_gated(out, "another-plan", "snap", "gated")
    assert "gated" not in read_json(join_uri(out, SETTINGS_CLAIM_NAME))
    mark_gated(out, manifest.id, "snap", "gated")
    mark_gated(out, manifest.id, "snap", "gated")  # a retry of the gate
    assert read_json(join_uri(out, SETTINGS_CLAIM_NAME)) == {
        "manifest_id": manifest.id, "request": _request(0.3),
        "gated": {"snapshot": "snap", "verdict": "gated"}}


def test_a_gated_folder_on_s3_refuses_a_publish_of_the_same_settings(s3_bucket, moto_server,
                                                                     monkeypatch):
    """The mark is written with a conditional PUT and read back by the publish check, over
    the S3 protocol (moto's server)."""
    from prox_tasks.refine.claim import GatedSnapshot, mark_gated

    monkeypatch.setenv("PROX_S3_ENDPOINT_URL", moto_server.endpoint_url)
    monkeypatch.setenv("PROX_S3_ADDRESSING_STYLE", "path")
    out = f"{s3_bucket}/out"
    manifest = plan_shards(_input(s3_bucket), out, target_docs=4)
    claim_settings(out, manifest, _request(0.3))
    check_claim(out, manifest.id, _request(0.3), 1)  # not gated yet: publishes
    mark_gated(out, manifest.id, "crawl-2026-01-05", "gated")
    with pytest.raises(GatedSnapshot, match="snapshot crawl-2026-01-05 there was gated"):
        check_claim(out, manifest.id, _request(0.3), 1)
    claim_settings(out, manifest, _request(0.3), take_over=True)
    check_claim(out, manifest.id, _request(0.3), 1)


def test_a_run_that_failed_before_publishing_gives_its_claim_up(planned, tagger_model, tmp_path):
    """A model that cannot be loaded: the run fails with nothing published and gives its
    claim up, so the next run chooses its model and threshold afresh, without --force."""
    import shutil

    from prox_tasks.refine.options import snapshot_model

    out, manifest = planned
    broken = tmp_path / "broken"
    shutil.copytree(tagger_model, broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(Exception, match="(?i)safetensor|header"):
        refine_shards(out, [0, 1, 2], model=str(broken), backend_options={"line_threshold": 0.3})
    assert read_json(join_uri(out, SETTINGS_CLAIM_NAME)) == {"manifest_id": manifest.id,
                                                             "request": None}
    assert snapshot_model(out) is None
    again = refine_shards(out, [0, 1, 2], model=str(tagger_model),
                          backend_options={"line_threshold": 0.7})
    assert [r["status"] for r in again] == ["refined"] * 3
    assert read_json(join_uri(out, SETTINGS_CLAIM_NAME))["request"] == \
        _request(0.7, str(tagger_model))


def test_a_claim_stays_once_a_shard_is_published_or_when_it_is_another_runs(planned,
                                                                            tagger_model):
    from prox_tasks.refine.claim import give_up_claim

    out, manifest = planned
    model = str(tagger_model)
    claim_settings(out, manifest, _request(0.3, model))
    assert not give_up_claim(out, manifest, _request(0.7, model))  # another run's claim
    refine_shards(out, [0], model=model, backend_options={"line_threshold": 0.3})
    assert not give_up_claim(out, manifest, _request(0.3, model))  # shard 0 holds its settings
    assert read_json(join_uri(out, SETTINGS_CLAIM_NAME))["request"] == _request(0.3, model)


@pytest.mark.parametrize("content", ["[1, 2]", "not json {", "null"])
def test_a_claim_that_is_not_a_json_object_holds_nobody_back(planned, content):
    out, manifest = planned
    put_atomic(join_uri(out, SETTINGS_CLAIM_NAME), content)
    check_claim(out, manifest.id, _request(0.7), 0)
    claim_settings(out, manifest, _request(0.7))
    assert read_json(join_uri(out, SETTINGS_CLAIM_NAME))["request"] == _request(0.7)


def _replanned_alone_stops_the_old_plan_s_run(root: str, tagger_model) -> None:
    """A run of the old plan published shard 0; `prox plan --overwrite` plans the changed
    input again and no run of the new plan has started: the old run, refining shard 1 with
    the plan it holds, publishes nothing."""
    from prox_tasks.cli import main
    from prox_tasks.refine.step import refine_shard

    out = join_uri(root, "out")
    manifest = plan_shards(_input(root), out, target_docs=4)
    model = str(tagger_model)
    old = refine_shards(out, [0], model=model, backend_options={"line_threshold": 0.3})
    assert old[0]["status"] == "refined"
    put_atomic(join_uri(root, "in", "part-1.jsonl"),  # the crawl changed
               json.dumps({"id": "late", "text": "a late line\nanother"}) + "\n")
    assert main(["plan", "--input", join_uri(root, "in") + "/", "--output", out,
                 "--target-docs", "4", "--overwrite", "--no-progress"]) == 0
    assert load_manifest(out).id != manifest.id
    with pytest.raises(SettingsConflict, match=r"shard 1 .* not published.*planned again"):
        refine_shard(out, 1, model=model, backend_options={"line_threshold": 0.3},
                     request=_request(0.3, model), manifest=manifest)
    assert read_status(out, 1) is None
    # the new plan's first run chooses its settings: no --force needed
    claim_settings(out, load_manifest(out), _request(0.7, model))


def test_prox_plan_overwrite_alone_stops_a_run_of_the_old_plan(tmp_path, tagger_model):
    _replanned_alone_stops_the_old_plan_s_run(str(tmp_path), tagger_model)


def test_prox_plan_overwrite_alone_stops_a_run_of_the_old_plan_on_s3(
        s3_bucket, moto_server, tagger_model, monkeypatch):
    monkeypatch.setenv("PROX_S3_ENDPOINT_URL", moto_server.endpoint_url)
    monkeypatch.setenv("PROX_S3_ADDRESSING_STYLE", "path")
    _replanned_alone_stops_the_old_plan_s_run(s3_bucket, tagger_model)


def test_the_claim_of_a_run_killed_before_publishing_lapses_on_its_host(tmp_path, tagger_model,
                                                                         capsys):
    """`prox refine` killed outright (SIGKILL) before it published a shard could not give its
    claim up. While it runs, a run with another keep threshold is refused; once it is known
    dead (a process of this host that no longer runs), that run goes on without --force."""
    import signal

    from prox_tasks.cli import main
    from tests.refine.test_booking import _refining

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    out = tmp_path / "refined"
    run = _refining(tmp_path, tagger_model, url)
    other = ["refine", "--input", str(tmp_path / "in.jsonl"), "--output", str(out),
             "--model", str(tagger_model), "--target-docs", "2000", "--workers", "2",
             "--threads", "1", "--catalog", url, "--no-progress", "--keep-threshold", "0.7"]
    try:
        assert main(other) == 1  # it still runs: its claim holds
        assert "is claimed for refining with other settings" in capsys.readouterr().err
        assert not list((out / "_status").glob("*.json"))  # nothing of it published
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(60)
    assert main(other) == 0
    claim = read_json(join_uri(str(out), SETTINGS_CLAIM_NAME))
    assert claim["request"]["keep_threshold"] == 0.7
    capsys.readouterr()


def test_a_killed_run_s_claim_still_holds_for_the_dag_run_that_shares_it(tmp_path, tagger_model,
                                                                         capsys):
    """`prox refine` killed outright (SIGKILL) before it published a shard; the DAG's plan
    task then claims the folder with the same settings (it records no process: the claim
    now holds for its refine tasks, which publish nothing for a while). A `prox refine` with
    another keep threshold on the killed run's host is refused: the claim is the DAG run's,
    not the dead process's, to give up."""
    import signal

    from prox_tasks.cli import main
    from prox_tasks.pipeline.refresh import RunError, _claim_settings
    from tests.refine.test_booking import _refining

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    out = tmp_path / "refined"
    run = _refining(tmp_path, tagger_model, url)
    run.send_signal(signal.SIGKILL)
    run.wait(60)
    claim = read_json(join_uri(str(out), SETTINGS_CLAIM_NAME))
    assert claim.get("runner")  # the killed process is recorded
    request = claim["request"]
    # the DAG's plan task (refresh.plan) claims with the same settings: nothing to refuse
    refining = {"model": request["model"], "backend": request["backend"],
                "keep_threshold": request["keep_threshold"], "limits": request["limits"],
                "quality": request["quality"]}
    try:
        _claim_settings({"output_uri": str(out), "name": "refined"}, load_manifest(str(out)),
                        refining, False)
    except RunError as err:  # the DAG's request must be this one for the scenario
        pytest.fail(f"the DAG's plan was refused: {err}")
    other = ["refine", "--input", str(tmp_path / "in.jsonl"), "--output", str(out),
             "--model", str(tagger_model), "--target-docs", "2000", "--workers", "2",
             "--threads", "1", "--catalog", url, "--no-progress", "--keep-threshold", "0.7"]
    assert main(other) == 1  # the DAG run's refine tasks hold the claim
    assert "is claimed for refining with other settings" in capsys.readouterr().err
    assert read_json(join_uri(str(out), SETTINGS_CLAIM_NAME))["request"] == request


def test_the_dag_s_plan_takes_a_killed_run_s_claim_as_prox_refine_does(tmp_path, tagger_model):
    """`prox refine` killed outright (SIGKILL) before it published a shard; the DAG's plan
    task then plans the folder with another keep threshold on the same host: the claim counts
    as given up, as for a `prox refine` with other settings (no reprocess needed), and then
    names no process (the refine tasks rely on it)."""
    import signal

    from prox_tasks.pipeline.refresh import _claim_settings
    from tests.refine.test_booking import _refining

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    out = tmp_path / "refined"
    run = _refining(tmp_path, tagger_model, url)
    run.send_signal(signal.SIGKILL)
    run.wait(60)
    request = read_json(join_uri(str(out), SETTINGS_CLAIM_NAME))["request"]
    refining = {"model": request["model"], "backend": request["backend"],
                "keep_threshold": 0.7, "limits": request["limits"],
                "quality": request["quality"]}
    _claim_settings({"output_uri": str(out), "name": "refined"}, load_manifest(str(out)),
                    refining, False)
    claim = read_json(join_uri(str(out), SETTINGS_CLAIM_NAME))
    assert claim["request"]["keep_threshold"] == 0.7 and "runner" not in claim


def test_a_claim_two_live_runs_share_does_not_lapse_when_the_first_is_killed(tmp_path):
    """Two `prox refine` runs of the same settings: the second starts while the first runs
    (a real process, then killed with SIGKILL). The claim holds for the second: a run with
    other settings is refused."""
    import subprocess
    import sys

    from prox_tasks.refine import runner as runners
    from tests.refine.test_runner import PRINT_RUNNER

    out = str(tmp_path / "out")
    manifest = plan_shards(_input(str(tmp_path)), out, target_docs=4)
    first = subprocess.Popen([sys.executable, "-c", PRINT_RUNNER], stdout=subprocess.PIPE,
                             text=True)
    try:
        claim_settings(out, manifest, _request(0.3), runner=json.loads(first.stdout.readline()))
        claim_settings(out, manifest, _request(0.3), runner=runners.current())  # the second
    finally:
        first.kill()
        first.wait(30)
    with pytest.raises(SettingsConflict, match="claimed for refining with other settings"):
        claim_settings(out, manifest, _request(0.7), runner=runners.current())


def test_a_claim_of_a_run_from_before_the_host_restarted_lapses(planned, tmp_path):
    """The machine restarted under `prox refine` (it never gave its claim up, nothing was
    published): after the restart a run with another keep threshold on that host was
    refused for good, since a runner of another boot id was judged "another machine" —
    --force was the only way on. Its boot has ended: the claim lapses as a killed run's."""
    import subprocess
    import sys

    from prox_tasks.refine import runner as runners
    from tests.refine.test_runner import (
        PRINT_RUNNER,
        before_the_restart,
        skip_without_machine_id,
    )

    skip_without_machine_id()
    out, manifest = planned
    child = subprocess.Popen([sys.executable, "-c", PRINT_RUNNER], stdout=subprocess.PIPE,
                             text=True)
    try:  # its process id runs now, on this boot: it is not what decides
        old_run = before_the_restart(json.loads(child.stdout.readline()))
        claim_settings(out, manifest, _request(0.3), runner=old_run)
        claim_settings(out, manifest, _request(0.7), runner=runners.current())
    finally:
        child.kill()
        child.wait(30)
    claim = read_json(join_uri(out, SETTINGS_CLAIM_NAME))
    assert claim["request"] == _request(0.7) and claim["runner"] == runners.current()


def test_giving_a_claim_up_lists_the_status_records_not_a_read_a_shard(s3_bucket, count_gets,
                                                                       tagger_model):
    """A run that fails with nothing published gives its claim up after asking whether any
    shard of its plan is published: that asked for every shard's status record, a GET each
    on S3 (100,000 at 100,000 shards). One listing of `_status` now, and only the records it
    lists are read; a published shard still keeps the claim."""
    from prox_tasks.refine.claim import give_up_claim

    shards = 24
    rows = "".join(json.dumps(d) + "\n" for d in short_docs(shards, lines=5, width=80))
    put_atomic(f"{s3_bucket}/in/part-0.jsonl", rows)
    out = f"{s3_bucket}/out"
    manifest = plan_shards(f"{s3_bucket}/in/", out, target_docs=1)
    assert len(manifest.shards) == shards
    claim_settings(out, manifest, _request(0.3))
    count_gets.clear()
    assert give_up_claim(out, manifest, _request(0.3))
    records = [k for k in count_gets if "/_status/" in k]
    assert records == [], count_gets
    claim_settings(out, manifest, _request(0.3, str(tagger_model)))
    refine_shards(out, [shards - 1], model=str(tagger_model),
                  backend_options={"line_threshold": 0.3})
    count_gets.clear()
    assert not give_up_claim(out, manifest, _request(0.3, str(tagger_model)))
    assert [k for k in count_gets if "/_status/" in k] == ["out/_status/shard-00023.json"]


def test_the_first_claim_of_a_folder_lists_its_status_records_not_a_read_a_shard(
        s3_bucket, count_gets, tagger_model):
    """The first claim of a folder (no claim yet: a new snapshot's DAG plan, claiming for
    every shard) checks the published shards' settings: it asked for every shard's status
    record, a GET each on S3 (100,000 at 100,000 shards) in a folder holding none. One
    listing of `_status` now; a published shard of other settings is still refused."""
    shards = 24
    rows = "".join(json.dumps(d) + "\n" for d in short_docs(shards, lines=5, width=80))
    put_atomic(f"{s3_bucket}/in/part-0.jsonl", rows)
    out = f"{s3_bucket}/out"
    manifest = plan_shards(f"{s3_bucket}/in/", out, target_docs=1)
    count_gets.clear()
    claim_settings(out, manifest, _request(0.3), for_others=True)
    assert [k for k in count_gets if "/_status/" in k] == [], count_gets
    # a folder refined before claims: its one published shard says what it was refined with
    put_atomic(f"{out}/{SETTINGS_CLAIM_NAME}", b"null")  # no claim (a folder before claims)
    refine_shards(out, [5], model=str(tagger_model), backend_options={"line_threshold": 0.3})
    put_atomic(f"{out}/{SETTINGS_CLAIM_NAME}", b"null")
    count_gets.clear()
    with pytest.raises(SettingsConflict, match="keep_threshold 0.3 -> 0.7"):
        claim_settings(out, manifest, _request(0.7, str(tagger_model)), for_others=True)
    assert [k for k in count_gets if "/_status/" in k] == ["out/_status/shard-00005.json"]


def test_the_models_own_keep_threshold_given_or_not_is_the_same_request(tmp_path, capsys):
    """`prox refine --keep-threshold 0.85` into a snapshot the shipped tagger (calibrated at
    0.85) refined with no threshold was a SettingsConflict ("keep_threshold None -> 0.85"),
    and the other way round, though both refine the same rows. Now one is the other: the
    rerun reuses every shard; another threshold is still refused. Real runs of the shipped
    model over real documents."""
    from prox_tasks.cli import main
    from prox_tasks.models import SHIPPED_MODEL

    calibrated = json.loads((SHIPPED_MODEL / "refiner.json").read_text())["tagger"][
        "line_threshold"]
    docs = _input(str(tmp_path))

    def refine(out: str, *threshold: str) -> dict | None:
        argv = ["refine", "--json", "--no-progress", "--input", docs, "--output", out,
                "--model", "default", "--target-docs", "4", *threshold]  # fmt: skip
        if main(argv) != 0:
            return None
        return json.loads(capsys.readouterr().out)

    given = ("--keep-threshold", str(calibrated))
    for first, again in ((), given), (given, ()):  # a folder refined before too: recorded so
        out = str(tmp_path / f"out-{len(first)}")
        assert refine(out, *first)["shards_refined"] == SHARDS
        rerun = refine(out, *again)
        assert rerun is not None, capsys.readouterr().err
        assert (rerun["shards_refined"], rerun["shards_skipped"]) == (0, SHARDS)
        assert refine(out, "--keep-threshold", "0.5") is None
        assert "keep_threshold" in capsys.readouterr().err


def test_a_rerun_keeps_the_settings_it_does_not_give_as_the_snapshot_was_refined(
        tmp_path, capsys, monkeypatch):
    """A rerun giving no `--model` took the snapshot's model, but one giving no
    `--quality-filter` into a snapshot refined with `--quality-filter drop` was refused
    (`quality 'drop' -> 'off'`), and so for `--backend`, `--keep-threshold` and the limits.
    Now each
    setting not given is the snapshot's (over `$PROX_QUALITY_FILTER` and `PROX_<LIMIT>`, as
    the snapshot's model is over the promoted one): the rerun reuses every shard; one given
    and different is still refused. Real runs of the shipped tagger over real documents."""
    from prox_tasks.cli import main

    docs, out = _input(str(tmp_path)), str(tmp_path / "out")

    def refine(*given: str) -> dict | None:
        argv = ["refine", "--json", "--no-progress", "--input", docs, "--output", out,
                "--target-docs", "4", *given]  # fmt: skip
        if main(argv) != 0:
            return None
        return json.loads(capsys.readouterr().out)

    first = refine("--model", "default", "--backend", "tagger", "--quality-filter", "drop",
                   "--keep-threshold", "0.5", "--max-doc-lines", "1000")
    assert first["shards_refined"] == SHARDS
    # refined by a prox before claims: only its shards' status records say how
    os.remove(os.path.join(out, SETTINGS_CLAIM_NAME))
    monkeypatch.setenv("PROX_QUALITY_FILTER", "report")  # a deployment's default since
    monkeypatch.setenv("PROX_MAX_DOC_LINES", "2000")
    rerun = refine()
    assert rerun is not None, capsys.readouterr().err
    assert (rerun["shards_refined"], rerun["shards_skipped"]) == (0, SHARDS)
    assert refine("--quality-filter", "drop", "--keep-threshold", "0.5")["shards_skipped"] \
        == SHARDS  # fmt: skip
    for given, named in ((("--quality-filter", "off"), "quality"),
                         (("--keep-threshold", "0.7"), "keep_threshold"),
                         (("--max-doc-lines", "3000"), "limits")):  # fmt: skip
        assert refine(*given) is None
        assert named in capsys.readouterr().err


def _upgrade_shipped_in_place(folder) -> str:
    """Change the shipped line tagger in ``folder`` as an upgrade of prox installed there
    does (``pip install -U`` into the same environment: same path, another release's model):
    another document threshold, its ``artifact.json`` published anew. Returns its version."""
    from prox_tasks.models.artifact import artifact_digest, version_string

    settings = json.loads((folder / "refiner.json").read_text())
    settings["tagger"]["doc_threshold"] = 0.3
    (folder / "refiner.json").write_text(json.dumps(settings, indent=2, sort_keys=True))
    digest, _ = artifact_digest(folder)
    record = {**json.loads((folder / "artifact.json").read_text()), "sha256": digest,
              "version": version_string("line_tagger", digest)}
    (folder / "artifact.json").write_text(json.dumps(record, indent=2, sort_keys=True))
    return record["version"]


def test_an_in_place_upgrade_of_the_shipped_tagger_refuses_a_rerun_not_mixing_versions(
        tmp_path):
    """A prox installed at one path (a copy of this package, run by `prox refine` in real
    processes) refines a snapshot with its shipped line tagger, then is upgraded in place:
    the same folder ships another version. A rerun after a shard was lost refined that
    shard with the new version and reused the others of the old one (exit 0, two model
    versions in one snapshot): the shards' recorded version was not compared where the
    model paths matched. Now it is refused, naming both versions and --force, nothing
    published; --force refines every shard with the new one."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    install = tmp_path / "site"
    shutil.copytree(Path(__file__).resolve().parents[2] / "prox_tasks", install / "prox_tasks",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shipped = install / "prox_tasks" / "models" / "line-tagger"
    old = json.loads((shipped / "artifact.json").read_text())["version"]
    input_uri, out = _input(str(tmp_path)), tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(install)}

    def refine(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "prox_tasks.cli", "refine", "--no-progress",
                               "--input", input_uri, "--output", str(out), "--target-docs",
                               "4", *args], env=env, capture_output=True, text=True,
                              timeout=300, cwd=tmp_path)  # fmt: skip

    def versions() -> list:
        return [json.loads(p.read_text())["model_version"]
                for p in sorted((out / "_status").glob("*.json"))]

    assert refine().returncode == 0
    assert versions() == [old] * SHARDS
    assert json.loads((out / SETTINGS_CLAIM_NAME).read_text())["shipped_version"] == old
    new = _upgrade_shipped_in_place(shipped)
    lost = out / "shards" / "shard-00001.parquet"
    lost.unlink()
    (out / "_status" / "shard-00001.json").unlink()
    again = refine()
    assert again.returncode == 1, again.stderr
    assert "SettingsConflict" in again.stderr and "--force" in again.stderr
    assert f"model_version '{old}' -> '{new}'" in again.stderr, again.stderr
    assert not lost.exists() and versions() == [old] * (SHARDS - 1)
    assert refine("--force").returncode == 0
    assert versions() == [new] * SHARDS


def test_a_worker_upgraded_in_place_publishes_nothing_into_a_claim_of_the_old_version(planned):
    """The claim records the shipped line tagger's version: a worker upgraded in place (the
    same folder, another version) while runs of the old release refine the folder is
    refused at its publish; with nothing published, a rerun claims it for its own version."""
    from prox_tasks.models import SHIPPED_MODEL
    from prox_tasks.models.resolver import shipped_version

    out, manifest = planned
    request = _request(model=str(SHIPPED_MODEL))
    claim_settings(out, manifest, request)
    claim = read_json(join_uri(out, SETTINGS_CLAIM_NAME))
    assert claim["shipped_version"] == shipped_version()
    put_atomic(join_uri(out, SETTINGS_CLAIM_NAME),  # as the release before claimed it
               json.dumps({**claim, "shipped_version": "line_tagger-000000000000"}))
    with pytest.raises(SettingsConflict, match=(
            rf"shard 2 .* not published.*version line_tagger-000000000000.*ships "
            rf"{shipped_version()}.*--force")) as err:
        check_claim(out, manifest.id, request, 2)
    assert err.value.differences == [
        f"model_version 'line_tagger-000000000000' -> '{shipped_version()}'"]
    claim_settings(out, manifest, request)  # nothing published under it: this version's now
    assert read_json(join_uri(out, SETTINGS_CLAIM_NAME))["shipped_version"] == shipped_version()
    check_claim(out, manifest.id, request, 2)
