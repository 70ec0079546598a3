"""``dag.test()`` runs of prox_seed_label then prox_train_refiner on sample documents."""

from __future__ import annotations

import copy
import json

import pytest

from tests.dags.crawl import sample_rows, write_jsonl

pytestmark = pytest.mark.slow


def test_seed_label_then_train_promotes(dagbag, tmp_path, monkeypatch):
    from prox_tasks.catalog import Catalog
    from prox_tasks.registry import ModelRegistry

    monkeypatch.setenv("PROX_MODEL_REGISTRY", str(tmp_path / "registry"))
    catalog_url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    snapshot = write_jsonl(tmp_path / "snapshot.jsonl", sample_rows(60), garbage=2)
    seed_run = dagbag.get_dag("prox_seed_label").test(run_conf={
        "input_uri": str(snapshot), "seed_root": str(tmp_path / "seeds"),
        "seed_set_name": "s1", "sample_size": 40, "label_shard_docs": 15,
        "catalog_url": catalog_url})
    assert seed_run.state == "success"
    labels = {ti.rendered_map_index for ti in seed_run.get_task_instances()
              if ti.task_id == "label_shard"}
    assert labels == {"part-00000", "part-00001", "part-00002"}
    manifest = json.loads((tmp_path / "seeds" / "s1" / "manifest.json").read_text())
    sizes = manifest["sizes"]
    assert sizes["sampled"] == 40 and sizes["train"] + sizes["validation"] == sizes["valid"]
    assert sizes["valid"] + sizes["rejected"] == 40 and sum(manifest["strata"].values()) == 40
    assert sizes["input_quarantined"] == {"malformed_json": 2}
    catalog = Catalog(catalog_url)
    registered = catalog.get_seed_set("s1")
    assert registered["teacher"] == "rules" and registered["stats"]["version"] == manifest["version"]

    train_run = dagbag.get_dag("prox_train_refiner").test(run_conf={
        "seed_uri": str(tmp_path / "seeds" / "s1" / "manifest.json"),
        "registry": str(tmp_path / "registry"), "epochs": 1, "catalog_url": catalog_url,
        "gold_gate": False})
    assert train_run.state == "success"
    states = {ti.task_id: ti.state for ti in train_run.get_task_instances()}
    assert states == {"resolve_seed_set": "success", "train": "success",
                      "evaluate": "success", "promote": "success",
                      "book_catalog": "success"}
    promoted = ModelRegistry(str(tmp_path / "registry")).promoted("refiner")
    assert promoted is not None
    assert catalog.promoted_model("refiner")["version"] == promoted["version"]


def test_a_seed_set_name_registered_meanwhile_says_what_to_do_with_the_folder(dagbag,
                                                                             tmp_path, capfd):
    """Another run registers seed_set_name s1 for its own folder after this run's `sample`
    checked the name (once sample claimed the folder): `register` is refused, not retried.
    Its refusal named `--name`, prox label's option, and said nothing of the complete
    folder left unregistered; it now names the Param and what to do with the folder."""
    import threading
    import time

    from prox_tasks.catalog import Catalog

    catalog_url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    snapshot = write_jsonl(tmp_path / "snapshot.jsonl", sample_rows(30))
    folder, other = tmp_path / "seeds" / "s1", (tmp_path / "other" / "s1").as_uri()
    stop = threading.Event()

    def another_run_registers_s1() -> None:  # after sample checked the name, not before
        while not stop.is_set() and not (folder / "params.json").exists():
            time.sleep(0.02)
        with Catalog(catalog_url) as catalog:
            catalog.register_seed_set("s1", "rules", other)

    watcher = threading.Thread(target=another_run_registers_s1, daemon=True)
    watcher.start()
    try:
        seed_run = dagbag.get_dag("prox_seed_label").test(run_conf={
            "input_uri": str(snapshot), "seed_root": str(tmp_path / "seeds"),
            "seed_set_name": "s1", "sample_size": 20, "label_shard_docs": 10,
            "catalog_url": catalog_url})
    finally:
        stop.set()
        watcher.join()
    assert seed_run.state == "failed"
    ti = {t.task_id: t for t in seed_run.get_task_instances() if t.map_index < 1}
    assert ti["split"].state == "success"
    assert (ti["register"].state, ti["register"].try_number) == ("failed", 1)
    logged = capfd.readouterr()
    said = logged.out + logged.err
    assert (f"seed set name 's1' is registered for {other}, not {folder.as_uri()}; name this "
            "one apart (seed_set_name, or the seed_root it was written under): another run "
            "registered it while this run labeled. This seed set is written in "
            f"{folder.as_uri()} but not registered: train on it as it is (prox_train_refiner's "
            f"seed_uri {folder.as_uri()}/manifest.json)") in said, said[-3000:]
    assert f"and remove {folder.as_uri()}, which nothing registered points at" in said
    assert (folder / "manifest.json").exists()
    with Catalog(catalog_url) as catalog:
        assert catalog.get_seed_set("s1")["uri"] == other


def test_train_dag_keeps_the_epoch_chosen_on_gold(dagbag, tmp_path, monkeypatch):
    """The `select_epoch` Param reaches `prox train`'s epoch selection (`--select-epoch`)."""
    from airflow.sdk.definitions.param import ParamValidationError

    from prox_tasks.registry import ModelRegistry
    from tests.training.fixtures import make_docs
    from tests.training.seed_files import write_seed_set

    monkeypatch.setenv("PROX_MODEL_REGISTRY", str(tmp_path / "registry"))
    seed = write_seed_set(tmp_path / "seed", make_docs(40, seed=1), make_docs(24, seed=2))
    conf = {"seed_uri": str(seed), "registry": str(tmp_path / "registry"), "epochs": 2,
            "gold_gate": False, "catalog_url": f"sqlite:///{tmp_path / 'catalog.sqlite'}"}
    run = dagbag.get_dag("prox_train_refiner").test(run_conf={**conf, "select_epoch": "gold"})
    assert run.state == "success"
    promoted = ModelRegistry(str(tmp_path / "registry")).promoted("refiner")
    artifact = json.loads((tmp_path / "registry" / "refiner" / promoted["version"]
                           / "artifact.json").read_text())
    assert artifact["training_config"]["job"]["select_epoch"] == "gold"
    with pytest.raises(ParamValidationError):
        dagbag.get_dag("prox_train_refiner").test(run_conf={**conf, "select_epoch": "loss"})


def test_the_base_param_takes_default_as_prox_train_base_does(dagbag, tmp_path, monkeypatch):
    """`base` "default" fine-tunes the shipped refiner, as `prox train --base default`
    (docs/training.md) does; the DAG took it for a path and refused it ("base default does
    not exist"), so a UI user had to know where the shipped model lies."""
    from prox_tasks.models import SHIPPED_MODEL
    from prox_tasks.registry import ModelRegistry
    from tests.training.fixtures import make_docs
    from tests.training.seed_files import write_seed_set

    monkeypatch.setenv("PROX_MODEL_REGISTRY", str(tmp_path / "registry"))
    seed = write_seed_set(tmp_path / "seed", make_docs(20, 1), make_docs(6, 2))
    dag = dagbag.get_dag("prox_train_refiner")
    run = dag.test(run_conf={**copy.deepcopy(dag.params.dump()), **_declared(dag, {
        # registry cleared in the form (null): PROX_MODEL_REGISTRY, as its description says
        "seed_uri": str(seed), "registry": None, "epochs": 1,
        "gold_gate": False, "base": "default", "threads": 1,
        "catalog_url": f"sqlite:///{tmp_path / 'catalog.sqlite'}"})})
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["train"] == "success", states
    [version] = [v for v in (tmp_path / "registry" / "refiner").iterdir()
                 if (v / "artifact.json").exists()]
    job = json.loads((version / "artifact.json").read_text())["training_config"]["job"]
    assert job["base"] == "default" and (SHIPPED_MODEL / "refiner.json").exists()
    assert ModelRegistry(str(tmp_path / "registry")).artifact("refiner", version.name)


def test_train_dag_gates_again_against_a_model_promoted_after_evaluate(dagbag, tmp_path,
                                                                       monkeypatch):
    """Another run promotes B after this run's evaluate task measured its candidate against
    A: the promote task does not promote blindly nor stay refused, it runs the gold gate and
    the validation comparison again against B and decides on that (as `prox train`)."""
    from prox_tasks.pipeline import training
    from prox_tasks.registry import ModelRegistry
    from tests.inference.helpers import build_tagger_artifact
    from tests.training.fixtures import make_docs
    from tests.training.seed_files import write_seed_set

    monkeypatch.setenv("PROX_MODEL_REGISTRY", str(tmp_path / "registry"))
    catalog_url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    registry = ModelRegistry(tmp_path / "registry", catalog=catalog_url)
    good = {"doc_f1": 0.5, "line_f1": 0.5, "chunk_failure_rate": 0.0}
    a, b = (registry.publish(build_tagger_artifact(tmp_path / name, seed=i), "refiner",
                             "line_tagger", {}, {}, good)["version"]
            for i, name in enumerate(("a", "b")))  # fmt: skip
    assert registry.decide("refiner", a, good, None).promoted
    real_evaluate = training.evaluate

    def evaluate_then_another_run_promotes_b(*args, **kwargs):
        measured = real_evaluate(*args, **kwargs)
        assert registry.decide("refiner", b, good, None, incumbent_version=a).promoted
        return measured

    monkeypatch.setattr(training, "evaluate", evaluate_then_another_run_promotes_b)
    seed = write_seed_set(tmp_path / "seed", make_docs(24, seed=1), make_docs(12, seed=2))
    dag = dagbag.get_dag("prox_train_refiner")
    run = dag.test(run_conf={**copy.deepcopy(dag.params.dump()), "seed_uri": str(seed),
                             "registry": str(tmp_path / "registry"), "epochs": 1,
                             "gold_gate": True, "catalog_url": catalog_url})
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["evaluate"] == "success" and states["promote"] in ("success", "skipped")
    candidate = next(d for d in registry.decisions("refiner") if d["candidate"] not in (a, b))
    assert candidate["incumbent"] == b and "meanwhile" not in candidate["reason"]
    assert candidate["incumbent_source"] == b and candidate["incumbent_metrics"] is not None


def test_a_promotion_the_catalog_cannot_book_updates_the_asset_and_fails_the_booking(
        dagbag, tmp_path, monkeypatch):
    """The catalog cannot be written after evaluate (its folder is now a file: a real fault,
    placed between the tasks by wrapping evaluate). promote swapped the registry — refining
    uses the candidate — so its `prox_refiner` Asset event is sent and the refine runs
    scheduled on it start; promote failed on every retry before, and no event was sent. The
    booking failure is loud: book_catalog fails (and alerts) saying how to book it; cleared
    once the catalog is back, it books the promoted version."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    from prox_tasks.catalog import Catalog
    from prox_tasks.pipeline import training
    from prox_tasks.registry import ModelRegistry
    from tests.training.fixtures import make_docs
    from tests.training.seed_files import write_seed_set

    monkeypatch.setenv("PROX_MODEL_REGISTRY", str(tmp_path / "registry"))
    folder = tmp_path / "catalog"
    folder.mkdir()
    catalog_url = f"sqlite:///{folder / 'catalog.sqlite'}"
    real_evaluate = training.evaluate

    def evaluate_then_the_catalog_breaks(*args, **kwargs):
        measured = real_evaluate(*args, **kwargs)
        folder.rename(tmp_path / "catalog-away")
        folder.write_text("not a folder")
        return measured

    monkeypatch.setattr(training, "evaluate", evaluate_then_the_catalog_breaks)
    seed = write_seed_set(tmp_path / "seed", make_docs(24, seed=1), make_docs(12, seed=2))
    dag = dagbag.get_dag("prox_train_refiner")
    run = dag.test(run_conf={**copy.deepcopy(dag.params.dump()), "seed_uri": str(seed),
                             "registry": str(tmp_path / "registry"), "epochs": 1,
                             "gold_gate": False, "catalog_url": catalog_url})
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["promote"] == "success" and states["book_catalog"] == "failed", states
    assert run.state == "failed"
    promoted = ModelRegistry(str(tmp_path / "registry")).promoted("refiner")
    assert promoted is not None
    with create_session() as session:
        events = session.query(AssetEvent).filter(AssetEvent.source_run_id == run.run_id).all()
        assert [e.asset.name for e in events] == ["prox_refiner"]
    with pytest.raises(training.RunError, match="clear this task"):
        training.book_catalog({"registry": str(tmp_path / "registry"), "catalog_url":
                               catalog_url}, {"catalog_booked": False, **promoted})
    folder.unlink()
    (tmp_path / "catalog-away").rename(folder)
    booked = training.book_catalog({"registry": str(tmp_path / "registry"),
                                    "catalog_url": catalog_url},
                                   {"catalog_booked": False, **promoted})
    assert booked == {"booked": True, "version": promoted["version"]}
    with Catalog(catalog_url) as catalog:
        assert catalog.promoted_model("refiner")["version"] == promoted["version"]


def _warc_and_wet(folder, pages: int):
    """A WARC of ``pages`` HTML responses and the WET whose conversions refer to them."""
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from tests.labeling.test_html import page_html, page_text

    folder.mkdir(parents=True, exist_ok=True)
    warc, wet = folder / "crawl.warc.gz", folder / "crawl.warc.wet.gz"
    with open(warc, "wb") as wfh, open(wet, "wb") as tfh:
        responses, conversions = WARCWriter(wfh, gzip=True), WARCWriter(tfh, gzip=True)
        for i in range(pages):
            url = f"http://valley{i}.example/history"
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                    protocol="HTTP/1.1")  # fmt: skip
            record = responses.create_warc_record(url, "response", http_headers=http,
                                                  payload=io.BytesIO(page_html().encode()))
            responses.write_record(record)
            conversions.write_record(conversions.create_warc_record(
                url, "conversion", payload=io.BytesIO(f"Page {i}\n{page_text()}".encode()),
                warc_headers_dict={"WARC-Refers-To": record.rec_headers.get_header("WARC-Record-ID"),
                                   # a WET record's id is its document's id, which decides its
                                   # split: warcio's random one made the split a draw
                                   "WARC-Record-ID": f"<urn:uuid:00000000-0000-4000-8000-{i:012d}>",
                                   "Content-Type": "text/plain"}))
    return warc, wet


def test_seed_dag_labels_a_crawl_from_its_own_warc_with_the_html_teacher(dagbag, tmp_path):
    """The seed DAG's `teacher` Param takes every teacher `prox label` does: `html` over a
    WET snapshot with its WARC files (`warc_uris`), and `best` over rows with a clean text."""
    from prox_tasks.labeling import TEACHERS
    from prox_tasks.pipeline.dag_config import TEACHERS as PARAM_TEACHERS

    assert PARAM_TEACHERS == list(TEACHERS)
    warc, wet = _warc_and_wet(tmp_path / "crawl", 12)
    catalog_url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    run = dagbag.get_dag("prox_seed_label").test(run_conf={
        "input_uri": str(wet), "warc_uris": [str(warc)], "teacher": "html",
        "seed_root": str(tmp_path / "seeds"), "seed_set_name": "html", "sample_size": 12,
        "label_shard_docs": 6, "valid_percent": 40, "catalog_url": catalog_url})
    assert run.state == "success"
    manifest = json.loads((tmp_path / "seeds" / "html" / "manifest.json").read_text())
    assert manifest["label_distribution"]["by_teacher"] == {"html": 12}
    assert manifest["sizes"]["valid"] == 12

    rows = sample_rows(30)
    for row in rows[:6]:
        row["gold_text"] = "\n".join(row["text"].split("\n")[2:])  # the page less its top lines
    write_jsonl(tmp_path / "rows.jsonl", rows)
    run = dagbag.get_dag("prox_seed_label").test(run_conf={
        "input_uri": str(tmp_path / "rows.jsonl"), "teacher": "best",
        "warc_uris": [],  # dag.test() keeps the last run's conf in the DAG's params
        "seed_root": str(tmp_path / "seeds"), "seed_set_name": "best", "sample_size": 30,
        "label_shard_docs": 15, "catalog_url": catalog_url})
    assert run.state == "success"
    manifest = json.loads((tmp_path / "seeds" / "best" / "manifest.json").read_text())
    assert manifest["label_distribution"]["by_teacher"]["diff"] == 6
    assert manifest["label_distribution"]["by_teacher"]["rules"] == 24


@pytest.mark.parametrize("fault", ["no WARC file in the folder", "a WARC file cut short"])
def test_the_seed_dag_s_warc_errors_name_the_warc_uris_param(dagbag, tmp_path, capfd, fault):
    """A WARC problem in the seed DAG named `prox label`'s option ("RunError: --warc
    <uri>: no WARC file there … (the warc_uris Param)"), which a DAG user cannot set; an
    empty folder failed sample's probe with a FileNotFoundError, retried. Each now names the
    warc_uris Param only and fails sample at once."""
    warc, wet = _warc_and_wet(tmp_path / "crawl", 12)
    if fault == "a WARC file cut short":
        # cut inside a record (the responses are of one size: 2/3 would cut between two)
        warc.write_bytes(warc.read_bytes()[: warc.stat().st_size * 2 // 3 + 50])
        given, says = warc, f"{warc.as_uri()} (the warc_uris Param): "
    else:
        given = tmp_path / "no-warc"
        given.mkdir()
        says = f"{given} (the warc_uris Param): no WARC file there"
    dag = dagbag.get_dag("prox_seed_label")
    run = dag.test(run_conf={**copy.deepcopy(dag.params.dump()), **_declared(dag, {
        "input_uri": str(wet), "warc_uris": [str(given)], "teacher": "html",
        "seed_root": str(tmp_path / "seeds"), "sample_size": 12, "label_shard_docs": 6,
        "catalog_url": f"sqlite:///{tmp_path / 'catalog.sqlite'}"})})
    assert run.state == "failed"
    [sample] = [ti for ti in run.get_task_instances() if ti.task_id == "sample"]
    assert (sample.state, sample.try_number) == ("failed", 1)
    logged = capfd.readouterr()
    [failure] = {line[line.index("RunError:"):] for line in (logged.out + logged.err).splitlines()
                 if "RunError:" in line}
    assert says in failure and "--warc" not in failure, failure


def test_the_warc_files_are_indexed_once_in_sample_not_again_by_each_label_task(
        tmp_path, monkeypatch):
    """Every label_shard indexed all of warc_uris again (~18 CPU-s per GB of WARC: 50 tasks
    over 100 GB, ~25 CPU-hours). sample indexes them once, beside the sample (the responses
    the sample refers to); the label tasks read only those. A retried sample writes the same
    index. The WARC passes are counted by wrapping the real reader (no fault is faked)."""
    from pathlib import Path

    from prox_tasks.labeling import warc as warc_module
    from prox_tasks.pipeline import seeding

    warc, wet = _warc_and_wet(tmp_path / "crawl", 12)
    passes = []
    real = warc_module._html_responses
    monkeypatch.setattr(warc_module, "_html_responses",
                        lambda uri, *how: passes.append(uri) or real(uri, *how))
    params = {"input_uri": str(wet), "warc_uris": [str(warc)], "teacher": "html",
              "seed_root": str(tmp_path / "seeds"), "sample_size": 9, "random_seed": 0,
              "label_shard_docs": 3}
    plan = seeding.sample(params, None)
    index = Path(plan["warc_index"].removeprefix("file:"))
    assert index.parent == Path(plan["root"].removeprefix("file:")) / "sample"
    assert len(json.loads(index.read_text())["responses"]) == 9  # the sampled ones, of 12
    first = index.read_bytes()
    assert seeding.sample(params, None)["warc_index"] == plan["warc_index"]
    assert index.read_bytes() == first  # a retry writes the same index
    passes.clear()
    parts = [seeding.label_shard(plan, i) for i in plan["shards"]]
    assert passes == []  # no label task read the WARC files through
    assert [p["warc"]["joined"] for p in parts] == [3, 3, 3]
    assert all(p["warc"]["html_responses"] == 12 and p["valid"] == 3 for p in parts)


@pytest.mark.parametrize("given", ["folder", "glob"])
def test_the_warc_uris_param_takes_a_folder_and_a_glob(tmp_path, given):
    """warc_uris, as prox label --warc, failed on a folder ('Is a directory') and a glob ('No
    such file'): sample's probe and index and each label_shard now read the WARC files they
    name (the folder's WET input beside them skipped by its name)."""
    from prox_tasks.pipeline import seeding

    warc, wet = _warc_and_wet(tmp_path / "crawl", 12)
    uri = str(warc.parent) if given == "folder" else f"{warc.parent}/*.warc.gz"
    params = {"input_uri": str(wet), "warc_uris": [uri], "teacher": "html",
              "seed_root": str(tmp_path / "seeds"), "sample_size": 6, "random_seed": 0,
              "label_shard_docs": 3}
    plan = seeding.sample(params, None)
    parts = [seeding.label_shard(plan, i) for i in plan["shards"]]
    assert [p["warc"]["joined"] for p in parts] == [3, 3]
    assert all(p["warc"]["html_responses"] == 12 and p["valid"] == 3 for p in parts)


def test_cleared_seed_root_and_field_params_take_their_defaults(dagbag, tmp_path,
                                                                monkeypatch):
    """The trigger form sends a cleared field as null: clearing ``seed_root``,
    ``text_field`` or ``id_field`` to get the default their descriptions name was refused
    ("None is not of type 'string'"). Each now takes its default (PROX_SEED_ROOT here)."""
    snapshot = write_jsonl(tmp_path / "snapshot.jsonl", sample_rows(20))
    monkeypatch.setenv("PROX_SEED_ROOT", str(tmp_path / "seeds"))
    dag = dagbag.get_dag("prox_seed_label")
    run = dag.test(run_conf={**copy.deepcopy(dag.params.dump()), **_declared(dag, {
        "input_uri": str(snapshot), "seed_root": None, "text_field": None, "id_field": None,
        "seed_set_name": "cleared", "sample_size": 20, "label_shard_docs": 10,
        "catalog_url": f"sqlite:///{tmp_path / 'catalog.sqlite'}"})})
    assert run.state == "success"
    manifest = json.loads((tmp_path / "seeds" / "cleared" / "manifest.json").read_text())
    assert manifest["sizes"]["sampled"] == 20


def test_the_trigger_forms_blank_and_cleared_list_and_options_fields_mean_none(dagbag,
                                                                              tmp_path):
    """The trigger form sends ``warc_uris`` a line per item, so a pasted URI with a trailing
    newline arrived as ``[uri, ""]``: the blank item named the worker's current folder,
    which sample listed whole as WARC files and then failed ("--warc file:///opt/airflow: no
    WARC file there"). A cleared list or JSON field arrives as null, which the Params
    refused (400 "None is not of type 'array'"/'object'). Blank lines are now skipped and an
    emptied field is none."""
    warc, wet = _warc_and_wet(tmp_path / "crawl", 12)
    dag = dagbag.get_dag("prox_seed_label")
    run = dag.test(run_conf={**copy.deepcopy(dag.params.dump()), **_declared(dag, {
        "input_uri": str(wet), "warc_uris": [str(warc), "", "  "], "teacher": "html",
        "teacher_options": None, "seed_root": str(tmp_path / "seeds"),
        "seed_set_name": "html-form", "sample_size": 12, "label_shard_docs": 6,
        "valid_percent": 40, "catalog_url": f"sqlite:///{tmp_path / 'catalog.sqlite'}"})})
    assert run.state == "success"
    manifest = json.loads((tmp_path / "seeds" / "html-form" / "manifest.json").read_text())
    assert manifest["label_distribution"]["by_teacher"] == {"html": 12}
    claimed = json.loads((tmp_path / "seeds" / "html-form" / "params.json").read_text())
    assert claimed["warc_uris"] == [str(warc)]
    params = copy.deepcopy(dag.params)
    params.update({"warc_uris": None, "teacher_options": None})
    params.validate()  # a cleared field, as the form sends it, is accepted


def test_a_seed_set_claimed_with_a_blank_warc_uri_before_is_claimed_again_without_it(
        tmp_path):
    """A run triggered before blank warc_uris items were skipped claimed its seed set with
    them (params.json ``"warc_uris": [""]``) and then failed; its retry, or the same form
    triggered again, reads no blank item now and goes on instead of being refused as a run
    with other Params."""
    from prox_tasks.pipeline import seeding

    snapshot = write_jsonl(tmp_path / "snapshot.jsonl", sample_rows(12))
    params = {"input_uri": str(snapshot), "seed_root": str(tmp_path / "seeds"),
              "seed_set_name": "old-claim", "teacher": "rules", "sample_size": 8,
              "random_seed": 0, "label_shard_docs": 10, "warc_uris": [""]}
    decides, _ = seeding.seed_set_params(str(snapshot), 8, 0, "rules", {}, [""])
    folder = tmp_path / "seeds" / "old-claim"
    folder.mkdir(parents=True)
    (folder / "params.json").write_text(json.dumps(decides, sort_keys=True, indent=1) + "\n")
    plan = seeding.sample(params, None)
    assert plan["name"] == "old-claim" and plan["warc_uris"] == []
    assert seeding.sample({**params, "warc_uris": None}, None)["name"] == "old-claim"


@pytest.mark.parametrize(("dag_id", "conf", "task_id", "says"), [
    # teacher options are checked before sampling, not in every label_shard after it
    ("prox_seed_label", {"teacher_options": {"bogus": 1}}, "sample", "teacher 'rules'"),
    ("prox_seed_label", {"teacher_options": {"base_url": "http://127.0.0.1:9/v1"}}, "sample",
     "teacher 'rules' takes no option 'base_url': fix the teacher_options Param (the rules "
     "teacher takes line_rules, "),
    # the endpoint named as the DAG's user gives it too, not only as prox label's options
    ("prox_seed_label", {"teacher": "llm"}, "sample",
     'needs a model name (prox label --model NAME, or "model" in the seed DAG\'s '
     'teacher_options) and an endpoint (--base-url URL or --conn-id ID; "base_url" or '
     '"conn_id" there)'),
    # an undefined connection, an endpoint that is no URL: every try (of sample, of each
    # label_shard) failed the same way, retried
    ("prox_seed_label", {"teacher": "llm", "teacher_options": {"model": "m",
                                                               "conn_id": "no_such_teacher"}},
     "sample", "Airflow connection 'no_such_teacher' is not defined"),
    ("prox_seed_label", {"teacher": "llm", "teacher_options": {"model": "m",
                                                               "base_url": "localhost:8000/v1"}},
     "sample", "base URL 'localhost:8000/v1' is not an http:// or https:// URL"),
    # an option value of the wrong kind (JSON from the trigger form): "high" would fail every
    # label_shard after sampling, "no" would be true; fallback_options are the fallback's
    ("prox_seed_label", {"teacher": "diff", "teacher_options": {"keep_threshold": "high"}},
     "sample", 'option \'keep_threshold\' is "high", the diff teacher takes a number there '
     "(default 0.5): fix the teacher_options Param"),
    ("prox_seed_label", {"teacher": "best", "teacher_options": {
        "fallback": "rules", "fallback_options": {"chunked": "no"}}}, "sample",
     "option 'chunked' in fallback_options (the rules fallback) is \"no\", the rules teacher "
     "takes true or false there (default true)"),
    # a number out of its range: sampled, then every label_shard failed (-5 words) or wrote
    # labels with no chunk program (0 tokens); the same ranges as prox's own options
    ("prox_seed_label", {"teacher": "html", "teacher_options": {"max_sequence_words": -5}},
     "sample", "teacher 'html': option 'max_sequence_words' must be at least 1, not -5: fix "
     "the teacher_options Param"),
    ("prox_seed_label", {"teacher": "best", "teacher_options": {
        "fallback": "rules", "fallback_options": {"max_chunk_tokens": 0}}}, "sample",
     "option 'max_chunk_tokens' in fallback_options (the rules fallback) must be at least 1, "
     "not 0"),
    # an option without a default (the llm teacher's prices) is range-checked too: "abc"
    # failed every label_shard's usage report after sampling, -1 reported a negative cost
    ("prox_seed_label", {"teacher": "llm", "teacher_options": {
        "model": "m", "base_url": "http://127.0.0.1:9/v1", "input_price_per_mtok": -1}},
     "sample", "teacher 'llm': option 'input_price_per_mtok' must be at least 0, not -1"),
    ("prox_seed_label", {"teacher": "llm", "teacher_options": {
        "model": "m", "base_url": "http://127.0.0.1:9/v1", "output_price_per_mtok": "abc"}},
     "sample", 'option \'output_price_per_mtok\' is "abc", the llm teacher takes a number'),
    # a fallback that needs what the rows it labels lack: every label_shard would fail
    ("prox_seed_label", {"teacher": "best", "teacher_options": {"fallback": "diff"}}, "sample",
     "the best teacher's fallback labels the rows with neither a gold text nor HTML: 'diff' "
     "needs its gold; choose rules or llm (fix the teacher_options Param)"),
    # a teacher the input cannot feed: refused at sample, not after every label_shard
    # quarantined every row (and before the seed set is claimed for that teacher)
    ("prox_seed_label", {"teacher": "diff"}, "sample",
     "the diff teacher needs a clean text (gold) in each row's 'gold_text' field: none of the "
     "20 documents read"),
    ("prox_seed_label", {"teacher": "html"}, "sample",
     "has it; give the WET input's WARC files in the warc_uris Param, or an input_uri whose "
     "rows have an html field, or choose another teacher (the teacher Param: rules;"),
    ("prox_seed_label", {"sample_size": 2}, "split", "no seed set written"),
    ("prox_train_refiner", {"seed_uri": "/no/such/seed/manifest.json"}, "resolve_seed_set",
     "does not exist"),
    ("prox_train_refiner", {"base": "/no/such/base"}, "resolve_seed_set", "does not exist"),
    # nothing promoted yet: the first task fails, naming the Params (NoModelError's DAG
    # wording), not prox train's --base
    ("prox_train_refiner", {"seed_uri": "SEED", "base": "promoted"}, "resolve_seed_set",
     "or name a model in the base Param: a refiner artifact folder"),
    # a folder without a model: every retry of train would find the same
    ("prox_train_refiner", {"seed_uri": "SEED", "base": "EMPTY-DIR"}, "resolve_seed_set",
     "no refiner.json or config.json in"),
    ("prox_train_refiner", {"seed_uri": "SEED", "base": "BAD-BASE"}, "resolve_seed_set",
     "refiner.json is not JSON"),
    ("prox_seed_label", {"input_uri": "EMPTY"}, "sample", "no documents in"),
    ("prox_seed_label", {"format": "parquet"}, "sample", "is not a parquet file"),
    ("prox_train_refiner", {"seed_uri": "BAD-LABELS"}, "resolve_seed_set",
     "has no training documents"),
    # labels without their texts: the hint named prox label's --keep-text, not a Param
    ("prox_train_refiner", {"seed_uri": "NO-TEXT"}, "resolve_seed_set",
     "(labels without their text: point the seed_uri Param at a seed set prox_seed_label "
     "wrote, which keeps the texts)"),
    ("prox_train_refiner", {"seed_uri": "SEED", "epochs": 1.5}, "resolve_seed_set",
     "the epochs Param (1.5): the tagger trains whole epochs"),
    # the backend Param reaches training (it was read but not offered: conf refused it);
    # named as the trigger form names it, not as prox train's --backend
    ("prox_train_refiner", {"seed_uri": "SEED", "backend": "vllm"}, "resolve_seed_set",
     "the backend Param (vllm) cannot run a line_tagger, which the kind Param trains: choose "
     "tagger, or leave the backend Param empty"),
    # a seed set that cannot train: refused at the first task, not at train after waiting
    # for the gpu pool (an empty folder, a model folder, a manifest naming a file gone or cut
    # short: each was a FileNotFoundError or ValueError that train retried)
    ("prox_train_refiner", {"seed_uri": "EMPTY-DIR"}, "resolve_seed_set",
     "cannot be read: no seed set (manifest or JSONL files) at"),
    ("prox_train_refiner", {"seed_uri": "A-MODEL"}, "resolve_seed_set",
     "cannot be read: no seed set (manifest or JSONL files) at"),
    ("prox_train_refiner", {"seed_uri": "HALF-MANIFEST"}, "resolve_seed_set",
     "cannot be read: seed-set manifest"),
    ("prox_train_refiner", {"seed_uri": "FILE-GONE"}, "resolve_seed_set", "cannot be read: "),
    # cleared in the form (null): no default fits the input to sample
    ("prox_seed_label", {"input_uri": None}, "sample",
     "input_uri is empty: give the snapshot to sample"),
])
def test_seed_and_train_runs_that_cannot_succeed_fail_at_once(dagbag, tmp_path, capfd, dag_id,
                                                              conf, task_id, says):
    from tests.training.fixtures import make_docs
    from tests.training.seed_files import write_seed_set

    snapshot = write_jsonl(tmp_path / "snapshot.jsonl", sample_rows(20))
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "empty-dir").mkdir()
    (tmp_path / "bad-base").mkdir()
    (tmp_path / "bad-base" / "refiner.json").write_text("{not json")
    from prox_tasks.models import SHIPPED_MODEL

    half = write_seed_set(tmp_path / "half", make_docs(20, 1), make_docs(6, 2))
    manifest = half / "manifest.json"
    manifest.write_text(manifest.read_text()[:40])  # a write cut short
    gone = write_seed_set(tmp_path / "gone", make_docs(20, 1), make_docs(6, 2))
    for data in gone.glob("train*"):
        data.unlink()  # a split the manifest names, not there
    seeds = {"EMPTY": str(tmp_path / "empty.jsonl"), "EMPTY-DIR": str(tmp_path / "empty-dir"),
             "BAD-BASE": str(tmp_path / "bad-base"),
             "SEED": str(write_seed_set(tmp_path / "seed", make_docs(20, 1), make_docs(6, 2))),
             "A-MODEL": str(SHIPPED_MODEL), "HALF-MANIFEST": str(half), "FILE-GONE": str(gone),
             "NO-TEXT": str(write_seed_set(tmp_path / "no-text", [
                 {k: v for k, v in d.items() if k != "text"} for d in make_docs(20, 1)],
                 make_docs(6, 2))),
             "BAD-LABELS": str(write_seed_set(  # every program replaced by one that is not
                 tmp_path / "bad", [{**d, "doc_program": "exec('boom')"} for d in make_docs(20, 1)],
                 make_docs(6, 2)))}  # fmt: skip
    conf_given = conf
    conf = {k: seeds.get(v, v) if isinstance(v, str) else v for k, v in conf.items()}
    if dag_id == "prox_seed_label":
        conf = {"input_uri": str(snapshot), "seed_root": str(tmp_path / "seeds"),
                "sample_size": 20, "label_shard_docs": 10, **conf}
    else:
        conf = {"seed_uri": str(tmp_path / "none.json"), "registry": str(tmp_path / "r"), **conf}
    dag = dagbag.get_dag(dag_id)
    run = dag.test(run_conf={**copy.deepcopy(dag.params.dump()), **_declared(dag, conf)})
    assert run.state == "failed"
    failed = [ti for ti in run.get_task_instances() if ti.task_id == task_id]
    assert failed and all((ti.state, ti.try_number) == ("failed", 1) for ti in failed)
    logged = capfd.readouterr()
    assert says in logged.out + logged.err
    if task_id == "split":  # refused before the seed set is written: train cannot pick it up
        assert not list((tmp_path / "seeds").glob("*/manifest.json"))
    if task_id == "sample" and "input_uri" not in conf_given:  # bad teacher options, format:
        assert not (tmp_path / "seeds").exists()  # nothing sampled, no seed set claimed


@pytest.mark.parametrize(("dag_id", "typo", "task_id", "says"), [
    ("prox_seed_label", {"sample_sise": 5}, "sample",
     "unknown conf key 'sample_sise' (did you mean 'sample_size'?)"),
    ("prox_train_refiner", {"epoch": 1, "treads": 2}, "resolve_seed_set",
     "unknown conf keys 'epoch' (did you mean 'epochs'?), 'treads' (did you mean 'threads'?)"),
])
def test_a_misspelt_conf_key_fails_the_first_task_naming_the_param_meant(
        dagbag, tmp_path, capfd, dag_id, typo, task_id, says):
    """A trigger's conf key that is no Param (a typo) would otherwise be ignored and the run
    would go on with the default: the first task fails at once, naming the Param meant."""
    dag = dagbag.get_dag(dag_id)
    run = dag.test(run_conf={**copy.deepcopy(dag.params.dump()), **typo})
    assert run.state == "failed"
    [ti] = [ti for ti in run.get_task_instances() if ti.task_id == task_id]
    assert (ti.state, ti.try_number) == ("failed", 1)
    logged = capfd.readouterr()
    assert says in logged.out + logged.err


def _declared(dag, conf: dict) -> dict:
    assert set(conf) <= set(dag.params), set(conf) - set(dag.params)
    return conf


def test_a_sample_larger_than_the_snapshot_gets_label_tasks_for_what_was_drawn(tmp_path):
    from prox_tasks.pipeline import seeding

    snapshot = write_jsonl(tmp_path / "snapshot.jsonl", sample_rows(30))
    params = {"input_uri": str(snapshot), "seed_root": str(tmp_path / "seeds"),
              "teacher": "rules", "sample_size": 100_000, "random_seed": 0,
              "label_shard_docs": 10}
    plan = seeding.sample(params, None)
    assert plan["sample"]["sampled"] == 30 and plan["shards"] == [0, 1, 2]
    assert seeding.sample({**params, "label_shard_docs": 1}, None)["shards"] == list(range(30))
    assert seeding.MAX_LABEL_TASKS == 1024
    other = seeding.sample({**params, "random_seed": 1}, None)
    assert other["name"] != plan["name"]  # other Params: a new seed set, not a replaced one
    assert seeding.sample(params, None)["name"] == plan["name"]


def test_a_named_seed_set_is_not_replaced_by_a_run_with_other_params(tmp_path):
    from prox_tasks.pipeline import seeding
    from prox_tasks.pipeline.errors import RunError

    snapshot = write_jsonl(tmp_path / "snapshot.jsonl", sample_rows(30))
    params = {"input_uri": str(snapshot), "seed_root": str(tmp_path / "seeds"),
              "seed_set_name": "named", "teacher": "rules", "sample_size": 20,
              "random_seed": 0, "label_shard_docs": 10}
    first = seeding.sample(params, None)
    assert seeding.sample({**params, "label_shard_docs": 5}, None)["name"] == first["name"]
    with pytest.raises(RunError, match="seed set named exists with other Params .*sample_size 20 -> 25"):
        seeding.sample({**params, "sample_size": 25}, None)


def test_the_seed_sample_reads_text_and_id_fields_of_another_name(tmp_path):
    """``text_field``/``id_field`` Params: rows with ``raw_content`` and ``doc_id`` are
    sampled under ``text``/``id`` for the teachers (without the Params such a crawl holds
    no document: every row is missing its text)."""
    import gzip

    from prox_tasks.pipeline import seeding
    from prox_tasks.pipeline.errors import RunError
    from prox_tasks.storage import open_uri

    rows = [{"doc_id": r["id"], "raw_content": r["text"]} for r in sample_rows(12)]
    snapshot = write_jsonl(tmp_path / "snapshot.jsonl", rows)
    params = {"input_uri": str(snapshot), "seed_root": str(tmp_path / "seeds"),
              "teacher": "rules", "sample_size": 8, "random_seed": 0, "label_shard_docs": 10}
    plan = seeding.sample({**params, "text_field": "raw_content", "id_field": "doc_id"}, None)
    assert (plan["sample"]["sampled"], plan["sample"]["input_quarantined"]) == (8, {})
    with open_uri(plan["sample"]["files"][0], "rb") as raw:
        sampled = [json.loads(line) for line in gzip.decompress(raw.read()).splitlines()]
    texts = {r["doc_id"]: r["raw_content"] for r in rows}
    assert len(sampled) == 8 and all(texts[r["id"]] == r["text"] for r in sampled)
    with pytest.raises(RunError, match="no documents"):
        seeding.sample(params, None)


def test_seed_dag_samples_a_spark_partition_with_the_format_param(dagbag, tmp_path):
    """``format=jsonl`` (``prox label --format``): a partition of Spark's ``part-…-c000.json``
    and ``.json.gz`` files is sampled and labeled; before, no Param could say how to read
    it and ``sample`` failed with 'no input files … pass --format (format=)'."""
    from prox_tasks.corpus.readers import FORMATS
    from prox_tasks.pipeline.dag_config import INPUT_FORMATS
    from tests.dags.test_refine_snapshot import spark_partition

    assert INPUT_FORMATS == list(FORMATS)  # the Param offers every format the readers have
    crawl = spark_partition(tmp_path / "spark", sample_rows(20))
    dag = dagbag.get_dag("prox_seed_label")
    assert dag.params.get_param("format").schema["enum"] == [None, *FORMATS]
    run = dag.test(run_conf={**copy.deepcopy(dag.params.dump()), **_declared(dag, {
        "input_uri": str(crawl), "format": "jsonl", "seed_root": str(tmp_path / "seeds"),
        "seed_set_name": "spark", "sample_size": 12, "label_shard_docs": 10,
        "catalog_url": f"sqlite:///{tmp_path / 'catalog.sqlite'}"})})
    assert run.state == "success"
    manifest = json.loads((tmp_path / "seeds" / "spark" / "manifest.json").read_text())
    assert manifest["sizes"]["sampled"] == 12 and manifest["sizes"]["snapshot_docs"] == 20
    recorded = json.loads((tmp_path / "seeds" / "spark" / "params.json").read_text())
    assert recorded["format"] == "jsonl" and recorded["input_digest"]  # its files digested


def test_the_format_param_decides_the_seed_set_s_name(tmp_path):
    """A ``format`` given is part of what names a seed set and of its ``params.json``, as
    ``text_field``/``id_field`` are; a run without it keeps the name it had before."""
    from prox_tasks.pipeline import seeding

    snapshot = write_jsonl(tmp_path / "snapshot.jsonl", sample_rows(12))
    params = {"input_uri": str(snapshot), "seed_root": str(tmp_path / "seeds"),
              "teacher": "rules", "sample_size": 8, "random_seed": 0, "label_shard_docs": 10}
    by_name = seeding.sample(params, None)
    assert seeding.sample({**params, "format": None}, None)["name"] == by_name["name"]
    forced = seeding.sample({**params, "format": "jsonl"}, None)
    assert forced["name"] != by_name["name"] and forced["sample"]["sampled"] == 8
    recorded = json.loads((tmp_path / "seeds" / forced["name"] / "params.json").read_text())
    assert recorded["format"] == "jsonl"
    assert "format" not in json.loads(
        (tmp_path / "seeds" / by_name["name"] / "params.json").read_text())


@pytest.mark.parametrize(("dag_id", "relative", "task_id"), [
    ("prox_seed_label", {"input_uri": "snapshot.jsonl"}, "sample"),
    ("prox_seed_label", {"seed_root": "seeds"}, "sample"),
    ("prox_train_refiner", {"seed_uri": "seed"}, "resolve_seed_set"),
    ("prox_train_refiner", {"registry": "registry"}, "resolve_seed_set"),
    # checked by resolve_seed_set, fine-tuned by train on another worker (queue gpu)
    ("prox_train_refiner", {"base": "base-model"}, "resolve_seed_set"),
])
def test_a_relative_path_param_fails_the_first_task_naming_it(dagbag, tmp_path, monkeypatch,
                                                              capfd, dag_id, relative, task_id):
    """A relative path resolves against whichever worker runs the task (the refine DAG
    refuses one): the first task fails at once naming the Param, before anything is written,
    even where the path exists in the current folder."""
    from tests.training.fixtures import make_docs
    from tests.training.seed_files import write_seed_set

    monkeypatch.chdir(tmp_path)  # the relative paths below exist here
    write_jsonl(tmp_path / "snapshot.jsonl", sample_rows(20))
    seed = write_seed_set(tmp_path / "seed", make_docs(20, 1), make_docs(6, 2))
    (tmp_path / "base-model").mkdir()
    if dag_id == "prox_seed_label":
        conf = {"input_uri": str(tmp_path / "snapshot.jsonl"),
                "seed_root": str(tmp_path / "abs-seeds"), "sample_size": 20,
                "label_shard_docs": 10, "seed_set_name": None, **relative}
    else:
        conf = {"seed_uri": str(seed), "registry": str(tmp_path / "abs-registry"),
                "epochs": 1, **relative}
    dag = dagbag.get_dag(dag_id)
    run = dag.test(run_conf={**copy.deepcopy(dag.params.dump()), **_declared(dag, conf)})
    assert run.state == "failed"
    [ti] = [ti for ti in run.get_task_instances() if ti.task_id == task_id]
    assert (ti.state, ti.try_number) == ("failed", 1)
    [(param, value)] = relative.items()
    logged = capfd.readouterr()
    assert f"{param} {value!r} is a relative path" in logged.out + logged.err
    assert not any((tmp_path / d).exists() for d in ("seeds", "registry", "abs-seeds",
                                                     "abs-registry"))


def test_a_teacher_connection_without_a_url_fails_sample_naming_the_connection(
        dagbag, tmp_path, capfd, monkeypatch):
    """The seed DAG's llm teacher through `conn_id`: a connection that gives no base URL
    fails the first task at once, naming the connection to fix."""
    monkeypatch.setenv("AIRFLOW_CONN_TEACHER_NO_URL", json.dumps({"conn_type": "http",
                                                                  "password": "k"}))
    dag = dagbag.get_dag("prox_seed_label")
    run = dag.test(run_conf={**copy.deepcopy(dag.params.dump()), **_declared(dag, {
        "input_uri": str(write_jsonl(tmp_path / "s.jsonl", sample_rows(10))),
        "seed_root": str(tmp_path / "seeds"), "sample_size": 10, "teacher": "llm",
        "teacher_options": {"model": "m", "conn_id": "teacher_no_url"}})})
    assert run.state == "failed"
    [ti] = [ti for ti in run.get_task_instances() if ti.task_id == "sample"]
    assert (ti.state, ti.try_number) == ("failed", 1)
    logged = capfd.readouterr()
    assert "Airflow connection 'teacher_no_url' gives no base URL" in logged.out + logged.err
    assert not (tmp_path / "seeds").exists()


def test_train_dag_leaves_the_gold_pages_of_its_seed_set_out(dagbag, tmp_path, monkeypatch):
    """The train task (run_training, as `prox train`) leaves the gold-set pages of the seed
    set out and records how many; the evaluate task scores the promoted model on the
    validation pages the candidate was scored on, without them."""
    from prox_tasks.registry import ModelRegistry
    from tests.training.fixtures import gold_page_rows, make_docs
    from tests.training.seed_files import write_seed_set

    monkeypatch.setenv("PROX_MODEL_REGISTRY", str(tmp_path / "registry"))
    gold = gold_page_rows(3)
    seed = write_seed_set(tmp_path / "seed", make_docs(30, seed=1) + gold[:2],
                          make_docs(10, seed=2) + gold[2:])  # fmt: skip
    conf = {"seed_uri": str(seed), "registry": str(tmp_path / "registry"), "epochs": 1,
            "gold_gate": False, "catalog_url": f"sqlite:///{tmp_path / 'catalog.sqlite'}"}
    registry = ModelRegistry(str(tmp_path / "registry"))
    dag = dagbag.get_dag("prox_train_refiner")
    # the second run's evaluate task measures the first one's model; another random seed
    # too, so that its best epoch is never the first one's model again (the same version)
    for epochs, random_seed in ((1, 0), (2, 1)):
        # every Param given, as the other tests here do: a Param another test's run_conf
        # set (base) is not left to the run's defaults
        run = dag.test(run_conf={**copy.deepcopy(dag.params.dump()), **_declared(
            dag, {**conf, "epochs": epochs, "random_seed": random_seed})})
        assert run.state == "success"
    published = registry.versions("refiner")
    assert len(published) == 2
    for record in published:
        described = record["seed_set"]
        assert described["gold_pages_left_out"] == 3 and described["validation_docs"] == 10
    decision = registry.decisions("refiner")[-1]
    assert decision["incumbent_metrics"]["docs"] == decision["candidate_metrics"]["docs"] == 10


def test_the_seed_dag_deployed_without_the_repository_says_where_the_sample_is(
        airflow_db, tmp_path, capfd):
    """The DAG folder copied alone (prox installed from a wheel, which holds no sample): a
    run with the default input_uri failed at sample with 'no input files at …/data/sample/
    sample.jsonl.gz … check input_uri'; it says now that the bundled sample is missing there
    and how to give one, and claims no seed set."""
    import shutil

    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.airflow_env import REPO

    deployed = tmp_path / "airflow" / "dags"
    shutil.copytree(REPO / "dags", deployed, ignore=shutil.ignore_patterns("__pycache__"))
    dag = DagBag(dag_folder=str(deployed)).get_dag("prox_seed_label")
    default = str(tmp_path / "airflow" / "data" / "sample" / "sample.jsonl.gz")
    assert dag.params["input_uri"] == default
    conf = {**copy.deepcopy(dag.params.dump()), "seed_root": str(tmp_path / "seeds")}
    run = dag.test(run_conf=conf)
    assert run.state == "failed"
    assert [ti.state for ti in run.get_task_instances() if ti.task_id == "sample"] == ["failed"]
    logged = capfd.readouterr()
    assert (f"input_uri is its default, the bundled sample {default}, which is not there"
            in logged.out + logged.err)
    assert not (tmp_path / "seeds").exists()
