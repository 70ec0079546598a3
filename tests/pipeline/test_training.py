"""The training DAG's task bodies: evaluate measures the candidate against the promoted
model, promote decides against the model promoted *when it decides* — measured again (gold
gate and validation) when another run promoted a model after evaluate, as ``prox train``
does (:mod:`prox_tasks.training.promotion`)."""

from __future__ import annotations

import pytest

from prox_tasks.pipeline import training
from prox_tasks.registry import ModelRegistry
from tests.inference.helpers import build_tagger_artifact
from tests.training.fixtures import make_docs
from tests.training.seed_files import write_seed_set

GOOD = {"doc_f1": 0.9, "line_f1": 0.9, "chunk_failure_rate": 0.0}
PARAMS = {"threads": 1, "gold_gate": True, "max_eval_docs": 6, "backend": None}


@pytest.fixture
def world(tmp_path):
    """A registry promoting model A, a candidate trained meanwhile, and the seed set."""
    registry = ModelRegistry(tmp_path / "registry", catalog=f"sqlite:///{tmp_path}/cat.sqlite")
    published = {}
    for name, seed in (("a", 1), ("b", 2), ("candidate", 3)):
        folder = build_tagger_artifact(tmp_path / "models" / name, seed=seed)
        published[name] = registry.publish(folder, "refiner", "line_tagger", {}, {}, GOOD)
    assert registry.decide("refiner", published["a"]["version"], GOOD, None).promoted
    seed = {"uri": str(write_seed_set(tmp_path / "seed", make_docs(4, 1), make_docs(6, 2))),
            "registry": registry.root, "catalog_url": registry.catalog}
    candidate = {"name": "refiner", "version": published["candidate"]["version"],
                 "uri": published["candidate"]["uri"], "metrics": GOOD}
    return registry, seed, candidate, published


def test_promote_measures_again_against_a_model_promoted_after_evaluate(world):
    registry, seed, candidate, published = world
    measured = training.evaluate(seed, candidate, PARAMS)
    assert measured["incumbent"] == published["a"]["version"]
    assert measured["gold"]["incumbent_source"] == published["a"]["version"]
    # another training run promotes B between this run's evaluate and promote tasks
    b = published["b"]["version"]
    assert registry.decide("refiner", b, GOOD, None,
                           incumbent_version=published["a"]["version"]).promoted
    decision = training.promote(seed, candidate, measured, PARAMS)
    assert decision["remeasured"] and decision["incumbent"] == b
    assert "meanwhile" not in decision["reason"]  # compared, against B
    last = registry.decisions("refiner")[-1]
    assert (last["candidate"], last["incumbent"]) == (candidate["version"], b)
    assert last["incumbent_source"] == b  # the gold gate ran again, against B
    assert last["incumbent_metrics"] is not None  # and B on the validation documents


def test_promote_decides_on_evaluate_s_measurement_while_it_is_current(world, monkeypatch):
    registry, seed, candidate, published = world
    measured = training.evaluate(seed, candidate, PARAMS)
    monkeypatch.setattr("prox_tasks.training.promotion.measure_incumbent",
                        lambda *a, **k: pytest.fail("measured again"))
    decision = training.promote(seed, candidate, measured, PARAMS)
    assert not decision["remeasured"]
    assert decision["incumbent"] == published["a"]["version"]


def test_base_promoted_resolves_in_the_run_s_registry_and_catalog(world, tmp_path):
    """``base`` ``promoted`` passes resolve_seed_set where the run's registry promotes a
    refiner, and fails it, naming the Params, where none is (an empty registry)."""
    from prox_tasks.models import NoModelError

    _, seed, _, _ = world
    params = {"seed_uri": seed["uri"], "base": "promoted", "catalog_url": seed["catalog_url"]}
    resolved = training.resolve_seed_set({**params, "registry": str(seed["registry"])}, [])
    assert resolved["registry"] == str(seed["registry"])
    with pytest.raises(NoModelError) as refused:
        training.resolve_seed_set({**params, "registry": str(tmp_path / "empty"),
                                   "catalog_url": f"sqlite:///{tmp_path}/other.sqlite"}, [])
    assert "name a model in the base Param" in refused.value.worded("dag")


def test_a_relative_sqlite_catalog_fails_resolve_seed_set(world, tmp_path, monkeypatch):
    """Each task of the run would book into its own catalog.sqlite, wherever it ran."""
    from prox_tasks.pipeline.errors import RunError

    _, seed, _, _ = world
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RunError, match=r"names a SQLite catalog by a relative path"):
        training.resolve_seed_set({"seed_uri": seed["uri"], "registry": str(seed["registry"]),
                                   "catalog_url": "sqlite:///catalog.sqlite"}, [])
    assert not (tmp_path / "catalog.sqlite").exists()


def test_a_seed_set_or_params_that_cannot_train_fail_resolve_seed_set(tmp_path):
    """Each was found by train — after waiting for the gpu pool — and the unreadable seed
    sets (an empty folder, a model folder, a manifest cut short, a split gone) raised a
    FileNotFoundError or ValueError that train retried three times: the first task refuses
    them now, naming the Param."""
    from prox_tasks.models import SHIPPED_MODEL
    from prox_tasks.training.run import TrainingRefused

    (tmp_path / "empty").mkdir()
    half = write_seed_set(tmp_path / "half", make_docs(20, 1), make_docs(6, 2))
    (half / "manifest.json").write_text((half / "manifest.json").read_text()[:40])
    gone = write_seed_set(tmp_path / "gone", make_docs(20, 1), make_docs(6, 2))
    (gone / "train.jsonl.gz").unlink()
    good = write_seed_set(tmp_path / "good", make_docs(20, 1), make_docs(6, 2))
    registry = {"registry": str(tmp_path / "registry"),
                "catalog_url": f"sqlite:///{tmp_path}/c.sqlite"}
    cases = [
        ({"seed_uri": str(tmp_path / "empty")}, "no seed set (manifest or JSONL files)"),
        ({"seed_uri": str(SHIPPED_MODEL)}, "no seed set (manifest or JSONL files)"),
        ({"seed_uri": str(half)}, "seed-set manifest"),
        ({"seed_uri": str(gone)}, "train.jsonl.gz"),
        ({"seed_uri": str(good), "epochs": 1.5}, "the epochs Param (1.5)"),
        ({"seed_uri": str(good), "kind": "causal_lm", "base": "default"},
         "the base Param (default) is a line_tagger model"),
    ]
    for params, says in cases:
        with pytest.raises(TrainingRefused) as refused:
            training.resolve_seed_set({**registry, **params}, [])
        assert says in str(refused.value), (params, str(refused.value))
        assert "--" not in str(refused.value), str(refused.value)
    assert training.resolve_seed_set({**registry, "seed_uri": str(good)}, [])["uri"] == str(good)


def test_a_run_without_seed_uri_or_event_says_where_the_seed_sets_are(tmp_path, monkeypatch):
    """Followed docs/airflow.md: a seed run made while prox_train_refiner was paused queued no
    Asset event, and unpaused later it never ran; triggered by hand without seed_uri it failed
    "no seed set: pass seed_uri, …" without saying what a seed_uri looks like or why no event
    came. The message names the seed root's manifest form, where a run's URI is, and that an
    event is queued only while the DAG is unpaused."""
    from prox_tasks.pipeline.errors import RunError

    monkeypatch.setenv("PROX_SEED_ROOT", "s3://seeds")
    with pytest.raises(RunError) as refused:
        training.resolve_seed_set({"registry": str(tmp_path / "registry")}, [])
    said = str(refused.value)
    assert "pass seed_uri" in said
    assert "s3://seeds/<name>/manifest.json" in said
    assert "register task" in said and "unpaused" in said


def test_a_promoted_model_removed_or_damaged_fails_resolve_seed_set_before_training(world):
    """The train task's job neither gates nor promotes, so its checks left the incumbent
    out: with the promoted version's folder removed, or bad bytes over promoted.json, the
    training DAG (dag.test() on an S3 registry) trained and published the candidate, then
    its evaluate task failed and was retried. resolve_seed_set now refuses it, as prox
    train does (a PromotedVersionGone: the DAG fails at once, no retry)."""
    from prox_tasks.registry import PromotedVersionGone
    from prox_tasks.storage import join_uri, list_uri, put_atomic, remove_all

    registry, seed, _, published = world
    params = {"seed_uri": seed["uri"], "registry": str(registry.root), "epochs": 1}
    assert training.resolve_seed_set(params, [])["uri"] == seed["uri"]
    promoted = join_uri(registry.root, "refiner", "promoted.json")
    put_atomic(promoted, b'{"oops": 1}')
    with pytest.raises(PromotedVersionGone, match=f"{promoted} is damaged .*the gold gate"):
        training.resolve_seed_set(params, [])
    registry.promote("refiner", published["a"]["version"], "repaired")
    remove_all(list_uri(join_uri(registry.root, "refiner", published["a"]["version"]) + "/"))
    with pytest.raises(PromotedVersionGone, match=f"the promoted refiner {published['a']['version']}"):
        training.resolve_seed_set(params, [])


def test_a_promoted_version_whose_artifact_json_is_damaged_fails_resolve_seed_set(world):
    """Bad bytes over the promoted version's ``artifact.json`` (not promoted.json): the
    incumbent check passed it (promoted.json names a version whose record exists), the
    candidate was trained, then evaluate failed loading the incumbent with an
    ArtifactRecordDamaged, which the DAG retries, in vain. resolve_seed_set now reads the
    incumbent's record and refuses it before any training (a PromotedVersionGone: exit 2,
    no retry), naming the file."""
    from prox_tasks.models.artifact import ArtifactRecordDamaged
    from prox_tasks.registry import PromotedVersionGone
    from prox_tasks.storage import join_uri, put_atomic

    registry, seed, candidate, published = world
    params = {"seed_uri": seed["uri"], "registry": str(registry.root), "epochs": 1}
    version = published["a"]["version"]
    record = join_uri(registry.root, "refiner", version, "artifact.json")
    put_atomic(record, b"\x00\x01 not json")
    with pytest.raises(ArtifactRecordDamaged):  # what the run met after its training
        training.evaluate(seed, candidate, PARAMS)
    with pytest.raises(PromotedVersionGone,
                       match=f"the promoted refiner {version} cannot be loaded: {record} is "
                             "damaged .*; the gold gate and promotion compare"):
        training.resolve_seed_set(params, [])


def test_book_catalog_s_way_out_names_the_run_s_registry(tmp_path):
    """book_catalog failed saying "run prox models promote V --reason TEXT --catalog URL":
    followed for a run whose ``registry`` Param is not the default registry, that command
    promotes V in the default registry (the one prox refine serves) instead of booking this
    run's. It names the run's registry now (the catalog cannot be written: its folder is a
    file, a real fault)."""
    import shlex

    from tests.registry.test_registry import make_artifact

    root = str(tmp_path / "experiments")
    registry = ModelRegistry(root)
    rec = registry.publish(make_artifact(tmp_path / "a", b"1"), "refiner", "line_tagger",
                           {}, {}, GOOD)  # fmt: skip
    assert registry.decide("refiner", rec["version"], GOOD, None).promoted
    (tmp_path / "not-a-folder").write_text("x")
    broken = f"sqlite:///{tmp_path / 'not-a-folder' / 'c.sqlite'}"
    with pytest.raises(training.RunError) as failed:
        training.book_catalog({"registry": root, "catalog_url": broken},
                              {"catalog_booked": False, "version": rec["version"]})
    said = str(failed.value)
    assert (f"prox models promote {rec['version']} --registry {shlex.quote(root)} --catalog "
            "<the same catalog URL> --reason TEXT") in said, said


def test_a_train_run_warns_of_the_gold_pages_of_its_seed_set_once(tmp_path, caplog):
    """The train DAG's first task (resolve_seed_set) checks the seed set as train reads it,
    and warned of its pages of the gold set as train does: a run said it twice (in
    dag.test(), one process, the same line twice). train, which leaves them out, says it;
    the check does not."""
    from tests.training.fixtures import gold_page_rows

    gold = gold_page_rows(3)
    seed = write_seed_set(tmp_path / "seed", make_docs(30, 1) + gold[:2],
                          make_docs(10, 2) + gold[2:], "v-1")
    params = {"seed_uri": str(seed), "registry": str(tmp_path / "registry"), "threads": 1,
              "epochs": 1, "backend": None}
    said = "3 of its pages are pages of the gold set"
    with caplog.at_level("WARNING", logger="prox_tasks.training.run"):
        resolved = training.resolve_seed_set(params, [])
        assert said not in caplog.text, caplog.text
        out = training.train(resolved, params)
    assert out["seed_set"]["gold_pages_left_out"] == 3
    assert caplog.text.count(said) == 1, caplog.text


def test_a_run_into_a_registry_elsewhere_books_in_no_catalog(tmp_path):
    """A run whose ``registry`` Param is not the default registry booked its promotion in
    the default catalog (PROX_CATALOG_URL), where ``prox refine`` found it as the promoted
    model while the default registry promoted none: the run follows ``prox train``'s rule
    (settings.registry_catalog) now, so refining serves no model of that registry."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.models.resolver import promoted
    from prox_tasks.pipeline import settings

    root = str(tmp_path / "experiments")
    registry = ModelRegistry(root)
    folder = build_tagger_artifact(tmp_path / "models" / "c", seed=3)
    rec = registry.publish(folder, "refiner", "line_tagger", {}, {}, GOOD)
    uri = str(write_seed_set(tmp_path / "seed", make_docs(4, 1), make_docs(6, 2)))
    seed = training.resolve_seed_set({"seed_uri": uri, "registry": root}, [])
    assert seed["catalog_url"] is None
    candidate = {"name": "refiner", "version": rec["version"], "uri": rec["uri"],
                 "metrics": GOOD}
    params = {**PARAMS, "gold_gate": False}  # nothing promoted: promoted without a gate
    decision = training.promote(seed, candidate, training.evaluate(seed, candidate, params),
                                params)
    assert decision["promoted"], decision
    assert decision["catalog_booked"] is None
    assert training.book_catalog(seed, decision) == {"booked": None}
    assert promoted() is None  # what prox refine --model promoted resolves
    with Catalog(settings.catalog_url()) as catalog:
        assert catalog.promoted_model("refiner") is None


def test_the_catalog_url_param_books_a_registry_elsewhere_there(tmp_path):
    """An explicit ``catalog_url`` Param still wins, as ``prox train --catalog``; and the
    default registry is booked in the default catalog."""
    from prox_tasks.pipeline import settings

    uri = str(write_seed_set(tmp_path / "seed", make_docs(4, 1), make_docs(6, 2)))
    url = f"sqlite:///{tmp_path}/team.sqlite"
    seed = training.resolve_seed_set({"seed_uri": uri, "registry": str(tmp_path / "elsewhere"),
                                      "catalog_url": url}, [])
    assert seed["catalog_url"] == url
    seed = training.resolve_seed_set({"seed_uri": uri, "registry": None}, [])
    assert seed["registry"] == settings.registry_root()
    assert seed["catalog_url"] == settings.catalog_url()


def test_book_catalog_s_way_out_for_a_catalog_url_that_cannot_work(tmp_path):
    """book_catalog said "once the catalog can be written, clear this task" for a catalog
    URL that can never work (a database SQLAlchemy does not know): cleared, the task used
    the same URL and failed again. It says to correct the URL and promote by hand naming the
    corrected one."""
    from tests.registry.test_registry import make_artifact

    root = str(tmp_path / "experiments")
    registry = ModelRegistry(root)
    rec = registry.publish(make_artifact(tmp_path / "a", b"1"), "refiner", "line_tagger",
                           {}, {}, GOOD)  # fmt: skip
    assert registry.decide("refiner", rec["version"], GOOD, None).promoted
    with pytest.raises(training.RunError) as failed:
        training.book_catalog({"registry": root, "catalog_url": "notadb://x"},
                              {"catalog_booked": False, "version": rec["version"]})
    said = str(failed.value)
    assert "clear this task" not in said, said
    assert (f"prox models promote {rec['version']} --registry {root} --catalog "
            "<the corrected catalog URL> --reason TEXT") in said, said
