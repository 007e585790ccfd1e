"""Regenerate the pictures of the README and the docs site from saved runs (needs ``fastiou[plot]``).

    python docs/make_pictures.py [BENCH_JSON [LOAD_JSON]] [--out DIR]

BENCH_JSON is what ``fastiou bench --json`` wrote (default: ``docs/bench.json``),
LOAD_JSON what ``python benchmarks/load_matrix.py --json`` wrote (default:
``docs/load_matrix.json``), so that the pictures show the same measurements as the
tables.  Writes into DIR (default: this folder):

- ``box_pair.png``: two boxes with the geometry of IoU, GIoU, DIoU and CIoU and the
  values fastiou computes (``fastiou draw 0,0,4,4 2,1,8,5 -o docs/box_pair.png``);
- ``summary.png``: fastiou's same-run speed-up over the fastest other library, one bar
  per operation (:func:`fastiou.bench.plots.plot_summary`);
- ``scaling_<family>.png``: throughput against input size, for the families measured
  at three or more sizes (:func:`fastiou.bench.plots.plot_scaling`); scaling pictures
  of an earlier run are removed first, so that none outlives its data;
- ``load.png``: ``backend='auto'`` time over the faster of fastiou's serial and
  parallel paths, quiet and beside a busy process (:func:`fastiou.bench.plots.plot_load`).
"""

from __future__ import annotations

import argparse
import glob
import os
import sys

from fastiou import cli
from fastiou.bench import plots

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bench_json", nargs="?", default=os.path.join(HERE, "bench.json"),
                        help="a `fastiou bench --json` file (default: docs/bench.json)")
    parser.add_argument("load_json", nargs="?", default=os.path.join(HERE, "load_matrix.json"),
                        help="a `benchmarks/load_matrix.py --json` file (default: docs/load_matrix.json)")
    parser.add_argument("--out", default=HERE, help="folder to write the pictures to (default: docs/)")
    args = parser.parse_args(argv)
    try:
        bench, load = plots.read_json(args.bench_json), plots.read_json(args.load_json)
        code = cli.main(["draw", "0,0,4,4", "2,1,8,5", "-o", os.path.join(args.out, "box_pair.png")])
        if code:
            return code
        print(f"wrote {plots.plot_summary(bench, os.path.join(args.out, 'summary.png'))}")
        for stale in glob.glob(os.path.join(args.out, "scaling_*.png")):
            os.remove(stale)
        for path in plots.plot_scaling(bench["rows"], args.out):
            print(f"wrote {path}")
        print(f"wrote {plots.plot_load(load, os.path.join(args.out, 'load.png'))}")
    except (OSError, ValueError) as exc:  # a missing or malformed JSON file; an unwritable folder
        print(f"make_pictures: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
