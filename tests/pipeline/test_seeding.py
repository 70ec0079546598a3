"""The task bodies of prox_seed_label, run in order without Airflow on the bundled sample."""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from prox_tasks.pipeline import seeding, training
from prox_tasks.pipeline.errors import RunError

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "sample.jsonl.gz"


def read_gz(uri: str) -> list[dict]:
    with gzip.open(uri.removeprefix("file://"), "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> Path:
    """The 300 sample pages (6 sources) plus two malformed records."""
    path = tmp_path_factory.mktemp("snapshot") / "snapshot.jsonl"
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as src, open(path, "w") as out:
        shutil.copyfileobj(src, out)
        out.write('{"id": "broken-0", "text": "cut off\n{not json}\n')
    return path


def params(snapshot, root, **extra) -> dict:
    return {"input_uri": str(snapshot), "seed_root": str(root), "seed_set_name": "s1",
            "teacher": "rules", "sample_size": 40, "label_shard_docs": 15, "random_seed": 0,
            "catalog_url": f"sqlite:///{root / 'catalog.sqlite'}", **extra}


def run_all(snapshot, root, max_invalid_rate=0.05, **extra):
    plan = seeding.sample(params(snapshot, root, **extra), None)
    parts = [seeding.label_shard(plan, i) for i in plan["shards"]]
    checked = seeding.validate(plan, parts, max_invalid_rate)
    seed_set = seeding.split(plan, parts, checked, 10)
    return plan, parts, checked, seed_set, seeding.register(plan, seed_set)


@pytest.mark.parametrize("catalog_url", ["sqlite:///catalog.sqlite", "sqlite://"])
def test_a_sqlite_catalog_each_worker_would_open_its_own_fails_sample(catalog_url, snapshot,
                                                                      tmp_path, monkeypatch):
    """A relative SQLite catalog_url (or one in memory) was taken: each task booked into
    a file in its worker's working directory. sample now refuses it, before sampling."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RunError, match="the catalog_url Param names a SQLite catalog"):
        seeding.sample(params(snapshot, tmp_path / "seeds", catalog_url=catalog_url), None)
    assert not (tmp_path / "seeds").exists() and not (tmp_path / "catalog.sqlite").exists()


def test_seed_set_is_stratified_versioned_registered_and_readable(snapshot, tmp_path):
    from prox_tasks.catalog import Catalog
    from prox_tasks.training.seedset import load_seed_set

    plan, parts, checked, seed_set, event = run_all(snapshot, tmp_path)
    drawn = plan["sample"]
    assert plan["shards"] == [0, 1, 2] and [p["read"] for p in parts] == [14, 13, 13]
    # 4 sample pages have empty text; plus the 2 malformed lines: counted, not sampled
    assert drawn["sampled"] == 40 and drawn["snapshot_docs"] == 296
    assert sum(drawn["input_quarantined"].values()) == 6 and drawn["input_quarantined"][
        "empty_text"] == 4
    # stratified by source: proportional shares (161/300 wcxb, 60/300 trafilatura, ...)
    assert sum(drawn["strata"].values()) == 40
    sources = Counter(d["source"] for f in drawn["files"] for d in read_gz(f))
    assert abs(sources["wcxb"] - 40 * 161 / 300) <= 2
    assert abs(sources["trafilatura-evaluation"] - 40 * 60 / 300) <= 2
    assert len(sources) >= 5

    manifest = json.loads((tmp_path / "s1" / "manifest.json").read_text())
    assert manifest["format"] == "prox-seed-set/1" and manifest["name"] == "s1"
    assert manifest["version"] == seed_set["version"] == event["version"]
    assert manifest["splits"] == {"train": "train.jsonl.gz", "validation": "validation.jsonl.gz"}
    sizes = manifest["sizes"]
    assert sizes["sampled"] == 40 and sizes["valid"] == checked["valid"]
    assert sizes["train"] + sizes["validation"] == sizes["valid"] == 40 - sizes["rejected"]
    assert sizes["train"] > 0 and sizes["validation"] > 0

    assert event["uri"] == seed_set["manifest_uri"] and event["uri"].endswith("s1/manifest.json")
    loaded = load_seed_set(event["uri"])
    assert loaded.version == manifest["version"]
    assert len(loaded.train) == sizes["train"] and len(loaded.validation) == sizes["validation"]
    # prox_train_refiner takes the seed set from the Asset event
    assert training.resolve_seed_set({}, [event])["uri"] == event["uri"]

    row = Catalog(plan["catalog_url"]).get_seed_set("s1")
    assert row["teacher"] == "rules" and row["num_docs"] == sizes["valid"]
    assert row["stats"]["version"] == manifest["version"]


def test_retries_and_reruns_give_the_same_seed_set(snapshot, tmp_path):
    plan, parts, _, first, _ = run_all(snapshot, tmp_path / "a")
    labels = [Path(p["output"].removeprefix("file://")).read_bytes() for p in parts]
    retried = [seeding.label_shard(plan, i) for i in plan["shards"]]
    assert all(p["reused"] for p in retried) and not any(p["reused"] for p in parts)
    assert [Path(p["output"].removeprefix("file://")).read_bytes() for p in retried] == labels
    again = seeding.split(plan, retried, seeding.validate(plan, retried, 0.05), 10)
    assert again["version"] == first["version"]

    *_, fresh, _ = run_all(snapshot, tmp_path / "b")
    assert fresh["version"] == first["version"]
    assert (tmp_path / "a/s1/train.jsonl.gz").read_bytes() == \
        (tmp_path / "b/s1/train.jsonl.gz").read_bytes()
    other = seeding.sample(params(snapshot, tmp_path / "c", random_seed=1), None)
    ids = {d["id"] for f in plan["sample"]["files"] for d in read_gz(f)}
    assert ids != {d["id"] for f in other["sample"]["files"] for d in read_gz(f)}


def test_rejected_labels_keep_their_reasons_and_fail_the_gate(snapshot, tmp_path):
    """The diff teacher needs gold text: the sampled pages without it are rejected."""
    plan = seeding.sample(params(snapshot, tmp_path, teacher="diff"), None)
    without_gold = sum("gold_text" not in d for f in plan["sample"]["files"]
                       for d in read_gz(f))
    assert 0 < without_gold < 40
    parts = [seeding.label_shard(plan, i) for i in plan["shards"]]
    with pytest.raises(ValueError, match="missing_gold") as err:
        seeding.validate(plan, parts, 0.05)
    assert f"delete {plan['root']}/labels" in str(err.value)  # how to label again
    # the reasons in words (not a Python dict), and what to do about rows without gold
    assert f"missing_gold {without_gold}" in str(err.value) and "{" not in str(err.value)
    assert "the diff teacher needs rows with a gold_text field; choose another" in str(err.value)
    checked = seeding.validate(plan, parts, 1.0)
    assert checked["rejected_reasons"]["missing_gold"] == without_gold
    assert checked["rejected"] >= without_gold
    seed_set = seeding.split(plan, parts, checked, 10)
    rejected = read_gz(seed_set["files"]["rejected"])
    assert len(rejected) == seed_set["sizes"]["rejected"] == checked["rejected"]
    assert sum(r["reasons"] == ["missing_gold"] for r in rejected) == without_gold
    assert seed_set["rejected_reasons"]["missing_gold"] == without_gold
    # the quarantined documents count as covered: a retry reuses the shard
    assert all(seeding.label_shard(plan, i)["reused"] for i in plan["shards"])


def test_labels_of_another_teacher_are_not_reused(snapshot, tmp_path):
    plan = seeding.sample(params(snapshot, tmp_path), None)
    seeding.label_shard(plan, 0)
    relabeled = seeding.label_shard({**plan, "teacher": "diff"}, 0)
    assert not relabeled["reused"] and relabeled["teacher"]["name"] == "diff"
    with pytest.raises(ValueError, match="labeled shards"):
        seeding.validate(plan, [relabeled], 1.0)


def test_a_label_task_that_returned_nothing_is_named_with_the_way_out(snapshot, tmp_path):
    """A label_shard task marked success in the UI (while it ran, or before) returns no
    part: validate said only "labeled shards [0, 2] != planned [0, 1, 2]"; it now names
    the task to clear."""
    plan = seeding.sample(params(snapshot, tmp_path), None)
    parts = [seeding.label_shard(plan, i) for i in plan["shards"]]
    del parts[1]
    with pytest.raises(RunError, match=r"label_shard tasks \(map index\) \[1\] ended without "
                                       r"a result \(marked success .*\): clear those "
                                       r"label_shard tasks with their downstream tasks"):
        seeding.validate(plan, parts, 1.0)


def edit_first_sampled(path: Path, first: dict, new_lines: str) -> None:
    rows = path.read_text().splitlines(keepends=True)
    for i, line in enumerate(rows):
        if line.startswith("{") and f'"id": "{first["id"]}"' in line:
            row = json.loads(line)
            rows[i] = json.dumps({**row, "text": new_lines + row["text"]}) + "\n"
    path.write_text("".join(rows))


NEW_LINES = "".join(f"A brand new paragraph {i} with many real words.\n" for i in range(8))


def test_a_rerun_over_an_edited_input_makes_a_new_seed_set_and_keeps_the_old(snapshot, tmp_path):
    """Same Params, one sampled text edited since: a named seed set is refused (replacing it
    would take a trained model's seed set away), a default-named run writes a new seed set
    whose labels are of the new text, and the old seed set's files stay as they were."""
    edited = tmp_path / "snapshot.jsonl"
    edited.write_bytes(snapshot.read_bytes())
    plan, parts, _, old_set, _ = run_all(edited, tmp_path / "root", seed_set_name=None)
    old_train = Path(old_set["files"]["train"].removeprefix("file://")).read_bytes()
    first = read_gz(plan["sample"]["files"][0])[0]
    named, *_ = run_all(edited, tmp_path / "named")
    edit_first_sampled(edited, first, NEW_LINES)

    with pytest.raises(RunError, match=r"seed set s1 exists with other Params \(input_digest "
                                       r".*\(the input was rewritten since\)"):
        seeding.sample(params(edited, tmp_path / "named"), None)
    plan2, parts2, _, seed_set, _ = run_all(edited, tmp_path / "root", seed_set_name=None)
    assert plan2["name"] != plan["name"] and plan2["root"] != plan["root"]
    assert seed_set["version"] != old_set["version"]
    assert Path(old_set["files"]["train"].removeprefix("file://")).read_bytes() == old_train
    from prox_tasks.labeling import get_teacher

    text = NEW_LINES + first["text"]
    fresh = get_teacher("rules").label_rows([text], [{}])[0]
    trained = {r["id"]: r for s in ("train", "validation") for r in read_gz(seed_set["files"][s])}
    assert trained[first["id"]]["text"] == text
    assert trained[first["id"]]["chunk_program"] == fresh.chunk_program


def test_a_label_part_is_reused_only_for_the_sample_bytes_it_was_made_from(snapshot, tmp_path):
    """A sample shard rewritten under the same plan (same ids, one text changed): its old
    labels are not reused — they would train on the wrong lines; the other parts are."""
    plan, parts, *_ = run_all(snapshot, tmp_path)
    sample_file = Path(plan["sample"]["files"][0].removeprefix("file://"))
    rows = read_gz(str(sample_file))
    rows[0]["text"] = NEW_LINES + rows[0]["text"]
    with gzip.open(sample_file, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    again = [seeding.label_shard(plan, i) for i in plan["shards"]]
    assert [p["reused"] for p in again] == [False] + [True] * (len(again) - 1)
    from prox_tasks.labeling import get_teacher

    fresh = get_teacher("rules").label_rows([rows[0]["text"]], [{}])[0]
    relabeled = {r["id"]: r for r in read_gz(again[0]["output"])}[rows[0]["id"]]
    assert relabeled["chunk_program"] == fresh.chunk_program


def test_a_retry_reuses_the_labels_of_the_best_teacher(snapshot, tmp_path):
    """The best teacher's rows name the teacher that labeled each (diff, rules ...): a retry
    still reuses them instead of paying the teacher again."""
    plan = seeding.sample(params(snapshot, tmp_path, teacher="best"), None)
    parts = [seeding.label_shard(plan, i) for i in plan["shards"]]
    labels = [Path(p["output"].removeprefix("file://")).read_bytes() for p in parts]
    retried = [seeding.label_shard(plan, i) for i in plan["shards"]]
    assert not any(p["reused"] for p in parts) and all(p["reused"] for p in retried)
    assert [Path(p["output"].removeprefix("file://")).read_bytes() for p in retried] == labels
    assert [p["valid"] for p in retried] == [p["valid"] for p in parts]


def test_of_two_runs_claiming_one_seed_set_with_other_params_one_is_refused(snapshot, tmp_path):
    """Two seed runs naming seed set s1 with other Params at the same moment: the one that
    reads params.json while the other is writing it waits and reads what was written, so it
    is refused instead of overwriting the other's claim."""
    from tests.storage.writer_lock import start_while_locked, writer_in_the_middle

    claim = tmp_path / "root" / "s1" / "params.json"
    with writer_in_the_middle(claim):
        late, raised = start_while_locked(
            claim, seeding.sample, params(snapshot, tmp_path / "root", sample_size=30), None)
        assert not claim.exists()  # it waits for the writer caught mid-write
        # that writer (sample_size 40) claims s1 now, through its own sample() call's Params
        claim.write_text(json.dumps(seeding_params_of(snapshot, tmp_path / "other")))
    late.join(60)
    assert len(raised) == 1 and "seed set s1 exists with other Params (sample_size 40 -> 30" \
        in str(raised[0])
    assert json.loads(claim.read_text())["sample_size"] == 40


def seeding_params_of(snapshot, root) -> dict:
    """The params.json a sample() of the default test Params writes."""
    seeding.sample(params(snapshot, root), None)
    return json.loads((root / "s1" / "params.json").read_text())


def test_a_seed_set_name_registered_for_another_seed_root_is_refused_before_sampling(
        snapshot, tmp_path):
    """seed_set_name s1 under another seed_root would move the catalog's s1 row to the new
    folder (a model trained on the first would point at the second): refused at once."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.catalog.catalog import SeedSetNameTaken

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    run_all(snapshot, tmp_path / "a", catalog_url=url)
    row = Catalog(url).get_seed_set("s1")
    with pytest.raises(SeedSetNameTaken, match=r"seed set name 's1' is registered for "
                       r".*/a/s1, not .*/b/s1; name this one apart \(seed_set_name"):
        seeding.sample(params(snapshot, tmp_path / "b", catalog_url=url), None)
    assert not (tmp_path / "b").exists()
    assert Catalog(url).get_seed_set("s1") == row


def test_a_run_over_a_mistyped_input_does_not_claim_the_seed_set(snapshot, tmp_path):
    """input_uri naming no file claimed seed set s1 for it before failing: the rerun with the
    input fixed was refused as one with other Params. Nothing is claimed now. Its way out is
    said once: it was "…names no file: check the input's path: check input_uri"."""
    with pytest.raises(RunError, match="check input_uri") as err:
        seeding.sample(params(tmp_path / "no-such.jsonl", tmp_path / "root"), None)
    said = str(err.value)
    assert said.endswith("names no file: check input_uri") and said.count("check") == 1, said
    assert not (tmp_path / "root" / "s1" / "params.json").exists()
    assert seeding.sample(params(snapshot, tmp_path / "root"), None)["name"] == "s1"


def test_the_default_input_missing_beside_dags_deployed_alone_says_where_to_get_it(tmp_path):
    """prox installed from a wheel, the DAGs copied to an Airflow folder of their own: the
    default input_uri, the bundled sample above that folder, is not there. The run said only
    'no input files at …/data/sample/sample.jsonl.gz … check input_uri'; it now says the
    sample is the repository's, and both ways out. Nothing is claimed."""
    missing = str(tmp_path / "airflow" / "data" / "sample" / "sample.jsonl.gz")
    with pytest.raises(RunError) as err:
        seeding.sample(params(missing, tmp_path / "root"), None, bundled_sample=missing)
    said = str(err.value)
    assert f"input_uri is its default, the bundled sample {missing}, which is not there" in said
    assert "prox installed from a wheel" in said and "Give input_uri (your crawl" in said
    assert f"copy data/sample/ of the same prox release to {tmp_path}/airflow/data/sample/" in said
    assert 'docs/deploy.md, "Installing prox from a wheel"' in said
    assert not (tmp_path / "root" / "s1" / "params.json").exists()
    # another missing input is the user's own: the plain message, not the sample's
    with pytest.raises(RunError, match="check input_uri") as err:
        seeding.sample(params(tmp_path / "no-such.jsonl", tmp_path / "root"), None,
                       bundled_sample=missing)
    assert "bundled sample" not in str(err.value)


def test_a_seed_set_written_before_params_json_is_compared_by_its_manifest(snapshot, tmp_path):
    """A seed set folder as a prox before params.json left it (the file removed here): a
    rerun with another sample size or seed is refused, naming the difference as its
    manifest.json tells it, and leaves the seed set as it was; the same Params go on and
    claim it. A folder with files but no manifest (a run cut before it wrote one) cannot be
    compared and is refused, saying so."""
    root = tmp_path / "root"
    run_all(snapshot, root)
    (root / "s1" / "params.json").unlink()
    manifest = (root / "s1" / "manifest.json").read_bytes()
    for other, differs in (({"sample_size": 30}, "sample_size 40 -> 30"),
                           ({"random_seed": 3}, "random_seed 0 -> 3"),
                           ({"teacher": "diff"}, "teacher 'rules' -> 'diff'")):
        with pytest.raises(RunError, match=rf"seed set s1 exists with other Params \({differs}\)"
                                           r" \(as its manifest.json tells: the folder was "
                                           r"written before params.json\)"):
            seeding.sample(params(snapshot, root, **other), None)
        assert (root / "s1" / "manifest.json").read_bytes() == manifest
        assert not (root / "s1" / "params.json").exists()
    assert seeding.sample(params(snapshot, root), None)["name"] == "s1"
    assert json.loads((root / "s1" / "params.json").read_text())["sample_size"] == 40

    cut = tmp_path / "cut"
    seeding.sample(params(snapshot, cut), None)  # sampled, then cut: no manifest.json
    (cut / "s1" / "params.json").unlink()
    with pytest.raises(RunError, match=r"seed set s1 \(.*\) was written before params.json "
                                       r"recorded its settings and holds no readable "
                                       r"manifest.json .*; choose another seed_set_name"):
        seeding.sample(params(snapshot, cut, sample_size=30), None)
    assert not (cut / "s1" / "params.json").exists()


def test_the_seed_set_names_the_reasons_validate_counted_for_quarantined_rows(tmp_path):
    """validate counts the parts' quarantine reasons (missing_html for a page whose HTML is
    empty), but split's manifest said not_labeled for the same rows: the two steps of one
    run disagreed on why. split takes the parts' quarantine reasons now."""
    pytest.importorskip("trafilatura")
    from tests.labeling.test_html import page_html, page_text

    rows = [{"id": f"p{i}", "text": page_text(), "html": page_html()} for i in range(16)]
    rows += [{"id": f"e{i}", "text": page_text(), "html": ""} for i in range(2)]
    snapshot = tmp_path / "pages.jsonl"
    snapshot.write_text("".join(json.dumps(r) + "\n" for r in rows))
    plan = seeding.sample(params(snapshot, tmp_path, teacher="html", sample_size=18), None)
    parts = [seeding.label_shard(plan, i) for i in plan["shards"]]
    checked = seeding.validate(plan, parts, 0.5)
    assert checked["rejected_reasons"] == {"missing_html": 2}
    seed_set = seeding.split(plan, parts, checked, 25)
    assert seed_set["rejected_reasons"] == checked["rejected_reasons"]


def _validated_then_a_label_taken_out(snapshot, tmp_path):
    """A seed run's sample, labels and validate, then part 0's first label line taken out
    of its file (one valid label fewer than validate counted): (plan, parts, checked)."""
    plan = seeding.sample(params(snapshot, tmp_path), None)
    parts = [seeding.label_shard(plan, i) for i in plan["shards"]]
    checked = seeding.validate(plan, parts, 0.05)
    labels = Path(parts[0]["output"].removeprefix("file://"))
    with gzip.open(labels, "rt", encoding="utf-8") as fh:
        lines = fh.readlines()
    with gzip.open(labels, "wt", encoding="utf-8") as fh:
        fh.writelines(lines[1:])
    return plan, parts, checked


def test_labels_changed_since_validate_publish_no_seed_set(snapshot, tmp_path):
    """A labels file edited between validate and split (a label line taken out: one valid
    label fewer) failed split only after its splits and manifest were published: a seed set
    that validate never passed stayed visible, unregistered, and every retry failed the
    same. split refuses before anything is published."""
    from prox_tasks.storage import exists, join_uri

    plan, parts, checked = _validated_then_a_label_taken_out(snapshot, tmp_path)
    with pytest.raises(RunError, match=f"{checked['valid'] - 1} valid labels, but validate "
                                       f"passed {checked['valid']}"):  # fmt: skip
        seeding.split(plan, parts, checked, 10)
    assert not exists(join_uri(plan["root"], "manifest.json"))
    assert not exists(join_uri(plan["root"], "train.jsonl.gz"))


def test_labels_changed_since_validate_say_the_way_out_and_it_works(snapshot, tmp_path):
    """split's refusal of labels changed since validate (no retries: validate's count comes
    from the label tasks' results, so clearing split or validate alone fails the same) said
    only "the labels changed since". It says which tasks to clear, and doing so (each
    label_shard task run again: the part whose file changed is labeled again, the others
    reused, then validate and split) writes the seed set."""
    from prox_tasks.storage import exists, join_uri

    plan, parts, checked = _validated_then_a_label_taken_out(snapshot, tmp_path)
    with pytest.raises(RunError, match="clear the label_shard tasks with their downstream "
                                       "tasks"):  # fmt: skip
        seeding.split(plan, parts, checked, 10)
    parts = [seeding.label_shard(plan, i) for i in plan["shards"]]  # cleared: run again
    assert [p["reused"] for p in parts] == [False] + [True] * (len(parts) - 1)
    seed_set = seeding.split(plan, parts, seeding.validate(plan, parts, 0.05), 10)
    assert seed_set["sizes"]["valid"] == checked["valid"]
    assert exists(join_uri(plan["root"], "manifest.json"))
