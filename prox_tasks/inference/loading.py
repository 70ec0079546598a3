"""Load a model behind a backend: ``load_backend(backend, model, **options)``.

``model`` may be:

- ``None`` or ``"default"``: the embedded default refiner (:func:`prox_tasks.models.
  load_refiner`), served by the ``tagger`` backend;
- a refiner artifact folder (``refiner.json``): ``{"kind": "line_tagger"}`` goes to the
  ``tagger`` backend; ``{"kind": "causal_lm", "doc_model": "doc", "chunk_model": "chunk",
  "doc_tokens": ..., "chunk_tokens": ..., "max_new_tokens": ...}`` to a generative backend;
- a Hugging Face model folder (``config.json`` + tokenizer with a chat template), such as a
  local copy of the ProX paper's refining models: used for both levels, unless the options
  ``doc_model``/``chunk_model`` name a folder per level (ProX released one of each);
- an ``s3://`` URI of any of these, downloaded once to a local cache.

Generative backends: ``vllm`` (default where vLLM is installed), ``transformers``,
``openai`` (needs ``servers``; the local folder provides the tokenizer).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import os
from pathlib import Path

from prox_tasks.inference.base import Refiner
from prox_tasks.inference.generative import GenerationSettings, GenerativeRefiner

BACKENDS = ("vllm", "transformers", "openai", "tagger")
DEFAULT_MODEL = "default"


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
    """A local folder holding ``uri`` (S3 artifacts are downloaded once into the cache)."""
    text = os.fspath(uri)
    if text.startswith("s3://"):
        from prox_tasks.registry.store import download_dir

        home = Path(os.environ.get("PROX_HOME", "runs"))
        cache = home / "model-cache" / hashlib.sha256(text.encode()).hexdigest()[:16]
        if not (cache / ".complete").exists():
            download_dir(text, cache)
            (cache / ".complete").write_text(text + "\n")
        return cache
    path = Path(text[len("file://"):] if text.startswith("file://") else text)
    if not path.is_dir():
        raise FileNotFoundError(f"model folder {path} does not exist")
    return path


def default_backend() -> str:
    """``vllm`` where it is installed, else ``transformers``."""
    return "vllm" if importlib.util.find_spec("vllm") is not None else "transformers"


def _split(cls, options: dict) -> tuple[dict, dict]:
    """(options ``cls`` takes, the rest)."""
    params = inspect.signature(cls).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    mine = {k: v for k, v in options.items() if k in params or takes_any}
    return mine, {k: v for k, v in options.items() if k not in mine}


def load_backend(backend: str | None = None, model: str | None = None, **options) -> Refiner:
    """A :class:`~prox_tasks.inference.base.Refiner` for ``model`` on ``backend``.

    Args:
        backend: One of :data:`BACKENDS`; None picks ``tagger`` for a tagger model, else
            :func:`default_backend`.
        model: See the module docs.
        **options: :class:`~prox_tasks.inference.generative.GenerationSettings` fields,
            engine arguments (``batch_size``, ``tensor_parallel_size``,
            ``gpu_memory_utilization``, ``servers``, ...), ``doc_model``/``chunk_model``,
            ``chat_template`` (a Jinja string, a file, or ``"llama2"``: for a model folder
            whose tokenizer has none — ProX prompted its document model with Llama-2's).

    Raises:
        ValueError: an unknown backend, or an option no part takes.
    """
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; one of {', '.join(BACKENDS)}")
    if model in (None, DEFAULT_MODEL):
        return _tagger(backend, None, options)
    path = local_model_dir(model)
    settings_file = path / "refiner.json"
    settings = json.loads(settings_file.read_text()) if settings_file.exists() else {}
    if settings.get("kind", "causal_lm") != "causal_lm":
        return _tagger(backend, str(path), options)
    backend = backend or default_backend()
    if backend == "tagger":
        raise ValueError(f"{model} is a generative model; the tagger backend cannot run it")
    chat_template = options.pop("chat_template", None)
    doc_dir = Path(options.pop("doc_model", None) or path / settings.get("doc_model", "."))
    chunk_dir = Path(options.pop("chunk_model", None) or path / settings.get("chunk_model", "."))
    defaults = {"doc_tokens": settings.get("doc_tokens"),
                "chunk_tokens": settings.get("chunk_tokens"),
                "chunk_max_new_tokens": settings.get("max_new_tokens")}  # fmt: skip
    for key, value in defaults.items():
        if value is not None:
            options.setdefault(key, value)
    gen_options, rest = _split(GenerationSettings, options)
    cls = _engine_class(backend)
    engine_options, unknown = _split(cls, rest)
    if unknown:
        raise ValueError(f"options not understood by the {backend} backend: {sorted(unknown)}")
    engines: dict = {}
    built: dict[Path, tuple] = {}
    for level, folder in (("doc", doc_dir), ("chunk", chunk_dir)):
        folder = folder.resolve()
        if folder not in built:
            built[folder] = (_make_engine(cls, backend, folder, engine_options),
                             _tokenizer(folder, chat_template))
        engines[level] = built[folder]
    version = str(settings.get("version") or _version_of(path, doc_dir, chunk_dir))
    return GenerativeRefiner(backend, version, engines, GenerationSettings(**gen_options))


def _make_engine(cls, backend: str, folder: Path, options: dict):
    if backend == "openai":
        return cls(**options)
    return cls(str(folder), **options)


def _tokenizer(folder: Path, chat_template: str | None = None):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    if chat_template == "llama2":
        from prox_tasks.inference.tiny_model import LLAMA2_CHAT_TEMPLATE

        chat_template = LLAMA2_CHAT_TEMPLATE
    elif chat_template and Path(chat_template).is_file():
        chat_template = Path(chat_template).read_text()
    if chat_template:
        tok.chat_template = chat_template
    if not getattr(tok, "chat_template", None):
        raise ValueError(f"{folder}: the tokenizer has no chat template; the refining models "
                         "are prompted with one (see docs/inference.md)")
    return tok


def _fingerprint(folder: Path) -> str:
    """Folder name plus a short hash of its config and weight file sizes (cheap, stable)."""
    digest = hashlib.sha256()
    for f in sorted(folder.resolve().iterdir()):
        if f.name == "config.json":
            digest.update(f.read_bytes())
        elif f.suffix in (".safetensors", ".bin"):
            digest.update(f"{f.name}:{f.stat().st_size}".encode())
    return f"{folder.resolve().name}@{digest.hexdigest()[:10]}"


def _version_of(path: Path, doc_dir: Path, chunk_dir: Path) -> str:
    prints = sorted({_fingerprint(d) for d in (doc_dir, chunk_dir)})
    return "+".join(prints)


def _tagger(backend: str | None, uri: str | None, options: dict) -> Refiner:
    from prox_tasks.inference.tagger import TaggerRefiner

    if backend not in (None, "tagger"):
        raise ValueError(f"the embedded/tagger model runs on the tagger backend, not {backend!r}")
    try:
        from prox_tasks.models import load_refiner
    except ImportError as err:
        if uri is None:
            raise RuntimeError("prox_tasks.models.load_refiner is not available: no embedded "
                               "default refiner in this installation") from err
        from prox_tasks.models.line_tagger import LineTaggerRefiner

        return TaggerRefiner(LineTaggerRefiner(uri, **options))
    inner = load_refiner(uri, **options) if options else load_refiner(uri)
    return TaggerRefiner(inner)
