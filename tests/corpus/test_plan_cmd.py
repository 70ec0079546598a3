"""``prox plan``: writes the manifest and registers the snapshot in the catalog."""

import json

from prox_tasks.catalog import Catalog
from prox_tasks.cli import main
from prox_tasks.corpus import load_manifest
from tests.corpus.conftest import write_jsonl


def test_prox_plan_writes_the_manifest_and_registers_it(tmp_path, sample_rows, capsys):
    inp = write_jsonl(tmp_path / "in.jsonl", sample_rows)
    url = f"sqlite:///{tmp_path}/cat.sqlite"
    args = ["plan", "--json", "--input", inp, "--output", str(tmp_path / "out"), "--target-docs", "15",
            "--snapshot", "snap-1", "--catalog", url]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    manifest = load_manifest(str(tmp_path / "out"))
    assert (summary["shards"], summary["docs"], summary["id"]) == (3, 40, manifest.id)
    catalog = Catalog(url)
    assert [s["docs_planned"] for s in catalog.get_shards("snap-1")] == [15, 15, 10]
    assert main(args) == 0  # the same plan again: fine
    capsys.readouterr()
    assert main([*args[:-4], "--target-docs", "7"]) == 1  # a different plan: refused
    out = capsys.readouterr()
    assert out.out == "" and out.err.startswith("prox plan: ") and "holds another plan" in out.err
    assert len(out.err.strip().splitlines()) == 1


def test_a_snapshot_name_booked_elsewhere_is_refused_before_planning(tmp_path, sample_rows,
                                                                      capsys):
    inp = write_jsonl(tmp_path / "in.jsonl", sample_rows)
    url = f"sqlite:///{tmp_path}/cat.sqlite"
    assert main(["plan", "--input", inp, "--output", str(tmp_path / "first"), "--snapshot",
                 "crawl", "--catalog", url]) == 0
    assert main(["plan", "--input", inp, "--output", str(tmp_path / "second"), "--snapshot",
                 "crawl", "--catalog", url]) == 2  # a setting to fix: exit 2, said as written
    err = capsys.readouterr().err
    assert err.startswith("prox plan: snapshot name 'crawl' is booked for"), err
    assert "name this one apart (--name)" in err  # the primary spelling (prox gate: --snapshot is the folder)
    assert not (tmp_path / "second").exists()  # no plan left behind
