"""The tagger's document scan (``TaggerConfig.scan_channels``): the gated recurrence it
computes, at any distance, resettable, never leaking across padding, folded across windows,
used by the network, saved and loaded; off by default (a padded batch and windows of a long
document with a scan: tests/models/test_section_context.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from prox_tasks.models.line_scan import (
    bidirectional_scan,
    fold_windows,
    gated_scan,
    window_summary,
)
from prox_tasks.models.line_tagger import (
    LineTaggerRefiner,
    TaggerConfig,
    config_of,
)
from prox_tasks.training.tagger import TaggerTrainConfig, save_tagger, train_tagger
from tests.models.test_section_context import SMALL, _model, _text


def _sequential(gate_logits, log_values, mask):
    """The recurrence one line at a time (the reference)."""
    import torch

    z, state, out = torch.sigmoid(gate_logits.double()), None, []
    for t in range(gate_logits.shape[1]):
        write = z[:, t] * log_values[:, t].double().exp()
        new = write if state is None else (1 - z[:, t]) * state + write
        state = new if state is None else torch.where(mask[:, t, None], new, state)
        out.append(state)
    return torch.stack(out, 1).log()


def test_the_scan_is_the_recurrence_and_padding_leaves_the_state():
    import torch

    torch.manual_seed(0)
    gates, values = torch.randn(3, 40, 4) * 3, torch.randn(3, 40, 4)
    mask = torch.ones(3, 40, dtype=torch.bool)
    mask[1, 25:] = False
    states, _ = gated_scan(gates, values, mask)
    expected = _sequential(gates, values, mask)
    torch.testing.assert_close(states[mask].double(), expected[mask], rtol=0, atol=5e-5)
    # a padding line keeps the state of the last real line
    torch.testing.assert_close(states[1, 25:], states[1, 24].expand(15, 4), rtol=0, atol=1e-5)


def test_a_write_reaches_any_distance_and_the_next_one_resets_it():
    """Unlike the running maxima of the section context, a later heading overwrites."""
    import torch

    gates = torch.full((1, 3000, 1), -30.0)  # carry: z ~ 1e-13
    values = torch.zeros(1, 3000, 1)
    gates[0, 0], values[0, 0] = 30.0, 5.0  # a heading at the top writes e^5
    gates[0, 2000], values[0, 2000] = 30.0, -5.0  # a later one writes e^-5
    states, _ = gated_scan(gates, values, torch.ones(1, 3000, dtype=torch.bool))
    assert states[0, 1999, 0].item() == pytest.approx(5.0, abs=1e-3)
    # the second write keeps e^MIN_LOG_CARRY of the first state: e^-11 beside e^-5
    assert states[0, 2999, 0].item() == pytest.approx(-5.0, abs=5e-3)


def test_the_bottom_scan_runs_from_the_last_real_line():
    import torch

    torch.manual_seed(2)
    gates = torch.randn(2, 30, 8)
    mask = torch.ones(2, 30, dtype=torch.bool)
    mask[0, 12:] = False
    _, up = bidirectional_scan(gates, mask)
    _, alone = bidirectional_scan(gates[:1, :12], mask[:1, :12])
    torch.testing.assert_close(up[:1, :12], alone, rtol=0, atol=1e-5)


def test_windows_fold_in_the_states_outside_them():
    import torch

    torch.manual_seed(1)
    gates = torch.randn(1, 90, 12) * 3
    mask = torch.ones(1, 90, dtype=torch.bool)
    down, up = bidirectional_scan(gates, mask)
    cuts = [(0, 30), (30, 31), (31, 90)]
    folded = fold_windows([window_summary(gates[:, a:b], mask[:, a:b]) for a, b in cuts])
    for (a, b), (before, after) in zip(cuts, folded):
        d, u = bidirectional_scan(gates[:, a:b], mask[:, a:b], before, after)
        torch.testing.assert_close(d, down[:, a:b], rtol=0, atol=5e-5)
        torch.testing.assert_close(u, up[:, a:b], rtol=0, atol=5e-5)


def test_off_by_default_and_its_weights_are_the_only_new_state():
    assert TaggerConfig().scan_channels == 0
    plain, _ = _model()
    with_scan, _ = _model(scan_channels=3)
    extra = set(with_scan.state_dict()) - set(plain.state_dict())
    assert extra == {"scan_gates.weight", "scan_gates.bias", "scan_mix.weight", "scan_mix.bias"}


def test_the_network_reads_lines_beyond_its_convolutions():
    """A change to the first line moves the score of a line 300 lines below it only through
    the scan (the convolutions here see 3 lines each side)."""
    import torch

    # both first lines unique in the page: no other line's repetition features change
    text = ["alpha beta gamma"] + _text(400, 3).split("\n")[1:]
    changed = ["delta epsilon zeta eta theta"] + text[1:]
    for scan, moves in ((0, False), (4, True)):
        model, config = _model(scan_channels=scan)
        with torch.no_grad():  # a visible mix (the initial weights are small) ...
            model.line_head.weight.mul_(10)
            if scan:  # ... and a long memory: z ~ e^-6, every line writes a little
                model.scan_gates.bias[:scan].fill_(-6.0)
        refiner = LineTaggerRefiner.from_model(model, config)
        (a, _), (b, _) = refiner._score(["\n".join(text), "\n".join(changed)])[0]
        assert bool(abs(a[300] - b[300]) > 1e-6) is moves  # 4e-6 here; 0.0 without the scan


def test_trains_saves_as_format_4_and_loads(tmp_path):
    docs = [{"text": _text(40, s), "doc_program": "keep_doc()",
             "chunk_program": "remove_lines(line_start=0, line_end=2)"} for s in range(6)]  # fmt: skip
    config = TaggerConfig.from_dict({**SMALL, "scan_channels": 2})
    refiner, report = train_tagger(docs[:4], docs[4:], config, TaggerTrainConfig(epochs=1),
                                   tmp_path / "work")  # fmt: skip
    assert report["epochs"] == 1 and np.isfinite(report["history"][0]["loss"])
    assert refiner.model.scan_gates.weight.grad is not None  # trained through the scan
    folder = save_tagger(refiner, tmp_path / "artifact", {})
    settings = json.loads((folder / "refiner.json").read_text())
    assert settings["format"] == 4 and config_of(settings).scan_channels == 2
    loaded = LineTaggerRefiner(folder)
    texts = [d["text"] for d in docs]
    for (p, keep), (q, keep_l) in zip(refiner.scores(texts), loaded.scores(texts)):
        np.testing.assert_allclose(q, p, rtol=0, atol=1e-6)
        assert keep_l == pytest.approx(keep, abs=1e-6)
    # weights without the scan do not load as a scan architecture
    state = json.loads((folder / "refiner.json").read_text())
    state["tagger"]["scan_channels"] = 0
    (folder / "refiner.json").write_text(json.dumps(state))
    with pytest.raises(ValueError, match="do not match"):
        LineTaggerRefiner(folder)


def test_scan_memory_spreads_the_initial_gates_from_2_to_memory_lines():
    import torch

    model, _ = _model(scan_channels=4, scan_memory=1000)
    z = torch.sigmoid(model.scan_gates.bias.detach())
    for gates in (z[:4], z[8:12]):  # the gates of each direction, not the values
        torch.testing.assert_close(1 / gates, torch.logspace(np.log10(2), 3, 4), rtol=1e-4, atol=0)
    default, _ = _model(scan_channels=4)
    assert torch.sigmoid(default.scan_gates.bias.detach()).max() < 0.75  # memory ~2 lines
