"""Load a model behind a backend: ``load_backend(backend, model, **options)``.

``model`` is resolved by :func:`prox_tasks.models.resolve_model` (the one rule every caller
follows: an explicit URI, ``"default"``, ``"promoted"``, or None for the promoted model,
else the shipped default), then it may be:

- a refiner artifact folder (``refiner.json``): ``{"kind": "line_tagger"}`` goes to the
  ``tagger`` backend; ``{"kind": "causal_lm", "doc_model": "doc", "chunk_model": "chunk",
  "doc_tokens": ..., "chunk_tokens": ..., "max_new_tokens": ...}`` to a generative backend;
- a Hugging Face model folder (``config.json`` + tokenizer with a chat template), such as a
  local copy of the ProX paper's refining models: used for both levels, unless the options
  ``doc_model``/``chunk_model`` name a folder per level (ProX released one of each);
- an ``s3://`` URI of any of these, downloaded once to a local cache
  (:func:`prox_tasks.registry.fetch_folder`).

The refiner's ``version`` is the artifact's one version string
(:func:`prox_tasks.models.artifact.artifact_version`), the same the registry and the
catalog record; on ``openai``, ``openai:NAME[@ROOT]+<that version>``: the model its servers
serve (:attr:`~prox_tasks.inference.openai_engine.OpenAIEngine.served_model`), then the
local folder's; ``openai:doc=NAME@ROOT+chunk=NAME@ROOT+<version>`` when the two levels are
served different models (each level may have its own pool: :func:`_openai_levels`).
Generative backends: ``vllm`` (default where vLLM is installed), ``transformers``,
``openai`` (needs ``servers``; the local folder provides the tokenizer).
Evaluation and promotion load models here too, so they measure what production runs.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import os
from pathlib import Path

from prox_tasks.inference.base import Refiner
from prox_tasks.inference.generative import GenerationSettings, GenerativeRefiner
from prox_tasks.models.artifact import (
    ModelConfigDamaged,
    TokenizerMissing,
    artifact_version,
    check_model_files,
    read_refiner_settings,
)

BACKENDS = ("vllm", "transformers", "openai", "tagger")
MODEL_FILES = ("config.json", "tokenizer_config.json", "tokenizer.json")
log = logging.getLogger(__name__)


def _engine_class(backend: str):
    if backend == "vllm":
        from prox_tasks.inference.vllm_engine import VLLMEngine

        return VLLMEngine
    if backend == "transformers":
        from prox_tasks.inference.hf_engine import TransformersEngine

        return TransformersEngine
    if backend == "openai":
        from prox_tasks.inference.openai_engine import OpenAIEngine

        return OpenAIEngine
    raise ValueError(f"unknown backend {backend!r}; one of {', '.join(BACKENDS)}")


def local_model_dir(uri: str | os.PathLike) -> Path:
    """A local folder holding ``uri`` (S3 folders are downloaded once into the cache)."""
    from prox_tasks.registry import fetch_folder

    return fetch_folder(uri)


def default_backend() -> str:
    """``vllm`` where it is installed, else ``transformers``."""
    return "vllm" if importlib.util.find_spec("vllm") is not None else "transformers"


def _split(cls, options: dict) -> tuple[dict, dict]:
    """(options ``cls`` takes, the rest)."""
    params = inspect.signature(cls).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    mine = {k: v for k, v in options.items() if k in params or takes_any}
    return mine, {k: v for k, v in options.items() if k not in mine}


def _not_understood(backend: str, unknown: dict) -> ValueError:
    """The options ``backend`` does not take, as words (not a Python list) with the way out:
    they are settings of another backend or kind of model."""
    return ValueError(f"options not understood by the {backend} backend: "
                      f"{', '.join(sorted(unknown))} (settings of another backend or kind of "
                      "model, e.g. prox refine --servers for openai: drop them, or choose the "
                      "backend and model they are for)")


def load_backend(backend: str | None = None, model: str | None = None, **options) -> Refiner:
    """A :class:`~prox_tasks.inference.base.Refiner` for ``model`` on ``backend``.

    Args:
        backend: One of :data:`BACKENDS`; None picks ``tagger`` for a tagger model, else
            :func:`default_backend`.
        model: See the module docs.
        **options: :class:`~prox_tasks.inference.generative.GenerationSettings` fields,
            ``threads`` (CPU threads of the tagger and transformers backends; the others
            ignore it), engine arguments (``batch_size``, ``tensor_parallel_size``,
            ``gpu_memory_utilization``, ``servers``, ...), ``doc_model``/``chunk_model``,
            the openai backend's per-level :data:`OPENAI_LEVEL_OPTIONS` (``doc_servers``,
            ``chunk_served_model``, ...: :func:`_openai_levels`),
            ``chat_template`` (a Jinja string, a file, or ``"llama2"``: for a model folder
            whose tokenizer has none — ProX prompted its document model with Llama-2's).

    Raises:
        ValueError: an unknown backend, or an option no part takes.
        ServedModelMismatch: On openai, a level's pool does not serve the model named for
            it (:class:`~prox_tasks.inference.openai_engine.ServedModelMismatch`).
    """
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; one of {', '.join(BACKENDS)}")
    from prox_tasks.models import resolve_model

    path = local_model_dir(resolve_model(model).uri)
    settings = check_backend_fits(backend, path)
    if settings.get("kind", "causal_lm") != "causal_lm":
        return _tagger(path, options)
    backend = backend or default_backend()
    chat_template = options.pop("chat_template", None)
    doc_dir, chunk_dir = (Path(level_folder(str(path), level, options.pop(f"{level}_model", None),
                                            settings)) for level in ("doc", "chunk"))
    defaults = {"doc_tokens": settings.get("doc_tokens"),
                "chunk_tokens": settings.get("chunk_tokens"),
                "chunk_max_new_tokens": settings.get("max_new_tokens")}  # fmt: skip
    for key, value in defaults.items():
        if value is not None:
            options.setdefault(key, value)
    if backend in ("vllm", "openai"):
        options.pop("threads", None)  # their servers and workers set their own
    level_options = {k: options.pop(k) for k in OPENAI_LEVEL_OPTIONS
                     if k in options and backend == "openai"}  # fmt: skip
    gen_options, rest = _split(GenerationSettings, options)
    cls = _engine_class(backend)
    engine_options, unknown = _split(cls, rest)
    if unknown:
        raise _not_understood(backend, unknown)
    levels = _openai_levels(level_options, engine_options) if backend == "openai" else {}
    engines: dict = {}
    built: dict[tuple, object] = {}
    tokenizers: dict[Path, object] = {}
    for level, folder in (("doc", doc_dir), ("chunk", chunk_dir)):
        folder = folder.resolve()
        mine = levels.get(level, {})
        key = (folder, repr(sorted(mine.items())))
        if key not in built:
            built[key] = _make_engine(cls, backend, folder, {**engine_options, **mine}, level)
        if folder not in tokenizers:
            tokenizers[folder] = _tokenizer(folder, chat_template)
        engines[level] = (built[key], tokenizers[folder])
    version = _version(path, doc_dir, chunk_dir)
    if backend == "openai":
        # the local folder only renders the prompts: the programs come from what the pools
        # serve, which the version (in the refined rows and the catalog) must name — each
        # level's when the two levels are served different models
        served = {level: engine.served_model for level, (engine, _) in engines.items()}
        named = (served["doc"] if served["doc"] == served["chunk"]
                 else f"doc={served['doc']}+chunk={served['chunk']}")
        version = f"{OPENAI_VERSION_PREFIX}{named}+{version}"
    return GenerativeRefiner(backend, version, engines, GenerationSettings(**gen_options))


def level_folder(model_uri: str, level: str, given: str | os.PathLike | None,
                 settings: dict) -> str:
    """The folder ``level`` (``doc``, ``chunk``) loads its model from: ``given``
    (``--doc-model``/``--chunk-model``) as is, else the ``refiner.json``'s (``settings``)
    ``<level>_model``, relative to ``model_uri`` unless absolute, else ``model_uri`` itself.
    One answer for the loading here (a local folder) and the check before planning
    (:mod:`prox_tasks.refine.options`: the URI, on S3 read in place).

    Raises:
        ValueError: The ``refiner.json`` names the folder with something other than a string.
    """
    import posixpath

    if given:
        return os.fspath(given)
    key = f"{level}_model"
    named = settings.get(key, ".")
    if not isinstance(named, str):
        raise ValueError(f"{key} in {model_uri}'s refiner.json is {named!r}: a folder name "
                         "(relative to the model's folder) or an absolute path is expected")
    if os.path.isabs(named):
        return named
    named = posixpath.normpath(named)
    return model_uri if named == "." else f"{model_uri.rstrip('/')}/{named}"


#: How the version of programs written on the openai backend begins: then what each level's
#: pool served (``NAME``, ``NAME@ROOT``, or ``doc=...+chunk=...``), then the artifact's.
OPENAI_VERSION_PREFIX = "openai:"


def version_serves(version: str | None, level: str, name: str) -> bool:
    """Whether ``version`` (a shard's ``model_version``, written on the openai backend as
    :func:`load_backend` builds it) says ``level``'s pool served the model named ``name``:
    how a shard refined without a served name (the one model its pool listed) is told
    apart from one refined with another.

    The name is matched whole, not as a prefix: ``prox-doc`` is not ``prox-doc-v2``, nor
    ``prox-doc@v2`` or ``prox-doc+x`` served from weights of their own (vLLM reports them:
    ``NAME@ROOT``), since a served part is ``NAME`` or ``NAME@ROOT`` and the artifact's
    versions after it (``<kind>-<digest>``) hold no ``@``. Weights at a path holding an ``@``
    are not matched either (a rerun is then refused, as a rerun naming another model)."""
    if not version or not version.startswith(OPENAI_VERSION_PREFIX):
        return False
    served = version[len(OPENAI_VERSION_PREFIX):]
    if served.startswith("doc="):  # the levels served different models
        chunk = served.find("+chunk=")
        if chunk < 0:
            return False
        served = (served[len("doc="):chunk] + "+" if level == "doc"
                  else served[chunk + len("+chunk="):])  # fmt: skip
    # the name ends where its weights (@ROOT) or the next part (+...) begin
    if not served.startswith((f"{name}@", f"{name}+")):
        return False
    return "@" not in served[len(name) + 1:]


def only_served_model(options: dict, level: str) -> str | None:
    """The one model ``level``'s pool lists on ``/v1/models``, with the openai ``options``
    as :func:`load_backend` takes them (the level's pool: :func:`_openai_levels`): what a
    level named no model for would be served. None where that cannot be told here: no pool
    for the level, no server answering, or several models listed."""
    from prox_tasks.inference.openai_engine import InferenceError, OpenAIEngine

    per_level = {k: v for k, v in options.items() if k in OPENAI_LEVEL_OPTIONS}
    engine_options, _ = _split(OpenAIEngine, {k: v for k, v in options.items()
                                              if k not in per_level})  # fmt: skip
    try:
        chosen = _openai_levels(per_level, engine_options)[level]
        engine = OpenAIEngine(**{**engine_options, **chosen, "model_name": None})
    except (InferenceError, ValueError) as err:  # ValueError: no pool, or a URL that is none
        log.info("could not ask the %s-level pool which model it serves: %s", level, err)
        return None
    engine.close()
    return engine.model_name


def _version(path: Path, doc_dir: Path, chunk_dir: Path) -> str:
    """The artifact's version; separate level folders given as options each count."""
    root = path.resolve()
    outside = sorted({d.resolve() for d in (doc_dir, chunk_dir)} - {root}
                     - {d for d in {doc_dir.resolve(), chunk_dir.resolve()} if root in d.parents})
    if not outside:
        return artifact_version(path, {"kind": "causal_lm"})
    return "+".join(artifact_version(d, {"kind": "causal_lm"}) for d in outside)


#: The refining levels as messages name them.
LEVEL_WORDS = {"doc": "document", "chunk": "chunk"}
#: Per-level options of the openai backend: the level's pool and the model it serves.
OPENAI_LEVEL_OPTIONS = ("doc_servers", "chunk_servers", "doc_served_model",
                        "chunk_served_model")


def _openai_levels(per_level: dict, engine_options: dict) -> dict[str, dict]:
    """Each level's ``servers`` and ``model_name`` on the openai backend (ProX's two models
    can be two pools): the level's option (``doc_servers``, ``chunk_served_model``, ...),
    else the option both levels share (``servers``, ``model_name``), else the level's
    variable (``PROX_OPENAI_DOC_SERVERS``, ``PROX_OPENAI_CHUNK_MODEL``, ...), else the
    engine's own default (``PROX_OPENAI_SERVERS``; the one model the pool lists).
    ``per_level``: the :data:`OPENAI_LEVEL_OPTIONS` given."""
    from prox_tasks.inference.openai_engine import (
        LevelWithoutPool,
        served_model_names,
        servers_from_environment,
    )

    names = served_model_names({**engine_options, **per_level})
    levels: dict[str, dict] = {}
    for level in ("doc", "chunk"):
        # the first that gives servers sets the pool, and is what its advice names (a pool
        # set by PROX_OPENAI_DOC_SERVERS was told to fix --servers)
        sources = ((f"--{level}-servers", per_level.get(f"{level}_servers")),
                   ("--servers", engine_options.get("servers")),
                   (f"PROX_OPENAI_{level.upper()}_SERVERS", servers_from_environment(level)),
                   ("PROX_OPENAI_SERVERS", None))  # the engine's own default
        setting, servers = next((name, given) for name, given in sources
                                if given or name == "PROX_OPENAI_SERVERS")
        chosen = {"servers": servers or None, "model_name": names[level],
                  "servers_setting": setting}
        levels[level] = {k: v for k, v in chosen.items() if v is not None}
    alone = [level for level, chosen in levels.items() if "servers" not in chosen]
    if len(alone) == 1 and not servers_from_environment():
        # else the engine's message names only --servers, for a level the user did set up
        level, other = alone[0], "chunk" if alone[0] == "doc" else "doc"
        raise LevelWithoutPool(
            f"the {LEVEL_WORDS[level]}-level model has no pool: the servers given are the "
            f"{LEVEL_WORDS[other]} level's only; give prox refine --{level}-servers "
            f"URL[,URL...] (PROX_OPENAI_{level.upper()}_SERVERS), or --servers "
            "(PROX_OPENAI_SERVERS) for both levels")
    return levels


def check_openai_pools(options: dict, refines_here: bool = False) -> None:
    """Refuse, before anything is planned, openai options that give one level a pool and
    leave the other without (the check :func:`load_backend` makes once the model is loaded).

    Only where the options name a level's pool (``prox refine --doc-servers``), or where
    ``refines_here`` (``prox refine``: the process that plans refines too, so its variables
    are the ones its shards read): the refine DAG's plan task may run on a worker where the
    pools' variables are not set.

    Raises:
        LevelWithoutPool: A level has no pool (:func:`_openai_levels`).
        ServerURLInvalid: With ``refines_here``, neither level has one
            (:data:`~prox_tasks.inference.openai_engine.NO_SERVERS`); a server address that is
            no http(s) URL.
    """
    from prox_tasks.inference.openai_engine import (
        NO_SERVERS,
        ServerURLInvalid,
        check_server_urls,
        servers_from_environment,
    )

    if refines_here or any(options.get(f"{level}_servers") for level in ("doc", "chunk")):
        levels = _openai_levels(options, options)
        for chosen in levels.values():
            # a level with no pool of its own takes the engine's default, PROX_OPENAI_SERVERS
            servers = chosen.get("servers") or servers_from_environment()
            if not servers and refines_here:
                # else it planned, claimed, and failed each shard; a command to fix: exit 2
                raise ServerURLInvalid(NO_SERVERS)
            listed = servers.split(",") if isinstance(servers, str) else servers
            check_server_urls(url.strip() for url in listed if url.strip())


def _make_engine(cls, backend: str, folder: Path, options: dict, level: str):
    if backend != "openai":
        try:
            return cls(str(folder), **options)
        except Exception as err:
            if not _config_refused(err):
                raise
            # transformers' configuration classes check their fields' types only here,
            # once the model loads (checking them before the plan imports torch)
            said = " ".join(str(err).split())
            raise ModelConfigDamaged(
                f"{folder / 'config.json'} holds a value the model's configuration refuses "
                f"({said}): the file is damaged or edited by hand; fetch or copy the "
                "model's files again, or point --model at a complete model folder") from err
    from prox_tasks.inference.openai_engine import AmbiguousServedModel, ServedModelMismatch

    try:
        return cls(**options)
    except AmbiguousServedModel as err:  # named with the level's own option and variable
        raise AmbiguousServedModel.naming(err.serves, level,
                                          f"the {LEVEL_WORDS[level]}-level model: ") from None
    except ServedModelMismatch as err:  # its kind kept: a model not served is no retry's
        raise type(err)(f"the {LEVEL_WORDS[level]}-level model: {err}") from None


def _config_refused(err: BaseException) -> bool:
    """Whether ``err`` (or an error it was raised from: vLLM wraps what it meets) is
    ``huggingface_hub``'s ``StrictDataclassError``, a configuration class refusing a field of
    ``config.json``; by name, so that nothing is imported to ask."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if any(kind.__name__ == "StrictDataclassError" for kind in type(err).__mro__):
            return True
        err = err.__cause__ or err.__context__
    return False


#: The vocabulary files tokenizer classes read, by name or ending, as transformers' tokenizer
#: loading finds them: a fast tokenizer's ``tokenizer.json`` (any class reads it), a
#: SentencePiece or tiktoken model (``tokenizer.model``, which any class reads in its place;
#: ``spiece.model``, ``sentencepiece.bpe.model``, ``spm.model`` … as a class's
#: ``vocab_files_names`` name them), Mistral's ``tekken.json``, a BPE or WordPiece
#: vocabulary. Which of them the folder's class reads is known only once transformers loads
#: it (:func:`_refuse_unread_vocabulary`): checked by name first, before the plan, where
#: transformers is not loaded (21 s and 550 MB to import its tokenizer classes).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "*.model", "*.tiktoken", "tekken.json",
                   "vocab.json", "vocab.txt")  # fmt: skip


def tokenizer_files(names) -> list[str]:
    """The files of a folder's file ``names`` (relative) a tokenizer class may read
    (:data:`TOKENIZER_FILES`), sorted."""
    from fnmatch import fnmatchcase

    return sorted(n for n in set(names) if "/" not in n
                  and any(fnmatchcase(n, pattern) for pattern in TOKENIZER_FILES))  # fmt: skip


def holds_a_tokenizer(names) -> bool:
    """Whether a folder's file ``names`` (relative) hold a file a tokenizer may load from
    (:func:`tokenizer_files`)."""
    return bool(tokenizer_files(names))


def no_tokenizer_said(folder) -> str:
    """What is wrong with ``folder``, a causal LM's, holding no tokenizer, and what to do."""
    return (f"{folder} holds no tokenizer (none of {', '.join(TOKENIZER_FILES)}): the refining "
            "model's prompts are written with its own tokenizer. Copy the model's tokenizer "
            "files (tokenizer.json and tokenizer_config.json, as save_pretrained writes them) "
            "into it, or point --model at a complete model folder")


def _refuse_unread_vocabulary(tok, folder: Path) -> None:
    """Refuse a tokenizer transformers built without a vocabulary: its class (named by
    ``tokenizer_config.json``, else by the model type) reads none of the folder's files, and
    a tokenizer of its special tokens alone wrote every prompt as unknown tokens, silently.
    So transformers 5 builds ``XGLMTokenizer``, which reads ``tokenizer.json`` alone (its
    ``vocab_files_names``), from a folder of XGLM's ``sentencepiece.bpe.model``: 11 tokens.

    Raises:
        TokenizerMissing: Naming the class, the files it reads and those the folder holds.
    """
    try:
        words = set(tok.get_vocab()) - set(tok.all_special_tokens)
    except (AttributeError, NotImplementedError):  # a backend that lists no vocabulary
        return
    if words:
        return
    kind = type(tok)
    reads = dict.fromkeys(["tokenizer.json", *getattr(kind, "vocab_files_names", {}).values(),
                           "tokenizer.model"])  # fmt: skip
    held = tokenizer_files(p.name for p in Path(folder).iterdir())
    raise TokenizerMissing(
        f"{folder}: its tokenizer class, {kind.__name__}, reads {', '.join(reads)}, none of "
        f"which the folder holds ({', '.join(held) or 'no vocabulary file'}): transformers "
        "built it of its special tokens alone, which would write every prompt as unknown "
        "tokens. Copy the model's tokenizer.json into it (save_pretrained writes it), or a "
        "SentencePiece model under another name (sentencepiece.bpe.model) as tokenizer.model, "
        "or point --model at a complete model folder")


def _tokenizer(folder: Path, chat_template: str | None = None):
    from transformers import AutoTokenizer

    if not holds_a_tokenizer(p.name for p in Path(folder).iterdir()):
        # checked before the plan for the backends that load weights; the openai backend's
        # folder (the tokenizer is all it reads of it) is found so here: transformers said
        # "Couldn't instantiate the backend tokenizer ... install sentencepiece"
        raise TokenizerMissing(no_tokenizer_said(folder))
    tok = AutoTokenizer.from_pretrained(folder)
    _refuse_unread_vocabulary(tok, folder)
    if chat_template == "llama2":
        from prox_tasks.inference.tiny_model import LLAMA2_CHAT_TEMPLATE

        chat_template = LLAMA2_CHAT_TEMPLATE
    elif chat_template and Path(chat_template).is_file():
        chat_template = Path(chat_template).read_text()
    if chat_template:
        tok.chat_template = chat_template
    if not getattr(tok, "chat_template", None):
        # only prox refine has the option: the DAG, prox eval, calibrate and train load the
        # folder as it is (a command's one-line error is cut at 400 characters: kept short)
        raise ValueError(f"{folder}: the tokenizer has no chat template, which the refining "
                         "models are prompted with: give prox refine --chat-template llama2 "
                         "(the ProX paper's) or --chat-template FILE; the refine DAG, prox eval, "
                         "calibrate and train take the chat_template of the folder's "
                         "tokenizer_config.json (docs/inference.md)")
    return tok


def check_backend_fits(backend: str | None, path: Path) -> dict:
    """The model folder's ``refiner.json`` settings ({} without one), after checking that
    ``backend`` can run it (:func:`check_settings_fit`). Reads one small file: the refine
    plan calls it before anything is booked.

    Raises:
        ValueError: A broken ``refiner.json``
            (:func:`~prox_tasks.models.artifact.refiner_settings`), or a backend that cannot
            run the model.
        FileNotFoundError: No model in the folder (no ``refiner.json``, ``config.json`` nor
            tokenizer), or a file the model needs is missing
            (:func:`~prox_tasks.models.artifact.check_model_files`).
    """
    settings = read_refiner_settings(path)
    if not settings and not any((path / n).exists() for n in MODEL_FILES):
        # before the backend's check: a folder with no model (a registry's model folder, a
        # seed set) is no generative model the tagger backend refuses as such
        raise FileNotFoundError(f"no model (refiner.json, config.json or a tokenizer) in {path}")
    check_model_files(settings, {p.name for p in Path(path).iterdir()}, str(path))
    return check_settings_fit(backend, settings, str(path))


def runs_on(backend: str | None, settings: dict) -> bool:
    """Whether ``backend`` (None: the model's own choice) can run a model of these
    ``refiner.json`` settings: a line tagger runs on ``tagger`` only, a generative model on
    any other backend."""
    generative = settings.get("kind", "causal_lm") == "causal_lm"
    return backend is None or (backend != "tagger") == generative


class NotATagger(ValueError):
    """The tagger backend was asked to run a generative model (``where``: the model).
    ``message`` None: said by :meth:`worded`, naming the backend setting as its user sets it."""

    def __init__(self, message: str | None, where: str) -> None:
        self.where, self._message = where, message
        super().__init__(message or self.worded("cli"))

    def worded(self, caller: str) -> str:
        """The message for ``caller`` (``cli`` or ``dag``): ``--backend`` or the Param."""
        from prox_tasks.setting_names import setting_name

        return self._message or (
            f"{self.where} is a generative model; the tagger backend cannot run it: run it on "
            "the vllm, transformers or openai backend "
            f"({setting_name('backend', caller)}), or give a line-tagger model")


class TaggerNeedsTagger(ValueError):
    """A line tagger (``where``) was asked to run on another backend (``backend``)."""

    def __init__(self, backend: str | None, where: str) -> None:
        self.backend, self.where = backend, where
        super().__init__(self.worded("cli"))

    def worded(self, caller: str) -> str:
        """The message for ``caller`` (``cli`` or ``dag``): ``--model`` or the Param."""
        from prox_tasks.setting_names import setting_name

        return (f"the line tagger runs on the tagger backend, not {self.backend!r} "
                f"({self.where} is a line-tagger model): leave the backend out (or name "
                f"tagger), or give a generative model ({setting_name('model', caller)})")


def check_settings_fit(backend: str | None, settings: dict, where: str) -> dict:
    """``settings`` (a ``refiner.json``, {} for a Hugging Face folder) after checking that
    ``backend`` can run it (:func:`runs_on`).

    Raises:
        NotATagger: ``backend`` is ``tagger`` and the model generative.
        TaggerNeedsTagger: A line tagger on another backend (a ValueError).
    """
    if runs_on(backend, settings):
        return settings
    # say which way out: the backend named (--backend, the DAG's backend Param), or the model
    if backend == "tagger":
        raise NotATagger(None, where)
    raise TaggerNeedsTagger(backend, where)


def backend_for(backend: str | None, model: str | os.PathLike | None) -> str | None:
    """``backend`` when it can run ``model`` (resolved as :func:`load_backend` resolves it),
    else None: the model's own backend.

    Promotion compares a candidate with an incumbent that may be of the other kind (a
    ``causal_lm`` candidate evaluated with ``--backend transformers`` against the shipped
    line tagger): the backend asked for is the candidate's, and the incumbent runs as
    production runs it.
    """
    if backend is None:
        return None
    from prox_tasks.models import resolve_model

    path = local_model_dir(resolve_model(model).uri)
    return backend if runs_on(backend, read_refiner_settings(path)) else None


def not_for_the_tagger(options: dict) -> list[str]:
    """The names in ``options`` the tagger backend does not take, sorted (a generative
    model's ``doc_model``, a pool's ``servers``)."""
    if not options:  # the plan task's usual case: no need to import the tagger (numba, scipy)
        return []
    from prox_tasks.models.line_tagger import LineTaggerRefiner

    return sorted(_split(LineTaggerRefiner, options)[1])


def _tagger(path: Path, options: dict) -> Refiner:
    from prox_tasks.inference.tagger import TaggerRefiner
    from prox_tasks.models.line_tagger import LineTaggerRefiner

    unknown = not_for_the_tagger(options)
    if unknown:  # prox refine refuses them before planning (check_refine_options)
        raise _not_understood("tagger", unknown)
    return TaggerRefiner(LineTaggerRefiner(path, **options))
