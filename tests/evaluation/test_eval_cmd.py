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
        == 1
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
