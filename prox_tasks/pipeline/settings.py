"""Where things live by default, from the environment (all overridable per run by Params).

- ``PROX_HOME``: the working folder (default ``./runs``, in the current directory); the
  catalog, the model registry, snapshots and releases live below it unless told otherwise.
  Every caller — CLI, DAG tasks, the report plugin, benches — reads it through
  :func:`prox_home` (and the catalog through :func:`catalog_url`), so they all open the
  same files. A deployment sets it (Airflow's services and workers run elsewhere).
- ``PROX_CRAWL_TEMPLATE``: the nightly input, with ``{ds}`` placeholders (see
  :func:`render_partition`); default ``$PROX_HOME/crawl/{ds}``.
- ``PROX_CORPUS_ROOT``: refined snapshots and releases (``$PROX_HOME/corpus``).
- ``PROX_MODEL_REGISTRY``: the model registry root (``$PROX_HOME/registry``).
- ``PROX_SEED_ROOT``: seed sets (``$PROX_HOME/seeds``).
- ``PROX_REPORT_ROOTS``: the output roots whose snapshots the PROX report reads, separated by
  commas (default: ``PROX_CORPUS_ROOT``'s); see :mod:`prox_tasks.report.roots`.
- ``PROX_CATALOG_URL``: the SQL catalog (SQLite under ``PROX_HOME`` by default).
- ``PROX_OPENAI_SERVERS``: the servers of the refine DAG's ``backend=openai`` (read by
  :func:`prox_tasks.inference.openai_engine.servers_from_environment`, with the per-level
  ``PROX_OPENAI_DOC_SERVERS`` and ``PROX_OPENAI_CHUNK_SERVERS``).
- ``PROX_PARTITION_MARKER``: the completion marker a crawl partition delivered in several
  files ends with (e.g. ``_SUCCESS``); unset, none is waited for (:func:`partition_marker`).
- ``PROX_TAGGER_PRECISION``: the line tagger's inference precision, ``auto`` (default),
  ``float32`` or ``bfloat16`` (see :mod:`prox_tasks.models.precision`).
- ``PROX_PROGRESS_EVERY``: documents between two progress lines of a refine (default 1000).
- ``PROX_ID_SEARCH_MB``: the memory the snapshot-wide search for repeated ids (the plan's
  duplicate-id list, the gate's check) takes, its copies included, before spilling the
  digests to disk (default 512; see :mod:`prox_tasks.corpus.id_search`).
- ``PROX_LABEL_CLAIM_LEASE_S``: the lease of a seed set's labeling claim (default 900 s, at
  least 10; :func:`label_claim_lease`, :mod:`prox_tasks.labeling.run_claim`).
- ``PROX_TMPDIR``: where prox's scratch files go — S3 uploads staged, the repeated-id
  search's spill, a quarantine past 8 MiB, the gate's Data Docs before they are published
  (default: the system temp folder, ``$TMPDIR``; :func:`prox_tasks.storage.tempfiles.scratch_dir`).

A variable read only deep inside a refine (a shard, a model's load) is also checked up
front, before a snapshot is planned or claimed (:func:`check_refine_settings`).
"""

from __future__ import annotations

import functools
import logging
import math
import os
from pathlib import Path

REFINER_NAME = "refiner"
TAGGER_PRECISIONS = ("auto", "float32", "bfloat16")
#: Documents between two progress lines of a refine, unless ``PROX_PROGRESS_EVERY`` says.
DEFAULT_PROGRESS_EVERY = 1000
#: MiB the repeated-id search holds in memory before it spills, unless ``PROX_ID_SEARCH_MB``.
DEFAULT_ID_SEARCH_MB = 512
#: Seconds a labeling claim holds past its holder's last heartbeat, unless
#: ``PROX_LABEL_CLAIM_LEASE_S``.
DEFAULT_LABEL_CLAIM_LEASE_S = 900.0
#: The shortest ``PROX_LABEL_CLAIM_LEASE_S`` taken: a holder renews its claim every quarter
#: of its lease (on S3 a GET and a conditional PUT), so a lease of 0.001 s renewed it every
#: 0.25 ms; a renewal (an S3 round trip, retried) and the hosts' clock skew must fit well
#: within a lease, or a live holder is taken over. Read at each call: a test may lower it.
MIN_LABEL_CLAIM_LEASE_S = 10.0


class SettingInvalid(ValueError):
    """A deployment variable (``PROX_*``), or the option or Param standing in for it, whose
    value prox cannot use; the message names it, its value and what it accepts. A setting to
    fix, which no rerun or retry gets past: a ``prox`` command exits 2
    (:func:`prox_tasks.cli.errors.setting_errors`), a DAG task fails without retries
    (:func:`prox_tasks.pipeline.errors.cannot_succeed`). A ValueError, as before, for the
    callers that catch one."""


def prox_home() -> str:
    """``$PROX_HOME``, else ``./runs``; an absolute path."""
    return str(Path(os.environ.get("PROX_HOME") or "runs").resolve())


def env_value(env: str, default, convert, expected: str, note: str = ""):
    """``$env`` through ``convert``, else ``default`` (unset or empty: a deployment's env file
    often writes ``NAME=`` for a setting it leaves alone).

    Raises:
        SettingInvalid: Naming the variable, its value and the form ``expected`` (then why, and
            ``note``).
    """
    raw = os.environ.get(env, "").strip()
    if not raw:
        return default
    return checked_value(f"deployment variable {env}", raw, convert, expected, note,
                         "correct it, or unset it for the default")


def checked_value(where: str, raw, convert, expected: str, note: str = "",
                  fix: str = "correct it"):
    """``raw`` through ``convert``: the one wording of a setting prox cannot use, whether a
    deployment variable (:func:`env_value`) or an option given in code or a Param.

    Args:
        where: The setting as the message names it (``deployment variable PROX_X``, ``timeout``).
        raw: Its value as given.
        convert: Text (or a number) -> the value; a ValueError or TypeError refuses it.
        expected: What it accepts (``a number of seconds above 0``).
        note: Said after why, in the parentheses.
        fix: What the user does about it.

    Raises:
        SettingInvalid: ``<where>=<raw!r> is not <expected> (<why>; <note>): <fix>``.
    """
    try:
        return convert(raw)
    except (ValueError, TypeError) as err:
        # int()'s and float()'s own words ("invalid literal for int() with base 10") add
        # nothing to ``expected``; a converter of prox's says why ("7 is not at least 0")
        why = [] if convert in (int, float) or not str(err) else [str(err)]
        said = "; ".join(why + ([note] if note else []))
        raise SettingInvalid(f"{where}={raw!r} is not {expected}"
                             f"{f' ({said})' if said else ''}: {fix}") from None


def seconds_value(raw, zero: bool = False, least: float = 0.0) -> float:
    """``raw`` (text or a number) as a finite number of seconds above 0 (at least 0 where
    ``zero``), and at least ``least``: the one parser of a setting in seconds. A ValueError
    says why ("0.001 is not at least 10"; empty where ``raw`` is no number at all: the
    expected form, :func:`seconds_form`, says it all)."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError("") from None
    if not math.isfinite(value):
        raise ValueError(f"{raw} is not finite")
    if value < 0 or (value == 0 and not zero):
        raise ValueError(f"{raw} is not {'at least' if zero else 'above'} 0")
    if value < least:
        raise ValueError(f"{raw} is not at least {least:g}")
    return value


def seconds_form(zero: bool = False, least: float = 0.0) -> str:
    """What :func:`seconds_value` with these bounds accepts, as a message says it."""
    if least > 0:
        return f"a number of seconds of at least {least:g}"
    return "a number of seconds of at least 0" if zero else "a number of seconds above 0"


def env_seconds(env: str, default, zero: bool = False, least: float = 0.0, note: str = ""):
    """``$env`` as a number of seconds (:func:`seconds_value`), else ``default``.

    Raises:
        SettingInvalid: Worded as every deployment variable's (:func:`env_value`).
    """
    return env_value(env, default, functools.partial(seconds_value, zero=zero, least=least),
                     seconds_form(zero, least), note)


def seconds_setting(value, option: str, env: str, default, zero: bool = False,
                    least: float = 0.0):
    """A setting in seconds: ``value`` (the ``option``, given in code or a Param), else
    ``$env`` (:func:`env_seconds`), else ``default``.

    Raises:
        SettingInvalid: Naming ``option`` or ``env``, the value and what is accepted.
    """
    if value is None:
        return env_seconds(env, default, zero=zero, least=least)
    return checked_value(option, value, functools.partial(seconds_value, zero=zero, least=least),
                         seconds_form(zero, least))


def label_claim_lease() -> float:
    """Seconds a seed set's labeling claim holds past its holder's last heartbeat
    (``$PROX_LABEL_CLAIM_LEASE_S``, default 900): a holder renews it every quarter of that
    while it labels, and a claim not renewed for that long (its holder killed on another
    machine) is taken over (:mod:`prox_tasks.labeling.run_claim`). Checked as a labeling
    run claims its folder, before it samples anything.

    Raises:
        SettingInvalid: Not a finite number of seconds of at least
            :data:`MIN_LABEL_CLAIM_LEASE_S` (10).
    """
    return env_seconds("PROX_LABEL_CLAIM_LEASE_S", DEFAULT_LABEL_CLAIM_LEASE_S,
                       least=MIN_LABEL_CLAIM_LEASE_S)


def _under_home(env: str, name: str) -> str:
    return os.environ.get(env) or str(Path(prox_home()) / name)


def crawl_template() -> str:
    return os.environ.get("PROX_CRAWL_TEMPLATE") or str(Path(prox_home()) / "crawl" / "{ds}")


def corpus_root() -> str:
    return _under_home("PROX_CORPUS_ROOT", "corpus")


def report_roots() -> list[str]:
    """The output roots the report may read snapshots from: ``$PROX_REPORT_ROOTS`` (paths or
    ``file://``/``s3://`` URIs separated by commas), else :func:`corpus_root`."""
    listed = [root.strip() for root in os.environ.get("PROX_REPORT_ROOTS", "").split(",")]
    return [root for root in listed if root] or [corpus_root()]


def registry_root() -> str:
    return _under_home("PROX_MODEL_REGISTRY", "registry")


def seed_root() -> str:
    return _under_home("PROX_SEED_ROOT", "seeds")


#: What a path or field Param the trigger form left empty (a cleared field is sent as null)
#: stands for: Param name -> (its default, where that comes from, for the log).
PARAM_DEFAULTS = {
    "input_uri": (crawl_template, "PROX_CRAWL_TEMPLATE, else $PROX_HOME/crawl/{ds}"),
    "output_root": (corpus_root, "PROX_CORPUS_ROOT, else $PROX_HOME/corpus"),
    "seed_root": (seed_root, "PROX_SEED_ROOT, else $PROX_HOME/seeds"),
    "registry": (registry_root, "PROX_MODEL_REGISTRY, else $PROX_HOME/registry"),
    "text_field": (lambda: "text", "the built-in field"),
    "id_field": (lambda: "id", "the built-in field"),
}


def param_or_default(params, name: str) -> str:
    """The Param ``name`` of a run (``params``), else (empty: a cleared trigger-form field,
    or a run that did not set it) its default from :data:`PARAM_DEFAULTS`, logged."""
    if params.get(name):
        return params[name]
    made, source = PARAM_DEFAULTS[name]
    value = made()
    logging.getLogger(__name__).info("Param %s is empty: taking its default %r (%s)", name,
                                     value, source)
    return value


def catalog_url(override: str | None = None) -> str:
    """The catalog URL: ``override``, else ``PROX_CATALOG_URL``, else SQLite in PROX_HOME.

    An ``override`` (a run's ``catalog_url`` Param) may hold a password: it is handed to
    Airflow's log masker here, as the environment's are when a task starts. One whose
    password was left out (``***``, :func:`catalog_url_to_pass_on`) is this worker's
    ``PROX_CATALOG_URL``, password and all.

    Raises:
        prox_tasks.pipeline.errors.RunError: ``override`` leaves its password out and this
            worker's ``PROX_CATALOG_URL`` is not that URL.
    """
    if override and _password_left_out(override):
        return _environment_catalog_url(override)
    if override:
        from prox_tasks.redaction import mask_in_airflow

        mask_in_airflow(override)
        return override
    return os.environ.get("PROX_CATALOG_URL") or f"sqlite:///{Path(prox_home()) / 'catalog.sqlite'}"


def registry_catalog(registry: str, catalog: str | None = None) -> str | None:
    """The catalog a model published into ``registry`` is booked in: ``catalog`` when
    given; else the default one (:func:`catalog_url`) when ``registry`` is the default
    registry (:func:`registry_root`) — the pair ``prox refine`` takes the promoted model
    from, and ``prox catalog status`` counts; else None (no catalog).

    A registry elsewhere (another folder, S3) is booked in no catalog unless one is named:
    the default catalog's promoted model is the one ``prox refine`` serves when the default
    registry has none, so booking another registry's model there would switch what
    refining serves behind the user's back.
    """
    if catalog:
        return catalog
    from prox_tasks.storage import same_uri

    return catalog_url() if same_uri(registry, registry_root()) else None


def catalog_url_to_pass_on(url: str) -> str:
    """``url`` as a task hands it to the next ones (its return value): the password of the
    environment's ``PROX_CATALOG_URL`` left out (``***``). Airflow stores return values as
    XCom in its metadata DB, where whoever can read a run's details sees them, and the
    environment is where docs/airflow.md tells teams to keep that password; the next task
    takes it from its own environment (:func:`catalog_url`). A ``catalog_url`` Param is
    passed on as given: the run's conf holds it already."""
    if url != os.environ.get("PROX_CATALOG_URL"):
        return url
    return _without_password(url)


def _without_password(url: str) -> str:
    """``url`` with its password shown as ``***`` (unchanged without one, or unparsable)."""
    parsed = _parsed(url)
    if parsed is None or parsed.password is None:
        return url
    return parsed.render_as_string(hide_password=True)


def _password_left_out(url: str) -> bool:
    """Whether ``url``'s password is the ``***`` :func:`_without_password` puts there."""
    parsed = _parsed(url)
    return parsed is not None and parsed.password == "***"


def _parsed(url: str):
    """``url`` as SQLAlchemy parses it; None when it is not a database URL."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except ArgumentError:
        return None


def _environment_catalog_url(passed_on: str) -> str:
    """This worker's ``PROX_CATALOG_URL`` for ``passed_on``, the same URL less its password."""
    environment = os.environ.get("PROX_CATALOG_URL")
    if environment and _without_password(environment) == passed_on:
        return environment
    from prox_tasks.pipeline.errors import RunError

    raise RunError(
        f"the catalog {passed_on} reached this task without its password (a task's result, "
        "kept in Airflow's database, leaves it out): set PROX_CATALOG_URL to that URL, "
        "password and all, in this worker's environment, as on the worker that ran the "
        f"run's first task (this worker's names {_without_password(environment or '') or 'none'})"
    )


def render_partition(template: str, ds: str | None) -> str:
    """Fill a partition template: ``{ds}`` (2026-01-31), ``{ds_nodash}``, ``{yyyy}``,
    ``{mm}``, ``{dd}``. A template without placeholders is returned as is.

    Raises:
        prox_tasks.pipeline.errors.RunError: when the template has placeholders and there
            is no date to fill them (a run triggered without a logical date).
    """
    if "{" not in template:
        return template
    if not ds:
        from prox_tasks.pipeline.errors import RunError

        raise RunError(f"input template {template!r} needs a logical date (ds): trigger the run "
                       "with a logical date, or set input_uri to a path without placeholders")
    yyyy, mm, dd = ds.split("-")
    return template.format(ds=ds, ds_nodash=ds.replace("-", ""), yyyy=yyyy, mm=mm, dd=dd)


def quality_filter(override: str | None = None) -> str:
    """The document-quality decision's mode (``off``, ``report``, ``drop``): the override,
    else ``$PROX_QUALITY_FILTER``, else ``off`` (see :mod:`prox_tasks.labeling.doc_quality`).

    Raises:
        SettingInvalid: Another value, naming the variable when it came from there.
    """
    from prox_tasks.labeling.doc_quality import check_mode

    try:
        return check_mode(override or os.environ.get("PROX_QUALITY_FILTER") or "off")
    except ValueError as err:
        raise SettingInvalid(f"{err}{'' if override else ' (set by PROX_QUALITY_FILTER)'}"
                             ) from None


def partition_marker(override: str | None = None) -> str | None:
    """The completion marker of a crawl partition (:mod:`prox_tasks.storage.marker`): the
    override (the ``partition_marker`` Param, ``prox plan --partition-marker``), else
    ``$PROX_PARTITION_MARKER``, else None (no marker: the partition counts as delivered once
    a readable file is there, as before markers existed).

    Raises:
        SettingInvalid: Not a hidden file name (see
            :func:`~prox_tasks.storage.marker.check_marker_name`).
    """
    from prox_tasks.storage.marker import check_marker_name

    chosen = (override or "").strip() or os.environ.get("PROX_PARTITION_MARKER", "").strip()
    if not chosen:
        return None
    try:
        return check_marker_name(chosen, "partition_marker" if (override or "").strip()
                                 else "PROX_PARTITION_MARKER")
    except ValueError as err:
        raise SettingInvalid(str(err)) from None


def refine_workers(override: int | None = None) -> int:
    """Worker processes per refine task (each with its own model, as ``prox refine
    --workers``): the override, else ``$PROX_REFINE_WORKERS``, else 1.

    Raises:
        SettingInvalid: Not a whole number of at least 1, naming where it came from.
    """
    where, value = ("workers_per_task", override) if override is not None else \
        ("PROX_REFINE_WORKERS", os.environ.get("PROX_REFINE_WORKERS") or "1")  # fmt: skip
    try:
        workers = int(value)
    except (TypeError, ValueError):
        workers = 0
    if workers < 1 or str(value).strip() != str(workers):
        raise SettingInvalid(f"{where} must be a whole number of at least 1, not {value!r}")
    return workers


def model_cache_keep() -> int:
    """How many models downloaded from S3 a machine's model cache keeps
    (``$PROX_MODEL_CACHE_KEEP``, default 4): the most recently used; a copy used within the
    last hour is never removed (a process may be loading it).

    Raises:
        SettingInvalid: Not a whole number of at least 1.
    """
    value = os.environ.get("PROX_MODEL_CACHE_KEEP") or "4"
    if not value.strip().isdigit() or int(value) < 1:
        raise SettingInvalid(f"PROX_MODEL_CACHE_KEEP must be a whole number of at least 1, "
                         f"not {value!r}")
    return int(value)


def tagger_precision(override: str | None = None) -> str:
    """The line tagger's inference precision, one of :data:`TAGGER_PRECISIONS`: the
    override, else ``$PROX_TAGGER_PRECISION``, else ``auto`` (resolved to a number format by
    :func:`prox_tasks.models.precision.resolve_precision`).

    Raises:
        SettingInvalid: Another value, naming where it came from.
    """
    where, value = ("precision", override) if override else \
        ("PROX_TAGGER_PRECISION", os.environ.get("PROX_TAGGER_PRECISION") or "auto")  # fmt: skip
    if value.strip().lower() not in TAGGER_PRECISIONS:
        raise SettingInvalid(f"{where} must be one of {', '.join(TAGGER_PRECISIONS)}, "
                         f"not {value!r}")  # fmt: skip
    return value.strip().lower()


def progress_every() -> int:
    """Documents between two progress lines of a refine: ``$PROX_PROGRESS_EVERY`` (default
    :data:`DEFAULT_PROGRESS_EVERY`; read where the refine runs: a worker's environment).

    Raises:
        SettingInvalid: Not a whole number, naming the variable.
    """
    return max(1, env_value("PROX_PROGRESS_EVERY", DEFAULT_PROGRESS_EVERY, int,
                            "a whole number"))


def id_search_bytes() -> int:
    """Bytes the snapshot-wide repeated-id search (:class:`prox_tasks.corpus.id_search.
    IdSearch`) may take in memory, its copies included; past it the documents are spilled to
    disk (``$PROX_TMPDIR``, else the system temp folder): ``$PROX_ID_SEARCH_MB`` MiB (default
    :data:`DEFAULT_ID_SEARCH_MB`).

    Raises:
        SettingInvalid: Not a whole number of at least 1, naming the variable.
    """
    return env_value("PROX_ID_SEARCH_MB", DEFAULT_ID_SEARCH_MB, whole_number(1),
                     "a whole number of MiB") * 2**20


def whole_number(least: int, most: int | None = None):
    """A converter for :func:`env_value`: a whole number of at least ``least`` (and at most
    ``most``, when given), else a ValueError saying why ("0 is not at least 1"), or nothing
    where the text is no whole number at all (``expected`` says it; int()'s "invalid literal
    for int() with base 10" adds nothing). The one check of a whole-number variable's
    bounds: the settings here and those read as the DAGs are parsed
    (:mod:`prox_tasks.pipeline.dag_config`)."""

    def whole(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("") from None
        if value < least:
            raise ValueError(f"{value} is not at least {least}")
        if most is not None and value > most:
            raise ValueError(f"{value} is more than {most}")
        return value

    return whole


def check_refine_settings() -> None:
    """Refuse the deployment variables a refine reads only deep inside — as a shard starts
    (``PROX_PROGRESS_EVERY``), as a line tagger loads (``PROX_TAGGER_PRECISION``), as a
    model is fetched from S3 (``PROX_MODEL_CACHE_KEEP``), as the run's settings are taken
    once the snapshot is named (``PROX_QUALITY_FILTER``: a bad one booked a failed run), as
    the plan looks for repeated ids (``PROX_ID_SEARCH_MB``), as an openai pool loads
    (``PROX_MAX_REPLY_BYTES``: a bad one failed every shard), as scratch files spill
    (``PROX_TMPDIR``) — before any work: ``prox
    refine`` and the refine DAG's plan call it before the snapshot is planned, claimed or
    booked (a bad value met later left a snapshot booked ``failed``), and each refine task
    before it refines, in the environment of the worker it runs on — as does
    :func:`~prox_tasks.refine.step.refine_shard` itself, before it touches its shard.

    Raises:
        SettingInvalid: The first variable prox cannot use, naming it and its value.
    """
    progress_every()
    tagger_precision()
    model_cache_keep()
    quality_filter()  # the variable's own value, whether or not the run names its own
    id_search_bytes()
    from prox_tasks.openai_replies import reply_cap
    from prox_tasks.storage.tempfiles import check_scratch_dir

    check_scratch_dir()  # a quarantine past 8 MiB, the id search's spill, S3 uploads staged

    reply_cap(None)
