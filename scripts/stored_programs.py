"""Attach stored programs to the bundled sample (the interim main job's input).

Pages with human gold get the minimal deletion program derived from it (every line absent
from the gold removed); pages without gold get ``keep_doc()`` and no chunk program.
Usage: ``python scripts/stored_programs.py INPUT.jsonl.gz OUTPUT.jsonl.gz``
"""

import gzip
import json
import sys


def gold_program(text: str, gold: str) -> str:
    gold_lines = {" ".join(x.split()) for x in gold.split("\n") if x.strip()}
    ranges: list[list[int]] = []
    for i, line in enumerate(text.split("\n")):
        if " ".join(line.split()) in gold_lines:
            continue
        if ranges and ranges[-1][1] == i - 1:
            ranges[-1][1] = i
        else:
            ranges.append([i, i])
    return "\n".join(f"remove_lines(line_start={a}, line_end={b})" for a, b in ranges)


def main(src: str, dst: str) -> None:
    with gzip.open(src, "rt", encoding="utf-8") as fin, gzip.open(dst, "wt", encoding="utf-8") as fout:
        for line in fin:
            row = json.loads(line)
            row["doc_program"] = "keep_doc()"
            row["chunk_program"] = gold_program(row["text"], row["gold_text"]) if row.get("gold_text") else None
            fout.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
