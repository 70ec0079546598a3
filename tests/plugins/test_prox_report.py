"""The report's pages inside a real Airflow API app (in-process), behind Airflow's auth."""

from __future__ import annotations

import json
import re


def _get(client, token, url, status=200):
    page = client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == status, page.text[:500]
    return page


def test_report_requires_airflow_login(client):
    for url in ("/prox/", "/prox/api/snapshots", "/prox/snapshots/crawl-2026-03-01",
                "/prox/snapshots/crawl-2026-03-01/documents"):
        assert client.get(url).status_code == 401, url
    assert client.get("/prox/", headers={"Authorization": "Bearer forged"}).status_code in (401, 403)


def test_rows_sorted_by_logical_date_with_run_model_and_latest(client, token):
    rows = _get(client, token, "/prox/api/snapshots").json()
    assert [r["name"] for r in rows] == ["crawl-2026-03-01", "crawl-2026-03-02",
                                         "crawl-2026-03-03"]
    by_name = {r["name"]: r for r in rows}
    assert by_name["crawl-2026-03-01"]["released"] and by_name["crawl-2026-03-01"]["gate"]
    assert by_name["crawl-2026-03-02"]["status"] == "quarantined"
    assert by_name["crawl-2026-03-02"]["docs_quarantined"] == 8
    assert [r["latest"] for r in rows] == [False, False, True]
    assert by_name["crawl-2026-03-03"]["dag_run_id"] == "scheduled__2026-03-03T00:00:00+00:00"
    assert by_name["crawl-2026-03-03"]["model_version"] == "test"
    assert by_name["crawl-2026-03-01"]["thresholds"]["max_drop_rate"] == 0.9


def test_overview_page_filters_and_links(client, token):
    text = _get(client, token, "/prox/").text
    assert text.count('data-chart="trend-') == 4
    assert "/prox/static/vendor/vega-lite.min.js" in text and "cdn" not in text.lower()
    assert "latest.json</code> points to" in text and ">crawl-2026-03-03</a>" in text
    assert 'href="/dags/prox_refine_snapshot/runs/scheduled__2026-03-03T00%3A00%3A00%2B00%3A00"' \
        in text
    failed = _get(client, token, "/prox/?gate=failed").text
    assert "crawl-2026-03-02" in failed and "crawl-2026-03-01<" not in failed
    ranged = _get(client, token, "/prox/?from=2026-03-02&to=2026-03-02").text
    table = ranged.split("<tbody>", 1)[1]
    names = re.findall(r'href="/prox/snapshots/(crawl-[0-9-]+)"', table)
    assert set(names) == {"crawl-2026-03-02"}
    paged = _get(client, token, "/prox/?page=2").text  # 3 rows, 25 a page: clamped to page 1
    assert "page 1 of 1" in paged


def test_snapshot_page_shows_checks_distributions_and_shards(client, token):
    text = _get(client, token, "/prox/snapshots/crawl-2026-03-02").text
    assert "quarantine_rate" in text and "at most 0.05" in text  # observed against threshold
    # the failed check says what it checks, where the bad records are and what to do
    assert "Each is in the snapshot&#39;s quarantine/shard-NNNNN.jsonl.gz" in text, text
    assert "allow more (--max-quarantine-rate)" in text  # gated as prox gate does (no task try)
    folder = re.search(r'(\d+) quarantined input records, [^<]*<span class="mono">([^<]+)'
                       r'/quarantine/shard-NNNNN\.jsonl\.gz</span>', text)
    assert folder and folder.group(1) == "8" and folder.group(2).endswith(
        "/snapshots/crawl-2026-03-02"), folder
    assert "shard-00000" in text and "shard-00001" in text
    assert "Home | About | Contact" in text  # the most frequently removed line
    assert "gamma" in text and "GAMMA" in text  # the most frequent normalization
    assert "model dropped it" in text  # the drop reasons chart
    _get(client, token, "/prox/snapshots/nope", 404)


def test_document_viewer_before_after(client, token):
    text = _get(client, token, "/prox/snapshots/crawl-2026-03-01/documents?shard=0").text
    assert text.count('<article class="doc') == 10
    assert '<div class="line removed"><span class="no">0</span><span class="text">Home | About' \
        in text
    assert '<mark class="before">gamma</mark>' in text and '<mark class="after">GAMMA</mark>' in text
    dropped = _get(client, token,
                   "/prox/snapshots/crawl-2026-03-01/documents?shard=0&outcome=dropped").text
    assert dropped.count('<article class="doc') == 2  # doc-4 and doc-9
    assert "dropped: the document-level program dropped it" in dropped
    _get(client, token, "/prox/snapshots/crawl-2026-03-01/documents?outcome=bogus", 400)
    for shard in (2, 99999999999):  # the plan has 2 shards
        missing = _get(client, token, f"/prox/snapshots/crawl-2026-03-01/documents?shard={shard}",
                       404)
        assert "the plan has 2" in missing.text and '<select name="shard">' in missing.text
    past_the_end = _get(client, token,
                        "/prox/snapshots/crawl-2026-03-01/documents?shard=1&page=50").text
    assert past_the_end.count('<article class="doc') == 10  # the last page, as the pager says


def test_the_data_docs_folder_address_opens_the_site(client, token):
    """docs/airflow.md: "Data Docs are served under /prox/snapshots/<name>/docs/"; opened at
    that address the report answered 404 {"detail": "not found"} (only .../docs/index.html,
    the extra link's, worked). The folder's address serves the site's index, behind the
    login like the rest."""
    url = "/prox/snapshots/crawl-2026-03-02/docs/"
    assert client.get(url).status_code == 401
    assert "prox_documents" in _get(client, token, url).text


def test_data_docs_and_gate_json_behind_auth(client, token):
    url = "/prox/snapshots/crawl-2026-03-02/docs/index.html"
    assert client.get(url).status_code == 401
    assert "prox_documents" in _get(client, token, url).text
    gate = _get(client, token, "/prox/snapshots/crawl-2026-03-02/gate.json").json()
    assert gate["passed"] is False
    _get(client, token, "/prox/snapshots/crawl-2026-03-02/docs/../../manifest.json", 404)
    # the client resolves a literal ``..`` itself; encoded, it reaches the app as ``..``
    _get(client, token, "/prox/snapshots/crawl-2026-03-02/docs/%2E%2E/%2E%2E/manifest.json", 404)
    for folder in ("validations", "static/"):  # folders of the Data Docs: not a 500
        _get(client, token, f"/prox/snapshots/crawl-2026-03-02/docs/{folder}", 404)


def test_data_docs_and_gate_json_never_follow_links_out_of_the_snapshot(client, token,
                                                                         catalog_with_snapshots,
                                                                         tmp_path):
    """A symlink planted in the Data Docs folder (or as gate.json) by whoever can write the
    snapshot's folder does not serve a file from outside it: not /etc/passwd, not another
    JSON file of the API server's machine."""
    import os
    from pathlib import Path

    from prox_tasks.catalog import Catalog
    from prox_tasks.storage import parse_uri

    with Catalog(catalog_with_snapshots) as catalog:
        out = Path(parse_uri(catalog.get_snapshot("crawl-2026-03-01")["output_uri"]).path)
    docs, gate = out / "_quality" / "data_docs", out / "_quality" / "gate.json"
    secret = tmp_path / "secret.json"
    secret.write_text('{"password": "hunter2"}')
    planted = {docs / "leak.txt": Path("/etc/passwd"), docs / "etc": Path("/etc"),
               docs / "secret.json": secret, docs / "manifest.json": out / "manifest.json"}
    for link, target in planted.items():
        link.symlink_to(target)
    os.rename(gate, gate.with_suffix(".real"))
    gate.symlink_to(secret)
    try:
        base = "/prox/snapshots/crawl-2026-03-01"
        for path in ("leak.txt", "etc/passwd", "secret.json"):
            _get(client, token, f"{base}/docs/{path}", 404)
        _get(client, token, f"{base}/gate.json", 404)
        # a link that stays inside the snapshot's folder is still served
        assert _get(client, token, f"{base}/docs/manifest.json").json()["shards"]
    finally:
        gate.unlink()
        os.rename(gate.with_suffix(".real"), gate)
        for link in planted:
            link.unlink()
    assert _get(client, token, f"{base}/gate.json").json()["passed"] is True


def test_one_snapshots_row_is_its_row_among_all(catalog_with_snapshots):
    """A snapshot page computes only its own row (the catalog's snapshot_summary report for
    that name), and it is the same row the overview lists."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.report import snapshot_rows

    with Catalog(catalog_with_snapshots) as catalog:
        every = {r["name"]: r for r in snapshot_rows(catalog)}
        for name, row in every.items():
            assert snapshot_rows(catalog, name=name) == [row]
        assert snapshot_rows(catalog, name="crawl-1999-01-01") == []
    assert every["crawl-2026-03-01"]["shards"] == 2  # 20 documents planned in shards of 10


def test_plugin_registers_view_and_app(airflow_db):
    from airflow import plugins_manager

    assert plugins_manager.get_import_errors() == {}
    plugins, _ = plugins_manager._get_plugins()
    prox = {p.name: p for p in plugins}["prox"]
    assert prox.fastapi_apps[0]["url_prefix"] == "/prox"
    assert prox.external_views[0]["href"] == "prox/"
    assert [link.name for link in prox.global_operator_extra_links] == [
        "PROX report", "Data Docs", "gate.json"]
    # the listener only masks secrets: the refine task books its shards itself
    assert type(prox.listeners[0]).__name__ == "ProxListener"
    assert not hasattr(prox.listeners[0], "on_task_instance_success")


def test_a_failed_refine_shows_its_error_on_the_snapshot_page(client, token,
                                                              catalog_with_snapshots):
    from prox_tasks.catalog import Catalog

    with Catalog(catalog_with_snapshots) as catalog:
        before = catalog.get_snapshot("crawl-2026-03-02")["status"]
        catalog.fail_snapshot("crawl-2026-03-02", "SafetensorError: header too large")
        try:
            rows = {r["name"]: r for r in _get(client, token, "/prox/api/snapshots").json()}
            assert rows["crawl-2026-03-02"]["status"] == "failed"
            assert rows["crawl-2026-03-02"]["error"] == "SafetensorError: header too large"
            text = _get(client, token, "/prox/snapshots/crawl-2026-03-02").text
            assert "refine failed" in text and "SafetensorError: header too large" in text
        finally:
            catalog.update_snapshot("crawl-2026-03-02", status=before, error=None)
    assert "refine failed" not in _get(client, token, "/prox/snapshots/crawl-2026-03-02").text


def test_a_released_snapshot_links_the_run_that_released_it_beside_the_latest_run(
        client, token, catalog_with_snapshots):
    """A rerun of the date books its plan (the snapshot's dag_run_id, as register_plan does),
    re-reads the gate and skips the release: the page still names the releasing run. A
    release booked before migration 0009 (no run) shows only the latest run."""
    from sqlalchemy import text

    from prox_tasks.catalog import Catalog

    released_by = "scheduled__2026-03-01T00:00:00+00:00"
    rerun = "manual__2026-03-05T09:00:00+00:00"
    link = "/dags/prox_refine_snapshot/runs/{}".format
    quoted = {released_by: "scheduled__2026-03-01T00%3A00%3A00%2B00%3A00",
              rerun: "manual__2026-03-05T09%3A00%3A00%2B00%3A00"}
    with Catalog(catalog_with_snapshots) as catalog:
        [by] = [r["released_by"] for r in catalog.list_releases()
                if r["release"] == "crawl-2026-03-01"]
        catalog.update_snapshot("crawl-2026-03-01", dag_run_id=rerun)
        try:
            rows = {r["name"]: r for r in _get(client, token, "/prox/api/snapshots").json()}
            assert rows["crawl-2026-03-01"]["released_by_run_id"] == released_by
            assert rows["crawl-2026-03-01"]["dag_run_id"] == rerun
            assert rows["crawl-2026-03-02"]["released_by_run_id"] is None  # quarantined
            for url in ("/prox/snapshots/crawl-2026-03-01", "/prox/"):
                text_ = _get(client, token, url).text
                assert re.search(r'released by run <a target="_top" href="'
                                 + re.escape(link(quoted[released_by])) + '"', text_), url
                assert re.search(r'latest run <a target="_top" href="'
                                 + re.escape(link(quoted[rerun])) + '"', text_), url
            # its tasks are those of the run that released it, not of the rerun
            page = _get(client, token, "/prox/snapshots/crawl-2026-03-01").text
            for task in ("refine_shard", "quality_gate", "release"):
                assert f'href="{link(quoted[released_by])}/tasks/{task}"' in page, task
                assert f"{link(quoted[rerun])}/tasks/" not in page
            with catalog.engine.begin() as conn:  # as booked before the catalog kept the run
                conn.execute(text("UPDATE releases SET dag_run_id = NULL, released_by = NULL"
                                  " WHERE name = 'crawl-2026-03-01'"))
            page = _get(client, token, "/prox/snapshots/crawl-2026-03-01").text
            assert "released by run" not in page
            assert "latest run <a" in page and link(quoted[rerun]) in page
            assert link(quoted[released_by]) not in page
            assert f'href="{link(quoted[rerun])}/tasks/release"' in page  # the latest run's
        finally:
            with catalog.engine.begin() as conn:
                conn.execute(text("UPDATE releases SET dag_run_id = :r, released_by = :by"
                                  " WHERE name = 'crawl-2026-03-01'"),
                             {"r": released_by, "by": json.dumps(by)})
            catalog.update_snapshot("crawl-2026-03-01", dag_run_id=released_by)


def test_a_corrupt_shard_file_is_named_on_the_snapshot_page_and_in_the_viewer(
        client, token, tmp_path, monkeypatch):
    """A shard file cut short after it was written (a disk filled, a bad copy): the gate
    fails its readable check, and the pages the engineer then opens name the shard and why
    instead of answering 500."""
    from prox_tasks.pipeline import refresh
    from prox_tasks.quality import GateFailed
    from tests.plugins.conftest import report_programs
    from tests.quality.snapshot_factory import refine_snapshot, write_input

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    monkeypatch.setenv("PROX_CATALOG_URL", url)
    src = write_input(tmp_path / "in" / "crawl.jsonl", 20)
    snapshot = refresh.resolve_snapshot({"input_uri": str(src), "output_root": str(tmp_path),
                                         "snapshot_name": "crawl-2026-04-01",
                                         "catalog_url": url},
                                        "2026-04-01", "scheduled__2026-04-01T00:00:00+00:00")
    refresh.plan(snapshot, 10, 1024, "default", None)
    refine_snapshot(str(src), snapshot["output_uri"], programs=report_programs)
    shard = tmp_path / "snapshots" / "crawl-2026-04-01" / "shards" / "shard-00001.parquet"
    body = shard.read_bytes()
    shard.write_bytes(body[:-200] + bytes(200))  # its footer overwritten, its size the same
    try:
        refresh.gate(snapshot, {})
    except GateFailed as err:
        assert "readable" in str(err), err
    else:
        raise AssertionError("the gate passed a corrupt shard")

    page = _get(client, token, "/prox/snapshots/crawl-2026-04-01").text
    assert re.search(r"shard-00001 \([^)]*Parquet[^)]*\) cannot be read to its end", page), page
    assert "prox refine --force" in page
    over = re.search(r"Over (\d+) of (\d+) written documents", page)
    assert over and over.group(1) == "10", page[page.find("Over"):][:200]  # shard 0's still
    viewer = _get(client, token, "/prox/snapshots/crawl-2026-04-01/documents?shard=1").text
    assert "shard-00001 (" in viewer and "cannot be read to its end" in viewer


def test_a_catalog_row_outside_the_report_roots_is_listed_but_never_read(
        client, token, catalog_with_snapshots, tmp_path, monkeypatch):
    """The report opens the folder a catalog row names. A row naming a folder outside
    PROX_REPORT_ROOTS (written there, reached by ``..`` or through a symlink), or a URI that
    is no folder at all, is listed from the catalog alone and its pages answer 403 saying
    why: no file of it is served, and the other snapshots' pages still work."""
    import os
    import shutil
    from pathlib import Path

    from prox_tasks.catalog import Catalog

    report_root = Path(catalog_with_snapshots.removeprefix("sqlite:///")).parent
    copy = tmp_path / "catalog.sqlite"
    shutil.copy(report_root / "catalog.sqlite", copy)
    monkeypatch.setenv("PROX_CATALOG_URL", f"sqlite:///{copy}")
    monkeypatch.setenv("PROX_REPORT_ROOTS", f"{tmp_path / 'unrelated'}, {report_root}")
    other = tmp_path / "other"
    (other / "_quality" / "data_docs").mkdir(parents=True)
    (other / "_quality" / "data_docs" / "index.html").write_text("SECRET PAGE")
    (other / "_quality" / "gate.json").write_text('{"passed": true, "secret": "hunter2"}')
    (report_root / "snapshots" / "linked-out").symlink_to(other)
    outside = {"elsewhere": str(other),
               "climbs-out": f"{report_root}/snapshots/{os.path.relpath(other, report_root / 'snapshots')}",
               "linked-out": f"file://{report_root}/snapshots/linked-out",
               "not-a-uri": "ftp://host/corpus/snapshots/x", "the-root": "/"}
    try:
        with Catalog(f"sqlite:///{copy}") as catalog:
            for name, uri in outside.items():
                catalog.register_snapshot(name, "/data/in", "/data/placeholder/" + name)
                catalog.update_snapshot(name, output_uri=uri)
                catalog.add_quality_report(name, "prox_gate", True, {"drop_rate": 0.1})
        rows = {r["name"]: r for r in _get(client, token, "/prox/api/snapshots").json()}
        assert len(rows) == 3 + len(outside)
        for name in outside:
            assert "outside the report's roots" in rows[name]["refused"] \
                or "is not a snapshot folder" in rows[name]["refused"], rows[name]
            assert rows[name]["thresholds"] == {} and not rows[name]["latest"]
        assert rows["crawl-2026-03-03"]["refused"] is None and rows["crawl-2026-03-03"]["latest"]
        overview = _get(client, token, "/prox/").text
        assert overview.count("not read: outside the report's roots") == len(outside)
        assert "/snapshots/elsewhere/docs/index.html" not in overview
        for name in outside:
            for path in ("", "/documents", "/gate.json", "/docs/index.html"):
                r = _get(client, token, f"/prox/snapshots/{name}{path}", 403)
                assert "PROX_REPORT_ROOTS" in r.json()["detail"], r.text
                assert "SECRET" not in r.text and "hunter2" not in r.text
        assert "Gate checks" in _get(client, token, "/prox/snapshots/crawl-2026-03-01").text
    finally:
        (report_root / "snapshots" / "linked-out").unlink()


def test_the_report_says_who_released_a_snapshot_the_cli_a_run_or_not_recorded(
        client, token, tmp_path, monkeypatch):
    """A `prox release` and a release booked before the catalog kept who released (no run)
    both showed no run: the report could not tell them apart. A release by the CLI now says
    so, with its user, host and time; a DAG run's names the run; a row booked before
    migration 0010 with no run says it was not recorded, and one with a run (0009) names it."""
    import socket

    from sqlalchemy import text

    from prox_tasks.catalog import Catalog
    from prox_tasks.cli import main
    from prox_tasks.pipeline import refresh
    from tests.plugins.conftest import report_programs
    from tests.quality.snapshot_factory import refine_snapshot, write_input

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    monkeypatch.setenv("PROX_CATALOG_URL", url)
    # the user getpass reads first: a CI container's uid may have no passwd entry nor $USER
    monkeypatch.setenv("LOGNAME", "nightly-ops")
    src = write_input(tmp_path / "in" / "crawl.jsonl", 20)
    snapshot = refresh.resolve_snapshot({"input_uri": str(src), "output_root": str(tmp_path),
                                         "snapshot_name": "crawl-2026-04-02",
                                         "catalog_url": url}, "2026-04-02")
    refresh.plan(snapshot, 10, 1024, "default", None)
    refine_snapshot(str(src), snapshot["output_uri"], programs=report_programs)
    refresh.gate(snapshot, {})
    assert main(["release", "--snapshot", snapshot["output_uri"], "--root", str(tmp_path),
                 "--name", "crawl-2026-04-02", "--catalog", url]) == 0
    with Catalog(url) as catalog:
        [release] = catalog.list_releases()
    at = release["created_at"][:16].replace("T", " ")
    by_cli = (f'released from the CLI (<code>prox release</code>) by <span class="mono">'
              f"nightly-ops@{socket.gethostname()}</span> at "
              f'<span class="mono">{at} UTC</span>')
    for url_ in ("/prox/snapshots/crawl-2026-04-02", "/prox/"):
        page = _get(client, token, url_).text
        assert by_cli in page, url_
        assert "released by run" not in page and "not recorded" not in page

    run = "scheduled__2026-04-02T00:00:00+00:00"
    link = 'released by run <a target="_top" href="/dags/prox_refine_snapshot/runs/{}"'.format
    with Catalog(url) as catalog, catalog.engine.begin() as conn:  # as 0009 booked a run's
        conn.execute(text("UPDATE releases SET released_by = NULL, dag_run_id = :r"), {"r": run})
    page = _get(client, token, "/prox/snapshots/crawl-2026-04-02").text
    assert link("scheduled__2026-04-02T00%3A00%3A00%2B00%3A00") in page
    assert "/runs/scheduled__2026-04-02T00%3A00%3A00%2B00%3A00/tasks/release" in page

    with Catalog(url) as catalog, catalog.engine.begin() as conn:  # before 0009, or its CLI
        conn.execute(text("UPDATE releases SET released_by = NULL, dag_run_id = NULL"))
    for url_ in ("/prox/snapshots/crawl-2026-04-02", "/prox/"):
        page = _get(client, token, url_).text
        assert f"released before prox recorded by whom</span> at <span class=\"mono\">{at} UTC" \
            in page, url_
        assert "released by run" not in page and "from the CLI" not in page
