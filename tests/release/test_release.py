import json

import pytest

from prox_tasks.catalog import Catalog
from prox_tasks.cli import main
from prox_tasks.pipeline import refresh
from prox_tasks.quality import GateFailed, run_gate
from prox_tasks.release import ReleaseRefused, read_latest, release_snapshot
from prox_tasks.storage import read_json
from tests.quality.snapshot_factory import refine_snapshot, write_input


def make(tmp_path, name, docs=20, garbage=0, catalog=None):
    """A refined snapshot under tmp_path/root/snapshots/<name>, registered when catalog."""
    src = write_input(tmp_path / "in" / f"{name}.jsonl", docs, garbage_lines=garbage)
    snapshot = refresh.resolve_snapshot({"input_uri": str(src), "output_root": str(tmp_path / "root"),
                                         "snapshot_name": name, "catalog_url": catalog},
                                        name.split("-", 1)[-1] if "-" in name else None)
    if catalog:
        refresh.plan(snapshot, 10, 1024, "default", None)
    refine_snapshot(str(src), snapshot["output_uri"])
    return snapshot


def test_refuses_without_gate_and_after_failed_gate(tmp_path):
    snap = make(tmp_path, "a", garbage=5)
    root = str(tmp_path / "root")
    with pytest.raises(ReleaseRefused, match="no gate result"):
        release_snapshot(snap["output_uri"], root, "a")
    assert not run_gate(snap["output_uri"]).passed
    with pytest.raises(ReleaseRefused, match="failed its quality gate"):
        release_snapshot(snap["output_uri"], root, "a")
    assert read_latest(root) is None


def test_release_writes_record_then_latest_and_is_idempotent(tmp_path):
    snap = make(tmp_path, "crawl-2026-01-02")
    root = str(tmp_path / "root")
    assert run_gate(snap["output_uri"]).passed
    first = release_snapshot(snap["output_uri"], root, "crawl-2026-01-02",
                             partition="2026-01-02")
    latest_file = tmp_path / "root" / "latest.json"
    content, mtime = latest_file.read_bytes(), latest_file.stat().st_mtime_ns
    assert first["latest"] and json.loads(content)["name"] == "crawl-2026-01-02"
    assert len(json.loads(content)["shards"]) == 2
    again = release_snapshot(snap["output_uri"], root, "crawl-2026-01-02", partition="2026-01-02")
    assert again["released_at"] == first["released_at"]
    assert latest_file.read_bytes() == content and latest_file.stat().st_mtime_ns == mtime


def test_older_partition_never_moves_latest_back(tmp_path):
    root = str(tmp_path / "root")
    for day in ("2026-01-03", "2026-01-01"):
        snap = make(tmp_path, f"crawl-{day}")
        run_gate(snap["output_uri"])
        out = release_snapshot(snap["output_uri"], root, f"crawl-{day}", partition=day)
        assert out["latest"] == (day == "2026-01-03")
    assert read_latest(root)["name"] == "crawl-2026-01-03"
    assert (tmp_path / "root" / "releases" / "crawl-2026-01-01.json").exists()


def test_shard_changed_after_gate_is_refused(tmp_path):
    snap = make(tmp_path, "b")
    run_gate(snap["output_uri"])
    shard = tmp_path / "root" / "snapshots" / "b" / "shards" / "shard-00000.parquet"
    shard.write_bytes(shard.read_bytes() + b"tampered")
    with pytest.raises(ReleaseRefused, match="changed after it was written"):
        release_snapshot(snap["output_uri"], str(tmp_path / "root"), "b")
    assert read_latest(str(tmp_path / "root")) is None


def test_a_quarantine_file_cut_short_after_the_gate_is_refused_by_name(tmp_path):
    """The gate checks each quarantine file's size against the status record; the release
    checks it again, so damage between the two is not released with the snapshot."""
    snap = make(tmp_path, "q", garbage=1)
    assert run_gate(snap["output_uri"]).passed
    statuses = [read_json(str(p)) for p in
                (tmp_path / "root" / "snapshots" / "q" / "_status").glob("*.json")]
    quarantine = next(s["quarantine_uri"] for s in statuses if s.get("quarantine_bytes"))
    path = quarantine.removeprefix("file://")
    with open(path, "r+b") as f:
        f.truncate(max(0, f.seek(0, 2) - 3))
    with pytest.raises(ReleaseRefused, match=r"bytes, \d+ were written; the records of"):
        release_snapshot(snap["output_uri"], str(tmp_path / "root"), "q")
    assert read_latest(str(tmp_path / "root")) is None


def test_a_completed_release_run_again_reads_no_shard_bytes(tmp_path):
    """A rerun of a released date checks the gate and status records, not each shard's
    bytes again (on S3: the whole snapshot downloaded only to be skipped). The proof that
    nothing was read: bytes changed since the release are not seen by the rerun, while
    releasing them under another name reads and refuses them."""
    snap = make(tmp_path, "crawl-2026-01-04")
    root = str(tmp_path / "root")
    assert run_gate(snap["output_uri"]).passed
    first = release_snapshot(snap["output_uri"], root, "crawl-2026-01-04", partition="2026-01-04")
    shard = tmp_path / "root" / "snapshots" / "crawl-2026-01-04" / "shards" / "shard-00001.parquet"
    shard.write_bytes(shard.read_bytes() + b"changed after the release")
    again = release_snapshot(snap["output_uri"], root, "crawl-2026-01-04", partition="2026-01-04")
    assert (first["new"], again["new"]) == (True, False)
    assert again["released_at"] == first["released_at"]
    with pytest.raises(ReleaseRefused, match="changed after it was written"):
        release_snapshot(snap["output_uri"], root, "crawl-copy")


def test_a_shard_file_gone_after_the_gate_is_refused_by_name(tmp_path):
    snap = make(tmp_path, "c")
    assert run_gate(snap["output_uri"]).passed
    shard = tmp_path / "root" / "snapshots" / "c" / "shards" / "shard-00001.parquet"
    shard.unlink()
    with pytest.raises(ReleaseRefused, match="shard-00001.parquet is missing; refine"):
        release_snapshot(snap["output_uri"], str(tmp_path / "root"), "c")
    assert read_latest(str(tmp_path / "root")) is None


def test_pipeline_gate_and_release_update_catalog(tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    good = make(tmp_path, "crawl-2026-01-01", catalog=url)
    refresh.gate(good, {})
    out = refresh.release(good)
    assert out["released"] and out["latest"]
    # the task's result (an XCom row) counts the shards; the record lists them
    assert out["shards"] == 2 and len(read_json(out["record_uri"])["shards"]) == 2
    bad = make(tmp_path, "crawl-2026-01-02", garbage=6, catalog=url)
    with pytest.raises(GateFailed):
        refresh.gate(bad, {})
    catalog = Catalog(url)
    assert catalog.get_snapshot("crawl-2026-01-01")["status"] == "released"
    assert catalog.get_snapshot("crawl-2026-01-02")["status"] == "quarantined"
    assert [r["release"] for r in catalog.list_releases()] == ["crawl-2026-01-01"]
    assert catalog.latest_quality_report("crawl-2026-01-02", "prox_gate")["success"] is False
    assert refresh.release(good, dry_run=True) == {"name": "crawl-2026-01-01", "released": False,
                                                   "dry_run": True}
    gate_json = tmp_path / "root" / "snapshots" / "crawl-2026-01-01" / "_quality" / "gate.json"
    evidence = gate_json.read_bytes()
    report = catalog.latest_quality_report("crawl-2026-01-01", "prox_gate")
    # a re-run with thresholds the released snapshot fails reads back the result it was
    # released with: the release's evidence and the catalog's status stay as they were
    again = refresh.gate(good, {"max_drop_rate": 0.01})
    assert again["passed"] and again["kept_from_release"]
    assert gate_json.read_bytes() == evidence
    assert catalog.get_snapshot("crawl-2026-01-01")["status"] == "released"
    assert catalog.latest_quality_report("crawl-2026-01-01", "prox_gate") == report
    refresh.release(good)
    assert len(catalog.list_releases()) == 1


def test_the_release_hint_to_gate_into_the_catalog_leads_to_a_recorded_release(
        tmp_path, capsys, monkeypatch):
    """Gated without --name, then released: the catalog had no gate, so the release was not
    recorded there, and its line said to `prox gate --name` into it first. That gate kept the
    released result and recorded nothing, and `prox release` said the same again: a dead end.
    The kept result is now recorded where the catalog has no gate of the snapshot."""
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    monkeypatch.setenv("PROX_CATALOG_URL", url)  # the catalog prox refine and gate book in
    name = "crawl-2026-01-03"
    out = make(tmp_path, name, catalog=url)["output_uri"]
    release = ["release", "--snapshot", out, "--root", str(tmp_path / "rel"), "--name", name]
    # gated with another default catalog (none there): the one the release reads learns nothing
    monkeypatch.setenv("PROX_CATALOG_URL", f"sqlite:///{tmp_path / 'elsewhere.sqlite'}")
    assert main(["gate", "--snapshot", out]) == 0
    monkeypatch.setenv("PROX_CATALOG_URL", url)
    capsys.readouterr()
    assert main(release) == 0
    assert "not recorded in a catalog" in capsys.readouterr().out
    assert main(release) == 0  # the user reads the hint: gate it into that catalog
    assert f"gate it into that catalog first (prox gate --snapshot {out} --name {name}" \
        in capsys.readouterr().out
    assert main(["gate", "--snapshot", out, "--name", name]) == 0
    capsys.readouterr()
    catalog = Catalog(url)
    report = catalog.latest_quality_report(name, "prox_gate")
    assert report is not None and report["success"]
    assert main(release) == 0
    assert "not recorded" not in capsys.readouterr().out
    # released from the CLI: no Airflow run released it (the report shows the latest run only)
    assert [(r["release"], r["dag_run_id"]) for r in catalog.list_releases()] == [(name, None)]
    assert catalog.get_snapshot(name)["status"] == "released"
    assert main(["gate", "--snapshot", out, "--name", name]) == 0  # again: nothing more
    assert catalog.latest_quality_report(name, "prox_gate") == report
    assert catalog.get_snapshot(name)["status"] == "released"


def test_the_pipeline_gate_reads_history_min_releases_before_it_judges_drift(tmp_path):
    """The nightly gate's history with history_min above history_size: the check runs once
    history_min snapshots were released (before: it read only the last history_size of
    them, fewer than history_min, and never ran)."""
    from prox_tasks.quality.gate import read_gate_result

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    thresholds = {"history_min": 3, "history_size": 2}
    for day in ("01", "02", "03"):
        snap = make(tmp_path, f"crawl-2026-01-{day}", catalog=url)
        refresh.gate(snap, thresholds)
        assert read_gate_result(snap["output_uri"])["history"] == {}  # fewer than 3 before it
        refresh.release(snap)
    fourth = make(tmp_path, "crawl-2026-01-04", catalog=url)
    refresh.gate(fourth, thresholds)
    history = read_gate_result(fourth["output_uri"])["history"]
    assert {m: h["n"] for m, h in history.items()} == {"drop_rate": 2, "kept_token_ratio": 2}


def test_a_shard_refined_again_after_the_gate_is_not_released(tmp_path, capsys):
    """`prox refine --force` rewrote the shards (valid checksums of their own) after the gate
    judged the earlier ones: the gate must run again before a release."""
    src = write_input(tmp_path / "in" / "crawl.jsonl", 20)
    out, root = tmp_path / "snapshots" / "stale", str(tmp_path / "root")
    refine = ["refine", "--input", str(src), "--output", str(out), "--model", "default",
              "--no-progress", "--catalog", f"sqlite:///{tmp_path / 'c.sqlite'}"]
    assert main(refine) == 0
    assert main(["gate", "--snapshot", str(out)]) == 0
    assert main([*refine, "--force", "--keep-threshold", "0.3"]) == 0
    capsys.readouterr()
    assert main(["release", "--snapshot", str(out), "--root", root, "--name", "stale"]) == 1
    assert "refined again after the gate judged it" in capsys.readouterr().err
    assert read_latest(root) is None
    assert main(["gate", "--snapshot", str(out)]) == 0  # judged again: releasable
    assert main(["release", "--snapshot", str(out), "--root", root, "--name", "stale"]) == 0


def test_cli_gate_and_release(tmp_path, capsys):
    snap = make(tmp_path, "c")
    root = str(tmp_path / "root")
    assert main(["release", "--json", "--snapshot", snap["output_uri"], "--root", root, "--name", "c"]) == 1
    assert main(["gate", "--json", "--snapshot", snap["output_uri"], "--max-drop-rate", "0.05"]) == 1
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["passed"] is False
    assert main(["gate", "--json", "--snapshot", snap["output_uri"]]) == 0
    capsys.readouterr()
    assert main(["release", "--json", "--snapshot", snap["output_uri"], "--root", root, "--name", "c"]) == 0
    assert json.loads(capsys.readouterr().out)["latest"] is True
    assert read_latest(root)["name"] == "c"


def gated(tmp_path, name, catalog=None):
    snap = make(tmp_path, name, catalog=catalog)
    assert run_gate(snap["output_uri"]).passed
    return snap


def test_a_manual_undated_release_never_blocks_later_nightlies(tmp_path):
    """The docs' manual run (no logical date, snapshot_name hotfix-1) between nightlies."""
    root = str(tmp_path / "root")
    for name, partition, becomes_latest in [("crawl-2026-01-01", "2026-01-01", True),
                                            ("hotfix-1", None, False),
                                            ("crawl-2026-01-02", "2026-01-02", True),
                                            ("crawl-2026-01-03", "2026-01-03", True),
                                            ("hotfix-2", None, False)]:
        snap = gated(tmp_path, name)
        out = release_snapshot(snap["output_uri"], root, name, partition=partition)
        assert out["latest"] is becomes_latest, name
    assert read_latest(root)["name"] == "crawl-2026-01-03"
    assert (tmp_path / "root" / "releases" / "hotfix-1.json").exists()


def test_undated_release_is_latest_only_until_a_dated_one(tmp_path):
    root = str(tmp_path / "root")
    for name in ("hotfix-1", "hotfix-2"):  # no dated release yet: the newest undated one
        release_snapshot(gated(tmp_path, name)["output_uri"], root, name)
        assert read_latest(root)["name"] == name
    snap = gated(tmp_path, "crawl-2026-01-01")
    assert release_snapshot(snap["output_uri"], root, "crawl-2026-01-01",
                            partition="2026-01-01")["latest"]


def test_a_latest_written_with_a_name_as_partition_is_replaced(tmp_path):
    """A latest.json from before partitions were dates ("partition": "hotfix-1")."""
    root = tmp_path / "root"
    old = gated(tmp_path, "hotfix-1")
    release_snapshot(old["output_uri"], str(root), "hotfix-1")
    latest = json.loads((root / "latest.json").read_text())
    (root / "latest.json").write_text(json.dumps({**latest, "partition": "hotfix-1"}))
    snap = gated(tmp_path, "crawl-2026-01-01")
    assert release_snapshot(snap["output_uri"], str(root), "crawl-2026-01-01",
                            partition="2026-01-01")["latest"]


@pytest.mark.parametrize("partition", ["hotfix-1", "2026-1-5", "2026-02-30", ""])
def test_a_partition_must_be_a_date(tmp_path, partition):
    snap = make(tmp_path, "d")  # refused before the gate is even read
    with pytest.raises(ValueError, match="invalid partition"):
        release_snapshot(snap["output_uri"], str(tmp_path / "root"), "d", partition=partition)
    assert read_latest(str(tmp_path / "root")) is None


@pytest.mark.parametrize("name", ["../../escaped-release", "a/b", "/abs", "..", ".hidden", ""])
def test_a_name_that_would_leave_the_release_root_is_refused(tmp_path, capsys, name):
    from prox_tasks.storage.names import InvalidName

    snap = make(tmp_path, "e")  # refused before the gate is even read
    root = tmp_path / "a" / "b" / "root"
    with pytest.raises(InvalidName, match="invalid release name"):
        release_snapshot(snap["output_uri"], str(root), name)
    assert main(["release", "--json", "--snapshot", snap["output_uri"], "--root", str(root),
                 "--name", name]) == 2  # a name to fix: a rerun cannot get past it
    assert "invalid release name" in capsys.readouterr().err
    assert not root.exists() and not (tmp_path / "a" / "escaped-release.json").exists()
    assert sorted(p.name for p in tmp_path.rglob("*.json") if "release" in p.name) == []


def test_release_names_its_model_in_the_record_and_the_catalog(tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    snap = make(tmp_path, "crawl-2026-01-04", catalog=url)
    with Catalog(url) as catalog:  # the registry registers what it publishes like this
        catalog.register_model("refiner", "test", "s3://models/refiner/test")
    refresh.gate(snap, {})
    out = refresh.release(snap)
    assert out["model"] == "test"  # the version in the shards' status records
    assert json.loads((tmp_path / "root" / "latest.json").read_text())["model"] == "test"
    with Catalog(url) as catalog:
        row = catalog._one("SELECT m.name, m.version FROM releases r JOIN models m"
                           " ON m.id = r.model_id WHERE r.name = 'crawl-2026-01-04'")
    assert row == {"name": "refiner", "version": "test"}


def test_a_changed_input_of_a_released_snapshot_asks_for_another_name_not_reprocess(tmp_path):
    from prox_tasks.pipeline.errors import RunError

    catalog = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    snap = make(tmp_path, "crawl-2026-01-05", catalog=catalog)
    assert run_gate(snap["output_uri"]).passed
    release_snapshot(snap["output_uri"], str(tmp_path / "root"), "crawl-2026-01-05",
                     partition="2026-01-05")
    write_input(tmp_path / "in" / "crawl-2026-01-05.jsonl", 21)  # the partition changed
    with pytest.raises(RunError, match="was released: give this rerun another snapshot_name") \
            as err:
        refresh.plan(snap, 10, 1024, "default", None)
    assert "reprocess=true" not in str(err.value)  # which would be refused in turn
    # nor prox plan's way out, which the planner words for the command line (and which a
    # released snapshot refuses too): the way out first, then what differs
    assert "prox plan" not in str(err.value) and "--overwrite" not in str(err.value)
    assert str(err.value).startswith(f"{snap['output_uri']}/manifest.json holds another plan: "
                                     "this snapshot was released: give this rerun another "
                                     "snapshot_name (its plan and shards are new); it differs "
                                     "in input file rewritten")


def test_a_changed_input_of_a_snapshot_not_released_asks_for_reprocess_not_prox_plan(tmp_path):
    """The DAG's plan task said the planner's command-line way out first ('use a new output
    folder or overwrite it (prox plan --overwrite)') and its own after it: a data team reading
    the run's error in the UI was told to run a prox command. It now says the Params' way."""
    from prox_tasks.pipeline.errors import RunError

    catalog = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    snap = make(tmp_path, "crawl-2026-01-06", catalog=catalog)
    with pytest.raises(RunError) as err:
        refresh.plan(snap, 5, 1024, "default", None)  # another shard size: another plan
    assert str(err.value) == (
        f"{snap['output_uri']}/manifest.json holds another plan: trigger the run with "
        "reprocess=true to replace the plan and refine every shard again, or give it another "
        "snapshot_name; it differs in target_docs 10 -> 5")


def test_a_release_the_catalog_refuses_writes_nothing(tmp_path, monkeypatch):
    catalog_url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    snap = gated(tmp_path, "crawl-2026-01-07", catalog=catalog_url)  # gated, not booked
    root = tmp_path / "root"
    with Catalog(catalog_url) as catalog, pytest.raises(ReleaseRefused, match="no passing") \
            as refused:
        release_snapshot(snap["output_uri"], str(root), "crawl-2026-01-07",
                         partition="2026-01-07", catalog=catalog)
    # the way out: a gate run that records its result there (gated() ran one without a name)
    assert "(no gate recorded there): gate it into that catalog first (prox gate --snapshot " \
        f"{snap['output_uri']} --name crawl-2026-01-07 --catalog URL" in str(refused.value)
    assert not (root / "releases").exists() and read_latest(str(root)) is None
    assert not list((tmp_path / "root" / "snapshots" / "crawl-2026-01-07").glob("_released*"))


def test_a_release_records_absolute_uris_whatever_the_paths_given(tmp_path, monkeypatch):
    snap = gated(tmp_path, "crawl-2026-01-08")
    monkeypatch.chdir(tmp_path)
    relative = snap["output_uri"].removeprefix(f"file://{tmp_path}/")
    record = release_snapshot(relative, "root", "crawl-2026-01-08", partition="2026-01-08")
    assert record["snapshot_uri"] == snap["output_uri"]
    assert read_latest(str(tmp_path / "root"))["snapshot_uri"] == snap["output_uri"]


def test_prox_gate_name_books_in_the_catalog_prox_refine_booked_in(tmp_path, capsys, monkeypatch):
    """No --catalog: both default to PROX_CATALOG_URL (else $PROX_HOME/catalog.sqlite)."""
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    monkeypatch.setenv("PROX_CATALOG_URL", url)
    src = write_input(tmp_path / "in" / "crawl.jsonl", 20)
    out = tmp_path / "snapshots" / "crawl-x"
    assert main(["refine", "--input", str(src), "--output", str(out), "--model", "default",
                 "--no-progress"]) == 0
    assert main(["gate", "--snapshot", str(out), "--name", "crawl-x"]) == 0
    assert main(["release", "--snapshot", str(out), "--root", str(tmp_path / "root"),
                 "--name", "crawl-x", "--catalog", url]) == 0  # the catalog's gate report
    with Catalog(url) as catalog:
        assert catalog.latest_quality_report("crawl-x", "prox_gate")["success"]
        assert catalog.get_snapshot("crawl-x")["status"] == "released"
    capsys.readouterr()
    # without --name, the snapshot --catalog books for the folder: released, its result kept
    assert main(["gate", "--snapshot", str(out), "--catalog", url]) == 0
    assert "; booked on snapshot crawl-x in the catalog" in capsys.readouterr().out


def test_a_rerun_with_other_settings_fails_at_plan_naming_the_way_out(tmp_path):
    """Another keep threshold or quality filter for a refined snapshot fails once, at plan:
    `reprocess` for one not released, another snapshot_name for a released one (whose
    reprocess is refused) — not in every refine task, advising a reprocess that fails."""
    from prox_tasks.pipeline.errors import RunError

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    src = write_input(tmp_path / "in" / "crawl.jsonl", 20)
    snap = refresh.resolve_snapshot({"input_uri": str(src), "output_root": str(tmp_path / "root"),
                                     "catalog_url": url}, "2026-01-06")
    work = refresh.plan(snap, 10, 1024, "default", None)
    refresh.collect(snap, [refresh.refine_batch(b) for b in work])
    assert refresh.plan(snap, 10, 1024, "default", None) == work  # same settings: reused
    with pytest.raises(RunError, match=r"keep_threshold None -> 0\.5\); trigger with "
                       "reprocess=true"):
        refresh.plan(snap, 10, 1024, "default", None, keep_threshold=0.5)
    refresh.gate(snap, {})
    refresh.release(snap)
    with pytest.raises(RunError, match=r"was released refined with other settings \(quality "
                       r"'off' -> 'drop'\); give this run another snapshot_name"):
        refresh.plan(snap, 10, 1024, "default", None, quality="drop")


def test_a_release_a_crash_interrupted_is_completed_by_the_retry_and_reported_new(tmp_path,
                                                                                  monkeypatch):
    """The DAG sends its Asset event only for a new release: a retry that finishes a release
    whose record was written before a crash must say new, or no event is ever sent."""
    from prox_tasks.release import release as release_module

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    snap = make(tmp_path, "crawl-2026-01-07", catalog=url)
    refresh.gate(snap, {})
    real = release_module._record_in_catalog

    def outage(*args, **kwargs):  # fault injection: the catalog fails once, after the record
        monkeypatch.setattr(release_module, "_record_in_catalog", real)
        raise ConnectionError("catalog unreachable")

    monkeypatch.setattr(release_module, "_record_in_catalog", outage)
    with pytest.raises(ConnectionError):
        refresh.release(snap)
    assert (tmp_path / "root" / "releases" / "crawl-2026-01-07.json").exists()
    assert read_latest(str(tmp_path / "root")) is None
    retried = refresh.release(snap)
    assert retried["new"] and retried["latest"]
    assert read_latest(str(tmp_path / "root"))["name"] == "crawl-2026-01-07"
    assert refresh.release(snap)["new"] is False  # complete now: a rerun changes nothing


def test_a_retried_gate_adds_no_second_report_and_keeps_one_set_of_data_docs(tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    snap = make(tmp_path, "crawl-2026-01-08", catalog=url)
    docs = tmp_path / "root" / "snapshots" / "crawl-2026-01-08" / "_quality" / "data_docs"
    refresh.gate(snap, {})
    pages = sorted(p.relative_to(docs) for p in docs.rglob("*.html"))
    with Catalog(url) as catalog:
        first = catalog.latest_quality_report("crawl-2026-01-08", "prox_gate")
    refresh.gate(snap, {})  # Airflow's retry, or a clear of the task
    with Catalog(url) as catalog:
        assert catalog.latest_quality_report("crawl-2026-01-08", "prox_gate") == first
    again = sorted(p.relative_to(docs) for p in docs.rglob("*.html"))
    assert len(again) == len(pages)  # the new run's pages replace the old run's
    with pytest.raises(GateFailed):  # another verdict is another report
        refresh.gate(snap, {"max_drop_rate": 0.01})
    with Catalog(url) as catalog:
        assert catalog.latest_quality_report("crawl-2026-01-08", "prox_gate")["id"] > first["id"]



def test_a_copied_snapshot_folder_is_gated_and_released_from_its_own_files(tmp_path):
    """Status records name where their shards were first written: a copy (or a moved
    folder) must be judged and released from the files beside them."""
    import shutil

    make(tmp_path, "orig")
    orig, copy = tmp_path / "root" / "snapshots" / "orig", tmp_path / "root" / "snapshots" / "copy"
    shutil.copytree(orig, copy)
    assert run_gate(str(copy)).passed
    (copy / "shards" / "shard-00000.parquet").unlink()  # the copy lost a shard
    with pytest.raises(ReleaseRefused, match="copy.*missing|missing.*copy"):
        release_snapshot(str(copy), str(tmp_path / "rel"), "copy")
    shutil.rmtree(copy)
    shutil.copytree(orig, copy)
    assert run_gate(str(copy)).passed
    record = release_snapshot(str(copy), str(tmp_path / "rel"), "copy")
    assert all("/snapshots/copy/" in s["uri"] for s in record["shards"])


def test_a_release_under_a_name_booked_for_another_folder_is_refused(tmp_path, capsys):
    """`prox release --name N --catalog` records the release against the catalog row of N:
    a gated folder released under the name of another (gated) folder is refused, leaving
    that row, the release root and the catalog as they were."""
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    first, second = make(tmp_path, "crawl-2026-01-01", catalog=url), make(
        tmp_path, "crawl-2026-01-02", catalog=url)
    refresh.gate(first, {})
    refresh.gate(second, {})
    root = str(tmp_path / "releases")
    capsys.readouterr()
    assert main(["release", "--snapshot", second["output_uri"], "--root", root,
                 "--name", "crawl-2026-01-01", "--catalog", url]) == 2  # a setting to fix
    assert "booked for" in capsys.readouterr().err
    catalog = Catalog(url)
    assert catalog.list_releases() == [] and read_latest(root) is None
    assert catalog.get_snapshot("crawl-2026-01-01")["status"] == "gated"
    assert main(["release", "--snapshot", second["output_uri"], "--root", root,
                 "--name", "crawl-2026-01-02", "--catalog", url]) == 0
    catalog.close()



def test_the_dag_s_release_refused_by_the_catalog_names_its_param_and_its_gate_task(tmp_path):
    """The DAG's release task refused by the catalog (the name booked for another folder;
    no gate of the name booked) said "name this one apart (--name)" and "prox gate ...
    --name": a DAG run has neither. It names the snapshot_name Param and the run's
    quality_gate task, as the DAG's plan and gate tasks do; prox release keeps --name."""
    from prox_tasks.catalog import SnapshotNameTaken

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    gated = make(tmp_path, "crawl-2026-01-02", catalog=url)
    refresh.gate(gated, {})
    # `prox plan --name` books a name without a run: no DAG run's refusal comes first
    elsewhere = write_input(tmp_path / "x.jsonl", 5)
    assert main(["plan", "--input", str(elsewhere), "--output", str(tmp_path / "other"),
                 "--name", "taken", "--catalog", url]) == 0
    dag_try = {"dag_id": "prox_refine_snapshot", "run_id": "r1", "task_id": "release",
               "map_index": -1, "try_number": 1}
    with pytest.raises(SnapshotNameTaken) as taken:
        refresh.release({**gated, "name": "taken"}, task_try=dag_try)
    assert str(taken.value).endswith(f"name this one apart ({refresh.SNAPSHOT_NAME_PARAM})")
    # a folder booked by `prox plan --name`, gated without a name: no gate in the catalog
    ungated = make(tmp_path, "c")
    assert main(["plan", "--input", str(tmp_path / "in" / "c.jsonl"), "--output",
                 ungated["output_uri"], "--name", "c", "--catalog", url]) == 0
    assert run_gate(ungated["output_uri"]).passed
    with pytest.raises(ReleaseRefused) as refused:
        refresh.release({**ungated, "catalog_url": url}, task_try=dag_try)
    assert "clear this run's quality_gate task" in str(refused.value)
    assert "prox gate" not in str(refused.value)
    root = str(tmp_path / "rel")
    with Catalog(url) as catalog, pytest.raises(SnapshotNameTaken,
                                                match=r"name this one apart \(--name\)$"):
        release_snapshot(gated["output_uri"], root, "taken", catalog=catalog)
    assert read_latest(str(tmp_path / "root")) is None and read_latest(root) is None

def test_a_snapshot_path_that_holds_no_snapshot_is_named_as_such(tmp_path, capsys):
    """A mistyped --snapshot is told it is no snapshot folder, not to run the gate."""
    root = str(tmp_path / "root")
    assert main(["release", "--snapshot", str(tmp_path / "typo"), "--root", root,
                 "--name", "a"]) == 1
    err = capsys.readouterr().err
    assert "typo is no snapshot folder (no manifest.json)" in err and len(err.splitlines()) == 1
    assert read_latest(root) is None


def test_catalog_lists_the_model_of_a_release_refined_with_the_embedded_default(tmp_path, capsys):
    """The user's path: prox refine/gate/release --catalog with no model given (the shipped
    tagger, which has no registry row); the release listing names its version."""
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    src = write_input(tmp_path / "in" / "crawl.jsonl", 20)
    out = str(tmp_path / "root" / "snapshots" / "crawl")
    assert main(["refine", "--json", "--input", str(src), "--output", out, "--catalog", url,
                 "--name", "crawl"]) == 0
    assert main(["gate", "--snapshot", out, "--catalog", url, "--name", "crawl"]) == 0
    assert main(["release", "--snapshot", out, "--root", str(tmp_path / "root"),
                 "--name", "crawl", "--catalog", url]) == 0
    capsys.readouterr()
    assert main(["catalog", "--json", "--url", url, "list", "releases"]) == 0
    listed = json.loads(capsys.readouterr().out)
    shipped = read_latest(str(tmp_path / "root"))["model"]
    assert shipped.startswith("line_tagger-")
    assert listed["release"] == "crawl" and listed["model_version"] == shipped


def test_two_releases_of_one_folder_at_once_both_keep_their_marks(tmp_path):
    """The release marks (_released.json) are read and written in one step: a release that
    marks the folder while another is writing its mark waits and adds to it, instead of
    writing back what it read before and losing the other's mark."""
    from prox_tasks.corpus.manifest import RELEASED_NAME, mark_released, released_as
    from tests.storage.writer_lock import start_while_locked, writer_in_the_middle

    folder = tmp_path / "snapshot"
    marks = folder / RELEASED_NAME
    with writer_in_the_middle(marks):
        late, raised = start_while_locked(marks, mark_released, str(folder), {"name": "second"})
        assert not marks.exists()  # it waits for the writer caught mid-write
        marks.write_text(json.dumps([{"name": "first", "completed": False}]))
    late.join(60)
    assert raised == []
    assert [m["name"] for m in released_as(str(folder))] == ["first", "second"]
    mark_released(str(folder), {"name": "first"}, completed=True)
    assert [m["completed"] for m in released_as(str(folder))] == [True, False]


def test_a_release_of_a_partition_dates_a_snapshot_refined_outside_airflow(tmp_path, capsys):
    """``prox refine`` books no logical date: the PROX report dated such a snapshot by the
    day it was refined, so a backfilled partition released with ``prox release --partition
    2026-03-01`` showed in the report's trends and its "latest.json points to …" line at
    today's date, not the partition latest.json names. The release now gives the snapshot
    its partition as logical date (a DAG run's own is kept)."""
    from prox_tasks.report import snapshot_rows

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    src = write_input(tmp_path / "in" / "crawl.jsonl", 20)
    out = tmp_path / "root" / "snapshots" / "backfill"
    assert main(["refine", "--input", str(src), "--output", str(out), "--model", "default",
                 "--no-progress", "--catalog", url]) == 0
    assert main(["gate", "--snapshot", str(out), "--name", "backfill", "--catalog", url]) == 0
    with Catalog(url) as catalog:
        assert not catalog.get_snapshot("backfill")["logical_date"]
    release = ["release", "--snapshot", str(out), "--root", str(tmp_path / "root"), "--name",
               "backfill", "--partition", "2026-03-01", "--catalog", url]
    assert main(release) == 0 and main(release) == 0  # a re-release changes nothing
    assert read_latest(str(tmp_path / "root"))["partition"] == "2026-03-01"
    with Catalog(url) as catalog:
        [row] = snapshot_rows(catalog)
    assert (row["logical_date"], row["latest"], row["status"]) == ("2026-03-01", True, "released")

    nightly = make(tmp_path, "crawl-2026-03-02", catalog=url)  # planned by a DAG run
    with Catalog(url) as catalog:
        catalog.update_snapshot("crawl-2026-03-02", logical_date="2026-03-02T00:00:00+00:00")
    run_gate(nightly["output_uri"])
    refresh.gate(nightly, {})
    release_snapshot(nightly["output_uri"], str(tmp_path / "root"), "crawl-2026-03-02",
                     partition="2026-03-05", catalog=Catalog(url))
    with Catalog(url) as catalog:
        assert catalog.get_snapshot("crawl-2026-03-02")["logical_date"] == \
            "2026-03-02T00:00:00+00:00"


def test_a_release_run_again_says_it_was_released_and_latest_already(tmp_path, capsys):
    """A rerun of a completed release changes nothing, and its line says so (it said "now
    latest" as if it had moved latest.json)."""
    snap = gated(tmp_path, "crawl-2026-01-05")
    args = ["release", "--snapshot", snap["output_uri"], "--root", str(tmp_path / "root"),
            "--name", "crawl-2026-01-05", "--partition", "2026-01-05"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert first.startswith("released crawl-2026-01-05 (") and "): now latest -> " in first
    assert main(args) == 0
    again = capsys.readouterr().out
    assert again.startswith("already released crawl-2026-01-05 (")
    assert "): already latest -> " in again and "now latest" not in again
    assert main([*args, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["latest"] and not record["new"] and not record["moved_latest"]


def test_release_without_catalog_records_in_the_catalog_refine_and_gate_booked_in(
        tmp_path, capsys, monkeypatch):
    """No --catalog: prox release took none, so a refresh run with prox refine, prox gate
    --name and prox release left the snapshot `gated` and no release in the catalog the
    other two booked in (PROX_CATALOG_URL). It now records there when that catalog holds
    the gate; a folder gated without --name is gated as the snapshot that catalog books for
    it (prox refine booked it under the folder's name), so its release is recorded too."""
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    monkeypatch.setenv("PROX_CATALOG_URL", url)
    src = write_input(tmp_path / "in" / "crawl.jsonl", 20)
    for name, gate_name in (("booked", ["--name", "booked"]), ("unbooked", [])):
        out = tmp_path / "snapshots" / name
        assert main(["refine", "--input", str(src), "--output", str(out), "--model", "default",
                     "--no-progress"]) == 0
        assert main(["gate", "--snapshot", str(out), *gate_name]) == 0
        capsys.readouterr()
        assert main(["release", "--snapshot", str(out), "--root", str(tmp_path / "root"),
                     "--name", name]) == 0
        line = capsys.readouterr().out
        assert "not recorded" not in line, line
    with Catalog(url) as catalog:
        assert [r["release"] for r in catalog.list_releases()] == ["booked", "unbooked"]
        assert catalog.get_snapshot("booked")["status"] == "released"
        assert catalog.get_snapshot("unbooked")["status"] == "released"
    assert read_latest(str(tmp_path / "root"))["name"] == "unbooked"


def test_a_release_named_apart_from_its_booked_snapshot_names_the_booked_name(
        tmp_path, capsys, monkeypatch):
    """prox refine booked the folder as 'snap' and prox gate gated it so; `prox release
    --name rel` was not recorded and said to `prox gate --snapshot … --name rel`, which the
    catalog refuses (it books the folder as 'snap'): a dead end. The line names the name the
    catalog books the folder under, and that release is recorded."""
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    monkeypatch.setenv("PROX_CATALOG_URL", url)
    src = write_input(tmp_path / "in" / "crawl.jsonl", 20)
    out = tmp_path / "snapshots" / "snap"
    assert main(["refine", "--input", str(src), "--output", str(out), "--model", "default",
                 "--no-progress"]) == 0
    assert main(["gate", "--snapshot", str(out)]) == 0
    capsys.readouterr()
    release = ["release", "--snapshot", str(out), "--root", str(tmp_path / "root")]
    assert main([*release, "--name", "rel"]) == 0
    line = capsys.readouterr().out
    assert f"catalog books {out.as_uri()} as snapshot 'snap', not 'rel'" in line, line
    assert "release it with --name snap" in line and "--name rel --catalog" not in line, line
    assert main([*release, "--name", "snap"]) == 0
    assert "not recorded" not in capsys.readouterr().out
    with Catalog(url) as catalog:
        assert [r["release"] for r in catalog.list_releases()] == ["snap"]


def test_release_without_catalog_is_not_stopped_by_a_default_catalog_that_cannot_be_read(
        tmp_path, capsys, monkeypatch):
    """No --catalog, and the default catalog (PROX_CATALOG_URL) is no database (a file
    overwritten, a server down): prox release, which took no catalog before it looked for
    a default one, releases as before, and its line says why nothing was recorded."""
    snap = gated(tmp_path, "c")
    broken = tmp_path / "catalog.sqlite"
    broken.write_bytes(b"not a database, " * 64)
    monkeypatch.setenv("PROX_CATALOG_URL", f"sqlite:///{broken}")
    root = str(tmp_path / "root")
    assert main(["release", "--snapshot", snap["output_uri"], "--root", root, "--name", "c"]) == 0
    line = capsys.readouterr().out
    assert f"; not recorded in a catalog: sqlite:///{broken}: it cannot be read (" in line, line
    assert read_latest(root)["name"] == "c"
    # named with --catalog, the same catalog is the user's choice: its error stops the release
    # (exit 2, a setting to fix: NotACatalog)
    assert main(["release", "--snapshot", snap["output_uri"], "--root", str(tmp_path / "r2"),
                 "--name", "c", "--catalog", f"sqlite:///{broken}"]) == 2
    assert not (tmp_path / "r2").exists()


def test_a_release_run_again_for_another_partition_says_it_keeps_its_own(tmp_path, capsys):
    """``prox release --partition 2026-01-09`` of a snapshot released for 2026-01-05 printed
    "already released … (partition 2026-01-05 …)" and exited 0: a script went on as if the
    snapshot were released for the 9th, and latest.json never named it. It is refused now
    (exit 1), naming the partition the release keeps and the way to another date; the
    release and latest.json stay as they were, and the same command as the first still
    passes."""
    snap = gated(tmp_path, "crawl-2026-01-05")
    args = ["release", "--snapshot", snap["output_uri"], "--root", str(tmp_path / "root"),
            "--name", "crawl-2026-01-05", "--partition", "2026-01-05"]
    assert main(args) == 0
    capsys.readouterr()
    latest = read_latest(str(tmp_path / "root"))
    assert main([*args[:-1], "2026-01-09"]) == 1
    said = capsys.readouterr().err
    assert said.startswith("prox release: release crawl-2026-01-05 was made for partition "
                           "2026-01-05 and keeps it: --partition 2026-01-09 is not applied"), said
    assert "release it under another --name" in said
    assert read_latest(str(tmp_path / "root")) == latest
    assert main(args) == 0 and main(args[:-2]) == 0  # the same, or no --partition: as before
    assert capsys.readouterr().out.startswith("already released crawl-2026-01-05")


def test_an_undated_release_says_undated_and_why_latest_stays(tmp_path, capsys):
    """An undated release beside a dated one printed "(partition none, …): latest stays at
    the newer partition": no partition is called undated everywhere else (--help, docs), and
    an undated release has no partition to be older than."""
    root = str(tmp_path / "root")
    dated = gated(tmp_path, "crawl-2026-01-05")
    assert main(["release", "--snapshot", dated["output_uri"], "--root", root, "--name",
                 "crawl-2026-01-05", "--partition", "2026-01-05"]) == 0
    capsys.readouterr()
    manual = gated(tmp_path, "hotfix-1")
    assert main(["release", "--snapshot", manual["output_uri"], "--root", root, "--name",
                 "hotfix-1"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("released hotfix-1 (undated, "), line
    assert "): latest stays at the dated release -> " in line, line


def test_the_record_counts_each_shards_kept_documents_and_reads_records_written_before(
        tmp_path, capsys, monkeypatch):
    """shards[].docs counts a shard's rows, kept and dropped (text null: 280 + 292 + 232 =
    804), the top-level docs the kept ones (722): a consumer summing shards[].docs got more
    than the release holds. Each shard now says its kept documents too (shards[].kept, whose
    sum is docs); the existing keys keep their meaning. A record written before (no kept)
    is still read by the release run again, a later release over it, the gate and the
    report's overview."""
    from prox_tasks.quality import run_gate
    from prox_tasks.report.overview import snapshot_rows

    catalog = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    snap = make(tmp_path, "crawl-2026-01-02", docs=30, catalog=catalog)
    refresh.gate(snap, {})
    record = refresh.release(snap)
    written = read_json(record["record_uri"])
    metrics = written["metrics"]
    assert metrics["docs_dropped"] > 0  # else the two counts could not differ
    assert sum(s["kept"] for s in written["shards"]) == written["docs"] == metrics["docs_kept"]
    assert sum(s["docs"] for s in written["shards"]) == (
        metrics["docs_kept"] + metrics["docs_dropped"])  # unchanged: rows written

    # the shape written before: no shards[].kept, in the record and latest.json
    root = tmp_path / "root"
    old = {**written, "shards": [{k: v for k, v in s.items() if k != "kept"}
                                 for s in written["shards"]]}
    for path in (root / "releases" / "crawl-2026-01-02.json", root / "latest.json"):
        path.write_text(json.dumps(old))
    again = refresh.release(snap)
    assert (again["new"], again["latest"]) == (False, True)
    assert again["shards"] == len(old["shards"])
    assert main(["release", "--snapshot", snap["output_uri"], "--root", str(root),
                 "--name", "crawl-2026-01-02", "--catalog", catalog]) == 0
    assert "already released crawl-2026-01-02" in capsys.readouterr().out
    assert run_gate(snap["output_uri"]).kept_from_release
    monkeypatch.setenv("PROX_REPORT_ROOTS", str(root))  # the report reads latest.json there
    with Catalog(catalog) as opened:
        [row] = snapshot_rows(opened, with_gate_files=True)
    assert (row["name"], row["refused"], row["latest"]) == ("crawl-2026-01-02", None, True)
    later = make(tmp_path, "crawl-2026-01-03", catalog=catalog)
    refresh.gate(later, {})
    assert refresh.release(later)["moved_latest"] is True  # over the old latest.json


def test_a_refused_release_says_what_to_do(tmp_path):
    """A release refused for a failed gate said "failed its quality gate; not released", and
    one for a shard changed since it was written only that: neither said where the failed
    checks are or what to do. Both now say it."""
    snap = make(tmp_path, "a", garbage=5)
    root = str(tmp_path / "root")
    assert not run_gate(snap["output_uri"]).passed
    with pytest.raises(ReleaseRefused) as failed:
        release_snapshot(snap["output_uri"], root, "a")
    gate_json = f"{snap['output_uri']}/_quality/gate.json"
    assert f"listed in {gate_json}" in str(failed.value) and "then gate it again" in str(
        failed.value), failed.value

    snap = make(tmp_path, "b")
    assert run_gate(snap["output_uri"]).passed
    shard = tmp_path / "root" / "snapshots" / "b" / "shards" / "shard-00000.parquet"
    shard.write_bytes(shard.read_bytes() + b"tampered")
    with pytest.raises(ReleaseRefused, match=r"changed after it was written; refine the "
                       r"snapshot again \(prox refine --force, or the DAG's reprocess Param\), "
                       "then gate it again"):
        release_snapshot(snap["output_uri"], root, "b")


def test_the_record_says_who_released_it_and_a_record_written_before_reads_as_unknown(
        tmp_path, capsys, monkeypatch):
    """releases/<name>.json said nothing of who released it: a DAG run and `prox release`
    left the same record. It now keeps released_by: the DAG run, or the CLI's user and host.
    A record written before (none) is left as it is by a release run again, and reads as
    unknown."""
    import socket

    from prox_tasks.release import origin

    # the user getpass reads first: a CI container's uid may have no passwd entry nor $USER
    monkeypatch.setenv("LOGNAME", "nightly-ops")

    root = tmp_path / "root"
    by_dag = make(tmp_path, "crawl-2026-01-05", catalog=f"sqlite:///{tmp_path / 'c.sqlite'}")
    refresh.gate(by_dag, {})
    run_id = "scheduled__2026-01-05T00:00:00+00:00"
    record = read_json(refresh.release({**by_dag, "run_id": run_id})["record_uri"])
    assert record["released_by"] == {"origin": "dag_run", "dag_id": None, "run_id": run_id}
    assert read_latest(str(root))["released_by"] == record["released_by"]

    by_cli = gated(tmp_path, "hotfix-1")
    cli = ["release", "--snapshot", by_cli["output_uri"], "--root", str(root), "--name",
           "hotfix-1"]
    assert main(cli) == 0
    written = read_json(str(root / "releases" / "hotfix-1.json"))
    assert written["released_by"] == {"origin": "cli", "user": "nightly-ops",
                                      "host": socket.gethostname()}

    old = {k: v for k, v in written.items() if k != "released_by"}  # the shape written before
    (root / "releases" / "hotfix-1.json").write_text(json.dumps(old))
    capsys.readouterr()
    assert main(cli) == 0
    assert "already released hotfix-1" in capsys.readouterr().out
    kept = read_json(str(root / "releases" / "hotfix-1.json"))
    assert kept == old and origin.of_release(kept.get("released_by")) == {"origin": "unknown"}


def test_a_release_recorded_before_released_by_is_not_booked_as_the_rerunning_users(tmp_path):
    """A release record written before released_by was kept (here: released with no catalog)
    and booked in the catalog by a later `prox release` of another user: the catalog said
    that user released it, though the record (which stays as it is) knows no releaser."""
    from prox_tasks.release import origin

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    snap = make(tmp_path, "crawl-2026-01-07", catalog=url)
    refresh.gate(snap, {})
    root = str(tmp_path / "root")
    record = release_snapshot(snap["output_uri"], root, "crawl-2026-01-07",
                              released_by=origin.cli())  # fmt: skip
    record_path = tmp_path / "root" / "releases" / "crawl-2026-01-07.json"
    old = {k: v for k, v in read_json(str(record_path)).items() if k != "released_by"}
    record_path.write_text(json.dumps(old))  # the shape written before
    catalog = Catalog(url)
    assert not catalog.list_releases()
    later = {"origin": "cli", "user": "someone-else", "host": "another-host"}
    release_snapshot(snap["output_uri"], root, "crawl-2026-01-07", catalog=catalog,
                     released_by=later)  # fmt: skip
    (row,) = catalog.list_releases()
    assert "someone-else" not in json.dumps(row, default=str), row
    assert read_json(str(record_path)) == old and record["name"] == "crawl-2026-01-07"


def test_a_release_by_a_uid_with_no_user_name_records_the_uid(tmp_path, monkeypatch):
    """A CI container's uid with no passwd entry and no $LOGNAME/$USER: getpass.getuser()
    raises there; `prox release` records ``uid N`` as its user, not a failed release.
    Simulated fault (named as such): a uid with no passwd entry needs root to set up, so
    pwd.getpwuid raises as it does for one."""
    import os
    import pwd

    def no_entry(uid: int):
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    root = tmp_path / "root"
    snapshot = gated(tmp_path, "hotfix-2")
    assert main(["release", "--snapshot", snapshot["output_uri"], "--root", str(root),
                 "--name", "hotfix-2"]) == 0  # fmt: skip
    written = read_json(str(root / "releases" / "hotfix-2.json"))
    assert written["released_by"]["user"] == f"uid {os.getuid()}"


def test_a_release_done_into_another_root_after_a_failed_one_names_its_own_record(
        tmp_path, capsys, s3_bucket, moto_server, iam_keys):
    """`prox release --root s3://…` a bucket the key may read but not write (S3 refusing the
    record's PUT: moto enforcing IAM over HTTP), then the same release into a root it may
    write: the folder's _released.json kept the first root's record_uri — a record never
    written — marked completed, while the release's record lives under the second root."""
    from moto.core import enable_iam_authentication

    from tests.storage.conftest import use_keys

    snap = gated(tmp_path, "crawl-2026-01-09")
    use_keys(moto_server, *iam_keys(s3_bucket, ["s3:GetObject", "s3:ListBucket"]))
    args = ["release", "--snapshot", snap["output_uri"], "--name", "crawl-2026-01-09",
            "--partition", "2026-01-09", "--root"]
    with enable_iam_authentication():
        assert main([*args, f"{s3_bucket}/releases"]) == 1
    assert "AccessDenied" in capsys.readouterr().err
    root = tmp_path / "right-root"
    assert main([*args, str(root)]) == 0
    capsys.readouterr()
    record_uri = (root / "releases" / "crawl-2026-01-09.json").as_uri()
    marks = read_json(f"{snap['output_uri']}/_released.json")
    assert [(m["name"], m["record_uri"], m["completed"]) for m in marks] == [
        ("crawl-2026-01-09", record_uri, True)]
    assert read_json(marks[0]["record_uri"])["name"] == "crawl-2026-01-09"


def test_a_release_reads_its_shards_several_at_once_on_s3(tmp_path, s3_bucket):
    """The release read each shard's status record and file one shard after another: on S3
    every read waits on the network (bench/nightly_scale.py: 500 shards, 32 s on moto
    against 3 s on local disk). It reads RELEASE_READERS shards at once: the GETs of the
    first two status records meet at a barrier here, which a one-at-a-time read never passes
    (moto over HTTP; the hook is on the storage layer's client)."""
    from tests.storage.conftest import first_gets_meet

    source = write_input(tmp_path / "in.jsonl", 40)
    out = f"{s3_bucket}/snap"
    refine_snapshot(str(source), out, target_docs=5)
    assert run_gate(out).passed
    with first_gets_meet("/_status/"):  # the gate result, the plan: read before
        record = release_snapshot(out, str(tmp_path / "root"), "crawl-2026-02-01",
                                  partition="2026-02-01")
    assert [s["uri"] for s in record["shards"]] == [f"{out}/shards/shard-{i:05d}.parquet"
                                                   for i in range(8)]


def test_a_release_refused_for_changed_files_names_the_first_shard_in_order(tmp_path):
    """Read several at once, the shards are still judged in order: of two changed files
    the refusal names the first."""
    snap = make(tmp_path, "crawl-2026-02-02", docs=40)
    assert run_gate(snap["output_uri"]).passed
    folder = snap["output_uri"].removeprefix("file://")
    shards = sorted((tmp_path / folder).glob("shards/*.parquet"))
    assert len(shards) >= 3
    for changed in (shards[1], shards[-1]):
        changed.write_bytes(changed.read_bytes() + b"x")
    with pytest.raises(ReleaseRefused, match=f"{shards[1].name} changed after it was written"):
        release_snapshot(snap["output_uri"], str(tmp_path / "root"), "crawl-2026-02-02")


def test_a_released_snapshot_whose_shard_is_gone_or_edited_is_not_passed_again(tmp_path,
                                                                                capsys):
    """A released snapshot's gate, run again, read back the result it was released with
    without a look at the files: with a shard deleted or edited since (in place, or in a
    copy of the folder) ``prox gate`` printed ``gate PASSED … all checks passed``, exit 0.
    It is refused now, naming the shard; the snapshot as released still passes, unjudged."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    snap = make(tmp_path, "crawl-2026-01-01")
    out = snap["output_uri"]
    assert run_gate(out).passed
    release_snapshot(out, str(tmp_path / "root"), "crawl-2026-01-01")
    assert run_gate(out).kept_from_release
    shards = sorted((tmp_path / "root" / "snapshots" / "crawl-2026-01-01" / "shards").iterdir())
    table = pq.read_table(shards[0])
    texts = table.column("text").to_pylist()
    edited = table.set_column(table.schema.get_field_index("text"), "text",
                              pa.array(["edited"] + texts[1:], table.schema.field("text").type))
    original = shards[0].read_bytes()
    pq.write_table(edited, shards[0])
    with pytest.raises(ReleaseRefused, match=r"was released as crawl-2026-01-01, but its files "
                                             r"are no longer those it was released with \(.*"
                                             "shard-00000.parquet changed after it was written"):
        run_gate(out)
    shards[0].write_bytes(original)
    shards[1].unlink()
    # a folder to restore, not a gate that failed (1): exit 2, worded as prox release's
    assert main(["gate", "--snapshot", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"prox gate: {out} was released as crawl-2026-01-01"), err
    assert "shard-00001.parquet is missing); its gate result is not given again" in err


def test_a_released_snapshot_refined_with_other_settings_is_not_told_to_use_force(
        tmp_path, capsys, monkeypatch):
    """`prox refine` with another setting into a released snapshot said "refine it again
    with --force", which is then refused (the release points at its files): a dead end.
    It names the one way out, a new output folder."""
    monkeypatch.setenv("PROX_CATALOG_URL", f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    src = write_input(tmp_path / "in" / "crawl.jsonl", 20)
    out = tmp_path / "snapshots" / "snap"
    refine = ["refine", "--input", str(src), "--output", str(out), "--model", "default",
              "--no-progress"]
    assert main(refine) == 0
    assert main(["gate", "--snapshot", str(out), "--name", "snap"]) == 0
    assert main(["release", "--snapshot", str(out), "--root", str(tmp_path / "root"),
                 "--name", "snap"]) == 0
    capsys.readouterr()
    assert main([*refine, "--max-doc-lines", "5000"]) == 1
    err = capsys.readouterr().err
    assert "is claimed for refining with other settings" in err, err
    assert "refine into a new output folder (another snapshot name): this snapshot was " \
        "released, so --force is refused" in err, err
    assert "refine it again with --force" not in err, err
    # a shard of it gone (removed by hand): refused as gated, with the same one way out
    (out / "shards" / "shard-00000.parquet").unlink()
    assert main(refine) == 1
    err = capsys.readouterr().err
    assert "shard 0 of " in err and "is not published and was not refined" in err, err
    assert "refine into a new output folder (another snapshot name): this snapshot was " \
        "released, so --force is refused" in err, err
    assert "refine it again with --force" not in err, err
