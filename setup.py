"""Build the Cython kernels (src_cython/*.pyx -> fastiou._cy_*) with OpenMP."""

import glob
import os
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup


def openmp_flags():
    # -ffp-contract=off: no fused multiply-adds, so that identical boxes give exactly 1
    # (a fused a1 + a2 - iw * ih rounds differently from the separately rounded areas).
    # -fno-trapping-math: no FP exception is ever unmasked here, so gcc may turn selects
    # around a division into branch-free code and vectorise those loops (values unchanged).
    if sys.platform == "win32":
        return ["/openmp", "/O2"], []
    if sys.platform == "darwin":  # Apple clang: needs libomp (brew install libomp)
        return ["-Xpreprocessor", "-fopenmp", "-O3", "-ffp-contract=off", "-fno-trapping-math"], ["-lomp"]
    return ["-fopenmp", "-O3", "-ffp-contract=off", "-fno-trapping-math"], ["-fopenmp"]


compile_args, link_args = openmp_flags()
extensions = [
    Extension(
        f"fastiou.{os.path.splitext(os.path.basename(path))[0]}",
        [path],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )
    for path in sorted(glob.glob("src_cython/_cy_*.pyx"))
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )
)
