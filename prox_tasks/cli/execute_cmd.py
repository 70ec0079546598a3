"""``prox execute``: run the programs stored in JSONL rows over their text."""

from __future__ import annotations

import gzip
import json
import sys
from collections import Counter
from pathlib import Path

from prox_tasks.programs import Policy, execute


def _open(path: str, mode: str):
    """Binary for reading (each line is decoded on its own), UTF-8 text for writing."""
    if path == "-":
        return sys.stdin.buffer if "r" in mode else sys.stdout
    if path.endswith(".gz"):
        return gzip.open(path, "rb") if "r" in mode else gzip.open(path, "wt", encoding="utf-8")
    return open(path, "rb") if "r" in mode else open(path, "w", encoding="utf-8")


def execute_rows(
    input_path: str,
    output_path: str,
    quarantine_path: str,
    text_field: str = "text",
    policy: Policy | None = None,
) -> dict:
    """Execute ``doc_program``/``chunk_program`` of every row; bad rows go to quarantine.

    Returns:
        Counts: read, written, quarantined, dropped, and program errors by kind.
    """
    policy = policy or Policy()
    counts: Counter = Counter()
    errors: Counter = Counter()
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    with (
        _open(input_path, "r") as src,
        _open(output_path, "w") as out,
        open(quarantine_path, "w", encoding="utf-8") as bad,
    ):
        for lineno, raw in enumerate(src):
            if not raw.strip():
                continue  # blank lines are not documents
            counts["read"] += 1
            line = raw.decode("utf-8", errors="replace")
            try:
                row = json.loads(raw.decode("utf-8"))
                if not isinstance(row, dict) or not isinstance(row.get(text_field), str):
                    raise ValueError(f"row has no string field {text_field!r}")
            except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                reason = f"{type(err).__name__}: {err}"
                bad.write(json.dumps({"line": lineno, "reason": reason, "raw": line[:10000]}) + "\n")
                counts["quarantined"] += 1
                continue
            result = execute(
                row[text_field], row.get("doc_program"), row.get("chunk_program"), policy=policy
            )
            errors.update(result.stats.errors)
            row[text_field] = result.text
            row["dropped"] = result.dropped
            row["stats"] = result.stats.to_dict()
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            counts["written"] += 1
            counts["dropped"] += result.dropped
    assert counts["read"] == counts["written"] + counts["quarantined"]
    return {**counts, "program_errors": dict(errors)}


def run(args) -> int:
    quarantine = args.quarantine or args.output.removesuffix(".gz") + ".quarantine.jsonl"
    policy = Policy(normalize_scope=args.normalize_scope)
    summary = execute_rows(args.input, args.output, quarantine, args.text_field, policy)
    print(json.dumps(summary))
    return 0


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=__doc__)
    p.add_argument("--input", required=True, help="JSONL(.gz) rows with text and programs")
    p.add_argument("--output", required=True, help="refined JSONL(.gz); dropped rows keep text=null")
    p.add_argument("--quarantine", help="where malformed rows go (default: OUTPUT.quarantine.jsonl)")
    p.add_argument("--text-field", default="text")
    p.add_argument("--normalize-scope", choices=["chunk", "document"], default="chunk")
    p.set_defaults(func=run)
