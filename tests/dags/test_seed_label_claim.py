"""The seed DAG holds the seed set's labeling claim that ``prox label --seed-set`` takes
(:mod:`prox_tasks.labeling.run_claim`): a DAG run beside a live labeling of its folder is
refused before it samples or labels anything (``dag.test()``, a real holder process)."""

from __future__ import annotations

import signal

import pytest

from prox_tasks.labeling.run_claim import CLAIM_NAME
from tests.dags.crawl import sample_rows, write_jsonl
from tests.labeling.test_run_claim import _holder

pytestmark = pytest.mark.slow


def test_a_seed_dag_run_beside_a_live_labeling_of_its_folder_is_refused(dagbag, tmp_path, capfd):
    """The seed DAG's tasks took no labeling claim: a run labeling into a seed set that a
    ``prox label --seed-set`` (or another DAG run) labeled at the same time sampled and
    labeled it too, each paying the teacher for the same parts. Its ``sample`` is now
    refused while the other run holds the claim (retried, then failed: nothing sampled);
    once that run is gone, the DAG labels the folder and leaves no claim behind."""
    snapshot = write_jsonl(tmp_path / "snapshot.jsonl", sample_rows(30))
    folder = tmp_path / "seeds" / "s1"
    conf = {
        "input_uri": str(snapshot),
        "seed_root": str(tmp_path / "seeds"),
        "seed_set_name": "s1",
        "sample_size": 20,
        "label_shard_docs": 10,
        "catalog_url": f"sqlite:///{tmp_path / 'catalog.sqlite'}",
    }
    holder = _holder(folder.as_uri())
    try:
        run = dagbag.get_dag("prox_seed_label").test(run_conf=conf)
        assert run.state == "failed"
        states = {t.task_id: t.state for t in run.get_task_instances() if t.map_index < 1}
        assert states["sample"] == "failed", states
        said = "".join(capfd.readouterr())
        assert (
            f"seed set folder {folder.as_uri()} is being labeled by another run "
            f"(process {holder.pid} on "
        ) in said, said[-3000:]
        assert "let this task retry, or clear it" in said
        assert not (folder / "sample").exists() and not (folder / "labels").exists()
    finally:
        holder.send_signal(signal.SIGKILL)  # gone without giving its claim up
        holder.wait()
    run = dagbag.get_dag("prox_seed_label").test(run_conf=conf)
    assert run.state == "success"
    assert sorted(p.name for p in (folder / "labels").glob("labels-*.jsonl.gz")) == [
        "labels-00000.jsonl.gz",
        "labels-00001.jsonl.gz",
    ]
    assert not (folder / CLAIM_NAME).exists()


def _airflow_run(run_id: str, state: str) -> None:
    """A run of the seed DAG in Airflow's metadata DB, in ``state``, as another worker's run
    would leave it (test set-up through the ORM; the tasks ask Airflow through the Task SDK)."""
    from datetime import UTC, datetime

    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunType

    with create_session() as session:
        session.add(
            DagRun(
                dag_id="prox_seed_label",
                run_id=run_id,
                run_type=DagRunType.MANUAL,
                state=state,
                run_after=datetime.now(UTC),
                conf={},
            )
        )


def test_a_claim_of_a_seed_dag_run_that_ended_elsewhere_is_taken_over(
    dagbag, tmp_path, capfd, caplog
):
    """A seed DAG run whose worker was killed on another machine left its labeling claim
    (its process cannot be checked from here, its lease renewed moments ago): every later
    run was refused until someone deleted the file by hand. A task now asks Airflow (the
    Task SDK's get_dagrun_state) about the holder's DAG run: one that Airflow says ended
    (failed) is taken over, recording whose claim it was; one still running is refused."""

    from tests.labeling.test_run_claim import _other_host_claim

    snapshot = write_jsonl(tmp_path / "snapshot.jsonl", sample_rows(30))
    folder = tmp_path / "seeds" / "s1"
    folder.mkdir(parents=True)
    conf = {"input_uri": str(snapshot), "seed_root": str(tmp_path / "seeds"),
            "seed_set_name": "s1", "sample_size": 20, "label_shard_docs": 10,
            "catalog_url": f"sqlite:///{tmp_path / 'catalog.sqlite'}"}  # fmt: skip
    _airflow_run("manual__on_worker_7_alive", "running")
    (folder / CLAIM_NAME).write_bytes(
        _other_host_claim(renewed_ago=5, lease=3600, run_id="manual__on_worker_7_alive")
    )
    run = dagbag.get_dag("prox_seed_label").test(run_conf=conf)
    assert run.state == "failed"
    said = "".join(capfd.readouterr())
    assert "is being labeled by another run (Airflow DAG run " \
        "prox_seed_label/manual__on_worker_7_alive, task sample" in said, said[-3000:]  # fmt: skip
    assert "if that DAG run is stuck, mark it failed in Airflow" in said, said[-3000:]
    assert f"remove {(folder / CLAIM_NAME).as_uri()}, then clear this task" in said
    assert not (folder / "sample").exists()

    _airflow_run("manual__on_worker_7_killed", "failed")
    (folder / CLAIM_NAME).write_bytes(
        _other_host_claim(renewed_ago=5, lease=3600, run_id="manual__on_worker_7_killed")
    )
    run = dagbag.get_dag("prox_seed_label").test(run_conf=conf)
    assert run.state == "success"
    said = caplog.text
    assert (
        "taking over the labeling claim of Airflow DAG run prox_seed_label/"
        "manual__on_worker_7_killed, task sample (map index -1), process 4242 on "
        "worker-7.example: Airflow DAG run prox_seed_label/manual__on_worker_7_killed has "
        "ended (failed)"
    ) in said, said[-3000:]
    assert sorted(p.name for p in (folder / "labels").glob("labels-*.jsonl.gz")) == [
        "labels-00000.jsonl.gz",
        "labels-00001.jsonl.gz",
    ]
    assert not (folder / CLAIM_NAME).exists()


def _taken_over_at(module, name: str, dagbag, tmp_path, capfd, monkeypatch, task: str):
    """Run the seed DAG (``dag.test()``) with a real ``--take-over`` process started once the
    first call of ``module.name`` returns (the stand-in for the takeover's timing only); assert the
    run and ``task`` failed naming that process; returns the seed-set folder."""
    from tests.labeling.test_run_claim import _taker, _took

    snapshot = write_jsonl(tmp_path / "snapshot.jsonl", sample_rows(30))
    folder = tmp_path / "seeds" / "s1"
    conf = {"input_uri": str(snapshot), "seed_root": str(tmp_path / "seeds"),
            "seed_set_name": "s1", "sample_size": 20, "label_shard_docs": 10,
            "catalog_url": f"sqlite:///{tmp_path / 'catalog.sqlite'}"}  # fmt: skip
    real, takers = getattr(module, name), []

    def taken_over_first(*args, **kwargs):
        done = real(*args, **kwargs)
        if not takers:
            takers.append(_taker(folder.as_uri()))
            assert _took(takers[0], within=60)
        return done

    monkeypatch.setattr(module, name, taken_over_first)
    try:
        run = dagbag.get_dag("prox_seed_label").test(run_conf=conf)
        assert run.state == "failed"
        states = {t.task_id: t.state for t in run.get_task_instances() if t.map_index < 1}
        assert states[task] == "failed", states
        said = "".join(capfd.readouterr())
        assert (
            f"this run's labeling claim was taken over by process {takers[0].pid} on "
        ) in said, said[-3000:]
    finally:
        for proc in takers:
            proc.kill()
            proc.wait()
    return folder


def test_a_sample_task_whose_claim_was_taken_over_meanwhile_fails(
    dagbag, tmp_path, capfd, monkeypatch
):
    """``sample`` held the labeling claim while it sampled but returned its plan without
    asking whether the claim was still its run's: a claim taken over meanwhile (its run cut
    off for longer than a lease, an operator's ``--take-over``) let this run's label tasks
    go on beside the run that took it over. It now fails, naming that run, and no label
    task runs (``dag.test()``; the takeover is a real process, started once the sample is
    written: the stand-in for its timing only)."""
    from prox_tasks.labeling import sampling

    folder = _taken_over_at(sampling, "sample_documents", dagbag, tmp_path, capfd,
                            monkeypatch, "sample")  # fmt: skip
    assert not (folder / "labels").exists()


def test_a_split_task_cut_off_after_its_claim_check_publishes_no_seed_set(
    dagbag, tmp_path, capfd, monkeypatch
):
    """``split`` checked its claim, then wrote the splits and the manifest (no rollback): a
    takeover landing in between let a run that had lost the folder publish a seed set over
    the taker's. The manifest is now published under the claim
    (:meth:`~prox_tasks.labeling.run_claim.HeldClaim.publishing`): ``split`` fails naming
    the taker, and no seed set (no manifest, no split) is published (``dag.test()``; the
    takeover is a real process, started as the first split is written: the stand-in for
    its timing only)."""
    from prox_tasks.labeling import seedset

    folder = _taken_over_at(seedset, "write_jsonl", dagbag, tmp_path, capfd, monkeypatch,
                            "split")  # fmt: skip
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".gz")) == []
    assert not (folder / "manifest.json").exists()
