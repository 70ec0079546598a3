"""Checks of a refine's options that must fail before anything is planned or booked.

``prox refine`` (:func:`prox_tasks.refine.corpus.refine_corpus`) and the DAG's plan task
(:func:`prox_tasks.pipeline.refresh.plan`) both call :func:`check_refine_options`: a bad
option fails at once, not after the plan is written, the catalog booked, or a task retried.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def check_refine_options(workers: int | None, checkpoint_every: int | None,
                         backend_options: dict | None, model_uri: str | None,
                         backend: str | None = None, refines_here: bool = False) -> dict:
    """Refuse options that cannot work.

    Args:
        workers: Worker processes (None: not chosen here).
        checkpoint_every: Documents per checkpoint (None: the default).
        backend_options: The backend's options; ``line_threshold`` is the keep threshold.
        model_uri: The model as resolved (:func:`prox_tasks.models.resolve_model`).
        backend: The backend asked for (None: chosen from the model); the model, local or
            on S3, is checked to fit it (:func:`check_model_at`).
        refines_here: This process refines the shards too (``prox refine``, not the DAG's
            plan task): the environment it sees is the shards', so an openai pool missing
            from it is refused now.

    Returns:
        The model's ``refiner.json`` settings ({} for a Hugging Face folder, or no model).

    Raises:
        ValueError: workers below 1, a negative checkpoint interval, a keep threshold
            outside (0, 1] or for a generative model, a backend that cannot run the model,
            openai options giving one refining level a pool and the other none.
        FileNotFoundError: No model at ``model_uri``.
    """
    if workers is not None and workers < 1:
        raise ValueError("--workers must be at least 1")
    if checkpoint_every is not None and checkpoint_every < 0:
        raise ValueError(f"--checkpoint-every must be 0 (no checkpoints) or more, not "
                         f"{checkpoint_every}")
    threshold = (backend_options or {}).get("line_threshold")
    if threshold is not None and not 0.0 < threshold <= 1.0:
        raise ValueError(f"--keep-threshold must be in (0, 1], not {threshold}")
    if model_uri:
        settings = check_model_at(model_uri, backend)
        if settings.get("kind", "causal_lm") != "causal_lm":
            _refuse_generative_options(backend_options or {}, model_uri)
        elif backend == "openai":
            from prox_tasks.inference.loading import check_openai_pools
            from prox_tasks.inference.openai_engine import check_seconds_settings

            check_openai_pools(backend_options or {}, refines_here)
            check_seconds_settings(backend_options or {})
        if settings.get("kind", "causal_lm") == "causal_lm":
            _refuse_constraints_it_cannot_keep(backend_options or {}, backend)
        if threshold is not None and settings.get("kind", "causal_lm") == "causal_lm":
            # the engines refused it only once loaded, as an option named line_threshold
            raise ValueError(f"a keep threshold (--keep-threshold, the keep_threshold Param) "
                             f"is for line-tagger models; {model_uri} is a generative model "
                             "(it writes its programs itself, with no keep threshold): leave "
                             "the keep threshold out")
        _check_model_type(model_uri, backend, backend_options or {}, settings)
        return settings
    return {}


#: Backend options ``prox refine`` gives under another option name (the rest: ``--`` and
#: the name with dashes).
CLI_OPTIONS = {"timeout": "--request-timeout", "line_threshold": "--keep-threshold"}


def _refuse_generative_options(backend_options: dict, model_uri: str) -> None:
    """Refuse, by their ``prox refine`` names, the options a line-tagger model cannot take
    (``--doc-model``, ``--servers``, …): the tagger backend refused them only once loaded,
    after the plan, as a Python list of internal names (``['doc_model']``)."""
    from prox_tasks.inference.loading import not_for_the_tagger
    from prox_tasks.setting_names import setting_name

    unknown = not_for_the_tagger(backend_options)
    if unknown:
        named = ", ".join(setting_name(k, "cli", CLI_OPTIONS) for k in unknown)
        one = len(unknown) == 1
        raise ValueError(f"{named} {'is' if one else 'are'} for generative models (the vllm, "
                         f"transformers and openai backends); {model_uri} is a line-tagger "
                         f"model, run by the tagger backend: leave {'it' if one else 'them'} "
                         "out, or give the generative model with --model (with --doc-model "
                         "and --chunk-model too: a model folder, e.g. the document level's, "
                         "is still needed)")  # fmt: skip


def _refuse_constraints_it_cannot_keep(backend_options: dict, backend: str | None) -> None:
    """Refuse constrained decoding (``--constrained``) where the backend that will run the
    model (``transformers``, named or chosen where vLLM is not installed) cannot constrain
    it: the engine refused it only once a shard ran, after the plan and the folder's claim,
    as ``constrained=True``."""
    from prox_tasks.inference.loading import default_backend

    if backend_options.get("constrained") and (backend or default_backend()) == "transformers":
        raise ValueError("--constrained (constrained decoding, the constrained backend option) "
                         "needs an engine that masks the model's output: the vllm or openai "
                         "backend; the transformers backend cannot. Leave it out, or run "
                         "--backend vllm")  # fmt: skip


def check_model_at(model_uri: str, backend: str | None = None) -> dict:
    """Check, before anything is planned, that ``model_uri`` (a local folder or an
    ``s3://`` prefix) holds a model ``backend`` can run, reading only its file names and
    its small ``refiner.json`` — an S3 model is not downloaded here.

    Returns:
        Its ``refiner.json`` settings ({} for a Hugging Face folder).

    Raises:
        ModelNotFound: Nothing, or no model, at ``model_uri`` (a file: not a folder; a line
            tagger's folder without its weights).
        ValueError: The backend cannot run this kind of model.
        prox_tasks.models.artifact.ModelDamaged: Its ``refiner.json`` or ``artifact.json``
            cannot be read (:func:`~prox_tasks.models.artifact.refiner_settings`,
            :func:`~prox_tasks.models.artifact.artifact_record`).
    """
    from prox_tasks.inference.loading import MODEL_FILES, check_settings_fit
    from prox_tasks.models.artifact import (
        ARTIFACT,
        REFINER_FILE,
        TAGGER_WEIGHTS,
        artifact_record,
        check_model_files,
        file_not_folder,
        refiner_settings,
    )
    from prox_tasks.storage import list_uri, parse_uri, read_bytes

    location = parse_uri(model_uri)
    try:
        if location.scheme == "file" and not os.path.exists(location.path):
            from prox_tasks.models.resolver import shipped_elsewhere_hint, version_hint

            hint = version_hint(location.path) or shipped_elsewhere_hint(location.path)
            raise FileNotFoundError(f"no model at {model_uri}{hint}")
        if location.scheme == "file" and not os.path.isdir(location.path):
            # every backend loads a folder: a weights file given alone was refused only
            # after the plan, as a folder that "does not exist"
            raise file_not_folder(model_uri)
        prefix = location.uri.rstrip("/") + "/"
        names = {uri[len(prefix):] for uri in list_uri(location.uri) if uri.startswith(prefix)}
        if not names:
            raise FileNotFoundError(f"no model files under {model_uri}")
        settings = {}
        if REFINER_FILE in names:
            settings = refiner_settings(read_bytes(prefix + REFINER_FILE),
                                        prefix + REFINER_FILE)
        elif not names & set(MODEL_FILES):
            raise FileNotFoundError(f"no model (refiner.json, config.json or a tokenizer) "
                                    f"under {model_uri}")
        if ARTIFACT in names:  # damaged, the model loads under no version: refused at a shard
            artifact_record(read_bytes(prefix + ARTIFACT), prefix + ARTIFACT)
        check_model_files(settings, names, model_uri)  # else refused once loaded, after the plan
    except FileNotFoundError as err:
        # a --model to fix, as a folder that is no model is: exit 2, not 1 (1 says a rerun
        # may get past it); still a FileNotFoundError for the callers that catch one
        raise ModelNotFound(str(err)) from err
    if settings.get("kind") == "line_tagger":
        from prox_tasks.models.tagger_settings import check_tagger_settings

        check_tagger_settings(settings, prefix + REFINER_FILE)  # types, before the plan
        _refuse_cut_weights(model_uri, [TAGGER_WEIGHTS])
    return check_settings_fit(backend, settings, model_uri)


class NotAModelFolder(ValueError):
    """``--model`` names a folder no backend that loads weights can load: a setting to fix
    (``prox refine`` exits 2), not a shard to retry."""


class ModelNotFound(NotAModelFolder, FileNotFoundError):
    """``--model`` names nothing, a file (a weights file given for its folder), a folder
    without model files, or a line tagger's folder without its weights: a setting to fix
    (``prox refine`` exits 2), found missing as a file is."""


#: The heads of ``config.json`` architectures that label or embed text and cannot write a
#: program (none of transformers' generative classes ends so): another tool's model.
NOT_GENERATIVE_HEADS = ("ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
                        "ForQuestionAnswering", "ForMultipleChoice", "ForNextSentencePrediction",
                        "ForPreTraining")  # fmt: skip

#: What a refusal says prox refines with.
_WHAT_PROX_RUNS = ("prox refines with a causal LM refiner — a Hugging Face folder whose "
                   "config.json names its model_type and an architecture ending in ForCausalLM "
                   "(e.g. LlamaForCausalLM) with the weights (*.safetensors) and the tokenizer "
                   "files, or a refiner prox train published — or with the line tagger's "
                   "refiner.json (its kind, line_tagger, and model.safetensors; e.g. default)")


def _check_model_type(model_uri: str, backend: str | None, backend_options: dict,
                      settings: dict) -> None:
    """Refuse a generative model (``settings``: its ``refiner.json``, {} for a Hugging Face
    folder) no backend that loads weights can run: vLLM and transformers refused it only once
    a shard ran, after the plan and the folder's claim, as an error the user was told to
    retry (checked last: a more telling refusal, such as a keep threshold, comes first).

    Refused, in the folder each level loads (``--doc-model``/``--chunk-model``, else the
    ``refiner.json``'s ``doc_model``/``chunk_model``, else ``model_uri``):

    * a ``config.json`` whose architectures all label or embed text
      (:data:`NOT_GENERATIVE_HEADS`: a BERT ``BertForMaskedLM``, a classifier) or are the
      plain model of their ``model_type``, without a head (``BertModel``, ``LlamaModel``:
      :func:`_headless`);
    * no ``config.json`` at all (a tokenizer alone: no weights to load);
    * without a ``refiner.json``, a ``config.json`` naming no ``model_type`` — unless its
      code ships with the model (``auto_map``) or the folder's name holds a model type
      (transformers 4 took that);
    * a ``refiner.json`` naming no ``kind`` with no ``config.json`` where its levels load:
      another tool's settings file (a prox refiner names its kind);
    * a ``config.json`` with no weights file beside it (:data:`WEIGHT_FILE_ENDINGS`): a
      download or copy cut short, or of the configuration and tokenizer alone.

    Left alone: a line tagger. The openai backend reads only the tokenizer (a
    tokenizer-only folder, or any model's, is what it needs): refused only where a level's
    folder holds none (:func:`_refuse_no_tokenizer`; it was refused once a shard loaded it,
    after the plan and the folder's claim).
    """
    from prox_tasks.inference.loading import default_backend
    from prox_tasks.models.artifact import REFINER_FILE
    from prox_tasks.storage import exists, join_uri

    if settings.get("kind", "causal_lm") != "causal_lm":
        return
    if backend == "openai":
        for folder in _level_folders(model_uri, backend_options, settings):
            _refuse_no_tokenizer(folder)
        return
    has_refiner = exists(join_uri(model_uri, REFINER_FILE))
    for folder in _level_folders(model_uri, backend_options, settings):
        config = _read_config(join_uri(folder, "config.json"))
        if config is None:
            if has_refiner and not settings.get("kind"):
                raise NotAModelFolder(
                    f"--model (the model Param) {model_uri} is no prox refiner: its "
                    f"{REFINER_FILE} names no kind and {folder} holds no config.json (another "
                    f"tool's settings file?). {_WHAT_PROX_RUNS}; point --model at one, or, if "
                    f"this is a prox refiner, add its \"kind\" to {REFINER_FILE}")
            raise NotAModelFolder(
                f"--model (the model Param) {folder} holds no config.json: no model the "
                f"{backend or default_backend()} backend can load (a tokenizer alone?). "
                f"{_WHAT_PROX_RUNS}; point --model (--doc-model/--chunk-model) at one, or "
                "refine with --backend openai, which needs only the tokenizer files")
        _refuse_what_cannot_generate(folder, config)
        if folder == model_uri and not has_refiner:
            _refuse_no_model_type(model_uri, config)
        _refuse_no_weights(folder, config)
        _refuse_no_tokenizer(folder)  # last: a refusal above says more of what the folder is


def _level_folders(model_uri: str, backend_options: dict, settings: dict) -> list[str]:
    """The folders the document and chunk levels load their models from (one when they
    share), as loading finds them (:func:`~prox_tasks.inference.loading.level_folder`)."""
    from prox_tasks.inference.loading import level_folder

    folders = []
    for level in ("doc", "chunk"):
        folder = level_folder(model_uri, level, backend_options.get(f"{level}_model"), settings)
        if folder not in folders:
            folders.append(folder)
    return folders


def _read_config(config_uri: str) -> dict | None:
    """The ``config.json`` at ``config_uri``: None where there is none.

    Raises:
        NotAModelFolder: It is no JSON object (a copy cut short, a file edited by hand):
            it was refused as a config.json naming no ``model_type``, or, in a published
            refiner's folder, only once a shard loaded it.
    """
    from prox_tasks.json_objects import NotAJSONObject, json_object
    from prox_tasks.storage import exists, read_bytes

    if not exists(config_uri):
        return None
    try:
        return json_object(read_bytes(config_uri))
    except NotAJSONObject as err:
        raise NotAModelFolder(
            f"--model (the model Param) {config_uri} is {err.problem}: the model's "
            "configuration is damaged (a copy cut short, or edited by hand); fetch or copy the "
            "model's files again, or point --model at a complete model folder") from None


def _refuse_no_tokenizer(folder: str) -> None:
    """Refuse a level's folder holding no tokenizer file
    (:func:`~prox_tasks.inference.loading.holds_a_tokenizer`, one listing; read there on
    S3): a folder copied without it failed only once a shard loaded it, with transformers'
    "Couldn't instantiate the backend tokenizer", which names no folder and suggests
    installing sentencepiece."""
    from prox_tasks.inference.loading import holds_a_tokenizer, no_tokenizer_said
    from prox_tasks.storage import list_uri, parse_uri

    prefix = parse_uri(folder).uri.rstrip("/") + "/"
    names = {uri[len(prefix):] for uri in list_uri(folder) if uri.startswith(prefix)}
    if not holds_a_tokenizer(names):
        raise NotAModelFolder(f"--model (the model Param) {no_tokenizer_said(folder)}")


def _refuse_what_cannot_generate(folder: str, config: dict | bool) -> None:
    """Refuse a ``config.json`` whose architectures all label or embed text, or are the
    plain model of their model type (:func:`_headless`)."""
    architectures = config.get("architectures") if config else None
    if not isinstance(architectures, list) or not architectures:
        return  # transformers loads it as a causal LM by its model_type
    if not all(isinstance(name, str) for name in architectures):
        return
    labeling = [name.endswith(NOT_GENERATIVE_HEADS) for name in architectures]
    headless = [_headless(name, config) for name in architectures]
    if not all(a or b for a, b in zip(labeling, headless, strict=True)):
        return
    model_type = f" (model_type {config['model_type']!r})" if config.get("model_type") else ""
    what = ("a model without a head, which outputs hidden states" if all(headless)
            else "an encoder model that labels or embeds text")  # fmt: skip
    raise NotAModelFolder(
        f"--model (the model Param) {folder} is no causal LM: its config.json is a "
        f"{', '.join(architectures)}{model_type}, {what} and cannot write a refining "
        f"program. {_WHAT_PROX_RUNS}; point --model at one")


def _headless(architecture: str, config: dict) -> bool:
    """Whether ``architecture`` is the plain model of the config's ``model_type`` in
    transformers (``BertModel`` of ``bert``, ``LlamaModel`` of ``llama``: hidden states, no
    head), not a generative class whose name ends so (``GPT2LMHeadModel``, vLLM's
    ``ChatGLMModel``, whose code ships with the model). Only a name ending in ``Model``, and
    not in ``LMHeadModel`` (a head, by name: no plain model is named so), is looked up: the
    lookup imports transformers' model classes and torch (4 s in a plan task)."""
    if not architecture.endswith("Model") or architecture.endswith("LMHeadModel") \
            or not isinstance(config.get("model_type"), str):  # fmt: skip
        return False
    try:
        from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES
    except ImportError:  # no weights-loading backend installed: loading says so
        return False
    plain = MODEL_MAPPING_NAMES.get(config["model_type"])
    return architecture in ((plain,) if isinstance(plain, str) else tuple(plain or ()))


#: The endings of the files transformers and vLLM read weights from (whole or sharded): a
#: folder holding none of them holds no weights.
WEIGHT_FILE_ENDINGS = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".gguf",
                       ".ckpt.index")  # fmt: skip


def _refuse_no_weights(folder: str, config: dict | bool) -> None:
    """Refuse a level's folder whose ``config.json`` has no weights file beside it (one
    listing of the folder; read there on S3), or whose ``*.safetensors`` files are not whole
    (:func:`_refuse_cut_weights`)."""
    from prox_tasks.storage import list_uri, parse_uri

    listed = list_uri(folder)
    if any(uri.endswith(WEIGHT_FILE_ENDINGS) for uri in listed):
        prefix = parse_uri(folder).uri.rstrip("/") + "/"
        names = {uri[len(prefix):] for uri in listed if uri.startswith(prefix)}
        _refuse_missing_shards(folder, names)
        _refuse_cut_weights(folder, sorted(n for n in names if n.endswith(".safetensors")))
        return
    model_type = f" (model_type {config['model_type']!r})" if config and config.get(
        "model_type") else ""  # fmt: skip
    raise NotAModelFolder(
        f"--model (the model Param) {folder} holds no weights: a config.json{model_type} and "
        "no *.safetensors (nor pytorch_model.bin, …) beside it — a download or copy cut "
        "short, or of the configuration and tokenizer alone. Fetch the model's weights into "
        "it, or point --model at a complete model folder (the openai backend needs only the "
        "tokenizer files)")


#: The index of a Hugging Face model whose safetensors weights are split in several files.
SHARDED_INDEX = "model.safetensors.index.json"


def _refuse_missing_shards(folder: str, names: set[str]) -> None:
    """Refuse a folder whose :data:`SHARDED_INDEX` names weights files that are not in it
    (``names``, relative): a download of a model split in shards that stopped between two
    (``model-00002-of-00003.safetensors`` missing) failed in every shard once loaded."""
    import json

    from prox_tasks.storage import join_uri, read_bytes

    if SHARDED_INDEX not in names:
        return
    try:
        weight_map = json.loads(read_bytes(join_uri(folder, SHARDED_INDEX)))["weight_map"]
        files = set(weight_map.values())
    except (ValueError, TypeError, KeyError, AttributeError):
        return  # not an index this check reads: loading says what is wrong with it
    missing = sorted(str(f) for f in files - names)
    if missing:
        raise NotAModelFolder(
            f"--model (the model Param) {folder} lacks {len(missing)} of the {len(files)} "
            f"weights files its {SHARDED_INDEX} names ({', '.join(missing[:3])}"
            f"{', …' if len(missing) > 3 else ''}). A download or copy that stopped early "
            "leaves such a folder: fetch or copy the model's files again (whole), or point "
            "--model at a complete model folder")


def _refuse_cut_weights(folder: str, names: list[str]) -> None:
    """Refuse a ``*.safetensors`` file of ``folder`` (``names``, relative) whose size is not
    what its header says (a download or copy cut short, or garbage:
    :func:`~prox_tasks.models.weights.safetensors_problem`, its header and size only, no
    tensor loaded): every shard failed on it once it loaded the model, after the plan and
    the output folder's claim."""
    from prox_tasks.models.weights import NOT_WHOLE_ADVICE, safetensors_problem
    from prox_tasks.storage import join_uri

    for name in names:
        problem = safetensors_problem(join_uri(folder, name))
        if problem is not None:
            raise NotAModelFolder(
                f"--model (the model Param) weights file {folder.rstrip('/')}/{name} is not "
                f"whole: {problem}. {NOT_WHOLE_ADVICE}")


def _refuse_no_model_type(model_uri: str, config: dict | bool) -> None:
    """Refuse a Hugging Face folder's ``config.json`` naming no ``model_type``."""
    if config and (config.get("model_type")
                   or "AutoConfig" in (config.get("auto_map") or {})):  # fmt: skip
        return
    try:
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    except ImportError:  # no weights-loading backend installed: loading says so
        return
    if any(model_type in model_uri for model_type in CONFIG_MAPPING_NAMES):
        return
    raise NotAModelFolder(
        f"--model (the model Param) {model_uri} is no model: its config.json has no "
        "model_type. A model folder holds a refiner.json (a refiner prox train published), "
        "or a Hugging Face model: config.json with its model_type (e.g. \"llama\"), the "
        "weights (*.safetensors) and the tokenizer files; point --model at one (the openai "
        "backend needs only the tokenizer files)")


def snapshot_model(output_uri: str):
    """The model a snapshot is claimed for (:mod:`~prox_tasks.refine.claim`), else the one
    its published shards were refined with, or None (a new folder) — as a
    :class:`~prox_tasks.models.ResolvedModel` of source ``snapshot``.

    A rerun that names no model (a retry, a backfill of a date done before, ``prox refine``
    again) keeps refining with it: "the promoted model" may have changed since, and the
    shards of one snapshot come from one model. Naming a model, ``default`` or ``promoted``
    (or reprocessing) chooses afresh.
    """
    return snapshot_refined(output_uri)[1]


def snapshot_refined(output_uri: str) -> tuple[dict | None, object]:
    """How a snapshot was refined, read once: the settings it is claimed for
    (:mod:`~prox_tasks.refine.claim`), else those its published shards were refined with (a
    :func:`~prox_tasks.refine.step.shard_request` as recorded), and its model as
    :func:`snapshot_model` gives it; ``(None, None)`` for a new folder."""
    from prox_tasks.models import ResolvedModel
    from prox_tasks.models.resolver import installed_here

    request, version = _snapshot_record(output_uri)
    recorded = (request or {}).get("model")
    # another installation's shipped model of this one's version is this one's, found here
    model = installed_here(recorded, version)
    if model != recorded:
        log.info("%s was refined with the shipped line tagger of a prox installed elsewhere "
                 "(%s), version %s: this installation's, %s", output_uri, recorded,
                 version or "of no shard published yet", model)
        request = {**request, "model": model}
    return request, (ResolvedModel(model, "snapshot", version,
                                   recorded if model != recorded else None)
                     if model else None)  # fmt: skip


def as_refined(recorded: dict | None, model: str, backend: str | None, quality: str | None,
               keep_threshold: float | None, limits: dict | None) -> dict:
    """The backend, quality filter, keep threshold and limits a rerun refines ``model`` with:
    each one it does not give (None: no flag, an empty Param) is the one ``recorded``
    (:func:`snapshot_refined`) holds, as a rerun naming no model keeps the snapshot's; one it
    gives is its own (and a different one is refused by the claim). The backend and the
    keep threshold are the snapshot's only for the snapshot's model: another model given is
    refused for the model, not for a backend or threshold it may have no use for.

    Returns:
        ``backend``, ``quality`` (None where neither gives one: then
        ``$PROX_QUALITY_FILTER``, else ``off``), ``keep_threshold`` and ``limits`` (a
        :class:`~prox_tasks.refine.limits.Limits` fields dict; None: the environment's).
    """
    from dataclasses import fields

    from prox_tasks.refine.limits import Limits

    recorded = recorded if isinstance(recorded, dict) else {}
    named = {f.name for f in fields(Limits)}  # a limit a later prox recorded is not one here
    had = recorded.get("limits") if isinstance(recorded.get("limits"), dict) else {}
    same_model = recorded.get("model") == model
    return {"backend": backend or (recorded.get("backend") if same_model else None),
            "quality": quality or recorded.get("quality"),
            "keep_threshold": keep_threshold if keep_threshold is not None or not same_model
            else recorded.get("keep_threshold"),
            "limits": {**{k: v for k, v in had.items() if k in named},
                       **{k: v for k, v in (limits or {}).items() if v is not None}}}  # fmt: skip


def _snapshot_record(output_uri: str) -> tuple[dict | None, str | None]:
    """The request a snapshot is claimed for, else the one a shard's status of its plan
    records (with that shard's model version), or ``(None, None)``."""
    import json

    from prox_tasks.corpus.manifest import UNREADABLE_PLAN, load_manifest
    from prox_tasks.refine.claim import claimed_request
    from prox_tasks.storage import exists, join_uri, list_uri, read_bytes

    if not exists(join_uri(output_uri, "manifest.json")):
        return None, None
    try:
        manifest_id = load_manifest(output_uri).id
    except UNREADABLE_PLAN:  # edited or corrupt: planning says so, and names the way out
        return None, None
    # the claim first: a run stopped before publishing a shard, or one still running, holds
    # it, and a rerun resolving the promoted model afresh would be refused by it
    claimed = claimed_request(output_uri, manifest_id)
    claimed_model = (claimed or {}).get("model") if isinstance(claimed, dict) else None
    for uri in list_uri(join_uri(output_uri, "_status")):
        status = json.loads(read_bytes(uri))
        request = status.get("request") or {}
        model = request.get("model")
        if model and status.get("manifest_id") in (None, manifest_id) \
                and claimed_model in (None, model):  # fmt: skip
            return (claimed if isinstance(claimed, dict) else request), \
                status.get("model_version")  # fmt: skip
    return (claimed if isinstance(claimed, dict) else None), None
