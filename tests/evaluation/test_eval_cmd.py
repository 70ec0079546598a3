import gzip
import json

import pytest

from prox_tasks.cli import main
from prox_tasks.evaluation import evaluate_files


def _write(path, rows, extra=""):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
        fh.write(extra)


def test_prox_eval_prints_one_json_line(tmp_path, capsys):
    gold = tmp_path / "gold.jsonl.gz"
    refined = tmp_path / "refined.jsonl"
    _write(gold, [
        {"id": "1", "gold_text": "the cat sat", "page_type": "article"},
        {"id": "2", "gold_text": "a dog ran far", "page_type": "forum"},
        {"id": "3", "gold_text": "missing from refined", "page_type": "forum"},
        {"id": "4", "text": "no gold here"},
    ])  # fmt: skip
    _write(refined, [
        {"id": "1", "text": "the cat sat on the mat"},
        {"id": "2", "text": None, "dropped": True},
        {"id": "9", "text": "extra"},
    ], extra="{bad json\n")  # fmt: skip
    assert main(["eval", "--json", "--refined", str(refined), "--gold", str(gold), "--by", "page_type"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    result = json.loads(out[0])
    assert result["precision"] == pytest.approx(3 / 6)
    assert result["recall"] == pytest.approx(3 / 10)
    assert result["docs"] == 3 and result["docs_kept"] == 1 and result["docs_missing"] == 1
    assert result["docs_dropped"] == 1  # every scored document is kept, dropped or missing
    assert main(["eval", "--refined", str(refined), "--gold", str(gold)]) == 0
    line = capsys.readouterr().out
    assert "over 3 gold documents (1 kept, 1 dropped, 1 missing)" in line, line
    assert result["bad_rows"] == 1 and result["gold_rows_without_gold"] == 1
    assert result["refined_without_gold"] == 1
    assert result["by_group"]["forum"]["recall"] == 0.0


def test_custom_fields(tmp_path):
    gold = tmp_path / "g.jsonl"
    refined = tmp_path / "r.jsonl"
    _write(gold, [{"doc": "x", "clean": "one two"}])
    _write(refined, [{"doc": "x", "raw_content": "one two three"}])
    result = evaluate_files(str(refined), str(gold), text_field="raw_content",
                            gold_field="clean", id_field="doc")  # fmt: skip
    assert result["recall"] == 1.0 and result["precision"] == pytest.approx(2 / 3)


def test_missing_file_is_an_error(tmp_path, capsys):
    assert (
        main(
            ["eval", "--json", "--refined", str(tmp_path / "nope.jsonl"), "--gold",
             str(tmp_path / "g.jsonl")]
        )
        == 2
    )
    out = capsys.readouterr()
    assert out.out == "" and "nope.jsonl" in out.err and out.err.startswith("prox eval: ")


def test_prox_eval_reads_a_parquet_file_of_plain_rows(tmp_path, capsys):
    """Refined rows exported with write_documents (or by another tool) have no refined-shard
    ``stats``/``meta`` columns; they are scored like JSONL rows."""
    from prox_tasks.corpus import write_documents

    gold = tmp_path / "gold.jsonl"
    _write(gold, [{"id": "1", "gold_text": "the cat sat"}, {"id": "2", "gold_text": "a dog ran"}])
    refined = tmp_path / "refined.parquet"
    write_documents(str(refined), [{"id": "1", "text": "the cat sat on the mat"},
                                   {"id": "2", "text": "a dog"}])
    assert main(["eval", "--json", "--refined", str(refined), "--gold", str(gold)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["docs"] == 2 and result["docs_kept"] == 2
    assert result["precision"] == pytest.approx(5 / 8) and result["recall"] == pytest.approx(5 / 6)


GOLD = [{"id": "1", "gold_text": "the cat sat"}, {"id": "2", "gold_text": "a dog ran far"}]


@pytest.mark.parametrize("name", ["gold", "gold.ndjson", "gold.json"])
def test_a_gold_file_of_any_name_is_read_as_jsonl(tmp_path, capsys, name):
    _write(tmp_path / name, GOLD)
    _write(tmp_path / "r.jsonl", [{"id": "1", "text": "the cat sat"}, {"id": "2", "text": "a dog"}])
    assert main(["eval", "--refined", str(tmp_path / "r.jsonl"), "--gold", str(tmp_path / name)]) == 0
    assert "over 2 gold documents" in capsys.readouterr().out


def test_a_folder_of_gold_files_skips_what_is_not_jsonl(tmp_path, capsys):
    folder = tmp_path / "gold"
    folder.mkdir()
    _write(folder / "a.jsonl.gz", GOLD[:1])
    _write(folder / "b.jsonl", GOLD[1:])
    (folder / "README.md").write_text("# not rows\nsecond line\n")
    _write(tmp_path / "r.jsonl", [{"id": "1", "text": "the cat sat"}, {"id": "2", "text": "a dog"}])
    assert main(["eval", "--json", "--refined", str(tmp_path / "r.jsonl"), "--gold", str(folder)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["docs"] == 2 and result["bad_rows"] == 0


@pytest.mark.parametrize("which", ["gold", "refined"])
def test_a_wrong_path_or_empty_source_is_an_error_not_a_score(tmp_path, capsys, which):
    _write(tmp_path / "g.jsonl", GOLD)
    _write(tmp_path / "r.jsonl", [{"id": "1", "text": "the cat sat"}])
    (tmp_path / "empty.jsonl").write_text("")
    for bad in (tmp_path / "typo", tmp_path / "no-such-folder", tmp_path / "empty.jsonl"):
        paths = {"gold": str(tmp_path / "g.jsonl"), "refined": str(tmp_path / "r.jsonl"), which: str(bad)}
        # an empty file: nothing to score; a path to nothing (NoInputFiles): input to fix (2)
        assert main(["eval", "--refined", paths["refined"], "--gold", paths["gold"]]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.count("\n") == 1 and "prox eval" in captured.err


def test_repeated_ids_and_rows_without_id_are_counted_and_named(tmp_path, capsys):
    _write(tmp_path / "g.jsonl", [*GOLD, GOLD[1]])
    _write(tmp_path / "r.jsonl", [{"id": "1", "text": "the cat sat"}, {"id": "1", "text": "other"},
                                  {"text": "no id"}, {"id": "2", "text": "a dog ran far"}])
    assert main(["eval", "--refined", str(tmp_path / "r.jsonl"), "--gold", str(tmp_path / "g.jsonl")]) == 0
    line = capsys.readouterr().out
    assert "F1 1.000 over 2 gold documents" in line  # the first row of each id, each gold once
    # one of each, said in the singular
    assert "1 refined row without id" in line and "1 repeated refined id (" in line
    assert "1 repeated gold id (" in line


def test_refined_rows_matching_no_gold_row_are_named_on_the_line(tmp_path, capsys):
    """Refined ids that are all wrong (another snapshot's output) read as "recall 0" only
    with the count of rows that matched nothing beside it."""
    _write(tmp_path / "g.jsonl", GOLD)
    _write(tmp_path / "r.jsonl", [{"id": "x1", "text": "the cat sat"},
                                  {"id": "x2", "text": "a dog ran far"}])
    assert main(["eval", "--refined", str(tmp_path / "r.jsonl"), "--gold", str(tmp_path / "g.jsonl")]) == 0
    assert "2 refined rows matching no gold row" in capsys.readouterr().out


def test_refined_rows_of_gold_rows_without_gold_text_are_not_matching_no_gold_row(
        tmp_path, capsys):
    """A gold file where only some rows hold a gold text (the bundled sample: 161 of 300)
    said "135 refined rows matching no gold row" of rows whose gold row is there without a
    text, which reads as wrong ids; such a row is counted once, as a gold row without text."""
    _write(tmp_path / "g.jsonl", [*GOLD, {"id": "t", "text": "no gold text here"}])
    _write(tmp_path / "r.jsonl", [{"id": "1", "text": "the cat sat"},
                                  {"id": "t", "text": "no gold text"},
                                  {"id": "x", "text": "a row of another snapshot"}])
    assert main(["eval", "--json", "--refined", str(tmp_path / "r.jsonl"),
                 "--gold", str(tmp_path / "g.jsonl")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["refined_without_gold"] == 1 and result["gold_rows_without_gold"] == 1
    assert main(["eval", "--refined", str(tmp_path / "r.jsonl"),
                 "--gold", str(tmp_path / "g.jsonl")]) == 0
    line = capsys.readouterr().out
    assert "1 refined row matching no gold row" in line
    assert "1 gold row without a 'gold_text' text" in line


def test_gold_rows_without_id_are_counted_as_such(tmp_path, capsys):
    _write(tmp_path / "g.jsonl", [*GOLD, {"gold_text": "an id is missing"}])
    _write(tmp_path / "r.jsonl", [{"id": "1", "text": "the cat sat"}])
    assert main(["eval", "--json", "--refined", str(tmp_path / "r.jsonl"),
                 "--gold", str(tmp_path / "g.jsonl")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["gold_rows_without_id"] == 1 and result["gold_rows_without_gold"] == 0


def test_gold_under_another_field_name_says_which_option_names_it(tmp_path, capsys):
    """Gold rows whose clean text is in ``clean``: an error naming the way out (before: only
    the count of rows without a 'gold_text' text)."""
    _write(tmp_path / "g.jsonl", [{"id": "1", "clean": "the cat sat"}])
    _write(tmp_path / "r.jsonl", [{"id": "1", "text": "the cat sat"}])
    args = ["eval", "--refined", str(tmp_path / "r.jsonl"), "--gold", str(tmp_path / "g.jsonl")]
    assert main(args) == 2  # input to fix, as other commands' (not 1, not "ValueError: …")
    err = capsys.readouterr().err
    assert err.startswith("prox eval: no gold row with an id and a 'gold_text' text"), err
    assert "(1 row without a text, 0 without an id, 0 bad rows skipped; --gold-field names " \
        "the field holding the gold text)" in err
    assert main([*args, "--gold-field", "clean"]) == 0
    assert capsys.readouterr().out.startswith("word precision 1.000, recall 1.000")


def test_gold_rows_without_their_text_are_named_by_the_gold_field_given(tmp_path, capsys):
    """With --gold-field text, the rows lacking it were said to be 'without a gold_text', a
    field the run did not read: the line names the field given."""
    _write(tmp_path / "g.jsonl", [{"id": "1", "text": "the cat sat"}, {"id": "2", "text": 7}])
    _write(tmp_path / "r.jsonl", [{"id": "1", "text": "the cat sat"}])
    assert main(["eval", "--refined", str(tmp_path / "r.jsonl"), "--gold", str(tmp_path / "g.jsonl"),
                 "--gold-field", "text"]) == 0
    line = capsys.readouterr().out
    assert "1 gold row without a 'text' text" in line and "gold_text" not in line, line


def test_bad_rows_are_said_by_reason(tmp_path, capsys):
    """'21 bad rows skipped' told nothing of what was wrong with them, though each was read
    with its reason: the line and --json give the counts by reason."""
    _write(tmp_path / "g.jsonl", GOLD, extra='{"id": "3", "gold_text": \n[1, 2]\n')
    with (tmp_path / "g.jsonl").open("ab") as fh:
        fh.write(b'{"id": "4", "gold_text": "caf\xe9"}\n')  # latin-1
    _write(tmp_path / "r.jsonl", [{"id": "1", "text": "the cat sat"}], extra="{bad json\n")
    args = ["eval", "--refined", str(tmp_path / "r.jsonl"), "--gold", str(tmp_path / "g.jsonl")]
    assert main(args) == 0
    line = capsys.readouterr().out
    assert "4 bad rows skipped (2 malformed_json, 1 bad_encoding, 1 not_an_object)" in line, line
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bad_rows_by_reason"] == {
        "bad_encoding": 1, "malformed_json": 2, "not_an_object": 1}


def test_a_snapshot_with_no_refined_row_says_why_and_what_to_do(tmp_path, capsys):
    """prox eval --refined over a snapshot only planned said 'no refined rows at out', as
    for a wrong path; the same over one whose every document was quarantined. Each now says
    which it is and what to do."""
    _write(tmp_path / "g.jsonl", GOLD)
    _write(tmp_path / "in.jsonl", [{"id": "1", "text": ""}, {"id": "2"}])
    out = str(tmp_path / "out")
    args = ["eval", "--refined", out, "--gold", str(tmp_path / "g.jsonl")]
    assert main(["plan", "--input", str(tmp_path / "in.jsonl"), "--output", out]) == 0
    assert main(args) == 2
    assert "no refined rows at " + out + ": the snapshot is planned but no shard of it is " \
        "refined yet; refine it first (prox refine" in capsys.readouterr().err
    assert main(["refine", "--input", str(tmp_path / "in.jsonl"), "--output", out, "--model",
                 "default", "--catalog", f"sqlite:///{tmp_path / 'c.sqlite'}",
                 "--no-progress"]) == 2  # every record quarantined: refine fails, shards written
    capsys.readouterr()
    assert main(args) == 2
    assert ": its shards hold no row (every document quarantined); its quarantine/ and prox " \
        "gate say why" in capsys.readouterr().err


def test_a_glob_of_refined_shard_files_is_read_as_the_folder_is(tmp_path, capsys):
    """``prox eval --refined 'out/shards/*.parquet'`` failed with "No such file or directory:
    …/*.parquet": a name ending .parquet was opened as one file, though every URI may be a
    glob (docs/storage.md) and --gold takes one."""
    _write(tmp_path / "g.jsonl", GOLD)
    _write(tmp_path / "in.jsonl", [{"id": r["id"], "text": r["gold_text"]} for r in GOLD])
    out = tmp_path / "out"
    assert main(["refine", "--input", str(tmp_path / "in.jsonl"), "--output", str(out),
                 "--model", "default", "--target-docs", "1", "--catalog",
                 f"sqlite:///{tmp_path / 'c.sqlite'}", "--no-progress"]) == 0
    assert len(list((out / "shards").glob("*.parquet"))) == len(GOLD) > 1
    capsys.readouterr()
    lines = []
    for refined in (out, out / "shards" / "*.parquet"):
        assert main(["eval", "--refined", str(refined), "--gold", str(tmp_path / "g.jsonl")]) == 0
        lines.append(capsys.readouterr().out)
    assert lines[0] == lines[1] and f"over {len(GOLD)} gold documents" in lines[0], lines
    assert main(["eval", "--refined", str(out / "shards" / "x*.parquet"), "--gold",
                 str(tmp_path / "g.jsonl")]) == 1
    assert "no Parquet file matches " in capsys.readouterr().err


def test_a_snapshot_folder_is_read_as_its_plan_says_not_as_listed(tmp_path, capsys):
    """prox eval --refined OUT (and OUT/shards/*.parquet) read every file listed in
    shards/: a shard of an older plan of the folder (its record another plan's: files
    restored by a sync, a replan stopped while it removed them) was scored too — its
    documents counted as repeated ids, others' texts scored that no shard of the plan
    holds. Only the plan's shards, each with its record of this plan, are read now."""
    import shutil

    gold = [*GOLD, {"id": "3", "gold_text": "birds sing"}]
    _write(tmp_path / "g.jsonl", gold)
    _write(tmp_path / "in.jsonl", [{"id": r["id"], "text": r["gold_text"]} for r in gold])
    out = tmp_path / "out"
    refine = ["refine", "--input", str(tmp_path / "in.jsonl"), "--output", str(out), "--model",
              "default", "--catalog", f"sqlite:///{tmp_path / 'c.sqlite'}", "--no-progress"]
    assert main([*refine, "--target-docs", "1"]) == 0
    old = tmp_path / "old"
    for folder in ("shards", "_status"):
        shutil.copytree(out / folder, old / folder)
    assert main([*refine, "--shards", "1", "--replan"]) == 0
    capsys.readouterr()
    args = ["eval", "--json", "--gold", str(tmp_path / "g.jsonl"), "--refined"]
    assert main([*args, str(out)]) == 0
    alone = json.loads(capsys.readouterr().out)
    for name in ("shards/shard-00001.parquet", "shards/shard-00002.parquet",
                 "_status/shard-00001.json", "_status/shard-00002.json"):
        shutil.copy(old / name, out / name)  # the older plan's shards 1 and 2, back
    for refined in (out, out / "shards", out / "shards" / "*.parquet"):
        assert main([*args, str(refined)]) == 0
        assert json.loads(capsys.readouterr().out) == alone, refined
    assert alone["refined_duplicate_ids"] == 0 and alone["docs"] == 3


def test_a_replanned_snapshot_beside_an_older_plans_shards_is_said_unrefined(tmp_path, capsys):
    """prox eval reads a snapshot's shards as its plan says, but its hint for no row read
    listed shards/: with only an older plan's shards there (a replan stopped while it removed
    them) it said "its shards hold no row (every document quarantined)" of a plan none of
    whose shards is refined. The hint takes the plan's shards too."""
    import shutil

    _write(tmp_path / "g.jsonl", GOLD)
    _write(tmp_path / "in.jsonl", [{"id": r["id"], "text": r["gold_text"]} for r in GOLD])
    out = tmp_path / "out"
    assert main(["refine", "--input", str(tmp_path / "in.jsonl"), "--output", str(out),
                 "--model", "default", "--catalog", f"sqlite:///{tmp_path / 'c.sqlite'}",
                 "--no-progress"]) == 0
    shutil.copytree(out / "shards", tmp_path / "old")
    shutil.rmtree(out)  # planned again, from scratch
    assert main(["plan", "--input", str(tmp_path / "in.jsonl"), "--output", str(out),
                 "--target-docs", "1"]) == 0
    shutil.copytree(tmp_path / "old", out / "shards")  # the older plan's shard, back
    capsys.readouterr()
    assert main(["eval", "--refined", str(out), "--gold", str(tmp_path / "g.jsonl")]) == 2
    err = capsys.readouterr().err
    assert ": the snapshot is planned but no shard of it is refined yet" in err, err


@pytest.mark.parametrize("which", ["refined", "gold"])
def test_files_of_bad_rows_only_say_so(tmp_path, capsys, which):
    """"No rows" when every row was malformed sends the user looking for a wrong path."""
    _write(tmp_path / "g.jsonl", GOLD)
    _write(tmp_path / "r.jsonl", [{"id": "1", "text": "the cat sat"}])
    (tmp_path / f"{which[0]}.jsonl").write_text("{bad json\n[1, 2]\n")
    assert main(["eval", "--refined", str(tmp_path / "r.jsonl"), "--gold", str(tmp_path / "g.jsonl")]) == 2
    assert "2 bad rows skipped" in capsys.readouterr().err
    (tmp_path / f"{which[0]}.jsonl").write_text("{bad json\n")
    assert main(["eval", "--refined", str(tmp_path / "r.jsonl"), "--gold", str(tmp_path / "g.jsonl")]) == 2
    assert "1 bad row skipped" in capsys.readouterr().err  # not "1 bad rows"


EVAL_PROBE = """
import sys
from prox_tasks.evaluation import evaluate_files

def status(field):  # kB; VmHWM is the peak since the last reset
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))

refined, gold, warm, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
evaluate_files(warm, gold)  # imports warm
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak starts again from here
before = status("VmRSS:")
result = evaluate_files(refined, gold)
print(result["docs_kept"], result["refined_without_gold"], (status("VmHWM:") - before) / size)
"""


def test_memory_follows_the_gold_set_not_the_refined_corpus(tmp_path):
    """``prox eval --refined <a whole snapshot> --gold <a few hundred pages>``: every refined
    text was held until the gold was read (a 100 MB refined corpus, 116 MB more; a nightly
    snapshot, out of memory); now only the gold documents' texts are, and 16 bytes per
    other row. Measured in a fresh process (its peak RSS, VmHWM, reset before the run)."""
    import subprocess
    import sys

    page = "word " * 200_000  # 1 MB
    rows = [{"id": str(i), "text": page} for i in range(100)]
    _write(tmp_path / "r.jsonl", rows)
    _write(tmp_path / "warm.jsonl", rows[:2])
    _write(tmp_path / "g.jsonl", [{"id": "7", "gold_text": "word word"}])
    size = (tmp_path / "r.jsonl").stat().st_size
    out = subprocess.run([sys.executable, "-c", EVAL_PROBE, str(tmp_path / "r.jsonl"),
                          str(tmp_path / "g.jsonl"), str(tmp_path / "warm.jsonl"), str(size)],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[:2] == ["1", "99"]
    assert float(out[2]) < 0.5, f"peak memory {float(out[2]):.2f}x the refined rows' size"


def test_a_gold_file_s_numeric_ids_match_the_ids_prox_refine_gives(tmp_path):
    """A gold file exported by pandas holds an integer id column with a null as floats
    (``12345.0``); prox refine gives that record the id ``12345`` (the readers' one rule),
    and prox eval compared ``str(12345.0)``: every such page went unscored, counted missing."""
    from prox_tasks.corpus import read_documents

    gold, source, refined = tmp_path / "g.jsonl", tmp_path / "in.jsonl", tmp_path / "r.jsonl"
    _write(gold, [{"id": 12345.0, "gold_text": "one two"}, {"id": 7, "gold_text": "three"},
                  {"id": [1], "gold_text": "an id no reader takes"}])
    _write(source, [{"id": 12345.0, "text": "one two four"}, {"id": 7, "text": "three"}])
    _write(refined, [{"id": d.id, "text": d.text} for d in read_documents(str(source))])
    result = evaluate_files(str(refined), str(gold))
    assert result["docs"] == 2 and result["docs_missing"] == 0
    assert result["recall"] == 1.0 and result["gold_rows_without_id"] == 1


def test_by_a_field_no_gold_row_holds_is_refused_not_one_group_none(tmp_path, capsys):
    """``prox eval --by pagetype`` (for page_type) printed the totals and, in --json,
    ``by_group: {"None": …}`` with exit code 0: a typo split nothing, silently. It is a usage
    error now, naming the option; a field some rows lack still groups those under None."""
    gold, refined = tmp_path / "gold.jsonl", tmp_path / "refined.jsonl"
    _write(gold, [{"id": "1", "gold_text": "the cat sat", "page_type": "article"},
                  {"id": "2", "gold_text": "a dog ran"}])
    _write(refined, [{"id": "1", "text": "the cat sat"}, {"id": "2", "text": "a dog ran"}])
    args = ["eval", "--json", "--refined", str(refined), "--gold", str(gold)]
    assert main([*args, "--by", "pagetype"]) == 2
    said = capsys.readouterr()
    assert said.out == "" and "prox eval: --by pagetype: no gold row holds a value" in said.err
    assert main([*args, "--by", "page_type"]) == 0
    assert set(json.loads(capsys.readouterr().out)["by_group"]) == {"article", "None"}


def test_a_gold_id_too_large_for_a_float_matches_the_id_prox_refine_gives(tmp_path):
    """A gold row ``{"id": 123456789012345678901.0}``: prox refine gives its record the id
    ``123456789012345678901`` (the digits written, jsonl.parse_line), and the gold id was
    read through a float (refused as bad_id since 429b82c): the page went unscored, its gold
    row counted without an id. Rows are read as documents are."""
    from prox_tasks.corpus import read_documents

    gold, source, refined = tmp_path / "g.jsonl", tmp_path / "in.jsonl", tmp_path / "r.jsonl"
    gold.write_text('{"id": 123456789012345678901.0, "gold_text": "one two"}\n'
                    '{"doc": 123456789012345678902.0, "gold_text": "three"}\n')
    source.write_text('{"id": 123456789012345678901.0, "text": "one two four"}\n')
    _write(refined, [{"id": d.id, "text": d.text} for d in read_documents(str(source))])
    result = evaluate_files(str(refined), str(gold))
    assert result["docs"] == 1 and result["docs_missing"] == 0 and result["recall"] == 1.0
    assert result["gold_rows_without_id"] == 1  # the second row has its number under "doc"


def test_a_gold_file_not_in_utf8_says_why_its_rows_were_skipped(tmp_path, capsys):
    """A latin-1 gold file: every row skipped as bad_encoding, and the error says so (before:
    "1 bad row skipped" without the reason, after a "ValueError:" and exit 1); exit 2."""
    (tmp_path / "g.jsonl").write_bytes('{"id": "1", "gold_text": "café"}\n'.encode("latin-1"))
    _write(tmp_path / "r.jsonl", [{"id": "1", "text": "café"}])
    args = ["eval", "--refined", str(tmp_path / "r.jsonl"), "--gold", str(tmp_path / "g.jsonl")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("prox eval: no gold row with an id"), err
    assert "1 bad row skipped (1 bad_encoding)" in err, err
