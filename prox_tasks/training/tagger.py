"""Training of the line tagger (the embedded default refiner) on a labeled seed set.

Targets come from the teacher's programs: a line is positive when the chunk program removes
it, a document when its document program keeps it. Documents are batched by line count
(length bucketing), long ones cropped to a window; the loss is the mean binary cross-entropy
of the lines plus that of the documents (rare drops up-weighted). After every epoch the model
is scored on the validation documents and the best epoch kept (ProX picks the checkpoint
with the best validation F1); a per-epoch checkpoint lets a killed run resume.
"""

from __future__ import annotations

import logging
import math
import os
import random
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from prox_tasks.models.line_tagger import (
    DocFeatures,
    LineTaggerRefiner,
    TaggerConfig,
    build_tagger,
    collate,
    format_of,
    tensorize,
)
from prox_tasks.storage.atomic import named_os_errors
from prox_tasks.storage.tempfiles import sweep_stale, temp_tag
from prox_tasks.training.metrics import doc_decision, removed_lines
from prox_tasks.training.sft import pack_padded, peak_rss_mb

log = logging.getLogger(__name__)

#: How a training run's scratch folder of spilled features starts, before its writer's
#: ``<host>.<pid>.`` (:func:`~prox_tasks.storage.tempfiles.temp_tag`).
FEATURES_PREFIX = "features-"


@dataclass
class TaggerTrainConfig:
    """Training settings of the tagger.

    Attributes:
        epochs: Passes over the training documents.
        learning_rate: Peak AdamW learning rate (cosine decay to 0).
        batch_lines: Lines per batch (documents are grouped by size up to this).
        max_lines: Longer documents are cropped to a random window of this many lines.
        doc_loss_weight: Weight of the document loss beside the line loss.
        drop_weight: Weight of a dropped document in the document loss (drops are rare).
        seed: Seeds initialisation, crops and batch order.
        threads: torch CPU threads.
        teacher_weights: Loss weight of a document by the teacher that labeled it (its
            ``teacher`` field: ``diff``, ``html``, ``rules``...; absent teachers weigh 1).
            Labels from a clean text are less noisy than the rules teacher's, so a mixed seed
            set can trust them more.
        line_word_weight: A line's loss weighs ``1 + line_word_weight * log(1 + words)``:
            word-level recall and precision count words, not lines (0: every line weighs 1).
        remove_weight: Loss weight of a line the teacher removes (boilerplate) relative to a
            kept one (1: equal).
        label_smoothing: Line targets move this far toward 0.5 (``t * (1 - e) + e / 2``):
            labels made by a teacher are noisy, so the tagger need not be certain of them.
    """

    epochs: int = 12
    learning_rate: float = 3e-3
    batch_lines: int = 4096
    max_lines: int = 1024
    doc_loss_weight: float = 1.0
    drop_weight: float = 5.0
    seed: int = 0
    threads: int = 2
    teacher_weights: dict[str, float] | None = None
    line_word_weight: float = 0.0
    remove_weight: float = 1.0
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), not {self.label_smoothing}")
        if self.remove_weight <= 0:
            raise ValueError(f"remove_weight must be positive, not {self.remove_weight}")

    def doc_weight(self, doc: dict) -> float:
        """The loss weight of one labeled document."""
        return float((self.teacher_weights or {}).get(doc.get("teacher") or "", 1.0))

    def to_dict(self) -> dict:
        return asdict(self)


def targets(doc: dict) -> tuple[list[float], float]:
    """(per-line remove targets, keep target) of a labeled document."""
    n = (doc.get("text") or "").count("\n") + 1
    removed = removed_lines(doc.get("chunk_program"), n)
    return [float(i in removed) for i in range(n)], float(doc_decision(doc.get("doc_program")) != "drop")


def line_weights(doc: dict, config: TaggerTrainConfig) -> list[float]:
    """Loss weight of each line of a labeled document (``line_word_weight``,
    ``remove_weight``)."""
    lines = (doc.get("text") or "").split("\n")
    weights = [1.0 + config.line_word_weight * math.log1p(len(line.split())) for line in lines]
    if config.remove_weight != 1.0:
        removed = targets(doc)[0]
        weights = [w * (config.remove_weight if r else 1.0) for w, r in zip(weights, removed)]
    return weights


def _batches(sizes: list[int], config: TaggerTrainConfig, epoch: int) -> list[list[int]]:
    rng = random.Random(config.seed * 7919 + epoch)
    order = sorted(range(len(sizes)), key=lambda i: (sizes[i], rng.random()))
    batches = pack_padded(order, sizes, config.max_lines, config.batch_lines)
    rng.shuffle(batches)
    return batches


class SpilledFeatures:
    """The features of every training document, computed once (:func:`tensorize`, one
    document at a time) and written to a scratch file in ``folder``; a document's are read
    back when a batch needs them. Only each document's line count, file offset and document
    vector stay in memory, so a seed set of tens of thousands of pages does not hold all
    their features (~360 bytes a line) for the whole training.

    A record holds the id starts (int64), the dense features and the line statistics
    (float32) and the hashed ids (int32: ids are below ``buckets``; read back as int64), so
    the tensors read back equal the ones :func:`tensorize` returned.
    """

    def __init__(self, docs: Iterable[dict], tagger: TaggerConfig, folder: Path) -> None:
        if tagger.buckets > np.iinfo(np.int32).max:
            raise ValueError(f"buckets {tagger.buckets} do not fit the scratch file's int32 ids")
        self.path = folder / "features.bin"
        self.sizes: list[int] = []
        self.offsets: list[int] = [0]
        self.n_ids: list[int] = []
        self.docs = []
        # a full disk names this file (a plain file's write names none)
        with named_os_errors(str(self.path)), open(self.path, "wb") as out:
            for doc in docs:
                f = tensorize(doc.get("text") or "", tagger.buckets, tagger.kept_stats)
                parts = (f.starts.numpy().astype(np.int64, copy=False),
                         f.dense.numpy(), f.stats.numpy(), f.ids.numpy().astype(np.int32))
                size = 0
                for part in parts:
                    out.write(np.ascontiguousarray(part).tobytes())
                    size += part.nbytes
                self.sizes.append(f.lines)
                self.n_ids.append(int(f.ids.shape[0]))
                self.offsets.append(self.offsets[-1] + size)
                self.docs.append(f.doc.clone())
        # ``docs`` may be a one-pass iterable: whether it held any is told by the sizes
        self.dense_dim = int(f.dense.shape[1]) if self.sizes else 0
        self.stats_dim = int(f.stats.shape[1]) if self.sizes else 0
        self._stream = None  # opened on the first read, once for the whole training

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def __len__(self) -> int:
        return len(self.sizes)

    def read(self, i: int) -> DocFeatures:
        """Document ``i``'s features, as :func:`tensorize` gave them (no line tokens)."""
        import torch

        n, k = self.sizes[i], self.n_ids[i]
        if self._stream is None:
            self._stream = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        self._stream.seek(self.offsets[i])
        raw = np.fromfile(self._stream, np.uint8, self.offsets[i + 1] - self.offsets[i])
        a = 8 * (n + 1)
        b = a + 4 * n * self.dense_dim
        c = b + 4 * n * self.stats_dim
        starts = raw[:a].view(np.int64)
        dense = raw[a:b].view(np.float32).reshape(n, self.dense_dim)
        stats = raw[b:c].view(np.float32).reshape(n, self.stats_dim)
        ids = raw[c : c + 4 * k].view(np.int32).astype(np.int64)
        return DocFeatures(torch.from_numpy(dense), torch.from_numpy(ids),
                           torch.from_numpy(starts), self.docs[i], torch.from_numpy(stats))


def _crop(feat, labels, max_lines: int, rng: random.Random):
    if feat.lines <= max_lines:
        return feat, labels
    start = rng.randrange(feat.lines - max_lines + 1)
    return feat.crop(start, start + max_lines), labels[start : start + max_lines]


def train_tagger(
    train_docs: Iterable[dict],
    valid_docs: list[dict],
    tagger: TaggerConfig,
    config: TaggerTrainConfig,
    work_dir: str | os.PathLike,
    evaluate=None,
    init_from: str | os.PathLike | None = None,
) -> tuple[LineTaggerRefiner, dict]:
    """Train a tagger; returns the refiner of the best validation epoch and a report.

    Args:
        train_docs: Labeled documents (``text``, ``doc_program``, ``chunk_program``): a
            list, or any sized iterable read once in the same order (e.g. a seed set's
            :class:`~prox_tasks.training.seedset.StreamedRows`); no row is held while training.
        valid_docs: Labeled documents scored after each epoch: a list, or a sized iterable
            read again at each epoch (a seed set's streamed validation rows: ``evaluate``
            reads them as it scores them, :func:`~prox_tasks.training.evaluate.evaluate_refiner`
            holding only their texts).
        tagger: Architecture settings.
        config: Training settings.
        work_dir: Folder for the per-epoch checkpoint (resumed when present).
        evaluate: ``evaluate(refiner, docs) -> dict`` with ``doc_f1`` and ``line_f1``
            (default :func:`prox_tasks.training.evaluate.evaluate_refiner`); the epoch with
            the best ``score`` is kept when the dict has one (e.g.
            :func:`prox_tasks.training.calibrate.gold_epoch_score`), else the best
            (doc F1 + line F1) / 2.
        init_from: A tagger artifact folder to fine-tune (its architecture wins over
            ``tagger``'s) instead of starting from random weights.

    Returns:
        (refiner, report) where report has ``epochs``, ``history``, ``best_epoch``,
        ``train_seconds``, ``lines_per_s``, ``peak_rss_mb``.
    """
    import torch

    if evaluate is None:
        from prox_tasks.training.evaluate import evaluate_refiner as evaluate
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    if init_from is not None:
        start_from = LineTaggerRefiner(init_from, threads=config.threads)
        tagger = start_from.config
        model = start_from.model
    else:
        model = build_tagger(tagger)
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    # a killed run's scratch folder (its features, ~70 KB a page) is removed by the rerun
    # that resumes in this work folder; one of a run still going is left alone
    sweep_stale(str(work_dir), prefix=FEATURES_PREFIX, once=False)
    with tempfile.TemporaryDirectory(prefix=FEATURES_PREFIX + temp_tag(), dir=work_dir) as scratch:
        # one pass over the training rows (they may be read from the seed set's files,
        # :class:`~prox_tasks.training.seedset.StreamedRows`): the steps need only what
        # each row leaves in ``feats`` and ``step``, not the rows
        step = StepTargets(config, len(train_docs))
        feats = SpilledFeatures(step.taken(train_docs), tagger, Path(scratch))
        try:
            return _train(step, valid_docs, tagger, config, work_dir, evaluate, model, feats)
        finally:
            feats.close()


class StepTargets:
    """What a training step needs of each training row besides its features: the line
    targets and weights, the keep target, the document's loss weight and whether the rules
    teacher labeled it; and the digest of the rows (a checkpoint's ``data``), all taken in
    the one pass that spills the features."""

    def __init__(self, config: TaggerTrainConfig, n_docs: int) -> None:
        import hashlib

        self.config = config
        self.labels: list = []
        self.weights: list[float] = []
        self.rules: list[bool] = []
        self.digest = hashlib.sha256()
        _digest_header(self.digest, n_docs)

    def taken(self, docs) -> Iterator[dict]:
        """``docs``, each one's targets recorded as it passes."""
        for doc in docs:
            self.add(doc)
            yield doc

    def add(self, doc: dict) -> None:
        """Record one row's targets and weights, and add it to the digest."""
        import torch

        lines, keep = targets(doc)
        self.labels.append((torch.tensor([lines, line_weights(doc, self.config)]).T, keep))
        self.weights.append(self.config.doc_weight(doc))
        self.rules.append(doc.get("teacher") == "rules")
        _digest_doc(self.digest, doc)

    def data_digest(self, valid_docs: list[dict]) -> str:
        """:func:`docs_digest` of the training rows taken and ``valid_docs``."""
        digest = self.digest.copy()
        _digest_split(digest, valid_docs)
        return digest.hexdigest()


def _train(step, valid_docs, tagger, config, work_dir, evaluate, model, feats):
    import torch

    from prox_tasks.training.checkpoints import save_checkpoint
    from prox_tasks.training.divergence import check_loss

    labels, weights = step.labels, step.weights
    sizes = feats.sizes
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    steps_per_epoch = len(_batches(sizes, config, 0))
    total = max(1, steps_per_epoch * config.epochs)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, s / total)))
    )
    ckpt = Path(work_dir) / "tagger_checkpoint.pt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    epoch, history, best, seconds_before = 0, [], None, 0.0
    origin = {**_origin(model, tagger), "data": step.data_digest(valid_docs),
              "training": {k: v for k, v in config.to_dict().items() if k != "threads"},
              "selection": _described(evaluate)}  # fmt: skip
    state = torch.load(ckpt, map_location="cpu", weights_only=False) if ckpt.exists() else None
    if state is not None and state.get("origin") != origin:
        # another run's epochs (another architecture, base model, random seed, seed set or
        # schedule): resuming them would fail on missing weights or, worse, silently
        # continue — and publish — the wrong model
        differs = sorted(k for k in origin if (state.get("origin") or {}).get(k) != origin[k])
        log.warning("%s belongs to another training run (its %s differ); starting over", ckpt,
                    ", ".join(differs))
        state = None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        epoch, history, best = state["epoch"], state["history"], state["best"]
        seconds_before = state.get("seconds", 0.0)
    start, lines_seen, resumed_at = time.perf_counter(), 0, epoch
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    while epoch < config.epochs:
        model.train()
        rng = random.Random(config.seed * 104729 + epoch)
        losses = []
        for batch in _batches(sizes, config, epoch):
            cropped = [_crop(feats.read(i), labels[i][0], config.max_lines, rng) for i in batch]
            batch_inputs = collate([c[0] for c in cropped])
            mask = batch_inputs[3]
            line_t = torch.nn.utils.rnn.pad_sequence([c[1] for c in cropped], batch_first=True)
            line_t, word_w = line_t[..., 0], line_t[..., 1]
            line_t = line_t * (1 - config.label_smoothing) + config.label_smoothing / 2
            keep_t = torch.tensor([labels[i][1] for i in batch])
            doc_w = torch.tensor([weights[i] for i in batch])
            rules = torch.tensor([step.rules[i] for i in batch]) if tagger.rules_head else None
            line_logits, doc_logit = model(*batch_inputs, rules=rules)
            line_w = (doc_w[:, None] * word_w)[mask]
            line_loss = (bce(line_logits[mask], line_t[mask], reduction="none") * line_w).sum() / line_w.sum().clamp_min(1e-6)
            weight = torch.where(keep_t > 0.5, 1.0, config.drop_weight) * doc_w
            doc_loss = bce(doc_logit, keep_t, weight=weight)
            loss = line_loss + config.doc_loss_weight * doc_loss
            value = float(loss.detach())
            check_loss(value, scheduler.last_epoch + 1, config.learning_rate, epoch + 1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(value)
            lines_seen += int(mask.sum())
        epoch += 1
        scores = {}
        if valid_docs:  # read for this epoch's scoring only (they may be streamed)
            scores = evaluate(LineTaggerRefiner.from_model(model, tagger), valid_docs)
        score = scores.get("score", (scores.get("doc_f1", 0) + scores.get("line_f1", 0)) / 2)
        entry = {"epoch": epoch, "loss": sum(losses) / max(1, len(losses)), "valid": scores}
        history.append(entry)
        log.info("epoch %d loss %.4f valid %s", epoch, entry["loss"], scores)
        if best is None or score > best["score"] or not valid_docs:
            best = {"score": score, "epoch": epoch,
                    "state": {k: v.clone() for k, v in model.state_dict().items()}}  # fmt: skip
        save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "scheduler": scheduler.state_dict(), "epoch": epoch,
                         "history": history, "best": best,
                         "seconds": seconds_before + time.perf_counter() - start,
                         "origin": origin}, ckpt)  # fmt: skip
    model.load_state_dict(best["state"])
    elapsed = time.perf_counter() - start
    report = {
        "epochs": epoch, "best_epoch": best["epoch"], "history": history,
        "train_seconds": seconds_before + elapsed, "resumed_at_epoch": resumed_at,
        "lines_per_s": lines_seen / elapsed if lines_seen and elapsed else None,
        "peak_rss_mb": peak_rss_mb(),
    }  # fmt: skip
    return LineTaggerRefiner.from_model(model.eval(), tagger), report


def docs_digest(*splits: list[dict]) -> str:
    """A digest of labeled documents (text, programs, teacher), split by split: what a
    checkpoint was trained and selected on."""
    import hashlib

    digest = hashlib.sha256()
    for docs in splits:
        _digest_split(digest, docs)
    return digest.hexdigest()


def _digest_split(digest, docs) -> None:
    _digest_header(digest, len(docs))
    for doc in docs:
        _digest_doc(digest, doc)


def _digest_header(digest, n_docs: int) -> None:
    digest.update(f"split {n_docs}\n".encode())


def _digest_doc(digest, doc: dict) -> None:
    import json

    fields = [doc.get(k) for k in ("text", "doc_program", "chunk_program", "teacher")]
    digest.update(json.dumps(fields, default=str).encode("utf-8", "surrogatepass"))


def _described(evaluate) -> str:
    """A stable name of the epoch-selection function (a partial's keywords included)."""
    if evaluate is None:
        return "teacher agreement"
    func = getattr(evaluate, "func", evaluate)
    keywords = sorted(getattr(evaluate, "keywords", {}).items())
    return f"{func.__module__}.{func.__qualname__}{keywords or ''}"


def _origin(model, tagger: TaggerConfig) -> dict:
    """What an epoch checkpoint must have started from to be resumed: the architecture and
    a digest of the weights before the first step."""
    import hashlib

    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return {"architecture": tagger.to_dict(), "initial_weights": digest.hexdigest()}


def save_tagger(refiner: LineTaggerRefiner, folder: str | os.PathLike, extra: dict) -> Path:
    """Write a tagger artifact folder (``refiner.json`` + ``model.safetensors``)."""
    import json

    from safetensors.torch import save_file

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().float() for k, v in refiner.model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"))
    settings = {"kind": "line_tagger", "format": format_of(refiner.config),
                "tagger": refiner.config.to_dict(),
                **extra}
    (out / "refiner.json").write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")
    return out
