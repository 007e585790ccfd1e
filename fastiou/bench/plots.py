"""The benchmark pictures: the headline speed-up chart, the scaling plots and the load heat map.

Each picture is drawn from the record of one measured run, so that pictures and
tables come from the same measurements:

- :func:`plot_summary` and :func:`plot_scaling` from what ``fastiou bench --json``
  writes (:func:`fastiou.bench.table.record`: ``machine``, ``bandwidth``, ``date``
  and ``rows``);
- :func:`plot_load` from what ``benchmarks/load_matrix.py --json`` writes
  (``machine`` and ``rows``).

Every ``plot_*`` function writes a file (``path=...``) and returns the path, or
returns the picture as an ``(H, W, 4)`` RGBA ``uint8`` array; the ``*_figure``
functions return the matplotlib figure, and the functions without a picture
(:func:`summary_bars`, :func:`scaling_panels`, :func:`load_cells`) return the
values that the pictures plot.  A record that lacks a field a picture needs raises
a ``ValueError`` that names the field.  Needs the ``plot`` extra
(``pip install 'fastiou[plot]'``); drawing is headless (see :mod:`fastiou.viz`).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import textwrap
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import viz
from .runner import FAMILIES, is_forced

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

#: Implementations that are fastiou's own, not another library: the naive oracle, and
#: fastiou's dense kernel thresholded (a way to use fastiou, not an alternative to it).
OWN_PREFIXES = ("fastiou", "reference", "dense box_iou")
#: How the load matrix's loads read in the heat map.
LOAD_NAMES = {"quiet": "quiet", "nice0": "1 busy process\n(nice 0)", "nice19": "1 busy process\n(nice 19)"}
#: A scaling panel needs at least this many input sizes: fewer draw dots, not a trend.
MIN_SIZES = 3

_OURS = "#2a7ab9"
_SLOWER = "#c0504d"


# --- reading the records -------------------------------------------------------------


def read_json(path: str | os.PathLike) -> dict:
    """The record that ``fastiou bench --json`` or ``load_matrix.py --json`` wrote to ``path``."""
    with open(path) as fh:
        run = json.load(fh)
    if not isinstance(run, dict):
        raise ValueError(f"{os.fspath(path)} holds a JSON {type(run).__name__}, not an object with 'rows'")
    return run


def _field(mapping: Any, name: str, where: str) -> Any:
    """``mapping[name]``, or a ValueError naming the field and where it is missing."""
    if not isinstance(mapping, dict) or mapping.get(name) is None:
        raise ValueError(f"{where} lacks the field {name!r}")
    return mapping[name]


def _rows(run: dict, fields: tuple[str, ...]) -> list[dict]:
    """The run's rows, each checked for ``fields``."""
    rows = _field(run, "rows", "the benchmark record")
    if not rows:
        raise ValueError("the benchmark record's 'rows' is empty: nothing to plot")
    for i, row in enumerate(rows):
        for name in fields:
            _field(row, name, f"rows[{i}]")
    return rows


def _is_peer(impl: str) -> bool:
    return not impl.startswith(OWN_PREFIXES)


def _kind(label: str) -> str:
    """The input without its size, the label's first word: ``'2000 clustered, 80 classes'`` ->
    ``'clustered, 80 classes'``."""
    return re.sub(r"^\S*\d\S*\s*", "", label)


def _compact(n: float) -> str:
    """``1500`` -> ``'1.5k'``: tick labels short enough not to collide."""
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{suffix}"
    return f"{n:.3g}"


def _times(x: float) -> str:
    return f"{x:.0f}x" if x >= 10 else f"{x:.2g}x" if x >= 1 else f"{x:.2f}x"


# --- the headline chart -------------------------------------------------------------


def summary_bars(run: dict) -> list[dict]:
    """The headline chart's bars: one per operation, in the order the run measured them.

    Each operation is shown at its largest input that another library was timed on
    (the first such input where several have that size).  The bar is the same-run
    speed-up of fastiou's default call (``'fastiou[auto]'``; where a case has none, its
    fastest ``'fastiou[...]'`` implementation) over the fastest other library on that
    input: their median times' ratio.

    Returns
    -------
    list of dict
        ``op``, ``label`` (the input), ``size``, ``fastiou`` and ``peer`` (the
        implementations), ``fastiou_s`` and ``peer_s`` (median seconds), ``speedup``.
    """
    cases: dict[tuple[str, str], list[dict]] = {}
    for row in _rows(run, ("op", "label", "impl", "size", "median_s")):
        if not is_forced(row["impl"]):
            cases.setdefault((row["op"], row["label"]), []).append(row)
    chosen: dict[str, dict] = {}
    for (op, label), rows in cases.items():
        ours = [r for r in rows if r["impl"].startswith("fastiou[")]
        peers = [r for r in rows if _is_peer(r["impl"])]
        if not ours or not peers:
            continue
        auto = [r for r in ours if r["impl"].startswith("fastiou[auto]")]
        mine = min(auto or ours, key=lambda r: r["median_s"])
        peer = min(peers, key=lambda r: r["median_s"])
        if op not in chosen or mine["size"] > chosen[op]["size"]:
            chosen[op] = {"op": op, "label": label, "size": mine["size"], "fastiou": mine["impl"],
                          "peer": peer["impl"], "fastiou_s": mine["median_s"], "peer_s": peer["median_s"],
                          "speedup": peer["median_s"] / mine["median_s"]}
    if not chosen:
        raise ValueError("no operation in the record was timed against another library")
    return list(chosen.values())


def _summary_caption(run: dict) -> str:
    machine = _field(run, "machine", "the benchmark record")
    cores = _field(machine, "cores", "the record's 'machine'")
    write = _field(_field(run, "bandwidth", "the benchmark record"), "write", "the record's 'bandwidth'")
    threads = machine.get("threads")
    date = str(run["date"])[:10] if run.get("date") else "date not recorded"  # older records have none
    return (f"{cores} cores" + (f", {threads} threads" if threads else "")
            + f", memory write bandwidth {write / 1e9:.1f} GB/s (measured in the same run); {date}. "
            "Bar: the median time of the fastest other installed library over fastiou's default call "
            "(backend='auto') on the same input in the same run, each operation at its largest input "
            "timed against another library. Log scale; right of the dotted line fastiou is faster.")


def summary_figure(run: dict, width: int = 900) -> Figure:
    """The headline chart of :func:`summary_bars` as a matplotlib figure (see :func:`plot_summary`)."""
    bars = summary_bars(run)
    caption = _summary_caption(run)
    fig = viz._figure(width, 120 + 34 * len(bars), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(bars))[::-1]  # the first operation on top
    speedups = np.array([b["speedup"] for b in bars])
    # bars grow from 1x, so that a slower fastiou points left on the log axis
    ax.barh(y, speedups - 1, left=1, height=0.7,
            color=[_OURS if s >= 1 else _SLOWER for s in speedups], gid="speedup")
    ax.set_xscale("log")
    ax.axvline(1, color="#333333", lw=0.8, ls=":")
    ax.set_yticks(y, [f"{b['op']}\n{b['label']}" for b in bars], fontsize=8)
    ax.set_ylim(-0.6, len(bars) - 0.4)
    notes = [ax.annotate(f"{_times(b['speedup'])} vs {b['peer']}", (b["speedup"], yi), xytext=(4, 0),
                         textcoords="offset points", va="center", fontsize=8)
             for b, yi in zip(bars, y)]
    ax.xaxis.set_major_formatter(lambda x, _: f"{x:,.0f}x" if x >= 1 else f"{x:g}x")
    ax.set_xlabel("fastiou's speed-up over the fastest other library (log scale)", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(True, axis="x", which="major", lw=0.5, alpha=0.5)
    ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle("How much faster is fastiou than the fastest other library?", fontsize=11)
    fig.supxlabel("\n".join(textwrap.wrap(caption, int(width / 6.2))), x=0.01, ha="left", fontsize=7.5,
                  color="#444444")
    _place_notes(ax, notes, min(0.8, speedups.min() / 1.5), max(1.5, speedups.max()) * 1.2)
    return fig


def _place_notes(ax, notes: list, low: float, high: float) -> None:
    """Write each note inside its bar where it fits, else beside it, on the narrowest log
    x axis from ``low`` to at least ``high`` where every note ends inside the axis.

    On an axis ``W`` pixels wide a bar ending at ``x`` is ``W * log(x) / log(top / low)``
    pixels long (from 1x).  A note ``w`` pixels wide fits inside that bar while ``top`` is
    at most some bound, and beside it once ``top`` is at least another: so the narrowest
    axis is ``high`` or one of the "beside" bounds, the first of them where every note
    fits one way or the other.  The tick labels move the layout a little with ``top``: a
    few passes settle it.
    """
    lo = math.log10(low)
    top = high
    for _ in range(4):
        ax.set_xlim(low, top)
        ax.figure.canvas.draw()
        width = ax.get_window_extent().width
        sizes = [(math.log10(max(n.xy[0], 1)) - lo, n.get_window_extent().width) for n in notes]

        def fits_inside(span: float, wide: float, top: float) -> bool:
            return width * (span + lo) / (math.log10(top) - lo) >= wide + 10

        def beside_bound(span: float, wide: float) -> float:  # the least top with the note beside its bar
            room = width - wide - 12
            return 10 ** (lo + span * width / room) if room > 0 else math.inf

        def fits(t: float) -> bool:
            return all(fits_inside(span, wide, t) or beside_bound(span, wide) <= t * (1 + 1e-9)
                       for span, wide in sizes)

        candidates = sorted({high, *(b for span, wide in sizes if (b := beside_bound(span, wide)) > high)})
        chosen = next((t for t in candidates if math.isfinite(t) and fits(t)), None)
        if chosen is None:  # a note wider than the axis: the widest finite choice leaves fewest out
            chosen = max((t for t in candidates if math.isfinite(t)), default=high)
        settled = math.isclose(chosen, top, rel_tol=1e-3)
        top = chosen
        ax.set_xlim(low, top)
        for note, (span, wide) in zip(notes, sizes):
            inside = fits_inside(span, wide, top)
            note.set(ha="right" if inside else "left", color="white" if inside else "black")
            note.xyann = (-4 if inside else 4, 0)
            # a slower fastiou's note starts at 1x, beside its bar pointing left, not across it
            if not inside:
                note.xy = (max(note.xy[0], 1), note.xy[1])
        if settled:
            return


def plot_summary(run: dict, path: str | os.PathLike | None = None, width: int = 900
                 ) -> str | os.PathLike | np.ndarray:
    """The headline chart: fastiou's same-run speed-up over the fastest other library, per operation.

    One horizontal bar per operation (:func:`summary_bars`), on a log axis, the other
    library named beside the bar and the input in the label; the caption gives the
    machine's cores, its measured write bandwidth and the date of the run.

    Parameters
    ----------
    run : dict
        What ``fastiou bench --json`` writes (``machine``, ``bandwidth``, ``rows``; ``date``).
    path : str or path-like, optional
        Write the picture there and return ``path``.  Default: return it as an array.
    width : int
        Pixels; the height follows the number of operations.

    Examples
    --------
    >>> from fastiou.bench import plots
    >>> rows = [{"op": "box_iou", "label": "1000x1000 clustered float32", "impl": impl, "size": 1000,
    ...          "median_s": t} for impl, t in [("fastiou[auto]", 0.001), ("torchvision", 0.05)]]
    >>> run = {"machine": {"cores": 2}, "bandwidth": {"write": 3e9}, "rows": rows}
    >>> plots.plot_summary(run).shape
    (154, 900, 4)
    """
    return viz._render(summary_figure(run, width), path, palette=True)


# --- the scaling plots ----------------------------------------------------------------


def op_families() -> dict[str, str]:
    """``{operation: family}`` for every case that ``fastiou bench`` can run (quick or not)."""
    families: dict[str, str] = {}
    for family in FAMILIES:
        module = importlib.import_module(f".{family}", __package__)
        for quick in (True, False):
            for case in module.cases(quick, None):  # lazy: listing builds no input
                families.setdefault(case.op, family)
    return families


def scaling_panels(rows: list[dict]) -> dict[str, list[dict]]:
    """The scaling plots' panels: ``{family: [panel, ...]}``, families with no panel left out.

    One panel per operation and kind of input (the label without its size) measured at
    :data:`MIN_SIZES` or more sizes; each panel is a dict of ``op``, ``kind``, ``unit``
    and ``lines``: ``{implementation: [(size, per_s), ...]}`` sorted by size (the
    forced serial / parallel twins of ``'fastiou[auto]'`` left out).  Operations that
    ``fastiou bench`` no longer runs go to the family ``'other'``.
    """
    rows = _rows({"rows": rows}, ("op", "label", "impl", "size", "per_s", "unit"))
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        if not is_forced(row["impl"]):
            groups.setdefault((row["op"], _kind(row["label"])), []).append(row)
    families = op_families()
    result: dict[str, list[dict]] = {}
    for (op, kind), group in groups.items():
        if len({r["size"] for r in group}) < MIN_SIZES:
            continue
        lines: dict[str, dict] = {}
        for r in group:  # the first row of an implementation and size wins (a case listed twice)
            lines.setdefault(r["impl"], {}).setdefault(r["size"], r["per_s"])
        panel = {"op": op, "kind": kind, "unit": group[0]["unit"],
                 "lines": {impl: sorted(points.items()) for impl, points in lines.items()}}
        result.setdefault(families.get(op, "other"), []).append(panel)
    return result


def scaling_figure(family: str, panels: list[dict]) -> Figure:
    """One family's scaling panels (from :func:`scaling_panels`) as one figure, legend outside."""
    ncols = min(len(panels), 2)
    nrows = math.ceil(len(panels) / ncols)
    impls = list(dict.fromkeys(impl for p in panels for impl in p["lines"]))
    fig = viz._figure(480 * ncols + 40, 300 * nrows + 40 + 20 * math.ceil(len(impls) / 3),
                      layout="constrained")  # first: says how to install matplotlib when it is missing
    from matplotlib.ticker import LogFormatterSciNotation

    class compact(LogFormatterSciNotation):
        """'20M' rather than '2 x 10^7', on the ticks that matplotlib labels."""

        def __call__(self, x, pos=None):
            return _compact(x) if super().__call__(x, pos) else ""

    fig.suptitle(f"{family}: throughput against input size (higher is better, log-log)", fontsize=11)
    palette = viz._palette()
    colours = {impl: palette[k % len(palette)] for k, impl in enumerate(impls)}  # one per figure
    handles = {}
    for k, panel in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        sizes = sorted({s for points in panel["lines"].values() for s, _ in points})
        for impl, points in panel["lines"].items():
            ours = impl.startswith("fastiou")
            xs, ys = zip(*points)
            handles[impl], = ax.plot(xs, ys, ls="-" if ours else "--", marker="o" if ours else "s", ms=4,
                                     lw=2 if ours else 1.3, color=colours[impl], label=impl, gid=impl)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes, [_compact(s) for s in sizes])  # the measured sizes, nothing between
        ax.set_xticks([], minor=True)
        ax.set_title(f"{panel['op']} ({panel['kind']})" if panel["kind"] else panel["op"], fontsize=9.5)
        ax.set_xlabel("input size", fontsize=8.5)
        ax.set_ylabel(f"{panel['unit']} / s", fontsize=8.5)
        ax.tick_params(labelsize=8)
        ax.yaxis.set_major_formatter(compact())
        ax.yaxis.set_minor_formatter(compact(labelOnlyBase=False))  # labels only where matplotlib would
        ax.grid(True, which="major", lw=0.5, alpha=0.5)
    # one legend for the whole figure, below the panels: it covers no data
    fig.legend([handles[i] for i in impls], impls, loc="outside lower center", ncols=min(len(impls), 3),
               fontsize=8, frameon=False)
    return fig


def plot_scaling(rows: list[dict], directory: str | os.PathLike, prefix: str = "scaling_",
                 suffix: str = ".png") -> list[str]:
    """Write one scaling figure per family that has a panel (:func:`scaling_panels`).

    The files are ``directory/{prefix}{family}{suffix}``; returns their paths (none
    when no operation was measured at :data:`MIN_SIZES` sizes).
    """
    paths: list[str] = []
    for family, panels in scaling_panels(rows).items():
        path = os.path.join(os.fspath(directory), f"{prefix}{family}{suffix}")
        viz._render(scaling_figure(family, panels), path, palette=True)  # writes path, returns it
        paths.append(path)
    return paths


# --- the load heat map ------------------------------------------------------------------


def load_cells(run: dict) -> dict:
    """The load heat map's cells, from what ``benchmarks/load_matrix.py --json`` writes.

    The rows at the run's largest thread count, one heat-map row per operation and
    input, one column per load (in the order measured).  A cell is ``auto_s / min(serial_s,
    parallel_s)``: the time of the call as a user makes it over the faster of fastiou's
    own forced serial and parallel paths (1 means the cost model picked the faster path).

    Returns
    -------
    dict
        ``rows`` (``'op input'`` labels), ``loads`` (load names), ``threads``, ``ratio``
        (float array, rows x loads, NaN where a load was not measured) and ``best``
        (``'serial'`` or ``'parallel'``, or None, per cell).
    """
    rows = _rows(run, ("op", "label", "threads", "load", "auto_s", "serial_s", "parallel_s"))
    threads = max(r["threads"] for r in rows)
    rows = [r for r in rows if r["threads"] == threads]
    names = list(dict.fromkeys(f"{r['op']} {r['label']}" for r in rows))
    loads = list(dict.fromkeys(r["load"] for r in rows))
    ratio = np.full((len(names), len(loads)), np.nan)
    best: list[list[str | None]] = [[None] * len(loads) for _ in names]
    for r in rows:
        i, j = names.index(f"{r['op']} {r['label']}"), loads.index(r["load"])
        own = min(r["serial_s"], r["parallel_s"])
        ratio[i, j] = r["auto_s"] / own
        best[i][j] = "serial" if r["serial_s"] <= r["parallel_s"] else "parallel"
    return {"rows": names, "loads": loads, "threads": threads, "ratio": ratio, "best": best}


def load_figure(run: dict) -> Figure:
    """The load heat map of :func:`load_cells` as a matplotlib figure (see :func:`plot_load`)."""
    cells = load_cells(run)
    ratio = cells["ratio"]
    nrows, ncols = ratio.shape
    width = max(640, 330 + 150 * ncols)
    fig = viz._figure(width, 150 + 30 * nrows, layout="constrained")  # says how to install matplotlib
    from matplotlib import colormaps
    from matplotlib.colors import TwoSlopeNorm

    ax = fig.add_subplot()
    finite = ratio[np.isfinite(ratio)]
    # white at 1 (auto as fast as the better path), red where auto is slower, blue where faster
    norm = TwoSlopeNorm(vcenter=1.0, vmin=min(0.5, finite.min()), vmax=max(2.0, finite.max()))
    cmap = colormaps["RdBu_r"].with_extremes(bad="#dddddd")  # grey: a load not measured
    image = ax.imshow(np.ma.masked_invalid(ratio), cmap=cmap, norm=norm, aspect="auto", gid="ratio")
    for i in range(nrows):
        for j in range(ncols):
            value, best = ratio[i, j], cells["best"][i][j]
            text = "-" if not np.isfinite(value) else f"{value:.2f} ({best[0].upper()})"
            dark = np.isfinite(value) and abs(norm(value) - 0.5) > 0.35
            ax.text(j, i, text, ha="center", va="center", fontsize=8.5, color="white" if dark else "black")
    ax.set_xticks(range(ncols), [LOAD_NAMES.get(load, load) for load in cells["loads"]], fontsize=8.5)
    ax.xaxis.tick_top()
    ax.set_yticks(range(nrows), cells["rows"], fontsize=8.5)
    ax.tick_params(length=0)
    fig.colorbar(image, ax=ax, shrink=0.9).set_label("auto / faster own path", fontsize=8.5)
    machine = run.get("machine") or {}
    cores = machine.get("cores")
    date = run.get("date")  # load_matrix.py records none yet: shown when it does
    caption = (f"backend='auto' time over the faster of fastiou's forced serial (S) and parallel (P) "
               f"paths, {cells['threads']} threads" + (f", {cores} cores" if cores else "")
               + (f"; {str(date)[:10]}" if date else "")
               + ". 1.00 = the cost model picked the faster path; above 1.10 it lost time.")
    fig.suptitle("Does backend='auto' pick fastiou's faster path?", fontsize=11)
    fig.supxlabel("\n".join(textwrap.wrap(caption, int(width / 6.2))), x=0.01, ha="left",
                  fontsize=7.5, color="#444444")
    return fig


def plot_load(run: dict, path: str | os.PathLike | None = None) -> str | os.PathLike | np.ndarray:
    """The load heat map: ``auto`` time over the faster of fastiou's serial and parallel paths.

    One row per operation and input, one column per load (quiet, one busy process beside
    it), at the run's largest thread count (:func:`load_cells`); each cell also names the
    faster own path (S or P).

    Parameters
    ----------
    run : dict
        What ``benchmarks/load_matrix.py --json`` writes (``rows``; ``machine``).
    path : str or path-like, optional
        Write the picture there and return ``path``.  Default: return it as an array.

    Examples
    --------
    >>> from fastiou.bench import plots
    >>> rows = [{"op": "nms", "label": "2000 clustered", "threads": 2, "load": load, "auto_s": a,
    ...          "serial_s": 1.0, "parallel_s": 0.8} for load, a in [("quiet", 0.8), ("nice0", 1.2)]]
    >>> plots.plot_load({"rows": rows}).shape
    (180, 640, 4)
    """
    return viz._render(load_figure(run), path, palette=True)
