"""The line tagger: it learns the teacher's line and document decisions, writes valid
programs, survives a save/load round trip and resumes from its epoch checkpoint."""

from __future__ import annotations

import math

import pytest

from prox_tasks.models.line_tagger import LineTaggerRefiner, TaggerConfig
from prox_tasks.programs import parse
from prox_tasks.training.evaluate import evaluate_refiner
from prox_tasks.training.tagger import (
    TaggerTrainConfig,
    line_weights,
    save_tagger,
    targets,
    train_tagger,
)
from tests.training.fixtures import make_docs

SMALL = TaggerConfig(buckets=1 << 12, embed_dim=8, hidden=16, dilations=(1, 2))


@pytest.fixture(scope="module")
def docs():
    return make_docs(60, seed=1), make_docs(20, seed=2)


@pytest.fixture(scope="module")
def trained(docs, tmp_path_factory):
    train, valid = docs
    config = TaggerTrainConfig(epochs=6, learning_rate=1e-2, batch_lines=400, threads=2)
    return train_tagger(train, valid, SMALL, config, tmp_path_factory.mktemp("work"))


def test_targets_from_programs():
    doc = {"text": "a\nb\nc", "doc_program": "drop_doc()",
           "chunk_program": "# chunk 0-2\nremove_lines(line_start=1, line_end=2)"}  # fmt: skip
    assert targets(doc) == ([0.0, 1.0, 1.0], 0.0)


def test_line_weights_grow_with_words_only_when_asked():
    doc = {"text": "Menu\nA sentence of seven words in it."}
    assert line_weights(doc, TaggerTrainConfig()) == [1.0, 1.0]
    short, long = line_weights(doc, TaggerTrainConfig(line_word_weight=1.0))
    assert short == pytest.approx(1 + math.log(2)) and long == pytest.approx(1 + math.log(8))


def test_remove_weight_weighs_the_lines_the_teacher_removes():
    doc = {"text": "Menu\nA sentence of seven words in it.\nHome",
           "chunk_program": "# chunk 0-2\nremove_lines(line_start=0, line_end=0)\n"
                            "remove_lines(line_start=2, line_end=2)"}  # fmt: skip
    assert line_weights(doc, TaggerTrainConfig(remove_weight=3.0)) == [3.0, 1.0, 3.0]
    with pytest.raises(ValueError, match="remove_weight"):
        TaggerTrainConfig(remove_weight=0)
    with pytest.raises(ValueError, match="label_smoothing"):
        TaggerTrainConfig(label_smoothing=1.0)
    weighted = line_weights(doc, TaggerTrainConfig(remove_weight=2.0, line_word_weight=1.0))
    assert weighted == pytest.approx([2 * (1 + math.log(2)), 1 + math.log(8), 2 * (1 + math.log(2))])


def test_label_smoothing_keeps_the_tagger_less_certain(docs, tmp_path):
    train = docs[0][:10]
    texts = [d["text"] for d in train]
    certainty = {}
    for smoothing in (0.0, 0.4):  # fit the same pages hard (no validation: the last epoch)
        config = TaggerTrainConfig(epochs=25, learning_rate=3e-2, batch_lines=400, threads=2,
                                   label_smoothing=smoothing)  # fmt: skip
        refiner, _ = train_tagger(train, [], SMALL, config, tmp_path / str(smoothing))
        certainty[smoothing] = max(max(float(p.max()), 1 - float(p.min()))
                                   for p, _ in refiner._score(texts)[0])  # fmt: skip
    # targets 0.2 / 0.8: the loss grows past them, so no line nears certainty
    assert certainty[0.4] < 0.95 < certainty[0.0]


def test_tagger_learns_the_teacher(trained, docs):
    refiner, report = trained
    losses = [h["loss"] for h in report["history"]]
    assert losses[-1] < 0.6 * losses[0]
    m = evaluate_refiner(refiner, docs[1])
    # keeping every line scores line F1 0: the tagger learned which lines the teacher removes
    assert m["line_f1"] > 0.75 and m["doc_f1"] > 0.85
    assert m["chunk_failure_rate"] == 0.0 and m["doc_failure_rate"] == 0.0


def test_programs_are_valid_and_cover_every_line(trained):
    refiner, _ = trained
    texts = ["Home\nA long enough sentence about rivers and valleys and people.\nMenu", "", "x"]
    for text, doc_p, chunk_p in zip(texts, refiner.predict_doc(texts), refiner.predict_chunks(texts)):
        assert doc_p in ("keep_doc()", "drop_doc()")
        program = parse(chunk_p, level="chunk")
        assert not program.errors and program.calls
        n = text.count("\n") + 1
        assert all(c.line_end < n for c in program.calls if hasattr(c, "line_end"))


def test_save_load_round_trip(trained, tmp_path):
    refiner, _ = trained
    folder = save_tagger(refiner, tmp_path / "artifact", {"seed_set": "test"})
    loaded = LineTaggerRefiner(folder)
    texts = [d["text"] for d in make_docs(5, seed=3)]
    assert loaded.predict_chunks(texts) == refiner.predict_chunks(texts)
    assert loaded.predict_doc(texts) == refiner.predict_doc(texts)
    for (a, ka), (b, kb) in zip(loaded.scores(texts), refiner.scores(texts)):
        assert a == pytest.approx(b, abs=1e-6) and ka == pytest.approx(kb, abs=1e-6)


def test_resume_from_epoch_checkpoint_matches_uninterrupted(docs, tmp_path):
    train, valid = docs
    config = TaggerTrainConfig(epochs=2, batch_lines=400, threads=1)
    full, _ = train_tagger(train, valid, SMALL, config, tmp_path / "full")
    calls = []

    def crash_in_second_epoch(refiner, docs):  # the same selection before and after the kill
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return evaluate_refiner(refiner, docs)

    with pytest.raises(RuntimeError, match="killed"):
        train_tagger(train, valid, SMALL, config, tmp_path / "part", evaluate=crash_in_second_epoch)
    resumed, report = train_tagger(train, valid, SMALL, config, tmp_path / "part",
                                   evaluate=crash_in_second_epoch)
    assert report["resumed_at_epoch"] == 1
    texts = [d["text"] for d in valid]
    assert resumed.scores(texts) == full.scores(texts)


def test_teacher_weights_decide_between_conflicting_labels(docs, tmp_path):
    """The same pages labeled twice, by a teacher that removes the boilerplate (``diff``) and
    by one that keeps every line (``rules``): the model follows the teacher weighted higher."""
    train, valid = docs
    keep_all = [{**d, "teacher": "rules", "chunk_program": "keep_chunk()"} for d in train]
    mixed = [{**d, "teacher": "diff"} for d in train] + keep_all
    recalls = {}
    for trusted, weights in (("diff", {"diff": 4.0, "rules": 0.25}),
                             ("rules", {"diff": 0.25, "rules": 4.0})):  # fmt: skip
        config = TaggerTrainConfig(epochs=4, learning_rate=1e-2, batch_lines=400, threads=1,
                                   teacher_weights=weights)  # fmt: skip
        refiner, _ = train_tagger(mixed, valid, SMALL, config, tmp_path / trusted)
        recalls[trusted] = evaluate_refiner(refiner, valid)["line_recall"]
    # line recall against the removing teacher: high when it is trusted, low when not
    assert recalls["diff"] > 0.7 > 0.3 > recalls["rules"]


@pytest.mark.parametrize("given, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_openmp_waiters_sleep_unless_told_otherwise(given, expected):
    """Training sets OMP_WAIT_POLICY before torch loads OpenMP (spinning waiters make a shared
    machine 10x slower); an explicit setting wins."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    code = ("import sys; from prox_tasks.training.run import run_training; "
            "import os; print('torch' in sys.modules, os.environ['OMP_WAIT_POLICY'])")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    torch_loaded_first, policy = out.stdout.split()
    assert policy == expected and torch_loaded_first == "False"


def test_the_epoch_with_the_best_score_is_kept_when_evaluate_gives_one(docs, tmp_path):
    train, valid = docs
    config = TaggerTrainConfig(epochs=3, batch_lines=400, threads=1)
    calls = []

    def second_epoch_scores_best(refiner, docs):
        calls.append(1)
        scores = evaluate_refiner(refiner, docs)
        snapshots.append(refiner.scores(texts))
        return {**scores, "score": 1.0 if len(calls) == 2 else 0.0}

    texts = [d["text"] for d in valid]
    snapshots = []
    kept, report = train_tagger(train, valid, SMALL, config, tmp_path, evaluate=second_epoch_scores_best)
    assert report["best_epoch"] == 2 and report["epochs"] == 3
    assert kept.scores(texts) == snapshots[1] and snapshots[1] != snapshots[2]


def test_an_epoch_checkpoint_of_another_run_is_not_resumed(docs, tmp_path):
    """A work folder holding the epochs of a run from another architecture (or base model, or
    random seed) starts over instead of loading weights that do not belong to this run."""
    train, valid = docs
    config = TaggerTrainConfig(epochs=1, batch_lines=400, threads=1)
    train_tagger(train, valid, SMALL, config, tmp_path / "work")
    wider = TaggerConfig.from_dict({**SMALL.to_dict(), "hidden": SMALL.hidden * 2})
    refiner, report = train_tagger(train, valid, wider, config, tmp_path / "work")
    assert report["resumed_at_epoch"] == 0 and refiner.config.hidden == SMALL.hidden * 2
    reseeded = TaggerTrainConfig(epochs=1, batch_lines=400, threads=1, seed=config.seed + 1)
    _, report = train_tagger(train, valid, wider, reseeded, tmp_path / "work")
    assert report["resumed_at_epoch"] == 0
    _, report = train_tagger(train, valid, wider, reseeded, tmp_path / "work")
    assert report["resumed_at_epoch"] == 1  # its own epochs are resumed
    # another seed set (labels), or another schedule, is another run too
    relabeled = [{**d, "chunk_program": "keep_chunk()"} for d in train]
    _, report = train_tagger(relabeled, valid, wider, reseeded, tmp_path / "work")
    assert report["resumed_at_epoch"] == 0
    longer = TaggerTrainConfig(epochs=2, batch_lines=400, threads=1, seed=config.seed + 1)
    _, report = train_tagger(relabeled, valid, wider, longer, tmp_path / "work")
    assert report["resumed_at_epoch"] == 0 and report["epochs"] == 2


def test_spilled_features_read_back_as_tensorized(docs, tmp_path):
    import torch

    from prox_tasks.models.line_tagger import tensorize
    from prox_tasks.training.tagger import SpilledFeatures

    train, _ = docs
    store = SpilledFeatures(train, SMALL, tmp_path)
    assert store.sizes == [d["text"].count("\n") + 1 for d in train]
    for i, doc in enumerate(train):
        want, got = tensorize(doc["text"], SMALL.buckets, SMALL.kept_stats), store.read(i)
        for name in ("dense", "ids", "starts", "doc", "stats"):
            a, b = getattr(want, name), getattr(got, name)
            assert a.dtype == b.dtype and torch.equal(a, b), name


def test_training_does_not_hold_every_documents_features(docs, tmp_path, monkeypatch):
    """A seed set of tens of thousands of pages: their features (~360 bytes a line) are
    written to a scratch file once, not held for the whole training."""
    import weakref

    from prox_tasks.training import tagger as module

    made, alive_at_steps = [], []
    tensorize, collate = module.tensorize, module.collate

    def tracked_tensorize(*args, **kwargs):
        features = tensorize(*args, **kwargs)
        made.append(weakref.ref(features))
        return features

    def counting_collate(batch):
        alive_at_steps.append(sum(ref() is not None for ref in made))
        return collate(batch)

    monkeypatch.setattr(module, "tensorize", tracked_tensorize)
    monkeypatch.setattr(module, "collate", counting_collate)
    train, valid = docs
    config = TaggerTrainConfig(epochs=2, batch_lines=400, threads=1)
    train_tagger(train, valid, SMALL, config, tmp_path)
    assert len(made) == len(train) and alive_at_steps
    assert max(alive_at_steps) == 0  # every document's features read back when its batch comes
    assert not list(tmp_path.glob("features-*"))  # the scratch file goes with the training


class _OnePass:
    """Training rows read once, in order, as a seed set's files are: each pass yields fresh
    copies (``_Row``, which a weak reference can follow, each one given to ``seen``), so
    nothing but the training can hold them."""

    def __init__(self, docs: list[dict], seen=None) -> None:
        self.docs, self.seen, self.passes = docs, seen, 0

    def __len__(self) -> int:
        return len(self.docs)

    def __iter__(self):
        self.passes += 1
        for doc in self.docs:
            row = _Row(doc)
            if self.seen is not None:
                self.seen(row)
            yield row


class _Row(dict):
    pass


def test_training_reads_the_rows_once_and_holds_none_at_its_steps(docs, tmp_path, monkeypatch):
    """A seed set of tens of thousands of pages (~50 KB a row): the rows are read in one
    pass (features, targets and weights taken), not held while the model trains, and the
    weights are those of the same rows given as a list."""
    import weakref

    import torch

    from prox_tasks.training import tagger as module

    made, alive_at_steps = [], []
    collate = module.collate

    def counting_collate(batch):
        alive_at_steps.append(sum(ref() is not None for ref in made))
        return collate(batch)

    monkeypatch.setattr(module, "collate", counting_collate)
    train, valid = docs
    rows = _OnePass(train, seen=lambda row: made.append(weakref.ref(row)))
    config = TaggerTrainConfig(epochs=2, batch_lines=400, threads=1, teacher_weights={"x": 2})
    streamed, streamed_report = train_tagger(rows, valid, SMALL, config, tmp_path / "a")
    assert rows.passes == 1 and len(made) == len(train) and alive_at_steps
    assert max(alive_at_steps) == 0
    listed, listed_report = train_tagger(train, valid, SMALL, config, tmp_path / "b")
    for name, tensor in listed.model.state_dict().items():
        assert torch.equal(tensor, streamed.model.state_dict()[name]), name
    assert [h["loss"] for h in streamed_report["history"]] == \
        [h["loss"] for h in listed_report["history"]]


def test_the_checkpoints_data_digest_is_taken_in_the_one_pass(docs):
    from prox_tasks.training.tagger import StepTargets, docs_digest

    train, valid = docs
    step = StepTargets(TaggerTrainConfig(), len(train))
    assert list(step.taken(_OnePass(train))) == train
    assert step.data_digest(valid) == docs_digest(train, valid)  # a resume finds its epochs


KILLED_IN_TRAINING = """
import os, signal, sys
from prox_tasks.models.line_tagger import TaggerConfig
from prox_tasks.training.tagger import TaggerTrainConfig, train_tagger
from tests.training.fixtures import make_docs

def killed(refiner, docs):  # SIGKILL once the features are spilled: no clean-up runs
    os.kill(os.getpid(), signal.SIGKILL)

train_tagger(make_docs(60, seed=1), make_docs(20, seed=2),
             TaggerConfig(buckets=1 << 12, embed_dim=8, hidden=16, dilations=(1, 2)),
             TaggerTrainConfig(epochs=2, batch_lines=400, threads=1), sys.argv[1],
             evaluate=killed)
"""


def test_a_rerun_removes_the_features_a_killed_run_left_in_its_work_folder(docs, tmp_path):
    """``kill -9`` of a training leaves its scratch folder of features (~70 KB a page: GBs
    for a large seed set); the rerun that resumes in that work folder removes it, and leaves
    the scratch folder of a run still going."""
    import os
    import signal
    import subprocess
    import sys

    from prox_tasks.storage.tempfiles import temp_tag

    work = tmp_path / "work"
    killed = subprocess.run([sys.executable, "-c", KILLED_IN_TRAINING, str(work)],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = list(work.glob("features-*"))
    assert left and any(f.stat().st_size for d in left for f in d.iterdir())
    going = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        tag = temp_tag().replace(str(os.getpid()), str(going.pid))
        live = work / f"features-{tag}scratch"
        live.mkdir()
        train, valid = docs
        train_tagger(train, valid, SMALL, TaggerTrainConfig(epochs=1, batch_lines=400, threads=1),
                     work)  # fmt: skip
        assert sorted(work.glob("features-*")) == [live]
    finally:
        going.kill()
        going.wait()
