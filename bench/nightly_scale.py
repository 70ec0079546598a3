"""A nightly refresh at scale, stage by stage: plan, refine, gate, release, the report.

A corpus of ``--docs`` documents is built from the real pages of ``DATA_DIR``
(``bench/datadir.py``): page ``i % P`` cut to a window of ``--lines`` lines that moves with
each copy, under a new id, written as ``--files`` JSONL.gz parts. Each stage is the real
``prox`` command in its own process (``prox plan``, ``prox refine --workers 2``, ``prox
gate``, ``prox release``), on local disk and on S3 (moto's server on 127.0.0.1 in its own
process, counting the requests it serves: ``bench/counting_s3.py``), with a SQLite catalog.
Per stage: wall seconds, the peak RSS of the command's own process and of the largest
process it started (a worker, the fork server; ``VmHWM`` sampled from ``/proc`` every 0.2 s), the S3 requests by
operation, and the temporary disk the stage used at most (the command's ``TMPDIR``, sampled).
With ``--compare TREE`` the gate runs again over the same snapshot with that checkout's
code, alternating with this one's (``--repeats`` runs of each). Usage::

    python bench/nightly_scale.py --docs 200000 --shards 500 --store local,s3
    python bench/nightly_scale.py --docs 40000 --shards 500 --store s3 --compare /tmp/base
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from datadir import COLLECTIONS, find  # noqa: E402

from prox_tasks.cli.arguments import positive_int  # noqa: E402


def pages(data: Path) -> list[list[str]]:
    """Every page of ``data``'s collections with at least 8 lines, as its lines."""
    from prox_tasks.corpus import read_rows

    out = []
    for path in sorted(data.glob(COLLECTIONS)):
        for _, _, row in read_rows(str(path)):
            lines = [x for x in str(row.get("text") or "").splitlines() if x.strip()]
            if len(lines) >= 8:
                out.append(lines)
    return out


def build_corpus(folder: Path, data: Path, docs: int, files: int, lines: int) -> int:
    """Write ``docs`` documents as ``files`` JSONL.gz parts; returns the compressed bytes."""
    found = pages(data)
    folder.mkdir(parents=True, exist_ok=True)
    per_file = -(-docs // files)
    total = 0
    for f in range(files):
        path = folder / f"part-{f:05d}.jsonl.gz"
        with gzip.open(path, "wt", compresslevel=1) as out:
            for i in range(f * per_file, min(docs, (f + 1) * per_file)):
                page = found[i % len(found)]
                copy = i // len(found)
                start = (copy * 7) % max(1, len(page) - lines + 1)
                text = "\n".join(page[start:start + lines])
                out.write(json.dumps({"id": f"doc-{i:08d}", "text": text}) + "\n")
        total += path.stat().st_size
    return total


def vm_hwm(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def descendants(pid: int) -> list[int]:
    """``pid``'s processes below it, from /proc (the workers, the fork server)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def disk_use(folder: Path) -> int:
    total = 0
    for dirpath, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                pass
    return total


def run_stage(name: str, argv: list[str], tmp: Path, s3=None, code: Path = ROOT) -> dict:
    """Run one ``prox`` command with the code at ``code``; its figures."""
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if s3 is not None:
        s3.counts(reset=True)
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(code)}
    start = time.perf_counter()
    command = [sys.executable, *argv] if argv[0] == "-c" else \
        [sys.executable, "-m", "prox_tasks.cli", *argv, "--no-progress"]  # fmt: skip
    # run from the code's folder: `python -m` puts the working folder first on sys.path
    proc = subprocess.Popen(command, env=env, cwd=code, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    own, others, tmp_peak, status, usage = 0, 0, 0, None, None
    while status is None:
        own = max(own, vm_hwm(proc.pid) or 0)
        others = max([others, *(vm_hwm(p) or 0 for p in descendants(proc.pid))])
        tmp_peak = max(tmp_peak, disk_use(tmp))
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == 0:
            status = None
            time.sleep(0.2)
    seconds = time.perf_counter() - start
    out, err = proc.stdout.read(), proc.stderr.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{name} failed ({code}): {' '.join(argv)}\n{err[-3000:]}")
    row = {"stage": name, "seconds": round(seconds, 2), "own_peak_mib": round(own / 1024),
           "others_peak_mib": round(others / 1024), "tmp_peak_mib":
           round(tmp_peak / 2**20, 1), "line": out.strip().splitlines()[-1][:200] if out else ""}
    if s3 is not None:
        row["s3"] = s3.counts()
    return row


def gate_json_digest(output_uri: str) -> str:
    """The first 16 hex digits of the SHA-256 of the snapshot's ``_quality/gate.json``."""
    import hashlib

    from prox_tasks.storage import join_uri, read_bytes

    return hashlib.sha256(read_bytes(join_uri(output_uri, "_quality", "gate.json"))
                          ).hexdigest()[:16]


def nightly(store: str, corpus: Path, work: Path, args, s3=None) -> list[dict]:
    """plan, refine, gate, release one snapshot; the report's queries after."""
    if store == "s3":
        from prox_tasks.storage import get_client

        client = get_client()
        for path in sorted(corpus.iterdir()):
            client.upload_file(str(path), "bench", f"in/{path.name}")
        source, out, root = "s3://bench/in/", "s3://bench/out/snap", "s3://bench/releases"
    else:
        source, out, root = str(corpus), str(work / "out" / "snap"), str(work / "releases")
    name = f"nightly-{store}"
    target = -(-args.docs // args.shards)
    tmp = work / "tmp"
    rows = [
        run_stage("plan", ["plan", "--input", source, "--output", out, "--target-docs",
                           str(target), "--name", name], tmp, s3),
        run_stage("refine", ["refine", "--input", source, "--output", out, "--model", "default",
                             "--workers", str(args.workers), "--threads", "1", "--name", name],
                  tmp, s3),
        run_stage("refine again (all published)", ["refine", "--input", source, "--output", out,
                                                   "--workers", str(args.workers), "--threads",
                                                   "1", "--name", name], tmp, s3),
        run_stage("gate", ["gate", "--snapshot", out, "--name", name], tmp, s3),
    ]
    # alternating after the first: the other code, this, the other, ... (--repeats each);
    # the release's reads (check_releasable: every shard's record and file) likewise
    alternating = [args.compare, ROOT] * args.repeats if args.compare else []
    rows[-1]["gate_json"] = gate_json_digest(out)
    for code in alternating[:-1]:
        rows.append(run_stage(f"gate ({code.name})", ["gate", "--snapshot", out, "--name", name],
                              tmp, s3, code))
        # each code's verdict byte for byte: the same digest, or the gate's result changed
        rows[-1]["gate_json"] = gate_json_digest(out)
    check = ["-c", "import sys; from prox_tasks.release import check_releasable; "
             "print(len(check_releasable(sys.argv[1])[1]), 'shards checked')", out]
    for code in alternating[::-1]:
        rows.append(run_stage(f"release check ({code.name})", check, tmp, s3, code))
    rows += [
        run_stage("release", ["release", "--snapshot", out, "--root", root, "--name", name,
                              "--partition", "2026-12-07"], tmp, s3),
        run_stage("release again", ["release", "--snapshot", out, "--root", root, "--name", name,
                                    "--partition", "2026-12-07"], tmp, s3),
    ]
    for row in rows:
        row["store"] = store
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=positive_int, default=200_000,
                        help="documents of the snapshot (default 200,000)")
    parser.add_argument("--shards", type=positive_int, default=500,
                        help="shards it is planned into (default 500)")
    parser.add_argument("--files", type=positive_int, default=50,
                        help="JSONL.gz input files (default 50)")
    parser.add_argument("--lines", type=positive_int, default=30, help="lines a document")
    parser.add_argument("--workers", type=positive_int, default=2,
                        help="prox refine --workers (default 2)")
    parser.add_argument("--store", default="local,s3",
                        help="comma-separated stores run: local disk, s3 (moto over HTTP)")
    parser.add_argument("--data", type=Path, default=find(),
                        help="DATA_DIR, the pages the documents are cut from (bench/README.md, "
                        "Data for the benches; default $PROX_BENCH_DATA)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/prox-nightly-scale"),
                        help="folder for the corpus and each store's run")
    parser.add_argument("--compare", type=Path, help="another checkout whose prox gate runs "
                        "over the same snapshot, alternating with this one's")
    parser.add_argument("--repeats", type=positive_int, default=2,
                        help="gate runs of each code with --compare")
    args = parser.parse_args()
    corpus = args.work / "corpus"
    if not corpus.is_dir():
        start = time.perf_counter()
        size = build_corpus(corpus, args.data, args.docs, args.files, args.lines)
        print(f"corpus: {args.docs} documents, {args.files} files, {size / 2**20:.0f} MiB "
              f"JSONL.gz, built in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    rows = []
    for store in args.store.split(","):
        work = args.work / store
        shutil.rmtree(work, ignore_errors=True)
        os.environ["PROX_HOME"] = str(work / "home")
        if store == "s3":
            from counting_s3 import counting_s3

            with counting_s3() as s3:
                rows += nightly(store, corpus, work, args, s3)
        else:
            rows += nightly(store, corpus, work, args)
        for row in rows:
            if row["store"] == store:
                print(json.dumps(row), flush=True)
    print("| store | stage | s | own peak MiB | largest child's peak MiB | TMPDIR peak MiB | S3 requests |")
    print("|---|---|---:|---:|---:|---:|---|")
    for row in rows:
        s3 = ", ".join(f"{k} {v}" for k, v in sorted((row.get("s3") or {}).items()))
        stage = row["stage"] + (f" (gate.json {row['gate_json']})" if "gate_json" in row else "")
        print(f"| {row['store']} | {stage} | {row['seconds']} | {row['own_peak_mib']} | "
              f"{row['others_peak_mib']} | {row['tmp_peak_mib']} | {s3 or '–'} |")


if __name__ == "__main__":
    main()
