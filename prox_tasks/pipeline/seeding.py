"""Task bodies of ``prox_seed_label``: sample → label shards (mapped) → validate → split →
register, each a thin call into :mod:`prox_tasks.labeling.seedset`'s stepped API.

- ``sample``: :func:`prox_tasks.labeling.sampling.sample_documents` (stratified by source and
  length) writes ``<seed_root>/<name>/sample/sample-NNNNN.jsonl.gz``, one file per label shard.
- ``label_shard``: :func:`prox_tasks.labeling.parts.label_part` on one sample file writes
  ``labels/labels-NNNNN.jsonl.gz`` (every label with its validation) and, last, a record of
  what it was made from; a part an earlier try completed from the same sample shard and
  teacher is reused, so a retry never pays the teacher twice nor changes the labels.
- ``validate``: the gate on the labels' validation (rejected share and reasons), before
  anything is published.
- ``split``: :func:`prox_tasks.labeling.seedset.assemble_seed_set` validates again, splits and
  writes ``train/validation/rejected.jsonl.gz`` and the versioned ``manifest.json`` (the
  format :func:`prox_tasks.training.seedset.load_seed_set` reads). The version is a hash of
  the content, so the same params give the same version.
- ``register``: :func:`prox_tasks.labeling.seedset.register_in_catalog`; returns what the
  ``prox_seed_set`` Asset event carries (``uri`` of the manifest, ``version``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from pathlib import Path

from prox_tasks.pipeline import settings
from prox_tasks.pipeline.errors import RunError, check_absolute, check_catalog_shared
from prox_tasks.storage import join_uri, to_uri
from prox_tasks.storage.names import check_name

log = logging.getLogger(__name__)
#: What names the seed DAG's seed set, said when its name is registered for another folder
#: (``<seed_root>/<name>``): not ``prox label``'s ``--name``.
SEED_SET_NAME_PARAM = "seed_set_name, or the seed_root it was written under"
#: Airflow's default ``[core] max_map_length``: a seed set has at most this many label tasks
#: (larger ones label more documents per task).
MAX_LABEL_TASKS = 1024


def sample(params: dict, ds: str | None, task_try: dict | None = None,
           bundled_sample: str | None = None) -> dict:
    """Sample ``sample_size`` documents (stratified, seeded by ``random_seed``) into label
    shards of about ``label_shard_docs``. Returns the seed-set plan the other tasks take.
    The sampling holds the seed set's labeling claim (:func:`holding_claim`, ``task_try``:
    this Airflow task try), as ``prox label --seed-set`` does. ``bundled_sample``: the
    DAG's default ``input_uri`` (the repository's ``data/sample`` above its folder), which
    DAGs deployed without the checkout lack: its absence is said as such, with the way out.

    Raises:
        RunError: a relative ``input_uri``, ``seed_root`` or ``warc_uris`` path (it would
            resolve against whichever worker's folder), ``teacher_options`` the teacher
            does not take (checked before anything is sampled, as every ``label_shard``
            would fail with it), a ``{ds}`` input without a date, no input files, or a
            ``diff``/``html`` teacher whose input's first documents have no gold text / HTML
            (nor a response in ``warc_uris``).
        FormatMismatch: input files not in the ``format`` Param (before anything is
            sampled or a seed set claimed).
        SeedSetNameTaken: the catalog registered the seed set's name for another folder
            (another ``seed_root``), before anything is sampled.
        SeedSetBusy: another run (DAG run or ``prox label``) labels the folder now, before
            anything is sampled (retried: it may have ended by then, or its claim lapsed).
        SettingInvalid: ``PROX_LABEL_CLAIM_LEASE_S`` is not a number of seconds of at least 10.
    """
    from prox_tasks.corpus.readers import checked_as, input_files
    from prox_tasks.labeling.run import MissingTeacherInput, probe_teacher_input
    from prox_tasks.labeling.sampling import NoDocuments, sample_documents
    from prox_tasks.labeling.seedset import check_name_in_catalog, warn_of_gold_pages

    params = {**params, "warc_uris": listed_uris(params.get("warc_uris"))}
    check_absolute(params, ("input_uri", "seed_root", "warc_uris"))
    settings.label_claim_lease()  # the claim's lease: a setting to fix, before any write
    check_catalog_shared(settings.catalog_url(params.get("catalog_url")), params)
    teacher = _teacher(params["teacher"], params.get("teacher_options"))  # before any sampling
    _close(teacher)
    if not params.get("input_uri"):  # a cleared trigger-form field: no default fits it
        raise RunError("input_uri is empty: give the snapshot to sample (a file, folder, "
                       "prefix or glob, absolute path or file:// or s3:// URI)")
    input_uri = settings.render_partition(params["input_uri"], ds)
    # the default name changes with what decides the seed set's content: a run with other
    # Params writes a new seed set instead of replacing one a model was trained on
    warc_uris = [settings.render_partition(uri, ds) for uri in params.get("warc_uris") or []]
    fields = {name: settings.param_or_default(params, name) for name in ("text_field", "id_field")}
    decides, named_by = seed_set_params(
        input_uri, params["sample_size"], params["random_seed"], params["teacher"],
        params.get("teacher_options"), warc_uris, format=params.get("format") or None, **fields)
    default = hashlib.sha256(json.dumps(named_by, sort_keys=True, default=str)
                             .encode()).hexdigest()[:8]
    name = check_name(params.get("seed_set_name") or f"seed-{params['teacher']}-{default}",
                      "seed-set name")
    root = to_uri(join_uri(settings.param_or_default(params, "seed_root"), name))
    try:  # no input file: fail before the seed set is claimed for this input_uri, so the
        # rerun with input_uri fixed is not refused as one with other Params
        input_files(input_uri, params.get("format") or None)
    except FileNotFoundError as err:
        if bundled_sample and input_uri == bundled_sample:
            raise RunError(no_bundled_sample(bundled_sample)) from err
        raise RunError(checked_as(err, "check input_uri")) from err
    try:  # a diff/html teacher over rows with no gold text or HTML: before the seed set is
        # claimed for this teacher, so the rerun with another teacher is not refused
        probe_teacher_input(input_uri, teacher, warc_uris=warc_uris, caller="dag",
                            format=params.get("format") or None, **fields)
    except (MissingTeacherInput, FileNotFoundError) as err:  # FileNotFoundError: warc_uris
        raise RunError(str(err)) from None
    check_name_in_catalog(name, root, settings.catalog_url(params.get("catalog_url")),
                          SEED_SET_NAME_PARAM)
    claim_seed_set(root, name, decides)
    size, seed = int(params["sample_size"]), int(params["random_seed"])
    with holding_claim(root, task_try) as held:
        try:
            # one mapped labeling task per shard: no more than Airflow maps (max_map_length)
            drawn = sample_documents(input_uri, join_uri(root, "sample"), size, seed,
                                     shards=MAX_LABEL_TASKS, **fields,
                                     format=params.get("format") or None,
                                     shard_docs=int(params["label_shard_docs"]))
        except (FileNotFoundError, NoDocuments) as err:
            raise RunError(checked_as(err, "check input_uri")) from err
        log.info("seed set %s: sampled %d of %d documents (%d strata; unreadable: %s)", name,
                 drawn["sampled"], drawn["snapshot_docs"], len(drawn["strata"]),
                 drawn["input_quarantined"])
        warn_of_gold_pages(drawn["files"], name)
        warc_uris = [to_uri(uri) for uri in warc_uris]  # as label_shard is given them
        warc_index = _index_warc(warc_uris, drawn["files"], root) if warc_uris else None
        # taken over while it sampled: the other run's sample task plans the labeling; this
        # run returning its plan would map its label tasks beside that run's
        held.check()
    return {"name": name, "root": root, "input_uri": to_uri(input_uri), "teacher": params["teacher"],
            "seed": seed, "sample": drawn, "shards": list(range(len(drawn["files"]))),
            "catalog_url": settings.catalog_url_to_pass_on(
                settings.catalog_url(params.get("catalog_url"))),
            "warc_uris": warc_uris, "warc_index": warc_index}


#: What a seed-DAG task refused by another run's labeling claim is told to do.
RETRIED = ("let this task retry, or clear it (with its downstream tasks) once all retries "
           "are spent")
#: ... and when that run is gone for good (``{uri}``: the claim's file).
GONE = "if that run is gone and cannot be waited for, remove {uri}, then clear this task"


def holding_claim(root: str, task_try: dict | None):
    """The seed set ``root``'s labeling claim held by this DAG task try
    (:func:`prox_tasks.labeling.run_claim.labeling_claim`, the one ``prox label --seed-set``
    takes): the tasks of one DAG run share it, another run (a DAG run or ``prox label``) is
    refused with :class:`~prox_tasks.labeling.run_claim.SeedSetBusy` while any of them
    writes into the folder."""
    from prox_tasks.labeling.run_claim import labeling_claim
    from prox_tasks.refine import runner as runners

    return labeling_claim(root, runners.current(task_try), again=RETRIED, by_hand=GONE)


def listed_uris(value: list[str] | None) -> list[str]:
    """The URIs of a list Param (``warc_uris``) less its blank items, each stripped: the
    trigger form sends a line per item, so a trailing newline or an emptied line arrives as
    ``""``, which would otherwise name the worker's current folder."""
    return [uri.strip() for uri in value or [] if str(uri).strip()]


def _index_warc(warc_uris: list[str], sample_files: list[str], root: str) -> str:
    """Index ``warc_uris`` once for every label task: the responses the sampled WET records
    refer to, saved as ``sample/warc-index.json`` (each ``label_shard`` indexing every WARC
    file again cost ~18 CPU-s per GB each). Returns its URI.

    Raises:
        RunError: a WARC file that cannot be read (cut, not WARC), naming it.
    """
    from prox_tasks.labeling.seedset import index_warc_for_sample

    try:
        index_uri, counts = index_warc_for_sample(warc_uris, sample_files, root, "dag")
    except (ValueError, OSError) as err:
        raise RunError(str(err)) from err
    log.info("warc_uris: %d HTML responses, %d of them referred to by the sample",
             counts["html_responses"], counts["indexed"])
    return index_uri


def no_bundled_sample(path: str) -> str:
    """Why the default ``input_uri``, the bundled sample at ``path``, names no file, and the
    two ways out: prox installed from a wheel (or the DAGs copied alone) has no sample, as
    the wheel holds ``prox_tasks`` only (docs/deploy.md)."""
    sample_dir = str(Path(path).parent)
    return (f"input_uri is its default, the bundled sample {path}, which is not there: DAGs "
            "deployed without the prox repository (prox installed from a wheel, the DAG folder "
            "copied alone) have no sample. Give input_uri (your crawl: a file, folder, prefix or "
            f"glob), or copy data/sample/ of the same prox release to {sample_dir}/ "
            "(docs/deploy.md, \"Installing prox from a wheel\")")


def seed_set_params(input_uri: str, sample_size: int, random_seed: int, teacher: str,
                    teacher_options: dict | None = None, warc_uris: list[str] | None = None, *,
                    format: str | None = None, text_field: str = "text", id_field: str = "id",
                    digest_input: bool = True) -> tuple[dict, list]:
    """What decides a seed set's content, as :func:`claim_seed_set` records and compares it,
    and what its default name is hashed from (the teacher is in the name itself).

    Args:
        input_uri: The input, rendered (no ``{ds}``).
        sample_size, random_seed, teacher, teacher_options, warc_uris: As the Params.
        format, text_field, id_field: How the input is read; recorded when not the defaults,
            so seed sets named before keep their names.
        digest_input: Record the input files' digest (:func:`_input_digest`), so a rewritten
            input is another seed set.

    Returns:
        ``(decides, named_by)``.

    Raises:
        FormatMismatch: input files not in ``format``.
    """
    decides = {"input_uri": input_uri, "sample_size": sample_size, "random_seed": random_seed,
               "teacher": teacher, "teacher_options": teacher_options or {},
               "warc_uris": list(warc_uris or [])}
    if digest_input:
        decides["input_digest"] = _input_digest(input_uri, format)
    named_by = [input_uri, sample_size, random_seed, decides["teacher_options"]]
    fields = {"text_field": text_field, "id_field": id_field}
    read = fields if fields != {"text_field": "text", "id_field": "id"} else {}
    if format:
        read["format"] = format
    if read:
        decides.update(read)
        named_by.append(read)
    if decides.get("input_digest") is not None:  # an input rewritten since: another seed set
        named_by.append(decides["input_digest"])
    return decides, named_by


def _input_digest(input_uri: str, format: str | None = None) -> str | None:
    """A digest of the files read as ``format`` (the Param; None: by their names) and their
    bytes (:func:`content_fingerprint`: a local file's SHA-256, an S3 object's ETag), or None
    when ``input_uri`` lists no such file (sampling says so).

    Raises:
        FormatMismatch: the files are not in ``format``; raised here, before the seed set
            is claimed, so a run that cannot read its input leaves no seed set behind.
    """
    from prox_tasks.corpus.readers import FormatMismatch, input_listing
    from prox_tasks.storage import content_fingerprint

    try:  # the files it skips are said by the sampling, which reads the input
        listed, _ = input_listing(input_uri, format, warn=False)
        files = [(uri, content_fingerprint(uri)) for uri, _ in listed]
    except FormatMismatch:
        raise
    except (FileNotFoundError, ValueError):
        return None
    return hashlib.sha256(json.dumps(files).encode()).hexdigest()[:16] if files else None


def claim_seed_set(root: str, name: str, decides: dict,
                   way_out: str = "choose another seed_set_name",
                   names: dict[str, str] | None = None, elsewhere: str | None = None) -> None:
    """Record the Params that decide seed set ``name``'s content (``params.json``); a run
    that names an existing seed set with other Params is refused (a model trained on it would
    lose its provenance). The same Params (a retry, a rerun) go on. Read and written in one
    step (:func:`~prox_tasks.storage.swap.replace_if`): of two runs with other Params started
    together, one claims the seed set and the other is refused.

    A folder written before ``params.json`` existed is compared by what its ``manifest.json``
    tells (:func:`settings_of_unclaimed`); one that holds files but no readable manifest is
    refused, as its settings cannot be compared.

    Args:
        root: The seed set's folder.
        name: Its name, for the message.
        decides: What decides its content (:func:`seed_set_params`).
        way_out: What the refusal tells the user to do.
        names: How the caller names the keys of ``decides`` (``prox label``'s options);
            a key not in it is named as it is (the DAG's Params).
        elsewhere: What the refusal of another tool's folder (no seed set's file in it: a
            model registry, a refined snapshot) tells the user to do (default ``way_out``,
            which may offer to remove the folder: not for one holding another tool's work).

    Raises:
        RunError: the seed set exists with other ``decides``, naming each difference, or
            predates ``params.json`` and its settings cannot be told, or is another
            tool's folder.
    """
    from prox_tasks.storage import exists, same_uri
    from prox_tasks.storage.swap import replace_if

    text = json.dumps(decides, sort_keys=True, default=str, indent=1) + "\n"
    wanted = json.loads(text)

    def refuse(differ: list[str], why: str = "") -> RunError:
        return RunError(f"seed set {name} exists with other Params ({', '.join(differ)}){why}; "
                        f"{way_out}")

    def decide(current: bytes | None) -> bytes | None:
        if current is None:
            found = settings_of_unclaimed(root)
            if found is None:
                raise RunError(
                    f"seed set {name} ({root}) was written before params.json recorded its "
                    "settings and holds no readable manifest.json to tell them, so this run "
                    f"cannot be checked against it and does not replace it; {way_out}")
            differ = [f"{(names or {}).get(k, k)} {found[k]!r} -> {wanted[k]!r}"
                      for k in wanted if k in found and found[k] != wanted[k]]
            least = found.get("sample_size_at_least")
            if least is not None and wanted.get("sample_size", least) < least:
                differ.append(f"{(names or {}).get('sample_size', 'sample_size')} "
                              f">= {least!r} -> {wanted['sample_size']!r}")
            if differ:
                raise refuse(differ, " (as its manifest.json tells: the folder was written "
                                     "before params.json)")
            if found:
                log.warning("seed set %s was written before params.json: its manifest.json "
                            "agrees with this run (%s) but does not tell its input or teacher "
                            "options; claimed with this run's", name, ", ".join(sorted(found)))
            return text.encode()
        recorded = _as_compared(json.loads(current))
        if "warc_uris" in recorded:  # a claim of before blank items were skipped: [uri, ""]
            recorded["warc_uris"] = listed_uris(recorded["warc_uris"])
        compared = _as_compared(wanted)
        # a seed set claimed before inputs were digested is compared by its Params alone
        keys = [k for k, v in compared.items()
                if recorded.get(k) != v and (k in recorded or k != "input_digest")]
        if "input_uri" in keys and same_uri(recorded.get("input_uri") or "", wanted["input_uri"]):
            keys.remove("input_uri")  # a folder with or without its trailing slash (completion)
        if "warc_uris" in keys and len(recorded["warc_uris"]) == len(wanted["warc_uris"]) and all(
                map(same_uri, recorded["warc_uris"], wanted["warc_uris"])):
            keys.remove("warc_uris")
        if "input_uri" in keys and "input_digest" in keys:  # another input: of course
            keys.remove("input_digest")
        if keys:
            changed = " (the input was rewritten since)" if "input_digest" in keys else ""
            raise refuse([f"{(names or {}).get(k, k)} {recorded.get(k)!r} -> {compared[k]!r}"
                          for k in keys], changed)
        return None

    # before the claim, so not even its lock file is left there; a claimed one is not listed
    others = None if exists(join_uri(root, "params.json")) else _not_a_seed_set(root)
    if others:  # a model registry, a refined snapshot: no seed set was ever there
        raise RunError(f"{root} is not a seed set's folder: it holds {others} and none of a "
                       f"seed set's files ({', '.join(SEED_SET_MARKS)}); nothing was written "
                       f"to it: {elsewhere or way_out}")
    replace_if(join_uri(root, "params.json"), decide)


def _as_compared(decides: dict) -> dict:
    """``decides`` (recorded or wanted) as a rerun is compared with it: a teacher option
    given at the teacher's default (``--html-timeout 30``, ``"chunked": true``) as not given,
    and ``max_html_bytes`` at its default as not given — the same teacher, the same labels
    and seed-set version — so a rerun that spells out a default is not refused."""
    import inspect

    from prox_tasks.labeling import TEACHERS, teacher_class
    from prox_tasks.labeling.run import DEFAULT_MAX_HTML_BYTES

    compared = dict(decides)
    options = compared.get("teacher_options")
    if isinstance(options, dict) and compared.get("teacher") in TEACHERS:
        taken = inspect.signature(teacher_class(compared["teacher"])).parameters
        compared["teacher_options"] = {k: v for k, v in options.items()
                                       if not (k in taken and v == taken[k].default)}
    if compared.get("max_html_bytes") == DEFAULT_MAX_HTML_BYTES:
        compared["max_html_bytes"] = None
    return compared


#: What any seed-set folder holds, from its first step on (older releases' included); not
#: ``manifest.json``, which a refined snapshot holds too (a seed set's is read first).
SEED_SET_MARKS = ("params.json", "sample/", "labels/", "train.jsonl.gz", "validation.jsonl.gz")


def _not_a_seed_set(root: str) -> str | None:
    """The first names ``root`` holds when none is a seed set's (:data:`SEED_SET_MARKS`):
    another tool's folder given as a seed set's; None when one is (or it holds nothing)."""
    from prox_tasks.storage import list_uri

    prefix = to_uri(root).rstrip("/") + "/"
    tops = sorted({u[len(prefix):].split("/")[0] + ("/" if "/" in u[len(prefix):] else "")
                   for u in list_uri(prefix)})
    if not tops or set(tops) & set(SEED_SET_MARKS):
        return None
    return ", ".join(tops[:4]) + (", …" if len(tops) > 4 else "")


def settings_of_unclaimed(root: str) -> dict | None:
    """What a seed-set folder without ``params.json`` tells of the settings
    :func:`seed_set_params` records, from its ``manifest.json``
    (:func:`~prox_tasks.labeling.seedset.assemble_seed_set`): ``teacher`` (its name),
    ``random_seed`` (the manifest's ``seed``), ``val_fraction``, and ``sample_size`` when the
    sample did not take the whole input — else ``sample_size_at_least``, as any larger size
    draws the same sample. The input, read options and teacher options are not in it.

    Returns:
        ``{}`` for a folder holding nothing (a new seed set), None for one holding files but
        no readable manifest (a run interrupted before it wrote one).
    """
    from prox_tasks.storage import list_uri, read_json

    try:
        listed = list_uri(root)
    except FileNotFoundError:
        return {}
    if not listed:
        return {}
    try:
        manifest = read_json(join_uri(root, "manifest.json"))
    except ValueError:  # cut or edited: nothing can be told from it
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("teacher"), dict):
        return None
    sizes = manifest.get("sizes") or {}
    found = {"teacher": manifest["teacher"].get("name"), "random_seed": manifest.get("seed"),
             "val_fraction": manifest.get("val_fraction")}
    sampled, total = sizes.get("sampled"), sizes.get("snapshot_docs")
    if isinstance(sampled, int) and isinstance(total, int):
        found["sample_size" if sampled < total else "sample_size_at_least"] = sampled
    return {k: v for k, v in found.items() if v is not None}


def label_shard(plan: dict, index: int, teacher_options: dict | None = None,
                task_try: dict | None = None) -> dict:
    """Label sample shard ``index`` with the teacher
    (:func:`prox_tasks.labeling.parts.label_part`): a part an earlier try made from the same
    sample shard with the same teacher is reused as it is. It holds the seed set's labeling
    claim (:func:`holding_claim`): another run labeling the folder refuses it
    (:class:`~prox_tasks.labeling.run_claim.SeedSetBusy`, retried). A stop by Airflow (SIGTERM) is
    raised as :class:`~prox_tasks.termination.Terminated` (:data:`STOPPED_BY_AIRFLOW`): the
    labeling ends at once, its temporary file removed, no part half-written."""
    from prox_tasks.labeling.parts import label_part
    from prox_tasks.termination import raise_on_sigterm

    # Airflow stops a task with SIGTERM (then SIGKILL 5 s later) and, by itself, lets it run
    # on: a labeling went on paying the teacher, cut short where the SIGKILL found it
    with raise_on_sigterm(STOPPED_BY_AIRFLOW), holding_claim(plan["root"], task_try) as held:
        teacher = _teacher(plan["teacher"], teacher_options)
        try:
            summary = label_part(plan["sample"]["files"][index], plan["root"], index, teacher,
                                 warc_uris=plan.get("warc_uris"), caller="dag", check=held.check,
                                 publishing=held.publishing,
                                 **({"warc_index": plan["warc_index"]}
                                    if plan.get("warc_index") else {}))  # fmt: skip
        finally:
            _close(teacher)
    return {**summary, "index": index, "teacher": teacher.describe()}


#: What a label_shard task stopped by Airflow (SIGTERM) fails with.
STOPPED_BY_AIRFLOW = ("terminated (SIGTERM): Airflow stopped this labeling task (marked "
                      "failed or cleared, the task or its DAG run, or its worker shutting "
                      "down) before its part was written; clear the task to resume it (its "
                      "shard is labeled again; parts already finished are reused)")


def _teacher(name: str, options: dict | None):
    """The teacher ``name`` built with ``options`` (the ``teacher_options`` Param); options it
    does not take fail the run at once: the same Params fail every try."""
    from prox_tasks.labeling import get_teacher

    _check_teacher_options(name, options or {})
    try:
        return get_teacher(name, **(options or {}))
    except (TypeError, ValueError, ImportError) as err:
        raise RunError(f"teacher {name!r}: {err} (fix the teacher_options Param)") from err
    except KeyError as err:  # an undefined conn_id: each retry would look it up again
        raise RunError(f"teacher {name!r}: {err.args[0]}: add the connection, or fix conn_id "
                       "in the teacher_options Param") from err


def _check_teacher_options(name: str, options: dict) -> None:
    """Refuse ``options`` teacher ``name`` does not take, of the wrong kind or out of range
    (:func:`prox_tasks.labeling.options.check_teacher_options`, the one table), in the
    Param's words.

    Raises:
        RunError: Naming the option and what it takes.
    """
    from prox_tasks.labeling.options import check_teacher_options

    try:
        check_teacher_options(name, options, fix="fix the teacher_options Param")
    except ValueError as err:
        raise RunError(str(err)) from None


def _close(teacher) -> None:
    getattr(teacher, "close", lambda: None)()  # an llm teacher holds an HTTP client


#: Rejections that say the sampled rows lack what the teacher reads (no relabeling fixes
#: them), with what to do instead.
INPUT_REASONS = {
    "missing_gold": "missing_gold: the diff teacher needs rows with a gold_text field; choose "
                    "another teacher, or an input_uri whose rows have it",
    "missing_html": "missing_html: the html teacher needs rows with an html field, or warc_uris "
                    "for a WET input; give them, or choose another teacher",
}


def validate(plan: dict, parts: list[dict], max_invalid_rate: float) -> dict:
    """Gate on the labels' validation (:func:`prox_tasks.labeling.validate.validate_label`, run
    by :func:`label_corpus`): a sampled document without a valid label counts as rejected.

    Raises:
        RunError: When a shard is missing, or more than ``max_invalid_rate`` are rejected
            (the labels are reused on a retry: it cannot succeed either).
    """
    if sorted(p["index"] for p in parts) != plan["shards"]:
        # a label_shard task marked success in the UI (while it ran, or before) returns no
        # part: say which tasks to clear, not only the indices
        missing = sorted(set(plan["shards"]) - {p["index"] for p in parts})
        way_out = (f": label_shard tasks (map index) {missing} ended without a result "
                   "(marked success while they ran, or before): clear those label_shard "
                   "tasks with their downstream tasks to label them (the parts already "
                   "labeled are reused)") if missing else ""
        raise RunError(f"seed set {plan['name']}: labeled shards "
                       f"{sorted(p['index'] for p in parts)} != planned {plan['shards']}"
                       + way_out)
    sampled = plan["sample"]["sampled"]
    valid = sum(p["valid"] for p in parts)
    reasons = Counter()
    for part in parts:
        reasons.update(part["rejected"])
        reasons.update(part.get("quarantined") or {})
    rate = (sampled - valid) / sampled if sampled else 1.0
    if not valid or rate > max_invalid_rate:
        from prox_tasks.storage import join_uri

        said = ", ".join(f"{reason} {count}" for reason, count in reasons.most_common())
        hints = "".join(f" {INPUT_REASONS[r]}." for r in INPUT_REASONS if r in reasons)
        raise RunError(f"seed set {plan['name']}: {sampled - valid} of {sampled} labels "
                         f"rejected ({rate:.1%} > {max_invalid_rate:.1%}): {said}.{hints} "
                         "A run with the same Params reuses these labels: to label again "
                         "(e.g. the teacher's endpoint answered errors, or its settings were "
                         f"fixed), delete {join_uri(plan['root'], 'labels')} (and the teacher's "
                         "cache of those answers) first")
    return {"valid": valid, "rejected": sampled - valid, "invalid_rate": round(rate, 6),
            "rejected_reasons": dict(reasons)}


def split(plan: dict, parts: list[dict], checked: dict, valid_percent: int,
          task_try: dict | None = None) -> dict:
    """Validate again, split train/validation by a seeded hash of the id and write the seed set
    with its versioned manifest (:func:`assemble_seed_set`; not registered yet), holding the
    seed set's labeling claim (:func:`holding_claim`).

    Raises:
        RunError: When a split is empty, or the labels changed since ``validate``.
    """
    from prox_tasks.labeling.seedset import EmptySplit, LabelsChanged, assemble_seed_set

    parts = sorted(parts, key=lambda p: p["index"])
    with holding_claim(plan["root"], task_try) as held:
        held.check()  # taken over since the labeling: that run writes the splits
        try:
            info = assemble_seed_set(plan["sample"]["files"], [p["output"] for p in parts],
                                     plan["root"], parts[0]["teacher"], plan["seed"],
                                     valid_percent / 100, name=plan["name"],
                                     sample_info=plan["sample"], register=False,
                                     quarantine_files=[p["quarantine"] for p in parts
                                                       if p.get("quarantine")],
                                     publishing=held.publishing,
                                     expect_valid=checked["valid"])  # fmt: skip
        except LabelsChanged as err:  # refused before the splits and manifest are published
            # validate counted the label tasks' results, not the files: clearing split or
            # validate alone fails the same; the label tasks read the parts there now
            raise RunError(f"{err}: clear the label_shard tasks with their downstream tasks "
                           "(a part whose files changed is labeled again, the others are "
                           "reused), so validate judges the labels there now") from None
        except EmptySplit as err:
            params = "teacher, teacher_options" if err.no_valid_label \
                else "sample_size, valid_percent"  # fmt: skip
            raise RunError(f"{err} (Params {params})") from None
    return info.to_dict()


def register(plan: dict, seed_set: dict) -> dict:
    """Record the seed set in the catalog; returns what the Asset event carries.

    Raises:
        SeedSetNameTaken: Another run registered the name for another folder since
            ``sample`` checked it: the refusal names the Param and says what to do with
            the folder this run wrote, which stays unregistered.
    """
    from prox_tasks.catalog.catalog import SeedSetNameTaken
    from prox_tasks.labeling.seedset import SeedSetInfo, register_in_catalog

    info = SeedSetInfo(**seed_set)
    try:
        catalog_id = register_in_catalog(info, settings.catalog_url(plan["catalog_url"]),
                                         SEED_SET_NAME_PARAM)
    except SeedSetNameTaken as err:  # sample checked the name before writing anything
        raise SeedSetNameTaken(
            f"{err}: another run registered it while this run labeled. This seed set is "
            f"written in {info.uri} but not registered: train on it as it is "
            f"(prox_train_refiner's seed_uri {info.manifest_uri}), or on the one registered "
            "under that name; to register it, trigger this DAG again with another "
            f"seed_set_name (sampled and labeled into a new folder) and remove {info.uri}, "
            "which nothing registered points at") from None
    return {"uri": info.manifest_uri, "version": info.version, "name": info.name,
            "teacher": info.teacher.get("name"), "catalog_id": catalog_id}
