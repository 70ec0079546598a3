"""The tagger's document scan (``TaggerConfig.scan_channels``): a gated recurrence over the
lines of a whole document, from the top and from the bottom.

Each line ``t`` gives, per channel, a gate ``z_t`` in (0, 1) and a value ``exp(v_t)`` (both
learned from its context vector); the state is ``h_t = (1 - z_t)·h_{t-1} + z_t·exp(v_t)``, the
minimal GRU of Feng et al. ("Were RNNs All We Needed?", 2024) in log space. A line with
``z ≈ 1`` (a ``59 Comments`` heading, a ``Leave a reply`` form) writes the state, the lines with
``z ≈ 0`` after it carry it at any distance, and the next such line overwrites it — unlike the
section context's running maxima, which can only grow. The gate and value depend on the line
alone, not on the state, so the recurrence is linear and runs as a parallel scan (a
cumulative sum and ``logcumsumexp`` over the lines: no loop over lines, O(lines × channels)
arithmetic); the layer reads ``log h``.

A document scored in windows gets the whole document's states: each window's scan is an affine
map of the state it starts from (``h_end = decay·h_start + local_end``), so a first pass keeps
each window's (log decay, local log end) per direction and :func:`fold_windows` gives every
window the log states of the lines before and after it.
"""

from __future__ import annotations

# the log of a padded line's input (and of "no state yet"): its exp is 0 next to any line's
SCAN_FLOOR = -1e4
# log(1 - z) at least this: a write keeps e^-16 of the state before it, so the cumulative
# log decay stays within 16 per line (its float32 rounding bounded on long documents)
MIN_LOG_CARRY = -16.0
# the log states the mix reads are clipped to this range (a padded line's are SCAN_FLOOR)
LOG_STATE_RANGE = 30.0


def gated_scan(gate_logits, log_values, mask, initial=None):
    """(log states [B, L, C], log decay over the lines [B, C]) of the recurrence
    ``h_t = (1 - z_t)·h_{t-1} + z_t·exp(v_t)`` over dim 1, ``z = sigmoid(gate_logits)``.

    Args:
        gate_logits: [B, L, C].
        log_values: [B, L, C] the ``v``.
        mask: [B, L] real lines (or [B, L, C]: per channel); a padding line leaves the
            state as it is.
        initial: [B, C] log of the state before line 0 (None: no state, ``h_{-1} = 0``).
    """
    import torch
    from torch.nn.functional import softplus

    m = mask.unsqueeze(-1) if mask.dim() == 2 else mask
    log_not_z = -softplus(gate_logits)  # log(1 - z); log z = gate_logit + log(1 - z)
    log_carry = torch.where(m, log_not_z.clamp(min=MIN_LOG_CARRY), 0.0)
    carried = torch.cumsum(log_carry, 1)  # log of prod_{r <= t} (1 - z_r)
    inputs = torch.where(m, gate_logits + log_not_z + log_values - carried, SCAN_FLOOR)
    states = carried + torch.logcumsumexp(inputs, 1)
    if initial is not None:
        states = torch.logaddexp(states, carried + initial.unsqueeze(1))
    return states, carried[:, -1]


def _both_directions(gates, mask):
    """(gate logits, log values, mask) [B, L, 2C] of one scan that runs both directions: the
    first C channels from the top, the last C over the lines reversed; contiguous (the
    element-wise kernels are many times slower on the strided views of ``gates``)."""
    import torch

    b, length, four_c = gates.shape
    c = four_c // 4
    parts = gates.view(b, length, 4, c)
    down, up = parts[:, :, :2], parts[:, :, 2:].flip(1)
    both = torch.cat([down, up], 3)  # [B, L, 2 (gate, value), 2C]
    m = torch.cat([mask.unsqueeze(-1).expand(b, length, c),
                   mask.flip(1).unsqueeze(-1).expand(b, length, c)], 2)  # fmt: skip
    return both[:, :, 0].contiguous(), both[:, :, 1].contiguous(), m


def bidirectional_scan(gates, mask, before=None, after=None):
    """(from the top, from the bottom) log states [B, L, C] of :func:`gated_scan` from
    ``gates`` [B, L, 4C] (gate logits and log values from the top, then from the bottom),
    clipped to ±:data:`LOG_STATE_RANGE`; ``before``/``after`` [B, C]: the log states the lines
    above and below this window leave (None: a whole document)."""
    import torch

    z, v, m = _both_directions(gates, mask)
    initial = None
    if before is not None:
        initial = torch.cat([before, after], -1)
    states, _ = gated_scan(z, v, m, initial)
    states = states.clamp(-LOG_STATE_RANGE, LOG_STATE_RANGE)
    c = states.shape[-1] // 2
    return states[..., :c], states[..., c:].flip(1)


def window_summary(gates, mask) -> tuple:
    """((log decay, log end state) from the top, (log decay, log first-line state) from the
    bottom) [B, C] of one window of lines (no padding): its scans started from no state, as
    affine maps of the state entering it."""
    states, decay = gated_scan(*_both_directions(gates, mask))
    c = states.shape[-1] // 2
    end = states[:, -1]
    return (decay[:, :c], end[:, :c]), (decay[:, c:], end[:, c:])


def fold_windows(summaries: list[tuple]) -> list[tuple]:
    """(log state before, log state after) [B, C] per window from the :func:`window_summary`
    of every window of a document, in order: what :func:`bidirectional_scan` folds into each
    (:data:`SCAN_FLOOR`: no state)."""
    import torch

    floor = torch.full_like(summaries[0][0][1], SCAN_FLOOR)
    before, after = [floor], [floor]
    for (decay, end), _ in summaries[:-1]:
        before.append(torch.logaddexp(decay + before[-1], end))
    for _, (decay, first) in summaries[:0:-1]:
        after.append(torch.logaddexp(decay + after[-1], first))
    return list(zip(before, after[::-1]))
