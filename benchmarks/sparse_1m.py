"""The sparse-join figures of docs/sparse.md: 1M x 1M boxes at min_iou 0.5, and best matches of 100k x 100k.

Run: ``python benchmarks/sparse_1m.py`` (a few minutes; ``--n`` for another size).

Each measurement runs in its own subprocess, so that its peak resident memory
(``ru_maxrss``) is its own: the data, the compiled kernels (loaded from Numba's
cache by one warm-up call on a small input), and the call.  Times are wall-clock
seconds and the CPU seconds of all threads; same-run ratios are printed at the end.
The data are :func:`fastiou.bench.sparse.tiled_clustered_boxes`: detector-like
proposals at one image's density over a square of 1024-pixel images.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _child(what: str, n: int) -> dict:
    import numpy as np

    import fastiou
    from fastiou.bench import sparse as bench_sparse

    b1, b2 = bench_sparse.tiled_clustered_boxes(n, seed=1)
    small1, small2 = b1[:20_000], b2[:20_000]  # above the serial threshold: compiles the parallel kernels
    if what == "sparse_box_iou":
        fastiou.sparse_box_iou(small1, small2, 0.5)
        call = lambda: fastiou.sparse_box_iou(b1, b2, 0.5)  # noqa: E731
    elif what == "shapely":
        import shapely

        call = lambda: bench_sparse.shapely_join(b1, b2, 0.5, shapely)  # noqa: E731
    elif what == "max_box_iou":
        fastiou.max_box_iou(small1, small2)
        call = lambda: fastiou.max_box_iou(b1, b2)  # noqa: E731
    elif what == "tiled_max":
        bench_sparse.tiled_max(small1[:100], small2)
        call = lambda: bench_sparse.tiled_max(b1, b2)  # noqa: E731
    else:
        raise SystemExit(f"unknown measurement {what!r}")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, c0 = time.perf_counter(), time.process_time()
    result = call()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pairs = int(result.nnz) if hasattr(result, "nnz") else int(np.asarray(result[0]).size)
    return {"what": what, "n": n, "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak / 1024,
            "rss_before_call_mb": before / 1024, "output": pairs, "threads": fastiou.get_num_threads()}


def _measure(what: str, n: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", what, "--n", str(n)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="boxes per set of the join")
    parser.add_argument("--n-max", type=int, default=100_000, help="boxes per set of the best-match run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.n)))
        return
    rows = [_measure("sparse_box_iou", args.n), _measure("shapely", args.n),
            _measure("max_box_iou", args.n_max), _measure("tiled_max", args.n_max)]
    for r in rows:
        print(f"{r['what']:>15} {r['n']:>8} x {r['n']:<8} wall {r['wall_s']:7.2f} s  cpu {r['cpu_s']:7.2f} s  "
              f"peak RSS {r['peak_rss_mb']:7.0f} MB (before the call {r['rss_before_call_mb']:.0f} MB)  "
              f"output {r['output']}")
    print(f"sparse_box_iou is {rows[1]['wall_s'] / rows[0]['wall_s']:.1f}x faster than shapely STRtree + IoU; "
          f"max_box_iou is {rows[3]['wall_s'] / rows[2]['wall_s']:.1f}x faster than the tiled dense max")


if __name__ == "__main__":
    main()
