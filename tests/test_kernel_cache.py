"""A kernel compiled in one process is loaded from Numba's on-disk cache by the next: a
new process pays no compilation for it (a kernel made as a closure over a dispatcher
missed the cache every time: its key pickled the dispatcher's per-process id)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, numpy as np
import fastiou.losses as losses
from fastiou.backends import numba_cpu_losses as k
x = np.linspace(-2, 2, 50, dtype=np.float32)
losses.mse_loss(x, x[::-1], return_grad=True)
losses.sigmoid_focal_loss(x, (x > 0).astype(np.float32))
# the twins are timed wrappers (fastiou.backends._cost.timed) of the dispatchers
used = [d.__wrapped__ for pair in k._POINTWISE.values() for d in pair if d.__wrapped__.overloads]
print(json.dumps([[d.py_func.__name__, d.stats.cache_hits.total(), d.stats.cache_misses.total()]
                  for d in used]))
"""


def _run() -> list:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_pointwise_loss_kernels_load_from_the_cache_in_a_new_process():
    _run()  # compiles, or loads what an earlier run saved
    used = _run()
    assert len(used) == 2  # mse and sigmoid focal (gamma 2), serial
    for name, hits, misses in used:
        assert hits >= 1 and misses == 0, name
