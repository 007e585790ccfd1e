"""The writers of ``fastiou bench``: the Markdown table and the JSON file of its rows.

The table shows the forced serial and parallel twins of ``'fastiou[auto]'``
(:func:`fastiou.bench.runner.modes`) in the auto row's ``serial / parallel``
column; the JSON keeps them as rows of their own.
The pictures of the same record are in :mod:`fastiou.bench.plots`.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict

from .runner import Row, is_forced, twin


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


def format_header(bandwidth: dict, machine: dict | None = None) -> list[str]:
    """The lines above the table: the machine (:func:`fastiou.bench.runner.machine`) and its bandwidth."""
    lines = []
    if machine:
        warm = machine.get("region_cost_warm_s", {})
        costs = ", ".join(f"{name} {_fmt_time(s)}" + (f" ({_fmt_time(warm[name])} warm)" if name in warm else "")
                          for name, s in machine["region_cost_s"].items())
        load = machine.get("load_average_1min")
        lines.append(
            f"{machine['cores']} cores, {machine['threads']} threads, threading layer "
            f"{machine['threading_layer']}" + ("" if load is None else f", load average {load:.2f}"))
        lines.append(f"parallel region cost after idling (the cost model's measure): {costs or 'no CPU backend'}")
    lines.append(
        f"memory bandwidth measured at the start of this run: write {bandwidth['write'] / 1e9:.1f} GB/s, "
        f"read {bandwidth['read'] / 1e9:.1f} GB/s (and again before each bandwidth-bound case: the "
        "% column uses that)")
    return lines


def format_table(rows: list[Row], bandwidth: dict, machine: dict | None = None) -> str:
    """Markdown table: operation, input, implementation, median, fastiou's forced serial / parallel
    times (in the auto row), throughput, fastiou's speed-up, % bandwidth; the header above it."""
    lines = format_header(bandwidth, machine) + [
        "",
        "| operation | input | implementation | median | serial / parallel | throughput "
        "| fastiou speed-up | % of bandwidth |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    by_name = {(r.op, r.label, r.impl): r for r in rows}
    for r in rows:
        if is_forced(r.impl):
            continue
        serial = parallel = None
        if r.impl.startswith("fastiou[auto]"):
            serial, parallel = (by_name.get((r.op, r.label, twin(r.impl, m))) for m in ("serial", "parallel"))
        modes = "" if serial is None or parallel is None else (
            f"{_fmt_time(serial.median_s)} / {_fmt_time(parallel.median_s)}")
        speed = "" if r.speedup is None else f"{r.speedup:.2f}x"
        bw = "" if r.bandwidth is None else f"{100 * r.bandwidth:.0f}%"
        lines.append(f"| {r.op} | {r.label} | {r.impl} | {_fmt_time(r.median_s)} | {modes} | "
                     f"{_fmt_rate(r.per_s)} {r.unit}/s | {speed} | {bw} |")
    return "\n".join(lines)


def record(rows: list[Row], bandwidth: dict, machine: dict | None = None) -> dict:
    """The run as ``fastiou bench --json`` writes it: ``machine``, ``bandwidth``, ``date`` (UTC,
    ISO 8601, when the record was made) and ``rows`` (dicts of the :class:`Row` fields)."""
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return {"machine": machine, "bandwidth": bandwidth, "date": date, "rows": [asdict(r) for r in rows]}


def write_json(rows: list[Row], bandwidth: dict, path: str, machine: dict | None = None) -> None:
    """Write :func:`record` of the run to ``path`` (what ``fastiou bench --json`` writes)."""
    with open(path, "w") as fh:
        json.dump(record(rows, bandwidth, machine), fh, indent=1)
