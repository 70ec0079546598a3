"""The training stage: seed set in, evaluated and (maybe) promoted refiner artifact out.

``run_training(TrainJob(...))`` reads the seed set, trains the chosen kind of refiner
(``line_tagger``: the embedded default; ``causal_lm``: SFT of a Hugging Face causal LM or of
the embedded tiny LM), evaluates it on the validation split and on the shipped human-gold set,
publishes it to the registry, evaluates the incumbent (the promoted model, else the shipped
default) on the same documents, and promotes the new one only when it is not worse on gold and
beats the incumbent on the validation split (:func:`prox_tasks.registry.registry.beats`). The DAG task and ``prox train`` both call it. A killed job resumes from the
checkpoint in its work folder (derived from the job's settings when not given).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from prox_tasks.models.artifact import KINDS, artifact_version
from prox_tasks.setting_names import setting_name
from prox_tasks.storage import parse_uri
from prox_tasks.training.divergence import TrainingDiverged
from prox_tasks.training.evaluate import evaluate_model
from prox_tasks.training.seedset import left_out, load_seed_set

log = logging.getLogger(__name__)


class TrainingRefused(ValueError):
    """The job cannot train what it asks for (the message names the option to fix)."""


#: The :class:`TrainJob` fields whose ``prox train`` option is not ``--<field>``, and those
#: whose ``prox_train_refiner`` Param has another name, for the messages of
#: :meth:`TrainJob.check` (:func:`~prox_tasks.setting_names.setting_name`).
CLI_OPTIONS = {"seed_value": "--random-seed", "teacher_weights": "--teacher-weight",
               "tiny": "--tiny-config", "tagger": "--tagger-config"}
DAG_PARAMS = {"seed": "seed_uri", "output": "registry", "seed_value": "random_seed"}

#: Job settings that decide where and whether the model is published, not what is trained:
#: left out of the checkpoint folder's key, so changing them resumes the epochs.
_NOT_TRAINING = ("output", "name", "promote", "gold_gate", "gold_set", "gold_docs", "threads")


@dataclass
class TrainJob:
    """One training run.

    Attributes:
        seed: Seed-set URI (see :mod:`prox_tasks.training.seedset`).
        output: Registry root URI (local folder or ``s3://`` prefix).
        name: Model name in the registry.
        kind: ``line_tagger`` or ``causal_lm``.
        base: ``causal_lm``: checkpoint to fine-tune (None: the embedded tiny LM);
            ``line_tagger``: artifact to fine-tune (None: from scratch).
        epochs: Passes over the training documents (tagger) or examples (LM).
        max_steps: LM optimizer steps (overrides ``epochs``).
        learning_rate: Peak learning rate (None: the kind's default).
        seed_value: Random seed.
        threads: CPU threads.
        valid_percent: Validation share when the seed set has no validation split.
        max_eval_docs: Evaluate on at most this many validation documents, the first ones
            of the split; calibrate the keep threshold and choose the epoch on at most this
            many with gold, the first ones with gold (``select_epoch`` ``gold``; ``teacher``
            chooses it on the documents evaluated) (None: all).
        chunk_tokens: LM chunk budget in its own tokens.
        batch_tokens: LM padded tokens per micro-batch.
        grad_accum: LM micro-batches per optimizer step.
        bf16: LM bf16 autocast.
        tiny: The embedded tiny LM's size (``TinyLMConfig`` fields) when ``base`` is None.
        work_dir: Checkpoint folder (None: derived from the settings under the temp folder).
        catalog: Catalog URL to register the model in (None: no catalog).
        promote: Decide promotion (False: only publish).
        gold_gate: Score candidate and incumbent on the human-gold set and refuse a
            candidate worse there (:mod:`prox_tasks.training.gold_gate`).
        gold_set: A JSONL(.gz) gold file instead of the shipped set.
        gold_docs: Score at most this many gold documents (None: all).
        backend: Inference backend the candidate and the promoted model are evaluated on
            (None: the one ``prox refine`` and the DAG pick, so promotion measures what
            production runs).
        recall_target: ``line_tagger``: calibrate the keep threshold on the validation
            documents with gold (at most ``max_eval_docs``) to this word recall at the best
            precision (:mod:`prox_tasks.training.calibrate`; None, or fewer than 20 such
            documents: the threshold stays the model's, 0.5 from scratch, the base's when
            fine-tuning).
        teacher_weights: ``line_tagger``: loss weight per labeling teacher (a seed row's
            ``teacher``), e.g. ``{"diff": 3, "html": 3}``; others weigh 1.
        line_word_weight: ``line_tagger``: a line's loss weighs ``1 + w * log(1 + words)``.
        remove_weight: ``line_tagger``: loss weight of the lines the teacher removes.
        label_smoothing: ``line_tagger``: line targets move this far toward 0.5.
        tagger: ``line_tagger`` architecture overrides of ``TaggerConfig`` (e.g.
            ``{"dilations": [1, 2, 4, 8, 16, 32]}``; from scratch only).
        retrain: Train even when the registry holds the version a training of the same
            seed set, settings and code published (:meth:`identity`); False: that version is
            returned without training.
    """

    seed: str
    output: str
    name: str = "refiner"
    kind: str = "line_tagger"
    base: str | None = None
    epochs: float = 12
    max_steps: int | None = None
    learning_rate: float | None = None
    seed_value: int = 0
    threads: int = 2
    valid_percent: int = 10
    max_eval_docs: int | None = None
    chunk_tokens: int = 256
    batch_tokens: int = 4096
    grad_accum: int = 1
    bf16: bool = False
    tiny: dict | None = None
    work_dir: str | None = None
    catalog: str | None = None
    promote: bool = True
    gold_gate: bool = True
    gold_set: str | None = None
    gold_docs: int | None = None
    backend: str | None = None
    recall_target: float | None = 0.95
    select_epoch: str = "teacher"
    teacher_weights: dict[str, float] | None = None
    line_word_weight: float = 0.0
    remove_weight: float = 1.0
    label_smoothing: float = 0.0
    tagger: dict | None = None
    retrain: bool = False

    def settings(self) -> dict:
        return {k: v for k, v in asdict(self).items()
                if k not in ("work_dir", "catalog", "backend", "retrain")}

    def check_options(self, caller: str = "cli") -> None:
        """Refuse what the settings alone cannot train, before the seed set is read (on S3,
        tens of thousands of pages) — then the base model, and the promoted model the gold
        gate and promotion compare with, which must be published (:meth:`check` does the
        rest).

        Args:
            caller: ``cli`` (``prox train``) or ``dag`` (the train DAG): the message names
                the setting to change as its option or its Param
                (:func:`~prox_tasks.setting_names.setting_name`).

        Raises:
            TrainingRefused: the reason, naming the option.
            SettingInvalid: ``PROX_TRAIN_WORK_MAX_AGE_DAYS``, read by the sweep of old work
                folders (:func:`~prox_tasks.training.work_sweep.max_age_days`) once the seed
                set was read: refused here, before it is.
        """
        from prox_tasks.storage.names import check_name
        from prox_tasks.training.work_sweep import max_age_days

        max_age_days()  # the deployment's, whether or not this job's folder is swept
        named, given, unset = _wording(caller)
        check_name(self.name, "model name")
        if self.kind not in KINDS:
            raise TrainingRefused(f"{given('kind', self.kind)}: choose one of {', '.join(KINDS)}")
        from prox_tasks.inference.loading import runs_on

        if self.backend == "openai":
            # its servers serve the model they were started with, never the candidate this
            # run trains: the metrics (and the promotion) would be another model's
            raise TrainingRefused(f"{given('backend', 'openai')} scores the model its servers "
                                  "serve, not the candidate this run trains: evaluate on vllm "
                                  f"or transformers (or {unset('backend')})")
        if not runs_on(self.backend, {"kind": self.kind}):  # else it fails after training
            fits = "tagger" if self.kind == "line_tagger" else "vllm, transformers or openai"
            raise TrainingRefused(f"{given('backend', self.backend)} cannot run a {self.kind}, "
                                  f"which {named('kind')} trains: choose {fits}, or "
                                  f"{unset('backend')}")
        where = parse_uri(self.output)
        if where.scheme == "file" and os.path.exists(where.path) and not os.path.isdir(where.path):
            raise TrainingRefused(f"{given('output', self.output)} is a file, not a registry "
                                  "folder")
        from prox_tasks.registry.registry import not_a_root

        if (problem := not_a_root(self.output)) is not None:  # a path typo, a copied URI
            raise TrainingRefused(f"{given('output', self.output)} is {problem}")
        if self.kind == "line_tagger":
            if self.epochs < 1 or self.epochs != int(self.epochs):
                raise TrainingRefused(f"{given('epochs', f'{self.epochs:g}')}: the tagger "
                                      "trains whole epochs (1 or more)")
            if self.max_steps is not None:
                raise TrainingRefused(f"{named('max_steps')} is for {given('kind', 'causal_lm')}; "
                                      f"the tagger trains {named('epochs')}")
        elif self.epochs <= 0 and not self.max_steps:
            raise TrainingRefused(f"{given('epochs', f'{self.epochs:g}')}: train for more than "
                                  f"0 epochs (or give {named('max_steps')})")
        self.architecture()  # a typo'd field or a value of another kind, before any read
        if self.base is not None:
            from prox_tasks.models.artifact import artifact_kind

            try:
                base_kind = artifact_kind(self.base_dir())
            except (FileNotFoundError, ValueError) as err:  # a retry finds the same folder
                raise TrainingRefused(f"{given('base', self.base)} holds no model: {err}"
                                      ) from err
            if base_kind != self.kind:
                raise TrainingRefused(f"{given('base', self.base)} is a {base_kind} model; "
                                      f"{given('kind', self.kind)} fine-tunes a {self.kind}")
        if self.gold_gate or self.promote:
            check_incumbent(self.output, self.name)

    def architecture(self, caller: str = "cli"):
        """The architecture ``tagger`` (``line_tagger``) or ``tiny`` (``causal_lm``) asks for.

        Returns:
            The :class:`~prox_tasks.models.line_tagger.TaggerConfig` of a ``line_tagger``,
            the :class:`~prox_tasks.models.tiny_lm.TinyLMConfig` of a ``causal_lm``.

        Raises:
            TrainingRefused: the other kind's overrides given, overrides beside a ``base``
                (whose architecture fine-tuning keeps), an unknown field or a value not of
                its field's kind (:func:`~prox_tasks.models.config_overrides.checked_overrides`).
        """
        from prox_tasks.models.config_overrides import checked_overrides
        from prox_tasks.models.line_tagger import TaggerConfig
        from prox_tasks.models.tiny_lm import TinyLMConfig

        named, given, _ = _wording(caller)
        mine, other = ("tagger", "tiny") if self.kind == "line_tagger" else ("tiny", "tagger")
        if getattr(self, other) is not None:
            fits = "line_tagger" if other == "tagger" else "causal_lm"
            raise TrainingRefused(f"{named(other)} is for {given('kind', fits)}; "
                                  f"{given('kind', self.kind)} trains another architecture")
        if getattr(self, mine) and self.base is not None:
            # fine-tuning keeps the base's architecture: the overrides would go unused
            raise TrainingRefused(f"{named(mine)} sets the architecture of a model trained from "
                                  f"scratch; {given('base', self.base)} fine-tunes the base's "
                                  f"(leave out {named(mine)} or {named('base')})")
        cls = TaggerConfig if self.kind == "line_tagger" else TinyLMConfig
        try:
            return checked_overrides(cls, getattr(self, mine), named(mine))
        except ValueError as err:
            raise TrainingRefused(str(err)) from err

    def check(self, seed, caller: str = "cli") -> None:
        """Refuse, before any training, what the seed set cannot train as asked (what would
        fail after training or train something other than asked); :meth:`check_options`
        refused the rest before the seed set was read.

        Args:
            seed: The loaded seed set.
            caller: As :meth:`check_options`.

        Raises:
            TrainingRefused: the reason, naming the option.
        """
        named, given, _ = _wording(caller)
        if not seed.validation:
            # the train DAG has no valid_percent Param: its seed sets hold their split,
            # drawn by the labeling DAG's
            way_to_validation = (
                "label the seed set again with more held out: prox_seed_label's valid_percent "
                "Param, or a larger sample_size" if caller == "dag" else
                f"a validation split with usable rows, or none and {named('valid_percent')} "
                "above 0")
            said = left_out(seed.describe())
            raise TrainingRefused(f"seed set {self.seed} has no validation documents"
                             + (f" ({said})" if said else "")
                             + ": the epoch choice, the metrics and promotion are measured on "
                             f"them ({way_to_validation})")
        if seed.train_drops() == len(seed.train):
            # nothing teaches it a page to keep nor a line to remove: the model drops every
            # page, and with nothing promoted and no gold gate it would be promoted
            raise TrainingRefused(f"seed set {self.seed}: all {len(seed.train):,} of its "
                                  "training documents are labeled drop_doc(), so a model "
                                  "trained on them drops every page; label pages the teacher "
                                  "keeps (its label_distribution in the seed set's "
                                  "manifest.json counts keep_doc and drop_doc)")
        removing, keeping = seed.train_lines()
        if not seed.train_drops() and not removing or not keeping:
            # one class only: a model trained on it keeps every page whole (refining changes
            # nothing, and the gate passes it) or removes every line of every page it keeps
            taught = ("drops a page or removes a line, so a model trained on them keeps every "
                      "page whole" if keeping else "keeps a line of the pages it keeps, so a "
                      "model trained on them removes every line")
            raise TrainingRefused(f"seed set {self.seed}: none of its {len(seed.train):,} "
                                  f"training documents {taught}; label pages with lines to "
                                  "remove and lines to keep (its label_distribution in the "
                                  "seed set's manifest.json counts them)")
        teachers = seed.train_teachers()
        unknown = sorted(set(self.teacher_weights or {}) - teachers)
        if unknown:
            labeled = ", ".join(sorted(t for t in teachers if t)) or "none named"
            raise TrainingRefused(f"{named('teacher_weights')} names {', '.join(unknown)}, "
                                  "which labeled no training document; this seed set's "
                                  f"teachers: {labeled}")
        if self.select_epoch == "gold" and not seed.validation.first(1, gold=True):
            raise TrainingRefused(f"{given('select_epoch', 'gold')} needs validation documents "
                                  "with a gold_text; this seed set's have none (use "
                                  f"{given('select_epoch', 'teacher')})")

    def base_dir(self) -> Path | None:
        """The local folder of the model ``base`` names (None: no base): a location,
        ``default``, or ``promoted`` — the model promoted as ``name`` in this job's registry
        (``output``), else in its ``catalog``: the incumbent its gold gate compares with
        (:func:`prox_tasks.training.gold_gate.gold_incumbent`), not ``$PROX_MODEL_REGISTRY``'s.

        Raises:
            prox_tasks.models.NoModelError: ``promoted`` and nothing is promoted there.
        """
        if self.base is None:
            return None
        from prox_tasks.models import resolve_model
        from prox_tasks.registry import fetch_folder

        resolved = resolve_model(self.base, name=self.name, registry=self.output,
                                 catalog_url=self.catalog, catalog=bool(self.catalog),
                                 setting="base")
        return fetch_folder(resolved.uri)

    def resolved_work_dir(self, seed_version: str = "", base_version: str = "",
                          gold_left_out: str = "") -> Path:
        """``work_dir``, or a folder keyed by the settings, the seed-set version and the
        base model's version (``base`` names a model by location — ``default``, a path, an
        S3 folder — and what it holds changes with a new release: a retry resumes the
        epochs of its own run, never those of a run from another base), and
        ``gold_left_out`` — the version of the gold set whose pages were left out of the
        seed set — when some were (a seed set without such pages keeps its folder: the
        epochs of a run of the release before, which did not look for them, resume)."""
        if self.work_dir:
            return Path(self.work_dir)
        from prox_tasks.storage.tempfiles import scratch_dir

        key = self._training_key(seed_version, base_version, gold_left_out)
        # in the operator's scratch volume ($PROX_TMPDIR), as every scratch file: the system
        # temp folder (a small /tmp) took checkpoints while PROX_TMPDIR named one with room.
        # A folder of its own there: the sweep of stale work folders lists its parent.
        return Path(scratch_dir()) / "prox-train" / key[:16]

    def identity(self, seed_version: str = "", base_version: str = "",
                 gold_left_out: str = "") -> str:
        """What decides the model this job trains: the settings, seed set, base model and
        gold pages that key the work folder (:meth:`resolved_work_dir`) and the code that
        trains (:func:`code_identity`). Training is deterministic, so a job of the same
        identity publishes the same version: the registry records which
        (:meth:`~prox_tasks.registry.ModelRegistry.trained`) and a rerun returns it."""
        keyed = {"training": self._training_key(seed_version, base_version, gold_left_out),
                 "code": code_identity()}
        return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:32]

    def _training_key(self, seed_version: str, base_version: str, gold_left_out: str) -> str:
        # what shapes the training only: a fixed --output or --no-promote resumes the epochs
        shaping = {k: v for k, v in self.settings().items() if k not in _NOT_TRAINING}
        keyed = {**shaping, "seed_version": seed_version, "base_version": base_version}
        if gold_left_out:  # the same files without the gold pages: other training rows
            keyed["gold_left_out"] = gold_left_out
        return hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()


#: The libraries whose kernels and tokenizers decide the weights a training gives: a rerun
#: after one of them changed version trains again (:func:`code_identity`).
TRAINING_LIBRARIES = ("torch", "transformers", "tokenizers", "safetensors")


@functools.cache
def code_identity() -> str:
    """A digest of the code a training runs: every module of ``prox_tasks`` (a release, or a
    change to any of them, trains again rather than trust a model the old code trained) and
    the versions of :data:`TRAINING_LIBRARIES` installed (their kernels and tokenizers
    decide the weights)."""
    import prox_tasks

    digest = hashlib.sha256()
    package = Path(prox_tasks.__file__).parent
    for module in sorted(package.rglob("*.py")):
        digest.update(str(module.relative_to(package)).encode() + b"\0" + module.read_bytes())
    for library, installed in library_versions().items():
        digest.update(f"{library} {installed}".encode() + b"\0")
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """The installed version of each of :data:`TRAINING_LIBRARIES` (``""``: not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for library in TRAINING_LIBRARIES:
        try:
            versions[library] = version(library)
        except PackageNotFoundError:
            versions[library] = ""
    return versions


def _wording(caller: str):
    """How :meth:`TrainJob.check_options` and :meth:`TrainJob.check` name a setting to
    ``caller``: ``named`` (``--epochs``, ``the epochs Param``), ``given`` (with its value:
    ``--epochs 1.5``, ``the epochs Param (1.5)``) and ``unset`` (``leave --backend out``)."""

    def named(setting: str) -> str:
        return setting_name(setting, caller, CLI_OPTIONS, DAG_PARAMS)

    def given(setting: str, value) -> str:
        return f"{named(setting)} ({value})" if caller == "dag" else f"{named(setting)} {value}"

    def unset(setting: str) -> str:
        return f"leave {named(setting)} {'empty' if caller == 'dag' else 'out'}"

    return named, given, unset


def _train(job: TrainJob, seed, artifact_dir: Path, work: Path) -> tuple[dict, dict]:
    if job.kind == "line_tagger":
        from prox_tasks.training.tagger import TaggerTrainConfig, save_tagger, train_tagger

        config = TaggerTrainConfig(epochs=int(job.epochs), seed=job.seed_value,
                                   threads=job.threads, teacher_weights=job.teacher_weights,
                                   line_word_weight=job.line_word_weight,
                                   remove_weight=job.remove_weight,
                                   label_smoothing=job.label_smoothing)  # fmt: skip
        if job.learning_rate:
            config.learning_rate = job.learning_rate
        # read again at each epoch, not held through the training: the first pages, or the
        # first ones with gold when the epoch is chosen on gold (the pages calibrated on)
        valid = seed.validation.first(job.max_eval_docs, gold=job.select_epoch == "gold")
        architecture = job.architecture()
        evaluate = None
        if job.select_epoch == "gold":
            from prox_tasks.training.calibrate import gold_epoch_score

            evaluate = partial(gold_epoch_score, min_recall=job.recall_target or 0.95)
        elif job.select_epoch != "teacher":
            raise ValueError(f"select_epoch {job.select_epoch!r}: choose teacher or gold")
        refiner, report = train_tagger(seed.train, valid, architecture, config, work,
                                       evaluate=evaluate, init_from=job.base_dir())  # fmt: skip
        if evaluate is not None:  # what the epoch was chosen by, at each epoch's own threshold
            report["gold_f1_by_epoch"] = [h["valid"].get("score") for h in report["history"]]
        if job.recall_target is not None:
            from prox_tasks.training.calibrate import calibrate_threshold

            # at most as many pages as evaluation scores (--max-eval-docs), the same every
            # run: tens of thousands of validation pages with gold would each be refined at
            # every threshold of the grid
            calibrate_on = seed.validation.first(job.max_eval_docs, gold=True)  # streamed
            report["calibration"] = calibrate_threshold(refiner, calibrate_on,
                                                        job.recall_target)  # fmt: skip
        save_tagger(refiner, artifact_dir, {"seed_set": seed.version})
        return config.to_dict(), report
    if job.kind == "causal_lm":
        from prox_tasks.training.lm import train_causal_lm
        from prox_tasks.training.sft import SFTConfig

        config = SFTConfig(epochs=job.epochs, max_steps=job.max_steps, seed=job.seed_value,
                           threads=job.threads, batch_tokens=job.batch_tokens,
                           grad_accum=job.grad_accum, bf16=job.bf16)  # fmt: skip
        if job.learning_rate:
            config.learning_rate = job.learning_rate
        # the LM's examples are cut from every row's text up front: it reads them all
        _, report = train_causal_lm(list(seed.train), artifact_dir, work, config, base=job.base,
                                    chunk_tokens=job.chunk_tokens, tiny=job.tiny,
                                    base_dir=job.base_dir())  # fmt: skip
        report.pop("history", None)
        return config.to_dict(), report
    raise ValueError(f"unknown kind {job.kind!r}; choose one of {', '.join(KINDS)}")


def check_incumbent(registry: str, name: str) -> None:
    """Refuse, before any training, a registry whose promoted model — the incumbent the gold
    gate and promotion compare the candidate with — cannot be loaded: ``promoted.json``
    names a version not published there, or is no promotion record, or the version's
    ``artifact.json`` is no artifact record (one GET: loading it refuses it,
    :func:`~prox_tasks.models.artifact.artifact_record`). Found only then, the
    run failed after its training (hours of GPU for a ``causal_lm``), its model published;
    ``prox train`` (with the gate or promotion on) and the training DAG's
    ``resolve_seed_set`` (its evaluate and promote tasks always compare) check it first.

    Raises:
        prox_tasks.registry.PromotedVersionGone: the same error as refining's (exit 2, no
            DAG retry: a setting to repair), or its :class:`PromotedRecordDamaged`.
    """
    from prox_tasks.models.artifact import ArtifactRecordDamaged
    from prox_tasks.registry import ModelRegistry, PromotedVersionGone

    compared = "the gold gate and promotion compare the candidate with the promoted model"
    models = ModelRegistry(registry)
    try:
        record = models.promoted_published(name)
        if record is not None:  # its files' digest is checked when it is loaded (a download)
            models.artifact(name, record["version"])
    except PromotedVersionGone as err:
        raise type(err)(f"{err}; {compared}") from err
    except ArtifactRecordDamaged as err:  # damaged, so no version to compare with
        raise PromotedVersionGone(f"the promoted {name} {record['version']} cannot be loaded: "
                                  f"{err}; {compared}") from err


def checked_seed_set(job: TrainJob, caller: str = "cli", sample_rows: int | None = None,
                     warn: bool = True):
    """``job``'s seed set, read (streamed) once its settings were checked
    (:meth:`TrainJob.check_options`) and checked against them (:meth:`TrainJob.check`):
    what :func:`run_training` trains on, and what the train DAG's first task checks so a run
    that cannot train fails there, not at ``train`` after waiting for the ``gpu`` pool.

    ``sample_rows`` (the DAG's first task): only the first this many lines of each file
    are read — the manifest, every file there and readable, the rows that start it — not a
    large seed set on S3 once more before ``train`` reads it all. A seed set read whole
    within them is checked as ``train`` checks it; of one read in part, what the rows read
    lack (training, validation or gold rows) is left for ``train`` to find.

    ``warn``: whether to warn of the seed set's pages of the gold set, left out of training
    and validation. The train DAG's first task checks the seed set without it (False): its
    train task, which leaves them out, says it, so a run says it once, not once per task.

    Raises:
        TrainingRefused: the settings, or a seed set that is missing, unreadable (a
            manifest cut short, a file it names gone), without training or validation
            documents, or not what the settings need; the message names the setting.
    """
    # the rows stay in the seed set's files (read again in each pass made over them: the
    # training rows once, the validation pages at each epoch and evaluation), so tens of
    # thousands of pages are not held through the training
    job.check_options(caller)  # before the seed set (and the base model) is read
    from prox_tasks.evaluation.goldset import gold_pages
    from prox_tasks.training.seedset import SeedSetChanged

    # the pages promotion's gold gate scores on (a missing or bad --gold-set fails here,
    # before the seed set is read) are kept out of training and validation
    gold = gold_pages(job.gold_set)
    named, _, _ = _wording(caller)
    try:
        seed = load_seed_set(job.seed, job.valid_percent, stream=True, sample_rows=sample_rows,
                             leave_out=gold)
    except SeedSetChanged:
        raise
    except (FileNotFoundError, ValueError) as err:  # no retry reads it otherwise
        writer = "prox_seed_label" if caller == "dag" else "`prox label --seed-set`"
        raise TrainingRefused(f"seed set {job.seed} cannot be read: {err} (point "
                              f"{named('seed')} at a whole seed set {writer} wrote)") from err
    if seed.partial:  # what the rows read lack may come further on: train reads them all
        return seed
    if warn and (left := seed.describe()["gold_pages_left_out"]):
        log.warning("seed set %s: %d of its pages are pages of the gold set %s, left out of "
                    "training and validation: promotion's gold gate scores the candidate on "
                    "them, and a model trained on them would be scored on pages it learned from",
                    job.seed, left, gold.version)
    if not seed.train:
        described = seed.describe()
        said = left_out(described)
        hint = "" if "no text" not in described["skipped_reasons"] else (
            " (labels without their text: point the seed_uri Param at a seed set "
            "prox_seed_label wrote, which keeps the texts)" if caller == "dag" else
            " (labels written without `prox label --keep-text` or --seed-set carry no text)")
        raise TrainingRefused(f"seed set {job.seed} has no training documents"
                         + (f" ({said})" if said else "")
                         + hint)
    job.check(seed, caller)
    return seed


def run_training(job: TrainJob, progress=None, caller: str = "cli",
                 on_work_folder=None) -> dict:
    """Train, evaluate, publish and decide promotion; returns the evaluation record.

    A job whose seed set, settings and code (:meth:`TrainJob.identity`) published a version
    to ``job.output`` before, intact there, is not trained again (unless ``job.retrain``):
    that version is returned, ``reused`` True, with the metrics and training report it was
    published with; the gold gate and promotion, when asked, are decided as after a
    training. The work folder is locked for the run (:func:`work_folder_lock`): an
    identical job started meanwhile waits, then returns this one's model.

    ``progress``, a bar (``reset(total)``, ``set_description``, ``update``) or None, advances
    once per phase: train, evaluate, publish, gold gate, promotion. ``caller`` (``cli`` or
    ``dag``): how a refusal names the setting to change (:meth:`TrainJob.check`).
    ``on_work_folder``, a callable or None, is given the work folder once it is known (the
    default one is keyed by the seed set read), so a stopped command can name the folder its
    rerun resumes from.
    """
    from prox_tasks.registry import ModelRegistry, fetch_folder
    from prox_tasks.training.work_lock import work_folder_lock

    phases = ["train", "evaluate", "publish"] + ["gold gate"] * job.gold_gate \
        + ["promotion"] * job.promote
    if progress is not None:
        progress.reset(total=len(phases))

    def phase(done: str) -> None:
        if progress is not None:
            progress.update(1)
            following = phases.index(done) + 1
            if following < len(phases):
                progress.set_description(phases[following])

    seed = checked_seed_set(job, caller)  # a missing or bad gold file fails there, not after
    base_version = artifact_version(job.base_dir()) if job.base else ""
    gold_left_out = seed.gold_set if seed.describe()["gold_pages_left_out"] else ""
    work = job.resolved_work_dir(seed.version, base_version, gold_left_out)
    if on_work_folder is not None:
        on_work_folder(work)
    identity = job.identity(seed.version, base_version, gold_left_out)
    registry = ModelRegistry(job.output, catalog=job.catalog)
    if not job.work_dir:  # the folders failed runs left that no retry resumed
        from prox_tasks.training.work_sweep import sweep_stale_work_folders

        sweep_stale_work_folders(work.parent, keep=work)
        # and those of the system temp folder, where they were before PROX_TMPDIR took them:
        # no run looks there any more, so none resumes or sweeps them (a small /tmp's)
        before = Path(tempfile.gettempdir()) / "prox-train"
        if before != work.parent:
            sweep_stale_work_folders(before, keep=work)
    with work_folder_lock(work):  # one writer: an identical run waits here, then reuses
        published = None if job.retrain else registry.trained(job.name, identity)
        if published is None:
            out = _train_and_publish(job, seed, registry, work, base_version, phase)
            registry.record_training(job.name, identity, out["version"], out["train"])
            artifact_dir = work / "artifact"
        else:
            log.info("already trained: %s %s (same seed set, settings and code)", job.name,
                     published["version"])
            out = {"name": job.name, "version": published["version"], "uri": published["uri"],
                   "kind": published["kind"], "seed_set": seed.describe(),
                   "metrics": published["metrics"], "train": published["train"],
                   "reused": True}  # fmt: skip
            artifact_dir = fetch_folder(published["uri"])
            registry.book_published(published)  # --catalog: booked there as publishing does
            for done in ("train", "evaluate", "publish"):
                phase(done)
        _decide(job, registry, seed, out, artifact_dir, phase)
        if not job.work_dir:
            # the default folder (scratch_dir's prox-train): its checkpoints (~20 MB a tagger run) only
            # serve a run that failed to resume; the model is published. A --work-dir is
            # the user's.
            shutil.rmtree(work, ignore_errors=True)
    return out


def _train_and_publish(job: TrainJob, seed, registry, work: Path, base_version: str,
                       phase) -> dict:
    """Train in ``work``, evaluate and publish: :func:`run_training`'s record so far."""
    artifact_dir = work / "artifact"
    try:
        config, report = _train(job, seed, artifact_dir, work)
    except TrainingDiverged:
        if not job.work_dir:  # its checkpoints resume only the run that diverged from them
            shutil.rmtree(work, ignore_errors=True)
        raise
    phase("train")
    valid = seed.validation.first(job.max_eval_docs)
    metrics = evaluate_model(artifact_dir, valid, job.backend, job.threads)  # streamed
    phase("evaluate")
    # what --base named ("promoted" names another model once this one is promoted), and the
    # model it resolved to: the lineage the catalog records
    training_config = {"job": job.settings(), "config": config, "base": job.base,
                       "base_version": base_version or None}
    record = registry.publish(artifact_dir, job.name, job.kind, training_config,
                              seed.describe(), metrics)  # fmt: skip
    phase("publish")
    return {"name": job.name, "version": record["version"], "uri": record["uri"],
            "kind": job.kind, "seed_set": seed.describe(), "metrics": metrics,
            "train": {k: v for k, v in report.items() if k != "history"},
            "reused": False}  # fmt: skip


def _decide(job: TrainJob, registry, seed, out: dict, artifact_dir: Path, phase) -> None:
    """The gold gate and the promotion decision, when ``job`` asks for them, into ``out``."""
    valid = seed.validation.first(job.max_eval_docs)
    gold = None
    if job.gold_gate:
        from prox_tasks.training.gold_gate import gold_comparison

        gold = gold_comparison(str(artifact_dir), registry, job.name, job.threads,
                               job.gold_set, job.gold_docs, job.backend)  # fmt: skip
        out["gold"] = gold
        phase("gold gate")
    if job.promote:
        from prox_tasks.training.promotion import decide_promotion, measure_incumbent

        # measured against the model promoted now; measured again if another is promoted
        # before the decision (the gold phase's comparison is kept while still current)
        measure = partial(measure_incumbent, registry, out, lambda: valid, threads=job.threads,
                          backend=job.backend, gold_gate=job.gold_gate, gold_set=job.gold_set,
                          gold_docs=job.gold_docs, gold=gold)  # fmt: skip
        decision, measured = decide_promotion(registry, out, measure)
        if measured["gold"] is not None:
            out["gold"] = measured["gold"]
        # a rerun (or a retry) of the version promoted now: it is the promoted model
        out.update(promoted=decision.left_promoted,
                   reason=decision.reason,
                   incumbent={"version": decision.incumbent, "metrics": measured["metrics"]})
        phase("promotion")
