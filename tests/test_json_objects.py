"""Files that must hold one JSON object: one parse and one wording of what is wrong with
them (:mod:`prox_tasks.json_objects`), each reader raising its own error from it."""

from __future__ import annotations

import pytest

#: Bytes that are no JSON object, and the words every reader now says of them.
BROKEN = {
    "cut short": (b'{"model_type": "llama", ', "not JSON: Expecting property name"),
    "not UTF-8": (b'{"a": "\xff"}', "not JSON: 'utf-8' codec can't decode byte 0xff"),
    "a list": (b"[1, 2]", "a JSON list, not an object"),
}


def _readers(tmp_path):
    """Each reader of a file that must be one JSON object: (its error, read(bytes))."""
    from prox_tasks.models.artifact import (
        ArtifactRecordDamaged,
        RefinerSettingsDamaged,
        artifact_record,
        refiner_settings,
    )
    from prox_tasks.refine.options import NotAModelFolder, _read_config
    from prox_tasks.registry.registry import DecisionRecordDamaged, read_decision

    def from_file(read):
        def reading(raw: bytes):
            path = tmp_path / "file.json"
            path.write_bytes(raw)
            return read(str(path))
        return reading

    return {
        "config.json": (NotAModelFolder, from_file(_read_config)),
        "decision record": (DecisionRecordDamaged, from_file(read_decision)),
        "refiner.json": (RefinerSettingsDamaged, lambda raw: refiner_settings(raw, "refiner.json")),
        "artifact.json": (ArtifactRecordDamaged, lambda raw: artifact_record(raw, "artifact.json")),
    }


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_every_reader_of_a_json_object_says_what_is_wrong_alike_under_its_own_error(case,
                                                                                    tmp_path):
    """A model's config.json, a registry's decision record, a refiner.json and an
    artifact.json were each parsed and checked to be an object by code of their own, two of
    them saying it another way (``not JSON (…)``, ``not JSON: …``). One parse says it for
    all now (:func:`~prox_tasks.json_objects.json_object`), each reader keeping its own
    error (what a caller catches: a model to fix, a damaged record) and advice."""
    from prox_tasks.json_objects import NotAJSONObject, json_object

    raw, said = BROKEN[case]
    with pytest.raises(NotAJSONObject, match="^" + said):
        json_object(raw)
    assert json_object(b'{"a": 1}') == {"a": 1}
    for name, (error, read) in _readers(tmp_path).items():
        with pytest.raises(error) as refused:
            read(raw)
        assert said in str(refused.value), (name, str(refused.value))
        assert not isinstance(refused.value, NotAJSONObject), name  # the reader's own error
