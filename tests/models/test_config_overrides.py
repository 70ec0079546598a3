"""Architecture overrides (``--tagger-config``, ``--tiny-config``) are checked field by field."""

from __future__ import annotations

import pytest

from prox_tasks.models.config_overrides import checked_overrides
from prox_tasks.models.line_tagger import TaggerConfig
from prox_tasks.models.tiny_lm import TinyLMConfig


def test_the_fields_given_replace_the_defaults():
    config = checked_overrides(TaggerConfig, {"dilations": [1, 2], "section_channels": 8,
                                              "rules_head": True, "line_threshold": 1},
                               "--tagger-config")  # fmt: skip
    assert config == TaggerConfig(dilations=(1, 2), section_channels=8, rules_head=True,
                                  line_threshold=1.0)  # fmt: skip
    assert checked_overrides(TinyLMConfig, None, "--tiny-config") == TinyLMConfig()


@pytest.mark.parametrize(("overrides", "message"), [
    ({"dilation": [1, 2]}, "unknown field 'dilation' (did you mean 'dilations'?)"),
    ({"dilations": 3}, "'dilations' must be a list of whole numbers of at least 1"),
    ({"dilations": [1, 0]}, "'dilations' must be a list of whole numbers of at least 1"),
    ({"section_channels": -1}, "'section_channels' must be a whole number of at least 0"),
    ({"hidden": 0}, "'hidden' must be a whole number of at least 1"),
    ({"hidden": 64.5}, "'hidden' must be a whole number"),
    ({"rules_head": 1}, "'rules_head' must be true or false"),
    ({"line_threshold": 2}, "'line_threshold' must be a number from 0 to 1"),
    ([1, 2], "must be a JSON object of fields"),
])  # fmt: skip
def test_a_field_the_architecture_lacks_or_a_value_of_another_kind_is_refused(overrides, message):
    with pytest.raises(ValueError, match=r"^--tagger-config") as caught:
        checked_overrides(TaggerConfig, overrides, "--tagger-config")
    assert message in str(caught.value)


def test_every_architecture_the_bench_trains_passes_no_dilations_included():
    """The checker refused ``{"dilations": []}`` ("a non-empty list"), an architecture that
    trains and refines (no context layer: each line on its own; ``prox train
    --tagger-config '{"dilations": []}'`` published a model before the check): the ablation
    bench/train.py's ``tagger-nocontext`` trains, which it now builds through the same check
    as ``prox train`` (one implementation), as every variant's overrides."""
    import bench.train

    assert checked_overrides(TaggerConfig, {"dilations": []}, "x").dilations == ()
    for overrides, _docs, _epochs in bench.train.TAGGER_VARIANTS.values():
        checked_overrides(TaggerConfig, overrides, "x")
    for *_, arch in bench.train.MIX_VARIANTS.values():
        checked_overrides(TaggerConfig, arch, "x")
