"""``prox train`` prints the evaluation as one JSON line."""

from __future__ import annotations

import json

from prox_tasks.cli import main
from tests.training.fixtures import make_docs
from tests.training.seed_files import write_seed_set


def test_prox_train_prints_one_json_line(tmp_path, capsys):
    seed = write_seed_set(tmp_path / "seed", make_docs(30, 1), make_docs(10, 2))
    code = main(["train", "--json", "--seed", str(seed), "--output", str(tmp_path / "reg"), "--epochs", "2",
                 "--learning-rate", "0.01", "--work-dir", str(tmp_path / "work"),
                 "--gold-docs", "8", "--teacher-weight", "rules=2",
                 "--line-word-weight", "0.5", "--remove-weight", "2", "--label-smoothing", "0.1",
                 "--tagger-config", '{"dilations": [1, 2]}'])  # fmt: skip
    assert code == 0
    lines = capsys.readouterr().out.strip().split("\n")
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["kind"] == "line_tagger" and isinstance(record["promoted"], bool)
    # 30 synthetic pages do not make a refiner better than the shipped one on real gold
    assert record["gold"]["candidate"]["docs"] == 8 and record["reason"]
    assert {"doc_f1", "line_f1", "chunk_failure_rate", "word_f1"} <= set(record["metrics"])
    artifact = tmp_path / "reg" / "refiner" / record["version"] / "artifact.json"
    config = json.loads(artifact.read_text())["training_config"]["config"]
    assert config["teacher_weights"] == {"rules": 2.0} and config["line_word_weight"] == 0.5
    assert config["remove_weight"] == 2.0 and config["label_smoothing"] == 0.1
    refiner = json.loads((artifact.parent / "refiner.json").read_text())
    assert refiner["tagger"]["dilations"] == [1, 2]


def test_prox_train_process_exits_without_binding_leak_reports(tmp_path):
    """The real process, to its exit: building a torch optimizer imports triton's compiler
    (through torch._dynamo), and triton 3.9's nanobind bindings then print a leak report of
    hundreds of lines at every exit — noise an operator reads as a crash. constraints.txt
    pins a triton without it."""
    import subprocess
    import sys

    seed = write_seed_set(tmp_path / "seed", make_docs(12, 1), make_docs(4, 2))
    done = subprocess.run(
        [sys.executable, "-m", "prox_tasks.cli", "train", "--seed", str(seed), "--output",
         str(tmp_path / "reg"), "--epochs", "1", "--work-dir", str(tmp_path / "work"),
         "--gold-docs", "4", "--no-progress"],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "trained refiner" in done.stdout
    assert "leaked" not in done.stderr, done.stderr[-2000:]


def test_a_missing_or_bad_gold_set_fails_before_training_and_publishes_nothing(tmp_path, capsys):
    seed = write_seed_set(tmp_path / "seed", make_docs(30, 1), make_docs(10, 2))
    bad = tmp_path / "gold-bad.jsonl"
    bad.write_text(json.dumps({"id": "1", "text": "a b", "gold_text": "a"}) + "\n{not json\n")
    no_gold = tmp_path / "gold-without.jsonl"
    no_gold.write_text(json.dumps({"id": "1", "text": "a b"}) + "\n")
    for gold, message in ((tmp_path / "typo.jsonl", "typo.jsonl"), (bad, "1 bad rows"),
                          (no_gold, "without a string 'text' and 'gold_text'")):
        code = main(["train", "--seed", str(seed), "--output", str(tmp_path / "reg"), "--epochs", "1",
                     "--max-steps", "1", "--work-dir", str(tmp_path / "work"), "--gold-set", str(gold)])
        err = capsys.readouterr().err
        assert code == 1 and message in err and err.count("\n") == 1
        assert not (tmp_path / "work").exists() and not (tmp_path / "reg").exists()


def test_a_gold_set_is_read_with_the_rows_reader(tmp_path):
    """A gold file for the gate: zstd-compressed, with a byte order mark, like any row file."""
    import zstandard

    from prox_tasks.evaluation.goldset import load_gold_set

    rows = [{"id": str(i), "text": f"line {i}\\nmenu", "gold_text": f"line {i}"} for i in range(3)]
    path = tmp_path / "gold.jsonl.zst"
    data = b"\xef\xbb\xbf" + "".join(json.dumps(r) + "\n" for r in rows).encode()
    path.write_bytes(zstandard.ZstdCompressor().compress(data))
    loaded, version = load_gold_set(path)
    assert loaded == rows and version.startswith("gold-")
