"""``prox train`` prints the evaluation as one JSON line."""

from __future__ import annotations

import json

import pytest

from prox_tasks.cli import main
from prox_tasks.models import SHIPPED_MODEL
from prox_tasks.models.artifact import artifact_version
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


def test_an_interrupted_prox_train_says_a_rerun_resumes_it(tmp_path):
    """Ctrl-C in the middle of a training said only 'prox train: interrupted', not that the
    epochs done are kept and the same command resumes from them (the real process, a real
    SIGINT once its first epoch's checkpoint is written)."""
    import signal
    import subprocess
    import sys
    import time

    seed = write_seed_set(tmp_path / "seed", make_docs(60, 1), make_docs(10, 2))
    work = tmp_path / "work"
    run = subprocess.Popen(
        [sys.executable, "-m", "prox_tasks.cli", "train", "--seed", str(seed), "--output",
         str(tmp_path / "reg"), "--epochs", "500", "--threads", "1", "--work-dir", str(work),
         "--no-gold-gate", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # Ctrl-C as a terminal's foreground job gets it: a test run in the background (`&`,
        # nohup, a CI step) ignores SIGINT, and so did this child, inheriting it; it trained
        # on through the SIGINT, its 500 epochs past the timeout or to a finished rc 0
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not (work / "tagger_checkpoint.pt").exists() and run.poll() is None:
            assert time.monotonic() < deadline, "no epoch checkpoint within 240 s"
            time.sleep(0.2)
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 130, err[-2000:]
    assert "prox train: interrupted: the same prox train command resumes from its last " \
        "checkpoint (the tagger's last finished epoch)" in err, err[-2000:]
    assert (work / "tagger_checkpoint.pt").exists()


def test_an_interrupted_prox_train_names_its_default_work_folder(tmp_path):
    """Ctrl-C in a training without --work-dir said "… in its work folder,
    /tmp/prox-train/<key>": a placeholder, where the run knew its folder (keyed by the seed
    set it had read). The hint names the folder holding the checkpoint a rerun resumes
    (the real process, a real SIGINT once its first epoch's checkpoint is written)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    seed = write_seed_set(tmp_path / "seed", make_docs(60, 1), make_docs(10, 2))
    scratch = tmp_path / "scratch"
    run = subprocess.Popen(
        [sys.executable, "-m", "prox_tasks.cli", "train", "--seed", str(seed), "--output",
         str(tmp_path / "reg"), "--epochs", "500", "--threads", "1", "--no-gold-gate",
         "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PROX_TMPDIR": str(scratch)},
        # a test run in the background ignores SIGINT, and so would this child (see above)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not list(scratch.glob("prox-train/*/tagger_checkpoint.pt")) and run.poll() is None:
            assert time.monotonic() < deadline, "no epoch checkpoint within 240 s"
            time.sleep(0.2)
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 130, err[-2000:]
    [checkpoint] = scratch.glob("prox-train/*/tagger_checkpoint.pt")
    assert f"in its work folder, {checkpoint.parent}\n" in err, err[-2000:]
    assert "<key>" not in err


def test_the_stop_hint_names_the_work_folder_a_rerun_resumes_from(tmp_path, monkeypatch):
    """The hint said "--work-dir or $PROX_TMPDIR/prox-train/<key>" whatever was given: with
    PROX_TMPDIR unset (the default) that named an empty variable, a folder that is not
    there. It names the folder this run's checkpoints are in: its --work-dir, or the default
    one's folder as this process resolves it (the system temp folder's, or PROX_TMPDIR's)."""
    import tempfile

    from prox_tasks.cli import _stopped_hint, build_parser

    def hint(*extra: str) -> str:
        argv = ["train", "--seed", str(tmp_path / "seed"), "--output", str(tmp_path / "reg"),
                *extra]  # fmt: skip
        return _stopped_hint(build_parser(argv).parse_args(argv))

    monkeypatch.delenv("PROX_TMPDIR", raising=False)
    assert hint().endswith(f"in its work folder, {tempfile.gettempdir()}/prox-train/<key>")
    assert "$PROX_TMPDIR" not in hint()
    monkeypatch.setenv("PROX_TMPDIR", str(tmp_path / "scratch"))
    assert hint().endswith(f"in its work folder, {tmp_path}/scratch/prox-train/<key>")
    assert hint("--work-dir", str(tmp_path / "work")).endswith(
        f"in its work folder, {tmp_path}/work")


def test_a_bad_prox_tmpdir_is_refused_up_front_and_the_stop_hint_never_raises(
        tmp_path, monkeypatch, capsys):
    """A PROX_TMPDIR below a file failed prox train only once the seed set was read (its
    default work folder is keyed by it), minutes into a large one; and a Ctrl-C before that
    printed a traceback (exit 1, not 130): the stop's hint made the folder to name it, and
    raised SettingInvalid inside the interrupt's handler. It is refused up front now (exit
    2, before the seed set is read: here one that is no seed set, which was refused first),
    and the hint names the folder without making it."""
    from prox_tasks.cli import _stopped_hint, build_parser

    (tmp_path / "afile").write_text("a file, not a folder\n")
    (tmp_path / "no-seed").mkdir()
    scratch = tmp_path / "afile" / "tmp"
    monkeypatch.setenv("PROX_TMPDIR", str(scratch))
    argv = ["train", "--seed", str(tmp_path / "no-seed"), "--output", str(tmp_path / "reg"),
            "--epochs", "1", "--no-progress"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("prox train: PROX_TMPDIR=") and "is a file where a folder" in err, err
    assert _stopped_hint(build_parser(argv).parse_args(argv)).endswith(
        f"in its work folder, {scratch}/prox-train/<key>")
    monkeypatch.setenv("PROX_TMPDIR", str(tmp_path / "not-yet"))  # a good one: named, not made
    assert str(tmp_path / "not-yet") in _stopped_hint(build_parser(argv).parse_args(argv))
    assert not (tmp_path / "not-yet").exists()


def test_a_missing_or_bad_gold_set_fails_before_training_and_publishes_nothing(tmp_path, capsys):
    seed = write_seed_set(tmp_path / "seed", make_docs(30, 1), make_docs(10, 2))
    bad = tmp_path / "gold-bad.jsonl"
    bad.write_text(json.dumps({"id": "1", "text": "a b", "gold_text": "a"}) + "\n{not json\n")
    no_gold = tmp_path / "gold-without.jsonl"
    no_gold.write_text(json.dumps({"id": "1", "text": "a b"}) + "\n")
    for gold, message, exit_code in (
            (tmp_path / "typo.jsonl", "typo.jsonl", 2),  # NoInputFiles: input to fix
            (bad, "1 bad rows", 1), (no_gold, "without a string 'text' and 'gold_text'", 1)):  # fmt: skip
        code = main(["train", "--seed", str(seed), "--output", str(tmp_path / "reg"), "--epochs", "1",
                     "--work-dir", str(tmp_path / "work"), "--gold-set", str(gold)])
        err = capsys.readouterr().err
        assert code == exit_code and message in err and err.count("\n") == 1, (code, err)
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


def test_options_that_cannot_work_fail_before_training(tmp_path, capsys, tiny_model):
    """Each would have failed after training (a file as --output, a bad --name), crashed
    (--epochs 0.5), scored an empty validation split as perfect and promoted it, or been
    ignored (a --teacher-weight for no teacher, --max-steps for the tagger, --select-epoch
    gold without gold)."""
    seed = write_seed_set(tmp_path / "seed", make_docs(30, 1), make_docs(10, 2))
    lone = tmp_path / "train-only"
    lone.mkdir()
    (lone / "train.jsonl").write_text("".join(json.dumps(d) + "\n" for d in make_docs(30, 1)))
    no_gold = write_seed_set(tmp_path / "no-gold", make_docs(30, 1),
                             [{**d, "gold_text": None} for d in make_docs(10, 2)])
    a_file = tmp_path / "registry-file"
    a_file.write_text("x")
    cases = [
        (["--output", str(a_file)], "is a file, not a registry folder"),
        (["--name", "../evil"], "model name"),
        (["--epochs", "0.5"], "--epochs 0.5: the tagger trains whole epochs"),
        (["--max-steps", "1"], "--max-steps is for --kind causal_lm"),
        (["--teacher-weight", "dif=3", "--teacher-weight", "rules=2"],
         "--teacher-weight names dif, which labeled no training document; this seed set's "
         "teachers: rules"),
        (["--seed", str(no_gold), "--select-epoch", "gold"], "--select-epoch gold needs"),
        (["--seed", str(lone), "--valid-percent", "0"], "has no validation documents"),
        (["--base", str(tiny_model)], "is a causal_lm model; --kind line_tagger fine-tunes"),
        (["--kind", "causal_lm", "--base", "default"], "is a line_tagger model; --kind "
                                                       "causal_lm fine-tunes"),
    ]
    for extra, message in cases:
        args = ["train", "--seed", str(seed), "--output", str(tmp_path / "reg"), "--epochs", "1",
                "--work-dir", str(tmp_path / "work"), "--no-gold-gate"]
        code = main(args + extra)
        err = capsys.readouterr().err
        # a refusal is a setting to fix (exit 2), a name that is no path component too
        assert code == 2, (extra, code, err)
        assert message in err and err.count("\n") == 1, (extra, err)
        assert not (tmp_path / "work").exists() and not (tmp_path / "reg").exists()


def test_options_that_cannot_work_are_refused_before_the_seed_set_is_read(tmp_path, capsys):
    """What the options alone refuse (whole epochs for the tagger, --max-steps without
    causal_lm, a file as --output, openai as the evaluation backend) is said before the seed
    set is read: here there is none, and the message is about the option."""
    a_file = tmp_path / "registry-file"
    a_file.write_text("x")
    cases = [
        (["--epochs", "0.5"], "--epochs 0.5: the tagger trains whole epochs"),
        (["--max-steps", "3"], "--max-steps is for --kind causal_lm"),
        (["--output", str(a_file)], "is a file, not a registry folder"),
        (["--backend", "vllm"], "--backend vllm cannot run a line_tagger"),
    ]
    for extra, message in cases:
        args = ["train", "--seed", str(tmp_path / "no-seed-set-here"), "--output",
                str(tmp_path / "reg"), "--work-dir", str(tmp_path / "work")]
        code = main(args + extra)
        err = capsys.readouterr().err
        assert code == 2 and message in err and "no-seed-set-here" not in err, (extra, err)
        assert not (tmp_path / "reg").exists()


def test_a_seed_set_whose_every_training_page_is_dropped_is_refused_before_training(
        tmp_path, capsys):
    """A seed set whose training rows are all labeled drop_doc() (a teacher gone wrong)
    trained a model that drops every page, published it, and with --no-gold-gate into an
    empty registry promoted it ("no promoted model; gold gate off"): refining with it drops
    the whole corpus. It is refused before training now, with nothing published."""
    drops = [{**d, "doc_program": "drop_doc()"} for d in make_docs(12, 1)]
    seed = write_seed_set(tmp_path / "seed", drops, make_docs(6, 2))
    code = main(["train", "--seed", str(seed), "--output", str(tmp_path / "reg"), "--epochs", "1",
                 "--no-gold-gate", "--threads", "1", "--tagger-config", '{"dilations": [1]}',
                 "--work-dir", str(tmp_path / "work")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "all 12 of its training documents are labeled drop_doc()" in err, err
    assert not (tmp_path / "reg").exists() and not (tmp_path / "work").exists()
    mixed = write_seed_set(tmp_path / "mixed", drops + make_docs(2, 3), make_docs(6, 2))
    assert main(["train", "--seed", str(mixed), "--output", str(tmp_path / "reg"), "--epochs",
                 "1", "--no-gold-gate", "--no-promote", "--threads", "1", "--tagger-config",
                 '{"dilations": [1]}']) == 0  # one page kept is enough to train  # fmt: skip


def _every_line_removed(doc: dict) -> dict:
    last = doc["text"].count("\n")
    return {**doc, "doc_program": "keep_doc()",
            "chunk_program": f"remove_lines(line_start=0, line_end={last})"}


@pytest.mark.parametrize(("label", "said"), [
    (lambda d: {**d, "doc_program": "keep_doc()", "chunk_program": ""},
     "none of its 12 training documents drops a page or removes a line, so a model trained "
     "on them keeps every page whole"),
    (_every_line_removed, "none of its 12 training documents keeps a line of the pages it "
                          "keeps, so a model trained on them removes every line"),
], ids=["every page kept whole", "every line removed"])
def test_a_seed_set_of_one_line_class_is_refused_before_training(tmp_path, capsys, label, said):
    """A hand-edited or broken seed set whose training labels keep every page whole (or
    remove every line of each page kept) trained and published a model that learned one
    class: refining with it changes nothing (and the gate passes) or empties every page.
    Refused before training, as a seed set of drops only is, with nothing published; the
    rows a list or streamed count alike."""
    from prox_tasks.training.seedset import load_seed_set

    rows = [label(d) for d in make_docs(12, 1)]
    seed = write_seed_set(tmp_path / "seed", rows, make_docs(6, 2))
    code = main(["train", "--seed", str(seed), "--output", str(tmp_path / "reg"), "--epochs", "1",
                 "--no-gold-gate", "--threads", "1", "--tagger-config", '{"dilations": [1]}',
                 "--work-dir", str(tmp_path / "work")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and said in err, err
    assert not (tmp_path / "reg").exists() and not (tmp_path / "work").exists()
    assert load_seed_set(str(seed)).train_lines() == \
        load_seed_set(str(seed), stream=True).train_lines()  # fmt: skip


def test_base_promoted_with_nothing_promoted_does_not_say_a_catalog_was_consulted(
        tmp_path, capsys):
    """`prox train --base promoted` without --catalog consults no catalog (docs/training.md),
    yet its refusal said 'no promoted model in the model registry R or the catalog'."""
    registry = tmp_path / "reg"
    for extra, said in (([], f"in the model registry {registry} (no catalog consulted). To get"),
                        (["--catalog", f"sqlite:///{tmp_path / 'c.sqlite'}"],
                         f"in the model registry {registry} or the catalog. To get one")):
        code = main(["train", "--seed", str(tmp_path / "no-seed-set-here"), "--output",
                     str(tmp_path / "reg"), "--base", "promoted", *extra])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2 and said in err, err  # a setting to fix (cli.errors.exit_code)


def test_base_default_fine_tunes_the_shipped_model(tmp_path, capsys):
    """docs/training.md's `--base default`: resolved as `prox refine --model` resolves it."""
    seed = write_seed_set(tmp_path / "seed", make_docs(20, 1), make_docs(6, 2))
    assert main(["train", "--json", "--seed", str(seed), "--output", str(tmp_path / "reg"),
                 "--base", "default", "--epochs", "1", "--no-gold-gate", "--no-promote",
                 "--threads", "1"]) == 0  # fmt: skip
    record = json.loads(capsys.readouterr().out)
    artifact = tmp_path / "reg" / "refiner" / record["version"] / "artifact.json"
    config = json.loads(artifact.read_text())["training_config"]
    assert config["base"] == "default"  # what was asked, and the model it named then:
    assert config["base_version"] == artifact_version(SHIPPED_MODEL)  # the lineage
    assert record["train"]["epochs"] == 1


def test_no_gold_gate_into_an_empty_registry_says_nothing_was_compared(tmp_path, capsys):
    """With nothing promoted, the gold gate is the only comparison with the shipped default:
    skipped, the candidate is promoted on its valid programs alone, and the summary line and
    the recorded decision say it was compared with nothing."""
    seed = write_seed_set(tmp_path / "seed", make_docs(20, 1), make_docs(6, 2))
    registry = tmp_path / "reg"
    assert main(["train", "--seed", str(seed), "--output", str(registry), "--epochs", "1",
                 "--no-gold-gate", "--threads", "1"]) == 0
    line = capsys.readouterr().out
    assert "; promoted: no promoted model; gold gate off: not compared with the shipped " \
           "default -> " in line
    (decision,) = (registry / "refiner" / "decisions").iterdir()
    recorded = json.loads(decision.read_text())
    assert recorded["promoted"] and "not compared with the shipped default" in recorded["reason"]
    assert recorded["incumbent_gold"] is None and recorded["incumbent_source"] is None


def test_the_gold_incumbent_is_the_registry_catalogs_never_prox_catalog_url(
        tmp_path, capsys, monkeypatch):
    """Two deployments, each a registry with its own catalog. The gold gate compares a
    candidate with what refining with the registry promoted into (and its catalog, --catalog)
    serves: it read PROX_CATALOG_URL instead, so it compared with another deployment's
    model when that pointed elsewhere, and with nothing of the registry's catalog when unset."""
    seed = write_seed_set(tmp_path / "seed", make_docs(20, 1), make_docs(6, 2))
    catalog_a = f"sqlite:///{tmp_path / 'a.sqlite'}"

    def train(registry: str, *extra: str) -> dict:
        assert main(["train", "--json", "--seed", str(seed), "--output", str(tmp_path / registry),
                     "--epochs", "1", "--threads", "1", "--gold-docs", "3", *extra]) == 0
        return json.loads(capsys.readouterr().out)

    a = train("reg-a", "--catalog", catalog_a, "--no-gold-gate")  # deployment A promotes
    assert a["promoted"]
    shipped = f"shipped:{SHIPPED_MODEL.name}"
    monkeypatch.setenv("PROX_CATALOG_URL", catalog_a)  # the environment names A's catalog
    b = train("reg-b", "--catalog", f"sqlite:///{tmp_path / 'b.sqlite'}")
    assert b["gold"]["incumbent_source"] == shipped  # B has nothing promoted: the default
    no_catalog = train("reg-c")  # no --catalog: the registry alone, then the default
    assert no_catalog["gold"]["incumbent_source"] == shipped
    monkeypatch.delenv("PROX_CATALOG_URL")  # unset, and B' registers in A's catalog:
    shared = train("reg-d", "--catalog", catalog_a)  # A's promoted model is the incumbent
    assert shared["gold"]["incumbent_source"] == a["version"]


def test_the_summary_line_says_how_many_seed_rows_were_left_out(tmp_path, capsys):
    docs = make_docs(30, 1)
    bad = [{**docs[0], "id": "bad", "chunk_program": "delete_everything()"}, dict(docs[1])]
    seed = write_seed_set(tmp_path / "seed", docs + bad, make_docs(10, 2))
    assert main(["train", "--seed", str(seed), "--output", str(tmp_path / "reg"), "--epochs", "1",
                 "--no-gold-gate", "--no-promote", "--threads", "1"]) == 0
    line = capsys.readouterr().out
    assert "2 seed rows left out (1 bad chunk_program, 1 repeated id)" in line


def test_no_progress_means_no_bars_from_the_libraries_either(tmp_path):
    """transformers drew "Loading weights" and "Writing model shards" bars on a stderr
    that is not a terminal, with --no-progress."""
    import subprocess
    import sys

    seed = write_seed_set(tmp_path / "seed", make_docs(12, 1), make_docs(4, 2))
    done = subprocess.run(
        [sys.executable, "-m", "prox_tasks.cli", "train", "--seed", str(seed), "--output",
         str(tmp_path / "reg"), "--kind", "causal_lm", "--max-steps", "2", "--backend",
         "transformers", "--no-progress", "--no-gold-gate", "--threads", "1",
         "--max-eval-docs", "2", "--work-dir", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "%|" not in done.stderr, done.stderr[-2000:]


@pytest.mark.parametrize("command", ["train", "calibrate", "eval", "label", "refine", "plan"])
def test_help_states_every_default(command):
    """``prox train --help`` listed ``--epochs EPOCHS``, ``--threads THREADS``,
    ``--valid-percent`` ... with no word of what they do nor their defaults (12, 2, 10; the
    docs show some, not --epochs'): every option with a default now says it in its help."""
    import argparse

    from prox_tasks.cli import build_parser

    parser = build_parser([command])
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    unsaid = []
    for action in sub._actions:
        default = action.default
        if not action.option_strings or default in (None, False, [], argparse.SUPPRESS):
            continue
        said = {f"default {default}"} | ({f"default {default:g}"} if isinstance(
            default, float) else set())  # fmt: skip
        if not any(s in " ".join((action.help or "").split()) for s in said):
            unsaid.append(f"{action.option_strings[-1]} (default {default})")
    assert not unsaid, f"prox {command} --help says no default for: {', '.join(unsaid)}"


def test_the_summary_line_says_the_keep_threshold_and_whether_it_was_calibrated(
        tmp_path, capsys):
    """The line said nothing of the keep threshold: a seed set with fewer than 20 validation
    pages with gold left the model's (0.5 from scratch) uncalibrated, which only --json's
    train.calibration null said. The line now gives the calibrated value, or says it was
    not calibrated and how to calibrate it."""
    def line(valid: int, *extra: str) -> str:
        seed = write_seed_set(tmp_path / f"seed{valid}", make_docs(12, 1), make_docs(valid, 2))
        assert main(["train", "--seed", str(seed), "--output", str(tmp_path / f"reg{valid}"),
                     "--epochs", "1", "--threads", "1", "--no-gold-gate", "--no-promote",
                     "--tagger-config", '{"dilations": [1]}', *extra]) == 0  # fmt: skip
        return capsys.readouterr().out

    few = line(6)
    assert "; keep threshold not calibrated (fewer than 20 validation pages with gold" in few
    assert "prox calibrate --gold PAGES --model file://" in few
    enough = line(24)
    with_gold = sum(1 for d in make_docs(24, 2) if d["gold_text"])
    assert "; keep threshold 0." in enough, enough
    assert f"(calibrated on {with_gold} validation pages with gold: 5th-percentile " \
        "recall" in enough
    assert "keep threshold" not in line(7, "--recall-target", "0")  # none asked for


def test_the_registry_to_export_is_named_by_its_absolute_path(tmp_path, capsys,
                                                             monkeypatch):
    """``prox train --output reg`` (a relative path) into a registry refine does not read
    ended its line with ``export PROX_MODEL_REGISTRY=reg``: from another folder, refining
    then took the promoted model of another (or no) registry."""
    monkeypatch.setenv("PROX_MODEL_REGISTRY", str(tmp_path / "refine-reads-this"))
    seed = write_seed_set(tmp_path / "seed", make_docs(12, 1), make_docs(4, 2))
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--seed", str(seed), "--output", "reg", "--epochs", "1",
                 "--threads", "1", "--no-gold-gate", "--tagger-config",
                 '{"dilations": [1]}']) == 0  # fmt: skip
    line = capsys.readouterr().out
    assert f"export PROX_MODEL_REGISTRY={tmp_path / 'reg'} (or prox refine" in line, line


def test_recall_target_zero_is_said_to_keep_the_base_models_threshold(tmp_path, capsys):
    """``--recall-target`` 0's help said "keep 0.5"; fine-tuning (``--base default``) keeps the
    base's threshold (0.85 for the shipped one), as docs/training.md says."""
    from prox_tasks.cli import build_parser

    parser = build_parser(["train"])
    sub = next(a for a in parser._actions if a.dest == "command").choices["train"]
    (action,) = [a for a in sub._actions if "--recall-target" in a.option_strings]
    said = " ".join(action.help.split())
    assert "keep 0.5" not in said and "the base's when fine-tuning" in said, said
    seed = write_seed_set(tmp_path / "seed", make_docs(12, 1), make_docs(4, 2))
    assert main(["train", "--json", "--seed", str(seed), "--output", str(tmp_path / "reg"),
                 "--base", "default", "--epochs", "1", "--recall-target", "0", "--threads", "1",
                 "--no-gold-gate", "--no-promote"]) == 0  # fmt: skip
    version = json.loads(capsys.readouterr().out)["version"]
    refiner = json.loads((tmp_path / "reg" / "refiner" / version / "refiner.json").read_text())
    shipped = json.loads((SHIPPED_MODEL / "refiner.json").read_text())
    assert refiner["tagger"]["line_threshold"] == shipped["tagger"]["line_threshold"] != 0.5


def test_a_model_promoted_where_refine_does_not_look_says_how_to_refine_with_it(
        tmp_path, capsys, monkeypatch):
    """``prox train --output models`` printed "promoted" and ``prox refine`` went on refining
    with the shipped model: it takes the promoted model from PROX_MODEL_REGISTRY (else
    $PROX_HOME/registry). The line says so and how to use it; training into that registry
    says nothing more, and what it says works: refine then takes the trained model."""
    from prox_tasks.models import resolve_model

    monkeypatch.setenv("PROX_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PROX_MODEL_REGISTRY", raising=False)
    monkeypatch.delenv("PROX_CATALOG_URL", raising=False)
    seed = write_seed_set(tmp_path / "seed", make_docs(20, 1), make_docs(6, 2))
    elsewhere = str(tmp_path / "models")
    train = ["train", "--seed", str(seed), "--epochs", "1", "--threads", "1", "--no-gold-gate"]
    assert main([*train, "--output", elsewhere]) == 0
    line = capsys.readouterr().out
    assert "; promoted: " in line and (f"; prox refine takes the promoted model from "
                                       f"{tmp_path / 'home' / 'registry'} (PROX_MODEL_REGISTRY, "
                                       f"else $PROX_HOME/registry), not from {elsewhere}: "
                                       f"export PROX_MODEL_REGISTRY={elsewhere} (or prox "
                                       "refine --model file://") in line, line
    assert resolve_model(None).source == "default"  # as the line says: not this model
    monkeypatch.setenv("PROX_MODEL_REGISTRY", elsewhere)  # as the line says to
    assert resolve_model(None).source == "registry"
    assert main([*train, "--output", elsewhere, "--random-seed", "1"]) == 0
    assert "prox refine takes" not in capsys.readouterr().out  # where refine looks: nothing


def test_a_model_promoted_into_the_default_catalog_says_so_while_the_default_registry_holds_another(
        tmp_path, capsys, monkeypatch):
    """``prox train --output models --catalog <the default catalog>`` printed "promoted" and
    no word more, as if prox refine would take it: refine takes the promoted model of its
    registry ($PROX_HOME/registry) first, and the catalog's only when that holds none. With
    a model promoted there before, refine went on with that one. The line now says where
    refine looks whenever refine would not take the model just promoted."""
    from prox_tasks.models import resolve_model

    home = tmp_path / "home"
    monkeypatch.setenv("PROX_HOME", str(home))
    monkeypatch.delenv("PROX_MODEL_REGISTRY", raising=False)
    monkeypatch.delenv("PROX_CATALOG_URL", raising=False)
    seed = write_seed_set(tmp_path / "seed", make_docs(20, 1), make_docs(6, 2))
    train = ["train", "--seed", str(seed), "--epochs", "1", "--threads", "1", "--no-gold-gate"]
    assert main([*train, "--output", str(home / "registry")]) == 0  # refine's own registry
    assert "prox refine takes" not in capsys.readouterr().out
    before = resolve_model(None)
    elsewhere = str(tmp_path / "models")
    assert main([*train, "--output", elsewhere, "--random-seed", "1",
                 "--catalog", f"sqlite:///{home / 'catalog.sqlite'}"]) == 0
    line = capsys.readouterr().out
    assert "; promoted: " in line
    assert resolve_model(None).uri == before.uri  # refine keeps its registry's model
    assert f"prox refine takes the promoted model from {home / 'registry'}" in line, line


def test_a_registry_named_with_its_trailing_slash_is_not_said_to_be_elsewhere(
    tmp_path, monkeypatch
):
    """prox train --output REG/ with PROX_MODEL_REGISTRY=REG (a shell's completion adds the
    slash) said 'prox refine takes the promoted model from REG, not from REG/: export
    PROX_MODEL_REGISTRY=REG/': one folder (storage.uri.same_uri)."""
    import argparse

    from prox_tasks.cli.train_cmd import elsewhere_note

    monkeypatch.setenv("PROX_MODEL_REGISTRY", str(tmp_path / "reg"))
    args = argparse.Namespace(output=f"{tmp_path / 'reg'}/", catalog=None, name="refiner")
    assert elsewhere_note(args, {"promoted": True, "uri": "x"}) == ""


def test_a_training_whose_loss_turns_nan_stops_there_and_registers_nothing(
        tmp_path, capsys, monkeypatch):  # fmt: skip
    """A real diverged run (no mock): --learning-rate 1e20 turns the tagger's loss NaN in its
    second epoch. It went on, was published and promoted, and its NaN model was refused only
    when a refine loaded it. It now stops at the first step whose loss is not finite, saying
    which and what to change, publishes and registers nothing, and removes its default work
    folder (a resume would diverge again; other settings start over)."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # the default work folder
    (tmp_path / "tmp").mkdir()
    seed = write_seed_set(tmp_path / "seed", make_docs(12, 1), make_docs(4, 2))
    code = main(["train", "--seed", str(seed), "--output", str(tmp_path / "reg"), "--epochs", "2",
                 "--learning-rate", "1e20", "--gold-docs", "4", "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1, err
    assert "TrainingDiverged: the training loss is nan at step " in err, err
    assert "(epoch 2), the training diverged: lower --learning-rate (it is 1e+20)" in err, err
    assert "--random-seed" in err and "Nothing was published or registered" in err, err
    assert not (tmp_path / "reg").exists()
    assert list((tmp_path / "tmp" / "prox-train").iterdir()) == []


@pytest.mark.slow  # ~35 s on a loaded 2-core machine: the tiny LM's real SFT steps
def test_a_causal_lm_training_whose_loss_turns_nan_stops_there(tmp_path, capsys):
    """The SFT loop too (a real run, no mock): --learning-rate 1e20 turns the loss NaN at the
    third step; the run stops there and publishes nothing."""
    seed = write_seed_set(tmp_path / "seed", make_docs(12, 1), make_docs(4, 2))
    code = main(["train", "--kind", "causal_lm", "--seed", str(seed), "--output",
                 str(tmp_path / "reg"), "--max-steps", "4", "--learning-rate", "1e20",
                 "--work-dir", str(tmp_path / "work"), "--no-gold-gate", "--max-eval-docs", "2",
                 "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "TrainingDiverged: the training loss is nan at step " in err, err
    assert not (tmp_path / "reg").exists()


def test_a_training_removes_default_work_folders_no_retry_came_back_for(
        tmp_path, capsys, caplog, monkeypatch):  # fmt: skip
    """A failed training keeps its default work folder for its retry; one whose retry never
    came (other settings) stayed for ever (13 GB had piled up). A training now removes the
    folders of $TMPDIR/prox-train untouched for PROX_TRAIN_WORK_MAX_AGE_DAYS (default 7)
    days, saying which, and never one whose lock a live run holds (a real flock, held here
    on another open file as that run's process holds it) nor a recent one."""
    import fcntl
    import os
    import tempfile
    import time

    from prox_tasks.training.work_lock import lock_path

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # the default work folder
    root = tmp_path / "tmp" / "prox-train"
    ten_days_ago = time.time() - 10 * 86400
    folders = {}
    for name in ("abandoned", "held-by-a-live-run", "recent"):
        folder = root / name
        (folder / "artifact").mkdir(parents=True)
        (folder / "tagger_checkpoint.pt").write_bytes(b"x" * 1000)
        if name != "recent":
            for path in (folder / "tagger_checkpoint.pt", folder / "artifact", folder):
                os.utime(path, (ten_days_ago, ten_days_ago))
        folders[name] = folder
    held = os.open(lock_path(folders["held-by-a-live-run"]), os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        seed = write_seed_set(tmp_path / "seed", make_docs(12, 1), make_docs(4, 2))
        code = main(["train", "--seed", str(seed), "--output", str(tmp_path / "reg"),
                     "--epochs", "1", "--no-gold-gate", "--no-promote", "--no-progress"])
        err = capsys.readouterr().err
    finally:
        os.close(held)
    assert code == 0, err
    assert not folders["abandoned"].exists()
    said = caplog.text
    assert f"removed training work folder {folders['abandoned']}: untouched for 10 days" in said
    assert folders["held-by-a-live-run"].exists() and folders["recent"].exists()
    assert said.count("removed training work folder") == 1, said
    assert sorted(p.name for p in root.iterdir()) == [".held-by-a-live-run.lock",
                                                      "held-by-a-live-run", "recent"]

    monkeypatch.setenv("PROX_TRAIN_WORK_MAX_AGE_DAYS", "0")  # 0: keep them all
    os.utime(folders["recent"], (ten_days_ago, ten_days_ago))
    os.utime(folders["recent"] / "tagger_checkpoint.pt", (ten_days_ago, ten_days_ago))
    os.utime(folders["recent"] / "artifact", (ten_days_ago, ten_days_ago))
    code = main(["train", "--seed", str(seed), "--output", str(tmp_path / "reg"),
                 "--epochs", "1", "--no-gold-gate", "--no-promote", "--no-progress"])
    assert code == 0 and folders["recent"].exists(), capsys.readouterr().err


@pytest.mark.parametrize("value", ["-1", "a week"])
def test_a_bad_work_folder_age_is_refused_before_the_seed_set_is_read(tmp_path, capsys,
                                                                      monkeypatch, value):
    """PROX_TRAIN_WORK_MAX_AGE_DAYS was read by the sweep of old work folders, after the
    seed set and the gold pages were read (on S3, tens of thousands of pages): a bad value
    is refused now with the options, before any of it — a setting to fix, exit 2 (the
    train DAG's check task, which checks the options alike, fails without retries)."""
    from prox_tasks.pipeline.settings import SettingInvalid
    from prox_tasks.training.run import TrainJob, checked_seed_set

    monkeypatch.setenv("PROX_TRAIN_WORK_MAX_AGE_DAYS", value)
    missing = tmp_path / "no-seed-set"  # read after the options: its error would come first
    assert main(["train", "--seed", str(missing), "--output", str(tmp_path / "reg"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"deployment variable PROX_TRAIN_WORK_MAX_AGE_DAYS={value!r}" in err, err
    assert not (tmp_path / "reg").exists()
    with pytest.raises(SettingInvalid, match="PROX_TRAIN_WORK_MAX_AGE_DAYS"):
        checked_seed_set(TrainJob(seed=str(missing), output=str(tmp_path / "reg")), "dag")


def test_a_model_trained_into_the_default_registry_is_booked_in_the_default_catalog(tmp_path):
    """``prox train --output $PROX_HOME/registry`` without --catalog published and promoted
    the model, and prox refine took it, but ``prox catalog status`` said 0 models: only
    --catalog booked it. The default registry's models are now booked in the default catalog
    (the DAG books its run's); a registry elsewhere, in none unless --catalog names one (the
    default catalog's promoted model is what refine serves when its registry has none).
    Real processes, as a user runs them."""
    import os
    import subprocess
    import sys

    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PROX_MODEL_REGISTRY", "PROX_CATALOG_URL")}
    env["PROX_HOME"] = str(home)
    seed = write_seed_set(tmp_path / "seed", make_docs(12, 1), make_docs(4, 2))

    def prox(*argv: str) -> str:
        done = subprocess.run([sys.executable, "-m", "prox_tasks.cli", *argv], env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    train = ["train", "--json", "--seed", str(seed), "--epochs", "1", "--threads", "1",
             "--no-gold-gate", "--no-progress", "--max-eval-docs", "4"]
    elsewhere = json.loads(prox(*train, "--output", str(tmp_path / "models")))
    assert elsewhere["promoted"]
    assert not (home / "catalog.sqlite").exists()  # booked nowhere: refine does not serve it
    record = json.loads(prox(*train, "--output", str(home / "registry"), "--random-seed", "1"))
    status = json.loads(prox("catalog", "status", "--json"))
    assert status["rows"]["models"] == 1, status
    (model,) = [json.loads(row) for row in prox("catalog", "list", "models", "--json").splitlines()]
    assert model["version"] == record["version"] and model["promoted"], model
    assert model["registry"] == (home / "registry").as_uri()


def test_a_catalog_that_cannot_be_reached_says_the_model_is_published_and_a_rerun_books_it(
        tmp_path, monkeypatch, capsys):
    """``PROX_CATALOG_URL`` naming a PostgreSQL nothing listens for (a real refused
    connection): ``prox train`` into the default registry published the model, then ended
    with the database error alone, as if nothing had been done. It says the model is
    published, that a rerun books it and that --no-catalog skips booking."""
    from tests.ports import refused_port

    port = refused_port()  # a loopback port nothing listens on (nor will: tests/ports.py)
    home = tmp_path / "home"
    monkeypatch.setenv("PROX_HOME", str(home))
    monkeypatch.delenv("PROX_MODEL_REGISTRY", raising=False)
    monkeypatch.setenv("PROX_CATALOG_URL", f"postgresql+psycopg2://u:secret@127.0.0.1:{port}/x")
    seed = write_seed_set(tmp_path / "seed", make_docs(12, 1), make_docs(4, 2))
    train = ["train", "--seed", str(seed), "--epochs", "1", "--threads", "1", "--no-gold-gate",
             "--no-progress", "--max-eval-docs", "4", "--output", str(home / "registry")]
    assert main(train) == 1
    err = capsys.readouterr().err
    (version,) = [p.name for p in (home / "registry" / "refiner").iterdir()
                  if p.name.startswith("line_tagger-")]
    assert err.startswith(f"prox train: the model refiner {version} is published in "), err
    assert "the catalog's database cannot be reached" in err and "secret" not in err, err
    assert "run the same prox train again once the catalog can be written" in err, err
    assert "or add --no-catalog to skip booking" in err, err
    assert main([*train, "--json", "--no-catalog"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == version
