"""Compile every CUDA kernel to PTX for a real GPU (sm_90), without a GPU and without the simulator.

Run by ``test_ptx.py`` in a subprocess (the simulator must be off, so numba is imported
afresh): the simulator runs kernels as Python, so it cannot catch typing errors
that only the real compiler sees.  Exit status 77 when no NVVM is installed.
"""

from __future__ import annotations

import sys

from numba import cuda
from numba import types as T


def kernels():
    from fastiou.backends import numba_cuda as B
    from fastiou.backends import numba_cuda_masks as M
    from fastiou.backends import numba_cuda_nms as N
    from fastiou.backends import numba_cuda_rotated as R

    f16, f32, f64, i32, i64, u8, u64, b1 = (T.float16, T.float32, T.float64, T.int32, T.int64, T.uint8,
                                             T.uint64, T.boolean)

    def a(dtype, ndim, layout="C"):
        return T.Array(dtype, ndim, layout)

    cols = (a(i64, 1), b1, i64)
    return [
        # boxes, order, use_order, fmt, offset, half, lo, hi, check, cols, bad, slot, extreme_slot
        (B._columns_kernel, (a(f32, 2, "A"), *cols, f32, f32, f32, f32, b1, a(f32, 2), a(i64, 1), i64, i64)),
        (B._columns_kernel, (a(f16, 2), *cols, f32, f32, f32, f32, b1, a(f32, 2), a(i64, 1), i64, i64)),
        (B._columns_kernel, (a(i32, 2), *cols, f64, f64, f64, f64, b1, a(f64, 2), a(i64, 1), i64, i64)),
        (B._columns_kernel, (a(b1, 2), *cols, f64, f64, f64, f64, b1, a(f64, 2), a(i64, 1), i64, i64)),
        # code, c1, c2, four_over_pi2, one, eps, [rows per batch,] out
        (B._pairwise_kernel, (i64, a(f32, 2), a(f32, 2), f32, f32, f32, i64, a(f32, 2, "A"))),
        (B._pairwise_kernel, (i64, a(f64, 2), a(f64, 2), f64, f64, f64, i64, a(f64, 2))),
        (B._aligned_kernel, (i64, a(f32, 2), a(f32, 2), f32, f32, f32, a(f32, 1))),
        (N._mask_kernel, (i64, a(f32, 2), a(i64, 1), b1, i64, f64, f32, f32, a(u64, 2))),
        (N._mask_kernel, (i64, a(f64, 2), a(i32, 1), b1, i64, f64, f64, f64, a(u64, 2))),
        (N._scan_kernel, (a(u64, 2), i64, a(i64, 1), b1, i64, a(i64, 1), a(u64, 1), a(i64, 1), a(i64, 1))),
        (M._init_info_kernel, (a(i64, 2), i64, i64)),
        (M._pack_kernel, (a(b1, 3, "A"), b1, f64, b1, a(u64, 3), a(i64, 2), a(i64, 1))),
        (M._pack_kernel, (a(f32, 3), b1, f32, b1, a(u64, 3), a(i64, 2), a(i64, 1))),
        (M._pack_kernel, (a(u8, 3), b1, f64, b1, a(u64, 3), a(i64, 2), a(i64, 1))),
        (M._finish_info_kernel, (a(i64, 2), i64, i64)),
        (M._pairwise_kernel, (i64, a(u64, 3), a(i64, 2), a(u64, 3), a(i64, 2), a(u8, 1), a(f32, 2))),
        (M._aligned_kernel, (i64, a(u64, 3), a(i64, 2), a(u64, 3), a(i64, 2), a(u8, 1), a(f64, 1))),
        (M._row_sums_kernel, (a(u8, 2), a(f32, 2), f64, b1, b1, i64, a(f64, 3))),
        # rotated, in both dtypes; pairwise: code, c1, c2, half, rows per batch, out; NMS
        # mask: cols, labels, batched, n, threshold, margin, half, mask
        (R.pairwise_kernel, (i64, a(f32, 2), a(f32, 2), f32, i64, a(f32, 2))),
        (R.pairwise_kernel, (i64, a(f64, 2), a(f64, 2), f64, i64, a(f64, 2, "A"))),
        (R.aligned_kernel, (i64, a(f32, 2), a(f32, 2), f32, a(f32, 1))),
        (R.nms_mask_kernel, (a(f32, 2), a(i64, 1), b1, i64, f32, f32, f32, a(u64, 2))),
        (R.nms_mask_kernel, (a(f64, 2), a(i64, 1), b1, i64, f64, f64, f64, a(u64, 2))),
    ]


def main() -> int:
    try:
        from numba.cuda.cudadrv import nvvm

        nvvm.NVVM()
    except Exception as exc:  # no CUDA toolkit here
        print(f"no NVVM: {exc}")
        return 77
    for kernel, sig in kernels():
        ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(9, 0))
        assert ".entry" in ptx
        print(f"{kernel.py_func.__module__}.{kernel.py_func.__name__}{sig}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
