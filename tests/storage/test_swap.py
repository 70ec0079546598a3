"""replace_if: read, decide, replace as one step per writer (local locks, S3 conditional PUT)."""

from __future__ import annotations

import multiprocessing

import pytest

from prox_tasks.storage import put_atomic, read_bytes
from prox_tasks.storage.swap import ContendedError, replace_if

PROCESSES, INCREMENTS = 4, 25


def increment(raw: bytes | None) -> bytes:
    return str(int(raw or b"0") + 1).encode()


def _increments(path: str) -> None:
    for _ in range(INCREMENTS):
        replace_if(path, increment)


def test_local_writers_racing_in_processes_lose_no_update(tmp_path):
    counter = str(tmp_path / "pointer" / "counter.txt")
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_increments, args=(counter,)) for _ in range(PROCESSES)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0] * PROCESSES
    assert read_bytes(counter) == str(PROCESSES * INCREMENTS).encode()
    # the lock file is hidden beside the target, nothing else is left
    assert sorted(p.name for p in (tmp_path / "pointer").iterdir()) == [".counter.txt.lock",
                                                                        "counter.txt"]


def test_local_decide_none_leaves_the_file(tmp_path):
    target = tmp_path / "latest.json"
    assert replace_if(target, lambda raw: None) is False
    assert not target.exists()
    assert replace_if(target, lambda raw: b"one") is True
    assert replace_if(target, lambda raw: None if raw == b"one" else b"two") is False
    assert target.read_bytes() == b"one"


def test_s3_a_writer_that_lost_the_race_decides_again_on_the_winners_content(s3_bucket):
    uri = f"{s3_bucket}/releases/latest.json"
    put_atomic(uri, b"1")
    seen = []

    def decide(raw):
        seen.append(raw)
        if len(seen) == 1:  # another writer replaces it between this read and this write
            put_atomic(uri, b"10")
        return increment(raw)

    assert replace_if(uri, decide) is True
    assert seen == [b"1", b"10"]  # the conditional PUT on the ETag of b"1" was refused
    assert read_bytes(uri) == b"11"


def test_s3_a_new_object_is_created_only_if_still_absent(s3_bucket):
    uri = f"{s3_bucket}/new/latest.json"
    seen = []

    def decide(raw):
        seen.append(raw)
        if len(seen) == 1:
            put_atomic(uri, b"5")  # created by another writer after this one found nothing
        return increment(raw)

    assert replace_if(uri, decide) is True
    assert seen == [None, b"5"]
    assert read_bytes(uri) == b"6"
    assert replace_if(uri, lambda raw: None) is False
    assert read_bytes(uri) == b"6"


def test_s3_gives_up_when_every_attempt_loses(s3_bucket):
    uri = f"{s3_bucket}/busy/latest.json"
    put_atomic(uri, b"0")
    rivals = iter(range(1, 100))

    def decide(raw):
        put_atomic(uri, str(next(rivals)).encode())  # a rival wins every time
        return b"mine"

    with pytest.raises(ContendedError, match="3 conditional writes in a row"):
        replace_if(uri, decide, attempts=3)
    assert read_bytes(uri) == b"3"


@pytest.mark.parametrize("where", ["local", "s3"])
def test_remove_if_removes_only_what_decide_chose_even_when_replaced_meanwhile(
    where, tmp_path, request
):
    """:func:`remove_if` (a publish undoing its own done record): the file is removed only
    while ``decide`` says so of what it holds; on S3 another writer's object put between
    the read and the delete is not deleted (DeleteObject If-Match the ETag read: moto over
    HTTP) but read and decided again."""
    from prox_tasks.storage.swap import remove_if

    root = str(tmp_path) if where == "local" else request.getfixturevalue("s3_bucket")
    uri = f"{root}/labels/labels-00000.done.json"
    assert remove_if(uri, lambda raw: True) is False  # nothing there
    put_atomic(uri, b'{"publish_token": "theirs"}')
    assert remove_if(uri, lambda raw: b"mine" in raw) is False
    assert read_bytes(uri) == b'{"publish_token": "theirs"}'
    put_atomic(uri, b'{"publish_token": "mine"}')
    seen = []

    def decide(raw):
        seen.append(raw)
        if where == "s3" and len(seen) == 1:  # another writer's record lands right after
            put_atomic(uri, b'{"publish_token": "theirs"}')  # the read (S3 has no lock)
        return b"mine" in raw

    removed = remove_if(uri, decide)
    if where == "s3":
        assert not removed and seen[-1] == b'{"publish_token": "theirs"}'
        assert read_bytes(uri) == b'{"publish_token": "theirs"}'
    else:
        assert removed
        with pytest.raises(FileNotFoundError):
            read_bytes(uri)
