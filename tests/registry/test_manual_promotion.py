"""``prox models``: list a model's versions, show one, promote one by hand (a rollback), on a
local registry and on S3 (moto over HTTP); what refining resolves afterwards."""

from __future__ import annotations

import json
import re

import pytest

from prox_tasks.cli import main
from prox_tasks.registry import ModelRegistry, UnknownVersion
from tests.registry.test_registry import GOOD, make_artifact

BETTER = {**GOOD, "line_f1": 0.97}
GOLD = {"f1": 0.81, "recall": 0.9, "gold_set": "wcxb-gold-v1"}


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path):
    return str(tmp_path / "registry") if request.param == "local" \
        else request.getfixturevalue("s3_root")


def two_promoted(registry, tmp_path):
    """v1 promoted, then v2 promoted over it (the nightly training's way): v2 is live."""
    v1 = registry.publish(make_artifact(tmp_path / "a", b"1"), "refiner", "line_tagger", {}, {},
                          GOOD)  # fmt: skip
    assert registry.decide("refiner", v1["version"], GOOD, None, GOLD, {**GOLD, "f1": 0.8},
                           "shipped:line-tagger").promoted
    v2 = registry.publish(make_artifact(tmp_path / "b", b"2"), "refiner", "line_tagger", {}, {},
                          BETTER)  # fmt: skip
    assert registry.decide("refiner", v2["version"], BETTER, GOOD).promoted
    return v1["version"], v2["version"]


def prox(*argv, capsys) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_rollback_promotes_the_older_version_records_why_and_refining_uses_it(
        root, tmp_path, monkeypatch, capsys):
    from prox_tasks.catalog import Catalog
    from prox_tasks.models import resolve_model

    catalog = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    registry = ModelRegistry(root, catalog=catalog)
    v1, v2 = two_promoted(registry, tmp_path)
    monkeypatch.setenv("PROX_MODEL_REGISTRY", root)
    monkeypatch.setenv("PROX_CATALOG_URL", catalog)
    assert resolve_model("promoted").version == v2

    code, out, _ = prox("models", "list", "--json", capsys=capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [(r["version"], r["promoted"]) for r in rows] == [(v1, False), (v2, True)]
    assert rows[0]["decision"]["candidate_gold"] == GOLD and rows[0]["created_at"]
    code, out, _ = prox("models", "list", capsys=capsys)
    assert code == 0 and "gold_f1" in out and "0.8100" in out and "2 versions" in out

    code, out, _ = prox("models", "promote", v1, "--reason", "v2 drops tables on forum pages",
                        capsys=capsys)  # fmt: skip
    assert code == 0 and f"promoted refiner {v1}" in out and f"was {v2}" in out
    # refining (prox refine --model promoted, the refine DAG: the one resolver) takes v1 now
    resolved = resolve_model("promoted")
    assert resolved.version == v1 and resolved.uri == registry.uri("refiner", v1)
    assert resolve_model(None).version == v1
    last = registry.decisions("refiner")[-1]
    assert last["manual"] and last["promoted"] and last["candidate"] == v1
    assert last["incumbent"] == v2 and "v2 drops tables on forum pages" in last["reason"]
    assert last["candidate_gold"] == GOLD  # its gold numbers, from its own decision
    with Catalog(catalog) as booked:  # booked as an automatic promotion is
        assert booked.promoted_model("refiner")["version"] == v1
        assert [m["version"] for m in booked.list_models("refiner") if m["promoted"]] == [v1]

    code, out, _ = prox("models", "show", v1, capsys=capsys)
    assert code == 0 and f"refiner {v1}: promoted" in out and "by hand" in out
    code, out, _ = prox("models", "promote", v1, "--reason", "again", capsys=capsys)
    assert code == 0 and "already the promoted model" in out  # a retry changes nothing
    assert resolve_model("promoted").version == v1


def test_an_unknown_version_or_no_reason_is_refused_and_nothing_changes(root, tmp_path,
                                                                        monkeypatch, capsys):
    registry = ModelRegistry(root)
    v1, v2 = two_promoted(registry, tmp_path)
    monkeypatch.setenv("PROX_MODEL_REGISTRY", root)
    code, _, err = prox("models", "promote", "line_tagger-0123456789ab", "--reason", "x",
                        "--no-catalog", capsys=capsys)  # fmt: skip
    assert code == 1 and "line_tagger-0123456789ab is not published" in err
    assert f"published: {v1}, {v2}" in err or f"published: {v2}, {v1}" in err
    code, _, err = prox("models", "show", "nope", capsys=capsys)
    assert code == 1 and "nope is not published" in err and f"published: {v1}" in err
    assert "promoting" not in err  # show promotes nothing: no "publish it before promoting it"
    code, _, err = prox("models", "promote", "../x", "--reason", "x", capsys=capsys)
    assert code == 2 and "invalid model version" in err  # a name to fix: exit 2
    with pytest.raises(SystemExit):  # argparse: --reason is required
        main(["models", "promote", v1])
    with pytest.raises(ValueError, match="needs a reason"):
        registry.promote("refiner", v1, "   ")
    with pytest.raises(UnknownVersion):
        registry.promote("refiner", "line_tagger-0123456789ab", "x")
    assert registry.promoted("refiner")["version"] == v2
    assert not any(d.get("manual") for d in registry.decisions("refiner"))


def test_a_training_run_deciding_after_a_rollback_is_measured_against_the_rollback(root,
                                                                                   tmp_path):
    """A candidate evaluated against v2, decided after the rollback to v1: refused as
    "promoted meanwhile" (prox train and the DAG then measure it against v1 again), never
    promoted over the rollback on numbers taken against the model rolled back."""
    registry = ModelRegistry(root)
    v1, v2 = two_promoted(registry, tmp_path)
    assert registry.promote("refiner", v1, "rollback").promoted
    late = registry.publish(make_artifact(tmp_path / "c", b"3"), "refiner", "line_tagger", {},
                            {}, {**GOOD, "line_f1": 0.99})  # fmt: skip
    decision = registry.decide("refiner", late["version"], {**GOOD, "line_f1": 0.99}, BETTER,
                               incumbent_version=v2)  # fmt: skip
    assert not decision.promoted and f"{v1} was promoted meanwhile" in decision.reason
    assert registry.promoted("refiner")["version"] == v1


def test_a_rollback_landing_between_read_and_write_of_a_decision_wins(s3_root, tmp_path,
                                                                       monkeypatch):
    """S3: the rollback's conditional PUT lands while a training run's decide is between its
    read and its write: that decide is taken again on the rollback and refused."""
    from prox_tasks.registry import registry as module

    registry = ModelRegistry(s3_root)
    v1, v2 = two_promoted(registry, tmp_path)
    late = registry.publish(make_artifact(tmp_path / "c", b"3"), "refiner", "line_tagger", {},
                            {}, {**GOOD, "line_f1": 0.99})  # fmt: skip
    real_beats, calls = module.beats, []

    def beats_while_an_operator_rolls_back(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            assert registry.promote("refiner", v1, "rollback").promoted
        return real_beats(*args, **kwargs)

    monkeypatch.setattr(module, "beats", beats_while_an_operator_rolls_back)
    decision = registry.decide("refiner", late["version"], {**GOOD, "line_f1": 0.99}, BETTER)
    assert not decision.promoted and decision.incumbent == v1
    assert registry.promoted("refiner")["version"] == v1


def test_prox_refine_with_the_promoted_model_refines_with_the_rolled_back_version(
        tmp_path, monkeypatch, capsys):
    """End to end with real taggers: after `prox models promote v1`, `prox refine --model
    promoted` (the refine DAG resolves the same way: prox_tasks.models.resolve_model) writes
    v1 into the refined rows."""
    import shutil

    from prox_tasks.models.resolver import SHIPPED_MODEL
    from tests.inference.helpers import short_docs

    folders = []
    for i, threshold in enumerate((0.85, 0.8)):  # two taggers that differ in one setting
        folder = tmp_path / f"tagger{i}"
        shutil.copytree(SHIPPED_MODEL, folder, ignore=shutil.ignore_patterns("artifact.json"))
        settings = json.loads((folder / "refiner.json").read_text())
        settings["tagger"]["line_threshold"] = threshold
        (folder / "refiner.json").write_text(json.dumps(settings))
        folders.append(folder)
    root = str(tmp_path / "registry")
    registry = ModelRegistry(root)
    v1 = registry.publish(folders[0], "refiner", "line_tagger", {}, {}, GOOD)["version"]
    assert registry.decide("refiner", v1, GOOD, None).promoted
    v2 = registry.publish(folders[1], "refiner", "line_tagger", {}, {}, BETTER)["version"]
    assert registry.decide("refiner", v2, BETTER, GOOD).promoted
    monkeypatch.setenv("PROX_MODEL_REGISTRY", root)
    monkeypatch.setenv("PROX_CATALOG_URL", f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    docs = tmp_path / "in.jsonl"
    docs.write_text("".join(json.dumps(d) + "\n" for d in short_docs(3)))

    def refine(output: str) -> str:
        assert main(["refine", "--input", str(docs), "--output", str(tmp_path / output),
                     "--model", "promoted", "--no-progress", "--json"]) == 0
        return json.loads(capsys.readouterr().out)["model_version"]

    assert refine("before") == v2
    assert main(["models", "promote", v1, "--reason", "v2 misbehaves"]) == 0
    capsys.readouterr()
    assert refine("after") == v1


def test_a_rolled_back_version_is_not_promoted_again_by_a_decision_only_by_hand(root,
                                                                                tmp_path):
    """v2 rolled back to v1, then decided again (its promote task retried, or a retraining
    that gives the same version): its numbers beat v1's, yet it stays off until an operator
    promotes it by hand; a version promoted by hand again is decided as any other."""
    registry = ModelRegistry(root)
    v1, v2 = two_promoted(registry, tmp_path)
    assert registry.promote("refiner", v1, "v2 drops tables").promoted
    decision = registry.decide("refiner", v2, BETTER, GOOD, incumbent_version=v1)
    assert not decision.promoted and "rolled back by hand" in decision.reason
    assert "v2 drops tables" in decision.reason and f"prox models promote {v2}" in decision.reason
    # of this registry: the bare command promotes in the default one
    assert f"prox models promote {v2} --registry {root} --reason TEXT" in decision.reason
    assert registry.promoted("refiner")["version"] == v1
    assert registry.promote("refiner", v2, "fixed upstream: the tables were the input's").promoted
    assert registry.rolled_back("refiner", v2) is None
    assert registry.decide("refiner", v2, BETTER, GOOD).reason == "already promoted"


def test_a_failed_catalog_booking_after_the_swap_says_the_rollback_is_live(root, tmp_path,
                                                                           monkeypatch, capsys):
    """The catalog cannot be written (its folder is a file: a real fault) after promoted.json
    was replaced: the command says the registry serves the version now and that booking it
    failed, with the way to book it (the same command again), and does not exit 1 as if
    nothing had happened; that retry books it."""
    from prox_tasks.catalog import Catalog

    v1, v2 = two_promoted(ModelRegistry(root), tmp_path)
    (tmp_path / "not-a-folder").write_text("x")
    broken = f"sqlite:///{tmp_path / 'not-a-folder' / 'catalog.sqlite'}"
    code, out, err = prox("models", "--registry", root, "promote", v1, "--reason", "rollback",
                          "--catalog", broken, capsys=capsys)  # fmt: skip
    assert code == 0, err
    assert f"promoted refiner {v1}" in out and "the registry serves it now" in out
    assert "NOT booked in the catalog" in out and f"prox models promote {v1}" in out
    # the way to book it names this registry and catalog: the bare command acts on the
    # default ones, switching what prox refine serves by default
    assert (f"`prox models promote {v1} --registry {root} --catalog <the same catalog URL> "
            "--reason TEXT` again") in out, out
    assert ModelRegistry(root).promoted("refiner")["version"] == v1
    code, out, _ = prox("models", "--registry", root, "promote", v1, "--reason", "rollback",
                        "--catalog", broken, "--json", capsys=capsys)  # fmt: skip
    assert code == 0 and json.loads(out)["catalog_booked"] is False

    catalog = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    code, out, _ = prox("models", "--registry", root, "promote", v1, "--reason", "rollback",
                        "--catalog", catalog, capsys=capsys)  # fmt: skip
    assert code == 0 and "already the promoted model" in out and "booked" in out
    with Catalog(catalog) as booked:
        assert booked.promoted_model("refiner")["version"] == v1


def test_the_catalog_books_what_the_registry_promoted_last_when_promotions_cross(
        root, tmp_path, monkeypatch):
    """Two manual promotions cross: A replaces promoted.json with v1, then B promotes v2 and
    books it, then A books. The catalog must end saying what promoted.json says (v2), not
    the one booked last. The interleaving is forced by a hook on the decision's write (the
    timing cannot be produced for real)."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.registry import registry as module

    catalog = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    registry = ModelRegistry(root, catalog=catalog)
    v1, v2 = two_promoted(registry, tmp_path)
    registry.promote("refiner", v1, "back to v1")
    real_put, crossed = module.put_atomic, []

    def put_while_another_operator_promotes(uri, data, *args, **kwargs):
        if "/decisions/" in str(uri) and not crossed:
            crossed.append(1)
            assert registry.promote("refiner", v2, "forward to v2").promoted
        return real_put(uri, data, *args, **kwargs)

    registry.promote("refiner", v2, "v2 again")  # v2 live; now A rolls back to v1 ...
    monkeypatch.setattr(module, "put_atomic", put_while_another_operator_promotes)
    registry.promote("refiner", v1, "rollback")  # ... and B promotes v2 before A books
    assert registry.promoted("refiner")["version"] == v2
    with Catalog(catalog) as booked:
        assert booked.promoted_model("refiner")["version"] == v2


#: Versions of the S3 listing tests: enough that a read per version per decision shows
#: (2 decisions a version), few enough to publish quickly on moto.
VERSIONS = 20


def _published_versions(registry, tmp_path) -> list[str]:
    """:data:`VERSIONS` versions published, each better than the last, decided twice each
    but the first (refused on other numbers, then promoted: two records; a retry of a
    promoted version records nothing); returns their names, oldest first."""
    versions = []
    for i in range(VERSIONS):
        record = registry.publish(make_artifact(tmp_path / f"a{i}", str(i).encode()), "refiner",
                                  "line_tagger", {}, {}, {**GOOD, "line_f1": 0.5 + i / 200})
        versions.append(record["version"])
        incumbent = None if i == 0 else {**GOOD, "line_f1": 0.5 + (i - 1) / 200}
        if incumbent is not None:
            assert not registry.decide("refiner", record["version"], {**GOOD, "line_f1": 0.1},
                                       incumbent).promoted
        registry.decide("refiner", record["version"], {**GOOD, "line_f1": 0.5 + i / 200},
                        incumbent)
        registry.decide("refiner", record["version"], GOOD, None)  # a retry: not recorded
    return versions


def test_listing_many_versions_on_s3_reads_each_record_once(s3_root, tmp_path, s3_calls,
                                                            capsys):
    """``prox models list`` on S3 read promoted.json through a HEAD then a GET, listed the
    prefix twice and fetched every decision ever taken (rollbacks, retries, refusals) to
    keep the last per version: several requests a version. Now one listing, promoted.json,
    each version's artifact.json and the last decision on it."""
    _published_versions(ModelRegistry(s3_root), tmp_path)
    s3_calls.clear()
    code, out, _ = prox("models", "--registry", s3_root, "list", "--json", capsys=capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == VERSIONS and rows[-1]["promoted"]
    assert all(r["decision"]["candidate"] == r["version"] for r in rows)
    assert rows[-1]["decision"]["promoted"]  # the last one recorded: its promotion
    print(dict(s3_calls))
    assert s3_calls["GetObject"] <= 2 * VERSIONS + 1 and s3_calls["ListObjectsV2"] == 1, s3_calls
    assert s3_calls["HeadObject"] == 0, s3_calls


def test_showing_one_of_many_versions_on_s3_reads_only_its_own_records(s3_root, tmp_path,
                                                                        s3_calls, capsys):
    """``prox models show`` sent a HEAD, two listings and read every version's record and
    every decision ever taken on the model to show one version; now the one listing ``prox
    models list`` makes, promoted.json, the version's artifact.json and its own decisions."""
    versions = _published_versions(ModelRegistry(s3_root), tmp_path)
    s3_calls.clear()
    code, out, _ = prox("models", "--registry", s3_root, "show", versions[10], "--json",
                        capsys=capsys)
    shown = json.loads(out)
    assert code == 0 and shown["version"] == versions[10] and not shown["promoted"]
    assert [d["candidate"] for d in shown["decisions"]] == [versions[10]] * 2
    assert shown["decisions"][-1]["promoted"]  # oldest first: refused, then promoted
    print(dict(s3_calls))
    assert s3_calls["GetObject"] == 4 and s3_calls["ListObjectsV2"] == 1, s3_calls
    assert s3_calls["HeadObject"] == 0, s3_calls


def test_show_names_the_shipped_model_a_first_version_was_compared_with(tmp_path, capsys):
    """A first training run, nothing promoted, is gated against the shipped default on gold;
    ``prox models show`` said "not promoted (incumbent none): gold word F1 0.8205 < incumbent
    0.9147", an incumbent with figures and none at once. It names the shipped model now."""
    root = str(tmp_path / "registry")
    registry = ModelRegistry(root)
    v1 = registry.publish(make_artifact(tmp_path / "a", b"1"), "refiner", "line_tagger", {}, {},
                          GOOD)["version"]  # fmt: skip
    assert not registry.decide("refiner", v1, GOOD, None, GOLD, {**GOLD, "f1": 0.9},
                               "shipped:line-tagger").promoted
    code, out, _ = prox("models", "--registry", root, "show", v1, capsys=capsys)
    assert code == 0 and "not promoted (incumbent shipped:line-tagger): gold word F1" in out, out
    code, out, _ = prox("models", "--registry", root, "promote", v1, "--reason", "trial",
                        "--no-catalog", capsys=capsys)  # fmt: skip
    assert code == 0 and "(was none)" in out
    code, out, _ = prox("models", "--registry", root, "show", v1, capsys=capsys)
    assert "promoted (incumbent none): promoted by hand: trial" in out, out


def test_a_registry_or_model_name_typo_says_what_to_check(root, tmp_path, capsys):
    """``prox models --registry reg11 list`` (a typo for reg1) and ``--name refinr`` said only
    "no version of ... published in ...", as for a registry nothing was trained into yet.
    Now the line names the models the registry holds, or says it holds none."""
    v1, _ = two_promoted(ModelRegistry(root), tmp_path)
    code, out, _ = prox("models", "--registry", root, "--name", "refinr", "list", capsys=capsys)
    assert code == 0 and f"no version of refinr published in {root}" in out
    assert "(it holds refiner: --name picks the model)" in out
    typo = root.rstrip("/") + "1"
    code, out, _ = prox("models", "--registry", typo, "list", capsys=capsys)
    assert code == 0 and "no model is published in it: check --registry" in out, out
    code, _, err = prox("models", "--registry", typo, "promote", v1, "--reason", "x",
                        "--no-catalog", capsys=capsys)  # fmt: skip
    assert code == 1 and "no model is published in it: check --registry" in err, err
    code, _, err = prox("models", "--registry", root, "--name", "refinr", "show", v1,
                        capsys=capsys)  # fmt: skip
    assert code == 1 and "(it holds refiner: --name picks the model)" in err, err


def test_promote_default_rolls_back_to_the_shipped_model_when_no_version_is_older(
        root, tmp_path, monkeypatch, capsys):
    """The first version ever promoted misbehaves: there is no older version to roll back to,
    and the shipped default was never published in the registry, so `prox models promote`
    had nothing to name ('publish it before promoting it', with no command to publish it).
    ``default`` publishes the model `prox refine --model default` uses there and promotes it."""
    from prox_tasks.models import SHIPPED_MODEL, resolve_model

    registry = ModelRegistry(root)
    v1 = registry.publish(make_artifact(tmp_path / "a", b"1"), "refiner", "line_tagger", {}, {},
                          GOOD)["version"]  # fmt: skip
    code, _, _ = prox("models", "--registry", root, "promote", v1, "--reason", "first",
                      "--no-catalog", capsys=capsys)  # fmt: skip
    assert code == 0
    shipped = json.loads((SHIPPED_MODEL / "artifact.json").read_text())["version"]
    for _ in range(2):  # a rerun changes nothing
        code, out, err = prox("models", "--registry", root, "promote", "default", "--reason",
                              "v1 drops forum threads", "--no-catalog", capsys=capsys)  # fmt: skip
        assert code == 0, err
    assert "already the promoted model" in out and shipped in out
    assert registry.promoted("refiner")["version"] == shipped
    assert resolve_model("promoted", registry=root, catalog=False).version == shipped
    last = [d for d in registry.decisions("refiner") if d["promoted"]][-1]
    assert last["manual"] and last["incumbent"] == v1 and "v1 drops forum threads" in last["reason"]

    bare = tmp_path / "bare"  # PROX_DEFAULT_MODEL: a folder prox did not publish
    bare.mkdir()
    (bare / "refiner.json").write_text('{"kind": "line_tagger"}')
    monkeypatch.setenv("PROX_DEFAULT_MODEL", str(bare))
    code, _, err = prox("models", "--registry", root, "promote", "default", "--reason", "x",
                        "--no-catalog", capsys=capsys)  # fmt: skip
    assert code == 1 and "holds no artifact.json" in err
    assert registry.promoted("refiner")["version"] == shipped


def test_a_train_output_inside_a_registry_or_of_another_tool_is_refused_before_training(
        root, tmp_path, capsys):
    """`prox train --output reg/refiner` (the model's folder the summary line shows, not the
    registry root) published into a registry nested in the real one, gated against the
    shipped default instead of the real incumbent; a version folder, a seed set or a refined
    snapshot as --output took a registry inside them. Each is refused before the seed set is
    read, naming what the folder is (and the root, for a model's folder)."""
    from tests.training.fixtures import make_docs
    from tests.training.seed_files import write_seed_set

    registry = ModelRegistry(root)
    version = registry.publish(make_artifact(tmp_path / "a", b"1"), "refiner", "line_tagger",
                               {}, {}, GOOD)["version"]  # fmt: skip
    registry.decide("refiner", version, GOOD, None)
    seed = write_seed_set(tmp_path / "seed", make_docs(4, 1), make_docs(2, 2))
    cases = [
        (f"{root}/refiner", "a model's folder inside a registry (it holds promoted.json or "
                            f"decisions/), not a registry root: the root is {root}"),
        (f"{root}/refiner/{version}", "a model version's folder"),
        (str(seed), "a seed set or a refined snapshot (it holds manifest.json)"),
    ]
    for output, message in cases:
        code, _, err = prox("train", "--seed", str(tmp_path / "no-seed-set-here"), "--output",
                            output, "--work-dir", str(tmp_path / "work"), capsys=capsys)
        assert code == 2 and f"--output {output} is {message}" in err, (output, err)
        assert "no-seed-set-here" not in err and not (tmp_path / "work").exists()
    assert [v["version"] for v in registry.versions("refiner")] == [version]
    assert not (tmp_path / "seed" / "refiner").exists()


def test_a_registry_root_holding_a_model_named_decisions_is_not_refused_as_a_models_folder(
    root, tmp_path, capsys
):
    """`decisions` is a valid model name (prox train --name decisions): its folder beside the
    other models' is not a model's decisions/, and the root it is published in is still a
    registry root prox train publishes to."""
    registry = ModelRegistry(root)
    version = registry.publish(make_artifact(tmp_path / "a", b"1"), "decisions", "line_tagger",
                               {}, {}, GOOD)["version"]  # fmt: skip
    registry.decide("decisions", version, GOOD, None)
    code, _, err = prox("train", "--seed", str(tmp_path / "no-seed-set-here"), "--output",
                        str(root), "--work-dir", str(tmp_path / "work"), capsys=capsys)  # fmt: skip
    assert "not a registry root" not in err, err
    assert code != 0 and "no-seed-set-here" in err  # it went on to read the seed set


def test_a_models_folder_with_decisions_and_nothing_promoted_is_refused_on_s3_too(
    root, tmp_path, capsys
):
    """A model whose candidates were all rejected holds decisions/ and no promoted.json:
    prox train --output REG/refiner was refused as a model's folder locally, but on S3
    (decisions/ is a prefix there, no object a HEAD finds) it nested a registry in it."""
    from prox_tasks.storage import join_uri, put_atomic

    registry = ModelRegistry(root)
    version = registry.publish(make_artifact(tmp_path / "a", b"1"), "refiner", "line_tagger",
                               {}, {}, GOOD)["version"]  # fmt: skip
    put_atomic(join_uri(root, "refiner", "decisions", f"20260101T000000Z-{version}.json"), "{}")
    output = f"{root}/refiner"
    code, _, err = prox("train", "--seed", str(tmp_path / "no-seed-set-here"), "--output",
                        output, "--work-dir", str(tmp_path / "work"), capsys=capsys)  # fmt: skip
    assert code == 2 and f"--output {output} is a model's folder inside a registry" in err, err


def test_promoting_the_promoted_version_again_changes_nothing_the_list_shows(tmp_path,
                                                                             capsys):
    """``prox models promote V --reason R`` run again on the version already promoted (a
    retried script, a second operator) recorded an "already promoted" decision, and ``prox
    models list`` then showed that instead of the reason the operator promoted it for. A
    repeat now records nothing: the list, ``show`` and the decisions stay as they were."""
    root = str(tmp_path / "registry")
    registry = ModelRegistry(root)
    v1, _ = two_promoted(registry, tmp_path)
    code, _, _ = prox("models", "--registry", root, "promote", v1, "--reason",
                      "v2 drops tables", "--no-catalog", capsys=capsys)  # fmt: skip
    assert code == 0
    listed = prox("models", "--registry", root, "list", capsys=capsys)[1]
    shown = prox("models", "--registry", root, "show", v1, capsys=capsys)[1]
    decisions = registry.decisions("refiner")
    assert "promoted by hand: v2 drops tables" in listed
    code, out, _ = prox("models", "--registry", root, "promote", v1, "--reason", "again",
                        "--no-catalog", capsys=capsys)  # fmt: skip
    assert code == 0 and "already the promoted model" in out
    assert prox("models", "--registry", root, "list", capsys=capsys)[1] == listed
    assert prox("models", "--registry", root, "show", v1, capsys=capsys)[1] == shown
    assert registry.decisions("refiner") == decisions


def test_the_word_f1_column_says_why_it_is_empty_without_gold_pages(tmp_path, capsys):
    """A version trained on a seed set whose validation split has no gold pages has no
    word_f1 (evaluate_refiner scores words only against gold): ``prox models list`` showed
    a blank there, as if the figure were lost. It now says ``n/a (no gold pages)``; a version
    with a word F1 shows it."""
    root = str(tmp_path / "registry")
    registry = ModelRegistry(root)
    registry.publish(make_artifact(tmp_path / "a", b"1"), "refiner", "line_tagger", {}, {},
                     GOOD)  # fmt: skip
    registry.publish(make_artifact(tmp_path / "b", b"2"), "refiner", "line_tagger", {}, {},
                     {**GOOD, "word_f1": 0.8125, "gold_docs": 3})  # fmt: skip
    code, out, _ = prox("models", "--registry", root, "list", capsys=capsys)
    assert code == 0
    assert out.count("n/a (no gold pages)") == 1 and "0.8125" in out, out


def test_a_rerun_of_prox_train_keeps_the_reason_an_operator_promoted_its_version_for(
        tmp_path, capsys):  # fmt: skip
    """A rerun of ``prox train`` that returned the version trained before (the same seed set
    and settings) decided its promotion again and recorded an "already promoted" decision:
    after an operator had promoted that version by hand, ``prox models list`` showed that
    instead of the operator's reason. The automatic decision now records nothing when the
    version is already promoted, as ``prox models promote`` does; the rerun still says it is
    the promoted model."""
    from tests.training.fixtures import make_docs
    from tests.training.seed_files import write_seed_set

    root = str(tmp_path / "registry")
    seed = write_seed_set(tmp_path / "seed", make_docs(12, 1), make_docs(4, 2))
    train = ["train", "--json", "--seed", str(seed), "--output", root, "--epochs", "1",
             "--no-gold-gate", "--no-progress"]
    code, out, err = prox(*train, "--no-promote", capsys=capsys)
    assert code == 0, err
    version = json.loads(out)["version"]
    code, _, err = prox("models", "--registry", root, "promote", version, "--reason",
                        "checked by hand on forum pages", "--no-catalog", capsys=capsys)
    assert code == 0, err
    listed = prox("models", "--registry", root, "list", capsys=capsys)[1]
    decisions = ModelRegistry(root).decisions("refiner")
    assert "promoted by hand: c… hand on forum pages" in listed  # cut to the column

    code, out, err = prox(*train, capsys=capsys)  # the rerun: already trained, decided again
    record = json.loads(out)
    assert code == 0 and record["reused"] and record["version"] == version, err
    assert record["promoted"] and record["reason"] == "already promoted"
    assert prox("models", "--registry", root, "list", capsys=capsys)[1] == listed
    assert ModelRegistry(root).decisions("refiner") == decisions


def test_the_gold_columns_say_why_they_are_empty_with_the_gold_gate_off(tmp_path, capsys):
    """A version decided without the gold gate (``prox train --no-gold-gate``) has no gold
    word F1 or recall: ``prox models list`` showed two blank cells, as if the figures were
    lost. They now say ``n/a (gold gate off)``, as word_f1 says why it is empty; a version
    never decided (``--no-promote``) stays blank, as its decision is; --json is unchanged."""
    from tests.training.fixtures import make_docs
    from tests.training.seed_files import write_seed_set

    root = str(tmp_path / "registry")
    seed = write_seed_set(tmp_path / "seed", make_docs(12, 1), make_docs(4, 2))
    code, _, err = prox("train", "--seed", str(seed), "--output", root, "--epochs", "1",
                        "--no-gold-gate", "--no-progress", capsys=capsys)  # fmt: skip
    assert code == 0, err
    code, out, _ = prox("models", "--registry", root, "list", capsys=capsys)
    assert code == 0 and out.splitlines()[1].count("n/a (gold gate off)") == 2, out
    code, out, _ = prox("models", "--registry", root, "list", "--json", capsys=capsys)
    assert json.loads(out)["decision"]["candidate_gold"] is None


def test_the_gold_columns_of_a_version_promoted_by_hand_unscored_do_not_blame_the_gate(
        tmp_path, capsys):
    """``prox models promote default`` (the rollback past the first version) publishes the
    shipped model and promotes it by hand: no gold gate ever scored it there, yet ``list``
    said ``n/a (gold gate off)`` as for a ``--no-gold-gate`` training."""
    root = str(tmp_path / "registry")
    code, _, err = prox("models", "--registry", root, "promote", "default", "--reason",
                        "rollback", "--no-catalog", capsys=capsys)  # fmt: skip
    assert code == 0, err
    code, out, _ = prox("models", "--registry", root, "list", capsys=capsys)
    row = out.splitlines()[1]
    assert code == 0 and row.count("n/a (promoted by hand, never gated)") == 2, out
    assert "gold gate off" not in out


def test_a_promoted_version_removed_by_hand_is_named_where_the_registry_is_used(
        root, tmp_path, monkeypatch, capsys):
    """An operator removes the promoted version's folder. ``prox refine`` said only "no model
    at .../VERSION", ``prox train`` trained and published, then failed at its gold gate with
    "FileNotFoundError: model folder ... does not exist", and ``prox models list`` showed no
    promoted version and said nothing. Each now names the promoted version that is gone and
    how to promote another; promoting one by hand repairs the registry."""
    from prox_tasks.models import resolve_model
    from prox_tasks.storage import join_uri, list_uri, remove_all

    registry = ModelRegistry(root)
    v1, v2 = two_promoted(registry, tmp_path)
    remove_all(list_uri(join_uri(root, "refiner", v2) + "/"))
    monkeypatch.setenv("PROX_MODEL_REGISTRY", root)

    # PromotedVersionGone, a FileNotFoundError as UnknownVersion is
    with pytest.raises(FileNotFoundError, match=f"the promoted refiner {v2} .* not published"):
        resolve_model(None, catalog=False)  # refining, the gold gate's incumbent
    code, out, _ = prox("models", "list", capsys=capsys)
    assert code == 0 and f"note: the promoted refiner {v2}" in out, out
    assert f"published: {v1}" in out and "promote VERSION --reason TEXT" in out

    seed = tmp_path / "no-seed-set-here"  # refused before the seed set is read
    code, _, err = prox("train", "--seed", str(seed), "--output", root, "--epochs", "1",
                        capsys=capsys)
    # a setting to repair, as for prox refine: exit 2, said as written (no type name)
    assert code == 2 and f"prox train: the promoted refiner {v2}" in err, err
    assert "the gold gate and promotion compare" in err
    code, _, err = prox("refine", "--input", str(seed), "--output", str(tmp_path / "out"),
                        "--no-progress", capsys=capsys)
    assert code == 2 and f"prox refine: the promoted refiner {v2}" in err, err

    code, out, _ = prox("models", "promote", v1, "--reason", "v2 removed", "--no-catalog",
                        capsys=capsys)
    assert code == 0 and f"(was {v2})" in out
    assert resolve_model(None, catalog=False).version == v1
    code, out, _ = prox("models", "list", capsys=capsys)
    assert "note:" not in out


def test_a_version_name_given_as_a_model_says_where_its_folder_is(tmp_path, monkeypatch,
                                                                  capsys):
    """``prox refine --model line_tagger-…`` (the version prox train printed) said only "no
    model at $PWD/line_tagger-…", and ``prox calibrate`` "model folder … does not exist".
    Both now name the version's folder in the registry refining reads, or where one is."""
    root = tmp_path / "registry"
    monkeypatch.setenv("PROX_MODEL_REGISTRY", str(root))
    monkeypatch.chdir(tmp_path)
    version = ModelRegistry(str(root)).publish(make_artifact(tmp_path / "a", b"1"), "refiner",
                                               "line_tagger", {}, {}, GOOD)["version"]  # fmt: skip
    pages = tmp_path / "pages.jsonl"
    pages.write_text(json.dumps({"id": "1", "text": "a page", "gold_text": "a page"}) + "\n")
    folder = f"(a version of refiner: give its folder, {root}/refiner/{version})"
    code, _, err = prox("refine", "--input", str(pages), "--output", "out", "--model", version,
                        "--no-progress", capsys=capsys)  # fmt: skip
    assert code == 2 and folder in err, err
    code, _, err = prox("calibrate", "--gold", str(pages), "--model", version, capsys=capsys)
    assert code == 1 and folder in err, err
    other = "causal_lm-0123456789ab"  # published nowhere refining reads
    code, _, err = prox("calibrate", "--gold", str(pages), "--model", other, capsys=capsys)
    assert f"(a model version: give its folder, REGISTRY/refiner/{other})" in err, err


def test_a_version_name_given_as_a_model_is_said_missing_when_the_registry_cannot_be_read(
        tmp_path, monkeypatch, capsys):
    """The hint looks the version up in $PROX_MODEL_REGISTRY; with that registry on an S3
    endpoint where nothing answers, the look-up's error replaced the one the user needs:
    ``prox refine --model line_tagger-…`` (a local path that does not exist) ended with
    'S3: Could not connect to the endpoint URL: …/reg/refiner/line_tagger-…/artifact.json',
    exit 1. The model path is still said missing, with the hint that names no registry. A
    real closed loopback port."""
    from tests.ports import refused_port

    monkeypatch.setenv("PROX_MODEL_REGISTRY", "s3://models/reg")
    monkeypatch.setenv("PROX_S3_ENDPOINT_URL", f"http://127.0.0.1:{refused_port()}")
    monkeypatch.setenv("PROX_S3_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.chdir(tmp_path)
    pages = tmp_path / "pages.jsonl"
    pages.write_text(json.dumps({"id": "1", "text": "a page"}) + "\n")
    version = "line_tagger-0123456789ab"
    code, _, err = prox("refine", "--input", str(pages), "--output", "out", "--model", version,
                        "--no-progress", capsys=capsys)  # fmt: skip
    assert code == 2, err
    assert f"no model at {tmp_path}/{version}" in err and \
        f"(a model version: give its folder, REGISTRY/refiner/{version})" in err, err


def test_a_damaged_promoted_json_is_named_and_a_promotion_by_hand_replaces_it(
        root, tmp_path, monkeypatch, capsys):
    """A PUT of bad bytes over ``promoted.json`` (a broken sync, a hand edit). Every use of
    the registry failed with a bare "JSONDecodeError: Expecting value: line 1 column 1
    (char 0)" naming no file — ``prox refine``, ``prox models list`` — and ``prox models
    promote``, the documented repair, failed the same way, so nothing could fix it. Each now
    names the file and says to promote by hand, which replaces it; an automatic decision
    never replaces it (it cannot tell which model it would displace)."""
    from prox_tasks.models import resolve_model
    from prox_tasks.storage import join_uri, put_atomic

    registry = ModelRegistry(root)
    v1, v2 = two_promoted(registry, tmp_path)
    promoted = join_uri(root, "refiner", "promoted.json")
    monkeypatch.setenv("PROX_MODEL_REGISTRY", root)
    for bad in (b"\x00garbage" * 10, b'["not", "a", "record"]', b'{"uri": "no version"}'):
        put_atomic(promoted, bad)
        # PromotedRecordDamaged, a PromotedVersionGone: exit 2, a DAG task not retried
        with pytest.raises(FileNotFoundError, match=f"{promoted} is damaged"):
            resolve_model(None, catalog=False)
    code, out, _ = prox("models", "list", capsys=capsys)
    assert code == 0 and f"note: {promoted} is damaged (it names no version)" in out, out
    assert f"published: {', '.join(sorted((v1, v2)))}" in out
    assert "promote VERSION --reason TEXT" in out
    code, _, err = prox("refine", "--input", str(tmp_path / "none.jsonl"), "--output",
                        str(tmp_path / "out"), "--no-progress", capsys=capsys)
    assert code == 2 and f"prox refine: {promoted} is damaged" in err, err
    with pytest.raises(FileNotFoundError):  # a training's decision replaces nothing
        registry.decide("refiner", v1, BETTER, None)
    code, out, _ = prox("models", "promote", v1, "--reason", "promoted.json damaged",
                        "--no-catalog", capsys=capsys)
    assert code == 0 and f"promoted refiner {v1}" in out, out
    assert resolve_model(None, catalog=False).version == v1


def test_a_damaged_artifact_json_refuses_the_version_never_runs_it_under_another(
        root, tmp_path, monkeypatch, capsys):
    """Bad bytes PUT over a published version's ``artifact.json`` and its weights changed:
    loading it skipped the unreadable record and ran the changed files under the version
    their digest gives — ``prox refine`` with ``line_tagger-157c…`` promoted refined with
    ``line_tagger-2ff7…`` and said "(registry)" — and ``prox models list`` failed with a
    bare JSONDecodeError. Both now refuse it, naming the version's ``artifact.json``."""
    from prox_tasks.models.artifact import artifact_version
    from prox_tasks.registry import fetch_folder
    from prox_tasks.storage import join_uri, put_atomic

    registry = ModelRegistry(root)
    v1, v2 = two_promoted(registry, tmp_path)
    record = join_uri(root, "refiner", v2, "artifact.json")
    put_atomic(join_uri(root, "refiner", v2, "sub", "weights.bin"), b"changed weights")
    for bad in (b"\x00garbage" * 10, b'{"version": "' + v2.encode() + b'"}'):
        put_atomic(record, bad)
        # S3: the object's URI, not the model cache's copy; local: the file
        with pytest.raises(ValueError,  # ArtifactRecordDamaged, an ArtifactChanged
                           match=f"{record.removeprefix('file://')} is damaged"):
            artifact_version(fetch_folder(join_uri(root, "refiner", v2)))
    code, _, err = prox("models", "--registry", root, "list", capsys=capsys)
    assert code != 0 and f"{record} is damaged (no sha256)" in err, err


def test_a_damaged_decision_record_is_named_by_list_show_and_a_decision(root, tmp_path,
                                                                        capsys):
    """Bad bytes PUT over a decision record: ``prox models list``, ``show`` and ``prox
    train``'s decision failed with a bare "JSONDecodeError: Expecting value", naming no
    file. Each now names it and the way out; a decision still refuses to go on (a rollback
    the record holds would go unseen)."""
    from prox_tasks.storage import join_uri, list_uri, put_atomic

    registry = ModelRegistry(root)
    v1, v2 = two_promoted(registry, tmp_path)
    record = [u for u in list_uri(join_uri(root, "refiner", "decisions")) if u.endswith(
        f"-{v2}.json")][-1]  # fmt: skip
    put_atomic(record, b"\x00garbage")
    said = f"{record} is damaged (not JSON"
    for action in (["list"], ["show", v2]):
        code, _, err = prox("models", "--registry", root, *action, capsys=capsys)
        # exit 2, and a DAG task is not retried: rereading the same bytes cannot succeed
        assert code == 2 and said in err and "put the record back" in err, (action, err)
    from prox_tasks.pipeline.errors import cannot_succeed
    from prox_tasks.registry import DecisionRecordDamaged

    assert issubclass(DecisionRecordDamaged, cannot_succeed())
    with pytest.raises(ValueError, match=re.escape(said)):
        registry.decide("refiner", v1, BETTER, GOOD)


def test_publishing_a_folder_whose_artifact_json_is_damaged_names_it(tmp_path):
    """``publish_artifact`` (``prox models promote default`` publishing the shipped folder)
    read the folder's ``artifact.json`` with a bare ``json.loads``: bad bytes there failed as
    "JSONDecodeError: Expecting value", naming no file. It reads it as every reader of a
    published record does (:func:`prox_tasks.models.artifact.artifact_record`)."""
    import shutil
    from pathlib import Path

    import prox_tasks
    from prox_tasks.models.artifact import ArtifactRecordDamaged

    folder = tmp_path / "line-tagger"
    shutil.copytree(Path(prox_tasks.__file__).parent / "models" / "line-tagger", folder)
    (folder / "artifact.json").write_bytes(b"\x00garbage")
    registry = ModelRegistry(str(tmp_path / "registry"))
    with pytest.raises(ArtifactRecordDamaged, match=re.escape(f"{folder / 'artifact.json'} is "
                                                              "damaged (not JSON")):
        registry.publish_artifact(folder, "refiner")
    assert registry.versions("refiner") == []


def test_a_promotion_in_a_registry_elsewhere_is_not_booked_in_the_default_catalog(
        tmp_path, monkeypatch, capsys):
    """``prox models promote --registry ELSEWHERE`` booked the promotion in the default
    catalog, whose promoted model prox refine serves when the default registry has none:
    promoting in an experiment registry switched it. It follows prox train's rule now
    (:func:`prox_tasks.pipeline.settings.registry_catalog`): the default catalog for the
    default registry only, another registry's in ``--catalog`` when named."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.pipeline import settings

    monkeypatch.setenv("PROX_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PROX_CATALOG_URL", raising=False)
    monkeypatch.delenv("PROX_MODEL_REGISTRY", raising=False)
    elsewhere = str(tmp_path / "experiments")
    v1, _ = two_promoted(ModelRegistry(elsewhere), tmp_path)
    code, out, err = prox("models", "promote", v1, "--reason", "try v1", "--registry",
                          elsewhere, capsys=capsys)
    assert code == 0 and "booked in the catalog" not in out, (out, err)
    default = settings.catalog_url()
    with Catalog(default) as catalog:
        assert catalog.promoted_model("refiner") is None  # prox refine's default unchanged
    named = f"sqlite:///{tmp_path / 'experiments.sqlite'}"
    code, out, err = prox("models", "promote", v1, "--reason", "try v1", "--registry",
                          elsewhere, "--catalog", named, capsys=capsys)
    assert code == 0 and f"booked in the catalog {named}" in out, (out, err)
    with Catalog(named) as catalog:
        assert catalog.promoted_model("refiner")["version"] == v1


def test_promote_default_with_the_catalog_down_still_rolls_back(tmp_path, capsys):
    """``prox models promote default`` (the rollback to the shipped model) with a catalog that
    cannot be written (its folder is a file: a real fault) published the shipped model, then
    stopped on its booking (exit 1, "published … but not booked"), promoting nothing: an
    outage of the catalog blocked the rollback. The registry serves the shipped model now,
    and the line says the promotion is not booked, with the way to book it."""

    root = str(tmp_path / "registry")
    (tmp_path / "not-a-folder").write_text("x")
    broken = f"sqlite:///{tmp_path / 'not-a-folder' / 'catalog.sqlite'}"
    code, out, err = prox("models", "--registry", root, "promote", "default", "--reason",
                          "rollback", "--catalog", broken, capsys=capsys)  # fmt: skip
    assert code == 0, err
    version = ModelRegistry(root).promoted("refiner")["version"]
    assert f"promoted refiner {version}" in out, out
    assert "the registry serves it now" in out and "NOT booked in the catalog" in out, out


def test_a_gone_or_damaged_promoted_model_s_advice_is_promote_command(tmp_path, monkeypatch):
    """Its advice spelled the command by hand, ``prox models --registry R --name N promote
    VERSION``, with no ``--catalog`` for a registry elsewhere booked in one: followed, the
    promotion was booked in no catalog. It is ``promote_command``'s now, as every other
    "promote again" advice."""
    from prox_tasks.registry import PromotedVersionGone
    from prox_tasks.storage import join_uri, list_uri, put_atomic, remove_all

    monkeypatch.setenv("PROX_MODEL_REGISTRY", str(tmp_path / "default"))
    root = str(tmp_path / "elsewhere")
    registry = ModelRegistry(root, catalog=f"sqlite:///{tmp_path}/team.sqlite")
    v1, v2 = two_promoted(registry, tmp_path)
    said = f"prox models promote VERSION --registry {root} --catalog <the same catalog URL> "
    remove_all(list_uri(join_uri(root, "refiner", v2) + "/"))
    with pytest.raises(PromotedVersionGone) as gone:
        registry.promoted_published("refiner")
    assert f"{said}--reason TEXT (published: {v1})" in str(gone.value), gone.value
    put_atomic(join_uri(root, "refiner", "promoted.json"), b"\x00garbage")
    with pytest.raises(PromotedVersionGone) as damaged:
        registry.promoted("refiner")
    assert f"{said}--reason TEXT (published: {v1})" in str(damaged.value), damaged.value
    monkeypatch.setenv("PROX_MODEL_REGISTRY", root)  # the default registry: the bare command
    with pytest.raises(PromotedVersionGone, match=r": prox models promote VERSION --reason"):
        ModelRegistry(root).promoted("refiner")


@pytest.mark.parametrize("url", ["notadb://x", "mysql://prox@db/prox"])
def test_a_catalog_url_that_cannot_work_is_not_told_to_retry(tmp_path, capsys, url):
    """A promotion booked in a catalog URL that can never work (a database SQLAlchemy does
    not know, a driver not installed) said to promote again "once the catalog can be
    written": with the same URL it fails the same way. It says to correct the URL and
    promote naming the corrected one; an outage (the catalog's folder a file, a real
    fault) still says to run the same command again."""
    from prox_tasks.registry import CatalogNotBooked

    root = str(tmp_path / "registry")
    registry = ModelRegistry(root, catalog=url)
    rec = ModelRegistry(root).publish(make_artifact(tmp_path / "a", b"1"), "refiner",
                                      "line_tagger", {}, {}, GOOD)  # fmt: skip
    with pytest.raises(CatalogNotBooked) as failed:
        registry.promote("refiner", rec["version"], "by hand")
    said = str(failed.value)
    assert "once the catalog can be written" not in said, said
    assert (f"correct it where it is given (--catalog, the training DAG's catalog_url Param, "
            f"else PROX_CATALOG_URL), then run prox models promote {rec['version']} --registry "
            f"{root} --catalog <the corrected catalog URL> --reason TEXT") in said, said
    code, out, _ = prox("models", "--registry", root, "promote", rec["version"], "--reason",
                        "t", "--catalog", url, capsys=capsys)
    assert "cannot work" in out and "<the corrected catalog URL>" in out, out
    assert "once the catalog can be written" not in out, out
    (tmp_path / "afile").write_text("x")
    outage = f"sqlite:///{tmp_path}/afile/c.sqlite"
    code, out, _ = prox("models", "--registry", root, "promote", rec["version"], "--reason",
                        "t", "--catalog", outage, capsys=capsys)
    assert (f"once the catalog can be written, run `prox models promote {rec['version']} "
            f"--registry {root} --catalog <the same catalog URL> --reason TEXT` again") in out
