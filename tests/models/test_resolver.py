"""One rule for "which model", followed by every caller: ``prox refine`` (a subprocess), the
refresh DAG's task functions, and ``load_backend`` — with a registry on a real S3 server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from prox_tasks.catalog import Catalog
from prox_tasks.models import SHIPPED_MODEL, NoModelError, resolve_model
from prox_tasks.models.artifact import artifact_version
from prox_tasks.registry import ModelRegistry
from prox_tasks.storage import list_uri
from tests.training.fixtures import make_docs

METRICS = {"doc_f1": 0.9, "line_f1": 0.8, "chunk_failure_rate": 0.0}


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """An empty PROX_HOME, registry and catalog."""
    monkeypatch.setenv("PROX_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PROX_MODEL_REGISTRY", str(tmp_path / "registry"))
    monkeypatch.setenv("PROX_CATALOG_URL", f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    monkeypatch.delenv("PROX_DEFAULT_MODEL", raising=False)
    return tmp_path


def _promote(root: str) -> dict:
    registry = ModelRegistry(root)
    record = registry.publish(SHIPPED_MODEL, "refiner", "line_tagger", {}, {}, METRICS)
    assert registry.decide("refiner", record["version"], METRICS, None).promoted
    return record


def test_rule_without_a_promoted_model(isolated):
    assert resolve_model(None).uri == str(SHIPPED_MODEL)
    assert resolve_model("").source == "default"  # an empty Param
    assert resolve_model("default").uri == str(SHIPPED_MODEL)
    assert resolve_model("/some/model").source == "explicit"
    with pytest.raises(NoModelError, match="no promoted model 'refiner'"):
        resolve_model("promoted")


def test_a_model_name_with_nothing_promoted_falls_back_with_a_warning(isolated, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="prox_tasks.models.resolver"):
        assert resolve_model(None).source == "default"
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert resolve_model(None, name="refinr").source == "default"  # a typo
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "no promoted 'refinr' model" in warned[0]
    assert "--model promoted" in warned[0]


def test_catalog_is_the_fallback_of_the_registry(isolated, tmp_path):
    elsewhere = str(tmp_path / "other-registry")
    record = _promote(elsewhere)
    with Catalog(os.environ["PROX_CATALOG_URL"]) as catalog:
        catalog.register_model("refiner", record["version"], record["uri"], promoted=True)
    found = resolve_model(None)
    assert (found.uri, found.source, found.version) == (record["uri"], "catalog",
                                                        record["version"])


def test_one_version_string_in_registry_rows_and_status(isolated):
    record = _promote(os.environ["PROX_MODEL_REGISTRY"])
    # the folder outside the registry already has the version it gets there
    assert artifact_version(SHIPPED_MODEL) == record["version"]
    assert record["version"].startswith("line_tagger-")


def _s3_env(moto_server, home) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROX_", "AWS_"))}
    env.update(PROX_HOME=str(home), PROX_S3_ENDPOINT_URL=moto_server.endpoint_url,
               PROX_S3_ADDRESSING_STYLE="path", AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
               PYTHONPATH=os.getcwd())  # fmt: skip
    return env


def _rows_versions(output: str) -> set[str]:
    shards = [u for u in list_uri(output) if u.endswith(".parquet")]
    assert shards
    return {v for u in shards for v in pq.read_table(u[len("file://"):] if u.startswith(
        "file://") else u, columns=["model_version"]).column(0).to_pylist()}


def test_promoted_model_in_an_s3_registry(isolated, s3_bucket, moto_server, tmp_path,
                                          monkeypatch):
    from prox_tasks.corpus import read_status
    from prox_tasks.pipeline import refresh

    registry = f"{s3_bucket}/registry"
    record = _promote(registry)
    monkeypatch.setenv("PROX_MODEL_REGISTRY", registry)
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": f"d{i}", "text": d["text"]}) + "\n"
                            for i, d in enumerate(make_docs(6, 3))))  # fmt: skip

    # prox refine, in its own process, configured only by the environment
    env = {**_s3_env(moto_server, tmp_path / "cli-home"), "PROX_MODEL_REGISTRY": registry,
           "PROX_CATALOG_URL": f"sqlite:///{tmp_path / 'cli.sqlite'}"}
    out = tmp_path / "cli-out"
    proc = subprocess.run([sys.executable, "-m", "prox_tasks.cli", "refine", "--input",
                           str(docs), "--output", str(out), "--json"],
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["model_version"] == record["version"]
    assert (summary["model"], summary["model_source"]) == (record["uri"], "registry")
    assert summary["docs_read"] == 6
    assert read_status(str(out), 0)["model_version"] == record["version"]
    assert _rows_versions(str(out)) == {record["version"]}

    # the refresh DAG's task functions, with the same rule
    snapshot = refresh.resolve_snapshot({"input_uri": str(docs),
                                         "output_root": str(tmp_path / "corpus")}, "2026-01-02")
    [batch] = refresh.plan(snapshot, target_docs=100, max_map_length=8, model=None,
                           backend=None)
    assert batch["model"] == record["uri"]
    result = refresh.refine_batch(batch)
    assert result["model_versions"] == [record["version"]]
    # the result is an XCom collect pulls with every task's: counts, not what the status has
    assert not {"accounting", "stats", "shard_request"} & set(result["shards"][0])
    totals, _ = refresh.collect_totals([result])  # what collect makes of it
    assert totals["docs_written"] == totals["docs_read"] == 6
    assert _rows_versions(snapshot["output_uri"]) == {record["version"]}


def test_a_rerun_that_names_no_model_keeps_the_snapshots_model(isolated, tmp_path, capsys):
    """A model promoted after a snapshot was refined must not turn a rerun of it (a retry, a
    backfill of the same date, `prox refine` again) into a SettingsConflict: the shards of
    one snapshot come from one model. Naming a model chooses afresh."""
    from prox_tasks.cli import main
    from prox_tasks.pipeline import refresh
    from prox_tasks.pipeline.errors import RunError
    from prox_tasks.refine.step import SettingsConflict

    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": f"d{i}", "text": d["text"]}) + "\n"
                            for i, d in enumerate(make_docs(6, 3))))  # fmt: skip
    out = tmp_path / "out"
    args = ["refine", "--json", "--input", str(docs), "--output", str(out), "--no-progress"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["model_source"] == "default"
    snapshot = refresh.resolve_snapshot({"input_uri": str(docs),
                                         "output_root": str(tmp_path / "corpus")}, "2026-01-02")
    [batch] = refresh.plan(snapshot, target_docs=100, max_map_length=8, model=None,
                           backend=None)
    refresh.refine_batch(batch)

    record = _promote(os.environ["PROX_MODEL_REGISTRY"])  # a new model is promoted
    assert main(args) == 0
    # the last line: Airflow's log set-up, imported with the task functions, logs to stdout
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (again["model_source"], again["shards_skipped"]) == ("snapshot", 1)
    [batch] = refresh.plan(snapshot, target_docs=100, max_map_length=8, model=None,
                           backend=None)
    assert batch["model"] == str(SHIPPED_MODEL)
    assert [s["status"] for s in refresh.refine_batch(batch)["shards"]] == ["skipped"]
    with pytest.raises(RunError, match=f"{record['version']}.*reprocess=true"):  # afresh:
        refresh.plan(snapshot, target_docs=100, max_map_length=8, model="promoted",
                     backend=None)  # the conflict is found once, at plan
    with pytest.raises(SettingsConflict, match=record["version"]):  # and by a shard itself
        refresh.refine_batch({**batch, "model": record["uri"]})


def test_a_default_model_variable_naming_no_path_is_named_in_the_error(isolated, monkeypatch,
                                                                        tmp_path, capsys):
    """`PROX_DEFAULT_MODEL` set to a path that is not there: `prox refine` says which
    variable to fix, not only the path. A setting to fix, as `--model` naming nothing is:
    it exited 1 with "FileNotFoundError: …" where `--model /nope` exits 2, and a DAG task
    retried it; now exit 2, prox's own line, and no retry."""
    from prox_tasks.cli import main
    from prox_tasks.pipeline.errors import cannot_succeed

    monkeypatch.setenv("PROX_DEFAULT_MODEL", str(tmp_path / "nonexist"))
    with pytest.raises(FileNotFoundError, match="PROX_DEFAULT_MODEL"):
        resolve_model("default")
    with pytest.raises(cannot_succeed()):
        resolve_model("default")
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "a", "text": "Some text."}) + "\n")
    assert main(["refine", "--input", str(source), "--output", str(tmp_path / "out"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"prox refine: no model at {tmp_path / 'nonexist'} "
                          "(PROX_DEFAULT_MODEL): fix or unset the variable"), err
    assert not (tmp_path / "out" / "manifest.json").exists()
    # as a file:// URI: it was refused later, "no model at file:///…", the variable unnamed
    monkeypatch.setenv("PROX_DEFAULT_MODEL", f"file://{tmp_path / 'nonexist'}")
    assert main(["refine", "--input", str(source), "--output", str(tmp_path / "out"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"prox refine: no model at file://{tmp_path / 'nonexist'} "
                          "(PROX_DEFAULT_MODEL): fix or unset the variable"), err


def test_no_promoted_model_names_the_setting_as_its_user_sets_it(isolated):
    """Raised under a DAG task, NoModelError named prox's flags (`--model`, `prox train
    --output`): the DAG's user sets Params. fail_fast (every DAG task's) says it the DAG's
    way; prox train's --base promoted names --base, not --model."""
    from prox_tasks.pipeline.errors import fail_fast

    with pytest.raises(NoModelError) as raised:
        resolve_model("promoted")
    cli = str(raised.value)
    assert "name a model with --model" in cli and "`prox train --seed SEED" in cli
    with pytest.raises(RuntimeError) as failed, fail_fast(RuntimeError):
        resolve_model("promoted")
    dag = str(failed.value)
    assert "name a model in the model Param" in dag and "prox_train_refiner" in dag
    assert "--" not in dag and "prox train" not in dag, dag
    with pytest.raises(NoModelError, match="name a model with --base:"):
        resolve_model("promoted", registry=str(isolated / "r"), setting="base")


def test_no_promoted_model_says_where_the_registry_path_came_from(isolated, monkeypatch):
    """With PROX_MODEL_REGISTRY unset, NoModelError said "registry …/home/registry
    (PROX_MODEL_REGISTRY)": a variable the user never set. It names the variable only when
    it is set, else the default under PROX_HOME."""
    with pytest.raises(NoModelError) as named:
        resolve_model("promoted")
    assert f"{isolated / 'registry'} (PROX_MODEL_REGISTRY)" in str(named.value)

    monkeypatch.delenv("PROX_MODEL_REGISTRY")
    with pytest.raises(NoModelError) as defaulted:
        resolve_model("promoted")
    said = str(defaulted.value)
    assert (f"{isolated / 'home' / 'registry'} (the default under PROX_HOME: "
            "PROX_MODEL_REGISTRY is unset)") in said, said
    assert "(PROX_MODEL_REGISTRY)" not in said

    with pytest.raises(NoModelError) as given:  # a registry the caller named: no origin
        resolve_model("promoted", registry=str(isolated / "r"))
    assert f"{isolated / 'r'} or the catalog" in str(given.value)


def _refine_in(folder, capsys, *model):
    """``prox refine --json`` run from ``folder``, as a user in that shell: its summary."""
    from prox_tasks.cli import main

    os.chdir(folder)
    code = main(["refine", "--json", "--no-progress", "--input", str(folder.parent / "docs.jsonl"),
                 "--output", str(folder.parent / "out"), *(("--model", *model) if model else ())])
    said = capsys.readouterr()
    assert code == 0, said.err
    return json.loads(said.out.strip().splitlines()[-1])


def test_a_model_named_by_a_relative_path_is_one_folder_from_any_folder(
        isolated, tmp_path, tagger_model, capsys, monkeypatch):  # fmt: skip
    """`prox refine --model tagger` recorded 'tagger' as typed: a rerun naming it `tagger/`
    (a shell's completion) or by its absolute path was refused as a SettingsConflict (model
    'tagger' -> 'tagger/'), and a rerun with no --model from another folder (a cron job, a
    retry from another shell) took whatever 'tagger' there was there — a missing folder, or
    another model the published shards were not refined with. The model is now recorded
    absolute."""
    import shutil

    from tests.inference.helpers import build_tagger_artifact

    monkeypatch.chdir(tmp_path)  # restored after the test
    (tmp_path / "docs.jsonl").write_text("".join(
        json.dumps({"id": f"d{i}", "text": d["text"]}) + "\n" for i, d in enumerate(make_docs(6, 3))))
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    shutil.copytree(tagger_model, work / "tagger")
    build_tagger_artifact(elsewhere / "tagger", seed=1)  # another model of that name
    first = _refine_in(work, capsys, "tagger")
    assert (first["model"], first["shards_refined"]) == (str(work / "tagger"), 1)
    for spelled in ("tagger/", "./tagger", str(work / "tagger")):
        again = _refine_in(work, capsys, spelled)
        assert (again["shards_skipped"], again["model_version"]) == (1, first["model_version"])
    rerun = _refine_in(elsewhere, capsys)  # no --model: the snapshot's
    assert (rerun["model_source"], rerun["model"]) == ("snapshot", str(work / "tagger"))
    assert rerun["model_version"] == first["model_version"]


def test_a_snapshot_recorded_with_its_model_as_typed_is_rerun_with_it(
        isolated, tmp_path, tagger_model, capsys, monkeypatch):  # fmt: skip
    """A snapshot refined before models were recorded absolute holds `--model` as typed
    (`tagger/`) in its claim and shard records: a rerun naming that folder from the same
    folder, spelled either way, reuses its shards, and the records keep their spelling."""
    import shutil

    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs.jsonl").write_text("".join(
        json.dumps({"id": f"d{i}", "text": d["text"]}) + "\n" for i, d in enumerate(make_docs(6, 3))))
    work = tmp_path / "work"
    shutil.copytree(tagger_model, work / "tagger")
    _refine_in(work, capsys, "tagger")
    out = tmp_path / "out"
    records = [out / "_refine_settings.json", *sorted((out / "_status").glob("*.json"))]
    for record in records:  # as the release before wrote them
        data = json.loads(record.read_text())
        data["request"]["model"] = "tagger/"
        record.write_text(json.dumps(data))
    for spelled in ("tagger", str(work / "tagger"), None):
        again = _refine_in(work, capsys, *((spelled,) if spelled else ()))
        assert again["shards_skipped"] == 1, again
    assert all(json.loads(r.read_text())["request"]["model"] == "tagger/" for r in records)


def _two_level_model(tmp_path, tiny_model, monkeypatch):
    """``work/tiny``: the tests' tiny LM with budgets that keep its CPU time to seconds, a
    one-document input beside ``work``, and the test in ``tmp_path``."""
    import shutil

    from tests.inference.helpers import short_docs

    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs.jsonl").write_text(json.dumps(short_docs(1, 3, 40)[0]) + "\n")
    work = tmp_path / "work"
    shutil.copytree(tiny_model, work / "tiny")
    (work / "tiny" / "refiner.json").write_text(json.dumps(
        {"kind": "causal_lm", "doc_tokens": 128, "chunk_tokens": 96, "max_new_tokens": 8}))
    return work


def _levels(model: str, doc: str, chunk: str) -> tuple[str, ...]:
    """``--model`` and the two-stage route's level folders, on the transformers backend."""
    return (model, "--doc-model", doc, "--chunk-model", chunk, "--backend", "transformers")


def test_level_models_named_by_a_relative_path_are_one_folder_from_any_folder(
        isolated, tmp_path, tiny_model, capsys, monkeypatch):  # fmt: skip
    """`prox refine --doc-model tiny --chunk-model tiny` (the two-stage generative route)
    recorded the level folders as typed (in the options digest), as --model once was: a
    rerun naming them `tiny/`, `./tiny` or by their absolute path, or from another folder,
    was refused as a SettingsConflict (options … -> …). They are now located as --model is."""
    work = _two_level_model(tmp_path, tiny_model, monkeypatch)
    first = _refine_in(work, capsys, *_levels("tiny", "tiny", "tiny"))
    assert first["shards_refined"] == 1
    claim = json.loads((tmp_path / "out" / "_refine_settings.json").read_text())
    for doc, chunk in (("tiny/", "./tiny"), (str(work / "tiny"), "tiny/")):
        again = _refine_in(work, capsys, *_levels("tiny", doc, chunk))
        assert again["shards_skipped"] == 1, again
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = _refine_in(elsewhere, capsys, *_levels("../work/tiny", "../work/tiny/", "../work/tiny"))
    assert (again["shards_skipped"], again["model_version"]) == (1, first["model_version"])
    assert json.loads((tmp_path / "out" / "_refine_settings.json").read_text()) == claim


def test_a_snapshot_recorded_with_its_level_models_as_typed_is_rerun_with_them(
        isolated, tmp_path, tiny_model, capsys, monkeypatch):  # fmt: skip
    """A snapshot refined before the level folders were located holds `--doc-model tiny/
    --chunk-model tiny` as typed, inside its claim's and shard records' options digest (the
    old shape, made by the old rule: shard_request over the options as typed): a rerun naming
    them from the same folder, spelled either way, reuses its shards, and the records keep
    what they hold."""
    from prox_tasks.refine.step import shard_request

    work = _two_level_model(tmp_path, tiny_model, monkeypatch)
    _refine_in(work, capsys, *_levels("tiny", "tiny", "tiny"))
    os.chdir(work)  # the old digest, as the release before made it there
    typed = shard_request(str(work / "tiny"), "transformers",
                          {"doc_model": "tiny/", "chunk_model": "tiny"}, None, None)["options"]
    out = tmp_path / "out"
    records = [out / "_refine_settings.json", *sorted((out / "_status").glob("*.json"))]
    for record in records:  # as the release before wrote them
        data = json.loads(record.read_text())
        assert data["request"]["options"] != typed
        data["request"]["options"] = typed
        record.write_text(json.dumps(data))
    for doc, chunk in (("tiny/", "tiny"), ("./tiny", str(work / "tiny") + "/")):
        again = _refine_in(work, capsys, *_levels("tiny", doc, chunk))
        assert again["shards_skipped"] == 1, again
    assert all(json.loads(r.read_text())["request"]["options"] == typed for r in records)


def test_another_installations_shipped_model_is_this_ones_by_its_version(tmp_path):
    """Another installation's folder of the shipped line tagger is this one's when its
    version is (the shards' record says it, else the folder's own files); another version
    (another prox release), another folder name, and this installation's own folder are
    not translated."""
    from prox_tasks.models.resolver import installed_here, same_model, shipped_version

    here = str(SHIPPED_MODEL)
    gone = "/opt/old-venv/lib/python3.11/site-packages/prox_tasks/models/line-tagger"
    assert shipped_version() == artifact_version(SHIPPED_MODEL)
    assert installed_here(gone, shipped_version()) == here
    assert installed_here(f"file://{gone}", shipped_version()) == here
    assert installed_here(gone, "line_tagger-000000000000") == gone
    assert installed_here("/opt/old/prox_tasks/models/other", shipped_version()) == \
        "/opt/old/prox_tasks/models/other"  # fmt: skip
    assert installed_here(here, "line_tagger-000000000000") == here
    assert installed_here(None) is None
    # still there (an old environment not yet removed): its own files give its version
    copy = tmp_path / "prox_tasks" / "models" / "line-tagger"
    shutil.copytree(SHIPPED_MODEL, copy)
    assert installed_here(str(copy)) == here
    (copy / "model.safetensors").write_bytes(b"retrained")  # not the release's files
    assert installed_here(str(copy)) == str(copy)
    assert same_model(gone, here, shipped_version())
    assert not same_model(gone, here, "line_tagger-000000000000")
    assert not same_model(here, gone, shipped_version())  # asked: the folder named


def test_a_typed_folder_of_another_installations_shipped_model_is_this_ones_by_a_known_version(
        tmp_path):
    """`--model /old-venv/…/prox_tasks/models/line-tagger` typed (the folder gone) was not
    mapped as the same folder read from a snapshot's records is: 'no model at …', with a
    hint about a snapshot's shards of another version even for a new output folder. It is
    this installation's when the snapshot's records name that folder with this version;
    else refused, saying to name `default`."""
    from prox_tasks.models.resolver import ResolvedModel, shipped_version, typed_here
    from prox_tasks.refine.options import ModelNotFound

    here = str(SHIPPED_MODEL)
    gone = "/opt/old-venv/lib/python3.11/site-packages/prox_tasks/models/line-tagger"
    typed = ResolvedModel(gone, "explicit")
    recorded = ResolvedModel(here, "snapshot", shipped_version(), gone)
    assert typed_here(typed, recorded) == ResolvedModel(here, "explicit", shipped_version())
    assert typed_here(ResolvedModel(f"file://{gone}", "explicit"), recorded).uri == here
    unknown = [None, ResolvedModel(here, "snapshot", None, gone),  # a claim alone
               ResolvedModel(gone, "snapshot", "line_tagger-000000000000"),  # another release
               ResolvedModel(here, "snapshot", shipped_version(),  # another gone folder
                             "/opt/other/prox_tasks/models/line-tagger")]
    for snapshot in unknown:
        with pytest.raises(ModelNotFound, match=(
                rf"^no model at {gone} \(the line tagger shipped with a prox installed at "
                r"/opt/old-venv/lib/python3.11/site-packages, gone from there; which version "
                r"it was is not known here.*give --model default \(the DAG's model Param: "
                r"default\)$")):
            typed_here(typed, snapshot)
    # not translated: another source, a folder still there, another model's folder
    assert typed_here(ResolvedModel(gone, "snapshot"), None).uri == gone
    copy = tmp_path / "prox_tasks" / "models" / "line-tagger"
    shutil.copytree(SHIPPED_MODEL, copy)
    assert typed_here(ResolvedModel(str(copy), "explicit"), None).uri == str(copy)
    other = "/opt/old/prox_tasks/models/other"
    assert typed_here(ResolvedModel(other, "explicit"), recorded).uri == other
