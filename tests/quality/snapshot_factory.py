"""Build small real refined snapshots (planner, executor, shard writer) for gate tests."""

from __future__ import annotations

import json
from pathlib import Path

from prox_tasks.corpus import Quarantine, plan_shards, read_shard, write_refined_shard
from prox_tasks.programs import execute

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()


def doc_text(i: int, lines: int = 6) -> str:
    body = [" ".join(WORDS[(i + j + k) % len(WORDS)] for k in range(8)) + f" {i}-{j}"
            for j in range(lines)]
    return "\n".join(["Home | About | Contact", *body])


def write_input(path: Path, n_docs: int, garbage_lines: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n_docs):
            f.write(json.dumps({"id": f"doc-{i}", "text": doc_text(i)}) + "\n")
        for i in range(garbage_lines):
            f.write("{not json at all " + str(i) + "\n")
    return path


def programs_for(i: int) -> tuple[str, str]:
    """Every 5th document dropped; the rest lose their navigation line."""
    if i % 5 == 4:
        return "drop_doc()", ""
    return "keep_doc()", "remove_lines(line_start=0, line_end=0)"


def refine_snapshot(input_uri: str, output_uri: str, target_docs: int = 10,
                    rewrite=None, programs=programs_for, policy: dict | None = None,
                    model_version=lambda shard: "test") -> list:
    """Plan and refine every shard with ``programs(i)`` (document and chunk program of
    document ``i``) under the executor ``policy`` (recorded in the shard's request, as the
    refine step records it); ``rewrite(row)`` may alter rows before they are written (to
    simulate a broken refiner); ``model_version(shard_index)`` is the version a shard is
    written under (a served model's name, which its server chooses)."""
    manifest = plan_shards(input_uri, output_uri, target_docs=target_docs)
    out = []
    for shard in manifest.shards:
        quarantine = Quarantine()
        rows = []
        for doc in read_shard(manifest, shard.index, quarantine):
            doc_program, chunk_program = programs(int(doc.id.split("-")[1]))
            result = execute(doc.text, doc_program, chunk_program, **(policy or {}))
            row = {"id": doc.id, "text": result.text, "doc_program": doc_program,
                   "chunk_program": chunk_program, "stats": result.stats.to_dict(),
                   "source": doc.source, "offset": doc.offset}
            rows.append(rewrite(row) if rewrite else row)
        out.append(write_refined_shard(output_uri, shard.index, rows, quarantine=quarantine,
                                       model_version=model_version(shard.index),
                                       request={"policy": policy} if policy else None))
    return out


def cataloged_snapshot(src, root, name: str, catalog_url: str, ds: str | None,
                       run_id: str | None = None, **refine) -> dict:
    """Snapshot ``name`` of input ``src`` under ``root``, booked in the catalog at
    ``catalog_url`` and planned as the refine DAG does (``resolve_snapshot``, ``plan``), then
    refined by :func:`refine_snapshot` (``refine``: its options). ``run_id``: a scheduled
    run's of ``ds`` unless given. Returns the snapshot."""
    from prox_tasks.pipeline import refresh

    snapshot = refresh.resolve_snapshot({"input_uri": str(src), "output_root": str(root),
                                         "snapshot_name": name, "catalog_url": catalog_url},
                                        ds, run_id or f"scheduled__{ds}T00:00:00+00:00")
    refresh.plan(snapshot, 10, 1024, "default", None)
    refine_snapshot(str(src), snapshot["output_uri"], **refine)
    return snapshot

