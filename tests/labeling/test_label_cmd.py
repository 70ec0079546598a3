import gzip
import json
import re

import pytest

from prox_tasks.cli import main
from prox_tasks.programs import parse


def _rows(path):
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def test_prox_label_rules_writes_one_valid_row_per_document(tmp_path, capsys):
    src = tmp_path / "in.jsonl.gz"
    with gzip.open(src, "wt", encoding="utf-8") as fh:
        fh.write(
            json.dumps({"id": "a", "text": "Home\nNews\n" + "A sentence of real text. " * 30})
            + "\n"
        )
        fh.write("{broken json\n")
        fh.write(json.dumps({"raw_content": "x", "id": "no-text"}) + "\n")
        fh.write(json.dumps({"id": "b", "text": "Menu\nLogin\nPrivacy Policy"}) + "\n")
    out = tmp_path / "labels.jsonl.gz"
    assert main(["label", "--json", "--input", str(src), "--output", str(out), "--teacher", "rules"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["read"], summary["written"]) == (4, 2)  # read = labeled + quarantined
    assert summary["quarantined"] == {"malformed_json": 1, "missing_text": 1}
    rows = _rows(out)
    assert [r["id"] for r in rows] == ["a", "b"]
    assert [r["doc_program"] for r in rows] == ["keep_doc()", "drop_doc()"]
    for r in rows:
        assert r["teacher"] == "rules" and r["valid"] and r["rejected"] == []
        assert not parse(r["chunk_program"]).errors and "text" not in r
    quarantine = (tmp_path / "labels.jsonl.quarantine.jsonl").read_text().splitlines()
    assert len(quarantine) == 2


def test_prox_label_diff_needs_gold_and_quarantines_rows_without(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    text = "Site | Home\nThe real content is this sentence, which is long enough to keep.\nFooter"
    src.write_text(
        json.dumps({"id": "g", "text": text, "gold_text": "The real content is this sentence, "
                    "which is long enough to keep."}) + "\n" + json.dumps({"id": "n", "text": text}) + "\n"
    )  # fmt: skip
    out = tmp_path / "labels.jsonl"
    assert main(["label", "--json", "--input", str(src), "--output", str(out), "--teacher", "diff",
                 "--keep-text", "--unchunked"]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == 1 and summary["quarantined"] == {"missing_gold": 1}
    row = json.loads(out.read_text())
    assert (
        row["chunk_program"]
        == "remove_lines(line_start=0, line_end=0)\nremove_lines(line_start=2, line_end=2)"
    )
    assert row["text"] == text


def test_prox_label_llm_without_endpoint_is_a_clear_error(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "hello"}) + "\n")
    code = main(["label", "--json", "--input", str(src), "--output", str(tmp_path / "o.jsonl"),
                 "--teacher", "llm", "--model", "m"])  # fmt: skip
    # a setting to fix (exit 2), said as prox's own line: it was exit 1, "ValueError: …"
    assert code == 2
    out = capsys.readouterr()
    assert out.out == "" and "base URL" in out.err and out.err.startswith("prox label: ")
    assert "ValueError" not in out.err


def test_prox_label_llm_without_a_model_is_a_setting_to_fix(tmp_path, capsys):
    """`prox label --teacher llm` as a new user first types it, without --model: exit 1 and
    "prox label: ValueError: …", as if labeling had failed; a setting to fix exits 2."""
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "hello"}) + "\n")
    code = main(["label", "--input", str(src), "--output", str(tmp_path / "o.jsonl"),
                 "--teacher", "llm"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("prox label: the llm teacher needs a model name (prox label "
                          "--model NAME"), err
    assert not (tmp_path / "o.jsonl").exists()


def test_prox_label_seed_set_registers_in_the_catalog(tmp_path, capsys):
    from prox_tasks.catalog import Catalog

    from .conftest import SAMPLE

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    out = tmp_path / "seed"
    code = main(["label", "--json", "--input", str(SAMPLE), "--output", str(out), "--seed-set",
                 "--sample-size", "20", "--seed", "4", "--name", "seed-test", "--catalog", url])  # fmt: skip
    assert code == 0
    info = json.loads(capsys.readouterr().out)
    assert info["sizes"]["sampled"] == 20 and info["catalog_id"] is not None
    assert json.loads((out / "manifest.json").read_text())["version"] == info["version"]
    # a canonical URI, as the catalog's snapshot and release rows name their folders
    assert Catalog(url).get_seed_set("seed-test")["uri"] == out.as_uri()


def test_prox_label_seed_set_again_reuses_the_parts_it_labeled(tmp_path, capsys):
    """A rerun over the same input labels nothing again (the teacher is not paid twice) and
    writes the same seed set. A rerun over an input edited since is refused, not relabeled
    into the same folder: that replaced the seed set — its manifest, files and catalog row
    (one row per name) — under a model that may have been trained on it, which the claim
    refuses for every other setting and the seed DAG refuses for a named seed set over a
    rewritten input. The edited input makes a new seed set in another --output. (Only the
    edited document's part being labeled again is label_part's, tested with the DAG:
    tests/pipeline/test_seeding.py.)"""
    rows = [{"id": f"d{i}", "text": f"Paragraph {i} of real text that a reader keeps. " * 6}
            for i in range(12)]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "seed"
    args = ["label", "--json", "--input", str(src), "--output", str(out), "--seed-set",
            "--sample-size", "12", "--no-register"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    parts = sorted((out / "labels").glob("labels-*.jsonl.gz"))
    written = {p: p.stat().st_mtime_ns for p in parts}
    assert parts and all(p.with_name(p.name.replace(".jsonl.gz", ".done.json")).exists()
                         for p in parts)
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["version"] == first["version"]
    assert {p: p.stat().st_mtime_ns for p in parts} == written  # reused, not rewritten

    manifest = (out / "manifest.json").read_bytes()
    rows[0]["text"] = "A new opening line.\n" + rows[0]["text"]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "the --input files' digest" in err and "(the input was rewritten since)" in err, err
    assert "another --output" in err, err
    assert (out / "manifest.json").read_bytes() == manifest
    assert {p: p.stat().st_mtime_ns for p in parts} == written  # nothing relabeled here
    elsewhere = tmp_path / "seed-2"
    assert main([*args[:4], "--output", str(elsewhere), *args[6:]]) == 0
    assert json.loads(capsys.readouterr().out)["version"] != first["version"]
    labeled = [json.loads(line) for p in sorted((elsewhere / "labels").glob("labels-*.jsonl.gz"))
               for line in gzip.open(p, "rt")]
    assert next(r for r in labeled if r["id"] == "d0")["label_meta"]["lines"] == 2


def test_a_quarantine_that_cannot_be_written_publishes_no_labels(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "A sentence that is long enough to keep. " * 5})
                   + "\n{not json\n")
    (tmp_path / "afile").write_text("a file, not a folder")
    out = tmp_path / "labels.jsonl"
    assert main(["label", "--input", str(src), "--output", str(out),
                 "--quarantine", str(tmp_path / "afile" / "q.jsonl")]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    assert not out.exists()


def test_a_repeated_id_is_labeled_once_and_its_repeat_quarantined(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    text = "A sentence of real text that a reader would keep. " * 10
    rows = [{"id": "a", "text": text}, {"id": "b", "text": text}, {"id": "a", "text": "other"}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "labels.jsonl"
    assert main(["label", "--json", "--input", str(src), "--output", str(out),
                 "--teacher", "rules"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["read"], summary["written"]) == (3, 2)
    assert summary["quarantined"] == {"duplicate_id": 1}
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["a", "b"]
    held = json.loads((tmp_path / "labels.jsonl.quarantine.jsonl").read_text())
    assert (held["id"], held["reason"], held["offset"]) == ("a", "duplicate_id", 2)


def test_a_repeated_id_is_quarantined_naming_where_the_id_was_read_first(tmp_path, capsys):
    """A repeated id's quarantine entry named its own file and record, and said only 'id
    labeled before': which of the input's files holds the first, a user had to search
    every file for. It now names both places, as the refine step does (``prox label`` and
    ``--seed-set``, whose sample quarantine said nothing at all)."""
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    text = "A sentence of real text that a reader would keep. " * 10
    (crawl / "part-0.jsonl").write_text("".join(
        json.dumps({"id": i, "text": text}) + "\n" for i in ("b", "a", "c", "d")))
    (crawl / "part-1.jsonl").write_text(json.dumps({"id": "a", "text": "other"}) + "\n")
    first = f"{(crawl / 'part-0.jsonl').as_uri()} record 1"
    out = tmp_path / "labels.jsonl"
    assert main(["label", "--input", str(crawl), "--output", str(out)]) == 0
    capsys.readouterr()
    held = json.loads((tmp_path / "labels.jsonl.quarantine.jsonl").read_text())
    assert (held["source"], held["offset"]) == ((crawl / "part-1.jsonl").as_uri(), 0)
    assert held["reason"] == "duplicate_id" and first in held["detail"], held
    seed = tmp_path / "seed"
    assert main(["label", "--input", str(crawl), "--output", str(seed), "--seed-set",
                 "--sample-size", "4", "--val-fraction", "0.5", "--no-register"]) == 0
    held = json.loads((seed / "sample" / "quarantine.jsonl").read_text())
    assert held["reason"] == "duplicate_id" and first in held["detail"], held


def test_limit_reads_no_row_past_the_nth_document(tmp_path, capsys):
    """``--limit 2`` labeled two documents but read a whole batch ahead (64 documents), so
    the bad rows past the second were quarantined and counted as read: a quick trial run
    over the head of a large delivery reported (and wrote) the rest's bad rows. The reader
    now stops at the limit; a bad row before it is still quarantined."""
    good = [json.dumps({"id": f"d{i}", "text": "A sentence of real text. " * 8}) for i in range(3)]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([good[0], "{bad", good[1], good[2], *["{bad"] * 5]) + "\n")
    out = tmp_path / "labels.jsonl"
    assert main(["label", "--json", "--input", str(src), "--output", str(out), "--limit", "2"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["read"], summary["written"]) == (3, 2)
    assert summary["quarantined"] == {"malformed_json": 1}
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["d0", "d1"]


def test_a_seed_set_whose_split_is_empty_is_refused_and_not_registered(tmp_path, capsys):
    from prox_tasks.catalog import Catalog

    from .conftest import SAMPLE

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    code = main(["label", "--input", str(SAMPLE), "--output", str(tmp_path / "seed"),
                 "--seed-set", "--sample-size", "3", "--val-fraction", "0.1", "--name", "tiny",
                 "--catalog", url])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "validation=0" in err and "--val-fraction" in err
    assert Catalog(url).get_seed_set("tiny") is None  # prox train could not use it
    seed_set_files = {"manifest.json", "train.jsonl.gz", "validation.jsonl.gz"}
    assert not seed_set_files & {p.name for p in (tmp_path / "seed").iterdir()}  # no seed set


def test_split_settings_prox_train_would_refuse_are_refused_before_the_folder_is_claimed(
        tmp_path, capsys):
    """--val-fraction 0 (a seed set without validation documents) and --sample-size 1 (one
    document cannot be both trained and validated on) make seed sets prox train refuses:
    refused before sampling, by the same rule (check_split_settings), and the rerun with the
    setting fixed is not refused as "other settings" of a claimed folder (prox train's
    refusal: tests/training/test_seedset.py)."""
    from .conftest import SAMPLE

    out = tmp_path / "seed"
    args = ["label", "--input", str(SAMPLE), "--output", str(out), "--seed-set", "--no-register"]
    for bad, says in ((["--val-fraction", "0"], "--val-fraction 0: a seed set needs validation"),
                      (["--val-fraction", "1"], "--val-fraction 1: a seed set needs validation"),
                      (["--sample-size", "1"], "--sample-size 1: a seed set needs at least 2")):
        assert main([*args, *bad]) == 2
        assert says in capsys.readouterr().err
        assert not out.exists()
    assert main([*args, "--sample-size", "30", "--val-fraction", "0.2"]) == 0


def test_options_of_the_one_file_route_are_refused_with_seed_set(tmp_path, capsys):
    from .conftest import SAMPLE

    for extra in (["--limit", "5"], ["--keep-text"],  # --warc applies: test_warc.py
                  ["--quarantine", str(tmp_path / "q.jsonl")]):
        assert main(["label", "--input", str(SAMPLE), "--output", str(tmp_path / "seed"),
                     "--seed-set", "--no-register", *extra]) == 2
        assert f"{extra[0]} does not apply with --seed-set" in capsys.readouterr().err
    assert main(["label", "--input", str(SAMPLE), "--output", str(tmp_path / "seed"),
                 "--seed-set", "--no-register", "--limit", "5", "--keep-text"]) == 2
    assert "--limit, --keep-text do not apply with --seed-set" in capsys.readouterr().err
    assert not (tmp_path / "seed").exists()


def test_prox_label_format_reads_a_spark_partition(tmp_path, capsys):
    """``--format jsonl``, as ``prox refine --format`` and the seed DAG's ``format`` Param:
    Spark's ``part-…-c000.json`` files are labeled, and sampled into a seed set (without
    it, the folder held no input file)."""
    rows = [{"id": f"d{i}", "text": "A sentence of real text. " * 20 + str(i)} for i in range(6)]
    folder = tmp_path / "spark"
    folder.mkdir()
    for part in (0, 1):
        (folder / f"part-0000{part}-c000.json").write_text(
            "".join(json.dumps(r) + "\n" for r in rows[part * 3:part * 3 + 3]))
    out = tmp_path / "labels.jsonl.gz"
    assert main(["label", "--json", "--input", str(folder), "--output", str(out),
                 "--format", "jsonl"]) == 0
    assert json.loads(capsys.readouterr().out)["written"] == 6
    assert main(["label", "--json", "--input", str(folder), "--output", str(tmp_path / "seed"),
                 "--seed-set", "--no-register", "--sample-size", "4", "--val-fraction", "0.25",
                 "--format", "jsonl"]) == 0
    assert json.loads(capsys.readouterr().out)["sizes"]["snapshot_docs"] == 6


def test_a_seed_set_rerun_with_other_settings_is_refused_and_keeps_the_first(tmp_path, capsys):
    """prox label --seed-set into a folder holding a seed set made with another teacher or
    sample size is refused, naming what differs and the way out; the seed set, its catalog
    row and its labels stay as they were. The same settings again still succeed."""
    from prox_tasks.catalog import Catalog

    from .conftest import SAMPLE

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    out = tmp_path / "seed"
    args = ["label", "--json", "--input", str(SAMPLE), "--output", str(out), "--seed-set",
            "--sample-size", "20", "--name", "seed-a", "--catalog", url]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    manifest = (out / "manifest.json").read_bytes()
    row = Catalog(url).get_seed_set("seed-a")
    for other, differs in ((["--teacher", "diff"], "--teacher 'rules' -> 'diff'"),
                           (["--sample-size", "12"], "--sample-size 20 -> 12")):
        changed = [a for a in args if a not in ("--sample-size", "20")] + (
            other if "--sample-size" in other else ["--sample-size", "20", *other])
        assert main(changed) == 1
        err = capsys.readouterr().err
        assert differs in err and "another --output" in err, err
        assert (out / "manifest.json").read_bytes() == manifest
        assert Catalog(url).get_seed_set("seed-a") == row
    assert main(args) == 0  # the same settings: idempotent
    assert json.loads(capsys.readouterr().out)["version"] == first["version"]


def test_a_seed_set_name_taken_by_another_folder_is_refused_before_sampling(tmp_path, capsys):
    """--name of a seed set registered for another --output would move its catalog row to
    the new folder; it is refused before anything is sampled, as a setting to fix (exit 2:
    it exited 1, as a failure a rerun may get past)."""
    from prox_tasks.catalog import Catalog

    from .conftest import SAMPLE

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    args = ["label", "--json", "--input", str(SAMPLE), "--seed-set", "--sample-size", "20",
            "--name", "seed-a", "--catalog", url]
    assert main([*args, "--output", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    row = Catalog(url).get_seed_set("seed-a")
    assert main([*args, "--output", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("prox label: seed set name 'seed-a' is registered for"), err
    assert "seed set name 'seed-a' is registered for" in err and "(--name)" in err, err
    assert not (tmp_path / "b").exists()
    assert Catalog(url).get_seed_set("seed-a") == row


def test_a_seed_set_with_a_mistyped_input_does_not_claim_its_folder(tmp_path, capsys):
    """--input naming no file fails before the folder is claimed: the rerun with the input
    fixed writes the seed set, instead of being refused as a run with other settings."""
    from .conftest import SAMPLE

    out = tmp_path / "seed"
    args = ["label", "--output", str(out), "--seed-set", "--sample-size", "20", "--no-register"]
    assert main([*args, "--input", str(tmp_path / "no-such.jsonl.gz")]) == 2
    assert "no input files" in capsys.readouterr().err
    assert not (out / "params.json").exists()
    assert main([*args, "--input", str(SAMPLE)]) == 0, capsys.readouterr().err


def test_a_seed_set_written_before_params_json_is_not_replaced_by_other_settings(
        tmp_path, capsys):
    """prox label --seed-set into a folder an older prox wrote (no params.json; removed
    here): a rerun with another seed is refused by what its manifest.json tells, naming the
    option as given and the way out; the seed set stays as it was."""
    from .conftest import SAMPLE

    out = tmp_path / "seed"
    args = ["label", "--json", "--input", str(SAMPLE), "--output", str(out), "--seed-set",
            "--sample-size", "20", "--no-register"]
    assert main(args) == 0
    capsys.readouterr()
    (out / "params.json").unlink()
    manifest = (out / "manifest.json").read_bytes()
    assert main([*args, "--seed", "3"]) == 1
    err = capsys.readouterr().err
    assert "--seed 0 -> 3" in err and "written before params.json" in err, err
    assert "another --output" in err, err
    assert (out / "manifest.json").read_bytes() == manifest


def _plain_rows(path, n):
    path.write_text("".join(json.dumps({"id": str(i), "text": f"Page {i}.\nA sentence that is "
                                        "long enough to be running text on a page."}) + "\n"
                            for i in range(n)))  # fmt: skip
    return path


def test_a_diff_or_html_teacher_over_rows_without_its_input_is_refused(tmp_path, capsys):
    """No row has a gold text (diff) or HTML (html): prox label says what is missing and what
    to give, and publishes nothing (it reads the whole input first: the rows that have it may
    come later, test_an_input_whose_rows_with_gold_come_after_the_first_thousand_…)."""
    src = _plain_rows(tmp_path / "in.jsonl", 2500)
    for teacher, says in (("diff", "--gold-field NAME"), ("html", "--warc")):
        out = tmp_path / f"{teacher}.jsonl"
        assert main(["label", "--input", str(src), "--output", str(out),
                     "--teacher", teacher]) == 1  # fmt: skip
        err = capsys.readouterr().err
        assert f"the {teacher} teacher needs" in err and says in err, err
        assert "none of the 2,500 documents read" in err and "--teacher" in err
        assert not list(tmp_path.glob(f"{teacher}.jsonl*"))


def test_a_seed_set_with_a_teacher_its_input_cannot_feed_is_refused_before_claiming(tmp_path,
                                                                                   capsys):
    """Refused before sampling and before the folder is claimed for the diff teacher: the
    rerun with another --teacher into the same --output goes on."""
    src = _plain_rows(tmp_path / "in.jsonl", 40)
    seed = tmp_path / "seed"
    args = ["label", "--input", str(src), "--output", str(seed), "--seed-set", "--sample-size",
            "40", "--val-fraction", "0.3", "--no-register"]
    assert main([*args, "--teacher", "diff"]) == 1
    assert "the diff teacher needs a clean text (gold)" in capsys.readouterr().err
    assert not seed.exists()
    assert main([*args, "--teacher", "rules"]) == 0


def test_an_input_whose_rows_with_gold_come_after_the_first_thousand_is_labeled_not_refused(
        tmp_path, capsys, caplog):
    """The first 1,100 rows have no gold text, the last 100 have one. prox label --teacher
    diff stopped after 1,000 rows and refused the input ("none of the 1,024 documents read
    has it; ... choose another teacher"), and so did --seed-set before sampling: wrong, and
    no option got past it. Both now read on (saying so) and label the rows that have it;
    only an input where no row has it is refused, naming every document read."""
    rows = [{"id": str(i), "text": f"Page {i} | Menu\nA sentence that is long enough to be "
             "running text on a page."} for i in range(1200)]  # fmt: skip
    for row in rows[1100:]:
        row["gold_text"] = "A sentence that is long enough to be running text on a page."
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "labels.jsonl"
    assert main(["label", "--json", "--input", str(src), "--output", str(out),
                 "--teacher", "diff"]) == 0, capsys.readouterr().err  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == summary["valid"] == 100
    assert summary["quarantined"] == {"missing_gold": 1100}
    assert "none of the first 1,024 documents" in caplog.text  # said while reading on

    seed = tmp_path / "seed"
    assert main(["label", "--json", "--input", str(src), "--output", str(seed), "--seed-set",
                 "--teacher", "diff", "--sample-size", "1200", "--val-fraction", "0.3",
                 "--no-register"]) == 0, capsys.readouterr().err  # fmt: skip
    info = json.loads(capsys.readouterr().out)
    assert info["sizes"]["valid"] == 100 and info["rejected_reasons"] == {"missing_gold": 1100}
    assert info["label_distribution"]["by_teacher"] == {"diff": 100}
    assert main(["label", "--input", str(src), "--output", str(seed), "--seed-set",
                 "--teacher", "diff", "--sample-size", "1200", "--val-fraction", "0.3",
                 "--no-register"]) == 0  # fmt: skip
    line = capsys.readouterr().out  # the rerun (parts reused) says why so few are valid
    assert "100 valid, 1,100 rejected (1,100 missing_gold: sampled rows without " \
        "--gold-field), " in line, line

    none = _plain_rows(tmp_path / "none.jsonl", 1500)  # no row has it: refused, rightly
    for extra in ([], ["--seed-set", "--sample-size", "100", "--no-register"]):
        assert main(["label", "--input", str(none), "--output", str(tmp_path / "refused"),
                     "--teacher", "diff", *extra]) == 1  # fmt: skip
        assert "none of the 1,500 documents read" in capsys.readouterr().err
    assert not list(tmp_path.glob("refused*"))


def test_options_of_the_seed_set_route_are_refused_without_seed_set(tmp_path, capsys):
    """prox label --sample-size 100 without --seed-set labeled every document, the option
    ignored silently (so --seed, --val-fraction, --name, --catalog, --no-register): the mirror
    of the refusal above, from the same table, is a usage error and writes nothing."""
    from .conftest import SAMPLE

    out = tmp_path / "labels.jsonl"
    for extra in (["--sample-size", "100"], ["--seed", "0"], ["--val-fraction", "0.2"],
                  ["--name", "seed-a"], ["--catalog", str(tmp_path / "c.sqlite")],
                  ["--no-register"]):
        assert main(["label", "--input", str(SAMPLE), "--output", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert f"{extra[0]} does not apply without --seed-set" in err and "add --seed-set" in err
    assert main(["label", "--input", str(SAMPLE), "--output", str(out), "--sample-size", "9",
                 "--seed", "3"]) == 2
    assert "--sample-size, --seed do not apply without --seed-set" in capsys.readouterr().err
    assert not out.exists()


def test_a_label_file_named_as_another_format_is_refused(tmp_path, capsys):
    """prox label --output labels.parquet wrote JSON Lines under that name (exit 0): a
    reader going by the name fails on it. Refused as prox execute refuses it, nothing
    written; a seed set's --output is a folder, whatever its name."""
    from .conftest import SAMPLE

    for name, option in (("labels.parquet", "--output"), ("q.jsonl.bz2", "--quarantine")):
        out, quarantine = tmp_path / "labels.jsonl", tmp_path / "q.jsonl"
        if option == "--output":
            out = tmp_path / name
        else:
            quarantine = tmp_path / name
        assert main(["label", "--input", str(SAMPLE), "--output", str(out), "--quarantine",
                     str(quarantine), "--limit", "5"]) == 2
        err = capsys.readouterr().err
        assert f"{option} {tmp_path / name} is named" in err and ".jsonl.gz" in err, err
        assert not out.exists() and not quarantine.exists()
    assert main(["label", "--input", str(SAMPLE), "--output", str(tmp_path / "labels.jsonl.gz"),
                 "--limit", "5"]) == 0


def test_help_states_the_seed_set_defaults(capsys):
    """``prox label --help`` showed no default for --sample-size, --seed, --val-fraction
    (None in the parser, so a refusal without --seed-set tells them from what was typed;
    tests/cli/test_train_cmd.py::test_help_states_every_default checks the rest)."""
    from prox_tasks.cli.label_cmd import SEED_SET_DEFAULTS

    with pytest.raises(SystemExit):
        main(["label", "--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert SEED_SET_DEFAULTS == {"sample_size": 5000, "seed": 0, "val_fraction": 0.1}
    for flag, default in (("--sample-size", "5000"), ("--seed", "0"), ("--val-fraction", "0.1"),
                          ("--text-field", "text"), ("--id-field", "id")):
        assert re.search(rf"{flag} \S+ [^-]*\(default {default}\b", said), flag


def test_a_seed_set_of_an_input_whose_every_record_is_quarantined_says_why(tmp_path, capsys):
    """prox label --seed-set over an input whose every record is bad said "NoDocuments: no
    documents in IN", and kept no quarantine: not which records, why, nor what to do. It now
    counts them by reason, writes each to the sample's quarantine file (nothing lost) and
    names the field rows hold a string in."""
    src = tmp_path / "bad.jsonl"
    src.write_text('{"id": "a", "raw_content": "Some words of a page."}\n{not json\n')
    seed = tmp_path / "seed"
    assert main(["label", "--input", str(src), "--output", str(seed), "--seed-set",
                 "--sample-size", "2", "--no-register"]) == 2
    err = capsys.readouterr().err
    quarantine = seed / "sample" / "quarantine.jsonl"
    assert f"no documents in {src}: all its 2 records were quarantined (1 malformed_json, " \
        f"1 missing_text), each with its reason and detail in {quarantine.as_uri()}: fix the " \
        "input, or how it is read (text and id fields, format); 1 of them hold a string in " \
        "'raw_content'" in err, err
    assert [json.loads(line)["reason"] for line in quarantine.read_text().splitlines()] == [
        "missing_text", "malformed_json"]


def test_a_seed_set_into_another_tools_folder_is_refused_as_not_a_seed_set(tmp_path, capsys):
    """prox label --seed-set --output naming a model registry or a refined snapshot (a path
    typo) was refused as 'seed set X was written before params.json recorded its settings …;
    … or remove that folder if nothing was trained on it': advice to delete a registry. It
    is now refused as no seed set's folder, naming what it holds; nothing is written to it."""
    from .conftest import SAMPLE

    registry = tmp_path / "registry"
    (registry / "refiner" / "line_tagger-0123456789ab").mkdir(parents=True)
    (registry / "refiner" / "line_tagger-0123456789ab" / "artifact.json").write_text("{}")
    snapshot = tmp_path / "snapshot"
    (snapshot / "shards").mkdir(parents=True)
    (snapshot / "manifest.json").write_text('{"shards": [], "files": []}')
    (snapshot / "shards" / "shard-00000.parquet").write_bytes(b"PAR1")
    for folder, holds in ((registry, "it holds refiner/ and"),
                          (snapshot, "it holds manifest.json, shards/ and")):
        before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
        code = main(["label", "--input", str(SAMPLE), "--output", str(folder), "--seed-set",
                     "--sample-size", "20", "--no-register"])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 1 and f"{folder.as_uri()} is not a seed set's folder: {holds}" in err, err
        assert "write the seed set to another --output folder" in err
        assert "remove that folder" not in err
        assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before


def test_a_seed_set_rerun_over_another_input_is_not_said_to_be_a_rewritten_input(
        tmp_path, capsys):
    """A rerun into a seed set's folder with another --input was refused naming the input,
    the input files' digest and "(the input was rewritten since)": an input that was not
    rewritten at all. It now names the --input alone; the same --input edited since is still
    said to be rewritten (test_prox_label_seed_set_again_reuses_the_parts_it_labeled)."""
    rows = [{"id": f"d{i}", "text": f"Paragraph {i} of real text that a reader keeps. " * 6}
            for i in range(6)]
    first, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text("".join(json.dumps(r) + "\n" for r in rows))
    other.write_text("".join(json.dumps(r) + "\n" for r in rows[:5]))
    out = tmp_path / "seed"
    tail = ["--output", str(out), "--seed-set", "--sample-size", "4", "--val-fraction", "0.5",
            "--no-register"]  # fmt: skip
    assert main(["label", "--input", str(first), *tail]) == 0
    capsys.readouterr()
    assert main(["label", "--input", str(other), *tail]) == 1
    err = capsys.readouterr().err
    assert f"--input '{first.as_uri()}' -> '{other.as_uri()}'" in err, err
    assert "digest" not in err and "rewritten" not in err, err


def test_a_seed_set_whose_split_is_empty_says_what_to_change_however_long_its_path(
        tmp_path, capsys):
    """The refusal of a seed set whose split is empty ends with the options to change; it was
    re-raised as a plain ValueError, whose line the CLI cuts at 400 characters as another
    library's, so under a long --output (the rejected file's URI is quoted) or many rejection
    reasons it ended "sample more documents or change …". It is printed whole now."""
    from .conftest import SAMPLE

    out = tmp_path / ("nightly-seed-sets-" + "x" * 200) / "seed"
    code = main(["label", "--input", str(SAMPLE), "--output", str(out), "--seed-set",
                 "--sample-size", "3", "--val-fraction", "0.1", "--no-register"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 1 and "…" not in err, err
    assert err.endswith("(--sample-size, --val-fraction) (-v for the traceback)"), err


def test_a_seed_set_whose_default_name_is_taken_says_it_is_written_and_how_to_register_it(
        tmp_path, capsys):
    """The same seed set built into a second folder (a trial folder, then the production
    one) has the same default name (``seed-<teacher>-<version>``), registered for the first
    folder: ``prox label`` exited 1 with "name this one apart (--name)" once every document
    was labeled, not saying that the seed set was written nor that a rerun with --name pays
    nothing again. It says both now, and that rerun registers it with the labels reused."""
    from prox_tasks.catalog import Catalog

    rows = [{"id": f"d{i}", "text": f"Paragraph {i} of real text that a reader keeps. " * 6}
            for i in range(6)]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    tail = ["--seed-set", "--sample-size", "4", "--val-fraction", "0.5", "--catalog", url]
    assert main(["label", "--input", str(src), "--output", str(tmp_path / "trial"), *tail]) == 0
    capsys.readouterr()
    prod = tmp_path / "prod"
    assert main(["label", "--input", str(src), "--output", str(prod), *tail]) == 2  # a setting to fix
    err = capsys.readouterr().err
    assert f"the seed set is written in {prod.as_uri()} but not registered" in err, err
    assert "--name NAME" in err and "nothing is labeled again" in err, err
    parts = {p: p.stat().st_mtime_ns for p in (prod / "labels").glob("labels-*.jsonl.gz")}
    assert main(["label", "--input", str(src), "--output", str(prod), *tail,
                 "--name", "seed-prod"]) == 0  # fmt: skip
    assert {p: p.stat().st_mtime_ns for p in parts} == parts
    assert Catalog(url).get_seed_set("seed-prod")["uri"] == prod.as_uri()


def test_a_seed_set_name_registered_while_it_labels_says_how_to_register_it(tmp_path,
                                                                            capsys):
    """--name checked before sampling, then registered by another run for its own folder
    while this one labeled: the refusal was the bare "name this one apart (--name)",
    saying nothing of the complete folder left unregistered. It says now that the seed set
    is written and that a rerun with another --name reuses its labels; that rerun does."""
    import threading
    import time

    from prox_tasks.catalog import Catalog

    from .conftest import SAMPLE

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    out, other = tmp_path / "prod", (tmp_path / "other").as_uri()
    # 20 real pages: labeling them outlasts the other run's registration by far
    tail = ["--input", str(SAMPLE), "--output", str(out), "--seed-set", "--sample-size", "20",
            "--catalog", url]
    stop = threading.Event()

    def another_run_registers_it() -> None:  # once the name was checked and the folder claimed
        while not stop.is_set() and not (out / "params.json").exists():
            time.sleep(0.005)
        with Catalog(url) as catalog:
            catalog.register_seed_set("seed-a", "rules", other)

    watcher = threading.Thread(target=another_run_registers_it, daemon=True)
    watcher.start()
    try:
        assert main(["label", *tail, "--name", "seed-a"]) == 2  # a setting to fix
    finally:
        stop.set()
        watcher.join()
    err = capsys.readouterr().err
    assert (f"seed set name 'seed-a' is registered for {other}, not {out.as_uri()}; name this "
            "one apart (--name): another run registered it while this one labeled: the seed "
            f"set is written in {out.as_uri()} but not registered; run again with --name "
            "ANOTHER") in err, err
    parts = {p: p.stat().st_mtime_ns for p in (out / "labels").glob("labels-*.jsonl.gz")}
    assert parts
    assert main(["label", *tail, "--name", "seed-b"]) == 0
    assert {p: p.stat().st_mtime_ns for p in parts} == parts  # nothing labeled again
    assert Catalog(url).get_seed_set("seed-b")["uri"] == out.as_uri()


def test_a_seed_set_rerun_naming_its_input_folder_with_a_trailing_slash_goes_on(tmp_path, capsys):
    """``--input crawl`` then ``--input crawl/`` (a shell's completion adds the slash) name one
    folder, yet the rerun was refused as other settings ("--input '…/crawl' -> '…/crawl/'").
    It now reuses the seed set, as ``storage.same_uri`` compares folders everywhere else."""
    folder = tmp_path / "crawl"
    folder.mkdir()
    rows = [{"id": f"d{i}", "text": f"Paragraph {i} of real text that a reader keeps. " * 6}
            for i in range(6)]
    (folder / "part-0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "seed"
    tail = ["--output", str(out), "--seed-set", "--sample-size", "4", "--val-fraction", "0.5",
            "--no-register", "--json"]  # fmt: skip
    assert main(["label", "--input", str(folder), *tail]) == 0
    version = json.loads(capsys.readouterr().out)["version"]
    assert main(["label", "--input", f"{folder}/", *tail]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["version"] == version


def test_a_seed_set_written_inside_its_input_folder_is_not_read_as_input_again(tmp_path,
                                                                                capsys):
    """``prox label --seed-set --input crawl --output crawl/seed-v1``: the rerun listed the
    seed set's own files (sample, labels, splits) as input, so the input's digest changed and
    the rerun was refused as over a rewritten input (and would have sampled its own sample
    again). A seed set's folder inside an input is skipped, as a refined output folder is."""
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    rows = [{"id": f"d{i}", "text": f"Paragraph {i} of real text that a reader keeps. " * 6}
            for i in range(8)]
    (crawl / "part-0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["label", "--json", "--input", str(crawl), "--output", str(crawl / "seed-v1"),
            "--seed-set", "--sample-size", "6", "--val-fraction", "0.5", "--no-register"]
    assert main(args) == 0, capsys.readouterr().err
    first = json.loads(capsys.readouterr().out)
    assert main(args) == 0, capsys.readouterr().err
    again = json.loads(capsys.readouterr().out)
    assert again["version"] == first["version"]
    assert again["sizes"]["snapshot_docs"] == 8 and not again["sizes"]["input_quarantined"]


def test_a_file_of_no_known_format_in_the_input_folder_is_said_on_the_summary_line(tmp_path,
                                                                                 capsys):
    """prox label over a folder holding a notes.txt and a stats.json beside its JSONL said them
    only in a log warning: the summary line and --json read as if the folder were all read.
    They are now named there, as prox plan's skipped_files, each with why and what to do."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text(json.dumps(
        {"id": "a", "text": "A plain page of words that is long enough to label."}) + "\n")
    (folder / "notes.txt").write_text("about this crawl\n")
    (folder / "stats.json").write_text('{"docs": 1}\n')
    out = tmp_path / "labels.jsonl"
    assert main(["label", "--input", str(folder), "--output", str(out)]) == 0
    line = capsys.readouterr().out
    assert f", 2 input files of no known format not read ({(folder / 'notes.txt').as_uri()}, " \
        f"{(folder / 'stats.json').as_uri()}; the --json summary's skipped_files says why: " \
        "rename them .jsonl or pass --format jsonl to read JSON Lines) -> " in line, line
    assert main(["label", "--json", "--input", str(folder), "--output", str(out)]) == 0
    skipped = json.loads(capsys.readouterr().out)["skipped_files"]
    assert [f["uri"] for f in skipped] == [(folder / n).as_uri() for n in ("notes.txt",
                                                                           "stats.json")]
    assert "rename it .jsonl or pass --format (format=) jsonl" in skipped[1]["reason"]


def test_a_crawls_warc_and_wat_beside_its_wet_are_not_said_to_be_renamed_jsonl(tmp_path,
                                                                               capsys):
    """A Common Crawl folder (the real whirlwind WET, WARC and WAT): the summary line said the
    WARC and WAT were "of no known format" and to "rename them .jsonl or pass --format jsonl",
    which reads them as bad records (a WARC holds HTML, a WAT JSON metadata), while the log
    said to give their WET. The line now says that too; a folder mixing them with a notes file
    says both."""
    import shutil
    from pathlib import Path

    crawl = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "commoncrawl_warc"
    folder = tmp_path / "segment"
    folder.mkdir()
    for name in ("whirlwind.warc.wet.gz", "whirlwind.warc.gz", "whirlwind.warc.wat.gz"):
        shutil.copy(crawl / name, folder / name)
    out = tmp_path / "labels.jsonl"
    assert main(["label", "--input", str(folder), "--output", str(out)]) == 0
    line = capsys.readouterr().out
    assert (f", 2 input files not read ({(folder / 'whirlwind.warc.gz').as_uri()}, "
            f"{(folder / 'whirlwind.warc.wat.gz').as_uri()}; the --json summary's skipped_files "
            "says why: a WARC or WAT file holds no text to read: give its WET conversion "
            "(.warc.wet.gz)) -> ") in line, line
    (folder / "notes.txt").write_text("about this crawl\n")
    assert main(["label", "--input", str(folder), "--output", str(out)]) == 0
    line = capsys.readouterr().out
    assert ", 3 input files of no known format not read (" in line, line
    assert ("give its WET conversion (.warc.wet.gz); rename them .jsonl or pass --format jsonl "
            "to read JSON Lines) -> ") in line, line


def test_limit_counts_documents_labeled_not_repeated_ids(tmp_path, capsys):
    """prox label --limit 55 over rows where an id came twice labeled 54 documents: the
    repeat (quarantined as duplicate_id) counted toward the limit. --limit is the number of
    documents labeled (its help and docs/teachers.md): 55 now, the repeat quarantined, and no
    row past the 55th labeled document read."""
    rows = [{"id": f"d{i}", "text": f"Page {i} holds a plain paragraph of ordinary words."}
            for i in range(60)]
    rows.insert(10, dict(rows[3]))  # d3 again, inside the first 55 rows
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "labels.jsonl"
    assert main(["label", "--json", "--input", str(src), "--output", str(out),
                 "--limit", "55"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["written"], summary["quarantined"], summary["read"]) == (
        55, {"duplicate_id": 1}, 56)
    assert [json.loads(line)["id"] for line in open(out)] == [f"d{i}" for i in range(55)]


def test_a_seed_set_s_summary_names_the_column_holding_the_text_as_plain_label_does(
        tmp_path, capsys):
    """prox label --seed-set over rows some of which hold their text under 'content' said
    the generic 'a text under another field name wants --text-field', where plain prox label
    names the column ('5 of them hold a string in 'content''). It now says the same; and
    nothing of --text-field when the rows hold no other string (an id only)."""
    rows = [{"id": f"g{i}", "text": f"A plain sentence number {i} with enough words. " * 4}
            for i in range(8)]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows)
                   + "".join(json.dumps({"id": f"c{i}", "content": "Words of a page."}) + "\n"
                             for i in range(5)))
    args = ["--seed-set", "--no-register", "--sample-size", "8", "--val-fraction", "0.5"]
    assert main(["label", "--input", str(src), "--output", str(tmp_path / "s1"), *args]) == 0
    line = capsys.readouterr().out
    assert "5 quarantined (5 missing_text) in " in line and "(missing_text: 5 of them hold a " \
        "string in 'content': --text-field content if it is the text" in line, line
    manifest = json.loads((tmp_path / "s1" / "manifest.json").read_text())
    assert "input_text_candidates" not in manifest  # the seed set's files: as before
    # the seed DAG's XCom of a release before this field still builds its SeedSetInfo
    from prox_tasks.labeling.seedset import SeedSetInfo

    old = {k: manifest[k] for k in ("name", "version", "uri", "manifest_uri", "files",
                                    "teacher", "sizes", "label_distribution",
                                    "rejected_reasons", "strata")}
    assert SeedSetInfo(**old).input_text_candidates == {}
    src.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"id": "n"}\n')
    assert main(["label", "--input", str(src), "--output", str(tmp_path / "s2"), *args]) == 0
    line = capsys.readouterr().out
    assert "1 quarantined (1 missing_text) in " in line and "--text-field" not in line, line


@pytest.mark.parametrize("teacher, size", [("rules", "500"), ("best", "20")])
def test_a_file_of_the_input_folder_not_read_is_said_once(tmp_path, caplog, teacher, size):
    """docs/training.md's first step, ``prox label --seed-set`` over the bundled sample's
    folder (data/sample: its README.md beside the JSONL), said "skipping .../README.md: not
    read ..." three or four times: the input's digest, the check that it holds files, the
    teacher's look at the first rows and each of the sampling's two passes each listed it.
    The sampling says it; the other passes are quiet. The README itself, a docs file, is
    never said now (a docs file, not data); a notes file stands for a file not read."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "README.md").write_text("# pages\n")
    (folder / "notes.txt").write_text("how these pages were chosen\n")
    prose = "A sentence that is long enough to be running text on a page, with its words."
    rows = [{"id": str(i), "text": f"Page {i} | Menu\n{prose}", "gold_text": prose}
            for i in range(40)]
    (folder / "pages.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["label", "--input", str(folder), "--output", str(tmp_path / "seed"),
                 "--seed-set", "--sample-size", size, "--val-fraction", "0.3",
                 "--teacher", teacher, "--no-register"]) == 0  # fmt: skip
    said = [r for r in caplog.records if "notes.txt" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in said]
    assert not [r for r in caplog.records if "README" in r.getMessage()]


@pytest.mark.parametrize("name", ["../../elsewhere", "a/b", "naïve-名前", "x" * 129, ".hidden"])
def test_a_seed_set_name_the_seed_dag_would_refuse_is_refused_before_any_work(name, tmp_path,
                                                                             capsys):
    """``prox label --seed-set --name`` registered any string: ``../../elsewhere``, a
    name of 300 characters, one in Unicode, none of which the seed DAG's seed_set_name
    (a folder under seed_root) takes, nor ``prox train``'s registry. It is refused as the
    DAG refuses it now, before the folder is claimed or a page labeled; so are
    ``build_seed_set(name=...)`` and the catalog's registration."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.labeling import get_teacher
    from prox_tasks.labeling.seedset import build_seed_set
    from prox_tasks.storage.names import InvalidName

    from .conftest import SAMPLE

    out, url = tmp_path / "seeds", f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    assert main(["label", "--input", str(SAMPLE), "--output", str(out), "--seed-set",
                 "--sample-size", "20", "--catalog", url, "--name", name]) == 2
    assert f"invalid seed-set name {name!r}" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(InvalidName):
        build_seed_set(str(SAMPLE), str(out), get_teacher("rules"), 20, name=name,
                       register=False)
    assert not out.exists()
    with Catalog(url) as catalog, pytest.raises(InvalidName):
        catalog.register_seed_set(name, "rules", out.as_uri())


def test_an_interrupted_prox_label_says_what_a_rerun_does(tmp_path):
    """Ctrl-C in `prox label` said only "prox label: interrupted", where `prox refine` and
    `prox train` say what the same command does with the work done. The one-file route
    publishes nothing and says so (the real process, a real SIGINT while its output's
    temporary file is open); the seed-set route says its labeled parts are reused."""
    import signal
    import subprocess
    import sys
    import time

    from prox_tasks.cli import _stopped_hint, build_parser

    src = tmp_path / "in.jsonl.gz"
    with gzip.open(src, "wt", encoding="utf-8") as fh:
        for i in range(20_000):
            fh.write(json.dumps({"id": str(i), "text": "Home\nNews\n" + f"Sentence {i}. " * 40})
                     + "\n")
    out = tmp_path / "out" / "labels.jsonl.gz"
    out.parent.mkdir()
    run = subprocess.Popen(
        [sys.executable, "-m", "prox_tasks.cli", "label", "--input", str(src), "--output",
         str(out), "--teacher", "rules", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # a test run in the background ignores SIGINT, and so would this child
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not any(out.parent.iterdir()) and run.poll() is None:
            assert time.monotonic() < deadline, "no output opened within 120 s"
            time.sleep(0.05)
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 130, err[-2000:]
    assert f"prox label: interrupted: nothing was written to {out} (it is published " \
        "complete); the same prox label command labels the input again" in err, err[-2000:]
    assert list(out.parent.iterdir()) == []  # nothing published, no temporary file left
    argv = ["label", "--input", str(src), "--output", str(tmp_path / "seed"), "--teacher",
            "rules", "--seed-set"]
    assert _stopped_hint(build_parser(argv).parse_args(argv)) == (
        ": the same prox label command finishes the seed set: the parts labeled are reused "
        "and a part stopped midway resumes from its last labeled batch")
