"""The README's pairwise benchmark table, from the JSON of one `fastiou bench` run.

    fastiou bench --ops box_iou generalized_box_iou distance_box_iou complete_box_iou \
        --sizes 300,4000,10000 --json bench.json
    python benchmarks/readme_table.py bench.json

Every ratio divides two medians of that run (the implementations were timed in
interleaved rounds, so the machine's slow and fast spells fall on all of them).
"""

from __future__ import annotations

import json
import sys

OPS = ("box_iou", "generalized_box_iou", "distance_box_iou", "complete_box_iou")
OTHERS = (("torchvision", "torchvision"), ("powerboxes", "powerboxes"),
          ("cython_bbox", "cython_bbox"), ("NumPy", "numpy"))


def _time(s: float) -> str:
    return f"{s * 1e3:.2f} ms" if s >= 1e-3 else f"{s * 1e6:.1f} us"


def table(rows: list[dict]) -> str:
    lines = [
        "| operation | input (float32, clustered) | fastiou (auto) | pairs/s "
        "| % of write bandwidth | " + " | ".join(f"vs {name}" for name, _ in OTHERS)
        + " | cython backend / numba |",
        "|---|---|---:|---:|---:|" + "---:|" * len(OTHERS) + "---:|",
    ]
    cases = {}
    for r in rows:
        if r["op"] in OPS and "clustered" in r["label"]:
            cases.setdefault((r["size"], OPS.index(r["op"])), {})[r["impl"]] = r
    for (size, k), impls in sorted(cases.items()):
        auto = impls["fastiou[auto]"]
        ratios = []
        for _, prefix in OTHERS:
            other = next((r for name, r in impls.items() if name.startswith(prefix)), None)
            ratios.append("-" if other is None else f"{other['median_s'] / auto['median_s']:.0f}x")
        cython, numba = impls.get("fastiou[cython]"), impls["fastiou[numba]"]
        share = "-" if cython is None else f"{numba['median_s'] / cython['median_s']:.0%}"
        bandwidth = "" if auto["bandwidth"] is None else f"{auto['bandwidth']:.0%}"
        lines.append(
            f"| `{OPS[k]}` | {size}x{size} | {_time(auto['median_s'])} | "
            f"{auto['per_s'] / 1e9:.2f} G | {bandwidth} | " + " | ".join(ratios) + f" | {share} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(table(json.load(f)["rows"]))
