"""COCO-style evaluation against every installed evaluator, at full scale.

    python benchmarks/coco_eval.py [--images 5000] [--json out.json]

Two measures on :func:`fastiou.synthetic.coco_like` data, each evaluator through
its own documented API:

1. **from loaded objects**: ``evaluate(); accumulate(); summarize()`` on objects
   loaded once (the evaluators of :mod:`fastiou.bench.coco`), bbox on
   ``--images`` images, segm on a tenth of them and keypoints on two fifths; the
   median of ``--repeat`` interleaved rounds (pycocotools, which takes about a
   minute on 5,000 images, runs once).  fastiou's loaded objects (:class:`fastiou.coco.COCO`) keep
   what their first evaluation read: that first evaluation is reported too;
2. **from JSON files on disk, in a new process**: load the ground truth and the
   results, evaluate, accumulate and summarize (``fastiou eval`` for fastiou):
   wall time of the whole process, imports included; the median of ``--repeat``
   interleaved rounds (an evaluator slower than 2 s runs once).

Every evaluator's ``stats`` must equal fastiou's; a mismatch is printed.
Run alone: other processes beside a timing change it severalfold here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from fastiou import synthetic
from fastiou.bench import coco as cases

#: Each evaluator's documented path from two JSON files (GT, DT) and an iouType.
FROM_JSON = {
    "fastiou": None,  # the command line: fastiou eval GT DT --iou-type T
    "pycocotools": "from pycocotools.coco import COCO; from pycocotools.cocoeval import COCOeval as E\n"
                   "G = COCO(gt); D = G.loadRes(dt)",
    "ultrafast-pycocotools": "from ultrafast_pycocotools.coco import COCO\n"
                             "from ultrafast_pycocotools.cocoeval import COCOeval as E\n"
                             "G = COCO(gt); D = G.loadRes(dt)",
    "faster-coco-eval": "from faster_coco_eval import COCO, COCOeval_faster as E\nG = COCO(gt); D = G.loadRes(dt)",
    "hotcoco": "from hotcoco import COCO, COCOeval as E\nG = COCO(gt); D = G.load_res(dt)",
    "vernier": "from pycocotools.coco import COCO; from vernier import COCOeval as E\n"
               "G = COCO(gt); D = G.loadRes(dt)",
}
MODULES = {"pycocotools": "pycocotools", "ultrafast-pycocotools": "ultrafast_pycocotools",
           "faster-coco-eval": "faster_coco_eval", "hotcoco": "hotcoco", "vernier": "vernier"}


def loaded(n_images: int, iou_type: str, repeat: int) -> dict[str, float]:
    gt, dets = synthetic.coco_like(n_images, iou_type=iou_type, seed=0)
    impls = cases.evaluators(gt, dets, iou_type)
    impls = {k: v for k, v in impls.items() if not k.startswith(("fastiou[serial]", "fastiou[parallel]"))}
    impls["fastiou, from dicts"]()  # the kernels loaded, then the first evaluation of fastiou's COCO objects
    first = time.perf_counter()
    ref = impls["fastiou[auto]"]()
    times: dict[str, float] = {"fastiou, first evaluation of new COCO objects": time.perf_counter() - first}
    runs: dict[str, list[float]] = {name: [] for name in impls}
    for round_ in range(repeat):  # interleaved rounds: a slow spell of the machine falls on every evaluator
        for name, fn in impls.items():
            if round_ and name == "pycocotools":  # about a minute: once
                continue
            t0 = time.perf_counter()
            stats = fn()
            runs[name].append(time.perf_counter() - t0)
            if not round_ and not np.array_equal(np.asarray(stats), np.asarray(ref)):
                print(f"  ! {name}: stats differ from fastiou's: {np.asarray(stats)} vs {np.asarray(ref)}")
    times.update((name, statistics.median(r)) for name, r in runs.items())
    return times


def from_json(n_images: int, iou_type: str, folder: str, repeat: int) -> dict[str, float]:
    gt, dets = synthetic.coco_like(n_images, iou_type=iou_type, seed=0)
    gt_path, dt_path = os.path.join(folder, "gt.json"), os.path.join(folder, "dt.json")
    with open(gt_path, "w") as f:
        json.dump(gt, f)
    with open(dt_path, "w") as f:
        json.dump(dets, f)
    commands: dict[str, list[str]] = {}
    for name, snippet in FROM_JSON.items():
        if name != "fastiou":
            try:
                __import__(MODULES[name])
            except Exception:  # noqa: BLE001 - not installed: no row
                continue
            code = (f"import contextlib, io\ngt, dt = {gt_path!r}, {dt_path!r}\n"
                    f"with contextlib.redirect_stdout(io.StringIO()):\n"
                    + "".join(f"    {line}\n" for line in snippet.splitlines())
                    + f"    e = E(G, D, {iou_type!r}); e.evaluate(); e.accumulate(); e.summarize()\n")
            commands[name] = [sys.executable, "-c", code]
        else:
            commands[name] = [sys.executable, "-m", "fastiou.cli", "eval", gt_path, dt_path, "--iou-type", iou_type]
    runs: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(repeat):  # interleaved rounds; an evaluator slower than 2 s runs once
        for name, command in commands.items():
            if round_ and (not runs[name] or min(runs[name]) > 2.0):  # (no runs: it failed)
                continue
            t0 = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            elapsed = time.perf_counter() - t0
            if done.returncode:
                print(f"  ! {name} failed: {done.stderr[-300:]}")
                continue
            runs[name].append(elapsed)
    return {name: statistics.median(times) for name, times in runs.items() if times}


def show(title: str, times: dict[str, float]) -> None:
    base = times.get("fastiou[auto]", times.get("fastiou"))
    print(f"\n{title}")
    print("| evaluator | time | fastiou speed-up |\n|---|---:|---:|")
    for name, t in sorted(times.items(), key=lambda kv: kv[1]):
        print(f"| {name} | {t * 1e3:.0f} ms | {t / base:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    n = args.images
    results = {}
    for iou_type, images in (("bbox", n), ("segm", n // 10), ("keypoints", 2 * n // 5)):
        results[f"loaded {iou_type} {images}"] = times = loaded(images, iou_type, args.repeat)
        show(f"{iou_type}, {images} images, from loaded objects", times)
    with tempfile.TemporaryDirectory() as folder:
        results[f"json bbox {n}"] = times = from_json(n, "bbox", folder, args.repeat)
        show(f"bbox, {n} images, from JSON files in a new process", times)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"date": time.strftime("%Y-%m-%d"), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
