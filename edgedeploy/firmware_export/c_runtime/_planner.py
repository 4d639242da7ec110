"""Offline memory planning: every activation tensor gets a fixed offset in one arena.

The op order is fixed at export time, so each tensor's lifetime is known: it is
born at the op that writes it (model inputs before the first op) and dies
after the last op that reads it (model outputs at the end). Ops that only
relabel a shape (RESHAPE, SQUEEZE, EXPAND_DIMS) make their output an alias of
their input, so the pair shares one buffer and no copy runs. Two buffers whose
lifetimes overlap may not overlap in memory; among the placements tried the
smallest arena wins. The lower bound is the largest total size of buffers
alive at once, which no placement can beat for this op order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Buffer", "MemoryPlan", "plan_memory"]


@dataclass
class Buffer:
    """One arena region shared by a tensor and its aliases."""

    tensors: list[int]
    size: int
    first: int
    last: int
    alignment: int = 1
    offset: int = -1

    def overlaps_in_time(self, other: Buffer) -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass
class MemoryPlan:
    """Where each activation tensor lives, the arena size and the lower bound."""

    offsets: dict[int, int]
    arena_bytes: int
    lower_bound_bytes: int
    buffers: list[Buffer] = field(default_factory=list)


def _place(buffers: list[Buffer], order: Iterable[Buffer]) -> int:
    placed: list[Buffer] = []
    for buf in order:
        conflicts = sorted((b for b in placed if b.overlaps_in_time(buf)), key=lambda b: b.offset)
        offset = 0
        for other in conflicts:
            aligned = -(-offset // buf.alignment) * buf.alignment
            if aligned + buf.size <= other.offset:
                break
            offset = max(offset, other.offset + other.size)
        buf.offset = -(-offset // buf.alignment) * buf.alignment
        placed.append(buf)
    return max((b.offset + b.size for b in buffers), default=0)


def plan_memory(
    num_ops: int,
    sizes: dict[int, int],
    producers: dict[int, int],
    consumers: dict[int, list[int]],
    graph_inputs: list[int],
    graph_outputs: list[int],
    aliases: list[tuple[int, int]],
    alignments: dict[int, int] | None = None,
) -> MemoryPlan:
    """Plan the arena.

    ``sizes`` maps each activation tensor to its bytes; ``producers`` and
    ``consumers`` give the op indices writing and reading it; ``aliases`` lists
    (input, output) pairs that share storage.
    """
    alignments = alignments or {}
    parent = {t: t for t in sizes}

    def find(t: int) -> int:
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    for a, b in aliases:
        if a in parent and b in parent:
            parent[find(b)] = find(a)
    groups: dict[int, list[int]] = {}
    for t in sizes:
        groups.setdefault(find(t), []).append(t)
    buffers: list[Buffer] = []
    for members in groups.values():
        firsts, lasts = [], []
        for t in members:
            born = -1 if t in graph_inputs else producers.get(t, -1)
            firsts.append(max(born, 0) if t in graph_inputs else born)
            end = max(consumers.get(t, []), default=born)
            if t in graph_outputs:
                end = num_ops
            lasts.append(max(end, born))
        buffers.append(
            Buffer(
                tensors=sorted(members),
                size=max(sizes[t] for t in members),
                first=min(firsts),
                last=max(lasts),
                alignment=max(alignments.get(t, 1) for t in members),
            )
        )
    lower = 0
    for step in range(-1, num_ops + 1):
        lower = max(lower, sum(b.size for b in buffers if b.first <= step <= b.last))
    orders = [
        sorted(buffers, key=lambda b: (-b.size, b.first)),
        sorted(buffers, key=lambda b: (b.first, -b.size)),
        sorted(buffers, key=lambda b: (-(b.last - b.first), -b.size)),
    ]
    best: tuple[int, list[int]] | None = None
    for order in orders:
        arena = _place(buffers, order)
        if best is None or arena < best[0]:
            best = (arena, [b.offset for b in buffers])
    assert best is not None or not buffers
    arena_bytes = best[0] if best else 0
    if best:
        for buf, off in zip(buffers, best[1], strict=True):
            buf.offset = off
    offsets = {t: buf.offset for buf in buffers for t in buf.tensors}
    return MemoryPlan(offsets, arena_bytes, lower, buffers)
