"""Segmentation: pixel-wise cross-entropy (N, C, H, W) vs PyTorch, class weights, Dice re-export."""

from __future__ import annotations

import numpy as np
import pytest
from losses_helpers import DTYPES, REDUCTIONS, check_result, numeric_grad, torch_or_skip, torch_value_grad

import fastiou
from fastiou import losses

RNG = np.random.default_rng(4)
N, C, H, W = 2, 4, 5, 7
LOGITS = RNG.normal(size=(N, C, H, W)) * 3
TARGET = RNG.integers(0, C, size=(N, H, W))
TARGET[0, 0, :3] = 255  # unlabelled pixels


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("use_weight", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_pixelwise_cross_entropy_matches_torch(dtype, reduction, use_weight, smoothing):
    torch = torch_or_skip()
    x = LOGITS.astype(dtype)
    w = losses.class_weights(TARGET, C, ignore_index=255, dtype=dtype) if use_weight else None

    def fn(xt, w_t):
        return torch.nn.functional.cross_entropy(xt, torch.as_tensor(TARGET), weight=w_t, ignore_index=255,
                                                 reduction=reduction, label_smoothing=smoothing)

    ref = torch_value_grad(fn, x, w)
    ours = losses.cross_entropy(x, TARGET, w, ignore_index=255, reduction=reduction,
                                label_smoothing=smoothing, return_grad=True)
    check_result(ours, *ref, dtype)


@pytest.mark.parametrize("shape", [(N, C, 11), (N, C, 3, 4, 2), (1, C, 300, 2)])
def test_spatial_kernel_equals_rows(shape):
    x = RNG.normal(size=shape)
    y = RNG.integers(0, C, size=shape[:1] + shape[2:])
    w = RNG.uniform(0.5, 2, size=C)
    value, grad = losses.cross_entropy(x, y, w, reduction="none", label_smoothing=0.2, return_grad=True)
    rows = np.moveaxis(x, 1, -1).reshape(-1, C)
    v_rows, g_rows = losses.cross_entropy(rows, y.reshape(-1), w, reduction="none", label_smoothing=0.2,
                                          return_grad=True)
    np.testing.assert_allclose(value.reshape(-1), v_rows, rtol=1e-12)
    np.testing.assert_allclose(np.moveaxis(grad, 1, -1).reshape(-1, C), g_rows, rtol=1e-12, atol=1e-16)


def test_pixelwise_probabilities_and_finite_differences():
    torch = torch_or_skip()
    p = losses.softmax(RNG.normal(size=LOGITS.shape), dim=1)
    ref = torch_value_grad(lambda xt: torch.nn.functional.cross_entropy(xt, torch.as_tensor(p)), LOGITS)
    check_result(losses.cross_entropy(LOGITS, p, return_grad=True), *ref, np.float64)
    x = LOGITS[:1, :, :2, :3]
    y = TARGET[:1, :2, :3]
    _, grad = losses.cross_entropy(x, y, ignore_index=255, label_smoothing=0.1, return_grad=True)
    fd = numeric_grad(lambda z: losses.cross_entropy(z, y, ignore_index=255, label_smoothing=0.1), x)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


def test_parallel_equals_serial(force_parallel):
    x = RNG.normal(size=(3, C, 40, 50)).astype(np.float32)
    y = RNG.integers(0, C, size=(3, 40, 50))
    value, grad = losses.cross_entropy(x, y, reduction="sum", return_grad=True)
    rows = np.moveaxis(x, 1, -1).reshape(-1, C)
    v_rows, g_rows = losses.cross_entropy(rows, y.reshape(-1), reduction="sum", return_grad=True)
    np.testing.assert_allclose(value, v_rows, rtol=1e-6)
    np.testing.assert_allclose(np.moveaxis(grad, 1, -1).reshape(-1, C), g_rows, rtol=1e-6, atol=1e-7)


def test_class_weights_formula():
    target = np.array([[0, 0, 0, 0, 1, 1, 2, 255]])
    w = losses.class_weights(target, 4, ignore_index=255)
    n = 7  # labelled pixels
    np.testing.assert_allclose(w, [(n - 4) / n, (n - 2) / n, (n - 1) / n, 1.0])
    assert w.dtype == np.float64
    assert losses.class_weights(target, 4, ignore_index=255, dtype=np.float32).dtype == np.float32
    np.testing.assert_array_equal(losses.class_weights(np.full((2, 2), 255), 3, ignore_index=255), np.ones(3))
    with pytest.raises(ValueError, match="target"):
        losses.class_weights(target, 2)  # 2 and 255 are out of range without ignore_index=255
    with pytest.raises(ValueError, match="num_classes"):
        losses.class_weights(target, 0)


def test_dice_loss_is_the_masks_function():
    assert losses.dice_loss is fastiou.masks.dice_loss
    assert fastiou.dice_loss is losses.dice_loss
