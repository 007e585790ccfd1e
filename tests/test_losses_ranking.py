"""Retrieval losses: triplet margin, VSE hinge and InfoNCE vs PyTorch, references and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from losses_helpers import DTYPES, REDUCTIONS, check_result, numeric_grad, torch_or_skip, torch_value_grad

from fastiou import losses, reference

RNG = np.random.default_rng(2)
N, D = 6, 4
A, P, NEG = (RNG.normal(size=(N, D)) for _ in range(3))


# --- triplet margin -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "p,swap,margin,eps",
    [(2, False, 1.0, 1e-6), (1, False, 0.5, 1e-6), (3, True, 2.0, 0.0), (2, True, 1.5, 1e-3)],
)
def test_triplet_matches_torch(dtype, reduction, p, swap, margin, eps):
    torch = torch_or_skip()
    a, pos, neg = (x.astype(dtype) for x in (A, P, NEG))

    def fn(at, pt, nt):
        return torch.nn.functional.triplet_margin_loss(at, pt, nt, margin=margin, p=p, eps=eps, swap=swap,
                                                       reduction=reduction)

    ref = torch_value_grad(fn, a, pos, neg)
    ours = losses.triplet_margin_loss(a, pos, neg, margin, p, eps, swap, reduction=reduction,
                                      return_grad=True)
    check_result(ours, *ref, dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p,swap", [(2, False), (1.5, True), (1, True)])
def test_triplet_finite_differences(reduction, p, swap):
    _, grad = losses.triplet_margin_loss(A, P, NEG, 2.0, p, swap=swap, reduction=reduction, return_grad=True)
    fd = numeric_grad(lambda z: losses.triplet_margin_loss(z, P, NEG, 2.0, p, swap=swap, reduction=reduction),
                      A)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_triplet_unbatched_and_closed_form():
    v = losses.triplet_margin_loss([0.0, 0.0], [3.0, 4.0], [0.0, 1.0], eps=0.0, reduction="none")
    assert np.shape(v) == () and float(v) == pytest.approx(5.0)
    # far negatives cost nothing
    assert losses.triplet_margin_loss([[0.0]], [[0.1]], [[9.0]], reduction="sum") == 0.0


# --- VSE hinge ----------------------------------------------------------------------------


def _torch_vse(torch, margin, max_violation, reduction):
    """VSE++'s ContrastiveLoss with its max-violation bug fixed (every row's hardest negative)."""

    def fn(im, s):
        scores = im @ s.T
        diagonal = scores.diag().view(-1, 1)
        cost_s = (margin + scores - diagonal).clamp(min=0)
        cost_im = (margin + scores - diagonal.t()).clamp(min=0)
        eye = torch.eye(scores.size(0), dtype=torch.bool)
        cost_s = cost_s.masked_fill(eye, 0)
        cost_im = cost_im.masked_fill(eye, 0)
        if max_violation:
            per_pair = cost_s.max(1)[0] + cost_im.max(0)[0]
        else:
            per_pair = cost_s.sum(1) + cost_im.sum(0)
        return {"none": per_pair, "sum": per_pair.sum(), "mean": per_pair.mean()}[reduction]

    return fn


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("max_violation", [False, True])
def test_contrastive_hinge_matches_torch(dtype, reduction, max_violation):
    torch = torch_or_skip()
    im, s = (A * 0.5).astype(dtype), (P * 0.5).astype(dtype)
    ref = torch_value_grad(_torch_vse(torch, 0.2, max_violation, reduction), im, s)
    ours = losses.contrastive_hinge_loss(im, s, 0.2, max_violation, reduction=reduction, return_grad=True)
    check_result(ours, *ref, dtype)
    np.testing.assert_allclose(losses.contrastive_hinge_loss(A, P, 0.2, max_violation, reduction="none"),
                               reference.contrastive_hinge(A, P, 0.2, max_violation), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("max_violation", [False, True])
def test_contrastive_hinge_finite_differences(reduction, max_violation):
    _, grad = losses.contrastive_hinge_loss(A, P, 0.5, max_violation, reduction=reduction, return_grad=True)
    fd = numeric_grad(lambda z: losses.contrastive_hinge_loss(z, P, 0.5, max_violation, reduction=reduction),
                      A)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_contrastive_hinge_max_takes_every_rows_hardest_negative():
    # the seed snippet's [:1] kept only the first row's hardest negative
    im = np.eye(3)
    s = np.array([[1.0, 0.9, 0.0], [0.0, 1.0, 0.95], [0.85, 0.0, 1.0]])
    value = losses.contrastive_hinge_loss(im, s, 0.2, True, reduction="none")
    # pair i: hardest caption in row i of S = im @ s.T = s.T, plus hardest image in column i
    np.testing.assert_allclose(value, [0.05 + 0.1, 0.1 + 0.15, 0.15 + 0.05])


# --- InfoNCE ------------------------------------------------------------------------------


def _torch_info_nce(torch, temperature, reduction, negatives=None, mode="unpaired", normalize=True):
    tf = torch.nn.functional

    def fn(q, k, neg=None):
        if normalize:
            q, k = tf.normalize(q, dim=-1), tf.normalize(k, dim=-1)
            neg = None if neg is None else tf.normalize(neg, dim=-1)
        if neg is None:
            logits = q @ k.T
            labels = torch.arange(q.shape[0])
        else:
            pos = (q * k).sum(dim=1, keepdim=True)
            if mode == "unpaired":
                neg_logits = q @ neg.T
            else:
                neg_logits = (q.unsqueeze(1) @ neg.transpose(-2, -1)).squeeze(1)
            logits = torch.cat([pos, neg_logits], dim=1)
            labels = torch.zeros(q.shape[0], dtype=torch.long)
        return tf.cross_entropy(logits / temperature, labels, reduction=reduction)

    return fn


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_info_nce_similarity_matrix_matches_torch(dtype, reduction):
    torch = torch_or_skip()
    sim = RNG.normal(size=(N, N + 3)).astype(dtype)

    def fn(st):
        return torch.nn.functional.cross_entropy(st / 0.07, torch.arange(N), reduction=reduction)

    ref = torch_value_grad(fn, sim)
    ours = losses.info_nce_loss(sim, temperature=0.07, reduction=reduction, return_grad=True)
    check_result(ours, *ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("negatives", ["in-batch", "unpaired", "paired"])
@pytest.mark.parametrize("normalize", [True, False])
def test_info_nce_embeddings_match_torch(dtype, reduction, negatives, normalize):
    torch = torch_or_skip()
    q, k = A.astype(dtype), P.astype(dtype)
    shapes = {"in-batch": None, "unpaired": (5, D), "paired": (N, 3, D)}
    neg = None if shapes[negatives] is None else RNG.normal(size=shapes[negatives])
    neg = None if neg is None else neg.astype(dtype)
    mode = "paired" if negatives == "paired" else "unpaired"
    fn = _torch_info_nce(torch, 0.5, reduction, neg, mode, normalize)
    ref = torch_value_grad(fn, q, k, neg)
    ours = losses.info_nce_loss(q, k, neg, temperature=0.5, reduction=reduction, negative_mode=mode,
                                normalize=normalize, return_grad=True)
    check_result(ours, *ref, dtype, rtol=5e-5 if dtype == np.float32 else None)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_info_nce_finite_differences(reduction):
    neg = RNG.normal(size=(N, 2, D))
    for args, kwargs in (((P,), {}), ((P, neg), {"negative_mode": "paired"}), ((P,), {"normalize": False})):
        _, grad = losses.info_nce_loss(A, *args, temperature=0.3, reduction=reduction, return_grad=True,
                                       **kwargs)

        def fn(z):
            return losses.info_nce_loss(z, *args, temperature=0.3, reduction=reduction, **kwargs)

        fd = numeric_grad(fn, A)
        np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_info_nce_forms_agree():
    qn = A / np.linalg.norm(A, axis=1, keepdims=True)
    kn = P / np.linalg.norm(P, axis=1, keepdims=True)
    on_embeddings = losses.info_nce_loss(A, P, temperature=0.2, reduction="none")
    on_matrix = losses.info_nce_loss(qn @ kn.T, temperature=0.2, reduction="none")
    np.testing.assert_allclose(on_embeddings, on_matrix, rtol=1e-12)
    # the in-batch negatives of query i are the other keys: the unpaired form with them agrees per row
    row0 = losses.info_nce_loss(A[:1], P[:1], P[1:], temperature=0.2, reduction="none")
    np.testing.assert_allclose(row0, on_embeddings[:1], rtol=1e-12)
    # extreme similarities stay finite
    value, grad = losses.info_nce_loss(np.array([[1000.0, -1000.0], [1000.0, 1000.0]]), temperature=1.0,
                                       return_grad=True)
    assert np.isfinite(value) and np.all(np.isfinite(grad))


def test_parallel_equals_serial(force_parallel):
    q = RNG.normal(size=(300, 8)).astype(np.float32)
    k = RNG.normal(size=(300, 8)).astype(np.float32)
    v, g = losses.info_nce_loss(q, k, return_grad=True)
    v2, g2 = losses.contrastive_hinge_loss(q, k, 0.2, True, return_grad=True)
    ref_v = losses.info_nce_loss(q.astype(np.float64), k.astype(np.float64))
    np.testing.assert_allclose(v, ref_v, rtol=1e-5)
    np.testing.assert_allclose(v2, reference.contrastive_hinge(q, k, 0.2, True).sum(), rtol=1e-4)


def test_empty_batches():
    for dtype in DTYPES:
        e = np.empty((0, D), dtype=dtype)
        for fn, args in ((losses.triplet_margin_loss, (e, e, e)), (losses.contrastive_hinge_loss, (e, e)),
                         (losses.info_nce_loss, (e, e))):
            value, grad = fn(*args, reduction="mean", return_grad=True)
            assert value == 0.0 and np.asarray(value).dtype == dtype and grad.shape == (0, D)


@pytest.mark.parametrize(
    "call",
    [
        lambda: losses.triplet_margin_loss(A, P, NEG, margin=0.0),
        lambda: losses.triplet_margin_loss(A, P, NEG, p=0),
        lambda: losses.triplet_margin_loss(A, P, NEG, eps=-1.0),
        lambda: losses.triplet_margin_loss(A, P, NEG[:2]),
        lambda: losses.contrastive_hinge_loss(A, P, margin=-0.1),
        lambda: losses.contrastive_hinge_loss(A, P[:3]),
        lambda: losses.contrastive_hinge_loss(A, P, reduction="batchmean"),
        lambda: losses.info_nce_loss(A, P, temperature=0.0),
        lambda: losses.info_nce_loss(A, P, negative_mode="both"),
        lambda: losses.info_nce_loss(A, P, RNG.normal(size=(3, D + 1))),
        lambda: losses.info_nce_loss(A, P, RNG.normal(size=(N + 1, 3, D)), negative_mode="paired"),
        lambda: losses.info_nce_loss(np.ones((4, 3))),
        lambda: losses.info_nce_loss(A, None, NEG),
    ],
)
def test_bad_parameters_raise_value_error(call):
    with pytest.raises(ValueError):
        call()
