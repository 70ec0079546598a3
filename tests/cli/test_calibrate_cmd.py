"""``prox calibrate``: the shipped tagger's keep threshold for a recall target, on pages with
gold (30 rows of the packaged gold set, scored by the real tagger)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from prox_tasks.cli import main
from prox_tasks.evaluation.goldset import GOLD_FILE

GOLD = Path(__file__).resolve().parents[2] / "prox_tasks" / "evaluation" / "gold" / GOLD_FILE


@pytest.fixture(scope="module")
def gold_rows(tmp_path_factory) -> Path:
    """30 gold pages and one line that is not JSON (counted, not fatal)."""
    path = tmp_path_factory.mktemp("calibrate") / "pages.jsonl"
    with gzip.open(GOLD, "rt", encoding="utf-8") as src:
        lines = [next(src) for _ in range(30)]
    path.write_text("".join(lines) + "{not json\n", encoding="utf-8")
    return path


def _calibrate(capsys, *args) -> tuple[int, dict]:
    code = main(["calibrate", "--json", *args])
    out = capsys.readouterr().out
    return code, json.loads(out) if code == 0 else {}


def test_picks_the_most_precise_threshold_that_meets_the_recall_target(gold_rows, capsys):
    code, result = _calibrate(capsys, "--gold", str(gold_rows), "--model", "default",
                              "--recall-target", "0.9")
    assert code == 0
    assert result["docs"] == 30 and result["rows"] == 30 and result["bad_rows"] == 1
    assert result["model_version"].startswith("line_tagger-") and result["shipped_threshold"] == 0.85
    curve = result["curve"]
    # a higher keep threshold keeps a superset of the lines: recall never falls along the curve
    recalls = [p["recall"] for p in sorted(curve, key=lambda p: p["threshold"])]
    assert recalls == sorted(recalls) and recalls[0] < recalls[-1]
    meeting = [p for p in curve if p["recall_low"] >= 0.9]
    assert meeting and result["met"] is True
    best = max(meeting, key=lambda p: (p["precision"], -p["threshold"]))
    assert result["threshold"] == best["threshold"] == result["point"]["threshold"]


def test_a_higher_target_keeps_more(gold_rows, capsys):
    _, low = _calibrate(capsys, "--gold", str(gold_rows), "--recall-target", "0.8")
    _, high = _calibrate(capsys, "--gold", str(gold_rows), "--recall-target", "1")
    assert low["threshold"] < high["threshold"]
    assert low["point"]["recall"] < high["point"]["recall"]
    # recall 1 is out of reach (gold words the page text lacks): the most recall, reported unmet
    assert high["met"] is False and high["threshold"] == max(p["threshold"] for p in high["curve"])


def test_human_summary_names_the_option_to_use(gold_rows, capsys):
    assert main(["calibrate", "--gold", str(gold_rows), "--recall-target", "0.9"]) == 0
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and "--keep-threshold" in line and "meets 0.9" in line
    assert "30 pages with gold (1 bad row)" in line, line  # the line that is not JSON


def test_too_few_pages_with_gold_is_a_clear_error(gold_rows, capsys):
    assert main(["calibrate", "--gold", str(gold_rows), "--min-docs", "31"]) == 1
    err = capsys.readouterr().err
    assert "30 rows with a 'gold_text' text, fewer than --min-docs 31" in err


def test_gold_under_another_field_name_says_which_option_names_it(gold_rows, capsys):
    assert main(["calibrate", "--gold", str(gold_rows), "--gold-field", "clean"]) == 1
    err = capsys.readouterr().err
    assert "0 rows with a 'clean' text, fewer than --min-docs 20" in err
    assert "; --gold-field names the field holding the gold text)" in err


def test_gold_rows_without_the_page_text_say_which_option_names_it(tmp_path, capsys):
    """Gold rows as ``prox eval`` reads them (an id and the gold text, no page text): the
    error led with '0 rows with a 'gold_text' text', which every row had, so the user
    looked at --gold-field; it now names the page text that is missing and --text-field,
    before a model is loaded."""
    path = tmp_path / "gold.jsonl"
    rows = [{"id": str(i), "gold_text": "the clean words of page"} for i in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n")
    assert main(["calibrate", "--gold", str(path), "--model", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert "gold.jsonl: no row has a string 'text', the page text to refine (3 rows without " \
        "one, 1 bad line); --text-field names the field holding it" in err, err


def test_a_generative_model_has_no_keep_threshold(tmp_path, gold_rows, capsys):
    """It said "the tagger backend cannot run it: run it on the vllm, transformers or openai
    backend (--backend)": prox calibrate has no --backend, and its user named none."""
    (tmp_path / "refiner.json").write_text(json.dumps({"kind": "causal_lm"}))
    assert main(["calibrate", "--gold", str(gold_rows), "--model", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path} is a generative model, which has no keep threshold: prox calibrate " \
        "calibrates a line tagger's; give a line-tagger model (--model default" in err, err
    assert "--backend" not in err and "tagger backend" not in err


def test_a_folder_without_a_model_is_said_to_hold_none(tmp_path, gold_rows, capsys):
    """A registry's model folder (``REGISTRY/refiner``, not a version's) or a seed set given
    as --model was said to be "a generative model, which has no keep threshold": a folder
    with no refiner.json, config.json or tokenizer holds no model, as prox refine says."""
    folder = tmp_path / "registry" / "refiner"
    (folder / "decisions").mkdir(parents=True)
    (folder / "promoted.json").write_text(json.dumps({"version": "line_tagger-0123456789ab"}))
    assert main(["calibrate", "--gold", str(gold_rows), "--model", str(folder)]) == 1
    err = capsys.readouterr().err
    assert f"no model (refiner.json, config.json or a tokenizer) in {folder}" in err, err
    assert "generative" not in err


def test_recall_target_out_of_range(gold_rows, capsys):
    with pytest.raises(SystemExit) as usage:
        main(["calibrate", "--gold", str(gold_rows), "--recall-target", "95"])
    assert usage.value.code == 2
    assert "--recall-target: must be in (0, 1]" in capsys.readouterr().err


def test_reads_a_folder_of_jsonl_files(gold_rows, tmp_path, capsys):
    lines = gold_rows.read_text(encoding="utf-8").splitlines(keepends=True)
    folder = tmp_path / "gold"
    folder.mkdir()
    (folder / "a.jsonl").write_text("".join(lines[:15]), encoding="utf-8")
    with gzip.open(folder / "b.jsonl.gz", "wt", encoding="utf-8") as out:
        out.write("".join(lines[15:]))  # the other 15 pages and the bad line
    code, result = _calibrate(capsys, "--gold", str(folder), "--recall-target", "0.9")
    assert code == 0 and result["docs"] == 30 and result["bad_rows"] == 1


def test_rows_without_a_string_text_are_bad_rows_not_empty_pages(gold_rows, tmp_path, capsys):
    path = tmp_path / "pages.jsonl"
    extra = [{"id": "n", "text": 123, "gold_text": "x"}, {"id": "m", "gold_text": "gold words"}]
    path.write_text(gold_rows.read_text(encoding="utf-8")
                    + "".join(json.dumps(r) + "\n" for r in extra), encoding="utf-8")
    code, result = _calibrate(capsys, "--gold", str(path), "--recall-target", "0.9")
    assert code == 0 and result["docs"] == 30 and result["bad_rows"] == 3


def test_min_docs_below_one_is_an_error(gold_rows, tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(SystemExit) as usage:  # a usage error, before the input is read
        main(["calibrate", "--gold", str(empty), "--min-docs", "0"])
    assert usage.value.code == 2
    assert "--min-docs: must be at least 1, not 0" in capsys.readouterr().err


def test_a_repeated_id_is_one_page_as_prox_eval_counts_it(gold_rows, tmp_path, capsys):
    rows = [json.loads(line) for line in gold_rows.read_text(encoding="utf-8").splitlines()[:30]]
    conflicting = [{**r, "gold_text": "nothing of the page"} for r in rows[:20]]
    path = tmp_path / "pages.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows + conflicting), encoding="utf-8")
    code, result = _calibrate(capsys, "--gold", str(path), "--recall-target", "0.9")
    assert code == 0 and result["docs"] == 30 and result["duplicate_ids"] == 20
    code, alone = _calibrate(capsys, "--gold", str(gold_rows), "--recall-target", "0.9")
    assert result["threshold"] == alone["threshold"] and result["point"] == alone["point"]
    assert main(["calibrate", "--gold", str(path), "--min-docs", "40"]) == 1  # 30 pages, not 50


def test_rows_without_gold_are_said_in_the_summary_and_json(gold_rows, tmp_path, capsys):
    """The bundled sample's 139 rows without ``gold_text`` were skipped without a word (the
    line said only '161 pages with gold (0 bad rows)'): counted in the line and --json."""
    rows = [json.loads(line) for line in gold_rows.read_text().splitlines()[:30]]
    for row in rows[:4]:
        row["id"], row["gold_text"] = f"{row['id']}-bare", None
    rows[4]["id"] = f"{rows[4]['id']}-bare"
    del rows[4]["gold_text"]
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["calibrate", "--gold", str(mixed), "--recall-target", "0.9"]) == 0
    line = capsys.readouterr().out
    assert "25 pages with gold (5 rows without a 'gold_text' text skipped, 0 bad rows)" in line
    code, result = _calibrate(capsys, "--gold", str(mixed), "--recall-target", "0.9")
    assert (result["rows"], result["rows_without_gold"], result["docs"]) == (30, 5, 25)
    _, whole = _calibrate(capsys, "--gold", str(gold_rows), "--recall-target", "0.9")
    assert whole["rows_without_gold"] == 0
