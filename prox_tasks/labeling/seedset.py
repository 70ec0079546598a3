"""Build a versioned seed set: sample, label, validate, split, write, register.

Three steps, each a function an Airflow task can call (labeling is mapped over the sample's
shards), and :func:`build_seed_set` chaining them in one process:

- :func:`sample_documents` -> ``<out>/sample/sample-NNNNN.jsonl.gz``
- :func:`prox_tasks.labeling.parts.label_part` per sample shard -> ``<out>/labels/...``
  (reused when an earlier run labeled the same sample bytes with the same teacher)
- :func:`assemble_seed_set` -> ``train/validation/rejected.jsonl.gz`` and ``manifest.json``

1. **Sample** ``sample_size`` documents, stratified by source/domain and length
   (:mod:`prox_tasks.labeling.sampling`). Two streaming passes over the input: ids and
   lengths, then the texts.
2. **Label** with the teacher, in batches (the Airflow DAG maps this step over shards).
3. **Validate** every label (:func:`validate_label`); rejected documents are written to
   ``rejected.jsonl.gz`` with their reasons, never silently dropped.
4. **Split** train/validation by a seeded hash of the id (stable when the sample changes).
5. **Write** ``train.jsonl.gz``, ``validation.jsonl.gz``, ``rejected.jsonl.gz`` and
   ``manifest.json`` (version, teacher, sizes, label distribution) atomically under
   ``output_uri``; the version is a hash of the content, so a retry writes the same files.
6. **Register** the seed set in the catalog (when the catalog package is there).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from prox_tasks.labeling.base import Label, Teacher
from prox_tasks.labeling.parts import label_part
from prox_tasks.labeling.run import DEFAULT_MAX_HTML_BYTES, probe_teacher_input
from prox_tasks.labeling.run_claim import labeling_claim
from prox_tasks.labeling.sampling import (
    iter_jsonl,
    sample_documents,
    seeded_hash,
    write_jsonl,
)
from prox_tasks.labeling.validate import validate_label
from prox_tasks.programs import KeepChunk, Normalize, RemoveLines, parse

log = logging.getLogger(__name__)
SEED_SET_FORMAT = "prox-seed-set/1"


class EmptySplit(ValueError):
    """The split of a seed set left a part empty that training needs.

    Attributes:
        no_valid_label: The teacher wrote no valid label at all (every one rejected): a
            teacher to fix, which no other sample size or validation share helps.
    """

    no_valid_label: bool = False


class LabelsChanged(ValueError):
    """The labels hold another number of valid ones than the validation that let them
    through counted (``expect_valid`` of :func:`assemble_seed_set`): nothing is published."""


#: The fewest documents a seed set is split from: one to train on, one to validate on.
MIN_SAMPLE_SIZE = 2


def check_split_settings(sample_size: int | None, val_fraction: float,
                         names: dict[str, str] | None = None) -> None:
    """Refuse, before anything is sampled or labeled, settings whose seed set ``prox train``
    (and the training DAG) would refuse: training needs training documents and validation
    documents (the epoch choice, the metrics and promotion are measured on them), so the
    validation share must be above 0 and below 1 and the sample hold at least
    :data:`MIN_SAMPLE_SIZE` documents. The split itself is checked when it is made
    (:class:`EmptySplit`): a small sample may still leave a side empty.

    Args:
        sample_size, val_fraction: As :func:`build_seed_set` takes them (``sample_size``
            None: not checked, the documents are sampled already).
        names: How the caller's user gives each (``{"val_fraction": "--val-fraction"}``).

    Raises:
        ValueError: Naming the setting and the range it must be in.
    """
    named = {"sample_size": "sample_size", "val_fraction": "val_fraction", **(names or {})}
    if not 0 < val_fraction < 1:
        raise ValueError(f"{named['val_fraction']} {val_fraction:g}: a seed set needs "
                         "validation documents and training documents (prox train measures "
                         "the epoch, the metrics and promotion on the validation ones): give "
                         "a share above 0 and below 1, e.g. 0.1")
    if sample_size is not None and sample_size < MIN_SAMPLE_SIZE:
        raise ValueError(f"{named['sample_size']} {sample_size}: a seed set needs at least "
                         f"{MIN_SAMPLE_SIZE} documents, one to train on and one to validate "
                         "on (prox train refuses a seed set without either)")


@dataclass
class SeedSetInfo:
    """What :func:`build_seed_set` wrote (also the manifest's content)."""

    name: str
    version: str
    uri: str
    manifest_uri: str
    files: dict
    teacher: dict
    sizes: dict
    label_distribution: dict
    rejected_reasons: dict
    strata: dict = field(default_factory=dict)
    usage: dict | None = None
    catalog_id: int | None = None
    #: The input's ``missing_text`` records by the field holding a string that could be
    #: their text (:func:`sample_documents`' ``text_candidates``): the summary names it, as
    #: plain ``prox label`` does; not in the manifest (a seed set's content is its rows).
    input_text_candidates: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def label_distribution(labels: Iterable[Label], texts: Iterable[str]) -> dict:
    """Document keep/drop counts, chunk-call counts, the share of lines removed, and the
    documents per labeling teacher (``by_teacher``: ``label.meta["teacher"]``)."""
    doc, calls, by_teacher = Counter(), Counter(), Counter()
    lines = removed = with_removals = n = 0
    for label, text in zip(labels, texts):
        n += 1
        by_teacher[(label.meta or {}).get("teacher") or "unknown"] += 1
        doc[label.doc_program.strip()] += 1
        program = parse(label.chunk_program, level="chunk")
        removed_here = 0
        for call in program.calls:
            kind = {RemoveLines: "remove_lines", Normalize: "normalize", KeepChunk: "keep_chunk"}
            calls[kind[type(call)]] += 1
            if isinstance(call, RemoveLines):
                removed_here += call.line_end - call.line_start + 1
        lines += text.count("\n") + 1
        removed += removed_here
        with_removals += removed_here > 0
    return {
        "keep_doc": doc["keep_doc()"], "drop_doc": doc["drop_doc()"],
        "calls": dict(calls), "docs_with_removals": with_removals,
        "lines_removed_fraction": round(removed / lines, 4) if lines else 0.0, "docs": n,
        "by_teacher": dict(sorted(by_teacher.items())),
    }  # fmt: skip


def warn_of_gold_pages(sample_files: list[str], seed_set: str) -> int:
    """Warn, once, when sampled pages (``sample_files``, :func:`sample_documents`') are pages
    of the shipped gold set (:func:`~prox_tasks.evaluation.goldset.gold_pages`: the same id
    or text): promotion's gold gate scores candidates on them, so ``prox train`` (and the
    training DAG) leaves them out of training and validation — their labels are paid for
    and not used. Said before they are labeled. Returns how many there are."""
    from prox_tasks.evaluation.goldset import gold_pages

    gold = gold_pages()
    found = sum(1 for uri in sample_files for row in iter_jsonl(uri)
                if isinstance(row.get("text"), str) and gold.match(row))  # fmt: skip
    if found:
        log.warning("seed set %s: %d of the sampled pages are pages of the gold set %s, which "
                    "promotion's gold gate scores candidates on: prox train will leave them out "
                    "of training and validation (their labels go unused); sample from an input "
                    "without them to train on every page labeled", seed_set, found, gold.version)
    return found


def check_name_in_catalog(name: str, uri: str, catalog=None, option: str = "--name") -> None:
    """Before any work: refuse seed-set ``name`` when the catalog registered it for another
    folder (:meth:`~prox_tasks.catalog.Catalog.check_seed_set_name`; registering would).

    Args:
        name: The seed set's name.
        uri: The folder it is written to.
        catalog: A catalog URL, or None for the default catalog.
        option: What names it, for the message.

    Raises:
        SeedSetNameTaken: ``name`` belongs to another folder.
    """
    try:
        from prox_tasks.catalog import Catalog
    except ImportError:  # no catalog: nothing is registered either
        return
    cat = Catalog(catalog)
    try:
        cat.check_seed_set_name(name, uri, option)
    finally:
        cat.close()


#: How a seed set registered under its default name (``seed-<teacher>-<version>``: the same
#: teacher and content give the same name) is named apart, said when that name is taken.
DEFAULT_NAME_TAKEN = ("its default name is the teacher's and the content version's, so the "
                      "same seed set is registered there already: train on that one, or run "
                      "again with name= to register this one under its own (its files are "
                      "written; its labels are reused)")


def register_in_catalog(info: SeedSetInfo, catalog=None, option: str = "--name") -> int | None:
    """Register the seed set in the SQL catalog; None when the catalog package is missing.

    Args:
        info: The seed set.
        catalog: A ``Catalog``, a catalog URL, or None for the default catalog.
        option: What names it, for the message of a name registered for another folder.
    """
    try:
        from prox_tasks.catalog import Catalog
    except ImportError:  # the catalog stage is optional for a bare library install
        log.warning("prox_tasks.catalog is not available; seed set %s not registered", info.name)
        return None
    own = not hasattr(catalog, "register_seed_set")
    cat = Catalog(catalog) if own else catalog
    try:
        stats = {"version": info.version, "manifest": info.manifest_uri, "sizes": info.sizes,
                 "label_distribution": info.label_distribution, "teacher": info.teacher}  # fmt: skip
        return cat.register_seed_set(info.name, info.teacher.get("name", "?"), info.uri,
                                     info.sizes["train"] + info.sizes["validation"], stats,
                                     option)  # fmt: skip
    finally:
        if own:
            cat.close()


def assemble_seed_set(
    sample_files: list[str],
    label_files: list[str],
    output_uri: str,
    teacher: dict,
    seed: int = 0,
    val_fraction: float = 0.1,
    *,
    name: str | None = None,
    gold_field: str = "gold_text",
    html_field: str = "html",
    sample_info: dict | None = None,
    usage: dict | None = None,
    register: bool = True,
    catalog=None,
    quarantine_files: list[str] = (),
    publishing=None,
    expect_valid: int | None = None,
) -> SeedSetInfo:
    """Validate the labels of the sample, split, write the seed set and its manifest.

    A sampled document without a label is rejected with the reason the labeling quarantined
    it under (in ``quarantine_files``: ``html_too_large``, an empty ``missing_html``), else
    ``missing_gold``/``missing_html`` (no gold text or HTML) or ``not_labeled``; every label
    is validated again here.

    Args:
        sample_files: The files :func:`sample_documents` wrote.
        label_files: The files :func:`label_corpus` wrote for them (any order).
        output_uri: The seed-set folder.
        teacher: The teacher's :meth:`Teacher.describe`.
        seed, val_fraction: The split's seed and validation share.
        name: Catalog name (default ``seed-<teacher>-<version>``).
        gold_field: Clean-text field copied into the rows when present.
        html_field: The page HTML's field (the ``html`` teacher's input; not copied).
        sample_info: :func:`sample_documents`' result (sizes and strata for the manifest).
        usage: The teacher's usage report (recorded in the returned info, not the manifest).
        register, catalog: Register in the catalog (see :func:`register_in_catalog`).
        quarantine_files: The quarantine files :func:`label_corpus` wrote beside
            ``label_files``: their reasons name the rejections of the rows they hold
            (counted ``not_labeled`` without them: the manifest lost why).
        publishing: The seed-set folder's labeling claim's
            :meth:`~prox_tasks.labeling.run_claim.HeldClaim.publishing` (None: no claim): the
            splits, written under staged names, are moved into place and the manifest (what
            makes the seed set visible) written inside it, so a run whose claim was taken
            over never publishes a seed set (on S3: its manifest removed again while it is
            still this run's; the moved splits stay, no seed set without it).

    Raises:
        ClaimTakenOver: ``publishing``'s claim was taken over: nothing published.
        ValueError: For a bad ``val_fraction`` (:func:`check_split_settings`).
        EmptySplit: When the split leaves no training document or no validation document;
            only the rejected rows are written.
    """
    from prox_tasks.labeling.parts import labels_uri
    from prox_tasks.labeling.run_claim import publish_staged, staged_uri, staging_token
    from prox_tasks.refine.checkpoint import remove_empty_checkpoint_folders
    from prox_tasks.storage import join_uri, remove_all, to_uri

    check_split_settings(None, val_fraction)  # sampled already: its split is checked below
    labels = {}
    for uri in label_files:
        for row in iter_jsonl(uri):
            labels[str(row["id"])] = row
    quarantined = {}  # id -> the reason the labeling quarantined its row under
    for uri in quarantine_files:
        for row in iter_jsonl(uri):
            quarantined.setdefault(str(row.get("id")), row.get("reason"))
    rows = {"train": [], "validation": []}
    rejected_rows, rejected = [], Counter()
    kept_labels, kept_texts = [], []
    sampled = 0
    for uri in sample_files:
        for doc in iter_jsonl(uri):
            sampled += 1
            doc_id, text, gold = str(doc["id"]), doc["text"], doc.get(gold_field)
            found = labels.get(doc_id)
            if found is None:
                needs = {"diff": gold, "html": doc.get(html_field)}.get(teacher.get("name"), "")
                missing = "missing_gold" if teacher.get("name") == "diff" else "missing_html"
                reasons = [quarantined.get(doc_id)
                           or (missing if not isinstance(needs, str) else "not_labeled")]
            else:
                meta = {**(found.get("label_meta") or {}),
                        "teacher": found.get("teacher") or teacher.get("name")}  # fmt: skip
                label = Label(found.get("doc_program") or "", found.get("chunk_program") or "",
                              meta)  # fmt: skip
                # a rejected label kept as an excerpt (labeling.run.program_excerpts): its
                # reasons stand; a cut program could pass checks the whole one failed
                reasons = (list(found.get("rejected") or ["program_excerpt"])
                           if found.get("program_excerpt") else validate_label(text, label))
            if reasons:
                rejected.update(reasons)
                rejected_rows.append(
                    {"id": doc_id, "reasons": reasons, "source": doc.get("source")}
                )
                continue
            row = {"id": doc_id, "text": text, "doc_program": label.doc_program,
                   "chunk_program": label.chunk_program, "source": doc.get("source"),
                   "page_type": doc.get("page_type"), "teacher": label.meta["teacher"]}  # fmt: skip
            if isinstance(gold, str):
                row["gold_text"] = gold
            in_val = seeded_hash(seed, "split", doc_id) % 10_000 < val_fraction * 10_000
            rows["validation" if in_val else "train"].append(row)
            kept_labels.append(label)
            kept_texts.append(text)
    for split in rows:
        rows[split].sort(key=lambda r: r["id"])
    rejected_rows.sort(key=lambda r: r["id"])

    content = hashlib.sha256()
    for split in ("train", "validation"):
        for row in rows[split]:
            content.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode(
                "utf-8", "backslashreplace"))  # lone surrogates: as write_jsonl writes them
    content.update(json.dumps(teacher, sort_keys=True).encode())
    version = content.hexdigest()[:12]
    files = {split: join_uri(output_uri, f"{split}.jsonl.gz") for split in ("train", "validation")}
    files["rejected"] = join_uri(output_uri, "rejected.jsonl.gz")
    token = staging_token()  # each file staged, published under the claim: see publishing
    staged = {files[split]: staged_uri(files[split], token) for split in files}
    checksums = {"rejected": write_jsonl(staged[files["rejected"]], rejected_rows)}
    if not rows["train"] or not rows["validation"]:
        # no valid label at all: the teacher's answers were refused (an llm teacher's model
        # that does not answer in the prompts' format), which a larger sample only repeats
        way_out = ("the teacher wrote no valid label: check it (an llm teacher's model and "
                   "endpoint: its answers, in error_details of the labels under labels/), or "
                   "label with another teacher" if not kept_labels and rejected_rows
                   else "sample more documents or change the validation share")
        empty = EmptySplit(f"seed set {name or output_uri}: the split would leave "
                           f"train={len(rows['train'])}, validation={len(rows['validation'])} "
                           f"of {len(kept_labels)} valid labels (rejected: {dict(rejected)}, "
                           f"each with its reasons in {files['rejected']}); no seed set "
                           f"written (training could not use it): {way_out}")
        empty.no_valid_label = not kept_labels and bool(rejected_rows)
        publish_staged(publishing, {files["rejected"]: staged[files["rejected"]]})
        raise empty
    try:
        checksums.update({split: write_jsonl(staged[files[split]], rows[split]) for split in rows})
    except BaseException:
        remove_all(list(staged.values()))
        raise
    if expect_valid is not None and len(kept_labels) != expect_valid:
        remove_all(list(staged.values()))  # refused before anything is published
        raise LabelsChanged(f"seed set {name or output_uri}: {len(kept_labels)} valid labels, "
                            f"but validate passed {expect_valid}: the labels changed since")
    sample_info = sample_info or {}
    sizes = {
        "snapshot_docs": sample_info.get("snapshot_docs"), "sampled": sampled,
        "valid": len(kept_labels), "rejected": len(rejected_rows),
        "train": len(rows["train"]), "validation": len(rows["validation"]),
        "input_quarantined": sample_info.get("input_quarantined", {}),
    }  # fmt: skip
    if sample_info.get("input_quarantine"):  # the input's bad records, with their reasons
        files["input_quarantine"] = sample_info["input_quarantine"]
    info = SeedSetInfo(
        name=name or f"seed-{teacher.get('name', 'teacher')}-{version}", version=version,
        # absolute, as every file of it: the catalog row and the manifest are read by other
        # processes (training, the report) that do not share this one's folder
        uri=to_uri(output_uri), manifest_uri=join_uri(output_uri, "manifest.json"), files=files,
        teacher=teacher, sizes=sizes,
        label_distribution=label_distribution(kept_labels, kept_texts),
        rejected_reasons=dict(rejected), strata=sample_info.get("strata", {}), usage=usage,
        input_text_candidates=sample_info.get("text_candidates") or {},
    )  # fmt: skip
    manifest = {"format": SEED_SET_FORMAT, **info.to_dict(), "seed": seed,
                "val_fraction": val_fraction, "sha256": checksums,
                # relative names, as prox_tasks.training.seedset.load_seed_set reads them
                "splits": {"train": "train.jsonl.gz", "validation": "validation.jsonl.gz"}}  # fmt: skip
    manifest.pop("catalog_id")
    manifest.pop("usage")  # run-dependent (cache hits): reported, not part of the content
    manifest.pop("input_text_candidates")  # said by the summary; the manifest keeps its keys
    # the manifest last: it makes the seed set visible (training, the catalog read it)
    publish_staged(publishing, {files[split]: staged[files[split]] for split in checksums},
                   info.manifest_uri, manifest, indent=2)
    # every part labeled, its checkpoints cleared: the emptied labels/_checkpoints/ goes too
    remove_empty_checkpoint_folders(labels_uri(output_uri))
    if register:
        info.catalog_id = register_in_catalog(
            info, catalog, "name=" if name else DEFAULT_NAME_TAKEN)
    return info


def index_warc_for_sample(warc_uris: list[str], sample_files: list[str], output_uri: str,
                          caller: str = "cli") -> tuple[str, dict]:  # fmt: skip
    """Index ``warc_uris`` once for every part of a seed set: the HTML responses its sampled
    WET records refer to (``WARC-Refers-To``), saved as ``<output_uri>/sample/warc-index.json``
    (:func:`prox_tasks.labeling.warc.write_index`), so labeling each part reads the responses
    it needs without indexing every WARC file again (~18 CPU-s per GB each). ``caller``
    (``cli`` or ``dag``): how its messages name the WARC files.

    Returns:
        ``(the index's URI, {"html_responses", "indexed"})``.

    Raises:
        ValueError: A WARC file that cannot be read (cut, not WARC), naming it.
    """
    from prox_tasks.labeling.warc import write_index
    from prox_tasks.storage import join_uri

    refers_to = {str(row.get("refers_to") or "").strip("<>")
                 for uri in sample_files for row in iter_jsonl(uri)} - {""}  # fmt: skip
    index_uri = join_uri(output_uri, "sample", "warc-index.json")
    return index_uri, write_index(list(warc_uris), refers_to, index_uri, caller)


def build_seed_set(
    input_uri: str,
    output_uri: str,
    teacher: Teacher,
    sample_size: int = 5000,
    seed: int = 0,
    val_fraction: float = 0.1,
    *,
    name: str | None = None,
    text_field: str = "text",
    id_field: str = "id",
    gold_field: str = "gold_text",
    html_field: str = "html",
    group_field: str = "source",
    register: bool = True,
    catalog=None,
    batch_size: int = 64,
    progress=None,
    max_html_bytes: int = DEFAULT_MAX_HTML_BYTES,
    format: str | None = None,
    warc_uris: list[str] | None = None,
    take_over: bool = False,
) -> SeedSetInfo:
    """Sample, label, validate, split and write a seed set in one process (see module docs).

    Work files stay in the seed-set folder: ``sample/`` (the sampled documents) and
    ``labels/`` (every label with its metadata and validation, as ``prox label`` writes).

    Args:
        input_uri: Snapshot to sample from (anything ``read_documents`` reads).
        output_uri: Folder to write the seed set into (path, ``file://``, ``s3://``).
        teacher: A teacher from :func:`prox_tasks.labeling.get_teacher`.
        sample_size: Documents to sample (all of them when the snapshot is smaller).
        seed: Seed of the sampling and of the split.
        val_fraction: Share of the labeled documents in the validation split.
        name: Catalog name (default ``seed-<teacher>-<version>``).
        text_field, id_field: Input fields.
        format: How the input files are read (jsonl, parquet, wet; None: by their names).
        gold_field: Clean text field (needed by the ``diff`` teacher; copied when present).
        html_field: The page HTML's field (read by the ``html`` and ``best`` teachers).
        group_field: Row field stratified by (else the URL's domain).
        register: Register in the catalog (guarded: skipped when the package is missing).
        catalog: ``Catalog``, URL, or None for the default catalog.
        batch_size: Documents per ``label_many`` call.
        max_html_bytes: HTML over this is not extracted (:func:`label_corpus`).
        warc_uris: The WARC files of a WET input: a sampled row without ``html_field`` takes
            the HTML of the response its ``WARC-Refers-To`` names, as :func:`label_corpus`
            joins them (indexed once, :func:`index_warc_for_sample`).
        progress: A bar (``reset(total)``, ``update``) over the sampled documents, or None.
        take_over: Take the folder's labeling claim over from another run (``prox label
            --take-over``: an operator says that run is gone).

    Returns:
        :class:`SeedSetInfo`.

    Raises:
        ValueError: For a bad ``val_fraction`` or ``sample_size``, a ``name`` that is not one
            safe path component (:class:`~prox_tasks.storage.names.InvalidName`, as the seed
            DAG's ``seed_set_name``), or an input without documents
            (MissingTeacherInput: without what a diff/html teacher reads, before sampling).
        prox_tasks.labeling.run_claim.SeedSetBusy: another run labels ``output_uri`` now
            (before anything is sampled or labeled), or took this run's claim over while it
            labeled (:class:`~prox_tasks.labeling.run_claim.ClaimTakenOver`: nothing more
            is published).
    """
    from prox_tasks.storage import join_uri
    from prox_tasks.storage.names import check_name

    check_split_settings(sample_size, val_fraction)
    if name is not None:  # before any work: the catalog refuses it after the labeling
        check_name(name, "seed-set name")
    probe_teacher_input(input_uri, teacher, text_field, id_field, gold_field, html_field,
                        warc_uris=warc_uris, format=format)
    # one labeling run per folder: a second one beside it would pay for every label twice
    with labeling_claim(output_uri, take_over=take_over) as held:
        sample = sample_documents(input_uri, join_uri(output_uri, "sample"), sample_size, seed,
                                  text_field=text_field, id_field=id_field, group_field=group_field,
                                  format=format)  # fmt: skip
        warn_of_gold_pages(sample["files"], name or output_uri)
        joins = {}
        if warc_uris:
            index_uri, _ = index_warc_for_sample(warc_uris, sample["files"], output_uri)
            joins = {"warc_uris": list(warc_uris), "warc_index": index_uri}
        label_files, quarantine_files = [], []
        if progress is not None:
            progress.reset(total=sample["sampled"])
        for i, uri in enumerate(sample["files"]):
            part = label_part(uri, output_uri, i, teacher, gold_field=gold_field,
                              batch_size=batch_size, html_field=html_field, progress=progress,
                              max_html_bytes=max_html_bytes, check=held.check,
                              publishing=held.publishing, **joins)
            if part["reused"] and progress is not None:
                progress.update(part["read"])
            label_files.append(part["output"])
            quarantine_files.append(part["quarantine"])
        usage = getattr(teacher, "usage", None)
        held.check()  # the splits and manifest: of the run that holds the folder
        return assemble_seed_set(
            sample["files"], label_files, output_uri, teacher.describe(), seed, val_fraction,
            name=name, gold_field=gold_field, html_field=html_field, sample_info=sample,
            usage=usage.to_dict() if usage is not None else None, register=register, catalog=catalog,
            quarantine_files=quarantine_files, publishing=held.publishing,
        )  # fmt: skip
