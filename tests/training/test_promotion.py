"""decide_promotion: the decision is taken against the model promoted when it is decided,
measured again when another promotion overtakes it, a bounded number of times."""

from __future__ import annotations

from prox_tasks.registry import ModelRegistry
from prox_tasks.training.promotion import MAX_ROUNDS, decide_promotion
from tests.registry.test_registry import GOOD, make_artifact


def publish(registry, folder, payload: bytes) -> str:
    return registry.publish(make_artifact(folder, payload), "refiner", "line_tagger", {}, {},
                            GOOD)["version"]


def test_a_candidate_overtaken_every_round_is_measured_again_then_left_refused(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    candidate = {"name": "refiner", "version": publish(registry, tmp_path / "c", b"c"),
                 "metrics": GOOD}
    measured_against = []

    def measure_while_another_run_promotes():
        current = registry.promoted("refiner")
        measured_against.append(current and current["version"])
        other = publish(registry, tmp_path / f"o{len(measured_against)}",
                        str(len(measured_against)).encode())
        assert registry.decide("refiner", other, GOOD, None,
                               incumbent_version=_version(current)).promoted
        return {"incumbent": _version(current), "metrics": None, "gold": None}

    decision, measured = decide_promotion(registry, candidate,
                                          measure_while_another_run_promotes)
    assert len(measured_against) == MAX_ROUNDS  # measured again each time, then gave up
    assert not decision.promoted and "promoted meanwhile" in decision.reason
    # the measurement the last refusal was taken on (prox train reports its incumbent
    # metrics and gold from it: None here failed the run with a TypeError)
    assert measured is not None and measured["incumbent"] == measured_against[-1]
    assert len(set(measured_against)) == MAX_ROUNDS  # each round against the newest model


def test_a_measurement_still_current_is_decided_on_without_measuring(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    incumbent = publish(registry, tmp_path / "a", b"a")
    assert registry.decide("refiner", incumbent, GOOD, None).promoted
    candidate = {"name": "refiner", "version": publish(registry, tmp_path / "c", b"c"),
                 "metrics": {**GOOD, "line_f1": 0.95}}
    before = {"incumbent": incumbent, "metrics": GOOD, "gold": None}

    def measure():
        raise AssertionError("measured again")

    decision, measured = decide_promotion(registry, candidate, measure, measured=before)
    assert decision.promoted and decision.incumbent == incumbent and measured is before


def _version(record):
    return record and record["version"]
