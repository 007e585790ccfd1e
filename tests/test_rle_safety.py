"""COCO RLE is untrusted input: malformed counts raise ValueError and never touch memory outside a buffer.

Every buffer that fastiou.masks allocates for the RLE kernels comes from
``masks._empty`` / ``masks._zeros``.  :class:`Guards` replaces both: each buffer
becomes a view into a larger array with sentinel bytes before and after it (and
``_empty`` buffers start as garbage, not zeros), and :meth:`Guards.check` fails if
any sentinel changed.  Every RLE entry point runs on a corpus of malformed RLE
under the guards, on both CPU backends, serially and in parallel; the kernels
are also called directly, without the wrapper's checks, and a hypothesis fuzz
test compares accept/reject and the decoded masks with a strict parser written
here from pycocotools' format.
"""

from __future__ import annotations

import contextlib
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import fastiou
from fastiou import backends, masks, reference

GUARD = 64  # bytes of sentinel on each side of a buffer (keeps the buffer 64-byte aligned)
SENTINEL = np.frombuffer(bytes((0xC3 ^ (7 * i)) & 0xFF for i in range(GUARD)), dtype=np.uint8)
GARBAGE = 0xA5  # the first bytes of an ``_empty`` buffer


class Guards:
    """Allocations with sentinel bytes around them; :meth:`check` after each call."""

    def __init__(self):
        self.bases = []

    def alloc(self, shape, dtype, fill=GARBAGE):
        dtype = np.dtype(dtype)
        shape = tuple(int(s) for s in np.atleast_1d(shape))
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        base = np.empty(nbytes + 2 * GUARD, dtype=np.uint8)
        base[:GUARD] = SENTINEL
        base[GUARD:GUARD + nbytes] = fill
        base[GUARD + nbytes:] = SENTINEL
        self.bases.append(base)
        return base[GUARD:GUARD + nbytes].view(dtype).reshape(shape)

    def check(self):
        for base in self.bases:
            assert np.array_equal(base[:GUARD], SENTINEL), "a write before a buffer"
            assert np.array_equal(base[-GUARD:], SENTINEL), "a write past the end of a buffer"

    def largest(self):
        return max((b.size - 2 * GUARD for b in self.bases), default=0)


@contextlib.contextmanager
def guarded():
    """``masks._empty`` / ``masks._zeros`` return guarded buffers; sentinels checked on the way out."""
    guards = Guards()
    saved = masks._empty, masks._zeros
    masks._empty = lambda shape, dtype: guards.alloc(shape, dtype)
    masks._zeros = lambda shape, dtype: guards.alloc(shape, dtype, 0)
    try:
        yield guards
    finally:
        masks._empty, masks._zeros = saved
    guards.check()


def test_guards_catch_an_overrun():
    guards = Guards()
    a = guards.alloc((3, 4), np.int64)
    guards.check()
    guards.bases[0].view(np.int64)[GUARD // 8 + a.size] = 0  # one past the end
    with pytest.raises(AssertionError, match="past the end"):
        guards.check()


def test_buffers_are_written_in_place(backend):
    """The kernels write through the guarded buffers, not through copies (or the guards prove nothing)."""
    m = np.zeros((2, 5, 7), bool)
    m[0, 1:4, 2:6] = True
    m[1, 0, :] = True
    rles = fastiou.rle_encode(m)
    with guarded() as guards:
        decoded = fastiou.rle_decode(rles, backend=backend)
        assert any(np.shares_memory(decoded, b) for b in guards.bases)
        assert np.array_equal(decoded, m)
        out = guards.alloc((2, 2), np.float64)
        assert fastiou.mask_iou(rles, m, out=out, backend=backend) is out
        np.testing.assert_array_equal(out, np.eye(2))
        assert fastiou.rle_encode(m, backend=backend) == rles
        # Every other buffer was written: none keeps only the garbage it started with.
        for base in guards.bases:
            head = base[GUARD:-GUARD]
            assert head.size == 0 or not np.all(head == GARBAGE)


# --- the corpus of malformed RLE -----------------------------------------------------

BLOB = np.zeros((16, 12), bool)
BLOB[3:11, 2:9] = True
BLOB[5:7, 4:6] = False
BLOB_STRING = fastiou.rle_encode(BLOB)["counts"]
# The first character that continues a number: cutting the string after it ends inside a count.
CUT_AT = next(i for i, c in enumerate(BLOB_STRING) if (c - 48) & 0x20) + 1
HUGE = [2**56, 4]  # 2**58 pixels: counts of 12 characters are in range
I64 = 2**63 - 1

# (id, size, counts, what the message of rle_decode(bad) must say)
CORPUS = [
    # the cases of the issue
    ("issue-huge-count", [2, 2], [0, 100_000_000], r"count 1 is 100000000, expected at most 4 "),
    ("issue-compressed", [2, 2], b"0PXh[o2", r"has 7 characters, more than a 2 x 2 mask allows"),
    ("issue-compressed-3x3", [3, 3], b"0PXh[o2", r"count 1 \(from character 1\) is longer than 1 char"),
    ("issue-compressed-big", [2**20, 2**20], b"0PXh[o2", r"\(its runs cover 100000000 pixels\)"),
    ("issue-past-end", [2, 2], [0, 5], r"count 1 is 5, expected at most 4 \(the counts before it cover 0"),
    ("issue-2**62", [2, 2], [0, 2**62], r"count 1 is 4611686018427387904"),
    # huge counts and running totals that would overflow int64
    ("int64-max", [2, 2], [0, I64], r"count 1 is 9223372036854775807"),
    ("first-too-big", [2, 2], [2**62, 2**62], r"count 0 is 4611686018427387904"),
    ("sum-overflows", [2, 2], [1, 1, I64, I64], r"count 2 is 9223372036854775807, expected at most 2 "),
    ("uint64-wraps", [2, 2], np.array([0, 2**64 - 1], np.uint64), r"count 1 is -1, expected a run length"),
    ("60-bit-count", HUGE, b"o" * 11 + b"?", r"count 0 is 576460752303423487, expected at most 2882303761"),
    ("60-bit-negative", HUGE, b"o" * 11 + b"O", r"count 0 is -1, expected a run length >= 0"),
    ("13-characters", HUGE, b"o" * 12 + b"?", r"count 0 \(from character 0\) is longer than 12 characters"),
    ("huge-delta", HUGE, reference.rle_string([5, 2**58 - 5, 0]) + b"o" * 11 + b"?", r"count 3 is \d+, exp"),
    # negative counts
    ("negative-list", [2, 2], [2, -1, 3], r"^rles\['counts'\] "),  # rejected by fastiou._validate
    ("negative-first", [2, 2], b"@", r"count 0 is -16, expected a run length >= 0"),
    ("negative-delta", [2, 2], reference.rle_string([1, 2, 0, -1]), r"count 3 is -1, expected a run length"),
    # truncated and over-long compressed strings
    ("cut-in-count", [16, 12], BLOB_STRING[:CUT_AT], r"the string ends inside count \d+ \(from character"),
    ("cut-short", [16, 12], BLOB_STRING[:-1], r"not a valid RLE of a 16 x 12 mask"),
    ("lone-continuation", [2, 2], b"P", r"the string ends inside count 0 \(from character 0\)"),
    ("extra-count", [16, 12], BLOB_STRING + b"1", r"count \d+ is \d+, expected at most 0 "),
    ("long-continuation", [100, 100], b"P" * 30 + b"0", r"count 0 \(from character 0\) is longer than 3"),
    ("too-many-runs", [4, 4], b"0" * 18, r"count 17 is one run too many, expected at most 17 runs"),
    ("too-many-list", [2, 2], [0] * 6 + [4], r"count 5 is one run too many"),
    ("megabyte-of-zeros", [2, 2], b"0" * 1_000_000, r"has 1000000 characters, more than a 2 x 2"),
    ("empty-string", [2, 2], b"", r"\(its runs cover 0 pixels\): expected its 0 counts to sum to 4"),
    ("empty-list", [2, 2], [], r"\(its runs cover 0 pixels\)"),
    ("short", [4, 4], [1, 2], r"\(its runs cover 3 pixels\): expected its 2 counts to sum to 16"),
    # characters outside 48-111
    ("space", [2, 2], b"0 1", r"character 1 \(in count 1\) is byte 32, expected characters 48-111"),
    ("above-o", [2, 2], b"p", r"character 0 \(in count 0\) is byte 112"),
    ("nul", [2, 2], b"1\x00", r"is byte 0, expected characters 48-111"),
    ("high-byte", [2, 2], b"\xff", r"is byte 255"),
    # wrong sizes
    ("size-mismatch", [2, 3], [0, 4], r"\(its runs cover 4 pixels\): expected its 2 counts to sum to 6"),
    ("empty-size-count", [0, 0], [1], r"count 0 is 1, expected at most 0 "),
    ("empty-size-string", [0, 5], b"1", r"count 0 is 1, expected at most 0 "),
    ("empty-size-runs", [3, 0], [0, 0, 0], r"count 1 is one run too many, expected at most 1 runs"),
    ("size-2**60", [2**30, 2**30], b"0", r"\['size'\] is 1073741824 x 1073741824: RLE masks must have fewer"),
    ("negative-size", [-1, 4], b"0", r"^rles\['size'\] "),  # rejected by fastiou._validate
]
SIZE_FAULTS = {"size-2**60", "negative-size"}  # reported at the first mask of the argument


def _good(size):
    """A valid RLE of ``size``, and its dense mask where that is small."""
    h, w = max(size[0], 0), max(size[1], 0)
    if h * w > 10_000:
        return {"size": list(size), "counts": [h * w]}, None
    dense = np.random.default_rng(h * 31 + w).random((h, w)) < 0.4
    return fastiou.rle_encode(dense), dense


def _entry_points(bad, size, size_fault):
    """``(call(backend), what the error must name)`` for every RLE entry point."""
    good, dense = _good(size)

    def named(where):
        return r"\['size'\]" if size_fault else "^" + re.escape(where) + r"\['counts'\] "

    calls = [
        (lambda b: fastiou.rle_decode(bad, backend=b), named("rles")),
        (lambda b: fastiou.rle_decode([good, bad], backend=b), named("rles[1]")),
        (lambda b: fastiou.mask_iou(bad, good, backend=b), named("masks1")),
        (lambda b: fastiou.mask_iou([good] * 2, [good, bad], iscrowd=[1, 0], backend=b), named("masks2[1]")),
        (lambda b: fastiou.mask_dice([bad], [good], aligned=True, backend=b), named("masks1[0]")),
        (lambda b: fastiou.mask_iou(bad, [], backend=b), named("masks1")),  # no result, still checked
    ]
    if dense is not None:  # a dense argument facing RLE is run-length encoded in guarded buffers
        calls.append((lambda b: fastiou.mask_dice(bad, dense[None], backend=b), named("masks1")))
    return calls


@pytest.mark.parametrize("case", CORPUS, ids=[c[0] for c in CORPUS])
def test_malformed_rle_raises_without_overrun(case, backend, force_parallel):
    case_id, size, counts, message = case
    bad = {"size": size, "counts": counts}
    with guarded() as guards:
        with pytest.raises(ValueError, match=message):
            fastiou.rle_decode(bad, backend=backend)
    assert guards.largest() <= 4096  # rejected before anything in proportion to the mask was allocated
    for call, name in _entry_points(bad, size, case_id in SIZE_FAULTS):
        with guarded():
            with pytest.raises(ValueError, match=name):
                call(backend)


def test_str_counts_are_checked_too(backend):
    with guarded():
        with pytest.raises(ValueError, match=r"rles\['counts'\] .* count 1 is 5"):
            fastiou.rle_decode({"size": [2, 2], "counts": "05"}, backend=backend)


def test_empty_sizes_decode(backend):
    """Issue 16 item 4: the RLE of a mask without pixels is [] (or [0], or b'' / b'0')."""
    for size in ([0, 0], [0, 5], [3, 0]):
        for counts in ([], [0], b"", b"0", "", np.zeros(1, np.int64)):
            with guarded():
                got = fastiou.rle_decode({"size": size, "counts": counts}, backend=backend)
                assert got.shape == tuple(size) and got.dtype == bool
                both = fastiou.rle_decode([{"size": size, "counts": counts}] * 2, backend=backend)
                assert both.shape == (2, *size)
                iou = fastiou.mask_iou({"size": size, "counts": counts}, np.zeros((1, *size), bool),
                                       backend=backend)
                assert iou.tolist() == [[0.0]]
        assert fastiou.rle_encode(np.zeros(size, bool), backend=backend)["counts"] == b"0"


def test_valid_rle_near_the_limits(backend):
    """Valid input at the edges still decodes: 60-bit counts, a zero-length run, H * W + 1 runs."""
    n = 2**58
    counts = [5, n - 10, 5]
    big = {"size": HUGE, "counts": reference.rle_string(counts)}
    assert reference.rle_string_runs(big["counts"]) == counts
    assert fastiou.mask_iou(big, {"size": HUGE, "counts": counts}, backend=backend).tolist() == [[1.0]]
    with guarded():
        # 1 x 3: four runs (the most), and a zero-length run in the middle
        most = fastiou.rle_decode({"size": [1, 3], "counts": [0, 1, 1, 1]}, backend=backend)
        assert most.tolist() == [[True, False, True]]
        empty_run = fastiou.rle_decode({"size": [1, 3], "counts": [1, 0, 0, 2]}, backend=backend)
        assert empty_run.tolist() == [[False, True, True]]
        m = np.zeros((3, 1), bool)
        m[1] = True
        back = fastiou.rle_decode(fastiou.rle_encode(m, backend=backend), backend=backend)
        assert back.tolist() == m.tolist()


# --- the kernels without the wrapper's checks -------------------------------------


def _kernels(backend):
    return backends.select(backend, 0, family="masks")[0]


def test_status_codes_agree():
    cy = pytest.importorskip("fastiou._cy_masks", reason="the Cython backend is not built")
    from fastiou.backends import numba_cpu_masks as nb

    assert cy.STATUS_CODES == (nb.RLE_OK, nb.RLE_NEGATIVE, nb.RLE_PAST_END, nb.RLE_SHORT, nb.RLE_TOO_MANY,
                               nb.RLE_CUT, nb.RLE_TOO_LONG, nb.RLE_BAD_CHAR, nb.N_STATUS)
    assert masks._N_STATUS == nb.N_STATUS


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_string_kernel_stays_in_its_slices(backend, parallel):
    """rle_from_strings writes only its strings' slices, whatever the strings and ``total``."""
    from fastiou.backends import numba_cpu_masks as nb

    strings = [b"0" * 300, b"P" * 40, b"o" * 11 + b"?", b"1" * 50, b"", b"0PXh[o2", b"3" + b"P", b"4"]
    total = 4
    guards = Guards()
    lengths = [len(s) for s in strings]
    offsets = guards.alloc(len(strings) + 1, np.int64)
    offsets[0] = 0
    offsets[1:] = np.cumsum(lengths)
    buf = np.frombuffer(b"".join(strings), np.uint8)
    counts = guards.alloc(int(offsets[-1]), np.int64)
    nruns = guards.alloc(len(strings), np.int64)
    status = guards.alloc((len(strings), masks._N_STATUS), np.int64)
    _kernels(backend).rle_from_strings(buf, offsets, total, 12, counts, nruns, status, parallel)
    guards.check()
    assert status[:, 0].tolist() == [nb.RLE_TOO_MANY, nb.RLE_TOO_LONG, nb.RLE_PAST_END, nb.RLE_PAST_END,
                                     nb.RLE_SHORT, nb.RLE_PAST_END, nb.RLE_CUT, nb.RLE_OK]
    assert status[0, 1] == total + 1 and nruns[0] == total + 1
    assert status[1, 1:].tolist() == [0, 0, 0]  # count 0, from character 0
    assert nruns[7] == 1 and counts[offsets[7]] == 4


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_info_kernel_checks_before_writing(backend, parallel):
    """rle_info stops at the first count that would pass the mask's end: no segment past column W - 1."""
    from fastiou.backends import numba_cpu_masks as nb

    height, width = 2, 3
    per_mask = [[0, 100_000_000], [0, 7], [1, 2**62], [0, I64, I64], [2, -1, 5], [0, 2, 2, 3], [1, 5]]
    guards = Guards()
    index = guards.alloc((len(per_mask), 2), np.int64)
    index[:, 1] = [len(c) for c in per_mask]
    index[:, 0] = np.cumsum(index[:, 1]) - index[:, 1]
    runs = guards.alloc((2, int(index[:, 1].sum())), np.int64)
    runs[0] = np.concatenate(per_mask)
    info = guards.alloc((len(per_mask), 9), np.int64)
    segments = guards.alloc((2, len(per_mask), width), np.int32)
    status = guards.alloc((len(per_mask), masks._N_STATUS), np.int64)
    _kernels(backend).rle_info(runs, index, height, info, segments, status, parallel)
    guards.check()
    assert status[:, 0].tolist() == [nb.RLE_PAST_END, nb.RLE_PAST_END, nb.RLE_PAST_END, nb.RLE_PAST_END,
                                     nb.RLE_NEGATIVE, nb.RLE_PAST_END, nb.RLE_OK]
    assert status[:, 1].tolist() == [1, 1, 1, 1, 1, 3, 0]
    assert status[5, 2:].tolist() == [3, 4]  # count 3 is 3, after 4 of the 6 pixels
    assert status[6].tolist() == [nb.RLE_OK, 0, 0, 6] and info[6, 0] == 5  # area
    assert segments[:, 6].tolist() == [[1, 0, 0], [2, 2, 2]]  # rows [1, 2), [0, 2), [0, 2)


# --- fuzzing ---------------------------------------------------------------------------


def strict_counts(counts, total):
    """The counts of an RLE of ``total`` pixels, or None where fastiou must reject it.

    pycocotools' format, strictly: characters 48-111, a number ends on a character
    without 0x20 (whose 0x10 is the sign), at most ``(bitlen(total) + 5) // 5``
    characters per number, from the fourth count on a difference to the count two
    back; at most ``total + 1`` counts, none negative, summing to ``total``.
    """
    if isinstance(counts, bytes):
        max_chars = (total.bit_length() + 5) // 5
        runs, p = [], 0
        while p < len(counts):
            x, k, start, more = 0, 0, p, True
            while more:
                if p == len(counts) or not 48 <= counts[p] <= 111 or p - start == max_chars:
                    return None
                c = counts[p] - 48
                x |= (c & 0x1F) << (5 * k)
                more = bool(c & 0x20)
                p += 1
                k += 1
            if c & 0x10:
                x -= 1 << (5 * k)
            if len(runs) > 2:
                x += runs[-2]
            runs.append(x)
    else:
        runs = [int(c) for c in counts]
    if len(runs) > total + 1 or any(c < 0 for c in runs) or sum(runs) != total:
        return None
    return runs


@st.composite
def rles(draw):
    """A size and counts: random bytes, COCO characters, count lists, or valid counts (mutated or not)."""
    h, w = (draw(st.integers(0, 6) | st.integers(0, 300)) for _ in range(2))
    total = h * w
    kind = draw(st.sampled_from(["bytes", "chars", "list", "valid string", "valid list"]))
    if kind == "bytes":
        return [h, w], draw(st.binary(max_size=24))
    if kind == "chars":
        return [h, w], bytes(draw(st.lists(st.integers(48, 111), max_size=24)))
    if kind == "list":
        big = st.sampled_from([2**31, 2**32 + 1, 2**62, 2**63 - 1])
        return [h, w], draw(st.lists(st.integers(-3, 40) | st.integers(0, total) | big, max_size=12))
    cuts = sorted(draw(st.lists(st.integers(0, total), max_size=10)))
    runs = np.diff([0, *cuts, total]).tolist()  # sums to total; empty runs where cuts repeat
    if kind == "valid list":
        if draw(st.booleans()):
            i = draw(st.integers(0, len(runs) - 1))
            runs[i] = max(0, runs[i] + draw(st.sampled_from([-1, 1])))
        return [h, w], runs
    text = bytearray(reference.rle_string(runs))
    op = draw(st.sampled_from(["keep", "cut", "insert", "replace"]))
    i = draw(st.integers(0, len(text)))
    if op == "cut":
        del text[i:]
    elif op == "insert":
        text.insert(i, draw(st.integers(0, 255)))
    elif op == "replace" and i < len(text):
        text[i] = draw(st.integers(0, 255))
    return [h, w], bytes(text)


def _installed(name):
    try:
        backends.load(name, "masks")
    except ImportError:
        return False
    return True


INSTALLED = [name for name in ("numba", "cython") if _installed(name)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rles())
def test_fuzz_rle_matches_a_strict_parser(case):
    size, counts = case
    h, w = size
    want = strict_counts(counts, h * w)
    event("accepted" if want is not None else "rejected")
    if isinstance(counts, bytes) and want is not None:
        assert reference.rle_string_runs(counts) == want  # the strict parser reads what pycocotools reads
    rle = {"size": size, "counts": counts}
    for backend in INSTALLED:
        with guarded():
            if want is None:
                with pytest.raises(ValueError, match=r"^rles\['counts'\] "):
                    fastiou.rle_decode(rle, backend=backend)
                with pytest.raises(ValueError, match=r"^masks2\['counts'\] "):
                    fastiou.mask_iou(np.zeros((1, h, w), bool), rle, backend=backend)
                continue
            expected = reference.rle_decode({"size": size, "counts": want})
            np.testing.assert_array_equal(fastiou.rle_decode(rle, backend=backend), expected)
            iou = fastiou.mask_iou([rle, rle], expected, backend=backend)
            assert iou.tolist() == [[1.0 if expected.any() else 0.0]] * 2


@pytest.mark.skipif("cython" not in INSTALLED, reason="the small-input fast path is the Cython extension's")
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rles(), rles())
def test_fuzz_small_rle_fast_path(case1, case2):
    """The fast path of small lists of compressed RLE (one allocation, the kernels' checks):
    on any counts it returns the general path's matrix or None, and a call with a faulty
    mask raises the general path's error, naming it."""
    from fastiou import masks
    from fastiou._cy_masks import small_rle_overlap

    (size, counts1), (_, counts2) = case1, case2  # both of the first size
    if not (isinstance(counts1, bytes) and isinstance(counts2, bytes)):
        return
    h, w = size
    want1, want2 = strict_counts(counts1, h * w), strict_counts(counts2, h * w)
    max_chars = masks._max_chars(h * w)
    for code in (0, 1):  # IoU, Dice
        got = small_rle_overlap(code, [counts1, counts1], [counts2], h, w, max_chars,
                                masks._longest(h * w, max_chars), 10**9)
        assert (got is None) == (want1 is None or want2 is None)
    rle1 = {"size": size, "counts": counts1}
    rle2 = {"size": size, "counts": counts2}
    if want1 is None:  # the first argument's masks are decoded first
        with pytest.raises(ValueError, match=r"^masks1\[0\]\['counts'\] "):
            fastiou.mask_iou([rle1], [rle2])
    elif want2 is None:
        with pytest.raises(ValueError, match=r"^masks2\[0\]\['counts'\] "):
            fastiou.mask_iou([rle1], [rle2])
    else:
        for overlap in (fastiou.mask_iou, fastiou.mask_dice):
            general = overlap([rle1, rle1], [rle2], backend="numba")
            np.testing.assert_array_equal(overlap([rle1, rle1], [rle2]), general)
