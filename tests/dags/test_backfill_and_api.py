"""A real Airflow (api-server, scheduler, dag-processor on loopback): a CLI backfill over
two daily crawl partitions, and a UI-style trigger with Params through the REST API."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from tests.browser.chromium import Chromium, chromium_path, output_dir
from tests.dags.airflow_env import airflow_cli
from tests.dags.crawl import daily_crawl, sample_rows, write_jsonl
from tests.dags.services import (
    airflow_services,
    list_runs,
    nightly_schedule,
    wait_for_backfills,
    wait_for_runs,
)

pytestmark = pytest.mark.slow
DAYS = ["2026-02-01", "2026-02-02"]  # two: a backfill over several days, the least that is


@pytest.fixture(scope="module")
def deployment(airflow_db, tmp_path_factory):
    """The services, with the nightly defaults (crawl template, corpus, catalog) under a
    temporary folder, and the crawl partition of the nightly run that unpausing starts."""
    root = tmp_path_factory.mktemp("deploy")
    cron, nightly = nightly_schedule()
    daily_crawl(root / "crawl", [nightly], per_day=8)
    env = {"PROX_REFRESH_CRON": cron,
           "PROX_HOME": str(root / "prox"), "PROX_CRAWL_TEMPLATE": str(root / "crawl" / "{ds}"),
           "PROX_CORPUS_ROOT": str(root / "corpus"),
           "PROX_CATALOG_URL": f"sqlite:///{root / 'catalog.sqlite'}",
           # partitions of a dozen documents are too noisy for the released-history check
           # (tests/quality covers it); a deployment sets gate defaults like this
           "PROX_GATE_HISTORY_MIN": "50"}
    with airflow_services(env) as service:
        yield service, root, nightly


def fingerprint(folder):
    """Path -> (sha256, mtime) of every file below ``folder``."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                         p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_backfill_two_days_once_and_again_changes_nothing(deployment):
    from prox_tasks.catalog import Catalog

    service, root, nightly = deployment
    daily_crawl(root / "crawl", DAYS, per_day=12)
    corpus = root / "corpus"
    catalog_url = f"sqlite:///{root / 'catalog.sqlite'}"
    conf = json.dumps({"target_docs": 5})  # the rest: the deployment's nightly defaults
    # the session's Airflow DB is shared: runs of this DAG an earlier test made are not ours
    earlier = {r["dag_run_id"] for r in list_runs(service, "prox_refine_snapshot")}
    # the schedule fires at some hour of each day: the window ends with the last day's end
    args = ["backfill", "create", "--dag-id", "prox_refine_snapshot", "--from-date", DAYS[0],
            "--to-date", f"{DAYS[-1]}T23:59:59+00:00", "--dag-run-conf", conf,
            "--max-active-runs", "1"]
    airflow_cli(*args)
    # Runs start once the DAG is unpaused; the nightly schedule then also refines its day.
    r = service.request("PATCH", "/api/v2/dags/prox_refine_snapshot", json={"is_paused": False})
    assert r.status_code == 200, r.text
    runs = wait_for_runs(service, "prox_refine_snapshot", len(DAYS) + 1, timeout=480,
                         exclude=earlier)
    assert sorted((r["logical_date"][:10], r["run_type"], r["state"]) for r in runs) == sorted(
        [(day, "backfill", "success") for day in DAYS] + [(nightly, "scheduled", "success")])
    catalog = Catalog(catalog_url)
    released = sorted(f"crawl-{d}" for d in [*DAYS, nightly])
    assert sorted(r["release"] for r in catalog.list_releases()) == released
    for day in DAYS:
        shards = catalog.get_shards(f"crawl-{day}")
        assert [s["attempts"] for s in shards] == [1, 1, 1]  # each partition refined once
        assert sum(s["docs_read"] for s in shards) == 12
    # latest is the newest partition, whatever order the runs finished in
    assert json.loads((corpus / "latest.json").read_text())["name"] == f"crawl-{nightly}"
    before = fingerprint(corpus)

    # The same backfill again: Airflow creates its runs when the command runs (none here,
    # every date has a successful run) and the scheduler marks it complete once it has no
    # unfinished run — a positive sign it has nothing left to start, not a fixed sleep.
    wait_for_backfills(service, "prox_refine_snapshot", 1)
    airflow_cli(*args)
    wait_for_backfills(service, "prox_refine_snapshot", 2)
    runs_after = wait_for_runs(service, "prox_refine_snapshot", len(DAYS) + 1, timeout=120,
                               exclude=earlier)
    assert sorted(r["dag_run_id"] for r in runs_after) == sorted(r["dag_run_id"] for r in runs)
    assert fingerprint(corpus) == before
    assert sorted(r["release"] for r in catalog.list_releases()) == released
    assert all([s["attempts"] for s in catalog.get_shards(f"crawl-{d}")] == [1, 1, 1]
               for d in DAYS)


def test_rest_api_trigger_with_params_runs_the_dag(deployment):
    service, root, _ = deployment
    # unpaused here too (the backfill test does it first): this test alone, or after a
    # backfill test that failed before unpausing, must not wait out its deadline on a run
    # left queued
    r = service.request("PATCH", "/api/v2/dags/prox_refine_snapshot", json={"is_paused": False})
    assert r.status_code == 200, r.text
    crawl = write_jsonl(root / "api" / "crawl.jsonl", sample_rows(15, start=100))
    conf = {"input_uri": str(crawl), "output_root": str(root / "api" / "corpus"),
            "catalog_url": f"sqlite:///{root / 'api' / 'catalog.sqlite'}",
            "snapshot_name": "from-the-ui", "target_docs": 5, "max_drop_rate": 0.95}
    # Airflow's own auth: no token, no run
    assert service.request("POST", "/api/v2/dags/prox_refine_snapshot/dagRuns", auth=False,
                           json={"logical_date": None, "conf": conf}).status_code == 401
    bad = service.request("POST", "/api/v2/dags/prox_refine_snapshot/dagRuns",
                          json={"logical_date": None, "conf": {**conf, "target_docs": 0}})
    assert bad.status_code == 400, bad.text  # Params are validated (JSON schema)
    created = service.request("POST", "/api/v2/dags/prox_refine_snapshot/dagRuns",
                              json={"logical_date": None, "conf": conf})
    assert created.status_code == 200, created.text
    run_id = created.json()["dag_run_id"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        run = service.request("GET", f"/api/v2/dags/prox_refine_snapshot/dagRuns/{run_id}").json()
        if run["state"] in ("success", "failed"):
            break
        time.sleep(2)
    assert run["state"] == "success", service.tail()
    tis = service.request(
        "GET", f"/api/v2/dags/prox_refine_snapshot/dagRuns/{run_id}/taskInstances").json()
    names = sorted(t["rendered_map_index"] for t in tis["task_instances"]
                   if t["task_id"] == "refine_shard")
    assert names == ["shard-00000", "shard-00001", "shard-00002"]
    latest = json.loads((root / "api" / "corpus" / "latest.json").read_text())
    assert latest["name"] == "from-the-ui"
    # the gate's extra links, as the UI's task page asks the API server for them
    task_links = f"/api/v2/dags/prox_refine_snapshot/dagRuns/{run_id}/taskInstances/{{}}/links"
    page = "/prox/snapshots/from-the-ui"
    for task_id in ("quality_gate", "release"):
        links = service.request("GET", task_links.format(task_id)).json()["extra_links"]
        assert links == {"PROX report": page, "Data Docs": f"{page}/docs/index.html",
                         "gate.json": f"{page}/gate.json"}, links
        # (the pages themselves: tests/plugins; this run books into its own catalog, which
        # the API server's report does not read)
    plan_links = service.request("GET", task_links.format("plan")).json()["extra_links"]
    assert set(plan_links.values()) == {None}  # no button on the other tasks


def test_new_seed_set_asset_triggers_training(deployment):
    """prox_seed_label's Asset event schedules prox_train_refiner, which trains on it."""
    service, root, _ = deployment
    snapshot = write_jsonl(root / "seed-input.jsonl", sample_rows(40, start=150))
    # runs an earlier test made in the session's Airflow DB (dag.test()) are not ours
    earlier = {dag_id: {r["dag_run_id"] for r in list_runs(service, dag_id)}
               for dag_id in ("prox_seed_label", "prox_train_refiner")}
    for dag_id in ("prox_seed_label", "prox_train_refiner"):
        r = service.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        assert r.status_code == 200, r.text
    created = service.request("POST", "/api/v2/dags/prox_seed_label/dagRuns", json={
        "logical_date": None, "conf": {"input_uri": str(snapshot), "seed_set_name": "api-seed",
                                       "sample_size": 30, "label_shard_docs": 15}})
    assert created.status_code == 200, created.text
    seed_runs = wait_for_runs(service, "prox_seed_label", 1, timeout=240,
                              exclude=earlier["prox_seed_label"])
    assert seed_runs[0]["state"] == "success", service.tail()
    train_runs = wait_for_runs(service, "prox_train_refiner", 1, timeout=420,
                               exclude=earlier["prox_train_refiner"])
    assert [(r["run_type"], r["state"]) for r in train_runs] == [("asset_triggered", "success")]
    run_id = train_runs[0]["dag_run_id"]
    seed = service.request("GET", f"/api/v2/dags/prox_train_refiner/dagRuns/{run_id}/taskInstances"
                           "/resolve_seed_set/xcomEntries/return_value").json()["value"]
    assert seed["uri"].endswith("api-seed/manifest.json")


#: The trigger dialog of the Airflow UI (a DAG page's Trigger button opens it).
DIALOG = "[...document.querySelectorAll('[role=dialog]')].find(d => d.innerText.includes('Trigger Dag'))"


def _open_trigger_form(page, service, dag_id: str) -> str:
    """Open ``dag_id``'s page in the UI, press Trigger; the dialog's text."""
    page.goto(f"{service.url}/dags/{dag_id}")
    trigger = "[...document.querySelectorAll('button')].find(b => /Trigger/.test(b.textContent))"
    page.wait_for(f"!!({trigger})", 90)
    page.evaluate(f"({trigger}).click()")
    page.wait_for(f"({DIALOG}) && ({DIALOG}).innerText.includes('Run Parameters')", 30)
    return page.evaluate(f"({DIALOG}).innerText")


@pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed "
                    "(apt-get install chromium; .ci/run installs it)")
def test_trigger_forms_show_every_param_with_its_title_and_description(deployment, dagbag):
    """The UI's trigger form, in headless chromium, as a data team opens it: each Param of
    the refine and seed DAGs under its title with its description, the deployment's defaults
    filled in, no choice shown as "null", and a negative threshold typed in not kept."""
    service, root, _ = deployment
    with Chromium() as chromium:
        page = chromium.page
        page.call("Network.setCookie", name="_token", value=service.token(),
                  url=f"{service.url}/")
        for dag_id in ("prox_refine_snapshot", "prox_seed_label"):
            text = _open_trigger_form(page, service, dag_id)
            page.screenshot(output_dir("airflow-ui") / f"trigger-{dag_id}.png")
            params = dagbag.get_dag(dag_id).params
            lines = [line.strip() for line in text.splitlines()]
            for name in params:
                param = params.get_param(name)
                title = param.schema["title"]
                assert title in lines, (dag_id, name, text)
                # the description is the first line under the title (after a required '*')
                after = [line for line in lines[lines.index(title) + 1:] if line not in ("*", "")]
                assert param.description in after[:2], (dag_id, name, after[:2])
            assert "null" not in lines, text
            value = "document.querySelector('[name=element_input_uri]').value"
            if dag_id == "prox_refine_snapshot":
                assert page.evaluate(value) == str(root / "crawl" / "{ds}")  # PROX_CRAWL_TEMPLATE
                field = "document.querySelector('[name=element_max_drop_rate]')"
                page.evaluate(f"{field}.focus(); {field}.select()")
                page.call("Input.insertText", text="-1")
                page.evaluate(f"{field}.blur()")
                assert page.evaluate(f"{field}.value") == "0"  # the Param's minimum, not -1
