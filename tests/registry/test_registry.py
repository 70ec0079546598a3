"""Publishing, promotion decisions and fetching, on a local folder and on S3 (moto)."""

from __future__ import annotations

import json

import pytest

from prox_tasks.models.artifact import artifact_version
from prox_tasks.registry import ModelRegistry, beats, fetch_folder, score

GOOD = {"doc_f1": 0.95, "line_f1": 0.90, "chunk_failure_rate": 0.0}
WORSE = {"doc_f1": 0.95, "line_f1": 0.80, "chunk_failure_rate": 0.0}
BETTER_BUT_BROKEN = {"doc_f1": 0.99, "line_f1": 0.99, "chunk_failure_rate": 0.05}


def make_artifact(folder, payload: bytes):
    folder.mkdir(parents=True)
    (folder / "refiner.json").write_text('{"kind": "line_tagger"}')
    (folder / "sub").mkdir()
    (folder / "sub" / "weights.bin").write_bytes(payload)
    return folder


def test_beats_rules():
    assert score(GOOD) == pytest.approx(0.925)
    assert beats(GOOD, None)[0]
    assert beats(GOOD, WORSE)[0]
    assert not beats(WORSE, GOOD)[0]
    assert not beats(GOOD, GOOD)[0]  # a tie keeps the incumbent
    won, why = beats(BETTER_BUT_BROKEN, GOOD)
    assert not won and "failure rate" in why


@pytest.fixture(params=["local", "s3"])
def registry(request, tmp_path):
    if request.param == "local":
        return ModelRegistry(tmp_path / "registry")
    return ModelRegistry(request.getfixturevalue("s3_root"))


def test_publish_is_content_addressed_and_idempotent(registry, tmp_path):
    art = make_artifact(tmp_path / "a", b"\x00\x01weights")
    rec = registry.publish(art, "refiner", "line_tagger", {"lr": 1}, {"version": "s1"}, GOOD)
    again = registry.publish(art, "refiner", "line_tagger", {"lr": 1}, {"version": "s1"}, GOOD)
    assert rec["version"] == again["version"] and rec["version"].startswith("line_tagger-")
    assert rec["created_at"] == again["created_at"]
    stored = registry.artifact("refiner", rec["version"])
    assert stored["seed_set"] == {"version": "s1"} and stored["metrics"] == GOOD
    assert sorted(stored["files"]) == ["refiner.json", "sub/weights.bin"]
    local = fetch_folder(rec["uri"], str(tmp_path / "cache"))
    assert (local / "sub" / "weights.bin").read_bytes() == b"\x00\x01weights"


def test_promotion_refuses_a_worse_model_and_records_both(registry, tmp_path):
    first = registry.publish(make_artifact(tmp_path / "a", b"1"), "refiner", "line_tagger",
                             {}, {}, GOOD)  # fmt: skip
    d1 = registry.decide("refiner", first["version"], GOOD, None)
    assert d1.promoted and registry.promoted("refiner")["version"] == first["version"]
    worse = registry.publish(make_artifact(tmp_path / "b", b"2"), "refiner", "line_tagger",
                             {}, {}, WORSE)  # fmt: skip
    d2 = registry.decide("refiner", worse["version"], WORSE, GOOD)
    assert not d2.promoted and "<=" in d2.reason
    assert registry.promoted("refiner")["version"] == first["version"]
    better = registry.publish(make_artifact(tmp_path / "c", b"3"), "refiner", "line_tagger",
                              {}, {}, {**GOOD, "line_f1": 0.97})  # fmt: skip
    d3 = registry.decide("refiner", better["version"], {**GOOD, "line_f1": 0.97}, GOOD)
    assert d3.promoted and registry.promoted("refiner")["version"] == better["version"]
    decisions = registry.decisions("refiner")
    assert [d["promoted"] for d in decisions] == [True, False, True]
    refused = decisions[1]
    assert refused["candidate_metrics"] == WORSE and refused["incumbent_metrics"] == GOOD
    assert refused["incumbent"] == first["version"]
    assert json.loads(json.dumps(refused))  # JSON-ready
    # fetching the promoted model gives its files, and the one version string back
    fetched = registry.fetch("refiner", cache=str(tmp_path / "fetched"))
    assert (fetched / "sub" / "weights.bin").read_bytes() == b"3"
    assert artifact_version(fetched) == better["version"]


def test_catalog_registration(tmp_path):
    from prox_tasks.catalog import Catalog

    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    with Catalog(url) as catalog:  # the seed set, as prox label --seed-set and the DAG book it
        seed_id = catalog.register_seed_set("seed-rules-1", "rules", "file:///seeds/1", 40,
                                            {"version": "v-seed-1"})  # fmt: skip
    registry = ModelRegistry(tmp_path / "registry", catalog=url)
    rec = registry.publish(make_artifact(tmp_path / "a", b"1"), "refiner", "line_tagger",
                           {"base": None}, {"version": "v-seed-1"}, GOOD)  # fmt: skip
    registry.decide("refiner", rec["version"], GOOD, None)
    catalog = Catalog(url)
    try:
        row = catalog.promoted_model("refiner")
        assert row["version"] == rec["version"] and row["uri"] == rec["uri"]
        assert row["seed_set_id"] == seed_id  # the model's lineage
        assert row["registry"] == (tmp_path / "registry").as_uri()
    finally:
        catalog.close()


def test_an_experiment_registry_promotes_without_unmarking_the_production_one(tmp_path):
    """Two registries share a catalog (the train DAG's ``registry`` Param): each promotes its
    own model, and the catalog shows both."""
    from prox_tasks.catalog import Catalog

    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    production = ModelRegistry(tmp_path / "prod", catalog=url)
    experiment = ModelRegistry(str(tmp_path / "exp") + "/", catalog=url)
    prod = production.publish(make_artifact(tmp_path / "a", b"1"), "refiner", "line_tagger",
                              {}, {}, GOOD)  # fmt: skip
    assert production.decide("refiner", prod["version"], GOOD, None).promoted
    exp = experiment.publish(make_artifact(tmp_path / "b", b"2"), "refiner", "line_tagger",
                             {}, {}, GOOD)  # fmt: skip
    assert experiment.decide("refiner", exp["version"], GOOD, None).promoted
    with Catalog(url) as catalog:
        promoted = {m["version"] for m in catalog.list_models("refiner") if m["promoted"]}
        assert promoted == {prod["version"], exp["version"]}
        in_prod = catalog.promoted_model("refiner", registry=(tmp_path / "prod").as_uri())
        assert in_prod["version"] == prod["version"]


def test_a_model_name_that_would_leave_the_registry_is_refused(tmp_path):
    from prox_tasks.registry import ModelRegistry
    from prox_tasks.storage.names import InvalidName

    registry = ModelRegistry(tmp_path / "registry")
    for name in ("../escaped", "a/b", ".."):
        with pytest.raises(InvalidName, match="invalid model name"):
            registry.promoted(name)
    assert registry.promoted("refiner") is None


def test_a_moved_or_copied_registry_serves_its_own_files(tmp_path, monkeypatch):
    """promoted.json and artifact.json record where they were written; a registry moved
    elsewhere must serve its own copy, and a copy must never serve the original's files."""
    import shutil

    from prox_tasks.models import resolve_model

    first = ModelRegistry(tmp_path / "regA")
    rec = first.publish(make_artifact(tmp_path / "a", b"1"), "refiner", "line_tagger", {}, {},
                        GOOD)  # fmt: skip
    assert first.decide("refiner", rec["version"], GOOD, None).promoted
    shutil.move(tmp_path / "regA", tmp_path / "regB")
    moved = ModelRegistry(tmp_path / "regB")
    assert moved.promoted("refiner")["uri"] == moved.uri("refiner", rec["version"])
    again = moved.publish(make_artifact(tmp_path / "a2", b"1"), "refiner", "line_tagger", {},
                          {}, GOOD)  # fmt: skip
    assert again["uri"] == moved.uri("refiner", rec["version"])
    monkeypatch.setenv("PROX_MODEL_REGISTRY", str(tmp_path / "regB"))
    monkeypatch.setenv("PROX_CATALOG_URL", f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    assert resolve_model(None).uri == moved.uri("refiner", rec["version"])


def test_older_copies_of_a_replaced_s3_model_leave_the_cache_once_unused(s3_root, tmp_path,
                                                                          monkeypatch):
    import os
    import time

    from prox_tasks.registry.registry import STALE_COPY_GRACE_SECONDS
    from prox_tasks.storage import put_atomic

    monkeypatch.setenv("PROX_HOME", str(tmp_path / "home"))
    uri = f"{s3_root}/tagger"
    put_atomic(f"{uri}/refiner.json", '{"kind": "line_tagger", "v": 1}')
    first = fetch_folder(uri)
    put_atomic(f"{uri}/refiner.json", '{"kind": "line_tagger", "v": 2}')
    second = fetch_folder(uri)
    assert second != first and json.loads((second / "refiner.json").read_text())["v"] == 2
    assert first.exists()  # just used: a process may still be loading it
    long_ago = time.time() - STALE_COPY_GRACE_SECONDS - 60
    os.utime(first / ".complete", (long_ago, long_ago))
    cut_short = first.parent / f".{first.name}-killed"  # a download killed long ago
    cut_short.mkdir()
    os.utime(cut_short, (long_ago, long_ago))
    other_model = first.parent / "0123456789abcdef-0123456789abcdef"
    other_model.mkdir()
    os.utime(other_model, (long_ago, long_ago))
    put_atomic(f"{uri}/refiner.json", '{"kind": "line_tagger", "v": 3}')
    third = fetch_folder(uri)
    assert json.loads((third / "refiner.json").read_text())["v"] == 3
    assert not first.exists() and not cut_short.exists()
    assert second.exists() and other_model.exists()  # in use lately / another URI's copy


def test_a_killed_download_s_folder_is_swept_by_the_next_download(s3_root, moto_endpoint,
                                                                    tmp_path, monkeypatch):
    """A download into the model cache killed midway (SIGKILL: real; where it stops, after
    its first file, a named fault injection) left ``.<key>-XXXX`` with no host or pid, so it
    was never swept (only pruned with its URI's copies, when that URI was fetched again).
    It is named as the storage layer's temporary files are (host and pid) and the next
    download into the cache removes it; a live process's is left."""
    from prox_tasks.storage import put_atomic
    from prox_tasks.storage.tempfiles import temp_tag
    from tests.conftest import kill_when_ready

    monkeypatch.setenv("PROX_HOME", str(tmp_path / "home"))
    for name in ("refiner.json", "weights.bin"):
        put_atomic(f"{s3_root}/killed/{name}", b"x" * 1000)
    code = ("import sys, time\n"
            "from prox_tasks.registry import registry\n"
            "from prox_tasks.storage import S3Settings, configure_s3\n"
            "configure_s3(S3Settings(endpoint_url=sys.argv[1], region_name='us-east-1',\n"
            "                        addressing_style='path'))\n"
            "real, read = registry.read_bytes, []\n"
            "def read_then_wait(uri):  # fault injection: stop after the first file\n"
            "    if read:\n"
            "        print('ready', flush=True); time.sleep(60)\n"
            "    read.append(uri); return real(uri)\n"
            "registry.read_bytes = read_then_wait\n"
            "registry.fetch_folder(sys.argv[2])\n")  # fmt: skip
    pid = kill_when_ready(code, moto_endpoint, f"{s3_root}/killed")
    cache = tmp_path / "home" / "model-cache"
    (left,) = [p for p in cache.iterdir() if f".{pid}." in p.name]
    assert left.name.startswith(".") and ".tmp-" in left.name
    assert [p.name for p in left.iterdir()] == ["refiner.json"]  # cut short
    live = cache / f".other.tmp-{temp_tag()}abc"  # this process's: alive
    live.mkdir()
    put_atomic(f"{s3_root}/next/refiner.json", '{"kind": "line_tagger"}')
    fetched = fetch_folder(f"{s3_root}/next")
    assert (fetched / "refiner.json").exists() and fetched.parent == cache
    assert not left.exists() and live.exists()
    assert sorted(p.name for p in cache.iterdir()) == sorted([fetched.name, live.name])


def test_an_older_prox_s_download_cut_short_is_swept_a_day_on(s3_root, tmp_path,
                                                              monkeypatch):
    """An older prox downloaded into ``.<key>-XXXXXXXX`` (mkdtemp, no host or pid): one
    killed midway stayed for good unless that URI was fetched again. The next download
    into the cache removes one untouched (it and its files) for a day; a fresh one (an older
    prox still downloading) stays."""
    import os
    import time

    from prox_tasks.storage import put_atomic
    from prox_tasks.storage.tempfiles import LEGACY_GRACE_SECONDS

    monkeypatch.setenv("PROX_HOME", str(tmp_path / "home"))
    cache = tmp_path / "home" / "model-cache"
    old = cache / f".{'1' * 16}-{'2' * 16}-k3j2_a9q"
    fresh = cache / f".{'3' * 16}-{'4' * 16}-m1n2b3v4"
    for folder in (old, fresh):
        folder.mkdir(parents=True)
        (folder / "refiner.json").write_text("{")
    then = time.time() - LEGACY_GRACE_SECONDS - 60
    for path in (old / "refiner.json", old):
        os.utime(path, (then, then))
    put_atomic(f"{s3_root}/next/refiner.json", '{"kind": "line_tagger"}')
    fetched = fetch_folder(f"{s3_root}/next")
    assert sorted(p.name for p in cache.iterdir()) == sorted([fetched.name, fresh.name])


def test_the_model_cache_keeps_the_most_recently_used_models(s3_root, tmp_path, monkeypatch):
    """Each nightly promotion is a new URI: the cache keeps $PROX_MODEL_CACHE_KEEP models,
    the most recently used, and spares any used within the last hour."""
    import os
    import time

    from prox_tasks.registry.registry import STALE_COPY_GRACE_SECONDS
    from prox_tasks.storage import put_atomic

    monkeypatch.setenv("PROX_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PROX_MODEL_CACHE_KEEP", "2")
    copies = []
    for version in range(3):
        put_atomic(f"{s3_root}/refiner/v{version}/refiner.json", '{"kind": "line_tagger"}')
        copies.append(fetch_folder(f"{s3_root}/refiner/v{version}"))
    assert all(c.exists() for c in copies)  # all used within the hour: none removed
    for age, copy in zip((3, 2), copies[:2]):  # v0 and v1 last used hours ago
        long_ago = time.time() - STALE_COPY_GRACE_SECONDS * age
        os.utime(copy / ".complete", (long_ago, long_ago))
    put_atomic(f"{s3_root}/refiner/v3/refiner.json", '{"kind": "line_tagger"}')
    copies.append(fetch_folder(f"{s3_root}/refiner/v3"))
    assert [c.exists() for c in copies] == [False, False, True, True]
    assert fetch_folder(f"{s3_root}/refiner/v0").exists()  # downloaded again when asked
    monkeypatch.setenv("PROX_MODEL_CACHE_KEEP", "0")
    put_atomic(f"{s3_root}/refiner/v4/refiner.json", '{"kind": "line_tagger"}')
    with pytest.raises(ValueError, match="PROX_MODEL_CACHE_KEEP must be a whole number"):
        fetch_folder(f"{s3_root}/refiner/v4")
    assert len(list(copies[0].parent.iterdir())) == 3  # refused before any download


def test_a_retry_after_the_catalog_failed_registers_and_promotes_the_model(tmp_path):
    """The catalog down while a model is published and promoted (the registry's files are
    written first): the task's retry finds both done and brings the catalog up to date."""
    from prox_tasks.catalog import Catalog

    art = make_artifact(tmp_path / "a", b"1")
    down = ModelRegistry(tmp_path / "registry",
                         catalog="postgresql+psycopg2://prox@127.0.0.1:1/prox")  # refused
    with pytest.raises(Exception):  # noqa: B017 - whichever error the database gives
        down.publish(art, "refiner", "line_tagger", {}, {}, GOOD)
    rec = ModelRegistry(tmp_path / "registry").publish(art, "refiner", "line_tagger", {}, {},
                                                       GOOD)  # fmt: skip
    assert ModelRegistry(tmp_path / "registry").decide("refiner", rec["version"], GOOD,
                                                       None).promoted  # fmt: skip
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    back = ModelRegistry(tmp_path / "registry", catalog=url)
    assert back.publish(art, "refiner", "line_tagger", {}, {}, GOOD)["version"] == rec["version"]
    assert back.decide("refiner", rec["version"], GOOD, None).reason == "already promoted"
    with Catalog(url) as catalog:
        row = catalog.promoted_model("refiner")
        assert row["version"] == rec["version"] and row["uri"] == rec["uri"]
    back.decide("refiner", rec["version"], GOOD, None)  # another retry
    with Catalog(url) as catalog:  # the promotion keeps its time
        assert catalog.promoted_model("refiner")["promoted_at"] == row["promoted_at"]


def test_a_retried_promote_task_reports_the_promotion_it_completes(tmp_path):
    """The DAG's promote task skips (no Asset event) when nothing was promoted: its retry,
    after the first try wrote the promotion and then failed, must report promoted."""
    from prox_tasks.pipeline import training

    rec = ModelRegistry(tmp_path / "registry").publish(
        make_artifact(tmp_path / "a", b"1"), "refiner", "line_tagger", {}, {}, GOOD)
    seed = {"registry": str(tmp_path / "registry"),
            "catalog_url": f"sqlite:///{tmp_path / 'catalog.db'}"}
    candidate = {"name": "refiner", "version": rec["version"], "metrics": GOOD,
                 "uri": rec["uri"]}
    first = training.promote(seed, candidate, {"metrics": None})
    retry = training.promote(seed, candidate, {"metrics": None})
    assert first["promoted"] and retry["promoted"]
    assert retry["reason"] == "already promoted"
    # the retry changed nothing and records nothing: the list keeps the first try's reason
    decisions = ModelRegistry(tmp_path / "registry").decisions("refiner")
    assert [d["reason"] for d in decisions] == [first["reason"]]


def _decide_after_barrier(root, endpoint, folder, line_f1, barrier, results):
    """One training job's promotion step, in its own process: it measured its candidate
    against "nothing promoted" and decides when the other job does."""
    if endpoint:
        from prox_tasks.storage import S3Settings, configure_s3

        configure_s3(S3Settings(endpoint_url=endpoint, region_name="us-east-1",
                                addressing_style="path", max_attempts=2))  # fmt: skip
    registry = ModelRegistry(root)
    metrics = {**GOOD, "line_f1": line_f1}
    rec = registry.publish(folder, "refiner", "line_tagger", {}, {}, metrics)
    barrier.wait(60)
    decision = registry.decide("refiner", rec["version"], metrics, None, incumbent_version=None)
    results.put((rec["version"], decision.promoted, decision.incumbent, decision.reason))


def test_two_promotions_at_once_promote_one_and_tell_the_other(registry, tmp_path):
    """Two training runs finishing together, each evaluated against the same incumbent
    (none): one is promoted, the other is refused naming the version promoted meanwhile —
    not both told "promoted" while the pointer names whichever wrote last."""
    import multiprocessing

    from prox_tasks.storage.s3_client import current_settings

    endpoint = current_settings().endpoint_url if registry.root.startswith("s3://") else None
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    jobs = [ctx.Process(target=_decide_after_barrier,
                        args=(registry.root, endpoint,
                              make_artifact(tmp_path / f"c{i}", f"w{i}".encode()),
                              0.90 + i / 100, barrier, results))
            for i in (0, 1)]  # fmt: skip
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(120)
    assert [job.exitcode for job in jobs] == [0, 0]
    outcomes = [results.get(timeout=5) for _ in jobs]
    winners = [o for o in outcomes if o[1]]
    losers = [o for o in outcomes if not o[1]]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert registry.promoted("refiner")["version"] == winners[0][0]
    assert losers[0][2] == winners[0][0]
    assert f"{winners[0][0]} was promoted meanwhile" in losers[0][3]
    recorded = {d["candidate"]: d["promoted"] for d in registry.decisions("refiner")}
    assert recorded == {winners[0][0]: True, losers[0][0]: False}


def test_a_promotion_that_lands_between_read_and_write_is_not_overwritten(s3_root, tmp_path,
                                                                          monkeypatch):
    """S3: another job promotes its model after this decide read promoted.json and before it
    writes it. The conditional PUT fails, the decision is taken again on what the other job
    wrote, and the pointer keeps the other job's model."""
    from prox_tasks.registry import registry as module

    registry = ModelRegistry(s3_root)
    mine = registry.publish(make_artifact(tmp_path / "a", b"1"), "refiner", "line_tagger",
                            {}, {}, GOOD)  # fmt: skip
    other = registry.publish(make_artifact(tmp_path / "b", b"2"), "refiner", "line_tagger",
                             {}, {}, GOOD)  # fmt: skip
    real_beats, calls = module.beats, []

    def beats_while_another_promotes(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # the other job, between this one's read and its write
            assert registry.decide("refiner", other["version"], GOOD, None).promoted
        return real_beats(*args, **kwargs)

    monkeypatch.setattr(module, "beats", beats_while_another_promotes)
    decision = registry.decide("refiner", mine["version"], GOOD, None)
    assert not decision.promoted and decision.incumbent == other["version"]
    assert "promoted meanwhile" in decision.reason
    assert registry.promoted("refiner")["version"] == other["version"]


def test_a_candidate_measured_against_an_older_promoted_model_is_not_promoted(registry,
                                                                              tmp_path):
    """The promoted model changed between the evaluate and promote steps (another run's
    promotion): the candidate's numbers compare it with a model no longer promoted."""
    old = registry.publish(make_artifact(tmp_path / "a", b"1"), "refiner", "line_tagger",
                           {}, {}, WORSE)  # fmt: skip
    assert registry.decide("refiner", old["version"], WORSE, None).promoted
    new = registry.publish(make_artifact(tmp_path / "b", b"2"), "refiner", "line_tagger",
                           {}, {}, GOOD)  # fmt: skip
    late = registry.publish(make_artifact(tmp_path / "c", b"3"), "refiner", "line_tagger",
                            {}, {}, GOOD)  # fmt: skip
    assert registry.decide("refiner", new["version"], GOOD, WORSE,
                           incumbent_version=old["version"]).promoted
    decision = registry.decide("refiner", late["version"], GOOD, WORSE,
                               incumbent_version=old["version"])
    assert not decision.promoted and new["version"] in decision.reason
    assert registry.promoted("refiner")["version"] == new["version"]


def test_a_refusal_repeated_adds_no_decision_record_a_distinct_one_does(registry, tmp_path):
    """Each prox train rerun the gold gate refused again wrote one more identical decision,
    so prox models show listed duplicates: a refusal the same as the last decision on its
    version (same incumbent, outcome and reason) is not recorded again; one that differs
    (other numbers, another incumbent, another candidate) is."""
    first = registry.publish(make_artifact(tmp_path / "a", b"1"), "refiner", "line_tagger",
                             {}, {}, GOOD)  # fmt: skip
    assert registry.decide("refiner", first["version"], GOOD, None).promoted
    worse = registry.publish(make_artifact(tmp_path / "b", b"2"), "refiner", "line_tagger",
                             {}, {}, GOOD)  # fmt: skip
    incumbent_gold = {"f1": 0.80, "recall": 0.90, "gold_set": "g1"}

    def refuse(version, f1):
        decision = registry.decide("refiner", version, GOOD, GOOD,
                                   {"f1": f1, "recall": 0.90, "gold_set": "g1"}, incumbent_gold)
        assert not decision.promoted and "gold word F1" in decision.reason
        return [d["reason"] for d in registry.version("refiner", version)["decisions"]]

    for _rerun in range(3):
        assert refuse(worse["version"], 0.70) == ["gold word F1 0.7000 < incumbent 0.8000 "
                                                  "on gold set g1"]
    assert len(refuse(worse["version"], 0.75)) == 2  # other numbers: another decision
    assert len(refuse(worse["version"], 0.70)) == 3  # not the last one: recorded again
    other = registry.publish(make_artifact(tmp_path / "c", b"3"), "refiner", "line_tagger",
                             {}, {}, GOOD)  # fmt: skip
    assert len(refuse(other["version"], 0.70)) == 1  # another candidate
    better = registry.publish(make_artifact(tmp_path / "d", b"4"), "refiner", "line_tagger",
                              {}, {}, {**GOOD, "line_f1": 0.97})  # fmt: skip
    assert registry.decide("refiner", better["version"], {**GOOD, "line_f1": 0.97}, GOOD).promoted
    assert len(refuse(worse["version"], 0.70)) == 4  # another incumbent
    assert len(registry.decisions("refiner")) == 1 + 3 + 1 + 1 + 1


def test_a_version_whose_upload_was_cut_short_is_never_promoted(registry, tmp_path):
    """A publish killed after some files (``artifact.json`` is written last): deciding on
    that version refuses it before promoted.json names a folder without its record."""
    from prox_tasks.storage import put_atomic

    partial = registry.uri("refiner", "line_tagger-0123456789ab")
    put_atomic(f"{partial}/sub/weights.bin", b"half")
    with pytest.raises(FileNotFoundError, match="not published.*cut short"):
        registry.decide("refiner", "line_tagger-0123456789ab", GOOD, None)
    assert registry.promoted("refiner") is None


def test_a_decision_whose_booking_fails_after_the_swap_says_it_is_promoted(tmp_path):
    """A training run's decision promoted the candidate, then the catalog could not be
    written (its folder is a file: a real fault): the error says the registry promoted it
    and how to book it, and a retry (prox train again, the promote task's) books it."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.registry import CatalogNotBooked

    rec = ModelRegistry(tmp_path / "registry").publish(
        make_artifact(tmp_path / "a", b"1"), "refiner", "line_tagger", {}, {}, GOOD)
    (tmp_path / "not-a-folder").write_text("x")
    broken = ModelRegistry(tmp_path / "registry",
                           catalog=f"sqlite:///{tmp_path / 'not-a-folder' / 'c.sqlite'}")
    with pytest.raises(CatalogNotBooked) as refused:
        broken.decide("refiner", rec["version"], GOOD, None)
    said = str(refused.value)
    assert f"refiner {rec['version']} is promoted in the registry" in said
    assert "retry prox train or the training DAG's promote task" in said
    # this registry and catalog named (not the default ones, which the bare command acts on)
    assert (f"prox models promote {rec['version']} --registry {tmp_path / 'registry'} "
            "--catalog <the same catalog URL> --reason TEXT") in said, said
    assert refused.value.decision.promoted
    assert ModelRegistry(tmp_path / "registry").promoted("refiner")["version"] == rec["version"]
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    retry = ModelRegistry(tmp_path / "registry", catalog=url).decide("refiner", rec["version"],
                                                                      GOOD, None)
    assert retry.reason == "already promoted"
    with Catalog(url) as catalog:
        assert catalog.promoted_model("refiner")["version"] == rec["version"]


def test_a_publish_whose_booking_fails_says_the_cause_in_its_one_line(tmp_path):
    """A version published, then its catalog could not be reached (a refused loopback port: a
    real fault): the error names the version as published and says the database's own
    cause, since a DAG task's failure line shows the message, not the chained traceback."""
    from prox_tasks.registry import ModelNotBooked

    broken = ModelRegistry(tmp_path / "registry",
                           catalog="postgresql+psycopg2://prox:hunter2@127.0.0.1:1/prox")
    with pytest.raises(ModelNotBooked) as refused:
        broken.publish(make_artifact(tmp_path / "a", b"1"), "refiner", "line_tagger", {}, {},
                       GOOD)
    said = str(refused.value)
    assert "is published in the registry" in said, said
    assert "OperationalError" in said and "127.0.0.1" in said, said
    assert "hunter2" not in said, said


def test_a_failed_booking_in_a_registry_elsewhere_says_the_command_for_that_registry(tmp_path):
    """The way to book a promotion the catalog refused said ``prox models promote V --reason
    TEXT``: followed after a promotion in a registry elsewhere (``prox train --output X``, the
    training DAG's ``registry`` Param), that command promotes V of the default registry (the
    one ``prox refine`` serves: another model, or none of that version) and, as a registry
    elsewhere is booked in no catalog unless named, books nothing. It names the registry and
    the catalog now, and the catalog's password is not in the message."""
    import shlex

    from prox_tasks.cli import main
    from prox_tasks.registry import CatalogNotBooked

    root = str(tmp_path / "elsewhere")
    rec = ModelRegistry(root).publish(make_artifact(tmp_path / "a", b"1"), "refiner",
                                      "line_tagger", {}, {}, GOOD)  # fmt: skip
    (tmp_path / "not-a-folder").write_text("x")
    broken = f"sqlite:///{tmp_path / 'not-a-folder' / 'c.sqlite'}"
    with pytest.raises(CatalogNotBooked) as refused:
        ModelRegistry(root, catalog=broken).decide("refiner", rec["version"], GOOD, None)
    said = str(refused.value)
    command = (f"prox models promote {rec['version']} --registry {shlex.quote(root)} "
               "--catalog <the same catalog URL> --reason TEXT")
    assert command in said, said
    # followed (the catalog back), it books that registry's version in that catalog
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    argv = shlex.split(command.replace("<the same catalog URL>", url).replace("TEXT", "book"))
    assert main(argv[1:]) == 0
    from prox_tasks.catalog import Catalog

    with Catalog(url) as catalog:
        assert catalog.promoted_model("refiner")["version"] == rec["version"]

    # a catalog nothing listens at (a real fault): its URL said without its password
    secret = ModelRegistry(root, catalog="postgresql://prox:hunter2@127.0.0.1:1/prox")
    with pytest.raises(CatalogNotBooked) as refused:
        secret.promote("refiner", rec["version"], "again")
    assert "hunter2" not in str(refused.value) and "prox:***@127.0.0.1:1" in str(refused.value)
