"""Root pytest configuration: doctests of modules whose optional extra is not installed are skipped."""

import importlib.util

OPTIONAL_MODULES = {
    "fastiou/dask.py": "dask",
    "fastiou/viz.py": "matplotlib",
}

collect_ignore = [path for path, module in OPTIONAL_MODULES.items() if importlib.util.find_spec(module) is None]
collect_ignore_glob = ["fastiou/backends/numba_cuda*.py", "fastiou/backends/_cuda_arrays.py"]  # tested by tests/cuda under the simulator
