"""What the DAG files declare, as plain data: retries, pools, Asset URIs and the JSON-schema
of every Param (the DAG files wrap each spec in ``airflow.sdk.Param(**spec)``)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from prox_tasks.pipeline import settings
from prox_tasks.quality import GateThresholds
from prox_tasks.storage.marker import MARKER_PATTERN
from prox_tasks.storage.names import NAME_PATTERN

#: Pools (``airflow pools set``, see docs/airflow.md): ``gpu`` bounds the tasks that hold a
#: model, ``teacher_api`` the concurrent calls to the labeling teacher's endpoint.
POOL_GPU = "gpu"
POOL_TEACHER = "teacher_api"
POOL_DEFAULT = "default_pool"
POOLS = {POOL_GPU: 1, POOL_TEACHER: 4}



def task_try(ti) -> dict:
    """Airflow task instance ``ti``'s try, as :func:`prox_tasks.refine.runner.current` names
    a runner by it: the refine DAG books a plan or a shard's attempt with it (the next try of
    a task killed outright books that one's attempts failed), the seed DAG holds its seed
    set's labeling claim with it (:mod:`prox_tasks.labeling.run_claim`). Its fields are the
    runner's (:data:`~prox_tasks.refine.runner.AIRFLOW_TASK` and ``try_number``)."""
    from prox_tasks.refine.runner import AIRFLOW_TASK

    return {k: getattr(ti, k) for k in (*AIRFLOW_TASK, "try_number")}


def gpu_queue() -> str:
    """Executor queue of the tasks that hold a model (``PROX_GPU_QUEUE``; Celery workers on
    GPU machines listen on it: ``airflow celery worker --queues gpu``); empty is unset (an
    env file's ``PROX_GPU_QUEUE=`` would route them to a queue no worker serves)."""
    return parse_time_setting("PROX_GPU_QUEUE", "default", str, "a queue name")


#: Assets: (name, uri).
SEED_SET = ("prox_seed_set", "prox://seed-set")
REFINER = ("prox_refiner", "prox://refiner")
REFINED_CORPUS = ("prox_refined_corpus", "prox://refined-corpus")

BACKENDS = ["auto", "tagger", "vllm", "transformers", "openai"]
#: The teachers of :func:`prox_tasks.labeling.get_teacher` (the one list; no import of the
#: labeling code at DAG parse time).
TEACHERS = ["rules", "diff", "html", "llm", "best"]
#: The input formats of :data:`prox_tasks.corpus.readers.FORMATS` (``prox refine --format``),
#: named here so that parsing a DAG does not import the readers.
INPUT_FORMATS = ["jsonl", "parquet", "wet"]


#: Said of a variable read while Airflow parses the DAG files.
PARSE_NOTE = "read when the DAGs are parsed: docs/airflow.md"


def parse_time_setting(env: str, default, convert, expected: str):
    """:func:`~prox_tasks.pipeline.settings.env_value` for a variable read while Airflow
    parses the DAG files: a bad value breaks every DAG that reads it, and the import error
    (all the UI shows of it) names the variable."""
    return settings.env_value(env, default, convert, expected, PARSE_NOTE)


def start_date() -> datetime:
    """First logical date of the nightly schedule (``PROX_START_DATE``, default 2026-01-01)."""
    day = parse_time_setting("PROX_START_DATE", datetime(2026, 1, 1),
                             lambda v: datetime.strptime(v, "%Y-%m-%d"), "a date YYYY-MM-DD")
    return day.replace(tzinfo=timezone.utc)  # noqa: UP017


def _count(env: str, default: int, least: int = 0) -> int:
    """A whole number of at least ``least``: ``PROX_MAX_ACTIVE_RUNS=0`` parsed, and Airflow's
    scheduler then created no scheduled run (0 runs reached) and bounded no manual one."""
    return parse_time_setting(env, default, settings.whole_number(least),
                              f"a whole number of at least {least}")


def _seconds(env: str, default: float, zero: bool = False) -> timedelta:
    """A finite number of seconds above 0 (at least 0 where ``zero``: a retry delay of 0
    retries at once, Airflow's backoff then waits a second): ``PROX_SHARD_TIMEOUT_S=0``
    parsed (a timeout no task can meet), a negative delay too, and ``inf`` broke the import
    naming no variable."""
    return timedelta(seconds=settings.env_seconds(env, default, zero=zero, note=PARSE_NOTE))


def refresh_schedule():
    """The nightly DAG's timetable: ``PROX_REFRESH_CRON`` (default ``0 0 * * *``) data
    intervals in UTC."""
    from airflow.sdk import CronDataIntervalTimetable
    from airflow.sdk.exceptions import AirflowTimetableInvalid

    def timetable(cron: str):
        made = CronDataIntervalTimetable(cron, timezone="UTC")
        try:  # Airflow checks the expression only later, naming no variable
            made.validate()
        except AirflowTimetableInvalid as err:
            raise ValueError(str(err)) from None
        return made

    return parse_time_setting("PROX_REFRESH_CRON", None, timetable,
                              "a cron expression") or timetable("0 0 * * *")


def max_active_runs() -> int:
    """Runs of the nightly DAG at once (``PROX_MAX_ACTIVE_RUNS``, default 1)."""
    return _count("PROX_MAX_ACTIVE_RUNS", 1, least=1)


def default_args() -> dict:
    """Every task retries with exponential backoff (``PROX_RETRIES``, ``PROX_RETRY_DELAY_S``,
    ``PROX_MAX_RETRY_DELAY_S``), names its pool, and notifies on its final failure when the
    alert connection exists (:mod:`prox_tasks.pipeline.alerts`)."""
    from prox_tasks.pipeline.alerts import FailureNotifier, alert_conn_id

    alert_conn_id()  # a bad one names itself in the import error, not lost at a failure
    return {
        "owner": "prox",
        "on_failure_callback": [FailureNotifier()],
        "retries": _count("PROX_RETRIES", 3),
        "retry_delay": _seconds("PROX_RETRY_DELAY_S", 60, zero=True),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": _seconds("PROX_MAX_RETRY_DELAY_S", 1800),
        "pool": POOL_DEFAULT,
    }


def owner_links() -> dict:
    """The owner ``prox`` in the DAG list links to ``PROX_OWNER_LINK`` (a team page or a
    ``mailto:``; default: the PROX report under ``AIRFLOW__API__BASE_URL``, Airflow wants an
    absolute URL)."""
    base = os.environ.get("AIRFLOW__API__BASE_URL") or "http://localhost:8080"
    return {"prox": os.environ.get("PROX_OWNER_LINK") or f"{base.rstrip('/')}/prox/"}


def documented(decorated):
    """A ``@task`` function with its docstring as the task's doc (``doc_md``), for
    ``.partial()``/``.expand()``: Airflow takes the docstring for a task called plainly, not
    for a mapped one, whose page in the UI then showed no "Task Documentation"."""
    import inspect

    return decorated.override(doc_md=inspect.getdoc(decorated.function))


def dagrun_timeout(env: str, default_s: int) -> timedelta:
    """A whole run's time limit (``env`` seconds, else ``default_s``): a run that hangs
    fails and frees its ``max_active_runs`` slot for the next partition."""
    return _seconds(env, default_s)


def partition_wait() -> timedelta:
    """How long a scheduled run waits for its crawl partition (``PROX_PARTITION_WAIT_S``,
    default 6 h) before it fails."""
    return _seconds("PROX_PARTITION_WAIT_S", 6 * 3600)


def partition_poke() -> timedelta:
    """How often the partition sensor looks (``PROX_PARTITION_POKE_S``, default 5 min)."""
    return _seconds("PROX_PARTITION_POKE_S", 300)


def shard_timeout() -> timedelta:
    """Execution timeout of one refine task (``PROX_SHARD_TIMEOUT_S``, default 4 h)."""
    return _seconds("PROX_SHARD_TIMEOUT_S", 4 * 3600)


def train_timeout() -> timedelta:
    return _seconds("PROX_TRAIN_TIMEOUT_S", 12 * 3600)


def map_length(asked: int) -> int:
    """The work items ``plan`` may return: the ``max_map_length`` Param, at most Airflow's
    ``[core] max_map_length`` (past it, Airflow refuses the plan's result after the plan
    has run, and every retry plans again for nothing)."""
    from airflow.configuration import conf

    return max(1, min(int(asked), conf.getint("core", "max_map_length", fallback=1024)))


#: The spellings a yes/no deployment variable takes (any case).
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def flag(env: str, default: bool = False) -> bool:
    """A yes/no variable read while the DAGs are parsed (:func:`parse_time_setting`): unset
    or empty is ``default``; a typo is an error naming it, not a silent ``false``."""
    def convert(value: str) -> bool:
        if value.lower() not in _BOOLEANS:
            raise ValueError(f"one of {', '.join(_BOOLEANS)}")
        return _BOOLEANS[value.lower()]

    return parse_time_setting(env, default, convert, "true or false")


def _rate(default: float, title: str, description: str) -> dict:
    return {"default": default, "type": "number", "minimum": 0, "maximum": 1, "title": title,
            "description": description}


def builtin_value(value: object, in_bytes: bool = False) -> str:
    """A built-in default as a Param's description names it: a whole number with thousands
    separators (``8,388,608``), a byte count in whole MiB also (``(8 MiB)``). The form shows
    only the deployment's default: "else the built-in value" left the operator who changed
    it, or set ``PROX_<NAME>``, no way to tell what it is."""
    if isinstance(value, bool) or not isinstance(value, int):
        return str(value)
    mib = 1024 * 1024
    if in_bytes and value >= mib and value % mib == 0:
        return f"{value:,} ({value // mib} MiB)"
    return f"{value:,}"


def _gate_default(name: str) -> str:
    """The end of a gate Param's description: where its default comes from, and its value
    when ``PROX_GATE_<NAME>`` is unset."""
    builtin = GateThresholds.__dataclass_fields__[name].default
    return f" Default: PROX_GATE_{name.upper()}, else {builtin_value(builtin)}."


#: What an empty ``catalog_url`` Param stands for, as :func:`common_params` says it.
DEFAULT_CATALOG = "PROX_CATALOG_URL or SQLite under PROX_HOME"


def common_params(empty_catalog: str = DEFAULT_CATALOG) -> dict:
    """The Params every DAG takes; ``empty_catalog``: what its empty ``catalog_url`` stands
    for (the training DAG's depends on its ``registry`` Param)."""
    return {
        "catalog_url": {"default": None, "type": ["null", "string"], "title": "Catalog URL",
                        "description": f"SQLAlchemy URL; empty: {empty_catalog}. Airflow stores a run's Params in its database: "
                        "keep passwords in PROX_CATALOG_URL, not here."},
    }


def read_params() -> dict:
    """How the input is read: its format (``prox refine --format``; empty: from the files'
    names) and which fields of its rows hold the text and the id (``--text-field``)."""
    return {
        "format": {"default": None, "type": ["null", "string"],
                   "enum": [None, *INPUT_FORMATS], "title": "Input format",
                   # the form would show the empty choice as "null"
                   "values_display": {"null": "from each file's name"},
                   "description": "Read every input file as jsonl, parquet or wet, whatever "
                   "its name (Spark's part-00000-….json files are JSON Lines); empty: "
                   "each file's format from its name, other files skipped."},
        # null: the trigger form sends a cleared field as null, meaning the default
        "text_field": {"default": "text", "type": ["null", "string"], "minLength": 1,
                       "title": "Text field", "description": "The input rows' field holding "
                       "the document text (JSONL, Parquet), e.g. raw_content; a row without "
                       "it is quarantined as missing_text. Empty: text."},
        "id_field": {"default": "id", "type": ["null", "string"], "minLength": 1,
                     "title": "Id field",
                     "description": "The input rows' id field. A row without the default "
                     "id is named by a hash of its text; one without a field named otherwise "
                     "is quarantined as missing_id. Empty: id."},
    }


def model_params() -> dict:
    return {
        "model": {"default": None, "type": ["null", "string"], "title": "Model",
                  "description": "Refiner artifact or Hugging Face model folder (absolute path, "
                  "file:// or s3:// URI); "
                  "'default': PROX_DEFAULT_MODEL, else the shipped line tagger; 'promoted': "
                  "the promoted refiner (fails without one). Empty: in a snapshot refined "
                  "before, the model it was refined with (not with reprocess); else the "
                  "promoted refiner (registry, then catalog), else as 'default'."},
        "backend": {"default": "auto", "enum": BACKENDS, "title": "Inference backend",
                    "description": "auto: tagger for a line-tagger artifact; for a causal LM "
                    "vLLM where it is installed, else transformers."},
        "keep_threshold": {"default": None, "type": ["null", "number"], "exclusiveMinimum": 0,
                           "maximum": 1, "title": "Keep threshold (tagger)",
                           "description": "Remove a line when its removal probability is at "
                           "least this; higher keeps more text (recall up, precision down). "
                           "Empty: the model's calibrated value."},
        "quality_filter": {"default": os.environ.get("PROX_QUALITY_FILTER") or "off",
                           "enum": ["off", "report", "drop"], "title": "Document quality",
                           "description": "The document-quality decision, apart from junk "
                           "drops: report (score and count low-quality documents) or drop "
                           "them too."},
    }


def gate_defaults() -> GateThresholds:
    """Gate thresholds with deployment-wide defaults from ``PROX_GATE_<NAME>`` variables
    (e.g. ``PROX_GATE_MAX_DROP_RATE=0.6``); each run can still override them as Params."""
    from dataclasses import fields

    # an empty one is unset, as `prox gate --help` shows it (an env file's NAME=)
    values = {f.name: os.environ[f"PROX_GATE_{f.name.upper()}"] for f in fields(GateThresholds)
              if os.environ.get(f"PROX_GATE_{f.name.upper()}", "").strip()}
    from prox_tasks.quality.thresholds import refusal

    try:
        numbers = {k: float(v) for k, v in values.items()}
        # a number out of range is named by its variable, not as a value that is no number
        problem = refusal({**GateThresholds().to_dict(), **numbers},
                          lambda name: f"PROX_GATE_{name.upper()}")
        if problem is None:
            return GateThresholds.from_mapping(values)
    except ValueError as err:
        raise settings.SettingInvalid(
            f"a PROX_GATE_* variable is not a number ({err}): "
            f"{', '.join(f'PROX_GATE_{k.upper()}={v!r}' for k, v in values.items())}") from err
    raise settings.SettingInvalid(f"deployment variable {problem}: set it in range, or unset "
                                  "it for the built-in default")


def threshold_params() -> dict:
    """A Param per :class:`~prox_tasks.quality.GateThresholds` field, each saying what the
    gate compares with it (the form shows it under the field)."""
    t = gate_defaults()
    said = {
        "max_failure_rate": "Share of documents whose programs had errors (0 to 1).",
        "min_drop_rate": "Share of documents the refiner drops, at least (0 to 1).",
        "max_drop_rate": "Share of documents the refiner drops, at most (0 to 1).",
        "min_kept_token_ratio": "Share of the input's words the snapshot keeps, at least.",
        "max_kept_token_ratio": "Share of the input's words the snapshot keeps, at most "
                                "(normalization may add a few: above 1 is possible).",
        "max_quarantine_rate": "Share of input records quarantined with their reason "
                               "(unreadable, blank, too large, a repeated id …), at most "
                               "(0 to 1).",
        "max_input_losses": "Their lost records cannot be counted; 0 releases no snapshot "
                            "with such a file.",
        "history_k": "Drop rate and kept-token ratio must lie within k standard deviations of "
                     "the mean over the last released snapshots.",
        "history_min": "The history check runs once this many snapshots were released.",
        "history_size": "How many of the last released snapshots make the history.",
        "history_min_std": "Floor of the history's standard deviation: a steady history "
                           "would otherwise refuse the smallest change.",
    }
    specs = {
        "max_failure_rate": _rate(t.max_failure_rate, "Max program failure rate", ""),
        "min_drop_rate": _rate(t.min_drop_rate, "Min drop rate", ""),
        "max_drop_rate": _rate(t.max_drop_rate, "Max drop rate", ""),
        "min_kept_token_ratio": {"default": t.min_kept_token_ratio, "type": "number",
                                 "minimum": 0, "title": "Min kept-token ratio"},
        "max_kept_token_ratio": {"default": t.max_kept_token_ratio, "type": "number",
                                 "minimum": 0, "title": "Max kept-token ratio"},
        "max_quarantine_rate": _rate(t.max_quarantine_rate, "Max quarantined input share", ""),
        "max_input_losses": {"default": t.max_input_losses, "type": "integer", "minimum": 0,
                             "title": "Max input files cut short or corrupt"},
        "history_k": {"default": t.history_k, "type": "number", "exclusiveMinimum": 0,
                      "title": "k: std devs allowed from released history"},
        "history_min": {"default": t.history_min, "type": "integer", "minimum": 1,
                        "title": "Released snapshots needed for the history check"},
        "history_size": {"default": t.history_size, "type": "integer", "minimum": 1,
                         "title": "Released snapshots the history check looks back on"},
        "history_min_std": {"default": t.history_min_std, "type": "number", "minimum": 0,
                            "title": "Floor of the history's standard deviation"},
    }
    return {name: {**spec, "description": said[name] + _gate_default(name)}
            for name, spec in specs.items()}


def limit_params() -> dict:
    """A Param per :class:`~prox_tasks.refine.limits.Limits` setting (bytes and lines per
    document and batch, program size, normalize growth, duplicate-id policy): the default
    is ``PROX_<NAME>`` or the built-in value; a run's Param overrides it."""
    from dataclasses import fields

    from prox_tasks.refine.limits import DESCRIPTIONS, DUPLICATE_POLICIES, Limits

    defaults = Limits.resolve()
    params = {}
    for f in fields(Limits):
        title, what = DESCRIPTIONS[f.name]
        spec = {"default": getattr(defaults, f.name), "title": title,
                "description": f"{what[0].upper()}{what[1:]}. Default: PROX_{f.name.upper()}, "
                f"else {builtin_value(f.default, f.name.endswith('_bytes'))}."}
        if f.type == "int":
            spec.update(type="integer", minimum=1)
        elif f.type == "float":
            spec.update(type="number", minimum=0)
        else:
            spec["enum"] = list(DUPLICATE_POLICIES)
        params[f.name] = spec
    return params


def limits_of(params) -> dict:
    """The limit settings among a run's Params."""
    return {name: params[name] for name in limit_params() if name in params}


#: Params whose default a deployment variable sets (named when that default is invalid).
ENV_DEFAULTS = {"quality_filter": "PROX_QUALITY_FILTER",
                "partition_marker": "PROX_PARTITION_MARKER"}


#: Bounds every integer Param gets unless it has its own: JSON numbers a browser keeps exact;
#: a larger one passes the form and then fails every try of the first task, with empty logs.
MAX_PARAM_INTEGER = 2**53 - 1
#: Bound every number Param gets unless it has its own: finite, as JSON's 1e400 is infinity,
#: which passes an unbounded form and is stored as null.
MAX_PARAM_NUMBER = 1e15
#: What every number Param refuses besides its bounds: NaN (``{"epochs": NaN}`` in a REST or
#: CLI trigger's conf, which Python's JSON reads). Every comparison with NaN is False, so it
#: passes any minimum and maximum; Airflow then stores it as null, and the run either fails
#: at its first task ("None is not of type 'number'") or, for a Param that may be empty
#: (``keep_threshold``), silently runs with the default. A schema cannot name NaN (NaN is
#: not equal to itself, so no ``const`` or ``enum`` matches it), but this one, under
#: ``not``, is valid for NaN alone among numbers: any other number is below 1 or above 0.
NOT_NAN = {"not": {"$comment": "NaN (not a number) is refused", "type": "number",
                   "minimum": 1, "maximum": 0}}


def _bounded(spec: dict) -> dict:
    kinds = spec.get("type")
    kinds = {kinds} if isinstance(kinds, str) else set(kinds or ())
    if not kinds & {"integer", "number"}:
        return spec
    bound = MAX_PARAM_INTEGER if "integer" in kinds else MAX_PARAM_NUMBER
    spec = dict(spec)
    if "number" in kinds:  # an integer Param's type already refuses NaN (a float)
        spec["allOf"] = [*spec.get("allOf", ()), NOT_NAN]
    if "maximum" not in spec and "exclusiveMaximum" not in spec:
        spec["maximum"] = bound
    if "minimum" not in spec and "exclusiveMinimum" not in spec:
        spec["minimum"] = -bound
    return spec


def checked_defaults(specs: dict) -> dict:
    """``specs`` (Param name -> Param keyword arguments) with finite bounds on every number
    (:data:`MAX_PARAM_INTEGER`, :data:`MAX_PARAM_NUMBER`, where a Param has none of its own)
    and NaN refused (:data:`NOT_NAN`), after checking each default against its own schema. A default set by a deployment
    variable that its Param refuses would otherwise make Airflow refuse the whole DAG with a
    message naming neither. Every DAG's Params pass through here.

    Raises:
        ValueError: Naming the Param, its default, and the variable it came from.
    """
    from dataclasses import fields

    import jsonschema

    gate = {f.name for f in fields(GateThresholds)}
    specs = {name: _bounded(spec) for name, spec in specs.items()}
    for name, spec in specs.items():
        schema = {k: v for k, v in spec.items() if k not in ("default", "title", "description")}
        if spec.get("default") is None:
            continue
        try:
            jsonschema.validate(spec["default"], schema)
        except jsonschema.ValidationError as err:
            source = ENV_DEFAULTS.get(name) or (f"PROX_GATE_{name.upper()}" if name in gate
                                                else f"PROX_{name.upper()}")
            raise ValueError(f"Param {name}: default {spec['default']!r} is not valid "
                             f"({err.message}); check the deployment variable {source}") from err
    return specs


def refresh_params() -> dict:
    return checked_defaults({
        "input_uri": {"default": settings.crawl_template(), "type": ["null", "string"],
                      "minLength": 1,
                      "title": "Input URI or template",
                      "description": "File, folder, prefix or glob (path, file:// or s3://); "
                      "{ds}, {ds_nodash}, {yyyy}, {mm}, {dd} take the run's date. Empty: "
                      "PROX_CRAWL_TEMPLATE, else <PROX_HOME>/crawl/{ds}."},
        "output_root": {"default": settings.corpus_root(), "type": ["null", "string"],
                        "minLength": 1,
                        "title": "Corpus root", "description": "Snapshots go to "
                        "<root>/snapshots/<name>; latest.json and releases/ to <root>. Empty: "
                        "PROX_CORPUS_ROOT, else <PROX_HOME>/corpus."},
        "snapshot_name": {"default": None, "type": ["null", "string"],
                          "pattern": NAME_PATTERN, "title": "Snapshot name",
                          "description": "Default: crawl-<ds> (run-<run id> without a logical "
                          "date). Letters, digits, '.', '_', '-'."},
        "target_docs": {"default": None, "type": ["null", "integer"], "minimum": 1,
                        "maximum": 10_000_000, "title": "Shard size (documents)",
                        "description": "Documents per shard: each shard is refined by one "
                        "task try and rewritten whole on a retry. Empty: a snapshot folder "
                        "already planned (a rerun, prox plan) keeps its plan's size; a new "
                        "one takes 10,000."},
        "max_map_length": {"default": 1024, "type": "integer", "minimum": 1,
                           "title": "Most mapped refine tasks",
                           "description": "More shards are grouped per task (at most "
                           "Airflow's [core] max_map_length, which caps it)."},
        "workers_per_task": {"default": None, "type": ["null", "integer"], "minimum": 1,
                             "title": "Worker processes per refine task",
                             "description": "Each mapped refine task takes this many shards "
                             "and refines them side by side in as many processes, one model "
                             "each (as prox refine --workers): up to one per core of the "
                             "machine the task runs on. Empty: PROX_REFINE_WORKERS, else 1."},
        "reprocess": {"default": False, "type": "boolean",
                      "title": "Refine complete shards again",
                      "description": "Plan the snapshot again and refine every shard, also "
                      "those complete (refused for a released snapshot: give another "
                      "snapshot_name)."},
        "dry_run": {"default": False, "type": "boolean", "title": "Dry run",
                    "description": "Plan, refine and gate; release nothing."},
        "wait_for_partition": {"default": False, "type": "boolean",
                               "title": "Wait for a late partition",
                               "description": "A manual run waits for its crawl partition as "
                               "scheduled runs do: up to PROX_PARTITION_WAIT_S seconds (6 h "
                               "when unset), then it fails naming the missing input."},
        "partition_marker": {"default": os.environ.get("PROX_PARTITION_MARKER") or None,
                             "type": ["null", "string"], "pattern": MARKER_PATTERN,
                             "title": "Partition completion marker",
                             "description": "A file the crawl's writer puts last in the "
                             "partition folder (Spark: _SUCCESS): the run waits for it and "
                             "plans only once it is there. Set it for a partition delivered "
                             "in several files, or one landing meanwhile is lost. Empty: "
                             "PROX_PARTITION_MARKER, else none (the first readable file "
                             "counts)."},
        **read_params(),
        **model_params(),
        **limit_params(),
        **threshold_params(),
        **common_params(),
    })
