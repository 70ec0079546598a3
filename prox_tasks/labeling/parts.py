"""Label parts of a seed set: one sample shard labeled into ``labels/labels-NNNNN.jsonl.gz``
with its quarantine and, written last, ``labels-NNNNN.done.json`` — what the part was made
from (a digest of the sample shard's bytes, the teacher with its settings, the WARC files).

:func:`label_part` is the one implementation ``prox label --seed-set`` and the seed DAG's
mapped ``label_shard`` tasks use: a part an earlier run or try completed from the same
sample shard and teacher is reused as it is (a retry never pays the teacher twice nor
changes the labels); a sample shard whose bytes changed (a document edited) is labeled again.

While a part is labeled, each batch's label rows are checkpointed as the refine step's
batches are (:class:`prox_tasks.refine.checkpoint.CheckpointStore`, under
``labels/_checkpoints/shard-NNNNN/``, fingerprinted with what the part is made from): a run
killed mid-part (SIGKILL, the OOM killer, a lost worker) leaves them, and the rerun made
from the same sample bytes and teacher writes those rows as they are, asking the teacher
(paying an LLM endpoint) only for the rest, so its part is the one an unkilled run writes.
Checkpoints made otherwise are discarded; all are deleted once the part is complete.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter

from prox_tasks.labeling.run import label_corpus
from prox_tasks.labeling.run_claim import (
    publish_staged,
    staged_uri,
    staging_token,
    sweep_staged,
    without_token,
)
from prox_tasks.refine.checkpoint import CheckpointStore
from prox_tasks.storage import compared_uri, exists, join_uri, read_bytes, remove_all


def labels_uri(root: str) -> str:
    """The folder of the seed set at ``root`` its parts are labeled into (and checkpointed
    under, ``labels/_checkpoints/``)."""
    return join_uri(root, "labels")


def part_uris(root: str, index: int) -> tuple[str, str, str]:
    """``(labels, quarantine, done record)`` of part ``index`` of the seed set at ``root``."""
    labels = labels_uri(root)
    return (join_uri(labels, f"labels-{index:05d}.jsonl.gz"),
            join_uri(labels, f"quarantine-{index:05d}.jsonl"),
            join_uri(labels, f"labels-{index:05d}.done.json"))  # fmt: skip


#: ``label_corpus`` options that do not change the labels (left out of the done record)
_NOT_DECIDING = ("progress", "batch_size", "warc_index")  # the index: of the same warc_uris


def made_from(sample_uri: str, teacher: dict, warc_uris=None, **label_options) -> dict:
    """What a part is made from: the sample shard's bytes (byte-stable, see
    :func:`prox_tasks.labeling.sampling.write_jsonl`), the teacher's description, the WARC
    files its HTML comes from and the labeling options that decide labels (fields, the HTML
    cap) — as stored in the done record (JSON round trip)."""
    options = {k: v for k, v in label_options.items() if k not in _NOT_DECIDING}
    made = {"sample_sha256": hashlib.sha256(read_bytes(sample_uri)).hexdigest(),
            "teacher": _without_budgets(teacher), "warc_uris": sorted(warc_uris or []),
            "options": options}  # fmt: skip
    return json.loads(json.dumps(made, sort_keys=True, default=str))


#: Teacher settings that bound the time a label may take, not how it is made: a part
#: labeled with another budget (or by a prox before there was one) is the same labels.
_BUDGETS = frozenset({"extract_timeout"})


def _without_budgets(description):
    """A teacher's description (nested for ``best``) without :data:`_BUDGETS`."""
    if isinstance(description, dict):
        return {k: _without_budgets(v) for k, v in description.items() if k not in _BUDGETS}
    return description


def _as_compared(made: dict) -> dict:
    """A done record as it is compared: its WARC files as :func:`~prox_tasks.storage.same_uri`
    compares them (``--warc crawl/`` is ``--warc crawl``, a shell's completion adds the
    slash; a path is its ``file://`` URI), so a part is reused whichever spelling labeled it;
    without the token of the publish that wrote it (:func:`~prox_tasks.labeling.run_claim.
    without_token`: every publish has its own)."""
    made = without_token(made)
    if not isinstance(made.get("warc_uris"), list):
        return made
    return {**made, "warc_uris": sorted(compared_uri(str(uri)) for uri in made["warc_uris"])}


def reusable(sample_uri: str, uris: tuple[str, str, str], made: dict) -> dict | None:
    """Counts of an earlier run's part when its done record says it was made from ``made``
    and it (labels with quarantine) covers exactly the sample shard's documents; else None."""
    from prox_tasks.labeling.sampling import iter_jsonl

    labels_uri, quarantine_uri, done_uri = uris
    if not all(exists(uri) for uri in uris) or (
            _as_compared(json.loads(read_bytes(done_uri))) != _as_compared(made)):
        return None
    rows = list(iter_jsonl(labels_uri))
    quarantined = list(iter_jsonl(quarantine_uri))
    covered = sorted([str(r["id"]) for r in rows] + [str(q.get("id")) for q in quarantined])
    if covered != sorted(str(d["id"]) for d in iter_jsonl(sample_uri)):
        return None
    return {"read": len(rows) + len(quarantined), "written": len(rows),
            "valid": sum(bool(r["valid"]) for r in rows),
            "rejected": dict(Counter(x for r in rows for x in r.get("rejected") or [])),
            "quarantined": dict(Counter(q["reason"] for q in quarantined)),
            "quarantine": quarantine_uri, "output": labels_uri}  # fmt: skip


def label_part(sample_uri: str, root: str, index: int, teacher, warc_uris=None,
               caller: str = "cli", check=None, publishing=None, **label_options) -> dict:
    """Label sample shard ``sample_uri`` as part ``index`` of the seed set at ``root`` with
    ``teacher`` (:func:`label_corpus`, with ``label_options``), or reuse the part an earlier
    run made from the same bytes and teacher. Returns the labeling's counts with ``reused``.
    ``caller`` (``cli`` or ``dag``) words the messages only: it is no part of what the part
    was made from. ``check`` (the folder's labeling claim:
    :meth:`~prox_tasks.labeling.run_claim.HeldClaim.check`) is called before the part is
    labeled and after each batch, and raises once another run took the claim over: that run
    labels the part, this one stops paying for it. ``publishing`` (the claim's
    :meth:`~prox_tasks.labeling.run_claim.HeldClaim.publishing`) publishes the part only
    while the claim is this run's: its labels and quarantine, written under staged names,
    moved into place and its done record written, the claim checked immediately before (and
    on S3 right after: when it was taken over meanwhile, its done record is removed again
    while it is still this run's; the moved files stay, no part without their record)."""
    check = check or (lambda: None)
    check()
    uris = part_uris(root, index)
    made = made_from(sample_uri, teacher.describe(), warc_uris, **label_options)
    checkpoints = CheckpointStore(labels_uri(root), index, _as_compared(made))
    summary = reusable(sample_uri, uris, made)
    if summary is not None:
        checkpoints.clear()  # a run killed after its done record, before clearing them
        return {**summary, "reused": True}
    labeled_before, batches = {}, 0
    for _, rows in checkpoints.load():  # a killed run's labels, made as these are made
        batches += 1
        for row in rows:
            row.pop("dropped", None)  # a refine checkpoint's field, no label row's
            labeled_before.setdefault(str(row["id"]), row)

    def keep(rows: list[dict]) -> None:
        nonlocal batches
        check()
        checkpoints.save(batches, rows, {})
        batches += 1

    # written under staged names, published (moved into place) only while the claim is this
    # run's: a run cut off meanwhile never replaces the labels of the run that took over
    token = staging_token()
    staged = {uri: staged_uri(uri, token) for uri in uris[:2]}
    if publishing is not None:  # the claim's: no live writer but this one stages this part
        sweep_staged([labels_uri(root)], {uri.rpartition("/")[2] for uri in staged}, but=token)
    # a shard without a gold text or HTML is quarantined, not refused: the seed set's input
    # was probed as a whole before sampling (probe_teacher_input)
    try:
        summary = label_corpus(sample_uri, staged[uris[0]], teacher, quarantine_uri=staged[uris[1]],
                               warc_uris=warc_uris or None, probe_docs=None, caller=caller,
                               labeled_before=labeled_before, on_labeled=keep,
                               **label_options)  # fmt: skip
    except BaseException:
        remove_all(list(staged.values()))  # a quarantine written before the labels failed
        raise
    # the done record last: the part is complete
    publish_staged(publishing, staged, uris[2], made)
    checkpoints.clear()
    return {**summary, "output": uris[0], "quarantine": uris[1], "reused": False}
