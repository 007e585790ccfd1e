"""The writers of ``fastiou bench``: the Markdown table and the JSON file of its rows.

(The throughput-against-size plot is :func:`fastiou.viz.plot_benchmarks`.)
"""

from __future__ import annotations

import json
from dataclasses import asdict

from .runner import Row


def _fmt_time(s: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def _fmt_rate(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.3g}"


def format_table(rows: list[Row], bandwidth: dict) -> str:
    """Markdown table: operation, input, implementation, median, throughput, fastiou's speed-up, % bandwidth."""
    lines = [
        f"memory bandwidth measured at the start of this run: write {bandwidth['write'] / 1e9:.1f} GB/s, "
        f"read {bandwidth['read'] / 1e9:.1f} GB/s (and again before each bandwidth-bound case: the "
        "% column uses that)",
        "",
        "| operation | input | implementation | median | throughput | fastiou speed-up | % of bandwidth |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        speed = "" if r.speedup is None else f"{r.speedup:.2f}x"
        bw = "" if r.bandwidth is None else f"{100 * r.bandwidth:.0f}%"
        lines.append(f"| {r.op} | {r.label} | {r.impl} | {_fmt_time(r.median_s)} | "
                     f"{_fmt_rate(r.per_s)} {r.unit}/s | {speed} | {bw} |")
    return "\n".join(lines)


def write_json(rows: list[Row], bandwidth: dict, path: str) -> None:
    """Write the bandwidth and the rows to ``path`` (what ``fastiou bench --json`` writes)."""
    with open(path, "w") as fh:
        json.dump({"bandwidth": bandwidth, "rows": [asdict(r) for r in rows]}, fh, indent=1)
