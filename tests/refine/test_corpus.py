"""refine_corpus and `prox refine`: a whole corpus, sharded, resumable, from the command line."""

import json

import pytest

from prox_tasks.catalog import Catalog
from prox_tasks.cli import main
from prox_tasks.corpus import load_manifest, read_refined_rows
from prox_tasks.models import SHIPPED_MODEL
from prox_tasks.models.artifact import artifact_version
from prox_tasks.refine import refine_corpus
from tests.inference.helpers import short_docs, write_jsonl


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    docs = short_docs(25)
    write_jsonl(folder / "a.jsonl", docs[:15], ["[1, 2]"])
    write_jsonl(folder / "b.jsonl", docs[15:])
    return folder, docs


def test_the_corpus_is_cut_into_shards_and_every_document_accounted(corpus, tmp_path,
                                                                    tagger_model):
    folder, docs = corpus
    out = tmp_path / "out"
    summary = refine_corpus(str(folder), str(out), model=str(tagger_model), shards=3,
                            checkpoint_every=4)
    assert summary["shards"] == 3 == len(load_manifest(str(out)).shards)
    assert summary["docs_read"] == 26 and summary["docs_written"] == 25
    assert summary["docs_quarantined"] == 1 and summary["shards_refined"] == 3
    assert summary["docs_kept"] + summary["docs_dropped"] == 25
    rows = list(read_refined_rows(str(out)))
    assert sorted(r["id"] for r in rows) == sorted(d["id"] for d in docs)
    again = refine_corpus(str(folder), str(out), model=str(tagger_model), shards=3,
                          checkpoint_every=4)
    assert again["shards_skipped"] == 3 and again["docs_written"] == 25


def test_prox_refine_end_to_end(corpus, tmp_path, tagger_model, capsys):
    folder, docs = corpus
    out = tmp_path / "cli-out"
    code = main(["refine", "--json", "--input", str(folder), "--output", str(out), "--model",
                 str(tagger_model), "--shards", "2", "--no-progress"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["shards"] == 2 and summary["backend"] == "tagger"
    rows = list(read_refined_rows(str(out)))
    assert len(rows) == 25 and {"id", "text", "doc_program", "chunk_program"} <= set(rows[0])


def test_a_rerun_that_reuses_every_shard_names_the_tagger_backend(corpus, tmp_path,
                                                                   tagger_model, capsys):
    """``prox refine --json`` run again (every shard reused) reported ``"backend": null``
    for a line tagger, which runs on the tagger backend only: it names it, as the run that
    refined the shards did."""
    folder, _docs = corpus
    args = ["refine", "--json", "--input", str(folder), "--output", str(tmp_path / "out"),
            "--model", str(tagger_model), "--shards", "2", "--no-progress"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["shards_skipped"] == 2 and again["backend"] == first["backend"] == "tagger"


def test_prox_refine_uses_the_promoted_model(corpus, tmp_path, tagger_model, capsys,
                                             monkeypatch):
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    monkeypatch.setenv("PROX_CATALOG_URL", url)
    catalog = Catalog(url)
    catalog.register_model("refiner", "v1", str(tagger_model), promoted=True)
    catalog.close()
    folder, _ = corpus
    assert main(["refine", "--json", "--input", str(folder), "--output", str(tmp_path / "o"),
                 "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["model_version"] == artifact_version(tagger_model)


def test_prox_refine_without_a_promoted_model(corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PROX_CATALOG_URL", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    monkeypatch.setenv("PROX_MODEL_REGISTRY", str(tmp_path / "empty-registry"))
    folder, _ = corpus
    # nothing asked: the shipped default, as in the DAG
    assert main(["refine", "--json", "--input", str(folder), "--output", str(tmp_path / "o1"),
                 "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["model_version"] == \
        artifact_version(SHIPPED_MODEL)
    # the promoted model asked for, and none: exit 2 with what to do
    code = main(["refine", "--json", "--input", str(folder), "--output", str(tmp_path / "o2"),
                 "--model", "promoted"])
    assert code == 2
    err = capsys.readouterr().err
    assert "no promoted model" in err and "prox train" in err and "--model" in err


def test_prox_refine_reports_bad_input(tmp_path, tagger_model, capsys):
    code = main(["refine", "--json", "--input", str(tmp_path / "missing"), "--output",
                 str(tmp_path / "o"), "--model", str(tagger_model)])
    assert code == 2 and "prox refine" in capsys.readouterr().err  # no input files


def _gate_metrics(out) -> dict:
    main(["gate", "--snapshot", str(out)])  # passed or not: the accounting is what matters here
    return json.loads((out / "_quality" / "gate.json").read_text())["metrics"]


def _refine(folder, out, model, *extra):
    return main(["refine", "--input", str(folder), "--output", str(out), "--model", str(model),
                 "--no-progress", *extra])


def _released_day1(tmp_path):
    """A folder ``in`` of real pages (the gate passes them) refined with the shipped model
    into ``day1``, gated and released as ``day1``: ``(folder, out)``."""
    from tests.dags.crawl import sample_rows

    folder, out = tmp_path / "in", tmp_path / "day1"
    folder.mkdir()
    write_jsonl(folder / "pages.jsonl", sample_rows(30))
    assert _refine(folder, out, "default") == 0
    assert main(["gate", "--snapshot", str(out)]) == 0
    assert main(["release", "--snapshot", str(out), "--root", str(tmp_path / "rel"),
                 "--name", "day1", "--partition", "2026-01-05"]) == 0
    return folder, out


def test_a_replanned_output_folder_is_refined_anew_not_reused(tmp_path, tagger_model, capsys):
    """`prox plan --overwrite` replaces the plan: the old plan's shards must neither be
    reused nor pass the gate under the new plan."""
    docs = short_docs(12)
    day_a, day_b = tmp_path / "a", tmp_path / "b"
    day_a.mkdir(), day_b.mkdir()
    write_jsonl(day_a / "part.jsonl", docs[:8])  # 2 shards of 4
    write_jsonl(day_b / "part.jsonl", docs[8:])  # 1 shard
    out = tmp_path / "out"
    assert _refine(day_a, out, tagger_model, "--target-docs", "4") == 0
    assert _refine(day_b, out, tagger_model, "--target-docs", "4") == 1
    assert main(["plan", "--input", str(day_b), "--output", str(out), "--target-docs", "4",
                 "--overwrite"]) == 0
    assert not list((out / "shards").iterdir()) and not list((out / "_status").iterdir())
    assert _refine(day_b, out, tagger_model, "--target-docs", "4") == 0
    assert "(1 reused)" not in capsys.readouterr().out
    assert sorted(r["id"] for r in read_refined_rows(str(out))) == sorted(d["id"] for d in docs[8:])
    metrics = _gate_metrics(out)
    assert metrics["shards_complete"] == metrics["shards_planned"] == 1
    assert metrics["docs_written"] == metrics["docs_planned"] == 4


def test_a_refine_into_a_folder_of_another_plan_names_replan_and_replan_replaces_it(
        tmp_path, tagger_model, capsys):
    """A ManifestConflict told a prox refine user `prox plan --overwrite`, which plans by
    --target-docs only: after a refine by --shards (or --max-doc-bytes) the replaced plan was
    not the one the refine asks for, and the refine was refused again. `--replan` replaces
    the plan in the same command."""
    docs = short_docs(12)
    day_a, day_b = tmp_path / "a", tmp_path / "b"
    day_a.mkdir(), day_b.mkdir()
    write_jsonl(day_a / "part.jsonl", docs[:8])
    write_jsonl(day_b / "part.jsonl", docs[8:])
    out = tmp_path / "out"
    assert _refine(day_a, out, tagger_model, "--shards", "2") == 0
    capsys.readouterr()
    assert _refine(day_b, out, tagger_model, "--shards", "2") == 1
    err = capsys.readouterr().err
    assert "holds another plan: use a new output folder or run again with --replan; it " \
        "differs in" in err and "prox plan" not in err, err
    assert _refine(day_b, out, tagger_model, "--shards", "2", "--replan") == 0
    assert "reused" not in capsys.readouterr().out
    assert sorted(r["id"] for r in read_refined_rows(str(out))) == sorted(d["id"] for d in docs[8:])
    metrics = _gate_metrics(out)
    assert metrics["shards_complete"] == metrics["shards_planned"] == 2
    assert _refine(day_b, out, tagger_model, "--shards", "2", "--replan") == 0  # same plan
    assert "(2 reused)" in capsys.readouterr().out


def test_a_refine_naming_no_shard_size_refines_the_folders_plan_as_planned(
        corpus, tmp_path, tagger_model, capsys):
    """The README's flow, `prox plan --target-docs N` then `prox refine` naming no size,
    failed with 'holds another plan … target_docs N -> 10000': an omitted size was the
    default. It now refines the plan as planned (by documents or by bytes, the same plan
    id); a size named otherwise is still a conflict, and a folder with no plan is cut by
    the default."""
    folder, docs = corpus
    by_docs, by_bytes, new = tmp_path / "by-docs", tmp_path / "by-bytes", tmp_path / "new"
    assert main(["plan", "--input", str(folder), "--output", str(by_docs),
                 "--target-docs", "7"]) == 0
    assert main(["plan", "--input", str(folder), "--output", str(by_bytes),
                 "--target-bytes", "300"]) == 0
    for out in (by_docs, by_bytes):
        planned = load_manifest(str(out))
        capsys.readouterr()
        assert _refine(folder, out, tagger_model) == 0, capsys.readouterr().err
        assert f"in {len(planned.shards)} shards" in capsys.readouterr().out
        assert load_manifest(str(out)).id == planned.id
    assert len(rows := list(read_refined_rows(str(by_docs)))) == 25, rows
    assert _refine(folder, by_docs, tagger_model, "--target-docs", "8") == 1
    assert "target_docs 7 -> 8" in capsys.readouterr().err
    assert _refine(folder, new, tagger_model) == 0
    assert load_manifest(str(new)).settings["target_docs"] == 10_000


def test_a_status_record_of_another_plan_is_not_taken_as_done(corpus, tmp_path, tagger_model):
    from prox_tasks.corpus import read_status

    folder, _ = corpus
    out = tmp_path / "out"
    refine_corpus(str(folder), str(out), model=str(tagger_model))
    current = load_manifest(str(out)).id
    assert read_status(str(out), 0, current)["manifest_id"] == current
    status = out / "_status" / "shard-00000.json"
    status.write_text(json.dumps({**json.loads(status.read_text()), "manifest_id": "replaced"}))
    assert read_status(str(out), 0, current) is None
    assert read_status(str(out), 0) is not None  # without a plan to compare: as it is
    assert _gate_metrics(out)["shards_complete"] == 0  # the gate does not count it either
    again = refine_corpus(str(folder), str(out), model=str(tagger_model))
    assert again["shards_refined"] == 1 and read_status(str(out), 0, current) is not None
    assert _gate_metrics(out)["shards_complete"] == 1


@pytest.mark.parametrize("change", [["--keep-threshold", "0.3"], ["--quality-filter", "drop"],
                                    ["--max-doc-lines", "30"], ["--model", "SECOND"]])
def test_a_rerun_with_other_settings_is_refused_not_silently_reused(
        change, corpus, tmp_path, tagger_model, capsys):
    folder, _ = corpus
    out = tmp_path / "out"
    assert _refine(folder, out, tagger_model) == 0
    first = (out / "shards" / "shard-00000.parquet").read_bytes()
    assert _refine(folder, out, tagger_model) == 0  # the same settings: reused
    assert "(1 reused)" in capsys.readouterr().out
    if change == ["--model", "SECOND"]:
        change = ["--model", str(tmp_path / "second")]
        import shutil

        shutil.copytree(tagger_model, change[1])
    args = ["refine", "--input", str(folder), "--output", str(out), "--no-progress"]
    args += change if change[0] == "--model" else ["--model", str(tagger_model), *change]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "SettingsConflict" in err and "--force" in err and "\n" == err[-1] and err.count("\n") == 1
    assert (out / "shards" / "shard-00000.parquet").read_bytes() == first  # left as it was
    assert main([*args, "--force"]) == 0
    assert main(args) == 0  # now recorded with the new settings: reused
    assert "(1 reused)" in capsys.readouterr().out


def test_an_output_folder_inside_the_input_folder_is_not_read_back(corpus, tmp_path, tagger_model,
                                                                   capsys):
    folder, docs = corpus
    out = folder / "refined"
    assert _refine(folder, out, tagger_model) == 0
    assert _refine(folder, out, tagger_model) == 0  # the same plan: its own shards are not input
    line = capsys.readouterr().out
    # nor its manifest.json: it was 'an input file of no known format not read: rename it
    # .jsonl or pass --format jsonl', in the summary, the plan and the gate's warning
    assert "(1 reused)" in line and "no known format" not in line, line
    assert load_manifest(str(out)).total_docs == 26
    assert load_manifest(str(out)).skipped_files == []
    forced = folder / "refined-jsonl"  # --format jsonl read that manifest as input: the
    for _ in range(2):  # rerun was refused, 'holds another plan … input file added'
        assert _refine(folder, forced, tagger_model, "--format", "jsonl") == 0, \
            capsys.readouterr().err  # fmt: skip
    assert "(1 reused)" in capsys.readouterr().out
    labels = tmp_path / "labels.jsonl"
    assert main(["label", "--input", str(folder), "--output", str(labels)]) == 0
    assert sorted(json.loads(x)["id"] for x in labels.read_text().splitlines()) == \
        sorted(d["id"] for d in docs)  # fmt: skip


@pytest.mark.parametrize(("bad", "code"), [
    (["--model", "MISSING"], 2),  # a --model to fix, as one that is no model (NotAModelFolder)
    (["--backend", "vllm"], 1),
])  # fmt: skip
def test_bad_options_fail_before_anything_is_written(bad, code, corpus, tmp_path, tagger_model,
                                                     capsys):
    folder, _ = corpus
    if bad[1] == "MISSING":
        bad = ["--model", str(tmp_path / "no-such-model")]
    out = tmp_path / "out"
    args = ["refine", "--input", str(folder), "--output", str(out), "--no-progress"]
    assert main([*args, "--model", str(tagger_model), *bad]) == code
    assert capsys.readouterr().err.count("\n") == 1
    assert not out.exists()


def test_a_released_snapshot_is_not_refined_again_in_place(tmp_path, capsys):
    from tests.dags.crawl import sample_rows

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    write_jsonl(folder / "pages.jsonl", sample_rows(30))  # real pages: the gate passes
    assert _refine(folder, out, "default") == 0
    _gate_metrics(out)
    assert main(["release", "--snapshot", str(out), "--root", str(tmp_path / "rel"),
                 "--name", "day1", "--partition", "2026-01-05"]) == 0
    shard = (out / "shards" / "shard-00000.parquet").read_bytes()
    capsys.readouterr()
    assert _refine(folder, out, "default", "--force") == 1
    assert "was released as day1" in capsys.readouterr().err
    (folder / "more.jsonl").write_text(json.dumps({"id": "new", "text": "one more page"}) + "\n")
    assert main(["plan", "--input", str(folder), "--output", str(out), "--overwrite"]) == 1
    assert "was released as day1" in capsys.readouterr().err
    assert (out / "shards" / "shard-00000.parquet").read_bytes() == shard
    assert main(["release", "--snapshot", str(out), "--root", str(tmp_path / "rel"),
                 "--name", "day1", "--partition", "2026-01-05"]) == 0  # still releasable


def test_another_plan_for_a_released_snapshot_names_a_new_folder_not_replan(tmp_path,
                                                                             capsys):
    """A ManifestConflict on a released snapshot advised 'run again with --replan', which
    is then refused (ReleasedSnapshot). It now names what works, a new output folder, and
    that does work."""
    folder, out = _released_day1(tmp_path)
    capsys.readouterr()
    assert _refine(folder, out, "default", "--target-docs", "10") == 1
    err = capsys.readouterr().err
    assert "holds another plan: refine into a new output folder (another snapshot name): " \
        "this snapshot was released, so --replan is refused; it differs in target_docs " \
        "10000 -> 10" in err, err
    assert "run again with --replan" not in err
    assert _refine(folder, tmp_path / "day1-b", "default", "--target-docs", "10") == 0


@pytest.mark.parametrize("damage", ["delete", "overwrite", "delete quarantine"])
def test_a_shard_whose_files_are_gone_is_refined_again_not_reused(damage, corpus, tmp_path,
                                                                  tagger_model, capsys):
    folder, docs = corpus
    out = tmp_path / "out"
    args = ["refine", "--json", "--input", str(folder), "--output", str(out), "--model",
            str(tagger_model), "--shards", "3", "--no-progress"]
    assert main(args) == 0
    capsys.readouterr()
    shards = out / "shards"
    before = (shards / "shard-00001.parquet").read_bytes()
    if damage == "delete":
        (shards / "shard-00001.parquet").unlink()
    elif damage == "overwrite":  # another shard copied over it
        (shards / "shard-00001.parquet").write_bytes((shards / "shard-00000.parquet").read_bytes())
    else:
        (out / "quarantine" / "shard-00001.jsonl.gz").unlink()
    assert main(["gate", "--snapshot", str(out)]) != 0  # never passed on what is left
    assert "shards: complete" in capsys.readouterr().out
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["shards_skipped"], summary["shards_refined"]) == (2, 1)
    assert (shards / "shard-00001.parquet").read_bytes() == before
    assert sorted(r["id"] for r in read_refined_rows(str(out))) == sorted(d["id"] for d in docs)


def test_a_snapshot_name_booked_for_another_folder_is_never_taken_over(corpus, tmp_path,
                                                                      tagger_model, capsys,
                                                                      monkeypatch):
    """`<crawl>/refined` layouts: the default name (the folder's) of the second folder is
    booked for the first; it gets a name of its own, and an explicit --name that is taken
    is refused before anything is written."""
    monkeypatch.setenv("PROX_CATALOG_URL", f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    folder, _docs = corpus
    first, second = tmp_path / "CC-26" / "refined", tmp_path / "CC-22" / "refined"
    assert _refine(folder, first, tagger_model, "--json") == 0
    assert json.loads(capsys.readouterr().out)["snapshot"] == "refined"
    booked = Catalog().get_snapshot("refined")
    assert _refine(folder, second, tagger_model, "--json") == 0
    own = json.loads(capsys.readouterr().out)["snapshot"]
    assert own.startswith("refined-") and Catalog().get_snapshot(own)["output_uri"].endswith(
        "CC-22/refined")
    assert Catalog().get_snapshot("refined") == booked
    third = tmp_path / "CC-21" / "refined"
    assert _refine(folder, third, tagger_model, "--name", "refined") == 2  # a setting to fix
    err = capsys.readouterr().err
    assert "snapshot name 'refined' is booked for" in err and "--name" in err
    assert not third.exists()  # refused before the plan is written
    assert Catalog().get_snapshot("refined") == booked
    assert _refine(folder, second, tagger_model, "--json") == 0  # a rerun finds its own row
    assert json.loads(capsys.readouterr().out)["snapshot"] == own


def test_a_refused_force_on_a_released_snapshot_is_not_a_failed_attempt(tmp_path, capsys,
                                                                        monkeypatch):
    monkeypatch.setenv("PROX_CATALOG_URL", f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    folder, out = _released_day1(tmp_path)
    before = Catalog().get_shards("day1")
    assert [s["status"] for s in before] == ["done"]
    assert _refine(folder, out, "default", "--force") == 1
    assert "was released as day1" in capsys.readouterr().err
    assert Catalog().get_shards("day1") == before  # still done, no attempt counted


def test_adding_servers_or_rotating_a_key_keeps_a_shards_request_but_a_model_name_does_not():
    from prox_tasks.refine.step import shard_request

    def request(**options):
        return shard_request("s3://m/refiner", "openai", options, None, None)

    first = request(servers=["http://a:8000/v1"], api_key="k1", concurrency=8, model_name="r")
    assert request(servers=["http://a:8000/v1", "http://b:8000/v1"], api_key="k2",
                   concurrency=64, timeout=30, max_retries=9, model_name="r") == first
    assert request(servers=["http://a:8000/v1"], model_name="other") != first


def test_moving_a_levels_pool_keeps_a_shards_request_but_its_served_model_does_not():
    from prox_tasks.refine.step import shard_request

    def request(**options):
        return shard_request("s3://m/refiner", "openai", options, None, None)

    first = request(doc_servers="http://a:8000/v1", chunk_servers="http://b:8000/v1",
                    chunk_served_model="prox-chunk")
    assert request(doc_servers="http://c:8000/v1",
                   chunk_servers="http://b:8000/v1,http://d:8000/v1",
                   chunk_served_model="prox-chunk") == first
    assert request(doc_servers="http://a:8000/v1", chunk_servers="http://b:8000/v1",
                   chunk_served_model="other") != first


def _same_size_edit(path) -> None:
    """Rewrite a file in place with other text of the same size (a re-delivered partition)."""
    import os

    data = path.read_bytes()
    i = data.index(b'"text": "') + len(b'"text": "')
    path.write_bytes(data[:i] + data[i:i + 12].swapcase() + data[i + 12:])
    assert len(path.read_bytes()) == len(data)
    os.utime(path, ns=(0, 10**18))  # whatever the clock: another modification time


def test_an_input_rewritten_to_the_same_size_is_never_served_from_its_old_shards(
        corpus, tmp_path, tagger_model, capsys):
    folder, _ = corpus
    out = tmp_path / "out"
    assert _refine(folder, out, tagger_model) == 0
    (folder / "a.jsonl").touch()  # a copy or a touch keeps the bytes: still reused
    assert _refine(folder, out, tagger_model) == 0
    assert "(1 reused)" in capsys.readouterr().out
    _same_size_edit(folder / "a.jsonl")
    assert _refine(folder, out, tagger_model) == 1  # not "(1 reused)" with the old text
    err = capsys.readouterr().err
    assert "ManifestConflict" in err and "holds another plan" in err


def test_an_input_rewritten_between_plan_and_refine_fails_the_read(corpus, tmp_path,
                                                                   tagger_model, capsys):
    """The DAG's window: plan, then the mapped refine tasks read the planned files."""
    from prox_tasks.corpus import Quarantine, read_shard

    folder, _ = corpus
    out = tmp_path / "out"
    assert main(["plan", "--input", str(folder), "--output", str(out)]) == 0
    (folder / "b.jsonl").touch()  # the same bytes: read as planned
    assert len(list(read_shard(str(out), 0, Quarantine()))) == 25
    _same_size_edit(folder / "a.jsonl")
    with pytest.raises(RuntimeError, match="a.jsonl changed since the manifest was planned"):
        list(read_shard(str(out), 0, Quarantine()))
    assert _refine(folder, out, tagger_model) == 1  # prox refine plans again: refused
    assert "holds another plan" in capsys.readouterr().err


def test_a_plain_file_named_gz_is_counted_in_the_accounting_the_summary_and_the_report(
        tmp_path, tagger_model, capsys):
    """``a.jsonl.gz`` holding plain JSON Lines is read whole (as plain text), and that
    surprise is counted, not only logged: once per file (the file spans two shards) in the
    shard's status record, the run totals and the summary line ``prox refine`` prints, the
    catalog's shard row, and the report's shard table — beside the quarantine, not in it
    (no record was lost)."""
    from prox_tasks.corpus.writer import read_status
    from prox_tasks.report.pages import snapshot_page

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    docs = short_docs(20)
    write_jsonl(folder / "a.jsonl.gz", docs[:14])  # plain text under a gzip name
    write_jsonl(folder / "b.jsonl", docs[14:])
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    code = main(["refine", "--json", "--input", str(folder), "--output", str(out), "--model",
                 str(tagger_model), "--shards", "3", "--no-progress", "--catalog", url,
                 "--name", "misnamed"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["docs_read"], summary["docs_quarantined"]) == (20, 0)
    assert summary["input_notices"] == {"misnamed_compression": 1}
    per_shard = [read_status(str(out), i)["input_notices"] for i in range(3)]
    assert sorted(sum(n.values()) for n in per_shard) == [0, 0, 1], per_shard
    code = main(["refine", "--input", str(folder), "--output", str(out), "--model",
                 str(tagger_model), "--shards", "3", "--no-progress", "--catalog", url,
                 "--name", "misnamed"])  # reused shards: the totals come from their records
    line = capsys.readouterr().out
    assert code == 0 and "1 input file not as named (1 misnamed_compression" in line, line
    catalog = Catalog(url)
    assert sorted(sum((s["input_notices"] or {}).values()) for s in
                  catalog.get_shards("misnamed")) == [0, 0, 1]
    page = snapshot_page(catalog, "misnamed", "/", "/")
    assert "misnamed_compression (files, nothing lost): 1" in page


def test_a_folder_planned_when_a_plain_gz_was_one_lost_record_is_refused_not_refined_short(
        tmp_path, tagger_model, capsys):
    """A folder planned by a prox that read ``a.jsonl.gz`` holding plain text as one
    ``truncated_file`` record (line 0, no bytes) — the plan written here as that prox wrote
    it. Resuming it now would read line 0 only and publish 1 of the file's 14 documents,
    balanced. Instead the shard's read and ``prox refine`` refuse, naming the file and the
    way out (``--replan``); ``prox plan --overwrite`` plans it again and all 20 documents are
    refined."""
    import dataclasses

    from prox_tasks.corpus import plan_shards, read_shard
    from prox_tasks.corpus.manifest import Manifest, Segment, ShardPlan
    from prox_tasks.corpus.planner import StalePlan
    from prox_tasks.corpus.quarantine import Quarantine

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    docs = short_docs(20)
    write_jsonl(folder / "a.jsonl.gz", docs[:14])  # plain text under a gzip name
    write_jsonl(folder / "b.jsonl", docs[14:])
    now = plan_shards(str(folder), str(out), target_docs=100, write=False)
    a, b = now.files
    assert (a.records, b.records) == (14, 6)
    old_a = dataclasses.replace(a, records=1, bytes=0)
    b_segment = now.shards[0].segments[1]
    old = Manifest(now.input_uri, now.output_uri, now.settings, [old_a, b], [ShardPlan(
        0, 1 + b.records, b.bytes, [Segment(a.uri, "jsonl", 0, 1, 1, 0), b_segment])])
    out.mkdir()
    (out / "manifest.json").write_text(old.to_json())

    with pytest.raises(StalePlan, match="prox plan --overwrite"):
        list(read_shard(str(out), 0, Quarantine()))
    code = main(["refine", "--input", str(folder), "--output", str(out), "--model",
                 str(tagger_model), "--target-docs", "100", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "run again with --replan" in err and "a.jsonl.gz" in err, err
    assert "read otherwise than planned" in err, err
    assert not list(out.glob("shards/*")), "nothing is refined by the old plan"

    assert main(["plan", "--input", str(folder), "--output", str(out), "--target-docs", "100",
                 "--overwrite"]) == 0
    capsys.readouterr()
    code = main(["refine", "--json", "--input", str(folder), "--output", str(out), "--model",
                 str(tagger_model), "--target-docs", "100", "--no-progress"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and (summary["docs_read"], summary["docs_written"]) == (20, 20), summary


def test_a_stale_plan_of_a_released_snapshot_names_a_new_folder_not_replan(tmp_path):
    """A released snapshot's plan is not replaced (``--replan`` is refused), yet reading a
    shard it counted the old way said ``plan the folder again (prox refine --replan, …)``:
    the one way out it names now is a new output folder, as for a ManifestConflict."""
    import dataclasses

    from prox_tasks.corpus import plan_shards, read_shard
    from prox_tasks.corpus.manifest import Manifest, Segment, ShardPlan, mark_released
    from prox_tasks.corpus.planner import StalePlan, check_shard_inputs
    from prox_tasks.corpus.quarantine import Quarantine

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl.gz", short_docs(14))  # plain text under a gzip name
    now = plan_shards(str(folder), str(out), target_docs=100, write=False)
    old_a = dataclasses.replace(now.files[0], records=1, bytes=0)  # as an older prox counted it
    old = Manifest(now.input_uri, now.output_uri, now.settings, [old_a],
                   [ShardPlan(0, 1, 0, [Segment(old_a.uri, "jsonl", 0, 1, 1, 0)])])
    out.mkdir()
    (out / "manifest.json").write_text(old.to_json())
    with pytest.raises(StalePlan, match=r"prox refine --replan, prox plan --overwrite"):
        list(read_shard(str(out), 0, Quarantine()))

    mark_released(str(out), {"name": "v1"}, completed=True)
    for read in (lambda: list(read_shard(str(out), 0, Quarantine())),
                 lambda: check_shard_inputs(load_manifest(str(out)), 0)):
        with pytest.raises(StalePlan) as raised:
            read()
        said = str(raised.value)
        assert said.startswith("refine into a new output folder (another snapshot name): "
                               "this snapshot was released, so --replan is refused: "), said
        assert "prox plan --overwrite" not in said and "a.jsonl.gz" in said, said


def test_a_folder_planned_when_a_pzstd_file_was_one_lost_record_is_refused_not_refined_short(
        tmp_path):
    """A ``.zst`` written by pzstd starts with a skippable frame, which the prox of this
    morning took for a file named .zst that is not zstd: its plan holds the file as one
    ``truncated_file`` record (line 0, no bytes). The file is now read whole, so resuming
    that plan read line 0 only and published 1 of its 12 documents as a balanced shard (the
    name is right, so it was not taken for a plan of an older prox). It is refused as the
    plain ``.jsonl.gz`` is; a file that still reads as one lost record is read by its plan
    (a zstd file named .gz cut before its first line was refused as stale for good: its
    plan, made now, has that one record too)."""
    import dataclasses
    import struct

    import zstandard

    from prox_tasks.corpus import plan_shards, read_shard
    from prox_tasks.corpus.manifest import Manifest, Segment, ShardPlan
    from prox_tasks.corpus.planner import StalePlan
    from prox_tasks.corpus.quarantine import Quarantine

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    write_jsonl(folder / "plain.jsonl", short_docs(12))
    frame = zstandard.ZstdCompressor().compress((folder / "plain.jsonl").read_bytes())
    (folder / "plain.jsonl").unlink()
    (folder / "a.jsonl.zst").write_bytes(  # as pzstd writes it
        struct.pack("<II", 0x184D2A50, 4) + struct.pack("<I", len(frame)) + frame)
    (folder / "b.jsonl.gz").write_bytes(b"\x1f\x8b\x08")  # a gzip cut in its header
    (folder / "c.jsonl.gz").write_bytes(frame[:6])  # zstd under a gzip name, cut: planned so now
    now = plan_shards(str(folder), str(out), target_docs=100, write=False)
    a, b, c = now.files
    assert (a.records, b.records, b.bytes, c.records, c.bytes) == (12, 1, 0, 1, 0)
    old_a = dataclasses.replace(a, records=1, bytes=0)
    old = Manifest(now.input_uri, now.output_uri, now.settings, [old_a, b, c], [
        ShardPlan(0, 1, 0, [Segment(a.uri, "jsonl", 0, 1, 1, 0)]),
        ShardPlan(1, 2, 0, [Segment(b.uri, "jsonl", 0, 1, 1, 0),
                            Segment(c.uri, "jsonl", 0, 1, 1, 0)])])
    out.mkdir()
    (out / "manifest.json").write_text(old.to_json())

    with pytest.raises(StalePlan, match="prox plan --overwrite"):
        list(read_shard(str(out), 0, Quarantine()))
    quarantine = Quarantine()
    assert list(read_shard(str(out), 1, quarantine)) == []
    assert dict(quarantine.reasons) == {"truncated_file": 2}


def test_a_large_run_s_summary_keeps_the_results_of_troubled_shards_only(
        corpus, tmp_path, tagger_model, monkeypatch):
    """refine_corpus returned every shard's result (its status record and stats, about 2 KB):
    202 MB of JSON at 100,000 shards (prox refine --json), held until it returned. Past
    RESULTS_KEPT shards (1,000; 2 here, a setting, so as not to refine 1,001 shards) only the
    shards with quarantined records are there, the totals still cover every shard."""
    from prox_tasks.refine import stats

    monkeypatch.setattr(stats, "RESULTS_KEPT", 2)
    folder, _docs = corpus
    summary = refine_corpus(str(folder), str(tmp_path / "out"), model=str(tagger_model),
                            shards=3)
    assert summary["shards"] == 3 and summary["docs_read"] == 26
    assert [r["accounting"]["quarantine_reasons"] for r in summary["results"]] == [
        {"not_an_object": 1}]
    assert summary["results_left_out"] == 2


def test_a_cut_input_file_is_counted_as_a_file_not_a_document(tmp_path, tagger_model):
    """A .jsonl.gz cut short gives its readable records and one `truncated_file` quarantine
    entry of no bytes; the summary counted that entry in docs_read, and `prox refine` said
    'refined 129 documents' of 128. documents_read leaves it out, files_cut counts it
    (docs_read still counts it, as the plan and the status records do)."""
    import gzip

    folder = tmp_path / "in"
    folder.mkdir()
    rows = "".join(json.dumps({"id": f"d{i}", "text": f"Document {i} with a line of text."})
                   + "\n" for i in range(200))
    data = gzip.compress(rows.encode(), mtime=0)
    (folder / "a.jsonl.gz").write_bytes(data[:len(data) * 2 // 3])
    summary = refine_corpus(str(folder), str(tmp_path / "out"), model=str(tagger_model))
    assert summary["quarantine_reasons"] == {"truncated_file": 1}
    assert summary["files_cut"] == 1
    assert summary["documents_read"] == summary["docs_read"] - 1 == summary["docs_written"]
    from prox_tasks.cli.refine_cmd import summary_line

    kept, dropped = summary["docs_kept"], summary["docs_dropped"]
    assert kept + dropped == summary["documents_read"]
    assert summary_line(summary).startswith(
        f"refined {summary['documents_read']} documents (and 1 input file not read to its end) "
        f"in 1 shard: {kept} kept, {dropped} dropped, 1 quarantined (1 truncated_file)")


def test_prox_refine_leaves_no_empty_checkpoint_folder_and_a_rerun_still_checkpoints(
        tmp_path, tagger_model):
    """``prox refine`` left an empty ``_checkpoints/`` in every finished snapshot: gone at
    its end now; a --force rerun checkpoints again (every 2 documents) and removes it too."""
    from prox_tasks.cli import main

    source = tmp_path / "in.jsonl"
    source.write_text("".join(f'{{"id": "{i}", "text": "line one {i}\\nline two {i}"}}\n'
                              for i in range(5)))  # fmt: skip
    out = tmp_path / "out"
    for again in ([], ["--force"]):
        assert main(["refine", "--input", str(source), "--output", str(out), "--model",
                     str(tagger_model), "--checkpoint-every", "2", "--no-progress",
                     *again]) == 0
        assert (out / "shards").is_dir() and not (out / "_checkpoints").exists()
