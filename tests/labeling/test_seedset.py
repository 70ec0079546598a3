import gzip
import json
from collections import Counter

import pytest

from prox_tasks.labeling import get_teacher
from prox_tasks.labeling.sampling import allocate, select_ids
from prox_tasks.labeling.seedset import build_seed_set

from .conftest import SAMPLE

FIELDS = {"id", "text", "doc_program", "chunk_program", "source", "page_type"}


def read(path):
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def test_allocate_is_proportional_and_exact():
    assert allocate({"a": 50, "b": 30, "c": 20}, 10) == {"a": 5, "b": 3, "c": 2}
    take = allocate({"a": 1, "b": 1, "c": 1}, 2)
    assert sum(take.values()) == 2 and max(take.values()) == 1
    assert allocate({"a": 3}, 10) == {"a": 3}


def test_select_spreads_over_domains_within_a_stratum():
    entries = [(f"big{i}", ("s", "short"), "big.example") for i in range(50)]
    entries += [(f"small{i}", ("s", "short"), f"site{i}.example") for i in range(5)]
    chosen, _ = select_ids(entries, 10, seed=0)
    assert len(chosen) == 10
    assert sum(i.startswith("small") for i in chosen) == 5  # round-robin over domains


def test_build_with_rules_teacher(tmp_path):
    catalog_url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    info = build_seed_set(str(SAMPLE), str(tmp_path / "seed"), get_teacher("rules"),
                          sample_size=60, seed=3, val_fraction=0.25, catalog=catalog_url)  # fmt: skip
    train, val = (
        read(tmp_path / "seed" / "train.jsonl.gz"),
        read(tmp_path / "seed" / "validation.jsonl.gz"),
    )
    manifest = json.loads((tmp_path / "seed" / "manifest.json").read_text())
    assert info.sizes["sampled"] == 60
    assert len(train) + len(val) == info.sizes["valid"] == 60 - info.sizes["rejected"]
    assert 5 <= len(val) <= 25  # ~25 %
    assert not {r["id"] for r in train} & {r["id"] for r in val}
    assert all(FIELDS <= set(r) for r in train + val)
    assert any("gold_text" in r for r in train + val)
    assert manifest["version"] == info.version and manifest["teacher"]["name"] == "rules"
    dist = manifest["label_distribution"]
    assert dist["keep_doc"] + dist["drop_doc"] == info.sizes["valid"]
    assert dist["calls"]["remove_lines"] > 0 and 0 < dist["lines_removed_fraction"] < 1
    # stratified: every source of the sample with enough documents is in the set
    sources = Counter(r["source"] for r in train + val)
    assert {"wcxb", "trafilatura-evaluation", "dolma-tests/CC-MAIN-2019-30"} <= set(sources)
    assert sum(manifest["strata"].values()) == 60
    # registered in the catalog
    from prox_tasks.catalog import Catalog

    row = Catalog(catalog_url).get_seed_set(info.name)
    assert row["num_docs"] == info.sizes["valid"] and row["teacher"] == "rules"
    assert info.catalog_id == row["id"]


def test_a_relative_output_folder_is_recorded_as_its_absolute_uri(tmp_path, monkeypatch):
    """``prox label --seed-set --output seeds`` in the current folder: the manifest and the
    catalog name the seed set as file:///…/seeds, as they name its files (before: "seeds",
    which another process, such as the training DAG's, cannot find)."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.cli import main

    monkeypatch.chdir(tmp_path)
    catalog_url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    assert main(["label", "--input", str(SAMPLE), "--output", "seeds", "--seed-set",
                 "--sample-size", "20", "--name", "mine", "--catalog", catalog_url]) == 0
    manifest = json.loads((tmp_path / "seeds" / "manifest.json").read_text())
    assert manifest["uri"] == (tmp_path / "seeds").as_uri()
    assert manifest["files"]["train"] == (tmp_path / "seeds" / "train.jsonl.gz").as_uri()
    assert Catalog(catalog_url).get_seed_set("mine")["uri"] == (tmp_path / "seeds").as_uri()


def test_a_seed_set_over_gold_pages_is_warned_of_once_at_label_time(tmp_path, caplog):
    """`prox label --seed-set` over pages of the gold gate's own set (WCXB dev) said nothing,
    while `prox train` leaves those pages out (gold_pages_left_out): the labels were paid
    for and went unused. It now warns once, before labeling, with their count and that
    train will leave them out; an input without them gets no warning."""
    from prox_tasks.cli import main
    from prox_tasks.evaluation.goldset import gold_pages, load_gold_set

    gold = gold_pages()
    plain = [r for r in read(SAMPLE) if not gold.match(r)][:30]
    pages = [{"id": p["id"], "text": p["text"]} for p in load_gold_set()[0][:4]]
    for name, rows, warned in (("with", plain + pages, 4), ("without", plain, 0)):
        source = tmp_path / f"{name}.jsonl"
        source.write_text("".join(json.dumps(r) + "\n" for r in rows))
        caplog.clear()
        with caplog.at_level("WARNING"):
            assert main(["label", "--input", str(source), "--output", str(tmp_path / name),
                         "--seed-set", "--sample-size", "100", "--no-progress"]) == 0
        said = [r.getMessage() for r in caplog.records if "gold set" in r.getMessage()]
        assert len(said) == (1 if warned else 0), said
        if warned:
            assert said[0].startswith(f"seed set {tmp_path / name}: 4 of the sampled pages are "
                                      f"pages of the gold set {gold.version}")
            assert "prox train will leave them out of training and validation" in said[0]


def test_rebuild_is_identical_and_seed_changes_the_sample(tmp_path):
    teacher = get_teacher("rules")
    a = build_seed_set(str(SAMPLE), str(tmp_path / "a"), teacher, 40, seed=1, register=False)
    b = build_seed_set(str(SAMPLE), str(tmp_path / "b"), teacher, 40, seed=1, register=False)
    c = build_seed_set(str(SAMPLE), str(tmp_path / "c"), teacher, 40, seed=2, register=False)
    ma, mb = (json.loads((tmp_path / x / "manifest.json").read_text()) for x in "ab")
    assert a.version == b.version and ma["sha256"] == mb["sha256"]
    assert c.version != a.version


def test_diff_teacher_rejects_documents_without_gold_with_reason(tmp_path):
    info = build_seed_set(str(SAMPLE), str(tmp_path / "seed"), get_teacher("diff"),
                          sample_size=50, seed=0, register=False)  # fmt: skip
    rejected = read(tmp_path / "seed" / "rejected.jsonl.gz")
    assert info.rejected_reasons["missing_gold"] == sum(
        "missing_gold" in r["reasons"] for r in rejected
    )
    assert info.sizes["valid"] + info.sizes["rejected"] == 50
    rows = read(tmp_path / "seed" / "train.jsonl.gz") + read(
        tmp_path / "seed" / "validation.jsonl.gz"
    )
    assert rows and all(r["gold_text"] for r in rows)


def test_bad_input_records_are_counted_not_lost(tmp_path):
    src = tmp_path / "in.jsonl"
    good = [{"id": f"d{i}", "text": f"Document {i}\n" + "Some words of running text here. " * 20}
            for i in range(6)]  # fmt: skip
    src.write_text(
        "\n".join(json.dumps(r) for r in good)
        + "\n{not json\n"
        + json.dumps({"id": "e", "text": ""})
        + "\n"
        + json.dumps(good[0])
        + "\n"
    )
    info = build_seed_set(str(src), str(tmp_path / "seed"), get_teacher("rules"), 100,
                          register=False, val_fraction=0.5)  # fmt: skip
    assert info.sizes["snapshot_docs"] == 6 and info.sizes["sampled"] == 6
    assert info.sizes["input_quarantined"] == {
        "malformed_json": 1,
        "empty_text": 1,
        "duplicate_id": 1,
    }
    for bad in (0.0, 1.0):  # no validation or no training documents: prox train refuses it
        with pytest.raises(ValueError, match="val_fraction"):
            build_seed_set(str(src), str(tmp_path / "x"), get_teacher("rules"), 5,
                           val_fraction=bad)


def test_rows_the_labeling_quarantined_keep_its_reason_in_the_seed_set(tmp_path):
    """``prox label`` quarantines a row whose HTML is empty (missing_html) or over
    --max-html-bytes (html_too_large), but the seed set found no label for them and, their
    ``html`` being a string, counted both as ``not_labeled``: the manifest and the summary
    line lost why (and disagreed with the DAG's validate step, which counts the parts'
    quarantine reasons). They keep the labeling's reason now."""
    pytest.importorskip("trafilatura")
    from tests.labeling.test_html import page_html, page_text

    rows = [{"id": f"p{i}", "text": page_text(), "html": page_html()} for i in range(12)]
    rows += [{"id": "empty", "text": page_text(), "html": ""},
             {"id": "huge", "text": page_text(), "html": page_html() * 4},
             {"id": "none", "text": page_text()}]  # fmt: skip
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    info = build_seed_set(str(src), str(tmp_path / "seed"), get_teacher("html"), 100,
                          register=False, val_fraction=0.25,
                          max_html_bytes=2 * len(page_html()))  # fmt: skip
    assert info.rejected_reasons == {"missing_html": 2, "html_too_large": 1}
    rejected = {r["id"]: r["reasons"] for r in read(tmp_path / "seed" / "rejected.jsonl.gz")}
    assert rejected == {"empty": ["missing_html"], "huge": ["html_too_large"],
                        "none": ["missing_html"]}  # fmt: skip
    assert info.sizes["sampled"] == len(rows) == info.sizes["valid"] + info.sizes["rejected"]


def test_steps_mapped_over_shards_give_the_same_seed_set(tmp_path):
    """The Airflow path: sample into shards, label each shard (a mapped task), assemble."""
    from prox_tasks.labeling.run import label_corpus
    from prox_tasks.labeling.seedset import assemble_seed_set, sample_documents

    teacher = get_teacher("rules")
    whole = build_seed_set(
        str(SAMPLE), str(tmp_path / "whole"), teacher, 45, seed=5, val_fraction=0.2,
        register=False)
    sample = sample_documents(str(SAMPLE), str(tmp_path / "steps" / "sample"), 45, seed=5, shards=3)
    assert len(sample["files"]) == 3 and sample["sampled"] == 45
    labels = []
    for i, uri in enumerate(sample["files"]):
        labels.append(str(tmp_path / "steps" / f"labels-{i}.jsonl.gz"))
        summary = label_corpus(uri, labels[-1], teacher)
        assert summary["read"] == summary["written"] == 15
    stepped = assemble_seed_set(sample["files"], labels[::-1], str(tmp_path / "steps"),
                                teacher.describe(), seed=5, val_fraction=0.2, sample_info=sample,
                                register=False)  # fmt: skip
    assert stepped.version == whole.version
    assert stepped.sizes == whole.sizes
    # a shard whose labels never arrived: its documents are rejected as not_labeled
    partial = assemble_seed_set(sample["files"], labels[:2], str(tmp_path / "partial"),
                                teacher.describe(), seed=5, val_fraction=0.2,
                                register=False)  # fmt: skip
    assert partial.rejected_reasons["not_labeled"] == 15


def test_the_training_stage_reads_the_seed_set(tmp_path):
    from prox_tasks.training.seedset import load_seed_set

    info = build_seed_set(str(SAMPLE), str(tmp_path / "seed"), get_teacher("rules"), 30,
                          seed=2, val_fraction=0.2, register=False)  # fmt: skip
    loaded = load_seed_set(str(tmp_path / "seed"))
    assert loaded.version == info.version
    assert len(loaded.train) == info.sizes["train"]
    assert len(loaded.validation) == info.sizes["validation"] > 0
    assert not loaded.skipped


def test_the_inputs_bad_records_are_quarantined_beside_the_sample(tmp_path):
    """Bad input records are not only counted: each is kept with its reason (a file the
    manifest names), and the sampled documents plus those records are the input's."""
    good = [{"id": f"g{i}", "text": f"Line one of page {i}.\nAnother line of words.",
             "source": "s"} for i in range(6)]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(json.dumps(r).encode() for r in good) + b"\n{not json\n"
                    + b'{"id": "x", "text": "caf\xe9"}\n' + json.dumps(good[0]).encode() + b"\n")
    info = build_seed_set(str(src), str(tmp_path / "seed"), get_teacher("rules"), 100,
                          register=False, val_fraction=0.5)  # fmt: skip
    manifest = json.loads((tmp_path / "seed" / "manifest.json").read_text())
    quarantined = [json.loads(line) for line in
                   (tmp_path / "seed" / "sample" / "quarantine.jsonl").read_text().splitlines()]
    assert manifest["files"]["input_quarantine"].endswith("seed/sample/quarantine.jsonl")
    assert sorted(q["reason"] for q in quarantined) == ["bad_encoding", "duplicate_id",
                                                        "malformed_json"]
    assert info.sizes["snapshot_docs"] + len(quarantined) == 9
    assert sum(info.sizes["input_quarantined"].values()) == len(quarantined)


def test_the_same_seed_set_in_a_second_folder_says_to_name_it(tmp_path):
    """docs/teachers.md's build_seed_set example, then its Airflow steps on the same input into
    another folder, failed with SeedSetNameTaken "name this one apart (--name)": both took the
    default name (teacher and content version: the same seed set), and a Python caller has no
    --name. The error now says the same seed set is registered there and to pass name=; a
    rerun naming it registers it, its labels reused."""
    from prox_tasks.catalog.catalog import SeedSetNameTaken
    from prox_tasks.labeling.run import label_corpus
    from prox_tasks.labeling.seedset import assemble_seed_set, sample_documents

    catalog = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    teacher = get_teacher("rules")
    first = build_seed_set(str(SAMPLE), str(tmp_path / "rules-v1"), teacher, 30, seed=0,
                           catalog=catalog)
    out = str(tmp_path / "steps")
    sample = sample_documents(str(SAMPLE), f"{out}/sample", 30, seed=0, shards=2)
    labels = [f"{out}/labels/labels-{i:05d}.jsonl.gz" for i in range(2)]
    for uri, labels_uri in zip(sample["files"], labels, strict=True):
        label_corpus(uri, labels_uri, teacher)

    def assemble(**name):
        return assemble_seed_set(sample["files"], labels, out, teacher.describe(), seed=0,
                                 sample_info=sample, catalog=catalog, **name)

    with pytest.raises(SeedSetNameTaken, match=rf"'{first.name}' is registered for .*rules-v1.*"
                                               r"same seed set.*name="):
        assemble()
    assert assemble(name="rules-v1-steps").catalog_id is not None


def test_build_seed_set_refuses_a_name_that_is_no_path_component_before_sampling(tmp_path):
    """build_seed_set(name="x y") sampled and labeled, then failed to register."""
    from prox_tasks.labeling import get_teacher
    from prox_tasks.labeling.seedset import build_seed_set
    from prox_tasks.storage.names import InvalidName

    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "a sentence of a few words"}\n')
    with pytest.raises(InvalidName, match="invalid seed-set name 'x y'"):
        build_seed_set(str(tmp_path / "in.jsonl"), str(tmp_path / "s"), get_teacher("rules"),
                       sample_size=5, name="x y", register=False)
    assert not (tmp_path / "s").exists()


def test_a_finished_seed_set_keeps_no_empty_checkpoint_folder(tmp_path):
    """``prox label --seed-set`` (and the seed DAG's split, through assemble_seed_set) left
    ``labels/_checkpoints/`` behind, empty, in every seed set; gone now, and a rerun over
    the finished seed set still works (its parts reused) and leaves none either."""
    from prox_tasks.cli import main

    out = tmp_path / "seeds"
    for _ in range(2):
        assert main(["label", "--input", str(SAMPLE), "--output", str(out), "--seed-set",
                     "--teacher", "rules", "--sample-size", "40", "--no-register"]) == 0
        assert (out / "labels").is_dir() and (out / "manifest.json").is_file()
        assert not (out / "labels" / "_checkpoints").exists()


def test_a_rejected_label_kept_as_an_excerpt_stays_rejected_in_the_seed_set(tmp_path):
    """A rejected label's program over ``MAX_REJECTED_PROGRAM_CHARS`` is kept in its row as
    its first characters (``program_excerpt``: length and SHA-256). The seed set's assembly
    validates each label again: a cut program may pass checks the whole one failed (the
    first lines of 300,000 ``keep_chunk()`` calls), so such a row keeps its reasons."""
    from prox_tasks.labeling.run import label_corpus
    from prox_tasks.labeling.sampling import iter_jsonl, write_jsonl
    from prox_tasks.labeling.seedset import assemble_seed_set, sample_documents

    teacher = get_teacher("rules")
    sample = sample_documents(str(SAMPLE), str(tmp_path / "sample"), 30, seed=5)
    labels = str(tmp_path / "labels.jsonl.gz")
    label_corpus(sample["files"][0], labels, teacher)
    rows = list(iter_jsonl(labels))
    cut = rows[0]  # a valid label's programs: the excerpt passes the checks again
    cut.update(valid=False, rejected=["chunk:over_limit"],
               program_excerpt={"chunk_program": {"chars": 3_900_000, "sha256": "0" * 64}})
    write_jsonl(labels, rows)
    info = assemble_seed_set(sample["files"], [labels], str(tmp_path / "seed"),
                             teacher.describe(), seed=5, val_fraction=0.2, register=False)
    assert info.rejected_reasons == {"chunk:over_limit": 1}
    rejected = [json.loads(line) for line in gzip.open(tmp_path / "seed" / "rejected.jsonl.gz")]
    assert [r["id"] for r in rejected] == [str(cut["id"])]
