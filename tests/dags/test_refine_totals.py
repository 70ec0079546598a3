"""The same corpus refined by ``prox refine`` and by the refine DAG (``dag.test()``) against one
misbehaving OpenAI-compatible server on loopback: the run's totals are the same numbers."""

from __future__ import annotations

import json

from tests.dags.crawl import write_jsonl
from tests.dags.refine_dag import refine_run
from tests.inference.helpers import short_docs
from tests.loopback_http import JSON, LoopbackHTTPServer, Response, text_completion

CARD = {"id": "prox-doc", "root": "/models/doc-v1", "max_model_len": 1024}


def _troubled_server() -> LoopbackHTTPServer:
    """Answers each prompt by its tokens (a retry gets the same answer, whichever run asks):
    a program, a reply past the size cap (``PROX_MAX_REPLY_BYTES`` 4096), or an HTTP 400
    rejecting the prompt."""

    def respond(request):
        if request.path.endswith("/models"):
            return Response(200, json.dumps({"object": "list", "data": [CARD]}).encode(), JSON)
        prompt = json.loads(request.body)["prompt"]
        kind = sum(prompt) % 3
        if kind == 1:
            return Response(200, text_completion("keep_doc()" + " " * 8192), JSON)
        if kind == 2:
            return Response(400, b'{"error": {"message": "prompt rejected"}}', JSON)
        return Response(200, text_completion("keep_doc()"), JSON)

    return LoopbackHTTPServer(respond)


def test_a_dag_run_and_prox_refine_total_the_same_run_alike(dagbag, prox_home, tiny_model,
                                                            tmp_path, monkeypatch, capsys):
    """The DAG's collect summed only the shards' accountings: a run whose server failed,
    rejected or overflowed requests said none of it (no ``requests_failed``,
    ``replies_oversized``, ``shards_refined``, ``tokens_in`` …), while ``prox refine`` said
    all of it for the same run. Both total by one rule now
    (:class:`~prox_tasks.refine.stats.RunResults`); the catalog's snapshot totals and the
    report's row agree as well."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.cli import main
    from prox_tasks.refine.stats import RunResults
    from prox_tasks.report.overview import snapshot_rows

    monkeypatch.setenv("PROX_MAX_REPLY_BYTES", "4096")
    crawl = tmp_path / "crawl" / "2026-01-05.jsonl"
    write_jsonl(crawl, short_docs(8), garbage=1)  # one malformed record: quarantined
    catalog_url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    with _troubled_server() as server:
        servers = server.url + "/v1"
        assert main(["refine", "--input", str(crawl), "--output", str(tmp_path / "cli"),
                     "--model", str(tiny_model), "--backend", "openai", "--servers", servers,
                     "--target-docs", "3", "--catalog", catalog_url, "--name", "by-cli",
                     "--no-progress", "--json"]) == 0, capsys.readouterr().err  # fmt: skip
        cli = json.loads(capsys.readouterr().out)

        monkeypatch.setenv("PROX_OPENAI_SERVERS", servers)
        dag_run = refine_run(dagbag.get_dag("prox_refine_snapshot"), crawl, tmp_path, "by-dag",
                             target_docs=3, model=str(tiny_model), backend="openai",
                             dry_run=True)
    [collect] = [ti for ti in dag_run.get_task_instances() if ti.task_id == "collect"]
    assert collect.state == "success", collect.state
    totals = collect.xcom_pull(task_ids="collect")

    # the server's trouble happened, and both runs count it
    assert cli["replies_oversized"] > 0 and cli["requests_rejected"] > 0, cli
    assert cli["requests_failed"] == cli["replies_oversized"] + cli["requests_rejected"]
    assert cli["shards"] == totals["shards"] == 3 and cli["docs_quarantined"] == 1
    keys = set(RunResults().totals())  # every total prox refine says of a run
    assert {k: totals.get(k) for k in keys} == {k: cli[k] for k in keys}
    assert totals["reused"] == cli["shards_skipped"] == 0

    with Catalog(catalog_url) as catalog:
        booked = [catalog.get_snapshot(name) for name in ("by-cli", "by-dag")]
        rows = {row["name"]: row for row in snapshot_rows(catalog, with_gate_files=False)}
    sums = [{k: v for k, v in b.items() if k.startswith(("done_", "shards_"))} for b in booked]
    assert sums[0] == sums[1] and sums[0]["done_docs_read"] == cli["docs_read"]
    shown = ("docs_kept", "docs_dropped", "docs_quarantined", "shards_done")
    assert {k: rows["by-cli"][k] for k in shown} == {k: rows["by-dag"][k] for k in shown}
    assert rows["by-dag"]["docs_kept"] == cli["docs_kept"]
