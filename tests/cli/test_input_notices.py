"""A plain-text file named ``.jsonl.gz`` (every record kept, read as what its bytes are) is
named on the summary line of every command that reads rows, as ``prox refine`` names it
(:func:`prox_tasks.cli.output.input_notices`): before, only refine said so, and ``prox
execute``, ``eval`` and ``calibrate`` printed a line that did not tell."""

from __future__ import annotations

import gzip
import json

from prox_tasks.cli import main
from tests.cli.test_calibrate_cmd import GOLD

NOTICE = "1 input file not as named (1 misnamed_compression: compressed otherwise than its name says, read as"


def _plain_gold(tmp_path, rows: int = 25):
    """``rows`` gold pages (page text and gold text), plain text under a gzip name."""
    with gzip.open(GOLD, "rt", encoding="utf-8") as src:
        lines = [next(src) for _ in range(rows)]
    path = tmp_path / "gold.jsonl.gz"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_execute_names_a_file_not_as_named(tmp_path, capsys):
    src = tmp_path / "rows.jsonl.gz"
    src.write_text(json.dumps({"id": "a", "text": "one line", "doc_program": "keep_doc()"})
                   + "\n", encoding="utf-8")
    assert main(["execute", "--input", str(src), "--output", str(tmp_path / "out.jsonl")]) == 0
    line = capsys.readouterr().out
    assert line.startswith("executed 1 row: 1 written") and NOTICE in line, line
    assert main(["execute", "--json", "--input", str(src), "--output",
                 str(tmp_path / "out.jsonl")]) == 0
    assert json.loads(capsys.readouterr().out)["input_notices"] == {"misnamed_compression": 1}


def test_eval_names_a_file_not_as_named_on_either_side(tmp_path, capsys):
    gold = tmp_path / "gold.jsonl.gz"
    gold.write_text(json.dumps({"id": "1", "gold_text": "the cat sat"}) + "\n", encoding="utf-8")
    refined = tmp_path / "refined.jsonl"
    refined.write_text(json.dumps({"id": "1", "text": "the cat sat"}) + "\n", encoding="utf-8")
    assert main(["eval", "--refined", str(refined), "--gold", str(gold)]) == 0
    line = capsys.readouterr().out
    assert line.startswith("word precision 1.000") and NOTICE in line, line
    assert main(["eval", "--json", "--refined", str(refined), "--gold", str(gold)]) == 0
    assert json.loads(capsys.readouterr().out)["input_notices"] == {"misnamed_compression": 1}


def test_calibrate_names_a_file_not_as_named(tmp_path, capsys):
    gold = _plain_gold(tmp_path)
    assert main(["calibrate", "--gold", str(gold), "--min-docs", "5"]) == 0
    line = capsys.readouterr().out
    assert "25 pages with gold (0 bad rows), " + NOTICE in line, line
    assert "; use it with --keep-threshold " in line
