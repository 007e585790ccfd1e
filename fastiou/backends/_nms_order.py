"""The orders the NMS-family kernels of every CPU backend work in.

NumPy's default sort is a vectorised quicksort, several times faster than a
merge sort (NumPy's or Numba's): scores are sorted with it and the few runs of
tied scores are then put in index order; classes are grouped with NumPy's stable
radix sort of class numbers below 2**16.  No Python loop over boxes or classes.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._config import lazy_njit


def threshold_below(value: float, dt: np.dtype) -> np.floating:
    """``value`` in dtype ``dt``, rounded down: for ``x`` of dtype ``dt``, ``x > result`` iff ``x > value``.

    So the kernels compare in their own dtype, with the float64 threshold's meaning.
    """
    v = dt.type(value)
    if float(v) > value:
        v = np.nextafter(v, dt.type(-np.inf))
    return v


def candidates(scores: np.ndarray, score_threshold: float | None) -> np.ndarray | None:
    """Indices of the boxes with ``score > score_threshold`` (None: every box)."""
    if score_threshold is None:
        return None
    return np.flatnonzero(scores > np.float64(score_threshold))  # exact, also for float32 scores


def exact_ranks(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(ranks, values)`` of integer scores that float64 would round, else None.

    float64 holds every integer up to 2**53; beyond, distinct int64 or uint64
    scores can round to one float (2**62 and 2**62 + 1).  ``values`` are the
    distinct scores, sorted; ``ranks`` (float64, exact) is each score's position
    among them, so ranks order the boxes exactly as the scores do (equal scores,
    equal ranks).
    """
    if scores.dtype.kind not in "iu" or scores.dtype.itemsize < 8 or scores.shape[0] == 0:
        return None
    if -(2**53) <= int(scores.min()) and int(scores.max()) <= 2**53:
        return None
    values, ranks = np.unique(scores, return_inverse=True)
    return ranks.reshape(-1).astype(np.float64), values


def rank_threshold(values: np.ndarray, score_threshold: float | None) -> float | None:
    """The threshold on :func:`exact_ranks`' ranks that keeps exactly the scores ``> score_threshold``."""
    if score_threshold is None:
        return None
    floor = math.floor(score_threshold)  # an integer s > t iff s > floor(t), compared as Python ints
    info = np.iinfo(values.dtype)
    if floor < info.min:
        below = 0
    elif floor >= info.max:
        below = values.shape[0]
    else:
        below = int(np.searchsorted(values, values.dtype.type(floor), side="right"))
    return below - 0.5  # ranks >= below: the values above floor


def by_exact_score(ranks: np.ndarray) -> np.ndarray:
    """A permutation of the boxes by decreasing rank, ties by lower index.

    Kernels that break ties in their float scores by lower index then break them
    by the exact integer score first, when their input is put in this order.
    """
    return np.argsort(-ranks, kind="stable")


@lazy_njit  # compiled at first use: importing fastiou.nms does not start Numba
def _ties_by_index(order: np.ndarray, sorted_scores: np.ndarray) -> None:
    """Sort each run of equal ``sorted_scores`` in ``order`` by index (in place)."""
    n = order.shape[0]
    a = 0
    while a < n:
        b = a + 1
        while b < n and sorted_scores[b] == sorted_scores[a]:
            b += 1
        if b - a > 1:
            order[a:b] = np.sort(order[a:b])
        a = b


def by_score(scores: np.ndarray) -> np.ndarray:
    """``argsort`` by decreasing score, ties by lower index."""
    order = np.argsort(scores)[::-1].copy()
    s = scores[order]
    if s.shape[0] > 1 and (s[1:] == s[:-1]).any():
        _ties_by_index(order, s)
    return order


def class_numbers(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """``(key, count)``: each label's class number in ``[0, count)`` (equal labels, equal numbers).

    Small non-negative labels are their own numbers (some classes may be empty);
    others are numbered by ``np.unique``.  Below 2**16 the key is uint16, which
    NumPy's stable sort sorts by radix.
    """
    if labels.shape[0] and 0 <= labels.min() and labels.max() < 1 << 16:
        return labels.astype(np.uint16), int(labels.max()) + 1
    uniq, key = np.unique(labels, return_inverse=True)
    return key.astype(np.uint16 if uniq.shape[0] <= 1 << 16 else np.int64, copy=False), uniq.shape[0]


def _group(order: np.ndarray, key: np.ndarray) -> np.ndarray:
    """``order`` stably regrouped by ``key`` (class numbers)."""
    return order[np.argsort(key[order], kind="stable")]


class Layout(NamedTuple):
    """Candidates by class.  Positions ``seg[g]:seg[g + 1]`` hold class g.

    ``by_score``: every candidate by decreasing score (ties: lower index);
    ``by_class``: the same order, grouped by class; ``by_x``: each class's boxes
    by x1; ``pos_of_rank[i]``: the position in ``by_x`` of ``by_class[i]``.
    All are indices into the input.
    """

    by_score: np.ndarray
    by_class: np.ndarray
    seg: np.ndarray
    by_x: np.ndarray
    pos_of_rank: np.ndarray


def layout(x1: np.ndarray, scores: np.ndarray, labels: np.ndarray | None, cand: np.ndarray | None,
           with_x: bool = True) -> Layout:
    """The :class:`Layout` of the candidates ``cand`` (None: all boxes) of classes ``labels``.

    ``labels`` None is one class.  ``with_x=False`` skips ``by_x`` and
    ``pos_of_rank`` (returned empty).
    """
    s = scores if cand is None else scores[cand]
    m = s.shape[0]
    order = by_score(s)
    if labels is None:
        key = None
        by_class = order
        seg = np.array([0, m], dtype=np.int64)
    else:
        key, count = class_numbers(labels if cand is None else labels[cand])
        by_class = _group(order, key)
        seg = np.zeros(count + 1, dtype=np.int64)
        np.cumsum(np.bincount(key, minlength=count), out=seg[1:])
    if with_x:
        by_x = np.argsort(x1 if cand is None else x1[cand])
        if key is not None:
            by_x = _group(by_x, key)
        pos = np.empty(m, dtype=np.int64)
        pos[by_x] = np.arange(m)
        pos_of_rank = pos[by_class]
    else:
        by_x = pos_of_rank = np.empty(0, dtype=np.int64)
    if cand is not None:
        order, by_class, by_x = cand[order], cand[by_class], cand[by_x]
    return Layout(order, by_class, seg, by_x, pos_of_rank)


def kept_by_score(by_score: np.ndarray, kept: np.ndarray, max_output: int) -> np.ndarray:
    """The boxes marked in the mask ``kept`` by decreasing score, at most ``max_output`` (-1: all)."""
    result = by_score[kept[by_score]]
    return result if max_output < 0 else result[:max_output]


def picks_by_score(idx: np.ndarray, new_scores: np.ndarray, max_output: int) -> tuple[np.ndarray, np.ndarray]:
    """Soft-NMS picks ``idx`` (input indices) and their decayed scores, by decreasing score (ties: index)."""
    o = np.lexsort((idx, -new_scores))
    if max_output >= 0:
        o = o[:max_output]
    return idx[o], new_scores[o]
