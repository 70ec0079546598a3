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
