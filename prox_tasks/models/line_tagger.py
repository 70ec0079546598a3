"""The embedded default refiner: a learned per-line tagger whose decisions are written out as
ProX programs.

Each line is embedded from its dense features and a bag of hashed lexical features
(:mod:`prox_tasks.models.line_features`); dilated 1-D convolutions over the sequence of
lines give every line its neighbours' context (about 15 lines each side), and (format 3)
running maxima of learned section signals from the top and the bottom of the document give
it its section's, at any distance (:func:`section_context`), and (format 4) a gated scan over
all the lines from the top and the bottom gives it the state the lines above and below it
leave, which a later heading can reset (:mod:`prox_tasks.models.line_scan`); one head scores
"remove this line", another, over the pooled lines, document features and the statistics of
the lines it keeps (format 2), scores "keep this document". Decisions become
``keep_doc()``/``drop_doc()`` and per-chunk ``remove_lines`` programs
(:func:`prox_tasks.labeling.emit.write_chunk_program`), so the executor, the metrics and the
pipeline treat it exactly like a generative refiner. It never writes an
invalid program, and it refines thousands of lines per second on one CPU core.

Artifact folder: ``refiner.json`` (``{"kind": "line_tagger", "format": 2, ...settings}``; 3
with section context, 4 with the document scan) and ``model.safetensors``. Format 1 artifacts (no ``format`` key: no
kept-line statistics) still load; a newer format than this code knows fails with a clear
error.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from prox_tasks.labeling.emit import DROP_DOC, KEEP_DOC, write_chunk_program
from prox_tasks.models.artifact import TAGGER_WEIGHTS, artifact_version, read_refiner_settings
from prox_tasks.models.line_features import (
    DOC_DIM,
    LINE_DIM,
    STAT_DIM,
    BatchFeatures,
    featurize_batch,
)
from prox_tasks.models.line_scan import bidirectional_scan, fold_windows, window_summary
from prox_tasks.models.long_documents import DocumentInPieces
from prox_tasks.models.precision import resolve_precision, torch_dtype
from prox_tasks.models.tagger_settings import check_tagger_settings
from prox_tasks.models.weights import check_whole
from prox_tasks.programs.render import CHUNK_TOKEN_BUDGET

WEIGHTS = TAGGER_WEIGHTS
# 1: doc head without kept-line statistics; 2: with them; 3: with section context; 4: with
# the document scan. An
# artifact is written in the oldest format that holds its architecture (format_of), so code
# that predates a feature still loads every artifact that does not use it
FORMAT = 4
KEPT_FEATURES = 9
# characters featurized at once: the features' temporaries (~50 bytes per character) stay
# bounded whatever the refine batch holds; lines are bounded by the tagger's ``batch_lines``
FEATURE_CHARS = 2_000_000


class TaggerFormatError(ValueError):
    """An artifact this code cannot load (newer format, or weights that do not match)."""


@dataclass
class TaggerConfig:
    """Architecture and decision settings of the line tagger.

    Attributes:
        buckets: Hash buckets of the lexical features.
        embed_dim: Size of the lexical embedding.
        hidden: Width of the line vectors.
        dilations: One convolution layer per dilation (kernel 3).
        line_threshold: Remove a line when its probability is at least this.
        doc_threshold: Keep a document when its keep probability is at least this.
        chunk_tokens: Chunk budget (whitespace words) used to scope the written programs.
        kept_stats: Give the document head the normalized statistics of the lines the model
            keeps (format 2); False is the format 1 architecture.
        section_channels: Learned section signals per line (0: none, the architecture
            before). Each is projected from the context vectors, then its running maximum from
            the top of the document (prefix) and from the bottom (suffix) is mixed back into
            every line's vector: a line can learn that a comments section began above it at
            any distance (:func:`section_context`).
        section_reads_lines: The section mix reads each line's vector beside its section
            maxima (False: the maxima alone, a third of the mix's arithmetic).
        scan_channels: State channels per direction of the document scan (0: none, the
            architecture before; format 4): a gated recurrence over all the lines of the
            document from the top and from the bottom, whose states are mixed back into
            every line's vector: a line can learn "below the last `Leave a reply` heading"
            or "the recipe card starts below me", and a later heading resets what an earlier
            one wrote (:mod:`prox_tasks.models.line_scan`).
        scan_memory: Training from scratch, the scan's gate biases start so its channels
            remember from 2 to this many lines, spaced geometrically (0: PyTorch's default
            initialization, a memory of about 2 lines); loaded weights replace them.
        rules_head: A second line head learns the labels of the documents the ``rules``
            teacher labeled, the line head those of the others (``diff``, ``html``: labels
            made from a clean text), from the same line vectors; the refiner decides with
            the line head alone (format 4).
    """

    buckets: int = 1 << 15
    embed_dim: int = 32
    hidden: int = 64
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    line_threshold: float = 0.5
    doc_threshold: float = 0.5
    chunk_tokens: int = CHUNK_TOKEN_BUDGET
    kept_stats: bool = True
    section_channels: int = 0
    section_reads_lines: bool = True
    scan_channels: int = 0
    scan_memory: int = 0
    rules_head: bool = False

    def to_dict(self) -> dict:
        out = asdict(self)
        out["dilations"] = list(self.dilations)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> TaggerConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "dilations" in known:
            known["dilations"] = tuple(known["dilations"])
        return cls(**known)


def build_tagger(config: TaggerConfig):
    """The tagger network (a ``torch.nn.Module``)."""
    import torch
    from torch import nn

    class Score(nn.Linear):
        """A linear layer with one output (a logit), as a product and a sum over the inputs:
        the same sums whatever the thread count (the matrix-vector kernel that ``Linear``
        runs splits them by thread on some CPUs: 1 and 2 threads gave logits 1e-6 apart on a
        CPU with AMX, so ``--workers 1`` and ``2`` could refine differently)."""

        def forward(self, x):
            return (x * self.weight[0]).sum(-1, keepdim=True) + self.bias

    class LineTagger(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bag = nn.EmbeddingBag(config.buckets, config.embed_dim, mode="mean")
            self.inp = nn.Linear(LINE_DIM + config.embed_dim, config.hidden)
            self.convs = nn.ModuleList(
                nn.Conv1d(config.hidden, config.hidden, 3, padding=d, dilation=d)
                for d in config.dilations
            )
            if config.section_channels:
                self.section = nn.Linear(config.hidden, config.section_channels)
                self.section_mix = nn.Linear(config.hidden * config.section_reads_lines
                                             + 2 * config.section_channels, config.hidden)  # fmt: skip
            if config.scan_channels:
                self.scan_gates = nn.Linear(config.hidden, 4 * config.scan_channels)
                self.scan_mix = nn.Linear(config.hidden + 2 * config.scan_channels,
                                          config.hidden)  # fmt: skip
                if config.scan_memory:
                    init_scan_memory(self.scan_gates.bias, config.scan_channels,
                                     config.scan_memory)  # fmt: skip
            self.line_head = Score(config.hidden, 1)
            if config.rules_head:
                self.rules_head = Score(config.hidden, 1)
            self.doc_head = nn.Sequential(
                nn.Linear(2 * config.hidden + DOC_DIM + 2 + KEPT_FEATURES * config.kept_stats,
                          config.hidden), nn.GELU(),
                Score(config.hidden, 1),
            )  # fmt: skip
            # the convolutions' number format at inference (set by LineTaggerRefiner, see
            # prox_tasks.models.precision); with gradients on they always run in float32
            self.conv_dtype = torch.float32

        def forward(self, dense, ids, offsets, mask, doc, stats=None, rules=None):
            """dense [B,L,LINE_DIM], flat hashed ids + offsets for B*L lines, mask [B,L],
            doc [B,DOC_DIM], stats [B,L,STAT_DIM] (needed when ``kept_stats``); ``rules``
            [B] bool (training with ``rules_head``): those documents' line logits come from
            the rules head (the document head reads the line head's either way)."""
            x = self.encode(dense, ids, offsets, mask)
            line_logits = self.line_head(x).squeeze(-1)
            doc_logits = self.decide(self.pool(x, line_logits, mask, dense, stats), doc)
            if rules is not None and config.rules_head:
                line_logits = torch.where(rules[:, None], self.rules_head(x).squeeze(-1),
                                          line_logits)  # fmt: skip
            return line_logits, doc_logits

        def encode(self, dense, ids, offsets, mask, section: bool = True):
            """Line vectors [B,L,hidden]: each line with its neighbours' context (up to
            :func:`receptive_field` lines each side) and, with ``section_channels`` or
            ``scan_channels`` (unless ``section`` is False: a window of a longer document),
            its document context (:meth:`add_context`)."""
            b, length, _ = dense.shape
            lex = self.bag(ids, offsets).view(b, length, -1)
            h = torch.nn.functional.gelu(self.inp(torch.cat([dense, lex], -1)))
            if torch.is_grad_enabled():
                m = mask.unsqueeze(1).to(h.dtype)
                # contiguous [B, C, L]: the convolutions' fast layout (the same sums)
                x = (h.transpose(1, 2) * m).contiguous()
                for conv in self.convs:
                    x = (x + torch.nn.functional.gelu(conv(x))) * m
                x = x.transpose(1, 2)
            else:
                x = convolve_at_inference(self.convs, h, mask, self.conv_dtype)
            if section:
                x = self.add_context(x, mask)
            return x

        def add_context(self, x, mask, before=None, after=None, scan_before=None,
                        scan_after=None):
            """Line vectors ``x`` [B,L,hidden] (the convolutions') with the document context
            of the configured layers mixed in: the section maxima (:meth:`add_section`), then
            the scan states (:meth:`add_scan`; its gates read ``x``). The keywords fold in
            the lines outside a window of a longer document."""
            out = self.add_section(x, mask, before, after) if config.section_channels else x
            if config.scan_channels:
                out = self.add_scan(out, self.scan_gates(x.contiguous()), mask, scan_before,
                                    scan_after)  # fmt: skip
            return out

        def add_scan(self, x, gates, mask, before=None, after=None):
            """``x`` [B,L,hidden] with each line's scan states from the top and from the
            bottom mixed in (:func:`prox_tasks.models.line_scan.bidirectional_scan` of the
            ``gates`` [B,L,4·scan_channels]; ``before``/``after``: the states the lines
            outside this window leave)."""
            down, up = bidirectional_scan(gates, mask, before, after)
            x = x.contiguous()
            h = torch.nn.functional.gelu(self.scan_mix(torch.cat([x, down, up], -1)))
            m = mask.unsqueeze(-1).to(h.dtype)
            return (x + h) * m if torch.is_grad_enabled() else h.add_(x).mul_(m)

        def add_section(self, x, mask, before=None, after=None):
            """``x`` [B,L,hidden] with each line's section context mixed in: the running
            maxima of the section signals from the top and from the bottom
            (:func:`section_context`; ``before``/``after``: the maxima of the lines outside
            this window, for a document scored in windows)."""
            # Linear layers over a contiguous [B, L, C]: the same kernel with and without
            # gradients (on a transposed view they differ) and sums that do not depend on the
            # thread count (a 1-wide conv1d over [B, C, L]'s do, in oneDNN)
            x = x.contiguous()
            prefix, suffix = section_context(self.section(x), mask, before, after)
            parts = [x, prefix, suffix] if config.section_reads_lines else [prefix, suffix]
            h = torch.nn.functional.gelu(self.section_mix(torch.cat(parts, -1)))
            m = mask.unsqueeze(-1).to(h.dtype)
            return (x + h) * m if torch.is_grad_enabled() else h.add_(x).mul_(m)

        def pool(self, x, line_logits, mask, dense, stats=None) -> dict:
            """What the document head reads of the lines, as sums and maxima over them, so
            the pools of consecutive windows of a document combine (:func:`combine_pools`)."""
            # the teacher judges what the line edits keep: give the doc head its estimate
            words = torch.expm1(dense[..., 0]) * mask
            # padding lines at -1e4 by one fused pass (x * 1 + 0 or x * 0 - 1e4) and amax (no
            # indices): the values of masked_fill and max(1), at a tenth of their time
            keep = mask.unsqueeze(-1).to(x.dtype)
            pooled = {"sum": (x * mask.unsqueeze(-1)).sum(1), "count": mask.sum(1, keepdim=True),
                      "max": torch.addcmul((keep - 1) * 1e4, x, keep).amax(1),
                      "kept": (torch.sigmoid(-line_logits) * words).sum(1, keepdim=True),
                      "words": words.sum(1, keepdim=True)}  # fmt: skip
            if config.kept_stats:
                keep_w = torch.sigmoid(-line_logits) * mask
                pooled["stats"] = (keep_w.unsqueeze(-1) * stats).sum(1)
            return pooled

        def decide(self, pooled: dict, doc):
            """Document keep logits [B] from the lines' pool and the document vectors."""
            mean = pooled["sum"] / pooled["count"].clamp(min=1).to(pooled["sum"].dtype)
            kept = pooled["kept"]
            extra = [torch.log1p(kept), kept / pooled["words"].clamp(min=1)]
            if config.kept_stats:
                extra.append(kept_statistics(pooled["stats"]))
            extra = torch.cat(extra, -1)
            return self.doc_head(torch.cat([mean, pooled["max"], doc, extra], -1)).squeeze(-1)

    return LineTagger()


def init_scan_memory(bias, channels: int, memory: int) -> None:
    """Set the gate biases of the scan's two directions (``bias`` [4·channels]: gates and
    values from the top, then from the bottom) so channel ``c`` keeps ``1 - 1/T_c`` of its
    state per line, ``T`` from 2 to ``memory`` lines geometrically: long memories are there
    from the first step (the chrono initialization of Tallec & Ollivier, 2018)."""
    import torch

    timescales = torch.logspace(np.log10(2.0), np.log10(max(memory, 2)), channels)
    with torch.no_grad():
        for start in (0, 2 * channels):
            bias[start : start + channels] = -torch.log(timescales - 1)


SECTION_FLOOR = -1e4  # below any learned signal: padding never raises a running maximum


def section_context(signals, mask, before=None, after=None):
    """(prefix, suffix) running maxima [B,L,C] of per-line ``signals`` [B,L,C] over the real
    lines (``mask`` [B,L]): line ``i``'s prefix is the maximum over lines ``0..i``, its suffix
    over lines ``i..end``; padding lines count as :data:`SECTION_FLOOR`. ``before``/``after``
    [B,C]: maxima of lines outside the window above/below it, folded in."""
    import torch

    s = signals.masked_fill(~mask.unsqueeze(-1), SECTION_FLOOR)
    prefix = torch.cummax(s, 1).values
    suffix = torch.cummax(s.flip(1), 1).values.flip(1)
    if before is not None:
        prefix = torch.maximum(prefix, before.unsqueeze(1))
    if after is not None:
        suffix = torch.maximum(suffix, after.unsqueeze(1))
    return prefix, suffix


def convolve_at_inference(convs, h, mask, dtype):
    """The residual convolution stack without gradients: line vectors [B, L, C] from the
    input vectors ``h`` [B, L, C] (float32) and the line ``mask`` [B, L]; each layer adds
    ``gelu(conv(x))`` to the float32 stream ``x`` and masks it, in place.

    ``float32``: training's sums, in its [B, C, L] layout (a transposed view comes back).
    ``bfloat16``: each convolution reads a bfloat16 copy of ``x`` and of its weights
    (oneDNN accumulates in float32) and its activation is taken in bfloat16, then added to
    the float32 stream, so the rounding stays in each layer's update instead of compounding
    along the stream. It runs as a (1, 3) ``conv2d`` on the [B, L, C] memory seen as
    channels-last [B, C, 1, L] — oneDNN's native layout for bfloat16, no transposes — and a
    contiguous [B, L, C] comes back. The results do not depend on the thread count.
    """
    import torch
    from torch.nn.functional import conv2d, gelu

    if dtype == torch.float32:
        m = mask.unsqueeze(1).to(h.dtype)
        # contiguous [B, C, L]: the convolutions' fast layout (the same sums)
        x = (h.transpose(1, 2) * m).contiguous()
        for conv in convs:
            x = gelu(conv(x)).add_(x).mul_(m)
        return x.transpose(1, 2)
    m = mask.unsqueeze(-1).to(h.dtype)
    x = h * m
    b, length, channels = x.shape
    for conv in convs:
        weight = conv.weight.to(dtype).unsqueeze(2).contiguous(memory_format=torch.channels_last)
        # zeros written out rather than the kernel's padding: oneDNN's kernels for the edge
        # columns sum in another order, and where the edges fall depends on the threads
        pad = conv.padding[0]
        padded = torch.empty(b, length + 2 * pad, channels, dtype=dtype)
        padded[:, :pad].zero_()
        padded[:, length + pad :].zero_()
        padded[:, pad : length + pad].copy_(x)
        y = conv2d(padded.unsqueeze(1).permute(0, 3, 1, 2), weight, conv.bias.to(dtype),
                   (1, *conv.stride), 0, (1, *conv.dilation), conv.groups)  # fmt: skip
        x = x.add_(gelu(y.permute(0, 2, 3, 1).squeeze(1))).mul_(m)
    return x


def receptive_field(config: TaggerConfig) -> int:
    """Lines each side whose features reach a line's vector (kernel 3: ``d`` per layer)."""
    return sum(config.dilations)


def combine_pools(a: dict, b: dict) -> dict:
    """The pool of two windows of the same documents (sums added, maxima taken)."""
    import torch

    return {k: torch.maximum(a[k], b[k]) if k == "max" else a[k] + b[k] for k in a}


def kept_statistics(totals):
    """Normalized document statistics [B, KEPT_FEATURES] from kept-line sums of
    :func:`prox_tasks.models.line_features.line_stats` [B, STAT_DIM]: log counts and ratios
    (what the document decision is about; the head learns the weights)."""
    import torch

    (units, words, alpha, stops, symbols, chars, non_empty, ellipsis, sentences,
     repeated) = totals.unbind(-1)  # fmt: skip
    w = words.clamp(min=1)
    return torch.stack([
        torch.log1p(units), torch.log1p(stops), torch.log1p(sentences),
        alpha / w, (symbols / w).clamp(max=2), chars / w / 10,
        ellipsis / non_empty.clamp(min=1), repeated / sentences.clamp(min=1),
        torch.log1p(non_empty),
    ], -1)  # fmt: skip


@dataclass
class DocFeatures:
    """One featurized document as tensors: ``dense`` [lines, LINE_DIM], the hashed ids of
    line ``i`` in ``ids[starts[i]:starts[i+1]]``, the document vector ``doc``, the line
    statistics ``stats`` [lines, STAT_DIM] and (numpy) each line's whitespace ``tokens`` as
    rendered for the chunk level."""

    dense: object
    ids: object
    starts: object
    doc: object
    stats: object
    tokens: object = None

    @property
    def lines(self) -> int:
        return int(self.dense.shape[0])

    def crop(self, first: int, end: int) -> DocFeatures:
        a, b = int(self.starts[first]), int(self.starts[end])
        return DocFeatures(self.dense[first:end], self.ids[a:b],
                           self.starts[first : end + 1] - a, self.doc, self.stats[first:end],
                           None if self.tokens is None else self.tokens[first:end])  # fmt: skip


def tensorize_batch(texts: list[str], buckets: int, stats: bool = True) -> list[DocFeatures]:
    """Featurize ``texts`` together (:func:`featurize_batch`) into one :class:`DocFeatures`
    per text (views of the batch's arrays; statistics all zero unless ``stats``)."""
    import torch

    f = featurize_batch(list(texts), buckets, stats)
    dense, ids = torch.from_numpy(f.dense), torch.from_numpy(f.ids)
    id_starts, doc = torch.from_numpy(f.id_starts), torch.from_numpy(f.doc)
    line_stats = torch.from_numpy(f.stats)
    out = []
    for d, (a, b) in enumerate(zip(f.doc_lines[:-1].tolist(), f.doc_lines[1:].tolist())):
        first = int(f.id_starts[a])
        out.append(DocFeatures(dense[a:b], ids[first : int(f.id_starts[b])],
                               id_starts[a : b + 1] - first, doc[d], line_stats[a:b],
                               f.tokens[a:b]))  # fmt: skip
    return out


def tensorize(text: str, buckets: int, stats: bool = True) -> DocFeatures:
    """:func:`tensorize_batch` of one text."""
    return tensorize_batch([text], buckets, stats)[0]


def collate(docs: list[DocFeatures]):
    """Batch documents: (dense [B,L,D], flat ids, offsets [B*L], mask [B,L], doc [B,DOC_DIM],
    stats [B,L,STAT_DIM]), the model's arguments in order."""
    return _padded([(d.dense.numpy(), d.stats.numpy(), d.doc.numpy(), d.ids.numpy(),
                     d.starts.numpy()) for d in docs])  # fmt: skip


def collate_features(parts: list, docs: list[tuple[int, int]]):
    """:func:`collate` of documents ``docs`` — (part, index) pairs into ``parts``, a list of
    :class:`~prox_tasks.models.line_features.BatchFeatures` — read from the batch arrays
    directly (no tensors per document)."""
    if len(parts) == 1 and docs == [(0, d) for d in range(len(parts[0].doc))]:
        return _padded_whole(parts[0])
    return _padded([_lines_of(parts[p], d) for p, d in docs])


def _padded_whole(f: BatchFeatures):
    """:func:`_padded` of every document of ``f`` in order, straight from its arrays."""
    return _padded_batch(f.doc_lines, f.dense, f.stats, f.doc, f.ids, f.id_starts)


def _padded_batch(doc_lines, line_dense, line_stats, doc_vectors, line_ids, id_starts):
    """The model's arguments from a batch's arrays (document ``d`` has lines
    ``doc_lines[d]`` to ``doc_lines[d + 1]``; line ``i`` has the ids
    ``line_ids[id_starts[i]:id_starts[i + 1]]``, ``id_starts[0] == 0``): lines padded to the
    longest document, by scattering the arrays into place at once (no step per document); a
    padding line has one id (0)."""
    import torch

    n = np.diff(doc_lines)
    length = int(n.max())
    row = np.repeat(np.arange(len(n)), n)
    col = np.arange(len(row)) - np.asarray(doc_lines[:-1], np.int64)[row]
    dense = np.zeros((len(n), length, LINE_DIM), np.float32)
    stats = np.zeros((len(n), length, STAT_DIM), np.float32)
    mask = np.zeros((len(n), length), bool)
    dense[row, col], stats[row, col], mask[row, col] = line_dense, line_stats, True
    # the ids of line (r, c) start where the lines before it in row order end
    id_starts = np.asarray(id_starts, np.int64)
    counts = np.ones((len(n), length), np.int64)
    counts[row, col] = np.diff(id_starts)
    offsets = np.zeros(counts.size, np.int64)
    np.cumsum(counts.ravel()[:-1], out=offsets[1:])
    ids = np.zeros(int(offsets[-1] + counts.ravel()[-1]), np.int64)
    shift = offsets[row * length + col] - id_starts[:-1]
    ids[np.arange(int(id_starts[-1])) + np.repeat(shift, np.diff(id_starts))] = line_ids
    return (torch.from_numpy(dense), torch.from_numpy(ids), torch.from_numpy(offsets),
            torch.from_numpy(mask), torch.from_numpy(np.asarray(doc_vectors, np.float32)),
            torch.from_numpy(stats))  # fmt: skip


def _window_inputs(f: BatchFeatures):
    """The model's arguments for the one document (a window of lines) of ``f``; its document
    vector zero (a long document's comes after all its windows)."""
    return _padded([(f.dense, f.stats, np.zeros(DOC_DIM, np.float32), f.ids, f.id_starts)])


def _lines_of(f: BatchFeatures, d: int) -> tuple:
    """(dense, stats, doc vector, ids, id starts) of document ``d`` of ``f``."""
    a, b = int(f.doc_lines[d]), int(f.doc_lines[d + 1])
    start = int(f.id_starts[a])
    return (f.dense[a:b], f.stats[a:b], f.doc[d], f.ids[start : int(f.id_starts[b])],
            f.id_starts[a : b + 1] - start)  # fmt: skip


def _padded(items: list[tuple]):
    """The model's arguments from (dense, stats, doc vector, ids, id starts) numpy arrays
    per document: joined into one batch's arrays, then padded (:func:`_padded_batch`)."""
    lines = np.array([len(dense) for dense, *_ in items], np.int64)
    starts, base = [], 0
    for *_, ids, id_starts in items:
        starts.append(np.asarray(id_starts[:-1], np.int64) - int(id_starts[0]) + base)
        base += len(ids)
    return _padded_batch(np.concatenate(([0], np.cumsum(lines))),
                         np.concatenate([item[0] for item in items]),
                         np.concatenate([item[1] for item in items]),
                         np.stack([item[2] for item in items]),
                         np.concatenate([item[3] for item in items]),
                         np.concatenate([*starts, [base]]))  # fmt: skip


def _at_least(probs: np.ndarray, threshold: float) -> np.ndarray:
    """Indexes of the probabilities at or above ``threshold``, compared as Python floats:
    against the least float32 at or above it (a float32 comparison would round the
    threshold; a float64 copy of a long document's probabilities is 8 bytes a line)."""
    least = np.float32(threshold)
    if float(least) < threshold:
        least = np.nextafter(least, np.float32(np.inf))
    return np.flatnonzero(probs >= least)


def format_of(config: TaggerConfig) -> int:
    """The artifact format an architecture needs: 4 with the document scan or a rules head,
    3 with section context, else 2."""
    if config.scan_channels or config.rules_head:
        return 4
    return 3 if config.section_channels else 2


def config_of(settings: dict, where: object = "refiner.json") -> TaggerConfig:
    """The :class:`TaggerConfig` of an artifact's settings, by its ``format``.

    Raises:
        TaggerFormatError: The artifact is of a format newer than this code.
        RefinerSettingsDamaged: Its ``tagger`` settings are of the wrong types or out of
            range (:func:`~prox_tasks.models.tagger_settings.check_tagger_settings`).
    """
    fmt = settings.get("format", 1)
    if not isinstance(fmt, int) or not 1 <= fmt <= FORMAT:
        raise TaggerFormatError(f"{where}: line tagger format {fmt!r} is not supported "
                                f"(this code reads formats 1 to {FORMAT}); upgrade prox")
    tagger = dict(check_tagger_settings(settings, where))
    if fmt == 1:  # written before kept_stats existed (or by hand): the old head by default
        tagger.setdefault("kept_stats", False)
    return TaggerConfig.from_dict(tagger)


@dataclass(frozen=True)
class TaggerSettings:
    """A loaded tagger's inference settings: the precision it runs in and the thresholds
    it decides with."""

    precision: str
    line_threshold: float
    doc_threshold: float

    def to_dict(self) -> dict:
        return asdict(self)


class LineTaggerRefiner:
    """Loads a tagger artifact folder and writes programs (the pipeline's refiner contract).

    Args:
        path: Artifact folder with ``refiner.json`` and ``model.safetensors``.
        batch_docs: At most this many documents per forward pass.
        batch_lines: At most this many (padded) lines per forward pass.
        threads: torch CPU threads. One by default: a second thread gains ~9% on one
            document stream, and where refine tasks share a machine (Airflow task slots,
            Celery workers) two threads each on its cores made two tasks 2.5x slower than
            one (``bench/cluster.py``); ``--workers`` is the way to use more cores.
        line_threshold: The keep threshold: a line is removed when its removal probability
            is at least this (higher keeps more: word recall up, precision down). None: the
            artifact's calibrated value (``refiner.json``'s ``tagger.line_threshold``).
        precision: The convolutions' number format at inference: ``auto``, ``float32`` or
            ``bfloat16``; None: ``$PROX_TAGGER_PRECISION``, else ``auto``
            (:mod:`prox_tasks.models.precision`).
    """

    def __init__(self, path, batch_docs: int = 64, batch_lines: int = 8192,
                 threads: int = 1, line_threshold: float | None = None,
                 precision: str | None = None) -> None:
        import torch
        from safetensors.torch import load_file

        self.path = Path(path)
        settings = read_refiner_settings(self.path)
        self.version = artifact_version(self.path, settings)
        self.config = config_of(settings, self.path)
        if line_threshold is not None:
            if not 0.0 < line_threshold <= 1.0:
                raise ValueError(f"line_threshold must be in (0, 1], not {line_threshold}")
            self.config.line_threshold = float(line_threshold)
        self.model = build_tagger(self.config)
        check_whole(str(self.path / WEIGHTS))  # (prox calibrate and train check no earlier)
        state = {k: v.float() for k, v in load_file(str(self.path / WEIGHTS)).items()}
        try:
            self.model.load_state_dict(state)
        except RuntimeError as exc:
            # what to do before torch's detail, which the CLI's one line cuts short
            raise TaggerFormatError(
                f"{self.path}: weights do not match a format {settings.get('format', 1)} "
                "line tagger as its refiner.json describes it (refiner.json edited, or files "
                "of two models): fetch or publish the model again "
                f"({self.config.to_dict()}: {exc})") from exc
        not_finite = sorted(k for k, v in state.items() if not torch.isfinite(v).all())
        if not_finite:
            # such weights score every line and document NaN, which no threshold passes: a
            # run would drop every document and say nothing else was wrong
            raise TaggerFormatError(
                f"{self.path}: weights {', '.join(not_finite[:3])}"
                f"{f' and {len(not_finite) - 3} more' if len(not_finite) > 3 else ''} hold "
                "NaN or infinite values (a training run that diverged, or damaged files): "
                "train the model again, or use another model")
        self.model.eval()
        self._set_precision(precision)
        self.batch_docs, self.batch_lines = batch_docs, batch_lines
        torch.set_num_threads(threads)
        self._last: tuple | None = None
        self.phases: Counter = Counter()  # seconds spent featurizing and in the network

    @classmethod
    def from_model(cls, model, config: TaggerConfig, version: str = "unsaved",
                   precision: str | None = None):
        """Wrap an in-memory trained model (used while training)."""
        self = cls.__new__(cls)
        self.path, self.version, self.config, self.model = None, version, config, model
        self._set_precision(precision)
        self.batch_docs, self.batch_lines, self._last = 64, 8192, None
        self.phases = Counter()
        return self

    def _set_precision(self, precision: str | None) -> None:
        self.precision = resolve_precision(precision)
        self.model.conv_dtype = torch_dtype(self.precision)

    @property
    def settings(self) -> TaggerSettings:
        """What decides the outputs besides the artifact's files (``version``): the refine
        step's checkpoint fingerprint holds it, so outputs of two precisions never mix."""
        return TaggerSettings(self.precision, self.config.line_threshold,
                              self.config.doc_threshold)  # fmt: skip

    def scores(self, texts: list[str]) -> list[tuple[list[float], float]]:
        """(per-line remove probabilities, keep probability) per text."""
        return [(probs.tolist(), keep) for probs, keep in self._score(texts)[0]]

    def _score(self, texts: list[str]) -> tuple[list[tuple[np.ndarray, float]], list]:
        """((per-line remove probabilities as float32, keep probability) per text, each
        text's rendered line tokens (int32) for the chunk programs).

        Documents of similar length go through the network together, at most
        ``batch_lines`` (padded) lines and :data:`FEATURE_CHARS` characters at once, each
        group featurized just before and its features dropped after: only the probabilities
        and tokens outlive it. A longer document goes alone, featurized and scored in
        windows (:meth:`_score_windows`): memory stays bounded by the windows, not the batch.
        """
        import torch

        texts = [t or "" for t in texts]
        lines = [t.count("\n") + 1 for t in texts]
        # documents of similar length batched together: little padding
        order = sorted(range(len(texts)), key=lines.__getitem__)
        out: list = [None] * len(texts)
        tokens: list = [None] * len(texts)
        was_training = self.model.training
        self.model.eval()
        with torch.inference_mode():
            start = 0
            while start < len(order):
                first = order[start]
                if lines[first] > self.batch_lines or len(texts[first]) > FEATURE_CHARS:
                    out[first], tokens[first] = self._score_windows(texts[first])
                    start += 1
                    continue
                end, chars = start + 1, len(texts[first])
                while (end < len(order) and end - start < self.batch_docs
                       and lines[order[end]] * (end - start + 1) <= self.batch_lines
                       and chars + len(texts[order[end]]) <= FEATURE_CHARS):
                    chars += len(texts[order[end]])
                    end += 1
                batch = order[start:end]
                started = time.perf_counter()
                f = featurize_batch([texts[i] for i in batch], self.config.buckets,
                                    self.config.kept_stats)  # fmt: skip
                featurized = time.perf_counter()
                line_logits, doc_logit = self.model(
                    *collate_features([f], [(0, r) for r in range(len(batch))]))
                line_p = torch.sigmoid(line_logits).numpy()
                doc_p = torch.sigmoid(doc_logit).tolist()
                for r, i in enumerate(batch):
                    out[i] = (line_p[r, : lines[i]].copy(), doc_p[r])
                    tokens[i] = f.tokens[f.doc_lines[r] : f.doc_lines[r + 1]].astype(np.int32)
                self.phases["features"] += featurized - started
                self.phases["forward"] += time.perf_counter() - featurized
                start = end
        self.model.train(was_training)
        return out, tokens

    def _score_windows(self, text: str) -> tuple[tuple[np.ndarray, float], np.ndarray]:
        """((per-line probabilities, keep probability), line tokens) of one long document,
        featurized and scored in windows of at most ``batch_lines`` lines and
        :data:`FEATURE_CHARS` characters (:class:`DocumentInPieces`), each read with
        :func:`receptive_field` lines of context either side, so every line's features and
        vector are the ones the whole document gives it; the windows' pools combine into the
        document's (equal to the whole document's up to float rounding of the sums)."""
        import torch

        document = DocumentInPieces(text, self.batch_lines, FEATURE_CHARS,
                                    receptive_field(self.config))  # fmt: skip
        probs = np.empty(document.n_lines, np.float32)
        tokens = np.empty(document.n_lines, np.int32)
        pooled = None
        # a line's document context spans the whole document: a first pass over the windows
        # keeps what each window gives the others (section maxima, scan states), the second
        # mixes in those of the others
        contexts = (self._window_contexts(document)
                    if self.config.section_channels or self.config.scan_channels else None)
        started = time.perf_counter()
        for i, (f, own, first) in enumerate(document.featurize(self.config.buckets,
                                                                self.config.kept_stats)):
            featurized = time.perf_counter()
            end = first + own.stop - own.start
            dense, ids, offsets, mask, _, stats = _window_inputs(f)
            x = self.model.encode(dense, ids, offsets, mask, section=False)[:, own]
            if contexts is not None:
                x = self.model.add_context(x, mask[:, own], **contexts[i])
            line_logits = self.model.line_head(x).squeeze(-1)
            probs[first:end] = torch.sigmoid(line_logits)[0].numpy()
            tokens[first:end] = f.tokens[own]
            window = self.model.pool(x, line_logits, mask[:, own], dense[:, own], stats[:, own])
            pooled = window if pooled is None else combine_pools(pooled, window)
            now = time.perf_counter()
            self.phases["features"] += featurized - started
            self.phases["forward"] += now - featurized
            started = now
        keep = self.model.decide(pooled, torch.from_numpy(document.doc)[None])
        return (probs, float(torch.sigmoid(keep)[0])), tokens

    def _window_contexts(self, document: DocumentInPieces) -> list[dict]:
        """The keywords of ``add_context`` per window of ``document``, so its lines get the
        whole document's context: the maxima of the section signals above and below
        (:func:`section_context`) and the scan states the lines above and below leave
        (:func:`prox_tasks.models.line_scan.fold_windows`)."""
        import torch

        started = time.perf_counter()
        maxima, summaries = [], []
        for f, own, _ in document.featurize(self.config.buckets, self.config.kept_stats):
            featurized = time.perf_counter()
            dense, ids, offsets, mask = _window_inputs(f)[:4]
            x = self.model.encode(dense, ids, offsets, mask, section=False)[:, own]
            if self.config.section_channels:
                maxima.append(self.model.section(x).amax(1))  # [1, section_channels]
            if self.config.scan_channels:
                summaries.append(window_summary(self.model.scan_gates(x), mask[:, own]))
            now = time.perf_counter()
            self.phases["features"] += featurized - started
            self.phases["forward"] += now - featurized
            started = now
        contexts: list[dict] = [{} for _ in document.spans]
        if maxima:
            floor = torch.full_like(maxima[0], SECTION_FLOOR)
            above, below = [floor], [floor]
            for m in maxima[:-1]:
                above.append(torch.maximum(above[-1], m))
            for m in maxima[:0:-1]:
                below.append(torch.maximum(below[-1], m))
            for c, a, b in zip(contexts, above, below[::-1]):
                c.update(before=a, after=b)
        if summaries:
            for c, (a, b) in zip(contexts, fold_windows(summaries)):
                c.update(scan_before=a, scan_after=b)
        return contexts

    def _scored(self, texts: list[str]) -> tuple[list[tuple[np.ndarray, float]], list]:
        # the pipeline calls predict_doc then predict_chunks on the same batch: score it once
        key = tuple(texts)
        if self._last is None or self._last[0] != key:
            self._last = (key, *self._score(list(texts)))
        return self._last[1], self._last[2]

    def predict_doc(self, texts: list[str]) -> list[str]:
        """``keep_doc()`` or ``drop_doc()`` per text."""
        t = self.config.doc_threshold
        return [KEEP_DOC if keep >= t else DROP_DOC for _, keep in self._scored(texts)[0]]

    def predict_chunks(self, texts: list[str]) -> list[str]:
        """Chunk program per text (global line numbers, joined per chunk)."""
        t = self.config.line_threshold
        scores, tokens = self._scored(texts)
        return [
            write_chunk_program(text or "", _at_least(probs, t),
                                max_tokens=self.config.chunk_tokens,
                                line_tokens=line_tokens)  # fmt: skip
            for text, (probs, _), line_tokens in zip(texts, scores, tokens)
        ]
