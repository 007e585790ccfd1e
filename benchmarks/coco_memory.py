"""Peak memory of COCO evaluation at Objects365-like scale.

    python benchmarks/coco_memory.py [--images 30000] [--compare-images 10000]

Each measurement runs in a new process: it generates a
:func:`fastiou.synthetic.coco_like` set (365 categories, about 15 objects and 100
detections per image), notes its resident memory (the data as Python dicts),
evaluates bbox (``evaluate(); accumulate(); summarize()``) and reports the peak
resident memory of the process (``VmHWM``).  fastiou is measured at
``--images``; fastiou and pycocotools are both measured at ``--compare-images``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import time


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(evaluator: str, images: int) -> None:
    from fastiou import synthetic

    gt, dets = synthetic.coco_like(images, n_categories=365, gt_per_image=15.0, seed=0)
    data_kib = _status_kib("VmRSS")
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        if evaluator == "fastiou":
            from fastiou import coco

            E = coco.COCOeval(gt, dets, "bbox")
        else:
            from pycocotools.coco import COCO
            from pycocotools.cocoeval import COCOeval

            G = COCO()
            G.dataset = gt
            G.createIndex()
            E = COCOeval(G, G.loadRes(dets), "bbox")
        E.evaluate()
        E.accumulate()
        E.summarize()
    print(json.dumps({"evaluator": evaluator, "images": images, "detections": len(dets),
                      "data_mib": data_kib / 1024, "peak_mib": _status_kib("VmHWM") / 1024,
                      "seconds": time.perf_counter() - t0}))


def measure(evaluator: str, images: int) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", evaluator, str(images)], capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=30000)
    parser.add_argument("--compare-images", type=int, default=10000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    runs = [("fastiou", args.images), ("fastiou", args.compare_images), ("pycocotools", args.compare_images)]
    print("| evaluator | images | detections | data (dicts) | peak RSS | evaluation |")
    print("|---|---:|---:|---:|---:|---:|")
    for evaluator, images in runs:
        r = measure(evaluator, images)
        print(f"| {r['evaluator']} | {r['images']:,} | {r['detections']:,} | {r['data_mib']:.0f} MiB | "
              f"{r['peak_mib']:.0f} MiB | {r['seconds']:.1f} s |", flush=True)


if __name__ == "__main__":
    main()
