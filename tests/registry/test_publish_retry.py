"""Publishing a version the registry holds already (a retried train or publish task), on a
local folder and on S3 (moto over HTTP): only a damaged file is written again, and on S3 an
intact copy is told from one listing's sizes and ETags, without downloading the model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prox_tasks.registry import ModelRegistry
from prox_tasks.storage import S3Settings, configure_s3, get_client, parse_uri, version_of
from tests.registry.test_registry import GOOD
from tests.storage.conftest import count_gets  # noqa: F401 - GetObject requests by key

MIB = 1 << 20


def _model(folder: Path) -> Path:
    """A model whose weights (11 MiB) go up in three 5 MiB parts (:func:`_small_parts`), as
    a model's weights of 64 MiB and more do at the default part size."""
    folder.mkdir(parents=True)
    (folder / "refiner.json").write_text('{"kind": "line_tagger"}')
    (folder / "model.safetensors").write_bytes(os.urandom(11 * MIB))
    return folder


def _small_parts(endpoint: str, chunk: int = 5 * MIB) -> None:
    """Uploads of 5 MiB and more in ``chunk`` parts (the S3 minimum part size is 5 MiB)."""
    configure_s3(S3Settings(endpoint_url=endpoint, region_name="us-east-1",
                            addressing_style="path", max_attempts=2,
                            multipart_threshold=5 * MIB, multipart_chunksize=chunk))  # fmt: skip


@pytest.fixture
def s3_small_parts(s3_root, moto_endpoint) -> str:
    """``s3_root`` (a fresh bucket), uploads in 5 MiB parts. Before ``count_gets``: a client
    of other settings is another client, whose requests that fixture would not see."""
    _small_parts(moto_endpoint)
    return s3_root


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path) -> str:
    if request.param == "local":
        return str(tmp_path / "registry")
    return request.getfixturevalue("s3_small_parts")


def _put(uri: str, data: bytes) -> None:
    """Write ``data`` over the stored file ``uri`` as a hand or a broken copy would: in place
    locally, one plain PUT on S3."""
    loc = parse_uri(uri)
    if loc.scheme == "s3":
        get_client().put_object(Bucket=loc.bucket, Key=loc.path, Body=data)
    else:
        Path(loc.path).write_bytes(data)


def _read(uri: str) -> bytes:
    loc = parse_uri(uri)
    if loc.scheme == "s3":
        return get_client().get_object(Bucket=loc.bucket, Key=loc.path)["Body"].read()
    return Path(loc.path).read_bytes()


def test_a_retried_publish_of_an_intact_s3_version_downloads_none_of_its_files(
        s3_small_parts, tmp_path, monkeypatch, count_gets):  # noqa: F811  # fmt: skip
    """A publish of a version already there hashed the stored copy to tell whether it was
    intact: on S3 it downloaded the whole model (into the model cache) on every retry. The
    listing's sizes and ETags now vouch for the files: only artifact.json is read."""
    monkeypatch.setenv("PROX_HOME", str(tmp_path / "home"))  # the model cache
    registry, model = ModelRegistry(s3_small_parts), _model(tmp_path / "model")
    first = registry.publish(model, "refiner", "line_tagger", {}, {}, GOOD)
    weights = parse_uri(f"{first['uri']}/model.safetensors")
    etag = get_client().head_object(Bucket=weights.bucket, Key=weights.path)["ETag"]
    assert etag.strip('"').endswith("-3")  # a multipart upload's ETag, not the bytes' MD5
    count_gets.clear()
    again = registry.publish(model, "refiner", "line_tagger", {}, {}, GOOD)
    assert again == first
    assert dict(count_gets) == {parse_uri(f"{first['uri']}/artifact.json").path: 1}
    assert not (tmp_path / "home" / "model-cache").exists()


def test_a_retried_publish_writes_again_only_the_damaged_files(root, tmp_path):
    """Every file is checked against the folder published, a change of the same size
    included; a damaged one is written again, an intact one left as it is, and a file the
    version's artifact.json does not record (an operator's README.md) left alone."""
    registry, model = ModelRegistry(root), _model(tmp_path / "model")
    first = registry.publish(model, "refiner", "line_tagger", {}, {}, GOOD)
    weights, settings = f"{first['uri']}/model.safetensors", f"{first['uri']}/refiner.json"
    readme = f"{first['uri']}/README.md"
    _put(readme, b"# notes\n")
    intact = _read(weights)
    _put(weights, bytes([intact[0] ^ 1]) + intact[1:])  # one bit, the same size
    untouched = version_of(settings), version_of(readme)
    assert registry.damage("refiner", first) is not None
    registry.publish(model, "refiner", "line_tagger", {}, {}, GOOD)
    assert _read(weights) == intact and (version_of(settings), version_of(readme)) == untouched
    _put(settings, b"{}")  # cut short
    untouched = version_of(weights)
    registry.publish(model, "refiner", "line_tagger", {}, {}, GOOD)
    assert _read(settings) == (model / "refiner.json").read_bytes()
    assert version_of(weights) == untouched and _read(readme) == b"# notes\n"
    assert registry.damage("refiner", first) is None


def test_a_publish_over_a_damaged_artifact_json_publishes_the_version_anew(root, tmp_path,
                                                                          caplog):
    """Bad bytes PUT over a published version's artifact.json: the rerun of the training that
    published it (``trained`` warns, then trains again, as docs/training.md promises) failed
    at publish with a bare "JSONDecodeError: Expecting value", and the version stayed
    unloadable. The publish now writes the version anew, its record too, with a warning."""
    registry, model = ModelRegistry(root), _model(tmp_path / "model")
    first = registry.publish(model, "refiner", "line_tagger", {}, {}, GOOD)
    record = f"{first['uri']}/artifact.json"
    weights = f"{first['uri']}/model.safetensors"
    intact = _read(weights)
    _put(record, b"\x00garbage" * 10)
    _put(weights, bytes([intact[0] ^ 1]) + intact[1:])
    with caplog.at_level("WARNING", logger="prox_tasks.registry.registry"):
        again = registry.publish(model, "refiner", "line_tagger", {}, {}, GOOD)
    assert f"{record} is damaged (not JSON" in caplog.text
    assert again["version"] == first["version"] and again["sha256"] == first["sha256"]
    assert _read(weights) == intact and registry.damage("refiner", again) is None
    assert registry.artifact("refiner", first["version"])["sha256"] == first["sha256"]


def test_an_s3_file_whose_etag_says_nothing_of_its_bytes_is_read_not_written_again(
        s3_small_parts, tmp_path, count_gets):  # noqa: F811  # fmt: skip
    """An ETag that is not the one prox's upload gives (the same bytes put in other parts,
    SSE-KMS, some S3-compatible stores) proves nothing either way: the file is read and
    compared, and, being intact, not written again (it would be on every retry)."""
    from boto3.s3.transfer import TransferConfig

    registry, model = ModelRegistry(s3_small_parts), _model(tmp_path / "model")
    first = registry.publish(model, "refiner", "line_tagger", {}, {}, GOOD)
    weights = parse_uri(f"{first['uri']}/model.safetensors")
    get_client().upload_file(str(model / "model.safetensors"), weights.bucket, weights.path,
                             Config=TransferConfig(multipart_threshold=5 * MIB,
                                                   multipart_chunksize=6 * MIB))  # fmt: skip
    other_parts = version_of(weights.uri)
    assert "-2" in other_parts  # two 6 MiB parts: not the three prox's upload makes
    count_gets.clear()
    registry.publish(model, "refiner", "line_tagger", {}, {}, GOOD)
    assert count_gets[weights.path] >= 1 and version_of(weights.uri) == other_parts


def test_an_s3_version_with_files_named_like_hidden_ones_is_intact_and_fetched(
        s3_root, tmp_path, monkeypatch):  # fmt: skip
    """A model file named ``_meta.json`` (or any file under a ``_``/``.`` folder) is recorded
    and published, but fetching an S3 folder left such names out (hidden, as temp files and
    markers are in a corpus): the version counted as damaged on every check — each prox train
    rerun trained it again and rewrote it — and could not be loaded. They are fetched now."""
    from prox_tasks.models.artifact import artifact_version
    from prox_tasks.registry import fetch_folder

    monkeypatch.setenv("PROX_HOME", str(tmp_path / "home"))  # the model cache
    model = tmp_path / "model"
    (model / "_extra").mkdir(parents=True)
    (model / "refiner.json").write_text('{"kind": "line_tagger"}')
    (model / "model.safetensors").write_bytes(b"weights")
    (model / "_meta.json").write_text("{}")
    (model / "_extra" / "table.bin").write_bytes(b"table")
    registry = ModelRegistry(s3_root)
    first = registry.publish(model, "refiner", "line_tagger", {}, {}, GOOD)
    assert first["files"] == ["_extra/table.bin", "_meta.json", "model.safetensors",
                              "refiner.json"]  # fmt: skip
    assert registry.damage("refiner", first) is None
    junk = parse_uri(f"{first['uri']}/.git/objects/pack")  # not recorded: not downloaded
    get_client().put_object(Bucket=junk.bucket, Key=junk.path, Body=b"a copied repository's")
    registry.record_training("refiner", "identity", first["version"], {})
    assert registry.trained("refiner", "identity")["version"] == first["version"]
    fetched = fetch_folder(first["uri"])
    assert (fetched / "_meta.json").read_text() == "{}" and not (fetched / ".git").exists()
    assert artifact_version(fetched) == first["version"]
