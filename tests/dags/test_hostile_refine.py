"""The seeded adversarial corpus (tests/corpus/test_hostile_corpus.py) through the refine DAG's
plan and refine tasks (``dag.test()``): every record in the refined shards or the quarantine
once, where the generator said, and the same bytes as ``prox refine`` writes of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.corpus.test_hostile_corpus import MAX_DOC_BYTES, MAX_DOC_LINES, hostile_corpus
from tests.dags.refine_dag import refine_run

DAY = datetime(2026, 2, 3, tzinfo=UTC)


def test_the_hostile_corpus_through_the_dag_loses_nothing_and_matches_prox_refine(
        tmp_path, dagbag, prox_home, default_refiner, capsys):
    import pyarrow.parquet as pq

    from prox_tasks.cli import main
    from prox_tasks.storage import to_uri
    from tests.corpus.test_hostile_corpus import _quarantined

    folder = tmp_path / "in"
    expected = hostile_corpus(folder, seed=11)
    dag_run = refine_run(dagbag.get_dag("prox_refine_snapshot"), folder, tmp_path, "hostile",
                         logical_date=DAY, target_docs=7, model=default_refiner,
                         max_doc_bytes=MAX_DOC_BYTES, max_doc_lines=MAX_DOC_LINES)
    states = {(ti.task_id, ti.map_index): ti.state for ti in dag_run.get_task_instances()}
    assert states[("plan", -1)] == "success" and states[("collect", -1)] == "success", states
    assert all(state == "success" for (task, _), state in states.items()
               if task == "refine_shard"), states  # fmt: skip
    # the gate fails the snapshot (input losses, quarantine rate): nothing is released
    assert states[("quality_gate", -1)] == "failed" and dag_run.state == "failed"
    snapshot = tmp_path / "corpus" / "snapshots" / "hostile"

    want = {(to_uri(str(folder / e.file)), e.offset): e.outcome for e in expected}
    rows = pq.read_table(snapshot / "shards").to_pylist()
    quarantined = _quarantined(snapshot)
    found = [(r["source"], r["offset"]) for r in rows] + [
        (q["source"], q["offset"]) for q in quarantined]
    assert sorted(found) == sorted(want), "a record lost or written twice"
    got = {(r["source"], r["offset"]): "doc" for r in rows}
    got.update({(q["source"], q["offset"]): q["reason"] for q in quarantined})
    assert got == want

    # prox refine of the same input, with the same model and limits, writes the same bytes
    out = tmp_path / "cli"
    assert main(["refine", "--input", str(folder), "--output", str(out), "--json",
                 "--model", default_refiner, "--no-progress", "--target-docs", "7",
                 "--max-doc-bytes", str(MAX_DOC_BYTES), "--max-doc-lines", str(MAX_DOC_LINES),
                 "--workers", "2", "--catalog", f"sqlite:///{tmp_path / 'cli.sqlite'}"]) == 0
    # the last line: the DAG run's task logs went to stdout before it
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["docs_read"] == len(expected)
    for part in ("shards", "quarantine"):
        names = sorted(p.name for p in (snapshot / part).iterdir())
        assert names == sorted(p.name for p in (out / part).iterdir())
        assert [(snapshot / part / n).read_bytes() for n in names] == [
            (out / part / n).read_bytes() for n in names], part


def test_a_hostile_file_name_reaches_the_task_log_escaped(tmp_path, dagbag, prox_home, caplog):
    """A file in the partition named with terminal controls (``ESC ]0;…`` retitles,
    ``ESC [2J`` clears, ``ESC [31m`` recolours): the plan task's warning naming it went raw
    into the task log (and the UI's log view), as ``prox plan`` never prints it. prox's
    listener now filters prox's own log lines in the task's process as ``prox`` does:
    the controls are shown as escapes; Airflow's lines are left to Airflow."""
    from tests.dags.crawl import sample_rows, write_jsonl

    folder = tmp_path / "crawl"
    write_jsonl(folder / "part-0.jsonl", sample_rows(6))
    (folder / "\x1b]0;pwned\x07\x1b[2Jevil\x1b[31mred.txt").write_text("not a crawl file")
    # the root logger's handlers as a task process has them (here pytest's capturing one)
    dag_run = refine_run(dagbag.get_dag("prox_refine_snapshot"), folder, tmp_path, "escaped",
                         logical_date=DAY, dry_run=True)
    logged = caplog.text
    assert dag_run.state == "success"
    assert "\x1b" not in logged and "\x07" not in logged, "a terminal control in the task log"
    # the plan's warning names the file, its controls written out
    assert "1 file of no known format not read" in logged
    assert "crawl/\\x1b]0;pwned\\x07\\x1b[2Jevil\\x1b[31mred.txt" in logged
