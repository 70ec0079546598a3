"""Seed sets: manifests, plain JSONL, deterministic id splits, malformed rows."""

from __future__ import annotations

import gzip
import hashlib
import json
import time

import pytest

from prox_tasks.training.seedset import id_bucket, load_seed_set, split_by_id
from tests.training.seed_files import write_seed_set

DOC = {"text": "a\nb", "doc_program": "keep_doc()", "chunk_program": "keep_chunk()"}


def test_manifest_splits_and_version(tmp_path):
    folder = write_seed_set(tmp_path / "seed", [{**DOC, "id": "t1"}], [{**DOC, "id": "v1"}], "s-7")
    for uri in (str(folder), str(folder / "manifest.json"), f"file://{folder}"):
        seed = load_seed_set(uri)
        assert seed.version == "s-7"
        assert [d["id"] for d in seed.train] == ["t1"]
        assert [d["id"] for d in seed.validation] == ["v1"]


def test_a_relative_seed_path_is_recorded_as_its_absolute_uri(tmp_path, monkeypatch):
    """``prox train --seed seeds`` from the folder holding it: the seed set (and so the
    model's artifact.json, its provenance) names file:///…/seeds, not "seeds"."""
    folder = write_seed_set(tmp_path / "seeds", [{**DOC, "id": "t1"}], [{**DOC, "id": "v1"}],
                            "s-8")
    monkeypatch.chdir(tmp_path)
    for stream in (False, True):
        assert load_seed_set("seeds", stream=stream).describe()["uri"] == folder.as_uri()


def test_single_file_split_by_id_is_stable(tmp_path):
    docs = [{**DOC, "id": f"d{i}"} for i in range(200)]
    path = tmp_path / "seed.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.writelines(json.dumps(d) + "\n" for d in docs)
    seed = load_seed_set(str(path), valid_percent=10)
    assert len(seed.train) + len(seed.validation) == 200 and 5 < len(seed.validation) < 40
    # the same id lands on the same side whatever the order or the company it keeps
    train, valid = split_by_id(list(reversed(docs[:50])), 10)
    assert {d["id"] for d in valid} == {d["id"] for d in seed.validation if int(d["id"][1:]) < 50}
    assert id_bucket("d3") == id_bucket("d3") and 0 <= id_bucket("x") < 100


def test_malformed_rows_are_counted_not_fatal(tmp_path):
    folder = tmp_path / "seed"
    folder.mkdir()
    lines = [json.dumps({**DOC, "id": "ok"}), "{not json", json.dumps({"id": "no-text"}),
             json.dumps({"id": "no-program", "text": "x"}), "", json.dumps({**DOC, "id": "ok2"})]
    (folder / "train.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "valid.jsonl").write_text(json.dumps({**DOC, "id": "v"}) + "\n")
    seed = load_seed_set(str(folder))
    assert [d["id"] for d in seed.train] == ["ok", "ok2"]
    assert [d["id"] for d in seed.validation] == ["v"]
    assert [why.split(":")[0] for _, _, why in seed.skipped] == ["bad line", "no text", "no program"]
    assert len(seed.version) == 12


@pytest.mark.parametrize("label, why", [
    ({"chunk_program": "remove_lines(line_start=oops"}, "bad chunk_program: missing closing"),
    ({"chunk_program": "delete_everything()"}, "bad chunk_program: unknown function"),
    ({"chunk_program": "remove_lines(line_start=5, line_end=2)"}, "bad chunk_program: "
                                                                  "remove_lines() line_start 5"),
    ({"chunk_program": 123}, "chunk_program is an int, not a program"),
    ({"doc_program": "drop_doc"}, "bad doc_program: expected NAME"),
    ({"doc_program": "DROP_DOC()"}, "bad doc_program: unknown function"),
    ({"doc_program": ["keep_doc()"]}, "doc_program is a list, not a program"),
    ({"valid": False}, "label rejected by its teacher's checks"),
    ({"gold_text": 12345}, "gold_text is an int, not a text"),
    ({"gold_text": ["a b"]}, "gold_text is a list, not a text"),
    ({"id": ["x"]}, "id is a list, not a string or number"),
    ({"id": {"x": 1}}, "id is a dict, not a string or number"),
    ({"id": True}, "id is a bool, not a string or number"),
    ({"teacher": ["rules"]}, "teacher is a list, not a name"),
    ({"text": ""}, "empty text"),
    ({"text": " \n\t"}, "empty text"),
    ({"chunk_program": "remove_lines(line_start=2, line_end=9)"},
     "chunk_program past the text: remove_lines(line_start=2, line_end=9) starts after line 1"),
    ({"chunk_program": "# chunk 5-9\nkeep_chunk()"},
     "chunk_program past the text: # chunk 5-9 starts after line 1"),
])  # fmt: skip
def test_labels_that_do_not_parse_are_skipped_not_trained_as_keep_everything(tmp_path, label,
                                                                             why):
    path = tmp_path / "seed.jsonl"
    rows = [{**DOC, "id": f"d{i}"} for i in range(20)] + [{**DOC, "id": "bad", **label}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    seed = load_seed_set(str(path))
    assert len(seed.train + seed.validation) == 20
    assert [w for _, line, w in seed.skipped] and seed.skipped[0][1] == 21
    assert seed.skipped[0][2].startswith(why)


def test_repeated_ids_and_validation_pages_in_training_are_left_out(tmp_path):
    folder = tmp_path / "seed"
    folder.mkdir()
    train = [{**DOC, "id": i} for i in ("a", "b", "a", "v1")]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train))
    (folder / "valid.jsonl").write_text("".join(json.dumps({**DOC, "id": i}) + "\n"
                                                for i in ("v1", "v2")))  # fmt: skip
    seed = load_seed_set(str(folder))
    assert [d["id"] for d in seed.train] == ["a", "b"]
    assert [d["id"] for d in seed.validation] == ["v1", "v2"]
    assert seed.describe()["skipped_reasons"] == {"also in validation": 1, "repeated id": 1}


def test_a_seed_set_whose_files_changed_since_it_was_written_is_refused(tmp_path, capsys):
    """`prox label --seed-set` records each split's SHA-256: training on changed files would
    publish a model as trained on a version it was not trained on."""
    from prox_tasks.cli import main
    from prox_tasks.training.seedset import SeedSetChanged
    from tests.dags.crawl import sample_rows, write_jsonl

    source = write_jsonl(tmp_path / "pages.jsonl", sample_rows(40))
    seed = tmp_path / "seed"
    assert main(["label", "--input", str(source), "--output", str(seed), "--seed-set",
                 "--sample-size", "40", "--no-register"]) == 0  # fmt: skip
    loaded = load_seed_set(str(seed))
    assert loaded.train and loaded.validation and not loaded.skipped
    rows = gzip.decompress((seed / "train.jsonl.gz").read_bytes()).splitlines(keepends=True)
    (seed / "train.jsonl.gz").write_bytes(gzip.compress(b"".join(rows[1:])))  # one row less
    with pytest.raises(SeedSetChanged, match="train.jsonl.gz changed after its seed set"):
        load_seed_set(str(seed))


@pytest.mark.parametrize("valid", [[], [{"id": "v1", "text": "a\nb"}]], ids=["empty", "all-left-out"])
def test_a_named_validation_split_without_rows_is_refused_not_replaced(tmp_path, capsys, valid):
    """Validation decides the epoch and promotion: a manifest's empty validation split must not
    silently become a hash split of the training rows."""
    from prox_tasks.cli import main

    folder = write_seed_set(tmp_path / "seed", [{**DOC, "id": f"t{i}"} for i in range(40)], valid)
    assert load_seed_set(str(folder)).validation == []
    registry = tmp_path / "registry"
    assert main(["train", "--seed", str(folder), "--output", str(registry), "--epochs", "1",
                 "--work-dir", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert "has no validation documents" in err and not registry.exists()
    assert ("(1 row left out (1 no program))" in err) == bool(valid)  # words, no dict
    assert "{" not in err


def test_the_train_dag_s_refusal_of_a_seed_set_without_validation_names_what_it_can_set(
        tmp_path):
    """prox_train_refiner has no valid_percent Param (the labeling DAG draws the split): its
    refusal of a seed set without validation rows said '... or none and the valid_percent
    Param above 0', a Param its trigger form does not have. prox train still names its flag."""
    from prox_tasks.training.run import TrainingRefused, TrainJob

    folder = write_seed_set(tmp_path / "seed", [{**DOC, "id": f"t{i}"} for i in range(40)], [])
    job = TrainJob(seed=str(folder), output=str(tmp_path / "registry"), epochs=1)
    seed = load_seed_set(str(folder))
    with pytest.raises(TrainingRefused) as refused:
        job.check(seed, caller="dag")
    assert "prox_seed_label's valid_percent Param" in str(refused.value)
    assert "the valid_percent Param above 0" not in str(refused.value)
    with pytest.raises(TrainingRefused, match="or none and --valid-percent above 0"):
        job.check(seed, caller="cli")


def test_null_ids_get_their_texts_hash_not_one_shared_id(tmp_path):
    path = tmp_path / "seed.jsonl"
    rows = [{**DOC, "id": None, "text": f"page {i}\nb"} for i in range(10)] + [{**DOC, "id": 7}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    seed = load_seed_set(str(path))
    assert len(seed.train + seed.validation) == 11 and not seed.skipped
    assert "7" in {d["id"] for d in seed.train + seed.validation}


def test_seed_ids_are_the_ids_the_refine_readers_give_the_same_records(tmp_path):
    """A labeled page has the id it has in the refined output (one rule: id_text), so a
    seed set can be joined to refined documents and split the same way."""
    from prox_tasks.corpus import read_documents

    path = tmp_path / "seed.jsonl"
    rows = [{**DOC, "id": 12345.0}, {**DOC, "id": 7}, {**DOC, "id": 1.50},
            {**DOC, "id": None, "text": "no id\nb"}, {**DOC, "id": "s"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    refined = [doc.id for doc in read_documents(str(path))]
    assert refined == ["12345", "7", "1.5", refined[3], "s"] and len(refined[3]) == 32
    for stream in (False, True):
        seed = load_seed_set(str(path), valid_percent=0, stream=stream)
        assert not seed.skipped and [d["id"] for d in seed.train] == refined


def test_an_id_the_refine_readers_refuse_is_left_out(tmp_path):
    path = tmp_path / "seed.jsonl"
    rows = [{**DOC, "id": "a"}, {**DOC, "id": " "}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    seed = load_seed_set(str(path), valid_percent=0)
    assert [d["id"] for d in seed.train] == ["a"]
    assert [(line, w) for _, line, w in seed.skipped] == [(2, "bad id: field 'id' is ' '")]


def _mixed_rows(n: int) -> list[str]:
    """JSONL lines with what loading leaves out or fills: bad lines, rows that cannot train,
    null ids, repeated ids."""
    lines = []
    for i in range(n):
        lines.append(json.dumps({**DOC, "id": f"d{i}", "teacher": "rules" if i % 3 else "diff"}))
        if i % 7 == 0:
            lines += ["{not json", json.dumps({"id": f"x{i}"}), json.dumps({**DOC, "id": "d0"})]
        if i % 11 == 0:
            lines.append(json.dumps({**DOC, "id": None, "text": f"t{i}\nu"}))
    return lines


@pytest.mark.parametrize("layout", ["manifest", "folder", "split by id"])
def test_streamed_training_rows_are_the_listed_ones_in_order(tmp_path, layout):
    """``prox train`` leaves the training rows in their files: read again, they are the
    rows (ids filled in, the left-out ones left out) the in-memory load lists, in order."""
    from prox_tasks.training.seedset import StreamedRows

    folder = tmp_path / "seed"
    folder.mkdir()
    (folder / "a.jsonl").write_text("\n".join(_mixed_rows(60)) + "\n")
    with gzip.open(folder / "b.jsonl.gz", "wt") as fh:
        fh.write("\n".join(_mixed_rows(90)[20:]) + "\n")
    if layout != "split by id":
        (folder / "valid.jsonl").write_text(json.dumps({**DOC, "id": "d5"}) + "\n")
    if layout == "manifest":
        (folder / "manifest.json").write_text(json.dumps(
            {"version": "m", "splits": {"train": ["a.jsonl", "b.jsonl.gz"],
                                        "validation": "valid.jsonl"}}))  # fmt: skip
    listed = load_seed_set(str(folder))
    streamed = load_seed_set(str(folder), stream=True)
    assert isinstance(streamed.train, StreamedRows) and len(streamed.train) == len(listed.train)
    assert list(streamed.train) == listed.train == list(streamed.train)  # every pass the same
    assert isinstance(streamed.validation, StreamedRows)
    assert list(streamed.validation) == listed.validation and streamed.skipped == listed.skipped
    assert streamed.describe() == listed.describe()
    assert streamed.train_teachers() == listed.train_teachers() == {"rules", "diff", None}
    with pytest.raises(TypeError):
        streamed.train[0]  # a row is not fetched alone: it would read its file up to it


def test_streamed_training_rows_refuse_a_file_changed_since_loading(tmp_path):
    from prox_tasks.training.seedset import SeedSetChanged

    folder = write_seed_set(tmp_path / "seed", [{**DOC, "id": f"t{i}"} for i in range(5)],
                            [{**DOC, "id": "v"}])  # fmt: skip
    seed = load_seed_set(str(folder), stream=True)
    write_seed_set(folder, [{**DOC, "id": f"t{i}"} for i in (0, 1, 7, 3, 4)], [{**DOC, "id": "v"}])
    with pytest.raises(SeedSetChanged, match="line 3 holds id 't7'"):
        list(seed.train)
    write_seed_set(folder, [{**DOC, "id": f"t{i}"} for i in range(3)], [{**DOC, "id": "v"}])
    with pytest.raises(SeedSetChanged, match="'t3', is gone"):
        list(seed.train)


def test_streamed_training_rows_refuse_a_row_rewritten_under_its_id(tmp_path):
    """A split file rewritten in place with the same ids on the same lines (labels written
    again, another teacher) must not be trained on as the version loaded: the rows read
    again were never checked (a label that does not parse would train), and the model would
    be published as trained on the seed set version read at load."""
    from prox_tasks.training.seedset import SeedSetChanged

    rows = [{**DOC, "id": f"t{i}"} for i in range(5)]
    folder = write_seed_set(tmp_path / "seed", rows, [{**DOC, "id": "v"}])
    seed = load_seed_set(str(folder), stream=True)
    assert list(seed.train) == rows
    relabeled = [*rows[:2], {**rows[2], "chunk_program": "remove_lines(line_start=9)"},
                 *rows[3:]]
    write_seed_set(folder, relabeled, [{**DOC, "id": "v"}])
    with pytest.raises(SeedSetChanged, match=r"line 3, id 't2', holds other content"):
        list(seed.train)


@pytest.mark.parametrize("layout", ["manifest", "split by id"])
def test_streamed_validation_rows_are_read_from_the_files_first_ones_or_first_with_gold(
        tmp_path, layout):
    """``prox train`` leaves the validation pages in their files too, and reads only the
    ones a use needs: the first N (evaluation), or the first N with gold (calibration and
    ``--select-epoch gold``), even when the gold pages come late in the split."""
    from prox_tasks.training.seedset import StreamedRows

    rows = [{**DOC, "id": f"v{i}", "gold_text": "Some text." if i >= 30 else None}
            for i in range(50)]
    folder = tmp_path / "seed"
    if layout == "manifest":
        write_seed_set(folder, [{**DOC, "id": "t"}], rows)
    else:
        folder.mkdir()
        (folder / "pages.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    listed = load_seed_set(str(folder), valid_percent=60).validation
    streamed = load_seed_set(str(folder), valid_percent=60, stream=True).validation
    assert isinstance(streamed, StreamedRows) and list(streamed) == listed and len(listed) > 10
    with_gold = [r for r in listed if r.get("gold_text")]
    assert 5 < len(with_gold) < len(listed)
    assert list(streamed.first(5)) == listed[:5]
    assert list(streamed.first(5, gold=True)) == with_gold[:5]
    assert list(streamed.first(None, gold=True)) == with_gold
    assert len(streamed.first(5, gold=True)) == 5 and not streamed.first(0)


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 server over HTTP; ``faults.seen`` logs every request it answers."""
    from tests.storage.s3server import FaultyMotoServer

    server = FaultyMotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_seed_root(s3_server, monkeypatch):
    """``s3://<fresh bucket>``, prox's storage pointed at the server."""
    import uuid

    from prox_tasks.storage import S3Settings, configure_s3, get_client

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    configure_s3(S3Settings(endpoint_url=s3_server.endpoint_url, region_name="us-east-1",
                            addressing_style="path"))  # fmt: skip
    bucket = f"prox-{uuid.uuid4().hex[:12]}"
    get_client().create_bucket(Bucket=bucket)
    yield f"s3://{bucket}"
    configure_s3(None)


def _upload(folder, root: str) -> None:
    from prox_tasks.storage import get_client, parse_uri

    bucket = parse_uri(root).bucket
    for path in sorted(folder.iterdir()):
        get_client().upload_file(str(path), bucket, f"seed/{path.name}")


@pytest.mark.parametrize("layout", ["manifest with checksums", "folder"])
def test_an_s3_seed_sets_files_are_fetched_once_a_pass(tmp_path, s3_server, s3_seed_root,
                                                       layout):
    """Training from S3 fetches a training file twice — the load that indexes and checks
    it, the pass that trains on it — and a validation file once per pass over it: the
    manifest's checksum and a folder's version are taken in the load's read, not by
    downloading each file once more. The version and the checks stay what they were."""
    from prox_tasks.training.run import TrainJob, run_training
    from prox_tasks.training.seedset import SeedSetChanged
    from tests.training.fixtures import make_docs

    folder = write_seed_set(tmp_path / "seed", make_docs(30, 1), make_docs(12, 2))
    expected = hashlib.sha256()
    if layout == "folder":
        (folder / "manifest.json").unlink()
        for path in sorted(folder.iterdir()):
            expected.update(path.name.encode() + path.read_bytes())
    else:  # what prox label --seed-set records: the decompressed content's SHA-256
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["sha256"] = {split: hashlib.sha256(gzip.open(folder / f"{split}.jsonl.gz")
                                                    .read()).hexdigest()
                              for split in ("train", "validation")}  # fmt: skip
        (folder / "manifest.json").write_text(json.dumps(manifest))
    _upload(folder, s3_seed_root)
    uri = f"{s3_seed_root}/seed"
    s3_server.faults.seen.clear()
    epochs = 2
    out = run_training(TrainJob(seed=uri, output=str(tmp_path / "registry"), epochs=epochs,
                                max_eval_docs=5, promote=False, gold_gate=False, threads=1,
                                work_dir=str(tmp_path / "work")))  # fmt: skip
    bucket = s3_seed_root.removeprefix("s3://")
    gets = {name: sum(1 for method, path in s3_server.faults.seen
                      if method == "GET" and path == f"/{bucket}/seed/{name}")
            for name in ("train.jsonl.gz", "validation.jsonl.gz")}  # fmt: skip
    # validation: the load, the checkpoint's digest, calibration (fewer than 20 pages with
    # gold: their texts read, nothing scored), then two reads a scoring — the texts scored
    # together, then the metrics counted a page at a time, no page held — each epoch's and
    # the final evaluation's
    assert gets == {"train.jsonl.gz": 2, "validation.jsonl.gz": 3 + 2 * (epochs + 1)}
    if layout == "folder":
        assert out["seed_set"]["version"] == expected.hexdigest()[:12]
    else:
        assert out["seed_set"]["version"] == "test-1"
        write_seed_set(folder, make_docs(30, 3), make_docs(12, 2))  # the manifest's checksums
        (folder / "manifest.json").write_text(json.dumps(manifest))  # no longer hold
        _upload(folder, s3_seed_root)
        with pytest.raises(SeedSetChanged, match="train.jsonl.gz changed after its seed set"):
            load_seed_set(uri, stream=True)


def test_evaluate_and_promote_fetch_only_an_s3_seed_sets_validation_file(tmp_path, s3_server,
                                                                        s3_seed_root):
    """The training DAG's evaluate and promote tasks measure the promoted model on the first
    validation pages: from a manifest that names its validation file they fetch that file
    (the load that indexes and checks it, the read of the first pages), never the training
    file, and still refuse a validation file changed since its manifest's checksum."""
    from prox_tasks.pipeline import training
    from prox_tasks.registry import ModelRegistry
    from prox_tasks.training.seedset import SeedSetChanged
    from tests.inference.helpers import build_tagger_artifact
    from tests.training.fixtures import make_docs

    good = {"doc_f1": 0.9, "line_f1": 0.9, "chunk_failure_rate": 0.0}
    registry = ModelRegistry(tmp_path / "registry", catalog=f"sqlite:///{tmp_path}/cat.sqlite")
    published = {name: registry.publish(build_tagger_artifact(tmp_path / "models" / name,
                                                              seed=seed),
                                        "refiner", "line_tagger", {}, {}, good)
                 for name, seed in (("a", 1), ("b", 2), ("candidate", 3))}  # fmt: skip
    assert registry.decide("refiner", published["a"]["version"], good, None).promoted
    folder = write_seed_set(tmp_path / "seed", make_docs(30, 1), make_docs(12, 2))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["sha256"] = {split: hashlib.sha256(gzip.open(folder / f"{split}.jsonl.gz")
                                                .read()).hexdigest()
                          for split in ("train", "validation")}  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest))
    _upload(folder, s3_seed_root)
    seed = {"uri": f"{s3_seed_root}/seed", "registry": registry.root,
            "catalog_url": registry.catalog}
    candidate = {"name": "refiner", "version": published["candidate"]["version"],
                 "uri": published["candidate"]["uri"], "metrics": good}
    params = {"threads": 1, "gold_gate": False, "max_eval_docs": 5, "backend": None}
    bucket = s3_seed_root.removeprefix("s3://")

    def gets() -> dict:
        return {name: sum(1 for method, path in s3_server.faults.seen
                          if method == "GET" and path == f"/{bucket}/seed/{name}")
                for name in ("train.jsonl.gz", "validation.jsonl.gz")}  # fmt: skip

    s3_server.faults.seen.clear()
    measured = training.evaluate(seed, candidate, params)
    assert measured["incumbent"] == published["a"]["version"] and measured["metrics"]
    # the load, then the scoring's two reads (the texts, then the metrics a page at a time)
    assert gets() == {"train.jsonl.gz": 0, "validation.jsonl.gz": 3}
    # B promoted between evaluate and promote: promote measures B again, as evaluate did
    assert registry.decide("refiner", published["b"]["version"], good, None,
                           incumbent_version=published["a"]["version"]).promoted
    write_seed_set(folder, make_docs(30, 1), make_docs(12, 3))  # the validation checksum
    (folder / "manifest.json").write_text(json.dumps(manifest))  # no longer holds
    _upload(folder, s3_seed_root)
    with pytest.raises(SeedSetChanged, match="validation.jsonl.gz changed after its seed set"):
        training.evaluate(seed, candidate, params)
    write_seed_set(folder, make_docs(30, 1), make_docs(12, 2))  # as it was
    (folder / "manifest.json").write_text(json.dumps(manifest))
    _upload(folder, s3_seed_root)
    s3_server.faults.seen.clear()
    assert training.promote(seed, candidate, measured, params)["remeasured"]
    assert gets() == {"train.jsonl.gz": 0, "validation.jsonl.gz": 3}
    alone = load_seed_set(seed["uri"], stream=True, validation_only=True)
    whole = load_seed_set(seed["uri"], stream=True)
    assert (alone.version, list(alone.validation)) == (whole.version, list(whole.validation))
    assert len(alone.train) == 0 and len(whole.train) == 30


def _large_seed_set(folder, n_train: int, n_valid: int):
    """A seed set of ``n_train`` + ``n_valid`` rows (make_docs' pages again under new
    ids: labeling 50k pages would take minutes), as prox label --seed-set writes it."""
    from tests.training.fixtures import make_docs

    pages = make_docs(200, 1)
    rows = [{**pages[i % 200], "id": f"t{i}"} for i in range(n_train)]
    # gzip's fastest level: its default (9) spent ~50 of this test's ~70 s compressing
    return write_seed_set(folder, rows, [{**pages[i % 200], "id": f"v{i}"}
                                         for i in range(n_valid)], compresslevel=1)  # fmt: skip


def test_the_train_dag_s_first_task_reads_the_start_of_a_large_s3_seed_set_not_all_of_it(
        tmp_path, s3_server, s3_seed_root):
    """resolve_seed_set read a whole seed set to check it — on S3, for a 50k-row seed set,
    a full extra read of every file before train reads (and checks) it all again. It reads
    the manifest and the first SAMPLE_ROWS lines of each file now: every file is opened (a
    split gone still fails it), what train checks of every row is left to train."""
    from prox_tasks.pipeline import training
    from prox_tasks.storage import get_client
    from prox_tasks.training.run import TrainingRefused

    folder = _large_seed_set(tmp_path / "seed", 50_000, 5_000)
    _upload(folder, s3_seed_root)
    bucket = s3_seed_root.removeprefix("s3://")
    params = {"seed_uri": f"{s3_seed_root}/seed", "registry": str(tmp_path / "registry"),
              "catalog_url": f"sqlite:///{tmp_path}/c.sqlite"}
    s3_server.faults.seen.clear()
    started = time.perf_counter()
    assert training.resolve_seed_set(params, [])["uri"] == params["seed_uri"]
    took = time.perf_counter() - started
    gets = {name: sum(1 for method, path in s3_server.faults.seen
                      if method == "GET" and path == f"/{bucket}/seed/{name}")
            for name in ("train.jsonl.gz", "validation.jsonl.gz")}  # fmt: skip
    print(f"resolve_seed_set: {took:.2f} s, GETs {gets}")
    assert gets == {"train.jsonl.gz": 2, "validation.jsonl.gz": 2}, gets  # its start
    get_client().delete_object(Bucket=bucket, Key="seed/validation.jsonl.gz")
    with pytest.raises(TrainingRefused, match="validation.jsonl.gz"):
        training.resolve_seed_set(params, [])


def test_a_seed_set_read_in_part_is_marked_and_not_refused_for_what_its_start_lacks(tmp_path):
    """The first rows of a large training file are all left out (labels without text):
    the sample proves nothing of the rest, so resolve_seed_set lets train decide; a seed
    set read whole within the sample is checked as before."""
    from prox_tasks.pipeline import training
    from prox_tasks.training.run import TrainingRefused
    from tests.training.fixtures import make_docs

    pages = make_docs(20, 1)
    no_text = [{k: v for k, v in page.items() if k != "text"} | {"id": f"n{i}"}
               for i, page in enumerate(pages * 60)]  # fmt: skip
    rows = no_text[: training.SAMPLE_ROWS + 5] + [{**pages[0], "id": "late"}]
    folder = write_seed_set(tmp_path / "seed", rows, make_docs(6, 2))
    params = {"seed_uri": str(folder), "registry": str(tmp_path / "registry"),
              "catalog_url": f"sqlite:///{tmp_path}/c.sqlite"}
    training.resolve_seed_set(params, [])
    sampled = load_seed_set(str(folder), stream=True, sample_rows=training.SAMPLE_ROWS)
    assert sampled.partial and not sampled.train
    assert not load_seed_set(str(folder), stream=True).partial
    small = write_seed_set(tmp_path / "small", no_text[:50], make_docs(6, 2))
    with pytest.raises(TrainingRefused, match="has no training documents"):
        training.resolve_seed_set({**params, "seed_uri": str(small)}, [])


@pytest.mark.parametrize("manifest", [{"files": [], "id": "abc", "output_uri": "file:///x"}, []],
                         ids=["refined-snapshot", "not-an-object"])
def test_a_folder_whose_manifest_is_not_a_seed_sets_is_refused_saying_so(tmp_path, capsys,
                                                                        manifest):
    """`prox train --seed` pointed at a refined snapshot (its manifest.json lists shards, no
    split) said only 'has no training documents'; a manifest.json that is no JSON object
    failed with an AttributeError. Both now say the manifest is not a seed set's."""
    from prox_tasks.cli import main

    folder = tmp_path / "snapshot"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    registry = tmp_path / "registry"
    assert main(["train", "--seed", str(folder), "--output", str(registry), "--epochs", "1",
                 "--work-dir", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert "manifest.json is not a seed-set manifest: it names no train or validation" in err
    assert "prox label --seed-set" in err and not registry.exists()


@pytest.mark.parametrize(("edit", "said"), [
    ({"splits": {"train": 5, "validation": "validation.jsonl.gz"}}, "its split 'train' is 5"),
    ({"splits": {"train": [None], "validation": "validation.jsonl.gz"}},
     "its split 'train' is [None]"),
    ({"splits": "train.jsonl.gz"}, "its splits is 'train.jsonl.gz'"),
    ({"sha256": "abc"}, "its sha256 is 'abc'"),
    ({"sha256": {"train": 5}}, "its sha256 is {'train': 5}"),
])  # fmt: skip
def test_a_seed_set_manifest_of_another_shape_is_refused_saying_what_not_a_type_error(
        tmp_path, capsys, edit, said):
    """A seed set's manifest.json edited so that a split names a number (or no name), or
    its checksums are no object: ``prox train`` failed with a bare ``TypeError: 'int'
    object is not iterable`` (or an ``AttributeError``), exit 1, naming neither the
    manifest nor the field. It is refused (exit 2) saying which field, and how to mend it."""
    from prox_tasks.cli import main
    from tests.training.fixtures import make_docs

    folder = write_seed_set(tmp_path / "seed", make_docs(20), make_docs(6, 1))
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, **edit}))
    registry = tmp_path / "registry"
    assert main(["train", "--seed", str(folder), "--output", str(registry), "--epochs", "1",
                 "--no-gold-gate", "--work-dir", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert f"seed-set manifest {(folder / 'manifest.json').as_uri()}: {said}" in err, err
    assert "write the seed set again (prox label --seed-set)" in err and not registry.exists()


def test_a_seed_set_folder_that_lost_its_manifest_is_refused_and_its_command_rebuilds_it(
        tmp_path, capsys):
    """A seed-set folder whose manifest.json was deleted (or a copy that left it out) was read
    as a plain folder of JSONL files: its sample/ and labels/ files too (their rows counted
    as "no program" / "no text" left out), its checksums unchecked, its version another. It
    is refused, saying what is missing and the command that writes it again — which does
    (the same version); a plain folder of seed rows is still read."""
    from prox_tasks.cli import main
    from tests.labeling.conftest import SAMPLE

    seed = tmp_path / "seed"
    label = ["label", "--input", str(SAMPLE), "--output", str(seed), "--seed-set",
             "--sample-size", "30", "--val-fraction", "0.2", "--no-register"]
    assert main(label) == 0
    version = load_seed_set(str(seed)).version
    (seed / "manifest.json").unlink()
    registry = tmp_path / "registry"
    assert main(["train", "--seed", str(seed), "--output", str(registry), "--epochs", "1",
                 "--work-dir", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert f"{seed.as_uri()}/manifest.json is missing" in err, err
    assert "params.json, sample/, labels/, rejected.jsonl.gz" in err
    assert "checksums cannot be verified" in err
    assert f"prox label --seed-set --output {seed}" in err
    assert not registry.exists()
    assert main(label) == 0  # the advice: the same command writes the manifest again
    assert load_seed_set(str(seed)).version == version
    plain = tmp_path / "plain"  # a documented input: a folder of JSONL seed rows
    plain.mkdir()
    for name in ("train.jsonl.gz", "validation.jsonl.gz"):
        (plain / name).write_bytes((seed / name).read_bytes())
    loaded = load_seed_set(str(plain))
    assert (len(loaded.train), len(loaded.validation), loaded.skipped) == (23, 7, [])


@pytest.mark.parametrize("layout", ["manifest", "split by id"])
@pytest.mark.parametrize("stream", [False, True])
def test_pages_of_the_gold_set_are_left_out_and_counted(tmp_path, layout, stream):
    """A seed set built over the pages the gold gate scores on (WCXB dev) holds gold pages:
    ``leave_out`` keeps them out of both splits — by id, or by text under another id,
    written out again — and counts them; the rest are the rows of the seed set without
    them, in the same order and on the same sides; the version is the files'."""
    from prox_tasks.evaluation.goldset import gold_pages
    from prox_tasks.labeling import get_teacher
    from tests.training.fixtures import gold_page_rows, make_docs

    gold = gold_page_rows(3)
    # the third under another id, its lines indented and spaced as another writer would
    gold[2] = {**gold[2], "id": "crawl-0042",
               "text": "\r\n\r\n".join(f"  {line} " for line in gold[2]["text"].split("\n"))}
    gold[2]["chunk_program"] = get_teacher("rules").label(gold[2]["text"]).chunk_program
    train, valid = make_docs(30, 1), make_docs(8, 2)

    def write(folder, train_rows, valid_rows):
        if layout == "manifest":
            return str(write_seed_set(folder, train_rows, valid_rows, "v-1"))
        folder.mkdir()
        with gzip.open(folder / "seed.jsonl.gz", "wt") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in train_rows + valid_rows)
        return str(folder / "seed.jsonl.gz")

    with_gold = write(tmp_path / "with", train[:10] + gold[:2] + train[10:], valid + gold[2:])
    without = write(tmp_path / "without", train, valid)
    seed = load_seed_set(with_gold, stream=stream, leave_out=gold_pages())
    clean = load_seed_set(without, stream=stream)
    assert list(seed.train) == list(clean.train) and list(seed.validation) == list(clean.validation)
    described = seed.describe()
    assert described["gold_pages_left_out"] == 3
    assert described["skipped_reasons"] == {"in the gold set": 3}
    assert described["gold_set"] == gold_pages().version
    assert described["gold_set"].startswith("wcxb-gold-v1-")
    assert sorted(why for _, _, why in seed.skipped) == [
        "in the gold set: its id is a gold page's", "in the gold set: its id is a gold page's",
        "in the gold set: its text is a gold page's"]
    # the version is the files' own: a manifest's, or a folder's hash of every byte read
    assert seed.version == load_seed_set(with_gold).version
    assert len(load_seed_set(with_gold).train) + len(load_seed_set(with_gold).validation) == 41


def test_a_seed_set_without_gold_pages_is_loaded_as_before(tmp_path):
    """Leaving out the gold pages changes nothing of a seed set that holds none: the same
    version, rows, splits and record (but for saying none was found)."""
    from prox_tasks.evaluation.goldset import gold_pages
    from tests.training.fixtures import make_docs

    folder = tmp_path / "seed"
    folder.mkdir()
    (folder / "a.jsonl").write_text("\n".join(_mixed_rows(40)) + "\n")
    for stream in (False, True):
        before = load_seed_set(str(folder), stream=stream)
        now = load_seed_set(str(folder), stream=stream, leave_out=gold_pages())
        assert now.version == before.version and now.skipped == before.skipped
        assert list(now.train) == list(before.train)
        assert list(now.validation) == list(before.validation)
        assert now.describe() == {**before.describe(), "gold_set": gold_pages().version,
                                  "gold_pages_left_out": 0}  # fmt: skip
    seed = write_seed_set(tmp_path / "m", make_docs(20, 1), make_docs(5, 2), "m-1")
    assert load_seed_set(str(seed), leave_out=gold_pages()).version == "m-1"
